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
 * That is the general form (RQ_SAT_*, qrequant_avx512.h). Most channels take a
 * folded one instead (rq_channel_consts: no saturation possible, the layer's dot
 * bound below 2^29, r <= 23): z_y goes into the rounding constant, so the shift
 * gives the value + z_y exactly; one vpermt2d merges the even and odd lanes
 * (instead of a shift and a blend) and the clamp is to [qmin, qmax]; where
 * qmin >= z_y (ReLU-style outputs) the p < 0 correction goes too, since every
 * such lane clamps to qmin either way: 11 vector instructions for 16 values
 * (the load and the store aside) where the general form with a right shift
 * takes 17.
 * A left shift L (a real multiplier >= 1) folds the same way where |bias| + the dot bound <
 * 2^(30 − L) (rq_fold_channel: no lane saturates and the value plus z_y stays in int32); calls
 * with per-lane channels (QGEMM, c_step 1) and the other left shifts go to fgq_qrequant__avx2.
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
    if (c_step != 0) {
        fgq_qrequant__avx2(qw, c0, c_step, dot, n, zy, qmin, qmax, y, y_s8);
        return;
    }
    if (shift > 0) { /* a left shift: the folded form where it applies (rq_fold_channel) */
        rq_consts k;
        rq_fold_shared(qmin, qmax, &k);
        const int32_t b = qw->bias != NULL ? qw->bias[c0] : 0;
        if (rq_fold_channel(rq_layer_bound(qw, rq_code_max(qw)), b, qw->req[2 * c0], -shift, zy, qmin, &k) >= 0)
            rq_loop(RQ_FRN, &k, dot, n, (uint8_t *)y);
        else
            fgq_qrequant__avx2(qw, c0, c_step, dot, n, zy, qmin, qmax, y, y_s8);
        return;
    }
    rq_channel(qw, c0, dot, n, zy, qmin, qmax, (uint8_t *)y, rq_code_max(qw));
}

/* The rows form (QCONV's tiles: nc channels of n positions, often 32 x 32): the constants
 * every channel shares are set once a call, and a channel whose form is folded
 * (rq_channel_consts: the same test) sets only its multiplier, bias, rounding constant and
 * shift, a few scalar operations, where a full rq_channel_consts per channel cost about as much
 * as the channel's two steps. */
FGQ_AVX512_FN void fgq_qrequant_rows__avx512(const fgq_qweights *qw, int64_t c0, int64_t nc, const int32_t *dot,
                                             int64_t ld_dot, int64_t n, int32_t zy, int32_t qmin, int32_t qmax,
                                             uint8_t *y, int64_t ld_y, int y_s8)
{
    const int64_t code = rq_code_max(qw);
    const int64_t bound = rq_layer_bound(qw, code);
    rq_consts k;
    rq_fold_shared(qmin, qmax, &k);
    for (int64_t j = 0; j < nc; j++) {
        const int64_t c = c0 + j;
        const int32_t shift = qw->req[2 * c + 1], b = qw->bias != NULL ? qw->bias[c] : 0;
        const int32_t *dj = dot + j * ld_dot;
        uint8_t *yj = y + j * ld_y;
        const int mode = rq_fold_channel(bound, b, qw->req[2 * c], -shift, zy, qmin, &k);
        if (mode >= 0)
            rq_loop_mode(mode, &k, dj, n, yj);
        else if (shift > 0) /* a left shift the folded form does not take */
            fgq_qrequant__avx2(qw, c, 0, dj, n, zy, qmin, qmax, yj, y_s8);
        else
            rq_channel(qw, c, dj, n, zy, qmin, qmax, yj, code);
    }
}

/* Row-major form: the constants vary along the lanes (channel c0 + j in lane j), so the rounding
 * shift is per 64-bit lane (vpsravq) and r = 0 lanes take plain srdhm (npos 2^30, no sign
 * correction): rq_step's round form with r >= 1 and its !round form at r = 0, lane by lane. */
FGQ_AVX512_FN int fgq_qrequant_rowmajor__avx512(const fgq_qweights *qw, int64_t c0, int64_t nc, const int32_t *dot,
                                                int64_t ld_dot, int64_t n, int32_t zy, int32_t qmin, int32_t qmax,
                                                uint8_t *y, int64_t ld_y)
{
    for (int64_t c = c0; c < c0 + nc; c++)
        if (qw->req[2 * c + 1] > 0)
            return 0;
    const __m512i zero = _mm512_setzero_si512(), imax = _mm512_set1_epi32(INT32_MAX), one = _mm512_set1_epi64(1);
    const __m512i two30 = _mm512_set1_epi64(1ll << 30), two31 = _mm512_set1_epi64(1ll << 31);
    const __m512i lo = _mm512_set1_epi32(qmin - zy), hi = _mm512_set1_epi32(qmax - zy), zyv = _mm512_set1_epi32(zy);
    const __m512i pick_even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo32 = _mm512_set1_epi64(0xFFFFFFFFll);
    for (int64_t jb = 0; jb < nc; jb += 16) {
        const int64_t nl = nc - jb < 16 ? nc - jb : 16;
        const __mmask16 live = nl == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nl) - 1u);
        const int32_t *rq = qw->req + 2 * (c0 + jb);
        const int64_t np = 2 * nl; /* (mult, shift) pairs */
        const __m512i p0 = _mm512_maskz_loadu_epi32(np >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << np) - 1u), rq);
        const __m512i p1 = np > 16 ? _mm512_maskz_loadu_epi32(np >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (np - 16)) - 1u), rq + 16)
                                   : zero;
        const __m512i mult = _mm512_permutex2var_epi32(p0, pick_even, p1);
        const __m512i right = _mm512_sub_epi32(zero, _mm512_permutex2var_epi32(p0, _mm512_add_epi32(pick_even, _mm512_set1_epi32(1)), p1));
        const __m512i bias = qw->bias != NULL ? _mm512_maskz_loadu_epi32(live, qw->bias + c0 + jb) : zero;
        /* per 64-bit lane: even channels in the low halves, odd ones shifted down */
        const __m512i r_ev = _mm512_and_si512(right, lo32), r_od = _mm512_srli_epi64(right, 32);
        const __m512i m_ev = mult, m_od = _mm512_srli_epi64(mult, 32);
        const __mmask8 rp_ev = _mm512_cmpgt_epi64_mask(r_ev, zero), rp_od = _mm512_cmpgt_epi64_mask(r_od, zero);
        const __m512i n_ev = _mm512_mask_add_epi64(two30, rp_ev, two30, _mm512_sllv_epi64(one, _mm512_add_epi64(r_ev, _mm512_set1_epi64(30))));
        const __m512i n_od = _mm512_mask_add_epi64(two30, rp_od, two30, _mm512_sllv_epi64(one, _mm512_add_epi64(r_od, _mm512_set1_epi64(30))));
        const __m512i q_ev = _mm512_add_epi64(r_ev, _mm512_set1_epi64(31)), q_od = _mm512_add_epi64(r_od, _mm512_set1_epi64(31));
        for (int64_t r = 0; r < n; r++) {
            const __m512i d = _mm512_maskz_loadu_epi32(live, dot + r * ld_dot + jb);
            __m512i acc = _mm512_add_epi32(d, bias);
            const __mmask16 ovf =
                _mm512_cmplt_epi32_mask(_mm512_andnot_si512(_mm512_xor_si512(d, bias), _mm512_xor_si512(d, acc)), zero);
            acc = _mm512_mask_blend_epi32(ovf, acc, _mm512_xor_si512(imax, _mm512_srai_epi32(d, 31)));
            __m512i ev = _mm512_mul_epi32(acc, m_ev), od = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m_od);
            const __mmask8 ne = _mm512_cmplt_epi64_mask(ev, zero) & rp_ev, no = _mm512_cmplt_epi64_mask(od, zero) & rp_od;
            ev = _mm512_srav_epi64(_mm512_mask_sub_epi64(_mm512_add_epi64(ev, n_ev), ne, _mm512_add_epi64(ev, n_ev), two31), q_ev);
            od = _mm512_srav_epi64(_mm512_mask_sub_epi64(_mm512_add_epi64(od, n_od), no, _mm512_add_epi64(od, n_od), two31), q_od);
            const __m512i s = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, _mm512_slli_epi64(od, 32));
            const __m512i v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(s, lo), hi), zyv);
            _mm512_mask_cvtepi32_storeu_epi8(y + r * ld_y + jb, live, v);
        }
    }
    return 1;
}

#endif /* x86 */
