/*
 * qrequant_avx512.h — the QCONV/QGEMM output stage on 16 int32 lanes (AVX-512 F/BW/VL), for
 * one channel: its constants (rq_channel_consts, for a shift <= 0; rq_fold_channel, the folded
 * forms, left shifts too), one step on a register (rq_step) and a run from memory (rq_loop).
 * Shared by qrequant__avx512.c, which describes the steps, and the depthwise kernels that
 * requantize in registers (qconv_dwtaps__avx512vnni.c, qconv_dwplane__avx512vbmi.c).
 * Bit-exact with fgq_qrequant_ref.
 */
#ifndef FGQ_QREQUANT_AVX512_H
#define FGQ_QREQUANT_AVX512_H

#include "qgemm_dispatch.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define FGQ_AVX512_FN __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))

#define FGQ_AVX512_INLINE static inline __attribute__((always_inline, target("avx2,fma,avx512f,avx512bw,avx512vl")))

typedef struct {
    __m512i bias, mult, nudge, imax, npos, two31, lo, hi, zyv;
    __m512i nz, qlo, qhi, pick; /* the folded forms: rounding constant with z_y in it; qmin, qmax; lane order */
    __m128i qcount; /* 31 + r */
} rq_consts;

/* The forms of the step (a constant at each call site):
 *   RQ_PLAIN, RQ_ROUND          no int32 saturation; without / with a right shift r >= 1
 *   RQ_SAT_PLAIN, RQ_SAT_ROUND  the same with sat32(bias + dot): any channel
 *   RQ_F0, RQ_FR, RQ_FRN        "folded" (rq_channel_consts says when): z_y is added inside the
 *                               rounding, (p + N + z_y·2^(31+r)) >> (31 + r) = the shifted value
 *                               + z_y exactly, the odd and even lanes merged by one vpermt2d and
 *                               clamped to [qmin, qmax]; RQ_F0 without a right shift, RQ_FR with
 *                               one, RQ_FRN with one where qmin >= z_y, which needs no correction
 *                               for p < 0 (below). */
enum { RQ_PLAIN = 0, RQ_ROUND = 1, RQ_SAT_PLAIN = 2, RQ_SAT_ROUND = 3, RQ_F0 = 4, RQ_FR = 5, RQ_FRN = 6 };

/* One step: 16 dot products to the clamped outputs, z_y added, in int32 lanes. */
FGQ_AVX512_INLINE __m512i rq_step(int mode, const rq_consts *k, __m512i d)
{
    const __m512i zero = _mm512_setzero_si512();
    __m512i acc = _mm512_add_epi32(d, k->bias);
    if (mode >= RQ_F0) {
        __m512i ev = _mm512_mul_epi32(acc, k->mult), od = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), k->mult);
        if (mode == RQ_F0) {
            ev = _mm512_srai_epi64(_mm512_add_epi64(ev, k->nz), 31);
            od = _mm512_srai_epi64(_mm512_add_epi64(od, k->nz), 31);
        } else {
            if (mode == RQ_FR) {
                const __mmask8 ne = _mm512_cmplt_epi64_mask(ev, zero), no = _mm512_cmplt_epi64_mask(od, zero);
                ev = _mm512_mask_sub_epi64(_mm512_add_epi64(ev, k->nz), ne, _mm512_add_epi64(ev, k->nz), k->two31);
                od = _mm512_mask_sub_epi64(_mm512_add_epi64(od, k->nz), no, _mm512_add_epi64(od, k->nz), k->two31);
            } else {
                ev = _mm512_add_epi64(ev, k->nz);
                od = _mm512_add_epi64(od, k->nz);
            }
            ev = _mm512_sra_epi64(ev, k->qcount);
            od = _mm512_sra_epi64(od, k->qcount);
        }
        const __m512i s = _mm512_permutex2var_epi32(ev, k->pick, od); /* the low halves, in order */
        return _mm512_min_epi32(_mm512_max_epi32(s, k->qlo), k->qhi);
    }
    const int sat = (mode & 2) != 0, round = (mode & 1) != 0;
    if (sat) { /* sat32(bias + dot) */
        const __mmask16 ovf =
            _mm512_cmplt_epi32_mask(_mm512_andnot_si512(_mm512_xor_si512(d, k->bias), _mm512_xor_si512(d, acc)), zero);
        acc = _mm512_mask_blend_epi32(ovf, acc, _mm512_xor_si512(k->imax, _mm512_srai_epi32(d, 31)));
    }
    __m512i s;
    if (!round) { /* srdhm: floor((acc·mult + 2^30) / 2^31) on the even lanes, then the odd ones */
        const __m512i ev = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(acc, k->mult), k->nudge), 31);
        const __m512i od =
            _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), k->mult), k->nudge), 31);
        s = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, _mm512_slli_epi64(od, 32));
    } else { /* srdhm and the rounding right shift by r in one: (p + N) >> (31 + r), p = acc·mult,
              * N = 2^30 + 2^(30+r), less 2^31 where p < 0 (rq_channel_consts says why) */
        __m512i ev = _mm512_mul_epi32(acc, k->mult), od = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), k->mult);
        const __mmask8 ne = _mm512_cmplt_epi64_mask(ev, zero), no = _mm512_cmplt_epi64_mask(od, zero);
        ev = _mm512_add_epi64(ev, k->npos);
        od = _mm512_add_epi64(od, k->npos);
        ev = _mm512_sra_epi64(_mm512_mask_sub_epi64(ev, ne, ev, k->two31), k->qcount);
        od = _mm512_sra_epi64(_mm512_mask_sub_epi64(od, no, od, k->two31), k->qcount);
        s = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ev, _mm512_slli_epi64(od, 32));
    }
    return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(s, k->lo), k->hi), k->zyv);
}

/* The loop, with `mode` (RQ_*) a constant: each call site is a copy without the steps it does
 * not need. */
FGQ_AVX512_INLINE void rq_loop(int mode, const rq_consts *k, const int32_t *dot, int64_t n, uint8_t *yb)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __m512i v = rq_step(mode, k, _mm512_maskz_loadu_epi32(live, dot + i));
        /* the clamped values are in the byte's range, u8 or s8: vpmovdb keeps their low byte */
        _mm512_mask_cvtepi32_storeu_epi8(yb + i, live, v);
    }
}

/* Channel c's constants (its shift <= 0) and the form its step takes (RQ_*): the saturating one
 * unless |bias| < 2^30 and every dot of the layer is below 2^30 (|dot| <= k·|code|·|x − z_x|·M
 * with code = the format's largest |code|, |x − z_x| <= 255); a folded one where, more, the dot
 * bound is below 2^29 and r <= 23, else the saturating one again (any channel; rare). Folded:
 * |acc| < 2^30 + 2^29, so |p| < 1.5·2^61 and p + N + z_y·2^(31+r) (|z_y| <= 255, 31 + r <= 54:
 * below 2^62) stays inside int64, and the result, within 1.5·2^30 + 256 of 0, is its low 32
 * bits. Where qmin >= z_y (the lower clamp at or above the zero point: ReLU-style outputs), a
 * p < 0 gives a value <= z_y with or without the 2^31 correction (below: without it, (p + N) >> (31 + r) <= 0 since
 * p + N < 2^(31+r)), and both clamp to qmin: RQ_FRN drops the correction.
 * With a right shift r >= 1 the two roundings are one: srdhm is s = floor((p + 2^30) / 2^31)
 * (p = acc·mult, mult >= 0), and rounding s / 2^r half away from zero is floor((s + h) / 2^r)
 * for s >= 0 and floor((s + h − 1) / 2^r) for s < 0 (h = 2^(r−1): the mask-and-compare form's
 * (s >> r) + ((s & (2^r − 1)) > h − 1 + (s < 0))). Since floor((floor(A / B) + c) / C) =
 * floor((A + c·B) / (B·C)) for integers A, c and B, C >= 1, that is (p + 2^30 + 2^(30+r)) >>
 * (31 + r), less 2^31 inside where s < 0. The sign of p picks the form: s < 0 means p < −2^30;
 * for −2^30 <= p < 0, s = 0 and both forms give 0. |p| < 2^62 and the constants below 2^62:
 * no 64-bit overflow. */
/* The constants every channel of a call shares in the folded forms. */
FGQ_AVX512_INLINE void rq_fold_shared(int32_t qmin, int32_t qmax, rq_consts *k)
{
    k->two31 = _mm512_set1_epi64(1ll << 31);
    k->qlo = _mm512_set1_epi32(qmin);
    k->qhi = _mm512_set1_epi32(qmax);
    k->pick = _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
}

/* A layer's bound on |dot| (k·code·255·mmax); its channels fold where it is below 2^29 (the
 * comment above). */
FGQ_AVX512_INLINE int64_t rq_layer_bound(const fgq_qweights *qw, int64_t code)
{
    return qw->k * code * 255 * (int64_t)qw->mmax;
}

/* One channel's folded form (bias b, multiplier mult, right shift `right`; a left shift where
 * it is negative): sets k's bias, mult, nz (and qcount) and returns RQ_F0, RQ_FR or RQ_FRN; -1
 * where it does not apply (the layer's dot bound `bound` not below 2^29, |b| >= 2^30, r > 23).
 * The shared constants are rq_fold_shared's.
 * A left shift L = −right (a real multiplier >= 1: first layers, whose input step is coarse)
 * folds where |b| + bound < 2^(30−L): the reference's sat32(b + dot) and acc·2^L are then
 * exact, and srdhm(acc·2^L, mult) = floor((p·2^L + 2^30) / 2^31) = floor((p + 2^(30−L)) /
 * 2^(31−L)), p = acc·mult: RQ_FRN's step with N = 2^(30−L) and a shift by 31 − L, z_y·2^(31−L)
 * inside the rounding constant (|p| < 2^(61−L): no 64-bit overflow). The bound is 2^(30−L), not
 * the 2^(31−L) no saturation needs, so that the value, below 2^30 in magnitude, plus z_y stays
 * inside int32: the merge keeps each lane's low 32 bits, and a sum past int32 clamped to the
 * wrong end (a bias near 2^(31−L) − bound, the largest multiplier, z_y 200: 0 for 255). */
FGQ_AVX512_INLINE int rq_fold_channel(int64_t bound, int32_t b, int32_t mult, int32_t right, int32_t zy, int32_t qmin,
                                      rq_consts *k)
{
    if (right < 0) {
        const int32_t left = -right;
        const int64_t ab = b < 0 ? -(int64_t)b : b;
        if (!(bound < (1ll << 29) && left <= 29 && ab + bound < (1ll << (30 - left))))
            return -1;
        k->bias = _mm512_set1_epi32(b);
        k->mult = _mm512_set1_epi32(mult);
        k->nz = _mm512_set1_epi64((1ll << (30 - left)) + (int64_t)zy * (1ll << (31 - left)));
        k->qcount = _mm_cvtsi32_si128(31 - left);
        return RQ_FRN;
    }
    if (!(bound < (1ll << 29) && b > -(1 << 30) && b < (1 << 30) && right <= 23))
        return -1;
    k->bias = _mm512_set1_epi32(b);
    k->mult = _mm512_set1_epi32(mult);
    if (right == 0) {
        k->nz = _mm512_set1_epi64((1ll << 30) + (int64_t)zy * (1ll << 31));
        return RQ_F0;
    }
    k->nz = _mm512_set1_epi64((1ll << 30) + (1ll << (30 + right)) + (int64_t)zy * (1ll << (31 + right)));
    k->qcount = _mm_cvtsi32_si128(31 + right);
    return qmin >= zy ? RQ_FRN : RQ_FR;
}

/* Channel c's constants and form; its shift must be <= 0 (the callers decline or take the AVX2
 * stage for a left shift: the general forms here have no left shift, and it is clamped to 0). */
FGQ_AVX512_INLINE int rq_channel_consts(const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin, int32_t qmax,
                                        int64_t code, rq_consts *k)
{
    const int32_t right = qw->req[2 * c + 1] > 0 ? 0 : -qw->req[2 * c + 1], b = qw->bias != NULL ? qw->bias[c] : 0;
    k->bias = _mm512_set1_epi32(b);
    k->mult = _mm512_set1_epi32(qw->req[2 * c]);
    k->nudge = _mm512_set1_epi64(1ll << 30);
    k->imax = _mm512_set1_epi32(INT32_MAX);
    k->npos = _mm512_set1_epi64((1ll << 30) + (1ll << (30 + right)));
    k->qcount = _mm_cvtsi32_si128(31 + right);
    k->lo = _mm512_set1_epi32(qmin - zy);
    k->hi = _mm512_set1_epi32(qmax - zy);
    k->zyv = _mm512_set1_epi32(zy);
    rq_fold_shared(qmin, qmax, k);
    const int m = rq_fold_channel(rq_layer_bound(qw, code), b, qw->req[2 * c], right, zy, qmin, k);
    return m >= 0 ? m : right > 0 ? RQ_SAT_ROUND : RQ_SAT_PLAIN;
}

/* The loop copy of each form, by a run-time mode. */
FGQ_AVX512_INLINE void rq_loop_mode(int mode, const rq_consts *k, const int32_t *dot, int64_t n, uint8_t *yb)
{
    switch (mode) {
    case RQ_F0: rq_loop(RQ_F0, k, dot, n, yb); break;
    case RQ_FR: rq_loop(RQ_FR, k, dot, n, yb); break;
    case RQ_FRN: rq_loop(RQ_FRN, k, dot, n, yb); break;
    case RQ_SAT_ROUND: rq_loop(RQ_SAT_ROUND, k, dot, n, yb); break;
    default: rq_loop(RQ_SAT_PLAIN, k, dot, n, yb); break;
    }
}

/* One channel's run (shift <= 0): its constants, then the loop copy it needs. */
FGQ_AVX512_INLINE void rq_channel(const fgq_qweights *qw, int64_t c, const int32_t *dot, int64_t n, int32_t zy,
                                  int32_t qmin, int32_t qmax, uint8_t *yb, int64_t code)
{
    rq_consts k;
    rq_loop_mode(rq_channel_consts(qw, c, zy, qmin, qmax, code, &k), &k, dot, n, yb);
}

#endif /* x86 */
#endif
