/*
 * conv_f32_gemm.c — float convolution as a GEMM over packed im2col panels,
 * with an AVX2+FMA microkernel (6 output channels x 16 positions held in
 * registers). Reference twin: the direct loops of conv_f32.c
 * (tests/test_conv_f32_gemm.c compares them on random and edge shapes).
 *
 * Per batch item n and group g the convolution is Y_g[M_g, P] = W_g[M_g, K] ·
 * X_g[K, P] + B, K = C/G·kd·kh·kw in the weight's (c, kd, kh, kw) order and
 * P the output positions. Positions go in panels of 16: a panel's K x 16
 * input columns are packed (im2col, padding as 0) in chunks of KC rows into a
 * buffer of up to KC·16 floats (64 KiB on x86, 16 KiB elsewhere) in the node's scratch slice
 * (fgq_conv_f32_gemm_scratch), and every output channel of the
 * group is computed against the chunk while it sits in cache, its 6 × 16 sums in registers from the
 * bias (first chunk) to the store (whole panels straight into Y's rows). Each output
 * element is bias + Σ_k w·x in k order (one FMA per tap: the direct loops
 * round the product and the sum separately, so results differ from them by
 * float rounding only), then the fused activation. Work is split over
 * threads by (n, g, panel): every output element is computed by the same
 * operations whatever the split, so results are bit-identical for any
 * thread count. No allocation; no scratch beyond the panel.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CONV_GEMM_X86 1
#endif

/* KC: the im2col rows a panel packs at once (KC·16 floats of scratch): 64 KB where the AVX2
 * kernel runs (fewer passes over a tile's sums), 16 KB elsewhere */
#if CONV_GEMM_X86
enum { NR = 16, MR = 6, KC = 1024 };
#else
enum { NR = 16, MR = 6, KC = 256 };
#endif

typedef struct {
    const fgq_node_view *node;
    const fgq_ops_spatial *sp;
    const float *x, *w, *b;
    float *y;
    int64_t c_in, m_out, cg, mg, k, positions, panels;
    int avx2;
} gemm_task;

uint64_t fgq_conv_f32_gemm_scratch(const fgq_ops_spatial *sp, int64_t cg, int64_t mg)
{
    (void)mg;
    const int64_t k = cg * sp->kernel[0] * sp->kernel[1] * sp->kernel[2];
    return (uint64_t)((k < KC ? k : KC) * NR + NR) * sizeof(float); /* + one row of slack: pack_run_avx2 */
}

#if CONV_GEMM_X86
/* A run of len <= 16 positions at stride 1: os[j] = row[iw0 + j] for jlo <= j < jhi, else 0;
 * lanes outside [jlo, jhi) are not read. It writes all 16 lanes (masked stores are microcode on
 * AMD cores): lanes past len land on the runs and rows packed after it, or on the buffer's
 * slack (fgq_conv_f32_gemm_scratch). */
__attribute__((target("avx2,fma"))) static void pack_run_avx2(float *os, const float *row, int64_t iw0, int64_t jlo,
                                                              int64_t jhi)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), eight = _mm256_set1_epi32(8);
    const __m256i lo = _mm256_set1_epi32((int32_t)jlo - 1), hi = _mm256_set1_epi32((int32_t)jhi);
    const __m256i j1 = _mm256_add_epi32(lane, eight);
    const __m256i r0 = _mm256_and_si256(_mm256_cmpgt_epi32(lane, lo), _mm256_cmpgt_epi32(hi, lane));
    const __m256i r1 = _mm256_and_si256(_mm256_cmpgt_epi32(j1, lo), _mm256_cmpgt_epi32(hi, j1));
    const float *src = (const float *)(const void *)((uintptr_t)row + (uintptr_t)(iw0 * (int64_t)sizeof(float)));
    _mm256_storeu_ps(os, _mm256_maskload_ps(src, r0));
    _mm256_storeu_ps(os + 8, _mm256_maskload_ps(src + 8, r1));
}
#endif

#if CONV_GEMM_X86
__attribute__((target("avx2,fma"))) static inline void copy16_avx2(float *d, const float *s)
{
    _mm256_storeu_ps(d, _mm256_loadu_ps(s));
    _mm256_storeu_ps(d + 8, _mm256_loadu_ps(s + 8));
}

/* The same at stride 2: os[j] = row[iw0 + 2j] where that column is inside the row [0, IW), else
 * 0, j < 16 (all 16 lanes written, as above). Four masked loads of the 32 columns iw0 .. iw0 + 31
 * (columns outside the row not read), then the even ones kept (load8's shuffles). */
__attribute__((target("avx2,fma"))) static void pack_run_s2_avx2(float *os, const float *row, int64_t iw0, int64_t IW)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), zero = _mm256_setzero_si256();
    const __m256i iw = _mm256_set1_epi32((int32_t)IW);
    const float *src = (const float *)(const void *)((uintptr_t)row + (uintptr_t)(iw0 * (int64_t)sizeof(float)));
    __m256 v[4];
    for (int q = 0; q < 4; q++) {
        const __m256i c = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(iw0 + 8 * q)), lane);
        const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(zero, c), _mm256_cmpgt_epi32(iw, c));
        v[q] = _mm256_maskload_ps((const float *)(const void *)((uintptr_t)src + (uintptr_t)(32 * q)), in);
    }
    for (int h = 0; h < 2; h++) {
        const __m256 e = _mm256_shuffle_ps(v[2 * h], v[2 * h + 1], _MM_SHUFFLE(2, 0, 2, 0));
        _mm256_storeu_ps(os + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
    }
}
#endif

/* pack_panel for 2-D (and 1-D) layers: the panel's positions are runs along output rows (at most
 * a few: 16 positions), found once; per im2col row each run reads one input row at a stride,
 * its in-range part [jlo, jhi) copied (stride 1: one memcpy) and the rest 0, with no per-element
 * division or bounds test. The same values as the general form below. */
static void pack_panel_2d(const gemm_task *t, int64_t n, int64_t g, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                          float *out)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2], kk = KH * KW, IH = sp->in[1], IW = sp->in[2], OW = sp->out[2];
    const int64_t sh = sp->stride[1], sw = sp->stride[2], dh = sp->dilation[1], dw = sp->dilation[2];
    const int64_t pt = sp->pad_begin[1], pl = sp->pad_begin[2], plane = IH * IW;
    int64_t seg_q[NR], seg_len[NR], seg_oh[NR], seg_ow[NR];
    int nseg = 0;
    for (int64_t q = 0; q < np;) {
        const int64_t p = p0 + q, ow = p % OW, len = OW - ow < np - q ? OW - ow : np - q;
        seg_q[nseg] = q;
        seg_len[nseg] = len;
        seg_oh[nseg] = p / OW;
        seg_ow[nseg] = ow;
        nseg++;
        q += len;
    }
    int64_t c = k0 / kk, tap = k0 % kk;
    for (int64_t r = 0; r < kc; r++) {
        const int64_t e = tap / KW, f = tap % KW;
        const float *xp = t->x + (n * t->c_in + g * t->cg + c) * plane;
        float *o = out + r * NR;
        for (int si = 0; si < nseg; si++) {
            float *os = o + seg_q[si];
            const int64_t len = seg_len[si], ih = seg_oh[si] * sh - pt + e * dh;
            if (ih < 0 || ih >= IH) {
                memset(os, 0, (size_t)len * sizeof(float));
                continue;
            }
            /* iw = iw0 + j·sw for j < len; in range for jlo <= j < jhi */
            const int64_t iw0 = seg_ow[si] * sw - pl + f * dw;
            const int64_t jlo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
            int64_t jhi = iw0 > IW - 1 ? 0 : (IW - 1 - iw0) / sw + 1;
            jhi = jhi < len ? jhi : len;
            const float *xr = xp + ih * IW; /* iw0 may be negative: index, never point, past the row */
#if CONV_GEMM_X86
            if (t->avx2 && sw == 1) { /* two masked loads and stores instead of memcpy and memset calls */
                pack_run_avx2(os, xr, iw0, jlo, jhi);
                continue;
            }
            if (t->avx2 && sw == 2 && IW < ((int64_t)1 << 30)) { /* stems: every other input, 4 loads */
                pack_run_s2_avx2(os, xr, iw0, IW);
                continue;
            }
#endif
            int64_t j = 0;
            for (; j < jlo && j < len; j++)
                os[j] = 0.0f;
            if (sw == 1) {
                if (jhi > j) {
                    memcpy(os + j, xr + (iw0 + j), (size_t)(jhi - j) * sizeof(float));
                    j = jhi;
                }
            } else
                for (; j < jhi; j++)
                    os[j] = xr[iw0 + j * sw];
            for (; j < len; j++)
                os[j] = 0.0f;
        }
        for (int64_t q = np; q < NR; q++)
            o[q] = 0.0f;
        if (++tap == kk) {
            tap = 0;
            c++;
        }
    }
}

/* Rows [k0, k0+kc) of the panel's im2col columns at positions [p0, p0+np)
 * of batch n, group g, into out[kc][16] (positions past np as 0). */
static void pack_panel(const gemm_task *t, int64_t n, int64_t g, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                       float *out)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KD = sp->kernel[0], KH = sp->kernel[1], KW = sp->kernel[2], kk = KD * KH * KW;
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2];
    const int64_t OH = sp->out[1], OW = sp->out[2];
    const int64_t plane = ID * IH * IW;
    /* 1x1, stride 1, no padding: output position p is input element p (the
     * output has the input's spatial size: checked, so end padding is out) */
    const int pointwise = kk == 1 && sp->stride[0] == 1 && sp->stride[1] == 1 && sp->stride[2] == 1 &&
                          sp->pad_begin[0] == 0 && sp->pad_begin[1] == 0 && sp->pad_begin[2] == 0 &&
                          sp->out[0] == sp->in[0] && sp->out[1] == sp->in[1] && sp->out[2] == sp->in[2];
    if (ID == 1 && KD == 1 && sp->out[0] == 1 && sp->pad_begin[0] == 0 && !pointwise) {
        pack_panel_2d(t, n, g, p0, np, k0, kc, out);
        return;
    }
    int64_t od[NR], oh[NR], ow[NR];
    for (int64_t q = 0; q < np; q++) {
        const int64_t p = p0 + q;
        od[q] = p / (OH * OW);
        oh[q] = (p / OW) % OH;
        ow[q] = p % OW;
    }
    for (int64_t r = 0; r < kc; r++) {
        const int64_t kr = k0 + r, c = kr / kk, tap = kr % kk;
        const int64_t a = tap / (KH * KW), e = (tap / KW) % KH, f = tap % KW;
        const float *xp = t->x + (n * t->c_in + g * t->cg + c) * plane;
        float *o = out + r * NR;
        if (pointwise && np == NR) { /* a 1x1 stride-1 unpadded conv reads the input plane as it lies */
#if CONV_GEMM_X86
            if (t->avx2) {
                copy16_avx2(o, xp + p0); /* inline: a library call per 64 bytes cost more than the copy */
                continue;
            }
#endif
            memcpy(o, xp + p0, NR * sizeof(float));
            continue;
        }
        for (int64_t q = 0; q < np; q++) {
            const int64_t i0 = od[q] * sp->stride[0] - sp->pad_begin[0] + a * sp->dilation[0];
            const int64_t i1 = oh[q] * sp->stride[1] - sp->pad_begin[1] + e * sp->dilation[1];
            const int64_t i2 = ow[q] * sp->stride[2] - sp->pad_begin[2] + f * sp->dilation[2];
            o[q] = i0 >= 0 && i0 < ID && i1 >= 0 && i1 < IH && i2 >= 0 && i2 < IW ? xp[(i0 * IH + i1) * IW + i2]
                                                                                   : 0.0f;
        }
        for (int64_t q = np; q < NR; q++)
            o[q] = 0.0f;
    }
}

/* c[i·ldc + 0..16) = (bias ? bias[i] : c[i·ldc + ..]) + Σ_{r < kc} w[i·ldw + r] · bp[r][0..16),
 * for i < mr, in r order (portable; the AVX2 kernel does the same with one FMA per tap). */
static void kernel_ref(const float *w, int64_t ldw, int64_t mr, const float *bp, int64_t kc, float *c, int64_t ldc,
                       const float *bias)
{
    for (int64_t i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        if (bias != NULL)
            for (int q = 0; q < NR; q++)
                ci[q] = bias[i];
        for (int64_t r = 0; r < kc; r++) {
            const float a = w[i * ldw + r];
            for (int q = 0; q < NR; q++)
                ci[q] += a * bp[r * NR + q];
        }
    }
}

#if CONV_GEMM_X86
/* The fused activation on 8 sums, fgq_ops_act_apply_f32's rule lane by lane: ReLU y < 0 ? 0 : y,
 * Clip (y < lo ? lo : y) then (v > hi ? hi : v); ordered compares, so NaN and −0 pass as there. */
__attribute__((target("avx2,fma"))) static inline __m256 act8(__m256 y, int act, __m256 lo, __m256 hi)
{
    if (act == FGQ_ACT_RELU)
        return _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_LT_OQ));
    if (act == FGQ_ACT_CLIP) {
        const __m256 v = _mm256_blendv_ps(y, lo, _mm256_cmp_ps(y, lo, _CMP_LT_OQ));
        return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    }
    return y;
}

/* The accumulators' start: bias[i] broadcast, or the row's running sums. */
#define KA_INIT(ci, i)                                                                                                 \
    (bias != NULL ? _mm256_set1_ps(bias[i]) : _mm256_loadu_ps(ci))

/* act: the fused activation, applied before the store (the last chunk of K), or FGQ_ACT_NONE. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(const float *w, int64_t ldw, int64_t mr, const float *bp,
                                                            int64_t kc, float *c, int64_t ldc, const float *bias,
                                                            int act, float act_lo, float act_hi)
{
    const __m256 alo = _mm256_set1_ps(act_lo), ahi = _mm256_set1_ps(act_hi);
    if (mr != MR) {
        for (int64_t i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            __m256 c0 = KA_INIT(ci, i), c1 = bias != NULL ? _mm256_set1_ps(bias[i]) : _mm256_loadu_ps(ci + 8);
            const float *wi = w + i * ldw;
            for (int64_t r = 0; r < kc; r++) {
                const __m256 a = _mm256_broadcast_ss(wi + r);
                c0 = _mm256_fmadd_ps(a, _mm256_load_ps(bp + r * NR), c0);
                c1 = _mm256_fmadd_ps(a, _mm256_load_ps(bp + r * NR + 8), c1);
            }
            _mm256_storeu_ps(ci, act8(c0, act, alo, ahi));
            _mm256_storeu_ps(ci + 8, act8(c1, act, alo, ahi));
        }
        return;
    }
    float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc, *r4 = c + 4 * ldc, *r5 = c + 5 * ldc;
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (bias != NULL) {
        c00 = c01 = _mm256_set1_ps(bias[0]);
        c10 = c11 = _mm256_set1_ps(bias[1]);
        c20 = c21 = _mm256_set1_ps(bias[2]);
        c30 = c31 = _mm256_set1_ps(bias[3]);
        c40 = c41 = _mm256_set1_ps(bias[4]);
        c50 = c51 = _mm256_set1_ps(bias[5]);
    } else {
        c00 = _mm256_loadu_ps(r0), c01 = _mm256_loadu_ps(r0 + 8);
        c10 = _mm256_loadu_ps(r1), c11 = _mm256_loadu_ps(r1 + 8);
        c20 = _mm256_loadu_ps(r2), c21 = _mm256_loadu_ps(r2 + 8);
        c30 = _mm256_loadu_ps(r3), c31 = _mm256_loadu_ps(r3 + 8);
        c40 = _mm256_loadu_ps(r4), c41 = _mm256_loadu_ps(r4 + 8);
        c50 = _mm256_loadu_ps(r5), c51 = _mm256_loadu_ps(r5 + 8);
    }
    const float *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw, *w4 = w + 4 * ldw, *w5 = w + 5 * ldw;
    for (int64_t r = 0; r < kc; r++) {
        const __m256 b0 = _mm256_load_ps(bp + r * NR), b1 = _mm256_load_ps(bp + r * NR + 8);
        __m256 a = _mm256_broadcast_ss(w0 + r);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(w1 + r);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(w2 + r);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(w3 + r);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(w4 + r);
        c40 = _mm256_fmadd_ps(a, b0, c40);
        c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(w5 + r);
        c50 = _mm256_fmadd_ps(a, b0, c50);
        c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    _mm256_storeu_ps(r0, act8(c00, act, alo, ahi));
    _mm256_storeu_ps(r0 + 8, act8(c01, act, alo, ahi));
    _mm256_storeu_ps(r1, act8(c10, act, alo, ahi));
    _mm256_storeu_ps(r1 + 8, act8(c11, act, alo, ahi));
    _mm256_storeu_ps(r2, act8(c20, act, alo, ahi));
    _mm256_storeu_ps(r2 + 8, act8(c21, act, alo, ahi));
    _mm256_storeu_ps(r3, act8(c30, act, alo, ahi));
    _mm256_storeu_ps(r3 + 8, act8(c31, act, alo, ahi));
    _mm256_storeu_ps(r4, act8(c40, act, alo, ahi));
    _mm256_storeu_ps(r4 + 8, act8(c41, act, alo, ahi));
    _mm256_storeu_ps(r5, act8(c50, act, alo, ahi));
    _mm256_storeu_ps(r5 + 8, act8(c51, act, alo, ahi));
}
#undef KA_INIT
#endif

static const float zeros[MR]; /* the bias of a layer without one */

/* Panels [begin, end) of the flattened (n, g, panel) space. */
static void gemm_panels(void *ctx, fgq_idx begin, fgq_idx end)
{
    const gemm_task *t = (const gemm_task *)ctx;
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const float act_lo = t->node->fparams[FGQ_PF_ACT0], act_hi = t->node->fparams[FGQ_PF_ACT1];
    const int64_t groups = t->c_in / t->cg, P = t->positions, K = t->k;
    int32_t slot;
    float *bp = (float *)fgq_scratch_claim(t->node, &slot); /* [min(K, KC)][NR] */
    for (int64_t it = begin; it < end; it++) {
        const int64_t pan = it % t->panels, ng = it / t->panels, g = ng % groups, n = ng / groups;
        const int64_t p0 = pan * NR, np = P - p0 < NR ? P - p0 : NR;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_panel(t, n, g, p0, np, k0, kc, bp);
            for (int64_t m0 = 0; m0 < t->mg; m0 += MR) {
                const int64_t mr = t->mg - m0 < MR ? t->mg - m0 : MR, mo = g * t->mg + m0;
                /* the first chunk starts at the bias (0 without one), later ones at the sums so far;
                 * a whole panel runs on Y's rows, a partial one on c */
                const float *bias = k0 == 0 ? (t->b != NULL ? t->b + mo : zeros) : NULL;
                float *yt = t->y + (n * t->m_out + mo) * P + p0, c[MR][NR];
                float *ct = np == NR ? yt : &c[0][0];
                const int64_t ldc = np == NR ? P : NR;
                if (np != NR && bias == NULL)
                    for (int64_t i = 0; i < mr; i++) {
                        memcpy(c[i], yt + i * P, (size_t)np * sizeof(float));
                        for (int64_t q = np; q < NR; q++)
                            c[i][q] = 0.0f;
                    }
                const float *wp = t->w + mo * K + k0;
#if CONV_GEMM_X86
                if (t->avx2) /* the activation fused into the last chunk's store */
                    kernel_avx2(wp, K, mr, bp, kc, ct, ldc, bias, k0 + kc == K ? act : FGQ_ACT_NONE, act_lo,
                                act_hi);
                else
#endif
                    kernel_ref(wp, K, mr, bp, kc, ct, ldc, bias);
                if (np != NR)
                    for (int64_t i = 0; i < mr; i++)
                        memcpy(yt + i * P, c[i], (size_t)np * sizeof(float));
            }
        }
        if (!t->avx2)
            for (int64_t mo = g * t->mg; mo < (g + 1) * t->mg; mo++)
                fgq_ops_act_apply_f32(t->y + (n * t->m_out + mo) * P + p0, np, act, act_lo, act_hi);
    }
    fgq_scratch_release(t->node, slot);
}

int fgq_conv_f32_gemm_fits(const fgq_ops_spatial *sp, int64_t cg, int64_t mg)
{
    const int64_t kk = sp->kernel[0] * sp->kernel[1] * sp->kernel[2];
    /* depthwise-like groups (a few rows, a few taps) do better in the direct loops */
    return mg >= 4 && cg * kk >= 8;
}

fgq_status fgq_conv_f32_gemm(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                             const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups,
                             int avx2, fgq_error *err)
{
    fgq_status st = fgq_scratch_begin(node, fgq_conv_f32_gemm_scratch(sp, c_in / groups, m_out / groups), err);
    if (st != FGQ_OK)
        return st;
    gemm_task t = {
        .node = node,
        .sp = sp,
        .x = x,
        .w = w,
        .b = b,
        .y = y,
        .c_in = c_in,
        .m_out = m_out,
        .cg = c_in / groups,
        .mg = m_out / groups,
        .positions = sp->out[0] * sp->out[1] * sp->out[2],
        .avx2 = avx2,
    };
    t.k = t.cg * sp->kernel[0] * sp->kernel[1] * sp->kernel[2];
    t.panels = (t.positions + NR - 1) / NR;
#if !CONV_GEMM_X86
    t.avx2 = 0;
#endif
    const int64_t n_items = batch * groups * t.panels;
    fgq_parallel_for(node->par, n_items, fgq_parallel_grain(node->par, n_items, t.mg * t.k * NR), gemm_panels, &t);
    return FGQ_OK;
}
