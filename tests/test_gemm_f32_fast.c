/*
 * test_gemm_f32_fast.c — the fast Gemm/MatMul paths (runtime/ops/
 * gemm_f32__avx2.c's 6x16 kernels, and for MatMul of 4+ rows and 8+ k the
 * convolution's packed panels, conv_f32_gemm.c, AVX2 and AVX-512; chosen in
 * gemm_f32.c) against their reference twin, the loops of gemm_f32.c run
 * under FGQ_KERNELS_REF.
 *
 * Oracle: the same bytes. Tolerance 0, not c·ε·Σ|a·b|: every path gives each
 * output element 0.0f, then one fused multiply-add per p in order (fmaf in
 * the loops, vfmadd in the kernels), then the same epilogue, so any
 * difference is a bug (a wrong tile edge, a masked lane, a split sum).
 * Per case: (1) AUTO, 1 thread, equals REF byte for byte, and so does AUTO
 * on AVX2 alone (the AVX2 panels where the host would take AVX-512's);
 * (2) AUTO with a 2-thread pool equals AUTO with none; (3) fgq_gemm_f32_fast
 * says AUTO takes the fast path exactly where the CPU has AVX2+FMA, and
 * never under REF.
 * The kernels are also called directly on tiles of 1..6 rows and column
 * ranges that start and end off the vector width, against a scalar loop in
 * this file, and must not write y outside their tile.
 * Shapes: Gemm M = 1, 2, 5, 16, 33; N and K off multiples of 8 and 16;
 * K = 1; every transA/transB; alpha/beta; every C broadcast form; beta = 0;
 * fused ReLU/Clip; N > 256 (several column blocks); MatMul batch broadcasting,
 * 1-D A, 1-D B, both 1-D, attention-like [4,16,64]x[4,64,16]; plus random
 * shapes. Where the CPU lacks AVX2+FMA the fast path cannot run: the
 * reference checks still run and the test exits FGQ_TEST_SKIPPED.
 */
#include "test_ops_common.h"

#include "ops/ops_f32.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>

static fgq_threadpool *g_pool;
static int g_has_avx2, g_fast_cases;

static void fill_nan(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
}

/* Run the node three ways (REF; AUTO, no pool; AUTO, 2 threads) into y0..y2 and compare. */
static void run_three(tnode *nd, const fgq_tensor_view *const *in, fgq_tensor_view *y, int64_t ny, const char *what)
{
    float *buf = malloc(sizeof(float) * (size_t)(3 * ny + 1));
    float *ref = buf, *one = buf + ny, *two = buf + 2 * ny;
    fill_nan(buf, 3 * ny);
    fgq_parallel par_ref = { NULL, 1, NULL, FGQ_KERNELS_REF };
    nd->v.par = &par_ref;
    CHECK(fgq_gemm_f32_fast(&nd->v) == 0);
    y->data = ref;
    CHECK(op_check_run(nd, in, y) == FGQ_OK);
    nd->v.par = NULL;
    const int fast = fgq_gemm_f32_fast(&nd->v);
    CHECK_MSG(fast == g_has_avx2, "%s: fast path %d where the CPU has AVX2 %d", what, fast, g_has_avx2);
    g_fast_cases += fast;
    y->data = one;
    CHECK(op_check_run(nd, in, y) == FGQ_OK);
    nd->v.par = fgq_threadpool_parallel(g_pool);
    y->data = two;
    CHECK(op_check_run(nd, in, y) == FGQ_OK);
    nd->v.par = NULL;
    if (g_has_avx2) { /* AVX2 alone: the 8-lane kernels (the panels' AVX2 6 x 16 tiles) */
        float *avx2 = malloc(sizeof(float) * (size_t)(ny + 1));
        fill_nan(avx2, ny);
        nd->v.cpu = (fgq_cpu_features() & FGQ_CPU_AVX2) | FGQ_CPU_QUERIED;
        y->data = avx2;
        CHECK(op_check_run(nd, in, y) == FGQ_OK);
        nd->v.cpu = 0;
        CHECK_MSG(memcmp(ref, avx2, sizeof(float) * (size_t)ny) == 0, "%s: AVX2 alone differs from REF", what);
        free(avx2);
    }
    int64_t first = -1;
    for (int64_t i = 0; i < ny && first < 0; i++)
        if (memcmp(&ref[i], &one[i], sizeof(float)) != 0)
            first = i;
    CHECK_MSG(first < 0, "%s: AUTO differs from REF at %lld: %.9g vs %.9g", what, (long long)first,
              first >= 0 ? (double)one[first] : 0.0, first >= 0 ? (double)ref[first] : 0.0);
    CHECK_MSG(memcmp(one, two, sizeof(float) * (size_t)ny) == 0, "%s: 2 threads changed the bytes", what);
    free(buf);
}

static void gemm_case(int64_t m, int64_t k, int64_t n, int ta, int tb, int c_rank, const int64_t *c_dims, float alpha,
                      float beta, int act, uint32_t seed)
{
    int64_t ad[2] = { ta ? k : m, ta ? m : k }, bd[2] = { tb ? n : k, tb ? k : n }, yd[2] = { m, n };
    float *a = malloc(sizeof(float) * (size_t)(m * k + 1)), *b = malloc(sizeof(float) * (size_t)(k * n + 1));
    float *c = malloc(sizeof(float) * (size_t)(m * n + 1));
    fgq_tensor_view av = tview(a, 2, ad), bv = tview(b, 2, bd), cv = tview(c, c_rank, c_dims), yv = tview(NULL, 2, yd);
    tfill(a, m * k, &seed);
    tfill(b, k * n, &seed);
    tfill(c, c_rank >= 0 ? tnumel(&cv) : 0, &seed);
    tnode nd;
    tnode_gemm(&nd, c_rank >= 0, ta, tb, act, alpha, beta);
    const fgq_tensor_view *in[3] = { &av, &bv, c_rank >= 0 ? &cv : NULL };
    char what[160];
    snprintf(what, sizeof what, "gemm M=%lld K=%lld N=%lld ta=%d tb=%d c_rank=%d alpha=%g beta=%g act=%d",
             (long long)m, (long long)k, (long long)n, ta, tb, c_rank, (double)alpha, (double)beta, act);
    run_three(&nd, in, &yv, m * n, what);
    free(a);
    free(b);
    free(c);
}

static void test_gemm_edges(void)
{
    static const int64_t ms[] = { 1, 2, 5, 16, 33 };
    static const int64_t kn[][2] = { { 1, 1 }, { 1, 19 }, { 7, 5 }, { 8, 16 }, { 13, 33 }, { 64, 70 }, { 300, 17 } };
    uint32_t seed = 11;
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t s = 0; s < sizeof kn / sizeof kn[0]; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    const int64_t m = ms[mi], k = kn[s][0], n = kn[s][1];
                    const int64_t c_full[2] = { m, n }, c_row[2] = { 1, n }, c_col[2] = { m, 1 }, c_vec[1] = { n },
                                  c_11[2] = { 1, 1 };
                    switch ((mi + s) % 6) {
                    case 0: gemm_case(m, k, n, ta, tb, -1, NULL, 1.0f, 1.0f, FGQ_ACT_NONE, seed++); break;
                    case 1: gemm_case(m, k, n, ta, tb, 2, c_full, 0.25f, 0.35f, FGQ_ACT_NONE, seed++); break;
                    case 2: gemm_case(m, k, n, ta, tb, 2, c_row, 0.5f, 1.0f, FGQ_ACT_RELU, seed++); break;
                    case 3: gemm_case(m, k, n, ta, tb, 2, c_col, 1.0f, 0.5f, FGQ_ACT_CLIP, seed++); break;
                    case 4: gemm_case(m, k, n, ta, tb, 1, c_vec, -1.5f, 2.0f, FGQ_ACT_NONE, seed++); break;
                    default: gemm_case(m, k, n, ta, tb, 2, c_11, 1.0f, 0.0f, FGQ_ACT_RELU, seed++); break;
                    }
                }
    /* scalar C; several column blocks (N > 256) at M = 1 and M = 7; the AD model's 640-wide layers */
    const int64_t c_one[1] = { 1 }, c_1000[1] = { 1000 }, c_640[1] = { 640 }, c_32[1] = { 32 };
    gemm_case(3, 9, 11, 0, 1, 0, c_one, 1.0f, 1.0f, FGQ_ACT_NONE, seed++);
    gemm_case(1, 129, 1000, 0, 0, 1, c_1000, 1.0f, 1.0f, FGQ_ACT_RELU, seed++);
    gemm_case(1, 129, 1000, 0, 1, 1, c_1000, 1.0f, 1.0f, FGQ_ACT_RELU, seed++);
    gemm_case(7, 70, 600, 1, 0, -1, NULL, 1.0f, 1.0f, FGQ_ACT_NONE, seed++);
    gemm_case(1, 640, 32, 0, 1, 1, c_32, 1.0f, 1.0f, FGQ_ACT_NONE, seed++);
    gemm_case(1, 32, 640, 0, 1, 1, c_640, 1.0f, 1.0f, FGQ_ACT_NONE, seed++);
}

static void matmul_case(int32_t ra, const int64_t *da, int32_t rb, const int64_t *db, int act, uint32_t seed)
{
    int64_t na = 1, nb = 1;
    for (int32_t i = 0; i < ra; i++)
        na *= da[i];
    for (int32_t i = 0; i < rb; i++)
        nb *= db[i];
    float *a = malloc(sizeof(float) * (size_t)(na + 1)), *b = malloc(sizeof(float) * (size_t)(nb + 1));
    tfill(a, na, &seed);
    tfill(b, nb, &seed);
    fgq_tensor_view av = tview(a, ra, da), bv = tview(b, rb, db);
    /* the output dims as check computes them: broadcast batch, then M (A not 1-D), then N (B not 1-D) */
    const int32_t ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0, nbatch = ba > bb ? ba : bb;
    int64_t yd[FGQ_MAX_DIMS];
    int32_t ry = 0;
    for (int32_t i = 0; i < nbatch; i++) {
        const int64_t x = i - (nbatch - ba) >= 0 ? da[i - (nbatch - ba)] : 1;
        const int64_t z = i - (nbatch - bb) >= 0 ? db[i - (nbatch - bb)] : 1;
        yd[ry++] = x == 1 ? z : x;
    }
    if (ra > 1)
        yd[ry++] = da[ra - 2];
    if (rb > 1)
        yd[ry++] = db[rb - 1];
    fgq_tensor_view yv = tview(NULL, ry, yd);
    tnode nd;
    tnode_init(&nd, FGQ_OP_MATMUL, 2);
    nd.ip[0] = act;
    nd.fp[FGQ_PF_ACT0] = -0.25f;
    nd.fp[FGQ_PF_ACT1] = 0.5f;
    const fgq_tensor_view *in[2] = { &av, &bv };
    char what[96];
    snprintf(what, sizeof what, "matmul rank %d x rank %d, K=%lld act=%d", (int)ra, (int)rb,
             (long long)da[ra - 1], act);
    run_three(&nd, in, &yv, tnumel(&yv), what);
    free(a);
    free(b);
}

static void test_matmul_edges(void)
{
    uint32_t seed = 501;
    const int64_t a2[2] = { 5, 7 }, b2[2] = { 7, 9 };
    matmul_case(2, a2, 2, b2, FGQ_ACT_NONE, seed++);
    const int64_t a4[4] = { 2, 1, 5, 7 }, b3[3] = { 3, 7, 9 };
    matmul_case(4, a4, 3, b3, FGQ_ACT_RELU, seed++); /* batch [2,1] x [3] broadcasts to [2,3] */
    const int64_t a3[3] = { 3, 33, 20 }, bb2[2] = { 20, 17 };
    matmul_case(3, a3, 2, bb2, FGQ_ACT_CLIP, seed++); /* B shared by every batch item */
    const int64_t a1[1] = { 20 };
    matmul_case(1, a1, 2, bb2, FGQ_ACT_NONE, seed++); /* 1-D A */
    const int64_t b1[1] = { 20 };
    matmul_case(3, a3, 1, b1, FGQ_ACT_NONE, seed++); /* 1-D B */
    matmul_case(1, a1, 1, b1, FGQ_ACT_NONE, seed++); /* both 1-D */
    const int64_t q[3] = { 4, 16, 64 }, kt[3] = { 4, 64, 16 }, s[3] = { 4, 16, 16 }, v[3] = { 4, 16, 64 };
    matmul_case(3, q, 3, kt, FGQ_ACT_NONE, seed++); /* attention scores */
    matmul_case(3, s, 3, v, FGQ_ACT_NONE, seed++);  /* and their weighted values */
    const int64_t one_k[2] = { 1, 1 }, k1[2] = { 1, 300 }, big[2] = { 1, 257 }, bigb[2] = { 257, 300 };
    matmul_case(2, one_k, 2, k1, FGQ_ACT_NONE, seed++); /* K = 1 */
    matmul_case(2, big, 2, bigb, FGQ_ACT_RELU, seed++); /* the mnist-8-like GEMV, wider */
    /* the packed panels (4+ rows, 8+ k): several panels of 32 and 16 with a partial last one, K past
     * a chunk of 256 and 512 rows (the sums stored and loaded back), few panels with A past 1 MB
     * (by blocks of rows), a batch with B shared and one with B per item */
    const int64_t pa[2] = {9, 600}, pb[2] = {600, 77}, qa[2] = {70, 1100}, qb[2] = {1100, 40};
    matmul_case(2, pa, 2, pb, FGQ_ACT_CLIP, seed++);
    matmul_case(2, qa, 2, qb, FGQ_ACT_NONE, seed++);
    const int64_t ra[2] = {300, 1000}, rb[2] = {1000, 100};
    matmul_case(2, ra, 2, rb, FGQ_ACT_RELU, seed++);
    const int64_t ba[3] = {3, 4, 8}, bs[2] = {8, 33}, bt[3] = {3, 8, 33};
    matmul_case(3, ba, 2, bs, FGQ_ACT_NONE, seed++);
    matmul_case(3, ba, 3, bt, FGQ_ACT_RELU, seed++);
}

static int64_t rnd(uint32_t *s, int64_t lo, int64_t hi)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return lo + (int64_t)(*s % (uint32_t)(hi - lo + 1));
}

static void test_random_shapes(void)
{
    uint32_t s = 2024u;
    const int cases = fgq_test_cases(200);
    for (int it = 0; it < cases; it++) {
        const int64_t m = rnd(&s, 1, 40), k = rnd(&s, 1, 90), n = rnd(&s, 1, 90);
        const int ta = (int)rnd(&s, 0, 1), tb = (int)rnd(&s, 0, 1), act = (int)rnd(&s, 0, 2);
        const int64_t c_row[2] = { 1, n };
        if (rnd(&s, 0, 1))
            gemm_case(m, k, n, ta, tb, 2, c_row, 1.0f, 1.0f, act, 7000u + (uint32_t)it);
        else
            gemm_case(m, k, n, ta, tb, -1, NULL, 0.75f, 1.0f, act, 7000u + (uint32_t)it);
        const int64_t da[3] = { rnd(&s, 1, 3), m, k }, db[3] = { da[0], k, n };
        const int32_t rank_b = 2 + (int32_t)rnd(&s, 0, 1); /* [K, N] shared, or one B per batch item */
        matmul_case(3, da, rank_b, rank_b == 3 ? db : db + 1, act, 8000u + (uint32_t)it);
    }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
/* The kernels on one tile, against a scalar loop with the same rounding (fmaf
 * a p); y around the tile must keep its NaNs. */
static void kernel_tile(int tb, int64_t mr, int64_t k, int64_t n, int64_t j0, int64_t j1, int ta, uint32_t seed)
{
    const int64_t m = mr + 1; /* A' has one row more than the tile (transA strides over it) */
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
    float *y = malloc(sizeof(float) * (size_t)(mr * n)), *want = malloc(sizeof(float) * (size_t)(mr * n));
    tfill(a, m * k, &seed);
    tfill(b, k * n, &seed);
    fill_nan(y, mr * n);
    fill_nan(want, mr * n);
    const int64_t ars = ta ? 1 : k, acs = ta ? m : 1;
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = j0; j < j1; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc = fmaf(a[i * ars + p * acs], tb ? b[j * k + p] : b[p * n + j], acc);
            want[i * n + j] = acc;
        }
    if (tb)
        fgq_gemm_f32_6x16t__avx2(a, ars, acs, mr, b, k, k, j0, j1, y, n);
    else
        fgq_gemm_f32_6x16__avx2(a, ars, acs, mr, b, n, k, j0, j1, y, n);
    CHECK_MSG(memcmp(y, want, sizeof(float) * (size_t)(mr * n)) == 0,
              "kernel tb=%d mr=%lld k=%lld n=%lld [%lld, %lld) ta=%d: not the scalar loop's bytes", tb, (long long)mr,
              (long long)k, (long long)n, (long long)j0, (long long)j1, ta);
    free(a);
    free(b);
    free(y);
    free(want);
}

static void test_kernel_tiles(void)
{
    if (!g_has_avx2)
        return;
    static const int64_t ranges[][3] = { /* n, j0, j1 */
                                         { 1, 0, 1 },     { 7, 0, 7 },      { 16, 0, 16 },   { 37, 3, 30 },
                                         { 100, 16, 99 }, { 200, 0, 200 },  { 130, 64, 129 }, { 90, 17, 18 } };
    uint32_t seed = 99;
    for (int tb = 0; tb < 2; tb++)
        for (int64_t mr = 1; mr <= 6; mr++)
            for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
                for (int ta = 0; ta < 2; ta++) {
                    const int64_t k = (int64_t)(r * 13 % 70) + 1;
                    kernel_tile(tb, mr, k, ranges[r][0], ranges[r][1], ranges[r][2], ta, seed++);
                }
    kernel_tile(1, 6, 75, 19, 0, 19, 0, seed++); /* K past one 32-k block, k tail 3 */
    kernel_tile(0, 6, 75, 19, 0, 19, 1, seed++);
}
#endif

int main(void)
{
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(2, &g_pool, &err) == FGQ_OK);
    g_has_avx2 = (fgq_cpu_features() & FGQ_CPU_AVX2) != 0;
#if !(defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)))
    g_has_avx2 = 0; /* no x86 build: no fast path to take */
#endif
    RUN(test_gemm_edges);
    RUN(test_matmul_edges);
    RUN(test_random_shapes);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    RUN(test_kernel_tiles);
#endif
    fgq_threadpool_destroy(g_pool);
    if (!g_has_avx2) {
        printf("note: no AVX2+FMA here: the fast Gemm/MatMul path was not run (skipped); the reference was\n");
        const int rc = FGQ_TEST_DONE();
        return rc == 0 ? FGQ_TEST_SKIPPED : rc;
    }
    CHECK_MSG(g_fast_cases > 300, "only %d cases took the fast path", g_fast_cases);
    return FGQ_TEST_DONE();
}
