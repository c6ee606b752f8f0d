/* op_table.c — the op traits table (one row per fgq_op), fgq_op_lookup, fgq_op_name and fgq_op_key.
 *
 * Op selection for firmware: built with -DFGQ_OP_SELECTION='"NAME_ops.h"' (a header `fgq export --c`
 * writes: FGQ_OP_ON_<KEY> 0 or 1 for every op), the rows of the ops a model does not use keep their
 * name but no functions, so with -ffunction-sections and --gc-sections their kernels are not linked;
 * loading a model that uses such an op fails as for any op this runtime does not implement. */
#include "fgq_ops.h"
#include "ops_f32.h"
#include "ops_q.h"

#include <stddef.h>

#ifdef FGQ_OP_SELECTION
#include FGQ_OP_SELECTION
#define PICK(key_, fn_) PICK_(FGQ_OP_ON_##key_, fn_)
#define PICK_(on_, fn_) PICK__(on_, fn_)
#define PICK__(on_, fn_) PICK_##on_(fn_) /* PICK_FGQ_OP_ON_X undefined: the header lacks op X */
#define PICK_0(fn_) NULL
#define PICK_1(fn_) fn_
#else
#define PICK(key_, fn_) fn_
#endif

#define ROW_(key_, name_, min_, max_, check_, run_, scratch_) \
    [FGQ_OP_##key_] = { name_, #key_, min_, max_, PICK(key_, check_), PICK(key_, run_), PICK(key_, scratch_) }
#define ROW(key_, name_, min_, max_, fn_) \
    ROW_(key_, name_, min_, max_, fgq_##fn_##_f32_check, fgq_##fn_##_f32_run, NULL)
/* Integer-only rows (ops_q.h). */
#define QROW(key_, name_, min_, max_, fn_) ROW_(key_, name_, min_, max_, fgq_##fn_##_check, fgq_##fn_##_run, NULL)
/* Rows whose run takes scratch (fgq_op_impl.scratch: fgq_<fn>_scratch). */
#define ROWS(key_, name_, min_, max_, fn_) \
    ROW_(key_, name_, min_, max_, fgq_##fn_##_f32_check, fgq_##fn_##_f32_run, fgq_##fn_##_f32_scratch)
#define QROWS(key_, name_, min_, max_, fn_) \
    ROW_(key_, name_, min_, max_, fgq_##fn_##_check, fgq_##fn_##_run, fgq_##fn_##_scratch)

static const fgq_op_impl fgq_op_table[FGQ_OP_COUNT_] = {
    ROWS(CONV, "Conv", 2, 3, conv),
    ROW(GEMM, "Gemm", 2, 3, gemm),
    ROW(MATMUL, "MatMul", 2, 2, matmul),
    ROW(ADD, "Add", 2, 2, eltwise),
    ROW(SUB, "Sub", 2, 2, eltwise),
    ROW(MUL, "Mul", 2, 2, eltwise),
    ROW(DIV, "Div", 2, 2, eltwise),
    ROW(RELU, "Relu", 1, 1, relu),
    ROW(CLIP, "Clip", 1, 3, clip),
    ROW(LEAKY_RELU, "LeakyRelu", 1, 1, leaky_relu),
    ROW(SIGMOID, "Sigmoid", 1, 1, sigmoid),
    ROW(TANH, "Tanh", 1, 1, tanh),
    ROW(MAXPOOL, "MaxPool", 1, 1, maxpool),
    ROW(AVGPOOL, "AveragePool", 1, 1, avgpool),
    ROW(GLOBAL_AVGPOOL, "GlobalAveragePool", 1, 1, global_avgpool),
    ROW(BATCHNORM, "BatchNormalization", 5, 5, batchnorm),
    ROW(RESHAPE, "Reshape", 1, 1, reshape),
    ROW(TRANSPOSE, "Transpose", 1, 1, transpose),
    ROW(CONCAT, "Concat", 1, -1, concat),
    ROW(SOFTMAX, "Softmax", 1, 1, softmax),
    ROW(HARD_SIGMOID, "HardSigmoid", 1, 1, hard_sigmoid),
    ROW(HARD_SWISH, "HardSwish", 1, 1, hard_swish),
    ROW(ERF, "Erf", 1, 1, erf),
    ROW(GELU, "Gelu", 1, 1, gelu),
    ROW(SQRT, "Sqrt", 1, 1, sqrt),
    ROW(ABS, "Abs", 1, 1, abs),
    ROW(POW, "Pow", 2, 2, eltwise),
    ROW(REDUCE, "Reduce", 1, 1, reduce),
    ROW(LAYERNORM, "LayerNormalization", 2, 3, layernorm),
    ROW(SLICE, "Slice", 1, 1, slice),
    ROW(PAD, "Pad", 1, 1, pad),
    ROW(SPLIT, "Split", 1, 1, split),
    ROW(RESIZE, "Resize", 1, 1, resize),
    ROW(GATHER, "Gather", 2, 2, gather),
    ROW(LSTM, "LSTM", 3, 7, lstm),
    ROW(GRU, "GRU", 3, 6, gru),
    ROW(CONV_TRANSPOSE, "ConvTranspose", 2, 3, conv_transpose),
    ROW(EQUAL, "Equal", 2, 2, compare),
    ROW(LESS, "Less", 2, 2, compare),
    ROW(GREATER, "Greater", 2, 2, compare),
    ROW(WHERE, "Where", 3, 3, where),
    ROW(EXPAND, "Expand", 1, 1, expand),
    ROW(CAST, "Cast", 1, 1, cast),
    ROW(MOD, "Mod", 2, 2, mod),
    ROW(NOT, "Not", 1, 1, not),
    ROW(SCATTER_ND, "ScatterND", 3, 3, scatter_nd),
    QROWS(QCONV, "QConv", 4, 5, qconv),
    QROWS(QGEMM, "QGemm", 4, 5, qgemm),
    QROW(QADD, "QAdd", 2, 2, qadd),
    QROW(QMAXPOOL, "QMaxPool", 1, 1, qmaxpool),
    QROW(QAVGPOOL, "QAveragePool", 1, 1, qavgpool),
    QROW(QGLOBAL_AVGPOOL, "QGlobalAveragePool", 1, 1, qglobal_avgpool),
    QROW(QCONCAT, "QConcat", 1, FGQ_QCONCAT_MAX_INPUTS, qconcat),
    QROW(QUANTIZE, "Quantize", 1, 1, quantize),
    QROW(DEQUANTIZE, "Dequantize", 1, 1, dequantize),
    QROW(MATMUL_INT, "MatMulInt", 2, 2, matmul_int),
    QROW(CONV_INT, "ConvInt", 2, 3, conv_int),
    QROW(DYNQUANT, "DynQuantize", 1, 1, dynquant),
    QROWS(QCONV_DYN, "QConvDyn", 5, 7, qconv_dyn),
    QROW(QGEMM_DYN, "QGemmDyn", 5, 7, qgemm_dyn),
    QROW(QLUT, "QLut", 2, 2, qlut),
    QROW(QMUL, "QMul", 2, 2, qmul),
};

const fgq_op_impl *fgq_op_lookup(uint32_t op)
{
    if (op >= (uint32_t)FGQ_OP_COUNT_ || fgq_op_table[op].check == NULL)
        return NULL;
    return &fgq_op_table[op];
}

const char *fgq_op_name(fgq_op op)
{
    if ((uint32_t)op >= (uint32_t)FGQ_OP_COUNT_ || fgq_op_table[op].name == NULL)
        return "invalid op";
    return fgq_op_table[op].name;
}

const char *fgq_op_key(fgq_op op)
{
    if ((uint32_t)op >= (uint32_t)FGQ_OP_COUNT_)
        return NULL;
    return fgq_op_table[op].key;
}
