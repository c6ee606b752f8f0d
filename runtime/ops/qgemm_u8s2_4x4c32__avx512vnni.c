/*
 * qgemm_u8s2_4x4c32__avx512vnni.c — QGEMM microkernel, s2 weights (four
 * levels −3, −1, 1, 3, four codes a byte, quant/s2.h) × u8 (or s8)
 * activations: the s4 kernel's scheme with the s2 decode
 * (qgemm_avx512vnni.h): with 4+ activation rows and a work buffer, blocks of
 * weight rows (or panels of 16 with group multipliers) are decoded once to
 * s8; fewer rows decode each chunk in registers. Weights without GS or with
 * symmetric groups of 32·j (fgq_qgemm_vnni_fits). Reference twin:
 * fgq_qweights_dot.
 */
#include "qgemm_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_VNNI_FN void fgq_qgemm_u8s2_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                                   int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot,
                                                   int64_t ldd, uint8_t *work)
{
    vnni_gemm(VNNI_S2, qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, work);
}

FGQ_VNNI_FN void fgq_qgemm_u8s2_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a,
                                                       int a_s8, int32_t zx, int32_t *dot)
{
    /* one row: no decode, no work */
    vnni_gemm(VNNI_S2, qw, j0, n, (const uint8_t *)a, qw->k, 1, a_s8, zx, dot, n, NULL);
}

#endif /* x86 */
