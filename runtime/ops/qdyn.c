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
 *   QGEMM_DYN  W_SCALE f32 [M], B? f32 [M], GS? [M, G(, 2)] (QGEMM_DYN: WSUM? s32 [M], as QGEMM's):
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

/* DYNQUANT over the threads: the range in up to DQ_PARTS parts of at least DQ_PART values (a slot
 * each), joined by the same rule (every slot holds 0 or values strictly beyond it, so the order of
 * the join does not matter), then the values quantized in spans. Single-threaded, DYNQUANT took
 * a quarter of MobileNetV2 --acts dynamic at two threads. */
enum { DQ_PARTS = 16, DQ_PART = 16384 };

typedef struct {
    const fgq_node_view *node;
    const float *x;
    uint8_t *y;
    int64_t n, part;
    uint32_t cpu; /* FGQ_CPU_* the kernels may use: 0 under FGQ_KERNELS_REF */
    float s, z;
    int nan;
    float lo[DQ_PARTS], hi[DQ_PARTS];
    int nans[DQ_PARTS];
} dynquant_task;

static void dynquant_range(void *ctx, fgq_idx b, fgq_idx e)
{
    dynquant_task *t = (dynquant_task *)ctx;
    for (fgq_idx p = b; p < e; p++) {
        const int64_t i0 = p * t->part, i1 = t->n - i0 < t->part ? t->n : i0 + t->part;
        const float *x = t->x + i0;
        float lo = 0.0f, hi = 0.0f;
        int nan = 0;
        int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
        if ((t->cpu & FGQ_CPU_AVX512F) != 0)
            i = fgq_dynquant_range__avx512(x, i1 - i0, &lo, &hi, &nan);
        else if ((t->cpu & FGQ_CPU_AVX2) != 0)
            i = fgq_dynquant_range__avx2(x, i1 - i0, &lo, &hi, &nan);
#endif
        for (; i < i1 - i0; i++) {
            const float v = x[i];
            if (isfinite(v)) {
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
            nan |= v != v;
        }
        t->lo[p] = lo;
        t->hi[p] = hi;
        t->nans[p] = nan;
    }
}

static void dynquant_span(void *ctx, fgq_idx b, fgq_idx e)
{
    const dynquant_task *t = (const dynquant_task *)ctx;
    const float *x = t->x + b;
    uint8_t *y = t->y + b;
    const int64_t n = e - b;
    const float s = t->s, z = t->z;
    int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    /* QUANTIZE's loops are this one (x / s rounded half to even, + z, clamped) except that they
     * send NaN to qmin where DYNQUANT sends it to z: taken only when no value is NaN */
    if (!t->nan && (t->cpu & FGQ_CPU_AVX512F) != 0)
        i = fgq_quantize_f32__avx512(x, n, s, z, 0.0f, 255.0f, 1, y, 0);
    else if (!t->nan && (t->cpu & FGQ_CPU_AVX2) != 0)
        i = fgq_quantize_f32__avx2(x, n, s, z, 0.0f, 255.0f, 1, y, 0);
#endif
    for (; i < n; i++) {
        float v = nearbyintf(x[i] / s) + z;
        v = v != v ? z : v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v; /* NaN -> z */
        y[i] = (uint8_t)v;
    }
}

fgq_status fgq_dynquant_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_dynquant_check(node, in, out, err);
    if (st != FGQ_OK)
        return st;
    dynquant_task t = {.node = node, .x = (const float *)in[0]->data, .y = (uint8_t *)out[0]->data};
    t.n = fgq_ops_numel(in[0]);
    t.cpu = fgq_node_kernels(node) != FGQ_KERNELS_REF ? fgq_node_cpu(node) : 0;
    /* parts of DQ_PART+ values, a multiple of 64 (the kernels' steps) */
    t.part = (t.n + DQ_PARTS - 1) / DQ_PARTS;
    t.part = t.part < DQ_PART ? DQ_PART : (t.part + 63) / 64 * 64;
    const int64_t parts = t.n > 0 ? (t.n + t.part - 1) / t.part : 0;
    fgq_parallel_for(node->par, parts, fgq_parallel_grain(node->par, parts, t.part), dynquant_range, &t);
    float lo = 0.0f, hi = 0.0f;
    for (int64_t p = 0; p < parts; p++) {
        lo = t.lo[p] < lo ? t.lo[p] : lo;
        hi = t.hi[p] > hi ? t.hi[p] : hi;
        t.nan |= t.nans[p];
    }
    const float range = hi - lo;
    float s = isfinite(range) ? (hi == lo ? 1.0f : range) / 255.0f : (float)(((double)hi - (double)lo) / 255.0);
    if (!(s > 0.0f))
        s = 1.0f / 255.0f;
    float z = 0.0f - lo / s;
    z = nearbyintf(z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z);
    t.s = s;
    t.z = z;
    /* spans of 64+ values over the threads, as QUANTIZE's */
    fgq_idx grain = fgq_parallel_grain(node->par, t.n, 4);
    grain = grain < t.n ? (grain + 63) / 64 * 64 : t.n;
    fgq_parallel_for(node->par, t.n, grain, dynquant_span, &t);
    *(float *)out[1]->data = s;
    *(uint8_t *)out[2]->data = (uint8_t)z;
    return FGQ_OK;
}

/* ---- QCONV_DYN / QGEMM_DYN ------------------------------------------------ */

/* Inputs 0..2 (X, X_SCALE, X_ZERO), presence of W and W_SCALE, a f32 output; up to max_in inputs
 * (QCONV_DYN 7, QGEMM_DYN 8: WSUM). */
static fgq_status dyn_check_common(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                   const fgq_tensor_view *const *out, int32_t max_in, fgq_error *err)
{
    if (node->n_inputs < 5 || node->n_inputs > max_in || node->n_outputs != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 5..%d / 1",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs, (int)max_in);
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
    fgq_status st = dyn_check_common(node, in, out, 7, err);
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

/* On application cores QCONV_DYN runs QCONV's own fast paths (qconv.c: the depthwise forms, the
 * packed conv kernels and AMX tiles, im2col + GEMM) with its float output stage in place of the
 * requantization (fgq_qconv_run_fout): the kernels give fgq_qconv_dot's exact integers for any
 * zero point of X's dtype, so the outputs are the reference's bits (tests/test_qops_dyn.c compares
 * both with an independent oracle). Its own im2col rows and QGEMM rows, which it ran before, took
 * MobileNetV2 --acts dynamic 31 ms a run where the static s8 model takes 3.4. Microcontrollers
 * (the target's qdyn_fast 0) keep the reference. */
uint64_t fgq_qconv_dyn_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, const fgq_target *target)
{
#if FGQ_QDYN_PATHS
    qconv_dyn_shape s;
    if (!target->qdyn_fast || qconv_dyn_check_all(node, in, out, &s, NULL) != FGQ_OK)
        return 0;
    return fgq_qconv_fout_scratch(&s.geom, &s.qw, in[0], target);
#else
    (void)node, (void)in, (void)out, (void)target;
    return 0;
#endif
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
#if FGQ_QDYN_PATHS
    const fgq_target *target = fgq_target_build();
    if (target->qdyn_fast) {
        if ((st = fgq_scratch_begin(node, fgq_qconv_fout_scratch(&s.geom, &s.qw, x, target), err)) != FGQ_OK)
            return st;
        const fgq_qconv_fout fo = {
            e.s_x, e.s_w, e.bias, node->iparams[FGQ_P_ACT], node->fparams[FGQ_PF_ACT0], node->fparams[FGQ_PF_ACT1]};
        if (fgq_qconv_run_fout(node, &s.geom, &s.qw, x, e.z_x, y, &fo))
            return FGQ_OK;
    }
#endif
    qconv_dyn_ref(node, &s, &e, x, y, out[0]->dims[1]);
    return FGQ_OK;
}

static fgq_status qgemm_dyn_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                      const fgq_tensor_view *const *out, int at_load, fgq_qweights *qw, fgq_error *err)
{
    fgq_status st = dyn_check_common(node, in, out, 8, err);
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
    const fgq_tensor_view *wsum = node->n_inputs > 7 ? in[7] : NULL;
    st = fgq_qweights_check_dyn(node, in[3], in[4], b, gs, y->dims[y->rank - 1], a->dims[a->rank - 1], qw, err);
    return st == FGQ_OK && wsum != NULL ? fgq_qweights_check_wsum(node, wsum, qw, at_load, err) : st;
}

fgq_status fgq_qgemm_dyn_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_qweights qw;
    return qgemm_dyn_check_all(node, in, out, 1, &qw, err);
}

/* QGEMM_DYN: on application cores (qdyn_fast) QGEMM's own paths with the float output stage
 * (fgq_qgemm_run_fout: the AMX tiles, the kernel row's block form); elsewhere a task is one
 * activation row and QDYN_GJB output channels, the dots by the QGEMM kernel row for the weights
 * (the reference row under FGQ_KERNELS_REF): exact integers, so the same outputs whatever the
 * kernel or the split. On the kernel row's dot a row, a BERT-style encoder's QGEMM_DYN layers
 * (128 tokens, d 256) ran at ~100 GOP/s, the static QGEMM's AMX tiles at ~1,000. */
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

uint64_t fgq_qgemm_dyn_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, const fgq_target *target)
{
#if FGQ_QDYN_PATHS
    fgq_qweights qw;
    if (!target->qdyn_fast || qgemm_dyn_check_all(node, in, out, 0, &qw, NULL) != FGQ_OK)
        return 0;
    return fgq_qgemm_fout_scratch(&qw, fgq_ops_dims_prod(in[0]->dims, 0, in[0]->rank - 1), target);
#else
    (void)node, (void)in, (void)out, (void)target;
    return 0;
#endif
}

fgq_status fgq_qgemm_dyn_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_qweights qw;
    fgq_status st = qgemm_dyn_check_all(node, in, out, 0, &qw, err);
    if (st != FGQ_OK)
        return st;
    dyn_epilogue e;
    dyn_epilogue_read(in, node->n_inputs, &e);
    const fgq_tensor_view *a = in[0];
    float *y = (float *)out[0]->data;
    const int64_t m_rows = fgq_ops_dims_prod(a->dims, 0, a->rank - 1);
#if FGQ_QDYN_PATHS
    const fgq_target *target = fgq_target_build();
    if (target->qdyn_fast) {
        if ((st = fgq_scratch_begin(node, fgq_qgemm_fout_scratch(&qw, m_rows, target), err)) != FGQ_OK)
            return st;
        const fgq_qconv_fout fo = {e.s_x,
                                   e.s_w,
                                   e.bias,
                                   node->iparams[FGQ_P_GEMM_ACT],
                                   node->fparams[FGQ_PF_ACT0],
                                   node->fparams[FGQ_PF_ACT1]};
        fgq_qgemm_run_fout(node, &qw, a, e.z_x, y, &fo);
        return FGQ_OK;
    }
#endif
    const int64_t n_out = qw.rows;
    qgemm_dyn_task t = {&qw,
                        fgq_qgemm_kernel_select(qw.dtype, fgq_node_kernels(node), fgq_node_cpu(node), &qw),
                        &e,
                        (const uint8_t *)a->data,
                        y,
                        m_rows,
                        (n_out + QDYN_GJB - 1) / QDYN_GJB,
                        a->dtype == FGQ_DT_S8};
    const int64_t tasks = m_rows * t.j_blocks;
    fgq_parallel_for(node->par, tasks,
                     fgq_parallel_grain(node->par, tasks, fgq_qgemm_cost(t.kern, QDYN_GJB * qw.k)), qgemm_dyn_blocks,
                     &t);
    fgq_ops_act_apply_f32(y, m_rows * n_out, node->iparams[FGQ_P_GEMM_ACT], node->fparams[FGQ_PF_ACT0],
                          node->fparams[FGQ_PF_ACT1]);
    return FGQ_OK;
}
