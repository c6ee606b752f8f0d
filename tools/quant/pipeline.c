/* pipeline.c — the float passes a quantization needs; see pipeline.h. */
#include "quant/pipeline.h"

#include "equalize.h"

#include <string.h>
#include <time.h>

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const fgq_stage_progress *stage_begin(const fgq_stage_progress *p, const char *stage, int64_t total)
{
    if (p != NULL && p->begin != NULL)
        p->begin(p->user, stage, total);
    return p;
}

static void stage_end(const fgq_stage_progress *p)
{
    if (p != NULL && p->end != NULL)
        p->end(p->user);
}

static void on_sample(void *user, int64_t done, int64_t total)
{
    const fgq_stage_progress *p = user;
    if (p != NULL && p->update != NULL)
        p->update(p->user, done, total);
}

fgq_status fgq_quant_stats_collect(fgq_quant_stats *s, const fgq_graph *fg, const float *data, int64_t n,
                                   fgq_quant_config *cfg, const fgq_stage_progress *progress, fgq_error *err)
{
    memset(s, 0, sizeof *s);
    cfg->means = NULL;
    cfg->hessians = NULL;
    if (n < 1) {
        if (cfg->acts == FGQ_ACTS_DYNAMIC)
            return FGQ_OK;
        return fgq_fail(err, FGQ_ERR_VALUE, "static activations need calibration samples");
    }
    fgq_status st = FGQ_OK;
    void *pu = (void *)progress;
    double t0 = seconds();
    if (cfg->acts != FGQ_ACTS_DYNAMIC) {
        if ((st = fgq_calib_init(&s->calib, fg, err)) != FGQ_OK)
            return st;
        s->has_calib = 1;
        stage_begin(progress, "calibrate", n);
        st = fgq_calib_run(&s->calib, fg, data, n, on_sample, pu, err);
        stage_end(progress);
        if (st != FGQ_OK)
            goto fail;
    }
    s->seconds[0] = seconds() - t0;
    t0 = seconds();
    if (fgq_quant_config_wants_means(cfg)) {
        stage_begin(progress, "bias means", n);
        st = fgq_input_means_run(&s->means, fg, data, n, on_sample, pu, err);
        stage_end(progress);
        if (st != FGQ_OK)
            goto fail;
        cfg->means = &s->means;
    }
    s->seconds[1] = seconds() - t0;
    t0 = seconds();
    if (cfg->solver == FGQ_SOLVER_GPTQ) {
        stage_begin(progress, "statistics", n);
        st = fgq_hessians_run(&s->hessians, fg, data, n, on_sample, pu, err);
        stage_end(progress);
        if (st != FGQ_OK)
            goto fail;
        cfg->hessians = &s->hessians;
    }
    s->seconds[2] = seconds() - t0;
    return FGQ_OK;
fail:
    fgq_quant_stats_free(s);
    cfg->means = NULL;
    cfg->hessians = NULL;
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
