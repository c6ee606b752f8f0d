/*
 * lower_onnxq.h — lowering of ONNX's quantized operators (tools/lower_onnxq.c),
 * called from lower.c's fgq_lower_node for the rows of import/onnx_ops.h that name lower_onnxq_op.
 *
 * fgq quantizes with constant scales and zero points: every scale and zero
 * point input must be a constant (initializer), per tensor (one value, or a
 * per-axis tensor whose values are all equal); the data operands (x, and the
 * weight / B operands) may be constants or run-time tensors.
 *
 *   QuantizeLinear    -> QUANTIZE (half to even, ONNX's rounding)
 *   DequantizeLinear  -> DEQUANTIZE (u8, s8, s32 input)
 *   MatMulInteger     -> MATMUL_INT, s32 output
 *   ConvInteger       -> CONV_INT, s32 output
 *   QLinearMatMul     -> MATMUL_INT with (mult, shift) = fgq_quantize_multiplier(s_a·s_b / s_y)
 *   QLinearConv       -> CONV_INT likewise, bias B (s32) kept as input
 *   DynamicQuantizeLinear -> DYNQUANT (runtime/ops/qdyn.c), all three outputs
 * The integer ops take arbitrary zero points for both operands, so u8 weights
 * with any zero point are taken as they are (QCONV/QGEMM would need s8 codes
 * w − z_w with z_w = 0 and a converted constant, which lowering a const graph
 * cannot create).
 *
 * g == NULL: attribute-only support check (fgq_lower_supports). `spatial` is
 * lower.c's spatial-block lowering, called with a node whose inputs are
 * (X, W) so that it takes the kernel from W.
 */
#ifndef FGQ_LOWER_ONNXQ_H
#define FGQ_LOWER_ONNXQ_H

#include "lower/lower.h"

typedef fgq_status (*fgq_lower_spatial_fn)(const fgq_graph *g, const fgq_ir_node *n, int is_conv,
                                           fgq_lowered_node *out, fgq_error *err);

/* Fills out (op, params, inputs, outputs). */
fgq_status fgq_lower_onnxq(const fgq_graph *g, const fgq_ir_node *n, fgq_lower_spatial_fn spatial,
                           fgq_lowered_node *out, fgq_error *err);

#endif /* FGQ_LOWER_ONNXQ_H */
