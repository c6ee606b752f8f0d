/*
 * qrequant_avx2.h — gemmlowp requantization on 8 int32 lanes (AVX2), shared by the
 * QCONV/QGEMM output stage (qrequant__avx2.c) and QADD (qadd__avx2.c); the steps
 * are described in qrequant__avx2.c. Bit-exact with fgq_requantize_s32.
 */
#ifndef FGQ_QREQUANT_AVX2_H
#define FGQ_QREQUANT_AVX2_H

#include "qgemm_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

FGQ_AVX2_INLINE __m256i sat_add32(__m256i a, __m256i b)
{
    const __m256i s = _mm256_add_epi32(a, b);
    const __m256i ovf = _mm256_andnot_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, s));
    const __m256i sat = _mm256_xor_si256(_mm256_set1_epi32(INT32_MAX), _mm256_srai_epi32(a, 31));
    return _mm256_blendv_epi8(s, sat, _mm256_srai_epi32(ovf, 31));
}

/* srdhm on the even 32-bit lanes' 64-bit products, result in the low halves. */
FGQ_AVX2_INLINE __m256i srdhm_even(__m256i x, __m256i m)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i ab = _mm256_mul_epi32(x, m);
    const __m256i neg = _mm256_cmpgt_epi64(zero, ab);
    const __m256i nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(1ll << 30), _mm256_set1_epi64x(1 - (1ll << 30)), neg);
    __m256i t = _mm256_add_epi64(ab, nudge);
    t = _mm256_add_epi64(t, _mm256_and_si256(_mm256_cmpgt_epi64(zero, t), _mm256_set1_epi64x((1ll << 31) - 1)));
    return _mm256_srli_epi64(t, 31);
}

FGQ_AVX2_INLINE __m256i requant8(__m256i dot, __m256i bias, __m256i mult, __m256i shift)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i acc = sat_add32(dot, bias);
    const __m256i left = _mm256_max_epi32(shift, zero), right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    __m256i x = _mm256_sllv_epi32(acc, left);
    const __m256i lost = _mm256_xor_si256(_mm256_srav_epi32(x, left), acc);
    const __m256i sat = _mm256_xor_si256(_mm256_set1_epi32(INT32_MAX), _mm256_srai_epi32(acc, 31));
    x = _mm256_blendv_epi8(x, sat, _mm256_xor_si256(_mm256_cmpeq_epi32(lost, zero), _mm256_set1_epi32(-1)));
    const __m256i ev = srdhm_even(x, mult);
    const __m256i od = srdhm_even(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(mult, 32));
    x = _mm256_blend_epi32(ev, _mm256_slli_epi64(od, 32), 0xAA);
    const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), right), _mm256_set1_epi32(1));
    const __m256i rem = _mm256_and_si256(x, mask);
    const __m256i thr = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_cmpgt_epi32(zero, x));
    return _mm256_sub_epi32(_mm256_srav_epi32(x, right), _mm256_cmpgt_epi32(rem, thr));
}

#endif /* x86 */
#endif /* FGQ_QREQUANT_AVX2_H */
