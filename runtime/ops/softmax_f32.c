/*
 * softmax_f32.c — Softmax, float32, numerically stable (subtract the max).
 * iparams[0] = axis (non-negative, < rank); iparams[1] = 1 selects opset < 13
 * semantics: X viewed as 2-D [prod(dims[:axis]), prod(dims[axis:])], softmax
 * over each row; 0: softmax along `axis` alone. Y has X's shape; out may alias X.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>

fgq_status fgq_softmax_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    const int32_t axis = node->iparams[0], legacy = node->iparams[1];
    if (x->rank < 1 || axis < 0 || axis >= x->rank)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axis %d, expected 0..%d", FGQ_NODE_ARGS(node),
                        (int)axis, (int)x->rank - 1);
    if (legacy != 0 && legacy != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "legacy flag %d, expected 0 or 1", FGQ_NODE_ARGS(node),
                        (int)legacy);
    return fgq_ops_check_out_dims(node, out[0], x->rank, x->dims, err);
}

fgq_status fgq_softmax_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    const float *xd = (const float *)x->data;
    float *yd = (float *)out[0]->data;
    const int32_t axis = node->iparams[0];
    /* Softmax over `len` elements `stride` apart, for outer × stride lines. */
    const int64_t outer = fgq_ops_dims_prod(x->dims, 0, axis);
    int64_t len, stride;
    if (node->iparams[1] == 1) {
        len = fgq_ops_dims_prod(x->dims, axis, x->rank);
        stride = 1;
    } else {
        len = x->dims[axis];
        stride = fgq_ops_dims_prod(x->dims, axis + 1, x->rank);
    }
    if (len == 0)
        return FGQ_OK;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t s = 0; s < stride; s++) {
            const int64_t base = o * len * stride + s;
            const float *xl = xd + base;
            float *yl = yd + base;
            float mx = xl[0];
            for (int64_t i = 1; i < len; i++)
                mx = xl[i * stride] > mx ? xl[i * stride] : mx;
            float sum = 0.0f;
            for (int64_t i = 0; i < len; i++) {
                const float e = expf(xl[i * stride] - mx);
                yl[i * stride] = e;
                sum += e;
            }
            const float inv = 1.0f / sum;
            for (int64_t i = 0; i < len; i++)
                yl[i * stride] *= inv;
        }
    }
    return FGQ_OK;
}
