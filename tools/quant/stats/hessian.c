/* hessian.c — per-layer input second moments for the solver; see hessian.h. */
#include "quant/stats/hessian.h"

#include "lower/lower.h"
#include "run/run_graph.h"
#include "quant/format/weights.h"

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
 * positions in order, a product then an add (no FMA: the project builds
 * with -std=c11, so the plain C does not contract either), then added to h
 * in double where i < k and j < k. */
static void tiles_ref(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *h, int upper)
{
    for (int64_t i0 = 0; i0 < k; i0 += 6)
        for (int64_t j0 = upper ? i0 / 16 * 16 : 0; j0 < k; j0 += 16) {
            float acc[6][16];
            memset(acc, 0, sizeof acc);
            for (int64_t p = 0; p < np; p++) {
                const float *ap = a + p * ld, *bp = b + p * ld;
                for (int r = 0; r < 6; r++) {
                    const float ar = ap[i0 + r];
                    for (int c = 0; c < 16; c++)
                        acc[r][c] += ar * bp[j0 + c];
                }
            }
            for (int64_t r = 0; r < 6 && i0 + r < k; r++) {
                double *hr = h + (i0 + r) * k + j0;
                for (int64_t c = 0; c < 16 && j0 + c < k; c++)
                    hr[c] += (double)acc[r][c];
            }
        }
}

void fgq_hessian_syrk_ref(const float *x, int64_t np, int64_t k, int64_t ld, double *h)
{
    tiles_ref(x, x, np, k, ld, h, 1);
}

void fgq_hessian_cross_ref(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *p)
{
    tiles_ref(a, b, np, k, ld, p, 0);
}

#if FGQ_HESSIAN_AVX2
#include <immintrin.h>

#define TILE_ROW(r)                                                                                             \
    do {                                                                                                        \
        const __m256 ar = _mm256_broadcast_ss(ap + i0 + (r));                                                   \
        c##r##0 = _mm256_add_ps(c##r##0, _mm256_mul_ps(ar, b0));                                                \
        c##r##1 = _mm256_add_ps(c##r##1, _mm256_mul_ps(ar, b1));                                                \
    } while (0)

__attribute__((target("avx2"))) static void tiles_avx2(const float *a, const float *b, int64_t np, int64_t k,
                                                       int64_t ld, double *h, int upper)
{
    for (int64_t i0 = 0; i0 < k; i0 += 6)
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

static void tiles(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *h, int upper)
{
#if FGQ_HESSIAN_AVX2
    if (__builtin_cpu_supports("avx2")) {
        tiles_avx2(a, b, np, k, ld, h, upper);
        return;
    }
#endif
    tiles_ref(a, b, np, k, ld, h, upper);
}

void fgq_hessian_syrk(const float *x, int64_t np, int64_t k, int64_t ld, double *h)
{
    tiles(x, x, np, k, ld, h, 1);
}

void fgq_hessian_cross(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *p)
{
    tiles(a, b, np, k, ld, p, 0);
}

/* Written one input channel and kernel tap at a time, positions inner, so
 * that reads run along the input rows (a position-outer loop reads one float
 * per channel plane, a cache line apart: it took 44 % of an EfficientNet
 * quantization). A 1x1 kernel with stride 1 and no padding is a transposed
 * copy of the block. */
static void columns_ld(const fgq_layer_view *v, const float *x, int64_t b, int64_t g, int64_t p0, int64_t np,
                       float *out, int64_t k)
{
    const int64_t cg = v->c / v->groups, plane = v->in[0] * v->in[1] * v->in[2];
    const int64_t o12 = v->out[1] * v->out[2];
    const float *xg = x + (b * v->c + g * cg) * plane;
    int pointwise = v->ker[0] * v->ker[1] * v->ker[2] == 1;
    for (int d = 0; d < 3; d++)
        pointwise = pointwise && v->str[d] == 1 && v->pad[d] == 0 && v->out[d] == v->in[d];
    if (pointwise) {
        for (int64_t ci = 0; ci < cg; ci++) {
            const float *src = xg + ci * plane + p0;
            for (int64_t q = 0; q < np; q++)
                out[q * k + ci] = src[q];
        }
        return;
    }
    /* per position of the block: where its window starts in each dimension,
     * that start as an offset in the plane, and whether the whole window is
     * inside the input (then no tap needs a bounds check) */
    int64_t base[3][64], off[64];
    unsigned char inside[64];
    const int64_t t01 = v->in[1] * v->in[2];
    for (int64_t q0 = 0; q0 < np; q0 += 64) {
        const int64_t nq = np - q0 < 64 ? np - q0 : 64;
        /* the output coordinates of the block's first position, then stepped
         * (three 64-bit divisions per position cost more than a 3x3 window) */
        int64_t o0 = (p0 + q0) / o12, o1 = ((p0 + q0) / v->out[2]) % v->out[1], o2 = (p0 + q0) % v->out[2];
        for (int64_t q = 0; q < nq; q++) {
            base[0][q] = o0 * v->str[0] - v->pad[0];
            base[1][q] = o1 * v->str[1] - v->pad[1];
            base[2][q] = o2 * v->str[2] - v->pad[2];
            if (++o2 == v->out[2]) {
                o2 = 0;
                if (++o1 == v->out[1]) {
                    o1 = 0;
                    o0++;
                }
            }
            off[q] = base[0][q] * t01 + base[1][q] * v->in[2] + base[2][q];
            int in = 1;
            for (int d = 0; d < 3; d++)
                in = in && base[d][q] >= 0 && base[d][q] + (v->ker[d] - 1) * v->dil[d] < v->in[d];
            inside[q] = (unsigned char)in;
        }
        float *blk = out + q0 * k;
        int64_t col = 0;
        for (int64_t ci = 0; ci < cg; ci++) {
            const float *pl = xg + ci * plane;
            for (int64_t a = 0; a < v->ker[0]; a++)
                for (int64_t e = 0; e < v->ker[1]; e++)
                    for (int64_t f = 0; f < v->ker[2]; f++, col++) {
                        const int64_t d0 = a * v->dil[0], d1 = e * v->dil[1], d2 = f * v->dil[2];
                        const int64_t tap = d0 * t01 + d1 * v->in[2] + d2;
                        for (int64_t q = 0; q < nq; q++) {
                            if (inside[q]) {
                                blk[q * k + col] = pl[off[q] + tap];
                                continue;
                            }
                            const int64_t i0 = base[0][q] + d0, i1 = base[1][q] + d1, i2 = base[2][q] + d2;
                            const int in = i0 >= 0 && i0 < v->in[0] && i1 >= 0 && i1 < v->in[1] && i2 >= 0 &&
                                           i2 < v->in[2];
                            blk[q * k + col] = in ? pl[(i0 * v->in[1] + i1) * v->in[2] + i2] : 0.0f;
                        }
                    }
        }
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

fgq_status fgq_hessian_add(const fgq_layer_view *v, const float *x, double *h, fgq_error *err)
{
    const int64_t k = v->k, ld = fgq_hessian_ld(k), np = block_positions(v);
    float *cols = calloc((size_t)(POS_BLOCK * ld), sizeof(float));
    if (cols == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for input columns of %lld", (long long)k);
    for (int64_t b = 0; b < block_items(v); b++)
        for (int64_t g = 0; g < v->groups; g++)
            for (int64_t p = 0; p < np; p += POS_BLOCK) {
                const int64_t nb = np - p < POS_BLOCK ? np - p : POS_BLOCK;
                block_rows(v, x, b, g, p, nb, cols, ld);
                fgq_hessian_syrk(cols, nb, k, ld, h + g * k * k);
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
        o->st = fgq_hessian_add(&l->view, x, l->h[o->part], o->err);
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
