/*
 * bench_qgemm.c — throughput of the integer-only QGEMM / QCONV ops (GOP/s),
 * run through the op table exactly as the runtime runs them, so it measures
 * whatever kernel the ops dispatch to.
 *
 * One cell per call:
 *   --m M --k K --n N                 QGEMM, A u8 [M, K] × W [N, K] -> Y u8 [M, N]
 *   --conv C,H,W,OC,KH,KW,PAD         QCONV, X u8 [1, C, H, W], stride 1, dilation 1
 *                                     (GEMM view: M = output pixels, K = C·KH·KW, N = OC)
 *   --weights s8|s4|s3|s2|s8:gN|s4:gN|s3:gN|s2:gN|ternary:gN[:SOLVER]   (default s8: per-channel, no GS;
 *                                     s8/s4/s3/s2:gN and ternary: codes + u8 group
 *                                     multipliers GS, W_MMAX = max m)
 *   --threads T  (tools/threadpool.h, the caller's thread included; default 1)
 *   --reps R     at most R timed runs (default 50) ...
 *   --budget S   ... but stop once >= 3 runs and S seconds are done (default 2)
 *   --kernels auto|ref  kernel preference (fgq_parallel.kernels); default ref when
 *                the environment has FGQ_KERNELS=ref (as the CLI), else auto
 *   --wsum on|off  QGEMM with ternary or s8 weights gets WSUM, the rows' sums, as `fgq quantize`
 *                writes it (default on; off: the node without it, as older models)
 *   --json       one JSON line instead of text
 * GOP/s = 2·M·N·K / median time. Weights: gaussian floats packed by
 * fgq_quantize_packed_f32; activations uniform u8 (fixed seed), z_x = 10;
 * B random s32; REQ[m] = fgq_quantize_multiplier(s_x·s_m / s_y) for a fixed
 * s_x and an s_y that spreads the outputs; Y u8, z_y = 128, clamp 0..255.
 *
 *   --peak       this machine's int8 multiply-add peak: a dependency-free AVX2
 *                loop of vpmaddubsw + vpmaddwd + vpaddd on registers (64 ops
 *                per vpmaddubsw: 32 u8·s8 products and their adds), on T
 *                threads at once; also the int16-accumulating vpmaddubsw + vpaddw
 *                loop. Prints GOP/s in total and per core.
 *
 * "kernel": the kernel the op dispatches to, from the runtime's
 * fgq_q_kernel_name (runtime/ops/qgemm_dispatch.h); "ref" under --kernels ref,
 * or when the runtime does not provide the function.
 */
#include "fgq_format.h"
#include "fgq_ops.h"
#include "quant/affine.h"
#include "run/host_cpu.h"
#include "quant/format/wformat.h"
#include "threadpool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#else
#define BENCH_X86 0
#endif

/* runtime/ops/qgemm_dispatch.h (not a public header): the kernel op `op`
 * runs for weights of dtype w_dtype under FGQ_KERNELS_AUTO. Weak, so a runtime
 * without it still links (the name is then "ref"). */
extern const char *fgq_q_kernel_name(uint32_t op, int32_t w_dtype, int32_t w_mmax, int64_t m_rows, uint32_t cpu)
    __attribute__((weak));

static const char *kernel_name(uint32_t op, fgq_dtype w_dtype, int32_t w_mmax, int64_t m_rows, int32_t kernels,
                               uint32_t cpu)
{
    if (kernels == FGQ_KERNELS_REF)
        return "ref";
    if (fgq_q_kernel_name != NULL) {
        const char *s = fgq_q_kernel_name(op, (int32_t)w_dtype, w_mmax, m_rows, cpu);
        if (s != NULL)
            return s;
    }
    return "ref";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void)
{
    return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0;
}
static float gauss(void)
{
    return (float)(sqrt(-2.0 * log(unit())) * cos(6.283185307179586 * unit()));
}

/* ---- the int8 peak probe ---------------------------------------------------- */

#if BENCH_X86
/* Four accumulators, each fed twice per iteration: t = maddubs(a, b); t =
 * madd(t, 1s); acc += t. Only the adds chain (latency 1); the products are
 * independent. The empty asm makes a and b opaque every half-iteration (no product is
 * computed twice), so nothing
 * is hoisted and no instruction is added; 8 live registers, so nothing spills
 * (16 ymm under AVX2). Returns multiply-add ops done (2 per u8·s8 product). */
__attribute__((target("avx2"))) static double peak_loop_i32(int64_t iters, int32_t *sink)
{
    __m256i a = _mm256_set1_epi8(3), b0 = _mm256_set1_epi8(-2), b1 = _mm256_set1_epi8(5);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i c0 = _mm256_set1_epi16(0), c1 = _mm256_set1_epi16(1), c2 = _mm256_set1_epi16(2),
            c3 = _mm256_set1_epi16(3); /* distinct, so no two chains can be merged */
    for (int64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(a), "+x"(b0), "+x"(b1));
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones));
        c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones));
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(b0, a), ones));
        c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(b1, a), ones));
        __asm__ volatile("" : "+x"(a), "+x"(b0), "+x"(b1));
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones));
        c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones));
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(b1, b0), ones));
        c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(b0, b1), ones));
    }
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
    *sink = _mm256_extract_epi32(s, 0);
    return (double)iters * 8.0 * 64.0;
}

/* Same with int16 accumulation: acc = acc + maddubs(a, b) (vpaddw). */
__attribute__((target("avx2"))) static double peak_loop_i16(int64_t iters, int32_t *sink)
{
    __m256i a = _mm256_set1_epi8(3), b0 = _mm256_set1_epi8(-2), b1 = _mm256_set1_epi8(5);
    __m256i c0 = _mm256_set1_epi16(0), c1 = _mm256_set1_epi16(1), c2 = _mm256_set1_epi16(2),
            c3 = _mm256_set1_epi16(3); /* distinct, so no two chains can be merged */
    for (int64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+x"(a), "+x"(b0), "+x"(b1));
        c0 = _mm256_add_epi16(c0, _mm256_maddubs_epi16(a, b0));
        c1 = _mm256_add_epi16(c1, _mm256_maddubs_epi16(a, b1));
        c2 = _mm256_add_epi16(c2, _mm256_maddubs_epi16(b0, a));
        c3 = _mm256_add_epi16(c3, _mm256_maddubs_epi16(b1, a));
        __asm__ volatile("" : "+x"(a), "+x"(b0), "+x"(b1));
        c0 = _mm256_add_epi16(c0, _mm256_maddubs_epi16(a, b1));
        c1 = _mm256_add_epi16(c1, _mm256_maddubs_epi16(a, b0));
        c2 = _mm256_add_epi16(c2, _mm256_maddubs_epi16(b1, b0));
        c3 = _mm256_add_epi16(c3, _mm256_maddubs_epi16(b0, b1));
    }
    const __m256i s = _mm256_add_epi16(_mm256_add_epi16(c0, c1), _mm256_add_epi16(c2, c3));
    *sink = _mm256_extract_epi16(s, 0);
    return (double)iters * 8.0 * 64.0;
}

/* For context only: VNNI (vpdpbusd, u8·s8 products summed by 4 into int32 in
 * one instruction) on 256- and 512-bit registers, 12 accumulators (distinct start
 * values, so the compiler cannot merge them) to cover its latency. ONNX Runtime's MLAS uses it where the CPU has it. */
#define PEAK_VNNI_BODY(T, DP)                                                                                \
    for (int64_t i = 0; i < iters; i++) {                                                                    \
        __asm__ volatile("" : "+v"(a), "+v"(b));                                                             \
        c0 = DP(c0, a, b); c1 = DP(c1, a, b); c2 = DP(c2, a, b); c3 = DP(c3, a, b);                          \
        c4 = DP(c4, a, b); c5 = DP(c5, a, b); c6 = DP(c6, a, b); c7 = DP(c7, a, b);                          \
        c8 = DP(c8, a, b); c9 = DP(c9, a, b); c10 = DP(c10, a, b); c11 = DP(c11, a, b);                      \
    }
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static double peak_loop_vnni256(int64_t iters,
                                                                                                 int32_t *sink)
{
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
    __m256i c0 = _mm256_set1_epi32(0), c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2),
            c3 = _mm256_set1_epi32(3), c4 = _mm256_set1_epi32(4), c5 = _mm256_set1_epi32(5),
            c6 = _mm256_set1_epi32(6), c7 = _mm256_set1_epi32(7), c8 = _mm256_set1_epi32(8),
            c9 = _mm256_set1_epi32(9), c10 = _mm256_set1_epi32(10), c11 = _mm256_set1_epi32(11);
    PEAK_VNNI_BODY(__m256i, _mm256_dpbusd_epi32)
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    s = _mm256_add_epi32(s, _mm256_add_epi32(_mm256_add_epi32(c8, c9), _mm256_add_epi32(c10, c11)));
    *sink = _mm256_extract_epi32(s, 0);
    return (double)iters * 12.0 * 64.0;
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static double peak_loop_vnni512(int64_t iters,
                                                                                                 int32_t *sink)
{
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    __m512i c0 = _mm512_set1_epi32(0), c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2),
            c3 = _mm512_set1_epi32(3), c4 = _mm512_set1_epi32(4), c5 = _mm512_set1_epi32(5),
            c6 = _mm512_set1_epi32(6), c7 = _mm512_set1_epi32(7), c8 = _mm512_set1_epi32(8),
            c9 = _mm512_set1_epi32(9), c10 = _mm512_set1_epi32(10), c11 = _mm512_set1_epi32(11);
    PEAK_VNNI_BODY(__m512i, _mm512_dpbusd_epi32)
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
    *sink = _mm512_reduce_add_epi32(s);
    return (double)iters * 12.0 * 128.0;
}
#endif

typedef struct {
    int kind; /* 0 vpmaddubsw+vpmaddwd+vpaddd, 1 vpmaddubsw+vpaddw, 2/3 vpdpbusd ymm/zmm */
    int64_t iters;
    pthread_barrier_t *start;
    double ops;
    int32_t sink;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    pthread_barrier_wait(j->start);
#if BENCH_X86
    switch (j->kind) {
    case 0: j->ops = peak_loop_i32(j->iters, &j->sink); break;
    case 1: j->ops = peak_loop_i16(j->iters, &j->sink); break;
    case 2: j->ops = peak_loop_vnni256(j->iters, &j->sink); break;
    default: j->ops = peak_loop_vnni512(j->iters, &j->sink); break;
    }
#endif
    return NULL;
}

/* Total GOP/s of `threads` threads each running loop `kind` `iters` times;
 * the best of `reps` runs (noise from other processes only slows a run down). */
static double peak_gops(int kind, int threads, int64_t iters, int reps)
{
    double t[15];
    if (reps > 15)
        reps = 15;
    for (int r = 0; r < reps; r++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
        peak_job jobs[FGQ_THREADPOOL_MAX_THREADS];
        pthread_t tid[FGQ_THREADPOOL_MAX_THREADS];
        for (int i = 0; i < threads; i++) {
            jobs[i] = (peak_job){ .kind = kind, .iters = iters, .start = &bar };
            pthread_create(&tid[i], NULL, peak_thread, &jobs[i]);
        }
        pthread_barrier_wait(&bar);
        const double t0 = now_s();
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
        const double dt = now_s() - t0;
        pthread_barrier_destroy(&bar);
        double ops = 0.0;
        for (int i = 0; i < threads; i++)
            ops += jobs[i].ops + (jobs[i].sink == 12345 ? 1e-9 : 0.0);
        t[r] = ops / dt * 1e-9;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps - 1];
}

static int run_peak(int threads, int json)
{
#if BENCH_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) {
        fprintf(stderr, "bench_qgemm --peak: this CPU has no AVX2\n");
        return 1;
    }
    const int64_t iters = 10 * 1000 * 1000; /* 5-15 G ops per thread: tens of ms */
    (void)peak_gops(0, threads, iters / 10, 1); /* wake the cores */
    const double g32 = peak_gops(0, threads, iters, 15);
    const double g16 = peak_gops(1, threads, iters, 15);
    const int vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                     __builtin_cpu_supports("avx512bw");
    const double v256 = vnni ? peak_gops(2, threads, iters, 15) : 0.0;
    const double v512 = vnni ? peak_gops(3, threads, iters, 15) : 0.0;
    if (json)
        printf("{\"peak\": \"avx2 vpmaddubsw+vpmaddwd+vpaddd\", \"threads\": %d, \"gops\": %.2f, "
               "\"gops_per_core\": %.2f, \"gops_i16\": %.2f, \"gops_vnni256\": %.2f, \"gops_vnni512\": %.2f}\n",
               threads, g32, g32 / threads, g16, v256, v512);
    else {
        printf("int8 peak, %d thread(s), best of 15:\n"
               "  AVX2 vpmaddubsw+vpmaddwd+vpaddd  %7.1f GOP/s (%.1f per core)\n"
               "  AVX2 vpmaddubsw+vpaddw (int16)   %7.1f GOP/s\n",
               threads, g32, g32 / threads, g16);
        if (vnni)
            printf("  AVX-512 VNNI vpdpbusd ymm / zmm  %7.1f / %.1f GOP/s\n", v256, v512);
        else
            printf("  (no AVX-512 VNNI on this CPU)\n");
    }
    return 0;
#else
    (void)threads;
    (void)json;
    fprintf(stderr, "bench_qgemm --peak: x86 only\n");
    return 1;
#endif
}

/* ---- QGEMM / QCONV cell ---------------------------------------------------------- */

typedef struct {
    int conv;
    int64_t m, k, n;                     /* GEMM view */
    int64_t c, h, w, oc, kh, kw, pad;    /* conv */
    int64_t oh, ow;
} cell_shape;

static int parse_conv(const char *s, cell_shape *cs)
{
    long long v[7];
    if (sscanf(s, "%lld,%lld,%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7)
        return -1;
    cs->conv = 1;
    cs->c = v[0];
    cs->h = v[1];
    cs->w = v[2];
    cs->oc = v[3];
    cs->kh = v[4];
    cs->kw = v[5];
    cs->pad = v[6];
    for (int i = 0; i < 6; i++)
        if (v[i] < 1)
            return -1;
    if (v[6] < 0 || v[4] > v[1] + 2 * v[6] || v[5] > v[2] + 2 * v[6])
        return -1;
    cs->oh = cs->h + 2 * cs->pad - cs->kh + 1;
    cs->ow = cs->w + 2 * cs->pad - cs->kw + 1;
    cs->m = cs->oh * cs->ow;
    cs->k = cs->c * cs->kh * cs->kw;
    cs->n = cs->oc;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_qgemm (--m M --k K --n N | --conv C,H,W,OC,KH,KW,PAD) [--weights s8|s4|s3|s2|s8:gN|s4:gN|s3:gN|s2:gN|ternary:gN]\n"
                    "                   [--threads T] [--reps R] [--budget SECONDS] [--kernels auto|ref] [--wsum on|off] [--json]\n"
                    "       bench_qgemm --peak [--threads T] [--json]\n");
}

int main(int argc, char **argv)
{
    cell_shape cs = { 0 };
    const char *wpol = "s8";
    int threads = 1, reps = 50, json = 0, peak = 0, wsum_on = 1;
    double budget = 2.0;
    const char *env_kernels = getenv("FGQ_KERNELS");
    int32_t kernels = env_kernels != NULL && !strcmp(env_kernels, "ref") ? FGQ_KERNELS_REF : FGQ_KERNELS_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--peak"))
            peak = 1;
        else if (v == NULL) {
            usage();
            return 2;
        } else if (!strcmp(a, "--m"))
            cs.m = atoll(argv[++i]);
        else if (!strcmp(a, "--k"))
            cs.k = atoll(argv[++i]);
        else if (!strcmp(a, "--n"))
            cs.n = atoll(argv[++i]);
        else if (!strcmp(a, "--conv")) {
            if (parse_conv(v, &cs) != 0) {
                fprintf(stderr, "bench_qgemm: --conv wants C,H,W,OC,KH,KW,PAD (positive, kernel within the padded input), got '%s'\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--weights"))
            wpol = argv[++i];
        else if (!strcmp(a, "--threads"))
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(a, "--kernels")) {
            if (strcmp(v, "auto") != 0 && strcmp(v, "ref") != 0) {
                fprintf(stderr, "bench_qgemm: --kernels auto|ref, got '%s'\n", v);
                return 2;
            }
            kernels = !strcmp(argv[++i], "ref") ? FGQ_KERNELS_REF : FGQ_KERNELS_AUTO;
        } else if (!strcmp(a, "--wsum")) {
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
                fprintf(stderr, "bench_qgemm: --wsum on|off, got '%s'\n", v);
                return 2;
            }
            wsum_on = !strcmp(argv[++i], "on");
        } else if (!strcmp(a, "--budget"))
            budget = atof(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (threads < 1 || threads > FGQ_THREADPOOL_MAX_THREADS || reps < 1) {
        fprintf(stderr, "bench_qgemm: --threads in 1..%d and --reps >= 1\n", FGQ_THREADPOOL_MAX_THREADS);
        return 2;
    }
    if (peak)
        return run_peak(threads, json);
    if (cs.m < 1 || cs.k < 1 || cs.n < 1) {
        usage();
        return 2;
    }

    fgq_error err;
    fgq_error_clear(&err);
    fgq_policy pol;
    if (fgq_policy_parse(wpol, &pol, &err) != FGQ_OK) {
        fprintf(stderr, "bench_qgemm: %s\n", err.msg);
        return 2;
    }
    if (!(pol.kind == FGQ_WQ_T2 || pol.kind == FGQ_WQ_S8 || pol.kind == FGQ_WQ_S4 || pol.kind == FGQ_WQ_S3 ||
          pol.kind == FGQ_WQ_S2)) {
        fprintf(stderr, "bench_qgemm: --weights %s: only s8, s4, s3, s2 (per channel or :gN) and ternary:gN are benchmarked\n",
                wpol);
        return 2;
    }

    const int64_t M = cs.m, K = cs.k, N = cs.n;
    /* Weights: gaussian [N, K], packed. */
    float *wf = malloc((size_t)(N * K) * sizeof(float));
    if (wf == NULL)
        return 1;
    for (int64_t i = 0; i < N * K; i++)
        wf[i] = gauss();
    fgq_packed_weights pw;
    memset(&pw, 0, sizeof pw);
    if (fgq_quantize_packed_f32(&pol, wf, N, K, &pw, &err) != FGQ_OK) {
        fprintf(stderr, "bench_qgemm: packing weights: %s\n", err.msg);
        fgq_packed_weights_free(&pw);
        return 1;
    }
    free(wf);
    const int64_t kp = pw.dtype == FGQ_DT_T2 || pw.dtype == FGQ_DT_S2 ? pw.layout.row_bytes * 4
                       : pw.dtype == FGQ_DT_S4 ? pw.layout.row_bytes * 2
                       : pw.dtype == FGQ_DT_S3 ? pw.layout.row_bytes / 3 * 8
                                               : pw.layout.row_bytes;
    int32_t mmax = 0;
    const int has_gs = pw.dtype == FGQ_DT_T2 || pol.group > 0;
    /* s8:gN / s4:gN: the row step s_m and multipliers m_g as the tools integerise them
     * (docs/quantized-ops.md §3.3: M from the §3.5 bound, s_m = max_g α_g / M, m_g =
     * round(α_g / s_m)); the codes stay as packed against α_g (only the timing counts) */
    uint8_t *gmults = NULL;
    float *row_step = NULL;
    if (has_gs && pw.dtype != FGQ_DT_T2) {
        const int64_t G = pw.layout.n_groups, cmax = pw.dtype == FGQ_DT_S4   ? 8
                                                          : pw.dtype == FGQ_DT_S3 ? 4
                                                          : pw.dtype == FGQ_DT_S2 ? 3
                                                                                  : 128;
        const int64_t bound = INT32_MAX / (K * cmax * 255);
        const int32_t M_ = bound > 255 ? 255 : bound < 1 ? 1 : (int32_t)bound;
        gmults = malloc((size_t)(N * G));
        row_step = malloc((size_t)N * sizeof(float));
        if (gmults == NULL || row_step == NULL)
            return 1;
        for (int64_t r = 0; r < N; r++) {
            float amax = 0.0f;
            for (int64_t g = 0; g < G; g++)
                amax = pw.scales[r * G + g] > amax ? pw.scales[r * G + g] : amax;
            row_step[r] = amax > 0.0f ? amax / (float)M_ : 1.0f;
            for (int64_t g = 0; g < G; g++) {
                const long m = lroundf(pw.scales[r * G + g] / row_step[r]);
                gmults[r * G + g] = (uint8_t)(m < 0 ? 0 : m > M_ ? M_ : m);
            }
        }
        mmax = M_;
    }
    if (pw.dtype == FGQ_DT_T2)
        for (int64_t i = 0; i < pw.layout.n_mults; i++)
            mmax = pw.mults[i] > mmax ? pw.mults[i] : mmax;
    if (has_gs && mmax < 1)
        mmax = 1;

    /* Activations, bias, REQ, output. */
    const int32_t zx = 10, zy = 128;
    const int64_t x_elems = cs.conv ? cs.c * cs.h * cs.w : M * K;
    uint8_t *x = malloc((size_t)x_elems);
    uint8_t *y = malloc((size_t)(M * N));
    int32_t *bias = malloc((size_t)N * sizeof(int32_t));
    int32_t *req = malloc((size_t)N * 2 * sizeof(int32_t));
    if (x == NULL || y == NULL || bias == NULL || req == NULL)
        return 1;
    for (int64_t i = 0; i < x_elems; i++)
        x[i] = (uint8_t)(next_u64() >> 56);
    /* s_x = 1/64; the dot of a row has std ~ sqrt(K)·74·(step·m); pick s_y so
     * that about ±3 std fills ±127 output steps. */
    const double s_x = 1.0 / 64.0;
    for (int64_t r = 0; r < N; r++) {
        const double s_m = row_step != NULL ? row_step[r] : pw.scales[pw.dtype == FGQ_DT_T2 ? r : r * pw.layout.n_groups];
        const double code_rms = (pw.dtype == FGQ_DT_T2 ? 0.8 : pw.dtype == FGQ_DT_S4 ? 2.5 : pw.dtype == FGQ_DT_S3 ? 1.3 : pw.dtype == FGQ_DT_S2 ? 2.2 : 40.0) *
                                (has_gs ? (mmax > 0 ? mmax : 1) : 1);
        const double s_y = 3.0 * sqrt((double)K) * 74.0 * code_rms * s_x * s_m / 127.0;
        if (fgq_quantize_multiplier(s_x * s_m / s_y, &req[2 * r], &req[2 * r + 1], &err) != FGQ_OK) {
            fprintf(stderr, "bench_qgemm: REQ row %lld: %s\n", (long long)r, err.msg);
            return 1;
        }
        bias[r] = (int32_t)(next_u64() % 2001) - 1000;
    }

    /* Views and node. */
    fgq_tensor_view tx = { 0 }, tw = { 0 }, tb = { 0 }, treq = { 0 }, tgs = { 0 }, ty = { 0 };
    tx.dtype = FGQ_DT_U8;
    tx.data = x;
    ty.dtype = FGQ_DT_U8;
    ty.data = y;
    if (cs.conv) {
        tx.rank = ty.rank = 4;
        tx.dims[0] = ty.dims[0] = 1;
        tx.dims[1] = cs.c;
        tx.dims[2] = cs.h;
        tx.dims[3] = cs.w;
        ty.dims[1] = cs.oc;
        ty.dims[2] = cs.oh;
        ty.dims[3] = cs.ow;
    } else {
        tx.rank = ty.rank = 2;
        tx.dims[0] = M;
        tx.dims[1] = K;
        ty.dims[0] = M;
        ty.dims[1] = N;
    }
    tw.dtype = pw.dtype;
    tw.rank = 2;
    tw.dims[0] = N;
    tw.dims[1] = kp;
    tw.data = pw.codes;
    tb.dtype = FGQ_DT_S32;
    tb.rank = 1;
    tb.dims[0] = N;
    tb.data = bias;
    treq.dtype = FGQ_DT_S32;
    treq.rank = 2;
    treq.dims[0] = N;
    treq.dims[1] = 2;
    treq.data = req;
    if (has_gs) {
        tgs.dtype = FGQ_DT_U8;
        tgs.rank = pw.dtype == FGQ_DT_T2 && pw.layout.n_alpha == 2 ? 3 : 2;
        tgs.dims[0] = N;
        tgs.dims[1] = pw.layout.n_groups;
        tgs.dims[2] = 2;
        tgs.data = gmults != NULL ? gmults : pw.mults;
    }
    /* WSUM (the rows' sums) where `fgq quantize` writes it: QGEMM with ternary or s8 weights */
    const int has_wsum = !cs.conv && (pw.dtype == FGQ_DT_T2 || pw.dtype == FGQ_DT_S8) && wsum_on;
    int32_t *wsum = has_wsum ? malloc((size_t)N * sizeof(int32_t)) : NULL;
    fgq_tensor_view tsum = { .dtype = FGQ_DT_S32, .rank = 1, .dims = { N }, .data = wsum };
    if (has_wsum && (wsum == NULL || fgq_qweights_row_sums(pw.dtype, pw.codes, N, K, has_gs ? pw.layout.group : 0,
                                                           pw.layout.n_alpha, mmax, (const uint8_t *)tgs.data,
                                                           wsum) != FGQ_OK)) {
        fprintf(stderr, "bench_qgemm: the rows' sums failed\n");
        return 1;
    }
    const fgq_tensor_view *ins[6] = { &tx, &tw, &tb, &treq, has_gs ? &tgs : NULL, &tsum };
    const fgq_tensor_view *outs[1] = { &ty };

    int32_t ip[FGQ_NODE_MAX_IPARAMS] = { 0 };
    float fp[FGQ_NODE_MAX_FPARAMS] = { 0 };
    const fgq_op op = cs.conv ? FGQ_OP_QCONV : FGQ_OP_QGEMM;
    if (cs.conv) {
        ip[FGQ_P_NSPATIAL] = 2;
        ip[FGQ_P_GROUP] = 1;
        ip[FGQ_P_KERNEL + 0] = (int32_t)cs.kh;
        ip[FGQ_P_KERNEL + 1] = (int32_t)cs.kw;
        ip[FGQ_P_STRIDE + 0] = ip[FGQ_P_STRIDE + 1] = 1;
        ip[FGQ_P_DILATION + 0] = ip[FGQ_P_DILATION + 1] = 1;
        for (int j = 0; j < 2; j++)
            ip[FGQ_P_PAD_BEGIN + j] = ip[FGQ_P_PAD_END + j] = (int32_t)cs.pad;
    }
    ip[FGQ_QP_X_ZERO] = zx;
    ip[FGQ_QP_Y_ZERO] = zy;
    ip[FGQ_QP_QMIN] = 0;
    ip[FGQ_QP_QMAX] = 255;
    if (has_gs) {
        ip[FGQ_QP_W_GROUP] = (int32_t)pw.layout.group;
        ip[FGQ_QP_W_NALPHA] = pw.dtype == FGQ_DT_T2 ? pw.layout.n_alpha : 1;
        ip[FGQ_QP_W_MMAX] = mmax;
    }

    fgq_threadpool *pool = NULL;
    if (fgq_threadpool_create(threads, &pool, &err) != FGQ_OK) {
        fprintf(stderr, "bench_qgemm: %s\n", err.msg);
        return 1;
    }
    fgq_parallel par = *fgq_threadpool_parallel(pool);
    par.kernels = kernels;
    static const char node_name[] = "bench";
    fgq_node_view node = { .name = node_name,
                           .name_len = (uint32_t)(sizeof node_name - 1),
                           .op = op,
                           .n_inputs = has_wsum ? 6 : has_gs ? 5 : 4,
                           .n_outputs = 1,
                           .iparams = ip,
                           .fparams = fp,
                           .par = &par,
                           /* once, as fgq_model_load does; AMX where the OS grants it, as the tools do */
                           .cpu = fgq_cpu_features() | fgq_host_cpu_grants() };
    const fgq_op_impl *impl = fgq_op_lookup(op);
    if (impl == NULL || impl->check == NULL || impl->run == NULL) {
        fprintf(stderr, "bench_qgemm: op %s is not implemented\n", fgq_op_name(op));
        return 1;
    }
    /* check as the loader does: the activations' data pointers NULL, the constants' (W, B, REQ, GS)
     * given, since the check reads REQ's values (fgq_qweights_check_req) */
    {
        fgq_tensor_view cx = tx, cw = tw, cb = tb, cr = treq, cg = tgs, cs_ = tsum, cy = ty;
        cx.data = cy.data = NULL;
        const fgq_tensor_view *cin[6] = { &cx, &cw, &cb, &cr, has_gs ? &cg : NULL, &cs_ };
        const fgq_tensor_view *cout[1] = { &cy };
        if (impl->check(&node, cin, cout, &err) != FGQ_OK) {
            fprintf(stderr, "bench_qgemm: check: %s\n", err.msg);
            return 1;
        }
        /* the op's scratch, one slice per thread, as fgq_model_run gives it from the arena */
        const uint64_t need = impl->scratch != NULL ? impl->scratch(&node, cin, cout, fgq_target_build()) : 0;
        const uint64_t stride = fgq_scratch_stride(need);
        if (stride > 0) {
            node.scratch = aligned_alloc(64, (size_t)(stride * (uint64_t)threads));
            if (node.scratch == NULL)
                return 1;
            node.scratch_stride = stride;
            node.n_scratch = threads;
        }
    }

    /* One warm-up run, then timed runs. */
    if (impl->run(&node, ins, outs, &err) != FGQ_OK) {
        fprintf(stderr, "bench_qgemm: run: %s\n", err.msg);
        return 1;
    }
    double *t = malloc((size_t)reps * sizeof(double));
    if (t == NULL)
        return 1;
    int done = 0;
    const double start = now_s();
    while (done < reps) {
        const double t0 = now_s();
        impl->run(&node, ins, outs, &err);
        t[done++] = now_s() - t0;
        if (done >= 3 && now_s() - start >= budget)
            break;
    }
    qsort(t, (size_t)done, sizeof t[0], cmp_double);
    const double med = done % 2 ? t[done / 2] : 0.5 * (t[done / 2 - 1] + t[done / 2]);
    const double gops = 2.0 * (double)M * (double)N * (double)K / med * 1e-9;
    uint64_t checksum = 0;
    for (int64_t i = 0; i < M * N; i++)
        checksum = checksum * 31 + y[i];

    char shape[128], label[64];
    if (cs.conv)
        snprintf(shape, sizeof shape, "conv %lldx%lldx%lld->%lld k%lldx%lld p%lld", (long long)cs.c, (long long)cs.h,
                 (long long)cs.w, (long long)cs.oc, (long long)cs.kh, (long long)cs.kw, (long long)cs.pad);
    else
        snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)M, (long long)K, (long long)N);
    if (pw.dtype == FGQ_DT_T2 || has_gs)
        snprintf(label, sizeof label, "fgq-%s-g%lld",
                 fgq_dtype_name(pw.dtype), (long long)pol.group);
    else
        snprintf(label, sizeof label, "fgq-%s", fgq_dtype_name(pw.dtype));
    const char *kname = kernel_name(op, pw.dtype, has_gs ? mmax : 0, M, kernels, node.cpu);
    if (json)
        printf("{\"shape\": \"%s\", \"m\": %lld, \"k\": %lld, \"n\": %lld, \"threads\": %d, \"impl\": \"%s\", "
               "\"kernel\": \"%s\", \"weights\": \"%s\", \"gops\": %.4f, \"ms\": %.4f, \"reps\": %d, "
               "\"checksum\": %llu}\n",
               shape, (long long)M, (long long)K, (long long)N, threads, label, kname, wpol, gops, med * 1e3, done,
               (unsigned long long)(checksum % 1000000007ull));
    else
        printf("%-32s threads %d  %-12s kernel %-10s %9.3f ms  %8.2f GOP/s  (median of %d)\n", shape, threads, label,
               kname, med * 1e3, gops, done);

    free(t);
    free(node.scratch);
    fgq_threadpool_destroy(pool);
    fgq_packed_weights_free(&pw);
    free(gmults);
    free(row_step);
    free(x);
    free(y);
    free(bias);
    free(req);
    free(wsum);
    return 0;
}
