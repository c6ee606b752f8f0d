/*
 * test_conv_f32_dw.c — the AVX2+FMA depthwise float convolution (runtime/ops/
 * conv_f32_dw.c) against its reference twin fgq_conv_f32_dw_ref (plain C, one
 * fmaf a tap over the zero-padded input): the same bytes (memcmp), since the
 * kernel keeps the twin's sequence per output element; and the twin within
 * float rounding of the direct loops of conv_f32.c (FGQ_KERNELS_REF, a
 * product and an add a tap): |twin − direct| <= 1e-5·(Σ|w·x| + |b|).
 *
 * Per case: (1) fgq_conv_f32_dw with no thread provider and with a 2-thread
 * pool both equal the twin's bytes; (2) the op under FGQ_KERNELS_AUTO gives
 * the twin's bytes where fgq_conv_f32_dw_fits takes the shape and the direct
 * loops' bytes elsewhere (the packed GEMM's shapes left to its own test). Shapes: 3x3 and
 * 5x5, stride 1 and 2, dilation 2, asymmetric and over-wide pads (no interior
 * position at all), a channel multiplier of 2, widths around the 8-wide
 * vector and the stride-2 read of 16, 1-D, batch 2, no bias, ReLU / Clip;
 * plus 300 random depthwise shapes. Inputs include zeros and negative zeros
 * (so a skipped tap and an added 0·w would differ in the sign of a zero).
 * The op runs with and without AVX-512F in the node's CPU features (the 16-lane rows of the padded
 * plane, 3x3 and 5x5 unrolled, and its flat form for narrow rows at stride 1; the 8-lane ones),
 * and over two threads in chunks of 1, 3 and 7 rows (ranges that start and end inside channels).
 * Where the CPU has no AVX2 the kernel is not run: reported skipped. And the padding's semantics
 * where the twin and the direct loops part (a −0 sum, an Inf weight on the padding), through the
 * padded plane (flat form, 16-lane and 8-lane rows) and the masked border blocks.
 */
#include "test_conv_common.h"

#include "ops/ops_f32.h"
#include "ops/qgemm_dispatch.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>

static fgq_threadpool *g_pool;
static int g_skipped, g_ran_fast;

/* A provider over the pool that forces the chunk size (rows of the (plane, row) space), so that
 * ranges start and end inside channels and span several. */
typedef struct {
    fgq_parallel par;
    const fgq_parallel *inner;
    fgq_idx grain;
} split_provider;

static void split_parallel_for(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    const split_provider *sp = (const split_provider *)impl;
    (void)grain;
    sp->inner->parallel_for(sp->inner->impl, n, sp->grain, fn, ctx);
}

static void run_case(const conv_case *cc, uint32_t seed)
{
    fgq_tensor_view x, w, b, y;
    conv_views(cc, &x, &w, &b, &y);
    const int64_t nx = tnumel(&x), nw = tnumel(&w), ny = tnumel(&y);
    float *buf = malloc(sizeof(float) * (size_t)(nx + nw + cc->m + 4 * ny));
    x.data = buf;
    w.data = buf + nx;
    b.data = buf + nx + nw;
    float *direct = buf + nx + nw + cc->m, *fast = direct + ny, *fast2 = fast + ny, *mag = fast2 + ny;
    /* the outputs the kernel writes under AUTO and the twin's, each an allocation of its own (ASan
     * sees a write past them) */
    float *op_auto = malloc(sizeof(float) * (size_t)ny), *twin = malloc(sizeof(float) * (size_t)ny);
    tfill(buf, nx + nw + cc->m, &seed);
    float *xd = x.data;
    for (int64_t i = 0; i < nx; i += 5) /* zeros of both signs */
        xd[i] = (i / 5) % 2 ? 0.0f : -0.0f;
    if (!cc->bias)
        for (int64_t i = 0; i < nx; i += 7)
            xd[i] = -0.0f;
    tnode nd;
    set_params(&nd, cc);
    const fgq_tensor_view *in[3] = { &x, &w, &b };

    fgq_parallel ref = { NULL, 1, NULL, FGQ_KERNELS_REF };
    nd.v.par = &ref;
    y.data = direct;
    CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
    nd.v.par = NULL;

    fgq_ops_spatial sp;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_ops_read_spatial(&nd.v, &x, &w, &y, 0, &sp, &err) == FGQ_OK);
    const int fits = fgq_conv_f32_dw_fits(&sp, cc->c / cc->group);
    const int has_avx2 = (fgq_cpu_features() & FGQ_CPU_AVX2) != 0;
    const float *bias = cc->bias ? b.data : NULL;
    /* the twin on every depthwise shape (plain C, any CPU), within rounding of the direct loops:
     * the scale Σ|w·x| + |b| is the twin on |x|, |w|, |b| without the activation */
    fgq_conv_f32_dw_ref(&nd.v, &sp, x.data, w.data, bias, twin, cc->n, cc->c, cc->m, cc->group);
    {
        float *ab = malloc(sizeof(float) * (size_t)(nx + nw + cc->m));
        for (int64_t i = 0; i < nx + nw + cc->m; i++)
            ab[i] = fabsf(buf[i]);
        const int32_t act = nd.ip[FGQ_P_ACT];
        nd.ip[FGQ_P_ACT] = 0;
        fgq_conv_f32_dw_ref(&nd.v, &sp, ab, ab + nx, cc->bias ? ab + nx + nw : NULL, mag, cc->n, cc->c, cc->m,
                            cc->group);
        nd.ip[FGQ_P_ACT] = act;
        free(ab);
        int64_t bad = 0;
        for (int64_t i = 0; i < ny; i++)
            bad += !(fabsf(twin[i] - direct[i]) <= 1e-5f * mag[i]);
        CHECK_MSG(bad == 0, "twin: %lld outputs past rounding of the direct loops", (long long)bad);
    }
    if (fits && has_avx2) {
        g_ran_fast++;
        fgq_conv_f32_dw(&nd.v, &sp, x.data, w.data, bias, fast, cc->n, cc->c, cc->m, cc->group);
        CHECK_MSG(memcmp(fast, twin, (size_t)ny * sizeof(float)) == 0,
                  "ns=%d c=%lld m=%lld in=%lldx%lld k=%lldx%lld s=%lld d=%lld pb=%lld pe=%lld: not the twin's bytes",
                  cc->ns, (long long)cc->c, (long long)cc->m, (long long)cc->in[0], (long long)cc->in[1],
                  (long long)cc->k[0], (long long)cc->k[1], (long long)cc->s[cc->ns - 1], (long long)cc->d[cc->ns - 1],
                  (long long)cc->pb[cc->ns - 1], (long long)cc->pe[cc->ns - 1]);
        nd.v.par = fgq_threadpool_parallel(g_pool);
        fgq_conv_f32_dw(&nd.v, &sp, x.data, w.data, bias, fast2, cc->n, cc->c, cc->m, cc->group);
        nd.v.par = NULL;
        CHECK_MSG(memcmp(fast2, twin, (size_t)ny * sizeof(float)) == 0, "2 threads: not the twin's bytes");
    } else if (fits) {
        g_skipped = 1;
    }
    /* the op under AUTO: the twin's bytes where the depthwise kernel takes the shape, the direct loops'
     * elsewhere; with its scratch declared
     * (the padded plane), on one thread and on two (ranges of rows split inside a channel); and with
     * AVX-512F masked out of the node's CPU features, so that on a CPU with it both the 16-lane
     * padded rows and the 8-lane ones are checked */
    const uint32_t cpus[2] = {0, (fgq_cpu_features() & ~(uint32_t)FGQ_CPU_AVX512F) | FGQ_CPU_QUERIED};
    for (int ci = 0; ci < 2; ci++)
        for (int threads = 1; threads <= 2; threads++) {
            nd.v.cpu = cpus[ci];
            nd.v.par = threads == 2 ? fgq_threadpool_parallel(g_pool) : NULL;
            y.data = op_auto;
            memset(op_auto, 0x5a, (size_t)ny * sizeof(float));
            CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
            if (!fgq_conv_f32_gemm_fits(&sp, cc->c / cc->group, cc->m / cc->group))
                CHECK_MSG(memcmp(op_auto, fits && has_avx2 ? twin : direct, (size_t)ny * sizeof(float)) == 0,
                          "AUTO depthwise conv (%d threads, cpu %#x) differs from its twin", threads,
                          (unsigned)cpus[ci]);
        }
    /* chunks of 1, 3 and 7 rows over two threads: ranges that start, end and turn inside channels */
    if (fits && has_avx2) {
        static const fgq_idx grains[] = {1, 3, 7};
        for (size_t gi = 0; gi < sizeof grains / sizeof grains[0]; gi++) {
            split_provider spv = {
                {NULL, 2, split_parallel_for, FGQ_KERNELS_AUTO}, fgq_threadpool_parallel(g_pool), grains[gi]};
            spv.par.impl = &spv;
            nd.v.cpu = 0;
            nd.v.par = &spv.par;
            y.data = op_auto;
            memset(op_auto, 0x5a, (size_t)ny * sizeof(float));
            CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
            CHECK_MSG(memcmp(op_auto, twin, (size_t)ny * sizeof(float)) == 0,
                      "chunks of %lld rows: not the twin's bytes", (long long)grains[gi]);
        }
    }
    nd.v.cpu = 0;
    nd.v.par = NULL;
    free(op_auto);
    free(twin);
    free(buf);
}

static conv_case dw2(int64_t c, int64_t mult, int64_t h, int64_t wd, int64_t k, int64_t s, int64_t d, int64_t pb,
                     int64_t pe, int bias, int act)
{
    conv_case cc;
    memset(&cc, 0, sizeof cc);
    cc.ns = 2;
    cc.n = 1;
    cc.c = c;
    cc.group = c;
    cc.m = c * mult;
    cc.in[0] = h, cc.in[1] = wd;
    cc.k[0] = cc.k[1] = k;
    cc.s[0] = cc.s[1] = s;
    cc.d[0] = cc.d[1] = d;
    cc.pb[0] = cc.pb[1] = pb;
    cc.pe[0] = cc.pe[1] = pe;
    cc.bias = bias;
    cc.act = act;
    return cc;
}

static void test_edge_shapes(void)
{
    conv_case cases[] = {
        dw2(8, 1, 16, 16, 3, 1, 1, 1, 1, 1, FGQ_ACT_CLIP), /* MobileNet 3x3 */
        dw2(8, 1, 17, 17, 3, 2, 1, 1, 1, 1, FGQ_ACT_RELU), /* stride 2, odd */
        dw2(4, 1, 16, 16, 3, 2, 1, 0, 1, 1, 0),            /* TF "same" stride 2: pad at the end only */
        dw2(4, 1, 20, 20, 5, 1, 1, 2, 2, 1, 0),            /* 5x5 */
        dw2(4, 1, 21, 21, 5, 2, 1, 2, 2, 0, 0),            /* 5x5 stride 2, no bias */
        dw2(3, 2, 12, 12, 3, 1, 2, 2, 2, 1, 0),            /* dilation 2, channel multiplier 2 */
        dw2(2, 1, 8, 8, 3, 1, 1, 1, 1, 1, 0),              /* width 8: one block at most */
        dw2(2, 1, 9, 9, 3, 1, 1, 0, 0, 1, 0),              /* 7 outputs: no block */
        dw2(2, 1, 10, 10, 3, 1, 1, 6, 6, 1, 0),            /* pads wider than the kernel: no interior at all */
        dw2(2, 1, 31, 31, 3, 2, 1, 1, 1, 1, 0),            /* stride 2 near the row end: the 16-float read */
        dw2(2, 1, 32, 32, 3, 2, 1, 1, 0, 1, 0),
        dw2(5, 1, 7, 7, 3, 1, 1, 1, 1, 1, 0), /* EfficientNet's 7x7 maps: narrower than a vector */
        /* rows of 16 and more: AVX-512's 16-lane vectors of the padded plane (the last overlapping) */
        dw2(3, 1, 16, 16, 3, 1, 1, 1, 1, 1, FGQ_ACT_RELU),
        dw2(4, 1, 12, 40, 3, 2, 1, 1, 1, 1, FGQ_ACT_CLIP), /* stride 2: the 31-float read */
        dw2(3, 1, 18, 33, 5, 1, 1, 2, 2, 1, 0),
        dw2(2, 1, 9, 67, 5, 2, 1, 2, 1, 1, 0),
        dw2(3, 1, 14, 14, 3, 1, 1, 1, 1, 1, FGQ_ACT_RELU), /* rows of 9..15: one vector, its first OW lanes kept */
        dw2(2, 1, 15, 15, 5, 1, 1, 2, 2, 1, 0),
        dw2(2, 1, 20, 19, 3, 2, 1, 1, 1, 1, 0), /* stride 2, OW 10: the read past the row */
        /* padded rows narrower than 16 at stride 1: the flat form (dw_flat16), 3x3, 5x5, other kernels,
         * a plane of 100 x 7 (57 vectors, near its bound of 64) and one past it (120 x 7: the rows) */
        dw2(4, 1, 8, 8, 5, 1, 1, 2, 2, 1, FGQ_ACT_CLIP),
        dw2(3, 1, 100, 7, 3, 1, 1, 1, 1, 1, FGQ_ACT_RELU),
        dw2(2, 1, 120, 7, 3, 1, 1, 1, 1, 1, 0),
        dw2(3, 1, 6, 11, 4, 1, 1, 1, 2, 1, 0),
        /* the table's bound: a grid of 64 x 16 = 1024 positions (64 vectors), one row more (the
         * rows), and a 5 x 11 map whose last vector holds only margin (the last batch's reads reach
         * furthest past the plane) */
        dw2(2, 1, 64, 14, 3, 1, 1, 1, 1, 1, FGQ_ACT_CLIP),
        dw2(2, 1, 65, 14, 3, 1, 1, 1, 1, 1, 0),
        dw2(3, 1, 5, 11, 3, 1, 1, 1, 1, 1, FGQ_ACT_RELU),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 31u + (uint32_t)i);
    conv_case one_d = dw2(4, 1, 1, 40, 3, 1, 1, 1, 1, 1, 0);
    one_d.ns = 1;
    one_d.in[0] = 40, one_d.k[0] = 3, one_d.s[0] = 2, one_d.d[0] = 1, one_d.pb[0] = 1, one_d.pe[0] = 1;
    run_case(&one_d, 5u);
    conv_case batch2 = dw2(6, 1, 12, 19, 3, 2, 1, 1, 1, 1, FGQ_ACT_RELU);
    batch2.n = 2;
    run_case(&batch2, 6u);
}

/* Where the twin and the direct loops part: a tap on the padding adds w·0 in the twin (ONNX's zero
 * padding) and is skipped in the direct loops. Three channels through the op under AUTO (the
 * padded plane, its scratch declared as in a model) and through fgq_conv_f32_dw without scratch
 * (the masked border blocks), both memcmp against the twin: (a) bias −0, every input −0, positive
 * weights: the direct sums stay −0 at the borders, the twin's padding taps make them +0; (b) one
 * +Inf weight, inputs 1: on the padding Inf·0 = NaN in the twin, skipped in the direct loops;
 * (c) ordinary values. */
static void pad_semantics_case(int64_t h, int64_t wd)
{
    conv_case cc = dw2(3, 1, h, wd, 3, 1, 1, 1, 1, 1, 0);
    fgq_tensor_view x, w, b, y;
    conv_views(&cc, &x, &w, &b, &y);
    const int64_t nx = tnumel(&x), nw = tnumel(&w), ny = tnumel(&y), plane = cc.in[0] * cc.in[1];
    float *buf = calloc((size_t)(nx + nw + cc.m + 2 * ny), sizeof(float));
    float *op_auto = malloc(sizeof(float) * (size_t)ny), *border = malloc(sizeof(float) * (size_t)ny);
    x.data = buf;
    w.data = buf + nx;
    b.data = buf + nx + nw;
    float *xd = x.data, *wd_ = w.data, *bd = b.data, *direct = buf + nx + nw + cc.m, *twin = direct + ny;
    for (int64_t i = 0; i < plane; i++) {
        xd[i] = -0.0f;        /* channel 0: (a) */
        xd[plane + i] = 1.0f; /* channel 1: (b) */
        xd[2 * plane + i] = (float)(i % 7) - 3.0f;
    }
    for (int64_t i = 0; i < 9; i++) {
        wd_[i] = 0.5f + (float)i;
        wd_[9 + i] = i == 0 ? INFINITY : 0.25f; /* the corner tap: in the padding at the top-left output */
        wd_[18 + i] = (float)i - 4.0f;
    }
    bd[0] = -0.0f;
    bd[1] = 0.0f;
    bd[2] = 1.5f;
    tnode nd;
    set_params(&nd, &cc);
    const fgq_tensor_view *in[3] = { &x, &w, &b };
    fgq_parallel ref = {NULL, 1, NULL, FGQ_KERNELS_REF};
    nd.v.par = &ref;
    y.data = direct;
    CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
    nd.v.par = NULL;
    fgq_ops_spatial sp;
    CHECK(fgq_ops_read_spatial(&nd.v, &x, &w, &y, 0, &sp, NULL) == FGQ_OK);
    fgq_conv_f32_dw_ref(&nd.v, &sp, x.data, w.data, b.data, twin, cc.n, cc.c, cc.m, cc.group);
    uint32_t bits;
    memcpy(&bits, &direct[0], sizeof bits);
    CHECK(bits == 0x80000000u); /* (a) the direct loops' −0 at the border, */
    memcpy(&bits, &twin[0], sizeof bits);
    CHECK(bits == 0u); /* the twin's +0 */
    memcpy(&bits, &twin[cc.in[1] + 1], sizeof bits);
    CHECK(bits == 0x80000000u);                         /* and −0 inside */
    CHECK(direct[plane] == 1.0f && isnan(twin[plane])); /* (b) 4 in-range taps of 0.25; Inf·0 on the padding */
    CHECK(direct[plane + cc.in[1] + 1] == INFINITY && twin[plane + cc.in[1] + 1] == INFINITY);
    if ((fgq_cpu_features() & FGQ_CPU_AVX2) != 0) {
        /* the kernel: the padded plane under AUTO, with and without AVX-512F (the flat form or the
         * 16-lane rows; the 8-lane rows), and the masked border blocks (no scratch) */
        const uint32_t cpus[2] = {0, (fgq_cpu_features() & ~(uint32_t)FGQ_CPU_AVX512F) | FGQ_CPU_QUERIED};
        for (int ci = 0; ci < 2; ci++) {
            nd.v.cpu = cpus[ci];
            y.data = op_auto;
            CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
            CHECK_MSG(memcmp(op_auto, twin, (size_t)ny * sizeof(float)) == 0,
                      "%lldx%lld, cpu %#x: the padded plane is not the twin's bytes", (long long)h, (long long)wd,
                      (unsigned)cpus[ci]);
        }
        nd.v.cpu = 0;
        fgq_conv_f32_dw(&nd.v, &sp, x.data, w.data, b.data, border, cc.n, cc.c, cc.m, cc.group);
        CHECK_MSG(memcmp(border, twin, (size_t)ny * sizeof(float)) == 0, "border blocks: not the twin's bytes");
    }
    free(op_auto);
    free(border);
    free(buf);
}

/* Where the twin and the direct loops part: a tap on the padding adds w·0 in the twin (ONNX's zero
 * padding) and is skipped in the direct loops. Three channels through the op under AUTO (the
 * padded plane, its scratch declared as in a model; with and without AVX-512F) and through
 * fgq_conv_f32_dw without scratch (the masked border blocks), memcmp against the twin: (a) bias
 * −0, every input −0, positive weights: the direct sums stay −0 at the borders, the twin's padding
 * taps make them +0; (b) one +Inf weight, inputs 1: on the padding Inf·0 = NaN in the twin,
 * skipped in the direct loops; (c) ordinary values. A 6 x 9 map (padded rows of 11: the flat form
 * with AVX-512F) and a 6 x 20 one (rows of 22: the 16-lane rows). The twin's side needs no AVX2. */
static void test_pad_semantics(void)
{
    pad_semantics_case(6, 9);
    pad_semantics_case(6, 20);
}

static void test_random_shapes(void)
{
    uint32_t s = 2718u;
    for (int it = 0; it < 300; it++) {
#define R(lo, hi) ((int64_t)(lo) + (int64_t)(((uint32_t)((trand(&s) + 1.0f) * 1e6f)) % (uint32_t)((hi) - (lo) + 1)))
        const int64_t k = R(1, 5), st = R(1, 2), d = R(1, 2);
        conv_case cc = dw2(R(1, 6), R(1, 2), R(1, 24), R(1, 40), k, st, d, R(0, 3), R(0, 3), (int)R(0, 1),
                           (int)R(0, 2) == 0 ? 0 : (R(0, 1) ? FGQ_ACT_RELU : FGQ_ACT_CLIP));
        cc.n = R(1, 2);
        for (int i = 0; i < 2; i++)
            if (cc.in[i] + cc.pb[i] + cc.pe[i] < d * (k - 1) + 1)
                cc.in[i] = d * (k - 1) + 1;
#undef R
        run_case(&cc, 100u + (uint32_t)it);
    }
}

int main(void)
{
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(2, &g_pool, &err) == FGQ_OK);
    RUN(test_edge_shapes);
    RUN(test_random_shapes);
    RUN(test_pad_semantics);
    if (g_skipped)
        printf("note: this CPU has no AVX2: the depthwise kernel was not run (skipped)\n");
    else
        CHECK_MSG(g_ran_fast > 150, "only %d cases reached the kernel", g_ran_fast);
    fgq_threadpool_destroy(g_pool);
    return FGQ_TEST_DONE();
}
