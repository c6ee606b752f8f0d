/*
 * reduce_f32.c — reductions and LayerNormalization, float32.
 *
 *   Reduce:    ip[0] = kind (fgq_reduce), ip[1] = bit mask of X's reduced
 *              dims. Y holds one value per combination of the kept dims, in
 *              X's order; whether Y keeps the reduced dims as 1 (keepdims) or
 *              drops them does not change that layout, so Y's dims are only
 *              checked for their product and, kept or dropped, for the kept
 *              sizes. Each output sums (or takes the max/min) in double.
 *              ONNX on an empty reduced set: sum, sum-square and L2 0, mean NaN,
 *              max −inf, min +inf (the identity of the operation).
 *   LayerNorm: X [outer, D] viewed at ip[0] = axis, per row
 *              y = (x − mean)/sqrt(var + eps)·SCALE + B, mean and variance
 *              (1/D, as ONNX) in double; SCALE and B have D elements (X's
 *              trailing dims) or one. Optional outputs 1 and 2: the rows'
 *              mean and 1/sqrt(var + eps).
 * Out never aliases X (the planner gives every output its own slot).
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>

fgq_status fgq_reduce_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t kind = node->iparams[0];
    const uint32_t mask = (uint32_t)node->iparams[1];
    if (kind < FGQ_REDUCE_MEAN || kind > FGQ_REDUCE_SUM_SQUARE)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "reduction kind %d, expected 0..5", FGQ_NODE_ARGS(node),
                        (int)kind);
    if (x->rank < 32 && (mask >> x->rank) != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axes mask 0x%x names dims past X's rank %d",
                        FGQ_NODE_ARGS(node), (unsigned)mask, (int)x->rank);
    /* Y: X's dims with the reduced ones 1 (keepdims) or gone */
    int64_t keep[FGQ_MAX_DIMS], kept[FGQ_MAX_DIMS];
    int32_t nk = 0;
    for (int32_t i = 0; i < x->rank; i++) {
        const int red = (mask >> i) & 1u;
        keep[i] = red ? 1 : x->dims[i];
        if (!red)
            kept[nk++] = x->dims[i];
    }
    if (y->rank == x->rank)
        return fgq_ops_check_out_dims(node, y, x->rank, keep, err);
    return fgq_ops_check_out_dims(node, y, nk, kept, err);
}

fgq_status fgq_reduce_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    const float *xd = (const float *)x->data;
    float *yd = (float *)out[0]->data;
    const int32_t kind = node->iparams[0];
    const uint32_t mask = (uint32_t)node->iparams[1];
    /* kept dims (outer odometer) and reduced dims (inner odometer), with X's strides */
    int64_t kd[FGQ_MAX_DIMS], ks[FGQ_MAX_DIMS], rd[FGQ_MAX_DIMS], rs[FGQ_MAX_DIMS], stride = 1;
    int32_t nk = 0, nr = 0;
    for (int32_t i = x->rank - 1; i >= 0; i--) {
        if ((mask >> i) & 1u) {
            rd[nr] = x->dims[i];
            rs[nr++] = stride;
        } else {
            kd[nk] = x->dims[i];
            ks[nk++] = stride;
        }
        stride *= x->dims[i];
    }
    /* rd/rs, kd/ks run innermost first; the innermost reduced dim is a linear loop */
    int64_t n_red = 1, n_out = 1;
    for (int32_t j = 0; j < nr; j++)
        n_red *= rd[j];
    for (int32_t j = 0; j < nk; j++)
        n_out *= kd[j];
    const int64_t len = nr > 0 ? rd[0] : 1, step = nr > 0 ? rs[0] : 1;
    int64_t ko[FGQ_MAX_DIMS] = { 0 };
    int64_t base = 0;
    for (int64_t o = 0; o < n_out; o++) {
        double acc = kind == FGQ_REDUCE_MAX ? -INFINITY : kind == FGQ_REDUCE_MIN ? INFINITY : 0.0;
        if (n_red > 0) {
            int64_t ro[FGQ_MAX_DIMS] = { 0 };
            int64_t off = base;
            for (int64_t r = 0; r < n_red; r += len) {
                const float *p = xd + off;
                switch (kind) {
                case FGQ_REDUCE_MAX:
                    for (int64_t i = 0; i < len; i++)
                        acc = p[i * step] > acc || isnan(p[i * step]) ? p[i * step] : acc;
                    break;
                case FGQ_REDUCE_MIN:
                    for (int64_t i = 0; i < len; i++)
                        acc = p[i * step] < acc || isnan(p[i * step]) ? p[i * step] : acc;
                    break;
                case FGQ_REDUCE_L2:
                case FGQ_REDUCE_SUM_SQUARE:
                    for (int64_t i = 0; i < len; i++)
                        acc += (double)p[i * step] * (double)p[i * step];
                    break;
                default:
                    for (int64_t i = 0; i < len; i++)
                        acc += p[i * step];
                    break;
                }
                for (int32_t j = 1; j < nr; j++) { /* next row of the reduced dims */
                    off += rs[j];
                    if (++ro[j] < rd[j])
                        break;
                    off -= rs[j] * rd[j];
                    ro[j] = 0;
                }
            }
        }
        if (kind == FGQ_REDUCE_MEAN)
            acc = n_red > 0 ? acc / (double)n_red : NAN;
        else if (kind == FGQ_REDUCE_L2)
            acc = sqrt(acc);
        yd[o] = (float)acc;
        for (int32_t j = 0; j < nk; j++) { /* next output: the kept dims' odometer */
            base += ks[j];
            if (++ko[j] < kd[j])
                break;
            base -= ks[j] * kd[j];
            ko[j] = 0;
        }
    }
    return FGQ_OK;
}

fgq_status fgq_layernorm_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                   const fgq_tensor_view *const *out, fgq_error *err)
{
    /* Y through the common frame; MEAN and INV_STD_DEV (optional outputs) below */
    fgq_node_view one = *node;
    one.n_outputs = node->n_outputs >= 1 ? 1 : node->n_outputs;
    if (node->n_outputs > 3)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d outputs, expected 1..3", FGQ_NODE_ARGS(node),
                        (int)node->n_outputs);
    fgq_status st = fgq_ops_check_io(&one, in, out, 2, 3, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    const int32_t axis = node->iparams[0];
    if (x->rank < 1 || axis < 0 || axis >= x->rank)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axis %d, expected 0..%d", FGQ_NODE_ARGS(node), (int)axis,
                        (int)x->rank - 1);
    if (!(node->fparams[0] >= 0.0f) || !isfinite(node->fparams[0]))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "epsilon %g must be finite and >= 0", FGQ_NODE_ARGS(node),
                        (double)node->fparams[0]);
    const int64_t d = fgq_ops_dims_prod(x->dims, axis, x->rank);
    for (int32_t k = 1; k < node->n_inputs; k++)
        if (in[k] != NULL && fgq_ops_numel(in[k]) != d && fgq_ops_numel(in[k]) != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%s has %lld elements, expected %lld (X's dims from "
                            "axis %d) or 1", FGQ_NODE_ARGS(node), k == 1 ? "scale" : "bias",
                            (long long)fgq_ops_numel(in[k]), (long long)d, (int)axis);
    int64_t sdims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < x->rank; i++)
        sdims[i] = i < axis ? x->dims[i] : 1;
    for (int32_t k = 1; k < node->n_outputs; k++) {
        if (out[k] == NULL)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "output %d is missing", FGQ_NODE_ARGS(node), (int)k);
        if ((st = fgq_ops_check_tensor(node, out[k], "output", k, err)) != FGQ_OK ||
            (st = fgq_ops_check_out_dims(node, out[k], x->rank, sdims, err)) != FGQ_OK)
            return st;
        if (out[k]->dtype != FGQ_DT_F32)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "output %d has dtype %s, expected f32",
                            FGQ_NODE_ARGS(node), (int)k, fgq_dtype_name(out[k]->dtype));
    }
    return fgq_ops_check_out_dims(node, out[0], x->rank, x->dims, err);
}

fgq_status fgq_layernorm_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    const int32_t axis = node->iparams[0];
    const int64_t d = fgq_ops_dims_prod(x->dims, axis, x->rank), outer = fgq_ops_dims_prod(x->dims, 0, axis);
    const float *xd = (const float *)x->data, *sc = (const float *)in[1]->data;
    const float *b = node->n_inputs > 2 && in[2] != NULL ? (const float *)in[2]->data : NULL;
    const int64_t ss = fgq_ops_numel(in[1]) == 1 ? 0 : 1, bs = b != NULL && fgq_ops_numel(in[2]) == 1 ? 0 : 1;
    float *yd = (float *)out[0]->data;
    for (int64_t r = 0; r < outer; r++) {
        const float *xr = xd + r * d;
        float *yr = yd + r * d;
        double s = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < d; i++)
            s += xr[i];
        const double mean = d > 0 ? s / (double)d : 0.0;
        for (int64_t i = 0; i < d; i++)
            s2 += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        const double inv = 1.0 / sqrt((d > 0 ? s2 / (double)d : 0.0) + (double)node->fparams[0]);
        if (node->n_outputs > 1)
            ((float *)out[1]->data)[r] = (float)mean;
        if (node->n_outputs > 2)
            ((float *)out[2]->data)[r] = (float)inv;
        for (int64_t i = 0; i < d; i++) {
            const float v = (float)(((double)xr[i] - mean) * inv) * sc[i * ss];
            yr[i] = b != NULL ? v + b[i * bs] : v;
        }
    }
    return FGQ_OK;
}
