/*
 * qgemm_avx2.h — pieces shared by the AVX2 QGEMM microkernels
 * (qgemm_u8s8_1x4c16__avx2.c, qgemm_u8t2_1x4c16__avx2.c). x86 only; every
 * function carries target("avx2,fma") because the build does not pass
 * -mavx2 (the dispatch checks the CPU before calling in).
 *
 * Common scheme: activations are taken 16 at a time and widened to int16
 * d = a − zx (|d| <= 255: u8 or s8 minus a zero point of the same dtype), one
 * d vector serves 4 weight rows. Group multipliers m = min(GS, W_MMAX) <= 255
 * are applied per 16-k chunk, either broadcast (the chunk lies in one group)
 * or per lane (groups of 1, 2, 4 or 8: "narrow"). Parts a kernel does not
 * vectorise (the k tail, group tails) go through qgemm_scalar_range, which
 * adds m·w·d term by term — the same integer as the reference, since every
 * partial sum is bounded by §3.5.
 */
#ifndef FGQ_QGEMM_AVX2_H
#define FGQ_QGEMM_AVX2_H

#if defined(__x86_64__) || defined(__i386__)

#include "qgemm_dispatch.h"

#include <immintrin.h>
#include <string.h>

#define FGQ_AVX2_FN __attribute__((target("avx2,fma")))
#define FGQ_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Σ_{k0 <= k < k1} m_{g(k)}·w_k·(a_k − zx) of one weight row, term by term. */
static inline int32_t qgemm_scalar_range(const fgq_qweights *qw, int64_t row, const void *a, int a_s8, int32_t zx,
                                         int64_t k0, int64_t k1)
{
    const uint8_t *wrow = qw->codes + row * qw->row_bytes;
    const uint8_t *gs = qw->has_gs ? qw->gs + row * qw->n_groups * qw->n_alpha : NULL;
    int32_t s = 0;
    for (int64_t k = k0; k < k1; k++) {
        const int32_t w = fgq_qw_code(qw->dtype, wrow, k);
        if (w == 0)
            continue;
        int32_t m = 1;
        if (gs != NULL) {
            const uint8_t *mg = gs + (k / qw->group) * qw->n_alpha;
            m = (w < 0 && qw->n_alpha == 2) ? mg[1] : mg[0];
            m = m < qw->mmax ? m : qw->mmax;
        }
        s += m * w * (fgq_q_load(a, k, a_s8) - zx);
    }
    return s;
}

/* Multiplier of row `row`, group g (alpha 0: m+, 1: m-), clamped; 1 without GS. */
static inline int32_t qgemm_mult(const fgq_qweights *qw, int64_t row, int64_t g, int alpha)
{
    if (!qw->has_gs)
        return 1;
    const int32_t m = qw->gs[(row * qw->n_groups + g) * qw->n_alpha + (qw->n_alpha == 2 ? alpha : 0)];
    return m < qw->mmax ? m : qw->mmax;
}

/* d = a[k .. k+16) − zx as int16 lanes. */
FGQ_AVX2_INLINE __m256i qgemm_load_d16(const void *a, int64_t k, int a_s8, __m256i zx16)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)((const uint8_t *)a + k));
    return _mm256_sub_epi16(a_s8 ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v), zx16);
}

/* Per-chunk multipliers ("narrow" mode) for groups of N in 1, 2, 4, 8 — a
 * 16-k chunk spans 16/N whole groups whose n_alpha·16/N multipliers
 * (<= 16 bytes) sit contiguously in GS — and for N = 16, where a chunk
 * lies in one group and its multiplier is broadcast (measured cheaper than a flush
 * per group; longer groups flush at their end instead). */
typedef struct {
    int nbytes;     /* multiplier bytes per chunk */
    __m256i ctrl[2]; /* vpshufb: int16 lane i <- byte (i/N)·n_alpha + alpha, high byte 0 */
    __m256i mmax16;
} qgemm_narrow;

FGQ_AVX2_INLINE int qgemm_narrow_init(const fgq_qweights *qw, qgemm_narrow *nw)
{
    const int64_t n = qw->group;
    if (!qw->has_gs || qw->n_groups < 2 || (n != 1 && n != 2 && n != 4 && n != 8 && n != 16) ||
        (n < 16 && (16 / n) * qw->n_alpha > 16))
        return 0;
    nw->nbytes = (int)(n <= 16 ? (16 / n) * qw->n_alpha : qw->n_alpha);
    for (int alpha = 0; alpha < 2; alpha++) {
        uint8_t c[32];
        for (int i = 0; i < 16; i++) {
            c[2 * i] = (uint8_t)((i / n) * qw->n_alpha + (qw->n_alpha == 2 ? alpha : 0));
            c[2 * i + 1] = 0x80;
        }
        nw->ctrl[alpha] = _mm256_loadu_si256((const __m256i *)c);
    }
    nw->mmax16 = _mm256_set1_epi16((short)qw->mmax);
    return 1;
}

/* The chunk's lane multipliers from p (its first group's first multiplier);
 * reads exactly nw->nbytes bytes. Lanes for m+ (alpha 0) and m- (alpha 1). */
FGQ_AVX2_INLINE __m256i qgemm_narrow_mults(const qgemm_narrow *nw, const uint8_t *p, int alpha)
{
    __m128i v;
    switch (nw->nbytes) {
    case 1: v = _mm_cvtsi32_si128((int)p[0]); break;
    case 2: { uint16_t u; memcpy(&u, p, 2); v = _mm_cvtsi32_si128((int)u); break; }
    case 4: { uint32_t u; memcpy(&u, p, 4); v = _mm_cvtsi32_si128((int)u); break; }
    case 8: v = _mm_loadl_epi64((const __m128i *)p); break;
    default: v = _mm_loadu_si128((const __m128i *)p); break;
    }
    const __m256i b = _mm256_broadcastsi128_si256(v);
    return _mm256_min_epi16(_mm256_shuffle_epi8(b, nw->ctrl[alpha]), nw->mmax16);
}

/* [Σ lanes of x0, of x1, of x2, of x3] (wrapping int32, exact under §3.5). */
FGQ_AVX2_INLINE __m128i qgemm_hsum4(__m256i x0, __m256i x1, __m256i x2, __m256i x3)
{
    const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(x0, x1), _mm256_hadd_epi32(x2, x3));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

#endif /* x86 */
#endif /* FGQ_QGEMM_AVX2_H */
