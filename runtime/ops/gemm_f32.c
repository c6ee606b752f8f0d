/*
 * gemm_f32.c — Gemm and MatMul in float32.
 *
 * Gemm (ONNX): Y[M,N] = alpha · A'·B' + beta · C, with A' = transA ? Aᵀ : A
 * ([M,K]), B' = transB ? Bᵀ : B ([K,N]); C optional, unidirectionally
 * broadcast to [M,N] (scalar, [N], [1,N], [M,1], [M,N]); fused activation in
 * iparams[FGQ_P_GEMM_ACT].
 *
 * MatMul (numpy matmul): a 1-D A is a row [1,K] and a 1-D B a column [K,1],
 * that dim then dropped from the output; leading (batch) dims broadcast like
 * Add. Fused activation in iparams[0].
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <string.h>

/* y[M,N] = a[M,K] · b[K,N], all row-major; i-k-j order keeps the inner loop a
 * contiguous axpy over a row of b and of y. */
static void matmul_nn_f32(float *y, const float *a, const float *b, int64_t m, int64_t k, int64_t n)
{
    for (int64_t i = 0; i < m; i++) {
        float *yr = y + i * n;
        memset(yr, 0, (size_t)n * sizeof *yr);
        const float *ar = a + i * k;
        for (int64_t p = 0; p < k; p++) {
            const float av = ar[p];
            const float *br = b + p * n;
            for (int64_t j = 0; j < n; j++)
                yr[j] += av * br[j];
        }
    }
}

fgq_status fgq_gemm_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 3, 1, err);
    if (st != FGQ_OK)
        return st;
    const int32_t ta = node->iparams[FGQ_P_TRANS_A], tb = node->iparams[FGQ_P_TRANS_B];
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "transA=%d transB=%d, expected 0 or 1",
                        FGQ_NODE_ARGS(node), (int)ta, (int)tb);
    st = fgq_ops_check_act(node, node->iparams[FGQ_P_GEMM_ACT], err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1];
    const fgq_tensor_view *c = node->n_inputs > 2 ? in[2] : NULL;
    if (a->rank != 2 || b->rank != 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, B rank %d, expected 2 and 2",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)b->rank);
    const int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
    const int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (k != kb)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "inner dims differ: A' has K=%lld, B' has K=%lld",
                        FGQ_NODE_ARGS(node), (long long)k, (long long)kb);
    if (c != NULL) {
        if (c->rank > 2)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "C rank %d, expected 0..2", FGQ_NODE_ARGS(node),
                            (int)c->rank);
        const int64_t want[2] = { m, n };
        for (int32_t i = 0; i < c->rank; i++) {
            int64_t d = c->dims[i], w = want[2 - c->rank + i];
            if (d != 1 && d != w)
                return fgq_fail(err, FGQ_ERR_SHAPE,
                                FGQ_NODE_FMT "C dim %d is %lld, cannot broadcast to %lld (Y is [%lld,%lld])",
                                FGQ_NODE_ARGS(node), (int)i, (long long)d, (long long)w, (long long)m,
                                (long long)n);
        }
    }
    const int64_t dims[2] = { m, n };
    return fgq_ops_check_out_dims(node, out[0], 2, dims, err);
}

fgq_status fgq_gemm_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1];
    const fgq_tensor_view *c = node->n_inputs > 2 ? in[2] : NULL;
    const int32_t ta = node->iparams[FGQ_P_TRANS_A], tb = node->iparams[FGQ_P_TRANS_B];
    const float alpha = node->fparams[FGQ_PF_ALPHA], beta = node->fparams[FGQ_PF_BETA];
    const float *ad = (const float *)a->data, *bd = (const float *)b->data;
    float *y = (float *)out[0]->data;
    const int64_t m = out[0]->dims[0], n = out[0]->dims[1];
    const int64_t k = ta ? a->dims[0] : a->dims[1];

    if (!ta && !tb) {
        matmul_nn_f32(y, ad, bd, m, k, n);
    } else if (!tb) {
        /* A' = Aᵀ: A'(i,p) = A[p,i]; B rows stay contiguous. */
        for (int64_t i = 0; i < m; i++) {
            float *yr = y + i * n;
            memset(yr, 0, (size_t)n * sizeof *yr);
            for (int64_t p = 0; p < k; p++) {
                const float av = ad[p * m + i];
                const float *br = bd + p * n;
                for (int64_t j = 0; j < n; j++)
                    yr[j] += av * br[j];
            }
        }
    } else {
        /* B' = Bᵀ: Y(i,j) is the dot product of row i of A' and row j of B. */
        for (int64_t i = 0; i < m; i++) {
            for (int64_t j = 0; j < n; j++) {
                const float *br = bd + j * k;
                float acc = 0.0f;
                if (!ta) {
                    const float *ar = ad + i * k;
                    for (int64_t p = 0; p < k; p++)
                        acc += ar[p] * br[p];
                } else {
                    for (int64_t p = 0; p < k; p++)
                        acc += ad[p * m + i] * br[p];
                }
                y[i * n + j] = acc;
            }
        }
    }

    /* Y = alpha·Y + beta·C; C's strides are 0 along broadcast axes. As in BLAS
     * and ONNX Runtime, beta == 0 ignores C entirely. */
    int64_t cs_i = 0, cs_j = 0;
    const float *cd = NULL;
    if (c != NULL && beta != 0.0f) {
        cd = (const float *)c->data;
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        cs_j = cn == 1 ? 0 : 1;
        cs_i = cm == 1 ? 0 : cn;
    }
    for (int64_t i = 0; i < m; i++) {
        float *yr = y + i * n;
        if (cd != NULL) {
            const float *cr = cd + i * cs_i;
            for (int64_t j = 0; j < n; j++)
                yr[j] = alpha * yr[j] + beta * cr[j * cs_j];
        } else if (alpha != 1.0f) {
            for (int64_t j = 0; j < n; j++)
                yr[j] *= alpha;
        }
    }
    fgq_ops_act_apply_f32(y, m * n, node->iparams[FGQ_P_GEMM_ACT], node->fparams[FGQ_PF_ACT0],
                          node->fparams[FGQ_PF_ACT1]);
    return FGQ_OK;
}

/* MatMul shapes: M, K, N and the broadcast batch dims (rank nbatch). */
typedef struct {
    int64_t m, k, n;
    int32_t nbatch;
    int64_t batch[FGQ_MAX_DIMS];
} matmul_shape;

static int64_t batch_dim(const fgq_tensor_view *t, int32_t nbatch, int32_t axis)
{
    /* t's batch dims are dims[0, rank-2), right-aligned against nbatch. */
    int32_t tb = t->rank > 2 ? t->rank - 2 : 0;
    int32_t k = axis - (nbatch - tb);
    return k < 0 ? 1 : t->dims[k];
}

fgq_status fgq_matmul_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 1, err);
    if (st != FGQ_OK)
        return st;
    st = fgq_ops_check_act(node, node->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1];
    if (a->rank < 1 || b->rank < 1)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, B rank %d, expected >= 1",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)b->rank);
    const int64_t ka = a->dims[a->rank - 1];
    const int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (ka != kb)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "inner dims differ: A has K=%lld, B has K=%lld",
                        FGQ_NODE_ARGS(node), (long long)ka, (long long)kb);
    const int32_t ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    const int32_t nbatch = ba > bb ? ba : bb;
    int64_t dims[FGQ_MAX_DIMS];
    int32_t rank = 0;
    for (int32_t i = 0; i < nbatch; i++) {
        int64_t da = batch_dim(a, nbatch, i), db = batch_dim(b, nbatch, i);
        if (da != db && da != 1 && db != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "cannot broadcast batch axis %d: %lld vs %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)da, (long long)db);
        dims[rank++] = da == 1 ? db : da;
    }
    if (a->rank > 1)
        dims[rank++] = a->dims[a->rank - 2];
    if (b->rank > 1)
        dims[rank++] = b->dims[b->rank - 1];
    return fgq_ops_check_out_dims(node, out[0], rank, dims, err);
}

fgq_status fgq_matmul_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1];
    const float *ad = (const float *)a->data, *bd = (const float *)b->data;
    float *y = (float *)out[0]->data;
    matmul_shape s;
    s.k = a->dims[a->rank - 1];
    s.m = a->rank > 1 ? a->dims[a->rank - 2] : 1;
    s.n = b->rank > 1 ? b->dims[b->rank - 1] : 1;
    const int32_t ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    s.nbatch = ba > bb ? ba : bb;

    /* Matrix strides (in whole matrices) of A and B per batch axis; 0 where broadcast. */
    int64_t sa[FGQ_MAX_DIMS], sb[FGQ_MAX_DIMS], nmat = 1;
    int64_t ka = 1, kb = 1;
    for (int32_t i = s.nbatch - 1; i >= 0; i--) {
        int64_t da = batch_dim(a, s.nbatch, i), db = batch_dim(b, s.nbatch, i);
        s.batch[i] = da == 1 ? db : da;
        sa[i] = da == 1 ? 0 : ka;
        sb[i] = db == 1 ? 0 : kb;
        ka *= da;
        kb *= db;
        nmat *= s.batch[i];
    }
    const int64_t a_mat = s.m * s.k, b_mat = s.k * s.n, y_mat = s.m * s.n;
    int64_t idx[FGQ_MAX_DIMS] = { 0 };
    int64_t oa = 0, ob = 0;
    for (int64_t t = 0; t < nmat; t++) {
        matmul_nn_f32(y + t * y_mat, ad + oa * a_mat, bd + ob * b_mat, s.m, s.k, s.n);
        for (int32_t i = s.nbatch - 1; i >= 0; i--) {
            idx[i]++;
            oa += sa[i];
            ob += sb[i];
            if (idx[i] < s.batch[i])
                break;
            oa -= sa[i] * idx[i];
            ob -= sb[i] * idx[i];
            idx[i] = 0;
        }
    }
    fgq_ops_act_apply_f32(y, nmat * y_mat, node->iparams[0], node->fparams[FGQ_PF_ACT0],
                          node->fparams[FGQ_PF_ACT1]);
    return FGQ_OK;
}
