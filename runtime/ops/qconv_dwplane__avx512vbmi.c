/*
 * qconv_dwplane__avx512vbmi.c — QCONV's depthwise plane form on AVX-512 VBMI + VNNI: one
 * channel's 2-D output plane straight from its input plane, the output stage in registers:
 *   y[oh][ow] = out(Σ_{kh,kw} e[kh·KW + kw]·(x[oh·sh − pt + kh][ow·sw − pl + kw] − z_x))
 * with taps outside X adding 0 (the padding holds z_x). No padded copy of the input, no phase
 * planes for strides > 1, no accumulator plane and no copy of the outputs: the phase form
 * (qconv.c, qconv_dw_phases) spent ~20 % of MobileNetV2 s8 in those (perf, one thread).
 *
 * Per output row and each of its tap rows kh inside X, one 64-byte load at column
 * ow0·sw − pl, the bytes outside the row (left or right padding) filled with z_x by the
 * load's mask; vpermb gathers each output's window of 4 taps (lane j: bytes j·sw + 4g .. +3
 * for the taps 4g .. 4g + 3 of the row) and one vpdpbusd adds the 4 products (weights zero
 * past KW). NO outputs a step: 32 (two accumulators) where (32 − 1)·sw + 4·G <= 64 bytes
 * (G windows a row: stride 1 up to KW = 32), else 16. Tap rows outside X add nothing, and
 * their weights leave the row's offset.
 * Exact as the phase form's VBMI row (qconv_dwtaps__avx512vnni.c): x u8 as it is, s8 flipped
 * to x + 128 (z_x + 128), Σ e·x' − z_x'·Σe over the rows inside X in int32 lanes that wrap,
 * congruent to the reference's sum mod 2^32, which fits int32 (quantized-ops.md §3.5); the
 * output stage is rq_step's, bit-exact with fgq_qrequant_ref.
 * Takes: dilation 1, every e in int8 (s8 per channel: e = code), the channel's shift <= 0,
 * KH <= DWP_MAX_KH, G <= DWP_MAX_G and (16 − 1)·sw + 4·G <= 64; else returns 0 having
 * written nothing (the caller takes the phase form).
 * Reference twin: fgq_qconv_dwplane_ref (qgemm_dispatch.c), tested in
 * tests/test_qconv_kernels.c on random and edge shapes.
 */
#include "qgemm_avx512vnni.h"
#include "qrequant_avx512.h"

#if defined(__x86_64__) || defined(__i386__)

#define FGQ_DWP_TARGET FGQ_VNNI_TARGET ",avx512vbmi"
#define FGQ_DWP_FN __attribute__((target(FGQ_DWP_TARGET)))
#define FGQ_DWP_INLINE static inline __attribute__((always_inline, target(FGQ_DWP_TARGET)))

enum { DWP_MAX_KH = 16, DWP_MAX_G = 4 };

/* Weights as packed int32 (broadcast where used: a load each, no ALU work), so that the frame
 * stays within check_freestanding's 2 KB stack limit (as vectors they took 4 KB). */
typedef struct {
    int32_t w[DWP_MAX_KH][DWP_MAX_G]; /* row kh's window g: its 4 weights, byte t for tap 4g + t, 0 past KW */
    __m512i idx[2][DWP_MAX_G];        /* window g's byte gather for outputs 0-15 and 16-31 */
    int32_t rowsum[DWP_MAX_KH];       /* Σ_kw e of row kh */
    int32_t G;
} dwp_taps;

/* Bytes [lo, hi) of 64 (0 when hi <= lo). */
FGQ_DWP_INLINE __mmask64 dwp_span(int64_t lo, int64_t hi)
{
    lo = lo > 0 ? lo : 0;
    hi = hi < 64 ? hi : 64;
    if (hi <= lo)
        return 0;
    const __mmask64 upto = hi == 64 ? ~(__mmask64)0 : (((__mmask64)1 << hi) - 1);
    return upto & ~(((__mmask64)1 << lo) - 1);
}

/* One output row, NO (16 or 32) outputs a step; `mode` the output stage's form (RQ_*). */
FGQ_DWP_INLINE void dwp_row(int mode, int two, int32_t G, const dwp_taps *q, const rq_consts *k, const uint8_t *x,
                            const fgq_qconv_dwplane_geom *g, int64_t oh, __m512i fill, __m512i flip, uint32_t zxp,
                            uint8_t *yr)
{
    const int64_t no = two ? 32 : 16;
    const int64_t ih0 = oh * g->sh - g->pt;
    const int64_t kh0 = ih0 < 0 ? -ih0 : 0, kh1 = g->IH - ih0 < g->KH ? g->IH - ih0 : g->KH;
    uint32_t esum = 0;
    for (int64_t kh = kh0; kh < kh1; kh++)
        esum += (uint32_t)q->rowsum[kh];
    const __m512i off = _mm512_set1_epi32((int32_t)(0u - zxp * esum)); /* wrapping */
    for (int64_t ow0 = 0; ow0 < g->OW; ow0 += no) {
        const int64_t base = ow0 * g->sw - g->pl;
        /* the bytes inside X's row; the rest take z_x (the padding) */
        const __mmask64 m = dwp_span(-base, g->IW - base);
        __m512i a0 = off, a1 = off;
        for (int64_t kh = kh0; kh < kh1; kh++) {
            /* the address as an integer: base may be left of the row (those bytes are masked) */
            const uint8_t *src = (const uint8_t *)((uintptr_t)(x + (ih0 + kh) * g->IW) + (uintptr_t)base);
            /* inside the row (most steps): a plain load, one uop where the merging load takes two */
            const __m512i raw = m == ~(__mmask64)0 ? _mm512_loadu_si512((const void *)src) : _mm512_mask_loadu_epi8(fill, m, src);
            const __m512i v = _mm512_xor_si512(raw, flip);
            for (int32_t gi = 0; gi < G; gi++) {
                const __m512i wv = _mm512_set1_epi32(q->w[kh][gi]);
                a0 = _mm512_dpbusd_epi32(a0, _mm512_permutexvar_epi8(q->idx[0][gi], v), wv);
                if (two)
                    a1 = _mm512_dpbusd_epi32(a1, _mm512_permutexvar_epi8(q->idx[1][gi], v), wv);
            }
        }
        const int64_t left = g->OW - ow0;
        if (left >= no) {
            _mm_storeu_si128((__m128i *)(void *)(yr + ow0), _mm512_cvtepi32_epi8(rq_step(mode, k, a0)));
            if (two)
                _mm_storeu_si128((__m128i *)(void *)(yr + ow0 + 16), _mm512_cvtepi32_epi8(rq_step(mode, k, a1)));
        } else {
            const __mmask32 sm = (__mmask32)((1ull << left) - 1);
            _mm512_mask_cvtepi32_storeu_epi8(yr + ow0, (__mmask16)(sm & 0xFFFF), rq_step(mode, k, a0));
            if (two && left > 16)
                _mm512_mask_cvtepi32_storeu_epi8(yr + ow0 + 16, (__mmask16)(sm >> 16), rq_step(mode, k, a1));
        }
    }
}

/* G a constant where it is 1 (kernels up to 4 wide) or 2 (5 to 8): the window loop unrolled. */
FGQ_DWP_INLINE void dwp_plane(int mode, int two, const dwp_taps *q, const rq_consts *k, const uint8_t *x,
                              const fgq_qconv_dwplane_geom *g, __m512i fill, __m512i flip, uint32_t zxp, uint8_t *y)
{
    for (int64_t oh = 0; oh < g->OH; oh++)
        if (q->G == 1)
            dwp_row(mode, two, 1, q, k, x, g, oh, fill, flip, zxp, y + oh * g->OW);
        else if (q->G == 2)
            dwp_row(mode, two, 2, q, k, x, g, oh, fill, flip, zxp, y + oh * g->OW);
        else
            dwp_row(mode, two, q->G, q, k, x, g, oh, fill, flip, zxp, y + oh * g->OW);
}

FGQ_DWP_INLINE void dwp_modes(int mode, int two, const dwp_taps *q, const rq_consts *k, const uint8_t *x,
                              const fgq_qconv_dwplane_geom *g, __m512i fill, __m512i flip, uint32_t zxp, uint8_t *y)
{
    switch (mode) {
    case RQ_F0: dwp_plane(RQ_F0, two, q, k, x, g, fill, flip, zxp, y); break;
    case RQ_FR: dwp_plane(RQ_FR, two, q, k, x, g, fill, flip, zxp, y); break;
    case RQ_FRN: dwp_plane(RQ_FRN, two, q, k, x, g, fill, flip, zxp, y); break;
    case RQ_SAT_ROUND: dwp_plane(RQ_SAT_ROUND, two, q, k, x, g, fill, flip, zxp, y); break;
    default: dwp_plane(RQ_SAT_PLAIN, two, q, k, x, g, fill, flip, zxp, y); break;
    }
}

FGQ_DWP_FN int fgq_qconv_dwplane__avx512vbmi(uint8_t *y, const uint8_t *x, const fgq_qconv_dwplane_geom *g,
                                             const int32_t *e, int32_t zx, int x_s8, const fgq_qweights *qw,
                                             int64_t c, int32_t zy, int32_t qmin, int32_t qmax, int y_s8)
{
    (void)y_s8; /* the clamped values are in the byte's range, u8 or s8: vpmovdb keeps their low byte */
    const int64_t KH = g->KH, KW = g->KW, sw = g->sw;
    const int32_t G = (int32_t)((KW + 3) / 4);
    if (g->dh != 1 || g->dw != 1 || KH < 1 || KH > DWP_MAX_KH || KW < 1 || G > DWP_MAX_G || sw < 1 ||
        15 * sw + 4 * G > 64 || qw->req[2 * c + 1] > 0)
        return 0;
    for (int64_t t = 0; t < KH * KW; t++)
        if (e[t] < INT8_MIN || e[t] > INT8_MAX)
            return 0;
    dwp_taps q;
    q.G = G;
    for (int64_t kh = 0; kh < KH; kh++) {
        uint32_t s = 0;
        for (int32_t gi = 0; gi < G; gi++) {
            uint32_t packed = 0;
            for (int32_t t = 0; t < 4 && 4 * gi + t < KW; t++)
                packed |= (uint32_t)(uint8_t)(int8_t)e[kh * KW + 4 * gi + t] << (8 * t);
            q.w[kh][gi] = (int32_t)packed;
        }
        for (int64_t kw = 0; kw < KW; kw++)
            s += (uint32_t)e[kh * KW + kw];
        q.rowsum[kh] = (int32_t)s;
    }
    const int two = 31 * sw + 4 * G <= 64;
    for (int32_t h = 0; h < 2; h++)
        for (int32_t gi = 0; gi < G; gi++) {
            uint8_t b[64];
            for (int32_t j = 0; j < 16; j++)
                for (int32_t t = 0; t < 4; t++) /* < 64: two, or the 16-output bound above */
                    b[4 * j + t] = (uint8_t)(((16 * h + j) * sw + 4 * gi + t) & 63);
            q.idx[h][gi] = _mm512_loadu_si512((const void *)b);
        }
    const uint32_t zxp = (uint32_t)(x_s8 ? zx + 128 : zx);
    const __m512i fill = _mm512_set1_epi8((char)(uint8_t)zx), flip = _mm512_set1_epi8(x_s8 ? (char)0x80 : 0);
    rq_consts k;
    const int mode = rq_channel_consts(qw, c, zy, qmin, qmax, fgq_qw_code_max(qw->dtype), &k);
    if (two)
        dwp_modes(mode, 1, &q, &k, x, g, fill, flip, zxp, y);
    else
        dwp_modes(mode, 0, &q, &k, x, g, fill, flip, zxp, y);
    return 1;
}

#endif /* x86 */
