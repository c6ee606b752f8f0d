/* onnx_ops.c — the op table's names and flags, and the ONNX data-type table. */
#include "import/onnx_ops.h"

#include <string.h>

static const fgq_onnx_op onnx_ops[] = {
#define X(op_, infer_, lower_, flags_) {#op_, flags_, #infer_, #lower_},
    FGQ_ONNX_OPS(X)
#undef X
};

int32_t fgq_onnx_op_count(void)
{
    return (int32_t)(sizeof onnx_ops / sizeof onnx_ops[0]);
}

const fgq_onnx_op *fgq_onnx_op_at(int32_t i)
{
    return i >= 0 && i < fgq_onnx_op_count() ? &onnx_ops[i] : NULL;
}

int32_t fgq_onnx_op_index(const char *op_type, const char *domain)
{
    if (op_type == NULL || !fgq_domain_is_default(domain))
        return -1;
    for (int32_t i = 0; i < fgq_onnx_op_count(); i++)
        if (strcmp(op_type, onnx_ops[i].name) == 0)
            return i;
    return -1;
}

/* ---- data types ------------------------------------------------------------------------------ */

/* Indexed by TensorProto.DataType. `as` is what fgq imports the type as, `exact` the fgq dtype that is
 * the same type (they differ for float16 only), `size` the bytes per element of the types fgq can
 * import (0: refused). */
static const struct {
    const char *name;
    uint8_t size;
    uint8_t as;    /* fgq_dtype */
    uint8_t exact; /* fgq_dtype */
} onnx_types[] = {
    [0] = {"undefined", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [1] = {"float", 4, FGQ_DT_F32, FGQ_DT_F32},
    [2] = {"uint8", 1, FGQ_DT_U8, FGQ_DT_U8},
    [3] = {"int8", 1, FGQ_DT_S8, FGQ_DT_S8},
    [4] = {"uint16", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [5] = {"int16", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [6] = {"int32", 4, FGQ_DT_S32, FGQ_DT_S32},
    [7] = {"int64", 8, FGQ_DT_S64, FGQ_DT_S64},
    [8] = {"string", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [9] = {"bool", 1, FGQ_DT_BOOL, FGQ_DT_BOOL},
    [10] = {"float16", 2, FGQ_DT_F32, FGQ_DT_F16},    /* imported as float32 (fgq_graph.n_f16) */
    [11] = {"double", 8, FGQ_DT_UNDEF, FGQ_DT_UNDEF}, /* initializers only, converted to f32 */
    [12] = {"uint32", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [13] = {"uint64", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [14] = {"complex64", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [15] = {"complex128", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [16] = {"bfloat16", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [17] = {"float8e4m3fn", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [18] = {"float8e4m3fnuz", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [19] = {"float8e5m2", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [20] = {"float8e5m2fnuz", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [21] = {"uint4", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [22] = {"int4", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [23] = {"float4e2m1", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
    [24] = {"float8e8m0", 0, FGQ_DT_UNDEF, FGQ_DT_UNDEF},
};

static int known_type(int32_t t)
{
    return t >= 0 && t < (int32_t)(sizeof onnx_types / sizeof onnx_types[0]);
}

fgq_dtype fgq_onnx_dtype(int32_t onnx_type)
{
    return known_type(onnx_type) ? (fgq_dtype)onnx_types[onnx_type].as : FGQ_DT_UNDEF;
}

int32_t fgq_onnx_type_of(fgq_dtype dt)
{
    if (dt == FGQ_DT_UNDEF)
        return 0;
    for (int32_t t = 0; known_type(t); t++)
        if (onnx_types[t].exact == (uint8_t)dt)
            return t;
    return 0;
}

const char *fgq_onnx_type_name(int32_t onnx_type)
{
    return known_type(onnx_type) ? onnx_types[onnx_type].name : NULL;
}

size_t fgq_onnx_type_size(int32_t onnx_type)
{
    return known_type(onnx_type) ? onnx_types[onnx_type].size : 0;
}
