/*
 * qpool.c — QMAXPOOL, QAVGPOOL, QGLOBAL_AVGPOOL on u8|s8 NCHW (1-D/2-D/3-D).
 *
 * Windows, padding, ceil_mode and count_include_pad are those of the float
 * pools (pool_f32.c). With d = q − z_x per in-range tap:
 *   QMAXPOOL:  y = clamp(z_y + max d, qmin, qmax)   (a window with no tap: qmin)
 *   QAVGPOOL / QGLOBAL_AVGPOOL: S = Σ d (padding taps are 0.0, i.e. d = 0),
 *     c = tap count (float rule), then
 *       REQ_MULT == 0 (same scale):  y = clamp(z_y + rdiv(S, c), qmin, qmax)
 *       otherwise:                   y = clamp(z_y + requant(rdiv(S·2^8, c), mult, shift), qmin, qmax)
 *     rdiv rounds halves away from zero; requant is fgq_requantize_s32 with
 *     the real multiplier s_x / (2^8 · s_y). c == 0 gives y = clamp(z_y).
 * Bound: the window (or plane) has at most (2^31 − 1) / 255 taps, so S is int32.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"
#include "quant/affine.h"

#define QAVG_FRAC_BITS 8
#define QPOOL_MAX_TAPS (INT32_MAX / 255)

static fgq_status check_qparams(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                                int with_req, fgq_error *err)
{
    const int32_t *ip = node->iparams;
    fgq_status st;
    if ((st = fgq_q_check_act(node, x, "input", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_act(node, y, "output", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_zero(node, x->dtype, ip[FGQ_QP_X_ZERO], "input zero point", err)) != FGQ_OK ||
        (st = fgq_q_check_out(node, y, err)) != FGQ_OK)
        return st;
    if (with_req)
        return fgq_q_check_req(node, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT], -31, 31, "output", err);
    return FGQ_OK;
}

static fgq_status check_qpool(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, int is_avg, fgq_ops_spatial *sp, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    if ((st = check_qparams(node, x, y, is_avg, err)) != FGQ_OK)
        return st;
    if ((st = fgq_ops_read_spatial(node, x, NULL, y, 1, sp, err)) != FGQ_OK)
        return st;
    for (int32_t j = 0; j < 3; j++) {
        const int64_t ext = sp->dilation[j] * (sp->kernel[j] - 1) + 1;
        if (sp->pad_begin[j] >= ext || sp->pad_end[j] >= ext)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "pads %lld, %lld must be smaller than the window %lld",
                            FGQ_NODE_ARGS(node), (long long)sp->pad_begin[j], (long long)sp->pad_end[j],
                            (long long)ext);
    }
    if (sp->kernel[0] * sp->kernel[1] > QPOOL_MAX_TAPS / sp->kernel[2]) /* each <= 2^20: no overflow */
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "window of more than %d taps", FGQ_NODE_ARGS(node),
                        (int)QPOOL_MAX_TAPS);
    if (is_avg && node->iparams[FGQ_P_COUNT_PAD] != 0 && node->iparams[FGQ_P_COUNT_PAD] != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "count_include_pad %d, expected 0 or 1",
                        FGQ_NODE_ARGS(node), (int)node->iparams[FGQ_P_COUNT_PAD]);
    if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1])
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y is [%lld, %lld, ...], expected [%lld, %lld, ...]",
                        FGQ_NODE_ARGS(node), (long long)y->dims[0], (long long)y->dims[1], (long long)x->dims[0],
                        (long long)x->dims[1]);
    return FGQ_OK;
}

fgq_status fgq_qmaxpool_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_ops_spatial sp;
    return check_qpool(node, in, out, 0, &sp, err);
}

fgq_status fgq_qavgpool_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_ops_spatial sp;
    return check_qpool(node, in, out, 1, &sp, err);
}

/* Average output for the sum S of c taps (c >= 0), before the clamp. */
static int64_t avg_out(const int32_t *ip, int32_t s, int64_t c)
{
    const int32_t mult = ip[FGQ_QP_REQ_MULT];
    if (c == 0)
        return ip[FGQ_QP_Y_ZERO];
    if (mult == 0)
        return ip[FGQ_QP_Y_ZERO] + fgq_q_rdiv(s, c);
    const int32_t v = (int32_t)fgq_q_rdiv((int64_t)s * (1 << QAVG_FRAC_BITS), c); /* |v| <= 255·2^8 */
    return (int64_t)ip[FGQ_QP_Y_ZERO] + fgq_requantize_s32(v, mult, ip[FGQ_QP_REQ_SHIFT]);
}

/* One axis of a window: the in-range taps k0 <= k < k1 and the count of taps
 * inside the padded input [−pb, in + pe) (count_include_pad). */
typedef struct {
    fgq_idx base, k0, k1, n_pad;
} qwindow;

static qwindow qwindow_for(const fgq_ops_spatial *sp, int32_t j, fgq_idx o)
{
    qwindow w;
    const fgq_idx s = sp->stride[j], d = sp->dilation[j], k = sp->kernel[j], in = sp->in[j];
    w.base = o * s - sp->pad_begin[j];
    const fgq_idx lo = w.base < 0 ? (-w.base + d - 1) / d : 0;
    const fgq_idx hi = in - w.base > 0 ? (in - w.base + d - 1) / d : 0;
    const fgq_idx lim_pad = in + sp->pad_end[j];
    const fgq_idx hp = lim_pad - w.base > 0 ? (lim_pad - w.base + d - 1) / d : 0;
    w.k0 = lo < k ? lo : k;
    w.k1 = hi < k ? hi : k;
    if (w.k1 < w.k0)
        w.k1 = w.k0;
    w.n_pad = hp < k ? hp : k;
    return w;
}

/* Max pool whose windows all lie inside X (2-D or 1-D, no padding, no
 * dilation, the last window within the input): the same values as the
 * general loop (max of x − z_x, then + z_y), without its per-tap window
 * arithmetic. Returns 0 when the geometry is not of that kind. */
static int run_qmaxpool_inside(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                               const fgq_ops_spatial *sp)
{
    for (int j = 0; j < 3; j++)
        if (sp->pad_begin[j] != 0 || sp->dilation[j] != 1 || (sp->out[j] - 1) * sp->stride[j] + sp->kernel[j] > sp->in[j])
            return 0;
    if (sp->in[0] != 1 || sp->kernel[0] != 1)
        return 0;
    const int32_t *ip = node->iparams;
    const int x_s8 = x->dtype == FGQ_DT_S8, y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t zx = ip[FGQ_QP_X_ZERO], zy = ip[FGQ_QP_Y_ZERO], qmin = ip[FGQ_QP_QMIN], qmax = ip[FGQ_QP_QMAX];
    const fgq_idx planes = x->dims[0] * x->dims[1], IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const fgq_idx KH = sp->kernel[1], KW = sp->kernel[2], sh = sp->stride[1], sw = sp->stride[2];
    for (fgq_idx pl = 0; pl < planes; pl++) {
        const uint8_t *xp = (const uint8_t *)x->data + pl * IH * IW;
        for (fgq_idx oh = 0; oh < OH; oh++)
            for (fgq_idx ow = 0; ow < OW; ow++) {
                const uint8_t *w = xp + oh * sh * IW + ow * sw;
                int32_t m = INT32_MIN;
                for (fgq_idx kh = 0; kh < KH; kh++, w += IW)
                    for (fgq_idx kw = 0; kw < KW; kw++) {
                        const int32_t v = x_s8 ? (int32_t)(int8_t)w[kw] : (int32_t)w[kw];
                        m = v > m ? v : m;
                    }
                fgq_q_store(y->data, (pl * OH + oh) * OW + ow, y_s8, (fgq_idx)zy + (m - zx), qmin, qmax);
            }
    }
    return 1;
}

/* Max pool, 2-D (or 1-D) without dilation, rows up to QMAX_ROW bytes, any padding and ceil
 * mode: per output row, the byte-wise max of the input rows its windows cover (clipped to
 * X: a tap in the padding takes no part, as in the general loop), then the max of KW
 * neighbours at every column (in place, KW − 1 passes of max(c, c + 1)), read at each
 * output whose window lies inside the row; border
 * windows take their clipped columns. s8 codes are compared as u8 after flipping the sign
 * bit (the same order); the output stage (zy + v − zx, clamped) is a 256-byte table of the
 * flipped byte, since max commutes with it. Planes in parallel. Returns 0, leaving the
 * layer to the general loop, for other geometries and where some window has no tap inside X
 * (the general loop outputs qmin there). vmax (1 KB) and the table are on the stack: within
 * the runtime's 2 KB frame limit. */
#define QMAX_ROW 1024

typedef struct {
    const fgq_ops_spatial *sp;
    const uint8_t *x;
    uint8_t *y;
    uint8_t flip;
    int x_s8, y_s8;
    int32_t zx, zy, qmin, qmax;
} qmax_rows_task;

static void qmaxpool_rows_planes(void *ctx, fgq_idx b, fgq_idx e)
{
    const qmax_rows_task *t = (const qmax_rows_task *)ctx;
    const fgq_ops_spatial *sp = t->sp;
    const fgq_idx IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const fgq_idx KH = sp->kernel[1], KW = sp->kernel[2], sh = sp->stride[1], sw = sp->stride[2];
    const fgq_idx pt = sp->pad_begin[1], pl = sp->pad_begin[2];
    const uint8_t flip = t->flip;
    uint8_t vmax[QMAX_ROW], out[256];
    for (int32_t v = 0; v < 256; v++) { /* flipped byte -> output byte */
        const int32_t q = t->x_s8 ? (int32_t)(int8_t)(uint8_t)(v ^ flip) : v;
        fgq_q_store(out, v, t->y_s8, (fgq_idx)t->zy + (q - t->zx), t->qmin, t->qmax);
    }
    for (fgq_idx p = b; p < e; p++) {
        const uint8_t *xp = t->x + p * IH * IW;
        uint8_t *yp = t->y + p * OH * OW;
        for (fgq_idx oh = 0; oh < OH; oh++) {
            const fgq_idx h0 = oh * sh - pt, r0 = h0 > 0 ? h0 : 0, r1 = h0 + KH < IH ? h0 + KH : IH;
            for (fgq_idx c = 0; c < IW; c++)
                vmax[c] = xp[r0 * IW + c] ^ flip;
            for (fgq_idx r = r0 + 1; r < r1; r++) {
                const uint8_t *xr = xp + r * IW;
                for (fgq_idx c = 0; c < IW; c++) {
                    const uint8_t v = xr[c] ^ flip;
                    vmax[c] = v > vmax[c] ? v : vmax[c];
                }
            }
            /* border windows first, from the column maxima */
            for (fgq_idx ow = 0; ow < OW; ow++) {
                const fgq_idx w0 = ow * sw - pl;
                if (w0 >= 0 && w0 + KW <= IW)
                    continue;
                const fgq_idx c0 = w0 > 0 ? w0 : 0, c1 = w0 + KW < IW ? w0 + KW : IW;
                uint8_t m = vmax[c0];
                for (fgq_idx c = c0 + 1; c < c1; c++)
                    m = vmax[c] > m ? vmax[c] : m;
                yp[oh * OW + ow] = out[m];
            }
            for (fgq_idx kw = 1; kw < KW; kw++) /* each pass widens the windows by one: after it, vmax[c] is */
                for (fgq_idx c = 0; c + kw < IW; c++) /* the max of columns c .. c + kw (c + 1 not yet written) */
                    vmax[c] = vmax[c + 1] > vmax[c] ? vmax[c + 1] : vmax[c];
            for (fgq_idx ow = 0; ow < OW; ow++) {
                const fgq_idx w0 = ow * sw - pl;
                if (w0 >= 0 && w0 + KW <= IW)
                    yp[oh * OW + ow] = out[vmax[w0]];
            }
        }
    }
}

static int run_qmaxpool_rows(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                             const fgq_ops_spatial *sp)
{
    if (sp->in[0] != 1 || sp->kernel[0] != 1 || sp->out[0] != 1 || sp->dilation[1] != 1 || sp->dilation[2] != 1 ||
        sp->in[2] > QMAX_ROW)
        return 0;
    const fgq_idx IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const fgq_idx KH = sp->kernel[1], KW = sp->kernel[2], sh = sp->stride[1], sw = sp->stride[2];
    const fgq_idx pt = sp->pad_begin[1], pl = sp->pad_begin[2];
    for (fgq_idx oh = 0; oh < OH; oh++) /* every window must hold a tap of X */
        if (oh * sh - pt + KH <= 0 || oh * sh - pt >= IH)
            return 0;
    for (fgq_idx ow = 0; ow < OW; ow++)
        if (ow * sw - pl + KW <= 0 || ow * sw - pl >= IW)
            return 0;
    const int32_t *ip = node->iparams;
    const qmax_rows_task t = {
        .sp = sp,
        .x = (const uint8_t *)x->data,
        .y = (uint8_t *)y->data,
        .flip = x->dtype == FGQ_DT_S8 ? 0x80u : 0u,
        .x_s8 = x->dtype == FGQ_DT_S8,
        .y_s8 = y->dtype == FGQ_DT_S8,
        .zx = ip[FGQ_QP_X_ZERO],
        .zy = ip[FGQ_QP_Y_ZERO],
        .qmin = ip[FGQ_QP_QMIN],
        .qmax = ip[FGQ_QP_QMAX],
    };
    const fgq_idx planes = x->dims[0] * x->dims[1];
    fgq_parallel_for(node->par, planes, fgq_parallel_grain(node->par, planes, (int64_t)IH * IW * (KH + KW)), qmaxpool_rows_planes,
                     (void *)&t);
    return 1;
}

/* Inlined into both runs, each with is_avg a constant: a firmware that links one pool (op selection)
 * links only its copy, without the other's code. */
static inline __attribute__((always_inline)) void run_qpool(const fgq_node_view *node, const fgq_tensor_view *x,
                                                            const fgq_tensor_view *y, const fgq_ops_spatial *sp,
                                                            int is_avg)
{
    if (!is_avg && fgq_node_kernels(node) != FGQ_KERNELS_REF &&
        (run_qmaxpool_inside(node, x, y, sp) || run_qmaxpool_rows(node, x, y, sp)))
        return;
    const int32_t *ip = node->iparams;
    const int x_s8 = x->dtype == FGQ_DT_S8, y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t zx = ip[FGQ_QP_X_ZERO], zy = ip[FGQ_QP_Y_ZERO], qmin = ip[FGQ_QP_QMIN], qmax = ip[FGQ_QP_QMAX];
    const int count_pad = is_avg && ip[FGQ_P_COUNT_PAD] == 1;
    const fgq_idx planes = x->dims[0] * x->dims[1];
    const fgq_idx IH = sp->in[1], IW = sp->in[2], x_plane = sp->in[0] * IH * IW;
    const fgq_idx OD = sp->out[0], OH = sp->out[1], OW = sp->out[2];
    for (fgq_idx pl = 0; pl < planes; pl++) {
        const uint8_t *xp = (const uint8_t *)x->data + pl * x_plane;
        for (fgq_idx od = 0; od < OD; od++) {
            const qwindow wd = qwindow_for(sp, 0, od);
            for (fgq_idx oh = 0; oh < OH; oh++) {
                const qwindow wh = qwindow_for(sp, 1, oh);
                for (fgq_idx ow = 0; ow < OW; ow++) {
                    const qwindow ww = qwindow_for(sp, 2, ow);
                    int32_t acc = is_avg ? 0 : INT32_MIN;
                    for (fgq_idx kd = wd.k0; kd < wd.k1; kd++)
                        for (fgq_idx kh = wh.k0; kh < wh.k1; kh++)
                            for (fgq_idx kw = ww.k0; kw < ww.k1; kw++) {
                                const fgq_idx i = ((wd.base + kd * sp->dilation[0]) * IH + wh.base +
                                                   kh * sp->dilation[1]) * IW + ww.base + kw * sp->dilation[2];
                                const int32_t d = fgq_q_load(xp, i, x_s8) - zx;
                                if (is_avg)
                                    acc += d;
                                else if (d > acc)
                                    acc = d;
                            }
                    int64_t v;
                    if (is_avg) {
                        const int64_t c = count_pad ? (int64_t)wd.n_pad * wh.n_pad * ww.n_pad
                                                    : (int64_t)(wd.k1 - wd.k0) * (wh.k1 - wh.k0) * (ww.k1 - ww.k0);
                        v = avg_out(ip, acc, c);
                    } else {
                        v = acc == INT32_MIN ? qmin : (fgq_idx)zy + acc;
                    }
                    fgq_q_store(y->data, (pl * OD + od) * OH * OW + oh * OW + ow, y_s8, v, qmin, qmax);
                }
            }
        }
    }
}

fgq_status fgq_qmaxpool_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_ops_spatial sp;
    fgq_status st = check_qpool(node, in, out, 0, &sp, err);
    if (st == FGQ_OK)
        run_qpool(node, in[0], out[0], &sp, 0);
    return st;
}

fgq_status fgq_qavgpool_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_ops_spatial sp;
    fgq_status st = check_qpool(node, in, out, 1, &sp, err);
    if (st == FGQ_OK)
        run_qpool(node, in[0], out[0], &sp, 1);
    return st;
}

fgq_status fgq_qglobal_avgpool_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                     const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    if ((st = check_qparams(node, x, out[0], 1, err)) != FGQ_OK)
        return st;
    if (x->rank < 3)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "X rank %d, expected >= 3 (N, C, spatial...)",
                        FGQ_NODE_ARGS(node), (int)x->rank);
    if (fgq_ops_dims_prod(x->dims, 2, x->rank) > QPOOL_MAX_TAPS)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "plane of more than %d elements", FGQ_NODE_ARGS(node),
                        (int)QPOOL_MAX_TAPS);
    int64_t dims[FGQ_MAX_DIMS];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int32_t i = 2; i < x->rank; i++)
        dims[i] = 1;
    return fgq_ops_check_out_dims(node, out[0], x->rank, dims, err);
}

typedef struct {
    const fgq_node_view *node;
    const fgq_tensor_view *x, *y;
    fgq_idx hw;
} qgap_task;

/* Planes [b, e) of the global average pool. */
static void qgap_planes(void *ctx, fgq_idx b, fgq_idx e)
{
    const qgap_task *t = (const qgap_task *)ctx;
    const int32_t *ip = t->node->iparams;
    const int x_s8 = t->x->dtype == FGQ_DT_S8, y_s8 = t->y->dtype == FGQ_DT_S8;
    const fgq_idx hw = t->hw;
    for (fgq_idx p = b; p < e; p++) {
        /* Σ (x − z_x) as Σ x − hw·z_x, wrapping as the sum of the differences does (the check bounds
         * hw·255 within int32); the plain sum over bytes vectorises */
        uint32_t s = 0;
        if (x_s8) {
            const int8_t *xp = (const int8_t *)t->x->data + p * hw;
            for (fgq_idx i = 0; i < hw; i++)
                s += (uint32_t)(int32_t)xp[i];
        } else {
            const uint8_t *xp = (const uint8_t *)t->x->data + p * hw;
            for (fgq_idx i = 0; i < hw; i++)
                s += xp[i];
        }
        s -= (uint32_t)hw * (uint32_t)ip[FGQ_QP_X_ZERO];
        fgq_q_store(t->y->data, p, y_s8, avg_out(ip, (int32_t)s, hw), ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
    }
}

fgq_status fgq_qglobal_avgpool_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                   const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_qglobal_avgpool_check(node, in, out, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0];
    const qgap_task t = { node, x, out[0], fgq_ops_dims_prod(x->dims, 2, x->rank) };
    const fgq_idx planes = x->dims[0] * x->dims[1];
    fgq_parallel_for(node->par, planes, fgq_parallel_grain(node->par, planes, t.hw), qgap_planes, (void *)&t);
    return FGQ_OK;
}
