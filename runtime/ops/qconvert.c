/*
 * qconvert.c — QUANTIZE (f32 -> u8|s8) and DEQUANTIZE (u8|s8|s32 -> f32),
 * per tensor, at the float boundaries of an integer graph (model inputs,
 * outputs, before Softmax). These are the only quantized ops that use float.
 *   QUANTIZE:   q = clamp(round(x / s) + z_y, qmin, qmax), in float as
 *               fgq_affine_quantize does; round = half away from zero
 *               (FGQ_QP_ROUND 0, TF) or half to even (1, ONNX QuantizeLinear);
 *               NaN -> qmin. s = fparams[FGQ_QPF_SCALE], finite and >= FLT_MIN.
 *   DEQUANTIZE: y = (float)(q − z_x) · s, the difference taken exactly (int64);
 *               z_x in the input dtype's range (any int32 for s32); s finite.
 * Shapes: output dims equal input dims.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

#include <float.h>
#include <math.h>

static fgq_status check_same_dims(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                                  fgq_error *err)
{
    return fgq_ops_check_out_dims(node, y, x->rank, x->dims, err);
}

fgq_status fgq_quantize_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    const float s = node->fparams[FGQ_QPF_SCALE];
    if (in[0]->dtype != FGQ_DT_F32)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "input has dtype %s, expected f32", FGQ_NODE_ARGS(node),
                        fgq_dtype_name(in[0]->dtype));
    if ((st = fgq_q_check_act(node, out[0], "output", 0, err)) != FGQ_OK || (st = fgq_q_check_out(node, out[0], err)) != FGQ_OK)
        return st;
    if (!isfinite(s) || !(s >= FLT_MIN))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "scale %g, expected finite and >= FLT_MIN", FGQ_NODE_ARGS(node),
                        (double)s);
    if (node->iparams[FGQ_QP_ROUND] != 0 && node->iparams[FGQ_QP_ROUND] != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "rounding mode %d, expected 0 (half away) or 1 (half even)",
                        FGQ_NODE_ARGS(node), (int)node->iparams[FGQ_QP_ROUND]);
    return check_same_dims(node, in[0], out[0], err);
}

typedef struct {
    const fgq_node_view *node;
    const fgq_tensor_view *x, *y;
} quantize_task;

/* Elements [b, e) of QUANTIZE. */
static void quantize_span(void *ctx, fgq_idx b, fgq_idx e)
{
    const quantize_task *t = (const quantize_task *)ctx;
    const fgq_node_view *node = t->node;
    const fgq_tensor_view *y = t->y;
    const float *x = (const float *)t->x->data + b;
    const int32_t *ip = node->iparams;
    const float s = node->fparams[FGQ_QPF_SCALE], z = (float)ip[FGQ_QP_Y_ZERO];
    const int32_t zi = ip[FGQ_QP_Y_ZERO], qmin = ip[FGQ_QP_QMIN], qmax = ip[FGQ_QP_QMAX];
    const float lo = (float)qmin, hi = (float)qmax;
    const int even = ip[FGQ_QP_ROUND] == 1, y_s8 = y->dtype == FGQ_DT_S8;
    uint8_t *yd = (uint8_t *)y->data + b;
    const fgq_idx n = e - b;
    fgq_idx i = 0;
#if defined(__x86_64__) || defined(__i386__)
    const uint32_t cpu = fgq_node_kernels(node) != FGQ_KERNELS_REF ? fgq_node_cpu(node) : 0;
    if ((cpu & FGQ_CPU_AVX512F) != 0)
        i = fgq_quantize_f32__avx512(x, n, s, z, lo, hi, even, yd, y_s8);
    else if ((cpu & FGQ_CPU_AVX2) != 0)
        i = fgq_quantize_f32__avx2(x, n, s, z, lo, hi, even, yd, y_s8);
#endif
    /* y = clamp(round(x / s) + z, qmin, qmax), NaN -> qmin, computed with r = x / s clamped first to
     * [qmin − z − 1, qmax − z + 1] (NaN to the low end; qmin, qmax and z are the dtype's, checked):
     * rounding is monotonic and keeps those whole bounds, so a value outside lands on the clamp as
     * before, and inside |r| <= 2^9 + 1, where rounding, the sum and the clamp are exact in int32
     * (one float clamp and the rest in integers: vww's 96 x 96 x 3 input on the Cortex-M4, 8.57 M ->
     * 8.23 M instructions an inference, ~12 fewer a value) */
    const float rlo = lo - z - 1.0f, rhi = hi - z + 1.0f;
    for (; i < n; i++) {
        float r = x[i] / s;
        r = !(r >= rlo) ? rlo : r > rhi ? rhi : r;
#if defined(__ARM_FP) && __ARM_ARCH >= 8 /* VRINTA / VRINTR (FRINTA / FRINTI): one instruction each */
        int32_t q = (int32_t)(even ? nearbyintf(r) : roundf(r)) + zi;
#else /* Cortex-M4 and other cores without them: libm's code for these is ~0.3 KB */
        int32_t q = fgq_round_small_f32(r, even) + zi;
#endif
        q = q < qmin ? qmin : q > qmax ? qmax : q;
        yd[i] = y_s8 ? (uint8_t)(int8_t)q : (uint8_t)q;
    }
}

fgq_status fgq_quantize_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const quantize_task t = { node, in[0], out[0] };
    const fgq_idx n = fgq_ops_numel(out[0]);
    /* spans of 64+ values over the threads (a network's input: MobileNetV2's 150 K values, 86 us) */
    fgq_idx grain = fgq_parallel_grain(node->par, n, 4);
    grain = grain < n ? (grain + 63) / 64 * 64 : n;
    fgq_parallel_for(node->par, n, grain, quantize_span, (void *)&t);
    return FGQ_OK;
}

fgq_status fgq_dequantize_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    if (y->dtype != FGQ_DT_F32)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "output has dtype %s, expected f32", FGQ_NODE_ARGS(node),
                        fgq_dtype_name(y->dtype));
    if (x->dtype != FGQ_DT_S32) {
        if ((st = fgq_q_check_act(node, x, "input", 0, err)) != FGQ_OK ||
            (st = fgq_q_check_zero(node, x->dtype, node->iparams[FGQ_QP_X_ZERO], "input zero point", err)) != FGQ_OK)
            return st;
    }
    if (!isfinite(node->fparams[FGQ_QPF_SCALE]))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "scale %g is not finite", FGQ_NODE_ARGS(node),
                        (double)node->fparams[FGQ_QPF_SCALE]);
    return check_same_dims(node, x, y, err);
}

fgq_status fgq_dequantize_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    float *y = (float *)out[0]->data;
    const float s = node->fparams[FGQ_QPF_SCALE];
    const int32_t z = node->iparams[FGQ_QP_X_ZERO];
    const int64_t n = fgq_ops_numel(x);
    if (x->dtype == FGQ_DT_S32) { /* q - z may pass int32: (float) of the int64 difference */
        for (int64_t i = 0; i < n; i++)
            y[i] = fgq_f32_of_s33((int64_t)((const int32_t *)x->data)[i] - z) * s;
    } else { /* z lies in the 8-bit dtype's range (checked): the difference fits int32 */
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(fgq_q_load(x->data, i, x->dtype == FGQ_DT_S8) - z) * s;
    }
    return FGQ_OK;
}
