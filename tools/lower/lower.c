/* lower.c — ONNX node → fgq_op + iparams/fparams (runtime/fgq_ops.h). */
#include "lower/lower.h"

#include "import/onnx_import.h"
#include "import/op_semantics.h"
#include "lower/lower_onnxq.h"
#include "passes/passes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define UNSUP(...) fgq_fail(err, FGQ_ERR_UNSUPPORTED, __VA_ARGS__)

static int op_is(const fgq_ir_node *n, const char *op)
{
    return fgq_node_is(n, op);
}

static const fgq_ir_tensor *tensor_of(const fgq_graph *g, int32_t t)
{
    return (g != NULL && t >= 0 && t < g->n_tensors) ? &g->tensors[t] : NULL;
}

static int tensor_used(const fgq_graph *g, int32_t t)
{
    if (t < 0)
        return 0;
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return 1;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == t)
                return 1;
    return 0;
}

/* Reads an INTS attribute of at most `cap` values into v; returns its length, def_n if absent, -1 if too long. */
static int32_t ints_attr(const fgq_ir_node *n, const char *name, int64_t *v, int32_t cap, int32_t def_n)
{
    const fgq_ir_attr *a = fgq_node_attr(n, name);
    if (a == NULL || a->type != FGQ_ATTR_INTS)
        return def_n;
    if (a->n > cap)
        return -1;
    for (int32_t i = 0; i < a->n; i++)
        v[i] = a->ints[i];
    return a->n;
}

/* Fused activation written by passes.h into iparams[ip_slot] and fparams act0/act1. */
static void lower_act(const fgq_ir_node *n, fgq_lowered_node *out, int ip_slot)
{
    int64_t act = fgq_node_attr_int(n, FGQ_ATTR_ACT, FGQ_ACT_NONE);
    out->iparams[ip_slot] = (int32_t)act;
    if (act == FGQ_ACT_CLIP) {
        out->fparams[FGQ_PF_ACT0] = fgq_node_attr_float(n, FGQ_ATTR_ACT_MIN, -INFINITY);
        out->fparams[FGQ_PF_ACT1] = fgq_node_attr_float(n, FGQ_ATTR_ACT_MAX, INFINITY);
    }
}

/* Spatial block for Conv / MaxPool / AveragePool. Conv takes the kernel from W. */
static fgq_status lower_spatial(const fgq_graph *g, const fgq_ir_node *n, int is_conv, fgq_lowered_node *out,
                                fgq_error *err)
{
    int64_t kernel[3] = {0, 0, 0}, strides[3] = {1, 1, 1}, dil[3] = {1, 1, 1}, pads[6] = {0};
    int32_t ns = ints_attr(n, "kernel_shape", kernel, 3, 0);
    const fgq_ir_tensor *x = tensor_of(g, n->n_inputs > 0 ? n->inputs[0] : -1);
    const fgq_ir_tensor *w = is_conv ? tensor_of(g, n->n_inputs > 1 ? n->inputs[1] : -1) : NULL;
    if (ns < 0)
        return UNSUP("node '%s' (%s): kernel_shape has more than 3 dims (only 1-D..3-D)", n->name, n->op_type);
    if (w != NULL) {
        if (w->rank < 3 || w->rank > 5)
            return UNSUP("node '%s' (%s): weight of rank %d (only 1-D..3-D convolutions)", n->name, n->op_type,
                         (int)w->rank);
        if (ns > 0 && ns != w->rank - 2)
            return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Conv): kernel_shape has %d dims, weight %d", n->name,
                            (int)ns, (int)w->rank - 2);
        ns = w->rank - 2;
        for (int32_t i = 0; i < ns; i++) {
            if (kernel[i] != 0 && kernel[i] != w->dims[i + 2])
                return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Conv): kernel_shape disagrees with the weight",
                                n->name);
            kernel[i] = w->dims[i + 2];
        }
    }
    if (!is_conv && ns == 0)
        return UNSUP("node '%s' (%s): attribute kernel_shape is missing", n->name, n->op_type);
    if (ints_attr(n, "strides", strides, 3, 0) < 0 || ints_attr(n, "dilations", dil, 3, 0) < 0 ||
        ints_attr(n, "pads", pads, 6, 0) < 0)
        return UNSUP("node '%s' (%s): strides/dilations/pads longer than 3 spatial dims", n->name, n->op_type);
    const fgq_ir_attr *ap = fgq_node_attr(n, "auto_pad");
    const char *auto_pad = ap != NULL && ap->type == FGQ_ATTR_STRING && ap->s != NULL ? ap->s : "NOTSET";
    int same_upper = strcmp(auto_pad, "SAME_UPPER") == 0, same_lower = strcmp(auto_pad, "SAME_LOWER") == 0;
    if (strcmp(auto_pad, "VALID") == 0) {
        memset(pads, 0, sizeof pads);
    } else if (same_upper || same_lower) {
        /* out = ceil(in / stride); total pad makes the last window end at the input end.
         * The odd pixel goes at the end (SAME_UPPER) or the beginning (SAME_LOWER). */
        if (x != NULL) {
            if (x->rank != ns + 2)
                return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (%s): input rank %d for %d spatial dims", n->name,
                                n->op_type, (int)x->rank, (int)ns);
            for (int32_t i = 0; i < ns; i++) {
                int64_t in = x->dims[i + 2], s = strides[i] > 0 ? strides[i] : 1;
                int64_t o = (in + s - 1) / s;
                int64_t total = (o - 1) * s + (kernel[i] - 1) * dil[i] + 1 - in;
                if (total < 0)
                    total = 0;
                pads[i] = same_upper ? total / 2 : total - total / 2;
                pads[i + ns] = total - pads[i];
            }
        }
    } else if (strcmp(auto_pad, "NOTSET") != 0) {
        return UNSUP("node '%s' (%s): attribute auto_pad=%s is not supported", n->name, n->op_type, auto_pad);
    }
    if (g == NULL && ns == 0)
        return FGQ_OK; /* support check of a Conv without kernel_shape: the weight decides later */
    if (ns < 1 || ns > 3)
        return UNSUP("node '%s' (%s): %d spatial dims (only 1-D..3-D)", n->name, n->op_type, (int)ns);
    out->iparams[FGQ_P_NSPATIAL] = ns;
    for (int32_t i = 0; i < ns; i++) {
        if (kernel[i] <= 0 || kernel[i] > INT32_MAX || strides[i] <= 0 || strides[i] > INT32_MAX || dil[i] <= 0 ||
            dil[i] > INT32_MAX || pads[i] < 0 || pads[i] > INT32_MAX || pads[i + ns] < 0 || pads[i + ns] > INT32_MAX)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (%s): kernel/stride/dilation/pad out of range", n->name,
                            n->op_type);
        out->iparams[FGQ_P_KERNEL + i] = (int32_t)kernel[i];
        out->iparams[FGQ_P_STRIDE + i] = (int32_t)strides[i];
        out->iparams[FGQ_P_DILATION + i] = (int32_t)dil[i];
        out->iparams[FGQ_P_PAD_BEGIN + i] = (int32_t)pads[i];
        out->iparams[FGQ_P_PAD_END + i] = (int32_t)pads[i + ns];
    }
    return FGQ_OK;
}

static int32_t rank_of(const fgq_graph *g, int32_t t)
{
    const fgq_ir_tensor *x = tensor_of(g, t);
    return x != NULL ? x->rank : -1;
}

/* Normalises a possibly negative axis against rank r (unknown rank: left as is when >= 0). */
static fgq_status norm_axis(const fgq_ir_node *n, int64_t axis, int32_t r, int32_t *out, fgq_error *err)
{
    if (r >= 0) {
        if (axis < -r || axis >= (r == 0 ? 1 : r))
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (%s): axis %lld out of range for rank %d", n->name,
                            n->op_type, (long long)axis, (int)r);
        if (axis < 0)
            axis += r;
    } else if (axis < 0) {
        axis = 0; /* support check only: real lowering always knows the rank */
    }
    *out = (int32_t)axis;
    return FGQ_OK;
}

/* Values of integer constant input k of n (S64 or S32) into v (at most cap);
 * returns the count, -1 when the input is absent, -2 when it is not a
 * constant integer tensor of at most cap values (computed at run time). */
static int32_t const_ints_input(const fgq_graph *g, const fgq_ir_node *n, int32_t k, int64_t *v, int32_t cap)
{
    if (k >= n->n_inputs || n->inputs[k] < 0)
        return -1;
    const fgq_ir_tensor *t = tensor_of(g, n->inputs[k]);
    if (t == NULL || t->kind != FGQ_TK_CONST || t->data == NULL)
        return -2;
    const int64_t c = fgq_ir_tensor_numel(t);
    if (c < 0 || c > cap || (t->dtype != FGQ_DT_S64 && t->dtype != FGQ_DT_S32))
        return -2;
    for (int64_t i = 0; i < c; i++)
        v[i] = t->dtype == FGQ_DT_S64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
    return (int32_t)c;
}

/* A float scalar constant input k (absent: def); 0 when it is not one. */
static int const_float_input(const fgq_graph *g, const fgq_ir_node *n, int32_t k, float def, float *out)
{
    *out = def;
    if (k >= n->n_inputs || n->inputs[k] < 0)
        return 1;
    const fgq_ir_tensor *t = tensor_of(g, n->inputs[k]);
    if (t == NULL || t->kind != FGQ_TK_CONST || t->data == NULL || t->dtype != FGQ_DT_F32 ||
        fgq_ir_tensor_numel(t) != 1)
        return 0;
    *out = ((const float *)t->data)[0];
    return 1;
}

/* Reduce*: axes from the attribute (ReduceSum before opset 13, the others
 * before 18) or the constant second input; none (or an empty list) reduces
 * every dim unless noop_with_empty_axes. The mask needs X's rank: a
 * graph-less support check stops after the attributes. */
static fgq_status lower_reduce(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               fgq_error *err)
{
    static const char *const names[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2",
                                        "ReduceSumSquare"};
    for (int32_t k = 0; k < 6; k++)
        if (op_is(n, names[k]))
            out->iparams[0] = k;
    out->op = FGQ_OP_REDUCE;
    const int axes_input = fgq_onnx_reduce_axes_are_input(n->op_type, opset);
    int64_t axes[2 * FGQ_MAX_DIMS];
    int32_t na = axes_input ? 0 : ints_attr(n, "axes", axes, 2 * FGQ_MAX_DIMS, 0);
    if (na < 0)
        return UNSUP("node '%s' (%s): more than %d axes", n->name, n->op_type, 2 * FGQ_MAX_DIMS);
    if (g == NULL)
        return FGQ_OK;
    if (axes_input) {
        na = const_ints_input(g, n, 1, axes, 2 * FGQ_MAX_DIMS);
        if (na == -2)
            return UNSUP("node '%s' (%s): input axes ('%s') must be a constant (computed at run time)", n->name,
                         n->op_type, g->tensors[n->inputs[1]].name);
        na = na < 0 ? 0 : na;
    }
    const int32_t r = rank_of(g, n->inputs[0]);
    if (r < 0)
        return UNSUP("node '%s' (%s): input rank is unknown", n->name, n->op_type);
    uint32_t mask = 0;
    char why[160];
    if (fgq_onnx_reduce_mask(r, axes, na, fgq_node_attr_int(n, "noop_with_empty_axes", 0) != 0, &mask, why,
                             sizeof why) != 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (%s): %s", n->name, n->op_type, why);
    out->iparams[1] = (int32_t)mask;
    return FGQ_OK;
}

/* Slice: starts/ends/axes/steps from constant inputs (opset >= 10) or
 * attributes (opset < 10), resolved against X's dims as shape inference does
 * (import/op_semantics.h) into a first index and a step per dim; the
 * output's dims hold the counts. */
static fgq_status lower_slice(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                              fgq_error *err)
{
    out->op = FGQ_OP_SLICE;
    int64_t st_[FGQ_MAX_DIMS], en[FGQ_MAX_DIMS], ax[FGQ_MAX_DIMS], sp[FGQ_MAX_DIMS];
    int32_t ns, ne, na, nsp = -1;
    if (opset < 10) {
        ns = ints_attr(n, "starts", st_, FGQ_MAX_DIMS, -1);
        ne = ints_attr(n, "ends", en, FGQ_MAX_DIMS, -1);
        na = ints_attr(n, "axes", ax, FGQ_MAX_DIMS, -2);
        if (ns < 0 || ne < 0 || na == -1)
            return UNSUP("node '%s' (Slice): attributes starts/ends missing or longer than %d", n->name, FGQ_MAX_DIMS);
        na = na == -2 ? -1 : na;
    } else {
        if (g == NULL)
            return FGQ_OK;
        ns = const_ints_input(g, n, 1, st_, FGQ_MAX_DIMS);
        ne = const_ints_input(g, n, 2, en, FGQ_MAX_DIMS);
        na = const_ints_input(g, n, 3, ax, FGQ_MAX_DIMS);
        nsp = const_ints_input(g, n, 4, sp, FGQ_MAX_DIMS);
        if (ns < 0 || ne < 0 || na == -2 || nsp == -2)
            return UNSUP("node '%s' (Slice): starts, ends, axes and steps must be constants (at most %d values)",
                         n->name, FGQ_MAX_DIMS);
    }
    if (g == NULL)
        return FGQ_OK;
    const fgq_ir_tensor *x = tensor_of(g, n->inputs[0]);
    if (x == NULL || x->rank < 0)
        return UNSUP("node '%s' (Slice): input rank is unknown", n->name);
    if (ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Slice): starts, ends, axes, steps differ in length", n->name);
    int64_t first[FGQ_MAX_DIMS], step[FGQ_MAX_DIMS], count[FGQ_MAX_DIMS];
    char why[160];
    if (fgq_onnx_slice_resolve(x->rank, x->dims, ns, st_, en, na >= 0 ? ax : NULL, nsp >= 0 ? sp : NULL, first, step,
                               count, why, sizeof why) != 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Slice): %s", n->name, why);
    for (int32_t i = 0; i < x->rank; i++) {
        if (first[i] > INT32_MAX)
            return UNSUP("node '%s' (Slice): start %lld past int32", n->name, (long long)first[i]);
        out->iparams[i] = (int32_t)first[i];
        out->iparams[FGQ_MAX_DIMS + i] = (int32_t)step[i];
    }
    return FGQ_OK;
}

/* Pad: pads [begin_0.., end_0..] and the constant from inputs (opset >= 11)
 * or attributes; begins go to ip[1..], ends follow from Y's dims. */
static fgq_status lower_pad(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                            fgq_error *err)
{
    out->op = FGQ_OP_PAD;
    const fgq_ir_attr *am = fgq_node_attr(n, "mode");
    const char *mode = am != NULL && am->type == FGQ_ATTR_STRING && am->s != NULL ? am->s : "constant";
    if (strcmp(mode, "constant") == 0)
        out->iparams[0] = 0;
    else if (strcmp(mode, "reflect") == 0)
        out->iparams[0] = 1;
    else if (strcmp(mode, "edge") == 0)
        out->iparams[0] = 2;
    else
        return UNSUP("node '%s' (Pad): mode '%s' is not supported (constant, reflect, edge)", n->name, mode);
    int64_t pads[2 * FGQ_MAX_DIMS];
    int32_t np;
    float value = 0.0f;
    if (opset < 11) {
        np = ints_attr(n, "pads", pads, 2 * FGQ_MAX_DIMS, -1);
        value = fgq_node_attr_float(n, "value", 0.0f);
        if (np < 0)
            return UNSUP("node '%s' (Pad): attribute pads missing or longer than %d", n->name, 2 * FGQ_MAX_DIMS);
    } else {
        if (g == NULL)
            return FGQ_OK;
        np = const_ints_input(g, n, 1, pads, 2 * FGQ_MAX_DIMS);
        if (np < 0)
            return UNSUP("node '%s' (Pad): pads must be a constant (at most %d values)", n->name, 2 * FGQ_MAX_DIMS);
        if (!const_float_input(g, n, 2, 0.0f, &value))
            return UNSUP("node '%s' (Pad): constant_value must be a constant f32 scalar", n->name);
        if (n->n_inputs > 3 && n->inputs[3] >= 0)
            return UNSUP("node '%s' (Pad): the axes input (opset 18) is not supported", n->name);
    }
    out->fparams[0] = value;
    if (g == NULL)
        return FGQ_OK;
    const int32_t r = rank_of(g, n->inputs[0]);
    if (r < 0 || np != 2 * r)
        return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Pad): %d pads for rank %d", n->name, (int)np, (int)r);
    for (int32_t i = 0; i < r; i++) {
        if (pads[i] < 0 || pads[r + i] < 0)
            return UNSUP("node '%s' (Pad): negative pads (cropping) are not supported", n->name);
        if (pads[i] > INT32_MAX)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Pad): pad %lld", n->name, (long long)pads[i]);
        out->iparams[1 + i] = (int32_t)pads[i];
    }
    return FGQ_OK;
}

int fgq_dropout_is_inference(const fgq_graph *g, const fgq_ir_node *n)
{
    if (fgq_node_attr_int(n, "training_mode", 0) != 0) /* opset < 12 attribute form */
        return 0;
    if (n->n_inputs < 3 || n->inputs[2] < 0)
        return 1;
    if (g == NULL)
        return 0;
    const fgq_ir_tensor *r = n->inputs[1] >= 0 ? &g->tensors[n->inputs[1]] : NULL;
    if (r != NULL && r->kind == FGQ_TK_CONST && r->data != NULL && r->dtype == FGQ_DT_F32 &&
        fgq_ir_tensor_numel(r) == 1 && ((const float *)r->data)[0] == 0.0f)
        return 1; /* ratio 0: y = x even in training mode (the mask output, all true, must be unread) */
    const fgq_ir_tensor *t = &g->tensors[n->inputs[2]];
    if (t->kind != FGQ_TK_CONST || t->data == NULL || fgq_ir_tensor_numel(t) != 1)
        return 0;
    size_t es = fgq_dtype_size(t->dtype);
    static const uint8_t zero[8] = {0};
    return es > 0 && es <= sizeof zero && memcmp(t->data, zero, es) == 0;
}

/* Split: every output, sizes from their dims (checked by shape inference
 * against the split input/attribute); only the axis is a parameter. */
static fgq_status lower_split(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                              fgq_error *err)
{
    (void)opset;
    out->op = FGQ_OP_SPLIT;
    if (n->n_outputs < 1 || n->n_outputs > FGQ_SPLIT_MAX_OUTPUTS)
        return UNSUP("node '%s' (Split): %d outputs, at most %d supported", n->name, (int)n->n_outputs,
                     FGQ_SPLIT_MAX_OUTPUTS);
    out->n_outputs = n->n_outputs;
    for (int32_t k = 0; k < n->n_outputs; k++) {
        if (n->outputs[k] < 0)
            return UNSUP("node '%s' (Split): output %d is omitted", n->name, (int)k);
        out->outputs[k] = n->outputs[k];
    }
    if (n->n_inputs > 1 && n->inputs[1] >= 0 && g != NULL) {
        int64_t v[FGQ_SPLIT_MAX_OUTPUTS];
        if (const_ints_input(g, n, 1, v, FGQ_SPLIT_MAX_OUTPUTS) < 0)
            return UNSUP("node '%s' (Split): input split must be a constant", n->name);
    }
    fgq_status st = norm_axis(n, fgq_node_attr_int(n, "axis", 0), rank_of(g, n->inputs[0]), &out->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    out->n_inputs = 1;
    out->inputs[0] = n->inputs[0];
    if (out->inputs[0] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (Split): first input is missing", n->name);
    return FGQ_OK;
}

/* LayerNormalization: Y and, where present, the Mean and InvStdDev outputs. */
static fgq_status lower_layernorm(const fgq_graph *g, const fgq_ir_node *n, fgq_lowered_node *out, fgq_error *err)
{
    out->op = FGQ_OP_LAYERNORM;
    if (fgq_node_attr_int(n, "stash_type", 1) != 1)
        return UNSUP("node '%s' (LayerNormalization): stash_type %lld (only 1: float)", n->name,
                     (long long)fgq_node_attr_int(n, "stash_type", 1));
    fgq_status st = norm_axis(n, fgq_node_attr_int(n, "axis", -1), rank_of(g, n->n_inputs > 0 ? n->inputs[0] : -1),
                              &out->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    out->fparams[0] = fgq_node_attr_float(n, "epsilon", 1e-5f);
    out->n_outputs = n->n_outputs < 3 ? n->n_outputs : 3;
    for (int32_t k = 0; k < out->n_outputs; k++) {
        if (n->outputs[k] < 0 && k < out->n_outputs - 1)
            return UNSUP("node '%s' (LayerNormalization): output %d omitted before a later one", n->name, (int)k);
        out->outputs[k] = n->outputs[k];
    }
    while (out->n_outputs > 1 && (out->outputs[out->n_outputs - 1] < 0 ||
                                  (g != NULL && !tensor_used(g, out->outputs[out->n_outputs - 1]))))
        out->n_outputs--;
    out->n_inputs = n->n_inputs < 3 ? n->n_inputs : 3;
    for (int32_t k = 0; k < out->n_inputs; k++)
        out->inputs[k] = n->inputs[k];
    while (out->n_inputs > 0 && out->inputs[out->n_inputs - 1] < 0)
        out->n_inputs--;
    if (out->n_inputs < 2 || out->inputs[0] < 0 || out->inputs[1] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (LayerNormalization): X and Scale are required", n->name);
    return FGQ_OK;
}

/* Resize / Upsample: attributes and constant scales or sizes resolved against
 * X's dims as shape inference does (import/op_semantics.h). */
static fgq_status lower_resize(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               fgq_error *err)
{
    out->op = FGQ_OP_RESIZE;
    int32_t si, zi;
    char why[160];
    if (fgq_onnx_resize_attrs(n, opset, &out->iparams[0], &out->iparams[1], &out->iparams[2], &si, &zi, why,
                              sizeof why) != 0)
        return UNSUP("node '%s' (%s): %s", n->name, n->op_type, why);
    if (g == NULL)
        return FGQ_OK;
    const fgq_ir_tensor *x = tensor_of(g, n->inputs[0]);
    if (x == NULL || x->rank < 2)
        return UNSUP("node '%s' (%s): input rank unknown or below 2", n->name, n->op_type);
    float scales[FGQ_MAX_DIMS];
    int64_t sizes[FGQ_MAX_DIMS];
    int have_scales = 0, have_sizes = 0;
    const fgq_ir_attr *sa = si < 0 ? fgq_node_attr(n, "scales") : NULL;
    if (sa != NULL && sa->type == FGQ_ATTR_FLOATS && sa->n == x->rank) {
        for (int32_t i = 0; i < x->rank; i++)
            scales[i] = sa->floats[i];
        have_scales = 1;
    } else if (si >= 0 && si < n->n_inputs && n->inputs[si] >= 0) {
        const fgq_ir_tensor *t = tensor_of(g, n->inputs[si]);
        const int64_t c = t != NULL ? fgq_ir_tensor_numel(t) : -1;
        if (t == NULL || t->kind != FGQ_TK_CONST || t->dtype != FGQ_DT_F32 || (c != 0 && c != x->rank))
            return UNSUP("node '%s' (%s): scales must be a constant f32 vector of %d values", n->name, n->op_type,
                         (int)x->rank);
        for (int64_t i = 0; i < c; i++)
            scales[i] = ((const float *)t->data)[i];
        have_scales = c > 0;
    }
    if (!have_scales && zi >= 0) {
        int32_t c = const_ints_input(g, n, zi, sizes, FGQ_MAX_DIMS);
        if (c != x->rank)
            return UNSUP("node '%s' (%s): sizes must be a constant of %d values", n->name, n->op_type, (int)x->rank);
        have_sizes = 1;
    }
    if (!have_scales && !have_sizes)
        return UNSUP("node '%s' (%s): neither scales nor sizes given as constants", n->name, n->op_type);
    int64_t od[FGQ_MAX_DIMS];
    float eff[FGQ_MAX_DIMS];
    if (fgq_onnx_resize_output(x->rank, x->dims, have_scales ? scales : NULL, have_sizes ? sizes : NULL, od, eff, why,
                               sizeof why) != 0)
        return UNSUP("node '%s' (%s): %s", n->name, n->op_type, why);
    out->fparams[0] = eff[x->rank - 2];
    out->fparams[1] = eff[x->rank - 1];
    out->iparams[3] = have_sizes;
    return FGQ_OK;
}

/* LSTM / GRU: the default activations, layout 0, no sequence_lens or peepholes;
 * every output present (Y holds the previous step's h, Y_c the cell state). */
static fgq_status lower_rnn(const fgq_graph *g, const fgq_ir_node *n, fgq_lowered_node *out, fgq_error *err)
{
    const int lstm = op_is(n, "LSTM");
    out->op = lstm ? FGQ_OP_LSTM : FGQ_OP_GRU;
    const fgq_ir_attr *a = fgq_node_attr(n, "direction");
    const char *dir = a != NULL && a->type == FGQ_ATTR_STRING && a->s != NULL ? a->s : "forward";
    out->iparams[0] = strcmp(dir, "forward") == 0 ? 0 : strcmp(dir, "reverse") == 0 ? 1 : strcmp(dir, "bidirectional") == 0 ? 2 : -1;
    if (out->iparams[0] < 0)
        return UNSUP("node '%s' (%s): direction '%s'", n->name, n->op_type, dir);
    const int64_t hs = fgq_node_attr_int(n, "hidden_size", 0);
    if (hs < 1 || hs > INT32_MAX)
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (%s): hidden_size %lld", n->name, n->op_type, (long long)hs);
    out->iparams[1] = (int32_t)hs;
    out->fparams[0] = fgq_node_attr_float(n, "clip", 0.0f);
    a = fgq_node_attr(n, "activations");
    if (a != NULL && a->type == FGQ_ATTR_STRINGS) {
        static const char *const want_lstm[] = {"Sigmoid", "Tanh", "Tanh"}, *const want_gru[] = {"Sigmoid", "Tanh"};
        const int32_t per = lstm ? 3 : 2;
        for (int32_t k = 0; k < a->n; k++)
            if (a->strings == NULL || a->strings[k] == NULL ||
                strcmp(a->strings[k], (lstm ? want_lstm : want_gru)[k % per]) != 0)
                return UNSUP("node '%s' (%s): activations other than the default (%s) are not supported", n->name,
                             n->op_type, lstm ? "Sigmoid, Tanh, Tanh" : "Sigmoid, Tanh");
    }
    if (fgq_node_attr_int(n, "layout", 0) != 0 || fgq_node_attr_int(n, "input_forget", 0) != 0)
        return UNSUP("node '%s' (%s): layout 1 and input_forget are not supported", n->name, n->op_type);
    out->iparams[2] = !lstm && fgq_node_attr_int(n, "linear_before_reset", 0) != 0;
    const int32_t n_out = lstm ? 3 : 2, max_in = lstm ? 7 : 6;
    if (n->n_inputs > 4 && n->inputs[4] >= 0)
        return UNSUP("node '%s' (%s): sequence_lens is not supported", n->name, n->op_type);
    if (n->n_inputs > max_in && n->inputs[max_in] >= 0)
        return UNSUP("node '%s' (LSTM): peepholes (input P) are not supported", n->name);
    if (n->n_outputs < n_out)
        return UNSUP("node '%s' (%s): needs all %d outputs (Y, Y_h%s) declared: they hold the state", n->name,
                     n->op_type, (int)n_out, lstm ? ", Y_c" : "");
    out->n_outputs = n_out;
    for (int32_t k = 0; k < n_out; k++) {
        if (n->outputs[k] < 0)
            return UNSUP("node '%s' (%s): output %d is omitted; fgq needs Y, Y_h%s (they hold the state)", n->name,
                         n->op_type, (int)k, lstm ? ", Y_c" : "");
        out->outputs[k] = n->outputs[k];
    }
    (void)g;
    out->n_inputs = n->n_inputs < max_in ? n->n_inputs : max_in;
    for (int32_t k = 0; k < out->n_inputs; k++)
        out->inputs[k] = n->inputs[k];
    while (out->n_inputs > 3 && out->inputs[out->n_inputs - 1] < 0)
        out->n_inputs--;
    if (out->n_inputs < 3 || out->inputs[0] < 0 || out->inputs[1] < 0 || out->inputs[2] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): X, W and R are required", n->name, n->op_type);
    return FGQ_OK;
}

/* ConvTranspose: the spatial block (kernel from W) and the begin pads, from
 * the attributes resolved against X and W as shape inference does. */
static fgq_status lower_conv_transpose(const fgq_graph *g, const fgq_ir_node *n, fgq_lowered_node *out,
                                       fgq_error *err)
{
    out->op = FGQ_OP_CONV_TRANSPOSE;
    const int64_t group = fgq_node_attr_int(n, "group", 1);
    if (group < 1 || group > INT32_MAX)
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (ConvTranspose): group %lld", n->name, (long long)group);
    out->iparams[FGQ_P_GROUP] = (int32_t)group;
    if (g == NULL)
        return FGQ_OK;
    const fgq_ir_tensor *x = tensor_of(g, n->inputs[0]), *w = tensor_of(g, n->n_inputs > 1 ? n->inputs[1] : -1);
    if (x == NULL || w == NULL || x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return UNSUP("node '%s' (ConvTranspose): X and W must be 1-D..3-D with known shapes", n->name);
    const int32_t ns = x->rank - 2;
    int64_t osp[3], pb[3], st[3], dl[3];
    char why[200];
    if (fgq_onnx_conv_transpose(n, ns, x->dims + 2, w->dims + 2, osp, pb, st, dl, why, sizeof why) != 0)
        return UNSUP("node '%s' (ConvTranspose): %s", n->name, why);
    out->iparams[FGQ_P_NSPATIAL] = ns;
    for (int32_t i = 0; i < ns; i++) {
        out->iparams[FGQ_P_KERNEL + i] = (int32_t)w->dims[2 + i];
        out->iparams[FGQ_P_STRIDE + i] = (int32_t)st[i];
        out->iparams[FGQ_P_DILATION + i] = (int32_t)dl[i];
        out->iparams[FGQ_P_PAD_BEGIN + i] = (int32_t)pb[i];
    }
    return FGQ_OK;
}

/* ---- one lowering per row of import/onnx_ops.h ------------------------------------------------
 * Each fills out->op and the parameters. The rows without FGQ_ONNX_OUTPUTS lower the first output
 * only and set *keep, how many leading inputs the runtime op takes (default: all). g may be NULL:
 * attribute-only check (fgq_lower_supports). */
typedef fgq_status (*lower_fn)(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err);

static fgq_status lower_onnxq_op(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                 int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    return fgq_lower_onnxq(g, n, lower_spatial, out, err); /* ONNX's quantized ops (all outputs): lower_onnxq.c */
}

static fgq_status lower_split_op(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                 int32_t *keep, fgq_error *err)
{
    (void)keep;
    return lower_split(g, n, opset, out, err);
}

static fgq_status lower_layernorm_op(const fgq_graph *g, const fgq_ir_node *n, int64_t opset,
                                     fgq_lowered_node *out, int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    return lower_layernorm(g, n, out, err);
}

static fgq_status lower_rnn_op(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    return lower_rnn(g, n, out, err);
}

/* Reduce*, Slice, Resize / Upsample, Pad: the runtime op takes the data input only (axes, pads,
 * scales and starts become parameters). */
static fgq_status lower_one_input(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                  int32_t *keep, fgq_error *err)
{
    static const struct {
        const char *op;
        fgq_status (*fn)(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                         fgq_error *err);
    } table[] = {{"ReduceMean", lower_reduce}, {"ReduceSum", lower_reduce},   {"ReduceMax", lower_reduce},
                 {"ReduceMin", lower_reduce},  {"ReduceL2", lower_reduce},    {"ReduceSumSquare", lower_reduce},
                 {"Slice", lower_slice},       {"Resize", lower_resize},      {"Upsample", lower_resize},
                 {"Pad", lower_pad}};
    *keep = 1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (op_is(n, table[i].op))
            return table[i].fn(g, n, opset, out, err);
    return UNSUP("node '%s': op %s has no fgq lowering", n->name, n->op_type);
}

static fgq_status lower_conv(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    (void)opset;
    out->op = FGQ_OP_CONV;
    int64_t group = fgq_node_attr_int(n, "group", 1);
    if (group < 1 || group > INT32_MAX)
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Conv): group %lld", n->name, (long long)group);
    out->iparams[FGQ_P_GROUP] = (int32_t)group;
    fgq_status st = lower_spatial(g, n, 1, out, err);
    if (st != FGQ_OK)
        return st;
    lower_act(n, out, FGQ_P_ACT);
    *keep = n->n_inputs < 3 ? n->n_inputs : 3;
    return FGQ_OK;
}

static fgq_status lower_conv_transpose_op(const fgq_graph *g, const fgq_ir_node *n, int64_t opset,
                                          fgq_lowered_node *out, int32_t *keep, fgq_error *err)
{
    (void)opset;
    *keep = n->n_inputs < 3 ? n->n_inputs : 3;
    return lower_conv_transpose(g, n, out, err);
}

static fgq_status lower_gemm(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep, (void)err;
    out->op = FGQ_OP_GEMM;
    out->iparams[FGQ_P_TRANS_A] = fgq_node_attr_int(n, "transA", 0) != 0;
    out->iparams[FGQ_P_TRANS_B] = fgq_node_attr_int(n, "transB", 0) != 0;
    out->fparams[FGQ_PF_ALPHA] = fgq_node_attr_float(n, "alpha", 1.0f);
    out->fparams[FGQ_PF_BETA] = fgq_node_attr_float(n, "beta", 1.0f);
    lower_act(n, out, FGQ_P_GEMM_ACT);
    return FGQ_OK;
}

static fgq_status lower_matmul(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep, (void)err;
    out->op = FGQ_OP_MATMUL;
    lower_act(n, out, 0);
    return FGQ_OK;
}

static fgq_status lower_binary(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep, (void)err;
    out->op = op_is(n, "Add") ? FGQ_OP_ADD : op_is(n, "Sub") ? FGQ_OP_SUB : op_is(n, "Mul") ? FGQ_OP_MUL : FGQ_OP_DIV;
    lower_act(n, out, 0);
    return FGQ_OK;
}

static fgq_status lower_clip(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    out->op = FGQ_OP_CLIP;
    float lo = -INFINITY, hi = INFINITY;
    if (opset < 11) {
        lo = fgq_node_attr_float(n, "min", -INFINITY);
        hi = fgq_node_attr_float(n, "max", INFINITY);
    }
    /* Constant bounds fold into fparams; bounds computed at run time stay
     * inputs, which the runtime's Clip reads in place of fparams. */
    int runtime_bounds = 0;
    for (int32_t k = 1; g != NULL && opset >= 11 && k < n->n_inputs && k < 3; k++) {
        const fgq_ir_tensor *t = tensor_of(g, n->inputs[k]);
        if (t == NULL)
            continue;
        if (t->dtype != FGQ_DT_F32 || fgq_ir_tensor_numel(t) != 1)
            return UNSUP("node '%s' (Clip): input %s ('%s') must be an f32 scalar", n->name, k == 1 ? "min" : "max",
                         t->name);
        if (t->kind == FGQ_TK_CONST && t->data != NULL)
            (k == 1 ? &lo : &hi)[0] = ((const float *)t->data)[0];
        else
            runtime_bounds = 1;
    }
    if (isnan(lo) || isnan(hi))
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Clip): NaN bound", n->name);
    out->fparams[0] = lo;
    out->fparams[1] = hi;
    *keep = runtime_bounds ? (n->n_inputs < 3 ? n->n_inputs : 3) : 1;
    return FGQ_OK;
}

/* The ops whose runtime op is only an op id and at most float attributes with defaults. */
#define LOWER_SIMPLE(fn_, body_)                                                                                \
    static fgq_status fn_(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,       \
                          int32_t *keep, fgq_error *err)                                                        \
    {                                                                                                           \
        (void)g, (void)n, (void)opset, (void)keep, (void)err;                                                   \
        body_;                                                                                                  \
        return FGQ_OK;                                                                                          \
    }
LOWER_SIMPLE(lower_relu, out->op = FGQ_OP_RELU)
LOWER_SIMPLE(lower_leaky_relu, out->op = FGQ_OP_LEAKY_RELU; out->fparams[0] = fgq_node_attr_float(n, "alpha", 0.01f))
LOWER_SIMPLE(lower_sigmoid, out->op = FGQ_OP_SIGMOID)
LOWER_SIMPLE(lower_tanh, out->op = FGQ_OP_TANH)
LOWER_SIMPLE(lower_hard_sigmoid, out->op = FGQ_OP_HARD_SIGMOID; out->fparams[0] = fgq_node_attr_float(n, "alpha", 0.2f);
             out->fparams[1] = fgq_node_attr_float(n, "beta", 0.5f))
LOWER_SIMPLE(lower_hard_swish, out->op = FGQ_OP_HARD_SWISH)
LOWER_SIMPLE(lower_erf, out->op = FGQ_OP_ERF)
LOWER_SIMPLE(lower_sqrt, out->op = FGQ_OP_SQRT)
LOWER_SIMPLE(lower_abs, out->op = FGQ_OP_ABS)
LOWER_SIMPLE(lower_pow, out->op = FGQ_OP_POW)
LOWER_SIMPLE(lower_global_avgpool, out->op = FGQ_OP_GLOBAL_AVGPOOL)
#undef LOWER_SIMPLE

static fgq_status lower_gelu(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep;
    out->op = FGQ_OP_GELU;
    const fgq_ir_attr *ap = fgq_node_attr(n, "approximate");
    const char *appr = ap != NULL && ap->type == FGQ_ATTR_STRING && ap->s != NULL ? ap->s : "none";
    if (strcmp(appr, "none") != 0 && strcmp(appr, "tanh") != 0)
        return UNSUP("node '%s' (Gelu): approximate='%s' (none or tanh)", n->name, appr);
    out->iparams[0] = strcmp(appr, "tanh") == 0;
    return FGQ_OK;
}

static fgq_status lower_pool(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    (void)opset;
    int is_max = op_is(n, "MaxPool");
    out->op = is_max ? FGQ_OP_MAXPOOL : FGQ_OP_AVGPOOL;
    if (is_max && fgq_node_attr_int(n, "storage_order", 0) != 0)
        return UNSUP("node '%s' (MaxPool): attribute storage_order=%lld is not supported", n->name,
                     (long long)fgq_node_attr_int(n, "storage_order", 0));
    if (is_max && n->n_outputs > 1 && n->outputs[1] >= 0)
        return UNSUP("node '%s' (MaxPool): the Indices output is not supported", n->name);
    fgq_status st = lower_spatial(g, n, 0, out, err);
    if (st != FGQ_OK)
        return st;
    if (!is_max)
        out->iparams[FGQ_P_COUNT_PAD] = fgq_node_attr_int(n, "count_include_pad", 0) != 0;
    *keep = 1;
    return FGQ_OK;
}

/* GlobalMaxPool: ReduceMax over the spatial dims, kept as 1s (shape inference gives Y [N, C, 1, ...]). */
static fgq_status lower_global_maxpool(const fgq_graph *g, const fgq_ir_node *n, int64_t opset,
                                       fgq_lowered_node *out, int32_t *keep, fgq_error *err)
{
    (void)opset, (void)err;
    out->op = FGQ_OP_REDUCE;
    out->iparams[0] = FGQ_REDUCE_MAX;
    *keep = 1;
    if (g == NULL)
        return FGQ_OK;
    const int32_t r = rank_of(g, n->n_inputs > 0 ? n->inputs[0] : -1);
    if (r < 3)
        return UNSUP("node '%s' (GlobalMaxPool): input rank is unknown or below 3", n->name);
    uint32_t mask = 0;
    for (int32_t i = 2; i < r; i++)
        mask |= 1u << i;
    out->iparams[1] = (int32_t)mask;
    return FGQ_OK;
}

static fgq_status lower_batchnorm(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                  int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    out->op = FGQ_OP_BATCHNORM;
    if (fgq_node_attr_int(n, "training_mode", 0) != 0)
        return UNSUP("node '%s' (BatchNormalization): attribute training_mode=1 is not supported", n->name);
    for (int32_t k = 1; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0 && g != NULL && tensor_used(g, n->outputs[k]))
            return UNSUP("node '%s' (BatchNormalization): training-mode outputs are not supported", n->name);
    out->fparams[0] = fgq_node_attr_float(n, "epsilon", 1e-5f);
    return FGQ_OK;
}

/* Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout: a copy of the data input into the
 * output's shape. */
static fgq_status lower_copy(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    (void)opset;
    out->op = FGQ_OP_RESHAPE;
    if (op_is(n, "Dropout") && !fgq_dropout_is_inference(g, n))
        return UNSUP("node '%s' (Dropout): training mode is not supported (fgq runs inference: "
                     "training_mode must be absent or a constant false)", n->name);
    *keep = 1;
    return FGQ_OK;
}

/* Supported where they fold to constants (shape arithmetic, FGQ_ONNX_FOLD_ONLY); left at lowering,
 * they depend on a run-time input. */
static fgq_status lower_fold_only(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                  int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)out, (void)keep;
    return UNSUP("node '%s': op %s has no fgq lowering (only where it folds to a constant)", n->name, n->op_type);
}

/* Cast: to the input's own dtype a copy; to float16 (which fgq holds as float32) a rounding to
 * float16's precision; else CAST, for the dtypes the runtime holds (f32, u8, s8, s32, s64, bool). */
static fgq_status lower_cast(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                             int32_t *keep, fgq_error *err)
{
    (void)opset;
    *keep = 1;
    const int64_t to = fgq_node_attr_int(n, "to", 0);
    const fgq_dtype dt = fgq_onnx_dtype((int32_t)to);
    if (dt == FGQ_DT_UNDEF) {
        const char *name = fgq_onnx_type_name((int32_t)to);
        return UNSUP("node '%s' (Cast): to %s is not supported (float, float16 as float, uint8, int8, int32, "
                     "int64, bool)", n->name, name != NULL ? name : "an unknown type");
    }
    const fgq_ir_tensor *x = g != NULL && n->n_inputs >= 1 ? tensor_of(g, n->inputs[0]) : NULL;
    out->op = x != NULL && x->dtype == dt ? FGQ_OP_RESHAPE : FGQ_OP_CAST;
    if (to == 10 && x != NULL && x->dtype == FGQ_DT_F32) { /* the value is float16's, held as f32 */
        out->op = FGQ_OP_CAST;
        out->iparams[0] = 1;
    }
    return FGQ_OK;
}

/* Equal, Less, Greater: A, B broadcast, bool out. */
static fgq_status lower_compare(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep, (void)err;
    out->op = op_is(n, "Equal") ? FGQ_OP_EQUAL : op_is(n, "Less") ? FGQ_OP_LESS : FGQ_OP_GREATER;
    return FGQ_OK;
}

static fgq_status lower_where(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                              int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep;
    out->op = FGQ_OP_WHERE;
    if (n->n_inputs != 3 || n->inputs[1] < 0 || n->inputs[2] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (Where): condition, X and Y are required", n->name);
    return FGQ_OK;
}

/* Expand: the shape input must be known at conversion (fgq plans static shapes); the runtime op
 * takes X and broadcasts it to Y's dims. */
static fgq_status lower_expand(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err)
{
    (void)opset;
    out->op = FGQ_OP_EXPAND;
    *keep = 1;
    const fgq_ir_tensor *s = g != NULL && n->n_inputs >= 2 ? tensor_of(g, n->inputs[1]) : NULL;
    if (g != NULL && (s == NULL || s->kind != FGQ_TK_CONST))
        return UNSUP("node '%s' (Expand): input shape%s%s%s must be a constant (computed at run time)", n->name,
                     s != NULL ? " ('" : "", s != NULL ? s->name : "", s != NULL ? "')" : "");
    (void)err;
    return FGQ_OK;
}

/* Mod: A, B broadcast; ip[0] = fmod (0 Python's %, integers only; 1 C's fmod). */
static fgq_status lower_mod(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                            int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    out->op = FGQ_OP_MOD;
    const int64_t fmod_ = fgq_node_attr_int(n, "fmod", 0);
    if (fmod_ != 0 && fmod_ != 1)
        return UNSUP("node '%s' (Mod): fmod = %lld (0 or 1)", n->name, (long long)fmod_);
    out->iparams[0] = (int32_t)fmod_;
    const fgq_ir_tensor *a = g != NULL && n->n_inputs >= 1 ? tensor_of(g, n->inputs[0]) : NULL;
    if (a != NULL && a->dtype == FGQ_DT_F32 && fmod_ == 0)
        return UNSUP("node '%s' (Mod): float inputs need fmod = 1", n->name);
    if (n->n_inputs != 2 || n->inputs[1] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (Mod): A and B are required", n->name);
    return FGQ_OK;
}

static fgq_status lower_not(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                            int32_t *keep, fgq_error *err)
{
    (void)g, (void)n, (void)opset, (void)keep, (void)err;
    out->op = FGQ_OP_NOT;
    return FGQ_OK;
}

/* ScatterND: data, indices (int64, constant or computed), updates; ip[0] the reduction. */
static fgq_status lower_scatter_nd(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                   int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)keep;
    out->op = FGQ_OP_SCATTER_ND;
    char why[160];
    if (fgq_onnx_scatter_reduction(n, &out->iparams[0], why, sizeof why) != 0)
        return UNSUP("node '%s' (ScatterND): %s", n->name, why);
    if (n->n_inputs != 3 || n->inputs[1] < 0 || n->inputs[2] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (ScatterND): data, indices and updates are required", n->name);
    return FGQ_OK;
}

/* Range: fgq plans static shapes and Range's length is its inputs' values, so it is supported only
 * where they are constants and it folds (FGQ_ONNX_FOLD_ONLY); one left here depends on an input. */
static fgq_status lower_range(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                              int32_t *keep, fgq_error *err)
{
    (void)g, (void)opset, (void)out, (void)keep;
    return UNSUP("node '%s' (Range): supported only where it folds to a constant: start, limit and delta must be "
                 "constants at conversion (its output's length is their values, and fgq plans every tensor's "
                 "shape before running)",
                 n->name);
}

static fgq_status lower_transpose(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                  int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    out->op = FGQ_OP_TRANSPOSE;
    int32_t r = rank_of(g, n->n_inputs > 0 ? n->inputs[0] : -1);
    int64_t perm[FGQ_MAX_DIMS];
    int32_t np = ints_attr(n, "perm", perm, FGQ_MAX_DIMS, -2);
    if (np == -1)
        return UNSUP("node '%s' (Transpose): attribute perm longer than %d", n->name, FGQ_MAX_DIMS);
    if (np == -2) { /* default: reverse the dims */
        np = r < 0 ? 0 : r;
        for (int32_t i = 0; i < np; i++)
            perm[i] = np - 1 - i;
    }
    if (r >= 0 && np != r)
        return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Transpose): perm has %d entries for rank %d", n->name,
                        (int)np, (int)r);
    for (int32_t i = 0; i < np; i++) {
        if (perm[i] < 0 || perm[i] >= np)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Transpose): perm[%d] = %lld", n->name, (int)i,
                            (long long)perm[i]);
        out->iparams[i] = (int32_t)perm[i];
    }
    return FGQ_OK;
}

static fgq_status lower_concat(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    out->op = FGQ_OP_CONCAT;
    if (fgq_node_attr(n, "axis") == NULL)
        return UNSUP("node '%s' (Concat): attribute axis is missing", n->name);
    return norm_axis(n, fgq_node_attr_int(n, "axis", 0), rank_of(g, n->outputs[0]), &out->iparams[0], err);
}

static fgq_status lower_softmax(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                                int32_t *keep, fgq_error *err)
{
    (void)keep;
    out->op = FGQ_OP_SOFTMAX;
    int64_t axis = fgq_node_attr_int(n, "axis", opset >= 13 ? -1 : 1);
    fgq_status st = norm_axis(n, axis, rank_of(g, n->n_inputs > 0 ? n->inputs[0] : -1), &out->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    out->iparams[1] = opset < 13;
    return FGQ_OK;
}

static fgq_status lower_gather(const fgq_graph *g, const fgq_ir_node *n, int64_t opset, fgq_lowered_node *out,
                               int32_t *keep, fgq_error *err)
{
    (void)opset, (void)keep;
    out->op = FGQ_OP_GATHER;
    fgq_status st = norm_axis(n, fgq_node_attr_int(n, "axis", 0), rank_of(g, n->n_inputs > 0 ? n->inputs[0] : -1),
                              &out->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    if (n->n_inputs != 2 || n->inputs[1] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (Gather): data and indices are required", n->name);
    return FGQ_OK;
}

/* One lowering per row of import/onnx_ops.h, in its order. */
static const lower_fn lowerings[] = {
#define X(op_, infer_, lower_, flags_) lower_,
    FGQ_ONNX_OPS(X)
#undef X
};

static fgq_status lower_impl(const fgq_graph *g, const fgq_ir_node *n, fgq_lowered_node *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    if (n->domain != NULL && strcmp(n->domain, FGQ_DOMAIN) == 0)
        return fgq_lower_prelowered(n, out, err);
    int64_t opset = g != NULL && g->opset > 0 ? g->opset : 13;
    if (!fgq_domain_is_default(n->domain))
        return UNSUP("node '%s' (%s): domain '%s' is not supported", n->name, n->op_type, n->domain);
    if (n->n_outputs < 1 || n->outputs[0] < 0)
        return UNSUP("node '%s' (%s): has no output", n->name, n->op_type);
    const int32_t row = fgq_onnx_op_index(n->op_type, n->domain);
    if (row < 0)
        return UNSUP("node '%s': op %s has no fgq lowering", n->name, n->op_type);
    int32_t keep = n->n_inputs; /* how many leading inputs the runtime op takes */
    if (fgq_onnx_op_at(row)->flags & FGQ_ONNX_OUTPUTS)
        return lowerings[row](g, n, opset, out, &keep, err);
    /* Extra outputs must be unread (a graph-less support check cannot know). */
    for (int32_t k = 1; k < n->n_outputs && g != NULL; k++)
        if (tensor_used(g, n->outputs[k]))
            return UNSUP("node '%s' (%s): output %d ('%s') is not supported (only the first output)", n->name,
                         n->op_type, (int)k, g->tensors[n->outputs[k]].name);
    out->n_outputs = 1;
    out->outputs[0] = n->outputs[0];
    if (n->n_inputs > FGQ_LOWER_MAX_INPUTS)
        return UNSUP("node '%s' (%s): %d inputs, at most %d supported", n->name, n->op_type, (int)n->n_inputs,
                     FGQ_LOWER_MAX_INPUTS);
    fgq_status st = lowerings[row](g, n, opset, out, &keep, err);
    if (st != FGQ_OK)
        return st;
    out->n_inputs = keep;
    for (int32_t k = 0; k < keep; k++)
        out->inputs[k] = n->inputs[k];
    /* drop trailing omitted inputs */
    while (out->n_inputs > 0 && out->inputs[out->n_inputs - 1] < 0)
        out->n_inputs--;
    if (out->n_inputs < 1 || out->inputs[0] < 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): first input is missing", n->name, n->op_type);
    return FGQ_OK;
}

fgq_status fgq_lower_node(const fgq_graph *g, int32_t node, fgq_lowered_node *out, fgq_error *err)
{
    if (g == NULL || node < 0 || node >= g->n_nodes)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_lower_node: node %d out of range", (int)node);
    return lower_impl(g, &g->nodes[node], out, err);
}

int fgq_lower_supports(const fgq_ir_node *n, char *why, size_t why_len)
{
    fgq_lowered_node tmp;
    fgq_error e = {FGQ_OK, ""};
    fgq_status st = lower_impl(NULL, n, &tmp, &e);
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", st == FGQ_OK ? "" : e.msg);
    return st == FGQ_OK;
}
