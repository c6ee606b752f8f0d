/* qutil.c — checks and weight-operand helpers shared by the integer-only kernels (ops_q.h). */
#include "ops_q.h"
#include "ops_util.h"
#include "quant/affine.h"
#include "quant/s2.h"
#include "quant/s3.h"

#include <string.h>

int fgq_q_act_range(fgq_dtype dt, int32_t *lo, int32_t *hi)
{
    if (dt == FGQ_DT_U8) {
        *lo = 0;
        *hi = 255;
        return 1;
    }
    if (dt == FGQ_DT_S8) {
        *lo = -128;
        *hi = 127;
        return 1;
    }
    return 0;
}

fgq_status fgq_q_check_act(const fgq_node_view *node, const fgq_tensor_view *t, const char *role, int32_t index,
                           fgq_error *err)
{
    if (t->dtype != FGQ_DT_U8 && t->dtype != FGQ_DT_S8)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "%s %d has dtype %s, expected u8 or s8",
                        FGQ_NODE_ARGS(node), role, (int)index, fgq_dtype_name(t->dtype));
    return FGQ_OK;
}

fgq_status fgq_q_check_zero(const fgq_node_view *node, fgq_dtype dt, int32_t z, const char *what, fgq_error *err)
{
    int32_t lo = 0, hi = 0;
    if (!fgq_q_act_range(dt, &lo, &hi) || z < lo || z > hi)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%s %d outside the %s range", FGQ_NODE_ARGS(node), what,
                        (int)z, fgq_dtype_name(dt));
    return FGQ_OK;
}

fgq_status fgq_q_check_out(const fgq_node_view *node, const fgq_tensor_view *y, fgq_error *err)
{
    const int32_t *ip = node->iparams;
    fgq_status st = fgq_q_check_zero(node, y->dtype, ip[FGQ_QP_Y_ZERO], "output zero point", err);
    if (st != FGQ_OK)
        return st;
    int32_t lo = 0, hi = 0;
    fgq_q_act_range(y->dtype, &lo, &hi);
    const int32_t qmin = ip[FGQ_QP_QMIN], qmax = ip[FGQ_QP_QMAX];
    if (qmin < lo || qmax > hi || qmin > qmax)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "output clamp [%d, %d] is empty or outside %s [%d, %d]",
                        FGQ_NODE_ARGS(node), (int)qmin, (int)qmax, fgq_dtype_name(y->dtype), (int)lo, (int)hi);
    return FGQ_OK;
}

fgq_status fgq_q_check_req(const fgq_node_view *node, int32_t mult, int32_t shift, int32_t shift_lo,
                           int32_t shift_hi, const char *what, fgq_error *err)
{
    if (mult < 0 || shift < shift_lo || shift > shift_hi)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        FGQ_NODE_FMT "%s requantization (multiplier %ld, shift %ld): expected multiplier >= 0, shift in %ld..%ld",
                        FGQ_NODE_ARGS(node), what, (long)mult, (long)shift, (long)shift_lo, (long)shift_hi);
    return FGQ_OK;
}

int32_t fgq_qw_code_subbyte(fgq_dtype dt, const uint8_t *row, fgq_idx k)
{
    if (dt == FGQ_DT_S3)
        return fgq_s3_get(row, k);
    if (dt == FGQ_DT_S2)
        return fgq_s2_get(row, k);
    const int32_t nib = (row[k >> 1] >> (4 * (k & 1))) & 15; /* s4 */
    return nib >= 8 ? nib - 16 : nib;
}

int32_t fgq_qw_code_max(fgq_dtype dt)
{
    switch (dt) {
    case FGQ_DT_S8:
        return 128;
    case FGQ_DT_S4:
        return 8;
    case FGQ_DT_S3:
        return 4;
    case FGQ_DT_S2:
        return 3;
    case FGQ_DT_T2:
        return 1;
    default:
        return 0;
    }
}

int64_t fgq_qw_row_bytes(fgq_dtype dt, int64_t k, int64_t *kp)
{
    /* a row's packing unit: `codes` codes in `bytes` bytes (rows start on a unit) */
    const int64_t codes = dt == FGQ_DT_T2 || dt == FGQ_DT_S2 ? 4 : dt == FGQ_DT_S4 ? 2 : dt == FGQ_DT_S3 ? 8 : 1;
    const int64_t bytes = dt == FGQ_DT_S3 ? 3 : 1, units = (k + codes - 1) / codes;
    if (kp != NULL)
        *kp = units * codes;
    return units * bytes;
}

static fgq_status check_dims2(const fgq_node_view *node, const fgq_tensor_view *t, const char *what, fgq_dtype dt,
                              int32_t rank, int64_t d0, int64_t d1, int64_t d2, fgq_error *err)
{
    const int64_t want[3] = { d0, d1, d2 };
    int ok = t->dtype == dt && t->rank == rank;
    for (int32_t i = 0; ok && i < rank; i++)
        ok = t->dims[i] == want[i];
    if (!ok) {
        if (rank == 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%s must be %s [%lld]", FGQ_NODE_ARGS(node), what,
                            fgq_dtype_name(dt), (long long)d0);
        if (rank == 2)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%s must be %s [%lld, %lld]", FGQ_NODE_ARGS(node),
                            what, fgq_dtype_name(dt), (long long)d0, (long long)d1);
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%s must be %s [%lld, %lld, %lld]", FGQ_NODE_ARGS(node),
                        what, fgq_dtype_name(dt), (long long)d0, (long long)d1, (long long)d2);
    }
    return FGQ_OK;
}

/* W, GS and the W_* params for QCONV/QGEMM (b_dt s32, req present) and the
 * dynamic ops (b_dt f32, w_scale present); dx = largest |q_x − z_x|. */
static fgq_status qweights_check_impl(const fgq_node_view *node, const fgq_tensor_view *w, const fgq_tensor_view *b,
                                      fgq_dtype b_dt, const fgq_tensor_view *req, const fgq_tensor_view *w_scale,
                                      const fgq_tensor_view *gs, int64_t rows, int64_t k, int64_t dx,
                                      fgq_qweights *qw, fgq_error *err)
{
    const int32_t *ip = node->iparams;
    const int32_t cmax = fgq_qw_code_max(w->dtype);
    if (cmax == 0)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "W has dtype %s, expected s8, s4, s3, s2 or t2",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(w->dtype));
    if (k < 1 || rows < 1)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "reduction length %lld and %lld output channels, expected >= 1",
                        FGQ_NODE_ARGS(node), (long long)k, (long long)rows);
    int64_t kp;
    const int64_t row_bytes = fgq_qw_row_bytes(w->dtype, k, &kp);
    fgq_status st = check_dims2(node, w, "W", w->dtype, 2, rows, kp, 0, err);
    if (st != FGQ_OK)
        return st;
    if (b != NULL && (st = check_dims2(node, b, "bias", b_dt, 1, rows, 0, 0, err)) != FGQ_OK)
        return st;
    if (req != NULL && (st = check_dims2(node, req, "REQ", FGQ_DT_S32, 2, rows, 2, 0, err)) != FGQ_OK)
        return st;
    if (w_scale != NULL && (st = check_dims2(node, w_scale, "W_SCALE", FGQ_DT_F32, 1, rows, 0, 0, err)) != FGQ_OK)
        return st;

    const int32_t group = ip[FGQ_QP_W_GROUP], n_alpha = ip[FGQ_QP_W_NALPHA], mmax = ip[FGQ_QP_W_MMAX];
    qw->dtype = w->dtype;
    qw->rows = rows;
    qw->k = k;
    qw->row_bytes = row_bytes;
    qw->has_gs = gs != NULL;
    if (gs == NULL) {
        if (group != 0 || n_alpha != 0 || mmax != 0)
            return fgq_fail(err, FGQ_ERR_FORMAT,
                            FGQ_NODE_FMT "group size %d, n_alpha %d, M %d without group multipliers, expected 0, 0, 0",
                            FGQ_NODE_ARGS(node), (int)group, (int)n_alpha, (int)mmax);
        qw->group = k;
        qw->n_groups = 1;
        qw->n_alpha = 1;
        qw->mmax = 1;
    } else {
        if (group < 1 || mmax < 1 || mmax > 255 || (n_alpha != 1 && !(n_alpha == 2 && w->dtype == FGQ_DT_T2)))
            return fgq_fail(err, FGQ_ERR_FORMAT,
                            FGQ_NODE_FMT "group size %d, n_alpha %d, M %d: expected group >= 1, n_alpha 1 (2 for t2), M in 1..255",
                            FGQ_NODE_ARGS(node), (int)group, (int)n_alpha, (int)mmax);
        qw->group = group;
        qw->n_groups = (k + group - 1) / group;
        qw->n_alpha = n_alpha;
        qw->mmax = mmax;
        st = check_dims2(node, gs, "GS", FGQ_DT_U8, n_alpha == 2 ? 3 : 2, rows, qw->n_groups, 2, err);
        if (st != FGQ_OK)
            return st;
    }

    /* |dot| <= k · cmax · dx · M: exact in int32 for any data when this fits. */
    const int64_t per_k = (int64_t)cmax * (dx > 0 ? dx : 1) * qw->mmax;
    if (k > INT32_MAX / per_k)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        FGQ_NODE_FMT "reduction length %lld exceeds the int32 bound %lld (|code| <= %d, |q_x - z_x| <= %lld, M = %d)",
                        FGQ_NODE_ARGS(node), (long long)k, (long long)(INT32_MAX / per_k), (int)cmax, (long long)dx,
                        (int)qw->mmax);
    qw->codes = (const uint8_t *)w->data;
    qw->gs = gs != NULL ? (const uint8_t *)gs->data : NULL;
    qw->bias = b != NULL && b_dt == FGQ_DT_S32 ? (const int32_t *)b->data : NULL;
    qw->req = req != NULL ? (const int32_t *)req->data : NULL;
    qw->wsum = NULL;
    return FGQ_OK;
}

fgq_status fgq_qweights_check(const fgq_node_view *node, const fgq_tensor_view *w, const fgq_tensor_view *b,
                              const fgq_tensor_view *req, const fgq_tensor_view *gs, int64_t rows, int64_t k,
                              fgq_dtype x_dtype, fgq_qweights *qw, fgq_error *err)
{
    int32_t lo = 0, hi = 0;
    fgq_q_act_range(x_dtype, &lo, &hi);
    const int64_t zx = node->iparams[FGQ_QP_X_ZERO];
    const int64_t dx = zx - lo > hi - zx ? zx - lo : hi - zx;
    return qweights_check_impl(node, w, b, FGQ_DT_S32, req, NULL, gs, rows, k, dx, qw, err);
}

fgq_status fgq_qweights_check_dyn(const fgq_node_view *node, const fgq_tensor_view *w, const fgq_tensor_view *w_scale,
                                  const fgq_tensor_view *b, const fgq_tensor_view *gs, int64_t rows, int64_t k,
                                  fgq_qweights *qw, fgq_error *err)
{
    return qweights_check_impl(node, w, b, FGQ_DT_F32, NULL, w_scale, gs, rows, k, 255, qw, err);
}

fgq_status fgq_qweights_check_req(const fgq_node_view *node, const fgq_tensor_view *req_view, const fgq_qweights *qw,
                                  fgq_error *err)
{
    /* at load, where the constants are in the views (fgq_model_load); the runs then trust them, as
     * they trust the codes (the MLPerf autoencoder on the M4 spent 5 % of each run here when every
     * run checked). One pass without branches, the row named in a second only when one is bad. */
    if (req_view->data == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        FGQ_NODE_FMT "REQ is not a constant: its multipliers and shifts are checked when the model loads",
                        FGQ_NODE_ARGS(node));
    uint32_t bad = 0;
    const int32_t *req = qw->req, *end = qw->req + 2 * qw->rows;
    for (; req < end; req += 2)
        bad |= ((uint32_t)req[0] >> 31) | (uint32_t)((uint32_t)req[1] + 31u > 62u);
    if (bad == 0)
        return FGQ_OK;
    for (int64_t r = 0; r < qw->rows; r++) {
        const int32_t mult = qw->req[2 * r], shift = qw->req[2 * r + 1];
        if (mult < 0 || shift < -31 || shift > 31)
            return fgq_fail(err, FGQ_ERR_FORMAT,
                            FGQ_NODE_FMT "REQ row %lld (multiplier %ld, shift %ld): expected multiplier >= 0, shift in -31..31",
                            FGQ_NODE_ARGS(node), (long long)r, (long)mult, (long)shift);
    }
    return FGQ_OK;
}

/* Codes [k0, k1) of a t2 row: the counts of +1 and −1 (3, invalid, is 0 and counts as neither),
 * 32 codes a 64-bit word between the ends. */
static void t2_counts(const uint8_t *wrow, int64_t k0, int64_t k1, int64_t *pos, int64_t *neg)
{
    int64_t p = 0, n = 0, k = k0;
    for (; k < k1 && (k % 32 != 0 || k + 32 > k1); k++) {
        const int c = (wrow[k >> 2] >> (2 * (k & 3))) & 3;
        p += c == 1;
        n += c == 2;
    }
    for (; k + 32 <= k1; k += 32) {
        uint64_t w = 0;
        for (int b = 7; b >= 0; b--) /* little-endian, on any host */
            w = w << 8 | wrow[(k >> 2) + b];
        const uint64_t lo = w & 0x5555555555555555ull, hi = (w >> 1) & 0x5555555555555555ull;
        p += __builtin_popcountll(lo & ~hi);
        n += __builtin_popcountll(hi & ~lo);
    }
    for (; k < k1; k++) {
        const int c = (wrow[k >> 2] >> (2 * (k & 3))) & 3;
        p += c == 1;
        n += c == 2;
    }
    *pos = p;
    *neg = n;
}

int32_t fgq_qweights_row_sum(const fgq_qweights *qw, fgq_idx row)
{
    const uint8_t *wrow = qw->codes + row * qw->row_bytes;
    int64_t sum = 0;
    if (qw->dtype == FGQ_DT_T2) { /* whole groups by their counts: a load-time pass over every weight */
        for (int64_t g = 0; g < qw->n_groups; g++) {
            const int64_t k0 = g * qw->group, k1 = k0 + qw->group < qw->k ? k0 + qw->group : qw->k;
            int64_t pos, neg, mp = 1, mn = 1;
            t2_counts(wrow, k0, k1, &pos, &neg);
            if (qw->has_gs) {
                const uint8_t *mg = qw->gs + (row * qw->n_groups + g) * qw->n_alpha;
                mp = mg[0] < qw->mmax ? mg[0] : qw->mmax;
                mn = qw->n_alpha == 2 ? (mg[1] < qw->mmax ? mg[1] : qw->mmax) : mp;
            }
            sum += mp * pos - mn * neg;
        }
        return (int32_t)(uint32_t)(uint64_t)sum;
    }
    for (fgq_idx k = 0; k < qw->k; k++)
        sum += fgq_qw_effective(qw, row, wrow, k);
    return (int32_t)(uint32_t)(uint64_t)sum;
}

fgq_status fgq_qweights_check_wsum(const fgq_node_view *node, const fgq_tensor_view *wsum, fgq_qweights *qw,
                                   int at_load, fgq_error *err)
{
    fgq_status st = check_dims2(node, wsum, "WSUM", FGQ_DT_S32, 1, qw->rows, 0, 0, err);
    if (st != FGQ_OK)
        return st;
    qw->wsum = (const int32_t *)wsum->data;
    if (!at_load || !FGQ_QW_WSUM_READ)
        return FGQ_OK;
    /* at load, as REQ: the runs trust it, and a wrong sum would shift every output of its row */
    if (wsum->data == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        FGQ_NODE_FMT "WSUM is not a constant: its row sums are checked when the model loads",
                        FGQ_NODE_ARGS(node));
    if (qw->codes == NULL || (qw->has_gs && qw->gs == NULL)) /* sums of weights known only at run time */
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "WSUM needs W and GS to be constants", FGQ_NODE_ARGS(node));
    for (int64_t r = 0; r < qw->rows; r++) {
        const int32_t want = fgq_qweights_row_sum(qw, r);
        if (qw->wsum[r] != want)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "WSUM row %lld is %ld, expected %ld (the row's weights)",
                            FGQ_NODE_ARGS(node), (long long)r, (long)qw->wsum[r], (long)want);
    }
    return FGQ_OK;
}

fgq_status fgq_qweights_row_sums(fgq_dtype w_dtype, const void *codes, int64_t rows, int64_t k, int64_t group,
                                 int32_t n_alpha, int32_t mmax, const uint8_t *gs, int32_t *out)
{
    if (fgq_qw_code_max(w_dtype) == 0 || codes == NULL || out == NULL || rows < 0 || k < 1 || group < 0 ||
        (group > 0 && (gs == NULL || n_alpha < 1 || n_alpha > 2 || mmax < 1 || mmax > 255)))
        return FGQ_ERR_VALUE;
    fgq_qweights qw;
    memset(&qw, 0, sizeof qw);
    qw.dtype = w_dtype;
    qw.rows = rows;
    qw.k = k;
    qw.row_bytes = fgq_qw_row_bytes(w_dtype, k, NULL);
    qw.has_gs = group > 0;
    qw.group = group > 0 ? group : k;
    qw.n_groups = (k + qw.group - 1) / qw.group;
    qw.n_alpha = group > 0 ? n_alpha : 1;
    qw.mmax = group > 0 ? mmax : 1;
    qw.codes = (const uint8_t *)codes;
    qw.gs = group > 0 ? gs : NULL;
    for (int64_t r = 0; r < rows; r++)
        out[r] = fgq_qweights_row_sum(&qw, r);
    return FGQ_OK;
}

int64_t fgq_qweights_output(const fgq_qweights *qw, int64_t row, int32_t dot, int32_t z_y)
{
    int64_t acc = (int64_t)dot + (qw->bias != NULL ? qw->bias[row] : 0);
    acc = acc > INT32_MAX ? INT32_MAX : acc < INT32_MIN ? INT32_MIN : acc;
    return (int64_t)fgq_requantize_s32((int32_t)acc, qw->req[2 * row], qw->req[2 * row + 1]) + z_y;
}
