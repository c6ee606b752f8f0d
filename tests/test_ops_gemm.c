/*
 * test_ops_gemm.c — Gemm and MatMul f32 kernels.
 * Oracles: a naive triple loop in double written from the ONNX definitions
 * (Gemm: Y = alpha·op(A)·op(B) + beta·C with C broadcast; MatMul: numpy
 * matmul with 1-D promotion and batch broadcasting) over every transA/transB,
 * every C shape ONNX allows, fused activations; a hand-computed 2x2 case;
 * and check() rejections.
 */
#include "test_ops_common.h"

#include <stdlib.h>

static double act_ref(double v, int act)
{
    if (act == FGQ_ACT_RELU)
        return v < 0 ? 0 : v;
    if (act == FGQ_ACT_CLIP)
        return v < -0.25 ? -0.25 : v > 0.5 ? 0.5 : v;
    return v;
}

static void gemm_case(int64_t m, int64_t k, int64_t n, int ta, int tb, int c_rank, const int64_t *c_dims,
                      float alpha, float beta, int act, uint32_t seed)
{
    int64_t ad[2] = { ta ? k : m, ta ? m : k }, bd[2] = { tb ? n : k, tb ? k : n }, yd[2] = { m, n };
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
    float *c = malloc(sizeof(float) * (size_t)(m * n)), *y = malloc(sizeof(float) * (size_t)(m * n));
    fgq_tensor_view av = tview(a, 2, ad), bv = tview(b, 2, bd), cv = tview(c, c_rank, c_dims), yv = tview(y, 2, yd);
    tfill(a, m * k, &seed);
    tfill(b, k * n, &seed);
    tfill(c, tnumel(&cv), &seed);
    tnode nd;
    tnode_gemm(&nd, c_rank >= 0, ta, tb, act, alpha, beta);
    const fgq_tensor_view *in[3] = { &av, &bv, c_rank >= 0 ? &cv : NULL };
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    double maxerr = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            double cval = 0;
            if (c_rank >= 0) {
                /* C right-aligned against [M, N]; size-1 dims repeat */
                int64_t ci = c_rank == 2 && c_dims[0] != 1 ? i : 0;
                int64_t cn = c_rank >= 1 ? c_dims[c_rank - 1] : 1;
                int64_t cj = cn != 1 ? j : 0;
                cval = c[ci * cn + cj];
            }
            double want = act_ref(alpha * s + beta * cval, act);
            double e = fabs(y[i * n + j] - want);
            maxerr = e > maxerr ? e : maxerr;
        }
    CHECK_MSG(maxerr < 1e-4, "gemm %lldx%lldx%lld ta=%d tb=%d c_rank=%d: max error %g", (long long)m, (long long)k,
              (long long)n, ta, tb, c_rank, maxerr);
    free(a);
    free(b);
    free(c);
    free(y);
}

static void test_gemm_variants(void)
{
    const int64_t m = 5, k = 7, n = 6;
    const int64_t c_full[2] = { m, n }, c_row[2] = { 1, n }, c_col[2] = { m, 1 }, c_vec[1] = { n }, c_one[1] = { 1 },
                  c_11[2] = { 1, 1 };
    uint32_t seed = 7;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(m, k, n, ta, tb, -1, NULL, 1.0f, 1.0f, FGQ_ACT_NONE, seed++); /* no C */
            gemm_case(m, k, n, ta, tb, 2, c_full, 0.25f, 0.35f, FGQ_ACT_NONE, seed++);
            gemm_case(m, k, n, ta, tb, 2, c_row, 0.5f, 1.0f, FGQ_ACT_RELU, seed++);
            gemm_case(m, k, n, ta, tb, 2, c_col, 1.0f, 0.5f, FGQ_ACT_CLIP, seed++);
            gemm_case(m, k, n, ta, tb, 1, c_vec, 2.0f, 1.0f, FGQ_ACT_NONE, seed++);
            gemm_case(m, k, n, ta, tb, 1, c_one, 1.0f, 1.0f, FGQ_ACT_NONE, seed++);
            gemm_case(m, k, n, ta, tb, 0, NULL, 1.0f, 1.0f, FGQ_ACT_NONE, seed++); /* scalar C */
            gemm_case(m, k, n, ta, tb, 2, c_11, 1.0f, 0.0f, FGQ_ACT_NONE, seed++); /* beta 0 */
        }
    const int64_t c10[1] = { 10 };
    gemm_case(1, 784, 10, 0, 1, 1, c10, 1.0f, 1.0f, FGQ_ACT_NONE, seed++); /* FC layer, batch 1 */
    gemm_case(3, 1, 1, 1, 0, -1, NULL, 1.0f, 1.0f, FGQ_ACT_NONE, seed++);
}

/* [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; with C = [1, -100] and relu. */
static void test_gemm_hand(void)
{
    float a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 }, c[2] = { 1, -100 }, y[4];
    int64_t d2[2] = { 2, 2 }, d1[1] = { 2 };
    fgq_tensor_view av = tview(a, 2, d2), bv = tview(b, 2, d2), cv = tview(c, 1, d1), yv = tview(y, 2, d2);
    const fgq_tensor_view *in[3] = { &av, &bv, &cv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_GEMM, 3);
    nd.fp[FGQ_PF_ALPHA] = 1.0f;
    nd.fp[FGQ_PF_BETA] = 1.0f;
    nd.ip[FGQ_P_GEMM_ACT] = FGQ_ACT_RELU;
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
    CHECK_NEAR(y[0], 20, 0);
    CHECK_NEAR(y[1], 0, 0);
    CHECK_NEAR(y[2], 44, 0);
    CHECK_NEAR(y[3], 0, 0);
}

static void test_gemm_rejects(void)
{
    int64_t ad[2] = { 3, 4 }, bd[2] = { 4, 5 }, yd[2] = { 3, 5 }, cd[2] = { 3, 5 };
    fgq_tensor_view av = tview(NULL, 2, ad), bv = tview(NULL, 2, bd), cv = tview(NULL, 2, cd), yv = tview(NULL, 2, yd);
    const fgq_tensor_view *in[3] = { &av, &bv, &cv };
    tnode nd;
    fgq_error err;
    tnode_init(&nd, FGQ_OP_GEMM, 3);
    CHECK(op_check(&nd, in, &yv, &err) == FGQ_OK);
    nd.ip[FGQ_P_TRANS_B] = 1; /* B' would be [5, 4] */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    nd.ip[FGQ_P_TRANS_B] = 2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_P_TRANS_B] = 0;
    nd.ip[FGQ_P_GEMM_ACT] = -1;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_P_GEMM_ACT] = FGQ_ACT_CLIP;
    nd.fp[FGQ_PF_ACT0] = NAN;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_VALUE);
    tnode_init(&nd, FGQ_OP_GEMM, 3);
    cv.dims[0] = 2; /* C [2, 5] does not broadcast to [3, 5] */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    cv.dims[0] = 3;
    cv.rank = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    cv.rank = 2;
    yv.dims[1] = 4;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    yv.dims[1] = 5;
    av.rank = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    av.rank = 2;
    bv.dtype = FGQ_DT_S32;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_UNSUPPORTED);
}

/* MatMul vs numpy semantics: batch index b of Y maps to A's and B's batch
 * index with size-1 dims held at 0; 1-D operands promoted then squeezed. */
static void matmul_case(int32_t ra, const int64_t *adims, int32_t rb, const int64_t *bdims, int32_t ry,
                        const int64_t *ydims, int act, uint32_t seed)
{
    fgq_tensor_view av = tview(NULL, ra, adims), bv = tview(NULL, rb, bdims), yv = tview(NULL, ry, ydims);
    int64_t na = tnumel(&av), nb = tnumel(&bv), ny = tnumel(&yv);
    float *a = malloc(sizeof(float) * (size_t)na), *b = malloc(sizeof(float) * (size_t)nb);
    float *y = malloc(sizeof(float) * (size_t)ny);
    av.data = a;
    bv.data = b;
    yv.data = y;
    tfill(a, na, &seed);
    tfill(b, nb, &seed);
    tnode nd;
    tnode_init(&nd, FGQ_OP_MATMUL, 2);
    nd.ip[0] = act;
    nd.fp[FGQ_PF_ACT0] = -0.25f;
    nd.fp[FGQ_PF_ACT1] = 0.5f;
    const fgq_tensor_view *in[2] = { &av, &bv };
    CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);

    /* Promote to 8-D: A [.., M, K], B [.., K, N], batch dims left-padded with 1. */
    int64_t A[8], B[8], Y[8];
    for (int i = 0; i < 8; i++)
        A[i] = B[i] = 1;
    if (ra == 1) {
        A[7] = adims[0];
    } else {
        for (int i = 0; i < ra; i++)
            A[8 - ra + i] = adims[i];
    }
    if (rb == 1) {
        B[6] = bdims[0];
    } else {
        for (int i = 0; i < rb; i++)
            B[8 - rb + i] = bdims[i];
    }
    const int64_t M = A[6], K = A[7], N = B[7];
    for (int i = 0; i < 6; i++)
        Y[i] = A[i] > B[i] ? A[i] : B[i];
    int64_t nbatch = 1;
    for (int i = 0; i < 6; i++)
        nbatch *= Y[i];
    double maxerr = 0;
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t idx[6], rem = t, oa = 0, ob = 0;
        for (int i = 5; i >= 0; i--) {
            idx[i] = rem % Y[i];
            rem /= Y[i];
        }
        for (int i = 0; i < 6; i++) {
            oa = oa * A[i] + (A[i] == 1 ? 0 : idx[i]);
            ob = ob * B[i] + (B[i] == 1 ? 0 : idx[i]);
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t p = 0; p < K; p++)
                    s += (double)a[oa * M * K + i * K + p] * b[ob * K * N + p * N + j];
                double e = fabs(y[(t * M + i) * N + j] - act_ref(s, act));
                maxerr = e > maxerr ? e : maxerr;
            }
    }
    CHECK_MSG(maxerr < 1e-4, "matmul ranks %d x %d: max error %g", ra, rb, maxerr);
    free(a);
    free(b);
    free(y);
}

static void test_matmul_variants(void)
{
    { /* 2-D */
        int64_t a[2] = { 3, 4 }, b[2] = { 4, 3 }, y[2] = { 3, 3 };
        matmul_case(2, a, 2, b, 2, y, FGQ_ACT_NONE, 1);
    }
    { /* 3-D and 4-D, as the node tests */
        int64_t a[3] = { 2, 3, 4 }, b[3] = { 2, 4, 3 }, y[3] = { 2, 3, 3 };
        matmul_case(3, a, 3, b, 3, y, FGQ_ACT_RELU, 2);
        int64_t a4[4] = { 1, 2, 3, 4 }, b4[4] = { 1, 2, 4, 3 }, y4[4] = { 1, 2, 3, 3 };
        matmul_case(4, a4, 4, b4, 4, y4, FGQ_ACT_CLIP, 3);
    }
    { /* batch broadcasting: [2,1,3,4] x [5,4,2] -> [2,5,3,2] */
        int64_t a[4] = { 2, 1, 3, 4 }, b[3] = { 5, 4, 2 }, y[4] = { 2, 5, 3, 2 };
        matmul_case(4, a, 3, b, 4, y, FGQ_ACT_NONE, 4);
    }
    { /* 1-D operands: [4] x [2,4,3] -> [2,3]; [2,3,4] x [4] -> [2,3]; [4] x [4] -> [] */
        int64_t a[1] = { 4 }, b[3] = { 2, 4, 3 }, y[2] = { 2, 3 };
        matmul_case(1, a, 3, b, 2, y, FGQ_ACT_NONE, 5);
        int64_t a2[3] = { 2, 3, 4 }, b2[1] = { 4 }, y2[2] = { 2, 3 };
        matmul_case(3, a2, 1, b2, 2, y2, FGQ_ACT_NONE, 6);
        matmul_case(1, a, 1, a, 0, NULL, FGQ_ACT_NONE, 7);
    }
    { /* 2-D weight against a batched activation */
        int64_t a[3] = { 3, 5, 8 }, b[2] = { 8, 6 }, y[3] = { 3, 5, 6 };
        matmul_case(3, a, 2, b, 3, y, FGQ_ACT_NONE, 8);
    }
}

static void test_matmul_rejects(void)
{
    int64_t ad[3] = { 2, 3, 4 }, bd[3] = { 3, 4, 5 }, yd[3] = { 2, 3, 5 };
    fgq_tensor_view av = tview(NULL, 3, ad), bv = tview(NULL, 3, bd), yv = tview(NULL, 3, yd);
    const fgq_tensor_view *in[2] = { &av, &bv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_MATMUL, 2);
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE); /* batch 2 vs 3 */
    bv.dims[0] = 1;
    fgq_error err;
    CHECK(op_check(&nd, in, &yv, &err) == FGQ_OK);
    bv.dims[1] = 5; /* K mismatch */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    bv.dims[1] = 4;
    yv.rank = 2;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    yv.rank = 3;
    av.rank = 0;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_SHAPE);
    av.rank = 3;
    nd.ip[0] = 3;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
}

int main(void)
{
    RUN(test_gemm_variants);
    RUN(test_gemm_hand);
    RUN(test_gemm_rejects);
    RUN(test_matmul_variants);
    RUN(test_matmul_rejects);
    return FGQ_TEST_DONE();
}
