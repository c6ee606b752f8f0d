/*
 * export_onnx.h — a loaded .fgq model written back as an ONNX model that an
 * independent runtime (ONNX Runtime) can run: float ops as their ONNX ops,
 * integer-only ops in QuantizeLinear/DequantizeLinear (QDQ) form (DESIGN §4;
 * the mapping per op is in docs/quantized-ops.md, "QDQ export").
 *
 * Opset: ai.onnx 21 (blocked DequantizeLinear for group scales, INT4 weight
 * codes), IR version 10. Graph inputs and outputs keep their names, dtypes and
 * shapes; every other fgq tensor keeps its name too (u8/s8 activations as the
 * QuantizeLinear outputs). Names the export adds are "<fgq node>/<what>"; a
 * clash with an existing name is FGQ_ERR_UNSUPPORTED.
 *
 * Scales: activation scales come from the tensors' qparams (a quantized
 * activation without one is FGQ_ERR_UNSUPPORTED); a QCONV/QGEMM weight's
 * per-channel s_m from W's qparams, or from REQ (s_m = real·s_y / s_x) when W
 * has none; REQ is otherwise only a cross-check (relative 1e-3, else
 * FGQ_ERR_FORMAT naming the node and row).
 *
 * Memory: *out is malloc'd (caller frees) only on FGQ_OK; *out is NULL and
 * *out_size 0 otherwise. No global state.
 */
#ifndef FGQ_EXPORT_ONNX_H
#define FGQ_EXPORT_ONNX_H

#include "fgq_runtime.h"

#include <stddef.h>
#include <stdint.h>

#define FGQ_EXPORT_ONNX_OPSET 21
#define FGQ_EXPORT_ONNX_IR_VERSION 10

fgq_status fgq_export_onnx(const fgq_model *m, uint8_t **out, size_t *out_size, fgq_error *err);

#endif /* FGQ_EXPORT_ONNX_H */
