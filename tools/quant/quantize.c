/* quantize.c — float graph + calibration → integer-only graph (see quantize.h). */
#include "quant/layer_weights.h"

#include "lower/lower.h"
#include "passes/passes.h"
#include "run/run_graph.h"
#include "quant/format/weights.h"

#include "ops/ops_q.h"
#include "quant/affine.h"
#include "quant/solve/gptq.h"
#include "quant/stats/hessian.h"
#include "quant/t2.h"
#include "quant/format/metrics.h"
#include "quant/s4.h"
#include "quant/format/wformat.h"
#include "quant/format/lut.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

fgq_status fgq_act_kind_parse(const char *text, fgq_act_kind *out, fgq_error *err)
{
    static const char *const names[] = {"u8", "s8", "u4", "dynamic"};
    for (int i = 0; text != NULL && i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (fgq_act_kind)i;
            return FGQ_OK;
        }
    return fgq_fail(err, FGQ_ERR_VALUE, "unknown activation type '%s' (expected u8, s8, u4 or dynamic)",
                    text ? text : "");
}

int32_t fgq_act_levels(fgq_act_kind k)
{
    return k == FGQ_ACTS_U4 ? 16 : 256;
}

typedef struct {
    const fgq_graph *fg;
    const fgq_calib *calib;
    const fgq_quant_config *cfg;
    fgq_graph *qg;
    int32_t *fver, *qver;       /* per float tensor: its f32 / quantized version in qg, or -1 */
    fgq_affine_params *qpar;    /* per float tensor: params of its quantized version */
    int32_t *n_cons, *cons;     /* per float tensor: consumer count (graph output counts), last consumer */
    uint8_t *absorbed;          /* per float node: folded into an earlier node */
    int32_t *dq;                /* --acts dynamic, per float tensor: its DYNQUANT's Y, Y_SCALE, Y_ZERO, or -1 */
    int32_t first_w, last_w;    /* first / last weight layer node */
    fgq_dtype act_dt;
    int32_t act_qmin, act_qmax;
    fgq_layer_report *rep;
    int32_t n_rep;
    fgq_error *err;
    fgq_layer_ctx lc;           /* fg, cfg, err for the per-layer steps (layer_weights.h) */
} qctx;

/* ---- small graph helpers ------------------------------------------------------ */

/* New qg tensor shaped like float tensor src (-1: no shape), named `base` when
 * bare is set and that name is free, else base+suffix (+suffix... until unique). */
static int32_t new_tensor(qctx *c, const char *base, const char *suffix, int32_t src, fgq_dtype dt, int bare)
{
    char name[512];
    snprintf(name, sizeof name, "%s", base);
    if (!bare || fgq_graph_find_tensor(c->qg, name) >= 0)
        snprintf(name, sizeof name, "%s%s", base, suffix);
    while (fgq_graph_find_tensor(c->qg, name) >= 0) {
        size_t l = strlen(name);
        if (l + 3 >= sizeof name)
            return -1;
        snprintf(name + l, sizeof name - l, "%s", suffix);
    }
    int32_t t = fgq_graph_add_tensor(c->qg, name);
    if (t < 0)
        return -1;
    fgq_ir_tensor *x = &c->qg->tensors[t];
    x->dtype = dt;
    x->kind = FGQ_TK_INTERMEDIATE;
    if (src >= 0) {
        const fgq_ir_tensor *s = &c->fg->tensors[src];
        x->rank = s->rank;
        memcpy(x->dims, s->dims, sizeof x->dims);
        x->sym_dims = s->sym_dims;
    }
    return t;
}

static fgq_status set_qparams(fgq_ir_tensor *t, int32_t n, const float *scales, const int32_t *zps, int32_t axis,
                              int32_t group, fgq_error *err)
{
    fgq_qparams_free(&t->q);
    t->q.scales = malloc((size_t)n * sizeof(float));
    t->q.zero_points = malloc((size_t)n * sizeof(int32_t));
    if (t->q.scales == NULL || t->q.zero_points == NULL) {
        fgq_qparams_free(&t->q);
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        t->q.scales[i] = scales[i];
        t->q.zero_points[i] = zps != NULL ? zps[i] : 0;
    }
    t->q.n_scales = n;
    t->q.axis = axis;
    t->q.group_size = group;
    return FGQ_OK;
}

/* A new constant in qg: `bytes` bytes of data (copied), dtype dt, given dims. */
static int32_t new_const(qctx *c, const char *base, const char *suffix, int bare, fgq_dtype dt, int32_t rank,
                         const int64_t *dims, const void *data, size_t bytes)
{
    int32_t t = new_tensor(c, base, suffix, -1, dt, bare);
    if (t < 0)
        return -1;
    fgq_ir_tensor *x = &c->qg->tensors[t];
    x->kind = FGQ_TK_CONST;
    x->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        x->dims[i] = dims[i];
    x->data = malloc(bytes ? bytes : 1);
    if (x->data == NULL)
        return -1;
    memcpy(x->data, data, bytes);
    return t;
}

/* The WSUM constant of a QGEMM / QGEMM_DYN layer `name` (each weight row's sum, 4 bytes a row;
 * docs/quantized-ops.md §3.1), where a kernel reads it: ternary weights (the x86 ternary GEMV then
 * drops its per-call z_x term) and s8 without GS (the AMX tiles on rows in place their rows' sums).
 * -1: not written (other weights), -2: out of memory. */
static int32_t new_wsum_const(qctx *c, const char *name, const fgq_layer_qweights *qw, int64_t rows, int64_t k)
{
    if (!(qw->dt == FGQ_DT_T2 || (qw->dt == FGQ_DT_S8 && qw->gs == NULL)))
        return -1;
    int32_t *wsum = malloc((size_t)rows * sizeof(int32_t)), t = -2;
    if (wsum != NULL && fgq_qweights_row_sums(qw->dt, qw->codes, rows, k, qw->gs != NULL ? qw->group : 0, qw->n_alpha,
                                              qw->mmax, qw->gs, wsum) == FGQ_OK) {
        const int64_t d[1] = {rows};
        t = new_const(c, name, ".wsum", 0, FGQ_DT_S32, 1, d, wsum, (size_t)rows * sizeof(int32_t));
        t = t < 0 ? -2 : t;
    }
    free(wsum);
    return t;
}

static int32_t add_node(qctx *c, const char *name, const char *op_type, int32_t n_in, const int32_t *in, int32_t out)
{
    char nm[512];
    snprintf(nm, sizeof nm, "%s", name);
    return fgq_graph_add_node(c->qg, nm, op_type, n_in, in, 1, &out);
}

/* Adds a pre-lowered integer node (lower.h). */
static fgq_status add_qnode(qctx *c, const char *name, const char *label, fgq_op op, int32_t n_in,
                            const int32_t *in, int32_t out, const int32_t *ip, const float *fp)
{
    int32_t nd = add_node(c, name, label, n_in, in, out);
    if (nd < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    return fgq_node_set_prelowered(&c->qg->nodes[nd], op, ip, fp, c->err);
}

/* ---- activations ------------------------------------------------------------------ */

/* TF parameters for float tensor t from its calibration statistics. */
static fgq_status act_params(qctx *c, int32_t t, fgq_affine_params *ap)
{
    const fgq_ir_tensor *x = &c->fg->tensors[t];
    if (t >= c->calib->n_tensors)
        return fgq_fail(c->err, FGQ_ERR_VALUE, "calibration: no statistics for tensor '%s'", x->name);
    float lo, hi;
    fgq_status st = fgq_stats_range(&c->calib->stats[t], &c->cfg->observer, c->act_qmax - c->act_qmin + 1, x->name,
                                    &lo, &hi, c->err);
    if (st != FGQ_OK)
        return st;
    return fgq_affine_choose_tf(lo, hi, c->act_qmin, c->act_qmax, ap, c->err);
}

/* Quantized version of float tensor t exists from now on as qg tensor qt with params ap. */
static fgq_status bind_q(qctx *c, int32_t t, int32_t qt, const fgq_affine_params *ap)
{
    c->qver[t] = qt;
    c->qpar[t] = *ap;
    return set_qparams(&c->qg->tensors[qt], 1, &ap->scale, &ap->zero_point, 0, 0, c->err);
}

/* Quantized output of float node output t: named like t unless t is a graph
 * output (then "<t>.q", and the DEQUANTIZE to the graph output takes t's name). */
static fgq_status q_output_named(qctx *c, int32_t t, const fgq_affine_params *ap, int32_t *qt)
{
    const fgq_ir_tensor *x = &c->fg->tensors[t];
    *qt = new_tensor(c, x->name, ".q", t, c->act_dt, !x->is_output);
    if (*qt < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    return bind_q(c, t, *qt, ap);
}

static fgq_status get_float(qctx *c, int32_t t, int32_t *out);

/* The quantized version of float tensor t (QUANTIZE of its float version when needed). */
static fgq_status get_quant(qctx *c, int32_t t, int32_t *out)
{
    if (c->qver[t] >= 0) {
        *out = c->qver[t];
        return FGQ_OK;
    }
    int32_t ft;
    fgq_affine_params ap;
    fgq_status st = get_float(c, t, &ft);
    if (st == FGQ_OK)
        st = act_params(c, t, &ap);
    if (st != FGQ_OK)
        return st;
    const fgq_ir_tensor *x = &c->fg->tensors[t];
    int32_t qt = new_tensor(c, x->name, ".q", t, c->act_dt, 1);
    if (qt < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    ip[FGQ_QP_Y_ZERO] = ap.zero_point;
    ip[FGQ_QP_QMIN] = c->act_qmin;
    ip[FGQ_QP_QMAX] = c->act_qmax;
    fp[FGQ_QPF_SCALE] = ap.scale;
    char name[512];
    snprintf(name, sizeof name, "%s.quantize", x->name);
    if ((st = add_qnode(c, name, "Quantize", FGQ_OP_QUANTIZE, 1, &ft, qt, ip, fp)) != FGQ_OK)
        return st;
    *out = qt;
    return bind_q(c, t, qt, &ap);
}

static fgq_status get_float(qctx *c, int32_t t, int32_t *out)
{
    if (c->fver[t] >= 0) {
        *out = c->fver[t];
        return FGQ_OK;
    }
    const fgq_ir_tensor *x = &c->fg->tensors[t];
    if (x->kind == FGQ_TK_CONST) {
        size_t es = fgq_dtype_size(x->dtype);
        int64_t n = fgq_ir_tensor_numel(x);
        if (es == 0 || n < 0)
            return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "constant '%s' of dtype %s", x->name,
                            fgq_dtype_name(x->dtype));
        int32_t ct = new_const(c, x->name, "_", 1, x->dtype, x->rank, x->dims, x->data, (size_t)n * es);
        if (ct < 0)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory copying constant '%s'", x->name);
        c->qg->tensors[ct].sym_dims = x->sym_dims;
        *out = c->fver[t] = ct;
        return FGQ_OK;
    }
    if (c->qver[t] < 0)
        return fgq_fail(c->err, FGQ_ERR_FORMAT, "quantize: tensor '%s' is read before it is produced", x->name);
    int32_t ft = new_tensor(c, x->name, ".f32", t, FGQ_DT_F32, 1);
    if (ft < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    ip[FGQ_QP_X_ZERO] = c->qpar[t].zero_point;
    fp[FGQ_QPF_SCALE] = c->qpar[t].scale;
    char name[512];
    snprintf(name, sizeof name, "%s.dequantize", x->name);
    int32_t qt = c->qver[t];
    fgq_status st = add_qnode(c, name, "Dequantize", FGQ_OP_DEQUANTIZE, 1, &qt, ft, ip, fp);
    if (st != FGQ_OK)
        return st;
    *out = c->fver[t] = ft;
    return FGQ_OK;
}

/* ---- float nodes ------------------------------------------------------------------- */

static char *dup_str(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = malloc(strlen(s) + 1);
    if (d != NULL)
        strcpy(d, s);
    return d;
}

static fgq_status copy_attr(qctx *c, const fgq_ir_attr *a, fgq_ir_attr *d)
{
    d->type = a->type;
    d->f = a->f;
    d->i = a->i;
    d->n = a->n;
    d->tensor = -1;
    if (a->s != NULL && (d->s = dup_str(a->s)) == NULL)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
    if (a->floats != NULL) {
        d->floats = malloc((size_t)(a->n ? a->n : 1) * sizeof(float));
        if (d->floats == NULL)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
        memcpy(d->floats, a->floats, (size_t)a->n * sizeof(float));
    }
    if (a->ints != NULL) {
        d->ints = malloc((size_t)(a->n ? a->n : 1) * sizeof(int64_t));
        if (d->ints == NULL)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
        memcpy(d->ints, a->ints, (size_t)a->n * sizeof(int64_t));
    }
    if (a->strings != NULL) {
        d->strings = calloc((size_t)(a->n ? a->n : 1), sizeof(char *));
        if (d->strings == NULL)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; i < a->n; i++)
            if ((d->strings[i] = dup_str(a->strings[i])) == NULL)
                return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
    }
    if (a->type == FGQ_ATTR_TENSOR && a->tensor >= 0)
        return get_float(c, a->tensor, &d->tensor);
    return FGQ_OK;
}

/* Copies float node i into qg: inputs[k] replaced by in_map[k] (or their float
 * versions when in_map is NULL), output 0 becomes out0 (or a new f32 tensor). */
static fgq_status copy_node(qctx *c, int32_t i, const int32_t *in_map, int32_t out0)
{
    const fgq_ir_node *n = &c->fg->nodes[i];
    int32_t in[FGQ_LOWER_MAX_INPUTS], outs[FGQ_MAX_NODE_OUTPUTS];
    if (n->n_inputs > FGQ_LOWER_MAX_INPUTS || n->n_outputs > FGQ_MAX_NODE_OUTPUTS || n->n_outputs < 1)
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "node '%s' (%s): %d inputs / %d outputs", n->name, n->op_type,
                        (int)n->n_inputs, (int)n->n_outputs);
    for (int32_t k = 0; k < n->n_inputs; k++) {
        in[k] = -1;
        if (in_map != NULL && in_map[k] >= 0) {
            in[k] = in_map[k];
        } else if (n->inputs[k] >= 0) {
            fgq_status st = get_float(c, n->inputs[k], &in[k]);
            if (st != FGQ_OK)
                return st;
        }
    }
    for (int32_t k = 0; k < n->n_outputs; k++) {
        int32_t t = n->outputs[k];
        if (k == 0 && out0 >= 0) {
            outs[k] = out0;
            continue;
        }
        outs[k] = -1;
        if (t < 0)
            continue;
        const fgq_ir_tensor *x = &c->fg->tensors[t];
        int32_t ft = new_tensor(c, x->name, ".f32", t, x->dtype, 1);
        if (ft < 0)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
        outs[k] = c->fver[t] = ft;
    }
    int32_t nd = fgq_graph_add_node(c->qg, n->name, n->op_type, n->n_inputs, in, n->n_outputs, outs);
    if (nd < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    fgq_ir_node *d = &c->qg->nodes[nd];
    if (n->domain != NULL && n->domain[0] != '\0') {
        free(d->domain);
        if ((d->domain = dup_str(n->domain)) == NULL)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t k = 0; k < n->n_attrs; k++) {
        fgq_ir_attr *a = fgq_node_attr_slot(&c->qg->nodes[nd], n->attrs[k].name);
        if (a == NULL)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory");
        fgq_status st = copy_attr(c, &n->attrs[k], a);
        if (st != FGQ_OK)
            return st;
    }
    return FGQ_OK;
}

/* ---- per-node quantization ------------------------------------------------------------ */

static const fgq_layer_override *find_override(const qctx *c, const char *name)
{
    const fgq_layer_override *o = NULL;
    for (int32_t i = 0; i < c->cfg->n_overrides; i++)
        if (strcmp(c->cfg->overrides[i].node, name) == 0)
            o = &c->cfg->overrides[i];
    return o;
}

/* Per-channel vector of constant tensor b against output tensor y whose channel
 * axis is ch: all dims 1 except ch (== rows). Fills bias[rows] (+=). */
static int add_channel_vector(const fgq_graph *g, int32_t b, int32_t y, int32_t ch, int64_t rows, float *bias)
{
    const fgq_ir_tensor *bt = &g->tensors[b], *yt = &g->tensors[y];
    if (!fgq_ir_is_f32_const(g, b) || bt->rank > yt->rank)
        return 0;
    int64_t n = fgq_ir_tensor_numel(bt);
    for (int32_t a = 0; a < bt->rank; a++) {
        int32_t ya = a + yt->rank - bt->rank;
        if (bt->dims[a] != 1 && !(ya == ch && bt->dims[a] == rows))
            return 0;
    }
    if (n != 1 && n != rows)
        return 0;
    const float *v = bt->data;
    for (int64_t r = 0; r < rows; r++)
        bias[r] += n == 1 ? v[0] : v[r];
    return 1;
}

/* Output clamp [qmin, qmax] for fused activation of node n over params ap. */
static void act_clamp(const qctx *c, const fgq_ir_node *n, const fgq_affine_params *ap, int32_t *qmin, int32_t *qmax)
{
    *qmin = c->act_qmin;
    *qmax = c->act_qmax;
    int64_t act = n != NULL ? fgq_node_attr_int(n, FGQ_ATTR_ACT, FGQ_ACT_NONE) : FGQ_ACT_NONE;
    if (act == FGQ_ACT_RELU) {
        *qmin = ap->zero_point > *qmin ? ap->zero_point : *qmin;
    } else if (act == FGQ_ACT_CLIP) {
        float lo = fgq_node_attr_float(n, FGQ_ATTR_ACT_MIN, -INFINITY), hi = fgq_node_attr_float(n, FGQ_ATTR_ACT_MAX, INFINITY);
        if (isfinite(lo)) {
            int32_t q = fgq_affine_quantize(lo, ap);
            *qmin = q > *qmin ? q : *qmin;
        }
        if (isfinite(hi)) {
            int32_t q = fgq_affine_quantize(hi, ap);
            *qmax = q < *qmax ? q : *qmax;
        }
        if (*qmax < *qmin)
            *qmax = *qmin;
    }
}

static fgq_layer_report *new_report(qctx *c, int32_t i, int32_t out_t)
{
    fgq_layer_report *r = &c->rep[c->n_rep++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", c->fg->nodes[i].name);
    snprintf(r->op, sizeof r->op, "%s", c->fg->nodes[i].op_type);
    snprintf(r->policy, sizeof r->policy, "-");
    r->float_tensor = out_t;
    r->q_tensor = -1;
    r->act_sqnr_db = r->out_sqnr_db = r->heldout_sqnr_db = NAN;
    return r;
}

/* Report row of a quantized weight layer: its policy, weight SQNR over the n
 * weights w against their dequantized values deq, and bits per weight. */
static void report_weight_layer(qctx *c, int32_t i, int32_t out_t, int32_t q_t, const fgq_policy *pol,
                                const float *w, const float *deq, int64_t n, double bits, const char *solver,
                                double solve_ms, double out_sqnr_db, double heldout_sqnr_db)
{
    fgq_layer_report *rp = new_report(c, i, out_t);
    rp->quantized = 1;
    rp->has_weights = 1;
    fgq_policy_format(pol, rp->policy, sizeof rp->policy);
    rp->weight_sqnr_db = fgq_sqnr_db_f32(w, deq, n);
    rp->bits = bits;
    rp->q_tensor = q_t;
    snprintf(rp->solver, sizeof rp->solver, "%s", solver);
    rp->solve_ms = solve_ms;
    rp->out_sqnr_db = out_sqnr_db;
    rp->heldout_sqnr_db = heldout_sqnr_db;
    rp->n_weights = n;
}

static int32_t act_bits(const qctx *c)
{
    return c->cfg->acts == FGQ_ACTS_U4 ? 4 : 8;
}

/* The float layer behind weight node i: wr = its weights as [rows, k] (Gemm's
 * alpha folded in), bias[rows] += its own bias (beta folded in) and a
 * following Add of a constant per-channel vector (no activation in between),
 * which is then absorbed: *act_node and *y become the Add's. */
static fgq_status gather_layer(qctx *c, int32_t i, int32_t wt, int64_t rows, int64_t k, int transposed, float *wr,
                               float *bias, const fgq_ir_node **act_node, int32_t *y_out)
{
    const fgq_graph *fg = c->fg;
    const fgq_ir_node *n = &fg->nodes[i];
    int is_conv = fgq_node_is(n, "Conv"), is_gemm = fgq_node_is(n, "Gemm");
    int32_t y = n->outputs[0], ch = is_conv ? 1 : fg->tensors[y].rank - 1;
    *act_node = n;
    /* weights as [rows, k], Gemm's alpha folded in */
    const float *w = fg->tensors[wt].data;
    float alpha = is_gemm ? fgq_node_attr_float(n, "alpha", 1.0f) : 1.0f;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j++)
            wr[r * k + j] = alpha * (transposed ? w[j * rows + r] : w[r * k + j]);
    /* own bias */
    if (n->n_inputs > 2 && n->inputs[2] >= 0) {
        int32_t b = n->inputs[2];
        float beta = is_gemm ? fgq_node_attr_float(n, "beta", 1.0f) : 1.0f;
        float *tmp = calloc((size_t)rows, sizeof(float));
        int ok = tmp != NULL && (is_conv ? fgq_ir_is_f32_const(fg, b) && fgq_ir_tensor_numel(&fg->tensors[b]) == rows &&
                                               (memcpy(tmp, fg->tensors[b].data, (size_t)rows * sizeof(float)), 1)
                                         : add_channel_vector(fg, b, y, ch, rows, tmp));
        if (!ok) {
            free(tmp);
            return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED,
                            "layer '%s' (%s): bias '%s' is not a constant per-output vector", n->name, n->op_type,
                            fg->tensors[b].name);
        }
        for (int64_t r = 0; r < rows; r++)
            bias[r] += beta * tmp[r];
        free(tmp);
    }
    /* fold a following Add of a constant per-channel vector (no activation in between) */
    if (fgq_node_attr_int(n, FGQ_ATTR_ACT, FGQ_ACT_NONE) == FGQ_ACT_NONE && !fg->tensors[y].is_output &&
        c->n_cons[y] == 1) {
        int32_t j = c->cons[y];
        const fgq_ir_node *a = &fg->nodes[j];
        if (fgq_node_is(a, "Add") && a->n_inputs == 2 && a->n_outputs >= 1) {
            int32_t other = a->inputs[0] == y ? a->inputs[1] : a->inputs[0];
            if (other != y && add_channel_vector(fg, other, a->outputs[0], ch, rows, bias)) {
                c->absorbed[j] = 1;
                *act_node = a;
                y = a->outputs[0];
            }
        }
    }
    *y_out = y;
    return FGQ_OK;
}

/* Weight node i under policy u8: TF 8-bit affine weights (per tensor, min/max
 * widened to 0, zero point z_w nudged so 0.0 is exact) on CONV_INT (Conv) or
 * MATMUL_INT (Gemm / MatMul, W as [K, N]). MATMUL_INT takes no bias, so a
 * Gemm / MatMul layer with a nonzero int32 bias runs as a 1x1 CONV_INT between
 * two RESHAPEs ([P, K] -> [P, K, 1, 1] -> [P, N, 1, 1] -> [P, N]). The output
 * is requantized per tensor at s_x·s_w/s_y, clamped to the fused Relu/Clip. */
static fgq_status quantize_u8_layer(qctx *c, int32_t i, const fgq_policy *pol, int32_t wt, int64_t rows, int64_t k,
                                    int transposed)
{
    const fgq_graph *fg = c->fg;
    const fgq_ir_node *n = &fg->nodes[i];
    const int is_conv = fgq_node_is(n, "Conv");
    int32_t y = n->outputs[0];
    const fgq_ir_node *act_node = n;
    const int64_t nw = rows * k;
    float *bias = calloc((size_t)rows, sizeof(float));
    float *wr = malloc((size_t)nw * sizeof(float)), *deq = malloc((size_t)nw * sizeof(float));
    uint8_t *codes = malloc((size_t)nw), *codes_t = malloc((size_t)nw);
    int32_t *bq = malloc((size_t)rows * sizeof(int32_t));
    fgq_status st = FGQ_OK;
    if (bias == NULL || wr == NULL || deq == NULL || codes == NULL || codes_t == NULL || bq == NULL) {
        st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
        goto done;
    }
    if ((st = gather_layer(c, i, wt, rows, k, transposed, wr, bias, &act_node, &y)) != FGQ_OK)
        goto done;
    float wmin = 0.0f, wmax = 0.0f;
    for (int64_t j = 0; j < nw; j++) {
        if (!isfinite(wr[j])) {
            st = fgq_fail(c->err, FGQ_ERR_VALUE, "layer '%s': weight (%lld, %lld) is %s", n->name, (long long)(j / k),
                          (long long)(j % k), isnan(wr[j]) ? "NaN" : "Inf");
            goto done;
        }
        wmin = wr[j] < wmin ? wr[j] : wmin;
        wmax = wr[j] > wmax ? wr[j] : wmax;
    }
    if (wmax <= wmin) /* all-zero weights: any positive scale represents them exactly */
        wmax = wmin + 1.0f;
    fgq_affine_params aw;
    if ((st = fgq_affine_choose_u8(wmin, wmax, &aw, c->err)) != FGQ_OK)
        goto done;
    fgq_affine_quantize_u8(wr, nw, &aw, codes);
    fgq_affine_dequantize_u8(codes, nw, &aw, deq);
    int32_t xq;
    if ((st = get_quant(c, n->inputs[0], &xq)) != FGQ_OK)
        goto done;
    const fgq_affine_params ax = c->qpar[n->inputs[0]];
    fgq_affine_params ay;
    if ((st = act_params(c, y, &ay)) != FGQ_OK)
        goto done;
    int32_t lo, hi;
    fgq_q_act_range(c->act_dt, &lo, &hi);
    /* CONV_INT / MATMUL_INT overflow bound: K · d_max(z_x) · d_max(z_w) <= 2^31 − 1 */
    const int64_t dx = ax.zero_point - lo > hi - ax.zero_point ? ax.zero_point - lo : hi - ax.zero_point;
    const int64_t dw = aw.zero_point > 255 - aw.zero_point ? aw.zero_point : 255 - aw.zero_point;
    if (k > INT32_MAX / ((dx > 0 ? dx : 1) * (dw > 0 ? dw : 1))) {
        st = fgq_fail(c->err, FGQ_ERR_UNSUPPORTED,
                      "layer '%s': u8 weights: reduction length %lld with |x - z_x| <= %lld and |w - z_w| <= %lld "
                      "can overflow int32 (K * %lld * %lld must be <= 2^31 - 1)",
                      n->name, (long long)k, (long long)dx, (long long)dw, (long long)dx, (long long)dw);
        goto done;
    }
    if ((st = fgq_bias_correct(&c->lc, i, pol, rows, k, wr, deq, bias)) != FGQ_OK)
        goto done;
    const double sxw = (double)ax.scale * (double)aw.scale;
    const double real = sxw / (double)ay.scale;
    int any_bias = 0;
    int64_t clipped = 0;
    for (int64_t r = 0; r < rows; r++) {
        double b = nearbyint((double)bias[r] / sxw);
        bq[r] = b > INT32_MAX ? INT32_MAX : b < INT32_MIN ? INT32_MIN : (int32_t)b;
        any_bias |= bq[r] != 0;
        clipped += b > INT32_MAX || b < INT32_MIN || real < ldexp(1.0, -31);
    }
    int32_t mult = 0, shift = 0;
    if (real >= ldexp(1.0, -31)) {
        fgq_error e2;
        fgq_error_clear(&e2);
        if (fgq_quantize_multiplier(real, &mult, &shift, &e2) != FGQ_OK || shift < -31 || shift > 31) {
            st = fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "layer '%s': requantization s_x*s_w/s_y = %g is not representable%s%s",
                          n->name, real, e2.msg[0] != '\0' ? ": " : "", e2.msg);
            goto done;
        }
    }
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    const fgq_ir_tensor *xf = &fg->tensors[n->inputs[0]];
    const int as_conv = is_conv || any_bias;
    if (!is_conv && (xf->rank < 2 || (any_bias && xf->rank > 2 && (xf->sym_dims & ((1u << (xf->rank - 1)) - 1u))))) {
        st = fgq_fail(c->err, FGQ_ERR_UNSUPPORTED,
                      "layer '%s' (%s): u8 weights need an input of rank >= 2 (rank 2 when its leading dims are symbolic), "
                      "got rank %d", n->name, n->op_type, (int)xf->rank);
        goto done;
    }
    if (is_conv) {
        fgq_lowered_node low;
        if ((st = fgq_lower_node(fg, i, &low, c->err)) != FGQ_OK)
            goto done;
        memcpy(ip, low.iparams, FGQ_QP_X_ZERO * sizeof(int32_t));
        ip[FGQ_P_ACT] = 0;
        ip[FGQ_P_COUNT_PAD] = 0;
    } else if (as_conv) { /* 1x1 convolution over [P, K, 1, 1] */
        ip[FGQ_P_NSPATIAL] = 2;
        ip[FGQ_P_GROUP] = 1;
        for (int32_t d = 0; d < 3; d++) {
            ip[FGQ_P_KERNEL + d] = 1;
            ip[FGQ_P_STRIDE + d] = 1;
            ip[FGQ_P_DILATION + d] = 1;
        }
    }
    ip[FGQ_QP_X_ZERO] = ax.zero_point;
    ip[FGQ_QP_INT_W_ZERO] = aw.zero_point;
    ip[FGQ_QP_Y_ZERO] = ay.zero_point;
    act_clamp(c, act_node, &ay, &ip[FGQ_QP_QMIN], &ip[FGQ_QP_QMAX]);
    ip[FGQ_QP_REQ_MULT] = mult;
    ip[FGQ_QP_REQ_SHIFT] = shift;
    int32_t in[3], n_in = 2, yq;
    in[0] = xq;
    if (is_conv) {
        const fgq_ir_tensor *wf = &fg->tensors[wt];
        in[1] = new_const(c, n->name, ".w", 0, FGQ_DT_U8, wf->rank, wf->dims, codes, (size_t)nw);
    } else if (as_conv) {
        int64_t wd[4] = {rows, k, 1, 1};
        in[1] = new_const(c, n->name, ".w", 0, FGQ_DT_U8, 4, wd, codes, (size_t)nw);
    } else { /* MATMUL_INT: B [K, N] */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < k; j++)
                codes_t[j * rows + r] = codes[r * k + j];
        int64_t wd[2] = {k, rows};
        in[1] = new_const(c, n->name, ".w", 0, FGQ_DT_U8, 2, wd, codes_t, (size_t)nw);
    }
    if (as_conv) {
        int64_t bd[1] = {rows};
        in[n_in++] = new_const(c, n->name, ".b", 0, FGQ_DT_S32, 1, bd, bq, (size_t)rows * sizeof(int32_t));
    }
    for (int32_t q = 1; q < n_in; q++)
        if (in[q] < 0) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
            goto done;
        }
    if ((st = set_qparams(&c->qg->tensors[in[1]], 1, &aw.scale, &aw.zero_point, 0, 0, c->err)) != FGQ_OK)
        goto done;
    if ((st = q_output_named(c, y, &ay, &yq)) != FGQ_OK)
        goto done;
    if (is_conv || !as_conv) {
        if ((st = add_qnode(c, n->name, is_conv ? "ConvInt" : "MatMulInt", is_conv ? FGQ_OP_CONV_INT : FGQ_OP_MATMUL_INT,
                            n_in, in, yq, ip, fp)) != FGQ_OK)
            goto done;
    } else {
        /* [..., K] -> [P, K, 1, 1] -> CONV_INT -> [P, N, 1, 1] -> [..., N] */
        int64_t p = 1;
        for (int32_t d = 0; d + 1 < xf->rank; d++)
            p *= xf->dims[d];
        const uint32_t sym = xf->sym_dims & 1u;
        int32_t x4 = new_tensor(c, n->name, ".x4", -1, c->act_dt, 0);
        int32_t y4 = x4 >= 0 ? new_tensor(c, n->name, ".y4", -1, c->act_dt, 0) : -1;
        if (y4 < 0) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
            goto done;
        }
        int64_t xd[4] = {p, k, 1, 1}, yd[4] = {p, rows, 1, 1};
        fgq_ir_tensor *tx = &c->qg->tensors[x4];
        tx->rank = 4;
        memcpy(tx->dims, xd, sizeof xd);
        tx->sym_dims = sym;
        fgq_ir_tensor *ty = &c->qg->tensors[y4];
        ty->rank = 4;
        memcpy(ty->dims, yd, sizeof yd);
        ty->sym_dims = sym;
        int32_t ipr[FGQ_NODE_MAX_IPARAMS] = {0};
        float fpr[FGQ_NODE_MAX_FPARAMS] = {0};
        char nm[512];
        if ((st = set_qparams(tx, 1, &ax.scale, &ax.zero_point, 0, 0, c->err)) != FGQ_OK ||
            (st = set_qparams(&c->qg->tensors[y4], 1, &ay.scale, &ay.zero_point, 0, 0, c->err)) != FGQ_OK)
            goto done;
        snprintf(nm, sizeof nm, "%s.reshape_in", n->name);
        if ((st = add_qnode(c, nm, "Reshape", FGQ_OP_RESHAPE, 1, &xq, x4, ipr, fpr)) != FGQ_OK)
            goto done;
        in[0] = x4;
        if ((st = add_qnode(c, n->name, "ConvInt", FGQ_OP_CONV_INT, n_in, in, y4, ip, fp)) != FGQ_OK)
            goto done;
        snprintf(nm, sizeof nm, "%s.reshape_out", n->name);
        if ((st = add_qnode(c, nm, "Reshape", FGQ_OP_RESHAPE, 1, &y4, yq, ipr, fpr)) != FGQ_OK)
            goto done;
    }
    report_weight_layer(c, i, y, yq, pol, wr, deq, nw, 8.0, "rtn", 0.0, NAN, NAN);
    c->rep[c->n_rep - 1].clipped_rows = clipped;
done:
    free(bias);
    free(wr);
    free(deq);
    free(codes);
    free(codes_t);
    free(bq);
    return st;
}

static fgq_status emit_qdyn_layer(qctx *c, int32_t i, const fgq_policy *pol, const fgq_ir_node *act_node, int32_t y,
                                  const int32_t x3[3], const fgq_layer_qweights *qw, const float *bias, const float *wr,
                                  int64_t rows, int64_t k);

/* 1 if float tensor t reaches the graph's outputs only, directly or through
 * Softmax / LogSoftmax (float ops either way) and the layout moves (which then
 * run float on it instead of moving codes), and reaches at least one: then its
 * producer may hand back float (fgq_quant_config.quantized_tail). */
static int feeds_outputs_only(const qctx *c, int32_t t, int depth)
{
    static const char *const tail_ops[] = {"Softmax",   "LogSoftmax", "Reshape",  "Flatten", "Squeeze",
                                           "Unsqueeze", "Transpose",  "Identity", "Dropout"};
    const fgq_graph *fg = c->fg;
    if (depth > 16)
        return 0;
    int reached = fg->tensors[t].is_output;
    for (int32_t j = 0; j < fg->n_nodes; j++) {
        const fgq_ir_node *m = &fg->nodes[j];
        int reads = 0;
        for (int32_t q = 0; q < m->n_inputs; q++)
            reads |= m->inputs[q] == t;
        if (!reads)
            continue;
        int tail = 0;
        for (size_t q = 0; q < sizeof tail_ops / sizeof tail_ops[0]; q++)
            tail |= fgq_node_is(m, tail_ops[q]);
        if (!tail || m->inputs[0] != t || m->n_outputs < 1 || m->outputs[0] < 0 ||
            fg->tensors[m->outputs[0]].dtype != FGQ_DT_F32 || !feeds_outputs_only(c, m->outputs[0], depth + 1))
            return 0;
        for (int32_t q = 1; q < m->n_outputs; q++)
            if (m->outputs[q] >= 0 && c->n_cons[m->outputs[q]] > 0)
                return 0;
        reached = 1;
    }
    return reached;
}

static fgq_status quantize_weight_layer(qctx *c, int32_t i, const fgq_policy *pol, int32_t wt, int64_t rows,
                                        int64_t k, int transposed)
{
    const fgq_graph *fg = c->fg;
    const fgq_ir_node *n = &fg->nodes[i];
    int is_conv = fgq_node_is(n, "Conv");
    int32_t y = n->outputs[0];
    const fgq_ir_node *act_node = n;
    float *bias = calloc((size_t)rows, sizeof(float));
    float *wr = malloc((size_t)(rows * k) * sizeof(float));
    int32_t *bq = malloc((size_t)rows * sizeof(int32_t)), *req = malloc((size_t)rows * 2 * sizeof(int32_t));
    float *s_min = NULL;
    fgq_layer_qweights qw;
    memset(&qw, 0, sizeof qw);
    fgq_status st = FGQ_OK;
    if (bias == NULL || wr == NULL || bq == NULL || req == NULL) {
        st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
        goto done;
    }
    if ((st = gather_layer(c, i, wt, rows, k, transposed, wr, bias, &act_node, &y)) != FGQ_OK)
        goto done;
    int32_t xq;
    if ((st = get_quant(c, n->inputs[0], &xq)) != FGQ_OK)
        goto done;
    const fgq_affine_params ax = c->qpar[n->inputs[0]];
    if (!c->cfg->quantized_tail && !c->cfg->io_quantized && feeds_outputs_only(c, y, 0)) {
        /* the int32 accumulator straight to float: no rounding to the output's grid. The multipliers
         * are bounded with |q_x - z_x| <= 255, as QCONV_DYN / QGEMM_DYN check (quantized-ops.md §8) */
        int32_t x3[3];
        const int64_t no_dims[1] = {0};
        const uint8_t z_u8 = (uint8_t)ax.zero_point;
        const int8_t z_s8 = (int8_t)ax.zero_point;
        x3[0] = xq;
        x3[1] = new_const(c, n->name, ".x_scale", 0, FGQ_DT_F32, 0, no_dims, &ax.scale, sizeof(float));
        x3[2] = new_const(c, n->name, ".x_zero", 0, c->act_dt, 0, no_dims,
                          c->act_dt == FGQ_DT_S8 ? (const void *)&z_s8 : (const void *)&z_u8, 1);
        if (x3[1] < 0 || x3[2] < 0)
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
        else if ((st = fgq_quantize_layer_weights(&c->lc, i, pol, wr, rows, k, 255, NULL, &qw)) == FGQ_OK &&
                 (st = fgq_bias_correct(&c->lc, i, pol, rows, k, wr, qw.deq, bias)) == FGQ_OK)
            st = emit_qdyn_layer(c, i, pol, act_node, y, x3, &qw, bias, wr, rows, k);
        goto done;
    }
    fgq_affine_params ay;
    if ((st = act_params(c, y, &ay)) != FGQ_OK)
        goto done;
    int32_t lo, hi;
    fgq_q_act_range(c->act_dt, &lo, &hi);
    int32_t dx = ax.zero_point - lo > hi - ax.zero_point ? ax.zero_point - lo : hi - ax.zero_point;
    /* each row's scale no finer than its bias and requantization can carry */
    s_min = malloc((size_t)rows * sizeof(float));
    if (s_min == NULL) {
        st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
        goto done;
    }
    for (int64_t r = 0; r < rows; r++)
        s_min[r] = fgq_row_scale_floor(bias[r], ax.scale, ay.scale);
    if ((st = fgq_quantize_layer_weights(&c->lc, i, pol, wr, rows, k, dx, s_min, &qw)) != FGQ_OK ||
        (st = fgq_bias_correct(&c->lc, i, pol, rows, k, wr, qw.deq, bias)) != FGQ_OK)
        goto done;
    int64_t clipped = 0;
    for (int64_t r = 0; r < rows; r++) {
        double sw = (double)ax.scale * (double)qw.s_row[r];
        double b = nearbyint((double)bias[r] / sw);
        bq[r] = b > INT32_MAX ? INT32_MAX : b < INT32_MIN ? INT32_MIN : (int32_t)b;
        double real = sw / (double)ay.scale;
        clipped += b > INT32_MAX || b < INT32_MIN || (real < ldexp(1.0, -31) && qw.s_row[r] > 0.0f);
        int32_t mult = 0, shift = 0;
        if (real >= ldexp(1.0, -31)) {
            fgq_error e2;
            fgq_error_clear(&e2);
            if (fgq_quantize_multiplier(real, &mult, &shift, &e2) != FGQ_OK) {
                st = fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "layer '%s': requantization %g: %s", n->name, real, e2.msg);
                goto done;
            }
        }
        req[2 * r] = mult;
        req[2 * r + 1] = shift;
    }
    {
        int64_t wd[2] = {rows, qw.kp}, bd[1] = {rows}, rd[2] = {rows, 2}, gd[3] = {rows, qw.n_groups, 2};
        int32_t in[6];
        in[0] = xq;
        in[1] = new_const(c, n->name, ".w", 0, qw.dt, 2, wd, qw.codes, (size_t)(rows * qw.row_bytes));
        in[2] = new_const(c, n->name, ".b", 0, FGQ_DT_S32, 1, bd, bq, (size_t)rows * sizeof(int32_t));
        in[3] = new_const(c, n->name, ".req", 0, FGQ_DT_S32, 2, rd, req, (size_t)rows * 2 * sizeof(int32_t));
        int32_t n_in = 4;
        if (qw.gs != NULL)
            in[n_in++] = new_const(c, n->name, ".gs", 0, FGQ_DT_U8, qw.n_alpha == 2 ? 3 : 2, gd, qw.gs,
                                   (size_t)(rows * qw.n_groups * qw.n_alpha));
        const int32_t ws = is_conv ? -1 : new_wsum_const(c, n->name, &qw, rows, k);
        if (ws == -2) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
            goto done;
        }
        if (ws >= 0) {
            if (n_in == 4)
                in[n_in++] = -1; /* no GS (so omitted, not a failed allocation) */
            in[n_in++] = ws;
        }
        for (int32_t q = 1; q < n_in; q++)
            if (in[q] < 0 && !(q == 4 && qw.gs == NULL)) {
                st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
                goto done;
            }
        if ((st = set_qparams(&c->qg->tensors[in[1]], (int32_t)rows, qw.s_row, NULL, 0,
                              qw.gs != NULL ? (int32_t)qw.group : 0, c->err)) != FGQ_OK)
            goto done;
        int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
        float fp[FGQ_NODE_MAX_FPARAMS] = {0};
        if (is_conv) {
            fgq_lowered_node low;
            if ((st = fgq_lower_node(fg, i, &low, c->err)) != FGQ_OK)
                goto done;
            memcpy(ip, low.iparams, FGQ_QP_X_ZERO * sizeof(int32_t));
            ip[FGQ_P_ACT] = 0;
            ip[FGQ_P_COUNT_PAD] = 0;
        }
        ip[FGQ_QP_X_ZERO] = ax.zero_point;
        ip[FGQ_QP_Y_ZERO] = ay.zero_point;
        act_clamp(c, act_node, &ay, &ip[FGQ_QP_QMIN], &ip[FGQ_QP_QMAX]);
        if (qw.gs != NULL) {
            ip[FGQ_QP_W_GROUP] = (int32_t)qw.group;
            ip[FGQ_QP_W_NALPHA] = qw.n_alpha;
            ip[FGQ_QP_W_MMAX] = qw.mmax;
        }
        int32_t yq;
        if ((st = q_output_named(c, y, &ay, &yq)) != FGQ_OK)
            goto done;
        if ((st = add_qnode(c, n->name, is_conv ? "QConv" : "QGemm", is_conv ? FGQ_OP_QCONV : FGQ_OP_QGEMM, n_in, in,
                            yq, ip, fp)) != FGQ_OK)
            goto done;
        report_weight_layer(c, i, y, yq, pol, wr, qw.deq, rows * k, 8.0 * (double)qw.bytes / (double)(rows * k), qw.solver,
                            qw.solve_ms, qw.out_sqnr_db, qw.heldout_sqnr_db);
        c->rep[c->n_rep - 1].clipped_rows = clipped;
    }
done:
    fgq_layer_qweights_free(&qw);
    free(bias);
    free(wr);
    free(bq);
    free(req);
    free(s_min);
    return st;
}

/* ---- dynamic activations (--acts dynamic) ------------------------------------------------- */

/* DYNQUANT of float tensor t (once per tensor): out[0] Y u8 (t's dims), out[1]
 * its scale f32 [], out[2] its zero point u8 []. */
static fgq_status get_dynquant(qctx *c, int32_t t, int32_t out[3])
{
    if (c->dq[3 * t] >= 0) {
        memcpy(out, &c->dq[3 * t], 3 * sizeof *out);
        return FGQ_OK;
    }
    int32_t ft;
    fgq_status st = get_float(c, t, &ft);
    if (st != FGQ_OK)
        return st;
    const fgq_ir_tensor *x = &c->fg->tensors[t];
    out[0] = new_tensor(c, x->name, ".q", t, FGQ_DT_U8, 1);
    out[1] = out[0] >= 0 ? new_tensor(c, x->name, ".scale", -1, FGQ_DT_F32, 1) : -1;
    out[2] = out[1] >= 0 ? new_tensor(c, x->name, ".zero", -1, FGQ_DT_U8, 1) : -1;
    if (out[2] < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    c->qg->tensors[out[1]].rank = 0;
    c->qg->tensors[out[2]].rank = 0;
    char name[512];
    snprintf(name, sizeof name, "%s.dynquant", x->name);
    int32_t nd = fgq_graph_add_node(c->qg, name, "DynQuantize", 1, &ft, 3, out);
    if (nd < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    if ((st = fgq_node_set_prelowered(&c->qg->nodes[nd], FGQ_OP_DYNQUANT, ip, fp, c->err)) != FGQ_OK)
        return st;
    memcpy(&c->dq[3 * t], out, 3 * sizeof *out);
    return FGQ_OK;
}

/* Weight node i as QCONV_DYN / QGEMM_DYN: x3 = its u8/s8 input, that input's
 * scale (f32 []) and zero point ([], the input's dtype), from a DYNQUANT or
 * constants; the weights qw, the float bias (bias correction applied) and the
 * fused activation in float; output y as f32. */
static fgq_status emit_qdyn_layer(qctx *c, int32_t i, const fgq_policy *pol, const fgq_ir_node *act_node, int32_t y,
                                  const int32_t x3[3], const fgq_layer_qweights *qw, const float *bias, const float *wr,
                                  int64_t rows, int64_t k)
{
    const fgq_graph *fg = c->fg;
    const fgq_ir_node *n = &fg->nodes[i];
    const int is_conv = fgq_node_is(n, "Conv");
    int32_t in[8], ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    fgq_status st;
    memcpy(in, x3, 3 * sizeof *in);
    int has_bias = 0;
    for (int64_t r = 0; r < rows; r++)
        has_bias |= bias[r] != 0.0f;
    int64_t wd[2] = {rows, qw->kp}, vd[1] = {rows}, gd[3] = {rows, qw->n_groups, 2};
    in[3] = new_const(c, n->name, ".w", 0, qw->dt, 2, wd, qw->codes, (size_t)(rows * qw->row_bytes));
    in[4] = new_const(c, n->name, ".w_scale", 0, FGQ_DT_F32, 1, vd, qw->s_row, (size_t)rows * sizeof(float));
    in[5] = has_bias ? new_const(c, n->name, ".b", 0, FGQ_DT_F32, 1, vd, bias, (size_t)rows * sizeof(float)) : -1;
    in[6] = qw->gs != NULL ? new_const(c, n->name, ".gs", 0, FGQ_DT_U8, qw->n_alpha == 2 ? 3 : 2, gd, qw->gs,
                                       (size_t)(rows * qw->n_groups * qw->n_alpha))
                           : -1;
    if (in[3] < 0 || in[4] < 0 || (has_bias && in[5] < 0) || (qw->gs != NULL && in[6] < 0))
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
    in[7] = is_conv ? -1 : new_wsum_const(c, n->name, qw, rows, k); /* WSUM, as for QGEMM */
    if (in[7] == -2)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
    if ((st = set_qparams(&c->qg->tensors[in[3]], (int32_t)rows, qw->s_row, NULL, 0,
                          qw->gs != NULL ? (int32_t)qw->group : 0, c->err)) != FGQ_OK)
        return st;
    if (is_conv) {
        fgq_lowered_node low;
        if ((st = fgq_lower_node(fg, i, &low, c->err)) != FGQ_OK)
            return st;
        memcpy(ip, low.iparams, FGQ_QP_X_ZERO * sizeof(int32_t));
        ip[FGQ_P_COUNT_PAD] = 0;
    }
    const int32_t act_slot = is_conv ? FGQ_P_ACT : FGQ_P_GEMM_ACT;
    ip[act_slot] = (int32_t)fgq_node_attr_int(act_node, FGQ_ATTR_ACT, FGQ_ACT_NONE);
    fp[FGQ_PF_ACT0] = ip[act_slot] == FGQ_ACT_CLIP ? fgq_node_attr_float(act_node, FGQ_ATTR_ACT_MIN, -INFINITY) : 0.0f;
    fp[FGQ_PF_ACT1] = ip[act_slot] == FGQ_ACT_CLIP ? fgq_node_attr_float(act_node, FGQ_ATTR_ACT_MAX, INFINITY) : 0.0f;
    if (qw->gs != NULL) {
        ip[FGQ_QP_W_GROUP] = (int32_t)qw->group;
        ip[FGQ_QP_W_NALPHA] = qw->n_alpha;
        ip[FGQ_QP_W_MMAX] = qw->mmax;
    }
    const fgq_ir_tensor *yt = &fg->tensors[y];
    int32_t yf = new_tensor(c, yt->name, ".f32", y, FGQ_DT_F32, 1);
    if (yf < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    c->fver[y] = yf;
    int32_t n_in = in[7] >= 0 ? 8 : qw->gs != NULL ? 7 : has_bias ? 6 : 5;
    if ((st = add_qnode(c, n->name, is_conv ? "QConvDyn" : "QGemmDyn", is_conv ? FGQ_OP_QCONV_DYN : FGQ_OP_QGEMM_DYN,
                        n_in, in, yf, ip, fp)) != FGQ_OK)
        return st;
    report_weight_layer(c, i, y, yf, pol, wr, qw->deq, rows * k, 8.0 * (double)qw->bytes / (double)(rows * k),
                        qw->solver, qw->solve_ms, qw->out_sqnr_db, qw->heldout_sqnr_db);
    return FGQ_OK;
}

/* Weight node i under --acts dynamic: DYNQUANT of its input, then QCONV_DYN /
 * QGEMM_DYN with float bias and the fused activation in float; output f32. */
static fgq_status quantize_weight_layer_dyn(qctx *c, int32_t i, const fgq_policy *pol, int32_t wt, int64_t rows,
                                            int64_t k, int transposed)
{
    const fgq_ir_node *n = &c->fg->nodes[i];
    int32_t y = n->outputs[0];
    const fgq_ir_node *act_node = n;
    float *bias = calloc((size_t)rows, sizeof(float));
    float *wr = malloc((size_t)(rows * k) * sizeof(float));
    fgq_layer_qweights qw;
    memset(&qw, 0, sizeof qw);
    fgq_status st = FGQ_OK;
    int32_t x3[3];
    if (bias == NULL || wr == NULL) {
        st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", n->name);
        goto done;
    }
    if ((st = gather_layer(c, i, wt, rows, k, transposed, wr, bias, &act_node, &y)) != FGQ_OK ||
        (st = get_dynquant(c, n->inputs[0], x3)) != FGQ_OK ||
        (st = fgq_quantize_layer_weights(&c->lc, i, pol, wr, rows, k, 255, NULL, &qw)) != FGQ_OK ||
        (st = fgq_bias_correct(&c->lc, i, pol, rows, k, wr, qw.deq, bias)) != FGQ_OK)
        goto done;
    st = emit_qdyn_layer(c, i, pol, act_node, y, x3, &qw, bias, wr, rows, k);
done:
    fgq_layer_qweights_free(&qw);
    free(bias);
    free(wr);
    return st;
}

/* Node i runs float; report it. */
static fgq_status float_node(qctx *c, int32_t i, const char *policy)
{
    fgq_status st = copy_node(c, i, NULL, -1);
    if (st != FGQ_OK)
        return st;
    int32_t y = c->fg->nodes[i].outputs[0];
    fgq_layer_report *r = new_report(c, i, y);
    snprintf(r->policy, sizeof r->policy, "%s", policy);
    r->bits = 32;
    r->q_tensor = c->fver[y];
    return FGQ_OK;
}

static void pass_report(qctx *c, int32_t i, int32_t y, int32_t yq)
{
    fgq_layer_report *r = new_report(c, i, y);
    r->quantized = 1;
    r->bits = act_bits(c);
    r->q_tensor = yq;
}

/* The quantized parameters tensor t has, or will have once get_quant makes it. */
static fgq_status input_params(qctx *c, int32_t t, fgq_affine_params *ap)
{
    if (c->qver[t] >= 0) {
        *ap = c->qpar[t];
        return FGQ_OK;
    }
    return act_params(c, t, ap);
}

/* Whether tensor t can be quantized (its parameters into *ap); 0, with nothing said, when its
 * calibration cannot give them (it held ±Inf, or has no statistics): the optional integer forms
 * (tables, activation MatMuls) then leave their node float, as before they existed. */
static int try_params(qctx *c, int32_t t, fgq_affine_params *ap)
{
    fgq_error quiet, *keep = c->err;
    fgq_error_clear(&quiet);
    c->err = &quiet;
    const fgq_status st = input_params(c, t, ap);
    c->err = keep;
    return st == FGQ_OK;
}

/* A product of two activations as one integer node `op` on their quantized tensors:
 * y = z_y + requant(products of (a − z_a)(b − z_b), s_a·s_b / s_y), z_b at iparam `zb_slot`, the clamp
 * from a fused activation. *done = 0 (the node stays float) when an operand or the output cannot be
 * quantized (±Inf in calibration), when fits() says the op cannot take these zero points (may be NULL),
 * or when the multiplier is outside the requantizer's range. */
static fgq_status quantize_act_product(qctx *c, int32_t i, fgq_op op, const char *label, int32_t zb_slot,
                                       int (*fits)(const qctx *, int32_t, int32_t, int32_t), int *done)
{
    const fgq_ir_node *n = &c->fg->nodes[i];
    const int32_t y = n->outputs[0];
    *done = 0;
    fgq_affine_params pa, pb, ay;
    if (!try_params(c, n->inputs[0], &pa) || !try_params(c, n->inputs[1], &pb) || !try_params(c, y, &ay) ||
        (fits != NULL && !fits(c, i, pa.zero_point, pb.zero_point)))
        return FGQ_OK;
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    fgq_error e2;
    fgq_error_clear(&e2);
    if (fgq_quantize_multiplier((double)pa.scale * (double)pb.scale / (double)ay.scale, &ip[FGQ_QP_REQ_MULT],
                                &ip[FGQ_QP_REQ_SHIFT], &e2) != FGQ_OK ||
        ip[FGQ_QP_REQ_SHIFT] < -31 || ip[FGQ_QP_REQ_SHIFT] > 31)
        return FGQ_OK;
    int32_t in[2], yq;
    fgq_status st;
    if ((st = get_quant(c, n->inputs[0], &in[0])) != FGQ_OK || (st = get_quant(c, n->inputs[1], &in[1])) != FGQ_OK)
        return st;
    ip[FGQ_QP_X_ZERO] = pa.zero_point;
    ip[zb_slot] = pb.zero_point;
    ip[FGQ_QP_Y_ZERO] = ay.zero_point;
    act_clamp(c, n, &ay, &ip[FGQ_QP_QMIN], &ip[FGQ_QP_QMAX]);
    if ((st = q_output_named(c, y, &ay, &yq)) != FGQ_OK || (st = add_qnode(c, n->name, label, op, 2, in, yq, ip, fp)) != FGQ_OK)
        return st;
    pass_report(c, i, y, yq);
    *done = 1;
    return FGQ_OK;
}

/* Mul of two activations (squeeze-excitation's x·gate, gated units) as QMUL (numpy broadcasting). */
static fgq_status quantize_act_mul(qctx *c, int32_t i, int *done)
{
    return quantize_act_product(c, i, FGQ_OP_QMUL, "QMul", FGQ_QP_ADD_B_ZERO, NULL, done);
}

/* Whether MATMUL_INT takes node i's operands (runtime/ops/qinteger.c): B's batch dims none or A's (no
 * broadcasting), and K · d_max(z_a) · d_max(z_b) within int32. */
static int matmul_int_fits(const qctx *c, int32_t i, int32_t za, int32_t zb)
{
    const fgq_ir_node *n = &c->fg->nodes[i];
    const fgq_ir_tensor *a = &c->fg->tensors[n->inputs[0]], *b = &c->fg->tensors[n->inputs[1]];
    if (a->rank < 2 || (b->rank != 2 && b->rank != a->rank) || b->dims[b->rank - 2] != a->dims[a->rank - 1])
        return 0;
    for (int32_t d = 0; b->rank > 2 && d + 2 < a->rank; d++)
        if (b->dims[d] != a->dims[d])
            return 0;
    int32_t lo, hi;
    fgq_q_act_range(c->act_dt, &lo, &hi);
    const int64_t da = za - lo > hi - za ? za - lo : hi - za, db = zb - lo > hi - zb ? zb - lo : hi - zb;
    const int64_t k = a->dims[a->rank - 1];
    return k >= 1 && k <= INT32_MAX / ((da > 0 ? da : 1) * (db > 0 ? db : 1));
}

/* MatMul of two activations (attention's Q·Kᵀ and P·V) as MATMUL_INT on the quantized operands:
 * y = z_y + requant(Σ_k (a − z_a)(b − z_b), s_a·s_b / s_y); float when matmul_int_fits says no. */
static fgq_status quantize_act_matmul(qctx *c, int32_t i, int *done)
{
    return quantize_act_product(c, i, FGQ_OP_MATMUL_INT, "MatMulInt", FGQ_QP_INT_W_ZERO, matmul_int_fits, done);
}

/* Sigmoid, HardSigmoid, HardSwish, Tanh of a quantized activation become one QLUT (lut.h), the output
 * quantized with its calibrated range as any other; a Sigmoid whose output feeds only Mul(x, Sigmoid(x))
 * (Swish as exporters write it, the Mul not kept float) becomes one QLUT for the pair, its output the
 * Mul's. *done = 0: the node is not one of these (or does not fit) and is left to the caller. */
static fgq_status quantize_lut(qctx *c, int32_t i, int *done)
{
    const fgq_graph *fg = c->fg;
    const fgq_ir_node *n = &fg->nodes[i];
    fgq_lut_fn fn;
    float alpha = 0.0f, beta = 0.0f;
    *done = 0;
    if (fgq_node_is(n, "Sigmoid"))
        fn = FGQ_LUT_SIGMOID;
    else if (fgq_node_is(n, "HardSigmoid")) {
        fn = FGQ_LUT_HARD_SIGMOID;
        alpha = fgq_node_attr_float(n, "alpha", 0.2f);
        beta = fgq_node_attr_float(n, "beta", 0.5f);
        if (!isfinite(alpha) || !isfinite(beta))
            return FGQ_OK;
    } else if (fgq_node_is(n, "HardSwish"))
        fn = FGQ_LUT_HARD_SWISH;
    else if (fgq_node_is(n, "Tanh"))
        fn = FGQ_LUT_TANH;
    else
        return FGQ_OK;
    if (n->n_inputs != 1 || n->n_outputs != 1 || !fgq_ir_is_f32_activation(fg, n->inputs[0]))
        return FGQ_OK;
    const int32_t x = n->inputs[0];
    int32_t y = n->outputs[0], mul = -1;
    if (fn == FGQ_LUT_SIGMOID && c->n_cons[y] == 1 && !fg->tensors[y].is_output) {
        const fgq_ir_node *m = &fg->nodes[c->cons[y]];
        const fgq_layer_override *mov = find_override(c, m->name);
        if (fgq_node_is(m, "Mul") && m->n_inputs == 2 && m->n_outputs == 1 && m->outputs[0] >= 0 &&
            ((m->inputs[0] == x && m->inputs[1] == y) || (m->inputs[0] == y && m->inputs[1] == x)) &&
            fg->tensors[m->outputs[0]].dtype == FGQ_DT_F32 && (mov == NULL || !mov->keep_float)) {
            mul = c->cons[y];
            fn = FGQ_LUT_SWISH;
            y = m->outputs[0];
        }
    }
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    int32_t in[2], yq;
    fgq_affine_params ay, ax_try;
    fgq_status st;
    if (!try_params(c, x, &ax_try) || !try_params(c, y, &ay))
        return FGQ_OK; /* an input or output calibration cannot quantize (±Inf): the node stays float */
    if ((st = get_quant(c, x, &in[0])) != FGQ_OK)
        return st;
    const fgq_affine_params ax = c->qpar[x];
    fgq_affine_params yp = ay;
    act_clamp(c, mul >= 0 ? &fg->nodes[mul] : n, &ay, &yp.qmin, &yp.qmax);
    uint8_t table[FGQ_QLUT_TABLE_LEN];
    if ((st = fgq_lut_build(fn, alpha, beta, c->act_dt, &ax, c->act_dt, &yp, table, c->err)) != FGQ_OK)
        return st;
    const int64_t td[1] = {FGQ_QLUT_TABLE_LEN};
    if ((in[1] = new_const(c, n->name, ".lut", 0, c->act_dt, 1, td, table, sizeof table)) < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory building the quantized graph");
    ip[FGQ_QP_LUT_FN] = fn;
    ip[FGQ_QP_X_ZERO] = ax.zero_point;
    ip[FGQ_QP_Y_ZERO] = ay.zero_point;
    ip[FGQ_QP_QMIN] = yp.qmin;
    ip[FGQ_QP_QMAX] = yp.qmax;
    fp[FGQ_QPF_LUT_ALPHA] = alpha;
    fp[FGQ_QPF_LUT_BETA] = beta;
    if ((st = q_output_named(c, y, &ay, &yq)) != FGQ_OK ||
        (st = add_qnode(c, n->name, "QLut", FGQ_OP_QLUT, 2, in, yq, ip, fp)) != FGQ_OK)
        return st;
    pass_report(c, i, y, yq);
    if (mul >= 0) {
        c->absorbed[mul] = 1;
        snprintf(c->rep[c->n_rep - 1].op, sizeof c->rep[c->n_rep - 1].op, "Sigmoid+Mul");
    }
    *done = 1;
    return FGQ_OK;
}

static fgq_status quantize_node(qctx *c, int32_t i)
{
    const fgq_graph *fg = c->fg;
    const fgq_ir_node *n = &fg->nodes[i];
    int32_t y = n->n_outputs > 0 ? n->outputs[0] : -1;
    const fgq_layer_override *ov = find_override(c, n->name);
    if (y < 0 || fg->tensors[y].dtype != FGQ_DT_F32 || (ov != NULL && ov->keep_float))
        return float_node(c, i, "f32");
    int32_t wt;
    int64_t rows, k;
    int transposed;
    if (fgq_quant_weight_layer(fg, i, &wt, &rows, &k, &transposed)) {
        fgq_policy pol = fgq_quant_base_policy(c->cfg, fg, i, c->first_w, c->last_w);
        if (ov != NULL)
            pol = ov->policy;
        if (pol.kind == FGQ_WQ_F32)
            return float_node(c, i, "f32");
        if (c->cfg->acts == FGQ_ACTS_DYNAMIC)
            return quantize_weight_layer_dyn(c, i, &pol, wt, rows, k, transposed);
        if (pol.kind == FGQ_WQ_U8)
            return quantize_u8_layer(c, i, &pol, wt, rows, k, transposed);
        return quantize_weight_layer(c, i, &pol, wt, rows, k, transposed);
    }
    if (c->cfg->acts == FGQ_ACTS_DYNAMIC) /* the graph between weight layers stays float */
        return float_node(c, i, "-");
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    fgq_status st;
    int lut_done = 0;
    if ((st = quantize_lut(c, i, &lut_done)) != FGQ_OK || lut_done)
        return st;
    if (fgq_node_is(n, "Add") && n->n_inputs == 2 && fgq_ir_is_f32_activation(fg, n->inputs[0]) && fgq_ir_is_f32_activation(fg, n->inputs[1])) {
        int32_t in[2];
        fgq_affine_params ay;
        if ((st = get_quant(c, n->inputs[0], &in[0])) != FGQ_OK || (st = get_quant(c, n->inputs[1], &in[1])) != FGQ_OK ||
            (st = act_params(c, y, &ay)) != FGQ_OK)
            return st;
        const fgq_affine_params a = c->qpar[n->inputs[0]], b = c->qpar[n->inputs[1]];
        const int32_t lsh = 20;
        double twice = 2.0 * (a.scale > b.scale ? a.scale : b.scale);
        fgq_error e2;
        fgq_error_clear(&e2);
        if (fgq_quantize_multiplier(a.scale / twice, &ip[FGQ_QP_ADD_A_MULT], &ip[FGQ_QP_ADD_A_SHIFT], &e2) != FGQ_OK ||
            fgq_quantize_multiplier(b.scale / twice, &ip[FGQ_QP_ADD_B_MULT], &ip[FGQ_QP_ADD_B_SHIFT], &e2) != FGQ_OK ||
            fgq_quantize_multiplier(twice / (ldexp(1.0, lsh) * ay.scale), &ip[FGQ_QP_REQ_MULT], &ip[FGQ_QP_REQ_SHIFT],
                                    &e2) != FGQ_OK)
            return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "node '%s' (Add): scales out of range: %s", n->name, e2.msg);
        ip[FGQ_QP_ADD_LEFT_SHIFT] = lsh;
        ip[FGQ_QP_ADD_B_ZERO] = b.zero_point;
        ip[FGQ_QP_X_ZERO] = a.zero_point;
        ip[FGQ_QP_Y_ZERO] = ay.zero_point;
        act_clamp(c, n, &ay, &ip[FGQ_QP_QMIN], &ip[FGQ_QP_QMAX]);
        int32_t yq;
        if ((st = q_output_named(c, y, &ay, &yq)) != FGQ_OK ||
            (st = add_qnode(c, n->name, "QAdd", FGQ_OP_QADD, 2, in, yq, ip, fp)) != FGQ_OK)
            return st;
        pass_report(c, i, y, yq);
        return FGQ_OK;
    }
    if (fgq_node_is(n, "Mul") && n->n_inputs == 2 && fgq_ir_is_f32_activation(fg, n->inputs[0]) &&
        fgq_ir_is_f32_activation(fg, n->inputs[1])) {
        int mul_done = 0;
        if ((st = quantize_act_mul(c, i, &mul_done)) != FGQ_OK || mul_done)
            return st;
    }
    if (fgq_node_is(n, "MatMul") && n->n_inputs == 2 && fgq_ir_is_f32_activation(fg, n->inputs[0]) &&
        fgq_ir_is_f32_activation(fg, n->inputs[1])) {
        int done = 0;
        if ((st = quantize_act_matmul(c, i, &done)) != FGQ_OK || done)
            return st;
    }
    int is_max = fgq_node_is(n, "MaxPool"), is_avg = fgq_node_is(n, "AveragePool"), is_gap = fgq_node_is(n, "GlobalAveragePool");
    if ((is_max || is_avg || is_gap) && n->n_inputs >= 1 && fgq_ir_is_f32_activation(fg, n->inputs[0]) &&
        (n->n_outputs == 1 || n->outputs[1] < 0 || c->n_cons[n->outputs[1]] == 0)) {
        fgq_lowered_node low;
        int32_t xq, yq;
        if ((st = fgq_lower_node(fg, i, &low, c->err)) != FGQ_OK || (st = get_quant(c, n->inputs[0], &xq)) != FGQ_OK)
            return st;
        const fgq_affine_params a = c->qpar[n->inputs[0]];
        memcpy(ip, low.iparams, FGQ_QP_X_ZERO * sizeof(int32_t));
        ip[FGQ_QP_X_ZERO] = a.zero_point;
        ip[FGQ_QP_Y_ZERO] = a.zero_point;
        ip[FGQ_QP_QMIN] = c->act_qmin;
        ip[FGQ_QP_QMAX] = c->act_qmax;
        fgq_op op = is_max ? FGQ_OP_QMAXPOOL : is_avg ? FGQ_OP_QAVGPOOL : FGQ_OP_QGLOBAL_AVGPOOL;
        if ((st = q_output_named(c, y, &a, &yq)) != FGQ_OK ||
            (st = add_qnode(c, n->name, is_max ? "QMaxPool" : is_avg ? "QAveragePool" : "QGlobalAveragePool", op, 1,
                            &xq, yq, ip, fp)) != FGQ_OK)
            return st;
        pass_report(c, i, y, yq);
        return FGQ_OK;
    }
    if (fgq_node_is(n, "Concat") && n->n_inputs >= 1 && n->n_inputs <= FGQ_QCONCAT_MAX_INPUTS) {
        int ok = 1;
        for (int32_t k2 = 0; k2 < n->n_inputs; k2++)
            ok &= fgq_ir_is_f32_activation(fg, n->inputs[k2]);
        if (ok) {
            fgq_lowered_node low;
            int32_t in[FGQ_QCONCAT_MAX_INPUTS], yq;
            if ((st = fgq_lower_node(fg, i, &low, c->err)) != FGQ_OK)
                return st;
            float lo = 0.0f, hi = 0.0f;
            for (int32_t k2 = 0; k2 < n->n_inputs; k2++) {
                if ((st = get_quant(c, n->inputs[k2], &in[k2])) != FGQ_OK)
                    return st;
                const fgq_affine_params a = c->qpar[n->inputs[k2]];
                float l = a.scale * (float)(a.qmin - a.zero_point), h = a.scale * (float)(a.qmax - a.zero_point);
                lo = l < lo ? l : lo;
                hi = h > hi ? h : hi;
            }
            fgq_affine_params ay;
            if ((st = fgq_affine_choose_tf(lo, hi, c->act_qmin, c->act_qmax, &ay, c->err)) != FGQ_OK)
                return st;
            ip[FGQ_QP_CONCAT_AXIS] = low.iparams[0];
            ip[FGQ_QP_CONCAT_Y_ZERO] = ay.zero_point;
            for (int32_t k2 = 0; k2 < n->n_inputs; k2++) {
                const fgq_affine_params a = c->qpar[n->inputs[k2]];
                int32_t *slot = &ip[FGQ_QP_CONCAT_IN + 3 * k2];
                slot[0] = a.zero_point;
                if (a.scale != ay.scale) {
                    fgq_error e2;
                    fgq_error_clear(&e2);
                    if (fgq_quantize_multiplier((double)a.scale / (double)ay.scale, &slot[1], &slot[2], &e2) != FGQ_OK)
                        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "node '%s' (Concat): %s", n->name, e2.msg);
                }
            }
            if ((st = q_output_named(c, y, &ay, &yq)) != FGQ_OK ||
                (st = add_qnode(c, n->name, "QConcat", FGQ_OP_QCONCAT, n->n_inputs, in, yq, ip, fp)) != FGQ_OK)
                return st;
            pass_report(c, i, y, yq);
            return FGQ_OK;
        }
    }
    static const char *const moves[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity",
                                        "Dropout"};
    for (size_t m = 0; m < sizeof moves / sizeof moves[0]; m++) {
        if (!fgq_node_is(n, moves[m]) || n->n_inputs < 1 || !fgq_ir_is_f32_activation(fg, n->inputs[0]) || c->qver[n->inputs[0]] < 0)
            continue;
        int32_t in_map[FGQ_LOWER_MAX_INPUTS], yq;
        for (int32_t k2 = 0; k2 < FGQ_LOWER_MAX_INPUTS; k2++)
            in_map[k2] = -1;
        in_map[0] = c->qver[n->inputs[0]];
        const fgq_affine_params a = c->qpar[n->inputs[0]];
        if ((st = q_output_named(c, y, &a, &yq)) != FGQ_OK || (st = copy_node(c, i, in_map, yq)) != FGQ_OK)
            return st;
        pass_report(c, i, y, yq);
        return FGQ_OK;
    }
    return float_node(c, i, "f32");
}

/* ---- driver ---------------------------------------------------------------------------- */

fgq_status fgq_quant_config_check(const fgq_quant_config *cfg, fgq_error *err)
{
    if (cfg->acts < FGQ_ACTS_U8 || cfg->acts > FGQ_ACTS_DYNAMIC)
        return fgq_fail(err, FGQ_ERR_VALUE, "unknown activation kind %d", (int)cfg->acts);
    if (cfg->bias_correction < FGQ_BC_DEFAULT || cfg->bias_correction > FGQ_BC_ON)
        return fgq_fail(err, FGQ_ERR_VALUE, "unknown bias correction mode %d", (int)cfg->bias_correction);
    if (cfg->io_quantized && cfg->acts != FGQ_ACTS_U8 && cfg->acts != FGQ_ACTS_S8)
        return fgq_fail(err, FGQ_ERR_VALUE, "--io quantized needs u8 or s8 activations (%s)",
                        cfg->acts == FGQ_ACTS_DYNAMIC ? "dynamic ones have no fixed scale"
                                                      : "u4 keeps 16 levels in a u8, which a caller would have to clamp");
    return FGQ_OK;
}

fgq_policy fgq_quant_base_policy(const fgq_quant_config *cfg, const fgq_graph *fg, int32_t node, int32_t first,
                                 int32_t last)
{
    if (cfg->edge_set && (node == first || node == last))
        return cfg->edge;
    if (cfg->dw_set && fgq_quant_is_depthwise(fg, node))
        return cfg->dw;
    return cfg->weights;
}

int fgq_quant_layer_policy(const fgq_graph *fg, const fgq_quant_config *cfg, int32_t node, fgq_policy *pol)
{
    int32_t wt, first = -1, last = -1;
    int64_t rows, k;
    int tr;
    if (node < 0 || node >= fg->n_nodes || !fgq_quant_weight_layer(fg, node, &wt, &rows, &k, &tr))
        return 0;
    const fgq_ir_node *n = &fg->nodes[node];
    if (n->n_outputs < 1 || n->outputs[0] < 0 || fg->tensors[n->outputs[0]].dtype != FGQ_DT_F32)
        return 0;
    for (int32_t i = 0; i < fg->n_nodes; i++)
        if (fgq_quant_weight_layer(fg, i, &wt, &rows, &k, &tr)) {
            if (first < 0)
                first = i;
            last = i;
        }
    fgq_policy p = fgq_quant_base_policy(cfg, fg, node, first, last);
    const fgq_layer_override *ov = NULL;
    for (int32_t o = 0; o < cfg->n_overrides; o++)
        if (strcmp(cfg->overrides[o].node, n->name) == 0)
            ov = &cfg->overrides[o];
    if (ov != NULL && ov->keep_float)
        return 0;
    if (ov != NULL)
        p = ov->policy;
    if (p.kind == FGQ_WQ_F32)
        return 0;
    *pol = p;
    return 1;
}

fgq_status fgq_quant_config_check_graph(const fgq_quant_config *cfg, const fgq_graph *fg, fgq_error *err)
{
    for (int32_t o = 0; o < cfg->n_overrides; o++) {
        int found = 0;
        for (int32_t i = 0; i < fg->n_nodes && !found; i++)
            found = strcmp(fg->nodes[i].name, cfg->overrides[o].node) == 0;
        if (!found)
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: no node named '%s' (--keep-float / --layer)",
                            fg->source_path ? fg->source_path : "model", cfg->overrides[o].node);
    }
    return FGQ_OK;
}

fgq_status fgq_quantize_graph(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                              fgq_graph **out, fgq_layer_report **layers, int32_t *n_layers, fgq_error *err)
{
    *out = NULL;
    *layers = NULL;
    *n_layers = 0;
    fgq_status cst = fgq_quant_config_check(cfg, err);
    if (cst != FGQ_OK)
        return cst;
    if (calib == NULL && cfg->acts != FGQ_ACTS_DYNAMIC)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: activations %s need calibration statistics",
                        fg->source_path ? fg->source_path : "model", cfg->acts == FGQ_ACTS_S8 ? "s8" : cfg->acts == FGQ_ACTS_U4 ? "u4" : "u8");
    if ((cst = fgq_quant_config_check_graph(cfg, fg, err)) != FGQ_OK)
        return cst;
    qctx c;
    memset(&c, 0, sizeof c);
    c.fg = fg;
    c.calib = calib;
    c.cfg = cfg;
    c.err = err;
    c.lc.fg = fg;
    c.lc.cfg = cfg;
    c.lc.err = err;
    c.act_dt = cfg->acts == FGQ_ACTS_S8 ? FGQ_DT_S8 : FGQ_DT_U8;
    c.act_qmin = cfg->acts == FGQ_ACTS_S8 ? -128 : 0;
    c.act_qmax = cfg->acts == FGQ_ACTS_S8 ? 127 : cfg->acts == FGQ_ACTS_U4 ? 15 : 255;
    size_t nt = (size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1), nn = (size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1);
    c.qg = fgq_graph_new();
    c.fver = malloc(nt * sizeof *c.fver);
    c.qver = malloc(nt * sizeof *c.qver);
    c.qpar = calloc(nt, sizeof *c.qpar);
    c.n_cons = calloc(nt, sizeof *c.n_cons);
    c.cons = calloc(nt, sizeof *c.cons);
    c.absorbed = calloc(nn, 1);
    c.dq = malloc(3 * nt * sizeof *c.dq);
    c.rep = calloc(nn, sizeof *c.rep);
    fgq_status st = FGQ_OK;
    if (c.qg == NULL || c.fver == NULL || c.qver == NULL || c.qpar == NULL || c.n_cons == NULL || c.cons == NULL ||
        c.absorbed == NULL || c.dq == NULL || c.rep == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory quantizing the model");
        goto done;
    }
    for (size_t t = 0; t < nt; t++)
        c.fver[t] = c.qver[t] = c.dq[3 * t] = c.dq[3 * t + 1] = c.dq[3 * t + 2] = -1;
    for (int32_t i = 0; i < fg->n_nodes; i++)
        for (int32_t k = 0; k < fg->nodes[i].n_inputs; k++)
            if (fg->nodes[i].inputs[k] >= 0) {
                c.n_cons[fg->nodes[i].inputs[k]]++;
                c.cons[fg->nodes[i].inputs[k]] = i;
            }
    for (int32_t o = 0; o < fg->n_outputs; o++)
        c.n_cons[fg->outputs[o]]++;
    c.first_w = c.last_w = -1;
    for (int32_t i = 0; i < fg->n_nodes; i++) {
        int32_t wt;
        int64_t r, k;
        int tr;
        if (fgq_quant_weight_layer(fg, i, &wt, &r, &k, &tr)) {
            if (c.first_w < 0)
                c.first_w = i;
            c.last_w = i;
        }
    }
    c.qg->opset = fg->opset;
    if (fg->source_path != NULL && (c.qg->source_path = dup_str(fg->source_path)) == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
        goto done;
    }
    c.qg->inputs = malloc((size_t)(fg->n_inputs > 0 ? fg->n_inputs : 1) * sizeof(int32_t));
    c.qg->outputs = malloc((size_t)(fg->n_outputs > 0 ? fg->n_outputs : 1) * sizeof(int32_t));
    if (c.qg->inputs == NULL || c.qg->outputs == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < fg->n_inputs; i++) {
        int32_t t = fg->inputs[i];
        int32_t it = new_tensor(&c, fg->tensors[t].name, "_", t, fg->tensors[t].dtype, 1);
        if (it < 0) {
            st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
            goto done;
        }
        c.qg->tensors[it].kind = FGQ_TK_INPUT;
        c.qg->inputs[c.qg->n_inputs++] = c.fver[t] = it;
    }
    /* quantized I/O: every float input quantized up front, so that layout ops after it (a Reshape
     * or Transpose from NHWC) move codes instead of running float before the QUANTIZE; the rewrite
     * (quantized_io.h) then drops the QUANTIZE, or it, unread, where float nodes take the input */
    for (int32_t i = 0; cfg->io_quantized && i < fg->n_inputs && st == FGQ_OK; i++) {
        int32_t q;
        if (fg->tensors[fg->inputs[i]].dtype == FGQ_DT_F32)
            st = get_quant(&c, fg->inputs[i], &q);
    }
    for (int32_t i = 0; i < fg->n_nodes && st == FGQ_OK; i++)
        if (!c.absorbed[i])
            st = quantize_node(&c, i);
    for (int32_t o = 0; o < fg->n_outputs && st == FGQ_OK; o++) {
        int32_t ft;
        st = get_float(&c, fg->outputs[o], &ft);
        if (st == FGQ_OK) {
            c.qg->outputs[c.qg->n_outputs++] = ft;
            c.qg->tensors[ft].is_output = 1;
        }
    }
done:
    free(c.fver);
    free(c.qver);
    free(c.qpar);
    free(c.n_cons);
    free(c.cons);
    free(c.absorbed);
    free(c.dq);
    if (st != FGQ_OK) {
        fgq_graph_free(c.qg);
        free(c.rep);
        return st;
    }
    *out = c.qg;
    *layers = c.rep;
    *n_layers = c.n_rep;
    return FGQ_OK;
}

int fgq_quant_config_wants_means(const fgq_quant_config *cfg)
{
    if (cfg->bias_correction == FGQ_BC_ON)
        return 1;
    if (cfg->bias_correction != FGQ_BC_DEFAULT)
        return 0;
    int want = fgq_wq_below_8_bits(cfg->weights.kind) || (cfg->edge_set && fgq_wq_below_8_bits(cfg->edge.kind)) ||
               (cfg->dw_set && fgq_wq_below_8_bits(cfg->dw.kind));
    for (int32_t o = 0; o < cfg->n_overrides; o++)
        want |= !cfg->overrides[o].keep_float && fgq_wq_below_8_bits(cfg->overrides[o].policy.kind);
    return want;
}

fgq_status fgq_weight_solver_parse(const char *text, fgq_weight_solver *out, fgq_error *err)
{
    if (text != NULL && strcmp(text, "rtn") == 0) {
        *out = FGQ_SOLVER_RTN;
        return FGQ_OK;
    }
    if (text != NULL && strcmp(text, "gptq") == 0) {
        *out = FGQ_SOLVER_GPTQ;
        return FGQ_OK;
    }
    return fgq_fail(err, FGQ_ERR_VALUE, "solver '%s': expected rtn or gptq", text ? text : "");
}
