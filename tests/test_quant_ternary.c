/*
 * test_quant_ternary.c — FGQ ternary solvers, 2-bit packing and the ternary format.
 *
 * Oracles:
 *  - brute force over every threshold (exact: one threshold on |w|; asym: every
 *    pair of thresholds on the positives and on the negatives) with the
 *    closed-form optimal alpha (mean |w| over the support);
 *  - full enumeration of T in {-1,0,1}^N for N <= 8 with the optimal alpha
 *    per T (alpha = max(0, <w,T>/nnz(T)); for asym one alpha per sign);
 *  - the definition of the packed layout (t2.h) for pack/unpack;
 *  - the per-group definition for tail groups and the integerised alphas.
 */
#include "fgq_test.h"
#include "quant/format/ternary.h"
#include "quant/t2.h"
#include "quant/s4.h"
#include "quant/format/wformat.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void)
{
    return fgq_test_xorshift64(&rng_state);
}
static double rng_unit(void) { return ((double)(rng_u64() >> 11) + 0.5) / 9007199254740992.0; }
static double rng_gauss(void) { return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit()); }

/* Fills w with one of several distributions; kind 5 has many exact ties. */
static void fill(float *w, int n, int kind)
{
    double mean = kind == 4 ? 0.7 : 0.0;
    for (int i = 0; i < n; i++) {
        double u = rng_unit();
        double v;
        switch (kind) {
        case 0: v = rng_gauss(); break;
        case 1: v = 2.0 * u - 1.0; break;
        case 2: v = (u < 0.5 ? log(2.0 * u) : -log(2.0 * (1.0 - u))); break; /* laplace */
        case 3: v = 0.01 * rng_gauss(); break;
        case 4: v = mean + rng_gauss(); break;
        default: v = (double)((int)(rng_u64() % 7) - 3); break; /* -3..3, ties and zeros */
        }
        w[i] = (float)v;
    }
}

static double sumsq(const float *w, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += (double)w[i] * w[i];
    return s;
}

/* Error of the best alpha for the support {|w| >= tau} (symmetric). */
static double exact_by_thresholds(const float *w, int n)
{
    double best = sumsq(w, n); /* empty support */
    for (int j = 0; j < n; j++) {
        double tau = fabs((double)w[j]), s = 0.0;
        int cnt = 0;
        for (int i = 0; i < n; i++)
            if (fabs((double)w[i]) >= tau) {
                s += fabs((double)w[i]);
                cnt++;
            }
        if (cnt == 0 || s == 0.0)
            continue;
        double e = sumsq(w, n) - s * s / cnt;
        best = e < best ? e : best;
    }
    return best;
}

/* Best reduction of error for one sign: max over thresholds tau of S^2/cnt
 * for the values v (sign-flipped to positive) >= tau. */
static double best_gain_one_sign(const float *w, int n, int sign)
{
    double gain = 0.0;
    for (int j = 0; j < n; j++) {
        double tj = sign * (double)w[j];
        if (tj <= 0.0)
            continue;
        double s = 0.0;
        int cnt = 0;
        for (int i = 0; i < n; i++) {
            double v = sign * (double)w[i];
            if (v > 0.0 && v >= tj) {
                s += v;
                cnt++;
            }
        }
        double g = s * s / cnt;
        gain = g > gain ? g : gain;
    }
    return gain;
}

/* asym: every pair (tau+, tau-) — the two signs are independent, so the
 * pair optimum is the sum of the two per-sign optima; enumerated as pairs. */
static double asym_by_threshold_pairs(const float *w, int n)
{
    double total = sumsq(w, n), best = total;
    for (int jp = -1; jp < n; jp++) {
        if (jp >= 0 && !(w[jp] > 0.0f))
            continue;
        for (int jn = -1; jn < n; jn++) {
            if (jn >= 0 && !(w[jn] < 0.0f))
                continue;
            double sp = 0.0, sn = 0.0;
            int cp = 0, cn = 0;
            for (int i = 0; i < n; i++) {
                if (jp >= 0 && w[i] > 0.0f && w[i] >= w[jp]) {
                    sp += w[i];
                    cp++;
                }
                if (jn >= 0 && w[i] < 0.0f && w[i] <= w[jn]) {
                    sn -= w[i];
                    cn++;
                }
            }
            double e = total - (cp ? sp * sp / cp : 0.0) - (cn ? sn * sn / cn : 0.0);
            best = e < best ? e : best;
        }
    }
    return best;
}

/* Full enumeration of T in {-1,0,1}^n; asym != 0: separate alphas per sign. */
static double by_enumeration(const float *w, int n, int asym)
{
    double total = sumsq(w, n), best = total;
    int count = 1;
    for (int i = 0; i < n; i++)
        count *= 3;
    for (int code = 0; code < count; code++) {
        int c = code;
        double dot = 0.0, sp = 0.0, sn = 0.0;
        int nnz = 0, np = 0, nn = 0;
        for (int i = 0; i < n; i++, c /= 3) {
            int t = c % 3 - 1;
            dot += t * (double)w[i];
            nnz += t != 0;
            if (t > 0) { sp += w[i]; np++; }
            if (t < 0) { sn -= w[i]; nn++; }
        }
        double e;
        if (asym) {
            /* alpha per sign = max(0, mean); error = total - (positive part)^2 / count */
            e = total - (np && sp > 0 ? sp * sp / np : 0.0) - (nn && sn > 0 ? sn * sn / nn : 0.0);
        } else {
            e = total - (nnz && dot > 0 ? dot * dot / nnz : 0.0);
        }
        best = e < best ? e : best;
    }
    return best;
}

static double solve_sse(fgq_ternary_solver s, const float *w, int n, void *scratch, fgq_ternary_fit *fit)
{
    int8_t t[512];
    fgq_ternary_solve_f32(s, w, n, scratch, t, fit);
    /* codes must agree with the thresholds the fit states */
    for (int i = 0; i < n; i++) {
        int8_t want = (int8_t)((w[i] > fit->delta_pos) - (w[i] < -fit->delta_neg));
        if (t[i] != want) {
            CHECK_MSG(t[i] == want, "code %d at %d disagrees with delta", t[i], i);
            break;
        }
    }
    return fgq_ternary_sse(w, t, n, fit);
}

static int near_opt(double got, double opt, double scale)
{
    return got <= opt + 1e-6 * opt + 1e-12 * scale && got >= opt - 1e-6 * opt - 1e-12 * scale;
}

static void test_exact_and_asym_reach_brute_force(void)
{
    void *scratch = malloc(fgq_ternary_scratch_bytes(16));
    float w[16];
    int bad_exact = 0, bad_asym = 0;
    for (int trial = 0; trial < 3000; trial++) {
        int n = 1 + (int)(rng_u64() % 10);
        fill(w, n, trial % 6);
        fgq_ternary_fit fit;
        double scale = sumsq(w, n);
        double got = solve_sse(FGQ_TERNARY_EXACT, w, n, scratch, &fit);
        double opt = exact_by_thresholds(w, n);
        if (!near_opt(got, opt, scale) && bad_exact++ < 5)
            CHECK_MSG(0, "exact n=%d trial %d: %.12g vs brute %.12g", n, trial, got, opt);
        CHECK(fit.alpha_pos == fit.alpha_neg);
        got = solve_sse(FGQ_TERNARY_ASYM, w, n, scratch, &fit);
        double opt_a = asym_by_threshold_pairs(w, n);
        if (!near_opt(got, opt_a, scale) && bad_asym++ < 5)
            CHECK_MSG(0, "asym n=%d trial %d: %.12g vs brute %.12g", n, trial, got, opt_a);
    }
    CHECK_MSG(bad_exact == 0, "%d exact groups off the optimum", bad_exact);
    CHECK_MSG(bad_asym == 0, "%d asym groups off the optimum", bad_asym);
    free(scratch);
}

static void test_full_enumeration(void)
{
    void *scratch = malloc(fgq_ternary_scratch_bytes(8));
    float w[8];
    int bad = 0;
    for (int trial = 0; trial < 1200; trial++) {
        int n = 1 + (int)(rng_u64() % 8);
        fill(w, n, trial % 6);
        fgq_ternary_fit fit;
        double scale = sumsq(w, n);
        double got = solve_sse(FGQ_TERNARY_EXACT, w, n, scratch, &fit);
        double opt = by_enumeration(w, n, 0);
        bad += !near_opt(got, opt, scale);
        CHECK_MSG(near_opt(got, opt, scale) || bad > 5, "exact n=%d: %.12g vs enum %.12g", n, got, opt);
        got = solve_sse(FGQ_TERNARY_ASYM, w, n, scratch, &fit);
        opt = by_enumeration(w, n, 1);
        bad += !near_opt(got, opt, scale);
        CHECK_MSG(near_opt(got, opt, scale) || bad > 5, "asym n=%d: %.12g vs enum %.12g", n, got, opt);
    }
    CHECK(bad == 0);
    free(scratch);
}

/* Larger groups go through the other sort paths (rank sort up to 64, radix
 * above): the oracle is the threshold brute force again. */
static void test_exact_large_groups(void)
{
    static const int sizes[] = {11, 17, 31, 63, 64, 65, 100, 256, 300};
    void *scratch = malloc(fgq_ternary_scratch_bytes(300));
    float w[300];
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (int trial = 0; trial < 12; trial++) {
            int n = sizes[si];
            fill(w, n, trial % 6);
            fgq_ternary_fit fit;
            double scale = sumsq(w, n);
            double got = solve_sse(FGQ_TERNARY_EXACT, w, n, scratch, &fit);
            double opt = exact_by_thresholds(w, n);
            CHECK_MSG(near_opt(got, opt, scale), "exact n=%d kind %d: %.12g vs %.12g", n, trial % 6, got, opt);
            got = solve_sse(FGQ_TERNARY_ASYM, w, n, scratch, &fit);
            double gain = best_gain_one_sign(w, n, 1) + best_gain_one_sign(w, n, -1);
            CHECK_MSG(near_opt(got, scale - gain, scale), "asym n=%d: %.12g vs %.12g", n, got, scale - gain);
        }
    }
    free(scratch);
}

static void test_exact_never_worse_than_twn(void)
{
    void *scratch = malloc(fgq_ternary_scratch_bytes(256));
    float w[256];
    int worse = 0;
    for (int trial = 0; trial < 4000; trial++) {
        int n = 1 + (int)(rng_u64() % 256);
        fill(w, n, trial % 6);
        fgq_ternary_fit fe, ft, fa;
        double e = solve_sse(FGQ_TERNARY_EXACT, w, n, scratch, &fe);
        double t = solve_sse(FGQ_TERNARY_TWN, w, n, scratch, &ft);
        double a = solve_sse(FGQ_TERNARY_ASYM, w, n, scratch, &fa);
        double tol = 1e-9 * sumsq(w, n);
        worse += e > t + tol; /* exact is the optimum over all symmetric fits, twn is one */
        worse += a > e + tol; /* asym's family contains every symmetric fit */
    }
    CHECK_MSG(worse == 0, "%d groups where exact > twn or asym > exact", worse);
    free(scratch);
}

static void test_twn_definition(void)
{
    /* Oracle: hand computation. w = {1, -0.5, 0.1, -2}: mean|w| = 0.9,
     * delta = 0.63, kept {1, -2}, alpha = 1.5. */
    const float w[4] = {1.0f, -0.5f, 0.1f, -2.0f};
    void *scratch = malloc(fgq_ternary_scratch_bytes(4));
    int8_t t[4];
    fgq_ternary_fit fit;
    fgq_ternary_solve_f32(FGQ_TERNARY_TWN, w, 4, scratch, t, &fit);
    CHECK_NEAR(fit.delta_pos, 0.63, 1e-6);
    CHECK_NEAR(fit.alpha_pos, 1.5, 1e-6);
    CHECK(t[0] == 1 && t[1] == 0 && t[2] == 0 && t[3] == -1);
    /* exact on the same group: S_k^2/k for sorted {2,1,0.5,0.1}: 4, 4.5, 4.083, 3.36
     * -> k = 2, alpha = 1.5; asym: positives {1, 0.1}: 1, 1.21/2 -> alpha+ = 1;
     * negatives {2, 0.5}: 4, 6.25/2 = 3.125 -> alpha- = 2. */
    fgq_ternary_solve_f32(FGQ_TERNARY_EXACT, w, 4, scratch, t, &fit);
    CHECK_NEAR(fit.alpha_pos, 1.5, 1e-6);
    CHECK(fit.delta_pos < 1.0f && fit.delta_pos >= 0.5f);
    fgq_ternary_solve_f32(FGQ_TERNARY_ASYM, w, 4, scratch, t, &fit);
    CHECK_NEAR(fit.alpha_pos, 1.0, 1e-6);
    CHECK_NEAR(fit.alpha_neg, 2.0, 1e-6);
    CHECK(t[0] == 1 && t[1] == 0 && t[2] == 0 && t[3] == -1);
    /* a sign with no elements gets alpha 0 */
    const float pos_only[3] = {0.5f, 1.0f, 0.0f};
    fgq_ternary_solve_f32(FGQ_TERNARY_ASYM, pos_only, 3, scratch, t, &fit);
    CHECK(fit.alpha_neg == 0.0f && fit.n_neg == 0);
    CHECK_NEAR(fit.alpha_pos, 0.75, 1e-6);
    free(scratch);
}

static void test_all_zero_group(void)
{
    float w[37] = {0};
    w[5] = -0.0f;
    void *scratch = malloc(fgq_ternary_scratch_bytes(37));
    for (int s = 0; s < 3; s++) {
        static const int lengths[] = {0, 7, 37};
        for (int li = 0; li < 3; li++) {
            int n = lengths[li];
            int8_t t[37];
            memset(t, 7, sizeof t);
            fgq_ternary_fit fit;
            fgq_ternary_solve_f32((fgq_ternary_solver)s, w, n, scratch, t, &fit);
            CHECK(fit.alpha_pos == 0.0f && fit.alpha_neg == 0.0f);
            CHECK(!isnan(fit.delta_pos) && !isnan(fit.delta_neg));
            int nonzero = 0;
            for (int i = 0; i < n; i++)
                nonzero += t[i] != 0;
            CHECK(nonzero == 0);
        }
    }
    free(scratch);
}

static void test_t2_pack_roundtrip(void)
{
    for (int trial = 0; trial < 300; trial++) {
        int n = (int)(rng_u64() % 103);
        int8_t t[103], back[103];
        uint8_t packed[32];
        memset(packed, 0xAA, sizeof packed);
        for (int i = 0; i < n; i++)
            t[i] = (int8_t)((int)(rng_u64() % 3) - 1);
        fgq_t2_pack(t, n, packed);
        CHECK(fgq_t2_row_bytes(n) == (n + 3) / 4);
        /* oracle: the documented layout, code i at bits 2*(i%4) of byte i/4 */
        int layout_ok = 1;
        for (int i = 0; i < n; i++) {
            int code = (packed[i / 4] >> (2 * (i % 4))) & 3;
            layout_ok &= code == (t[i] == 1 ? 1 : t[i] == -1 ? 2 : 0);
        }
        CHECK(layout_ok);
        fgq_t2_unpack(packed, n, back);
        CHECK(n == 0 || memcmp(t, back, (size_t)n) == 0);
        fgq_error err = {0};
        CHECK(fgq_t2_validate(packed, n, "w", &err) == FGQ_OK);
        if (n % 4 != 0) { /* a set padding bit is rejected */
            packed[n / 4] |= (uint8_t)(0x80);
            fgq_error_clear(&err);
            CHECK(fgq_t2_validate(packed, n, "w", &err) == FGQ_ERR_FORMAT);
        }
    }
    uint8_t bad[2] = {0x0C, 0}; /* code 3 at element 1 */
    fgq_error err = {0};
    CHECK(fgq_t2_validate(bad, 8, "conv1.weight", &err) == FGQ_ERR_FORMAT);
    CHECK(strstr(err.msg, "conv1.weight") != NULL);
}

static void test_s4_pack_roundtrip(void)
{
    for (int trial = 0; trial < 300; trial++) {
        int n = (int)(rng_u64() % 101);
        int8_t v[101], back[101];
        uint8_t packed[51];
        for (int i = 0; i < n; i++)
            v[i] = (int8_t)((int)(rng_u64() % 16) - 8);
        fgq_s4_pack(v, n, packed);
        /* oracle: low nibble first, two's complement */
        int layout_ok = 1;
        for (int i = 0; i < n; i++)
            layout_ok &= ((packed[i / 2] >> (4 * (i % 2))) & 15) == (v[i] & 15);
        if (n % 2)
            layout_ok &= (packed[n / 2] >> 4) == 0;
        CHECK(layout_ok);
        fgq_s4_unpack(packed, n, back);
        CHECK(n == 0 || memcmp(v, back, (size_t)n) == 0);
    }
}

/* Tail groups and the integerised scales, through the ternary format: each
 * group's codes must equal an independent solve of that group's slice, and
 * each dequantized alpha m*s_row must lie within s_row/2 of the solver's. */
static void test_format_tail_groups(void)
{
    const int rows = 5, k = 10, group = 4; /* groups of 4, 4, 2 */
    float w[50], dq[50];
    fill(w, rows * k, 0);
    for (int s = 0; s < 3; s++) {
        fgq_policy p = {FGQ_WQ_T2, group, (fgq_ternary_solver)s};
        fgq_packed_weights pw;
        fgq_error err = {0};
        CHECK(fgq_quantize_packed_f32(&p, w, rows, k, &pw, &err) == FGQ_OK);
        CHECK(pw.layout.n_groups == 3 && pw.layout.row_bytes == 3);
        CHECK(pw.layout.n_alpha == (s == FGQ_TERNARY_ASYM ? 2 : 1));
        fgq_dequantize_packed_f32(&pw, dq);
        void *scratch = malloc(fgq_ternary_scratch_bytes(group));
        for (int r = 0; r < rows; r++) {
            int8_t codes[10];
            fgq_t2_unpack(pw.codes + r * pw.layout.row_bytes, k, codes);
            float s_row = pw.scales[r];
            for (int g = 0; g < 3; g++) {
                int g0 = g * group, len = g < 2 ? group : 2;
                int8_t t[4];
                fgq_ternary_fit fit;
                fgq_ternary_solve_f32((fgq_ternary_solver)s, w + r * k + g0, len, scratch, t, &fit);
                CHECK(memcmp(t, codes + g0, (size_t)len) == 0);
                const uint8_t *m = pw.mults + (r * 3 + g) * pw.layout.n_alpha;
                float ap = m[0] * s_row, an = m[pw.layout.n_alpha - 1] * s_row;
                CHECK(fabsf(ap - fit.alpha_pos) <= 0.5f * s_row * 1.0001f);
                CHECK(fabsf(an - fit.alpha_neg) <= 0.5f * s_row * 1.0001f);
                for (int i = 0; i < len; i++) {
                    float want = t[i] > 0 ? ap : t[i] < 0 ? -an : 0.0f;
                    CHECK(dq[r * k + g0 + i] == want);
                }
            }
        }
        free(scratch);
        fgq_packed_weights_free(&pw);
    }
}

int main(void)
{
    RUN(test_exact_and_asym_reach_brute_force);
    RUN(test_full_enumeration);
    RUN(test_exact_large_groups);
    RUN(test_exact_never_worse_than_twn);
    RUN(test_twn_definition);
    RUN(test_all_zero_group);
    RUN(test_t2_pack_roundtrip);
    RUN(test_s4_pack_roundtrip);
    RUN(test_format_tail_groups);
    return FGQ_TEST_DONE();
}
