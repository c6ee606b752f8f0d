/*
 * ops_util.h — helpers shared by the float32 op kernels in runtime/ops/:
 * validation of tensor views (rank, dims, element-count overflow, dtype),
 * fused activations, and the node-naming prefix every check error carries.
 * Internal to runtime/ops; no allocation, no stdio.
 */
#ifndef FGQ_OPS_UTIL_H
#define FGQ_OPS_UTIL_H

#include "fgq_ops.h"

#include <math.h>
#include <stdint.h>

/* Bounds that keep every index computation in fgq_idx (fgq_types.h) far from overflow: elements
 * per tensor ≤ 2^40 on 64-bit hosts, 2^26 where fgq_idx is 32 bits — counted without its zero
 * dims, so that an empty tensor's other dims are bounded too —, spatial params (stride, dilation,
 * pads) ≤ 2^20. */
#if PTRDIFF_MAX > INT32_MAX
#define FGQ_OPS_MAX_NUMEL ((int64_t)1 << 40)
#else /* 32-bit cores: fgq_idx offsets times a small factor stay below 2^31 (fgq_types.h) */
#define FGQ_OPS_MAX_NUMEL ((int64_t)1 << 26)
#endif
#define FGQ_OPS_MAX_SPATIAL_PARAM (1 << 20)

/* Every check message starts with the node: "node 'conv1' (Conv): ...". */
#define FGQ_NODE_FMT "node '%.*s' (%s): "
#define FGQ_NODE_ARGS(n) (int)(n)->name_len, ((n)->name != NULL ? (n)->name : ""), fgq_op_name((n)->op)

/* Product of dims; only meaningful for a view that passed fgq_ops_check_tensor. */
int64_t fgq_ops_numel(const fgq_tensor_view *t);
/* Product of dims[begin, end). */
int64_t fgq_ops_dims_prod(const int64_t *dims, int32_t begin, int32_t end);

/* Rank in [0, FGQ_MAX_DIMS], every dim ≥ 0, element count ≤ FGQ_OPS_MAX_NUMEL. */
fgq_status fgq_ops_check_tensor(const fgq_node_view *node, const fgq_tensor_view *t, const char *role,
                                int32_t index, fgq_error *err);

/* Common frame of every check: n_inputs in [min_in, max_in] (max_in −1:
 * unbounded), exactly one output, inputs [0, min_in) and the output present,
 * every present tensor valid per fgq_ops_check_tensor and, when require_f32,
 * of dtype F32. */
fgq_status fgq_ops_check_io(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, int32_t min_in, int32_t max_in,
                            int require_f32, fgq_error *err);

/* out must have exactly `rank` dims equal to `dims`; the error names the first mismatch. */
fgq_status fgq_ops_check_out_dims(const fgq_node_view *node, const fgq_tensor_view *out, int32_t rank,
                                  const int64_t *dims, fgq_error *err);

/* Fused activation kind in range; clip bounds not NaN. */
fgq_status fgq_ops_check_act(const fgq_node_view *node, int32_t act, fgq_error *err);

/* y[i] = act(y[i]) for the fused activation `act` with clip bounds lo/hi. */
void fgq_ops_act_apply_f32(float *y, int64_t n, int32_t act, float lo, float hi);

/* The spatial block of Conv/MaxPool/AveragePool (iparams per fgq_ops.h),
 * widened to int64 and right-aligned into 3 dims: a 1-D op has d=h=1 with
 * kernel 1, stride 1, dilation 1, no pads, so kernels loop over 3 dims only. */
typedef struct {
    int32_t nspatial;
    int64_t kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
    int64_t in[3], out[3]; /* spatial dims of X and Y, right-aligned the same way */
} fgq_ops_spatial;

/* Reads and validates the spatial block against X (rank nspatial+2) and the
 * output: stride, dilation in 1..FGQ_OPS_MAX_SPATIAL_PARAM, pads in
 * 0..FGQ_OPS_MAX_SPATIAL_PARAM, kernel in 1..FGQ_OPS_MAX_SPATIAL_PARAM and,
 * when `w` is given (Conv), equal to W's spatial dims. Output spatial dims
 * must equal floor((in + pb + pe − ext)/s) + 1 with ext = d·(k − 1) + 1, or,
 * when allow_ceil, the ceil_mode result (with the last window starting inside
 * input + pad_begin). Fills sp; does not check Y's first two dims. */
fgq_status fgq_ops_read_spatial(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *w,
                                const fgq_tensor_view *y, int allow_ceil, fgq_ops_spatial *sp, fgq_error *err);

/* Scratch slices (fgq_ops.h FGQ_SCRATCH_HEADER). An op's run calls
 * fgq_scratch_begin once, from the calling thread, before its parallel_for:
 * FGQ_ERR_NOMEM (the node, the bytes needed and given) unless node has at least
 * one slice of `need` bytes, then marks every slice free. Each task function
 * then claims a slice for the length of its call and releases it: at most
 * n_scratch calls run at once under an honest provider; should a provider run
 * more, the extra ones wait for a slice (a holder never waits, so they get one). */
fgq_status fgq_scratch_begin(const fgq_node_view *node, uint64_t need, fgq_error *err);
void *fgq_scratch_claim(const fgq_node_view *node, int32_t *slot);
/* The same, for a task function's call on tasks [b, ...) of n: the search starts at the slice of
 * b's share (the shares as tools/threadpool.c deals them), so that under a provider that deals
 * each thread a contiguous share each thread keeps one slice instead of writing the one another
 * core wrote last (with the pool's shares: 2-3 % at two threads on the mobile networks). Any
 * slice gives the same results. */
/* Cores that run ops under a thread pool (application processors). Elsewhere (M-profile firmware:
 * one thread, one slice) claim_for is claim, and QCONV keeps nothing in the memo words: 256 bytes of
 * flash that could never pay. */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define FGQ_OPS_THREADED 1
void *fgq_scratch_claim_for(const fgq_node_view *node, int64_t b, int64_t n, int32_t *slot);
#else
#define FGQ_OPS_THREADED 0
static inline void *fgq_scratch_claim_for(const fgq_node_view *node, int64_t b, int64_t n, int32_t *slot)
{
    (void)b;
    (void)n;
    return fgq_scratch_claim(node, slot);
}
#endif
void fgq_scratch_release(const fgq_node_view *node, int32_t slot);
/* FGQ_SCRATCH_MEMOS words in the header of a claimed slice that its holders
 * keep from one call of the task function to the next within one run of the
 * op: what the slice's bytes hold (the weight rows a call decoded there, say),
 * so a later call given the same slice need not build it again. A provider
 * calls the function once per chunk, and chunks are small at two threads and
 * more: work redone per call is redone per chunk. fgq_scratch_begin sets every
 * word to -1; the claim (acquire) and release (release) order one holder's
 * writes before the next holder's reads. */
#define FGQ_SCRATCH_MEMOS 4
int64_t *fgq_scratch_memo(const fgq_node_view *node, int32_t slot);

/* 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: exp never overflows, and
 * small outputs keep their relative precision (Sigmoid, the LSTM/GRU gates). */
static inline float fgq_ops_sigmoid(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

#endif /* FGQ_OPS_UTIL_H */
