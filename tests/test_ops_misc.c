/*
 * test_ops_misc.c — activations (Relu, Clip, LeakyRelu, Sigmoid, Tanh),
 * BatchNormalization, Softmax, Reshape, Transpose, Concat, and the op table.
 * Oracles: the ONNX formulas evaluated in double per element (sigmoid
 * 1/(1+e^-x), tanh, y = scale·(x−mean)/sqrt(var+eps)+B, softmax
 * e^(x−max)/Σ over the axis or the flattened tail), the ONNX node-test
 * examples worked by hand (clip_example, leakyrelu_example, softmax_example,
 * concat_2d_axis_1, transpose of a 2x3x4 ramp by index arithmetic), and check()
 * rejections.
 */
#include "test_ops_common.h"

#include <stdlib.h>

static void unary(fgq_op op, float *x, float *y, int64_t n, tnode *nd)
{
    fgq_tensor_view xv = tview(x, 1, &n), yv = tview(y, 1, &n);
    const fgq_tensor_view *in[1] = { &xv };
    nd->v.op = op;
    CHECK(op_check_run(nd, in, &yv) == FGQ_OK);
}

static void test_activations(void)
{
    float x[7] = { -60.0f, -3.0f, -0.5f, 0.0f, 0.5f, 3.0f, 60.0f }, y[7];
    tnode nd;
    tnode_init(&nd, FGQ_OP_RELU, 1);
    unary(FGQ_OP_RELU, x, y, 7, &nd);
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(y[i], x[i] > 0 ? x[i] : 0, 0);
    unary(FGQ_OP_SIGMOID, x, y, 7, &nd);
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(y[i], 1.0 / (1.0 + exp(-(double)x[i])), 1e-7);
    unary(FGQ_OP_TANH, x, y, 7, &nd);
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(y[i], tanh((double)x[i]), 1e-7);
    nd.fp[0] = 0.1f; /* leakyrelu_example: alpha 0.1 */
    unary(FGQ_OP_LEAKY_RELU, x, y, 7, &nd);
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(y[i], x[i] < 0 ? 0.1f * x[i] : x[i], 1e-6);
    /* clip_example: min -1, max 1 on [-2, 0, 2] -> [-1, 0, 1] */
    float cx[3] = { -2, 0, 2 }, cy[3];
    nd.fp[0] = -1.0f;
    nd.fp[1] = 1.0f;
    unary(FGQ_OP_CLIP, cx, cy, 3, &nd);
    CHECK_NEAR(cy[0], -1, 0);
    CHECK_NEAR(cy[1], 0, 0);
    CHECK_NEAR(cy[2], 1, 0);
    /* Clip with bounds as tensors (opset >= 11 inputs): override the fparams; in place */
    float lo = -0.5f, hi = 1.5f;
    int64_t n3 = 3;
    fgq_tensor_view xv = tview(cx, 1, &n3), lov = tview(&lo, 0, NULL), hiv = tview(&hi, 0, NULL);
    const fgq_tensor_view *in3[3] = { &xv, &lov, &hiv };
    nd.v.op = FGQ_OP_CLIP;
    nd.v.n_inputs = 3;
    CHECK(op_check_run(&nd, in3, &xv) == FGQ_OK);
    CHECK_NEAR(cx[0], -0.5, 0);
    CHECK_NEAR(cx[1], 0, 0);
    CHECK_NEAR(cx[2], 1.5, 0);
    const fgq_tensor_view *in_max_only[3] = { &xv, NULL, &hiv }; /* clip_default_max */
    hi = 0.25f;
    cx[0] = -2.0f;
    CHECK(op_check_run(&nd, in_max_only, &xv) == FGQ_OK);
    CHECK_NEAR(cx[0], -1, 0); /* fparams min -1 kept */
    CHECK_NEAR(cx[2], 0.25, 0);
    int64_t two = 2;
    fgq_tensor_view bad = tview(&lo, 1, &two);
    const fgq_tensor_view *in_bad[3] = { &xv, &bad, &hiv };
    CHECK_REJECTS(&nd, in_bad, &xv, FGQ_ERR_SHAPE);
    nd.v.n_inputs = 1;
    nd.fp[0] = NAN;
    CHECK_REJECTS(&nd, in3, &xv, FGQ_ERR_VALUE);
    nd.fp[0] = 0;
    int64_t four = 4;
    fgq_tensor_view y4 = tview(cy, 1, &four);
    nd.v.op = FGQ_OP_RELU;
    CHECK_REJECTS(&nd, in3, &y4, FGQ_ERR_SHAPE);
}

static void test_batchnorm(void)
{
    enum { N = 2, C = 3, HW = 20 };
    float x[N * C * HW], y[N * C * HW];
    float scale[C] = { 1.5f, -0.5f, 2.0f }, bias[C] = { 0.1f, 0.2f, -0.3f }, mean[C] = { 0.0f, 0.5f, -0.25f },
          var[C] = { 1.0f, 0.25f, 2.0f };
    uint32_t seed = 3;
    tfill(x, N * C * HW, &seed);
    int64_t xd[4] = { N, C, 4, 5 }, cd[1] = { C };
    fgq_tensor_view xv = tview(x, 4, xd), yv = tview(y, 4, xd), sv = tview(scale, 1, cd), bv = tview(bias, 1, cd),
                    mv = tview(mean, 1, cd), vv = tview(var, 1, cd);
    const fgq_tensor_view *in[5] = { &xv, &sv, &bv, &mv, &vv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_BATCHNORM, 5);
    nd.fp[0] = 0.01f;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                int k = (n * C + c) * HW + i;
                double want = scale[c] * (x[k] - mean[c]) / sqrt((double)var[c] + 0.01f) + bias[c];
                CHECK_NEAR(y[k], want, 1e-5);
            }
    nd.fp[0] = -1.0f;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_VALUE);
    nd.fp[0] = 1e-5f;
    cd[0] = 4;
    fgq_tensor_view v4 = tview(var, 1, cd);
    const fgq_tensor_view *in_bad[5] = { &xv, &sv, &bv, &mv, &v4 };
    CHECK_REJECTS(&nd, in_bad, &yv, FGQ_ERR_SHAPE);
    nd.v.n_inputs = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
}

/* Softmax oracle in double: over `len` elements `stride` apart. */
static void softmax_case(int legacy, int32_t axis, uint32_t seed)
{
    float x[3 * 4 * 5], y[3 * 4 * 5];
    int64_t d[3] = { 3, 4, 5 };
    tfill(x, 60, &seed);
    for (int i = 0; i < 60; i++)
        x[i] *= 20.0f;
    fgq_tensor_view xv = tview(x, 3, d), yv = tview(y, 3, d);
    const fgq_tensor_view *in[1] = { &xv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_SOFTMAX, 1);
    nd.ip[0] = axis;
    nd.ip[1] = legacy;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    int64_t outer = 1, len = 1, stride = 1;
    for (int i = 0; i < axis; i++)
        outer *= d[i];
    if (legacy) {
        for (int i = axis; i < 3; i++)
            len *= d[i];
    } else {
        len = d[axis];
        for (int i = axis + 1; i < 3; i++)
            stride *= d[i];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t s = 0; s < stride; s++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t i = 0; i < len; i++)
                mx = fmax(mx, x[(o * len + i) * stride + s]);
            for (int64_t i = 0; i < len; i++)
                sum += exp(x[(o * len + i) * stride + s] - mx);
            for (int64_t i = 0; i < len; i++) {
                int64_t k = (o * len + i) * stride + s;
                CHECK_NEAR(y[k], exp(x[k] - mx) / sum, 1e-6);
            }
        }
}

static void test_softmax(void)
{
    for (int32_t axis = 0; axis < 3; axis++) {
        softmax_case(0, axis, 100u + (uint32_t)axis);
        softmax_case(1, axis, 200u + (uint32_t)axis);
    }
    /* softmax_large_number: [[0,1,2,3],[10000,10001,10002,10003]] rows equal */
    float x[8] = { 0, 1, 2, 3, 10000, 10001, 10002, 10003 }, y[8];
    int64_t d[2] = { 2, 4 };
    fgq_tensor_view xv = tview(x, 2, d), yv = tview(y, 2, d);
    const fgq_tensor_view *in[1] = { &xv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_SOFTMAX, 1);
    nd.ip[0] = 1;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    static const float want[4] = { 0.032058604f, 0.087144315f, 0.23688282f, 0.64391426f };
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(y[i], want[i], 1e-6);
        CHECK_NEAR(y[4 + i], want[i], 1e-6);
    }
    nd.ip[0] = 2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[0] = -1;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[0] = 1;
    nd.ip[1] = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
}

static void test_reshape(void)
{
    float x[6] = { 1, 2, 3, 4, 5, 6 }, y[6] = { 0 };
    int64_t xd[2] = { 2, 3 }, yd[3] = { 3, 1, 2 };
    fgq_tensor_view xv = tview(x, 2, xd), yv = tview(y, 3, yd);
    const fgq_tensor_view *in[1] = { &xv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_RESHAPE, 1);
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    CHECK(memcmp(x, y, sizeof x) == 0);
    fgq_tensor_view same = tview(x, 1, &yd[0]); /* in place: no copy, data unchanged */
    same.dims[0] = 6;
    CHECK(op_check_run(&nd, in, &same) == FGQ_OK);
    CHECK_NEAR(x[5], 6, 0);
    unsigned char u[4] = { 1, 2, 3, 4 }, v[4] = { 0 };
    int64_t d4 = 4, d22[2] = { 2, 2 };
    fgq_tensor_view uv = tview(u, 1, &d4), vv = tview(v, 2, d22);
    uv.dtype = vv.dtype = FGQ_DT_U8;
    const fgq_tensor_view *inu[1] = { &uv };
    CHECK(op_check_run(&nd, inu, &vv) == FGQ_OK);
    CHECK(v[3] == 4);
    vv.dtype = FGQ_DT_S8;
    CHECK_REJECTS(&nd, inu, &vv, FGQ_ERR_FORMAT);
    yd[0] = 4;
    yv = tview(y, 3, yd);
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
}

static void test_transpose(void)
{
    float x[24], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    int64_t xd[3] = { 2, 3, 4 };
    static const int32_t perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    for (int p = 0; p < 6; p++) {
        int64_t yd[3];
        for (int i = 0; i < 3; i++)
            yd[i] = xd[perms[p][i]];
        fgq_tensor_view xv = tview(x, 3, xd), yv = tview(y, 3, yd);
        const fgq_tensor_view *in[1] = { &xv };
        tnode nd;
        tnode_init(&nd, FGQ_OP_TRANSPOSE, 1);
        for (int i = 0; i < 3; i++)
            nd.ip[i] = perms[p][i];
        CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
        /* y[i0,i1,i2] = x[j] with j[perm[a]] = i_a */
        int ok = 1;
        for (int64_t i0 = 0; i0 < yd[0]; i0++)
            for (int64_t i1 = 0; i1 < yd[1]; i1++)
                for (int64_t i2 = 0; i2 < yd[2]; i2++) {
                    int64_t j[3], ii[3] = { i0, i1, i2 };
                    for (int a = 0; a < 3; a++)
                        j[perms[p][a]] = ii[a];
                    ok &= y[(i0 * yd[1] + i1) * yd[2] + i2] == x[(j[0] * 3 + j[1]) * 4 + j[2]];
                }
        CHECK_MSG(ok, "perm %d", p);
        if (p == 5) {
            nd.ip[2] = 2; /* not a permutation */
            CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
            nd.ip[2] = 3;
            CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
            nd.ip[2] = 0;
            yv.dims[0] = 2;
            CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
        }
    }
}

static void test_concat(void)
{
    /* concat_2d_axis_1: [[1,2],[3,4]] ++ [[5,6],[7,8]] -> [[1,2,5,6],[3,4,7,8]]; a third [2,1] input */
    float a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 }, c[2] = { 9, 10 }, y[10];
    int64_t d22[2] = { 2, 2 }, d21[2] = { 2, 1 }, yd[2] = { 2, 5 };
    fgq_tensor_view av = tview(a, 2, d22), bv = tview(b, 2, d22), cv = tview(c, 2, d21), yv = tview(y, 2, yd);
    const fgq_tensor_view *in[3] = { &av, &bv, &cv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_CONCAT, 3);
    nd.ip[0] = 1;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    static const float want1[10] = { 1, 2, 5, 6, 9, 3, 4, 7, 8, 10 };
    for (int i = 0; i < 10; i++)
        CHECK_NEAR(y[i], want1[i], 0);
    /* axis 0: rows stacked */
    nd.v.n_inputs = 2;
    nd.ip[0] = 0;
    int64_t y0[2] = { 4, 2 };
    fgq_tensor_view yv0 = tview(y, 2, y0);
    CHECK(op_check_run(&nd, in, &yv0) == FGQ_OK);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(y[i], i + 1, 0);
    nd.v.n_inputs = 3; /* [2,1] cannot stack on axis 0 */
    y0[0] = 5;
    yv0 = tview(y, 2, y0);
    CHECK_REJECTS(&nd, in, &yv0, FGQ_ERR_SHAPE);
    nd.ip[0] = 1;
    CHECK_REJECTS(&nd, in, &yv0, FGQ_ERR_SHAPE); /* output dims wrong for axis 1 */
    nd.ip[0] = 2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[0] = 1;
    cv.rank = 1;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    cv.rank = 2;
    nd.v.n_inputs = 0;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
}

static void test_op_table(void)
{
    for (uint32_t op = 1; op < (uint32_t)FGQ_OP_COUNT_; op++) {
        const fgq_op_impl *impl = fgq_op_lookup(op);
        CHECK_MSG(impl != NULL && impl->check != NULL && impl->run != NULL, "op %u", op);
        CHECK(impl != NULL && strcmp(impl->name, fgq_op_name((fgq_op)op)) == 0);
    }
    CHECK(fgq_op_lookup(0) == NULL);
    CHECK(fgq_op_lookup((uint32_t)FGQ_OP_COUNT_) == NULL);
    CHECK(fgq_op_lookup(0xffffffffu) == NULL);
    CHECK(strcmp(fgq_op_name(FGQ_OP_CONV), "Conv") == 0);
    CHECK(strcmp(fgq_op_name(FGQ_OP_INVALID), "invalid op") == 0);
    CHECK(fgq_op_lookup(FGQ_OP_CONCAT)->max_inputs == -1);
}

int main(void)
{
    RUN(test_activations);
    RUN(test_batchnorm);
    RUN(test_softmax);
    RUN(test_reshape);
    RUN(test_transpose);
    RUN(test_concat);
    RUN(test_op_table);
    return FGQ_TEST_DONE();
}
