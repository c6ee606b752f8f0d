/*
 * gemm_f32.c — Gemm and MatMul in float32.
 *
 * Gemm (ONNX): Y[M,N] = alpha · A'·B' + beta · C, with A' = transA ? Aᵀ : A
 * ([M,K]), B' = transB ? Bᵀ : B ([K,N]); C optional, unidirectionally
 * broadcast to [M,N] (scalar, [N], [1,N], [M,1], [M,N]); fused activation in
 * iparams[FGQ_P_GEMM_ACT].
 *
 * MatMul (numpy matmul): a 1-D A is a row [1,K] and a 1-D B a column [K,1],
 * that dim then dropped from the output; leading (batch) dims broadcast like
 * Add. Fused activation in iparams[0].
 *
 * Both split Y over node->par's threads by rows, and by column blocks when
 * rows are few (M = 1); no reduction is ever split, so results are
 * bit-identical for any thread count.
 *
 * Two paths, the same bytes: where fgq_gemm_f32_fast(node) (an AVX2+FMA CPU,
 * kernels not forced to REF) the K-sums come from the register-blocked
 * microkernels of gemm_f32__avx2.c over tiles of 6 rows, or for MatMul of 4+
 * rows and 8+ k from the convolution's packed panels (conv_f32_gemm.c,
 * fgq_matmul_f32_gemm: AVX2 or AVX-512); else from the loops below, the
 * reference twin. Every path gives each element 0 and then one fused
 * multiply-add a p in order (fmaf here, vfmadd there: the kernels kept a
 * product and an add apart until 2026-12-07, which halved their rate). The
 * epilogue (alpha, beta·C, activation) is one function shared by both.
 */
#include "ops_f32.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

#include <math.h>
#include <string.h>

/* yr[j0, j1) = Σ_p a[p·as] · b[p, j] for one row of Y, b row-major [K, N]: the
 * i-k-j order keeps the inner loop a contiguous axpy over a row of b. Each
 * element sees the products in p order whatever [j0, j1) is, so splitting
 * columns (or rows) over threads changes no bit of Y. One fused multiply-add a
 * p (fmaf), as the kernels' FMA: one rounding a p. */
static void row_axpy_f32(float *yr, const float *a, int64_t as, const float *b, int64_t k, int64_t n, int64_t j0,
                         int64_t j1)
{
    for (int64_t j = j0; j < j1; j++)
        yr[j] = 0.0f;
    for (int64_t p = 0; p < k; p++) {
        const float av = a[p * as];
        const float *br = b + p * n;
        for (int64_t j = j0; j < j1; j++)
            yr[j] = fmaf(av, br[j], yr[j]);
    }
}

/* How Y's matrices (nmat of [m, n]) are cut into work units for threads: one
 * unit is columns [jb·cb, min(n, (jb+1)·cb)) of one row. Rows alone are enough
 * when there are many; with few rows (batch-1 fully connected layers have
 * M = 1) the columns are cut too, in blocks of a multiple of 16 floats so
 * threads write different cache lines. */
typedef struct {
    int64_t cb, nblk, units;
} tile_plan;

static tile_plan plan_tiles(const fgq_parallel *par, int64_t nmat, int64_t m, int64_t n)
{
    tile_plan tp = { n > 0 ? n : 1, 1, nmat * m };
    const int64_t want = par != NULL && par->n_threads > 1 ? 4 * (int64_t)par->n_threads : 1;
    if (n > 0 && tp.units < want) {
        const int64_t split = (want + tp.units - 1) / tp.units;
        int64_t cb = (n + split - 1) / split;
        cb = (cb + 15) / 16 * 16;
        tp.cb = cb < n ? cb : n;
    }
    tp.nblk = n > 0 ? (n + tp.cb - 1) / tp.cb : 1;
    tp.units = nmat * m * tp.nblk;
    return tp;
}

fgq_status fgq_gemm_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 3, 1, err);
    if (st != FGQ_OK)
        return st;
    const int32_t ta = node->iparams[FGQ_P_TRANS_A], tb = node->iparams[FGQ_P_TRANS_B];
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "transA=%d transB=%d, expected 0 or 1",
                        FGQ_NODE_ARGS(node), (int)ta, (int)tb);
    st = fgq_ops_check_act(node, node->iparams[FGQ_P_GEMM_ACT], err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1];
    const fgq_tensor_view *c = node->n_inputs > 2 ? in[2] : NULL;
    if (a->rank != 2 || b->rank != 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, B rank %d, expected 2 and 2",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)b->rank);
    const int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
    const int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (k != kb)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "inner dims differ: A' has K=%lld, B' has K=%lld",
                        FGQ_NODE_ARGS(node), (long long)k, (long long)kb);
    if (c != NULL) {
        if (c->rank > 2)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "C rank %d, expected 0..2", FGQ_NODE_ARGS(node),
                            (int)c->rank);
        const int64_t want[2] = { m, n };
        for (int32_t i = 0; i < c->rank; i++) {
            int64_t d = c->dims[i], w = want[2 - c->rank + i];
            if (d != 1 && d != w)
                return fgq_fail(err, FGQ_ERR_SHAPE,
                                FGQ_NODE_FMT "C dim %d is %lld, cannot broadcast to %lld (Y is [%lld,%lld])",
                                FGQ_NODE_ARGS(node), (int)i, (long long)d, (long long)w, (long long)m,
                                (long long)n);
        }
    }
    const int64_t dims[2] = { m, n };
    return fgq_ops_check_out_dims(node, out[0], 2, dims, err);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define GEMM_F32_X86 1
#else
#define GEMM_F32_X86 0
#endif

int fgq_gemm_f32_fast(const fgq_node_view *node)
{
    return GEMM_F32_X86 && fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX2) != 0;
}

#if GEMM_F32_X86
/* The fast path's units: tiles of up to 6 rows by column blocks of cb, the
 * row tile fastest, so a thread's consecutive units reuse one panel of B
 * (K x cb) from cache. Column blocks are at most 256 wide, and narrower
 * (a multiple of 16) when there are too few tiles for the threads. */
enum { FAST_MR = 6, FAST_CB = 256 };

static tile_plan plan_fast(const fgq_parallel *par, int64_t nmat, int64_t m, int64_t n)
{
    const int64_t rt = (m + FAST_MR - 1) / FAST_MR;
    tile_plan tp = plan_tiles(par, nmat, rt, n);
    if (tp.cb > FAST_CB) {
        tp.cb = FAST_CB;
        tp.nblk = (n + tp.cb - 1) / tp.cb;
        tp.units = nmat * rt * tp.nblk;
    }
    return tp;
}
#endif

typedef struct {
    const float *a, *b, *c; /* c NULL: no C term (absent or beta == 0) */
    float *y;
    int64_t m, n, k, cs_i, cs_j;
    int32_t ta, tb, act;
    float alpha, beta, act_lo, act_hi;
    tile_plan tp;
} gemm_task;

/* Y(i, [j0, j1)) = alpha·Y + beta·C, then the activation, on the raw K-sums. */
static void gemm_epilogue_f32(const gemm_task *t, int64_t i, int64_t j0, int64_t j1)
{
    float *yr = t->y + i * t->n;
    if (t->c != NULL) {
        const float *cr = t->c + i * t->cs_i;
        for (int64_t j = j0; j < j1; j++)
            yr[j] = t->alpha * yr[j] + t->beta * cr[j * t->cs_j];
    } else if (t->alpha != 1.0f) {
        for (int64_t j = j0; j < j1; j++)
            yr[j] *= t->alpha;
    }
    fgq_ops_act_apply_f32(yr + j0, j1 - j0, t->act, t->act_lo, t->act_hi);
}

/* Gemm units [begin, end): per element, the K-sum in p order, then
 * alpha·Y + beta·C, then the activation — as in a serial run. */
static void gemm_units_f32(void *ctx, fgq_idx begin, fgq_idx end)
{
    const gemm_task *t = (const gemm_task *)ctx;
    const int64_t m = t->m, n = t->n, k = t->k;
    for (int64_t u = begin; u < end; u++) {
        const int64_t i = u / t->tp.nblk, j0 = u % t->tp.nblk * t->tp.cb;
        const int64_t j1 = j0 + t->tp.cb < n ? j0 + t->tp.cb : n;
        float *yr = t->y + i * n;
        if (!t->tb) {
            /* A' = Aᵀ reads A[p, i] (stride m); B rows stay contiguous. */
            row_axpy_f32(yr, t->ta ? t->a + i : t->a + i * k, t->ta ? m : 1, t->b, k, n, j0, j1);
        } else {
            /* B' = Bᵀ: Y(i,j) is the dot product of row i of A' and row j of B. */
            for (int64_t j = j0; j < j1; j++) {
                const float *br = t->b + j * k;
                float acc = 0.0f;
                if (!t->ta) {
                    const float *ar = t->a + i * k;
                    for (int64_t p = 0; p < k; p++)
                        acc = fmaf(ar[p], br[p], acc);
                } else {
                    for (int64_t p = 0; p < k; p++)
                        acc = fmaf(t->a[p * m + i], br[p], acc);
                }
                yr[j] = acc;
            }
        }
        gemm_epilogue_f32(t, i, j0, j1);
    }
}

#if GEMM_F32_X86
/* The same units as plan_fast cuts them: K-sums of a 6-row tile by the
 * AVX2 microkernels, then the shared epilogue per row. */
static void gemm_units_fast(void *ctx, fgq_idx begin, fgq_idx end)
{
    const gemm_task *t = (const gemm_task *)ctx;
    const int64_t m = t->m, n = t->n, k = t->k, rt = (m + FAST_MR - 1) / FAST_MR;
    const int64_t ars = t->ta ? 1 : k, acs = t->ta ? m : 1;
    for (int64_t u = begin; u < end; u++) {
        const int64_t i0 = u % rt * FAST_MR, j0 = u / rt * t->tp.cb;
        const int64_t mr = m - i0 < FAST_MR ? m - i0 : FAST_MR, j1 = j0 + t->tp.cb < n ? j0 + t->tp.cb : n;
        if (!t->tb)
            fgq_gemm_f32_6x16__avx2(t->a + i0 * ars, ars, acs, mr, t->b, n, k, j0, j1, t->y + i0 * n, n);
        else
            fgq_gemm_f32_6x16t__avx2(t->a + i0 * ars, ars, acs, mr, t->b, k, k, j0, j1, t->y + i0 * n, n);
        for (int64_t i = i0; i < i0 + mr; i++)
            gemm_epilogue_f32(t, i, j0, j1);
    }
}
#endif

fgq_status fgq_gemm_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *a = in[0], *b = in[1];
    const fgq_tensor_view *c = node->n_inputs > 2 ? in[2] : NULL;
    const int32_t ta = node->iparams[FGQ_P_TRANS_A];
    gemm_task t = {
        .a = (const float *)a->data,
        .b = (const float *)b->data,
        .y = (float *)out[0]->data,
        .m = out[0]->dims[0],
        .n = out[0]->dims[1],
        .k = ta ? a->dims[0] : a->dims[1],
        .ta = ta,
        .tb = node->iparams[FGQ_P_TRANS_B],
        .act = node->iparams[FGQ_P_GEMM_ACT],
        .alpha = node->fparams[FGQ_PF_ALPHA],
        .beta = node->fparams[FGQ_PF_BETA],
        .act_lo = node->fparams[FGQ_PF_ACT0],
        .act_hi = node->fparams[FGQ_PF_ACT1],
    };
    /* Y = alpha·Y + beta·C; C's strides are 0 along broadcast axes. As in BLAS
     * and ONNX Runtime, beta == 0 ignores C entirely. */
    if (c != NULL && t.beta != 0.0f) {
        t.c = (const float *)c->data;
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        t.cs_j = cn == 1 ? 0 : 1;
        t.cs_i = cm == 1 ? 0 : cn;
    }
    if (t.m == 0 || t.n == 0)
        return FGQ_OK;
#if GEMM_F32_X86
    if (fgq_gemm_f32_fast(node)) {
        t.tp = plan_fast(node->par, 1, t.m, t.n);
        const int64_t rows = t.m < FAST_MR ? t.m : FAST_MR; /* rows in a (full) tile */
        fgq_parallel_for(node->par, t.tp.units,
                         fgq_parallel_grain(node->par, t.tp.units, rows * (t.k * t.tp.cb + t.tp.cb)),
                         gemm_units_fast, &t);
        return FGQ_OK;
    }
#endif
    t.tp = plan_tiles(node->par, 1, t.m, t.n);
    fgq_parallel_for(node->par, t.tp.units, fgq_parallel_grain(node->par, t.tp.units, t.k * t.tp.cb + t.tp.cb),
                     gemm_units_f32, &t);
    return FGQ_OK;
}

/* MatMul shapes: M, K, N and the broadcast batch dims (rank nbatch). */
typedef struct {
    int64_t m, k, n;
    int32_t nbatch;
    int64_t batch[FGQ_MAX_DIMS];
} matmul_shape;

static int64_t batch_dim(const fgq_tensor_view *t, int32_t nbatch, int32_t axis)
{
    /* t's batch dims are dims[0, rank-2), right-aligned against nbatch. */
    int32_t tb = t->rank > 2 ? t->rank - 2 : 0;
    int32_t k = axis - (nbatch - tb);
    return k < 0 ? 1 : t->dims[k];
}

fgq_status fgq_matmul_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 1, err);
    if (st != FGQ_OK)
        return st;
    st = fgq_ops_check_act(node, node->iparams[0], err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *a = in[0], *b = in[1];
    if (a->rank < 1 || b->rank < 1)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "A rank %d, B rank %d, expected >= 1",
                        FGQ_NODE_ARGS(node), (int)a->rank, (int)b->rank);
    const int64_t ka = a->dims[a->rank - 1];
    const int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (ka != kb)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "inner dims differ: A has K=%lld, B has K=%lld",
                        FGQ_NODE_ARGS(node), (long long)ka, (long long)kb);
    const int32_t ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    const int32_t nbatch = ba > bb ? ba : bb;
    int64_t dims[FGQ_MAX_DIMS];
    int32_t rank = 0;
    for (int32_t i = 0; i < nbatch; i++) {
        int64_t da = batch_dim(a, nbatch, i), db = batch_dim(b, nbatch, i);
        if (da != db && da != 1 && db != 1)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "cannot broadcast batch axis %d: %lld vs %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)da, (long long)db);
        dims[rank++] = da == 1 ? db : da;
    }
    if (a->rank > 1)
        dims[rank++] = a->dims[a->rank - 2];
    if (b->rank > 1)
        dims[rank++] = b->dims[b->rank - 1];
    return fgq_ops_check_out_dims(node, out[0], rank, dims, err);
}

typedef struct {
    const float *a, *b;
    float *y;
    matmul_shape s;
    int64_t sa[FGQ_MAX_DIMS], sb[FGQ_MAX_DIMS]; /* matrix strides per batch axis; 0 where broadcast */
    int32_t act;
    float act_lo, act_hi;
    tile_plan tp;
} matmul_task;

/* Offsets (in matrices) of A and B for output matrix `mat` (broadcast batch dims). */
static void batch_offsets(const matmul_task *t, int64_t mat, int64_t *oa, int64_t *ob)
{
    const matmul_shape *s = &t->s;
    int64_t q = mat;
    *oa = *ob = 0;
    for (int32_t d = s->nbatch - 1; d >= 0; d--) {
        const int64_t id = q % s->batch[d];
        q /= s->batch[d];
        *oa += id * t->sa[d];
        *ob += id * t->sb[d];
    }
}

/* MatMul units [begin, end) of the (matrix, row, column block) space. */
static void matmul_units_f32(void *ctx, fgq_idx begin, fgq_idx end)
{
    const matmul_task *t = (const matmul_task *)ctx;
    const matmul_shape *s = &t->s;
    const int64_t per_mat = s->m * t->tp.nblk;
    for (int64_t u = begin; u < end; u++) {
        const int64_t mat = u / per_mat, rest = u % per_mat;
        const int64_t i = rest / t->tp.nblk, j0 = rest % t->tp.nblk * t->tp.cb;
        const int64_t j1 = j0 + t->tp.cb < s->n ? j0 + t->tp.cb : s->n;
        int64_t oa, ob;
        batch_offsets(t, mat, &oa, &ob);
        float *yr = t->y + mat * s->m * s->n + i * s->n;
        row_axpy_f32(yr, t->a + oa * s->m * s->k + i * s->k, 1, t->b + ob * s->k * s->n, s->k, s->n, j0, j1);
        fgq_ops_act_apply_f32(yr + j0, j1 - j0, t->act, t->act_lo, t->act_hi);
    }
}

#if GEMM_F32_X86
/* MatMul units as plan_fast cuts them (matrix slowest): 6-row tiles by the
 * AVX2 6x16 kernel, then the activation. */
static void matmul_units_fast(void *ctx, fgq_idx begin, fgq_idx end)
{
    const matmul_task *t = (const matmul_task *)ctx;
    const matmul_shape *s = &t->s;
    const int64_t rt = (s->m + FAST_MR - 1) / FAST_MR, per_mat = rt * t->tp.nblk;
    for (int64_t u = begin; u < end; u++) {
        const int64_t mat = u / per_mat, rest = u % per_mat;
        const int64_t i0 = rest % rt * FAST_MR, j0 = rest / rt * t->tp.cb;
        const int64_t mr = s->m - i0 < FAST_MR ? s->m - i0 : FAST_MR;
        const int64_t j1 = j0 + t->tp.cb < s->n ? j0 + t->tp.cb : s->n;
        int64_t oa, ob;
        batch_offsets(t, mat, &oa, &ob);
        float *y = t->y + mat * s->m * s->n + i0 * s->n;
        fgq_gemm_f32_6x16__avx2(t->a + oa * s->m * s->k + i0 * s->k, s->k, 1, mr, t->b + ob * s->k * s->n, s->n,
                                s->k, j0, j1, y, s->n);
        for (int64_t i = 0; i < mr; i++)
            fgq_ops_act_apply_f32(y + i * s->n + j0, j1 - j0, t->act, t->act_lo, t->act_hi);
    }
}
#endif

uint64_t fgq_matmul_f32_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, const fgq_target *target)
{
    if (!target->conv_f32_panels || fgq_matmul_f32_check(node, in, out, NULL) != FGQ_OK)
        return 0;
    const fgq_tensor_view *a = in[0], *b = in[1];
    const int64_t k = a->dims[a->rank - 1], m = a->rank > 1 ? a->dims[a->rank - 2] : 1;
    const int64_t n = b->rank > 1 ? b->dims[b->rank - 1] : 1;
    return fgq_matmul_f32_gemm_fits(m, k) ? fgq_matmul_f32_gemm_scratch(m, k, n) : 0;
}

fgq_status fgq_matmul_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err; /* the packed panels' only (x86) */
    const fgq_tensor_view *a = in[0], *b = in[1];
    matmul_task t;
    memset(&t, 0, sizeof t);
    t.a = (const float *)a->data;
    t.b = (const float *)b->data;
    t.y = (float *)out[0]->data;
    t.act = node->iparams[0];
    t.act_lo = node->fparams[FGQ_PF_ACT0];
    t.act_hi = node->fparams[FGQ_PF_ACT1];
    matmul_shape *s = &t.s;
    s->k = a->dims[a->rank - 1];
    s->m = a->rank > 1 ? a->dims[a->rank - 2] : 1;
    s->n = b->rank > 1 ? b->dims[b->rank - 1] : 1;
    const int32_t ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    s->nbatch = ba > bb ? ba : bb;
    int64_t nmat = 1, ka = 1, kb = 1;
    for (int32_t i = s->nbatch - 1; i >= 0; i--) {
        int64_t da = batch_dim(a, s->nbatch, i), db = batch_dim(b, s->nbatch, i);
        s->batch[i] = da == 1 ? db : da;
        t.sa[i] = da == 1 ? 0 : ka;
        t.sb[i] = db == 1 ? 0 : kb;
        ka *= da;
        kb *= db;
        nmat *= s->batch[i];
    }
    if (nmat == 0 || s->m == 0 || s->n == 0)
        return FGQ_OK;
#if GEMM_F32_X86
    /* 4+ rows and 8+ k: the convolution's packed panels (conv_f32_gemm.c: AVX-512 8 x 32 tiles, B's
     * rows in chunks of K that stay in cache while every row of A passes), a matrix at a time; the
     * 6 x 16 kernel read B where it lies for each tile of rows (ViT-B/16's MatMuls ran at ~13
     * GFLOP/s so) */
    const uint32_t cpu = fgq_node_cpu(node);
    if (fgq_gemm_f32_fast(node) && fgq_matmul_f32_gemm_fits(s->m, s->k) && fgq_target_build()->conv_f32_panels) {
        for (int64_t mat = 0; mat < nmat; mat++) {
            int64_t oa, ob;
            batch_offsets(&t, mat, &oa, &ob);
            const fgq_status st =
                fgq_matmul_f32_gemm(node, t.a + oa * s->m * s->k, t.b + ob * s->k * s->n, t.y + mat * s->m * s->n, s->m,
                                    s->k, s->n, (cpu & FGQ_CPU_AVX512F) != 0 ? 2 : 1, t.act, t.act_lo, t.act_hi, err);
            if (st != FGQ_OK)
                return st;
        }
        return FGQ_OK;
    }
    if (fgq_gemm_f32_fast(node)) {
        t.tp = plan_fast(node->par, nmat, s->m, s->n);
        const int64_t rows = s->m < FAST_MR ? s->m : FAST_MR;
        fgq_parallel_for(node->par, t.tp.units,
                         fgq_parallel_grain(node->par, t.tp.units, rows * (s->k * t.tp.cb + t.tp.cb)),
                         matmul_units_fast, &t);
        return FGQ_OK;
    }
#endif
    t.tp = plan_tiles(node->par, nmat, s->m, s->n);
    fgq_parallel_for(node->par, t.tp.units, fgq_parallel_grain(node->par, t.tp.units, s->k * t.tp.cb + t.tp.cb),
                     matmul_units_f32, &t);
    return FGQ_OK;
}
