/*
 * calib.h — activation statistics for quantization (DESIGN §3 "Calibration
 * observers"): run the float graph over calibration samples and keep, per
 * activation tensor (graph inputs and node outputs), what the observers need
 * to pick a clipping range [lo, hi] for it.
 *
 * Per tracked tensor: the running min/max and a histogram of FGQ_CALIB_BINS
 * bins of width w anchored at 0 (bin b covers [b·w, (b+1)·w) for absolute
 * bin indices off .. off+BINS-1). When a value falls outside, w doubles and
 * pairs of bins merge (absolute index b -> floor(b/2)) until it fits, so the
 * histogram is exact up to its current bin width whatever order values come.
 *
 * Observers (fgq_calib_range):
 *   minmax       [min, max] seen;
 *   percentile   [P(100−p), P(p)] (p in (50, 100], default 99.99), each
 *                percentile read from the histogram, linear inside a bin
 *                (error at most one bin width against the sorted data);
 *   mse          the [lo, hi] minimising the squared error of quantizing the
 *                histogram (each bin as its centre) with the TF parameters
 *                of [lo, hi] on `levels` levels: clipping error outside,
 *                rounding error inside. Candidates: lo ∈ {min·i/G}, hi ∈
 *                {max·j/G}, i, j = 1..G (G = 128 for a one-sided tensor, 48
 *                per side for a two-sided one); the unclipped [min, max] is
 *                among them, so on the histogram mse never loses to minmax.
 * Every range returned contains 0 (the TF rule: 0.0 must be exact).
 *
 * Errors: NaN/Inf in observed data is FGQ_ERR_VALUE naming the tensor; an
 * untracked tensor or a tensor never observed is FGQ_ERR_VALUE.
 */
#ifndef FGQ_CALIB_H
#define FGQ_CALIB_H

#include "graph.h"
#include "run/run_graph.h"

#include <stdint.h>

#define FGQ_CALIB_BINS 2048
#define FGQ_CALIB_MSE_GRID 128
#define FGQ_CALIB_MSE_GRID2 48

typedef enum {
    FGQ_OBS_MINMAX = 0,
    FGQ_OBS_PERCENTILE = 1,
    FGQ_OBS_MSE = 2,
} fgq_observer_kind;

typedef struct {
    fgq_observer_kind kind;
    double percentile; /* FGQ_OBS_PERCENTILE: p in (50, 100] */
} fgq_observer;

/* Parses "minmax", "mse", "percentile" or "percentile:P"; FGQ_ERR_VALUE
 * listing the valid forms otherwise. */
fgq_status fgq_observer_parse(const char *text, fgq_observer *out, fgq_error *err);

typedef struct {
    int64_t count;            /* finite values observed */
    int64_t n_inf;            /* ±Inf values seen (not in count): such a tensor cannot be quantized, only
                                 float ops may read it (an attention mask's -inf scores) */
    double min, max;          /* running, over everything observed */
    double width;             /* bin width; 0 until the first non-zero value */
    int64_t off;              /* absolute index of bin 0 */
    double *bins;             /* FGQ_CALIB_BINS counts, owned */
} fgq_tensor_stats;

/* A stats record per graph tensor; stats[t].bins == NULL: t is not tracked. */
typedef struct {
    int32_t n_tensors;
    fgq_tensor_stats *stats;
} fgq_calib;

/* Tracks every f32 graph input and every f32 node output of g. */
fgq_status fgq_calib_init(fgq_calib *c, const fgq_graph *g, fgq_error *err);
void fgq_calib_free(fgq_calib *c);

/* Adds n values to the statistics of one tensor record. NaN is FGQ_ERR_VALUE; ±Inf is counted apart
 * (n_inf) and fgq_stats_range refuses a tensor that held any. `name` for messages. */
fgq_status fgq_stats_observe_f32(fgq_tensor_stats *s, const float *x, int64_t n, const char *name, fgq_error *err);
/* The same with simd = 0: the plain C passes only (the twin the AVX2 passes are tested against: the
 * statistics come out bit-identical either way). */
fgq_status fgq_stats_observe_f32_with(fgq_tensor_stats *s, const float *x, int64_t n, const char *name, int simd,
                                      fgq_error *err);

/* Runs g (float) on the samples (run_graph.h fgq_samples: one buffer per
 * graph input, bound to g) and observes every tracked tensor. progress (may
 * be NULL) is called after each sample. */
typedef void (*fgq_calib_progress)(void *user, int64_t done, int64_t total);
fgq_status fgq_calib_run(fgq_calib *c, const fgq_graph *g, const fgq_samples *samples, fgq_calib_progress progress,
                         void *user, fgq_error *err);

/* The same as an observer of a sweep (run_graph.h fgq_graph_sweep), so one
 * float pass can also feed other statistics; o holds its state. */
typedef struct {
    fgq_calib *c;
    const fgq_graph *g;
    fgq_error *err;
    fgq_status st;
} fgq_calib_sweep;
void fgq_calib_sweep_observer(fgq_calib_sweep *o, fgq_calib *c, const fgq_graph *g, fgq_error *err,
                              fgq_sweep_observer *out);

/* Range of stats s under observer o for `levels` quantization levels (>= 2;
 * 256 for u8/s8, 16 for u4). Always lo <= 0 <= hi. FGQ_ERR_VALUE for a tensor
 * that held ±Inf. */
fgq_status fgq_stats_range(const fgq_tensor_stats *s, const fgq_observer *o, int32_t levels, const char *name,
                           float *lo, float *hi, fgq_error *err);

/* Squared error per value of quantizing s's histogram (bin centres) with the
 * TF parameters of [lo, hi] on `levels` levels: the mse observer's objective. */
double fgq_stats_expected_mse(const fgq_tensor_stats *s, double lo, double hi, int32_t levels);

#endif /* FGQ_CALIB_H */
