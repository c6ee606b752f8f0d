/*
 * qgemm_armdsp.h — pieces shared by the Cortex-M DSP QGEMM microkernels
 * (qgemm_u8s8_1x2c4__armdsp.c, qgemm_u8t2_1x2c4__armdsp.c). Built only where
 * the compiler targets the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7,
 * M33, M35P, M55, M85); the dispatch table names these rows under the same
 * test, so the choice is made at compile time.
 *
 * Common scheme, the packed 16-bit SIMD of the DSP extension: 4 activations
 * (one 32-bit load) become two words of int16 pairs,
 *   d02 = (a0 − zx, a2 − zx),  d13 = (a1 − zx, a3 − zx)
 * with one UXTAB16 (SXTAB16 for s8 activations) each: it extends bytes 0 and
 * 2 (or, rotated by 8, 1 and 3) and adds (−zx, −zx) per halfword. The
 * halfword sums wrap mod 2^16, but the true value a − zx lies in −255..255,
 * so each halfword holds it exactly. 4 weights become (w0, w2), (w1, w3) the
 * same way (SXTB16), and SMLAD adds both 16×16 products to an int32
 * accumulator: |w·d| <= 128·255 = 32640, and every partial sum is a partial
 * sum of Σ |w|·|d|, which the §3.5 load-time bound (docs/quantized-ops.md)
 * keeps within int32. So the int32 results are the exact integers the
 * reference (fgq_qweights_dot) computes, in any summation order.
 */
#ifndef FGQ_QGEMM_ARMDSP_H
#define FGQ_QGEMM_ARMDSP_H

#if defined(__ARM_FEATURE_DSP)

#include "qgemm_dispatch.h"

#include <arm_acle.h>
#include <string.h>

#define FGQ_DSP_INLINE static inline __attribute__((always_inline))

/* 4 bytes at p, any alignment (the M-profile cores with DSP load unaligned words). */
FGQ_DSP_INLINE uint32_t fgq_dsp_ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* SXTB16, UXTB16, UXTAB16 and SXTAB16 of v rotated right by 8: the instructions take the rotation
 * themselves, but GCC (12) emits a separate ROR for the ACLE intrinsic of a rotated operand
 * (one instruction per pair, 4 of the ~30 a 2 x 2 step of pair_s8 took). Not volatile: the
 * compiler schedules and drops them like any expression. */
FGQ_DSP_INLINE uint32_t fgq_dsp_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

FGQ_DSP_INLINE uint32_t fgq_dsp_uxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

FGQ_DSP_INLINE uint32_t fgq_dsp_uxtab16_ror8(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

FGQ_DSP_INLINE uint32_t fgq_dsp_sxtab16_ror8(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* (−zx, −zx) as two int16 halfwords. */
FGQ_DSP_INLINE uint32_t fgq_dsp_negzx2(int32_t zx)
{
    return (uint32_t)(uint16_t)(int16_t)(-zx) * 0x00010001u;
}

/* d02, d13 of 4 activations av (u8, or s8 when a_s8; a constant at each call site). */
FGQ_DSP_INLINE void fgq_dsp_d4(uint32_t av, uint32_t nz, int a_s8, uint32_t *d02, uint32_t *d13)
{
    if (a_s8) {
        *d02 = (uint32_t)__sxtab16((int16x2_t)nz, (int8x4_t)av);
        *d13 = fgq_dsp_sxtab16_ror8(nz, av);
    } else {
        *d02 = __uxtab16(nz, av);
        *d13 = fgq_dsp_uxtab16_ror8(nz, av);
    }
}

/* acc + w0·d0 + w2·d2 + w1·d1 + w3·d3 for 4 s8 weights in one word. */
FGQ_DSP_INLINE int32_t fgq_dsp_mac4(uint32_t w, uint32_t d02, uint32_t d13, int32_t acc)
{
    acc = __smlad(__sxtb16((int8x4_t)w), (int16x2_t)d02, acc);
    return __smlad((int16x2_t)fgq_dsp_sxtb16_ror8(w), (int16x2_t)d13, acc);
}

FGQ_DSP_INLINE int32_t fgq_dsp_act(const uint8_t *a, int32_t k, int a_s8)
{
    return a_s8 ? (int32_t)(int8_t)a[k] : (int32_t)a[k];
}

/* Multiplier of row `row`, group g (alpha 0: m+, 1: m−), clamped to M; 1 without GS. */
FGQ_DSP_INLINE int32_t fgq_dsp_mult(const fgq_qweights *qw, size_t row, size_t g, int alpha)
{
    if (!qw->has_gs)
        return 1;
    const int32_t m = qw->gs[(row * (size_t)qw->n_groups + g) * (size_t)qw->n_alpha + (qw->n_alpha == 2 ? alpha : 0)];
    return m < qw->mmax ? m : qw->mmax;
}

#endif /* __ARM_FEATURE_DSP */

#endif /* FGQ_QGEMM_ARMDSP_H */
