/* test_calib.c — calibration observers on synthetic data with known answers.
 * Oracles: min/max computed directly; percentiles from the sorted array (the
 * histogram may be off by one bin width); the MSE observer against the true
 * quantization MSE of the data under the min/max range; a graph run whose
 * node outputs are known in closed form. */
#include "quant/stats/calib.h"
#include "fgq_test.h"
#include "graph_build.h"
#include "quant/affine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    return (double)(fgq_test_xorshift64(&rng_state) >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static fgq_tensor_stats new_stats(void)
{
    fgq_tensor_stats s;
    memset(&s, 0, sizeof s);
    s.bins = calloc(FGQ_CALIB_BINS, sizeof(double));
    return s;
}

static double bins_total(const fgq_tensor_stats *s)
{
    double t = 0;
    for (int i = 0; i < FGQ_CALIB_BINS; i++)
        t += s->bins[i];
    return t;
}

static void test_minmax_exact(void)
{
    fgq_tensor_stats s = new_stats();
    fgq_error err;
    fgq_error_clear(&err);
    /* batches that grow the range both ways, so the histogram must merge bins */
    float a[4] = {0.1f, 0.2f, 0.0f, 0.3f}, b[3] = {-5.0f, 2.0f, 1.0f}, c[2] = {100.0f, -0.5f};
    CHECK(fgq_stats_observe_f32(&s, a, 4, "t", &err) == FGQ_OK);
    CHECK(fgq_stats_observe_f32(&s, b, 3, "t", &err) == FGQ_OK);
    CHECK(fgq_stats_observe_f32(&s, c, 2, "t", &err) == FGQ_OK);
    fgq_observer o = {FGQ_OBS_MINMAX, 99.99};
    float lo, hi;
    CHECK(fgq_stats_range(&s, &o, 256, "t", &lo, &hi, &err) == FGQ_OK);
    CHECK(lo == -5.0f && hi == 100.0f);
    CHECK(s.count == 9);
    CHECK_NEAR(bins_total(&s), 9.0, 0.0); /* no value lost while merging */
    free(s.bins);

    /* positive-only data: the range is widened to contain 0 */
    s = new_stats();
    float p[3] = {2.0f, 3.0f, 7.5f};
    CHECK(fgq_stats_observe_f32(&s, p, 3, "t", &err) == FGQ_OK);
    CHECK(fgq_stats_range(&s, &o, 256, "t", &lo, &hi, &err) == FGQ_OK);
    CHECK(lo == 0.0f && hi == 7.5f);
    free(s.bins);

    /* all zeros first, then data: the zeros are counted in the bin of 0 */
    s = new_stats();
    float z[5] = {0, 0, 0, 0, 0}, q[2] = {-1.0f, 1.0f};
    CHECK(fgq_stats_observe_f32(&s, z, 5, "t", &err) == FGQ_OK);
    CHECK(fgq_stats_observe_f32(&s, q, 2, "t", &err) == FGQ_OK);
    CHECK_NEAR(bins_total(&s), 7.0, 0.0);
    free(s.bins);
}

/* ±Inf (an attention mask's -inf scores) is counted apart: the finite values give the statistics,
 * and the range of such a tensor is refused naming it (it can only stay float). */
static void test_inf_counted_and_range_refused(void)
{
    fgq_tensor_stats s = new_stats();
    fgq_error err;
    fgq_error_clear(&err);
    float x[4] = {1.0f, -INFINITY, -2.0f, INFINITY};
    CHECK(fgq_stats_observe_f32(&s, x, 4, "scores", &err) == FGQ_OK);
    CHECK(s.count == 2 && s.n_inf == 2 && s.min == -2.0 && s.max == 1.0);
    CHECK_NEAR(bins_total(&s), 2.0, 0.0);
    fgq_observer o = {FGQ_OBS_MINMAX, 99.99};
    float lo, hi;
    CHECK(fgq_stats_range(&s, &o, 256, "scores", &lo, &hi, &err) == FGQ_ERR_VALUE);
    CHECK(strstr(err.msg, "scores") != NULL && strstr(err.msg, "Inf") != NULL);
    free(s.bins);
}

static void test_nan_rejected(void)
{
    fgq_tensor_stats s = new_stats();
    fgq_error err;
    fgq_error_clear(&err);
    float x[3] = {1.0f, NAN, 2.0f};
    CHECK(fgq_stats_observe_f32(&s, x, 3, "conv_out", &err) == FGQ_ERR_VALUE);
    CHECK(strstr(err.msg, "conv_out") != NULL && strstr(err.msg, "NaN") != NULL);
    fgq_observer o = {FGQ_OBS_MINMAX, 99.99};
    float lo, hi;
    fgq_error_clear(&err);
    CHECK(fgq_stats_range(&s, &o, 256, "conv_out", &lo, &hi, &err) == FGQ_ERR_VALUE); /* never observed */
    free(s.bins);
}

static void test_percentile_vs_sorted(void)
{
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x), *sorted = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = (float)(nrand() * 2.0 + 0.5);
    x[7] = 60.0f; /* an outlier far out on the right */
    fgq_tensor_stats s = new_stats();
    fgq_error err;
    fgq_error_clear(&err);
    /* in chunks, so the range grows as it goes */
    for (int i = 0; i < N; i += 1000)
        CHECK(fgq_stats_observe_f32(&s, x + i, 1000, "t", &err) == FGQ_OK);
    memcpy(sorted, x, N * sizeof *x);
    qsort(sorted, N, sizeof *sorted, cmp_f);
    const double ps[3] = {99.0, 99.9, 99.99};
    for (int k = 0; k < 3; k++) {
        fgq_observer o = {FGQ_OBS_PERCENTILE, ps[k]};
        float lo, hi;
        CHECK(fgq_stats_range(&s, &o, 256, "t", &lo, &hi, &err) == FGQ_OK);
        double want_hi = sorted[(int)floor(ps[k] / 100.0 * (N - 1))];
        double want_lo = sorted[(int)floor((1.0 - ps[k] / 100.0) * (N - 1))];
        CHECK_NEAR(hi, want_hi, 1.01 * s.width);
        CHECK_NEAR(lo, want_lo, 1.01 * s.width);
    }
    CHECK_MSG(s.width < 4.0 * 70.0 / FGQ_CALIB_BINS, "bin width %g", s.width); /* at most two doublings past the span */
    free(x);
    free(sorted);
    free(s.bins);
}

/* True MSE of quantizing x with TF params for [lo, hi], u8. */
static double true_mse(const float *x, int n, float lo, float hi)
{
    fgq_affine_params p;
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_affine_choose_u8(lo, hi, &p, &err) != FGQ_OK)
        return INFINITY;
    double e = 0;
    for (int i = 0; i < n; i++) {
        double d = x[i] - fgq_affine_dequantize(fgq_affine_quantize(x[i], &p), &p);
        e += d * d;
    }
    return e / n;
}

static void test_mse_beats_minmax_heavy_tails(void)
{
    enum { N = 100000 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) { /* Student-t-like: normal / sqrt(uniform) */
        double u = urand() * 0.999 + 0.001;
        x[i] = (float)(nrand() / sqrt(u));
    }
    fgq_tensor_stats s = new_stats();
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_stats_observe_f32(&s, x, N, "t", &err) == FGQ_OK);
    fgq_observer mm = {FGQ_OBS_MINMAX, 0}, ms = {FGQ_OBS_MSE, 0};
    float l0, h0, l1, h1;
    CHECK(fgq_stats_range(&s, &mm, 256, "t", &l0, &h0, &err) == FGQ_OK);
    CHECK(fgq_stats_range(&s, &ms, 256, "t", &l1, &h1, &err) == FGQ_OK);
    double e0 = true_mse(x, N, l0, h0), e1 = true_mse(x, N, l1, h1);
    CHECK_MSG(e1 <= e0, "mse observer %g vs minmax %g", e1, e0);
    CHECK_MSG(e1 < 0.9 * e0, "heavy tails: clipping should pay (%g vs %g)", e1, e0);
    CHECK(l1 <= 0.0f && h1 >= 0.0f && h1 < h0);
    /* the objective the search minimises is no worse at its optimum than at min/max */
    CHECK(fgq_stats_expected_mse(&s, l1, h1, 256) <= fgq_stats_expected_mse(&s, l0, h0, 256));
    free(x);
    free(s.bins);
}

static void test_observer_parse(void)
{
    fgq_observer o;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_observer_parse("percentile:99.9", &o, &err) == FGQ_OK && o.kind == FGQ_OBS_PERCENTILE &&
          fabs(o.percentile - 99.9) < 1e-12);
    CHECK(fgq_observer_parse("percentile", &o, &err) == FGQ_OK && o.percentile == 99.99);
    CHECK(fgq_observer_parse("mse", &o, &err) == FGQ_OK && o.kind == FGQ_OBS_MSE);
    CHECK(fgq_observer_parse("percentile:40", &o, &err) == FGQ_ERR_VALUE);
    fgq_error_clear(&err);
    CHECK(fgq_observer_parse("kl", &o, &err) == FGQ_ERR_VALUE);
}

/* Graph x -> Relu -> y: calibration sees x as fed and y = max(x, 0). */
static void test_calib_run_graph(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[2] = {1, 4};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, d), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, d);
    node(g, "relu", "Relu", 1, &x, y);
    g->inputs = malloc(sizeof(int32_t));
    g->outputs = malloc(sizeof(int32_t));
    g->inputs[0] = x;
    g->outputs[0] = y;
    g->n_inputs = g->n_outputs = 1;
    g->tensors[y].is_output = 1;
    g->opset = 13;
    float data[8] = {-3, 1, 2, 0.5f, -1, 4, -2, 0};
    float bad[4] = {0, NAN, 0, 0}; /* NaN in the samples: an error naming the input (below) */
    fgq_calib c;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_calib_init(&c, g, &err) == FGQ_OK);
    fgq_samples s2 = samples_of(g, data, 2), s1 = samples_of(g, bad, 1);
    CHECK(fgq_calib_run(&c, g, &s2, NULL, NULL, &err) == FGQ_OK);
    CHECK_MSG(c.stats[x].count == 8 && c.stats[y].count == 8, "%s", err.msg);
    CHECK(c.stats[x].min == -3.0 && c.stats[x].max == 4.0);
    CHECK(c.stats[y].min == 0.0 && c.stats[y].max == 4.0);
    /* NaN in the samples: an error naming the input */
    fgq_error_clear(&err);
    CHECK(fgq_calib_run(&c, g, &s1, NULL, NULL, &err) == FGQ_ERR_VALUE);
    CHECK(strstr(err.msg, "'x'") != NULL);
    fgq_calib_free(&c);
    fgq_graph_free(g);
}

/* The AVX2 passes of fgq_stats_observe_f32 against its plain C twin (simd = 0): the same counts,
 * min/max, Inf count, bin width and window after each batch, bit for bit, on batches whose sizes
 * are not multiples of the vector width, that grow the window both ways, hold runs of zeros (a
 * ReLU's output), ±Inf, values on bin edges, and a NaN (the same message, the same index). On a
 * CPU without AVX2 both calls take the plain path and the test still checks that. */
static void test_observe_simd_matches_plain(void)
{
    enum { N = 5000 };
    float *x = malloc(N * sizeof *x);
    fgq_tensor_stats a = new_stats(), b = new_stats();
    fgq_error ea, eb;
    fgq_error_clear(&ea);
    fgq_error_clear(&eb);
    for (int round = 0; round < 40; round++) {
        const int64_t n = 1 + (int64_t)(urand() * (N - 1));
        const double scale = pow(2.0, (double)(round % 9) - 3.0);
        for (int64_t i = 0; i < n; i++) {
            double r = urand();
            x[i] = r < 0.3 ? 0.0f : r < 0.35 ? -0.0f : (float)(nrand() * scale + (round % 3 == 0 ? 0.0 : scale));
        }
        if (round % 7 == 3)
            x[n / 2] = INFINITY;
        if (round % 11 == 5)
            x[n - 1] = -INFINITY;
        if (round > 0 && a.width > 0.0 && n > 4) /* values exactly on bin edges */
            for (int e = 0; e < 4; e++)
                x[e] = (float)((double)(a.off + 100 * e) * a.width);
        CHECK(fgq_stats_observe_f32_with(&a, x, n, "t", 1, &ea) == FGQ_OK);
        CHECK(fgq_stats_observe_f32_with(&b, x, n, "t", 0, &eb) == FGQ_OK);
        CHECK(a.count == b.count && a.n_inf == b.n_inf && a.min == b.min && a.max == b.max);
        CHECK(a.width == b.width && a.off == b.off);
        CHECK(memcmp(a.bins, b.bins, FGQ_CALIB_BINS * sizeof(double)) == 0);
    }
    for (int64_t i = 0; i < 37; i++)
        x[i] = (float)i;
    x[29] = NAN;
    CHECK(fgq_stats_observe_f32_with(&a, x, 37, "nan_t", 1, &ea) == FGQ_ERR_VALUE);
    CHECK(fgq_stats_observe_f32_with(&b, x, 37, "nan_t", 0, &eb) == FGQ_ERR_VALUE);
    CHECK(strcmp(ea.msg, eb.msg) == 0 && strstr(ea.msg, "element 29") != NULL);
    free(a.bins);
    free(b.bins);
    free(x);
}

int main(void)
{
    RUN(test_minmax_exact);
    RUN(test_observe_simd_matches_plain);
    RUN(test_nan_rejected);
    RUN(test_inf_counted_and_range_refused);
    RUN(test_percentile_vs_sorted);
    RUN(test_mse_beats_minmax_heavy_tails);
    RUN(test_observer_parse);
    RUN(test_calib_run_graph);
    return FGQ_TEST_DONE();
}
