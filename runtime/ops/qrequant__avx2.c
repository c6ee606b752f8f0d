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
#include "qrequant_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

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
