/*
 * op_semantics.h — ONNX attribute semantics that shape inference
 * (shape_infer.c), constant folding and lowering (lower.c) must agree on, in
 * one place: each side reads the values its own way (attributes, constant
 * inputs, folded shape values) and resolves them here.
 */
#ifndef FGQ_OP_SEMANTICS_H
#define FGQ_OP_SEMANTICS_H

#include "fgq_types.h"
#include "graph.h"

#include <stddef.h>
#include <stdint.h>

/* Slice (opsets 1..13): n entries of starts/ends (axes NULL: 0..n-1; steps
 * NULL: 1) against X of `rank` dims; writes, per dim of X, the first index
 * read, the step and the count of the output (dims not named: 0, 1, dims[i]).
 * ONNX clamping: negative starts/ends count from the end, then starts clamp to
 * [0, d] (step > 0) or [0, d−1] (step < 0), ends to [0, d] or [−1, d−1]. A
 * count of 0 leaves first at 0. Returns 0, or -1 with the reason in why. */
int fgq_onnx_slice_resolve(int32_t rank, const int64_t *dims, int32_t n, const int64_t *starts, const int64_t *ends,
                           const int64_t *axes, const int64_t *steps, int64_t *first, int64_t *step, int64_t *count,
                           char *why, size_t why_len);

/* Reduce*: 1 when the op takes its axes as input 1 at this opset (ReduceSum
 * from 13, the others from 18), 0 when as an attribute. */
int fgq_onnx_reduce_axes_are_input(const char *op_type, int64_t opset);

/* Reduce*: bit i set when X's dim i is reduced, from n axes (n 0: every dim,
 * or none when noop_with_empty_axes). Returns 0, or -1 (an axis out of range
 * or repeated) with the reason in why. */
int fgq_onnx_reduce_mask(int32_t rank, const int64_t *axes, int32_t n, int noop_empty, uint32_t *mask, char *why,
                         size_t why_len);

/* Split: the sizes of its n_out parts of a dim of size d: from `split` (n
 * values, n == n_out) when given, else equal parts (the last smaller, as
 * opset 18's num_outputs). Returns 0, or -1 with the reason in why. */
int fgq_onnx_split_sizes(int64_t d, int32_t n_out, const int64_t *split, int32_t n, int64_t *sizes, char *why,
                         size_t why_len);

/* Resize (opsets 10..19) and Upsample (7..9): the attributes as FGQ_OP_RESIZE
 * codes (mode 0 nearest / 1 linear; fgq_resize_coord; fgq_resize_nearest),
 * and the input index of scales / sizes at this opset (-1: none; Upsample 7/8
 * take scales as an attribute). Returns 0, or -1 with the reason in why
 * (cubic, tf_crop_and_resize, antialias, axes). */
int fgq_onnx_resize_attrs(const fgq_ir_node *n, int64_t opset, int32_t *mode, int32_t *coord, int32_t *nearest,
                          int32_t *scales_input, int32_t *sizes_input, char *why, size_t why_len);

/* Resize's output dims from `scales` (rank floats) or `sizes` (rank ints;
 * NULL when scales are given): floor(in·scale), or the sizes; and the scales
 * the coordinate transform uses (the given ones, or out/in for sizes). Only
 * the last two dims may change. Returns 0, or -1 with the reason in why. */
int fgq_onnx_resize_output(int32_t rank, const int64_t *dims, const float *scales, const int64_t *sizes, int64_t *out,
                           float *eff_scales, char *why, size_t why_len);

/* ConvTranspose: from node n's attributes (kernel_shape, strides, dilations,
 * pads, output_padding, auto_pad, output_shape) and X's / W's spatial dims
 * (ns of them), the output's spatial dims and the begin pads (ONNX's rules:
 * output_shape or SAME_* give the total padding, split as the spec says).
 * Returns 0, or -1 with the reason in why. */
int fgq_onnx_conv_transpose(const fgq_ir_node *n, int32_t ns, const int64_t *x_sp, const int64_t *w_sp,
                            int64_t *out_sp, int64_t *pad_begin, int64_t *stride, int64_t *dil, char *why,
                            size_t why_len);

/* Range: the element count max(ceil((limit − start) / delta), 0) for integer operands (exact, no
 * overflow for any int64 values) or f32 ones (as ONNX Runtime: limit − start in float, divided by
 * delta in double, then ceil). The values are start, start + delta, ... accumulated in the type (the
 * spec's loop). Returns 0, or -1 (delta 0; a non-finite or too large count) with the reason in why. */
int fgq_onnx_range_count_int(int64_t start, int64_t limit, int64_t delta, int64_t *n, char *why, size_t why_len);
int fgq_onnx_range_count_f32(float start, float limit, float delta, int64_t *n, char *why, size_t why_len);

/* Mod: fgq's integer a mod b (FGQ_OP_MOD: fmod_ 1 truncates, 0 floors; b 0 or -1 gives 0), the same
 * values the runtime op computes, for shape arithmetic folded at import. */
int64_t fgq_onnx_mod_int(int64_t a, int64_t b, int fmod_);

/* ScatterND: attribute reduction ("none", "add", "mul", "max", "min") as FGQ_OP_SCATTER_ND's ip[0]
 * (0..4). Returns 0, or -1 with the reason in why. */
int fgq_onnx_scatter_reduction(const fgq_ir_node *n, int32_t *code, char *why, size_t why_len);

#endif /* FGQ_OP_SEMANTICS_H */
