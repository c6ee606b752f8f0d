/*
 * passes.h — graph -> graph rewrites on the IR (graph.h), all in place.
 *
 * Preconditions: topological order and static shapes (after fgq_infer_shapes).
 * Each pass keeps them: nodes stay in topological order, every tensor a node
 * still uses keeps its dtype and dims, and graph input / output names (and
 * their order) never change. Passes only touch nodes of the default ONNX
 * domain. Tensor and node indices are NOT stable across a pass: every pass
 * ends by compacting away dead nodes and tensors no node, graph input or
 * graph output refers to.
 *
 *   drop_identity      Identity / Dropout (inference): consumers read the
 *                      input directly; when the output is a graph output the
 *                      producer is renamed to write it, or the node is kept
 *                      (lowered as a copy) when that is impossible.
 *   fold_constants     nodes whose inputs are all constant are evaluated now:
 *                      Constant, Shape (of any static tensor), Gather,
 *                      Unsqueeze, Squeeze, Concat, Cast (as the runtime's:
 *                      saturating; to float16 left to the runtime), Reshape,
 *                      Flatten, Slice, Identity, ConstantOfShape, Equal,
 *                      Where, Expand, Add/Sub/Mul/Div (numpy broadcasting;
 *                      f32, s32, s64), Range (up to 2^24 elements: the
 *                      runtime cannot run it), and Mod, Not, ScatterND and
 *                      Transpose of integer / bool tensors (by the runtime's
 *                      own kernels, so bit for bit what it would compute;
 *                      a float Transpose stays a node). An output of more than 2^16 elements
 *                      larger than the distinct constants it comes from
 *                      (broadcasting, one tensor concatenated many times,
 *                      repeated Gather indices, Expand / Where / Equal) is
 *                      not folded where the runtime can compute it (float
 *                      Add..Div, Equal / Where / Expand, Concat, Gather), so
 *                      the model does not grow; integer Add..Div and
 *                      ConstantOfShape, which it cannot, fold up to 2^24.
 *   fold_batchnorm     BatchNormalization after Conv (W' = W·γ/√(σ²+ε),
 *                      b' = (b − μ)·γ/√(σ²+ε) + β per output channel) or Gemm
 *                      (columns of B', transB-aware; C folded likewise, beta
 *                      becomes 1), when the producer's output has no other
 *                      consumer and is not a graph output. New weights are new
 *                      tensors, so shared weights stay intact.
 *   fuse_activations   Relu / Clip (constant bounds; attributes before opset
 *                      11) into the producing Conv / Gemm / MatMul / Add under
 *                      the same single-consumer rule. Marked on the producer as
 *                      attributes FGQ_ATTR_ACT (int fgq_act) and, for clip,
 *                      FGQ_ATTR_ACT_MIN / FGQ_ATTR_ACT_MAX (floats); the
 *                      lowering (lower.h) reads them.
 *
 * Errors: FGQ_ERR_NOMEM; FGQ_ERR_VALUE / FGQ_ERR_SHAPE when constant folding
 * meets an out-of-range index, integer division by zero or mismatched shapes
 * (the message names the node).
 */
#ifndef FGQ_PASSES_H
#define FGQ_PASSES_H

#include "graph.h"

#define FGQ_ATTR_ACT "fgq_act"
#define FGQ_ATTR_ACT_MIN "fgq_act_min"
#define FGQ_ATTR_ACT_MAX "fgq_act_max"

fgq_status fgq_pass_drop_identity(fgq_graph *g, fgq_error *err);
fgq_status fgq_pass_fold_constants(fgq_graph *g, fgq_error *err);
fgq_status fgq_pass_fold_batchnorm(fgq_graph *g, fgq_error *err);
fgq_status fgq_pass_fuse_activations(fgq_graph *g, fgq_error *err);

/* Removes nodes flagged in dead[n_nodes] (may be NULL), then every tensor no
 * remaining node, graph input or graph output refers to; re-indexes all
 * references and recomputes producers. */
fgq_status fgq_graph_compact(fgq_graph *g, const uint8_t *dead, fgq_error *err);

/* FGQ_ERR_VALUE when a float constant some node reads (a weight, a bias, a
 * scale) holds NaN, naming the file, the node, the tensor and the element:
 * every output it reaches would be NaN. ±Inf is allowed (attention masks use
 * it). Import does not refuse such a model (inspect describes it); everything
 * that runs it calls this first. */
fgq_status fgq_graph_refuse_nan(const fgq_graph *g, fgq_error *err);

/* LSTM / GRU keep their state in their outputs (runtime/ops/rnn_f32.c): an
 * omitted Y, Y_h or Y_c becomes a tensor "<node>/stateK" (shapes from the
 * next fgq_infer_shapes). */
fgq_status fgq_pass_rnn_state_outputs(fgq_graph *g, fgq_error *err);

/* Pow with a constant integer exponent (x ** 2 as some exporters write it):
 * the exponent becomes an f32 constant, which the runtime's Pow takes. */
fgq_status fgq_pass_pow_float_exponent(fgq_graph *g, fgq_error *err);

/* All of the above in order: rnn_state_outputs, pow_float_exponent,
 * drop_identity, fold_constants, fold_batchnorm, fuse_activations. */
fgq_status fgq_graph_optimize(fgq_graph *g, fgq_error *err);

#endif /* FGQ_PASSES_H */
