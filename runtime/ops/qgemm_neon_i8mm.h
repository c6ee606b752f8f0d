/*
 * qgemm_neon_i8mm.h — the block form of the AArch64 rows for cores with I8MM
 * (ARMv8.6-A int8 matrix multiply; qgemm_u8s8_2x4c8__neoni8mm.c,
 * qgemm_u8t2_2x4c8__neoni8mm.c): 2 activation rows × 4 weight rows a tile,
 * 8 k a step, SMMLA. One SMMLA multiplies a 2 × 8 s8 matrix (8 k of the two
 * activation rows) by the transpose of another (8 k of two weight rows) into
 * a 2 × 2 int32 tile, lanes [a0·w0, a0·w1, a1·w0, a1·w1]: 32 multiply-adds an
 * instruction, twice SDOT's 16.
 *
 * The rest is qgemm_neon.h's scheme: u8 activations enter as a XOR 0x80 (a −
 * 128 as s8) plus c·Σ w, c = 128 − z_x (s8: c = −z_x); Σ w of both weight
 * rows comes from one more SMMLA with an all-ones left matrix, in the same
 * lane order, skipped when c = 0; t2 codes are decoded by the same TBL/USHL
 * step (2 code bytes of each of the 2 rows); groups are summed unscaled and
 * scaled at their end by [m(w0), m(w1), m(w0), m(w1)] (t2 with two
 * multipliers: the +1 and −1 masks apart). Every step wraps mod 2^32 and the
 * §3.5 bound puts the reference's integer in int32: the results are exact.
 *
 * Fits: no GS, one group, or groups of 8·j (a group starts on an 8-k step);
 * other layouts stay with the SDOT rows. A single activation row (and the
 * odd last one) goes to the SDOT `dot`: SMMLA would compute a wasted row.
 */
#ifndef FGQ_QGEMM_NEON_I8MM_H
#define FGQ_QGEMM_NEON_I8MM_H

#include "qgemm_neon.h"

#if defined(FGQ_NEON_I8MM_ROWS)

#if defined(__clang__)
#define FGQ_I8MM_TARGET "dotprod,i8mm"
#else
#define FGQ_I8MM_TARGET "arch=armv8.2-a+dotprod+i8mm"
#endif
#define FGQ_I8MM_FN __attribute__((target(FGQ_I8MM_TARGET)))
#define FGQ_I8MM_INLINE static inline __attribute__((always_inline, target(FGQ_I8MM_TARGET)))

/* k .. k+len (len <= 8) of the activation rows a0 and a1 as one 2 × 8 s8 matrix (0 past len). */
FGQ_I8MM_INLINE int8x16_t i8mm_load_a(const uint8_t *a0, const uint8_t *a1, int64_t k, int64_t len, int mode)
{
    uint8x16_t v;
    if (len == 8) {
        v = vcombine_u8(vld1_u8(a0 + k), vld1_u8(a1 + k));
    } else {
        uint8_t buf[16] = {0};
        memcpy(buf, a0 + k, (size_t)len);
        memcpy(buf + 8, a1 + k, (size_t)len);
        v = vld1q_u8(buf);
    }
    if (mode == FGQ_NEON_A_U8)
        v = veorq_u8(v, vdupq_n_u8(0x80));
    return vreinterpretq_s8_u8(v);
}

/* Codes k .. k+len (len <= 8) of weight rows wa and wb as one 2 × 8 s8 matrix
 * (0 past len); asym t2: the +1 mask in w, the −1 mask in wn. */
FGQ_I8MM_INLINE void i8mm_load_w(const fgq_qweights *qw, const uint8_t *wa, const uint8_t *wb, int64_t k, int64_t len,
                                 int t2, int asym, int8x16_t *w, int8x16_t *wn)
{
    if (!t2 && len == 8) {
        *w = vcombine_s8(vld1_s8((const int8_t *)wa + k), vld1_s8((const int8_t *)wb + k));
        return;
    }
    if (t2 && len == 8 && (k & 3) == 0) {
        static const uint8_t idx[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
        static const int8_t sh[16] = {0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6};
        const uint8_t *pa = wa + (k >> 2), *pb = wb + (k >> 2);
        const uint32_t bits = (uint32_t)pa[0] | (uint32_t)pa[1] << 8 | (uint32_t)pb[0] << 16 | (uint32_t)pb[1] << 24;
        const uint8x16_t b = vshlq_u8(vqtbl1q_u8(vreinterpretq_u8_u32(vdupq_n_u32(bits)), vld1q_u8(idx)), vld1q_s8(sh));
        const uint8x16_t c = vandq_u8(b, vdupq_n_u8(3)), one = vdupq_n_u8(1);
        const uint8x16_t p = vandq_u8(vceqq_u8(c, one), one), m = vandq_u8(vceqq_u8(c, vdupq_n_u8(2)), one);
        if (asym) {
            *w = vreinterpretq_s8_u8(p);
            *wn = vreinterpretq_s8_u8(m);
        } else {
            *w = vreinterpretq_s8_u8(vsubq_u8(p, m));
        }
        return;
    }
    int8_t bp[16] = {0}, bn[16] = {0};
    for (int64_t i = 0; i < len; i++)
        for (int h = 0; h < 2; h++) {
            const int32_t c = fgq_qw_code(qw->dtype, h == 0 ? wa : wb, k + i);
            if (asym) {
                bp[8 * h + i] = (int8_t)(c > 0);
                bn[8 * h + i] = (int8_t)(c < 0);
            } else {
                bp[8 * h + i] = (int8_t)c;
            }
        }
    *w = vld1q_s8(bp);
    if (asym)
        *wn = vld1q_s8(bn);
}

/* Multipliers [m(ra), m(rb), m(ra), m(rb)] of group g (alpha 0: m+, 1: m−); 1 without GS. */
FGQ_I8MM_INLINE uint32x4_t i8mm_mults(const fgq_qweights *qw, int64_t ra, int64_t rb, int64_t g, int alpha)
{
    uint32_t m[2] = {1, 1};
    if (qw->has_gs)
        for (int h = 0; h < 2; h++) {
            const int64_t row = h == 0 ? ra : rb;
            const uint8_t v = qw->gs[(row * qw->n_groups + g) * qw->n_alpha + (qw->n_alpha == 2 ? alpha : 0)];
            m[h] = v < qw->mmax ? v : (uint32_t)qw->mmax;
        }
    const uint32_t q[4] = {m[0], m[1], m[0], m[1]};
    return vld1q_u32(q);
}

/* out[h][r] = Σ_k m·w[rows[r], k]·(a_h[k] − zx) for activation rows a0, a1 and 4 weight rows. */
FGQ_I8MM_INLINE void i8mm_tile(const fgq_qweights *qw, const int64_t *rows, const uint8_t *a0, const uint8_t *a1,
                               int mode, int t2, int32_t zx, int32_t out[2][4])
{
    const int64_t K = qw->k, G = qw->group, rb = qw->row_bytes;
    const int asym = t2 && qw->has_gs && qw->n_alpha == 2;
    const int32_t c = (mode == FGQ_NEON_A_U8 ? 128 : 0) - zx;
    const int corr = c != 0;
    const int8x16_t ones = vdupq_n_s8(1);
    const int32x4_t zero = vdupq_n_s32(0);
    const uint8_t *w[4];
    for (int r = 0; r < 4; r++)
        w[r] = qw->codes + rows[r] * rb;
    /* [0]: weight rows 0, 1; [1]: rows 2, 3 — Σ m·w·a' and Σ m·w, mod 2^32 */
    uint32x4_t ad[2] = {vdupq_n_u32(0), vdupq_n_u32(0)}, aw[2] = {vdupq_n_u32(0), vdupq_n_u32(0)};
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 < G ? K : k0 + G;
        int32x4_t td[2] = {zero, zero}, tw[2] = {zero, zero}, nd[2] = {zero, zero}, nw[2] = {zero, zero};
        for (int64_t k = k0; k < k1; k += 8) {
            const int64_t len = k1 - k < 8 ? k1 - k : 8;
            const int8x16_t av = i8mm_load_a(a0, a1, k, len, mode);
            for (int p = 0; p < 2; p++) {
                int8x16_t wv, wn = ones;
                i8mm_load_w(qw, w[2 * p], w[2 * p + 1], k, len, t2, asym, &wv, &wn);
                td[p] = vmmlaq_s32(td[p], av, wv);
                if (corr)
                    tw[p] = vmmlaq_s32(tw[p], ones, wv);
                if (asym) {
                    nd[p] = vmmlaq_s32(nd[p], av, wn);
                    if (corr)
                        nw[p] = vmmlaq_s32(nw[p], ones, wn);
                }
            }
        }
        for (int p = 0; p < 2; p++) {
            const uint32x4_t mp = i8mm_mults(qw, rows[2 * p], rows[2 * p + 1], g, 0);
            ad[p] = vmlaq_u32(ad[p], vreinterpretq_u32_s32(td[p]), mp);
            aw[p] = vmlaq_u32(aw[p], vreinterpretq_u32_s32(tw[p]), mp);
            if (asym) {
                const uint32x4_t mn = i8mm_mults(qw, rows[2 * p], rows[2 * p + 1], g, 1);
                ad[p] = vmlsq_u32(ad[p], vreinterpretq_u32_s32(nd[p]), mn);
                aw[p] = vmlsq_u32(aw[p], vreinterpretq_u32_s32(nw[p]), mn);
            }
        }
    }
    for (int p = 0; p < 2; p++) {
        uint32_t v[4];
        vst1q_u32(v, vmlaq_n_u32(ad[p], aw[p], (uint32_t)c));
        out[0][2 * p] = (int32_t)v[0];
        out[0][2 * p + 1] = (int32_t)v[1];
        out[1][2 * p] = (int32_t)v[2];
        out[1][2 * p + 1] = (int32_t)v[3];
    }
}

/* dot[h·ldd + i] for m activation rows (lda bytes apart) × weight rows j0 .. j0+n. */
FGQ_I8MM_INLINE void i8mm_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda, int64_t m,
                               int mode, int t2, int32_t zx, int32_t *dot, int64_t ldd, fgq_qgemm_dot_fn dot_fn)
{
    const int64_t m2 = m & ~(int64_t)1;
    for (int64_t i = 0; i < n; i += 4) {
        int64_t rows[4];
        for (int r = 0; r < 4; r++)
            rows[r] = j0 + (i + r < n ? i + r : n - 1);
        for (int64_t h = 0; h < m2; h += 2) {
            int32_t out[2][4];
            i8mm_tile(qw, rows, a + h * lda, a + (h + 1) * lda, mode, t2, zx, out);
            for (int r = 0; r < 4 && i + r < n; r++) {
                dot[h * ldd + i + r] = out[0][r];
                dot[(h + 1) * ldd + i + r] = out[1][r];
            }
        }
    }
    if (m2 < m)
        dot_fn(qw, j0, n, a + m2 * lda, mode == FGQ_NEON_A_S8, zx, dot + m2 * ldd);
}

#endif /* FGQ_NEON_I8MM_ROWS */

#endif /* FGQ_QGEMM_NEON_I8MM_H */
