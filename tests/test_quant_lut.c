/*
 * test_quant_lut.c — the QLUT tables the quantizer builds (tools/quant/format/lut.h).
 * Oracle: brute force over all 256 codes, each entry recomputed here from the functions' ONNX
 * definitions (Sigmoid 1/(1 + e^−x), HardSigmoid max(0, min(1, αx + β)), HardSwish
 * x·max(0, min(1, x/6 + 1/2)), Tanh, Swish x/(1 + e^−x)) in double, quantized with the output's
 * scale and zero point, halves rounded away from zero, clamped to [qmin, qmax]. An entry may differ
 * by one code only where the quotient lies within 1e-9 of a half (the two ways of writing f may
 * round differently there); none did in the runs so far, and the count is printed. Cases: every
 * function, u8 and s8 in and out, HardSigmoid with ONNX's default and other alpha/beta (negative
 * alpha too), random scales and zero points including zero points at the dtype ends, narrowed
 * clamps. Also: every entry's dequantized value is within half an output step of f (or clamped),
 * and bad arguments are refused.
 */
#include "fgq_test.h"

#include "quant/format/lut.h"

#include <math.h>
#include <string.h>

static uint64_t rng = 0x853c49e6748fea9bull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double f_oracle(fgq_lut_fn fn, double a, double b, double x)
{
    switch (fn) {
    case FGQ_LUT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case FGQ_LUT_HARD_SIGMOID: return fmax(0.0, fmin(1.0, a * x + b));
    case FGQ_LUT_HARD_SWISH: return x * fmax(0.0, fmin(1.0, x * (1.0 / 6.0) + 0.5));
    case FGQ_LUT_TANH: return tanh(x);
    default: return x / (1.0 + exp(-x));
    }
}

static int near_ties;

/* One table against the oracle; returns mismatches. */
static int check_table(fgq_lut_fn fn, float a, float b, fgq_dtype xdt, fgq_affine_params xp, fgq_dtype ydt,
                       fgq_affine_params yp)
{
    uint8_t t[256];
    fgq_error err;
    if (fgq_lut_build(fn, a, b, xdt, &xp, ydt, &yp, t, &err) != FGQ_OK) {
        fprintf(stderr, "  build failed: %s\n", err.msg);
        return 256;
    }
    int bad = 0;
    double worst = 0.0;
    for (int i = 0; i < 256; i++) {
        const int q = xdt == FGQ_DT_S8 ? i - 128 : i;
        const double x = (double)xp.scale * (q - xp.zero_point), v = f_oracle(fn, a, b, x);
        const double r = v / (double)yp.scale;
        const double rr = r < 0 ? -floor(-r + 0.5) : floor(r + 0.5);
        double want = rr + yp.zero_point;
        want = want < yp.qmin ? yp.qmin : want > yp.qmax ? yp.qmax : want;
        const int got = ydt == FGQ_DT_S8 ? (int)(int8_t)t[i] : (int)t[i];
        if (got != (int)want) {
            const int tie = fabs(fabs(r - floor(r)) - 0.5) < 1e-9 && fabs(got - want) == 1.0;
            near_ties += tie;
            if (!tie) {
                if (bad < 3)
                    fprintf(stderr, "  fn %d x code %d: table %d, want %d (r = %.12g)\n", (int)fn, q, got, (int)want,
                            r);
                bad++;
            }
        }
        /* float semantics: within half a step of f unless the clamp bit */
        const double deq = (double)yp.scale * (got - yp.zero_point);
        if (got > yp.qmin && got < yp.qmax) {
            const double e = fabs(deq - v) / (double)yp.scale;
            worst = e > worst ? e : worst;
        }
    }
    if (worst > 0.5 + 1e-6) {
        fprintf(stderr, "  fn %d: an entry is %.6f output steps from f\n", (int)fn, worst);
        bad++;
    }
    return bad;
}

/* TF-style params over [lo, hi] (containing 0) for dtype dt, as calibration would give. */
static fgq_affine_params params_for(fgq_dtype dt, float lo, float hi)
{
    fgq_affine_params p;
    fgq_error err;
    const int32_t qmin = dt == FGQ_DT_S8 ? -128 : 0, qmax = dt == FGQ_DT_S8 ? 127 : 255;
    if (fgq_affine_choose_tf(lo, hi, qmin, qmax, &p, &err) != FGQ_OK)
        memset(&p, 0, sizeof p);
    return p;
}

static void test_tables_brute_force(void)
{
    static const fgq_lut_fn fns[5] = {FGQ_LUT_SIGMOID, FGQ_LUT_HARD_SIGMOID, FGQ_LUT_HARD_SWISH, FGQ_LUT_TANH,
                                      FGQ_LUT_SWISH};
    static const float ab[4][2] = {{0.2f, 0.5f}, {1.0f / 6.0f, 0.5f}, {0.37f, 0.11f}, {-0.5f, 0.75f}};
    static const fgq_dtype dts[2] = {FGQ_DT_U8, FGQ_DT_S8};
    int cases = 0;
    for (int f = 0; f < 5; f++)
        for (int xd = 0; xd < 2; xd++)
            for (int yd = 0; yd < 2; yd++)
                for (int it = 0; it < 24; it++) {
                    /* input ranges from tight to wide (saturating the functions), sometimes one-sided */
                    const float span = (float)(0.05 + 12.0 * urand());
                    float xlo = -span * (float)urand(), xhi = span * (float)urand();
                    if (it % 6 == 0)
                        xlo = 0.0f;
                    if (it % 6 == 1)
                        xhi = 0.0f;
                    if (xhi - xlo < 1e-3f)
                        xhi = xlo + 1.0f;
                    fgq_affine_params xp = params_for(dts[xd], xlo, xhi);
                    /* output range: the function's, or a calibration that saw less of it */
                    const float ylo = -(float)(1.5 * urand()), yhi = (float)(0.2 + 6.0 * urand());
                    fgq_affine_params yp = params_for(dts[yd], ylo, yhi);
                    if (it % 5 == 4) { /* a fused clamp narrower than the dtype */
                        yp.qmin = yp.zero_point;
                        yp.qmax = yp.qmax - 7;
                    }
                    const float a = fns[f] == FGQ_LUT_HARD_SIGMOID ? ab[it % 4][0] : 0.0f;
                    const float b = fns[f] == FGQ_LUT_HARD_SIGMOID ? ab[it % 4][1] : 0.0f;
                    CHECK_MSG(check_table(fns[f], a, b, dts[xd], xp, dts[yd], yp) == 0,
                              "fn %s %s -> %s case %d (s_x %g z_x %d, s_y %g z_y %d)", fgq_lut_fn_name(fns[f]),
                              fgq_dtype_name(dts[xd]), fgq_dtype_name(dts[yd]), it, (double)xp.scale,
                              (int)xp.zero_point, (double)yp.scale, (int)yp.zero_point);
                    cases++;
                }
    fprintf(stderr, "  %d tables x 256 entries, %d entries at a near-tie\n", cases, near_ties);
}

/* Zero points at the ends of the dtype: all-negative and all-positive input ranges. */
static void test_tables_edge_zero_points(void)
{
    fgq_affine_params xp = {0.05f, 255, 0, 255}, yp = {1.0f / 255.0f, 0, 0, 255};
    CHECK(check_table(FGQ_LUT_SIGMOID, 0, 0, FGQ_DT_U8, xp, FGQ_DT_U8, yp) == 0);
    xp.zero_point = 0;
    CHECK(check_table(FGQ_LUT_TANH, 0, 0, FGQ_DT_U8, xp, FGQ_DT_U8, yp) == 0);
    fgq_affine_params xs = {0.1f, -128, -128, 127}, ys = {0.02f, 127, -128, 127};
    CHECK(check_table(FGQ_LUT_HARD_SWISH, 0, 0, FGQ_DT_S8, xs, FGQ_DT_S8, ys) == 0);
    xs.zero_point = 127;
    CHECK(check_table(FGQ_LUT_SWISH, 0, 0, FGQ_DT_S8, xs, FGQ_DT_S8, ys) == 0);
    /* Sigmoid over a wide range reaches both ends; exact halves round away from zero (QUANTIZE's rule):
     * HardSigmoid(0) = 0.375 over s_y 0.25 is 1.5 -> 2, HardSwish(−1.5) = −0.375 is −1.5 -> −2 */
    fgq_affine_params xw = {0.2f, 128, 0, 255}, yw = {1.0f / 256.0f, 0, 0, 255};
    uint8_t t[256];
    fgq_error err;
    CHECK(fgq_lut_build(FGQ_LUT_SIGMOID, 0, 0, FGQ_DT_U8, &xw, FGQ_DT_U8, &yw, t, &err) == FGQ_OK);
    CHECK(t[0] == 0 && t[255] == 255 && t[128] == 128);
    fgq_affine_params xh = {0.5f, 0, -128, 127}, yh = {0.25f, 0, -128, 127};
    CHECK(fgq_lut_build(FGQ_LUT_HARD_SIGMOID, 0.25f, 0.375f, FGQ_DT_S8, &xh, FGQ_DT_S8, &yh, t, &err) == FGQ_OK);
    CHECK((int8_t)t[128] == 2);
    CHECK(fgq_lut_build(FGQ_LUT_HARD_SWISH, 0, 0, FGQ_DT_S8, &xh, FGQ_DT_S8, &yh, t, &err) == FGQ_OK);
    CHECK((int8_t)t[128 - 3] == -2 && (int8_t)t[128] == 0);
}

static void test_build_rejects(void)
{
    uint8_t t[256];
    fgq_error err;
    fgq_affine_params p = {0.1f, 0, 0, 255}, bad = {0.0f, 0, 0, 255};
    CHECK(fgq_lut_build(FGQ_LUT_TABLE, 0, 0, FGQ_DT_U8, &p, FGQ_DT_U8, &p, t, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_lut_build(FGQ_LUT_FN_COUNT_, 0, 0, FGQ_DT_U8, &p, FGQ_DT_U8, &p, t, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_lut_build(FGQ_LUT_SIGMOID, 0, 0, FGQ_DT_F32, &p, FGQ_DT_U8, &p, t, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_lut_build(FGQ_LUT_SIGMOID, 0, 0, FGQ_DT_U8, &p, FGQ_DT_S4, &p, t, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_lut_build(FGQ_LUT_SIGMOID, 0, 0, FGQ_DT_U8, &bad, FGQ_DT_U8, &p, t, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_lut_build(FGQ_LUT_SIGMOID, 0, 0, FGQ_DT_U8, &p, FGQ_DT_U8, &bad, t, &err) == FGQ_ERR_VALUE);
    CHECK(strcmp(fgq_lut_fn_name(FGQ_LUT_SWISH), "Swish") == 0 && strcmp(fgq_lut_fn_name(99), "table") == 0);
}

int main(void)
{
    RUN(test_tables_brute_force);
    RUN(test_tables_edge_zero_points);
    RUN(test_build_rejects);
    return FGQ_TEST_DONE();
}
