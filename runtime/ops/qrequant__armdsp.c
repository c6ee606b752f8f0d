/*
 * qrequant__armdsp.c — the QCONV / QGEMM output stage for 32-bit Arm cores
 * with the DSP extension, one value at a time in 32-bit arithmetic where
 * the reference (fgq_qrequant_ref: fgq_qweights_output, fgq_requantize_s32,
 * fgq_q_store) goes through two calls and int64 values per output. Same
 * bytes, step by step:
 *   sat32(B + dot)          QADD saturates exactly to int32
 *   left shift, saturated   compared with INT32_MAX >> s and INT32_MIN >> s
 *                           first: acc·2^s > INT32_MAX ⟺ acc > INT32_MAX >> s
 *   SRDHM, rounding shift   the reference's expressions (affine.c), inlined
 *   + z_y, clamp            clamp(r, qmin − z_y, qmax − z_y) + z_y equals
 *                           clamp(r + z_y, qmin, qmax) and cannot overflow
 * Tested against the reference in targets/cortex-m/test_kernels.c.
 */
#include "qgemm_armdsp.h"

#if defined(__ARM_FEATURE_DSP)

FGQ_DSP_INLINE int32_t requant(int32_t acc, int32_t mult, int32_t shift)
{
    if (shift > 0) {
        const int32_t hi = INT32_MAX >> shift, lo = INT32_MIN >> shift;
        acc = acc > hi ? INT32_MAX : acc < lo ? INT32_MIN : (int32_t)((uint32_t)acc << shift);
    }
    int32_t x;
    if (acc == INT32_MIN && mult == INT32_MIN) {
        x = INT32_MAX;
    } else {
        const int64_t ab = (int64_t)acc * (int64_t)mult;
        const int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
        x = (int32_t)((ab + nudge) / (1ll << 31));
    }
    if (shift >= 0)
        return x;
    const int32_t e = -shift;
    const int32_t mask = (int32_t)((1ll << e) - 1);
    const int32_t remainder = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

void fgq_qrequant__armdsp(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n, int32_t zy,
                          int32_t qmin, int32_t qmax, void *y, int y_s8)
{
    const int32_t nn = (int32_t)n, lo = qmin - zy, hi = qmax - zy;
    const size_t step = (size_t)c_step;
    size_t c = (size_t)c0;
    for (int32_t i = 0; i < nn; i++, c += step) {
        const int32_t acc = __qadd(dot[i], qw->bias != NULL ? qw->bias[c] : 0);
        int32_t r = requant(acc, qw->req[2 * c], qw->req[2 * c + 1]);
        r = (r < lo ? lo : r > hi ? hi : r) + zy;
        if (y_s8)
            ((int8_t *)y)[i] = (int8_t)r;
        else
            ((uint8_t *)y)[i] = (uint8_t)r;
    }
}

#endif /* __ARM_FEATURE_DSP */
