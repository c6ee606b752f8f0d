/*
 * qrequant__avx2.c — the QCONV/QGEMM output stage, 8 values a step:
 *   y[i] = clamp(z_y + requant(sat32(B[c] + dot[i]), mult[c], shift[c]), qmin, qmax)
 * bit-exact with fgq_qweights_output + fgq_q_store (its reference twin,
 * fgq_qrequant_ref), tested over random and edge values in
 * tests/test_qgemm_kernels.c. Steps, as fgq_requantize_s32 (quant/affine.c):
 *   sat32 add       wrap, then the overflow lanes (operands of one sign, sum
 *                   of the other) take INT32_MAX or INT32_MIN
 *   << left         vpsllvd; lanes whose vpsravd back differs saturate
 *   srdhm           32×32 → 64 products (vpmuldq, even and odd lanes), the
 *                   gemmlowp nudge 2^30 or 1 − 2^30, division by 2^31
 *                   truncating toward zero (+2^31 − 1 when negative, then a
 *                   64-bit logical shift: its low 32 bits are the result,
 *                   which fits int32). mult >= 0 (fgq_qweights_check_req),
 *                   so the INT32_MIN·INT32_MIN case cannot occur.
 *   >> right        rounding half away from zero, as rounding_shift_right_s32
 *   + z_y, clamp    the requantized value is clamped to [qmin − z_y,
 *                   qmax − z_y] first, so the add cannot wrap.
 */
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

FGQ_AVX2_FN void fgq_qrequant__avx2(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n,
                                    int32_t zy, int32_t qmin, int32_t qmax, void *y, int y_s8)
{
    const __m256i lo = _mm256_set1_epi32(qmin - zy), hi = _mm256_set1_epi32(qmax - zy), zy8 = _mm256_set1_epi32(zy);
    const __m256i deint = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    __m256i bias = _mm256_setzero_si256(), mult = bias, shift = bias;
    if (c_step == 0) {
        bias = _mm256_set1_epi32(qw->bias != NULL ? qw->bias[c0] : 0);
        mult = _mm256_set1_epi32(qw->req[2 * c0]);
        shift = _mm256_set1_epi32(qw->req[2 * c0 + 1]);
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        if (c_step != 0) {
            const int64_t c = c0 + i;
            if (qw->bias != NULL)
                bias = _mm256_loadu_si256((const __m256i *)(qw->bias + c));
            const __m256i p0 = _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(qw->req + 2 * c)), deint);
            const __m256i p1 =
                _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(qw->req + 2 * c + 8)), deint);
            mult = _mm256_permute2x128_si256(p0, p1, 0x20);
            shift = _mm256_permute2x128_si256(p0, p1, 0x31);
        }
        __m256i v = requant8(_mm256_loadu_si256((const __m256i *)(dot + i)), bias, mult, shift);
        v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), zy8);
        const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        const __m128i b8 = y_s8 ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16);
        _mm_storel_epi64((__m128i *)((uint8_t *)y + i), b8);
    }
    if (i < n)
        fgq_qrequant_ref(qw, c0 + i * c_step, c_step, dot + i, n - i, zy, qmin, qmax, (uint8_t *)y + i, y_s8);
}

#endif /* x86 */
