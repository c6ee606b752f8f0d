/*
 * qrequant__avx512.c — the QCONV/QGEMM output stage on AVX-512, 16 values a step,
 * for a run of one channel (c_step 0: the convolutions' and the depthwise path's
 * calls) whose shift is <= 0:
 *   y[i] = clamp(z_y + requant(sat32(B[c] + dot[i]), mult, shift), qmin, qmax)
 * bit-exact with fgq_qrequant_ref (tests/test_qgemm_kernels.c runs every kernel
 * row's output stage against it over random and extreme values). The steps:
 *   sat32 add   wrap, then the lanes whose operands share a sign the sum lacks
 *               take INT32_MAX or INT32_MIN (a mask blend); skipped where no
 *               sum can leave int32 (|bias| < 2^30 and the layer's K bound on
 *               |dot| below 2^30: every layer of the models measured)
 *   srdhm       gemmlowp's saturating rounding doubling high multiply. With
 *               mult >= 0 (fgq_qweights_check_req) it is
 *               floor((p + 2^30) / 2^31), p = acc·mult: for p >= 0 that is
 *               gemmlowp's (p + 2^30) / 2^31 itself; for p < 0 gemmlowp
 *               truncates t = p + 1 − 2^30 < 0 toward zero, i.e. takes
 *               ceil(t / 2^31) = floor((t + 2^31 − 1) / 2^31), and
 *               t + 2^31 − 1 = p + 2^30. So: vpmuldq on the even and the odd
 *               lanes, + 2^30, vpsraq by 31, the two halves merged (ties,
 *               p + 2^30 a multiple of 2^31, are in the test)
 *   >> right    rounding halves away from zero: (s >> r) + (s & (2^r − 1) >
 *               2^(r−1) − 1 + (s < 0)); with r >= 1 folded into the srdhm:
 *               one 64-bit shift of p by 31 + r after adding 2^30 + 2^(30+r)
 *               (less 2^31 where p < 0), the same integers (qrequant_avx512.h,
 *               rq_channel_consts, proves it): 13 instructions instead of 16
 *   clamp       to [qmin − z_y, qmax − z_y], + z_y, vpmovdb to bytes (the
 *               values are in the byte's range; a masked store for the tail)
 * Calls with per-lane channels (QGEMM, c_step 1) or a left shift (a real
 * multiplier >= 1) go to fgq_qrequant__avx2.
 */
#include "qrequant_avx512.h"

#if defined(__x86_64__) || defined(__i386__)

static int64_t rq_code_max(const fgq_qweights *qw)
{
    return fgq_qw_code_max(qw->dtype);
}

FGQ_AVX512_FN void fgq_qrequant__avx512(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot,
                                        int64_t n, int32_t zy, int32_t qmin, int32_t qmax, void *y, int y_s8)
{
    const int32_t shift = c_step == 0 ? qw->req[2 * c0 + 1] : 1;
    if (c_step != 0 || shift > 0) {
        fgq_qrequant__avx2(qw, c0, c_step, dot, n, zy, qmin, qmax, y, y_s8);
        return;
    }
    rq_channel(qw, c0, dot, n, zy, qmin, qmax, (uint8_t *)y, rq_code_max(qw));
}

FGQ_AVX512_FN void fgq_qrequant_rows__avx512(const fgq_qweights *qw, int64_t c0, int64_t nc, const int32_t *dot,
                                             int64_t ld_dot, int64_t n, int32_t zy, int32_t qmin, int32_t qmax,
                                             uint8_t *y, int64_t ld_y, int y_s8)
{
    const int64_t code = rq_code_max(qw);
    for (int64_t j = 0; j < nc; j++) {
        if (qw->req[2 * (c0 + j) + 1] > 0)
            fgq_qrequant__avx2(qw, c0 + j, 0, dot + j * ld_dot, n, zy, qmin, qmax, y + j * ld_y, y_s8);
        else
            rq_channel(qw, c0 + j, dot + j * ld_dot, n, zy, qmin, qmax, y + j * ld_y, code);
    }
}

#endif /* x86 */
