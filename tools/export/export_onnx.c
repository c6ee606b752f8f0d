/*
 * export_onnx.c — .fgq -> ONNX (QDQ form for the integer ops).
 *
 * The ONNX protobuf structs (protobuf-c, generated from onnx.proto) are filled
 * from one pool of allocations owned by the builder and freed together, then
 * packed once. Every fgq node becomes a few ONNX nodes; the integer ops become
 * DequantizeLinear -> float op -> (Clip) -> QuantizeLinear, with the weights
 * as integer initializers behind a (blocked) DequantizeLinear. The table of
 * what each op becomes is docs/quantized-ops.md, "QDQ export".
 */
#include "export/export_onnx.h"

#include "import/onnx_ops.h"
#include "onnx.pb-c.h"
#include "quant/format/lut.h"
#include "quant/s2.h"
#include "quant/s3.h"
#include "quant/s4.h"
#include "quant/t2.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TensorProto.DataType values; INT4 postdates the onnx.proto we compile. */
enum {
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_BOOL = 9,
    ONNX_FLOAT16 = 10,
    ONNX_INT4 = 22,
};

typedef struct {
    const fgq_model *m;
    fgq_error *err;
    void **blocks; /* every allocation the protobuf structs point to */
    size_t n_blocks, cap_blocks;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    char **tname;      /* ONNX name of each fgq tensor */
    uint8_t *emitted;  /* const tensor already an initializer */
    int nomem;
} xb;

/* ---- pool ----------------------------------------------------------------- */

static void *xb_alloc(xb *b, size_t size)
{
    if (b->nomem)
        return NULL;
    if (b->n_blocks == b->cap_blocks) {
        size_t cap = b->cap_blocks ? 2 * b->cap_blocks : 256;
        void **nb = realloc(b->blocks, cap * sizeof *nb);
        if (nb == NULL) {
            b->nomem = 1;
            return NULL;
        }
        b->blocks = nb;
        b->cap_blocks = cap;
    }
    void *p = calloc(1, size > 0 ? size : 1);
    if (p == NULL) {
        b->nomem = 1;
        return NULL;
    }
    b->blocks[b->n_blocks++] = p;
    return p;
}

static char *xb_fmt(xb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static char *xb_fmt(xb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->nomem = 1;
        return NULL;
    }
    char *s = xb_alloc(b, (size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *xb_strn(xb *b, const char *p, size_t n)
{
    char *s = xb_alloc(b, n + 1);
    if (s != NULL && n > 0)
        memcpy(s, p, n);
    return s;
}

static fgq_status nomem(xb *b)
{
    return fgq_fail(b->err, FGQ_ERR_NOMEM, "export: out of memory");
}

/* ---- graph pieces ---------------------------------------------------------- */

/* Adds a node; in/out entries may be "" (omitted optional input). NULL when
 * out of memory (later calls then do nothing; callers check b->nomem). */
static Onnx__NodeProto *xb_node(xb *b, const char *op, const char *name, int n_in, const char *const *in, int n_out,
                                const char *const *out)
{
    Onnx__NodeProto *n = xb_alloc(b, sizeof *n);
    char **ins = xb_alloc(b, (size_t)(n_in > 0 ? n_in : 1) * sizeof *ins);
    char **outs = xb_alloc(b, (size_t)n_out * sizeof *outs);
    if (n == NULL || ins == NULL || outs == NULL)
        return NULL;
    for (int i = 0; i < n_in; i++)
        if (in[i] == NULL)
            return NULL;
    for (int i = 0; i < n_out; i++)
        if (out[i] == NULL)
            return NULL;
    if (b->n_nodes == b->cap_nodes) {
        size_t cap = b->cap_nodes ? 2 * b->cap_nodes : 64;
        Onnx__NodeProto **nn = realloc(b->nodes, cap * sizeof *nn);
        if (nn == NULL) {
            b->nomem = 1;
            return NULL;
        }
        b->nodes = nn;
        b->cap_nodes = cap;
    }
    onnx__node_proto__init(n);
    /* trailing omitted inputs are dropped, inner ones stay "" */
    while (n_in > 0 && in[n_in - 1][0] == '\0')
        n_in--;
    for (int i = 0; i < n_in; i++)
        ins[i] = (char *)in[i];
    for (int i = 0; i < n_out; i++)
        outs[i] = (char *)out[i];
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = (size_t)n_out;
    n->output = outs;
    n->op_type = (char *)op;
    n->name = (char *)name;
    b->nodes[b->n_nodes++] = n;
    return n;
}

/* One-output node, the common case. */
static Onnx__NodeProto *xb_node1(xb *b, const char *op, const char *name, int n_in, const char *const *in,
                                 const char *out)
{
    return xb_node(b, op, name, n_in, in, 1, &out);
}

static Onnx__AttributeProto *xb_attr(xb *b, Onnx__NodeProto *n, const char *name)
{
    if (n == NULL)
        return NULL;
    Onnx__AttributeProto *a = xb_alloc(b, sizeof *a);
    Onnx__AttributeProto **arr = xb_alloc(b, (n->n_attribute + 1) * sizeof *arr);
    if (a == NULL || arr == NULL)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    if (n->n_attribute > 0)
        memcpy(arr, n->attribute, n->n_attribute * sizeof *arr);
    arr[n->n_attribute++] = a;
    n->attribute = arr;
    return a;
}

static void attr_int(xb *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = xb_attr(b, n, name);
    if (a == NULL)
        return;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void attr_float(xb *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = xb_attr(b, n, name);
    if (a == NULL)
        return;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

static void attr_string(xb *b, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = xb_attr(b, n, name);
    if (a == NULL)
        return;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    a->has_s = 1;
    a->s.data = (uint8_t *)v; /* a static string: the proto is freed field by field by its builder */
    a->s.len = strlen(v);
}

static void attr_ints(xb *b, Onnx__NodeProto *n, const char *name, const int64_t *v, int count)
{
    Onnx__AttributeProto *a = xb_attr(b, n, name);
    int64_t *copy = xb_alloc(b, (size_t)(count > 0 ? count : 1) * sizeof *copy);
    if (a == NULL || copy == NULL)
        return;
    memcpy(copy, v, (size_t)count * sizeof *copy);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = (size_t)count;
    a->ints = copy;
}

/* Initializer `name` of `rank` dims holding `bytes` of raw little-endian data
 * that already lives in the pool (not copied). Returns name or NULL. */
static const char *xb_init_raw(xb *b, const char *name, int32_t dtype, int32_t rank, const int64_t *dims, void *raw,
                               size_t bytes)
{
    Onnx__TensorProto *t = xb_alloc(b, sizeof *t);
    int64_t *d = xb_alloc(b, (size_t)(rank > 0 ? rank : 1) * sizeof *d);
    if (t == NULL || d == NULL || name == NULL || raw == NULL)
        return NULL;
    if (b->n_inits == b->cap_inits) {
        size_t cap = b->cap_inits ? 2 * b->cap_inits : 64;
        Onnx__TensorProto **ni = realloc(b->inits, cap * sizeof *ni);
        if (ni == NULL) {
            b->nomem = 1;
            return NULL;
        }
        b->inits = ni;
        b->cap_inits = cap;
    }
    onnx__tensor_proto__init(t);
    if (rank > 0)
        memcpy(d, dims, (size_t)rank * sizeof *d);
    t->n_dims = (size_t)rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->name = (char *)name;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    b->inits[b->n_inits++] = t;
    return name;
}

/* Copies `bytes` of data into the pool and makes an initializer of it. */
static const char *xb_init_copy(xb *b, const char *name, int32_t dtype, int32_t rank, const int64_t *dims,
                                const void *data, size_t bytes)
{
    void *raw = xb_alloc(b, bytes);
    if (raw == NULL)
        return NULL;
    if (bytes > 0)
        memcpy(raw, data, bytes);
    return xb_init_raw(b, name, dtype, rank, dims, raw, bytes);
}

static const char *init_f32_scalar(xb *b, const char *name, float v)
{
    return xb_init_copy(b, name, ONNX_FLOAT, 0, NULL, &v, sizeof v);
}

/* Zero point scalar of the activation dtype (u8 / s8). */
static const char *init_zp(xb *b, const char *name, fgq_dtype dt, int32_t z)
{
    uint8_t byte = dt == FGQ_DT_U8 ? (uint8_t)z : (uint8_t)(int8_t)z;
    return xb_init_copy(b, name, dt == FGQ_DT_U8 ? ONNX_UINT8 : ONNX_INT8, 0, NULL, &byte, 1);
}

static const char *init_i64_vec(xb *b, const char *name, const int64_t *v, int32_t n)
{
    int64_t dims[1] = {n};
    return xb_init_copy(b, name, ONNX_INT64, 1, dims, v, (size_t)n * sizeof *v);
}

/* ---- fgq side --------------------------------------------------------------- */

static fgq_tensor_info tinfo(const xb *b, int32_t t)
{
    fgq_tensor_info ti;
    memset(&ti, 0, sizeof ti);
    fgq_model_tensor_info(b->m, t, &ti);
    return ti;
}

/* Name of tensor t for use as an input: a const becomes an initializer on its
 * first use (only float-path consts; integer weights are rewritten by the
 * QCONV/QGEMM export). */
static fgq_status use_tensor(xb *b, int32_t t, const char **name)
{
    *name = b->tname[t];
    if (fgq_model_tensor_kind(b->m, t) != FGQ_KIND_CONST || b->emitted[t])
        return FGQ_OK;
    fgq_tensor_info ti = tinfo(b, t);
    int32_t dt = fgq_onnx_type_of(ti.dtype);
    if (dt == 0)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: constant '%s' has dtype %s, which no float op takes",
                        b->tname[t], fgq_dtype_name(ti.dtype));
    if (xb_init_copy(b, b->tname[t], dt, ti.rank, ti.dims, fgq_model_tensor_data(b->m, t), (size_t)ti.size_bytes) ==
        NULL)
        return nomem(b);
    b->emitted[t] = 1;
    return FGQ_OK;
}

/* Per-tensor scale of a quantized activation. */
static fgq_status act_scale(xb *b, int32_t t, float *s)
{
    fgq_tensor_qparams q;
    memset(&q, 0, sizeof q);
    if (fgq_model_tensor_qparams(b->m, t, &q) != FGQ_OK || q.n_scales < 1 || q.scales == NULL ||
        !isfinite(q.scales[0]) || q.scales[0] <= 0.0f)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED,
                        "export: quantized tensor '%s' stores no usable scale (its qparams are needed for QDQ)",
                        b->tname[t]);
    *s = q.scales[0];
    return FGQ_OK;
}

static void dtype_range(fgq_dtype dt, int32_t *lo, int32_t *hi)
{
    *lo = dt == FGQ_DT_U8 ? 0 : -128;
    *hi = dt == FGQ_DT_U8 ? 255 : 127;
}

/* DequantizeLinear(t, s_t, z) -> returns the float name "<base>/dq<slot>". */
static fgq_status dq_act(xb *b, const char *base, int slot, int32_t t, int32_t z, const char **out)
{
    float s = 0.0f;
    fgq_status st = act_scale(b, t, &s);
    if (st != FGQ_OK)
        return st;
    fgq_tensor_info ti = tinfo(b, t);
    if (ti.dtype != FGQ_DT_U8 && ti.dtype != FGQ_DT_S8)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: activation '%s' of an integer op is %s (u8/s8 expected)",
                        b->tname[t], fgq_dtype_name(ti.dtype));
    const char *in[3] = {b->tname[t], init_f32_scalar(b, xb_fmt(b, "%s/dq%d_scale", base, slot), s),
                         init_zp(b, xb_fmt(b, "%s/dq%d_zp", base, slot), ti.dtype, z)};
    *out = xb_fmt(b, "%s/dq%d", base, slot);
    xb_node1(b, "DequantizeLinear", xb_fmt(b, "%s/DequantizeLinear%d", base, slot), 3, in, *out);
    return b->nomem ? nomem(b) : FGQ_OK;
}

/* Float x -> (Clip to the kept codes) -> QuantizeLinear(s, z) -> tensor y.
 * The clamp [qmin, qmax] narrower than the dtype becomes Relu (qmin = z,
 * qmax = top) or Clip((qmin − z)·s, (qmax − z)·s); QuantizeLinear saturates
 * to the dtype itself. */
static fgq_status q_out(xb *b, const char *base, const char *x, int32_t y, float s, int32_t z, int32_t qmin,
                        int32_t qmax)
{
    fgq_tensor_info ti = tinfo(b, y);
    if (ti.dtype != FGQ_DT_U8 && ti.dtype != FGQ_DT_S8)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: output '%s' of an integer op is %s (u8/s8 expected)",
                        b->tname[y], fgq_dtype_name(ti.dtype));
    int32_t lo, hi;
    dtype_range(ti.dtype, &lo, &hi);
    if (qmin > lo || qmax < hi) {
        const char *c = xb_fmt(b, "%s/clamped", base);
        if (qmin == z && qmax >= hi) {
            xb_node1(b, "Relu", xb_fmt(b, "%s/Relu", base), 1, &x, c);
        } else {
            const char *in[3] = {x, "", ""};
            if (qmin > lo)
                in[1] = init_f32_scalar(b, xb_fmt(b, "%s/clamp_min", base), (float)(qmin - z) * s);
            if (qmax < hi)
                in[2] = init_f32_scalar(b, xb_fmt(b, "%s/clamp_max", base), (float)(qmax - z) * s);
            xb_node1(b, "Clip", xb_fmt(b, "%s/Clip", base), 3, in, c);
        }
        x = c;
    }
    const char *in[3] = {x, init_f32_scalar(b, xb_fmt(b, "%s/q_scale", base), s),
                         init_zp(b, xb_fmt(b, "%s/q_zp", base), ti.dtype, z)};
    xb_node1(b, "QuantizeLinear", xb_fmt(b, "%s/QuantizeLinear", base), 3, in, b->tname[y]);
    return b->nomem ? nomem(b) : FGQ_OK;
}

/* Fused activation after a float op: x -> Relu / Clip -> y. */
static fgq_status fused_act(xb *b, const char *base, int32_t act, float lo, float hi, const char *x, const char *y)
{
    if (act == FGQ_ACT_RELU) {
        xb_node1(b, "Relu", xb_fmt(b, "%s/Relu", base), 1, &x, y);
    } else if (act == FGQ_ACT_CLIP) {
        const char *in[3] = {x, "", ""};
        if (isfinite(lo))
            in[1] = init_f32_scalar(b, xb_fmt(b, "%s/act_min", base), lo);
        if (isfinite(hi))
            in[2] = init_f32_scalar(b, xb_fmt(b, "%s/act_max", base), hi);
        xb_node1(b, "Clip", xb_fmt(b, "%s/Clip", base), 3, in, y);
    } else if (act != FGQ_ACT_NONE) {
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': fused activation %d", base, (int)act);
    }
    return b->nomem ? nomem(b) : FGQ_OK;
}

/* kernel_shape (if known), strides, dilations (if with_dil and not all 1, the
 * ONNX default: ONNX Runtime 1.23 copies a pool's dilations into its fused
 * QLinearAveragePool, which refuses the attribute), pads from the spatial
 * block. */
static void spatial_attrs(xb *b, Onnx__NodeProto *n, const fgq_node_info *ni, int with_dil)
{
    int32_t ns = ni->iparams[FGQ_P_NSPATIAL];
    int64_t k[3] = {0}, s[3] = {0}, d[3] = {0}, p[6] = {0};
    int kernel_known = 1, dil_1 = 1;
    for (int32_t i = 0; i < ns; i++) {
        k[i] = ni->iparams[FGQ_P_KERNEL + i];
        s[i] = ni->iparams[FGQ_P_STRIDE + i];
        d[i] = ni->iparams[FGQ_P_DILATION + i];
        p[i] = ni->iparams[FGQ_P_PAD_BEGIN + i];
        p[i + ns] = ni->iparams[FGQ_P_PAD_END + i];
        kernel_known &= k[i] > 0;
        dil_1 &= d[i] == 1;
    }
    if (kernel_known)
        attr_ints(b, n, "kernel_shape", k, ns);
    attr_ints(b, n, "strides", s, ns);
    if (with_dil && !dil_1)
        attr_ints(b, n, "dilations", d, ns);
    attr_ints(b, n, "pads", p, 2 * ns);
}

/* ceil_mode of a pool, read from its output shape (the runtime stores none). */
static int pool_ceil_mode(const fgq_node_info *ni, const fgq_tensor_info *x, const fgq_tensor_info *y)
{
    int32_t ns = ni->iparams[FGQ_P_NSPATIAL];
    for (int32_t i = 0; i < ns && i + 2 < x->rank && i + 2 < y->rank; i++) {
        int64_t k = ni->iparams[FGQ_P_KERNEL + i], s = ni->iparams[FGQ_P_STRIDE + i],
                d = ni->iparams[FGQ_P_DILATION + i];
        int64_t span = x->dims[i + 2] + ni->iparams[FGQ_P_PAD_BEGIN + i] + ni->iparams[FGQ_P_PAD_END + i] -
                       ((k - 1) * (d > 0 ? d : 1) + 1);
        int64_t floor_out = span >= 0 && s > 0 ? span / s + 1 : 0;
        if (y->dims[i + 2] > floor_out)
            return 1;
    }
    return 0;
}

/* ---- float ops -------------------------------------------------------------- */

static fgq_status export_float(xb *b, const fgq_node_info *ni, const char *base)
{
    const char *in[FGQ_MAX_NODE_INPUTS];
    fgq_status st;
    for (int32_t i = 0; i < ni->n_inputs; i++) {
        in[i] = "";
        if (ni->inputs[i] >= 0 && (st = use_tensor(b, ni->inputs[i], &in[i])) != FGQ_OK)
            return st;
    }
    const int32_t y = ni->outputs[0];
    const char *yn = b->tname[y];
    const int32_t *ip = ni->iparams;
    const float *fp = ni->fparams;
    int32_t act = FGQ_ACT_NONE;
    const char *pre = yn; /* the main op's output; the fused activation then writes yn */
    Onnx__NodeProto *n = NULL;

    switch (ni->op) {
    case FGQ_OP_CONV:
        act = ip[FGQ_P_ACT];
        break;
    case FGQ_OP_GEMM:
        act = ip[FGQ_P_GEMM_ACT];
        break;
    case FGQ_OP_MATMUL:
    case FGQ_OP_ADD:
    case FGQ_OP_SUB:
    case FGQ_OP_MUL:
    case FGQ_OP_DIV:
    case FGQ_OP_POW:
        act = ip[0];
        break;
    default:
        break;
    }
    if (act != FGQ_ACT_NONE)
        pre = xb_fmt(b, "%s/preact", base);

    switch (ni->op) {
    case FGQ_OP_CONV:
        n = xb_node1(b, "Conv", base, ni->n_inputs, in, pre);
        spatial_attrs(b, n, ni, 1);
        attr_int(b, n, "group", ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1);
        break;
    case FGQ_OP_GEMM:
        n = xb_node1(b, "Gemm", base, ni->n_inputs, in, pre);
        attr_float(b, n, "alpha", fp[FGQ_PF_ALPHA]);
        attr_float(b, n, "beta", fp[FGQ_PF_BETA]);
        attr_int(b, n, "transA", ip[FGQ_P_TRANS_A]);
        attr_int(b, n, "transB", ip[FGQ_P_TRANS_B]);
        break;
    case FGQ_OP_MATMUL: xb_node1(b, "MatMul", base, 2, in, pre); break;
    case FGQ_OP_ADD: xb_node1(b, "Add", base, 2, in, pre); break;
    case FGQ_OP_SUB: xb_node1(b, "Sub", base, 2, in, pre); break;
    case FGQ_OP_MUL: xb_node1(b, "Mul", base, 2, in, pre); break;
    case FGQ_OP_DIV: xb_node1(b, "Div", base, 2, in, pre); break;
    case FGQ_OP_RELU: xb_node1(b, "Relu", base, 1, in, yn); break;
    case FGQ_OP_SIGMOID: xb_node1(b, "Sigmoid", base, 1, in, yn); break;
    case FGQ_OP_TANH: xb_node1(b, "Tanh", base, 1, in, yn); break;
    case FGQ_OP_LEAKY_RELU:
        n = xb_node1(b, "LeakyRelu", base, 1, in, yn);
        attr_float(b, n, "alpha", fp[0]);
        break;
    case FGQ_OP_CLIP: {
        /* bounds that are inputs win (the runtime reads them in place of fparams) */
        const char *cin[3] = {in[0], ni->n_inputs > 1 ? in[1] : "", ni->n_inputs > 2 ? in[2] : ""};
        if (cin[1][0] == '\0' && isfinite(fp[0]))
            cin[1] = init_f32_scalar(b, xb_fmt(b, "%s/min", base), fp[0]);
        if (cin[2][0] == '\0' && isfinite(fp[1]))
            cin[2] = init_f32_scalar(b, xb_fmt(b, "%s/max", base), fp[1]);
        xb_node1(b, "Clip", base, 3, cin, yn);
        break;
    }
    case FGQ_OP_MAXPOOL:
    case FGQ_OP_AVGPOOL: {
        fgq_tensor_info xi = tinfo(b, ni->inputs[0]), yi = tinfo(b, y);
        n = xb_node1(b, ni->op == FGQ_OP_MAXPOOL ? "MaxPool" : "AveragePool", base, 1, in, yn);
        spatial_attrs(b, n, ni, 1);
        attr_int(b, n, "ceil_mode", pool_ceil_mode(ni, &xi, &yi));
        if (ni->op == FGQ_OP_AVGPOOL)
            attr_int(b, n, "count_include_pad", ip[FGQ_P_COUNT_PAD]);
        break;
    }
    case FGQ_OP_GLOBAL_AVGPOOL: xb_node1(b, "GlobalAveragePool", base, 1, in, yn); break;
    case FGQ_OP_BATCHNORM:
        n = xb_node1(b, "BatchNormalization", base, 5, in, yn);
        attr_float(b, n, "epsilon", fp[0]);
        break;
    case FGQ_OP_RESHAPE: {
        fgq_tensor_info yi = tinfo(b, y);
        int has_zero = 0;
        for (int32_t i = 0; i < yi.rank; i++)
            has_zero |= yi.dims[i] == 0;
        const char *rin[2] = {in[0], init_i64_vec(b, xb_fmt(b, "%s/shape", base), yi.dims, yi.rank)};
        n = xb_node1(b, "Reshape", base, 2, rin, yn);
        if (has_zero)
            attr_int(b, n, "allowzero", 1);
        break;
    }
    case FGQ_OP_TRANSPOSE: {
        fgq_tensor_info yi = tinfo(b, y);
        int64_t perm[FGQ_MAX_DIMS];
        for (int32_t i = 0; i < yi.rank; i++)
            perm[i] = ip[i];
        n = xb_node1(b, "Transpose", base, 1, in, yn);
        attr_ints(b, n, "perm", perm, yi.rank);
        break;
    }
    case FGQ_OP_CONCAT:
        n = xb_node1(b, "Concat", base, ni->n_inputs, in, yn);
        attr_int(b, n, "axis", ip[0]);
        break;
    case FGQ_OP_SOFTMAX:
        if (ip[1] == 0) {
            n = xb_node1(b, "Softmax", base, 1, in, yn);
            attr_int(b, n, "axis", ip[0]);
        } else {
            /* opset < 13: softmax over the input flattened to 2-D at `axis` */
            fgq_tensor_info yi = tinfo(b, y);
            const char *flat = xb_fmt(b, "%s/flat", base), *sm = xb_fmt(b, "%s/softmax", base);
            n = xb_node1(b, "Flatten", xb_fmt(b, "%s/Flatten", base), 1, in, flat);
            attr_int(b, n, "axis", ip[0]);
            n = xb_node1(b, "Softmax", base, 1, &flat, sm);
            attr_int(b, n, "axis", 1);
            const char *rin[2] = {sm, init_i64_vec(b, xb_fmt(b, "%s/shape", base), yi.dims, yi.rank)};
            xb_node1(b, "Reshape", xb_fmt(b, "%s/Reshape", base), 2, rin, yn);
        }
        break;
    case FGQ_OP_POW: xb_node1(b, "Pow", base, 2, in, pre); break;
    case FGQ_OP_HARD_SIGMOID:
        n = xb_node1(b, "HardSigmoid", base, 1, in, yn);
        attr_float(b, n, "alpha", fp[0]);
        attr_float(b, n, "beta", fp[1]);
        break;
    case FGQ_OP_HARD_SWISH: xb_node1(b, "HardSwish", base, 1, in, yn); break;
    case FGQ_OP_ERF: xb_node1(b, "Erf", base, 1, in, yn); break;
    case FGQ_OP_SQRT: xb_node1(b, "Sqrt", base, 1, in, yn); break;
    case FGQ_OP_ABS: xb_node1(b, "Abs", base, 1, in, yn); break;
    case FGQ_OP_GELU:
        n = xb_node1(b, "Gelu", base, 1, in, yn);
        if (ip[0] == 1)
            attr_string(b, n, "approximate", "tanh");
        break;
    case FGQ_OP_REDUCE: {
        static const char *const kinds[] = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2",
                                            "ReduceSumSquare"};
        fgq_tensor_info xi = tinfo(b, ni->inputs[0]), yi = tinfo(b, y);
        int64_t axes[FGQ_MAX_DIMS];
        int32_t na = 0;
        for (int32_t i = 0; i < xi.rank; i++)
            if (((uint32_t)ip[1] >> i) & 1u)
                axes[na++] = i;
        const char *rin[2] = {in[0], init_i64_vec(b, xb_fmt(b, "%s/axes", base), axes, na)};
        n = xb_node1(b, kinds[ip[0] >= 0 && ip[0] <= 5 ? ip[0] : 0], base, 2, rin, yn);
        attr_int(b, n, "keepdims", yi.rank == xi.rank);
        if (na == 0)
            attr_int(b, n, "noop_with_empty_axes", 1);
        break;
    }
    case FGQ_OP_LAYERNORM: {
        const char *outs[3];
        for (int32_t k = 0; k < ni->n_outputs && k < 3; k++)
            outs[k] = b->tname[ni->outputs[k]];
        n = xb_node(b, "LayerNormalization", base, ni->n_inputs, in, ni->n_outputs < 3 ? ni->n_outputs : 3, outs);
        attr_int(b, n, "axis", ip[0]);
        attr_float(b, n, "epsilon", fp[0]);
        break;
    }
    case FGQ_OP_SLICE: {
        fgq_tensor_info yi = tinfo(b, y);
        int64_t st_[FGQ_MAX_DIMS], en[FGQ_MAX_DIMS], sp[FGQ_MAX_DIMS];
        for (int32_t i = 0; i < yi.rank; i++) {
            st_[i] = ip[i];
            sp[i] = ip[FGQ_MAX_DIMS + i];
            en[i] = st_[i] + yi.dims[i] * sp[i];
            if (en[i] < 0) /* a negative step to the front: −1 would count from the end */
                en[i] = INT64_MIN;
        }
        const char *sin[5] = {in[0], init_i64_vec(b, xb_fmt(b, "%s/starts", base), st_, yi.rank),
                              init_i64_vec(b, xb_fmt(b, "%s/ends", base), en, yi.rank), "",
                              init_i64_vec(b, xb_fmt(b, "%s/steps", base), sp, yi.rank)};
        xb_node1(b, "Slice", base, 5, sin, yn);
        break;
    }
    case FGQ_OP_PAD: {
        fgq_tensor_info xi = tinfo(b, ni->inputs[0]), yi = tinfo(b, y);
        int64_t pads[2 * FGQ_MAX_DIMS];
        for (int32_t i = 0; i < xi.rank; i++) {
            pads[i] = ip[1 + i];
            pads[xi.rank + i] = yi.dims[i] - xi.dims[i] - ip[1 + i];
        }
        const char *pin[3] = {in[0], init_i64_vec(b, xb_fmt(b, "%s/pads", base), pads, 2 * xi.rank),
                              ip[0] == 0 && xi.dtype == FGQ_DT_F32 && fp[0] != 0.0f
                                  ? init_f32_scalar(b, xb_fmt(b, "%s/value", base), fp[0])
                                  : ""};
        n = xb_node1(b, "Pad", base, 3, pin, yn);
        attr_string(b, n, "mode", ip[0] == 1 ? "reflect" : ip[0] == 2 ? "edge" : "constant");
        break;
    }
    case FGQ_OP_SPLIT: {
        const char *outs[FGQ_SPLIT_MAX_OUTPUTS];
        int64_t sizes[FGQ_SPLIT_MAX_OUTPUTS];
        for (int32_t k = 0; k < ni->n_outputs && k < FGQ_SPLIT_MAX_OUTPUTS; k++) {
            outs[k] = b->tname[ni->outputs[k]];
            sizes[k] = tinfo(b, ni->outputs[k]).dims[ip[0]];
        }
        const int32_t no = ni->n_outputs < FGQ_SPLIT_MAX_OUTPUTS ? ni->n_outputs : FGQ_SPLIT_MAX_OUTPUTS;
        const char *sin[2] = {in[0], init_i64_vec(b, xb_fmt(b, "%s/split", base), sizes, no)};
        n = xb_node(b, "Split", base, 2, sin, no, outs);
        attr_int(b, n, "axis", ip[0]);
        break;
    }
    case FGQ_OP_LSTM:
    case FGQ_OP_GRU: {
        const int lstm = ni->op == FGQ_OP_LSTM;
        const char *outs[3];
        for (int32_t k = 0; k < ni->n_outputs && k < 3; k++)
            outs[k] = b->tname[ni->outputs[k]];
        n = xb_node(b, lstm ? "LSTM" : "GRU", base, ni->n_inputs, in, ni->n_outputs < 3 ? ni->n_outputs : 3, outs);
        attr_string(b, n, "direction", ip[0] == 1 ? "reverse" : ip[0] == 2 ? "bidirectional" : "forward");
        attr_int(b, n, "hidden_size", ip[1]);
        if (fp[0] > 0.0f)
            attr_float(b, n, "clip", fp[0]);
        if (!lstm)
            attr_int(b, n, "linear_before_reset", ip[2]);
        break;
    }
    case FGQ_OP_CONV_TRANSPOSE: {
        /* the end pads from Y's size; what they cannot express (a larger Y) is output_padding */
        fgq_tensor_info xi = tinfo(b, ni->inputs[0]), wi = tinfo(b, ni->inputs[1]), yi = tinfo(b, y);
        const int32_t ns = ip[FGQ_P_NSPATIAL];
        int64_t k[3] = {0}, s_[3] = {0}, d_[3] = {0}, pads[6] = {0}, opad[3] = {0};
        for (int32_t i = 0; i < ns; i++) {
            k[i] = wi.dims[2 + i];
            s_[i] = ip[FGQ_P_STRIDE + i];
            d_[i] = ip[FGQ_P_DILATION + i];
            pads[i] = ip[FGQ_P_PAD_BEGIN + i];
            if (pads[i] < 0)
                return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED,
                                "export: node '%s': ConvTranspose with a negative begin pad has no ONNX attribute form",
                                base);
            const int64_t pe = s_[i] * (xi.dims[2 + i] - 1) + (k[i] - 1) * d_[i] + 1 - pads[i] - yi.dims[2 + i];
            pads[ns + i] = pe > 0 ? pe : 0;
            opad[i] = pe < 0 ? -pe : 0;
        }
        n = xb_node1(b, "ConvTranspose", base, ni->n_inputs, in, yn);
        attr_ints(b, n, "kernel_shape", k, ns);
        attr_ints(b, n, "strides", s_, ns);
        attr_ints(b, n, "dilations", d_, ns);
        attr_ints(b, n, "pads", pads, 2 * ns);
        attr_ints(b, n, "output_padding", opad, ns);
        attr_int(b, n, "group", ip[FGQ_P_GROUP]);
        break;
    }
    case FGQ_OP_GATHER:
        n = xb_node1(b, "Gather", base, 2, in, yn);
        attr_int(b, n, "axis", ip[0]);
        break;
    case FGQ_OP_EQUAL: xb_node1(b, "Equal", base, 2, in, yn); break;
    case FGQ_OP_LESS: xb_node1(b, "Less", base, 2, in, yn); break;
    case FGQ_OP_GREATER: xb_node1(b, "Greater", base, 2, in, yn); break;
    case FGQ_OP_WHERE: xb_node1(b, "Where", base, 3, in, yn); break;
    case FGQ_OP_NOT: xb_node1(b, "Not", base, 1, in, yn); break;
    case FGQ_OP_MOD:
        n = xb_node1(b, "Mod", base, 2, in, yn);
        attr_int(b, n, "fmod", ip[0]);
        break;
    case FGQ_OP_SCATTER_ND: {
        static const char *const reds[] = {"none", "add", "mul", "max", "min"};
        n = xb_node1(b, "ScatterND", base, 3, in, yn);
        if (ip[0] > 0 && ip[0] <= 4)
            attr_string(b, n, "reduction", reds[ip[0]]);
        break;
    }
    case FGQ_OP_EXPAND: {
        fgq_tensor_info yi = tinfo(b, y);
        const char *ein[2] = {in[0], init_i64_vec(b, xb_fmt(b, "%s/shape", base), yi.dims, yi.rank)};
        xb_node1(b, "Expand", base, 2, ein, yn);
        break;
    }
    case FGQ_OP_CAST:
        if (ip[0] == 1) { /* f32 rounded to float16: there and back */
            const char *h = xb_fmt(b, "%s/f16", base);
            n = xb_node1(b, "Cast", xb_fmt(b, "%s/to_f16", base), 1, in, h);
            attr_int(b, n, "to", fgq_onnx_type_of(FGQ_DT_F16));
            n = xb_node1(b, "Cast", base, 1, &h, yn);
            attr_int(b, n, "to", fgq_onnx_type_of(FGQ_DT_F32));
            break;
        }
        n = xb_node1(b, "Cast", base, 1, in, yn);
        attr_int(b, n, "to", fgq_onnx_type_of(tinfo(b, y).dtype));
        break;
    case FGQ_OP_RESIZE: {
        static const char *const coords[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                                             "tf_half_pixel_for_nn"};
        static const char *const nears[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
        int32_t near = ip[2];
        if (near == FGQ_RESIZE_SIMPLE) { /* Upsample's rule: one of floor / ceil when both dims agree */
            if ((fp[0] < 1.0f) != (fp[1] < 1.0f))
                return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED,
                                "export: node '%s': Upsample nearest rounding that differs per dim (scales %g, %g) "
                                "has no Resize-21 form", base, (double)fp[0], (double)fp[1]);
            near = fp[0] < 1.0f ? FGQ_RESIZE_CEIL : FGQ_RESIZE_FLOOR;
        }
        fgq_tensor_info xi = tinfo(b, ni->inputs[0]), yi = tinfo(b, y);
        const int64_t sd = xi.rank;
        const char *rin[4] = {in[0], "", "", ""};
        if (ip[3] == 1) { /* the model gave sizes: ORT's floor(in·(out/in)) can land one short */
            rin[3] = init_i64_vec(b, xb_fmt(b, "%s/sizes", base), yi.dims, yi.rank);
        } else {
            float sc[FGQ_MAX_DIMS];
            for (int32_t i = 0; i < xi.rank; i++)
                sc[i] = i == xi.rank - 2 ? fp[0] : i == xi.rank - 1 ? fp[1] : 1.0f;
            rin[2] = xb_fmt(b, "%s/scales", base);
            if (xb_init_copy(b, rin[2], ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &sd, sc,
                             sizeof(float) * (size_t)xi.rank) == NULL)
                return nomem(b);
        }
        n = xb_node1(b, "Resize", base, 4, rin, yn);
        attr_string(b, n, "mode", ip[0] == 1 ? "linear" : "nearest");
        attr_string(b, n, "coordinate_transformation_mode", coords[ip[1] >= 0 && ip[1] <= 4 ? ip[1] : 0]);
        attr_string(b, n, "nearest_mode", nears[near >= 0 && near <= 3 ? near : 0]);
        break;
    }
    default:
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': op %s has no ONNX form here", base,
                        fgq_op_name(ni->op));
    }
    if (b->nomem)
        return nomem(b);
    if (act != FGQ_ACT_NONE)
        return fused_act(b, base, act, fp[FGQ_PF_ACT0], fp[FGQ_PF_ACT1], pre, yn);
    return FGQ_OK;
}

/* ---- QCONV / QGEMM -------------------------------------------------------- */

/* Dequantized weights of a QCONV/QGEMM as a float [M, K] tensor (see the
 * "QDQ export" section of docs/quantized-ops.md):
 *   no GS:           DequantizeLinear(codes [M, K], s_m [M], axis 0), the codes
 *                    written in the consumer's own shape (*shaped = 1): a
 *                    convolution's [M, C/group, k...], or [K, M] with axis 1
 *                    for a MatMul (mm_in), so that nothing stands between the
 *                    DequantizeLinear and its Conv / MatMul and ONNX Runtime
 *                    fuses them into its int8 kernels (QLinearConv, ...)
 *   GS, one alpha:   DequantizeLinear(codes, s_m·min(m_g, MMAX) [M, G], axis 1, block_size N)
 *   GS, m+ and m-:   DQ(P, s_m·m+) − DQ(Q, s_m·m-), P/Q the 0/1 masks of the +1/−1 codes
 * Codes: s8 and t2 as INT8 (t2: −1/0/+1), s4 as INT4. s_m_out gets s_m. */
static fgq_status w_float(xb *b, const fgq_node_info *ni, const char *base, int64_t K, int32_t wt, int32_t gt,
                         const double *s_m, int mm_in, const char **w_out, int *shaped);

static fgq_status q_weights(xb *b, const fgq_node_info *ni, const char *base, int64_t K, float s_x, float s_y,
                            int mm_in, const char **w_out, int *shaped, double *s_m)
{
    const int32_t wt = ni->inputs[1], rq = ni->inputs[3], gt = ni->n_inputs > 4 ? ni->inputs[4] : -1;
    fgq_tensor_info wi = tinfo(b, wt), ri = tinfo(b, rq);
    const int64_t M = wi.dims[0], Kp = wi.dims[1];
    if (wi.rank != 2 || K < 1 || K > Kp || ri.rank != 2 || ri.dims[0] != M ||
        fgq_model_tensor_kind(b->m, wt) != FGQ_KIND_CONST || fgq_model_tensor_kind(b->m, rq) != FGQ_KIND_CONST)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': weights or REQ are not constant [M, Kp] / [M, 2]",
                        base);
    const int32_t *req = fgq_model_tensor_data(b->m, rq);
    /* s_m: W's qparams (axis 0, one per row), else from REQ: real = s_x·s_m / s_y */
    fgq_tensor_qparams wq;
    memset(&wq, 0, sizeof wq);
    int from_q = fgq_model_tensor_qparams(b->m, wt, &wq) == FGQ_OK && wq.n_scales == M && wq.scales != NULL;
    for (int64_t r = 0; r < M; r++) {
        int32_t mult = req[2 * r], shift = req[2 * r + 1];
        double real = ldexp((double)mult, shift - 31);
        if (!from_q) {
            s_m[r] = real * (double)s_y / (double)s_x;
            continue;
        }
        s_m[r] = wq.scales[r];
        double want = (double)s_x * s_m[r] / (double)s_y;
        if (mult != 0 && fabs(real - want) > 1e-3 * want)
            return fgq_fail(b->err, FGQ_ERR_FORMAT,
                            "export: node '%s' row %lld: REQ multiplier %.9g disagrees with s_x·s_m/s_y = %.9g "
                            "(tensor qparams and REQ must describe the same scales)",
                            base, (long long)r, real, want);
    }
    return w_float(b, ni, base, K, wt, gt, s_m, mm_in, w_out, shaped);
}

/* W (s8/s4/t2 [M, Kp], GS gt or -1) with row scales s_m as the float [M, K]
 * tensor of the comment above; shared by QCONV/QGEMM and QCONV_DYN/QGEMM_DYN. */
static fgq_status w_float(xb *b, const fgq_node_info *ni, const char *base, int64_t K, int32_t wt, int32_t gt,
                         const double *s_m, int mm_in, const char **w_out, int *shaped)
{
    *shaped = 0;
    fgq_tensor_info wi = tinfo(b, wt);
    if (wi.rank != 2 || K < 1 || K > wi.dims[1] || fgq_model_tensor_kind(b->m, wt) != FGQ_KIND_CONST)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': weights are not a constant [M, Kp]", base);
    const int64_t M = wi.dims[0], Kp = wi.dims[1];

    /* codes as int8 [M, K] */
    int8_t *codes = xb_alloc(b, (size_t)(M * K));
    int8_t *row = xb_alloc(b, (size_t)Kp);
    if (codes == NULL || row == NULL)
        return nomem(b);
    const uint8_t *wd = fgq_model_tensor_data(b->m, wt);
    for (int64_t r = 0; r < M; r++) {
        switch (wi.dtype) {
        case FGQ_DT_S8: memcpy(row, wd + r * Kp, (size_t)K); break;
        case FGQ_DT_S4: fgq_s4_unpack(wd + r * fgq_s4_row_bytes(Kp), K, row); break;
        case FGQ_DT_S3: fgq_s3_unpack(wd + r * fgq_s3_row_bytes(Kp), K, row); break; /* INT8: ONNX has no 3-bit type */
        case FGQ_DT_S2: fgq_s2_unpack(wd + r * fgq_s2_row_bytes(Kp), K, row); break; /* INT8: −3, −1, 1, 3 */
        case FGQ_DT_T2: fgq_t2_unpack(wd + r * fgq_t2_row_bytes(Kp), K, row); break;
        default:
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': weight dtype %s", base,
                            fgq_dtype_name(wi.dtype));
        }
        memcpy(codes + r * K, row, (size_t)K);
    }

    int32_t N = ni->iparams[FGQ_QP_W_GROUP], n_alpha = ni->iparams[FGQ_QP_W_NALPHA], mmax = ni->iparams[FGQ_QP_W_MMAX];
    int64_t G = 1;
    const uint8_t *gs = NULL;
    if (gt >= 0) {
        G = (K + N - 1) / N;
        fgq_tensor_info gi = tinfo(b, gt);
        if (N < 1 || (n_alpha != 1 && n_alpha != 2) || fgq_model_tensor_kind(b->m, gt) != FGQ_KIND_CONST ||
            gi.size_bytes != (uint64_t)(M * G * n_alpha))
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': group multipliers are not [M, G(, 2)]",
                            base);
        if (n_alpha == 2 && wi.dtype != FGQ_DT_T2)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': two multipliers per group need t2 codes",
                            base);
        gs = fgq_model_tensor_data(b->m, gt);
    } else {
        n_alpha = 1;
    }
    /* scales [M, G] per alpha; G == 1 (no GS, or one group) is the per-channel axis-0 form */
    float *sc[2] = {NULL, NULL};
    for (int a = 0; a < n_alpha; a++) {
        sc[a] = xb_alloc(b, (size_t)(M * G) * sizeof(float));
        if (sc[a] == NULL)
            return nomem(b);
        for (int64_t r = 0; r < M; r++)
            for (int64_t g = 0; g < G; g++) {
                int32_t mg = gs != NULL ? gs[(r * G + g) * n_alpha + a] : 1;
                if (gs != NULL && mg > mmax)
                    mg = mmax;
                sc[a][r * G + g] = (float)(s_m[r] * (double)mg);
            }
    }
    int64_t cdims[5] = {M, K, 1, 1, 1}, sdims[2] = {M, G};
    int32_t crank = 2, axis0 = 0;
    if (G == 1 && n_alpha == 1) { /* per channel: the consumer's own shape */
        const int32_t *ip = ni->iparams;
        if (ni->op == FGQ_OP_QCONV || ni->op == FGQ_OP_QCONV_DYN) {
            const int32_t ns = ip[FGQ_P_NSPATIAL];
            int64_t taps = 1;
            for (int32_t i = 0; i < ns; i++)
                taps *= ip[FGQ_P_KERNEL + i];
            if (ns >= 1 && ns <= 3 && taps > 0 && K % taps == 0) {
                cdims[1] = K / taps;
                for (int32_t i = 0; i < ns; i++)
                    cdims[2 + i] = ip[FGQ_P_KERNEL + i];
                crank = ns + 2;
                *shaped = 1;
            }
        } else if (mm_in) { /* MatMul's B is [K, M]: the codes transposed, the scales on axis 1 */
            int8_t *t = xb_alloc(b, (size_t)(M * K));
            if (t == NULL)
                return nomem(b);
            for (int64_t r = 0; r < M; r++)
                for (int64_t j = 0; j < K; j++)
                    t[j * M + r] = codes[r * K + j];
            codes = t;
            cdims[0] = K;
            cdims[1] = M;
            axis0 = 1;
            *shaped = 1;
        }
    }
    const char *wname = xb_fmt(b, "%s/w", base);
    const char *dq_out[2];
    for (int a = 0; a < n_alpha; a++) {
        const char *cn;
        if (n_alpha == 2) {
            /* mask of the codes this alpha scales: +1 codes (a = 0) or −1 codes (a = 1), as 0/1 */
            int8_t *mask = xb_alloc(b, (size_t)(M * K));
            if (mask == NULL)
                return nomem(b);
            for (int64_t i = 0; i < M * K; i++)
                mask[i] = codes[i] == (a == 0 ? 1 : -1);
            cn = xb_init_raw(b, xb_fmt(b, "%s/w_%s_mask", base, a == 0 ? "pos" : "neg"), ONNX_INT8, 2, cdims, mask,
                             (size_t)(M * K));
        } else if (wi.dtype == FGQ_DT_S4) {
            /* INT4: all M·K values packed flat, two per byte, first in the low nibble */
            uint8_t *packed = xb_alloc(b, (size_t)((M * K + 1) / 2));
            if (packed == NULL)
                return nomem(b);
            for (int64_t i = 0; i < M * K; i++)
                packed[i / 2] |= (uint8_t)(((uint8_t)codes[i] & 0x0f) << (4 * (i % 2)));
            cn = xb_init_raw(b, xb_fmt(b, "%s/w_codes", base), ONNX_INT4, crank, cdims, packed,
                             (size_t)((M * K + 1) / 2));
        } else {
            cn = xb_init_raw(b, xb_fmt(b, "%s/w_codes", base), ONNX_INT8, crank, cdims, codes, (size_t)(M * K));
        }
        const char *sn = xb_init_raw(b, xb_fmt(b, "%s/w_scale%d", base, a), ONNX_FLOAT, G == 1 ? 1 : 2, sdims, sc[a],
                                     (size_t)(M * G) * sizeof(float));
        /* explicit zero points (all 0, the codes' dtype, the scales' shape): ONNX Runtime's
         * QDQ -> QGemm fusion expects a per-channel B zero point beside a per-channel scale */
        const int int4 = wi.dtype == FGQ_DT_S4 && n_alpha == 1;
        const size_t zbytes = int4 ? (size_t)((M * G + 1) / 2) : (size_t)(M * G);
        const char *zn = xb_init_raw(b, xb_fmt(b, "%s/w_zp%d", base, a), int4 ? ONNX_INT4 : ONNX_INT8,
                                     G == 1 ? 1 : 2, sdims, xb_alloc(b, zbytes), zbytes);
        const char *in[3] = {cn, sn, zn};
        dq_out[a] = n_alpha == 2 ? xb_fmt(b, "%s/w%d", base, a) : wname;
        Onnx__NodeProto *n = xb_node1(b, "DequantizeLinear", xb_fmt(b, "%s/w_DequantizeLinear%d", base, a), 3, in,
                                      dq_out[a]);
        if (G == 1) {
            attr_int(b, n, "axis", axis0);
        } else {
            attr_int(b, n, "axis", 1);
            attr_int(b, n, "block_size", N);
        }
    }
    if (n_alpha == 2)
        xb_node1(b, "Sub", xb_fmt(b, "%s/w_Sub", base), 2, dq_out, wname);
    *w_out = wname;
    return b->nomem ? nomem(b) : FGQ_OK;
}

/* The float Conv (weights reshaped to [M, C/G, k...]) / Gemm (A rank 2) /
 * MatMul(+ Add bias) of QCONV, QGEMM, QCONV_DYN, QGEMM_DYN: xf, wf [M, K],
 * bias ("" if none) -> acc. */
static fgq_status lin_core(xb *b, const fgq_node_info *ni, const char *base, int is_conv, const fgq_tensor_info *xip,
                           int64_t M, const char *xf, const char *wf, int w_shaped, const char *bias, const char *acc)
{
    const int32_t *ip = ni->iparams;
    const fgq_tensor_info xi = *xip;
    int32_t ns = ip[FGQ_P_NSPATIAL], group = ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1;
    if (is_conv) {
        const char *wc = wf; /* per channel: already the Conv's shape */
        if (!w_shaped) {
            int64_t wd[5] = {M, xi.dims[1] / group, 1, 1, 1};
            for (int32_t i = 0; i < ns; i++)
                wd[2 + i] = ip[FGQ_P_KERNEL + i];
            wc = xb_fmt(b, "%s/w_conv", base);
            const char *rin[2] = {wf, init_i64_vec(b, xb_fmt(b, "%s/w_shape", base), wd, ns + 2)};
            xb_node1(b, "Reshape", xb_fmt(b, "%s/w_Reshape", base), 2, rin, wc);
        }
        const char *cin[3] = {xf, wc, bias};
        Onnx__NodeProto *n = xb_node1(b, "Conv", base, 3, cin, acc);
        spatial_attrs(b, n, ni, 1);
        attr_int(b, n, "group", group);
    } else if (xi.rank == 2) {
        const char *gin[3] = {xf, wf, bias};
        Onnx__NodeProto *n = xb_node1(b, "Gemm", base, 3, gin, acc);
        attr_int(b, n, "transB", 1);
    } else {
        const char *wt = wf;
        if (!w_shaped) {
            wt = xb_fmt(b, "%s/w_t", base);
            Onnx__NodeProto *n = xb_node1(b, "Transpose", xb_fmt(b, "%s/w_Transpose", base), 1, &wf, wt);
            int64_t perm[2] = {1, 0};
            attr_ints(b, n, "perm", perm, 2);
        }
        const char *min[2] = {xf, wt};
        if (bias[0] == '\0') {
            xb_node1(b, "MatMul", base, 2, min, acc);
        } else {
            const char *mm = xb_fmt(b, "%s/matmul", base);
            xb_node1(b, "MatMul", base, 2, min, mm);
            const char *ain[2] = {mm, bias};
            xb_node1(b, "Add", xb_fmt(b, "%s/bias_Add", base), 2, ain, acc);
        }
    }
    return b->nomem ? nomem(b) : FGQ_OK;
}

static fgq_status export_qconv_qgemm(xb *b, const fgq_node_info *ni, const char *base)
{
    const int32_t *ip = ni->iparams;
    const int32_t x = ni->inputs[0], y = ni->outputs[0], bt = ni->n_inputs > 2 ? ni->inputs[2] : -1;
    const int is_conv = ni->op == FGQ_OP_QCONV;
    fgq_tensor_info xi = tinfo(b, x), wi = tinfo(b, ni->inputs[1]);
    const int64_t M = wi.dims[0];
    int64_t K = 0;
    int32_t ns = ip[FGQ_P_NSPATIAL], group = ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1;
    if (is_conv) {
        if (xi.rank != ns + 2 || ns < 1 || ns > 3 || xi.dims[1] % group != 0)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': input rank %d for %d spatial dims", base,
                            (int)xi.rank, (int)ns);
        K = xi.dims[1] / group;
        for (int32_t i = 0; i < ns; i++)
            K *= ip[FGQ_P_KERNEL + i];
    } else {
        K = xi.dims[xi.rank - 1];
    }
    float s_x = 0.0f, s_y = 0.0f;
    fgq_status st;
    if ((st = act_scale(b, x, &s_x)) != FGQ_OK || (st = act_scale(b, y, &s_y)) != FGQ_OK)
        return st;
    double *s_m = xb_alloc(b, (size_t)M * sizeof(double));
    if (s_m == NULL)
        return nomem(b);
    const char *xf, *wf;
    int w_shaped = 0;
    if ((st = dq_act(b, base, 0, x, ip[FGQ_QP_X_ZERO], &xf)) != FGQ_OK ||
        (st = q_weights(b, ni, base, K, s_x, s_y, !is_conv && xi.rank != 2, &wf, &w_shaped, s_m)) != FGQ_OK)
        return st;
    /* bias: B·s_x·s_m as float, the value the integer accumulator adds */
    const char *bias = "";
    if (bt >= 0) {
        fgq_tensor_info bi = tinfo(b, bt);
        if (fgq_model_tensor_kind(b->m, bt) != FGQ_KIND_CONST || bi.dtype != FGQ_DT_S32 ||
            bi.size_bytes != (uint64_t)M * 4)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': bias is not a constant s32 [M]", base);
        const int32_t *bq = fgq_model_tensor_data(b->m, bt);
        float *bf = xb_alloc(b, (size_t)M * sizeof(float));
        if (bf == NULL)
            return nomem(b);
        for (int64_t r = 0; r < M; r++)
            bf[r] = (float)((double)bq[r] * (double)s_x * s_m[r]);
        int64_t bd[1] = {M};
        bias = xb_init_raw(b, xb_fmt(b, "%s/bias", base), ONNX_FLOAT, 1, bd, bf, (size_t)M * sizeof(float));
    }
    const char *acc = xb_fmt(b, "%s/acc", base);
    if ((st = lin_core(b, ni, base, is_conv, &xi, M, xf, wf, w_shaped, bias, acc)) != FGQ_OK)
        return st;
    return q_out(b, base, acc, y, s_y, ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
}

/* ---- dynamic activations: DYNQUANT, QCONV_DYN, QGEMM_DYN ------------------ */

/* DYNQUANT is DynamicQuantizeLinear itself; QCONV_DYN / QGEMM_DYN are
 * DequantizeLinear(X, X_SCALE, X_ZERO) -> Conv / Gemm / MatMul with W_f built
 * from W and W_SCALE (the s_m of the QCONV export) + the float bias -> act. */
static fgq_status export_qdyn(xb *b, const fgq_node_info *ni, const char *base)
{
    fgq_status st;
    if (ni->op == FGQ_OP_DYNQUANT) {
        const char *x;
        if (ni->n_inputs != 1 || ni->n_outputs != 3)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': DYNQUANT needs 1 input, 3 outputs", base);
        if ((st = use_tensor(b, ni->inputs[0], &x)) != FGQ_OK)
            return st;
        /* ONNX's y_scale / y_zero_point are scalars; a [1] fgq tensor is reshaped to its dims */
        const char *outs[3];
        for (int k = 0; k < 3; k++) {
            fgq_tensor_info oi = tinfo(b, ni->outputs[k]);
            outs[k] = b->tname[ni->outputs[k]];
            if (k > 0 && oi.rank != 0) {
                const char *sc = xb_fmt(b, "%s/%s", base, k == 1 ? "scale0" : "zero0");
                const char *rin[2] = {sc, init_i64_vec(b, xb_fmt(b, "%s/%s_shape", base, k == 1 ? "scale" : "zero"),
                                                       oi.dims, oi.rank)};
                xb_node1(b, "Reshape", xb_fmt(b, "%s/%s_Reshape", base, k == 1 ? "scale" : "zero"), 2, rin,
                         outs[k]);
                outs[k] = sc;
            }
        }
        xb_node(b, "DynamicQuantizeLinear", base, 1, &x, 3, outs);
        return b->nomem ? nomem(b) : FGQ_OK;
    }
    const int32_t *ip = ni->iparams;
    const int is_conv = ni->op == FGQ_OP_QCONV_DYN;
    if (ni->n_inputs < 5)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': %d inputs (at least 5 expected)", base,
                        (int)ni->n_inputs);
    const int32_t x = ni->inputs[0], wt = ni->inputs[3], st_ = ni->inputs[4];
    const int32_t bt = ni->n_inputs > 5 ? ni->inputs[5] : -1, gt = ni->n_inputs > 6 ? ni->inputs[6] : -1;
    fgq_tensor_info xi = tinfo(b, x), wi = tinfo(b, wt), si = tinfo(b, st_);
    if (xi.dtype != FGQ_DT_U8 && xi.dtype != FGQ_DT_S8)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': input is %s (u8/s8 expected)", base,
                        fgq_dtype_name(xi.dtype));
    if (wi.rank != 2 || xi.rank < 1)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': weights are not [M, Kp]", base);
    const int64_t M = wi.dims[0];
    if (fgq_model_tensor_kind(b->m, st_) != FGQ_KIND_CONST || si.dtype != FGQ_DT_F32 ||
        si.size_bytes != (uint64_t)M * sizeof(float))
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': W_SCALE is not a constant f32 [M]", base);
    int64_t K = 0;
    int32_t ns = ip[FGQ_P_NSPATIAL], group = ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1;
    if (is_conv) {
        if (xi.rank != ns + 2 || ns < 1 || ns > 3 || xi.dims[1] % group != 0)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': input rank %d for %d spatial dims", base,
                            (int)xi.rank, (int)ns);
        K = xi.dims[1] / group;
        for (int32_t i = 0; i < ns; i++)
            K *= ip[FGQ_P_KERNEL + i];
    } else {
        K = xi.dims[xi.rank - 1];
    }
    double *s_m = xb_alloc(b, (size_t)M * sizeof(double));
    if (s_m == NULL)
        return nomem(b);
    const float *sw = fgq_model_tensor_data(b->m, st_);
    for (int64_t r = 0; r < M; r++)
        s_m[r] = sw[r];
    const char *xn, *sn, *zn, *wf, *bias = "";
    int w_shaped = 0;
    if ((st = use_tensor(b, x, &xn)) != FGQ_OK || (st = use_tensor(b, ni->inputs[1], &sn)) != FGQ_OK ||
        (st = use_tensor(b, ni->inputs[2], &zn)) != FGQ_OK ||
        (st = w_float(b, ni, base, K, wt, gt, s_m, !is_conv && xi.rank != 2, &wf, &w_shaped)) != FGQ_OK)
        return st;
    if (bt >= 0) {
        fgq_tensor_info bi = tinfo(b, bt);
        if (bi.dtype != FGQ_DT_F32 || bi.size_bytes != (uint64_t)M * sizeof(float))
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': bias is not f32 [M]", base);
        if ((st = use_tensor(b, bt, &bias)) != FGQ_OK)
            return st;
    }
    const char *dq[3] = {xn, sn, zn};
    const char *xf = xb_fmt(b, "%s/dq0", base);
    xb_node1(b, "DequantizeLinear", xb_fmt(b, "%s/DequantizeLinear0", base), 3, dq, xf);
    const int32_t act = is_conv ? ip[FGQ_P_ACT] : ip[FGQ_P_GEMM_ACT];
    const char *yn = b->tname[ni->outputs[0]];
    const char *acc = act != FGQ_ACT_NONE ? xb_fmt(b, "%s/preact", base) : yn;
    if (b->nomem)
        return nomem(b);
    if ((st = lin_core(b, ni, base, is_conv, &xi, M, xf, wf, w_shaped, bias, acc)) != FGQ_OK)
        return st;
    if (act != FGQ_ACT_NONE)
        return fused_act(b, base, act, ni->fparams[FGQ_PF_ACT0], ni->fparams[FGQ_PF_ACT1], acc, yn);
    return FGQ_OK;
}

/* ---- MATMUL_INT / CONV_INT ------------------------------------------------ */

/* Scale of t from its qparams, 0 when it stores none (not an error here). */
static float qp_scale(const xb *b, int32_t t)
{
    fgq_tensor_qparams q;
    memset(&q, 0, sizeof q);
    if (fgq_model_tensor_qparams(b->m, t, &q) != FGQ_OK || q.n_scales < 1 || q.scales == NULL ||
        !isfinite(q.scales[0]) || q.scales[0] <= 0.0f)
        return 0.0f;
    return q.scales[0];
}

/* s32 output: MatMulInteger / ConvInteger (+ Add of the s32 bias); u8/s8
 * output: QLinearMatMul / QLinearConv with the scales of A, W, Y from their
 * qparams when all three have them (checked against REQ as for QCONV), else
 * a_scale = real(REQ), b_scale = y_scale = 1 (the same multiplier); a clamp
 * narrower than the dtype becomes an integer Clip. */
static fgq_status export_int(xb *b, const fgq_node_info *ni, const char *base)
{
    const int32_t *ip = ni->iparams;
    const int is_conv = ni->op == FGQ_OP_CONV_INT;
    const int32_t a = ni->inputs[0], w = ni->inputs[1], bt = is_conv && ni->n_inputs > 2 ? ni->inputs[2] : -1;
    const int32_t y = ni->outputs[0];
    fgq_tensor_info ai = tinfo(b, a), wi = tinfo(b, w), yi = tinfo(b, y);
    fgq_status st;
    const char *an, *wn, *bn = "";
    if ((st = use_tensor(b, a, &an)) != FGQ_OK || (st = use_tensor(b, w, &wn)) != FGQ_OK ||
        (bt >= 0 && (st = use_tensor(b, bt, &bn)) != FGQ_OK))
        return st;
    if ((ai.dtype != FGQ_DT_U8 && ai.dtype != FGQ_DT_S8) || (wi.dtype != FGQ_DT_U8 && wi.dtype != FGQ_DT_S8))
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': operands %s, %s (u8/s8 expected)", base,
                        fgq_dtype_name(ai.dtype), fgq_dtype_name(wi.dtype));
    const char *yn = b->tname[y];
    Onnx__NodeProto *n;
    fgq_dtype zdt[2] = {ai.dtype, wi.dtype};
    int32_t z[2] = {ip[FGQ_QP_X_ZERO], ip[FGQ_QP_INT_W_ZERO]};
    if (yi.dtype == FGQ_DT_S32) {
        /* ONNX Runtime's ConvInteger takes u8 operands only, its MatMulInteger no s8 A with u8 B:
         * such an s8 operand q with zero point z becomes q + 128 with z + 128 (Cast to int32, Add,
         * Cast to uint8), which keeps q − z exact */
        const char **op[2] = {&an, &wn};
        for (int k = 0; k < 2; k++) {
            if (zdt[k] != FGQ_DT_S8 || (!is_conv && (k == 1 || zdt[1] != FGQ_DT_U8)))
                continue;
            const char *tag = k == 0 ? "x" : "w";
            const char *c32 = xb_fmt(b, "%s/%s_s32", base, tag), *sh = xb_fmt(b, "%s/%s_shifted", base, tag);
            const char *u8 = xb_fmt(b, "%s/%s_u8", base, tag);
            n = xb_node1(b, "Cast", xb_fmt(b, "%s/%s_Cast_s32", base, tag), 1, op[k], c32);
            attr_int(b, n, "to", ONNX_INT32);
            int32_t off = 128;
            const char *ain[2] = {c32, xb_init_copy(b, xb_fmt(b, "%s/%s_offset", base, tag), ONNX_INT32, 0, NULL, &off,
                                                    sizeof off)};
            xb_node1(b, "Add", xb_fmt(b, "%s/%s_Add", base, tag), 2, ain, sh);
            n = xb_node1(b, "Cast", xb_fmt(b, "%s/%s_Cast_u8", base, tag), 1, &sh, u8);
            attr_int(b, n, "to", ONNX_UINT8);
            *op[k] = u8;
            zdt[k] = FGQ_DT_U8;
            z[k] += 128;
        }
    }
    const char *za = init_zp(b, xb_fmt(b, "%s/a_zp", base), zdt[0], z[0]);
    const char *zw = init_zp(b, xb_fmt(b, "%s/w_zp", base), zdt[1], z[1]);
    if (yi.dtype == FGQ_DT_S32) {
        const char *out = bn[0] != '\0' ? xb_fmt(b, "%s/acc", base) : yn;
        const char *in[4] = {an, wn, za, zw};
        n = xb_node1(b, is_conv ? "ConvInteger" : "MatMulInteger", base, 4, in, out);
        if (is_conv) {
            spatial_attrs(b, n, ni, 1);
            attr_int(b, n, "group", ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1);
        }
        if (bn[0] != '\0') {
            /* ConvInteger takes no bias: [M] -> [M, 1, ...] and an int32 Add */
            int64_t bd[FGQ_MAX_DIMS];
            bd[0] = -1;
            for (int32_t i = 1; i + 1 < yi.rank; i++)
                bd[i] = 1;
            const char *bs = xb_fmt(b, "%s/bias_nd", base);
            const char *rin[2] = {bn, init_i64_vec(b, xb_fmt(b, "%s/bias_shape", base), bd, yi.rank - 1)};
            xb_node1(b, "Reshape", xb_fmt(b, "%s/bias_Reshape", base), 2, rin, bs);
            const char *add[2] = {out, bs};
            xb_node1(b, "Add", xb_fmt(b, "%s/bias_Add", base), 2, add, yn);
        }
        return b->nomem ? nomem(b) : FGQ_OK;
    }
    if (yi.dtype != FGQ_DT_U8 && yi.dtype != FGQ_DT_S8)
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': output is %s (s32, u8 or s8 expected)", base,
                        fgq_dtype_name(yi.dtype));
    const double real = ldexp((double)ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT] - 31);
    float sa = qp_scale(b, a), sw = qp_scale(b, w), sy = qp_scale(b, y);
    if (sa > 0.0f && sw > 0.0f && sy > 0.0f && real > 0.0) {
        const double want = (double)sa * sw / sy;
        if (fabs(real - want) > 1e-3 * want)
            return fgq_fail(b->err, FGQ_ERR_FORMAT,
                            "export: node '%s': REQ multiplier %.9g disagrees with s_a·s_w/s_y = %.9g "
                            "(tensor qparams and REQ must describe the same scales)",
                            base, real, want);
    } else {
        sa = (float)real;
        sw = sy = 1.0f;
        if (!(sa > 0.0f))
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': output multiplier %g has no ONNX scale",
                            base, real);
    }
    int32_t lo, hi;
    dtype_range(yi.dtype, &lo, &hi);
    const int clamp = ip[FGQ_QP_QMIN] > lo || ip[FGQ_QP_QMAX] < hi;
    const char *out = clamp ? xb_fmt(b, "%s/unclamped", base) : yn;
    const char *in[9] = {an,
                         init_f32_scalar(b, xb_fmt(b, "%s/a_scale", base), sa),
                         za,
                         wn,
                         init_f32_scalar(b, xb_fmt(b, "%s/w_scale", base), sw),
                         zw,
                         init_f32_scalar(b, xb_fmt(b, "%s/y_scale", base), sy),
                         init_zp(b, xb_fmt(b, "%s/y_zp", base), yi.dtype, ip[FGQ_QP_Y_ZERO]),
                         bn};
    n = xb_node1(b, is_conv ? "QLinearConv" : "QLinearMatMul", base, is_conv ? 9 : 8, in, out);
    if (is_conv) {
        spatial_attrs(b, n, ni, 1);
        attr_int(b, n, "group", ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1);
    }
    if (clamp) {
        const char *cin[3] = {out, init_zp(b, xb_fmt(b, "%s/clamp_min", base), yi.dtype, ip[FGQ_QP_QMIN]),
                              init_zp(b, xb_fmt(b, "%s/clamp_max", base), yi.dtype, ip[FGQ_QP_QMAX])};
        xb_node1(b, "Clip", xb_fmt(b, "%s/Clip", base), 3, cin, yn);
    }
    return b->nomem ? nomem(b) : FGQ_OK;
}

/* ---- other integer ops ---------------------------------------------------- */

static fgq_status export_qother(xb *b, const fgq_node_info *ni, const char *base)
{
    const int32_t *ip = ni->iparams;
    const int32_t y = ni->outputs[0];
    const char *yn = b->tname[y];
    fgq_status st;
    float s_y = 0.0f;
    const char *xf[FGQ_QCONCAT_MAX_INPUTS];
    const char *f = xb_fmt(b, "%s/f", base);
    Onnx__NodeProto *n;

    switch (ni->op) {
    case FGQ_OP_QUANTIZE: {
        fgq_tensor_info yi = tinfo(b, y);
        if (yi.dtype != FGQ_DT_U8 && yi.dtype != FGQ_DT_S8)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': QUANTIZE to %s", base,
                            fgq_dtype_name(yi.dtype));
        const char *x;
        if ((st = use_tensor(b, ni->inputs[0], &x)) != FGQ_OK)
            return st;
        return q_out(b, base, x, y, ni->fparams[FGQ_QPF_SCALE], ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
    }
    case FGQ_OP_DEQUANTIZE: {
        const int32_t x = ni->inputs[0];
        fgq_tensor_info xi = tinfo(b, x);
        const char *xn;
        if ((st = use_tensor(b, x, &xn)) != FGQ_OK)
            return st;
        const float s = ni->fparams[FGQ_QPF_SCALE];
        const int32_t z = ip[FGQ_QP_X_ZERO];
        const char *sn = init_f32_scalar(b, xb_fmt(b, "%s/scale", base), s);
        if (xi.dtype == FGQ_DT_U8 || xi.dtype == FGQ_DT_S8) {
            const char *in[3] = {xn, sn, init_zp(b, xb_fmt(b, "%s/zp", base), xi.dtype, z)};
            xb_node1(b, "DequantizeLinear", base, 3, in, yn);
        } else if (xi.dtype == FGQ_DT_S32 && z == 0) {
            const char *in[2] = {xn, sn};
            xb_node1(b, "DequantizeLinear", base, 2, in, yn);
        } else if (xi.dtype == FGQ_DT_S32) {
            /* int32 DequantizeLinear takes no zero point: (float(q) − z)·s (q − z exact below 2^24) */
            const char *c = xb_fmt(b, "%s/cast", base), *d = xb_fmt(b, "%s/centered", base);
            n = xb_node1(b, "Cast", xb_fmt(b, "%s/Cast", base), 1, &xn, c);
            attr_int(b, n, "to", ONNX_FLOAT);
            const char *sub[2] = {c, init_f32_scalar(b, xb_fmt(b, "%s/zp", base), (float)z)};
            xb_node1(b, "Sub", xb_fmt(b, "%s/Sub", base), 2, sub, d);
            const char *mul[2] = {d, sn};
            xb_node1(b, "Mul", base, 2, mul, yn);
        } else {
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': DEQUANTIZE of %s", base,
                            fgq_dtype_name(xi.dtype));
        }
        return b->nomem ? nomem(b) : FGQ_OK;
    }
    case FGQ_OP_QADD:
        if ((st = dq_act(b, base, 0, ni->inputs[0], ip[FGQ_QP_X_ZERO], &xf[0])) != FGQ_OK ||
            (st = dq_act(b, base, 1, ni->inputs[1], ip[FGQ_QP_ADD_B_ZERO], &xf[1])) != FGQ_OK)
            return st;
        xb_node1(b, "Add", base, 2, xf, f);
        break;
    case FGQ_OP_QMUL:
        if ((st = dq_act(b, base, 0, ni->inputs[0], ip[FGQ_QP_X_ZERO], &xf[0])) != FGQ_OK ||
            (st = dq_act(b, base, 1, ni->inputs[1], ip[FGQ_QP_ADD_B_ZERO], &xf[1])) != FGQ_OK)
            return st;
        xb_node1(b, "Mul", base, 2, xf, f);
        break;
    case FGQ_OP_QMAXPOOL:
    case FGQ_OP_QAVGPOOL: {
        if ((st = dq_act(b, base, 0, ni->inputs[0], ip[FGQ_QP_X_ZERO], &xf[0])) != FGQ_OK)
            return st;
        fgq_tensor_info xi = tinfo(b, ni->inputs[0]), yi = tinfo(b, y);
        n = xb_node1(b, ni->op == FGQ_OP_QMAXPOOL ? "MaxPool" : "AveragePool", base, 1, xf, f);
        spatial_attrs(b, n, ni, 1);
        attr_int(b, n, "ceil_mode", pool_ceil_mode(ni, &xi, &yi));
        if (ni->op == FGQ_OP_QAVGPOOL)
            attr_int(b, n, "count_include_pad", ip[FGQ_P_COUNT_PAD]);
        break;
    }
    case FGQ_OP_QGLOBAL_AVGPOOL:
        if ((st = dq_act(b, base, 0, ni->inputs[0], ip[FGQ_QP_X_ZERO], &xf[0])) != FGQ_OK)
            return st;
        xb_node1(b, "GlobalAveragePool", base, 1, xf, f);
        break;
    case FGQ_OP_QLUT: {
        /* ONNX has no table op: the function the table was built from, in float between DQ and Q (the
         * QDQ group ONNX Runtime runs as is or fuses; f evaluated in float32 there, in double here) */
        const int32_t fn = ip[FGQ_QP_LUT_FN];
        static const char *const onnx_op[FGQ_LUT_FN_COUNT_] = {NULL, "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
                                                               "Sigmoid"};
        if (fn <= FGQ_LUT_TABLE || fn >= FGQ_LUT_FN_COUNT_)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED,
                            "export: node '%s': QLUT with a table of unknown origin (function %d) has no ONNX form",
                            base, (int)fn);
        { /* the table is the op's meaning: export only when the function it names rebuilds it exactly */
            float s_x = 0.0f, s_t = 0.0f;
            if ((st = act_scale(b, ni->inputs[0], &s_x)) != FGQ_OK || (st = act_scale(b, y, &s_t)) != FGQ_OK)
                return st;
            const fgq_tensor_info xi = tinfo(b, ni->inputs[0]), yi = tinfo(b, y), ti = tinfo(b, ni->inputs[1]);
            fgq_affine_params xp = {s_x, ip[FGQ_QP_X_ZERO], 0, 0}, yp = {s_t, ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN],
                                                                       ip[FGQ_QP_QMAX]};
            dtype_range(xi.dtype, &xp.qmin, &xp.qmax);
            uint8_t want[256];
            fgq_error e2;
            fgq_error_clear(&e2);
            const uint8_t *have = fgq_model_tensor_data(b->m, ni->inputs[1]);
            if (ti.size_bytes != 256 || have == NULL ||
                fgq_lut_build((fgq_lut_fn)fn, ni->fparams[FGQ_QPF_LUT_ALPHA], ni->fparams[FGQ_QPF_LUT_BETA], xi.dtype,
                              &xp, yi.dtype, &yp, want, &e2) != FGQ_OK ||
                memcmp(want, have, 256) != 0)
                return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED,
                                "export: node '%s': its QLUT table is not %s of its input and output parameters, "
                                "so no ONNX op computes it",
                                base, fgq_lut_fn_name(fn));
        }
        if ((st = dq_act(b, base, 0, ni->inputs[0], ip[FGQ_QP_X_ZERO], &xf[0])) != FGQ_OK)
            return st;
        const char *fx = fn == FGQ_LUT_SWISH ? xb_fmt(b, "%s/sigmoid", base) : f;
        n = xb_node1(b, onnx_op[fn], fn == FGQ_LUT_SWISH ? xb_fmt(b, "%s/Sigmoid", base) : base, 1, xf, fx);
        if (fn == FGQ_LUT_HARD_SIGMOID) {
            attr_float(b, n, "alpha", ni->fparams[FGQ_QPF_LUT_ALPHA]);
            attr_float(b, n, "beta", ni->fparams[FGQ_QPF_LUT_BETA]);
        }
        if (fn == FGQ_LUT_SWISH) {
            const char *mul[2] = {xf[0], fx};
            xb_node1(b, "Mul", base, 2, mul, f);
        }
        break;
    }
    case FGQ_OP_QCONCAT: {
        if (ni->n_inputs > FGQ_QCONCAT_MAX_INPUTS)
            return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': %d inputs", base, (int)ni->n_inputs);
        for (int32_t i = 0; i < ni->n_inputs; i++)
            if ((st = dq_act(b, base, i, ni->inputs[i], ip[FGQ_QP_CONCAT_IN + 3 * i], &xf[i])) != FGQ_OK)
                return st;
        n = xb_node1(b, "Concat", base, ni->n_inputs, xf, f);
        attr_int(b, n, "axis", ip[FGQ_QP_CONCAT_AXIS]);
        if ((st = act_scale(b, y, &s_y)) != FGQ_OK)
            return st;
        int32_t lo, hi;
        dtype_range(tinfo(b, y).dtype, &lo, &hi);
        if (b->nomem)
            return nomem(b);
        return q_out(b, base, f, y, s_y, ip[FGQ_QP_CONCAT_Y_ZERO], lo, hi);
    }
    default:
        return fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: node '%s': op %s has no ONNX form here", base,
                        fgq_op_name(ni->op));
    }
    if (b->nomem)
        return nomem(b);
    if ((st = act_scale(b, y, &s_y)) != FGQ_OK)
        return st;
    return q_out(b, base, f, y, s_y, ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
}

/* ---- model ------------------------------------------------------------------ */

static Onnx__ValueInfoProto *value_info(xb *b, int32_t t)
{
    fgq_tensor_info ti = tinfo(b, t);
    Onnx__ValueInfoProto *v = xb_alloc(b, sizeof *v);
    Onnx__TypeProto *tp = xb_alloc(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = xb_alloc(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = xb_alloc(b, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = xb_alloc(b, (size_t)(ti.rank > 0 ? ti.rank : 1) * sizeof *dims);
    if (v == NULL || tp == NULL || tt == NULL || sh == NULL || dims == NULL)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int32_t i = 0; i < ti.rank; i++) {
        dims[i] = xb_alloc(b, sizeof *dims[i]);
        if (dims[i] == NULL)
            return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[i]);
        dims[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        dims[i]->dim_value = ti.dims[i];
    }
    sh->n_dim = (size_t)ti.rank;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = fgq_onnx_type_of(ti.dtype);
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = b->tname[t];
    v->type = tp;
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every name defined in the graph (inputs, initializers, node outputs) is unique. */
static fgq_status check_unique(xb *b, Onnx__GraphProto *g)
{
    size_t n = g->n_input + g->n_initializer;
    for (size_t i = 0; i < g->n_node; i++)
        n += g->node[i]->n_output;
    const char **names = malloc((n > 0 ? n : 1) * sizeof *names);
    if (names == NULL)
        return nomem(b);
    size_t k = 0;
    for (size_t i = 0; i < g->n_input; i++)
        names[k++] = g->input[i]->name;
    for (size_t i = 0; i < g->n_initializer; i++)
        names[k++] = g->initializer[i]->name;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_output; j++)
            names[k++] = g->node[i]->output[j];
    qsort(names, k, sizeof *names, cmp_str);
    fgq_status st = FGQ_OK;
    for (size_t i = 1; i < k && st == FGQ_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = fgq_fail(b->err, FGQ_ERR_UNSUPPORTED, "export: the name '%s' would be defined twice in the ONNX graph",
                          names[i]);
    free(names);
    return st;
}

static fgq_status build(xb *b, uint8_t **out, size_t *out_size)
{
    const fgq_model *m = b->m;
    const int32_t nt = fgq_model_n_tensors(m), nn = fgq_model_n_nodes(m);
    const int32_t ni_ = fgq_model_n_inputs(m), no = fgq_model_n_outputs(m);
    b->tname = xb_alloc(b, (size_t)(nt > 0 ? nt : 1) * sizeof *b->tname);
    b->emitted = xb_alloc(b, (size_t)(nt > 0 ? nt : 1));
    if (b->tname == NULL || b->emitted == NULL)
        return nomem(b);
    for (int32_t t = 0; t < nt; t++) {
        fgq_tensor_info ti = tinfo(b, t);
        if ((b->tname[t] = xb_strn(b, ti.name, ti.name_len)) == NULL)
            return nomem(b);
    }
    fgq_status st = FGQ_OK;
    for (int32_t i = 0; i < nn && st == FGQ_OK; i++) {
        fgq_node_info ni;
        if (fgq_model_node_info(m, i, &ni) != FGQ_OK)
            return fgq_fail(b->err, FGQ_ERR_VALUE, "export: node %d out of range", (int)i);
        const char *base = xb_strn(b, ni.name, ni.name_len);
        if (base == NULL)
            return nomem(b);
        if (base[0] == '\0' && (base = xb_fmt(b, "node%d", (int)i)) == NULL)
            return nomem(b);
        if (ni.op == FGQ_OP_QCONV || ni.op == FGQ_OP_QGEMM)
            st = export_qconv_qgemm(b, &ni, base);
        else if (ni.op == FGQ_OP_DYNQUANT || ni.op == FGQ_OP_QCONV_DYN || ni.op == FGQ_OP_QGEMM_DYN)
            st = export_qdyn(b, &ni, base);
        else if (ni.op == FGQ_OP_MATMUL_INT || ni.op == FGQ_OP_CONV_INT)
            st = export_int(b, &ni, base);
        else if ((ni.op >= FGQ_OP_QCONV && ni.op <= FGQ_OP_QGEMM_DYN) || ni.op == FGQ_OP_QLUT || ni.op == FGQ_OP_QMUL) /* the integer ops */
            st = export_qother(b, &ni, base);
        else
            st = export_float(b, &ni, base);
    }
    if (st != FGQ_OK)
        return st;

    Onnx__ValueInfoProto **gin = xb_alloc(b, (size_t)(ni_ > 0 ? ni_ : 1) * sizeof *gin);
    Onnx__ValueInfoProto **gout = xb_alloc(b, (size_t)(no > 0 ? no : 1) * sizeof *gout);
    if (gin == NULL || gout == NULL)
        return nomem(b);
    for (int32_t i = 0; i < ni_; i++)
        if ((gin[i] = value_info(b, fgq_model_input_tensor(m, i))) == NULL)
            return nomem(b);
    for (int32_t i = 0; i < no; i++) {
        int32_t t = fgq_model_output_tensor(m, i);
        const char *unused;
        if ((st = use_tensor(b, t, &unused)) != FGQ_OK) /* a constant output is an initializer */
            return st;
        if ((gout[i] = value_info(b, t)) == NULL)
            return nomem(b);
    }

    Onnx__GraphProto graph;
    onnx__graph_proto__init(&graph);
    graph.name = "fgq";
    graph.n_node = b->n_nodes;
    graph.node = b->nodes;
    graph.n_initializer = b->n_inits;
    graph.initializer = b->inits;
    graph.n_input = (size_t)ni_;
    graph.input = gin;
    graph.n_output = (size_t)no;
    graph.output = gout;
    if ((st = check_unique(b, &graph)) != FGQ_OK)
        return st;

    Onnx__OperatorSetIdProto opset;
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1;
    opset.version = FGQ_EXPORT_ONNX_OPSET;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ModelProto model;
    onnx__model_proto__init(&model);
    model.has_ir_version = 1;
    model.ir_version = FGQ_EXPORT_ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = "fgq";
    model.graph = &graph;

    size_t size = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return nomem(b);
    if (onnx__model_proto__pack(&model, buf) != size) {
        free(buf);
        return fgq_fail(b->err, FGQ_ERR_FORMAT, "export: protobuf packing wrote an unexpected size");
    }
    *out = buf;
    *out_size = size;
    return FGQ_OK;
}

fgq_status fgq_export_onnx(const fgq_model *m, uint8_t **out, size_t *out_size, fgq_error *err)
{
    if (out == NULL || out_size == NULL || m == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "export: NULL argument");
    *out = NULL;
    *out_size = 0;
    xb b;
    memset(&b, 0, sizeof b);
    b.m = m;
    b.err = err;
    fgq_status st = build(&b, out, out_size);
    for (size_t i = 0; i < b.n_blocks; i++)
        free(b.blocks[i]);
    free(b.blocks);
    free(b.nodes);
    free(b.inits);
    return st;
}
