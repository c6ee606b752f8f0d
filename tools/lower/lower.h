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
/* = FGQ_MAX_NODE_OUTPUTS (fgq_runtime.h). ONNX ops lower to one output; a
 * pre-lowered node may have more (DYNQUANT: Y, Y_SCALE, Y_ZERO). */
#define FGQ_LOWER_MAX_OUTPUTS 16

typedef struct {
    fgq_op op;
    int32_t n_inputs;
    int32_t inputs[FGQ_LOWER_MAX_INPUTS];
    int32_t n_outputs;
    int32_t outputs[FGQ_LOWER_MAX_OUTPUTS];
    int32_t iparams[FGQ_NODE_MAX_IPARAMS];
    float fparams[FGQ_NODE_MAX_FPARAMS];
} fgq_lowered_node;

fgq_status fgq_lower_node(const fgq_graph *g, int32_t node, fgq_lowered_node *out, fgq_error *err);
/* 1 if Dropout node n computes the identity: no training_mode attribute or
 * input, or a constant false one, or (opset >= 12) a constant ratio of 0, which
 * drops nothing and scales by 1/(1 - 0) in training mode too (torch writes Swin's
 * attention dropout so). g may be NULL (then an input counts as training). */
int fgq_dropout_is_inference(const fgq_graph *g, const fgq_ir_node *n);
int fgq_lower_supports(const fgq_ir_node *n, char *why, size_t why_len);

/* Pre-lowered nodes (tools/lower_q.c): a node of domain FGQ_DOMAIN carries its
 * runtime op and parameters as attributes (INT FGQ_ATTR_OP, INTS
 * FGQ_ATTR_IPARAMS of at most FGQ_NODE_MAX_IPARAMS, FLOATS FGQ_ATTR_FPARAMS
 * of at most FGQ_NODE_MAX_FPARAMS) and keeps all of its inputs in order (-1 =
 * omitted) and all of its outputs (1..FGQ_LOWER_MAX_OUTPUTS, each present).
 * The quantizer (quantize.h) builds its integer ops this way;
 * fgq_lower_node passes them through unchanged. */
#define FGQ_DOMAIN "fgq"
#define FGQ_ATTR_OP "fgq_op"
#define FGQ_ATTR_IPARAMS "fgq_iparams"
#define FGQ_ATTR_FPARAMS "fgq_fparams"
fgq_status fgq_lower_prelowered(const fgq_ir_node *n, fgq_lowered_node *out, fgq_error *err);
/* Marks node n as pre-lowered: domain FGQ_DOMAIN and the three attributes
 * (ip: FGQ_NODE_MAX_IPARAMS values, fp: FGQ_NODE_MAX_FPARAMS). FGQ_ERR_NOMEM. */
fgq_status fgq_node_set_prelowered(fgq_ir_node *n, fgq_op op, const int32_t *ip, const float *fp, fgq_error *err);

#endif /* FGQ_LOWER_H */
