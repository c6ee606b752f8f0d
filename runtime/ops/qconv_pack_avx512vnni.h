/*
 * qconv_pack_avx512vnni.h — the activation packing shared by the packed
 * QCONV kernels (qconv_u8s8_4x32c4__avx512vnni.c, qconv_u8t2_2x32c4__avx512vnni.c,
 * qconv_u8s4_2x32c4__avx512vnni.c):
 * pa[q][r][i] = x'(k = 4q + i, position p0 + r) for r < 32, the k-quad-major
 * layout vpdpbusd takes with positions in lanes. For one k the tile's
 * positions are runs of one input row (stride 1 along W), one masked load
 * per run (lanes whose tap is in the padding keep z_x and are not read; stride 2
 * along W: every other byte of a load, gathered by vpermb, qconv_pack_s2__avx512vbmi.c);
 * 4 k rows become 4 vectors of 8 positions × 4 k with two rounds of unpacks.
 * x' = x (u8) or x ^ 0x80 (s8); taps past K are 0.
 * Also the body of the 2x32c4 kernels (qconv_2x32c4), which the t2 and s4
 * kernels share.
 */
#ifndef FGQ_QCONV_PACK_AVX512VNNI_H
#define FGQ_QCONV_PACK_AVX512VNNI_H

#if defined(__x86_64__) || defined(__i386__)

#include "qgemm_avx512vnni.h"

#include <string.h>

enum { PK_TP = FGQ_QCONV_PACK_TP };

/* 4 k rows of 32 positions -> [8 positions][4 k] × 4 at dst (in-lane unpacks, then lane fix-up). */
FGQ_VNNI_INLINE void qconv_pack_quad(const __m256i *v, uint8_t *dst)
{
    const __m256i a = _mm256_unpacklo_epi8(v[0], v[1]), b = _mm256_unpackhi_epi8(v[0], v[1]);
    const __m256i cc = _mm256_unpacklo_epi8(v[2], v[3]), d = _mm256_unpackhi_epi8(v[2], v[3]);
    const __m256i q0 = _mm256_unpacklo_epi16(a, cc), q1 = _mm256_unpackhi_epi16(a, cc);
    const __m256i q2 = _mm256_unpacklo_epi16(b, d), q3 = _mm256_unpackhi_epi16(b, d);
    _mm256_storeu_si256((__m256i *)dst, _mm256_permute2x128_si256(q0, q1, 0x20));        /* positions 0-7 */
    _mm256_storeu_si256((__m256i *)(dst + 32), _mm256_permute2x128_si256(q2, q3, 0x20)); /* 8-15 */
    _mm256_storeu_si256((__m256i *)(dst + 64), _mm256_permute2x128_si256(q0, q1, 0x31)); /* 16-23 */
    _mm256_storeu_si256((__m256i *)(dst + 96), _mm256_permute2x128_si256(q2, q3, 0x31)); /* 24-31 */
}

/* The next tap in K order: k = (c·KH + kh)·KW + kw. */
static inline void pk_next_tap(const fgq_qconv_src *s, int64_t *c, int64_t *kh, int64_t *kw)
{
    if (++*kw == s->KW) {
        *kw = 0;
        if (++*kh == s->KH) {
            *kh = 0;
            ++*c;
        }
    }
}

/* The runs of a tile's positions along output rows, in seg (4 arrays of PK_TP + 1: r0, len, oh,
 * ow0; lanes [r0, r0 + len) are outputs (oh, ow0 ..)); returns their count. */
static inline int qconv_pack_segs(const fgq_qconv_src *s, int64_t p0, int64_t np, int64_t *seg)
{
    int nseg = 0;
    for (int64_t r = 0; r < np;) {
        const int64_t p = p0 + r, oh = p / s->OW, ow = p % s->OW;
        const int64_t len = s->OW - ow < np - r ? s->OW - ow : np - r;
        seg[nseg] = r;
        seg[(PK_TP + 1) + nseg] = len;
        seg[2 * (PK_TP + 1) + nseg] = oh;
        seg[3 * (PK_TP + 1) + nseg] = ow;
        nseg++;
        r += len;
    }
    return nseg;
}

/* Run g of the tile (qconv_pack_segs) at tap (kh, kw): the lane mask of the positions whose tap
 * lies inside X (0: none), and in *off the offset in a channel's plane that lane r adds r to
 * (lane r reads row ih at column ow0 + (r − r0) + shift). */
static inline uint32_t pk_run(const fgq_qconv_src *s, const int64_t *seg, int g, int64_t kh, int64_t kw, int64_t *off)
{
    const int64_t r0 = seg[g], len = seg[(PK_TP + 1) + g], oh = seg[2 * (PK_TP + 1) + g], ow0 = seg[3 * (PK_TP + 1) + g];
    const int64_t shift = kw * s->dw - s->pl, ih = oh * s->sh - s->pt + kh * s->dh; /* iw = ow + shift */
    int64_t lo = -shift, hi = s->IW - 1 - shift; /* valid ow */
    lo = lo > ow0 ? lo : ow0;
    hi = hi < ow0 + len - 1 ? hi : ow0 + len - 1;
    *off = 0;
    if (ih < 0 || ih >= s->IH || hi < lo)
        return 0;
    *off = ih * s->IW + ow0 - r0 + shift;
    return (uint32_t)((((uint64_t)1 << (hi - lo + 1)) - 1) << (r0 + lo - ow0));
}

/* seg: FGQ_QCONV_PACK_SEG_BYTES of the caller's work (kept off the stack). */
FGQ_VNNI_INLINE void qconv_pack_a(const fgq_qconv_src *s, int64_t p0, int64_t np, int a_s8, int32_t zx, uint8_t *pa,
                                  int64_t *seg)
{
    const int64_t K = s->K, Kq = (K + 3) / 4;
    if (s->sw == 2) { /* stride 2 along W: every other byte, gathered (VBMI) */
        fgq_qconv_pack_a_s2__avx512vbmi(s, p0, np, a_s8, zx, pa, seg);
        return;
    }
    const __m256i flip = _mm256_set1_epi8(a_s8 ? (char)0x80 : 0), zxv = _mm256_set1_epi8((char)(uint8_t)zx);
    if (s->KH == 1 && s->KW == 1 && s->pt == 0 && s->pl == 0 && s->sh == 1 && s->IW == s->OW &&
        p0 + np <= s->IH * s->IW) {
        /* pointwise (1 × 1, stride 1, no padding before; a tile inside the plane: padding after
         * puts the last positions past it): position p is byte p of every input plane, so the
         * tile is one run of np bytes a channel: no runs, no padding lanes */
        const __mmask32 m = np >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << np) - 1u);
        const uint8_t *x0 = s->src + p0;
        for (int64_t q = 0; q < Kq; q++) {
            __m256i v[4];
            for (int i = 0; i < 4; i++)
                v[i] = 4 * q + i < K ? _mm256_xor_si256(_mm256_maskz_loadu_epi8(m, x0 + (4 * q + i) * s->ch_stride), flip)
                                     : _mm256_setzero_si256();
            qconv_pack_quad(v, pa + q * 4 * PK_TP);
        }
        return;
    }
    const int nseg = qconv_pack_segs(s, p0, np, seg); /* runs of the tile's positions along output rows */
    /* each tap's runs are the same for every channel: with up to FGQ_QCONV_PACK_TAP_RUNS of
     * them, their masks and offsets are worked out once (a 3 x 3 layer's per-k arithmetic cost a
     * fifth of the conv), else per k */
    const int64_t taps = s->KH * s->KW;
    if (taps * nseg <= FGQ_QCONV_PACK_TAP_RUNS) {
        int64_t *roff = seg + 4 * (PK_TP + 1);
        uint32_t *rmask = (uint32_t *)(void *)(roff + FGQ_QCONV_PACK_TAP_RUNS);
        for (int64_t t = 0; t < taps; t++)
            for (int g = 0; g < nseg; g++)
                rmask[t * nseg + g] = pk_run(s, seg, g, t / s->KW, t % s->KW, &roff[t * nseg + g]);
        int64_t c = 0, t = 0; /* k = c·taps + t */
        for (int64_t q = 0; q < Kq; q++) {
            __m256i v[4];
            for (int i = 0; i < 4; i++) {
                if (4 * q + i >= K) {
                    v[i] = _mm256_setzero_si256();
                    continue;
                }
                __m256i x = zxv; /* lanes whose tap is in the padding keep z_x (masked-off lanes not read) */
                const uintptr_t plane = (uintptr_t)(s->src + c * s->ch_stride);
                for (int g = 0; g < nseg; g++) {
                    const __mmask32 m = (__mmask32)rmask[t * nseg + g];
                    if (m != 0)
                        x = _mm256_mask_loadu_epi8(x, m, (const void *)(plane + (uintptr_t)roff[t * nseg + g]));
                }
                v[i] = _mm256_xor_si256(x, flip);
                if (++t == taps) {
                    t = 0;
                    c++;
                }
            }
            qconv_pack_quad(v, pa + q * 4 * PK_TP);
        }
        return;
    }
    int64_t c = 0, kh = 0, kw = 0; /* k = (c·KH + kh)·KW + kw */
    for (int64_t q = 0; q < Kq; q++) {
        __m256i v[4];
        for (int i = 0; i < 4; i++) {
            if (4 * q + i >= K) {
                v[i] = _mm256_setzero_si256();
                continue;
            }
            __m256i x = zxv;
            const uintptr_t plane = (uintptr_t)(s->src + c * s->ch_stride);
            for (int g = 0; g < nseg; g++) {
                int64_t off;
                const __mmask32 m = (__mmask32)pk_run(s, seg, g, kh, kw, &off);
                if (m != 0)
                    x = _mm256_mask_loadu_epi8(x, m, (const void *)(plane + (uintptr_t)off));
            }
            v[i] = _mm256_xor_si256(x, flip);
            pk_next_tap(s, &c, &kh, &kw);
        }
        qconv_pack_quad(v, pa + q * 4 * PK_TP);
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

/* The 2x32c4 kernels (qconv_u8t2_2x32c4__avx512vnni.c, qconv_u8s4_2x32c4__avx512vnni.c).
 * Per pair of channels the weight rows are first written as s8 codes into
 * the work buffer (t2 and s4 decoded with the VNNI kernels' vnni_w; s8
 * copied), zero past K. Per group: unscaled sums p = Σ_{k∈g} w·a' in 8
 * accumulators, then acc += m_g·p (2 channels × 4 position vectors: 8 + 8
 * registers). C = Σ_g m_g·Σ_{k∈g} w per channel (summed while decoding:
 * pk2_row), and the result acc − zx'·C,
 * modulo 2^32 and exact by §3.5, as in qgemm_avx512vnni.h. */

/* Row `row` of W as s8 codes into dst (4·Kq bytes, zero past K); returns
 * its C = Σ_g m_g·Σ_{k∈g} w (mod 2^32), summed in the same pass: a chunk of
 * 32 codes never straddles two groups (G is a multiple of 32, or K). */
FGQ_VNNI_INLINE uint32_t pk2_row(int wk, const fgq_qweights *qw, int64_t row, uint8_t *dst, int64_t Kp, int64_t G,
                                 const vnni_consts *c)
{
    const uint8_t *w = qw->codes + row * qw->row_bytes;
    const int64_t K = qw->k;
    memset(dst + (K & ~(int64_t)31), 0, (size_t)(Kp - (K & ~(int64_t)31)));
    __m256i cs = _mm256_setzero_si256(), e = cs;
    for (int64_t k = 0, g = 0; k < K; k += 32) {
        __m256i v;
        if (K - k >= 32) { /* a whole chunk: no masks */
            v = vnni_w_full(wk, w, k, c);
            _mm256_storeu_si256((__m256i *)(void *)(dst + k), v);
        } else {
            const __mmask32 mask = vnni_mask(k, K);
            v = vnni_w(wk, w, k, mask, c);
            _mm256_mask_storeu_epi8(dst + k, mask, v);
        }
        e = _mm256_dpbusd_epi32(e, c->ones, v);
        if (k + 32 >= K || (k + 32) % G == 0) { /* the group's last chunk */
            cs = _mm256_add_epi32(cs, qw->has_gs ? _mm256_mullo_epi32(e, _mm256_set1_epi32(vnni_mult(qw, row, g))) : e);
            e = _mm256_setzero_si256();
            g++;
        }
    }
    return (uint32_t)vnni_hsum(cs);
}

/* The _decode twins' body: rows j0 .. j0 + n − 1 into dst, fgq_qconv_wrow_bytes apart,
 * each ⌈K/4⌉·4 codes (zero past K) and then its C. */
FGQ_VNNI_INLINE void qconv_wdecode(int wk, const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst)
{
    const int64_t K = qw->k, Kp = (K + 3) / 4 * 4, rb = fgq_qconv_wrow_bytes(K);
    const int64_t G = qw->has_gs ? (qw->group < K ? qw->group : K) : K;
    vnni_consts c;
    vnni_consts_init(&c, 0);
    for (int64_t i = 0; i < n; i++) {
        const uint32_t v = pk2_row(wk, qw, j0 + i, dst + i * rb, Kp, G, &c);
        memcpy(dst + i * rb + Kp, &v, 4);
    }
}

/* The 2x32c4 kernels' body for weight kind wk (VNNI_S8 with GS, VNNI_T2, VNNI_S4);
 * wdec: the rows decoded beforehand (qconv_wdecode), or NULL. */
FGQ_VNNI_INLINE void qconv_2x32c4(int wk, const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb,
                                  int64_t p0, int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work,
                                  const uint8_t *wdec)
{
    const int64_t K = s->K, Kq = (K + 3) / 4, Kp = 4 * Kq, rb = fgq_qconv_wrow_bytes(K);
    const int64_t G = qw->has_gs ? (qw->group < K ? qw->group : K) : K; /* a multiple of 32, or K */
    uint8_t *pa = work + FGQ_QCONV_PACK_SEG_BYTES;                   /* Kp·32 bytes */
    uint8_t *const wb[2] = { pa + fgq_qconv_pack_pa_bytes(K), pa + fgq_qconv_pack_pa_bytes(K) + rb }; /* Kp + 32 bytes each */
    (void)p0; /* the tile was packed into work beforehand (fgq_qconv_pack_a__avx512vnni) */
    (void)np;
    vnni_consts c;
    vnni_consts_init(&c, a_s8);
    const uint32_t zxp = (uint32_t)(a_s8 ? zx + 128 : zx);
    for (int64_t jg = 0; jg < nb; jg += 2) {
        const int64_t r0 = j0 + jg, r1 = j0 + (jg + 1 < nb ? jg + 1 : jg);
        const uint8_t *w0, *w1;
        uint32_t cs0, cs1;
        if (wdec != NULL) {
            w0 = wdec + (r0 - j0) * rb;
            w1 = wdec + (r1 - j0) * rb;
            memcpy(&cs0, w0 + Kp, 4);
            memcpy(&cs1, w1 + Kp, 4);
        } else {
            cs0 = pk2_row(wk, qw, r0, wb[0], Kp, G, &c);
            cs1 = pk2_row(wk, qw, r1, wb[1], Kp, G, &c);
            w0 = wb[0];
            w1 = wb[1];
        }
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                a13 = a00;
        for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
            const int64_t q0 = k0 / 4, q1 = (k0 + G < K ? k0 + G : K + 3) / 4;
            __m256i p00 = _mm256_setzero_si256(), p01 = p00, p02 = p00, p03 = p00, p10 = p00, p11 = p00, p12 = p00,
                    p13 = p00;
            for (int64_t q = q0; q < q1; q++) {
                const uint8_t *src = pa + q * 4 * PK_TP;
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)src);
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)(src + 32));
                const __m256i x2 = _mm256_loadu_si256((const __m256i *)(src + 64));
                const __m256i x3 = _mm256_loadu_si256((const __m256i *)(src + 96));
                int32_t q0w, q1w;
                memcpy(&q0w, w0 + 4 * q, 4);
                memcpy(&q1w, w1 + 4 * q, 4);
                const __m256i b0 = _mm256_set1_epi32(q0w), b1 = _mm256_set1_epi32(q1w);
                VNNI_DP(p00, x0, b0);
                VNNI_DP(p01, x1, b0);
                VNNI_DP(p02, x2, b0);
                VNNI_DP(p03, x3, b0);
                VNNI_DP(p10, x0, b1);
                VNNI_DP(p11, x1, b1);
                VNNI_DP(p12, x2, b1);
                VNNI_DP(p13, x3, b1);
            }
            if (qw->has_gs) {
                const __m256i mv0 = _mm256_set1_epi32(vnni_mult(qw, r0, g));
                const __m256i mv1 = _mm256_set1_epi32(vnni_mult(qw, r1, g));
                a00 = _mm256_add_epi32(a00, _mm256_mullo_epi32(p00, mv0));
                a01 = _mm256_add_epi32(a01, _mm256_mullo_epi32(p01, mv0));
                a02 = _mm256_add_epi32(a02, _mm256_mullo_epi32(p02, mv0));
                a03 = _mm256_add_epi32(a03, _mm256_mullo_epi32(p03, mv0));
                a10 = _mm256_add_epi32(a10, _mm256_mullo_epi32(p10, mv1));
                a11 = _mm256_add_epi32(a11, _mm256_mullo_epi32(p11, mv1));
                a12 = _mm256_add_epi32(a12, _mm256_mullo_epi32(p12, mv1));
                a13 = _mm256_add_epi32(a13, _mm256_mullo_epi32(p13, mv1));
            } else {
                a00 = _mm256_add_epi32(a00, p00);
                a01 = _mm256_add_epi32(a01, p01);
                a02 = _mm256_add_epi32(a02, p02);
                a03 = _mm256_add_epi32(a03, p03);
                a10 = _mm256_add_epi32(a10, p10);
                a11 = _mm256_add_epi32(a11, p11);
                a12 = _mm256_add_epi32(a12, p12);
                a13 = _mm256_add_epi32(a13, p13);
            }
        }
        const __m256i k0v = _mm256_set1_epi32((int32_t)(zxp * cs0)), k1v = _mm256_set1_epi32((int32_t)(zxp * cs1));
        int32_t *d0 = dot + jg * PK_TP;
        _mm256_storeu_si256((__m256i *)d0, _mm256_sub_epi32(a00, k0v));
        _mm256_storeu_si256((__m256i *)(d0 + 8), _mm256_sub_epi32(a01, k0v));
        _mm256_storeu_si256((__m256i *)(d0 + 16), _mm256_sub_epi32(a02, k0v));
        _mm256_storeu_si256((__m256i *)(d0 + 24), _mm256_sub_epi32(a03, k0v));
        if (jg + 1 < nb) {
            int32_t *d1 = dot + (jg + 1) * PK_TP;
            _mm256_storeu_si256((__m256i *)d1, _mm256_sub_epi32(a10, k1v));
            _mm256_storeu_si256((__m256i *)(d1 + 8), _mm256_sub_epi32(a11, k1v));
            _mm256_storeu_si256((__m256i *)(d1 + 16), _mm256_sub_epi32(a12, k1v));
            _mm256_storeu_si256((__m256i *)(d1 + 24), _mm256_sub_epi32(a13, k1v));
        }
    }
}

#endif /* x86 */
#endif /* FGQ_QCONV_PACK_AVX512VNNI_H */
