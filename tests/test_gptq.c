/*
 * test_gptq.c — the error-compensating solver (tools/quant/gptq.h) and the
 * layer input statistics it reads (tools/quant/hessian.h).
 *
 * Oracles:
 *  - the factor: Uᵀ·U·(H + λI) = I, U upper triangular with a positive diagonal;
 *  - the algorithm: a float64 reference of the same algorithm written from the
 *    Optimal Brain Quantizer form (Frantar & Alistarh 2022), which keeps the
 *    explicit inverse of the not-yet-quantized block and shrinks it by one
 *    Gaussian elimination step per column instead of reading a Cholesky factor:
 *    same codes, same group multipliers, same values;
 *  - the point of it: the output error ‖(W − Q)X‖² on inputs X, random and
 *    correlated, measured on samples not used for H, below plain rounding's
 *    for every grid (s8, s8:g32, s4, s4:g32, s3, s3:g32, s2, s2:g16, ternary g4/g16/g64,
 *    twn/exact/asym);
 *  - columns whose input is always 0 get plain rounding and push nothing;
 *  - H from a convolution's im2col definition written out in the test.
 */
#include "fgq_test.h"
#include "graph_build.h"
#include "quant/solve/sequential.h"
#include "quant/solve/gptq.h"
#include "quant/stats/hessian.h"
#include "threadpool.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rng_u64(void)
{
    return fgq_test_xorshift64(&rng_state);
}
static double rng_unit(void) { return ((double)(rng_u64() >> 11) + 0.5) / 9007199254740992.0; }
static double rng_gauss(void) { return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit()); }

/* n samples of k inputs; x [n, k]. correlated 1: mixed through a random k x k
 * matrix, a few channels much larger; 2: independent |gauss| (what a ReLU
 * passes on: random, their shared mean correlates them); 0: independent,
 * zero-mean. */
static void make_inputs(double *x, int64_t n, int64_t k, int correlated, const double *mix)
{
    for (int64_t s = 0; s < n; s++) {
        double z[256];
        for (int64_t j = 0; j < k; j++)
            z[j] = rng_gauss();
        for (int64_t j = 0; j < k; j++) {
            double v = z[j];
            if (correlated == 2)
                v = fabs(v);
            if (correlated == 1) {
                v = 0.0;
                for (int64_t l = 0; l < k; l++)
                    v += mix[j * k + l] * z[l];
                v *= j % 7 == 0 ? 4.0 : 1.0;
            }
            x[s * k + j] = v;
        }
    }
}

static void gram(const double *x, int64_t n, int64_t k, double *h)
{
    memset(h, 0, (size_t)(k * k) * sizeof(double));
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++)
                h[i * k + j] += x[s * k + i] * x[s * k + j];
}

static void test_factor(void)
{
    /* k past the factorisation's 64-column blocks too (65: one extra column; 150: a partial block
     * on top; 200), and the same bits with threads */
    static const int64_t ks[9] = {7, 20, 33, 64, 64, 64, 65, 150, 200};
    fgq_threadpool *pool = NULL;
    fgq_error perr;
    fgq_error_clear(&perr);
    CHECK(fgq_threadpool_create(2, &pool, &perr) == FGQ_OK);
    for (int trial = 0; trial < 9; trial++) {
        const int64_t k = ks[trial];
        double *x = malloc(sizeof(double) * (size_t)(3 * k * k));
        double *h = malloc(sizeof(double) * (size_t)(k * k)), *u = malloc(sizeof(double) * (size_t)(k * k));
        double *inv = malloc(sizeof(double) * (size_t)(k * k)), *u2 = malloc(sizeof(double) * (size_t)(k * k));
        make_inputs(x, trial == 5 ? k / 2 : 3 * k, k, trial >= 7 ? 2 : 0, NULL); /* trial 5: H singular */
        gram(x, trial == 5 ? k / 2 : 3 * k, k, h);
        const double damp = trial == 5 ? 0.01 : 1e-4;
        fgq_error err;
        fgq_error_clear(&err);
        CHECK_MSG(fgq_gptq_factor(h, k, damp, NULL, u, &err) == FGQ_OK, "%s", err.msg);
        CHECK(fgq_gptq_factor(h, k, damp, fgq_threadpool_parallel(pool), u2, &err) == FGQ_OK);
        CHECK_MSG(memcmp(u, u2, sizeof(double) * (size_t)(k * k)) == 0, "k %lld: threads change U", (long long)k);
        CHECK(fgq_gptq_factor_plain(h, k, damp, u2, &err) == FGQ_OK);
        CHECK_MSG(memcmp(u, u2, sizeof(double) * (size_t)(k * k)) == 0, "k %lld: the plain twin differs", (long long)k);
        double mean = 0.0;
        for (int64_t i = 0; i < k; i++)
            mean += h[i * k + i] / (double)k;
        double worst = 0.0;
        for (int64_t i = 0; i < k; i++) {
            CHECK(u[i * k + i] > 0.0);
            for (int64_t j = 0; j < i; j++)
                CHECK(u[i * k + j] == 0.0);
        }
        /* (UᵀU)(H + λI) = I */
        for (int64_t i = 0; i < k; i++)
            for (int64_t l = 0; l < k; l++) {
                double a = 0.0;
                for (int64_t m = 0; m <= (i < l ? i : l); m++)
                    a += u[m * k + i] * u[m * k + l];
                inv[i * k + l] = a;
            }
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++) {
                double s = 0.0;
                for (int64_t l = 0; l < k; l++)
                    s += inv[i * k + l] * (h[l * k + j] + (l == j ? damp * mean : 0.0));
                double e = fabs(s - (i == j ? 1.0 : 0.0));
                worst = e > worst ? e : worst;
            }
        free(inv);
        free(u2);
        CHECK_MSG(worst < 1e-8, "k %lld: |(UᵀU)A - I| = %g", (long long)k, worst);
        free(x);
        free(h);
        free(u);
    }
    /* a singular H without damping is refused, not factorised into NaN */
    double h0[4] = {1.0, 1.0, 1.0, 1.0}, u0[4];
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_gptq_factor(h0, 2, 0.0, NULL, u0, &err) == FGQ_ERR_VALUE);
    double hn[1] = {NAN};
    CHECK(fgq_gptq_factor(hn, 1, 0.01, NULL, u0, &err) == FGQ_ERR_VALUE);
    fgq_threadpool_destroy(pool);
}

/* The OBQ form of the same algorithm, float64 throughout: Hinv over the
 * remaining columns F, for each column j in order: q = grid(w_j), w_F -=
 * (w_j − q)/Hinv_jj · Hinv[F, j], then Hinv -= Hinv[:, j]·Hinv[j, :]/Hinv_jj.
 * The grid rules are gptq.h's, written out again. */
static void reference(const fgq_gptq_grid *g, const float *w, int64_t rows, int64_t k, const double *h, double damp,
                      int8_t *codes, uint8_t *mults, float *deq)
{
    const int64_t group = g->mmax > 0 ? g->group : k, ng = (k + group - 1) / group;
    const int na = g->n_alpha == 2 ? 2 : 1, cmax = fgq_gptq_code_max(g->kind);
    const int cmin = g->kind == FGQ_WQ_S4 ? -8 : g->kind == FGQ_WQ_S3 ? -4 : -cmax; /* s4, s3: the whole range */
    const int odd = g->kind == FGQ_WQ_S2; /* s2's levels: the odd codes -3, -1, 1, 3 */
    double *a = malloc(sizeof(double) * (size_t)(k * 2 * k)), *hinv = malloc(sizeof(double) * (size_t)(k * k));
    double *wr = malloc(sizeof(double) * (size_t)k), *hi = malloc(sizeof(double) * (size_t)(k * k));
    double mean = 0.0;
    for (int64_t i = 0; i < k; i++)
        mean += h[i * k + i] / (double)k;
    const double lambda = damp * (mean > 0.0 ? mean : 1.0);
    /* Gauss-Jordan inverse of H + λI */
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < 2 * k; j++)
            a[i * 2 * k + j] = j < k ? h[i * k + j] + (i == j ? lambda : 0.0) : (j - k == i ? 1.0 : 0.0);
    for (int64_t c = 0; c < k; c++) {
        double p = a[c * 2 * k + c];
        for (int64_t j = 0; j < 2 * k; j++)
            a[c * 2 * k + j] /= p;
        for (int64_t i = 0; i < k; i++) {
            if (i == c)
                continue;
            double f = a[i * 2 * k + c];
            for (int64_t j = 0; j < 2 * k; j++)
                a[i * 2 * k + j] -= f * a[c * 2 * k + j];
        }
    }
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++)
            hinv[i * k + j] = a[i * 2 * k + k + j];
    /* dd[j]: Hinv_jj when column j is reached (independent of the weights): the loss of rounding
     * column j is (w_j − q_j)² / dd[j], what a group's multiplier search weighs */
    double *dd = malloc(sizeof(double) * (size_t)k);
    memcpy(hi, hinv, sizeof(double) * (size_t)(k * k));
    for (int64_t j = 0; j < k; j++) {
        dd[j] = hi[j * k + j];
        for (int64_t l = j + 1; l < k; l++)
            for (int64_t m = j + 1; m < k; m++)
                hi[l * k + m] -= hi[l * k + j] * hi[j * k + m] / dd[j];
    }
    float *tmp = malloc(sizeof(float) * (size_t)group);
    int8_t *tt = malloc((size_t)group);
    void *scratch = malloc(fgq_ternary_scratch_bytes(group));
    for (int64_t r = 0; r < rows; r++) {
        memcpy(hi, hinv, sizeof(double) * (size_t)(k * k));
        for (int64_t j = 0; j < k; j++)
            wr[j] = w[r * k + j];
        const double s = g->s_row[r];
        double pos = s, neg = s;
        int mp = 1, mn = 1;
        for (int64_t j = 0; j < k; j++) {
            if (g->mmax > 0 && j % group == 0) {
                const int64_t len = j + group < k ? group : k - j;
                if (g->kind == FGQ_WQ_T2) {
                    for (int64_t i = 0; i < len; i++)
                        tmp[i] = (float)wr[j + i];
                    fgq_ternary_fit fit;
                    fgq_ternary_solve_f32(g->solver, tmp, len, scratch, tt, &fit);
                    double m1 = nearbyint(fit.alpha_pos / s), m2 = nearbyint(fit.alpha_neg / s);
                    m1 = m1 > g->mmax ? g->mmax : m1;
                    m2 = m2 > g->mmax ? g->mmax : m2;
                    mp = (int)m1;
                    mn = na == 2 ? (int)m2 : mp;
                } else { /* the unclipped multiplier, then down to 0.6 of it in at most 24 steps */
                    double pmax = 0.0, nmax = 0.0;
                    for (int64_t i = 0; i < len; i++) {
                        pmax = wr[j + i] > pmax ? wr[j + i] : pmax;
                        nmax = -wr[j + i] > nmax ? -wr[j + i] : nmax;
                    }
                    const double need = pmax / cmax > nmax / -cmin ? pmax / cmax : nmax / -cmin;
                    double m0 = ceil(need / s - 1e-6);
                    m0 = m0 < 1 ? 1 : m0 > g->mmax ? g->mmax : m0;
                    double best = INFINITY, m = m0;
                    if (need > 0.0) {
                        const double lo = fmax(1.0, ceil(0.6 * m0)), stride = fmax(1.0, ceil((m0 - lo) / 24.0));
                        for (double c = m0; c >= lo; c -= stride) {
                            double e = 0.0;
                            for (int64_t i = 0; i < len; i++) {
                                double cc = odd ? 2.0 * nearbyint((wr[j + i] / (c * s) - 1.0) / 2.0) + 1.0
                                                : nearbyint(wr[j + i] / (c * s));
                                cc = cc > cmax ? cmax : cc < cmin ? cmin : cc;
                                e += (wr[j + i] - cc * c * s) * (wr[j + i] - cc * c * s) / dd[j + i];
                            }
                            if (e < best) {
                                best = e;
                                m = c;
                            }
                        }
                    }
                    mp = mn = (int)m;
                }
                mults[(r * ng + j / group) * na] = (uint8_t)mp;
                if (na == 2)
                    mults[(r * ng + j / group) * na + 1] = (uint8_t)mn;
                pos = mp * s;
                neg = mn * s;
            }
            double x = wr[j];
            int c;
            float q;
            if (g->kind == FGQ_WQ_T2) {
                c = x > 0 && pos > 0 && x > 0.5 * pos ? 1 : x < 0 && neg > 0 && -x > 0.5 * neg ? -1 : 0;
                q = c == 0 ? 0.0f : (float)c * (float)(c > 0 ? mp : mn) * (float)s;
            } else {
                double cc = odd ? 2.0 * nearbyint((x / pos - 1.0) / 2.0) + 1.0 : nearbyint(x / pos);
                c = (int)(cc > cmax ? cmax : cc < cmin ? cmin : cc);
                q = (float)c * (float)mp * (float)s;
            }
            codes[r * k + j] = (int8_t)c;
            deq[r * k + j] = q;
            const double d = hi[j * k + j], e = (x - q) / d;
            for (int64_t l = j + 1; l < k; l++)
                wr[l] -= e * hi[j * k + l];
            for (int64_t l = j + 1; l < k; l++)
                for (int64_t m = j + 1; m < k; m++)
                    hi[l * k + m] -= hi[l * k + j] * hi[j * k + m] / d;
        }
    }
    free(a);
    free(hinv);
    free(wr);
    free(hi);
    free(dd);
    free(tmp);
    free(tt);
    free(scratch);
}

typedef struct {
    fgq_wq_kind kind;
    fgq_ternary_solver solver;
    int64_t group;
    int32_t n_alpha;
} grid_case;

static const grid_case k_cases[] = {
    {FGQ_WQ_S8, FGQ_TERNARY_EXACT, 0, 1},   {FGQ_WQ_S8, FGQ_TERNARY_EXACT, 32, 1},
    {FGQ_WQ_S4, FGQ_TERNARY_EXACT, 0, 1},   {FGQ_WQ_S4, FGQ_TERNARY_EXACT, 32, 1},
    {FGQ_WQ_S3, FGQ_TERNARY_EXACT, 0, 1},   {FGQ_WQ_S3, FGQ_TERNARY_EXACT, 32, 1},
    {FGQ_WQ_S2, FGQ_TERNARY_EXACT, 0, 1},   {FGQ_WQ_S2, FGQ_TERNARY_EXACT, 16, 1},
    {FGQ_WQ_T2, FGQ_TERNARY_EXACT, 4, 1},   {FGQ_WQ_T2, FGQ_TERNARY_EXACT, 16, 1},
    {FGQ_WQ_T2, FGQ_TERNARY_EXACT, 64, 1},  {FGQ_WQ_T2, FGQ_TERNARY_TWN, 16, 1},
    {FGQ_WQ_T2, FGQ_TERNARY_ASYM, 16, 2},
};

/* Row steps as quantize.c sets them: per row max|w|/code_max, or the largest
 * group scale / mmax (ternary: the largest exact α / 255). */
static void row_steps(const grid_case *gc, const float *w, int64_t rows, int64_t k, float *s_row, int32_t *mmax)
{
    const int cmax = fgq_gptq_code_max(gc->kind);
    *mmax = gc->group > 0 ? 255 : 0;
    for (int64_t r = 0; r < rows; r++) {
        double amax = 0.0;
        for (int64_t j = 0; j < k; j++)
            amax = fabs(w[r * k + j]) > amax ? fabs(w[r * k + j]) : amax;
        double base = gc->kind == FGQ_WQ_T2 ? 0.7 * amax : amax / cmax;
        s_row[r] = (float)(gc->group > 0 ? base / 255.0 : base);
    }
}

static void test_against_reference(void)
{
    const int64_t rows = 5, k = 70;
    double *x = malloc(sizeof(double) * (size_t)(4 * k * k)), *mix = malloc(sizeof(double) * (size_t)(k * k));
    double *h = malloc(sizeof(double) * (size_t)(k * k)), *u = malloc(sizeof(double) * (size_t)(k * k));
    float *w = malloc(sizeof(float) * (size_t)(rows * k)), *d1 = malloc(sizeof(float) * (size_t)(rows * k));
    float *d2 = malloc(sizeof(float) * (size_t)(rows * k)), s_row[5];
    int8_t *c1 = malloc((size_t)(rows * k)), *c2 = malloc((size_t)(rows * k));
    uint8_t m1[5 * 70 * 2], m2[5 * 70 * 2];
    for (int64_t i = 0; i < k * k; i++)
        mix[i] = rng_gauss() / sqrt((double)k) + (i % (k + 1) == 0 ? 1.0 : 0.0);
    for (size_t ci = 0; ci < sizeof k_cases / sizeof k_cases[0]; ci++)
        for (int corr = 0; corr < 2; corr++) {
            const grid_case *gc = &k_cases[ci];
            make_inputs(x, 2 * k, k, corr, mix);
            gram(x, 2 * k, k, h);
            for (int64_t i = 0; i < rows * k; i++)
                w[i] = (float)(0.1 * rng_gauss());
            fgq_gptq_grid g = {gc->kind, gc->solver, gc->group > 0 ? gc->group : k, gc->n_alpha, 0, s_row};
            row_steps(gc, w, rows, k, s_row, &g.mmax);
            fgq_error err;
            fgq_error_clear(&err);
            CHECK(fgq_gptq_factor(h, k, 0.01, NULL, u, &err) == FGQ_OK);
            memset(m1, 0, sizeof m1);
            memset(m2, 0, sizeof m2);
            CHECK(fgq_gptq_quantize(&g, w, rows, k, u, NULL, c1, m1, d1, &err) == FGQ_OK);
            reference(&g, w, rows, k, h, 0.01, c2, m2, d2);
            int64_t diff = 0;
            for (int64_t i = 0; i < rows * k; i++)
                diff += c1[i] != c2[i] || d1[i] != d2[i];
            CHECK_MSG(diff == 0, "case %zu corr %d: %lld of %lld weights differ from the OBQ reference", ci, corr,
                      (long long)diff, (long long)(rows * k));
            CHECK_MSG(memcmp(m1, m2, sizeof m1) == 0, "case %zu corr %d: group multipliers differ", ci, corr);
        }
    free(x);
    free(mix);
    free(h);
    free(u);
    free(w);
    free(d1);
    free(d2);
    free(c1);
    free(c2);
}

/* ‖(W − Q)X‖² over samples x [n, k] */
static double out_err(const float *w, const float *q, int64_t rows, int64_t k, const double *x, int64_t n)
{
    double e = 0.0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t r = 0; r < rows; r++) {
            double d = 0.0;
            for (int64_t j = 0; j < k; j++)
                d += ((double)w[r * k + j] - (double)q[r * k + j]) * x[s * k + j];
            e += d * d;
        }
    return e;
}

static void test_beats_rounding(void)
{
    const int64_t rows = 16, k = 128, n = 8 * k;
    double *x = malloc(sizeof(double) * (size_t)(n * k)), *xt = malloc(sizeof(double) * (size_t)(n * k));
    double *mix = malloc(sizeof(double) * (size_t)(k * k)), *h = malloc(sizeof(double) * (size_t)(k * k));
    double *u = malloc(sizeof(double) * (size_t)(k * k));
    float *w = malloc(sizeof(float) * (size_t)(rows * k)), *dq = malloc(sizeof(float) * (size_t)(rows * k));
    float *dr = malloc(sizeof(float) * (size_t)(rows * k)), s_row[16];
    int8_t *codes = malloc((size_t)(rows * k));
    uint8_t *mults = malloc((size_t)(rows * k * 2));
    for (int64_t i = 0; i < k * k; i++)
        mix[i] = rng_gauss() / sqrt((double)k) + (i % (k + 1) == 0 ? 0.5 : 0.0);
    for (size_t ci = 0; ci < sizeof k_cases / sizeof k_cases[0]; ci++)
        for (int corr = 0; corr < 3; corr++) {
            const grid_case *gc = &k_cases[ci];
            make_inputs(x, n, k, corr, mix);
            make_inputs(xt, n, k, corr, mix); /* held out */
            gram(x, n, k, h);
            for (int64_t i = 0; i < rows * k; i++)
                w[i] = (float)(0.05 * rng_gauss());
            fgq_gptq_grid g = {gc->kind, gc->solver, gc->group > 0 ? gc->group : k, gc->n_alpha, 0, s_row};
            row_steps(gc, w, rows, k, s_row, &g.mmax);
            fgq_error err;
            fgq_error_clear(&err);
            CHECK(fgq_gptq_factor(h, k, 0.01, NULL, u, &err) == FGQ_OK);
            CHECK(fgq_gptq_quantize(&g, w, rows, k, u, NULL, codes, mults, dq, &err) == FGQ_OK);
            CHECK(fgq_gptq_quantize(&g, w, rows, k, NULL, NULL, codes, mults, dr, &err) == FGQ_OK);
            double eg = out_err(w, dq, rows, k, xt, n), er = out_err(w, dr, rows, k, xt, n);
            /* zero-mean independent inputs leave nothing to exploit: H ≈ n·I, and
             * what GPTQ fits is sampling noise (quantize.c keeps rounding
             * there, chosen on held-out samples); elsewhere it must win. */
            if (corr == 0)
                CHECK_MSG(eg < 1.2 * er, "case %zu iid: held-out output error gptq %.4g vs rounding %.4g", ci, eg, er);
            else
                CHECK_MSG(eg < 0.9 * er, "case %zu corr %d: held-out output error gptq %.4g vs rounding %.4g", ci, corr,
                          eg, er);
            /* fgq_gptq_output_error is the same quantity on H's own samples */
            double eh = fgq_gptq_output_error(w, dq, rows, k, h, NULL), ex = out_err(w, dq, rows, k, x, n);
            CHECK(eh == fgq_gptq_output_error_plain(w, dq, rows, k, h)); /* the AVX2 form and its twin */
            CHECK_MSG(fabs(eh - ex) <= 1e-9 * (ex > 1.0 ? ex : 1.0), "output error via H %.9g vs direct %.9g", eh,
                      ex);
        }
    free(x);
    free(xt);
    free(mix);
    free(h);
    free(u);
    free(w);
    free(dq);
    free(dr);
    free(codes);
    free(mults);
}

/* (w − q)ᵀ(H + λI)(w − q) summed over rows, directly (λ = damp·mean(diag H)). */
static double damped_err(const float *w, const float *q, int64_t rows, int64_t k, const double *h, double damp)
{
    double mean = 0.0;
    for (int64_t j = 0; j < k; j++)
        mean += h[j * k + j];
    const double lambda = damp * mean / (double)k;
    double f = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < k; i++) {
            const double ei = (double)w[r * k + i] - (double)q[r * k + i];
            double s = lambda * ei;
            for (int64_t j = 0; j < k; j++)
                s += h[i * k + j] * ((double)w[r * k + j] - (double)q[r * k + j]);
            f += ei * s;
        }
    return f;
}

/* The kernels' value of a code (quantize.h): code·m·s_row in float, m the sign's multiplier. */
static float kernel_value(const fgq_gptq_grid *g, int32_t c, const uint8_t *m, int32_t na, float s_r)
{
    const int32_t mult = g->mmax == 0 ? 1 : g->kind == FGQ_WQ_T2 && na == 2 && c < 0 ? m[1] : m[0];
    return (float)c * (float)mult * s_r;
}

/* fgq_gptq_refine after GPTQ, every grid of k_cases on correlated inputs: it lowers the damped
 * objective; it stops at a point no single move improves (every code within 3 of its own, every
 * group multiplier ±1, each checked by recomputing the objective from scratch); the values are
 * the kernels' (code·m·s_row); codes stay on their grid and a ternary sign with multiplier 0
 * keeps no codes; held out, over all cases, it leaves less output error than GPTQ alone; and any
 * thread count gives the same bytes. */
static void test_refine(void)
{
    const int64_t rows = 4, k = 48, n = 4 * k;
    const double damp = 0.01;
    double *x = malloc(sizeof(double) * (size_t)(n * k)), *xt = malloc(sizeof(double) * (size_t)(n * k));
    double *mix = malloc(sizeof(double) * (size_t)(k * k)), *h = malloc(sizeof(double) * (size_t)(k * k));
    double *u = malloc(sizeof(double) * (size_t)(k * k));
    float *w = malloc(sizeof(float) * (size_t)(rows * k)), *d0 = malloc(sizeof(float) * (size_t)(rows * k));
    float *d1 = malloc(sizeof(float) * (size_t)(rows * k)), *d2 = malloc(sizeof(float) * (size_t)(rows * k));
    float *dt = malloc(sizeof(float) * (size_t)(rows * k)), s_row[4];
    int8_t *c0 = malloc((size_t)(rows * k)), *c1 = malloc((size_t)(rows * k)), *c2 = malloc((size_t)(rows * k));
    uint8_t m0[4 * 48 * 2], m1[4 * 48 * 2], m2[4 * 48 * 2];
    fgq_threadpool *pool = NULL;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(3, &pool, &err) == FGQ_OK);
    const fgq_parallel *par = fgq_threadpool_parallel(pool);
    for (int64_t i = 0; i < k * k; i++)
        mix[i] = rng_gauss() / sqrt((double)k) + (i % (k + 1) == 0 ? 0.5 : 0.0);
    double held_gptq = 0.0, held_cd = 0.0;
    int moved_cases = 0;
    for (size_t ci = 0; ci < sizeof k_cases / sizeof k_cases[0]; ci++)
        for (int corr = 1; corr < 3; corr++) {
            const grid_case *gc = &k_cases[ci];
            make_inputs(x, n, k, corr, mix);
            make_inputs(xt, n, k, corr, mix);
            gram(x, n, k, h);
            for (int64_t i = 0; i < rows * k; i++)
                w[i] = (float)(0.05 * rng_gauss());
            fgq_gptq_grid g = {gc->kind, gc->solver, gc->group > 0 ? gc->group : k, gc->n_alpha, 0, s_row};
            row_steps(gc, w, rows, k, s_row, &g.mmax);
            const int64_t grp = g.mmax > 0 ? g.group : k, ng = (k + grp - 1) / grp;
            const int32_t na = gc->kind == FGQ_WQ_T2 && gc->n_alpha == 2 ? 2 : 1;
            memset(m0, 0, sizeof m0);
            CHECK(fgq_gptq_factor(h, k, damp, NULL, u, &err) == FGQ_OK);
            CHECK(fgq_gptq_quantize(&g, w, rows, k, u, NULL, c0, m0, d0, &err) == FGQ_OK);
            memcpy(c1, c0, (size_t)(rows * k));
            memcpy(m1, m0, sizeof m0);
            memcpy(d1, d0, sizeof(float) * (size_t)(rows * k));
            CHECK(fgq_gptq_refine(&g, w, rows, k, h, damp, 200, NULL, c1, m1, d1, &err) == FGQ_OK);
            const double f0 = damped_err(w, d0, rows, k, h, damp), f1 = damped_err(w, d1, rows, k, h, damp);
            CHECK_MSG(f1 <= f0 * (1.0 + 1e-12), "case %zu corr %d: refinement raised the objective %.9g -> %.9g", ci,
                      corr, f0, f1);
            moved_cases += f1 < f0 * (1.0 - 1e-9);
            held_gptq += out_err(w, d0, rows, k, xt, n);
            held_cd += out_err(w, d1, rows, k, xt, n);
            /* values, code ranges, dead signs */
            const int32_t cmax = fgq_gptq_code_max(gc->kind);
            const int32_t cmin = gc->kind == FGQ_WQ_S4 ? -8 : gc->kind == FGQ_WQ_S3 ? -4 : -cmax;
            int64_t bad = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < k; j++) {
                    const uint8_t *mg = m1 + (r * ng + j / grp) * na;
                    const int32_t c = c1[r * k + j];
                    bad += d1[r * k + j] != kernel_value(&g, c, mg, na, s_row[r]) || c < cmin || c > cmax;
                    if (gc->kind == FGQ_WQ_T2)
                        bad += (c != 0 && kernel_value(&g, c, mg, na, s_row[r]) == 0.0f);
                    if (gc->kind == FGQ_WQ_S2)
                        bad += c % 2 == 0;
                }
            CHECK_MSG(bad == 0, "case %zu corr %d: %lld codes off their grid or values not the kernels'", ci, corr,
                      (long long)bad);
            /* no single move lowers the objective: codes within 3 */
            int64_t better = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < k; j++) {
                    const uint8_t *mg = m1 + (r * ng + j / grp) * na;
                    const int32_t c = c1[r * k + j];
                    for (int32_t t = c - 3; t <= c + 3; t++) {
                        if (t == c || t < cmin || t > cmax || (gc->kind == FGQ_WQ_S2 && t % 2 == 0))
                            continue;
                        memcpy(dt, d1, sizeof(float) * (size_t)(rows * k));
                        dt[r * k + j] = kernel_value(&g, t, mg, na, s_row[r]);
                        better += damped_err(w, dt, rows, k, h, damp) < f1 * (1.0 - 1e-9);
                    }
                }
            /* ... and group multipliers ±1 */
            for (int64_t r = 0; r < rows && g.mmax > 0; r++)
                for (int64_t gi = 0; gi < ng; gi++)
                    for (int32_t a = 0; a < na; a++)
                        for (int dm = -1; dm <= 1; dm += 2) {
                            uint8_t mt[2];
                            memcpy(mt, m1 + (r * ng + gi) * na, (size_t)na);
                            const int32_t nm = mt[a] + dm, lo = gc->kind == FGQ_WQ_T2 ? 0 : 1;
                            if (mt[a] < lo || nm < lo || nm > g.mmax)
                                continue;
                            mt[a] = (uint8_t)nm;
                            memcpy(dt, d1, sizeof(float) * (size_t)(rows * k));
                            for (int64_t j = gi * grp; j < (gi + 1) * grp && j < k; j++)
                                dt[r * k + j] = kernel_value(&g, c1[r * k + j], mt, na, s_row[r]);
                            better += damped_err(w, dt, rows, k, h, damp) < f1 * (1.0 - 1e-9);
                        }
            CHECK_MSG(better == 0, "case %zu corr %d: %lld single moves still lower the objective", ci, corr,
                      (long long)better);
            /* threads: the same bytes */
            memcpy(c2, c0, (size_t)(rows * k));
            memcpy(m2, m0, sizeof m0);
            memcpy(d2, d0, sizeof(float) * (size_t)(rows * k));
            CHECK(fgq_gptq_refine(&g, w, rows, k, h, damp, 200, par, c2, m2, d2, &err) == FGQ_OK);
            CHECK(memcmp(c1, c2, (size_t)(rows * k)) == 0 && memcmp(m1, m2, sizeof m1) == 0 &&
                  memcmp(d1, d2, sizeof(float) * (size_t)(rows * k)) == 0);
        }
    { /* a sign whose multiplier goes to 0 gives up its codes: positive codes on weights that are 0 */
        enum { K = 16 };
        float wz[K], dz[K], sz[1] = {0.01f};
        int8_t cz[K];
        uint8_t mz[2] = {3, 10};
        double hz[K * K];
        for (int i = 0; i < K * K; i++)
            hz[i] = i % (K + 1) == 0 ? 1.0 : 0.0;
        const fgq_gptq_grid gz = {FGQ_WQ_T2, FGQ_TERNARY_ASYM, K, 2, 127, sz};
        for (int j = 0; j < K; j++) {
            wz[j] = j % 2 ? -0.1f : 0.0f;
            cz[j] = (int8_t)(j % 2 ? -1 : 1);
            dz[j] = kernel_value(&gz, cz[j], mz, 2, sz[0]);
        }
        CHECK(fgq_gptq_refine(&gz, wz, 1, K, hz, damp, 8, NULL, cz, mz, dz, &err) == FGQ_OK);
        int nz = 0;
        for (int j = 0; j < K; j++)
            nz += cz[j] != (j % 2 ? -1 : 0) || dz[j] != kernel_value(&gz, cz[j], mz, 2, sz[0]);
        CHECK_MSG(mz[0] == 0 && mz[1] == 10 && nz == 0, "dead sign: m+ %d m- %d, %d codes wrong", mz[0], mz[1], nz);
    }
    CHECK_MSG(moved_cases >= (int)(sizeof k_cases / sizeof k_cases[0]), "refinement moved only %d of %d cases",
              moved_cases, (int)(2 * sizeof k_cases / sizeof k_cases[0]));
    CHECK_MSG(held_cd < held_gptq, "held-out output error: refined %.6g vs gptq %.6g", held_cd, held_gptq);
    printf("refine: %d of %d cases moved; held-out output error %.4g -> %.4g\n", moved_cases,
           (int)(2 * sizeof k_cases / sizeof k_cases[0]), held_gptq, held_cd);
    fgq_threadpool_destroy(pool);
    free(x);
    free(xt);
    free(mix);
    free(h);
    free(u);
    free(w);
    free(d0);
    free(d1);
    free(d2);
    free(dt);
    free(c0);
    free(c1);
    free(c2);
}

/* The s8/s4 group multiplier search, plain rounding (no U: unweighted): a group of small weights
 * with one outlier clips the outlier for a finer step, which leaves less error than the
 * unclipped multiplier; an outlier on the negative side uses s4's code −8; a group of equal
 * weights keeps the unclipped multiplier. */
static void test_group_multiplier_search(void)
{
    enum { K = 64 };
    float w[3 * K], dq[3 * K], s_row[3];
    int8_t codes[3 * K];
    uint8_t mults[3 * 2];
    for (int64_t j = 0; j < K; j++) {
        w[j] = (float)(0.1 * sin(0.7 * (double)j)); /* row 0: smooth, one outlier */
        w[K + j] = w[j];                            /* row 1: the same, outlier negative */
        w[2 * K + j] = 0.25f;                       /* row 2: all equal */
    }
    w[5] = 1.0f;
    w[K + 5] = -1.0f;
    for (int r = 0; r < 3; r++)
        s_row[r] = 1.0f / 7.0f / 200.0f; /* multiplier units: the outlier's unclipped m is 200 */
    for (int kind = 0; kind < 2; kind++) {
        fgq_gptq_grid g = {kind ? FGQ_WQ_S4 : FGQ_WQ_S8, FGQ_TERNARY_EXACT, 32, 1, 255, s_row};
        const int32_t cmax = fgq_gptq_code_max(g.kind), cmin = kind ? -8 : -cmax;
        fgq_error err;
        fgq_error_clear(&err);
        CHECK(fgq_gptq_quantize(&g, w, 3, K, NULL, NULL, codes, mults, dq, &err) == FGQ_OK);
        for (int r = 0; r < 3; r++) {
            /* the unclipped multiplier of group 0, and its error */
            double pmax = 0.0, nmax = 0.0;
            for (int j = 0; j < 32; j++) {
                pmax = fmax(pmax, w[r * K + j]);
                nmax = fmax(nmax, -w[r * K + j]);
            }
            const double m0 = ceil(fmax(pmax / cmax, nmax / -cmin) / s_row[r] - 1e-6);
            double e0 = 0.0, e = 0.0;
            for (int j = 0; j < 32; j++) {
                const double st = m0 * s_row[r], c = fmin(fmax(nearbyint(w[r * K + j] / st), cmin), cmax);
                e0 += (w[r * K + j] - c * st) * (w[r * K + j] - c * st);
                e += ((double)w[r * K + j] - dq[r * K + j]) * ((double)w[r * K + j] - dq[r * K + j]);
                CHECK(codes[r * K + j] >= cmin && codes[r * K + j] <= cmax);
            }
            if (r < 2) {
                CHECK_MSG(mults[r * 2] < m0 && e < e0, "kind %d row %d: multiplier %d (unclipped %g), error %g vs %g",
                          kind, r, mults[r * 2], m0, e, e0);
            } else {
                CHECK_MSG(mults[r * 2] == m0 && e <= e0 + 1e-12, "kind %d: equal weights moved the multiplier to %d", kind,
                          mults[r * 2]);
            }
        }
        CHECK(codes[K + 5] == cmin); /* the clipped negative outlier sits on the lowest code: s4 −8 */
    }
}

static void test_dead_columns(void)
{
    const int64_t rows = 4, k = 24, n = 100;
    double x[100 * 24], h[24 * 24], u[24 * 24];
    float w[4 * 24], dq[4 * 24], dr[4 * 24], s_row[4];
    int8_t codes[4 * 24];
    uint8_t mults[4 * 24];
    make_inputs(x, n, k, 0, NULL);
    for (int64_t s = 0; s < n; s++)
        for (int64_t j = 0; j < k; j += 3)
            x[s * k + j] = 0.0; /* every third input is always 0 */
    gram(x, n, k, h);
    for (int64_t i = 0; i < rows * k; i++)
        w[i] = (float)rng_gauss();
    const grid_case gc = {FGQ_WQ_S4, FGQ_TERNARY_EXACT, 0, 1};
    fgq_gptq_grid g = {gc.kind, gc.solver, k, 1, 0, s_row};
    row_steps(&gc, w, rows, k, s_row, &g.mmax);
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_gptq_factor(h, k, 0.01, NULL, u, &err) == FGQ_OK);
    for (int64_t j = 0; j < k; j += 3)
        for (int64_t l = 0; l < k; l++)
            CHECK(l == j || (u[j * k + l] == 0.0 && u[l * k + j] == 0.0));
    CHECK(fgq_gptq_quantize(&g, w, rows, k, u, NULL, codes, mults, dq, &err) == FGQ_OK);
    CHECK(fgq_gptq_quantize(&g, w, rows, k, NULL, NULL, codes, mults, dr, &err) == FGQ_OK);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j += 3)
            CHECK(dq[r * k + j] == dr[r * k + j]); /* untouched by the others' errors: rounded as they are */
}

/* H of a grouped, strided, padded 2-D convolution against the im2col
 * definition, and of a Gemm input. */
/* The conv geometry both statistics tests use: batch 2, 4 channels in two
 * groups, input 5x6(x1), kernel 3x2, stride (2, 1), dilation (1, 2), pad 1. */
static void conv_view(fgq_layer_view *v)
{
    memset(v, 0, sizeof *v);
    v->is_conv = 1;
    v->n = 2;
    v->c = 4;
    v->groups = 2;
    const int64_t in[3] = {5, 6, 1}, ker[3] = {3, 2, 1}, str[3] = {2, 1, 1}, dil[3] = {1, 2, 1}, pad[3] = {1, 1, 0};
    const int64_t out[3] = {3, 5, 1}; /* (5 + 2 - 3) / 2 + 1; (6 + 1 + 1 - 3) / 1 + 1 with pad end 1 */
    for (int d = 0; d < 3; d++) {
        v->in[d] = in[d];
        v->ker[d] = ker[d];
        v->str[d] = str[d];
        v->dil[d] = dil[d];
        v->pad[d] = pad[d];
        v->out[d] = out[d];
    }
    v->k = 2 * 3 * 2;
    v->rows = 6;
}

static void test_hessian_conv(void)
{
    fgq_layer_view v;
    conv_view(&v);
    const int64_t k = v.k;
    float x[2 * 4 * 5 * 6];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(rng_gauss());
    double *h = calloc((size_t)(2 * k * k), sizeof(double)), *ref = calloc((size_t)(2 * k * k), sizeof(double));
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_hessian_add(&v, x, h, NULL, &err) == FGQ_OK);
    fgq_hessian_symmetrize(h, 2, k);
    for (int64_t g = 0; g < 2; g++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t o0 = 0; o0 < 3; o0++)
                for (int64_t o1 = 0; o1 < 5; o1++) {
                    double col[12];
                    for (int64_t ci = 0; ci < 2; ci++)
                        for (int64_t a = 0; a < 3; a++)
                            for (int64_t e = 0; e < 2; e++) {
                                int64_t i0 = o0 * 2 - 1 + a, i1 = o1 - 1 + e * 2;
                                col[(ci * 3 + a) * 2 + e] =
                                    i0 >= 0 && i0 < 5 && i1 >= 0 && i1 < 6 ? x[((b * 4 + g * 2 + ci) * 5 + i0) * 6 + i1]
                                                                           : 0.0;
                            }
                    for (int64_t i = 0; i < k; i++)
                        for (int64_t j = 0; j < k; j++)
                            ref[g * k * k + i * k + j] += col[i] * col[j];
                }
    double worst = 0.0;
    for (int64_t i = 0; i < 2 * k * k; i++)
        worst = fabs(h[i] - ref[i]) > worst ? fabs(h[i] - ref[i]) : worst;
    CHECK_MSG(worst < 1e-4, "conv H differs from im2col by %g", worst);
    /* Gemm: rows of the input */
    fgq_layer_view gv;
    memset(&gv, 0, sizeof gv);
    gv.k = 40;
    gv.m = 3;
    gv.groups = 1;
    float xg[120];
    for (int i = 0; i < 120; i++)
        xg[i] = (float)rng_gauss();
    double *hg = calloc(1600, sizeof(double));
    CHECK(fgq_hessian_add(&gv, xg, hg, NULL, &err) == FGQ_OK);
    fgq_hessian_symmetrize(hg, 1, 40);
    worst = 0.0;
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < 40; j++) {
            double s = 0.0;
            for (int r = 0; r < 3; r++)
                s += (double)xg[r * 40 + i] * xg[r * 40 + j];
            worst = fabs(hg[i * 40 + j] - s) > worst ? fabs(hg[i * 40 + j] - s) : worst;
        }
    CHECK_MSG(worst < 1e-4, "gemm H differs by %g", worst);
    free(h);
    free(ref);
    free(hg);
}

/* The quantized-prefix statistics (solve/sequential.h): P = Σ cols(x)ᵀ·cols(x̃)
 * and the column sums, against im2col written out, on the same conv geometry
 * as above (two groups, stride, dilation, padding); x̃ = x gives P = H. */
static void test_cross_statistics(void)
{
    fgq_layer_view v;
    conv_view(&v);
    const int64_t k = v.k;
    CHECK(fgq_layer_positions(&v) == 30); /* batch 2 x 15 output positions */
    float x[2 * 4 * 5 * 6], xt[2 * 4 * 5 * 6];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        x[i] = (float)rng_gauss();
        xt[i] = x[i] + 0.1f * (float)rng_gauss();
    }
    double *p = calloc((size_t)(2 * k * k), sizeof(double)), *ref = calloc((size_t)(2 * k * k), sizeof(double));
    double sx[24] = {0}, sxt[24] = {0}, rsx[24] = {0}, rsxt[24] = {0};
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_hessian_add_cross(&v, x, xt, p, sx, sxt, &err) == FGQ_OK);
    for (int64_t g = 0; g < 2; g++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t o0 = 0; o0 < 3; o0++)
                for (int64_t o1 = 0; o1 < 5; o1++) {
                    double col[12], colt[12];
                    for (int64_t ci = 0; ci < 2; ci++)
                        for (int64_t a = 0; a < 3; a++)
                            for (int64_t e = 0; e < 2; e++) {
                                int64_t i0 = o0 * 2 - 1 + a, i1 = o1 - 1 + e * 2;
                                int in = i0 >= 0 && i0 < 5 && i1 >= 0 && i1 < 6;
                                int64_t at = ((b * 4 + g * 2 + ci) * 5 + i0) * 6 + i1;
                                col[(ci * 3 + a) * 2 + e] = in ? x[at] : 0.0;
                                colt[(ci * 3 + a) * 2 + e] = in ? xt[at] : 0.0;
                            }
                    for (int64_t i = 0; i < k; i++) {
                        rsx[g * k + i] += col[i];
                        rsxt[g * k + i] += colt[i];
                        for (int64_t j = 0; j < k; j++)
                            ref[g * k * k + i * k + j] += col[i] * colt[j];
                    }
                }
    double worst = 0.0;
    for (int64_t i = 0; i < 2 * k * k; i++)
        worst = fmax(worst, fabs(p[i] - ref[i]));
    for (int64_t i = 0; i < 2 * k; i++)
        worst = fmax(worst, fmax(fabs(sx[i] - rsx[i]), fabs(sxt[i] - rsxt[i])));
    CHECK_MSG(worst < 1e-4, "cross statistics differ from im2col by %g", worst);
    /* x̃ = x: P is H */
    double *h = calloc((size_t)(2 * k * k), sizeof(double));
    memset(p, 0, (size_t)(2 * k * k) * sizeof(double));
    CHECK(fgq_hessian_add_cross(&v, x, x, p, sx, sxt, &err) == FGQ_OK);
    CHECK(fgq_hessian_add(&v, x, h, NULL, &err) == FGQ_OK);
    fgq_hessian_symmetrize(h, 2, k);
    worst = 0.0;
    for (int64_t i = 0; i < 2 * k * k; i++)
        worst = fmax(worst, fabs(p[i] - h[i]));
    CHECK_MSG(worst < 1e-4, "P(x, x) differs from H(x) by %g", worst);
    /* Gemm rows, P only where asked (NULL: sums only) */
    fgq_layer_view gv;
    memset(&gv, 0, sizeof gv);
    gv.k = 5;
    gv.m = 3;
    gv.groups = 1;
    CHECK(fgq_layer_positions(&gv) == 3);
    float a[15], at[15];
    for (int i = 0; i < 15; i++) {
        a[i] = (float)rng_gauss();
        at[i] = (float)rng_gauss();
    }
    double s1[5] = {0}, s2[5] = {0};
    CHECK(fgq_hessian_add_cross(&gv, a, at, NULL, s1, s2, &err) == FGQ_OK);
    for (int j = 0; j < 5; j++)
        CHECK(fabs(s1[j] - ((double)a[j] + a[5 + j] + a[10 + j])) < 1e-5 &&
              fabs(s2[j] - ((double)at[j] + at[5 + j] + at[10 + j])) < 1e-5);
    free(p);
    free(ref);
    free(h);
}

/* Threads split rows (and U's rows): the same bytes as the serial run. */
static void test_threads_same_bytes(void)
{
    const int64_t rows = 37, k = 96, n = 3 * k;
    double *x = malloc(sizeof(double) * (size_t)(n * k)), *h = malloc(sizeof(double) * (size_t)(k * k));
    double *u1 = malloc(sizeof(double) * (size_t)(k * k)), *u2 = malloc(sizeof(double) * (size_t)(k * k));
    float *w = malloc(sizeof(float) * (size_t)(rows * k)), *d1 = malloc(sizeof(float) * (size_t)(rows * k));
    float *d2 = malloc(sizeof(float) * (size_t)(rows * k)), s_row[37];
    int8_t *c1 = malloc((size_t)(rows * k)), *c2 = malloc((size_t)(rows * k));
    uint8_t m1[37 * 96 * 2], m2[37 * 96 * 2];
    make_inputs(x, n, k, 2, NULL);
    gram(x, n, k, h);
    for (int64_t i = 0; i < rows * k; i++)
        w[i] = (float)rng_gauss();
    const grid_case gc = {FGQ_WQ_T2, FGQ_TERNARY_ASYM, 16, 2};
    fgq_gptq_grid g = {gc.kind, gc.solver, 16, 2, 0, s_row};
    row_steps(&gc, w, rows, k, s_row, &g.mmax);
    fgq_threadpool *pool = NULL;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(3, &pool, &err) == FGQ_OK);
    const fgq_parallel *par = fgq_threadpool_parallel(pool);
    memset(m1, 0, sizeof m1);
    memset(m2, 0, sizeof m2);
    CHECK(fgq_gptq_factor(h, k, 0.01, NULL, u1, &err) == FGQ_OK);
    CHECK(fgq_gptq_factor(h, k, 0.01, par, u2, &err) == FGQ_OK);
    CHECK(memcmp(u1, u2, sizeof(double) * (size_t)(k * k)) == 0);
    CHECK(fgq_gptq_quantize(&g, w, rows, k, u1, NULL, c1, m1, d1, &err) == FGQ_OK);
    CHECK(fgq_gptq_quantize(&g, w, rows, k, u2, par, c2, m2, d2, &err) == FGQ_OK);
    CHECK(memcmp(c1, c2, (size_t)(rows * k)) == 0 && memcmp(m1, m2, sizeof m1) == 0);
    CHECK(memcmp(d1, d2, sizeof(float) * (size_t)(rows * k)) == 0);
    CHECK(fgq_gptq_output_error(w, d1, rows, k, h, NULL) == fgq_gptq_output_error(w, d2, rows, k, h, par));
    CHECK(fgq_gptq_output_error(w, d1, rows, k, h, par) == fgq_gptq_output_error_plain(w, d1, rows, k, h));
    fgq_threadpool_destroy(pool);
    free(x);
    free(h);
    free(u1);
    free(u2);
    free(w);
    free(d1);
    free(d2);
    free(c1);
    free(c2);
}

/* Largest |after − before − Σ_p a[p][i]·b[p][j]| over (i, j) (j >= i when
 * upper), relative to Σ_p |a[p][i]·b[p][j]| + 1, the sums in double: how
 * far the tile kernel's float-per-block result is from its definition. */
static double off_definition(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, const double *before,
                             const double *after, int upper)
{
    double worst = 0.0;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = upper ? i : 0; j < k; j++) {
            double sum = 0.0, mag = 0.0;
            for (int64_t p = 0; p < np; p++) {
                sum += (double)a[p * ld + i] * b[p * ld + j];
                mag += fabs((double)a[p * ld + i] * b[p * ld + j]);
            }
            const double e = fabs(after[i * k + j] - before[i * k + j] - sum) / (mag + 1.0);
            worst = e > worst ? e : worst;
        }
    return worst;
}

/* The kernel under fgq_hessian_add against its plain C twin: the same bits
 * (each entry a float sum over the rows in order, then a double add), on
 * every k from 1 to 70 and a few wider ones, 1 to 64 rows, padded row
 * strides, values with an exponent spread so that any change of order or
 * rounding shows. Entries below the diagonal are compared too (both forms
 * touch the same ones); the upper triangle is also checked against the sum
 * of the definition, to float rounding. */
static void test_syrk_twins(void)
{
    static const int64_t wide[] = {95, 96, 97, 127, 128, 129, 200};
    const int64_t n_cases = 70 + (int64_t)(sizeof wide / sizeof wide[0]);
    for (int64_t t = 0; t < n_cases; t++) {
        const int64_t k = t < 70 ? t + 1 : wide[t - 70];
        const int64_t np = 1 + (int64_t)(rng_u64() % 64), ld = fgq_hessian_ld(k) + 16 * (int64_t)(rng_u64() % 2);
        CHECK(ld >= k && ld % 16 == 0 && ld >= (k + 5) / 6 * 6);
        float *x = calloc((size_t)(np * ld), sizeof(float));
        double *h = malloc((size_t)(k * k) * sizeof(double)), *r = malloc((size_t)(k * k) * sizeof(double));
        double *h0 = malloc((size_t)(k * k) * sizeof(double));
        for (int64_t p = 0; p < np; p++)
            for (int64_t j = 0; j < k; j++)
                x[p * ld + j] = (float)(rng_gauss() * exp(2.0 * rng_gauss()));
        for (int64_t i = 0; i < k * k; i++)
            h[i] = r[i] = h0[i] = rng_gauss();
        fgq_hessian_syrk(x, np, k, ld, h);
        fgq_hessian_syrk_ref(x, np, k, ld, r);
        CHECK_MSG(memcmp(h, r, (size_t)(k * k) * sizeof(double)) == 0, "k %lld np %lld: kernel and twin differ",
                  (long long)k, (long long)np);
        double worst = off_definition(x, x, np, k, ld, h0, h, 1);
        CHECK_MSG(worst < 1e-5, "k %lld np %lld: H off the definition by %g", (long long)k, (long long)np, worst);
        /* the two-operand form (P of the sequential statistics), every entry */
        float *y = calloc((size_t)(np * ld), sizeof(float));
        for (int64_t p = 0; p < np; p++)
            for (int64_t j = 0; j < k; j++)
                y[p * ld + j] = (float)(rng_gauss() * exp(2.0 * rng_gauss()));
        for (int64_t i = 0; i < k * k; i++)
            h[i] = r[i] = h0[i];
        fgq_hessian_cross(x, y, np, k, ld, h);
        fgq_hessian_cross_ref(x, y, np, k, ld, r);
        CHECK_MSG(memcmp(h, r, (size_t)(k * k) * sizeof(double)) == 0, "k %lld np %lld: cross kernel and twin differ",
                  (long long)k, (long long)np);
        worst = off_definition(x, y, np, k, ld, h0, h, 0);
        CHECK_MSG(worst < 1e-5, "k %lld np %lld: P off the definition by %g", (long long)k, (long long)np, worst);
        free(y);
        free(x);
        free(h);
        free(r);
        free(h0);
    }
}

/* Convolution im2col rows (fgq_layer_columns: the 1x1 copy, and the general
 * gather with its no-bounds-check interior) against the gather written out,
 * for pointwise, strided, padded, dilated, depthwise and 3-D geometries, on
 * blocks that start mid-row and span several output rows. */
static void test_layer_columns(void)
{
    typedef struct {
        int64_t c, groups, in[3], ker[3], str[3], dil[3], pad[3];
    } geo;
    static const geo cases[] = {
        {5, 1, {7, 6, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}},  /* pointwise: the copy */
        {19, 1, {7, 6, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}}, /* the 8x8 transposes and their tails */
        {24, 2, {5, 9, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}}, /* grouped: 12 channels a group */
        {5, 1, {7, 6, 1}, {1, 1, 1}, {2, 2, 1}, {1, 1, 1}, {0, 0, 0}},  /* strided 1x1 */
        {6, 6, {9, 8, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 0}},  /* depthwise 3x3 */
        {4, 2, {9, 11, 1}, {5, 3, 1}, {2, 1, 1}, {1, 2, 1}, {2, 2, 0}}, /* grouped, strided, dilated */
        {3, 1, {4, 5, 6}, {2, 3, 2}, {1, 2, 2}, {2, 1, 1}, {1, 1, 0}},  /* 3-D */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geo *c = &cases[ci];
        fgq_layer_view v;
        memset(&v, 0, sizeof v);
        v.is_conv = 1;
        v.n = 2;
        v.c = c->c;
        v.groups = c->groups;
        int64_t kk = 1, plane = 1, np = 1;
        for (int d = 0; d < 3; d++) {
            v.in[d] = c->in[d];
            v.ker[d] = c->ker[d];
            v.str[d] = c->str[d];
            v.dil[d] = c->dil[d];
            v.pad[d] = c->pad[d];
            v.out[d] = (c->in[d] + 2 * c->pad[d] - (c->ker[d] - 1) * c->dil[d] - 1) / c->str[d] + 1;
            kk *= c->ker[d];
            plane *= c->in[d];
            np *= v.out[d];
        }
        const int64_t cg = c->c / c->groups;
        v.k = cg * kk;
        float *x = malloc((size_t)(v.n * c->c * plane) * sizeof(float));
        for (int64_t i = 0; i < v.n * c->c * plane; i++)
            x[i] = (float)rng_gauss();
        float *got = malloc((size_t)(np * v.k) * sizeof(float)), *want = malloc((size_t)(np * v.k) * sizeof(float));
        for (int64_t b = 0; b < v.n; b++)
            for (int64_t g = 0; g < c->groups; g++) {
                const int64_t p0 = np > 3 ? 3 : 0, n = np - p0;
                fgq_layer_columns(&v, x, b, g, p0, n, got);
                for (int64_t q = 0; q < n; q++) {
                    const int64_t p = p0 + q, o[3] = {p / (v.out[1] * v.out[2]), (p / v.out[2]) % v.out[1], p % v.out[2]};
                    int64_t col = 0;
                    for (int64_t ch = 0; ch < cg; ch++)
                        for (int64_t a = 0; a < c->ker[0]; a++)
                            for (int64_t e = 0; e < c->ker[1]; e++)
                                for (int64_t f = 0; f < c->ker[2]; f++, col++) {
                                    const int64_t t[3] = {a, e, f};
                                    int64_t i[3];
                                    int in = 1;
                                    for (int d = 0; d < 3; d++) {
                                        i[d] = o[d] * c->str[d] - c->pad[d] + t[d] * c->dil[d];
                                        in = in && i[d] >= 0 && i[d] < c->in[d];
                                    }
                                    want[q * v.k + col] =
                                        in ? x[(b * c->c + g * cg + ch) * plane + (i[0] * c->in[1] + i[1]) * c->in[2] + i[2]]
                                           : 0.0f;
                                }
                }
                CHECK_MSG(memcmp(got, want, (size_t)(n * v.k) * sizeof(float)) == 0,
                          "case %zu batch %lld group %lld: columns differ", ci, (long long)b, (long long)g);
            }
        free(x);
        free(got);
        free(want);
    }
}

/* A convolution's layer view: batch n, c input channels in `groups` groups, 3-D geometry (a 2-D
 * layer has its unit dim last, as fgq_layer_view_of fills it), the output sizes from a symmetric
 * padding. Returns the output positions. */
static int64_t geo_view(fgq_layer_view *v, int64_t n, int64_t c, int64_t groups, const int64_t in[3],
                        const int64_t ker[3], const int64_t str[3], const int64_t dil[3], const int64_t pad[3])
{
    memset(v, 0, sizeof *v);
    v->is_conv = 1;
    v->n = n;
    v->c = c;
    v->groups = groups;
    int64_t np = 1;
    for (int d = 0; d < 3; d++) {
        v->in[d] = in[d];
        v->ker[d] = ker[d];
        v->str[d] = str[d];
        v->dil[d] = dil[d];
        v->pad[d] = pad[d];
        v->out[d] = (in[d] + 2 * pad[d] - dil[d] * (ker[d] - 1) - 1) / str[d] + 1;
        np *= v->out[d];
    }
    v->k = c / groups * ker[0] * ker[1] * ker[2];
    return np;
}

/* fgq_hessian_add with a thread provider (2 and 3 threads) against none: the same bits, on a 1x1
 * convolution (the copy columns) and a padded, strided 3x3 one (the gather), K above the size
 * where threads start, position counts that leave a partial block, batch 2, two groups. */
static void test_hessian_threads_same_bytes(void)
{
    typedef struct {
        int64_t n, c, groups, in[3], ker[3], str[3], pad[3];
    } geo;
    static const geo cases[] = {
        {1, 96, 1, {13, 11, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}},
        {2, 16, 2, {9, 10, 1}, {3, 3, 1}, {2, 1, 1}, {1, 1, 0}},
    };
    fgq_threadpool *pools[2] = {NULL, NULL};
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(2, &pools[0], &err) == FGQ_OK);
    CHECK(fgq_threadpool_create(3, &pools[1], &err) == FGQ_OK);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geo *c = &cases[ci];
        static const int64_t one[3] = {1, 1, 1};
        fgq_layer_view v;
        geo_view(&v, c->n, c->c, c->groups, c->in, c->ker, c->str, one, c->pad);
        v.rows = c->groups;
        const int64_t nx = c->n * c->c * c->in[0] * c->in[1] * c->in[2], nh = c->groups * v.k * v.k;
        float *x = malloc(sizeof(float) * (size_t)nx);
        for (int64_t i = 0; i < nx; i++)
            x[i] = (float)rng_gauss();
        double *h0 = calloc((size_t)nh, sizeof(double));
        CHECK(fgq_hessian_add(&v, x, h0, NULL, &err) == FGQ_OK);
        for (int p = 0; p < 2; p++) {
            double *h = calloc((size_t)nh, sizeof(double));
            CHECK(fgq_hessian_add(&v, x, h, fgq_threadpool_parallel(pools[p]), &err) == FGQ_OK);
            CHECK_MSG(memcmp(h, h0, sizeof(double) * (size_t)nh) == 0, "case %zu, %d threads: H differs", ci, p + 2);
            free(h);
        }
        free(h0);
        free(x);
    }
    fgq_threadpool_destroy(pools[0]);
    fgq_threadpool_destroy(pools[1]);
}

/* Depthwise layers' own path in fgq_hessian_add: the AVX2 pair sums against their plain C twin
 * (the same bits, k 1..30 and every block width), and the H it sums against the im2col definition
 * summed in double (fgq_layer_columns), to float rounding, on strided, padded and dilated 3x3 and
 * 5x5 windows, a channel multiplier of 2 and batch 2; threads give the same bits. */
static void test_hessian_depthwise(void)
{
    float T[FGQ_HESSIAN_DW_MAX_K * 64];
    for (int64_t k = 1; k <= 30; k++)
        for (int64_t nq8 = 8; nq8 <= 64; nq8 += 8) {
            for (int64_t i = 0; i < k * 64; i++)
                T[i] = (float)(rng_gauss() * exp(rng_gauss()));
            double *h1 = malloc(sizeof(double) * (size_t)(k * k)), *h0 = malloc(sizeof(double) * (size_t)(k * k));
            for (int64_t i = 0; i < k * k; i++)
                h1[i] = h0[i] = rng_gauss();
            fgq_hessian_dw_pairs(T, k, nq8, h1, 1);
            fgq_hessian_dw_pairs(T, k, nq8, h0, 0);
            CHECK_MSG(memcmp(h1, h0, sizeof(double) * (size_t)(k * k)) == 0, "k %lld nq8 %lld: pair twins differ",
                      (long long)k, (long long)nq8);
            free(h1);
            free(h0);
        }
    typedef struct {
        int64_t n, c, in[3], ker[3], str[3], dil[3], pad[3];
    } geo;
    static const geo cases[] = {
        {2, 5, {9, 11, 1}, {3, 3, 1}, {2, 2, 1}, {1, 1, 1}, {1, 1, 0}},
        {1, 3, {12, 13, 1}, {5, 5, 1}, {1, 1, 1}, {2, 1, 1}, {4, 2, 0}},
        {1, 4, {10, 10, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 0}},
    };
    fgq_threadpool *pool = NULL;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(2, &pool, &err) == FGQ_OK);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geo *c = &cases[ci];
        fgq_layer_view v;
        const int64_t np = geo_view(&v, c->n, c->c, c->c, c->in, c->ker, c->str, c->dil, c->pad);
        v.rows = 2 * c->c;
        const int64_t k = v.k, nx = c->n * c->c * c->in[0] * c->in[1] * c->in[2], nh = c->c * k * k;
        float *x = malloc(sizeof(float) * (size_t)nx), *cols = malloc(sizeof(float) * (size_t)(np * k));
        for (int64_t i = 0; i < nx; i++)
            x[i] = (float)rng_gauss();
        double *h = calloc((size_t)nh, sizeof(double)), *h2 = calloc((size_t)nh, sizeof(double));
        double *want = calloc((size_t)nh, sizeof(double));
        CHECK(fgq_hessian_add(&v, x, h, NULL, &err) == FGQ_OK);
        CHECK(fgq_hessian_add(&v, x, h2, fgq_threadpool_parallel(pool), &err) == FGQ_OK);
        CHECK_MSG(memcmp(h, h2, sizeof(double) * (size_t)nh) == 0, "case %zu: 2 threads change H", ci);
        for (int64_t b = 0; b < c->n; b++)
            for (int64_t g = 0; g < c->c; g++) {
                fgq_layer_columns(&v, x, b, g, 0, np, cols);
                for (int64_t q = 0; q < np; q++)
                    for (int64_t i = 0; i < k; i++)
                        for (int64_t j = 0; j < k; j++)
                            want[g * k * k + i * k + j] += (double)cols[q * k + i] * (double)cols[q * k + j];
            }
        double worst = 0.0;
        for (int64_t g = 0; g < c->c; g++)
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = i; j < k; j++) {
                    const double w = want[g * k * k + i * k + j], got = h[g * k * k + i * k + j];
                    const double e = fabs(got - w) / (1.0 + fabs(w));
                    worst = e > worst ? e : worst;
                }
        CHECK_MSG(worst < 1e-5, "case %zu: depthwise H off the definition by %g", ci, worst);
        free(x);
        free(cols);
        free(h);
        free(h2);
        free(want);
    }
    fgq_threadpool_destroy(pool);
}

/* The sequential pass's memory (fgq_sequential_state_bytes): the node
 * outputs alive while a node runs (its inputs and outputs included), both
 * models, n samples; graph inputs are the caller's. x -> a = Sigmoid(x) ->
 * b = Tanh(a) -> c = a + b -> y = c * w, 4 floats each: a, b and c at the
 * Add (48 bytes a sample). */
static void test_sequential_state_bytes(void)
{
    int32_t t[6];
    fgq_graph *g = skip_graph(NULL, 0, t);
    CHECK(fgq_sequential_state_bytes(g, 1) == 2 * 48);
    CHECK(fgq_sequential_state_bytes(g, 10) == 2 * 48 * 10);
    CHECK(fgq_sequential_state_bytes(g, (int64_t)1 << 61) == INT64_MAX); /* saturates, no overflow */
    fgq_graph_free(g);
}

int main(void)
{
    RUN(test_threads_same_bytes);
    RUN(test_factor);
    RUN(test_against_reference);
    RUN(test_beats_rounding);
    RUN(test_refine);
    RUN(test_group_multiplier_search);
    RUN(test_dead_columns);
    RUN(test_hessian_conv);
    RUN(test_syrk_twins);
    RUN(test_hessian_threads_same_bytes);
    RUN(test_hessian_depthwise);
    RUN(test_layer_columns);
    RUN(test_cross_statistics);
    RUN(test_sequential_state_bytes);
    return FGQ_TEST_DONE();
}
