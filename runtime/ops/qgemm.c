/*
 * qgemm.c — QGEMM: integer-only Gemm / MatMul with a constant weight.
 *
 *   dot[r, j] = Σ_k w[j, k] · (a[r, k] − z_x),   r < M (all leading dims of A), j < N
 *   y[r, j]   = clamp(z_y + requant(sat32(B[j] + dot), REQ[j]), qmin, qmax)
 *
 * A u8|s8 [..., K] (rank >= 1), Y [..., N] with A's leading dims; W [N, Kp]
 * packed rows (the tools transpose ONNX's B into [N, K] rows; transB,
 * alpha and beta are folded into W, B and REQ). Weights per ops_q.h.
 *
 * WSUM? s32 [N] (input 5): each row's Σ_k of its effective weights (ops_q.h
 * fgq_qweights_row_sum), checked at load; kernels that take it compute
 * Σ w·a − z_x·WSUM instead of the z_x term per call (the ternary GEMV row).
 *
 * The dot products and the output stage come from the kernel row
 * qgemm_dispatch.c selects (AVX-512 VNNI or AVX2 for s8 and t2 where the CPU
 * has them, else fgq_qweights_dot); all give the same integers. Tiles of
 * qgemm_block_rows rows (the build's target profile) × QGEMM_JB output
 * channels are split over node->par.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

static fgq_status qgemm_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, int at_load, fgq_qweights *qw, fgq_error *err)
{
    if (node->n_inputs < 4 || node->n_inputs > 6 || node->n_outputs != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 4..6 / 1",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs);
    if (in == NULL || out == NULL || out[0] == NULL || in[0] == NULL || in[1] == NULL || in[3] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "A, W, REQ and the output are required",
                        FGQ_NODE_ARGS(node));
    for (int32_t i = 0; i < node->n_inputs; i++) {
        fgq_status st = in[i] != NULL ? fgq_ops_check_tensor(node, in[i], "input", i, err) : FGQ_OK;
        if (st != FGQ_OK)
            return st;
    }
    const fgq_tensor_view *a = in[0], *y = out[0];
    fgq_status st = fgq_ops_check_tensor(node, y, "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, a, "input", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, y, "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_zero(node, a->dtype, node->iparams[FGQ_QP_X_ZERO], "input zero point", err);
    if (st == FGQ_OK)
        st = fgq_q_check_out(node, y, err);
    if (st != FGQ_OK)
        return st;
    if (a->rank < 1 || y->rank != a->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, Y rank %d: expected equal ranks >= 1",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)y->rank);
    for (int32_t i = 0; i + 1 < a->rank; i++)
        if (y->dims[i] != a->dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y dim %d is %lld, expected %lld (A's)",
                            FGQ_NODE_ARGS(node), (int)i, (long long)y->dims[i], (long long)a->dims[i]);
    const fgq_tensor_view *gs = node->n_inputs > 4 ? in[4] : NULL, *wsum = node->n_inputs > 5 ? in[5] : NULL;
    st = fgq_qweights_check(node, in[1], in[2], in[3], gs, y->dims[y->rank - 1], a->dims[a->rank - 1], a->dtype, qw,
                            err);
    return st == FGQ_OK && wsum != NULL ? fgq_qweights_check_wsum(node, wsum, qw, at_load, err) : st;
}

fgq_status fgq_qgemm_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_qweights qw;
    fgq_status st = qgemm_check_all(node, in, out, 1, &qw, err);
    return st == FGQ_OK ? fgq_qweights_check_req(node, in[3], &qw, err) : st;
}

/* A task: MB activation rows × QGEMM_JB output channels, MB the target's
 * qgemm_block_rows (fgq_target.h: 64 on application cores, 16 on
 * microcontrollers). 64 weight rows stay in cache while the rows pass over
 * them. Kernels that take a block of rows at once (kern->gemm) keep the
 * task's int32 dots in the node's scratch slice (fgq_qgemm_scratch: up to
 * 16 KiB, 4 KiB on microcontrollers); the others, the reference among them,
 * need one row of 64 on the stack. */
enum { QGEMM_JB = 64 };

/* One thread's scratch for A's rows: a block of dots, then the block form's work. */
static uint64_t qgemm_dots_bytes(int64_t m_rows, int64_t mb)
{
    return ((uint64_t)(m_rows < mb ? m_rows : mb) * QGEMM_JB * sizeof(int32_t) + 63u) & ~(uint64_t)63u;
}

/* x86-64, AMX (where the host grants it): s8 weights per channel (or rows that fold into s8), 16+ rows of A and of W, K up to
 * QGEMM_AMX_MAX_K, run on the AMX conv kernel (A's rows as its positions), QGEMM_AMX_CH channels
 * by 32 rows a task. Its slice: the kernel's channel-major dots, their transpose (the output stage
 * runs along a row), the chunk's row constants (fgq_qconv_amx_group), the packed rows. Sized from
 * the shapes and the target profile alone, on any host (the x86-64 profile's, qconv_packed; the CPU
 * decides at run time). */
enum { QGEMM_AMX_CH = 256, QGEMM_AMX_ROWS = 32, QGEMM_AMX_MAX_K = 8192 };

/* 1: s8 per channel, read in place; 2: rows decoded to s8 with their multipliers folded in
 * (fgq_qweights_fold_s8: ternary, sub-byte per channel; s8 per channel copied) once per chunk,
 * where a chunk's decoded rows fit FGQ_QCONV_FOLD_CACHE_BYTES and A has 64+ rows; 0: not on AMX.
 * s8 rows read in place are K bytes apart, and at K = 1024 the tiles' 16-row loads fell into few
 * cache sets: copied (fgq_qconv_wrow_bytes apart), 1024 x 1024 x 1024 ran 925 -> 1220 GOP/s, 3136 x
 * 576 x 64 685 -> 865; below 64 rows of A the copy costs more than it saves (32 rows: 755 -> 265). */
static int qgemm_amx_layout(const fgq_qweights *qw, int64_t m_rows, const fgq_target *target)
{
#if !defined(__x86_64__) && !defined(__i386__) && !defined(__aarch64__)
    /* a microcontroller's build sizes its own profile only (qconv_packed 0: none), and the tools
     * that size the x86-64 profile run on the hosts above; here the code would cost ~0.4 KB of
     * flash for nothing */
    (void)qw, (void)m_rows, (void)target;
    return 0;
#else
    if (!target->qconv_packed || m_rows < 16 || qw->rows < 16 || qw->k > QGEMM_AMX_MAX_K || !fgq_qweights_fold_s8(qw))
        return 0;
    /* decoding every row once a call pays only over enough rows of A: 16 x 1024 x 1024 ternary ran
     * 129 GOP/s so, 245 on the VNNI kernel; 1024 rows 973 (s8 in place 986). With the ternary decode
     * through a table a group (qconv_fold_t2__avx512vbmi.c) ternary pays from 16 rows: 16 x 1024 x
     * 1024 0.144 -> 0.113 ms, 32 rows 0.239 -> 0.133 (VNNI -> AMX) */
    const int64_t from = qw->dtype == FGQ_DT_T2 && fgq_qconv_fold_t2_fits(qw) ? 16 : 64;
    const int decode =
        m_rows >= from && (QGEMM_AMX_CH + 16) * fgq_qconv_wrow_bytes(qw->k) <= FGQ_QCONV_FOLD_CACHE_BYTES;
    if (qw->dtype == FGQ_DT_S8 && !qw->has_gs)
        return decode ? 2 : 1;
    return decode ? 2 : 0;
#endif
}

static uint64_t qgemm_amx_bytes(int64_t K, int layout)
{
    const uint64_t dots = (uint64_t)QGEMM_AMX_CH * QGEMM_AMX_ROWS * sizeof(int32_t);
    return 2 * dots + (uint64_t)(QGEMM_AMX_CH + 16) * FGQ_QCONV_AMX_GROUP_ROW +
           (((uint64_t)fgq_qconv_pack_work_bytes(K) + 63u) & ~(uint64_t)63u) +
           (layout == 2 ? (uint64_t)(QGEMM_AMX_CH + 16) * (uint64_t)fgq_qconv_wrow_bytes(K) : 0);
}

static uint64_t qgemm_scratch_bytes(const fgq_qweights *qw, int64_t m_rows, const fgq_target *target)
{
    if (m_rows <= 0)
        return 0;
    const uint64_t b = qgemm_dots_bytes(m_rows, target->qgemm_block_rows) + (uint64_t)fgq_qgemm_gemm_work_bytes(qw, target);
    const int layout = qgemm_amx_layout(qw, m_rows, target);
    const uint64_t amx = layout ? qgemm_amx_bytes(qw->k, layout) : 0;
    return b > amx ? b : amx;
}

uint64_t fgq_qgemm_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, const fgq_target *target)
{
    fgq_qweights qw;
    if (qgemm_check_all(node, in, out, 0, &qw, NULL) != FGQ_OK)
        return 0;
    return qgemm_scratch_bytes(&qw, fgq_ops_dims_prod(in[0]->dims, 0, in[0]->rank - 1), target);
}

typedef struct {
    const fgq_node_view *node;
    const fgq_qweights *qw;
    const fgq_qgemm_kernel *kern;
    const uint8_t *a;
    uint8_t *y; /* codes, when fo is NULL */
    float *yf;  /* floats through fo (QGEMM_DYN: fgq_qgemm_run_fout) */
    const fgq_qconv_fout *fo;
    fgq_qgemm_fout_fn fout; /* its output stage: the twin or a CPU's */
    int a_s8, y_s8;
    int32_t zx, zy, qmin, qmax;
    fgq_idx m_rows, mb, j_blocks; /* mb: rows a block (the build's qgemm_block_rows) */
} qgemm_task;

/* The output stage of row r's channels j0 .. j0 + nb − 1 (their dots at dot). */
static void qgemm_row_out(const qgemm_task *t, fgq_idx r, fgq_idx j0, fgq_idx nb, const int32_t *dot)
{
    if (FGQ_QDYN_PATHS && t->fo != NULL)
        t->fout(t->fo, j0, nb, dot, t->yf + r * t->qw->rows + j0);
    else
        t->kern->requant(t->qw, j0, 1, dot, nb, t->zy, t->qmin, t->qmax, t->y + r * t->qw->rows + j0, t->y_s8);
}

static void qgemm_tile(const qgemm_task *t, fgq_idx r0, fgq_idx mb, fgq_idx j0, fgq_idx nb, int32_t *dot,
                       uint8_t *work)
{
    const fgq_qweights *qw = t->qw;
    t->kern->gemm(qw, j0, nb, t->a + r0 * qw->k, qw->k, mb, t->a_s8, t->zx, dot, QGEMM_JB, work);
    for (fgq_idx r = 0; r < mb; r++)
        qgemm_row_out(t, r0 + r, j0, nb, dot + r * QGEMM_JB);
}

/* Tasks [b, e): row block task / j_blocks, column block task % j_blocks. */
static void qgemm_blocks(void *ctx, fgq_idx b, fgq_idx e)
{
    const qgemm_task *t = (const qgemm_task *)ctx;
    const fgq_qweights *qw = t->qw;
    int32_t slot = -1;
    int32_t *block = NULL; /* [mb][QGEMM_JB] dots, then the kernel's work, for kern->gemm */
    uint8_t *work = NULL;
    if (t->kern->gemm != NULL) {
        block = (int32_t *)fgq_scratch_claim_for(t->node, b, t->j_blocks * ((t->m_rows + t->mb - 1) / t->mb), &slot);
        work = (uint8_t *)block + qgemm_dots_bytes(t->m_rows, t->mb);
    }
    for (fgq_idx task = b; task < e; task++) {
        const fgq_idx r0 = (task / t->j_blocks) * t->mb, j0 = (task % t->j_blocks) * QGEMM_JB;
        const fgq_idx mb = t->m_rows - r0 < t->mb ? t->m_rows - r0 : t->mb;
        const fgq_idx nb = qw->rows - j0 < QGEMM_JB ? qw->rows - j0 : QGEMM_JB;
        if (t->kern->gemm != NULL) {
            qgemm_tile(t, r0, mb, j0, nb, block, work);
            continue;
        }
        int32_t dot[QGEMM_JB];
        for (fgq_idx r = r0; r < r0 + mb; r++) {
            t->kern->dot(qw, j0, nb, t->a + r * qw->k, t->a_s8, t->zx, dot);
            qgemm_row_out(t, r, j0, nb, dot);
        }
    }
    if (slot >= 0)
        fgq_scratch_release(t->node, slot);
}

#if defined(__x86_64__)
/* AMX tasks: (chunk of QGEMM_AMX_CH channels, block of 32 rows), chunk-major, so that a thread
 * works out a chunk's row constants once for all its row blocks. */
static void qgemm_amx_tasks(void *ctx, fgq_idx b, fgq_idx e)
{
    const qgemm_task *t = (const qgemm_task *)ctx;
    const fgq_qweights *qw = t->qw;
    const int64_t K = qw->k, N = qw->rows, rblocks = (t->m_rows + QGEMM_AMX_ROWS - 1) / QGEMM_AMX_ROWS;
    int32_t slot;
    uint8_t *ws = (uint8_t *)fgq_scratch_claim_for(t->node, b, (N + QGEMM_AMX_CH - 1) / QGEMM_AMX_CH * rblocks, &slot);
    int32_t *dot = (int32_t *)(void *)ws, *dott = dot + QGEMM_AMX_CH * QGEMM_AMX_ROWS;
    uint8_t *grp = (uint8_t *)(dott + QGEMM_AMX_CH * QGEMM_AMX_ROWS);
    uint8_t *work = grp + (QGEMM_AMX_CH + 16) * FGQ_QCONV_AMX_GROUP_ROW;
    uint8_t *dec = work + ((fgq_qconv_pack_work_bytes(K) + 63) & ~(int64_t)63); /* layout 2: the chunk's rows */
    const int decoded = qgemm_amx_layout(qw, t->m_rows, fgq_target_build()) == 2;
    const int t2vbmi = (fgq_node_cpu(t->node) & FGQ_CPU_AVX512VBMI) != 0 && fgq_qconv_fold_t2_fits(qw);
    fgq_qconv_amx_w aw = { .rows = NULL };
    /* held: the chunk whose rows (dec) and constants (grp) the slice holds from an earlier call of this run
     * (fgq_scratch_memo); cur: the chunk aw describes; packed: the block of A's rows packed in work */
    int64_t *memo = fgq_scratch_memo(t->node, slot), held = memo[0], cur = -1, packed = memo[1];
    fgq_qconv_amx_begin();
    for (int64_t task = b; task < e; task++) {
        const int64_t c = task / rblocks, r0 = (task % rblocks) * QGEMM_AMX_ROWS;
        const int64_t j0 = c * QGEMM_AMX_CH, nb = N - j0 < QGEMM_AMX_CH ? N - j0 : QGEMM_AMX_CH;
        const int64_t nr = t->m_rows - r0 < QGEMM_AMX_ROWS ? t->m_rows - r0 : QGEMM_AMX_ROWS;
        if (c != cur) { /* the chunk's rows, 16 at least (a short last chunk reads the 16 that end at N) */
            const int64_t lo = j0 + 16 <= N ? j0 : N - 16, hi = j0 + nb > lo + 16 ? j0 + nb : lo + 16;
            aw = (fgq_qconv_amx_w){ .rows = qw->codes + lo * qw->row_bytes, .stride = qw->row_bytes, .lo = lo, .hi = hi,
                                    .grp = grp };
            if (decoded) {
                aw.rows = dec;
                aw.stride = fgq_qconv_wrow_bytes(K);
            }
            if (c != held) {
                if (decoded && t2vbmi)
                    fgq_qconv_fold_decode_t2__avx512vbmi(qw, lo, hi - lo, dec);
                else if (decoded)
                    fgq_qconv_fold_decode(qw, lo, hi - lo, dec);
                /* the rows' sums: WSUM's where the model has it and the rows are W's own (s8 per
                 * channel: Σ w is the effective weights' sum), else the decoded rows' or summed */
                fgq_qconv_amx_group(aw.rows, aw.stride, hi - lo, K, decoded,
                                    qw->wsum != NULL && !decoded ? qw->wsum + lo : NULL, t->a_s8 ? t->zx + 128 : t->zx,
                                    grp);
                held = c;
            }
            cur = c;
        }
        /* A's rows packed once a slice where every chunk meets the same block (M <= 32: 16 x 1024 x 1024
         * packed them four times a call, 10 % of it) */
        fgq_qgemm_u8s8_32x32c64__amx(&aw, packed == r0 ? NULL : t->a + r0 * K, K, nr, K, t->a_s8, j0, nb, dot, dott,
                                     QGEMM_AMX_CH, work);
        packed = r0;
        if (t->fo == NULL && fgq_qrequant_rowmajor__avx512(qw, j0, nb, dott, QGEMM_AMX_CH, nr, t->zy, t->qmin, t->qmax,
                                                           t->y + r0 * N + j0, N))
            continue;
        for (int64_t r = 0; r < nr; r++)
            qgemm_row_out(t, r0 + r, j0, nb, dott + r * QGEMM_AMX_CH);
    }
    fgq_qconv_amx_end();
    memo[0] = held;
    memo[1] = packed;
    fgq_scratch_release(t->node, slot);
}
#endif

static void qgemm_run_paths(qgemm_task *t);

fgq_status fgq_qgemm_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                         const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_qweights qw;
    fgq_status st = qgemm_check_all(node, in, out, 0, &qw, err); /* REQ, WSUM: checked at load */
    const int64_t m_rows = st == FGQ_OK ? fgq_ops_dims_prod(in[0]->dims, 0, in[0]->rank - 1) : 0;
    if (st == FGQ_OK)
        st = fgq_scratch_begin(node, qgemm_scratch_bytes(&qw, m_rows, fgq_target_build()), err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *y = out[0];
    qgemm_task t = {
        .node = node,
        .qw = &qw,
        .kern = fgq_qgemm_kernel_select(qw.dtype, fgq_node_kernels(node), fgq_node_cpu(node), &qw),
        .a = (const uint8_t *)a->data,
        .y = (uint8_t *)y->data,
        .a_s8 = a->dtype == FGQ_DT_S8,
        .y_s8 = y->dtype == FGQ_DT_S8,
        .zx = node->iparams[FGQ_QP_X_ZERO],
        .zy = node->iparams[FGQ_QP_Y_ZERO],
        .qmin = node->iparams[FGQ_QP_QMIN],
        .qmax = node->iparams[FGQ_QP_QMAX],
        .m_rows = m_rows,
        .mb = fgq_target_build()->qgemm_block_rows,
    };
    qgemm_run_paths(&t);
    return FGQ_OK;
}

uint64_t fgq_qgemm_fout_scratch(const fgq_qweights *qw, int64_t m_rows, const fgq_target *target)
{
    return qgemm_scratch_bytes(qw, m_rows, target);
}

void fgq_qgemm_run_fout(const fgq_node_view *node, const fgq_qweights *qw, const fgq_tensor_view *a, int32_t zx,
                        float *y, const fgq_qconv_fout *fo)
{
    const int32_t kernels = fgq_node_kernels(node);
    const uint32_t cpu = fgq_node_cpu(node);
    qgemm_task t = {
        .node = node,
        .qw = qw,
        .kern = fgq_qgemm_kernel_select(qw->dtype, kernels, cpu, qw),
        .a = (const uint8_t *)a->data,
        .yf = y,
        .fo = fo,
        .fout = fgq_qgemm_fout_select(kernels, cpu),
        .a_s8 = a->dtype == FGQ_DT_S8,
        .zx = zx,
        .m_rows = fgq_ops_dims_prod(a->dims, 0, a->rank - 1),
        .mb = fgq_target_build()->qgemm_block_rows,
    };
    qgemm_run_paths(&t);
}

/* QGEMM's paths for the task t (its weights, A, the output): the AMX tiles where the CPU has them
 * and the layout takes them, else blocks of rows by the kernel row. */
static void qgemm_run_paths(qgemm_task *t)
{
    const fgq_node_view *node = t->node;
    const fgq_qweights *qw = t->qw;
#if defined(__x86_64__)
    const int64_t m_rows = t->m_rows;
    const uint32_t cpu = fgq_node_cpu(node), amx = FGQ_CPU_AMXINT8 | FGQ_CPU_AVX512VNNI;
    const int layout = qgemm_amx_layout(qw, m_rows, fgq_target_build());
    if (layout && (cpu & amx) == amx && t->kern->dot != fgq_qgemm_dot_ref) {
        const int64_t chunks = (qw->rows + QGEMM_AMX_CH - 1) / QGEMM_AMX_CH;
        const int64_t rblocks = (m_rows + QGEMM_AMX_ROWS - 1) / QGEMM_AMX_ROWS, tasks = chunks * rblocks;
        const int64_t cost = QGEMM_AMX_ROWS * QGEMM_AMX_CH * qw->k / 256;
        /* decoded rows (layout 2) and a chunk for every thread: whole chunks a grain, so that one thread
         * decodes each chunk's rows (split by row blocks, both of two threads decoded every chunk);
         * fewer chunks than threads (N <= 256: one) split by row blocks, each thread decoding the
         * chunk again (whole chunks left the second thread idle: 3136 x 576 x 64 at two threads ran
         * at one thread's 840 GOP/s) */
        const int64_t threads = node->par != NULL && node->par->n_threads > 1 ? node->par->n_threads : 1;
        const fgq_idx grain = layout == 2 && chunks >= threads
                                  ? rblocks * fgq_parallel_grain(node->par, chunks, cost * rblocks)
                                  : fgq_parallel_grain(node->par, tasks, cost);
        fgq_parallel_for(node->par, tasks, grain, qgemm_amx_tasks, t);
        return;
    }
#endif
    /* every output is the same exact integer whatever the split */
    t->j_blocks = (qw->rows + QGEMM_JB - 1) / QGEMM_JB;
    const int64_t tasks = t->j_blocks * ((t->m_rows + t->mb - 1) / t->mb);
    const int64_t cost = fgq_qgemm_cost(t->kern, (int64_t)t->mb * QGEMM_JB * qw->k);
    fgq_parallel_for(node->par, tasks, fgq_parallel_grain(node->par, tasks, cost), qgemm_blocks, t);
}
