/*
 * test_passes.c — graph passes. Oracles: folded values recomputed here from
 * the formulas (BN: W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β), graph
 * structure after each pass, and runtime outputs before vs after the passes
 * (hand-built graphs and the shared real models, on random inputs); a graph
 * cut into segments (fgq_graph_segment) against the whole.
 */
#include "fgq_test.h"
#include "graph_build.h"

#include "graph.h"
#include "import/onnx_import.h"
#include "passes/passes.h"
#include "run/run_graph.h"
#include "import/shape_infer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



/* Conv → BatchNormalization folds into one Conv whose W'/b' match the formula
 * computed here in double; the runtime output before and after agrees. */
static void test_fold_bn_conv(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {2, 1, 2, 2}, cd[1] = {2}, yd[4] = {1, 2, 2, 2};
    float w[8] = {1, -1, 0.5f, 2, -0.5f, 0.25f, 1, 1}, b[2] = {0.5f, -1};
    float gam[2] = {2, 0.5f}, bet[2] = {0.1f, -0.3f}, mu[2] = {0.2f, -0.4f}, var[2] = {4, 0.25f};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, xd);
    int32_t wt = const_f32(g, "w", 4, wd, w), bt = const_f32(g, "b", 1, cd, b);
    int32_t gt = const_f32(g, "g", 1, cd, gam), bb = const_f32(g, "beta", 1, cd, bet);
    int32_t mt = const_f32(g, "mu", 1, cd, mu), vt = const_f32(g, "var", 1, cd, var);
    int32_t c = tensor(g, "c", FGQ_TK_INTERMEDIATE, 4, yd), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 4, yd);
    node(g, "conv", "Conv", 3, (int32_t[]){x, wt, bt}, c);
    int32_t bn = node(g, "bn", "BatchNormalization", 5, (int32_t[]){c, gt, bb, mt, vt}, y);
    add_attr(g, bn, "epsilon", FGQ_ATTR_FLOAT)->f = 0.01f;
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    float in[9] = {1, 2, 3, -1, 0, 1, 0.5f, 0.25f, 2}, before[8], after[8];
    fgq_graph_runner r;
    fgq_error err = {0};
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){before}, NULL, NULL, &err) == FGQ_OK);
    fgq_graph_runner_free(&r);
    CHECK_MSG(fgq_graph_optimize(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(g->n_nodes == 1 && strcmp(g->nodes[0].op_type, "Conv") == 0);
    CHECK(strcmp(g->tensors[g->nodes[0].outputs[0]].name, "y") == 0);
    CHECK(strcmp(g->tensors[g->outputs[0]].name, "y") == 0);
    const float *nw = g->tensors[g->nodes[0].inputs[1]].data, *nb = g->tensors[g->nodes[0].inputs[2]].data;
    for (int m = 0; m < 2; m++) {
        double f = gam[m] / sqrt((double)var[m] + 0.01);
        for (int k = 0; k < 4; k++)
            CHECK_NEAR(nw[m * 4 + k], w[m * 4 + k] * f, 1e-6);
        CHECK_NEAR(nb[m], (b[m] - mu[m]) * f + bet[m], 1e-6);
    }
    CHECK(g->n_tensors == 4); /* x, W', b', y: the BN params and old weights are gone */
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){after}, NULL, NULL, &err) == FGQ_OK);
    fgq_graph_runner_free(&r);
    for (int i = 0; i < 8; i++)
        CHECK_NEAR(after[i], before[i], 1e-5);
    fgq_graph_free(g);
}

/* Gemm (transB=0, beta=0.5) → BN: B' columns scaled, C' = f·(beta·C − μ) + β, beta becomes 1. */
static void test_fold_bn_gemm(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t xd[2] = {1, 2}, wd[2] = {2, 3}, cd[1] = {3}, yd[2] = {1, 3};
    float w[6] = {1, 2, 3, 4, 5, 6}, cb[3] = {1, 1, 2}, gam[3] = {1, 2, 3}, bet[3] = {0, 1, 0}, mu[3] = {1, 0, 1},
          var[3] = {1, 4, 9};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, xd), wt = const_f32(g, "w", 2, wd, w), ct = const_f32(g, "cb", 1, cd, cb);
    int32_t gt = const_f32(g, "g", 1, cd, gam), bt = const_f32(g, "bt", 1, cd, bet), mt = const_f32(g, "mu", 1, cd, mu),
            vt = const_f32(g, "v", 1, cd, var);
    int32_t h = tensor(g, "h", FGQ_TK_INTERMEDIATE, 2, yd), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, yd);
    int32_t gm = node(g, "fc", "Gemm", 3, (int32_t[]){x, wt, ct}, h);
    add_attr(g, gm, "beta", FGQ_ATTR_FLOAT)->f = 0.5f;
    int32_t bn = node(g, "bn", "BatchNormalization", 5, (int32_t[]){h, gt, bt, mt, vt}, y);
    add_attr(g, bn, "epsilon", FGQ_ATTR_FLOAT)->f = 0.0f;
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    fgq_error err = {0};
    CHECK(fgq_pass_fold_batchnorm(g, &err) == FGQ_OK);
    CHECK(g->n_nodes == 1 && fgq_node_attr_float(&g->nodes[0], "beta", 0) == 1.0f);
    const float *nw = g->tensors[g->nodes[0].inputs[1]].data, *nc = g->tensors[g->nodes[0].inputs[2]].data;
    for (int n = 0; n < 3; n++) {
        double f = gam[n] / sqrt((double)var[n]);
        for (int k = 0; k < 2; k++)
            CHECK_NEAR(nw[k * 3 + n], w[k * 3 + n] * f, 1e-6);
        CHECK_NEAR(nc[n], f * (0.5 * cb[n] - mu[n]) + bet[n], 1e-6);
    }
    fgq_graph_free(g);
}

/* Identity before a graph output: the producer is renamed to write the output;
 * Dropout in the middle: consumers read its input. */
static void test_drop_identity(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[1] = {3};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 1, d), a = tensor(g, "a", FGQ_TK_INTERMEDIATE, 1, d);
    int32_t b = tensor(g, "b", FGQ_TK_INTERMEDIATE, 1, d), c = tensor(g, "c", FGQ_TK_INTERMEDIATE, 1, d);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 1, d);
    node(g, "s", "Sigmoid", 1, (int32_t[]){x}, a);
    node(g, "drop", "Dropout", 1, (int32_t[]){a}, b);
    node(g, "t", "Tanh", 1, (int32_t[]){b}, c);
    node(g, "id", "Identity", 1, (int32_t[]){c}, y);
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    fgq_error err = {0};
    CHECK(fgq_pass_drop_identity(g, &err) == FGQ_OK);
    CHECK(g->n_nodes == 2 && strcmp(g->nodes[0].op_type, "Sigmoid") == 0 && strcmp(g->nodes[1].op_type, "Tanh") == 0);
    CHECK(g->nodes[1].inputs[0] == g->nodes[0].outputs[0]);
    CHECK(strcmp(g->tensors[g->nodes[1].outputs[0]].name, "y") == 0 && g->outputs[0] == g->nodes[1].outputs[0]);
    CHECK(g->n_tensors == 3);
    float in[3] = {-1, 0, 2}, out[3];
    fgq_graph_runner r;
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){out}, NULL, NULL, &err) == FGQ_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(out[i], tanh(1.0 / (1.0 + exp(-in[i]))), 1e-6);
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);

    /* Identity of a graph input that is itself the output: kept (lowered as a copy) */
    g = fgq_graph_new();
    x = tensor(g, "x", FGQ_TK_INPUT, 1, d);
    y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 1, d);
    node(g, "id", "Identity", 1, (int32_t[]){x}, y);
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    CHECK(fgq_pass_drop_identity(g, &err) == FGQ_OK && g->n_nodes == 1);
    fgq_graph_free(g);
}

static int32_t const_i64(fgq_graph *g, const char *name, int32_t rank, const int64_t *dims, const int64_t *v)
{
    int32_t t = tensor(g, name, FGQ_TK_CONST, rank, dims);
    g->tensors[t].dtype = FGQ_DT_S64;
    int64_t n = fgq_ir_tensor_numel(&g->tensors[t]);
    g->tensors[t].data = malloc((size_t)(n ? n : 1) * 8);
    memcpy(g->tensors[t].data, v, (size_t)n * 8);
    return t;
}

/* Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) folds to Reshape(x, [2, -1]);
 * Mul of two constants folds to their elementwise product with broadcasting. */
static void test_fold_constants(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t xd[3] = {2, 3, 4}, one[1] = {1}, sd[1] = {3}, ud[1] = {1}, cd[1] = {2}, yd[2] = {2, 12};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 3, xd);
    int32_t s = tensor(g, "s", FGQ_TK_INTERMEDIATE, 1, sd), s0 = tensor(g, "s0", FGQ_TK_INTERMEDIATE, 0, NULL);
    int32_t u = tensor(g, "u", FGQ_TK_INTERMEDIATE, 1, ud), c = tensor(g, "c", FGQ_TK_INTERMEDIATE, 1, cd);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, yd);
    int64_t zero = 0, m1 = -1;
    int32_t idx = const_i64(g, "idx", 0, NULL, &zero), ax = const_i64(g, "ax", 1, one, &zero);
    int32_t neg = const_i64(g, "neg", 1, one, &m1);
    g->tensors[s].dtype = g->tensors[s0].dtype = g->tensors[u].dtype = g->tensors[c].dtype = FGQ_DT_S64;
    node(g, "shape", "Shape", 1, (int32_t[]){x}, s);
    node(g, "gather", "Gather", 2, (int32_t[]){s, idx}, s0);
    node(g, "unsq", "Unsqueeze", 2, (int32_t[]){s0, ax}, u);
    int32_t cc = node(g, "concat", "Concat", 2, (int32_t[]){u, neg}, c);
    add_attr(g, cc, "axis", FGQ_ATTR_INT)->i = 0;
    node(g, "reshape", "Reshape", 2, (int32_t[]){x, c}, y);
    /* a constant product that is also a graph output */
    int64_t ad[2] = {2, 1}, bd[1] = {3}, pd[2] = {2, 3};
    float av[2] = {2, -1}, bv[3] = {1, 2, 3};
    int32_t at = const_f32(g, "a", 2, ad, av), bt = const_f32(g, "bv", 1, bd, bv);
    int32_t p = tensor(g, "p", FGQ_TK_INTERMEDIATE, 2, pd);
    node(g, "mul", "Mul", 2, (int32_t[]){at, bt}, p);
    set_io(g, 1, (int32_t[]){x}, 2, (int32_t[]){y, p});
    fgq_error err = {0};
    CHECK_MSG(fgq_pass_fold_constants(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(g->n_nodes == 1 && strcmp(g->nodes[0].op_type, "Reshape") == 0);
    const fgq_ir_tensor *shp = &g->tensors[g->nodes[0].inputs[1]];
    CHECK(shp->kind == FGQ_TK_CONST && shp->dtype == FGQ_DT_S64 && shp->rank == 1 && shp->dims[0] == 2);
    if (shp->data != NULL && shp->dims[0] == 2)
        CHECK(((int64_t *)shp->data)[0] == 2 && ((int64_t *)shp->data)[1] == -1);
    const fgq_ir_tensor *pt = &g->tensors[g->outputs[1]];
    CHECK(pt->kind == FGQ_TK_CONST && pt->rank == 2 && pt->dims[0] == 2 && pt->dims[1] == 3);
    const float pref[6] = {2, 4, 6, -1, -2, -3}; /* a[i] * b[j] */
    for (int i = 0; i < 6 && pt->data != NULL; i++)
        CHECK_NEAR(((float *)pt->data)[i], pref[i], 0);
    /* and it still runs: reshape copies, the constant output comes out */
    float in[24], o0[24], o1[6];
    for (int i = 0; i < 24; i++)
        in[i] = (float)i;
    fgq_graph_runner r;
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){o0, o1}, NULL, NULL, &err) == FGQ_OK);
    for (int i = 0; i < 24; i++)
        CHECK_NEAR(o0[i], in[i], 0);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(o1[i], pref[i], 0);
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);
}

/* ConstantOfShape folds to its value everywhere (filled by doubling copies): an odd count of f32 2.5,
 * an s64 7 over 2^20 + 3 elements, no value (0.0f) and an empty shape with a 0 dim. */
static void test_fold_constant_of_shape(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t three = 3, two = 2, one = 1;
    int64_t s1[3] = {3, 5, 7}, s2[1] = {(1 << 20) + 3}, s3[2] = {0, 4}, s4[2] = {2, 3};
    int32_t sh1 = const_i64(g, "sh1", 1, &three, s1), sh2 = const_i64(g, "sh2", 1, &one, s2);
    int32_t sh3 = const_i64(g, "sh3", 1, &two, s3), sh4 = const_i64(g, "sh4", 1, &two, s4);
    float v25 = 2.5f;
    int64_t v7 = 7;
    int32_t val1 = const_f32(g, "v1", 0, NULL, &v25), val2 = const_i64(g, "v2", 0, NULL, &v7);
    int32_t y1 = tensor(g, "y1", FGQ_TK_INTERMEDIATE, 3, s1), y2 = tensor(g, "y2", FGQ_TK_INTERMEDIATE, 1, s2);
    int32_t y3 = tensor(g, "y3", FGQ_TK_INTERMEDIATE, 2, s3), y4 = tensor(g, "y4", FGQ_TK_INTERMEDIATE, 2, s4);
    g->tensors[y2].dtype = FGQ_DT_S64;
    int32_t n1 = node(g, "c1", "ConstantOfShape", 1, (int32_t[]){sh1}, y1);
    add_attr(g, n1, "value", FGQ_ATTR_TENSOR)->tensor = val1;
    int32_t n2 = node(g, "c2", "ConstantOfShape", 1, (int32_t[]){sh2}, y2);
    add_attr(g, n2, "value", FGQ_ATTR_TENSOR)->tensor = val2;
    node(g, "c3", "ConstantOfShape", 1, (int32_t[]){sh3}, y3);
    node(g, "c4", "ConstantOfShape", 1, (int32_t[]){sh4}, y4);
    set_io(g, 0, (int32_t[]){0}, 4, (int32_t[]){y1, y2, y3, y4});
    fgq_error err = {0};
    CHECK_MSG(fgq_pass_fold_constants(g, &err) == FGQ_OK, "%s", err.msg);
    const fgq_ir_tensor *t1 = &g->tensors[g->outputs[0]], *t2 = &g->tensors[g->outputs[1]];
    const fgq_ir_tensor *t3 = &g->tensors[g->outputs[2]], *t4 = &g->tensors[g->outputs[3]];
    CHECK(t1->kind == FGQ_TK_CONST && t1->dtype == FGQ_DT_F32 && t1->data != NULL);
    CHECK(t2->kind == FGQ_TK_CONST && t2->dtype == FGQ_DT_S64 && t2->data != NULL);
    CHECK(t3->kind == FGQ_TK_CONST && fgq_ir_tensor_numel(t3) == 0);
    CHECK(t4->kind == FGQ_TK_CONST && t4->dtype == FGQ_DT_F32 && t4->data != NULL);
    int64_t bad = 0;
    for (int64_t i = 0; t1->data != NULL && i < 105; i++)
        bad += ((const float *)t1->data)[i] != 2.5f;
    for (int64_t i = 0; t2->data != NULL && i < s2[0]; i++)
        bad += ((const int64_t *)t2->data)[i] != 7;
    for (int64_t i = 0; t4->data != NULL && i < 6; i++)
        bad += ((const float *)t4->data)[i] != 0.0f;
    CHECK_MSG(bad == 0, "%lld folded elements differ from the value", (long long)bad);
    fgq_graph_free(g);
}

/* Range, Mod, ScatterND and an int64 Transpose on constants fold (Swin-T's shifted-window mask and
 * pads). Oracle: ONNX's definitions written out: Range(10, 1, -3) = [10, 7, 4], Range(5, 5, 1) = [],
 * Range(1.0, 5.0, 2.0) = [1, 3]; Python's -7 % 3 = 2 and 7 % -3 = -2; ScatterND of [5, 6] at [[-1], [0]]
 * into zeros [4] = [6, 0, 0, 5]; [[0, 1, 2], [3, 4, 5]] transposed. A Range with delta 0 and a ScatterND
 * index outside its dim are the model's errors, named with the node. */
static void test_fold_range_mod_scatter(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 17;
    int64_t s10 = 10, s1 = 1, sm3 = -3, s5 = 5, one[1] = {1}, two[1] = {2}, four[1] = {4}, d23[2] = {2, 3};
    int64_t d21[2] = {2, 1}, d32[2] = {3, 2};
    float f1 = 1, f5 = 5, f2 = 2, zeros[4] = {0}, upd[2] = {5, 6};
    int32_t r1 = tensor(g, "r1", FGQ_TK_INTERMEDIATE, 1, one), r2 = tensor(g, "r2", FGQ_TK_INTERMEDIATE, 1, one);
    int32_t r3 = tensor(g, "r3", FGQ_TK_INTERMEDIATE, 1, one), m = tensor(g, "m", FGQ_TK_INTERMEDIATE, 1, two);
    int32_t sc = tensor(g, "sc", FGQ_TK_INTERMEDIATE, 1, four), tr = tensor(g, "tr", FGQ_TK_INTERMEDIATE, 2, d32);
    g->tensors[r1].dtype = g->tensors[r2].dtype = g->tensors[m].dtype = g->tensors[tr].dtype = FGQ_DT_S64;
    node(g, "range1", "Range", 3,
         (int32_t[]){const_i64(g, "a", 0, NULL, &s10), const_i64(g, "b", 0, NULL, &s1),
                     const_i64(g, "c", 0, NULL, &sm3)},
         r1);
    node(g, "range2", "Range", 3,
         (int32_t[]){const_i64(g, "d", 0, NULL, &s5), const_i64(g, "e", 0, NULL, &s5), const_i64(g, "f", 0, NULL, &s1)},
         r2);
    node(g, "range3", "Range", 3,
         (int32_t[]){const_f32(g, "g", 0, NULL, &f1), const_f32(g, "h", 0, NULL, &f5), const_f32(g, "i", 0, NULL, &f2)},
         r3);
    const int64_t ma[2] = {-7, 7}, mb[2] = {3, -3};
    node(g, "mod", "Mod", 2, (int32_t[]){const_i64(g, "ma", 1, two, ma), const_i64(g, "mb", 1, two, mb)}, m);
    const int64_t ix[2] = {-1, 0};
    node(g, "scatter", "ScatterND", 3,
         (int32_t[]){const_f32(g, "zeros", 1, four, zeros), const_i64(g, "ix", 2, d21, ix),
                     const_f32(g, "upd", 1, two, upd)},
         sc);
    const int64_t tv[6] = {0, 1, 2, 3, 4, 5};
    int32_t tn = node(g, "transpose", "Transpose", 1, (int32_t[]){const_i64(g, "tv", 2, d23, tv)}, tr);
    attr_ints(g, tn, "perm", 2, (int64_t[]){1, 0});
    set_io(g, 0, (int32_t[]){0}, 6, (int32_t[]){r1, r2, r3, m, sc, tr});
    fgq_error err = {0};
    CHECK_MSG(fgq_pass_fold_constants(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(g->n_nodes == 0);
    const fgq_ir_tensor *o[6];
    for (int k = 0; k < 6; k++) {
        o[k] = &g->tensors[g->outputs[k]];
        CHECK(o[k]->kind == FGQ_TK_CONST);
    }
    const int64_t *v1 = o[0]->data, *vm = o[3]->data, *vt = o[5]->data;
    const float *v3 = o[2]->data, *vs = o[4]->data;
    CHECK(o[0]->dtype == FGQ_DT_S64 && o[0]->rank == 1 && o[0]->dims[0] == 3 && v1[0] == 10 && v1[1] == 7 &&
          v1[2] == 4);
    CHECK(o[1]->rank == 1 && o[1]->dims[0] == 0);
    CHECK(o[2]->dtype == FGQ_DT_F32 && o[2]->dims[0] == 2 && v3[0] == 1.0f && v3[1] == 3.0f);
    CHECK(vm[0] == 2 && vm[1] == -2);
    CHECK(vs[0] == 6.0f && vs[1] == 0.0f && vs[2] == 0.0f && vs[3] == 5.0f);
    CHECK(o[5]->rank == 2 && o[5]->dims[0] == 3 && o[5]->dims[1] == 2);
    const int64_t want_t[6] = {0, 3, 1, 4, 2, 5};
    CHECK(memcmp(vt, want_t, sizeof want_t) == 0);
    fgq_graph_free(g);

    /* delta 0; an index past the end */
    for (int c = 0; c < 2; c++) {
        g = fgq_graph_new();
        g->opset = 17;
        int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 1, four);
        const int64_t s0 = 0, bad[2] = {4, 0};
        if (c == 0) {
            g->tensors[y].dtype = FGQ_DT_S64;
            node(g, "bad_range", "Range", 3,
                 (int32_t[]){const_i64(g, "a", 0, NULL, &s1), const_i64(g, "b", 0, NULL, &s5),
                             const_i64(g, "c", 0, NULL, &s0)},
                 y);
        } else {
            node(g, "bad_scatter", "ScatterND", 3,
                 (int32_t[]){const_f32(g, "zeros", 1, four, zeros), const_i64(g, "ix", 2, d21, bad),
                             const_f32(g, "upd", 1, two, upd)},
                 y);
        }
        set_io(g, 0, (int32_t[]){0}, 1, &y);
        fgq_error_clear(&err);
        const fgq_status st = fgq_pass_fold_constants(g, &err);
        CHECK_MSG(st == FGQ_ERR_VALUE, "status %d: %s", (int)st, err.msg);
        CHECK_MSG(strstr(err.msg, c == 0 ? "'bad_range'" : "'bad_scatter'") != NULL &&
                      strstr(err.msg, c == 0 ? "delta is 0" : "index 4") != NULL,
                  "%s", err.msg);
        fgq_graph_free(g);
    }
}

/* Conv → Clip(0, 6) (opset 13, constant inputs) → Relu: both fuse into the Conv as clip [0, 6]. */
static void test_fuse_clip_relu(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t xd[4] = {1, 1, 1, 3}, wd[4] = {1, 1, 1, 1}, yd[4] = {1, 1, 1, 3};
    float wv = 4.0f, lo = -1.0f, hi = 6.0f;
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, xd), wt = const_f32(g, "w", 4, wd, &wv);
    int32_t lt = const_f32(g, "lo", 0, NULL, &lo), ht = const_f32(g, "hi", 0, NULL, &hi);
    int32_t c = tensor(g, "c", FGQ_TK_INTERMEDIATE, 4, yd), k = tensor(g, "k", FGQ_TK_INTERMEDIATE, 4, yd);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 4, yd);
    node(g, "conv", "Conv", 2, (int32_t[]){x, wt}, c);
    node(g, "clip", "Clip", 3, (int32_t[]){c, lt, ht}, k);
    node(g, "relu", "Relu", 1, (int32_t[]){k}, y);
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    fgq_error err = {0};
    CHECK(fgq_pass_fuse_activations(g, &err) == FGQ_OK);
    CHECK(g->n_nodes == 1);
    CHECK(fgq_node_attr_int(&g->nodes[0], FGQ_ATTR_ACT, 0) == 2);
    CHECK(fgq_node_attr_float(&g->nodes[0], FGQ_ATTR_ACT_MIN, -1) == 0.0f);
    CHECK(fgq_node_attr_float(&g->nodes[0], FGQ_ATTR_ACT_MAX, -1) == 6.0f);
    float in[3] = {-1, 0.5f, 3}, out[3], ref[3] = {0, 2, 6}; /* clamp(4x, 0, 6) */
    fgq_graph_runner r;
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){out}, NULL, NULL, &err) == FGQ_OK);
    for (int i = 0; i < 3; i++)
        CHECK_NEAR(out[i], ref[i], 0);
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);
}

/* A producer whose output has a second reader is not fused into. */
static void test_no_fuse_shared(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[2] = {1, 2};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, d), a = tensor(g, "a", FGQ_TK_INTERMEDIATE, 2, d);
    int32_t r1 = tensor(g, "r", FGQ_TK_INTERMEDIATE, 2, d), s = tensor(g, "s", FGQ_TK_INTERMEDIATE, 2, d);
    node(g, "add", "Add", 2, (int32_t[]){x, x}, a);
    node(g, "relu", "Relu", 1, (int32_t[]){a}, r1);
    node(g, "sig", "Sigmoid", 1, (int32_t[]){a}, s);
    set_io(g, 1, (int32_t[]){x}, 2, (int32_t[]){r1, s});
    fgq_error err = {0};
    CHECK(fgq_graph_optimize(g, &err) == FGQ_OK && g->n_nodes == 3);
    CHECK(fgq_node_attr(&g->nodes[0], FGQ_ATTR_ACT) == NULL);
    fgq_graph_free(g);
}

/* Real models: float outputs before and after the passes agree on random inputs. */
static void compare_model(const char *path)
{
    if (access(path, R_OK) != 0)
        return;
    fgq_graph *g = NULL;
    fgq_error err = {0};
    /* Constant nodes have no runtime op, so "before" is the graph with only
     * constants folded; "after" adds identity removal, BN folding and fusion. */
    if (fgq_onnx_load(path, NULL, &g, &err) != FGQ_OK || fgq_infer_shapes(g, &err) != FGQ_OK ||
        fgq_pass_fold_constants(g, &err) != FGQ_OK) {
        CHECK_MSG(0, "%s: %s", path, err.msg);
        fgq_graph_free(g);
        return;
    }
    float *in[8] = {0}, *before[8] = {0}, *after[8] = {0};
    int64_t out_n[8] = {0};
    int ok = g->n_inputs <= 8 && g->n_outputs <= 8;
    uint32_t seed = 12345;
    for (int32_t i = 0; ok && i < g->n_inputs; i++) {
        int64_t n = fgq_ir_tensor_numel(&g->tensors[g->inputs[i]]);
        in[i] = malloc((size_t)n * 4);
        for (int64_t k = 0; k < n; k++) {
            seed = seed * 1664525u + 1013904223u;
            in[i][k] = (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
        }
    }
    for (int32_t i = 0; ok && i < g->n_outputs; i++) {
        out_n[i] = fgq_ir_tensor_numel(&g->tensors[g->outputs[i]]);
        before[i] = malloc((size_t)out_n[i] * 4);
        after[i] = malloc((size_t)out_n[i] * 4);
    }
    int32_t nodes_before = g->n_nodes;
    fgq_graph_runner r;
    CHECK_MSG(ok && fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s: %s", path, err.msg);
    if (err.status == FGQ_OK) {
        CHECK_MSG(fgq_graph_runner_run(&r, (const float *const *)in, before, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
        fgq_graph_runner_free(&r);
    }
    CHECK_MSG(fgq_graph_optimize(g, &err) == FGQ_OK, "%s: %s", path, err.msg);
    CHECK_MSG(g->n_nodes < nodes_before, "%s: %d nodes before, %d after", path, (int)nodes_before, (int)g->n_nodes);
    CHECK_MSG(err.status == FGQ_OK && fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s: %s", path, err.msg);
    if (err.status == FGQ_OK) {
        CHECK_MSG(fgq_graph_runner_run(&r, (const float *const *)in, after, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
        fgq_graph_runner_free(&r);
        double maxdiff = 0, maxabs = 0;
        for (int32_t i = 0; i < g->n_outputs; i++)
            for (int64_t k = 0; k < out_n[i]; k++) {
                double dd = fabs((double)before[i][k] - after[i][k]);
                maxdiff = dd > maxdiff ? dd : maxdiff;
                maxabs = fabs(before[i][k]) > maxabs ? fabs(before[i][k]) : maxabs;
            }
        CHECK_MSG(maxdiff <= 1e-4 * (1 + maxabs), "%s: max diff %g (max |y| %g)", path, maxdiff, maxabs);
    }
    for (int i = 0; i < 8; i++) {
        free(in[i]);
        free(before[i]);
        free(after[i]);
    }
    fgq_graph_free(g);
}

static void test_real_models(void)
{
    /* FGQ_SHARED as in the Python tests; else ../shared beside the checkout (tests run in the source dir) */
    const char *shared = getenv("FGQ_SHARED");
    const char *models[] = {"mnist-8/model.onnx", "tiny-v0.7/model_ic.onnx", "tiny-v0.7/model_kws.onnx",
                            "tiny-v0.7/model_ad.onnx"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/models/%s", shared != NULL ? shared : "../shared", models[i]);
        if (access(path, R_OK) != 0)
            fprintf(stderr, "skip   %s (not found; set FGQ_SHARED)\n", path);
        compare_model(path);
    }
}

/* fgq_graph_segment: a graph cut in two runs like the whole (the same
 * kernels on the same values: bit-identical), its inputs and outputs are the
 * activations live across the cut, and `data` replaces a constant. Graph:
 * a = Sigmoid(x), b = Tanh(a), c = a + b, y = c * w (w constant), with a
 * also a graph output. */
static void test_graph_segment(void)
{
    float w[4] = {1, -2, 0.5f, 3}, w2[4] = {2, 2, 2, 2};
    int32_t t[6];
    fgq_graph *g = skip_graph(w, 1, t);
    const int32_t wt = t[4];
    float in[4] = {-1, 0, 0.5f, 2}, whole_y[4], whole_a[4], s_a[4], s_b[4], s_y[4];
    fgq_graph_runner r;
    fgq_error err = {0};
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){whole_y, whole_a}, NULL, NULL, &err) ==
          FGQ_OK);
    fgq_graph_runner_free(&r);
    /* nodes 0..1: reads x, leaves a (read by add, and a graph output) and b */
    fgq_graph *s0 = fgq_graph_segment(g, 0, 1, NULL);
    CHECK(s0 != NULL && s0->n_nodes == 2 && s0->n_inputs == 1 && s0->n_outputs == 2);
    CHECK(strcmp(s0->tensors[s0->inputs[0]].name, "x") == 0 && strcmp(s0->tensors[s0->outputs[0]].name, "a") == 0 &&
          strcmp(s0->tensors[s0->outputs[1]].name, "b") == 0);
    CHECK_MSG(fgq_graph_runner_init(&r, s0, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){s_a, s_b}, NULL, NULL, &err) == FGQ_OK);
    fgq_graph_runner_free(&r);
    /* nodes 2..3: reads a and b, leaves y; the constant copied */
    fgq_graph *s1 = fgq_graph_segment(g, 2, 3, NULL);
    CHECK(s1 != NULL && s1->n_nodes == 2 && s1->n_inputs == 2 && s1->n_outputs == 1);
    CHECK_MSG(fgq_graph_runner_init(&r, s1, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){s_a, s_b}, (float *const[]){s_y}, NULL, NULL, &err) == FGQ_OK);
    fgq_graph_runner_free(&r);
    CHECK(memcmp(s_a, whole_a, sizeof s_a) == 0 && memcmp(s_y, whole_y, sizeof s_y) == 0);
    /* the same tail with w replaced through data */
    const void **data = calloc((size_t)g->n_tensors, sizeof *data);
    CHECK(data != NULL);
    data[wt] = w2;
    fgq_graph *s2 = fgq_graph_segment(g, 2, 3, data);
    CHECK(s2 != NULL);
    CHECK_MSG(fgq_graph_runner_init(&r, s2, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_graph_runner_run(&r, (const float *const[]){s_a, s_b}, (float *const[]){s_y}, NULL, NULL, &err) == FGQ_OK);
    fgq_graph_runner_free(&r);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(s_y[i], whole_y[i] / w[i] * 2.0f, 1e-5);
    CHECK(fgq_graph_segment(g, 2, 1, NULL) == NULL && fgq_graph_segment(g, 0, 4, NULL) == NULL);
    free(data);
    fgq_graph_free(s0);
    fgq_graph_free(s1);
    fgq_graph_free(s2);
    fgq_graph_free(g);
}

int main(void)
{
    RUN(test_fold_bn_conv);
    RUN(test_fold_bn_gemm);
    RUN(test_drop_identity);
    RUN(test_fold_constants);
    RUN(test_fold_constant_of_shape);
    RUN(test_fold_range_mod_scatter);
    RUN(test_fuse_clip_relu);
    RUN(test_no_fuse_shared);
    RUN(test_graph_segment);
    RUN(test_real_models);
    return FGQ_TEST_DONE();
}
