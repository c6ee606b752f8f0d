/*
 * qrequant__armdsp.c — the QCONV / QGEMM output stage for 32-bit Arm cores
 * with the DSP extension, one value at a time in 32-bit arithmetic where
 * the reference (fgq_qrequant_ref: fgq_qweights_output, fgq_requantize_s32,
 * fgq_q_store) goes through two calls and int64 values per output. Same
 * bytes, step by step (one channel's parameters loaded once when the n
 * values share it):
 *   sat32(B + dot)          QADD saturates exactly to int32
 *   left shift, saturated   compared with INT32_MAX >> s and INT32_MIN >> s
 *                           first: acc·2^s > INT32_MAX ⟺ acc > INT32_MAX >> s
 *   SRDHM                   floor((acc·mult + 2^30) / 2^31): the reference's
 *                           rounding, shown equal below
 *   rounding shift          the reference's expression (affine.c), inlined
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
    /* SRDHM: the reference's (ab + nudge) / 2^31, truncating, with nudge 2^30 (ab >= 0) or
     * 1 − 2^30 (ab < 0), is floor((ab + 2^30) / 2^31) in both cases — for ab < 0,
     * trunc(t / 2^31) = floor((t + 2^31 − 1) / 2^31) with t = ab + 1 − 2^30 < 0 — so one
     * 64-bit add and an arithmetic shift. mult >= 0 (REQ is checked), so the reference's
     * saturating case INT32_MIN·INT32_MIN never arises, and |ab| < 2^62 keeps the result
     * in int32. */
    const int32_t x = (int32_t)(((int64_t)acc * (int64_t)mult + (1ll << 30)) >> 31);
    if (shift >= 0)
        return x;
    const int32_t e = -shift;
    const int32_t mask = (int32_t)((1ll << e) - 1);
    const int32_t remainder = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* The same for one channel whose shift is < 0 (REQ's usual case), e = −shift in 1..31: with
 * Q = acc·mult and P = Q + 2^30, requant's x = floor(P / 2^31), then the rounding shift
 * (x + 2^(e−1) − [x < 0]) >> e, is floor((P + (2^(e−1) − [x < 0])·2^31) / 2^(31+e)) — nested
 * floors with an integer added in between — and x < 0 exactly when P < 0, i.e. Q < −2^30. So
 * it is the high word of Q + k, shifted right by e − 1, with k = 2^30 + 2^(30+e) − [Q < −2^30]·2^31:
 * one 64-bit multiply, compare and add a value. |Q + k| < 2^62 + 2^61, so the high word is within
 * int32 and so is the result (< 2^31 / 2^e): adding z_y to it cannot overflow. */
FGQ_DSP_INLINE void channel_rshift(const int32_t *dot, int32_t n, int32_t b, int32_t mult, int32_t e, int32_t zy,
                                   int32_t lo, int32_t hi, void *y, int y_s8, int full)
{
    const int64_t kp = ((int64_t)1 << 30) + ((int64_t)1 << (30 + e)), kn = kp - ((int64_t)1 << 31);
    const int32_t s = e - 1;
    for (int32_t i = 0; i < n; i++) {
        const int64_t q = (int64_t)__qadd(dot[i], b) * mult;
        const int64_t t = q + (q < -((int64_t)1 << 30) ? kn : kp);
        int32_t r = (int32_t)(t >> 32) >> s;
        /* full: [qmin, qmax] is the dtype's whole range, one saturation (r + z_y fits, above) */
        if (full)
            r = y_s8 ? __ssat(r + zy, 8) : (int32_t)__usat(r + zy, 8);
        else
            r = (r < lo ? lo : r > hi ? hi : r) + zy;
        if (y_s8)
            ((int8_t *)y)[i] = (int8_t)r;
        else
            ((uint8_t *)y)[i] = (uint8_t)r;
    }
}

FGQ_DSP_INLINE void channel(const int32_t *dot, int32_t n, int32_t b, int32_t mult, int32_t shift, int32_t zy,
                            int32_t lo, int32_t hi, void *y, int y_s8)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t r = requant(__qadd(dot[i], b), mult, shift);
        r = (r < lo ? lo : r > hi ? hi : r) + zy;
        if (y_s8)
            ((int8_t *)y)[i] = (int8_t)r;
        else
            ((uint8_t *)y)[i] = (uint8_t)r;
    }
}

/* A channel a value (QGEMM's rows): each value's bias and REQ pair read along, right shifts by
 * SRDHM and the rounding shift in 32 bits, as requant() (x = floor((acc·mult + 2^30) / 2^31), then
 * (x >> e) + ((x & mask) > (mask >> 1) + [x < 0])), with the loop's pointers stepped and the clamp
 * one saturation where [qmin, qmax] is the dtype's range: few enough values live that they stay in
 * registers (the general loop below kept 41 instructions a value, spilling; the MLPerf autoencoder's
 * dense layers went through it for every output). requant()'s right-shift steps are written out
 * here rather than called: calling requant() for every value measured 185,480 instructions for
 * that model on the M4 against 181,800. */
static void values(const int32_t *dot, int32_t n, const int32_t *bias, const int32_t *req, int32_t zy, int32_t lo,
                   int32_t hi, void *y, int y_s8, int full)
{
    for (int32_t i = 0; i < n; i++, req += 2) {
        const int32_t acc = __qadd(dot[i], bias != NULL ? bias[i] : 0), shift = req[1];
        int32_t r;
        if (shift < 0) {
            const int32_t x = (int32_t)(((int64_t)acc * req[0] + (1ll << 30)) >> 31), e = -shift;
            const int32_t mask = (int32_t)((1u << e) - 1u);
            r = (x >> e) + ((x & mask) > (mask >> 1) + (x < 0 ? 1 : 0) ? 1 : 0);
            /* |r| <= 2^30 after a right shift: r + z_y fits, one saturation clamps it */
            if (full)
                r = y_s8 ? __ssat(r + zy, 8) : (int32_t)__usat(r + zy, 8);
            else
                r = (r < lo ? lo : r > hi ? hi : r) + zy;
        } else {
            r = requant(acc, req[0], shift);
            r = (r < lo ? lo : r > hi ? hi : r) + zy;
        }
        if (y_s8)
            ((int8_t *)y)[i] = (int8_t)r;
        else
            ((uint8_t *)y)[i] = (uint8_t)r;
    }
}

void fgq_qrequant__armdsp(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n, int32_t zy,
                          int32_t qmin, int32_t qmax, void *y, int y_s8)
{
    const int32_t nn = (int32_t)n, lo = qmin - zy, hi = qmax - zy;
    if (c_step == 0) { /* n positions of one channel (QCONV): its parameters once */
        const size_t c = (size_t)c0;
        const int32_t b = qw->bias != NULL ? qw->bias[c] : 0, mult = qw->req[2 * c], shift = qw->req[2 * c + 1];
        const int full = qmin == (y_s8 ? -128 : 0) && qmax == (y_s8 ? 127 : 255);
        if (shift < 0 && y_s8)
            channel_rshift(dot, nn, b, mult, -shift, zy, lo, hi, y, 1, full);
        else if (shift < 0 && full)
            channel_rshift(dot, nn, b, mult, -shift, zy, lo, hi, y, 0, 1);
        else if (shift < 0)
            channel_rshift(dot, nn, b, mult, -shift, zy, lo, hi, y, 0, 0);
        else if (y_s8)
            channel(dot, nn, b, mult, shift, zy, lo, hi, y, 1);
        else
            channel(dot, nn, b, mult, shift, zy, lo, hi, y, 0);
        return;
    }
    /* one copy (the flags tested per value: a copy per case cost 640 bytes of flash) */
    const int32_t *bias = qw->bias != NULL ? qw->bias + c0 : NULL, *req = qw->req + 2 * c0;
    values(dot, nn, bias, req, zy, lo, hi, y, y_s8, qmin == (y_s8 ? -128 : 0) && qmax == (y_s8 ? 127 : 255));
}

#endif /* __ARM_FEATURE_DSP */
