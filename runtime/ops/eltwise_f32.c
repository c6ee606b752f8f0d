/*
 * eltwise_f32.c — Add, Sub, Mul, Div, Pow with ONNX multidirectional (numpy)
 * broadcasting, rank ≤ 8, and a fused activation in iparams[0].
 * Shapes are right-aligned; on each axis the two dims are equal or one is 1,
 * and the output takes the larger. out may alias an input of the output's shape.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>

/* Dim of `t` on output axis `axis` of an output of rank `out_rank` (1 where t is shorter). */
static int64_t aligned_dim(const fgq_tensor_view *t, int32_t out_rank, int32_t axis)
{
    int32_t k = axis - (out_rank - t->rank);
    return k < 0 ? 1 : t->dims[k];
}

fgq_status fgq_eltwise_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    if ((node->op < FGQ_OP_ADD || node->op > FGQ_OP_DIV) && node->op != FGQ_OP_POW)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "op %d is not Add/Sub/Mul/Div/Pow", FGQ_NODE_ARGS(node),
                        (int)node->op);
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 1, err);
    if (st != FGQ_OK)
        return st;
    st = fgq_ops_check_act(node, node->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1];
    int32_t rank = a->rank > b->rank ? a->rank : b->rank;
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < rank; i++) {
        int64_t da = aligned_dim(a, rank, i), db = aligned_dim(b, rank, i);
        if (da != db && da != 1 && db != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "cannot broadcast axis %d: %lld vs %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)da, (long long)db);
        dims[i] = da == 1 ? db : da;
    }
    return fgq_ops_check_out_dims(node, out[0], rank, dims, err);
}

/* y[i] = a[i*sa] op b[i*sb] for i < n; sa, sb ∈ {0, 1}: a loop per stride pair, an operand of
 * stride 0 read once, so that each loop vectorizes (one broadcast operand, as a squeeze-excite
 * Mul has, took 5 % of MobileNetV3's run as a scalar loop with strides). The same operation per
 * element, so the same bits. */
#define ELT_ROW(EXPR)                           \
    do {                                        \
        if (sa == 1 && sb == 1)                 \
            for (int64_t i = 0; i < n; i++) {   \
                const float u = a[i], v = b[i]; \
                y[i] = (EXPR);                  \
            }                                   \
        else if (sa == 1) {                     \
            const float v = b[0];               \
            for (int64_t i = 0; i < n; i++) {   \
                const float u = a[i];           \
                y[i] = (EXPR);                  \
            }                                   \
        } else if (sb == 1) {                   \
            const float u = a[0];               \
            for (int64_t i = 0; i < n; i++) {   \
                const float v = b[i];           \
                y[i] = (EXPR);                  \
            }                                   \
        } else {                                \
            const float u = a[0], v = b[0];     \
            for (int64_t i = 0; i < n; i++)     \
                y[i] = (EXPR);                  \
        }                                       \
    } while (0)

static void row_f32(fgq_op op, float *y, const float *a, int64_t sa, const float *b, int64_t sb, int64_t n)
{
    switch (op) {
    case FGQ_OP_ADD: ELT_ROW(u + v); break;
    case FGQ_OP_SUB: ELT_ROW(u - v); break;
    case FGQ_OP_MUL: ELT_ROW(u * v); break;
    case FGQ_OP_POW:
        if (sb == 0 && b[0] == 2.0f) { /* x², as LayerNorm decompositions write it */
            if (sa == 1)
                for (int64_t i = 0; i < n; i++)
                    y[i] = a[i] * a[i];
            else
                for (int64_t i = 0; i < n; i++)
                    y[i] = a[0] * a[0];
        } else
            ELT_ROW(powf(u, v));
        break;
    default: /* FGQ_OP_DIV, the only other op check admits */ ELT_ROW(u / v); break;
    }
}
#undef ELT_ROW

fgq_status fgq_eltwise_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const float *ad = (const float *)a->data, *bd = (const float *)b->data;
    float *yd = (float *)y->data;
    const int32_t rank = y->rank;
    const int64_t n = fgq_ops_numel(y);
    const int64_t na = fgq_ops_numel(a), nb = fgq_ops_numel(b);

    if (na == n && nb == n) { /* no broadcasting (also covers rank 0) */
        row_f32(node->op, yd, ad, 1, bd, 1, n);
    } else if (rank == 0 || n == 0) {
        /* n == 0: nothing to do; rank 0 with n != na/nb is impossible */
    } else {
        /* Element strides of a and b in the output's index space: 0 on broadcast axes. */
        int64_t sa[FGQ_MAX_DIMS], sb[FGQ_MAX_DIMS];
        int64_t ka = 1, kb = 1;
        for (int32_t i = rank - 1; i >= 0; i--) {
            int64_t da = aligned_dim(a, rank, i), db = aligned_dim(b, rank, i);
            sa[i] = da == 1 ? 0 : ka;
            sb[i] = db == 1 ? 0 : kb;
            ka *= da;
            kb *= db;
        }
        const int64_t inner = y->dims[rank - 1];
        const int64_t rows = n / inner;
        int64_t idx[FGQ_MAX_DIMS] = { 0 };
        int64_t oa = 0, ob = 0;
        for (int64_t r = 0; r < rows; r++) {
            row_f32(node->op, yd + r * inner, ad + oa, sa[rank - 1], bd + ob, sb[rank - 1], inner);
            /* Odometer over the outer axes, keeping the two input offsets in step. */
            for (int32_t i = rank - 2; i >= 0; i--) {
                idx[i]++;
                oa += sa[i];
                ob += sb[i];
                if (idx[i] < y->dims[i])
                    break;
                oa -= sa[i] * idx[i];
                ob -= sb[i] * idx[i];
                idx[i] = 0;
            }
        }
    }
    fgq_ops_act_apply_f32(yd, n, node->iparams[0], node->fparams[FGQ_PF_ACT0], node->fparams[FGQ_PF_ACT1]);
    return FGQ_OK;
}
