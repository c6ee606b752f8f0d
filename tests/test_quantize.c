/* test_quantize.c — the integer model of a small hand-built graph.
 * Oracles: the float run of the same graph (the quantized output must lie
 * within a few output quantization steps of it); bias and requantization
 * constants recomputed here from the stored scales (DESIGN §3: bias =
 * round(b / (s_x·s_w)), REQ = fgq_quantize_multiplier(s_x·s_w / s_y)); the s8
 * per-channel scale max|w_r| / 127. */
#include "quant/stats/calib.h"
#include "export/fgq_compact.h"
#include "export/fgq_writer.h"
#include "fgq_test.h"
#include "graph_build.h"
#include "passes/passes.h"
#include "quant/affine.h"
#include "quant/quantize.h"
#include "quant/quantized_io.h"
#include "lower/lower.h"
#include "ops/ops_q.h"
#include "run/run_graph.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((double)(rng >> 11) / 9007199254740992.0);
}

enum { C_IN = 2, H = 6, W = 6, C1 = 3, NCLS = 4, NSAMP = 40, GK2 = 8, GR2 = 5 };

/* x[1,2,6,6] -> conv1 (3x3 pad 1, bias, fused Relu) -> c1
 *            -> conv2 (1x1, no bias)                 -> c2
 * add(c1, c2) -> s -> MaxPool 2x2 s2 -> p [1,3,3,3] -> Flatten -> f [1,27]
 * -> Gemm (transB, C) -> y [1,4]. */
static fgq_graph *build(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t dx[4] = {1, C_IN, H, W}, dc[4] = {1, C1, H, W}, dp[4] = {1, C1, 3, 3}, df[2] = {1, 27},
            dy[2] = {1, NCLS};
    int64_t dw1[4] = {C1, C_IN, 3, 3}, db1[1] = {C1}, dw2[4] = {C1, C_IN, 1, 1}, dwg[2] = {NCLS, 27},
            dbg[1] = {NCLS};
    float w1[C1 * C_IN * 9], b1[C1], w2[C1 * C_IN], wg[NCLS * 27], bg[NCLS];
    for (size_t i = 0; i < sizeof w1 / sizeof w1[0]; i++)
        w1[i] = frand(-0.5f, 0.5f);
    for (int i = 0; i < C1; i++)
        b1[i] = frand(-0.2f, 0.3f);
    for (size_t i = 0; i < sizeof w2 / sizeof w2[0]; i++)
        w2[i] = frand(-1.0f, 1.0f);
    for (size_t i = 0; i < sizeof wg / sizeof wg[0]; i++)
        wg[i] = frand(-0.3f, 0.3f);
    for (int i = 0; i < NCLS; i++)
        bg[i] = frand(-0.1f, 0.1f);
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, dx);
    int32_t W1 = const_f32(g, "w1", 4, dw1, w1), B1 = const_f32(g, "b1", 1, db1, b1);
    int32_t W2 = const_f32(g, "w2", 4, dw2, w2);
    int32_t WG = const_f32(g, "wg", 2, dwg, wg), BG = const_f32(g, "bg", 1, dbg, bg);
    int32_t c1 = tensor(g, "c1", FGQ_TK_INTERMEDIATE, 4, dc), c2 = tensor(g, "c2", FGQ_TK_INTERMEDIATE, 4, dc);
    int32_t s = tensor(g, "s", FGQ_TK_INTERMEDIATE, 4, dc), p = tensor(g, "p", FGQ_TK_INTERMEDIATE, 4, dp);
    int32_t f = tensor(g, "f", FGQ_TK_INTERMEDIATE, 2, df), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, dy);
    int32_t in1[3] = {x, W1, B1}, in2[2] = {x, W2}, ina[2] = {c1, c2}, ing[3] = {f, WG, BG};
    int32_t n1 = node(g, "conv1", "Conv", 3, in1, c1);
    int64_t pads[4] = {1, 1, 1, 1}, k2[2] = {2, 2};
    attr_ints(g, n1, "pads", 4, pads);
    add_attr(g, n1, FGQ_ATTR_ACT, FGQ_ATTR_INT)->i = FGQ_ACT_RELU;
    node(g, "conv2", "Conv", 2, in2, c2);
    node(g, "add", "Add", 2, ina, s);
    int32_t mp = node(g, "pool", "MaxPool", 1, &s, p);
    attr_ints(g, mp, "kernel_shape", 2, k2);
    attr_ints(g, mp, "strides", 2, k2);
    node(g, "flat", "Flatten", 1, &p, f);
    int32_t ng = node(g, "fc", "Gemm", 3, ing, y);
    add_attr(g, ng, "transB", FGQ_ATTR_INT)->i = 1;
    set_io(g, 1, &x, 1, &y);
    return g;
}

static float *make_data(int n)
{
    float *d = malloc((size_t)n * C_IN * H * W * sizeof(float));
    for (int i = 0; i < n * C_IN * H * W; i++)
        d[i] = frand(-1.0f, 2.0f);
    return d;
}

static const fgq_ir_tensor *find(const fgq_graph *g, const char *name)
{
    int32_t t = fgq_graph_find_tensor(g, name);
    return t >= 0 ? &g->tensors[t] : NULL;
}

static fgq_graph *quantize(const fgq_graph *fg, const float *data, const fgq_quant_config *cfg,
                           fgq_layer_report **rep, int32_t *n_rep, fgq_status *st_out, fgq_error *err)
{
    fgq_calib c;
    fgq_graph *qg = NULL;
    fgq_status st = fgq_calib_init(&c, fg, err);
    fgq_samples s = samples_of(fg, data, NSAMP);
    if (st == FGQ_OK)
        st = fgq_calib_run(&c, fg, &s, NULL, NULL, err);
    if (st == FGQ_OK)
        st = fgq_quantize_graph(fg, &c, cfg, &qg, rep, n_rep, err);
    fgq_calib_free(&c);
    *st_out = st;
    return qg;
}

/* Max |y_q - y_f| over samples, in units of the output scale. */
static double max_err_steps(const fgq_graph *fg, const fgq_graph *qg, const float *data, int n, double s_y)
{
    fgq_graph_runner fr, qr;
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_graph_runner_init(&fr, fg, &err) != FGQ_OK)
        return INFINITY;
    if (fgq_graph_runner_init(&qr, qg, &err) != FGQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        fgq_graph_runner_free(&fr);
        return INFINITY;
    }
    double worst = 0;
    for (int s = 0; s < n; s++) {
        float yf[NCLS], yq[NCLS], *of = yf, *oq = yq;
        const float *x = data + s * C_IN * H * W;
        if (fgq_graph_runner_run(&fr, &x, &of, NULL, NULL, &err) != FGQ_OK ||
            fgq_graph_runner_run(&qr, &x, &oq, NULL, NULL, &err) != FGQ_OK) {
            fprintf(stderr, "%s\n", err.msg);
            worst = INFINITY;
            break;
        }
        for (int j = 0; j < NCLS; j++) {
            double e = fabs((double)yf[j] - (double)yq[j]) / s_y;
            worst = e > worst ? e : worst;
        }
    }
    fgq_graph_runner_free(&fr);
    fgq_graph_runner_free(&qr);
    return worst;
}

static void test_s8_close_to_float(void)
{
    fgq_graph *fg = build();
    float *calib = make_data(NSAMP), *test = make_data(NSAMP);
    fgq_quant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_policy_parse("s8", &cfg.weights, &err) == FGQ_OK);
    cfg.quantized_tail = 1; /* fc writes codes too (test_float_output_layer: the float one) */
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_status st;
    fgq_graph *qg = quantize(fg, calib, &cfg, &rep, &n_rep, &st, &err);
    CHECK_MSG(st == FGQ_OK, "%s", err.msg);
    if (qg == NULL) {
        fgq_graph_free(fg);
        free(calib);
        free(test);
        return;
    }
    /* every node quantized: conv1, conv2, add, pool, flat, fc */
    CHECK(n_rep == 6);
    for (int32_t i = 0; i < n_rep; i++)
        CHECK_MSG(rep[i].quantized, "layer %s runs float", rep[i].name);
    const fgq_ir_tensor *yq = find(qg, "y.q"), *xq = find(qg, "x.q"), *c1 = find(qg, "c1");
    CHECK(yq != NULL && xq != NULL && c1 != NULL && find(qg, "y") != NULL);
    CHECK(c1 != NULL && c1->dtype == FGQ_DT_U8 && c1->q.n_scales == 1);
    if (yq != NULL && xq != NULL && c1 != NULL) {
        /* on the calibration samples: no value outside the calibrated ranges (no clipping) */
        double steps = max_err_steps(fg, qg, calib, NSAMP, yq->q.scales[0]);
        CHECK_MSG(steps <= 4.0, "quantized output off by %.2f steps", steps);

        /* conv1's constants, recomputed */
        const fgq_ir_tensor *w = find(qg, "conv1.w"), *b = find(qg, "conv1.b"), *req = find(qg, "conv1.req");
        CHECK(w != NULL && b != NULL && req != NULL && w->dtype == FGQ_DT_S8 && w->q.n_scales == C1);
        const float *w1 = fg->tensors[fgq_graph_find_tensor(fg, "w1")].data;
        const float *b1 = fg->tensors[fgq_graph_find_tensor(fg, "b1")].data;
        for (int r = 0; w != NULL && b != NULL && req != NULL && r < C1; r++) {
            float amax = 0;
            for (int k = 0; k < C_IN * 9; k++)
                amax = fabsf(w1[r * C_IN * 9 + k]) > amax ? fabsf(w1[r * C_IN * 9 + k]) : amax;
            double sx = xq->q.scales[0], sw = w->q.scales[r], sy = c1->q.scales[0];
            CHECK_NEAR(sw, amax / 127.0f, 1e-7);
            CHECK(((const int32_t *)b->data)[r] == (int32_t)nearbyint(b1[r] / (sx * sw)));
            int32_t mult, shift;
            CHECK(fgq_quantize_multiplier(sx * sw / sy, &mult, &shift, &err) == FGQ_OK);
            CHECK(((const int32_t *)req->data)[2 * r] == mult && ((const int32_t *)req->data)[2 * r + 1] == shift);
            /* codes: round(w / s_w) */
            for (int k = 0; k < C_IN * 9; k++)
                CHECK(((const int8_t *)w->data)[r * C_IN * 9 + k] == (int8_t)roundf(w1[r * C_IN * 9 + k] / (float)sw));
        }
        /* a REQ shift outside -31..31 is refused when the model loads (the runs trust REQ) */
        if (req != NULL) {
            int32_t *rq = (int32_t *)req->data, keep = rq[1];
            rq[1] = 40;
            fgq_graph_runner bad;
            fgq_error_clear(&err);
            CHECK(fgq_graph_runner_init(&bad, qg, &err) == FGQ_ERR_FORMAT);
            CHECK_MSG(strstr(err.msg, "REQ row 0") != NULL && strstr(err.msg, "conv1") != NULL, "%s", err.msg);
            rq[1] = keep;
        }
        /* ReLU folded into the clamp: qmin is conv1's output zero point */
        for (int32_t i = 0; i < qg->n_nodes; i++)
            if (strcmp(qg->nodes[i].name, "conv1") == 0) {
                const fgq_ir_attr *ip = fgq_node_attr(&qg->nodes[i], "fgq_iparams");
                CHECK(ip != NULL && ip->ints[FGQ_QP_QMIN] == c1->q.zero_points[0] && ip->ints[FGQ_QP_QMAX] == 255);
            }
    }
    free(rep);
    fgq_graph_free(qg);
    fgq_graph_free(fg);
    free(calib);
    free(test);
}

static void test_ternary_and_overrides(void)
{
    fgq_graph *fg = build();
    float *calib = make_data(NSAMP), *test = make_data(NSAMP);
    fgq_quant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_policy_parse("ternary:g4:asym", &cfg.weights, &err) == FGQ_OK);
    fgq_layer_override ov[2];
    memset(ov, 0, sizeof ov);
    ov[0].node = "conv2";
    ov[0].keep_float = 1;
    ov[1].node = "fc";
    CHECK(fgq_policy_parse("s4:g8", &ov[1].policy, &err) == FGQ_OK);
    cfg.overrides = ov;
    cfg.n_overrides = 2;
    cfg.quantized_tail = 1; /* the output's scale is the unit of the error below */
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_status st;
    fgq_graph *qg = quantize(fg, calib, &cfg, &rep, &n_rep, &st, &err);
    CHECK_MSG(st == FGQ_OK, "%s", err.msg);
    if (qg != NULL) {
        const fgq_ir_tensor *w1 = find(qg, "conv1.w"), *gs1 = find(qg, "conv1.gs"), *wf = find(qg, "fc.w");
        CHECK(w1 != NULL && w1->dtype == FGQ_DT_T2 && w1->dims[1] == 20); /* K = 18 padded to 20 */
        CHECK(gs1 != NULL && gs1->rank == 3 && gs1->dims[1] == 5 && gs1->dims[2] == 2); /* asym: m+, m- */
        CHECK(wf != NULL && wf->dtype == FGQ_DT_S4 && find(qg, "fc.gs") != NULL);
        CHECK(find(qg, "conv2.w") == NULL); /* kept float */
        int conv2_float = 0;
        for (int32_t i = 0; i < qg->n_nodes; i++)
            conv2_float |= strcmp(qg->nodes[i].name, "conv2") == 0 && strcmp(qg->nodes[i].op_type, "Conv") == 0 &&
                           qg->nodes[i].domain[0] == '\0';
        CHECK(conv2_float);
        for (int32_t i = 0; i < n_rep; i++) {
            if (strcmp(rep[i].name, "conv1") == 0)
                CHECK(strcmp(rep[i].policy, "ternary:g4:asym") == 0 && rep[i].weight_sqnr_db > 3.0);
            if (strcmp(rep[i].name, "conv2") == 0)
                CHECK(!rep[i].quantized);
        }
        const fgq_ir_tensor *yq = find(qg, "y.q");
        /* ternary is coarse: the float run is only the rough oracle here */
        CHECK(yq != NULL && max_err_steps(fg, qg, test, NSAMP, yq->q.scales[0]) < 60.0);
        fgq_samples ts = samples_of(fg, test, NSAMP);
        CHECK(fgq_quant_measure(fg, qg, &ts, 0, rep, n_rep, NULL, NULL, &err) == FGQ_OK);
        for (int32_t i = 0; i < n_rep; i++)
            CHECK_MSG(!isnan(rep[i].act_sqnr_db) && rep[i].act_sqnr_db > 3.0, "%s: %.2f dB", rep[i].name,
                      rep[i].act_sqnr_db);
    }
    free(rep);
    fgq_graph_free(qg);

    /* an override naming no node: a clear error */
    ov[0].node = "nope";
    fgq_error_clear(&err);
    qg = quantize(fg, calib, &cfg, &rep, &n_rep, &st, &err);
    CHECK(st == FGQ_ERR_VALUE && qg == NULL && strstr(err.msg, "nope") != NULL);
    cfg.n_overrides = 0;
    /* static activations without calibration statistics: refused */
    fgq_error_clear(&err);
    CHECK(fgq_quantize_graph(fg, NULL, &cfg, &qg, &rep, &n_rep, &err) == FGQ_ERR_VALUE && qg == NULL);
    fgq_graph_free(fg);
    free(calib);
    free(test);
}

static void test_u4_and_s8_acts(void)
{
    const fgq_act_kind kinds[2] = {FGQ_ACTS_U4, FGQ_ACTS_S8};
    for (int k = 0; k < 2; k++) {
        fgq_graph *fg = build();
        float *calib = make_data(NSAMP), *test = make_data(NSAMP);
        fgq_quant_config cfg;
        memset(&cfg, 0, sizeof cfg);
        fgq_error err;
        fgq_error_clear(&err);
        CHECK(fgq_policy_parse("s8", &cfg.weights, &err) == FGQ_OK);
        cfg.acts = kinds[k];
        cfg.quantized_tail = 1; /* the output's scale is the unit of the error below */
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        fgq_status st;
        fgq_graph *qg = quantize(fg, calib, &cfg, &rep, &n_rep, &st, &err);
        CHECK_MSG(st == FGQ_OK, "%s", err.msg);
        const fgq_ir_tensor *c1 = qg ? find(qg, "c1") : NULL, *yq = qg ? find(qg, "y.q") : NULL;
        CHECK(c1 != NULL && c1->dtype == (kinds[k] == FGQ_ACTS_S8 ? FGQ_DT_S8 : FGQ_DT_U8));
        if (c1 != NULL && yq != NULL) {
            if (kinds[k] == FGQ_ACTS_U4)
                CHECK(c1->q.zero_points[0] >= 0 && c1->q.zero_points[0] <= 15);
            double steps = max_err_steps(fg, qg, calib, NSAMP, yq->q.scales[0]);
            CHECK_MSG(steps <= (kinds[k] == FGQ_ACTS_U4 ? 6.0 : 4.0), "acts %d: %.2f steps", (int)kinds[k], steps);
        }
        free(rep);
        fgq_graph_free(qg);
        fgq_graph_free(fg);
        free(calib);
        free(test);
    }
}

/* --acts dynamic without calibration: conv1, conv2 and fc become DYNQUANT ->
 * QCONV_DYN / QGEMM_DYN (one DYNQUANT for x, shared by conv1 and conv2, one
 * for f), add / pool / flat stay float. Oracles: the float run (output within
 * 3 steps of the float output range / 255: 8-bit per-inference activations and
 * s8 weights); conv1's W_SCALE = max|w_r| / 127 and float bias = b1 exactly;
 * the fused Relu carried as the float activation. The quantized graph goes
 * through the writer and the runtime loader (3-output nodes). */
static void test_dynamic_acts(void)
{
    fgq_graph *fg = build();
    float *test = make_data(NSAMP);
    fgq_quant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_policy_parse("s8", &cfg.weights, &err) == FGQ_OK);
    cfg.acts = FGQ_ACTS_DYNAMIC;
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_graph *qg = NULL;
    CHECK_MSG(fgq_quantize_graph(fg, NULL, &cfg, &qg, &rep, &n_rep, &err) == FGQ_OK, "%s", err.msg);
    if (qg == NULL) {
        fgq_graph_free(fg);
        free(test);
        return;
    }
    CHECK(n_rep == 6);
    for (int32_t i = 0; i < n_rep; i++) {
        const int w = strcmp(rep[i].name, "conv1") == 0 || strcmp(rep[i].name, "conv2") == 0 ||
                      strcmp(rep[i].name, "fc") == 0;
        CHECK_MSG(rep[i].quantized == w && rep[i].has_weights == w, "layer %s", rep[i].name);
        if (w)
            CHECK_MSG(strcmp(rep[i].policy, "s8") == 0 && rep[i].weight_sqnr_db > 35.0, "%s", rep[i].name);
    }
    int n_dq = 0, n_conv = 0, n_gemm = 0;
    for (int32_t i = 0; i < qg->n_nodes; i++) {
        const fgq_ir_attr *op = fgq_node_attr(&qg->nodes[i], "fgq_op");
        const fgq_ir_attr *ip = fgq_node_attr(&qg->nodes[i], "fgq_iparams");
        if (op == NULL)
            continue;
        n_dq += op->i == FGQ_OP_DYNQUANT && qg->nodes[i].n_outputs == 3;
        n_conv += op->i == FGQ_OP_QCONV_DYN;
        n_gemm += op->i == FGQ_OP_QGEMM_DYN;
        if (strcmp(qg->nodes[i].name, "conv1") == 0)
            CHECK(op->i == FGQ_OP_QCONV_DYN && ip != NULL && ip->ints[FGQ_P_ACT] == FGQ_ACT_RELU &&
                  qg->nodes[i].n_inputs == 6);
        if (strcmp(qg->nodes[i].name, "conv2") == 0) /* no bias: 5 inputs */
            CHECK(op->i == FGQ_OP_QCONV_DYN && ip != NULL && ip->ints[FGQ_P_ACT] == FGQ_ACT_NONE &&
                  qg->nodes[i].n_inputs == 5);
    }
    CHECK(n_dq == 2 && n_conv == 2 && n_gemm == 1);
    const fgq_ir_tensor *ws = find(qg, "conv1.w_scale"), *b = find(qg, "conv1.b");
    CHECK(ws != NULL && b != NULL && ws->dtype == FGQ_DT_F32 && b->dtype == FGQ_DT_F32);
    const float *w1 = fg->tensors[fgq_graph_find_tensor(fg, "w1")].data;
    const float *b1 = fg->tensors[fgq_graph_find_tensor(fg, "b1")].data;
    for (int r = 0; ws != NULL && b != NULL && r < C1; r++) {
        float amax = 0;
        for (int k = 0; k < C_IN * 9; k++)
            amax = fabsf(w1[r * C_IN * 9 + k]) > amax ? fabsf(w1[r * C_IN * 9 + k]) : amax;
        CHECK_NEAR(((const float *)ws->data)[r], amax / 127.0f, 1e-7);
        CHECK(((const float *)b->data)[r] == b1[r]);
    }
    /* output range of the float model on the test samples -> one 8-bit step */
    fgq_graph_runner fr;
    float lo = 0.0f, hi = 0.0f;
    CHECK(fgq_graph_runner_init(&fr, fg, &err) == FGQ_OK);
    for (int s = 0; s < NSAMP; s++) {
        float y[NCLS], *o = y;
        const float *x = test + s * C_IN * H * W;
        CHECK(fgq_graph_runner_run(&fr, &x, &o, NULL, NULL, &err) == FGQ_OK);
        for (int j = 0; j < NCLS; j++) {
            lo = y[j] < lo ? y[j] : lo;
            hi = y[j] > hi ? y[j] : hi;
        }
    }
    fgq_graph_runner_free(&fr);
    double steps = max_err_steps(fg, qg, test, NSAMP, (hi - lo) / 255.0);
    CHECK_MSG(steps <= 3.0, "dynamic output off by %.2f steps", steps);
    /* activation SQNR is measured on samples when they are given */
    fgq_samples ts = samples_of(fg, test, NSAMP);
    CHECK(fgq_quant_measure(fg, qg, &ts, 0, rep, n_rep, NULL, NULL, &err) == FGQ_OK);
    for (int32_t i = 0; i < n_rep; i++)
        CHECK_MSG(rep[i].act_sqnr_db > 25.0, "%s: %.2f dB", rep[i].name, rep[i].act_sqnr_db);
    free(rep);
    fgq_graph_free(qg);
    fgq_graph_free(fg);
    free(test);
}

/* Preprocessing metadata: written, validated at load, read back by the getter. */
static void test_model_metadata(void)
{
    fgq_graph *fg = build();
    fgq_model_preprocess pre, got;
    memset(&pre, 0, sizeof pre);
    pre.scale = 1.0f / 255.0f;
    pre.n_mean = 2;
    pre.mean[0] = 0.1f;
    pre.mean[1] = 0.2f;
    pre.n_std = 1;
    pre.std[0] = 0.3f;
    pre.channel_axis = -1;
    uint8_t *buf = NULL;
    uint64_t size = 0;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_write_model_meta(fg, &pre, &buf, &size, &err) == FGQ_OK);
    fgq_model m;
    CHECK_MSG(buf != NULL && fgq_model_load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    memset(&got, 0, sizeof got);
    CHECK(buf != NULL && fgq_model_get_preprocess(&m, &got) == 1);
    CHECK(got.scale == pre.scale && got.n_mean == 2 && got.mean[1] == 0.2f && got.n_std == 1 && got.std[0] == 0.3f &&
          got.channel_axis == -1);
    if (buf != NULL) {
        fgq_file_header h;
        fgq_file_header_decode(buf, &h);
        CHECK(h.meta_off % 64 == 0 && h.meta_size == sizeof(fgq_file_meta));
        buf[offsetof(fgq_file_header, meta_off)] ^= 8; /* misaligned blob: refused */
        fgq_error_clear(&err);
        CHECK(fgq_model_load(&m, buf, size, &err) == FGQ_ERR_FORMAT && strstr(err.msg, "metadata") != NULL);
        buf[offsetof(fgq_file_header, meta_off)] ^= 8;
        buf[h.meta_off + offsetof(fgq_file_meta, n_std)] = 65; /* more channels than the blob holds */
        fgq_error_clear(&err);
        CHECK(fgq_model_load(&m, buf, size, &err) == FGQ_ERR_FORMAT && strstr(err.msg, "metadata") != NULL);
    }
    free(buf);
    /* no metadata: the getter says so */
    CHECK(fgq_write_model(fg, &buf, &size, &err) == FGQ_OK);
    CHECK(buf != NULL && fgq_model_load(&m, buf, size, &err) == FGQ_OK && fgq_model_get_preprocess(&m, &got) == 0);
    free(buf);
    /* a std of 0 is refused by the writer */
    pre.std[0] = 0.0f;
    fgq_error_clear(&err);
    CHECK(fgq_write_model_meta(fg, &pre, &buf, &size, &err) == FGQ_ERR_VALUE && buf == NULL);
    fgq_graph_free(fg);
}

/* Runs a loaded model on n samples of x (in_bytes each); 0 on any failure. y: n × out_bytes. */
static int run_model(const fgq_model *m, const uint8_t *x, size_t in_bytes, int n, uint8_t *y, size_t out_bytes)
{
    const uint64_t asz = fgq_model_arena_size(m);
    uint8_t *arena = aligned_alloc(64, (size_t)(asz + 63) / 64 * 64 + 64);
    int ok = arena != NULL;
    for (int s = 0; ok && s < n; s++) {
        const void *in[1] = {x + (size_t)s * in_bytes};
        void *out[1] = {y + (size_t)s * out_bytes};
        fgq_error err;
        fgq_error_clear(&err);
        ok = fgq_model_run(m, arena, asz, in, out, NULL, NULL, &err) == FGQ_OK;
    }
    free(arena);
    return ok;
}

/* The device image of `fgq export --c` (fgq_compact_model), of the model with float I/O and with
 * u8 codes in and out (fgq_quant_io_rewrite). Oracles: the source model's outputs, bit for bit
 * (the image keeps every record and constant); fgq_compact.h's list of what goes: the scales of
 * every tensor but the graph's input and output (kept byte for byte: the u8 ones' are counted),
 * the recipe (the preprocessing stays); every constant at a multiple of the alignment asked
 * for; a bad alignment refused. */
static void device_image_case(int io_quantized)
{
    fgq_graph *fg = build();
    float *calib = make_data(NSAMP), *test = make_data(NSAMP);
    fgq_quant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_policy_parse("ternary:g4", &cfg.weights, &err) == FGQ_OK); /* t2 codes, group multipliers */
    cfg.io_quantized = io_quantized; /* as the pipeline sets it: the output layer then writes codes */
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_status st;
    fgq_graph *qg = quantize(fg, calib, &cfg, &rep, &n_rep, &st, &err);
    CHECK_MSG(st == FGQ_OK && qg != NULL, "%s", err.msg);
    fgq_io_rewrite io;
    memset(&io, 0, sizeof io);
    if (qg != NULL && io_quantized)
        CHECK_MSG(fgq_quant_io_rewrite(qg, &io, &err) == FGQ_OK && io.inputs == 1 && io.outputs == 1, "%s", err.msg);
    fgq_model_preprocess pre;
    memset(&pre, 0, sizeof pre);
    pre.scale = 0.5f;
    pre.n_mean = 1;
    pre.mean[0] = 0.25f;
    pre.channel_axis = -1;
    uint8_t *buf = NULL;
    uint64_t size = 0;
    fgq_model m;
    CHECK_MSG(qg != NULL && fgq_write_model_recipe(qg, &pre, "fgq quantize --weights ternary:g4", &buf, &size, &err) ==
                  FGQ_OK && fgq_model_load(&m, buf, size, &err) == FGQ_OK,
              "%s", err.msg);
    /* inputs: the float samples, or codes (any u8 is a valid code) */
    const size_t in_bytes = (io_quantized ? 1 : sizeof(float)) * C_IN * H * W;
    const size_t out_bytes = (io_quantized ? 1 : sizeof(float)) * NCLS;
    uint8_t *x = malloc(in_bytes * NSAMP), *want = malloc(out_bytes * NSAMP), *got = malloc(out_bytes * NSAMP);
    for (size_t i = 0; i < in_bytes * NSAMP; i++)
        x[i] = io_quantized ? (uint8_t)(frand(0.0f, 1.0f) * 255.0f) : 0; /* in [0, 255]: any u8 */
    if (!io_quantized)
        memcpy(x, test, in_bytes * NSAMP);
    CHECK(buf != NULL && run_model(&m, x, in_bytes, NSAMP, want, out_bytes));
    int per_channel = 0, io_scales = 0;
    for (int32_t t = 0; buf != NULL && t < fgq_model_n_tensors(&m); t++) {
        fgq_tensor_qparams q;
        per_channel |= fgq_model_tensor_qparams(&m, t, &q) == FGQ_OK && q.n_scales > 1;
    }
    CHECK(per_channel); /* the source has what the image drops */
    /* the WSUM constants (the final QGEMM's / QGEMM_DYN's: s8 weights): an image for a target whose
     * kernels do not read them leaves them out */
    uint64_t wsum_bytes = 0;
    int n_wsum = 0;
    for (int32_t t = 0; buf != NULL && t < fgq_model_n_tensors(&m); t++) {
        fgq_tensor_info ti;
        if (fgq_model_tensor_info(&m, t, &ti) == FGQ_OK && ti.name_len >= 5 &&
            memcmp(ti.name + ti.name_len - 5, ".wsum", 5) == 0) {
            wsum_bytes += ti.size_bytes;
            n_wsum++;
        }
    }
    CHECK(n_wsum == 1 && wsum_bytes == 4 * NCLS);
    const uint32_t aligns[6] = {8, 16, 64, 8, 16, 64};
    uint64_t kept_size[3] = {0, 0, 0};
    for (int a = 0; buf != NULL && a < 6; a++) {
        const int keep_wsum = a < 3;
        uint8_t *img = NULL;
        uint64_t isz = 0;
        fgq_model mi;
        fgq_error_clear(&err);
        CHECK_MSG(fgq_compact_model(&m, aligns[a], keep_wsum, &img, &isz, &err) == FGQ_OK &&
                      fgq_model_load(&mi, img, isz, &err) == FGQ_OK,
                  "align %u: %s", (unsigned)aligns[a], err.msg);
        if (keep_wsum)
            kept_size[a] = isz;
        else /* its blob gone (the image's size is whole 64-byte lines: 16 bytes need not show) */
            CHECK_MSG(isz <= kept_size[a - 3], "align %u: image %llu bytes without WSUM, %llu with",
                      (unsigned)aligns[a], (unsigned long long)isz, (unsigned long long)kept_size[a - 3]);
        for (int32_t j = 0; img != NULL && j < fgq_model_n_nodes(&mi); j++) { /* the WSUM slot: omitted or kept */
            fgq_node_info n0, n1;
            CHECK(fgq_model_node_info(&m, j, &n0) == FGQ_OK && fgq_model_node_info(&mi, j, &n1) == FGQ_OK);
            const int32_t at = n0.op == FGQ_OP_QGEMM ? 5 : n0.op == FGQ_OP_QGEMM_DYN ? 7 : -1;
            for (int32_t i = 0; i < n0.n_inputs; i++)
                CHECK(n1.inputs[i] == (i == at && !keep_wsum ? -1 : n0.inputs[i]));
        }
        if (img == NULL)
            continue;
        CHECK_MSG(isz < size, "image %llu bytes, model %llu", (unsigned long long)isz, (unsigned long long)size);
        memset(got, 0xa5, out_bytes * NSAMP);
        CHECK(run_model(&mi, x, in_bytes, NSAMP, got, out_bytes) && memcmp(got, want, out_bytes * NSAMP) == 0);
        CHECK(fgq_model_n_tensors(&mi) == fgq_model_n_tensors(&m) && fgq_model_n_nodes(&mi) == fgq_model_n_nodes(&m));
        const int32_t tin = fgq_model_input_tensor(&mi, 0), tout = fgq_model_output_tensor(&mi, 0);
        io_scales = 0;
        for (int32_t t = 0; t < fgq_model_n_tensors(&mi); t++) {
            fgq_tensor_qparams q, q0;
            CHECK(fgq_model_tensor_qparams(&mi, t, &q) == FGQ_OK && fgq_model_tensor_qparams(&m, t, &q0) == FGQ_OK);
            if (t == tin || t == tout) {
                CHECK(q.n_scales == q0.n_scales && q.axis == q0.axis && q.group_size == q0.group_size &&
                      (q.n_scales == 0 || (memcmp(q.scales, q0.scales, 4 * (size_t)q.n_scales) == 0 &&
                                           memcmp(q.zero_points, q0.zero_points, 4 * (size_t)q.n_scales) == 0)));
                io_scales += q.n_scales;
            } else {
                CHECK_MSG(q.n_scales == 0, "tensor %d keeps %d scales", (int)t, (int)q.n_scales);
            }
            if (fgq_model_tensor_kind(&mi, t) == FGQ_KIND_CONST) {
                fgq_tensor_info i0, i1;
                CHECK(fgq_model_tensor_info(&m, t, &i0) == FGQ_OK && fgq_model_tensor_info(&mi, t, &i1) == FGQ_OK);
                const int wsum = i0.name_len >= 5 && memcmp(i0.name + i0.name_len - 5, ".wsum", 5) == 0;
                const uint8_t *d = fgq_model_tensor_data(&mi, t);
                if (wsum && !keep_wsum) /* an empty constant, no node reads it */
                    CHECK(i1.size_bytes == 0 && i1.rank == 1 && i1.dims[0] == 0);
                else
                    CHECK(i1.size_bytes == i0.size_bytes && (uintptr_t)d % aligns[a] == 0 &&
                          memcmp(d, fgq_model_tensor_data(&m, t), (size_t)i0.size_bytes) == 0);
            }
        }
        CHECK_MSG(io_scales == (io_quantized ? 2 : 0), "%d input/output scales kept", io_scales);
        const char *text;
        uint32_t len;
        fgq_model_preprocess p2;
        memset(&p2, 0, sizeof p2);
        CHECK(fgq_model_get_recipe(&m, &text, &len) == 1 && fgq_model_get_recipe(&mi, &text, &len) == 0);
        CHECK(fgq_model_get_preprocess(&mi, &p2) == 1 && p2.scale == 0.5f && p2.n_mean == 1 && p2.mean[0] == 0.25f);
        fgq_file_header h;
        fgq_file_header_decode(img, &h);
        CHECK(h.blob_align == aligns[a] && h.version == FGQ_FILE_VERSION);
        free(img);
    }
    const uint32_t bad[4] = {0, 4, 24, 128};
    for (int a = 0; buf != NULL && a < 4; a++) {
        uint8_t *img = (uint8_t *)1;
        uint64_t isz = 1;
        fgq_error_clear(&err);
        CHECK(fgq_compact_model(&m, bad[a], 1, &img, &isz, &err) == FGQ_ERR_VALUE && img == NULL && isz == 0 &&
              strstr(err.msg, "alignment") != NULL);
    }
    free(x);
    free(want);
    free(got);
    free(buf);
    free(rep);
    fgq_graph_free(qg);
    fgq_graph_free(fg);
    free(calib);
    free(test);
}

/* A model without WSUM (its first node reading a lone constant first, at index entry 0): the image
 * for a target without WSUM readers is the other image, byte for byte. (A slot test that took
 * entry 0 for "none" once counted that input as a WSUM; the drop's dtype and rank conditions,
 * s32 [rows], keep this f32 constant either way, so the case guards the result, not that test.) */
static void device_image_no_wsum(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    const int64_t d[2] = {1, 4};
    const float cv[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, d), c = const_f32(g, "c", 2, d, cv);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, d), in[2] = {c, x};
    node(g, "add", "Add", 2, in, y);
    set_io(g, 1, &x, 1, &y);
    uint8_t *buf = NULL, *a = NULL, *b = NULL;
    uint64_t size = 0, sa = 0, sb = 0;
    fgq_model m;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK_MSG(fgq_write_model(g, &buf, &size, &err) == FGQ_OK && fgq_model_load(&m, buf, size, &err) == FGQ_OK, "%s",
              err.msg);
    CHECK(buf != NULL && fgq_compact_model(&m, 8, 1, &a, &sa, &err) == FGQ_OK &&
          fgq_compact_model(&m, 8, 0, &b, &sb, &err) == FGQ_OK);
    CHECK(a != NULL && b != NULL && sa == sb && memcmp(a, b, (size_t)sa) == 0);
    free(a);
    free(b);
    free(buf);
    fgq_graph_free(g);
}

static void test_device_image(void)
{
    device_image_case(0);
    device_image_case(1);
    device_image_no_wsum();
}

/* The op of the node named `name` in qg (-1 when absent or not lowered). */
static int64_t node_op(const fgq_graph *qg, const char *name)
{
    for (int32_t i = 0; i < qg->n_nodes; i++)
        if (strcmp(qg->nodes[i].name, name) == 0) {
            const fgq_ir_attr *op = fgq_node_attr(&qg->nodes[i], "fgq_op");
            return op != NULL ? op->i : -1;
        }
    return -1;
}

/* The node of qg producing tensor t, or NULL. */
static const fgq_ir_node *producer(const fgq_graph *qg, int32_t t)
{
    for (int32_t i = 0; i < qg->n_nodes; i++)
        for (int32_t o = 0; o < qg->nodes[i].n_outputs; o++)
            if (qg->nodes[i].outputs[o] == t)
                return &qg->nodes[i];
    return NULL;
}

/* fg's one output layer `layer` quantized twice from the same statistics under cfg: with a
 * float output (tail 0) and with codes (quantized_tail = 1), both run on NSAMP test samples of
 * n_in floats to n_out outputs. Checks: the float one's output is made by that layer, which reads
 * the codes model's input of the layer with its scale and zero point as constants, and the same
 * weight codes; where the codes model's output is not clipped the two differ by at most half its
 * output step plus 1.5 s_x·s_w of the row (its int32 bias's and its requantization's first
 * roundings) plus float rounding. Returns the float-output graph (caller frees and checks its op;
 * NULL when it could not be made). */
static fgq_graph *tail_against_codes(const fgq_graph *fg, const float *calib, const float *test, int n_in,
                                     int n_out, int channel_axis_last, const fgq_quant_config *base,
                                     const char *layer, const char *what)
{
    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph *qg[2] = {NULL, NULL};
    for (int tail = 0; tail < 2; tail++) {
        fgq_quant_config cfg = *base;
        cfg.quantized_tail = tail;
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        fgq_status st;
        qg[tail] = quantize(fg, calib, &cfg, &rep, &n_rep, &st, &err);
        CHECK_MSG(st == FGQ_OK, "%s: %s", what, err.msg);
        free(rep);
    }
    const fgq_ir_node *n0 = NULL, *n1 = NULL, *dq = NULL;
    for (int32_t i = 0; qg[0] != NULL && qg[1] != NULL && i < qg[0]->n_nodes; i++)
        if (strcmp(qg[0]->nodes[i].name, layer) == 0)
            n0 = &qg[0]->nodes[i];
    for (int32_t i = 0; qg[1] != NULL && i < qg[1]->n_nodes; i++)
        if (strcmp(qg[1]->nodes[i].name, layer) == 0)
            n1 = &qg[1]->nodes[i];
    if (qg[1] != NULL && qg[1]->n_outputs == 1)
        dq = producer(qg[1], qg[1]->outputs[0]);
    CHECK_MSG(n0 != NULL && n1 != NULL && dq != NULL && n0->n_inputs >= 5 && dq->n_inputs == 1, "%s", what);
    if (n0 == NULL || n1 == NULL || dq == NULL || n0->n_inputs < 5 || dq->n_inputs != 1) {
        fgq_graph_free(qg[1]);
        return qg[0];
    }
    const fgq_ir_tensor *x0 = &qg[0]->tensors[n0->inputs[0]], *sx = &qg[0]->tensors[n0->inputs[1]];
    const fgq_ir_tensor *zx = &qg[0]->tensors[n0->inputs[2]], *w0 = &qg[0]->tensors[n0->inputs[3]];
    const fgq_ir_tensor *x1 = &qg[1]->tensors[n1->inputs[0]], *w1 = &qg[1]->tensors[n1->inputs[1]];
    const fgq_ir_tensor *yq = &qg[1]->tensors[dq->inputs[0]], *y0 = &qg[0]->tensors[qg[0]->outputs[0]];
    CHECK_MSG(y0->dtype == FGQ_DT_F32 && producer(qg[0], qg[0]->outputs[0]) == n0, "%s: output not the layer's",
              what);
    CHECK_MSG(strcmp(x0->name, x1->name) == 0 && x1->q.n_scales == 1, "%s: input %s / %s", what, x0->name, x1->name);
    CHECK_MSG(sx->kind == FGQ_TK_CONST && sx->rank == 0 && sx->dtype == FGQ_DT_F32 && x1->q.n_scales == 1 &&
                  *(const float *)sx->data == x1->q.scales[0],
              "%s: X_SCALE", what);
    CHECK_MSG(zx->kind == FGQ_TK_CONST && zx->rank == 0 && zx->dtype == x1->dtype &&
                  (zx->dtype == FGQ_DT_S8 ? *(const int8_t *)zx->data : *(const uint8_t *)zx->data) ==
                      x1->q.zero_points[0],
              "%s: X_ZERO", what);
    int64_t kp = 0;
    const int64_t rows = w1->dims[0];
    CHECK_MSG(w0->dtype == w1->dtype && w0->dims[0] == rows && w0->dims[1] == w1->dims[1] && w1->q.n_scales == rows &&
                  memcmp(w0->data, w1->data, (size_t)(fgq_qw_row_bytes(w0->dtype, w0->dims[1], &kp) * rows)) == 0,
              "%s: weight codes differ", what);
    fgq_graph_runner r0, r1;
    memset(&r0, 0, sizeof r0); /* freeing a zeroed runner is a no-op */
    memset(&r1, 0, sizeof r1);
    fgq_error_clear(&err);
    const int r_ok =
        fgq_graph_runner_init(&r0, qg[0], &err) == FGQ_OK && fgq_graph_runner_init(&r1, qg[1], &err) == FGQ_OK;
    CHECK_MSG(r_ok, "%s: %s", what, err.msg);
    const double s_y = yq->q.scales[0], s_in = x1->q.scales[0];
    int32_t qlo, qhi;
    fgq_q_act_range(yq->dtype, &qlo, &qhi);
    if (base->acts == FGQ_ACTS_U4)
        qhi = 15;
    const double lo = s_y * (qlo - yq->q.zero_points[0]), hi = s_y * (qhi - yq->q.zero_points[0]);
    float *o0 = malloc((size_t)n_out * sizeof(float)), *o1 = malloc((size_t)n_out * sizeof(float));
    double worst = 0.0;
    int n_free = 0;
    for (int sI = 0; r_ok && o0 != NULL && o1 != NULL && sI < NSAMP; sI++) {
        const float *x = test + (size_t)sI * (size_t)n_in;
        CHECK(fgq_graph_runner_run(&r0, &x, &o0, NULL, NULL, &err) == FGQ_OK &&
              fgq_graph_runner_run(&r1, &x, &o1, NULL, NULL, &err) == FGQ_OK);
        for (int j = 0; j < n_out; j++) {
            if (o1[j] <= lo + 1e-6 * s_y || o1[j] >= hi - 1e-6 * s_y)
                continue; /* clipped to the calibrated range */
            const int64_t row = channel_axis_last ? j % rows : (j / (n_out / rows)) % rows;
            const double acc_step = s_in * w1->q.scales[row];
            const double d = fabs((double)o0[j] - (double)o1[j]) - 1.5 * acc_step - 1e-5 * fabs(o1[j]);
            worst = d / s_y > worst ? d / s_y : worst;
            n_free++;
        }
    }
    CHECK_MSG(worst <= 0.5, "%s: float and codes outputs %.4f steps apart", what, worst);
    CHECK_MSG(n_free > NSAMP * n_out / 4, "%s: %d unclipped outputs", what, n_free); /* a Relu clips half */
    free(o0);
    free(o1);
    fgq_graph_runner_free(&r0);
    fgq_graph_runner_free(&r1);
    fgq_graph_free(qg[1]);
    return qg[0];
}

/* The output layer handing back float (fgq_quant_config.quantized_tail = 0, the default), each
 * case against the codes model (tail_against_codes): build()'s fc under u8, s8 and u4
 * activations, s8 and ternary weights; a Conv output layer (3x3, padding) with a fused Relu and
 * a Gemm with a fused Clip, the activation carried in float (no output below 0 / outside the
 * clip, the bounds in fparams). Which layer hands back float: fc before a Softmax (the Softmax
 * then runs float on it); an fc whose output is also read by a Relu, or by another Gemm, or under
 * --io quantized, keeps codes (there the other Gemm, the output's only maker, hands back float). */
static void test_float_output_layer(void)
{
    const fgq_act_kind acts[3] = {FGQ_ACTS_U8, FGQ_ACTS_S8, FGQ_ACTS_U4};
    const char *const pols[2] = {"s8", "ternary:g4"};
    fgq_graph *fg = build();
    float *calib = make_data(NSAMP), *test = make_data(NSAMP);
    fgq_error err;
    fgq_error_clear(&err);
    for (int a = 0; a < 3; a++)
        for (int p = 0; p < 2; p++) {
            fgq_quant_config cfg;
            memset(&cfg, 0, sizeof cfg);
            CHECK(fgq_policy_parse(pols[p], &cfg.weights, &err) == FGQ_OK);
            cfg.acts = acts[a];
            char what[64];
            snprintf(what, sizeof what, "fc, acts %d, %s", (int)acts[a], pols[p]);
            fgq_graph *qg = tail_against_codes(fg, calib, test, C_IN * H * W, NCLS, 1, &cfg, "fc", what);
            CHECK_MSG(qg != NULL && node_op(qg, "fc") == FGQ_OP_QGEMM_DYN && find(qg, "y.q") == NULL, "%s", what);
            fgq_graph_free(qg);
        }
    free(calib);
    free(test);
    fgq_graph_free(fg);

    /* x [1, 2, 5, 5] -> conv (3x3, pad 1, fused Relu) -> y [1, 3, 5, 5]; and x [1, 8] -> fc (fused Clip) */
    for (int c = 0; c < 2; c++) {
        fgq_graph *g = fgq_graph_new();
        g->opset = 13;
        const int n_in = c == 0 ? 2 * 25 : GK2, n_out = c == 0 ? 3 * 25 : GR2;
        int64_t dxc[4] = {1, 2, 5, 5}, dwc[4] = {3, 2, 3, 3}, dyc[4] = {1, 3, 5, 5};
        int64_t dxg[2] = {1, GK2}, dwg[2] = {GR2, GK2}, dyg[2] = {1, GR2};
        float w[GR2 * GK2 > 54 ? GR2 * GK2 : 54], *cal = malloc((size_t)NSAMP * (size_t)n_in * sizeof(float)),
                                                  *tst = malloc((size_t)NSAMP * (size_t)n_in * sizeof(float));
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
            w[i] = frand(-1.0f, 1.0f);
        for (int i = 0; cal != NULL && tst != NULL && i < NSAMP * n_in; i++) {
            cal[i] = frand(-1.0f, 1.0f);
            tst[i] = frand(-1.0f, 1.0f);
        }
        int32_t x = tensor(g, "x", FGQ_TK_INPUT, c == 0 ? 4 : 2, c == 0 ? dxc : dxg);
        int32_t W_ = const_f32(g, "w", c == 0 ? 4 : 2, c == 0 ? dwc : dwg, w);
        int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, c == 0 ? 4 : 2, c == 0 ? dyc : dyg), in[2] = {x, W_};
        int32_t nd = node(g, "layer", c == 0 ? "Conv" : "Gemm", 2, in, y);
        if (c == 0) {
            int64_t pads[4] = {1, 1, 1, 1};
            attr_ints(g, nd, "pads", 4, pads);
            add_attr(g, nd, FGQ_ATTR_ACT, FGQ_ATTR_INT)->i = FGQ_ACT_RELU;
        } else {
            add_attr(g, nd, "transB", FGQ_ATTR_INT)->i = 1;
            add_attr(g, nd, FGQ_ATTR_ACT, FGQ_ATTR_INT)->i = FGQ_ACT_CLIP;
            add_attr(g, nd, FGQ_ATTR_ACT_MIN, FGQ_ATTR_FLOAT)->f = -0.25f;
            add_attr(g, nd, FGQ_ATTR_ACT_MAX, FGQ_ATTR_FLOAT)->f = 0.5f;
        }
        set_io(g, 1, &x, 1, &y);
        fgq_quant_config cfg;
        memset(&cfg, 0, sizeof cfg);
        CHECK(fgq_policy_parse("s8", &cfg.weights, &err) == FGQ_OK);
        fgq_graph *qg = cal != NULL && tst != NULL ? tail_against_codes(g, cal, tst, n_in, n_out, c == 1, &cfg, "layer",
                                                                         c == 0 ? "conv + relu" : "gemm + clip")
                                                   : NULL;
        CHECK(qg != NULL);
        for (int32_t i = 0; qg != NULL && i < qg->n_nodes; i++) {
            if (strcmp(qg->nodes[i].name, "layer") != 0)
                continue;
            const fgq_ir_attr *op = fgq_node_attr(&qg->nodes[i], "fgq_op");
            const fgq_ir_attr *ip = fgq_node_attr(&qg->nodes[i], "fgq_iparams");
            const fgq_ir_attr *fp = fgq_node_attr(&qg->nodes[i], "fgq_fparams");
            CHECK(op != NULL && ip != NULL && op->i == (c == 0 ? FGQ_OP_QCONV_DYN : FGQ_OP_QGEMM_DYN));
            if (ip != NULL && c == 0)
                CHECK(ip->ints[FGQ_P_ACT] == FGQ_ACT_RELU);
            if (ip != NULL && c == 1)
                CHECK(ip->ints[FGQ_P_GEMM_ACT] == FGQ_ACT_CLIP && fp != NULL && fp->floats != NULL &&
                      fp->floats[FGQ_PF_ACT0] == -0.25f && fp->floats[FGQ_PF_ACT1] == 0.5f);
        }
        if (qg != NULL) { /* the activation in float: nothing outside it, and it bites */
            fgq_graph_runner r;
            float *o = malloc((size_t)n_out * sizeof(float));
            int at_bound = 0, outside = 0;
            const int r_ok = o != NULL && fgq_graph_runner_init(&r, qg, &err) == FGQ_OK;
            CHECK_MSG(r_ok, "%s", err.msg);
            for (int sI = 0; r_ok && sI < NSAMP; sI++) {
                const float *xs = tst + (size_t)sI * (size_t)n_in;
                CHECK(fgq_graph_runner_run(&r, &xs, &o, NULL, NULL, &err) == FGQ_OK);
                for (int j = 0; j < n_out; j++) {
                    outside += c == 0 ? o[j] < 0.0f : (o[j] < -0.25f || o[j] > 0.5f);
                    at_bound += c == 0 ? o[j] == 0.0f : (o[j] == -0.25f || o[j] == 0.5f);
                }
            }
            CHECK_MSG(outside == 0 && at_bound > 0, "case %d: %d outside, %d at the bound", c, outside, at_bound);
            if (r_ok)
                fgq_graph_runner_free(&r);
            free(o);
        }
        fgq_graph_free(qg);
        fgq_graph_free(g);
        free(cal);
        free(tst);
    }

    /* x [1, 8] -> fc (Gemm) -> y -> Softmax -> t (output) | Relu -> t beside y (outputs) | Gemm fc2 -> t
     * beside y (outputs) | Softmax under --io quantized */
    for (int variant = 0; variant < 4; variant++) {
        fgq_graph *g = fgq_graph_new();
        g->opset = 13;
        int64_t dx[2] = {1, GK2}, dw[2] = {GR2, GK2}, dy[2] = {1, GR2}, dw2[2] = {GR2, GR2};
        float w[GR2 * GK2], w2[GR2 * GR2], data[NSAMP * GK2];
        for (int i = 0; i < GR2 * GK2; i++)
            w[i] = frand(-1.0f, 1.0f);
        for (int i = 0; i < GR2 * GR2; i++)
            w2[i] = frand(-1.0f, 1.0f);
        for (int i = 0; i < NSAMP * GK2; i++)
            data[i] = frand(-1.0f, 1.0f);
        int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, dx), W_ = const_f32(g, "w", 2, dw, w);
        int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, dy), t = tensor(g, "t", FGQ_TK_INTERMEDIATE, 2, dy);
        int32_t in[2] = {x, W_};
        add_attr(g, node(g, "fc", "Gemm", 2, in, y), "transB", FGQ_ATTR_INT)->i = 1;
        if (variant == 2) {
            int32_t in2[2] = {y, const_f32(g, "w2", 2, dw2, w2)};
            add_attr(g, node(g, "tail", "Gemm", 2, in2, t), "transB", FGQ_ATTR_INT)->i = 1;
        } else {
            node(g, "tail", variant == 1 ? "Relu" : "Softmax", 1, &y, t);
        }
        int32_t outs[2] = {t, y};
        set_io(g, 1, &x, variant == 1 || variant == 2 ? 2 : 1, outs);
        fgq_quant_config cfg;
        memset(&cfg, 0, sizeof cfg);
        CHECK(fgq_policy_parse("s8", &cfg.weights, &err) == FGQ_OK);
        cfg.io_quantized = variant == 3;
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        fgq_status st;
        fgq_graph *qg = quantize(g, data, &cfg, &rep, &n_rep, &st, &err);
        CHECK_MSG(st == FGQ_OK && qg != NULL, "variant %d: %s", variant, err.msg);
        if (qg != NULL) {
            const int64_t want = variant == 0 ? FGQ_OP_QGEMM_DYN : FGQ_OP_QGEMM;
            CHECK_MSG(node_op(qg, "fc") == want, "variant %d: fc is op %lld", variant, (long long)node_op(qg, "fc"));
            if (variant == 0) { /* the Softmax runs float on fc's float output, no QUANTIZE between */
                const fgq_ir_tensor *yt = find(qg, "y");
                CHECK(yt != NULL && yt->dtype == FGQ_DT_F32 && find(qg, "y.q") == NULL && node_op(qg, "tail") == -1);
            }
            if (variant == 2) /* fc2 makes output t alone */
                CHECK(node_op(qg, "tail") == FGQ_OP_QGEMM_DYN);
        }
        free(rep);
        fgq_graph_free(qg);
        fgq_graph_free(g);
    }
}

/* Bias correction on a hand-built Gemm y = x·Wᵀ + b (x [1, 8] a graph input).
 * Oracle: b'[r] = b[r] − Σ_k (W_q[r,k] − W[r,k])·μ_k computed here, W_q
 * decoded from the stored codes, multipliers and row scales as the kernels read
 * them (code · min(m, M) · s_r), μ a mean vector set by hand; the stored int32
 * bias must be round(b' / (s_x·s_r)), the float bias of a float output layer b' itself. Also:
 * fgq_input_means_run's mean of x is the plain average of the samples; off leaves
 * round(b / (s_x·s_r)). */
enum { GK = 8, GR = 3, GN = 50 };
static void test_bias_correction_gemm(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t dx[2] = {1, GK}, dw[2] = {GR, GK}, db[1] = {GR}, dy[2] = {1, GR};
    float w[GR * GK], b[GR], data[GN * GK];
    for (int i = 0; i < GR * GK; i++)
        w[i] = frand(-1.0f, 1.0f);
    for (int i = 0; i < GR; i++)
        b[i] = frand(-0.5f, 0.5f);
    for (int i = 0; i < GN * GK; i++)
        data[i] = frand(-0.5f, 2.0f);
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, dx), W_ = const_f32(g, "w", 2, dw, w), B = const_f32(g, "b", 1, db, b);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, dy), in[3] = {x, W_, B};
    int32_t n = node(g, "fc", "Gemm", 3, in, y);
    add_attr(g, n, "transB", FGQ_ATTR_INT)->i = 1;
    set_io(g, 1, &x, 1, &y);
    fgq_error err;
    fgq_error_clear(&err);

    /* the measured mean of x */
    fgq_input_means m;
    fgq_samples xs = samples_of(g, data, GN);
    CHECK_MSG(fgq_input_means_run(&m, g, &xs, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
    CHECK(m.mean != NULL && m.mean[x] != NULL && m.n_samples == GN);
    for (int k = 0; m.mean != NULL && m.mean[x] != NULL && k < GK; k++) {
        double a = 0.0;
        for (int s = 0; s < GN; s++)
            a += data[s * GK + k];
        CHECK(fabs(m.mean[x][k] - a / GN) < 1e-9);
    }
    /* a known mean instead */
    double mu[GK];
    for (int k = 0; k < GK; k++) {
        mu[k] = 0.25 * (double)k - 0.6;
        if (m.mean != NULL && m.mean[x] != NULL)
            m.mean[x][k] = mu[k];
    }
    for (int run = 0; run < 4; run++) {
        /* the int32 bias of a layer writing codes, then the float bias of one handing back float */
        const int on = run & 1, float_tail = run >> 1;
        fgq_quant_config cfg;
        memset(&cfg, 0, sizeof cfg);
        CHECK(fgq_policy_parse("ternary:g4:exact", &cfg.weights, &err) == FGQ_OK);
        cfg.bias_correction = on ? FGQ_BC_ON : FGQ_BC_OFF;
        cfg.means = &m;
        cfg.quantized_tail = !float_tail;
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        fgq_status st;
        fgq_graph *qg = quantize(g, data, &cfg, &rep, &n_rep, &st, &err);
        CHECK_MSG(st == FGQ_OK, "%s", err.msg);
        const fgq_ir_tensor *wq = qg ? find(qg, "fc.w") : NULL, *gs = qg ? find(qg, "fc.gs") : NULL,
                            *bq = qg ? find(qg, "fc.b") : NULL, *xq = qg ? find(qg, "x.q") : NULL;
        const fgq_ir_attr *ipa = NULL;
        for (int32_t i = 0; qg != NULL && i < qg->n_nodes; i++)
            if (strcmp(qg->nodes[i].name, "fc") == 0)
                ipa = fgq_node_attr(&qg->nodes[i], FGQ_ATTR_IPARAMS);
        CHECK(wq != NULL && gs != NULL && bq != NULL && xq != NULL && ipa != NULL && ipa->ints != NULL);
        if (wq != NULL && gs != NULL && bq != NULL && xq != NULL && ipa != NULL && ipa->ints != NULL) {
            const int64_t group = ipa->ints[FGQ_QP_W_GROUP], nalpha = ipa->ints[FGQ_QP_W_NALPHA];
            const int64_t mmax = ipa->ints[FGQ_QP_W_MMAX], ng = gs->dims[1], row_bytes = (wq->dims[1] + 3) / 4;
            CHECK(group == 4 && nalpha == 1 && ng == 2);
            const double sx = xq->q.scales[0];
            double moved = 0.0;
            for (int r = 0; r < GR; r++) {
                const double sr = wq->q.scales[r];
                double shift = 0.0;
                for (int k = 0; k < GK; k++) {
                    int32_t code = fgq_qw_code(FGQ_DT_T2, (const uint8_t *)wq->data + r * row_bytes, k);
                    int64_t mg = ((const uint8_t *)gs->data)[(r * ng + k / group) * nalpha];
                    mg = mg < mmax ? mg : mmax;
                    double wqf = (double)((float)code * (float)mg * (float)sr);
                    shift += (wqf - (double)w[r * GK + k]) * mu[k];
                }
                double want = (double)b[r] - (on ? shift : 0.0);
                if (float_tail) {
                    CHECK(bq->dtype == FGQ_DT_F32);
                    double got = bq->dtype == FGQ_DT_F32 ? (double)((const float *)bq->data)[r] : NAN;
                    CHECK_MSG(fabs(got - want) <= 1e-6 * (1.0 + fabs(want)), "row %d (%s, float): bias %g, want %g",
                              r, on ? "on" : "off", got, want);
                } else {
                    CHECK(bq->dtype == FGQ_DT_S32);
                    int32_t got = bq->dtype == FGQ_DT_S32 ? ((const int32_t *)bq->data)[r] : 0;
                    CHECK_MSG(fabs((double)got * sx * sr - want) <= 0.5 * sx * sr * (1.0 + 1e-5) + 1e-7,
                              "row %d (%s): bias %g, want %g", r, on ? "on" : "off", (double)got * sx * sr, want);
                }
                moved += fabs(shift) / (sx * sr);
            }
            CHECK(moved > 1.0); /* the correction is not vacuous here */
        }
        free(rep);
        fgq_graph_free(qg);
    }
    /* on without means (static activations): refused */
    {
        fgq_quant_config cfg;
        memset(&cfg, 0, sizeof cfg);
        CHECK(fgq_policy_parse("ternary:g4:exact", &cfg.weights, &err) == FGQ_OK);
        cfg.bias_correction = FGQ_BC_ON;
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        fgq_status st;
        fgq_error_clear(&err);
        fgq_graph *qg = quantize(g, data, &cfg, &rep, &n_rep, &st, &err);
        CHECK(st == FGQ_ERR_VALUE && qg == NULL && strstr(err.msg, "bias correction") != NULL);
        free(rep);
        fgq_graph_free(qg);
    }
    fgq_bias_correction bc;
    CHECK(fgq_bias_correction_parse("on", &bc, &err) == FGQ_OK && bc == FGQ_BC_ON);
    CHECK(fgq_bias_correction_parse("off", &bc, &err) == FGQ_OK && bc == FGQ_BC_OFF);
    CHECK(fgq_bias_correction_parse("maybe", &bc, &err) == FGQ_ERR_VALUE);
    fgq_input_means_free(&m);
    fgq_graph_free(g);
}

/* The measuring pass's sums (fgq_quant_sig_noise): the AVX2 loop against the plain one for float,
 * u8 and s8 values, lengths around the vector width, zero points on both sides. */
static void test_sig_noise_simd_matches_plain(void)
{
    enum { N = 1031 };
    float f[N], qf[N];
    uint8_t qu[N];
    int8_t qs[N];
    uint32_t r = 12345u;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        f[i] = (float)((double)(r >> 8) / 16777216.0 * 4.0 - 1.0);
        qf[i] = f[i] + (float)((double)(r & 255u) / 4096.0);
        qu[i] = (uint8_t)(r >> 3);
        qs[i] = (int8_t)(r >> 11);
    }
    const int32_t types[3] = {FGQ_DT_F32, FGQ_DT_U8, FGQ_DT_S8};
    const void *qv[3] = {qf, qu, qs};
    const int64_t lens[6] = {0, 1, 3, 4, 9, N};
    for (int t = 0; t < 3; t++)
        for (int l = 0; l < 6; l++) {
            double s1 = 0.5, n1 = 0.25, s0 = 0.5, n0 = 0.25; /* added to what is there */
            fgq_quant_sig_noise(f, types[t], qv[t], 0.0078125, t == 1 ? 131 : -3, lens[l], 1, &s1, &n1);
            fgq_quant_sig_noise(f, types[t], qv[t], 0.0078125, t == 1 ? 131 : -3, lens[l], 0, &s0, &n0);
            CHECK_NEAR(s1, s0, 1e-12 * s0);
            CHECK_NEAR(n1, n0, 1e-12 * n0);
            if (lens[l] == 0)
                CHECK(s1 == 0.5 && n1 == 0.25);
        }
}

int main(void)
{
    RUN(test_sig_noise_simd_matches_plain);
    RUN(test_model_metadata);
    RUN(test_device_image);
    RUN(test_s8_close_to_float);
    RUN(test_ternary_and_overrides);
    RUN(test_u4_and_s8_acts);
    RUN(test_dynamic_acts);
    RUN(test_bias_correction_gemm);
    RUN(test_float_output_layer);
    return FGQ_TEST_DONE();
}
