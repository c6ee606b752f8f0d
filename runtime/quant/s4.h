/*
 * s4.h — packed signed 4-bit values (FGQ_DT_S4) and their dequantization.
 *
 * Two values per byte, two's complement nibbles, LOW nibble first: value i
 * sits at bits 4*(i%2) of byte i/2. A matrix [rows, k] stores each row on its
 * own byte boundary, fgq_s4_row_bytes(k) = ceil(k/2) bytes; the unused high
 * nibble of an odd-length row is zero. fgq's round-to-nearest uses the
 * symmetric range -7..7; its error-compensating solver (GPTQ) also uses -8.
 *
 * Group scales: group g of a row (g-th run of `group` values along k, the last
 * one shorter when group does not divide k) has one float scale, z = 0.
 * libc only, no allocation.
 */
#ifndef FGQ_QUANT_S4_H
#define FGQ_QUANT_S4_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline int64_t fgq_s4_row_bytes(int64_t k) { return (k + 1) / 2; }

/* Packs n values (each in -8..7; others are clamped) into fgq_s4_row_bytes(n) bytes. */
void fgq_s4_pack(const int8_t *v, int64_t n, uint8_t *packed);
/* Unpacks n values, sign-extending each nibble to -8..7. */
void fgq_s4_unpack(const uint8_t *packed, int64_t n, int8_t *v);
/* out[j] = v_j * scales[j / group] for one row of k values. */
void fgq_s4_dequantize_row_f32(const uint8_t *packed, int64_t k, int64_t group,
                               const float *scales, float *out);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_QUANT_S4_H */
