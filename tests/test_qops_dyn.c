/*
 * test_qops_dyn.c — DYNQUANT, QCONV_DYN and QGEMM_DYN (runtime/ops/qdyn.c).
 * Oracles:
 *  (1) DYNQUANT against ONNX DynamicQuantizeLinear as its reference
 *      (onnx/reference/ops/op_dynamic_quantize_linear.py) writes it, restated
 *      here with a half-to-even rounding built from floor():
 *        lo = min(0, min x), hi = max(0, max x), s = (hi == lo ? 1 : hi − lo) / 255,
 *        z = rint(clamp(0 − lo / s, 0, 255)), y = clamp(rint(x / s) + z, 0, 255)
 *      all in float32; and the outputs of the ONNX node tests
 *      test_dynamicquantizelinear{,_max_adjusted,_min_adjusted} (Debian
 *      libonnx-testdata) copied here as constants. Plus the documented
 *      extensions: NaN -> z, ±Inf saturate and are left out of min/max, an
 *      overflowing range, an underflowing scale, empty and all-zero tensors.
 *  (2) QCONV_DYN / QGEMM_DYN bit-exact against an int64 loop nest written here
 *      from docs/quantized-ops.md (Σ m(k)·w_k·(q_x − z_x) with the group's
 *      multiplier per weight, padding taps skipped) followed by the documented
 *      float32 epilogue y = (float)dot · (s_x · s_w[m]) (+ b[m]), then Relu /
 *      Clip — over >= 200 random shapes each (1-D/2-D/3-D, groups, strides,
 *      dilations, pads; s8/s4/t2 weights with and without group multipliers,
 *      asym t2; u8/s8 inputs with any zero point) and at the int32 bound
 *      (|q_x − z_x| = 255, largest codes and multipliers).
 *  (3) check() rejecting bad shapes/dtypes and K beyond the bound.
 *  (4) A 3-output DYNQUANT feeding QGEMM_DYN through the writer, the loader
 *      and the arena planner equals the two ops called directly.
 */
#include "test_ops_common.h"

#include "fgq_runtime.h"
#include "export/fgq_writer.h"
#include "graph_build.h"
#include "lower/lower.h"
#include "quant/s4.h"
#include "ops/qgemm_dispatch.h"
#include "quant/t2.h"
#include "run/host_cpu.h"
#include "threadpool.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

static uint32_t rng = 0x51ed270bu;

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

static fgq_tensor_view qview(void *data, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

/* A provider over a pool that runs the op in chunks of one task, whatever its grain. */
typedef struct {
    fgq_parallel par;
    const fgq_parallel *inner;
} one_task_provider;

static void one_task_parallel_for(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    const one_task_provider *p = (const one_task_provider *)impl;
    (void)grain;
    p->inner->parallel_for(p->inner->impl, n, 1, fn, ctx);
}

/* ---- (1) DYNQUANT ------------------------------------------------------------ */

/* Round half to even, from floor (independent of the rounding mode). */
static float ref_rint(float v)
{
    const double f = floor((double)v), d = (double)v - f;
    if (d > 0.5)
        return (float)(f + 1.0);
    if (d < 0.5)
        return (float)f;
    return fmod(f, 2.0) == 0.0 ? (float)f : (float)(f + 1.0);
}

static void ref_dynquant(const float *x, int64_t n, uint8_t *y, float *s_out, uint8_t *z_out)
{
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            lo = fminf(lo, x[i]);
            hi = fmaxf(hi, x[i]);
        }
    const float range = hi - lo;
    float s = isfinite(range) ? (hi == lo ? 1.0f : range) / 255.0f : (float)(((double)hi - (double)lo) / 255.0);
    if (s == 0.0f)
        s = 1.0f / 255.0f;
    const float z = ref_rint(fminf(255.0f, fmaxf(0.0f, 0.0f - lo / s)));
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) {
            y[i] = (uint8_t)z;
            continue;
        }
        const float v = ref_rint(x[i] / s) + z;
        y[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
    }
    *s_out = s;
    *z_out = (uint8_t)z;
}

/* The CPU features DYNQUANT runs under (0: the host's) and its thread provider (NULL: serially). */
static uint32_t g_dq_cpu;
static const fgq_parallel *g_dq_par;

/* The CPU settings of DYNQUANT's loops on this machine: the host's (AVX-512 F where it has it),
 * AVX2 alone, none (the scalar loops). */
enum { DQ_CPUS = 3 };
static uint32_t dq_cpu(int i)
{
    return i == 0 ? 0u : i == 1 ? (fgq_cpu_features() & FGQ_CPU_AVX2) | FGQ_CPU_QUERIED : FGQ_CPU_QUERIED;
}

/* Runs DYNQUANT on x (rank/dims given); fills y, *s, *z. */
static fgq_status run_dynquant(const float *x, int32_t rank, const int64_t *dims, uint8_t *y, float *s, uint8_t *z)
{
    tnode nd;
    tnode_init(&nd, FGQ_OP_DYNQUANT, 1);
    nd.v.n_outputs = 3;
    nd.v.cpu = g_dq_cpu;
    nd.v.par = g_dq_par;
    fgq_tensor_view xv = qview((void *)x, FGQ_DT_F32, rank, dims), yv = qview(y, FGQ_DT_U8, rank, dims);
    fgq_tensor_view sv = qview(s, FGQ_DT_F32, 0, NULL), zv = qview(z, FGQ_DT_U8, 0, NULL);
    const fgq_tensor_view *in[1] = { &xv }, *out[3] = { &yv, &sv, &zv };
    const fgq_op_impl *impl = fgq_op_lookup(FGQ_OP_DYNQUANT);
    fgq_error err;
    fgq_error_clear(&err);
    if (impl == NULL)
        return FGQ_ERR_UNSUPPORTED;
    fgq_status st = impl->check(&nd.v, in, out, &err);
    if (st == FGQ_OK)
        st = op_run_view(&nd.v, in, out, &err);
    if (st != FGQ_OK)
        fprintf(stderr, "  dynquant: %s\n", err.msg);
    return st;
}

static int same_f32_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Checks DYNQUANT(x) against ref_dynquant bit for bit under every CPU setting of dq_cpu; returns 1
 * if equal. */
static int dynquant_matches(const float *x, int64_t n)
{
    uint8_t *y = malloc((size_t)(n > 0 ? n : 1)), *yr = malloc((size_t)(n > 0 ? n : 1)), z = 0, zr = 0;
    float s = 0.0f, sr = 0.0f;
    const int64_t dims[1] = {n};
    ref_dynquant(x, n, yr, &sr, &zr);
    int ok = 1;
    for (int c = 0; c < DQ_CPUS && ok; c++) {
        g_dq_cpu = dq_cpu(c);
        ok = run_dynquant(x, 1, dims, y, &s, &z) == FGQ_OK;
        ok = ok && same_f32_bits(s, sr) && z == zr && (n == 0 || memcmp(y, yr, (size_t)n) == 0);
    }
    g_dq_cpu = 0;
    if (!ok)
        fprintf(stderr, "  n %lld: scale %a vs %a, zero %d vs %d\n", (long long)n, (double)s, (double)sr, z, zr);
    free(y);
    free(yr);
    return ok;
}

static void test_dynquant_onnx_node_tests(void)
{
    /* /usr/share/libonnx-testdata/data/node/test_dynamicquantizelinear{,_max_adjusted,_min_adjusted}/test_data_set_0 */
    static const float x0[6] = { 0.0f, 2.0f, -3.0f, -2.5f, 1.34f, 0.5f };
    static const uint8_t y0[6] = { 153, 255, 0, 26, 221, 179 };
    static const float x1[6] = { -1.0f, -2.1f, -1.3f, -2.5f, -3.34f, -4.0f };
    static const uint8_t y1[6] = { 191, 121, 172, 96, 42, 0 };
    static const float x2[12] = { 1.0f, 2.1f, 1.3f, 2.5f, 3.34f, 4.0f, 1.5f, 2.6f, 3.9f, 4.0f, 3.0f, 2.345f };
    static const uint8_t y2[12] = { 64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149 };
    const struct {
        const float *x;
        const uint8_t *y;
        int32_t rank;
        int64_t dims[2];
        float scale;
        uint8_t zero;
    } cases[3] = {
        { x0, y0, 1, { 6, 0 }, 0x1.414142p-6f, 153 },
        { x1, y1, 1, { 6, 0 }, 0x1.010102p-6f, 255 },
        { x2, y2, 2, { 3, 4 }, 0x1.010102p-6f, 0 },
    };
    for (int c = 0; c < 3; c++) {
        uint8_t y[12], z = 0;
        float s = 0.0f;
        const int64_t n = cases[c].rank == 1 ? cases[c].dims[0] : cases[c].dims[0] * cases[c].dims[1];
        CHECK(run_dynquant(cases[c].x, cases[c].rank, cases[c].dims, y, &s, &z) == FGQ_OK);
        CHECK_MSG(same_f32_bits(s, cases[c].scale) && z == cases[c].zero, "case %d: %a %d", c, (double)s, z);
        CHECK_MSG(memcmp(y, cases[c].y, (size_t)n) == 0, "case %d: Y differs", c);
        CHECK(dynquant_matches(cases[c].x, n));
    }
}

static void test_dynquant_random_and_edges(void)
{
    enum { NMAX = 300 };
    float x[NMAX];
    for (int it = 0; it < 400; it++) {
        const int64_t n = 1 + rnd() % NMAX;
        const float amp = ldexpf(1.0f, rint_in(-20, 20));
        const int kind = (int)(rnd() % 4); /* mixed sign, all positive, all negative, exact halves */
        for (int64_t i = 0; i < n; i++) {
            float v = amp * ((float)(rnd() >> 8) * (1.0f / 16777216.0f));
            x[i] = kind == 0 ? v - amp * 0.4f : kind == 2 ? -v : v;
        }
        if (kind == 3) { /* hi = 255/64, lo = 0: s = 1/64 exactly, x = (k + 1/2)/64 are exact halves */
            for (int64_t i = 0; i < n; i++)
                x[i] = ((float)rint_in(0, 253) + 0.5f) / 64.0f;
            x[0] = 255.0f / 64.0f;
        }
        CHECK_MSG(dynquant_matches(x, n), "iteration %d", it);
    }
    /* ±Inf without NaN in a run long enough for the AVX2 loop (NaN keeps the scalar one) */
    {
        float v[19];
        for (int i = 0; i < 19; i++)
            v[i] = (float)(i - 9) * 0.37f;
        v[3] = INFINITY;
        v[12] = -INFINITY;
        CHECK(dynquant_matches(v, 19));
        v[17] = NAN;
        CHECK(dynquant_matches(v, 19));
    }
    /* the specials in every lane of the range's vectors (qquantize__avx2.c: 8 lanes;
     * qquantize__avx512.c: 16 lanes, four vectors a step): −0, denormals, ±FLT_MAX, ±Inf and NaN at
     * each position of 64, alone and every 64 values, in runs of 64, 80 and 150 (the 64-value step,
     * the 16-value one, the scalar tail) */
    {
        const float sp[7] = {-0.0f, FLT_TRUE_MIN, -FLT_MIN / 4.0f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY};
        for (int lane = 0; lane < 64; lane++)
            for (int k = 0; k < 8; k++)
                for (int every = 0; every < 2; every++) {
                    float v[150];
                    for (int i = 0; i < 150; i++)
                        v[i] = (float)((i * 7 + lane) % 11 - 5) * 0.25f;
                    for (int i = lane; i < 150; i += 64) {
                        v[i] = k < 7 ? sp[k] : NAN;
                        if (!every)
                            break;
                    }
                    CHECK_MSG(dynquant_matches(v, 64) && dynquant_matches(v, 80) && dynquant_matches(v, 150),
                              "special %d in lane %d (every 64: %d)", k, lane, every);
                }
    }
    /* exact halves round to even: with s = 1/64, 0.5/64 -> 0, 1.5/64 -> 2 */
    {
        const float h[3] = { 255.0f / 64.0f, 0.5f / 64.0f, 1.5f / 64.0f };
        const int64_t d[1] = { 3 };
        uint8_t y[3], z;
        float s;
        CHECK(run_dynquant(h, 1, d, y, &s, &z) == FGQ_OK && s == 1.0f / 64.0f && z == 0);
        CHECK(y[0] == 255 && y[1] == 0 && y[2] == 2);
    }
    /* non-finite values: left out of min/max; NaN -> z, +Inf -> 255, -Inf -> 0 */
    {
        const float v[5] = { -1.0f, NAN, INFINITY, -INFINITY, 1.0f };
        const int64_t d[1] = { 5 };
        uint8_t y[5], z;
        float s;
        CHECK(run_dynquant(v, 1, d, y, &s, &z) == FGQ_OK);
        CHECK(s == 2.0f / 255.0f && y[1] == z && y[2] == 255 && y[3] == 0);
        CHECK(dynquant_matches(v, 5));
    }
    /* all zero, all NaN, empty: ONNX's max == min case, s = 1/255, z = 0 */
    {
        const float zero[4] = { 0.0f, -0.0f, 0.0f, 0.0f }, nan4[4] = { NAN, NAN, NAN, NAN };
        const int64_t d[1] = { 4 }, d0[1] = { 0 };
        uint8_t y[4], z = 7;
        float s = 0.0f;
        CHECK(run_dynquant(zero, 1, d, y, &s, &z) == FGQ_OK && s == 1.0f / 255.0f && z == 0 && y[0] == 0 &&
              y[3] == 0);
        CHECK(run_dynquant(nan4, 1, d, y, &s, &z) == FGQ_OK && s == 1.0f / 255.0f && z == 0 && y[2] == 0);
        CHECK(run_dynquant(zero, 1, d0, y, &s, &z) == FGQ_OK && s == 1.0f / 255.0f && z == 0);
    }
    /* a range beyond FLT_MAX: the scale is taken in double, finite */
    {
        const float big[3] = { -3e38f, 3e38f, 0.0f };
        const int64_t d[1] = { 3 };
        uint8_t y[3], z;
        float s;
        CHECK(run_dynquant(big, 1, d, y, &s, &z) == FGQ_OK && isfinite(s) && s == (float)(6e38 / 255.0));
        CHECK(y[0] == 0 && y[1] == 255 && y[2] == z && (z == 127 || z == 128));
        CHECK(dynquant_matches(big, 3));
    }
    /* a scale that underflows to 0: 1/255, everything rounds to 0 */
    {
        const float tiny[2] = { FLT_TRUE_MIN, 0.0f };
        const int64_t d[1] = { 2 };
        uint8_t y[2], z;
        float s;
        CHECK(run_dynquant(tiny, 1, d, y, &s, &z) == FGQ_OK && s == 1.0f / 255.0f && z == 0 && y[0] == 0);
    }
    /* a rank-0 input */
    {
        const float one = -2.0f;
        uint8_t y, z;
        float s;
        CHECK(run_dynquant(&one, 0, NULL, &y, &s, &z) == FGQ_OK && s == 2.0f / 255.0f && z == 255 && y == 0);
    }
}

/* Tensors of several parts (qdyn.c: 16,384 values and more a part, up to 16 parts) serially, on a
 * 3-thread pool and in chunks of one task, under every CPU setting: the range joined over the
 * parts and the quantization in spans give the reference's bits; the lowest and highest values
 * (and a NaN, which takes the scalar quantization) in the last part, the first, or alone. */

static void test_dynquant_parts(void)
{
    fgq_threadpool *pool = NULL;
    fgq_error perr;
    fgq_error_clear(&perr);
    CHECK(fgq_threadpool_create(3, &pool, &perr) == FGQ_OK);
    one_task_provider one = {{NULL, 3, one_task_parallel_for, FGQ_KERNELS_AUTO}, fgq_threadpool_parallel(pool)};
    one.par.impl = &one;
    static const int64_t sizes[] = {16383, 16384, 16385, 3 * 16384 + 77, 300001, 8 * 65536 + 5};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int kind = 0; kind < 4; kind++) {
            const int64_t n = sizes[si];
            float *x = malloc(sizeof(float) * (size_t)n);
            for (int64_t i = 0; i < n; i++)
                x[i] = ((float)(rnd() >> 8) * (1.0f / 16777216.0f) - 0.3f) * 2.5f;
            if (kind == 0) { /* the extremes in the last values */
                x[n - 1] = -7.0f;
                x[n - 2] = 9.0f;
            } else if (kind == 1) { /* in the first */
                x[0] = 9.0f;
                x[1] = -7.0f;
            } else if (kind == 2) { /* a NaN and an Inf in the middle */
                x[n / 2] = NAN;
                x[n / 3] = INFINITY;
            } else { /* all positive: lo stays 0 */
                for (int64_t i = 0; i < n; i++)
                    x[i] = fabsf(x[i]);
            }
            for (int p = 0; p < 3; p++) {
                g_dq_par = p == 0 ? NULL : p == 1 ? fgq_threadpool_parallel(pool) : &one.par;
                CHECK_MSG(dynquant_matches(x, n), "n %lld kind %d provider %d", (long long)n, kind, p);
            }
            g_dq_par = NULL;
            free(x);
        }
    fgq_threadpool_destroy(pool);
}

static void test_dynquant_rejects(void)
{
    float x[6] = { 0 }, s = 0.0f;
    uint8_t y[6], z;
    const int64_t d6[1] = { 6 }, d5[1] = { 5 }, d2[1] = { 2 };
    fgq_tensor_view xv = qview(x, FGQ_DT_F32, 1, d6), yv = qview(y, FGQ_DT_U8, 1, d6);
    fgq_tensor_view sv = qview(&s, FGQ_DT_F32, 0, NULL), zv = qview(&z, FGQ_DT_U8, 0, NULL);
    const fgq_op_impl *impl = fgq_op_lookup(FGQ_OP_DYNQUANT);
    CHECK(impl != NULL && impl->min_inputs == 1 && impl->max_inputs == 1);
    if (impl == NULL)
        return;
    tnode nd;
    tnode_init(&nd, FGQ_OP_DYNQUANT, 1);
    nd.v.n_outputs = 3;
    fgq_error err;
    const fgq_tensor_view *in[1] = { &xv };
    struct {
        fgq_tensor_view y, s, z;
        int32_t n_out;
        fgq_status want;
    } cases[] = {
        { yv, sv, zv, 3, FGQ_OK },
        { yv, sv, zv, 1, FGQ_ERR_FORMAT },
        { qview(y, FGQ_DT_S8, 1, d6), sv, zv, 3, FGQ_ERR_UNSUPPORTED },
        { qview(y, FGQ_DT_U8, 1, d5), sv, zv, 3, FGQ_ERR_SHAPE },
        { yv, qview(&s, FGQ_DT_F32, 1, d2), zv, 3, FGQ_ERR_SHAPE },
        { yv, qview(&s, FGQ_DT_U8, 0, NULL), zv, 3, FGQ_ERR_SHAPE },
        { yv, sv, qview(&z, FGQ_DT_S8, 0, NULL), 3, FGQ_ERR_SHAPE },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const fgq_tensor_view *out[3] = { &cases[c].y, &cases[c].s, &cases[c].z };
        nd.v.n_outputs = cases[c].n_out;
        fgq_error_clear(&err);
        const fgq_status st = impl->check(&nd.v, in, out, &err);
        CHECK_MSG(st == cases[c].want, "case %d: status %d (%s)", (int)c, (int)st, err.msg);
        CHECK(st == FGQ_OK || strstr(err.msg, "node_under_test") != NULL);
    }
    fgq_tensor_view xi = qview(x, FGQ_DT_U8, 1, d6); /* input must be f32 */
    const fgq_tensor_view *in2[1] = { &xi }, *out[3] = { &yv, &sv, &zv };
    nd.v.n_outputs = 3;
    CHECK(impl->check(&nd.v, in2, out, &err) == FGQ_ERR_UNSUPPORTED);
}

/* ---- (2) QCONV_DYN / QGEMM_DYN ---------------------------------------------- */

typedef struct {
    fgq_dtype wdt;
    int64_t rows, k, kp, row_bytes, ngroups;
    int has_gs, has_bias, has_wsum; /* has_wsum: QGEMM_DYN gets WSUM (dyn_inputs_gemm) */
    int32_t group, nalpha, mmax;
    int32_t *wsum;   /* [rows]: the rows' sums */
    int8_t *codes;   /* [rows, k] */
    uint8_t *packed; /* [rows, row_bytes] */
    uint8_t *gs;     /* [rows, ngroups, nalpha] */
    float *s_w, *bias;
} dw_t;

static int32_t code_max(fgq_dtype dt)
{
    return dt == FGQ_DT_S8 ? 128 : dt == FGQ_DT_S4 ? 8 : 1;
}

static int64_t cpb(fgq_dtype dt)
{
    return dt == FGQ_DT_T2 ? 4 : dt == FGQ_DT_S4 ? 2 : 1;
}

static void dw_free(dw_t *w)
{
    free(w->codes);
    free(w->packed);
    free(w->gs);
    free(w->s_w);
    free(w->bias);
    free(w->wsum);
}

/* Random weights: codes with extremes, multipliers (some above M, which the
 * kernel clamps), per-row scales and an optional float bias. */
static void dw_random(dw_t *w, fgq_dtype wdt, int64_t rows, int64_t k, int has_gs, int32_t group, int32_t nalpha,
                      int32_t mmax, int extreme)
{
    memset(w, 0, sizeof *w);
    w->wdt = wdt;
    w->rows = rows;
    w->k = k;
    w->row_bytes = (k + cpb(wdt) - 1) / cpb(wdt);
    w->kp = w->row_bytes * cpb(wdt);
    w->has_gs = has_gs;
    w->group = has_gs ? group : 0;
    w->nalpha = has_gs ? nalpha : 0;
    w->mmax = has_gs ? mmax : 0;
    w->ngroups = has_gs ? (k + group - 1) / group : 1;
    w->codes = calloc((size_t)(rows * k), 1);
    w->packed = calloc((size_t)(rows * w->row_bytes), 1);
    w->gs = calloc((size_t)(rows * w->ngroups * 2), 1);
    w->s_w = calloc((size_t)rows, sizeof(float));
    w->bias = calloc((size_t)rows, sizeof(float));
    const int32_t cm = code_max(wdt);
    for (int64_t i = 0; i < rows * k; i++)
        w->codes[i] = (int8_t)(wdt == FGQ_DT_T2 ? (extreme ? 1 : rint_in(-1, 1))
                                                : extreme ? -cm : rint_in(-cm, cm - 1));
    for (int64_t i = 0; i < rows * w->ngroups * 2; i++)
        w->gs[i] = (uint8_t)(extreme ? 255 : rnd() % 8 == 0 ? 255 : rint_in(0, mmax > 0 ? mmax : 1));
    w->has_bias = rnd() % 3 != 0;
    for (int64_t r = 0; r < rows; r++) {
        w->s_w[r] = ldexpf(1.0f + (float)(rnd() % 1000) / 1000.0f, rint_in(-14, -4));
        w->bias[r] = w->has_bias ? (float)rint_in(-1000, 1000) / 256.0f : 0.0f;
    }
    for (int64_t r = 0; r < rows; r++) {
        const int8_t *c = w->codes + r * k;
        uint8_t *p = w->packed + r * w->row_bytes;
        if (wdt == FGQ_DT_S8)
            memcpy(p, c, (size_t)k);
        else if (wdt == FGQ_DT_S4)
            fgq_s4_pack(c, k, p);
        else
            fgq_t2_pack(c, k, p);
    }
    w->has_wsum = rnd() % 2 == 0;
    w->wsum = calloc((size_t)rows, sizeof(int32_t));
    CHECK(fgq_qweights_row_sums(wdt, w->packed, rows, k, w->group, w->nalpha, w->mmax, w->gs, w->wsum) == FGQ_OK);
}

static int64_t ref_mult(const dw_t *w, int64_t r, int64_t k, int32_t code)
{
    if (!w->has_gs)
        return 1;
    const uint8_t *m = w->gs + (r * w->ngroups + k / w->group) * w->nalpha;
    const int32_t v = (w->nalpha == 2 && code < 0) ? m[1] : m[0];
    return v < w->mmax ? v : w->mmax;
}

/* The documented epilogue: (float)dot · (s_x · s_w[r]) (+ b[r]), then act. */
static float ref_epilogue(const dw_t *w, int64_t r, int64_t dot, float s_x, int32_t act, float lo, float hi)
{
    const float s = s_x * w->s_w[r];
    float v = (float)dot * s;
    if (w->has_bias)
        v = v + w->bias[r];
    if (act == FGQ_ACT_RELU)
        v = v < 0.0f ? 0.0f : v;
    else if (act == FGQ_ACT_CLIP) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
    }
    return v;
}

/* Largest M keeping k·code_max·255·M within int32, capped at 255. */
static int32_t mmax_allowed(fgq_dtype wdt, int64_t k)
{
    const int64_t m = INT32_MAX / (k * code_max(wdt) * 255);
    return (int32_t)(m > 255 ? 255 : m);
}

/* Random weight format for k: dtype, GS or not, group, n_alpha, M. */
static void dw_random_for(dw_t *w, int64_t rows, int64_t k, int extreme)
{
    const fgq_dtype dts[3] = { FGQ_DT_S8, FGQ_DT_S4, FGQ_DT_T2 };
    const fgq_dtype wdt = dts[rnd() % 3];
    const int32_t mmax = mmax_allowed(wdt, k);
    const int has_gs = mmax >= 1 && rnd() % 3 != 0;
    const int32_t group = 1 + (int32_t)(rnd() % (uint32_t)(k + 2));
    const int32_t nalpha = wdt == FGQ_DT_T2 && rnd() % 2 ? 2 : 1;
    dw_random(w, wdt, rows, k, has_gs, group, nalpha, has_gs ? rint_in(1, mmax) : 0, extreme);
}

typedef struct {
    fgq_tensor_view x, sx, zx, w, sw, b, gs, wsum, y;
    float s_x;
    uint8_t z_x[1];
} dyn_views;

static void dyn_make_views(dyn_views *v, dw_t *w, void *x, fgq_dtype xdt, int32_t xrank, const int64_t *xd,
                           float *y, int32_t yrank, const int64_t *yd)
{
    const int64_t wd[2] = { w->rows, w->kp }, rd[1] = { w->rows }, gd[3] = { w->rows, w->ngroups, 2 };
    v->x = qview(x, xdt, xrank, xd);
    v->sx = qview(&v->s_x, FGQ_DT_F32, 0, NULL);
    v->zx = qview(v->z_x, xdt, 0, NULL);
    v->w = qview(w->packed, w->wdt, 2, wd);
    v->sw = qview(w->s_w, FGQ_DT_F32, 1, rd);
    v->b = qview(w->bias, FGQ_DT_F32, 1, rd);
    v->gs = qview(w->gs, FGQ_DT_U8, w->nalpha == 2 ? 3 : 2, gd);
    v->wsum = qview(w->wsum, FGQ_DT_S32, 1, rd);
    v->y = qview(y, FGQ_DT_F32, yrank, yd);
}

/* Node inputs for the case: 5, 6 (bias) or 7 (GS; bias may be NULL). */
static int32_t dyn_inputs(dyn_views *v, const dw_t *w, const fgq_tensor_view **in)
{
    in[0] = &v->x;
    in[1] = &v->sx;
    in[2] = &v->zx;
    in[3] = &v->w;
    in[4] = &v->sw;
    in[5] = w->has_bias ? &v->b : NULL;
    in[6] = w->has_gs ? &v->gs : NULL;
    return w->has_gs ? 7 : w->has_bias ? 6 : 5;
}

/* QGEMM_DYN's: dyn_inputs, then WSUM (8) where the case has it. */
static int32_t dyn_inputs_gemm(dyn_views *v, const dw_t *w, const fgq_tensor_view **in)
{
    const int32_t n = dyn_inputs(v, w, in);
    if (!w->has_wsum)
        return n;
    in[7] = &v->wsum;
    return 8;
}

static void set_act(tnode *nd, int32_t slot, int32_t *act, float *lo, float *hi)
{
    *act = (int32_t)(rnd() % 3);
    *lo = -(float)(rnd() % 8) / 4.0f;
    *hi = *lo + (float)(1 + rnd() % 8) / 4.0f;
    nd->ip[slot] = *act;
    nd->fp[FGQ_PF_ACT0] = *act == FGQ_ACT_CLIP ? *lo : 0.0f;
    nd->fp[FGQ_PF_ACT1] = *act == FGQ_ACT_CLIP ? *hi : 0.0f;
}

static void set_wparams(tnode *nd, const dw_t *w)
{
    nd->ip[FGQ_QP_W_GROUP] = w->group;
    nd->ip[FGQ_QP_W_NALPHA] = w->nalpha;
    nd->ip[FGQ_QP_W_MMAX] = w->mmax;
}

static void fill_x(uint8_t *x, int64_t n, int extreme, uint8_t zfar)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = extreme ? zfar : (uint8_t)(rnd() % 256);
}

/* Random zero point of X (u8 0..255 / s8 −128..127 as bytes), often at the ends. */
static uint8_t random_zero(fgq_dtype xdt)
{
    const uint32_t p = rnd() % 4;
    const int32_t z = p == 0 ? (xdt == FGQ_DT_S8 ? -128 : 0) : p == 1 ? (xdt == FGQ_DT_S8 ? 127 : 255)
                                                                       : rint_in(xdt == FGQ_DT_S8 ? -128 : 0,
                                                                                 xdt == FGQ_DT_S8 ? 127 : 255);
    return (uint8_t)(int8_t)z;
}

static int32_t xval(const uint8_t *x, int64_t i, fgq_dtype xdt)
{
    return xdt == FGQ_DT_S8 ? (int32_t)(int8_t)x[i] : (int32_t)x[i];
}

/* One QGEMM_DYN case: A [mrows, k] → Y [mrows, n]; returns mismatches (−1: op failed). */
/* The thread provider run_gemm_case runs the op with (NULL: serially), and the CPU features the
 * node reports (0: the host's). */
static const fgq_parallel *g_gemm_par;
static uint32_t g_gemm_cpu;

static int run_gemm_case(int64_t mrows, dw_t *w, fgq_dtype xdt, uint8_t zx, int extreme, int64_t *max_dot)
{
    const int64_t k = w->k, n = w->rows;
    uint8_t *x = malloc((size_t)(mrows * k));
    float *y = malloc(sizeof(float) * (size_t)(mrows * n));
    /* extreme: every |q_x − z_x| = 255 (z at one end, x at the other) */
    fill_x(x, mrows * k, extreme, (uint8_t)(xdt == FGQ_DT_S8 ? ((int8_t)zx == -128 ? 127 : -128)
                                                          : (zx == 0 ? 255 : 0)));
    const int64_t xd[2] = { mrows, k }, yd[2] = { mrows, n };
    dyn_views v;
    dyn_make_views(&v, w, x, xdt, 2, xd, y, 2, yd);
    v.s_x = ldexpf(1.0f + (float)(rnd() % 100) / 100.0f, rint_in(-10, 0));
    v.z_x[0] = zx;
    const fgq_tensor_view *in[8];
    tnode nd;
    tnode_init(&nd, FGQ_OP_QGEMM_DYN, dyn_inputs_gemm(&v, w, in));
    nd.v.par = g_gemm_par;
    nd.v.cpu = g_gemm_cpu;
    set_wparams(&nd, w);
    int32_t act;
    float lo, hi;
    set_act(&nd, FGQ_P_GEMM_ACT, &act, &lo, &hi);
    int bad = 0;
    if (op_check_run(&nd, in, &v.y) != FGQ_OK) {
        bad = -1;
    } else {
        const int32_t z = xval(&zx, 0, xdt);
        for (int64_t r = 0; r < mrows; r++)
            for (int64_t j = 0; j < n; j++) {
                int64_t dot = 0;
                for (int64_t kk = 0; kk < k; kk++) {
                    const int32_t code = w->codes[j * k + kk];
                    dot += ref_mult(w, j, kk, code) * code * (int64_t)(xval(x, r * k + kk, xdt) - z);
                }
                *max_dot = llabs(dot) > *max_dot ? llabs(dot) : *max_dot;
                const float want = ref_epilogue(w, j, dot, v.s_x, act, lo, hi);
                if (!same_f32_bits(y[r * n + j], want) && bad++ < 3)
                    fprintf(stderr, "  gemm (%lld, %lld): %a, want %a (dot %lld)\n", (long long)r, (long long)j,
                            (double)y[r * n + j], (double)want, (long long)dot);
            }
    }
    free(x);
    free(y);
    return bad;
}

static void test_qgemm_dyn_random(void)
{
    int64_t max_dot = 0;
    for (int it = 0; it < 300; it++) {
        const int64_t k = 1 + rnd() % 70, n = 1 + rnd() % 9, mrows = 1 + rnd() % 5;
        const fgq_dtype xdt = rnd() % 2 ? FGQ_DT_U8 : FGQ_DT_S8;
        dw_t w;
        dw_random_for(&w, n, k, 0);
        const int bad = run_gemm_case(mrows, &w, xdt, random_zero(xdt), 0, &max_dot);
        CHECK_MSG(bad == 0, "iteration %d (%s, k %lld, gs %d): %d mismatches", it, fgq_dtype_name(w.wdt),
                  (long long)k, w.has_gs, bad);
        dw_free(&w);
    }
    /* more rows and channels than one task's 64, serially and over a 3-thread pool: the same bits */
    fgq_threadpool *pool = NULL;
    fgq_error perr;
    fgq_error_clear(&perr);
    CHECK(fgq_threadpool_create(3, &pool, &perr) == FGQ_OK);
    for (int it = 0; it < 6; it++) {
        const int64_t k = 33 + rnd() % 300, n = 65 + rnd() % 140, mrows = 1 + rnd() % 9;
        const fgq_dtype xdt = rnd() % 2 ? FGQ_DT_U8 : FGQ_DT_S8;
        dw_t w;
        dw_random_for(&w, n, k, 0);
        g_gemm_par = it % 2 ? fgq_threadpool_parallel(pool) : NULL;
        const int bad = run_gemm_case(mrows, &w, xdt, random_zero(xdt), 0, &max_dot);
        g_gemm_par = NULL;
        CHECK_MSG(bad == 0, "large %d (%s, k %lld, n %lld): %d mismatches", it, fgq_dtype_name(w.wdt),
                  (long long)k, (long long)n, bad);
        dw_free(&w);
    }
    fgq_threadpool_destroy(pool);
}

/* At the bound: all codes at their largest, multipliers 255 (clamped to M),
 * (s8 −128, s4 −8, t2 +1), every |q_x − z_x| = 255, K the largest the check
 * allows, so |dot| is within one term of 2^31 − 1; one more K is refused. */
static void test_qgemm_dyn_at_bound(void)
{
    const fgq_dtype dts[3] = { FGQ_DT_T2, FGQ_DT_S4, FGQ_DT_S8 };
    for (int d = 0; d < 3; d++)
        for (int gsm = 0; gsm < 2; gsm++) {
            /* t2: 33025 (M 255) / 8421504 (M 1) is too large a test; use M so K stays small */
            const int32_t mmax = gsm ? (dts[d] == FGQ_DT_S8 ? 64 : 255) : 0;
            const int64_t per = (int64_t)code_max(dts[d]) * 255 * (mmax > 0 ? mmax : 1);
            const int64_t k = INT32_MAX / per;
            if (k > 70000)
                continue; /* t2 and s4 per channel: K in the millions */
            const fgq_dtype xdt = d == 1 ? FGQ_DT_S8 : FGQ_DT_U8;
            dw_t w;
            dw_random(&w, dts[d], 2, k, gsm, (int32_t)(k / 3 + 1), 1, mmax, 1);
            int64_t max_dot = 0;
            const int bad = run_gemm_case(1, &w, xdt, (uint8_t)(xdt == FGQ_DT_S8 ? 0x80 : 0), 1, &max_dot);
            CHECK_MSG(bad == 0, "%s gs %d k %lld: %d mismatches", fgq_dtype_name(dts[d]), gsm, (long long)k, bad);
            CHECK_MSG(max_dot > INT32_MAX - per, "%s: |dot| %lld is not near the bound", fgq_dtype_name(dts[d]),
                      (long long)max_dot);
            dw_free(&w);
            /* K + 1: refused */
            dw_random(&w, dts[d], 2, k + 1, gsm, (int32_t)(k / 3 + 1), 1, mmax, 1);
            uint8_t xb[1] = { 0 };
            float yb[2];
            const int64_t xd[2] = { 1, k + 1 }, yd[2] = { 1, 2 };
            dyn_views v;
            dyn_make_views(&v, &w, xb, xdt, 2, xd, yb, 2, yd);
            const fgq_tensor_view *in[8];
            tnode nd;
            tnode_init(&nd, FGQ_OP_QGEMM_DYN, dyn_inputs_gemm(&v, &w, in));
            set_wparams(&nd, &w);
            CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_UNSUPPORTED);
            dw_free(&w);
        }
}

typedef struct {
    int ns;
    int64_t n, c, m, g;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3]; /* right-aligned, unused = 1/0 */
} conv_shape;

static void random_conv_shape(conv_shape *cs)
{
    memset(cs, 0, sizeof *cs);
    cs->ns = 1 + (int)(rnd() % 3);
    cs->g = 1 + rnd() % 3;
    cs->c = cs->g * (1 + rnd() % 3);
    cs->m = cs->g * (1 + rnd() % 3);
    cs->n = 1 + rnd() % 2;
    for (int j = 0; j < 3; j++) {
        cs->in[j] = cs->k[j] = cs->s[j] = cs->d[j] = cs->out[j] = 1;
        if (j < 3 - cs->ns)
            continue;
        cs->k[j] = 1 + rnd() % 3;
        cs->s[j] = 1 + rnd() % 2;
        cs->d[j] = 1 + rnd() % 2;
        cs->pb[j] = rnd() % 2;
        cs->pe[j] = rnd() % 2;
        const int64_t span = (cs->k[j] - 1) * cs->d[j] + 1;
        cs->in[j] = span + rnd() % 4;
        cs->out[j] = (cs->in[j] + cs->pb[j] + cs->pe[j] - span) / cs->s[j] + 1;
    }
}

/* The thread provider run_conv_case runs the op with (NULL: serially), and the CPU features the
 * node reports (0: the host's). */
static const fgq_parallel *g_conv_par;
static uint32_t g_conv_cpu;


static int run_conv_case(const conv_shape *cs, dw_t *w, fgq_dtype xdt, uint8_t zx)
{
    const int64_t xn = cs->n * cs->c * cs->in[0] * cs->in[1] * cs->in[2];
    const int64_t plane = cs->out[0] * cs->out[1] * cs->out[2], yn = cs->n * cs->m * plane;
    uint8_t *x = malloc((size_t)xn);
    float *y = malloc(sizeof(float) * (size_t)yn);
    fill_x(x, xn, 0, 0);
    int64_t xd[5], yd[5];
    xd[0] = yd[0] = cs->n;
    xd[1] = cs->c;
    yd[1] = cs->m;
    for (int i = 0; i < cs->ns; i++) {
        xd[2 + i] = cs->in[3 - cs->ns + i];
        yd[2 + i] = cs->out[3 - cs->ns + i];
    }
    dyn_views v;
    dyn_make_views(&v, w, x, xdt, cs->ns + 2, xd, y, cs->ns + 2, yd);
    v.s_x = ldexpf(1.0f + (float)(rnd() % 100) / 100.0f, rint_in(-10, 0));
    v.z_x[0] = zx;
    const fgq_tensor_view *in[8];
    tnode nd;
    tnode_init(&nd, FGQ_OP_QCONV_DYN, dyn_inputs(&v, w, in));
    nd.v.par = g_conv_par;
    nd.v.cpu = g_conv_cpu;
    nd.ip[FGQ_P_NSPATIAL] = cs->ns;
    nd.ip[FGQ_P_GROUP] = (int32_t)cs->g;
    for (int i = 0; i < cs->ns; i++) {
        const int j = 3 - cs->ns + i;
        nd.ip[FGQ_P_KERNEL + i] = (int32_t)cs->k[j];
        nd.ip[FGQ_P_STRIDE + i] = (int32_t)cs->s[j];
        nd.ip[FGQ_P_DILATION + i] = (int32_t)cs->d[j];
        nd.ip[FGQ_P_PAD_BEGIN + i] = (int32_t)cs->pb[j];
        nd.ip[FGQ_P_PAD_END + i] = (int32_t)cs->pe[j];
    }
    set_wparams(&nd, w);
    int32_t act;
    float lo, hi;
    set_act(&nd, FGQ_P_ACT, &act, &lo, &hi);
    int bad = 0;
    if (op_check_run(&nd, in, &v.y) != FGQ_OK) {
        bad = -1;
    } else {
        const int32_t z = xval(&zx, 0, xdt);
        const int64_t cg = cs->c / cs->g, mg = cs->m / cs->g;
        for (int64_t n = 0; n < cs->n; n++)
            for (int64_t mo = 0; mo < cs->m; mo++)
                for (int64_t o0 = 0; o0 < cs->out[0]; o0++)
                    for (int64_t o1 = 0; o1 < cs->out[1]; o1++)
                        for (int64_t o2 = 0; o2 < cs->out[2]; o2++) {
                            const int64_t o[3] = { o0, o1, o2 };
                            int64_t dot = 0, k = 0;
                            for (int64_t c = 0; c < cg; c++)
                                for (int64_t k0 = 0; k0 < cs->k[0]; k0++)
                                    for (int64_t k1 = 0; k1 < cs->k[1]; k1++)
                                        for (int64_t k2 = 0; k2 < cs->k[2]; k2++, k++) {
                                            const int64_t kk[3] = { k0, k1, k2 };
                                            int64_t pos[3], inside = 1;
                                            for (int j = 0; j < 3; j++) {
                                                pos[j] = o[j] * cs->s[j] - cs->pb[j] + kk[j] * cs->d[j];
                                                inside &= pos[j] >= 0 && pos[j] < cs->in[j];
                                            }
                                            if (!inside)
                                                continue;
                                            const int64_t ci = (mo / mg) * cg + c;
                                            const int64_t xi = ((n * cs->c + ci) * cs->in[0] + pos[0]) * cs->in[1] *
                                                                   cs->in[2] +
                                                               pos[1] * cs->in[2] + pos[2];
                                            const int32_t code = w->codes[mo * w->k + k];
                                            dot += ref_mult(w, mo, k, code) * code * (int64_t)(xval(x, xi, xdt) - z);
                                        }
                            const int64_t yi = (n * cs->m + mo) * plane + (o0 * cs->out[1] + o1) * cs->out[2] + o2;
                            const float want = ref_epilogue(w, mo, dot, v.s_x, act, lo, hi);
                            if (!same_f32_bits(y[yi], want) && bad++ < 3)
                                fprintf(stderr, "  conv y[%lld]: %a, want %a (dot %lld)\n", (long long)yi,
                                        (double)y[yi], (double)want, (long long)dot);
                        }
    }
    free(x);
    free(y);
    return bad;
}

/* The CPU features the cases of run_dyn_reps run under, so that one machine covers every path of
 * QCONV's it has (qconv.c, which QCONV_DYN runs): the host's with AMX where this process is granted
 * the tile state (the AMX tiles), the host's (the packed AVX-512 VNNI kernels, the VBMI depthwise
 * and stride-2 forms, the AVX-512 output stage), AVX-512 VNNI without VBMI (stride 2 through
 * im2col), AVX2 alone (the AVX2 QGEMM rows and depthwise row, the reference twin of the output
 * stage), none (the reference). Each is the host's features masked, so none claims what the CPU
 * lacks. */
enum { DYN_CPUS = 5 };
static uint32_t dyn_cpu(int i)
{
    static const uint32_t masks[DYN_CPUS] = {~0u, ~(uint32_t)FGQ_CPU_AMXINT8,
                                             FGQ_CPU_AVX2 | FGQ_CPU_AVX512VNNI | FGQ_CPU_AVX512F, FGQ_CPU_AVX2, 0u};
    return ((fgq_cpu_features() | fgq_host_cpu_grants()) & masks[i]) | FGQ_CPU_QUERIED;
}

/* cs with fresh weights (k codes a row) under every CPU setting of dyn_cpu, u8 and s8 inputs,
 * serially, on the pool, and on the pool in chunks of one task. */
static void run_dyn_reps(const conv_shape *cs, int64_t k, fgq_threadpool *pool, const char *what, size_t b)
{
    for (int rep = 0; rep < 4 * DYN_CPUS; rep++) {
        const fgq_dtype xdt = rep % 2 ? FGQ_DT_S8 : FGQ_DT_U8;
        dw_t w;
        dw_random_for(&w, cs->m, k, 0);
        one_task_provider one = {{NULL, 3, one_task_parallel_for, FGQ_KERNELS_AUTO}, fgq_threadpool_parallel(pool)};
        one.par.impl = &one;
        g_conv_par = rep % 4 == 2 ? fgq_threadpool_parallel(pool) : rep % 4 == 3 ? &one.par : NULL;
        g_conv_cpu = dyn_cpu(rep / 4);
        const int bad = run_conv_case(cs, &w, xdt, random_zero(xdt));
        g_conv_par = NULL;
        g_conv_cpu = 0;
        CHECK_MSG(bad == 0, "%s case %zu rep %d (%s, gs %d): %d mismatches", what, b, rep, fgq_dtype_name(w.wdt),
                  w.has_gs, bad);
        dw_free(&w);
    }
}

/* QCONV_DYN's and QGEMM_DYN's output stages: the ones the CPU runs (fgq_qconv_fout_select's and
 * fgq_qgemm_fout_select's AVX-512 ones here) against fgq_qconv_fout_rows_ref and
 * fgq_qgemm_fout_row_ref byte for byte: 1..3 channels from channel 0 or 1 of 0..40 dots (every
 * tail of a 16-lane step), strides past the runs, dots at 0 and near ±2^31, scales negative, 0,
 * NaN, tiny and huge (products of ±Inf), bias or none (no + 0: −0 stays), no activation, ReLU (−0
 * and NaN stay) and Clip with bounds either way round; the bytes past each run untouched. */
static void test_fout_rows_kernels(void)
{
    const fgq_qconv_fout_fn fast = fgq_qconv_fout_select(FGQ_KERNELS_AUTO, fgq_cpu_features());
    const fgq_qgemm_fout_fn fast_row = fgq_qgemm_fout_select(FGQ_KERNELS_AUTO, fgq_cpu_features());
    if (fast == fgq_qconv_fout_rows_ref || fast_row == fgq_qgemm_fout_row_ref) {
        printf("  output stage: this CPU runs the reference twin only\n");
        return;
    }
    int bad = 0;
    for (int it = 0; it < 3000 && bad < 5; it++) {
        const int64_t nc = 1 + rnd() % 3, n = rnd() % 41, ld_dot = n + rnd() % 5, ld_y = n + rnd() % 5;
        int32_t dot[3 * 45];
        for (int64_t i = 0; i < 3 * 45; i++) {
            const uint32_t p = rnd() % 8;
            dot[i] = p == 0   ? 0
                     : p == 1 ? INT32_MAX - (int32_t)(rnd() % 3)
                     : p == 2 ? INT32_MIN + (int32_t)(rnd() % 3)
                              : (int32_t)(rnd() % 200001) - 100000;
        }
        float s_w[4], bias[4]; /* channels c0 .. c0 + nc − 1, c0 0 or 1 */
        for (int j = 0; j < 4; j++) {
            const uint32_t p = rnd() % 7;
            s_w[j] = p == 0   ? 0.0f
                     : p == 1 ? -ldexpf(1.5f, -60)
                     : p == 2 ? 3e30f
                     : p == 3 ? NAN /* NaN outputs through the activations */
                              : ldexpf((float)(rnd() % 1000) / 999.0f - 0.5f, rint_in(-12, 2));
            bias[j] = rnd() % 4 == 0 ? -0.0f : (float)((int32_t)(rnd() % 2001) - 1000) / 250.0f;
        }
        fgq_qconv_fout fo = {ldexpf(1.0f + (float)(rnd() % 100) / 100.0f, rint_in(-10, 3)),
                             s_w,
                             rnd() % 2 ? bias : NULL,
                             (int32_t)(rnd() % 3),
                             0.0f,
                             0.0f};
        if (fo.act == FGQ_ACT_CLIP) {
            fo.act0 = (float)((int32_t)(rnd() % 41) - 20) / 4.0f;
            fo.act1 = (float)((int32_t)(rnd() % 41) - 20) / 4.0f;
        }
        float y_ref[3 * 45], y_fast[3 * 45];
        for (int i = 0; i < 3 * 45; i++)
            y_ref[i] = y_fast[i] = (float)i + 0.5f; /* sentinels past the runs */
        const int64_t c0 = rnd() % 2;
        fgq_qconv_fout_rows_ref(&fo, c0, nc, dot, ld_dot, n, y_ref, ld_y);
        fast(&fo, c0, nc, dot, ld_dot, n, y_fast, ld_y);
        if (memcmp(y_ref, y_fast, sizeof y_ref) != 0 && bad++ < 3)
            fprintf(stderr, "  output stage case %d (nc %lld, n %lld, act %d): differs\n", it, (long long)nc,
                    (long long)n, (int)fo.act);
        /* QGEMM_DYN's along a row: channel j0 + i a lane, j0 past 0, 0..40 lanes (s_w and bias of 45) */
        float s_w45[45], bias45[45];
        for (int i = 0; i < 45; i++) {
            s_w45[i] = s_w[i % 4] * (float)(1 + i % 7);
            bias45[i] = bias[i % 4] - (float)(i % 5);
        }
        const int64_t j0 = rnd() % 5, nr = rnd() % 41;
        fgq_qconv_fout fr = fo;
        fr.s_w = s_w45;
        fr.bias = fo.bias != NULL ? bias45 : NULL;
        for (int i = 0; i < 3 * 45; i++)
            y_ref[i] = y_fast[i] = (float)i + 0.5f;
        fgq_qgemm_fout_row_ref(&fr, j0, nr, dot, y_ref);
        fast_row(&fr, j0, nr, dot, y_fast);
        if (memcmp(y_ref, y_fast, sizeof y_ref) != 0 && bad++ < 3)
            fprintf(stderr, "  row output stage case %d (j0 %lld, n %lld, act %d): differs\n", it, (long long)j0,
                    (long long)nr, (int)fo.act);
    }
    CHECK_MSG(bad == 0, "%d output stage cases differ", bad);
}

/* QGEMM_DYN on QGEMM's paths (fgq_qgemm_run_fout): shapes for the AMX tiles (16+ rows of A and
 * of W; from 64 rows the rows decoded or copied once a chunk; K past a tile step), the kernel row's
 * block form and its dot, with every weight format dw_random_for draws, under every CPU setting of
 * dyn_cpu, serially, on a 3-thread pool and in chunks of one task. */
static void test_qgemm_dyn_paths(void)
{
    static const int64_t shapes[][3] = {{16, 16, 64},   {17, 40, 200}, {64, 48, 130}, {100, 300, 96},
                                        {70, 20, 1025}, {33, 257, 65}, {1, 70, 33},   {5, 3, 7}}; /* rows of A, N, K */
    fgq_threadpool *pool = NULL;
    fgq_error perr;
    fgq_error_clear(&perr);
    CHECK(fgq_threadpool_create(3, &pool, &perr) == FGQ_OK);
    one_task_provider one = {{NULL, 3, one_task_parallel_for, FGQ_KERNELS_AUTO}, fgq_threadpool_parallel(pool)};
    one.par.impl = &one;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int rep = 0; rep < 3 * DYN_CPUS; rep++) {
            const fgq_dtype xdt = rep % 2 ? FGQ_DT_S8 : FGQ_DT_U8;
            /* the layouts the AMX tiles take (fgq_qweights_fold_s8: s8 per channel, ternary in groups of
             * 64 with one or two multipliers, s4 per channel) in turn with a random one */
            const int64_t n = shapes[si][1], k = shapes[si][2];
            const int fmt = (int)((rep + (int)si) % 4);
            dw_t w;
            if (fmt == 0)
                dw_random_for(&w, n, k, 0);
            else if (fmt == 1)
                dw_random(&w, FGQ_DT_S8, n, k, 0, (int32_t)k, 1, 0, 0);
            else if (fmt == 2)
                dw_random(&w, FGQ_DT_T2, n, k, 1, 64, 1 + rep % 2, rint_in(1, mmax_allowed(FGQ_DT_T2, k)), 0);
            else
                dw_random(&w, FGQ_DT_S4, n, k, 0, (int32_t)k, 1, 0, 0);
            g_gemm_par = rep % 3 == 1 ? fgq_threadpool_parallel(pool) : rep % 3 == 2 ? &one.par : NULL;
            g_gemm_cpu = dyn_cpu(rep / 3);
            int64_t max_dot = 0;
            const int bad = run_gemm_case(shapes[si][0], &w, xdt, random_zero(xdt), 0, &max_dot);
            g_gemm_par = NULL;
            g_gemm_cpu = 0;
            CHECK_MSG(bad == 0, "shape %zu rep %d (%s, gs %d): %d mismatches", si, rep, fgq_dtype_name(w.wdt), w.has_gs,
                      bad);
            dw_free(&w);
        }
    fgq_threadpool_destroy(pool);
}

static void test_qconv_dyn_random(void)
{
    for (int it = 0; it < 300; it++) {
        conv_shape cs;
        random_conv_shape(&cs);
        const int64_t k = cs.c / cs.g * cs.k[0] * cs.k[1] * cs.k[2];
        const fgq_dtype xdt = rnd() % 2 ? FGQ_DT_U8 : FGQ_DT_S8;
        dw_t w;
        dw_random_for(&w, cs.m, k, 0);
        const int bad = run_conv_case(&cs, &w, xdt, random_zero(xdt));
        CHECK_MSG(bad == 0, "iteration %d (%dD, %s, gs %d): %d mismatches", it, cs.ns, fgq_dtype_name(w.wdt),
                  w.has_gs, bad);
        dw_free(&w);
    }
    /* the shapes QCONV's paths block: more than 64 channels a group (channel blocks; 16+ for the AMX
     * tiles), K past the vector widths and past a tile step of 64, more than 32 positions (several
     * packed tiles), stride 2, a 5x5 kernel, more channels than positions (the channel-chunk split
     * with the decoded rows and packed tiles kept: t2, s4 and grouped s8), K of 9,000 and 18,000;
     * under every CPU setting, serially, on a 3-thread pool and in chunks of one task */
    static const struct {
        int64_t c, m, g, in1, in2, k, s;
    } big[] = {{70, 130, 1, 6, 7, 3, 1}, {40, 140, 2, 9, 11, 3, 1}, {24, 24, 24, 12, 13, 3, 1},
               {1000, 3, 1, 3, 3, 3, 1}, {2000, 3, 1, 3, 3, 3, 1},  {32, 48, 1, 15, 16, 3, 2},
               {12, 40, 1, 11, 9, 5, 1}, {64, 200, 1, 5, 5, 3, 1},  {16, 96, 2, 8, 8, 3, 2}};
    fgq_threadpool *pool = NULL;
    fgq_error perr;
    fgq_error_clear(&perr);
    CHECK(fgq_threadpool_create(3, &pool, &perr) == FGQ_OK);
    for (size_t b = 0; b < sizeof big / sizeof big[0]; b++) {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = 2;
        cs.n = 1;
        cs.c = big[b].c;
        cs.m = big[b].m;
        cs.g = big[b].g;
        for (int j = 0; j < 3; j++)
            cs.in[j] = cs.k[j] = cs.s[j] = cs.d[j] = cs.out[j] = 1;
        cs.in[1] = big[b].in1;
        cs.in[2] = big[b].in2;
        cs.k[1] = cs.k[2] = big[b].k;
        cs.s[1] = cs.s[2] = big[b].s;
        cs.pb[1] = cs.pb[2] = cs.pe[1] = cs.pe[2] = big[b].k / 2;
        cs.out[1] = (cs.in[1] - 1) / cs.s[1] + 1;
        cs.out[2] = (cs.in[2] - 1) / cs.s[2] + 1;
        run_dyn_reps(&cs, cs.c / cs.g * cs.k[1] * cs.k[2], pool, "big", b);
    }
    fgq_threadpool_destroy(pool);
    /* depthwise layers (qdyn.c's depthwise rows where the CPU has a row): strides 1 and 2, 3x3, 5x5
     * and 1x4 kernels, dilation 2, pads wider than the kernel's reach on one side and none on the
     * other, rows narrower than the row kernels' 8 lanes and wider than 64, batch 2, each serially
     * and with the 3-thread pool */
    static const struct {
        int64_t c, n, in1, in2, k1, k2, s, d, pb, pe;
    } dws[] = {{16, 1, 28, 30, 3, 3, 2, 1, 1, 1},
               {5, 2, 20, 71, 5, 5, 1, 1, 2, 2},
               {7, 1, 9, 13, 5, 5, 2, 2, 3, 0},
               {3, 1, 6, 5, 1, 4, 1, 1, 0, 2},
               {9, 1, 15, 9, 3, 3, 1, 2, 4, 1},
               {4, 2, 33, 17, 3, 3, 2, 1, 0, 1},
               /* stride 3, dilation 3, pads past the kernel's reach (outputs of padding only) */
               {6, 1, 23, 40, 3, 3, 3, 1, 2, 1},
               {5, 1, 17, 19, 3, 3, 1, 3, 7, 7},
               {3, 1, 4, 9, 3, 3, 2, 1, 5, 4}};
    CHECK(fgq_threadpool_create(3, &pool, &perr) == FGQ_OK);
    for (size_t b = 0; b < sizeof dws / sizeof dws[0]; b++) {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = 2;
        cs.n = dws[b].n;
        cs.c = cs.m = cs.g = dws[b].c;
        for (int j = 0; j < 3; j++)
            cs.in[j] = cs.k[j] = cs.s[j] = cs.d[j] = cs.out[j] = 1;
        const int64_t in[2] = {dws[b].in1, dws[b].in2}, kk[2] = {dws[b].k1, dws[b].k2};
        for (int j = 1; j < 3; j++) {
            cs.in[j] = in[j - 1];
            cs.k[j] = kk[j - 1];
            cs.s[j] = dws[b].s;
            cs.d[j] = dws[b].d;
            cs.pb[j] = dws[b].pb;
            cs.pe[j] = dws[b].pe;
            cs.out[j] = (cs.in[j] + cs.pb[j] + cs.pe[j] - (cs.k[j] - 1) * cs.d[j] - 1) / cs.s[j] + 1;
        }
        run_dyn_reps(&cs, cs.k[1] * cs.k[2], pool, "depthwise", b);
    }
    /* a 3-D depthwise layer of depth 1 whose depth padding leaves only padding: fgq_qconv_dot's 0
     * (not the depthwise rows: a 2-D sum would ignore the depth) */
    {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = 3;
        cs.n = 1;
        cs.c = cs.m = cs.g = 4;
        const int64_t in[3] = {1, 5, 6}, kk[3] = {1, 3, 3}, st[3] = {2, 1, 1}, pb[3] = {1, 1, 1}, pe[3] = {0, 1, 1};
        for (int j = 0; j < 3; j++) {
            cs.in[j] = in[j];
            cs.k[j] = kk[j];
            cs.s[j] = st[j];
            cs.d[j] = 1;
            cs.pb[j] = pb[j];
            cs.pe[j] = pe[j];
            cs.out[j] = (cs.in[j] + cs.pb[j] + cs.pe[j] - cs.k[j]) / cs.s[j] + 1;
        }
        dw_t w;
        dw_random_for(&w, cs.m, 9, 0);
        CHECK_MSG(run_conv_case(&cs, &w, FGQ_DT_U8, 3) == 0, "3-D depthwise with depth padding");
        dw_free(&w);
    }
    /* pointwise layers (1x1, stride 1, no padding: the im2col rows gathered as X's columns), more
     * than 64 positions and channels, groups, batch 2 */
    static const struct {
        int64_t c, m, g, n, in1, in2;
    } pws[] = {{70, 130, 1, 1, 9, 10}, {48, 20, 2, 2, 15, 15}, {8, 300, 1, 1, 8, 9}, {3, 5, 1, 1, 1, 1}};
    for (size_t b = 0; b < sizeof pws / sizeof pws[0]; b++) {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = 2;
        cs.n = pws[b].n;
        cs.c = pws[b].c;
        cs.m = pws[b].m;
        cs.g = pws[b].g;
        for (int j = 0; j < 3; j++)
            cs.in[j] = cs.k[j] = cs.s[j] = cs.d[j] = cs.out[j] = 1;
        cs.in[1] = cs.out[1] = pws[b].in1;
        cs.in[2] = cs.out[2] = pws[b].in2;
        run_dyn_reps(&cs, cs.c / cs.g, pool, "pointwise", b);
    }
    fgq_threadpool_destroy(pool);
}

/* ---- (3) rejects ---------------------------------------------------------------- */

static void test_dyn_rejects(void)
{
    dw_t w;
    dw_random(&w, FGQ_DT_S8, 3, 8, 0, 0, 0, 0, 0);
    w.has_bias = 1;
    uint8_t x[16] = { 0 };
    float y[6];
    const int64_t xd[2] = { 2, 8 }, yd[2] = { 2, 3 }, d1[1] = { 1 }, d2[1] = { 2 }, d3[1] = { 3 };
    dyn_views v;
    dyn_make_views(&v, &w, x, FGQ_DT_U8, 2, xd, y, 2, yd);
    v.s_x = 0.5f;
    const fgq_tensor_view *in[8];
    tnode nd;
    tnode_init(&nd, FGQ_OP_QGEMM_DYN, dyn_inputs_gemm(&v, &w, in));
    CHECK_REJECTS(&nd, in, &v.y, FGQ_OK);
    {
        const fgq_tensor_view keep = v.sx; /* X_SCALE [1] is fine, [2] or u8 is not */
        v.sx = qview(&v.s_x, FGQ_DT_F32, 1, d1);
        CHECK_REJECTS(&nd, in, &v.y, FGQ_OK);
        v.sx = qview(&v.s_x, FGQ_DT_F32, 1, d2);
        CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_SHAPE);
        v.sx = qview(&v.s_x, FGQ_DT_U8, 0, NULL);
        CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_SHAPE);
        v.sx = keep;
    }
    v.zx.dtype = FGQ_DT_S8; /* X_ZERO must have X's dtype */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_SHAPE);
    v.zx.dtype = FGQ_DT_U8;
    v.sw = qview(w.s_w, FGQ_DT_F32, 1, d2); /* W_SCALE [rows] */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_SHAPE);
    v.sw = qview(w.s_w, FGQ_DT_F32, 1, d3);
    v.b.dtype = FGQ_DT_S32; /* float bias */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_SHAPE);
    v.b.dtype = FGQ_DT_F32;
    v.y.dtype = FGQ_DT_U8; /* float output */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_UNSUPPORTED);
    v.y.dtype = FGQ_DT_F32;
    v.x.dtype = FGQ_DT_F32; /* integer input */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_UNSUPPORTED);
    v.x.dtype = FGQ_DT_U8;
    nd.ip[FGQ_P_GEMM_ACT] = 7; /* unknown activation */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_FORMAT);
    nd.ip[FGQ_P_GEMM_ACT] = 0;
    in[4] = NULL; /* W_SCALE required */
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_FORMAT);
    in[4] = &v.sw;
    nd.v.n_inputs = 4;
    CHECK_REJECTS(&nd, in, &v.y, FGQ_ERR_FORMAT);
    dw_free(&w);
}

/* ---- (4) through the writer, the loader and the planner --------------------------- */

static void test_multi_output_model(void)
{
    enum { R = 3, K = 20, N = 5 };
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    const int64_t dx[2] = { R, K }, dy[2] = { R, N };
    dw_t w;
    dw_random(&w, FGQ_DT_S4, N, K, 1, 6, 1, 200, 0);
    w.has_bias = 1;
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, dx);
    int32_t xq = tensor(g, "x.q", FGQ_TK_INTERMEDIATE, 2, dx), xs = tensor(g, "x.scale", FGQ_TK_INTERMEDIATE, 0, NULL);
    int32_t xz = tensor(g, "x.zero", FGQ_TK_INTERMEDIATE, 0, NULL), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, dy);
    g->tensors[xq].dtype = FGQ_DT_U8;
    g->tensors[xz].dtype = FGQ_DT_U8;
    const int64_t wd[2] = { N, w.kp }, nd1[1] = { N }, gd[2] = { N, w.ngroups };
    int32_t wt = tensor(g, "w", FGQ_TK_CONST, 2, wd), st = const_f32(g, "w_scale", 1, nd1, w.s_w);
    int32_t bt = const_f32(g, "b", 1, nd1, w.bias), gt = tensor(g, "gs", FGQ_TK_CONST, 2, gd);
    g->tensors[wt].dtype = FGQ_DT_S4;
    g->tensors[wt].data = malloc((size_t)(N * w.row_bytes));
    memcpy(g->tensors[wt].data, w.packed, (size_t)(N * w.row_bytes));
    g->tensors[gt].dtype = FGQ_DT_U8;
    g->tensors[gt].data = malloc((size_t)(N * w.ngroups));
    memcpy(g->tensors[gt].data, w.gs, (size_t)(N * w.ngroups));
    const int32_t outs[3] = { xq, xs, xz }, gin[7] = { xq, xs, xz, wt, st, bt, gt };
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = { 0 };
    float fp[FGQ_NODE_MAX_FPARAMS] = { 0 };
    fgq_error err;
    fgq_error_clear(&err);
    int32_t n0 = fgq_graph_add_node(g, "dq", "DynQuantize", 1, &x, 3, outs);
    CHECK(n0 >= 0 && fgq_node_set_prelowered(&g->nodes[n0], FGQ_OP_DYNQUANT, ip, fp, &err) == FGQ_OK);
    ip[FGQ_QP_W_GROUP] = w.group;
    ip[FGQ_QP_W_NALPHA] = 1;
    ip[FGQ_QP_W_MMAX] = w.mmax;
    ip[FGQ_P_GEMM_ACT] = FGQ_ACT_RELU;
    int32_t n1 = fgq_graph_add_node(g, "fc", "QGemmDyn", 7, gin, 1, &y);
    CHECK(n1 >= 0 && fgq_node_set_prelowered(&g->nodes[n1], FGQ_OP_QGEMM_DYN, ip, fp, &err) == FGQ_OK);
    set_io(g, 1, &x, 1, &y);

    float xin[R * K], yout[R * N], ywant[R * N];
    uint32_t s = 7;
    tfill(xin, R * K, &s);
    uint8_t *buf = NULL;
    uint64_t size = 0;
    fgq_model m;
    CHECK_MSG(fgq_write_model(g, &buf, &size, &err) == FGQ_OK, "%s", err.msg);
    CHECK_MSG(buf != NULL && fgq_model_load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    if (buf != NULL && err.msg[0] == '\0') {
        fgq_node_info ni;
        CHECK(fgq_model_node_info(&m, 0, &ni) == FGQ_OK && ni.n_outputs == 3);
        const uint64_t asz = (fgq_model_arena_size(&m) + 64) & ~(uint64_t)63;
        void *arena = aligned_alloc(64, (size_t)asz);
        const void *ins[1] = { xin };
        void *outp[1] = { yout };
        CHECK_MSG(fgq_model_run(&m, arena, asz, ins, outp, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
        free(arena);
        /* the same two ops called directly */
        uint8_t q[R * K], z;
        float sx;
        const int64_t d2[2] = { R, K };
        CHECK(run_dynquant(xin, 2, d2, q, &sx, &z) == FGQ_OK);
        dyn_views v;
        dyn_make_views(&v, &w, q, FGQ_DT_U8, 2, dx, ywant, 2, dy);
        v.s_x = sx;
        v.z_x[0] = z;
        const fgq_tensor_view *in[8];
        tnode nd;
        tnode_init(&nd, FGQ_OP_QGEMM_DYN, dyn_inputs_gemm(&v, &w, in));
        set_wparams(&nd, &w);
        nd.ip[FGQ_P_GEMM_ACT] = FGQ_ACT_RELU;
        CHECK(op_check_run(&nd, in, &v.y) == FGQ_OK);
        CHECK(memcmp(yout, ywant, sizeof yout) == 0);
    }
    free(buf);
    fgq_graph_free(g);
    dw_free(&w);
}

int main(void)
{
    RUN(test_dynquant_onnx_node_tests);
    RUN(test_dynquant_random_and_edges);
    RUN(test_dynquant_parts);
    RUN(test_dynquant_rejects);
    RUN(test_qgemm_dyn_random);
    RUN(test_qgemm_dyn_at_bound);
    RUN(test_fout_rows_kernels);
    RUN(test_qconv_dyn_random);
    RUN(test_qgemm_dyn_paths);
    RUN(test_dyn_rejects);
    RUN(test_multi_output_model);
    return FGQ_TEST_DONE();
}
