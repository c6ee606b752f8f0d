/* gptq.c — error-compensating weight quantization; the math is in gptq.h. */
#include "quant/gptq.h"

#include "quant/ternary.h"

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
fgq_status fgq_gptq_factor(const double *h, int64_t k, double damp, double *u, fgq_error *err)
{
    double *v = malloc((size_t)(k * k) * sizeof(double));
    double *acc = malloc((size_t)k * sizeof(double));
    if (v == NULL || acc == NULL) {
        free(v);
        free(acc);
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
        double d = h[i * k + i] + lambda;
        for (int64_t l = i + 1; l < k; l++)
            d -= vi[l] * vi[l];
        if (!(d > 0.0) || !isfinite(d)) {
            st = fgq_fail(err, FGQ_ERR_VALUE,
                          "error compensation: H + %g·I is not positive definite (column %lld; damping %g)", lambda,
                          (long long)i, damp);
            break;
        }
        const double vii = sqrt(d);
        v[i * k + i] = vii;
        for (int64_t j = i - 1; j >= 0; j--) {
            const double *vj = v + j * k;
            double s = h[j * k + i];
            for (int64_t l = i + 1; l < k; l++)
                s -= vj[l] * vi[l];
            v[j * k + i] = s / vii;
        }
    }
    /* U = V⁻¹, row by row: U[i][l] = (δ_il − Σ_{i<=m<l} U[i][m]·V[m][l]) / V[l][l] */
    for (int64_t i = 0; i < k && st == FGQ_OK; i++) {
        double *ui = u + i * k;
        memset(ui, 0, (size_t)k * sizeof(double));
        memset(acc, 0, (size_t)k * sizeof(double));
        for (int64_t l = i; l < k; l++) {
            const double *vl = v + l * k;
            const double x = ((l == i ? 1.0 : 0.0) - acc[l]) / vl[l];
            ui[l] = x;
            for (int64_t m = l + 1; m < k; m++)
                acc[m] += x * vl[m];
        }
    }
    free(v);
    free(acc);
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

fgq_status fgq_gptq_quantize(const fgq_gptq_grid *g, const float *w, int64_t rows, int64_t k, const double *u,
                             int8_t *codes, uint8_t *mults, float *deq, fgq_error *err)
{
    const int64_t group = g->mmax > 0 && g->group > 0 && g->group < k ? g->group : k;
    const int64_t ng = (k + group - 1) / group;
    const int32_t na = g->kind == FGQ_WQ_T2 && g->n_alpha == 2 ? 2 : 1;
    double *wb = malloc((size_t)(GPTQ_ROW_BLOCK * k) * sizeof(double));
    float *tmp = malloc((size_t)group * sizeof(float));
    int8_t *ttmp = malloc((size_t)group);
    void *scratch = malloc(fgq_ternary_scratch_bytes(group));
    if (wb == NULL || tmp == NULL || ttmp == NULL || scratch == NULL) {
        free(wb);
        free(tmp);
        free(ttmp);
        free(scratch);
        return fgq_fail(err, FGQ_ERR_NOMEM, "error compensation: no memory for rows of %lld", (long long)k);
    }
    level lv[GPTQ_ROW_BLOCK];
    uint8_t mg[GPTQ_ROW_BLOCK][2];
    double e[GPTQ_ROW_BLOCK];
    for (int64_t r0 = 0; r0 < rows; r0 += GPTQ_ROW_BLOCK) {
        const int64_t nb = rows - r0 < GPTQ_ROW_BLOCK ? rows - r0 : GPTQ_ROW_BLOCK;
        for (int64_t b = 0; b < nb; b++)
            for (int64_t j = 0; j < k; j++)
                wb[b * k + j] = (double)w[(r0 + b) * k + j];
        for (int64_t j = 0; j < k; j++) {
            const int64_t gi = j / group;
            for (int64_t b = 0; b < nb; b++) {
                const int64_t r = r0 + b;
                const float s_r = g->s_row[r];
                if (j % group == 0) {
                    if (g->mmax > 0) {
                        const int64_t len = j + group < k ? group : k - j;
                        solve_group(g, wb + b * k + j, len, s_r, tmp, ttmp, scratch, mg[b], &lv[b]);
                        memcpy(mults + (r * ng + gi) * na, mg[b], (size_t)na);
                    } else { /* per row: the step is s_row */
                        mg[b][0] = mg[b][1] = 1;
                        lv[b].pos = lv[b].neg = (double)s_r;
                    }
                }
                const double x = wb[b * k + j];
                float dq;
                const int mp = g->mmax > 0 ? mg[b][0] : 1, mn = g->mmax > 0 && na == 2 ? mg[b][1] : mp;
                codes[r * k + j] = quant_one(g, x, &lv[b], s_r, mp, mn, &dq);
                deq[r * k + j] = dq;
                e[b] = u != NULL ? (x - (double)dq) / u[j * k + j] : 0.0;
            }
            if (u == NULL)
                continue;
            const double *uj = u + j * k;
            for (int64_t b = 0; b < nb; b++) {
                double *wr = wb + b * k, eb = e[b];
                if (eb == 0.0)
                    continue;
                for (int64_t l = j + 1; l < k; l++)
                    wr[l] -= eb * uj[l];
            }
        }
    }
    free(wb);
    free(tmp);
    free(ttmp);
    free(scratch);
    (void)ng;
    return FGQ_OK;
}

double fgq_gptq_output_error(const float *w, const float *q, int64_t rows, int64_t k, const double *h)
{
    double *d = malloc((size_t)k * sizeof(double));
    if (d == NULL)
        return INFINITY;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t j = 0; j < k; j++)
            d[j] = (double)w[r * k + j] - (double)q[r * k + j];
        for (int64_t i = 0; i < k; i++) {
            if (d[i] == 0.0)
                continue;
            const double *hi = h + i * k;
            double s = 0.0;
            for (int64_t j = 0; j < k; j++)
                s += hi[j] * d[j];
            total += d[i] * s;
        }
    }
    free(d);
    return total;
}
