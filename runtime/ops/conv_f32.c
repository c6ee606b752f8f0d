/*
 * conv_f32.c — direct convolution, 1-D/2-D/3-D, float32 NCHW (NCDHW).
 *
 * Y[n, m, o] = B[m] + Σ_{c ∈ group(m)} Σ_k W[m, c, k] · X[n, g·C/G + c, o·s − pb + k·d]
 * with taps outside the input reading zero (padding). X [N, C, in...],
 * W [M, C/G, k...], B [M] optional, Y [N, M, out...]; group G divides C and M;
 * fused activation iparams[FGQ_P_ACT] (none / relu / clip with fparams
 * [FGQ_PF_ACT0/1]). No scratch: the kernel walks Y row by row and adds each
 * kernel tap's contribution as a contiguous (stride 1) or strided axpy.
 */
#include "ops_f32.h"
#include "ops_util.h"

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
    const float *xd = (const float *)x->data, *wd = (const float *)w->data;
    const float *bd = b != NULL ? (const float *)b->data : NULL;
    float *yd = (float *)y->data;

    const int64_t n_batch = x->dims[0], c_in = x->dims[1], m_out = w->dims[0];
    const int64_t groups = node->iparams[FGQ_P_GROUP];
    const int64_t cg = c_in / groups, mg = m_out / groups;
    const int64_t ID = sp.in[0], IH = sp.in[1], IW = sp.in[2];
    const int64_t OD = sp.out[0], OH = sp.out[1], OW = sp.out[2];
    const int64_t KD = sp.kernel[0], KH = sp.kernel[1], KW = sp.kernel[2];
    const int64_t SD = sp.stride[0], SH = sp.stride[1], SW = sp.stride[2];
    const int64_t DD = sp.dilation[0], DH = sp.dilation[1], DW = sp.dilation[2];
    const int64_t PD = sp.pad_begin[0], PH = sp.pad_begin[1], PW = sp.pad_begin[2];
    const int64_t x_plane = ID * IH * IW, y_plane = OD * OH * OW, w_filter = cg * KD * KH * KW;

    for (int64_t n = 0; n < n_batch; n++) {
        for (int64_t mo = 0; mo < m_out; mo++) {
            const int64_t g = mo / mg;
            float *yp = yd + (n * m_out + mo) * y_plane;
            const float bias = bd != NULL ? bd[mo] : 0.0f;
            for (int64_t i = 0; i < y_plane; i++)
                yp[i] = bias;
            const float *wf = wd + mo * w_filter;
            for (int64_t c = 0; c < cg; c++) {
                const float *xp = xd + (n * c_in + g * cg + c) * x_plane;
                const float *wc = wf + c * KD * KH * KW;
                for (int64_t od = 0; od < OD; od++) {
                    for (int64_t kd = 0; kd < KD; kd++) {
                        const int64_t id = od * SD - PD + kd * DD;
                        if (id < 0 || id >= ID)
                            continue;
                        for (int64_t oh = 0; oh < OH; oh++) {
                            float *yr = yp + (od * OH + oh) * OW;
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
            }
            fgq_ops_act_apply_f32(yp, y_plane, node->iparams[FGQ_P_ACT], node->fparams[FGQ_PF_ACT0],
                                  node->fparams[FGQ_PF_ACT1]);
        }
    }
    return FGQ_OK;
}
