/* op_table.c — the op traits table (one row per fgq_op), fgq_op_lookup and fgq_op_name. */
#include "fgq_ops.h"
#include "ops_f32.h"
#include "ops_q.h"

#include <stddef.h>

#define ROW(op_, name_, min_, max_, fn_) \
    [op_] = { name_, min_, max_, fgq_##fn_##_f32_check, fgq_##fn_##_f32_run }
/* Integer-only rows (ops_q.h). */
#define QROW(op_, name_, min_, max_, fn_) [op_] = { name_, min_, max_, fgq_##fn_##_check, fgq_##fn_##_run }

static const fgq_op_impl fgq_op_table[FGQ_OP_COUNT_] = {
    ROW(FGQ_OP_CONV, "Conv", 2, 3, conv),
    ROW(FGQ_OP_GEMM, "Gemm", 2, 3, gemm),
    ROW(FGQ_OP_MATMUL, "MatMul", 2, 2, matmul),
    ROW(FGQ_OP_ADD, "Add", 2, 2, eltwise),
    ROW(FGQ_OP_SUB, "Sub", 2, 2, eltwise),
    ROW(FGQ_OP_MUL, "Mul", 2, 2, eltwise),
    ROW(FGQ_OP_DIV, "Div", 2, 2, eltwise),
    ROW(FGQ_OP_RELU, "Relu", 1, 1, relu),
    ROW(FGQ_OP_CLIP, "Clip", 1, 3, clip),
    ROW(FGQ_OP_LEAKY_RELU, "LeakyRelu", 1, 1, leaky_relu),
    ROW(FGQ_OP_SIGMOID, "Sigmoid", 1, 1, sigmoid),
    ROW(FGQ_OP_TANH, "Tanh", 1, 1, tanh),
    ROW(FGQ_OP_MAXPOOL, "MaxPool", 1, 1, maxpool),
    ROW(FGQ_OP_AVGPOOL, "AveragePool", 1, 1, avgpool),
    ROW(FGQ_OP_GLOBAL_AVGPOOL, "GlobalAveragePool", 1, 1, global_avgpool),
    ROW(FGQ_OP_BATCHNORM, "BatchNormalization", 5, 5, batchnorm),
    ROW(FGQ_OP_RESHAPE, "Reshape", 1, 1, reshape),
    ROW(FGQ_OP_TRANSPOSE, "Transpose", 1, 1, transpose),
    ROW(FGQ_OP_CONCAT, "Concat", 1, -1, concat),
    ROW(FGQ_OP_SOFTMAX, "Softmax", 1, 1, softmax),
    ROW(FGQ_OP_HARD_SIGMOID, "HardSigmoid", 1, 1, hard_sigmoid),
    ROW(FGQ_OP_HARD_SWISH, "HardSwish", 1, 1, hard_swish),
    ROW(FGQ_OP_ERF, "Erf", 1, 1, erf),
    ROW(FGQ_OP_GELU, "Gelu", 1, 1, gelu),
    ROW(FGQ_OP_SQRT, "Sqrt", 1, 1, sqrt),
    ROW(FGQ_OP_POW, "Pow", 2, 2, eltwise),
    ROW(FGQ_OP_REDUCE, "Reduce", 1, 1, reduce),
    ROW(FGQ_OP_LAYERNORM, "LayerNormalization", 2, 3, layernorm),
    ROW(FGQ_OP_SLICE, "Slice", 1, 1, slice),
    ROW(FGQ_OP_PAD, "Pad", 1, 1, pad),
    ROW(FGQ_OP_SPLIT, "Split", 1, 1, split),
    ROW(FGQ_OP_RESIZE, "Resize", 1, 1, resize),
    ROW(FGQ_OP_GATHER, "Gather", 2, 2, gather),
    ROW(FGQ_OP_LSTM, "LSTM", 3, 7, lstm),
    ROW(FGQ_OP_GRU, "GRU", 3, 6, gru),
    ROW(FGQ_OP_CONV_TRANSPOSE, "ConvTranspose", 2, 3, conv_transpose),
    QROW(FGQ_OP_QCONV, "QConv", 4, 5, qconv),
    QROW(FGQ_OP_QGEMM, "QGemm", 4, 5, qgemm),
    QROW(FGQ_OP_QADD, "QAdd", 2, 2, qadd),
    QROW(FGQ_OP_QMAXPOOL, "QMaxPool", 1, 1, qmaxpool),
    QROW(FGQ_OP_QAVGPOOL, "QAveragePool", 1, 1, qavgpool),
    QROW(FGQ_OP_QGLOBAL_AVGPOOL, "QGlobalAveragePool", 1, 1, qglobal_avgpool),
    QROW(FGQ_OP_QCONCAT, "QConcat", 1, FGQ_QCONCAT_MAX_INPUTS, qconcat),
    QROW(FGQ_OP_QUANTIZE, "Quantize", 1, 1, quantize),
    QROW(FGQ_OP_DEQUANTIZE, "Dequantize", 1, 1, dequantize),
    QROW(FGQ_OP_MATMUL_INT, "MatMulInt", 2, 2, matmul_int),
    QROW(FGQ_OP_CONV_INT, "ConvInt", 2, 3, conv_int),
    QROW(FGQ_OP_DYNQUANT, "DynQuantize", 1, 1, dynquant),
    QROW(FGQ_OP_QCONV_DYN, "QConvDyn", 5, 7, qconv_dyn),
    QROW(FGQ_OP_QGEMM_DYN, "QGemmDyn", 5, 7, qgemm_dyn),
};

const fgq_op_impl *fgq_op_lookup(uint32_t op)
{
    if (op >= (uint32_t)FGQ_OP_COUNT_ || fgq_op_table[op].check == NULL)
        return NULL;
    return &fgq_op_table[op];
}

const char *fgq_op_name(fgq_op op)
{
    const fgq_op_impl *impl = fgq_op_lookup((uint32_t)op);
    return impl != NULL ? impl->name : "invalid op";
}
