/*
 * qconv_dwplane__avx512vbmi.c — QCONV's depthwise plane form on AVX-512 VBMI + VNNI: one
 * channel's 2-D output plane from its input plane, the output stage in registers:
 *   y[oh][ow] = out(Σ_{kh,kw} e[kh·KW + kw]·(x[oh·sh − pt + kh][ow·sw − pl + kw] − z_x))
 * with taps outside X adding 0 (the padding holds z_x). No phase planes for strides > 1, no
 * accumulator plane and no copy of the outputs: the phase form (qconv.c, qconv_dw_phases) spent
 * ~20 % of MobileNetV2 s8 in those (perf, one thread). vpermb gathers each output's window of
 * 4 taps of a kernel row and one vpdpbusd adds the 4 products (weights zero past KW); G =
 * ⌈KW / 4⌉ windows a row. Two forms:
 *  - the flat form (dwf_*, below): outputs in the plane's own order, 16 a step whatever the
 *    rows' width, from a copy of X between rows of z_x; taken where its copy and tables fit the
 *    scratch the caller gives (fgq_qconv_dwflat_layout);
 *  - by rows (dwp_*): per output row and each of its tap rows kh inside X, one 64-byte load
 *    straight from X at column ow0·sw − pl, the bytes outside the row (left or right padding)
 *    filled with z_x by the load's mask; lane j's window is bytes j·sw + 4g .. +3. 32 outputs
 *    a step (two accumulators) where (32 − 1)·sw + 4·G <= 64 bytes and a row has more than 16,
 *    else 16. Tap rows outside X add nothing, and their weights leave the row's offset.
 * Exact as the phase form's VBMI row (qconv_dwtaps__avx512vnni.c): x u8 as it is, s8 flipped
 * to x + 128 (z_x + 128), Σ e·x' − z_x'·Σe in int32 lanes that wrap, congruent to the
 * reference's sum mod 2^32, which fits int32 (quantized-ops.md §3.5); the output stage is
 * rq_step's, bit-exact with fgq_qrequant_ref.
 * What depends on the geometry alone — the gathers, the copy's frame and tables — is worked out
 * once for a layer's channels (fgq_qconv_dwplane_prep__avx512vbmi; the caller keeps it in its
 * scratch slice for the run, qconv.c); built per channel, the gathers were most of a small
 * plane's time (an 8 x 8 plane's 64 outputs took ~900 cycles, EfficientNet-Lite1 s8).
 * Takes: dilation 1, KH <= DWP_MAX_KH, G <= DWP_MAX_G and (16 − 1)·sw + 4·G <= 64 (else the
 * set-up returns 0), and per channel every e in int8 (s8 per channel: e = code) and a shift
 * <= 0 (else the plane returns 0 having written nothing; the caller takes the phase form).
 * Reference twin: fgq_qconv_dwplane_ref (qgemm_dispatch.c), tested in
 * tests/test_qconv_kernels.c on random and edge shapes, both forms.
 */
#include "qgemm_avx512vnni.h"
#include "qrequant_avx512.h"

#if defined(__x86_64__) || defined(__i386__)

#define FGQ_DWP_TARGET FGQ_VNNI_TARGET ",avx512vbmi"
#define FGQ_DWP_FN __attribute__((target(FGQ_DWP_TARGET)))
#define FGQ_DWP_INLINE static inline __attribute__((always_inline, target(FGQ_DWP_TARGET)))

enum { DWP_MAX_KH = 16, DWP_MAX_G = 4, DWF_FRONT = FGQ_DWFLAT_FRONT };
_Static_assert((int)FGQ_DWFLAT_MAX_KH <= (int)DWP_MAX_KH && (int)FGQ_DWFLAT_MAX_G <= (int)DWP_MAX_G,
               "the flat form's weights fit dwp_taps");

/* A channel's weights as packed int32 (broadcast where used: a load each, no ALU work). */
typedef struct {
    int32_t w[DWP_MAX_KH][DWP_MAX_G]; /* row kh's window g: its 4 weights, byte t for tap 4g + t, 0 past KW */
    int32_t rowsum[DWP_MAX_KH];       /* Σ_kw e of row kh */
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

FGQ_DWP_INLINE __m512i dwp_idx(const fgq_qconv_dwplane_prep *p, int h, int32_t w)
{
    return _mm512_loadu_si512((const void *)p->idx[h][w]);
}

/* One output row, NO (16 or 32) outputs a step; `mode` the output stage's form (RQ_*). */
FGQ_DWP_INLINE void dwp_row(int mode, int two, int32_t G, const dwp_taps *q, const fgq_qconv_dwplane_prep *p,
                            const rq_consts *k, const uint8_t *x, int64_t oh, __m512i fill, __m512i flip, uint32_t zxp,
                            uint8_t *yr)
{
    const fgq_qconv_dwplane_geom *g = &p->g;
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
                a0 = _mm512_dpbusd_epi32(a0, _mm512_permutexvar_epi8(dwp_idx(p, 0, gi), v), wv);
                if (two)
                    a1 = _mm512_dpbusd_epi32(a1, _mm512_permutexvar_epi8(dwp_idx(p, 1, gi), v), wv);
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

/* ---- the flat form ----------------------------------------------------------------------------
 * Outputs in the plane's own order, 16 a step whatever the rows' width (an 8 x 8 plane is 4 steps,
 * where rows take 8 of 16 lanes). The input plane is copied (s8 flipped) between rows of z_x' into
 * buf: B row r = X row r − pt, DWF_FRONT bytes of z_x' before row 0, so that for step p0 = (oh0,
 * ow0) and tap row kh one 64-byte load at B(oh0·sh + kh, ow0·sw − pl) holds every lane's window:
 * lane j of output (oh0, ow0) + j reads bytes rel_j + 4g .. +3, rel_j = (oh_j − oh0)·sh·IW +
 * (ow_j − ow0)·sw, a pattern that repeats every `period` steps (period = OW / gcd(16, OW)). The
 * window bytes whose column lies outside X's row take z_x' through the gather's merge mask (the
 * table's column mask), and the rows above and below X are z_x' in B, so every tap reads x' or z_x'
 * and one correction −z_x'·Σe serves every output. Taps past KW weigh 0. */

/* What every step of a plane reads, worked out once a plane (the outputs' stores may alias the
 * prep, so the steps would read its fields again): the copy's row 0, the tables, the row's bytes. */
typedef struct {
    const uint8_t *b, *gathers, *masks;
    const int32_t *start;
    int64_t IW;
} dwf_frame;

FGQ_DWP_INLINE dwf_frame dwf_frame_of(const fgq_qconv_dwplane_prep *p, int32_t G)
{
    const int64_t P = p->period;
    const dwf_frame f = {
        .b = p->buf + DWF_FRONT,
        .gathers = p->tab,
        .masks = p->tab + P * G * 64,
        .start = (const int32_t *)(const void *)(p->tab + P * G * 72),
        .IW = p->g.IW,
    };
    return f;
}

/* Step ph of the period's 16 sums, its load `base` bytes past the phase's start in the copy; KH
 * and G constants where the caller makes them so (the loops unrolled, the weights' broadcasts
 * hoisted). */
FGQ_DWP_INLINE __m512i dwf_dot(int32_t KH, int32_t G, const dwp_taps *q, const dwf_frame *f, int64_t ph, int64_t base,
                               __m512i off, __m512i fill)
{
    const uint8_t *gathers = f->gathers + ph * G * 64, *masks = f->masks + ph * G * 8;
    const int64_t IW = f->IW;
    /* the address as an integer: a step's load may start left of row 0 (the front's z_x') */
    const uint8_t *src = (const uint8_t *)((uintptr_t)f->b + (uintptr_t)(base + f->start[ph]));
    __m512i ix[DWP_MAX_G];
    __mmask64 cm[DWP_MAX_G];
    for (int32_t gi = 0; gi < G; gi++) {
        ix[gi] = _mm512_loadu_si512((const void *)(gathers + gi * 64));
        uint64_t m;
        memcpy(&m, masks + gi * 8, sizeof m);
        cm[gi] = (__mmask64)m;
    }
    __m512i a0 = off, a1 = _mm512_setzero_si512();
    for (int32_t kh = 0; kh < KH; kh++) {
        const __m512i v = _mm512_loadu_si512((const void *)(src + kh * IW));
        for (int32_t gi = 0; gi < G; gi++) {
            const __m512i t = _mm512_mask_permutexvar_epi8(fill, cm[gi], ix[gi], v);
            const __m512i wv = _mm512_set1_epi32(q->w[kh][gi]);
            if (kh & 1) /* two sums: half the dependency chain */
                a1 = _mm512_dpbusd_epi32(a1, t, wv);
            else
                a0 = _mm512_dpbusd_epi32(a0, t, wv);
        }
    }
    return _mm512_add_epi32(a0, a1);
}

/* The flat form: the plane, two steps (32 outputs, two independent sums) a turn, then a last
 * step of up to 16. */
FGQ_DWP_INLINE void dwf_plane(int mode, int32_t KH, int32_t G, const dwp_taps *q, const fgq_qconv_dwplane_prep *p,
                              const rq_consts *k, __m512i off, uint8_t *y)
{
    const fgq_qconv_dwplane_geom *g = &p->g;
    const int64_t n = g->OH * g->OW, P = p->period;
    const int64_t lap = 16 * P / g->OW * g->sh * g->IW; /* bytes a period of steps moves the loads on */
    const __m512i fill = _mm512_set1_epi8((char)(uint8_t)p->fill);
    const dwf_frame f = dwf_frame_of(p, G);
    int64_t ph = 0, base = 0, p0 = 0;
    for (; p0 + 32 <= n; p0 += 32) {
        const int64_t ph2 = ph + 1 == P ? 0 : ph + 1, base2 = ph2 == 0 ? base + lap : base;
        const __m512i d0 = dwf_dot(KH, G, q, &f, ph, base, off, fill);
        const __m512i d1 = dwf_dot(KH, G, q, &f, ph2, base2, off, fill);
        const __m128i y0 = _mm512_cvtepi32_epi8(rq_step(mode, k, d0)), y1 = _mm512_cvtepi32_epi8(rq_step(mode, k, d1));
        _mm256_storeu_si256((__m256i *)(void *)(y + p0), _mm256_inserti128_si256(_mm256_castsi128_si256(y0), y1, 1));
        ph = ph2 + 1 == P ? 0 : ph2 + 1;
        base = ph == 0 ? base2 + lap : base2;
    }
    for (; p0 < n; p0 += 16) {
        const __m512i r = rq_step(mode, k, dwf_dot(KH, G, q, &f, ph, base, off, fill));
        if (n - p0 >= 16)
            _mm_storeu_si128((__m128i *)(void *)(y + p0), _mm512_cvtepi32_epi8(r));
        else
            _mm512_mask_cvtepi32_storeu_epi8(y + p0, (__mmask16)((1u << (n - p0)) - 1), r);
        ph = ph + 1 == P ? 0 : ph + 1;
        base = ph == 0 ? base + lap : base;
    }
}

/* A step's 16 outputs, or the lanes `last` of a row's last step. */
FGQ_DWP_INLINE void dwr_store(int whole, __mmask16 last, uint8_t *y, __m512i v)
{
    if (whole)
        _mm_storeu_si128((__m128i *)(void *)y, _mm512_cvtepi32_epi8(v));
    else
        _mm512_mask_cvtepi32_storeu_epi8(y, last, v);
}

/* The row-aligned form: each output row in steps of 16 (the last one masked), two steps a turn
 * (across rows where a row has one). */
FGQ_DWP_INLINE void dwr_plane(int mode, int32_t KH, int32_t G, const dwp_taps *q, const fgq_qconv_dwplane_prep *p,
                              const rq_consts *k, __m512i off, uint8_t *y)
{
    const fgq_qconv_dwplane_geom *g = &p->g;
    const int64_t OW = g->OW, R = p->period, steps = g->OH * R, lap = g->sh * g->IW;
    const __m512i fill = _mm512_set1_epi8((char)(uint8_t)p->fill);
    const dwf_frame f = dwf_frame_of(p, G);
    const __mmask16 last = (__mmask16)((1u << (OW - 16 * (R - 1))) - 1); /* the lanes of a row's last step */
    int64_t ph = 0, base = 0, yo = 0, s = 0; /* step s: phase ph of the row at base (bytes) and yo (outputs) */
    for (; s + 2 <= steps; s += 2) {
        const int64_t ph2 = ph + 1 == R ? 0 : ph + 1, base2 = ph2 == 0 ? base + lap : base,
                      yo2 = ph2 == 0 ? yo + OW : yo;
        const __m512i d0 = dwf_dot(KH, G, q, &f, ph, base, off, fill);
        const __m512i d1 = dwf_dot(KH, G, q, &f, ph2, base2, off, fill);
        const __m512i r0 = rq_step(mode, k, d0), r1 = rq_step(mode, k, d1);
        dwr_store(ph + 1 < R, last, y + yo + 16 * ph, r0);
        dwr_store(ph2 + 1 < R, last, y + yo2 + 16 * ph2, r1);
        ph = ph2 + 1 == R ? 0 : ph2 + 1;
        base = ph == 0 ? base2 + lap : base2;
        yo = ph == 0 ? yo2 + OW : yo2;
    }
    if (s < steps)
        dwr_store(ph + 1 < R, last, y + yo + 16 * ph, rq_step(mode, k, dwf_dot(KH, G, q, &f, ph, base, off, fill)));
}

/* The kernels of EfficientNet and MobileNet (3 x 3, 5 x 5) as constants, the rest by windows. */
FGQ_DWP_INLINE void dwf_windows(int mode, const dwp_taps *q, const fgq_qconv_dwplane_prep *p, const rq_consts *k,
                                __m512i off, uint8_t *y)
{
    const int64_t KH = p->g.KH, KW = p->g.KW;
    if (p->by_rows) {
        if (KH == 3 && KW == 3)
            dwr_plane(mode, 3, 1, q, p, k, off, y);
        else if (KH == 5 && KW == 5)
            dwr_plane(mode, 5, 2, q, p, k, off, y);
        else
            dwr_plane(mode, (int32_t)KH, p->windows, q, p, k, off, y);
    } else if (KH == 3 && KW == 3)
        dwf_plane(mode, 3, 1, q, p, k, off, y);
    else if (KH == 5 && KW == 5)
        dwf_plane(mode, 5, 2, q, p, k, off, y);
    else if (p->windows == 1)
        dwf_plane(mode, (int32_t)KH, 1, q, p, k, off, y);
    else if (p->windows == 2)
        dwf_plane(mode, (int32_t)KH, 2, q, p, k, off, y);
    else
        dwf_plane(mode, (int32_t)KH, p->windows, q, p, k, off, y);
}

/* X's plane into its rows of buf (s8 flipped to x + 128). */
FGQ_DWP_INLINE void dwf_copy(const fgq_qconv_dwplane_prep *p, const uint8_t *x)
{
    uint8_t *d = p->buf + DWF_FRONT + p->g.pt * p->g.IW;
    const int64_t n = p->copy_rows * p->g.IW;
    const __m512i flip = _mm512_set1_epi8(p->x_s8 ? (char)0x80 : 0);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512((void *)(d + i), _mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), flip));
    if (i < n) {
        const __mmask64 m = ((__mmask64)1 << (n - i)) - 1;
        _mm512_mask_storeu_epi8(d + i, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), flip));
    }
}

/* The copy forms' set-up: 0 (nothing taken) where the geometry or the scratch does not fit them.
 * Step ph of the period: flat, outputs (16·ph) / OW, (16·ph) mod OW on (lane j the j-th after);
 * row-aligned, columns 16·ph .. 16·ph + 15 of a row (lanes past OW unused). */
static int dwf_prep(fgq_qconv_dwplane_prep *p, const fgq_qconv_dwplane_geom *g, int32_t G, uint8_t *scratch,
                    int64_t bytes)
{
    const int64_t OW = g->OW, IW = g->IW, sw = g->sw, sh = g->sh, KW = g->KW;
    fgq_qconv_dwflat_shape lay;
    const int64_t need = fgq_qconv_dwflat_layout(g, &lay);
    if (need == 0 || scratch == NULL || need > bytes)
        return 0;
    const int64_t P = lay.period, bbytes = lay.copy_bytes;
    uint8_t *tab = scratch + bbytes;
    int32_t *start = (int32_t *)(void *)(tab + P * G * 72);
    for (int64_t ph = 0; ph < P; ph++) {
        int64_t ow0 = 0; /* the step's first output column: lane 0's */
        uint64_t m[DWP_MAX_G] = {0};
        for (int64_t j = 0; j < 16; j++) {
            int64_t owj, rel; /* lane j's output column, its window's offset in the step's load (<= 64 − 4G) */
            fgq_qconv_dwflat_lane(g, lay.by_rows, ph, j, &owj, &rel);
            if (j == 0)
                ow0 = owj;
            for (int32_t gi = 0; gi < G; gi++)
                for (int32_t t = 0; t < 4; t++) {
                    const int64_t tap = 4 * gi + t, iw = owj * sw - g->pl + tap;
                    tab[(ph * G + gi) * 64 + 4 * j + t] = (uint8_t)(rel + tap);
                    if (tap < KW && iw >= 0 && iw < IW && owj < OW)
                        m[gi] |= (uint64_t)1 << (4 * j + t);
                }
        }
        for (int32_t gi = 0; gi < G; gi++)
            memcpy(tab + P * G * 64 + (ph * G + gi) * 8, &m[gi], 8);
        /* the step's load: row oh0·sh of the copy (row-aligned: 0, its row adds oh·sh·IW), column
         * ow0·sw − pl */
        start[ph] = (int32_t)((lay.by_rows ? 0 : 16 * ph / OW) * sh * IW + ow0 * sw - g->pl);
    }
    memset(scratch, (uint8_t)p->fill, (size_t)bbytes);
    const int64_t below = lay.rows - g->pt; /* X's rows the copy holds */
    p->copy_rows = below <= 0 ? 0 : below < g->IH ? below : g->IH;
    p->flat = 1;
    p->by_rows = lay.by_rows;
    p->period = (int32_t)P;
    p->buf = scratch;
    p->tab = tab;
    return 1;
}

/* G a constant where it is 1 (kernels up to 4 wide) or 2 (5 to 8): the window loop unrolled. */
FGQ_DWP_INLINE void dwp_plane(int mode, int two, const dwp_taps *q, const fgq_qconv_dwplane_prep *p, const rq_consts *k,
                              const uint8_t *x, __m512i fill, __m512i flip, uint32_t zxp, uint8_t *y)
{
    const int64_t OH = p->g.OH, OW = p->g.OW;
    for (int64_t oh = 0; oh < OH; oh++)
        if (p->windows == 1)
            dwp_row(mode, two, 1, q, p, k, x, oh, fill, flip, zxp, y + oh * OW);
        else if (p->windows == 2)
            dwp_row(mode, two, 2, q, p, k, x, oh, fill, flip, zxp, y + oh * OW);
        else
            dwp_row(mode, two, p->windows, q, p, k, x, oh, fill, flip, zxp, y + oh * OW);
}

FGQ_DWP_INLINE void dwp_modes(int mode, int two, const dwp_taps *q, const fgq_qconv_dwplane_prep *p, const rq_consts *k,
                              const uint8_t *x, __m512i fill, __m512i flip, uint32_t zxp, uint8_t *y)
{
    switch (mode) {
    case RQ_F0: dwp_plane(RQ_F0, two, q, p, k, x, fill, flip, zxp, y); break;
    case RQ_FR: dwp_plane(RQ_FR, two, q, p, k, x, fill, flip, zxp, y); break;
    case RQ_FRN: dwp_plane(RQ_FRN, two, q, p, k, x, fill, flip, zxp, y); break;
    case RQ_SAT_ROUND: dwp_plane(RQ_SAT_ROUND, two, q, p, k, x, fill, flip, zxp, y); break;
    default: dwp_plane(RQ_SAT_PLAIN, two, q, p, k, x, fill, flip, zxp, y); break;
    }
}

int fgq_qconv_dwplane_prep__avx512vbmi(fgq_qconv_dwplane_prep *p, const fgq_qconv_dwplane_geom *g, int32_t zx, int x_s8,
                                       uint8_t *scratch, int64_t bytes)
{
    const int64_t sw = g->sw;
    const int32_t G = (int32_t)((g->KW + 3) / 4);
    if (g->dh != 1 || g->dw != 1 || g->KH < 1 || g->KH > DWP_MAX_KH || g->KW < 1 || G > DWP_MAX_G || sw < 1 ||
        15 * sw + 4 * G > 64)
        return 0;
    p->g = *g;
    p->windows = G;
    p->two = 31 * sw + 4 * G <= 64 && g->OW > 16;
    p->zx = zx;
    p->x_s8 = x_s8;
    p->fill = x_s8 ? zx + 128 : zx;
    p->flat = 0;
    if (dwf_prep(p, g, G, scratch, bytes))
        return 1;
    for (int32_t h = 0; h < 2; h++)
        for (int32_t gi = 0; gi < DWP_MAX_G; gi++)
            for (int32_t j = 0; j < 16; j++)
                for (int32_t t = 0; t < 4; t++) /* < 64 where used: two, or the 16-output bound above */
                    p->idx[h][gi][4 * j + t] = (uint8_t)(((16 * h + j) * sw + 4 * gi + t) & 63);
    return 1;
}

/* The two forms' copies, each out of line with its own frame (inlined, their registers' spills
 * shared one frame past check_freestanding's 2 KB). */
static __attribute__((noinline, target(FGQ_DWP_TARGET))) void dwf_modes(int mode, const dwp_taps *q,
                                                                        const fgq_qconv_dwplane_prep *p,
                                                                        const rq_consts *k, __m512i off, uint8_t *y)
{
    switch (mode) {
    case RQ_F0: dwf_windows(RQ_F0, q, p, k, off, y); break;
    case RQ_FR: dwf_windows(RQ_FR, q, p, k, off, y); break;
    case RQ_FRN: dwf_windows(RQ_FRN, q, p, k, off, y); break;
    case RQ_SAT_ROUND: dwf_windows(RQ_SAT_ROUND, q, p, k, off, y); break;
    default: dwf_windows(RQ_SAT_PLAIN, q, p, k, off, y); break;
    }
}

static __attribute__((noinline, target(FGQ_DWP_TARGET))) void dwp_two(int mode, const dwp_taps *q,
                                                                      const fgq_qconv_dwplane_prep *p,
                                                                      const rq_consts *k, const uint8_t *x,
                                                                      __m512i fill, __m512i flip, uint32_t zxp,
                                                                      uint8_t *y)
{
    if (p->two)
        dwp_modes(mode, 1, q, p, k, x, fill, flip, zxp, y);
    else
        dwp_modes(mode, 0, q, p, k, x, fill, flip, zxp, y);
}

FGQ_DWP_FN int fgq_qconv_dwplane__avx512vbmi(uint8_t *y, const uint8_t *x, const fgq_qconv_dwplane_prep *p,
                                             const int32_t *e, int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c,
                                             int32_t zy, int32_t qmin, int32_t qmax, int y_s8)
{
    (void)y_s8; /* the clamped values are in the byte's range, u8 or s8: vpmovdb keeps their low byte */
    const int64_t KH = p->g.KH, KW = p->g.KW;
    const int32_t G = p->windows;
    if (qw->req[2 * c + 1] > 0 || (p->flat && (zx != p->zx || x_s8 != p->x_s8))) /* buf is filled for p's */
        return 0;
    /* the weights in int8 (else decline), as bytes (eb, 4 zero bytes past them) and their sum,
     * 16 a step: a small plane's whole work is a few hundred cycles */
    const int64_t K = KH * KW;
    uint8_t eb[DWP_MAX_KH * 4 * DWP_MAX_G + 4];
    __m512i lo = _mm512_set1_epi32(INT8_MIN), hi = _mm512_set1_epi32(INT8_MAX), sum = _mm512_setzero_si512();
    __mmask16 out = 0;
    for (int64_t i = 0; i < K; i += 16) {
        const __mmask16 m = K - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - i)) - 1);
        const __m512i v = _mm512_maskz_loadu_epi32(m, e + i);
        out |= _mm512_mask_cmplt_epi32_mask(m, v, lo) | _mm512_mask_cmpgt_epi32_mask(m, v, hi);
        sum = _mm512_add_epi32(sum, v);
        _mm512_mask_cvtepi32_storeu_epi8(eb + i, m, v);
    }
    if (out != 0)
        return 0;
    memset(eb + K, 0, 4);
    dwp_taps q;
    for (int64_t kh = 0; kh < KH; kh++)
        for (int32_t gi = 0; gi < G; gi++) { /* taps 4g .. 4g + 3 of row kh, 0 past KW */
            const int64_t left = KW - 4 * gi;
            uint32_t packed;
            memcpy(&packed, eb + kh * KW + 4 * gi, 4);
            q.w[kh][gi] = (int32_t)(left >= 4 ? packed : packed & ((1u << (8 * left)) - 1));
        }
    if (!p->flat) /* the rows' zero-point correction counts the tap rows inside X */
        for (int64_t kh = 0; kh < KH; kh++) {
            uint32_t rs = 0;
            for (int64_t kw = 0; kw < KW; kw++)
                rs += (uint32_t)e[kh * KW + kw];
            q.rowsum[kh] = (int32_t)rs;
        }
    const uint32_t zxp = (uint32_t)(x_s8 ? zx + 128 : zx);
    const __m512i fill = _mm512_set1_epi8((char)(uint8_t)zx), flip = _mm512_set1_epi8(x_s8 ? (char)0x80 : 0);
    rq_consts k;
    k.nz = _mm512_setzero_si512(); /* set by the folded forms only: GCC 12 cannot tell which the switch takes */
    const int mode = rq_channel_consts(qw, c, zy, qmin, qmax, fgq_qw_code_max(qw->dtype), &k);
    if (p->flat) {
        const uint32_t esum = (uint32_t)_mm512_reduce_add_epi32(sum);      /* wrapping, as the lanes */
        const __m512i off = _mm512_set1_epi32((int32_t)(0u - zxp * esum)); /* wrapping */
        dwf_copy(p, x);
        dwf_modes(mode, &q, p, &k, off, y);
        /* GCC 12 leaves the upper halves dirty past a call that takes a vector argument, and the
         * caller's SSE code then stalled on every channel (EfficientNet-Lite1's 8 x 8 layers 93 ->
         * 235 us): clean them here */
        _mm256_zeroupper();
        return 1;
    }
    dwp_two(mode, &q, p, &k, x, fill, flip, zxp, y);
    _mm256_zeroupper();
    return 1;
}

#endif /* x86 */
