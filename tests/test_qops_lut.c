/*
 * test_qops_lut.c — QLUT (runtime/ops/qlut.c): y = TABLE[x] (x + 128 for s8 X).
 * Oracle: a direct read of the table written here, for u8 and s8 inputs and outputs, random tables
 * and inputs of several shapes plus every index (0..255, −128..127) and the edges in a row; then
 * check() against bad tables (length, rank, dtype), bad dtypes, bad descriptive params and a
 * wrong output shape, each refused naming the node; and one QLUT node through the writer, the
 * loader (whose check refuses a 255-entry table) and fgq_model_run.
 */
#include "test_ops_common.h"

#include "export/fgq_writer.h"
#include "fgq_runtime.h"
#include "graph_build.h"
#include "lower/lower.h"

#include <stdlib.h>

static uint32_t rng = 0x2545f491u;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static fgq_tensor_view qview(void *data, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

/* One case: X of dims (n values in x), random table; returns mismatches. */
static int run_case(fgq_dtype xdt, fgq_dtype ydt, int32_t rank, const int64_t *dims, const uint8_t *x)
{
    uint8_t table[256], y[4096];
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++)
        n *= dims[i];
    for (int i = 0; i < 256; i++)
        table[i] = (uint8_t)rnd();
    const int64_t td[1] = {256};
    fgq_tensor_view xv = qview((void *)x, xdt, rank, dims), tv = qview(table, ydt, 1, td),
                    yv = qview(y, ydt, rank, dims);
    const fgq_tensor_view *in[2] = {&xv, &tv};
    tnode nd;
    tnode_init(&nd, FGQ_OP_QLUT, 2);
    nd.ip[FGQ_QP_LUT_FN] = FGQ_LUT_SIGMOID;
    nd.ip[FGQ_QP_QMIN] = ydt == FGQ_DT_S8 ? -128 : 0;
    nd.ip[FGQ_QP_QMAX] = ydt == FGQ_DT_S8 ? 127 : 255;
    if (op_check_run(&nd, in, &yv) != FGQ_OK)
        return -1;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const int idx = xdt == FGQ_DT_S8 ? (int)(int8_t)x[i] + 128 : (int)x[i];
        bad += y[i] != table[idx];
    }
    return bad;
}

static void test_qlut_values(void)
{
    static const fgq_dtype dts[2] = {FGQ_DT_U8, FGQ_DT_S8};
    uint8_t x[4096];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            /* every index, then the edges (u8 0 / 255, s8 −128 / 127 and their neighbours) */
            const int64_t d1[1] = {256 + 8};
            for (int i = 0; i < 256; i++)
                x[i] = (uint8_t)i;
            const uint8_t edges[8] = {0, 255, 0x80, 0x7f, 1, 254, 0x81, 0x7e};
            memcpy(x + 256, edges, sizeof edges);
            CHECK_MSG(run_case(dts[a], dts[b], 1, d1, x) == 0, "all indices, %s -> %s", fgq_dtype_name(dts[a]),
                      fgq_dtype_name(dts[b]));
            for (int it = 0; it < 50; it++) {
                int64_t dims[4];
                const int32_t rank = 1 + (int32_t)(rnd() % 4);
                int64_t n = 1;
                for (int32_t i = 0; i < rank; i++)
                    n *= dims[i] = 1 + (int64_t)(rnd() % 7);
                for (int64_t i = 0; i < n; i++)
                    x[i] = (uint8_t)rnd();
                CHECK_MSG(run_case(dts[a], dts[b], rank, dims, x) == 0, "case %d %s -> %s", it, fgq_dtype_name(dts[a]),
                          fgq_dtype_name(dts[b]));
            }
            /* empty tensor: nothing read or written */
            const int64_t d0[2] = {0, 3};
            CHECK(run_case(dts[a], dts[b], 2, d0, x) == 0);
        }
}

static void test_qlut_rejects(void)
{
    uint8_t x[6] = {0}, y[6], table[257] = {0}, yb[6];
    const int64_t dx[2] = {2, 3}, td[1] = {256}, td_short[1] = {255}, td_long[1] = {257}, td2[2] = {1, 256},
                  dy_bad[2] = {3, 2};
    fgq_tensor_view xv = qview(x, FGQ_DT_U8, 2, dx), tv = qview(table, FGQ_DT_U8, 1, td),
                    yv = qview(y, FGQ_DT_U8, 2, dx);
    const fgq_tensor_view *in[2] = {&xv, &tv};
    tnode nd;
    tnode_init(&nd, FGQ_OP_QLUT, 2);
    nd.ip[FGQ_QP_QMAX] = 255;
    CHECK_REJECTS(&nd, in, &yv, FGQ_OK);

    fgq_tensor_view t_short = qview(table, FGQ_DT_U8, 1, td_short), t_long = qview(table, FGQ_DT_U8, 1, td_long),
                    t_rank2 = qview(table, FGQ_DT_U8, 2, td2), t_s8 = qview(table, FGQ_DT_S8, 1, td),
                    t_f32 = qview(table, FGQ_DT_F32, 1, td);
    const fgq_tensor_view *bad_short[2] = {&xv, &t_short}, *bad_long[2] = {&xv, &t_long},
                          *bad_rank[2] = {&xv, &t_rank2}, *bad_dt[2] = {&xv, &t_s8}, *bad_f32[2] = {&xv, &t_f32};
    CHECK_REJECTS(&nd, bad_short, &yv, FGQ_ERR_FORMAT);
    CHECK_REJECTS(&nd, bad_long, &yv, FGQ_ERR_FORMAT);
    CHECK_REJECTS(&nd, bad_rank, &yv, FGQ_ERR_FORMAT);
    CHECK_REJECTS(&nd, bad_dt, &yv, FGQ_ERR_UNSUPPORTED);  /* table s8, output u8 */
    CHECK_REJECTS(&nd, bad_f32, &yv, FGQ_ERR_UNSUPPORTED); /* a float table */

    float xf[6];
    fgq_tensor_view x_f32 = tview(xf, 2, dx), y_f32 = tview(xf, 2, dx), y_bad = qview(yb, FGQ_DT_U8, 2, dy_bad);
    const fgq_tensor_view *in_f[2] = {&x_f32, &tv};
    CHECK_REJECTS(&nd, in_f, &yv, FGQ_ERR_UNSUPPORTED);
    CHECK_REJECTS(&nd, in, &y_f32, FGQ_ERR_UNSUPPORTED);
    CHECK_REJECTS(&nd, in, &y_bad, FGQ_ERR_SHAPE);

    nd.ip[FGQ_QP_LUT_FN] = FGQ_LUT_FN_COUNT_;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_LUT_FN] = -1;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_LUT_FN] = FGQ_LUT_HARD_SIGMOID;
    nd.fp[FGQ_QPF_LUT_ALPHA] = NAN;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_VALUE);
    nd.fp[FGQ_QPF_LUT_ALPHA] = 0.2f;
    nd.fp[FGQ_QPF_LUT_BETA] = 0.5f;
    CHECK_REJECTS(&nd, in, &yv, FGQ_OK);
    nd.ip[FGQ_QP_X_ZERO] = 256;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_X_ZERO] = 0;
    nd.ip[FGQ_QP_QMIN] = 10;
    nd.ip[FGQ_QP_QMAX] = 9;
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
}

/* x f32 [1, 300] -> Quantize -> QLut -> Dequantize -> y, written, loaded and run. The loader runs
 * check, so a 255-entry table must be refused there with the node's name. */
static fgq_graph *lut_graph(int64_t table_len, const uint8_t *table)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    const int64_t dx[2] = {1, 300}, td[1] = {table_len};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, dx), xq = tensor(g, "x.q", FGQ_TK_INTERMEDIATE, 2, dx);
    int32_t yq = tensor(g, "y.q", FGQ_TK_INTERMEDIATE, 2, dx), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, dx);
    int32_t t = tensor(g, "lut", FGQ_TK_CONST, 1, td);
    g->tensors[xq].dtype = FGQ_DT_S8;
    g->tensors[yq].dtype = FGQ_DT_U8;
    g->tensors[t].dtype = FGQ_DT_U8;
    g->tensors[t].data = malloc((size_t)table_len);
    memcpy(g->tensors[t].data, table, (size_t)table_len);
    int32_t ip[FGQ_NODE_MAX_IPARAMS] = {0};
    float fp[FGQ_NODE_MAX_FPARAMS] = {0};
    fgq_error err;
    ip[FGQ_QP_Y_ZERO] = 0;
    ip[FGQ_QP_QMIN] = -128;
    ip[FGQ_QP_QMAX] = 127;
    fp[FGQ_QPF_SCALE] = 1.0f;
    int32_t n0 = fgq_graph_add_node(g, "q", "Quantize", 1, &x, 1, &xq);
    CHECK(n0 >= 0 && fgq_node_set_prelowered(&g->nodes[n0], FGQ_OP_QUANTIZE, ip, fp, &err) == FGQ_OK);
    memset(ip, 0, sizeof ip);
    memset(fp, 0, sizeof fp);
    ip[FGQ_QP_LUT_FN] = FGQ_LUT_TABLE;
    ip[FGQ_QP_QMAX] = 255;
    const int32_t lin[2] = {xq, t};
    int32_t n1 = fgq_graph_add_node(g, "lut_node", "QLut", 2, lin, 1, &yq);
    CHECK(n1 >= 0 && fgq_node_set_prelowered(&g->nodes[n1], FGQ_OP_QLUT, ip, fp, &err) == FGQ_OK);
    memset(ip, 0, sizeof ip);
    memset(fp, 0, sizeof fp);
    fp[FGQ_QPF_SCALE] = 1.0f;
    int32_t n2 = fgq_graph_add_node(g, "dq", "Dequantize", 1, &yq, 1, &y);
    CHECK(n2 >= 0 && fgq_node_set_prelowered(&g->nodes[n2], FGQ_OP_DEQUANTIZE, ip, fp, &err) == FGQ_OK);
    set_io(g, 1, &x, 1, &y);
    return g;
}

static void test_qlut_model(void)
{
    uint8_t table[256];
    for (int i = 0; i < 256; i++)
        table[i] = (uint8_t)rnd();
    fgq_graph *g = lut_graph(256, table);
    float xin[300], yout[300];
    for (int i = 0; i < 300; i++)
        xin[i] = (float)(i % 256) - 128.0f; /* every s8 value */
    xin[0] = -1000.0f;                      /* saturates to −128 */
    xin[1] = 1000.0f;                       /* 127 */
    uint8_t *buf = NULL;
    uint64_t size = 0;
    fgq_model m;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK_MSG(fgq_write_model(g, &buf, &size, &err) == FGQ_OK, "%s", err.msg);
    CHECK_MSG(buf != NULL && fgq_model_load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    if (buf != NULL && err.msg[0] == '\0') {
        const uint64_t asz = (fgq_model_arena_size(&m) + 64) & ~(uint64_t)63;
        void *arena = aligned_alloc(64, (size_t)asz);
        const void *ins[1] = {xin};
        void *outp[1] = {yout};
        CHECK_MSG(fgq_model_run(&m, arena, asz, ins, outp, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
        free(arena);
        int bad = 0;
        for (int i = 0; i < 300; i++) {
            const float xc = xin[i] < -128.0f ? -128.0f : xin[i] > 127.0f ? 127.0f : xin[i];
            bad += yout[i] != (float)table[(int)xc + 128];
        }
        CHECK_MSG(bad == 0, "%d outputs differ from the table", bad);
    }
    free(buf);
    fgq_graph_free(g);

    /* a 255-entry table: written (the writer does not know QLUT's rules), refused at load */
    g = lut_graph(255, table);
    buf = NULL;
    fgq_error_clear(&err);
    CHECK_MSG(fgq_write_model(g, &buf, &size, &err) == FGQ_OK, "%s", err.msg);
    if (buf != NULL) {
        fgq_error_clear(&err);
        const fgq_status st = fgq_model_load(&m, buf, size, &err);
        CHECK_MSG(st == FGQ_ERR_FORMAT && strstr(err.msg, "lut_node") != NULL && strstr(err.msg, "table") != NULL,
                  "status %d: %s", (int)st, err.msg);
    }
    free(buf);
    fgq_graph_free(g);
}

int main(void)
{
    RUN(test_qlut_values);
    RUN(test_qlut_rejects);
    RUN(test_qlut_model);
    return FGQ_TEST_DONE();
}
