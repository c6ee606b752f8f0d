/*
 * qconv_dwrow__armdsp.c — the depthwise QCONV row step for the Cortex-M DSP
 * extension: acc[i] += e·(x[i] − zx), i < n (x u8, or s8 when x_s8), 4
 * outputs a step. Reference twin: fgq_qconv_dwrow_ref (qgemm_dispatch.h).
 *
 * One word of x gives (x0 − zx, x2 − zx) and (x1 − zx, x3 − zx) as int16
 * pairs (UXTAB16 / SXTAB16, exact: |x − zx| <= 255; qgemm_armdsp.h), and
 * SMLABB / SMLABT multiply e's low halfword by the pair's low or high half
 * and add to one accumulator. e = m·code with m <= 255 and |code| <= 128, so
 * |e| <= 32640 fits that halfword; each product and sum is the reference's
 * int32 (the §3.5 bound holds for every partial sum of a dot product).
 */
#include "qgemm_armdsp.h"

#if defined(__ARM_FEATURE_DSP)

FGQ_DSP_INLINE void dwrow(int32_t *acc, const uint8_t *x, int32_t n, int32_t e, int32_t zx, int x_s8)
{
    const uint32_t nz = fgq_dsp_negzx2(zx);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t d02, d13;
        fgq_dsp_d4(fgq_dsp_ld32(x + i), nz, x_s8, &d02, &d13);
        acc[i] = __smlabb(e, (int32_t)d02, acc[i]);
        acc[i + 1] = __smlabb(e, (int32_t)d13, acc[i + 1]);
        acc[i + 2] = __smlabt(e, (int32_t)d02, acc[i + 2]);
        acc[i + 3] = __smlabt(e, (int32_t)d13, acc[i + 3]);
    }
    for (; i < n; i++)
        acc[i] += e * (fgq_dsp_act(x, i, x_s8) - zx);
}

void fgq_qconv_dwrow__armdsp(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8)
{
    if (x_s8)
        dwrow(acc, x, (int32_t)n, e, zx, 1);
    else
        dwrow(acc, x, (int32_t)n, e, zx, 0);
}

#endif /* __ARM_FEATURE_DSP */
