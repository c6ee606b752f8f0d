/*
 * qgemm_u8s8_4x4c32__avx512vnni.c — QGEMM microkernel, s8 weights × u8 (or
 * s8) activations: 4 activation rows × 4 weight rows a tile, 32 k a step,
 * vpdpbusd (qgemm_avx512vnni.h has the scheme and why it is exact). Weights
 * without GS or with symmetric groups of 32·j (fgq_qgemm_vnni_fits).
 * Reference twin: fgq_qweights_dot.
 */
#include "qgemm_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_VNNI_FN void fgq_qgemm_u8s8_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                                   int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot,
                                                   int64_t ldd, uint8_t *work)
{
    vnni_gemm(VNNI_S8, qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, work);
}

FGQ_VNNI_FN void fgq_qgemm_u8s8_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a,
                                                       int a_s8, int32_t zx, int32_t *dot)
{
    vnni_gemm(VNNI_S8, qw, j0, n, (const uint8_t *)a, qw->k, 1, a_s8, zx, dot, n, NULL); /* one row: no decode, no work */
}

#endif /* x86 */
