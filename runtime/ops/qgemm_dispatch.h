/*
 * qgemm_dispatch.h — QGEMM's microkernels and the const table that picks one.
 *
 * A microkernel computes the exact int32 dot products of a block of weight
 * rows with one activation row:
 *
 *   dot[i] = Σ_k w[j0 + i, k] · (a[k] − zx),   i < n
 *
 * with the groups, multipliers (min(GS, W_MMAX)), t2 code 3 = 0 and result of
 * fgq_qweights_dot (ops_q.h), which is its reference twin: every kernel must
 * give the same integers (tests/test_qgemm_avx2.c). qw was validated by
 * fgq_qweights_check, so the §3.5 int32 bound of docs/quantized-ops.md holds
 * (every partial sum of |w|·m·|a − zx| fits in int32); a is u8, or s8 when
 * a_s8, with k = qw->k values; j0 + n <= qw->rows, n >= 1.
 *
 * Selection (fgq_qgemm_kernel_select): the first row of the table for the
 * weight dtype whose CPU test passes, unless the caller asked for the
 * reference kernels (fgq_parallel.kernels == FGQ_KERNELS_REF). The CPU is
 * queried at each call (cpuid, no cached state): the table is const and the
 * runtime keeps no mutable globals.
 */
#ifndef FGQ_QGEMM_DISPATCH_H
#define FGQ_QGEMM_DISPATCH_H

#include "ops_q.h"

#include <stdint.h>

typedef void (*fgq_qgemm_dot_fn)(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);

typedef struct {
    const char *name;   /* XNNPACK style: op, types, tile, ISA */
    fgq_dtype w_dtype;  /* weights it handles (activations u8 and s8) */
    int (*usable)(void); /* NULL: runs everywhere */
    fgq_qgemm_dot_fn dot;
} fgq_qgemm_kernel;

/* The kernel QGEMM runs for weights of w_dtype under preference `kernels`
 * (FGQ_KERNELS_AUTO / FGQ_KERNELS_REF). Never NULL: the reference row
 * matches every dtype. */
const fgq_qgemm_kernel *fgq_qgemm_kernel_select(fgq_dtype w_dtype, int32_t kernels);

/* The preference a node runs under: node->par's, AUTO when par is NULL. */
int32_t fgq_node_kernels(const fgq_node_view *node);

/* Name of the kernel `node` (a QGEMM) runs for weights of w_dtype. */
const char *fgq_qgemm_kernel_name(const fgq_node_view *node, fgq_dtype w_dtype);

/* Name of the kernel op `op` runs for weights of w_dtype under AUTO ("ref"
 * for every op without optimized kernels). For benchmarks' reports. */
const char *fgq_q_kernel_name(uint32_t op, int32_t w_dtype);

/* ---- the kernels ---------------------------------------------------------- */

/* Reference twin: fgq_qweights_dot per row. */
void fgq_qgemm_dot_ref(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                       int32_t *dot);

#if defined(__x86_64__) || defined(__i386__)
/* 1 when the CPU and the OS support AVX2 and FMA (cpuid + xgetbv). */
int fgq_cpu_has_avx2(void);
/* qgemm_u8s8_1x4c16__avx2.c: s8 weights, 4 rows a pass, 16 k a step. */
void fgq_qgemm_u8s8_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
/* qgemm_u8t2_1x4c16__avx2.c: t2 weights, 4 rows a pass, 16 k a step. */
void fgq_qgemm_u8t2_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
#endif

#endif /* FGQ_QGEMM_DISPATCH_H */
