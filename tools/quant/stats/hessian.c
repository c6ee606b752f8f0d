/* hessian.c — per-layer input second moments for the solver; see hessian.h. */
#include "quant/stats/hessian.h"

#include "lower/lower.h"
#include "run/run_graph.h"
#include "quant/format/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define POS_BLOCK 64

#if defined(__GNUC__) && defined(__x86_64__)
#define FGQ_HESSIAN_AVX2 1
#else
#define FGQ_HESSIAN_AVX2 0
#endif

int fgq_layer_view_of(const fgq_graph *g, int32_t node, fgq_layer_view *v)
{
    memset(v, 0, sizeof *v);
    int32_t wt;
    int tr;
    if (!fgq_quant_weight_layer(g, node, &wt, &v->rows, &v->k, &tr))
        return 0;
    const fgq_ir_node *n = &g->nodes[node];
    const fgq_ir_tensor *xt = &g->tensors[n->inputs[0]];
    v->node = node;
    v->input = n->inputs[0];
    v->groups = 1;
    if (!fgq_node_is(n, "Conv")) {
        int64_t numel = fgq_ir_tensor_numel(xt);
        if (xt->rank < 1 || xt->dims[xt->rank - 1] != v->k || numel <= 0)
            return 0;
        v->m = numel / v->k;
        return 1;
    }
    fgq_lowered_node low;
    fgq_error e2;
    fgq_error_clear(&e2);
    if (fgq_lower_node(g, node, &low, &e2) != FGQ_OK)
        return 0;
    const int32_t *ip = low.iparams;
    const fgq_ir_tensor *yt = &g->tensors[n->outputs[0]];
    int32_t nsp = ip[FGQ_P_NSPATIAL];
    if (nsp < 1 || nsp > 3 || xt->rank != nsp + 2 || yt->rank != nsp + 2)
        return 0;
    v->is_conv = 1;
    v->n = xt->dims[0];
    v->c = xt->dims[1];
    v->groups = ip[FGQ_P_GROUP] > 0 ? ip[FGQ_P_GROUP] : 1;
    for (int32_t d = 0; d < 3; d++) {
        int on = d < nsp;
        v->in[d] = on ? xt->dims[2 + d] : 1;
        v->out[d] = on ? yt->dims[2 + d] : 1;
        v->ker[d] = on ? ip[FGQ_P_KERNEL + d] : 1;
        v->str[d] = on ? ip[FGQ_P_STRIDE + d] : 1;
        v->dil[d] = on ? ip[FGQ_P_DILATION + d] : 1;
        v->pad[d] = on ? ip[FGQ_P_PAD_BEGIN + d] : 0;
    }
    int64_t kk = v->ker[0] * v->ker[1] * v->ker[2];
    return v->n >= 1 && v->c % v->groups == 0 && (v->c / v->groups) * kk == v->k && v->rows % v->groups == 0;
}

/* The tiles of fgq_hessian_syrk / fgq_hessian_cross: rows i0..i0+5 of a
 * against columns j0..j0+15 of b, every j0 (full) or from the multiple of
 * 16 at or below i0 (upper: a tile may reach below the diagonal, which
 * fgq_hessian_symmetrize overwrites), each sum in float over the block's
 * positions in order, one fused multiply-add per position (fmaf here, the
 * FMA instruction in the AVX2 form: the same rounding), then added to h in
 * double where i < k and j < k. Row tiles [t0, t1) (tile t: rows 6t..6t+5),
 * so that threads can take disjoint ones. */
static void tiles_ref(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *h, int upper,
                      int64_t t0, int64_t t1)
{
    for (int64_t i0 = 6 * t0; i0 < k && i0 < 6 * t1; i0 += 6)
        for (int64_t j0 = upper ? i0 / 16 * 16 : 0; j0 < k; j0 += 16) {
            float acc[6][16];
            memset(acc, 0, sizeof acc);
            for (int64_t p = 0; p < np; p++) {
                const float *ap = a + p * ld, *bp = b + p * ld;
                for (int r = 0; r < 6; r++) {
                    const float ar = ap[i0 + r];
                    for (int c = 0; c < 16; c++)
                        acc[r][c] = fmaf(ar, bp[j0 + c], acc[r][c]);
                }
            }
            for (int64_t r = 0; r < 6 && i0 + r < k; r++) {
                double *hr = h + (i0 + r) * k + j0;
                for (int64_t c = 0; c < 16 && j0 + c < k; c++)
                    hr[c] += (double)acc[r][c];
            }
        }
}

static int64_t row_tiles(int64_t k)
{
    return (k + 5) / 6;
}

void fgq_hessian_syrk_ref(const float *x, int64_t np, int64_t k, int64_t ld, double *h)
{
    tiles_ref(x, x, np, k, ld, h, 1, 0, row_tiles(k));
}

void fgq_hessian_cross_ref(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *p)
{
    tiles_ref(a, b, np, k, ld, p, 0, 0, row_tiles(k));
}

#if FGQ_HESSIAN_AVX2
#include <immintrin.h>

#define TILE_ROW(r)                                                                                             \
    do {                                                                                                        \
        const __m256 ar = _mm256_broadcast_ss(ap + i0 + (r));                                                   \
        c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);                                                             \
        c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);                                                             \
    } while (0)

__attribute__((target("avx2,fma"))) static void tiles_avx2(const float *a, const float *b, int64_t np, int64_t k,
                                                           int64_t ld, double *h, int upper, int64_t t0, int64_t t1)
{
    for (int64_t i0 = 6 * t0; i0 < k && i0 < 6 * t1; i0 += 6)
        for (int64_t j0 = upper ? i0 / 16 * 16 : 0; j0 < k; j0 += 16) {
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
            __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
            for (int64_t p = 0; p < np; p++) {
                const float *ap = a + p * ld, *bp = b + p * ld;
                const __m256 b0 = _mm256_loadu_ps(bp + j0), b1 = _mm256_loadu_ps(bp + j0 + 8);
                TILE_ROW(0);
                TILE_ROW(1);
                TILE_ROW(2);
                TILE_ROW(3);
                TILE_ROW(4);
                TILE_ROW(5);
            }
            float acc[6][16];
            _mm256_storeu_ps(acc[0], c00), _mm256_storeu_ps(acc[0] + 8, c01);
            _mm256_storeu_ps(acc[1], c10), _mm256_storeu_ps(acc[1] + 8, c11);
            _mm256_storeu_ps(acc[2], c20), _mm256_storeu_ps(acc[2] + 8, c21);
            _mm256_storeu_ps(acc[3], c30), _mm256_storeu_ps(acc[3] + 8, c31);
            _mm256_storeu_ps(acc[4], c40), _mm256_storeu_ps(acc[4] + 8, c41);
            _mm256_storeu_ps(acc[5], c50), _mm256_storeu_ps(acc[5] + 8, c51);
            for (int64_t r = 0; r < 6 && i0 + r < k; r++) {
                double *hr = h + (i0 + r) * k + j0;
                for (int64_t c = 0; c < 16 && j0 + c < k; c++)
                    hr[c] += (double)acc[r][c];
            }
        }
}
#undef TILE_ROW
#endif

int64_t fgq_hessian_ld(int64_t k)
{
    const int64_t rows6 = (k + 5) / 6 * 6;
    return ((rows6 > k ? rows6 : k) + 15) / 16 * 16;
}

static void tiles(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *h, int upper, int64_t t0,
                  int64_t t1)
{
#if FGQ_HESSIAN_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        tiles_avx2(a, b, np, k, ld, h, upper, t0, t1);
        return;
    }
#endif
    tiles_ref(a, b, np, k, ld, h, upper, t0, t1);
}

/* The row tiles over threads. Upper (syrk) tiles shrink down the matrix, so
 * task q takes the pair of row tiles q and n−1−q (equal work); every entry
 * is summed by the same operations whoever takes its tile, so the result is
 * the same bits for any thread count. */
typedef struct {
    const float *a, *b;
    int64_t np, k, ld;
    double *h;
    int upper;
} tiles_task;

static void tiles_part(void *ctx, fgq_idx q0, fgq_idx q1)
{
    const tiles_task *t = ctx;
    const int64_t n = row_tiles(t->k);
    for (int64_t q = q0; q < q1; q++) {
        if (!t->upper) {
            tiles(t->a, t->b, t->np, t->k, t->ld, t->h, 0, q, q + 1);
            continue;
        }
        tiles(t->a, t->b, t->np, t->k, t->ld, t->h, 1, q, q + 1);
        if (n - 1 - q != q)
            tiles(t->a, t->b, t->np, t->k, t->ld, t->h, 1, n - 1 - q, n - q);
    }
}

/* Threads pay off once a block holds this many multiply-adds. */
#define PAR_MIN_WORK ((int64_t)1 << 17)

static void tiles_run(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *h, int upper,
                      const fgq_parallel *par)
{
    const int64_t n = row_tiles(k), tasks = upper ? (n + 1) / 2 : n;
    tiles_task t = {a, b, np, k, ld, h, upper};
    if (par != NULL && par->parallel_for != NULL && par->n_threads > 1 && tasks > 1 && np * k * k >= PAR_MIN_WORK)
        par->parallel_for(par->impl, tasks, 1, tiles_part, &t);
    else
        tiles_part(&t, 0, tasks);
}

void fgq_hessian_syrk(const float *x, int64_t np, int64_t k, int64_t ld, double *h)
{
    tiles_run(x, x, np, k, ld, h, 1, NULL);
}

void fgq_hessian_cross(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *p)
{
    tiles_run(a, b, np, k, ld, p, 0, NULL);
}

#if FGQ_HESSIAN_AVX2
/* out[q·k + c] = src[c·plane + q] for channels c below a multiple of 8 (the
 * count done, returned) and positions q < np: 8x8 blocks transposed in
 * registers (a plain copy, so the same values as the scalar loop), the
 * positions past the last multiple of 8 one at a time. */
__attribute__((target("avx2"))) static int64_t transpose8_avx2(const float *src, int64_t plane, int64_t cg, int64_t np,
                                                               float *out, int64_t k)
{
    const int64_t c8 = cg / 8 * 8, q8 = np / 8 * 8;
    for (int64_t c = 0; c < c8; c += 8) {
        const float *s0 = src + c * plane;
        for (int64_t q = 0; q < q8; q += 8) {
            __m256 r0 = _mm256_loadu_ps(s0 + q), r1 = _mm256_loadu_ps(s0 + plane + q);
            __m256 r2 = _mm256_loadu_ps(s0 + 2 * plane + q), r3 = _mm256_loadu_ps(s0 + 3 * plane + q);
            __m256 r4 = _mm256_loadu_ps(s0 + 4 * plane + q), r5 = _mm256_loadu_ps(s0 + 5 * plane + q);
            __m256 r6 = _mm256_loadu_ps(s0 + 6 * plane + q), r7 = _mm256_loadu_ps(s0 + 7 * plane + q);
            const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *d = out + q * k + c;
            _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + k, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * k, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * k, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * k, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * k, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * k, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * k, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (int64_t cc = c; cc < c + 8; cc++)
            for (int64_t q = q8; q < np; q++)
                out[q * k + cc] = src[cc * plane + q];
    }
    return c8;
}
#endif

/* Per position of a block of up to POS_BLOCK output positions: where its
 * window starts in each dimension, that start as an offset in the input
 * plane, and whether the whole window is inside the input (then no tap needs
 * a bounds check). */
typedef struct {
    int64_t nq;
    int64_t base[3][POS_BLOCK], off[POS_BLOCK];
    unsigned char inside[POS_BLOCK];
} block_geom;

static void geom_of(const fgq_layer_view *v, int64_t p0, int64_t nq, block_geom *gm)
{
    const int64_t o12 = v->out[1] * v->out[2], t01 = v->in[1] * v->in[2];
    gm->nq = nq;
    /* the output coordinates of the block's first position, then stepped
     * (three 64-bit divisions per position cost more than a 3x3 window) */
    int64_t o0 = p0 / o12, o1 = (p0 / v->out[2]) % v->out[1], o2 = p0 % v->out[2];
    for (int64_t q = 0; q < nq; q++) {
        gm->base[0][q] = o0 * v->str[0] - v->pad[0];
        gm->base[1][q] = o1 * v->str[1] - v->pad[1];
        gm->base[2][q] = o2 * v->str[2] - v->pad[2];
        if (++o2 == v->out[2]) {
            o2 = 0;
            if (++o1 == v->out[1]) {
                o1 = 0;
                o0++;
            }
        }
        gm->off[q] = gm->base[0][q] * t01 + gm->base[1][q] * v->in[2] + gm->base[2][q];
        int in = 1;
        for (int d = 0; d < 3; d++)
            in = in && gm->base[d][q] >= 0 && gm->base[d][q] + (v->ker[d] - 1) * v->dil[d] < v->in[d];
        gm->inside[q] = (unsigned char)in;
    }
}

/* The kernel taps of one input channel plane pl at the block's positions:
 * tap t of position q to out[q·sq + t·st] (the [np, k] rows the tiles read:
 * sq = k, st = 1), padding as 0. Positions inner, so that reads run along the input
 * rows (a position-outer loop reads one float per channel plane, a cache
 * line apart: it took 44 % of an EfficientNet quantization). */
static void gather_taps(const fgq_layer_view *v, const float *pl, const block_geom *gm, float *out, int64_t sq,
                        int64_t st)
{
    const int64_t t01 = v->in[1] * v->in[2], nq = gm->nq;
    int64_t col = 0;
    for (int64_t a = 0; a < v->ker[0]; a++)
        for (int64_t e = 0; e < v->ker[1]; e++)
            for (int64_t f = 0; f < v->ker[2]; f++, col++) {
                const int64_t d0 = a * v->dil[0], d1 = e * v->dil[1], d2 = f * v->dil[2];
                const int64_t tap = d0 * t01 + d1 * v->in[2] + d2;
                float *o = out + col * st;
                for (int64_t q = 0; q < nq; q++) {
                    if (gm->inside[q]) {
                        o[q * sq] = pl[gm->off[q] + tap];
                        continue;
                    }
                    const int64_t i0 = gm->base[0][q] + d0, i1 = gm->base[1][q] + d1, i2 = gm->base[2][q] + d2;
                    const int in = i0 >= 0 && i0 < v->in[0] && i1 >= 0 && i1 < v->in[1] && i2 >= 0 && i2 < v->in[2];
                    o[q * sq] = in ? pl[(i0 * v->in[1] + i1) * v->in[2] + i2] : 0.0f;
                }
            }
}

/* The [np, k] im2col rows of positions p0.. of batch item b, group g (row
 * stride k), one input channel and kernel tap at a time (gather_taps). A 1x1
 * kernel with stride 1 and no padding is a transposed copy of the block. */
static void columns_ld(const fgq_layer_view *v, const float *x, int64_t b, int64_t g, int64_t p0, int64_t np,
                       float *out, int64_t k)
{
    const int64_t cg = v->c / v->groups, plane = v->in[0] * v->in[1] * v->in[2];
    const float *xg = x + (b * v->c + g * cg) * plane;
    int pointwise = v->ker[0] * v->ker[1] * v->ker[2] == 1;
    for (int d = 0; d < 3; d++)
        pointwise = pointwise && v->str[d] == 1 && v->pad[d] == 0 && v->out[d] == v->in[d];
    if (pointwise) {
        int64_t ci = 0;
#if FGQ_HESSIAN_AVX2
        if (__builtin_cpu_supports("avx2"))
            ci = transpose8_avx2(xg + p0, plane, cg, np, out, k);
#endif
        for (; ci < cg; ci++) {
            const float *src = xg + ci * plane + p0;
            for (int64_t q = 0; q < np; q++)
                out[q * k + ci] = src[q];
        }
        return;
    }
    block_geom gm;
    for (int64_t q0 = 0; q0 < np; q0 += POS_BLOCK) {
        const int64_t nq = np - q0 < POS_BLOCK ? np - q0 : POS_BLOCK;
        geom_of(v, p0 + q0, nq, &gm);
        float *blk = out + q0 * k;
        for (int64_t ci = 0; ci < cg; ci++)
            gather_taps(v, xg + ci * plane, &gm, blk + ci * v->ker[0] * v->ker[1] * v->ker[2], k, 1);
    }
}

void fgq_layer_columns(const fgq_layer_view *v, const float *x, int64_t b, int64_t g, int64_t p0, int64_t np,
                       float *out)
{
    columns_ld(v, x, b, g, p0, np, out, v->k);
}

/* The statistics read a layer's inputs in blocks of up to POS_BLOCK
 * positions, laid out [nb, ld] with the columns k..ld-1 zero (the shape
 * fgq_hessian_syrk's tiles read): per batch item and group, a convolution's
 * im2col rows; otherwise (one "batch item", one group) rows of the input. */
static int64_t block_items(const fgq_layer_view *v)
{
    return v->is_conv ? v->n : 1;
}

static int64_t block_positions(const fgq_layer_view *v)
{
    return v->is_conv ? v->out[0] * v->out[1] * v->out[2] : v->m;
}

static void block_rows(const fgq_layer_view *v, const float *x, int64_t b, int64_t g, int64_t p0, int64_t nb,
                       float *out, int64_t ld)
{
    if (v->is_conv) {
        columns_ld(v, x, b, g, p0, nb, out, ld);
        return;
    }
    for (int64_t q = 0; q < nb; q++)
        memcpy(out + q * ld, x + (p0 + q) * v->k, (size_t)v->k * sizeof(float));
}

/* Columns of a block over threads: positions [p0, p0 + nb) split in runs. */
typedef struct {
    const fgq_layer_view *v;
    const float *x;
    int64_t b, g, p0, nb, ld, run;
    float *cols;
} cols_task;

static void cols_part(void *ctx, fgq_idx r0, fgq_idx r1)
{
    const cols_task *t = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t q = r * t->run, n = t->nb - q < t->run ? t->nb - q : t->run;
        block_rows(t->v, t->x, t->b, t->g, t->p0 + q, n, t->cols + q * t->ld, t->ld);
    }
}

/* ---- depthwise layers: one input channel per group, a few taps --------------------------- */

/* A group's k (<= FGQ_HESSIAN_DW_MAX_K) taps over a block are small: the
 * [np, k] rows and 6x16 tiles would be mostly padding, and on the small maps
 * of late layers most positions' windows cross the border (a bounds check
 * per tap). So per group the input plane is copied once into a buffer with
 * its padding as real zeros; per block of up to 64 positions (the blocks of
 * the general path) the taps are gathered tap-major, T[t][q] (rows
 * POS_BLOCK apart, zero from nq up to nq8, the next multiple of 8), as
 * strided row copies, and
 *   h[a][b] += Σ_q T[a][q]·T[b][q]   (a <= b)
 * in eight float lanes (q mod 8), one fused multiply-add per position, the
 * lanes added ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)), then added to h in double
 * (the zero tail adds fma(0, 0, l) = l: no lane is ever −0). The AVX2+FMA
 * form gives the same bits as the plain C one (fmaf). Groups are spread over
 * threads: each group's h is its own, so any split gives the same bits. */
static void dw_pairs_ref(const float *T, int64_t k, int64_t nq8, double *h)
{
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = a; b < k; b++) {
            float l[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t q = 0; q < nq8; q++)
                l[q & 7] = fmaf(T[a * POS_BLOCK + q], T[b * POS_BLOCK + q], l[q & 7]);
            h[a * k + b] += (double)(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));
        }
}

#if FGQ_HESSIAN_AVX2
__attribute__((target("avx2,fma"))) static double lanes_sum(__m256 v)
{
    float l[8];
    _mm256_storeu_ps(l, v);
    return (double)(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));
}

__attribute__((target("avx2,fma"))) static void dw_pairs_avx2(const float *T, int64_t k, int64_t nq8, double *h)
{
    for (int64_t a = 0; a < k; a++) {
        const float *ta = T + a * POS_BLOCK;
        int64_t b = a;
        for (; b + 8 <= k; b += 8) { /* eight chains, their lanes summed together */
            const float *t0 = T + b * POS_BLOCK;
            __m256 c[8];
            for (int r = 0; r < 8; r++)
                c[r] = _mm256_setzero_ps();
            for (int64_t q = 0; q < nq8; q += 8) {
                const __m256 va = _mm256_loadu_ps(ta + q);
                for (int r = 0; r < 8; r++)
                    c[r] = _mm256_fmadd_ps(va, _mm256_loadu_ps(t0 + r * POS_BLOCK + q), c[r]);
            }
            /* hadd pairs lanes (l0+l1, l2+l3 | l4+l5, l6+l7), then those pairs: each 128-bit half holds
             * (l0+l1)+(l2+l3) resp. (l4+l5)+(l6+l7) of four chains; their sum is lanes_sum's order */
            const __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(c[0], c[1]), _mm256_hadd_ps(c[2], c[3]));
            const __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(c[4], c[5]), _mm256_hadd_ps(c[6], c[7]));
            const __m128 s0 = _mm_add_ps(_mm256_castps256_ps128(q0), _mm256_extractf128_ps(q0, 1));
            const __m128 s1 = _mm_add_ps(_mm256_castps256_ps128(q1), _mm256_extractf128_ps(q1, 1));
            double *hr = h + a * k + b;
            _mm256_storeu_pd(hr, _mm256_add_pd(_mm256_loadu_pd(hr), _mm256_cvtps_pd(s0)));
            _mm256_storeu_pd(hr + 4, _mm256_add_pd(_mm256_loadu_pd(hr + 4), _mm256_cvtps_pd(s1)));
        }
        for (; b + 4 <= k; b += 4) { /* four independent chains */
            const float *t0 = T + b * POS_BLOCK;
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t q = 0; q < nq8; q += 8) {
                const __m256 va = _mm256_loadu_ps(ta + q);
                c0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(t0 + q), c0);
                c1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(t0 + POS_BLOCK + q), c1);
                c2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(t0 + 2 * POS_BLOCK + q), c2);
                c3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(t0 + 3 * POS_BLOCK + q), c3);
            }
            h[a * k + b] += lanes_sum(c0);
            h[a * k + b + 1] += lanes_sum(c1);
            h[a * k + b + 2] += lanes_sum(c2);
            h[a * k + b + 3] += lanes_sum(c3);
        }
        for (; b < k; b++) {
            const float *tb = T + b * POS_BLOCK;
            __m256 c = _mm256_setzero_ps();
            for (int64_t q = 0; q < nq8; q += 8)
                c = _mm256_fmadd_ps(_mm256_loadu_ps(ta + q), _mm256_loadu_ps(tb + q), c);
            h[a * k + b] += lanes_sum(c);
        }
    }
}
#endif

void fgq_hessian_dw_pairs(const float *T, int64_t k, int64_t nq8, double *h, int simd)
{
#if FGQ_HESSIAN_AVX2
    if (simd && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dw_pairs_avx2(T, k, nq8, h);
        return;
    }
#else
    (void)simd;
#endif
    dw_pairs_ref(T, k, nq8, h);
}

/* A group's input plane with its padding made real (zeros), so that every
 * tap of every position reads inside it: dims pd[], the plane at offset
 * pad in each. */
typedef struct {
    int64_t pd[3];
} padded_dims;

static padded_dims padded_of(const fgq_layer_view *v)
{
    padded_dims p;
    for (int d = 0; d < 3; d++) {
        const int64_t need = (v->out[d] - 1) * v->str[d] + (v->ker[d] - 1) * v->dil[d] + 1;
        p.pd[d] = v->in[d] + v->pad[d] > need ? v->in[d] + v->pad[d] : need;
    }
    return p;
}

typedef struct {
    const fgq_layer_view *v;
    const float *xb; /* the batch item's channels */
    double *h;
    _Atomic int nomem; /* set by any task that runs out of memory */
} dw_task;

/* dst[i] = src[i·s], i < n (n <= POS_BLOCK): short runs, so written out here
 * (GCC turned the plain loop into a memcpy call per run: 21 % of a quantize). */
#if FGQ_HESSIAN_AVX2
__attribute__((target("avx2"))) static void copy_run_avx2(float *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
}
#endif

static void copy_run(float *dst, const float *src, int64_t n, int64_t s)
{
#if FGQ_HESSIAN_AVX2
    if (s == 1 && n >= 8 && __builtin_cpu_supports("avx2")) {
        copy_run_avx2(dst, src, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        dst[i] = src[i * s];
}

static void dw_groups(void *ctx, fgq_idx g0, fgq_idx g1)
{
    dw_task *t = ctx;
    const fgq_layer_view *v = t->v;
    const int64_t k = v->k, plane = v->in[0] * v->in[1] * v->in[2], np = block_positions(v);
    const padded_dims pd = padded_of(v);
    const int64_t pp = pd.pd[0] * pd.pd[1] * pd.pd[2], p12 = pd.pd[1] * pd.pd[2];
    float *P = malloc((size_t)pp * sizeof(float));
    if (P == NULL) {
        t->nomem = 1;
        return;
    }
    int64_t tap[FGQ_HESSIAN_DW_MAX_K], col = 0;
    for (int64_t a = 0; a < v->ker[0]; a++)
        for (int64_t e = 0; e < v->ker[1]; e++)
            for (int64_t f = 0; f < v->ker[2]; f++)
                tap[col++] = a * v->dil[0] * p12 + e * v->dil[1] * pd.pd[2] + f * v->dil[2];
    float T[FGQ_HESSIAN_DW_MAX_K * POS_BLOCK];
    for (int64_t g = g0; g < g1; g++) {
        const float *src = t->xb + g * plane;
        memset(P, 0, (size_t)pp * sizeof(float));
        for (int64_t i0 = 0; i0 < v->in[0]; i0++)
            for (int64_t i1 = 0; i1 < v->in[1]; i1++)
                memcpy(P + (i0 + v->pad[0]) * p12 + (i1 + v->pad[1]) * pd.pd[2] + v->pad[2],
                       src + (i0 * v->in[1] + i1) * v->in[2], (size_t)v->in[2] * sizeof(float));
        double *hg = t->h + g * k * k;
        for (int64_t p0 = 0; p0 < np; p0 += POS_BLOCK) {
            const int64_t nq = np - p0 < POS_BLOCK ? np - p0 : POS_BLOCK, nq8 = (nq + 7) / 8 * 8;
            /* runs of the block along output rows: position q at P offset base + (q − q0)·stride */
            int64_t o0 = p0 / (v->out[1] * v->out[2]), o1 = (p0 / v->out[2]) % v->out[1], o2 = p0 % v->out[2];
            for (int64_t q = 0; q < nq;) {
                const int64_t n = v->out[2] - o2 < nq - q ? v->out[2] - o2 : nq - q;
                const float *base = P + o0 * v->str[0] * p12 + o1 * v->str[1] * pd.pd[2] + o2 * v->str[2];
                const int64_t sw = v->str[2];
                for (int64_t c = 0; c < k; c++)
                    copy_run(T + c * POS_BLOCK + q, base + tap[c], n, sw);
                q += n;
                o2 = 0;
                if (++o1 == v->out[1]) {
                    o1 = 0;
                    o0++;
                }
            }
            for (int64_t c = 0; c < k; c++)
                for (int64_t q = nq; q < nq8; q++)
                    T[c * POS_BLOCK + q] = 0.0f;
            fgq_hessian_dw_pairs(T, k, nq8, hg, 1);
        }
    }
    free(P);
}

static int is_depthwise(const fgq_layer_view *v)
{
    return v->is_conv && v->c == v->groups && v->k <= FGQ_HESSIAN_DW_MAX_K;
}

static fgq_status hessian_add_dw(const fgq_layer_view *v, const float *x, double *h, const fgq_parallel *par,
                                 fgq_error *err)
{
    /* The view's spatial dims are left-aligned (a 2-D layer is H, W, 1): move
     * trailing unit dims to the front, so that rows (the runs and the plane's
     * row copies) lie along the last real dim. Positions and taps keep their
     * order. */
    fgq_layer_view rv = *v;
    int u = 0;
    while (u < 2 && rv.in[2 - u] == 1 && rv.out[2 - u] == 1 && rv.ker[2 - u] == 1 && rv.pad[2 - u] == 0)
        u++;
    for (int d = 2; d >= 0; d--) {
        const int from = d - u;
        rv.in[d] = from >= 0 ? v->in[from] : 1;
        rv.out[d] = from >= 0 ? v->out[from] : 1;
        rv.ker[d] = from >= 0 ? v->ker[from] : 1;
        rv.str[d] = from >= 0 ? v->str[from] : 1;
        rv.dil[d] = from >= 0 ? v->dil[from] : 1;
        rv.pad[d] = from >= 0 ? v->pad[from] : 0;
    }
    v = &rv;
    const int threaded = par != NULL && par->parallel_for != NULL && par->n_threads > 1 && v->groups > 1;
    for (int64_t b = 0; b < v->n; b++) {
        dw_task t = {v, x + b * v->c * v->in[0] * v->in[1] * v->in[2], h, 0};
        if (threaded)
            par->parallel_for(par->impl, v->groups, 4, dw_groups, &t);
        else
            dw_groups(&t, 0, v->groups);
        if (t.nomem)
            return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for an input plane of %lld",
                            (long long)(v->in[0] * v->in[1] * v->in[2]));
    }
    return FGQ_OK;
}

fgq_status fgq_hessian_add(const fgq_layer_view *v, const float *x, double *h, const fgq_parallel *par,
                           fgq_error *err)
{
    if (is_depthwise(v))
        return hessian_add_dw(v, x, h, par, err);
    const int64_t k = v->k, ld = fgq_hessian_ld(k), np = block_positions(v);
    float *cols = calloc((size_t)(POS_BLOCK * ld), sizeof(float));
    if (cols == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for input columns of %lld", (long long)k);
    const int threaded = par != NULL && par->parallel_for != NULL && par->n_threads > 1 &&
                         (int64_t)POS_BLOCK * k * k >= PAR_MIN_WORK;
    for (int64_t b = 0; b < block_items(v); b++)
        for (int64_t g = 0; g < v->groups; g++)
            for (int64_t p = 0; p < np; p += POS_BLOCK) {
                const int64_t nb = np - p < POS_BLOCK ? np - p : POS_BLOCK;
                if (threaded && nb >= 16) {
                    const int64_t run = (nb + par->n_threads - 1) / par->n_threads;
                    cols_task ct = {v, x, b, g, p, nb, ld, run, cols};
                    par->parallel_for(par->impl, (nb + run - 1) / run, 1, cols_part, &ct);
                } else {
                    block_rows(v, x, b, g, p, nb, cols, ld);
                }
                tiles_run(cols, cols, nb, k, ld, h + g * k * k, 1, threaded ? par : NULL);
            }
    free(cols);
    return FGQ_OK;
}

static void column_sums(const float *a, int64_t nq, int64_t k, int64_t ld, double *s)
{
    for (int64_t q = 0; q < nq; q++)
        for (int64_t c = 0; c < k; c++)
            s[c] += (double)a[q * ld + c];
}

int64_t fgq_layer_positions(const fgq_layer_view *v)
{
    return v->is_conv ? v->n * v->out[0] * v->out[1] * v->out[2] : v->m;
}

fgq_status fgq_hessian_add_cross(const fgq_layer_view *v, const float *x, const float *xt, double *p, double *sx,
                                 double *sxt, fgq_error *err)
{
    const int64_t k = v->k, ld = fgq_hessian_ld(k);
    float *ca = calloc((size_t)(2 * POS_BLOCK * ld), sizeof(float));
    if (ca == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for input columns of %lld", (long long)k);
    float *cb = ca + POS_BLOCK * ld;
    const int64_t np = block_positions(v);
    for (int64_t b = 0; b < block_items(v); b++)
        for (int64_t g = 0; g < v->groups; g++)
            for (int64_t q = 0; q < np; q += POS_BLOCK) {
                const int64_t nq = np - q < POS_BLOCK ? np - q : POS_BLOCK;
                block_rows(v, x, b, g, q, nq, ca, ld);
                block_rows(v, xt, b, g, q, nq, cb, ld);
                if (p != NULL)
                    fgq_hessian_cross(ca, cb, nq, k, ld, p + g * k * k);
                column_sums(ca, nq, k, ld, sx + g * k);
                column_sums(cb, nq, k, ld, sxt + g * k);
            }
    free(ca);
    return FGQ_OK;
}

void fgq_hessian_symmetrize(double *h, int64_t groups, int64_t k)
{
    for (int64_t g = 0; g < groups; g++) {
        double *hg = h + g * k * k;
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < i; j++)
                hg[i * k + j] = hg[j * k + i];
    }
}

void fgq_hessians_free(fgq_hessians *hs)
{
    if (hs == NULL)
        return;
    for (int32_t i = 0; hs->layer != NULL && i < hs->n_nodes; i++) {
        if (hs->layer[i] == NULL)
            continue;
        free(hs->layer[i]->h[0]);
        free(hs->layer[i]->h[1]);
        free(hs->layer[i]);
    }
    free(hs->layer);
    memset(hs, 0, sizeof *hs);
}

/* Adds tensor t's values (one sample) to every layer reading it. */
static void add_tensor(fgq_hessian_sweep *o, int32_t t, const float *x, int64_t numel)
{
    for (int32_t i = 0; i < o->hs->n_nodes && o->st == FGQ_OK; i++) {
        fgq_layer_hessian *l = o->hs->layer[i];
        if (l == NULL || l->view.input != t || numel != fgq_ir_tensor_numel(&o->g->tensors[t]))
            continue;
        o->st = fgq_hessian_add(&l->view, x, l->h[o->part], o->par, o->err);
    }
}

static void observe(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    fgq_hessian_sweep *o = user;
    if (node < 0 || node >= o->g->n_nodes || o->st != FGQ_OK)
        return;
    const fgq_ir_node *nd = &o->g->nodes[node];
    for (int32_t k = 0; k < n_outputs && k < nd->n_outputs; k++) {
        if (outputs[k] == NULL || outputs[k]->dtype != FGQ_DT_F32 || nd->outputs[k] < 0)
            continue;
        int64_t n = 1;
        for (int32_t d = 0; d < outputs[k]->rank; d++)
            n *= outputs[k]->dims[d];
        add_tensor(o, nd->outputs[k], outputs[k]->data, n);
    }
}

static fgq_status on_input(void *user, int64_t sample, const void *const *x, fgq_error *err)
{
    (void)err;
    fgq_hessian_sweep *o = user;
    o->part = o->n_samples >= FGQ_HESSIAN_VAL_EVERY && sample % FGQ_HESSIAN_VAL_EVERY == FGQ_HESSIAN_VAL_EVERY - 1
                  ? FGQ_H_VAL
                  : FGQ_H_FIT;
    for (int32_t k = 0; k < o->g->n_inputs && o->st == FGQ_OK; k++) /* a layer reading a graph input directly */
        if (o->g->tensors[o->g->inputs[k]].dtype == FGQ_DT_F32)
            add_tensor(o, o->g->inputs[k], x[k], fgq_ir_tensor_numel(&o->g->tensors[o->g->inputs[k]]));
    return o->st;
}

static void on_bind(void *user, const fgq_parallel *par)
{
    ((fgq_hessian_sweep *)user)->par = par;
}

static fgq_status on_after(void *user, int64_t sample, fgq_error *err)
{
    (void)sample;
    (void)err;
    fgq_hessian_sweep *o = user;
    if (o->st == FGQ_OK)
        for (int32_t i = 0; i < o->hs->n_nodes; i++)
            if (o->hs->layer[i] != NULL)
                o->hs->layer[i]->samples[o->part]++;
    return o->st;
}

fgq_status fgq_hessians_begin(fgq_hessian_sweep *o, fgq_hessians *hs, const fgq_graph *g, int64_t n_samples,
                              fgq_error *err, fgq_sweep_observer *out)
{
    memset(hs, 0, sizeof *hs);
    memset(o, 0, sizeof *o);
    hs->n_nodes = g->n_nodes;
    hs->layer = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), sizeof *hs->layer);
    fgq_status st = hs->layer == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: out of memory") : FGQ_OK;
    for (int32_t i = 0; st == FGQ_OK && i < g->n_nodes; i++) {
        fgq_layer_view v;
        if (!fgq_layer_view_of(g, i, &v))
            continue;
        const int64_t per = v.groups * v.k * v.k;
        if (v.k > 65536 || per > FGQ_HESSIAN_MAX_BYTES / 16)
            continue;
        fgq_layer_hessian *l = calloc(1, sizeof *l);
        if (l == NULL || (l->h[0] = calloc((size_t)per, sizeof(double))) == NULL ||
            (l->h[1] = calloc((size_t)per, sizeof(double))) == NULL) {
            if (l != NULL) {
                free(l->h[0]);
                free(l);
            }
            st = fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for the input statistics of layer '%s'",
                          g->nodes[i].name);
            break;
        }
        l->view = v;
        hs->layer[i] = l;
    }
    if (st != FGQ_OK) {
        fgq_hessians_free(hs);
        return st;
    }
    o->g = g;
    o->hs = hs;
    o->n_samples = n_samples;
    o->err = err;
    out->input = on_input;
    out->node = observe;
    out->after = on_after;
    out->bind = on_bind;
    out->user = o;
    return FGQ_OK;
}

void fgq_hessians_finish(fgq_hessian_sweep *o)
{
    for (int32_t i = 0; i < o->hs->n_nodes; i++) {
        fgq_layer_hessian *l = o->hs->layer[i];
        if (l == NULL)
            continue;
        fgq_hessian_symmetrize(l->h[0], l->view.groups, l->view.k);
        fgq_hessian_symmetrize(l->h[1], l->view.groups, l->view.k);
    }
}

fgq_status fgq_hessians_run(fgq_hessians *hs, const fgq_graph *g, const fgq_samples *samples,
                            fgq_calib_progress progress, void *user, fgq_error *err)
{
    const int64_t n_samples = samples->n;
    if (n_samples < 1) {
        memset(hs, 0, sizeof *hs);
        return fgq_fail(err, FGQ_ERR_VALUE, "error compensation: no samples");
    }
    fgq_hessian_sweep o;
    fgq_sweep_observer so;
    fgq_status st = fgq_hessians_begin(&o, hs, g, n_samples, err, &so);
    if (st != FGQ_OK)
        return st;
    st = fgq_graph_sweep(g, samples, &so, 1, 1, progress, user, err);
    if (st == FGQ_OK)
        fgq_hessians_finish(&o);
    else
        fgq_hessians_free(hs);
    return st;
}
