/* sequential.c — quantized-prefix statistics and output-matching targets; see sequential.h. */
#include "quant/solve/sequential.h"

#include "quant/format/weights.h"
#include "quant/stats/hessian.h"
#include "run/run_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_DAMP 0.01

/* Where one runner's observer finds a layer's input: the outputs of node
 * `producer` (k-th output), or graph input k when producer < 0. */
typedef struct {
    int32_t producer, k;
    float *copy;     /* numel floats: the sample's layer input */
    int64_t numel;
    int seen;
} tap;

static void tap_observe(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    tap *t = user;
    if (node != t->producer || t->k >= n_outputs || outputs[t->k] == NULL || outputs[t->k]->dtype != FGQ_DT_F32)
        return;
    int64_t n = 1;
    for (int32_t d = 0; d < outputs[t->k]->rank; d++)
        n *= outputs[t->k]->dims[d];
    if (n != t->numel)
        return;
    memcpy(t->copy, outputs[t->k]->data, (size_t)n * sizeof(float));
    t->seen = 1;
}

static int tap_at(const fgq_graph *g, int32_t tensor, tap *t)
{
    t->producer = g->tensors[tensor].producer;
    t->k = 0;
    if (t->producer < 0) { /* a graph input (or a constant): read from the sample */
        for (int32_t k = 0; k < g->n_inputs; k++)
            if (g->inputs[k] == tensor) {
                t->k = k;
                return 1;
            }
        return 0;
    }
    const fgq_ir_node *p = &g->nodes[t->producer];
    for (int32_t k = 0; k < p->n_outputs; k++)
        if (p->outputs[k] == tensor) {
            t->k = k;
            return 1;
        }
    return 0;
}

static fgq_status tap_run(fgq_graph_runner *r, tap *t, const void *const *x, float *const *outs, fgq_error *err)
{
    t->seen = 0;
    if (t->producer < 0) {
        memcpy(t->copy, x[t->k], (size_t)t->numel * sizeof(float));
        t->seen = 1;
    }
    fgq_status st =
        fgq_graph_runner_run(r, (const float *const *)x, outs, t->producer >= 0 ? tap_observe : NULL, t, err);
    if (st == FGQ_OK && !t->seen)
        st = fgq_fail(err, FGQ_ERR_FORMAT, "error compensation: a layer input was not observed in a pass");
    return st;
}

/* Output buffers for a runner's graph outputs. */
static float **alloc_outputs(const fgq_graph_runner *r, int32_t n_out, fgq_error *err)
{
    float **outs = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *outs);
    if (outs == NULL) {
        fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int32_t i = 0; i < n_out; i++) {
        fgq_tensor_info info;
        fgq_model_output_info(&r->model, i, &info);
        if ((outs[i] = malloc((size_t)info.size_bytes + 1)) == NULL) {
            for (int32_t j = 0; j < i; j++)
                free(outs[j]);
            free(outs);
            fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
            return NULL;
        }
    }
    return outs;
}

static void free_outputs(float **outs, int32_t n_out)
{
    for (int32_t i = 0; outs != NULL && i < n_out; i++)
        free(outs[i]);
    free(outs);
}

/* Cholesky A = L·Lᵀ in place (lower), k x k; 0 when A is not positive definite. */
static int cholesky(double *a, int64_t k)
{
    for (int64_t j = 0; j < k; j++) {
        double d = a[j * k + j];
        for (int64_t t = 0; t < j; t++)
            d -= a[j * k + t] * a[j * k + t];
        if (!(d > 0.0) || !isfinite(d))
            return 0;
        const double l = sqrt(d);
        a[j * k + j] = l;
        for (int64_t i = j + 1; i < k; i++) {
            double s = a[i * k + j];
            for (int64_t t = 0; t < j; t++)
                s -= a[i * k + t] * a[j * k + t];
            a[i * k + j] = s / l;
        }
    }
    return 1;
}

/* Solves L·Lᵀ·y = b in place. */
static void chol_solve(const double *l, int64_t k, double *b)
{
    for (int64_t i = 0; i < k; i++) {
        double s = b[i];
        for (int64_t t = 0; t < i; t++)
            s -= l[i * k + t] * b[t];
        b[i] = s / l[i * k + i];
    }
    for (int64_t i = k - 1; i >= 0; i--) {
        double s = b[i];
        for (int64_t t = i + 1; t < k; t++)
            s -= l[t * k + i] * b[t];
        b[i] = s / l[i * k + i];
    }
}

static fgq_status save_and_replace(fgq_sequential *s, fgq_graph *fg, int32_t t, void *fresh, fgq_error *err)
{
    fgq_sequential_saved *ns = realloc(s->saved, (size_t)(s->n_saved + 1) * sizeof *ns);
    if (ns == NULL) {
        free(fresh);
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    }
    s->saved = ns;
    for (int32_t i = 0; i < s->n_saved; i++)
        if (s->saved[i].tensor == t) { /* already replaced once: keep the original, drop the older target */
            free(fg->tensors[t].data);
            fg->tensors[t].data = fresh;
            return FGQ_OK;
        }
    s->saved[s->n_saved].tensor = t;
    s->saved[s->n_saved].data = fg->tensors[t].data;
    s->n_saved++;
    fg->tensors[t].data = fresh;
    return FGQ_OK;
}

/* The bias input of a Conv / Gemm weight layer: a float constant of `rows`
 * elements (-1 when there is none). */
static int32_t layer_bias(const fgq_graph *fg, int32_t node, int64_t rows)
{
    const fgq_ir_node *n = &fg->nodes[node];
    if (!(fgq_node_is(n, "Conv") || fgq_node_is(n, "Gemm")) || n->n_inputs < 3 || n->inputs[2] < 0)
        return -1;
    const int32_t b = n->inputs[2];
    if (!fgq_ir_is_f32_const(fg, b) || fgq_ir_tensor_numel(&fg->tensors[b]) != rows)
        return -1;
    /* Gemm computes alpha·W·x + beta·C: only the plain form takes the shift as it is */
    if (fgq_node_is(n, "Gemm") && (fg->tensors[b].rank != 1 || fgq_node_attr_float(n, "alpha", 1.0f) != 1.0f ||
                                   fgq_node_attr_float(n, "beta", 1.0f) != 1.0f))
        return -1;
    return b;
}

/* A layer whose weight (or bias) another node also reads cannot take a
 * target of its own: it keeps W and its float statistics. */
static int owns_params(const fgq_graph *fg, int32_t node, const fgq_layer_view *v)
{
    int32_t wt;
    int64_t rows, k;
    int tr;
    if (!fgq_quant_weight_layer(fg, node, &wt, &rows, &k, &tr) || fgq_graph_tensor_uses(fg, wt) != 1)
        return 0;
    const int32_t bt = layer_bias(fg, node, v->rows);
    return bt < 0 || fgq_graph_tensor_uses(fg, bt) == 1;
}

/* Per-layer sums of one pass. */
typedef struct {
    fgq_layer_view v;
    double *h[2];      /* H̃ fit / held-out: groups·k·k */
    double *p;         /* P (fit samples): groups·k·k */
    double *sx, *sxt;  /* column sums (all samples): groups·k */
    double *mean_xt;   /* elementwise sum of x̃: numel */
    int64_t samples[2];
} layer_sums;

static void layer_sums_free(layer_sums *l)
{
    free(l->h[0]);
    free(l->h[1]);
    free(l->p);
    free(l->sx);
    free(l->sxt);
    free(l->mean_xt);
    memset(l, 0, sizeof *l);
}

/* W* and b* of layer `node` from the sums; written into fg (originals saved). */
static fgq_status set_target(fgq_sequential *s, fgq_graph *fg, int32_t node, const layer_sums *l, fgq_error *err)
{
    int32_t wt;
    int64_t rows, k;
    int tr;
    if (!fgq_quant_weight_layer(fg, node, &wt, &rows, &k, &tr) || rows != l->v.rows || k != l->v.k)
        return fgq_fail(err, FGQ_ERR_FORMAT, "error compensation: layer '%s' changed shape", fg->nodes[node].name);
    const int64_t groups = l->v.groups, rg = rows / groups;
    const float *w = fg->tensors[wt].data;
    float *wn = malloc((size_t)(rows * k) * sizeof(float));
    double *a = malloc((size_t)(k * k) * sizeof(double)), *d = malloc((size_t)k * sizeof(double));
    const int32_t bt = layer_bias(fg, node, rows);
    float *bn = bt >= 0 ? malloc((size_t)rows * sizeof(float)) : NULL;
    fgq_status st = FGQ_OK;
    if (wn == NULL || a == NULL || d == NULL || (bt >= 0 && bn == NULL))
        st = fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: out of memory for layer '%s'", fg->nodes[node].name);
    const double n_pos = (double)(l->samples[0] + l->samples[1]) * (double)fgq_layer_positions(&l->v);
    for (int64_t g = 0; g < groups && st == FGQ_OK; g++) {
        const double *h = l->h[0] + g * k * k, *p = l->p + g * k * k;
        double mean = 0.0;
        for (int64_t i = 0; i < k; i++)
            mean += h[i * k + i];
        mean /= (double)k;
        const double delta = TARGET_DAMP * (mean > 0.0 ? mean : 1.0);
        memcpy(a, h, (size_t)(k * k) * sizeof(double));
        for (int64_t i = 0; i < k; i++)
            a[i * k + i] += delta;
        const int ok = cholesky(a, k);
        for (int64_t r = g * rg; r < (g + 1) * rg; r++) {
            /* row r of W in [rows, k] order (stored transposed for Gemm without transB / MatMul) */
            for (int64_t j = 0; j < k; j++) { /* d = w_r·(P − H̃) */
                double acc = 0.0;
                for (int64_t i = 0; i < k; i++) {
                    const double wi = tr ? w[i * rows + r] : w[r * k + i];
                    acc += wi * (p[i * k + j] - h[i * k + j]);
                }
                d[j] = acc;
            }
            if (ok)
                chol_solve(a, k, d);
            double bx = 0.0, bxt = 0.0;
            for (int64_t j = 0; j < k; j++) {
                const double wj = tr ? w[j * rows + r] : w[r * k + j];
                const double wsj = ok ? wj + d[j] : wj;
                wn[tr ? j * rows + r : r * k + j] = (float)wsj;
                if (n_pos > 0) {
                    bx += wj * l->sx[g * k + j] / n_pos;
                    bxt += wsj * l->sxt[g * k + j] / n_pos;
                }
            }
            if (bn != NULL)
                bn[r] = (float)((double)((const float *)fg->tensors[bt].data)[r] + bx - bxt);
        }
    }
    free(a);
    free(d);
    for (int64_t i = 0; st == FGQ_OK && i < rows * k; i++)
        if (!isfinite(wn[i]))
            st = fgq_fail(err, FGQ_ERR_VALUE, "error compensation: the target weights of '%s' are not finite",
                          fg->nodes[node].name);
    if (st == FGQ_OK) {
        st = save_and_replace(s, fg, wt, wn, err); /* takes wn, also on failure */
    } else {
        free(wn);
    }
    if (st == FGQ_OK && bn != NULL)
        st = save_and_replace(s, fg, bt, bn, err);
    else
        free(bn);
    return st;
}

/* One pass for layer `node`: the float runner and the partly-quantized one,
 * side by side, feeding l. */
static fgq_status gather(const fgq_graph *fg, fgq_graph_runner *fr, const fgq_graph *qg, int32_t node,
                         const fgq_samples *samples, int32_t threads, layer_sums *l, const fgq_stage_progress *progress,
                         int64_t done0, int64_t total, fgq_error *err)
{
    const int32_t xin = fg->nodes[node].inputs[0];
    const int64_t numel = fgq_ir_tensor_numel(&fg->tensors[xin]);
    int32_t qnode = -1;
    for (int32_t j = 0; j < qg->n_nodes && qnode < 0; j++)
        if (strcmp(qg->nodes[j].name, fg->nodes[node].name) == 0)
            qnode = j;
    tap tf, tq;
    memset(&tf, 0, sizeof tf);
    memset(&tq, 0, sizeof tq);
    if (qnode < 0 || qg->nodes[qnode].n_inputs < 1 || qg->nodes[qnode].inputs[0] < 0 || !tap_at(fg, xin, &tf) ||
        !tap_at(qg, qg->nodes[qnode].inputs[0], &tq) ||
        fgq_ir_tensor_numel(&qg->tensors[qg->nodes[qnode].inputs[0]]) != numel ||
        qg->tensors[qg->nodes[qnode].inputs[0]].dtype != FGQ_DT_F32)
        return fgq_fail(err, FGQ_ERR_FORMAT, "error compensation: the float input of '%s' is not found in the "
                                             "partly quantized model", fg->nodes[node].name);
    tf.numel = tq.numel = numel;
    tf.copy = malloc((size_t)numel * sizeof(float));
    tq.copy = malloc((size_t)numel * sizeof(float));
    fgq_graph_runner qr;
    memset(&qr, 0, sizeof qr);
    fgq_status st = tf.copy == NULL || tq.copy == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "out of memory") : FGQ_OK;
    int q_init = 0;
    if (st == FGQ_OK && (st = fgq_graph_runner_init(&qr, qg, err)) == FGQ_OK) {
        q_init = 1;
        if (threads > 1 && fgq_graph_runner_set_threads(&qr, threads, err) != FGQ_OK)
            fgq_error_clear(err);
    }
    float **fo = NULL, **qo = NULL;
    if (st == FGQ_OK && ((fo = alloc_outputs(fr, fg->n_outputs, err)) == NULL ||
                         (qo = alloc_outputs(&qr, qg->n_outputs, err)) == NULL))
        st = FGQ_ERR_NOMEM;
    const int64_t n = samples->n;
    const void *x[FGQ_SAMPLES_MAX_INPUTS];
    for (int64_t s = 0; st == FGQ_OK && s < n; s++) {
        fgq_samples_at(samples, s, x);
        if ((st = tap_run(fr, &tf, x, fo, err)) != FGQ_OK || (st = tap_run(&qr, &tq, x, qo, err)) != FGQ_OK)
            break;
        const int part = n >= FGQ_HESSIAN_VAL_EVERY && s % FGQ_HESSIAN_VAL_EVERY == FGQ_HESSIAN_VAL_EVERY - 1
                             ? FGQ_H_VAL
                             : FGQ_H_FIT;
        if ((st = fgq_hessian_add(&l->v, tq.copy, l->h[part], NULL, err)) != FGQ_OK ||
            (st = fgq_hessian_add_cross(&l->v, tf.copy, tq.copy, part == FGQ_H_FIT ? l->p : NULL, l->sx, l->sxt,
                                        err)) != FGQ_OK)
            break;
        for (int64_t e = 0; e < numel; e++)
            l->mean_xt[e] += (double)tq.copy[e];
        l->samples[part]++;
        if (progress != NULL && progress->update != NULL)
            progress->update(progress->user, done0 + s + 1, total);
    }
    free_outputs(fo, fg->n_outputs);
    free_outputs(qo, qg->n_outputs);
    if (q_init)
        fgq_graph_runner_free(&qr);
    free(tf.copy);
    free(tq.copy);
    return st;
}

/* The keep-float overrides for every quantized weight layer from `from` on,
 * after cfg's own. */
static fgq_layer_override *mixed_overrides(const fgq_graph *fg, const fgq_quant_config *cfg, int32_t from,
                                           int32_t *n_out)
{
    fgq_layer_override *ov = malloc((size_t)(cfg->n_overrides + fg->n_nodes + 1) * sizeof *ov);
    if (ov == NULL)
        return NULL;
    int32_t n = 0;
    for (int32_t o = 0; o < cfg->n_overrides; o++)
        ov[n++] = cfg->overrides[o];
    fgq_policy pol;
    for (int32_t j = from; j < fg->n_nodes; j++)
        if (fgq_quant_layer_policy(fg, cfg, j, &pol)) {
            memset(&ov[n], 0, sizeof ov[n]);
            ov[n].node = fg->nodes[j].name;
            ov[n].keep_float = 1;
            n++;
        }
    *n_out = n;
    return ov;
}

fgq_status fgq_sequential_run(fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                              const fgq_samples *samples, int32_t threads, const fgq_stage_progress *progress,
                              fgq_sequential *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    const int64_t n = samples->n;
    if (n < 1 || samples->n_inputs != fg->n_inputs)
        return fgq_fail(err, FGQ_ERR_VALUE, "sequential statistics need calibration samples for every model input");
    fgq_status st = FGQ_OK;
    out->hessians.n_nodes = fg->n_nodes;
    out->hessians.layer = calloc((size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1), sizeof *out->hessians.layer);
    out->means.n_tensors = fg->n_tensors;
    out->means.n_samples = n;
    out->means.mean = calloc((size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1), sizeof *out->means.mean);
    /* pointer views (no ownership) of the statistics the partly quantized models use */
    fgq_hessians mixed_h = {fg->n_nodes, calloc((size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1), sizeof(void *))};
    fgq_input_means mixed_m = {fg->n_tensors, n, calloc((size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1),
                                                        sizeof(double *))};
    if (out->hessians.layer == NULL || out->means.mean == NULL || mixed_h.layer == NULL || mixed_m.mean == NULL)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    /* which layers, for the progress total */
    int32_t n_layers = 0;
    fgq_policy pol;
    for (int32_t i = 0; i < fg->n_nodes; i++) {
        fgq_layer_view v;
        if (fgq_quant_layer_policy(fg, cfg, i, &pol) && pol.kind != FGQ_WQ_U8 && fgq_layer_view_of(fg, i, &v) &&
            owns_params(fg, i, &v))
            n_layers++;
    }
    const int64_t total = n * n_layers;
    /* the float runner holds its own copy of fg's weights: later targets do not reach it */
    fgq_graph_runner fr;
    memset(&fr, 0, sizeof fr);
    int f_init = 0;
    if (st == FGQ_OK && (st = fgq_graph_runner_init(&fr, fg, err)) == FGQ_OK) {
        f_init = 1;
        if (threads > 1 && fgq_graph_runner_set_threads(&fr, threads, err) != FGQ_OK)
            fgq_error_clear(err);
    }
    if (st == FGQ_OK && progress != NULL && progress->begin != NULL)
        progress->begin(progress->user, "sequential statistics", total);
    int64_t done = 0;
    for (int32_t i = 0; st == FGQ_OK && i < fg->n_nodes; i++) {
        fgq_layer_view v;
        if (!fgq_quant_layer_policy(fg, cfg, i, &pol) || pol.kind == FGQ_WQ_U8 || !fgq_layer_view_of(fg, i, &v) ||
            !owns_params(fg, i, &v))
            continue;
        const int64_t per = v.groups * v.k * v.k;
        if (v.k > 65536 || per > FGQ_HESSIAN_MAX_BYTES / 24) { /* too large to track: rounds, as hessian.h */
            done += n;
            continue;
        }
        /* the model with layers before i quantized (their targets and H̃), i and later float */
        fgq_quant_config mc = *cfg;
        int32_t n_ov = 0;
        fgq_layer_override *ov = mixed_overrides(fg, cfg, i, &n_ov);
        if (ov == NULL) {
            st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
            break;
        }
        mc.overrides = ov;
        mc.n_overrides = n_ov;
        /* earlier layers as the final model will have them: their sequential
         * statistics, else (layers this pass leaves out) the float ones */
        fgq_sequential_view(out, cfg->hessians, cfg->means, &mixed_h, &mixed_m);
        mc.hessians = &mixed_h;
        mc.means = cfg->means != NULL ? &mixed_m : NULL;
        fgq_graph *qg = NULL;
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        st = fgq_quantize_graph(fg, calib, &mc, &qg, &rep, &n_rep, err);
        free(rep);
        free(ov);
        layer_sums l;
        memset(&l, 0, sizeof l);
        l.v = v;
        const int64_t numel = fgq_ir_tensor_numel(&fg->tensors[v.input]);
        if (st == FGQ_OK) {
            l.h[0] = calloc((size_t)per, sizeof(double));
            l.h[1] = calloc((size_t)per, sizeof(double));
            l.p = calloc((size_t)per, sizeof(double));
            l.sx = calloc((size_t)(v.groups * v.k), sizeof(double));
            l.sxt = calloc((size_t)(v.groups * v.k), sizeof(double));
            l.mean_xt = calloc((size_t)(numel > 0 ? numel : 1), sizeof(double));
            if (l.h[0] == NULL || l.h[1] == NULL || l.p == NULL || l.sx == NULL || l.sxt == NULL || l.mean_xt == NULL)
                st = fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for the statistics of '%s'",
                              fg->nodes[i].name);
        }
        if (st == FGQ_OK)
            st = gather(fg, &fr, qg, i, samples, threads, &l, progress, done, total, err);
        fgq_graph_free(qg);
        done += n;
        if (st == FGQ_OK) {
            fgq_hessian_symmetrize(l.h[0], v.groups, v.k);
            fgq_hessian_symmetrize(l.h[1], v.groups, v.k);
            st = set_target(out, fg, i, &l, err);
        }
        if (st == FGQ_OK) {
            fgq_layer_hessian *lh = calloc(1, sizeof *lh);
            if (lh == NULL) {
                st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
            } else {
                lh->view = v;
                lh->h[0] = l.h[0];
                lh->h[1] = l.h[1];
                lh->samples[0] = l.samples[0];
                lh->samples[1] = l.samples[1];
                l.h[0] = l.h[1] = NULL;
                out->hessians.layer[i] = lh;
                if (out->means.mean[v.input] == NULL) { /* E[x̃], elementwise */
                    for (int64_t e = 0; e < numel; e++)
                        l.mean_xt[e] /= (double)n;
                    out->means.mean[v.input] = l.mean_xt;
                    l.mean_xt = NULL;
                }
                out->n_layers++;
            }
        }
        layer_sums_free(&l);
    }
    if (progress != NULL && progress->end != NULL)
        progress->end(progress->user);
    if (f_init)
        fgq_graph_runner_free(&fr);
    free(mixed_h.layer);
    free(mixed_m.mean);
    if (st != FGQ_OK) {
        fgq_sequential_restore(out, fg);
        fgq_sequential_free(out);
    }
    return st;
}

void fgq_sequential_view(const fgq_sequential *s, const fgq_hessians *float_h, const fgq_input_means *float_m,
                         fgq_hessians *h, fgq_input_means *m)
{
    for (int32_t j = 0; j < h->n_nodes; j++)
        h->layer[j] = j < s->hessians.n_nodes && s->hessians.layer[j] != NULL ? s->hessians.layer[j]
                      : float_h != NULL && j < float_h->n_nodes               ? float_h->layer[j]
                                                                              : NULL;
    for (int32_t t = 0; t < m->n_tensors; t++)
        m->mean[t] = t < s->means.n_tensors && s->means.mean[t] != NULL ? s->means.mean[t]
                     : float_m != NULL && t < float_m->n_tensors       ? float_m->mean[t]
                                                                       : NULL;
}

void fgq_sequential_restore(fgq_sequential *s, fgq_graph *fg)
{
    for (int32_t i = 0; i < s->n_saved; i++) {
        const int32_t t = s->saved[i].tensor;
        free(fg->tensors[t].data);
        fg->tensors[t].data = s->saved[i].data;
    }
    free(s->saved);
    s->saved = NULL;
    s->n_saved = 0;
}

void fgq_sequential_free(fgq_sequential *s)
{
    fgq_hessians_free(&s->hessians);
    fgq_input_means_free(&s->means);
    for (int32_t i = 0; i < s->n_saved; i++)
        free(s->saved[i].data); /* not restored: the originals are gone with the graph's owner */
    free(s->saved);
    memset(s, 0, sizeof *s);
}
