/*
 * qdyn.c — dynamic-range quantization (TensorFlow's QuantizeV2 in min/max
 * mode, ONNX DynamicQuantizeLinear): activations are quantized per inference
 * from their own min/max, layers accumulate in int32 against the integer
 * weights of QCONV/QGEMM and hand back float. Contract: docs/quantized-ops.md,
 * "Dynamic activations".
 *
 *   DYNQUANT   X f32 -> Y u8 (X's dims), Y_SCALE f32 [], Y_ZERO u8 [], as ONNX:
 *              lo = min(0, min X), hi = max(0, max X)        (finite values only)
 *              s  = (hi == lo ? 1 : hi − lo) / 255            float32
 *              z  = rint(clamp(0 − lo / s, 0, 255))           half to even
 *              y  = clamp(rint(x / s) + z, 0, 255)
 *              NaN -> z (0.0), +Inf -> 255, −Inf -> 0; hi − lo beyond FLT_MAX is
 *              taken in double, a scale that underflows to 0 is 1/255.
 *   QCONV_DYN  X u8|s8, X_SCALE f32 [], X_ZERO (X's dtype) [], W [M, Kp],
 *   QGEMM_DYN  W_SCALE f32 [M], B? f32 [M], GS? [M, G(, 2)]:
 *              dot as QCONV / QGEMM (fgq_qconv_dot, fgq_qweights_dot; bound with
 *              |q_x − z_x| <= 255), then in float32
 *              y = (float)dot · (s_x · s_w[m]) (+ B[m]), then the fused activation.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- DYNQUANT ------------------------------------------------------------- */

/* A rank-0 or rank-1 tensor of one element of dtype dt. */
static fgq_status check_scalar(const fgq_node_view *node, const fgq_tensor_view *t, fgq_dtype dt, const char *what,
                               fgq_error *err)
{
    if (t->dtype != dt || t->rank > 1 || (t->rank == 1 && t->dims[0] != 1))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%s must be a %s scalar ([] or [1]), got %s of rank %d",
                        FGQ_NODE_ARGS(node), what, fgq_dtype_name(dt), fgq_dtype_name(t->dtype), (int)t->rank);
    return FGQ_OK;
}

fgq_status fgq_dynquant_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    if (node->n_inputs != 1 || node->n_outputs != 3)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 1 / 3 (Y, Y_SCALE, Y_ZERO)",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs);
    if (in == NULL || out == NULL || in[0] == NULL || out[0] == NULL || out[1] == NULL || out[2] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "X, Y, Y_SCALE and Y_ZERO are required", FGQ_NODE_ARGS(node));
    fgq_status st = fgq_ops_check_tensor(node, in[0], "input", 0, err);
    for (int32_t o = 0; o < 3 && st == FGQ_OK; o++)
        st = fgq_ops_check_tensor(node, out[o], "output", o, err);
    if (st != FGQ_OK)
        return st;
    if (in[0]->dtype != FGQ_DT_F32 || out[0]->dtype != FGQ_DT_U8)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "X %s -> Y %s, expected f32 -> u8", FGQ_NODE_ARGS(node),
                        fgq_dtype_name(in[0]->dtype), fgq_dtype_name(out[0]->dtype));
    if ((st = check_scalar(node, out[1], FGQ_DT_F32, "Y_SCALE", err)) != FGQ_OK ||
        (st = check_scalar(node, out[2], FGQ_DT_U8, "Y_ZERO", err)) != FGQ_OK)
        return st;
    return fgq_ops_check_out_dims(node, out[0], in[0]->rank, in[0]->dims, err);
}

fgq_status fgq_dynquant_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_dynquant_check(node, in, out, err);
    if (st != FGQ_OK)
        return st;
    const float *x = (const float *)in[0]->data;
    uint8_t *y = (uint8_t *)out[0]->data;
    const int64_t n = fgq_ops_numel(in[0]);
    float lo = 0.0f, hi = 0.0f;
    int nan = 0;
    int64_t i0 = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0)
        i0 = fgq_dynquant_range__avx2(x, n, &lo, &hi, &nan);
#endif
    for (int64_t i = i0; i < n; i++) {
        const float v = x[i];
        if (isfinite(v)) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        nan |= v != v;
    }
    const float range = hi - lo;
    float s = isfinite(range) ? (hi == lo ? 1.0f : range) / 255.0f : (float)(((double)hi - (double)lo) / 255.0);
    if (!(s > 0.0f))
        s = 1.0f / 255.0f;
    float z = 0.0f - lo / s;
    z = nearbyintf(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
    int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    /* QUANTIZE's AVX2 loop is this one (x / s rounded half to even, + z, clamped) except that it
     * sends NaN to qmin where DYNQUANT sends it to z: taken only when no value is NaN */
    if (!nan && fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0)
        i = fgq_quantize_f32__avx2(x, n, s, z, 0.0f, 255.0f, 1, y, 0);
#endif
    for (; i < n; i++) {
        float v = nearbyintf(x[i] / s) + z;
        v = v != v ? z : v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v; /* NaN -> z */
        y[i] = (uint8_t)v;
    }
    *(float *)out[1]->data = s;
    *(uint8_t *)out[2]->data = (uint8_t)z;
    return FGQ_OK;
}

/* ---- QCONV_DYN / QGEMM_DYN ------------------------------------------------ */

/* Inputs 0..2 (X, X_SCALE, X_ZERO), presence of W and W_SCALE, a f32 output. */
static fgq_status dyn_check_common(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                   const fgq_tensor_view *const *out, fgq_error *err)
{
    if (node->n_inputs < 5 || node->n_inputs > 7 || node->n_outputs != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 5..7 / 1",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs);
    if (in == NULL || out == NULL || out[0] == NULL || in[0] == NULL || in[1] == NULL || in[2] == NULL ||
        in[3] == NULL || in[4] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "X, X_SCALE, X_ZERO, W, W_SCALE and the output are required",
                        FGQ_NODE_ARGS(node));
    for (int32_t i = 0; i < node->n_inputs; i++) {
        fgq_status st = in[i] != NULL ? fgq_ops_check_tensor(node, in[i], "input", i, err) : FGQ_OK;
        if (st != FGQ_OK)
            return st;
    }
    fgq_status st = fgq_ops_check_tensor(node, out[0], "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, in[0], "input", 0, err);
    if (st == FGQ_OK)
        st = check_scalar(node, in[1], FGQ_DT_F32, "X_SCALE", err);
    if (st == FGQ_OK)
        st = check_scalar(node, in[2], in[0]->dtype, "X_ZERO", err);
    if (st == FGQ_OK && out[0]->dtype != FGQ_DT_F32)
        st = fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "output has dtype %s, expected f32", FGQ_NODE_ARGS(node),
                      fgq_dtype_name(out[0]->dtype));
    return st;
}

typedef struct {
    float s_x;
    int32_t z_x;
    const float *s_w, *bias; /* [rows]; bias NULL when absent */
} dyn_epilogue;

static void dyn_epilogue_read(const fgq_tensor_view *const *in, int32_t n_inputs, dyn_epilogue *e)
{
    e->s_x = *(const float *)in[1]->data;
    e->z_x = fgq_q_load(in[2]->data, 0, in[2]->dtype == FGQ_DT_S8);
    e->s_w = (const float *)in[4]->data;
    e->bias = n_inputs > 5 && in[5] != NULL ? (const float *)in[5]->data : NULL;
}

/* (float)dot · (s_x · s_w[row]) (+ bias[row]), float32 as written; separate
 * statements so that no compiler contracts the product and the sum into an FMA. */
static inline float dyn_out(const dyn_epilogue *e, int64_t row, int32_t dot)
{
    const float s = e->s_x * e->s_w[row];
    const float v = (float)dot * s;
    return e->bias != NULL ? v + e->bias[row] : v;
}

typedef struct {
    fgq_qconv_geom geom;
    fgq_qweights qw;
} qconv_dyn_shape;

static fgq_status qconv_dyn_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                      const fgq_tensor_view *const *out, qconv_dyn_shape *s, fgq_error *err)
{
    fgq_status st = dyn_check_common(node, in, out, err);
    if (st == FGQ_OK)
        st = fgq_ops_check_act(node, node->iparams[FGQ_P_ACT], err);
    if (st == FGQ_OK)
        st = fgq_qconv_geom_check(node, in[0], out[0], &s->geom, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *b = node->n_inputs > 5 ? in[5] : NULL, *gs = node->n_inputs > 6 ? in[6] : NULL;
    return fgq_qweights_check_dyn(node, in[3], in[4], b, gs, out[0]->dims[1], s->geom.k, &s->qw, err);
}

fgq_status fgq_qconv_dyn_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    qconv_dyn_shape s;
    return qconv_dyn_check_all(node, in, out, &s, err);
}

/* The reference: fgq_qconv_dot per output element. */
static void qconv_dyn_ref(const fgq_node_view *node, const qconv_dyn_shape *s, const dyn_epilogue *e,
                          const fgq_tensor_view *x, float *y, int64_t m_out)
{
    const fgq_ops_spatial *sp = &s->geom.sp;
    const int64_t n_batch = x->dims[0];
    const int64_t OD = sp->out[0], OH = sp->out[1], OW = sp->out[2], y_plane = OD * OH * OW;
    for (int64_t n = 0; n < n_batch; n++)
        for (int64_t mo = 0; mo < m_out; mo++) {
            float *yp = y + (n * m_out + mo) * y_plane;
            for (int64_t od = 0; od < OD; od++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++)
                        yp[(od * OH + oh) * OW + ow] =
                            dyn_out(e, mo, fgq_qconv_dot(&s->geom, &s->qw, x, e->z_x, n, mo, od, oh, ow));
            fgq_ops_act_apply_f32(yp, y_plane, node->iparams[FGQ_P_ACT], node->fparams[FGQ_PF_ACT0],
                                  node->fparams[FGQ_PF_ACT1]);
        }
}

/* On application cores (an OS's stacks), QCONV_DYN runs the QGEMM kernel rows
 * (qgemm_dispatch.h) on im2col rows gathered per task: a task is a block of
 * output positions of one batch item and group, its im2col rows (padding as
 * z_x, which the kernels subtract to 0, as fgq_qconv_dot skips those taps;
 * a 1x1 layer at stride 1 without padding has X's columns for rows) in the
 * node's scratch slice (up to the target's qconv_dyn_cols bytes, 16 KiB:
 * fgq_qconv_dyn_scratch), then every
 * channel of the group against them, QDYN_JB at a time: the row's block form
 * (kern->gemm: each weight row read once a block, where a call a position read
 * it once a position) or its dot per position. Depthwise layers take the
 * depthwise rows instead (qconv_dyn_dw, below). The kernels give
 * fgq_qweights_dot's exact integers, so the outputs are the reference's bits
 * (tests/test_qops_dyn.c compares both with an independent oracle).
 * Microcontrollers keep the reference. */
/* Positions a task gathers for reduction length k: 64, fewer when k·64 bytes
 * would pass the target's `cols`; 0 when one row does not fit, or the target
 * has no kernel path (the reference runs). */
static int64_t qdyn_positions(int64_t k, int64_t cols)
{
    return k > cols ? 0 : cols / k < 64 ? cols / k : 64;
}

enum { QDYN_JB = 64 };

/* Scratch parts start 64-aligned. */
static uint64_t qdyn_align64(uint64_t bytes)
{
    return (bytes + 63u) & ~(uint64_t)63u;
}

/* The scratch of the kernel path (qconv_dyn_blocks) for k = K, pb positions a task: the im2col rows,
 * and for the QGEMM row's block form its [pb][QDYN_JB] dots and its work bytes (the sub-byte
 * formats' decoded rows: 128 KiB on x86-64). Sized from the target profile alone, on any host. */
static uint64_t qdyn_cols_bytes(int64_t pb, int64_t k)
{
    return qdyn_align64((uint64_t)(pb * k));
}
static uint64_t qdyn_blocks_bytes(const fgq_qweights *qw, int64_t pb, const fgq_target *target)
{
    return qdyn_cols_bytes(pb, qw->k) + (uint64_t)(pb * QDYN_JB) * sizeof(int32_t) +
           (uint64_t)fgq_qgemm_gemm_work_bytes(qw, target);
}

/* Depthwise layers the depthwise rows take (qconv_dyn_dw): one input and one output channel a
 * group, 2-D or 1-D (a 3-D layer's depth 1 without depth padding: a padded depth reads only
 * padding, and fgq_qconv_dot gives 0 there). */
static int qdyn_dw_fits(const qconv_dyn_shape *s, const fgq_tensor_view *x, int64_t m_out)
{
    const fgq_ops_spatial *sp = &s->geom.sp;
    return s->geom.groups == x->dims[1] && m_out == x->dims[1] && sp->kernel[0] == 1 && sp->in[0] == 1 &&
           sp->out[0] == 1 && sp->pad_begin[0] == 0;
}

/* Its scratch: a row's int32 sums, a gathered input row (strides past 1), the channel's taps. */
static uint64_t qdyn_dw_bytes(const qconv_dyn_shape *s)
{
    const fgq_ops_spatial *sp = &s->geom.sp;
    const uint64_t ow = (uint64_t)sp->out[2];
    return qdyn_align64(ow * 4u) + qdyn_align64(ow) + (uint64_t)(sp->kernel[1] * sp->kernel[2]) * 4u;
}

#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define QDYN_FAST 1

typedef struct {
    const fgq_node_view *node;
    const qconv_dyn_shape *s;
    const fgq_qgemm_kernel *kern;
    const dyn_epilogue *e;
    const fgq_tensor_view *x;
    float *y;
    int64_t m_out, k, pb, p_blocks, positions;
    int x_s8;
    int pointwise; /* 1x1, stride 1, no padding: position p's im2col row is X's column p */
} qconv_dyn_task;

/* The im2col rows of positions [p0, p0 + np) of one batch item and group (xg: its first input
 * channel), fgq_qconv_dot's k order, into cols (k bytes a row). */
static void qconv_dyn_gather(const qconv_dyn_task *t, const uint8_t *xg, int64_t p0, int64_t np, uint8_t *cols)
{
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const int64_t cg = t->x->dims[1] / t->s->geom.groups, k = t->k;
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2], x_plane = ID * IH * IW;
    const int64_t OH = sp->out[1], OW = sp->out[2];
    const uint8_t zx8 = (uint8_t)t->e->z_x;
    if (t->pointwise) { /* the rows are X's columns p0 .. p0 + np − 1: a transpose, channel by channel */
        for (int64_t c = 0; c < cg; c++) {
            const uint8_t *src = xg + c * x_plane + p0;
            for (int64_t q = 0; q < np; q++)
                cols[q * k + c] = src[q];
        }
        return;
    }
    /* position p0's (od, oh, ow), then stepped (three divisions a position cost as much as a
     * pointwise layer's short rows) */
    int64_t od = p0 / (OH * OW), oh = (p0 / OW) % OH, ow = p0 % OW;
    for (int64_t q = 0; q < np; q++) {
        uint8_t *row = cols + q * k;
        int64_t kk = 0;
        for (int64_t c = 0; c < cg; c++) {
            const uint8_t *xp = xg + c * x_plane;
            for (int64_t kd = 0; kd < sp->kernel[0]; kd++) {
                const int64_t id = od * sp->stride[0] - sp->pad_begin[0] + kd * sp->dilation[0];
                for (int64_t kh = 0; kh < sp->kernel[1]; kh++) {
                    const int64_t ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                    const int row_in = id >= 0 && id < ID && ih >= 0 && ih < IH;
                    for (int64_t kw = 0; kw < sp->kernel[2]; kw++, kk++) {
                        const int64_t iw = ow * sp->stride[2] - sp->pad_begin[2] + kw * sp->dilation[2];
                        row[kk] = row_in && iw >= 0 && iw < IW ? xp[(id * IH + ih) * IW + iw] : zx8;
                    }
                }
            }
        }
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                od++;
            }
        }
    }
}

static void qconv_dyn_blocks(void *ctx, fgq_idx b, fgq_idx e_)
{
    const qconv_dyn_task *t = (const qconv_dyn_task *)ctx;
    const fgq_qweights *qw = &t->s->qw;
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const int64_t groups = t->s->geom.groups, c_in = t->x->dims[1], cg = c_in / groups, mg = t->m_out / groups;
    const int64_t x_plane = sp->in[0] * sp->in[1] * sp->in[2], k = t->k;
    int32_t slot;
    uint8_t *cols = (uint8_t *)fgq_scratch_claim(t->node, &slot);
    /* the block form's dots [pb][QDYN_JB] and work (qdyn_blocks_bytes), past the rows */
    int32_t *dots = (int32_t *)(void *)(cols + qdyn_cols_bytes(t->pb, k));
    uint8_t *work = (uint8_t *)(dots + t->pb * QDYN_JB);
    int32_t dot[QDYN_JB];
    for (int64_t task = b; task < e_; task++) {
        const int64_t pblk = task % t->p_blocks, ng = task / t->p_blocks, g = ng % groups, n = ng / groups;
        const int64_t p0 = pblk * t->pb, np = t->positions - p0 < t->pb ? t->positions - p0 : t->pb;
        qconv_dyn_gather(t, (const uint8_t *)t->x->data + (n * c_in + g * cg) * x_plane, p0, np, cols);
        for (int64_t j0 = g * mg; j0 < (g + 1) * mg; j0 += QDYN_JB) {
            const int64_t nb = (g + 1) * mg - j0 < QDYN_JB ? (g + 1) * mg - j0 : QDYN_JB;
            if (t->kern->gemm != NULL) { /* the block's rows at once: each weight row read once a block */
                t->kern->gemm(qw, j0, nb, cols, k, np, t->x_s8, t->e->z_x, dots, QDYN_JB, work);
                for (int64_t i = 0; i < nb; i++) {
                    float *yi = t->y + (n * t->m_out + j0 + i) * t->positions + p0;
                    for (int64_t q = 0; q < np; q++)
                        yi[q] = dyn_out(t->e, j0 + i, dots[q * QDYN_JB + i]);
                }
                continue;
            }
            for (int64_t q = 0; q < np; q++) {
                t->kern->dot(qw, j0, nb, cols + q * k, t->x_s8, t->e->z_x, dot);
                float *yq = t->y + (n * t->m_out + j0) * t->positions + p0 + q;
                for (int64_t i = 0; i < nb; i++)
                    yq[i * t->positions] = dyn_out(t->e, j0 + i, dot[i]);
            }
        }
    }
    fgq_scratch_release(t->node, slot);
}

/* Depthwise layers (qdyn_dw_fits), on the depthwise kernel
 * table's rows (qgemm_dispatch.h: acc[i] += e·(x[i] − z_x) along a run, e = m·code of one tap):
 * each output row of a channel as int32 sums over its taps, the padding's taps skipped as
 * fgq_qconv_dot skips them, then the epilogue. The same integers (exact sums, bounded as the
 * check bounds the reference's), so the same outputs. By im2col rows and the QGEMM kernel a
 * depthwise layer took a call a position for K = 9 (MobileNetV2 --acts dynamic: 15 ms for a 56 x
 * 56 layer of 144 channels). Scratch: a row's sums, a gathered input row (strides past 1), the
 * channel's taps. */
typedef struct {
    const fgq_node_view *node;
    const qconv_dyn_shape *s;
    const fgq_qconv_dw_kernel *kern;
    const dyn_epilogue *e;
    const fgq_tensor_view *x;
    float *y;
    int x_s8;
} qconv_dyn_dw_task;

static void qconv_dyn_dw(void *ctx, fgq_idx b, fgq_idx e_)
{
    const qconv_dyn_dw_task *t = (const qconv_dyn_dw_task *)ctx;
    const fgq_qweights *qw = &t->s->qw;
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const int64_t C = t->x->dims[1], IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2], K = KH * KW;
    const int64_t sh = sp->stride[1], sw = sp->stride[2], dh = sp->dilation[1], dw = sp->dilation[2];
    const int64_t pt = sp->pad_begin[1], pl = sp->pad_begin[2];
    const int32_t zx = t->e->z_x;
    int32_t slot;
    uint8_t *ws = (uint8_t *)fgq_scratch_claim(t->node, &slot);
    /* qdyn_dw_bytes' parts */
    int32_t *acc = (int32_t *)(void *)ws;                                /* [OW] */
    uint8_t *tmp = ws + qdyn_align64((uint64_t)OW * 4u);                 /* [OW] */
    int32_t *ew = (int32_t *)(void *)(tmp + qdyn_align64((uint64_t)OW)); /* [K] */
    for (int64_t task = b; task < e_; task++) {
        const int64_t n = task / C, c = task % C;
        fgq_qw_tap_weights(qw, c, K, ew); /* e = m·code a tap */
        const uint8_t *xc = (const uint8_t *)t->x->data + (n * C + c) * IH * IW;
        float *yc = t->y + (n * C + c) * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            memset(acc, 0, (size_t)OW * sizeof(int32_t));
            for (int64_t kh = 0; kh < KH; kh++) {
                const int64_t ih = oh * sh - pt + kh * dh;
                if (ih < 0 || ih >= IH)
                    continue;
                const uint8_t *xr = xc + ih * IW;
                for (int64_t kw = 0; kw < KW; kw++) {
                    const int32_t e = ew[kh * KW + kw];
                    const int64_t off = kw * dw - pl; /* output ow reads column ow·sw + off */
                    /* the outputs whose column is inside the row: lo <= ow <= hi */
                    const int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                    int64_t hi = IW - 1 - off >= 0 ? (IW - 1 - off) / sw : -1;
                    hi = hi < OW - 1 ? hi : OW - 1;
                    if (e == 0 || lo > hi)
                        continue;
                    if (sw == 1) {
                        t->kern->row(acc + lo, xr + lo + off, hi - lo + 1, e, zx, t->x_s8);
                    } else {
                        for (int64_t i = lo; i <= hi; i++)
                            tmp[i] = xr[i * sw + off];
                        t->kern->row(acc + lo, tmp + lo, hi - lo + 1, e, zx, t->x_s8);
                    }
                }
            }
            float *yr = yc + oh * OW;
            for (int64_t ow = 0; ow < OW; ow++)
                yr[ow] = dyn_out(t->e, c, acc[ow]);
        }
    }
    fgq_scratch_release(t->node, slot);
}
#else
#define QDYN_FAST 0
#endif

uint64_t fgq_qconv_dyn_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, const fgq_target *target)
{
    qconv_dyn_shape s;
    if (target->qconv_dyn_cols <= 0 || qconv_dyn_check_all(node, in, out, &s, NULL) != FGQ_OK)
        return 0;
    /* the larger of the two paths' needs: which one runs is the CPU's choice (the depthwise rows
     * where the table has one) */
    const int64_t pb = qdyn_positions(s.qw.k, target->qconv_dyn_cols);
    const uint64_t blocks = pb > 0 ? qdyn_blocks_bytes(&s.qw, pb, target) : 0;
    const uint64_t dw = qdyn_dw_fits(&s, in[0], out[0]->dims[1]) ? qdyn_dw_bytes(&s) : 0;
    return blocks > dw ? blocks : dw;
}

fgq_status fgq_qconv_dyn_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    qconv_dyn_shape s;
    fgq_status st = qconv_dyn_check_all(node, in, out, &s, err);
    if (st != FGQ_OK)
        return st;
    dyn_epilogue e;
    dyn_epilogue_read(in, node->n_inputs, &e);
    const fgq_tensor_view *x = in[0];
    float *y = (float *)out[0]->data;
    const int64_t m_out = out[0]->dims[1];
#if QDYN_FAST
    const fgq_qconv_dw_kernel *dwk = fgq_qconv_dw_kernel_select(fgq_node_kernels(node), fgq_node_cpu(node));
    if (dwk != NULL && fgq_target_build()->qconv_dyn_cols > 0 && qdyn_dw_fits(&s, x, m_out)) {
        if ((st = fgq_scratch_begin(node, qdyn_dw_bytes(&s), err)) != FGQ_OK)
            return st;
        qconv_dyn_dw_task t = {node, &s, dwk, &e, x, y, x->dtype == FGQ_DT_S8};
        const fgq_ops_spatial *sp = &s.geom.sp;
        const int64_t tasks = x->dims[0] * m_out;
        fgq_parallel_for(node->par, tasks,
                         fgq_parallel_grain(node->par, tasks, sp->out[1] * sp->out[2] * sp->kernel[1] * sp->kernel[2]),
                         qconv_dyn_dw, &t);
        fgq_ops_act_apply_f32(y, fgq_ops_numel(out[0]), node->iparams[FGQ_P_ACT], node->fparams[FGQ_PF_ACT0],
                              node->fparams[FGQ_PF_ACT1]);
        return FGQ_OK;
    }
    const fgq_qgemm_kernel *kern = fgq_qgemm_kernel_select(s.qw.dtype, fgq_node_kernels(node), fgq_node_cpu(node), &s.qw);
    const int64_t k = s.qw.k;
    const int64_t pb = qdyn_positions(k, fgq_target_build()->qconv_dyn_cols);
    if (kern->dot != fgq_qgemm_dot_ref && pb > 0) {
        if ((st = fgq_scratch_begin(node, qdyn_blocks_bytes(&s.qw, pb, fgq_target_build()), err)) != FGQ_OK)
            return st;
        const fgq_ops_spatial *sp = &s.geom.sp;
        qconv_dyn_task t = {
            node, &s, kern, &e, x, y, m_out, k, pb, 0, sp->out[0] * sp->out[1] * sp->out[2], x->dtype == FGQ_DT_S8, 1};
        for (int j = 0; j < 3; j++)
            t.pointwise &= sp->kernel[j] == 1 && sp->stride[j] == 1 && sp->pad_begin[j] == 0 && sp->pad_end[j] == 0;
        t.p_blocks = (t.positions + t.pb - 1) / t.pb;
        const int64_t tasks = x->dims[0] * s.geom.groups * t.p_blocks;
        const int64_t cost = fgq_qgemm_cost(kern, t.pb * k * (m_out / s.geom.groups));
        fgq_parallel_for(node->par, tasks, fgq_parallel_grain(node->par, tasks, cost), qconv_dyn_blocks, &t);
        fgq_ops_act_apply_f32(y, fgq_ops_numel(out[0]), node->iparams[FGQ_P_ACT], node->fparams[FGQ_PF_ACT0],
                              node->fparams[FGQ_PF_ACT1]);
        return FGQ_OK;
    }
#endif
    qconv_dyn_ref(node, &s, &e, x, y, m_out);
    return FGQ_OK;
}

static fgq_status qgemm_dyn_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                      const fgq_tensor_view *const *out, fgq_qweights *qw, fgq_error *err)
{
    fgq_status st = dyn_check_common(node, in, out, err);
    if (st == FGQ_OK)
        st = fgq_ops_check_act(node, node->iparams[FGQ_P_GEMM_ACT], err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *y = out[0];
    if (a->rank < 1 || y->rank != a->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, Y rank %d: expected equal ranks >= 1",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)y->rank);
    for (int32_t i = 0; i + 1 < a->rank; i++)
        if (y->dims[i] != a->dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y dim %d is %lld, expected %lld (A's)",
                            FGQ_NODE_ARGS(node), (int)i, (long long)y->dims[i], (long long)a->dims[i]);
    const fgq_tensor_view *b = node->n_inputs > 5 ? in[5] : NULL, *gs = node->n_inputs > 6 ? in[6] : NULL;
    return fgq_qweights_check_dyn(node, in[3], in[4], b, gs, y->dims[y->rank - 1], a->dims[a->rank - 1], qw, err);
}

fgq_status fgq_qgemm_dyn_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_qweights qw;
    return qgemm_dyn_check_all(node, in, out, &qw, err);
}

/* QGEMM_DYN: a task is one activation row and QDYN_GJB output channels, the
 * dots by the QGEMM kernel row for the weights (the reference row on
 * microcontrollers and under FGQ_KERNELS_REF): exact integers, so the same
 * outputs whatever the kernel or the split. */
enum { QDYN_GJB = 64 };

typedef struct {
    const fgq_qweights *qw;
    const fgq_qgemm_kernel *kern;
    const dyn_epilogue *e;
    const uint8_t *a;
    float *y;
    int64_t m_rows, j_blocks;
    int a_s8;
} qgemm_dyn_task;

static void qgemm_dyn_blocks(void *ctx, fgq_idx b, fgq_idx e_)
{
    const qgemm_dyn_task *t = (const qgemm_dyn_task *)ctx;
    const fgq_qweights *qw = t->qw;
    int32_t dot[QDYN_GJB];
    for (int64_t task = b; task < e_; task++) {
        const int64_t r = task / t->j_blocks, j0 = (task % t->j_blocks) * QDYN_GJB;
        const int64_t nb = qw->rows - j0 < QDYN_GJB ? qw->rows - j0 : QDYN_GJB;
        t->kern->dot(qw, j0, nb, t->a + r * qw->k, t->a_s8, t->e->z_x, dot);
        float *yr = t->y + r * qw->rows + j0;
        for (int64_t i = 0; i < nb; i++)
            yr[i] = dyn_out(t->e, j0 + i, dot[i]);
    }
}

fgq_status fgq_qgemm_dyn_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_qweights qw;
    fgq_status st = qgemm_dyn_check_all(node, in, out, &qw, err);
    if (st != FGQ_OK)
        return st;
    dyn_epilogue e;
    dyn_epilogue_read(in, node->n_inputs, &e);
    const fgq_tensor_view *a = in[0];
    const int a_s8 = a->dtype == FGQ_DT_S8;
    float *y = (float *)out[0]->data;
    const int64_t n_out = qw.rows;
    const int64_t m_rows = fgq_ops_dims_prod(a->dims, 0, a->rank - 1);
    qgemm_dyn_task t = {&qw, fgq_qgemm_kernel_select(qw.dtype, fgq_node_kernels(node), fgq_node_cpu(node), &qw),
                        &e, (const uint8_t *)a->data, y, m_rows, (n_out + QDYN_GJB - 1) / QDYN_GJB, a_s8};
    const int64_t tasks = m_rows * t.j_blocks;
    fgq_parallel_for(node->par, tasks,
                     fgq_parallel_grain(node->par, tasks, fgq_qgemm_cost(t.kern, QDYN_GJB * qw.k)), qgemm_dyn_blocks,
                     &t);
    fgq_ops_act_apply_f32(y, m_rows * n_out, node->iparams[FGQ_P_GEMM_ACT], node->fparams[FGQ_PF_ACT0],
                          node->fparams[FGQ_PF_ACT1]);
    return FGQ_OK;
}
