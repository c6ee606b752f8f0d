/*
 * qconv.c — QCONV: integer-only convolution, 1-D/2-D/3-D, NCHW u8|s8.
 *
 *   dot[n, m, o] = Σ_k w[m, k] · (x[n, c(k), o·s − pb + tap(k)·d] − z_x)
 *
 * over k = ((c·KD + kd)·KH + kh)·KW + kw < K = (C/G)·KD·KH·KW, channels of
 * m's group; taps in the padding read z_x (contribute 0, so padding is 0.0).
 * Weights W [M, Kp] carry one packed row per output channel (ops_q.h,
 * fgq_qacc: per-group integer multipliers); then
 *   y = clamp(z_y + requant(sat32(B[m] + dot), REQ[m]), qmin, qmax).
 * The spatial block is the float Conv's (runtime/fgq_ops.h) with kernel dims
 * from iparams, since W is a 2-D packed matrix.
 */
#include "ops_q.h"
#include "ops_util.h"

typedef struct {
    fgq_qconv_geom geom;
    fgq_qweights qw;
} qconv_shape;

fgq_status fgq_qconv_geom_check(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                                fgq_qconv_geom *g, fgq_error *err)
{
    fgq_status st = fgq_ops_read_spatial(node, x, NULL, y, 0, &g->sp, err);
    if (st != FGQ_OK)
        return st;
    const int64_t groups = node->iparams[FGQ_P_GROUP], c = x->dims[1], m = y->dims[1];
    if (groups < 1 || c % groups != 0 || m % groups != 0)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "group %lld must be >= 1 and divide C_in %lld and C_out %lld",
                        FGQ_NODE_ARGS(node), (long long)groups, (long long)c, (long long)m);
    if (y->dims[0] != x->dims[0])
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y batch %lld, expected %lld", FGQ_NODE_ARGS(node),
                        (long long)y->dims[0], (long long)x->dims[0]);
    /* K = (C/G)·Πkernel, each factor <= 2^40 or 2^20: stop once past int32. */
    int64_t k = c / groups;
    for (int32_t j = 0; j < 3 && k <= INT32_MAX; j++)
        k *= g->sp.kernel[j];
    g->groups = groups;
    g->k = k;
    return FGQ_OK;
}

int32_t fgq_qconv_dot(const fgq_qconv_geom *g, const fgq_qweights *qw, const fgq_tensor_view *x, int32_t zx,
                      int64_t n, int64_t mo, int64_t od, int64_t oh, int64_t ow)
{
    const fgq_ops_spatial *sp = &g->sp;
    const int x_s8 = x->dtype == FGQ_DT_S8;
    const int64_t c_in = x->dims[1], cg = c_in / g->groups, mg = qw->rows / g->groups;
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2], x_plane = ID * IH * IW;
    const uint8_t *wrow = qw->codes + mo * qw->row_bytes;
    const int64_t c0 = (mo / mg) * cg;
    fgq_qacc a;
    fgq_qacc_begin(&a, qw, mo);
    int64_t k = 0;
    for (int64_t c = 0; c < cg; c++) {
        const void *xp = (const uint8_t *)x->data + (n * c_in + c0 + c) * x_plane;
        for (int64_t kd = 0; kd < sp->kernel[0]; kd++) {
            const int64_t id = od * sp->stride[0] - sp->pad_begin[0] + kd * sp->dilation[0];
            for (int64_t kh = 0; kh < sp->kernel[1]; kh++) {
                const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                for (int64_t kw = 0; kw < sp->kernel[2]; kw++, k++) {
                    const int64_t iw = ow * sp->stride[2] - sp->pad_begin[2] + kw * sp->dilation[2];
                    const int inside = id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW;
                    const int32_t d = inside ? fgq_q_load(xp, (id * IH + ih) * IW + iw, x_s8) - zx : 0;
                    fgq_qacc_push(&a, fgq_qw_code(qw->dtype, wrow, k), d);
                }
            }
        }
    }
    return fgq_qacc_end(&a);
}

static fgq_status qconv_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, qconv_shape *s, fgq_error *err)
{
    if (node->n_inputs < 4 || node->n_inputs > 5 || node->n_outputs != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 4..5 / 1",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs);
    if (in == NULL || out == NULL || out[0] == NULL || in[0] == NULL || in[1] == NULL || in[3] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "X, W, REQ and the output are required",
                        FGQ_NODE_ARGS(node));
    for (int32_t i = 0; i < node->n_inputs; i++) {
        fgq_status st = in[i] != NULL ? fgq_ops_check_tensor(node, in[i], "input", i, err) : FGQ_OK;
        if (st != FGQ_OK)
            return st;
    }
    const fgq_tensor_view *x = in[0], *y = out[0];
    const fgq_tensor_view *gs = node->n_inputs > 4 ? in[4] : NULL;
    fgq_status st = fgq_ops_check_tensor(node, y, "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, x, "input", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, y, "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_zero(node, x->dtype, node->iparams[FGQ_QP_X_ZERO], "input zero point", err);
    if (st == FGQ_OK)
        st = fgq_q_check_out(node, y, err);
    if (st == FGQ_OK && node->iparams[FGQ_P_ACT] != FGQ_ACT_NONE)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "fused activation %d: QCONV fuses it as the clamp range",
                        FGQ_NODE_ARGS(node), (int)node->iparams[FGQ_P_ACT]);
    if (st == FGQ_OK)
        st = fgq_qconv_geom_check(node, x, y, &s->geom, err);
    if (st != FGQ_OK)
        return st;
    return fgq_qweights_check(node, in[1], in[2], in[3], gs, y->dims[1], s->geom.k, x->dtype, &s->qw, err);
}

fgq_status fgq_qconv_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    qconv_shape s;
    return qconv_check_all(node, in, out, &s, err);
}

fgq_status fgq_qconv_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                         const fgq_tensor_view *const *out, fgq_error *err)
{
    qconv_shape s;
    fgq_status st = qconv_check_all(node, in, out, &s, err);
    if (st == FGQ_OK)
        st = fgq_qweights_check_req(node, &s.qw, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t zx = node->iparams[FGQ_QP_X_ZERO], zy = node->iparams[FGQ_QP_Y_ZERO];
    const int32_t qmin = node->iparams[FGQ_QP_QMIN], qmax = node->iparams[FGQ_QP_QMAX];
    const fgq_ops_spatial *sp = &s.geom.sp;
    const int64_t n_batch = x->dims[0], m_out = y->dims[1];
    const int64_t OD = sp->out[0], OH = sp->out[1], OW = sp->out[2], y_plane = OD * OH * OW;
    for (int64_t n = 0; n < n_batch; n++)
        for (int64_t mo = 0; mo < m_out; mo++)
            for (int64_t od = 0; od < OD; od++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        const int32_t dot = fgq_qconv_dot(&s.geom, &s.qw, x, zx, n, mo, od, oh, ow);
                        fgq_q_store(y->data, (n * m_out + mo) * y_plane + (od * OH + oh) * OW + ow, y_s8,
                                    fgq_qweights_output(&s.qw, mo, dot, zy), qmin, qmax);
                    }
    return FGQ_OK;
}
