/*
 * hessian.h — what each weight layer sees, for the error-compensating solver
 * (gptq.h): H = Σ x·xᵀ over the calibration samples, x the layer's input
 * column (DESIGN §3 "Error compensation").
 *
 *   Conv     x = the im2col column at each output position: (input channel of
 *            the row's group, kernel offset), padding as 0, in the weight's
 *            k order (c, k1, .., kn); one H per convolution group (depthwise:
 *            one 9x9 H per channel for a 3x3 kernel).
 *   Gemm /   x = each row of the input's last axis (k features).
 *   MatMul
 * Layers are those fgq_quant_weight_layer (weights.h) takes.
 *
 * Two sums per layer: samples s with s % 4 == 3 (when there are at least 4)
 * go to the held-out sum, the rest to the fitting sum. The solver fits on
 * the first and chooses its damping by the output error it leaves on the
 * second, a sample that was not used for the fit (quantize.h).
 *
 * Sums are double; each block of up to 64 positions is summed in float
 * first (the products of one block), then added. A layer whose two sums
 * would take more than FGQ_HESSIAN_MAX_BYTES is not tracked (NULL): the
 * solver rounds it to nearest.
 */
#ifndef FGQ_TOOLS_QUANT_HESSIAN_H
#define FGQ_TOOLS_QUANT_HESSIAN_H

#include "quant/stats/calib.h"
#include "graph.h"

#define FGQ_HESSIAN_MAX_BYTES ((int64_t)1 << 30)
#define FGQ_HESSIAN_VAL_EVERY 4

typedef enum {
    FGQ_H_FIT = 0,
    FGQ_H_VAL = 1,
} fgq_hessian_part;

/* The input geometry of one weight layer. */
typedef struct {
    int32_t node;     /* float graph node */
    int32_t input;    /* its input tensor */
    int is_conv;
    int64_t rows, k;  /* the weight view [rows, k] (k per group) */
    int64_t groups;   /* conv groups; 1 otherwise */
    /* Conv: batch, channels and 3-D (padded with 1) spatial geometry */
    int64_t n, c, in[3], out[3], ker[3], str[3], dil[3], pad[3];
    /* Gemm / MatMul: input rows per sample */
    int64_t m;
} fgq_layer_view;

typedef struct {
    fgq_layer_view view;
    double *h[2];        /* [FGQ_H_FIT], [FGQ_H_VAL]: groups·k·k each, symmetric, full */
    int64_t samples[2];  /* how many samples each sum holds */
} fgq_layer_hessian;

typedef struct {
    int32_t n_nodes;
    fgq_layer_hessian **layer; /* per float node; NULL: not tracked */
} fgq_hessians;

/* Fills v for weight node `node` of g; 0 when it is not a weight layer or its
 * geometry is not one the im2col view covers. */
int fgq_layer_view_of(const fgq_graph *g, int32_t node, fgq_layer_view *v);

/* A convolution's im2col rows (v->is_conv): for batch item b and group g,
 * the k input values of output positions p0 .. p0+np (row-major over the
 * output's spatial dims) into out [np, k], padding as 0. */
void fgq_layer_columns(const fgq_layer_view *v, const float *x, int64_t b, int64_t g, int64_t p0, int64_t np,
                       float *out);

/* Runs g (float; samples as fgq_calib_run) over the samples and sums H for
 * every weight layer. progress may be NULL. */
fgq_status fgq_hessians_run(fgq_hessians *hs, const fgq_graph *g, const fgq_samples *samples,
                            fgq_calib_progress progress, void *user, fgq_error *err);
void fgq_hessians_free(fgq_hessians *hs);

/* The same as an observer of a sweep (run_graph.h): begin allocates hs and
 * fills *out (o keeps the state; n_samples decides the held-out split),
 * finish completes the sums after a successful sweep. */
typedef struct {
    const fgq_graph *g;
    fgq_hessians *hs;
    int64_t n_samples;
    int part;
    fgq_status st;
    fgq_error *err;
    const fgq_parallel *par; /* the sweep's threads (bind), NULL: serial */
} fgq_hessian_sweep;
fgq_status fgq_hessians_begin(fgq_hessian_sweep *o, fgq_hessians *hs, const fgq_graph *g, int64_t n_samples,
                              fgq_error *err, fgq_sweep_observer *out);
void fgq_hessians_finish(fgq_hessian_sweep *o);

/* Adds the H of one input tensor x (the layer input of one sample, v's
 * shape) into h (groups·k·k, upper triangle and diagonal only: call
 * fgq_hessian_symmetrize once at the end). par (may be NULL) spreads each
 * block's columns and row tiles over threads: the same bits for any count. */
fgq_status fgq_hessian_add(const fgq_layer_view *v, const float *x, double *h, const fgq_parallel *par,
                           fgq_error *err);
void fgq_hessian_symmetrize(double *h, int64_t groups, int64_t k);

/* The kernel under fgq_hessian_add: h (k x k, upper triangle and diagonal;
 * entries below the diagonal may be touched too) += Σ_p x[p]·x[p]ᵀ over np
 * rows of x, row p at x + p·ld, its columns k..ld-1 zero, ld >=
 * fgq_hessian_ld(k). Each entry is summed in float over the np rows in
 * order (one fused multiply-add per row), then added to h in double. The
 * AVX2+FMA form, chosen when the CPU has it, gives the same bits as the
 * plain C twin fgq_hessian_syrk_ref (tests/test_gptq.c). */
int64_t fgq_hessian_ld(int64_t k);
void fgq_hessian_syrk(const float *x, int64_t np, int64_t k, int64_t ld, double *h);
void fgq_hessian_syrk_ref(const float *x, int64_t np, int64_t k, int64_t ld, double *h);
/* The same for two operands (fgq_hessian_add_cross): p (k x k, full) +=
 * Σ_q a[q]ᵀ·b[q], rows as above. */
void fgq_hessian_cross(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *p);
void fgq_hessian_cross_ref(const float *a, const float *b, int64_t np, int64_t k, int64_t ld, double *p);

/* Depthwise layers (one input channel per group, k <= FGQ_HESSIAN_DW_MAX_K
 * taps) take their own path in fgq_hessian_add (hessian.c "depthwise"):
 * per group the taps of a block of up to 64 positions tap-major, T[t][q]
 * (rows 64 apart, zero from the block's positions up to nq8, a multiple of
 * 8), and h[a][b] += Σ_q T[a][q]·T[b][q] for a <= b in eight float lanes
 * (q mod 8), then in double. simd = 1 takes the AVX2+FMA form where the CPU
 * has it; simd = 0 the plain C twin: the same bits. */
#define FGQ_HESSIAN_DW_MAX_K 64
void fgq_hessian_dw_pairs(const float *T, int64_t k, int64_t nq8, double *h, int simd);

/* For the quantized-prefix statistics (solve/sequential.h): x and xt the
 * layer input of one sample in the float model and in the model whose
 * earlier layers are quantized (both v's shape). Adds, per group g,
 *   p[g]  (k x k, full)  += Σ cols(x)ᵀ·cols(xt)   (p[a][b] = Σ x_a·xt_b)
 *   sx[g] (k)            += Σ cols(x),   sxt[g] += Σ cols(xt)
 * over the layer's positions (im2col columns for a Conv, rows otherwise);
 * p may be NULL (sums only). */
fgq_status fgq_hessian_add_cross(const fgq_layer_view *v, const float *x, const float *xt, double *p, double *sx,
                                 double *sxt, fgq_error *err);
/* Positions per sample and group, the count the column sums of
 * fgq_hessian_add_cross add up: batch x output positions for a Conv, rows
 * of the input (batch included) otherwise. */
int64_t fgq_layer_positions(const fgq_layer_view *v);

#endif /* FGQ_TOOLS_QUANT_HESSIAN_H */
