/*
 * layout_f32.c — data-movement ops: Reshape (also Flatten, Squeeze, Unsqueeze,
 * Identity, Dropout), Transpose, Concat. They move bytes only, so any dtype
 * with a whole-byte element size is accepted, as long as input and output
 * dtypes agree.
 *   Reshape:   copy of the one input; same element count; skipped when in-place.
 *   Transpose: Y[i_0..i_{r-1}] = X[j] with j[perm[a]] = i_a; iparams[0..rank) = perm.
 *   Concat:    along axis iparams[0] (< rank); all inputs share the other dims.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <string.h>

/* Element size of `t`, which must equal the output's dtype and be whole bytes. */
static fgq_status check_dtype(const fgq_node_view *node, const fgq_tensor_view *t, const fgq_tensor_view *y,
                              int32_t index, fgq_error *err)
{
    if (t->dtype != y->dtype)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "input %d dtype %s differs from output dtype %s",
                        FGQ_NODE_ARGS(node), (int)index, fgq_dtype_name(t->dtype), fgq_dtype_name(y->dtype));
    if (fgq_dtype_size(t->dtype) == 0)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "dtype %s has no whole-byte element size",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(t->dtype));
    return FGQ_OK;
}

fgq_status fgq_reshape_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    st = check_dtype(node, in[0], out[0], 0, err);
    if (st != FGQ_OK)
        return st;
    if (fgq_ops_numel(in[0]) != fgq_ops_numel(out[0]))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input has %lld elements, output %lld",
                        FGQ_NODE_ARGS(node), (long long)fgq_ops_numel(in[0]), (long long)fgq_ops_numel(out[0]));
    return FGQ_OK;
}

fgq_status fgq_reshape_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)node;
    (void)err;
    const int64_t n = fgq_ops_numel(in[0]);
    if (n > 0 && in[0]->data != out[0]->data)
        memmove(out[0]->data, in[0]->data, (size_t)n * fgq_dtype_size(in[0]->dtype));
    return FGQ_OK;
}

fgq_status fgq_transpose_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                   const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    st = check_dtype(node, in[0], out[0], 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    const int32_t *perm = node->iparams;
    int seen[FGQ_MAX_DIMS] = { 0 };
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < x->rank; i++) {
        if (perm[i] < 0 || perm[i] >= x->rank || seen[perm[i]])
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "perm[%d] = %d: not a permutation of 0..%d",
                            FGQ_NODE_ARGS(node), (int)i, (int)perm[i], (int)x->rank - 1);
        seen[perm[i]] = 1;
        dims[i] = x->dims[perm[i]];
    }
    return fgq_ops_check_out_dims(node, out[0], x->rank, dims, err);
}

fgq_status fgq_transpose_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t rank = x->rank;
    const size_t es = fgq_dtype_size(x->dtype);
    const int64_t n = fgq_ops_numel(x);
    if (n == 0)
        return FGQ_OK;
    if (rank == 0) {
        memcpy(y->data, x->data, es);
        return FGQ_OK;
    }
    /* Input element strides, then permuted into the output's axis order. */
    int64_t xs[FGQ_MAX_DIMS], ps[FGQ_MAX_DIMS];
    int64_t k = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        xs[i] = k;
        k *= x->dims[i];
    }
    for (int32_t i = 0; i < rank; i++)
        ps[i] = xs[node->iparams[i]];
    const int64_t inner = y->dims[rank - 1], is = ps[rank - 1];
    const int64_t rows = n / inner;
    const unsigned char *xb = (const unsigned char *)x->data;
    unsigned char *yb = (unsigned char *)y->data;
    int64_t idx[FGQ_MAX_DIMS] = { 0 };
    int64_t off = 0;
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *yr = yb + (size_t)(r * inner) * es;
        if (es == 4) { /* the float path: copy whole words */
            const float *xf = (const float *)(const void *)xb + off;
            float *yf = (float *)(void *)yr;
            for (int64_t j = 0; j < inner; j++)
                yf[j] = xf[j * is];
        } else {
            for (int64_t j = 0; j < inner; j++)
                memcpy(yr + (size_t)j * es, xb + (size_t)(off + j * is) * es, es);
        }
        for (int32_t i = rank - 2; i >= 0; i--) {
            idx[i]++;
            off += ps[i];
            if (idx[i] < y->dims[i])
                break;
            off -= ps[i] * idx[i];
            idx[i] = 0;
        }
    }
    return FGQ_OK;
}

fgq_status fgq_concat_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, -1, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x0 = in[0], *y = out[0];
    const int32_t axis = node->iparams[0];
    if (x0->rank < 1 || axis < 0 || axis >= x0->rank)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axis %d, expected 0..%d", FGQ_NODE_ARGS(node),
                        (int)axis, (int)x0->rank - 1);
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < x0->rank; i++)
        dims[i] = x0->dims[i];
    dims[axis] = 0;
    for (int32_t t = 0; t < node->n_inputs; t++) {
        const fgq_tensor_view *x = in[t];
        if (x == NULL)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "input %d is missing", FGQ_NODE_ARGS(node), (int)t);
        st = check_dtype(node, x, y, t, err);
        if (st != FGQ_OK)
            return st;
        if (x->rank != x0->rank)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input %d rank %d, expected %d", FGQ_NODE_ARGS(node),
                            (int)t, (int)x->rank, (int)x0->rank);
        for (int32_t i = 0; i < x->rank; i++)
            if (i != axis && x->dims[i] != x0->dims[i])
                return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input %d dim %d is %lld, expected %lld",
                                FGQ_NODE_ARGS(node), (int)t, (int)i, (long long)x->dims[i],
                                (long long)x0->dims[i]);
        /* Each input is ≤ 2^40 elements; the sum is then compared with the
         * (validated) output dim, so it cannot run away. */
        dims[axis] += x->dims[axis];
        if (dims[axis] > FGQ_OPS_MAX_NUMEL)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "concatenated axis exceeds %lld",
                            FGQ_NODE_ARGS(node), (long long)FGQ_OPS_MAX_NUMEL);
    }
    return fgq_ops_check_out_dims(node, y, x0->rank, dims, err);
}

fgq_status fgq_concat_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *y = out[0];
    const int32_t axis = node->iparams[0];
    const size_t es = fgq_dtype_size(y->dtype);
    /* Y viewed as [outer, dims[axis]·inner]: each input contributes a
     * contiguous chunk of its own dims[axis]·inner elements per outer row. */
    const int64_t outer = fgq_ops_dims_prod(y->dims, 0, axis);
    const int64_t inner = fgq_ops_dims_prod(y->dims, axis + 1, y->rank);
    const int64_t y_row = y->dims[axis] * inner;
    unsigned char *yb = (unsigned char *)y->data;
    int64_t col = 0;
    for (int32_t t = 0; t < node->n_inputs; t++) {
        const unsigned char *xb = (const unsigned char *)in[t]->data;
        const int64_t chunk = in[t]->dims[axis] * inner;
        if (chunk == 0)
            continue;
        for (int64_t o = 0; o < outer; o++)
            memcpy(yb + (size_t)(o * y_row + col) * es, xb + (size_t)(o * chunk) * es, (size_t)chunk * es);
        col += chunk;
    }
    return FGQ_OK;
}
