/*
 * conv_f32.c — direct convolution, 1-D/2-D/3-D, float32 NCHW (NCDHW).
 *
 * Y[n, m, o] = B[m] + Σ_{c ∈ group(m)} Σ_k W[m, c, k] · X[n, g·C/G + c, o·s − pb + k·d]
 * with taps outside the input reading zero (padding). X [N, C, in...],
 * W [M, C/G, k...], B [M] optional, Y [N, M, out...]; group G divides C and M;
 * fused activation iparams[FGQ_P_ACT] (none / relu / clip with fparams
 * [FGQ_PF_ACT0/1]). No scratch: the kernel walks Y row by row and adds each
 * kernel tap's contribution as a contiguous (stride 1) or strided axpy. Rows
 * of Y are split over node->par's threads (bit-identical for any split).
 */
#include "ops_f32.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

fgq_status fgq_conv_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 3, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *w = in[1], *y = out[0];
    const fgq_tensor_view *b = node->n_inputs > 2 ? in[2] : NULL;
    fgq_ops_spatial sp;
    st = fgq_ops_read_spatial(node, x, w, y, 0, &sp, err);
    if (st != FGQ_OK)
        return st;
    st = fgq_ops_check_act(node, node->iparams[FGQ_P_ACT], err);
    if (st != FGQ_OK)
        return st;
    const int64_t g = node->iparams[FGQ_P_GROUP], c = x->dims[1], m = w->dims[0];
    if (g < 1 || c % g != 0 || m % g != 0)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "group %lld must be >= 1 and divide C_in %lld and C_out %lld",
                        FGQ_NODE_ARGS(node), (long long)g, (long long)c, (long long)m);
    if (w->dims[1] * g != c)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "W dim 1 is %lld, expected C_in/group = %lld",
                        FGQ_NODE_ARGS(node), (long long)w->dims[1], (long long)(c / g));
    if (b != NULL && (b->rank != 1 || b->dims[0] != m))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "bias must be [%lld], got rank %d dim0 %lld",
                        FGQ_NODE_ARGS(node), (long long)m, (int)b->rank, (long long)(b->rank > 0 ? b->dims[0] : -1));
    if (y->dims[0] != x->dims[0] || y->dims[1] != m)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y is [%lld, %lld, ...], expected [%lld, %lld, ...]",
                        FGQ_NODE_ARGS(node), (long long)y->dims[0], (long long)y->dims[1], (long long)x->dims[0],
                        (long long)m);
    return FGQ_OK;
}

/* Output positions o in [lo, hi) whose tap o·s + off lands in [0, in). */
static void tap_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t l = off < 0 ? (-off + s - 1) / s : 0;
    int64_t h = in - off > 0 ? (in - off + s - 1) / s : 0;
    *lo = l;
    *hi = h < out ? h : out;
}

/* Everything a chunk of output rows needs; read-only while the tasks run. */
typedef struct {
    const fgq_node_view *node;
    const fgq_ops_spatial *sp;
    const float *x, *w, *b;
    float *y;
    int64_t c_in, m_out, cg, mg;
} conv_task;

/* Output rows [begin, end) of the flattened (n, m, od, oh) row space. Each
 * output element accumulates bias, then every (c, kd, kh, kw) tap in that
 * order, then the activation — the same sequence whatever rows share a
 * chunk, so any split gives bit-identical results. */
static void conv_rows_f32(void *ctx, fgq_idx begin, fgq_idx end)
{
    const conv_task *t = (const conv_task *)ctx;
    const fgq_ops_spatial *sp = t->sp;
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2];
    const int64_t OD = sp->out[0], OH = sp->out[1], OW = sp->out[2];
    const int64_t KD = sp->kernel[0], KH = sp->kernel[1], KW = sp->kernel[2];
    const int64_t SD = sp->stride[0], SH = sp->stride[1], SW = sp->stride[2];
    const int64_t DD = sp->dilation[0], DH = sp->dilation[1], DW = sp->dilation[2];
    const int64_t PD = sp->pad_begin[0], PH = sp->pad_begin[1], PW = sp->pad_begin[2];
    const int64_t x_plane = ID * IH * IW, rows = OD * OH, y_plane = rows * OW;
    const int64_t w_filter = t->cg * KD * KH * KW;
    const int32_t act = t->node->iparams[FGQ_P_ACT];
    const float act_lo = t->node->fparams[FGQ_PF_ACT0], act_hi = t->node->fparams[FGQ_PF_ACT1];
    const float *const X = t->x, *const Wt = t->w, *const B = t->b;
    float *const Y = t->y;
    const int64_t c_in = t->c_in, m_out = t->m_out, cg = t->cg, mg = t->mg;

    for (int64_t r = begin; r < end;) {
        /* The run of rows [r0, r1) that lies in output plane (n, mo). */
        const int64_t plane = r / rows, r0 = r % rows;
        const int64_t r1 = rows - r0 < end - r ? rows : r0 + (end - r);
        r += r1 - r0;
        const int64_t n = plane / m_out, mo = plane % m_out, g = mo / mg;
        float *yp = Y + plane * y_plane;
        const float bias = B != NULL ? B[mo] : 0.0f;
        for (int64_t i = r0 * OW; i < r1 * OW; i++)
            yp[i] = bias;
        const float *wf = Wt + mo * w_filter;
        for (int64_t c = 0; c < cg; c++) {
            const float *xp = X + (n * c_in + g * cg + c) * x_plane;
            const float *wc = wf + c * KD * KH * KW;
            for (int64_t row = r0; row < r1; row++) {
                const int64_t od = row / OH, oh = row % OH;
                float *yr = yp + row * OW;
                for (int64_t kd = 0; kd < KD; kd++) {
                    const int64_t id = od * SD - PD + kd * DD;
                    if (id < 0 || id >= ID)
                        continue;
                    for (int64_t kh = 0; kh < KH; kh++) {
                        const int64_t ih = oh * SH - PH + kh * DH;
                        if (ih < 0 || ih >= IH)
                            continue;
                        const float *xr = xp + (id * IH + ih) * IW;
                        const float *wr = wc + (kd * KH + kh) * KW;
                        for (int64_t kw = 0; kw < KW; kw++) {
                            const int64_t off = kw * DW - PW;
                            int64_t lo, hi;
                            tap_range(off, SW, IW, OW, &lo, &hi);
                            const float wv = wr[kw];
                            if (SW == 1) {
                                for (int64_t ow = lo; ow < hi; ow++)
                                    yr[ow] += wv * xr[ow + off];
                            } else {
                                for (int64_t ow = lo; ow < hi; ow++)
                                    yr[ow] += wv * xr[ow * SW + off];
                            }
                        }
                    }
                }
            }
        }
        fgq_ops_act_apply_f32(yp + r0 * OW, (r1 - r0) * OW, act, act_lo, act_hi);
    }
}

/* The panels' scratch where the target's run may take them (x86 with AVX2: conv_f32_gemm.c), or
 * the depthwise rows' padded plane (conv_f32_dw.c), else 0. */
static uint64_t conv_f32_scratch_bytes(const fgq_ops_spatial *sp, int64_t cg, int64_t mg, const fgq_target *target)
{
    if (!target->conv_f32_panels)
        return 0;
    if (fgq_conv_f32_gemm_fits(sp, cg, mg))
        return fgq_conv_f32_gemm_scratch(sp, cg, mg);
    return fgq_conv_f32_dw_scratch(sp, cg);
}

fgq_status fgq_conv_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    const fgq_tensor_view *x = in[0], *w = in[1], *y = out[0];
    const fgq_tensor_view *b = node->n_inputs > 2 ? in[2] : NULL;
    fgq_ops_spatial sp;
    /* Re-reading the (already checked) params is cheap and keeps run free of
     * any state carried over from check. */
    fgq_status st = fgq_ops_read_spatial(node, x, w, y, 0, &sp, err);
    if (st != FGQ_OK)
        return st;
    const int64_t groups = node->iparams[FGQ_P_GROUP];
    const int64_t cg = x->dims[1] / groups, mg = w->dims[0] / groups;
    st = fgq_scratch_begin(node, conv_f32_scratch_bytes(&sp, cg, mg, fgq_target_build()), err);
    if (st != FGQ_OK)
        return st;
    conv_task t = {
        .node = node,
        .sp = &sp,
        .x = (const float *)x->data,
        .w = (const float *)w->data,
        .b = b != NULL ? (const float *)b->data : NULL,
        .y = (float *)y->data,
        .c_in = x->dims[1],
        .m_out = w->dims[0],
        .cg = cg,
        .mg = mg,
    };
    /* Enough output channels per group and taps per channel: the packed GEMM
     * (conv_f32_gemm.c), where the CPU has AVX2+FMA (its AVX-512 kernel where
     * it has AVX-512F: the same bytes) and the reference kernels were not
     * asked for. */
    const uint32_t cpu = fgq_node_cpu(node);
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (cpu & FGQ_CPU_AVX2) != 0 &&
        fgq_conv_f32_gemm_fits(&sp, t.cg, t.mg)) {
        return fgq_conv_f32_gemm(node, &sp, t.x, t.w, t.b, t.y, x->dims[0], t.c_in, t.m_out, groups,
                                 (cpu & FGQ_CPU_AVX512F) != 0 ? 2 : 1, err);
    }
    /* One input channel per group (depthwise): the rows of conv_f32_dw.c, one fused multiply-add a tap
     * (their twin fgq_conv_f32_dw_ref's bytes, within float rounding of the loops below). */
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (cpu & FGQ_CPU_AVX2) != 0 && fgq_conv_f32_dw_fits(&sp, t.cg)) {
        fgq_conv_f32_dw(node, &sp, t.x, t.w, t.b, t.y, x->dims[0], t.c_in, t.m_out, groups);
        return FGQ_OK;
    }
    /* Rows of output (batch × output channel × od × oh) are independent: the
     * unit of work handed to threads. */
    const int64_t n_rows = x->dims[0] * t.m_out * sp.out[0] * sp.out[1];
    const int64_t row_cost = sp.out[2] * t.cg * sp.kernel[0] * sp.kernel[1] * sp.kernel[2];
    fgq_parallel_for(node->par, n_rows, fgq_parallel_grain(node->par, n_rows, row_cost), conv_rows_f32, &t);
    return FGQ_OK;
}

uint64_t fgq_conv_f32_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, const fgq_target *target)
{
    fgq_ops_spatial sp;
    if (fgq_conv_f32_check(node, in, out, NULL) != FGQ_OK ||
        fgq_ops_read_spatial(node, in[0], in[1], out[0], 0, &sp, NULL) != FGQ_OK)
        return 0;
    const int64_t groups = node->iparams[FGQ_P_GROUP];
    return conv_f32_scratch_bytes(&sp, in[0]->dims[1] / groups, in[1]->dims[0] / groups, target);
}
