/*
 * weights.h — which constant tensors of a graph are weights, and how each is
 * viewed as [rows, k] for quantization: row = output channel, k = reduction
 * length (DESIGN §3: groups run along k within one row).
 *
 *   Conv   W [O, C/g, k1..kn]        rows = O, k = C/g·k1·…·kn (contiguous)
 *   Gemm   B [N, K] (transB = 1)     rows = N, k = K (contiguous)
 *          B [K, N] (transB = 0)     rows = N, k = K (transposed view)
 *   MatMul B [..., K, N]             rows = N (× batch), k = K (transposed view)
 *
 * A tensor used as a weight by several nodes is listed once, with the view of
 * its first user.
 */
#ifndef FGQ_WEIGHTS_H
#define FGQ_WEIGHTS_H

#include "graph.h"

typedef struct {
    int32_t node;       /* first node using it as a weight */
    int32_t tensor;     /* the FGQ_TK_CONST tensor */
    int64_t rows, k;
    int32_t transposed; /* 1: stored [k, rows] per batch, so the view transposes */
} fgq_weight_ref;

/* Lists the graph's weight tensors in node order into *out (malloc'd; caller
 * frees; NULL when none). Only float32 constants are weights. */
fgq_status fgq_find_weights(const fgq_graph *g, fgq_weight_ref **out, int32_t *n_out,
                            fgq_error *err);

/* Copies weight `w` into dst [rows, k] row-major (dst holds rows·k floats). */
void fgq_weight_rows_f32(const fgq_graph *g, const fgq_weight_ref *w, float *dst);

/* 1 if node i is a layer the quantizer turns into QCONV / QGEMM: a Conv
 * (weights of rank 3..5), a Gemm (transA = 0, rank-2 input) or a MatMul
 * (2-D B) with a float activation as input 0 and a float constant weight as
 * input 1; fills its weight tensor, its [rows, k] view and whether the view
 * transposes the stored tensor. 0 otherwise. */
int fgq_quant_weight_layer(const fgq_graph *g, int32_t i, int32_t *wt, int64_t *rows, int64_t *k, int *transposed);

/* 1 when node i is a depthwise convolution: a Conv with group > 1 whose
 * weight has one input channel per group (K = the kernel's taps, 9 for 3×3). */
int fgq_quant_is_depthwise(const fgq_graph *g, int32_t i);

#endif /* FGQ_WEIGHTS_H */
