/* op_table.c — the op traits table (one row per fgq_op), fgq_op_lookup, fgq_op_name and fgq_op_key.
 *
 * Op selection for firmware: built with -DFGQ_OP_SELECTION='"NAME_ops.h"' (a header `fgq export --c`
 * writes: FGQ_OP_ON_<KEY> 0 or 1 for every op), the table holds only the rows of the ops the model
 * uses, so with -ffunction-sections and --gc-sections the other kernels are not linked (nor their
 * rows); loading a model that uses such an op fails as for any op this runtime does not implement,
 * naming it (fgq_op_name still knows every op). */
#include "fgq_ops.h"
#include "ops_f32.h"
#include "ops_q.h"

#include <stddef.h>

#define ROW(key_, name_, min_, max_, fn_) \
    ROW_(key_, name_, min_, max_, fgq_##fn_##_f32_check, fgq_##fn_##_f32_run, NULL)
/* Integer-only rows (ops_q.h). */
#define QROW(key_, name_, min_, max_, fn_) ROW_(key_, name_, min_, max_, fgq_##fn_##_check, fgq_##fn_##_run, NULL)
/* Rows whose run takes scratch (fgq_op_impl.scratch: fgq_<fn>_scratch). */
#define ROWS(key_, name_, min_, max_, fn_) \
    ROW_(key_, name_, min_, max_, fgq_##fn_##_f32_check, fgq_##fn_##_f32_run, fgq_##fn_##_f32_scratch)
#define QROWS(key_, name_, min_, max_, fn_) \
    ROW_(key_, name_, min_, max_, fgq_##fn_##_check, fgq_##fn_##_run, fgq_##fn_##_scratch)

/* Every op: ROW_(key, name, min inputs, max inputs, check, run, scratch), expanded below once per table. */
#define OP_ROWS                                                        \
    ROWS(CONV, "Conv", 2, 3, conv)                                     \
    ROW(GEMM, "Gemm", 2, 3, gemm)                                      \
    ROWS(MATMUL, "MatMul", 2, 2, matmul)                               \
    ROW(ADD, "Add", 2, 2, eltwise)                                     \
    ROW(SUB, "Sub", 2, 2, eltwise)                                     \
    ROW(MUL, "Mul", 2, 2, eltwise)                                     \
    ROW(DIV, "Div", 2, 2, eltwise)                                     \
    ROW(RELU, "Relu", 1, 1, relu)                                      \
    ROW(CLIP, "Clip", 1, 3, clip)                                      \
    ROW(LEAKY_RELU, "LeakyRelu", 1, 1, leaky_relu)                     \
    ROW(SIGMOID, "Sigmoid", 1, 1, sigmoid)                             \
    ROW(TANH, "Tanh", 1, 1, tanh)                                      \
    ROW(MAXPOOL, "MaxPool", 1, 1, maxpool)                             \
    ROW(AVGPOOL, "AveragePool", 1, 1, avgpool)                         \
    ROW(GLOBAL_AVGPOOL, "GlobalAveragePool", 1, 1, global_avgpool)     \
    ROW(BATCHNORM, "BatchNormalization", 5, 5, batchnorm)              \
    ROW(RESHAPE, "Reshape", 1, 1, reshape)                             \
    ROW(TRANSPOSE, "Transpose", 1, 1, transpose)                       \
    ROW(CONCAT, "Concat", 1, -1, concat)                               \
    ROW(SOFTMAX, "Softmax", 1, 1, softmax)                             \
    ROW(HARD_SIGMOID, "HardSigmoid", 1, 1, hard_sigmoid)               \
    ROW(HARD_SWISH, "HardSwish", 1, 1, hard_swish)                     \
    ROW(ERF, "Erf", 1, 1, erf)                                         \
    ROW(GELU, "Gelu", 1, 1, gelu)                                      \
    ROW(SQRT, "Sqrt", 1, 1, sqrt)                                      \
    ROW(ABS, "Abs", 1, 1, abs)                                         \
    ROW(POW, "Pow", 2, 2, eltwise)                                     \
    ROW(REDUCE, "Reduce", 1, 1, reduce)                                \
    ROW(LAYERNORM, "LayerNormalization", 2, 3, layernorm)              \
    ROW(SLICE, "Slice", 1, 1, slice)                                   \
    ROW(PAD, "Pad", 1, 1, pad)                                         \
    ROW(SPLIT, "Split", 1, 1, split)                                   \
    ROW(RESIZE, "Resize", 1, 1, resize)                                \
    ROW(GATHER, "Gather", 2, 2, gather)                                \
    ROW(LSTM, "LSTM", 3, 7, lstm)                                      \
    ROW(GRU, "GRU", 3, 6, gru)                                         \
    ROW(CONV_TRANSPOSE, "ConvTranspose", 2, 3, conv_transpose)         \
    ROW(EQUAL, "Equal", 2, 2, compare)                                 \
    ROW(LESS, "Less", 2, 2, compare)                                   \
    ROW(GREATER, "Greater", 2, 2, compare)                             \
    ROW(WHERE, "Where", 3, 3, where)                                   \
    ROW(EXPAND, "Expand", 1, 1, expand)                                \
    ROW(CAST, "Cast", 1, 1, cast)                                      \
    ROW(MOD, "Mod", 2, 2, mod)                                         \
    ROW(NOT, "Not", 1, 1, not )                                        \
    ROW(SCATTER_ND, "ScatterND", 3, 3, scatter_nd)                     \
    QROWS(QCONV, "QConv", 4, 5, qconv)                                 \
    QROWS(QGEMM, "QGemm", 4, 6, qgemm)                                 \
    QROWS(QADD, "QAdd", 2, 2, qadd)                                    \
    QROW(QMAXPOOL, "QMaxPool", 1, 1, qmaxpool)                         \
    QROW(QAVGPOOL, "QAveragePool", 1, 1, qavgpool)                     \
    QROW(QGLOBAL_AVGPOOL, "QGlobalAveragePool", 1, 1, qglobal_avgpool) \
    QROW(QCONCAT, "QConcat", 1, FGQ_QCONCAT_MAX_INPUTS, qconcat)       \
    QROW(QUANTIZE, "Quantize", 1, 1, quantize)                         \
    QROW(DEQUANTIZE, "Dequantize", 1, 1, dequantize)                   \
    QROW(MATMUL_INT, "MatMulInt", 2, 2, matmul_int)                    \
    QROW(CONV_INT, "ConvInt", 2, 3, conv_int)                          \
    QROW(DYNQUANT, "DynQuantize", 1, 1, dynquant)                      \
    QROWS(QCONV_DYN, "QConvDyn", 5, 7, qconv_dyn)                      \
    QROWS(QGEMM_DYN, "QGemmDyn", 5, 8, qgemm_dyn)                      \
    QROW(QLUT, "QLut", 2, 2, qlut)                                     \
    QROW(QMUL, "QMul", 2, 2, qmul)

#ifndef FGQ_OP_SELECTION
/* Every op, indexed by fgq_op. */
#define ROW_(key_, name_, min_, max_, check_, run_, scratch_) \
    [FGQ_OP_##key_] = { name_, #key_, min_, max_, check_, run_, scratch_ },
static const fgq_op_impl fgq_op_table[FGQ_OP_COUNT_] = { OP_ROWS };
#undef ROW_

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

#else
/* A firmware's table: only the selected ops' rows, in a dense array searched by op (a model has a few
 * ops; ~6 on the MLPerf Tiny models), and a sentinel row so that an empty selection still compiles.
 * The names and keys of all ops sit in arrays of their own, linked only where fgq_op_name (messages)
 * or fgq_op_key is called. */
#include FGQ_OP_SELECTION
#define SEL_(on_, ...) SEL__(on_, __VA_ARGS__)
#define SEL__(on_, ...) SEL_##on_(__VA_ARGS__) /* SEL_FGQ_OP_ON_X undefined: the header lacks op X */
#define SEL_0(...)

/* Each name and key a const array of its own (not a literal: literals share one section per file, which
 * --gc-sections keeps whole), so that only those referenced are linked. */
#define ROW_(key_, name_, ...) static const char op_name_##key_[] = name_, op_key_##key_[] = #key_;
OP_ROWS
#undef ROW_

#define ROW_(key_, ...) SEL_(FGQ_OP_ON_##key_, key_, __VA_ARGS__)
#define SEL_1(key_, name_, min_, max_, check_, run_, scratch_) \
    { op_name_##key_, op_key_##key_, min_, max_, check_, run_, scratch_ },
static const fgq_op_impl fgq_op_table[] = { OP_ROWS { NULL, NULL, 0, 0, NULL, NULL, NULL } };
#undef SEL_1
#define SEL_1(key_, ...) (uint8_t)FGQ_OP_##key_,
static const uint8_t fgq_op_table_op[] = { OP_ROWS (uint8_t)FGQ_OP_INVALID };
#undef SEL_1
#undef ROW_
_Static_assert(FGQ_OP_COUNT_ <= 256, "fgq_op_table_op holds ops in bytes");

#define ROW_(key_, ...) [FGQ_OP_##key_] = op_name_##key_,
static const char *const fgq_op_names[FGQ_OP_COUNT_] = { OP_ROWS };
#undef ROW_
#define ROW_(key_, ...) [FGQ_OP_##key_] = op_key_##key_,
static const char *const fgq_op_keys[FGQ_OP_COUNT_] = { OP_ROWS };
#undef ROW_

const fgq_op_impl *fgq_op_lookup(uint32_t op)
{
    if (op == FGQ_OP_INVALID || op >= (uint32_t)FGQ_OP_COUNT_)
        return NULL;
    for (size_t i = 0; fgq_op_table[i].check != NULL; i++)
        if (fgq_op_table_op[i] == op)
            return &fgq_op_table[i];
    return NULL;
}

const char *fgq_op_name(fgq_op op)
{
    if ((uint32_t)op >= (uint32_t)FGQ_OP_COUNT_ || fgq_op_names[op] == NULL)
        return "invalid op";
    return fgq_op_names[op];
}

const char *fgq_op_key(fgq_op op)
{
    if ((uint32_t)op >= (uint32_t)FGQ_OP_COUNT_)
        return NULL;
    return fgq_op_keys[op];
}
#endif
