/*
 * qconv_dwtaps__avx512vnni.c — QCONV's depthwise phase form (qconv.c), every tap at once, on
 * AVX-512 VNNI:
 *   acc[i] = Σ_t e[t]·(src[t][i] − z_x),  i < n
 * Taps go in pairs: the two taps' inputs, widened to int16, are interleaved
 * (x_t[i], x_t+1[i]) and one vpdpwssd adds e[t]·x_t[i] + e[t+1]·x_t+1[i] to 16 int32 lanes, so
 * a pair of taps over 32 outputs is 2 widening loads, 2 unpacks and 2 dot products (the AVX2
 * form, qconv_dwtaps__avx2.c, takes 6 instructions for one tap over 16). The unpacks work
 * within 128-bit lanes: the two accumulators hold outputs {0-3, 8-11, 16-19, 24-27} and
 * {4-7, ...}, put back in order by two vpermt2d at the store. The tail is the same loop under
 * byte and lane masks (no scalar remainder).
 * Exactness: |e| <= 255·128 (M <= 255, |code| <= 128) fits int16, |x| <= 255, so each pair's
 * sum (<= 2·255·32768) is exact in int32; the lanes then wrap, as Σ_t e[t]·x_t − z_x·Σ_t e[t]
 * does in the AVX2 form: congruent to the reference's sum mod 2^32, which fits int32 (the K
 * bound of quantized-ops.md §3.5), so the results are the reference's. A weight outside int16
 * (no valid file has one) takes the AVX2 form.
 * Reference twin: fgq_qconv_dwtaps_ref (qgemm_dispatch.c), tested in
 * tests/test_qconv_kernels.c with every row of the depthwise table.
 */
#include "qgemm_avx512vnni.h"
#include "qrequant_avx512.h"

#if defined(__x86_64__) || defined(__i386__)

enum { DWT_MAX_PAIRS = 32 };

typedef struct {
    const uint8_t *ps[2 * DWT_MAX_PAIRS]; /* the pairs' sources */
    int32_t w[DWT_MAX_PAIRS];             /* (e[2p] low, e[2p+1] high) as int16 */
    int32_t np;
    __m512i off, idx0, idx1; /* −z_x·Σe; the output order of the two accumulators */
} dwt_pairs;

/* The pairs of taps, an odd last tap paired with itself at weight 0; 0 when a weight is outside
 * int16 or there are more than 2·DWT_MAX_PAIRS taps (the caller then takes the AVX2 form). */
FGQ_VNNI_INLINE int dwt_pairs_make(const uint8_t *const *src, const int32_t *e, int32_t nt, int32_t zx, dwt_pairs *q)
{
    if (nt > 2 * DWT_MAX_PAIRS)
        return 0;
    uint32_t esum = 0;
    for (int32_t t = 0; t < nt; t++) {
        if (e[t] < INT16_MIN || e[t] > INT16_MAX)
            return 0;
        esum += (uint32_t)e[t];
    }
    q->np = (nt + 1) / 2;
    for (int32_t p = 0; p < q->np; p++) {
        const int odd = 2 * p + 1 >= nt;
        const int32_t e1 = odd ? 0 : e[2 * p + 1];
        q->ps[2 * p] = src[2 * p];
        q->ps[2 * p + 1] = src[odd ? 2 * p : 2 * p + 1];
        q->w[p] = (int32_t)((uint32_t)(uint16_t)(int16_t)e[2 * p] | ((uint32_t)(uint16_t)(int16_t)e1 << 16));
    }
    q->off = _mm512_set1_epi32((int32_t)(0u - (uint32_t)zx * esum)); /* wrapping */
    /* output o of a block of 32 is in 128-bit lane L = (o mod 16) div 8 of its half: the low
     * accumulator's lane 4L + j for o mod 8 = j < 4, the high one's 4L + j − 4 for j >= 4 */
    q->idx0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    q->idx1 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    return 1;
}

FGQ_VNNI_INLINE __m512i dwt_widen(const uint8_t *p, __mmask32 m, int x_s8)
{
    const __m256i v = _mm256_maskz_loadu_epi8(m, p);
    return x_s8 ? _mm512_cvtepi8_epi16(v) : _mm512_cvtepu8_epi16(v);
}

/* The sums of outputs i .. i + 31 (inputs under byte mask m), in order: o0 the first 16. */
FGQ_VNNI_INLINE void dwt_sum(const dwt_pairs *q, int64_t i, __mmask32 m, int x_s8, __m512i *o0, __m512i *o1)
{
    __m512i a0 = q->off, a1 = q->off;
    for (int32_t p = 0; p < q->np; p++) {
        const __m512i x0 = dwt_widen(q->ps[2 * p] + i, m, x_s8), x1 = dwt_widen(q->ps[2 * p + 1] + i, m, x_s8);
        const __m512i wv = _mm512_set1_epi32(q->w[p]);
        a0 = _mm512_dpwssd_epi32(a0, _mm512_unpacklo_epi16(x0, x1), wv);
        a1 = _mm512_dpwssd_epi32(a1, _mm512_unpackhi_epi16(x0, x1), wv);
    }
    *o0 = _mm512_permutex2var_epi32(a0, q->idx0, a1);
    *o1 = _mm512_permutex2var_epi32(a0, q->idx1, a1);
}

FGQ_VNNI_FN void fgq_qconv_dwtaps__avx512vnni(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt,
                                              int64_t n, int32_t zx, int x_s8)
{
    dwt_pairs q;
    if (!dwt_pairs_make(src, e, nt, zx, &q)) {
        fgq_qconv_dwtaps__avx2(acc, src, e, nt, n, zx, x_s8);
        return;
    }
    __m512i o0, o1;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        dwt_sum(&q, i, 0xFFFFFFFFu, x_s8, &o0, &o1);
        _mm512_storeu_si512((void *)(acc + i), o0);
        _mm512_storeu_si512((void *)(acc + i + 16), o1);
    }
    if (i < n) {
        const __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        dwt_sum(&q, i, m, x_s8, &o0, &o1);
        _mm512_mask_storeu_epi32(acc + i, (__mmask16)(m & 0xFFFF), o0);
        _mm512_mask_storeu_epi32(acc + i + 16, (__mmask16)(m >> 16), o1);
    }
}

/* The run with the output stage in registers, `sat` and `round` constants at each call. */
FGQ_VNNI_INLINE void dwt_run_q(int mode, const dwt_pairs *q, const rq_consts *k, int64_t n, int x_s8,
                               uint8_t *y)
{
    __m512i o0, o1;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        dwt_sum(q, i, 0xFFFFFFFFu, x_s8, &o0, &o1);
        /* the clamped values are in the byte's range, u8 or s8: vpmovdb keeps their low byte */
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(rq_step(mode, k, o0)));
        _mm_storeu_si128((__m128i *)(void *)(y + i + 16), _mm512_cvtepi32_epi8(rq_step(mode, k, o1)));
    }
    if (i < n) {
        const __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        dwt_sum(q, i, m, x_s8, &o0, &o1);
        _mm512_mask_cvtepi32_storeu_epi8(y + i, (__mmask16)(m & 0xFFFF), rq_step(mode, k, o0));
        _mm512_mask_cvtepi32_storeu_epi8(y + i + 16, (__mmask16)(m >> 16), rq_step(mode, k, o1));
    }
}

FGQ_VNNI_FN int fgq_qconv_dwtaps_q__avx512vnni(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt,
                                               int64_t n, int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c,
                                               int32_t zy, int32_t qmin, int32_t qmax, int y_s8)
{
    (void)y_s8;
    dwt_pairs q;
    if (qw->req[2 * c + 1] > 0 || !dwt_pairs_make(src, e, nt, zx, &q))
        return 0;
    rq_consts k;
    switch (rq_channel_consts(qw, c, zy, qmin, qmax, fgq_qw_code_max(qw->dtype), &k)) {
    case RQ_F0: dwt_run_q(RQ_F0, &q, &k, n, x_s8, y); break;
    case RQ_FR: dwt_run_q(RQ_FR, &q, &k, n, x_s8, y); break;
    case RQ_FRN: dwt_run_q(RQ_FRN, &q, &k, n, x_s8, y); break;
    case RQ_SAT_ROUND: dwt_run_q(RQ_SAT_ROUND, &q, &k, n, x_s8, y); break;
    default: dwt_run_q(RQ_SAT_PLAIN, &q, &k, n, x_s8, y); break;
    }
    return 1;
}

/* ---- AVX-512 VBMI: taps in windows of 4 ------------------------------------------------
 * Where every effective weight fits int8 (s8 per channel: e = code) the fused step takes
 * runs of up to 4 taps reading consecutive bytes (a row's taps kw, kw + 1, ... in one phase
 * plane) as one vpdpbusd: output i's 4 bytes x[i], x[i+1], x[i+2], x[i+3] are a sliding window
 * of one load, gathered into its lane by vpermb, times the 4 weights (zero past the run).
 * A 3 × 3 row is one instruction per 16 outputs instead of 1.5 pairs' 3; 5 × 5 rows two
 * instead of 3 pairs' 6. x u8 as it is, s8 flipped to x + 128 (z_x + 128 in the offset);
 * exact: u8 × s8 products fit vpdpbusd's int16 steps and the lanes wrap as above. */
#define FGQ_DWV_TARGET FGQ_VNNI_TARGET ",avx512vbmi"
#define FGQ_DWV_FN __attribute__((target(FGQ_DWV_TARGET)))
#define FGQ_DWV_INLINE static inline __attribute__((always_inline, target(FGQ_DWV_TARGET)))

enum { DWV_MAX_GROUPS = 64 };

/* The windows: lane j of the first 16 outputs takes bytes j .. j + 3 of the load, of the next
 * 16 bytes 16 + j .. 19 + j. */
#define DWV_W(j, o) (uint8_t)((o) + (j)), (uint8_t)((o) + (j) + 1), (uint8_t)((o) + (j) + 2), (uint8_t)((o) + (j) + 3)
#define DWV_ROW(o)                                                                                                     \
    DWV_W(0, o), DWV_W(1, o), DWV_W(2, o), DWV_W(3, o), DWV_W(4, o), DWV_W(5, o), DWV_W(6, o), DWV_W(7, o),           \
        DWV_W(8, o), DWV_W(9, o), DWV_W(10, o), DWV_W(11, o), DWV_W(12, o), DWV_W(13, o), DWV_W(14, o), DWV_W(15, o)
static const uint8_t dwv_idx[2][64] = { { DWV_ROW(0) }, { DWV_ROW(16) } };

typedef struct {
    const uint8_t *base[DWV_MAX_GROUPS]; /* the run's first tap's source */
    int32_t w[DWV_MAX_GROUPS];           /* its taps' weights, byte t for tap base + t, 0 past the run */
    int32_t width[DWV_MAX_GROUPS];       /* 1..4 taps */
    int32_t ng;
    __m512i off, flip, idx0, idx1; /* −z_x'·Σe; 0x80 for s8 inputs; the window gathers */
} dwv_groups;

/* 0 when a weight is outside int8 or there are more than DWV_MAX_GROUPS runs. */
FGQ_DWV_INLINE int dwv_make(const uint8_t *const *src, const int32_t *e, int32_t nt, int32_t zx, int x_s8,
                            dwv_groups *q)
{
    uint32_t esum = 0;
    for (int32_t t = 0; t < nt; t++) {
        if (e[t] < INT8_MIN || e[t] > INT8_MAX)
            return 0;
        esum += (uint32_t)e[t];
    }
    q->ng = 0;
    for (int32_t t = 0; t < nt;) {
        int32_t w = 1;
        /* adjacent bytes, compared as addresses (src[t] + w may point past its plane) */
        while (w < 4 && t + w < nt && (uintptr_t)src[t + w] == (uintptr_t)src[t] + (uintptr_t)w)
            w++;
        if (q->ng == DWV_MAX_GROUPS)
            return 0;
        uint32_t packed = 0;
        for (int32_t i = 0; i < w; i++)
            packed |= (uint32_t)(uint8_t)(int8_t)e[t + i] << (8 * i);
        q->base[q->ng] = src[t];
        q->w[q->ng] = (int32_t)packed;
        q->width[q->ng] = w;
        q->ng++;
        t += w;
    }
    const uint32_t zxp = (uint32_t)(x_s8 ? zx + 128 : zx);
    q->off = _mm512_set1_epi32((int32_t)(0u - zxp * esum));
    q->flip = _mm512_set1_epi8(x_s8 ? (char)0x80 : 0);
    q->idx0 = _mm512_loadu_si512((const void *)dwv_idx[0]);
    q->idx1 = _mm512_loadu_si512((const void *)dwv_idx[1]);
    return 1;
}

/* The run with the output stage in registers, 32 outputs a step (ni of them live). */
FGQ_DWV_INLINE void dwv_run_q(int mode, const dwv_groups *q, const rq_consts *k, int64_t n, uint8_t *y)
{
    for (int64_t i = 0; i < n; i += 32) {
        const int64_t ni = n - i < 32 ? n - i : 32;
        __m512i a0 = q->off, a1 = q->off;
        for (int32_t g = 0; g < q->ng; g++) {
            /* bytes [0, ni + width − 1): what the live outputs' taps read (the reference reads them) */
            const __mmask64 lm = ((__mmask64)1 << (ni + q->width[g] - 1)) - 1;
            const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(lm, q->base[g] + i), q->flip);
            const __m512i wv = _mm512_set1_epi32(q->w[g]);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_permutexvar_epi8(q->idx0, v), wv);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_permutexvar_epi8(q->idx1, v), wv);
        }
        if (ni == 32) {
            _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(rq_step(mode, k, a0)));
            _mm_storeu_si128((__m128i *)(void *)(y + i + 16), _mm512_cvtepi32_epi8(rq_step(mode, k, a1)));
        } else {
            const __mmask32 m = (__mmask32)((1ull << ni) - 1);
            _mm512_mask_cvtepi32_storeu_epi8(y + i, (__mmask16)(m & 0xFFFF), rq_step(mode, k, a0));
            _mm512_mask_cvtepi32_storeu_epi8(y + i + 16, (__mmask16)(m >> 16), rq_step(mode, k, a1));
        }
    }
}

FGQ_DWV_FN int fgq_qconv_dwtaps_q__avx512vbmi(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt,
                                              int64_t n, int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c,
                                              int32_t zy, int32_t qmin, int32_t qmax, int y_s8)
{
    dwv_groups q;
    if (qw->req[2 * c + 1] > 0 || !dwv_make(src, e, nt, zx, x_s8, &q))
        return fgq_qconv_dwtaps_q__avx512vnni(y, src, e, nt, n, zx, x_s8, qw, c, zy, qmin, qmax, y_s8);
    rq_consts k;
    switch (rq_channel_consts(qw, c, zy, qmin, qmax, fgq_qw_code_max(qw->dtype), &k)) {
    case RQ_F0: dwv_run_q(RQ_F0, &q, &k, n, y); break;
    case RQ_FR: dwv_run_q(RQ_FR, &q, &k, n, y); break;
    case RQ_FRN: dwv_run_q(RQ_FRN, &q, &k, n, y); break;
    case RQ_SAT_ROUND: dwv_run_q(RQ_SAT_ROUND, &q, &k, n, y); break;
    default: dwv_run_q(RQ_SAT_PLAIN, &q, &k, n, y); break;
    }
    return 1;
}

#endif /* x86 */
