/*
 * test_writer.c — hand-built graphs go through the writer, fgq_model_load and
 * fgq_model_run (via the graph runner); outputs are checked against values
 * computed independently here, by direct loops over the same data.
 */
#include "fgq_test.h"
#include "graph_build.h"

#include "fgq_format.h"
#include "fgq_runtime.h"
#include "export/fgq_writer.h"
#include "graph.h"
#include "lower/lower.h"
#include "passes/passes.h"
#include "run/run_graph.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Gemm + Relu into Softmax: y = softmax(relu(x·Wᵀ + b)) computed by hand. */
static void test_gemm_relu_softmax(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t xd[2] = {2, 3}, wd[2] = {4, 3}, bd[1] = {4}, yd[2] = {2, 4};
    float w[12] = {0.5f, -1, 2, 1, 1, 1, -0.25f, 0.5f, 0, 3, -2, 1}, b[4] = {0.1f, -0.2f, 0.3f, 0};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, xd);
    int32_t wt = const_f32(g, "w", 2, wd, w), bt = const_f32(g, "b", 1, bd, b);
    int32_t h = tensor(g, "h", FGQ_TK_INTERMEDIATE, 2, yd), rl = tensor(g, "r", FGQ_TK_INTERMEDIATE, 2, yd);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, yd);
    /* an unused constant must not be written */
    const_f32(g, "unused", 1, bd, b);
    int32_t gi = node(g, "fc", "Gemm", 3, (int32_t[]){x, wt, bt}, h);
    add_attr(g, gi, "transB", FGQ_ATTR_INT)->i = 1;
    node(g, "relu", "Relu", 1, (int32_t[]){h}, rl);
    node(g, "sm", "Softmax", 1, (int32_t[]){rl}, y);
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});

    float in[6] = {1, 2, 3, -1, 0.5f, 2}, out[8] = {0}, ref[8];
    for (int m = 0; m < 2; m++) {
        double z[4], mx = -1e30, s = 0;
        for (int n = 0; n < 4; n++) {
            z[n] = b[n];
            for (int k = 0; k < 3; k++)
                z[n] += in[m * 3 + k] * w[n * 3 + k];
            z[n] = z[n] > 0 ? z[n] : 0;
            mx = z[n] > mx ? z[n] : mx;
        }
        for (int n = 0; n < 4; n++)
            s += exp(z[n] - mx);
        for (int n = 0; n < 4; n++)
            ref[m * 4 + n] = (float)(exp(z[n] - mx) / s);
    }
    fgq_error err = {0};
    uint8_t *buf;
    uint64_t size;
    CHECK_MSG(fgq_write_model(g, &buf, &size, &err) == FGQ_OK, "%s", err.msg);
    if (err.status == FGQ_OK) {
        fgq_file_header hd;
        fgq_file_header_decode(buf, &hd);
        CHECK(memcmp(hd.magic, FGQ_FILE_MAGIC, 8) == 0);
        CHECK(hd.file_size == size && size % 64 == 0 && (uintptr_t)buf % 64 == 0);
        CHECK(hd.checksum == fgq_fnv1a32(buf + 128, size - 128));
        CHECK(hd.n_nodes == 3);
        CHECK_MSG(hd.n_tensors == 6, "n_tensors %u (unused const must be dropped)", hd.n_tensors);
        free(buf);
    }
    fgq_graph_runner r;
    fgq_error_clear(&err);
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    if (err.status == FGQ_OK) {
        CHECK_MSG(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){out}, NULL, NULL, &err) == FGQ_OK,
                  "%s", err.msg);
        for (int i = 0; i < 8; i++)
            CHECK_NEAR(out[i], ref[i], 1e-5);
    }
    fgq_graph_runner_free(&r);

    /* after fusion the same graph has two nodes and gives the same numbers */
    CHECK_MSG(fgq_graph_optimize(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(g->n_nodes == 2);
    CHECK(fgq_graph_runner_init(&r, g, &err) == FGQ_OK);
    if (err.status == FGQ_OK) {
        memset(out, 0, sizeof out);
        CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){out}, NULL, NULL, &err) == FGQ_OK);
        for (int i = 0; i < 8; i++)
            CHECK_NEAR(out[i], ref[i], 1e-5);
    }
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);
}

/* Conv 2-D with auto_pad SAME_UPPER, stride 2: direct loop reference with the
 * pads ONNX defines (total = (out-1)*s + k - in, extra pixel at the end). */
static void test_conv_same_upper(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    int64_t xd[4] = {1, 1, 5, 5}, wd[4] = {2, 1, 3, 3}, yd[4] = {1, 2, 3, 3};
    float w[18], in[25], out[18], ref[18];
    for (int i = 0; i < 18; i++)
        w[i] = (float)((i * 7) % 5) - 2.0f;
    for (int i = 0; i < 25; i++)
        in[i] = (float)i * 0.1f - 1.0f;
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, xd), wt = const_f32(g, "w", 4, wd, w);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 4, yd);
    int32_t c = node(g, "conv", "Conv", 2, (int32_t[]){x, wt}, y);
    fgq_ir_attr *a = add_attr(g, c, "auto_pad", FGQ_ATTR_STRING);
    a->s = sdup("SAME_UPPER");
    attr_ints(g, c, "strides", 2, (int64_t[]){2, 2});
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    /* in 5, stride 2 → out 3; total pad = 2*2 + 3 - 5 = 2 → begin 1, end 1 */
    for (int m = 0; m < 2; m++)
        for (int oh = 0; oh < 3; oh++)
            for (int ow = 0; ow < 3; ow++) {
                float s = 0;
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) {
                        int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                        if (ih >= 0 && ih < 5 && iw >= 0 && iw < 5)
                            s += in[ih * 5 + iw] * w[m * 9 + kh * 3 + kw];
                    }
                ref[(m * 3 + oh) * 3 + ow] = s;
            }
    fgq_lowered_node l;
    fgq_error err = {0};
    CHECK(fgq_lower_node(g, 0, &l, &err) == FGQ_OK);
    CHECK(l.op == FGQ_OP_CONV && l.iparams[FGQ_P_PAD_BEGIN] == 1 && l.iparams[FGQ_P_PAD_END] == 1 &&
          l.iparams[FGQ_P_KERNEL] == 3 && l.iparams[FGQ_P_STRIDE + 1] == 2 && l.iparams[FGQ_P_GROUP] == 1);
    fgq_graph_runner r;
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    if (err.status == FGQ_OK) {
        CHECK_MSG(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){out}, NULL, NULL, &err) == FGQ_OK,
                  "%s", err.msg);
        for (int i = 0; i < 18; i++)
            CHECK_NEAR(out[i], ref[i], 1e-5);
    }
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);
}

/* SAME_LOWER puts the odd pad at the beginning: in 4, k 2, s 1 → total 1 → begin 1, end 0. */
static void test_same_lower_pads(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t xd[3] = {1, 1, 4}, yd[3] = {1, 1, 4};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 3, xd), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 3, yd);
    int32_t p = node(g, "pool", "MaxPool", 1, (int32_t[]){x}, y);
    attr_ints(g, p, "kernel_shape", 1, (int64_t[]){2});
    add_attr(g, p, "auto_pad", FGQ_ATTR_STRING)->s = sdup("SAME_LOWER");
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    fgq_lowered_node l;
    fgq_error err = {0};
    CHECK(fgq_lower_node(g, 0, &l, &err) == FGQ_OK);
    CHECK(l.op == FGQ_OP_MAXPOOL && l.iparams[FGQ_P_NSPATIAL] == 1 && l.iparams[FGQ_P_PAD_BEGIN] == 1 &&
          l.iparams[FGQ_P_PAD_END] == 0);
    fgq_graph_runner r;
    float in[4] = {3, 1, 4, 1}, out[4], ref[4] = {3, 3, 4, 4}; /* windows [pad,3] [3,1] [1,4] [4,1] */
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    if (err.status == FGQ_OK) {
        CHECK(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){out}, NULL, NULL, &err) == FGQ_OK);
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(out[i], ref[i], 0);
    }
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);
}

/* Graph outputs that are a constant and a graph input, plus a Transpose with the default perm. */
static void test_const_and_input_outputs(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t xd[2] = {2, 3}, td[2] = {3, 2}, cd[1] = {2};
    float cv[2] = {7, -7};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, xd), c = const_f32(g, "c", 1, cd, cv);
    int32_t t = tensor(g, "t", FGQ_TK_INTERMEDIATE, 2, td);
    node(g, "tr", "Transpose", 1, (int32_t[]){x}, t);
    set_io(g, 1, (int32_t[]){x}, 3, (int32_t[]){t, c, x});
    float in[6] = {1, 2, 3, 4, 5, 6}, o0[6], o1[2], o2[6];
    fgq_graph_runner r;
    fgq_error err = {0};
    CHECK_MSG(fgq_graph_runner_init(&r, g, &err) == FGQ_OK, "%s", err.msg);
    if (err.status == FGQ_OK) {
        CHECK_MSG(fgq_graph_runner_run(&r, (const float *const[]){in}, (float *const[]){o0, o1, o2}, NULL, NULL, &err) ==
                      FGQ_OK, "%s", err.msg);
        const float tref[6] = {1, 4, 2, 5, 3, 6}; /* transpose of [[1,2,3],[4,5,6]] */
        for (int i = 0; i < 6; i++) {
            CHECK_NEAR(o0[i], tref[i], 0);
            CHECK_NEAR(o2[i], in[i], 0);
        }
        CHECK_NEAR(o1[0], 7, 0);
        CHECK_NEAR(o1[1], -7, 0);
    }
    fgq_graph_runner_free(&r);
    fgq_graph_free(g);
}

/* An op without a lowering is FGQ_ERR_UNSUPPORTED naming node and op; fgq_lower_supports agrees. */
static void test_unsupported(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[1] = {4};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 1, d), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 1, d);
    int32_t n = node(g, "my_lrn", "LRN", 1, (int32_t[]){x}, y);
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    uint8_t *buf = NULL;
    uint64_t size;
    fgq_error err = {0};
    CHECK(fgq_write_model(g, &buf, &size, &err) == FGQ_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "my_lrn") && strstr(err.msg, "LRN"), "%s", err.msg);
    CHECK(buf == NULL);
    char why[256];
    CHECK(fgq_lower_supports(&g->nodes[n], why, sizeof why) == 0 && strstr(why, "LRN") != NULL);
    free(g->nodes[n].op_type);
    g->nodes[n].op_type = sdup("MaxPool");
    attr_ints(g, n, "kernel_shape", 1, (int64_t[]){1});
    add_attr(g, n, "storage_order", FGQ_ATTR_INT)->i = 1;
    CHECK(fgq_lower_supports(&g->nodes[n], why, sizeof why) == 0 && strstr(why, "storage_order") != NULL);
    free(g->nodes[n].op_type);
    g->nodes[n].op_type = sdup("Relu");
    CHECK(fgq_lower_supports(&g->nodes[n], why, sizeof why) == 1);
    fgq_graph_free(g);
}

/* The file written atomically loads back bit-identical to the in-memory bytes. */
static void test_write_file(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[1] = {3};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 1, d), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 1, d);
    int32_t c = node(g, "clip", "Clip", 1, (int32_t[]){x}, y);
    (void)c;
    set_io(g, 1, (int32_t[]){x}, 1, (int32_t[]){y});
    char dir[] = "/tmp/fgq_writer_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/m.fgq", dir);
    fgq_error err = {0};
    CHECK_MSG(fgq_write_model_file(g, path, &err) == FGQ_OK, "%s", err.msg);
    uint8_t *buf;
    uint64_t size;
    CHECK(fgq_write_model(g, &buf, &size, &err) == FGQ_OK);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f != NULL) {
        uint8_t *disk = malloc((size_t)size + 1);
        CHECK(fread(disk, 1, (size_t)size + 1, f) == size);
        CHECK(memcmp(disk, buf, (size_t)size) == 0);
        free(disk);
        fclose(f);
    }
    free(buf);
    /* Clip without bounds is the identity: ±INFINITY */
    fgq_lowered_node l;
    CHECK(fgq_lower_node(g, 0, &l, &err) == FGQ_OK && isinf(l.fparams[0]) && l.fparams[0] < 0 && isinf(l.fparams[1]));
    unlink(path);
    rmdir(dir);
    fgq_graph_free(g);
}

int main(void)
{
    RUN(test_gemm_relu_softmax);
    RUN(test_conv_same_upper);
    RUN(test_same_lower_pads);
    RUN(test_const_and_input_outputs);
    RUN(test_unsupported);
    RUN(test_write_file);
    return FGQ_TEST_DONE();
}
