/*
 * activation_f32.c — elementwise activations: Relu, Clip, LeakyRelu, Sigmoid, Tanh,
 * HardSigmoid, HardSwish, Erf, Gelu, Sqrt.
 * Output shape equals input shape; out may alias in[0].
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>

/* Shared check: one f32 input (Clip: plus optional min/max) with the output's shape. */
static fgq_status check_unary(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, int32_t max_in, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, max_in, 1, err);
    if (st != FGQ_OK)
        return st;
    return fgq_ops_check_out_dims(node, out[0], in[0]->rank, in[0]->dims, err);
}

/* An activation without parameters, y[i] = EXPR with v = x[i]: its check and run. */
#define UNARY_F32(name, expr)                                                                               \
    fgq_status fgq_##name##_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,           \
                                      const fgq_tensor_view *const *out, fgq_error *err)                     \
    {                                                                                                       \
        return check_unary(node, in, out, 1, err);                                                          \
    }                                                                                                       \
    fgq_status fgq_##name##_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,             \
                                    const fgq_tensor_view *const *out, fgq_error *err)                       \
    {                                                                                                       \
        (void)node;                                                                                         \
        (void)err;                                                                                          \
        const float *x = (const float *)in[0]->data;                                                        \
        float *y = (float *)out[0]->data;                                                                   \
        const int64_t n = fgq_ops_numel(in[0]);                                                             \
        for (int64_t i = 0; i < n; i++) {                                                                   \
            const float v = x[i];                                                                           \
            y[i] = (expr);                                                                                  \
        }                                                                                                   \
        return FGQ_OK;                                                                                      \
    }

UNARY_F32(relu, v < 0.0f ? 0.0f : v)

/* Clip: bounds come from fparams[0]/[1] (±INFINITY when absent); when the model
 * feeds them as tensors (ONNX opset ≥ 11 inputs 1 and 2, possibly computed at
 * run time) a present one-element input overrides the fparam. */
fgq_status fgq_clip_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = check_unary(node, in, out, 3, err);
    if (st != FGQ_OK)
        return st;
    for (int32_t i = 1; i < node->n_inputs; i++)
        if (in[i] != NULL && fgq_ops_numel(in[i]) != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "bound input %d has %lld elements, expected 1",
                            FGQ_NODE_ARGS(node), (int)i, (long long)fgq_ops_numel(in[i]));
    if (isnan(node->fparams[0]) || isnan(node->fparams[1]))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "clip bound is NaN", FGQ_NODE_ARGS(node));
    return FGQ_OK;
}

fgq_status fgq_clip_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    float lo = node->fparams[0], hi = node->fparams[1];
    if (node->n_inputs > 1 && in[1] != NULL)
        lo = *(const float *)in[1]->data;
    if (node->n_inputs > 2 && in[2] != NULL)
        hi = *(const float *)in[2]->data;
    const float *x = (const float *)in[0]->data;
    float *yd = (float *)out[0]->data;
    int64_t n = fgq_ops_numel(in[0]);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        yd[i] = v > hi ? hi : v;
    }
    return FGQ_OK;
}

fgq_status fgq_leaky_relu_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                    const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = check_unary(node, in, out, 1, err);
    if (st == FGQ_OK && isnan(node->fparams[0]))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "alpha is NaN", FGQ_NODE_ARGS(node));
    return st;
}

fgq_status fgq_leaky_relu_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const float alpha = node->fparams[0];
    const float *x = (const float *)in[0]->data;
    float *y = (float *)out[0]->data;
    int64_t n = fgq_ops_numel(in[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
    return FGQ_OK;
}

UNARY_F32(sigmoid, fgq_ops_sigmoid(v))

UNARY_F32(tanh, tanhf(v))

/* ---- HardSigmoid, HardSwish, Erf, Gelu, Sqrt (ONNX opsets 6..20) ----------- */

fgq_status fgq_hard_sigmoid_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                      const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = check_unary(node, in, out, 1, err);
    if (st == FGQ_OK && (!isfinite(node->fparams[0]) || !isfinite(node->fparams[1])))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "alpha %g / beta %g must be finite", FGQ_NODE_ARGS(node),
                        (double)node->fparams[0], (double)node->fparams[1]);
    return st;
}

static inline float hard_sigmoid(float x, float alpha, float beta)
{
    float v = alpha * x + beta;
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}

fgq_status fgq_hard_sigmoid_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                    const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const float alpha = node->fparams[0], beta = node->fparams[1];
    const float *x = (const float *)in[0]->data;
    float *y = (float *)out[0]->data;
    const int64_t n = fgq_ops_numel(in[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = hard_sigmoid(x[i], alpha, beta);
    return FGQ_OK;
}

UNARY_F32(hard_swish, v * hard_sigmoid(v, 1.0f / 6.0f, 0.5f)) /* ONNX: alpha 1/6, beta 0.5 */
UNARY_F32(erf, erff(v))

fgq_status fgq_gelu_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = check_unary(node, in, out, 1, err);
    if (st == FGQ_OK && node->iparams[0] != 0 && node->iparams[0] != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "approximation %d, expected 0 (none) or 1 (tanh)",
                        FGQ_NODE_ARGS(node), (int)node->iparams[0]);
    return st;
}

fgq_status fgq_gelu_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const float *x = (const float *)in[0]->data;
    float *y = (float *)out[0]->data;
    const int64_t n = fgq_ops_numel(in[0]);
    if (node->iparams[0] == 1) /* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
    else /* 0.5·x·(1 + erf(x/√2)) */
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
    return FGQ_OK;
}

UNARY_F32(sqrt, sqrtf(v))
UNARY_F32(abs, fabsf(v))
