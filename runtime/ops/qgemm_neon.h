/*
 * qgemm_neon.h — the QGEMM microkernel of the AArch64 rows
 * (qgemm_u8s8_1x4c16__neondot.c, qgemm_u8t2_1x4c16__neondot.c): one
 * activation row × 4 weight rows a pass, 16 k a step, every weight chunk
 * made into 16 s8 lanes (s8 codes as they are, t2 codes decoded to −1/0/+1)
 * and multiplied with SDOT (ARMv8.2-A dotprod: each int32 lane += the 4 byte
 * products of its 4 byte lanes). AArch64 only. The build passes no -march:
 * every function carries target("arch=armv8.2-a+dotprod"), as the x86 rows
 * carry target("avx2"), so one binary runs on a plain ARMv8-A core (the
 * reference rows) and on one with dotprod (these rows, chosen where
 * getauxval(AT_HWCAP) has HWCAP_ASIMDDP: qgemm_dispatch.c).
 *
 * u8 activations, the offset trick: a' = a − 128 = a XOR 0x80 is an s8, and
 * for every weight row
 *   Σ w·(a − z_x) = Σ w·a' + c·Σ w,   c = 128 − z_x;
 * s8 activations take a' = a, c = −z_x. Σ w is one more SDOT of the weights
 * with a vector of ones, skipped when c = 0 (u8 with z_x 128, s8 with z_x
 * 0). With groups (GS) both sums are taken per group and scaled by its m =
 * min(GS, W_MMAX) (t2 with n_alpha 2: the +1 and the −1 codes as two 0/1
 * masks, scaled by m+ and m−). (USDOT, I8MM's u8 × s8, would drop the XOR
 * but not Σ w unless z_x = 0, and far fewer cores have it; where they do,
 * SMMLA does twice the work of SDOT: the block form, qgemm_neon_i8mm.h.)
 *
 * Exactness: every operation is an add or a multiply of int32 lanes that
 * wrap mod 2^32 (SDOT, MLA/MLS, ADDV and the final scalar step in uint32; no
 * C signed arithmetic that could overflow), so each result is the
 * reference's Σ m·w·(a − z_x) mod 2^32 — and that integer lies in int32 by
 * the §3.5 load-time bound (docs/quantized-ops.md), so it is the reference's
 * integer itself. (The partial sums fit as well: |w·a'| <= 128·128 and
 * max(|a − z_x|) >= 128 for either dtype, but nothing relies on it.)
 *
 * Layouts, all taken (fits NULL): without GS, with one group, and with
 * groups of 16·j, whole chunks are summed unscaled and scaled once at the
 * group's end; other groups of 4·j scale each int32 lane by its own group's
 * multiplier (an SDOT lane covers 4 consecutive k, so never two groups); any
 * other group size runs group by group, chunks from each group's first k
 * (t2 chunks that do not start on a code byte built code by code: slower,
 * but exact). A k tail shorter than 16 is a zero-padded chunk: w = 0 adds
 * nothing.
 */
#ifndef FGQ_QGEMM_NEON_H
#define FGQ_QGEMM_NEON_H

#include "qgemm_dispatch.h"

#if defined(FGQ_NEON_DOT_ROWS)

#include <arm_neon.h>
#include <string.h>

#if defined(__clang__)
#define FGQ_NEON_DOT_TARGET "dotprod"
#else
#define FGQ_NEON_DOT_TARGET "arch=armv8.2-a+dotprod" /* GCC's arm_neon.h wants the arch with it */
#endif
#define FGQ_NEON_FN __attribute__((target(FGQ_NEON_DOT_TARGET)))
#define FGQ_NEON_INLINE static inline __attribute__((always_inline, target(FGQ_NEON_DOT_TARGET)))

/* How the activations enter the dot products: s8 as they are, u8 as a XOR 0x80. */
enum { FGQ_NEON_A_S8 = 0, FGQ_NEON_A_U8 = 1 };

/* The 16 activations of a chunk at k (len valid, the rest 0) as the dot products want them. */
FGQ_NEON_INLINE int8x16_t neon_load_a(const uint8_t *a, int64_t k, int64_t len, int mode)
{
    uint8x16_t v;
    if (len == 16) {
        v = vld1q_u8(a + k);
    } else {
        uint8_t buf[16] = {0};
        memcpy(buf, a + k, (size_t)len);
        v = vld1q_u8(buf);
    }
    if (mode == FGQ_NEON_A_U8)
        v = veorq_u8(v, vdupq_n_u8(0x80));
    return vreinterpretq_s8_u8(v);
}

/* Codes k .. k+len of a row as s8 lanes (0 past len) in w; t2 with two
 * multipliers (asym): the +1 codes' mask in w, the −1 codes' in wn (lanes 1
 * or 0). The t2 code 3 reads as 0, as in the reference. */
FGQ_NEON_INLINE void neon_load_w(const fgq_qweights *qw, const uint8_t *wrow, int64_t k, int64_t len, int t2, int asym,
                                 int8x16_t *w, int8x16_t *wn)
{
    if (!t2 && len == 16) {
        *w = vld1q_s8((const int8_t *)wrow + k);
        return;
    }
    if (t2 && len == 16 && (k & 3) == 0) {
        /* byte k/4 + i/4 to lane i, shifted right by 2·(i % 4): code in bits 0, 1 */
        static const uint8_t idx[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
        static const int8_t sh[16] = {0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6, 0, -2, -4, -6};
        uint32_t bits;
        memcpy(&bits, wrow + (k >> 2), 4);
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
    for (int64_t i = 0; i < len && i < 16; i++) { /* len <= 16; the bound spelt out for GCC's
                                                    * stringop check once the decode became a call */
        const int32_t c = fgq_qw_code(qw->dtype, wrow, k + i);
        if (asym) {
            bp[i] = (int8_t)(c > 0);
            bn[i] = (int8_t)(c < 0);
        } else {
            bp[i] = (int8_t)c;
        }
    }
    *w = vld1q_s8(bp);
    if (asym)
        *wn = vld1q_s8(bn);
}

/* out[r] = Σ_k m·w[rows[r], k]·(a_k − zx), r < 4 (the file comment says how). */
FGQ_NEON_INLINE void neon_block4(const fgq_qweights *qw, const int64_t *rows, const uint8_t *a, int mode, int t2,
                                 int32_t zx, int32_t *out)
{
    const int64_t K = qw->k, G = qw->group, rb = qw->row_bytes;
    const int asym = t2 && qw->has_gs && qw->n_alpha == 2;
    const int32_t c = (mode == FGQ_NEON_A_U8 ? 128 : 0) - zx;
    const int corr = c != 0;
    const int8x16_t ones = vdupq_n_s8(1);
    const int32x4_t zero = vdupq_n_s32(0);
    const uint8_t *w[4], *gs[4];
    for (int r = 0; r < 4; r++) {
        w[r] = qw->codes + rows[r] * rb;
        gs[r] = qw->has_gs ? qw->gs + rows[r] * qw->n_groups * qw->n_alpha : NULL;
    }
    /* Σ m·w·a' and Σ m·w per int32 lane, mod 2^32 */
    uint32x4_t ad[4] = {vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0)};
    uint32x4_t aw[4] = {vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0), vdupq_n_u32(0)};
    const int lanes = qw->has_gs && qw->n_groups > 1 && G % 16 != 0 && G % 4 == 0;
    if (lanes) {
        const int32x4_t mmax = vdupq_n_s32(qw->mmax);
        for (int64_t k = 0; k < K; k += 16) {
            const int64_t len = K - k < 16 ? K - k : 16;
            const int8x16_t av = neon_load_a(a, k, len, mode);
            int64_t gi[4];
            for (int l = 0; l < 4; l++) { /* lanes past K have w = 0: any group will do */
                const int64_t g = (k + 4 * l) / G;
                gi[l] = (g < qw->n_groups ? g : qw->n_groups - 1) * qw->n_alpha;
            }
            for (int r = 0; r < 4; r++) {
                int8x16_t wv, wn = ones;
                neon_load_w(qw, w[r], k, len, t2, asym, &wv, &wn);
                const int32_t mq[4] = {gs[r][gi[0]], gs[r][gi[1]], gs[r][gi[2]], gs[r][gi[3]]};
                const uint32x4_t mp = vreinterpretq_u32_s32(vminq_s32(vld1q_s32(mq), mmax));
                ad[r] = vmlaq_u32(ad[r], vreinterpretq_u32_s32(vdotq_s32(zero, av, wv)), mp);
                if (corr)
                    aw[r] = vmlaq_u32(aw[r], vreinterpretq_u32_s32(vdotq_s32(zero, wv, ones)), mp);
                if (asym) {
                    const int32_t nq[4] = {gs[r][gi[0] + 1], gs[r][gi[1] + 1], gs[r][gi[2] + 1], gs[r][gi[3] + 1]};
                    const uint32x4_t mn = vreinterpretq_u32_s32(vminq_s32(vld1q_s32(nq), mmax));
                    ad[r] = vmlsq_u32(ad[r], vreinterpretq_u32_s32(vdotq_s32(zero, av, wn)), mn);
                    if (corr)
                        aw[r] = vmlsq_u32(aw[r], vreinterpretq_u32_s32(vdotq_s32(zero, wn, ones)), mn);
                }
            }
        }
    } else {
        /* whole groups (no GS: one group of K), chunks from each group's first k */
        for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
            const int64_t k1 = K - k0 < G ? K : k0 + G;
            int32x4_t td[4] = {zero, zero, zero, zero}, tw[4] = {zero, zero, zero, zero};
            int32x4_t nd[4] = {zero, zero, zero, zero}, nw[4] = {zero, zero, zero, zero};
            for (int64_t k = k0; k < k1; k += 16) {
                const int64_t len = k1 - k < 16 ? k1 - k : 16;
                const int8x16_t av = neon_load_a(a, k, len, mode);
                for (int r = 0; r < 4; r++) {
                    int8x16_t wv, wn = ones;
                    neon_load_w(qw, w[r], k, len, t2, asym, &wv, &wn);
                    td[r] = vdotq_s32(td[r], av, wv);
                    if (corr)
                        tw[r] = vdotq_s32(tw[r], wv, ones);
                    if (asym) {
                        nd[r] = vdotq_s32(nd[r], av, wn);
                        if (corr)
                            nw[r] = vdotq_s32(nw[r], wn, ones);
                    }
                }
            }
            for (int r = 0; r < 4; r++) {
                uint32_t mp = 1, mn = 1;
                if (gs[r] != NULL) {
                    const uint8_t *m = gs[r] + g * qw->n_alpha;
                    mp = m[0] < qw->mmax ? m[0] : (uint32_t)qw->mmax;
                    mn = qw->n_alpha == 2 ? (m[1] < qw->mmax ? m[1] : (uint32_t)qw->mmax) : mp;
                }
                ad[r] = vmlaq_n_u32(ad[r], vreinterpretq_u32_s32(td[r]), mp);
                aw[r] = vmlaq_n_u32(aw[r], vreinterpretq_u32_s32(tw[r]), mp);
                if (asym) {
                    ad[r] = vmlsq_n_u32(ad[r], vreinterpretq_u32_s32(nd[r]), mn);
                    aw[r] = vmlsq_n_u32(aw[r], vreinterpretq_u32_s32(nw[r]), mn);
                }
            }
        }
    }
    for (int r = 0; r < 4; r++)
        out[r] = (int32_t)(vaddvq_u32(ad[r]) + (uint32_t)c * vaddvq_u32(aw[r]));
}

FGQ_NEON_INLINE void neon_rows(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int mode, int t2,
                               int32_t zx, int32_t *dot)
{
    for (int64_t i = 0; i < n; i += 4) {
        /* a short last block repeats its last row and keeps only the valid results */
        int64_t rows[4];
        for (int r = 0; r < 4; r++)
            rows[r] = j0 + (i + r < n ? i + r : n - 1);
        int32_t out[4];
        neon_block4(qw, rows, a, mode, t2, zx, out);
        for (int r = 0; r < 4 && i + r < n; r++)
            dot[i + r] = out[r];
    }
}

#endif /* FGQ_NEON_DOT_ROWS */

#endif /* FGQ_QGEMM_NEON_H */
