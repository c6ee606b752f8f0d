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
 * give the same integers (tests/test_qgemm_kernels.c). qw was validated by
 * fgq_qweights_check, so the §3.5 int32 bound of docs/quantized-ops.md holds
 * (every partial sum of |w|·m·|a − zx| fits in int32); a is u8, or s8 when
 * a_s8, with k = qw->k values; j0 + n <= qw->rows, n >= 1.
 *
 * A kernel may also take a block of m activation rows at once (`gemm`,
 * rows lda bytes apart, results dot[r·ldd + i]): the same integers as m
 * calls of `dot`; NULL means the caller loops over `dot`.
 *
 * Selection (fgq_qgemm_kernel_select): the first row of the table for the
 * weight dtype whose CPU features (`needs`) the CPU has and that fits the
 * weights (`fits`: group layouts a kernel handles; NULL: all), unless the
 * caller asked for the reference kernels (fgq_parallel.kernels ==
 * FGQ_KERNELS_REF). The features come from the node (fgq_model_load queried
 * them once: cpuid traps to the hypervisor in a VM and cost more than a
 * small model's whole run when asked per node); the table is const and the
 * runtime keeps no mutable globals.
 */
#ifndef FGQ_QGEMM_DISPATCH_H
#define FGQ_QGEMM_DISPATCH_H

#include "fgq_target.h"
#include "ops_q.h"

#include <stdint.h>

typedef void (*fgq_qgemm_dot_fn)(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);

/* Working memory of the block form: the x86 t2, s4, s3 and s2 kernels decode blocks
 * of weight rows to s8 there (FGQ_QGEMM_DECODE_BYTES, qgemm_avx512vnni.h; the
 * x86-64 profile's qgemm_decode_bytes); s8 weights, and the other targets,
 * need none. Sized for the weights and the target alone, whatever the CPU.
 * 128 KB: a grouped panel of 16 weight rows takes K up to ~8000 (at 32 KB ResNet's K = 2304
 * and 4608 layers decoded a few rows at a time instead: 1.9x slower). */
enum { FGQ_QGEMM_DECODE_BYTES = 131072 };
static inline int64_t fgq_qgemm_gemm_work_bytes(const fgq_qweights *qw, const fgq_target *target)
{
    return qw->dtype != FGQ_DT_S8 ? target->qgemm_decode_bytes : 0; /* the sub-byte formats */
}

/* work: the caller's fgq_qgemm_gemm_work_bytes(qw, fgq_target_build()) bytes (the op's scratch);
 * kernels that need none ignore it. */
typedef void (*fgq_qgemm_gemm_fn)(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                  int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);

/* Output stage of n dot products: y[i] = clamp(z_y + requant(sat32(
 * B[c] + dot[i]), REQ[c]), qmin, qmax) with channel c = c0 + i·c_step
 * (c_step 1: a QGEMM row, 0: n positions of one QCONV channel). Reference
 * twin: fgq_qweights_output + fgq_q_store. */
typedef void (*fgq_qrequant_fn)(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n,
                                int32_t zy, int32_t qmin, int32_t qmax, void *y, int y_s8);
/* The same for nc channels c0 .. c0 + nc − 1 at once, each a run of n positions: channel c0 + j
 * reads dot + j·ld_dot and writes y + j·ld_y (QCONV's tiles: one call a tile instead of one a
 * channel). fgq_qrequant_rows_ref loops `requant` over the channels. */
typedef void (*fgq_qrequant_rows_fn)(const fgq_qweights *qw, int64_t c0, int64_t nc, const int32_t *dot,
                                     int64_t ld_dot, int64_t n, int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y,
                                     int64_t ld_y, int y_s8);

typedef struct {
    const char *name;    /* XNNPACK style: op, types, tile, ISA */
    fgq_dtype w_dtype;   /* weights it handles (activations u8 and s8) */
    uint32_t needs;      /* FGQ_CPU_* bits it needs; 0: runs everywhere */
    int (*fits)(const fgq_qweights *qw); /* NULL: every group layout */
    fgq_qgemm_dot_fn dot;
    fgq_qgemm_gemm_fn gemm; /* NULL: `dot` per activation row */
    fgq_qrequant_fn requant;
    fgq_qrequant_rows_fn requant_rows; /* NULL: `requant` a channel at a time */
} fgq_qgemm_kernel;

/* Channels c0 .. c0 + nc − 1 through kern's output stage: its rows form where it has one. */
void fgq_qgemm_kernel_requant_rows(const fgq_qgemm_kernel *kern, const fgq_qweights *qw, int64_t c0, int64_t nc,
                                   const int32_t *dot, int64_t ld_dot, int64_t n, int32_t zy, int32_t qmin,
                                   int32_t qmax, uint8_t *y, int64_t ld_y, int y_s8);

/* The kernel QGEMM runs for weights qw (or, qw NULL, for any weights of
 * w_dtype: the first row that could run) under preference `kernels`
 * (FGQ_KERNELS_AUTO / FGQ_KERNELS_REF). Never NULL: the reference row
 * matches every dtype. */
const fgq_qgemm_kernel *fgq_qgemm_kernel_select(fgq_dtype w_dtype, int32_t kernels, uint32_t cpu,
                                               const fgq_qweights *qw);

/* 1 when a CPU with features `cpu` can run row k. */
int fgq_qgemm_kernel_usable(const fgq_qgemm_kernel *k, uint32_t cpu);

/* Row i of the table (NULL past its end), for tests that try every kernel
 * the CPU can run. */
const fgq_qgemm_kernel *fgq_qgemm_kernel_at(size_t i);

/* Work units (fgq_parallel_grain's cost) of `macs` multiply-adds on kernel
 * row `kern`: the optimized rows do ~32 in the time the reference (and the
 * float loops the grain was set for) do one; splitting a small layer over
 * threads costs more than it saves. */
void fgq_qgemm_dot_ref(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                       int32_t *dot);
static inline int64_t fgq_qgemm_cost(const fgq_qgemm_kernel *kern, int64_t macs)
{
    return kern->dot == fgq_qgemm_dot_ref ? macs : macs / 32;
}

/* dot[r·ldd + i] for m activation rows: kern->gemm, or kern->dot per row.
 * work: fgq_qgemm_gemm_work_bytes(qw, fgq_target_build()) bytes (any alignment; NULL when 0). */
void fgq_qgemm_kernel_gemm(const fgq_qgemm_kernel *kern, const fgq_qweights *qw, int64_t j0, int64_t n,
                           const uint8_t *a, int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);

/* The preference a node runs under: node->par's, AUTO when par is NULL. */
int32_t fgq_node_kernels(const fgq_node_view *node);
/* The CPU features a node runs with: node->cpu, or a query when 0. */
uint32_t fgq_node_cpu(const fgq_node_view *node);

/* Name of the kernel `node` (a QGEMM) runs for weights of w_dtype. */
const char *fgq_qgemm_kernel_name(const fgq_node_view *node, fgq_dtype w_dtype);

/* Name of the kernel op `op` runs for weights of w_dtype (per channel when
 * w_mmax is 0, else groups of 64 with multipliers up to w_mmax) and m_rows
 * activation rows (QCONV: a 2-D stride-1 layer of K 576) under AUTO with CPU
 * features cpu (0: this CPU's, fgq_cpu_features; a host's grants,
 * FGQ_CPU_AMXINT8, are the caller's to add) ("ref" for ops without optimized
 * kernels). For benchmarks' reports: the layer is assumed to take the kernel its
 * layout names (16+ channels a group, K within the kernels' limits). */
const char *fgq_q_kernel_name(uint32_t op, int32_t w_dtype, int32_t w_mmax, int64_t m_rows, uint32_t cpu);

/* QCONV_DYN's output stage for nc channels c0 .. c0 + nc − 1, each a run of n dots (channel c0 + j's
 * at dot + j·ld_dot) into y + j·ld_y (fgq_qconv_fout's rule); the reference twin, and the one the
 * node runs (x86 with AVX-512 F: fgq_qconv_fout_rows__avx512, the same bits). */
typedef void (*fgq_qconv_fout_fn)(const fgq_qconv_fout *fo, int64_t c0, int64_t nc, const int32_t *dot, int64_t ld_dot,
                                  int64_t n, float *y, int64_t ld_y);
void fgq_qconv_fout_rows_ref(const fgq_qconv_fout *fo, int64_t c0, int64_t nc, const int32_t *dot, int64_t ld_dot,
                             int64_t n, float *y, int64_t ld_y);
fgq_qconv_fout_fn fgq_qconv_fout_select(int32_t kernels, uint32_t cpu);
/* QGEMM_DYN's output stage along one row: y[i] = the output of channel j0 + i for dot[i], i < n
 * (fgq_qconv_fout's rule); the reference twin, and the one the node runs (x86 with AVX-512 F:
 * fgq_qgemm_fout_row__avx512, the same bits). */
typedef void (*fgq_qgemm_fout_fn)(const fgq_qconv_fout *fo, int64_t j0, int64_t n, const int32_t *dot, float *y);
void fgq_qgemm_fout_row_ref(const fgq_qconv_fout *fo, int64_t j0, int64_t n, const int32_t *dot, float *y);
fgq_qgemm_fout_fn fgq_qgemm_fout_select(int32_t kernels, uint32_t cpu);

/* ---- the kernels ---------------------------------------------------------- */

/* Reference twin: fgq_qweights_dot per row. */
void fgq_qgemm_dot_ref(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                       int32_t *dot);
/* Depthwise QCONV step acc[i] += e·(x[i] − zx), i < n (x u8, or s8 when
 * x_s8), e = m·code of one tap: the reference twin of a row's `row`. */
void fgq_qconv_dwrow_ref(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8);
typedef void (*fgq_qconv_dwrow_fn)(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8);
/* Depthwise QCONV, all taps of a phase-form run at once: acc[i] = Σ_t e[t]·(src[t][i] − zx),
 * i < n: the reference twin of a row's `taps`. */
void fgq_qconv_dwtaps_ref(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                          int32_t zx, int x_s8);
typedef void (*fgq_qconv_dwtaps_fn)(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                                    int32_t zx, int x_s8);
/* The same with the output stage (fgq_qrequant_ref's, channel c): y[i] = the output of
 * Σ_t e[t]·(src[t][i] − zx). Returns 1; a fast row's function may return 0 instead, having
 * written nothing, for a channel it does not take (then: `taps` and the output stage). */
int fgq_qconv_dwtaps_q_ref(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n, int32_t zx,
                           int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin, int32_t qmax,
                           int y_s8);
typedef int (*fgq_qconv_dwtaps_q_fn)(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                                     int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin,
                                     int32_t qmax, int y_s8);
/* The geometry of one 2-D depthwise plane for the plane form (`plane` below). */
typedef struct {
    int64_t IH, IW, OH, OW, KH, KW, sh, sw, dh, dw, pt, pl; /* input, output, kernel; strides, dilations, pads */
} fgq_qconv_dwplane_geom;
/* Depthwise QCONV, one channel's whole 2-D plane straight from X (x: its IH·IW bytes; y: its
 * OH·OW outputs): y[oh][ow] = the output (channel c's, fgq_qrequant_ref's) of Σ_{kh,kw}
 * e[kh·KW + kw]·(x[oh·sh − pt + kh·dh][ow·sw − pl + kw·dw] − zx), taps outside X adding 0.
 * Returns 1: the reference twin of a row's `plane`. */
int fgq_qconv_dwplane_ref(uint8_t *y, const uint8_t *x, const fgq_qconv_dwplane_geom *g, const int32_t *e, int32_t zx,
                          int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin, int32_t qmax,
                          int y_s8);
/* What a row's plane form works out once for a geometry, for every channel of a layer
 * (`plane_prep`): the geometry, its step and the byte gathers of its windows; for the copy forms
 * a copy of the input plane between rows of z_x and the gathers of each step of their period,
 * in the scratch given to plane_prep. */
typedef struct {
    fgq_qconv_dwplane_geom g;
    uint8_t idx[2][4][64]; /* by rows: window w's gather for outputs 0-15 ([0][w]) and 16-31 ([1][w]) */
    int32_t windows;       /* 4-tap windows a kernel row: ⌈KW / 4⌉ */
    int32_t two;           /* by rows: 1: 32 outputs a step (two accumulators), 0: 16 */
    int32_t flat;          /* 1: from the copy (the flat or the row-aligned form), 0: by rows from X */
    int32_t by_rows;       /* copy: 1: steps within an output row (row-aligned), 0: in plane order */
    int32_t period;        /* copy: steps before the pattern repeats (row-aligned: steps a row) */
    int32_t zx, x_s8;      /* copy: the input's zero point and type the copy was filled for */
    int32_t fill;          /* copy: the byte z_x' of its rows around X (z_x, + 128 for s8 X) */
    int64_t copy_rows;     /* copy: rows of X copied into buf (from row pt of the copy) */
    uint8_t *buf;          /* copy: X's rows between rows of z_x, in the scratch */
    const uint8_t *tab;    /* copy: per step of the period, window gathers (64 B), masks (8 B), start */
} fgq_qconv_dwplane_prep;
/* The set-up's bytes in a scratch slice: a constant, so that a tool on any host (i386, ARM32
 * lay the struct out smaller) gives the x86-64 profile's figure. */
enum { FGQ_DWPLANE_PREP_BYTES = 704 };
_Static_assert(sizeof(fgq_qconv_dwplane_prep) <= FGQ_DWPLANE_PREP_BYTES, "the set-up fits its bytes");
/* The copy forms' layout for a geometry (fgq_qconv_dwflat_layout). */
typedef struct {
    int64_t rows;       /* rows of the copy */
    int64_t copy_bytes; /* its bytes, 64-aligned */
    int64_t period;     /* steps of the tables */
    int32_t by_rows;    /* 1: the row-aligned form, 0: the flat form */
} fgq_qconv_dwflat_shape;
/* The copy forms' layout for g (*s) and their bytes, the copy's and the tables' (returned); 0
 * where neither takes g. The flat form (steps of 16 outputs in plane order) where every lane's
 * windows fit a step's 64-byte load, else the row-aligned one (steps within a row) where 16
 * outputs' do. On every target, so that a tool sizes the x86-64 profile's scratch anywhere. */
enum { FGQ_DWFLAT_FRONT = 64, FGQ_DWFLAT_MAX_PERIOD = 64, FGQ_DWFLAT_MAX_KH = 16, FGQ_DWFLAT_MAX_G = 4 };
int64_t fgq_qconv_dwflat_layout(const fgq_qconv_dwplane_geom *g, fgq_qconv_dwflat_shape *s);
/* Lane j of step ph of the copy forms: its output column (*ow) and its window's offset in the
 * step's load (*rel; the layout takes the flat form only where every rel + 4·windows <= 64). */
static inline void fgq_qconv_dwflat_lane(const fgq_qconv_dwplane_geom *g, int by_rows, int64_t ph, int64_t j,
                                         int64_t *ow, int64_t *rel)
{
    const int64_t ow0 = by_rows ? 16 * ph : (16 * ph) % g->OW; /* the step's first output column */
    *ow = by_rows ? ow0 + j : (ow0 + j) % g->OW;
    *rel = by_rows ? j * g->sw : (ow0 + j) / g->OW * g->sh * g->IW + (*ow - ow0) * g->sw;
}
/* Fills *p for geometry g and an input of zero point zx (s8 when x_s8), with `bytes` of scratch
 * at `scratch` for the copy forms (8-byte aligned at least: a table of int32 lies in it; the
 * forms are not taken where the bytes do not suffice); 0 when the row's plane form does not take
 * g (then: the phase form). */
typedef int (*fgq_qconv_dwplane_prep_fn)(fgq_qconv_dwplane_prep *p, const fgq_qconv_dwplane_geom *g, int32_t zx,
                                         int x_s8, uint8_t *scratch, int64_t bytes);
/* The row's plane form for one channel of p's geometry: fgq_qconv_dwplane_ref's outputs, or 0,
 * having written nothing, for a channel it does not take (then: the phase form). */
typedef int (*fgq_qconv_dwplane_fn)(uint8_t *y, const uint8_t *x, const fgq_qconv_dwplane_prep *p, const int32_t *e,
                                    int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin,
                                    int32_t qmax, int y_s8);
/* A row of the depthwise table (qgemm_dispatch.c): x86 AVX-512 VBMI and VNNI (qconv_dwtaps__avx512vnni.c)
 * and AVX2 (qconv_dwrow__avx2.c, qconv_dwtaps__avx2.c); the Cortex-M DSP row in builds for that
 * extension (qconv_dwrow__armdsp.c). */
typedef struct {
    const char *name;
    uint32_t needs;               /* FGQ_CPU_* bits it needs; 0: runs where it was compiled */
    fgq_qconv_dwrow_fn row;       /* one tap along a run */
    fgq_qconv_dwtaps_fn taps;     /* every tap of a run at once; NULL: `row` tap by tap */
    fgq_qconv_dwtaps_q_fn taps_q; /* `taps` and the output stage in registers; NULL: none */
    fgq_qconv_dwplane_prep_fn plane_prep; /* the plane form's set-up for a layer; NULL: no plane form */
    fgq_qconv_dwplane_fn plane;           /* a whole 2-D plane from X, the output stage in registers */
} fgq_qconv_dw_kernel;
/* The row the depthwise path runs with under preference `kernels` on CPU `cpu`; NULL under
 * FGQ_KERNELS_REF or when no row fits (QCONV then takes its GEMM or reference path). */
const fgq_qconv_dw_kernel *fgq_qconv_dw_kernel_select(int32_t kernels, uint32_t cpu);
/* Row i of the table (NULL past its end), for tests that try every row the CPU can run. */
const fgq_qconv_dw_kernel *fgq_qconv_dw_kernel_at(size_t i);

/* Weights the x86 VNNI kernels take (s8, t2, s4): no GS, or symmetric
 * groups of 32·j codes (or one group over the whole row). A layout test, on every target
 * (the tests sort their cases by it). */
int fgq_qgemm_vnni_fits(const fgq_qweights *qw);
/* 1 when qw's rows decode to s8 weights, its group multipliers folded in: without GS any dtype;
 * with GS where every effective weight min(GS, M)·code fits s8 (W_MMAX times the dtype's largest
 * |code| <= 127; ternary files hold multipliers up to 127 for this). The AMX conv kernel takes
 * these layouts, and the s8 VNNI conv kernel the decoded rows of those with GS or not s8
 * (qconv.c). A layout test, on every target. */
int fgq_qweights_fold_s8(const fgq_qweights *qw);
/* Ternary with group multipliers in groups of 64·j codes or one group over the row: the layouts the
 * ternary fold decode takes (qconv_fold_t2__avx512vbmi.c; defined on every target, for the sizing). */
int fgq_qconv_fold_t2_fits(const fgq_qweights *qw);

/* Reference output stage: fgq_qweights_output + fgq_q_store per value. */
void fgq_qrequant_ref(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n, int32_t zy,
                      int32_t qmin, int32_t qmax, void *y, int y_s8);

/* The packed conv kernels' tile (x86, below): 32 output positions, K up to
 * FGQ_QCONV_PACK_MAX_K. Working memory they take (`work`, 8-byte aligned, owned
 * by the caller: QCONV's scratch slice): the tile's runs along output rows and each tap's
 * run offsets (FGQ_QCONV_PACK_SEG_BYTES), the packed taps (fgq_qconv_pack_pa_bytes), then (t2
 * and s4 kernels) two decoded weight rows of ⌈K/4⌉·4 + 32 bytes each, then the AMX kernel's
 * FGQ_QCONV_AMX_WORK. On every
 * target, for the x86-64 profile's figure (fgq_target.h). */
enum { FGQ_QCONV_PACK_TP = 32, FGQ_QCONV_PACK_MAX_K = 1536 };
/* The AMX kernel's K limit: ResNet's 3 x 3 x 512 layers (the VNNI ones gained nothing past 1536) */
enum { FGQ_QCONV_AMX_MAX_K = 4608 };
/* the runs (4 arrays of TP + 1 int64), then each tap's runs' offsets and masks (up to
 * FGQ_QCONV_PACK_TAP_RUNS of them: int64 + uint32) */
enum { FGQ_QCONV_PACK_TAP_RUNS = 128 };
enum { FGQ_QCONV_PACK_SEG_BYTES = 4 * (FGQ_QCONV_PACK_TP + 1) * 8 + FGQ_QCONV_PACK_TAP_RUNS * 12 };
/* The packed taps: ⌈K/64⌉·64·32 bytes, whole 64-k steps (the quads past K zero) so that the AMX
 * kernel's tiles read no further. */
static inline int64_t fgq_qconv_pack_pa_bytes(int64_t K)
{
    return (K + 63) / 64 * 64 * FGQ_QCONV_PACK_TP;
}
/* The AMX kernel's part of the work, after the decoded rows: one block's results (16 channels ×
 * 32 positions of int32) where it does not end on the call's rows. */
enum { FGQ_QCONV_AMX_WORK = 16 * FGQ_QCONV_PACK_TP * 4 };
/* The AMX kernel's constants per weight row (fgq_qconv_amx_group), and QCONV's scratch for a
 * group's: groups of up to 1280 channels (MobileNet's and EfficientNet's heads). */
enum { FGQ_QCONV_AMX_GROUP_ROW = 128, FGQ_QCONV_AMX_GROUP_BYTES = 1280 * FGQ_QCONV_AMX_GROUP_ROW };
static inline int64_t fgq_qconv_amx_work_off(int64_t K)
{
    return FGQ_QCONV_PACK_SEG_BYTES + fgq_qconv_pack_pa_bytes(K) + 2 * ((K + 3) / 4 * 4 + 32);
}
static inline int64_t fgq_qconv_pack_work_bytes(int64_t K)
{
    return fgq_qconv_amx_work_off(K) + FGQ_QCONV_AMX_WORK;
}
/* The t2 and s4 kernels (and s8 with GS) also take weight rows decoded
 * beforehand (`wdec`, by their _decode twin: rows of fgq_qconv_wrow_bytes(K)
 * bytes, ⌈K/4⌉·4 s8 codes then the row's uint32 C), so that the tiles of a layer share one
 * decode instead of one each (a fifth of the kernel's time at 64 channels,
 * K 288). QCONV keeps the group's rows there when they fit
 * FGQ_QCONV_WCACHE_BYTES of its scratch (fgq_qconv_wcache_bytes; 0: they do
 * not, and the kernels decode per pair of channels). */
enum { FGQ_QCONV_WCACHE_BYTES = 65536 };
/* A decoded row's stride: its codes, C and slack, rounded up to 64 bytes so that every row starts on
 * a cache line (the AMX kernel loads 64-byte tile rows from it: at K = 576 the stride was 608 and
 * each load split over two lines; ResNet-18 / -50 ternary:g64 0.95x / 0.94x at one thread). */
static inline int64_t fgq_qconv_wrow_bytes(int64_t K)
{
    return ((K + 3) / 4 * 4 + 32 + 63) / 64 * 64;
}
static inline int64_t fgq_qconv_wcache_bytes(int64_t K, int64_t rows)
{
    const int64_t b = rows * fgq_qconv_wrow_bytes(K);
    return b <= FGQ_QCONV_WCACHE_BYTES ? b : 0;
}
/* The layouts whose rows decode to s8 with their multipliers folded in (fgq_qweights_fold_s8: the
 * AMX kernel, the s8 VNNI kernel) have no per-pair fallback, so their cache is larger: up to
 * FGQ_QCONV_FOLD_CACHE_BYTES, 4 MB, so that ResNet's ternary 3 x 3 x 512 layers (2.4 MB of rows) take
 * the AMX / folded s8 kernels too (at 1 MB they ran the grouped VNNI kernels: ResNet-18
 * ternary:g64 8.17 -> 7.29 ms at one thread, for 1.9 MB more scratch a thread). x86-64 hosts; the
 * figure is the x86-64 profile's. */
enum { FGQ_QCONV_FOLD_CACHE_BYTES = 1 << 22 };
static inline int64_t fgq_qconv_fold_cache_bytes(int64_t K, int64_t rows)
{
    const int64_t b = rows * fgq_qconv_wrow_bytes(K);
    return b <= FGQ_QCONV_FOLD_CACHE_BYTES ? b : 0;
}

#if defined(__x86_64__) || defined(__i386__)
/* 1 when the CPU and the OS support AVX2 and FMA (cpuid + xgetbv); tests. */
int fgq_cpu_has_avx2(void);
/* qgemm_u8s8_1x4c16__avx2.c: s8 weights, 4 rows a pass, 16 k a step. */
void fgq_qgemm_u8s8_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
/* The same file, s4 weights (nibbles widened per 16-code chunk); fits: no
 * GS, one group, groups of 1 or of an even size. */
int fgq_qgemm_s4_fits(const fgq_qweights *qw);
void fgq_qgemm_u8s4_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
/* The same file, s3 weights (units of 8 codes widened per 16-code chunk);
 * fits: no GS, one group, groups of 1, 2 or 4 (the lane multipliers) or of a
 * multiple of 8 (chunks start on a unit). */
int fgq_qgemm_s3_fits(const fgq_qweights *qw);
void fgq_qgemm_u8s3_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
/* The same file, s2 weights (4 codes a byte widened per 16-code chunk); fits:
 * no GS, one group, groups of 1 or 2 (the lane multipliers) or of a multiple
 * of 4 (chunks start on a byte). */
int fgq_qgemm_s2_fits(const fgq_qweights *qw);
void fgq_qgemm_u8s2_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
/* qgemm_u8t2_1x4c16__avx2.c: t2 weights, 4 rows a pass, 16 k a step. */
void fgq_qgemm_u8t2_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                 int32_t *dot);
/* qrequant__avx2.c: the output stage, 8 values a step (bit-exact gemmlowp). */
void fgq_qrequant__avx2(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n, int32_t zy,
                        int32_t qmin, int32_t qmax, void *y, int y_s8);
/* qrequant__avx512.c: the same, 16 a step, for one channel's run with a right shift (the
 * convolutions' calls); other calls go to fgq_qrequant__avx2. CPUs with AVX-512 F/BW/VL. */
void fgq_qrequant__avx512(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n,
                          int32_t zy, int32_t qmin, int32_t qmax, void *y, int y_s8);
void fgq_qrequant_rows__avx512(const fgq_qweights *qw, int64_t c0, int64_t nc, const int32_t *dot, int64_t ld_dot,
                               int64_t n, int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y, int64_t ld_y, int y_s8);
/* The same in row-major form: n rows of channels c0 .. c0 + nc − 1, row r's dots at dot + r·ld_dot
 * and outputs at y + r·ld_y (QGEMM's rows, the AMX path: 16 channels a step, each lane its own
 * constants). Returns 0, having written nothing, when a channel has a left shift (the caller then
 * takes `requant` row by row). Twin: fgq_qrequant_ref per row. */
int fgq_qrequant_rowmajor__avx512(const fgq_qweights *qw, int64_t c0, int64_t nc, const int32_t *dot, int64_t ld_dot,
                                  int64_t n, int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y, int64_t ld_y);

void fgq_qconv_dwrow__avx2(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8);
void fgq_qconv_dwtaps__avx2(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                            int32_t zx, int x_s8);
/* qconv_dwtaps__avx512vnni.c: the all-taps step in int16 pairs (vpdpwssd), and the same with the
 * output stage in registers; the latter returns 0 for a channel whose shift is > 0 (a multiplier
 * >= 1), and either hands a weight outside int16 or over 64 taps to the AVX2 form (0 too). */
void fgq_qconv_dwtaps__avx512vnni(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                                  int32_t zx, int x_s8);
int fgq_qconv_dwtaps_q__avx512vnni(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                                   int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin,
                                   int32_t qmax, int y_s8);
/* The same file, VBMI: the fused step in windows of up to 4 adjacent taps (vpermb + vpdpbusd)
 * where every weight fits int8; other channels go to the function above. */
int fgq_qconv_dwtaps_q__avx512vbmi(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                                   int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin,
                                   int32_t qmax, int y_s8);
/* qconv_dwplane__avx512vbmi.c: the plane form, 2-D, dilation 1, s8-range weights. */
int fgq_qconv_dwplane_prep__avx512vbmi(fgq_qconv_dwplane_prep *p, const fgq_qconv_dwplane_geom *g, int32_t zx, int x_s8,
                                       uint8_t *scratch, int64_t bytes);
int fgq_qconv_dwplane__avx512vbmi(uint8_t *y, const uint8_t *x, const fgq_qconv_dwplane_prep *p, const int32_t *e,
                                  int32_t zx, int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin,
                                  int32_t qmax, int y_s8);
/* qadd__avx2.c: QADD without broadcasting, 8 elements a step through the 256-entry tables of
 * each input's rescaled codes (twin: fgq_qadd_run_ref); returns how many it did (n & ~7). */
int64_t fgq_qadd_tables__avx2(const uint8_t *a, const uint8_t *b, int64_t n, uint8_t fa, uint8_t fb,
                              const int32_t *ta, const int32_t *tb, int32_t mult, int32_t shift, int32_t zy,
                              int32_t qmin, int32_t qmax, uint8_t *y, int y_s8);
/* qadd__avx512.c: the same, 16 elements a step (AVX-512 F/BW/VL), right shifts only; returns
 * n & ~15, or 0 for a left shift. And one input's table of 256 rescaled codes (qadd.c's loop,
 * 16 codes a step; shift <= 0). */
void fgq_qadd_table__avx512(int32_t *t, int s8, int32_t z, int32_t lsh, int32_t mult, int32_t shift);
/* QMUL along a run, 16 a step (qadd__avx512.c; twin fgq_qmul_run_ref): n & ~15, or 0 for a left
 * shift or n < 16. */
int64_t fgq_qmul_run__avx512(const uint8_t *a, const uint8_t *b, int64_t sb, int64_t n, int a_s8, int b_s8,
                             int32_t za, int32_t zb, int32_t mult, int32_t shift, int32_t zy, int32_t qmin,
                             int32_t qmax, uint8_t *y);
/* QMUL's 256-byte table for one gate value (qadd__avx512.c); 0 for a left shift. */
int fgq_qmul_table__avx512(uint8_t *table, int s8, int32_t z, int32_t g, int32_t mult, int32_t shift, int32_t zy,
                           int32_t qmin, int32_t qmax);
int64_t fgq_qadd_tables__avx512(const uint8_t *a, const uint8_t *b, int64_t n, uint8_t fa, uint8_t fb,
                                const int32_t *ta, const int32_t *tb, int32_t mult, int32_t shift, int32_t zy,
                                int32_t qmin, int32_t qmax, uint8_t *y);
/* qadd__avx2.c: QMUL along a run, b along it (sb 1) or one value (sb 0), 8 a step (twin:
 * fgq_qmul_run_ref); returns n & ~7. */
int64_t fgq_qmul_run__avx2(const uint8_t *a, const uint8_t *b, int64_t sb, int64_t n, int a_s8, int b_s8, int32_t za,
                           int32_t zb, int32_t mult, int32_t shift, int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y,
                           int y_s8);
/* qlut__avx512vbmi.c: QLUT's loop, 64 elements a step: y[i] = table[x[i] ^ flip] (flip 0x80 for
 * s8 X); returns n & ~63. CPUs with AVX-512 VBMI. */
int64_t fgq_qlut_run__avx512vbmi(const uint8_t *x, int64_t n, uint8_t flip, const uint8_t *table, uint8_t *y);
/* qquantize__avx2.c: QUANTIZE's loop, 8 floats a step (twin: qconvert.c);
 * returns how many it did (n & ~7). */
int64_t fgq_quantize_f32__avx2(const float *x, int64_t n, float s, float z, float lo, float hi, int even, void *y,
                            int y_s8);
/* The same file: DYNQUANT's range, 8 floats a step: *lo = min(*lo, the finite values), *hi =
 * max(*hi, ...), each replaced only by a value strictly beyond it (the scalar loop's rule in
 * qdyn.c, so −0 never replaces +0), *nan |= any NaN; returns how many it read (n & ~7). */
int64_t fgq_dynquant_range__avx2(const float *x, int64_t n, float *lo, float *hi, int *nan);
/* qquantize__avx512.c, CPUs with AVX-512 F (FGQ_CPU_AVX512F): the two above 16 values a step (the
 * range 64, for *lo <= +0 <= *hi on entry, as DYNQUANT calls it); each returns how many it did (n &
 * ~15), with the same results. */
int64_t fgq_quantize_f32__avx512(const float *x, int64_t n, float s, float z, float lo, float hi, int even, void *y,
                                 int y_s8);
int64_t fgq_dynquant_range__avx512(const float *x, int64_t n, float *lo, float *hi, int *nan);
/* fgq_qgemm_fout_row_ref's outputs, 16 lanes a step. */
void fgq_qgemm_fout_row__avx512(const fgq_qconv_fout *fo, int64_t j0, int64_t n, const int32_t *dot, float *y);
/* fgq_qconv_fout_rows_ref's outputs, 16 lanes a step. */
void fgq_qconv_fout_rows__avx512(const fgq_qconv_fout *fo, int64_t c0, int64_t nc, const int32_t *dot, int64_t ld_dot,
                                 int64_t n, float *y, int64_t ld_y);

/* A QCONV source for the packed conv kernel: the group's channel planes at
 * src (IH × IW, ch_stride bytes apart), 2-D, stride 1 or 2 along W, padding pt
 * (top) and pl (left) read as z_x. */
typedef struct {
    const uint8_t *src;
    int64_t ch_stride, IH, IW, OW, KH, KW, sh, sw, dh, dw, pt, pl, K; /* sw: 1, or 2 where the CPU has VBMI */
} fgq_qconv_src;
/* qconv_dwsplit__avx512vbmi.c: the depthwise phase form's stride-2 split of one padded row
 * (2·qw bytes) into its even and odd bytes; CPUs with AVX-512 VBMI. */
void fgq_qconv_dw_split2__avx512vbmi(const uint8_t *row, int64_t qw, uint8_t *even, uint8_t *odd);
/* qconv_pack_s2__avx512vbmi.c: the packed kernels' tap packing (qconv_pack_avx512vnni.h) for
 * layers with stride 2 along W; CPUs with AVX-512 VBMI. */
void fgq_qconv_pack_a_s2__avx512vbmi(const fgq_qconv_src *s, int64_t p0, int64_t np, int a_s8, int32_t zx, uint8_t *pa,
                                     int64_t *seg);

/* The packed conv kernels' tile: positions p0 .. p0 + np − 1 (np <= 32) of s packed into work
 * (fgq_qconv_pack_work_bytes(K) bytes) as the kernels below read them; once per tile, for all
 * its blocks of output channels (qconv_u8s8_4x32c4__avx512vnni.c). */
void fgq_qconv_pack_a__avx512vnni(const fgq_qconv_src *s, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                  uint8_t *work);
/* qconv_u8s8_4x32c4__avx512vnni.c: dot[j·32 + r] = Σ_k w[j0 + j, k]·(x(k,
 * p0 + r) − zx) for j < nb, r < np <= 32; s8 weights without GS, K <=
 * FGQ_QCONV_PACK_MAX_K; work: fgq_qconv_pack_work_bytes(K), holding the tile
 * fgq_qconv_pack_a__avx512vnni packed (the same s, p0, np, a_s8, zx). */
void fgq_qconv_u8s8_4x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb,
                                       int64_t p0, int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work);
/* qconv_u8t2_2x32c4__avx512vnni.c: the same for t2 weights, or s8 with GS;
 * weights fgq_qgemm_vnni_fits takes. wdec: rows j0 .. j0 + nb − 1 as the
 * _decode twin wrote them (its row 0 is row j0), or NULL (decoded here, per
 * pair of channels). */
void fgq_qconv_u8t2_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb,
                                       int64_t p0, int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work,
                                       const uint8_t *wdec);
/* Rows j0 .. j0 + n − 1 of qw (t2, or s8 with GS) as s8 codes into dst: row i at
 * i·fgq_qconv_wrow_bytes(K) (zero past K), its uint32 C = Σ_g m_g·Σ_{k∈g} w right
 * after its ⌈K/4⌉·4 codes. */
void fgq_qconv_u8t2_2x32c4__avx512vnni_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);
/* qconv_u8s4_2x32c4__avx512vnni.c: the same for s4 weights (decoded to s8
 * per pair of channels, or beforehand); weights fgq_qgemm_vnni_fits takes. */
void fgq_qconv_u8s4_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb,
                                       int64_t p0, int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work,
                                       const uint8_t *wdec);
void fgq_qconv_u8s4_2x32c4__avx512vnni_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);
/* qconv_u8s3_2x32c4__avx512vnni.c: the same for s3 weights. */
void fgq_qconv_u8s3_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb,
                                       int64_t p0, int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work,
                                       const uint8_t *wdec);
void fgq_qconv_u8s3_2x32c4__avx512vnni_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);
/* qconv_u8s2_2x32c4__avx512vnni.c: the same for s2 weights. */
void fgq_qconv_u8s2_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb,
                                       int64_t p0, int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work,
                                       const uint8_t *wdec);
void fgq_qconv_u8s2_2x32c4__avx512vnni_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);

/* The packed conv kernels as a table (qgemm_dispatch.c), one row per weight layout: `run` computes
 * a tile's dots (packed beforehand: fgq_qconv_pack_a__avx512vnni) as the kernels above (wdec: the rows `decode` wrote beforehand, or NULL; rows
 * without `decode` ignore it), `decode` the rows of a group once for all its tiles (NULL: the
 * kernel reads W itself). QCONV takes the row of its weights at plan time (fgq_qconv_kernel_for:
 * the layout alone, whatever the CPU) and runs it where the CPU has its `needs`. */
typedef void (*fgq_qconv_pack_fn)(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb, int64_t p0,
                                  int64_t np, int a_s8, int32_t zx, int32_t *dot, uint8_t *work, const uint8_t *wdec);
typedef void (*fgq_qconv_decode_fn)(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);
typedef struct {
    const char *name;
    fgq_dtype w_dtype;
    int8_t gs;      /* 0: weights without GS, 1: with, -1: either */
    uint32_t needs; /* FGQ_CPU_* bits */
    fgq_qconv_pack_fn run;
    fgq_qconv_decode_fn decode;
} fgq_qconv_kernel;
/* The row for qw's layout (dtype, GS, fgq_qgemm_vnni_fits), or NULL. */
const fgq_qconv_kernel *fgq_qconv_kernel_for(const fgq_qweights *qw);

#if defined(__x86_64__)
/* qconv_u8s8_32x32c64__amx.c — the packed conv tile on AMX tiles (TDPBSUD): 32 output channels ×
 * 32 positions a step of 64 k, from the tile fgq_qconv_pack_a__avx512vnni packed (its layout is
 * the B tile's: 16 k-quads × 16 positions × 4 a tile, rows 128 bytes apart) and s8 weight rows
 * (the A tile's: 16 rows × 64 k). The weights: W's own rows (s8 without GS), or rows that
 * fgq_qconv_fold_decode wrote (every layout fgq_qweights_fold_s8 takes). */
typedef struct {
    const uint8_t *rows;   /* row lo's s8 weights (effective: multipliers folded in) */
    int64_t stride;        /* bytes from one row to the next; each row has K readable bytes */
    int64_t lo, hi;        /* rows lo .. hi − 1 are readable (hi − lo >= 16): a block of 16 rows
                            * near the end is read as the 16 that end at hi */
    const uint8_t *grp;    /* the rows' constants, fgq_qconv_amx_group's (row r at r − lo) */
} fgq_qconv_amx_w;
/* Rows j0 .. j0 + n − 1 of qw as effective s8 weights: row i at i·fgq_qconv_wrow_bytes(K), its
 * int32 Σ_k w right after its ⌈K/4⌉·4 bytes (zero past K); for the layouts fgq_qweights_fold_s8
 * takes (s8 without GS: a copy, so that the AMX tiles read rows a non-power-of-two apart). */
void fgq_qconv_fold_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);
/* qconv_fold_t2__avx512vbmi.c: the same rows for ternary weights with group multipliers in groups of
 * 64·j codes or one group over the row (fgq_qconv_fold_t2_fits, declared above: on every target), 64
 * codes a step; needs AVX-512 VBMI beside VNNI. */
void fgq_qconv_fold_decode_t2__avx512vbmi(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst);
/* The constants of n weight rows (`stride` apart, K bytes each; Σ w from `sums` where not NULL
 * (QGEMM's WSUM), else, c_inline, from after each row's ⌈K/4⌉·4 bytes, as fgq_qconv_fold_decode
 * writes it, else summed here) that the kernel starts from, FGQ_QCONV_AMX_GROUP_ROW bytes a row
 * into grp: n rows of 16 int32 −zx'·Σ w (the C tiles' start: the zero-point correction), then n
 * rows of the bytes from ⌊K/64⌋·64 to K, zero to 64 (the last, partial k step's A tile; none when
 * K % 64 is 0). Once per group and slice. */
void fgq_qconv_amx_group(const uint8_t *rows, int64_t stride, int64_t n, int64_t K, int c_inline, const int32_t *sums,
                         int32_t zxp, uint8_t *grp);
/* QGEMM on the AMX conv kernel: activation rows 0 .. nr − 1 (nr <= 32; lda apart, K bytes each; u8,
 * or s8 when a_s8: flipped to u8 as the conv packing does) as the conv kernel's packed tile, rows as
 * its positions, at pa (fgq_qconv_pack_pa_bytes(K) bytes: quads past K and positions past nr 0). */
void fgq_qgemm_amx_pack_rows(const uint8_t *a, int64_t lda, int64_t nr, int64_t K, int a_s8, uint8_t *pa);
/* dott[r·ldt + j] = Σ_k w[j0 + j, k]·(a[r, k] − zx) for r < nr <= 32, j < nb (w->lo <= j0, j0 + nb <=
 * w->hi; zx' in w->grp as the conv kernel has it): QGEMM's activation rows as the conv kernel's
 * positions (fgq_qgemm_amx_pack_rows; a NULL: work holds them packed already, from an earlier call
 * with the same rows), its channel-major result in dot (⌈nb/16⌉·16 × 32 int32), then transposed.
 * work: fgq_qconv_pack_work_bytes(K). */
void fgq_qgemm_u8s8_32x32c64__amx(const fgq_qconv_amx_w *w, const uint8_t *a, int64_t lda, int64_t nr, int64_t K,
                                  int a_s8, int64_t j0, int64_t nb, int32_t *dot, int32_t *dott, int64_t ldt,
                                  uint8_t *work);
/* The tile configuration (8 tiles of 16 rows × 64 bytes) for this thread, before its first
 * kernel call; _end releases the tile state when the thread is done with it. */
void fgq_qconv_amx_begin(void);
void fgq_qconv_amx_end(void);
/* dot[j·32 + r] = Σ_k w[j0 + j, k]·(x(k, r) − zx) for j < nb, r < 32 (r < 16 only when np <= 16:
 * one B tile), as the VNNI kernels, with
 * zx' = zx (u8 X) or zx + 128 (s8) in w->grp; work holds the packed tile
 * (fgq_qconv_pack_work_bytes(K) bytes); w->lo <= j0, j0 + nb <= w->hi. */
void fgq_qconv_u8s8_32x32c64__amx(const fgq_qconv_amx_w *w, int64_t K, int64_t j0, int64_t nb, int64_t np,
                                  int32_t *dot, uint8_t *work);
#endif

/* 1 when the CPU and the OS support AVX-512 F/BW/VL and VNNI (and AVX2). */
int fgq_cpu_has_avx512vnni(void);
/* The same plus AVX512_VBMI (vpermb, vpmultishiftqb). */
int fgq_cpu_has_avx512vbmi(void);
/* qgemm_u8t2_1x4c64__avx512vbmi.c: t2 GEMV, 64 codes a step; blocks of 4+
 * activation rows go to the 4x4c32 VNNI kernel. Fits: no GS, or symmetric
 * groups of 64·j (or one group). */
int fgq_qgemm_vbmi_fits(const fgq_qweights *qw);
void fgq_qgemm_u8t2_1x4c64__avx512vbmi(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                       int32_t zx, int32_t *dot);
void fgq_qgemm_u8t2_1x4c64__avx512vbmi_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                            int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
/* qgemm_u8{s8,t2,s4,s3,s2}_4x4c32__avx512vnni.c: 4 activation rows × 4 weight
 * rows a tile, 32 k a step, vpdpbusd; t2, s4, s3 and s2 decoded to s8 (once per
 * block of weight rows with 4+ activation rows and a work buffer, else in
 * registers; with group multipliers, into panels of 16 weight rows in the
 * lanes of 512-bit vectors, 8 activation rows × 16 weight rows a tile). Fits:
 * fgq_qgemm_vnni_fits. */
void fgq_qgemm_u8s8_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8t2_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8s4_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8s3_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8s2_4x4c32__avx512vnni(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8s8_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                           int32_t zx, int32_t *dot);
void fgq_qgemm_u8t2_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                           int32_t zx, int32_t *dot);
void fgq_qgemm_u8s4_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                           int32_t zx, int32_t *dot);
void fgq_qgemm_u8s3_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                           int32_t zx, int32_t *dot);
void fgq_qgemm_u8s2_4x4c32__avx512vnni_dot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                           int32_t zx, int32_t *dot);
#endif

/* The AArch64 rows are compiled where the compiler can give one function
 * the dotprod (I8MM) extension by a target attribute — GCC 8 (10 for I8MM's
 * intrinsics), clang 18 — or where the whole build targets it
 * (-march=armv8.2-a+dotprod[+i8mm]). Older clang gates arm_neon.h's
 * extension intrinsics by the command line alone: without that flag such a
 * build has the reference rows only. */
#if defined(__aarch64__) &&                                                                                    \
    (defined(__ARM_FEATURE_DOTPROD) || (defined(__clang__) ? __clang_major__ >= 18 : __GNUC__ >= 8))
#define FGQ_NEON_DOT_ROWS 1
#if defined(__ARM_FEATURE_MATMUL_INT8) || (defined(__clang__) ? __clang_major__ >= 18 : __GNUC__ >= 10)
#define FGQ_NEON_I8MM_ROWS 1
#endif
#endif

#if defined(FGQ_NEON_DOT_ROWS)
/* qgemm_u8s8_1x4c16__neondot.c / qgemm_u8t2_1x4c16__neondot.c: s8 and t2
 * weights (any group layout), 4 rows a pass, 16 k a step, SDOT (needs
 * FGQ_CPU_ASIMDDP; qgemm_neon.h has the scheme). */
void fgq_qgemm_u8s8_1x4c16__neondot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                    int32_t zx, int32_t *dot);
void fgq_qgemm_u8t2_1x4c16__neondot(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                    int32_t zx, int32_t *dot);
#endif
#if defined(FGQ_NEON_I8MM_ROWS)
/* qgemm_u8{s8,t2}_2x4c8__neoni8mm.c: their block form with I8MM, 2
 * activation rows × 4 weight rows a tile, 8 k a step, SMMLA (needs
 * FGQ_CPU_ASIMDDP | FGQ_CPU_I8MM; qgemm_neon_i8mm.h). Fits: no GS, one
 * group, or groups of 8·j. */
int fgq_qgemm_i8mm_fits(const fgq_qweights *qw);
void fgq_qgemm_u8s8_2x4c8__neoni8mm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                    int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8t2_2x4c8__neoni8mm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                    int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
#endif

#if defined(__ARM_FEATURE_DSP)
/* qgemm_u8s8_1x2c4__armdsp.c: s8 weights (any group layout), 2 rows a pass,
 * 4 k a step, SXTB16/UXTAB16 + SMLAD (Cortex-M4/M7/M33/M55). */
void fgq_qgemm_u8s8_1x2c4__armdsp(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                  int32_t *dot);
/* qrequant__armdsp.c: the output stage in 32-bit arithmetic (QADD for the
 * saturating bias add), one value a step; twin fgq_qrequant_ref. */
void fgq_qrequant__armdsp(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n, int32_t zy,
                          int32_t qmin, int32_t qmax, void *y, int y_s8);
/* qgemm_u8w16_2xmc4__armdsp.c: the rows' block form, s8 and t2: two weight
 * rows decoded to 16-bit effective weights (multiplier folded in) per
 * chunk, every activation row over them with SMLAD; fewer than 4 rows go to
 * the rows' `dot`. */
void fgq_qgemm_u8s8_2xmc4__armdsp_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
void fgq_qgemm_u8t2_2xmc4__armdsp_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd, uint8_t *work);
/* qgemm_u8s8_1x4c16__mve.c (Helium, Cortex-M55/M85): plain s8 weights (fgq_qgemm_mve_fits: no
 * group multipliers, K >= 16), 4 rows a pass, 16 codes a VMLADAVA; the DSP rows take the rest. */
void fgq_qgemm_u8s8_1x4c16__mve(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                int32_t *dot);
int fgq_qgemm_mve_fits(const fgq_qweights *qw);
/* qconv_dwrow__armdsp.c: the depthwise row step, 4 outputs a step (SMLABB/T). */
void fgq_qconv_dwrow__armdsp(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8);
/* ... and all taps of a run at once, 4 outputs a pass in registers. */
void fgq_qconv_dwtaps__armdsp(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                              int32_t zx, int x_s8);
/* qgemm_u8t2_1x2c4__armdsp.c: t2 weights (any group layout, n_alpha 1 or 2),
 * 2 rows a pass, one code byte a step, decoded with bit operations. */
void fgq_qgemm_u8t2_1x2c4__armdsp(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                  int32_t *dot);
#endif

#endif /* FGQ_QGEMM_DISPATCH_H */
