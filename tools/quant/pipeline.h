/*
 * pipeline.h — the statistics a quantization needs, gathered in one place for
 * every caller (`fgq quantize`, `fgq eval --sensitivity`, the budget search):
 * ONE float pass over the calibration samples (run_graph.h fgq_graph_sweep)
 * feeding each observer cfg asks for:
 *
 *   calibrate     activation ranges (calib.h), unless cfg->acts is dynamic
 *   bias means    mean input of each weight layer, when bias correction
 *                 applies to some layer (fgq_quant_config_wants_means)
 *   statistics    H = Σ x·xᵀ per weight layer (quant/hessian.h), when
 *                 cfg->solver is GPTQ
 * cfg->means and cfg->hessians are pointed at the results, which live in
 * *s until fgq_quant_stats_free. progress may be NULL: begin(stage, total
 * samples), update(done) after every sample, end(). threads: per inference.
 */
#ifndef FGQ_TOOLS_QUANT_PIPELINE_H
#define FGQ_TOOLS_QUANT_PIPELINE_H

#include "quant/quantize.h"
#include "quant/quantized_io.h"
#include "quant/search/budget.h"
#include "quant/solve/sequential.h"

typedef struct {
    fgq_calib calib;
    int has_calib;
    fgq_input_means means;
    fgq_hessians hessians;
    double seconds;    /* wall time of the float pass */
} fgq_quant_stats;

/* The float graph as the quantization sees it: cross-layer equalization when
 * cfg->equalize (equalize.h; *n_pairs, may be NULL, the pairs rescaled). Run
 * it before fgq_quant_stats_collect. */
fgq_status fgq_quant_prepare_graph(fgq_graph *fg, const fgq_quant_config *cfg, int32_t *n_pairs, fgq_error *err);

/* fg: the optimized float graph; samples: for each of its inputs (run_graph.h
 * fgq_samples, bound to fg), samples->n of them (0 only with dynamic
 * activations: nothing is gathered). */
fgq_status fgq_quant_stats_collect(fgq_quant_stats *s, const fgq_graph *fg, const fgq_samples *samples,
                                   fgq_quant_config *cfg, int32_t threads, const fgq_stage_progress *progress,
                                   fgq_error *err);
void fgq_quant_stats_free(fgq_quant_stats *s);

/* The whole quantization of one model, what `fgq quantize` and `fgq eval
 * --sensitivity` run: fgq_quant_prepare_graph, fgq_quant_stats_collect, the
 * budget search when budget is not NULL (its choices become cfg's overrides),
 * with cfg->sequential (GPTQ) the quantized-prefix statistics
 * (solve/sequential.h; fg's weights are put back afterwards),
 * fgq_quantize_graph, then, when `measure` and there are samples,
 * fgq_quant_measure on them, and last with cfg->io_quantized fgq_quant_io_rewrite.
 * fg is changed in place (equalization). */
typedef struct {
    fgq_quant_stats stats;
    int has_budget;
    fgq_budget_result budget;
    int32_t equalized_pairs;
    int has_sequential;          /* cfg->sequential: the quantized-prefix statistics used */
    fgq_sequential sequential;
    fgq_hessians seq_h;          /* per layer: the sequential H̃, else the float H (pointers only) */
    fgq_input_means seq_means;   /* likewise E[x̃], else E[x] (pointers only) */
    fgq_graph *qg;               /* the integer model */
    fgq_layer_report *layers;
    int32_t n_layers;
    /* wall seconds of the stages after the float pass (stats.seconds, sequential.seconds): */
    double budget_seconds;       /* the budget search (0 without one) */
    double quantize_seconds;     /* fgq_quantize_graph: weights (solver included), bias, the graph */
    double measure_seconds;      /* the per-layer measuring pass (0 without it) */
    int64_t measure_samples;     /* the samples it ran on (0 without it) */
    fgq_io_rewrite io;           /* cfg->io_quantized: what became u8 / s8 (then layers' q_tensor is -1) */
} fgq_quant_result;

/* The measuring pass's default sample count (quantize --measure-samples): the per-layer SQNR
 * settles long before that, and the pass runs both models over each sample. */
#define FGQ_MEASURE_SAMPLES 64

/* measure_samples: 0 skips the measuring pass; > 0 measures on at most that many calibration
 * samples, evenly spaced; < 0 on every one. */
fgq_status fgq_quant_pipeline(fgq_graph *fg, const fgq_samples *samples, fgq_quant_config *cfg,
                              const fgq_budget *budget, int32_t threads, int64_t measure_samples,
                              const fgq_stage_progress *progress, fgq_quant_result *out, fgq_error *err);
void fgq_quant_result_free(fgq_quant_result *r);

/* 1 when cfg quantizes a weight layer of fg below 8 bits (s4, s3, s2 or ternary). */
int fgq_quant_below_8_bits(const fgq_graph *fg, const fgq_quant_config *cfg);
/* Whether fgq_quant_pipeline runs the sequential statistics for cfg on n
 * samples of fg (cfg->sequential; AUTO: when a layer is below 8 bits and
 * the activations the pass keeps fit in FGQ_SEQUENTIAL_AUTO_BYTES,
 * solve/sequential.h). */
int fgq_quant_sequential_wanted(const fgq_graph *fg, const fgq_quant_config *cfg, int64_t n);

#endif /* FGQ_TOOLS_QUANT_PIPELINE_H */
