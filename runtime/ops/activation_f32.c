/*
 * activation_f32.c — elementwise activations: Relu, Clip, LeakyRelu, Sigmoid, Tanh,
 * HardSigmoid, HardSwish, Erf, Gelu, Sqrt.
 * Output shape equals input shape; out may alias in[0].
 */
#include "ops_f32.h"
#include "ops_util.h"
#include "qgemm_dispatch.h" /* fgq_node_cpu */

#include <math.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define ACT_X86 1
#else
#define ACT_X86 0
#endif

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

#if ACT_X86
/* hard_sigmoid on 8 lanes (AVX2, no FMA: the product and the sum rounded apart, as the scalar
 * form is compiled under -std=c11), its compares ordered (a NaN passes, −0 stays −0), times x
 * when swish: the scalar form's bytes. Elements [0, n & ~7); returns that count. The scalar
 * form's data-dependent branches mispredicted on MobileNetV3's HardSwish (12 % of its run). */
__attribute__((target("avx2"))) static int64_t hard_sigmoid_avx2(const float *x, float *y, int64_t n, float alpha,
                                                                 float beta, int swish)
{
    const __m256 a = _mm256_set1_ps(alpha), b = _mm256_set1_ps(beta), zero = _mm256_setzero_ps(),
                 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        __m256 v = _mm256_add_ps(_mm256_mul_ps(a, xv), b);
        v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
        v = _mm256_blendv_ps(v, one, _mm256_cmp_ps(v, one, _CMP_GT_OQ));
        _mm256_storeu_ps(y + i, swish ? _mm256_mul_ps(xv, v) : v);
    }
    return i;
}
#endif

/* HardSigmoid (alpha, beta) or HardSwish (1/6, 1/2, times x): vectors where the CPU has AVX2 and
 * the reference kernels were not asked for, the rest scalar. */
static void hard_sigmoid_run(const fgq_node_view *node, const float *x, float *y, int64_t n, float alpha, float beta,
                             int swish)
{
    int64_t i = 0;
#if ACT_X86
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0)
        i = hard_sigmoid_avx2(x, y, n, alpha, beta, swish);
#else
    (void)node;
#endif
    for (; i < n; i++)
        y[i] = swish ? x[i] * hard_sigmoid(x[i], alpha, beta) : hard_sigmoid(x[i], alpha, beta);
}

fgq_status fgq_hard_sigmoid_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                    const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    hard_sigmoid_run(node, (const float *)in[0]->data, (float *)out[0]->data, fgq_ops_numel(in[0]), node->fparams[0],
                     node->fparams[1], 0);
    return FGQ_OK;
}

fgq_status fgq_hard_swish_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                    const fgq_tensor_view *const *out, fgq_error *err)
{
    return check_unary(node, in, out, 1, err);
}

fgq_status fgq_hard_swish_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err; /* ONNX: alpha 1/6, beta 0.5 */
    hard_sigmoid_run(node, (const float *)in[0]->data, (float *)out[0]->data, fgq_ops_numel(in[0]), 1.0f / 6.0f, 0.5f,
                     1);
    return FGQ_OK;
}
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
