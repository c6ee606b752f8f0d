/*
 * sensitivity.h — which layer costs the accuracy (`fgq eval --sensitivity`):
 * quantize one weight layer at a time, everything else float, and measure
 * each such model against the float one on the same samples.
 *
 * Layers: the rows of fgq_quantize_graph(fg, calib, cfg)'s report that have
 * weights and run quantized, each at the policy cfg gives it there (--weights,
 * --first-last, --layer: the quantize command's own choice). A layer's model
 * is fgq_quantize_graph with cfg's overrides plus "keep float" for every
 * other node of fg and the layer's policy for it, so its input is quantized
 * with its calibrated range (QUANTIZE), its weights with the policy, its
 * output with its range (its folded bias Add and fused activation come with
 * it), then DEQUANTIZE: the damage of that layer alone.
 *
 * Per layer: top-1 correct count on the samples and the SQNR of output 0
 * against the float model's (compare.h). fg must be the optimized float
 * graph the float outputs came from; float_out: its output 0 per sample.
 */
#ifndef FGQ_SENSITIVITY_H
#define FGQ_SENSITIVITY_H

#include "run/compare.h"
#include "quant/quantize.h"

typedef struct {
    char name[96];
    char op[32];
    char policy[40];
    int64_t top1;        /* correct of samples */
    int64_t top5;
    int64_t agree;       /* argmax equal to the float model's */
    double out_sqnr_db;  /* output 0 against the float model */
} fgq_sensitivity_row;

/* The quantized graph with only float node `node` quantized at `pol`
 * (FGQ_ERR_VALUE when fg has no such node). *out belongs to the caller. */
fgq_status fgq_sensitivity_graph(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                                 const char *node, const fgq_policy *pol, fgq_graph **out, fgq_error *err);

/* Scans every weight layer (see above) over the samples of `in` (whose
 * float_out must be filled, layers 0). threads: per inference. *rows
 * (malloc'd, *n_rows, fg's node order) belong to the caller. progress in
 * `in` counts samples over all layers (total = layers × samples). */
fgq_status fgq_sensitivity_scan(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                                const fgq_compare_input *in, int32_t threads, fgq_sensitivity_row **rows,
                                int32_t *n_rows, fgq_error *err);

/* fg's node whose (possibly truncated) name report row r carries, or NULL. */
const char *fgq_report_node(const fgq_graph *fg, const fgq_layer_report *r);

#endif /* FGQ_SENSITIVITY_H */
