/*
 * qconv_u8t2_2x32c4__avx512vnni.c — QCONV microkernel for the weights the
 * s8 packed kernel does not take: ternary t2 (decoded), and s8 with group
 * multipliers; symmetric groups of 32·j or one group (fgq_qgemm_vnni_fits).
 * 2 output channels × 32 positions a tile, 4 k a step, activations packed as
 * in qconv_u8s8_4x32c4__avx512vnni.c (qconv_pack_avx512vnni.h). Reference
 * twin: fgq_qconv_dot; tests/test_qconv_kernels.c compares the op's bytes.
 *
 * The body (qconv_2x32c4, qconv_pack_avx512vnni.h) is shared with the s4
 * kernel, qconv_u8s4_2x32c4__avx512vnni.c, and so is the decode ahead of
 * the tiles (the _decode twin; wdec).
 */
#include "qconv_pack_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_VNNI_FN void fgq_qconv_u8t2_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0,
                                                   int64_t nb, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                                   int32_t *dot, uint8_t *work, const uint8_t *wdec)
{
    if (qw->dtype == FGQ_DT_T2)
        qconv_2x32c4(VNNI_T2, s, qw, j0, nb, p0, np, a_s8, zx, dot, work, wdec);
    else
        qconv_2x32c4(VNNI_S8, s, qw, j0, nb, p0, np, a_s8, zx, dot, work, wdec);
}

FGQ_VNNI_FN void fgq_qconv_u8t2_2x32c4__avx512vnni_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst)
{
    if (qw->dtype == FGQ_DT_T2)
        qconv_wdecode(VNNI_T2, qw, j0, n, dst);
    else
        qconv_wdecode(VNNI_S8, qw, j0, n, dst);
}

#endif /* x86 */
