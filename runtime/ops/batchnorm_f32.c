/*
 * batchnorm_f32.c — BatchNormalization in inference mode, float32.
 * Y = scale·(X − mean)/sqrt(var + ε) + B along channel axis 1; X [N, C, ...]
 * (rank ≥ 2), scale/B/mean/var [C]; ε = fparams[0]. out may alias X.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>

fgq_status fgq_batchnorm_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                   const fgq_tensor_view *const *out, fgq_error *err)
{
    static const char *const names[5] = { "X", "scale", "B", "mean", "var" };
    fgq_status st = fgq_ops_check_io(node, in, out, 5, 5, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    if (x->rank < 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "X rank %d, expected >= 2", FGQ_NODE_ARGS(node),
                        (int)x->rank);
    for (int32_t i = 1; i < 5; i++)
        if (in[i]->rank != 1 || in[i]->dims[0] != x->dims[1])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%s must be [%lld] (channels of X)",
                            FGQ_NODE_ARGS(node), names[i], (long long)x->dims[1]);
    const float eps = node->fparams[0];
    if (!(eps >= 0.0f) || isinf(eps))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "epsilon %g, expected finite and >= 0",
                        FGQ_NODE_ARGS(node), (double)eps);
    return fgq_ops_check_out_dims(node, out[0], x->rank, x->dims, err);
}

fgq_status fgq_batchnorm_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    const float *xd = (const float *)x->data;
    const float *scale = (const float *)in[1]->data, *bias = (const float *)in[2]->data;
    const float *mean = (const float *)in[3]->data, *var = (const float *)in[4]->data;
    float *yd = (float *)out[0]->data;
    const float eps = node->fparams[0];
    const int64_t n = x->dims[0], c = x->dims[1];
    const int64_t inner = fgq_ops_dims_prod(x->dims, 2, x->rank);
    for (int64_t ch = 0; ch < c; ch++) {
        /* Per channel the map is affine: y = (x − mean)·a + B with a = scale/sqrt(var + ε). */
        const float a = scale[ch] / sqrtf(var[ch] + eps), mu = mean[ch], b = bias[ch];
        for (int64_t i = 0; i < n; i++) {
            const float *xp = xd + (i * c + ch) * inner;
            float *yp = yd + (i * c + ch) * inner;
            for (int64_t k = 0; k < inner; k++)
                yp[k] = (xp[k] - mu) * a + b;
        }
    }
    return FGQ_OK;
}
