/*
 * test_parallel_ops.c — the kernels that split their output over threads
 * (Conv, Gemm, MatMul, MaxPool, AveragePool, GlobalAveragePool, and the
 * elementwise Add/Sub/Mul/Div with broadcasting and a fused activation).
 *
 * Oracle: the same node run serially (node.par = NULL). With a real pool of
 * 1, 2, 3 and 4 threads, and with a provider that forces chunks of 1 or 3
 * units while claiming 2..8 threads (so rows are cut across planes and Gemm's
 * columns into blocks even on small shapes), the output must be bit-identical
 * (memcmp) to the serial one, on random shapes including M = 1, N = 1,
 * depthwise and grouped Conv, 1-D/3-D windows and broadcast batches. Output
 * buffers start as garbage, so an element no chunk writes is caught too.
 * That the serial kernels themselves are right is test_ops_*.c's job.
 */
#include "test_ops_common.h"
#include "threadpool.h"

#include <stdlib.h>

/* A provider over a real pool that lies about its width and/or forces the
 * chunk size, to exercise every way a kernel may be cut. */
typedef struct {
    fgq_parallel par;
    const fgq_parallel *inner;
    int64_t force_grain; /* 0: the kernel's grain */
} split_provider;

static void split_parallel_for(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    const split_provider *sp = (const split_provider *)impl;
    sp->inner->parallel_for(sp->inner->impl, n, sp->force_grain > 0 ? sp->force_grain : grain, fn, ctx);
}

static fgq_threadpool *g_pools[5]; /* test binary only: pools of 1..4 threads, made once in main */

#define MAX_IN 3

/* Runs `nd` serially, then under every provider; CHECKs bit-identity. */
static void check_all_splits(const char *what, tnode *nd, const fgq_tensor_view *const *in, fgq_tensor_view *y)
{
    fgq_error err;
    fgq_status st = op_check(nd, in, y, &err);
    CHECK_MSG(st == FGQ_OK, "%s: check failed: %s", what, err.msg);
    if (st != FGQ_OK)
        return;
    const size_t bytes = (size_t)tnumel(y) * sizeof(float);
    float *ref = malloc(bytes ? bytes : 1), *got = malloc(bytes ? bytes : 1);
    if (ref == NULL || got == NULL) {
        CHECK(!"out of memory");
        free(ref);
        free(got);
        return;
    }
    const fgq_tensor_view *out[1] = { y };
    memset(ref, 0xA5, bytes);
    y->data = ref;
    nd->v.par = NULL;
    CHECK(op_run_view(&nd->v, in, out, &err) == FGQ_OK);

    y->data = got;
    for (int t = 1; t <= 4; t++) {
        memset(got, 0x5A, bytes);
        nd->v.par = fgq_threadpool_parallel(g_pools[t]);
        CHECK(op_run_view(&nd->v, in, out, &err) == FGQ_OK);
        CHECK_MSG(memcmp(ref, got, bytes) == 0, "%s: %d threads differ from the serial run", what, t);
    }
    static const int32_t claims[] = { 2, 3, 4, 8 };
    static const int64_t grains[] = { 1, 3 };
    for (size_t c = 0; c < sizeof claims / sizeof claims[0]; c++) {
        for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
            split_provider sp = { { NULL, claims[c], split_parallel_for, FGQ_KERNELS_AUTO }, fgq_threadpool_parallel(g_pools[4]),
                                  grains[g] };
            sp.par.impl = &sp;
            memset(got, 0x5A, bytes);
            nd->v.par = &sp.par;
            CHECK(op_run_view(&nd->v, in, out, &err) == FGQ_OK);
            CHECK_MSG(memcmp(ref, got, bytes) == 0, "%s: claiming %d threads, chunks of %lld differ from serial",
                      what, (int)claims[c], (long long)grains[g]);
        }
    }
    nd->v.par = NULL;
    free(ref);
    free(got);
}

static int64_t rnd(uint32_t *s, int64_t lo, int64_t hi) /* uniform-ish in [lo, hi] */
{
    trand(s);
    return lo + (int64_t)(*s % (uint32_t)(hi - lo + 1));
}

static float *rand_buf(int64_t n, uint32_t *s)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (p != NULL)
        tfill(p, n, s);
    return p;
}

/* ---- Conv ------------------------------------------------------------------ */

static void conv_case_run(uint32_t *s, int ns, int64_t n, int64_t c, int64_t m, int64_t group)
{
    tnode nd;
    const int bias = (int)rnd(s, 0, 1);
    tnode_init(&nd, FGQ_OP_CONV, bias ? 3 : 2);
    nd.ip[FGQ_P_NSPATIAL] = ns;
    nd.ip[FGQ_P_GROUP] = (int32_t)group;
    nd.ip[FGQ_P_ACT] = (int32_t)rnd(s, 0, 2);
    nd.fp[FGQ_PF_ACT0] = -0.5f;
    nd.fp[FGQ_PF_ACT1] = 0.75f;
    int64_t xd[5] = { n, c }, wd[5] = { m, c / group }, yd[5] = { n, m };
    for (int i = 0; i < ns; i++) {
        const int64_t k = rnd(s, 1, 3), st = rnd(s, 1, 2), d = rnd(s, 1, 2);
        const int64_t pb = rnd(s, 0, k - 1), pe = rnd(s, 0, k - 1);
        const int64_t ext = d * (k - 1) + 1;
        int64_t in = ext - pb - pe + rnd(s, 0, ns == 3 ? 3 : 9);
        if (in < 1)
            in = 1;
        if (in + pb + pe < ext)
            in = ext - pb - pe;
        nd.ip[FGQ_P_KERNEL + i] = (int32_t)k;
        nd.ip[FGQ_P_STRIDE + i] = (int32_t)st;
        nd.ip[FGQ_P_DILATION + i] = (int32_t)d;
        nd.ip[FGQ_P_PAD_BEGIN + i] = (int32_t)pb;
        nd.ip[FGQ_P_PAD_END + i] = (int32_t)pe;
        xd[2 + i] = in;
        wd[2 + i] = k;
        yd[2 + i] = (in + pb + pe - ext) / st + 1;
    }
    fgq_tensor_view xv = tview(NULL, ns + 2, xd), wv = tview(NULL, ns + 2, wd), bv = tview(NULL, 1, &m);
    fgq_tensor_view yv = tview(NULL, ns + 2, yd);
    xv.data = rand_buf(tnumel(&xv), s);
    wv.data = rand_buf(tnumel(&wv), s);
    bv.data = rand_buf(m, s);
    const fgq_tensor_view *in[MAX_IN] = { &xv, &wv, bias ? &bv : NULL };
    char what[96];
    snprintf(what, sizeof what, "conv %dD n%lld c%lld m%lld g%lld", ns, (long long)n, (long long)c, (long long)m,
             (long long)group);
    if (xv.data && wv.data && bv.data)
        check_all_splits(what, &nd, in, &yv);
    free(xv.data);
    free(wv.data);
    free(bv.data);
}

static void test_conv_bit_identical(void)
{
    uint32_t s = 12345;
    for (int it = 0; it < 40; it++) {
        const int ns = it % 5 == 4 ? 3 : it % 5 == 3 ? 1 : 2;
        const int64_t n = rnd(&s, 1, 2);
        switch (it % 4) {
        case 0: { /* dense */
            conv_case_run(&s, ns, n, rnd(&s, 1, 5), rnd(&s, 1, 9), 1);
            break;
        }
        case 1: { /* depthwise */
            const int64_t c = rnd(&s, 1, 12);
            conv_case_run(&s, ns, n, c, c, c);
            break;
        }
        case 2: { /* grouped, with a channel multiplier */
            const int64_t g = rnd(&s, 2, 3);
            conv_case_run(&s, ns, n, g * rnd(&s, 1, 3), g * rnd(&s, 1, 3), g);
            break;
        }
        default: /* one output channel: only rows can be split */
            conv_case_run(&s, ns, n, rnd(&s, 1, 4), 1, 1);
        }
    }
    /* Large enough that the kernel's own grain splits it on a real pool. */
    conv_case_run(&s, 2, 1, 16, 32, 1);
    conv_case_run(&s, 2, 1, 64, 64, 64);
}

/* ---- Gemm ------------------------------------------------------------------ */

static void gemm_case_run(uint32_t *s, int64_t m, int64_t k, int64_t n)
{
    tnode nd;
    const int c_kind = (int)rnd(s, 0, 4); /* none, scalar, [n], [m,1], [m,n] */
    tnode_init(&nd, FGQ_OP_GEMM, c_kind ? 3 : 2);
    const int32_t ta = (int32_t)rnd(s, 0, 1), tb = (int32_t)rnd(s, 0, 1);
    nd.ip[FGQ_P_TRANS_A] = ta;
    nd.ip[FGQ_P_TRANS_B] = tb;
    nd.ip[FGQ_P_GEMM_ACT] = (int32_t)rnd(s, 0, 2);
    nd.fp[FGQ_PF_ALPHA] = rnd(s, 0, 1) ? 1.0f : 0.7f;
    nd.fp[FGQ_PF_BETA] = rnd(s, 0, 1) ? 1.0f : -1.3f;
    nd.fp[FGQ_PF_ACT0] = -0.5f;
    nd.fp[FGQ_PF_ACT1] = 0.75f;
    const int64_t ad[2] = { ta ? k : m, ta ? m : k }, bd[2] = { tb ? n : k, tb ? k : n }, yd[2] = { m, n };
    int64_t cd[2] = { m, n };
    int32_t crank = 2;
    if (c_kind == 1)
        crank = 0;
    else if (c_kind == 2) {
        crank = 1;
        cd[0] = n;
    } else if (c_kind == 3)
        cd[1] = 1;
    fgq_tensor_view av = tview(NULL, 2, ad), bv = tview(NULL, 2, bd), cv = tview(NULL, crank, cd);
    fgq_tensor_view yv = tview(NULL, 2, yd);
    av.data = rand_buf(m * k, s);
    bv.data = rand_buf(k * n, s);
    cv.data = rand_buf(tnumel(&cv), s);
    const fgq_tensor_view *in[MAX_IN] = { &av, &bv, c_kind ? &cv : NULL };
    char what[96];
    snprintf(what, sizeof what, "gemm m%lld k%lld n%lld ta%d tb%d C%d", (long long)m, (long long)k, (long long)n,
             (int)ta, (int)tb, c_kind);
    if (av.data && bv.data && cv.data)
        check_all_splits(what, &nd, in, &yv);
    free(av.data);
    free(bv.data);
    free(cv.data);
}

static void test_gemm_bit_identical(void)
{
    uint32_t s = 777;
    static const int64_t ms[] = { 1, 2, 3, 9 }, ks[] = { 1, 5, 33 }, ns[] = { 1, 2, 17, 70 };
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 3; j++)
            for (size_t l = 0; l < 4; l++)
                gemm_case_run(&s, ms[i], ks[j], ns[l]);
    gemm_case_run(&s, 1, 256, 1000); /* a batch-1 classifier: only columns can be split */
    gemm_case_run(&s, 64, 128, 1);   /* N = 1: only rows */
    gemm_case_run(&s, 40, 64, 96);
}

/* ---- MatMul ---------------------------------------------------------------- */

static void matmul_case_run(uint32_t *s, int32_t ra, const int64_t *ad, int32_t rb, const int64_t *bd, int32_t ry,
                            const int64_t *yd)
{
    tnode nd;
    tnode_init(&nd, FGQ_OP_MATMUL, 2);
    nd.ip[0] = (int32_t)rnd(s, 0, 2);
    nd.fp[FGQ_PF_ACT0] = -0.5f;
    nd.fp[FGQ_PF_ACT1] = 0.75f;
    fgq_tensor_view av = tview(NULL, ra, ad), bv = tview(NULL, rb, bd), yv = tview(NULL, ry, yd);
    av.data = rand_buf(tnumel(&av), s);
    bv.data = rand_buf(tnumel(&bv), s);
    const fgq_tensor_view *in[MAX_IN] = { &av, &bv, NULL };
    char what[96];
    snprintf(what, sizeof what, "matmul rank %d x rank %d -> %lld elements", (int)ra, (int)rb,
             (long long)tnumel(&yv));
    if (av.data && bv.data)
        check_all_splits(what, &nd, in, &yv);
    free(av.data);
    free(bv.data);
}

static void test_matmul_bit_identical(void)
{
    uint32_t s = 4242;
    for (int it = 0; it < 24; it++) {
        const int64_t m = it % 3 == 0 ? 1 : rnd(&s, 1, 7), k = rnd(&s, 1, 40);
        const int64_t n = it % 5 == 0 ? 1 : rnd(&s, 1, 80);
        const int64_t b0 = rnd(&s, 1, 3), b1 = rnd(&s, 1, 2);
        /* [b0, b1, m, k] x [b1, k, n] (B broadcast along axis 0) */
        const int64_t a4[4] = { b0, b1, m, k }, b3[3] = { b1, k, n }, y4[4] = { b0, b1, m, n };
        matmul_case_run(&s, 4, a4, 3, b3, 4, y4);
        /* [m, k] x [b0, k, n] (A broadcast) */
        const int64_t a2[2] = { m, k }, b3b[3] = { b0, k, n }, y3[3] = { b0, m, n };
        matmul_case_run(&s, 2, a2, 3, b3b, 3, y3);
        /* 1-D A: [k] x [k, n] -> [n]; 1-D B: [m, k] x [k] -> [m] */
        const int64_t a1[1] = { k }, b2[2] = { k, n }, y1[1] = { n };
        matmul_case_run(&s, 1, a1, 2, b2, 1, y1);
        const int64_t b1d[1] = { k }, y1m[1] = { m };
        matmul_case_run(&s, 2, a2, 1, b1d, 1, y1m);
    }
    const int64_t a[2] = { 1, 512 }, b[2] = { 512, 300 }, y[2] = { 1, 300 };
    matmul_case_run(&s, 2, a, 2, b, 2, y);
}

/* ---- pools ----------------------------------------------------------------- */

static void pool_case_run(uint32_t *s, fgq_op op, int ns, int64_t n, int64_t c)
{
    tnode nd;
    tnode_init(&nd, op, 1);
    nd.ip[FGQ_P_NSPATIAL] = ns;
    nd.ip[FGQ_P_COUNT_PAD] = op == FGQ_OP_AVGPOOL ? (int32_t)rnd(s, 0, 1) : 0;
    int64_t xd[5] = { n, c }, yd[5] = { n, c };
    for (int i = 0; i < ns; i++) {
        const int64_t k = rnd(s, 1, 3), st = rnd(s, 1, 2), d = op == FGQ_OP_MAXPOOL ? rnd(s, 1, 2) : 1;
        const int64_t ext = d * (k - 1) + 1;
        const int64_t pb = rnd(s, 0, ext - 1), pe = rnd(s, 0, ext - 1);
        int64_t in = ext - pb - pe + rnd(s, 0, ns == 3 ? 3 : 8);
        if (in < 1)
            in = 1;
        if (in + pb + pe < ext)
            in = ext - pb - pe;
        nd.ip[FGQ_P_KERNEL + i] = (int32_t)k;
        nd.ip[FGQ_P_STRIDE + i] = (int32_t)st;
        nd.ip[FGQ_P_DILATION + i] = (int32_t)d;
        nd.ip[FGQ_P_PAD_BEGIN + i] = (int32_t)pb;
        nd.ip[FGQ_P_PAD_END + i] = (int32_t)pe;
        xd[2 + i] = in;
        yd[2 + i] = (in + pb + pe - ext) / st + 1;
    }
    fgq_tensor_view xv = tview(NULL, ns + 2, xd), yv = tview(NULL, ns + 2, yd);
    xv.data = rand_buf(tnumel(&xv), s);
    const fgq_tensor_view *in[MAX_IN] = { &xv, NULL, NULL };
    char what[96];
    snprintf(what, sizeof what, "%s %dD n%lld c%lld", fgq_op_name(op), ns, (long long)n, (long long)c);
    if (xv.data)
        check_all_splits(what, &nd, in, &yv);
    free(xv.data);
}

static void test_pools_bit_identical(void)
{
    uint32_t s = 99;
    for (int it = 0; it < 30; it++) {
        const int ns = it % 5 == 4 ? 3 : it % 5 == 3 ? 1 : 2;
        pool_case_run(&s, it % 2 ? FGQ_OP_MAXPOOL : FGQ_OP_AVGPOOL, ns, rnd(&s, 1, 2), rnd(&s, 1, 9));
    }
    for (int it = 0; it < 8; it++) {
        tnode nd;
        tnode_init(&nd, FGQ_OP_GLOBAL_AVGPOOL, 1);
        const int64_t xd[4] = { rnd(&s, 1, 2), rnd(&s, 1, 40), rnd(&s, 1, 9), rnd(&s, 1, 9) };
        const int64_t yd[4] = { xd[0], xd[1], 1, 1 };
        fgq_tensor_view xv = tview(NULL, 4, xd), yv = tview(NULL, 4, yd);
        xv.data = rand_buf(tnumel(&xv), &s);
        const fgq_tensor_view *in[MAX_IN] = { &xv, NULL, NULL };
        if (xv.data)
            check_all_splits("GlobalAveragePool", &nd, in, &yv);
        free(xv.data);
    }
}

/* ---- Add / Sub / Mul / Div (broadcasting, a fused activation) ------------------ */

static void test_eltwise_bit_identical(void)
{
    uint32_t s = 1357u;
    static const fgq_op ops[4] = { FGQ_OP_ADD, FGQ_OP_SUB, FGQ_OP_MUL, FGQ_OP_DIV };
    for (int it = 0; it < 60; it++) {
        /* Y [d0, d1, d2, d3]; A the full shape or broadcast on some axes, B likewise (rank <= 4) */
        int64_t yd[4], ad[4], bd[4];
        for (int i = 0; i < 4; i++)
            yd[i] = rnd(&s, 1, i == 3 ? 70 : 9);
        const int mode = (int)rnd(&s, 0, 2); /* 0: equal shapes, 1: B per channel, 2: both broadcast */
        for (int i = 0; i < 4; i++) {
            ad[i] = mode == 2 && rnd(&s, 0, 2) == 0 ? 1 : yd[i];
            bd[i] = mode == 0 ? yd[i] : mode == 1 ? (i == 1 ? yd[1] : 1) : (ad[i] == 1 || rnd(&s, 0, 1) ? yd[i] : 1);
        }
        fgq_tensor_view av = tview(NULL, 4, ad), bv = tview(NULL, 4, bd), yv = tview(NULL, 4, yd);
        float *a = rand_buf(tnumel(&av), &s), *b = rand_buf(tnumel(&bv), &s);
        av.data = a;
        bv.data = b;
        tnode nd;
        tnode_init(&nd, ops[it % 4], 2);
        nd.ip[0] = (int32_t)rnd(&s, 0, 2); /* none, Relu, Clip */
        nd.fp[FGQ_PF_ACT0] = -0.5f;
        nd.fp[FGQ_PF_ACT1] = 0.75f;
        const fgq_tensor_view *in[2] = { &av, &bv };
        char what[96];
        snprintf(what, sizeof what, "eltwise op %d [%lld,%lld,%lld,%lld] mode %d", (int)nd.v.op, (long long)yd[0],
                 (long long)yd[1], (long long)yd[2], (long long)yd[3], mode);
        check_all_splits(what, &nd, in, &yv);
        free(a);
        free(b);
    }
}

int main(void)
{
    for (int t = 1; t <= 4; t++) {
        fgq_error err;
        if (fgq_threadpool_create(t, &g_pools[t], &err) != FGQ_OK) {
            fprintf(stderr, "cannot create a pool of %d threads: %s\n", t, err.msg);
            return 1;
        }
    }
    RUN(test_conv_bit_identical);
    RUN(test_gemm_bit_identical);
    RUN(test_matmul_bit_identical);
    RUN(test_pools_bit_identical);
    RUN(test_eltwise_bit_identical);
    for (int t = 1; t <= 4; t++)
        fgq_threadpool_destroy(g_pools[t]);
    return FGQ_TEST_DONE();
}
