/*
 * qconv_dwrow__avx2.c — the inner step of QCONV's depthwise path (qconv.c):
 *   acc[i] += e·(x[i] − z_x),  i < n
 * for one tap's effective weight e = m·code (|e| <= 128·255) along a row of
 * stride-1 outputs, 8 int32 lanes a step. Products fit int32 (|e·d| <=
 * 32640·255) and every partial sum is bounded by §3.5, so lanes are exact.
 * Reference twin: fgq_qconv_dwrow_ref (the same loop in plain C); the whole
 * path is checked against fgq_qconv_dot in tests/test_qconv_kernels.c.
 */
#include "qgemm_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_AVX2_FN void fgq_qconv_dwrow__avx2(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8)
{
    const __m256i ev = _mm256_set1_epi32(e), zv = _mm256_set1_epi32(zx);
    int64_t i = 0;
    if (x_s8)
        for (; i + 8 <= n; i += 8) {
            const __m256i d = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + i))), zv);
            _mm256_storeu_si256((__m256i *)(acc + i),
                                _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + i)), _mm256_mullo_epi32(d, ev)));
        }
    else
        for (; i + 8 <= n; i += 8) {
            const __m256i d = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + i))), zv);
            _mm256_storeu_si256((__m256i *)(acc + i),
                                _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + i)), _mm256_mullo_epi32(d, ev)));
        }
    if (i < n) {
        /* 1..7 left: through an 8-byte copy (x may end right here) and masked acc lanes */
        uint8_t xb[8] = { 0 };
        memcpy(xb, x + i, (size_t)(n - i));
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), lanes);
        const __m128i xv = _mm_loadl_epi64((const __m128i *)xb);
        const __m256i d = _mm256_sub_epi32(x_s8 ? _mm256_cvtepi8_epi32(xv) : _mm256_cvtepu8_epi32(xv), zv);
        const __m256i a = _mm256_maskload_epi32(acc + i, mask);
        _mm256_maskstore_epi32(acc + i, mask, _mm256_add_epi32(a, _mm256_mullo_epi32(d, ev)));
    }
}

#endif /* x86 */
