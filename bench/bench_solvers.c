/*
 * bench_solvers.c — ternary solver throughput (weights/s), one thread.
 *
 * For each solver (twn, exact, asym) and group size N in {4, 16, 64, 256}:
 * solve every group of a [rows, k] gaussian tensor (default 4096 x 4096,
 * --quick 1024 x 1024), codes written to an int8 buffer; median wall time of
 * several runs (CLOCK_MONOTONIC). The same run also times two references:
 *   s8 row pass  — plain per-row symmetric s8 quantization (max|w|, round);
 *   full t2      — fgq_quantize_packed_f32 (solve + integerise + pack) for exact.
 * "vs s8" is the solver's throughput divided by the s8 pass's.
 * Usage: bench_solvers [--quick] [--runs R] [--json FILE]
 */
#include "quant/format/ternary.h"
#include "quant/format/wformat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double unit(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

typedef struct {
    const float *w;
    int64_t rows, k, group;
    fgq_ternary_solver solver;
    int8_t *codes;
    void *scratch;
    double checksum; /* keeps the work observable */
} solve_job;

static void run_solver(solve_job *j)
{
    double acc = 0.0;
    int64_t n = j->rows * j->k;
    for (int64_t g0 = 0; g0 < n; g0 += j->group) { /* k is a multiple of every N used */
        fgq_ternary_fit fit;
        fgq_ternary_solve_f32(j->solver, j->w + g0, j->group, j->scratch, j->codes + g0, &fit);
        acc += fit.alpha_pos;
    }
    j->checksum += acc;
}

static double run_s8(const float *w, int64_t rows, int64_t k, int8_t *q, float *scales)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *wr = w + r * k;
        float amax = 0.0f;
        for (int64_t i = 0; i < k; i++) {
            float a = fabsf(wr[i]);
            amax = a > amax ? a : amax;
        }
        float s = amax > 0.0f ? amax / 127.0f : 1.0f;
        float inv = 1.0f / s;
        for (int64_t i = 0; i < k; i++)
            q[r * k + i] = (int8_t)lrintf(wr[i] * inv);
        scales[r] = s;
    }
    return (double)scales[rows - 1];
}

int main(int argc, char **argv)
{
    int64_t rows = 4096, k = 4096;
    int runs = 5;
    const char *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            rows = 1024;
            k = 1024;
            runs = 3;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
            if (runs < 1)
                runs = 1;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_path = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--quick] [--runs R] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    int64_t n = rows * k;
    float *w = malloc((size_t)n * sizeof(float));
    int8_t *codes = malloc((size_t)n);
    float *scales = malloc((size_t)rows * sizeof(float));
    double *t = malloc((size_t)runs * sizeof(double));
    if (!w || !codes || !scales || !t) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < n; i++) /* Box-Muller gaussian, sigma 0.05 like trained weights */
        w[i] = (float)(0.05 * sqrt(-2.0 * log(unit())) * cos(6.283185307179586 * unit()));

    double sink = 0.0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        sink += run_s8(w, rows, k, codes, scales);
        t[r] = now_s() - t0;
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    double s8_wps = (double)n / t[runs / 2];

    printf("ternary solvers, %lld x %lld gaussian f32, 1 thread, median of %d runs\n",
           (long long)rows, (long long)k, runs);
    printf("%-22s %8s %14s %8s\n", "pass", "N", "M weights/s", "vs s8");
    printf("%-22s %8s %14.1f %8.2f\n", "s8 per-row (peer)", "-", s8_wps / 1e6, 1.0);

    FILE *jf = NULL;
    if (json_path) {
        jf = fopen(json_path, "w");
        if (!jf) {
            fprintf(stderr, "cannot write %s\n", json_path);
            return 1;
        }
        fprintf(jf, "{\"rows\": %lld, \"k\": %lld, \"runs\": %d, \"s8_row_wps\": %.6g, \"results\": [",
                (long long)rows, (long long)k, runs, s8_wps);
    }
    static const int64_t groups[] = {4, 16, 64, 256};
    static const fgq_ternary_solver solvers[] = {FGQ_TERNARY_TWN, FGQ_TERNARY_EXACT, FGQ_TERNARY_ASYM};
    int first = 1;
    for (size_t si = 0; si < 3; si++) {
        for (size_t gi = 0; gi < 4; gi++) {
            solve_job j = {w, rows, k, groups[gi], solvers[si], codes,
                           malloc(fgq_ternary_scratch_bytes(groups[gi])), 0.0};
            for (int r = 0; r < runs; r++) {
                double t0 = now_s();
                run_solver(&j);
                t[r] = now_s() - t0;
            }
            free(j.scratch);
            sink += j.checksum;
            qsort(t, (size_t)runs, sizeof t[0], cmp_double);
            double wps = (double)n / t[runs / 2];
            printf("%-22s %8lld %14.1f %8.2f\n", fgq_ternary_solver_name(solvers[si]),
                   (long long)groups[gi], wps / 1e6, wps / s8_wps);
            if (jf) {
                fprintf(jf, "%s{\"pass\": \"%s\", \"group\": %lld, \"wps\": %.6g, \"vs_s8\": %.4f}",
                        first ? "" : ", ", fgq_ternary_solver_name(solvers[si]), (long long)groups[gi],
                        wps, wps / s8_wps);
                first = 0;
            }
        }
    }
    /* the whole ternary format: solve, integerise alphas, pack */
    for (size_t gi = 0; gi < 3; gi++) {
        fgq_policy p = {FGQ_WQ_T2, groups[gi], FGQ_TERNARY_EXACT};
        for (int r = 0; r < runs; r++) {
            fgq_packed_weights pw;
            fgq_error err = {0};
            double t0 = now_s();
            fgq_status st = fgq_quantize_packed_f32(&p, w, rows, k, &pw, &err);
            t[r] = now_s() - t0;
            if (st != FGQ_OK) {
                fprintf(stderr, "quantize failed: %s\n", err.msg);
                return 1;
            }
            sink += pw.scales[0];
            fgq_packed_weights_free(&pw);
        }
        qsort(t, (size_t)runs, sizeof t[0], cmp_double);
        double wps = (double)n / t[runs / 2];
        printf("%-22s %8lld %14.1f %8.2f\n", "full t2 exact+pack", (long long)groups[gi], wps / 1e6, wps / s8_wps);
        if (jf)
            fprintf(jf, ", {\"pass\": \"t2_exact_pack\", \"group\": %lld, \"wps\": %.6g, \"vs_s8\": %.4f}",
                    (long long)groups[gi], wps, wps / s8_wps);
    }
    if (jf) {
        fprintf(jf, "]}\n");
        fclose(jf);
    }
    fprintf(stderr, "(checksum %g)\n", sink);
    free(w);
    free(codes);
    free(scales);
    free(t);
    return 0;
}
