/*
 * test_ops_eltwise.c — Add, Sub, Mul, Div with numpy broadcasting.
 * Oracles: a per-element reference that maps each output index to A's and
 * B's index by the numpy rule (right-align, size-1 dims read index 0), over
 * equal shapes, scalars, [C,1,1]-style channel broadcasts, both-sided
 * broadcasts and rank 8; a hand-computed case with fused relu and clip;
 * check() rejections.
 */
#include "test_ops_common.h"

#include <stdlib.h>

static double ref_op(fgq_op op, double a, double b)
{
    switch (op) {
    case FGQ_OP_ADD: return a + b;
    case FGQ_OP_SUB: return a - b;
    case FGQ_OP_MUL: return a * b;
    default: return a / b;
    }
}

static int64_t bcast_index(const fgq_tensor_view *t, const int64_t *idx, int32_t out_rank)
{
    int64_t off = 0;
    for (int32_t i = 0; i < t->rank; i++) {
        int64_t d = t->dims[i], k = idx[out_rank - t->rank + i];
        off = off * d + (d == 1 ? 0 : k);
    }
    return off;
}

static void bcast_case(fgq_op op, int32_t ra, const int64_t *ad, int32_t rb, const int64_t *bd, int32_t ry,
                       const int64_t *yd, uint32_t seed)
{
    fgq_tensor_view av = tview(NULL, ra, ad), bv = tview(NULL, rb, bd), yv = tview(NULL, ry, yd);
    int64_t na = tnumel(&av), nb = tnumel(&bv), ny = tnumel(&yv);
    float *a = malloc(sizeof(float) * (size_t)na), *b = malloc(sizeof(float) * (size_t)nb);
    float *y = malloc(sizeof(float) * (size_t)ny);
    av.data = a;
    bv.data = b;
    yv.data = y;
    tfill(a, na, &seed);
    tfill(b, nb, &seed);
    if (op == FGQ_OP_DIV)
        for (int64_t i = 0; i < nb; i++)
            b[i] = b[i] < 0 ? b[i] - 0.5f : b[i] + 0.5f; /* keep divisors away from 0 */
    tnode nd;
    tnode_init(&nd, op, 2);
    const fgq_tensor_view *in[2] = { &av, &bv };
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    double maxerr = 0;
    for (int64_t t = 0; t < ny; t++) {
        int64_t idx[8], rem = t;
        for (int32_t i = ry - 1; i >= 0; i--) {
            idx[i] = rem % yd[i];
            rem /= yd[i];
        }
        double want = ref_op(op, a[bcast_index(&av, idx, ry)], b[bcast_index(&bv, idx, ry)]);
        double e = fabs(y[t] - want);
        maxerr = e > maxerr ? e : maxerr;
    }
    CHECK_MSG(maxerr < 1e-5, "op %d ranks %d,%d: max error %g", (int)op, ra, rb, maxerr);
    free(a);
    free(b);
    free(y);
}

static void test_broadcasting(void)
{
    const fgq_op ops[4] = { FGQ_OP_ADD, FGQ_OP_SUB, FGQ_OP_MUL, FGQ_OP_DIV };
    for (int o = 0; o < 4; o++) {
        uint32_t s = 11u * (uint32_t)(o + 1);
        int64_t d345[3] = { 3, 4, 5 }, d5[1] = { 5 }, d411[3] = { 4, 1, 1 }, d1[1] = { 1 };
        bcast_case(ops[o], 3, d345, 3, d345, 3, d345, s++);      /* same shape */
        bcast_case(ops[o], 3, d345, 1, d5, 3, d345, s++);        /* add_bcast */
        bcast_case(ops[o], 1, d5, 3, d345, 3, d345, s++);        /* reversed */
        bcast_case(ops[o], 3, d345, 0, NULL, 3, d345, s++);      /* scalar */
        bcast_case(ops[o], 0, NULL, 1, d1, 1, d1, s++);          /* scalar with [1] */
        int64_t x[4] = { 2, 4, 3, 3 }, yd[4] = { 2, 4, 3, 3 };
        bcast_case(ops[o], 4, x, 3, d411, 4, yd, s++);            /* per-channel */
        int64_t a2[3] = { 3, 1, 5 }, b2[2] = { 4, 1 }, y2[3] = { 3, 4, 5 };
        bcast_case(ops[o], 3, a2, 2, b2, 3, y2, s++);             /* both sides broadcast */
        int64_t a8[8] = { 2, 1, 2, 1, 3, 1, 2, 2 }, b8[7] = { 2, 1, 2, 3, 1, 1, 2 }, y8[8] = { 2, 2, 2, 2, 3, 1, 2, 2 };
        bcast_case(ops[o], 8, a8, 7, b8, 8, y8, s++);             /* rank 8 */
        int64_t a9[2] = { 6, 1 }, b9[2] = { 1, 1 }, y9[2] = { 6, 1 };
        bcast_case(ops[o], 2, a9, 2, b9, 2, y9, s++);             /* inner dim 1 */
    }
}

static void test_fused_act(void)
{
    float a[4] = { -2, -0.5f, 0.5f, 2 }, b[1] = { 0.25f }, y[4];
    int64_t d4[1] = { 4 }, d1[1] = { 1 };
    fgq_tensor_view av = tview(a, 1, d4), bv = tview(b, 1, d1), yv = tview(y, 1, d4);
    const fgq_tensor_view *in[2] = { &av, &bv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_ADD, 2);
    nd.ip[0] = FGQ_ACT_RELU;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    CHECK_NEAR(y[0], 0, 0);
    CHECK_NEAR(y[1], 0, 0);
    CHECK_NEAR(y[2], 0.75, 0);
    CHECK_NEAR(y[3], 2.25, 0);
    tnode_init(&nd, FGQ_OP_MUL, 2);
    nd.ip[0] = FGQ_ACT_CLIP;
    nd.fp[FGQ_PF_ACT0] = -0.2f;
    nd.fp[FGQ_PF_ACT1] = 0.3f;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK); /* a·0.25 = -0.5, -0.125, 0.125, 0.5 */
    CHECK_NEAR(y[0], -0.2f, 0);
    CHECK_NEAR(y[1], -0.125, 0);
    CHECK_NEAR(y[2], 0.125, 0);
    CHECK_NEAR(y[3], 0.3f, 0);
    /* in place: out aliases A */
    tnode_init(&nd, FGQ_OP_SUB, 2);
    fgq_tensor_view yalias = tview(a, 1, d4);
    CHECK(op_check_run(&nd, in, &yalias) == FGQ_OK);
    CHECK_NEAR(a[0], -2.25, 0);
    CHECK_NEAR(a[3], 1.75, 0);
}

static void test_rejects(void)
{
    int64_t ad[3] = { 3, 4, 5 }, bd[1] = { 4 }, yd[3] = { 3, 4, 5 };
    fgq_tensor_view av = tview(NULL, 3, ad), bv = tview(NULL, 1, bd), yv = tview(NULL, 3, yd);
    const fgq_tensor_view *in[2] = { &av, &bv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_ADD, 2);
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE); /* 5 vs 4 */
    bd[0] = 5;
    bv = tview(NULL, 1, bd);
    fgq_error err;
    CHECK(op_check(&nd, in, &yv, &err) == FGQ_OK);
    yd[0] = 1; /* output must be the broadcast shape exactly */
    yv = tview(NULL, 3, yd);
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    yd[0] = 3;
    yv = tview(NULL, 3, yd);
    nd.ip[0] = 9;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[0] = 0;
    nd.v.n_inputs = 1;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.v.n_inputs = 2;
    nd.v.n_outputs = 2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.v.n_outputs = 1;
    bv.dims[0] = -5;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    bv.dims[0] = 5;
    const fgq_tensor_view *missing[2] = { &av, NULL };
    CHECK_REJECTS(&nd, missing, &yv, FGQ_ERR_FORMAT);
}

int main(void)
{
    RUN(test_broadcasting);
    RUN(test_fused_act);
    RUN(test_rejects);
    return FGQ_TEST_DONE();
}
