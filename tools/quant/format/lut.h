/*
 * lut.h — the 256-entry tables of QLUT (runtime/ops/qlut.c): an element-wise function f of a
 * per-tensor quantized u8|s8 activation X as codes of a per-tensor quantized Y
 * (docs/quantized-ops.md "QLUT"). For every code q of X's dtype (u8 0..255, s8 −128..127):
 *     table[q (+128 for s8)] = clamp(round(f(s_x·(q − z_x)) / s_y) + z_y, qmin, qmax)
 * in double, round = halves away from zero (QUANTIZE's default), f one of fgq_lut_fn
 * (fgq_ops.h; alpha, beta: HardSigmoid's).
 */
#ifndef FGQ_QUANT_LUT_H
#define FGQ_QUANT_LUT_H

#include "fgq_ops.h"
#include "quant/affine.h"

#include <stdint.h>

/* "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Swish" (x·Sigmoid(x)), "table" (FGQ_LUT_TABLE or unknown). */
const char *fgq_lut_fn_name(int32_t fn);

/* f(x) in double: Sigmoid, HardSigmoid(alpha, beta), HardSwish, Tanh, Swish; NAN for FGQ_LUT_TABLE or an
 * unknown fn. */
double fgq_lut_eval(fgq_lut_fn fn, double alpha, double beta, double x);

/* Fills table[256] (bytes of y_dt: u8, or s8 two's complement) for X of dtype x_dt with params x and
 * Y of dtype y_dt with params y (y->qmin..y->qmax the clamp, inside y_dt's range). FGQ_ERR_VALUE for
 * a dtype other than u8/s8, a non-positive or non-finite scale, an unknown fn. */
fgq_status fgq_lut_build(fgq_lut_fn fn, float alpha, float beta, fgq_dtype x_dt, const fgq_affine_params *x,
                         fgq_dtype y_dt, const fgq_affine_params *y, uint8_t table[256], fgq_error *err);

#endif /* FGQ_QUANT_LUT_H */
