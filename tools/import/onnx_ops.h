/* onnx_ops.h — the ONNX ops and data types fgq imports: one table each, the single source of truth.
 *
 * Shape inference (import/shape_infer.c), constant folding (passes/passes.c), lowering (lower/lower.c)
 * and `fgq inspect` (fgq_op_is_supported / fgq_node_is_supported) all read FGQ_ONNX_OPS. A row is
 *
 *     X(Op, infer_fn, lower_fn, flags)
 *
 * and each reader expands the column it needs: shape_infer.c the `infer_fn` (a static
 * `fgq_status infer_fn(infer_ctx *)` there), lower.c the `lower_fn` (a static function there, see its
 * `lower_fn` type), onnx_ops.c the name and flags. So adding an op is one row here plus the two
 * functions it names; a row whose functions are missing does not compile, and an op cannot be known
 * to one stage and not to another. Ops are in ONNX's default domain ("", NULL or "ai.onnx": graph.h's
 * fgq_domain_is_default / fgq_node_is, the one matcher).
 *
 * Flags:
 *   FGQ_ONNX_FOLDS      fgq_pass_fold_constants evaluates it when its present inputs are constants.
 *   FGQ_ONNX_FOLD_ONLY  supported only where it folds to a constant (shape arithmetic); its lowering
 *                       refuses it.
 *   FGQ_ONNX_OUTPUTS    its lowering handles every output itself (multi-output ops, ONNX's quantized
 *                       ops); otherwise outputs after the first must be unread and the lowering sets
 *                       how many leading inputs the runtime op keeps.
 */
#ifndef FGQ_TOOLS_ONNX_OPS_H
#define FGQ_TOOLS_ONNX_OPS_H

#include "graph.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FGQ_ONNX_FOLDS 1u
#define FGQ_ONNX_FOLD_ONLY 2u
#define FGQ_ONNX_OUTPUTS 4u

/* clang-format off */
#define FGQ_ONNX_OPS(X)                                                                              \
    X(Conv,                  infer_conv_f,           lower_conv,            0)                       \
    X(ConvInteger,           infer_conv_integer,     lower_onnxq_op,        FGQ_ONNX_OUTPUTS)        \
    X(QLinearConv,           infer_qlinear_conv,     lower_onnxq_op,        FGQ_ONNX_OUTPUTS)        \
    X(ConvTranspose,         infer_conv_transpose,   lower_conv_transpose_op, 0)                     \
    X(Gemm,                  infer_gemm,             lower_gemm,            0)                       \
    X(MatMul,                infer_matmul_f,         lower_matmul,          0)                       \
    X(MatMulInteger,         infer_matmul_integer,   lower_onnxq_op,        FGQ_ONNX_OUTPUTS)        \
    X(QLinearMatMul,         infer_qlinear_matmul,   lower_onnxq_op,        FGQ_ONNX_OUTPUTS)        \
    X(Add,                   infer_add,              lower_binary,          FGQ_ONNX_FOLDS)          \
    X(Sub,                   infer_sub,              lower_binary,          FGQ_ONNX_FOLDS)          \
    X(Mul,                   infer_mul,              lower_binary,          FGQ_ONNX_FOLDS)          \
    X(Div,                   infer_div,              lower_binary,          FGQ_ONNX_FOLDS)          \
    X(Pow,                   infer_pow,              lower_pow,             0)                       \
    X(Relu,                  infer_same,             lower_relu,            0)                       \
    X(Clip,                  infer_same,             lower_clip,            0)                       \
    X(LeakyRelu,             infer_same,             lower_leaky_relu,      0)                       \
    X(Sigmoid,               infer_same,             lower_sigmoid,         0)                       \
    X(Tanh,                  infer_same,             lower_tanh,            0)                       \
    X(HardSigmoid,           infer_same,             lower_hard_sigmoid,    0)                       \
    X(HardSwish,             infer_same,             lower_hard_swish,      0)                       \
    X(Erf,                   infer_same,             lower_erf,             0)                       \
    X(Gelu,                  infer_same,             lower_gelu,            0)                       \
    X(Sqrt,                  infer_same,             lower_sqrt,            0)                       \
    X(Abs,                   infer_same,             lower_abs,             0)                       \
    X(MaxPool,               infer_maxpool,          lower_pool,            0)                       \
    X(AveragePool,           infer_avgpool,          lower_pool,            0)                       \
    X(GlobalAveragePool,     infer_global_pool,      lower_global_avgpool,  0)                       \
    X(GlobalMaxPool,         infer_global_pool,      lower_global_maxpool,  0)                       \
    X(BatchNormalization,    infer_batchnorm,        lower_batchnorm,       0)                       \
    X(LayerNormalization,    infer_layernorm,        lower_layernorm_op,    FGQ_ONNX_OUTPUTS)        \
    X(Softmax,               infer_softmax,          lower_softmax,         0)                       \
    X(ReduceMean,            infer_reduce,           lower_one_input,       0)                       \
    X(ReduceSum,             infer_reduce,           lower_one_input,       0)                       \
    X(ReduceMax,             infer_reduce,           lower_one_input,       0)                       \
    X(ReduceMin,             infer_reduce,           lower_one_input,       0)                       \
    X(ReduceL2,              infer_reduce,           lower_one_input,       0)                       \
    X(ReduceSumSquare,       infer_reduce,           lower_one_input,       0)                       \
    X(Slice,                 infer_slice,            lower_one_input,       FGQ_ONNX_FOLDS)          \
    X(Pad,                   infer_pad,              lower_one_input,       0)                       \
    X(Resize,                infer_resize,           lower_one_input,       0)                       \
    X(Upsample,              infer_resize,           lower_one_input,       0)                       \
    X(Split,                 infer_split,            lower_split_op,        FGQ_ONNX_OUTPUTS)        \
    X(LSTM,                  infer_rnn,              lower_rnn_op,          FGQ_ONNX_OUTPUTS)        \
    X(GRU,                   infer_rnn,              lower_rnn_op,          FGQ_ONNX_OUTPUTS)        \
    X(Flatten,               infer_flatten,          lower_copy,            FGQ_ONNX_FOLDS)          \
    X(Reshape,               infer_reshape,          lower_copy,            FGQ_ONNX_FOLDS)          \
    X(Squeeze,               infer_squeeze,          lower_copy,            FGQ_ONNX_FOLDS)          \
    X(Unsqueeze,             infer_unsqueeze,        lower_copy,            FGQ_ONNX_FOLDS)          \
    X(Identity,              infer_identity,         lower_copy,            FGQ_ONNX_FOLDS)          \
    X(Dropout,               infer_dropout,          lower_copy,            0)                       \
    X(Transpose,             infer_transpose,        lower_transpose,       FGQ_ONNX_FOLDS)          \
    X(Concat,                infer_concat,           lower_concat,          FGQ_ONNX_FOLDS)          \
    X(Gather,                infer_gather,           lower_gather,          FGQ_ONNX_FOLDS)          \
    X(Cast,                  infer_cast,             lower_cast,            FGQ_ONNX_FOLDS)          \
    X(Equal,                 infer_compare,          lower_compare,         FGQ_ONNX_FOLDS)          \
    X(Less,                  infer_compare,          lower_compare,         0)                       \
    X(Greater,               infer_compare,          lower_compare,         0)                       \
    X(Where,                 infer_where,            lower_where,           FGQ_ONNX_FOLDS)          \
    X(Expand,                infer_expand,           lower_expand,          FGQ_ONNX_FOLDS)          \
    X(Mod,                   infer_mod,              lower_mod,             FGQ_ONNX_FOLDS)          \
    X(Not,                   infer_not,              lower_not,             FGQ_ONNX_FOLDS)          \
    X(ScatterND,             infer_scatter_nd,       lower_scatter_nd,      FGQ_ONNX_FOLDS)          \
    X(Range,                 infer_range,            lower_range,           FGQ_ONNX_FOLDS | FGQ_ONNX_FOLD_ONLY) \
    X(Constant,              infer_constant,         lower_fold_only,       FGQ_ONNX_FOLDS | FGQ_ONNX_FOLD_ONLY) \
    X(Shape,                 infer_shape_op,         lower_fold_only,       FGQ_ONNX_FOLDS | FGQ_ONNX_FOLD_ONLY) \
    X(ConstantOfShape,       infer_unknown,          lower_fold_only,       FGQ_ONNX_FOLDS | FGQ_ONNX_FOLD_ONLY) \
    X(QuantizeLinear,        infer_quantize,         lower_onnxq_op,        FGQ_ONNX_OUTPUTS)        \
    X(DequantizeLinear,      infer_dequantize,       lower_onnxq_op,        FGQ_ONNX_OUTPUTS)        \
    X(DynamicQuantizeLinear, infer_dynamic_quantize, lower_onnxq_op,        FGQ_ONNX_OUTPUTS)
/* clang-format on */

typedef struct {
    const char *name;     /* ONNX op type */
    uint32_t flags;       /* FGQ_ONNX_* */
    const char *infer_fn; /* the row's function names, for tests and messages */
    const char *lower_fn;
} fgq_onnx_op;

/* Rows of FGQ_ONNX_OPS, in order: index i here is index i of every table expanded from it. */
int32_t fgq_onnx_op_count(void);
const fgq_onnx_op *fgq_onnx_op_at(int32_t i); /* NULL when i is out of range */

/* Row index of op_type in domain, or -1 when fgq does not import it (not in the table or another
 * domain). */
int32_t fgq_onnx_op_index(const char *op_type, const char *domain);

/* The one ONNX data-type table (TensorProto.DataType). */
/* The fgq dtype a tensor of that ONNX type is imported as: float16 becomes f32 (fgq imports float16
 * models as float32); FGQ_DT_UNDEF for types fgq cannot hold (double initializers are converted to f32
 * by the importer itself, see onnx_import.c). */
fgq_dtype fgq_onnx_dtype(int32_t onnx_type);
/* The ONNX type that is exactly fgq dtype dt (FGQ_DT_F16 -> float16), 0 when none. */
int32_t fgq_onnx_type_of(fgq_dtype dt);
/* ONNX's name for the type ("float", "int64", ...), NULL when unknown. */
const char *fgq_onnx_type_name(int32_t onnx_type);
/* Bytes per element as ONNX stores the type; 0 for the types fgq cannot import. */
size_t fgq_onnx_type_size(int32_t onnx_type);

#ifdef __cplusplus
}
#endif

#endif
