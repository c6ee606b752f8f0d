/*
 * test_budget.c — the allocation step of `--budget` (tools/quant/search/budget.h,
 * fgq_budget_allocate): which candidate each searched layer gets; and the
 * output noise the gains are measured with (--budget-metric).
 *
 * Oracles: every assignment enumerated (small instances), the budget, and the
 * case a greedy pass alone gets wrong (a large layer whose upgrade is worth
 * more than the small ones but buys less per byte). For the metric: KL's
 * closed form on two classes, its invariance to a shift common to every class,
 * the same value from logits and from their softmax probabilities, and the
 * auto rule on small graphs of each kind of output.
 */
#include "fgq_test.h"
#include "graph.h"
#include "quant/search/budget.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void)
{
    return fgq_test_xorshift64(&rng_state);
}
static double rng_unit(void) { return (double)(rng_u64() >> 11) / 9007199254740992.0; }

static double noise_of(const fgq_budget_result *r)
{
    double n = 0.0;
    for (int32_t l = 0; l < r->n_layers; l++)
        if (r->layers[l].searched)
            n += r->layers[l].gain * r->layers[l].err[r->layers[l].choice];
    return n;
}

static int64_t bytes_of(const fgq_budget_result *r)
{
    int64_t b = 0;
    for (int32_t l = 0; l < r->n_layers; l++)
        b += r->layers[l].bytes[r->layers[l].choice];
    return b;
}

/* The least noise of any assignment within limit (every one enumerated). */
static double brute_force(fgq_budget_result *r, int32_t n_cand, int64_t limit)
{
    int64_t total = 1;
    for (int32_t l = 0; l < r->n_layers; l++)
        total *= r->layers[l].searched ? n_cand : 1;
    double best = INFINITY;
    int32_t saved[8];
    for (int32_t l = 0; l < r->n_layers; l++)
        saved[l] = r->layers[l].choice;
    for (int64_t a = 0; a < total; a++) {
        int64_t x = a;
        for (int32_t l = 0; l < r->n_layers; l++)
            if (r->layers[l].searched) {
                r->layers[l].choice = (int32_t)(x % n_cand);
                x /= n_cand;
            }
        if (bytes_of(r) <= limit && noise_of(r) < best)
            best = noise_of(r);
    }
    for (int32_t l = 0; l < r->n_layers; l++)
        r->layers[l].choice = saved[l];
    return best;
}

/* n layers, candidates 0..n_cand-1 from cheap/noisy to dear/precise; layer 0 fixed at
 * candidate 1 when with_fixed. Each layer starts at its cheapest. */
static void make_instance(fgq_budget_result *r, fgq_budget_layer *layers, int32_t n, int32_t n_cand, int64_t scale,
                          int with_fixed)
{
    memset(r, 0, sizeof *r);
    memset(layers, 0, sizeof *layers * (size_t)n);
    r->layers = layers;
    r->n_layers = n;
    for (int32_t l = 0; l < n; l++) {
        fgq_budget_layer *bl = &layers[l];
        bl->searched = !(with_fixed && l == 0);
        bl->gain = 0.1 + 3.0 * rng_unit();
        const int64_t w = scale * (1 + (int64_t)(rng_u64() % 50));
        double e = 0.5 + rng_unit();
        for (int32_t c = 0; c < n_cand; c++) {
            bl->bytes[c] = w * (2 + 2 * c) / 8 + (int64_t)(rng_u64() % 4);
            bl->err[c] = e;
            e *= 0.05 + 0.5 * rng_unit();
        }
        bl->choice = bl->searched ? 0 : 1;
    }
}

static void test_exact_on_small_instances(void)
{
    fgq_budget_layer layers[6];
    fgq_budget_result r;
    for (int trial = 0; trial < 300; trial++) {
        const int32_t n = 2 + trial % 5, n_cand = 2 + trial % 3;
        make_instance(&r, layers, n, n_cand, 1, trial % 2);
        int64_t lo = 0, hi = 0;
        for (int32_t l = 0; l < n; l++) {
            lo += layers[l].bytes[layers[l].searched ? 0 : 1];
            hi += layers[l].bytes[layers[l].searched ? n_cand - 1 : 1];
        }
        const int64_t limit = lo + (int64_t)(rng_unit() * (double)(hi - lo + 1));
        const double best = brute_force(&r, n_cand, limit);
        int64_t bytes = lo;
        fgq_error err;
        fgq_error_clear(&err);
        CHECK(fgq_budget_allocate(&r, n_cand, limit, &bytes, &err) == FGQ_OK);
        CHECK(bytes == bytes_of(&r));
        CHECK_MSG(bytes <= limit, "trial %d: %lld bytes over the limit %lld", trial, (long long)bytes,
                  (long long)limit);
        CHECK(!(trial % 2) || layers[0].choice == 1); /* the fixed layer stays */
        /* these byte counts fit in single units: the dynamic programme is exact */
        CHECK_MSG(noise_of(&r) <= best * (1.0 + 1e-12), "trial %d: noise %.17g, best %.17g", trial, noise_of(&r),
                  best);
    }
}

/* Large byte counts: units of many bytes, still within the limit and close to the best. */
static void test_large_layers_within_limit(void)
{
    fgq_budget_layer layers[6];
    fgq_budget_result r;
    for (int trial = 0; trial < 60; trial++) {
        const int32_t n = 6, n_cand = 3;
        make_instance(&r, layers, n, n_cand, 100003, 0);
        int64_t lo = 0, hi = 0;
        for (int32_t l = 0; l < n; l++) {
            lo += layers[l].bytes[0];
            hi += layers[l].bytes[n_cand - 1];
        }
        const int64_t limit = lo + (int64_t)(rng_unit() * (double)(hi - lo));
        const double best = brute_force(&r, n_cand, limit);
        int64_t bytes = lo;
        fgq_error err;
        fgq_error_clear(&err);
        CHECK(fgq_budget_allocate(&r, n_cand, limit, &bytes, &err) == FGQ_OK);
        CHECK(bytes == bytes_of(&r) && bytes <= limit);
        CHECK(noise_of(&r) >= best * (1.0 - 1e-12));
        /* the unit rounding costs at most what one unit per layer could buy: here, never past 10 % */
        CHECK_MSG(noise_of(&r) <= 1.1 * best, "trial %d: noise %.6g, best %.6g", trial, noise_of(&r), best);
    }
}

/* Two small layers whose upgrades buy the most per byte, and a large one whose upgrade buys less
 * per byte but more in all: the spare 400 bytes above `start` (small: `small` -> +100 bytes, noise
 * 1.0 -> 0.4; large: `large` -> +400, noise 5.0 -> 3.0) hold the large upgrade or the two small
 * ones. Greedy by ratio takes the small ones first and then cannot afford the large one (what
 * EfficientNet-Lite1's classifier met): noise 0.4 + 0.4 + 5 = 5.8 against 1 + 1 + 3 = 5. */
static void check_large_layer_upgrade(int64_t small, int64_t large)
{
    fgq_budget_layer layers[3];
    fgq_budget_result r;
    memset(layers, 0, sizeof layers);
    memset(&r, 0, sizeof r);
    r.layers = layers;
    r.n_layers = 3;
    for (int32_t l = 0; l < 3; l++) {
        layers[l].searched = 1;
        layers[l].gain = 1.0;
        layers[l].bytes[0] = l < 2 ? small : large;
        layers[l].bytes[1] = layers[l].bytes[0] + (l < 2 ? 100 : 400);
        layers[l].err[0] = l < 2 ? 1.0 : 5.0;
        layers[l].err[1] = l < 2 ? 0.4 : 3.0;
    }
    const int64_t start = 2 * small + large, limit = start + 400;
    int64_t bytes = start;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_budget_allocate(&r, 2, limit, &bytes, &err) == FGQ_OK);
    CHECK_MSG(layers[2].choice == 1 && layers[0].choice == 0 && layers[1].choice == 0 && bytes == limit,
              "sizes %lld/%lld: choices %d %d %d, %lld bytes", (long long)small, (long long)large, layers[0].choice,
              layers[1].choice, layers[2].choice, (long long)bytes);
    CHECK(fabs(noise_of(&r) - 5.0) < 1e-12);
}

static void test_large_layer_upgrade(void)
{
    check_large_layer_upgrade(100, 1000);
}

/* The same trap at model scale: layers of millions of bytes and a spare of a few hundred above the
 * cheapest assignment. The units must be a fraction of the spare, not of the whole capacity: at
 * u = ⌈limit / 16384⌉ = 733 bytes each layer's rounding up costs more than the spare holds, no
 * assignment fits in units and the greedy pass alone falls into the trap (5.8 against 5). */
static void test_large_layer_upgrade_small_spare(void)
{
    check_large_layer_upgrade(1000001, 10000001);
}

/* KL(softmax(a) || softmax(b)) against its closed form; a common shift costs nothing under kl and
 * its square under mse; probabilities give what their logits give. */
static void test_sample_noise(void)
{
    const float a[2] = {1.0f, -0.5f}, b[2] = {0.25f, 0.5f};
    const double pa = 1.0 / (1.0 + exp(-1.5)), pb = 1.0 / (1.0 + exp(0.25));
    const double want = pa * log(pa / pb) + (1.0 - pa) * log((1.0 - pa) / (1.0 - pb));
    double sig = 0.0, noise = 0.0;
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_KL, 1, 2, 0, a, b, &sig, &noise);
    CHECK_MSG(sig == 1.0 && fabs(noise - want) < 1e-12, "kl %.15g want %.15g", noise, want);

    float y[2 * 5], shifted[2 * 5], py[2 * 5], pq[2 * 5];
    for (int i = 0; i < 10; i++) {
        y[i] = (float)(rng_unit() * 6.0 - 3.0);
        shifted[i] = y[i] + 2.0f;
    }
    sig = noise = 0.0;
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_KL, 2, 5, 0, y, shifted, &sig, &noise);
    CHECK_MSG(sig == 2.0 && noise < 1e-12, "kl of a common shift %.3g", noise);
    sig = noise = 0.0;
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_MSE, 1, 10, 0, y, shifted, &sig, &noise);
    CHECK_MSG(fabs(noise - 40.0) < 1e-4 && sig > 0.0, "mse of a shift of 2 over 10 values (float sums) %.9g", noise);

    /* the same pair as probabilities (row-wise softmax): kl reads their logs */
    float q[2 * 5];
    for (int i = 0; i < 10; i++)
        q[i] = y[i] + (float)(rng_unit() - 0.5);
    for (int r = 0; r < 2; r++) {
        double zy = 0.0, zq = 0.0;
        for (int i = 0; i < 5; i++) {
            zy += exp(y[r * 5 + i]);
            zq += exp(q[r * 5 + i]);
        }
        for (int i = 0; i < 5; i++) {
            py[r * 5 + i] = (float)(exp(y[r * 5 + i]) / zy);
            pq[r * 5 + i] = (float)(exp(q[r * 5 + i]) / zq);
        }
    }
    double s1 = 0.0, n1 = 0.0, s2 = 0.0, n2 = 0.0;
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_KL, 2, 5, 0, y, q, &s1, &n1);
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_KL, 2, 5, 1, py, pq, &s2, &n2);
    CHECK_MSG(n1 > 0.0 && fabs(n1 - n2) < 1e-6 * n1 + 1e-9, "logits %.9g probabilities %.9g", n1, n2);
    s1 = n1 = 0.0;
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_KL, 2, 5, 0, y, y, &s1, &n1);
    CHECK(n1 == 0.0);

    /* a perturbation of 1e-5 (a layer at s8): KL = ½ Var_p(d) to second order, and positive, where
     * Σ p·(la − lb) loses it in rounding */
    float big[1000], moved[1000];
    double var = 0.0, mean = 0.0, z = 0.0;
    for (int i = 0; i < 1000; i++) {
        big[i] = (float)(rng_unit() * 20.0 - 10.0);
        moved[i] = big[i] + (float)((rng_unit() - 0.5) * 4e-5 * fabs(big[i]) + 1e-5);
        z += exp(big[i]);
    }
    for (int i = 0; i < 1000; i++)
        mean += exp(big[i]) / z * ((double)big[i] - moved[i]);
    for (int i = 0; i < 1000; i++)
        var += exp(big[i]) / z * ((double)big[i] - moved[i] - mean) * ((double)big[i] - moved[i] - mean);
    s1 = n1 = 0.0;
    fgq_budget_sample_noise(FGQ_BUDGET_METRIC_KL, 1, 1000, 0, big, moved, &s1, &n1);
    CHECK_MSG(var > 0.0 && fabs(n1 - 0.5 * var) < 0.01 * 0.5 * var, "kl %.6g, half the variance %.6g", n1,
              0.5 * var);
}

static int32_t add_tensor(fgq_graph *g, const char *name, int32_t rank, const int64_t *dims)
{
    const int32_t t = fgq_graph_add_tensor(g, name);
    g->tensors[t].dtype = FGQ_DT_F32;
    g->tensors[t].rank = rank;
    memcpy(g->tensors[t].dims, dims, (size_t)rank * sizeof *dims);
    return t;
}

/* x [1, nx] -> Gemm -> (op ->)* y of `dims`: the graph the auto rule reads. ops: after the Gemm. */
static fgq_graph *scores_graph(int64_t nx, int32_t rank, const int64_t *dims, const char *const *ops, int n_ops)
{
    fgq_graph *g = fgq_graph_new();
    const int64_t dx[2] = {1, nx};
    int32_t x = add_tensor(g, "x", 2, dx), t = x;
    g->tensors[x].kind = FGQ_TK_INPUT;
    for (int k = 0; k <= n_ops; k++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", k);
        const int32_t o = add_tensor(g, name, rank, dims);
        fgq_graph_add_node(g, name, k == 0 ? "Gemm" : ops[k - 1], 1, &t, 1, &o);
        t = o;
    }
    g->inputs = malloc(sizeof(int32_t));
    g->outputs = malloc(sizeof(int32_t));
    g->inputs[0] = x;
    g->outputs[0] = t;
    g->n_inputs = g->n_outputs = 1;
    g->tensors[t].is_output = 1;
    return g;
}

static void check_resolve(fgq_graph *g, fgq_budget_metric ask, fgq_budget_metric want, int64_t rows,
                          int64_t classes, int probs, const char *what)
{
    int64_t r = -1, c = -1;
    int p = -1;
    const fgq_budget_metric m = fgq_budget_metric_resolve(g, ask, &r, &c, &p);
    CHECK_MSG(m == want && r == rows && c == classes && p == probs, "%s: %s rows %lld classes %lld probs %d", what,
              fgq_budget_metric_name(m), (long long)r, (long long)c, p);
    fgq_graph_free(g);
}

static void test_metric_auto_rule(void)
{
    static const int64_t cls[2] = {1, 10}, ae[2] = {1, 640}, seq[3] = {1, 3, 4}, col[4] = {1, 1000, 1, 1},
                         one[2] = {1, 1};
    static const char *const soft[] = {"Softmax", "Reshape"}, *const logsoft[] = {"LogSoftmax"};
    static const struct {
        int64_t nx;
        int32_t rank;
        const int64_t *dims;
        const char *const *ops;
        int n_ops;
        fgq_budget_metric ask, want;
        int64_t rows, classes;
        int probs;
        const char *what;
    } cases[] = {
        {784, 2, cls, NULL, 0, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_KL, 1, 10, 0, "classifier logits"},
        {784, 2, cls, NULL, 0, FGQ_BUDGET_METRIC_MSE, FGQ_BUDGET_METRIC_MSE, 1, 10, 0, "mse asked"},
        {64, 4, col, NULL, 0, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_KL, 1, 1000, 0, "scores as [1, C, 1, 1]"},
        {640, 2, ae, NULL, 0, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_MSE, 1, 640, 0, "autoencoder"},
        {640, 2, ae, NULL, 0, FGQ_BUDGET_METRIC_KL, FGQ_BUDGET_METRIC_KL, 1, 640, 0,
         "kl asked of an autoencoder: one row"},
        {784, 2, cls, soft, 2, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_KL, 1, 10, 1, "softmax, reshaped"},
        {784, 3, seq, NULL, 0, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_MSE, 1, 12, 0, "two dimensions above 1"},
        {784, 3, seq, logsoft, 1, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_KL, 3, 4, 0, "log-softmax rows"},
        {8, 2, one, NULL, 0, FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_MSE, 1, 1, 0, "one value"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        check_resolve(scores_graph(cases[t].nx, cases[t].rank, cases[t].dims, cases[t].ops, cases[t].n_ops),
                      cases[t].ask, cases[t].want, cases[t].rows, cases[t].classes, cases[t].probs, cases[t].what);
    fgq_budget_metric m = FGQ_BUDGET_METRIC_AUTO;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_budget_metric_parse("kl", &m, &err) == FGQ_OK && m == FGQ_BUDGET_METRIC_KL);
    CHECK(fgq_budget_metric_parse("KL", &m, &err) == FGQ_ERR_VALUE && strstr(err.msg, "--budget-metric") != NULL);
}

int main(void)
{
    RUN(test_exact_on_small_instances);
    RUN(test_large_layers_within_limit);
    RUN(test_large_layer_upgrade);
    RUN(test_large_layer_upgrade_small_spare);
    RUN(test_sample_noise);
    RUN(test_metric_auto_rule);
    return FGQ_TEST_DONE();
}
