/*
 * test_quant_affine.c — TF min/max affine u8/s8, symmetric s8/s4 (per row and
 * per group) round trips, fixed-point requantization.
 *
 * Oracles: the TF mapping's own guarantees (0.0 exact, min -> qmin and
 * max -> qmax up to nudging by at most one step, |x - deq(q(x))| <= s/2 inside
 * the range); for symmetric formats |w - deq| <= scale/2 per element with the
 * scale of its row/group; for requantization, round(acc * real) in double.
 */
#include "fgq_test.h"
#include "quant/affine.h"
#include "quant/format/wformat.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rng_u64(void)
{
    return fgq_test_xorshift64(&rng_state);
}
static double rng_unit(void) { return ((double)(rng_u64() >> 11) + 0.5) / 9007199254740992.0; }

/* a random range: mixed sign, all positive, or all negative, over many magnitudes */
static void random_range(float *lo, float *hi, int kind)
{
    double mag = pow(10.0, -4.0 + 8.0 * rng_unit());
    double a = mag * rng_unit(), b = mag * rng_unit();
    if (kind == 0) {
        *lo = (float)-a;
        *hi = (float)b;
    } else if (kind == 1) {
        *lo = (float)fmin(a, b);
        *hi = (float)fmax(a, b);
    } else {
        *lo = (float)-fmax(a, b);
        *hi = (float)-fmin(a, b);
    }
}

static void test_tf_zero_exact_and_endpoints(void)
{
    int zero_bad = 0, end_bad = 0, rt_bad = 0;
    for (int trial = 0; trial < 20000; trial++) {
        float lo, hi;
        random_range(&lo, &hi, trial % 3);
        int s8 = (trial / 3) % 2;
        fgq_affine_params p;
        fgq_error err = {0};
        fgq_status st = s8 ? fgq_affine_choose_s8(lo, hi, &p, &err) : fgq_affine_choose_u8(lo, hi, &p, &err);
        CHECK(st == FGQ_OK);
        int32_t qmin = s8 ? -128 : 0, qmax = s8 ? 127 : 255;
        zero_bad += fgq_affine_dequantize(fgq_affine_quantize(0.0f, &p), &p) != 0.0f;
        zero_bad += fgq_affine_quantize(0.0f, &p) != p.zero_point;
        if (lo < 0.0f && hi > 0.0f) { /* nudging moves an endpoint by at most one step */
            end_bad += abs(fgq_affine_quantize(lo, &p) - qmin) > 1;
            end_bad += abs(fgq_affine_quantize(hi, &p) - qmax) > 1;
        }
        /* round trip inside the effective (nudged) range */
        float elo = fgq_affine_dequantize(qmin, &p), ehi = fgq_affine_dequantize(qmax, &p);
        for (int i = 0; i < 20; i++) {
            float x = (float)(elo + (ehi - elo) * rng_unit());
            float e = fabsf(x - fgq_affine_dequantize(fgq_affine_quantize(x, &p), &p));
            /* s/2 in exact arithmetic, plus a few float ulps of the range for x/s */
            rt_bad += e > 0.5f * p.scale * (1.0f + 1e-5f) + 4.0f * FLT_EPSILON * fmaxf(fabsf(elo), fabsf(ehi));
        }
    }
    CHECK_MSG(zero_bad == 0, "%d ranges where 0.0 is not exact", zero_bad);
    CHECK_MSG(end_bad == 0, "%d endpoints off by more than a step", end_bad);
    CHECK_MSG(rt_bad == 0, "%d round trips beyond s/2", rt_bad);
}

static void test_tf_exact_endpoints_hand(void)
{
    /* Oracle: hand computation. [-1, 1.55] -> s = 0.01, z = 100 exactly. */
    fgq_affine_params p;
    fgq_error err = {0};
    CHECK(fgq_affine_choose_u8(-1.0f, 1.55f, &p, &err) == FGQ_OK);
    CHECK_NEAR(p.scale, 0.01, 1e-7);
    CHECK(p.zero_point == 100);
    CHECK(fgq_affine_quantize(-1.0f, &p) == 0);
    CHECK(fgq_affine_quantize(1.55f, &p) == 255);
    CHECK(fgq_affine_quantize(100.0f, &p) == 255); /* clamps */
    CHECK(fgq_affine_quantize(NAN, &p) == 0);      /* NaN goes to qmin, no UB */
    /* all-positive [2, 5] widens to [0, 5]: z = 0 */
    CHECK(fgq_affine_choose_u8(2.0f, 5.0f, &p, &err) == FGQ_OK);
    CHECK(p.zero_point == 0);
    CHECK_NEAR(p.scale, 5.0 / 255.0, 1e-9);
    /* all-negative [-4, -1] widens to [-4, 0]: z = 255 (u8) / 127 (s8) */
    CHECK(fgq_affine_choose_u8(-4.0f, -1.0f, &p, &err) == FGQ_OK);
    CHECK(p.zero_point == 255);
    CHECK(fgq_affine_choose_s8(-4.0f, -1.0f, &p, &err) == FGQ_OK);
    CHECK(p.zero_point == 127);
    /* degenerate: min == max == 0 */
    CHECK(fgq_affine_choose_u8(0.0f, 0.0f, &p, &err) == FGQ_OK);
    CHECK(p.scale > 0.0f && isfinite(p.scale));
    CHECK(fgq_affine_dequantize(fgq_affine_quantize(0.0f, &p), &p) == 0.0f);
    CHECK(fgq_affine_choose_s8(0.0f, 0.0f, &p, &err) == FGQ_OK);
    CHECK(fgq_affine_dequantize(fgq_affine_quantize(0.0f, &p), &p) == 0.0f);
    /* bad ranges */
    CHECK(fgq_affine_choose_u8(1.0f, -1.0f, &p, &err) == FGQ_ERR_VALUE);
    fgq_error_clear(&err);
    CHECK(fgq_affine_choose_u8(NAN, 1.0f, &p, &err) == FGQ_ERR_VALUE);
    fgq_error_clear(&err);
    CHECK(fgq_affine_choose_u8(-INFINITY, 1.0f, &p, &err) == FGQ_ERR_VALUE);
}

/* Symmetric formats: every element within half a step of its own scale. */
static void check_symmetric(const char *policy, int64_t rows, int64_t k, int qmax)
{
    fgq_policy p;
    fgq_error err = {0};
    CHECK(fgq_policy_parse(policy, &p, &err) == FGQ_OK);
    float *w = malloc((size_t)(rows * k) * sizeof(float));
    float *dq = malloc((size_t)(rows * k) * sizeof(float));
    for (int64_t i = 0; i < rows * k; i++)
        w[i] = (float)((rng_unit() - 0.5) * pow(10.0, -3.0 + 4.0 * rng_unit()));
    for (int64_t i = 0; i < k && rows > 1; i++)
        w[k + i] = 0.0f; /* an all-zero row */
    fgq_packed_weights pw;
    CHECK(fgq_quantize_packed_f32(&p, w, rows, k, &pw, &err) == FGQ_OK);
    fgq_dequantize_packed_f32(&pw, dq);
    int64_t group = pw.layout.group, ng = pw.layout.n_groups;
    CHECK(ng == (k + group - 1) / group);
    int bad = 0, scale_bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t g = 0; g < ng; g++) {
            float s = pw.scales[r * ng + g];
            float amax = 0.0f;
            int64_t end = (g + 1) * group < k ? (g + 1) * group : k;
            for (int64_t i = g * group; i < end; i++) {
                amax = fmaxf(amax, fabsf(w[r * k + i]));
                bad += fabsf(w[r * k + i] - dq[r * k + i]) > 0.5f * s * (1.0f + 1e-5f);
            }
            /* s = max|w| / qmax: the group's largest weight maps to +-qmax */
            scale_bad += !(s > 0.0f) || (amax > 0.0f && fabsf(s - amax / (float)qmax) > 1e-6f * s);
        }
    }
    CHECK_MSG(bad == 0, "%s [%lld,%lld]: %d elements beyond scale/2", policy, (long long)rows, (long long)k, bad);
    CHECK_MSG(scale_bad == 0, "%s: %d scales differ from max|w|/%d", policy, scale_bad, qmax);
    fgq_packed_weights_free(&pw);
    free(w);
    free(dq);
}

static void test_symmetric_round_trips(void)
{
    static const int64_t ks[] = {1, 7, 16, 33, 100};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        check_symmetric("s8", 6, ks[i], 127);
        check_symmetric("s8:g4", 6, ks[i], 127);
        check_symmetric("s8:g32", 6, ks[i], 127);
        check_symmetric("s4:g8", 6, ks[i], 7);
        check_symmetric("s4:g3", 5, ks[i], 7);
    }
}

static void test_u8_weight_policy(void)
{
    /* Oracle: the per-tensor TF parameters of the whole tensor's [min, max]. */
    const float w[6] = {-1.0f, 0.0f, 0.5f, 1.55f, 0.3f, -0.25f};
    fgq_policy p;
    fgq_error err = {0};
    CHECK(fgq_policy_parse("u8", &p, &err) == FGQ_OK);
    fgq_packed_weights pw;
    CHECK(fgq_quantize_packed_f32(&p, w, 2, 3, &pw, &err) == FGQ_OK);
    CHECK(pw.layout.n_scales == 1 && pw.layout.n_zero_points == 1);
    CHECK_NEAR(pw.scales[0], 0.01, 1e-7);
    CHECK(pw.zero_points[0] == 100);
    CHECK(pw.codes[0] == 0 && pw.codes[1] == 100 && pw.codes[3] == 255);
    float dq[6];
    fgq_dequantize_packed_f32(&pw, dq);
    CHECK(dq[1] == 0.0f);
    for (int i = 0; i < 6; i++)
        CHECK(fabsf(dq[i] - w[i]) <= 0.005f * 1.0001f);
    fgq_packed_weights_free(&pw);
}

static void test_requantize(void)
{
    int bad = 0;
    for (int trial = 0; trial < 20000; trial++) {
        double real = pow(2.0, -20.0 + 24.0 * rng_unit());
        int32_t mult, shift;
        fgq_error err = {0};
        CHECK(fgq_quantize_multiplier(real, &mult, &shift, &err) == FGQ_OK);
        CHECK(mult >= (1 << 30));
        /* the multiplier represents real to 2^-31 relative */
        CHECK(fabs(ldexp((double)mult, shift - 31) - real) <= real * 1e-9);
        int32_t acc = (int32_t)((int64_t)(rng_u64() % 2000001) - 1000000);
        if (fabs(acc * real) > 2e9)
            continue;
        double want = (double)acc * ldexp((double)mult, shift - 31);
        int32_t got = fgq_requantize_s32(acc, mult, shift);
        /* two roundings (high multiply, then shift) can land one off the exact
         * round(); never more */
        bad += fabs((double)got - want) > 1.0;
        bad += fabs((double)got - want) > 0.5 + 1e-9 && shift >= 0; /* no shift: one rounding */
    }
    CHECK_MSG(bad == 0, "%d requantizations off", bad);
    int32_t mult, shift;
    fgq_error err = {0};
    CHECK(fgq_quantize_multiplier(0.5, &mult, &shift, &err) == FGQ_OK);
    /* gemmlowp's high multiply rounds exact halves toward +infinity */
    CHECK(fgq_requantize_s32(3, mult, shift) == 2);
    CHECK(fgq_requantize_s32(-3, mult, shift) == -1);
    /* the right shift rounds halves away from zero: 0.25 * +-6 = +-1.5 */
    CHECK(fgq_quantize_multiplier(0.25, &mult, &shift, &err) == FGQ_OK);
    CHECK(shift == -1);
    CHECK(fgq_requantize_s32(6, mult, shift) == 2);
    CHECK(fgq_requantize_s32(-6, mult, shift) == -2);
    CHECK(fgq_requantize_s32(100, mult, shift) == 25);
    CHECK(fgq_quantize_multiplier(-1.0, &mult, &shift, &err) == FGQ_ERR_VALUE);
}

int main(void)
{
    RUN(test_tf_zero_exact_and_endpoints);
    RUN(test_tf_exact_endpoints_hand);
    RUN(test_symmetric_round_trips);
    RUN(test_u8_weight_policy);
    RUN(test_requantize);
    return FGQ_TEST_DONE();
}
