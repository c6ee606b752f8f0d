/*
 * qgemm_avx512vnni.h — the tile shared by the AVX-512 VNNI QGEMM microkernels
 * (qgemm_u8s8_4x4c32__avx512vnni.c, qgemm_u8t2_4x4c32__avx512vnni.c,
 * qgemm_u8s4_4x4c32__avx512vnni.c, qgemm_u8s3_4x4c32__avx512vnni.c,
 * qgemm_u8s2_4x4c32__avx512vnni.c). x86
 * only; functions carry target(...) since the build passes no -m flags (the
 * dispatch checks the CPU first). 256-bit vectors: AVX-512VL gives 32 of
 * them and the mask registers; 512-bit ones bought nothing for the s8 tiles
 * on this VM's double-pumped units (Zen 4), but the grouped panels below,
 * short of load slots, take them.
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
 * s4 codes (two nibbles a byte, low first): 16 code bytes zero-extended to
 * 16-bit lanes, x | x << 4 puts the low nibble in the lane's low byte and the
 * high one in its high byte, vpand 0x0F0F keeps them, and vpshufb through
 * the table 0..7, −8..−1 sign-extends each nibble to an s8 code.
 * s3 codes (units of 8 codes in 3 bytes, quant/s3.h): the 12 bytes of a
 * chunk broadcast to both lanes, one vpshufb puts each code's low-field
 * byte under its lane and another its high-bit byte, vptestmb against the
 * lane's bit masks gives three masks, and 1·bit0 + 2·bit1 − 4·high is built
 * with masked adds. s2 codes (t2's placement, value 2c − 3): t2's byte
 * shuffle, vptestmb against the two bit masks, and −3 + 2·bit0 + 4·bit1.
 * The weight kind `wk` (VNNI_S8, VNNI_T2, VNNI_S4, VNNI_S3, VNNI_S2) is a constant at every
 * kernel entry, so each kind compiles to its own loops.
 */
#ifndef FGQ_QGEMM_AVX512VNNI_H
#define FGQ_QGEMM_AVX512VNNI_H

#if defined(__x86_64__) || defined(__i386__)

#include "qgemm_dispatch.h"

#include <immintrin.h>
#include <string.h>

#define FGQ_VNNI_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"
#define FGQ_VNNI_FN __attribute__((target(FGQ_VNNI_TARGET)))
#define FGQ_VNNI_INLINE static inline __attribute__((always_inline, target(FGQ_VNNI_TARGET)))
/* a stage of its own frame: the panel decode's transposes and the dot loops' accumulators, inlined
 * into one kernel, passed the runtime's 2 KB stack limit (scripts/check_freestanding.sh) */
#define FGQ_VNNI_STAGE static __attribute__((noinline, unused, target(FGQ_VNNI_TARGET)))

enum { VNNI_S8 = 0, VNNI_T2 = 1, VNNI_S4 = 2, VNNI_S3 = 3, VNNI_S2 = 4 }; /* weight kinds */

enum {
    VNNI_NR = 4,
    VNNI_MR = 4,
    VNNI_CB = 64,        /* C values on the stack per block of weight rows */
    VNNI_A_L1 = 16384    /* activation bytes that stay in L1 while weights stream past */
};

typedef struct {
    __m256i rep, sel, one, two; /* t2 decode */
    __m256i nib, sx4;           /* s4 decode: nibble mask, sign-extension table */
    __m256i s3l, s3h, s3b0, s3b1, s3bh, two8, four8; /* s3 decode: byte indices, bit masks */
    __m256i m3;                                      /* s2 decode: its lowest level */
    __m256i ones, flip;
} vnni_consts;

FGQ_VNNI_INLINE void vnni_consts_init(vnni_consts *c, int a_s8)
{
    c->rep = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7,
                              7, 7);
    c->sel = _mm256_set1_epi32((int)0xC0300C03u);
    c->one = _mm256_set1_epi32(0x40100401);
    c->two = _mm256_set1_epi32((int)0x80200802u);
    c->nib = _mm256_set1_epi8(0x0F);
    c->sx4 = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7,
                              -6, -5, -4, -3, -2, -1);
    c->s3l = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3, 4, 4, 4, 4, 6, 6, 6, 6, 7, 7, 7, 7, 9, 9, 9, 9, 10,
                              10, 10, 10);
    c->s3h = _mm256_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 5, 5, 5, 5, 5, 5, 8, 8, 8, 8, 8, 8, 8, 8, 11, 11, 11, 11,
                              11, 11, 11, 11);
    c->s3b0 = _mm256_set1_epi32(0x40100401);
    c->s3b1 = _mm256_set1_epi32((int)0x80200802u);
    c->s3bh = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    c->two8 = _mm256_set1_epi8(2);
    c->four8 = _mm256_set1_epi8(4);
    c->m3 = _mm256_set1_epi8(-3);
    c->ones = _mm256_set1_epi8(1);
    c->flip = _mm256_set1_epi8(a_s8 ? (char)0x80 : 0);
}

/* Lanes of the chunk [k, k + 32) below k1. */
FGQ_VNNI_INLINE __mmask32 vnni_mask(int64_t k, int64_t k1)
{
    return k1 - k >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (k1 - k)) - 1u);
}

/* 16 s4 code bytes (32 codes) as s8 codes. */
FGQ_VNNI_INLINE __m256i vnni_s4_decode(__m128i b, const vnni_consts *c)
{
    const __m256i x = _mm256_cvtepu8_epi16(b);
    return _mm256_shuffle_epi8(c->sx4, _mm256_and_si256(_mm256_or_si256(x, _mm256_slli_epi16(x, 4)), c->nib));
}

/* The 12 s3 code bytes of a chunk (32 codes; zero bytes past the row) as s8 codes. */
FGQ_VNNI_INLINE __m256i vnni_s3_decode(__m128i b, const vnni_consts *c)
{
    const __m256i x = _mm256_broadcastsi128_si256(b);
    const __m256i lo = _mm256_shuffle_epi8(x, c->s3l), hi = _mm256_shuffle_epi8(x, c->s3h);
    const __m256i v = _mm256_maskz_mov_epi8(_mm256_test_epi8_mask(lo, c->s3b0), c->ones);
    const __m256i v2 = _mm256_mask_add_epi8(v, _mm256_test_epi8_mask(lo, c->s3b1), v, c->two8);
    return _mm256_mask_sub_epi8(v2, _mm256_test_epi8_mask(hi, c->s3bh), v2, c->four8);
}

/* 8 s2 code bytes (32 codes) broadcast to both 128-bit lanes, as s8 codes. */
FGQ_VNNI_INLINE __m256i vnni_s2_decode(__m256i b, const vnni_consts *c)
{
    const __m256i x = _mm256_shuffle_epi8(b, c->rep);
    const __m256i v = _mm256_mask_add_epi8(c->m3, _mm256_test_epi8_mask(x, c->s3b0), c->m3, c->two8);
    return _mm256_mask_add_epi8(v, _mm256_test_epi8_mask(x, c->s3b1), v, c->four8);
}

/* 32 weights of `row` from k (k % 32 == 0) as s8, zero where mask is 0. */
FGQ_VNNI_INLINE __m256i vnni_w(int wk, const uint8_t *row, int64_t k, __mmask32 mask, const vnni_consts *c)
{
    if (wk == VNNI_S8)
        return _mm256_maskz_loadu_epi8(mask, row + k);
    if (wk == VNNI_S4) {
        /* 16 code bytes, fewer in the last chunk (the row may end there) */
        const __mmask16 bm = mask == (__mmask32)0xFFFFFFFFu
                                 ? (__mmask16)0xFFFF
                                 : (__mmask16)((1u << ((__builtin_popcount(mask) + 1) / 2)) - 1u);
        return _mm256_maskz_mov_epi8(mask, vnni_s4_decode(_mm_maskz_loadu_epi8(bm, row + k / 2), c));
    }
    if (wk == VNNI_S2) {
        /* 8 code bytes, fewer in the last chunk; lanes past K are zeroed (code 0 reads −3) */
        const __mmask16 bm = mask == (__mmask32)0xFFFFFFFFu
                                 ? (__mmask16)0xFF
                                 : (__mmask16)((1u << ((__builtin_popcount(mask) + 3) / 4)) - 1u);
        return _mm256_maskz_mov_epi8(mask, vnni_s2_decode(_mm256_broadcastq_epi64(_mm_maskz_loadu_epi8(bm, row + k / 4)), c));
    }
    if (wk == VNNI_S3) {
        /* 12 code bytes, 3 per unit of 8 codes in the last chunk (the row ends on a unit) */
        const __mmask16 bm = (__mmask16)((1u << (3 * ((__builtin_popcount(mask) + 7) / 8))) - 1u);
        return _mm256_maskz_mov_epi8(mask, vnni_s3_decode(_mm_maskz_loadu_epi8(bm, row + k / 8 * 3), c));
    }
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
FGQ_VNNI_INLINE void vnni_wsums(int wk, const fgq_qweights *qw, const int64_t *rows, const vnni_consts *c,
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
                q[j] = _mm256_dpbusd_epi32(q[j], c->ones, vnni_w(wk, w[j], k, mask, c));
        }
        for (int j = 0; j < VNNI_NR; j++)
            acc[j] = qw->has_gs ? _mm256_add_epi32(acc[j], _mm256_mullo_epi32(q[j], _mm256_set1_epi32(vnni_mult(qw, rows[j], g))))
                                : q[j];
    }
    for (int j = 0; j < VNNI_NR; j++)
        out[j] = (uint32_t)vnni_hsum(acc[j]);
}

/* 32 weights from k of a chunk wholly inside the row (no mask). */
FGQ_VNNI_INLINE __m256i vnni_w_full(int wk, const uint8_t *row, int64_t k, const vnni_consts *c)
{
    if (wk == VNNI_S8)
        return _mm256_loadu_si256((const __m256i *)(row + k));
    if (wk == VNNI_S4)
        return vnni_s4_decode(_mm_loadu_si128((const __m128i *)(row + k / 2)), c);
    if (wk == VNNI_S2)
        return vnni_s2_decode(_mm256_broadcastq_epi64(_mm_loadl_epi64((const __m128i *)(row + k / 4))), c);
    if (wk == VNNI_S3) /* 12 bytes: a 16-byte load could pass the end of the last row */
        return vnni_s3_decode(_mm_maskz_loadu_epi8((__mmask16)0x0FFF, row + k / 8 * 3), c);
    const __m256i b = _mm256_broadcastq_epi64(_mm_loadl_epi64((const __m128i *)(row + k / 4)));
    const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(b, c->rep), c->sel);
    return _mm256_sub_epi8(_mm256_cmpeq_epi8(v, c->two), _mm256_cmpeq_epi8(v, c->one));
}

/* 32 activations from p as u8 (s8 ones flipped); masked: zero past the row. */
FGQ_VNNI_INLINE __m256i vnni_a_full(int a_s8, const uint8_t *p, const vnni_consts *c)
{
    const __m256i v = _mm256_loadu_si256((const __m256i *)p);
    return a_s8 ? _mm256_xor_si256(v, c->flip) : v;
}
FGQ_VNNI_INLINE __m256i vnni_a_mask(int a_s8, const uint8_t *p, __mmask32 mask, const vnni_consts *c)
{
    const __m256i v = _mm256_maskz_loadu_epi8(mask, p);
    return a_s8 ? _mm256_xor_si256(v, c->flip) : v; /* lanes past K meet zero weights */
}

/* acc += Σ4 u8(x)·s8(w), as _mm256_dpbusd_epi32(acc, x, w) (256- or 512-bit
 * operands: "v" takes either). In asm with the
 * accumulator tied ("+v"): GCC 12 copied every accumulator through a spare
 * register around each intrinsic call (about 30 extra moves per 16
 * vpdpbusd in the 4×4 tile; ~25 % of the tile's time). */
#define VNNI_DP(acc, x, w) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w))
#define VNNI_ROW4(r, x)              \
    do {                             \
        VNNI_DP(c##r##0, x, w0);     \
        VNNI_DP(c##r##1, x, w1);     \
        VNNI_DP(c##r##2, x, w2);     \
        VNNI_DP(c##r##3, x, w3);     \
    } while (0)

/* Result of one (activation row, weight row) pair: Σ lanes − zx'·C (mod 2^32). */
#define VNNI_OUT(out, ldd, r, j, v) (out)[(r) * (ldd) + (j)] = (int32_t)((uint32_t)vnni_hsum(v) - zxp * ws[j])
/* Row r of a tile's results: accumulators c<r><j> (or s<r><j>), j < nj. */
#define VNNI_OUT4_(p, r)                                                           \
    do {                                                                           \
        const __m128i h_ = qgemm_vnni_hsum4(p##r##0, p##r##1, p##r##2, p##r##3);   \
        int32_t v_[4];                                                             \
        _mm_storeu_si128((__m128i *)v_, h_);                                       \
        for (int j_ = 0; j_ < nj; j_++)                                            \
            out[(r) * ldd + j_] = (int32_t)((uint32_t)v_[j_] - zxp * ws[j_]);      \
    } while (0)
#define VNNI_OUT4(r) VNNI_OUT4_(c, r)
#define VNNI_OUT4S(r) VNNI_OUT4_(s, r)

/* [Σ lanes of x0, x1, x2, x3], wrapping. */
FGQ_VNNI_INLINE __m128i qgemm_vnni_hsum4(__m256i x0, __m256i x1, __m256i x2, __m256i x3)
{
    const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(x0, x1), _mm256_hadd_epi32(x2, x3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* 4 activation rows × weight rows w[0..3], no GS; C known (ws). Named
 * accumulators, not arrays: GCC kept arrays of vectors on the stack. */
FGQ_VNNI_INLINE void vnni_t44(int wk, int a_s8, const fgq_qweights *qw, const uint8_t *const *w, int nj,
                              const uint8_t *a, int64_t lda, uint32_t zxp, const vnni_consts *c, const uint32_t *ws,
                              int32_t *out, int64_t ldd)
{
    const int64_t K = qw->k, kf = K & ~(int64_t)31;
    const uint8_t *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m256i c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    for (int64_t k = 0; k < kf; k += 32) {
        const __m256i w0 = vnni_w_full(wk, w[0], k, c), w1 = vnni_w_full(wk, w[1], k, c);
        const __m256i w2 = vnni_w_full(wk, w[2], k, c), w3 = vnni_w_full(wk, w[3], k, c);
        __m256i x = vnni_a_full(a_s8, a0 + k, c);
        VNNI_ROW4(0, x);
        x = vnni_a_full(a_s8, a1 + k, c);
        VNNI_ROW4(1, x);
        x = vnni_a_full(a_s8, a2 + k, c);
        VNNI_ROW4(2, x);
        x = vnni_a_full(a_s8, a3 + k, c);
        VNNI_ROW4(3, x);
    }
    if (kf < K) {
        const __mmask32 mask = vnni_mask(kf, K);
        const __m256i w0 = vnni_w(wk, w[0], kf, mask, c), w1 = vnni_w(wk, w[1], kf, mask, c);
        const __m256i w2 = vnni_w(wk, w[2], kf, mask, c), w3 = vnni_w(wk, w[3], kf, mask, c);
        __m256i x = vnni_a_mask(a_s8, a0 + kf, mask, c);
        VNNI_ROW4(0, x);
        x = vnni_a_mask(a_s8, a1 + kf, mask, c);
        VNNI_ROW4(1, x);
        x = vnni_a_mask(a_s8, a2 + kf, mask, c);
        VNNI_ROW4(2, x);
        x = vnni_a_mask(a_s8, a3 + kf, mask, c);
        VNNI_ROW4(3, x);
    }
    VNNI_OUT4(0);
    VNNI_OUT4(1);
    VNNI_OUT4(2);
    VNNI_OUT4(3);
}

/* 2 activation rows × w[0..3] with group multipliers (groups of 32·j or one
 * group): per group unscaled sums p, then acc += p·m; C known (ws). */
FGQ_VNNI_INLINE void vnni_t24g(int wk, int a_s8, const fgq_qweights *qw, const int64_t *rows,
                               const uint8_t *const *w, int nj, const uint8_t *a, int64_t lda, uint32_t zxp,
                               const vnni_consts *c, const uint32_t *ws, int32_t *out, int64_t ldd)
{
    const int64_t K = qw->k, G = qw->group;
    const uint8_t *a0 = a, *a1 = a + lda;
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 > G ? k0 + G : K, kf = k0 + ((k1 - k0) & ~(int64_t)31);
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
                c13 = c00;
        for (int64_t k = k0; k < kf; k += 32) {
            const __m256i w0 = vnni_w_full(wk, w[0], k, c), w1 = vnni_w_full(wk, w[1], k, c);
            const __m256i w2 = vnni_w_full(wk, w[2], k, c), w3 = vnni_w_full(wk, w[3], k, c);
            __m256i x = vnni_a_full(a_s8, a0 + k, c);
            VNNI_ROW4(0, x);
            x = vnni_a_full(a_s8, a1 + k, c);
            VNNI_ROW4(1, x);
        }
        if (kf < k1) {
            const __mmask32 mask = vnni_mask(kf, k1);
            const __m256i w0 = vnni_w(wk, w[0], kf, mask, c), w1 = vnni_w(wk, w[1], kf, mask, c);
            const __m256i w2 = vnni_w(wk, w[2], kf, mask, c), w3 = vnni_w(wk, w[3], kf, mask, c);
            __m256i x = vnni_a_mask(a_s8, a0 + kf, mask, c);
            VNNI_ROW4(0, x);
            x = vnni_a_mask(a_s8, a1 + kf, mask, c);
            VNNI_ROW4(1, x);
        }
        const __m256i m0 = _mm256_set1_epi32(vnni_mult(qw, rows[0], g)), m1 = _mm256_set1_epi32(vnni_mult(qw, rows[1], g));
        const __m256i m2 = _mm256_set1_epi32(vnni_mult(qw, rows[2], g)), m3 = _mm256_set1_epi32(vnni_mult(qw, rows[3], g));
        s00 = _mm256_add_epi32(s00, _mm256_mullo_epi32(c00, m0));
        s01 = _mm256_add_epi32(s01, _mm256_mullo_epi32(c01, m1));
        s02 = _mm256_add_epi32(s02, _mm256_mullo_epi32(c02, m2));
        s03 = _mm256_add_epi32(s03, _mm256_mullo_epi32(c03, m3));
        s10 = _mm256_add_epi32(s10, _mm256_mullo_epi32(c10, m0));
        s11 = _mm256_add_epi32(s11, _mm256_mullo_epi32(c11, m1));
        s12 = _mm256_add_epi32(s12, _mm256_mullo_epi32(c12, m2));
        s13 = _mm256_add_epi32(s13, _mm256_mullo_epi32(c13, m3));
    }
    VNNI_OUT4S(0);
    VNNI_OUT4S(1);
}

/* 1 activation row × w[0..3], GS or not; with_c: C summed here too (one
 * pass over the weights: GEMV), else taken from ws. */
FGQ_VNNI_INLINE void vnni_t14(int wk, int a_s8, int with_c, const fgq_qweights *qw, const int64_t *rows,
                              const uint8_t *const *w, int nj, const uint8_t *a, uint32_t zxp, const vnni_consts *c,
                              uint32_t *ws, int32_t *out)
{
    const int64_t K = qw->k, G = qw->has_gs ? qw->group : K;
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s02 = s00, s03 = s00, q0 = s00, q1 = s00, q2 = s00, q3 = s00;
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 > G ? k0 + G : K, kf = k0 + ((k1 - k0) & ~(int64_t)31);
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, e0 = c00, e1 = c00, e2 = c00, e3 = c00;
        for (int64_t k = k0; k < kf; k += 32) {
            const __m256i w0 = vnni_w_full(wk, w[0], k, c), w1 = vnni_w_full(wk, w[1], k, c);
            const __m256i w2 = vnni_w_full(wk, w[2], k, c), w3 = vnni_w_full(wk, w[3], k, c);
            const __m256i x = vnni_a_full(a_s8, a + k, c);
            VNNI_ROW4(0, x);
            if (with_c) {
                VNNI_DP(e0, c->ones, w0);
                VNNI_DP(e1, c->ones, w1);
                VNNI_DP(e2, c->ones, w2);
                VNNI_DP(e3, c->ones, w3);
            }
        }
        if (kf < k1) {
            const __mmask32 mask = vnni_mask(kf, k1);
            const __m256i w0 = vnni_w(wk, w[0], kf, mask, c), w1 = vnni_w(wk, w[1], kf, mask, c);
            const __m256i w2 = vnni_w(wk, w[2], kf, mask, c), w3 = vnni_w(wk, w[3], kf, mask, c);
            const __m256i x = vnni_a_mask(a_s8, a + kf, mask, c);
            VNNI_ROW4(0, x);
            if (with_c) {
                VNNI_DP(e0, c->ones, w0);
                VNNI_DP(e1, c->ones, w1);
                VNNI_DP(e2, c->ones, w2);
                VNNI_DP(e3, c->ones, w3);
            }
        }
        if (qw->has_gs) {
            const __m256i m0 = _mm256_set1_epi32(vnni_mult(qw, rows[0], g)),
                          m1 = _mm256_set1_epi32(vnni_mult(qw, rows[1], g));
            const __m256i m2 = _mm256_set1_epi32(vnni_mult(qw, rows[2], g)),
                          m3 = _mm256_set1_epi32(vnni_mult(qw, rows[3], g));
            c00 = _mm256_mullo_epi32(c00, m0);
            c01 = _mm256_mullo_epi32(c01, m1);
            c02 = _mm256_mullo_epi32(c02, m2);
            c03 = _mm256_mullo_epi32(c03, m3);
            if (with_c) {
                e0 = _mm256_mullo_epi32(e0, m0);
                e1 = _mm256_mullo_epi32(e1, m1);
                e2 = _mm256_mullo_epi32(e2, m2);
                e3 = _mm256_mullo_epi32(e3, m3);
            }
        }
        s00 = _mm256_add_epi32(s00, c00);
        s01 = _mm256_add_epi32(s01, c01);
        s02 = _mm256_add_epi32(s02, c02);
        s03 = _mm256_add_epi32(s03, c03);
        if (with_c) {
            q0 = _mm256_add_epi32(q0, e0);
            q1 = _mm256_add_epi32(q1, e1);
            q2 = _mm256_add_epi32(q2, e2);
            q3 = _mm256_add_epi32(q3, e3);
        }
    }
    if (with_c) {
        ws[0] = (uint32_t)vnni_hsum(q0);
        ws[1] = (uint32_t)vnni_hsum(q1);
        ws[2] = (uint32_t)vnni_hsum(q2);
        ws[3] = (uint32_t)vnni_hsum(q3);
    }
    const __m256i v[4] = { s00, s01, s02, s03 };
    for (int j = 0; j < nj; j++)
        VNNI_OUT(out, 0, 0, j, v[j]);
}

/* Weight rows j0 + b0 + i .. (4 of them, the last repeated past nb). */
FGQ_VNNI_INLINE int vnni_rows(const fgq_qweights *qw, int64_t first, int64_t i, int64_t nb, int64_t *rows,
                              const uint8_t **w)
{
    for (int j = 0; j < VNNI_NR; j++) {
        rows[j] = first + (i + j < nb ? i + j : nb - 1);
        w[j] = qw->codes + rows[j] * qw->row_bytes;
    }
    return nb - i < VNNI_NR ? (int)(nb - i) : VNNI_NR;
}

/* The whole kernel: rows j0 .. j0+n of W against m activation rows. */
FGQ_VNNI_STAGE void vnni_gemm_as(int wk, int a_s8, const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                  int64_t lda, int64_t m, int32_t zx, int32_t *dot, int64_t ldd)
{
    vnni_consts c;
    vnni_consts_init(&c, a_s8);
    const uint32_t zxp = (uint32_t)(a_s8 ? zx + 128 : zx);
    int64_t rows[VNNI_NR];
    const uint8_t *w[VNNI_NR];
    if (m < VNNI_MR) {
        /* GEMV-like: C inside the tile, one pass over the weights per row */
        for (int64_t r = 0; r < m; r++)
            for (int64_t i = 0; i < n; i += VNNI_NR) {
                const int nj = vnni_rows(qw, j0, i, n, rows, w);
                uint32_t ws[VNNI_NR];
                vnni_t14(wk, a_s8, 1, qw, rows, w, nj, a + r * lda, zxp, &c, ws, dot + r * ldd + i);
            }
        return;
    }
    /* blocks of VNNI_CB weight rows: their C once, then activation tiles
     * (which stay in L1) against every 4 weight rows of the block */
    const int gs = qw->has_gs, mr = gs ? 2 : 4;
    for (int64_t b0 = 0; b0 < n; b0 += VNNI_CB) {
        const int64_t nb = n - b0 < VNNI_CB ? n - b0 : VNNI_CB;
        uint32_t wsb[VNNI_CB];
        for (int64_t i = 0; i < nb; i += VNNI_NR) {
            vnni_rows(qw, j0 + b0, i, nb, rows, w);
            uint32_t w4[VNNI_NR];
            vnni_wsums(wk, qw, rows, &c, w4);
            for (int j = 0; j < VNNI_NR && i + j < nb; j++)
                wsb[i + j] = w4[j];
        }
        const int64_t mf = m - m % mr; /* rows in full tiles */
        if (m * qw->k <= VNNI_A_L1) {
            /* few activation rows (they stay in L1): each 4 weight rows meet all of them
             * while in L1, so every weight byte comes from L2/L3 once per call */
            for (int64_t i = 0; i < nb; i += VNNI_NR) {
                const int nj = vnni_rows(qw, j0 + b0, i, nb, rows, w);
                for (int64_t r = 0; r < mf; r += mr) {
                    int32_t *out = dot + r * ldd + b0 + i;
                    if (gs)
                        vnni_t24g(wk, a_s8, qw, rows, w, nj, a + r * lda, lda, zxp, &c, wsb + i, out, ldd);
                    else
                        vnni_t44(wk, a_s8, qw, w, nj, a + r * lda, lda, zxp, &c, wsb + i, out, ldd);
                }
            }
        } else {
            /* many rows: a tile of activation rows stays in L1 against the block's weights (L2) */
            for (int64_t r = 0; r < mf; r += mr)
                for (int64_t i = 0; i < nb; i += VNNI_NR) {
                    const int nj = vnni_rows(qw, j0 + b0, i, nb, rows, w);
                    int32_t *out = dot + r * ldd + b0 + i;
                    if (gs)
                        vnni_t24g(wk, a_s8, qw, rows, w, nj, a + r * lda, lda, zxp, &c, wsb + i, out, ldd);
                    else
                        vnni_t44(wk, a_s8, qw, w, nj, a + r * lda, lda, zxp, &c, wsb + i, out, ldd);
                }
        }
        for (int64_t r = mf; r < m; r++)
            for (int64_t i = 0; i < nb; i += VNNI_NR) {
                const int nj = vnni_rows(qw, j0 + b0, i, nb, rows, w);
                vnni_t14(wk, a_s8, 0, qw, rows, w, nj, a + r * lda, zxp, &c, wsb + i, dot + r * ldd + b0 + i);
            }
    }
}

/* t2 and s4 with 4+ activation rows: the tiles would decode every chunk once
 * per 2 or 4 activation rows; instead blocks of weight rows are decoded once
 * into s8 codes ({−1, 0, +1} or −8..7) in the caller's work buffer (rows
 * padded to 32; FGQ_QGEMM_DECODE_BYTES, qgemm_dispatch.h) and run as s8
 * weights with the same group multipliers: the same integers. */
enum { VNNI_DEC_BYTES = FGQ_QGEMM_DECODE_BYTES };

FGQ_VNNI_STAGE void vnni_gemm_decoded(int wk, int a_s8, const fgq_qweights *qw, int64_t j0, int64_t n,
                                       const uint8_t *a, int64_t lda, int64_t m, int32_t zx, int32_t *dot, int64_t ldd,
                                       uint8_t *dec)
{
    vnni_consts c;
    vnni_consts_init(&c, a_s8);
    const int64_t K = qw->k, rs = (K + 31) & ~(int64_t)31;
    int64_t blk = VNNI_DEC_BYTES / rs;
    blk = blk > VNNI_CB ? VNNI_CB : blk & ~(int64_t)(VNNI_NR - 1);
    for (int64_t b0 = 0; b0 < n; b0 += blk) {
        const int64_t nb = n - b0 < blk ? n - b0 : blk;
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *row = qw->codes + (j0 + b0 + i) * qw->row_bytes;
            for (int64_t k = 0; k < K; k += 32)
                _mm256_storeu_si256((__m256i *)(dec + i * rs + k),
                                    K - k >= 32 ? vnni_w_full(wk, row, k, &c) : vnni_w(wk, row, k, vnni_mask(k, K), &c));
        }
        fgq_qweights dq = *qw;
        dq.dtype = FGQ_DT_S8;
        dq.codes = dec;
        dq.row_bytes = rs;
        dq.rows = nb;
        if (qw->has_gs)
            dq.gs = qw->gs + (j0 + b0) * qw->n_groups; /* n_alpha is 1 here (fits) */
        vnni_gemm_as(VNNI_S8, a_s8, &dq, 0, nb, a, lda, m, zx, dot + b0, ldd);
    }
}

/* t2 and s4 with group multipliers and 4+ activation rows. In the tiles above
 * every (activation row, weight row) pair needs a vpmulld and a vpaddd per
 * group (with groups of 32: one per vpdpbusd), and the multipliers are
 * broadcast from scalars per group. Here the lanes are weight rows instead:
 * a panel of 16 weight rows is decoded once to s8 and transposed to quads,
 * pan[q] = [w_0[4q..4q+3], ..., w_15[4q..4q+3]] (vpdpbusd's layout, one
 * 512-bit vector), and each activation row broadcasts 4 bytes a[4q..4q+3]
 * against it, 8 activation rows a tile (one weight load serves 8 vpdpbusd).
 * Per group one multiply by the panel's vector of 16 multipliers then serves
 * 16 weight rows and G/4 vpdpbusd, and the results need no horizontal sums.
 * The multiply: t2 group sums fit int16 when G·255 <= 32767 (G <= 128; the
 * multipliers are u8), so vpdpwssd of the sum's low half by the multiplier
 * (high half 0) adds m·p in one instruction; s4 sums (up to 8·255·G) take
 * vpmulld + vpaddd. The panel in the work buffer: the quads
 * (32·⌈K/32⌉·16 bytes), the multipliers min(m, W_MMAX) as u8 [n_groups][16]
 * (widened per group in the tile), and C per row (uint32 [16]); lanes past
 * the block repeat its last row with multiplier 0 and are not stored. The
 * same integers as above, modulo 2^32. Decoding costs about as much as the
 * tile at 16 activation rows, so it is kept lean: s4 and t2 chunks are
 * transposed while still packed (vnni_panel_s4_chunk, vnni_panel_t2_chunk),
 * the multipliers 16 groups at a time (vnni_panel_mults).
 * 512-bit vectors here (the s8 tiles keep 256): the broadcasts and weight
 * loads per vpdpbusd halve, which is what this tile was short of. */
enum { VNNI_PR = 16 }; /* weight rows a panel: the int32 lanes of a 512-bit vector */

static inline int64_t vnni_panel_bytes(const fgq_qweights *qw)
{
    return (qw->k + 31) / 32 * 32 * VNNI_PR + qw->n_groups * VNNI_PR + VNNI_PR * 4;
}

/* 8×8 transpose of 4-byte quads, v[j] quad i -> dst[i·stride] lane j (32 bytes each). */
FGQ_VNNI_INLINE void vnni_quads_8x8(const __m256i *v, uint8_t *dst, int64_t stride)
{
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]), t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]), t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    _mm256_storeu_si256((__m256i *)(void *)(dst + 0 * stride), _mm256_permute2x128_si256(u0, u4, 0x20));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 1 * stride), _mm256_permute2x128_si256(u1, u5, 0x20));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 2 * stride), _mm256_permute2x128_si256(u2, u6, 0x20));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 3 * stride), _mm256_permute2x128_si256(u3, u7, 0x20));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 4 * stride), _mm256_permute2x128_si256(u0, u4, 0x31));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 5 * stride), _mm256_permute2x128_si256(u1, u5, 0x31));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 6 * stride), _mm256_permute2x128_si256(u2, u6, 0x31));
    _mm256_storeu_si256((__m256i *)(void *)(dst + 7 * stride), _mm256_permute2x128_si256(u3, u7, 0x31));
}

/* The u16 indices (vpermt2w) of the s4 panel transpose below. */
static const uint16_t vnni_s4_tq[32] = { 0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57,
                                         2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59 };
static const uint16_t vnni_s4_tp[32] = { 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15,
                                         32, 33, 34, 35, 40, 41, 42, 43, 36, 37, 38, 39, 44, 45, 46, 47 };

/* A whole chunk of 32 s4 codes (16 bytes) of 16 weight rows w[0..15] into
 * the 8 panel vectors dst[i·64], i < 8. Transposed while packed, then
 * decoded 128 codes a vector: a quad is 2 code bytes, so the rows' bytes are
 * a 16 × 8 matrix of u16 (4 rows a 512-bit vector); vpermt2w gathers one
 * quad index of 8 rows (L: rows 0-7, H: 8-15, 4 quads each), a second round
 * puts rows 4L .. 4L+3 of quads 2t and 2t+1 in 128-bit lane L of p[t]; low
 * and high nibbles apart, vpunpck{l,h}bw interleaves them into c0 c1 c2 c3
 * per row: quad 2t (lanes = rows 0-15) and quad 2t+1. */
FGQ_VNNI_INLINE __m512i vnni_panel_s4_chunk(const uint8_t *const *w, int64_t kb, uint8_t *dst)
{
    __m512i z[4];
    for (int i = 0; i < 4; i++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(w[4 * i] + kb)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(w[4 * i + 1] + kb)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(w[4 * i + 2] + kb)), 2);
        z[i] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(w[4 * i + 3] + kb)), 3);
    }
    const __m512i tq0 = _mm512_loadu_si512((const void *)vnni_s4_tq), tq1 = _mm512_add_epi16(tq0, _mm512_set1_epi16(4));
    const __m512i tp0 = _mm512_loadu_si512((const void *)vnni_s4_tp), tp1 = _mm512_add_epi16(tp0, _mm512_set1_epi16(16));
    const __m512i l0 = _mm512_permutex2var_epi16(z[0], tq0, z[1]), l1 = _mm512_permutex2var_epi16(z[0], tq1, z[1]);
    const __m512i h0 = _mm512_permutex2var_epi16(z[2], tq0, z[3]), h1 = _mm512_permutex2var_epi16(z[2], tq1, z[3]);
    const __m512i p[4] = { _mm512_permutex2var_epi16(l0, tp0, h0), _mm512_permutex2var_epi16(l0, tp1, h0),
                           _mm512_permutex2var_epi16(l1, tp0, h1), _mm512_permutex2var_epi16(l1, tp1, h1) };
    const __m512i nib = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    __m512i bs = _mm512_setzero_si512(); /* byte sums of the 8 vectors: |·| <= 64 */
    for (int t = 0; t < 4; t++) {
        /* (n & 15) ^ 8, minus 8 after the unpacks, sign-extends a nibble n (one vpternlogd
         * each: the shuffle ports carry the transposes) */
        const __m512i lo = _mm512_ternarylogic_epi32(p[t], nib, eight, 0x6A);
        const __m512i hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(p[t], 4), nib, eight, 0x6A);
        const __m512i v0 = _mm512_sub_epi8(_mm512_unpacklo_epi8(lo, hi), eight);
        const __m512i v1 = _mm512_sub_epi8(_mm512_unpackhi_epi8(lo, hi), eight);
        _mm512_storeu_si512((void *)(dst + (2 * t) * 4 * VNNI_PR), v0);
        _mm512_storeu_si512((void *)(dst + (2 * t + 1) * 4 * VNNI_PR), v1);
        bs = _mm512_add_epi8(bs, _mm512_add_epi8(v0, v1));
    }
    return bs;
}

/* The panel's multipliers, mult[g·16 + j] = min(GS[r0 + j, g], W_MMAX) (u8; 0 for
 * j >= np): the rows' GS bytes (contiguous along g) transposed 16 groups at a time,
 * in four rounds of unpacks. */
FGQ_VNNI_INLINE void vnni_panel_mults(const fgq_qweights *qw, int64_t r0, int np, uint8_t *mult)
{
    const int64_t ng = qw->n_groups;
    const __m128i mmax = _mm_set1_epi8((char)(uint8_t)(qw->mmax < 255 ? qw->mmax : 255));
    const __mmask16 live = (__mmask16)((1u << np) - 1u);
    for (int64_t g0 = 0; g0 < ng; g0 += 16) {
        const int64_t nc = ng - g0 < 16 ? ng - g0 : 16;
        const __mmask16 lm = (__mmask16)((1u << nc) - 1u);
        __m128i r[16], a[16], b[16];
        for (int j = 0; j < 16; j++)
            r[j] = _mm_maskz_loadu_epi8(lm, qw->gs + (r0 + (j < np ? j : np - 1)) * ng + g0);
        for (int i = 0; i < 8; i++) { /* a[i]: rows 2i, 2i+1 interleaved, groups 0-7; a[8+i]: 8-15 */
            a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
            a[8 + i] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 4; i++) { /* b[B + i]: rows 4i..4i+3 of groups B..B+3 */
            b[i] = _mm_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
            b[4 + i] = _mm_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
            b[8 + i] = _mm_unpacklo_epi16(a[8 + 2 * i], a[8 + 2 * i + 1]);
            b[12 + i] = _mm_unpackhi_epi16(a[8 + 2 * i], a[8 + 2 * i + 1]);
        }
        for (int B = 0; B < 16; B += 4) {
            const __m128i lo01 = _mm_unpacklo_epi32(b[B], b[B + 1]), lo23 = _mm_unpacklo_epi32(b[B + 2], b[B + 3]);
            const __m128i hi01 = _mm_unpackhi_epi32(b[B], b[B + 1]), hi23 = _mm_unpackhi_epi32(b[B + 2], b[B + 3]);
            const __m128i o[4] = { _mm_unpacklo_epi64(lo01, lo23), _mm_unpackhi_epi64(lo01, lo23),
                                   _mm_unpacklo_epi64(hi01, hi23), _mm_unpackhi_epi64(hi01, hi23) };
            for (int i = 0; i < 4 && B + i < nc; i++)
                _mm_storeu_si128((__m128i *)(void *)(mult + (g0 + B + i) * VNNI_PR),
                                 _mm_maskz_mov_epi8(live, _mm_min_epu8(o[i], mmax)));
        }
    }
}

/* Group g's 16 multipliers as int32 lanes. */
FGQ_VNNI_INLINE __m512i vnni_panel_mult(const uint8_t *mult, int64_t g)
{
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(mult + g * VNNI_PR)));
}

/* vpermt2w indices of the t2 panel transpose below: 128-bit lane L of its result h holds
 * rows 4L .. 4L+3 of quads 4h .. 4h+3, byte (quad − 4h)·4 + (row − 4L). */
static const uint16_t vnni_t2_tq[32] = { 0,  8,  1,  9,  2,  10, 3,  11, 16, 24, 17, 25, 18, 26, 19, 27,
                                         32, 40, 33, 41, 34, 42, 35, 43, 48, 56, 49, 57, 50, 58, 51, 59 };

/* A whole chunk of 32 t2 codes (8 bytes, a byte a quad) of 16 weight rows
 * into the 8 panel vectors dst[i·64]: vpshufb pairs the two rows of each
 * 128-bit lane byte by byte (u16 = [row 2L, row 2L+1] of one quad), vpermt2w
 * gathers rows 4L .. 4L+3 of 4 quads into lane L, and one vpshufb a quad puts
 * row r's code byte under lane r's 4 bytes; they decode as vnni_w does, 64
 * codes a vector. */
FGQ_VNNI_INLINE __m512i vnni_panel_t2_chunk(const uint8_t *const *w, int64_t kb, uint8_t *dst)
{
    __m512i z[2];
    for (int i = 0; i < 2; i++) {
        __m128i l[4];
        for (int j = 0; j < 4; j++)
            l[j] = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)(w[8 * i + 2 * j] + kb)),
                                      _mm_loadl_epi64((const __m128i *)(const void *)(w[8 * i + 2 * j + 1] + kb)));
        /* the lane index is an immediate: no loop over it (unoptimized builds) */
        __m512i v = _mm512_castsi128_si512(l[0]);
        v = _mm512_inserti32x4(v, l[1], 1);
        v = _mm512_inserti32x4(v, l[2], 2);
        v = _mm512_inserti32x4(v, l[3], 3);
        z[i] = _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(_mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6,
                                                                           14, 7, 15)));
    }
    const __m512i tq0 = _mm512_loadu_si512((const void *)vnni_t2_tq), tq1 = _mm512_add_epi16(tq0, _mm512_set1_epi16(4));
    const __m512i t[2] = { _mm512_permutex2var_epi16(z[0], tq0, z[1]), _mm512_permutex2var_epi16(z[0], tq1, z[1]) };
    const __m512i sel = _mm512_set1_epi32((int)0xC0300C03u);
    const __m512i one = _mm512_set1_epi32(0x40100401), two = _mm512_set1_epi32((int)0x80200802u);
    const __m512i ones = _mm512_set1_epi8(1), rep0 = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2,
                                                                                          2, 2, 2, 3, 3, 3, 3));
    __m512i bs = _mm512_setzero_si512(); /* byte sums of the 8 vectors: |·| <= 8 */
    for (int e = 0; e < 8; e++) {
        const __m512i rep = _mm512_add_epi8(rep0, _mm512_set1_epi8((char)(4 * (e % 4))));
        const __m512i v = _mm512_and_si512(_mm512_shuffle_epi8(t[e / 4], rep), sel);
        const __m512i wv = _mm512_mask_mov_epi8(_mm512_movm_epi8(_mm512_cmpeq_epi8_mask(v, two)),
                                                _mm512_cmpeq_epi8_mask(v, one), ones);
        _mm512_storeu_si512((void *)(dst + e * 4 * VNNI_PR), wv);
        bs = _mm512_add_epi8(bs, wv);
    }
    return bs;
}

/* Weight rows r0 .. r0 + np − 1 (np <= 16) of kind wk into the panel at pan. */
FGQ_VNNI_STAGE void vnni_panel_decode(int wk, const fgq_qweights *qw, int64_t r0, int np, uint8_t *pan,
                                       const vnni_consts *c)
{
    const int64_t K = qw->k, nq = (K + 31) / 32 * 8, ng = qw->n_groups, G = qw->group < K ? qw->group : K;
    const __m256i z = _mm256_setzero_si256();
    const uint8_t *rw[VNNI_PR]; /* rows past np repeat the last: their lanes have multiplier 0 */
    for (int j = 0; j < VNNI_PR; j++)
        rw[j] = qw->codes + (r0 + (j < np ? j : np - 1)) * qw->row_bytes;
    uint8_t *mult = pan + nq * 4 * VNNI_PR;
    vnni_panel_mults(qw, r0, np, mult);
    /* C per row, Σ_g m_g·Σ_{k∈g} w, from each chunk's byte sums (8 quads, so |·| <= 64
     * per byte: a chunk never straddles two groups) */
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i cs = _mm512_setzero_si512(), e = cs;
    for (int64_t k = 0, g = 0; k < K; k += 32) {
        const __mmask32 mask = vnni_mask(k, K);
        uint8_t *dst = pan + k * VNNI_PR;
        __m512i bs;
        if (wk == VNNI_S4 && mask == 0xFFFFFFFFu)
            bs = vnni_panel_s4_chunk(rw, k / 2, dst);
        else if (wk == VNNI_T2 && mask == 0xFFFFFFFFu)
            bs = vnni_panel_t2_chunk(rw, k / 4, dst);
        else {
            for (int h = 0; h < VNNI_PR; h += 8) {
                __m256i v[8];
                for (int j = 0; j < 8; j++)
                    v[j] = h + j >= np            ? z
                           : mask == 0xFFFFFFFFu ? vnni_w_full(wk, qw->codes + (r0 + h + j) * qw->row_bytes, k, c)
                                                 : vnni_w(wk, qw->codes + (r0 + h + j) * qw->row_bytes, k, mask, c);
                vnni_quads_8x8(v, dst + h * 4, VNNI_PR * 4);
            }
            bs = _mm512_setzero_si512();
            for (int i = 0; i < 8; i++)
                bs = _mm512_add_epi8(bs, _mm512_loadu_si512((const void *)(dst + i * 4 * VNNI_PR)));
        }
        e = _mm512_dpbusd_epi32(e, ones, bs);
        if (k + 32 >= K || (k + 32) % G == 0) { /* the group's last chunk */
            cs = _mm512_add_epi32(cs, _mm512_mullo_epi32(e, vnni_panel_mult(mult, g)));
            e = _mm512_setzero_si512();
            g++;
        }
    }
    _mm512_storeu_si512((void *)(mult + ng * VNNI_PR), cs);
}

/* 4 bytes of activations from p, broadcast to 512 bits (s8 ones flipped). */
FGQ_VNNI_INLINE __m512i vnni_a4z(int a_s8, const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    const __m512i x = _mm512_set1_epi32(v);
    return a_s8 ? _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)) : x;
}
/* The same for the last quad of a row, n < 4 bytes (nothing past them read). */
FGQ_VNNI_INLINE __m512i vnni_a4z_tail(int a_s8, const uint8_t *p, int64_t n)
{
    const __m512i x = _mm512_broadcastd_epi32(_mm_maskz_loadu_epi8((__mmask16)((1u << n) - 1u), p));
    return a_s8 ? _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)) : x; /* bytes past n meet zero weights */
}

/* s += m·p per int32 lane: vpdpwssd when p fits int16 (`narrow`: t2, G <= 128; m is
 * 0..255, so m's high half is 0 and p's is its sign), else vpmulld + vpaddd. */
#define VNNI_MACC(narrow, s, p, m)                                                    \
    do {                                                                              \
        if (narrow)                                                                   \
            __asm__("vpdpwssd %2, %1, %0" : "+v"(s) : "v"(p), "v"(m));                \
        else                                                                          \
            (s) = _mm512_add_epi32((s), _mm512_mullo_epi32((p), (m)));                 \
    } while (0)

/* Activation rows a .. a + (MR − 1)·lda (MR = 8 or 4; rows past nr repeat the first
 * and are not stored) × the panel's np weight rows: out[r·ldd + j]. */
FGQ_VNNI_INLINE void vnni_p16(int a_s8, int narrow, int MR, const fgq_qweights *qw, const uint8_t *pan, int np,
                              const uint8_t *a, int64_t lda, int nr, uint32_t zxp, int32_t *out, int64_t ldd)
{
    const int64_t K = qw->k, nq = (K + 31) / 32 * 8, ng = qw->n_groups, G = qw->group < K ? qw->group : K;
    const uint8_t *ar[8];
    for (int r = 0; r < 8; r++)
        ar[r] = r < nr ? a + r * lda : a;
    const uint8_t *mult = pan + nq * 4 * VNNI_PR;
    const __m512i z = _mm512_setzero_si512();
    __m512i s0 = z, s1 = z, s2 = z, s3 = z, s4 = z, s5 = z, s6 = z, s7 = z;
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 > G ? k0 + G : K, qf = k1 / 4; /* full quads end at qf */
        __m512i c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z;
        for (int64_t q = k0 / 4; q < qf; q++) {
            const __m512i w = _mm512_loadu_si512((const void *)(pan + q * 4 * VNNI_PR));
            __m512i x = vnni_a4z(a_s8, ar[0] + 4 * q);
            VNNI_DP(c0, x, w);
            x = vnni_a4z(a_s8, ar[1] + 4 * q);
            VNNI_DP(c1, x, w);
            x = vnni_a4z(a_s8, ar[2] + 4 * q);
            VNNI_DP(c2, x, w);
            x = vnni_a4z(a_s8, ar[3] + 4 * q);
            VNNI_DP(c3, x, w);
            if (MR == 8) {
                x = vnni_a4z(a_s8, ar[4] + 4 * q);
                VNNI_DP(c4, x, w);
                x = vnni_a4z(a_s8, ar[5] + 4 * q);
                VNNI_DP(c5, x, w);
                x = vnni_a4z(a_s8, ar[6] + 4 * q);
                VNNI_DP(c6, x, w);
                x = vnni_a4z(a_s8, ar[7] + 4 * q);
                VNNI_DP(c7, x, w);
            }
        }
        if (qf * 4 < k1) { /* K % 4 codes in the row's last group */
            const __m512i w = _mm512_loadu_si512((const void *)(pan + qf * 4 * VNNI_PR));
            const int64_t t = k1 - qf * 4;
            __m512i x = vnni_a4z_tail(a_s8, ar[0] + 4 * qf, t);
            VNNI_DP(c0, x, w);
            x = vnni_a4z_tail(a_s8, ar[1] + 4 * qf, t);
            VNNI_DP(c1, x, w);
            x = vnni_a4z_tail(a_s8, ar[2] + 4 * qf, t);
            VNNI_DP(c2, x, w);
            x = vnni_a4z_tail(a_s8, ar[3] + 4 * qf, t);
            VNNI_DP(c3, x, w);
            if (MR == 8) {
                x = vnni_a4z_tail(a_s8, ar[4] + 4 * qf, t);
                VNNI_DP(c4, x, w);
                x = vnni_a4z_tail(a_s8, ar[5] + 4 * qf, t);
                VNNI_DP(c5, x, w);
                x = vnni_a4z_tail(a_s8, ar[6] + 4 * qf, t);
                VNNI_DP(c6, x, w);
                x = vnni_a4z_tail(a_s8, ar[7] + 4 * qf, t);
                VNNI_DP(c7, x, w);
            }
        }
        const __m512i m = vnni_panel_mult(mult, g);
        VNNI_MACC(narrow, s0, c0, m);
        VNNI_MACC(narrow, s1, c1, m);
        VNNI_MACC(narrow, s2, c2, m);
        VNNI_MACC(narrow, s3, c3, m);
        if (MR == 8) {
            VNNI_MACC(narrow, s4, c4, m);
            VNNI_MACC(narrow, s5, c5, m);
            VNNI_MACC(narrow, s6, c6, m);
            VNNI_MACC(narrow, s7, c7, m);
        }
    }
    const __m512i zc = _mm512_mullo_epi32(_mm512_set1_epi32((int32_t)zxp),
                                          _mm512_loadu_si512((const void *)(mult + ng * VNNI_PR)));
    const __mmask16 sm = (__mmask16)((1u << np) - 1u);
    const __m512i s[8] = { s0, s1, s2, s3, s4, s5, s6, s7 };
    for (int r = 0; r < nr; r++)
        _mm512_mask_storeu_epi32(out + r * ldd, sm, _mm512_sub_epi32(s[r], zc));
}

/* vnni_p16 in each of its eight forms (s8 or u8 activations, narrow or wide sums, 8 or 4 rows) as
 * a function of its own: one frame at a time on the stack, the constants still folded in. */
#define VNNI_P16_STAGE(name, as8, nar, mr)                                                                 \
    FGQ_VNNI_STAGE void name(const fgq_qweights *qw, const uint8_t *pan, int np, const uint8_t *a, int64_t lda, \
                             int nr, uint32_t zxp, int32_t *out, int64_t ldd)                               \
    {                                                                                                        \
        vnni_p16(as8, nar, mr, qw, pan, np, a, lda, nr, zxp, out, ldd);                                      \
    }
VNNI_P16_STAGE(vnni_p16_u8_w8, 0, 0, 8)
VNNI_P16_STAGE(vnni_p16_u8_w4, 0, 0, 4)
VNNI_P16_STAGE(vnni_p16_u8_n8, 0, 1, 8)
VNNI_P16_STAGE(vnni_p16_u8_n4, 0, 1, 4)
VNNI_P16_STAGE(vnni_p16_s8_w8, 1, 0, 8)
VNNI_P16_STAGE(vnni_p16_s8_w4, 1, 0, 4)
VNNI_P16_STAGE(vnni_p16_s8_n8, 1, 1, 8)
VNNI_P16_STAGE(vnni_p16_s8_n4, 1, 1, 4)
#undef VNNI_P16_STAGE

typedef void (*vnni_p16_fn)(const fgq_qweights *, const uint8_t *, int, const uint8_t *, int64_t, int, uint32_t,
                            int32_t *, int64_t);

FGQ_VNNI_STAGE void vnni_gemm_panels(int wk, int a_s8, const fgq_qweights *qw, int64_t j0, int64_t n,
                                     const uint8_t *a, int64_t lda, int64_t m, int32_t zx, int32_t *dot, int64_t ldd,
                                     uint8_t *pan)
{
    vnni_consts c;
    vnni_consts_init(&c, a_s8);
    const uint32_t zxp = (uint32_t)(a_s8 ? zx + 128 : zx);
    const int narrow = wk == VNNI_T2 && (qw->group < qw->k ? qw->group : qw->k) <= 128;
    const vnni_p16_fn p8 = a_s8 ? (narrow ? vnni_p16_s8_n8 : vnni_p16_s8_w8) : (narrow ? vnni_p16_u8_n8 : vnni_p16_u8_w8);
    const vnni_p16_fn p4 = a_s8 ? (narrow ? vnni_p16_s8_n4 : vnni_p16_s8_w4) : (narrow ? vnni_p16_u8_n4 : vnni_p16_u8_w4);
    for (int64_t p0 = 0; p0 < n; p0 += VNNI_PR) {
        const int np = n - p0 < VNNI_PR ? (int)(n - p0) : VNNI_PR;
        vnni_panel_decode(wk, qw, j0 + p0, np, pan, &c);
        int64_t r = 0;
        for (; m - r > 4; r += 8)
            p8(qw, pan, np, a + r * lda, lda, m - r < 8 ? (int)(m - r) : 8, zxp, dot + r * ldd + p0, ldd);
        if (r < m)
            p4(qw, pan, np, a + r * lda, lda, (int)(m - r), zxp, dot + r * ldd + p0, ldd);
    }
}
/* work: FGQ_QGEMM_DECODE_BYTES for t2 and s4 (NULL: decode in registers, the
 * same integers). */
FGQ_VNNI_INLINE void vnni_gemm(int wk, const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                               int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work)
{
    if (wk != VNNI_S8 && qw->has_gs && work != NULL && m >= VNNI_MR && vnni_panel_bytes(qw) <= VNNI_DEC_BYTES) {
        if (a_s8)
            vnni_gemm_panels(wk, 1, qw, j0, n, a, lda, m, zx, dot, ldd, work);
        else
            vnni_gemm_panels(wk, 0, qw, j0, n, a, lda, m, zx, dot, ldd, work);
        return;
    }
    if (wk != VNNI_S8 && work != NULL && m >= VNNI_MR && (qw->k + 31) / 32 * 32 * VNNI_NR <= VNNI_DEC_BYTES) {
        if (a_s8)
            vnni_gemm_decoded(wk, 1, qw, j0, n, a, lda, m, zx, dot, ldd, work);
        else
            vnni_gemm_decoded(wk, 0, qw, j0, n, a, lda, m, zx, dot, ldd, work);
        return;
    }
    if (a_s8)
        vnni_gemm_as(wk, 1, qw, j0, n, a, lda, m, zx, dot, ldd);
    else
        vnni_gemm_as(wk, 0, qw, j0, n, a, lda, m, zx, dot, ldd);
}

#endif /* x86 */
#endif /* FGQ_QGEMM_AVX512VNNI_H */
