/*
 * qadd.c — QADD and QMUL: integer-only Add and Mul of two u8|s8 tensors with
 * their own scales (TFLite's integer Add and Mul), numpy broadcasting, rank <= 8.
 *
 *   a' = requant((q_a − z_a) · 2^L, mult_a, shift_a)      (shift_a <= 0)
 *   b' = requant((q_b − z_b) · 2^L, mult_b, shift_b)      (shift_b <= 0)
 *   y  = clamp(z_y + requant(a' + b', mult_y, shift_y), qmin, qmax)
 *
 * with L = FGQ_QP_ADD_LEFT_SHIFT (20 for 8-bit), real multipliers
 * s_a / (2·max(s_a, s_b)), s_b / (2·max(s_a, s_b)) and
 * 2·max(s_a, s_b) / (2^L · s_y). Bounds: |q − z| <= 255, L <= 20, so
 * |a'|, |b'| < 2^28 and the sum fits int32 for any multipliers.
 *
 *   QMUL: y = clamp(z_y + requant((q_a − z_a)·(q_b − z_b), mult_y, shift_y), qmin, qmax)
 *
 * with the real multiplier s_a·s_b / s_y; |(q_a − z_a)(q_b − z_b)| <= 255² fits int32.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"
#include "quant/affine.h"

static int64_t aligned_dim(const fgq_tensor_view *t, int32_t out_rank, int32_t axis)
{
    const int32_t k = axis - (out_rank - t->rank);
    return k < 0 ? 1 : t->dims[k];
}

/* The output dims of A and B broadcast; FGQ_ERR_SHAPE when they do not. */
static fgq_status check_bcast(const fgq_node_view *node, const fgq_tensor_view *a, const fgq_tensor_view *b,
                              const fgq_tensor_view *y, fgq_error *err)
{
    const int32_t rank = a->rank > b->rank ? a->rank : b->rank;
    int64_t dims[FGQ_MAX_DIMS];
    for (int32_t i = 0; i < rank; i++) {
        const int64_t da = aligned_dim(a, rank, i), db = aligned_dim(b, rank, i);
        if (da != db && da != 1 && db != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "cannot broadcast axis %d: %lld vs %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)da, (long long)db);
        dims[i] = da == 1 ? db : da;
    }
    return fgq_ops_check_out_dims(node, y, rank, dims, err);
}

/* What QADD and QMUL both check: two u8|s8 inputs and an output, z_a and z_b in their dtypes, the
 * output block, the output requantization and the broadcast shapes. */
static fgq_status check_binary(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int32_t *ip = node->iparams;
    if ((st = fgq_q_check_act(node, a, "input", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_act(node, b, "input", 1, err)) != FGQ_OK ||
        (st = fgq_q_check_act(node, y, "output", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_zero(node, a->dtype, ip[FGQ_QP_X_ZERO], "A zero point", err)) != FGQ_OK ||
        (st = fgq_q_check_zero(node, b->dtype, ip[FGQ_QP_ADD_B_ZERO], "B zero point", err)) != FGQ_OK ||
        (st = fgq_q_check_out(node, y, err)) != FGQ_OK ||
        (st = fgq_q_check_req(node, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT], -31, 31, "output", err)) != FGQ_OK)
        return st;
    return check_bcast(node, a, b, y, err);
}

fgq_status fgq_qadd_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = check_binary(node, in, out, err);
    if (st != FGQ_OK)
        return st;
    const int32_t *ip = node->iparams;
    if ((st = fgq_q_check_req(node, ip[FGQ_QP_ADD_A_MULT], ip[FGQ_QP_ADD_A_SHIFT], -31, 0, "A", err)) != FGQ_OK ||
        (st = fgq_q_check_req(node, ip[FGQ_QP_ADD_B_MULT], ip[FGQ_QP_ADD_B_SHIFT], -31, 0, "B", err)) != FGQ_OK)
        return st;
    if (ip[FGQ_QP_ADD_LEFT_SHIFT] < 0 || ip[FGQ_QP_ADD_LEFT_SHIFT] > 20)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "left shift %d, expected 0..20", FGQ_NODE_ARGS(node),
                        (int)ip[FGQ_QP_ADD_LEFT_SHIFT]);
    return FGQ_OK;
}

fgq_status fgq_qmul_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, fgq_error *err)
{
    return check_binary(node, in, out, err);
}

/* Element strides of t on each output axis; 0 where t broadcasts. */
static void bcast_strides(const fgq_tensor_view *t, const fgq_tensor_view *y, int64_t *st)
{
    int64_t s = 1;
    for (int32_t i = y->rank - 1; i >= 0; i--) {
        const int64_t d = aligned_dim(t, y->rank, i);
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

/* One step of an odometer over y's first `rank` axes (idx), moving two offsets along with strides sa, sb. */
static void bcast_next(const fgq_tensor_view *y, int32_t rank, const int64_t *sa, const int64_t *sb, int64_t *idx,
                       int64_t *ia, int64_t *ib)
{
    for (int32_t d = rank - 1; d >= 0; d--) {
        *ia += sa[d];
        *ib += sb[d];
        if (++idx[d] < y->dims[d])
            return;
        *ia -= sa[d] * y->dims[d];
        *ib -= sb[d] * y->dims[d];
        idx[d] = 0;
    }
}

/* QADD's fast form, for inputs that are not broadcast (residual adds): each input's rescaled
 * value a' = requant((q − z)·2^L, ...) depends on its code alone, so both are tables of 256
 * entries (the reference's formula for each code), and per element only the sum's requantization
 * is left: 16 a step on AVX-512 (qadd__avx512.c), 8 on AVX2 (qadd__avx2.c), then the same in C. The same bytes as
 * fgq_qadd_run_ref; other shapes, and tensors under QADD_TABLE_MIN elements, run it. */
#define QADD_TABLE_MIN 256
#define QADD_TABLE_BYTES (2 * 256 * sizeof(int32_t)) /* in the node's scratch: above the stack's 2 KB budget */

static int qadd_tables_apply(const fgq_tensor_view *const *in, const fgq_tensor_view *const *out)
{
    const int64_t n = fgq_ops_numel(out[0]);
    return n >= QADD_TABLE_MIN && fgq_ops_numel(in[0]) == n && fgq_ops_numel(in[1]) == n;
}

uint64_t fgq_qadd_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, const fgq_target *target)
{
    (void)node;
    (void)target;
    return qadd_tables_apply(in, out) ? QADD_TABLE_BYTES : 0;
}

typedef struct {
    const fgq_node_view *node;
    const uint8_t *pa, *pb;
    uint8_t *y;
    const int32_t *ta, *tb; /* the inputs' tables */
    uint8_t fa, fb;         /* 0x80 for s8 inputs: the table index */
    int y_s8;
} qadd_task;

/* Elements [b, e) of the table form. */
static void qadd_span(void *ctx, fgq_idx b, fgq_idx e)
{
    const qadd_task *t = (const qadd_task *)ctx;
    const fgq_node_view *node = t->node;
    const int32_t *ip = node->iparams;
    const int32_t zy = ip[FGQ_QP_Y_ZERO], mult = ip[FGQ_QP_REQ_MULT], shift = ip[FGQ_QP_REQ_SHIFT];
    const uint8_t *pa = t->pa + b, *pb = t->pb + b;
    uint8_t *y = t->y + b;
    const int64_t n = e - b;
    int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX512VNNI) != 0)
        i = fgq_qadd_tables__avx512(pa, pb, n, t->fa, t->fb, t->ta, t->tb, mult, shift, zy, ip[FGQ_QP_QMIN],
                                    ip[FGQ_QP_QMAX], y);
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0)
        i += fgq_qadd_tables__avx2(pa + i, pb + i, n - i, t->fa, t->fb, t->ta, t->tb, mult, shift, zy, ip[FGQ_QP_QMIN],
                                   ip[FGQ_QP_QMAX], y + i, t->y_s8);
#endif
    for (; i < n; i++) {
        const int64_t v = (int64_t)zy + fgq_requantize_s32(t->ta[pa[i] ^ t->fa] + t->tb[pb[i] ^ t->fb], mult, shift);
        fgq_q_store(y, i, t->y_s8, v, ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
    }
}

fgq_status fgq_qadd_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                        const fgq_tensor_view *const *out, fgq_error *err)
{
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int64_t n = fgq_ops_numel(y);
    if (!qadd_tables_apply(in, out))
        return fgq_qadd_run_ref(node, in, out, err);
    fgq_status st = fgq_scratch_begin(node, QADD_TABLE_BYTES, err);
    if (st != FGQ_OK)
        return st;
    const int32_t *ip = node->iparams;
    const int a_s8 = a->dtype == FGQ_DT_S8, b_s8 = b->dtype == FGQ_DT_S8, y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t lsh = ip[FGQ_QP_ADD_LEFT_SHIFT];
    int32_t slot;
    int32_t *ta = (int32_t *)fgq_scratch_claim(node, &slot), *tb = ta + 256; /* index: the byte of a u8 code,
                                                                                 or an s8 code + 128 */
#if defined(__x86_64__) || defined(__i386__)
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX512VNNI) != 0) {
        fgq_qadd_table__avx512(ta, a_s8, ip[FGQ_QP_X_ZERO], lsh, ip[FGQ_QP_ADD_A_MULT], ip[FGQ_QP_ADD_A_SHIFT]);
        fgq_qadd_table__avx512(tb, b_s8, ip[FGQ_QP_ADD_B_ZERO], lsh, ip[FGQ_QP_ADD_B_MULT], ip[FGQ_QP_ADD_B_SHIFT]);
    } else
#endif
        for (int32_t c = 0; c < 256; c++) {
            ta[c] = fgq_requantize_s32(((a_s8 ? c - 128 : c) - ip[FGQ_QP_X_ZERO]) * (1 << lsh),
                                       ip[FGQ_QP_ADD_A_MULT], ip[FGQ_QP_ADD_A_SHIFT]);
            tb[c] = fgq_requantize_s32(((b_s8 ? c - 128 : c) - ip[FGQ_QP_ADD_B_ZERO]) * (1 << lsh),
                                       ip[FGQ_QP_ADD_B_MULT], ip[FGQ_QP_ADD_B_SHIFT]);
        }
    const qadd_task t = {
        .node = node,
        .pa = (const uint8_t *)a->data,
        .pb = (const uint8_t *)b->data,
        .y = (uint8_t *)y->data,
        .ta = ta,
        .tb = tb,
        .fa = a_s8 ? 0x80u : 0u,
        .fb = b_s8 ? 0x80u : 0u,
        .y_s8 = y_s8,
    };
    /* spans of 64+ elements over the threads (the tables are read-only now); one op a byte or so */
    fgq_idx grain = fgq_parallel_grain(node->par, n, 1);
    grain = grain < n ? (grain + 63) / 64 * 64 : n;
    fgq_parallel_for(node->par, n, grain, qadd_span, (void *)&t);
    fgq_scratch_release(node, slot);
    return FGQ_OK;
}

fgq_status fgq_qadd_run_ref(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int32_t *ip = node->iparams;
    const int a_s8 = a->dtype == FGQ_DT_S8, b_s8 = b->dtype == FGQ_DT_S8, y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t za = ip[FGQ_QP_X_ZERO], zb = ip[FGQ_QP_ADD_B_ZERO], zy = ip[FGQ_QP_Y_ZERO];
    const int32_t lsh = ip[FGQ_QP_ADD_LEFT_SHIFT];
    int64_t sa[FGQ_MAX_DIMS], sb[FGQ_MAX_DIMS], idx[FGQ_MAX_DIMS] = { 0 };
    bcast_strides(a, y, sa);
    bcast_strides(b, y, sb);
    const int64_t n = fgq_ops_numel(y);
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t va = (fgq_q_load(a->data, ia, a_s8) - za) * (1 << lsh);
        const int32_t vb = (fgq_q_load(b->data, ib, b_s8) - zb) * (1 << lsh);
        const int32_t sum = fgq_requantize_s32(va, ip[FGQ_QP_ADD_A_MULT], ip[FGQ_QP_ADD_A_SHIFT]) +
                            fgq_requantize_s32(vb, ip[FGQ_QP_ADD_B_MULT], ip[FGQ_QP_ADD_B_SHIFT]);
        const int64_t v = (int64_t)zy + fgq_requantize_s32(sum, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT]);
        fgq_q_store(y->data, i, y_s8, v, ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
        bcast_next(y, y->rank, sa, sb, idx, &ia, &ib); /* the output index, the two input offsets along */
    }
    return FGQ_OK;
}

/* QMUL's fast form, for one operand constant over the trailing output axes along which the other is
 * contiguous (squeeze-excitation's x · gate[N, C, 1, 1]): per such run of at least QMUL_RUN elements, the
 * output for each of the 256 codes of the contiguous operand as a table, then one lookup per element.
 * Every entry is the formula of fgq_qmul_run_ref for that code: the same bytes. On AVX2, operands that
 * are not broadcast, and shorter constant runs (>= 8), take the vector path (qmul_span); other shapes
 * run the reference loop. */
#define QMUL_RUN 256

/* Elements of the trailing output axes over which cst is broadcast (dim 1) and full has the output's
 * dims (so it is contiguous there); *axes their count. */
static int64_t const_run(const fgq_tensor_view *full, const fgq_tensor_view *cst, const fgq_tensor_view *y,
                         int32_t *axes)
{
    int64_t len = 1;
    int32_t k = 0;
    for (int32_t d = y->rank - 1; d >= 0; d--) {
        if (aligned_dim(cst, y->rank, d) != 1 || aligned_dim(full, y->rank, d) != y->dims[d])
            break;
        len *= y->dims[d];
        k++;
    }
    *axes = k;
    return len;
}

/* QMUL over one run on the vector path where the CPU has it (AVX2: fgq_qmul_run__avx2), the rest
 * by the reference's formula: y[i] = clamp(z_y + requant((a[i] − za)·(b[i·sb] − zb))). */
static void qmul_span(const fgq_node_view *node, const uint8_t *a, const uint8_t *b, int64_t sb, int64_t n, int a_s8,
                      int b_s8, int32_t za, int32_t zb, uint8_t *y, int y_s8)
{
    const int32_t *ip = node->iparams;
    int64_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    if ((fgq_node_cpu(node) & FGQ_CPU_AVX512VNNI) != 0) /* the caller checked AVX2 and the preference */
        i = fgq_qmul_run__avx512(a, b, sb, n, a_s8, b_s8, za, zb, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT],
                                 ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX], y);
    i += fgq_qmul_run__avx2(a + i, b + i * sb, sb, n - i, a_s8, b_s8, za, zb, ip[FGQ_QP_REQ_MULT],
                            ip[FGQ_QP_REQ_SHIFT], ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX], y + i, y_s8);
#endif
    for (; i < n; i++) {
        const int32_t p = (fgq_q_load(a, i, a_s8) - za) * (fgq_q_load(b, i * sb, b_s8) - zb);
        const int64_t v = (int64_t)ip[FGQ_QP_Y_ZERO] + fgq_requantize_s32(p, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT]);
        fgq_q_store(y, i, y_s8, v, ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
    }
}

fgq_status fgq_qmul_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                        const fgq_tensor_view *const *out, fgq_error *err)
{
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int32_t *ip = node->iparams;
    const int64_t n = fgq_ops_numel(y);
    int vec = 0; /* the vector path for runs shorter than a table pays for */
#if defined(__x86_64__) || defined(__i386__)
    vec = fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0;
#endif
    const int a_s8 = a->dtype == FGQ_DT_S8, b_s8 = b->dtype == FGQ_DT_S8;
    if (vec && fgq_ops_numel(a) == n && fgq_ops_numel(b) == n) { /* not broadcast: one run (hard-swish's x · gate(x)) */
        qmul_span(node, (const uint8_t *)a->data, (const uint8_t *)b->data, 1, n, a_s8, b_s8, ip[FGQ_QP_X_ZERO],
                  ip[FGQ_QP_ADD_B_ZERO], (uint8_t *)y->data, y->dtype == FGQ_DT_S8);
        return FGQ_OK;
    }
    int32_t ka, kb;
    const int64_t run_b = const_run(a, b, y, &kb), run_a = const_run(b, a, y, &ka);
    const int b_const = run_b >= QMUL_RUN, a_const = !b_const && run_a >= QMUL_RUN;
    if (!a_const && !b_const && vec && (run_b >= 8 || run_a >= 8)) {
        /* squeeze-excitation gates over short planes (7x7, 14x14): each run on the vector path */
        const int bc = run_b >= run_a;
        const fgq_tensor_view *full = bc ? a : b, *cst = bc ? b : a;
        const int64_t len = bc ? run_b : run_a;
        const int32_t outer = y->rank - (bc ? kb : ka);
        int64_t sf[FGQ_MAX_DIMS], sc[FGQ_MAX_DIMS], idx[FGQ_MAX_DIMS] = { 0 };
        bcast_strides(full, y, sf);
        bcast_strides(cst, y, sc);
        int64_t i_full = 0, i_cst = 0;
        for (int64_t r = 0; r < n / len; r++) {
            qmul_span(node, (const uint8_t *)full->data + i_full, (const uint8_t *)cst->data + i_cst, 0, len,
                      full->dtype == FGQ_DT_S8, cst->dtype == FGQ_DT_S8, bc ? ip[FGQ_QP_X_ZERO] : ip[FGQ_QP_ADD_B_ZERO],
                      bc ? ip[FGQ_QP_ADD_B_ZERO] : ip[FGQ_QP_X_ZERO], (uint8_t *)y->data + r * len,
                      y->dtype == FGQ_DT_S8);
            bcast_next(y, outer, sf, sc, idx, &i_full, &i_cst);
        }
        return FGQ_OK;
    }
    if (!a_const && !b_const)
        return fgq_qmul_run_ref(node, in, out, err);
    const fgq_tensor_view *full = b_const ? a : b, *cst = b_const ? b : a;
    const int32_t z_full = b_const ? ip[FGQ_QP_X_ZERO] : ip[FGQ_QP_ADD_B_ZERO];
    const int32_t z_cst = b_const ? ip[FGQ_QP_ADD_B_ZERO] : ip[FGQ_QP_X_ZERO];
    const int64_t len = b_const ? run_b : run_a;
    const int32_t outer = y->rank - (b_const ? kb : ka);
    const int full_s8 = full->dtype == FGQ_DT_S8, cst_s8 = cst->dtype == FGQ_DT_S8, y_s8 = y->dtype == FGQ_DT_S8;
    int64_t sf[FGQ_MAX_DIMS], sc[FGQ_MAX_DIMS], idx[FGQ_MAX_DIMS] = { 0 };
    bcast_strides(full, y, sf);
    bcast_strides(cst, y, sc);
    const int64_t runs = fgq_ops_numel(y) / len;
    int64_t i_full = 0, i_cst = 0;
    uint8_t table[256];
    int fast512 = 0, vbmi = 0; /* x86: the table built 16 codes a step, read 64 elements a step */
#if defined(__x86_64__) || defined(__i386__)
    fast512 = fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX512VNNI) != 0;
    vbmi = fast512 && (fgq_node_cpu(node) & FGQ_CPU_AVX512VBMI) != 0;
#endif
    (void)fast512;
    (void)vbmi;
    for (int64_t r = 0; r < runs; r++) {
        const int32_t g = fgq_q_load(cst->data, i_cst, cst_s8) - z_cst;
        int built = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (fast512)
            built = fgq_qmul_table__avx512(table, full_s8, z_full, g, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT],
                                           ip[FGQ_QP_Y_ZERO], ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
#endif
        for (int32_t c = 0; c < 256 && !built; c++) { /* index c: the byte of a u8 code, or an s8 code + 128 */
            const int32_t q = full_s8 ? c - 128 : c;
            const int64_t v = (int64_t)ip[FGQ_QP_Y_ZERO] + fgq_requantize_s32((q - z_full) * g, ip[FGQ_QP_REQ_MULT],
                                                                               ip[FGQ_QP_REQ_SHIFT]);
            fgq_q_store(table, c, y_s8, v, ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
        }
        const uint8_t *src = (const uint8_t *)full->data + i_full;
        uint8_t *dst = (uint8_t *)y->data + r * len;
        const uint8_t flip = full_s8 ? 0x80u : 0u;
        int64_t j = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (vbmi)
            j = fgq_qlut_run__avx512vbmi(src, len, flip, table, dst);
#endif
        for (; j < len; j++)
            dst[j] = table[src[j] ^ flip];
        bcast_next(y, outer, sf, sc, idx, &i_full, &i_cst); /* the next run's start */
    }
    return FGQ_OK;
}

/* The reference: the formula per element, with an odometer over the output index. */
fgq_status fgq_qmul_run_ref(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1], *y = out[0];
    const int32_t *ip = node->iparams;
    const int a_s8 = a->dtype == FGQ_DT_S8, b_s8 = b->dtype == FGQ_DT_S8, y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t za = ip[FGQ_QP_X_ZERO], zb = ip[FGQ_QP_ADD_B_ZERO], zy = ip[FGQ_QP_Y_ZERO];
    int64_t sa[FGQ_MAX_DIMS], sb[FGQ_MAX_DIMS], idx[FGQ_MAX_DIMS] = { 0 };
    bcast_strides(a, y, sa);
    bcast_strides(b, y, sb);
    const int64_t n = fgq_ops_numel(y);
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t p = (fgq_q_load(a->data, ia, a_s8) - za) * (fgq_q_load(b->data, ib, b_s8) - zb);
        const int64_t v = (int64_t)zy + fgq_requantize_s32(p, ip[FGQ_QP_REQ_MULT], ip[FGQ_QP_REQ_SHIFT]);
        fgq_q_store(y->data, i, y_s8, v, ip[FGQ_QP_QMIN], ip[FGQ_QP_QMAX]);
        bcast_next(y, y->rank, sa, sb, idx, &ia, &ib);
    }
    return FGQ_OK;
}
