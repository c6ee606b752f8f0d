/*
 * qquantize__avx2.c — QUANTIZE (f32 → u8|s8), 8 values a step (and DYNQUANT's range below):
 *   y = clamp(round(x / s) + z, qmin, qmax), NaN -> qmin
 * for the first n & ~7 values (returns that count)
 * with round = roundf (half away from zero) or nearbyintf (half to even,
 * the default rounding mode). Bit-exact with the scalar loop in qconvert.c
 * (its reference twin; tests/test_qgemm_kernels.c): the same IEEE division,
 * roundf as trunc(r) + sign(r) where |r − trunc(r)| >= 0.5 (exact: r −
 * trunc(r) is exact in float), the same float add of z, and vmaxps(v, lo)
 * returning lo for a NaN v as the scalar !(v >= lo) does.
 */
#include "qgemm_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_AVX2_FN int64_t fgq_quantize_f32__avx2(const float *x, int64_t n, float s, float z, float lo, float hi, int even,
                                        void *y, int y_s8)
{
    const __m256 sv = _mm256_set1_ps(s), zv = _mm256_set1_ps(z), lov = _mm256_set1_ps(lo), hiv = _mm256_set1_ps(hi);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    uint8_t *yb = (uint8_t *)y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 r = _mm256_div_ps(_mm256_loadu_ps(x + i), sv);
        __m256 v;
        if (even) {
            v = _mm256_round_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        } else {
            const __m256 t = _mm256_round_ps(r, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 away = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(r, t)), half, _CMP_GE_OQ);
            v = _mm256_add_ps(t, _mm256_and_ps(away, _mm256_or_ps(one, _mm256_and_ps(r, sign))));
        }
        v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, zv), lov), hiv);
        const __m256i q = _mm256_cvttps_epi32(v);
        const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(yb + i), y_s8 ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16));
    }
    return i; /* the caller's scalar loop does the rest */
}

/* DYNQUANT's min/max over the finite values (qdyn.c): per lane lo = v < lo ? v : lo (blend on an
 * ordered compare, the scalar loop's rule, finite values only: v − v == 0), then the lanes the
 * same way. A lane only ever holds *lo or a value strictly below it, so ties across lanes hold the
 * same bits and the order of the reduction does not matter. DYNQUANT ran its range scalar: 17 %
 * of MobileNetV2 with --acts dynamic. */
FGQ_AVX2_FN int64_t fgq_dynquant_range__avx2(const float *x, int64_t n, float *lo, float *hi, int *nan)
{
    __m256 vlo = _mm256_set1_ps(*lo), vhi = _mm256_set1_ps(*hi), vnan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 fin = _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_EQ_OQ);
        vnan = _mm256_or_ps(vnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        vlo = _mm256_blendv_ps(vlo, v, _mm256_and_ps(fin, _mm256_cmp_ps(v, vlo, _CMP_LT_OQ)));
        vhi = _mm256_blendv_ps(vhi, v, _mm256_and_ps(fin, _mm256_cmp_ps(v, vhi, _CMP_GT_OQ)));
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, vlo);
    _mm256_storeu_ps(h, vhi);
    for (int j = 0; j < 8; j++) {
        *lo = l[j] < *lo ? l[j] : *lo;
        *hi = h[j] > *hi ? h[j] : *hi;
    }
    *nan |= _mm256_movemask_ps(vnan) != 0;
    return i;
}

#endif /* x86 */
