/*
 * qconv_pack_avx512vnni.h — the activation packing shared by the packed
 * QCONV kernels (qconv_u8s8_4x32c4__avx512vnni.c, qconv_u8t2_2x32c4__avx512vnni.c):
 * pa[q][r][i] = x'(k = 4q + i, position p0 + r) for r < 32, the k-quad-major
 * layout vpdpbusd takes with positions in lanes. For one k the tile's
 * positions are runs of one input row (stride 1 along W), one masked load
 * per run (lanes whose tap is in the padding keep z_x and are not read);
 * 4 k rows become 4 vectors of 8 positions × 4 k with two rounds of unpacks.
 * x' = x (u8) or x ^ 0x80 (s8); taps past K are 0.
 */
#ifndef FGQ_QCONV_PACK_AVX512VNNI_H
#define FGQ_QCONV_PACK_AVX512VNNI_H

#if defined(__x86_64__) || defined(__i386__)

#include "qgemm_avx512vnni.h"

#include <string.h>

enum { PK_TP = FGQ_QCONV_PACK_TP };

/* seg: FGQ_QCONV_PACK_SEG_BYTES of the caller's work (kept off the stack). */
FGQ_VNNI_INLINE void qconv_pack_a(const fgq_qconv_src *s, int64_t p0, int64_t np, int a_s8, int32_t zx, uint8_t *pa,
                                  int64_t *seg)
{
    const int64_t K = s->K, Kq = (K + 3) / 4;
    /* runs of the tile's positions along output rows: lanes [r0, r0 + len) are outputs
     * (oh, ow0 ..) */
    int64_t *seg_r0 = seg, *seg_len = seg + (PK_TP + 1), *seg_oh = seg + 2 * (PK_TP + 1),
            *seg_ow0 = seg + 3 * (PK_TP + 1);
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

#endif /* x86 */
#endif /* FGQ_QCONV_PACK_AVX512VNNI_H */
