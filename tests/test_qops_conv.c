/*
 * test_qops_conv.c — QCONV and QGEMM, the integer-only reference kernels.
 * Oracles:
 *  (1) bit-exactness against a loop nest written here from the contract in
 *      docs/quantized-ops.md: int64 accumulation of Σ m(k)·w_k·(q_x − z_x)
 *      with the group's multiplier per weight (m⁺ for w > 0, m⁻ for w < 0,
 *      each min(GS, M)), padding taps skipped, bias added and saturated to
 *      int32, then the gemmlowp requantization re-derived here in int64
 *      (floor((x·m + 2^30) / 2^31), then a right shift rounding halves away
 *      from zero) — over >= 200 random shapes each (1-D/2-D/3-D, groups,
 *      depthwise, strides, dilations, pads, s8/s4/s3/s2/t2, with/without group
 *      multipliers, asym ternary, u8/s8 in and out) and at the limits
 *      (zero points at the dtype ends, K tails, M = 1, N = 1, all-zero
 *      ternary groups, s4 −8/7, s3 −4/3, s2 ±3, the largest multipliers and shifts, K at the
 *      int32 bound, saturating bias);
 *  (2) float semantics: for random float weights and activations, the
 *      dequantized QCONV output is within one output step of a double
 *      convolution of the dequantized inputs (written here);
 *  (3) check() rejecting bad params, shapes and K beyond the overflow bound;
 *      check() rejecting REQ pairs with a shift outside −31..31 or a negative
 *      multiplier, and a REQ whose data it is not given (not a constant: the
 *      runs trust what load checked).
 */
#include "test_ops_common.h"

#include "quant/affine.h"
#include "quant/s2.h"
#include "quant/s3.h"
#include "quant/s4.h"
#include "quant/t2.h"

#include <stdlib.h>

/* ---- the oracle's arithmetic ---------------------------------------------- */

static int64_t sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
}

/* gemmlowp/TFLite MultiplyByQuantizedMultiplier, restated in int64. */
static int64_t ref_requant(int64_t acc, int32_t mult, int32_t shift)
{
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int64_t x = sat32(acc * ((int64_t)1 << left));
    int64_t h;
    if (x == INT32_MIN && mult == INT32_MIN)
        h = INT32_MAX;
    else
        h = (x * mult + ((int64_t)1 << 30)) >> 31; /* floor: halves toward +inf */
    if (right == 0)
        return h;
    const int64_t half = (int64_t)1 << (right - 1);
    return h >= 0 ? (h + half) >> right : -((-h + half) >> right);
}

static uint32_t rng = 0x2545f491u;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int32_t rint_in(int32_t lo, int32_t hi) /* uniform in [lo, hi] */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static void act_range(fgq_dtype dt, int32_t *lo, int32_t *hi)
{
    *lo = dt == FGQ_DT_S8 ? -128 : 0;
    *hi = dt == FGQ_DT_S8 ? 127 : 255;
}

/* ---- weights ---------------------------------------------------------------- */

typedef struct {
    fgq_dtype wdt;
    int64_t rows, k, kp, row_bytes, ngroups;
    int has_gs, has_bias;
    int32_t group, nalpha, mmax;
    int8_t *codes;    /* [rows, k] unpacked */
    uint8_t *packed;  /* [rows, row_bytes] */
    uint8_t *gs;      /* [rows, ngroups, nalpha] */
    int32_t *bias, *req;
} qw_t;

static int32_t code_max(fgq_dtype dt)
{
    return dt == FGQ_DT_S8 ? 128 : dt == FGQ_DT_S4 ? 8 : dt == FGQ_DT_S3 ? 4 : dt == FGQ_DT_S2 ? 3 : 1;
}

/* Codes and bytes of a packing unit (rows start on a unit). */
static int64_t unit_codes(fgq_dtype dt)
{
    return dt == FGQ_DT_T2 || dt == FGQ_DT_S2 ? 4 : dt == FGQ_DT_S4 ? 2 : dt == FGQ_DT_S3 ? 8 : 1;
}
static int64_t unit_bytes(fgq_dtype dt)
{
    return dt == FGQ_DT_S3 ? 3 : 1;
}

static void qw_free(qw_t *w)
{
    free(w->codes);
    free(w->packed);
    free(w->gs);
    free(w->bias);
    free(w->req);
}

static void qw_alloc(qw_t *w, fgq_dtype wdt, int64_t rows, int64_t k, int has_gs, int32_t group, int32_t nalpha,
                     int32_t mmax)
{
    memset(w, 0, sizeof *w);
    w->wdt = wdt;
    w->rows = rows;
    w->k = k;
    const int64_t units = (k + unit_codes(wdt) - 1) / unit_codes(wdt);
    w->row_bytes = units * unit_bytes(wdt);
    w->kp = units * unit_codes(wdt);
    w->has_gs = has_gs;
    w->group = has_gs ? group : 0;
    w->nalpha = has_gs ? nalpha : 0;
    w->mmax = has_gs ? mmax : 0;
    w->ngroups = has_gs ? (k + group - 1) / group : 1;
    w->codes = calloc((size_t)(rows * k), 1);
    w->packed = calloc((size_t)(rows * w->row_bytes), 1);
    w->gs = calloc((size_t)(rows * w->ngroups * 2), 1);
    w->bias = calloc((size_t)rows, sizeof(int32_t));
    w->req = calloc((size_t)(rows * 2), sizeof(int32_t));
}

static void qw_pack(qw_t *w)
{
    for (int64_t r = 0; r < w->rows; r++) {
        const int8_t *c = w->codes + r * w->k;
        uint8_t *p = w->packed + r * w->row_bytes;
        if (w->wdt == FGQ_DT_S8)
            memcpy(p, c, (size_t)w->k);
        else if (w->wdt == FGQ_DT_S4)
            fgq_s4_pack(c, w->k, p);
        else if (w->wdt == FGQ_DT_S3)
            fgq_s3_pack(c, w->k, p);
        else if (w->wdt == FGQ_DT_S2)
            fgq_s2_pack(c, w->k, p);
        else
            fgq_t2_pack(c, w->k, p);
    }
}

/* Random codes (with extremes and all-zero ternary groups), multipliers
 * (some above M, which the kernel clamps) and bias. */
static void qw_random(qw_t *w)
{
    const int32_t cm = code_max(w->wdt);
    const int extreme = rnd() % 5 == 0;
    for (int64_t r = 0; r < w->rows; r++)
        for (int64_t k = 0; k < w->k; k++) {
            int32_t v;
            if (w->wdt == FGQ_DT_T2)
                v = rint_in(-1, 1);
            else if (w->wdt == FGQ_DT_S2) /* its levels: −3, −1, 1, 3 */
                v = extreme ? (rnd() % 2 ? -3 : 3) : 2 * rint_in(0, 3) - 3;
            else if (extreme)
                v = rnd() % 2 ? -cm : cm - 1;
            else
                v = rint_in(-cm, cm - 1);
            w->codes[r * w->k + k] = (int8_t)v;
        }
    if (w->wdt == FGQ_DT_T2 && w->has_gs) /* some all-zero groups */
        for (int64_t r = 0; r < w->rows; r++)
            for (int64_t g = 0; g < w->ngroups; g++)
                if (rnd() % 4 == 0)
                    for (int64_t k = g * w->group; k < w->k && k < (g + 1) * w->group; k++)
                        w->codes[r * w->k + k] = 0;
    for (int64_t i = 0; i < w->rows * w->ngroups * 2; i++)
        w->gs[i] = (uint8_t)(rnd() % 8 == 0 ? 255 : rint_in(0, w->mmax > 0 ? w->mmax : 1));
    w->has_bias = rnd() % 4 != 0;
    for (int64_t r = 0; r < w->rows; r++)
        w->bias[r] = w->has_bias ? rint_in(-20000, 20000) : 0;
    qw_pack(w);
}

/* Effective multiplier of weight k of row r (w > 0: m+, w < 0: m−). */
static int64_t ref_mult(const qw_t *w, int64_t r, int64_t k, int32_t code)
{
    if (!w->has_gs)
        return 1;
    const int64_t g = k / w->group;
    const uint8_t *m = w->gs + (r * w->ngroups + g) * w->nalpha;
    int32_t v = (w->nalpha == 2 && code < 0) ? m[1] : m[0];
    return v < w->mmax ? v : w->mmax;
}

/* Output for a raw dot product of row r. */
static int32_t ref_out(const qw_t *w, int64_t r, int64_t dot, int32_t zy, int32_t qmin, int32_t qmax)
{
    const int64_t acc = sat32(dot + (w->has_bias ? w->bias[r] : 0));
    const int64_t v = zy + ref_requant(acc, w->req[2 * r], w->req[2 * r + 1]);
    return (int32_t)(v < qmin ? qmin : v > qmax ? qmax : v);
}

/* REQ per row from the largest |dot| of that row, so that outputs spread over
 * the 8-bit range; a few rows get the extreme pairs. */
static void qw_choose_req(qw_t *w, const int64_t *maxabs)
{
    for (int64_t r = 0; r < w->rows; r++) {
        int32_t m = 0, s = 0;
        const uint32_t pick = rnd() % 16;
        if (pick == 0) {
            m = INT32_MAX;
            s = 31;
        } else if (pick == 1) {
            m = INT32_MAX;
            s = -31;
        } else if (pick == 2) {
            m = (int32_t)(1u << 30);
            s = rint_in(-31, 31);
        } else {
            double real = (60.0 + rnd() % 100) / (double)(maxabs[r] > 0 ? maxabs[r] : 1);
            if (real < 0x1p-31)
                real = 0x1p-31;
            fgq_error e;
            if (fgq_quantize_multiplier(real, &m, &s, &e) != FGQ_OK) {
                m = 1 << 30;
                s = 0;
            }
        }
        w->req[2 * r] = m;
        w->req[2 * r + 1] = s;
    }
}

static fgq_tensor_view qview(void *data, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

typedef struct {
    fgq_tensor_view w, b, req, gs;
} qw_views;

static void qw_make_views(qw_t *w, qw_views *v)
{
    const int64_t wd[2] = { w->rows, w->kp }, bd[1] = { w->rows }, rd[2] = { w->rows, 2 };
    const int64_t gd[3] = { w->rows, w->ngroups, 2 };
    v->w = qview(w->packed, w->wdt, 2, wd);
    v->b = qview(w->bias, FGQ_DT_S32, 1, bd);
    v->req = qview(w->req, FGQ_DT_S32, 2, rd);
    v->gs = qview(w->gs, FGQ_DT_U8, w->nalpha == 2 ? 3 : 2, gd);
}

static void set_wparams(tnode *nd, const qw_t *w)
{
    nd->ip[FGQ_QP_W_GROUP] = w->group;
    nd->ip[FGQ_QP_W_NALPHA] = w->nalpha;
    nd->ip[FGQ_QP_W_MMAX] = w->mmax;
}

/* Largest M that keeps k·code_max·dx·M within int32, capped at 255. */
static int32_t mmax_allowed(fgq_dtype wdt, int64_t k, fgq_dtype xdt, int32_t zx)
{
    int32_t lo, hi;
    act_range(xdt, &lo, &hi);
    const int64_t dx = zx - lo > hi - zx ? zx - lo : hi - zx;
    const int64_t m = INT32_MAX / (k * code_max(wdt) * dx);
    return (int32_t)(m > 255 ? 255 : m);
}

/* ---- QCONV -------------------------------------------------------------------- */

typedef struct {
    int ns;
    int64_t n, c, m, g;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3]; /* right-aligned, unused = 1/0 */
    fgq_dtype xdt, ydt;
    int32_t zx, zy, qmin, qmax;
} conv_shape;

static int64_t prod3(const int64_t *v)
{
    return v[0] * v[1] * v[2];
}

/* Raw dot product of output (n, mo, o) by the definition. */
static int64_t ref_conv_dot(const conv_shape *cs, const qw_t *w, const uint8_t *x, int64_t n, int64_t mo,
                            const int64_t *o)
{
    const int64_t cg = cs->c / cs->g, mg = cs->m / cs->g;
    int64_t acc = 0, k = 0;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t k0 = 0; k0 < cs->k[0]; k0++)
            for (int64_t k1 = 0; k1 < cs->k[1]; k1++)
                for (int64_t k2 = 0; k2 < cs->k[2]; k2++, k++) {
                    const int64_t kk[3] = { k0, k1, k2 };
                    int64_t pos[3], inside = 1;
                    for (int j = 0; j < 3; j++) {
                        pos[j] = o[j] * cs->s[j] - cs->pb[j] + kk[j] * cs->d[j];
                        inside &= pos[j] >= 0 && pos[j] < cs->in[j];
                    }
                    if (!inside)
                        continue;
                    const int64_t ci = (mo / mg) * cg + c;
                    const int64_t xi = ((n * cs->c + ci) * cs->in[0] + pos[0]) * cs->in[1] * cs->in[2] +
                                       pos[1] * cs->in[2] + pos[2];
                    const int32_t q = cs->xdt == FGQ_DT_S8 ? (int8_t)x[xi] : x[xi];
                    const int32_t code = w->codes[mo * w->k + k];
                    acc += ref_mult(w, mo, k, code) * code * (int64_t)(q - cs->zx);
                }
    return acc;
}

static void conv_set_node(tnode *nd, const conv_shape *cs, const qw_t *w, int has_gs)
{
    tnode_init(nd, FGQ_OP_QCONV, has_gs ? 5 : 4);
    nd->ip[FGQ_P_NSPATIAL] = cs->ns;
    nd->ip[FGQ_P_GROUP] = (int32_t)cs->g;
    for (int i = 0; i < cs->ns; i++) {
        const int j = 3 - cs->ns + i;
        nd->ip[FGQ_P_KERNEL + i] = (int32_t)cs->k[j];
        nd->ip[FGQ_P_STRIDE + i] = (int32_t)cs->s[j];
        nd->ip[FGQ_P_DILATION + i] = (int32_t)cs->d[j];
        nd->ip[FGQ_P_PAD_BEGIN + i] = (int32_t)cs->pb[j];
        nd->ip[FGQ_P_PAD_END + i] = (int32_t)cs->pe[j];
    }
    nd->ip[FGQ_QP_X_ZERO] = cs->zx;
    nd->ip[FGQ_QP_Y_ZERO] = cs->zy;
    nd->ip[FGQ_QP_QMIN] = cs->qmin;
    nd->ip[FGQ_QP_QMAX] = cs->qmax;
    set_wparams(nd, w);
}

static void conv_dims(const conv_shape *cs, int64_t *xd, int64_t *yd)
{
    xd[0] = yd[0] = cs->n;
    xd[1] = cs->c;
    yd[1] = cs->m;
    for (int i = 0; i < cs->ns; i++) {
        xd[2 + i] = cs->in[3 - cs->ns + i];
        yd[2 + i] = cs->out[3 - cs->ns + i];
    }
}

/* Runs one conv case (x filled by the caller, w's codes/gs/bias set) and
 * compares every output with the oracle; returns the mismatch count. */
static int run_conv_case(const conv_shape *cs, qw_t *w, const uint8_t *x, int pick_req)
{
    const int64_t ny = cs->n * cs->m * prod3(cs->out);
    int64_t *dots = malloc(sizeof(int64_t) * (size_t)(ny > 0 ? ny : 1));
    int64_t *maxabs = calloc((size_t)cs->m, sizeof(int64_t));
    for (int64_t n = 0; n < cs->n; n++)
        for (int64_t mo = 0; mo < cs->m; mo++)
            for (int64_t p = 0; p < prod3(cs->out); p++) {
                const int64_t o[3] = { p / (cs->out[1] * cs->out[2]), (p / cs->out[2]) % cs->out[1], p % cs->out[2] };
                const int64_t dv = ref_conv_dot(cs, w, x, n, mo, o);
                dots[(n * cs->m + mo) * prod3(cs->out) + p] = dv;
                maxabs[mo] = dv < 0 && -dv > maxabs[mo] ? -dv : dv > maxabs[mo] ? dv : maxabs[mo];
            }
    if (pick_req)
        qw_choose_req(w, maxabs);
    int64_t xd[5], yd[5];
    conv_dims(cs, xd, yd);
    uint8_t *y = calloc((size_t)(ny > 0 ? ny : 1), 1);
    qw_views v;
    qw_make_views(w, &v);
    fgq_tensor_view xv = qview((void *)x, cs->xdt, cs->ns + 2, xd), yv = qview(y, cs->ydt, cs->ns + 2, yd);
    const fgq_tensor_view *in[5] = { &xv, &v.w, w->has_bias ? &v.b : NULL, &v.req, &v.gs };
    tnode nd;
    conv_set_node(&nd, cs, w, w->has_gs);
    int bad = 0;
    fgq_status st = op_check_run(&nd, in, &yv);
    CHECK_MSG(st == FGQ_OK, "QCONV run status %d", (int)st);
    if (st == FGQ_OK)
        for (int64_t i = 0; i < ny; i++) {
            const int64_t mo = (i / prod3(cs->out)) % cs->m;
            const int32_t want = ref_out(w, mo, dots[i], cs->zy, cs->qmin, cs->qmax);
            const int32_t got = cs->ydt == FGQ_DT_S8 ? (int8_t)y[i] : y[i];
            if (got != want && bad++ < 3)
                fprintf(stderr, "  QCONV y[%lld] = %d, want %d (dot %lld)\n", (long long)i, got, want,
                        (long long)dots[i]);
        }
    free(dots);
    free(maxabs);
    free(y);
    return st == FGQ_OK ? bad : 1;
}

static void random_act_params(fgq_dtype *xdt, fgq_dtype *ydt, int32_t *zx, int32_t *zy, int32_t *qmin, int32_t *qmax)
{
    int32_t lo, hi;
    *xdt = rnd() % 2 ? FGQ_DT_U8 : FGQ_DT_S8;
    *ydt = rnd() % 2 ? FGQ_DT_U8 : FGQ_DT_S8;
    act_range(*xdt, &lo, &hi);
    const uint32_t zpick = rnd() % 4;
    *zx = zpick == 0 ? lo : zpick == 1 ? hi : rint_in(lo, hi);
    act_range(*ydt, &lo, &hi);
    const uint32_t ypick = rnd() % 4;
    *zy = ypick == 0 ? lo : ypick == 1 ? hi : rint_in(lo, hi);
    *qmin = lo;
    *qmax = hi;
    if (rnd() % 3 == 0) { /* fused Relu-like or Clip-like clamp */
        *qmin = *zy;
        *qmax = rnd() % 2 ? hi : rint_in(*zy, hi);
    }
}

static void random_weights_for(qw_t *w, fgq_dtype xdt, int32_t zx, int64_t rows, int64_t k)
{
    const fgq_dtype wdts[5] = { FGQ_DT_S8, FGQ_DT_S4, FGQ_DT_T2, FGQ_DT_S3, FGQ_DT_S2 };
    fgq_dtype wdt = wdts[rnd() % 5];
    int has_gs = rnd() % 4 != 0;
    int32_t allowed = mmax_allowed(wdt, k, xdt, zx);
    if (allowed < 1)
        has_gs = 0;
    const int32_t group = rint_in(1, (int32_t)k + 1);
    const int32_t nalpha = wdt == FGQ_DT_T2 && rnd() % 2 ? 2 : 1;
    const int32_t mmax = allowed < 1 ? 1 : rnd() % 3 == 0 ? allowed : rint_in(1, allowed);
    qw_alloc(w, wdt, rows, k, has_gs, group, nalpha, mmax);
    qw_random(w);
}

static void fill_x(uint8_t *x, int64_t n, fgq_dtype xdt, int extremes)
{
    int32_t lo, hi;
    act_range(xdt, &lo, &hi);
    for (int64_t i = 0; i < n; i++) {
        int32_t v = extremes ? (rnd() % 2 ? lo : hi) : rint_in(lo, hi);
        x[i] = (uint8_t)(int8_t)v;
    }
}

static void test_qconv_random(void)
{
    int cases = 0, bad_cases = 0;
    for (int it = 0; it < 260; it++) {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = it % 7 == 0 ? 3 : it % 3 == 0 ? 1 : 2;
        cs.n = rint_in(1, 2);
        const uint32_t gpick = rnd() % 3;
        const int64_t cg = rint_in(1, 4), mg = rint_in(1, 3);
        cs.g = gpick == 0 ? 1 : rint_in(2, 4);
        if (gpick == 2) { /* depthwise */
            cs.c = cs.m = cs.g;
        } else {
            cs.c = cs.g * cg;
            cs.m = cs.g * mg;
        }
        for (int j = 0; j < 3; j++) {
            cs.in[j] = cs.k[j] = cs.s[j] = cs.d[j] = cs.out[j] = 1;
            cs.pb[j] = cs.pe[j] = 0;
        }
        for (int i = 0; i < cs.ns; i++) {
            const int j = 3 - cs.ns + i;
            cs.k[j] = rint_in(1, cs.ns == 3 ? 2 : 3);
            cs.s[j] = rint_in(1, 3);
            cs.d[j] = rint_in(1, 2);
            cs.pb[j] = rint_in(0, 2);
            cs.pe[j] = rint_in(0, 2);
            const int64_t ext = cs.d[j] * (cs.k[j] - 1) + 1;
            cs.in[j] = rint_in(1, cs.ns == 3 ? 4 : 7);
            if (cs.in[j] + cs.pb[j] + cs.pe[j] < ext)
                cs.in[j] = ext;
            cs.out[j] = (cs.in[j] + cs.pb[j] + cs.pe[j] - ext) / cs.s[j] + 1;
        }
        random_act_params(&cs.xdt, &cs.ydt, &cs.zx, &cs.zy, &cs.qmin, &cs.qmax);
        const int64_t k = (cs.c / cs.g) * prod3(cs.k);
        qw_t w;
        random_weights_for(&w, cs.xdt, cs.zx, cs.m, k);
        const int64_t nx = cs.n * cs.c * prod3(cs.in);
        uint8_t *x = malloc((size_t)nx);
        fill_x(x, nx, cs.xdt, rnd() % 6 == 0);
        const int bad = run_conv_case(&cs, &w, x, 1);
        CHECK_MSG(bad == 0, "case %d: ns %d g %lld c %lld m %lld wdt %s gs %d group %d nalpha %d M %d: %d mismatches", it,
                  cs.ns, (long long)cs.g, (long long)cs.c, (long long)cs.m, fgq_dtype_name(w.wdt), w.has_gs,
                  (int)w.group, (int)w.nalpha, (int)w.mmax, bad);
        cases++;
        bad_cases += bad != 0;
        free(x);
        qw_free(&w);
    }
    CHECK(cases >= 200 && bad_cases == 0);
}

/* Depthwise layers with planes large enough that the phase form (qconv.c) runs in several bands of
 * output rows, strides 1-3 (stride 2: four phase planes), dilations 1-2, 3x3 and 5x5, uneven pads,
 * widths not a multiple of the stride: the same oracle as above. */
static void test_qconv_depthwise_bands(void)
{
    int bad_cases = 0;
    for (int it = 0; it < 16; it++) {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = 2;
        cs.n = 1;
        cs.g = cs.c = cs.m = rint_in(1, 3);
        for (int j = 0; j < 3; j++) {
            cs.in[j] = cs.k[j] = cs.s[j] = cs.d[j] = cs.out[j] = 1;
            cs.pb[j] = cs.pe[j] = 0;
        }
        for (int j = 1; j < 3; j++) {
            cs.k[j] = it % 4 == 3 ? 5 : 3;
            cs.s[j] = it < 4 ? 1 : it < 12 ? 2 : 3;
            cs.d[j] = it % 5 == 4 ? 2 : 1;
            cs.pb[j] = rint_in(0, 2);
            cs.pe[j] = rint_in(0, 2);
            cs.in[j] = rint_in(90, 131);
            const int64_t ext = cs.d[j] * (cs.k[j] - 1) + 1;
            cs.out[j] = (cs.in[j] + cs.pb[j] + cs.pe[j] - ext) / cs.s[j] + 1;
        }
        random_act_params(&cs.xdt, &cs.ydt, &cs.zx, &cs.zy, &cs.qmin, &cs.qmax);
        const int64_t k = prod3(cs.k);
        qw_t w;
        random_weights_for(&w, cs.xdt, cs.zx, cs.m, k);
        const int64_t nx = cs.n * cs.c * prod3(cs.in);
        uint8_t *x = malloc((size_t)nx);
        fill_x(x, nx, cs.xdt, 0);
        const int bad = run_conv_case(&cs, &w, x, 1);
        CHECK_MSG(bad == 0, "case %d: %lldx%lld k %lld s %lld d %lld pads %lld/%lld: %d mismatches", it,
                  (long long)cs.in[1], (long long)cs.in[2], (long long)cs.k[1], (long long)cs.s[1], (long long)cs.d[1],
                  (long long)cs.pb[1], (long long)cs.pe[1], bad);
        bad_cases += bad != 0;
        free(x);
        qw_free(&w);
    }
    CHECK(bad_cases == 0);
}

/* ---- QGEMM -------------------------------------------------------------------- */

/* Runs A [mrows, k] (or [1, mrows, k] when rank3) through QGEMM against the oracle. */
static int run_gemm_case(int64_t mrows, qw_t *w, fgq_dtype xdt, fgq_dtype ydt, int32_t zx, int32_t zy, int32_t qmin,
                         int32_t qmax, const uint8_t *a, int pick_req, int rank3)
{
    const int64_t n = w->rows, k = w->k;
    int64_t *dots = malloc(sizeof(int64_t) * (size_t)(mrows * n));
    int64_t *maxabs = calloc((size_t)n, sizeof(int64_t));
    for (int64_t r = 0; r < mrows; r++)
        for (int64_t j = 0; j < n; j++) {
            int64_t acc = 0;
            for (int64_t kk = 0; kk < k; kk++) {
                const int32_t q = xdt == FGQ_DT_S8 ? (int8_t)a[r * k + kk] : a[r * k + kk];
                const int32_t code = w->codes[j * k + kk];
                acc += ref_mult(w, j, kk, code) * code * (int64_t)(q - zx);
            }
            dots[r * n + j] = acc;
            const int64_t ab = acc < 0 ? -acc : acc;
            if (ab > maxabs[j])
                maxabs[j] = ab;
        }
    if (pick_req)
        qw_choose_req(w, maxabs);
    uint8_t *y = calloc((size_t)(mrows * n), 1);
    qw_views v;
    qw_make_views(w, &v);
    const int64_t ad2[2] = { mrows, k }, yd2[2] = { mrows, n }, ad3[3] = { 1, mrows, k }, yd3[3] = { 1, mrows, n };
    fgq_tensor_view av = rank3 ? qview((void *)a, xdt, 3, ad3) : qview((void *)a, xdt, 2, ad2);
    fgq_tensor_view yv = rank3 ? qview(y, ydt, 3, yd3) : qview(y, ydt, 2, yd2);
    const fgq_tensor_view *in[5] = { &av, &v.w, w->has_bias ? &v.b : NULL, &v.req, &v.gs };
    tnode nd;
    tnode_init(&nd, FGQ_OP_QGEMM, w->has_gs ? 5 : 4);
    nd.ip[FGQ_QP_X_ZERO] = zx;
    nd.ip[FGQ_QP_Y_ZERO] = zy;
    nd.ip[FGQ_QP_QMIN] = qmin;
    nd.ip[FGQ_QP_QMAX] = qmax;
    set_wparams(&nd, w);
    int bad = 0;
    fgq_status st = op_check_run(&nd, in, &yv);
    CHECK_MSG(st == FGQ_OK, "QGEMM run status %d", (int)st);
    if (st == FGQ_OK)
        for (int64_t i = 0; i < mrows * n; i++) {
            const int32_t want = ref_out(w, i % n, dots[i], zy, qmin, qmax);
            const int32_t got = ydt == FGQ_DT_S8 ? (int8_t)y[i] : y[i];
            if (got != want && bad++ < 3)
                fprintf(stderr, "  QGEMM y[%lld] = %d, want %d (dot %lld)\n", (long long)i, got, want,
                        (long long)dots[i]);
        }
    free(dots);
    free(maxabs);
    free(y);
    return st == FGQ_OK ? bad : 1;
}

static void test_qgemm_random(void)
{
    int cases = 0, bad_cases = 0;
    for (int it = 0; it < 300; it++) {
        const int64_t mrows = it % 5 == 0 ? 1 : rint_in(1, 9);
        const int64_t n = it % 7 == 0 ? 1 : rint_in(1, 12);
        /* K across the 4/8/32 multiples and their tails */
        const int64_t k = it % 4 == 0 ? rint_in(1, 9) : rint_in(1, 140);
        fgq_dtype xdt, ydt;
        int32_t zx, zy, qmin, qmax;
        random_act_params(&xdt, &ydt, &zx, &zy, &qmin, &qmax);
        qw_t w;
        random_weights_for(&w, xdt, zx, n, k);
        uint8_t *a = malloc((size_t)(mrows * k));
        fill_x(a, mrows * k, xdt, rnd() % 6 == 0);
        const int bad = run_gemm_case(mrows, &w, xdt, ydt, zx, zy, qmin, qmax, a, 1, it % 3 == 0);
        CHECK_MSG(bad == 0, "case %d: M %lld N %lld K %lld wdt %s gs %d group %d nalpha %d M %d: %d mismatches", it,
                  (long long)mrows, (long long)n, (long long)k, fgq_dtype_name(w.wdt), w.has_gs, (int)w.group,
                  (int)w.nalpha, (int)w.mmax, bad);
        cases++;
        bad_cases += bad != 0;
        free(a);
        qw_free(&w);
    }
    CHECK(cases >= 200 && bad_cases == 0);
}

/* K at the int32 bound with every term at its extreme and the same sign: the
 * kernel's int32 dot must be exact (oracle in int64). */
static void test_qgemm_at_bound(void)
{
    struct {
        fgq_dtype wdt;
        int has_gs;
        int32_t code, mult;
        fgq_dtype xdt;
        int32_t zx, xq;
    } cfg[] = {
        { FGQ_DT_T2, 1, 1, 255, FGQ_DT_U8, 0, 255 },      /* + 33025·255·255 */
        { FGQ_DT_T2, 1, -1, 255, FGQ_DT_U8, 0, 255 },     /* − */
        { FGQ_DT_S8, 0, -128, 0, FGQ_DT_U8, 0, 255 },     /* s8 per channel, −128 */
        { FGQ_DT_S8, 0, -128, 0, FGQ_DT_S8, 127, -128 },  /* s8 X, z = 127 */
        { FGQ_DT_S4, 1, -8, 255, FGQ_DT_U8, 255, 0 },     /* s4 −8, z = 255 */
        { FGQ_DT_S4, 1, 7, 255, FGQ_DT_S8, -128, 127 },
        { FGQ_DT_S3, 1, -4, 255, FGQ_DT_U8, 255, 0 },     /* s3 −4, z = 255 */
        { FGQ_DT_S3, 0, 3, 0, FGQ_DT_S8, -128, 127 },     /* s3 per channel, 3 */
        { FGQ_DT_S2, 1, -3, 255, FGQ_DT_U8, 255, 0 },     /* s2 −3, z = 255 */
        { FGQ_DT_S2, 0, 3, 0, FGQ_DT_S8, -128, 127 },     /* s2 per channel, 3 */
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        const int32_t mmax = cfg[c].has_gs ? 255 : 0;
        int32_t lo, hi;
        act_range(cfg[c].xdt, &lo, &hi);
        const int64_t dx = cfg[c].zx - lo > hi - cfg[c].zx ? cfg[c].zx - lo : hi - cfg[c].zx;
        const int64_t k = INT32_MAX / (code_max(cfg[c].wdt) * dx * (cfg[c].has_gs ? 255 : 1));
        qw_t w;
        qw_alloc(&w, cfg[c].wdt, 2, k, cfg[c].has_gs, (int32_t)(k > 64 ? 64 : k), 1, mmax);
        memset(w.codes, (int8_t)cfg[c].code, (size_t)(2 * k));
        memset(w.gs, cfg[c].mult, (size_t)(2 * w.ngroups * 2));
        w.has_bias = 1;
        w.bias[0] = 0;
        w.bias[1] = cfg[c].code > 0 ? INT32_MAX : INT32_MIN; /* saturating bias add */
        qw_pack(&w);
        uint8_t *a = malloc((size_t)k);
        memset(a, (uint8_t)(int8_t)cfg[c].xq, (size_t)k);
        const int bad = run_gemm_case(1, &w, cfg[c].xdt, FGQ_DT_U8, cfg[c].zx, 128, 0, 255, a, 1, 0);
        CHECK_MSG(bad == 0, "bound case %zu (K = %lld): %d mismatches", c, (long long)k, bad);
        /* one more reduction step is rejected */
        qw_t w2;
        qw_alloc(&w2, cfg[c].wdt, 2, k + 1, cfg[c].has_gs, (int32_t)(k > 64 ? 64 : k), 1, mmax);
        qw_views v;
        qw_make_views(&w2, &v);
        const int64_t ad[2] = { 1, k + 1 }, yd[2] = { 1, 2 };
        fgq_tensor_view av = qview(NULL, cfg[c].xdt, 2, ad), yv = qview(NULL, FGQ_DT_U8, 2, yd);
        const fgq_tensor_view *in[5] = { &av, &v.w, NULL, &v.req, &v.gs };
        tnode nd;
        tnode_init(&nd, FGQ_OP_QGEMM, cfg[c].has_gs ? 5 : 4);
        nd.ip[FGQ_QP_X_ZERO] = cfg[c].zx;
        nd.ip[FGQ_QP_QMAX] = 255;
        set_wparams(&nd, &w2);
        CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_UNSUPPORTED);
        free(a);
        qw_free(&w);
        qw_free(&w2);
    }
}

/* The largest multipliers and shifts, with M = 1 and N = 1, and REQs that
 * check() must refuse. */
static void test_qgemm_requant_limits(void)
{
    const int32_t pairs[][2] = { { INT32_MAX, 31 }, { INT32_MAX, -31 }, { 0, 0 }, { 1 << 30, 0 },
                                 { INT32_MAX, 0 }, { 1, 31 }, { 1 << 30, -1 } };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        qw_t w;
        qw_alloc(&w, FGQ_DT_S8, 1, 5, 0, 0, 0, 0);
        for (int i = 0; i < 5; i++)
            w.codes[i] = (int8_t)(i % 2 ? -3 : 2);
        w.has_bias = 1;
        w.bias[0] = 7;
        qw_pack(&w);
        w.req[0] = pairs[p][0];
        w.req[1] = pairs[p][1];
        uint8_t a[5] = { 0, 255, 17, 128, 3 };
        CHECK(run_gemm_case(1, &w, FGQ_DT_U8, FGQ_DT_S8, 100, -5, -128, 127, a, 0, 0) == 0);
        qw_free(&w);
    }
    /* the invalid t2 code 3 reads as 0 (rows of 0xff bytes: every code is 3) */
    {
        qw_t w;
        qw_alloc(&w, FGQ_DT_T2, 2, 9, 1, 4, 2, 255);
        qw_pack(&w); /* oracle: all codes 0 */
        memset(w.packed, 0xff, (size_t)(2 * w.row_bytes));
        memset(w.gs, 200, (size_t)(2 * w.ngroups * 2));
        w.has_bias = 1;
        w.bias[0] = 1000;
        w.bias[1] = -1000;
        w.req[0] = w.req[2] = 1 << 30;
        w.req[1] = w.req[3] = -3;
        uint8_t a[18];
        memset(a, 255, sizeof a);
        CHECK(run_gemm_case(2, &w, FGQ_DT_U8, FGQ_DT_U8, 0, 128, 0, 255, a, 0, 0) == 0);
        qw_free(&w);
    }
    /* bad pairs, then a valid one whose view has no data (not a constant: load gives constants theirs) */
    const int32_t badpairs[][2] = { { 1 << 30, 32 }, { 1 << 30, -32 }, { -1, 0 }, { 1 << 30, -3 } };
    const size_t n_bad = sizeof badpairs / sizeof badpairs[0];
    for (size_t p = 0; p < n_bad; p++) {
        qw_t w;
        qw_alloc(&w, FGQ_DT_S8, 1, 3, 0, 0, 0, 0);
        qw_pack(&w);
        w.req[0] = badpairs[p][0];
        w.req[1] = badpairs[p][1];
        qw_views v;
        qw_make_views(&w, &v);
        uint8_t a[3] = { 1, 2, 3 }, y[1];
        const int64_t ad[2] = { 1, 3 }, yd[2] = { 1, 1 };
        fgq_tensor_view av = qview(a, FGQ_DT_U8, 2, ad), yv = qview(y, FGQ_DT_U8, 2, yd);
        const fgq_tensor_view *in[4] = { &av, &v.w, NULL, &v.req };
        tnode nd;
        tnode_init(&nd, FGQ_OP_QGEMM, 4);
        nd.ip[FGQ_QP_QMAX] = 255;
        if (p + 1 == n_bad) {
            fgq_error e;
            CHECK(op_check(&nd, in, &yv, &e) == FGQ_OK);
            v.req.data = NULL;
        }
        CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
        qw_free(&w);
    }
}

/* ---- rejections --------------------------------------------------------------- */

static void test_qconv_rejects(void)
{
    /* a valid base: X u8 [1, 4, 5, 5], W t2 [6, 20] (K = 2·3·3 = 18 -> Kp 20), group 2 */
    qw_t w;
    qw_alloc(&w, FGQ_DT_T2, 6, 18, 1, 4, 2, 200);
    qw_views v;
    qw_make_views(&w, &v);
    const int64_t xd[4] = { 1, 4, 5, 5 }, yd[4] = { 1, 6, 3, 3 };
    fgq_tensor_view xv = qview(NULL, FGQ_DT_U8, 4, xd), yv = qview(NULL, FGQ_DT_U8, 4, yd);
    const fgq_tensor_view *in[5] = { &xv, &v.w, &v.b, &v.req, &v.gs };
    conv_shape cs;
    memset(&cs, 0, sizeof cs);
    cs.ns = 2;
    cs.g = 2;
    for (int j = 0; j < 3; j++)
        cs.k[j] = cs.s[j] = cs.d[j] = 1;
    cs.k[1] = cs.k[2] = 3;
    cs.qmax = 255;
    tnode nd;
    fgq_error e;
    conv_set_node(&nd, &cs, &w, 1);
    CHECK(op_check(&nd, in, &yv, &e) == FGQ_OK);

#define REJECT_WITH(stmt, want)             \
    do {                                    \
        conv_set_node(&nd, &cs, &w, 1);     \
        stmt;                               \
        CHECK_REJECTS(&nd, in, &yv, want);  \
    } while (0)
    REJECT_WITH(nd.ip[FGQ_QP_W_GROUP] = 0, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_W_MMAX] = 0, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_W_MMAX] = 256, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_W_NALPHA] = 3, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_X_ZERO] = 256, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_X_ZERO] = -1, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_Y_ZERO] = 300, FGQ_ERR_FORMAT);
    REJECT_WITH((nd.ip[FGQ_QP_QMIN] = 10, nd.ip[FGQ_QP_QMAX] = 9), FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_QP_QMAX] = 256, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_P_ACT] = FGQ_ACT_RELU, FGQ_ERR_FORMAT);
    REJECT_WITH(nd.ip[FGQ_P_GROUP] = 3, FGQ_ERR_SHAPE);
    REJECT_WITH(nd.ip[FGQ_P_KERNEL] = 2, FGQ_ERR_SHAPE); /* K changes: W, Y no longer fit */
    REJECT_WITH(nd.v.n_inputs = 4, FGQ_ERR_FORMAT);       /* GS params without GS */
    REJECT_WITH(nd.v.n_inputs = 6, FGQ_ERR_FORMAT);
    const int32_t req_m = w.req[2 * 5], req_s = w.req[2 * 5 + 1];
    REJECT_WITH(w.req[2 * 5 + 1] = 32, FGQ_ERR_FORMAT);                          /* the last row's shift */
    REJECT_WITH((w.req[2 * 5 + 1] = req_s, w.req[2 * 5] = -1), FGQ_ERR_FORMAT); /* its multiplier */
    REJECT_WITH((w.req[2 * 5] = req_m, v.req.data = NULL), FGQ_ERR_FORMAT);     /* REQ not a constant */
    v.req.data = w.req;
    CHECK(op_check(&nd, in, &yv, &e) == FGQ_OK);
#undef REJECT_WITH
    /* tensors that do not fit */
    conv_set_node(&nd, &cs, &w, 1);
    fgq_tensor_view bad;
    const fgq_tensor_view *keep;
    struct {
        int slot;
        fgq_dtype dt;
        int32_t rank;
        int64_t d0, d1, d2;
        fgq_status want;
    } tv[] = {
        { 1, FGQ_DT_T2, 2, 6, 18, 0, FGQ_ERR_SHAPE },  /* Kp not rounded to 4 */
        { 1, FGQ_DT_T2, 2, 5, 20, 0, FGQ_ERR_SHAPE },  /* rows != C_out */
        { 1, FGQ_DT_U8, 2, 6, 20, 0, FGQ_ERR_UNSUPPORTED },
        { 2, FGQ_DT_F32, 1, 6, 0, 0, FGQ_ERR_SHAPE },
        { 2, FGQ_DT_S32, 1, 5, 0, 0, FGQ_ERR_SHAPE },
        { 3, FGQ_DT_S32, 2, 6, 3, 0, FGQ_ERR_SHAPE },
        { 4, FGQ_DT_U8, 2, 6, 5, 0, FGQ_ERR_SHAPE },   /* nalpha 2 needs [6, 5, 2] */
        { 4, FGQ_DT_U8, 3, 6, 4, 2, FGQ_ERR_SHAPE },   /* n_groups = ceil(18/4) = 5 */
        { 0, FGQ_DT_F32, 4, 1, 4, 5, FGQ_ERR_UNSUPPORTED },
    };
    for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
        keep = in[tv[i].slot];
        const int64_t d[4] = { tv[i].d0, tv[i].d1, tv[i].d2, 5 };
        bad = qview(NULL, tv[i].dt, tv[i].rank, d);
        in[tv[i].slot] = &bad;
        CHECK_REJECTS(&nd, in, &yv, tv[i].want);
        in[tv[i].slot] = keep;
    }
    /* X s16-like dtype for Y */
    fgq_tensor_view yf = qview(NULL, FGQ_DT_S32, 4, yd);
    CHECK_REJECTS(&nd, in, &yf, FGQ_ERR_UNSUPPORTED);
    /* n_alpha 2 is for t2 only */
    qw_t w8;
    qw_alloc(&w8, FGQ_DT_S8, 6, 18, 1, 4, 2, 10);
    qw_views v8;
    qw_make_views(&w8, &v8);
    const fgq_tensor_view *in8[5] = { &xv, &v8.w, &v8.b, &v8.req, &v8.gs };
    conv_set_node(&nd, &cs, &w8, 1);
    CHECK_REJECTS(&nd, in8, &yv, FGQ_ERR_FORMAT);
    /* s8 with M = 255 and K = 18: beyond the bound only when K·128·255·M > 2^31 − 1: K 18 fits M <= 255? */
    CHECK(mmax_allowed(FGQ_DT_S8, 18, FGQ_DT_U8, 0) == 255);
    /* the same conv with K = 4·3·3·... large: C_in 1200 -> K = 600·9 = 5400, s8 groups M 255 -> rejected */
    qw_free(&w8);
    qw_alloc(&w8, FGQ_DT_S8, 6, 5400, 1, 32, 1, 255);
    qw_make_views(&w8, &v8);
    const int64_t xd2[4] = { 1, 1200, 5, 5 };
    fgq_tensor_view xv2 = qview(NULL, FGQ_DT_U8, 4, xd2);
    const fgq_tensor_view *in9[5] = { &xv2, &v8.w, &v8.b, &v8.req, &v8.gs };
    conv_set_node(&nd, &cs, &w8, 1);
    CHECK_REJECTS(&nd, in9, &yv, FGQ_ERR_UNSUPPORTED);
    nd.ip[FGQ_QP_W_MMAX] = mmax_allowed(FGQ_DT_S8, 5400, FGQ_DT_U8, 0); /* 12: accepted */
    CHECK(nd.ip[FGQ_QP_W_MMAX] == 12 && op_check(&nd, in9, &yv, &e) == FGQ_OK);
    qw_free(&w8);
    qw_free(&w);
}

static void test_qgemm_rejects(void)
{
    qw_t w;
    qw_alloc(&w, FGQ_DT_S4, 3, 7, 0, 0, 0, 0);
    qw_views v;
    qw_make_views(&w, &v);
    const int64_t ad[2] = { 2, 7 }, yd[2] = { 2, 3 }, yd_bad[2] = { 3, 3 }, ad1[1] = { 7 }, yd1[1] = { 3 };
    fgq_tensor_view av = qview(NULL, FGQ_DT_S8, 2, ad), yv = qview(NULL, FGQ_DT_U8, 2, yd);
    fgq_tensor_view yb = qview(NULL, FGQ_DT_U8, 2, yd_bad);
    const fgq_tensor_view *in[4] = { &av, &v.w, NULL, &v.req };
    tnode nd;
    fgq_error e;
    tnode_init(&nd, FGQ_OP_QGEMM, 4);
    nd.ip[FGQ_QP_X_ZERO] = -128;
    nd.ip[FGQ_QP_QMAX] = 255;
    CHECK(op_check(&nd, in, &yv, &e) == FGQ_OK); /* W s4 [3, 8]: Kp = 8 for K = 7 */
    CHECK_REJECTS(&nd, in, &yb, FGQ_ERR_SHAPE);
    fgq_tensor_view a1 = qview(NULL, FGQ_DT_S8, 1, ad1), y1 = qview(NULL, FGQ_DT_U8, 1, yd1);
    const fgq_tensor_view *in1[4] = { &a1, &v.w, NULL, &v.req };
    CHECK(op_check(&nd, in1, &y1, &e) == FGQ_OK); /* a vector */
    nd.ip[FGQ_QP_W_GROUP] = 4; /* group params without GS */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_W_GROUP] = 0;
    nd.ip[FGQ_QP_X_ZERO] = 128; /* outside s8 */
    CHECK_REJECTS(&nd, in, &yv, FGQ_ERR_FORMAT);
    nd.ip[FGQ_QP_X_ZERO] = 0;
    const fgq_tensor_view *in_missing[4] = { &av, &v.w, NULL, NULL };
    CHECK_REJECTS(&nd, in_missing, &yv, FGQ_ERR_FORMAT);
    qw_free(&w);
    /* s3: W [3, 8] for K = 7 (one 3-byte unit a row); a W shaped as for s4's Kp or K is refused */
    qw_t w3;
    qw_alloc(&w3, FGQ_DT_S3, 3, 7, 0, 0, 0, 0);
    CHECK(w3.kp == 8 && w3.row_bytes == 3);
    qw_views v3;
    qw_make_views(&w3, &v3);
    const fgq_tensor_view *in3[4] = { &av, &v3.w, NULL, &v3.req };
    CHECK(op_check(&nd, in3, &yv, &e) == FGQ_OK);
    const int64_t wd_bad[2] = { 3, 7 };
    v3.w = qview(w3.packed, FGQ_DT_S3, 2, wd_bad);
    CHECK_REJECTS(&nd, in3, &yv, FGQ_ERR_SHAPE);
    qw_free(&w3);
}

/* ---- float semantics ------------------------------------------------------------ */

static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rnd() >> 8) * (1.0f / 16777216.0f);
}

/* Quantizes float weights [rows, k] as the tools will (docs/quantized-ops.md):
 * a scale per group, s_o = max scale / M, m_g = clamp(round(scale / s_o), 1, M),
 * codes against s_o·m_g; returns the dequantized weights in wq. */
static void quantize_weights_float(qw_t *w, const float *wf, float *so, float *wq)
{
    const int32_t cm = w->wdt == FGQ_DT_S8 ? 127 : w->wdt == FGQ_DT_S4 ? 7 : 1;
    for (int64_t r = 0; r < w->rows; r++) {
        float gsc[4096];
        float smax = 0.0f;
        for (int64_t g = 0; g < w->ngroups; g++) {
            const int64_t k0 = g * w->group, k1 = k0 + w->group < w->k ? k0 + w->group : w->k;
            float amax = 0.0f, asum = 0.0f;
            for (int64_t k = k0; k < k1; k++) {
                amax = fabsf(wf[r * w->k + k]) > amax ? fabsf(wf[r * w->k + k]) : amax;
                asum += fabsf(wf[r * w->k + k]);
            }
            gsc[g] = w->wdt == FGQ_DT_T2 ? asum / (float)(k1 - k0) * 1.2f : amax / (float)cm;
            if (gsc[g] <= 0.0f)
                gsc[g] = 1e-6f;
            smax = gsc[g] > smax ? gsc[g] : smax;
        }
        so[r] = smax / (float)w->mmax;
        for (int64_t g = 0; g < w->ngroups; g++) {
            long m = lroundf(gsc[g] / so[r]);
            m = m < 1 ? 1 : m > w->mmax ? w->mmax : m;
            w->gs[(r * w->ngroups + g) * w->nalpha] = (uint8_t)m;
            const float step = so[r] * (float)m;
            for (int64_t k = g * w->group; k < w->k && k < (g + 1) * w->group; k++) {
                long q = lroundf(wf[r * w->k + k] / step);
                q = q < -cm ? -cm : q > cm ? cm : q;
                w->codes[r * w->k + k] = (int8_t)q;
                wq[r * w->k + k] = step * (float)q;
            }
        }
    }
    qw_pack(w);
}

static void test_qconv_float_semantics(void)
{
    const fgq_dtype wdts[3] = { FGQ_DT_S8, FGQ_DT_S4, FGQ_DT_T2 };
    double worst = 0.0;
    for (int it = 0; it < 60; it++) {
        conv_shape cs;
        memset(&cs, 0, sizeof cs);
        cs.ns = 2;
        cs.n = 1;
        cs.g = it % 4 == 3 ? 3 : 1;
        cs.c = cs.g * rint_in(1, 4);
        cs.m = cs.g * rint_in(1, 3);
        for (int j = 0; j < 3; j++) {
            cs.in[j] = cs.k[j] = cs.s[j] = cs.d[j] = cs.out[j] = 1;
            cs.pb[j] = cs.pe[j] = 0;
        }
        for (int j = 1; j < 3; j++) {
            cs.k[j] = 3;
            cs.s[j] = rint_in(1, 2);
            cs.pb[j] = cs.pe[j] = 1;
            cs.in[j] = rint_in(3, 8);
            cs.out[j] = (cs.in[j] + 2 - 3) / cs.s[j] + 1;
        }
        cs.xdt = FGQ_DT_U8;
        cs.ydt = FGQ_DT_U8;
        const int relu = it % 2;
        const int64_t k = (cs.c / cs.g) * 9, nx = cs.c * prod3(cs.in), ny = cs.m * prod3(cs.out);
        const fgq_dtype wdt = wdts[it % 3];
        const int32_t group = it % 5 == 0 ? (int32_t)k : rint_in(1, 16);
        qw_t w;
        float *xf = malloc(sizeof(float) * (size_t)nx), *wf = malloc(sizeof(float) * (size_t)(cs.m * k));
        float *wq = malloc(sizeof(float) * (size_t)(cs.m * k)), *so = malloc(sizeof(float) * (size_t)cs.m);
        float *bf = malloc(sizeof(float) * (size_t)cs.m);
        double *yf = malloc(sizeof(double) * (size_t)ny);
        uint8_t *x = malloc((size_t)nx);
        const float xlo = relu ? 0.0f : frand(-2.0f, 0.0f), xhi = frand(0.5f, 3.0f);
        for (int64_t i = 0; i < nx; i++)
            xf[i] = frand(xlo, xhi);
        fgq_affine_params px, py;
        fgq_error e;
        CHECK(fgq_affine_choose_u8(xlo, xhi, &px, &e) == FGQ_OK);
        cs.zx = px.zero_point;
        qw_alloc(&w, wdt, cs.m, k, 1, group, 1, mmax_allowed(wdt, k, FGQ_DT_U8, cs.zx));
        for (int64_t i = 0; i < cs.m * k; i++)
            wf[i] = frand(-1.0f, 1.0f) * (i % 7 == 0 ? 2.0f : 0.5f);
        quantize_weights_float(&w, wf, so, wq);
        fgq_affine_quantize_u8(xf, nx, &px, x);
        for (int64_t r = 0; r < cs.m; r++) { /* bias as int32 at s_x·s_o; its float value is exact */
            const float b = frand(-1.0f, 1.0f);
            w.bias[r] = (int32_t)lroundf(b / (px.scale * so[r]));
            bf[r] = (float)w.bias[r] * px.scale * so[r];
        }
        w.has_bias = 1;
        /* double convolution of the dequantized x, w, b */
        double ymin = 0.0, ymax = 0.0;
        for (int64_t mo = 0; mo < cs.m; mo++)
            for (int64_t p = 0; p < prod3(cs.out); p++) {
                const int64_t oh = p / cs.out[2], ow = p % cs.out[2];
                double acc = bf[mo];
                const int64_t cg = cs.c / cs.g, c0 = (mo / (cs.m / cs.g)) * cg;
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t kh = 0; kh < 3; kh++)
                        for (int64_t kw = 0; kw < 3; kw++) {
                            const int64_t ih = oh * cs.s[1] - 1 + kh, iw = ow * cs.s[2] - 1 + kw;
                            if (ih < 0 || ih >= cs.in[1] || iw < 0 || iw >= cs.in[2])
                                continue;
                            const double xv = px.scale * (double)(x[(c0 + c) * cs.in[1] * cs.in[2] + ih * cs.in[2] + iw] - px.zero_point);
                            acc += xv * wq[mo * k + (c * 3 + kh) * 3 + kw];
                        }
                if (relu && acc < 0.0)
                    acc = 0.0;
                yf[mo * prod3(cs.out) + p] = acc;
                ymin = acc < ymin ? acc : ymin;
                ymax = acc > ymax ? acc : ymax;
            }
        CHECK(fgq_affine_choose_u8((float)ymin, (float)ymax, &py, &e) == FGQ_OK);
        cs.zy = py.zero_point;
        cs.qmin = relu ? py.zero_point : 0;
        cs.qmax = 255;
        for (int64_t r = 0; r < cs.m; r++)
            CHECK(fgq_quantize_multiplier((double)px.scale * so[r] / py.scale, &w.req[2 * r], &w.req[2 * r + 1], &e) ==
                  FGQ_OK);
        CHECK(run_conv_case(&cs, &w, x, 0) == 0); /* and bit-exact with the oracle */
        /* run again to read y back */
        int64_t xd[4], yd[4];
        conv_dims(&cs, xd, yd);
        uint8_t *y = malloc((size_t)ny);
        qw_views v;
        qw_make_views(&w, &v);
        fgq_tensor_view xv = qview(x, FGQ_DT_U8, 4, xd), yv = qview(y, FGQ_DT_U8, 4, yd);
        const fgq_tensor_view *in[5] = { &xv, &v.w, &v.b, &v.req, &v.gs };
        tnode nd;
        conv_set_node(&nd, &cs, &w, 1);
        CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
        const double lo_rep = py.scale * (0 - py.zero_point), hi_rep = py.scale * (255 - py.zero_point);
        for (int64_t i = 0; i < ny; i++) {
            double want = yf[i] < lo_rep ? lo_rep : yf[i] > hi_rep ? hi_rep : yf[i];
            const double got = py.scale * (double)(y[i] - py.zero_point);
            const double err_steps = fabs(got - want) / py.scale;
            worst = err_steps > worst ? err_steps : worst;
            CHECK_MSG(err_steps <= 1.0, "case %d (%s) y[%lld]: %g vs %g (%.3f steps)", it, fgq_dtype_name(wdt),
                      (long long)i, got, want, err_steps);
        }
        free(y);
        free(xf);
        free(wf);
        free(wq);
        free(so);
        free(bf);
        free(yf);
        free(x);
        qw_free(&w);
    }
    fprintf(stderr, "  float semantics: worst error %.4f output steps\n", worst);
    CHECK(worst <= 0.51);
}

int main(void)
{
    RUN(test_qconv_random);
    RUN(test_qconv_depthwise_bands);
    RUN(test_qgemm_random);
    RUN(test_qgemm_at_bound);
    RUN(test_qgemm_requant_limits);
    RUN(test_qconv_rejects);
    RUN(test_qgemm_rejects);
    RUN(test_qconv_float_semantics);
    return FGQ_TEST_DONE();
}
