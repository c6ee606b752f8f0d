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


/* ---- the two passes over a batch, in plain C and with AVX2 -------------------------------- */

/* The batch's finite min/max and ±Inf count; the index of its first NaN, or -1. */
typedef struct {
    double min, max;
    int64_t n_inf, nan_at;
} batch_scan;

static void scan_ref(const float *x, int64_t n, batch_scan *b)
{
    b->min = INFINITY;
    b->max = -INFINITY;
    b->n_inf = 0;
    b->nan_at = -1;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) {
            b->nan_at = i;
            return;
        }
        if (isinf(x[i])) {
            b->n_inf++;
            continue;
        }
        b->min = x[i] < b->min ? x[i] : b->min;
        b->max = x[i] > b->max ? x[i] : b->max;
    }
}

/* Adds the finite values of x to the bins (the window already holds them). */
static void bin_ref(fgq_tensor_stats *s, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            s->bins[bin_of(s, x[i]) - s->off] += 1.0;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CALIB_AVX2 1

/* min/max in float (exact: the values are floats), then the scalar pass when
 * the batch holds a NaN or an Inf, so that those counts and the index of the
 * first NaN come out as scan_ref's. */
__attribute__((target("avx2"))) static void scan_avx2(const float *x, int64_t n, batch_scan *b)
{
    __m256 vmin = _mm256_set1_ps(INFINITY), vmax = _mm256_set1_ps(-INFINITY), bad = _mm256_setzero_ps();
    const __m256 inf = _mm256_set1_ps(INFINITY), absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        /* NaN or ±Inf: |v| >= Inf is false for NaN, so test "not |v| < Inf" */
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_and_ps(v, absmask), inf, _CMP_NLT_UQ));
        vmin = _mm256_min_ps(vmin, v);
        vmax = _mm256_max_ps(vmax, v);
    }
    if (_mm256_movemask_ps(bad) != 0) {
        scan_ref(x, n, b);
        return;
    }
    float lo[8], hi[8];
    _mm256_storeu_ps(lo, vmin);
    _mm256_storeu_ps(hi, vmax);
    batch_scan tail;
    scan_ref(x + i, n - i, &tail);
    if (tail.nan_at >= 0 || tail.n_inf > 0) {
        scan_ref(x, n, b);
        return;
    }
    b->min = tail.min;
    b->max = tail.max;
    b->n_inf = 0;
    b->nan_at = -1;
    for (int l = 0; l < 8; l++) {
        b->min = lo[l] < b->min ? lo[l] : b->min;
        b->max = hi[l] > b->max ? hi[l] : b->max;
    }
}

/* Every value finite (the caller checked): the bin index floor(x / w) − off
 * in double, the same division and floor as bin_of (exact: the index lies
 * in [0, BINS) and off is far below 2^52), four values a vector; the counts
 * go to two interleaved integer histograms so that runs of equal values (a
 * ReLU's zeros) do not wait on one counter. */
__attribute__((target("avx2"))) static void bin_avx2(fgq_tensor_stats *s, const float *x, int64_t n)
{
    uint32_t cnt[2][FGQ_CALIB_BINS];
    memset(cnt, 0, sizeof cnt);
    const __m256d w = _mm256_set1_pd(s->width), off = _mm256_set1_pd((double)s->off);
    int64_t i = 0;
    while (i < n) {
        /* at most 2^31 values per flush, so no count overflows */
        const int64_t end = n - i > ((int64_t)1 << 31) ? i + ((int64_t)1 << 31) : n;
        for (; i + 8 <= end; i += 8) {
            const __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), c = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
            const __m128i ia = _mm256_cvttpd_epi32(_mm256_sub_pd(_mm256_floor_pd(_mm256_div_pd(a, w)), off));
            const __m128i ic = _mm256_cvttpd_epi32(_mm256_sub_pd(_mm256_floor_pd(_mm256_div_pd(c, w)), off));
            int32_t k[8];
            _mm_storeu_si128((__m128i *)k, ia);
            _mm_storeu_si128((__m128i *)(k + 4), ic);
            cnt[0][k[0]]++, cnt[1][k[1]]++, cnt[0][k[2]]++, cnt[1][k[3]]++;
            cnt[0][k[4]]++, cnt[1][k[5]]++, cnt[0][k[6]]++, cnt[1][k[7]]++;
        }
        for (; i < end; i++)
            cnt[0][bin_of(s, x[i]) - s->off]++;
        for (int b = 0; b < FGQ_CALIB_BINS; b++) {
            s->bins[b] += (double)cnt[0][b] + (double)cnt[1][b];
            cnt[0][b] = cnt[1][b] = 0;
        }
    }
}
#else
#define CALIB_AVX2 0
#endif

fgq_status fgq_stats_observe_f32_with(fgq_tensor_stats *s, const float *x, int64_t n, const char *name, int simd,
                                      fgq_error *err)
{
    if (n <= 0)
        return FGQ_OK;
#if CALIB_AVX2
    simd = simd && __builtin_cpu_supports("avx2");
#else
    simd = 0;
#endif
    batch_scan sc;
#if CALIB_AVX2
    if (simd)
        scan_avx2(x, n, &sc);
    else
#endif
        scan_ref(x, n, &sc);
    if (sc.nan_at >= 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "calibration: tensor '%s' holds NaN at element %lld", name ? name : "?",
                        (long long)sc.nan_at);
    const double bmin = sc.min, bmax = sc.max;
    s->n_inf += sc.n_inf;
    if (sc.n_inf == n)
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
#if CALIB_AVX2
        if (simd && sc.n_inf == 0 && s->off > -((int64_t)1 << 52) && s->off < ((int64_t)1 << 52))
            bin_avx2(s, x, n);
        else
#endif
            bin_ref(s, x, n);
    }
    s->count += n - sc.n_inf;
    return FGQ_OK;
}

fgq_status fgq_stats_observe_f32(fgq_tensor_stats *s, const float *x, int64_t n, const char *name, fgq_error *err)
{
    return fgq_stats_observe_f32_with(s, x, n, name, 1, err);
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
    out->bind = NULL;
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
