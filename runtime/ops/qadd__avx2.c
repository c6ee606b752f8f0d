/*
 * qadd__avx2.c — QADD without broadcasting, 8 elements a step (and QMUL's runs, below):
 *   y[i] = clamp(z_y + requant(ta[a[i] ^ fa] + tb[b[i] ^ fb], mult, shift), qmin, qmax)
 * where ta / tb hold each input code's rescaled value (qadd.c builds them: the same
 * requant of (q − z)·2^L the reference computes per element). The tables are read with
 * vpgatherdd, the output requantization is requant8 (qrequant_avx2.h). Reference twin:
 * fgq_qadd_run_ref (qadd.c), tested in tests/test_qops_misc.c.
 */
#include "qrequant_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_AVX2_FN int64_t fgq_qadd_tables__avx2(const uint8_t *a, const uint8_t *b, int64_t n, uint8_t fa, uint8_t fb,
                                          const int32_t *ta, const int32_t *tb, int32_t mult, int32_t shift,
                                          int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y, int y_s8)
{
    const __m128i fav = _mm_set1_epi8((char)fa), fbv = _mm_set1_epi8((char)fb);
    const __m256i zero = _mm256_setzero_si256(), m = _mm256_set1_epi32(mult), sh = _mm256_set1_epi32(shift);
    const __m256i lo = _mm256_set1_epi32(qmin - zy), hi = _mm256_set1_epi32(qmax - zy), zyv = _mm256_set1_epi32(zy);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i ia = _mm256_cvtepu8_epi32(_mm_xor_si128(_mm_loadl_epi64((const __m128i *)(const void *)(a + i)), fav));
        const __m256i ib = _mm256_cvtepu8_epi32(_mm_xor_si128(_mm_loadl_epi64((const __m128i *)(const void *)(b + i)), fbv));
        /* |ta|, |tb| < 2^28: the sum cannot wrap */
        const __m256i s = _mm256_add_epi32(_mm256_i32gather_epi32((const int *)ta, ia, 4),
                                           _mm256_i32gather_epi32((const int *)tb, ib, 4));
        __m256i v = requant8(s, zero, m, sh);
        v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), zyv);
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(void *)(y + i), y_s8 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
    }
    return i;
}

/* QMUL on a run, 8 elements a step: y[i] = clamp(z_y + requant((a[i] − z_a)·(b[i·sb] − z_b), mult,
 * shift), qmin, qmax), sb 1 (both operands along the run) or 0 (b one value: a channel's gate).
 * |product| <= 255²: int32 lanes. Reference twin: fgq_qmul_run_ref (qadd.c). Returns n & ~7. */
FGQ_AVX2_FN int64_t fgq_qmul_run__avx2(const uint8_t *a, const uint8_t *b, int64_t sb, int64_t n, int a_s8, int b_s8,
                                       int32_t za, int32_t zb, int32_t mult, int32_t shift, int32_t zy, int32_t qmin,
                                       int32_t qmax, uint8_t *y, int y_s8)
{
    const __m256i zero = _mm256_setzero_si256(), m = _mm256_set1_epi32(mult), sh = _mm256_set1_epi32(shift);
    const __m256i zav = _mm256_set1_epi32(za), zbv = _mm256_set1_epi32(zb);
    const __m256i lo = _mm256_set1_epi32(qmin - zy), hi = _mm256_set1_epi32(qmax - zy), zyv = _mm256_set1_epi32(zy);
    if (n < 8)
        return 0; /* (b may hold no element at all) */
    const __m256i gate = sb != 0 ? _mm256_setzero_si256()
                                 : _mm256_set1_epi32((b_s8 ? (int32_t)(int8_t)b[0] : (int32_t)b[0]) - zb);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i ra = _mm_loadl_epi64((const __m128i *)(const void *)(a + i));
        const __m256i da = _mm256_sub_epi32(a_s8 ? _mm256_cvtepi8_epi32(ra) : _mm256_cvtepu8_epi32(ra), zav);
        __m256i db = gate;
        if (sb != 0) {
            const __m128i rb = _mm_loadl_epi64((const __m128i *)(const void *)(b + i));
            db = _mm256_sub_epi32(b_s8 ? _mm256_cvtepi8_epi32(rb) : _mm256_cvtepu8_epi32(rb), zbv);
        }
        __m256i v = requant8(_mm256_mullo_epi32(da, db), zero, m, sh);
        v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), zyv);
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(void *)(y + i), y_s8 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w));
    }
    return i;
}

#endif /* x86 */
