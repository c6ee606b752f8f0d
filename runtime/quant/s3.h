/*
 * s3.h — packed signed 3-bit values (FGQ_DT_S3) and their dequantization.
 *
 * Units of 8 values in 3 bytes: two bytes of 2-bit low fields (value j of the
 * unit at bits 2·(j%4) of byte j/4), then one byte of high bits (value j at
 * bit j). A value is low − 4·high, two's complement in 3 bits: −4..3. A
 * matrix [rows, k] stores each row on its own unit boundary,
 * fgq_s3_row_bytes(k) = 3·ceil(k/8) bytes; the codes past k in the last unit
 * are zero. The layout keeps every unit self-contained (no dependence on the
 * row length), so code i of a row sits at unit i/8 wherever the row ends, and
 * a SIMD decoder gathers the low and high bytes of 4 units (32 codes, 12
 * bytes) with one byte shuffle.
 *
 * Group scales: as s4.h, one float scale per group of `group` values along k.
 * libc only, no allocation.
 */
#ifndef FGQ_QUANT_S3_H
#define FGQ_QUANT_S3_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline int64_t fgq_s3_row_bytes(int64_t k) { return (k + 7) / 8 * 3; }

/* Value i of a packed row, −4..3. */
static inline int32_t fgq_s3_get(const uint8_t *row, int64_t i)
{
    const uint8_t *u = row + (i >> 3) * 3;
    const int32_t j = (int32_t)(i & 7);
    const int32_t lo = (u[j >> 2] >> (2 * (j & 3))) & 3;
    return lo - 4 * ((u[2] >> j) & 1);
}

/* Packs n values (each in -4..3; others are clamped) into fgq_s3_row_bytes(n)
 * bytes (the codes past n in the last unit are 0). */
void fgq_s3_pack(const int8_t *v, int64_t n, uint8_t *packed);
/* Unpacks n values, −4..3. */
void fgq_s3_unpack(const uint8_t *packed, int64_t n, int8_t *v);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_QUANT_S3_H */
