/* test_scratch.c — scratch owned by the caller (fgq_runtime.h, fgq_ops.h).
 *
 * A small convolutional model (a 3×3 conv, a depthwise 3×3, a 1×1 conv, a
 * Gemm), quantized with s8 and with ternary:g4 weights, is written, loaded
 * and run through the public API with arenas sized from the query functions.
 * Oracles: the run with exactly fgq_model_arena_size bytes succeeds and gives
 * the bytes the graph runner gives; one byte less fails with FGQ_ERR_NOMEM,
 * a message, and the outputs untouched; with a 2-thread pool the run needs
 * fgq_model_arena_size_threads(m, 2) bytes (one less: FGQ_ERR_NOMEM) and gives
 * the serial bytes; the reference kernels (no scratch used) give them too;
 * the scratch holds garbage before every run (memset 0xA5 / 0x5A).
 *
 * Target profiles (fgq_target.h): loaded for this build's profile, by name or
 * as "host", the model gives fgq_model_load's figures exactly; loaded for the
 * Cortex-M profile it needs less scratch (smaller tiles, no x86 decode), the
 * activations unchanged, and fgq_model_run refuses that record; a profile that is not
 * one of the runtime's own (a struct copy) is refused at load (FGQ_ERR_VALUE). That the
 * Cortex-M figure is what the Cortex-M runtime computes is proved on the
 * emulated boards (tests/python/test_device.py). This build's profile matches the
 * kernels compiled in (the same #if conditions), and the x86-64 profile's every number
 * is at least every other profile's.
 *
 * The slices themselves (ops/ops_util.h), on a hand-made node of three: fgq_scratch_begin sets
 * every memo word to -1 over garbage and frees every slice; a holder's memo words reach the
 * next holder of the slice and no other; fgq_scratch_claim_for starts at the share of its first
 * task (shares as the pool deals them, the first n mod n_scratch one longer) and takes the next
 * free slice when that one is held; begin needs 64-aligned slices. */
#include "export/fgq_writer.h"
#include "fgq_runtime.h"
#include "fgq_test.h"
#include "graph_build.h"
#include "ops/ops_util.h"
#include "ops/qgemm_dispatch.h"
#include "passes/passes.h"
#include "quant/quantize.h"
#include "quant/stats/calib.h"
#include "threadpool.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((double)(rng >> 11) / 9007199254740992.0);
}

enum { C_IN = 8, H = 12, W = 12, C1 = 16, C2 = 24, NCLS = 10, NSAMP = 16 };

static int32_t rand_const(fgq_graph *g, const char *name, int32_t rank, const int64_t *dims, float amp)
{
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++)
        n *= dims[i];
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        v[i] = frand(-amp, amp);
    int32_t t = const_f32(g, name, rank, dims, v);
    free(v);
    return t;
}

/* x [1,8,12,12] -> conv 3×3 pad 1 (8 -> 16, Relu) -> depthwise 3×3 pad 1 (Relu) -> conv 1×1 (16 -> 24)
 * -> Flatten -> Gemm -> y [1,10] */
static fgq_graph *build(void)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = 13;
    const int64_t dx[4] = {1, C_IN, H, W}, d1[4] = {1, C1, H, W}, d2[4] = {1, C2, H, W}, df[2] = {1, C2 * H * W},
                  dy[2] = {1, NCLS};
    const int64_t dw1[4] = {C1, C_IN, 3, 3}, dwd[4] = {C1, 1, 3, 3}, dw2[4] = {C2, C1, 1, 1}, db1[1] = {C1},
                  dwg[2] = {NCLS, C2 * H * W}, dbg[1] = {NCLS};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, dx);
    int32_t W1 = rand_const(g, "w1", 4, dw1, 0.4f), B1 = rand_const(g, "b1", 1, db1, 0.2f);
    int32_t WD = rand_const(g, "wd", 4, dwd, 0.6f), W2 = rand_const(g, "w2", 4, dw2, 0.5f);
    int32_t WG = rand_const(g, "wg", 2, dwg, 0.05f), BG = rand_const(g, "bg", 1, dbg, 0.1f);
    int32_t c1 = tensor(g, "c1", FGQ_TK_INTERMEDIATE, 4, d1), cd = tensor(g, "cd", FGQ_TK_INTERMEDIATE, 4, d1);
    int32_t c2 = tensor(g, "c2", FGQ_TK_INTERMEDIATE, 4, d2), f = tensor(g, "f", FGQ_TK_INTERMEDIATE, 2, df);
    int32_t y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 2, dy);
    const int32_t in1[3] = {x, W1, B1}, ind[2] = {c1, WD}, in2[2] = {cd, W2}, ing[3] = {f, WG, BG};
    const int64_t pads[4] = {1, 1, 1, 1};
    int32_t n1 = node(g, "conv1", "Conv", 3, in1, c1);
    attr_ints(g, n1, "pads", 4, pads);
    add_attr(g, n1, FGQ_ATTR_ACT, FGQ_ATTR_INT)->i = FGQ_ACT_RELU;
    int32_t nd = node(g, "dw", "Conv", 2, ind, cd);
    attr_ints(g, nd, "pads", 4, pads);
    add_attr(g, nd, "group", FGQ_ATTR_INT)->i = C1;
    add_attr(g, nd, FGQ_ATTR_ACT, FGQ_ATTR_INT)->i = FGQ_ACT_RELU;
    node(g, "conv2", "Conv", 2, in2, c2);
    node(g, "flat", "Flatten", 1, &c2, f);
    int32_t ng = node(g, "fc", "Gemm", 3, ing, y);
    add_attr(g, ng, "transB", FGQ_ATTR_INT)->i = 1;
    set_io(g, 1, &x, 1, &y);
    return g;
}

static void *alloc64(uint64_t n) { return aligned_alloc(64, (size_t)((n + 64) & ~(uint64_t)63)); }

/* One run in `size` bytes of a fresh garbage-filled arena; y is prefilled with 0x5A. */
static fgq_status run_in(const fgq_model *m, uint64_t size, const fgq_parallel *par, const float *x, float *y,
                         fgq_error *err)
{
    uint8_t *arena = alloc64(size);
    memset(arena, 0xA5, (size_t)size);
    memset(y, 0x5A, NCLS * sizeof(float));
    const void *ins[1] = {x};
    void *outs[1] = {y};
    fgq_error_clear(err);
    fgq_status st = fgq_model_run_parallel(m, arena, size, ins, outs, NULL, NULL, par, err);
    free(arena);
    return st;
}

/* The model in buf loaded for each target profile: this build's gives m's figures. */
static void check_targets(const fgq_model *m, const uint8_t *buf, uint64_t size, const char *policy, const float *x)
{
    fgq_error err;
    fgq_error_clear(&err);
    const fgq_target *build = fgq_target_build(), *mcu = fgq_target_find("cortex-m");
    CHECK(build != NULL && fgq_target_find("host") == build && fgq_target_find(build->name) == build);
    CHECK(mcu != NULL && fgq_target_find("x86-64") != NULL && fgq_target_find("aarch64") != NULL);
    CHECK(fgq_target_find("cortex-m4") == NULL && fgq_target_find("") == NULL && fgq_target_find(NULL) == NULL);
    CHECK(fgq_target_at(-1) == NULL && fgq_target_at(3) == NULL);
    static fgq_model t, x86; /* ~4 KB each */
    CHECK(fgq_model_load_target(&x86, buf, size, fgq_target_find("x86-64"), &err) == FGQ_OK);
    for (int32_t i = 0; fgq_target_at(i) != NULL; i++) {
        const fgq_target *tg = fgq_target_at(i);
        CHECK_MSG(fgq_model_load_target(&t, buf, size, tg, &err) == FGQ_OK, "%s %s: %s", policy, tg->name, err.msg);
        CHECK(fgq_model_activation_size(&t) == fgq_model_activation_size(m));
        CHECK(fgq_model_arena_lower_bound(&t) == fgq_model_arena_lower_bound(m));
        /* x86-64's tiles and paths are the largest: its figure bounds every other (export --help says so) */
        CHECK_MSG(fgq_model_arena_size(&t) <= fgq_model_arena_size(&x86), "%s: %s needs more than x86-64", policy,
                  tg->name);
        if (tg == build) {
            CHECK_MSG(fgq_model_scratch_size(&t) == fgq_model_scratch_size(m) &&
                          fgq_model_arena_size(&t) == fgq_model_arena_size(m) &&
                          fgq_model_arena_size_threads(&t, 3) == fgq_model_arena_size_threads(m, 3),
                      "%s: the %s profile gives %llu, load %llu", policy, tg->name,
                      (unsigned long long)fgq_model_arena_size(&t), (unsigned long long)fgq_model_arena_size(m));
        }
    }
#if defined(__x86_64__)
    CHECK(build == fgq_target_find("x86-64"));
#endif
    /* the Cortex-M tiles are smaller than the x86-64 ones, and the x86 ternary decode is absent */
    CHECK(fgq_model_load_target(&t, buf, size, mcu, &err) == FGQ_OK);
    CHECK_MSG(fgq_model_scratch_size(&t) > 0 && fgq_model_scratch_size(&t) < fgq_model_scratch_size(&x86),
              "%s: cortex-m slice %llu, x86-64 %llu", policy, (unsigned long long)fgq_model_scratch_size(&t),
              (unsigned long long)fgq_model_scratch_size(&x86));
    CHECK(fgq_model_load_target(&t, buf, size, NULL, &err) == FGQ_ERR_VALUE);
    /* only the runtime's own profiles: a copy of a valid one is refused (the ops would trust
     * its tiles: 0 positions divides by zero), the record left empty, so it does not run */
    fgq_target copy = *build;
    fgq_error_clear(&err);
    CHECK(fgq_model_load_target(&t, buf, size, &copy, &err) == FGQ_ERR_VALUE);
    CHECK_MSG(strstr(err.msg, "fgq_model_load_target:") == err.msg && strstr(err.msg, "profiles") != NULL, "%s",
              err.msg);
    copy.qconv_tile_positions = 0;
    copy.qconv_tile_bytes = INT32_MAX;
    CHECK(fgq_model_load_target(&t, buf, size, &copy, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_model_target(&t) == NULL);
    float y0[NCLS];
    CHECK(run_in(&t, fgq_model_arena_size(m), NULL, x, y0, &err) == FGQ_ERR_VALUE);
    /* fgq_model_load's messages name it, _target's name _target */
    fgq_error_clear(&err);
    CHECK(fgq_model_load_target(&t, buf + 1, size - 1, build, &err) == FGQ_ERR_VALUE);
    CHECK_MSG(strstr(err.msg, "fgq_model_load_target: buffer") == err.msg, "%s", err.msg);
    fgq_error_clear(&err);
    CHECK(fgq_model_load(&t, buf + 1, size - 1, &err) == FGQ_ERR_VALUE);
    CHECK_MSG(strstr(err.msg, "fgq_model_load: buffer") == err.msg, "%s", err.msg);
    /* a record sized for another build does not run here */
    const fgq_target *other = build == mcu ? fgq_target_find("x86-64") : mcu;
    CHECK(fgq_model_load_target(&t, buf, size, other, &err) == FGQ_OK);
    float y[NCLS];
    const uint64_t big = fgq_model_arena_size(&x86) + fgq_model_arena_size(m);
    CHECK(run_in(&t, big, NULL, x, y, &err) == FGQ_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, other->name) != NULL && strstr(err.msg, build->name) != NULL &&
                  strstr(err.msg, "fgq_model_load") != NULL,
              "%s", err.msg);
    /* the message's two names differ: every profile has its own (run.c compares pointers) */
    for (int32_t i = 0; fgq_target_at(i) != NULL; i++)
        for (int32_t j = 0; j < i; j++)
            CHECK(strcmp(fgq_target_at(i)->name, fgq_target_at(j)->name) != 0);
}

static void check_policy(const char *policy, fgq_threadpool *pool)
{
    fgq_graph *fg = build();
    float *calib = malloc((size_t)NSAMP * C_IN * H * W * sizeof(float));
    for (int i = 0; i < NSAMP * C_IN * H * W; i++)
        calib[i] = frand(-1.0f, 2.0f);
    fgq_quant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_policy_parse(policy, &cfg.weights, &err) == FGQ_OK);
    fgq_calib c;
    fgq_graph *qg = NULL;
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_samples s = samples_of(fg, calib, NSAMP);
    fgq_status st = fgq_calib_init(&c, fg, &err);
    if (st == FGQ_OK)
        st = fgq_calib_run(&c, fg, &s, NULL, NULL, &err);
    if (st == FGQ_OK)
        st = fgq_quantize_graph(fg, &c, &cfg, &qg, &rep, &n_rep, &err);
    fgq_calib_free(&c);
    CHECK_MSG(st == FGQ_OK && qg != NULL, "%s: %s", policy, err.msg);
    uint8_t *buf = NULL;
    uint64_t size = 0;
    fgq_model m;
    if (st == FGQ_OK)
        st = fgq_write_model(qg, &buf, &size, &err);
    if (st == FGQ_OK)
        st = fgq_model_load(&m, buf, size, &err);
    CHECK_MSG(st == FGQ_OK, "%s: %s", policy, err.msg);
    if (st == FGQ_OK) {
        /* the model is integer: three QCONV nodes, the depthwise one among them */
        int n_qconv = 0, n_dw = 0;
        for (int32_t j = 0; j < fgq_model_n_nodes(&m); j++) {
            fgq_node_info ni;
            fgq_model_node_info(&m, j, &ni);
            n_qconv += ni.op == FGQ_OP_QCONV;
            n_dw += ni.op == FGQ_OP_QCONV && ni.iparams[FGQ_P_GROUP] == C1;
        }
        CHECK_MSG(n_qconv == 3 && n_dw == 1, "%s: %d QCONV, %d depthwise", policy, n_qconv, n_dw);
        /* the convs declare scratch; the arena is activations + records + slices */
        const uint64_t slice = fgq_model_scratch_size(&m), one = fgq_model_arena_size(&m);
        const uint64_t two = fgq_model_arena_size_threads(&m, 2);
        CHECK_MSG(slice > 0 && slice % 64 == 0, "%s: slice %llu", policy, (unsigned long long)slice);
        CHECK(one == fgq_model_arena_size_threads(&m, 1) && one == fgq_model_arena_size_threads(&m, 0));
        CHECK(one > fgq_model_activation_size(&m) + slice && two == one + slice);

        float *x = calib + 3 * C_IN * H * W, y1[NCLS], y[NCLS], yr[NCLS];
        /* exactly the declared bytes */
        CHECK_MSG(run_in(&m, one, NULL, x, y1, &err) == FGQ_OK, "%s: %s", policy, err.msg);
        /* one byte short: refused before anything runs, with the sizes in the message */
        CHECK(run_in(&m, one - 1, NULL, x, y, &err) == FGQ_ERR_NOMEM);
        CHECK_MSG(strstr(err.msg, "scratch") != NULL, "%s", err.msg);
        /* an arena from a header exported for a smaller build: the message names the export this one needs */
        char hint[64];
        snprintf(hint, sizeof hint, "export with --target %s", fgq_target_build()->name);
        CHECK_MSG(strstr(err.msg, hint) != NULL, "%s", err.msg);
        CHECK(((const uint8_t *)y)[0] == 0x5A);
        /* two threads: a slice each, the same bytes */
        const fgq_parallel *par = fgq_threadpool_parallel(pool);
        CHECK_MSG(run_in(&m, two, par, x, y, &err) == FGQ_OK, "%s: %s", policy, err.msg);
        CHECK_MSG(memcmp(y, y1, sizeof y) == 0, "%s: 2 threads differ from 1", policy);
        CHECK(run_in(&m, two - 1, par, x, y, &err) == FGQ_ERR_NOMEM);
        /* the reference kernels: the same bytes */
        fgq_parallel ref = {NULL, 1, NULL, FGQ_KERNELS_REF};
        CHECK_MSG(run_in(&m, one, &ref, x, yr, &err) == FGQ_OK, "%s: %s", policy, err.msg);
        CHECK_MSG(memcmp(yr, y1, sizeof yr) == 0, "%s: reference kernels differ", policy);
        /* the graph runner (tools/, CLI, Python) sizes its own arena: the same bytes */
        fgq_graph_runner r;
        CHECK(fgq_graph_runner_init(&r, qg, &err) == FGQ_OK);
        float *yo = y;
        const float *xi = x;
        CHECK(fgq_graph_runner_set_threads(&r, 2, &err) == FGQ_OK && r.arena_size == two);
        CHECK_MSG(fgq_graph_runner_run(&r, &xi, &yo, NULL, NULL, &err) == FGQ_OK, "%s", err.msg);
        CHECK(memcmp(y, y1, sizeof y) == 0);
        fgq_graph_runner_free(&r);
        check_targets(&m, buf, size, policy, x);
    }
    free(buf);
    free(rep);
    fgq_graph_free(qg);
    fgq_graph_free(fg);
    free(calib);
}

/* This build's profile says what its kernels are: the conditions below are the kernels' own
 * #ifs (qconv.c's packed path, qdyn.c's QDYN_FAST, conv_f32_gemm.c's CONV_GEMM_X86,
 * qgemm_dispatch.h's x86 kernels and their t2/s4 decode), copied, so a build whose
 * kernels and profile disagree fails here rather than in a firmware's arena. */
static void test_build_profile(void)
{
    const fgq_target *b = fgq_target_build();
    CHECK(b != NULL && b->view_bytes >= (int32_t)sizeof(fgq_tensor_view));
#if defined(__x86_64__) || defined(__i386__)
    CHECK(b == fgq_target_find("x86-64"));
    CHECK(b->qconv_packed == 1 && b->qgemm_decode_bytes == FGQ_QGEMM_DECODE_BYTES && b->conv_f32_panels == 1);
#else
    CHECK(b->qconv_packed == 0 && b->qgemm_decode_bytes == 0 && b->conv_f32_panels == 0);
#endif
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    CHECK(b->qdyn_fast > 0);
#else
    CHECK(b->qdyn_fast == 0);
#endif
#if defined(__aarch64__)
    CHECK(b == fgq_target_find("aarch64"));
#elif !defined(__x86_64__) && !defined(__i386__)
    CHECK(b == fgq_target_find("cortex-m"));
#endif
    /* the x86 kernels' figures belong to the x86-64 profile alone, wherever this runs */
    for (int32_t i = 0; fgq_target_at(i) != NULL; i++) {
        const fgq_target *t = fgq_target_at(i);
        const int x86 = t == fgq_target_find("x86-64");
        CHECK_MSG(t->qconv_packed == x86 && t->conv_f32_panels == x86 && (t->qconv_dw_flat_bytes > 0) == x86 &&
                      t->qgemm_decode_bytes == (x86 ? FGQ_QGEMM_DECODE_BYTES : 0),
                  "%s", t->name);
    }
}

/* Every number of the x86-64 profile is at least every other profile's (export --help: its
 * arena bounds the others'). The list names each int32 field; the asserts fail the build
 * when a field is added and not listed. */
#define TARGET_FIELD(f) {#f, offsetof(fgq_target, f)}
static const struct {
    const char *name;
    size_t off;
} k_target_fields[] = {
    TARGET_FIELD(qconv_tile_bytes),   TARGET_FIELD(qconv_tile_positions), TARGET_FIELD(qconv_tile_channels),
    TARGET_FIELD(qconv_pad_bytes),    TARGET_FIELD(qconv_packed),         TARGET_FIELD(qconv_dw_max_k),
    TARGET_FIELD(qconv_dw_max_plane), TARGET_FIELD(qconv_dw_max_padded),  TARGET_FIELD(qconv_dw_flat_bytes),
    TARGET_FIELD(qgemm_block_rows),   TARGET_FIELD(qgemm_decode_bytes),   TARGET_FIELD(qdyn_fast),
    TARGET_FIELD(conv_f32_panels),    TARGET_FIELD(qgemm_wsum),           TARGET_FIELD(view_bytes),
};
_Static_assert(offsetof(fgq_target, view_bytes) + sizeof(int32_t) - offsetof(fgq_target, qconv_tile_bytes) ==
                   sizeof k_target_fields / sizeof k_target_fields[0] * sizeof(int32_t),
               "k_target_fields must list every field of fgq_target");
_Static_assert(sizeof(fgq_target) - (offsetof(fgq_target, view_bytes) + sizeof(int32_t)) < _Alignof(fgq_target),
               "view_bytes must stay fgq_target's last field, or k_target_fields must list the new ones");

static void test_x86_profile_bounds_all(void)
{
    const fgq_target *x86 = fgq_target_find("x86-64");
    CHECK(x86 != NULL);
    if (x86 == NULL)
        return;
    for (int32_t i = 0; fgq_target_at(i) != NULL; i++)
        for (size_t f = 0; f < sizeof k_target_fields / sizeof k_target_fields[0]; f++) {
            int32_t vx, vt;
            memcpy(&vx, (const char *)x86 + k_target_fields[f].off, sizeof vx);
            memcpy(&vt, (const char *)fgq_target_at(i) + k_target_fields[f].off, sizeof vt);
            CHECK_MSG(vx >= vt, "%s: x86-64 %ld < %s %ld", k_target_fields[f].name, (long)vx, fgq_target_at(i)->name,
                      (long)vt);
        }
}

static fgq_threadpool *g_pool;
static void test_s8(void) { check_policy("s8", g_pool); }
static void test_ternary(void) { check_policy("ternary:g4", g_pool); }
/* s4 takes the t2 decode buffer on x86 (qgemm_dispatch.h) and the packed conv where VNNI fits */
static void test_s4(void)
{
    check_policy("s4:g32", g_pool);
    check_policy("s4", g_pool);
}

static void test_slices(void)
{
    enum { NEED = 100, SLICES = 3 };
    const uint64_t stride = fgq_scratch_stride(NEED);
    uint8_t *buf = aligned_alloc(64, SLICES * stride);
    if (buf == NULL)
        return;
    memset(buf, 0xA5, SLICES * stride);
    fgq_node_view node = { .name = "n", .name_len = 1, .scratch = buf, .scratch_stride = stride, .n_scratch = SLICES };
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_scratch_begin(&node, NEED, &err) == FGQ_OK);
    for (int32_t i = 0; i < SLICES; i++)
        for (int32_t k = 0; k < FGQ_SCRATCH_MEMOS; k++)
            CHECK(fgq_scratch_memo(&node, i)[k] == -1);
    /* the share of task b of 9 over 3 slices: 0-2, 3-5, 6-8 */
    int32_t slot = -1;
    uint8_t *p = fgq_scratch_claim_for(&node, 4, 9, &slot);
    CHECK(slot == 1 && p == buf + stride + FGQ_SCRATCH_HEADER);
    fgq_scratch_memo(&node, slot)[2] = 77;
    int32_t other = -1;
    (void)fgq_scratch_claim_for(&node, 5, 9, &other); /* slice 1 held: the next free one */
    CHECK(other == 2 && fgq_scratch_memo(&node, other)[2] == -1);
    fgq_scratch_release(&node, slot);
    int32_t again = -1;
    (void)fgq_scratch_claim_for(&node, 3, 9, &again);
    CHECK(again == 1 && fgq_scratch_memo(&node, again)[2] == 77); /* what the last holder left */
    int32_t first = -1;
    (void)fgq_scratch_claim_for(&node, 8, 9, &first); /* slices 1 and 2 held: wraps to 0 */
    CHECK(first == 0);
    int32_t last = -1;
    fgq_scratch_release(&node, first);
    fgq_scratch_release(&node, other);
    (void)fgq_scratch_claim_for(&node, 8, 9, &last);
    CHECK(last == 2);
    int32_t zero = -1;
    (void)fgq_scratch_claim_for(&node, 0, 9, &zero);
    CHECK(zero == 0);
    fgq_scratch_release(&node, zero);
    fgq_scratch_release(&node, last);
    fgq_scratch_release(&node, again);
    /* 7 tasks over 3: the pool's shares 0-2, 3-4, 5-6 (the first n mod 3 one longer) */
    static const int32_t share7[7] = { 0, 0, 0, 1, 1, 2, 2 };
    for (int64_t b = 0; b < 7; b++) {
        int32_t s7 = -1;
        (void)fgq_scratch_claim_for(&node, b, 7, &s7);
        CHECK_MSG(s7 == share7[b], "task %d of 7: slice %d, want %d", (int)b, (int)s7, (int)share7[b]);
        fgq_scratch_release(&node, s7);
    }
    int32_t s2 = -1;
    (void)fgq_scratch_claim_for(&node, 1, 2, &s2); /* fewer tasks than slices: one a share */
    CHECK(s2 == 1);
    fgq_scratch_release(&node, s2);
    CHECK(fgq_scratch_begin(&node, NEED, &err) == FGQ_OK); /* the next run: everything forgotten */
    CHECK(fgq_scratch_memo(&node, 1)[2] == -1);
    node.scratch = buf + 8; /* misaligned: refused, nothing written */
    CHECK(fgq_scratch_begin(&node, NEED, &err) == FGQ_ERR_NOMEM);
    free(buf);
}

int main(void)
{
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(2, &g_pool, &err) == FGQ_OK);
    RUN(test_slices);
    RUN(test_build_profile);
    RUN(test_x86_profile_bounds_all);
    RUN(test_s8);
    RUN(test_ternary);
    RUN(test_s4);
    fgq_threadpool_destroy(g_pool);
    return FGQ_TEST_DONE();
}
