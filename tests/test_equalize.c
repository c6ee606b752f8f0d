/*
 * test_equalize.c — cross-layer equalization (tools/passes/equalize.h).
 *
 * Oracles: the float model's outputs before the pass (equalization must not
 * change them beyond float rounding); the definition of the result (each
 * equalized channel's two ranges equal, sqrt(r1·r2)); pairs the header
 * excludes (ReLU6 between, a second reader) left byte for byte as they were.
 */
#include "fgq_test.h"
#include "graph_build.h"

#include "passes/equalize.h"
#include "import/onnx_import.h"
#include "passes/passes.h"
#include "run/run_graph.h"
#include "import/shape_infer.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static uint32_t seed = 99u;
static float frand(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* x [1,2,6,6] -> conv1 3x3 pad 1 (4 ch, ReLU fused, bias; channel scales 0.01..10) -> MaxPool 2x2
 * -> conv2 (groups g2: 1 = dense 4->3... , 4 = depthwise 4->4) -> conv3 1x1 -> y. act: fused act of conv1. */
static fgq_graph *build(int64_t g2, int64_t act, float act_max, int second_reader)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    const int64_t c2 = g2 == 1 ? 3 : 4;
    int64_t xd[4] = {1, 2, 6, 6}, w1d[4] = {4, 2, 3, 3}, b1d[1] = {4}, y1d[4] = {1, 4, 6, 6}, pd[4] = {1, 4, 3, 3};
    int64_t w2d[4] = {c2, 4 / g2, 3, 3}, y2d[4] = {1, c2, 3, 3}, w3d[4] = {2, c2, 1, 1}, y3d[4] = {1, 2, 3, 3};
    float w1[72], b1[4], w2[36 * 3], w3[8];
    const float scale[4] = {0.01f, 1.0f, 10.0f, 0.3f};
    for (int i = 0; i < 72; i++)
        w1[i] = frand() * scale[i / 18];
    for (int i = 0; i < 4; i++)
        b1[i] = frand() * scale[i];
    for (int i = 0; i < 36 * 3; i++)
        w2[i] = frand();
    for (int i = 0; i < 8; i++)
        w3[i] = frand();
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, xd);
    int32_t w1t = const_f32(g, "w1", 4, w1d, w1), b1t = const_f32(g, "b1", 1, b1d, b1);
    int32_t w2t = const_f32(g, "w2", 4, w2d, w2), w3t = const_f32(g, "w3", 4, w3d, w3);
    int32_t y1 = tensor(g, "y1", FGQ_TK_INTERMEDIATE, 4, y1d), p1 = tensor(g, "p1", FGQ_TK_INTERMEDIATE, 4, pd);
    int32_t y2 = tensor(g, "y2", FGQ_TK_INTERMEDIATE, 4, y2d), y3 = tensor(g, "y3", FGQ_TK_INTERMEDIATE, 4, y3d);
    int32_t n1 = node(g, "conv1", "Conv", 3, (int32_t[]){x, w1t, b1t}, y1);
    attr_ints(g, n1, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(g, n1, "pads", 4, (int64_t[]){1, 1, 1, 1});
    add_attr(g, n1, FGQ_ATTR_ACT, FGQ_ATTR_INT)->i = act;
    if (act == 2) {
        add_attr(g, n1, FGQ_ATTR_ACT_MIN, FGQ_ATTR_FLOAT)->f = 0.0f;
        add_attr(g, n1, FGQ_ATTR_ACT_MAX, FGQ_ATTR_FLOAT)->f = act_max;
    }
    int32_t np = node(g, "pool", "MaxPool", 1, (int32_t[]){y1}, p1);
    attr_ints(g, np, "kernel_shape", 2, (int64_t[]){2, 2});
    attr_ints(g, np, "strides", 2, (int64_t[]){2, 2});
    int32_t n2 = node(g, "conv2", "Conv", 2, (int32_t[]){p1, w2t}, y2);
    attr_ints(g, n2, "kernel_shape", 2, (int64_t[]){3, 3});
    attr_ints(g, n2, "pads", 4, (int64_t[]){1, 1, 1, 1});
    add_attr(g, n2, "group", FGQ_ATTR_INT)->i = g2;
    int32_t n3 = node(g, "conv3", "Conv", 2, (int32_t[]){y2, w3t}, y3);
    attr_ints(g, n3, "kernel_shape", 2, (int64_t[]){1, 1});
    if (second_reader) { /* p1 also a graph output: not equalized */
        set_io(g, 1, (int32_t[]){x}, 2, (int32_t[]){y3, p1});
    } else {
        set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y3});
    }
    return g;
}

static void run(fgq_graph *g, const float *x, float *y)
{
    fgq_graph_runner r;
    fgq_error err = {0};
    float extra[36];
    float *outs[2] = {y, extra};
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK_MSG(fgq_graph_runner_run(&r, (const float *const[]){x}, outs, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
    fgq_graph_runner_free(&r);
}

static double maxrel(const float *a, const float *b, int n)
{
    double m = 0.0, s = 0.0;
    for (int i = 0; i < n; i++) {
        m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
        s = fabs(a[i]) > s ? fabs(a[i]) : s;
    }
    return m / (s > 0 ? s : 1);
}

static void test_pairs_keep_outputs(void)
{
    for (int64_t g2 = 1; g2 <= 4; g2 += 3)
        for (int64_t act = 0; act <= 2; act++) {
            fgq_graph *g = build(g2, act, INFINITY, 0);
            float x[72], before[18], after[18];
            for (int i = 0; i < 72; i++)
                x[i] = frand() * 3.0f;
            run(g, x, before);
            int32_t pairs = -1;
            fgq_error err = {0};
            CHECK(fgq_pass_equalize(g, &pairs, &err) == FGQ_OK);
            /* conv1 -> conv2 and conv2 -> conv3 */
            CHECK_MSG(pairs == 2, "groups %lld act %lld: %d pairs", (long long)g2, (long long)act, (int)pairs);
            run(g, x, after);
            CHECK_MSG(maxrel(before, after, 18) < 1e-5, "groups %lld act %lld: outputs moved by %g", (long long)g2,
                      (long long)act, maxrel(before, after, 18));
            /* each channel's two ranges are now close (equal after one sweep of one pair; the chain's
             * second pair rescales conv2's rows, so a few sweeps leave them within a few per cent),
             * and conv1's channel ranges, 0.01..10 apart before, within a small factor */
            const float *w1 = g->tensors[1].data, *w2 = g->tensors[3].data;
            double lo = INFINITY, hi = 0;
            for (int ch = 0; ch < 4; ch++) {
                double r1 = 0, r2 = 0;
                for (int j = 0; j < 18; j++)
                    r1 = fabs(w1[ch * 18 + j]) > r1 ? fabs(w1[ch * 18 + j]) : r1;
                const int64_t rows = g2 == 1 ? 3 : 1, r0 = g2 == 1 ? 0 : ch, lc = g2 == 1 ? ch : 0, cg = 4 / g2;
                for (int64_t r = r0; r < r0 + rows; r++)
                    for (int j = 0; j < 9; j++)
                        r2 = fabs(w2[(r * cg + lc) * 9 + j]) > r2 ? fabs(w2[(r * cg + lc) * 9 + j]) : r2;
                CHECK_MSG(fabs(r1 - r2) <= 0.05 * r1, "channel %d: ranges %g and %g", ch, r1, r2);
                lo = r1 < lo ? r1 : lo;
                hi = r1 > hi ? r1 : hi;
            }
            CHECK_MSG(hi / lo < 100.0, "conv1's channel ranges still %g apart", hi / lo);
            CHECK(strcmp(g->tensors[5].name, "y1.equalized") == 0 && strcmp(g->tensors[6].name, "p1.equalized") == 0);
            fgq_graph_free(g);
        }
}

static void test_excluded_pairs_untouched(void)
{
    for (int k = 0; k < 2; k++) {
        fgq_graph *g = k == 0 ? build(1, 2, 6.0f, 0) : build(1, 1, INFINITY, 1); /* ReLU6; a second reader */
        float w1[72], w2[108];
        memcpy(w1, g->tensors[1].data, sizeof w1);
        memcpy(w2, g->tensors[3].data, sizeof w2);
        int32_t pairs = -1;
        fgq_error err = {0};
        CHECK(fgq_pass_equalize(g, &pairs, &err) == FGQ_OK);
        /* conv2 -> conv3 has no activation and one reader: that pair is equalized; conv1 -> conv2 not */
        CHECK_MSG(pairs == 1, "case %d: %d pairs", k, (int)pairs);
        CHECK(memcmp(w1, g->tensors[1].data, sizeof w1) == 0);
        fgq_graph_free(g);
    }
}

/* A channel whose scale would overflow a float is left alone, not filled with inf/NaN
 * (found by review: sqrt(r1/r2) past FLT_MAX). */
static void test_extreme_ranges(void)
{
    fgq_graph *g = build(1, 1, INFINITY, 0);
    float *w1 = g->tensors[1].data, *w2 = g->tensors[3].data;
    for (int j = 0; j < 18; j++)
        w1[j] = j % 2 ? 3e38f : -3e38f; /* channel 0 */
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < 9; j++)
            w2[(r * 4 + 0) * 9 + j] = 1e-44f; /* its column in conv2 */
    int32_t pairs = -1;
    fgq_error err = {0};
    CHECK(fgq_pass_equalize(g, &pairs, &err) == FGQ_OK);
    int bad = 0;
    for (int j = 0; j < 72; j++)
        bad += !isfinite(w1[j]);
    for (int j = 0; j < 108; j++)
        bad += !isfinite(w2[j]);
    CHECK_MSG(bad == 0, "%d weights became inf/NaN", bad);
    CHECK(w1[1] == 3e38f);
    fgq_graph_free(g);
}

/* A real network: the Fashion-MNIST CNN of examples/, and the MLPerf Tiny ResNet-8 when shared/ is there. */
static void check_model(const char *path, int need)
{
    if (access(path, R_OK) != 0) {
        CHECK_MSG(!need, "%s is missing", path);
        if (!need)
            fprintf(stderr, "skip   %s (not found)\n", path);
        return;
    }
    fgq_graph *g = NULL;
    fgq_error err = {0};
    if (fgq_onnx_load(path, NULL, &g, &err) != FGQ_OK || fgq_infer_shapes(g, &err) != FGQ_OK ||
        fgq_graph_optimize(g, &err) != FGQ_OK) {
        CHECK_MSG(0, "%s: %s", path, err.msg);
        fgq_graph_free(g);
        return;
    }
    const int64_t n_in = fgq_ir_tensor_numel(&g->tensors[g->inputs[0]]);
    const int64_t n_out = fgq_ir_tensor_numel(&g->tensors[g->outputs[0]]);
    float *x = malloc((size_t)n_in * 4), *before = malloc((size_t)n_out * 4), *after = malloc((size_t)n_out * 4);
    for (int64_t i = 0; i < n_in; i++)
        x[i] = frand() * 0.5f + 0.5f;
    run(g, x, before);
    int32_t pairs = 0;
    CHECK(fgq_pass_equalize(g, &pairs, &err) == FGQ_OK);
    CHECK_MSG(pairs >= 1, "%s: no pair equalized", path);
    run(g, x, after);
    CHECK_MSG(maxrel(before, after, (int)n_out) < 1e-4, "%s: outputs moved by %g", path,
              maxrel(before, after, (int)n_out));
    free(x);
    free(before);
    free(after);
    fgq_graph_free(g);
}

static void test_real_models(void)
{
    check_model("examples/fashion-mnist/model.onnx", 1);
    const char *shared = getenv("FGQ_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/models/tiny-v0.7/model_ic.onnx", shared != NULL ? shared : "../shared");
    check_model(path, 0);
}

int main(void)
{
    RUN(test_pairs_keep_outputs);
    RUN(test_excluded_pairs_untouched);
    RUN(test_extreme_ranges);
    RUN(test_real_models);
    return FGQ_TEST_DONE();
}
