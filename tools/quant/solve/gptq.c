/* gptq.c — error-compensating weight quantization; the math is in gptq.h. */
#include "quant/solve/gptq.h"

#include "quant/format/ternary.h"
#include "quant/s2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int32_t fgq_gptq_code_max(fgq_wq_kind kind)
{
    return kind == FGQ_WQ_S4 ? 7 : kind == FGQ_WQ_S3 || kind == FGQ_WQ_S2 ? 3 : kind == FGQ_WQ_T2 ? 1 : 127;
}

/* The grid code nearest v (in steps): the integers, or for s2 its levels (quant/s2.h's rule). */
static double grid_round(fgq_wq_kind kind, double v)
{
    return kind == FGQ_WQ_S2 ? (double)fgq_s2_level(v) : nearbyint(v);
}

/*
 * U without forming (H + λI)⁻¹: factor A = H + λI as A = V·Vᵀ with V upper
 * triangular (Cholesky run from the last row up), then A⁻¹ = V⁻ᵀ·V⁻¹ = UᵀU
 * with U = V⁻¹, itself upper triangular with a positive diagonal. Two k³/6
 * passes, each reading rows contiguously.
 */
static void run_for(const fgq_parallel *par, int64_t n, int64_t grain, fgq_task_fn fn, void *ctx)
{
    if (par != NULL && par->parallel_for != NULL && par->n_threads > 1 && n > grain)
        par->parallel_for(par->impl, n, grain, fn, ctx);
    else
        fn(ctx, 0, n);
}

/* The factorisation's loops also have AVX2 clones (GCC, x86): the same
 * operations in the same order (no FMA contraction under -std=c11), so the
 * same bits, on 4 doubles a vector. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GPTQ_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GPTQ_CLONES
#endif

/* Σ a[l]·b[l] in four interleaved partial sums (a fixed order: the same
 * result every run), so the adds do not wait on each other. */
GPTQ_CLONES static double dot(const double *a, const double *b, int64_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t l = 0;
    for (; l + 4 <= n; l += 4) {
        s0 += a[l] * b[l];
        s1 += a[l + 1] * b[l + 1];
        s2 += a[l + 2] * b[l + 2];
        s3 += a[l + 3] * b[l + 3];
    }
    for (; l < n; l++)
        s0 += a[l] * b[l];
    return (s0 + s1) + (s2 + s3);
}

typedef struct {
    const double *v;
    double *u;
    int64_t k;
    _Atomic int nomem; /* set by any task that runs out of memory */
} inv_task;

/* Rows [b, e) of U = V⁻¹: U[i][l] = (δ_il − Σ_{i<=m<l} U[i][m]·V[m][l]) / V[l][l],
 * by forward substitution with a running row acc (acc[m] += U[i][l]·V[l][m]).
 * INV_ROWS rows at a time share each read of V's row l (V is larger than
 * the caches); every row's operations are those of the one-row form, in its
 * order, so the same bits. */
#define INV_ROWS 4

GPTQ_CLONES static void inverse_rows(void *ctx, fgq_idx b, fgq_idx e)
{
    inv_task *t = ctx;
    const int64_t k = t->k;
    double *acc = malloc((size_t)(INV_ROWS * k) * sizeof(double));
    if (acc == NULL) {
        t->nomem = 1;
        return;
    }
    for (int64_t i0 = b; i0 < e; i0 += INV_ROWS) {
        const int64_t nr = e - i0 < INV_ROWS ? e - i0 : INV_ROWS;
        for (int64_t r = 0; r < nr; r++)
            memset(t->u + (i0 + r) * k, 0, (size_t)k * sizeof(double));
        memset(acc, 0, (size_t)(INV_ROWS * k) * sizeof(double));
        for (int64_t l = i0; l < k; l++) {
            const double *vl = t->v + l * k;
            double x[INV_ROWS] = {0.0};
            for (int64_t r = 0; r < nr; r++) {
                const int64_t i = i0 + r;
                if (l < i)
                    continue;
                x[r] = ((l == i ? 1.0 : 0.0) - acc[r * k + l]) / vl[l];
                t->u[i * k + l] = x[r];
            }
            if (nr == INV_ROWS) {
                /* a row not started yet (l < i) adds x = 0 to acc entries it reads only from l = i on,
                 * where they are still 0 as in the one-row form (0 + 0·v = 0; v finite) */
                double *a0 = acc, *a1 = acc + k, *a2 = acc + 2 * k, *a3 = acc + 3 * k;
                for (int64_t m = l + 1; m < k; m++) {
                    a0[m] += x[0] * vl[m];
                    a1[m] += x[1] * vl[m];
                    a2[m] += x[2] * vl[m];
                    a3[m] += x[3] * vl[m];
                }
            } else {
                for (int64_t r = 0; r < nr; r++)
                    for (int64_t m = l + 1; m < k; m++)
                        acc[r * k + m] += x[r] * vl[m];
            }
        }
    }
    free(acc);
}

/* Blocks [b, e) of INV_ROWS rows (fixed by row index: any thread split gives the same rows). */
static void inverse_blocks(void *ctx, fgq_idx b, fgq_idx e)
{
    const inv_task *t = ctx;
    inverse_rows(ctx, b * INV_ROWS, e * INV_ROWS < t->k ? e * INV_ROWS : t->k);
}

/* The factorisation in blocks of CHOL_B columns, from the last block up (a
 * right-looking blocked Cholesky, upper and reversed): per block T = [t0,
 * t1), (1) its diagonal block factored as the one-column form does, from its
 * last row up, the sums over m in T only (the later blocks' terms were taken
 * off already); (2) the panel V[j][T] for the rows j < t0, row by row, the
 * same formula; (3) the rows above take off the block's terms, A[j][l] −=
 * Σ_{m∈T} V[j][m]·V[l][m] for j <= l < t0: the bulk of the work, against the
 * panel held transposed (CHOL_B·t0 doubles, in cache) instead of a pass over
 * all of V for each column. Each entry's operations are fixed by the block
 * size alone: the same bits for any thread count. */
#define CHOL_B 64

typedef struct {
    double *a;   /* the matrix being factored in place (upper triangle) */
    double *pt;  /* the panel transposed: pt[(m − t0)·t0 + l] = V[l][m], l < t0 */
    int64_t k, t0, t1;
    int simd;    /* 0: the plain C update only */
} chol_task;

/* Rows [b, e) of the panel: V[j][i] for i in T, descending. */
GPTQ_CLONES static void panel_rows(void *ctx, fgq_idx b, fgq_idx e)
{
    const chol_task *t = ctx;
    const int64_t k = t->k;
    for (int64_t j = b; j < e; j++) {
        double *aj = t->a + j * k;
        for (int64_t i = t->t1 - 1; i >= t->t0; i--) {
            const double *ai = t->a + i * k;
            aj[i] = (aj[i] - dot(aj + i + 1, ai + i + 1, t->t1 - i - 1)) / ai[i];
        }
        for (int64_t m = t->t0; m < t->t1; m++)
            t->pt[(m - t->t0) * t->t0 + j] = aj[m];
    }
}

/* The update of the rows above the block: A[j][l] −= Σ_{m∈T} V[j][m]·V[l][m] for l in [j, t0), m in
 * order, one fused multiply-subtract per term (fma(−x, p, s): a single rounding, as the AVX2 form's
 * vfnmadd, so the plain C form, simd = 0, gives the same bits). Rows go four at a time: the
 * triangle (columns below j0 + 4) one entry at a time, the rest eight columns by four rows, sharing
 * each read of the panel. Rows [j0, j0 + nr), columns [lo, hi) (each row from its own j up): */
static void update_rows_part(const chol_task *t, int64_t j0, int64_t nr, int64_t lo, int64_t hi)
{
    const int64_t k = t->k, nb = t->t1 - t->t0, t0 = t->t0;
    for (int64_t r = 0; r < nr; r++) {
        double *aj = t->a + (j0 + r) * k;
        const double *vj = aj + t0;
        for (int64_t l = lo > j0 + r ? lo : j0 + r; l < hi; l++) {
            double acc = aj[l];
            for (int64_t m = 0; m < nb; m++)
                acc = fma(-vj[m], t->pt[m * t0 + l], acc);
            aj[l] = acc;
        }
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CHOL_AVX2 1
/* Rows [j0, j0 + 4), columns from l0 in blocks of 8; returns where the blocks stop. */
__attribute__((target("avx2,fma"))) static int64_t update_rows4_avx2(const chol_task *t, int64_t j0, int64_t l0)
{
    const int64_t k = t->k, nb = t->t1 - t->t0, t0 = t->t0;
    double *a0 = t->a + j0 * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    const double *v0 = a0 + t0, *v1 = a1 + t0, *v2 = a2 + t0, *v3 = a3 + t0;
    int64_t l = l0;
    for (; l + 8 <= t0; l += 8) {
        __m256d s00 = _mm256_loadu_pd(a0 + l), s01 = _mm256_loadu_pd(a0 + l + 4);
        __m256d s10 = _mm256_loadu_pd(a1 + l), s11 = _mm256_loadu_pd(a1 + l + 4);
        __m256d s20 = _mm256_loadu_pd(a2 + l), s21 = _mm256_loadu_pd(a2 + l + 4);
        __m256d s30 = _mm256_loadu_pd(a3 + l), s31 = _mm256_loadu_pd(a3 + l + 4);
        for (int64_t m = 0; m < nb; m++) {
            const double *p = t->pt + m * t0 + l;
            const __m256d p0 = _mm256_loadu_pd(p), p1 = _mm256_loadu_pd(p + 4);
            __m256d x = _mm256_broadcast_sd(v0 + m);
            s00 = _mm256_fnmadd_pd(x, p0, s00);
            s01 = _mm256_fnmadd_pd(x, p1, s01);
            x = _mm256_broadcast_sd(v1 + m);
            s10 = _mm256_fnmadd_pd(x, p0, s10);
            s11 = _mm256_fnmadd_pd(x, p1, s11);
            x = _mm256_broadcast_sd(v2 + m);
            s20 = _mm256_fnmadd_pd(x, p0, s20);
            s21 = _mm256_fnmadd_pd(x, p1, s21);
            x = _mm256_broadcast_sd(v3 + m);
            s30 = _mm256_fnmadd_pd(x, p0, s30);
            s31 = _mm256_fnmadd_pd(x, p1, s31);
        }
        _mm256_storeu_pd(a0 + l, s00);
        _mm256_storeu_pd(a0 + l + 4, s01);
        _mm256_storeu_pd(a1 + l, s10);
        _mm256_storeu_pd(a1 + l + 4, s11);
        _mm256_storeu_pd(a2 + l, s20);
        _mm256_storeu_pd(a2 + l + 4, s21);
        _mm256_storeu_pd(a3 + l, s30);
        _mm256_storeu_pd(a3 + l + 4, s31);
    }
    return l;
}
#else
#define CHOL_AVX2 0
#endif

/* Row block q (rows 4q .. 4q + 3 below t0): its triangle, then the rest. */
static void update_block(const chol_task *t, int64_t q)
{
    const int64_t j0 = 4 * q, nr = t->t0 - j0 < 4 ? t->t0 - j0 : 4, l0 = j0 + nr;
    update_rows_part(t, j0, nr, j0, l0);
    int64_t l = l0;
#if CHOL_AVX2
    if (t->simd && nr == 4 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        l = update_rows4_avx2(t, j0, l0);
#endif
    update_rows_part(t, j0, nr, l, t->t0);
}

/* Task q updates row blocks q and n−1−q (equal work between them). */
static void update_pairs(void *ctx, fgq_idx b, fgq_idx e)
{
    const chol_task *t = ctx;
    const int64_t n = (t->t0 + 3) / 4;
    for (int64_t q = b; q < e; q++) {
        update_block(t, q);
        if (n - 1 - q != q)
            update_block(t, n - 1 - q);
    }
}

static fgq_status factor(const double *h, int64_t k, double damp, const fgq_parallel *par, double *u, int simd,
                         fgq_error *err)
{
    double *v = malloc((size_t)(k * k) * sizeof(double));
    double *pt = malloc((size_t)(CHOL_B * (k > CHOL_B ? k - CHOL_B : 1)) * sizeof(double));
    if (v == NULL || pt == NULL) {
        free(v);
        free(pt);
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for a %lld x %lld factor", (long long)k,
                        (long long)k);
    }
    double mean = 0.0;
    for (int64_t i = 0; i < k; i++)
        mean += h[i * k + i];
    mean /= (double)k;
    const double lambda = damp * (mean > 0.0 ? mean : 1.0);
    fgq_status st = FGQ_OK;
    /* V: A = V·Vᵀ, V upper, in place of A's upper triangle (the lower stays 0) */
    memset(v, 0, (size_t)(k * k) * sizeof(double));
    for (int64_t i = 0; i < k; i++) {
        memcpy(v + i * k + i, h + i * k + i, (size_t)(k - i) * sizeof(double));
        v[i * k + i] += lambda;
    }
    for (int64_t t1 = k; t1 > 0 && st == FGQ_OK; t1 -= CHOL_B) {
        const int64_t t0 = t1 > CHOL_B ? t1 - CHOL_B : 0;
        for (int64_t i = t1 - 1; i >= t0; i--) { /* (1) the diagonal block */
            double *vi = v + i * k;
            const double d = vi[i] - dot(vi + i + 1, vi + i + 1, t1 - i - 1);
            if (!(d > 0.0) || !isfinite(d)) {
                st = fgq_fail(err, FGQ_ERR_VALUE,
                              "error compensation: H + %g·I is not positive definite (column %lld; damping %g)",
                              lambda, (long long)i, damp);
                break;
            }
            vi[i] = sqrt(d);
            for (int64_t j = t0; j < i; j++) {
                double *vj = v + j * k;
                vj[i] = (vj[i] - dot(vj + i + 1, vi + i + 1, t1 - i - 1)) / vi[i];
            }
        }
        if (st != FGQ_OK || t0 == 0)
            break;
        chol_task ct = {v, pt, k, t0, t1, simd};
        run_for(t0 * CHOL_B * CHOL_B > (int64_t)1 << 16 ? par : NULL, t0, 16, panel_rows, &ct); /* (2) */
        run_for(t0 * t0 * CHOL_B > (int64_t)1 << 18 ? par : NULL, ((t0 + 3) / 4 + 1) / 2, 1, update_pairs,
                &ct); /* (3) */
    }
    if (st == FGQ_OK) { /* U = V⁻¹, rows independent */
        inv_task t = {v, u, k, 0};
        run_for(par, (k + INV_ROWS - 1) / INV_ROWS, 4, inverse_blocks, &t);
        if (t.nomem)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: out of memory");
    }
    free(v);
    free(pt);
    return st;
}

fgq_status fgq_gptq_factor(const double *h, int64_t k, double damp, const fgq_parallel *par, double *u,
                           fgq_error *err)
{
    return factor(h, k, damp, par, u, 1, err);
}

fgq_status fgq_gptq_factor_plain(const double *h, int64_t k, double damp, double *u, fgq_error *err)
{
    return factor(h, k, damp, NULL, u, 0, err);
}

/* The multiplier search of s8/s4 groups: down to this fraction of the unclipped multiplier, in
 * at most this many steps. */
#define GPTQ_CLIP_MIN 0.6
#define GPTQ_CLIP_STEPS 24.0

/* One group's grid for one row: the multipliers and the step(s). */
typedef struct {
    double pos, neg; /* ternary: levels +pos, -neg (0 when the multiplier is 0); else pos = step */
} level;

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Lowest code of a kind: s4 and s3 use their whole range (-8..7, -4..3), s8 and s2 stay
 * symmetric (-127..127, -3..3). */
static int32_t code_min(fgq_wq_kind kind)
{
    return kind == FGQ_WQ_S4 ? -8 : kind == FGQ_WQ_S3 ? -4 : -fgq_gptq_code_max(kind);
}

/* Σ wt_i·(x_i − q_i)² of a group on the step `step` (wt NULL: all 1). */
static double group_error(fgq_wq_kind kind, const double *x, const double *wt, int64_t len, double step, int32_t cmin,
                          int32_t cmax)
{
    double e = 0.0;
    for (int64_t i = 0; i < len; i++) {
        const double c = clampd(grid_round(kind, x[i] / step), (double)cmin, (double)cmax), d = x[i] - c * step;
        e += (wt != NULL ? wt[i] : 1.0) * d * d;
    }
    return e;
}

/* Solves the grid of group values x[0..len) (updated weights) of row r; wt[0..len) weighs each
 * column's squared error (1 / U_jj², the loss GPTQ charges for rounding column j; NULL: 1). */
static void solve_group(const fgq_gptq_grid *g, const double *x, const double *wt, int64_t len, float s_r,
                        float *tmp, int8_t *ttmp, void *scratch, uint8_t *m_out, level *lv)
{
    const int32_t cmax = fgq_gptq_code_max(g->kind), cmin = code_min(g->kind);
    if (g->kind == FGQ_WQ_T2) {
        for (int64_t i = 0; i < len; i++)
            tmp[i] = (float)x[i];
        fgq_ternary_fit fit;
        fgq_ternary_solve_f32(g->solver, tmp, len, scratch, ttmp, &fit);
        double mp = clampd(nearbyint((double)fit.alpha_pos / (double)s_r), 0.0, (double)g->mmax);
        double mn = g->n_alpha == 2 ? clampd(nearbyint((double)fit.alpha_neg / (double)s_r), 0.0, (double)g->mmax)
                                    : mp;
        m_out[0] = (uint8_t)mp;
        if (g->n_alpha == 2)
            m_out[1] = (uint8_t)mn;
        lv->pos = mp * (double)s_r;
        lv->neg = mn * (double)s_r;
        return;
    }
    /* the least multiplier that clips nothing, then smaller ones (clipping the largest weights,
     * a finer step for the rest) down to GPTQ_CLIP_MIN of it: the one with the least weighted
     * error stays (the largest on ties) */
    double pmax = 0.0, nmax = 0.0;
    for (int64_t i = 0; i < len; i++) {
        pmax = x[i] > pmax ? x[i] : pmax;
        nmax = -x[i] > nmax ? -x[i] : nmax;
    }
    const double need = pmax / (double)cmax > nmax / (double)-cmin ? pmax / (double)cmax : nmax / (double)-cmin;
    const double m0 = clampd(ceil(need / (double)s_r - 1e-6), 1.0, (double)g->mmax);
    if (need == 0.0 && g->kind == FGQ_WQ_S2) { /* no zero level: the group's multiplier is 0 */
        m_out[0] = 0;
        lv->pos = lv->neg = 0.0;
        return;
    }
    double m = m0;
    if (need > 0.0) {
        const double lo = ceil(GPTQ_CLIP_MIN * m0) > 1.0 ? ceil(GPTQ_CLIP_MIN * m0) : 1.0;
        const double stride = ceil((m0 - lo) / GPTQ_CLIP_STEPS) > 1.0 ? ceil((m0 - lo) / GPTQ_CLIP_STEPS) : 1.0;
        double best = group_error(g->kind, x, wt, len, m0 * (double)s_r, cmin, cmax);
        for (double c = m0 - stride; c >= lo; c -= stride) {
            const double e = group_error(g->kind, x, wt, len, c * (double)s_r, cmin, cmax);
            if (e < best) {
                best = e;
                m = c;
            }
        }
    }
    m_out[0] = (uint8_t)m;
    lv->pos = lv->neg = m * (double)s_r;
}

/* Nearest grid point of x: its code, and the value the kernels compute. */
static int8_t quant_one(const fgq_gptq_grid *g, double x, const level *lv, float s_r, int mult_pos, int mult_neg,
                        float *deq)
{
    if (g->kind == FGQ_WQ_T2) {
        int8_t c = 0;
        if (x > 0.0 && lv->pos > 0.0 && x > 0.5 * lv->pos)
            c = 1;
        else if (x < 0.0 && lv->neg > 0.0 && -x > 0.5 * lv->neg)
            c = -1;
        *deq = c == 0 ? 0.0f : (float)c * (float)(c > 0 ? mult_pos : mult_neg) * s_r;
        return c;
    }
    if (!(lv->pos > 0.0)) { /* an s2 group of zeros, multiplier 0: any code is 0 */
        *deq = 0.0f;
        return (int8_t)(g->kind == FGQ_WQ_S2 ? 1 : 0);
    }
    double c = clampd(grid_round(g->kind, x / lv->pos), (double)code_min(g->kind), (double)fgq_gptq_code_max(g->kind));
    *deq = (float)c * (float)mult_pos * s_r;
    return (int8_t)c;
}

#define GPTQ_ROW_BLOCK 8

typedef struct {
    const fgq_gptq_grid *g;
    const float *w;
    int64_t rows, k;
    const double *u;
    int8_t *codes;
    uint8_t *mults;
    float *deq;
    _Atomic int nomem; /* set by any task that runs out of memory */
} quant_task;

/* Row blocks [b, e) of GPTQ_ROW_BLOCK rows each: rows are independent given U. */
/* Columns [c1, k) of one row take the errors of columns [c0, c1): w[l] −= e_j·U[j][l] for j in
 * order, skipping e_j = 0 — per element the same subtractions in the same order as the eager form
 * (one column's error pushed at once), so the same bits; here eight columns stay in registers over
 * the block's rows of U. */
GPTQ_CLONES static void push_block(double *wr, const double *eb, const double *u, int64_t k, int64_t c0, int64_t c1)
{
    int64_t l = c1;
    for (; l + 8 <= k; l += 8) {
        double acc[8];
        for (int c = 0; c < 8; c++)
            acc[c] = wr[l + c];
        for (int64_t j = c0; j < c1; j++) {
            const double ej = eb[j - c0];
            if (ej == 0.0)
                continue;
            const double *uj = u + j * k + l;
            for (int c = 0; c < 8; c++)
                acc[c] -= ej * uj[c];
        }
        for (int c = 0; c < 8; c++)
            wr[l + c] = acc[c];
    }
    for (; l < k; l++) {
        double acc = wr[l];
        for (int64_t j = c0; j < c1; j++)
            if (eb[j - c0] != 0.0)
                acc -= eb[j - c0] * u[j * k + l];
        wr[l] = acc;
    }
}

/* Row blocks [b, e) of GPTQ_ROW_BLOCK rows each: rows are independent given U. Columns go in
 * blocks (the lazy batch of GPTQ): inside a block each column's error is pushed at once onto the
 * block's later columns, and onto the columns past the block when the block ends (push_block),
 * which reads U's rows once a block instead of once a column. A block holds whole groups, so a
 * group's scales are solved from weights every earlier column has updated. */
GPTQ_CLONES static void quant_blocks(void *ctx, fgq_idx b, fgq_idx e)
{
    quant_task *t = ctx;
    const fgq_gptq_grid *g = t->g;
    const int64_t k = t->k, rows = t->rows;
    const double *u = t->u;
    const int64_t group = g->mmax > 0 && g->group > 0 && g->group < k ? g->group : k;
    const int64_t ng = (k + group - 1) / group;
    const int64_t cb = group < k ? (group >= 64 ? group : 64 / group * group) : 64;
    const int32_t na = g->kind == FGQ_WQ_T2 && g->n_alpha == 2 ? 2 : 1;
    double *wb = malloc((size_t)(GPTQ_ROW_BLOCK * k) * sizeof(double));
    double *eb = malloc((size_t)(GPTQ_ROW_BLOCK * cb) * sizeof(double));
    float *tmp = malloc((size_t)group * sizeof(float));
    int8_t *ttmp = malloc((size_t)group);
    void *scratch = malloc(fgq_ternary_scratch_bytes(group));
    double *wt = malloc((size_t)group * sizeof(double));
    if (wb == NULL || eb == NULL || tmp == NULL || ttmp == NULL || scratch == NULL || wt == NULL) {
        t->nomem = 1;
        free(wt);
        free(wb);
        free(eb);
        free(tmp);
        free(ttmp);
        free(scratch);
        return;
    }
    level lv[GPTQ_ROW_BLOCK];
    uint8_t mg[GPTQ_ROW_BLOCK][2];
    double e_[GPTQ_ROW_BLOCK];
    for (int64_t blk = b; blk < e; blk++) {
        const int64_t r0 = blk * GPTQ_ROW_BLOCK;
        const int64_t nb = rows - r0 < GPTQ_ROW_BLOCK ? rows - r0 : GPTQ_ROW_BLOCK;
        for (int64_t i = 0; i < nb; i++)
            for (int64_t j = 0; j < k; j++)
                wb[i * k + j] = (double)t->w[(r0 + i) * k + j];
        for (int64_t c0 = 0; c0 < k; c0 += cb) {
            const int64_t c1 = k - c0 < cb ? k : c0 + cb;
            for (int64_t j = c0; j < c1; j++) {
                const int64_t gi = j / group;
                const int64_t glen = j + group < k ? group : k - j;
                if (j % group == 0 && g->mmax > 0 && u != NULL)
                    for (int64_t l = 0; l < glen; l++)
                        wt[l] = 1.0 / (u[(j + l) * k + j + l] * u[(j + l) * k + j + l]);
                for (int64_t i = 0; i < nb; i++) {
                    const int64_t r = r0 + i;
                    const float s_r = g->s_row[r];
                    if (j % group == 0) {
                        if (g->mmax > 0) {
                            solve_group(g, wb + i * k + j, u != NULL ? wt : NULL, glen, s_r, tmp, ttmp, scratch,
                                        mg[i], &lv[i]);
                            memcpy(t->mults + (r * ng + gi) * na, mg[i], (size_t)na);
                        } else { /* per row: the step is s_row */
                            mg[i][0] = mg[i][1] = 1;
                            lv[i].pos = lv[i].neg = (double)s_r;
                        }
                    }
                    const double x = wb[i * k + j];
                    float dq;
                    const int mp = g->mmax > 0 ? mg[i][0] : 1, mn = g->mmax > 0 && na == 2 ? mg[i][1] : mp;
                    t->codes[r * k + j] = quant_one(g, x, &lv[i], s_r, mp, mn, &dq);
                    t->deq[r * k + j] = dq;
                    e_[i] = u != NULL ? (x - (double)dq) / u[j * k + j] : 0.0;
                    eb[i * cb + (j - c0)] = e_[i];
                }
                if (u == NULL)
                    continue;
                const double *uj = u + j * k;
                for (int64_t i = 0; i < nb; i++) {
                    double *wr = wb + i * k, ei = e_[i];
                    if (ei == 0.0)
                        continue;
                    for (int64_t l = j + 1; l < c1; l++)
                        wr[l] -= ei * uj[l];
                }
            }
            if (u != NULL && c1 < k)
                for (int64_t i = 0; i < nb; i++)
                    push_block(wb + i * k, eb + i * cb, u, k, c0, c1);
        }
    }
    free(wb);
    free(eb);
    free(tmp);
    free(ttmp);
    free(scratch);
    free(wt);
}

fgq_status fgq_gptq_quantize(const fgq_gptq_grid *g, const float *w, int64_t rows, int64_t k, const double *u,
                             const fgq_parallel *par, int8_t *codes, uint8_t *mults, float *deq, fgq_error *err)
{
    quant_task t = {g, w, rows, k, u, codes, mults, deq, 0};
    run_for(par, (rows + GPTQ_ROW_BLOCK - 1) / GPTQ_ROW_BLOCK, 1, quant_blocks, &t);
    if (t.nomem)
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for rows of %lld", (long long)k);
    return FGQ_OK;
}

/* The output error in blocks of ERR_ROWS rows (fixed by row index, so the
 * same sums for any thread split): dᵀHd = Σ_i d_i·(H_ii·d_i + 2·Σ_{j>i}
 * H_ij·d_j) reads the upper triangle of H once per block instead of all of
 * it once per row (H is larger than the caches; reading it was the cost).
 * Σ_{j>i} runs in four lanes (j − i − 1 mod 4), each a fused multiply-add
 * chain, the lanes added (l0 + l1) + (l2 + l3): the AVX2+FMA form and the
 * plain C form (fma) give the same bits. */
#define ERR_ROWS 8

typedef struct {
    const float *w, *q;
    int64_t rows, k;
    const double *h;
    double *per_row;
    int simd;
    _Atomic int nomem; /* set by any task that runs out of memory */
} err_task;

static void err_tail(const double *hi, const double *d, int64_t i, int64_t k, int64_t nr, int64_t stride,
                     double *lane)
{
    /* the lanes of Σ_{j>i} for every row of the block: plain C, fma per term */
    for (int64_t r = 0; r < nr; r++) {
        const double *dr = d + r * stride;
        double l[4] = {0.0, 0.0, 0.0, 0.0};
        for (int64_t j = i + 1; j < k; j++)
            l[(j - i - 1) & 3] = fma(hi[j], dr[j], l[(j - i - 1) & 3]);
        lane[r] = (l[0] + l[1]) + (l[2] + l[3]);
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define ERR_AVX2 1
/* The same lanes, 4 rows of the block at once. */
__attribute__((target("avx2,fma"))) static void err_tail_avx2(const double *hi, const double *d, int64_t i, int64_t k,
                                                              int64_t nr, int64_t stride, double *lane)
{
    int64_t r = 0;
    for (; r + 8 <= nr; r += 8) { /* eight rows share each load of H's row */
        __m256d a[8];
        for (int q = 0; q < 8; q++)
            a[q] = _mm256_setzero_pd();
        int64_t j = i + 1;
        for (; j + 4 <= k; j += 4) {
            const __m256d hv = _mm256_loadu_pd(hi + j);
            for (int q = 0; q < 8; q++)
                a[q] = _mm256_fmadd_pd(hv, _mm256_loadu_pd(d + (r + q) * stride + j), a[q]);
        }
        for (int q = 0; q < 8; q++) {
            double l[4];
            _mm256_storeu_pd(l, a[q]);
            const double *dq = d + (r + q) * stride;
            for (int64_t jj = j; jj < k; jj++)
                l[jj - j] = fma(hi[jj], dq[jj], l[jj - j]);
            lane[r + q] = (l[0] + l[1]) + (l[2] + l[3]);
        }
    }
    for (; r + 4 <= nr; r += 4) {
        const double *d0 = d + r * stride, *d1 = d0 + stride, *d2 = d1 + stride, *d3 = d2 + stride;
        __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
        int64_t j = i + 1;
        for (; j + 4 <= k; j += 4) {
            const __m256d hv = _mm256_loadu_pd(hi + j);
            a0 = _mm256_fmadd_pd(hv, _mm256_loadu_pd(d0 + j), a0);
            a1 = _mm256_fmadd_pd(hv, _mm256_loadu_pd(d1 + j), a1);
            a2 = _mm256_fmadd_pd(hv, _mm256_loadu_pd(d2 + j), a2);
            a3 = _mm256_fmadd_pd(hv, _mm256_loadu_pd(d3 + j), a3);
        }
        double l[4][4];
        _mm256_storeu_pd(l[0], a0);
        _mm256_storeu_pd(l[1], a1);
        _mm256_storeu_pd(l[2], a2);
        _mm256_storeu_pd(l[3], a3);
        for (int q = 0; q < 4; q++) {
            const double *dq = d0 + q * stride;
            for (int64_t jj = j; jj < k; jj++) /* lane (jj − i − 1) & 3 = jj − j: j − i − 1 is a multiple of 4 */
                l[q][jj - j] = fma(hi[jj], dq[jj], l[q][jj - j]);
            lane[r + q] = (l[q][0] + l[q][1]) + (l[q][2] + l[q][3]);
        }
    }
    if (r < nr)
        err_tail(hi, d + r * stride, i, k, nr - r, stride, lane + r);
}
#else
#define ERR_AVX2 0
#endif

static void err_blocks(void *ctx, fgq_idx b0, fgq_idx b1)
{
    err_task *t = ctx;
    const int64_t k = t->k;
    double *d = malloc((size_t)(ERR_ROWS * k) * sizeof(double));
    if (d == NULL) {
        t->nomem = 1;
        return;
    }
#if ERR_AVX2
    const int avx2 = t->simd && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    for (int64_t blk = b0; blk < b1; blk++) {
        const int64_t r0 = blk * ERR_ROWS, nr = t->rows - r0 < ERR_ROWS ? t->rows - r0 : ERR_ROWS;
        for (int64_t r = 0; r < nr; r++)
            for (int64_t j = 0; j < k; j++)
                d[r * k + j] = (double)t->w[(r0 + r) * k + j] - (double)t->q[(r0 + r) * k + j];
        double total[ERR_ROWS] = {0.0}, lane[ERR_ROWS];
        for (int64_t i = 0; i < k; i++) {
            const double *hi = t->h + i * k;
#if ERR_AVX2
            if (avx2)
                err_tail_avx2(hi, d, i, k, nr, k, lane);
            else
#endif
                err_tail(hi, d, i, k, nr, k, lane);
            for (int64_t r = 0; r < nr; r++) {
                const double di = d[r * k + i];
                total[r] += di * (hi[i] * di + 2.0 * lane[r]);
            }
        }
        for (int64_t r = 0; r < nr; r++)
            t->per_row[r0 + r] = total[r];
    }
    free(d);
}

static double output_error(const float *w, const float *q, int64_t rows, int64_t k, const double *h,
                           const fgq_parallel *par, int simd)
{
    double *per_row = calloc((size_t)(rows > 0 ? rows : 1), sizeof(double));
    if (per_row == NULL)
        return INFINITY;
    err_task t = {w, q, rows, k, h, per_row, simd, 0};
    run_for(par, (rows + ERR_ROWS - 1) / ERR_ROWS, 1, err_blocks, &t);
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) /* summed in row order: the same for any thread count */
        total += per_row[r];
    free(per_row);
    return t.nomem ? INFINITY : total;
}

double fgq_gptq_output_error(const float *w, const float *q, int64_t rows, int64_t k, const double *h,
                             const fgq_parallel *par)
{
    return output_error(w, q, rows, k, h, par, 1);
}

double fgq_gptq_output_error_plain(const float *w, const float *q, int64_t rows, int64_t k, const double *h)
{
    return output_error(w, q, rows, k, h, NULL, 0);
}

/* ---- coordinate-descent refinement (gptq.h) --------------------------------------------- */

typedef struct {
    const fgq_gptq_grid *g;
    const float *w;
    int64_t rows, k;
    const double *h;
    double lambda;
    int32_t passes;
    int8_t *codes;
    uint8_t *mults;
    float *deq;
    _Atomic int nomem;
} refine_task;

/* The value the kernels compute for code c with multipliers mp (positive codes) / mn. */
static double code_value(const fgq_gptq_grid *g, int32_t c, int32_t mp, int32_t mn, float s_r)
{
    return (double)(float)((float)c * (float)(c > 0 || g->kind != FGQ_WQ_T2 ? mp : mn) * s_r);
}

/* A move that changes row values by dq·v over columns [j0, j0 + len) with v the vector vals
 * (len 1: one column) lowers f = eᵀ(H + λI)e by 2·dq·(vᵀG) − dq²·vᵀ(H + λI)v, G = (H + λI)e;
 * accepted when that gain is positive beyond rounding (1e-9 of the quadratic term). */
static int gain_ok(double lin, double quad, double dq)
{
    const double gain = 2.0 * dq * lin - dq * dq * quad;
    return gain > 1e-9 * dq * dq * quad && gain > 0.0;
}

/* G −= dq·(H + λI)·v over the columns of v's support [j0, j0 + len). */
static void g_update(double *gr, const double *h, double lambda, int64_t k, int64_t j0, int64_t len, const double *v,
                     double dq)
{
    for (int64_t i = 0; i < len; i++) {
        const double s = dq * v[i];
        if (s == 0.0)
            continue;
        const double *hj = h + (j0 + i) * k;
        for (int64_t l = 0; l < k; l++)
            gr[l] -= s * hj[l];
        gr[j0 + i] -= s * lambda;
    }
}

static void refine_rows(void *ctx, fgq_idx b, fgq_idx e)
{
    refine_task *t = ctx;
    const fgq_gptq_grid *g = t->g;
    const int64_t k = t->k;
    const double *h = t->h, lambda = t->lambda;
    const int64_t group = g->mmax > 0 && g->group > 0 && g->group < k ? g->group : k;
    const int64_t ng = (k + group - 1) / group;
    const int32_t na = g->kind == FGQ_WQ_T2 && g->n_alpha == 2 ? 2 : 1;
    const int32_t cmax = fgq_gptq_code_max(g->kind), cmin = code_min(g->kind);
    double *er = malloc((size_t)k * sizeof(double)), *gr = malloc((size_t)k * sizeof(double));
    double *v = malloc((size_t)group * sizeof(double));
    if (er == NULL || gr == NULL || v == NULL) {
        t->nomem = 1;
        free(er);
        free(gr);
        free(v);
        return;
    }
    for (int64_t r = b; r < e; r++) {
        int8_t *cr = t->codes + r * k;
        float *dr = t->deq + r * k;
        uint8_t *mr = g->mmax > 0 ? t->mults + r * ng * na : NULL;
        const float s_r = g->s_row[r];
        for (int64_t j = 0; j < k; j++)
            er[j] = (double)t->w[r * k + j] - (double)dr[j];
        for (int64_t j = 0; j < k; j++) /* G = (H + λI)·e, H symmetric: row j of H is its column j */
            gr[j] = dot(h + j * k, er, k) + lambda * er[j];
        for (int32_t pass = 0; pass < t->passes; pass++) {
            int moved = 0;
            for (int64_t gi = 0; gi < ng; gi++) {
                const int64_t j0 = gi * group, len = j0 + group < k ? group : k - j0;
                int32_t mp = mr != NULL ? mr[gi * na] : 1, mn = mr != NULL && na == 2 ? mr[gi * na + 1] : mp;
                /* the group's multipliers, codes fixed: each sign's (na 2) or the one (na 1) moves to the
                 * least f on its line, rounded into [lo, mmax] */
                for (int32_t a = 0; mr != NULL && a < na; a++) {
                    double lin = 0.0, quad = 0.0;
                    for (int64_t i = 0; i < len; i++) {
                        const int32_t c = cr[j0 + i];
                        v[i] = (na == 1 || (a == 0 ? c > 0 : c < 0)) ? (double)c * (double)s_r : 0.0;
                        lin += v[i] * gr[j0 + i];
                    }
                    for (int64_t i = 0; i < len; i++) {
                        if (v[i] == 0.0)
                            continue;
                        const double *hj = h + (j0 + i) * k + j0;
                        double s = lambda * v[i];
                        for (int64_t l = 0; l < len; l++)
                            s += hj[l] * v[l];
                        quad += v[i] * s;
                    }
                    const int32_t m = a == 0 ? mp : mn;
                    const int32_t lo = g->kind == FGQ_WQ_T2 ? 0 : 1;
                    if (!(quad > 0.0) || m < lo)
                        continue;
                    const double mt = clampd(nearbyint((double)m + lin / quad), (double)lo, (double)g->mmax);
                    const double dq = mt - (double)m;
                    if (dq == 0.0 || !gain_ok(lin, quad, dq))
                        continue;
                    /* the values move by exactly what the kernels' products change */
                    const int32_t np = a == 0 ? (int32_t)mt : mp, nn = na == 2 ? (a == 1 ? (int32_t)mt : mn) : np;
                    for (int64_t i = 0; i < len; i++) {
                        const int32_t c = cr[j0 + i];
                        const double nv = code_value(g, c, np, nn, s_r);
                        v[i] = (double)dr[j0 + i] - nv;
                        er[j0 + i] += v[i];
                        dr[j0 + i] = (float)nv;
                    }
                    g_update(gr, h, lambda, k, j0, len, v, -1.0);
                    mp = np;
                    mn = nn;
                    mr[gi * na] = (uint8_t)mp;
                    if (na == 2)
                        mr[gi * na + 1] = (uint8_t)mn;
                    moved = 1;
                }
                if (g->kind == FGQ_WQ_T2 && mr != NULL) /* a sign whose multiplier went to 0 has no codes */
                    for (int64_t i = 0; i < len; i++)
                        if ((cr[j0 + i] > 0 && mp == 0) || (cr[j0 + i] < 0 && mn == 0))
                            cr[j0 + i] = 0;
                /* the codes, one column at a time: the level nearest the column's optimum
                 * (ternary: the best of the three) */
                for (int64_t i = 0; i < len; i++) {
                    const int64_t j = j0 + i;
                    const double hjj = h[j * k + j] + lambda;
                    if (!(hjj > 0.0))
                        continue;
                    const int32_t c = cr[j];
                    const double cur = (double)dr[j];
                    int32_t best_c = c;
                    double best_gain = 0.0;
                    int32_t cand[3];
                    int nc = 0;
                    if (g->kind == FGQ_WQ_T2) {
                        cand[nc++] = 0;
                        if (mp > 0)
                            cand[nc++] = 1;
                        if (mn > 0)
                            cand[nc++] = -1;
                    } else if (mp > 0) {
                        const double step = (double)mp * (double)s_r;
                        cand[nc++] = (int32_t)clampd(grid_round(g->kind, (double)c + gr[j] / (hjj * step)),
                                                     (double)cmin, (double)cmax);
                    }
                    for (int q = 0; q < nc; q++) {
                        if (cand[q] == c)
                            continue;
                        const double dq = code_value(g, cand[q], mp, mn, s_r) - cur;
                        const double gain = 2.0 * dq * gr[j] - dq * dq * hjj;
                        if (gain_ok(gr[j], hjj, dq) && gain > best_gain) {
                            best_gain = gain;
                            best_c = cand[q];
                        }
                    }
                    if (best_c == c)
                        continue;
                    cr[j] = (int8_t)best_c;
                    dr[j] = (float)code_value(g, best_c, mp, mn, s_r);
                    const double d = (double)dr[j] - cur;
                    er[j] -= d;
                    g_update(gr, h, lambda, k, j, 1, &d, 1.0);
                    moved = 1;
                }
            }
            if (!moved)
                break;
        }
    }
    free(er);
    free(gr);
    free(v);
}

fgq_status fgq_gptq_refine(const fgq_gptq_grid *g, const float *w, int64_t rows, int64_t k, const double *h,
                           double damp, int32_t passes, const fgq_parallel *par, int8_t *codes, uint8_t *mults,
                           float *deq, fgq_error *err)
{
    double mean = 0.0;
    for (int64_t j = 0; j < k; j++)
        mean += h[j * k + j];
    mean = k > 0 ? mean / (double)k : 0.0;
    const double lambda = damp * (mean > 0.0 ? mean : 1.0); /* as the factorisation's */
    refine_task t = {g, w, rows, k, h, lambda, passes, codes, mults, deq, 0};
    run_for(par, rows, 8, refine_rows, &t);
    if (t.nomem)
        return fgq_fail(err, FGQ_ERR_NOMEM, "refinement: no memory for rows of %lld", (long long)k);
    return FGQ_OK;
}
