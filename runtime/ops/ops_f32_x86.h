/*
 * ops_f32_x86.h — vector steps the float ops' x86 kernels share (conv_f32_gemm.c, conv_f32_dw.c,
 * pool_f32.c). Header-only, static inline under the target attributes of their callers; empty off
 * x86 (GCC/Clang).
 */
#ifndef FGQ_OPS_F32_X86_H
#define FGQ_OPS_F32_X86_H

#include "ops_f32.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

/* 8 floats at p, p + s, ..., p + 7s for s = 1 or 2; reads p[0 .. 7s] and no further (stride 2:
 * p[0..7] and p[7..14], keeping a's even and b's odd elements). */
__attribute__((target("avx2"))) static inline __m256 fgq_f32_load8(const float *p, int64_t s)
{
    if (s == 1)
        return _mm256_loadu_ps(p);
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0)); /* p0 p2 p8 p10 | p4 p6 p12 p14 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

/* The fused activation on 16 sums, fgq_ops_act_apply_f32's rule lane by lane: ReLU y < 0 ? 0 : y,
 * Clip (y < lo ? lo : y) then (v > hi ? hi : v); ordered compares, so NaN and −0 pass as there. */
__attribute__((target("avx512f"))) static inline __m512 fgq_f32_act16(__m512 y, int act, __m512 lo, __m512 hi)
{
    if (act == FGQ_ACT_RELU)
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_LT_OQ), y, _mm512_setzero_ps());
    if (act == FGQ_ACT_CLIP) {
        const __m512 v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(y, lo, _CMP_LT_OQ), y, lo);
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), v, hi);
    }
    return y;
}
#endif

#endif /* FGQ_OPS_F32_X86_H */
