/*
 * equalize.h — cross-layer equalization (Nagel et al. 2019, "Data-Free
 * Quantization through Weight Equalization and Bias Correction", §4.1), a
 * graph pass on the optimized float graph (passes.h), before quantization.
 *
 * For a pair Conv1 → f → Conv2 where f is the identity or ReLU (fused into
 * Conv1 as FGQ_ATTR_ACT NONE / RELU, or a CLIP of [0, +inf)), then up to 7
 * MaxPool / AveragePool / GlobalAveragePool / Relu nodes (each commutes with a
 * positive per-channel scale), every tensor on the way read by the next node
 * alone and not a graph output, every weight and bias
 * constant and used by that node only: f is positively homogeneous, so
 * scaling Conv1's output channel i by 1/s_i and Conv2's input channel i by
 * s_i leaves the model's function unchanged (to float rounding):
 *     W1[i, :] /= s_i,  b1[i] /= s_i,  W2[:, i, ...] *= s_i
 * (Conv2 with groups: the rows of channel i's group, its local channel;
 * depthwise included). s_i = sqrt(r1_i / r2_i) with r1_i = max |W1[i, :]| and
 * r2_i = max |W2[., i, ...]| makes both ranges sqrt(r1_i·r2_i): per-channel
 * ranges even out, so per-tensor and grouped grids waste fewer levels on
 * outlier channels. Channels with a zero range keep s_i = 1. Chains
 * (Conv1 → Conv2 → Conv3) are swept FGQ_EQUALIZE_SWEEPS times. The tensors
 * between the pair, whose values are now scaled, are renamed NAME.equalized
 * so that nothing compares them with the original model's NAME.
 *
 * Not equalized: Clip with a finite upper bound (ReLU6): clip(x/s, 0, 6) is
 * not clip(x, 0, 6)/s, so the pair would change the model (Nagel et al.
 * replace ReLU6 by ReLU, which does change it); any other op in between.
 * Bias absorption (their §4.2) needs each channel's pre-activation
 * distribution and is not done.
 */
#ifndef FGQ_EQUALIZE_H
#define FGQ_EQUALIZE_H

#include "graph.h"

#define FGQ_EQUALIZE_SWEEPS 4

/* Rescales every eligible pair in place; *n_pairs (may be NULL) = pairs found. */
fgq_status fgq_pass_equalize(fgq_graph *g, int32_t *n_pairs, fgq_error *err);

#endif /* FGQ_EQUALIZE_H */
