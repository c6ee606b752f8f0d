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

typedef struct {
    const fgq_node_view *node;
    const float *ad, *bd;
    float *yd;
    int32_t rank;
    int64_t inner;                              /* the output's last dim (a row) */
    int64_t sa[FGQ_MAX_DIMS], sb[FGQ_MAX_DIMS]; /* element strides of a, b on the output's axes (0: broadcast) */
    const int64_t *dims;                        /* the output's */
} elt_task;

/* Elements [b, e) of an op without broadcasting, then its fused activation on them (in cache). */
static void elt_flat(void *ctx, fgq_idx b, fgq_idx e)
{
    const elt_task *t = (const elt_task *)ctx;
    row_f32(t->node->op, t->yd + b, t->ad + b, 1, t->bd + b, 1, e - b);
    fgq_ops_act_apply_f32(t->yd + b, e - b, t->node->iparams[0], t->node->fparams[FGQ_PF_ACT0],
                          t->node->fparams[FGQ_PF_ACT1]);
}

/* Output rows [b, e) with broadcasting: the inputs' offsets of row b from its index, then an
 * odometer over the outer axes keeping them in step; the fused activation per row. */
static void elt_rows(void *ctx, fgq_idx b, fgq_idx e)
{
    const elt_task *t = (const elt_task *)ctx;
    const int32_t rank = t->rank;
    int64_t idx[FGQ_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t r = b, i = rank - 2; i >= 0; i--) {
        idx[i] = r % t->dims[i];
        r /= t->dims[i];
        oa += idx[i] * t->sa[i];
        ob += idx[i] * t->sb[i];
    }
    for (int64_t r = b; r < e; r++) {
        float *yr = t->yd + r * t->inner;
        row_f32(t->node->op, yr, t->ad + oa, t->sa[rank - 1], t->bd + ob, t->sb[rank - 1], t->inner);
        fgq_ops_act_apply_f32(yr, t->inner, t->node->iparams[0], t->node->fparams[FGQ_PF_ACT0],
                              t->node->fparams[FGQ_PF_ACT1]);
        for (int32_t i = rank - 2; i >= 0; i--) {
            idx[i]++;
            oa += t->sa[i];
            ob += t->sb[i];
            if (idx[i] < t->dims[i])
                break;
            oa -= t->sa[i] * idx[i];
            ob -= t->sb[i] * idx[i];
            idx[i] = 0;
        }
    }
}

/* Split over node->par's threads by elements (rows when broadcasting): every output element is
 * one operation and its activation whatever the split, so any thread count gives the same bits
 * (ResNet-50's residual Adds, 4 % of its float run, ran on one thread at two). */
fgq_status fgq_eltwise_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    elt_task t = {
        .node = node,
        .ad = (const float *)a->data,
        .bd = (const float *)b->data,
        .yd = (float *)y->data,
        .rank = y->rank,
        .dims = y->dims,
    };
    const int64_t n = fgq_ops_numel(y);
    const int64_t na = fgq_ops_numel(a), nb = fgq_ops_numel(b);
    if (na == n && nb == n) { /* no broadcasting (also covers rank 0) */
        fgq_parallel_for(node->par, n, fgq_parallel_grain(node->par, n, 1), elt_flat, &t);
        return FGQ_OK;
    }
    if (t.rank == 0 || n == 0) /* n == 0: nothing to do; rank 0 with n != na/nb is impossible */
        return FGQ_OK;
    int64_t ka = 1, kb = 1;
    for (int32_t i = t.rank - 1; i >= 0; i--) {
        const int64_t da = aligned_dim(a, t.rank, i), db = aligned_dim(b, t.rank, i);
        t.sa[i] = da == 1 ? 0 : ka;
        t.sb[i] = db == 1 ? 0 : kb;
        ka *= da;
        kb *= db;
    }
    t.inner = y->dims[t.rank - 1];
    const int64_t rows = n / t.inner;
    fgq_parallel_for(node->par, rows, fgq_parallel_grain(node->par, rows, t.inner), elt_rows, &t);
    return FGQ_OK;
}
