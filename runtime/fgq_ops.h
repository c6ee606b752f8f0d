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
    FGQ_OP_COUNT_
} fgq_op;

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

const char *fgq_op_name(fgq_op op);

/* What an op kernel sees: views into the arena / the model blob. */
typedef struct {
    fgq_dtype dtype;
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];
    void *data;            /* const tensors point into the read-only model: do not write */
} fgq_tensor_view;

typedef struct {
    const char *name;      /* not NUL-terminated: name_len bytes */
    uint32_t name_len;
    fgq_op op;
    int32_t n_inputs, n_outputs;
    const int32_t *iparams; /* FGQ_NODE_MAX_IPARAMS */
    const float *fparams;   /* FGQ_NODE_MAX_FPARAMS */
} fgq_node_view;

/* One row per op (ggml-style traits): `check` validates params, dtypes and that
 * the output shapes follow from the input shapes, at load time (data pointers
 * are NULL then); `run` computes. Omitted optional inputs are NULL. Neither
 * allocates. Table in runtime/ops/op_table.c, indexed by fgq_op. */
typedef struct {
    const char *name;
    int32_t min_inputs, max_inputs; /* max -1: unbounded (Concat) */
    fgq_status (*check)(const fgq_node_view *node, const fgq_tensor_view *const *in,
                        const fgq_tensor_view *const *out, fgq_error *err);
    fgq_status (*run)(const fgq_node_view *node, const fgq_tensor_view *const *in,
                      const fgq_tensor_view *const *out, fgq_error *err);
} fgq_op_impl;

/* Row for `op`, or NULL when op is out of range or not implemented. */
const fgq_op_impl *fgq_op_lookup(uint32_t op);

#endif /* FGQ_OPS_H */
