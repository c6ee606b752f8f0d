/* lower_onnxq.c — ONNX QuantizeLinear, DequantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul and
 * QLinearConv → QUANTIZE, DEQUANTIZE, MATMUL_INT, CONV_INT (see lower_onnxq.h). */
#include "lower/lower_onnxq.h"

#include "quant/affine.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define UNSUP(...) fgq_fail(err, FGQ_ERR_UNSUPPORTED, __VA_ARGS__)

static const fgq_ir_tensor *input_of(const fgq_graph *g, const fgq_ir_node *n, int32_t k)
{
    return k < n->n_inputs && n->inputs[k] >= 0 && n->inputs[k] < g->n_tensors ? &g->tensors[n->inputs[k]] : NULL;
}

static int is_act(fgq_dtype dt)
{
    return dt == FGQ_DT_U8 || dt == FGQ_DT_S8;
}

static void dtype_range(fgq_dtype dt, int32_t *lo, int32_t *hi)
{
    *lo = dt == FGQ_DT_S8 ? -128 : 0;
    *hi = dt == FGQ_DT_S8 ? 127 : 255;
}

/* Constant input k (`what` names it) as one value: a scalar, or a tensor whose
 * values are all equal. Scales: f32, finite and > 0. */
static fgq_status const_scale(const fgq_graph *g, const fgq_ir_node *n, int32_t k, const char *what, float *s,
                              fgq_error *err)
{
    const fgq_ir_tensor *t = input_of(g, n, k);
    if (t == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): input %s is missing", n->name, n->op_type, what);
    if (t->kind != FGQ_TK_CONST || t->data == NULL)
        return UNSUP("node '%s' (%s): %s '%s' is computed at run time (fgq quantizes with constant scales and zero "
                     "points)", n->name, n->op_type, what, t->name);
    const int64_t cnt = fgq_ir_tensor_numel(t);
    if (t->dtype != FGQ_DT_F32 || cnt < 1)
        return UNSUP("node '%s' (%s): %s '%s' must be a non-empty f32 tensor", n->name, n->op_type, what, t->name);
    const float *v = (const float *)t->data;
    for (int64_t i = 1; i < cnt; i++)
        if (v[i] != v[0])
            return UNSUP("node '%s' (%s): per-axis %s (%lld different values) is not supported: the integer kernels "
                         "take one scale per tensor (QUANTIZE / DEQUANTIZE / MATMUL_INT / CONV_INT)", n->name,
                         n->op_type, what, (long long)cnt);
    if (!isfinite(v[0]) || !(v[0] >= FLT_MIN))
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (%s): %s %g must be finite and >= FLT_MIN", n->name,
                        n->op_type, what, (double)v[0]);
    *s = v[0];
    return FGQ_OK;
}

/* Zero point input k: absent -> 0 (*dt FGQ_DT_UNDEF); else a constant u8, s8
 * or s32 tensor with all values equal. */
static fgq_status const_zero(const fgq_graph *g, const fgq_ir_node *n, int32_t k, const char *what, int32_t *z,
                             fgq_dtype *dt, fgq_error *err)
{
    const fgq_ir_tensor *t = input_of(g, n, k);
    *z = 0;
    *dt = FGQ_DT_UNDEF;
    if (t == NULL)
        return FGQ_OK;
    if (t->kind != FGQ_TK_CONST || (t->data == NULL && fgq_ir_tensor_numel(t) != 0))
        return UNSUP("node '%s' (%s): %s '%s' is computed at run time (fgq quantizes with constant scales and zero "
                     "points)", n->name, n->op_type, what, t->name);
    const int64_t cnt = fgq_ir_tensor_numel(t);
    if ((!is_act(t->dtype) && t->dtype != FGQ_DT_S32) || cnt < 1)
        return UNSUP("node '%s' (%s): %s '%s' of dtype %s (only non-empty u8, s8, s32)", n->name, n->op_type, what,
                     t->name, fgq_dtype_name(t->dtype));
    int32_t first = 0;
    for (int64_t i = 0; i < cnt; i++) {
        const int32_t v = t->dtype == FGQ_DT_U8   ? ((const uint8_t *)t->data)[i]
                          : t->dtype == FGQ_DT_S8 ? ((const int8_t *)t->data)[i]
                                                  : ((const int32_t *)t->data)[i];
        if (i == 0)
            first = v;
        else if (v != first)
            return UNSUP("node '%s' (%s): per-axis %s (%lld different values) is not supported: the integer kernels "
                         "take one zero point per tensor", n->name, n->op_type, what, (long long)cnt);
    }
    *z = first;
    *dt = t->dtype;
    return FGQ_OK;
}

/* The zero point of an operand of dtype `op_dt` must have that dtype. */
static fgq_status zero_matches(const fgq_ir_node *n, const char *what, fgq_dtype zdt, fgq_dtype op_dt, fgq_error *err)
{
    if (zdt != FGQ_DT_UNDEF && zdt != op_dt)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): %s is %s, its operand %s", n->name, n->op_type, what,
                        fgq_dtype_name(zdt), fgq_dtype_name(op_dt));
    return FGQ_OK;
}

static fgq_status need_act(const fgq_ir_node *n, const fgq_ir_tensor *t, const char *what, fgq_error *err)
{
    if (t == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): input %s is missing", n->name, n->op_type, what);
    if (!is_act(t->dtype))
        return UNSUP("node '%s' (%s): %s '%s' of dtype %s is not supported (only u8, s8)", n->name, n->op_type, what,
                     t->name, fgq_dtype_name(t->dtype));
    return FGQ_OK;
}

static fgq_status lower_quantize(const fgq_graph *g, const fgq_ir_node *n, int is_q, fgq_lowered_node *out,
                                 fgq_error *err)
{
    out->op = is_q ? FGQ_OP_QUANTIZE : FGQ_OP_DEQUANTIZE;
    if (fgq_node_attr_int(n, "block_size", 0) != 0)
        return UNSUP("node '%s' (%s): blocked quantization (block_size=%lld) is not supported", n->name, n->op_type,
                     (long long)fgq_node_attr_int(n, "block_size", 0));
    if (g == NULL)
        return FGQ_OK;
    float s = 0;
    int32_t z = 0;
    fgq_dtype zdt;
    fgq_status st = const_scale(g, n, 1, is_q ? "y_scale" : "x_scale", &s, err);
    if (st == FGQ_OK)
        st = const_zero(g, n, 2, is_q ? "y_zero_point" : "x_zero_point", &z, &zdt, err);
    if (st != FGQ_OK)
        return st;
    const fgq_ir_tensor *x = input_of(g, n, 0), *y = &g->tensors[n->outputs[0]];
    if (x == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): input x is missing", n->name, n->op_type);
    if (is_q) {
        if (x->dtype != FGQ_DT_F32)
            return UNSUP("node '%s' (QuantizeLinear): input of dtype %s (only f32)", n->name, fgq_dtype_name(x->dtype));
        if (!is_act(y->dtype))
            return UNSUP("node '%s' (QuantizeLinear): output dtype %s (only u8, s8)", n->name, fgq_dtype_name(y->dtype));
        if ((st = zero_matches(n, "y_zero_point", zdt, y->dtype, err)) != FGQ_OK)
            return st;
        int32_t lo, hi;
        dtype_range(y->dtype, &lo, &hi);
        out->iparams[FGQ_QP_Y_ZERO] = z;
        out->iparams[FGQ_QP_QMIN] = lo;
        out->iparams[FGQ_QP_QMAX] = hi;
        out->iparams[FGQ_QP_ROUND] = 1; /* ONNX: round half to even */
    } else {
        if (!is_act(x->dtype) && x->dtype != FGQ_DT_S32)
            return UNSUP("node '%s' (DequantizeLinear): input of dtype %s (only u8, s8, s32)", n->name,
                         fgq_dtype_name(x->dtype));
        if (y->dtype != FGQ_DT_F32)
            return UNSUP("node '%s' (DequantizeLinear): output dtype %s (only f32)", n->name, fgq_dtype_name(y->dtype));
        if ((st = zero_matches(n, "x_zero_point", zdt, x->dtype, err)) != FGQ_OK)
            return st;
        out->iparams[FGQ_QP_X_ZERO] = z;
    }
    out->fparams[FGQ_QPF_SCALE] = s;
    out->n_inputs = 1;
    out->inputs[0] = n->inputs[0];
    return FGQ_OK;
}

/* MatMulInteger (qlinear 0) / QLinearMatMul (1); ConvInteger / QLinearConv with is_conv. */
static fgq_status lower_int(const fgq_graph *g, const fgq_ir_node *n, int qlinear, int is_conv,
                            fgq_lower_spatial_fn spatial, fgq_lowered_node *out, fgq_error *err)
{
    /* operand and parameter input positions */
    const int32_t ia = 0, iw = qlinear ? 3 : 1, iza = 2, izw = qlinear ? 5 : 3;
    out->op = is_conv ? FGQ_OP_CONV_INT : FGQ_OP_MATMUL_INT;
    if (is_conv) {
        const int64_t group = fgq_node_attr_int(n, "group", 1);
        if (group < 1 || group > INT32_MAX)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (%s): group %lld", n->name, n->op_type, (long long)group);
        out->iparams[FGQ_P_GROUP] = (int32_t)group;
        /* lower.c's spatial lowering reads X and W as inputs 0 and 1 */
        fgq_ir_node xw = *n;
        int32_t ins[2] = {n->n_inputs > ia ? n->inputs[ia] : -1, n->n_inputs > iw ? n->inputs[iw] : -1};
        xw.inputs = ins;
        xw.n_inputs = 2;
        fgq_status st = spatial(g, &xw, 1, out, err);
        if (st != FGQ_OK)
            return st;
    }
    if (g == NULL)
        return FGQ_OK;
    const fgq_ir_tensor *a = input_of(g, n, ia), *w = input_of(g, n, iw), *y = &g->tensors[n->outputs[0]];
    fgq_status st = need_act(n, a, qlinear ? (is_conv ? "x" : "a") : (is_conv ? "x" : "A"), err);
    if (st == FGQ_OK)
        st = need_act(n, w, qlinear ? (is_conv ? "w" : "b") : (is_conv ? "w" : "B"), err);
    if (st != FGQ_OK)
        return st;
    if (!is_conv) {
        if (a->rank < 2 || (w->rank != 2 && w->rank != a->rank))
            return UNSUP("node '%s' (%s): operands of rank %d and %d (only A rank >= 2 with B rank 2 or A's rank)",
                         n->name, n->op_type, (int)a->rank, (int)w->rank);
        for (int32_t i = 0; w->rank > 2 && i + 2 < a->rank; i++)
            if (w->dims[i] != a->dims[i])
                return UNSUP("node '%s' (%s): broadcast batch dims (%lld vs %lld) are not supported", n->name,
                             n->op_type, (long long)a->dims[i], (long long)w->dims[i]);
    }
    int32_t za, zw;
    fgq_dtype zadt, zwdt;
    if ((st = const_zero(g, n, iza, is_conv ? "x_zero_point" : "a_zero_point",
                         &za, &zadt, err)) != FGQ_OK ||
        (st = const_zero(g, n, izw, is_conv ? "w_zero_point" : "b_zero_point",
                         &zw, &zwdt, err)) != FGQ_OK ||
        (st = zero_matches(n, "the first operand's zero point", zadt, a->dtype, err)) != FGQ_OK ||
        (st = zero_matches(n, "the second operand's zero point", zwdt, w->dtype, err)) != FGQ_OK)
        return st;
    out->iparams[FGQ_QP_X_ZERO] = za;
    out->iparams[FGQ_QP_INT_W_ZERO] = zw;
    out->n_inputs = 2;
    out->inputs[0] = n->inputs[ia];
    out->inputs[1] = n->inputs[iw];
    if (!qlinear) {
        if (y->dtype != FGQ_DT_S32)
            return UNSUP("node '%s' (%s): output dtype %s (only s32)", n->name, n->op_type, fgq_dtype_name(y->dtype));
        return FGQ_OK;
    }
    float sa, sw, sy;
    int32_t zy;
    fgq_dtype zydt;
    if ((st = const_scale(g, n, 1, is_conv ? "x_scale" : "a_scale", &sa, err)) != FGQ_OK ||
        (st = const_scale(g, n, 4, is_conv ? "w_scale" : "b_scale", &sw, err)) != FGQ_OK ||
        (st = const_scale(g, n, 6, "y_scale", &sy, err)) != FGQ_OK ||
        (st = const_zero(g, n, 7, "y_zero_point", &zy, &zydt, err)) != FGQ_OK)
        return st;
    if (!is_act(y->dtype))
        return UNSUP("node '%s' (%s): output dtype %s (only u8, s8)", n->name, n->op_type, fgq_dtype_name(y->dtype));
    if ((st = zero_matches(n, "y_zero_point", zydt, y->dtype, err)) != FGQ_OK)
        return st;
    /* y = z_y + round(acc · s_a·s_w / s_y), acc = Σ (a − z_a)(w − z_w) (+ bias, scale s_a·s_w) */
    int32_t mult = 0, shift = 0;
    const double real = (double)sa * (double)sw / (double)sy;
    if (fgq_quantize_multiplier(real, &mult, &shift, err) != FGQ_OK)
        return UNSUP("node '%s' (%s): output multiplier s_a·s_w/s_y = %g is outside [2^-31, 2^31)", n->name,
                     n->op_type, real);
    if (shift < -31 || shift > 31)
        return UNSUP("node '%s' (%s): output multiplier s_a·s_w/s_y = %g needs shift %d (only -31..31)", n->name,
                     n->op_type, real, (int)shift);
    int32_t lo, hi;
    dtype_range(y->dtype, &lo, &hi);
    out->iparams[FGQ_QP_Y_ZERO] = zy;
    out->iparams[FGQ_QP_QMIN] = lo;
    out->iparams[FGQ_QP_QMAX] = hi;
    out->iparams[FGQ_QP_REQ_MULT] = mult;
    out->iparams[FGQ_QP_REQ_SHIFT] = shift;
    if (is_conv && n->n_inputs > 8 && n->inputs[8] >= 0) {
        const fgq_ir_tensor *b = &g->tensors[n->inputs[8]];
        if (b->dtype != FGQ_DT_S32)
            return UNSUP("node '%s' (QLinearConv): bias '%s' of dtype %s (only s32)", n->name, b->name,
                         fgq_dtype_name(b->dtype));
        out->inputs[out->n_inputs++] = n->inputs[8];
    }
    return FGQ_OK;
}

fgq_status fgq_lower_onnxq(const fgq_graph *g, const fgq_ir_node *n, fgq_lower_spatial_fn spatial,
                           fgq_lowered_node *out, fgq_error *err)
{
    const char *op = n->op_type;
    if (n->n_inputs > FGQ_LOWER_MAX_INPUTS)
        return UNSUP("node '%s' (%s): %d inputs, at most %d supported", n->name, op, (int)n->n_inputs,
                     FGQ_LOWER_MAX_INPUTS);
    if (strcmp(op, "DynamicQuantizeLinear") == 0) { /* Y, Y_SCALE, Y_ZERO: all three outputs */
        if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs != 3 || n->outputs[1] < 0 || n->outputs[2] < 0)
            return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): expected input x and outputs y, y_scale, "
                            "y_zero_point", n->name, op);
        out->op = FGQ_OP_DYNQUANT;
        out->n_inputs = 1;
        out->inputs[0] = n->inputs[0];
        out->n_outputs = 3;
        for (int32_t k = 0; k < 3; k++)
            out->outputs[k] = n->outputs[k];
        return FGQ_OK;
    }
    /* one output: ONNX gives these ops no other */
    out->n_outputs = 1;
    out->outputs[0] = n->outputs[0];
    if (strcmp(op, "QuantizeLinear") == 0 || strcmp(op, "DequantizeLinear") == 0)
        return lower_quantize(g, n, strcmp(op, "QuantizeLinear") == 0, out, err);
    if (strcmp(op, "MatMulInteger") == 0)
        return lower_int(g, n, 0, 0, spatial, out, err);
    if (strcmp(op, "ConvInteger") == 0)
        return lower_int(g, n, 0, 1, spatial, out, err);
    if (strcmp(op, "QLinearMatMul") == 0)
        return lower_int(g, n, 1, 0, spatial, out, err);
    if (strcmp(op, "QLinearConv") == 0)
        return lower_int(g, n, 1, 1, spatial, out, err);
    return UNSUP("node '%s': op %s has no fgq lowering", n->name, op);
}
