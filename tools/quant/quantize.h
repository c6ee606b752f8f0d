/*
 * quantize.h — the integer model: from an optimized float graph (passes.h)
 * and calibration statistics (calib.h) to a graph of the integer-only ops of
 * runtime/fgq_ops.h (docs/quantized-ops.md), DESIGN §3.
 *
 * What becomes what:
 *   graph inputs (f32)        QUANTIZE at the first quantized reader
 *   Conv (constant W)         QCONV; Gemm (transA = 0, constant B), MatMul
 *                             (constant 2-D B) QGEMM. A following Add of a
 *                             constant per-output-channel vector (mnist-8's
 *                             "Plus" nodes) is folded into the bias, and its
 *                             fused Relu/Clip with it.
 *   Add of two activations    QADD (TFLite's integer Add, left shift 20)
 *   MaxPool / AveragePool /   QMAXPOOL / QAVGPOOL / QGLOBAL_AVGPOOL, output
 *   GlobalAveragePool         scale and zero point = the input's
 *   Concat (<= 10 inputs)     QCONCAT over the union of the input ranges
 *   Sigmoid, HardSigmoid,     QLUT: a 256-entry table of the function from the
 *   HardSwish, Tanh           input's codes to the output's (format/lut.h), the
 *                             output range calibrated as any other
 *   Mul(x, Sigmoid(x))        one QLUT (Swish) for the pair, when the Sigmoid's
 *                             output feeds only that Mul (neither kept float)
 *   Reshape, Flatten, Squeeze, RESHAPE / TRANSPOSE on the quantized bytes
 *   Unsqueeze, Transpose,     (parameters pass through)
 *   Identity, Dropout
 *   anything else             runs float: DEQUANTIZE before, QUANTIZE after
 *   graph outputs             DEQUANTIZE to f32 (names unchanged), except where
 *                             a weight layer makes them (directly or through
 *                             Softmax, LogSoftmax or the moves above): that
 *                             layer is QCONV_DYN / QGEMM_DYN with its input's
 *                             scale and zero point as constants and hands back
 *                             f32 (quantized_tail below; not with io_quantized)
 *
 * Weights [rows, k] (weights.h view) under the layer's policy (policy.h):
 *   s8 (per row) / u8         s8 codes, no GS; u8 is quantized as per-tensor
 *                             symmetric s8 (the kernels take z_w = 0)
 *   s8:gN, s4:gN              s8/s4 codes with GS u8 group multipliers: group
 *                             scale = m_g·s_r, s_r = max group scale / M,
 *                             m_g = ceil(scale_g / s_r) <= M and the codes
 *                             re-rounded with m_g·s_r; M = min(255, the int32
 *                             bound of ops_q.h)
 *   ternary:gN[:solver]       t2 codes, GS m⁺(, m⁻) and row scale s_r (wformat.h)
 *   f32                       the layer runs float
 * Bias: round(b / (s_x·s_r)) saturated to int32; REQ[r] = fgq_quantize_multiplier
 * (s_x·s_r / s_y) (0, 0 when that real is below 2^-31); output clamp =
 * activation dtype range ∩ the fused Relu/Clip.
 *
 * Bias correction (Nagel et al. 2019, empirical): with cfg->means (the float
 * model's mean input of every weight layer over the calibration samples,
 * fgq_input_means_run), a corrected layer's float bias becomes
 *   b'[r] = b[r] − Σ_k (W_q[r,k] − W[r,k]) · E[x_k]
 * before it is rounded to int32 (dynamic: stored f32), W_q the dequantized
 * weights exactly as the kernels compute them (integerised multipliers
 * included), E[x_k] the mean of reduction column k: for Gemm/MatMul the mean
 * of input feature k over samples and rows, for Conv the exact mean of im2col
 * column k (input channel of the row's group, kernel offset) over samples and
 * output positions, padding zeros included. Which layers: cfg->bias_correction
 * (FGQ_BC_DEFAULT: ternary and s4 layers; FGQ_BC_ON: every quantized weight
 * layer; FGQ_BC_OFF: none). Without means nothing is corrected, except that
 * FGQ_BC_ON with static activations is FGQ_ERR_VALUE.
 *
 * Activations: u8 (0..255), s8 (−128..127), u4 (u8 storage, 0..15), each per
 * tensor, TF min/max parameters over the observer's range. Every quantized
 * tensor carries its scale and zero point in its qparams.
 *
 * --acts dynamic (no calibration; calib may be NULL): every weight layer above
 * becomes DYNQUANT of its float input (once per tensor) -> QCONV_DYN /
 * QGEMM_DYN with W, W_SCALE (s_r), float bias B and GS as above (M chosen for
 * |q_x − z_x| <= 255), the fused Relu/Clip applied in float, output f32;
 * every other node runs float (docs/quantized-ops.md "Dynamic activations").
 *
 * Names: a tensor of the quantized graph named like a float tensor holds the
 * same values (f32, or quantized with its qparams); a second version of a
 * tensor is named "<name>.q" (quantized) or "<name>.f32" (float). Graph input
 * and output names and order are unchanged.
 *
 * Errors: FGQ_ERR_VALUE for an override naming no node and for static
 * activations without calibration statistics; FGQ_ERR_UNSUPPORTED for a layer
 * that cannot meet the int32 bound; FGQ_ERR_NOMEM.
 */
#ifndef FGQ_QUANTIZE_H
#define FGQ_QUANTIZE_H

#include "quant/stats/calib.h"
#include "graph.h"
#include "quant/stats/hessian.h"
#include "quant/format/policy.h"

typedef enum {
    FGQ_ACTS_U8 = 0,
    FGQ_ACTS_S8 = 1,
    FGQ_ACTS_U4 = 2,
    FGQ_ACTS_DYNAMIC = 3,
} fgq_act_kind;

/* Parses u8 | s8 | u4 | dynamic. */
fgq_status fgq_act_kind_parse(const char *text, fgq_act_kind *out, fgq_error *err);
/* Quantization levels of an activation kind (256 or 16). */
int32_t fgq_act_levels(fgq_act_kind k);

/* fgq_quant_cfg.refine: the refinement on ternary layers only (`--refine auto`, the default): measured,
 * it raised top-1 on ternary layers and lowered it on s8/s4/s3 ones (docs/accuracy-real.md). */
#define FGQ_REFINE_TERNARY 2

typedef struct {
    const char *node;   /* node name in the float graph */
    int keep_float;     /* 1: the node runs float */
    fgq_policy policy;  /* keep_float == 0: weight policy of that layer */
} fgq_layer_override;

typedef enum {
    FGQ_BC_DEFAULT = 0, /* ternary and s4 layers */
    FGQ_BC_OFF = 1,
    FGQ_BC_ON = 2,      /* every quantized weight layer */
} fgq_bias_correction;

/* Parses on | off. */
fgq_status fgq_bias_correction_parse(const char *text, fgq_bias_correction *out, fgq_error *err);

/* Mean of every element of each weight layer's input tensor over the samples
 * (the float graph's static shape, batch dimension included). */
typedef struct {
    int32_t n_tensors;   /* of the float graph */
    int64_t n_samples;
    double **mean;       /* per float tensor: numel means, NULL when not tracked */
} fgq_input_means;

/* Runs fg (float; samples as fgq_calib_run) on the samples and averages the
 * input of every Conv/Gemm/MatMul that fgq_quantize_graph can quantize.
 * progress may be NULL. */
fgq_status fgq_input_means_run(fgq_input_means *m, const fgq_graph *fg, const fgq_samples *samples,
                               fgq_calib_progress progress, void *user, fgq_error *err);
void fgq_input_means_free(fgq_input_means *m);

/* The same as an observer of a sweep (run_graph.h), so one float pass can
 * feed it with other statistics: begin allocates m and fills *out (o keeps
 * the state), finish(n_samples) turns the sums into means. */
typedef struct {
    const fgq_graph *g;
    fgq_input_means *m;
    int64_t *count;
} fgq_means_sweep;
fgq_status fgq_input_means_begin(fgq_means_sweep *o, fgq_input_means *m, const fgq_graph *fg, fgq_error *err,
                                 fgq_sweep_observer *out);
void fgq_input_means_finish(fgq_means_sweep *o, int64_t n_samples);

/* Progress of long work, stage by stage: begin(stage, total), update(done,
 * total) as it goes, end(). Any member may be NULL. */
typedef struct {
    void (*begin)(void *user, const char *stage, int64_t total);
    void (*update)(void *user, int64_t done, int64_t total);
    void (*end)(void *user);
    void *user;
} fgq_stage_progress;

/* When GPTQ takes its statistics from the quantized prefix (solve/sequential.h):
 * AUTO when a weight layer is below 8 bits (s4, ternary) and the activations
 * that pass keeps for all samples fit in FGQ_SEQUENTIAL_AUTO_BYTES (its time
 * is two float passes and the solves; at s8 it bought one image of 800 on
 * each EfficientNet-Lite for 3-5x the quantize time). */
typedef enum {
    FGQ_SEQ_OFF = 0,
    FGQ_SEQ_ON = 1,
    FGQ_SEQ_AUTO = 2,
} fgq_sequential_mode;

/* How weight codes are chosen (quant/gptq.h). */
typedef enum {
    FGQ_SOLVER_RTN = 0,  /* each weight rounded to its group's grid alone */
    FGQ_SOLVER_GPTQ = 1, /* error-compensating, where cfg->hessians has the layer */
} fgq_weight_solver;

/* Parses rtn | gptq. */
fgq_status fgq_weight_solver_parse(const char *text, fgq_weight_solver *out, fgq_error *err);

typedef struct {
    fgq_policy weights;        /* default weight policy */
    int edge_set;              /* 1: first and last weight layers use `edge` */
    fgq_policy edge;
    int dw_set;                /* 1: depthwise convolutions use `dw` (first / last: `edge` wins) */
    fgq_policy dw;
    fgq_act_kind acts;
    fgq_observer observer;
    int32_t n_overrides;
    const fgq_layer_override *overrides; /* later entries win */
    fgq_bias_correction bias_correction;
    const fgq_input_means *means;        /* NULL: no bias correction */
    fgq_weight_solver solver;
    const fgq_hessians *hessians;        /* GPTQ: per-layer input statistics; NULL: every layer rounds */
    double damp;                         /* GPTQ damping fraction; 0: chosen per layer */
    int act_order;                       /* GPTQ: columns by decreasing diag(H), whole groups kept together */
    int refine;                          /* GPTQ: coordinate descent after the greedy pass (fgq_gptq_refine),
                                          * kept per layer where it leaves less held-out error: 0 off, 1 on,
                                          * FGQ_REFINE_TERNARY on ternary layers only (the CLI's auto) */
    fgq_sequential_mode sequential;      /* GPTQ: statistics from the quantized prefix, output-matching targets
                                          * (solve/sequential.h; run by fgq_quant_pipeline) */
    const fgq_parallel *parallel;        /* threads for the solver (tools/threadpool.h); NULL: serial.
                                          * The model's bytes are the same for any thread count */
    int equalize;                        /* 1: cross-layer equalization first (equalize.h; the caller runs
                                          * fgq_quant_prepare_graph) */
    int io_quantized;                    /* 1: float inputs and outputs in the activation type, u8 / s8
                                          * activations only (quantized_io.h; fgq_quant_pipeline's last step) */
    int quantized_tail;                  /* 0 (default): a weight layer whose output reaches only graph
                                          * outputs (directly or through Softmax / layout moves) hands back
                                          * float from its int32 accumulator, QCONV_DYN / QGEMM_DYN with
                                          * the input's scale and zero point as constants, where its output
                                          * would be rounded to the u8 grid and dequantized; 1: that layer
                                          * writes codes like the others (io_quantized implies it; a
                                          * caller that runs fgq_quant_io_rewrite afterwards must set
                                          * io_quantized, as fgq_quant_pipeline does). Policy u8 layers
                                          * (CONV_INT / MATMUL_INT) always write codes */
} fgq_quant_config;

/* 1 if cfg's bias correction applies to some layer (so the caller should run
 * fgq_input_means_run on the calibration samples and set cfg->means). */
int fgq_quant_config_wants_means(const fgq_quant_config *cfg);

/* One row per float node that survives in the quantized model (a folded bias
 * Add is reported with its Conv/Gemm/MatMul). */
typedef struct {
    char name[96];
    char op[32];
    char policy[40];         /* weight policy; "-" without weights; "f32" when kept float */
    int quantized;           /* 1: runs integer-only */
    int has_weights;
    double weight_sqnr_db;   /* has_weights: of the dequantized weights (what the kernels compute) */
    int64_t n_weights;       /* has_weights: rows · k */
    double bits;             /* has_weights: bits per weight (codes + GS + one f32 scale per row); else activation bits */
    int32_t float_tensor;    /* output tensor in the float graph */
    int32_t q_tensor;        /* quantized graph tensor holding the same values */
    double act_sqnr_db;      /* filled by fgq_quant_measure; NAN until then */
    char solver[32];         /* has_weights: "rtn", or "gptq:D" with the damping D it chose */
    double solve_ms;         /* has_weights: time the solver took beyond rounding */
    double out_sqnr_db;      /* has_weights: SQNR of W·x vs W_q·x over the calibration inputs x (from the
                              * layer's H); NAN without input statistics */
    double heldout_sqnr_db;  /* has_weights: the same over the held-out inputs, of the codes gptq solved
                              * without them when it chose the damping by them (layer_weights.h); NAN
                              * otherwise */
    int64_t clipped_rows;    /* has_weights: output channels the integer form cannot carry: the bias
                              * saturates int32 at scale s_x·s_w, or the requantization multiplier
                              * s_x·s_w/s_y is below 2^-31 (the channel then outputs z_y). A degenerate
                              * input range (untrained weights, calibration data far from real) */
} fgq_layer_report;

/* Checks what can be checked without the model (an activation kind in
 * range). fgq_quantize_graph calls it first. */
fgq_status fgq_quant_config_check(const fgq_quant_config *cfg, fgq_error *err);
/* The policy of weight layer `node` before overrides: cfg->edge for the
 * first and last weight layers (node indices `first`, `last`) when edge_set,
 * else cfg->dw for a depthwise convolution when dw_set, else cfg->weights. */
fgq_policy fgq_quant_base_policy(const fgq_quant_config *cfg, const fgq_graph *fg, int32_t node, int32_t first,
                                 int32_t last);
/* 1 when float node `node` is a weight layer fgq_quantize_graph quantizes
 * under cfg (not kept float, policy not f32), with *pol its policy (the
 * default, the first/last or depthwise policy, or its override); 0 otherwise. */
int fgq_quant_layer_policy(const fgq_graph *fg, const fgq_quant_config *cfg, int32_t node, fgq_policy *pol);
/* The checks that need the graph: every override names a node of fg (a
 * typo in --layer / --keep-float is refused before any calibration). */
fgq_status fgq_quant_config_check_graph(const fgq_quant_config *cfg, const fgq_graph *fg, fgq_error *err);

/* Builds the integer graph of fg. *out (new graph) and *layers (malloc'd,
 * *n_layers rows) belong to the caller. fg must have static shapes; calib
 * must hold statistics of fg's tensors (fgq_calib_run on fg), except with
 * cfg->acts == FGQ_ACTS_DYNAMIC, where it is not read (NULL is fine). */
fgq_status fgq_quantize_graph(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                              fgq_graph **out, fgq_layer_report **layers, int32_t *n_layers, fgq_error *err);

/* Runs fg and qg (same inputs) on the samples (bound to fg, like
 * fgq_calib_run) and fills each layer's act_sqnr_db: SQNR of the quantized
 * model's tensor (dequantized with its qparams) against the float run's.
 * max_samples > 0 and below the sample count: that many samples, evenly
 * spaced (sample i·n/max for i < max); otherwise every one. */
fgq_status fgq_quant_measure(const fgq_graph *fg, const fgq_graph *qg, const fgq_samples *samples,
                             int64_t max_samples, fgq_layer_report *layers, int32_t n_layers,
                             fgq_calib_progress progress, void *user, fgq_error *err);

/* Adds Σ f² to *sig and Σ (f − x)² to *noise over n values, x the quantized run's value (dtype
 * FGQ_DT_F32, or FGQ_DT_U8 / FGQ_DT_S8 dequantized as s·(q − z)), in double. simd = 1 takes the
 * AVX2 loop where the CPU has it (partial sums in four lanes: equal to the plain loop's, simd = 0,
 * up to double rounding). */
void fgq_quant_sig_noise(const float *f, int32_t dtype, const void *q, double s, int32_t z, int64_t n, int simd,
                         double *sig, double *noise);

#endif /* FGQ_QUANTIZE_H */
