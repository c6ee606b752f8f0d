/* sequential.c — quantized-prefix statistics and output-matching targets; see sequential.h. */
#include "quant/solve/sequential.h"

#include "quant/affine.h"
#include "quant/format/weights.h"
#include "quant/layer_weights.h"
#include "quant/stats/hessian.h"
#include "run/run_graph.h"
#include "threadpool.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_DAMP 0.01

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

/* Solves L·Lᵀ·y = b in place; lt = Lᵀ (row i of lt is column i of L). */
static void chol_solve(const double *l, const double *lt, int64_t k, double *b)
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
            s -= lt[i * k + t] * b[t];
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
    double *hx_v, *p_v; /* Σ x·xᵀ and P on the held-out samples: groups·k·k (the target's check) */
    double *sx, *sxt;  /* column sums (all samples): groups·k */
    double *mean_xt;   /* elementwise sum of x̃: numel */
    int64_t samples[2];
} layer_sums;

static void layer_sums_free(layer_sums *l)
{
    free(l->h[0]);
    free(l->h[1]);
    free(l->p);
    free(l->hx_v);
    free(l->p_v);
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
    /* per group: a = chol(H̃ + δI), lt = its transpose (the back substitution
     * reads rows), m = P − H̃; per row: d = w·m, solved through a, row-major
     * loops throughout */
    double *a = malloc((size_t)(k * k) * sizeof(double)), *lt = malloc((size_t)(k * k) * sizeof(double));
    double *m = malloc((size_t)(k * k) * sizeof(double)), *d = malloc((size_t)k * sizeof(double));
    double *wrow = malloc((size_t)k * sizeof(double));
    const int32_t bt = layer_bias(fg, node, rows);
    float *bn = bt >= 0 ? malloc((size_t)rows * sizeof(float)) : NULL;
    fgq_status st = FGQ_OK;
    if (wn == NULL || a == NULL || lt == NULL || m == NULL || d == NULL || wrow == NULL || (bt >= 0 && bn == NULL))
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
        for (int64_t i = 0; ok && i < k; i++)
            for (int64_t j = 0; j <= i; j++)
                lt[j * k + i] = a[i * k + j];
        for (int64_t i = 0; i < k * k; i++)
            m[i] = p[i] - h[i];
        for (int64_t r = g * rg; r < (g + 1) * rg; r++) {
            /* row r of W in [rows, k] order (stored transposed for Gemm without transB / MatMul) */
            for (int64_t j = 0; j < k; j++)
                wrow[j] = tr ? w[j * rows + r] : w[r * k + j];
            memset(d, 0, (size_t)k * sizeof(double));
            for (int64_t i = 0; i < k; i++) { /* d = w_r·(P − H̃) */
                const double wi = wrow[i];
                if (wi == 0.0)
                    continue;
                const double *mi = m + i * k;
                for (int64_t j = 0; j < k; j++)
                    d[j] += wi * mi[j];
            }
            if (ok)
                chol_solve(a, lt, k, d);
            double bx = 0.0, bxt = 0.0;
            for (int64_t j = 0; j < k; j++) {
                const double wj = wrow[j];
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
    free(lt);
    free(m);
    free(d);
    free(wrow);
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

/* The pass's state: nodes [0, done) have run on both sides (0: the float
 * model; 1: the model with the processed layers' quantized weights), and
 * val[side][t] holds tensor t for all n samples while a later node reads it. */
typedef struct {
    const fgq_graph *fg;
    int64_t n;
    int32_t done;
    int32_t *last;     /* per tensor: the last node reading it (n_nodes: a graph output), -1 none */
    int64_t *bytes;    /* per tensor: one sample's bytes */
    uint8_t **val[2];  /* per side, per tensor */
    uint8_t *owned[2]; /* per side, per tensor: 1 when val is malloc'd here (0: the caller's samples) */
    int64_t peak;      /* fgq_sequential_state_bytes */
    /* the quantized side's activations as the integer model has them: per
     * tensor, its calibrated scale and zero point (fq_on 0: left float) */
    uint8_t *fq_on;
    float *fq_scale;
    int32_t *fq_zp;
    int32_t fq_qmin, fq_qmax;
} seq_state;

static void state_free(seq_state *st)
{
    for (int side = 0; side < 2; side++) {
        for (int32_t t = 0; st->val[side] != NULL && t < st->fg->n_tensors; t++)
            if (st->owned[side] != NULL && st->owned[side][t])
                free(st->val[side][t]);
        free(st->val[side]);
        free(st->owned[side]);
    }
    free(st->last);
    free(st->bytes);
    free(st->fq_on);
    free(st->fq_scale);
    free(st->fq_zp);
    memset(st, 0, sizeof *st);
}

/* Per tensor: the last node reading it (n_nodes: a graph output; -1 none) and one sample's bytes. */
static void liveness(const fgq_graph *fg, int32_t *last, int64_t *bytes)
{
    for (int32_t t = 0; t < fg->n_tensors; t++) {
        last[t] = fg->tensors[t].is_output ? fg->n_nodes : -1;
        bytes[t] = fgq_ir_tensor_numel(&fg->tensors[t]) * (int64_t)fgq_dtype_size(fg->tensors[t].dtype);
    }
    for (int32_t j = 0; j < fg->n_nodes; j++)
        for (int32_t k = 0; k < fg->nodes[j].n_inputs; k++) {
            const int32_t t = fg->nodes[j].inputs[k];
            if (t >= 0 && last[t] < j)
                last[t] = j;
        }
}

/* The most bytes of node outputs alive while a node runs (its inputs and outputs included), one sample. */
static int64_t live_peak(const fgq_graph *fg, const int32_t *last, const int64_t *bytes)
{
    int64_t live = 0, peak = 0;
    for (int32_t j = 0; j < fg->n_nodes; j++) {
        const fgq_ir_node *nd = &fg->nodes[j];
        for (int32_t k = 0; k < nd->n_outputs; k++)
            if (nd->outputs[k] >= 0 && last[nd->outputs[k]] > j)
                live += bytes[nd->outputs[k]];
        peak = live > peak ? live : peak;
        for (int32_t k = 0; k < nd->n_inputs; k++) { /* outputs of earlier nodes read for the last time here */
            const int32_t t = nd->inputs[k];
            int first = 1;
            for (int32_t q = 0; q < k; q++)
                first &= nd->inputs[q] != t;
            if (t >= 0 && first && last[t] == j && fg->tensors[t].producer >= 0)
                live -= bytes[t];
        }
    }
    return peak;
}

int64_t fgq_sequential_state_bytes(const fgq_graph *fg, int64_t n)
{
    const size_t nt = (size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1);
    int32_t *last = malloc(nt * sizeof *last);
    int64_t *bytes = malloc(nt * sizeof *bytes);
    int64_t peak = INT64_MAX;
    if (last != NULL && bytes != NULL) {
        liveness(fg, last, bytes);
        const int64_t one = live_peak(fg, last, bytes);
        peak = n > 0 && one > INT64_MAX / 2 / n ? INT64_MAX : 2 * one * (n > 0 ? n : 0);
    }
    free(last);
    free(bytes);
    return peak;
}

static fgq_status state_init(seq_state *st, const fgq_graph *fg, const fgq_samples *samples, fgq_error *err)
{
    memset(st, 0, sizeof *st);
    st->fg = fg;
    st->n = samples->n;
    const size_t nt = (size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1);
    st->last = malloc(nt * sizeof *st->last);
    st->bytes = calloc(nt, sizeof *st->bytes);
    for (int side = 0; side < 2; side++) {
        st->val[side] = calloc(nt, sizeof *st->val[side]);
        st->owned[side] = calloc(nt, 1);
    }
    if (st->last == NULL || st->bytes == NULL || st->val[0] == NULL || st->val[1] == NULL || st->owned[0] == NULL ||
        st->owned[1] == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    liveness(fg, st->last, st->bytes);
    const int64_t one = live_peak(fg, st->last, st->bytes);
    const int64_t peak = one > INT64_MAX / 2 / st->n ? INT64_MAX : 2 * one * st->n;
    st->peak = peak;
    if (peak > FGQ_SEQUENTIAL_MAX_BYTES)
        return fgq_fail(err, FGQ_ERR_NOMEM,
                        "sequential statistics would keep %.1f GiB of activations (%lld samples, both models); "
                        "the limit is %.0f GiB: use fewer calibration samples or --sequential off",
                        (double)peak / (1 << 30), (long long)st->n, (double)FGQ_SEQUENTIAL_MAX_BYTES / (1 << 30));
    for (int32_t k = 0; k < fg->n_inputs; k++) { /* the samples themselves, borrowed */
        const int32_t t = fg->inputs[k];
        if (samples->sample_bytes[k] != st->bytes[t])
            return fgq_fail(err, FGQ_ERR_SHAPE, "sequential statistics: input '%s' has %lld bytes a sample, not %lld",
                            fg->tensors[t].name, (long long)samples->sample_bytes[k], (long long)st->bytes[t]);
        st->val[0][t] = st->val[1][t] = (uint8_t *)(uintptr_t)samples->in[k];
    }
    return FGQ_OK;
}

/* 1 when cfg keeps node i float by name. */
static int kept_float(const fgq_graph *fg, const fgq_quant_config *cfg, int32_t i)
{
    for (int32_t o = 0; o < cfg->n_overrides; o++)
        if (cfg->overrides[o].keep_float && cfg->overrides[o].node != NULL &&
            strcmp(cfg->overrides[o].node, fg->nodes[i].name) == 0)
            return 1;
    return 0;
}

/* The integer model's activation parameters for the calibrated float
 * activations it quantizes: the outputs of quantized weight layers, and of
 * other nodes (not kept float) whose every activation input is quantized.
 * The rest (a float prefix, tensors whose range cannot be quantized,
 * untracked ones) stay float. */
static fgq_status state_fake_quant(seq_state *st, const fgq_calib *calib, const fgq_quant_config *cfg, fgq_error *err)
{
    const fgq_graph *fg = st->fg;
    const size_t nt = (size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1);
    st->fq_on = calloc(nt, 1);
    st->fq_scale = calloc(nt, sizeof *st->fq_scale);
    st->fq_zp = calloc(nt, sizeof *st->fq_zp);
    if (st->fq_on == NULL || st->fq_scale == NULL || st->fq_zp == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    st->fq_qmin = cfg->acts == FGQ_ACTS_S8 ? -128 : 0;
    st->fq_qmax = cfg->acts == FGQ_ACTS_S8 ? 127 : cfg->acts == FGQ_ACTS_U4 ? 15 : 255;
    fgq_policy pol;
    for (int32_t j = 0; j < fg->n_nodes; j++) /* in node order: a node's inputs are settled before it */
        for (int32_t o = 0; o < fg->nodes[j].n_outputs; o++) {
            const int32_t t = fg->nodes[j].outputs[o];
            if (t < 0 || t >= calib->n_tensors)
                continue;
            const fgq_ir_tensor *x = &fg->tensors[t];
            if (x->dtype != FGQ_DT_F32 || calib->stats[t].bins == NULL)
                continue;
            int quantized = fgq_quant_layer_policy(fg, cfg, j, &pol);
            if (!quantized && !kept_float(fg, cfg, j)) {
                int n_act = 0;
                quantized = 1;
                for (int32_t k = 0; k < fg->nodes[j].n_inputs; k++) {
                    const int32_t u = fg->nodes[j].inputs[k];
                    if (u < 0 || fg->tensors[u].kind == FGQ_TK_CONST || fg->tensors[u].dtype != FGQ_DT_F32)
                        continue;
                    n_act++;
                    quantized &= st->fq_on[u];
                }
                quantized &= n_act > 0;
            }
            if (!quantized)
                continue;
            float lo, hi;
            fgq_affine_params ap;
            fgq_error e = {0};
            if (fgq_stats_range(&calib->stats[t], &cfg->observer, st->fq_qmax - st->fq_qmin + 1, x->name, &lo, &hi,
                                &e) != FGQ_OK ||
                fgq_affine_choose_tf(lo, hi, st->fq_qmin, st->fq_qmax, &ap, &e) != FGQ_OK || !(ap.scale > 0.0f))
                continue;
            st->fq_on[t] = 1;
            st->fq_scale[t] = ap.scale;
            st->fq_zp[t] = ap.zero_point;
        }
    return FGQ_OK;
}

/* Runs nodes [from, to] on one side for every sample: inputs from the
 * state, outputs into it. data: constants to use instead of fg's (may be NULL). */
static fgq_status state_run_side(seq_state *st, int side, int32_t from, int32_t to, const void *const *data,
                                 int32_t threads, fgq_error *err)
{
    const fgq_graph *fg = st->fg;
    fgq_graph *seg = fgq_graph_segment(fg, from, to, data);
    if (seg == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    if (seg->n_outputs == 0) { /* nothing a later node reads */
        fgq_graph_free(seg);
        return FGQ_OK;
    }
    const int32_t n_io = seg->n_inputs + seg->n_outputs;
    int32_t *map = malloc((size_t)(n_io > 0 ? n_io : 1) * sizeof *map); /* segment I/O -> fg tensor */
    const void **in = malloc((size_t)(seg->n_inputs > 0 ? seg->n_inputs : 1) * sizeof *in);
    void **out = malloc((size_t)(seg->n_outputs > 0 ? seg->n_outputs : 1) * sizeof *out);
    fgq_status rc = map == NULL || in == NULL || out == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "out of memory") : FGQ_OK;
    for (int32_t k = 0; rc == FGQ_OK && k < n_io; k++) {
        const int32_t ts = k < seg->n_inputs ? seg->inputs[k] : seg->outputs[k - seg->n_inputs];
        const int32_t t = fgq_graph_find_tensor(fg, seg->tensors[ts].name);
        map[k] = t;
        if (t < 0 || (k < seg->n_inputs && st->val[side][t] == NULL))
            rc = fgq_fail(err, FGQ_ERR_FORMAT, "sequential statistics: tensor '%s' is not available",
                          seg->tensors[ts].name);
        else if (k >= seg->n_inputs && st->val[side][t] == NULL) {
            if ((st->val[side][t] = malloc((size_t)(st->n * st->bytes[t]) + 1)) == NULL)
                rc = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory for the activations of the sequential statistics");
            st->owned[side][t] = 1;
        }
    }
    fgq_graph_runner r;
    memset(&r, 0, sizeof r);
    if (rc == FGQ_OK && (rc = fgq_graph_runner_init(&r, seg, err)) == FGQ_OK && threads > 1 &&
        fgq_graph_runner_set_threads(&r, threads, err) != FGQ_OK)
        fgq_error_clear(err);
    for (int64_t s = 0; rc == FGQ_OK && s < st->n; s++) {
        for (int32_t k = 0; k < seg->n_inputs; k++)
            in[k] = st->val[side][map[k]] + s * st->bytes[map[k]];
        for (int32_t k = 0; k < seg->n_outputs; k++) {
            const int32_t t = map[seg->n_inputs + k];
            out[k] = st->val[side][t] + s * st->bytes[t];
        }
        rc = fgq_graph_runner_run(&r, (const float *const *)in, (float *const *)out, NULL, NULL, err);
        for (int32_t k = 0; rc == FGQ_OK && side == 1 && st->fq_on != NULL && k < seg->n_outputs; k++) {
            const int32_t t = map[seg->n_inputs + k];
            if (!st->fq_on[t])
                continue;
            float *v = out[k];
            const float sc = st->fq_scale[t], inv = 1.0f / sc;
            const int32_t z = st->fq_zp[t];
            for (int64_t e = 0; e < st->bytes[t] / (int64_t)sizeof(float); e++) { /* NaN stays NaN */
                float q = nearbyintf(v[e] * inv) + (float)z;
                q = q < (float)st->fq_qmin ? (float)st->fq_qmin : q > (float)st->fq_qmax ? (float)st->fq_qmax : q;
                v[e] = sc * (q - (float)z);
            }
        }
    }
    fgq_graph_runner_free(&r);
    fgq_graph_free(seg);
    free(map);
    free(in);
    free(out);
    return rc;
}

/* Both sides up to node `to`, then drops what no later node reads. */
static fgq_status state_advance(seq_state *st, int32_t to, const void *const *data_f, const void *const *data_q,
                                int32_t threads, fgq_error *err)
{
    if (to < st->done)
        return FGQ_OK;
    fgq_status rc = state_run_side(st, 0, st->done, to, data_f, threads, err);
    if (st->fq_on == NULL) {
        if (rc == FGQ_OK)
            rc = state_run_side(st, 1, st->done, to, data_q, threads, err);
    } else { /* node by node, so that every activation is quantized as the integer model quantizes it */
        for (int32_t j = st->done; rc == FGQ_OK && j <= to; j++) {
            rc = state_run_side(st, 1, j, j, data_q, threads, err);
            for (int32_t t = 0; rc == FGQ_OK && t < st->fg->n_tensors; t++)
                if (st->last[t] <= j && st->last[t] >= st->done && st->owned[1][t] &&
                    st->fg->tensors[t].kind != FGQ_TK_CONST) {
                    free(st->val[1][t]);
                    st->val[1][t] = NULL;
                    st->owned[1][t] = 0;
                }
        }
    }
    if (rc != FGQ_OK)
        return rc;
    st->done = to + 1;
    for (int32_t t = 0; t < st->fg->n_tensors; t++)
        if (st->last[t] < st->done && st->fg->tensors[t].kind != FGQ_TK_CONST)
            for (int side = 0; side < 2; side++) {
                if (st->owned[side][t])
                    free(st->val[side][t]);
                st->val[side][t] = NULL;
                st->owned[side][t] = 0;
            }
    return FGQ_OK;
}

/* Layer `node`'s statistics from the state: its input on both sides. */
static fgq_status gather(const seq_state *st, int32_t node, layer_sums *l, const fgq_parallel *par,
                         const fgq_stage_progress *progress, int64_t done0, int64_t total, fgq_error *err)
{
    const int32_t xin = st->fg->nodes[node].inputs[0];
    if (st->fg->tensors[xin].dtype != FGQ_DT_F32 || st->val[0][xin] == NULL || st->val[1][xin] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, "error compensation: the float input of '%s' is not available",
                        st->fg->nodes[node].name);
    const int64_t numel = fgq_ir_tensor_numel(&st->fg->tensors[xin]);
    fgq_status rc = FGQ_OK;
    for (int64_t s = 0; rc == FGQ_OK && s < st->n; s++) {
        const float *x = (const float *)(const void *)(st->val[0][xin] + s * st->bytes[xin]);
        const float *xt = (const float *)(const void *)(st->val[1][xin] + s * st->bytes[xin]);
        const int part = st->n >= FGQ_HESSIAN_VAL_EVERY && s % FGQ_HESSIAN_VAL_EVERY == FGQ_HESSIAN_VAL_EVERY - 1
                             ? FGQ_H_VAL
                             : FGQ_H_FIT;
        if ((rc = fgq_hessian_add(&l->v, xt, l->h[part], par, err)) != FGQ_OK ||
            (rc = fgq_hessian_add_cross(&l->v, x, xt, part == FGQ_H_FIT ? l->p : l->p_v, l->sx, l->sxt, err)) !=
                FGQ_OK ||
            (part == FGQ_H_VAL && (rc = fgq_hessian_add(&l->v, x, l->hx_v, par, err)) != FGQ_OK))
            break;
        for (int64_t e = 0; e < numel; e++)
            l->mean_xt[e] += (double)xt[e];
        l->samples[part]++;
        if (progress != NULL && progress->update != NULL)
            progress->update(progress->user, done0 + s + 1, total);
    }
    return rc;
}

/* The weights (and bias) layer `node` will have in the quantized model when
 * solved from w, b (fg's layout; b NULL: none) with cfg's statistics:
 * dequantized, in fg's layout, for the quantized side of the pass (*wq_out,
 * *b_out, owned by the caller; *b_out NULL without a bias), and in [rows, k]
 * order (*deq_out) for the held-out check. The bias is corrected as the
 * quantizer corrects it. */
static fgq_status simulate_layer(const fgq_graph *fg, const fgq_quant_config *cfg, int32_t node,
                                 const fgq_policy *pol, const float *w, const float *b, float **wq_out, float **b_out,
                                 float **deq_out, fgq_error *err)
{
    int32_t wt;
    int64_t rows, k;
    int tr;
    *wq_out = *b_out = *deq_out = NULL;
    if (!fgq_quant_weight_layer(fg, node, &wt, &rows, &k, &tr))
        return FGQ_OK;
    float *wr = malloc((size_t)(rows * k) * sizeof(float)), *wq = malloc((size_t)(rows * k) * sizeof(float));
    float *bias = calloc((size_t)rows, sizeof(float));
    fgq_layer_qweights q;
    memset(&q, 0, sizeof q);
    fgq_status rc = wr == NULL || wq == NULL || bias == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "out of memory") : FGQ_OK;
    if (rc == FGQ_OK) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < k; j++)
                wr[r * k + j] = tr ? w[j * rows + r] : w[r * k + j];
        if (b != NULL)
            memcpy(bias, b, (size_t)rows * sizeof(float));
        const fgq_layer_ctx c = {fg, cfg, err};
        const int32_t dx = cfg->acts == FGQ_ACTS_U4 ? 15 : 255;
        if ((rc = fgq_quantize_layer_weights(&c, node, pol, wr, rows, k, dx, NULL, &q)) == FGQ_OK)
            rc = fgq_bias_correct(&c, node, pol, rows, k, wr, q.deq, bias);
    }
    if (rc == FGQ_OK) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < k; j++)
                wq[tr ? j * rows + r : r * k + j] = q.deq[r * k + j];
        memcpy(wr, q.deq, (size_t)(rows * k) * sizeof(float));
        *wq_out = wq;
        *deq_out = wr;
        wq = wr = NULL;
        if (b != NULL) {
            *b_out = bias;
            bias = NULL;
        }
    }
    fgq_layer_qweights_free(&q);
    free(wr);
    free(wq);
    free(bias);
    return rc;
}

/* Σ_rows ‖w_r·x − q_r·x̃‖² over the held-out samples: w the float weights
 * (fg's layout, transposed when tr), q [rows, k]; from Σ x·xᵀ, P and H̃
 * (ht_v) there. */
static double heldout_error(const layer_sums *l, const double *ht_v, const float *w, int tr, const float *q)
{
    const int64_t rows = l->v.rows, k = l->v.k, rg = rows / l->v.groups;
    double *wr = malloc((size_t)k * sizeof(double)), *t = malloc((size_t)k * sizeof(double));
    double e = 0.0;
    if (wr == NULL || t == NULL) {
        free(wr);
        free(t);
        return NAN;
    }
    for (int64_t r = 0; r < rows; r++) {
        const int64_t g = r / rg;
        const double *hx = l->hx_v + g * k * k, *p = l->p_v + g * k * k, *ht = ht_v + g * k * k;
        const float *qr = q + r * k;
        for (int64_t j = 0; j < k; j++)
            wr[j] = tr ? w[j * rows + r] : w[r * k + j];
        /* w·Hx·w − 2·w·P·q + q·H̃·q, row by row of the matrices */
        for (int64_t i = 0; i < k; i++) {
            double a = 0.0, c = 0.0, d = 0.0;
            for (int64_t j = 0; j < k; j++) {
                a += hx[i * k + j] * wr[j];
                c += p[i * k + j] * (double)qr[j];
                d += ht[i * k + j] * (double)qr[j];
            }
            t[i] = wr[i] * (a - 2.0 * c) + (double)qr[i] * d;
        }
        for (int64_t i = 0; i < k; i++)
            e += t[i];
    }
    free(wr);
    free(t);
    return e;
}

/* Layer i after its target is set: solved from W* and, with held-out
 * samples, also from W (on the same H̃); the one whose codes leave the
 * smaller held-out ‖W·x − Q·x̃‖² stays (W: fg's weights and bias go back to
 * the float ones), and its dequantized weights go to the quantized side. */
static fgq_status settle_layer(fgq_sequential *out, fgq_graph *fg, const fgq_quant_config *cfg, int32_t i,
                               const fgq_policy *pol, const layer_sums *l, const void *const *data_f, void **data_q,
                               fgq_hessians *mixed_h, fgq_input_means *mixed_m, fgq_error *err)
{
    int32_t wt;
    int64_t rows, k;
    int tr;
    if (!fgq_quant_weight_layer(fg, i, &wt, &rows, &k, &tr))
        return FGQ_OK;
    const int32_t bt = layer_bias(fg, i, rows);
    fgq_quant_config mc = *cfg;
    fgq_sequential_view(out, cfg->hessians, cfg->means, mixed_h, mixed_m);
    mc.hessians = mixed_h;
    mc.means = cfg->means != NULL ? mixed_m : NULL;
    float *wq1 = NULL, *b1 = NULL, *q1 = NULL, *wq0 = NULL, *b0 = NULL, *q0 = NULL;
    fgq_status st = simulate_layer(fg, &mc, i, pol, fg->tensors[wt].data, bt >= 0 ? fg->tensors[bt].data : NULL,
                                   &wq1, &b1, &q1, err);
    int plain = 0;
    const fgq_layer_hessian *lh = out->hessians.layer[i];
    if (st == FGQ_OK && q1 != NULL && lh != NULL && lh->samples[1] > 0 && data_f[wt] != NULL) {
        st = simulate_layer(fg, &mc, i, pol, data_f[wt], bt >= 0 ? data_f[bt] : NULL, &wq0, &b0, &q0, err);
        if (st == FGQ_OK && q0 != NULL)
            plain = heldout_error(l, lh->h[1], data_f[wt], tr, q0) < heldout_error(l, lh->h[1], data_f[wt], tr, q1);
    }
    if (st == FGQ_OK && plain) { /* the float weights and bias again (save_and_replace keeps the originals) */
        float *w = malloc((size_t)(rows * k) * sizeof(float)), *b = bt >= 0 ? malloc((size_t)rows * sizeof(float)) : NULL;
        if (w == NULL || (bt >= 0 && b == NULL)) {
            free(w);
            free(b);
            st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
        } else {
            memcpy(w, data_f[wt], (size_t)(rows * k) * sizeof(float));
            st = save_and_replace(out, fg, wt, w, err);
            if (b != NULL) {
                memcpy(b, data_f[bt], (size_t)rows * sizeof(float));
                if (st == FGQ_OK)
                    st = save_and_replace(out, fg, bt, b, err);
                else
                    free(b);
            }
        }
        if (st == FGQ_OK)
            out->n_plain++;
    }
    if (st == FGQ_OK) {
        float **wq = plain ? &wq0 : &wq1, **b = plain ? &b0 : &b1;
        free(data_q[wt]);
        data_q[wt] = *wq;
        *wq = NULL;
        if (bt >= 0 && *b != NULL) {
            free(data_q[bt]);
            data_q[bt] = *b;
            *b = NULL;
        }
    }
    free(wq1);
    free(b1);
    free(q1);
    free(wq0);
    free(b0);
    free(q0);
    return st;
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
    const size_t nt = (size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1);
    out->hessians.n_nodes = fg->n_nodes;
    out->hessians.layer = calloc((size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1), sizeof *out->hessians.layer);
    out->means.n_tensors = fg->n_tensors;
    out->means.n_samples = n;
    out->means.mean = calloc(nt, sizeof *out->means.mean);
    /* pointer views (no ownership) of the statistics the layers' solves read */
    fgq_hessians mixed_h = {fg->n_nodes, calloc((size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1), sizeof(void *))};
    fgq_input_means mixed_m = {fg->n_tensors, n, calloc(nt, sizeof(double *))};
    const void **data_f = calloc(nt, sizeof *data_f); /* the float side: fg's originals */
    void **data_q = calloc(nt, sizeof *data_q);       /* the quantized side: solved layers, owned */
    seq_state state;
    memset(&state, 0, sizeof state);
    if (out->hessians.layer == NULL || out->means.mean == NULL || mixed_h.layer == NULL || mixed_m.mean == NULL ||
        data_f == NULL || data_q == NULL)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    if (st == FGQ_OK)
        st = state_init(&state, fg, samples, err);
    if (st == FGQ_OK && calib != NULL && cfg->acts != FGQ_ACTS_DYNAMIC)
        st = state_fake_quant(&state, calib, cfg, err);
    fgq_threadpool *pool = NULL; /* the statistics' threads (the runners have their own) */
    if (st == FGQ_OK && threads > 1 && fgq_threadpool_create(threads, &pool, err) != FGQ_OK) {
        fgq_error_clear(err);
        pool = NULL;
    }
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
        /* both models up to the producer of the layer's input (a graph input: nothing to run) */
        const int32_t producer = fg->tensors[v.input].producer;
        if (producer >= 0)
            st = state_advance(&state, producer, data_f, (const void *const *)data_q, threads, err);
        layer_sums l;
        memset(&l, 0, sizeof l);
        l.v = v;
        const int64_t numel = fgq_ir_tensor_numel(&fg->tensors[v.input]);
        if (st == FGQ_OK) {
            l.h[0] = calloc((size_t)per, sizeof(double));
            l.h[1] = calloc((size_t)per, sizeof(double));
            l.p = calloc((size_t)per, sizeof(double));
            l.hx_v = calloc((size_t)per, sizeof(double));
            l.p_v = calloc((size_t)per, sizeof(double));
            l.sx = calloc((size_t)(v.groups * v.k), sizeof(double));
            l.sxt = calloc((size_t)(v.groups * v.k), sizeof(double));
            l.mean_xt = calloc((size_t)(numel > 0 ? numel : 1), sizeof(double));
            if (l.h[0] == NULL || l.h[1] == NULL || l.p == NULL || l.hx_v == NULL || l.p_v == NULL || l.sx == NULL || l.sxt == NULL || l.mean_xt == NULL)
                st = fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for the statistics of '%s'",
                              fg->nodes[i].name);
        }
        if (st == FGQ_OK)
            st = gather(&state, i, &l, pool != NULL ? fgq_threadpool_parallel(pool) : NULL, progress, done, total,
                        err);
        done += n;
        if (st == FGQ_OK) {
            fgq_hessian_symmetrize(l.h[0], v.groups, v.k);
            fgq_hessian_symmetrize(l.h[1], v.groups, v.k);
            fgq_hessian_symmetrize(l.hx_v, v.groups, v.k);
            int32_t wt, bt;
            int64_t rows, k;
            int tr;
            /* the float side keeps the originals that set_target replaces */
            if (fgq_quant_weight_layer(fg, i, &wt, &rows, &k, &tr)) {
                data_f[wt] = fg->tensors[wt].data;
                if ((bt = layer_bias(fg, i, rows)) >= 0)
                    data_f[bt] = fg->tensors[bt].data;
            }
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
        if (st == FGQ_OK) /* the layer as the final model will have it, for the quantized side */
            st = settle_layer(out, fg, cfg, i, &pol, &l, data_f, data_q, &mixed_h, &mixed_m, err);
        layer_sums_free(&l);
    }
    if (progress != NULL && progress->end != NULL)
        progress->end(progress->user);
    out->state_bytes = state.peak;
    state_free(&state);
    fgq_threadpool_destroy(pool);
    for (size_t t = 0; data_q != NULL && t < nt; t++)
        free(data_q[t]);
    free(data_q);
    free(data_f);
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
