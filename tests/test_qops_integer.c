/*
 * test_qops_integer.c — MATMUL_INT and CONV_INT (runtime/ops/qinteger.c).
 * Oracle: loops written here in int64 from the formulas in qinteger.c
 * (Σ (a − z_a)(w − z_w), bias added saturating to int32) and, for u8/s8
 * outputs, the gemmlowp requantization re-derived in int64
 * (floor((x·m + 2^30) / 2^31), then a right shift rounding halves away from
 * zero) and the clamp; bit-exact over random shapes (batched and shared B,
 * 1-D/2-D convolutions with pads, strides, dilations, groups and bias), u8/s8
 * operands with zero points drawn from the dtype ends as often as from inside,
 * s32 and u8/s8 outputs. check() must reject zero points out of range, the
 * int32 overflow bound, requantization params out of range, params on an s32
 * output, float operands, mismatched shapes, a fused activation and a bad bias.
 */
#include "test_ops_common.h"
#include "ops/ops_q.h"

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

static uint32_t rng = 0x2545f491u;

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

static fgq_dtype rand_act(void)
{
    return rnd() & 1 ? FGQ_DT_S8 : FGQ_DT_U8;
}

static void range_of(fgq_dtype dt, int32_t *lo, int32_t *hi)
{
    *lo = dt == FGQ_DT_S8 ? -128 : 0;
    *hi = dt == FGQ_DT_S8 ? 127 : 255;
}

/* A zero point: the dtype's ends half of the time. */
static int32_t rand_zero(fgq_dtype dt)
{
    int32_t lo, hi;
    range_of(dt, &lo, &hi);
    switch (rnd() % 4) {
    case 0:
        return lo;
    case 1:
        return hi;
    default:
        return rint_in(lo, hi);
    }
}

static void fill_act(void *p, fgq_dtype dt, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (dt == FGQ_DT_S8)
            ((int8_t *)p)[i] = (int8_t)rint_in(-128, 127);
        else
            ((uint8_t *)p)[i] = (uint8_t)rint_in(0, 255);
    }
}

static int32_t ld(const void *p, fgq_dtype dt, int64_t i)
{
    return dt == FGQ_DT_S8 ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
}

static fgq_tensor_view qview(void *data, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

/* Output dtype and Q block: s32 half of the time, else u8/s8 with a random requantization. */
static fgq_dtype set_output(tnode *n)
{
    if (rnd() % 2 == 0)
        return FGQ_DT_S32;
    fgq_dtype dt = rand_act();
    int32_t lo, hi;
    range_of(dt, &lo, &hi);
    n->ip[FGQ_QP_Y_ZERO] = rand_zero(dt);
    n->ip[FGQ_QP_QMIN] = rnd() % 4 == 0 ? rint_in(lo, n->ip[FGQ_QP_Y_ZERO]) : lo;
    n->ip[FGQ_QP_QMAX] = rnd() % 4 == 0 ? rint_in(n->ip[FGQ_QP_Y_ZERO], hi) : hi;
    n->ip[FGQ_QP_REQ_MULT] = rint_in(1 << 30, INT32_MAX);
    n->ip[FGQ_QP_REQ_SHIFT] = rint_in(-20, 2);
    return dt;
}

static int64_t ref_out(const tnode *n, fgq_dtype ydt, int64_t acc)
{
    if (ydt == FGQ_DT_S32)
        return acc;
    int64_t v = n->ip[FGQ_QP_Y_ZERO] + ref_requant(acc, n->ip[FGQ_QP_REQ_MULT], n->ip[FGQ_QP_REQ_SHIFT]);
    return v < n->ip[FGQ_QP_QMIN] ? n->ip[FGQ_QP_QMIN] : v > n->ip[FGQ_QP_QMAX] ? n->ip[FGQ_QP_QMAX] : v;
}

static int64_t ld_out(const void *p, fgq_dtype dt, int64_t i)
{
    return dt == FGQ_DT_S32 ? ((const int32_t *)p)[i] : ld(p, dt, i);
}

/* MATMUL_INT's fast run (tiles of 256 columns, k outer; the AVX2 clone where the CPU has it, the
 * baseline loops with the CPU word forced to FGQ_CPU_QUERIED alone) against its reference twin, memcmp:
 * random shapes with N past a tile and off the 16-wide steps, and the int32 limit K = 33025 with
 * |a - z_a| = |b - z_b| = 255 (the sum is -2^31 + 33023). */
static void test_matmul_int_fast_twin(void)
{
    const uint32_t cpus[2] = {0, FGQ_CPU_QUERIED}; /* 0: this machine's features; QUERIED alone: none */
    for (int c = 0; c < 2; c++)
        for (int iter = 0; iter < 160; iter++) {
            tnode n;
            tnode_init(&n, FGQ_OP_MATMUL_INT, 2);
            n.v.cpu = cpus[c];
            const int limit = iter == 0;
            const int32_t rank = limit ? 2 : rint_in(2, 3);
            const int64_t bt = rank == 3 ? rint_in(1, 3) : 1, m = limit ? 1 : rint_in(1, 4);
            const int64_t k = limit ? 33025 : rint_in(1, 300);
            const int64_t nn = limit ? 17 : iter % 4 == 0 ? 256 + rint_in(0, 40) : rint_in(1, 70);
            int64_t ad[3], bd[3], yd[3];
            int32_t r = 0;
            if (rank == 3)
                ad[r] = bd[r] = yd[r] = bt, r++;
            ad[r] = m, ad[r + 1] = k, bd[r] = k, bd[r + 1] = nn, yd[r] = m, yd[r + 1] = nn;
            const fgq_dtype adt = limit ? FGQ_DT_U8 : rand_act(), bdt = limit ? FGQ_DT_U8 : rand_act();
            n.ip[FGQ_QP_X_ZERO] = limit ? 0 : rand_zero(adt);
            n.ip[FGQ_QP_INT_W_ZERO] = limit ? 255 : rand_zero(bdt);
            const fgq_dtype ydt = limit ? FGQ_DT_S32 : set_output(&n);
            const int64_t an = bt * m * k, bn = bt * k * nn, yn = bt * m * nn;
            uint8_t *a = malloc((size_t)an), *b = malloc((size_t)bn);
            int32_t *y1 = malloc((size_t)yn * 4), *y2 = malloc((size_t)yn * 4);
            fill_act(a, adt, an);
            fill_act(b, bdt, bn);
            if (limit) {
                memset(a, 255, (size_t)an);
                memset(b, 0, (size_t)bn);
            }
            memset(y1, 0x5a, (size_t)yn * 4);
            memset(y2, 0x5a, (size_t)yn * 4);
            fgq_tensor_view va = qview(a, adt, rank, ad), vb = qview(b, bdt, rank, bd);
            fgq_tensor_view v1 = qview(y1, ydt, rank, yd), v2 = qview(y2, ydt, rank, yd);
            const fgq_tensor_view *in[2] = {&va, &vb}, *o1[1] = {&v1}, *o2[1] = {&v2};
            fgq_error err;
            CHECK(op_check(&n, in, &v1, &err) == FGQ_OK);
            CHECK(fgq_matmul_int_run(&n.v, in, o1, &err) == FGQ_OK);
            CHECK(fgq_matmul_int_run_ref(&n.v, in, o2, &err) == FGQ_OK);
            CHECK_MSG(memcmp(y1, y2, (size_t)yn * 4) == 0, "cpu %u iter %d (m %lld k %lld n %lld): fast != reference",
                      cpus[c], iter, (long long)m, (long long)k, (long long)nn);
            if (limit)
                CHECK(y1[0] == -2147450625 && y1[16] == -2147450625);
            free(a);
            free(b);
            free(y1);
            free(y2);
        }
}

static void test_matmul_int_random(void)
{
    for (int iter = 0; iter < 300; iter++) {
        tnode n;
        tnode_init(&n, FGQ_OP_MATMUL_INT, 2);
        const int32_t rank = rint_in(2, 4);
        int64_t ad[4], bd[4], yd[4];
        for (int32_t i = 0; i + 2 < rank; i++)
            ad[i] = rint_in(1, 3);
        const int64_t m = rint_in(1, 7), k = rint_in(1, 40), nn = rint_in(1, 9);
        ad[rank - 2] = m;
        ad[rank - 1] = k;
        const int shared = rank == 2 || rnd() % 2;
        const int32_t brank = shared ? 2 : rank;
        for (int32_t i = 0; i + 2 < brank; i++)
            bd[i] = ad[i];
        bd[brank - 2] = k;
        bd[brank - 1] = nn;
        for (int32_t i = 0; i + 1 < rank; i++)
            yd[i] = ad[i];
        yd[rank - 1] = nn;
        const fgq_dtype adt = rand_act(), bdt = rand_act();
        n.ip[FGQ_QP_X_ZERO] = rand_zero(adt);
        n.ip[FGQ_QP_INT_W_ZERO] = rand_zero(bdt);
        const fgq_dtype ydt = set_output(&n);
        int64_t batches = 1;
        for (int32_t i = 0; i + 2 < rank; i++)
            batches *= ad[i];
        int64_t an = batches * m * k, bn = (shared ? 1 : batches) * k * nn, yn = batches * m * nn;
        uint8_t *a = malloc((size_t)an), *b = malloc((size_t)bn);
        int32_t *y = malloc((size_t)yn * 4);
        fill_act(a, adt, an);
        fill_act(b, bdt, bn);
        fgq_tensor_view va = qview(a, adt, rank, ad), vb = qview(b, bdt, brank, bd), vy = qview(y, ydt, rank, yd);
        const fgq_tensor_view *in[2] = {&va, &vb};
        CHECK(op_check_run(&n, in, &vy) == FGQ_OK);
        int bad = 0;
        for (int64_t bt = 0; bt < batches && !bad; bt++)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < nn; j++) {
                    int64_t acc = 0;
                    for (int64_t kk = 0; kk < k; kk++)
                        acc += (int64_t)(ld(a, adt, bt * m * k + i * k + kk) - n.ip[FGQ_QP_X_ZERO]) *
                               (ld(b, bdt, (shared ? 0 : bt * k * nn) + kk * nn + j) - n.ip[FGQ_QP_INT_W_ZERO]);
                    const int64_t idx = bt * m * nn + i * nn + j;
                    if (ld_out(y, ydt, idx) != ref_out(&n, ydt, acc))
                        bad = 1;
                }
        CHECK_MSG(!bad, "matmul_int iter %d: mismatch", iter);
        free(a);
        free(b);
        free(y);
    }
}

static void test_conv_int_random(void)
{
    for (int iter = 0; iter < 300; iter++) {
        const int32_t ns = rint_in(1, 2);
        const int64_t g = rint_in(1, 3), cg = rint_in(1, 3), mg = rint_in(1, 3), nb = rint_in(1, 2);
        const int has_bias = rnd() % 2;
        tnode n;
        tnode_init(&n, FGQ_OP_CONV_INT, has_bias ? 3 : 2);
        int64_t xd[4] = {nb, g * cg, 1, 1}, wd[4] = {g * mg, cg, 1, 1}, yd[4] = {nb, g * mg, 1, 1};
        n.ip[FGQ_P_NSPATIAL] = ns;
        n.ip[FGQ_P_GROUP] = (int32_t)g;
        int64_t kk[2] = {1, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0}, in_s[2] = {1, 1},
                out_s[2] = {1, 1};
        for (int32_t i = 0; i < ns; i++) {
            const int32_t s = 2 - ns + i; /* right-aligned into [0, 2) */
            kk[s] = rint_in(1, 3);
            st[s] = rint_in(1, 2);
            dl[s] = rint_in(1, 2);
            pb[s] = rint_in(0, 2);
            pe[s] = rint_in(0, 2);
            const int64_t ext = dl[s] * (kk[s] - 1) + 1;
            in_s[s] = rint_in((int32_t)(ext > pb[s] + pe[s] ? ext - pb[s] - pe[s] : 1), 8);
            out_s[s] = (in_s[s] + pb[s] + pe[s] - ext) / st[s] + 1;
            n.ip[FGQ_P_KERNEL + i] = (int32_t)kk[s];
            n.ip[FGQ_P_STRIDE + i] = (int32_t)st[s];
            n.ip[FGQ_P_DILATION + i] = (int32_t)dl[s];
            n.ip[FGQ_P_PAD_BEGIN + i] = (int32_t)pb[s];
            n.ip[FGQ_P_PAD_END + i] = (int32_t)pe[s];
            xd[2 + i] = in_s[s];
            wd[2 + i] = kk[s];
            yd[2 + i] = out_s[s];
        }
        const int32_t rank = ns + 2;
        const fgq_dtype xdt = rand_act(), wdt = rand_act();
        n.ip[FGQ_QP_X_ZERO] = rand_zero(xdt);
        n.ip[FGQ_QP_INT_W_ZERO] = rand_zero(wdt);
        const fgq_dtype ydt = set_output(&n);
        const int64_t c = g * cg, mo = g * mg, xn = nb * c * in_s[0] * in_s[1], wn = mo * cg * kk[0] * kk[1],
                      yn = nb * mo * out_s[0] * out_s[1];
        uint8_t *x = malloc((size_t)xn), *w = malloc((size_t)wn);
        int32_t *y = malloc((size_t)yn * 4), bias[9];
        fill_act(x, xdt, xn);
        fill_act(w, wdt, wn);
        for (int64_t m = 0; m < mo; m++) /* the ends of int32 now and then: the add saturates */
            bias[m] = rnd() % 5 == 0 ? (rnd() % 2 ? INT32_MAX : INT32_MIN) : rint_in(-100000, 100000);
        const int64_t bd[1] = {mo};
        fgq_tensor_view vx = qview(x, xdt, rank, xd), vw = qview(w, wdt, rank, wd), vy = qview(y, ydt, rank, yd),
                        vb = qview(bias, FGQ_DT_S32, 1, bd);
        const fgq_tensor_view *in[3] = {&vx, &vw, has_bias ? &vb : NULL};
        CHECK(op_check_run(&n, in, &vy) == FGQ_OK);
        int bad = 0;
        for (int64_t b = 0; b < nb; b++)
            for (int64_t m = 0; m < mo; m++)
                for (int64_t oh = 0; oh < out_s[0]; oh++)
                    for (int64_t ow = 0; ow < out_s[1]; ow++) {
                        int64_t acc = 0;
                        for (int64_t cc = 0; cc < cg; cc++)
                            for (int64_t kh = 0; kh < kk[0]; kh++)
                                for (int64_t kw = 0; kw < kk[1]; kw++) {
                                    const int64_t ih = oh * st[0] - pb[0] + kh * dl[0];
                                    const int64_t iw = ow * st[1] - pb[1] + kw * dl[1];
                                    const int64_t ch = (m / mg) * cg + cc;
                                    const int32_t xv = ih < 0 || ih >= in_s[0] || iw < 0 || iw >= in_s[1]
                                                           ? n.ip[FGQ_QP_X_ZERO]
                                                           : ld(x, xdt, ((b * c + ch) * in_s[0] + ih) * in_s[1] + iw);
                                    acc += (int64_t)(xv - n.ip[FGQ_QP_X_ZERO]) *
                                           (ld(w, wdt, ((m * cg + cc) * kk[0] + kh) * kk[1] + kw) -
                                            n.ip[FGQ_QP_INT_W_ZERO]);
                                }
                        if (has_bias)
                            acc = sat32(acc + bias[m]);
                        const int64_t idx = ((b * mo + m) * out_s[0] + oh) * out_s[1] + ow;
                        if (ld_out(y, ydt, idx) != ref_out(&n, ydt, acc))
                            bad = 1;
                    }
        CHECK_MSG(!bad, "conv_int iter %d: mismatch", iter);
        free(x);
        free(w);
        free(y);
    }
}

static void test_rejects(void)
{
    uint8_t a[8] = {0}, b[8] = {0};
    int32_t y[4] = {0};
    const int64_t ad[2] = {2, 2}, bd[2] = {2, 2}, yd[2] = {2, 2};
    fgq_tensor_view va = qview(a, FGQ_DT_U8, 2, ad), vb = qview(b, FGQ_DT_U8, 2, bd), vy = qview(y, FGQ_DT_S32, 2, yd);
    const fgq_tensor_view *in[2] = {&va, &vb};
    tnode n;
    tnode_init(&n, FGQ_OP_MATMUL_INT, 2);
    fgq_error e;
    CHECK(op_check(&n, in, &vy, &e) == FGQ_OK);
    /* zero points out of the operand's range */
    n.ip[FGQ_QP_X_ZERO] = 256;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_X_ZERO] = -1;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_X_ZERO] = 0;
    vb.dtype = FGQ_DT_S8;
    n.ip[FGQ_QP_INT_W_ZERO] = 128;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_INT_W_ZERO] = -128; /* the limit is fine */
    CHECK(op_check(&n, in, &vy, &e) == FGQ_OK);
    /* an s32 output takes no requantization */
    n.ip[FGQ_QP_REQ_MULT] = 1 << 30;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    /* u8 output: requantization and clamp in range */
    vy.dtype = FGQ_DT_U8;
    n.ip[FGQ_QP_QMAX] = 255;
    CHECK(op_check(&n, in, &vy, &e) == FGQ_OK);
    n.ip[FGQ_QP_REQ_SHIFT] = 32;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_REQ_SHIFT] = 0;
    n.ip[FGQ_QP_REQ_MULT] = -1;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_REQ_MULT] = 1 << 30;
    n.ip[FGQ_QP_QMAX] = 256;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_QMAX] = 255;
    n.ip[FGQ_QP_Y_ZERO] = 300;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_FORMAT);
    n.ip[FGQ_QP_Y_ZERO] = 0;
    /* float operand, s16-like unknown dtypes */
    va.dtype = FGQ_DT_F32;
    CHECK_REJECTS(&n, in, &vy, FGQ_ERR_UNSUPPORTED);
    va.dtype = FGQ_DT_U8;
    /* shapes: K mismatch, wrong Y */
    const int64_t bd3[2] = {3, 2}, yd3[2] = {2, 3};
    fgq_tensor_view vb3 = qview(b, FGQ_DT_S8, 2, bd3);
    const fgq_tensor_view *in3[2] = {&va, &vb3};
    CHECK_REJECTS(&n, in3, &vy, FGQ_ERR_SHAPE);
    fgq_tensor_view vy3 = qview(y, FGQ_DT_U8, 2, yd3);
    CHECK_REJECTS(&n, in, &vy3, FGQ_ERR_SHAPE);
    /* overflow bound: K · 255 · 255 must stay <= 2^31 − 1 (K = 33025 fits, 33026 not) */
    {
        const int64_t ak[2] = {1, 33025}, bk[2] = {33025, 1}, yk[2] = {1, 1};
        fgq_tensor_view oa = qview(NULL, FGQ_DT_U8, 2, ak), ob = qview(NULL, FGQ_DT_S8, 2, bk),
                        oy = qview(NULL, FGQ_DT_S32, 2, yk);
        const fgq_tensor_view *oin[2] = {&oa, &ob};
        tnode o;
        tnode_init(&o, FGQ_OP_MATMUL_INT, 2);
        o.ip[FGQ_QP_X_ZERO] = 0;
        o.ip[FGQ_QP_INT_W_ZERO] = -128; /* |b − z| up to 255 */
        CHECK(op_check(&o, oin, &oy, &e) == FGQ_OK);
        oa.dims[1] = ob.dims[0] = 33026;
        CHECK_REJECTS(&o, oin, &oy, FGQ_ERR_UNSUPPORTED);
        o.ip[FGQ_QP_INT_W_ZERO] = 0; /* |b − z| <= 128 now: 33026 · 255 · 128 fits */
        CHECK(op_check(&o, oin, &oy, &e) == FGQ_OK);
    }
    /* CONV_INT: fused activation, bad bias, group mismatch */
    {
        uint8_t x[9] = {0}, w[4] = {0};
        int32_t cy[4] = {0}, bias[2] = {0};
        const int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 1, 2, 2}, cyd[4] = {1, 1, 2, 2}, bd1[1] = {1}, bd2[1] = {2};
        fgq_tensor_view vx = qview(x, FGQ_DT_U8, 4, xd), vw = qview(w, FGQ_DT_U8, 4, wd),
                        vcy = qview(cy, FGQ_DT_S32, 4, cyd), vbias = qview(bias, FGQ_DT_S32, 1, bd1);
        const fgq_tensor_view *cin[3] = {&vx, &vw, &vbias};
        tnode c;
        tnode_init(&c, FGQ_OP_CONV_INT, 3);
        c.ip[FGQ_P_NSPATIAL] = 2;
        c.ip[FGQ_P_GROUP] = 1;
        for (int i = 0; i < 2; i++) {
            c.ip[FGQ_P_KERNEL + i] = 2;
            c.ip[FGQ_P_STRIDE + i] = 1;
            c.ip[FGQ_P_DILATION + i] = 1;
        }
        CHECK(op_check(&c, cin, &vcy, &e) == FGQ_OK);
        c.ip[FGQ_P_ACT] = FGQ_ACT_RELU;
        CHECK_REJECTS(&c, cin, &vcy, FGQ_ERR_FORMAT);
        c.ip[FGQ_P_ACT] = 0;
        vbias.dims[0] = 2;
        (void)bd2;
        CHECK_REJECTS(&c, cin, &vcy, FGQ_ERR_SHAPE);
        vbias.dims[0] = 1;
        vbias.dtype = FGQ_DT_U8;
        CHECK_REJECTS(&c, cin, &vcy, FGQ_ERR_SHAPE);
        vbias.dtype = FGQ_DT_S32;
        c.ip[FGQ_P_GROUP] = 2;
        CHECK_REJECTS(&c, cin, &vcy, FGQ_ERR_SHAPE);
        c.ip[FGQ_P_GROUP] = 1;
        c.ip[FGQ_QP_INT_W_ZERO] = 256;
        CHECK_REJECTS(&c, cin, &vcy, FGQ_ERR_FORMAT);
        c.ip[FGQ_QP_INT_W_ZERO] = 0;
        c.ip[FGQ_P_STRIDE] = 0;
        CHECK(op_check(&c, cin, &vcy, &e) != FGQ_OK);
    }
}

int main(void)
{
    RUN(test_matmul_int_random);
    RUN(test_matmul_int_fast_twin);
    RUN(test_conv_int_random);
    RUN(test_rejects);
    return FGQ_TEST_DONE();
}
