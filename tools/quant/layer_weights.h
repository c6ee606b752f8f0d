/*
 * layer_weights.h — internal to the quantizer (tools/quant/quantize.c and
 * its helpers): one weight layer's quantized weights and its bias
 * correction. Public callers use quantize.h.
 */
#ifndef FGQ_TOOLS_QUANT_LAYER_WEIGHTS_H
#define FGQ_TOOLS_QUANT_LAYER_WEIGHTS_H

#include "quant/quantize.h"

/* What the per-layer steps read: the float graph, the configuration, where errors go. */
typedef struct {
    const fgq_graph *fg;
    const fgq_quant_config *cfg;
    fgq_error *err;
} fgq_layer_ctx;

typedef struct {
    fgq_dtype dt;
    int64_t rows, k, kp, row_bytes, group, n_groups;
    int32_t n_alpha, mmax; /* mmax 0: no GS */
    uint8_t *codes, *gs;
    float *s_row;          /* rows */
    float *deq;            /* rows * k: what the kernels compute */
    int64_t bytes;         /* codes + GS + 4 per row */
    char solver[32];       /* how the codes were chosen: "rtn", "gptq:0.01" */
    double solve_ms;       /* time spent choosing them beyond rounding */
    double out_sqnr_db;    /* SQNR of the layer's output on the calibration inputs (from H); NAN without H */
    double heldout_sqnr_db; /* gptq choosing its damping: the same on the held-out inputs (FGQ_H_VAL) of the
                             * codes solved without them — what the layer leaves on inputs it was not fitted
                             * to (a layer with fewer fitted inputs than k fits them better than others); NAN
                             * otherwise */
} fgq_layer_qweights;

void fgq_layer_qweights_free(fgq_layer_qweights *w);

/* Weights w [rows, k] of float node `node` under policy p, for inputs whose
 * |q_x − z_x| <= dx (the int32 bound of ops_q.h): codes, group multipliers,
 * row scales and the dequantized weights the kernels compute (quantize.h
 * "Weights"), error-compensated when cfg asks for it and the layer has
 * statistics. s_min (NULL: none): per row, the smallest row scale the
 * integer form can carry (the bias must fit int32 in units of s_x·s_row, and
 * the requantization multiplier s_x·s_row/s_y must stay above 2^-31,
 * fgq_row_scale_floor); a row whose weights would get a finer scale gets
 * s_min[r] and coarser codes instead of a wrong output. FGQ_ERR_VALUE for a
 * NaN/Inf weight, FGQ_ERR_UNSUPPORTED for a layer past the int32 bound,
 * FGQ_ERR_NOMEM. */
fgq_status fgq_quantize_layer_weights(const fgq_layer_ctx *c, int32_t node, const fgq_policy *p, const float *w,
                                      int64_t rows, int64_t k, int32_t dx, const float *s_min, fgq_layer_qweights *q);

/* The smallest row scale whose integer form carries a layer's row: bias b in
 * units of s_x·s_row within ±2^30 (half of int32, the other half left to the
 * accumulation and to bias correction), and s_x·s_row/s_y >= 2^-30 (twice
 * the smallest multiplier the requantization represents). s_y <= 0: no
 * multiplier bound (float outputs). */
float fgq_row_scale_floor(float b, float s_x, float s_y);

/* bias[r] −= Σ_k (deq − wr)[r, k]·E[x_k] when cfg's bias correction covers
 * policy pol and cfg->means has node i's input (quantize.h). */
fgq_status fgq_bias_correct(const fgq_layer_ctx *c, int32_t i, const fgq_policy *pol, int64_t rows, int64_t k,
                            const float *wr, const float *deq, float *bias);

#endif /* FGQ_TOOLS_QUANT_LAYER_WEIGHTS_H */
