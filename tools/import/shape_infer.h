/*
 * shape_infer.h — static shapes and dtypes for every tensor of an imported
 * graph, plus per-node cost figures and the table of ops fgq claims.
 *
 * fgq_infer_shapes walks the nodes in (topological) order and sets dtype, rank
 * and dims of each node output from its inputs and attributes. It evaluates
 * small int64 shape computations (Shape of a static tensor, then Gather /
 * Concat / Unsqueeze / Squeeze / Cast / Constant on such values) so that a
 * Reshape whose shape an exporter computed at run time still gets a static
 * output. The graph is otherwise unchanged: nothing is folded or removed.
 *
 * An op it does not know leaves its outputs unknown (rank -1), and so do the
 * ops downstream of them: that is not an error (fgq inspect lists them).
 * Shapes that cannot fit (Conv channel mismatch, Gemm/MatMul K mismatch,
 * Reshape element count, broadcast failure, out-of-range axes) fail with
 * FGQ_ERR_SHAPE naming the node, expected vs got; so does an input, constant
 * or inferred output over FGQ_IR_MAX_ELEMS elements (graph.h). Existing dims of graph inputs
 * and constants are kept; intermediate shapes are always recomputed.
 */
#ifndef FGQ_SHAPE_INFER_H
#define FGQ_SHAPE_INFER_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

fgq_status fgq_infer_shapes(fgq_graph *g, fgq_error *err);

/* Cost of node `node` (after shape inference):
 *   params: elements of its inputs that are FGQ_TK_CONST (weights, biases, BN
 *           statistics, constant shapes); a Constant node's own value is not
 *           an input and counts 0;
 *   macs:   multiply-accumulates. Conv / ConvInteger / QLinearConv:
 *           N·C_out·spatial_out·(C_in/group)·kernel_elems;
 *           Gemm / MatMul / MatMulInteger / QLinearMatMul: batch·M·N·K;
 *           every other op 0 (elementwise work is not counted), and 0 while
 *           shapes are unknown. Either pointer may be NULL. */
void fgq_node_stats(const fgq_graph *g, int32_t node, int64_t *params, int64_t *macs);

/* 1 if fgq claims op_type in domain ("" / "ai.onnx" / NULL is the default
 * domain): a row of the op table (import/onnx_ops.h), which shape inference
 * and lowering read too. The FGQ_ONNX_FOLD_ONLY rows are claimed only where
 * they fold to constants; fgq_node_is_supported checks that per node. */
int fgq_op_is_supported(const char *op_type, const char *domain);

/* fgq_op_is_supported for this node, and for the fold-only ops also that
 * the node folds to a constant (its value depends only on constants and on
 * static shapes). */
int fgq_node_is_supported(const fgq_graph *g, int32_t node);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_SHAPE_INFER_H */
