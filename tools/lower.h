/*
 * lower.h — maps one IR node (ONNX op + attributes) to a runtime op with its
 * iparams / fparams filled as runtime/fgq_ops.h lays them out.
 *
 * Inputs of the lowered node are IR tensor indices (-1 = omitted optional
 * input); shape-carrying constant inputs (Reshape's shape, Clip's bounds,
 * Squeeze/Unsqueeze axes) are dropped because the runtime reads shapes from
 * the tensors. Outputs are the node's first output only; a second output that
 * anything reads (MaxPool Indices, BatchNorm training stats, Dropout mask) is
 * unsupported. Fused activations set by passes.h (FGQ_ATTR_ACT...) are honoured.
 *
 * fgq_lower_node needs static shapes (auto_pad, negative axes) and fails with
 * FGQ_ERR_UNSUPPORTED naming the node, the op and the attribute when fgq has
 * no lowering; FGQ_ERR_SHAPE when shapes are missing or do not fit.
 * fgq_lower_supports answers the same question from the node alone (no shape
 * checks): 1 if supported, else 0 with the reason in `why`.
 */
#ifndef FGQ_LOWER_H
#define FGQ_LOWER_H

#include "fgq_format.h"
#include "fgq_ops.h"
#include "graph.h"

#include <stddef.h>

#define FGQ_LOWER_MAX_INPUTS 32

typedef struct {
    fgq_op op;
    int32_t n_inputs;
    int32_t inputs[FGQ_LOWER_MAX_INPUTS];
    int32_t n_outputs;
    int32_t outputs[1];
    int32_t iparams[FGQ_NODE_MAX_IPARAMS];
    float fparams[FGQ_NODE_MAX_FPARAMS];
} fgq_lowered_node;

fgq_status fgq_lower_node(const fgq_graph *g, int32_t node, fgq_lowered_node *out, fgq_error *err);
/* 1 if Dropout node n computes the identity: no training_mode attribute or
 * input, or a constant false one. g may be NULL (then an input counts as training). */
int fgq_dropout_is_inference(const fgq_graph *g, const fgq_ir_node *n);
int fgq_lower_supports(const fgq_ir_node *n, char *why, size_t why_len);

#endif /* FGQ_LOWER_H */
