/*
 * qconv_u8s2_2x32c4__avx512vnni.c — QCONV microkernel for s2 weights (four
 * levels −3, −1, 1, 3, quant/s2.h), per channel or with symmetric groups of
 * 32·j or one group (fgq_qgemm_vnni_fits): the s4 kernel's scheme
 * (qconv_u8s4_2x32c4__avx512vnni.c) with the s2 decode of vnni_w. Reference
 * twin: fgq_qconv_dot; tests/test_qconv_kernels.c compares the op's bytes.
 */
#include "qconv_pack_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_VNNI_FN void fgq_qconv_u8s2_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0,
                                                   int64_t nb, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                                   int32_t *dot, uint8_t *work, const uint8_t *wdec)
{
    qconv_2x32c4(VNNI_S2, s, qw, j0, nb, p0, np, a_s8, zx, dot, work, wdec);
}

FGQ_VNNI_FN void fgq_qconv_u8s2_2x32c4__avx512vnni_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst)
{
    qconv_wdecode(VNNI_S2, qw, j0, n, dst);
}

#endif /* x86 */
