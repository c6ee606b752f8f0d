/*
 * qconv_dwtaps__avx2.c — QCONV's depthwise phase form (qconv.c), every tap at once:
 *   acc[i] = Σ_t e[t]·(src[t][i] − z_x),  i < n
 * with the nt taps' effective weights e = m·code and their source runs (one phase
 * plane each), 16 outputs a step in two ymm accumulators held over all the taps (then 8),
 * so acc is written once instead of read and written once per tap (the row
 * form, qconv_dwrow__avx2.c). Computed as Σ_t e[t]·x_t − z_x·Σ_t e[t] in
 * wrapping int32: congruent to the reference's sum mod 2^32, and that sum fits
 * int32 (the K bound of quantized-ops.md §3.5), so the lanes are exact.
 * Reference twin: fgq_qconv_dwtaps_ref (qgemm_dispatch.c), tested in
 * tests/test_qconv_kernels.c.
 */
#include "qgemm_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_AVX2_INLINE __m256i dwt_load8(const uint8_t *p, int x_s8)
{
    const __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)p);
    return x_s8 ? _mm256_cvtepi8_epi32(v) : _mm256_cvtepu8_epi32(v);
}

FGQ_AVX2_FN void fgq_qconv_dwtaps__avx2(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt,
                                        int64_t n, int32_t zx, int x_s8)
{
    uint32_t esum = 0;
    for (int32_t t = 0; t < nt; t++)
        esum += (uint32_t)e[t];
    const __m256i off = _mm256_set1_epi32((int32_t)(0u - (uint32_t)zx * esum)); /* −z_x·Σe, wrapping */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a0 = off, a1 = off;
        for (int32_t t = 0; t < nt; t++) {
            const __m256i ev = _mm256_set1_epi32(e[t]);
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(dwt_load8(src[t] + i, x_s8), ev));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(dwt_load8(src[t] + i + 8, x_s8), ev));
        }
        _mm256_storeu_si256((__m256i *)(void *)(acc + i), a0);
        _mm256_storeu_si256((__m256i *)(void *)(acc + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256i a0 = off;
        for (int32_t t = 0; t < nt; t++)
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(dwt_load8(src[t] + i, x_s8), _mm256_set1_epi32(e[t])));
        _mm256_storeu_si256((__m256i *)(void *)(acc + i), a0);
    }
    for (; i < n; i++) { /* the tail: the reference's formula */
        int32_t s = 0;
        for (int32_t t = 0; t < nt; t++)
            s += e[t] * ((x_s8 ? (int32_t)(int8_t)src[t][i] : (int32_t)src[t][i]) - zx);
        acc[i] = s;
    }
}

#endif /* x86 */
