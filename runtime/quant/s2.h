/*
 * s2.h — packed 2-bit symmetric four-level values (FGQ_DT_S2): −3, −1, +1, +3.
 *
 * Four per byte, value i at bits 2·(i%4) of byte i/4 (t2's placement); the
 * 2-bit code c stands for 2c − 3 (0 → −3, 1 → −1, 2 → +1, 3 → +3), so every
 * bit pattern is valid and the levels are symmetric about 0 with no zero:
 * for a bell-shaped group this four-level grid leaves about 2 dB less
 * squared error than the three ternary levels at the same two bits. A matrix
 * [rows, k] stores each row on its own byte boundary, fgq_s2_row_bytes(k) =
 * ceil(k/4) bytes; the codes past k in the last byte are zero (−3: readers
 * stop at k).
 *
 * Group scales as the other symmetric formats: w = step · value.
 * libc only, no allocation.
 */
#ifndef FGQ_QUANT_S2_H
#define FGQ_QUANT_S2_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline int64_t fgq_s2_row_bytes(int64_t k) { return (k + 3) / 4; }

/* Value i of a packed row: −3, −1, 1 or 3. */
static inline int32_t fgq_s2_get(const uint8_t *row, int64_t i)
{
    return 2 * (int32_t)((row[i >> 2] >> (2 * (i & 3))) & 3) - 3;
}

/* The level nearest x (in steps): ±1 for |x| < 2, else ±3, with x's sign (ties at |x| = 2 go
 * away from zero; 0 gives +1). The tools' one rounding rule for s2 (a group or row whose
 * weights are all 0 is not rounded: it gets multiplier 0, or the smallest row step). */
static inline int32_t fgq_s2_level(double x)
{
    const int32_t m = x < 2.0 && x > -2.0 ? 1 : 3;
    return x < 0.0 ? -m : m;
}

/* Packs n values into fgq_s2_row_bytes(n) bytes: each is clamped to −3..3 and
 * taken to the odd level at or above it (−2 → −1, 0 → 1, 2 → 3). */
void fgq_s2_pack(const int8_t *v, int64_t n, uint8_t *packed);
/* Unpacks n values (−3, −1, 1, 3). */
void fgq_s2_unpack(const uint8_t *packed, int64_t n, int8_t *v);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_QUANT_S2_H */
