/*
 * qgemm_avx512vnni.h — the tile shared by the AVX-512 VNNI QGEMM microkernels
 * (qgemm_u8s8_4x4c32__avx512vnni.c, qgemm_u8t2_4x4c32__avx512vnni.c). x86
 * only; functions carry target(...) since the build passes no -m flags (the
 * dispatch checks the CPU first). 256-bit vectors: AVX-512VL gives 32 of
 * them and the mask registers; 512-bit ones bought nothing on this VM's
 * double-pumped units.
 *
 * Scheme. vpdpbusd multiplies u8 by s8 and adds 4 products into an int32
 * lane, wrapping (the non-saturating form). With a' = a (u8 activations) or
 * a ^ 0x80 = a + 128 (s8 activations, zx' = zx + 128):
 *   Σ_k m_g(k)·w_k·(a_k − zx) = Σ_g m_g·(Σ_{k∈g} w_k·a'_k) − zx'·C,
 *   C = Σ_g m_g·Σ_{k∈g} w_k
 * Every term is an integer computed modulo 2^32 (vpdpbusd, vpmulld, vpaddd
 * and the uint32 arithmetic below all wrap), and the true value fits int32
 * by the §3.5 load-time bound, so the result is exact whatever the
 * intermediate values — the same integer as fgq_qweights_dot.
 * C comes from vpdpbusd(ones, w) inside the tile while fewer than 4
 * activation rows share the weights (GEMV: one pass over memory), and from
 * one pass per weight row before the tiles otherwise.
 * Groups: a chunk of 32 codes never straddles two groups because the group
 * size is a multiple of 32 or the row's one group (fgq_qgemm_vnni_fits); the last chunk of a row is
 * masked (loads and weights zeroed past K), so nothing past K is read.
 * t2 codes are decoded to s8 {−1, 0, +1} in registers: 8 code bytes
 * broadcast, vpshufb puts byte i/4 under lane byte i, vpand with
 * 3 << 2(i%4), vpcmpeqb against 1 << 2(i%4) (+1) and 2 << 2(i%4) (−1); code
 * 3 matches neither and reads 0 as in the reference. vpdpbusd then only
 * adds or subtracts a' (its "multiply" is by −1, 0 or 1).
 */
#ifndef FGQ_QGEMM_AVX512VNNI_H
#define FGQ_QGEMM_AVX512VNNI_H

#if defined(__x86_64__) || defined(__i386__)

#include "qgemm_dispatch.h"

#include <immintrin.h>

#define FGQ_VNNI_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"
#define FGQ_VNNI_FN __attribute__((target(FGQ_VNNI_TARGET)))
#define FGQ_VNNI_INLINE static inline __attribute__((always_inline, target(FGQ_VNNI_TARGET)))

enum { VNNI_NR = 4, VNNI_MR = 4, VNNI_CB = 64 /* C values on the stack per block of weight rows */ };

typedef struct {
    __m256i rep, sel, one, two; /* t2 decode */
    __m256i ones, flip;
} vnni_consts;

FGQ_VNNI_INLINE void vnni_consts_init(vnni_consts *c, int a_s8)
{
    c->rep = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7,
                              7, 7);
    c->sel = _mm256_set1_epi32((int)0xC0300C03u);
    c->one = _mm256_set1_epi32(0x40100401);
    c->two = _mm256_set1_epi32((int)0x80200802u);
    c->ones = _mm256_set1_epi8(1);
    c->flip = _mm256_set1_epi8(a_s8 ? (char)0x80 : 0);
}

/* Lanes of the chunk [k, k + 32) below k1. */
FGQ_VNNI_INLINE __mmask32 vnni_mask(int64_t k, int64_t k1)
{
    return k1 - k >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (k1 - k)) - 1u);
}

/* 32 weights of `row` from k (k % 32 == 0) as s8, zero where mask is 0. */
FGQ_VNNI_INLINE __m256i vnni_w(int t2, const uint8_t *row, int64_t k, __mmask32 mask, const vnni_consts *c)
{
    if (!t2)
        return _mm256_maskz_loadu_epi8(mask, row + k);
    /* 8 code bytes, fewer in the last chunk (the row may end there) */
    const __mmask16 bm = mask == (__mmask32)0xFFFFFFFFu ? (__mmask16)0xFF
                                                         : (__mmask16)((1u << ((__builtin_popcount(mask) + 3) / 4)) - 1u);
    const __m256i b = _mm256_broadcastq_epi64(_mm_maskz_loadu_epi8(bm, row + k / 4));
    const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(b, c->rep), c->sel);
    const __m256i w = _mm256_sub_epi8(_mm256_cmpeq_epi8(v, c->two), _mm256_cmpeq_epi8(v, c->one));
    return _mm256_maskz_mov_epi8(mask, w);
}

/* Multiplier of row `row`, group g, clamped to W_MMAX; 1 without GS. */
static inline int32_t vnni_mult(const fgq_qweights *qw, int64_t row, int64_t g)
{
    if (!qw->has_gs)
        return 1;
    const int32_t m = qw->gs[row * qw->n_groups + g];
    return m < qw->mmax ? m : qw->mmax;
}

FGQ_VNNI_INLINE int32_t vnni_hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* C of weight rows rows[0..3] (see above), modulo 2^32. */
FGQ_VNNI_INLINE void vnni_wsums(int t2, const fgq_qweights *qw, const int64_t *rows, const vnni_consts *c,
                                uint32_t *out)
{
    const int64_t K = qw->k, G = qw->has_gs ? qw->group : K;
    const uint8_t *w[VNNI_NR];
    for (int j = 0; j < VNNI_NR; j++)
        w[j] = qw->codes + rows[j] * qw->row_bytes;
    __m256i acc[VNNI_NR];
    for (int j = 0; j < VNNI_NR; j++)
        acc[j] = _mm256_setzero_si256();
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 > G ? k0 + G : K;
        __m256i q[VNNI_NR];
        for (int j = 0; j < VNNI_NR; j++)
            q[j] = _mm256_setzero_si256();
        for (int64_t k = k0; k < k1; k += 32) {
            const __mmask32 mask = vnni_mask(k, k1);
            for (int j = 0; j < VNNI_NR; j++)
                q[j] = _mm256_dpbusd_epi32(q[j], c->ones, vnni_w(t2, w[j], k, mask, c));
        }
        for (int j = 0; j < VNNI_NR; j++)
            acc[j] = qw->has_gs ? _mm256_add_epi32(acc[j], _mm256_mullo_epi32(q[j], _mm256_set1_epi32(vnni_mult(qw, rows[j], g))))
                                : q[j];
    }
    for (int j = 0; j < VNNI_NR; j++)
        out[j] = (uint32_t)vnni_hsum(acc[j]);
}

/* One tile: MR activation rows (a, lda) × weight rows rows[0..3]. With
 * with_c the tile also sums C (into wsum); otherwise wsum holds C already.
 * out[r·ldd + j] for j < nj. MR and with_c are constants after inlining. */
FGQ_VNNI_INLINE void vnni_tile(int t2, int MR, int with_c, const fgq_qweights *qw, const int64_t *rows, int nj,
                               const uint8_t *a, int64_t lda, uint32_t zxp, const vnni_consts *c, uint32_t *wsum,
                               int32_t *out, int64_t ldd)
{
    const int64_t K = qw->k, G = qw->has_gs ? qw->group : K;
    const uint8_t *w[VNNI_NR];
    for (int j = 0; j < VNNI_NR; j++)
        w[j] = qw->codes + rows[j] * qw->row_bytes;
    __m256i acc[VNNI_MR][VNNI_NR], accq[VNNI_NR];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int j = 0; j < VNNI_NR; j++)
            acc[r][j] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int j = 0; j < VNNI_NR; j++)
        accq[j] = _mm256_setzero_si256();
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 > G ? k0 + G : K;
        __m256i p[VNNI_MR][VNNI_NR], q[VNNI_NR];
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
            for (int j = 0; j < VNNI_NR; j++)
                p[r][j] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int j = 0; j < VNNI_NR; j++)
            q[j] = _mm256_setzero_si256();
        for (int64_t k = k0; k < k1; k += 32) {
            const __mmask32 mask = vnni_mask(k, k1);
            __m256i wv[VNNI_NR], av[VNNI_MR];
#pragma GCC unroll 4
            for (int j = 0; j < VNNI_NR; j++)
                wv[j] = vnni_w(t2, w[j], k, mask, c);
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++)
                av[r] = _mm256_xor_si256(_mm256_maskz_loadu_epi8(mask, a + r * lda + k), c->flip);
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
                for (int j = 0; j < VNNI_NR; j++)
                    p[r][j] = _mm256_dpbusd_epi32(p[r][j], av[r], wv[j]);
            if (with_c)
#pragma GCC unroll 4
                for (int j = 0; j < VNNI_NR; j++)
                    q[j] = _mm256_dpbusd_epi32(q[j], c->ones, wv[j]);
        }
        if (qw->has_gs) {
#pragma GCC unroll 4
            for (int j = 0; j < VNNI_NR; j++) {
                const __m256i mj = _mm256_set1_epi32(vnni_mult(qw, rows[j], g));
#pragma GCC unroll 4
                for (int r = 0; r < MR; r++)
                    acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_mullo_epi32(p[r][j], mj));
                if (with_c)
                    accq[j] = _mm256_add_epi32(accq[j], _mm256_mullo_epi32(q[j], mj));
            }
        } else {
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
                for (int j = 0; j < VNNI_NR; j++)
                    acc[r][j] = _mm256_add_epi32(acc[r][j], p[r][j]);
#pragma GCC unroll 4
            for (int j = 0; j < VNNI_NR; j++)
                accq[j] = _mm256_add_epi32(accq[j], q[j]);
        }
    }
    if (with_c)
        for (int j = 0; j < VNNI_NR; j++)
            wsum[j] = (uint32_t)vnni_hsum(accq[j]);
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < nj; j++)
            out[r * ldd + j] = (int32_t)((uint32_t)vnni_hsum(acc[r][j]) - zxp * wsum[j]);
}

/* The whole kernel: rows j0 .. j0+n of W against m activation rows. */
FGQ_VNNI_INLINE void vnni_gemm(int t2, const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                               int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd)
{
    vnni_consts c;
    vnni_consts_init(&c, a_s8);
    const uint32_t zxp = (uint32_t)(a_s8 ? zx + 128 : zx);
    if (m < VNNI_MR) {
        /* GEMV-like: C inside the tile, one pass over the weights */
        for (int64_t i = 0; i < n; i += VNNI_NR) {
            int64_t rows[VNNI_NR];
            for (int j = 0; j < VNNI_NR; j++)
                rows[j] = j0 + (i + j < n ? i + j : n - 1);
            const int nj = n - i < VNNI_NR ? (int)(n - i) : VNNI_NR;
            uint32_t ws[VNNI_NR];
            if (m == 1)
                vnni_tile(t2, 1, 1, qw, rows, nj, a, lda, zxp, &c, ws, dot + i, ldd);
            else if (m == 2)
                vnni_tile(t2, 2, 1, qw, rows, nj, a, lda, zxp, &c, ws, dot + i, ldd);
            else
                vnni_tile(t2, 3, 1, qw, rows, nj, a, lda, zxp, &c, ws, dot + i, ldd);
        }
        return;
    }
    /* blocks of VNNI_CB weight rows: their C once, then 4-row activation
     * tiles (which stay in L1) against every 4 weight rows of the block */
    for (int64_t b0 = 0; b0 < n; b0 += VNNI_CB) {
        const int64_t nb = n - b0 < VNNI_CB ? n - b0 : VNNI_CB;
        uint32_t ws[VNNI_CB];
        for (int64_t i = 0; i < nb; i += VNNI_NR) {
            int64_t rows[VNNI_NR];
            for (int j = 0; j < VNNI_NR; j++)
                rows[j] = j0 + b0 + (i + j < nb ? i + j : nb - 1);
            uint32_t w4[VNNI_NR];
            vnni_wsums(t2, qw, rows, &c, w4);
            for (int j = 0; j < VNNI_NR && i + j < nb; j++)
                ws[i + j] = w4[j];
        }
        for (int64_t r = 0; r < m; r += VNNI_MR) {
            const int64_t mr = m - r < VNNI_MR ? m - r : VNNI_MR;
            for (int64_t i = 0; i < nb; i += VNNI_NR) {
                int64_t rows[VNNI_NR];
                for (int j = 0; j < VNNI_NR; j++)
                    rows[j] = j0 + b0 + (i + j < nb ? i + j : nb - 1);
                const int nj = nb - i < VNNI_NR ? (int)(nb - i) : VNNI_NR;
                uint32_t w4[VNNI_NR];
                for (int j = 0; j < VNNI_NR; j++)
                    w4[j] = ws[i + (j < nj ? j : nj - 1)];
                const uint8_t *ar = a + r * lda;
                int32_t *out = dot + r * ldd + b0 + i;
                if (mr == 4)
                    vnni_tile(t2, 4, 0, qw, rows, nj, ar, lda, zxp, &c, w4, out, ldd);
                else if (mr == 3)
                    vnni_tile(t2, 3, 0, qw, rows, nj, ar, lda, zxp, &c, w4, out, ldd);
                else if (mr == 2)
                    vnni_tile(t2, 2, 0, qw, rows, nj, ar, lda, zxp, &c, w4, out, ldd);
                else
                    vnni_tile(t2, 1, 0, qw, rows, nj, ar, lda, zxp, &c, w4, out, ldd);
            }
        }
    }
}

#endif /* x86 */
#endif /* FGQ_QGEMM_AVX512VNNI_H */
