/* layer_weights.c — one weight layer's codes: rounding to its policy's grid, then
 * the error-compensating solver where the layer has statistics (quantize.h,
 * quant/solve/gptq.h). */
#include "quant/layer_weights.h"

#include "ops/ops_q.h"
#include "quant/format/wformat.h"
#include "quant/s2.h"
#include "quant/s3.h"
#include "quant/s4.h"
#include "quant/solve/gptq.h"
#include "quant/stats/hessian.h"
#include "quant/t2.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Row r's k codes (s8, s4, s3, s2; t2 in its own layout) packed into dst. */
/* The code nearest x on dtype dt's grid, clamped to ±lim: the integers, or s2's levels. */
static int8_t round_code(fgq_dtype dt, float x, int32_t lim)
{
    if (dt == FGQ_DT_S2)
        return (int8_t)fgq_s2_level((double)x);
    const float v = roundf(x);
    return (int8_t)(v > (float)lim ? lim : v < (float)-lim ? -lim : v);
}

static void pack_codes(fgq_dtype dt, const int8_t *codes, int64_t k, uint8_t *dst)
{
    if (dt == FGQ_DT_S2)
        fgq_s2_pack(codes, k, dst);
    else if (dt == FGQ_DT_T2)
        fgq_t2_pack(codes, k, dst);
    else if (dt == FGQ_DT_S4)
        fgq_s4_pack(codes, k, dst);
    else if (dt == FGQ_DT_S3)
        fgq_s3_pack(codes, k, dst);
    else
        memcpy(dst, codes, (size_t)k);
}

void fgq_layer_qweights_free(fgq_layer_qweights *w)
{
    free(w->codes);
    free(w->gs);
    free(w->s_row);
    free(w->deq);
    memset(w, 0, sizeof *w);
}

/* Largest M (<= 255) keeping k · code_max · dx · M within int32 (ops_q.h). */
static int64_t mmax_bound(int64_t k, int32_t cmax, int32_t dx)
{
    int64_t per = (int64_t)cmax * (dx > 0 ? dx : 1) * k;
    int64_t m = INT32_MAX / per;
    return m > 255 ? 255 : m;
}

static fgq_status compensate(const fgq_layer_ctx *c, int32_t node, const fgq_policy *p, const float *w, int64_t rows, int64_t k,
                             int32_t dx, fgq_layer_qweights *q);
static double layer_out_sqnr(const fgq_layer_ctx *c, int32_t node, const float *w, const float *deq, int64_t rows, int64_t k);

float fgq_row_scale_floor(float b, float s_x, float s_y)
{
    if (!(s_x > 0.0f))
        return 0.0f;
    double f = fabs((double)b) / ((double)s_x * ldexp(1.0, 30));
    if (s_y > 0.0f) {
        double m = ldexp((double)s_y / (double)s_x, -30);
        f = m > f ? m : f;
    }
    return f > (double)FLT_MAX ? FLT_MAX : (float)f;
}

/* Largest |w| of row r's group [g0, g0 + len). */
static float amax_of(const float *w, int64_t len)
{
    float a = 0.0f;
    for (int64_t i = 0; i < len; i++)
        a = fabsf(w[i]) > a ? fabsf(w[i]) : a;
    return a;
}

fgq_status fgq_quantize_layer_weights(const fgq_layer_ctx *c, int32_t node, const fgq_policy *p, const float *w, int64_t rows,
                                  int64_t k, int32_t dx, const float *s_min, fgq_layer_qweights *q)
{
    fgq_error *err = c->err;
    const char *layer = c->fg->nodes[node].name;
    memset(q, 0, sizeof *q);
    q->out_sqnr_db = q->heldout_sqnr_db = NAN;
    snprintf(q->solver, sizeof q->solver, "rtn");
    q->rows = rows;
    q->k = k;
    fgq_policy pol = *p;
    int per_tensor = pol.kind == FGQ_WQ_U8;
    if (per_tensor) {
        pol.kind = FGQ_WQ_S8;
        pol.group = 0;
    }
    for (int64_t i = 0; i < rows * k; i++)
        if (!isfinite(w[i]))
            return fgq_fail(err, FGQ_ERR_VALUE, "layer '%s': weight (%lld, %lld) is %s", layer, (long long)(i / k),
                            (long long)(i % k), isnan(w[i]) ? "NaN" : "Inf");
    fgq_packed_weights pw;
    fgq_status st = per_tensor ? fgq_quantize_packed_f32(&pol, w, 1, rows * k, &pw, err)
                               : fgq_quantize_packed_f32(&pol, w, rows, k, &pw, err);
    if (st != FGQ_OK) {
        fgq_packed_weights_free(&pw);
        return st;
    }
    q->dt = pw.dtype;
    q->s_row = malloc((size_t)rows * sizeof(float));
    q->deq = malloc((size_t)(rows * k) * sizeof(float));
    if (q->s_row == NULL || q->deq == NULL) {
        fgq_packed_weights_free(&pw);
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", layer);
    }
    const int32_t cmax = fgq_qw_code_max(q->dt);
    q->row_bytes = fgq_qw_row_bytes(q->dt, k, &q->kp);
    q->group = per_tensor ? k : pw.layout.group;
    q->n_groups = per_tensor ? 1 : pw.layout.n_groups;
    if (q->dt == FGQ_DT_T2) {
        q->n_alpha = pw.layout.n_alpha;
        int32_t m = 1;
        for (int64_t i = 0; i < pw.layout.n_mults; i++)
            m = pw.mults[i] > m ? pw.mults[i] : m;
        if (m > mmax_bound(k, cmax, dx)) {
            fgq_packed_weights_free(&pw);
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                            "layer '%s': reduction length %lld is too long for ternary multipliers up to %d in int32",
                            layer, (long long)k, (int)m);
        }
        memcpy(q->s_row, pw.scales, (size_t)rows * sizeof(float));
        const int64_t per_row = pw.layout.n_mults / rows;
        for (int64_t r = 0; s_min != NULL && r < rows; r++) {
            if (!(q->s_row[r] < s_min[r]))
                continue;
            /* coarser row unit: the same alphas in fewer multiplier steps (0: the group is 0) */
            const double ratio = (double)q->s_row[r] / (double)s_min[r];
            for (int64_t j = 0; j < per_row; j++) {
                uint8_t *mj = pw.mults + r * per_row + j;
                *mj = (uint8_t)nearbyint((double)*mj * ratio);
            }
            q->s_row[r] = s_min[r];
        }
        m = 1;
        for (int64_t i = 0; i < pw.layout.n_mults; i++)
            m = pw.mults[i] > m ? pw.mults[i] : m;
        q->mmax = m;
        q->codes = pw.codes;
        q->gs = pw.mults;
        pw.codes = NULL;
        pw.mults = NULL;
    } else if (q->n_groups == 1) { /* s8 / s4 per row (or u8: per tensor) */
        if (k > INT32_MAX / ((int64_t)cmax * (dx > 0 ? dx : 1))) {
            fgq_packed_weights_free(&pw);
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "layer '%s': reduction length %lld exceeds the int32 bound",
                            layer, (long long)k);
        }
        for (int64_t r = 0; r < rows; r++)
            q->s_row[r] = per_tensor ? pw.scales[0] : pw.scales[r];
        for (int64_t r = 0; s_min != NULL && !per_tensor && r < rows; r++) {
            if (!(q->s_row[r] < s_min[r]))
                continue;
            /* too fine for the integer form: round the row again on the coarser scale */
            const float s = s_min[r];
            int8_t *tmp = malloc((size_t)k);
            if (tmp == NULL) {
                fgq_packed_weights_free(&pw);
                return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", layer);
            }
            for (int64_t i = 0; i < k; i++)
                tmp[i] = round_code(q->dt, w[r * k + i] / s, cmax);
            pack_codes(q->dt, tmp, k, pw.codes + r * q->row_bytes);
            free(tmp);
            q->s_row[r] = s;
        }
        /* s2 has no zero level: a row of zeros gets the finest step its bias and requantization
         * carry (FLT_MIN without a floor: the dynamic ops' float W_SCALE) and codes +1, -1, ...
         * alternating, so its outputs stay far below one output step */
        for (int64_t r = 0; q->dt == FGQ_DT_S2 && r < rows; r++) {
            if (amax_of(w + r * k, k) > 0.0f)
                continue;
            q->s_row[r] = s_min != NULL && s_min[r] > FLT_MIN ? s_min[r] : FLT_MIN;
            uint8_t *row = pw.codes + r * q->row_bytes;
            for (int64_t i = 0; i < k; i++) /* code 2 is +1, code 1 is -1 (quant/s2.h) */
                row[i >> 2] = (uint8_t)((row[i >> 2] & ~(3u << (2 * (i & 3)))) | ((i % 2 ? 1u : 2u) << (2 * (i & 3))));
        }
        q->codes = pw.codes;
        pw.codes = NULL;
    } else { /* s8 / s4 groups: integerise the group scales as m_g · s_r */
        int64_t M = mmax_bound(k, cmax, dx);
        if (M < 1) {
            fgq_packed_weights_free(&pw);
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "layer '%s': reduction length %lld exceeds the int32 bound",
                            layer, (long long)k);
        }
        const int qmax = q->dt == FGQ_DT_S4 ? 7 : q->dt == FGQ_DT_S3 || q->dt == FGQ_DT_S2 ? 3 : 127;
        int64_t ng = q->n_groups;
        q->n_alpha = 1;
        q->codes = calloc((size_t)(rows * q->row_bytes) + 1, 1);
        q->gs = malloc((size_t)(rows * ng) + 1);
        int8_t *tmp = malloc((size_t)k);
        if (q->codes == NULL || q->gs == NULL || tmp == NULL) {
            free(tmp);
            fgq_packed_weights_free(&pw);
            return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory quantizing layer '%s'", layer);
        }
        int32_t mused = 1;
        for (int64_t r = 0; r < rows; r++) {
            const float *sc = pw.scales + r * ng;
            float smax = 0.0f; /* over groups with a nonzero weight (an all-zero group's scale is 1) */
            for (int64_t g = 0; g < ng; g++) {
                int64_t g0 = g * q->group, len = g0 + q->group < k ? q->group : k - g0;
                if (amax_of(w + r * k + g0, len) > 0.0f)
                    smax = sc[g] > smax ? sc[g] : smax;
            }
            float s_r = smax / (float)M;
            if (s_min != NULL && s_r < s_min[r])
                s_r = s_min[r];
            if (!(s_r > 0.0f))
                s_r = 1.0f; /* all-zero row, no floor: any unit represents it */
            q->s_row[r] = s_r;
            for (int64_t g = 0; g < ng; g++) {
                double mg = ceil((double)sc[g] / (double)s_r - 1e-6);
                mg = mg < 1.0 ? 1.0 : mg > (double)M ? (double)M : mg;
                int64_t gz = g * q->group, glen = gz + q->group < k ? q->group : k - gz;
                if (q->dt == FGQ_DT_S2 && amax_of(w + r * k + gz, glen) == 0.0f)
                    mg = 0.0; /* no zero level: a group of zeros is multiplier 0 */
                q->gs[r * ng + g] = (uint8_t)mg;
                mused = (int32_t)mg > mused ? (int32_t)mg : mused;
                float s = (float)mg * s_r;
                int64_t g0 = g * q->group, len = g0 + q->group < k ? q->group : k - g0;
                for (int64_t i = g0; i < g0 + len; i++) /* multiplier 0 (an s2 group of zeros): any code */
                    tmp[i] = s > 0.0f ? round_code(q->dt, w[r * k + i] / s, qmax) : (int8_t)(i % 2 ? -1 : 1);
            }
            pack_codes(q->dt, tmp, k, q->codes + r * q->row_bytes);
        }
        q->mmax = mused;
        free(tmp);
    }
    fgq_packed_weights_free(&pw);
    /* What the kernels compute: code · min(m, M) · s_r (ops_q.h fgq_qacc). */
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = q->codes + r * q->row_bytes;
        for (int64_t i = 0; i < k; i++) {
            int32_t code = fgq_qw_code(q->dt, row, i), m = 1;
            if (q->gs != NULL) {
                const uint8_t *mg = q->gs + (r * q->n_groups + i / q->group) * q->n_alpha;
                m = q->n_alpha == 2 && code < 0 ? mg[1] : mg[0];
                m = m < q->mmax ? m : q->mmax;
            }
            q->deq[r * k + i] = (float)code * (float)m * q->s_row[r];
        }
    }
    if (!per_tensor && c->cfg->solver == FGQ_SOLVER_GPTQ) {
        fgq_status cs = compensate(c, node, &pol, w, rows, k, dx, q);
        if (cs != FGQ_OK)
            return cs;
    }
    q->out_sqnr_db = layer_out_sqnr(c, node, w, q->deq, rows, k);
    q->bytes = rows * q->row_bytes + (q->gs != NULL ? rows * q->n_groups * q->n_alpha : 0) + 4 * rows;
    return FGQ_OK;
}

/* ---- error compensation (quantize.h, quant/gptq.h) ------------------------------------ */

/* Passes of the refinement (fgq_gptq_refine) at most; most layers stop moving sooner. */
#define FGQ_REFINE_PASSES 8

/* Damping candidates, fractions of mean(diag H): the search range of quantize.h. */
static const double k_damps[] = {1e-4, 1e-3, 1e-2, 1e-1, 1.0};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Act order (GPTQ's "act-order", kept to whole groups): the order in which
 * the columns are quantized, most-used inputs first. Full groups go by
 * decreasing Σ diag(H) over their columns, the columns of a group by
 * decreasing diag(H); a shorter tail group stays last (the grid's group
 * indexing wants it there). perm[j'] = the column quantized j'-th;
 * gperm[g'] = the group quantized g'-th. */
static void act_order(const double *h, int64_t k, int64_t group, int64_t *perm, int64_t *gperm, double *score)
{
    const int64_t nf = k / group, ng = (k + group - 1) / group;
    for (int64_t g = 0; g < ng; g++) {
        gperm[g] = g;
        score[g] = 0.0;
        for (int64_t j = g * group; j < (g + 1) * group && j < k; j++)
            score[g] += h[j * k + j];
    }
    for (int64_t a = 1; a < nf; a++) /* insertion sort: stable, deterministic */
        for (int64_t b = a; b > 0 && score[gperm[b]] > score[gperm[b - 1]]; b--) {
            int64_t t = gperm[b];
            gperm[b] = gperm[b - 1];
            gperm[b - 1] = t;
        }
    for (int64_t gp = 0; gp < ng; gp++) {
        const int64_t g = gperm[gp], j0 = g * group, len = j0 + group < k ? group : k - j0;
        int64_t *dst = perm + gp * group;
        for (int64_t i = 0; i < len; i++)
            dst[i] = j0 + i;
        for (int64_t a = 1; a < len; a++)
            for (int64_t b = a; b > 0 && h[dst[b] * k + dst[b]] > h[dst[b - 1] * k + dst[b - 1]]; b--) {
                int64_t t = dst[b];
                dst[b] = dst[b - 1];
                dst[b - 1] = t;
            }
    }
}

/* GPTQ over every convolution group of the layer with damping `damp`, fitting
 * on `h` (+ h2 when not NULL; groups of k·k); the output error on hv (may be
 * NULL) is returned in *err_out. With cfg->act_order the columns go in act
 * order (above) and the results are put back in place. With `refine` the codes
 * then go through fgq_gptq_refine (in place, in k order, on the same damped H),
 * and *err_pre (not NULL) gets the held-out error before it. */
static fgq_status gptq_layer(const fgq_layer_ctx *c, const fgq_gptq_grid *grid, const float *w, int64_t rows, int64_t k,
                             int64_t groups, const double *h, const double *h2, double damp, int refine,
                             const double *hv, double *u, double *hsum, int8_t *codes, uint8_t *mults, float *deq,
                             double *err_pre, double *err_out)
{
    const int64_t rb = rows / groups, ng = grid->mmax > 0 ? (k + grid->group - 1) / grid->group : 0;
    const int32_t na = grid->n_alpha == 2 ? 2 : 1;
    const int64_t glen = grid->mmax > 0 ? grid->group : k, ngp = (k + glen - 1) / glen;
    const int ao = c->cfg->act_order;
    double *hp = NULL, *score = NULL;
    int64_t *perm = NULL, *gperm = NULL;
    float *wp = NULL, *dp = NULL;
    int8_t *cp = NULL;
    uint8_t *mp = NULL;
    fgq_status st = FGQ_OK;
    if (ao) {
        hp = malloc((size_t)(k * k) * sizeof(double));
        score = malloc((size_t)ngp * sizeof(double));
        perm = malloc((size_t)k * sizeof(int64_t));
        gperm = malloc((size_t)ngp * sizeof(int64_t));
        wp = malloc((size_t)(rb * k) * sizeof(float));
        dp = malloc((size_t)(rb * k) * sizeof(float));
        cp = malloc((size_t)(rb * k));
        mp = malloc((size_t)(rb * (ng > 0 ? ng : 1) * na));
        if (hp == NULL || score == NULL || perm == NULL || gperm == NULL || wp == NULL || dp == NULL || cp == NULL ||
            mp == NULL)
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "error compensation: out of memory (act order)");
    }
    double total = 0.0, pre = 0.0;
    for (int64_t g = 0; g < groups && st == FGQ_OK; g++) {
        const double *hg = h + g * k * k;
        if (h2 != NULL) {
            for (int64_t i = 0; i < k * k; i++)
                hsum[i] = hg[i] + h2[g * k * k + i];
            hg = hsum;
        }
        const float *wg = w + g * rb * k;
        int8_t *cg = codes + g * rb * k;
        uint8_t *mg = mults != NULL ? mults + g * rb * ng * na : NULL;
        float *dg = deq + g * rb * k;
        if (ao) {
            act_order(hg, k, glen, perm, gperm, score);
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < k; j++)
                    hp[i * k + j] = hg[perm[i] * k + perm[j]];
            for (int64_t r = 0; r < rb; r++)
                for (int64_t j = 0; j < k; j++)
                    wp[r * k + j] = wg[r * k + perm[j]];
        }
        if ((st = fgq_gptq_factor(ao ? hp : hg, k, damp, c->cfg->parallel, u, c->err)) != FGQ_OK)
            break;
        fgq_gptq_grid gg = *grid;
        gg.s_row = grid->s_row + g * rb;
        st = fgq_gptq_quantize(&gg, ao ? wp : wg, rb, k, u, c->cfg->parallel, ao ? cp : cg, ao ? (mg ? mp : NULL) : mg,
                               ao ? dp : dg, c->err);
        if (st != FGQ_OK)
            break;
        if (ao) { /* back in place */
            for (int64_t r = 0; r < rb; r++)
                for (int64_t j = 0; j < k; j++) {
                    cg[r * k + perm[j]] = cp[r * k + j];
                    dg[r * k + perm[j]] = dp[r * k + j];
                }
            if (mg != NULL)
                for (int64_t r = 0; r < rb; r++)
                    for (int64_t gp = 0; gp < ng; gp++)
                        memcpy(mg + (r * ng + gperm[gp]) * na, mp + (r * ng + gp) * na, (size_t)na);
        }
        if (hv != NULL && err_pre != NULL && refine)
            pre += fgq_gptq_output_error(wg, dg, rb, k, hv + g * k * k, c->cfg->parallel);
        if (refine &&
            (st = fgq_gptq_refine(&gg, wg, rb, k, hg, damp, FGQ_REFINE_PASSES, c->cfg->parallel, cg, mg, dg, c->err)) !=
                FGQ_OK)
            break;
        if (hv != NULL)
            total += fgq_gptq_output_error(wg, dg, rb, k, hv + g * k * k, c->cfg->parallel);
    }
    free(hp);
    free(score);
    free(perm);
    free(gperm);
    free(wp);
    free(dp);
    free(cp);
    free(mp);
    *err_out = total;
    if (err_pre != NULL)
        *err_pre = refine ? pre : total;
    return st;
}

/* Σ over the layer's groups of (w − q)ᵀ H_g (w − q), rows·k weights in groups of rows/groups;
 * q = a zero buffer of rows/groups·k gives Σ wᵀ H_g w. */
static double grouped_output_error(const fgq_layer_ctx *c, const float *w, const float *q, int q_step, int64_t rows,
                                   int64_t k, int64_t groups, const double *h)
{
    const int64_t rb = rows / groups;
    double e = 0.0;
    for (int64_t g = 0; g < groups; g++)
        e += fgq_gptq_output_error(w + g * rb * k, q + q_step * g * rb * k, rb, k, h + g * k * k, c->cfg->parallel);
    return e;
}

/* Replaces q's rounded codes by error-compensated ones when the layer has
 * input statistics (cfg->hessians): the damping is chosen among k_damps (and
 * plain rounding), each with and without the refinement where cfg->refine, by
 * the output error on the held-out sum, then the codes are solved again on
 * both sums (quantize.h). */
static fgq_status compensate(const fgq_layer_ctx *c, int32_t node, const fgq_policy *p, const float *w, int64_t rows, int64_t k,
                             int32_t dx, fgq_layer_qweights *q)
{
    const fgq_hessians *hs = c->cfg->hessians;
    if (hs == NULL || node >= hs->n_nodes || hs->layer[node] == NULL ||
        !(q->dt == FGQ_DT_S8 || q->dt == FGQ_DT_S4 || q->dt == FGQ_DT_S3 || q->dt == FGQ_DT_S2 || q->dt == FGQ_DT_T2))
        return FGQ_OK;
    const fgq_layer_hessian *lh = hs->layer[node];
    const int64_t groups = lh->view.groups;
    if (lh->view.k != k || rows % groups != 0 || lh->samples[FGQ_H_FIT] < 1)
        return FGQ_OK;
    const double t0 = now_ms();
    const int32_t cmax = fgq_qw_code_max(q->dt);
    fgq_gptq_grid grid;
    memset(&grid, 0, sizeof grid);
    grid.kind = q->dt == FGQ_DT_T2   ? FGQ_WQ_T2
                : q->dt == FGQ_DT_S4 ? FGQ_WQ_S4
                : q->dt == FGQ_DT_S3 ? FGQ_WQ_S3
                : q->dt == FGQ_DT_S2 ? FGQ_WQ_S2
                                     : FGQ_WQ_S8;
    grid.solver = p->solver;
    grid.group = q->group;
    grid.n_alpha = q->dt == FGQ_DT_T2 ? q->n_alpha : 1;
    if (q->gs != NULL) {
        int64_t mb = mmax_bound(k, cmax, dx);
        const int64_t cap = q->dt == FGQ_DT_T2 ? FGQ_T2_MULT_MAX : 255; /* ternary: m·code an int8 (wformat.h) */
        grid.mmax = (int32_t)(mb > cap ? cap : mb);
    }
    grid.s_row = q->s_row;
    const int64_t ng = q->gs != NULL ? q->n_groups : 0, na = grid.n_alpha;
    int8_t *codes = malloc((size_t)(rows * k));
    uint8_t *mults = ng > 0 ? malloc((size_t)(rows * ng * na)) : NULL;
    float *deq = malloc((size_t)(rows * k) * sizeof(float));
    double *u = malloc((size_t)(k * k) * sizeof(double)), *hsum = malloc((size_t)(k * k) * sizeof(double));
    fgq_status st = FGQ_OK;
    if (codes == NULL || (ng > 0 && mults == NULL) || deq == NULL || u == NULL || hsum == NULL) {
        st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory compensating layer '%s'", c->fg->nodes[node].name);
        goto done;
    }
    const double *hf = lh->h[FGQ_H_FIT], *hv = lh->h[FGQ_H_VAL];
    const int held_out = lh->samples[FGQ_H_VAL] > 0;
    double damp = c->cfg->damp > 0.0 ? c->cfg->damp : 1e-2;
    /* this layer's part of cfg->refine (auto: ternary layers only) */
    const int want_refine = c->cfg->refine == 1 || (c->cfg->refine == FGQ_REFINE_TERNARY && q->dt == FGQ_DT_T2);
    int refine = want_refine; /* with a fixed damping: as asked; else chosen below */
    double held_sig = 0.0, held_round = 0.0; /* Σ wᵀ H_val w, and the rounding's held-out error */
    if (c->cfg->damp <= 0.0 && held_out) { /* choose by the held-out output error; -1: plain rounding */
        double best = grouped_output_error(c, w, q->deq, 1, rows, k, groups, hv);
        held_round = best;
        damp = -1.0;
        for (size_t d = 0; d < sizeof k_damps / sizeof k_damps[0]; d++) {
            double e = 0.0;
            fgq_error e2;
            fgq_error_clear(&e2);
            fgq_layer_ctx quiet = *c;
            quiet.err = &e2; /* a candidate that cannot be factorised is skipped */
            double e_pre = 0.0;
            fgq_status cs = gptq_layer(&quiet, &grid, w, rows, k, groups, hf, NULL, k_damps[d], want_refine, hv, u,
                                       hsum, codes, mults, deq, &e_pre, &e);
            if (cs == FGQ_ERR_NOMEM) {
                st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s", e2.msg);
                goto done;
            }
            if (cs == FGQ_OK && e_pre < best) {
                best = e_pre;
                damp = k_damps[d];
                refine = 0;
            }
            if (cs == FGQ_OK && want_refine && e < best) { /* the refined codes, where they measure better */
                best = e;
                damp = k_damps[d];
                refine = 1;
            }
        }
        float *zero = calloc((size_t)(rows / groups * k), sizeof(float));
        if (zero == NULL) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "out of memory compensating layer '%s'", c->fg->nodes[node].name);
            goto done;
        }
        held_sig = grouped_output_error(c, w, zero, 0, rows, k, groups, hv);
        free(zero);
        q->heldout_sqnr_db = best > 0.0 ? 10.0 * log10(held_sig / best) : INFINITY;
    }
    if (damp > 0.0) {
        double e;
        if ((st = gptq_layer(c, &grid, w, rows, k, groups, hf, held_out ? hv : NULL, damp, refine, NULL, u, hsum,
                             codes, mults, deq, NULL, &e)) != FGQ_OK) {
            if (st != FGQ_ERR_VALUE)
                goto done;
            fgq_error_clear(c->err); /* not factorisable even damped: keep the rounding */
            st = FGQ_OK;
            damp = -1.0;
            if (!isnan(q->heldout_sqnr_db)) /* the rounding's, then */
                q->heldout_sqnr_db = held_round > 0.0 ? 10.0 * log10(held_sig / held_round) : INFINITY;
        }
    }
    if (damp > 0.0) {
        for (int64_t r = 0; r < rows; r++) {
            const int8_t *cr = codes + r * k;
            uint8_t *dst = q->codes + r * q->row_bytes;
            pack_codes(q->dt, cr, k, dst);
        }
        if (ng > 0) {
            int32_t m = 1;
            for (int64_t i = 0; i < rows * ng * na; i++)
                m = mults[i] > m ? mults[i] : m;
            memcpy(q->gs, mults, (size_t)(rows * ng * na));
            q->mmax = m;
        }
        memcpy(q->deq, deq, (size_t)(rows * k) * sizeof(float));
        snprintf(q->solver, sizeof q->solver, refine ? "gptq:%g+cd" : "gptq:%g", damp);
    }
    q->solve_ms = now_ms() - t0;
done:
    free(codes);
    free(mults);
    free(deq);
    free(u);
    free(hsum);
    return st;
}

/* SQNR of W·x against W_q·x over every calibration input of the layer, from
 * its H (both sums): 10·log10(Σ wᵀHw / Σ (w − w_q)ᵀH(w − w_q)). NAN when the
 * layer has no statistics. */
static double layer_out_sqnr(const fgq_layer_ctx *c, int32_t node, const float *w, const float *deq, int64_t rows, int64_t k)
{
    const fgq_hessians *hs = c->cfg->hessians;
    if (hs == NULL || node >= hs->n_nodes || hs->layer[node] == NULL)
        return NAN;
    const fgq_layer_hessian *lh = hs->layer[node];
    const int64_t groups = lh->view.groups, rb = rows / groups;
    if (lh->view.k != k || rows % groups != 0)
        return NAN;
    float *zero = calloc((size_t)(rb * k), sizeof(float));
    if (zero == NULL)
        return NAN;
    double sig = 0.0, noise = 0.0;
    for (int p = 0; p < 2; p++) {
        sig += grouped_output_error(c, w, zero, 0, rows, k, groups, lh->h[p]);
        noise += grouped_output_error(c, w, deq, 1, rows, k, groups, lh->h[p]);
    }
    free(zero);
    if (!(noise > 0.0))
        return INFINITY;
    return 10.0 * log10(sig / noise);
}

