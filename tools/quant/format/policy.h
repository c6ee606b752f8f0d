/*
 * policy.h — weight quantization policies (DESIGN §1, §3) and the one entry
 * point the CLI uses to quantize a weight tensor and measure the damage.
 *
 * Policy strings:
 *   f32                      keep float
 *   u8                       affine u8, per tensor, TF min/max (z nudged, 0.0 exact)
 *   s8                       symmetric s8 per output channel (row), z = 0, -127..127
 *   s4                       symmetric s4 per output channel (row), -7..7 (GPTQ -8..7)
 *   s3                       symmetric s3 per output channel (row), -3..3 (GPTQ -4..3)
 *   s8:gN  s4:gN  s3:gN      symmetric, one scale per group of N along k (s4: -7..7, s3: -3..3;
 *                            GPTQ -8..7, -4..3)
 *   s2  s2:gN                four levels -3, -1, 1, 3 (times the step) per row / group, 2 bits
 *   ternary:gN[:SOLVER]      FGQ ternary, groups of N, SOLVER twn|exact|asym (default exact)
 *   ternary:SOLVER           ternary with one group per row (N = k)
 * N is a decimal integer in 1..2147483647. A group longer than k means one
 * group per row.
 *
 * Weights are viewed as [rows, k]: row = output channel, k = reduction length
 * (input channels x kernel window), row-major.
 */
#ifndef FGQ_TOOLS_QUANT_POLICY_H
#define FGQ_TOOLS_QUANT_POLICY_H

#include "fgq_types.h"
#include "quant/format/ternary.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FGQ_WQ_F32 = 0,
    FGQ_WQ_U8 = 1,
    FGQ_WQ_S8 = 2,
    FGQ_WQ_S4 = 3,
    FGQ_WQ_T2 = 4,
    FGQ_WQ_S3 = 5,
    FGQ_WQ_S2 = 6,
    FGQ_WQ_COUNT = 7,
} fgq_wq_kind;

typedef struct {
    fgq_wq_kind kind;
    int64_t group;             /* group length N along k; 0 = one group per row (N = k) */
    fgq_ternary_solver solver; /* FGQ_WQ_T2 only; FGQ_TERNARY_EXACT otherwise */
} fgq_policy;

/* 1 for the formats below 8 bits (s4, s3, s2, ternary): the ones whose defaults keep the first/last
 * and depthwise layers s8 and turn bias correction on. */
static inline int fgq_wq_below_8_bits(fgq_wq_kind kind)
{
    return kind == FGQ_WQ_S4 || kind == FGQ_WQ_S3 || kind == FGQ_WQ_S2 || kind == FGQ_WQ_T2;
}

/* Parses `text`; FGQ_ERR_VALUE with a message listing the valid forms when
 * it is not one of them. */
fgq_status fgq_policy_parse(const char *text, fgq_policy *out, fgq_error *err);

/* Canonical text ("s8", "s8:g32", "ternary:g4:exact", "ternary:twn") into
 * buf (NUL-terminated, truncated to len). Returns the length the full text
 * needs, like snprintf. Ternary always names its solver. */
int fgq_policy_format(const fgq_policy *p, char *buf, size_t len);

/* Effective group length for rows of length k: min(group, k), or k when 0. */
int64_t fgq_policy_group_for(const fgq_policy *p, int64_t k);

typedef struct {
    double bits_per_weight; /* 8 * quant_bytes / (rows * k) */
    double sqnr_db;         /* of the dequantized weights, see metrics.h */
    double mse;
    double zero_fraction;   /* fraction of dequantized weights equal to 0 */
    int64_t quant_bytes;    /* codes + scales + zero points + group multipliers */
    int64_t float_bytes;    /* 4 * rows * k */
} fgq_weight_report;

/* Quantizes w [rows, k] under policy p, fills `report` (may be NULL) and,
 * when dequant_out is not NULL, the dequantized weights [rows, k] (exactly
 * what the integer kernels compute, integerised scales included).
 * Errors: FGQ_ERR_VALUE for a NaN/Inf weight, naming tensor_name and the
 * first bad (row, col); FGQ_ERR_SHAPE for rows < 0 or k < 1 (or rows*k
 * overflowing); FGQ_ERR_NOMEM. tensor_name may be NULL. */
fgq_status fgq_quantize_weights_f32(const fgq_policy *p, const float *w, int64_t rows, int64_t k,
                                    const char *tensor_name, fgq_weight_report *report,
                                    float *dequant_out, fgq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TOOLS_QUANT_POLICY_H */
