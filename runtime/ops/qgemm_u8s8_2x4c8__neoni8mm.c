/*
 * qgemm_u8s8_2x4c8__neoni8mm.c — QGEMM block form for AArch64 with I8MM: s8
 * weights (no GS, one group, or groups of 8·j) × u8 (or s8) activations, 2
 * activation rows × 4 weight rows a tile, 8 k a step with SMMLA; single rows
 * go to qgemm_u8s8_1x4c16__neondot. Reference twin: m calls of
 * fgq_qweights_dot (qgemm_dispatch.h has the contract; qgemm_neon_i8mm.h the
 * scheme and why the int32 results are exact).
 */
#include "qgemm_neon_i8mm.h"

#if defined(FGQ_NEON_I8MM_ROWS)

int fgq_qgemm_i8mm_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || qw->n_groups == 1 || qw->group % 8 == 0;
}

FGQ_I8MM_FN void fgq_qgemm_u8s8_2x4c8__neoni8mm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                                int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd,
                           uint8_t *work)
{
    (void)work; /* this kernel keeps no buffer */
    if (a_s8)
        i8mm_gemm(qw, j0, n, a, lda, m, FGQ_NEON_A_S8, 0, zx, dot, ldd, fgq_qgemm_u8s8_1x4c16__neondot);
    else
        i8mm_gemm(qw, j0, n, a, lda, m, FGQ_NEON_A_U8, 0, zx, dot, ldd, fgq_qgemm_u8s8_1x4c16__neondot);
}

#endif /* FGQ_NEON_I8MM_ROWS */
