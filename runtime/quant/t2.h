/*
 * t2.h — packed ternary (2-bit) weight codes and their dequantization.
 *
 * Code values (FGQ_DT_T2): 0 -> 0, 1 -> +1, 2 -> -1, 3 is invalid (a reader
 * must reject it: fgq_t2_validate). Code i of a run sits at bits 2*(i%4) of
 * byte i/4, i.e. the first code is in the two least significant bits.
 * A weight matrix [rows, k] stores each row on its own byte boundary:
 * fgq_t2_row_bytes(k) = ceil(k/4) bytes per row; unused high bits of a row's
 * last byte are zero.
 *
 * Scales: rows are cut into groups of `group` consecutive weights along k
 * (the last group of a row is shorter when group does not divide k). Group g
 * of row r has n_alpha (1 or 2) u8 multipliers, stored row-major:
 * mults[(r * n_groups + g) * n_alpha + a]; a = 0 is alpha+ and a = 1 alpha-
 * (n_alpha == 1: alpha- = alpha+). With the row's float scale s_r,
 *   w = +m+ * s_r (code 1), -m- * s_r (code 2), 0 (code 0).
 *
 * libc only, no allocation: the caller owns every buffer.
 */
#ifndef FGQ_QUANT_T2_H
#define FGQ_QUANT_T2_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { FGQ_T2_ZERO = 0, FGQ_T2_POS = 1, FGQ_T2_NEG = 2, FGQ_T2_INVALID = 3 };

/* Bytes of one packed row of k codes (k >= 0). */
static inline int64_t fgq_t2_row_bytes(int64_t k) { return (k + 3) / 4; }
/* Groups per row: ceil(k / group), group >= 1. */
static inline int64_t fgq_t2_groups_per_row(int64_t k, int64_t group) { return (k + group - 1) / group; }

/* Packs n ternary values t[i] in {-1, 0, +1} into fgq_t2_row_bytes(n) bytes;
 * unused bits of the last byte are zero. Values outside {-1,0,1} are packed as 0. */
void fgq_t2_pack(const int8_t *t, int64_t n, uint8_t *packed);

/* Unpacks n codes into t[i] in {-1, 0, +1}. An invalid code (3) unpacks as 0;
 * use fgq_t2_validate on untrusted data first. */
void fgq_t2_unpack(const uint8_t *packed, int64_t n, int8_t *t);

/* FGQ_ERR_FORMAT if any of the n codes is 3 or a padding bit of the last
 * byte is set; `what` names the tensor in the message. */
fgq_status fgq_t2_validate(const uint8_t *packed, int64_t n, const char *what, fgq_error *err);

/* Dequantizes one row of k codes: out[j] = code_j * m_{g(j)} * row_scale with
 * the layout above (mults points at this row's first multiplier). */
void fgq_t2_dequantize_row_f32(const uint8_t *codes, int64_t k, int64_t group, int n_alpha,
                               const uint8_t *mults, float row_scale, float *out);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_QUANT_T2_H */
