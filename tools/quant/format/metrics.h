/*
 * metrics.h — how much a quantization costs: error against the float
 * original and storage per weight. All sums are in double.
 */
#ifndef FGQ_TOOLS_QUANT_METRICS_H
#define FGQ_TOOLS_QUANT_METRICS_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mean squared error (1/n) * sum (x - xq)^2; 0 for n == 0. */
double fgq_mse_f32(const float *x, const float *xq, int64_t n);

/* Signal-to-quantization-noise ratio, 10 * log10(sum x^2 / sum (x - xq)^2) dB.
 * +INFINITY when the error is 0 (also for n == 0 and for an all-zero signal
 * reproduced exactly); -INFINITY when the signal is all zero but the error
 * is not (nothing was there to preserve, yet noise was added). */
double fgq_sqnr_db_f32(const float *x, const float *xq, int64_t n);

/* Fraction of quantized values equal to 0 (xq[i] == 0.0f, so -0.0 counts);
 * 0 for n == 0. */
double fgq_zero_fraction_f32(const float *xq, int64_t n);

/* 8 * bytes / n_weights; 0 for n_weights == 0. */
double fgq_bits_per_weight(int64_t bytes, int64_t n_weights);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TOOLS_QUANT_METRICS_H */
