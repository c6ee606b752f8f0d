/*
 * layout_f32.c — data-movement ops: Reshape (also Flatten, Squeeze, Unsqueeze,
 * Identity, Dropout), Transpose, Concat. They move bytes only, so any dtype
 * with a whole-byte element size is accepted, as long as input and output
 * dtypes agree.
 *   Reshape:   copy of the one input; same element count; skipped when in-place.
 *   Transpose: Y[i_0..i_{r-1}] = X[j] with j[perm[a]] = i_a; iparams[0..rank) = perm.
 *   Concat:    along axis iparams[0] (< rank); all inputs share the other dims.
 *   Slice:     Y[i] = X[start + i·step] per dim (fgq_ops.h FGQ_OP_SLICE).
 *   Pad:       constant / reflect / edge, pads >= 0 (a non-zero constant: f32, u8, s8).
 *   Split:     consecutive parts of X along an axis into 1..16 outputs.
 *   Gather:    slices of X along an axis picked by an index tensor (checked at run time).
 *   ScatterND: DATA with slices addressed by k-tuples of indices replaced by (or combined with)
 *              UPDATES, in index order (fgq_ops.h FGQ_OP_SCATTER_ND; indices checked at run time).
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

/* ---- Slice ---------------------------------------------------------------- */

fgq_status fgq_slice_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st == FGQ_OK)
        st = check_dtype(node, in[0], out[0], 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    if (y->rank != x->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "output rank %d, expected X's %d", FGQ_NODE_ARGS(node),
                        (int)y->rank, (int)x->rank);
    for (int32_t i = 0; i < x->rank; i++) {
        const int64_t start = node->iparams[i], step = node->iparams[FGQ_MAX_DIMS + i], cnt = y->dims[i];
        if (step == 0)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "step 0 on dim %d", FGQ_NODE_ARGS(node), (int)i);
        if (cnt == 0)
            continue;
        const int64_t astep = step > 0 ? step : -step;
        if (cnt - 1 > (x->dims[i] > 0 ? (x->dims[i] - 1) / astep : 0)) /* before multiplying: no wrap */
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d: %lld elements by %lld do not fit X's %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)cnt, (long long)step, (long long)x->dims[i]);
        const int64_t last = start + (cnt - 1) * step;
        if (start < 0 || start >= x->dims[i] || last < 0 || last >= x->dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d: %lld elements from %lld by %lld leave X's %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)cnt, (long long)start, (long long)step,
                            (long long)x->dims[i]);
    }
    return FGQ_OK;
}

fgq_status fgq_slice_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t rank = x->rank;
    const size_t es = fgq_dtype_size(x->dtype);
    const int64_t n = fgq_ops_numel(y);
    if (n == 0)
        return FGQ_OK;
    const unsigned char *xb = (const unsigned char *)x->data;
    unsigned char *yb = (unsigned char *)y->data;
    if (rank == 0) {
        memcpy(yb, xb, es);
        return FGQ_OK;
    }
    /* element strides of X along each dim, times the step */
    int64_t xs[FGQ_MAX_DIMS], ss[FGQ_MAX_DIMS], off = 0, k = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        xs[i] = k;
        k *= x->dims[i];
    }
    for (int32_t i = 0; i < rank; i++) {
        ss[i] = xs[i] * node->iparams[FGQ_MAX_DIMS + i];
        off += xs[i] * node->iparams[i];
    }
    const int64_t inner = y->dims[rank - 1], is = ss[rank - 1], rows = n / inner;
    int64_t idx[FGQ_MAX_DIMS] = { 0 };
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *yr = yb + (size_t)(r * inner) * es;
        if (is == 1)
            memcpy(yr, xb + (size_t)off * es, (size_t)inner * es);
        else
            for (int64_t j = 0; j < inner; j++)
                memcpy(yr + (size_t)j * es, xb + (size_t)(off + j * is) * es, es);
        for (int32_t i = rank - 2; i >= 0; i--) {
            off += ss[i];
            if (++idx[i] < y->dims[i])
                break;
            off -= ss[i] * idx[i];
            idx[i] = 0;
        }
    }
    return FGQ_OK;
}

/* ---- Pad ------------------------------------------------------------------ */

fgq_status fgq_pad_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st == FGQ_OK)
        st = check_dtype(node, in[0], out[0], 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t mode = node->iparams[0];
    if (mode == 0 && x->dtype != FGQ_DT_F32 && x->dtype != FGQ_DT_U8 && x->dtype != FGQ_DT_S8 &&
        node->fparams[0] != 0.0f)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "constant %g on dtype %s (only 0 there; any on f32, u8, s8)",
                        FGQ_NODE_ARGS(node), (double)node->fparams[0], fgq_dtype_name(x->dtype));
    if (mode < 0 || mode > 2)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "mode %d, expected 0 (constant), 1 (reflect), 2 (edge)",
                        FGQ_NODE_ARGS(node), (int)mode);
    if ((x->dtype == FGQ_DT_U8 || x->dtype == FGQ_DT_S8) && (node->iparams[FGQ_PAD_CODE] < (x->dtype == FGQ_DT_S8 ? -128 : 0) ||
                                   node->iparams[FGQ_PAD_CODE] > (x->dtype == FGQ_DT_S8 ? 127 : 255)))
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "pad code %d outside %s", FGQ_NODE_ARGS(node),
                        (int)node->iparams[FGQ_PAD_CODE], fgq_dtype_name(x->dtype));
    if (y->rank != x->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "output rank %d, expected X's %d", FGQ_NODE_ARGS(node),
                        (int)y->rank, (int)x->rank);
    for (int32_t i = 0; i < x->rank; i++) {
        const int64_t b = node->iparams[1 + i], e = y->dims[i] - x->dims[i] - b;
        if (b < 0 || e < 0)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d: pads %lld / %lld (Y %lld, X %lld) must be >= 0",
                            FGQ_NODE_ARGS(node), (int)i, (long long)b, (long long)e, (long long)y->dims[i],
                            (long long)x->dims[i]);
        if ((b > 0 || e > 0) && mode != 0 && x->dims[i] < (mode == 1 ? 2 : 1))
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d of size %lld cannot be %s-padded",
                            FGQ_NODE_ARGS(node), (int)i, (long long)x->dims[i], mode == 1 ? "reflect" : "edge");
        if (mode == 1 && (b > x->dims[i] - 1 || e > x->dims[i] - 1))
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d: reflect pads %lld / %lld exceed size - 1 = %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)b, (long long)e, (long long)x->dims[i] - 1);
    }
    return FGQ_OK;
}

/* X's coordinate for Y's coordinate c on a dim of size n padded by b before;
 * −1: the constant. */
static int64_t pad_source(int32_t mode, int64_t c, int64_t b, int64_t n)
{
    int64_t s = c - b;
    if (s >= 0 && s < n)
        return s;
    if (mode == 0)
        return -1;
    if (mode == 2)
        return s < 0 ? 0 : n - 1;
    return s < 0 ? -s : 2 * (n - 1) - s; /* reflect: pads <= n − 1, one bounce */
}

fgq_status fgq_pad_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t rank = x->rank, mode = node->iparams[0];
    const size_t es = fgq_dtype_size(x->dtype);
    const int64_t n = fgq_ops_numel(y);
    if (n == 0)
        return FGQ_OK;
    unsigned char fill[8] = { 0 }; /* other dtypes: 0 (check) */
    if (x->dtype == FGQ_DT_F32)
        memcpy(fill, &node->fparams[0], 4);
    else if (x->dtype == FGQ_DT_U8 || x->dtype == FGQ_DT_S8)
        fill[0] = (unsigned char)node->iparams[FGQ_PAD_CODE];
    const unsigned char *xb = (const unsigned char *)x->data;
    unsigned char *yb = (unsigned char *)y->data;
    if (rank == 0) {
        memcpy(yb, xb, es);
        return FGQ_OK;
    }
    int64_t xs[FGQ_MAX_DIMS], k = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        xs[i] = k;
        k *= x->dims[i];
    }
    const int64_t inner = y->dims[rank - 1], xn = x->dims[rank - 1], b = node->iparams[rank];
    const int64_t rows = n / inner;
    int64_t idx[FGQ_MAX_DIMS] = { 0 };
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *yr = yb + (size_t)(r * inner) * es;
        int64_t off = 0; /* the X row this Y row reads, or −1: all constant */
        for (int32_t i = 0; i < rank - 1 && off >= 0; i++) {
            const int64_t s = pad_source(mode, idx[i], node->iparams[1 + i], x->dims[i]);
            off = s < 0 ? -1 : off + s * xs[i];
        }
        if (off < 0 || xn == 0) {
            for (int64_t j = 0; j < inner; j++)
                memcpy(yr + (size_t)j * es, fill, es);
        } else {
            const unsigned char *xr = xb + (size_t)off * es;
            for (int64_t j = 0; j < b && j < inner; j++) {
                const int64_t s = pad_source(mode, j, b, xn);
                memcpy(yr + (size_t)j * es, s < 0 ? fill : xr + (size_t)s * es, es);
            }
            memcpy(yr + (size_t)b * es, xr, (size_t)xn * es);
            for (int64_t j = b + xn; j < inner; j++) {
                const int64_t s = pad_source(mode, j, b, xn);
                memcpy(yr + (size_t)j * es, s < 0 ? fill : xr + (size_t)s * es, es);
            }
        }
        for (int32_t i = rank - 2; i >= 0; i--) {
            if (++idx[i] < y->dims[i])
                break;
            idx[i] = 0;
        }
    }
    return FGQ_OK;
}

/* ---- Split ---------------------------------------------------------------- */

fgq_status fgq_split_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    if (node->n_inputs != 1 || node->n_outputs < 1 || node->n_outputs > FGQ_SPLIT_MAX_OUTPUTS)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 1 / 1..%d",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs, FGQ_SPLIT_MAX_OUTPUTS);
    if (in == NULL || in[0] == NULL || out == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "missing input/output views", FGQ_NODE_ARGS(node));
    fgq_status st = fgq_ops_check_tensor(node, in[0], "input", 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    const int32_t axis = node->iparams[0];
    if (x->rank < 1 || axis < 0 || axis >= x->rank)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axis %d, expected 0..%d", FGQ_NODE_ARGS(node), (int)axis,
                        (int)x->rank - 1);
    int64_t total = 0;
    for (int32_t k = 0; k < node->n_outputs; k++) {
        const fgq_tensor_view *y = out[k];
        if (y == NULL)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "output %d is missing", FGQ_NODE_ARGS(node), (int)k);
        if ((st = fgq_ops_check_tensor(node, y, "output", k, err)) != FGQ_OK ||
            (st = check_dtype(node, x, y, 0, err)) != FGQ_OK)
            return st;
        int64_t dims[FGQ_MAX_DIMS];
        for (int32_t i = 0; i < x->rank; i++)
            dims[i] = i == axis ? y->dims[axis < y->rank ? axis : 0] : x->dims[i];
        if ((st = fgq_ops_check_out_dims(node, y, x->rank, dims, err)) != FGQ_OK)
            return st;
        total += y->dims[axis];
    }
    if (total != x->dims[axis])
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "outputs take %lld along axis %d, X has %lld",
                        FGQ_NODE_ARGS(node), (long long)total, (int)axis, (long long)x->dims[axis]);
    return FGQ_OK;
}

fgq_status fgq_split_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    const int32_t axis = node->iparams[0];
    const size_t es = fgq_dtype_size(x->dtype);
    const int64_t outer = fgq_ops_dims_prod(x->dims, 0, axis), inner = fgq_ops_dims_prod(x->dims, axis + 1, x->rank);
    const int64_t x_row = x->dims[axis] * inner;
    const unsigned char *xb = (const unsigned char *)x->data;
    int64_t col = 0;
    for (int32_t k = 0; k < node->n_outputs; k++) {
        const int64_t chunk = out[k]->dims[axis] * inner;
        unsigned char *yb = (unsigned char *)out[k]->data;
        for (int64_t o = 0; o < outer && chunk > 0; o++)
            memcpy(yb + (size_t)(o * chunk) * es, xb + (size_t)(o * x_row + col) * es, (size_t)chunk * es);
        col += chunk;
    }
    return FGQ_OK;
}

/* ---- Gather --------------------------------------------------------------- */

fgq_status fgq_gather_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 0, err);
    if (st == FGQ_OK)
        st = check_dtype(node, in[0], out[0], 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *ix = in[1];
    const int32_t axis = node->iparams[0];
    if (ix->dtype != FGQ_DT_S64 && ix->dtype != FGQ_DT_S32)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "indices of dtype %s (s64 or s32)", FGQ_NODE_ARGS(node),
                        fgq_dtype_name(ix->dtype));
    if (x->rank < 1 || axis < 0 || axis >= x->rank || x->rank - 1 + ix->rank > FGQ_MAX_DIMS)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "axis %d for X of rank %d and indices of rank %d",
                        FGQ_NODE_ARGS(node), (int)axis, (int)x->rank, (int)ix->rank);
    int64_t dims[FGQ_MAX_DIMS];
    int32_t r = 0;
    for (int32_t i = 0; i < axis; i++)
        dims[r++] = x->dims[i];
    for (int32_t i = 0; i < ix->rank; i++)
        dims[r++] = ix->dims[i];
    for (int32_t i = axis + 1; i < x->rank; i++)
        dims[r++] = x->dims[i];
    return fgq_ops_check_out_dims(node, out[0], r, dims, err);
}

fgq_status fgq_gather_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    const fgq_tensor_view *x = in[0], *ix = in[1];
    const int32_t axis = node->iparams[0];
    const size_t es = fgq_dtype_size(x->dtype);
    const int64_t outer = fgq_ops_dims_prod(x->dims, 0, axis), d = x->dims[axis];
    const int64_t inner = fgq_ops_dims_prod(x->dims, axis + 1, x->rank), n_ix = fgq_ops_numel(ix);
    const unsigned char *xb = (const unsigned char *)x->data;
    unsigned char *yb = (unsigned char *)out[0]->data;
    for (int64_t j = 0; j < n_ix; j++) { /* indices first: a bad one leaves Y untouched */
        const int64_t v = ix->dtype == FGQ_DT_S64 ? ((const int64_t *)ix->data)[j] : ((const int32_t *)ix->data)[j];
        if (v < -d || v >= d)
            return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "index %lld (element %lld) is outside [-%lld, %lld)",
                            FGQ_NODE_ARGS(node), (long long)v, (long long)j, (long long)d, (long long)d);
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n_ix; j++) {
            int64_t v = ix->dtype == FGQ_DT_S64 ? ((const int64_t *)ix->data)[j] : ((const int32_t *)ix->data)[j];
            v = v < 0 ? v + d : v;
            memcpy(yb + (size_t)((o * n_ix + j) * inner) * es, xb + (size_t)((o * d + v) * inner) * es,
                   (size_t)inner * es);
        }
    return FGQ_OK;
}

/* ---- ScatterND ------------------------------------------------------------ */

enum { SCATTER_NONE = 0, SCATTER_ADD = 1, SCATTER_MUL = 2, SCATTER_MAX = 3, SCATTER_MIN = 4 };

fgq_status fgq_scatter_nd_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                    const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 3, 3, 0, err);
    if (st == FGQ_OK)
        st = check_dtype(node, in[0], out[0], 0, err);
    if (st == FGQ_OK)
        st = check_dtype(node, in[2], out[0], 2, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *ix = in[1], *u = in[2];
    const int32_t red = node->iparams[0];
    const fgq_dtype dt = x->dtype;
    if (red < SCATTER_NONE || red > SCATTER_MIN)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "ip[0] (reduction) = %d, expected 0..4", FGQ_NODE_ARGS(node),
                        (int)red);
    if (red != SCATTER_NONE && dt != FGQ_DT_F32 && dt != FGQ_DT_U8 && dt != FGQ_DT_S8 && dt != FGQ_DT_S32 &&
        dt != FGQ_DT_S64)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "a reduction on dtype %s (f32, u8, s8, s32, s64)",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(dt));
    if (ix->dtype != FGQ_DT_S64)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "indices of dtype %s (s64)", FGQ_NODE_ARGS(node),
                        fgq_dtype_name(ix->dtype));
    const int64_t k = ix->rank >= 1 ? ix->dims[ix->rank - 1] : 0;
    if (x->rank < 1 || ix->rank < 1 || k < 1 || k > x->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE,
                        FGQ_NODE_FMT "indices of rank %d with last dim %lld for data of rank %d "
                                     "(rank >= 1, last dim in 1..%d)",
                        FGQ_NODE_ARGS(node), (int)ix->rank, (long long)k, (int)x->rank, (int)x->rank);
    /* UPDATES = INDICES' dims but the last, then DATA's dims from k on */
    int64_t dims[FGQ_MAX_DIMS];
    int32_t r = 0;
    for (int32_t i = 0; i < ix->rank - 1; i++)
        dims[r++] = ix->dims[i];
    for (int32_t i = (int32_t)k; i < x->rank; i++) {
        if (r >= FGQ_MAX_DIMS)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "updates would have rank above %d", FGQ_NODE_ARGS(node),
                            FGQ_MAX_DIMS);
        dims[r++] = x->dims[i];
    }
    int ok = u->rank == r;
    for (int32_t i = 0; i < r && ok; i++)
        ok = u->dims[i] == dims[i];
    if (!ok)
        return fgq_fail(err, FGQ_ERR_SHAPE,
                        FGQ_NODE_FMT "updates of rank %d do not have indices' dims but the last, then data's "
                                     "from dim %lld on (rank %d)",
                        FGQ_NODE_ARGS(node), (int)u->rank, (long long)k, (int)r);
    return fgq_ops_check_out_dims(node, out[0], x->rank, x->dims, err);
}

#define SCATTER_COMBINE(T)                                 \
    do {                                                   \
        T *y_ = (T *)y;                                    \
        const T *u_ = (const T *)u;                        \
        for (int64_t i = 0; i < n; i++) {                  \
            const T a = y_[i], b = u_[i];                  \
            y_[i] = red == SCATTER_MAX   ? (a > b ? a : b) \
                    : red == SCATTER_MIN ? (a < b ? a : b) \
                    : red == SCATTER_ADD ? (T)(a + b)      \
                                         : (T)(a * b);     \
        }                                                  \
    } while (0)

/* y[0..n) = y combined with u by `red`. Integers wrap as two's complement (through uint64_t: no UB);
 * f32 max / min are (a > b ? a : b) / (a < b ? a : b): a NaN on either side gives the update b. */
static void scatter_combine(fgq_dtype dt, int32_t red, void *y, const void *u, int64_t n)
{
    switch (dt) {
    case FGQ_DT_F32: SCATTER_COMBINE(float); break;
    default: {
        for (int64_t i = 0; i < n; i++) {
            int64_t a = 0, b = 0;
            switch (dt) {
            case FGQ_DT_S8: a = ((int8_t *)y)[i], b = ((const int8_t *)u)[i]; break;
            case FGQ_DT_S32: a = ((int32_t *)y)[i], b = ((const int32_t *)u)[i]; break;
            case FGQ_DT_S64: a = ((int64_t *)y)[i], b = ((const int64_t *)u)[i]; break;
            default: a = ((uint8_t *)y)[i], b = ((const uint8_t *)u)[i]; break; /* u8 */
            }
            const uint64_t v = red == SCATTER_MAX   ? (uint64_t)(a > b ? a : b)
                               : red == SCATTER_MIN ? (uint64_t)(a < b ? a : b)
                               : red == SCATTER_ADD ? (uint64_t)a + (uint64_t)b
                                                    : (uint64_t)a * (uint64_t)b;
            /* the low bytes of the sum / product, as the sized type (no implementation-defined casts) */
            switch (dt) {
            case FGQ_DT_S8: {
                const uint8_t lo = (uint8_t)v;
                ((int8_t *)y)[i] = (int8_t)(lo < 128u ? (int32_t)lo : (int32_t)lo - 256);
                break;
            }
            case FGQ_DT_S32: {
                const uint32_t lo = (uint32_t)v;
                ((int32_t *)y)[i] = lo <= 0x7fffffffu ? (int32_t)lo : (int32_t)((int64_t)lo - 4294967296ll);
                break;
            }
            case FGQ_DT_S64: ((int64_t *)y)[i] = v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1; break;
            default: ((uint8_t *)y)[i] = (uint8_t)v; break;
            }
        }
        break;
    }
    }
}
#undef SCATTER_COMBINE

fgq_status fgq_scatter_nd_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, fgq_error *err)
{
    const fgq_tensor_view *x = in[0], *ix = in[1], *u = in[2];
    const int32_t red = node->iparams[0];
    const size_t es = fgq_dtype_size(x->dtype);
    const int32_t k = (int32_t)ix->dims[ix->rank - 1];
    const int64_t n_tuples = fgq_ops_dims_prod(ix->dims, 0, ix->rank - 1);
    const int64_t slice = fgq_ops_dims_prod(x->dims, k, x->rank); /* elements per update */
    const int64_t *iv = (const int64_t *)ix->data;
    /* every index first: a bad one fails the run with Y untouched, never writes outside it */
    for (int64_t t = 0; t < n_tuples; t++)
        for (int32_t j = 0; j < k; j++) {
            const int64_t v = iv[t * k + j], d = x->dims[j];
            if (v < -d || v >= d)
                return fgq_fail(err, FGQ_ERR_VALUE,
                                FGQ_NODE_FMT "index %lld (tuple %lld, entry %d) is outside [-%lld, %lld) of data's "
                                             "dim %d",
                                FGQ_NODE_ARGS(node), (long long)v, (long long)t, (int)j, (long long)d, (long long)d,
                                (int)j);
        }
    unsigned char *y = (unsigned char *)out[0]->data;
    const unsigned char *ub = (const unsigned char *)u->data;
    if (out[0]->data != x->data)
        memcpy(y, x->data, (size_t)fgq_ops_numel(x) * es);
    for (int64_t t = 0; t < n_tuples; t++) { /* in index order: the last of duplicate indices wins */
        int64_t off = 0;
        for (int32_t j = 0; j < k; j++) {
            const int64_t v = iv[t * k + j], d = x->dims[j];
            off = off * d + (v < 0 ? v + d : v);
        }
        unsigned char *dst = y + (size_t)(off * slice) * es;
        const unsigned char *src = ub + (size_t)(t * slice) * es;
        if (red == SCATTER_NONE)
            memcpy(dst, src, (size_t)slice * es);
        else
            scatter_combine(x->dtype, red, dst, src, slice);
    }
    return FGQ_OK;
}
