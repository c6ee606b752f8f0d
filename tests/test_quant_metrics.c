/*
 * test_quant_metrics.c — MSE, SQNR, zero fraction, bits per weight, and the
 * report fgq_quantize_weights_f32 fills.
 *
 * Oracles: values computed by hand in the comments; bits per weight from the
 * layout arithmetic in wformat.h (codes + 32 bits per float scale + 8 per
 * zero point or group multiplier).
 */
#include "fgq_test.h"
#include "quant/format/metrics.h"
#include "quant/format/policy.h"

#include <math.h>
#include <stdlib.h>

static void test_hand_values(void)
{
    const float x[4] = {1.0f, -2.0f, 3.0f, 0.0f};
    const float xq[4] = {1.0f, -1.0f, 3.0f, 0.0f};
    /* error^2 = {0, 1, 0, 0}: MSE 1/4; signal 1+4+9 = 14: SQNR 10 log10(14) */
    CHECK_NEAR(fgq_mse_f32(x, xq, 4), 0.25, 1e-12);
    CHECK_NEAR(fgq_sqnr_db_f32(x, xq, 4), 10.0 * log10(14.0), 1e-9);
    CHECK_NEAR(fgq_sqnr_db_f32(x, xq, 4), 11.4612803568, 1e-8);
    CHECK_NEAR(fgq_zero_fraction_f32(xq, 4), 0.25, 1e-12);
    CHECK(isinf(fgq_sqnr_db_f32(x, x, 4)) && fgq_sqnr_db_f32(x, x, 4) > 0); /* no error: +inf */
    const float z[2] = {0.0f, 0.0f}, zq[2] = {0.0f, 0.5f};
    CHECK(isinf(fgq_sqnr_db_f32(z, z, 2)) && fgq_sqnr_db_f32(z, z, 2) > 0);
    CHECK(isinf(fgq_sqnr_db_f32(z, zq, 2)) && fgq_sqnr_db_f32(z, zq, 2) < 0); /* noise on silence */
    const float negz[2] = {-0.0f, 1.0f};
    CHECK_NEAR(fgq_zero_fraction_f32(negz, 2), 0.5, 1e-12);
    CHECK(fgq_mse_f32(x, xq, 0) == 0.0 && fgq_zero_fraction_f32(xq, 0) == 0.0);
    CHECK_NEAR(fgq_bits_per_weight(36, 64), 4.5, 1e-12);
    CHECK(fgq_bits_per_weight(10, 0) == 0.0);
}

static void report_for(const char *policy, int64_t rows, int64_t k, const float *w, fgq_weight_report *rep)
{
    fgq_policy p;
    fgq_error err = {0};
    CHECK(fgq_policy_parse(policy, &p, &err) == FGQ_OK);
    CHECK_MSG(fgq_quantize_weights_f32(&p, w, rows, k, "t", rep, NULL, &err) == FGQ_OK, "%s", err.msg);
}

static void test_report_bits(void)
{
    const int64_t rows = 8, k = 64;
    float *w = malloc((size_t)(rows * k) * sizeof(float));
    for (int64_t i = 0; i < rows * k; i++)
        w[i] = sinf(0.37f * (float)i) * (1.0f + 0.01f * (float)i);
    fgq_weight_report r;
    /* ternary:g4 on K = 64: 2 bits + 8/4 (u8 multiplier) + 32/64 (row float) = 4.5 */
    report_for("ternary:g4", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 4.5, 1e-12);
    CHECK(r.quant_bytes == rows * (16 + 16 + 4) && r.float_bytes == 4 * rows * k);
    /* asym: two multipliers per group: 2 + 16/4 + 0.5 = 6.5 */
    report_for("ternary:g4:asym", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 6.5, 1e-12);
    /* ternary per row: 2 + 8/64 + 32/64 */
    report_for("ternary:exact", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 2.0 + 0.125 + 0.5, 1e-12);
    /* s8 per row: 8 + 32/64 */
    report_for("s8", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 8.5, 1e-12);
    /* s4:g16: 4 + 32/16 */
    report_for("s4:g16", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 6.0, 1e-12);
    /* u8 per tensor: 8 + (32 + 8) / 512 */
    report_for("u8", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 8.0 + 40.0 / 512.0, 1e-12);
    /* f32: 32 bits, no error */
    report_for("f32", rows, k, w, &r);
    CHECK_NEAR(r.bits_per_weight, 32.0, 1e-12);
    CHECK(isinf(r.sqnr_db) && r.mse == 0.0 && r.quant_bytes == r.float_bytes);
    free(w);
}

/* The report's error figures are those of the dequantized weights it returns. */
static void test_report_matches_dequant(void)
{
    const int64_t rows = 16, k = 50; /* 50 = 3 groups of 16 + a tail of 2 */
    float *w = malloc((size_t)(rows * k) * sizeof(float));
    float *dq = malloc((size_t)(rows * k) * sizeof(float));
    for (int64_t i = 0; i < rows * k; i++)
        w[i] = cosf(1.7f * (float)i) * 0.05f + (i % 11 == 0 ? 0.0f : 0.001f);
    static const char *policies[] = {"u8", "s8", "s8:g16", "s4:g16", "ternary:g16:twn", "ternary:g16",
                                     "ternary:g16:asym"};
    double last_sqnr_ternary = -INFINITY;
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        fgq_policy p;
        fgq_error err = {0};
        CHECK(fgq_policy_parse(policies[i], &p, &err) == FGQ_OK);
        fgq_weight_report r;
        CHECK(fgq_quantize_weights_f32(&p, w, rows, k, "t", &r, dq, &err) == FGQ_OK);
        CHECK_NEAR(r.mse, fgq_mse_f32(w, dq, rows * k), 1e-15);
        CHECK_NEAR(r.sqnr_db, fgq_sqnr_db_f32(w, dq, rows * k), 1e-12);
        CHECK_NEAR(r.zero_fraction, fgq_zero_fraction_f32(dq, rows * k), 1e-15);
        CHECK(r.sqnr_db > 0.0);
        if (p.kind == FGQ_WQ_T2) {
            /* twn <= exact <= asym in SQNR on the same tensor (up to alpha integerisation) */
            CHECK_MSG(r.sqnr_db >= last_sqnr_ternary - 0.05, "%s: %.3f dB after %.3f", policies[i],
                      r.sqnr_db, last_sqnr_ternary);
            last_sqnr_ternary = r.sqnr_db;
            CHECK(r.zero_fraction > 0.0 && r.zero_fraction < 1.0);
        }
    }
    free(w);
    free(dq);
}

int main(void)
{
    RUN(test_hand_values);
    RUN(test_report_bits);
    RUN(test_report_matches_dequant);
    return FGQ_TEST_DONE();
}
