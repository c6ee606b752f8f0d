/* gptq.c — error-compensating weight quantization; the math is in gptq.h. */
#include "quant/solve/gptq.h"

#include "quant/format/ternary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int32_t fgq_gptq_code_max(fgq_wq_kind kind)
{
    return kind == FGQ_WQ_S4 ? 7 : kind == FGQ_WQ_T2 ? 1 : 127;
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
    int nomem;
} inv_task;

typedef struct {
    double *v;
    const double *h;
    int64_t k, i;
    double vii;
} col_task;

/* Column i of V above the diagonal, rows [b, e): independent of each other. */
GPTQ_CLONES static void v_column(void *ctx, int64_t b, int64_t e)
{
    col_task *t = ctx;
    const int64_t k = t->k, i = t->i;
    const double *vi = t->v + i * k;
    for (int64_t j = b; j < e; j++) {
        const double *vj = t->v + j * k;
        t->v[j * k + i] = (t->h[j * k + i] - dot(vj + i + 1, vi + i + 1, k - i - 1)) / t->vii;
    }
}

/* Rows [b, e) of U = V⁻¹: U[i][l] = (δ_il − Σ_{i<=m<l} U[i][m]·V[m][l]) / V[l][l]. */
GPTQ_CLONES static void inverse_rows(void *ctx, int64_t b, int64_t e)
{
    inv_task *t = ctx;
    const int64_t k = t->k;
    double *acc = malloc((size_t)k * sizeof(double));
    if (acc == NULL) {
        t->nomem = 1;
        return;
    }
    for (int64_t i = b; i < e; i++) {
        double *ui = t->u + i * k;
        memset(ui, 0, (size_t)k * sizeof(double));
        memset(acc, 0, (size_t)k * sizeof(double));
        for (int64_t l = i; l < k; l++) {
            const double *vl = t->v + l * k;
            const double x = ((l == i ? 1.0 : 0.0) - acc[l]) / vl[l];
            ui[l] = x;
            for (int64_t m = l + 1; m < k; m++)
                acc[m] += x * vl[m];
        }
    }
    free(acc);
}


fgq_status fgq_gptq_factor(const double *h, int64_t k, double damp, const fgq_parallel *par, double *u,
                           fgq_error *err)
{
    double *v = malloc((size_t)(k * k) * sizeof(double));
    if (v == NULL) {
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for a %lld x %lld factor", (long long)k,
                        (long long)k);
    }
    double mean = 0.0;
    for (int64_t i = 0; i < k; i++)
        mean += h[i * k + i];
    mean /= (double)k;
    const double lambda = damp * (mean > 0.0 ? mean : 1.0);
    fgq_status st = FGQ_OK;
    /* V: A = V·Vᵀ, V upper; V[j][i] for j <= i, rows i from k-1 down */
    memset(v, 0, (size_t)(k * k) * sizeof(double));
    for (int64_t i = k - 1; i >= 0 && st == FGQ_OK; i--) {
        const double *vi = v + i * k;
        const double d = h[i * k + i] + lambda - dot(vi + i + 1, vi + i + 1, k - i - 1);
        if (!(d > 0.0) || !isfinite(d)) {
            st = fgq_fail(err, FGQ_ERR_VALUE,
                          "error compensation: H + %g·I is not positive definite (column %lld; damping %g)", lambda,
                          (long long)i, damp);
            break;
        }
        const double vii = sqrt(d);
        v[i * k + i] = vii;
        col_task ct = {v, h, k, i, vii};
        run_for(i * (k - i) > (int64_t)1 << 16 ? par : NULL, i, 64, v_column, &ct);
    }
    if (st == FGQ_OK) { /* U = V⁻¹, rows independent */
        inv_task t = {v, u, k, 0};
        run_for(par, k, 16, inverse_rows, &t);
        if (t.nomem)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: out of memory");
    }
    free(v);
    return st;
}

/* One group's grid for one row: the multipliers and the step(s). */
typedef struct {
    double pos, neg; /* ternary: levels +pos, -neg (0 when the multiplier is 0); else pos = step */
} level;

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Solves the grid of group values x[0..len) (updated weights) of row r. */
static void solve_group(const fgq_gptq_grid *g, const double *x, int64_t len, float s_r, float *tmp, int8_t *ttmp,
                        void *scratch, uint8_t *m_out, level *lv)
{
    const int32_t cmax = fgq_gptq_code_max(g->kind);
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
    double amax = 0.0;
    for (int64_t i = 0; i < len; i++)
        amax = fabs(x[i]) > amax ? fabs(x[i]) : amax;
    double m = clampd(ceil(amax / (double)cmax / (double)s_r - 1e-6), 1.0, (double)g->mmax);
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
    const int32_t cmax = fgq_gptq_code_max(g->kind);
    double c = clampd(nearbyint(x / lv->pos), (double)-cmax, (double)cmax);
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
    int nomem;
} quant_task;

/* Row blocks [b, e) of GPTQ_ROW_BLOCK rows each: rows are independent given U. */
GPTQ_CLONES static void quant_blocks(void *ctx, int64_t b, int64_t e)
{
    quant_task *t = ctx;
    const fgq_gptq_grid *g = t->g;
    const int64_t k = t->k, rows = t->rows;
    const double *u = t->u;
    const int64_t group = g->mmax > 0 && g->group > 0 && g->group < k ? g->group : k;
    const int64_t ng = (k + group - 1) / group;
    const int32_t na = g->kind == FGQ_WQ_T2 && g->n_alpha == 2 ? 2 : 1;
    double *wb = malloc((size_t)(GPTQ_ROW_BLOCK * k) * sizeof(double));
    float *tmp = malloc((size_t)group * sizeof(float));
    int8_t *ttmp = malloc((size_t)group);
    void *scratch = malloc(fgq_ternary_scratch_bytes(group));
    if (wb == NULL || tmp == NULL || ttmp == NULL || scratch == NULL) {
        t->nomem = 1;
        free(wb);
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
        for (int64_t j = 0; j < k; j++) {
            const int64_t gi = j / group;
            for (int64_t i = 0; i < nb; i++) {
                const int64_t r = r0 + i;
                const float s_r = g->s_row[r];
                if (j % group == 0) {
                    if (g->mmax > 0) {
                        const int64_t len = j + group < k ? group : k - j;
                        solve_group(g, wb + i * k + j, len, s_r, tmp, ttmp, scratch, mg[i], &lv[i]);
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
            }
            if (u == NULL)
                continue;
            const double *uj = u + j * k;
            for (int64_t i = 0; i < nb; i++) {
                double *wr = wb + i * k, ei = e_[i];
                if (ei == 0.0)
                    continue;
                for (int64_t l = j + 1; l < k; l++)
                    wr[l] -= ei * uj[l];
            }
        }
    }
    free(wb);
    free(tmp);
    free(ttmp);
    free(scratch);
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

typedef struct {
    const float *w, *q;
    int64_t k;
    const double *h;
    double *per_row;
    int nomem;
} err_task;

static void err_rows(void *ctx, int64_t b, int64_t e)
{
    err_task *t = ctx;
    const int64_t k = t->k;
    double *d = malloc((size_t)k * sizeof(double));
    if (d == NULL) {
        t->nomem = 1;
        return;
    }
    for (int64_t r = b; r < e; r++) {
        for (int64_t j = 0; j < k; j++)
            d[j] = (double)t->w[r * k + j] - (double)t->q[r * k + j];
        double total = 0.0;
        for (int64_t i = 0; i < k; i++) {
            if (d[i] == 0.0)
                continue;
            total += d[i] * dot(t->h + i * k, d, k);
        }
        t->per_row[r] = total;
    }
    free(d);
}

double fgq_gptq_output_error(const float *w, const float *q, int64_t rows, int64_t k, const double *h,
                             const fgq_parallel *par)
{
    double *per_row = malloc((size_t)(rows > 0 ? rows : 1) * sizeof(double));
    if (per_row == NULL)
        return INFINITY;
    err_task t = {w, q, k, h, per_row, 0};
    run_for(par, rows, 4, err_rows, &t);
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) /* summed in row order: the same for any thread count */
        total += per_row[r];
    free(per_row);
    return t.nomem ? INFINITY : total;
}
