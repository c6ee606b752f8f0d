/*
 * wformat.h — packed quantized weights and the format traits table.
 *
 * Like ggml's type traits: every weight format (one per fgq_wq_kind) is one
 * row of a table with layout (sizes for [rows, k]), quantize_rows and
 * dequantize_rows; generic code (allocation, byte counts, metrics, writers)
 * goes through the table, so adding a format is adding a row.
 *
 * Packed layout, weights [rows, k] row-major, every row starting on a byte
 * boundary (row_bytes per row):
 *   f32   codes = the floats (4*k bytes per row); no scales.
 *   u8    codes u8, one scale + one zero point for the tensor (TF min/max).
 *   s8    codes s8 in -127..127, scales[r * n_groups + g], z = 0.
 *   s4    codes packed per runtime/quant/s4.h (-7..7), scales as s8.
 *   t2    codes packed per runtime/quant/t2.h; scales[r] = the row's float
 *         scale s_r (max alpha of the row / FGQ_T2_MULT_MAX, or 1 for an all-zero
 *         row); mults[(r * n_groups + g) * n_alpha + a] u8 in 0..FGQ_T2_MULT_MAX
 *         with alpha = m * s_r (n_alpha 1: symmetric solvers; 2: asym, alpha+
 *         then alpha-).
 * Every float scale is > 0. Byte counts (fgq_wq_layout.total_bytes) are
 * codes + 4 per float scale + 1 per zero point (a u8 value) + 1 per multiplier.
 */
#ifndef FGQ_TOOLS_QUANT_WFORMAT_H
#define FGQ_TOOLS_QUANT_WFORMAT_H

/* The largest ternary group multiplier: 127, so that every effective weight m * code (code -1, 0,
 * +1) is an int8. The s8 kernels then run ternary layers with the multipliers folded into int8
 * weights (AMX tiles, the VNNI conv kernels; runtime/ops/qconv_u8s8_32x32c64__amx.c) instead of one
 * multiply per group, at s8 speed. 255 levels gave alpha 0.2 % finer steps at the top of a row;
 * measured in docs/accuracy-real.md. */
#define FGQ_T2_MULT_MAX 127

#include "fgq_types.h"
#include "quant/format/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t group;         /* effective group length along k (k when per row) */
    int64_t n_groups;      /* groups per row */
    int64_t row_bytes;     /* bytes of one packed row of codes */
    int64_t n_scales;      /* float scales */
    int64_t n_zero_points; /* int32 zero points (values in the code range) */
    int32_t n_alpha;       /* t2: u8 multipliers per group (1 or 2); else 0 */
    int64_t n_mults;       /* t2: rows * n_groups * n_alpha */
    int64_t total_bytes;   /* see the header comment */
} fgq_wq_layout;

typedef struct {
    fgq_policy policy;
    fgq_dtype dtype;          /* element type of codes: F32, U8, S8, S4 or T2 */
    int64_t rows, k;
    fgq_wq_layout layout;
    uint8_t *codes;           /* rows * layout.row_bytes */
    float *scales;            /* layout.n_scales, or NULL when 0 */
    int32_t *zero_points;     /* layout.n_zero_points, or NULL when 0 */
    uint8_t *mults;           /* layout.n_mults, or NULL when 0 */
} fgq_packed_weights;

typedef struct {
    fgq_wq_kind kind;
    const char *name;
    fgq_dtype dtype;
    /* Sizes for [rows, k] under p (p->kind == kind). */
    void (*layout)(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *out);
    /* Fills pw's buffers (already sized by layout) from finite weights w. */
    fgq_status (*quantize_rows)(const float *w, fgq_packed_weights *pw, fgq_error *err);
    /* out [rows, k] = the dequantized weights. */
    void (*dequantize_rows)(const fgq_packed_weights *pw, float *out);
} fgq_wq_traits;

/* The table row for kind, or NULL for an invalid kind. */
const fgq_wq_traits *fgq_wq_traits_of(fgq_wq_kind kind);

/* Layout and bytes for [rows, k] under p; FGQ_ERR_VALUE for an invalid
 * policy, FGQ_ERR_SHAPE for rows < 0, k < 1 or sizes that overflow. */
fgq_status fgq_wq_layout_for(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *out,
                             fgq_error *err);

/* Quantizes finite weights w [rows, k] into *out (owned by out afterwards;
 * release with fgq_packed_weights_free, also after a failure). Does not
 * check for NaN/Inf: fgq_quantize_weights_f32 does. */
fgq_status fgq_quantize_packed_f32(const fgq_policy *p, const float *w, int64_t rows, int64_t k,
                                   fgq_packed_weights *out, fgq_error *err);
/* out [rows, k] = dequantized weights of pw. */
void fgq_dequantize_packed_f32(const fgq_packed_weights *pw, float *out);
void fgq_packed_weights_free(fgq_packed_weights *pw);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TOOLS_QUANT_WFORMAT_H */
