/*
 * test_ops_conv.c — Conv f32 kernel.
 * Oracles: (1) ONNX's test_basic_conv_with_padding / test_conv_with_strides_*
 * cases worked by hand on a 0..24 ramp with an all-ones 3x3 kernel; (2) a naive
 * loop nest written straight from the ONNX Conv definition (every output sums
 * W·X over its group's channels and kernel taps, skipping taps in the padding),
 * in double, over 1-D/2-D/3-D shapes with groups, depthwise, strides,
 * dilations, asymmetric pads, optional bias and fused activations;
 * (3) check() rejecting bad params and shapes.
 */
#include "test_conv_common.h"

#include <stdlib.h>

/* Direct ONNX definition, one output element at a time, spatial dims as a 3-D
 * index with unused axes of size 1. */
static void conv_naive(const conv_case *cc, const float *x, const float *w, const float *b, float *y)
{
    int64_t I[3] = { 1, 1, 1 }, O[3] = { 1, 1, 1 }, K[3] = { 1, 1, 1 }, S[3] = { 1, 1, 1 }, D[3] = { 1, 1, 1 },
            P[3] = { 0, 0, 0 };
    for (int i = 0; i < cc->ns; i++) {
        int j = 3 - cc->ns + i;
        I[j] = cc->in[i];
        O[j] = out_dim(cc, i);
        K[j] = cc->k[i];
        S[j] = cc->s[i];
        D[j] = cc->d[i];
        P[j] = cc->pb[i];
    }
    const int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
    for (int64_t n = 0; n < cc->n; n++)
        for (int64_t m = 0; m < cc->m; m++)
            for (int64_t o0 = 0; o0 < O[0]; o0++)
                for (int64_t o1 = 0; o1 < O[1]; o1++)
                    for (int64_t o2 = 0; o2 < O[2]; o2++) {
                        double acc = b != NULL ? b[m] : 0.0;
                        for (int64_t c = 0; c < cg; c++)
                            for (int64_t k0 = 0; k0 < K[0]; k0++)
                                for (int64_t k1 = 0; k1 < K[1]; k1++)
                                    for (int64_t k2 = 0; k2 < K[2]; k2++) {
                                        int64_t i0 = o0 * S[0] - P[0] + k0 * D[0];
                                        int64_t i1 = o1 * S[1] - P[1] + k1 * D[1];
                                        int64_t i2 = o2 * S[2] - P[2] + k2 * D[2];
                                        if (i0 < 0 || i0 >= I[0] || i1 < 0 || i1 >= I[1] || i2 < 0 || i2 >= I[2])
                                            continue;
                                        int64_t ci = (m / mg) * cg + c;
                                        double xv = x[(((n * cc->c + ci) * I[0] + i0) * I[1] + i1) * I[2] + i2];
                                        double wv = w[(((m * cg + c) * K[0] + k0) * K[1] + k1) * K[2] + k2];
                                        acc += xv * wv;
                                    }
                        if (cc->act == FGQ_ACT_RELU && acc < 0)
                            acc = 0;
                        if (cc->act == FGQ_ACT_CLIP)
                            acc = acc < -0.5 ? -0.5 : acc > 0.75 ? 0.75 : acc;
                        y[(((n * cc->m + m) * O[0] + o0) * O[1] + o1) * O[2] + o2] = (float)acc;
                    }
}

static void run_case(const conv_case *cc, uint32_t seed)
{
    fgq_tensor_view x, w, b, y;
    conv_views(cc, &x, &w, &b, &y);
    int64_t nx = tnumel(&x), nw = tnumel(&w), ny = tnumel(&y);
    float *buf = malloc(sizeof(float) * (size_t)(nx + nw + cc->m + 2 * ny));
    x.data = buf;
    w.data = buf + nx;
    b.data = buf + nx + nw;
    y.data = buf + nx + nw + cc->m;
    float *ref = buf + nx + nw + cc->m + ny;
    tfill(buf, nx + nw + cc->m, &seed);
    conv_naive(cc, x.data, w.data, cc->bias ? b.data : NULL, ref);

    tnode nd;
    set_params(&nd, cc);
    const fgq_tensor_view *in[3] = { &x, &w, &b };
    CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
    double maxerr = 0;
    for (int64_t i = 0; i < ny; i++) {
        double e = fabs((double)((float *)y.data)[i] - ref[i]);
        maxerr = e > maxerr ? e : maxerr;
    }
    CHECK_MSG(maxerr < 1e-4, "ns=%d c=%lld m=%lld g=%lld: max error %g", cc->ns, (long long)cc->c,
              (long long)cc->m, (long long)cc->group, maxerr);
    free(buf);
}

/* ONNX test_basic_conv_* / test_conv_with_strides_*: x = 0..34 ramp, W = ones(3x3). */
static void test_onnx_examples(void)
{
    float x[35], w[9], y[25];
    for (int i = 0; i < 35; i++)
        x[i] = (float)i;
    for (int i = 0; i < 9; i++)
        w[i] = 1.0f;
    int64_t xd[4] = { 1, 1, 5, 5 }, wd[4] = { 1, 1, 3, 3 }, yd[4] = { 1, 1, 5, 5 };
    fgq_tensor_view xv = tview(x, 4, xd), wv = tview(w, 4, wd), yv = tview(y, 4, yd);
    const fgq_tensor_view *in[2] = { &xv, &wv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_CONV, 2);
    nd.ip[FGQ_P_NSPATIAL] = 2;
    nd.ip[FGQ_P_GROUP] = 1;
    for (int i = 0; i < 2; i++) {
        nd.ip[FGQ_P_KERNEL + i] = 3;
        nd.ip[FGQ_P_STRIDE + i] = 1;
        nd.ip[FGQ_P_DILATION + i] = 1;
        nd.ip[FGQ_P_PAD_BEGIN + i] = 1;
        nd.ip[FGQ_P_PAD_END + i] = 1;
    }
    /* with padding 1: expected output from the ONNX operator docs */
    static const float want_pad[25] = { 12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108,
                                        117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84 };
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    for (int i = 0; i < 25; i++)
        CHECK_NEAR(y[i], want_pad[i], 1e-4);

    /* 7x5 input, strides 2, pads [1,0,1,0] (asymmetric: H padded, W not) -> 4x2 */
    xd[2] = 7;
    xd[3] = 5;
    yd[2] = 4;
    yd[3] = 2;
    xv = tview(x, 4, xd);
    yv = tview(y, 4, yd);
    for (int i = 0; i < 2; i++)
        nd.ip[FGQ_P_STRIDE + i] = 2;
    nd.ip[FGQ_P_PAD_BEGIN + 1] = 0;
    nd.ip[FGQ_P_PAD_END + 1] = 0;
    static const float want_asym[8] = { 21, 33, 99, 117, 189, 207, 171, 183 };
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(y[i], want_asym[i], 1e-4);
}

static void test_against_naive(void)
{
    static const conv_case cases[] = {
        /* ns  n  c  m  g   in          k          s          d          pb         pe      bias act */
        { 2, 1, 1, 1, 1, { 5, 5 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 0, 0 },
        { 2, 2, 4, 6, 1, { 9, 7 }, { 3, 2 }, { 2, 1 }, { 1, 2 }, { 1, 0 }, { 2, 1 }, 1, 0 },
        { 2, 1, 4, 6, 2, { 8, 8 }, { 3, 3 }, { 1, 2 }, { 2, 1 }, { 2, 1 }, { 0, 3 }, 1, FGQ_ACT_RELU },
        { 2, 1, 6, 6, 6, { 7, 9 }, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1, FGQ_ACT_CLIP }, /* depthwise */
        { 2, 1, 3, 6, 3, { 6, 6 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 0, 0 }, { 0, 0 }, 0, 0 },             /* 1x1, multiplier 2 */
        { 2, 1, 2, 3, 1, { 4, 4 }, { 3, 3 }, { 3, 3 }, { 1, 1 }, { 4, 0 }, { 0, 4 }, 1, 0 },             /* pads > kernel */
        { 1, 2, 3, 4, 1, { 11 }, { 3 }, { 2 }, { 2 }, { 1 }, { 2 }, 1, FGQ_ACT_RELU },
        { 1, 1, 4, 4, 4, { 16 }, { 5 }, { 1 }, { 1 }, { 2 }, { 2 }, 0, 0 },
        { 3, 1, 2, 4, 2, { 5, 6, 4 }, { 2, 3, 2 }, { 1, 2, 1 }, { 2, 1, 1 }, { 1, 1, 0 }, { 0, 1, 1 }, 1, 0 },
        { 3, 2, 3, 2, 1, { 4, 4, 4 }, { 3, 3, 3 }, { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 }, 1, FGQ_ACT_CLIP },
        { 2, 1, 8, 16, 1, { 28, 28 }, { 5, 5 }, { 1, 1 }, { 1, 1 }, { 2, 2 }, { 2, 2 }, 1, FGQ_ACT_RELU },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 1234u + (uint32_t)i);
}

static void test_rejects(void)
{
    conv_case cc = { 2, 1, 4, 6, 2, { 8, 8 }, { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 1, 1 }, 1, 0 };
    int64_t xd[4] = { 1, 4, 8, 8 }, wd[4] = { 6, 2, 3, 3 }, yd[4] = { 1, 6, 8, 8 }, bd[1] = { 6 };
    fgq_tensor_view x = tview(NULL, 4, xd), w = tview(NULL, 4, wd), b = tview(NULL, 1, bd), y = tview(NULL, 4, yd);
    const fgq_tensor_view *in[3] = { &x, &w, &b };
    tnode nd;
    fgq_error err;

    set_params(&nd, &cc);
    CHECK(op_check(&nd, in, &y, &err) == FGQ_OK);

    set_params(&nd, &cc);
    nd.ip[FGQ_P_GROUP] = 3; /* does not divide C_in = 4 */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    nd.ip[FGQ_P_GROUP] = 0;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    nd.ip[FGQ_P_GROUP] = 1; /* W dim 1 (2) × group (1) != C_in (4) */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);

    set_params(&nd, &cc);
    nd.ip[FGQ_P_KERNEL] = 2; /* disagrees with W */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_STRIDE + 1] = 0;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_DILATION] = -1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_PAD_END] = -1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_PAD_BEGIN] = 2000000000;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_NSPATIAL] = 4;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_NSPATIAL] = 1; /* X has rank 4 */
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    set_params(&nd, &cc);
    nd.ip[FGQ_P_ACT] = 7;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);

    set_params(&nd, &cc);
    yd[3] = 9; /* wrong output width */
    y = tview(NULL, 4, yd);
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    yd[3] = 8;
    yd[1] = 5; /* wrong output channels */
    y = tview(NULL, 4, yd);
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    yd[1] = 6;
    y = tview(NULL, 4, yd);

    bd[0] = 5; /* bias length */
    b = tview(NULL, 1, bd);
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_SHAPE);
    bd[0] = 6;
    b = tview(NULL, 1, bd);

    x.dtype = FGQ_DT_U8;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_UNSUPPORTED);
    x.dtype = FGQ_DT_F32;

    /* element count overflow: 2^62 elements */
    int64_t huge[4] = { (int64_t)1 << 31, 4, (int64_t)1 << 31, 1 };
    fgq_tensor_view xh = tview(NULL, 4, huge);
    const fgq_tensor_view *inh[3] = { &xh, &w, &b };
    CHECK_REJECTS(&nd, inh, &y, FGQ_ERR_FORMAT);

    /* kernel larger than the padded input */
    int64_t xs[4] = { 1, 4, 1, 1 }, ys[4] = { 1, 6, 1, 1 };
    fgq_tensor_view xsm = tview(NULL, 4, xs), ysm = tview(NULL, 4, ys);
    const fgq_tensor_view *ins[3] = { &xsm, &w, &b };
    nd.ip[FGQ_P_PAD_BEGIN] = nd.ip[FGQ_P_PAD_END] = 0;
    CHECK_REJECTS(&nd, ins, &ysm, FGQ_ERR_SHAPE);

    set_params(&nd, &cc);
    nd.v.n_inputs = 4;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
    nd.v.n_inputs = 1;
    CHECK_REJECTS(&nd, in, &y, FGQ_ERR_FORMAT);
}

int main(void)
{
    RUN(test_onnx_examples);
    RUN(test_against_naive);
    RUN(test_rejects);
    return FGQ_TEST_DONE();
}
