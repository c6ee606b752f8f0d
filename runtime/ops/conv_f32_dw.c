/*
 * conv_f32_dw.c — the float depthwise convolution (one input channel per
 * group: MobileNet's and EfficientNet's 3x3/5x5 layers), 1-D/2-D, stride 1
 * or 2, any dilation and padding, with AVX2 vectors of 8 output positions.
 * Reference twin: the direct loops of conv_f32.c (conv_rows_f32), whose
 * results it reproduces bit for bit (tests/test_conv_f32_dw.c, memcmp).
 *
 * Why bit-identical is possible: the direct loops give each output element
 * bias, then one product and one add per kernel tap that lands inside the
 * input, taps in (kh, kw) order, then the fused activation (the build's
 * -std=c11 keeps products and adds separately rounded, no FMA). This kernel
 * keeps that sequence per element, 8 positions at a time in registers, mul
 * then add, taps in the same order: where a block's whole kernel rows lie
 * inside the input (the interior) every tap is added; at the borders each
 * lane adds a tap only where it lands inside (masked loads, a blend), so a
 * skipped tap stays skipped; the activation is the same function.
 * Stride 2 reads 15 inputs in two loads and keeps every other one (two
 * shuffles). Loads never reach past the input row's last element that some
 * tap reads. The interior's last partial block is computed as a block that
 * overlaps the one before (the same positions twice, the same bits).
 *
 * Work is split over threads by output rows, as the direct loops split it.
 * No allocation, no scratch, a few hundred bytes of stack.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <stdint.h>

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

#if CONV_DW_X86
typedef struct {
    const fgq_node_view *node;
    const fgq_ops_spatial *sp;
    const float *x, *w, *b;
    float *y;
    int64_t c_in, m_out, mg;
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

/* 8 inputs at p, p + s, ..., p + 7s for s = 1 or 2; reads p[0 .. 7s] and no further (stride 2:
 * p[0..7] and p[7..14], keeping a's even and b's odd elements). */
__attribute__((target("avx2"))) static inline __m256 load8(const float *p, int64_t s)
{
    if (s == 1)
        return _mm256_loadu_ps(p);
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 7);
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0)); /* p0 p2 p8 p10 | p4 p6 p12 p14 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

/* Output positions [ow, ow + 8) of one row, all interior. */
__attribute__((target("avx2"))) static inline void block8(const dw_task *t, const float *xp, const float *wf,
                                                          float bias, int64_t oh, int64_t ow, float *yr)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2], KH = sp->kernel[1], KW = sp->kernel[2], SW = sp->stride[2];
    __m256 acc = _mm256_set1_ps(bias);
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
        if (ih < 0 || ih >= IH)
            continue;
        const float *xr = xp + ih * IW + ow * SW - sp->pad_begin[2];
        for (int64_t kw = 0; kw < KW; kw++)
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(wf[kh * KW + kw]),
                                                   load8(xr + kw * sp->dilation[2], SW)));
    }
    _mm256_storeu_ps(yr + ow, acc);
}

/* Output positions [ow, ow + 8) of one row where some tap may fall outside
 * the input: each lane adds a tap's product only where that tap is inside
 * (a blend keeps the lane's sum where it is not: the direct loops skip such
 * a tap, and adding 0·w would turn a −0 sum into +0), input lanes outside
 * the row are not read (masked loads), and only lanes before `valid` are
 * stored (a row narrower than 8). */
__attribute__((target("avx2"))) static inline void block8_edge(const dw_task *t, const float *xp, const float *wf,
                                                               float bias, int64_t oh, int64_t ow, int64_t valid,
                                                               float *yr)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2], KH = sp->kernel[1], KW = sp->kernel[2], SW = sp->stride[2];
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), iw = _mm256_set1_epi32((int32_t)IW);
    __m256 acc = _mm256_set1_ps(bias);
    for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
        if (ih < 0 || ih >= IH)
            continue;
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
            __m256 xv, lane_in;
            if (SW == 1) {
                xv = _mm256_maskload_ps(p0, in0);
                lane_in = _mm256_castsi256_ps(in0);
            } else {
                const __m256i c7 = _mm256_add_epi32(c0, _mm256_set1_epi32(7));
                const __m256i in7 = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), c7),
                                                        _mm256_cmpgt_epi32(iw, c7));
                const __m256 a = _mm256_maskload_ps(p0, in0);
                const __m256 b = _mm256_maskload_ps((const float *)((uintptr_t)p0 + 7 * sizeof(float)), in7);
                const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 2, 0));
                xv = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
                const __m256 ma = _mm256_castsi256_ps(in0), mb = _mm256_castsi256_ps(in7);
                const __m256 me = _mm256_shuffle_ps(ma, mb, _MM_SHUFFLE(3, 1, 2, 0));
                lane_in = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(me), 0xD8));
            }
            const __m256 sum = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(wf[kh * KW + kw]), xv));
            acc = _mm256_blendv_ps(acc, sum, lane_in);
        }
    }
    if (valid >= 8)
        _mm256_storeu_ps(yr + ow, acc);
    else
        _mm256_maskstore_ps(yr + ow, _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)valid), iota), acc);
}

__attribute__((target("avx2"))) static void dw_rows(void *ctx, int64_t begin, int64_t end)
{
    const dw_task *t = (const dw_task *)ctx;
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2];
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const float act_lo = t->node->fparams[FGQ_PF_ACT0], act_hi = t->node->fparams[FGQ_PF_ACT1];
    int64_t lo, hi;
    interior(sp, &lo, &hi);
    for (int64_t r = begin; r < end; r++) {
        const int64_t plane = r / OH, oh = r % OH;
        const int64_t n = plane / t->m_out, mo = plane % t->m_out, g = mo / t->mg;
        const float *xp = t->x + (n * t->c_in + g) * IH * IW;
        const float *wf = t->w + mo * KH * KW;
        const float bias = t->b != NULL ? t->b[mo] : 0.0f;
        float *yr = t->y + plane * OH * OW + oh * OW;
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
}
#endif

void fgq_conv_f32_dw(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                     const float *b, float *y, int64_t n, int64_t c_in, int64_t m_out, int64_t groups)
{
#if CONV_DW_X86
    dw_task t = {node, sp, x, w, b, y, c_in, m_out, m_out / groups};
    const int64_t n_rows = n * m_out * sp->out[1];
    const int64_t row_cost = sp->out[2] * sp->kernel[1] * sp->kernel[2];
    fgq_parallel_for(node->par, n_rows, fgq_parallel_grain(node->par, n_rows, row_cost), dw_rows, &t);
#else
    (void)node, (void)sp, (void)x, (void)w, (void)b, (void)y, (void)n, (void)c_in, (void)m_out, (void)groups;
#endif
}
