/* measure.c — per-layer activation SQNR of a quantized graph against its float
 * graph on the calibration samples (quantize.h fgq_quant_measure). */
#include "quant/quantize.h"

#include "run/run_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- measuring ------------------------------------------------------------------------- */

typedef struct {
    const fgq_graph *g;
    const int32_t *layer_of; /* per tensor of g: layer index or -1 */
    float **fbuf;            /* per layer: the float run's values */
    int64_t *fnum;
    double *sig, *noise;
    int quant;               /* 0: the float run (store), 1: the quantized run (compare) */
} measure_ctx;

static void measure_obs(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    measure_ctx *m = user;
    if (node < 0 || node >= m->g->n_nodes || n_outputs < 1)
        return;
    int32_t t = m->g->nodes[node].outputs[0];
    int32_t L = t >= 0 ? m->layer_of[t] : -1;
    if (L < 0)
        return;
    const fgq_tensor_view *v = outputs[0];
    int64_t n = 1;
    for (int32_t d = 0; d < v->rank; d++)
        n *= v->dims[d];
    if (n != m->fnum[L])
        return;
    if (!m->quant) {
        if (v->dtype == FGQ_DT_F32)
            memcpy(m->fbuf[L], v->data, (size_t)n * sizeof(float));
        return;
    }
    const fgq_ir_tensor *qt = &m->g->tensors[t];
    float s = qt->q.n_scales > 0 ? qt->q.scales[0] : 1.0f;
    int32_t z = qt->q.n_scales > 0 && qt->q.zero_points ? qt->q.zero_points[0] : 0;
    for (int64_t i = 0; i < n; i++) {
        double x;
        if (v->dtype == FGQ_DT_F32)
            x = ((const float *)v->data)[i];
        else if (v->dtype == FGQ_DT_U8)
            x = (double)s * (double)(((const uint8_t *)v->data)[i] - z);
        else if (v->dtype == FGQ_DT_S8)
            x = (double)s * (double)(((const int8_t *)v->data)[i] - z);
        else
            return;
        double f = m->fbuf[L][i];
        m->sig[L] += f * f;
        m->noise[L] += (f - x) * (f - x);
    }
}

fgq_status fgq_quant_measure(const fgq_graph *fg, const fgq_graph *qg, const fgq_samples *samples,
                             fgq_layer_report *layers, int32_t n_layers, fgq_calib_progress progress, void *user,
                             fgq_error *err)
{
    const int64_t n_samples = samples->n;
    if (samples->n_inputs != fg->n_inputs || qg->n_inputs != fg->n_inputs)
        return fgq_fail(err, FGQ_ERR_VALUE, "measuring: samples for %d inputs, the models have %d and %d",
                        (int)samples->n_inputs, (int)fg->n_inputs, (int)qg->n_inputs);
    fgq_graph_runner fr, qr;
    memset(&qr, 0, sizeof qr);
    fgq_status st = fgq_graph_runner_init(&fr, fg, err);
    if (st != FGQ_OK)
        return st;
    if ((st = fgq_graph_runner_init(&qr, qg, err)) != FGQ_OK) {
        fgq_graph_runner_free(&fr);
        return st;
    }
    size_t nl = (size_t)(n_layers > 0 ? n_layers : 1);
    int32_t *flayer = malloc((size_t)(fg->n_tensors + 1) * sizeof(int32_t));
    int32_t *qlayer = malloc((size_t)(qg->n_tensors + 1) * sizeof(int32_t));
    float **fbuf = calloc(nl, sizeof *fbuf);
    int64_t *fnum = calloc(nl, sizeof *fnum);
    double *sig = calloc(nl, sizeof *sig), *noise = calloc(nl, sizeof *noise);
    float *fo[16] = {0}, *qo[16] = {0};
    if (flayer == NULL || qlayer == NULL || fbuf == NULL || fnum == NULL || sig == NULL || noise == NULL ||
        fg->n_outputs > 16 || qg->n_outputs != fg->n_outputs)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "measuring: out of memory (or more than 16 outputs)");
    for (int32_t t = 0; st == FGQ_OK && t < fg->n_tensors; t++)
        flayer[t] = -1;
    for (int32_t t = 0; st == FGQ_OK && t < qg->n_tensors; t++)
        qlayer[t] = -1;
    for (int32_t L = 0; st == FGQ_OK && L < n_layers; L++) {
        if (layers[L].float_tensor < 0 || layers[L].q_tensor < 0)
            continue;
        flayer[layers[L].float_tensor] = L;
        qlayer[layers[L].q_tensor] = L;
        fnum[L] = fgq_ir_tensor_numel(&fg->tensors[layers[L].float_tensor]);
        if ((fbuf[L] = calloc((size_t)(fnum[L] > 0 ? fnum[L] : 1), sizeof(float))) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "measuring: out of memory");
    }
    for (int32_t o = 0; st == FGQ_OK && o < fg->n_outputs; o++) {
        fgq_tensor_info a, b;
        fgq_model_output_info(&fr.model, o, &a);
        fgq_model_output_info(&qr.model, o, &b);
        fo[o] = malloc((size_t)a.size_bytes + 1);
        qo[o] = malloc((size_t)b.size_bytes + 1);
        if (fo[o] == NULL || qo[o] == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "measuring: out of memory");
    }
    measure_ctx fm = {fg, flayer, fbuf, fnum, sig, noise, 0}, qm = {qg, qlayer, fbuf, fnum, sig, noise, 1};
    for (int64_t s = 0; st == FGQ_OK && s < n_samples; s++) {
        const void *x[FGQ_SAMPLES_MAX_INPUTS];
        fgq_samples_at(samples, s, x);
        st = fgq_graph_runner_run(&fr, (const float *const *)x, fo, measure_obs, &fm, err);
        if (st == FGQ_OK)
            st = fgq_graph_runner_run(&qr, (const float *const *)x, qo, measure_obs, &qm, err);
        if (st == FGQ_OK && progress != NULL)
            progress(user, s + 1, n_samples);
    }
    for (int32_t L = 0; st == FGQ_OK && L < n_layers; L++) {
        if (fbuf[L] == NULL)
            continue;
        layers[L].act_sqnr_db = noise[L] > 0.0 ? 10.0 * log10(sig[L] / noise[L]) : INFINITY;
    }
    for (int32_t o = 0; o < 16; o++) {
        free(fo[o]);
        free(qo[o]);
    }
    for (size_t L = 0; fbuf != NULL && L < nl; L++)
        free(fbuf[L]);
    free(fbuf);
    free(fnum);
    free(sig);
    free(noise);
    free(flayer);
    free(qlayer);
    fgq_graph_runner_free(&fr);
    fgq_graph_runner_free(&qr);
    return st;
}

