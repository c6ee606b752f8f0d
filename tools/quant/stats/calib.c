/* calib.c — activation statistics (running min/max, a growing histogram) and the observers on them. */
#include "quant/stats/calib.h"

#include "run/run_graph.h"
#include "quant/affine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fgq_status fgq_observer_parse(const char *text, fgq_observer *out, fgq_error *err)
{
    out->kind = FGQ_OBS_MINMAX;
    out->percentile = 99.99;
    if (text == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "no observer given");
    if (strcmp(text, "minmax") == 0)
        return FGQ_OK;
    if (strcmp(text, "mse") == 0) {
        out->kind = FGQ_OBS_MSE;
        return FGQ_OK;
    }
    if (strncmp(text, "percentile", 10) == 0 && (text[10] == '\0' || text[10] == ':')) {
        out->kind = FGQ_OBS_PERCENTILE;
        if (text[10] == ':') {
            char *end = NULL;
            double p = strtod(text + 11, &end);
            if (end == text + 11 || *end != '\0' || !(p > 50.0 && p <= 100.0))
                return fgq_fail(err, FGQ_ERR_VALUE, "observer '%s': the percentile must be a number in (50, 100]",
                                text);
            out->percentile = p;
        }
        return FGQ_OK;
    }
    return fgq_fail(err, FGQ_ERR_VALUE, "unknown observer '%s' (expected minmax, mse, percentile or percentile:P)",
                    text);
}

/* floor(a / 2) for any sign. */
static int64_t floor_half(int64_t a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

/* Doubles the bin width, merging pairs of bins (absolute index b -> floor(b/2)).
 * The merged bins fill half of the new histogram; the free half goes to the
 * side that needs room (dir < 0 left, > 0 right, 0 a quarter each side). */
static void grow(fgq_tensor_stats *s, int dir)
{
    double merged[FGQ_CALIB_BINS];
    memset(merged, 0, sizeof merged);
    int64_t lo = floor_half(s->off), hi = floor_half(s->off + FGQ_CALIB_BINS - 1);
    int64_t noff = dir > 0 ? lo : dir < 0 ? hi - FGQ_CALIB_BINS + 1 : lo - (FGQ_CALIB_BINS - 1 - (hi - lo)) / 2;
    for (int64_t i = 0; i < FGQ_CALIB_BINS; i++)
        merged[floor_half(s->off + i) - noff] += s->bins[i];
    memcpy(s->bins, merged, sizeof merged);
    s->off = noff;
    s->width *= 2.0;
}

static int64_t bin_of(const fgq_tensor_stats *s, double x)
{
    return (int64_t)floor(x / s->width);
}


fgq_status fgq_stats_observe_f32(fgq_tensor_stats *s, const float *x, int64_t n, const char *name, fgq_error *err)
{
    if (n <= 0)
        return FGQ_OK;
    double bmin = INFINITY, bmax = -INFINITY;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            return fgq_fail(err, FGQ_ERR_VALUE, "calibration: tensor '%s' holds NaN at element %lld",
                            name ? name : "?", (long long)i);
        if (isinf(x[i])) {
            bad++;
            s->n_inf++;
            continue;
        }
        bmin = x[i] < bmin ? x[i] : bmin;
        bmax = x[i] > bmax ? x[i] : bmax;
    }
    if (bad == n)
        return FGQ_OK;
    if (s->count == 0) {
        s->min = bmin;
        s->max = bmax;
    } else {
        s->min = bmin < s->min ? bmin : s->min;
        s->max = bmax > s->max ? bmax : s->max;
    }
    if (s->width == 0.0 && (bmin != 0.0 || bmax != 0.0)) {
        /* First non-zero data: span [min(bmin,0), max(bmax,0)] with a little headroom. */
        double lo = bmin < 0.0 ? bmin : 0.0, hi = bmax > 0.0 ? bmax : 0.0;
        s->width = (hi - lo) / FGQ_CALIB_BINS * (1.0 + 1e-6);
        if (!(s->width > 0.0))
            s->width = 1e-30;
        s->off = (int64_t)floor(lo / s->width);
        /* everything before was exactly 0 */
        if (s->count > 0)
            s->bins[bin_of(s, 0.0) - s->off] += (double)s->count;
    }
    if (s->width > 0.0) {
        for (;;) {
            int left = bin_of(s, bmin) < s->off, right = bin_of(s, bmax) >= s->off + FGQ_CALIB_BINS;
            if (!left && !right)
                break;
            grow(s, left && right ? 0 : left ? -1 : 1);
        }
        for (int64_t i = 0; i < n; i++)
            if (isfinite(x[i]))
                s->bins[bin_of(s, x[i]) - s->off] += 1.0;
    }
    s->count += n - bad;
    return FGQ_OK;
}

fgq_status fgq_calib_init(fgq_calib *c, const fgq_graph *g, fgq_error *err)
{
    memset(c, 0, sizeof *c);
    c->stats = calloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1), sizeof *c->stats);
    if (c->stats == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "calibration: out of memory");
    c->n_tensors = g->n_tensors;
    for (int32_t t = 0; t < g->n_tensors; t++) {
        const fgq_ir_tensor *x = &g->tensors[t];
        if (x->dtype != FGQ_DT_F32 || x->kind == FGQ_TK_CONST)
            continue;
        if (x->kind == FGQ_TK_INTERMEDIATE && x->producer < 0)
            continue;
        c->stats[t].bins = calloc(FGQ_CALIB_BINS, sizeof(double));
        if (c->stats[t].bins == NULL) {
            fgq_calib_free(c);
            return fgq_fail(err, FGQ_ERR_NOMEM, "calibration: out of memory");
        }
    }
    return FGQ_OK;
}

void fgq_calib_free(fgq_calib *c)
{
    if (c == NULL)
        return;
    for (int32_t t = 0; c->stats != NULL && t < c->n_tensors; t++)
        free(c->stats[t].bins);
    free(c->stats);
    memset(c, 0, sizeof *c);
}

static void calib_observer(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    fgq_calib_sweep *o = user;
    if (o->st != FGQ_OK || node < 0 || node >= o->g->n_nodes || n_outputs < 1)
        return;
    /* every output (Split, LayerNormalization's statistics): the runtime node keeps the ONNX order */
    for (int32_t k = 0; k < n_outputs && k < o->g->nodes[node].n_outputs && o->st == FGQ_OK; k++) {
        const int32_t t = o->g->nodes[node].outputs[k];
        if (t < 0 || t >= o->c->n_tensors || o->c->stats[t].bins == NULL || outputs[k] == NULL ||
            outputs[k]->dtype != FGQ_DT_F32)
            continue;
        int64_t n = 1;
        for (int32_t d = 0; d < outputs[k]->rank; d++)
            n *= outputs[k]->dims[d];
        o->st = fgq_stats_observe_f32(&o->c->stats[t], outputs[k]->data, n, o->g->tensors[t].name, o->err);
    }
}

static fgq_status calib_input(void *user, int64_t sample, const void *const *x, fgq_error *err)
{
    (void)sample;
    fgq_calib_sweep *o = user;
    fgq_status st = FGQ_OK;
    for (int32_t k = 0; k < o->g->n_inputs && st == FGQ_OK; k++) { /* the float inputs: only they are tracked */
        const int32_t in_t = o->g->inputs[k];
        if (o->c->stats[in_t].bins != NULL && o->g->tensors[in_t].dtype == FGQ_DT_F32)
            st = fgq_stats_observe_f32(&o->c->stats[in_t], x[k], fgq_ir_tensor_numel(&o->g->tensors[in_t]),
                                       o->g->tensors[in_t].name, err);
    }
    return st;
}

static fgq_status calib_after(void *user, int64_t sample, fgq_error *err)
{
    (void)sample;
    (void)err;
    return ((fgq_calib_sweep *)user)->st;
}

void fgq_calib_sweep_observer(fgq_calib_sweep *o, fgq_calib *c, const fgq_graph *g, fgq_error *err,
                              fgq_sweep_observer *out)
{
    o->c = c;
    o->g = g;
    o->err = err;
    o->st = FGQ_OK;
    out->input = calib_input;
    out->node = calib_observer;
    out->after = calib_after;
    out->user = o;
}

fgq_status fgq_calib_run(fgq_calib *c, const fgq_graph *g, const fgq_samples *samples, fgq_calib_progress progress,
                         void *user, fgq_error *err)
{
    if (samples->n < 1)
        return fgq_fail(err, FGQ_ERR_VALUE, "calibration: no samples");
    fgq_calib_sweep o;
    fgq_sweep_observer so;
    fgq_calib_sweep_observer(&o, c, g, err, &so);
    return fgq_graph_sweep(g, samples, &so, 1, 1, progress, user, err);
}

/* Value below which a fraction q of the histogram's mass lies (linear inside a bin). */
static double hist_quantile(const fgq_tensor_stats *s, double q)
{
    double total = 0.0;
    for (int i = 0; i < FGQ_CALIB_BINS; i++)
        total += s->bins[i];
    double target = q * total, cum = 0.0;
    for (int i = 0; i < FGQ_CALIB_BINS; i++) {
        if (s->bins[i] > 0.0 && cum + s->bins[i] >= target) {
            double frac = (target - cum) / s->bins[i];
            double v = ((double)(s->off + i) + frac) * s->width;
            return v < s->min ? s->min : v > s->max ? s->max : v;
        }
        cum += s->bins[i];
    }
    return s->max;
}

/* Mean squared error of quantizing every bin centre with the TF parameters
 * for [lo, hi] on `levels` levels (what the activation will really use). */
double fgq_stats_expected_mse(const fgq_tensor_stats *s, double lo, double hi, int32_t levels)
{
    if (s->width <= 0.0 || levels < 2)
        return 0.0;
    fgq_affine_params p;
    if (fgq_affine_choose_tf((float)lo, (float)hi, 0, levels - 1, &p, NULL) != FGQ_OK)
        return INFINITY;
    double e = 0.0, total = 0.0;
    for (int i = 0; i < FGQ_CALIB_BINS; i++) {
        if (s->bins[i] <= 0.0)
            continue;
        float c = (float)(((double)(s->off + i) + 0.5) * s->width);
        double d = (double)c - (double)fgq_affine_dequantize(fgq_affine_quantize(c, &p), &p);
        e += s->bins[i] * d * d;
        total += s->bins[i];
    }
    return total > 0.0 ? e / total : 0.0;
}

fgq_status fgq_stats_range(const fgq_tensor_stats *s, const fgq_observer *o, int32_t levels, const char *name,
                           float *lo, float *hi, fgq_error *err)
{
    if (s == NULL || s->bins == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "calibration: tensor '%s' is not tracked", name ? name : "?");
    if (s->n_inf > 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "calibration: tensor '%s' holds Inf (%lld values): it cannot be "
                        "quantized; only float ops may read it", name ? name : "?", (long long)s->n_inf);
    if (s->count == 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "calibration: tensor '%s' was never observed", name ? name : "?");
    if (levels < 2)
        return fgq_fail(err, FGQ_ERR_VALUE, "calibration: %d quantization levels", (int)levels);
    double l = s->min < 0.0 ? s->min : 0.0, h = s->max > 0.0 ? s->max : 0.0;
    if (s->width > 0.0 && o->kind == FGQ_OBS_PERCENTILE) {
        double p = o->percentile / 100.0;
        double ql = hist_quantile(s, 1.0 - p), qh = hist_quantile(s, p);
        l = ql < 0.0 ? ql : 0.0;
        h = qh > 0.0 ? qh : 0.0;
    } else if (s->width > 0.0 && o->kind == FGQ_OBS_MSE) {
        double best = INFINITY, bl = l, bh = h;
        int nl = l < 0.0 ? FGQ_CALIB_MSE_GRID : 1, nh = h > 0.0 ? FGQ_CALIB_MSE_GRID : 1;
        if (nl > 1 && nh > 1)
            nl = nh = FGQ_CALIB_MSE_GRID2;
        for (int i = 1; i <= nl; i++) {
            double cl = l * (double)i / (double)nl;
            for (int j = 1; j <= nh; j++) {
                double ch = h * (double)j / (double)nh;
                double e = fgq_stats_expected_mse(s, cl, ch, levels);
                if (e < best) {
                    best = e;
                    bl = cl;
                    bh = ch;
                }
            }
        }
        l = bl;
        h = bh;
    }
    *lo = (float)l;
    *hi = (float)h;
    if (*lo > 0.0f)
        *lo = 0.0f;
    if (*hi < 0.0f)
        *hi = 0.0f;
    return FGQ_OK;
}
