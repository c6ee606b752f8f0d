/*
 * pool_f32.c — MaxPool, AveragePool (1-D/2-D/3-D) and GlobalAveragePool, float32 NCHW.
 *
 * Window of output o on a spatial axis: taps p = o·s − pb + k·d, k < kernel.
 * Taps outside [0, in) are padding: MaxPool ignores them; AveragePool divides
 * the sum of the in-range taps by their count, or with count_include_pad by
 * the count of taps inside the explicitly padded input [−pb, in + pe) — taps
 * past the end padding (possible with ceil_mode) never count, as in ONNX
 * Runtime. ceil_mode is already in Y's shape; check accepts floor or ceil.
 * Output rows (GlobalAveragePool: planes) are split over node->par's threads;
 * no window's sum is split, so any thread count gives the same bits.
 */
#include "ops_f32.h"
#include "ops_f32_x86.h"
#include "ops_util.h"
#include "qgemm_dispatch.h" /* fgq_node_cpu */

#include <math.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define POOL_X86 1
#else
#define POOL_X86 0
#endif

static fgq_status check_pool(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_ops_spatial *sp, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    st = fgq_ops_read_spatial(node, x, NULL, y, 1, sp, err);
    if (st != FGQ_OK)
        return st;
    for (int32_t j = 0; j < 3; j++) {
        /* ONNX Runtime's rule: pads smaller than the window, so no window is all padding. */
        const int64_t ext = sp->dilation[j] * (sp->kernel[j] - 1) + 1;
        if (sp->pad_begin[j] >= ext || sp->pad_end[j] >= ext)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "pads %lld, %lld must be smaller than the window %lld",
                            FGQ_NODE_ARGS(node), (long long)sp->pad_begin[j], (long long)sp->pad_end[j],
                            (long long)ext);
    }
    if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1])
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y is [%lld, %lld, ...], expected [%lld, %lld, ...]",
                        FGQ_NODE_ARGS(node), (long long)y->dims[0], (long long)y->dims[1], (long long)x->dims[0],
                        (long long)x->dims[1]);
    return FGQ_OK;
}

fgq_status fgq_maxpool_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_ops_spatial sp;
    return check_pool(node, in, out, &sp, err);
}

fgq_status fgq_avgpool_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_ops_spatial sp;
    fgq_status st = check_pool(node, in, out, &sp, err);
    if (st != FGQ_OK)
        return st;
    const int32_t cip = node->iparams[FGQ_P_COUNT_PAD];
    if (cip != 0 && cip != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "count_include_pad %d, expected 0 or 1",
                        FGQ_NODE_ARGS(node), (int)cip);
    return FGQ_OK;
}

/* One axis of a window: first tap index k and count of taps in [0, in), plus
 * the count of taps in [−pb, in + pe) for count_include_pad. */
typedef struct {
    int64_t base;   /* input position of tap 0 (may be negative) */
    int64_t k0, k1; /* in-range taps are k0 ≤ k < k1 */
    int64_t n_pad;  /* taps inside the padded input */
} window_axis;

static window_axis window_for(const fgq_ops_spatial *sp, int32_t j, int64_t o)
{
    window_axis w;
    const int64_t s = sp->stride[j], d = sp->dilation[j], k = sp->kernel[j];
    const int64_t in = sp->in[j];
    w.base = o * s - sp->pad_begin[j];
    /* tap p = base + k·d: p ≥ 0 ⇔ k ≥ ceil(−base/d); p < lim ⇔ k < ceil((lim − base)/d). */
    int64_t lo = w.base < 0 ? (-w.base + d - 1) / d : 0;
    int64_t hi = in - w.base > 0 ? (in - w.base + d - 1) / d : 0;
    const int64_t lim_pad = in + sp->pad_end[j];
    int64_t hp = lim_pad - w.base > 0 ? (lim_pad - w.base + d - 1) / d : 0;
    w.k0 = lo < k ? lo : k;
    w.k1 = hi < k ? hi : k;
    if (w.k1 < w.k0)
        w.k1 = w.k0;
    w.n_pad = hp < k ? hp : k; /* base ≥ −pb, so every tap is ≥ −pb */
    return w;
}

typedef struct {
    const fgq_ops_spatial *sp;
    const float *x;
    float *y;
    int is_max, count_pad;
    int avx2; /* MaxPool's interior columns 8 at a time (2-D, stride 1 or 2 along the row) */
} pool_task;

#if POOL_X86
/* MaxPool outputs [lo, hi) of one row, whose windows lie inside the row (every kw tap in range),
 * 8 at a time; rows of the window [wh.k0, wh.k1) of plane xp. Per output the scalar loop's
 * sequence, acc = v > acc ? v : acc over the same taps in the same order (an ordered compare: a
 * NaN tap is skipped as there), so the same bits. Stride 2 reads p[0..14] (fgq_f32_load8).
 * Returns the first output not done. */
__attribute__((target("avx2"))) static int64_t max_row_avx2(const float *xp, int64_t IW, int64_t kh0, int64_t kh1,
                                                            int64_t hbase, int64_t DH, int64_t KW, int64_t DW,
                                                            int64_t SW, int64_t pl, int64_t lo, int64_t hi, float *yr)
{
    int64_t ow = lo;
    for (; ow + 8 <= hi; ow += 8) {
        __m256 acc = _mm256_set1_ps(-INFINITY);
        for (int64_t kh = kh0; kh < kh1; kh++) {
            const float *xr = xp + (hbase + kh * DH) * IW + ow * SW - pl;
            for (int64_t kw = 0; kw < KW; kw++) {
                const __m256 v = fgq_f32_load8(xr + kw * DW, SW);
                acc = _mm256_blendv_ps(acc, v, _mm256_cmp_ps(v, acc, _CMP_GT_OQ));
            }
        }
        _mm256_storeu_ps(yr + ow, acc);
    }
    return ow;
}
#endif

/* Output rows [begin, end) of the flattened (plane, od, oh) space; each
 * output element reads only its own window, so any split is bit-identical. */
static void pool_rows_f32(void *ctx, fgq_idx begin, fgq_idx end)
{
    const pool_task *t = (const pool_task *)ctx;
    const fgq_ops_spatial *sp = t->sp;
    const int64_t IH = sp->in[1], IW = sp->in[2];
    const int64_t x_plane = sp->in[0] * IH * IW;
    const int64_t OD = sp->out[0], OH = sp->out[1], OW = sp->out[2];
    const int64_t DD = sp->dilation[0], DH = sp->dilation[1], DW = sp->dilation[2];
    const int is_max = t->is_max;
    for (int64_t r = begin; r < end; r++) {
        const int64_t pl = r / (OD * OH), od = r % (OD * OH) / OH, oh = r % OH;
        const float *xp = t->x + pl * x_plane;
        float *yr = t->y + r * OW;
        const window_axis wd = window_for(sp, 0, od);
        const window_axis wh = window_for(sp, 1, oh);
        /* the interior columns (every tap of the window's row in range) in vectors, where they go */
        int64_t vlo = 0, vend = 0;
#if POOL_X86
        const int64_t KW = sp->kernel[2], SW = sp->stride[2], PL = sp->pad_begin[2];
        if (t->avx2 && sp->in[0] == 1 && sp->kernel[0] == 1 && (SW == 1 || SW == 2)) {
            vlo = (PL + SW - 1) / SW;                         /* ow·s − pl >= 0 */
            const int64_t last = IW - 1 - (KW - 1) * DW + PL; /* ow·s <= last */
            int64_t vhi = last >= 0 ? last / SW + 1 : 0;
            vhi = vhi < OW ? vhi : OW;
            if (vhi > vlo)
                vend = max_row_avx2(xp, IW, wh.k0, wh.k1, wh.base, DH, KW, DW, SW, PL, vlo, vhi, yr);
        }
#endif
        for (int64_t ow = 0; ow < OW; ow++) {
            if (ow == vlo && vend > vlo) { /* done by the vectors */
                ow = vend - 1;
                continue;
            }
            const window_axis ww = window_for(sp, 2, ow);
            float acc = is_max ? -INFINITY : 0.0f;
            for (int64_t kd = wd.k0; kd < wd.k1; kd++) {
                const int64_t id = wd.base + kd * DD;
                for (int64_t kh = wh.k0; kh < wh.k1; kh++) {
                    const float *xr = xp + (id * IH + wh.base + kh * DH) * IW;
                    if (is_max) {
                        for (int64_t kw = ww.k0; kw < ww.k1; kw++) {
                            const float v = xr[ww.base + kw * DW];
                            acc = v > acc ? v : acc;
                        }
                    } else {
                        for (int64_t kw = ww.k0; kw < ww.k1; kw++)
                            acc += xr[ww.base + kw * DW];
                    }
                }
            }
            if (!is_max) {
                const int64_t cnt = t->count_pad ? wd.n_pad * wh.n_pad * ww.n_pad
                                                 : (wd.k1 - wd.k0) * (wh.k1 - wh.k0) * (ww.k1 - ww.k0);
                acc = cnt > 0 ? acc / (float)cnt : 0.0f;
            }
            yr[ow] = acc;
        }
    }
}

static fgq_status run_pool(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, int is_max, fgq_error *err)
{
    fgq_ops_spatial sp;
    fgq_status st = check_pool(node, in, out, &sp, err);
    if (st != FGQ_OK)
        return st;
    pool_task t = {
        .sp = &sp,
        .x = (const float *)in[0]->data,
        .y = (float *)out[0]->data,
        .is_max = is_max,
        .count_pad = !is_max && node->iparams[FGQ_P_COUNT_PAD] == 1,
#if POOL_X86
        .avx2 = is_max && fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0,
#endif
    };
    const int64_t rows = in[0]->dims[0] * in[0]->dims[1] * sp.out[0] * sp.out[1];
    const int64_t row_cost = sp.out[2] * sp.kernel[0] * sp.kernel[1] * sp.kernel[2];
    fgq_parallel_for(node->par, rows, fgq_parallel_grain(node->par, rows, row_cost), pool_rows_f32, &t);
    return FGQ_OK;
}

fgq_status fgq_maxpool_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    return run_pool(node, in, out, 1, err);
}

fgq_status fgq_avgpool_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    return run_pool(node, in, out, 0, err);
}

/* GlobalAveragePool: Y[n, c, 1, ...] = mean of X[n, c, ...] over all spatial dims. */
fgq_status fgq_global_avgpool_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                        const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    if (x->rank < 3)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "X rank %d, expected >= 3 (N, C, spatial...)",
                        FGQ_NODE_ARGS(node), (int)x->rank);
    int64_t dims[FGQ_MAX_DIMS];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int32_t i = 2; i < x->rank; i++)
        dims[i] = 1;
    return fgq_ops_check_out_dims(node, out[0], x->rank, dims, err);
}

typedef struct {
    const float *x;
    float *y;
    int64_t hw;
} gap_task;

static void global_avgpool_planes_f32(void *ctx, fgq_idx begin, fgq_idx end)
{
    const gap_task *t = (const gap_task *)ctx;
    for (int64_t p = begin; p < end; p++) {
        const float *xp = t->x + p * t->hw;
        float acc = 0.0f;
        for (int64_t i = 0; i < t->hw; i++)
            acc += xp[i];
        t->y[p] = t->hw > 0 ? acc / (float)t->hw : 0.0f;
    }
}

fgq_status fgq_global_avgpool_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                      const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0];
    gap_task t = { (const float *)x->data, (float *)out[0]->data, fgq_ops_dims_prod(x->dims, 2, x->rank) };
    const int64_t planes = x->dims[0] * x->dims[1];
    fgq_parallel_for(node->par, planes, fgq_parallel_grain(node->par, planes, t.hw), global_avgpool_planes_f32, &t);
    return FGQ_OK;
}
