/*
 * qconv_dwrow__armdsp.c — the depthwise QCONV row step for the Cortex-M DSP
 * extension: acc[i] += e·(x[i] − zx), i < n (x u8, or s8 when x_s8), 4
 * outputs a step; and the all-taps step below. Reference twins:
 * fgq_qconv_dwrow_ref, fgq_qconv_dwtaps_ref (qgemm_dispatch.h).
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

/* All taps of a run at once, 4 outputs a pass held in registers: acc[i] = Σ_t e[t]·x_t[i] − z_x·Σ_t e[t].
 * Per tap, one word of its run gives (x0, x2) and (x1, x3) (UXTB16 / SXTB16, the second rotated),
 * and SMLABB / SMLABT add e·x to each output; the row step instead loads and stores every
 * accumulator once per tap. Exact: with nt <= DW_ARM_TAPS, |e| <= 32640 and |x| <= 255, both sums
 * and every partial sum stay below 32·32640·255 < 2^28 in magnitude, so the int32 results are the
 * reference's (fgq_qconv_dwtaps_ref); more taps take the reference. */
enum { DW_ARM_TAPS = 32 };

FGQ_DSP_INLINE void dwtaps(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int32_t n, int32_t zx,
                           int x_s8)
{
    int32_t se = 0;
    for (int32_t t = 0; t < nt; t++)
        se += e[t];
    const int32_t off = zx * se;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int32_t t = 0; t < nt; t++) {
            const uint32_t w = fgq_dsp_ld32(src[t] + i);
            const int32_t et = e[t];
            const uint32_t d02 = x_s8 ? (uint32_t)__sxtb16((int8x4_t)w) : __uxtb16(w);
            const uint32_t d13 = x_s8 ? fgq_dsp_sxtb16_ror8(w) : fgq_dsp_uxtb16_ror8(w);
            a0 = __smlabb(et, (int32_t)d02, a0);
            a1 = __smlabb(et, (int32_t)d13, a1);
            a2 = __smlabt(et, (int32_t)d02, a2);
            a3 = __smlabt(et, (int32_t)d13, a3);
        }
        acc[i] = a0 - off;
        acc[i + 1] = a1 - off;
        acc[i + 2] = a2 - off;
        acc[i + 3] = a3 - off;
    }
    for (; i < n; i++) {
        int32_t a = 0;
        for (int32_t t = 0; t < nt; t++)
            a += e[t] * fgq_dsp_act(src[t], i, x_s8);
        acc[i] = a - off;
    }
}

void fgq_qconv_dwtaps__armdsp(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                              int32_t zx, int x_s8)
{
    if (nt > DW_ARM_TAPS)
        fgq_qconv_dwtaps_ref(acc, src, e, nt, n, zx, x_s8);
    else if (x_s8)
        dwtaps(acc, src, e, nt, (int32_t)n, zx, 1);
    else
        dwtaps(acc, src, e, nt, (int32_t)n, zx, 0);
}

#endif /* __ARM_FEATURE_DSP */
