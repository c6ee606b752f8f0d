/*
 * fgq_ops.h — the runtime's operator set and how each op's attributes are laid
 * out in a node's iparams/fparams (fgq_file_node). Values are stable: they are
 * written into .fgq files. The lowering in tools/ fills these from ONNX
 * attributes; the runtime validates them at load and never trusts them.
 *
 * Layout: NCHW float32 unless stated. "spatial" ops (Conv, pools) use the
 * common block below for 1..3 spatial dims; unused entries are 0.
 */
#ifndef FGQ_OPS_H
#define FGQ_OPS_H

#include "fgq_target.h"
#include "fgq_types.h"

#include <stdint.h>

typedef enum {
    FGQ_OP_INVALID = 0,
    FGQ_OP_CONV = 1,          /* in: X, W, B? */
    FGQ_OP_GEMM = 2,          /* in: A, B, C?  ip: transA, transB, act; fp: alpha, beta, act0, act1 */
    FGQ_OP_MATMUL = 3,        /* in: A, B (numpy matmul broadcasting) */
    FGQ_OP_ADD = 4,           /* in: A, B (numpy broadcasting); ip[0]=act */
    FGQ_OP_SUB = 5,
    FGQ_OP_MUL = 6,
    FGQ_OP_DIV = 7,
    FGQ_OP_RELU = 8,
    FGQ_OP_CLIP = 9,          /* fp[0]=min, fp[1]=max (±INFINITY when absent) */
    FGQ_OP_LEAKY_RELU = 10,   /* fp[0]=alpha */
    FGQ_OP_SIGMOID = 11,
    FGQ_OP_TANH = 12,
    FGQ_OP_MAXPOOL = 13,      /* spatial block */
    FGQ_OP_AVGPOOL = 14,      /* spatial block; ip[FGQ_P_COUNT_PAD] */
    FGQ_OP_GLOBAL_AVGPOOL = 15,
    FGQ_OP_BATCHNORM = 16,    /* in: X, scale, B, mean, var; fp[0]=epsilon */
    FGQ_OP_RESHAPE = 17,      /* Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: copy bytes */
    FGQ_OP_TRANSPOSE = 18,    /* ip[0..rank) = perm */
    FGQ_OP_CONCAT = 19,       /* ip[0] = axis (non-negative) */
    FGQ_OP_SOFTMAX = 20,      /* ip[0] = axis (non-negative); ip[1] = 1 for opset < 13 (flatten at axis) */
    /* Integer-only ops (docs/quantized-ops.md is the full contract). Activations
     * u8 or s8, per tensor, x = s·(q − z); zero points, output clamp and
     * requantization live in iparams (FGQ_QP_*) or in s32/u8 const inputs.
     * QRESHAPE is FGQ_OP_RESHAPE (it copies any whole-byte dtype). */
    FGQ_OP_QCONV = 21,        /* in: X u8|s8, W s8|s4|t2 [M, Kp], B? s32 [M], REQ s32 [M, 2], GS? u8 [M, G(, 2)];
                                 spatial block (FGQ_P_ACT must be 0) + Q block */
    FGQ_OP_QGEMM = 22,        /* in: A u8|s8 [..., K], W [N, Kp], B?, REQ [N, 2], GS? (as QCONV), WSUM? s32 [N]
                                 (fgq_qweights_row_sums); Q block */
    FGQ_OP_QADD = 23,         /* in: A, B u8|s8 (numpy broadcasting); FGQ_QP_ADD_* + Q block */
    FGQ_OP_QMAXPOOL = 24,     /* spatial block + X/Y zero, qmin, qmax */
    FGQ_OP_QAVGPOOL = 25,     /* spatial block, ip[FGQ_P_COUNT_PAD] + X/Y zero, qmin, qmax, REQ mult/shift */
    FGQ_OP_QGLOBAL_AVGPOOL = 26, /* X/Y zero, qmin, qmax, REQ mult/shift */
    FGQ_OP_QCONCAT = 27,      /* ip[0] axis, ip[1] z_y, ip[2+3i..] (z_i, mult_i, shift_i), at most 10 inputs */
    FGQ_OP_QUANTIZE = 28,     /* f32 -> u8|s8: fp[0] scale; Y zero, qmin, qmax; ip[FGQ_QP_ROUND] */
    FGQ_OP_DEQUANTIZE = 29,   /* u8|s8|s32 -> f32: fp[0] scale; ip[FGQ_QP_X_ZERO] */
    FGQ_OP_MATMUL_INT = 30,   /* in: A u8|s8 [..., M, K], B u8|s8 [K, N] or [..., K, N] (A's batch dims);
                                 ip X_ZERO (z_a), FGQ_QP_INT_W_ZERO (z_b); Y s32, or u8|s8 requantized
                                 (Y_ZERO, QMIN, QMAX, REQ_MULT, REQ_SHIFT). ONNX MatMulInteger / QLinearMatMul */
    FGQ_OP_CONV_INT = 31,     /* in: X u8|s8, W u8|s8 [M, C/G, k...], B? s32 [M]; spatial block (ACT 0),
                                 zero points and output as MATMUL_INT. ONNX ConvInteger / QLinearConv */
    /* Dynamic-range quantization (runtime/ops/qdyn.c, docs/quantized-ops.md "Dynamic activations"):
     * activations quantized per inference from their own min/max, float between layers. */
    FGQ_OP_DYNQUANT = 32,     /* in: X f32; out: Y u8 (X's dims), Y_SCALE f32 [], Y_ZERO u8 []. Exactly ONNX
                                 DynamicQuantizeLinear (round half to even); no params */
    FGQ_OP_QCONV_DYN = 33,    /* in: X u8|s8, X_SCALE f32 [], X_ZERO [] (X's dtype), W s8|s4|t2 [M, Kp],
                                 W_SCALE f32 [M], B? f32 [M], GS? u8 [M, G(, 2)]; out f32 = (float)dot·(s_x·s_w[m])
                                 + B[m], then the fused act; spatial block (ACT at FGQ_P_ACT, fp ACT0/1) +
                                 W_GROUP, W_NALPHA, W_MMAX; the int32 bound with |q_x − z_x| <= 255 */
    FGQ_OP_QGEMM_DYN = 34,    /* in: A u8|s8 [..., K], A_SCALE, A_ZERO, W [N, Kp], W_SCALE, B?, GS? (as QCONV_DYN),
                                 WSUM? (as QGEMM);
                                 out f32 [..., N]; act at FGQ_P_GEMM_ACT (fp ACT0/1) + W_GROUP, W_NALPHA, W_MMAX */
    /* Float ops of the common model zoo (opsets 11..17). Slice, Pad and Split move bytes: any whole-byte dtype. */
    FGQ_OP_HARD_SIGMOID = 35, /* y = max(0, min(1, alpha·x + beta)); fp[0] alpha, fp[1] beta */
    FGQ_OP_HARD_SWISH = 36,   /* y = x · max(0, min(1, x/6 + 1/2)) */
    FGQ_OP_ERF = 37,
    FGQ_OP_GELU = 38,         /* ip[0] = 0: x·Φ(x) (erf), 1: the tanh approximation */
    FGQ_OP_SQRT = 39,
    FGQ_OP_POW = 40,          /* in: A, B (numpy broadcasting), as Add; ip[0] = act */
    FGQ_OP_REDUCE = 41,       /* ip[0] fgq_reduce kind, ip[1] bit i set: X's dim i is reduced (Y keeps or drops
                                 it: the same layout) */
    FGQ_OP_LAYERNORM = 42,    /* in: X, SCALE, B? (SCALE, B: X's dims [axis, rank)); out: Y, MEAN?, INV_STD_DEV?
                                 (X's dims, 1 from axis on); ip[0] axis; fp[0] epsilon */
    FGQ_OP_SLICE = 43,        /* ip[i] start, ip[8 + i] step (!= 0) along X's dim i; Y's dims are the counts */
    FGQ_OP_PAD = 44,          /* ip[0] mode (0 constant, 1 reflect, 2 edge), ip[1 + i] pad before X's dim i (>= 0;
                                 after: from Y's dims); fp[0] the constant (f32), ip[9] its code (u8/s8 X);
                                 other dtypes pad with 0 */
    FGQ_OP_SPLIT = 45,        /* ip[0] axis; outputs (1..FGQ_SPLIT_MAX_OUTPUTS) take consecutive parts of X along
                                 it, their sizes from their dims */
    FGQ_OP_RESIZE = 46,       /* the last two dims (H, W) resized, outer dims kept: ip[0] mode (0 nearest, 1 linear),
                                 ip[1] fgq_resize_coord, ip[2] fgq_resize_nearest, ip[3] 1: the model gave sizes
                                 (the resized length is Y's dim; 0: in·scale); fp[0] scale H, fp[1] scale W
                                 (the coordinate transform's; Y's dims are the output sizes). ONNX Resize / Upsample */
    FGQ_OP_GATHER = 47,       /* in: X (any whole-byte dtype), INDICES s64|s32 (constant or computed; negative
                                 counts from the end); ip[0] axis. Y = X[:axis] + INDICES' dims + X[axis+1:] */
    FGQ_OP_LSTM = 48,         /* in: X [T, N, I], W [D, 4H, I], R [D, 4H, H], B? [D, 8H], -, H0? [D, N, H], C0? [D, N, H];
                                 out: Y [T, D, N, H], Y_H [D, N, H], Y_C [D, N, H] (all three present: Y holds
                                 the previous step's h, Y_C the cell state). Gates i, o, f, c; sigmoid / tanh /
                                 tanh; ip[0] direction (0 forward, 1 reverse, 2 bidirectional), ip[1] H;
                                 fp[0] clip of the gate inputs (0: none) */
    FGQ_OP_GRU = 49,          /* as LSTM without the cell: W [D, 3H, I], R [D, 3H, H], B? [D, 6H], H0 at input 5;
                                 out Y, Y_H; gates z, r, h; ip[2] linear_before_reset */
    FGQ_OP_CONV_TRANSPOSE = 50, /* in: X [N, C, in...], W [C, M/G, k...], B? [M]; spatial block: FGQ_P_NSPATIAL,
                                 FGQ_P_GROUP, FGQ_P_STRIDE, FGQ_P_DILATION, FGQ_P_PAD_BEGIN (kernel from W; Y's
                                 dims give the output size, pads at the end and output_padding implied) */
    /* Masks, selection and dtype changes at run time (runtime/ops/select_f32.c; SCATTER_ND beside Gather in
     * layout_f32.c): attention masks and the like that depend on an input (Swin's shifted-window mask).
     * Bool tensors are FGQ_DT_BOOL, one byte each, 0 or 1 (as ONNX, NumPy); integers s32 / s64 as Gather's
     * indices. All broadcast as NumPy does, rank <= 8. */
    FGQ_OP_EQUAL = 51,        /* in: A, B of one dtype (f32, u8, s8, s32, s64, bool); out: Y bool, A == B */
    FGQ_OP_LESS = 52,         /* as EQUAL (not bool): A < B */
    FGQ_OP_GREATER = 53,      /* as EQUAL (not bool): A > B */
    FGQ_OP_WHERE = 54,        /* in: COND bool, X, Y of one whole-byte dtype; out: COND ? X : Y, X's dtype */
    FGQ_OP_EXPAND = 55,       /* in: X (any whole-byte dtype); Y = X broadcast to Y's dims (ONNX Expand with
                                 its shape a constant, resolved at conversion) */
    FGQ_OP_CAST = 56,         /* in: X f32|u8|s8|s32|s64|bool; Y the same dims in the target dtype (one of
                                 those): float -> integer truncates toward 0 and saturates (NaN -> 0),
                                 integer -> narrower integer wraps (two's complement), -> bool is x != 0;
                                 ip[0] = 1: f32 -> f32 rounded to float16 (nearest even; ONNX Cast to float16
                                 in a model fgq holds as float32) */
    FGQ_OP_MOD = 57,          /* in: A, B of one dtype (NumPy broadcasting); out: A's dtype. ip[0] = fmod: 1, C's
                                 fmod (the remainder takes A's sign; f32, u8, s8, s32, s64), 0, Python's % (the
                                 remainder takes B's sign; integers only, as ONNX Mod); x mod 0 is 0 for integers
                                 (ONNX leaves it undefined, C makes it UB), NaN for f32 as fmodf */
    FGQ_OP_NOT = 58,          /* in: X bool; out: bool, !X */
    FGQ_OP_SCATTER_ND = 59,   /* in: DATA (any whole-byte dtype) [d0..d(r-1)], INDICES s64 [i0..i(q-2), k] (1 <= k <= r;
                                 negative counts from the end), UPDATES [i0..i(q-2), dk..d(r-1)] (DATA's dtype);
                                 out: DATA with each update slice written, in index order (duplicates: the last
                                 wins), or combined by ip[0]: 0 none, 1 add, 2 mul, 3 max, 4 min (f32, u8, s8, s32,
                                 s64); an index outside its dim fails the run with FGQ_ERR_VALUE, Y untouched */
    /* Integer-only element-wise function through a table (runtime/ops/qlut.c, docs/quantized-ops.md "QLUT"). */
    FGQ_OP_QLUT = 60,         /* in: X u8|s8, TABLE [256] of Y's dtype; out: Y u8|s8 (X's dims), y = TABLE[x]
                                 (x + 128 for s8 X); ip[FGQ_QP_LUT_FN] fgq_lut_fn, fp[FGQ_QPF_LUT_ALPHA/BETA]
                                 (HardSigmoid), X_ZERO, Y_ZERO, QMIN, QMAX: what the table was built from */
    FGQ_OP_QMUL = 61,         /* in: A, B u8|s8 (numpy broadcasting, as QADD); out: Y u8|s8,
                                 y = clamp(z_y + requant((a − z_a)(b − z_b), REQ_MULT, REQ_SHIFT), qmin, qmax):
                                 X_ZERO z_a, FGQ_QP_ADD_B_ZERO z_b, Y_ZERO, QMIN, QMAX, REQ (real s_a·s_b / s_y) */
    FGQ_OP_ABS = 62,          /* y = |x| (f32) */
    FGQ_OP_COUNT_
} fgq_op;

/* FGQ_OP_REDUCE kinds (ONNX ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceL2, ReduceSumSquare). */
typedef enum {
    FGQ_REDUCE_MEAN = 0,
    FGQ_REDUCE_SUM = 1,
    FGQ_REDUCE_MAX = 2,
    FGQ_REDUCE_MIN = 3,
    FGQ_REDUCE_L2 = 4,
    FGQ_REDUCE_SUM_SQUARE = 5
} fgq_reduce;

/* FGQ_OP_RESIZE coordinate transforms (ONNX coordinate_transformation_mode) and nearest rounding. */
typedef enum {
    FGQ_RESIZE_HALF_PIXEL = 0,
    FGQ_RESIZE_ASYMMETRIC = 1,
    FGQ_RESIZE_ALIGN_CORNERS = 2,
    FGQ_RESIZE_PYTORCH_HALF_PIXEL = 3,
    FGQ_RESIZE_TF_HALF_PIXEL_FOR_NN = 4
} fgq_resize_coord;
typedef enum {
    FGQ_RESIZE_ROUND_PREFER_FLOOR = 0,
    FGQ_RESIZE_ROUND_PREFER_CEIL = 1,
    FGQ_RESIZE_FLOOR = 2,
    FGQ_RESIZE_CEIL = 3,
    FGQ_RESIZE_SIMPLE = 4 /* Upsample and Resize-10 as ONNX Runtime runs them: ceil when downsampling, else floor */
} fgq_resize_nearest;

enum { FGQ_SPLIT_MAX_OUTPUTS = 16 /* = FGQ_MAX_NODE_OUTPUTS */, FGQ_PAD_CODE = 9 };

/* Fused activation, for Conv, Gemm, MatMul, Add (ip[FGQ_P_ACT] or as noted). */
typedef enum {
    FGQ_ACT_NONE = 0,
    FGQ_ACT_RELU = 1,
    FGQ_ACT_CLIP = 2,   /* fparams[FGQ_PF_ACT0]=min, [FGQ_PF_ACT1]=max */
} fgq_act;

/* Spatial block (Conv, MaxPool, AveragePool), indices into iparams. */
enum {
    FGQ_P_NSPATIAL = 0,   /* 1, 2 or 3 */
    FGQ_P_GROUP = 1,      /* Conv only */
    FGQ_P_KERNEL = 2,     /* [3] */
    FGQ_P_STRIDE = 5,     /* [3] */
    FGQ_P_DILATION = 8,   /* [3] */
    FGQ_P_PAD_BEGIN = 11, /* [3] */
    FGQ_P_PAD_END = 14,   /* [3] */
    FGQ_P_ACT = 17,       /* Conv: fgq_act */
    FGQ_P_COUNT_PAD = 18, /* AveragePool: count_include_pad */
};
/* fparams: activation parameters for every op with a fused activation. */
enum { FGQ_PF_ACT0 = 6, FGQ_PF_ACT1 = 7 };
/* Gemm iparams / fparams. */
enum { FGQ_P_TRANS_A = 0, FGQ_P_TRANS_B = 1, FGQ_P_GEMM_ACT = 2 };
enum { FGQ_PF_ALPHA = 0, FGQ_PF_BETA = 1 };

/* Q block: iparams of the integer-only ops (FGQ_OP_QCONV..FGQ_OP_DEQUANTIZE),
 * after the spatial block. Values are checked at load (see docs/quantized-ops.md).
 *   X_ZERO   zero point of input 0 (QADD: of A), in the dtype's range
 *   Y_ZERO   zero point of the output, in the dtype's range
 *   QMIN/QMAX output clamp, dtype range ∩ fused Relu/Clip, QMIN <= QMAX
 *   W_GROUP  QCONV/QGEMM with GS: group size N >= 1 along K; 0 without GS
 *   W_NALPHA QCONV/QGEMM with GS: multipliers per group, 1, or 2 (t2 only:
 *            m+ then m-); 0 without GS
 *   W_MMAX   QCONV/QGEMM with GS: M in 1..255, every multiplier is used as
 *            min(m, M) and M enters the overflow bound; 0 without GS (m = 1)
 *   REQ_MULT/REQ_SHIFT  QAVGPOOL, QGLOBAL_AVGPOOL, QADD: output requantization
 *            (fgq_requantize_s32); MULT 0 means "same scale" where documented
 *   ROUND    QUANTIZE: 0 round half away from zero (TF), 1 half to even (ONNX) */
enum {
    FGQ_QP_X_ZERO = 20,
    FGQ_QP_Y_ZERO = 21,
    FGQ_QP_QMIN = 22,
    FGQ_QP_QMAX = 23,
    FGQ_QP_W_GROUP = 24,
    FGQ_QP_W_NALPHA = 25,
    FGQ_QP_W_MMAX = 26,
    FGQ_QP_REQ_MULT = 27,
    FGQ_QP_REQ_SHIFT = 28,
    FGQ_QP_ROUND = 29,
};
/* MATMUL_INT / CONV_INT (runtime/ops/qinteger.c): zero point of the second
 * operand (B / W), in its dtype's range; the first operand's is FGQ_QP_X_ZERO. */
enum { FGQ_QP_INT_W_ZERO = 30 };
/* QADD: iparams 0..5 (no spatial block), beside the Q block's X_ZERO (z_a),
 * Y_ZERO, QMIN, QMAX, REQ_MULT/REQ_SHIFT (output). TFLite's integer Add. */
enum {
    FGQ_QP_ADD_B_ZERO = 0,
    FGQ_QP_ADD_LEFT_SHIFT = 1, /* 0..20 */
    FGQ_QP_ADD_A_MULT = 2,     /* >= 0 */
    FGQ_QP_ADD_A_SHIFT = 3,    /* -31..0 */
    FGQ_QP_ADD_B_MULT = 4,
    FGQ_QP_ADD_B_SHIFT = 5,
};
/* QCONCAT: iparams. */
enum { FGQ_QP_CONCAT_AXIS = 0, FGQ_QP_CONCAT_Y_ZERO = 1, FGQ_QP_CONCAT_IN = 2, FGQ_QCONCAT_MAX_INPUTS = 10 };
/* QUANTIZE / DEQUANTIZE fparams. */
enum { FGQ_QPF_SCALE = 0 };
/* QLUT: the function its table holds (ip[FGQ_QP_LUT_FN]), for export and inspection; the runtime only reads
 * the table. HARD_SIGMOID's alpha, beta at fp[FGQ_QPF_LUT_ALPHA], fp[FGQ_QPF_LUT_BETA]; SWISH is
 * x·sigmoid(x) (ONNX Mul(x, Sigmoid(x))). */
typedef enum {
    FGQ_LUT_TABLE = 0, /* a table of unknown origin */
    FGQ_LUT_SIGMOID = 1,
    FGQ_LUT_HARD_SIGMOID = 2,
    FGQ_LUT_HARD_SWISH = 3,
    FGQ_LUT_TANH = 4,
    FGQ_LUT_SWISH = 5,
    FGQ_LUT_FN_COUNT_
} fgq_lut_fn;
enum { FGQ_QP_LUT_FN = 0, FGQ_QLUT_TABLE_LEN = 256 };
enum { FGQ_QPF_LUT_ALPHA = 0, FGQ_QPF_LUT_BETA = 1 };

const char *fgq_op_name(fgq_op op);
/* The op's enum name without FGQ_OP_ ("QCONV": FGQ_OP_ON_QCONV in an op selection header, op_table.c),
 * or NULL for an id that is no op. */
const char *fgq_op_key(fgq_op op);

/* QGEMM's WSUM input: out[r] = Σ_k of row r's effective integer weights, code · m with m the
 * multiplier of k's group (min(GS value, mmax); m⁻ for a negative code where n_alpha is 2; 1
 * without GS), for W [rows, Kp] packed codes of w_dtype (s8, s4, s3, s2, t2) with k codes a row.
 * group 0: no GS (gs, n_alpha, mmax ignored). Wraps modulo 2^32 as the runtime's sums do (a
 * loadable QGEMM's rows fit int32). FGQ_ERR_VALUE for a dtype without weight codes or bad sizes. */
fgq_status fgq_qweights_row_sums(fgq_dtype w_dtype, const void *codes, int64_t rows, int64_t k, int64_t group,
                                 int32_t n_alpha, int32_t mmax, const uint8_t *gs, int32_t *out);

/* What an op kernel sees: views into the arena / the model blob. */
typedef struct {
    fgq_dtype dtype;
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];
    void *data;            /* const tensors point into the read-only model: do not write */
} fgq_tensor_view;

/* Parallel-for over [0, n), supplied by the caller of the runtime (the
 * runtime itself has no threads; tools/threadpool.h is one provider).
 *
 * Contract of parallel_for(impl, n, grain, fn, ctx): calls fn(ctx, b, e) on
 * disjoint ranges [b, e) that together cover [0, n) exactly once, each at most
 * `grain` long (grain >= 1), possibly from several threads at once, and returns
 * only when every call has returned. fn must not call parallel_for again on
 * the same provider. Kernels split only independent output elements, so every
 * output is computed by the same float operations whatever the split: results
 * are bit-identical for any n_threads. */
typedef void (*fgq_task_fn)(void *ctx, fgq_idx begin, fgq_idx end);
/* Kernel preference (fgq_parallel.kernels): AUTO runs the fastest kernel the
 * CPU supports (chosen from a const table and the CPU features fgq_model_load
 * queried; runtime/ops/qgemm_dispatch.h), REF only the portable reference kernels.
 * Every kernel gives the same bytes; REF exists to prove it. The CLI sets REF
 * when the environment has FGQ_KERNELS=ref. */
enum { FGQ_KERNELS_AUTO = 0, FGQ_KERNELS_REF = 1 };
/* CPU features the optimized kernels need: FGQ_CPU_QUERIED is always set, so
 * 0 means "not queried". cpuid/xgetbv on x86 (no libgcc, no cached state):
 * AVX2 (with FMA), AVX512F, AVX512VNNI (with F, BW and VL), AVX512VBMI;
 * on AArch64 Linux getauxval(AT_HWCAP / AT_HWCAP2): ASIMDDP (SDOT, ARMv8.2-A
 * dotprod) and I8MM; on AArch64 elsewhere what the compiler targets
 * (__ARM_FEATURE_DOTPROD, __ARM_FEATURE_MATMUL_INT8); FGQ_CPU_QUERIED alone
 * elsewhere. FGQ_CPU_AMXINT8 (x86 AMX tiles, TDPBSUD) is never in
 * fgq_cpu_features(): on Linux a process must ask the kernel for the tile
 * state (arch_prctl ARCH_REQ_XCOMP_PERM) before its first tile instruction,
 * or that instruction is a SIGILL, and a freestanding runtime makes no
 * system calls. The host that asked grants it (fgq_model_grant_cpu);
 * fgq_cpu_grantable() says whether the CPU and the OS's XCR0 have it. */
enum {
    FGQ_CPU_QUERIED = 1u,
    FGQ_CPU_AVX2 = 2u,
    FGQ_CPU_AVX512VNNI = 4u,
    FGQ_CPU_AVX512VBMI = 8u,
    FGQ_CPU_ASIMDDP = 16u,
    FGQ_CPU_I8MM = 32u,
    FGQ_CPU_AMXINT8 = 64u,
    FGQ_CPU_AVX512F = 128u /* AVX-512 Foundation with the ZMM state enabled (the float kernels need no more) */
};
uint32_t fgq_cpu_features(void);
/* The features a host may grant on top of fgq_cpu_features(): FGQ_CPU_AMXINT8 where cpuid
 * reports AMX-TILE and AMX-INT8, XCR0 enables the tile state, and the CPU has the AVX-512 VNNI
 * features (the AMX kernels pack and finish with them); 0 elsewhere. */
uint32_t fgq_cpu_grantable(void);

typedef struct fgq_parallel {
    void *impl;
    int32_t n_threads; /* threads parallel_for may use, the caller's included */
    void (*parallel_for)(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx);
    int32_t kernels;   /* FGQ_KERNELS_AUTO (0) or FGQ_KERNELS_REF; a NULL provider means AUTO */
} fgq_parallel;

/* Work below this many multiply-adds (or comparable element steps) per chunk
 * costs more to hand to another thread than to do inline. */
#define FGQ_PARALLEL_MIN_WORK ((int64_t)1 << 14)

/* Grain for n items of `cost` work each: about four chunks per thread (so a
 * thread that falls behind is evened out by the atomic hand-out), but never
 * less than FGQ_PARALLEL_MIN_WORK per chunk. Returns n (one chunk: run
 * inline) when par is NULL or single-threaded. */
static inline fgq_idx fgq_parallel_grain(const fgq_parallel *par, fgq_idx n, int64_t cost)
{
    if (par == NULL || par->n_threads <= 1 || n <= 1)
        return n > 1 ? n : 1;
    const fgq_idx chunks = 4 * (fgq_idx)par->n_threads;
    const fgq_idx g = (n + chunks - 1) / chunks;
    if (cost < 1)
        cost = 1;
    const int64_t min_items = (FGQ_PARALLEL_MIN_WORK + cost - 1) / cost; /* <= 2^14 */
    return g < min_items ? (min_items < n ? (fgq_idx)min_items : n) : g;
}

/* fn(ctx, 0, n) inline when par is NULL or single-threaded; else
 * par->parallel_for (which runs a single chunk inline itself; tests use a
 * provider that splits finer than asked). n <= 0 calls nothing. */
static inline void fgq_parallel_for(const fgq_parallel *par, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (par == NULL || par->n_threads <= 1 || par->parallel_for == NULL)
        fn(ctx, 0, n);
    else
        par->parallel_for(par->impl, n, grain, fn, ctx);
}

typedef struct {
    const char *name;      /* not NUL-terminated: name_len bytes */
    uint32_t name_len;
    fgq_op op;
    int32_t n_inputs, n_outputs;
    const int32_t *iparams; /* FGQ_NODE_MAX_IPARAMS */
    const float *fparams;   /* FGQ_NODE_MAX_FPARAMS */
    const fgq_parallel *par; /* NULL: run serially (see fgq_parallel_for) */
    uint32_t cpu;            /* fgq_cpu_features() as the model's load found them; 0: not
                                known, kernels query (ops/qgemm_dispatch.h) */
    void *scratch;           /* n_scratch slices of scratch_stride bytes (fgq_scratch_stride), one per
                                thread that may run the node at once; NULL / 0: none */
    uint64_t scratch_stride;
    int32_t n_scratch;
} fgq_node_view;

/* Scratch owned by the caller (as CMSIS-NN's *_get_buffer_size, TFLM's arena):
 * an op whose kernels need working memory beyond their inputs and outputs
 * declares, per node, the bytes one thread needs (fgq_op_impl.scratch); the
 * caller passes n_scratch slices, one for each thread that may run the node's
 * work at once (par->n_threads, or 1). Each slice is a FGQ_SCRATCH_HEADER-byte
 * header (a busy flag and a few words the op keeps between the calls of one
 * run, written by the op: the caller need not initialise it)
 * then the op's bytes, 64-aligned. An op given less fails with FGQ_ERR_NOMEM
 * before it writes anything. fgq_model_run does all this from its arena. */
#define FGQ_SCRATCH_HEADER 64u
/* Bytes of one slice for `need` bytes of op scratch: 0 for 0, else the header
 * plus need rounded up to 64; UINT64_MAX on overflow. */
static inline uint64_t fgq_scratch_stride(uint64_t need)
{
    if (need == 0)
        return 0;
    if (need > UINT64_MAX - 2 * FGQ_SCRATCH_HEADER)
        return UINT64_MAX;
    return FGQ_SCRATCH_HEADER + ((need + 63u) & ~(uint64_t)63u);
}

/* One row per op (ggml-style traits): `check` validates params, dtypes and that
 * the output shapes follow from the input shapes, at load time (the data
 * pointers are NULL then, but for constants: fgq_model_load gives them theirs,
 * and an op may check constant values its runs rely on, QCONV / QGEMM's REQ);
 * `run` computes; `scratch` sizes run's working memory. Omitted
 * optional inputs are NULL. None allocates. Table in runtime/ops/op_table.c, indexed by fgq_op. */
typedef struct {
    const char *name;
    const char *key;                /* the op's enum name without FGQ_OP_ ("QCONV"), for op selection */
    int32_t min_inputs, max_inputs; /* max -1: unbounded (Concat) */
    fgq_status (*check)(const fgq_node_view *node, const fgq_tensor_view *const *in,
                        const fgq_tensor_view *const *out, fgq_error *err);
    fgq_status (*run)(const fgq_node_view *node, const fgq_tensor_view *const *in,
                      const fgq_tensor_view *const *out, fgq_error *err);
    /* Bytes of scratch one thread of `run` may use for this node (after `check`
     * passed; data pointers may be NULL) in a build with the target profile
     * `target` (fgq_target.h; never NULL): an upper bound over every kernel the
     * op may pick on any CPU of such a build, so the figure depends on the model
     * and the target only. `run` takes what fgq_target_build() gives. NULL: the
     * op needs none. */
    uint64_t (*scratch)(const fgq_node_view *node, const fgq_tensor_view *const *in, const fgq_tensor_view *const *out,
                        const fgq_target *target);
} fgq_op_impl;

/* Row for `op`, or NULL when op is out of range or not implemented. */
const fgq_op_impl *fgq_op_lookup(uint32_t op);

#endif /* FGQ_OPS_H */
