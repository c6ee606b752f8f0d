/*
 * test_qops_misc.c — QADD, QMAXPOOL, QAVGPOOL, QGLOBAL_AVGPOOL, QCONCAT,
 * QUANTIZE, DEQUANTIZE and FGQ_OP_RESHAPE on u8.
 * Oracles: loops written here from docs/quantized-ops.md, with the gemmlowp
 * requantization re-derived in int64 (floor((x·m + 2^30) / 2^31), then a
 * right shift rounding halves away from zero) and rounded division written
 * as sign·floor((2|n| + d) / 2d); bit-exact over >= 200 random shapes per op
 * (broadcasting, 1-D/2-D/3-D windows with pads, strides, dilations,
 * ceil_mode, count_include_pad, same-scale and requantized averages, 1..10
 * concat inputs of mixed dtypes) with zero points at the dtype ends and
 * saturating outputs. QADD is also checked against float semantics (the
 * dequantized sum within one output step). QUANTIZE against
 * fgq_affine_quantize (half away from zero) and a half-to-even rounding
 * written here, including exact halves, NaN and infinities. check() rejects
 * bad params and shapes.
 */
#include "test_ops_common.h"
#include "ops/ops_q.h"

#include "quant/affine.h"
#include "run/run_graph.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static int64_t sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
}

static int64_t ref_requant(int64_t acc, int32_t mult, int32_t shift)
{
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int64_t x = sat32(acc * ((int64_t)1 << left));
    int64_t h = (x == INT32_MIN && mult == INT32_MIN) ? INT32_MAX : (x * mult + ((int64_t)1 << 30)) >> 31;
    if (right == 0)
        return h;
    const int64_t half = (int64_t)1 << (right - 1);
    return h >= 0 ? (h + half) >> right : -((-h + half) >> right);
}

static int64_t ref_rdiv(int64_t n, int64_t d)
{
    const int64_t a = n < 0 ? -n : n, q = (2 * a + d) / (2 * d);
    return n < 0 ? -q : q;
}

static uint32_t rng = 0x9e3779b9u;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int32_t rint_in(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rnd() >> 8) * (1.0f / 16777216.0f);
}

static void act_range(fgq_dtype dt, int32_t *lo, int32_t *hi)
{
    *lo = dt == FGQ_DT_S8 ? -128 : 0;
    *hi = dt == FGQ_DT_S8 ? 127 : 255;
}

static fgq_dtype rand_dt(void)
{
    return rnd() % 2 ? FGQ_DT_U8 : FGQ_DT_S8;
}

static int32_t rand_zero(fgq_dtype dt)
{
    int32_t lo, hi;
    act_range(dt, &lo, &hi);
    const uint32_t p = rnd() % 4;
    return p == 0 ? lo : p == 1 ? hi : rint_in(lo, hi);
}

static void fill_q(uint8_t *x, int64_t n, fgq_dtype dt)
{
    int32_t lo, hi;
    act_range(dt, &lo, &hi);
    for (int64_t i = 0; i < n; i++)
        x[i] = (uint8_t)(int8_t)rint_in(lo, hi);
}

static int32_t qget(const uint8_t *x, int64_t i, fgq_dtype dt)
{
    return dt == FGQ_DT_S8 ? (int8_t)x[i] : x[i];
}

static fgq_tensor_view qview(void *data, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

static int64_t prod(const int64_t *d, int32_t n)
{
    int64_t p = 1;
    for (int32_t i = 0; i < n; i++)
        p *= d[i];
    return p;
}

static void mult_of(double real, int32_t *m, int32_t *s)
{
    fgq_error e;
    if (real < 0x1p-31)
        real = 0x1p-31;
    if (fgq_quantize_multiplier(real, m, s, &e) != FGQ_OK) {
        *m = INT32_MAX;
        *s = 31;
    }
}

/* Providers that cut an op's range finer than it asks, serially: every item a task of its own
 * (split_for), or runs of 37 items (chunk37_for: not a multiple of any kernel's step). */
static void split_for(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    (void)impl;
    (void)grain;
    for (int64_t i = 0; i < n; i++)
        fn(ctx, i, i + 1);
}

static void chunk37_for(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    (void)impl;
    (void)grain;
    for (int64_t b = 0; b < n; b += 37)
        fn(ctx, b, n - b < 37 ? n : b + 37);
}

/* ---- QADD ---------------------------------------------------------------------- */

/* The elements of A [ad, rank ar] and B [bd, rank br] that output element i of Y [yd, rank]
 * reads under ONNX broadcasting (trailing dims aligned, dims of 1 repeated): the QADD and QMUL
 * oracles' index walk. */
static void bcast_sources(int64_t i, const int64_t *yd, int32_t rank, const int64_t *ad, int32_t ar,
                          const int64_t *bd, int32_t br, int64_t *ia, int64_t *ib)
{
    int64_t idx[8], rem = i;
    for (int32_t d = rank - 1; d >= 0; d--) {
        idx[d] = rem % yd[d];
        rem /= yd[d];
    }
    *ia = *ib = 0;
    for (int32_t d = 0; d < ar; d++)
        *ia = *ia * ad[d] + (ad[d] == 1 ? 0 : idx[rank - ar + d]);
    for (int32_t d = 0; d < br; d++)
        *ib = *ib * bd[d] + (bd[d] == 1 ? 0 : idx[rank - br + d]);
}

static void test_qadd_random(void)
{
    int cases = 0, bad_cases = 0;
    double worst = 0.0;
    for (int it = 0; it < 240; it++) {
        const int32_t rank = rint_in(1, 4);
        int64_t yd[4], ad[4], bd[4];
        int32_t ar = rint_in(1, rank), br = rint_in(1, rank);
        if (it % 3 == 0)
            ar = br = rank;
        if (ar < rank && br < rank) /* numpy: the output rank is the larger input rank */
            ar = rank;
        for (int32_t i = 0; i < rank; i++)
            yd[i] = rint_in(1, 4);
        for (int32_t i = 0; i < ar; i++)
            ad[i] = it % 3 == 0 || rnd() % 2 ? yd[rank - ar + i] : 1;
        for (int32_t i = 0; i < br; i++)
            bd[i] = it % 3 == 0 || rnd() % 2 ? yd[rank - br + i] : 1;
        /* the output takes the larger dim per axis: make yd consistent */
        for (int32_t i = 0; i < rank; i++) {
            const int64_t da = i - (rank - ar) >= 0 ? ad[i - (rank - ar)] : 1;
            const int64_t db = i - (rank - br) >= 0 ? bd[i - (rank - br)] : 1;
            yd[i] = da > db ? da : db;
        }
        const fgq_dtype adt = rand_dt(), bdt = rand_dt(), ydt = rand_dt();
        const int32_t za = rand_zero(adt), zb = rand_zero(bdt), zy = rand_zero(ydt);
        int32_t qmin, qmax;
        act_range(ydt, &qmin, &qmax);
        const int clamp_relu = rnd() % 4 == 0;
        if (clamp_relu)
            qmin = zy;
        const double sa = frand(0.001f, 0.1f), sb = it % 5 == 0 ? sa : frand(0.001f, 0.1f);
        const double sy = it % 7 == 0 ? frand(0.0001f, 0.001f) : frand(0.002f, 0.2f);
        const int32_t lsh = it % 11 == 0 ? rint_in(0, 20) : 20;
        const double twice_max = 2.0 * (sa > sb ? sa : sb);
        int32_t ma, sha, mb, shb, my, shy;
        mult_of(sa / twice_max, &ma, &sha);
        mult_of(sb / twice_max, &mb, &shb);
        mult_of(twice_max / ((double)(1 << lsh) * sy), &my, &shy);
        const int64_t na = prod(ad, ar), nb = prod(bd, br), ny = prod(yd, rank);
        uint8_t *a = malloc((size_t)na), *b = malloc((size_t)nb), *y = malloc((size_t)ny);
        fill_q(a, na, adt);
        fill_q(b, nb, bdt);
        tnode nd;
        tnode_init(&nd, FGQ_OP_QADD, 2);
        nd.ip[FGQ_QP_X_ZERO] = za;
        nd.ip[FGQ_QP_ADD_B_ZERO] = zb;
        nd.ip[FGQ_QP_Y_ZERO] = zy;
        nd.ip[FGQ_QP_QMIN] = qmin;
        nd.ip[FGQ_QP_QMAX] = qmax;
        nd.ip[FGQ_QP_ADD_LEFT_SHIFT] = lsh;
        nd.ip[FGQ_QP_ADD_A_MULT] = ma;
        nd.ip[FGQ_QP_ADD_A_SHIFT] = sha;
        nd.ip[FGQ_QP_ADD_B_MULT] = mb;
        nd.ip[FGQ_QP_ADD_B_SHIFT] = shb;
        nd.ip[FGQ_QP_REQ_MULT] = my;
        nd.ip[FGQ_QP_REQ_SHIFT] = shy;
        fgq_tensor_view av = qview(a, adt, ar, ad), bv = qview(b, bdt, br, bd), yv = qview(y, ydt, rank, yd);
        const fgq_tensor_view *in[2] = { &av, &bv };
        int bad = 0;
        fgq_status st = op_check_run(&nd, in, &yv);
        CHECK(st == FGQ_OK);
        for (int64_t i = 0; st == FGQ_OK && i < ny; i++) {
            int64_t ia, ib;
            bcast_sources(i, yd, rank, ad, ar, bd, br, &ia, &ib);
            const int32_t qa = qget(a, ia, adt), qb = qget(b, ib, bdt);
            const int64_t s = ref_requant((int64_t)(qa - za) * (1 << lsh), ma, sha) + ref_requant((int64_t)(qb - zb) * (1 << lsh), mb, shb);
            int64_t v = zy + ref_requant(s, my, shy);
            v = v < qmin ? qmin : v > qmax ? qmax : v;
            const int32_t got = qget(y, i, ydt);
            if (got != v && bad++ < 3)
                fprintf(stderr, "  QADD case %d y[%lld] = %d, want %lld\n", it, (long long)i, got, (long long)v);
            if (lsh == 20) { /* float semantics: within one output step of the clamped real sum */
                double real = sa * (qa - za) + sb * (qb - zb);
                const double lo = sy * (qmin - zy), hi = sy * (qmax - zy);
                real = real < lo ? lo : real > hi ? hi : real;
                const double e = fabs(sy * (got - zy) - real) / sy;
                worst = e > worst ? e : worst;
            }
        }
        CHECK_MSG(bad == 0, "QADD case %d: %d mismatches", it, bad);
        cases++;
        bad_cases += bad != 0;
        free(a);
        free(b);
        free(y);
    }
    fprintf(stderr, "  QADD float semantics: worst error %.4f output steps\n", worst);
    CHECK(worst <= 1.0);
    CHECK(cases >= 200 && bad_cases == 0);
}

static void test_qadd_rejects(void)
{
    const int64_t d3[1] = { 3 }, d4[1] = { 4 };
    fgq_tensor_view a = qview(NULL, FGQ_DT_U8, 1, d3), b = qview(NULL, FGQ_DT_S8, 1, d3), y = qview(NULL, FGQ_DT_U8, 1, d3);
    fgq_tensor_view b4 = qview(NULL, FGQ_DT_U8, 1, d4), f = qview(NULL, FGQ_DT_F32, 1, d3);
    const fgq_tensor_view *in[2] = { &a, &b }, *in_bad[2] = { &a, &b4 }, *in_f[2] = { &a, &f };
    tnode nd;
    fgq_error e;
#define BASE()                                   \
    do {                                         \
        tnode_init(&nd, FGQ_OP_QADD, 2);         \
        nd.ip[FGQ_QP_QMAX] = 255;                \
        nd.ip[FGQ_QP_ADD_LEFT_SHIFT] = 20;       \
        nd.ip[FGQ_QP_ADD_A_MULT] = 1 << 30;      \
        nd.ip[FGQ_QP_ADD_B_MULT] = 1 << 30;      \
        nd.ip[FGQ_QP_REQ_MULT] = 1 << 30;        \
        nd.ip[FGQ_QP_REQ_SHIFT] = -19;           \
    } while (0)
    BASE();
    CHECK(op_check(&nd, in, &y, &e) == FGQ_OK);
    CHECK_REJECTS(&nd, in_bad, &y, FGQ_ERR_SHAPE);
    CHECK_REJECTS(&nd, in_f, &y, FGQ_ERR_UNSUPPORTED);
    nd.ip[FGQ_QP_ADD_LEFT_SHIFT] = 21;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_ADD_A_SHIFT] = 1; /* input multipliers must be < 1 */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_ADD_B_MULT] = -1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_REQ_SHIFT] = 32;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_ADD_B_ZERO] = 128; /* B is s8 */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_X_ZERO] = -1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
#undef BASE
}

/* ---- QMUL ---------------------------------------------------------------------- */

/* QMUL against y = clamp(z_y + requant((q_a − z_a)(q_b − z_b)), qmin, qmax) computed here in int64
 * (broadcast shapes as QADD's test), and against float semantics: within one output step of the
 * clamped real product s_a(q_a − z_a)·s_b(q_b − z_b) (the requantizer rounds twice: 0.5 + 0.5·2^shift). */
static void test_qmul_random(void)
{
    double worst = 0.0;
    int bad_cases = 0;
    for (int it = 0; it < 200; it++) {
        const int32_t rank = rint_in(1, 4);
        int64_t yd[4], ad[4], bd[4];
        const int32_t ar = rank, br = rint_in(1, rank);
        for (int32_t i = 0; i < rank; i++)
            yd[i] = rint_in(1, 5);
        for (int32_t i = 0; i < ar; i++)
            ad[i] = rnd() % 3 ? yd[i] : 1;
        for (int32_t i = 0; i < br; i++)
            bd[i] = rnd() % 2 ? yd[rank - br + i] : 1;
        for (int32_t i = 0; i < rank; i++) {
            const int64_t db = i - (rank - br) >= 0 ? bd[i - (rank - br)] : 1;
            yd[i] = ad[i] > db ? ad[i] : db;
        }
        const fgq_dtype adt = rand_dt(), bdt = rand_dt(), ydt = rand_dt();
        const int32_t za = rand_zero(adt), zb = rand_zero(bdt), zy = rand_zero(ydt);
        int32_t qmin, qmax;
        act_range(ydt, &qmin, &qmax);
        const double sa = frand(0.001f, 0.1f), sb = frand(0.001f, 0.1f), sy = frand(0.00005f, 0.05f);
        int32_t my, shy;
        mult_of(sa * sb / sy, &my, &shy);
        const int64_t na = prod(ad, ar), nb = prod(bd, br), ny = prod(yd, rank);
        uint8_t *a = malloc((size_t)na), *b = malloc((size_t)nb), *y = malloc((size_t)ny);
        fill_q(a, na, adt);
        fill_q(b, nb, bdt);
        tnode nd;
        tnode_init(&nd, FGQ_OP_QMUL, 2);
        nd.ip[FGQ_QP_X_ZERO] = za;
        nd.ip[FGQ_QP_ADD_B_ZERO] = zb;
        nd.ip[FGQ_QP_Y_ZERO] = zy;
        nd.ip[FGQ_QP_QMIN] = qmin;
        nd.ip[FGQ_QP_QMAX] = qmax;
        nd.ip[FGQ_QP_REQ_MULT] = my;
        nd.ip[FGQ_QP_REQ_SHIFT] = shy;
        fgq_tensor_view av = qview(a, adt, ar, ad), bv = qview(b, bdt, br, bd), yv = qview(y, ydt, rank, yd);
        const fgq_tensor_view *in[2] = { &av, &bv };
        int bad = 0;
        fgq_status st = op_check_run(&nd, in, &yv);
        CHECK(st == FGQ_OK);
        for (int64_t i = 0; st == FGQ_OK && i < ny; i++) {
            int64_t ia, ib;
            bcast_sources(i, yd, rank, ad, ar, bd, br, &ia, &ib);
            const int32_t qa = qget(a, ia, adt), qb = qget(b, ib, bdt);
            int64_t v = zy + ref_requant((int64_t)(qa - za) * (qb - zb), my, shy);
            v = v < qmin ? qmin : v > qmax ? qmax : v;
            const int32_t got = qget(y, i, ydt);
            if (got != v && bad++ < 3)
                fprintf(stderr, "  QMUL case %d y[%lld] = %d, want %lld\n", it, (long long)i, got, (long long)v);
            double real = sa * (qa - za) * sb * (qb - zb);
            const double lo = sy * (qmin - zy), hi = sy * (qmax - zy);
            real = real < lo ? lo : real > hi ? hi : real;
            const double e = fabs(sy * (got - zy) - real) / sy;
            worst = e > worst ? e : worst;
        }
        bad_cases += bad != 0;
        free(a);
        free(b);
        free(y);
    }
    fprintf(stderr, "  QMUL float semantics: worst error %.4f output steps\n", worst);
    CHECK(bad_cases == 0);
    CHECK(worst <= 1.0);
}

/* QADD's table form (inputs not broadcast: residual adds, >= 256 elements) against its reference twin,
 * memcmp, on the fast paths this CPU has (AVX-512: the tables built and the elements run 16 a step,
 * a left shift handed to AVX2; AVX2: 8 a step; then the C tail), on AVX2 alone (the node's CPU
 * features masked), on the C path alone (kernels ref) and cut into spans of 37 and of 1 element (the
 * op splits its elements over threads), over u8/s8 mixes, zero points at the range
 * edges, left shifts, output shifts of 0 and -31 (every tenth case each), the inputs' shifts 0 or
 * right in every mix (every third case), ReLU clamps and lengths that are not multiples of 8 or 16. */
static void test_qadd_table_twin(void)
{
    int bad = 0, cases = 0;
    for (int it = 0; it < 80; it++) {
        const int64_t n = it < 8 ? 256 + it : rint_in(256, 5000);
        int64_t d[2] = { 1, n };
        const fgq_dtype adt = rand_dt(), bdt = rand_dt(), ydt = rand_dt();
        uint8_t *a = malloc((size_t)n), *b = malloc((size_t)n), *y1 = malloc((size_t)n), *y2 = malloc((size_t)n);
        fill_q(a, n, adt);
        fill_q(b, n, bdt);
        tnode nd;
        tnode_init(&nd, FGQ_OP_QADD, 2);
        const int edge = it % 5 == 0;
        nd.ip[FGQ_QP_X_ZERO] = edge ? (adt == FGQ_DT_S8 ? -128 : 255) : rand_zero(adt);
        nd.ip[FGQ_QP_ADD_B_ZERO] = edge ? (bdt == FGQ_DT_S8 ? 127 : 0) : rand_zero(bdt);
        nd.ip[FGQ_QP_Y_ZERO] = rand_zero(ydt);
        act_range(ydt, &nd.ip[FGQ_QP_QMIN], &nd.ip[FGQ_QP_QMAX]);
        if (rnd() % 3 == 0)
            nd.ip[FGQ_QP_QMIN] = nd.ip[FGQ_QP_Y_ZERO]; /* a fused ReLU */
        const int32_t lsh = it % 4 == 0 ? rint_in(0, 20) : 20;
        nd.ip[FGQ_QP_ADD_LEFT_SHIFT] = lsh;
        const double sa = frand(0.001f, 0.1f), sb = frand(0.001f, 0.1f), sy = frand(0.0005f, 0.2f);
        const double twice_max = 2.0 * (sa > sb ? sa : sb);
        mult_of(sa / twice_max, &nd.ip[FGQ_QP_ADD_A_MULT], &nd.ip[FGQ_QP_ADD_A_SHIFT]);
        mult_of(sb / twice_max, &nd.ip[FGQ_QP_ADD_B_MULT], &nd.ip[FGQ_QP_ADD_B_SHIFT]);
        mult_of(twice_max / ((double)(1 << lsh) * sy), &nd.ip[FGQ_QP_REQ_MULT], &nd.ip[FGQ_QP_REQ_SHIFT]);
        if (it % 3 == 2) { /* the inputs' own shifts drawn too: both zero, both right, either */
            nd.ip[FGQ_QP_ADD_A_MULT] = (1 << 30) + (int32_t)(rnd() % (1u << 30));
            nd.ip[FGQ_QP_ADD_B_MULT] = (1 << 30) + (int32_t)(rnd() % (1u << 30));
            nd.ip[FGQ_QP_ADD_A_SHIFT] = (it / 3) % 2 == 0 ? 0 : -(int32_t)(rnd() % 13);
            nd.ip[FGQ_QP_ADD_B_SHIFT] = (it / 6) % 2 == 0 ? 0 : -(int32_t)(rnd() % 13);
        }
        if (it % 10 == 1) { /* no rounding shift: the output stage's other variant */
            nd.ip[FGQ_QP_REQ_MULT] = (1 << 30) + (int32_t)(rnd() % (1u << 29));
            nd.ip[FGQ_QP_REQ_SHIFT] = 0;
        } else if (it % 10 == 2) { /* the largest right shift */
            nd.ip[FGQ_QP_REQ_MULT] = (1 << 30) + (int32_t)(rnd() % (1u << 29));
            nd.ip[FGQ_QP_REQ_SHIFT] = -31;
        }
        fgq_tensor_view av = qview(a, adt, 2, d), bv = qview(b, bdt, 2, d);
        fgq_tensor_view v1 = qview(y1, ydt, 2, d), v2 = qview(y2, ydt, 2, d);
        const fgq_tensor_view *in[2] = { &av, &bv };
        const fgq_tensor_view *o1[1] = { &v1 }, *o2[1] = { &v2 };
        fgq_error e;
        CHECK(op_check(&nd, in, &v1, &e) == FGQ_OK);
        for (int ref = 0; ref < 5; ref++) { /* AUTO, REF, AUTO with AVX2 alone; AUTO in spans of 37, of 1 */
            fgq_parallel par = { NULL, 1, NULL, ref == 1 ? FGQ_KERNELS_REF : FGQ_KERNELS_AUTO };
            if (ref >= 3) {
                par.n_threads = 2;
                par.parallel_for = ref == 3 ? chunk37_for : split_for;
            }
            nd.v.par = &par;
            nd.v.cpu = ref == 2 ? FGQ_CPU_QUERIED | FGQ_CPU_AVX2 : 0;
            memset(y1, 0x5a, (size_t)n);
            memset(y2, 0xa5, (size_t)n);
            /* through the op table: the tables live in the scratch the op declares */
            const fgq_status s1 = op_run_view(&nd.v, in, o1, &e), s2 = fgq_qadd_run_ref(&nd.v, in, o2, &e);
            bad += s1 != FGQ_OK || s2 != FGQ_OK || memcmp(y1, y2, (size_t)n) != 0;
            cases++;
        }
        nd.v.par = NULL;
        nd.v.cpu = 0;
        free(a);
        free(b);
        free(y1);
        free(y2);
    }
    CHECK_MSG(bad == 0, "QADD table form differs from the reference in %d of %d cases", bad, cases);
}

/* One QMUL case: x [xd] times y = its gate [gd] (the gate the first operand when gate_first), random
 * dtypes, zero points and multiplier, a ReLU clamp when relu: fgq_qmul_run against its reference twin
 * fgq_qmul_run_ref, memcmp. Returns 1 when they differ (or either fails). */
static int qmul_twin_case(const int64_t *xd, const int64_t *gd, int gate_first, int relu)
{
    const fgq_dtype xdt = rand_dt(), gdt = rand_dt(), ydt = rand_dt();
    const int64_t nx = xd[0] * xd[1] * xd[2] * xd[3], ng = gd[0] * gd[1] * gd[2] * gd[3];
    uint8_t *x = malloc((size_t)nx), *g = malloc((size_t)ng), *y1 = malloc((size_t)nx), *y2 = malloc((size_t)nx);
    fill_q(x, nx, xdt);
    fill_q(g, ng, gdt);
    tnode nd;
    tnode_init(&nd, FGQ_OP_QMUL, 2);
    const fgq_dtype adt = gate_first ? gdt : xdt, bdt = gate_first ? xdt : gdt;
    nd.ip[FGQ_QP_X_ZERO] = rand_zero(adt);
    nd.ip[FGQ_QP_ADD_B_ZERO] = rand_zero(bdt);
    nd.ip[FGQ_QP_Y_ZERO] = rand_zero(ydt);
    act_range(ydt, &nd.ip[FGQ_QP_QMIN], &nd.ip[FGQ_QP_QMAX]);
    if (relu)
        nd.ip[FGQ_QP_QMIN] = nd.ip[FGQ_QP_Y_ZERO];
    mult_of(frand(0.001f, 0.1f) * frand(0.001f, 0.1f) / frand(0.00005f, 0.05f), &nd.ip[FGQ_QP_REQ_MULT],
            &nd.ip[FGQ_QP_REQ_SHIFT]);
    fgq_tensor_view xv = qview(x, xdt, 4, xd), gv = qview(g, gdt, 4, gd);
    fgq_tensor_view v1 = qview(y1, ydt, 4, xd), v2 = qview(y2, ydt, 4, xd);
    const fgq_tensor_view *in[2] = { gate_first ? &gv : &xv, gate_first ? &xv : &gv };
    const fgq_tensor_view *o1[1] = { &v1 }, *o2[1] = { &v2 };
    fgq_error e;
    CHECK(op_check(&nd, in, &v1, &e) == FGQ_OK);
    memset(y1, 0x5a, (size_t)nx);
    memset(y2, 0xa5, (size_t)nx);
    const fgq_status s1 = fgq_qmul_run(&nd.v, in, o1, &e), s2 = fgq_qmul_run_ref(&nd.v, in, o2, &e);
    const int bad = s1 != FGQ_OK || s2 != FGQ_OK || memcmp(y1, y2, (size_t)nx) != 0;
    free(x);
    free(g);
    free(y1);
    free(y2);
    return bad;
}

/* QMUL's table form (an operand constant over >= 256 trailing elements: x · gate[N, C, 1, 1], and the
 * gate first) against its reference twin, memcmp, over u8/s8 mixes, zero points and multipliers. */
static void test_qmul_table_twin(void)
{
    int bad = 0, cases = 0;
    for (int it = 0; it < 60; it++) {
        const int64_t n = rint_in(1, 2), c = rint_in(1, 5), h = rint_in(16, 24), w = rint_in(16, 25);
        const int gate_first = it % 2, gate_batch = rnd() % 2;
        const int64_t xd[4] = { n, c, h, w }, gd[4] = { gate_batch ? n : 1, c, 1, 1 };
        bad += qmul_twin_case(xd, gd, gate_first, 0);
        cases++;
    }
    CHECK_MSG(bad == 0, "QMUL table form differs from the reference in %d of %d cases", bad, cases);
}

/* QMUL's vector forms (AVX2, where the CPU has it) against the reference twin, memcmp: operands of one
 * shape (hard-swish's x · gate(x), 8..3000 elements, every tail) and gates [N, C, 1, 1] over short planes
 * (3x3 .. 15x15: runs under the table's 256), the gate first or second; u8/s8 mixes, zero points,
 * ReLU clamps. */
static void test_qmul_vector_twin(void)
{
    int bad = 0, cases = 0;
    for (int it = 0; it < 120; it++) {
        const int gated = it % 2;
        const int64_t c = rint_in(1, 6), hw = rint_in(3, 15);
        const int64_t xd[4] = { 1, c, gated ? hw : 1, gated ? hw : rint_in(8, 500) };
        const int64_t gd[4] = { 1, c, gated ? 1 : xd[2], gated ? 1 : xd[3] };
        bad += qmul_twin_case(xd, gd, rnd() % 2, rnd() % 3 == 0);
        cases++;
    }
    CHECK_MSG(bad == 0, "QMUL vector forms differ from the reference in %d of %d cases", bad, cases);
    /* tensors with no element (a 0 dim is legal): nothing is read or written (the vector path read the
     * gate's first byte; data NULL made that a crash) */
    const int64_t d0[2] = { 0, 8 };
    fgq_tensor_view a0 = qview(NULL, FGQ_DT_U8, 2, d0), b0 = qview(NULL, FGQ_DT_U8, 2, d0), y0 = qview(NULL, FGQ_DT_U8, 2, d0);
    const fgq_tensor_view *in0[2] = { &a0, &b0 }, *out0[1] = { &y0 };
    tnode nd;
    tnode_init(&nd, FGQ_OP_QMUL, 2);
    nd.ip[FGQ_QP_QMAX] = 255;
    mult_of(0.01, &nd.ip[FGQ_QP_REQ_MULT], &nd.ip[FGQ_QP_REQ_SHIFT]);
    fgq_error e;
    CHECK(op_check(&nd, in0, &y0, &e) == FGQ_OK);
    CHECK(fgq_qmul_run(&nd.v, in0, out0, &e) == FGQ_OK);
}

static void test_qmul_rejects(void)
{
    const int64_t d3[1] = { 3 }, d4[1] = { 4 };
    fgq_tensor_view a = qview(NULL, FGQ_DT_U8, 1, d3), b = qview(NULL, FGQ_DT_S8, 1, d3), y = qview(NULL, FGQ_DT_U8, 1, d3);
    fgq_tensor_view b4 = qview(NULL, FGQ_DT_U8, 1, d4), f = qview(NULL, FGQ_DT_F32, 1, d3);
    const fgq_tensor_view *in[2] = { &a, &b }, *in_bad[2] = { &a, &b4 }, *in_f[2] = { &a, &f };
    tnode nd;
    fgq_error e;
#define BASE()                                   \
    do {                                         \
        tnode_init(&nd, FGQ_OP_QMUL, 2);         \
        nd.ip[FGQ_QP_QMAX] = 255;                \
        nd.ip[FGQ_QP_REQ_MULT] = 1 << 30;        \
        nd.ip[FGQ_QP_REQ_SHIFT] = -8;            \
    } while (0)
    BASE();
    CHECK(op_check(&nd, in, &y, &e) == FGQ_OK);
    CHECK_REJECTS(&nd, in_bad, &y, FGQ_ERR_SHAPE);
    CHECK_REJECTS(&nd, in_f, &y, FGQ_ERR_UNSUPPORTED);
    nd.ip[FGQ_QP_REQ_SHIFT] = 32;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_REQ_MULT] = -1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_ADD_B_ZERO] = 128; /* B is s8 */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_X_ZERO] = 256;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    BASE();
    nd.ip[FGQ_QP_QMIN] = 200; /* qmin > qmax */
    nd.ip[FGQ_QP_QMAX] = 100;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
#undef BASE
}

/* ---- pools ---------------------------------------------------------------------- */

typedef struct {
    int ns;
    int64_t n, c, in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
} pool_shape;

static void pool_set_node(tnode *nd, fgq_op op, const pool_shape *ps)
{
    tnode_init(nd, op, 1);
    nd->ip[FGQ_P_NSPATIAL] = ps->ns;
    for (int i = 0; i < ps->ns; i++) {
        const int j = 3 - ps->ns + i;
        nd->ip[FGQ_P_KERNEL + i] = (int32_t)ps->k[j];
        nd->ip[FGQ_P_STRIDE + i] = (int32_t)ps->s[j];
        nd->ip[FGQ_P_DILATION + i] = (int32_t)ps->d[j];
        nd->ip[FGQ_P_PAD_BEGIN + i] = (int32_t)ps->pb[j];
        nd->ip[FGQ_P_PAD_END + i] = (int32_t)ps->pe[j];
    }
}

static void test_qpool_random(void)
{
    int cases = 0, bad_cases = 0;
    for (int it = 0; it < 420; it++) {
        const int is_avg = it % 2;
        pool_shape ps;
        memset(&ps, 0, sizeof ps);
        ps.ns = it % 5 == 0 ? 3 : it % 3 == 0 ? 1 : 2;
        ps.n = rint_in(1, 2);
        ps.c = rint_in(1, 3);
        for (int j = 0; j < 3; j++) {
            ps.in[j] = ps.k[j] = ps.s[j] = ps.d[j] = ps.out[j] = 1;
            ps.pb[j] = ps.pe[j] = 0;
        }
        const int ceil_mode = rnd() % 3 == 0;
        for (int i = 0; i < ps.ns; i++) {
            const int j = 3 - ps.ns + i;
            ps.k[j] = rint_in(1, 3);
            ps.s[j] = rint_in(1, 3);
            ps.d[j] = rint_in(1, 2);
            if (it % 4 < 2) /* windows inside X: qpool.c's max-pool path (and the avg twin) */
                ps.d[j] = 1;
            const int64_t ext = ps.d[j] * (ps.k[j] - 1) + 1;
            ps.pb[j] = it % 4 < 2 ? 0 : rint_in(0, (int32_t)ext - 1);
            ps.pe[j] = it % 4 < 2 ? 0 : rint_in(0, (int32_t)ext - 1);
            ps.in[j] = rint_in(1, ps.ns == 3 ? 4 : 7);
            if (ps.in[j] + ps.pb[j] + ps.pe[j] < ext)
                ps.in[j] = ext;
            const int64_t span = ps.in[j] + ps.pb[j] + ps.pe[j] - ext;
            int64_t oc = (span + ps.s[j] - 1) / ps.s[j] + 1;
            if ((oc - 1) * ps.s[j] >= ps.in[j] + ps.pb[j])
                oc--;
            ps.out[j] = ceil_mode ? oc : span / ps.s[j] + 1;
        }
        const fgq_dtype xdt = rand_dt(), ydt = rand_dt();
        const int32_t zx = rand_zero(xdt), zy = rand_zero(ydt);
        int32_t qmin, qmax;
        act_range(ydt, &qmin, &qmax);
        if (rnd() % 4 == 0)
            qmin = zy;
        const int count_pad = is_avg && rnd() % 2;
        int32_t mult = 0, shift = 0;
        if (is_avg && rnd() % 2)
            mult_of(frand(0.2f, 3.0f) / 256.0, &mult, &shift);
        int64_t xd[5] = { ps.n, ps.c, 1, 1, 1 }, yd[5] = { ps.n, ps.c, 1, 1, 1 };
        for (int i = 0; i < ps.ns; i++) {
            xd[2 + i] = ps.in[3 - ps.ns + i];
            yd[2 + i] = ps.out[3 - ps.ns + i];
        }
        const int64_t nx = ps.n * ps.c * ps.in[0] * ps.in[1] * ps.in[2];
        const int64_t ny = ps.n * ps.c * ps.out[0] * ps.out[1] * ps.out[2];
        uint8_t *x = malloc((size_t)nx), *y = malloc((size_t)ny);
        fill_q(x, nx, xdt);
        tnode nd;
        pool_set_node(&nd, is_avg ? FGQ_OP_QAVGPOOL : FGQ_OP_QMAXPOOL, &ps);
        nd.ip[FGQ_P_COUNT_PAD] = count_pad;
        nd.ip[FGQ_QP_X_ZERO] = zx;
        nd.ip[FGQ_QP_Y_ZERO] = zy;
        nd.ip[FGQ_QP_QMIN] = qmin;
        nd.ip[FGQ_QP_QMAX] = qmax;
        nd.ip[FGQ_QP_REQ_MULT] = mult;
        nd.ip[FGQ_QP_REQ_SHIFT] = shift;
        fgq_tensor_view xv = qview(x, xdt, ps.ns + 2, xd), yv = qview(y, ydt, ps.ns + 2, yd);
        const fgq_tensor_view *in[1] = { &xv };
        fgq_status st = op_check_run(&nd, in, &yv);
        CHECK(st == FGQ_OK);
        int bad = 0;
        for (int64_t i = 0; st == FGQ_OK && i < ny; i++) {
            const int64_t plane = i / (ps.out[0] * ps.out[1] * ps.out[2]);
            const int64_t p = i % (ps.out[0] * ps.out[1] * ps.out[2]);
            const int64_t o[3] = { p / (ps.out[1] * ps.out[2]), (p / ps.out[2]) % ps.out[1], p % ps.out[2] };
            int64_t sum = 0, cnt = 0, cnt_pad = 0, mx = INT64_MIN;
            for (int64_t k0 = 0; k0 < ps.k[0]; k0++)
                for (int64_t k1 = 0; k1 < ps.k[1]; k1++)
                    for (int64_t k2 = 0; k2 < ps.k[2]; k2++) {
                        const int64_t kk[3] = { k0, k1, k2 };
                        int64_t pos[3];
                        int inside = 1, in_pad = 1;
                        for (int j = 0; j < 3; j++) {
                            pos[j] = o[j] * ps.s[j] - ps.pb[j] + kk[j] * ps.d[j];
                            inside &= pos[j] >= 0 && pos[j] < ps.in[j];
                            in_pad &= pos[j] >= -ps.pb[j] && pos[j] < ps.in[j] + ps.pe[j];
                        }
                        cnt_pad += in_pad;
                        if (!inside)
                            continue;
                        const int64_t dv = qget(x, ((plane * ps.in[0] + pos[0]) * ps.in[1] + pos[1]) * ps.in[2] + pos[2], xdt) - zx;
                        sum += dv;
                        cnt++;
                        mx = dv > mx ? dv : mx;
                    }
            int64_t v;
            if (!is_avg)
                v = cnt == 0 ? qmin : zy + mx;
            else {
                const int64_t c = count_pad ? cnt_pad : cnt;
                v = c == 0 ? zy : mult == 0 ? zy + ref_rdiv(sum, c) : zy + ref_requant(ref_rdiv(sum * 256, c), mult, shift);
            }
            v = v < qmin ? qmin : v > qmax ? qmax : v;
            const int32_t got = qget(y, i, ydt);
            if (got != v && bad++ < 3)
                fprintf(stderr, "  pool case %d (%s) y[%lld] = %d, want %lld\n", it, is_avg ? "avg" : "max", (long long)i,
                        got, (long long)v);
        }
        CHECK_MSG(bad == 0, "pool case %d: %d mismatches", it, bad);
        /* the same bytes with the planes handed out one at a time (qpool.c's max rows run them as
         * parallel tasks) */
        uint8_t *y1 = malloc((size_t)ny);
        fgq_tensor_view y1v = qview(y1, ydt, ps.ns + 2, yd);
        const fgq_parallel split = { NULL, 2, split_for, FGQ_KERNELS_AUTO };
        nd.v.par = &split;
        CHECK(op_check_run(&nd, in, &y1v) == FGQ_OK && memcmp(y, y1, (size_t)ny) == 0);
        free(y1);
        cases++;
        bad_cases += bad != 0;
        free(x);
        free(y);
    }
    CHECK(cases >= 400 && bad_cases == 0);
}

static void test_qglobal_avgpool_random(void)
{
    int bad_cases = 0, cases = 0;
    for (int it = 0; it < 220; it++) {
        const int32_t rank = rint_in(3, 5);
        int64_t xd[5], yd[5];
        xd[0] = yd[0] = rint_in(1, 2);
        xd[1] = yd[1] = rint_in(1, 4);
        for (int32_t i = 2; i < rank; i++) {
            xd[i] = rint_in(1, rank == 5 ? 4 : 9);
            yd[i] = 1;
        }
        const fgq_dtype xdt = rand_dt(), ydt = rand_dt();
        const int32_t zx = rand_zero(xdt), zy = rand_zero(ydt);
        int32_t qmin, qmax, mult = 0, shift = 0;
        act_range(ydt, &qmin, &qmax);
        if (rnd() % 2)
            mult_of(frand(0.2f, 3.0f) / 256.0, &mult, &shift);
        const int64_t nx = prod(xd, rank), planes = xd[0] * xd[1], hw = nx / planes;
        uint8_t *x = malloc((size_t)nx), y[8];
        fill_q(x, nx, xdt);
        if (it % 10 == 0) /* saturate: every value at the far end */
            memset(x, xdt == FGQ_DT_S8 ? 0x7f : 0xff, (size_t)nx);
        tnode nd;
        tnode_init(&nd, FGQ_OP_QGLOBAL_AVGPOOL, 1);
        nd.ip[FGQ_QP_X_ZERO] = zx;
        nd.ip[FGQ_QP_Y_ZERO] = zy;
        nd.ip[FGQ_QP_QMIN] = qmin;
        nd.ip[FGQ_QP_QMAX] = qmax;
        nd.ip[FGQ_QP_REQ_MULT] = mult;
        nd.ip[FGQ_QP_REQ_SHIFT] = shift;
        fgq_tensor_view xv = qview(x, xdt, rank, xd), yv = qview(y, ydt, rank, yd);
        const fgq_tensor_view *in[1] = { &xv };
        fgq_status st = op_check_run(&nd, in, &yv);
        CHECK(st == FGQ_OK);
        int bad = 0;
        for (int64_t p = 0; st == FGQ_OK && p < planes; p++) {
            int64_t s = 0;
            for (int64_t i = 0; i < hw; i++)
                s += qget(x, p * hw + i, xdt) - zx;
            int64_t v = mult == 0 ? zy + ref_rdiv(s, hw) : zy + ref_requant(ref_rdiv(s * 256, hw), mult, shift);
            v = v < qmin ? qmin : v > qmax ? qmax : v;
            bad += qget(y, p, ydt) != v;
        }
        CHECK_MSG(bad == 0, "global avgpool case %d: %d mismatches", it, bad);
        /* the same bytes with the planes handed out one at a time (the op splits its planes over threads) */
        uint8_t y1[8];
        fgq_tensor_view y1v = qview(y1, ydt, rank, yd);
        const fgq_parallel split = { NULL, 2, split_for, FGQ_KERNELS_AUTO };
        nd.v.par = &split;
        CHECK(op_check_run(&nd, in, &y1v) == FGQ_OK && memcmp(y, y1, (size_t)planes) == 0);
        nd.v.par = NULL;
        cases++;
        bad_cases += bad != 0;
        free(x);
    }
    CHECK(cases >= 200 && bad_cases == 0);
}

static void test_qpool_rejects(void)
{
    pool_shape ps;
    memset(&ps, 0, sizeof ps);
    ps.ns = 2;
    for (int j = 0; j < 3; j++)
        ps.k[j] = ps.s[j] = ps.d[j] = 1;
    ps.k[1] = ps.k[2] = 3;
    const int64_t xd[4] = { 1, 2, 5, 5 }, yd[4] = { 1, 2, 3, 3 };
    fgq_tensor_view x = qview(NULL, FGQ_DT_U8, 4, xd), y = qview(NULL, FGQ_DT_U8, 4, yd);
    const fgq_tensor_view *in[1] = { &x };
    tnode nd;
    fgq_error e;
    pool_set_node(&nd, FGQ_OP_QAVGPOOL, &ps);
    nd.ip[FGQ_QP_QMAX] = 255;
    CHECK(op_check(&nd, in, &y, &e) == FGQ_OK);
    nd.ip[FGQ_QP_REQ_SHIFT] = -32;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_REQ_SHIFT] = 0;
    nd.ip[FGQ_P_COUNT_PAD] = 2;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    nd.ip[FGQ_P_COUNT_PAD] = 0;
    nd.ip[FGQ_P_PAD_BEGIN] = 3; /* pad >= window */
    const int64_t yd2[4] = { 1, 2, 6, 3 };
    fgq_tensor_view y2 = qview(NULL, FGQ_DT_U8, 4, yd2);
    CHECK_REJECTS(&nd, in, &y2, FGQ_ERR_FORMAT);
    pool_set_node(&nd, FGQ_OP_QMAXPOOL, &ps);
    nd.ip[FGQ_QP_QMAX] = 255;
    nd.ip[FGQ_QP_Y_ZERO] = -1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    /* a window of more than (2^31 − 1)/255 taps */
    ps.k[1] = ps.k[2] = 3000;
    const int64_t xb[4] = { 1, 1, 3000, 3000 }, yb[4] = { 1, 1, 1, 1 };
    fgq_tensor_view xbig = qview(NULL, FGQ_DT_U8, 4, xb), ybig = qview(NULL, FGQ_DT_U8, 4, yb);
    const fgq_tensor_view *inb[1] = { &xbig };
    pool_set_node(&nd, FGQ_OP_QAVGPOOL, &ps);
    nd.ip[FGQ_QP_QMAX] = 255;
    CHECK_REJECTS(&nd, inb, &ybig, FGQ_ERR_UNSUPPORTED);
    tnode_init(&nd, FGQ_OP_QGLOBAL_AVGPOOL, 1);
    nd.ip[FGQ_QP_QMAX] = 255;
    CHECK_REJECTS(&nd, inb, &ybig, FGQ_ERR_UNSUPPORTED);
    const int64_t xs[4] = { 1, 1, 2900, 2900 };
    fgq_tensor_view xok = qview(NULL, FGQ_DT_U8, 4, xs);
    const fgq_tensor_view *inok[1] = { &xok };
    CHECK(op_check(&nd, inok, &ybig, &e) == FGQ_OK);
    fgq_tensor_view ywrong = qview(NULL, FGQ_DT_U8, 4, xs);
    CHECK_REJECTS(&nd, inok, &ywrong, FGQ_ERR_SHAPE);
}

/* ---- QCONCAT --------------------------------------------------------------------- */

static void test_qconcat_random(void)
{
    int cases = 0, bad_cases = 0;
    for (int it = 0; it < 220; it++) {
        const int32_t rank = rint_in(1, 4), axis = rint_in(0, rank - 1), nin = it % 10 + 1;
        int64_t base[4], yd[4];
        for (int32_t i = 0; i < rank; i++)
            base[i] = rint_in(1, 4);
        const fgq_dtype ydt = rand_dt();
        const int32_t zy = rand_zero(ydt);
        tnode nd;
        tnode_init(&nd, FGQ_OP_QCONCAT, nin);
        nd.ip[FGQ_QP_CONCAT_AXIS] = axis;
        nd.ip[FGQ_QP_CONCAT_Y_ZERO] = zy;
        fgq_tensor_view xv[10];
        const fgq_tensor_view *in[10];
        uint8_t *xs[10];
        int64_t xdims[10][4];
        fgq_dtype xdt[10];
        memcpy(yd, base, sizeof yd);
        yd[axis] = 0;
        for (int t = 0; t < nin; t++) {
            memcpy(xdims[t], base, sizeof base);
            xdims[t][axis] = rint_in(0, 3);
            yd[axis] += xdims[t][axis];
            xdt[t] = rand_dt();
            int32_t *p = nd.ip + FGQ_QP_CONCAT_IN + 3 * t;
            p[0] = rand_zero(xdt[t]);
            p[1] = p[2] = 0;
            if (rnd() % 3 != 0)
                mult_of(frand(0.1f, 4.0f), &p[1], &p[2]);
            const int64_t n = prod(xdims[t], rank);
            xs[t] = malloc((size_t)(n > 0 ? n : 1));
            fill_q(xs[t], n, xdt[t]);
            xv[t] = qview(xs[t], xdt[t], rank, xdims[t]);
            in[t] = &xv[t];
        }
        const int64_t ny = prod(yd, rank);
        uint8_t *y = malloc((size_t)(ny > 0 ? ny : 1));
        fgq_tensor_view yv = qview(y, ydt, rank, yd);
        fgq_status st = op_check_run(&nd, in, &yv);
        CHECK(st == FGQ_OK);
        int32_t lo, hi;
        act_range(ydt, &lo, &hi);
        int bad = 0;
        const int64_t outer = prod(yd, axis), inner = prod(yd + axis + 1, rank - axis - 1);
        for (int64_t o = 0; st == FGQ_OK && o < outer; o++) {
            int64_t col = 0;
            for (int t = 0; t < nin; t++) {
                const int32_t *p = nd.ip + FGQ_QP_CONCAT_IN + 3 * t;
                const int64_t chunk = xdims[t][axis] * inner;
                for (int64_t i = 0; i < chunk; i++) {
                    const int64_t dq = qget(xs[t], o * chunk + i, xdt[t]) - p[0];
                    int64_t v = zy + (p[1] == 0 ? dq : ref_requant(dq, p[1], p[2]));
                    v = v < lo ? lo : v > hi ? hi : v;
                    bad += qget(y, o * yd[axis] * inner + col + i, ydt) != v;
                }
                col += chunk;
            }
        }
        CHECK_MSG(bad == 0, "concat case %d: %d mismatches", it, bad);
        cases++;
        bad_cases += bad != 0;
        for (int t = 0; t < nin; t++)
            free(xs[t]);
        free(y);
    }
    CHECK(cases >= 200 && bad_cases == 0);
}

static void test_qconcat_rejects(void)
{
    const int64_t d[2] = { 2, 3 }, d_bad[2] = { 3, 3 }, dy[2] = { 4, 3 };
    fgq_tensor_view a = qview(NULL, FGQ_DT_U8, 2, d), b = qview(NULL, FGQ_DT_S8, 2, d), y = qview(NULL, FGQ_DT_U8, 2, dy);
    fgq_tensor_view c = qview(NULL, FGQ_DT_S8, 2, d_bad), f = qview(NULL, FGQ_DT_F32, 2, d);
    const fgq_tensor_view *in[11] = { &a, &b, &a, &a, &a, &a, &a, &a, &a, &a, &a };
    tnode nd;
    fgq_error e;
    tnode_init(&nd, FGQ_OP_QCONCAT, 2);
    CHECK(op_check(&nd, in, &y, &e) == FGQ_OK);
    nd.ip[FGQ_QP_CONCAT_IN + 3] = 128; /* z of the s8 input */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_CONCAT_IN + 3] = 0;
    nd.ip[FGQ_QP_CONCAT_IN + 5] = 40; /* shift */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_CONCAT_IN + 5] = 0;
    nd.ip[FGQ_QP_CONCAT_AXIS] = 2;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_CONCAT_AXIS] = 1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    nd.ip[FGQ_QP_CONCAT_AXIS] = 0;
    const fgq_tensor_view *in_c[2] = { &a, &c }, *in_f[2] = { &a, &f };
    CHECK_REJECTS(&nd, in_c, &y, FGQ_ERR_SHAPE);
    CHECK_REJECTS(&nd, in_f, &y, FGQ_ERR_UNSUPPORTED);
    tnode_init(&nd, FGQ_OP_QCONCAT, 11);
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
}

/* ---- QUANTIZE / DEQUANTIZE / RESHAPE ------------------------------------------- */

static float round_half_even(float r)
{
    const float f = floorf(r), diff = r - f;
    if (diff > 0.5f)
        return f + 1.0f;
    if (diff < 0.5f)
        return f;
    return fmodf(f, 2.0f) == 0.0f ? f : f + 1.0f;
}

static void test_quantize(void)
{
    int cases = 0, bad_total = 0, io_cases = 0;
    for (int it = 0; it < 220; it++) {
        const fgq_dtype ydt = rand_dt();
        int32_t lo, hi;
        act_range(ydt, &lo, &hi);
        const int32_t z = rand_zero(ydt), even = it % 2;
        const int32_t qmin = rnd() % 4 == 0 ? z : lo, qmax = hi;
        const float s = it % 9 == 0 ? 1.0f : frand(0.001f, 0.5f);
        const int64_t n = it % 5 == 0 ? rint_in(65, 300) : rint_in(1, 64);
        float *x = malloc(sizeof(float) * (size_t)n);
        uint8_t *y = malloc((size_t)n);
        for (int64_t i = 0; i < n; i++) {
            const uint32_t p = rnd() % 10;
            x[i] = p == 0 ? ((float)rint_in(-300, 300) + 0.5f) * s /* exact halves when s = 1 */
                   : p == 1 ? NAN : p == 2 ? (rnd() % 2 ? INFINITY : -INFINITY) : p == 3 ? 1e30f : frand(-2.0f, 2.0f) * s * 200.0f;
        }
        tnode nd;
        tnode_init(&nd, FGQ_OP_QUANTIZE, 1);
        nd.fp[FGQ_QPF_SCALE] = s;
        nd.ip[FGQ_QP_Y_ZERO] = z;
        nd.ip[FGQ_QP_QMIN] = qmin;
        nd.ip[FGQ_QP_QMAX] = qmax;
        nd.ip[FGQ_QP_ROUND] = even;
        /* every third case on the reference kernels: the scalar loop for every element (elsewhere
         * it takes only the AVX2 kernel's tail) */
        const fgq_parallel par_ref = { NULL, 1, NULL, FGQ_KERNELS_REF };
        /* every third case from the second on in spans of 37 values (the op splits its values over threads) */
        const fgq_parallel par_split = { NULL, 2, chunk37_for, FGQ_KERNELS_AUTO };
        if (it % 3 == 0)
            nd.v.par = &par_ref;
        else if (it % 3 == 1)
            nd.v.par = &par_split;
        const int64_t d[1] = { n };
        fgq_tensor_view xv = qview(x, FGQ_DT_F32, 1, d), yv = qview(y, ydt, 1, d);
        const fgq_tensor_view *in[1] = { &xv };
        CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
        const fgq_affine_params ap = { s, z, qmin, qmax };
        for (int64_t i = 0; i < n; i++) {
            int32_t want;
            if (!even) {
                want = fgq_affine_quantize(x[i], &ap);
            } else {
                const float v = round_half_even(x[i] / s) + (float)z;
                want = !(v >= (float)qmin) ? qmin : v > (float)qmax ? qmax : (int32_t)v;
            }
            const int32_t got = qget(y, i, ydt);
            if (got != want && bad_total++ < 5)
                fprintf(stderr, "  quantize %.9g / %g (even %d): %d, want %d\n", (double)x[i], (double)s, even, got, want);
        }
        /* quantized I/O: the tools' conversion for an input whose QUANTIZE the rewrite dropped (the
         * whole range, half away) gives the op's bytes */
        if (!even && qmin == lo && qmax == hi && (ydt == FGQ_DT_U8 || ydt == FGQ_DT_S8)) {
            uint8_t *io = malloc((size_t)n);
            fgq_io_quantize(x, n, s, z, ydt, io);
            bad_total += memcmp(io, y, (size_t)n) != 0;
            io_cases++;
            free(io);
        }
        cases++;
        free(x);
        free(y);
    }
    CHECK(cases >= 200 && io_cases >= 30 && bad_total == 0);
    /* the half cases themselves */
    const float xs[6] = { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f };
    const int32_t away[6] = { 1, 2, 3, -1, -2, -3 }, evn[6] = { 0, 2, 2, 0, -2, -2 };
    for (int mode = 0; mode < 2; mode++) {
        int8_t y[6];
        tnode nd;
        tnode_init(&nd, FGQ_OP_QUANTIZE, 1);
        nd.fp[FGQ_QPF_SCALE] = 1.0f;
        nd.ip[FGQ_QP_QMIN] = -128;
        nd.ip[FGQ_QP_QMAX] = 127;
        nd.ip[FGQ_QP_ROUND] = mode;
        const int64_t d[1] = { 6 };
        fgq_tensor_view xv = qview((void *)xs, FGQ_DT_F32, 1, d), yv = qview(y, FGQ_DT_S8, 1, d);
        const fgq_tensor_view *in[1] = { &xv };
        CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
        for (int i = 0; i < 6; i++)
            CHECK(y[i] == (mode ? evn[i] : away[i]));
    }
    /* rejections */
    const int64_t d[1] = { 4 };
    fgq_tensor_view xf = qview(NULL, FGQ_DT_F32, 1, d), xu = qview(NULL, FGQ_DT_U8, 1, d), yu = qview(NULL, FGQ_DT_U8, 1, d);
    const fgq_tensor_view *inf[1] = { &xf }, *inu[1] = { &xu };
    tnode nd;
    tnode_init(&nd, FGQ_OP_QUANTIZE, 1);
    nd.fp[FGQ_QPF_SCALE] = 0.0f;
    nd.ip[FGQ_QP_QMAX] = 255;
    CHECK_REJECTS(&nd, inf, &yu, FGQ_ERR_VALUE);
    nd.fp[FGQ_QPF_SCALE] = NAN;
    CHECK_REJECTS(&nd, inf, &yu, FGQ_ERR_VALUE);
    nd.fp[FGQ_QPF_SCALE] = 0.1f;
    nd.ip[FGQ_QP_ROUND] = 2;
    CHECK_REJECTS(&nd, inf, &yu, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_ROUND] = 0;
    CHECK_REJECTS(&nd, inu, &yu, FGQ_ERR_UNSUPPORTED);
    nd.ip[FGQ_QP_QMAX] = 256;
    CHECK_REJECTS(&nd, inf, &yu, FGQ_ERR_FORMAT);
}

static void test_dequantize(void)
{
    const fgq_dtype dts[3] = { FGQ_DT_U8, FGQ_DT_S8, FGQ_DT_S32 };
    int bad = 0, cases = 0;
    for (int it = 0; it < 210; it++) {
        const fgq_dtype dt = dts[it % 3];
        const int64_t n = rint_in(1, 40);
        int32_t buf[40];
        uint8_t *b8 = (uint8_t *)buf;
        int32_t z = dt == FGQ_DT_S32 ? (it % 2 ? (int32_t)rnd() : rint_in(-1000, 1000)) : rand_zero(dt);
        for (int64_t i = 0; i < n; i++) {
            if (dt == FGQ_DT_S32)
                buf[i] = i == 0 ? INT32_MIN : i == 1 ? INT32_MAX : (int32_t)rnd();
            else
                fill_q(b8 + i, 1, dt);
        }
        const float s = frand(0.001f, 2.0f);
        float y[40];
        tnode nd;
        tnode_init(&nd, FGQ_OP_DEQUANTIZE, 1);
        nd.fp[FGQ_QPF_SCALE] = s;
        nd.ip[FGQ_QP_X_ZERO] = z;
        const int64_t d[1] = { n };
        fgq_tensor_view xv = qview(buf, dt, 1, d), yv = qview(y, FGQ_DT_F32, 1, d);
        const fgq_tensor_view *in[1] = { &xv };
        CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
        for (int64_t i = 0; i < n; i++) {
            const int64_t q = dt == FGQ_DT_S32 ? buf[i] : qget(b8, i, dt);
            bad += y[i] != (float)(q - z) * s;
            if (dt == FGQ_DT_U8) {
                const fgq_affine_params ap = { s, z, 0, 255 };
                bad += y[i] != fgq_affine_dequantize((int32_t)q, &ap);
            }
        }
        if (dt != FGQ_DT_S32) { /* quantized I/O: the tools' conversion of an output whose DEQUANTIZE went */
            float yo[40];
            fgq_io_dequantize(b8, dt, n, s, z, yo);
            bad += memcmp(yo, y, (size_t)n * sizeof(float)) != 0;
        }
        cases++;
    }
    CHECK(cases >= 200 && bad == 0);
    const int64_t d[1] = { 4 };
    fgq_tensor_view xs = qview(NULL, FGQ_DT_S8, 1, d), yf = qview(NULL, FGQ_DT_F32, 1, d), yu = qview(NULL, FGQ_DT_U8, 1, d);
    const fgq_tensor_view *in[1] = { &xs };
    tnode nd;
    tnode_init(&nd, FGQ_OP_DEQUANTIZE, 1);
    nd.fp[FGQ_QPF_SCALE] = 1.0f;
    nd.ip[FGQ_QP_X_ZERO] = 128;
    CHECK_REJECTS(&nd, in, &yf, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_X_ZERO] = 0;
    CHECK_REJECTS(&nd, in, &yu, FGQ_ERR_UNSUPPORTED);
    nd.fp[FGQ_QPF_SCALE] = INFINITY;
    CHECK_REJECTS(&nd, in, &yf, FGQ_ERR_VALUE);
}

/* fgq_f32_of_s33 (DEQUANTIZE's int32-only conversion) against the int64 conversion, the oracle: around
 * the int32 limits, at the ends of its range, at every tie of the 33-bit floats (odd and even
 * neighbours), and at random over |d| < 2^33. */
static void test_f32_of_s33(void)
{
    int bad = 0, cases = 0;
    const int64_t lim = ((int64_t)1 << 33) - 1;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int64_t base = (int64_t)1 << 31, k = -600; k <= 600; k++, cases++) {
            const int64_t d = sign * (base + k);
            bad += fgq_f32_of_s33(d) != (float)d;
        }
        for (int64_t k = 0; k < 600; k++, cases++) {
            const int64_t d = sign * (lim - k);
            bad += fgq_f32_of_s33(d) != (float)d;
        }
        for (int64_t m = 0; m < 4000; m++) /* floats above 2^32 are 512 apart, 256 in [2^31, 2^32) */
            for (int64_t off = -1; off <= 1; off++, cases++) {
                const int64_t step = m < 2000 ? 256 : 512, d0 = m < 2000 ? ((int64_t)1 << 31) : ((int64_t)1 << 32);
                const int64_t d = sign * (d0 + (m % 2000) * step + step / 2 + off);
                bad += fgq_f32_of_s33(d) != (float)d;
            }
    }
    for (int i = 0; i < 200000; i++, cases++) {
        const int64_t d = (int64_t)((((uint64_t)rnd() << 32) | rnd()) % (2 * (uint64_t)lim + 1)) - lim;
        bad += fgq_f32_of_s33(d) != (float)d;
    }
    CHECK(cases > 200000 && bad == 0);
}

/* fgq_round_f32 (QUANTIZE's rounding without libm) against roundf and nearbyintf, the oracles, compared as
 * values (the helper may give +0 for -0): every half and its neighbours up to 2^12, both sides of 2^23
 * and 2^24, the extremes, inf, NaN, and random bit patterns of every magnitude. */
static void test_round_f32(void)
{
    int bad = 0, cases = 0;
    float xs[64];
    int nx = 0;
    const float fixed[] = { 0.0f, -0.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f,
                            8388607.5f, -8388607.5f, 8388608.0f, -8388608.0f, 8388609.0f, 16777216.0f,
                            16777218.0f, 4194303.5f, 4194304.5f, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                            INFINITY, -INFINITY };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        xs[nx++] = fixed[i];
    for (int k = 0; k < nx; k++)
        for (int even = 0; even < 2; even++, cases++)
            bad += fgq_round_f32(xs[k], even) != (even ? nearbyintf(xs[k]) : roundf(xs[k]));
    for (int32_t h = -4096; h <= 4096; h++)
        for (int d = -1; d <= 1; d++) {
            const float x = nextafterf((float)h + 0.5f, d < 0 ? -INFINITY : d > 0 ? INFINITY : (float)h + 0.5f);
            for (int even = 0; even < 2; even++, cases++)
                bad += fgq_round_f32(x, even) != (even ? nearbyintf(x) : roundf(x));
        }
    for (int i = 0; i < 400000; i++) {
        const uint32_t u = rnd();
        float x;
        memcpy(&x, &u, sizeof x);
        for (int even = 0; even < 2; even++, cases++) {
            const float want = even ? nearbyintf(x) : roundf(x), got = fgq_round_f32(x, even);
            bad += isnan(want) ? !isnan(got) : got != want;
        }
    }
    CHECK(fgq_round_f32(NAN, 0) != fgq_round_f32(NAN, 0) && fgq_round_f32(NAN, 1) != fgq_round_f32(NAN, 1));
    CHECK(cases > 800000 && bad == 0);
}

/* FGQ_OP_RESHAPE is the quantized reshape: it copies u8 bytes unchanged. */
static void test_reshape_u8(void)
{
    uint8_t x[12], y[12];
    for (int i = 0; i < 12; i++)
        x[i] = (uint8_t)(i * 21 + 3);
    const int64_t xd[2] = { 3, 4 }, yd[3] = { 2, 2, 3 };
    fgq_tensor_view xv = qview(x, FGQ_DT_U8, 2, xd), yv = qview(y, FGQ_DT_U8, 3, yd);
    const fgq_tensor_view *in[1] = { &xv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_RESHAPE, 1);
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    CHECK(memcmp(x, y, 12) == 0);
}

int main(void)
{
    RUN(test_qadd_random);
    RUN(test_qadd_rejects);
    RUN(test_qmul_random);
    RUN(test_qmul_rejects);
    RUN(test_qadd_table_twin);
    RUN(test_qmul_table_twin);
    RUN(test_qmul_vector_twin);
    RUN(test_qpool_random);
    RUN(test_qglobal_avgpool_random);
    RUN(test_qpool_rejects);
    RUN(test_qconcat_random);
    RUN(test_qconcat_rejects);
    RUN(test_quantize);
    RUN(test_dequantize);
    RUN(test_f32_of_s33);
    RUN(test_round_f32);
    RUN(test_reshape_u8);
    return FGQ_TEST_DONE();
}
