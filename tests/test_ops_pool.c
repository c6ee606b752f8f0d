/*
 * test_ops_pool.c — MaxPool, AveragePool, GlobalAveragePool f32 kernels.
 * Oracles: (1) values produced by ONNX Runtime 1.23 for small ramps (pasted
 * below), covering ceil_mode, count_include_pad with windows that run past
 * the explicit padding, and dilations; the ONNX node tests maxpool_2d_ceil,
 * averagepool_2d_ceil and maxpool_2d_dilations worked by hand; (2) a naive
 * per-output loop over every kernel tap written from the ONNX definition
 * (pads excluded from max; average over in-range taps, or with
 * count_include_pad over taps inside [−pad_begin, in + pad_end)); (3) check()
 * rejections.
 */
#include "test_ops_common.h"

#include <stdlib.h>

typedef struct {
    int ns;
    int64_t n, c;
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
    int count_pad;
} pool_case;

static void pool_naive(const pool_case *pc, int is_max, const float *x, float *y)
{
    int64_t I[3] = { 1, 1, 1 }, O[3] = { 1, 1, 1 }, K[3] = { 1, 1, 1 }, S[3] = { 1, 1, 1 }, D[3] = { 1, 1, 1 },
            PB[3] = { 0, 0, 0 }, PE[3] = { 0, 0, 0 };
    for (int i = 0; i < pc->ns; i++) {
        int j = 3 - pc->ns + i;
        I[j] = pc->in[i];
        O[j] = pc->out[i];
        K[j] = pc->k[i];
        S[j] = pc->s[i];
        D[j] = pc->d[i];
        PB[j] = pc->pb[i];
        PE[j] = pc->pe[i];
    }
    for (int64_t p = 0; p < pc->n * pc->c; p++)
        for (int64_t o0 = 0; o0 < O[0]; o0++)
            for (int64_t o1 = 0; o1 < O[1]; o1++)
                for (int64_t o2 = 0; o2 < O[2]; o2++) {
                    double mx = -INFINITY, sum = 0;
                    int64_t cnt = 0, cnt_pad = 0;
                    for (int64_t k0 = 0; k0 < K[0]; k0++)
                        for (int64_t k1 = 0; k1 < K[1]; k1++)
                            for (int64_t k2 = 0; k2 < K[2]; k2++) {
                                int64_t t[3] = { o0 * S[0] - PB[0] + k0 * D[0], o1 * S[1] - PB[1] + k1 * D[1],
                                                 o2 * S[2] - PB[2] + k2 * D[2] };
                                int in_x = 1, in_pad = 1;
                                for (int a = 0; a < 3; a++) {
                                    in_x &= t[a] >= 0 && t[a] < I[a];
                                    in_pad &= t[a] >= -PB[a] && t[a] < I[a] + PE[a];
                                }
                                cnt_pad += in_pad;
                                if (!in_x)
                                    continue;
                                double v = x[((p * I[0] + t[0]) * I[1] + t[1]) * I[2] + t[2]];
                                mx = v > mx ? v : mx;
                                sum += v;
                                cnt++;
                            }
                    y[((p * O[0] + o0) * O[1] + o1) * O[2] + o2] =
                        (float)(is_max ? mx : sum / (double)(pc->count_pad ? cnt_pad : cnt));
                }
}

static void set_params(tnode *nd, const pool_case *pc, fgq_op op)
{
    tnode_init(nd, op, 1);
    nd->ip[FGQ_P_NSPATIAL] = pc->ns;
    for (int i = 0; i < pc->ns; i++) {
        nd->ip[FGQ_P_KERNEL + i] = (int32_t)pc->k[i];
        nd->ip[FGQ_P_STRIDE + i] = (int32_t)pc->s[i];
        nd->ip[FGQ_P_DILATION + i] = (int32_t)pc->d[i];
        nd->ip[FGQ_P_PAD_BEGIN + i] = (int32_t)pc->pb[i];
        nd->ip[FGQ_P_PAD_END + i] = (int32_t)pc->pe[i];
    }
    nd->ip[FGQ_P_COUNT_PAD] = pc->count_pad;
}

static void views(const pool_case *pc, float *x, float *y, fgq_tensor_view *xv, fgq_tensor_view *yv)
{
    int64_t xd[5] = { pc->n, pc->c }, yd[5] = { pc->n, pc->c };
    for (int i = 0; i < pc->ns; i++) {
        xd[2 + i] = pc->in[i];
        yd[2 + i] = pc->out[i];
    }
    *xv = tview(x, pc->ns + 2, xd);
    *yv = tview(y, pc->ns + 2, yd);
}

/* Runs op on a 1..n ramp (one plane) and compares with `want`. */
static void ramp_case(const pool_case *pc, fgq_op op, const float *want)
{
    float x[64], y[64];
    fgq_tensor_view xv, yv;
    views(pc, x, y, &xv, &yv);
    for (int64_t i = 0; i < tnumel(&xv); i++)
        x[i] = (float)(i + 1);
    tnode nd;
    set_params(&nd, pc, op);
    const fgq_tensor_view *in[1] = { &xv };
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    for (int64_t i = 0; i < tnumel(&yv); i++)
        CHECK_NEAR(y[i], want[i], 1e-5);
}

static void test_onnx_and_ort_values(void)
{
    /* node test maxpool_2d_ceil / averagepool_2d_ceil: 4x4, k3, s2, ceil -> 2x2 */
    pool_case c1 = { 2, 1, 1, { 4, 4 }, { 2, 2 }, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 0, 0 }, { 0, 0 }, 0 };
    static const float max_ceil[4] = { 11, 12, 15, 16 }, avg_ceil[4] = { 6, 7.5f, 12, 13.5f };
    ramp_case(&c1, FGQ_OP_MAXPOOL, max_ceil);
    ramp_case(&c1, FGQ_OP_AVGPOOL, avg_ceil);
    /* node test maxpool_2d_dilations: 4x4, k2, d2, s1 -> 2x2 */
    pool_case c2 = { 2, 1, 1, { 4, 4 }, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 2, 2 }, { 0, 0 }, { 0, 0 }, 0 };
    ramp_case(&c2, FGQ_OP_MAXPOOL, max_ceil);
    /* ORT: 4x4, k3, s2, pads 1, ceil -> 3x3; the last window runs past the end pad */
    pool_case c3 = { 2, 1, 1, { 4, 4 }, { 3, 3 }, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1 };
    static const float ort_incl[9] = { 14.0f / 9, 30.0f / 9, 2, 57.0f / 9, 11, 6, 4.5f, 7.5f, 4 };
    static const float ort_excl[9] = { 3.5f, 5, 6, 9.5f, 11, 12, 13.5f, 15, 16 };
    static const float ort_max[9] = { 6, 8, 8, 14, 16, 16, 14, 16, 16 };
    ramp_case(&c3, FGQ_OP_AVGPOOL, ort_incl);
    c3.count_pad = 0;
    ramp_case(&c3, FGQ_OP_AVGPOOL, ort_excl);
    ramp_case(&c3, FGQ_OP_MAXPOOL, ort_max);
    /* ORT: 1-D 5 wide, k2, s2, pad end 1, ceil, count_include_pad -> 3; the last
     * window's second tap is the end pad and counts. (ORT's 2-D kernel takes the
     * H end limit from pads[1], the W begin pad, so 2-D asymmetric pads differ
     * there; we follow the ONNX pads layout on every axis.) */
    pool_case c4 = { 1, 1, 1, { 5 }, { 3 }, { 2 }, { 2 }, { 1 }, { 0 }, { 1 }, 1 };
    static const float ort_c4[3] = { 1.5f, 3.5f, 2.5f };
    ramp_case(&c4, FGQ_OP_AVGPOOL, ort_c4);
    /* ORT: same without pads: the ceil window past the input counts only real taps */
    pool_case c5 = { 2, 1, 1, { 5, 5 }, { 3, 3 }, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 0, 0 }, { 0, 0 }, 1 };
    static const float ort_c5[9] = { 4, 6, 7.5f, 14, 16, 17.5f, 21.5f, 23.5f, 25 };
    ramp_case(&c5, FGQ_OP_AVGPOOL, ort_c5);
    /* ORT: 5x5, k2, d2, pads 1, count_include_pad -> 5x5 (dilated window) */
    pool_case c6 = { 2, 1, 1, { 5, 5 }, { 5, 5 }, { 2, 2 }, { 1, 1 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, 1 };
    static const float ort_c6[25] = { 1.75f, 3.5f, 4, 4.5f, 2.25f, 3.5f, 7, 8, 9, 4.5f, 6, 12, 13,
                                      14, 7, 8.5f, 17, 18, 19, 9.5f, 4.25f, 8.5f, 9, 9.5f, 4.75f };
    ramp_case(&c6, FGQ_OP_AVGPOOL, ort_c6);
}

static void test_against_naive(void)
{
    static const pool_case cases[] = {
        /* ns n c  in            out           k          s          d          pb         pe       cip */
        { 1, 1, 3, { 32 }, { 31 }, { 2 }, { 1 }, { 1 }, { 0 }, { 0 }, 0 },
        { 1, 2, 2, { 10 }, { 5 }, { 3 }, { 2 }, { 1 }, { 1 }, { 1 }, 1 },
        { 2, 1, 3, { 28, 28 }, { 30, 30 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 2, 2 }, { 2, 2 }, 0 },
        { 2, 1, 3, { 28, 28 }, { 30, 30 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 2, 2 }, { 2, 2 }, 1 },
        { 2, 1, 3, { 32, 32 }, { 10, 10 }, { 5, 5 }, { 3, 3 }, { 1, 1 }, { 0, 0 }, { 0, 0 }, 0 },
        { 2, 1, 1, { 5, 5 }, { 3, 3 }, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 0 },    /* same_upper */
        { 2, 1, 3, { 32, 32 }, { 32, 32 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 0, 0 }, 0 }, /* same_lower */
        { 2, 2, 2, { 7, 9 }, { 4, 4 }, { 3, 2 }, { 2, 2 }, { 1, 2 }, { 1, 0 }, { 2, 1 }, 1 },     /* ceil, asym */
        { 3, 1, 3, { 8, 8, 8 }, { 7, 7, 7 }, { 2, 2, 2 }, { 1, 1, 1 }, { 1, 1, 1 }, { 0, 0, 0 }, { 0, 0, 0 }, 0 },
        { 3, 1, 2, { 5, 6, 7 }, { 3, 3, 4 }, { 2, 3, 2 }, { 2, 2, 2 }, { 1, 1, 2 }, { 1, 1, 1 }, { 0, 1, 1 }, 1 },
    };
    uint32_t seed = 99;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pool_case *pc = &cases[i];
        fgq_tensor_view xv, yv;
        views(pc, NULL, NULL, &xv, &yv);
        int64_t nx = tnumel(&xv), ny = tnumel(&yv);
        float *x = malloc(sizeof(float) * (size_t)(nx + 2 * ny));
        float *y = x + nx, *ref = y + ny;
        xv.data = x;
        yv.data = y;
        tfill(x, nx, &seed);
        for (int is_max = 0; is_max < 2; is_max++) {
            tnode nd;
            set_params(&nd, pc, is_max ? FGQ_OP_MAXPOOL : FGQ_OP_AVGPOOL);
            const fgq_tensor_view *in[1] = { &xv };
            CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
            pool_naive(pc, is_max, x, ref);
            double maxerr = 0;
            for (int64_t j = 0; j < ny; j++) {
                double e = fabs((double)y[j] - ref[j]);
                maxerr = e > maxerr ? e : maxerr;
            }
            CHECK_MSG(maxerr < 1e-5, "case %zu %s: max error %g", i, is_max ? "max" : "avg", maxerr);
        }
        free(x);
    }
}

/* GlobalAveragePool: mean of each (n, c) plane; oracle: a plain double sum. */
static void test_global_avgpool(void)
{
    float x[2 * 3 * 4 * 5], y[6];
    uint32_t seed = 5;
    tfill(x, 120, &seed);
    int64_t xd[4] = { 2, 3, 4, 5 }, yd[4] = { 2, 3, 1, 1 };
    fgq_tensor_view xv = tview(x, 4, xd), yv = tview(y, 4, yd);
    const fgq_tensor_view *in[1] = { &xv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_GLOBAL_AVGPOOL, 1);
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    for (int p = 0; p < 6; p++) {
        double s = 0;
        for (int i = 0; i < 20; i++)
            s += x[p * 20 + i];
        CHECK_NEAR(y[p], s / 20, 1e-6);
    }
    yd[3] = 5;
    yv = tview(y, 4, yd);
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    int64_t x2[2] = { 2, 3 };
    xv = tview(x, 2, x2);
    yv = tview(y, 2, x2);
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
}

static void test_rejects(void)
{
    pool_case pc = { 2, 1, 1, { 4, 4 }, { 2, 2 }, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 0, 0 }, { 0, 0 }, 0 };
    fgq_tensor_view xv, yv;
    views(&pc, NULL, NULL, &xv, &yv);
    const fgq_tensor_view *in[1] = { &xv };
    tnode nd;
    fgq_error err;
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    CHECK(op_check(&nd, in, &yv, &err) == FGQ_OK); /* 2 = ceil result */
    yv.dims[2] = 1;                                   /* 1 = floor result, also accepted */
    CHECK(op_check(&nd, in, &yv, &err) == FGQ_OK);
    yv.dims[2] = 3; /* neither */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    yv.dims[2] = 2;

    /* 5 wide, k2, s2, pad_end 1: floor 3, ceil 3; 4 would start its window in the end pad */
    pool_case pc2 = { 1, 1, 1, { 5 }, { 4 }, { 2 }, { 2 }, { 1 }, { 0 }, { 1 }, 0 };
    fgq_tensor_view x2, y2;
    views(&pc2, NULL, NULL, &x2, &y2);
    const fgq_tensor_view *in2[1] = { &x2 };
    set_params(&nd, &pc2, FGQ_OP_AVGPOOL);
    CHECK_REJECTS(&nd, in2, &y2, FGQ_ERR_SHAPE);

    set_params(&nd, &pc, FGQ_OP_AVGPOOL);
    nd.ip[FGQ_P_COUNT_PAD] = 2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    nd.ip[FGQ_P_PAD_BEGIN] = 3; /* pad as large as the window; Y dims fit it */
    yv.dims[2] = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    yv.dims[2] = 2;
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    nd.ip[FGQ_P_KERNEL + 1] = 0;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    nd.ip[FGQ_P_STRIDE] = -2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    nd.ip[FGQ_P_KERNEL] = 5; /* larger than the input */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    nd.ip[FGQ_P_NSPATIAL] = 0;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    set_params(&nd, &pc, FGQ_OP_MAXPOOL);
    yv.dims[1] = 2; /* channel count changed */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    yv.dims[1] = 1;
    yv.rank = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    yv.rank = 4;
    xv.dtype = FGQ_DT_S8;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_UNSUPPORTED);
    xv.dtype = FGQ_DT_F32;
    xv.rank = 9;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
}

/* MaxPool's vector rows (pool_f32.c, AVX2: the interior columns 8 at a time, stride 1 or 2)
 * against the scalar loops (FGQ_KERNELS_REF): the same bytes, on random 2-D shapes with pads,
 * dilations and rows around the vector's 8 (and the stride-2 read of 15), inputs with NaN, ±0,
 * ±Inf (the ordered compare skips a NaN tap in both). */
static void test_maxpool_vector_vs_ref(void)
{
    uint32_t seed = 4711u;
#define R(lo, hi) ((int64_t)(lo) + (int64_t)(((uint32_t)((trand(&seed) + 1.0f) * 1e6f)) % (uint32_t)((hi) - (lo) + 1)))
    for (int it = 0; it < 200; it++) {
        pool_case pc;
        memset(&pc, 0, sizeof pc);
        pc.ns = 2;
        pc.n = R(1, 2);
        pc.c = R(1, 3);
        for (int i = 0; i < 2; i++) {
            pc.k[i] = R(1, 4);
            pc.s[i] = R(1, 2);
            pc.d[i] = R(1, 2);
            pc.pb[i] = R(0, pc.k[i] - 1 < 2 ? pc.k[i] - 1 : 2);
            pc.pe[i] = R(0, pc.k[i] - 1 < 2 ? pc.k[i] - 1 : 2);
            const int64_t ext = pc.d[i] * (pc.k[i] - 1) + 1;
            pc.in[i] = R(ext > 1 ? ext : 1, 40);
            pc.out[i] = (pc.in[i] + pc.pb[i] + pc.pe[i] - ext) / pc.s[i] + 1;
        }
        fgq_tensor_view xv, yv;
        views(&pc, NULL, NULL, &xv, &yv);
        const int64_t nx = tnumel(&xv), ny = tnumel(&yv);
        float *x = malloc(sizeof(float) * (size_t)(nx + 2 * ny)), *y = x + nx, *ref = y + ny;
        tfill(x, nx, &seed);
        for (int64_t j = 0; j < nx; j += 7)
            x[j] = j % 3 == 0 ? NAN : j % 3 == 1 ? -0.0f : (j & 8 ? INFINITY : -INFINITY);
        xv.data = x;
        tnode nd;
        set_params(&nd, &pc, FGQ_OP_MAXPOOL);
        const fgq_tensor_view *in[1] = { &xv };
        CHECK_MSG(op_ref_auto_same(&nd, in, &yv, ref, y),
                  "in %lldx%lld k %lldx%lld s %lld/%lld d %lld/%lld pads %lld,%lld/%lld,%lld: AUTO differs from REF",
                  (long long)pc.in[0], (long long)pc.in[1], (long long)pc.k[0], (long long)pc.k[1], (long long)pc.s[0],
                  (long long)pc.s[1], (long long)pc.d[0], (long long)pc.d[1], (long long)pc.pb[0], (long long)pc.pe[0],
                  (long long)pc.pb[1], (long long)pc.pe[1]);
        free(x);
    }
#undef R
}

int main(void)
{
    RUN(test_onnx_and_ort_values);
    RUN(test_against_naive);
    RUN(test_maxpool_vector_vs_ref);
    RUN(test_global_avgpool);
    RUN(test_rejects);
    return FGQ_TEST_DONE();
}
