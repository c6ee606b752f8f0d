/*
 * bench_gemm_f32.c — throughput of the float Gemm op (GFLOP/s) under both
 * kernel preferences, run through the op table exactly as the runtime runs
 * it: REF (the loops of gemm_f32.c) and AUTO (gemm_f32__avx2.c where the CPU
 * has AVX2+FMA), one thread, on a fixed list of shapes (GEMV as in batch-1
 * classifiers and the MLPerf Tiny autoencoder; M >= 16 as in attention or
 * batched inputs), transB 0 and 1.
 *
 * usage: bench_gemm_f32 [--budget S]   (S seconds per cell at most, default 0.3)
 * Per cell: repeat the op until 1 ms has passed, take the time per call;
 * the best of at least 5 such rounds (the least disturbed by other load).
 * GFLOP/s = 2·M·N·K / that time. Inputs uniform in [-1, 1), fixed seed.
 */
#include "fgq_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(float *p, int64_t n, uint32_t *s)
{
    for (int64_t i = 0; i < n; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        p[i] = (float)((*s >> 8) * (1.0 / 8388608.0)) - 1.0f;
    }
}

static fgq_tensor_view view2(float *data, int64_t d0, int64_t d1)
{
    fgq_tensor_view v;
    memset(&v, 0, sizeof v);
    v.dtype = FGQ_DT_F32;
    v.rank = 2;
    v.dims[0] = d0;
    v.dims[1] = d1;
    v.data = data;
    return v;
}

/* Seconds per call of the Gemm node, best of the rounds that fit in budget. */
static double time_gemm(const fgq_op_impl *impl, const fgq_node_view *nd, const fgq_tensor_view *const *in,
                        const fgq_tensor_view *const *out, double budget)
{
    fgq_error err;
    double best = 1e30;
    const double t_end = now_s() + budget;
    for (int round = 0; round < 5 || now_s() < t_end; round++) {
        int calls = 0;
        const double t0 = now_s();
        double t = t0;
        while (t - t0 < 1e-3) {
            if (impl->run(nd, in, out, &err) != FGQ_OK) {
                fprintf(stderr, "bench_gemm_f32: run failed: %s\n", err.msg);
                exit(1);
            }
            calls++;
            t = now_s();
        }
        const double per = (t - t0) / calls;
        best = per < best ? per : best;
        if (round > 1000)
            break;
    }
    return best;
}

int main(int argc, char **argv)
{
    double budget = 0.3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) {
            budget = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_gemm_f32 [--budget S]\n");
            return 2;
        }
    }
    static const int64_t shapes[][3] = { /* M, K, N */
                                         { 1, 640, 32 },   { 1, 32, 640 },    { 1, 256, 10 },   { 1, 512, 512 },
                                         { 1, 1024, 1000 }, { 16, 512, 512 }, { 64, 256, 256 }, { 256, 256, 256 } };
    const fgq_op_impl *impl = fgq_op_lookup(FGQ_OP_GEMM);
    const uint32_t cpu = fgq_cpu_features();
    printf("float Gemm, 1 thread, GFLOP/s (best of >= 5 rounds); AVX2+FMA: %s\n",
           (cpu & FGQ_CPU_AVX2) ? "yes" : "no (AUTO runs the reference)");
    printf("%-22s %7s %12s %12s %8s\n", "M x K x N", "transB", "ref", "auto", "auto/ref");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tb = 0; tb < 2; tb++) {
            const int64_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
            float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
            float *y = malloc(sizeof(float) * (size_t)(m * n));
            uint32_t seed = 12345u;
            fill(a, m * k, &seed);
            fill(b, k * n, &seed);
            fgq_tensor_view av = view2(a, m, k), bv = tb ? view2(b, n, k) : view2(b, k, n), yv = view2(y, m, n);
            int32_t ip[32];
            float fp[8];
            memset(ip, 0, sizeof ip);
            memset(fp, 0, sizeof fp);
            ip[FGQ_P_TRANS_B] = tb;
            fp[FGQ_PF_ALPHA] = 1.0f;
            fp[FGQ_PF_BETA] = 1.0f;
            fgq_node_view nd;
            memset(&nd, 0, sizeof nd);
            nd.name = "gemm";
            nd.name_len = 4;
            nd.op = FGQ_OP_GEMM;
            nd.n_inputs = 2;
            nd.n_outputs = 1;
            nd.iparams = ip;
            nd.fparams = fp;
            nd.cpu = cpu; /* as fgq_model_load sets it: no CPU query per call */
            const fgq_tensor_view *in[2] = { &av, &bv }, *out[1] = { &yv };
            fgq_error err;
            if (impl->check(&nd, in, out, &err) != FGQ_OK) {
                fprintf(stderr, "bench_gemm_f32: check failed: %s\n", err.msg);
                return 1;
            }
            double t[2];
            for (int kernels = 0; kernels < 2; kernels++) {
                fgq_parallel par = { NULL, 1, NULL, kernels == 0 ? FGQ_KERNELS_REF : FGQ_KERNELS_AUTO };
                nd.par = &par;
                t[kernels] = time_gemm(impl, &nd, in, out, budget);
                nd.par = NULL;
            }
            const double flop = 2.0 * (double)m * (double)k * (double)n;
            char name[48];
            snprintf(name, sizeof name, "%lld x %lld x %lld", (long long)m, (long long)k, (long long)n);
            printf("%-22s %7d %12.2f %12.2f %7.1fx\n", name, tb, flop / t[0] * 1e-9, flop / t[1] * 1e-9, t[0] / t[1]);
            free(a);
            free(b);
            free(y);
        }
    return 0;
}
