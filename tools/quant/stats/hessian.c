/* hessian.c — per-layer input second moments for the solver; see hessian.h. */
#include "quant/stats/hessian.h"

#include "lower/lower.h"
#include "run/run_graph.h"
#include "quant/format/weights.h"

#include <stdlib.h>
#include <string.h>

#define POS_BLOCK 64

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

/* h (upper, k x k) += Σ_p x[p]·x[p]ᵀ over np rows of x [np, k]: products of
 * the block summed in float tiles of 4 x 32, then added to h. The tile loop
 * is plain C; on x86 GCC also builds an AVX2+FMA clone, picked at load. */
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
static void syrk_block(const float *x, int64_t np, int64_t k, double *h)
{
    for (int64_t i0 = 0; i0 < k; i0 += 4) {
        const int64_t ni = k - i0 < 4 ? k - i0 : 4;
        for (int64_t j0 = i0; j0 < k; j0 += 32) {
            const int64_t nj = k - j0 < 32 ? k - j0 : 32;
            float acc[4][32];
            memset(acc, 0, sizeof acc);
            if (ni == 4 && nj == 32) {
                for (int64_t p = 0; p < np; p++) {
                    const float *xp = x + p * k;
                    for (int r = 0; r < 4; r++) {
                        const float a = xp[i0 + r];
                        for (int c = 0; c < 32; c++)
                            acc[r][c] += a * xp[j0 + c];
                    }
                }
            } else {
                for (int64_t p = 0; p < np; p++) {
                    const float *xp = x + p * k;
                    for (int64_t r = 0; r < ni; r++) {
                        const float a = xp[i0 + r];
                        for (int64_t c = 0; c < nj; c++)
                            acc[r][c] += a * xp[j0 + c];
                    }
                }
            }
            for (int64_t r = 0; r < ni; r++) {
                double *hr = h + (i0 + r) * k + j0;
                for (int64_t c = 0; c < nj; c++)
                    hr[c] += (double)acc[r][c];
            }
        }
    }
}

void fgq_layer_columns(const fgq_layer_view *v, const float *x, int64_t b, int64_t g, int64_t p0, int64_t np,
                         float *out)
{
    const int64_t cg = v->c / v->groups, plane = v->in[0] * v->in[1] * v->in[2];
    const int64_t o12 = v->out[1] * v->out[2];
    for (int64_t q = 0; q < np; q++) {
        const int64_t p = p0 + q;
        const int64_t o0 = p / o12, o1 = (p / v->out[2]) % v->out[1], o2 = p % v->out[2];
        float *row = out + q * v->k;
        int64_t col = 0;
        for (int64_t ci = 0; ci < cg; ci++) {
            const float *pl = x + (b * v->c + g * cg + ci) * plane;
            for (int64_t a = 0; a < v->ker[0]; a++) {
                const int64_t i0 = o0 * v->str[0] - v->pad[0] + a * v->dil[0];
                const int in0 = i0 >= 0 && i0 < v->in[0];
                for (int64_t e = 0; e < v->ker[1]; e++) {
                    const int64_t i1 = o1 * v->str[1] - v->pad[1] + e * v->dil[1];
                    const int in1 = in0 && i1 >= 0 && i1 < v->in[1];
                    for (int64_t f = 0; f < v->ker[2]; f++, col++) {
                        const int64_t i2 = o2 * v->str[2] - v->pad[2] + f * v->dil[2];
                        row[col] = in1 && i2 >= 0 && i2 < v->in[2] ? pl[(i0 * v->in[1] + i1) * v->in[2] + i2] : 0.0f;
                    }
                }
            }
        }
    }
}

fgq_status fgq_hessian_add(const fgq_layer_view *v, const float *x, double *h, fgq_error *err)
{
    if (!v->is_conv) {
        for (int64_t p = 0; p < v->m; p += POS_BLOCK)
            syrk_block(x + p * v->k, v->m - p < POS_BLOCK ? v->m - p : POS_BLOCK, v->k, h);
        return FGQ_OK;
    }
    float *cols = malloc((size_t)(POS_BLOCK * v->k) * sizeof(float));
    if (cols == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for input columns of %lld", (long long)v->k);
    const int64_t np = v->out[0] * v->out[1] * v->out[2];
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t g = 0; g < v->groups; g++)
            for (int64_t p = 0; p < np; p += POS_BLOCK) {
                const int64_t nb = np - p < POS_BLOCK ? np - p : POS_BLOCK;
                fgq_layer_columns(v, x, b, g, p, nb, cols);
                syrk_block(cols, nb, v->k, h + g * v->k * v->k);
            }
    free(cols);
    return FGQ_OK;
}

/* p (k x k, full) += Σ_q a[q]ᵀ·b[q] over nq rows of a, b [nq, k]; float per block, then double. */
static void cross_block(const float *a, const float *b, int64_t nq, int64_t k, double *p)
{
    float acc[32];
    for (int64_t i = 0; i < k; i++)
        for (int64_t j0 = 0; j0 < k; j0 += 32) {
            const int64_t nj = k - j0 < 32 ? k - j0 : 32;
            memset(acc, 0, sizeof acc);
            for (int64_t q = 0; q < nq; q++) {
                const float ai = a[q * k + i];
                if (ai == 0.0f)
                    continue;
                const float *bq = b + q * k + j0;
                for (int64_t c = 0; c < nj; c++)
                    acc[c] += ai * bq[c];
            }
            double *pr = p + i * k + j0;
            for (int64_t c = 0; c < nj; c++)
                pr[c] += (double)acc[c];
        }
}

static void column_sums(const float *a, int64_t nq, int64_t k, double *s)
{
    for (int64_t q = 0; q < nq; q++)
        for (int64_t c = 0; c < k; c++)
            s[c] += (double)a[q * k + c];
}

int64_t fgq_layer_positions(const fgq_layer_view *v)
{
    return v->is_conv ? v->n * v->out[0] * v->out[1] * v->out[2] : v->m;
}

fgq_status fgq_hessian_add_cross(const fgq_layer_view *v, const float *x, const float *xt, double *p, double *sx,
                                 double *sxt, fgq_error *err)
{
    if (!v->is_conv) {
        for (int64_t q = 0; q < v->m; q += POS_BLOCK) {
            const int64_t nq = v->m - q < POS_BLOCK ? v->m - q : POS_BLOCK;
            if (p != NULL)
                cross_block(x + q * v->k, xt + q * v->k, nq, v->k, p);
            column_sums(x + q * v->k, nq, v->k, sx);
            column_sums(xt + q * v->k, nq, v->k, sxt);
        }
        return FGQ_OK;
    }
    float *ca = malloc((size_t)(2 * POS_BLOCK * v->k) * sizeof(float));
    if (ca == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for input columns of %lld", (long long)v->k);
    float *cb = ca + POS_BLOCK * v->k;
    const int64_t np = v->out[0] * v->out[1] * v->out[2];
    for (int64_t b = 0; b < v->n; b++)
        for (int64_t g = 0; g < v->groups; g++)
            for (int64_t q = 0; q < np; q += POS_BLOCK) {
                const int64_t nq = np - q < POS_BLOCK ? np - q : POS_BLOCK;
                fgq_layer_columns(v, x, b, g, q, nq, ca);
                fgq_layer_columns(v, xt, b, g, q, nq, cb);
                if (p != NULL)
                    cross_block(ca, cb, nq, v->k, p + g * v->k * v->k);
                column_sums(ca, nq, v->k, sx + g * v->k);
                column_sums(cb, nq, v->k, sxt + g * v->k);
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

static fgq_status on_input(void *user, int64_t sample, const float *x, int64_t numel, fgq_error *err)
{
    (void)err;
    fgq_hessian_sweep *o = user;
    o->part = o->n_samples >= FGQ_HESSIAN_VAL_EVERY && sample % FGQ_HESSIAN_VAL_EVERY == FGQ_HESSIAN_VAL_EVERY - 1
                  ? FGQ_H_VAL
                  : FGQ_H_FIT;
    add_tensor(o, o->g->inputs[0], x, numel);
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
    if (g->n_inputs != 1)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "error compensation: the model has %d inputs (only one is supported)",
                        (int)g->n_inputs);
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

fgq_status fgq_hessians_run(fgq_hessians *hs, const fgq_graph *g, const float *data, int64_t n_samples,
                            fgq_calib_progress progress, void *user, fgq_error *err)
{
    if (n_samples < 1) {
        memset(hs, 0, sizeof *hs);
        return fgq_fail(err, FGQ_ERR_VALUE, "error compensation: no samples");
    }
    fgq_hessian_sweep o;
    fgq_sweep_observer so;
    fgq_status st = fgq_hessians_begin(&o, hs, g, n_samples, err, &so);
    if (st != FGQ_OK)
        return st;
    st = fgq_graph_sweep(g, data, n_samples, &so, 1, 1, progress, user, err);
    if (st == FGQ_OK)
        fgq_hessians_finish(&o);
    else
        fgq_hessians_free(hs);
    return st;
}
