/*
 * qquantize__avx512.c — the float <-> int8 boundary of the quantized ops on 16 lanes (AVX-512 F):
 * QUANTIZE's and DYNQUANT's quantization (fgq_quantize_f32__avx512), DYNQUANT's range
 * (fgq_dynquant_range__avx512) and the output stages of QCONV_DYN (fgq_qconv_fout_rows__avx512)
 * and QGEMM_DYN (fgq_qgemm_fout_row__avx512). Each is bit-exact with its twin: the AVX2 loops of
 * qquantize__avx2.c (whose twins are the scalar loops of qconvert.c and qdyn.c), and
 * fgq_qconv_fout_rows_ref / fgq_qgemm_fout_row_ref (qgemm_dispatch.c). With the convolutions on
 * QCONV's kernels, MobileNetV2 --acts dynamic spent 46 % of its time in DYNQUANT's AVX2 loops (the
 * range's blend chain ran at its latency, 8 values in ~8 cycles) and 9 % in the output stage's
 * scalar activation.
 */
#include "qgemm_dispatch.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define FGQ_AVX512F_FN __attribute__((target("avx2,fma,avx512f")))

/* fgq_quantize_f32__avx2's steps on 16 lanes: r = x / s (IEEE division), rounded half to even
 * (even) or half away from zero (trunc(r) + sign(r) where |r − trunc(r)| >= 0.5), + z, then
 * max(v, lo) (lo for NaN) and min(·, hi); the int32's low byte is the code. */
FGQ_AVX512F_FN int64_t fgq_quantize_f32__avx512(const float *x, int64_t n, float s, float z, float lo, float hi,
                                                int even, void *y, int y_s8)
{
    (void)y_s8; /* the clamp keeps the value in the dtype's range: its low byte is the code either way */
    const __m512 sv = _mm512_set1_ps(s), zv = _mm512_set1_ps(z), lov = _mm512_set1_ps(lo), hiv = _mm512_set1_ps(hi);
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u), abs = _mm512_set1_epi32(0x7fffffff);
    uint8_t *yb = (uint8_t *)y;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 r = _mm512_div_ps(_mm512_loadu_ps(x + i), sv);
        __m512 v;
        if (even) {
            v = _mm512_roundscale_ps(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        } else {
            const __m512 t = _mm512_roundscale_ps(r, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m512 frac = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_sub_ps(r, t)), abs));
            const __mmask16 away = _mm512_cmp_ps_mask(frac, half, _CMP_GE_OQ);
            const __m512 step = _mm512_castsi512_ps(
                _mm512_or_si512(_mm512_castps_si512(one), _mm512_and_si512(_mm512_castps_si512(r), sign)));
            v = _mm512_mask_add_ps(t, away, t, step);
        }
        v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, zv), lov), hiv);
        _mm_storeu_si128((__m128i *)(void *)(yb + i), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
    }
    return i;
}

/* DYNQUANT's range, fgq_dynquant_range__avx2's rule, for *lo <= +0 <= *hi on entry (DYNQUANT
 * starts both at 0): a value that is not finite (v − v != 0) is taken as +0, which never
 * replaces a bound of either sign (the rule replaces only by a value strictly beyond), and
 * lo = min(v, lo), hi = max(v, hi) are the rule itself (vminps returns its second operand unless
 * the first is strictly below). Four vectors a step in separate registers, so the chains run at
 * the units' rate; every register holds only *lo or values strictly beyond it, so the reduction
 * in any order gives the same bits. */
FGQ_AVX512F_FN int64_t fgq_dynquant_range__avx512(const float *x, int64_t n, float *lo, float *hi, int *nan)
{
    __m512 l0 = _mm512_set1_ps(*lo), l1 = l0, l2 = l0, l3 = l0;
    __m512 h0 = _mm512_set1_ps(*hi), h1 = h0, h2 = h0, h3 = h0;
    __mmask16 un = 0;
    const __m512 zero = _mm512_setzero_ps();
#define FGQ_RANGE_STEP(v, l, h)                                                          \
    do {                                                                                 \
        const __mmask16 fin = _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), zero, _CMP_EQ_OQ); \
        un |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);                                    \
        const __m512 f = _mm512_maskz_mov_ps(fin, v);                                    \
        l = _mm512_min_ps(f, l);                                                         \
        h = _mm512_max_ps(f, h);                                                         \
    } while (0)
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        const __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
        FGQ_RANGE_STEP(v0, l0, h0);
        FGQ_RANGE_STEP(v1, l1, h1);
        FGQ_RANGE_STEP(v2, l2, h2);
        FGQ_RANGE_STEP(v3, l3, h3);
    }
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        FGQ_RANGE_STEP(v, l0, h0);
    }
#undef FGQ_RANGE_STEP
    float l[64], h[64];
    _mm512_storeu_ps(l, l0);
    _mm512_storeu_ps(l + 16, l1);
    _mm512_storeu_ps(l + 32, l2);
    _mm512_storeu_ps(l + 48, l3);
    _mm512_storeu_ps(h, h0);
    _mm512_storeu_ps(h + 16, h1);
    _mm512_storeu_ps(h + 32, h2);
    _mm512_storeu_ps(h + 48, h3);
    for (int j = 0; j < 64; j++) {
        *lo = l[j] < *lo ? l[j] : *lo;
        *hi = h[j] > *hi ? h[j] : *hi;
    }
    *nan |= un != 0;
    return i;
}

/* fgq_qconv_fout_rows_ref (qgemm_dispatch.c) on 16 lanes: (float)dot (the conversion rounds as the scalar one, to
 * nearest), times s = s_x·s_w[c] (the same scalar product), + bias, then ReLU as max(0, v) (−0
 * and NaN stay: vmaxps returns its second operand unless the first is strictly greater) or Clip
 * as min(hi, max(lo, v)), the twin's y < lo ? lo : y and v > hi ? hi : v. */
FGQ_AVX512F_FN void fgq_qconv_fout_rows__avx512(const fgq_qconv_fout *fo, int64_t c0, int64_t nc, const int32_t *dot,
                                                int64_t ld_dot, int64_t n, float *y, int64_t ld_y)
{
    const int32_t act = fo->act;
    const __m512 lo = act == FGQ_ACT_RELU ? _mm512_setzero_ps() : _mm512_set1_ps(fo->act0);
    const __m512 hi = _mm512_set1_ps(fo->act1);
    const int clamp_lo = act == FGQ_ACT_RELU || act == FGQ_ACT_CLIP, clamp_hi = act == FGQ_ACT_CLIP;
    for (int64_t j = 0; j < nc; j++) {
        const float s = fo->s_x * fo->s_w[c0 + j];
        const __m512 sv = _mm512_set1_ps(s);
        const __m512 bv = _mm512_set1_ps(fo->bias != NULL ? fo->bias[c0 + j] : 0.0f);
        const int32_t *d = dot + j * ld_dot;
        float *yj = y + j * ld_y;
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, d + i)), sv);
            if (fo->bias != NULL) /* not + 0 without one: −0 + 0 is +0 */
                v = _mm512_add_ps(v, bv);
            if (clamp_lo)
                v = _mm512_max_ps(lo, v);
            if (clamp_hi)
                v = _mm512_min_ps(hi, v);
            _mm512_mask_storeu_ps(yj + i, m, v);
        }
    }
}

/* fgq_qgemm_fout_row_ref on 16 lanes: channel j0 + i's scale s_x·s_w[j0 + i] a lane (the same
 * scalar product), then fgq_qconv_fout_rows__avx512's steps. */
FGQ_AVX512F_FN void fgq_qgemm_fout_row__avx512(const fgq_qconv_fout *fo, int64_t j0, int64_t n, const int32_t *dot,
                                               float *y)
{
    const int32_t act = fo->act;
    const __m512 lo = act == FGQ_ACT_RELU ? _mm512_setzero_ps() : _mm512_set1_ps(fo->act0);
    const __m512 hi = _mm512_set1_ps(fo->act1), sx = _mm512_set1_ps(fo->s_x);
    const int clamp_lo = act == FGQ_ACT_RELU || act == FGQ_ACT_CLIP, clamp_hi = act == FGQ_ACT_CLIP;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 s = _mm512_mul_ps(sx, _mm512_maskz_loadu_ps(m, fo->s_w + j0 + i));
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, dot + i)), s);
        if (fo->bias != NULL)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, fo->bias + j0 + i));
        if (clamp_lo)
            v = _mm512_max_ps(lo, v);
        if (clamp_hi)
            v = _mm512_min_ps(hi, v);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

#endif /* x86 */
