/* lut.c — QLUT tables (lut.h): each entry the float function at the code's real value, quantized. */
#include "quant/format/lut.h"

#include <math.h>

static double sigmoid(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    const double e = exp(x); /* no overflow for large |x|, relative precision kept near 0 */
    return e / (1.0 + e);
}

static double clamp01(double v)
{
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

const char *fgq_lut_fn_name(int32_t fn)
{
    static const char *const names[FGQ_LUT_FN_COUNT_] = {"table",     "Sigmoid", "HardSigmoid",
                                                         "HardSwish", "Tanh",    "Swish"};
    return fn > FGQ_LUT_TABLE && fn < FGQ_LUT_FN_COUNT_ ? names[fn] : names[FGQ_LUT_TABLE];
}

double fgq_lut_eval(fgq_lut_fn fn, double alpha, double beta, double x)
{
    switch (fn) {
    case FGQ_LUT_SIGMOID: return sigmoid(x);
    case FGQ_LUT_HARD_SIGMOID: return clamp01(alpha * x + beta);
    case FGQ_LUT_HARD_SWISH: return x * clamp01(x / 6.0 + 0.5);
    case FGQ_LUT_TANH: return tanh(x);
    case FGQ_LUT_SWISH: return x * sigmoid(x);
    default: return NAN;
    }
}

fgq_status fgq_lut_build(fgq_lut_fn fn, float alpha, float beta, fgq_dtype x_dt, const fgq_affine_params *x,
                         fgq_dtype y_dt, const fgq_affine_params *y, uint8_t table[256], fgq_error *err)
{
    if ((x_dt != FGQ_DT_U8 && x_dt != FGQ_DT_S8) || (y_dt != FGQ_DT_U8 && y_dt != FGQ_DT_S8))
        return fgq_fail(err, FGQ_ERR_VALUE, "lookup table from %s to %s: expected u8 or s8", fgq_dtype_name(x_dt),
                        fgq_dtype_name(y_dt));
    if (!(x->scale > 0.0f) || !isfinite(x->scale) || !(y->scale > 0.0f) || !isfinite(y->scale))
        return fgq_fail(err, FGQ_ERR_VALUE, "lookup table: scales %g, %g, expected finite and > 0", (double)x->scale,
                        (double)y->scale);
    if (fn <= FGQ_LUT_TABLE || fn >= FGQ_LUT_FN_COUNT_)
        return fgq_fail(err, FGQ_ERR_VALUE, "lookup table: unknown function %d", (int)fn);
    const int32_t lo = y_dt == FGQ_DT_S8 ? -128 : 0, hi = y_dt == FGQ_DT_S8 ? 127 : 255;
    const int32_t qmin = y->qmin > lo ? y->qmin : lo, qmax = y->qmax < hi ? y->qmax : hi;
    const int32_t x_off = x_dt == FGQ_DT_S8 ? -128 : 0;
    for (int32_t i = 0; i < 256; i++) {
        const int32_t q = i + x_off;
        const double v = fgq_lut_eval(fn, alpha, beta, (double)x->scale * (double)(q - x->zero_point));
        double r = round(v / (double)y->scale) + (double)y->zero_point;
        r = !(r >= qmin) ? qmin : r > qmax ? qmax : r; /* NaN (none of these functions gives one) -> qmin */
        table[i] = (uint8_t)(uint32_t)(int32_t)r;      /* s8: the two's complement byte */
    }
    return FGQ_OK;
}
