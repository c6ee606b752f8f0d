/*
 * shape_infer.c — static shape and dtype inference over the graph IR, with a
 * small int64 evaluator for the shape arithmetic exporters emit
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape).
 */
#include "import/shape_infer.h"
#include "import/op_semantics.h"

#include "import/onnx_import.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values of small integer tensors known at import time; indexed by tensor. */
#define FOLD_MAX_ELEMS 4096

typedef struct {
    int64_t *v;
    int64_t n;
    int known;
} const_ints;

typedef struct {
    fgq_graph *g;
    fgq_error *err;
    const_ints *cv;
    int32_t node;
} infer_ctx;

static const char *dims_str(char *buf, size_t cap, int32_t rank, const int64_t *dims)
{
    size_t at = 0;
    if (rank < 0) {
        snprintf(buf, cap, "[?]");
        return buf;
    }
    at += (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < rank && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
    return buf;
}

static fgq_status node_fail(infer_ctx *c, fgq_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static fgq_status node_fail(infer_ctx *c, fgq_status st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const fgq_ir_node *n = &c->g->nodes[c->node];
    return fgq_fail(c->err, st, "%s: node '%s' (%s): %s", c->g->source_path ? c->g->source_path : "graph",
                    n->name, n->op_type, msg);
}

/* k-th input tensor of the current node, NULL if absent or omitted. */
static fgq_ir_tensor *in_t(infer_ctx *c, int32_t k)
{
    const fgq_ir_node *n = &c->g->nodes[c->node];
    if (k < 0 || k >= n->n_inputs || n->inputs[k] < 0)
        return NULL;
    return &c->g->tensors[n->inputs[k]];
}

/* FGQ_OK when the current node's first n inputs are all given; else a
 * refusal naming the node and the first omitted one (an omitted required
 * input would leave the output without a shape, and the error far from
 * its cause). */
static fgq_status required_inputs(infer_ctx *c, int32_t n)
{
    for (int32_t k = 0; k < n; k++)
        if (in_t(c, k) == NULL)
            return node_fail(c, FGQ_ERR_FORMAT, "input %d is required and was omitted", (int)k);
    return FGQ_OK;
}

static int32_t in_idx(infer_ctx *c, int32_t k)
{
    const fgq_ir_node *n = &c->g->nodes[c->node];
    return k >= 0 && k < n->n_inputs ? n->inputs[k] : -1;
}

static int known(const fgq_ir_tensor *t)
{
    return t != NULL && t->rank >= 0;
}

static void set_out(infer_ctx *c, int32_t k, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    const fgq_ir_node *n = &c->g->nodes[c->node];
    if (k < 0 || k >= n->n_outputs || n->outputs[k] < 0)
        return;
    fgq_ir_tensor *t = &c->g->tensors[n->outputs[k]];
    t->dtype = dt;
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        t->dims[i] = dims[i];
}

static void set_out_like(infer_ctx *c, int32_t k, const fgq_ir_tensor *x)
{
    set_out(c, k, x->dtype, x->rank, x->dims);
}

/* ---- constant int64 values ------------------------------------------------ */

static int get_ints(infer_ctx *c, int32_t ti, const int64_t **v, int64_t *n)
{
    if (ti < 0)
        return 0;
    const_ints *cv = &c->cv[ti];
    if (!cv->known) {
        const fgq_ir_tensor *t = &c->g->tensors[ti];
        int64_t numel = fgq_ir_tensor_numel(t);
        if (t->kind != FGQ_TK_CONST || t->data == NULL || numel < 0 || numel > FOLD_MAX_ELEMS ||
            (t->dtype != FGQ_DT_S64 && t->dtype != FGQ_DT_S32))
            return 0;
        cv->v = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(int64_t));
        if (cv->v == NULL)
            return 0;
        for (int64_t i = 0; i < numel; i++) {
            if (t->dtype == FGQ_DT_S64) {
                memcpy(&cv->v[i], (const char *)t->data + 8 * i, 8);
            } else {
                int32_t x;
                memcpy(&x, (const char *)t->data + 4 * i, 4);
                cv->v[i] = x;
            }
        }
        cv->n = numel;
        cv->known = 1;
    }
    *v = cv->v;
    *n = cv->n;
    return 1;
}

static void set_ints(infer_ctx *c, int32_t k, const int64_t *v, int64_t n)
{
    const fgq_ir_node *nd = &c->g->nodes[c->node];
    if (k >= nd->n_outputs || nd->outputs[k] < 0 || n > FOLD_MAX_ELEMS)
        return;
    const_ints *cv = &c->cv[nd->outputs[k]];
    free(cv->v);
    cv->v = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    cv->known = cv->v != NULL;
    cv->n = n;
    if (cv->v != NULL && n > 0)
        memcpy(cv->v, v, (size_t)n * sizeof(int64_t));
}

/* Input k's ints when it is constant, else 0. */
static int in_ints(infer_ctx *c, int32_t k, const int64_t **v, int64_t *n)
{
    return get_ints(c, in_idx(c, k), v, n);
}

/* ---- attributes ----------------------------------------------------------- */

static const fgq_ir_node *cur(infer_ctx *c)
{
    return &c->g->nodes[c->node];
}

/* INTS attribute of exactly `want` entries (want < 0: any count <= FGQ_MAX_DIMS*2),
 * or `def` filled when absent. Returns the count or -1 after recording an error. */
static int32_t attr_ints(infer_ctx *c, const char *name, int32_t want, int64_t def, int64_t *out)
{
    const fgq_ir_attr *a = fgq_node_attr(cur(c), name);
    if (a == NULL) {
        for (int32_t i = 0; i < want; i++)
            out[i] = def;
        return want < 0 ? 0 : want;
    }
    if (a->type != FGQ_ATTR_INTS || (want >= 0 && a->n != want) || a->n > 2 * FGQ_MAX_DIMS) {
        node_fail(c, FGQ_ERR_SHAPE, "attribute '%s' must be %d ints, got %d", name, want, a->type == FGQ_ATTR_INTS ? a->n : -1);
        return -1;
    }
    for (int32_t i = 0; i < a->n; i++)
        out[i] = a->ints[i];
    return a->n;
}

static int norm_axis(int64_t *axis, int32_t rank)
{
    if (*axis < -(int64_t)rank || *axis >= rank)
        return 0;
    if (*axis < 0)
        *axis += rank;
    return 1;
}

/* ---- broadcasting ---------------------------------------------------------- */

static fgq_status broadcast(infer_ctx *c, const fgq_ir_tensor *a, const fgq_ir_tensor *b, int32_t *rank,
                            int64_t *dims)
{
    int32_t r = a->rank > b->rank ? a->rank : b->rank;
    for (int32_t i = 0; i < r; i++) {
        int32_t ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s1[128], s2[128];
            return node_fail(c, FGQ_ERR_SHAPE, "cannot broadcast %s with %s (axis %d: %lld vs %lld)",
                             dims_str(s1, sizeof s1, a->rank, a->dims), dims_str(s2, sizeof s2, b->rank, b->dims),
                             (int)i, (long long)da, (long long)db);
        }
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return FGQ_OK;
}

/* ---- windows (Conv / pools) ------------------------------------------------ */

/* Output extent of each of nsp spatial axes for kernel k, from the node's
 * strides / dilations / pads / auto_pad. ceil_mode: the last window may hang
 * over the end, but must start inside the input or its leading pad. */
static fgq_status window_out(infer_ctx *c, int32_t nsp, const int64_t *in, const int64_t *k, int ceil_mode,
                             int64_t *out)
{
    int64_t strides[FGQ_MAX_DIMS], dil[FGQ_MAX_DIMS], pads[2 * FGQ_MAX_DIMS];
    if (attr_ints(c, "strides", nsp, 1, strides) < 0 || attr_ints(c, "dilations", nsp, 1, dil) < 0 ||
        attr_ints(c, "pads", 2 * nsp, 0, pads) < 0)
        return c->err->status;
    const fgq_ir_attr *ap = fgq_node_attr(cur(c), "auto_pad");
    const char *auto_pad = (ap != NULL && ap->type == FGQ_ATTR_STRING) ? ap->s : "NOTSET";
    int same = strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0;
    int valid = strcmp(auto_pad, "VALID") == 0;
    if (!same && !valid && strcmp(auto_pad, "NOTSET") != 0 && auto_pad[0] != '\0')
        return node_fail(c, FGQ_ERR_SHAPE, "unknown auto_pad '%s'", auto_pad);
    for (int32_t i = 0; i < nsp; i++) {
        if (strides[i] < 1 || dil[i] < 1 || k[i] < 1 || pads[i] < 0 || pads[i + nsp] < 0 ||
            strides[i] > INT32_MAX || dil[i] > INT32_MAX || k[i] > INT32_MAX || pads[i] > INT32_MAX ||
            pads[i + nsp] > INT32_MAX)
            return node_fail(c, FGQ_ERR_SHAPE, "axis %d: kernel %lld, stride %lld, dilation %lld, pads %lld/%lld out of range",
                             (int)i, (long long)k[i], (long long)strides[i], (long long)dil[i], (long long)pads[i],
                             (long long)pads[i + nsp]);
        int64_t dk = (k[i] - 1) * dil[i] + 1;
        if (same) {
            out[i] = (in[i] + strides[i] - 1) / strides[i];
            continue;
        }
        int64_t pb = valid ? 0 : pads[i], pe = valid ? 0 : pads[i + nsp];
        int64_t eff = in[i] + pb + pe;
        if (eff < dk)
            return node_fail(c, FGQ_ERR_SHAPE, "axis %d: window %lld is larger than the padded input %lld",
                             (int)i, (long long)dk, (long long)eff);
        if (ceil_mode) {
            out[i] = (eff - dk + strides[i] - 1) / strides[i] + 1;
            if ((out[i] - 1) * strides[i] >= in[i] + pb)
                out[i]--;
        } else {
            out[i] = (eff - dk) / strides[i] + 1;
        }
    }
    return FGQ_OK;
}

static fgq_status infer_conv(infer_ctx *c, int32_t xi, int32_t wi, int32_t bi, fgq_dtype out_dt)
{
    fgq_ir_tensor *x = in_t(c, xi), *w = in_t(c, wi), *b = in_t(c, bi);
    if (!known(x) || !known(w))
        return FGQ_OK;
    char s1[128], s2[128];
    if (x->rank < 3 || w->rank != x->rank)
        return node_fail(c, FGQ_ERR_SHAPE, "input %s and weight %s must both be [N,C,spatial...] of the same rank",
                         dims_str(s1, sizeof s1, x->rank, x->dims), dims_str(s2, sizeof s2, w->rank, w->dims));
    int64_t group = fgq_node_attr_int(cur(c), "group", 1);
    int64_t m = w->dims[0];
    if (group < 1 || m % group != 0)
        return node_fail(c, FGQ_ERR_SHAPE, "group %lld must be >= 1 and divide the %lld output channels",
                         (long long)group, (long long)m);
    if (w->dims[1] > INT64_MAX / group || w->dims[1] * group != x->dims[1])
        return node_fail(c, FGQ_ERR_SHAPE, "input has %lld channels but weight %s expects %lld (%lld per group x group %lld)",
                         (long long)x->dims[1], dims_str(s2, sizeof s2, w->rank, w->dims),
                         (long long)(w->dims[1] * group), (long long)w->dims[1], (long long)group);
    if (known(b) && (b->rank != 1 || b->dims[0] != m))
        return node_fail(c, FGQ_ERR_SHAPE, "bias is %s, expected [%lld]", dims_str(s1, sizeof s1, b->rank, b->dims),
                         (long long)m);
    int32_t nsp = x->rank - 2;
    int64_t ks[FGQ_MAX_DIMS];
    const fgq_ir_attr *ka = fgq_node_attr(cur(c), "kernel_shape");
    if (ka != NULL) {
        if (attr_ints(c, "kernel_shape", nsp, 1, ks) < 0)
            return c->err->status;
        for (int32_t i = 0; i < nsp; i++)
            if (ks[i] != w->dims[2 + i])
                return node_fail(c, FGQ_ERR_SHAPE, "kernel_shape[%d] = %lld but the weight is %s", (int)i,
                                 (long long)ks[i], dims_str(s2, sizeof s2, w->rank, w->dims));
    }
    int64_t dims[FGQ_MAX_DIMS];
    dims[0] = x->dims[0];
    dims[1] = m;
    fgq_status st = window_out(c, nsp, x->dims + 2, w->dims + 2, 0, dims + 2);
    if (st != FGQ_OK)
        return st;
    set_out(c, 0, out_dt == FGQ_DT_UNDEF ? x->dtype : out_dt, x->rank, dims);
    return FGQ_OK;
}

static fgq_status infer_pool(infer_ctx *c, int is_max)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    if (x->rank < 3)
        return node_fail(c, FGQ_ERR_SHAPE, "input must be [N,C,spatial...], got rank %d", (int)x->rank);
    int32_t nsp = x->rank - 2;
    int64_t ks[FGQ_MAX_DIMS];
    if (fgq_node_attr(cur(c), "kernel_shape") == NULL)
        return node_fail(c, FGQ_ERR_SHAPE, "attribute 'kernel_shape' is required");
    if (attr_ints(c, "kernel_shape", nsp, 1, ks) < 0)
        return c->err->status;
    int64_t dims[FGQ_MAX_DIMS];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    fgq_status st = window_out(c, nsp, x->dims + 2, ks, (int)fgq_node_attr_int(cur(c), "ceil_mode", 0), dims + 2);
    if (st != FGQ_OK)
        return st;
    set_out(c, 0, x->dtype, x->rank, dims);
    if (is_max)
        set_out(c, 1, FGQ_DT_S64, x->rank, dims);
    return FGQ_OK;
}

/* ---- matrix products ------------------------------------------------------- */

static fgq_status infer_gemm(infer_ctx *c)
{
    fgq_ir_tensor *a = in_t(c, 0), *b = in_t(c, 1), *cc = in_t(c, 2);
    if (!known(a) || !known(b))
        return FGQ_OK;
    char s1[128], s2[128];
    if (a->rank != 2 || b->rank != 2)
        return node_fail(c, FGQ_ERR_SHAPE, "A %s and B %s must be matrices",
                         dims_str(s1, sizeof s1, a->rank, a->dims), dims_str(s2, sizeof s2, b->rank, b->dims));
    int ta = fgq_node_attr_int(cur(c), "transA", 0) != 0, tb = fgq_node_attr_int(cur(c), "transB", 0) != 0;
    int64_t m = a->dims[ta], k = a->dims[!ta], k2 = b->dims[tb], n = b->dims[!tb];
    if (k != k2)
        return node_fail(c, FGQ_ERR_SHAPE, "K mismatch: A %s%s gives K = %lld, B %s%s gives K = %lld",
                         dims_str(s1, sizeof s1, a->rank, a->dims), ta ? " (transA)" : "", (long long)k,
                         dims_str(s2, sizeof s2, b->rank, b->dims), tb ? " (transB)" : "", (long long)k2);
    int64_t dims[2] = {m, n};
    if (known(cc)) {
        /* C broadcasts one way, to [M, N] */
        if (cc->rank > 2)
            return node_fail(c, FGQ_ERR_SHAPE, "C %s does not broadcast to [%lld,%lld]",
                             dims_str(s1, sizeof s1, cc->rank, cc->dims), (long long)m, (long long)n);
        for (int32_t i = 0; i < cc->rank; i++) {
            int64_t d = cc->dims[i], want = dims[2 - cc->rank + i];
            if (d != 1 && d != want)
                return node_fail(c, FGQ_ERR_SHAPE, "C %s does not broadcast to [%lld,%lld]",
                                 dims_str(s1, sizeof s1, cc->rank, cc->dims), (long long)m, (long long)n);
        }
    }
    set_out(c, 0, a->dtype, 2, dims);
    return FGQ_OK;
}

static fgq_status infer_matmul(infer_ctx *c, int32_t ai, int32_t bi, fgq_dtype out_dt)
{
    fgq_ir_tensor *a = in_t(c, ai), *b = in_t(c, bi);
    if (!known(a) || !known(b))
        return FGQ_OK;
    char s1[128], s2[128];
    if (a->rank < 1 || b->rank < 1)
        return node_fail(c, FGQ_ERR_SHAPE, "operands must have rank >= 1, got %s and %s",
                         dims_str(s1, sizeof s1, a->rank, a->dims), dims_str(s2, sizeof s2, b->rank, b->dims));
    /* numpy: a 1-D A is [1,K] and a 1-D B is [K,1], the added axis dropped after */
    fgq_ir_tensor ab = {0}, bb = {0};
    int32_t ra = a->rank == 1 ? 0 : a->rank - 2, rb = b->rank == 1 ? 0 : b->rank - 2;
    int64_t m = a->rank == 1 ? 1 : a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t k2 = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2], n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (k != k2)
        return node_fail(c, FGQ_ERR_SHAPE, "K mismatch: A %s has K = %lld, B %s has K = %lld",
                         dims_str(s1, sizeof s1, a->rank, a->dims), (long long)k,
                         dims_str(s2, sizeof s2, b->rank, b->dims), (long long)k2);
    ab.rank = ra;
    bb.rank = rb;
    memcpy(ab.dims, a->dims, (size_t)ra * sizeof(int64_t));
    memcpy(bb.dims, b->dims, (size_t)rb * sizeof(int64_t));
    int32_t r;
    int64_t dims[FGQ_MAX_DIMS + 2];
    fgq_status st = broadcast(c, &ab, &bb, &r, dims);
    if (st != FGQ_OK)
        return st;
    if (a->rank != 1)
        dims[r++] = m;
    if (b->rank != 1)
        dims[r++] = n;
    set_out(c, 0, out_dt == FGQ_DT_UNDEF ? a->dtype : out_dt, r, dims);
    return FGQ_OK;
}

/* ---- elementwise ----------------------------------------------------------- */

/* Whether the integer values of two operands (na, nb elements) can be combined element by element
 * into an output of dims [r]: each operand has all of the output's elements or is one scalar (an
 * operand broadcast along some axes, [2, 1] against [1, 2], is not element by element). */
static int elementwise_fold(int64_t na, int64_t nb, int32_t r, const int64_t *dims)
{
    int64_t n = 1;
    for (int32_t i = 0; i < r; i++)
        n *= dims[i];
    return n >= 1 && (na == n || na == 1) && (nb == n || nb == 1);
}

static fgq_status infer_binary(infer_ctx *c, char op)
{
    fgq_ir_tensor *a = in_t(c, 0), *b = in_t(c, 1);
    if (!known(a) || !known(b))
        return FGQ_OK;
    int32_t r;
    int64_t dims[FGQ_MAX_DIMS];
    fgq_status st = broadcast(c, a, b, &r, dims);
    if (st != FGQ_OK)
        return st;
    set_out(c, 0, a->dtype, r, dims);
    /* fold integer shape arithmetic: same-length vectors or a scalar operand */
    const int64_t *va, *vb;
    int64_t na, nb;
    if (op != '^' && in_ints(c, 0, &va, &na) && in_ints(c, 1, &vb, &nb) && elementwise_fold(na, nb, r, dims)) {
        int64_t n = na > nb ? na : nb, out[FOLD_MAX_ELEMS];
        for (int64_t i = 0; i < n; i++) {
            int64_t x = va[na == 1 ? 0 : i], y = vb[nb == 1 ? 0 : i];
            if (op == '/' && (y == 0 || (x == INT64_MIN && y == -1)))
                return FGQ_OK;
            if ((op == '*' && x != 0 && (y > INT32_MAX || y < -INT32_MAX || x > INT32_MAX || x < -INT32_MAX)) ||
                ((op == '+' || op == '-') && (x > INT32_MAX || x < -INT32_MAX || y > INT32_MAX || y < -INT32_MAX)))
                return FGQ_OK; /* not shape arithmetic; avoid overflow */
            out[i] = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
        }
        set_ints(c, 0, out, n);
    }
    return FGQ_OK;
}

/* Equal, Less, Greater: A and B broadcast; bool out. */
static fgq_status infer_compare(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 2);
    if (rq != FGQ_OK)
        return rq;
    fgq_ir_tensor *a = in_t(c, 0), *b = in_t(c, 1);
    if (!known(a) || !known(b))
        return FGQ_OK;
    int32_t r;
    int64_t dims[FGQ_MAX_DIMS];
    fgq_status st = broadcast(c, a, b, &r, dims);
    if (st == FGQ_OK)
        set_out(c, 0, FGQ_DT_BOOL, r, dims);
    return st;
}

/* Where: COND, X and Y broadcast; X's dtype. */
static fgq_status infer_where(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 3);
    if (rq != FGQ_OK)
        return rq;
    fgq_ir_tensor *cd = in_t(c, 0), *x = in_t(c, 1), *y = in_t(c, 2);
    if (!known(cd) || !known(x) || !known(y))
        return FGQ_OK;
    fgq_ir_tensor xy = *x;
    int32_t r;
    fgq_status st = broadcast(c, x, y, &xy.rank, xy.dims);
    if (st != FGQ_OK)
        return st;
    int64_t dims[FGQ_MAX_DIMS];
    if ((st = broadcast(c, cd, &xy, &r, dims)) == FGQ_OK)
        set_out(c, 0, x->dtype, r, dims);
    return st;
}

/* Expand: X broadcast with the constant shape input (NumPy rules both ways: a 1 in the shape keeps
 * X's dim); unknown while the shape is computed at run time. */
static fgq_status infer_expand(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 2);
    if (rq != FGQ_OK)
        return rq;
    fgq_ir_tensor *x = in_t(c, 0);
    const int64_t *v;
    int64_t n;
    if (!known(x) || !in_ints(c, 1, &v, &n))
        return FGQ_OK;
    if (n > FGQ_MAX_DIMS)
        return node_fail(c, FGQ_ERR_SHAPE, "shape has %lld entries, at most %d", (long long)n, FGQ_MAX_DIMS);
    fgq_ir_tensor sh = *x;
    sh.rank = (int32_t)n;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0)
            return node_fail(c, FGQ_ERR_SHAPE, "negative dim %lld in the shape", (long long)v[i]);
        sh.dims[i] = v[i];
    }
    int32_t r;
    int64_t dims[FGQ_MAX_DIMS];
    fgq_status st = broadcast(c, x, &sh, &r, dims);
    if (st == FGQ_OK)
        set_out(c, 0, x->dtype, r, dims);
    return st;
}

/* Mod: A and B of one dtype broadcast, A's dtype out; fmod 0 or 1, and 1 for float (ONNX). Integer
 * shape arithmetic (Swin's W % window) is evaluated as the runtime op would. */
static fgq_status infer_mod(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 2);
    if (rq != FGQ_OK)
        return rq;
    const int64_t fmod_ = fgq_node_attr_int(cur(c), "fmod", 0);
    if (fmod_ != 0 && fmod_ != 1)
        return node_fail(c, FGQ_ERR_FORMAT, "attribute fmod = %lld (0 or 1)", (long long)fmod_);
    fgq_ir_tensor *a = in_t(c, 0), *b = in_t(c, 1);
    if (!known(a) || !known(b))
        return FGQ_OK;
    if (a->dtype != b->dtype)
        return node_fail(c, FGQ_ERR_FORMAT, "A is %s and B is %s (one dtype)", fgq_dtype_name(a->dtype),
                         fgq_dtype_name(b->dtype));
    if (a->dtype == FGQ_DT_F32 && fmod_ == 0)
        return node_fail(c, FGQ_ERR_FORMAT, "float inputs need fmod = 1 (ONNX Mod: fmod 0 is for integers)");
    if (a->dtype == FGQ_DT_BOOL)
        return node_fail(c, FGQ_ERR_FORMAT, "bool inputs (Mod takes numbers)");
    int32_t r;
    int64_t dims[FGQ_MAX_DIMS];
    fgq_status st = broadcast(c, a, b, &r, dims);
    if (st != FGQ_OK)
        return st;
    set_out(c, 0, a->dtype, r, dims);
    const int64_t *va, *vb;
    int64_t na, nb;
    if (in_ints(c, 0, &va, &na) && in_ints(c, 1, &vb, &nb) && elementwise_fold(na, nb, r, dims)) {
        int64_t n = na > nb ? na : nb, out[FOLD_MAX_ELEMS];
        for (int64_t i = 0; i < n; i++)
            out[i] = fgq_onnx_mod_int(va[na == 1 ? 0 : i], vb[nb == 1 ? 0 : i], (int)fmod_);
        set_ints(c, 0, out, n);
    }
    return FGQ_OK;
}

/* Not: bool in, bool out. */
static fgq_status infer_not(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 1);
    if (rq != FGQ_OK)
        return rq;
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    if (x->dtype != FGQ_DT_BOOL)
        return node_fail(c, FGQ_ERR_FORMAT, "input is %s (Not takes bool)", fgq_dtype_name(x->dtype));
    set_out_like(c, 0, x);
    return FGQ_OK;
}

/* ScatterND: DATA's shape and dtype; INDICES int64 of rank >= 1 whose last dim k is in 1..rank(DATA);
 * UPDATES of DATA's dtype and dims INDICES[:-1] + DATA[k:]; reduction one fgq runs. */
static fgq_status infer_scatter_nd(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 3);
    if (rq != FGQ_OK)
        return rq;
    int32_t red;
    char why[160];
    if (fgq_onnx_scatter_reduction(cur(c), &red, why, sizeof why) != 0)
        return node_fail(c, FGQ_ERR_UNSUPPORTED, "%s", why);
    fgq_ir_tensor *d = in_t(c, 0), *ix = in_t(c, 1), *u = in_t(c, 2);
    if (known(ix) && ix->dtype != FGQ_DT_S64)
        return node_fail(c, FGQ_ERR_FORMAT, "indices are %s (ScatterND takes int64)", fgq_dtype_name(ix->dtype));
    if (known(d) && known(u) && d->dtype != u->dtype)
        return node_fail(c, FGQ_ERR_FORMAT, "data is %s and updates are %s (one dtype)", fgq_dtype_name(d->dtype),
                         fgq_dtype_name(u->dtype));
    if (!known(d) || !known(ix))
        return FGQ_OK;
    const int64_t k = ix->rank >= 1 ? ix->dims[ix->rank - 1] : 0;
    if (d->rank < 1 || ix->rank < 1 || k < 1 || k > d->rank)
        return node_fail(c, FGQ_ERR_SHAPE,
                         "indices of rank %d with last dim %lld for data of rank %d (rank >= 1, "
                         "last dim in 1..rank of data)",
                         (int)ix->rank, (long long)k, (int)d->rank);
    if (known(u)) {
        int64_t want[FGQ_MAX_DIMS];
        int32_t r = 0;
        for (int32_t i = 0; i < ix->rank - 1; i++)
            want[r++] = ix->dims[i];
        for (int32_t i = (int32_t)k; i < d->rank && r < FGQ_MAX_DIMS; i++)
            want[r++] = d->dims[i];
        int ok = u->rank == r && ix->rank - 1 + (d->rank - k) <= FGQ_MAX_DIMS;
        for (int32_t i = 0; i < r && ok; i++)
            ok = u->dims[i] == want[i];
        if (!ok) {
            char got[160], exp[160];
            return node_fail(c, FGQ_ERR_SHAPE,
                             "updates have dims %s, expected %s (indices' dims but the last, then "
                             "data's from dim %lld)",
                             dims_str(got, sizeof got, u->rank, u->dims), dims_str(exp, sizeof exp, r, want),
                             (long long)k);
        }
    }
    set_out_like(c, 0, d);
    return FGQ_OK;
}

/* Range: scalars start, limit, delta of one dtype (float, int32, int64); a 1-D output whose length
 * depends on their values, so it is known (and Range supported) only where they are constants. */
static fgq_status infer_range(infer_ctx *c)
{
    fgq_status rq = required_inputs(c, 3);
    if (rq != FGQ_OK)
        return rq;
    fgq_ir_tensor *t[3] = {in_t(c, 0), in_t(c, 1), in_t(c, 2)};
    static const char *const role[3] = {"start", "limit", "delta"};
    for (int32_t k = 0; k < 3; k++) {
        if (!known(t[k]))
            return FGQ_OK;
        if (fgq_ir_tensor_numel(t[k]) != 1 || t[k]->rank > 1)
            return node_fail(c, FGQ_ERR_SHAPE, "%s has %lld elements (a scalar)", role[k],
                             (long long)fgq_ir_tensor_numel(t[k]));
        if (t[k]->dtype != t[0]->dtype)
            return node_fail(c, FGQ_ERR_FORMAT, "%s is %s and start is %s (one dtype)", role[k],
                             fgq_dtype_name(t[k]->dtype), fgq_dtype_name(t[0]->dtype));
    }
    const fgq_dtype dt = t[0]->dtype;
    if (dt != FGQ_DT_F32 && dt != FGQ_DT_S32 && dt != FGQ_DT_S64)
        return node_fail(c, FGQ_ERR_UNSUPPORTED, "inputs of dtype %s (float, int32, int64)", fgq_dtype_name(dt));
    int64_t n = -1;
    char why[160];
    const int64_t *v[3];
    int64_t nv;
    if (in_ints(c, 0, &v[0], &nv) && in_ints(c, 1, &v[1], &nv) && in_ints(c, 2, &v[2], &nv)) {
        if (fgq_onnx_range_count_int(v[0][0], v[1][0], v[2][0], &n, why, sizeof why) != 0)
            return node_fail(c, FGQ_ERR_VALUE, "%s", why);
        set_out(c, 0, dt, 1, &n);
        if (n <= FOLD_MAX_ELEMS) {
            int64_t out[FOLD_MAX_ELEMS];
            for (int64_t i = 0; i < n; i++)
                out[i] = (int64_t)((uint64_t)v[0][0] + (uint64_t)i * (uint64_t)v[2][0]); /* within [start, limit) */
            set_ints(c, 0, out, n);
        }
    } else if (dt == FGQ_DT_F32 && t[0]->kind == FGQ_TK_CONST && t[1]->kind == FGQ_TK_CONST &&
               t[2]->kind == FGQ_TK_CONST && t[0]->data != NULL && t[1]->data != NULL && t[2]->data != NULL) {
        float f[3];
        for (int32_t k = 0; k < 3; k++)
            memcpy(&f[k], t[k]->data, sizeof f[k]);
        if (fgq_onnx_range_count_f32(f[0], f[1], f[2], &n, why, sizeof why) != 0)
            return node_fail(c, FGQ_ERR_VALUE, "%s", why);
        set_out(c, 0, dt, 1, &n);
    }
    return FGQ_OK;
}

static fgq_status infer_same(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (known(x))
        set_out_like(c, 0, x);
    return FGQ_OK;
}

static fgq_status infer_softmax(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    int64_t axis = fgq_node_attr_int(cur(c), "axis", c->g->opset >= 13 ? -1 : 1);
    if (!norm_axis(&axis, x->rank > 0 ? x->rank : 1))
        return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis, (int)x->rank);
    set_out_like(c, 0, x);
    return FGQ_OK;
}

static fgq_status infer_batchnorm(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    if (x->rank < 2)
        return node_fail(c, FGQ_ERR_SHAPE, "input must be [N,C,...], got rank %d", (int)x->rank);
    int64_t ch = x->dims[1];
    static const char *names[] = {"scale", "B", "mean", "var"};
    for (int32_t k = 1; k <= 4; k++) {
        fgq_ir_tensor *p = in_t(c, k);
        if (known(p) && (p->rank != 1 || p->dims[0] != ch)) {
            char s1[128];
            return node_fail(c, FGQ_ERR_SHAPE, "%s is %s, expected [%lld] (the input's channels)", names[k - 1],
                             dims_str(s1, sizeof s1, p->rank, p->dims), (long long)ch);
        }
    }
    set_out_like(c, 0, x);
    for (int32_t k = 1; k < cur(c)->n_outputs; k++)
        set_out(c, k, FGQ_DT_F32, 1, &ch);
    return FGQ_OK;
}

/* ---- layout ops ------------------------------------------------------------ */

static fgq_status infer_flatten(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    int64_t axis = fgq_node_attr_int(cur(c), "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis > x->rank)
        return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d",
                         (long long)fgq_node_attr_int(cur(c), "axis", 1), (int)x->rank);
    int64_t dims[2] = {1, 1};
    for (int32_t i = 0; i < x->rank; i++)
        dims[i >= axis] *= x->dims[i];
    set_out(c, 0, x->dtype, 2, dims);
    return FGQ_OK;
}

static fgq_status infer_reshape(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    const int64_t *shape;
    int64_t n;
    int64_t attr_shape[2 * FGQ_MAX_DIMS];
    if (c->g->opset < 5 && fgq_node_attr(cur(c), "shape") != NULL) {
        int32_t got = attr_ints(c, "shape", -1, 0, attr_shape);
        if (got < 0)
            return c->err->status;
        shape = attr_shape;
        n = got;
    } else if (!in_ints(c, 1, &shape, &n)) {
        return FGQ_OK; /* shape computed at run time: unknown */
    }
    if (!known(x))
        return FGQ_OK;
    if (n > FGQ_MAX_DIMS)
        return node_fail(c, FGQ_ERR_UNSUPPORTED, "target rank %lld is above the maximum of %d", (long long)n, FGQ_MAX_DIMS);
    int allowzero = fgq_node_attr_int(cur(c), "allowzero", 0) != 0;
    int64_t dims[FGQ_MAX_DIMS], known_prod = 1, in_numel = fgq_ir_tensor_numel(x);
    int32_t infer_at = -1;
    char s1[128], s2[128];
    for (int32_t i = 0; i < (int32_t)n; i++) {
        int64_t s = shape[i];
        if (s == 0 && !allowzero) {
            if (i >= x->rank)
                return node_fail(c, FGQ_ERR_SHAPE, "shape[%d] = 0 copies a dim the input %s does not have", (int)i,
                                 dims_str(s1, sizeof s1, x->rank, x->dims));
            s = x->dims[i];
        } else if (s == -1) {
            if (infer_at >= 0)
                return node_fail(c, FGQ_ERR_SHAPE, "shape has more than one -1");
            infer_at = i;
            dims[i] = 1;
            continue;
        } else if (s < 0) {
            return node_fail(c, FGQ_ERR_SHAPE, "shape[%d] = %lld is negative", (int)i, (long long)s);
        }
        dims[i] = s;
        if (s != 0 && known_prod > INT64_MAX / s)
            return node_fail(c, FGQ_ERR_SHAPE, "target shape overflows");
        known_prod *= s;
    }
    if (infer_at >= 0) {
        if (known_prod == 0 || in_numel % known_prod != 0)
            return node_fail(c, FGQ_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s",
                             dims_str(s1, sizeof s1, x->rank, x->dims), (long long)in_numel,
                             dims_str(s2, sizeof s2, (int32_t)n, shape));
        dims[infer_at] = in_numel / known_prod;
    } else if (known_prod != in_numel) {
        return node_fail(c, FGQ_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                         dims_str(s1, sizeof s1, x->rank, x->dims), (long long)in_numel,
                         dims_str(s2, sizeof s2, (int32_t)n, dims), (long long)known_prod);
    }
    set_out(c, 0, x->dtype, (int32_t)n, dims);
    const int64_t *v;
    int64_t nv;
    if (in_ints(c, 0, &v, &nv))
        set_ints(c, 0, v, nv);
    return FGQ_OK;
}

static fgq_status infer_transpose(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    int64_t perm[FGQ_MAX_DIMS];
    if (fgq_node_attr(cur(c), "perm") != NULL) {
        if (attr_ints(c, "perm", x->rank, 0, perm) < 0)
            return c->err->status;
    } else {
        for (int32_t i = 0; i < x->rank; i++)
            perm[i] = x->rank - 1 - i;
    }
    uint32_t seen = 0;
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < x->rank; i++) {
        if (perm[i] < 0 || perm[i] >= x->rank || (seen & (1u << perm[i])))
            return node_fail(c, FGQ_ERR_SHAPE, "perm is not a permutation of 0..%d", (int)x->rank - 1);
        seen |= 1u << perm[i];
        dims[i] = x->dims[perm[i]];
    }
    set_out(c, 0, x->dtype, x->rank, dims);
    return FGQ_OK;
}

/* Axes from the attribute, or (as_input) from constant input 1 (Squeeze /
 * Unsqueeze from opset 13, Reduce* per fgq_onnx_reduce_axes_are_input).
 * Returns count, -1 if unknown (run-time input), -2 on error. */
static int32_t get_axes(infer_ctx *c, int as_input, int64_t *axes)
{
    if (!as_input) {
        int32_t got = attr_ints(c, "axes", -1, 0, axes);
        return got < 0 ? -2 : got;
    }
    if (in_idx(c, 1) < 0)
        return 0;
    const int64_t *v;
    int64_t n;
    if (!in_ints(c, 1, &v, &n))
        return -1;
    if (n > 2 * FGQ_MAX_DIMS) {
        node_fail(c, FGQ_ERR_SHAPE, "%lld axes is too many", (long long)n);
        return -2;
    }
    memcpy(axes, v, (size_t)n * sizeof(int64_t));
    return (int32_t)n;
}

static fgq_status infer_squeeze(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    int64_t axes[2 * FGQ_MAX_DIMS];
    int32_t na = get_axes(c, c->g->opset >= 13 && fgq_node_attr(cur(c), "axes") == NULL, axes);
    if (na == -2)
        return c->err->status;
    if (!known(x) || na < 0)
        return FGQ_OK;
    uint32_t drop = 0;
    char s1[128];
    for (int32_t i = 0; i < na; i++) {
        int64_t a = axes[i];
        if (!norm_axis(&a, x->rank))
            return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axes[i], (int)x->rank);
        if (x->dims[a] != 1)
            return node_fail(c, FGQ_ERR_SHAPE, "cannot squeeze axis %lld of %s: its size is %lld, not 1",
                             (long long)a, dims_str(s1, sizeof s1, x->rank, x->dims), (long long)x->dims[a]);
        drop |= 1u << a;
    }
    if (na == 0)
        for (int32_t i = 0; i < x->rank; i++)
            if (x->dims[i] == 1)
                drop |= 1u << i;
    int64_t dims[FGQ_MAX_DIMS];
    int32_t r = 0;
    for (int32_t i = 0; i < x->rank; i++)
        if (!(drop & (1u << i)))
            dims[r++] = x->dims[i];
    set_out(c, 0, x->dtype, r, dims);
    const int64_t *v;
    int64_t nv;
    if (in_ints(c, 0, &v, &nv))
        set_ints(c, 0, v, nv);
    return FGQ_OK;
}

static fgq_status infer_unsqueeze(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    int64_t axes[2 * FGQ_MAX_DIMS];
    int32_t na = get_axes(c, c->g->opset >= 13 && fgq_node_attr(cur(c), "axes") == NULL, axes);
    if (na == -2)
        return c->err->status;
    if (!known(x) || na < 0)
        return FGQ_OK;
    int32_t r = x->rank + na;
    if (r > FGQ_MAX_DIMS)
        return node_fail(c, FGQ_ERR_UNSUPPORTED, "output rank %d is above the maximum of %d", (int)r, FGQ_MAX_DIMS);
    uint32_t add = 0;
    for (int32_t i = 0; i < na; i++) {
        int64_t a = axes[i];
        if (!norm_axis(&a, r) || (add & (1u << a)))
            return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range or repeated for output rank %d",
                             (long long)axes[i], (int)r);
        add |= 1u << a;
    }
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0, j = 0; i < r; i++)
        dims[i] = (add & (1u << i)) ? 1 : x->dims[j++];
    set_out(c, 0, x->dtype, r, dims);
    const int64_t *v;
    int64_t nv;
    if (in_ints(c, 0, &v, &nv))
        set_ints(c, 0, v, nv);
    return FGQ_OK;
}

static fgq_status infer_concat(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    fgq_ir_tensor *first = NULL;
    for (int32_t k = 0; k < n->n_inputs; k++) {
        fgq_ir_tensor *t = in_t(c, k);
        if (t == NULL)
            continue;
        if (!known(t))
            return FGQ_OK;
        if (first == NULL)
            first = t;
    }
    if (first == NULL)
        return node_fail(c, FGQ_ERR_SHAPE, "no inputs");
    if (fgq_node_attr(n, "axis") == NULL)
        return node_fail(c, FGQ_ERR_SHAPE, "attribute 'axis' is required");
    int64_t axis = fgq_node_attr_int(n, "axis", 0);
    if (!norm_axis(&axis, first->rank))
        return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d",
                         (long long)fgq_node_attr_int(n, "axis", 0), (int)first->rank);
    int64_t dims[FGQ_MAX_DIMS];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    int64_t vals[FOLD_MAX_ELEMS];
    int64_t nvals = 0;
    int fold = first->rank == 1;
    char s1[128], s2[128];
    for (int32_t k = 0; k < n->n_inputs; k++) {
        fgq_ir_tensor *t = in_t(c, k);
        if (t == NULL)
            continue;
        if (t->rank != first->rank)
            return node_fail(c, FGQ_ERR_SHAPE, "input %d is %s, input 0 is %s: ranks differ", (int)k,
                             dims_str(s1, sizeof s1, t->rank, t->dims), dims_str(s2, sizeof s2, first->rank, first->dims));
        for (int32_t i = 0; i < t->rank; i++)
            if (i != axis && t->dims[i] != first->dims[i])
                return node_fail(c, FGQ_ERR_SHAPE, "input %d is %s, input 0 is %s: they differ off axis %lld", (int)k,
                                 dims_str(s1, sizeof s1, t->rank, t->dims),
                                 dims_str(s2, sizeof s2, first->rank, first->dims), (long long)axis);
        if (dims[axis] > INT64_MAX - t->dims[axis])
            return node_fail(c, FGQ_ERR_SHAPE, "concatenated size overflows");
        dims[axis] += t->dims[axis];
        const int64_t *v;
        int64_t nv;
        if (fold && in_ints(c, k, &v, &nv) && nvals + nv <= FOLD_MAX_ELEMS) {
            memcpy(vals + nvals, v, (size_t)nv * sizeof(int64_t));
            nvals += nv;
        } else {
            fold = 0;
        }
    }
    set_out(c, 0, first->dtype, first->rank, dims);
    if (fold)
        set_ints(c, 0, vals, nvals);
    return FGQ_OK;
}

/* ---- constants and shape arithmetic --------------------------------------- */

static fgq_status infer_constant(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    const fgq_ir_attr *a;
    if ((a = fgq_node_attr(n, "value")) != NULL && a->type == FGQ_ATTR_TENSOR && a->tensor >= 0) {
        const fgq_ir_tensor *t = &c->g->tensors[a->tensor];
        set_out(c, 0, t->dtype, t->rank, t->dims);
        const int64_t *v;
        int64_t nv;
        if (get_ints(c, a->tensor, &v, &nv))
            set_ints(c, 0, v, nv);
    } else if ((a = fgq_node_attr(n, "value_float")) != NULL) {
        set_out(c, 0, FGQ_DT_F32, 0, NULL);
    } else if ((a = fgq_node_attr(n, "value_floats")) != NULL && a->type == FGQ_ATTR_FLOATS) {
        int64_t d = a->n;
        set_out(c, 0, FGQ_DT_F32, 1, &d);
    } else if ((a = fgq_node_attr(n, "value_int")) != NULL && a->type == FGQ_ATTR_INT) {
        set_out(c, 0, FGQ_DT_S64, 0, NULL);
        set_ints(c, 0, &a->i, 1);
    } else if ((a = fgq_node_attr(n, "value_ints")) != NULL && a->type == FGQ_ATTR_INTS) {
        int64_t d = a->n;
        set_out(c, 0, FGQ_DT_S64, 1, &d);
        set_ints(c, 0, a->ints, a->n);
    }
    /* value_string(s) / sparse_value: no fgq dtype, left unknown */
    return FGQ_OK;
}

static fgq_status infer_shape_op(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    int64_t start = fgq_node_attr_int(cur(c), "start", 0), end = fgq_node_attr_int(cur(c), "end", x->rank);
    if (start < 0)
        start += x->rank;
    if (end < 0)
        end += x->rank;
    start = start < 0 ? 0 : start > x->rank ? x->rank : start;
    end = end < 0 ? 0 : end > x->rank ? x->rank : end;
    int64_t n = end > start ? end - start : 0;
    set_out(c, 0, FGQ_DT_S64, 1, &n);
    set_ints(c, 0, x->dims + start, n);
    return FGQ_OK;
}

static fgq_status infer_gather(infer_ctx *c)
{
    fgq_ir_tensor *d = in_t(c, 0), *ix = in_t(c, 1);
    if (!known(d) || !known(ix))
        return FGQ_OK;
    int64_t axis = fgq_node_attr_int(cur(c), "axis", 0);
    if (d->rank < 1 || !norm_axis(&axis, d->rank))
        return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d",
                         (long long)fgq_node_attr_int(cur(c), "axis", 0), (int)d->rank);
    int32_t r = d->rank - 1 + ix->rank;
    if (r > FGQ_MAX_DIMS)
        return node_fail(c, FGQ_ERR_UNSUPPORTED, "output rank %d is above the maximum of %d", (int)r, FGQ_MAX_DIMS);
    int64_t dims[FGQ_MAX_DIMS];
    int32_t j = 0;
    for (int32_t i = 0; i < axis; i++)
        dims[j++] = d->dims[i];
    for (int32_t i = 0; i < ix->rank; i++)
        dims[j++] = ix->dims[i];
    for (int32_t i = (int32_t)axis + 1; i < d->rank; i++)
        dims[j++] = d->dims[i];
    set_out(c, 0, d->dtype, r, dims);
    const int64_t *dv, *iv;
    int64_t dn, in;
    if (d->rank == 1 && in_ints(c, 0, &dv, &dn) && in_ints(c, 1, &iv, &in) && dn == d->dims[0]) {
        int64_t out[FOLD_MAX_ELEMS];
        for (int64_t i = 0; i < in; i++) {
            int64_t k = iv[i] < 0 ? iv[i] + dn : iv[i];
            if (k < 0 || k >= dn)
                return node_fail(c, FGQ_ERR_SHAPE, "index %lld is out of range for %lld elements", (long long)iv[i],
                                 (long long)dn);
            out[i] = dv[k];
        }
        set_ints(c, 0, out, in);
    }
    return FGQ_OK;
}

static fgq_status infer_cast(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    int64_t to = fgq_node_attr_int(cur(c), "to", 0);
    fgq_dtype dt = fgq_onnx_dtype((int32_t)to);
    set_out(c, 0, dt, x->rank, x->dims);
    const int64_t *v;
    int64_t n;
    if ((dt == FGQ_DT_S64 || dt == FGQ_DT_S32) && in_ints(c, 0, &v, &n)) {
        if (dt == FGQ_DT_S32)
            for (int64_t i = 0; i < n; i++)
                if (v[i] < INT32_MIN || v[i] > INT32_MAX)
                    return FGQ_OK;
        set_ints(c, 0, v, n);
    }
    return FGQ_OK;
}

/* ---- quantization ops ------------------------------------------------------ */

static fgq_status infer_quantize(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0), *zp = in_t(c, 2);
    if (!known(x))
        return FGQ_OK;
    int64_t odt = fgq_node_attr_int(cur(c), "output_dtype", 0);
    fgq_dtype dt = odt != 0 ? fgq_onnx_dtype((int32_t)odt) : zp != NULL ? zp->dtype : FGQ_DT_U8;
    set_out(c, 0, dt, x->rank, x->dims);
    return FGQ_OK;
}

static fgq_status infer_dequantize(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (known(x))
        set_out(c, 0, FGQ_DT_F32, x->rank, x->dims);
    return FGQ_OK;
}

static fgq_status infer_dynamic_quantize(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    set_out(c, 0, FGQ_DT_U8, x->rank, x->dims);
    set_out(c, 1, FGQ_DT_F32, 0, NULL);
    set_out(c, 2, FGQ_DT_U8, 0, NULL);
    return FGQ_OK;
}

static fgq_dtype zp_dtype(infer_ctx *c, int32_t k, fgq_dtype def)
{
    fgq_ir_tensor *t = in_t(c, k);
    return t != NULL && t->dtype != FGQ_DT_UNDEF ? t->dtype : def;
}

/* ---- zoo ops: reductions, LayerNormalization, Slice, Pad, Split -------------- */

static fgq_status infer_reduce(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    int64_t axes[2 * FGQ_MAX_DIMS];
    const int32_t na = get_axes(c, fgq_onnx_reduce_axes_are_input(cur(c)->op_type, c->g->opset), axes);
    if (na == -2)
        return c->err->status;
    if (!known(x) || na < 0)
        return FGQ_OK;
    uint32_t mask;
    char why[160];
    if (fgq_onnx_reduce_mask(x->rank, axes, na, fgq_node_attr_int(cur(c), "noop_with_empty_axes", 0) != 0, &mask,
                             why, sizeof why) != 0)
        return node_fail(c, FGQ_ERR_SHAPE, "%s", why);
    const int keep = fgq_node_attr_int(cur(c), "keepdims", 1) != 0;
    int64_t dims[FGQ_MAX_DIMS];
    int32_t r = 0;
    for (int32_t i = 0; i < x->rank; i++)
        if (!((mask >> i) & 1u))
            dims[r++] = x->dims[i];
        else if (keep)
            dims[r++] = 1;
    set_out(c, 0, x->dtype, r, dims);
    return FGQ_OK;
}

static fgq_status infer_layernorm(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    int64_t axis = fgq_node_attr_int(cur(c), "axis", -1);
    if (x->rank < 1 || !norm_axis(&axis, x->rank))
        return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d",
                         (long long)fgq_node_attr_int(cur(c), "axis", -1), (int)x->rank);
    set_out_like(c, 0, x);
    int64_t dims[FGQ_MAX_DIMS]; /* Mean, InvStdDev: X's dims, 1 from axis on */
    for (int32_t i = 0; i < x->rank; i++)
        dims[i] = i < axis ? x->dims[i] : 1;
    set_out(c, 1, x->dtype, x->rank, dims);
    set_out(c, 2, x->dtype, x->rank, dims);
    return FGQ_OK;
}

/* Input k's ints (constant or folded) as a copy of at most cap values: count,
 * -1 when absent, -2 when computed at run time or too long. */
static int32_t in_ints_copy(infer_ctx *c, int32_t k, int64_t *out, int32_t cap)
{
    if (in_idx(c, k) < 0)
        return -1;
    const int64_t *v;
    int64_t nv;
    if (!in_ints(c, k, &v, &nv) || nv > cap)
        return -2;
    memcpy(out, v, (size_t)nv * sizeof(int64_t));
    return (int32_t)nv;
}

static fgq_status infer_slice(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    /* attr_ints takes up to 2·FGQ_MAX_DIMS values; more than FGQ_MAX_DIMS is refused below */
    int64_t st_[2 * FGQ_MAX_DIMS], en[2 * FGQ_MAX_DIMS], ax[2 * FGQ_MAX_DIMS], sp[FGQ_MAX_DIMS];
    int32_t ns, ne, na, nsp = -1;
    if (c->g->opset < 10) {
        ns = attr_ints(c, "starts", -1, 0, st_);
        ne = attr_ints(c, "ends", -1, 0, en);
        na = fgq_node_attr(cur(c), "axes") != NULL ? attr_ints(c, "axes", -1, 0, ax) : -1;
        if (ns < 0 || ne < 0 || (na < 0 && fgq_node_attr(cur(c), "axes") != NULL))
            return c->err->status != FGQ_OK ? c->err->status : node_fail(c, FGQ_ERR_SHAPE, "bad starts/ends");
        if (ns > FGQ_MAX_DIMS || ne > FGQ_MAX_DIMS || na > FGQ_MAX_DIMS)
            return node_fail(c, FGQ_ERR_SHAPE, "more than %d starts / ends / axes", FGQ_MAX_DIMS);
    } else {
        ns = in_ints_copy(c, 1, st_, FGQ_MAX_DIMS);
        ne = in_ints_copy(c, 2, en, FGQ_MAX_DIMS);
        na = in_ints_copy(c, 3, ax, FGQ_MAX_DIMS);
        nsp = in_ints_copy(c, 4, sp, FGQ_MAX_DIMS);
        if (ns < 0 || ne < 0 || na == -2 || nsp == -2)
            return FGQ_OK; /* computed at run time: unknown */
    }
    if (!known(x))
        return FGQ_OK;
    if (ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return node_fail(c, FGQ_ERR_SHAPE, "starts, ends, axes and steps differ in length (%d, %d, %d, %d)", (int)ns,
                         (int)ne, (int)na, (int)nsp);
    int64_t first[FGQ_MAX_DIMS], step[FGQ_MAX_DIMS], count[FGQ_MAX_DIMS];
    char why[160];
    if (fgq_onnx_slice_resolve(x->rank, x->dims, ns, st_, en, na >= 0 ? ax : NULL, nsp >= 0 ? sp : NULL, first, step,
                               count, why, sizeof why) != 0)
        return node_fail(c, FGQ_ERR_SHAPE, "%s", why);
    set_out(c, 0, x->dtype, x->rank, count);
    const int64_t *v;
    int64_t nv;
    if (x->rank == 1 && in_ints(c, 0, &v, &nv) && nv == x->dims[0]) { /* shape arithmetic: fold */
        int64_t outv[FOLD_MAX_ELEMS];
        for (int64_t i = 0; i < count[0] && i < FOLD_MAX_ELEMS; i++)
            outv[i] = v[first[0] + i * step[0]];
        if (count[0] <= FOLD_MAX_ELEMS)
            set_ints(c, 0, outv, count[0]);
    }
    return FGQ_OK;
}

static fgq_status infer_pad(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    int64_t pads[2 * FGQ_MAX_DIMS];
    int32_t np;
    if (c->g->opset < 11) {
        np = attr_ints(c, "pads", -1, 0, pads);
        if (np < 0)
            return c->err->status;
    } else {
        np = in_ints_copy(c, 1, pads, 2 * FGQ_MAX_DIMS);
        if (np < 0)
            return FGQ_OK;
        if (in_idx(c, 3) >= 0)
            return FGQ_OK; /* axes (opset 18): not inferred, lowering refuses it */
    }
    if (!known(x))
        return FGQ_OK;
    if (np != 2 * x->rank)
        return node_fail(c, FGQ_ERR_SHAPE, "%d pads for rank %d (expected %d)", (int)np, (int)x->rank,
                         2 * (int)x->rank);
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < 2 * x->rank; i++)
        if (pads[i] < -FGQ_IR_MAX_ELEMS || pads[i] > FGQ_IR_MAX_ELEMS)
            return node_fail(c, FGQ_ERR_SHAPE, "pad %lld is beyond fgq's limit of 2^40 elements", (long long)pads[i]);
    for (int32_t i = 0; i < x->rank; i++) {
        dims[i] = x->dims[i] + pads[i] + pads[x->rank + i];
        if (dims[i] < 0)
            return node_fail(c, FGQ_ERR_SHAPE, "dim %d of size %lld padded by %lld / %lld is negative", (int)i,
                             (long long)x->dims[i], (long long)pads[i], (long long)pads[x->rank + i]);
    }
    set_out(c, 0, x->dtype, x->rank, dims);
    return FGQ_OK;
}

static fgq_status infer_split(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    fgq_ir_tensor *x = in_t(c, 0);
    int64_t split[64];
    int32_t ns = -1;
    if (c->g->opset < 13) {
        if (fgq_node_attr(n, "split") != NULL && (ns = attr_ints(c, "split", -1, 0, split)) < 0)
            return c->err->status;
    } else {
        ns = in_ints_copy(c, 1, split, 64);
        if (ns == -2)
            return FGQ_OK;
    }
    if (!known(x))
        return FGQ_OK;
    int64_t axis = fgq_node_attr_int(n, "axis", 0);
    if (x->rank < 1 || !norm_axis(&axis, x->rank))
        return node_fail(c, FGQ_ERR_SHAPE, "axis %lld is out of range for rank %d",
                         (long long)fgq_node_attr_int(n, "axis", 0), (int)x->rank);
    if (n->n_outputs > 64)
        return node_fail(c, FGQ_ERR_UNSUPPORTED, "%d outputs", (int)n->n_outputs);
    int64_t sizes[64];
    char why[160];
    if (fgq_onnx_split_sizes(x->dims[axis], n->n_outputs, ns >= 0 ? split : NULL, ns, sizes, why, sizeof why) != 0)
        return node_fail(c, FGQ_ERR_SHAPE, "%s", why);
    int64_t dims[FGQ_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    for (int32_t k = 0; k < n->n_outputs; k++) {
        dims[axis] = sizes[k];
        set_out(c, k, x->dtype, x->rank, dims);
    }
    return FGQ_OK;
}

static fgq_status infer_resize(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    fgq_ir_tensor *x = in_t(c, 0);
    int32_t mode, coord, near, si, zi;
    char why[160];
    if (fgq_onnx_resize_attrs(n, c->g->opset, &mode, &coord, &near, &si, &zi, why, sizeof why) != 0 || !known(x) ||
        x->rank > FGQ_MAX_DIMS)
        return FGQ_OK; /* lowering says why */
    float scales[FGQ_MAX_DIMS];
    int64_t sizes[FGQ_MAX_DIMS];
    int have_scales = 0, have_sizes = 0;
    const fgq_ir_attr *sa = si < 0 ? fgq_node_attr(n, "scales") : NULL;
    fgq_ir_tensor *st = si >= 0 ? in_t(c, si) : NULL;
    if (sa != NULL && sa->type == FGQ_ATTR_FLOATS && sa->n == x->rank) {
        for (int32_t i = 0; i < x->rank; i++)
            scales[i] = sa->floats[i];
        have_scales = 1;
    } else if (st != NULL && st->kind == FGQ_TK_CONST && st->dtype == FGQ_DT_F32 && st->data != NULL &&
               fgq_ir_tensor_numel(st) == x->rank) {
        for (int32_t i = 0; i < x->rank; i++)
            scales[i] = ((const float *)st->data)[i];
        have_scales = 1;
    }
    if (!have_scales && zi >= 0) {
        int32_t got = in_ints_copy(c, zi, sizes, FGQ_MAX_DIMS);
        have_sizes = got == x->rank;
    }
    if (!have_scales && !have_sizes)
        return FGQ_OK;
    int64_t od[FGQ_MAX_DIMS];
    float eff[FGQ_MAX_DIMS];
    if (fgq_onnx_resize_output(x->rank, x->dims, have_scales ? scales : NULL, have_sizes ? sizes : NULL, od, eff, why,
                               sizeof why) != 0)
        return FGQ_OK; /* unsupported (lowering names it) rather than a shape error */
    set_out(c, 0, x->dtype, x->rank, od);
    return FGQ_OK;
}

static fgq_status infer_rnn(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    if (x->rank != 3)
        return node_fail(c, FGQ_ERR_SHAPE, "X must be [seq, batch, input], got rank %d", (int)x->rank);
    const fgq_ir_attr *a = fgq_node_attr(n, "direction");
    const int64_t D = a != NULL && a->type == FGQ_ATTR_STRING && a->s != NULL && strcmp(a->s, "bidirectional") == 0 ? 2 : 1;
    const int64_t H = fgq_node_attr_int(n, "hidden_size", 0);
    if (H < 1)
        return node_fail(c, FGQ_ERR_SHAPE, "hidden_size %lld", (long long)H);
    const int64_t yd[4] = {x->dims[0], D, x->dims[1], H}, hd[3] = {D, x->dims[1], H};
    set_out(c, 0, x->dtype, 4, yd);
    set_out(c, 1, x->dtype, 3, hd);
    set_out(c, 2, x->dtype, 3, hd);
    return FGQ_OK;
}

static fgq_status infer_conv_transpose(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    fgq_ir_tensor *x = in_t(c, 0), *w = in_t(c, 1);
    if (!known(x) || !known(w))
        return FGQ_OK;
    if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
        return node_fail(c, FGQ_ERR_SHAPE, "X %d-D and W %d-D: expected [N, C, spatial...] and [C, M/group, k...]",
                         (int)x->rank, (int)w->rank);
    const int64_t group = fgq_node_attr_int(n, "group", 1);
    if (group < 1 || w->dims[0] != x->dims[1])
        return node_fail(c, FGQ_ERR_SHAPE, "W dim 0 is %lld, X has %lld channels", (long long)w->dims[0],
                         (long long)x->dims[1]);
    int64_t osp[3], pb[3], st[3], dl[3];
    char why[200];
    if (fgq_onnx_conv_transpose(n, x->rank - 2, x->dims + 2, w->dims + 2, osp, pb, st, dl, why, sizeof why) != 0)
        return node_fail(c, FGQ_ERR_SHAPE, "%s", why);
    int64_t dims[FGQ_MAX_DIMS] = {x->dims[0], w->dims[1] * group};
    for (int32_t i = 0; i < x->rank - 2; i++)
        dims[2 + i] = osp[i];
    set_out(c, 0, x->dtype, x->rank, dims);
    return FGQ_OK;
}

/* ---- driver ---------------------------------------------------------------- */

/* The rows of import/onnx_ops.h whose rule takes parameters. */
static fgq_status infer_conv_f(infer_ctx *c) { return infer_conv(c, 0, 1, 2, FGQ_DT_UNDEF); }
static fgq_status infer_conv_integer(infer_ctx *c) { return infer_conv(c, 0, 1, -1, FGQ_DT_S32); }
static fgq_status infer_qlinear_conv(infer_ctx *c) { return infer_conv(c, 0, 3, 8, zp_dtype(c, 7, FGQ_DT_U8)); }
static fgq_status infer_matmul_f(infer_ctx *c) { return infer_matmul(c, 0, 1, FGQ_DT_UNDEF); }
static fgq_status infer_matmul_integer(infer_ctx *c) { return infer_matmul(c, 0, 1, FGQ_DT_S32); }
static fgq_status infer_qlinear_matmul(infer_ctx *c) { return infer_matmul(c, 0, 3, zp_dtype(c, 7, FGQ_DT_U8)); }
static fgq_status infer_add(infer_ctx *c) { return infer_binary(c, '+'); }
static fgq_status infer_sub(infer_ctx *c) { return infer_binary(c, '-'); }
static fgq_status infer_mul(infer_ctx *c) { return infer_binary(c, '*'); }
static fgq_status infer_div(infer_ctx *c) { return infer_binary(c, '/'); }
static fgq_status infer_pow(infer_ctx *c) { return infer_binary(c, '^'); }
static fgq_status infer_maxpool(infer_ctx *c) { return infer_pool(c, 1); }
static fgq_status infer_avgpool(infer_ctx *c) { return infer_pool(c, 0); }

/* Shapes known only once folded (ConstantOfShape, ...): the outputs stay unknown here. */
static fgq_status infer_unknown(infer_ctx *c)
{
    (void)c;
    return FGQ_OK;
}

static fgq_status infer_identity(infer_ctx *c)
{
    const int64_t *v;
    int64_t nv;
    if (in_ints(c, 0, &v, &nv))
        set_ints(c, 0, v, nv);
    return infer_same(c);
}

static fgq_status infer_dropout(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (known(x)) {
        set_out_like(c, 0, x);
        set_out(c, 1, FGQ_DT_BOOL, x->rank, x->dims);
    }
    return FGQ_OK;
}

static fgq_status infer_global_pool(infer_ctx *c)
{
    fgq_ir_tensor *x = in_t(c, 0);
    if (!known(x))
        return FGQ_OK;
    if (x->rank < 3)
        return node_fail(c, FGQ_ERR_SHAPE, "input must be [N,C,spatial...], got rank %d", (int)x->rank);
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    set_out(c, 0, x->dtype, x->rank, dims);
    return FGQ_OK;
}

/* One rule per row of import/onnx_ops.h, in its order. */
typedef fgq_status (*infer_fn)(infer_ctx *c);
static const infer_fn infer_rules[] = {
#define X(op_, infer_, lower_, flags_) infer_,
    FGQ_ONNX_OPS(X)
#undef X
};

static fgq_status infer_node(infer_ctx *c)
{
    const fgq_ir_node *n = cur(c);
    const int32_t row = fgq_onnx_op_index(n->op_type, n->domain);
    if (row < 0)
        return FGQ_OK; /* unknown op or custom domain: outputs stay unknown */
    return infer_rules[row](c);
}

fgq_status fgq_infer_shapes(fgq_graph *g, fgq_error *err)
{
    if (g == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_infer_shapes: NULL graph");
    fgq_error local = {FGQ_OK, ""};
    if (err == NULL)
        err = &local;
    infer_ctx c = {g, err, calloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1), sizeof(const_ints)), 0};
    if (c.cv == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "fgq_infer_shapes: out of memory");
    /* intermediates are recomputed from scratch */
    for (int32_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].kind == FGQ_TK_INTERMEDIATE)
            g->tensors[i].rank = -1;
    fgq_status st = FGQ_OK;
    for (int32_t i = 0; i < g->n_tensors && st == FGQ_OK; i++) {
        const fgq_ir_tensor *t = &g->tensors[i];
        if (t->kind != FGQ_TK_INTERMEDIATE && t->rank > 0 && !fgq_ir_dims_fit(t->rank, t->dims)) {
            char d[160];
            st = fgq_fail(err, FGQ_ERR_SHAPE, "%s: tensor '%s' has dims %s (fgq takes dims >= 0 holding at most 2^40 elements)",
                          g->source_path ? g->source_path : "graph", t->name, dims_str(d, sizeof d, t->rank, t->dims));
        }
    }
    for (int32_t i = 0; i < g->n_nodes && st == FGQ_OK; i++) {
        c.node = i;
        st = infer_node(&c);
        /* an inferred shape past the limit stops here, before any later rule multiplies it */
        const fgq_ir_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_outputs && st == FGQ_OK; k++) {
            const fgq_ir_tensor *t = n->outputs[k] >= 0 ? &g->tensors[n->outputs[k]] : NULL;
            if (t != NULL && t->rank > 0 && !fgq_ir_dims_fit(t->rank, t->dims)) {
                char d[160];
                st = node_fail(&c, FGQ_ERR_SHAPE, "output '%s' would have dims %s (fgq takes dims >= 0 holding at most 2^40 elements)",
                               t->name, dims_str(d, sizeof d, t->rank, t->dims));
            }
        }
    }
    for (int32_t i = 0; i < g->n_tensors; i++)
        free(c.cv[i].v);
    free(c.cv);
    return st;
}

/* ---- statistics and support ----------------------------------------------- */

void fgq_node_stats(const fgq_graph *g, int32_t node, int64_t *params, int64_t *macs)
{
    int64_t p = 0, m = 0;
    if (g != NULL && node >= 0 && node < g->n_nodes) {
        const fgq_ir_node *n = &g->nodes[node];
        for (int32_t k = 0; k < n->n_inputs; k++) {
            if (n->inputs[k] < 0)
                continue;
            const fgq_ir_tensor *t = &g->tensors[n->inputs[k]];
            int64_t e = fgq_ir_tensor_numel(t);
            if (t->kind == FGQ_TK_CONST && e > 0)
                p += e;
        }
        const fgq_ir_tensor *y = n->n_outputs > 0 && n->outputs[0] >= 0 ? &g->tensors[n->outputs[0]] : NULL;
        int32_t wk = -1, ak = -1;
        int is_conv = 0;
        if (fgq_node_is(n, "Conv") || fgq_node_is(n, "ConvInteger")) { wk = 1; is_conv = 1; }
        else if (fgq_node_is(n, "QLinearConv")) { wk = 3; is_conv = 1; }
        else if (fgq_node_is(n, "MatMul") || fgq_node_is(n, "MatMulInteger")) ak = 0;
        else if (fgq_node_is(n, "QLinearMatMul")) ak = 0;
        else if (fgq_node_is(n, "Gemm")) ak = 0;
        int64_t ny = y != NULL ? fgq_ir_tensor_numel(y) : -1;
        int64_t per = -1; /* MACs per output element */
        if (is_conv && wk < n->n_inputs && n->inputs[wk] >= 0) {
            /* each output element sums C_in/group · kernel_elems products: the
             * weight's elements per output channel */
            const fgq_ir_tensor *w = &g->tensors[n->inputs[wk]];
            int64_t we = fgq_ir_tensor_numel(w);
            if (w->rank >= 1 && we >= 0 && w->dims[0] > 0)
                per = we / w->dims[0];
        } else if (ak >= 0 && ak < n->n_inputs && n->inputs[ak] >= 0) {
            const fgq_ir_tensor *a = &g->tensors[n->inputs[ak]];
            if (a->rank >= 1) {
                int trans_a = fgq_node_is(n, "Gemm") && fgq_node_attr_int(n, "transA", 0) != 0;
                per = trans_a && a->rank == 2 ? a->dims[0] : a->dims[a->rank - 1];
            }
        }
        if (ny >= 0 && per >= 0 && (per == 0 || ny <= INT64_MAX / per))
            m = ny * per;
    }
    if (params != NULL)
        *params = p;
    if (macs != NULL)
        *macs = m;
}

int fgq_op_is_supported(const char *op_type, const char *domain)
{
    return fgq_onnx_op_index(op_type, domain) >= 0;
}

static uint32_t op_flags(const fgq_ir_node *n)
{
    const fgq_onnx_op *row = fgq_onnx_op_at(fgq_onnx_op_index(n->op_type, n->domain));
    return row != NULL ? row->flags : 0;
}

int fgq_node_is_supported(const fgq_graph *g, int32_t node)
{
    if (g == NULL || node < 0 || node >= g->n_nodes)
        return 0;
    const fgq_ir_node *target = &g->nodes[node];
    if (!fgq_op_is_supported(target->op_type, target->domain))
        return 0;
    if (!(op_flags(target) & FGQ_ONNX_FOLD_ONLY))
        return 1;
    /* Forward pass over nodes 0..node (topological order): a node folds if it
     * is Constant, a Shape of a tensor with static dims, or an op that folds
     * (FGQ_ONNX_FOLDS) whose present inputs are all constants or folded. */
    unsigned char *folds = calloc((size_t)node + 1, 1);
    if (folds == NULL)
        return 0;
    for (int32_t i = 0; i <= node; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        int f = 0;
        if (fgq_node_is(n, "Constant")) {
            f = 1;
        } else if (fgq_node_is(n, "Shape")) {
            f = n->n_inputs >= 1 && n->inputs[0] >= 0 && g->tensors[n->inputs[0]].rank >= 0;
        } else if (op_flags(n) & FGQ_ONNX_FOLDS) {
            f = 1;
            for (int32_t k = 0; k < n->n_inputs && f; k++) {
                int32_t t = n->inputs[k];
                if (t < 0)
                    continue;
                const fgq_ir_tensor *tt = &g->tensors[t];
                f = tt->kind == FGQ_TK_CONST || (tt->producer >= 0 && tt->producer < i && folds[tt->producer]);
            }
        }
        folds[i] = (unsigned char)f;
    }
    int r = folds[node];
    free(folds);
    return r;
}
