/*
 * qgemm_u8s8_1x4c16__neondot.c — QGEMM microkernel for AArch64 with the
 * dotprod extension: s8 weights (any group layout) × u8 (or s8) activations,
 * one activation row × 4 weight rows a pass, 16 k a step with SDOT.
 * Reference twin: fgq_qweights_dot (qgemm_dispatch.h has the contract;
 * qgemm_neon.h the scheme and why the int32 results are exact).
 */
#include "qgemm_neon.h"

#if defined(FGQ_NEON_DOT_ROWS)

FGQ_NEON_FN void fgq_qgemm_u8s8_1x4c16__neondot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                                int32_t zx, int32_t *dot)
{
    if (a_s8)
        neon_rows(qw, j0, n, (const uint8_t *)a, FGQ_NEON_A_S8, 0, zx, dot);
    else
        neon_rows(qw, j0, n, (const uint8_t *)a, FGQ_NEON_A_U8, 0, zx, dot);
}

#endif /* FGQ_NEON_DOT_ROWS */
