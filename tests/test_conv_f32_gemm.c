/*
 * test_conv_f32_gemm.c — the packed-GEMM float convolution (runtime/ops/
 * conv_f32_gemm.c) against its reference twin, the direct loops of
 * conv_f32.c run under FGQ_KERNELS_REF.
 *
 * Oracles, per case: (1) the AVX2+FMA kernel (where the CPU has it; else
 * reported skipped) and the portable kernel each within float rounding of the
 * direct loops: |gemm − direct| <= 1e-5·(Σ_k |w·x| + |b|) per output, the
 * bound of two ways of rounding the same sum in the same order; (2) the AVX2
 * kernel with a 2-thread provider gives the same bytes as with none (work is
 * split by position panels, never inside a sum); (3) the AVX-512 kernel (32-wide
 * panels, 8-row tiles; where the CPU has AVX-512F, else reported skipped)
 * gives the AVX2 kernel's bytes, at 1 and 2 threads; (4) the op under
 * FGQ_KERNELS_AUTO takes the GEMM path exactly where
 * fgq_conv_f32_gemm_fits says and then equals the AVX2 kernel's bytes
 * (elsewhere the depthwise rows' twin's where they take the shape, else the
 * direct loops').
 * Shapes: 1-D/2-D/3-D, groups, strides, dilations, asymmetric pads, no bias,
 * fused ReLU/Clip, position counts that are not multiples of the 16- or 32-wide
 * panel, channel counts that are not multiples of the 6- or 8-row tile (every remainder of 8 among
 * the random shapes), K past the chunk of KC rows (256; 1024 on x86; 256 or 512 for AVX-512)
 * (K = 300, 576, 1100, 1152, 1170: whole and partial panels), a 1x1 stride-1 conv (read in place),
 * batch 2; plus 300 random shapes.
 */
#include "test_conv_common.h"

#include "ops/ops_f32.h"
#include "ops/qgemm_dispatch.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>

static fgq_threadpool *g_pool;
static int g_skipped_avx2, g_skipped_avx512;

/* Σ|w·x| + |b| of every output (the tolerance's scale), by the direct loops on |x|, |w|, |b|. */
static void magnitudes(tnode *nd, const fgq_tensor_view *const *in, const fgq_tensor_view *y, int64_t nx, int64_t nw,
                       int64_t nm, float *mag)
{
    float *abs_buf = malloc(sizeof(float) * (size_t)(nx + nw + nm));
    const float *x = in[0]->data, *w = in[1]->data, *b = in[2]->data;
    for (int64_t i = 0; i < nx; i++)
        abs_buf[i] = fabsf(x[i]);
    for (int64_t i = 0; i < nw; i++)
        abs_buf[nx + i] = fabsf(w[i]);
    for (int64_t i = 0; i < nm; i++)
        abs_buf[nx + nw + i] = fabsf(b[i]);
    fgq_tensor_view ax = *in[0], aw = *in[1], ab = *in[2], ay = *y;
    ax.data = abs_buf;
    aw.data = abs_buf + nx;
    ab.data = abs_buf + nx + nw;
    ay.data = mag;
    const fgq_tensor_view *ain[3] = { &ax, &aw, &ab };
    const int32_t act = nd->ip[FGQ_P_ACT];
    nd->ip[FGQ_P_ACT] = 0;
    fgq_parallel ref = { NULL, 1, NULL, FGQ_KERNELS_REF };
    nd->v.par = &ref;
    CHECK(op_check_run(nd, ain, &ay) == FGQ_OK);
    nd->ip[FGQ_P_ACT] = act;
    nd->v.par = NULL;
    free(abs_buf);
}

static void run_case(const conv_case *cc, uint32_t seed)
{
    fgq_tensor_view x, w, b, y;
    conv_views(cc, &x, &w, &b, &y);
    const int64_t nx = tnumel(&x), nw = tnumel(&w), ny = tnumel(&y);
    float *buf = malloc(sizeof(float) * (size_t)(nx + nw + cc->m + 8 * ny));
    x.data = buf;
    w.data = buf + nx;
    b.data = buf + nx + nw;
    float *direct = buf + nx + nw + cc->m, *port = direct + ny, *avx = port + ny, *avx2t = avx + ny, *mag = avx2t + ny,
          *op_auto = mag + ny, *avx512 = op_auto + ny, *dw_twin = avx512 + ny;
    tfill(buf, nx + nw + cc->m, &seed);
    tnode nd;
    set_params(&nd, cc);
    const fgq_tensor_view *in[3] = { &x, &w, &b };

    fgq_parallel ref = { NULL, 1, NULL, FGQ_KERNELS_REF };
    nd.v.par = &ref;
    y.data = direct;
    CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
    nd.v.par = NULL;
    magnitudes(&nd, in, &y, nx, nw, cc->m, mag);

    fgq_ops_spatial sp;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_ops_read_spatial(&nd.v, &x, &w, &y, 0, &sp, &err) == FGQ_OK);
    const float *bias = cc->bias ? b.data : NULL;
    /* the panels' scratch: refused cleanly without it (nothing written), then a slice per thread */
    const uint64_t stride = fgq_scratch_stride(fgq_conv_f32_gemm_scratch(&sp, cc->c / cc->group, cc->m / cc->group));
    const int32_t n_slices = fgq_threadpool_n_threads(g_pool);
    memset(port, 0x5A, (size_t)ny * sizeof(float));
    CHECK(fgq_conv_f32_gemm(&nd.v, &sp, x.data, w.data, bias, port, cc->n, cc->c, cc->m, cc->group, 0, &err) ==
              FGQ_ERR_NOMEM &&
          strstr(err.msg, "scratch") != NULL && ((const uint8_t *)port)[0] == 0x5A);
    fgq_error_clear(&err);
    void *slices = aligned_alloc(64, (size_t)(stride * (uint64_t)n_slices));
    nd.v.scratch = slices;
    nd.v.scratch_stride = stride;
    nd.v.n_scratch = n_slices;
    CHECK(fgq_conv_f32_gemm(&nd.v, &sp, x.data, w.data, bias, port, cc->n, cc->c, cc->m, cc->group, 0, &err) ==
          FGQ_OK);
    const int has_avx2 = (fgq_cpu_features() & FGQ_CPU_AVX2) != 0;
    if (has_avx2) {
        fgq_conv_f32_gemm(&nd.v, &sp, x.data, w.data, bias, avx, cc->n, cc->c, cc->m, cc->group, 1, &err);
        nd.v.par = fgq_threadpool_parallel(g_pool);
        fgq_conv_f32_gemm(&nd.v, &sp, x.data, w.data, bias, avx2t, cc->n, cc->c, cc->m, cc->group, 1, &err);
        nd.v.par = NULL;
        CHECK_MSG(memcmp(avx, avx2t, (size_t)ny * sizeof(float)) == 0, "2 threads changed the AVX2 result");
        if ((fgq_cpu_features() & FGQ_CPU_AVX512F) != 0) {
            for (int threads = 1; threads <= 2; threads++) {
                memset(avx512, 0x5A, (size_t)ny * sizeof(float));
                nd.v.par = threads == 2 ? fgq_threadpool_parallel(g_pool) : NULL;
                CHECK(fgq_conv_f32_gemm(&nd.v, &sp, x.data, w.data, bias, avx512, cc->n, cc->c, cc->m, cc->group, 2,
                                        &err) == FGQ_OK);
                nd.v.par = NULL;
                CHECK_MSG(memcmp(avx, avx512, (size_t)ny * sizeof(float)) == 0,
                          "ns=%d c=%lld m=%lld g=%lld: AVX-512 differs from AVX2 (%d threads)", cc->ns,
                          (long long)cc->c, (long long)cc->m, (long long)cc->group, threads);
            }
        } else {
            g_skipped_avx512 = 1;
        }
    } else {
        g_skipped_avx2 = g_skipped_avx512 = 1;
    }
    double worst_p = 0.0, worst_a = 0.0;
    for (int64_t i = 0; i < ny; i++) {
        const double tol = 1e-5 * ((double)mag[i] + 1e-3);
        worst_p = fmax(worst_p, fabs((double)port[i] - direct[i]) / tol);
        if (has_avx2)
            worst_a = fmax(worst_a, fabs((double)avx[i] - direct[i]) / tol);
    }
    CHECK_MSG(worst_p <= 1.0, "ns=%d c=%lld m=%lld g=%lld: portable gemm off by %.2f tolerances", cc->ns,
              (long long)cc->c, (long long)cc->m, (long long)cc->group, worst_p);
    CHECK_MSG(worst_a <= 1.0, "ns=%d c=%lld m=%lld g=%lld: avx2 gemm off by %.2f tolerances", cc->ns,
              (long long)cc->c, (long long)cc->m, (long long)cc->group, worst_a);
    free(slices);
    /* the op itself under AUTO (op_check_run gives it its own scratch) */
    y.data = op_auto;
    CHECK(op_check_run(&nd, in, &y) == FGQ_OK);
    const int fits = fgq_conv_f32_gemm_fits(&sp, cc->c / cc->group, cc->m / cc->group);
    /* elsewhere the depthwise rows where they take the shape (their twin's bytes), else the direct loops */
    const int dw = !fits && has_avx2 && fgq_conv_f32_dw_fits(&sp, cc->c / cc->group);
    if (dw)
        fgq_conv_f32_dw_ref(&nd.v, &sp, x.data, w.data, bias, dw_twin, cc->n, cc->c, cc->m, cc->group);
    const float *want = has_avx2 && fits ? avx : dw ? dw_twin : direct;
    CHECK_MSG(memcmp(op_auto, want, (size_t)ny * sizeof(float)) == 0, "AUTO conv is neither path's bytes (fits %d)",
              fits);
    free(buf);
}

static void test_edge_shapes(void)
{
    static const conv_case cases[] = {
        /* ns  n  c   m   g   in             k            s            d            pb           pe      bias act */
        {2, 1, 3, 16, 1, {32, 32}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_RELU},
        {2, 2, 16, 13, 1, {9, 7}, {3, 3}, {2, 1}, {1, 2}, {1, 0}, {2, 1}, 1, 0},
        {2, 1, 8, 12, 2, {8, 8}, {3, 3}, {1, 2}, {2, 1}, {2, 1}, {0, 3}, 0, FGQ_ACT_CLIP},
        {2, 1, 300, 7, 1, {5, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, 0},  /* K 300: 2 chunks */
        {2, 1, 64, 20, 1, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, 0},  /* K 576 */
        {2, 1, 1152, 6, 1, {4, 4}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, 0}, /* K 1152 */
        /* K past x86's 1024-row chunk with a partial last panel: the later chunk adds to sums it reads back */
        {2, 1, 130, 7, 1, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_RELU}, /* K 1170 */
        {2, 1, 1100, 13, 1, {7, 7}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 0, 0},          /* K 1100 */
        {2, 1, 32, 32, 1, {16, 16}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, 0},          /* in place, P 256 */
        {2, 1, 32, 32, 1, {15, 15}, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, 1, 0},          /* strided 1x1 */
        {2, 1, 16, 8, 1, {5, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1, 0},             /* 1x1, end pads */
        {3, 1, 16, 8, 1, {4, 4, 4}, {1, 1, 1}, {1, 1, 1}, {2, 1, 1}, {0, 0, 0}, {0, 0, 2}, 1, 0},
        {2, 1, 12, 24, 3, {7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_RELU},
        {1, 2, 8, 10, 1, {37}, {5}, {2}, {2}, {3}, {1}, 1, FGQ_ACT_RELU},
        {3, 1, 4, 8, 2, {5, 6, 4}, {2, 3, 2}, {1, 2, 1}, {2, 1, 1}, {1, 1, 0}, {0, 1, 1}, 1, 0},
        {2, 1, 4, 6, 1, {1, 1}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0, 0}, /* one position */
        {2, 1, 6, 6, 6, {7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, 0}, /* depthwise: direct */
        /* the 32-wide panels: K 576 in AVX-512's 256-row chunks (small weights), 81 positions (a partial panel) */
        {2, 1, 64, 16, 1, {9, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_CLIP},
        {2, 1, 3, 8, 1, {80, 80}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_RELU}, /* runs of 32 at stride 2 */
        {2, 1, 8, 9, 1, {7, 45}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0, 0},             /* runs across rows */
        {2, 1, 24, 40, 1, {12, 12}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, 0}, /* in place, 144 = 4.5 panels */
        /* weights past 1 MiB (96 x 2880 floats): AVX-512's 512-row chunks (the others take 256), and
         * with at most 4 panels, by blocks of 64 rows (gemm_mblocks): 2 blocks, one panel */
        {2, 1, 320, 96, 1, {3, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_RELU},
        /* by blocks: 4 blocks, 4 panels of a 1x1 (3 read in place, a partial one of 4 packed) */
        {2, 1, 1100, 256, 1, {10, 10}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1, FGQ_ACT_CLIP},
        /* by blocks with batch 2 and 2 groups (8 blocks: a thread's range crosses (n, g)) */
        {2, 2, 640, 192, 2, {3, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, FGQ_ACT_RELU},
        /* weights past 1 MiB but 5 panels: by panels, in 512-row chunks */
        {2, 1, 320, 96, 1, {12, 12}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0, 0},
        /* (the by-blocks shapes are 5-10 % past conv_f32_gemm.c's W5_L2 of 1 MiB: a larger threshold
         * would take them by panels, which this test would still pass) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], 777u + (uint32_t)i);
}

static void test_random_shapes(void)
{
    uint32_t s = 4242u;
    for (int it = 0; it < 300; it++) {
        conv_case cc;
        memset(&cc, 0, sizeof cc);
#define R(lo, hi) ((int64_t)(lo) + (int64_t)(((uint32_t)((trand(&s) + 1.0f) * 1e6f)) % (uint32_t)((hi) - (lo) + 1)))
        cc.ns = (int)R(1, 3);
        cc.n = R(1, 2);
        cc.group = R(1, 3);
        cc.c = cc.group * R(1, 12);
        cc.m = cc.group * R(1, 14);
        for (int i = 0; i < cc.ns; i++) {
            cc.k[i] = R(1, cc.ns == 3 ? 2 : 3);
            cc.s[i] = R(1, 2);
            cc.d[i] = R(1, 2);
            cc.pb[i] = R(0, 2);
            cc.pe[i] = R(0, 2);
            const int64_t ext = cc.d[i] * (cc.k[i] - 1) + 1;
            cc.in[i] = R(1, cc.ns == 3 ? 6 : 19);
            if (cc.in[i] + cc.pb[i] + cc.pe[i] < ext)
                cc.in[i] = ext;
        }
        cc.bias = (int)R(0, 1);
        cc.act = (int)R(0, 2) == 0 ? 0 : (R(0, 1) ? FGQ_ACT_RELU : FGQ_ACT_CLIP);
#undef R
        run_case(&cc, 9000u + (uint32_t)it);
    }
}

int main(void)
{
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(2, &g_pool, &err) == FGQ_OK);
    RUN(test_edge_shapes);
    RUN(test_random_shapes);
    if (g_skipped_avx2)
        printf("note: this CPU has no AVX2+FMA: the AVX2 kernel was not run (skipped), the portable one was\n");
    if (g_skipped_avx512)
        printf("note: this CPU has no AVX-512F: the AVX-512 kernel was not run (skipped)\n");
    fgq_threadpool_destroy(g_pool);
    return FGQ_TEST_DONE();
}
