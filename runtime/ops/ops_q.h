/*
 * ops_q.h — the integer-only reference kernels behind the quantized rows of the
 * op table (FGQ_OP_QCONV .. FGQ_OP_DEQUANTIZE), and the helpers they share.
 *
 * These kernels are the specification (docs/quantized-ops.md): straightforward
 * loops, exact integer arithmetic, one documented rounding rule
 * (fgq_requantize_s32, runtime/quant/affine.h). Optimized kernels must match
 * them bit for bit. Activations are u8 or s8 per tensor, x = s·(q − z); every
 * zero point, clamp and requantization parameter comes from the node (iparams)
 * or from s32/u8 constant inputs, never from float arithmetic (QUANTIZE and
 * DEQUANTIZE excepted: they convert at the float boundary).
 *
 * `check` validates everything that can be seen at load (dtypes, shapes,
 * iparams, the int32 overflow bound); `run` additionally validates the
 * per-channel requantization pairs in the REQ constant (FGQ_ERR_FORMAT when a
 * shift is outside −31..31 or a multiplier is negative) because constant data
 * is not visible to `check`. Every other constant value is safe by
 * construction: multipliers are clamped to FGQ_QP_W_MMAX, the t2 code 3 reads
 * as 0, the bias add saturates. No kernel allocates; none tolerates aliasing
 * of an output with an input.
 */
#ifndef FGQ_OPS_Q_H
#define FGQ_OPS_Q_H

#include "fgq_ops.h"
#include "ops_util.h"

#include <stdint.h>

#define FGQ_OPS_Q_DECL(op)                                                                                  \
    fgq_status fgq_##op##_check(const fgq_node_view *node, const fgq_tensor_view *const *in,               \
                                const fgq_tensor_view *const *out, fgq_error *err);                        \
    fgq_status fgq_##op##_run(const fgq_node_view *node, const fgq_tensor_view *const *in,                 \
                              const fgq_tensor_view *const *out, fgq_error *err);

FGQ_OPS_Q_DECL(qconv)            /* qconv.c */
FGQ_OPS_Q_DECL(qgemm)            /* qgemm.c */
FGQ_OPS_Q_DECL(qadd)             /* qadd.c */
/* QADD's reference twin (the formula per element, any broadcast): the table form must equal it. */
fgq_status fgq_qadd_run_ref(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err);
FGQ_OPS_Q_DECL(qmaxpool)         /* qpool.c */
FGQ_OPS_Q_DECL(qavgpool)
FGQ_OPS_Q_DECL(qglobal_avgpool)
FGQ_OPS_Q_DECL(qconcat)          /* qconcat.c */
FGQ_OPS_Q_DECL(quantize)         /* qconvert.c */
FGQ_OPS_Q_DECL(dequantize)
FGQ_OPS_Q_DECL(matmul_int)       /* qinteger.c */
/* MATMUL_INT's reference twin (one k-ordered dot per output): the fast run must equal it bit for bit. */
fgq_status fgq_matmul_int_run_ref(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, fgq_error *err);
FGQ_OPS_Q_DECL(conv_int)
FGQ_OPS_Q_DECL(dynquant)         /* qdyn.c */
FGQ_OPS_Q_DECL(qconv_dyn)
FGQ_OPS_Q_DECL(qgemm_dyn)
FGQ_OPS_Q_DECL(qlut)             /* qlut.c */
FGQ_OPS_Q_DECL(qmul)             /* qadd.c */
/* QMUL's reference twin (the formula per element): the table form must equal it bit for bit. */
fgq_status fgq_qmul_run_ref(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err);

/* Scratch of the ops that take it (fgq_op_impl.scratch). */
/* QCONV's code paths (qconv.c); a firmware build leaves out those its model's layers do not take
 * (op_select.h FGQ_QCONV_ON_*). */
enum {
    FGQ_QCONV_PATH_DW_PHASES = 1u, /* depthwise, padded input split into stride phases */
    FGQ_QCONV_PATH_DW_ROWS = 2u,   /* depthwise, a plane of accumulators, tap by tap along rows */
    FGQ_QCONV_PATH_GEMM = 4u,      /* im2col tiles into an optimized GEMM row (x86: packed conv kernels) */
    FGQ_QCONV_PATH_REF = 8u,       /* fgq_qconv_dot per output */
    FGQ_QCONV_PATHS_ALL = 15u
};
/* The path a QCONV node that passes its checks takes in a build for `target` whose depthwise
 * table has a row for its CPU (dw_row) and whose GEMM table has an optimized row for its weights
 * (gemm_row), every path built; 0 if the node fails its checks. `fgq export --c` writes the
 * model's paths into its op selection with it. */
uint32_t fgq_qconv_path(const fgq_node_view *node, const fgq_tensor_view *const *in, const fgq_tensor_view *const *out,
                        const fgq_target *target, int dw_row, int gemm_row);
const char *fgq_qconv_path_name(uint32_t path); /* one FGQ_QCONV_PATH_* bit: "reference", ... */
uint64_t fgq_qconv_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, const fgq_target *target);
uint64_t fgq_qgemm_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, const fgq_target *target);
uint64_t fgq_qadd_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, const fgq_target *target);
uint64_t fgq_qconv_dyn_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, const fgq_target *target);
uint64_t fgq_qgemm_dyn_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, const fgq_target *target);

#undef FGQ_OPS_Q_DECL

/* ---- shared helpers (qutil.c and the inlines below) ---------------------- */

/* Integer range of an activation dtype (u8 0..255, s8 −128..127); 0 for any
 * other dtype. */
int fgq_q_act_range(fgq_dtype dt, int32_t *lo, int32_t *hi);

/* Input/output `t` must be u8 or s8 (FGQ_ERR_UNSUPPORTED otherwise). */
fgq_status fgq_q_check_act(const fgq_node_view *node, const fgq_tensor_view *t, const char *role, int32_t index,
                           fgq_error *err);
/* z must lie in dt's range; `what` names it in the message. */
fgq_status fgq_q_check_zero(const fgq_node_view *node, fgq_dtype dt, int32_t z, const char *what, fgq_error *err);
/* Y_ZERO, QMIN, QMAX of the Q block against y's dtype: each in range, qmin <= qmax. */
fgq_status fgq_q_check_out(const fgq_node_view *node, const fgq_tensor_view *y, fgq_error *err);
/* mult >= 0 and shift in [shift_lo, shift_hi] (both within −31..31). */
fgq_status fgq_q_check_req(const fgq_node_view *node, int32_t mult, int32_t shift, int32_t shift_lo,
                           int32_t shift_hi, const char *what, fgq_error *err);

/* Rounded integer division n / d (d > 0), halves away from zero. */
static inline int64_t fgq_q_rdiv(int64_t n, int64_t d)
{
    return n >= 0 ? (n + d / 2) / d : -((-n + d / 2) / d);
}

static inline int32_t fgq_q_load(const void *p, fgq_idx i, int is_s8)
{
    return is_s8 ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const uint8_t *)p)[i];
}

/* (float)d, rounded to nearest even as the int64 conversion rounds, for |d| < 2^33 (a difference of two
 * int32s), through int32 conversions only: on a Cortex-M FPU (float)int64 is a library call (__aeabi_l2f
 * and libgcc's soft-float adder, ~0.8 KB of flash). Beyond int32, d's two low bits fold into a sticky bit:
 * u = |d| >> 2 | sticky has >= 30 significant bits, so the float's rounding position (>= bit 6) and its
 * half bit (>= bit 5) are bits of |d| >> 2 and everything below them is nonzero exactly when it was in
 * |d|; the product by 4 is exact, and negation commutes with rounding to nearest even. */
static inline float fgq_f32_of_s33(int64_t d)
{
    if (d >= INT32_MIN && d <= INT32_MAX)
        return (float)(int32_t)d;
    const uint64_t u = d < 0 ? 0u - (uint64_t)d : (uint64_t)d;
    const float f = (float)(int32_t)((u >> 2) | (uint64_t)((u & 3u) != 0)) * 4.0f;
    return d < 0 ? -f : f;
}

/* roundf(r) (even 0: halves away from zero) or nearbyintf(r) in the default rounding mode (even 1:
 * halves to even), but possibly +0 for -0: a whole number's sign of zero does not reach QUANTIZE's
 * integer. Without libm: on a Cortex-M4 (no VRINT) rintf and roundf are ~0.3 KB of library code.
 * Below 2^23 in magnitude the truncation t is exact in int32 and float, r − t is exact (same sign,
 * |r − t| < 1, no bits below r's), so the comparisons with 0.5 decide exactly; from 2^23 on, every
 * float is whole (or inf, NaN), which both functions return unchanged. */
static inline int32_t fgq_round_small_f32(float r, int even); /* below: the same for |r| < 2^23, as an int32 */
static inline float fgq_round_f32(float r, int even)
{
    const float a = r < 0.0f ? -r : r;
    if (!(a < 8388608.0f))
        return r;
    return (float)fgq_round_small_f32(r, even);
}

/* fgq_round_f32(r, even) as an int32, for |r| < 2^23 (the caller bounds r): the truncation ti is
 * exact, and so is |r − ti| < 1. */
static inline int32_t fgq_round_small_f32(float r, int even)
{
    const int32_t ti = (int32_t)r;
    const float f = r < 0.0f ? (float)ti - r : r - (float)ti;
    const int up = f > 0.5f || (f == 0.5f && (!even || (ti & 1) != 0));
    return up ? (r < 0.0f ? ti - 1 : ti + 1) : ti;
}

/* Stores clamp(v, qmin, qmax); qmin/qmax lie in the dtype's range (checked). */
static inline void fgq_q_store(void *p, fgq_idx i, int is_s8, int64_t v, int32_t qmin, int32_t qmax)
{
    const int32_t c = v < qmin ? qmin : v > qmax ? qmax : (int32_t)v;
    if (is_s8)
        ((int8_t *)p)[i] = (int8_t)c;
    else
        ((uint8_t *)p)[i] = (uint8_t)c;
}

/* ---- quantized weights: QCONV and QGEMM --------------------------------- */

/* Largest |code| a weight dtype can hold (s8 128, s4 8, s3 4, s2 3, t2 1); 0 otherwise. */
int32_t fgq_qw_code_max(fgq_dtype dt);

/* Bytes of one packed weight row of k codes of dt, and (kp not NULL) W's row length Kp: k
 * rounded up to the dtype's packing unit (docs/quantized-ops.md §3.2). */
int64_t fgq_qw_row_bytes(fgq_dtype dt, int64_t k, int64_t *kp);

/* Code k of a packed s4, s3 or s2 row (qutil.c): out of line, so the reference loops that
 * inline fgq_qw_code carry one call for them instead of three decoders each (on the Cortex-M4
 * the inlined s3 and s2 decoders cost 1.8 KB of runtime flash in every firmware). */
int32_t fgq_qw_code_subbyte(fgq_dtype dt, const uint8_t *row, fgq_idx k);

/* Code k of a packed row: s8 as is, t2 1 -> +1, 2 -> −1, 0 and the invalid 3 -> 0; s4
 * sign-extended nibble (low first), s3 low − 4·high of its unit (quant/s3.h), s2 2c − 3
 * (quant/s2.h) through fgq_qw_code_subbyte. */
static inline int32_t fgq_qw_code(fgq_dtype dt, const uint8_t *row, fgq_idx k)
{
    if (dt == FGQ_DT_S8)
        return (int32_t)(int8_t)row[k];
    if (dt != FGQ_DT_T2)
        return fgq_qw_code_subbyte(dt, row, k);
    const int32_t c = (row[k >> 2] >> (2 * (k & 3))) & 3;
    return c == 1 ? 1 : c == 2 ? -1 : 0;
}

/* A checked weight operand: W [rows, Kp] packed, B? s32 [rows], REQ s32
 * [rows, 2], GS? u8 [rows, n_groups(, 2)], plus the Q block's W_* params. */
typedef struct {
    fgq_dtype dtype;
    fgq_idx rows, k, row_bytes; /* W is a checked tensor: [rows, Kp] bytes bound them */
    fgq_idx group, n_groups;    /* group = k, n_groups = 1 without GS */
    int32_t n_alpha, mmax;   /* 1, 1 without GS */
    int has_gs;
    const uint8_t *codes, *gs;
    const int32_t *bias, *req;
    const int32_t *wsum; /* QGEMM's WSUM? (fgq_qweights_row_sum of every row, checked at load), else NULL */
} fgq_qweights;

/* Validates W, B, REQ, GS (views; data may be NULL) for `rows` output
 * channels and reduction length k, and the int32 overflow bound
 * k · code_max · dx_max · M <= 2^31 − 1 with dx_max = max(z_x − lo, hi − z_x)
 * of X's dtype; fills *qw (data pointers as in the views). */
fgq_status fgq_qweights_check(const fgq_node_view *node, const fgq_tensor_view *w, const fgq_tensor_view *b,
                              const fgq_tensor_view *req, const fgq_tensor_view *gs, int64_t rows, int64_t k,
                              fgq_dtype x_dtype, fgq_qweights *qw, fgq_error *err);
/* The same for QCONV_DYN / QGEMM_DYN (qdyn.c): W_SCALE f32 [rows] instead of
 * REQ, bias B? f32 [rows] (qw->bias and qw->req are NULL), and the bound with
 * dx_max = 255 since X's zero point is only known at run time. */
fgq_status fgq_qweights_check_dyn(const fgq_node_view *node, const fgq_tensor_view *w, const fgq_tensor_view *w_scale,
                                  const fgq_tensor_view *b, const fgq_tensor_view *gs, int64_t rows, int64_t k,
                                  fgq_qweights *qw, fgq_error *err);
/* Load-time part, for the op's check (after fgq_qweights_check filled qw from the same views):
 * REQ (req_view) is a constant whose data the view holds, and every pair has mult >= 0 and shift
 * in −31..31. The runs rely on it and do not check again (fgq_model_load passes constants' data
 * to the checks; a REQ that is not a constant is refused). */
fgq_status fgq_qweights_check_req(const fgq_node_view *node, const fgq_tensor_view *req_view, const fgq_qweights *qw,
                                  fgq_error *err);

/* QGEMM's WSUM? s32 [rows] (view not NULL): its shape, then qw->wsum; at_load: also a constant
 * whose every value is fgq_qweights_row_sum (qw filled from the same node's views). */
fgq_status fgq_qweights_check_wsum(const fgq_node_view *node, const fgq_tensor_view *wsum, fgq_qweights *qw,
                                   int at_load, fgq_error *err);

/* Group accumulator over one weight row: push (code, d = q_x − z_x) for k =
 * 0, 1, ..., K − 1 in order; at each group end the group's
 *   m⁺·Σ_{w>0} w·d − m⁻·Σ_{w<0} |w|·d      (m⁺ = m⁻ = m when n_alpha = 1)
 * is added to acc, with m = min(GS value, M) (1 without GS). */
typedef struct {
    const fgq_qweights *qw;
    const uint8_t *gs_row; /* this row's multipliers, NULL without GS */
    fgq_idx left, g;       /* codes left in the current group, its index */
    int32_t pos, neg, acc;
} fgq_qacc;

static inline void fgq_qacc_begin(fgq_qacc *a, const fgq_qweights *qw, fgq_idx row)
{
    a->qw = qw;
    a->gs_row = qw->has_gs ? qw->gs + row * qw->n_groups * qw->n_alpha : NULL;
    a->left = qw->group;
    a->g = 0;
    a->pos = a->neg = a->acc = 0;
}

static inline void fgq_qacc_flush(fgq_qacc *a)
{
    int32_t mp = 1, mn = 1;
    if (a->gs_row != NULL) {
        const uint8_t *m = a->gs_row + a->g * a->qw->n_alpha;
        mp = m[0] < a->qw->mmax ? m[0] : a->qw->mmax;
        mn = a->qw->n_alpha == 2 ? (m[1] < a->qw->mmax ? m[1] : a->qw->mmax) : mp;
    }
    a->acc += mp * a->pos - mn * a->neg;
    a->pos = a->neg = 0;
    a->g++;
    a->left = a->qw->group;
}

static inline void fgq_qacc_push(fgq_qacc *a, int32_t w, int32_t d)
{
    if (w > 0)
        a->pos += w * d;
    else if (w < 0)
        a->neg -= w * d;
    if (--a->left == 0)
        fgq_qacc_flush(a);
}

/* Final dot product of the row (flushes a short last group). */
static inline int32_t fgq_qacc_end(fgq_qacc *a)
{
    if (a->left != a->qw->group)
        fgq_qacc_flush(a);
    return a->acc;
}

/* Code k of weight row `row` (its bytes at wrow) as its effective weight m·code, m the multiplier of
 * k's group that fgq_qacc_flush applies (m⁻ for a negative code where n_alpha = 2; 1 without GS). */
static inline int32_t fgq_qw_effective(const fgq_qweights *qw, fgq_idx row, const uint8_t *wrow, fgq_idx k)
{
    const int32_t code = fgq_qw_code(qw->dtype, wrow, k);
    int32_t m = 1;
    if (qw->has_gs) {
        const uint8_t *mg = qw->gs + (row * qw->n_groups + k / qw->group) * qw->n_alpha;
        m = (code < 0 && qw->n_alpha == 2) ? mg[1] : mg[0];
        m = m < qw->mmax ? m : qw->mmax;
    }
    return m * code;
}

/* Weight row `row`'s first K codes as the effective weights e[k] = m·code, m the multiplier of
 * k's group that fgq_qacc_flush applies (m⁻ for a negative code where n_alpha = 2; 1 without GS):
 * Σ_k e[k]·d[k] is fgq_qacc's dot, the depthwise paths' taps (qconv.c, qdyn.c). */
static inline void fgq_qw_tap_weights(const fgq_qweights *qw, fgq_idx row, fgq_idx K, int32_t *e)
{
    const uint8_t *wrow = qw->codes + row * qw->row_bytes;
    if (qw->dtype == FGQ_DT_S8 && !qw->has_gs) { /* the common case: e = code */
        for (fgq_idx k = 0; k < K; k++)
            e[k] = (int8_t)wrow[k];
        return;
    }
    for (fgq_idx k = 0; k < K; k++)
        e[k] = fgq_qw_effective(qw, row, wrow, k);
}

/* Dot product of weight row `row` with the k activations at x (u8, or s8
 * when x_s8): Σ_k w·(q_x − z_x) through fgq_qacc. QGEMM and QGEMM_DYN. */
static inline int32_t fgq_qweights_dot(const fgq_qweights *qw, fgq_idx row, const void *x, int x_s8, int32_t zx)
{
    const uint8_t *wrow = qw->codes + row * qw->row_bytes;
    fgq_qacc a;
    fgq_qacc_begin(&a, qw, row);
    const fgq_idx K = qw->k;
    for (fgq_idx k = 0; k < K; k++)
        fgq_qacc_push(&a, fgq_qw_code(qw->dtype, wrow, k), fgq_q_load(x, k, x_s8) - zx);
    return fgq_qacc_end(&a);
}

/* Σ_k of weight row `row`'s effective weights (fgq_qw_tap_weights' e[k]), modulo 2^32: what z_x
 * multiplies in fgq_qweights_dot, so that Σ_k e[k]·q_x[k] − z_x·(this) is the same dot (mod 2^32).
 * QGEMM's WSUM input holds it per row (checked at load against this: qutil.c). */
int32_t fgq_qweights_row_sum(const fgq_qweights *qw, fgq_idx row);

/* Builds whose kernels read WSUM (the x86 ternary GEMV row) check its values at load; the others
 * check its shape only, since there its values cannot change an output. */
#if defined(__x86_64__) || defined(__i386__)
#define FGQ_QW_WSUM_READ 1
#else
#define FGQ_QW_WSUM_READ 0
#endif

/* Convolution geometry shared by QCONV and QCONV_DYN (qconv.c): the spatial
 * block read against X and Y, the group count, K = (C/G)·Πkernel. */
typedef struct {
    fgq_ops_spatial sp;
    int64_t groups, k;
} fgq_qconv_geom;

/* Spatial block (fgq_ops_read_spatial), group >= 1 dividing C_in and C_out =
 * Y's dim 1, equal batch; X and Y dtypes are the caller's to check. */
fgq_status fgq_qconv_geom_check(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                                fgq_qconv_geom *g, fgq_error *err);
/* Dot product of output channel mo at batch n, output position (od, oh, ow):
 * Σ_k w[mo, k]·(x[n, c(k), tap] − z_x) through fgq_qacc, padding taps 0. */
int32_t fgq_qconv_dot(const fgq_qconv_geom *g, const fgq_qweights *qw, const fgq_tensor_view *x, int32_t zx,
                      fgq_idx n, fgq_idx mo, fgq_idx od, fgq_idx oh, fgq_idx ow);

/* QCONV_DYN's float output stage (qdyn.c) on QCONV's fast paths: channel c's outputs
 * y = (float)dot·(s_x·s_w[c]) (+ bias[c]), float32 as written, then the fused activation
 * (fgq_ops_act_apply_f32's act, act0, act1). */
/* Where QCONV_DYN / QGEMM_DYN run QCONV's and QGEMM's paths (the profiles with qdyn_fast): the
 * application cores FGQ_OPS_THREADED names. Elsewhere (microcontroller firmware) none of it is
 * compiled in: a run-time test alone kept ~6 KB of QCONV's code in a Cortex-M4 image whose model
 * has QCONV_DYN and no QCONV; the tools, which size every profile, run on the cores above. */
#define FGQ_QDYN_PATHS FGQ_OPS_THREADED

typedef struct {
    float s_x;
    const float *s_w, *bias; /* [M]; bias NULL when absent */
    int32_t act;
    float act0, act1;
} fgq_qconv_fout;
/* QCONV's fast paths (qconv.c: depthwise, packed conv kernels, im2col + GEMM; the same dots) for
 * geometry g and weights qw (fgq_qweights_check_dyn's), X with zero point zx, and float outputs y
 * through fo: QCONV_DYN's. 1 when a path ran; 0 when none takes the layer on this build (then the
 * caller's reference: fgq_qconv_dot per output). Needs fgq_qconv_fout_scratch bytes a slice
 * (fgq_scratch_begin'd by the caller). */
int fgq_qconv_run_fout(const fgq_node_view *node, const fgq_qconv_geom *g, const fgq_qweights *qw,
                       const fgq_tensor_view *x, int32_t zx, float *y, const fgq_qconv_fout *fo);
uint64_t fgq_qconv_fout_scratch(const fgq_qconv_geom *g, const fgq_qweights *qw, const fgq_tensor_view *x,
                                const fgq_target *target);

/* QGEMM's paths (qgemm.c: AMX tiles, the kernel row's blocks; the same dots) for weights qw
 * (fgq_qweights_check_dyn's), A (rows: its leading dims) with zero point zx, and float outputs y
 * [rows, qw->rows] through fo (channel c: y = (float)dot·(s_x·s_w[c]) (+ bias[c]), then the fused
 * activation): QGEMM_DYN's. Needs fgq_qgemm_fout_scratch bytes a slice (fgq_scratch_begin'd by the
 * caller). */
void fgq_qgemm_run_fout(const fgq_node_view *node, const fgq_qweights *qw, const fgq_tensor_view *a, int32_t zx,
                        float *y, const fgq_qconv_fout *fo);
uint64_t fgq_qgemm_fout_scratch(const fgq_qweights *qw, int64_t m_rows, const fgq_target *target);

/* Output of channel `row` for its dot product: clamp(z_y +
 * requant(sat32(bias + dot), mult, shift), qmin, qmax), before the store. */
int64_t fgq_qweights_output(const fgq_qweights *qw, int64_t row, int32_t dot, int32_t z_y);

#endif /* FGQ_OPS_Q_H */
