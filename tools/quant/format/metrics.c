/* metrics.c — MSE, SQNR, zero fraction, bits per weight (see metrics.h). */
#include "quant/format/metrics.h"

#include <math.h>

double fgq_mse_f32(const float *x, const float *xq, int64_t n)
{
    if (n <= 0)
        return 0.0;
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)xq[i];
        e += d * d;
    }
    return e / (double)n;
}

double fgq_sqnr_db_f32(const float *x, const float *xq, int64_t n)
{
    double signal = 0.0, noise = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)xq[i];
        signal += (double)x[i] * (double)x[i];
        noise += d * d;
    }
    if (noise == 0.0)
        return INFINITY;
    if (signal == 0.0)
        return -INFINITY;
    return 10.0 * log10(signal / noise);
}

double fgq_zero_fraction_f32(const float *xq, int64_t n)
{
    if (n <= 0)
        return 0.0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++)
        zeros += xq[i] == 0.0f;
    return (double)zeros / (double)n;
}

double fgq_bits_per_weight(int64_t bytes, int64_t n_weights)
{
    return n_weights > 0 ? 8.0 * (double)bytes / (double)n_weights : 0.0;
}
