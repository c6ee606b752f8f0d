/*
 * budget.h — per-layer precision under a size budget (DESIGN §3): each weight
 * layer gets the candidate policy that loses the least within the budget.
 *
 * Measured cost of a layer l at candidate c, predicted output noise:
 *   N(l, c) = g_l · e_l(c)
 *   e_l(c)  the layer's own relative output error, 1 / SQNR of W·x vs W_q·x
 *           on held-out inputs (quantize.h heldout_sqnr_db: every 4th
 *           calibration sample, of the codes gptq solved without them; where
 *           there is none, out_sqnr_db over every calibration input), for
 *           every candidate in one quantization of the whole model per
 *           candidate. In-sample, a layer with fewer fitted inputs than its
 *           k (a classifier: one input per image) reads far better than it
 *           is: EfficientNet-Lite1's 1280-input classifier, 150 fitted images;
 *   g_l     how much of that reaches the model's output: the layer alone
 *           quantized at its probe candidate (the least e_l after the best:
 *           small enough an error for the output to respond linearly; the
 *           cheapest when no other has a nonzero one), every other node float
 *           (sensitivity.h), run on up to `gain_samples` calibration samples;
 *           g_l = D(output 0) / e_fit_l(probe), D the metric's output noise and
 *           e_fit the in-sample error (the samples D runs on are fitted ones):
 *   mse  Σ(y − ŷ)² / Σy², the relative squared error of the output;
 *   kl   the mean over samples (and rows) of KL(softmax(y) ‖ softmax(ŷ)),
 *        for class scores: to second order it is the logits' noise weighted
 *        by the Fisher matrix diag(p) − ppᵀ, so it ignores what shifts every
 *        class alike (which mse counts) and weighs the noise between the
 *        likely classes most (what flips top-1). EfficientNet-Lite1 --budget
 *        4 (float 89.50): mse 86.00 %, kl 87.25 %; with held-out e_l 86.75
 *        and 87.62 %. Lite2 (90.12): 88.25, 87.88, 86.50, 87.50 %: within a
 *        few of 800 images, the other way (docs/accuracy-real.md).
 *   auto (the default) kl when output 0 holds class scores — it comes from
 *        Softmax or LogSoftmax (through Reshape, Flatten, Squeeze, Unsqueeze,
 *        Identity), or it is one vector of C ≥ 2 values (every other
 *        dimension 1) and C is not the size of a model input (an autoencoder
 *        reconstructs its input) — and mse otherwise.
 *   Softmax outputs are probabilities: kl takes log(max(p, 1e-9)) as their
 *   scores; LogSoftmax outputs are scores as they are.
 * Output noise rather than top-1, because it is additive across layers (the
 * noise of independent layers adds at the output) and continuous: top-1 on
 * a few hundred calibration samples cannot rank 50 layers by 11 candidates.
 *
 * Allocation (multiple-choice knapsack, fgq_budget_allocate): the least
 * Σ N(l, c) within the budget, by dynamic programming over the bytes each
 * choice adds to its layer's cheapest (in at most 16384 units of the spare
 * above the cheapest assignment, rounded up to whole units, so the result
 * stays within the budget and the cheapest always fits), then, while some upgrade fits in what the
 * rounding left, the one with the largest drop of N per added byte. Bytes are the
 * quantized weight bytes as stored (codes, group multipliers, one f32 scale
 * per row). Layers the flags fix (--layer, --first-last, --keep-float) are
 * not searched, but their bytes count. The result never exceeds the budget;
 * a budget below the cheapest assignment is FGQ_ERR_VALUE.
 */
#ifndef FGQ_TOOLS_QUANT_BUDGET_H
#define FGQ_TOOLS_QUANT_BUDGET_H

#include "quant/quantize.h"

#define FGQ_BUDGET_MAX_CANDIDATES 16

typedef enum { FGQ_BUDGET_METRIC_AUTO = 0, FGQ_BUDGET_METRIC_MSE, FGQ_BUDGET_METRIC_KL } fgq_budget_metric;

typedef struct {
    fgq_policy candidates[FGQ_BUDGET_MAX_CANDIDATES];
    int32_t n_candidates;
    double bits;          /* > 0: mean bits per weight over every quantized weight layer; else 0 */
    int64_t bytes;        /* > 0: total quantized weight bytes; else 0 */
    int64_t gain_samples; /* samples for g_l (<= the calibration samples) */
    fgq_budget_metric metric;
} fgq_budget;

/* The output noise a search measures with: mse or kl, `m` itself unless it is
 * auto (the rule above). *rows, *classes: output 0's elements per sample as
 * kl reads them (rows of `classes` scores; for mse one row of all of them);
 * *probs 1 when they are Softmax probabilities. */
fgq_budget_metric fgq_budget_metric_resolve(const fgq_graph *fg, fgq_budget_metric m, int64_t *rows,
                                            int64_t *classes, int *probs);
const char *fgq_budget_metric_name(fgq_budget_metric m);
/* "auto", "mse" or "kl" into *m; FGQ_ERR_VALUE otherwise. */
fgq_status fgq_budget_metric_parse(const char *text, fgq_budget_metric *m, fgq_error *err);
/* One sample's output: adds its signal and noise under `m` (mse: Σy², Σ(y−ŷ)²;
 * kl: rows, Σ KL over the rows) to *sig and *noise; D = noise / sig. */
void fgq_budget_sample_noise(fgq_budget_metric m, int64_t rows, int64_t classes, int probs, const float *y,
                             const float *yq, double *sig, double *noise);

/* The default candidate list: ternary:g4/g16/g64 (exact and asym), s4 (per
 * channel), s4:g32/g64/g128, s8. The s4 steps between 4 and 4.25 bits are
 * what a budget near 4 bits needs: with s4:g32 (4.25) the next step down was
 * ternary:g64 (2.1); EfficientNet-Lite1 --budget 3 77.25 -> 79.25 %. */
void fgq_budget_default_candidates(fgq_budget *b);
/* Parses "P1,P2,..." (policies of policy.h, f32 and u8 excluded). */
fgq_status fgq_budget_parse_candidates(const char *text, fgq_budget *b, fgq_error *err);

typedef struct {
    char node[256];
    int64_t n_weights;
    int searched;                           /* 0: fixed by the flags */
    int32_t choice;                         /* searched: index into the candidates */
    double gain;
    double err[FGQ_BUDGET_MAX_CANDIDATES];  /* e_l(c): on held-out inputs where the solver has them */
    double err_fit[FGQ_BUDGET_MAX_CANDIDATES]; /* e_l(c) on the inputs the codes were fitted to */
    int64_t bytes[FGQ_BUDGET_MAX_CANDIDATES];
} fgq_budget_layer;

typedef struct {
    fgq_budget_layer *layers;
    int32_t n_layers;
    int64_t weights, bytes; /* totals of the assignment */
    double bits;            /* 8 · bytes / weights */
    double limit_bits;      /* what was asked, as bits per weight */
    double noise;           /* Σ N(l, choice) */
    fgq_budget_metric metric; /* mse or kl: what the gains measured */
    fgq_layer_override *overrides; /* cfg's, then one per searched layer: hand these to fgq_quantize_graph */
    int32_t n_overrides;
} fgq_budget_result;

/* Searches (see above). cfg: the configuration of the flags, with the
 * statistics of pipeline.h (calib; hessians for e_l); samples: the
 * calibration samples (run_graph.h, bound to fg). On success *res belongs to the caller (fgq_budget_result_free). */
fgq_status fgq_budget_search(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                             const fgq_samples *samples, const fgq_budget *b, const fgq_stage_progress *progress,
                             fgq_budget_result *res, fgq_error *err);
void fgq_budget_result_free(fgq_budget_result *res);
/* The allocation step alone, on res->layers (their gain, err, bytes and
 * searched filled; each layer's choice the start, and the fixed layers'
 * their policy): sets the searched layers' choices; *bytes is the start's
 * total bytes on entry and the result's on return, <= limit when the start's
 * is. FGQ_ERR_NOMEM only. */
fgq_status fgq_budget_allocate(fgq_budget_result *res, int32_t n_cand, int64_t limit, int64_t *bytes,
                               fgq_error *err);

#endif /* FGQ_TOOLS_QUANT_BUDGET_H */
