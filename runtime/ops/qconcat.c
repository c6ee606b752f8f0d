/*
 * qconcat.c — QCONCAT: Concat of u8|s8 tensors, each requantized to the
 * output's parameters. iparams: [0] axis (< rank), [1] z_y, and per input i
 * (at most FGQ_QCONCAT_MAX_INPUTS) [2+3i] z_i, [3+3i] mult_i, [4+3i] shift_i:
 *   y = clamp(z_y + (mult_i == 0 ? q − z_i : requant(q − z_i, mult_i, shift_i)), dtype range)
 * mult_i == 0 means s_i == s_y (no scaling); otherwise the real multiplier is
 * s_i / s_y. Shapes as the float Concat (layout_f32.c).
 */
#include "ops_q.h"
#include "ops_util.h"
#include "quant/affine.h"

fgq_status fgq_qconcat_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, FGQ_QCONCAT_MAX_INPUTS, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x0 = in[0], *y = out[0];
    const int32_t *ip = node->iparams;
    const int32_t axis = ip[FGQ_QP_CONCAT_AXIS];
    if ((st = fgq_q_check_act(node, y, "output", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_zero(node, y->dtype, ip[FGQ_QP_CONCAT_Y_ZERO], "output zero point", err)) != FGQ_OK)
        return st;
    if (x0->rank < 1 || axis < 0 || axis >= x0->rank)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axis %d, expected 0..%d", FGQ_NODE_ARGS(node), (int)axis,
                        (int)x0->rank - 1);
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < x0->rank; i++)
        dims[i] = x0->dims[i];
    dims[axis] = 0;
    for (int32_t t = 0; t < node->n_inputs; t++) {
        const fgq_tensor_view *x = in[t];
        if (x == NULL)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "input %d is missing", FGQ_NODE_ARGS(node), (int)t);
        const int32_t *p = ip + FGQ_QP_CONCAT_IN + 3 * t;
        if ((st = fgq_q_check_act(node, x, "input", t, err)) != FGQ_OK ||
            (st = fgq_q_check_zero(node, x->dtype, p[0], "input zero point", err)) != FGQ_OK ||
            (st = fgq_q_check_req(node, p[1], p[2], -31, 31, "input", err)) != FGQ_OK)
            return st;
        if (x->rank != x0->rank)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input %d rank %d, expected %d", FGQ_NODE_ARGS(node),
                            (int)t, (int)x->rank, (int)x0->rank);
        for (int32_t i = 0; i < x->rank; i++)
            if (i != axis && x->dims[i] != x0->dims[i])
                return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input %d dim %d is %lld, expected %lld",
                                FGQ_NODE_ARGS(node), (int)t, (int)i, (long long)x->dims[i], (long long)x0->dims[i]);
        dims[axis] += x->dims[axis]; /* each <= 2^40, at most 10 inputs */
    }
    return fgq_ops_check_out_dims(node, y, x0->rank, dims, err);
}

fgq_status fgq_qconcat_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_qconcat_check(node, in, out, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *y = out[0];
    const int32_t *ip = node->iparams;
    const int32_t axis = ip[FGQ_QP_CONCAT_AXIS], zy = ip[FGQ_QP_CONCAT_Y_ZERO];
    const int y_s8 = y->dtype == FGQ_DT_S8;
    int32_t lo = 0, hi = 0;
    fgq_q_act_range(y->dtype, &lo, &hi);
    /* Y as [outer, dims[axis]·inner]: input t fills a chunk of its own dims[axis]·inner per outer row. */
    const int64_t outer = fgq_ops_dims_prod(y->dims, 0, axis);
    const int64_t inner = fgq_ops_dims_prod(y->dims, axis + 1, y->rank);
    const int64_t y_row = y->dims[axis] * inner;
    int64_t col = 0;
    for (int32_t t = 0; t < node->n_inputs; t++) {
        const fgq_tensor_view *x = in[t];
        const int32_t *p = ip + FGQ_QP_CONCAT_IN + 3 * t;
        const int x_s8 = x->dtype == FGQ_DT_S8;
        const int64_t chunk = x->dims[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < chunk; i++) {
                const int32_t d = fgq_q_load(x->data, o * chunk + i, x_s8) - p[0];
                const int32_t v = p[1] == 0 ? d : fgq_requantize_s32(d, p[1], p[2]);
                fgq_q_store(y->data, o * y_row + col + i, y_s8, (int64_t)zy + v, lo, hi);
            }
        col += chunk;
    }
    return FGQ_OK;
}
