/*
 * affine.h — 8-bit affine quantization x ≈ scale * (q - zero_point) (DESIGN §3)
 * and the fixed-point requantization used by integer kernels.
 *
 * TensorFlow min/max mapping: [min, max] is widened to contain 0, then
 *   scale = (max - min) / (qmax - qmin),
 *   zero_point = qmin + round(-min / scale), clamped to [qmin, qmax]
 * ("nudged" to an integer so that 0.0 is exactly representable; the
 * effective range is then [scale*(qmin-z), scale*(qmax-z)]). u8 uses
 * qmin..qmax = 0..255, s8 (asymmetric activations) -128..127.
 * min == max == 0 (or a range so small that scale underflows) gives
 * scale = 1 and zero_point = qmin (for qmin <= 0 <= qmax: z = 0 if in range):
 * no division by zero anywhere.
 *
 * Rounding: round half away from zero (roundf), then clamp to [qmin, qmax];
 * NaN inputs quantize to qmin.
 * libc/libm only, no allocation.
 */
#ifndef FGQ_QUANT_AFFINE_H
#define FGQ_QUANT_AFFINE_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float scale;        /* > 0 */
    int32_t zero_point; /* in [qmin, qmax] */
    int32_t qmin, qmax;
} fgq_affine_params;

/* TF min/max parameters for the integer range [qmin, qmax] (qmin < qmax).
 * FGQ_ERR_VALUE if min or max is not finite, min > max, or qmin >= qmax. */
fgq_status fgq_affine_choose_tf(float min, float max, int32_t qmin, int32_t qmax,
                                fgq_affine_params *out, fgq_error *err);
/* Shorthands: u8 0..255 and s8 -128..127. */
fgq_status fgq_affine_choose_u8(float min, float max, fgq_affine_params *out, fgq_error *err);
fgq_status fgq_affine_choose_s8(float min, float max, fgq_affine_params *out, fgq_error *err);

/* q = clamp(round(x / scale) + zero_point, qmin, qmax). */
int32_t fgq_affine_quantize(float x, const fgq_affine_params *p);
/* scale * (q - zero_point) */
float fgq_affine_dequantize(int32_t q, const fgq_affine_params *p);

void fgq_affine_quantize_u8(const float *x, int64_t n, const fgq_affine_params *p, uint8_t *q);
void fgq_affine_quantize_s8(const float *x, int64_t n, const fgq_affine_params *p, int8_t *q);
void fgq_affine_dequantize_u8(const uint8_t *q, int64_t n, const fgq_affine_params *p, float *x);
void fgq_affine_dequantize_s8(const int8_t *q, int64_t n, const fgq_affine_params *p, float *x);

/* Requantization by a fixed-point multiplier (gemmlowp / TFLite rule).
 * fgq_quantize_multiplier writes real = mult * 2^(shift - 31) with
 * mult in [2^30, 2^31) (or 0 when real == 0); FGQ_ERR_VALUE if real is
 * negative, not finite, or outside [2^-31, 2^31).
 * fgq_requantize_s32 returns acc * real rounded, bit-exact with gemmlowp /
 * TFLite MultiplyByQuantizedMultiplier:
 *   left shift by shift (shift > 0, saturating), then the saturating rounding
 *   doubling high multiply (acc * mult / 2^31; exact halves round toward
 *   +infinity), then an arithmetic right shift by -shift (shift < 0) that
 *   rounds halves away from zero. Result within 1 of round(acc * real). */
fgq_status fgq_quantize_multiplier(double real, int32_t *mult, int32_t *shift, fgq_error *err);
int32_t fgq_requantize_s32(int32_t acc, int32_t mult, int32_t shift);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_QUANT_AFFINE_H */
