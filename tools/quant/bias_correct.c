/* bias_correct.c — bias correction (quantize.h): the float model's mean layer
 * inputs, gathered in a sweep, and each corrected layer's bias shift. */
#include "quant/layer_weights.h"

#include "quant/stats/hessian.h"
#include "quant/format/weights.h"
#include "run/run_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- bias correction ------------------------------------------------------------------- */

fgq_status fgq_bias_correction_parse(const char *text, fgq_bias_correction *out, fgq_error *err)
{
    if (text != NULL && strcmp(text, "on") == 0) {
        *out = FGQ_BC_ON;
        return FGQ_OK;
    }
    if (text != NULL && strcmp(text, "off") == 0) {
        *out = FGQ_BC_OFF;
        return FGQ_OK;
    }
    return fgq_fail(err, FGQ_ERR_VALUE, "bias correction '%s': expected on or off", text ? text : "");
}

void fgq_input_means_free(fgq_input_means *m)
{
    if (m == NULL)
        return;
    for (int32_t t = 0; m->mean != NULL && t < m->n_tensors; t++)
        free(m->mean[t]);
    free(m->mean);
    memset(m, 0, sizeof *m);
}

static void means_add(double *sum, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        sum[i] += (double)x[i];
}

static void means_obs(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    fgq_means_sweep *o = user;
    if (node < 0 || node >= o->g->n_nodes)
        return;
    const fgq_ir_node *nd = &o->g->nodes[node];
    for (int32_t k = 0; k < n_outputs && k < nd->n_outputs; k++) {
        int32_t t = nd->outputs[k];
        if (t < 0 || o->m->mean[t] == NULL || outputs[k] == NULL || outputs[k]->dtype != FGQ_DT_F32)
            continue;
        int64_t n = 1;
        for (int32_t d = 0; d < outputs[k]->rank; d++)
            n *= outputs[k]->dims[d];
        if (n != fgq_ir_tensor_numel(&o->g->tensors[t]))
            continue;
        means_add(o->m->mean[t], outputs[k]->data, n);
        o->count[t]++;
    }
}

static fgq_status means_input(void *user, int64_t sample, const void *const *x, fgq_error *err)
{
    (void)sample;
    (void)err;
    fgq_means_sweep *o = user;
    for (int32_t k = 0; k < o->g->n_inputs; k++) { /* a layer reading a float graph input directly */
        const int32_t in_t = o->g->inputs[k];
        if (o->m->mean[in_t] != NULL && o->g->tensors[in_t].dtype == FGQ_DT_F32) {
            means_add(o->m->mean[in_t], x[k], fgq_ir_tensor_numel(&o->g->tensors[in_t]));
            o->count[in_t]++;
        }
    }
    return FGQ_OK;
}

fgq_status fgq_input_means_begin(fgq_means_sweep *o, fgq_input_means *m, const fgq_graph *fg, fgq_error *err,
                                 fgq_sweep_observer *out)
{
    memset(m, 0, sizeof *m);
    memset(o, 0, sizeof *o);
    size_t nt = (size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1);
    m->n_tensors = fg->n_tensors;
    m->mean = calloc(nt, sizeof *m->mean);
    o->count = calloc(nt, sizeof *o->count);
    o->g = fg;
    o->m = m;
    fgq_status st = m->mean == NULL || o->count == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "bias correction: out of memory")
                                                        : FGQ_OK;
    for (int32_t i = 0; st == FGQ_OK && i < fg->n_nodes; i++) {
        int32_t wt;
        int64_t rows, k;
        int tr;
        if (!fgq_quant_weight_layer(fg, i, &wt, &rows, &k, &tr))
            continue;
        int32_t x = fg->nodes[i].inputs[0];
        int64_t n = fgq_ir_tensor_numel(&fg->tensors[x]);
        if (m->mean[x] != NULL || n <= 0)
            continue;
        if ((m->mean[x] = calloc((size_t)n, sizeof(double))) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "bias correction: out of memory");
    }
    if (st != FGQ_OK) {
        free(o->count);
        o->count = NULL;
        fgq_input_means_free(m);
        return st;
    }
    out->input = means_input;
    out->node = means_obs;
    out->after = NULL;
    out->bind = NULL;
    out->user = o;
    return FGQ_OK;
}

void fgq_input_means_finish(fgq_means_sweep *o, int64_t n_samples)
{
    fgq_input_means *m = o->m;
    m->n_samples = n_samples;
    for (int32_t t = 0; t < m->n_tensors; t++) {
        if (m->mean[t] == NULL)
            continue;
        if (o->count[t] == 0) { /* never seen: not corrected */
            free(m->mean[t]);
            m->mean[t] = NULL;
            continue;
        }
        int64_t n = fgq_ir_tensor_numel(&o->g->tensors[t]);
        for (int64_t i = 0; i < n; i++)
            m->mean[t][i] /= (double)o->count[t];
    }
    free(o->count);
    o->count = NULL;
}

fgq_status fgq_input_means_run(fgq_input_means *m, const fgq_graph *fg, const fgq_samples *samples,
                               fgq_calib_progress progress, void *user, fgq_error *err)
{
    const int64_t n_samples = samples->n;
    if (n_samples < 1) {
        memset(m, 0, sizeof *m);
        return fgq_fail(err, FGQ_ERR_VALUE, "bias correction: no samples");
    }
    fgq_means_sweep o;
    fgq_sweep_observer so;
    fgq_status st = fgq_input_means_begin(&o, m, fg, err, &so);
    if (st != FGQ_OK)
        return st;
    st = fgq_graph_sweep(fg, samples, &so, 1, 1, progress, user, err);
    fgq_input_means_finish(&o, n_samples);
    if (st != FGQ_OK)
        fgq_input_means_free(m);
    return st;
}

/* Mean of each reduction column of weight node i (E[x_k], see quantize.h):
 * col[g·k + j] for group g (Conv groups; 1 otherwise), from the mean input
 * mx over the layer's im2col view (quant/stats/hessian.h), padding as 0.
 * 0: cannot (no correction); -1: out of memory. */
static int column_means(const fgq_layer_ctx *c, int32_t i, int64_t k, const double *mx, double **col_out,
                        int64_t *groups)
{
    fgq_layer_view v;
    *col_out = NULL;
    *groups = 1;
    if (!fgq_layer_view_of(c->fg, i, &v) || v.k != k)
        return 0;
    if (!v.is_conv) { /* Gemm / MatMul: features on the last axis */
        double *col = calloc((size_t)k, sizeof(double));
        if (col == NULL)
            return -1;
        for (int64_t r = 0; r < v.m; r++)
            for (int64_t j = 0; j < k; j++)
                col[j] += mx[r * k + j];
        for (int64_t j = 0; j < k; j++)
            col[j] /= (double)v.m;
        *col_out = col;
        return 1;
    }
    /* the mean im2col column: the im2col rows of the mean input, averaged over positions */
    const int64_t G = v.groups, np = v.out[0] * v.out[1] * v.out[2], numel = v.n * v.c * v.in[0] * v.in[1] * v.in[2];
    double *col = calloc((size_t)(G * k), sizeof(double));
    float *xm = malloc((size_t)numel * sizeof(float)), *rows = malloc((size_t)(64 * k) * sizeof(float));
    if (col == NULL || xm == NULL || rows == NULL) {
        free(col);
        free(xm);
        free(rows);
        return -1;
    }
    for (int64_t e = 0; e < numel; e++)
        xm[e] = (float)mx[e];
    for (int64_t b = 0; b < v.n; b++)
        for (int64_t g = 0; g < G; g++)
            for (int64_t p = 0; p < np; p += 64) {
                const int64_t nb = np - p < 64 ? np - p : 64;
                fgq_layer_columns(&v, xm, b, g, p, nb, rows);
                for (int64_t q = 0; q < nb; q++)
                    for (int64_t j = 0; j < k; j++)
                        col[g * k + j] += (double)rows[q * k + j];
            }
    const double denom = (double)v.n * (double)np;
    for (int64_t e = 0; e < G * k; e++)
        col[e] /= denom;
    free(xm);
    free(rows);
    *col_out = col;
    *groups = G;
    return 1;
}

/* b[r] -= Σ_k (W_q[r,k] − W[r,k]) · E[x_k] when cfg asks for it (quantize.h). */
fgq_status fgq_bias_correct(const fgq_layer_ctx *c, int32_t i, const fgq_policy *pol, int64_t rows, int64_t k, const float *wr,
                               const float *deq, float *bias)
{
    const fgq_bias_correction bc = c->cfg->bias_correction;
    if (bc == FGQ_BC_OFF || (bc != FGQ_BC_ON && !fgq_wq_below_8_bits(pol->kind)))
        return FGQ_OK;
    const fgq_ir_node *n = &c->fg->nodes[i];
    const fgq_input_means *m = c->cfg->means;
    int32_t x = n->inputs[0];
    if (m == NULL || x >= m->n_tensors || m->mean == NULL || m->mean[x] == NULL) {
        if (bc == FGQ_BC_ON && c->cfg->acts != FGQ_ACTS_DYNAMIC)
            return fgq_fail(c->err, FGQ_ERR_VALUE, "layer '%s': bias correction needs the mean of its input '%s'",
                            n->name, c->fg->tensors[x].name);
        return FGQ_OK;
    }
    double *col = NULL;
    int64_t groups = 1;
    int ok = column_means(c, i, k, m->mean[x], &col, &groups);
    if (ok < 0)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory correcting the bias of layer '%s'", n->name);
    if (ok == 0 || rows % groups != 0) {
        free(col);
        return FGQ_OK;
    }
    const int64_t per_group = rows / groups;
    for (int64_t r = 0; r < rows; r++) {
        const double *e = col + (r / per_group) * k;
        double shift = 0.0;
        for (int64_t j = 0; j < k; j++)
            shift += ((double)deq[r * k + j] - (double)wr[r * k + j]) * e[j];
        bias[r] = (float)((double)bias[r] - shift);
    }
    free(col);
    return FGQ_OK;
}

