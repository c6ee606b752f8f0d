/* test_runtime_load.c — loading, validating and running .fgq models
 * (runtime/fgq_runtime.h), with the file built here by a tiny independent
 * builder (not the tools' writer), then corrupted in every way the loader
 * promises to catch.
 *
 * Oracles: outputs computed by hand (relu(x) = max(x, 0), x + c with numpy
 * broadcasting); for corruptions, the status the header contract names and a
 * message naming the broken part; for random corruptions, "no crash" under
 * ASan/UBSan. With `--write-seeds DIR` it writes the valid models as a fuzz
 * seed corpus instead (fuzz/run.sh). */
#include "fgq_runtime.h"
#include "fgq_test.h"
#include "plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny .fgq builder ------------------------------------------------- */

#define BT_MAXT 16
#define BT_MAXN 8

typedef struct {
    const char *name;
    fgq_dtype dtype;
    int kind; /* FGQ_KIND_* */
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];
    const void *data; /* consts */
    int is_output;
} bt_tensor;

typedef struct {
    const char *name;
    fgq_op op;
    int n_in, n_out;
    int32_t in[8], out[4];
    int32_t ip[FGQ_NODE_MAX_IPARAMS];
} bt_node;

typedef struct {
    int n_t, n_n, n_gin, n_gout;
    bt_tensor t[BT_MAXT];
    bt_node n[BT_MAXN];
    int32_t gin[4], gout[4];
} bt_model;

static uint64_t up64(uint64_t x) { return (x + 63) / 64 * 64; }

static uint64_t bt_bytes(const bt_tensor *t)
{
    uint64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= (uint64_t)t->dims[d];
    return n * fgq_dtype_size(t->dtype);
}

static uint8_t *alloc64(uint64_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, size > 0 ? (size_t)size : 1) != 0)
        return NULL;
    return (uint8_t *)p;
}

/* Lifetimes by the rule in fgq_runtime.h, plan by fgq_plan, layout header |
 * tensors | nodes | index | strings | const blobs, file ending at the last
 * byte of the last section (so every truncation cuts something). The index
 * holds the nodes' io lists, graph inputs, graph outputs, then each tensor's
 * dims and each node's iparams up to the last non-zero one (fgq_format.h). */
static uint8_t *bt_build(const bt_model *bm, uint64_t *size_out)
{
    fgq_disk_tensor ft[BT_MAXT];
    fgq_disk_node fn[BT_MAXN];
    memset(ft, 0, sizeof ft);
    memset(fn, 0, sizeof fn);
    int end = bm->n_n > 0 ? bm->n_n - 1 : 0;
    fgq_plan_tensor pt[BT_MAXT];
    int32_t pmap[BT_MAXT], n_plan = 0;
    for (int i = 0; i < bm->n_t; i++) {
        const bt_tensor *t = &bm->t[i];
        int first = 0, last = 0;
        for (int j = 0; j < bm->n_n; j++)
            for (int o = 0; o < bm->n[j].n_out; o++)
                if (bm->n[j].out[o] == i)
                    first = j;
        last = first;
        for (int j = 0; j < bm->n_n; j++)
            for (int k = 0; k < bm->n[j].n_in; k++)
                if (bm->n[j].in[k] == i && j > last)
                    last = j;
        if (t->is_output)
            last = end > first ? end : first;
        ft[i].first_node = t->kind == FGQ_KIND_CONST ? -1 : first;
        ft[i].last_node = t->kind == FGQ_KIND_CONST ? -1 : last;
        if (t->kind != FGQ_KIND_CONST) {
            pt[n_plan] = (fgq_plan_tensor){bt_bytes(t), first, last, 0};
            pmap[n_plan++] = i;
        }
    }
    int32_t scratch[2 * BT_MAXT];
    uint64_t arena = 0;
    if (fgq_plan(pt, n_plan, scratch, sizeof scratch, &arena, NULL, NULL) != FGQ_OK)
        return NULL;
    for (int k = 0; k < n_plan; k++)
        ft[pmap[k]].data_off = pt[k].offset;

    int32_t index[512];
    int n_index = 0;
    for (int j = 0; j < bm->n_n; j++) {
        fn[j].io_index = (uint32_t)n_index;
        for (int k = 0; k < bm->n[j].n_in; k++)
            index[n_index++] = bm->n[j].in[k];
        for (int k = 0; k < bm->n[j].n_out; k++)
            index[n_index++] = bm->n[j].out[k];
    }
    int inputs_index = n_index;
    for (int k = 0; k < bm->n_gin; k++)
        index[n_index++] = bm->gin[k];
    int outputs_index = n_index;
    for (int k = 0; k < bm->n_gout; k++)
        index[n_index++] = bm->gout[k];
    for (int i = 0; i < bm->n_t; i++) {
        ft[i].dims_index = (uint32_t)n_index;
        for (int d = 0; d < bm->t[i].rank; d++)
            index[n_index++] = (int32_t)bm->t[i].dims[d];
    }
    for (int j = 0; j < bm->n_n; j++) {
        int np = FGQ_NODE_MAX_IPARAMS;
        while (np > 0 && bm->n[j].ip[np - 1] == 0)
            np--;
        fn[j].params_index = (uint32_t)n_index;
        fn[j].n_iparams = (uint8_t)np;
        for (int k = 0; k < np; k++)
            index[n_index++] = bm->n[j].ip[k];
    }

    char strings[1024];
    uint32_t n_str = 0;
    uint64_t off = 128;
    uint64_t tensors_off = off;
    off = up64(off + sizeof(fgq_disk_tensor) * (uint64_t)bm->n_t);
    uint64_t nodes_off = off;
    off = up64(off + sizeof(fgq_disk_node) * (uint64_t)bm->n_n);
    uint64_t index_off = off;
    off = up64(off + 4 * (uint64_t)n_index);
    uint64_t strings_off = off;
    for (int i = 0; i < bm->n_t; i++) {
        uint32_t len = (uint32_t)strlen(bm->t[i].name);
        ft[i].name_off = n_str;
        ft[i].name_len = (uint16_t)len;
        memcpy(strings + n_str, bm->t[i].name, len);
        n_str += len;
    }
    for (int j = 0; j < bm->n_n; j++) {
        uint32_t len = (uint32_t)strlen(bm->n[j].name);
        fn[j].name_off = n_str;
        fn[j].name_len = (uint16_t)len;
        memcpy(strings + n_str, bm->n[j].name, len);
        n_str += len;
    }
    off += n_str;
    for (int i = 0; i < bm->n_t; i++) {
        const bt_tensor *t = &bm->t[i];
        ft[i].dtype = (uint8_t)t->dtype;
        ft[i].kind = (uint8_t)t->kind;
        ft[i].rank = (uint8_t)t->rank;
        ft[i].flags = t->is_output ? FGQ_FT_GRAPH_OUTPUT : 0;
        ft[i].data_size = bt_bytes(t);
        if (t->kind == FGQ_KIND_CONST) {
            off = up64(off);
            ft[i].data_off = off;
            off += ft[i].data_size;
        }
    }
    for (int j = 0; j < bm->n_n; j++) {
        fn[j].op = (uint16_t)bm->n[j].op;
        fn[j].n_inputs = (uint8_t)bm->n[j].n_in;
        fn[j].n_outputs = (uint8_t)bm->n[j].n_out;
    }
    uint64_t size = off;
    uint8_t *buf = alloc64(size);
    if (buf == NULL)
        return NULL;
    memset(buf, 0, (size_t)size);
    fgq_file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, FGQ_FILE_MAGIC, 8);
    h.version = FGQ_FILE_VERSION;
    h.file_size = size;
    h.n_tensors = (uint32_t)bm->n_t;
    h.n_nodes = (uint32_t)bm->n_n;
    h.n_inputs = (uint32_t)bm->n_gin;
    h.n_outputs = (uint32_t)bm->n_gout;
    h.tensors_off = (uint32_t)tensors_off;
    h.nodes_off = (uint32_t)nodes_off;
    h.index_off = (uint32_t)index_off;
    h.n_index = (uint32_t)n_index;
    h.strings_off = (uint32_t)strings_off;
    h.strings_size = n_str;
    h.inputs_index = (uint32_t)inputs_index;
    h.outputs_index = (uint32_t)outputs_index;
    h.arena_size = arena;
    h.blob_align = 64;
    /* this test runs on little-endian hosts (the loader refuses others), and
     * the records have no padding, so the structs' bytes are the file's bytes */
    memcpy(buf, &h, sizeof h);
    memcpy(buf + tensors_off, ft, sizeof(fgq_disk_tensor) * (size_t)bm->n_t);
    memcpy(buf + nodes_off, fn, sizeof(fgq_disk_node) * (size_t)bm->n_n);
    memcpy(buf + index_off, index, 4 * (size_t)n_index);
    memcpy(buf + strings_off, strings, n_str);
    for (int i = 0; i < bm->n_t; i++)
        if (bm->t[i].kind == FGQ_KIND_CONST && ft[i].data_size > 0)
            memcpy(buf + ft[i].data_off, bm->t[i].data, (size_t)ft[i].data_size);
    uint32_t sum = fgq_fnv1a32(buf + 128, size - 128);
    memcpy(buf + offsetof(fgq_file_header, checksum), &sum, 4);
    *size_out = size;
    return buf;
}

/* Header / record access for corrupting a built file. */
static fgq_file_header get_h(const uint8_t *buf)
{
    fgq_file_header h;
    memcpy(&h, buf, sizeof h);
    return h;
}
static void put_h(uint8_t *buf, const fgq_file_header *h) { memcpy(buf, h, sizeof *h); }
static fgq_disk_tensor get_t(const uint8_t *buf, int i)
{
    fgq_disk_tensor t;
    memcpy(&t, buf + get_h(buf).tensors_off + sizeof t * (size_t)i, sizeof t);
    return t;
}
static void put_t(uint8_t *buf, int i, const fgq_disk_tensor *t)
{
    memcpy(buf + get_h(buf).tensors_off + sizeof *t * (size_t)i, t, sizeof *t);
}
static fgq_disk_node get_n(const uint8_t *buf, int j)
{
    fgq_disk_node n;
    memcpy(&n, buf + get_h(buf).nodes_off + sizeof n * (size_t)j, sizeof n);
    return n;
}
static void put_n(uint8_t *buf, int j, const fgq_disk_node *n)
{
    memcpy(buf + get_h(buf).nodes_off + sizeof *n * (size_t)j, n, sizeof *n);
}
static void put_index(uint8_t *buf, int k, int32_t v) { memcpy(buf + get_h(buf).index_off + 4 * (size_t)k, &v, 4); }
/* Dim d of tensor i (in the index). */
static void put_dim(uint8_t *buf, int i, int d, int32_t v) { put_index(buf, (int)get_t(buf, i).dims_index + d, v); }
/* Recompute the checksum over [128, size) so deeper checks are reached. */
static void reseal(uint8_t *buf, uint64_t size)
{
    uint32_t sum = fgq_fnv1a32(buf + 128, size - 128);
    memcpy(buf + offsetof(fgq_file_header, checksum), &sum, 4);
}

/* ---- the models ------------------------------------------------------------ */

#define F32_T(nm, kd, r, d0, d1, out) {nm, FGQ_DT_F32, kd, r, {d0, d1}, NULL, out}

/* y = Relu(x), x [1,4] */
static bt_model model_relu(void)
{
    bt_model m;
    memset(&m, 0, sizeof m);
    m.n_t = 2;
    m.t[0] = (bt_tensor)F32_T("x", FGQ_KIND_INPUT, 2, 1, 4, 0);
    m.t[1] = (bt_tensor)F32_T("y", FGQ_KIND_INTERMEDIATE, 2, 1, 4, 1);
    m.n_n = 1;
    m.n[0] = (bt_node){.name = "relu0", .op = FGQ_OP_RELU, .n_in = 1, .n_out = 1, .in = {0}, .out = {1}};
    m.n_gin = 1;
    m.gin[0] = 0;
    m.n_gout = 1;
    m.gout[0] = 1;
    return m;
}

static const float add_c[3] = {10.f, 20.f, 30.f};

/* y = x + c, x [2,3] input, c [3] const (broadcast over rows) */
static bt_model model_add(void)
{
    bt_model m;
    memset(&m, 0, sizeof m);
    m.n_t = 3;
    m.t[0] = (bt_tensor)F32_T("x", FGQ_KIND_INPUT, 2, 2, 3, 0);
    m.t[1] = (bt_tensor){"c", FGQ_DT_F32, FGQ_KIND_CONST, 1, {3}, add_c, 0};
    m.t[2] = (bt_tensor)F32_T("y", FGQ_KIND_INTERMEDIATE, 2, 2, 3, 1);
    m.n_n = 1;
    m.n[0] = (bt_node){.name = "add0", .op = FGQ_OP_ADD, .n_in = 2, .n_out = 1, .in = {0, 1}, .out = {2}};
    m.n_gin = 1;
    m.gin[0] = 0;
    m.n_gout = 1;
    m.gout[0] = 2;
    return m;
}

static const float chain_c[8] = {-1, -1, -1, -1, 1, 1, 1, 1};

/* h = Relu(x) (also a graph output, read later); y = h + c; z = Relu(y).
 * Outputs: z, h, x (input passed through), c (const copied out). */
static bt_model model_chain(void)
{
    bt_model m;
    memset(&m, 0, sizeof m);
    m.n_t = 5;
    m.t[0] = (bt_tensor)F32_T("x", FGQ_KIND_INPUT, 2, 1, 8, 1);
    m.t[1] = (bt_tensor){"c", FGQ_DT_F32, FGQ_KIND_CONST, 2, {1, 8}, chain_c, 1};
    m.t[2] = (bt_tensor)F32_T("h", FGQ_KIND_INTERMEDIATE, 2, 1, 8, 1);
    m.t[3] = (bt_tensor)F32_T("y", FGQ_KIND_INTERMEDIATE, 2, 1, 8, 0);
    m.t[4] = (bt_tensor)F32_T("z", FGQ_KIND_INTERMEDIATE, 2, 1, 8, 1);
    m.n_n = 3;
    m.n[0] = (bt_node){.name = "relu_h", .op = FGQ_OP_RELU, .n_in = 1, .n_out = 1, .in = {0}, .out = {2}};
    m.n[1] = (bt_node){.name = "add_y", .op = FGQ_OP_ADD, .n_in = 2, .n_out = 1, .in = {2, 1}, .out = {3}};
    m.n[2] = (bt_node){.name = "relu_z", .op = FGQ_OP_RELU, .n_in = 1, .n_out = 1, .in = {3}, .out = {4}};
    m.n_gin = 1;
    m.gin[0] = 0;
    m.n_gout = 4;
    m.gout[0] = 4;
    m.gout[1] = 2;
    m.gout[2] = 0;
    m.gout[3] = 1;
    return m;
}

/* ---- helpers ------------------------------------------------------------------ */

static fgq_status load(fgq_model *m, const uint8_t *buf, uint64_t size, fgq_error *err)
{
    fgq_error_clear(err);
    return fgq_model_load(m, buf, size, err);
}

/* Load must fail with `want` and a message containing every `needle`. */
#define EXPECT_LOAD(buf, size, want, ...)                                                                \
    do {                                                                                                 \
        fgq_model m_;                                                                                    \
        fgq_error e_;                                                                                    \
        fgq_status st_ = load(&m_, (buf), (size), &e_);                                                  \
        CHECK_MSG(st_ == (want), "status %s, want %s: %s", fgq_status_name(st_), fgq_status_name(want), \
                  e_.msg);                                                                               \
        const char *needles_[] = {__VA_ARGS__};                                                          \
        for (size_t k_ = 0; k_ < sizeof needles_ / sizeof needles_[0]; k_++)                             \
            CHECK_MSG(strstr(e_.msg, needles_[k_]) != NULL, "message '%s' lacks '%s'", e_.msg, needles_[k_]); \
    } while (0)

static int n_observed;
static void count_obs(void *user, int32_t node, const fgq_tensor_view *const *outs, int32_t n_outs)
{
    int32_t *last = (int32_t *)user;
    CHECK(node == *last + 1 && n_outs == 1 && outs[0]->data != NULL);
    *last = node;
    n_observed++;
}

/* ---- valid models ------------------------------------------------------------- */

static void test_relu(void)
{
    bt_model bm = model_relu();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    fgq_model m;
    fgq_error err;
    CHECK_MSG(load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_model_n_inputs(&m) == 1 && fgq_model_n_outputs(&m) == 1);
    CHECK(fgq_model_n_tensors(&m) == 2 && fgq_model_n_nodes(&m) == 1);
    fgq_tensor_info ti;
    CHECK(fgq_model_input_info(&m, 0, &ti) == FGQ_OK);
    CHECK(ti.name_len == 1 && ti.name[0] == 'x' && ti.rank == 2 && ti.dims[1] == 4 && ti.size_bytes == 16);
    CHECK(fgq_model_output_info(&m, 0, &ti) == FGQ_OK && ti.name[0] == 'y');
    CHECK(fgq_model_input_info(&m, 1, &ti) == FGQ_ERR_VALUE);
    CHECK(fgq_model_tensor_info(&m, -1, &ti) == FGQ_ERR_VALUE);
    fgq_node_info ni;
    CHECK(fgq_model_node_info(&m, 0, &ni) == FGQ_OK);
    CHECK(ni.op == FGQ_OP_RELU && ni.n_inputs == 1 && ni.inputs[0] == 0 && ni.outputs[0] == 1);
    CHECK(ni.name_len == 5 && memcmp(ni.name, "relu0", 5) == 0);
    /* oracle: x and y live together at node 0, 16 B each rounded to 64; the run's records
     * are one node's two views (rounded to 64); Relu takes no scratch */
    const uint64_t rec = (2 * sizeof(fgq_tensor_view) + 63) / 64 * 64;
    CHECK(fgq_model_activation_size(&m) == 128 && fgq_model_arena_lower_bound(&m) == 128);
    CHECK(fgq_model_scratch_size(&m) == 0);
    CHECK(fgq_model_arena_size(&m) == 128 + rec && fgq_model_arena_size_threads(&m, 4) == 128 + rec);
    CHECK(fgq_model_weight_bytes(&m) == 0);

    uint8_t *arena = alloc64(fgq_model_arena_size(&m));
    float x[4] = {-1.5f, 2.f, -0.f, 4.25f}, y[4] = {9, 9, 9, 9};
    const void *ins[1] = {x};
    void *outs[1] = {y};
    CHECK_MSG(fgq_model_run(&m, arena, 128 + rec, ins, outs, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
    CHECK(y[0] == 0.f && y[1] == 2.f && y[2] == 0.f && y[3] == 4.25f);
    /* run-time argument errors */
    fgq_error_clear(&err);
    CHECK(fgq_model_run(&m, arena, 128 + rec - 1, ins, outs, NULL, NULL, &err) == FGQ_ERR_NOMEM);
    CHECK(strstr(err.msg, "arena") != NULL);
    fgq_error_clear(&err);
    CHECK(fgq_model_run(&m, arena + 8, 120, ins, outs, NULL, NULL, &err) == FGQ_ERR_NOMEM);
    uint8_t *big = alloc64(512);
    fgq_error_clear(&err);
    CHECK(fgq_model_run(&m, big + 8, 128 + rec, ins, outs, NULL, NULL, &err) == FGQ_ERR_VALUE);
    CHECK(strstr(err.msg, "aligned") != NULL);
    free(big);
    free(arena);

    /* the buffer must be 64-aligned: copy the file to an odd address */
    uint8_t *odd = alloc64(size + 64);
    memcpy(odd + 16, buf, (size_t)size);
    EXPECT_LOAD(odd + 16, size, FGQ_ERR_VALUE, "aligned");
    free(odd);
    free(buf);
}

static void test_add_const(void)
{
    bt_model bm = model_add();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    fgq_model m;
    fgq_error err;
    CHECK_MSG(load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_model_weight_bytes(&m) == 12);
    CHECK(fgq_model_tensor_kind(&m, 1) == FGQ_KIND_CONST && fgq_model_tensor_kind(&m, 0) == FGQ_KIND_INPUT);
    const float *c = (const float *)fgq_model_tensor_data(&m, 1);
    CHECK(c != NULL && c[2] == 30.f && fgq_model_tensor_data(&m, 0) == NULL);
    uint8_t *arena = alloc64(fgq_model_arena_size(&m));
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    const void *ins[1] = {x};
    void *outs[1] = {y};
    CHECK_MSG(fgq_model_run(&m, arena, fgq_model_arena_size(&m), ins, outs, NULL, NULL, &err) == FGQ_OK, "%s",
              err.msg);
    /* oracle: y[i][j] = x[i][j] + c[j] */
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(y[i], x[i] + add_c[i % 3], 0);
    free(arena);
    free(buf);
}

static void test_chain(void)
{
    bt_model bm = model_chain();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    fgq_model m;
    fgq_error err;
    CHECK_MSG(load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    /* oracle: steps 0: x,h; 1: x,h,y; 2: x,h,y,z (x and h are graph outputs) */
    CHECK(fgq_model_arena_lower_bound(&m) == 4 * 64);
    CHECK(fgq_model_activation_size(&m) >= fgq_model_arena_lower_bound(&m));
    CHECK(fgq_model_arena_size(&m) > fgq_model_activation_size(&m)); /* + the run's records */
    uint8_t *arena = alloc64(fgq_model_arena_size(&m));
    memset(arena, 0x7f, (size_t)fgq_model_arena_size(&m)); /* scratch garbage must not matter */
    float x[8] = {-3, -2, -1, 0, 1, 2, 3, 4};
    float z[8], h[8], xo[8], co[8];
    const void *ins[1] = {x};
    void *outs[4] = {z, h, xo, co};
    int32_t last = -1;
    n_observed = 0;
    CHECK_MSG(fgq_model_run(&m, arena, fgq_model_arena_size(&m), ins, outs, count_obs, &last, &err) == FGQ_OK,
              "%s", err.msg);
    CHECK(n_observed == 3);
    for (int i = 0; i < 8; i++) {
        float hv = x[i] > 0 ? x[i] : 0;
        float yv = hv + chain_c[i];
        CHECK_NEAR(h[i], hv, 0);
        CHECK_NEAR(z[i], yv > 0 ? yv : 0, 0);
        CHECK_NEAR(xo[i], x[i], 0);
        CHECK_NEAR(co[i], chain_c[i], 0);
    }
    free(arena);
    free(buf);
}

/* ---- hostile files ------------------------------------------------------------ */

static void test_truncations(void)
{
    /* oracle: a file shorter than its header says is FORMAT; so is one whose
     * header was rewritten to the shorter length (the end of the last section
     * is cut). An exact-size copy lets ASan see any read past the end. */
    bt_model bm = model_chain();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    for (uint64_t len = 0; len < size; len++) {
        uint8_t *cut = alloc64(len);
        memcpy(cut, buf, (size_t)len);
        EXPECT_LOAD(cut, len, FGQ_ERR_FORMAT, "fgq: ");
        if (len >= 128) {
            fgq_file_header h = get_h(cut);
            h.file_size = len;
            put_h(cut, &h);
            reseal(cut, len);
            EXPECT_LOAD(cut, len, FGQ_ERR_FORMAT, "fgq: ");
        }
        free(cut);
    }
    free(buf);
}

static void test_header_defects(void)
{
    /* oracle: the header checks in the order the contract lists them */
    bt_model bm = model_add();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    uint8_t *b = alloc64(size);
    fgq_file_header h;

#define FRESH() (memcpy(b, buf, (size_t)size), h = get_h(b))
    FRESH();
    b[0] = 'X';
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "magic");
    FRESH();
    h.version = 1; /* 192-byte records: an fgq before the compact tables wrote it */
    put_h(b, &h);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "version 1", "reads version 2", "again");
    FRESH();
    h.version = 3;
    put_h(b, &h);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "version 3", "reads version 2", "newer");
    for (int k = 0; k < 4; k++) { /* not a power of two in [8, 64] */
        const uint32_t bad[4] = {0, 4, 24, 128};
        FRESH();
        h.blob_align = bad[k];
        put_h(b, &h);
        reseal(b, size);
        EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "blob alignment");
    }
    FRESH();
    h.file_size = size + 64;
    put_h(b, &h);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "header says");
    FRESH();
    b[size - 1] ^= 1; /* body changed, checksum not */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "checksum");
    FRESH();
    h.reserved[3] = 1;
    put_h(b, &h);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "reserved");
    FRESH();
    h.tensors_off += 4;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "tensor section", "aligned");
    FRESH();
    h.nodes_off = (uint32_t)up64(size);
    h.n_nodes = 1;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "node section", "exceeds");
    FRESH();
    h.n_tensors = 0xffffffffu;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "tensor section");
    FRESH();
    h.n_index = 0xfffffff0u;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "index section");
    FRESH();
    h.strings_size = 0x7fffffffu;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "string section");
    FRESH();
    h.n_inputs = 5;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "graph inputs");
    FRESH();
    h.outputs_index = h.n_index;
    put_h(b, &h);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "output list");
#undef FRESH
    free(b);
    free(buf);
}

static void test_tensor_defects(void)
{
    /* oracle: each tensor-record rule, with the tensor named in the message */
    bt_model bm = model_add();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    uint8_t *b = alloc64(size);
    fgq_disk_tensor t;
#define EDIT_T(i, stmt) (memcpy(b, buf, (size_t)size), t = get_t(b, (i)), (void)(stmt), put_t(b, (i), &t), reseal(b, size))
#define EDIT_DIM(i, d, v) (memcpy(b, buf, (size_t)size), put_dim(b, (i), (d), (v)), reseal(b, size))
    EDIT_T(0, t.name_off = 1000);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "tensor 0", "name");
    EDIT_T(0, t.dtype = 77);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'x'", "dtype 77");
    EDIT_T(2, t.kind = 3);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'y'", "kind");
    EDIT_T(0, t.rank = 9);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'x'", "rank 9");
    EDIT_DIM(0, 1, -3);
    EXPECT_LOAD(b, size, FGQ_ERR_SHAPE, "'x'", "negative");
    EDIT_T(0, t.dims_index = get_h(buf).n_index - 1); /* x has two dims: the second is past the index */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'x'", "dims", "index");
    EDIT_T(0, t.dims_index = 0xffffffffu);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'x'", "dims", "index");
    memcpy(b, buf, (size_t)size);
    put_dim(b, 0, 0, INT32_MAX);
    put_dim(b, 0, 1, INT32_MAX);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_SHAPE, "'x'", "overflow");
    EDIT_T(1, t.data_size = 16);
    EXPECT_LOAD(b, size, FGQ_ERR_SHAPE, "'c'", "data_size 16");
    EDIT_T(1, t.data_off = size - 4);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'c'", "aligned");
    EDIT_T(1, t.data_off = up64(size));
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'c'", "exceeds");
    EDIT_T(1, t.first_node = 0);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'c'", "lifetime");
    EDIT_T(2, t.data_off = 1 << 20);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'y'", "arena_size");
    EDIT_T(2, t.data_off = 32);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'y'", "aligned");
    EDIT_T(2, (t.q_n_scales = 1, t.q_off = up64(size)));
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'y'", "quantization");
    EDIT_T(2, t.q_n_scales = -1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'y'", "negative");
    EDIT_T(2, t.flags = 0); /* y no longer marked as an output but listed */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "graph output 0", "'y'");
    EDIT_T(2, t.reserved = 5);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'y'", "reserved");
    EDIT_T(0, t.kind = FGQ_KIND_INTERMEDIATE); /* listed as graph input */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "graph input 0", "'x'");
    EDIT_T(1, t.flags = FGQ_FT_GRAPH_OUTPUT); /* marked but not listed */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "marked as graph outputs");
#undef EDIT_T
#undef EDIT_DIM
    free(b);
    free(buf);
}

static void test_node_defects(void)
{
    /* oracle: each node and graph rule, with the node named in the message */
    bt_model bm = model_chain();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    uint8_t *b = alloc64(size);
    fgq_disk_node n;
    fgq_disk_tensor t;
#define EDIT_N(j, stmt) (memcpy(b, buf, (size_t)size), n = get_n(b, (j)), (void)(stmt), put_n(b, (j), &n), reseal(b, size))
    EDIT_N(1, n.op = 999);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "node 1 'add_y'", "unknown op 999");
    EDIT_N(1, n.op = 0);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "unknown op 0");
    EDIT_N(1, n.n_inputs = 1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "inputs");
    EDIT_N(1, n.n_inputs = 200);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "limits");
    EDIT_N(1, n.n_outputs = 0);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "limits");
    EDIT_N(2, n.io_index = 0x7ffffff0u);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_z'", "io list");
    EDIT_N(0, n.name_len = 0xffffu);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "node 0", "name");
    EDIT_N(0, n.n_iparams = FGQ_NODE_MAX_IPARAMS + 1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_h'", "parameters");
    EDIT_N(0, n.n_fparams = FGQ_NODE_MAX_FPARAMS + 1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_h'", "parameters");
    EDIT_N(0, (n.n_iparams = 4, n.params_index = get_h(buf).n_index - 3));
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_h'", "parameters", "index");

    /* index entries: node 1's inputs are index[2], index[3], output index[4] */
    memcpy(b, buf, (size_t)size);
    put_index(b, 2, 99);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "tensor 99");
    memcpy(b, buf, (size_t)size);
    put_index(b, 4, 1); /* add_y writes the constant c */
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "writes constant");
    memcpy(b, buf, (size_t)size);
    put_index(b, 4, 0); /* add_y writes the graph input x */
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "writes graph input");
    memcpy(b, buf, (size_t)size);
    put_index(b, 4, 2); /* add_y writes h, which relu_h produces */
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "producer");
    memcpy(b, buf, (size_t)size);
    put_index(b, 2, -1); /* omitted required input: the op check rejects it */
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "add_y", "missing");
    memcpy(b, buf, (size_t)size);
    put_index(b, 2, -7);
    reseal(b, size);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'add_y'", "tensor -7");

    /* lifetimes: y's last reader is relu_z (node 2); h is an output (ends at 2) */
#define EDIT_T(i, stmt) (memcpy(b, buf, (size_t)size), t = get_t(b, (i)), (void)(stmt), put_t(b, (i), &t), reseal(b, size))
    EDIT_T(3, t.last_node = 1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_z'", "lifetime ends at node 1");
    EDIT_T(2, t.last_node = 1); /* readers are fine, but h is a graph output */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'h'", "last_node 1", "graph outputs live");
    EDIT_T(0, t.last_node = -1); /* x: read by relu_h (node 0) */
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_h'", "'x'", "after its planned lifetime");
    EDIT_T(4, t.last_node = 3);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'z'", "last_node 3");
    EDIT_T(0, t.first_node = 1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'x'", "first_node 1");
    EDIT_T(4, t.first_node = 1);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "'relu_z'", "producer is recorded as node 1");
    /* overlapping plan: put z on top of y (both live at node 2) */
    EDIT_T(4, t.data_off = get_t(buf, 3).data_off);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "memory plan", "'y'", "'z'");
    /* an input whose slot overlaps h */
    EDIT_T(0, t.data_off = get_t(buf, 2).data_off);
    EXPECT_LOAD(b, size, FGQ_ERR_FORMAT, "memory plan", "'x'", "'h'");
#undef EDIT_T
#undef EDIT_N
    free(b);
    free(buf);
}

static void test_graph_order(void)
{
    /* oracle: a node reading a tensor produced by a later node (cycle or bad
     * order) is refused, naming the reader */
    bt_model bm = model_chain();
    /* cycle: relu_h reads y (made by add_y, which reads h) */
    bm.n[0].in[0] = 3;
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    EXPECT_LOAD(buf, size, FGQ_ERR_FORMAT, "node 0 'relu_h'", "'y'", "before it is produced");
    free(buf);

    /* use before def without a cycle: swap the order of add_y and relu_z */
    bm = model_chain();
    bt_node tmp = bm.n[1];
    bm.n[1] = bm.n[2];
    bm.n[2] = tmp;
    buf = bt_build(&bm, &size);
    EXPECT_LOAD(buf, size, FGQ_ERR_FORMAT, "node 1 'relu_z'", "'y'", "before it is produced");
    free(buf);

    /* an intermediate that no node produces */
    bm = model_chain();
    bm.n[2].in[0] = 2;
    bm.t[3].is_output = 1; /* y stays, but unproduced once add_y writes z instead */
    bm.t[2].is_output = 0;
    bm.n[1].out[0] = 4;
    bm.n_n = 2;
    bm.gout[0] = 3;
    bm.gout[1] = 4;
    buf = bt_build(&bm, &size);
    EXPECT_LOAD(buf, size, FGQ_ERR_FORMAT, "'y'", "not produced");
    free(buf);
}

static void test_op_shape_checks(void)
{
    /* oracle: the op's own check rejects mismatched shapes (SHAPE) */
    bt_model bm = model_relu();
    bm.t[1].dims[1] = 3; /* relu output [1,3] for input [1,4] */
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    EXPECT_LOAD(buf, size, FGQ_ERR_SHAPE, "relu0");
    free(buf);

    bm = model_add();
    bm.t[1].dims[0] = 2; /* c [2] does not broadcast against x [2,3] */
    buf = bt_build(&bm, &size);
    EXPECT_LOAD(buf, size, FGQ_ERR_SHAPE, "add0");
    free(buf);
}

/* Oracles: fgq_runtime.h (a record whose load failed is not a loaded model: fgq_model_run refuses
 * it, FGQ_ERR_VALUE, even when the failure came after the header was read); fgq_format.h's q_axis,
 * a signed byte (-1 reads back as -1). */
static void test_failed_load_and_signed_axis(void)
{
    bt_model bm = model_relu();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    fgq_disk_tensor t = get_t(buf, 0);
    t.dims_index = 0xfffffff0u; /* passes the header, fails pass 2 */
    put_t(buf, 0, &t);
    reseal(buf, size);
    fgq_model m;
    fgq_error err;
    CHECK(load(&m, buf, size, &err) == FGQ_ERR_FORMAT && strstr(err.msg, "dims") != NULL); /* pass 2's */
    float x[4] = {1, -2, 3, -4}, y[4];
    const void *ins[1] = {x};
    void *outs[1] = {y};
    uint8_t *arena = alloc64(4096);
    fgq_error_clear(&err);
    CHECK(fgq_model_run(&m, arena, 4096, ins, outs, NULL, NULL, &err) == FGQ_ERR_VALUE &&
          strstr(err.msg, "no loaded model") != NULL);
    free(buf);

    buf = bt_build(&bm, &size);
    t = get_t(buf, 1);
    t.q_axis = -1;
    put_t(buf, 1, &t);
    reseal(buf, size);
    fgq_tensor_qparams q;
    CHECK_MSG(load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    CHECK(fgq_model_tensor_qparams(&m, 1, &q) == FGQ_OK && q.axis == -1 && q.n_scales == 0);

    /* a caller built with another FGQ_LOAD_VIEWS (another fgq_model size): refused, the record
     * untouched (fgq_runtime.h fgq_model_load_rec) */
    static fgq_model poisoned, before;
    memset(&poisoned, 0xab, sizeof poisoned);
    before = poisoned;
    fgq_error_clear(&err);
    CHECK(fgq_model_load_rec(&poisoned, sizeof poisoned - sizeof(fgq_tensor_view), buf, size, &err) == FGQ_ERR_VALUE &&
          strstr(err.msg, "FGQ_LOAD_VIEWS") != NULL && memcmp(&poisoned, &before, sizeof before) == 0);
    fgq_error_clear(&err);
    CHECK(fgq_model_load_target_rec(&poisoned, sizeof poisoned + 8, buf, size, fgq_target_build(), &err) ==
              FGQ_ERR_VALUE && memcmp(&poisoned, &before, sizeof before) == 0);
    free(arena);
    free(buf);
}

static void test_zero_node_model(void)
{
    /* oracle: a graph whose output is its input copies the input through */
    bt_model bm;
    memset(&bm, 0, sizeof bm);
    bm.n_t = 1;
    bm.t[0] = (bt_tensor)F32_T("x", FGQ_KIND_INPUT, 1, 3, 0, 1);
    bm.n_gin = bm.n_gout = 1;
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    fgq_model m;
    fgq_error err;
    CHECK_MSG(load(&m, buf, size, &err) == FGQ_OK, "%s", err.msg);
    uint8_t *arena = alloc64(fgq_model_arena_size(&m));
    float x[3] = {1, -2, 3}, y[3] = {0};
    const void *ins[1] = {x};
    void *outs[1] = {y};
    CHECK(fgq_model_run(&m, arena, fgq_model_arena_size(&m), ins, outs, NULL, NULL, &err) == FGQ_OK);
    CHECK(y[0] == 1 && y[1] == -2 && y[2] == 3);
    free(arena);
    free(buf);
}

static void test_plan_matches_planner(void)
{
    /* oracle: the loader's lower bound equals fgq_plan_lower_bound over the
     * same lifetimes, read back from the file */
    bt_model bm = model_chain();
    uint64_t size = 0;
    uint8_t *buf = bt_build(&bm, &size);
    fgq_model m;
    fgq_error err;
    CHECK(load(&m, buf, size, &err) == FGQ_OK);
    fgq_plan_tensor pt[8];
    int n = 0;
    for (int i = 0; i < fgq_model_n_tensors(&m); i++) {
        fgq_disk_tensor t = get_t(buf, i);
        if (t.kind != FGQ_KIND_CONST)
            pt[n++] = (fgq_plan_tensor){t.data_size, t.first_node, t.last_node, t.data_off};
    }
    CHECK(fgq_plan_lower_bound(pt, n) == fgq_model_arena_lower_bound(&m));
    free(buf);
}

static uint32_t rng = 99u;
static uint32_t rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static void test_random_corruption(void)
{
    /* oracle: no crash, no sanitizer report; whatever loads also runs */
    bt_model models[3] = {model_relu(), model_add(), model_chain()};
    int loaded = 0, tried = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t size = 0;
        uint8_t *buf = bt_build(&models[k], &size);
        uint8_t *b = alloc64(size);
        for (int iter = 0; iter < 3000; iter++) {
            memcpy(b, buf, (size_t)size);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++) {
                uint64_t pos = rnd() % size;
                b[pos] = (uint8_t)(rnd() % 3 == 0 ? rnd() : b[pos] ^ (1u << (rnd() % 8)));
            }
            if (rnd() % 8 != 0)
                reseal(b, size);
            fgq_model m;
            fgq_error err;
            tried++;
            if (load(&m, b, size, &err) != FGQ_OK) {
                CHECK_MSG(err.status != FGQ_OK && err.msg[0] != '\0', "failure without a message");
                continue;
            }
            loaded++;
            uint64_t an = fgq_model_arena_size(&m);
            if (an > (1u << 20))
                continue;
            uint8_t *arena = alloc64(an);
            const void *ins[BT_MAXT];
            void *outs[BT_MAXT];
            void *bufs[2 * BT_MAXT];
            int nb = 0;
            for (int i = 0; i < fgq_model_n_inputs(&m); i++) {
                fgq_tensor_info ti;
                fgq_model_input_info(&m, i, &ti);
                bufs[nb] = calloc(1, (size_t)ti.size_bytes + 1);
                ins[i] = bufs[nb++];
            }
            for (int i = 0; i < fgq_model_n_outputs(&m); i++) {
                fgq_tensor_info ti;
                fgq_model_output_info(&m, i, &ti);
                bufs[nb] = malloc((size_t)ti.size_bytes + 1);
                outs[i] = bufs[nb++];
            }
            fgq_model_run(&m, arena, an, ins, outs, NULL, NULL, &err);
            for (int i = 0; i < nb; i++)
                free(bufs[i]);
            free(arena);
        }
        free(b);
        free(buf);
    }
    CHECK(tried == 9000);
    fprintf(stderr, "random corruption: %d of %d loaded\n", loaded, tried);
}

/* Writes each valid model as DIR/seed_N.fgq. */
static int write_seeds(const char *dir)
{
    bt_model models[4] = {model_relu(), model_add(), model_chain(), model_chain()};
    models[3].n_n = 1; /* prefix: relu_h only; outputs h and x; c an unused const */
    models[3].n_t = 3;
    models[3].t[1].is_output = 0;
    models[3].n_gout = 2;
    models[3].gout[0] = 2;
    models[3].gout[1] = 0;
    for (int k = 0; k < 4; k++) {
        uint64_t size = 0;
        uint8_t *buf = bt_build(&models[k], &size);
        fgq_model m;
        fgq_error err;
        if (buf == NULL || load(&m, buf, size, &err) != FGQ_OK) {
            fprintf(stderr, "seed %d does not load: %s\n", k, buf ? err.msg : "build failed");
            free(buf);
            return 1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/seed_%d.fgq", dir, k);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(buf, 1, (size_t)size, f) != size) {
            fprintf(stderr, "cannot write %s\n", path);
            if (f)
                fclose(f);
            free(buf);
            return 1;
        }
        fclose(f);
        free(buf);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
        return write_seeds(argv[2]);
    RUN(test_relu);
    RUN(test_add_const);
    RUN(test_chain);
    RUN(test_zero_node_model);
    RUN(test_failed_load_and_signed_axis);
    RUN(test_plan_matches_planner);
    RUN(test_truncations);
    RUN(test_header_defects);
    RUN(test_tensor_defects);
    RUN(test_node_defects);
    RUN(test_graph_order);
    RUN(test_op_shape_checks);
    RUN(test_random_corruption);
    return FGQ_TEST_DONE();
}
