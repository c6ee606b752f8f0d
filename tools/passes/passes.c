/* passes.c — identity removal, constant folding, BatchNorm folding, activation fusion, compaction. */
#include "passes/passes.h"

#include "import/onnx_import.h"
#include "import/op_semantics.h"

#include "lower/lower.h"
#include "fgq_format.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------ */

static int is_op(const fgq_ir_node *n, const char *op)
{
    return fgq_node_is(n, op);
}

static int is_graph_output(const fgq_graph *g, int32_t t)
{
    for (int32_t i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return 1;
    return 0;
}

static void replace_uses(fgq_graph *g, int32_t from, int32_t to)
{
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == from)
                g->nodes[i].inputs[k] = to;
}

static int is_const(const fgq_graph *g, int32_t t)
{
    return t >= 0 && t < g->n_tensors && g->tensors[t].kind == FGQ_TK_CONST && g->tensors[t].data != NULL;
}

static int64_t numel_of(const fgq_ir_tensor *t)
{
    return fgq_ir_tensor_numel(t);
}

/* Sets (or adds) an attribute on node n. */
static fgq_ir_attr *attr_slot(fgq_ir_node *n, const char *name, fgq_error *err)
{
    fgq_ir_attr *a = fgq_node_attr_slot(n, name);
    if (a == NULL)
        fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory adding attribute %s", n->name, name);
    return a;
}

static fgq_status set_attr_int(fgq_ir_node *n, const char *name, int64_t v, fgq_error *err)
{
    fgq_ir_attr *a = attr_slot(n, name, err);
    if (a == NULL)
        return FGQ_ERR_NOMEM;
    a->type = FGQ_ATTR_INT;
    a->i = v;
    return FGQ_OK;
}

static fgq_status set_attr_float(fgq_ir_node *n, const char *name, float v, fgq_error *err)
{
    fgq_ir_attr *a = attr_slot(n, name, err);
    if (a == NULL)
        return FGQ_ERR_NOMEM;
    a->type = FGQ_ATTR_FLOAT;
    a->f = v;
    return FGQ_OK;
}

/* New const tensor named base+suffix (made unique), owning `data`. Returns index or -1. */
static int32_t add_const(fgq_graph *g, const char *base, const char *suffix, fgq_dtype dt, int32_t rank,
                         const int64_t *dims, void *data, fgq_error *err)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    char *name = malloc(len);
    if (name == NULL) {
        fgq_fail(err, FGQ_ERR_NOMEM, "out of memory naming a folded tensor");
        return -1;
    }
    snprintf(name, len, "%s%s", base, suffix);
    for (int k = 1; fgq_graph_find_tensor(g, name) >= 0; k++)
        snprintf(name, len, "%s%s_%d", base, suffix, k);
    int32_t t = fgq_graph_add_tensor(g, name);
    free(name);
    if (t < 0) {
        fgq_fail(err, FGQ_ERR_NOMEM, "out of memory adding a folded tensor");
        return -1;
    }
    fgq_ir_tensor *x = &g->tensors[t];
    x->dtype = dt;
    x->kind = FGQ_TK_CONST;
    x->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        x->dims[i] = dims[i];
    x->data = data;
    return t;
}

/* ---- compaction ----------------------------------------------------------------- */

fgq_status fgq_graph_compact(fgq_graph *g, const uint8_t *dead, fgq_error *err)
{
    int32_t w = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (dead != NULL && dead[i]) {
            fgq_ir_node_free(&g->nodes[i]);
            continue;
        }
        g->nodes[w++] = g->nodes[i];
    }
    g->n_nodes = w;

    int32_t *map = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *map);
    if (map == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory compacting the graph");
    for (int32_t t = 0; t < g->n_tensors; t++)
        map[t] = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                map[n->inputs[k]] = 0;
        for (int32_t k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0)
                map[n->outputs[k]] = 0;
        for (int32_t k = 0; k < n->n_attrs; k++)
            if (n->attrs[k].type == FGQ_ATTR_TENSOR && n->attrs[k].tensor >= 0)
                map[n->attrs[k].tensor] = 0;
    }
    for (int32_t i = 0; i < g->n_inputs; i++)
        map[g->inputs[i]] = 0;
    for (int32_t i = 0; i < g->n_outputs; i++)
        map[g->outputs[i]] = 0;
    int32_t nt = 0;
    for (int32_t t = 0; t < g->n_tensors; t++) {
        if (map[t] < 0) {
            free(g->tensors[t].name);
            free(g->tensors[t].data);
            fgq_qparams_free(&g->tensors[t].q);
            continue;
        }
        map[t] = nt;
        g->tensors[nt++] = g->tensors[t];
    }
    g->n_tensors = nt;
    for (int32_t t = 0; t < nt; t++)
        g->tensors[t].producer = -1;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        fgq_ir_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                n->inputs[k] = map[n->inputs[k]];
        for (int32_t k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0) {
                n->outputs[k] = map[n->outputs[k]];
                g->tensors[n->outputs[k]].producer = i;
            }
        for (int32_t k = 0; k < n->n_attrs; k++)
            if (n->attrs[k].type == FGQ_ATTR_TENSOR && n->attrs[k].tensor >= 0)
                n->attrs[k].tensor = map[n->attrs[k].tensor];
    }
    for (int32_t i = 0; i < g->n_inputs; i++)
        g->inputs[i] = map[g->inputs[i]];
    for (int32_t i = 0; i < g->n_outputs; i++)
        g->outputs[i] = map[g->outputs[i]];
    for (int32_t t = 0; t < nt; t++)
        g->tensors[t].is_output = 0;
    for (int32_t i = 0; i < g->n_outputs; i++)
        g->tensors[g->outputs[i]].is_output = 1;
    free(map);
    return FGQ_OK;
}

static uint8_t *dead_flags(const fgq_graph *g, fgq_error *err)
{
    uint8_t *d = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    if (d == NULL)
        fgq_fail(err, FGQ_ERR_NOMEM, "out of memory in a graph pass");
    return d;
}

/* Makes node p write tensor `to` instead of its output slot k (tensor `from`). */
static void redirect_output(fgq_graph *g, int32_t p, int32_t k, int32_t to)
{
    g->nodes[p].outputs[k] = to;
    g->tensors[to].producer = p;
}

static int output_slot(const fgq_ir_node *n, int32_t t)
{
    for (int32_t k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] == t)
            return k;
    return -1;
}

/* ---- drop Identity / Dropout ------------------------------------------------------ */

fgq_status fgq_pass_drop_identity(fgq_graph *g, fgq_error *err)
{
    uint8_t *dead = dead_flags(g, err);
    if (dead == NULL)
        return FGQ_ERR_NOMEM;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        fgq_ir_node *n = &g->nodes[i];
        /* a Cast to the dtype its input already has copies (not one to float16, which fgq holds as
         * float32: that one rounds to float16's precision) */
        const int64_t to = is_op(n, "Cast") ? fgq_node_attr_int(n, "to", 0) : 0;
        const int same_cast = is_op(n, "Cast") && to != 10 && n->n_inputs >= 1 && n->inputs[0] >= 0 &&
                              g->tensors[n->inputs[0]].dtype != FGQ_DT_UNDEF &&
                              fgq_onnx_dtype((int32_t)to) == g->tensors[n->inputs[0]].dtype;
        if (!(is_op(n, "Identity") || is_op(n, "Dropout") || same_cast) || n->n_inputs < 1 || n->n_outputs < 1)
            continue;
        int32_t x = n->inputs[0], y = n->outputs[0];
        if (x < 0 || y < 0)
            continue;
        /* Dropout in training mode, or with its mask read, keeps the node (lowering then refuses it). */
        if (is_op(n, "Dropout") && !fgq_dropout_is_inference(g, n))
            continue;

        if (n->n_outputs > 1 && n->outputs[1] >= 0 &&
            (fgq_graph_tensor_uses(g, n->outputs[1]) || is_graph_output(g, n->outputs[1])))
            continue;
        if (is_graph_output(g, y)) {
            /* The output name must survive: rename the producer's output instead. */
            int32_t p = g->tensors[x].producer;
            if (p < 0 || dead[p] || g->tensors[x].kind != FGQ_TK_INTERMEDIATE || is_graph_output(g, x) ||
                fgq_graph_tensor_uses(g, x) != 1)
                continue; /* x is an input, const, shared or an output itself: keep the copy */
            int k = output_slot(&g->nodes[p], x);
            if (k < 0)
                continue;
            redirect_output(g, p, k, y);
        } else {
            replace_uses(g, y, x);
        }
        dead[i] = 1;
    }
    fgq_status st = fgq_graph_compact(g, dead, err);
    free(dead);
    return st;
}

/* ---- constant folding ------------------------------------------------------------------ */

static double get_num(const fgq_ir_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case FGQ_DT_F32: return ((const float *)t->data)[i];
    case FGQ_DT_S32: return ((const int32_t *)t->data)[i];
    case FGQ_DT_S64: return (double)((const int64_t *)t->data)[i];
    case FGQ_DT_U8: return ((const uint8_t *)t->data)[i];
    case FGQ_DT_S8: return ((const int8_t *)t->data)[i];
    case FGQ_DT_BOOL: return ((const uint8_t *)t->data)[i] != 0;
    default: return 0;
    }
}

static int64_t get_int(const fgq_ir_tensor *t, int64_t i)
{
    if (t->dtype == FGQ_DT_S64)
        return ((const int64_t *)t->data)[i];
    return (int64_t)get_num(t, i);
}

static int numeric_dtype(fgq_dtype dt)
{
    return dt == FGQ_DT_F32 || dt == FGQ_DT_S32 || dt == FGQ_DT_S64 || dt == FGQ_DT_U8 || dt == FGQ_DT_S8 ||
           dt == FGQ_DT_BOOL;
}

/* float -> integer as the runtime's Cast computes it (fgq_ops.h): toward zero, saturating at [lo, hi],
 * NaN -> 0; hi 2^63 stands for INT64_MAX. A folded Cast must give what the unfolded one would. */
static int64_t f2i_sat(double v, double lo, double hi)
{
    if (!(v == v))
        return 0;
    if (v <= lo)
        return (int64_t)lo;
    if (v >= hi)
        return hi >= 9223372036854775808.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

/* Converts to dt: integers wrap (NumPy's astype), floats go through f2i_sat (ONNX Cast from float). */
static void put_num(void *data, fgq_dtype dt, int64_t i, double v, int64_t iv, int use_int)
{
    switch (dt) {
    case FGQ_DT_F32: ((float *)data)[i] = use_int ? (float)iv : (float)v; break;
    case FGQ_DT_S32:
        ((int32_t *)data)[i] = use_int ? (int32_t)(uint32_t)(uint64_t)iv
                                       : (int32_t)f2i_sat(v, -2147483648.0, 2147483647.0);
        break;
    case FGQ_DT_S64:
        ((int64_t *)data)[i] = use_int ? iv : f2i_sat(v, -9223372036854775808.0, 9223372036854775808.0);
        break;
    case FGQ_DT_U8: ((uint8_t *)data)[i] = use_int ? (uint8_t)iv : (uint8_t)f2i_sat(v, 0.0, 255.0); break;
    case FGQ_DT_S8: ((int8_t *)data)[i] = use_int ? (int8_t)(uint8_t)iv : (int8_t)f2i_sat(v, -128.0, 127.0); break;
    case FGQ_DT_BOOL: ((uint8_t *)data)[i] = use_int ? iv != 0 : v != 0; break;
    default: break;
    }
}

/* Makes tensor t a constant with the given type, shape and owned data. */
static void become_const(fgq_ir_tensor *t, fgq_dtype dt, int32_t rank, const int64_t *dims, void *data)
{
    free(t->data);
    t->data = data;
    t->dtype = dt;
    t->kind = FGQ_TK_CONST;
    t->rank = rank;
    for (int32_t i = 0; i < FGQ_MAX_DIMS; i++)
        t->dims[i] = i < rank ? dims[i] : 0;
    t->producer = -1;
}

static void *alloc_elems(int64_t numel, fgq_dtype dt)
{
    size_t es = fgq_dtype_size(dt);
    return calloc((size_t)(numel > 0 ? numel : 1), es ? es : 1);
}

/* Folding must not grow the model: a folded output of more than FOLD_FREE_ELEMS elements may not be larger
 * than the distinct constants it is computed from. Broadcasting, a Concat of one tensor many times or a Gather
 * with repeated indices would otherwise turn a few KB of model into GBs of weights (a 130 KB Add of [16384,1]
 * and [1,16384] became a 1 GiB .fgq); such a node is left to the runtime, which computes it in the arena. */
enum { FOLD_FREE_ELEMS = 1 << 16 };

/* a * b, or INT64_MAX when it overflows (a, b >= 0) */
static int64_t mul_sat(int64_t a, int64_t b)
{
    return a != 0 && b > INT64_MAX / a ? INT64_MAX : a * b;
}

/* The most elements a fold may make where the runtime could not compute the node instead. */
enum { FOLD_BCAST_MAX = 1 << 24 };

static int fold_fits(const fgq_graph *g, const fgq_ir_node *n, int64_t out_numel)
{
    if (out_numel < 0)
        return 0;
    if (out_numel <= FOLD_FREE_ELEMS)
        return 1;
    int64_t have = 0;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        int32_t t = n->inputs[k], seen = 0;
        for (int32_t j = 0; j < k && !seen; j++)
            seen = n->inputs[j] == t;
        const int64_t e = t >= 0 && !seen ? numel_of(&g->tensors[t]) : 0;
        have += e > 0 ? e : 0; /* each <= FGQ_IR_MAX_ELEMS: no overflow below 2^23 inputs */
        if (have >= out_numel)
            return 1;
    }
    return 0;
}

/* Reads an int list from attribute `name` or from const input `in` (opset >= 13 style). */
static int get_axes(const fgq_graph *g, const fgq_ir_node *n, const char *name, int32_t in, int64_t *axes,
                    int32_t *n_axes)
{
    const fgq_ir_attr *a = fgq_node_attr(n, name);
    *n_axes = -1;
    if (a != NULL && a->type == FGQ_ATTR_INTS) {
        if (a->n > FGQ_MAX_DIMS)
            return 0;
        for (int32_t i = 0; i < a->n; i++)
            axes[i] = a->ints[i];
        *n_axes = a->n;
        return 1;
    }
    if (in < n->n_inputs && n->inputs[in] >= 0) {
        const fgq_ir_tensor *t = &g->tensors[n->inputs[in]];
        int64_t k = numel_of(t);
        if (!is_const(g, n->inputs[in]) || k < 0 || k > FGQ_MAX_DIMS)
            return 0;
        for (int64_t i = 0; i < k; i++)
            axes[i] = get_int(t, i);
        *n_axes = (int32_t)k;
    }
    return 1;
}

/* out[i] for numpy broadcasting: offset into an input of rank r with dims d, for output multi-index idx (rank R). */
static int64_t bcast_offset(const int64_t *idx, int32_t R, const int64_t *d, int32_t r)
{
    int64_t off = 0;
    for (int32_t k = 0; k < r; k++) {
        int64_t i = idx[R - r + k];
        off = off * d[k] + (d[k] == 1 ? 0 : i);
    }
    return off;
}

/* The multi-index idx (rank R, last dim fastest) of flat element i of a tensor with dims. */
static void unravel(int64_t i, int32_t R, const int64_t *dims, int64_t *idx)
{
    for (int32_t k = R - 1; k >= 0; k--) {
        idx[k] = i % dims[k];
        i /= dims[k];
    }
}

static fgq_status fold_binary(const fgq_graph *g, const fgq_ir_node *n, fgq_ir_tensor *out, fgq_error *err)
{
    const fgq_ir_tensor *a = &g->tensors[n->inputs[0]], *b = &g->tensors[n->inputs[1]];
    if (a->dtype != b->dtype || !(a->dtype == FGQ_DT_F32 || a->dtype == FGQ_DT_S32 || a->dtype == FGQ_DT_S64))
        return FGQ_ERR_UNSUPPORTED; /* not folded; left to the runtime */
    int32_t R = a->rank > b->rank ? a->rank : b->rank;
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t k = 0; k < R; k++) {
        int64_t da = k - (R - a->rank) >= 0 ? a->dims[k - (R - a->rank)] : 1;
        int64_t db = k - (R - b->rank) >= 0 ? b->dims[k - (R - b->rank)] : 1;
        if (da != db && da != 1 && db != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (%s): shapes do not broadcast at axis %d (%lld vs %lld)",
                            n->name, n->op_type, (int)k, (long long)da, (long long)db);
        dims[k] = da == 1 ? db : da;
    }
    int64_t total = 1;
    for (int32_t k = 0; k < R; k++)
        total = mul_sat(total, dims[k]);
    /* not folded when broadcasting would grow the model and the runtime can compute it instead (its
     * Add / Sub / Mul / Div are float); integer shape arithmetic is folded up to FOLD_BCAST_MAX */
    if (a->dtype == FGQ_DT_F32 ? !fold_fits(g, n, total) : total > FOLD_BCAST_MAX)
        return FGQ_ERR_UNSUPPORTED;
    void *data = alloc_elems(total, a->dtype);
    if (data == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
    char op = is_op(n, "Add") ? '+' : is_op(n, "Sub") ? '-' : is_op(n, "Mul") ? '*' : '/';
    int64_t idx[FGQ_MAX_DIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        unravel(i, R, dims, idx);
        int64_t ia = bcast_offset(idx, R, a->dims, a->rank), ib = bcast_offset(idx, R, b->dims, b->rank);
        if (a->dtype == FGQ_DT_F32) {
            /* float arithmetic, as the runtime would do it */
            float x = ((const float *)a->data)[ia], y = ((const float *)b->data)[ib];
            ((float *)data)[i] = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
        } else {
            int64_t x = get_int(a, ia), y = get_int(b, ib), r;
            if (op == '/' && y == 0) {
                free(data);
                return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Div): integer division by zero in constant folding",
                                n->name);
            }
            /* wrap like the fixed-width type would (unsigned arithmetic avoids UB) */
            r = op == '+' ? (int64_t)((uint64_t)x + (uint64_t)y)
                : op == '-' ? (int64_t)((uint64_t)x - (uint64_t)y)
                : op == '*' ? (int64_t)((uint64_t)x * (uint64_t)y)
                : (y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y); /* C division truncates, like ONNX Runtime */
            put_num(data, a->dtype, i, 0, r, 1);
        }
    }
    become_const(out, a->dtype, R, dims, data);
    return FGQ_OK;
}

/* ConstantOfShape, Equal, Where, Expand on constants (the shape arithmetic exporters write around
 * an expanded class token or initial state): numpy broadcasting of up to three inputs. Equal, Where
 * and Expand run in the runtime too, so they fold only within fold_fits (no growth of the model);
 * ConstantOfShape, which does not, up to FOLD_BCAST_MAX elements. */

static fgq_status fold_broadcast(const fgq_graph *g, const fgq_ir_node *n, fgq_ir_tensor *out, fgq_error *err)
{
    const fgq_ir_tensor *in[3] = {NULL, NULL, NULL};
    int32_t nin = 0, R = 0;
    int64_t dims[FGQ_MAX_DIMS];
    fgq_dtype odt;
    if (is_op(n, "ConstantOfShape")) {
        const fgq_ir_tensor *s = &g->tensors[n->inputs[0]];
        const int64_t k = numel_of(s);
        if (k < 0 || k > FGQ_MAX_DIMS)
            return FGQ_ERR_UNSUPPORTED;
        R = (int32_t)k;
        for (int32_t j = 0; j < R; j++)
            dims[j] = get_int(s, j);
        const fgq_ir_attr *a = fgq_node_attr(n, "value");
        const fgq_ir_tensor *v = a != NULL && a->type == FGQ_ATTR_TENSOR && is_const(g, a->tensor) ? &g->tensors[a->tensor]
                                                                                                  : NULL;
        if (a != NULL && (v == NULL || numel_of(v) != 1 || !numeric_dtype(v->dtype)))
            return FGQ_ERR_UNSUPPORTED;
        odt = v != NULL ? v->dtype : FGQ_DT_F32;
        in[nin++] = v; /* NULL: 0.0f */
    } else {
        const int is_expand = is_op(n, "Expand"), is_where = is_op(n, "Where");
        nin = is_where ? 3 : 2;
        if (n->n_inputs != nin)
            return FGQ_ERR_UNSUPPORTED;
        for (int32_t k = 0; k < nin; k++) {
            if (n->inputs[k] < 0)
                return FGQ_ERR_UNSUPPORTED; /* an omitted input ("" in the model): not foldable; lowering says why */
            in[k] = &g->tensors[n->inputs[k]];
        }
        if (is_expand) { /* the shape input joins the broadcast as a shape, not as values */
            const int64_t k = numel_of(in[1]);
            if (k < 0 || k > FGQ_MAX_DIMS)
                return FGQ_ERR_UNSUPPORTED;
            R = (int32_t)k;
            for (int32_t j = 0; j < R; j++)
                dims[j] = get_int(in[1], j);
            nin = 1;
        }
        odt = is_op(n, "Equal") ? FGQ_DT_BOOL : in[is_where ? 1 : 0]->dtype;
        if (is_op(n, "Equal") && in[0]->dtype != in[1]->dtype)
            return FGQ_ERR_UNSUPPORTED;
        if (is_where && in[1]->dtype != in[2]->dtype)
            return FGQ_ERR_UNSUPPORTED;
        for (int32_t k = 0; k < nin; k++) { /* output dims: broadcast of all */
            const fgq_ir_tensor *t = in[k];
            const int32_t r2 = t->rank > R ? t->rank : R;
            int64_t nd[FGQ_MAX_DIMS];
            for (int32_t j = 0; j < r2; j++) {
                const int64_t a = j - (r2 - R) >= 0 ? dims[j - (r2 - R)] : 1;
                const int64_t b = j - (r2 - t->rank) >= 0 ? t->dims[j - (r2 - t->rank)] : 1;
                if (a != b && a != 1 && b != 1)
                    return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (%s): shapes do not broadcast at axis %d", n->name,
                                    n->op_type, (int)j);
                nd[j] = a == 1 ? b : a;
            }
            R = r2;
            memcpy(dims, nd, sizeof(int64_t) * (size_t)R);
        }
    }
    if (!numeric_dtype(odt))
        return FGQ_ERR_UNSUPPORTED;
    for (int32_t k = 0; k < nin; k++)
        if (in[k] != NULL && (numel_of(in[k]) < 0 || in[k]->data == NULL))
            return FGQ_ERR_UNSUPPORTED;
    int64_t total = 1;
    for (int32_t j = 0; j < R; j++) {
        if (dims[j] < 0)
            return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (%s): negative dim %lld", n->name, n->op_type,
                            (long long)dims[j]);
        if (dims[j] != 0 && total > FOLD_BCAST_MAX / dims[j]) /* before multiplying: no wrap */
            return FGQ_ERR_UNSUPPORTED;
        total *= dims[j];
    }
    if (!is_op(n, "ConstantOfShape") && !fold_fits(g, n, total))
        return FGQ_ERR_UNSUPPORTED; /* the runtime's Equal / Where / Expand compute it */
    uint8_t *data = alloc_elems(total, odt);
    if (data == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
    const size_t es = fgq_dtype_size(odt);
    if (is_op(n, "ConstantOfShape")) { /* one value everywhere: copies that double (2^24 elements in ~10 ms) */
        if (in[0] != NULL && total > 0) {
            const size_t bytes = (size_t)total * es;
            memcpy(data, in[0]->data, es);
            for (size_t have = es; have < bytes; have *= 2)
                memcpy(data + have, data, have < bytes - have ? have : bytes - have);
        }
        become_const(out, odt, R, dims, data);
        return FGQ_OK;
    }
    int64_t idx[FGQ_MAX_DIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        unravel(i, R, dims, idx);
        if (is_op(n, "Expand")) {
            memcpy(data + (size_t)i * es,
                   (const uint8_t *)in[0]->data + (size_t)bcast_offset(idx, R, in[0]->dims, in[0]->rank) * es, es);
        } else if (is_op(n, "Equal")) {
            const int64_t ia = bcast_offset(idx, R, in[0]->dims, in[0]->rank);
            const int64_t ib = bcast_offset(idx, R, in[1]->dims, in[1]->rank);
            const int eq = in[0]->dtype == FGQ_DT_F32 ? get_num(in[0], ia) == get_num(in[1], ib)
                                                      : get_int(in[0], ia) == get_int(in[1], ib);
            data[i] = (uint8_t)eq;
        } else { /* Where */
            const int c = get_num(in[0], bcast_offset(idx, R, in[0]->dims, in[0]->rank)) != 0.0;
            const fgq_ir_tensor *src = c ? in[1] : in[2];
            memcpy(data + (size_t)i * es,
                   (const uint8_t *)src->data + (size_t)bcast_offset(idx, R, src->dims, src->rank) * es, es);
        }
    }
    become_const(out, odt, R, dims, data);
    return FGQ_OK;
}

/* Mod, Not, ScatterND and integer Transpose on constants are evaluated by the runtime's own kernel
 * (check, then run), so the folded constant is the bytes the unfolded node would give. Its output takes
 * the dims of the broadcast (Mod), of the permutation (Transpose) or of input 0; like every op the runtime
 * computes, it folds only within fold_fits. A check the
 * kernel refuses leaves the node to the lowering and the loader, which say why; a run that fails (a
 * ScatterND index out of range) is the model's error, named with its node. */
static fgq_status fold_by_runtime(const fgq_graph *g, const fgq_ir_node *n, fgq_op op, const int32_t *ips,
                                  int32_t n_ips, fgq_ir_tensor *out, fgq_error *err)
{
    const fgq_op_impl *impl = fgq_op_lookup((uint32_t)op);
    if (impl == NULL || n->n_inputs < impl->min_inputs || n->n_inputs > impl->max_inputs || n->n_inputs > 3)
        return FGQ_ERR_UNSUPPORTED;
    fgq_tensor_view iv[3], ov;
    const fgq_tensor_view *ins[3];
    for (int32_t k = 0; k < n->n_inputs; k++) {
        if (n->inputs[k] < 0)
            return FGQ_ERR_UNSUPPORTED; /* an omitted input: the lowering says why */
        const fgq_ir_tensor *t = &g->tensors[n->inputs[k]];
        iv[k].dtype = t->dtype;
        iv[k].rank = t->rank;
        memcpy(iv[k].dims, t->dims, sizeof iv[k].dims);
        iv[k].data = t->data;
        ins[k] = &iv[k];
    }
    ov = iv[0];
    if (op == FGQ_OP_MOD) { /* NumPy broadcast of A and B; a mismatch is left to the check's refusal */
        const fgq_tensor_view *a = &iv[0], *b = &iv[1];
        ov.rank = a->rank > b->rank ? a->rank : b->rank;
        for (int32_t k = 0; k < ov.rank; k++) {
            const int64_t da = k - (ov.rank - a->rank) >= 0 ? a->dims[k - (ov.rank - a->rank)] : 1;
            const int64_t db = k - (ov.rank - b->rank) >= 0 ? b->dims[k - (ov.rank - b->rank)] : 1;
            ov.dims[k] = da == 1 ? db : da;
        }
    } else if (op == FGQ_OP_TRANSPOSE) { /* perm checked here: the kernel's check reads it the same way */
        if (n_ips != iv[0].rank)
            return FGQ_ERR_UNSUPPORTED;
        for (int32_t k = 0; k < n_ips; k++) {
            if (ips[k] < 0 || ips[k] >= iv[0].rank)
                return FGQ_ERR_UNSUPPORTED;
            ov.dims[k] = iv[0].dims[ips[k]];
        }
    }
    int64_t total = 1;
    for (int32_t k = 0; k < ov.rank; k++)
        total = mul_sat(total, ov.dims[k] < 0 ? INT64_MAX : ov.dims[k]);
    if (!fold_fits(g, n, total))
        return FGQ_ERR_UNSUPPORTED; /* the runtime computes it in the arena instead */
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    for (int32_t k = 0; k < n_ips && k < FGQ_NODE_MAX_IPARAMS; k++)
        ip[k] = ips[k];
    fgq_node_view nv = {.name = n->name, .name_len = (uint32_t)strlen(n->name), .op = op, .n_inputs = n->n_inputs,
                        .n_outputs = 1, .iparams = ip, .fparams = fp};
    const fgq_tensor_view *outs[1] = {&ov};
    fgq_error e = {FGQ_OK, ""};
    ov.data = NULL;
    if (impl->check(&nv, ins, outs, &e) != FGQ_OK)
        return FGQ_ERR_UNSUPPORTED;
    /* one scratch slice (serial run), as fgq_model_run would give it */
    const uint64_t need = impl->scratch != NULL ? impl->scratch(&nv, ins, outs, fgq_target_build()) : 0;
    const uint64_t stride = fgq_scratch_stride(need);
    if (stride > 0 && (stride > SIZE_MAX || (nv.scratch = aligned_alloc(64, (size_t)stride)) == NULL))
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
    nv.scratch_stride = stride;
    nv.n_scratch = stride > 0 ? 1 : 0;
    ov.data = alloc_elems(total, ov.dtype);
    if (ov.data == NULL) {
        free(nv.scratch);
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
    }
    const fgq_status st = impl->run(&nv, ins, outs, &e);
    free(nv.scratch);
    if (st != FGQ_OK) {
        free(ov.data);
        return fgq_fail(err, st, "%s (in constant folding)", e.msg);
    }
    become_const(out, ov.dtype, ov.rank, ov.dims, ov.data);
    return FGQ_OK;
}

/* Range on constants: start, start + delta, ... accumulated in the type (ONNX's loop; ONNX Runtime),
 * its length by op_semantics' rule, which shape inference shares. The runtime cannot run a Range (its
 * length is its inputs' values), so a Range folds up to FOLD_BCAST_MAX elements or is refused here. */
static fgq_status fold_range(const fgq_graph *g, const fgq_ir_node *n, fgq_ir_tensor *out, fgq_error *err)
{
    if (n->n_inputs != 3 || n->inputs[1] < 0 || n->inputs[2] < 0)
        return FGQ_ERR_UNSUPPORTED;
    const fgq_ir_tensor *t[3] = {&g->tensors[n->inputs[0]], &g->tensors[n->inputs[1]], &g->tensors[n->inputs[2]]};
    const fgq_dtype dt = t[0]->dtype;
    for (int32_t k = 0; k < 3; k++)
        if (t[k]->dtype != dt || numel_of(t[k]) != 1)
            return FGQ_ERR_UNSUPPORTED; /* shape inference names the node */
    if (dt != FGQ_DT_F32 && dt != FGQ_DT_S32 && dt != FGQ_DT_S64)
        return FGQ_ERR_UNSUPPORTED;
    int64_t cnt = 0;
    char why[160];
    const int r =
        dt == FGQ_DT_F32
            ? fgq_onnx_range_count_f32(((const float *)t[0]->data)[0], ((const float *)t[1]->data)[0],
                                       ((const float *)t[2]->data)[0], &cnt, why, sizeof why)
            : fgq_onnx_range_count_int(get_int(t[0], 0), get_int(t[1], 0), get_int(t[2], 0), &cnt, why, sizeof why);
    if (r != 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Range): %s", n->name, why);
    if (cnt > FOLD_BCAST_MAX)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        "node '%s' (Range): %lld elements, more than fgq folds (%d); the runtime cannot compute a "
                        "Range",
                        n->name, (long long)cnt, FOLD_BCAST_MAX);
    void *data = alloc_elems(cnt, dt);
    if (data == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
    if (dt == FGQ_DT_F32) {
        float v = ((const float *)t[0]->data)[0];
        const float d = ((const float *)t[2]->data)[0];
        for (int64_t i = 0; i < cnt; i++, v += d)
            ((float *)data)[i] = v;
    } else { /* start + i·delta stays within [start, limit): no wrap, unsigned arithmetic for the steps */
        const uint64_t s0 = (uint64_t)get_int(t[0], 0), d = (uint64_t)get_int(t[2], 0);
        for (int64_t i = 0; i < cnt; i++)
            put_num(data, dt, i, 0, (int64_t)(s0 + (uint64_t)i * d), 1);
    }
    const int64_t dims[1] = {cnt};
    become_const(out, dt, 1, dims, data);
    return FGQ_OK;
}

/* Evaluates node i. FGQ_OK: outputs are now constants. FGQ_ERR_UNSUPPORTED
 * (without a message): not foldable, left alone. Other errors are real. */
static fgq_status fold_node(fgq_graph *g, int32_t i, fgq_error *err)
{
    fgq_ir_node *n = &g->nodes[i];
    const fgq_onnx_op *row = fgq_onnx_op_at(fgq_onnx_op_index(n->op_type, n->domain));
    if (row == NULL || !(row->flags & FGQ_ONNX_FOLDS) || n->n_outputs < 1 || n->outputs[0] < 0)
        return FGQ_ERR_UNSUPPORTED;
    fgq_ir_tensor *out = &g->tensors[n->outputs[0]];
    const fgq_ir_tensor *x = n->n_inputs > 0 && n->inputs[0] >= 0 ? &g->tensors[n->inputs[0]] : NULL;
    int64_t dims[FGQ_MAX_DIMS];

    if (is_op(n, "Constant")) {
        const fgq_ir_attr *a = NULL;
        for (int32_t k = 0; k < n->n_attrs && a == NULL; k++)
            if (strncmp(n->attrs[k].name, "value", 5) == 0)
                a = &n->attrs[k];
        if (a == NULL)
            return FGQ_ERR_UNSUPPORTED;
        if (a->type == FGQ_ATTR_TENSOR && strcmp(a->name, "value") == 0 && is_const(g, a->tensor)) {
            const fgq_ir_tensor *v = &g->tensors[a->tensor];
            int64_t k = numel_of(v);
            size_t es = fgq_dtype_size(v->dtype);
            if (k < 0 || es == 0)
                return FGQ_ERR_UNSUPPORTED;
            void *data = alloc_elems(k, v->dtype);
            if (data == NULL)
                return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
            memcpy(data, v->data, (size_t)k * es);
            become_const(out, v->dtype, v->rank, v->dims, data);
            return FGQ_OK;
        }
        int is_list = a->type == FGQ_ATTR_FLOATS || a->type == FGQ_ATTR_INTS;
        int64_t k = is_list ? a->n : 1;
        fgq_dtype dt = (a->type == FGQ_ATTR_FLOAT || a->type == FGQ_ATTR_FLOATS) ? FGQ_DT_F32
                       : (a->type == FGQ_ATTR_INT || a->type == FGQ_ATTR_INTS) ? FGQ_DT_S64 : FGQ_DT_UNDEF;
        if (dt == FGQ_DT_UNDEF)
            return FGQ_ERR_UNSUPPORTED;
        void *data = alloc_elems(k, dt);
        if (data == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
        for (int64_t j = 0; j < k; j++) {
            if (dt == FGQ_DT_F32)
                ((float *)data)[j] = is_list ? a->floats[j] : a->f;
            else
                ((int64_t *)data)[j] = is_list ? a->ints[j] : a->i;
        }
        dims[0] = k;
        become_const(out, dt, is_list ? 1 : 0, dims, data);
        return FGQ_OK;
    }
    if (is_op(n, "Shape")) {
        if (x == NULL || x->rank < 0)
            return FGQ_ERR_UNSUPPORTED;
        int64_t r = x->rank;
        int64_t s = fgq_node_attr_int(n, "start", 0), e = fgq_node_attr_int(n, "end", r);
        if (s < 0) s += r;
        if (e < 0) e += r;
        s = s < 0 ? 0 : s > r ? r : s;
        e = e < 0 ? 0 : e > r ? r : e;
        int64_t k = e > s ? e - s : 0;
        int64_t *data = alloc_elems(k, FGQ_DT_S64);
        if (data == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
        for (int64_t j = 0; j < k; j++)
            data[j] = x->dims[s + j];
        dims[0] = k;
        become_const(out, FGQ_DT_S64, 1, dims, data);
        return FGQ_OK;
    }
    /* Every other foldable op needs all its present inputs constant. */
    if (n->n_inputs < 1)
        return FGQ_ERR_UNSUPPORTED;
    for (int32_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && !is_const(g, n->inputs[k]))
            return FGQ_ERR_UNSUPPORTED;
    if (x == NULL || !numeric_dtype(x->dtype))
        return FGQ_ERR_UNSUPPORTED;
    int64_t xn = numel_of(x);
    size_t es = fgq_dtype_size(x->dtype);
    if (xn < 0)
        return FGQ_ERR_UNSUPPORTED;

    if (is_op(n, "Add") || is_op(n, "Sub") || is_op(n, "Mul") || is_op(n, "Div")) {
        if (n->n_inputs != 2 || n->inputs[1] < 0)
            return FGQ_ERR_UNSUPPORTED;
        return fold_binary(g, n, out, err);
    }
    if (is_op(n, "ConstantOfShape") || is_op(n, "Equal") || is_op(n, "Where") || is_op(n, "Expand"))
        return fold_broadcast(g, n, out, err);
    if (is_op(n, "Range"))
        return fold_range(g, n, out, err);
    if (is_op(n, "Mod")) {
        const int32_t fm = (int32_t)fgq_node_attr_int(n, "fmod", 0);
        return fm == 0 || fm == 1 ? fold_by_runtime(g, n, FGQ_OP_MOD, &fm, 1, out, err) : FGQ_ERR_UNSUPPORTED;
    }
    if (is_op(n, "Not"))
        return fold_by_runtime(g, n, FGQ_OP_NOT, NULL, 0, out, err);
    if (is_op(n, "ScatterND")) {
        int32_t red;
        char why[160];
        if (fgq_onnx_scatter_reduction(n, &red, why, sizeof why) != 0)
            return FGQ_ERR_UNSUPPORTED;
        return fold_by_runtime(g, n, FGQ_OP_SCATTER_ND, &red, 1, out, err);
    }
    if (is_op(n, "Transpose")) {
        /* integer and bool tensors only: shape arithmetic (torch writes Pad's pads as a Transpose of an
         * int64 [n, 2] constant); a float Transpose of weights stays a node, as before, for the quantizer */
        if (x->dtype == FGQ_DT_F32 || x->rank > FGQ_MAX_DIMS)
            return FGQ_ERR_UNSUPPORTED;
        int32_t perm[FGQ_MAX_DIMS];
        const fgq_ir_attr *a = fgq_node_attr(n, "perm");
        if (a == NULL) {
            for (int32_t k = 0; k < x->rank; k++)
                perm[k] = x->rank - 1 - k;
        } else {
            if (a->type != FGQ_ATTR_INTS || a->n != x->rank)
                return FGQ_ERR_UNSUPPORTED; /* the lowering names the mismatch */
            for (int32_t k = 0; k < a->n; k++)
                perm[k] = a->ints[k] >= 0 && a->ints[k] < x->rank ? (int32_t)a->ints[k] : -1;
        }
        return fold_by_runtime(g, n, FGQ_OP_TRANSPOSE, perm, x->rank, out, err);
    }
    if (is_op(n, "Cast")) {
        const int64_t to_onnx = fgq_node_attr_int(n, "to", 0);
        fgq_dtype to = fgq_onnx_dtype((int32_t)to_onnx);
        if (to == FGQ_DT_UNDEF || to_onnx == 10) /* float16: the runtime's Cast rounds to its precision */
            return FGQ_ERR_UNSUPPORTED;
        void *data = alloc_elems(xn, to);
        if (data == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
        int ints = x->dtype != FGQ_DT_F32;
        for (int64_t j = 0; j < xn; j++)
            put_num(data, to, j, ints ? 0 : get_num(x, j), ints ? get_int(x, j) : 0, ints);
        become_const(out, to, x->rank, x->dims, data);
        return FGQ_OK;
    }

    /* Shape-only ops: compute the output shape, then copy the bytes. */
    int32_t rank = -1;
    if (is_op(n, "Reshape")) {
        if (n->n_inputs < 2 || n->inputs[1] < 0)
            return FGQ_ERR_UNSUPPORTED;
        const fgq_ir_tensor *s = &g->tensors[n->inputs[1]];
        int64_t k = numel_of(s);
        if (k < 0 || k > FGQ_MAX_DIMS)
            return FGQ_ERR_UNSUPPORTED;
        int allowzero = (int)fgq_node_attr_int(n, "allowzero", 0);
        int64_t known = 1;
        int neg = -1;
        rank = (int32_t)k;
        for (int32_t j = 0; j < rank; j++) {
            int64_t v = get_int(s, j);
            if (v == 0 && !allowzero)
                v = j < x->rank ? x->dims[j] : 0;
            if (v == -1) {
                if (neg >= 0)
                    return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Reshape): more than one -1 in the shape", n->name);
                neg = j;
                v = 1;
            } else if (v < 0) {
                return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Reshape): negative dim %lld", n->name, (long long)v);
            }
            if (v != 0 && known > INT64_MAX / v)
                return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Reshape): the target shape overflows", n->name);
            dims[j] = v;
            known *= v;
        }
        if (neg >= 0) {
            if (known == 0 || xn % known != 0)
                return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Reshape): cannot infer -1 for %lld elements", n->name,
                                (long long)xn);
            dims[neg] = xn / known;
        }
    } else if (is_op(n, "Flatten")) {
        int64_t ax = fgq_node_attr_int(n, "axis", 1);
        if (ax < 0)
            ax += x->rank;
        if (ax < 0 || ax > x->rank)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Flatten): axis out of range", n->name);
        dims[0] = 1;
        dims[1] = 1;
        for (int32_t j = 0; j < x->rank; j++)
            dims[j < ax ? 0 : 1] *= x->dims[j];
        rank = 2;
    } else if (is_op(n, "Unsqueeze") || is_op(n, "Squeeze")) {
        int64_t axes[FGQ_MAX_DIMS];
        int32_t na;
        if (!get_axes(g, n, "axes", 1, axes, &na))
            return FGQ_ERR_UNSUPPORTED;
        uint32_t mask = 0;
        if (is_op(n, "Unsqueeze")) {
            if (na < 0)
                return FGQ_ERR_UNSUPPORTED;
            rank = x->rank + na;
            if (rank > FGQ_MAX_DIMS)
                return FGQ_ERR_UNSUPPORTED;
            for (int32_t j = 0; j < na; j++) {
                int64_t a = axes[j] < 0 ? axes[j] + rank : axes[j];
                if (a < 0 || a >= rank || (mask >> a & 1u))
                    return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Unsqueeze): bad axis %lld", n->name,
                                    (long long)axes[j]);
                mask |= 1u << a;
            }
            for (int32_t j = 0, src = 0; j < rank; j++)
                dims[j] = (mask >> j & 1u) ? 1 : x->dims[src++];
        } else {
            for (int32_t j = 0; j < na; j++) {
                int64_t a = axes[j] < 0 ? axes[j] + x->rank : axes[j];
                if (a < 0 || a >= x->rank || x->dims[a] != 1)
                    return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Squeeze): axis %lld is not a dim of 1", n->name,
                                    (long long)axes[j]);
                mask |= 1u << a;
            }
            rank = 0;
            for (int32_t j = 0; j < x->rank; j++)
                if (!(na < 0 ? x->dims[j] == 1 : (mask >> j & 1u)))
                    dims[rank++] = x->dims[j];
        }
    } else if (is_op(n, "Concat")) {
        int64_t ax = fgq_node_attr_int(n, "axis", 0);
        if (ax < 0)
            ax += x->rank;
        if (ax < 0 || ax >= x->rank)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Concat): axis out of range", n->name);
        rank = x->rank;
        for (int32_t j = 0; j < rank; j++)
            dims[j] = x->dims[j];
        dims[ax] = 0;
        for (int32_t k = 0; k < n->n_inputs; k++) {
            const fgq_ir_tensor *t = n->inputs[k] >= 0 ? &g->tensors[n->inputs[k]] : NULL;
            if (t == NULL)
                continue;
            if (t->dtype != x->dtype || t->rank != rank)
                return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Concat): input %d has another type or rank", n->name,
                                (int)k);
            for (int32_t j = 0; j < rank; j++)
                if (j != ax && t->dims[j] != x->dims[j])
                    return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (Concat): input %d differs at axis %d", n->name,
                                    (int)k, (int)j);
            dims[ax] += t->dims[ax];
        }
        int64_t outer = 1, inner = (int64_t)es;
        for (int32_t j = 0; j < ax; j++)
            outer *= dims[j];
        for (int32_t j = (int32_t)ax + 1; j < rank; j++)
            inner *= dims[j];
        int64_t total = outer * dims[ax];
        if (!fold_fits(g, n, mul_sat(total, inner / (int64_t)es)))
            return FGQ_ERR_UNSUPPORTED; /* not folded: repeated inputs would grow the model */
        uint8_t *data = alloc_elems(total * (inner / (int64_t)es), x->dtype);
        if (data == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
        uint8_t *w = data;
        for (int64_t o = 0; o < outer; o++)
            for (int32_t k = 0; k < n->n_inputs; k++) {
                if (n->inputs[k] < 0)
                    continue;
                const fgq_ir_tensor *t = &g->tensors[n->inputs[k]];
                size_t chunk = (size_t)(t->dims[ax] * inner);
                memcpy(w, (const uint8_t *)t->data + (size_t)o * chunk, chunk);
                w += chunk;
            }
        become_const(out, x->dtype, rank, dims, data);
        return FGQ_OK;
    } else if (is_op(n, "Slice") && g->opset >= 10 && n->n_inputs >= 3) {
        /* shape arithmetic (Shape -> Slice): the same resolution as shape inference and lowering */
        int64_t v[4][FGQ_MAX_DIMS];
        int32_t cnt[4] = { -1, -1, -1, -1 };
        for (int32_t k = 1; k < n->n_inputs && k <= 4; k++) {
            if (n->inputs[k] < 0)
                continue;
            const fgq_ir_tensor *t = &g->tensors[n->inputs[k]];
            const int64_t tn = numel_of(t);
            if ((t->dtype != FGQ_DT_S64 && t->dtype != FGQ_DT_S32) || tn < 0 || tn > FGQ_MAX_DIMS)
                return FGQ_ERR_UNSUPPORTED;
            for (int64_t j = 0; j < tn; j++)
                v[k - 1][j] = get_int(t, j);
            cnt[k - 1] = (int32_t)tn;
        }
        if (cnt[0] < 0 || cnt[1] != cnt[0] || (cnt[2] >= 0 && cnt[2] != cnt[0]) || (cnt[3] >= 0 && cnt[3] != cnt[0]))
            return FGQ_ERR_UNSUPPORTED;
        int64_t first[FGQ_MAX_DIMS], step[FGQ_MAX_DIMS];
        char why[160];
        if (fgq_onnx_slice_resolve(x->rank, x->dims, cnt[0], v[0], v[1], cnt[2] >= 0 ? v[2] : NULL,
                                   cnt[3] >= 0 ? v[3] : NULL, first, step, dims, why, sizeof why) != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Slice): %s", n->name, why);
        int64_t on = 1, xs[FGQ_MAX_DIMS], k = 1;
        for (int32_t j = 0; j < x->rank; j++)
            on *= dims[j];
        for (int32_t j = x->rank - 1; j >= 0; j--) {
            xs[j] = k;
            k *= x->dims[j];
        }
        uint8_t *data = alloc_elems(on, x->dtype);
        if (data == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
        for (int64_t o = 0; o < on; o++) { /* element o's index, last dim fastest */
            int64_t rem = o, src = 0;
            for (int32_t j = x->rank - 1; j >= 0; j--) {
                src += (first[j] + (rem % dims[j]) * step[j]) * xs[j];
                rem /= dims[j];
            }
            memcpy(data + (size_t)o * es, (const uint8_t *)x->data + (size_t)src * es, es);
        }
        become_const(out, x->dtype, x->rank, dims, data);
        return FGQ_OK;
    } else if (is_op(n, "Gather")) {
        if (n->n_inputs != 2 || n->inputs[1] < 0)
            return FGQ_ERR_UNSUPPORTED;
        const fgq_ir_tensor *ind = &g->tensors[n->inputs[1]];
        if (ind->dtype != FGQ_DT_S64 && ind->dtype != FGQ_DT_S32)
            return FGQ_ERR_UNSUPPORTED;
        int64_t ax = fgq_node_attr_int(n, "axis", 0);
        if (ax < 0)
            ax += x->rank;
        if (ax < 0 || ax >= x->rank || x->rank - 1 + ind->rank > FGQ_MAX_DIMS)
            return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Gather): axis out of range", n->name);
        rank = 0;
        for (int32_t j = 0; j < ax; j++)
            dims[rank++] = x->dims[j];
        for (int32_t j = 0; j < ind->rank; j++)
            dims[rank++] = ind->dims[j];
        for (int32_t j = (int32_t)ax + 1; j < x->rank; j++)
            dims[rank++] = x->dims[j];
        int64_t outer = 1, inner = (int64_t)es, ni = numel_of(ind);
        for (int32_t j = 0; j < ax; j++)
            outer *= x->dims[j];
        for (int32_t j = (int32_t)ax + 1; j < x->rank; j++)
            inner *= x->dims[j];
        if (ni < 0 || !fold_fits(g, n, mul_sat(mul_sat(outer, ni), inner / (int64_t)es)))
            return FGQ_ERR_UNSUPPORTED; /* not folded: repeated indices would grow the model */
        uint8_t *data = alloc_elems(outer * ni * (inner / (int64_t)es), x->dtype);
        if (data == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < ni; j++) {
                int64_t v = get_int(ind, j);
                if (v < 0)
                    v += x->dims[ax];
                if (v < 0 || v >= x->dims[ax]) {
                    free(data);
                    return fgq_fail(err, FGQ_ERR_VALUE, "node '%s' (Gather): index %lld out of range [0, %lld)",
                                    n->name, (long long)get_int(ind, j), (long long)x->dims[ax]);
                }
                memcpy(data + (size_t)((o * ni + j) * inner),
                       (const uint8_t *)x->data + (size_t)((o * x->dims[ax] + v) * inner), (size_t)inner);
            }
        become_const(out, x->dtype, rank, dims, data);
        return FGQ_OK;
    } else {
        return FGQ_ERR_UNSUPPORTED;
    }
    /* Reshape / Flatten / Squeeze / Unsqueeze: same bytes, new shape. */
    int64_t on = 1;
    for (int32_t j = 0; j < rank; j++)
        on *= dims[j];
    if (on != xn)
        return fgq_fail(err, FGQ_ERR_SHAPE, "node '%s' (%s): %lld elements cannot become %lld", n->name, n->op_type,
                        (long long)xn, (long long)on);
    void *data = alloc_elems(xn, x->dtype);
    if (data == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding", n->name);
    memcpy(data, x->data, (size_t)xn * es);
    become_const(out, x->dtype, rank, dims, data);
    return FGQ_OK;
}

fgq_status fgq_pass_fold_constants(fgq_graph *g, fgq_error *err)
{
    uint8_t *dead = dead_flags(g, err);
    if (dead == NULL)
        return FGQ_ERR_NOMEM;
    fgq_status st = FGQ_OK;
    for (int32_t i = 0; i < g->n_nodes && st == FGQ_OK; i++) {
        fgq_error local = {FGQ_OK, ""};
        fgq_status r = fold_node(g, i, &local);
        if (r == FGQ_OK) {
            dead[i] = 1;
        } else if (local.status != FGQ_OK) {
            st = fgq_fail(err, local.status, "%s: %s", g->source_path ? g->source_path : "graph", local.msg);
        }
    }
    if (st == FGQ_OK)
        st = fgq_graph_compact(g, dead, err);
    free(dead);
    return st;
}

/* ---- BatchNormalization folding ---------------------------------------------------- */

/* Per-channel factor f = γ/√(σ²+ε) and shift h = β − μ·f, so BN(y) = f·y + h. */
static int bn_factors(const fgq_graph *g, const fgq_ir_node *bn, int64_t c, float *f, float *h)
{
    if (bn->n_inputs != 5)
        return 0;
    for (int32_t k = 1; k < 5; k++) {
        int32_t t = bn->inputs[k];
        if (!is_const(g, t) || g->tensors[t].dtype != FGQ_DT_F32 || numel_of(&g->tensors[t]) != c)
            return 0;
    }
    const float *gamma = g->tensors[bn->inputs[1]].data, *beta = g->tensors[bn->inputs[2]].data;
    const float *mean = g->tensors[bn->inputs[3]].data, *var = g->tensors[bn->inputs[4]].data;
    double eps = fgq_node_attr_float(bn, "epsilon", 1e-5f);
    for (int64_t i = 0; i < c; i++) {
        double fi = gamma[i] / sqrt((double)var[i] + eps);
        f[i] = (float)fi;
        h[i] = (float)(beta[i] - mean[i] * fi);
    }
    return 1;
}

static fgq_status fold_bn_into(fgq_graph *g, int32_t bi, int32_t pi, int *folded, fgq_error *err)
{
    *folded = 0;
    fgq_ir_node *bn = &g->nodes[bi];
    fgq_ir_node *p = &g->nodes[pi];
    int is_conv = is_op(p, "Conv");
    int32_t wi = p->n_inputs > 1 ? p->inputs[1] : -1;
    if (!is_conv && !is_op(p, "Gemm"))
        return FGQ_OK;
    if (!is_const(g, wi) || g->tensors[wi].dtype != FGQ_DT_F32)
        return FGQ_OK;
    const fgq_ir_tensor *w = &g->tensors[wi];
    int64_t c;
    int trans_b = (int)fgq_node_attr_int(p, "transB", 0);
    if (is_conv) {
        if (w->rank < 3)
            return FGQ_OK;
        c = w->dims[0];
    } else {
        if (w->rank != 2 || fgq_node_attr_int(p, "transA", 0) != 0)
            return FGQ_OK;
        c = trans_b ? w->dims[0] : w->dims[1];
    }
    int32_t bias_i = p->n_inputs > 2 ? p->inputs[2] : -1;
    float beta_g = is_conv ? 1.0f : fgq_node_attr_float(p, "beta", 1.0f);
    if (bias_i >= 0) {
        const fgq_ir_tensor *b = &g->tensors[bias_i];
        int64_t bn_el = numel_of(b);
        /* only biases that are one value per channel (or a scalar) fold into one */
        if (!is_const(g, bias_i) || b->dtype != FGQ_DT_F32 || !(bn_el == c || bn_el == 1) ||
            (b->rank == 2 && b->dims[0] != 1) || b->rank > 2)
            return FGQ_OK;
        if (is_conv && (b->rank != 1 || bn_el != c))
            return FGQ_OK;
    }
    float *f = malloc((size_t)c * sizeof *f), *h = malloc((size_t)c * sizeof *h);
    float *nb = malloc((size_t)c * sizeof *nb);
    int64_t wn = numel_of(w);
    float *nw = malloc((size_t)wn * sizeof *nw);
    if (f == NULL || h == NULL || nb == NULL || nw == NULL) {
        free(f); free(h); free(nb); free(nw);
        return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory folding BatchNormalization", bn->name);
    }
    if (!bn_factors(g, bn, c, f, h)) {
        free(f); free(h); free(nb); free(nw);
        return FGQ_OK;
    }
    const float *wd = w->data;
    if (is_conv) { /* W [M, C/g, k...]: row m scaled by f[m] */
        int64_t per = wn / c;
        for (int64_t m = 0; m < c; m++)
            for (int64_t j = 0; j < per; j++)
                nw[m * per + j] = wd[m * per + j] * f[m];
    } else if (trans_b) { /* B [N, K] */
        int64_t k = w->dims[1];
        for (int64_t m = 0; m < c; m++)
            for (int64_t j = 0; j < k; j++)
                nw[m * k + j] = wd[m * k + j] * f[m];
    } else { /* B [K, N] */
        int64_t k = w->dims[0];
        for (int64_t j = 0; j < k; j++)
            for (int64_t m = 0; m < c; m++)
                nw[j * c + m] = wd[j * c + m] * f[m];
    }
    for (int64_t m = 0; m < c; m++) {
        float b0 = 0.0f;
        if (bias_i >= 0) {
            const fgq_ir_tensor *b = &g->tensors[bias_i];
            b0 = ((const float *)b->data)[numel_of(b) == 1 ? 0 : m] * beta_g;
        }
        /* f·(b − μ) + β = f·b + h */
        nb[m] = f[m] * b0 + h[m];
    }
    free(f);
    free(h);
    int64_t bdims[1] = {c}, wdims[FGQ_MAX_DIMS];
    int32_t wrank = w->rank;
    memcpy(wdims, w->dims, sizeof wdims);
    /* add_const may move g->tensors: use only copies from here on */
    int32_t nwi = add_const(g, g->tensors[wi].name, "_bnfold", FGQ_DT_F32, wrank, wdims, nw, err);
    if (nwi < 0) {
        free(nw);
        free(nb);
        return FGQ_ERR_NOMEM;
    }
    int32_t nbi = add_const(g, g->nodes[pi].name, "_bnfold_bias", FGQ_DT_F32, 1, bdims, nb, err);
    if (nbi < 0) {
        free(nb);
        return FGQ_ERR_NOMEM;
    }
    p = &g->nodes[pi];
    bn = &g->nodes[bi];
    if (p->n_inputs < 3) {
        int32_t *in = realloc(p->inputs, 3 * sizeof *in);
        if (in == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory", p->name);
        p->inputs = in;
        for (int32_t k = p->n_inputs; k < 3; k++)
            in[k] = -1;
        p->n_inputs = 3;
    }
    p->inputs[1] = nwi;
    p->inputs[2] = nbi;
    if (!is_conv && set_attr_float(p, "beta", 1.0f, err) != FGQ_OK)
        return FGQ_ERR_NOMEM;
    /* The producer now writes BN's output directly. */
    int32_t old = p->outputs[0];
    redirect_output(g, pi, 0, bn->outputs[0]);
    g->tensors[old].producer = -1;
    *folded = 1;
    return FGQ_OK;
}

fgq_status fgq_pass_fold_batchnorm(fgq_graph *g, fgq_error *err)
{
    uint8_t *dead = dead_flags(g, err);
    if (dead == NULL)
        return FGQ_ERR_NOMEM;
    fgq_status st = FGQ_OK;
    for (int32_t i = 0; i < g->n_nodes && st == FGQ_OK; i++) {
        const fgq_ir_node *bn = &g->nodes[i];
        /* an omitted Y ("" in the model) leaves nothing to write the folded result to */
        if (!is_op(bn, "BatchNormalization") || bn->n_inputs != 5 || bn->inputs[0] < 0 || bn->n_outputs < 1 ||
            bn->outputs[0] < 0)
            continue;
        if (fgq_node_attr_int(bn, "training_mode", 0) != 0)
            continue;
        int extra = 0;
        for (int32_t k = 1; k < bn->n_outputs; k++)
            extra |= bn->outputs[k] >= 0;
        int32_t x = bn->inputs[0], p = g->tensors[x].producer;
        if (extra || p < 0 || dead[p] || g->nodes[p].outputs[0] != x || g->nodes[p].n_outputs != 1 ||
            fgq_graph_tensor_uses(g, x) != 1 || is_graph_output(g, x))
            continue;
        int folded = 0;
        st = fold_bn_into(g, i, p, &folded, err);
        if (folded)
            dead[i] = 1;
    }
    if (st == FGQ_OK)
        st = fgq_graph_compact(g, dead, err);
    free(dead);
    return st;
}

/* ---- Relu / Clip fusion ---------------------------------------------------------------- */

/* Clip bounds: attributes before opset 11, constant inputs after. 0 if not constant. */
static int clip_bounds(const fgq_graph *g, const fgq_ir_node *n, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (g->opset > 0 && g->opset < 11) {
        const fgq_ir_attr *a = fgq_node_attr(n, "min"), *b = fgq_node_attr(n, "max");
        if (a != NULL && a->type == FGQ_ATTR_FLOAT)
            *lo = a->f;
        if (b != NULL && b->type == FGQ_ATTR_FLOAT)
            *hi = b->f;
        return 1;
    }
    for (int32_t k = 1; k < n->n_inputs && k < 3; k++) {
        int32_t t = n->inputs[k];
        if (t < 0)
            continue;
        if (!is_const(g, t) || g->tensors[t].dtype != FGQ_DT_F32 || numel_of(&g->tensors[t]) != 1)
            return 0;
        float v = ((const float *)g->tensors[t].data)[0];
        if (k == 1)
            *lo = v;
        else
            *hi = v;
    }
    return 1;
}

fgq_status fgq_pass_fuse_activations(fgq_graph *g, fgq_error *err)
{
    uint8_t *dead = dead_flags(g, err);
    if (dead == NULL)
        return FGQ_ERR_NOMEM;
    fgq_status st = FGQ_OK;
    for (int32_t i = 0; i < g->n_nodes && st == FGQ_OK; i++) {
        const fgq_ir_node *a = &g->nodes[i];
        int relu = is_op(a, "Relu");
        if (!(relu || is_op(a, "Clip")) || a->n_inputs < 1 || a->inputs[0] < 0 || a->n_outputs != 1 ||
            a->outputs[0] < 0)
            continue;
        float lo = 0.0f, hi = INFINITY;
        if (!relu && !clip_bounds(g, a, &lo, &hi))
            continue;
        int32_t x = a->inputs[0], pi = g->tensors[x].producer;
        if (pi < 0 || dead[pi])
            continue;
        fgq_ir_node *p = &g->nodes[pi];
        if (!(is_op(p, "Conv") || is_op(p, "Gemm") || is_op(p, "MatMul") || is_op(p, "Add")) ||
            p->n_outputs != 1 || p->outputs[0] != x || fgq_graph_tensor_uses(g, x) != 1 || is_graph_output(g, x) ||
            g->tensors[x].dtype != FGQ_DT_F32)
            continue;
        /* Compose with an activation already fused: both are clamps, so the
         * result is the clamp to the intersection [max(lo), min(hi)]. */
        int64_t prev = fgq_node_attr_int(p, FGQ_ATTR_ACT, 0);
        if (prev == 1) {
            lo = lo > 0.0f ? lo : 0.0f;
        } else if (prev == 2) {
            float plo = fgq_node_attr_float(p, FGQ_ATTR_ACT_MIN, -INFINITY);
            float phi = fgq_node_attr_float(p, FGQ_ATTR_ACT_MAX, INFINITY);
            lo = plo > lo ? plo : lo;
            hi = phi < hi ? phi : hi;
        }
        int as_relu = lo == 0.0f && hi == INFINITY;
        if (set_attr_int(p, FGQ_ATTR_ACT, as_relu ? 1 : 2, err) != FGQ_OK ||
            (!as_relu && (set_attr_float(p, FGQ_ATTR_ACT_MIN, lo, err) != FGQ_OK ||
                          set_attr_float(p, FGQ_ATTR_ACT_MAX, hi, err) != FGQ_OK))) {
            st = FGQ_ERR_NOMEM;
            break;
        }
        a = &g->nodes[i];
        redirect_output(g, pi, 0, a->outputs[0]);
        g->tensors[x].producer = -1;
        dead[i] = 1;
    }
    if (st == FGQ_OK)
        st = fgq_graph_compact(g, dead, err);
    free(dead);
    return st;
}

fgq_status fgq_pass_rnn_state_outputs(fgq_graph *g, fgq_error *err)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        fgq_ir_node *n = &g->nodes[i];
        if (!is_op(n, "LSTM") && !is_op(n, "GRU"))
            continue;
        const int32_t want = is_op(n, "LSTM") ? 3 : 2;
        if (n->n_outputs < want) {
            int32_t *o = realloc(n->outputs, sizeof(int32_t) * (size_t)want);
            if (o == NULL)
                return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory adding its state outputs", n->name);
            for (int32_t k = n->n_outputs; k < want; k++)
                o[k] = -1;
            n->outputs = o;
            n->n_outputs = want;
        }
        for (int32_t k = 0; k < want; k++) {
            if (n->outputs[k] >= 0)
                continue;
            char name[512];
            snprintf(name, sizeof name, "%s/state%d", n->name, (int)k);
            while (fgq_graph_find_tensor(g, name) >= 0 && strlen(name) + 2 < sizeof name)
                strcat(name, "_");
            const int32_t t = fgq_graph_add_tensor(g, name);
            if (t < 0)
                return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory adding its state outputs", n->name);
            n = &g->nodes[i];
            g->tensors[t].producer = i;
            n->outputs[k] = t;
        }
    }
    return FGQ_OK;
}

fgq_status fgq_pass_pow_float_exponent(fgq_graph *g, fgq_error *err)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        if (!is_op(n, "Pow") || n->n_inputs != 2 || n->inputs[1] < 0 ||
            !is_const(g, n->inputs[1]))
            continue;
        const fgq_ir_tensor *e = &g->tensors[n->inputs[1]];
        const int64_t k = numel_of(e);
        if (e->dtype == FGQ_DT_F32 || !numeric_dtype(e->dtype) || k < 0)
            continue;
        float *v = alloc_elems(k, FGQ_DT_F32);
        if (v == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "node '%s': out of memory", n->name);
        for (int64_t j = 0; j < k; j++)
            v[j] = (float)get_num(e, j);
        const int32_t t = add_const(g, e->name, "_f32", FGQ_DT_F32, e->rank, e->dims, v, err);
        if (t < 0) {
            free(v);
            return err->status;
        }
        g->nodes[i].inputs[1] = t;
    }
    return FGQ_OK;
}

fgq_status fgq_graph_optimize(fgq_graph *g, fgq_error *err)
{
    fgq_status st = fgq_pass_rnn_state_outputs(g, err);
    if (st == FGQ_OK)
        st = fgq_pass_pow_float_exponent(g, err);
    if (st == FGQ_OK)
        st = fgq_pass_drop_identity(g, err);
    if (st == FGQ_OK)
        st = fgq_pass_fold_constants(g, err);
    if (st == FGQ_OK)
        st = fgq_pass_fold_batchnorm(g, err);
    if (st == FGQ_OK)
        st = fgq_pass_fuse_activations(g, err);
    return st;
}

fgq_status fgq_graph_refuse_nan(const fgq_graph *g, fgq_error *err)
{
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs; k++) {
            const int32_t t = n->inputs[k];
            if (t < 0 || !fgq_ir_is_f32_const(g, t))
                continue;
            const float *v = g->tensors[t].data;
            const int64_t numel = fgq_ir_tensor_numel(&g->tensors[t]);
            for (int64_t e = 0; e < numel; e++)
                if (isnan(v[e]))
                    return fgq_fail(err, FGQ_ERR_VALUE,
                                    "%s: node '%s' (%s): input %d, tensor '%s', holds NaN (element %lld); "
                                    "a model with NaN weights cannot give finite outputs",
                                    g->source_path != NULL ? g->source_path : "model", n->name, n->op_type, (int)k,
                                    g->tensors[t].name, (long long)e);
        }
    }
    return FGQ_OK;
}
