/*
 * conv_f32_dw.c — the float depthwise convolution (one input channel per
 * group: MobileNet's and EfficientNet's 3x3/5x5 layers), 1-D/2-D, stride 1
 * or 2, any dilation and padding, with AVX2+FMA vectors of 8 output positions
 * (and, where the CPU has AVX-512F, the padded plane's rows of 9 and more
 * 16 at a time: dw_pad_rows16_t, with 3x3 and 5x5 unrolled, and at stride 1
 * maps whose padded rows are at most 16 wide 16 grid positions a vector
 * across rows: dw_flat16).
 * Reference twin: fgq_conv_f32_dw_ref below, plain C, whose results it
 * reproduces bit for bit (tests/test_conv_f32_dw.c, memcmp); the twin differs
 * from the direct loops of conv_f32.c (conv_rows_f32, FGQ_KERNELS_REF) by
 * float rounding only, one rounding a tap where they round twice (the test
 * bounds it, as for the packed GEMM of conv_f32_gemm.c, which fuses too).
 *
 * The sequence per output element, the twin's: bias, then one fused
 * multiply-add (fmaf) per kernel tap over the zero-padded input, taps in
 * (kh, kw) order, a tap on the padding adding w·0 (ONNX's zero padding: the
 * direct loops skip such a tap instead, so at the borders the twin's −0 sum
 * becomes +0 and an Inf weight gives NaN where theirs do not), then the fused
 * activation. This kernel keeps that sequence per element, 8 or 16 positions
 * at a time in registers, taps in the same order: where a block's whole
 * kernel rows lie inside the input (the interior) every tap reads X; at the
 * borders, lanes outside the row read 0 (masked loads) and rows outside add
 * w·0; the activation is the same function.
 * Stride 2 reads 15 inputs in two loads and keeps every other one (two
 * shuffles). Loads never reach past the input row's last element that some
 * tap reads. The interior's last partial block is computed as a block that
 * overlaps the one before (the same positions twice, the same bits).
 *
 * Padded layers whose zero-padded input plane fits 128 KB take that plane
 * instead (in the node's scratch, built once per channel): every block is
 * then an interior one (dw_pad_rows, and with AVX-512F dw_pad_rows16_t, whose
 * 3x3 and 5x5 forms are unrolled, or dw_flat16), the same bits.
 *
 * Work is split over threads by output rows, as the direct loops split it.
 * No allocation; under 2 KB of stack (dw_rows: the flat form's table, 392
 * bytes, and the 8-lane rows inlined).
 */
#include "ops_f32.h"
#include "ops_f32_x86.h"
#include "ops_util.h"
#include "qgemm_dispatch.h" /* fgq_node_cpu */

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Planes whose padded copy passes this many floats (128 KB) keep the masked border blocks. */
#define DW_PADDED_MAX_FLOATS 32768
/* dw_flat16: a table of at most DW_FLAT_MAX vectors of 16 grid positions (padded rows of at most
 * 16): the grid OH·PW in vectors, rounded up to 4, run 4 or 8 at a time. The furthest read is
 * below 16·⌈OH·PW / 64⌉·4 + (KH − 1)·dh·PW + (KW − 1)·dw <= PH·PW + 63 + (KW − 1)·dw (stride 1:
 * OH + (KH − 1)·dh = PH), inside the plane's slack with DW_FLAT_SLACK. */
#define DW_FLAT_MAX 64
#define DW_FLAT_SLACK 48

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define CONV_DW_X86 1
#else
#define CONV_DW_X86 0
#endif

int fgq_conv_f32_dw_fits(const fgq_ops_spatial *sp, int64_t cg)
{
    return CONV_DW_X86 && cg == 1 && sp->kernel[0] == 1 && sp->in[0] == 1 && sp->out[0] == 1 &&
           (sp->stride[2] == 1 || sp->stride[2] == 2) && sp->in[2] < ((int64_t)1 << 30) &&
           sp->pad_begin[2] < ((int64_t)1 << 20);
}

/* The zero-padded plane (dw_rows): floats of one input plane with its padding on every side, and
 * slack past it for the last row's loads: 8 lanes (stride 2: 15 inputs), or 16 (31), of which a
 * row narrower than 16 keeps its first OW (dw_pad_rows16_t), and the flat form's vectors past the
 * plane's last (DW_FLAT_SLACK: dw_flat16). */
static int64_t dw_padded_floats(const fgq_ops_spatial *sp)
{
    const int64_t ph = sp->in[1] + sp->pad_begin[1] + sp->pad_end[1];
    const int64_t pw = sp->in[2] + sp->pad_begin[2] + sp->pad_end[2];
    return ph * pw + 16 * sp->stride[2] + (sp->kernel[2] - 1) * sp->dilation[2] + 16 + DW_FLAT_SLACK;
}

uint64_t fgq_conv_f32_dw_scratch(const fgq_ops_spatial *sp, int64_t cg)
{
    if (!fgq_conv_f32_dw_fits(sp, cg) || (sp->pad_begin[1] == 0 && sp->pad_end[1] == 0 && sp->pad_begin[2] == 0 &&
                                          sp->pad_end[2] == 0))
        return 0;
    const int64_t n = dw_padded_floats(sp);
    return n <= DW_PADDED_MAX_FLOATS ? (uint64_t)n * sizeof(float) : 0;
}

#if CONV_DW_X86
typedef struct dw_task {
    const fgq_node_view *node;
    const fgq_ops_spatial *sp;
    const float *x, *w, *b;
    float *y;
    int64_t c_in, m_out, mg;
    int padded; /* the zero-padded plane in the node's scratch (fgq_conv_f32_dw_scratch) */
    int avx512; /* the CPU has AVX-512F: the padded plane's rows of 9 and more go 16 lanes a vector
                 * (dw_pad_rows16_t), narrow maps at stride 1 the flat form (dw_flat16) */
    int flat;   /* dw_flat16 takes whole channels (dw_flat_fits) */
    void (*rows16)(const struct dw_task *, const float *, int64_t, const float *, float, int64_t, int64_t,
                   float *); /* dw_rows16_pick's form */
} dw_task;

/* Output positions [lo, hi) at which every tap of a kernel row is inside the
 * input row (empty when none is). */
static void interior(const fgq_ops_spatial *sp, int64_t *lo, int64_t *hi)
{
    const int64_t s = sp->stride[2], pw = sp->pad_begin[2], span = (sp->kernel[2] - 1) * sp->dilation[2];
    const int64_t l = (pw + s - 1) / s, last = sp->in[2] - 1 - span + pw; /* o·s <= last */
    const int64_t h = last >= 0 ? last / s + 1 : 0;
    *lo = l < sp->out[2] ? l : sp->out[2];
    *hi = h < sp->out[2] ? h : sp->out[2];
    if (*hi < *lo)
        *hi = *lo;
}

/* Output positions [ow, ow + 8) of one row, all interior. */
__attribute__((target("avx2,fma"))) static inline void block8(const dw_task *t, const float *xp, const float *wf,
                                                              float bias, int64_t oh, int64_t ow, float *yr)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2], KH = sp->kernel[1], KW = sp->kernel[2], SW = sp->stride[2];
    __m256 acc = _mm256_set1_ps(bias);
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
        if (ih < 0 || ih >= IH) { /* a row of padding: its taps add w·0, as the twin's */
            for (int64_t kw = 0; kw < KW; kw++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(wf[kh * KW + kw]), _mm256_setzero_ps(), acc);
            continue;
        }
        const float *xr = xp + ih * IW + ow * SW - sp->pad_begin[2];
        for (int64_t kw = 0; kw < KW; kw++)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wf[kh * KW + kw]), fgq_f32_load8(xr + kw * sp->dilation[2], SW), acc);
    }
    _mm256_storeu_ps(yr + ow, acc);
}

/* Output positions [ow, ow + 8) of one row where some tap may fall outside
 * the input: a tap outside adds w·0 in its lane, as the twin's (input lanes
 * outside the row are not read: masked loads give 0), and only lanes before
 * `valid` are stored (a row narrower than 8). */
__attribute__((target("avx2,fma"))) static inline void block8_edge(const dw_task *t, const float *xp, const float *wf,
                                                                   float bias, int64_t oh, int64_t ow, int64_t valid,
                                                                   float *yr)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2], KH = sp->kernel[1], KW = sp->kernel[2], SW = sp->stride[2];
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), iw = _mm256_set1_epi32((int32_t)IW);
    __m256 acc = _mm256_set1_ps(bias);
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
        if (ih < 0 || ih >= IH) {
            for (int64_t kw = 0; kw < KW; kw++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(wf[kh * KW + kw]), _mm256_setzero_ps(), acc);
            continue;
        }
        for (int64_t kw = 0; kw < KW; kw++) {
            /* input column of lane 0; inside the row: 0 <= col < IW (|col| is far below 2^31) */
            const int64_t col = ow * SW - sp->pad_begin[2] + kw * sp->dilation[2];
            const float *row = xp + ih * IW;
            /* lane 0's address (col may be < 0: lanes outside the row are masked, never read), formed as
             * an integer so that no pointer points outside the row */
            const float *p0 = (const float *)((uintptr_t)row + (uintptr_t)(col * (int64_t)sizeof(float)));
            const __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int32_t)col), iota);
            const __m256i in0 = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), c0),
                                                    _mm256_cmpgt_epi32(iw, c0));
            __m256 xv;
            if (SW == 1) {
                xv = _mm256_maskload_ps(p0, in0);
            } else {
                const __m256i c7 = _mm256_add_epi32(c0, _mm256_set1_epi32(7));
                const __m256i in7 = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), c7),
                                                        _mm256_cmpgt_epi32(iw, c7));
                const __m256 a = _mm256_maskload_ps(p0, in0);
                const __m256 b = _mm256_maskload_ps((const float *)((uintptr_t)p0 + 7 * sizeof(float)), in7);
                const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0));
                xv = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wf[kh * KW + kw]), xv, acc);
        }
    }
    if (valid >= 8)
        _mm256_storeu_ps(yr + ow, acc);
    else
        _mm256_maskstore_ps(yr + ow, _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)valid), iota), acc);
}

/* Up to DW_PAD_VECS vectors of 8 output positions of one channel, vector v at row oh[v], columns
 * ow[v] .. ow[v] + 7 (valid[v] of them stored), read from the zero-padded plane xq (PW floats a
 * row): every tap of every lane added, those in the padding as w·0, the twin's sum exactly. The
 * vectors' sums are independent chains, interleaved: one chain adds a tap every 4 cycles (the
 * FMA's latency), eight keep both FMA units busy. */
enum { DW_PAD_VECS = 8 };

/* nv vectors (a constant at each call site: 8, 4 or 1, so the chains live in registers). */
__attribute__((target("avx2,fma"), always_inline)) static inline void dw_pad_vecs(
    const dw_task *t, const float *xq, int64_t PW, const float *wf, float bias, const int64_t *oh, const int64_t *ow,
    const int64_t *valid, int nv, float *yp)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2], SW = sp->stride[2], OW = sp->out[2];
    const float *base[DW_PAD_VECS];
    __m256 acc[DW_PAD_VECS];
    for (int v = 0; v < nv; v++) {
        base[v] = xq + oh[v] * sp->stride[1] * PW + ow[v] * SW;
        acc[v] = _mm256_set1_ps(bias);
    }
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t rofs = kh * sp->dilation[1] * PW;
        for (int64_t kw = 0; kw < KW; kw++) {
            const __m256 wv = _mm256_set1_ps(wf[kh * KW + kw]);
            const int64_t ofs = rofs + kw * sp->dilation[2];
            for (int v = 0; v < nv; v++)
                acc[v] = _mm256_fmadd_ps(wv, fgq_f32_load8(base[v] + ofs, SW), acc[v]);
        }
    }
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const __m256 zero = _mm256_setzero_ps(), lo = _mm256_set1_ps(t->node->fparams[FGQ_PF_ACT0]);
    const __m256 hi = _mm256_set1_ps(t->node->fparams[FGQ_PF_ACT1]);
    for (int v = 0; v < nv; v++) { /* the activation: fgq_ops_act_apply_f32's rule, ordered compares */
        if (act == FGQ_ACT_RELU)
            acc[v] = _mm256_blendv_ps(acc[v], zero, _mm256_cmp_ps(acc[v], zero, _CMP_LT_OQ));
        else if (act == FGQ_ACT_CLIP) {
            acc[v] = _mm256_blendv_ps(acc[v], lo, _mm256_cmp_ps(acc[v], lo, _CMP_LT_OQ));
            acc[v] = _mm256_blendv_ps(acc[v], hi, _mm256_cmp_ps(acc[v], hi, _CMP_GT_OQ));
        }
    }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < nv; v++) {
        float *yr = yp + oh[v] * OW + ow[v];
        if (valid[v] >= 8)
            _mm256_storeu_ps(yr, acc[v]);
        else /* a row narrower than 8 (a libc memcpy of its lanes took a third of a 7 x 7 layer's time) */
            _mm256_maskstore_ps(yr, _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)valid[v]), iota), acc[v]);
    }
}

/* Output rows [oh0, oh1) of one channel (plane yp) from the padded plane: their vectors of 8 (the
 * last of a row ending at OW, overlapping the one before: the same bits twice) DW_PAD_VECS at a
 * time, the activation applied before each store. */
__attribute__((target("avx2,fma"))) static void dw_pad_rows(const dw_task *t, const float *xq, int64_t PW,
                                                            const float *wf, float bias, int64_t oh0, int64_t oh1,
                                                            float *yp)
{
    const int64_t OW = t->sp->out[2];
    int64_t oh[DW_PAD_VECS], ow[DW_PAD_VECS], valid[DW_PAD_VECS];
    int nv = 0;
    for (int64_t r = oh0; r < oh1; r++)
        for (int64_t c = 0; c < OW; c += 8) {
            oh[nv] = r;
            ow[nv] = OW >= 8 && c + 8 > OW ? OW - 8 : c;
            valid[nv] = OW - ow[nv];
            if (++nv == DW_PAD_VECS) {
                dw_pad_vecs(t, xq, PW, wf, bias, oh, ow, valid, DW_PAD_VECS, yp);
                nv = 0;
            }
        }
    int v = 0;
    for (; v + 4 <= nv; v += 4)
        dw_pad_vecs(t, xq, PW, wf, bias, oh + v, ow + v, valid + v, 4, yp);
    for (; v < nv; v++)
        dw_pad_vecs(t, xq, PW, wf, bias, oh + v, ow + v, valid + v, 1, yp);
}

/* The same on 16 positions a vector (AVX-512F), for rows of at least 9: the fused multiply-adds
 * of dw_pad_vecs lane by lane, in the same order, so the same bytes. Stride 2 reads p[0..30]: two
 * loads, the even elements kept by one two-source permute. */
__attribute__((target("avx512f"))) static inline __m512 load16(const float *p, int64_t s)
{
    if (s == 1)
        return _mm512_loadu_ps(p);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 15)); /* p[16 + k] = b[k + 1] */
}

/* kh_, kw_, s_: the kernel's height and width and the stride when constants (3x3 and 5x5 with
 * dilation 1, stride 1 or 2: dw_pad_rows16_t's unrolled forms), 0 to read them from sp. */
__attribute__((target("avx512f"), always_inline)) static inline void dw_pad_vecs16(
    const dw_task *t, const float *xq, int64_t PW, const float *wf, float bias, const int64_t *oh, const int64_t *ow,
    int nv, __mmask16 keep, float *yp, const int kh_, const int kw_, const int s_)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KH = kh_ ? kh_ : sp->kernel[1], KW = kw_ ? kw_ : sp->kernel[2], SW = s_ ? s_ : sp->stride[2];
    const int64_t SH = s_ ? s_ : sp->stride[1], DH = kh_ ? 1 : sp->dilation[1], DW = kw_ ? 1 : sp->dilation[2];
    const int64_t OW = sp->out[2];
    const float *base[DW_PAD_VECS];
    __m512 acc[DW_PAD_VECS];
    for (int v = 0; v < nv; v++) {
        base[v] = xq + oh[v] * SH * PW + ow[v] * SW;
        acc[v] = _mm512_set1_ps(bias);
    }
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t rofs = kh * DH * PW;
        for (int64_t kw = 0; kw < KW; kw++) {
            const __m512 wv = _mm512_set1_ps(wf[kh * KW + kw]);
            const int64_t ofs = rofs + kw * DW;
            for (int v = 0; v < nv; v++)
                acc[v] = _mm512_fmadd_ps(wv, load16(base[v] + ofs, SW), acc[v]);
        }
    }
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const __m512 lo = _mm512_set1_ps(t->node->fparams[FGQ_PF_ACT0]), hi = _mm512_set1_ps(t->node->fparams[FGQ_PF_ACT1]);
    for (int v = 0; v < nv; v++) {
        acc[v] = fgq_f32_act16(acc[v], act, lo, hi);
        if (keep == (__mmask16)0xFFFF) /* a plain store where every lane is kept (masked ones cost more on AMD) */
            _mm512_storeu_ps(yp + oh[v] * OW + ow[v], acc[v]);
        else
            _mm512_mask_storeu_ps(yp + oh[v] * OW + ow[v], keep, acc[v]);
    }
}

/* X's plane into the padded plane's interior (rows of IW floats, PW apart): whole vectors and a
 * masked tail, where a libc memcpy call per row cost as much as the row's taps (56 rows of 224
 * bytes per channel on MobileNet's 56 x 56 maps). */
__attribute__((target("avx512f"))) static void dw_fill_plane16(float *dst, int64_t PW, const float *src, int64_t IH,
                                                               int64_t IW)
{
    const __mmask16 tail = (__mmask16)((1u << (IW % 16)) - 1u);
    for (int64_t ih = 0; ih < IH; ih++, dst += PW, src += IW) {
        int64_t j = 0;
        for (; j + 16 <= IW; j += 16)
            _mm512_storeu_ps(dst + j, _mm512_loadu_ps(src + j));
        if (tail != 0)
            _mm512_mask_storeu_ps(dst + j, tail, _mm512_maskz_loadu_ps(tail, src + j));
    }
}

/* dw_pad_rows on 16 lanes, for rows of OW >= 9: vectors of 16, the last of a row ending at OW;
 * a row narrower than 16 is one vector whose first OW lanes are stored (the others read the
 * padded plane past the row, into the next one or the slack, and are dropped). kh_, kw_, s_ as
 * for dw_pad_vecs16. */
__attribute__((target("avx512f"), always_inline)) static inline void dw_pad_rows16_t(
    const dw_task *t, const float *xq, int64_t PW, const float *wf, float bias, int64_t oh0, int64_t oh1, float *yp,
    const int kh_, const int kw_, const int s_)
{
    const int64_t OW = t->sp->out[2];
    const __mmask16 keep = OW >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << OW) - 1u);
    int64_t oh[DW_PAD_VECS], ow[DW_PAD_VECS];
    int nv = 0;
    for (int64_t r = oh0; r < oh1; r++)
        for (int64_t c = 0; c < OW; c += 16) {
            oh[nv] = r;
            ow[nv] = OW >= 16 && c + 16 > OW ? OW - 16 : c;
            if (++nv == DW_PAD_VECS) {
                dw_pad_vecs16(t, xq, PW, wf, bias, oh, ow, DW_PAD_VECS, keep, yp, kh_, kw_, s_);
                nv = 0;
            }
        }
    int v = 0;
    for (; v + 4 <= nv; v += 4)
        dw_pad_vecs16(t, xq, PW, wf, bias, oh + v, ow + v, 4, keep, yp, kh_, kw_, s_);
    for (; v < nv; v++)
        dw_pad_vecs16(t, xq, PW, wf, bias, oh + v, ow + v, 1, keep, yp, kh_, kw_, s_);
}

/* The forms: MobileNet's and EfficientNet's kernels unrolled (the taps' offsets constants, the
 * weights' broadcasts hoisted), any other geometry read from sp. */
#define DW_ROWS16(name, kh, kw, st)                                                                            \
    __attribute__((target("avx512f"))) static void name(const dw_task *t, const float *xq, int64_t PW,         \
                                                        const float *wf, float bias, int64_t oh0, int64_t oh1, \
                                                        float *yp)                                             \
    {                                                                                                          \
        dw_pad_rows16_t(t, xq, PW, wf, bias, oh0, oh1, yp, kh, kw, st);                                        \
    }
DW_ROWS16(dw_rows16_3x3s1, 3, 3, 1)
DW_ROWS16(dw_rows16_3x3s2, 3, 3, 2)
DW_ROWS16(dw_rows16_5x5s1, 5, 5, 1)
DW_ROWS16(dw_rows16_5x5s2, 5, 5, 2)
DW_ROWS16(dw_rows16_any, 0, 0, 0)
#undef DW_ROWS16

/* The flat form, for stride 1 and padded rows of at most 16 (dw_flat_fits): the outputs of a
 * channel taken on the padded plane's grid, position q = oh·PW + ow, 16 consecutive q a vector
 * whatever the rows, a tap then one load at q + kh·dh·PW + kw·dw; the lanes whose ow is past OW
 * (the grid's right margin, and past the plane's last output) are dropped: the kept ones
 * compressed to the front and stored at the output index of the vector's first kept lane
 * (dw_flat_plan, a table made once for each range of rows a thread takes; it serves the range's
 * whole channels, a channel cut by the range's ends takes the rows). MobileNet's and
 * EfficientNet's 7 x 7 and 8 x 8 maps, whose rows of 7 or 8 filled half a vector, and the 14 x 14
 * ones with 3x3 kernels (padded rows of 16), whose 14 rows of one vector went 8, 4, 1 and 1 at a
 * time (a lone vector waits on the FMA's latency tap after tap). The same fused
 * multiply-adds in the same order per output as dw_pad_vecs16: the same bytes. Wider rows stay
 * with the rows: their lanes worked out vector by vector cost more than the lanes saved. */
typedef struct {
    uint16_t keep[DW_FLAT_MAX]; /* lanes whose grid position is an output */
    int32_t at[DW_FLAT_MAX];    /* the output index of the vector's first kept lane */
    int32_t nvec4;              /* the grid OH·PW in vectors of 16, rounded up to 4 */
} dw_flat_plan;

/* 1 where the flat form takes a stride-1 layer: padded rows of at most 16, a channel's grid within
 * the table. */
static int dw_flat_fits(const fgq_ops_spatial *sp, int64_t PW)
{
    return sp->stride[1] == 1 && sp->stride[2] == 1 && PW <= 16 && sp->out[1] * PW <= 16 * DW_FLAT_MAX;
}

static void dw_flat_plan_make(const fgq_ops_spatial *sp, int64_t PW, dw_flat_plan *fp)
{
    const int64_t OH = sp->out[1], OW = sp->out[2], Q = OH * PW;
    fp->nvec4 = (int32_t)((Q + 63) / 64 * 4);
    int64_t q = 0, r = 0, c = 0; /* grid position q = r·PW + c, stepped without divisions */
    for (int32_t v = 0; v < fp->nvec4; v++) {
        fp->at[v] = (int32_t)(r * OW + (c < OW ? c : OW));
        uint32_t m = 0;
        for (int32_t i = 0; i < 16; i++, q++) {
            if (q < Q && c < OW)
                m |= 1u << i;
            if (++c == PW) {
                c = 0;
                r++;
            }
        }
        fp->keep[v] = (uint16_t)m;
        if (m == 0) /* a vector of margin only: its empty store addresses the plane's start, not past Y */
            fp->at[v] = 0;
    }
}

/* nv vectors (a constant at each call: 8 or 4) at xv (grid positions), kept lanes keep[], stored
 * from y + at[]; kh_, kw_ as for dw_pad_vecs16. */
__attribute__((target("avx512f"), always_inline)) static inline void dw_flat_vecs(const dw_task *t, const float *xv,
                                                                                  int64_t PW, const float *wf,
                                                                                  float bias, const uint16_t *keep,
                                                                                  const int32_t *at, int nv, float *yp,
                                                                                  const int kh_, const int kw_)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KH = kh_ ? kh_ : sp->kernel[1], KW = kw_ ? kw_ : sp->kernel[2];
    const int64_t DH = kh_ ? 1 : sp->dilation[1], DW = kw_ ? 1 : sp->dilation[2];
    __m512 acc[8];
    for (int v = 0; v < nv; v++)
        acc[v] = _mm512_set1_ps(bias);
    for (int64_t kh = 0; kh < KH; kh++)
        for (int64_t kw = 0; kw < KW; kw++) {
            const __m512 wv = _mm512_set1_ps(wf[kh * KW + kw]);
            const float *p = xv + kh * DH * PW + kw * DW;
            for (int v = 0; v < nv; v++)
                acc[v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p + v * 16), acc[v]);
        }
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const __m512 lo = _mm512_set1_ps(t->node->fparams[FGQ_PF_ACT0]), hi = _mm512_set1_ps(t->node->fparams[FGQ_PF_ACT1]);
    for (int v = 0; v < nv; v++) {
        const __mmask16 k = (__mmask16)keep[v];
        const __m512 kept = _mm512_maskz_compress_ps(k, fgq_f32_act16(acc[v], act, lo, hi));
        const unsigned n = (unsigned)__builtin_popcount((unsigned)k);
        _mm512_mask_storeu_ps(yp + at[v], (__mmask16)((1u << n) - 1u), kept);
    }
}

/* One whole channel, the table's vectors 8 (then 4) at a time. */
__attribute__((target("avx512f"), always_inline)) static inline void dw_flat16_t(const dw_task *t, const float *xq,
                                                                                 int64_t PW, const float *wf,
                                                                                 float bias, const dw_flat_plan *fp,
                                                                                 float *yp, const int kh_,
                                                                                 const int kw_)
{
    int32_t v = 0;
    for (; v + 8 <= fp->nvec4; v += 8)
        dw_flat_vecs(t, xq + v * 16, PW, wf, bias, fp->keep + v, fp->at + v, 8, yp, kh_, kw_);
    if (v < fp->nvec4)
        dw_flat_vecs(t, xq + v * 16, PW, wf, bias, fp->keep + v, fp->at + v, 4, yp, kh_, kw_);
}

#define DW_FLAT16(name, kh, kw)                                                                                        \
    __attribute__((target("avx512f"))) static void name(                                                               \
        const dw_task *t, const float *xq, int64_t PW, const float *wf, float bias, const dw_flat_plan *fp, float *yp) \
    {                                                                                                                  \
        dw_flat16_t(t, xq, PW, wf, bias, fp, yp, kh, kw);                                                              \
    }
DW_FLAT16(dw_flat16_3x3, 3, 3)
DW_FLAT16(dw_flat16_5x5, 5, 5)
DW_FLAT16(dw_flat16_any, 0, 0)
#undef DW_FLAT16

static void dw_flat16(const dw_task *t, const float *xq, int64_t PW, const float *wf, float bias,
                      const dw_flat_plan *fp, float *yp)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t k = sp->kernel[1];
    if (k == sp->kernel[2] && sp->dilation[1] == 1 && sp->dilation[2] == 1 && (k == 3 || k == 5))
        (k == 3 ? dw_flat16_3x3 : dw_flat16_5x5)(t, xq, PW, wf, bias, fp, yp);
    else
        dw_flat16_any(t, xq, PW, wf, bias, fp, yp);
}

typedef void (*dw_rows16_fn)(const dw_task *, const float *, int64_t, const float *, float, int64_t, int64_t, float *);

static dw_rows16_fn dw_rows16_pick(const fgq_ops_spatial *sp)
{
    const int64_t k = sp->kernel[1], s = sp->stride[1];
    if (k != sp->kernel[2] || s != sp->stride[2] || sp->dilation[1] != 1 || sp->dilation[2] != 1 || (k != 3 && k != 5))
        return dw_rows16_any;
    return k == 3 ? (s == 1 ? dw_rows16_3x3s1 : dw_rows16_3x3s2) : (s == 1 ? dw_rows16_5x5s1 : dw_rows16_5x5s2);
}

__attribute__((target("avx2,fma"))) static void dw_rows(void *ctx, fgq_idx begin, fgq_idx end)
{
    const dw_task *t = (const dw_task *)ctx;
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2];
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const float act_lo = t->node->fparams[FGQ_PF_ACT0], act_hi = t->node->fparams[FGQ_PF_ACT1];
    int64_t lo, hi;
    interior(sp, &lo, &hi);
    const int64_t pt = sp->pad_begin[1], pl = sp->pad_begin[2], PW = IW + pl + sp->pad_end[2];
    int32_t slot = -1;
    float *xq = NULL;
    int64_t built = -1; /* the input plane xq holds */
    if (t->padded) {
        xq = (float *)fgq_scratch_claim(t->node, &slot);
        memset(xq, 0, (size_t)dw_padded_floats(sp) * sizeof(float));
    }
    dw_flat_plan fp;
    if (t->flat)
        dw_flat_plan_make(sp, PW, &fp);
    /* r's plane and row, and the plane's batch item and channel, kept as r goes (divisions cost as
     * much as a 7 x 7 channel's taps) */
    int64_t plane = begin / OH, oh = begin % OH, n = plane / t->m_out, mo = plane % t->m_out;
    for (int64_t r = begin; r < end; r++, oh++) {
        if (oh == OH) {
            oh = 0;
            plane++;
            if (++mo == t->m_out) {
                mo = 0;
                n++;
            }
        }
        const int64_t g = t->mg == 1 ? mo : mo / t->mg;
        const float *xp = t->x + (n * t->c_in + g) * IH * IW;
        const float *wf = t->w + mo * KH * KW;
        const float bias = t->b != NULL ? t->b[mo] : 0.0f;
        float *yr = t->y + plane * OH * OW + oh * OW;
        if (xq != NULL) {
            const int64_t in_plane = n * t->c_in + g;
            if (built != in_plane) { /* X's rows into the padded plane; its padding stays 0 */
                if (t->avx512)
                    dw_fill_plane16(xq + pt * PW + pl, PW, xp, IH, IW);
                else
                    for (int64_t ih = 0; ih < IH; ih++)
                        memcpy(xq + (ih + pt) * PW + pl, xp + ih * IW, (size_t)IW * sizeof(float));
                built = in_plane;
            }
            /* this row and the channel's next ones in the range, together */
            const int64_t oh1 = OH - oh < end - r ? OH : oh + (end - r);
            if (t->flat && oh == 0 && oh1 == OH)
                dw_flat16(t, xq, PW, wf, bias, &fp, t->y + plane * OH * OW);
            else if (t->avx512 && OW >= 9)
                t->rows16(t, xq, PW, wf, bias, oh, oh1, t->y + plane * OH * OW);
            else
                dw_pad_rows(t, xq, PW, wf, bias, oh, oh1, t->y + plane * OH * OW);
            r += oh1 - oh - 1;
            oh = oh1 - 1;
            continue;
        }
        /* blocks of 8 from 0; the last one ends at OW, overlapping the one
         * before (its positions computed again, to the same bits), or, in a
         * row narrower than 8, stores only the row's positions */
        for (int64_t ow = 0; ow < OW; ow += 8) {
            const int64_t o = OW >= 8 && ow + 8 > OW ? OW - 8 : ow;
            if (o >= lo && o + 8 <= hi)
                block8(t, xp, wf, bias, oh, o, yr);
            else
                block8_edge(t, xp, wf, bias, oh, o, OW - o, yr);
        }
        fgq_ops_act_apply_f32(yr, OW, act, act_lo, act_hi);
    }
    if (xq != NULL)
        fgq_scratch_release(t->node, slot);
}
#endif

void fgq_conv_f32_dw(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                     const float *b, float *y, int64_t n, int64_t c_in, int64_t m_out, int64_t groups)
{
#if CONV_DW_X86
    /* the padded plane where the node has the scratch for it (conv_f32.c declares it on the x86
     * profile); otherwise the border blocks with masks, the same bytes */
    const uint64_t need = fgq_conv_f32_dw_scratch(sp, c_in / groups);
    dw_task t = {
        .node = node,
        .sp = sp,
        .x = x,
        .w = w,
        .b = b,
        .y = y,
        .c_in = c_in,
        .m_out = m_out,
        .mg = m_out / groups,
        .padded = need > 0 && fgq_scratch_begin(node, need, NULL) == FGQ_OK,
        .avx512 = (fgq_node_cpu(node) & FGQ_CPU_AVX512F) != 0,
    };
    t.rows16 = dw_rows16_pick(sp);
    t.flat = t.padded && t.avx512 && dw_flat_fits(sp, sp->in[2] + sp->pad_begin[2] + sp->pad_end[2]);
    const int64_t n_rows = n * m_out * sp->out[1];
    const int64_t row_cost = sp->out[2] * sp->kernel[1] * sp->kernel[2];
    fgq_parallel_for(node->par, n_rows, fgq_parallel_grain(node->par, n_rows, row_cost), dw_rows, &t);
#else
    (void)node, (void)sp, (void)x, (void)w, (void)b, (void)y, (void)n, (void)c_in, (void)m_out, (void)groups;
#endif
}

void fgq_conv_f32_dw_ref(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                         const float *b, float *y, int64_t n, int64_t c_in, int64_t m_out, int64_t groups)
{
    const int64_t IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2], mg = m_out / groups;
    const int32_t act = node->iparams[FGQ_P_ACT];
    const float act_lo = node->fparams[FGQ_PF_ACT0], act_hi = node->fparams[FGQ_PF_ACT1];
    for (int64_t plane = 0; plane < n * m_out; plane++) {
        const int64_t nn = plane / m_out, mo = plane % m_out;
        const float *xp = x + (nn * c_in + mo / mg) * IH * IW, *wf = w + mo * KH * KW;
        for (int64_t oh = 0; oh < OH; oh++) {
            float *yr = y + (plane * OH + oh) * OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                float acc = b != NULL ? b[mo] : 0.0f;
                for (int64_t kh = 0; kh < KH; kh++) {
                    const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                    for (int64_t kw = 0; kw < KW; kw++) {
                        const int64_t iw = ow * sp->stride[2] - sp->pad_begin[2] + kw * sp->dilation[2];
                        const float xv = ih >= 0 && ih < IH && iw >= 0 && iw < IW ? xp[ih * IW + iw] : 0.0f;
                        acc = fmaf(wf[kh * KW + kw], xv, acc);
                    }
                }
                yr[ow] = acc;
            }
            fgq_ops_act_apply_f32(yr, OW, act, act_lo, act_hi);
        }
    }
}
