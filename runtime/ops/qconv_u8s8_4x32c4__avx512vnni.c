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
#include "qgemm_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

#include <string.h>

enum { PK_TP = FGQ_QCONV_PACK_TP, PK_MAXQ = FGQ_QCONV_PACK_MAX_K / 4 };

/* Σ_k w[row, k], modulo 2^32. */
FGQ_VNNI_INLINE uint32_t pk_wsum(const uint8_t *w, int64_t K)
{
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t k = 0; k < K; k += 32)
        VNNI_DP(acc, ones, _mm256_maskz_loadu_epi8(vnni_mask(k, K), w + k));
    return (uint32_t)vnni_hsum(acc);
}

/* The weight quad w[4q .. 4q+4) of a row with K codes, zeros past K. */
static inline int32_t pk_quad(const uint8_t *w, int64_t q, int64_t K)
{
    uint8_t b[4] = { 0, 0, 0, 0 };
    const int64_t k0 = 4 * q, n = K - k0 < 4 ? K - k0 : 4;
    memcpy(b, w + k0, (size_t)n);
    int32_t v;
    memcpy(&v, b, 4);
    return v;
}

FGQ_VNNI_FN void fgq_qconv_u8s8_4x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0,
                                                   int64_t nb, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                                   int32_t *dot)
{
    const int64_t K = s->K, Kq = (K + 3) / 4, Kf = K / 4, KHW = s->KH * s->KW;
    uint8_t pa[PK_MAXQ * 4 * PK_TP];
    /* runs of the tile's positions along output rows: lanes [r0, r0 + len) are outputs
     * (oh, ow0 ..) */
    int64_t seg_r0[PK_TP + 1], seg_len[PK_TP + 1], seg_oh[PK_TP + 1], seg_ow0[PK_TP + 1];
    int nseg = 0;
    for (int64_t r = 0; r < np;) {
        const int64_t p = p0 + r, oh = p / s->OW, ow = p % s->OW;
        const int64_t len = s->OW - ow < np - r ? s->OW - ow : np - r;
        seg_r0[nseg] = r;
        seg_len[nseg] = len;
        seg_oh[nseg] = oh;
        seg_ow0[nseg] = ow;
        nseg++;
        r += len;
    }
    const __m256i flip = _mm256_set1_epi8(a_s8 ? (char)0x80 : 0), zxv = _mm256_set1_epi8((char)(uint8_t)zx);
    int64_t c = 0, kh = 0, kw = 0; /* k = (c·KH + kh)·KW + kw */
    for (int64_t q = 0; q < Kq; q++) {
        __m256i v[4];
        for (int i = 0; i < 4; i++) {
            if (4 * q + i >= K) {
                v[i] = _mm256_setzero_si256();
                continue;
            }
            /* lanes whose tap is in the padding hold z_x; the others are read (masked-off
             * lanes are not accessed) */
            __m256i x = zxv;
            const int64_t shift = kw * s->dw - s->pl; /* iw = ow + shift */
            for (int g = 0; g < nseg; g++) {
                const int64_t ih = seg_oh[g] * s->sh - s->pt + kh * s->dh;
                if (ih < 0 || ih >= s->IH)
                    continue;
                int64_t lo = -shift, hi = s->IW - 1 - shift; /* valid ow */
                lo = lo > seg_ow0[g] ? lo : seg_ow0[g];
                hi = hi < seg_ow0[g] + seg_len[g] - 1 ? hi : seg_ow0[g] + seg_len[g] - 1;
                if (hi < lo)
                    continue;
                const int64_t l0 = seg_r0[g] + lo - seg_ow0[g], ln = hi - lo + 1;
                const __mmask32 m = (__mmask32)((((uint64_t)1 << ln) - 1) << l0);
                /* lane r reads row[ow0 + (r − r0) + shift] */
                const uintptr_t row = (uintptr_t)(s->src + c * s->ch_stride + ih * s->IW);
                x = _mm256_mask_loadu_epi8(x, m, (const void *)(row + (uintptr_t)(seg_ow0[g] - seg_r0[g] + shift)));
            }
            v[i] = _mm256_xor_si256(x, flip);
            if (++kw == s->KW) {
                kw = 0;
                if (++kh == s->KH) {
                    kh = 0;
                    c++;
                }
            }
        }
        /* [k][32 positions] × 4 -> [8 positions][4 k] × 4 (in-lane unpacks, then lane fix-up) */
        const __m256i a = _mm256_unpacklo_epi8(v[0], v[1]), b = _mm256_unpackhi_epi8(v[0], v[1]);
        const __m256i cc = _mm256_unpacklo_epi8(v[2], v[3]), d = _mm256_unpackhi_epi8(v[2], v[3]);
        const __m256i q0 = _mm256_unpacklo_epi16(a, cc), q1 = _mm256_unpackhi_epi16(a, cc);
        const __m256i q2 = _mm256_unpacklo_epi16(b, d), q3 = _mm256_unpackhi_epi16(b, d);
        uint8_t *dst = pa + q * 4 * PK_TP;
        _mm256_storeu_si256((__m256i *)dst, _mm256_permute2x128_si256(q0, q1, 0x20));        /* positions 0-7 */
        _mm256_storeu_si256((__m256i *)(dst + 32), _mm256_permute2x128_si256(q2, q3, 0x20)); /* 8-15 */
        _mm256_storeu_si256((__m256i *)(dst + 64), _mm256_permute2x128_si256(q0, q1, 0x31)); /* 16-23 */
        _mm256_storeu_si256((__m256i *)(dst + 96), _mm256_permute2x128_si256(q2, q3, 0x31)); /* 24-31 */
    }
    (void)KHW;
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
