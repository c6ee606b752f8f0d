/*
 * qconv_u8s8_4x32c4__avx512vnni.c — QCONV microkernel, s8 weights (per
 * channel, no GS) × u8/s8 activations: 4 output channels × 32 output
 * positions a tile, 4 k a step. Reference twin: fgq_qconv_dot (QCONV's
 * reference path); tests/test_qconv_kernels.c compares the op's bytes.
 *
 * Why a kernel of its own: the GEMM path first copies every position's K
 * taps into an im2col row (most of a 3×3 layer's time went there) and then
 * transposes the results back to NCHW. Here the taps are packed k-quad-major
 * for vpdpbusd — pa[q][r][i] = x(k = 4q + i, position r) — straight from X's
 * rows: for one k the 32 positions of a tile are runs of consecutive bytes
 * of one input row (stride 1 along W), one masked load per run (lanes whose
 * tap falls in the padding keep z_x and are not read), and 4
 * k rows become 4 vectors of 8 positions × 4 k with two rounds of unpacks.
 * Then each weight quad w[j, 4q..4q+3] is broadcast and multiplied into 8
 * positions at once, so the accumulators' lanes are positions: the results
 * come out channel-major, as NCHW wants them.
 *
 * Exact as the VNNI GEMM kernels (qgemm_avx512vnni.h): Σ_k w·a' − zx'·C with
 * C = Σ_k w, a' = a (u8) or a ^ 0x80 (s8, zx' = zx + 128), modulo 2^32; taps
 * past K have a' = 0 and w = 0. 2-D (or 1-D), stride 1 along W.
 */
#include "qconv_pack_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_VNNI_FN void fgq_qconv_pack_a__avx512vnni(const fgq_qconv_src *s, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                              uint8_t *work)
{
    uint8_t *pa = work + FGQ_QCONV_PACK_SEG_BYTES;
    qconv_pack_a(s, p0, np, a_s8, zx, pa, (int64_t *)(void *)work);
    const int64_t used = (s->K + 3) / 4 * 4 * PK_TP; /* the quads past K up to the 64-k step: zero */
    memset(pa + used, 0, (size_t)(fgq_qconv_pack_pa_bytes(s->K) - used));
}

/* Σ_k w[row, k], modulo 2^32. */
FGQ_VNNI_INLINE uint32_t pk_wsum(const uint8_t *w, int64_t K)
{
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t k = 0; k < K; k += 32)
        VNNI_DP(acc, ones, _mm256_maskz_loadu_epi8(vnni_mask(k, K), w + k));
    return (uint32_t)vnni_hsum(acc);
}

FGQ_VNNI_FN void fgq_qconv_u8s8_4x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0,
                                                   int64_t nb, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                                   int32_t *dot, uint8_t *work)
{
    const int64_t K = s->K, Kq = (K + 3) / 4, Kf = K / 4;
    uint8_t *pa = work + FGQ_QCONV_PACK_SEG_BYTES; /* Kq·4·32 bytes */
    (void)p0; /* the tile was packed into work beforehand (fgq_qconv_pack_a__avx512vnni) */
    (void)np;
    const uint32_t zxp = (uint32_t)(a_s8 ? zx + 128 : zx);
    for (int64_t jg = 0; jg < nb; jg += 4) {
        const uint8_t *w[4];
        for (int j = 0; j < 4; j++)
            w[j] = qw->codes + (j0 + jg + (jg + j < nb ? j : nb - 1 - jg)) * qw->row_bytes;
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
                c13 = c00;
        __m256i c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        for (int64_t q = 0; q < Kq; q++) {
            const uint8_t *src = pa + q * 4 * PK_TP;
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)src), x1 = _mm256_loadu_si256((const __m256i *)(src + 32));
            const __m256i x2 = _mm256_loadu_si256((const __m256i *)(src + 64)), x3 = _mm256_loadu_si256((const __m256i *)(src + 96));
            int32_t wq[4];
            if (q < Kf)
                for (int j = 0; j < 4; j++)
                    memcpy(&wq[j], w[j] + 4 * q, 4);
            else
                for (int j = 0; j < 4; j++)
                    wq[j] = pk_quad(w[j], q, K);
            const __m256i b0 = _mm256_set1_epi32(wq[0]), b1 = _mm256_set1_epi32(wq[1]);
            const __m256i b2 = _mm256_set1_epi32(wq[2]), b3 = _mm256_set1_epi32(wq[3]);
            VNNI_DP(c00, x0, b0);
            VNNI_DP(c01, x1, b0);
            VNNI_DP(c02, x2, b0);
            VNNI_DP(c03, x3, b0);
            VNNI_DP(c10, x0, b1);
            VNNI_DP(c11, x1, b1);
            VNNI_DP(c12, x2, b1);
            VNNI_DP(c13, x3, b1);
            VNNI_DP(c20, x0, b2);
            VNNI_DP(c21, x1, b2);
            VNNI_DP(c22, x2, b2);
            VNNI_DP(c23, x3, b2);
            VNNI_DP(c30, x0, b3);
            VNNI_DP(c31, x1, b3);
            VNNI_DP(c32, x2, b3);
            VNNI_DP(c33, x3, b3);
        }
        const __m256i acc[4][4] = { { c00, c01, c02, c03 }, { c10, c11, c12, c13 }, { c20, c21, c22, c23 },
                                    { c30, c31, c32, c33 } };
        for (int j = 0; j < 4 && jg + j < nb; j++) {
            const __m256i corr = _mm256_set1_epi32((int32_t)(zxp * pk_wsum(w[j], K)));
            for (int vv = 0; vv < 4; vv++)
                _mm256_storeu_si256((__m256i *)(dot + (jg + j) * PK_TP + 8 * vv), _mm256_sub_epi32(acc[j][vv], corr));
        }
    }
}

#endif /* x86 */
