/* pipeline.c — the float passes a quantization needs; see pipeline.h. */
#include "quant/pipeline.h"

#include "import/shape_infer.h"
#include "passes/equalize.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_sample(void *user, int64_t done, int64_t total)
{
    const fgq_stage_progress *p = user;
    if (p != NULL && p->update != NULL)
        p->update(p->user, done, total);
}

fgq_status fgq_quant_stats_collect(fgq_quant_stats *s, const fgq_graph *fg, const fgq_samples *samples,
                                   fgq_quant_config *cfg, int32_t threads, const fgq_stage_progress *progress,
                                   fgq_error *err)
{
    const int64_t n = samples->n;
    memset(s, 0, sizeof *s);
    cfg->means = NULL;
    cfg->hessians = NULL;
    if (n < 1) {
        if (cfg->acts == FGQ_ACTS_DYNAMIC)
            return FGQ_OK;
        return fgq_fail(err, FGQ_ERR_VALUE, "static activations need calibration samples");
    }
    const double t0 = seconds();
    fgq_sweep_observer obs[3];
    int32_t n_obs = 0;
    fgq_calib_sweep co;
    fgq_means_sweep mo;
    fgq_hessian_sweep ho;
    int want_means = fgq_quant_config_wants_means(cfg), has_means = 0, has_h = 0;
    fgq_status st = FGQ_OK;
    if (cfg->acts != FGQ_ACTS_DYNAMIC) {
        if ((st = fgq_calib_init(&s->calib, fg, err)) != FGQ_OK)
            return st;
        s->has_calib = 1;
        fgq_calib_sweep_observer(&co, &s->calib, fg, err, &obs[n_obs++]);
    }
    if (st == FGQ_OK && want_means && (st = fgq_input_means_begin(&mo, &s->means, fg, err, &obs[n_obs])) == FGQ_OK) {
        n_obs++;
        has_means = 1;
    }
    if (st == FGQ_OK && cfg->solver == FGQ_SOLVER_GPTQ &&
        (st = fgq_hessians_begin(&ho, &s->hessians, fg, n, err, &obs[n_obs])) == FGQ_OK) {
        n_obs++;
        has_h = 1;
    }
    const char *stage = has_h ? "calibrate + statistics" : "calibrate";
    if (st == FGQ_OK && n_obs > 0) {
        if (progress != NULL && progress->begin != NULL)
            progress->begin(progress->user, stage, n);
        st = fgq_graph_sweep(fg, samples, obs, n_obs, threads, on_sample, (void *)progress, err);
        if (progress != NULL && progress->end != NULL)
            progress->end(progress->user);
    }
    if (has_means) {
        fgq_input_means_finish(&mo, n);
        cfg->means = &s->means;
    }
    if (has_h && st == FGQ_OK) {
        fgq_hessians_finish(&ho);
        cfg->hessians = &s->hessians;
    }
    s->seconds = seconds() - t0;
    if (st != FGQ_OK) {
        fgq_quant_stats_free(s);
        cfg->means = NULL;
        cfg->hessians = NULL;
    }
    return st;
}

void fgq_quant_stats_free(fgq_quant_stats *s)
{
    if (s->has_calib)
        fgq_calib_free(&s->calib);
    fgq_input_means_free(&s->means);
    fgq_hessians_free(&s->hessians);
    memset(s, 0, sizeof *s);
}

fgq_status fgq_quant_prepare_graph(fgq_graph *fg, const fgq_quant_config *cfg, int32_t *n_pairs, fgq_error *err)
{
    if (n_pairs != NULL)
        *n_pairs = 0;
    return cfg->equalize ? fgq_pass_equalize(fg, n_pairs, err) : FGQ_OK;
}

int fgq_quant_below_8_bits(const fgq_graph *fg, const fgq_quant_config *cfg)
{
    fgq_policy pol;
    for (int32_t i = 0; i < fg->n_nodes; i++)
        if (fgq_quant_layer_policy(fg, cfg, i, &pol) && fgq_wq_below_8_bits(pol.kind))
            return 1;
    return 0;
}

int fgq_quant_sequential_wanted(const fgq_graph *fg, const fgq_quant_config *cfg, int64_t n)
{
    if (cfg->solver != FGQ_SOLVER_GPTQ || n < 1 || cfg->sequential == FGQ_SEQ_OFF)
        return 0;
    return cfg->sequential == FGQ_SEQ_ON ||
           (fgq_quant_below_8_bits(fg, cfg) && fgq_sequential_state_bytes(fg, n) <= FGQ_SEQUENTIAL_AUTO_BYTES);
}

fgq_status fgq_quant_pipeline(fgq_graph *fg, const fgq_samples *samples, fgq_quant_config *cfg,
                              const fgq_budget *budget, int32_t threads, int64_t measure_samples,
                              const fgq_stage_progress *progress, fgq_quant_result *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    const int64_t n = samples->n;
    fgq_status st = fgq_quant_config_check(cfg, err);
    if (st == FGQ_OK)
        st = fgq_quant_config_check_graph(cfg, fg, err);
    if (st == FGQ_OK)
        st = fgq_quant_prepare_graph(fg, cfg, &out->equalized_pairs, err);
    if (st == FGQ_OK)
        st = fgq_quant_stats_collect(&out->stats, fg, samples, cfg, threads, progress, err);
    const fgq_calib *calib = out->stats.has_calib ? &out->stats.calib : NULL;
    const double tb = seconds();
    if (st == FGQ_OK && budget != NULL) {
        if ((st = fgq_budget_search(fg, calib, cfg, samples, budget, progress, &out->budget, err)) == FGQ_OK) {
            out->has_budget = 1;
            cfg->overrides = out->budget.overrides;
            cfg->n_overrides = out->budget.n_overrides;
        }
    }
    out->budget_seconds = budget != NULL ? seconds() - tb : 0.0;
    const fgq_hessians *float_h = cfg->hessians;
    const fgq_input_means *float_means = cfg->means;
    if (st == FGQ_OK && fgq_quant_sequential_wanted(fg, cfg, n)) {
        const double ts = seconds();
        st = fgq_sequential_run(fg, calib, cfg, samples, threads, progress, &out->sequential, err);
        out->sequential.seconds = seconds() - ts;
        if (st == FGQ_OK) {
            out->has_sequential = 1;
            /* layers the sequential pass left out (too large to track, u8) keep their float statistics */
            out->seq_h.n_nodes = fg->n_nodes;
            out->seq_h.layer = calloc((size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1), sizeof *out->seq_h.layer);
            out->seq_means.n_tensors = fg->n_tensors;
            out->seq_means.n_samples = n;
            out->seq_means.mean = calloc((size_t)(fg->n_tensors > 0 ? fg->n_tensors : 1), sizeof *out->seq_means.mean);
            if (out->seq_h.layer == NULL || out->seq_means.mean == NULL) {
                st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
            } else {
                fgq_sequential_view(&out->sequential, float_h, float_means, &out->seq_h, &out->seq_means);
                cfg->hessians = &out->seq_h;
                if (cfg->means != NULL)
                    cfg->means = &out->seq_means;
            }
        }
    }
    const double tq = seconds();
    if (st == FGQ_OK)
        st = fgq_quantize_graph(fg, calib, cfg, &out->qg, &out->layers, &out->n_layers, err);
    out->quantize_seconds = seconds() - tq;
    if (out->has_sequential) { /* the float model again, for measuring and for the caller */
        fgq_sequential_restore(&out->sequential, fg);
        cfg->hessians = float_h;
        cfg->means = float_means;
    }
    if (st == FGQ_OK && measure_samples != 0 && n > 0) {
        const double tm = seconds();
        out->measure_samples = measure_samples > 0 && measure_samples < n ? measure_samples : n;
        if (progress != NULL && progress->begin != NULL)
            progress->begin(progress->user, "measure", out->measure_samples);
        st = fgq_quant_measure(fg, out->qg, samples, measure_samples, out->layers, out->n_layers,
                               progress != NULL ? progress->update : NULL, progress != NULL ? progress->user : NULL,
                               err);
        if (progress != NULL && progress->end != NULL)
            progress->end(progress->user);
        out->measure_seconds = seconds() - tm;
    }
    if (st == FGQ_OK && cfg->io_quantized) { /* last: the steps above feed and read floats */
        st = fgq_quant_io_rewrite(out->qg, &out->io, err);
        for (int32_t L = 0; L < out->n_layers; L++)
            out->layers[L].q_tensor = -1; /* renumbered */
    }
    if (st != FGQ_OK)
        fgq_quant_result_free(out);
    return st;
}

void fgq_quant_result_free(fgq_quant_result *r)
{
    fgq_quant_stats_free(&r->stats);
    fgq_budget_result_free(&r->budget);
    fgq_sequential_free(&r->sequential);
    free(r->seq_h.layer); /* pointers into the statistics freed above and below */
    free(r->seq_means.mean);
    fgq_graph_free(r->qg);
    free(r->layers);
    memset(r, 0, sizeof *r);
}
