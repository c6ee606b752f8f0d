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
 *               2^(r−1) − 1 + (s < 0))
 *   clamp       to [qmin − z_y, qmax − z_y], + z_y, vpmovdb to bytes (the
 *               values are in the byte's range; a masked store for the tail)
 * Calls with per-lane channels (QGEMM, c_step 1) or a left shift (a real
 * multiplier >= 1) go to fgq_qrequant__avx2.
 */
#include "qgemm_dispatch.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define FGQ_AVX512_FN __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))

#define FGQ_AVX512_INLINE static inline __attribute__((always_inline, target("avx2,fma,avx512f,avx512bw,avx512vl")))

typedef struct {
    __m512i bias, mult, nudge, imax, rmask, rthr, lo, hi, zyv;
    __m128i rcount;
} rq_consts;

/* The loop, with `sat` (the int32 saturation of bias + dot) and `round` (a right shift) as
 * constants: each call site below is a copy without the steps it does not need. */
FGQ_AVX512_INLINE void rq_loop(int sat, int round, const rq_consts *k, const int32_t *dot, int64_t n, uint8_t *yb)
{
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512i d = _mm512_maskz_loadu_epi32(live, dot + i);
        __m512i acc = _mm512_add_epi32(d, k->bias);
        if (sat) { /* sat32(bias + dot) */
            const __mmask16 ovf = _mm512_cmplt_epi32_mask(
                _mm512_andnot_si512(_mm512_xor_si512(d, k->bias), _mm512_xor_si512(d, acc)), zero);
            acc = _mm512_mask_blend_epi32(ovf, acc, _mm512_xor_si512(k->imax, _mm512_srai_epi32(d, 31)));
        }
        /* srdhm: floor((acc·mult + 2^30) / 2^31) on the even lanes, then the odd ones */
        const __m512i ev = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(acc, k->mult), k->nudge), 31);
        const __m512i od =
            _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), k->mult), k->nudge), 31);
        __m512i s = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, _mm512_slli_epi64(od, 32));
        if (round) { /* rounding right shift, halves away from zero */
            const __mmask16 neg = _mm512_cmplt_epi32_mask(s, zero);
            const __m512i thr = _mm512_mask_add_epi32(k->rthr, neg, k->rthr, one);
            const __mmask16 up = _mm512_cmpgt_epi32_mask(_mm512_and_si512(s, k->rmask), thr);
            const __m512i q = _mm512_sra_epi32(s, k->rcount);
            s = _mm512_mask_add_epi32(q, up, q, one);
        }
        const __m512i v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(s, k->lo), k->hi), k->zyv);
        /* the clamped values are in the byte's range, u8 or s8: vpmovdb keeps their low byte */
        _mm512_mask_cvtepi32_storeu_epi8(yb + i, live, v);
    }
}

/* One channel's run (shift <= 0): its constants, then the loop copy it needs. */
FGQ_AVX512_INLINE void rq_channel(const fgq_qweights *qw, int64_t c, const int32_t *dot, int64_t n, int32_t zy,
                                  int32_t qmin, int32_t qmax, uint8_t *yb, int64_t code)
{
    const int32_t right = -qw->req[2 * c + 1], b = qw->bias != NULL ? qw->bias[c] : 0;
    rq_consts k;
    k.bias = _mm512_set1_epi32(b);
    k.mult = _mm512_set1_epi32(qw->req[2 * c]);
    k.nudge = _mm512_set1_epi64(1ll << 30);
    k.imax = _mm512_set1_epi32(INT32_MAX);
    k.rmask = _mm512_set1_epi32((int32_t)((1u << right) - 1u));
    k.rthr = _mm512_set1_epi32((int32_t)(((1u << right) - 1u) >> 1));
    k.rcount = _mm_cvtsi32_si128(right);
    k.lo = _mm512_set1_epi32(qmin - zy);
    k.hi = _mm512_set1_epi32(qmax - zy);
    k.zyv = _mm512_set1_epi32(zy);
    /* bias + dot cannot leave int32 when |bias| < 2^30 and every dot of the layer is below 2^30:
     * |dot| <= k·|code|·|x − z_x|·M with |code| <= 128 (s8), 8 (s4), 1 (t2), |x − z_x| <= 255 */
    const int sat = !(b > -(1 << 30) && b < (1 << 30) && qw->k * code * 255 * (int64_t)qw->mmax < (1ll << 30));
    if (sat)
        rq_loop(1, right > 0, &k, dot, n, yb);
    else if (right > 0)
        rq_loop(0, 1, &k, dot, n, yb);
    else
        rq_loop(0, 0, &k, dot, n, yb);
}

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
