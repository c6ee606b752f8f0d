/* ops_util.c — validation and fused-activation helpers shared by the f32 kernels. */
#include "ops_util.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>

int64_t fgq_ops_dims_prod(const int64_t *dims, int32_t begin, int32_t end)
{
    int64_t p = 1;
    for (int32_t i = begin; i < end; i++)
        p *= dims[i];
    return p;
}

int64_t fgq_ops_numel(const fgq_tensor_view *t)
{
    return fgq_ops_dims_prod(t->dims, 0, t->rank);
}

fgq_status fgq_ops_check_tensor(const fgq_node_view *node, const fgq_tensor_view *t, const char *role,
                                int32_t index, fgq_error *err)
{
    if (t->rank < 0 || t->rank > FGQ_MAX_DIMS)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%s %d has rank %d, expected 0..%d",
                        FGQ_NODE_ARGS(node), role, (int)index, (int)t->rank, FGQ_MAX_DIMS);
    /* Multiply with a bound check before each step so the product never overflows. A zero
     * dim makes the count 0, but the product of the others is bounded all the same: the ops
     * form products of a tensor's dims (a plane, OH·OW) whatever its batch. */
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++) {
        int64_t d = t->dims[i];
        if (d < 0 || d > FGQ_OPS_MAX_NUMEL)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%s %d dim %d is %lld, expected 0..%lld",
                            FGQ_NODE_ARGS(node), role, (int)index, (int)i, (long long)d,
                            (long long)FGQ_OPS_MAX_NUMEL);
#if PTRDIFF_MAX <= INT32_MAX /* 32-bit cores: n, d <= 2^26 (ops_util.h), the product fits uint64: no library division */
        if ((uint64_t)n * (uint64_t)d > (uint64_t)FGQ_OPS_MAX_NUMEL)
#else
        if (d != 0 && n > FGQ_OPS_MAX_NUMEL / d)
#endif
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%s %d has more than %lld elements (zero dims left out)",
                            FGQ_NODE_ARGS(node), role, (int)index, (long long)FGQ_OPS_MAX_NUMEL);
        n = d == 0 ? n : n * d;
    }
    return FGQ_OK;
}

fgq_status fgq_ops_check_io(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, int32_t min_in, int32_t max_in,
                            int require_f32, fgq_error *err)
{
    if (node->n_inputs < min_in || (max_in >= 0 && node->n_inputs > max_in)) {
        if (max_in < 0)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs, expected at least %d",
                            FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)min_in);
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs, expected %d..%d", FGQ_NODE_ARGS(node),
                        (int)node->n_inputs, (int)min_in, (int)max_in);
    }
    if (node->n_outputs != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d outputs, expected 1", FGQ_NODE_ARGS(node),
                        (int)node->n_outputs);
    if (in == NULL || out == NULL || out[0] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "missing input/output views", FGQ_NODE_ARGS(node));
    for (int32_t i = 0; i < node->n_inputs; i++) {
        if (in[i] == NULL) {
            if (i < min_in)
                return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "required input %d is missing",
                                FGQ_NODE_ARGS(node), (int)i);
            continue;
        }
        fgq_status st = fgq_ops_check_tensor(node, in[i], "input", i, err);
        if (st != FGQ_OK)
            return st;
        if (require_f32 && in[i]->dtype != FGQ_DT_F32)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "input %d has dtype %s, expected f32",
                            FGQ_NODE_ARGS(node), (int)i, fgq_dtype_name(in[i]->dtype));
    }
    fgq_status st = fgq_ops_check_tensor(node, out[0], "output", 0, err);
    if (st != FGQ_OK)
        return st;
    if (require_f32 && out[0]->dtype != FGQ_DT_F32)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "output has dtype %s, expected f32",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(out[0]->dtype));
    return FGQ_OK;
}

fgq_status fgq_ops_check_out_dims(const fgq_node_view *node, const fgq_tensor_view *out, int32_t rank,
                                  const int64_t *dims, fgq_error *err)
{
    if (out->rank != rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "output rank %d, expected %d", FGQ_NODE_ARGS(node),
                        (int)out->rank, (int)rank);
    for (int32_t i = 0; i < rank; i++)
        if (out->dims[i] != dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "output dim %d is %lld, expected %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)out->dims[i], (long long)dims[i]);
    return FGQ_OK;
}

fgq_status fgq_ops_check_act(const fgq_node_view *node, int32_t act, fgq_error *err)
{
    if (act != FGQ_ACT_NONE && act != FGQ_ACT_RELU && act != FGQ_ACT_CLIP)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "fused activation %d, expected 0 (none), 1 (relu) or 2 (clip)",
                        FGQ_NODE_ARGS(node), (int)act);
    if (act == FGQ_ACT_CLIP && (isnan(node->fparams[FGQ_PF_ACT0]) || isnan(node->fparams[FGQ_PF_ACT1])))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "fused clip bound is NaN", FGQ_NODE_ARGS(node));
    return FGQ_OK;
}

void fgq_ops_act_apply_f32(float *y, int64_t n, int32_t act, float lo, float hi)
{
    if (act == FGQ_ACT_RELU) {
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] < 0.0f ? 0.0f : y[i];
    } else if (act == FGQ_ACT_CLIP) {
        /* min(max(x, lo), hi), as ONNX Clip and ONNX Runtime order it. */
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] < lo ? lo : y[i];
            y[i] = v > hi ? hi : v;
        }
    }
}

fgq_status fgq_ops_read_spatial(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *w,
                                const fgq_tensor_view *y, int allow_ceil, fgq_ops_spatial *sp, fgq_error *err)
{
    const int32_t *ip = node->iparams;
    const int32_t ns = ip[FGQ_P_NSPATIAL];
    if (ns < 1 || ns > 3)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d spatial dims, expected 1..3", FGQ_NODE_ARGS(node),
                        (int)ns);
    if (x->rank != ns + 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "X rank %d, expected %d (N, C and %d spatial)",
                        FGQ_NODE_ARGS(node), (int)x->rank, (int)(ns + 2), (int)ns);
    if (y->rank != ns + 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y rank %d, expected %d", FGQ_NODE_ARGS(node),
                        (int)y->rank, (int)(ns + 2));
    if (w != NULL && w->rank != ns + 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "W rank %d, expected %d", FGQ_NODE_ARGS(node),
                        (int)w->rank, (int)(ns + 2));
    const int64_t lim = FGQ_OPS_MAX_SPATIAL_PARAM;
    sp->nspatial = ns;
    for (int32_t j = 0; j < 3; j++) {
        sp->kernel[j] = sp->stride[j] = sp->dilation[j] = 1;
        sp->pad_begin[j] = sp->pad_end[j] = 0;
        sp->in[j] = sp->out[j] = 1;
    }
    for (int32_t i = 0; i < ns; i++) {
        const int32_t j = 3 - ns + i; /* right-aligned slot */
        const int64_t k = ip[FGQ_P_KERNEL + i], s = ip[FGQ_P_STRIDE + i], d = ip[FGQ_P_DILATION + i];
        const int64_t pb = ip[FGQ_P_PAD_BEGIN + i], pe = ip[FGQ_P_PAD_END + i];
        if (k < 1 || k > lim || s < 1 || s > lim || d < 1 || d > lim)
            return fgq_fail(err, FGQ_ERR_FORMAT,
                            FGQ_NODE_FMT "spatial axis %d: kernel %lld, stride %lld, dilation %lld, expected each in 1..%lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)k, (long long)s, (long long)d, (long long)lim);
        if (pb < 0 || pb > lim || pe < 0 || pe > lim)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "spatial axis %d: pads %lld, %lld, expected each in 0..%lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)pb, (long long)pe, (long long)lim);
        if (w != NULL && w->dims[2 + i] != k)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "kernel dim %d is %lld but W has %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)k, (long long)w->dims[2 + i]);
        const int64_t in = x->dims[2 + i], ext = d * (k - 1) + 1, span = in + pb + pe - ext;
        if (span < 0)
            return fgq_fail(err, FGQ_ERR_SHAPE,
                            FGQ_NODE_FMT "spatial axis %d: padded input %lld is smaller than the kernel extent %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)(in + pb + pe), (long long)ext);
        const int64_t out_floor = span / s + 1;
        int64_t out_ceil = (span + s - 1) / s + 1;
        /* ceil_mode: drop a last window that would start in the end padding. */
        if ((out_ceil - 1) * s >= in + pb)
            out_ceil--;
        const int64_t got = y->dims[2 + i];
        if (got != out_floor && !(allow_ceil && got == out_ceil)) {
            if (allow_ceil && out_ceil != out_floor)
                return fgq_fail(err, FGQ_ERR_SHAPE,
                                FGQ_NODE_FMT "output spatial dim %d is %lld, expected %lld (floor) or %lld (ceil)",
                                FGQ_NODE_ARGS(node), (int)i, (long long)got, (long long)out_floor,
                                (long long)out_ceil);
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "output spatial dim %d is %lld, expected %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)got, (long long)out_floor);
        }
        sp->kernel[j] = k;
        sp->stride[j] = s;
        sp->dilation[j] = d;
        sp->pad_begin[j] = pb;
        sp->pad_end[j] = pe;
        sp->in[j] = in;
        sp->out[j] = got;
    }
    return FGQ_OK;
}

/* ---- scratch slices ------------------------------------------------------ */

/* The busy flag at the head of slice i (the header is 64 bytes, the slice 64-aligned), then at
 * byte 8 the memo words. */
static atomic_int *scratch_flag(const fgq_node_view *node, int32_t i)
{
    return (atomic_int *)(void *)((uint8_t *)node->scratch + (uint64_t)i * node->scratch_stride);
}

_Static_assert(8 + FGQ_SCRATCH_MEMOS * sizeof(int64_t) <= FGQ_SCRATCH_HEADER, "the memo words fit the header");

int64_t *fgq_scratch_memo(const fgq_node_view *node, int32_t slot)
{
    return (int64_t *)(void *)((uint8_t *)node->scratch + (uint64_t)slot * node->scratch_stride + 8);
}

fgq_status fgq_scratch_begin(const fgq_node_view *node, uint64_t need, fgq_error *err)
{
    if (need == 0)
        return FGQ_OK;
    const uint64_t stride = fgq_scratch_stride(need);
    if (node->scratch == NULL || node->n_scratch < 1 || node->scratch_stride < stride ||
        node->scratch_stride % 64 != 0 || (uintptr_t)node->scratch % 64 != 0)
        return fgq_fail(err, FGQ_ERR_NOMEM,
                        FGQ_NODE_FMT "needs scratch slices of %llu bytes (64-aligned), has %ld of %llu at %p",
                        FGQ_NODE_ARGS(node), (unsigned long long)stride, (long)node->n_scratch,
                        (unsigned long long)node->scratch_stride, node->scratch);
    for (int32_t i = 0; i < node->n_scratch; i++) {
        atomic_init(scratch_flag(node, i), 0);
        int64_t *memo = fgq_scratch_memo(node, i);
        for (int32_t k = 0; k < FGQ_SCRATCH_MEMOS; k++)
            memo[k] = -1;
    }
    return FGQ_OK;
}

/* The first free slice from `first` on, wrapping. */
static void *scratch_claim_from(const fgq_node_view *node, int32_t first, int32_t *slot)
{
    *slot = 0;
    if (node->scratch == NULL || node->n_scratch < 1) /* fgq_scratch_begin refused it: not reached */
        return NULL;
    for (;;)
        for (int32_t k = 0, i = first; k < node->n_scratch; k++, i = i + 1 < node->n_scratch ? i + 1 : 0)
            if (atomic_load_explicit(scratch_flag(node, i), memory_order_relaxed) == 0 &&
                atomic_exchange_explicit(scratch_flag(node, i), 1, memory_order_acquire) == 0) {
                *slot = i;
                return (uint8_t *)node->scratch + (uint64_t)i * node->scratch_stride + FGQ_SCRATCH_HEADER;
            }
}

void *fgq_scratch_claim(const fgq_node_view *node, int32_t *slot)
{
    return scratch_claim_from(node, 0, slot);
}

#if FGQ_OPS_THREADED
void *fgq_scratch_claim_for(const fgq_node_view *node, int64_t b, int64_t n, int32_t *slot)
{
    int32_t first = 0;
    /* a hint only: 32-bit arithmetic (one instruction on the M-profile cores, no library call), and
     * past 2^32 tasks the first slice */
    if (node->n_scratch > 1 && b > 0 && b < n && n <= (int64_t)UINT32_MAX) {
        /* shares as the pool deals them: the first n mod n_scratch one task longer (exact for
         * chunks of one task, within a chunk of the pool's boundaries otherwise) */
        const uint32_t ns = (uint32_t)node->n_scratch, n32 = (uint32_t)n, b32 = (uint32_t)b;
        const uint32_t q = n32 / ns, r = n32 % ns, long_end = r * (q + 1);
        first = (int32_t)(b32 < long_end ? b32 / (q + 1) : r + (b32 - long_end) / q); /* q >= 1 there */
    }
    return scratch_claim_from(node, first, slot);
}
#endif

void fgq_scratch_release(const fgq_node_view *node, int32_t slot)
{
    atomic_store_explicit(scratch_flag(node, slot), 0, memory_order_release);
}
