/* wformat.c — the weight format traits table: layouts, quantizers and dequantizers (see wformat.h). */
#include "quant/format/wformat.h"

#include "quant/affine.h"
#include "quant/s2.h"
#include "quant/s3.h"
#include "quant/s4.h"
#include "quant/t2.h"
#include "quant/format/ternary.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers --------------------------------------------------------- */

static void layout_common(int64_t group, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    memset(o, 0, sizeof *o);
    o->group = group;
    o->n_groups = (k + group - 1) / group;
    (void)rows;
}

/* Symmetric scale for values with largest magnitude amax and range -qmax..qmax:
 * s = amax / qmax, so |w| / s <= qmax and the clamp never bites. An all-zero
 * group gets s = 1 (any positive value reproduces zeros; a zero scale would
 * make bias scales s_x * s_w divide by zero downstream). If amax / qmax
 * underflows to 0, the smallest positive float still keeps |w| / s <= qmax. */
static float symmetric_scale(float amax, int qmax)
{
    if (amax == 0.0f)
        return 1.0f;
    float s = amax / (float)qmax;
    return s > 0.0f ? s : FLT_TRUE_MIN;
}

/* q = clamp(round(w / s), -qmax, qmax), round half away from zero. */
static int8_t symmetric_quantize(float w, float s, int qmax)
{
    float v = roundf(w / s);
    if (v > (float)qmax)
        v = (float)qmax;
    if (v < (float)-qmax)
        v = (float)-qmax;
    return (int8_t)v;
}

static float group_amax(const float *w, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        m = a > m ? a : m;
    }
    return m;
}

/* ---- f32: kept float --------------------------------------------------------- */

static void f32_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    (void)p;
    layout_common(k, rows, k, o);
    o->row_bytes = 4 * k;
}

static fgq_status f32_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    (void)err;
    memcpy(pw->codes, w, (size_t)(pw->rows * pw->k) * sizeof(float));
    return FGQ_OK;
}

static void f32_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    memcpy(out, pw->codes, (size_t)(pw->rows * pw->k) * sizeof(float));
}

/* ---- u8: per-tensor TF min/max ---------------------------------------------- */

static void u8_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    (void)p;
    layout_common(k, rows, k, o);
    o->row_bytes = k;
    o->n_scales = 1;
    o->n_zero_points = 1;
}

static fgq_status u8_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    int64_t n = pw->rows * pw->k;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    fgq_affine_params ap;
    fgq_status st = fgq_affine_choose_u8(lo, hi, &ap, err);
    if (st != FGQ_OK)
        return st;
    fgq_affine_quantize_u8(w, n, &ap, pw->codes);
    pw->scales[0] = ap.scale;
    pw->zero_points[0] = ap.zero_point;
    return FGQ_OK;
}

static void u8_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    fgq_affine_params ap = {pw->scales[0], pw->zero_points[0], 0, 255};
    fgq_affine_dequantize_u8(pw->codes, pw->rows * pw->k, &ap, out);
}

/* ---- s8: symmetric per row or per group --------------------------------------- */

static void s8_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    layout_common(fgq_policy_group_for(p, k), rows, k, o);
    o->row_bytes = k;
    o->n_scales = rows * o->n_groups;
}

static fgq_status s8_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    (void)err;
    int64_t k = pw->k, group = pw->layout.group, ng = pw->layout.n_groups;
    for (int64_t r = 0; r < pw->rows; r++) {
        const float *wr = w + r * k;
        int8_t *qr = (int8_t *)(void *)(pw->codes + r * pw->layout.row_bytes);
        for (int64_t g = 0; g < ng; g++) {
            int64_t g0 = g * group, len = g0 + group < k ? group : k - g0;
            float s = symmetric_scale(group_amax(wr + g0, len), 127);
            pw->scales[r * ng + g] = s;
            for (int64_t i = g0; i < g0 + len; i++)
                qr[i] = symmetric_quantize(wr[i], s, 127);
        }
    }
    return FGQ_OK;
}

static void s8_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    int64_t k = pw->k, group = pw->layout.group, ng = pw->layout.n_groups;
    for (int64_t r = 0; r < pw->rows; r++) {
        const int8_t *qr = (const int8_t *)(const void *)(pw->codes + r * pw->layout.row_bytes);
        for (int64_t i = 0; i < k; i++)
            out[r * k + i] = (float)qr[i] * pw->scales[r * ng + i / group];
    }
}

/* ---- s4 and s3: symmetric per group, -7..7 / -3..3, packed -------------------- */

static void s4_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    layout_common(fgq_policy_group_for(p, k), rows, k, o);
    o->row_bytes = fgq_s4_row_bytes(k);
    o->n_scales = rows * o->n_groups;
}

static void s3_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    layout_common(fgq_policy_group_for(p, k), rows, k, o);
    o->row_bytes = fgq_s3_row_bytes(k);
    o->n_scales = rows * o->n_groups;
}

/* Round to nearest on -qmax..qmax per group, packed by `pack` (fgq_s4_pack, fgq_s3_pack). */
static fgq_status subbyte_quantize_rows(const float *w, fgq_packed_weights *pw, int qmax,
                                        void (*pack)(const int8_t *, int64_t, uint8_t *), fgq_error *err)
{
    int64_t k = pw->k, group = pw->layout.group, ng = pw->layout.n_groups;
    int8_t *q = malloc((size_t)k);
    if (q == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "s%d quantization: no memory for a row of %lld", qmax == 7 ? 4 : 3,
                        (long long)k);
    for (int64_t r = 0; r < pw->rows; r++) {
        const float *wr = w + r * k;
        for (int64_t g = 0; g < ng; g++) {
            int64_t g0 = g * group, len = g0 + group < k ? group : k - g0;
            float s = symmetric_scale(group_amax(wr + g0, len), qmax);
            pw->scales[r * ng + g] = s;
            for (int64_t i = g0; i < g0 + len; i++)
                q[i] = symmetric_quantize(wr[i], s, qmax);
        }
        pack(q, k, pw->codes + r * pw->layout.row_bytes);
    }
    free(q);
    return FGQ_OK;
}

static fgq_status s4_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    return subbyte_quantize_rows(w, pw, 7, fgq_s4_pack, err);
}

static fgq_status s3_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    return subbyte_quantize_rows(w, pw, 3, fgq_s3_pack, err);
}

/* code i of a row through `get` times its group's float scale */
static void grouped_dequantize_rows(const fgq_packed_weights *pw, int32_t (*get)(const uint8_t *, int64_t), float *out)
{
    int64_t k = pw->k, group = pw->layout.group, ng = pw->layout.n_groups;
    for (int64_t r = 0; r < pw->rows; r++) {
        const uint8_t *row = pw->codes + r * pw->layout.row_bytes;
        for (int64_t i = 0; i < k; i++)
            out[r * k + i] = (float)get(row, i) * pw->scales[r * ng + i / group];
    }
}

/* s2: the step s = max|w| / 3 and each weight on the nearest of −3, −1, 1, 3 steps; a group of
 * zeros (no zero level) gets step 0, which is what the .fgq's multiplier 0 gives. */
static void s2_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    layout_common(fgq_policy_group_for(p, k), rows, k, o);
    o->row_bytes = fgq_s2_row_bytes(k);
    o->n_scales = rows * o->n_groups;
}

static fgq_status s2_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    int64_t k = pw->k, group = pw->layout.group, ng = pw->layout.n_groups;
    int8_t *q = malloc((size_t)k);
    if (q == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "s2 quantization: no memory for a row of %lld", (long long)k);
    for (int64_t r = 0; r < pw->rows; r++) {
        const float *wr = w + r * k;
        for (int64_t g = 0; g < ng; g++) {
            int64_t g0 = g * group, len = g0 + group < k ? group : k - g0;
            const float amax = group_amax(wr + g0, len), s = amax > 0.0f ? symmetric_scale(amax, 3) : 0.0f;
            pw->scales[r * ng + g] = s;
            for (int64_t i = g0; i < g0 + len; i++)
                q[i] = (int8_t)(s > 0.0f ? fgq_s2_level((double)(wr[i] / s)) : i % 2 ? -1 : 1);
        }
        fgq_s2_pack(q, k, pw->codes + r * pw->layout.row_bytes);
    }
    free(q);
    return FGQ_OK;
}

static void s2_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    grouped_dequantize_rows(pw, fgq_s2_get, out);
}

static void s4_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    int64_t k = pw->k, ng = pw->layout.n_groups;
    for (int64_t r = 0; r < pw->rows; r++)
        fgq_s4_dequantize_row_f32(pw->codes + r * pw->layout.row_bytes, k, pw->layout.group,
                                  pw->scales + r * ng, out + r * k);
}

static void s3_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    grouped_dequantize_rows(pw, fgq_s3_get, out);
}

/* ---- t2: FGQ ternary ------------------------------------------------------------ */

static void t2_layout(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *o)
{
    layout_common(fgq_policy_group_for(p, k), rows, k, o);
    o->row_bytes = fgq_t2_row_bytes(k);
    o->n_scales = rows;
    o->n_alpha = p->solver == FGQ_TERNARY_ASYM ? 2 : 1;
    o->n_mults = rows * o->n_groups * o->n_alpha;
}

/* Per row: solve every group, then split the alphas into a float row scale
 * s_r = max alpha / FGQ_T2_MULT_MAX and multipliers m = round(alpha / s_r), so the
 * largest alpha of the row is exact and the others are off by at most s_r/2.
 * The dequantized weights use m * s_r, which is what the kernels multiply. */
static fgq_status t2_quantize_rows(const float *w, fgq_packed_weights *pw, fgq_error *err)
{
    int64_t k = pw->k, group = pw->layout.group, ng = pw->layout.n_groups;
    int na = pw->layout.n_alpha;
    int8_t *t = malloc((size_t)k);
    float *alpha = malloc((size_t)(ng * na) * sizeof(float));
    void *scratch = malloc(fgq_ternary_scratch_bytes(group));
    if (t == NULL || alpha == NULL || scratch == NULL) {
        free(t);
        free(alpha);
        free(scratch);
        return fgq_fail(err, FGQ_ERR_NOMEM, "ternary quantization: no memory for a row of %lld", (long long)k);
    }
    for (int64_t r = 0; r < pw->rows; r++) {
        const float *wr = w + r * k;
        float amax = 0.0f;
        for (int64_t g = 0; g < ng; g++) {
            int64_t g0 = g * group, len = g0 + group < k ? group : k - g0;
            fgq_ternary_fit fit;
            fgq_ternary_solve_f32(pw->policy.solver, wr + g0, len, scratch, t + g0, &fit);
            alpha[g * na] = fit.alpha_pos;
            if (na == 2)
                alpha[g * na + 1] = fit.alpha_neg;
            amax = fit.alpha_pos > amax ? fit.alpha_pos : amax;
            amax = fit.alpha_neg > amax ? fit.alpha_neg : amax;
        }
        float s_row = amax > 0.0f ? amax / (float)FGQ_T2_MULT_MAX : 1.0f;
        if (!(s_row > 0.0f))
            s_row = FLT_TRUE_MIN; /* amax / FGQ_T2_MULT_MAX underflowed */
        pw->scales[r] = s_row;
        uint8_t *m = pw->mults + r * ng * na;
        for (int64_t i = 0; i < ng * na; i++) {
            float v = roundf(alpha[i] / s_row);
            m[i] = (uint8_t)(v > (float)FGQ_T2_MULT_MAX ? (float)FGQ_T2_MULT_MAX : v);
        }
        fgq_t2_pack(t, k, pw->codes + r * pw->layout.row_bytes);
    }
    free(t);
    free(alpha);
    free(scratch);
    return FGQ_OK;
}

static void t2_dequantize_rows(const fgq_packed_weights *pw, float *out)
{
    int64_t k = pw->k, ng = pw->layout.n_groups;
    int na = pw->layout.n_alpha;
    for (int64_t r = 0; r < pw->rows; r++)
        fgq_t2_dequantize_row_f32(pw->codes + r * pw->layout.row_bytes, k, pw->layout.group, na,
                                  pw->mults + r * ng * na, pw->scales[r], out + r * k);
}

/* ---- the table --------------------------------------------------------------- */

static const fgq_wq_traits wq_traits[FGQ_WQ_COUNT] = {
    [FGQ_WQ_F32] = {FGQ_WQ_F32, "f32", FGQ_DT_F32, f32_layout, f32_quantize_rows, f32_dequantize_rows},
    [FGQ_WQ_U8] = {FGQ_WQ_U8, "u8", FGQ_DT_U8, u8_layout, u8_quantize_rows, u8_dequantize_rows},
    [FGQ_WQ_S8] = {FGQ_WQ_S8, "s8", FGQ_DT_S8, s8_layout, s8_quantize_rows, s8_dequantize_rows},
    [FGQ_WQ_S4] = {FGQ_WQ_S4, "s4", FGQ_DT_S4, s4_layout, s4_quantize_rows, s4_dequantize_rows},
    [FGQ_WQ_T2] = {FGQ_WQ_T2, "ternary", FGQ_DT_T2, t2_layout, t2_quantize_rows, t2_dequantize_rows},
    [FGQ_WQ_S3] = {FGQ_WQ_S3, "s3", FGQ_DT_S3, s3_layout, s3_quantize_rows, s3_dequantize_rows},
    [FGQ_WQ_S2] = {FGQ_WQ_S2, "s2", FGQ_DT_S2, s2_layout, s2_quantize_rows, s2_dequantize_rows},
};

const fgq_wq_traits *fgq_wq_traits_of(fgq_wq_kind kind)
{
    if ((int)kind < 0 || kind >= FGQ_WQ_COUNT)
        return NULL;
    return &wq_traits[kind];
}

/* Byte counts stay far below INT64_MAX when every count is < 2^56. */
#define WQ_SIZE_LIMIT ((int64_t)1 << 56)

fgq_status fgq_wq_layout_for(const fgq_policy *p, int64_t rows, int64_t k, fgq_wq_layout *out,
                             fgq_error *err)
{
    const fgq_wq_traits *tr = p ? fgq_wq_traits_of(p->kind) : NULL;
    if (tr == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "invalid weight policy kind %d", p ? (int)p->kind : -1);
    if (p->group < 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "negative group size %lld", (long long)p->group);
    if (rows < 0 || k < 1 || rows > WQ_SIZE_LIMIT / k / 8)
        return fgq_fail(err, FGQ_ERR_SHAPE, "weight shape [%lld, %lld] is empty or too large",
                        (long long)rows, (long long)k);
    tr->layout(p, rows, k, out);
    out->total_bytes = rows * out->row_bytes + 4 * out->n_scales + out->n_zero_points + out->n_mults;
    return FGQ_OK;
}

void fgq_packed_weights_free(fgq_packed_weights *pw)
{
    if (pw == NULL)
        return;
    free(pw->codes);
    free(pw->scales);
    free(pw->zero_points);
    free(pw->mults);
    pw->codes = NULL;
    pw->scales = NULL;
    pw->zero_points = NULL;
    pw->mults = NULL;
}

fgq_status fgq_quantize_packed_f32(const fgq_policy *p, const float *w, int64_t rows, int64_t k,
                                   fgq_packed_weights *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    fgq_status st = fgq_wq_layout_for(p, rows, k, &out->layout, err);
    if (st != FGQ_OK)
        return st;
    const fgq_wq_traits *tr = fgq_wq_traits_of(p->kind);
    out->policy = *p;
    out->dtype = tr->dtype;
    out->rows = rows;
    out->k = k;
    const fgq_wq_layout *l = &out->layout;
    /* +1: malloc(0) may return NULL, which must not read as a failure */
    out->codes = malloc((size_t)(rows * l->row_bytes) + 1);
    if (l->n_scales)
        out->scales = malloc((size_t)l->n_scales * sizeof(float));
    if (l->n_zero_points)
        out->zero_points = malloc((size_t)l->n_zero_points * sizeof(int32_t));
    if (l->n_mults)
        out->mults = malloc((size_t)l->n_mults);
    if (out->codes == NULL || (l->n_scales && out->scales == NULL) ||
        (l->n_zero_points && out->zero_points == NULL) || (l->n_mults && out->mults == NULL))
        return fgq_fail(err, FGQ_ERR_NOMEM, "no memory for %lld bytes of %s weights",
                        (long long)l->total_bytes, tr->name);
    return tr->quantize_rows(w, out, err);
}

void fgq_dequantize_packed_f32(const fgq_packed_weights *pw, float *out)
{
    const fgq_wq_traits *tr = fgq_wq_traits_of(pw->policy.kind);
    if (tr != NULL)
        tr->dequantize_rows(pw, out);
}
