/*
 * qinteger.c — MATMUL_INT and CONV_INT: integer matrix product and
 * convolution with arbitrary zero points on both operands (ONNX
 * MatMulInteger / ConvInteger, and QLinearMatMul / QLinearConv with their
 * per-tensor requantization).
 *
 *   MATMUL_INT  acc[b, i, j] = Σ_k (a[b, i, k] − z_a) · (w[b', k, j] − z_w)
 *               A u8|s8 [..., M, K] (rank >= 2); B u8|s8 [K, N] (shared by
 *               every batch) or [..., K, N] with A's batch dims (b' = b).
 *   CONV_INT    acc[n, m, o] = B[m] + Σ_k (x[n, c(k), o·s − pb + tap(k)·d] − z_x) · (w[m, k] − z_w)
 *               X u8|s8 [N, C, spatial...], W u8|s8 [M, C/G, kernel...], B? s32 [M]
 *               (added saturating to int32); the spatial block is the float
 *               Conv's (fgq_ops.h), FGQ_P_ACT must be 0. Taps in the padding
 *               read z_x, so they contribute 0.
 *
 * Output: Y s32 holds acc itself (then Y_ZERO, QMIN, QMAX, REQ_MULT, REQ_SHIFT
 * must be 0); Y u8|s8 holds clamp(z_y + fgq_requantize_s32(acc, REQ_MULT,
 * REQ_SHIFT), qmin, qmax) with the Q block's output checks and REQ_MULT >= 0,
 * REQ_SHIFT in −31..31.
 *
 * Zero points: z_a = iparams[FGQ_QP_X_ZERO], z_w = iparams[FGQ_QP_INT_W_ZERO],
 * each in its operand's dtype range. Overflow bound, checked at load: with
 * K the reduction length (MATMUL_INT: K; CONV_INT: (C/G)·Πkernel) and
 * d_max(z) = max(z − lo, hi − z) over the operand dtype's [lo, hi],
 *   K · d_max(z_a) · d_max(z_w) <= 2^31 − 1,
 * so the sum of products never overflows int32 (the bias add saturates).
 * Every value the kernels read comes from checked views: no data-dependent
 * failure is possible at run time.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

#include "quant/affine.h"

static int32_t dmax(int32_t z, fgq_dtype dt)
{
    int32_t lo = 0, hi = 0;
    fgq_q_act_range(dt, &lo, &hi);
    return z - lo > hi - z ? z - lo : hi - z;
}

/* Zero points, overflow bound and the output block, common to both ops. */
static fgq_status int_check_common(const fgq_node_view *node, const fgq_tensor_view *a, const fgq_tensor_view *w,
                                   const fgq_tensor_view *y, int64_t k, fgq_error *err)
{
    const int32_t *ip = node->iparams;
    fgq_status st = fgq_q_check_act(node, a, "input", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, w, "input", 1, err);
    if (st == FGQ_OK)
        st = fgq_q_check_zero(node, a->dtype, ip[FGQ_QP_X_ZERO], "input 0 zero point", err);
    if (st == FGQ_OK)
        st = fgq_q_check_zero(node, w->dtype, ip[FGQ_QP_INT_W_ZERO], "input 1 zero point", err);
    if (st != FGQ_OK)
        return st;
    if (y->dtype == FGQ_DT_S32) {
        if (ip[FGQ_QP_Y_ZERO] != 0 || ip[FGQ_QP_QMIN] != 0 || ip[FGQ_QP_QMAX] != 0 || ip[FGQ_QP_REQ_MULT] != 0 ||
            ip[FGQ_QP_REQ_SHIFT] != 0)
            return fgq_fail(err, FGQ_ERR_FORMAT,
                            FGQ_NODE_FMT "s32 output takes no zero point, clamp or requantization (all must be 0)",
                            FGQ_NODE_ARGS(node));
    } else {
        if ((st = fgq_q_check_act(node, y, "output", 0, err)) != FGQ_OK || (st = fgq_q_check_out(node, y, err)) != FGQ_OK ||
            (st = fgq_q_check_req(node, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT], -31, 31, "output", err)) != FGQ_OK)
            return st;
    }
    const int64_t da = dmax(ip[FGQ_QP_X_ZERO], a->dtype), dw = dmax(ip[FGQ_QP_INT_W_ZERO], w->dtype);
    if (k < 1 || k > INT32_MAX / (da * dw > 0 ? da * dw : 1))
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        FGQ_NODE_FMT "reduction length %lld with |x - z| <= %lld and |w - z| <= %lld can overflow int32 "
                        "(K * %lld * %lld must be <= 2^31 - 1, K >= 1)",
                        FGQ_NODE_ARGS(node), (long long)k, (long long)da, (long long)dw, (long long)da, (long long)dw);
    return FGQ_OK;
}

static void int_store(const fgq_node_view *node, const fgq_tensor_view *y, int64_t i, int32_t acc)
{
    const int32_t *ip = node->iparams;
    if (y->dtype == FGQ_DT_S32) {
        ((int32_t *)y->data)[i] = acc;
        return;
    }
    const int64_t v = (int64_t)ip[FGQ_QP_Y_ZERO] + fgq_requantize_s32(acc, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT]);
    fgq_q_store(y->data, i, y->dtype == FGQ_DT_S8, v, ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
}

/* ---- MATMUL_INT ---------------------------------------------------------- */

fgq_status fgq_matmul_int_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    if (a->rank < 2 || (b->rank != 2 && b->rank != a->rank))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, B rank %d: expected A rank >= 2 and B rank 2 or A's",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)b->rank);
    const int64_t k = a->dims[a->rank - 1];
    if (b->dims[b->rank - 2] != k)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A has K = %lld, B has %lld rows", FGQ_NODE_ARGS(node),
                        (long long)k, (long long)b->dims[b->rank - 2]);
    for (int32_t i = 0; b->rank > 2 && i + 2 < a->rank; i++)
        if (b->dims[i] != a->dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "B batch dim %d is %lld, A's is %lld", FGQ_NODE_ARGS(node),
                            (int)i, (long long)b->dims[i], (long long)a->dims[i]);
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i + 1 < a->rank; i++)
        dims[i] = a->dims[i];
    dims[a->rank - 1] = b->dims[b->rank - 1];
    if ((st = fgq_ops_check_out_dims(node, y, a->rank, dims, err)) != FGQ_OK)
        return st;
    return int_check_common(node, a, b, y, k, err);
}

/* The fast form: per output row, accumulators for a tile of up to MMI_TILE columns, k outer and
 * the columns inner (B's rows read in order; the fixed 16-wide inner loops vectorise), rows of A
 * whose entry equals z_a skipped (they add 0). Every partial sum is a sum of terms
 * (a − z_a)(b − z_b), so it keeps the load-time bound of the full one: the same int32 results as
 * the reference below, in another order of exact additions. */
#define MMI_TILE 256

static inline __attribute__((always_inline)) void mmi_cols_body(int32_t *acc, int32_t ak, const void *brow, int b_s8,
                                                                 int32_t zb, int64_t w)
{
    int64_t j = 0;
    if (b_s8) {
        const int8_t *b = (const int8_t *)brow;
        for (; j + 16 <= w; j += 16)
            for (int t = 0; t < 16; t++)
                acc[j + t] += ak * ((int32_t)b[j + t] - zb);
        for (; j < w; j++)
            acc[j] += ak * ((int32_t)b[j] - zb);
    } else {
        const uint8_t *b = (const uint8_t *)brow;
        for (; j + 16 <= w; j += 16)
            for (int t = 0; t < 16; t++)
                acc[j + t] += ak * ((int32_t)b[j + t] - zb);
        for (; j < w; j++)
            acc[j] += ak * ((int32_t)b[j] - zb);
    }
}

static void mmi_cols(int32_t *acc, int32_t ak, const void *brow, int b_s8, int32_t zb, int64_t w)
{
    mmi_cols_body(acc, ak, brow, b_s8, zb, w);
}

#if defined(__x86_64__) || defined(__i386__)
/* The same loops compiled for AVX2 (vpmulld; baseline x86-64 has no 32-bit lane multiply). */
__attribute__((target("avx2"))) static void mmi_cols_avx2(int32_t *acc, int32_t ak, const void *brow, int b_s8,
                                                          int32_t zb, int64_t w)
{
    mmi_cols_body(acc, ak, brow, b_s8, zb, w);
}
#endif

fgq_status fgq_matmul_int_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    void (*cols)(int32_t *, int32_t, const void *, int, int32_t, int64_t) = mmi_cols;
#if defined(__x86_64__) || defined(__i386__)
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0)
        cols = mmi_cols_avx2;
#endif
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int32_t za = node->iparams[FGQ_QP_X_ZERO], zw = node->iparams[FGQ_QP_INT_W_ZERO];
    const int a_s8 = a->dtype == FGQ_DT_S8, b_s8 = b->dtype == FGQ_DT_S8;
    const int64_t m = a->dims[a->rank - 2], k = a->dims[a->rank - 1], n = b->dims[b->rank - 1];
    const int64_t batches = fgq_ops_dims_prod(a->dims, 0, a->rank - 2);
    int32_t acc[MMI_TILE];
    for (int64_t bt = 0; bt < batches; bt++) {
        const int64_t a0 = bt * m * k, b0 = b->rank > 2 ? bt * k * n : 0, y0 = bt * m * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j0 = 0; j0 < n; j0 += MMI_TILE) {
                const int64_t w = n - j0 < MMI_TILE ? n - j0 : MMI_TILE;
                for (int64_t j = 0; j < w; j++)
                    acc[j] = 0;
                for (int64_t kk = 0; kk < k; kk++) {
                    const int32_t ak = fgq_q_load(a->data, a0 + i * k + kk, a_s8) - za;
                    if (ak != 0)
                        cols(acc, ak, (const uint8_t *)b->data + b0 + kk * n + j0, b_s8, zw, w);
                }
                for (int64_t j = 0; j < w; j++)
                    int_store(node, y, y0 + i * n + j0 + j, acc[j]);
            }
    }
    return FGQ_OK;
}

/* The reference: one dot product per output, in k order (the definition above). */
fgq_status fgq_matmul_int_run_ref(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int32_t za = node->iparams[FGQ_QP_X_ZERO], zw = node->iparams[FGQ_QP_INT_W_ZERO];
    const int a_s8 = a->dtype == FGQ_DT_S8, b_s8 = b->dtype == FGQ_DT_S8;
    const int64_t m = a->dims[a->rank - 2], k = a->dims[a->rank - 1], n = b->dims[b->rank - 1];
    const int64_t batches = fgq_ops_dims_prod(a->dims, 0, a->rank - 2);
    for (int64_t bt = 0; bt < batches; bt++) {
        const int64_t a0 = bt * m * k, b0 = b->rank > 2 ? bt * k * n : 0, y0 = bt * m * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                int32_t acc = 0;
                for (int64_t kk = 0; kk < k; kk++)
                    acc += (fgq_q_load(a->data, a0 + i * k + kk, a_s8) - za) *
                           (fgq_q_load(b->data, b0 + kk * n + j, b_s8) - zw);
                int_store(node, y, y0 + i * n + j, acc);
            }
    }
    return FGQ_OK;
}

/* ---- CONV_INT ------------------------------------------------------------ */

typedef struct {
    fgq_ops_spatial sp;
    int64_t groups, k;
} conv_int_shape;

static fgq_status conv_int_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                     const fgq_tensor_view *const *out, conv_int_shape *s, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 3, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *w = in[1], *b = node->n_inputs > 2 ? in[2] : NULL, *y = out[0];
    if ((st = fgq_ops_read_spatial(node, x, w, y, 0, &s->sp, err)) != FGQ_OK)
        return st;
    if (node->iparams[FGQ_P_ACT] != FGQ_ACT_NONE)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "fused activation %d is not supported (use the clamp range)",
                        FGQ_NODE_ARGS(node), (int)node->iparams[FGQ_P_ACT]);
    const int64_t g = node->iparams[FGQ_P_GROUP], c = x->dims[1];
    if (w->rank != x->rank || g < 1 || c % g != 0 || w->dims[0] % g != 0 || w->dims[1] != c / g)
        return fgq_fail(err, FGQ_ERR_SHAPE,
                        FGQ_NODE_FMT "W rank %d dims [%lld, %lld, ...] do not fit X rank %d with %lld channels, group %lld",
                        FGQ_NODE_ARGS(node), (int)w->rank, (long long)w->dims[0], (long long)w->dims[1], (int)x->rank,
                        (long long)c, (long long)g);
    if (y->dims[0] != x->dims[0] || y->dims[1] != w->dims[0])
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y is [%lld, %lld, ...], expected [%lld, %lld, ...]",
                        FGQ_NODE_ARGS(node), (long long)y->dims[0], (long long)y->dims[1], (long long)x->dims[0],
                        (long long)w->dims[0]);
    if (b != NULL && (b->dtype != FGQ_DT_S32 || b->rank != 1 || b->dims[0] != w->dims[0]))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "bias must be s32 [%lld]", FGQ_NODE_ARGS(node),
                        (long long)w->dims[0]);
    s->groups = g;
    s->k = fgq_ops_dims_prod(w->dims, 1, w->rank);
    return int_check_common(node, x, w, y, s->k, err);
}

fgq_status fgq_conv_int_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    conv_int_shape s;
    return conv_int_check_all(node, in, out, &s, err);
}

fgq_status fgq_conv_int_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    conv_int_shape s;
    fgq_status st = conv_int_check_all(node, in, out, &s, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *w = in[1], *y = out[0];
    const int32_t *bias = node->n_inputs > 2 && in[2] != NULL ? (const int32_t *)in[2]->data : NULL;
    const int32_t zx = node->iparams[FGQ_QP_X_ZERO], zw = node->iparams[FGQ_QP_INT_W_ZERO];
    const int x_s8 = x->dtype == FGQ_DT_S8, w_s8 = w->dtype == FGQ_DT_S8;
    const fgq_ops_spatial *sp = &s.sp;
    const int64_t nb = x->dims[0], c = x->dims[1], mo = y->dims[1], cg = c / s.groups, mg = mo / s.groups;
    const int64_t in_sz = sp->in[0] * sp->in[1] * sp->in[2], out_sz = sp->out[0] * sp->out[1] * sp->out[2];
    for (int64_t n = 0; n < nb; n++)
        for (int64_t m = 0; m < mo; m++) {
            const int64_t c0 = (m / mg) * cg;
            for (int64_t od = 0; od < sp->out[0]; od++)
                for (int64_t oh = 0; oh < sp->out[1]; oh++)
                    for (int64_t ow = 0; ow < sp->out[2]; ow++) {
                        int32_t acc = 0;
                        int64_t widx = m * s.k;
                        for (int64_t cc = 0; cc < cg; cc++)
                            for (int64_t kd = 0; kd < sp->kernel[0]; kd++)
                                for (int64_t kh = 0; kh < sp->kernel[1]; kh++)
                                    for (int64_t kw = 0; kw < sp->kernel[2]; kw++, widx++) {
                                        const int64_t id = od * sp->stride[0] - sp->pad_begin[0] + kd * sp->dilation[0];
                                        const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                                        const int64_t iw = ow * sp->stride[2] - sp->pad_begin[2] + kw * sp->dilation[2];
                                        if (id < 0 || id >= sp->in[0] || ih < 0 || ih >= sp->in[1] || iw < 0 ||
                                            iw >= sp->in[2])
                                            continue; /* padding reads z_x: contributes 0 */
                                        const int64_t xi =
                                            (n * c + c0 + cc) * in_sz + (id * sp->in[1] + ih) * sp->in[2] + iw;
                                        acc += (fgq_q_load(x->data, xi, x_s8) - zx) *
                                               (fgq_q_load(w->data, widx, w_s8) - zw);
                                    }
                        if (bias != NULL) {
                            const int64_t v = (int64_t)acc + bias[m];
                            acc = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
                        }
                        int_store(node, y, (n * mo + m) * out_sz + (od * sp->out[1] + oh) * sp->out[2] + ow, acc);
                    }
        }
    return FGQ_OK;
}
