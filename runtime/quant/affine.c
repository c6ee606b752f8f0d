/* affine.c — TF min/max affine parameters, 8-bit quantize/dequantize, fixed-point requantization. */
#include "quant/affine.h"

#include <float.h>
#include <math.h>

fgq_status fgq_affine_choose_tf(float min, float max, int32_t qmin, int32_t qmax,
                                fgq_affine_params *out, fgq_error *err)
{
    if (!isfinite(min) || !isfinite(max))
        return fgq_fail(err, FGQ_ERR_VALUE, "affine range [%g, %g] is not finite", (double)min, (double)max);
    if (min > max)
        return fgq_fail(err, FGQ_ERR_VALUE, "affine range min %g > max %g", (double)min, (double)max);
    if (qmin >= qmax)
        return fgq_fail(err, FGQ_ERR_VALUE, "integer range [%d, %d] is empty", (int)qmin, (int)qmax);
    /* Widen to contain 0 so that 0.0 (padding, ReLU floor) is representable. */
    if (min > 0.0f)
        min = 0.0f;
    if (max < 0.0f)
        max = 0.0f;
    out->qmin = qmin;
    out->qmax = qmax;
    double levels = (double)qmax - (double)qmin;
    float scale = (float)(((double)max - (double)min) / levels);
    if (!(scale >= FLT_MIN)) {
        /* Empty or sub-normal range: every value quantizes to the zero point.
         * z must be the code of 0.0, i.e. clamp(0, qmin, qmax). */
        out->scale = 1.0f;
        out->zero_point = qmin > 0 ? qmin : qmax < 0 ? qmax : 0;
        return FGQ_OK;
    }
    /* Nudge: z = qmin - min/scale rounded to an integer, so that 0.0 maps to z
     * exactly and dequantizes to scale * 0 = 0. */
    double zf = (double)qmin - (double)min / (double)scale;
    int32_t z;
    if (zf <= (double)qmin)
        z = qmin;
    else if (zf >= (double)qmax)
        z = qmax;
    else
        z = (int32_t)round(zf);
    out->scale = scale;
    out->zero_point = z;
    return FGQ_OK;
}

fgq_status fgq_affine_choose_u8(float min, float max, fgq_affine_params *out, fgq_error *err)
{
    return fgq_affine_choose_tf(min, max, 0, 255, out, err);
}

fgq_status fgq_affine_choose_s8(float min, float max, fgq_affine_params *out, fgq_error *err)
{
    return fgq_affine_choose_tf(min, max, -128, 127, out, err);
}

int32_t fgq_affine_quantize(float x, const fgq_affine_params *p)
{
    /* Clamp in float before the integer conversion: x/scale may be huge or NaN. */
    float v = roundf(x / p->scale) + (float)p->zero_point;
    if (!(v >= (float)p->qmin))
        return p->qmin;
    if (v > (float)p->qmax)
        return p->qmax;
    return (int32_t)v;
}

float fgq_affine_dequantize(int32_t q, const fgq_affine_params *p)
{
    return p->scale * (float)(q - p->zero_point);
}

void fgq_affine_quantize_u8(const float *x, int64_t n, const fgq_affine_params *p, uint8_t *q)
{
    for (int64_t i = 0; i < n; i++)
        q[i] = (uint8_t)fgq_affine_quantize(x[i], p);
}

void fgq_affine_quantize_s8(const float *x, int64_t n, const fgq_affine_params *p, int8_t *q)
{
    for (int64_t i = 0; i < n; i++)
        q[i] = (int8_t)fgq_affine_quantize(x[i], p);
}

void fgq_affine_dequantize_u8(const uint8_t *q, int64_t n, const fgq_affine_params *p, float *x)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = fgq_affine_dequantize(q[i], p);
}

void fgq_affine_dequantize_s8(const int8_t *q, int64_t n, const fgq_affine_params *p, float *x)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = fgq_affine_dequantize(q[i], p);
}

fgq_status fgq_quantize_multiplier(double real, int32_t *mult, int32_t *shift, fgq_error *err)
{
    if (real == 0.0) {
        *mult = 0;
        *shift = 0;
        return FGQ_OK;
    }
    if (!(real > 0.0) || !isfinite(real) || real < 0x1p-31 || real >= 0x1p31)
        return fgq_fail(err, FGQ_ERR_VALUE, "requantization multiplier %g outside [2^-31, 2^31)", real);
    int e;
    double frac = frexp(real, &e); /* real = frac * 2^e, frac in [0.5, 1) */
    int64_t m = (int64_t)llround(frac * 2147483648.0);
    if (m == (int64_t)1 << 31) { /* frac rounded up to 1.0 */
        m /= 2;
        e++;
    }
    if (e > 31)
        return fgq_fail(err, FGQ_ERR_VALUE, "requantization multiplier %g too large", real);
    *mult = (int32_t)m;
    *shift = e;
    return FGQ_OK;
}

/* (a * b * 2) >> 32, rounded to nearest with exact halves toward +infinity
 * (gemmlowp's nudge is 2^30 for a positive product, 1 - 2^30 for a negative
 * one, then division truncating toward zero); saturates the single overflow
 * case a == b == INT32_MIN. */
static int32_t srdhm_s32(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    int64_t r = (ab + nudge) / (1ll << 31); /* C division truncates toward zero */
    return (int32_t)r;
}

/* x / 2^exponent rounded half away from zero. */
static int32_t rounding_shift_right_s32(int32_t x, int exponent)
{
    if (exponent <= 0)
        return x;
    int32_t mask = (int32_t)((1ll << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t fgq_requantize_s32(int32_t acc, int32_t mult, int32_t shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)acc * ((int64_t)1 << left);
    if (shifted > INT32_MAX)
        shifted = INT32_MAX;
    if (shifted < INT32_MIN)
        shifted = INT32_MIN;
    return rounding_shift_right_s32(srdhm_s32((int32_t)shifted, mult), right);
}
