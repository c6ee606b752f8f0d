/*
 * test_qgemm_kernels.c — every QGEMM kernel row this CPU can run (AVX-512
 * VNNI qgemm_u8{s8,t2,s4,s3,s2}_4x4c32__avx512vnni, AVX2 qgemm_u8{s8,s4,s3,s2,t2}_1x4c16__avx2,
 * the AVX2 output stage qrequant__avx2; on AArch64 the SDOT rows
 * qgemm_u8{s8,t2}_1x4c16__neondot with dotprod and the SMMLA block form
 * qgemm_u8{s8,t2}_2x4c8__neoni8mm with I8MM) against its reference twin.
 *
 * Oracle: the reference path. Per case (a) every int32 dot product of the
 * kernel — one row at a time, and a block of rows (gemm), whole and offset —
 * equals fgq_qgemm_dot_ref's (fgq_qweights_dot), (b) its output stage gives
 * fgq_qrequant_ref's bytes, and (c) the QGEMM op's output bytes under
 * FGQ_KERNELS_AUTO (1 and 2 threads) are memcmp-equal to those under
 * FGQ_KERNELS_REF. Shapes: >= 1000 random per kernel, of the layouts it
 * takes (M = 1, N = 1, K off every multiple of 4/16/32, narrow and wide
 * groups with tails, n_alpha 1 and 2), plus the limits: zero points at the
 * ends of the dtype, s8 codes −128/127, s4 codes −8/7, s3 codes −4/3, s2 codes −3/3, all +1 / all −1 ternary rows, t2 code
 * 3, multipliers above W_MMAX, K at the §3.5 bound, the t2 int16 flush bound
 * (one group of >= 2·128·16 codes, |d| = 255), largest REQ multipliers and
 * shifts, and bias saturation. Also QUANTIZE's AVX2 loop (qquantize__avx2)
 * against the scalar one. Skips (passes) on x86 without AVX2; on AArch64
 * without dotprod it checks that AUTO picks the reference rows.
 */
#include "test_ops_common.h"

#include "ops/qgemm_dispatch.h"
#include "quant/s3.h"
#include "quant/t2.h"
#include "run/host_cpu.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 16);
}
static int32_t rin(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }

static fgq_threadpool *pool2; /* test binary only */

typedef struct {
    fgq_dtype wdt, xdt, ydt;
    int64_t m, n, k, kp, row_bytes, group, n_groups;
    int32_t n_alpha, mmax, has_gs, has_bias, has_wsum, zx, zy, qmin, qmax;
    uint8_t *codes, *gs, *a;
    int32_t *bias, *req, *wsum;
} qcase;

static void qcase_free(qcase *c)
{
    free(c->codes);
    free(c->gs);
    free(c->a);
    free(c->bias);
    free(c->req);
    free(c->wsum);
}

/* W's padded row length Kp and bytes per row for K codes of dtype wdt. */
static void w_layout(fgq_dtype wdt, int64_t k, int64_t *kp, int64_t *row_bytes)
{
    const int quad = wdt == FGQ_DT_T2 || wdt == FGQ_DT_S2; /* four codes a byte */
    *kp = quad ? 4 * ((k + 3) / 4) : wdt == FGQ_DT_S4 ? 2 * ((k + 1) / 2) : wdt == FGQ_DT_S3 ? 8 * ((k + 7) / 8) : k;
    *row_bytes = quad ? (k + 3) / 4 : wdt == FGQ_DT_S4 ? (k + 1) / 2 : wdt == FGQ_DT_S3 ? fgq_s3_row_bytes(k) : k;
}

/* Largest M for K under §3.5 (0: none). */
static int64_t bound_mmax(const qcase *c)
{
    const int64_t lo = c->xdt == FGQ_DT_S8 ? -128 : 0, hi = c->xdt == FGQ_DT_S8 ? 127 : 255;
    int64_t dx = c->zx - lo > hi - c->zx ? c->zx - lo : hi - c->zx;
    if (dx < 1)
        dx = 1;
    const int64_t cmax = c->wdt == FGQ_DT_S8   ? 128
                         : c->wdt == FGQ_DT_S4 ? 8
                         : c->wdt == FGQ_DT_S3 ? 4
                         : c->wdt == FGQ_DT_S2 ? 3
                                               : 1;
    const int64_t m = INT32_MAX / (c->k * cmax * dx);
    return m > 255 ? 255 : m;
}

/* Weight fill modes: 0 random, 1 largest positive, 2 largest negative, 3 sparse. */
static void fill_codes(qcase *c, int mode)
{
    c->codes = calloc((size_t)(c->n * c->row_bytes), 1);
    for (int64_t j = 0; j < c->n; j++) {
        uint8_t *row = c->codes + j * c->row_bytes;
        for (int64_t k = 0; k < c->k; k++) {
            if (c->wdt == FGQ_DT_S8) {
                int32_t v = mode == 1 ? 127 : mode == 2 ? -128 : mode == 3 && rnd() % 4 ? 0 : rin(-128, 127);
                row[k] = (uint8_t)(int8_t)v;
            } else if (c->wdt == FGQ_DT_S4) {
                int32_t v = mode == 1 ? 7 : mode == 2 ? -8 : mode == 3 && rnd() % 4 ? 0 : rin(-8, 7);
                row[k >> 1] |= (uint8_t)(((uint32_t)v & 15u) << (4 * (k & 1)));
            } else if (c->wdt == FGQ_DT_S3) { /* s3.h's layout, written here bit by bit */
                int32_t v = mode == 1 ? 3 : mode == 2 ? -4 : mode == 3 && rnd() % 4 ? 0 : rin(-4, 3);
                uint8_t *u = row + (k >> 3) * 3;
                const uint32_t bits = (uint32_t)v & 7u, at = (uint32_t)(k & 7);
                u[at >> 2] |= (uint8_t)((bits & 3u) << (2 * (at & 3)));
                u[2] |= (uint8_t)((bits >> 2) << at);
            } else if (c->wdt == FGQ_DT_S2) { /* code c is 2c − 3: 3 is +3, 0 is −3 */
                uint32_t code = mode == 1 ? 3u : mode == 2 ? 0u : mode == 3 && rnd() % 4 ? 1u + rnd() % 2 : rnd() % 4;
                row[k >> 2] |= (uint8_t)(code << (2 * (k & 3)));
            } else {
                /* includes the invalid code 3, which must read as 0 */
                uint32_t code = mode == 1 ? 1u : mode == 2 ? 2u : mode == 3 && rnd() % 4 ? 0u : rnd() % 4;
                row[k >> 2] |= (uint8_t)(code << (2 * (k & 3)));
            }
        }
    }
}

static fgq_qweights case_qweights(const qcase *c)
{
    fgq_qweights qw;
    memset(&qw, 0, sizeof qw);
    qw.dtype = c->wdt;
    qw.rows = c->n;
    qw.k = c->k;
    qw.row_bytes = c->row_bytes;
    qw.group = c->group;
    qw.n_groups = c->n_groups;
    qw.n_alpha = c->n_alpha;
    qw.mmax = c->mmax;
    qw.has_gs = c->has_gs;
    qw.codes = c->codes;
    qw.gs = c->gs;
    qw.bias = c->has_bias ? c->bias : NULL;
    qw.req = c->req;
    qw.wsum = c->has_wsum ? c->wsum : NULL;
    return qw;
}

/* c->wsum: each weight row's sum (fgq_qweights_row_sum), what QGEMM's WSUM holds. */
static void case_wsum(qcase *c)
{
    const fgq_qweights qw = case_qweights(c);
    c->wsum = malloc(sizeof(int32_t) * (size_t)c->n);
    for (int64_t j = 0; j < c->n; j++)
        c->wsum[j] = fgq_qweights_row_sum(&qw, j);
}

static void make_case(qcase *c, fgq_dtype wdt, int it, int wide32)
{
    memset(c, 0, sizeof *c);
    c->wdt = wdt;
    c->xdt = rnd() % 4 == 0 ? FGQ_DT_S8 : FGQ_DT_U8;
    c->ydt = rnd() % 3 == 0 ? FGQ_DT_S8 : FGQ_DT_U8;
    c->m = it % 3 == 0 ? 1 : rin(1, 12);
    c->n = it % 8 == 0 ? 1 : it % 8 == 1 ? rin(60, 140) : rin(1, 40);
    const int kc = (int)(rnd() % 10);
    c->k = kc < 3 ? rin(1, 40) : kc < 8 ? rin(1, 400) : kc < 9 ? rin(400, 2000) : rin(4000, 5000);
    w_layout(wdt, c->k, &c->kp, &c->row_bytes);
    const int32_t lo = c->xdt == FGQ_DT_S8 ? -128 : 0, hi = c->xdt == FGQ_DT_S8 ? 127 : 255;
    const int zc = (int)(rnd() % 5);
    c->zx = zc == 0 ? lo : zc == 1 ? hi : rin(lo, hi);
    const int32_t ylo = c->ydt == FGQ_DT_S8 ? -128 : 0, yhi = c->ydt == FGQ_DT_S8 ? 127 : 255;
    c->zy = rin(ylo, yhi);
    c->qmin = rnd() % 2 ? ylo : rin(ylo, yhi);
    c->qmax = rnd() % 2 ? yhi : rin(c->qmin, yhi);

    /* groups: none, narrow (1, 2, 4, 8), wide (16 | N), odd, one group */
    const int64_t mm = bound_mmax(c);
    c->has_gs = mm >= 1 && rnd() % 3 != 0;
    if (c->has_gs) {
        static const int64_t sizes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64, 128, 256 };
        const int gc = (int)(rnd() % 20);
        c->group = gc < 17 ? sizes[gc] : gc == 17 ? c->k : gc == 18 ? c->k + rin(1, 9) : rin(1, (int32_t)c->k);
        c->n_alpha = wdt == FGQ_DT_T2 && rnd() % 2 ? 2 : 1;
        if (wide32) { /* the layouts the VNNI kernels take: 32·j, symmetric */
            static const int64_t ws[] = {64, 128, 256, 512, 768}; /* and the t2 GEMV's with WSUM */
            c->group = rnd() % 4 == 0 ? c->k + rin(0, 9)
                       : rnd() % 2    ? ws[rnd() % 5]
                                      : 32 * rin(1, rnd() % 2 ? 4 : 40); /* or one group */
            c->n_alpha = 1;
        }
        c->mmax = rnd() % 3 == 0 ? (int32_t)mm : rin(1, (int32_t)mm);
        c->n_groups = (c->k + c->group - 1) / c->group;
        const int64_t ng = c->n * c->n_groups * c->n_alpha;
        c->gs = malloc((size_t)ng);
        for (int64_t i = 0; i < ng; i++) /* above M too: the kernel must clamp */
            c->gs[i] = (uint8_t)(rnd() % 4 == 0 ? 255 : rnd() % 256);
    } else {
        c->group = c->k;
        c->n_groups = 1;
        c->n_alpha = 1;
        c->mmax = 1;
    }
    const int wc = (int)(rnd() % 10);
    fill_codes(c, wc < 6 ? 0 : wc < 7 ? 1 : wc < 8 ? 2 : 3);
    /* WSUM (the rows' sums, QGEMM's input 5) in half the cases */
    c->has_wsum = rnd() % 2 == 0;
    case_wsum(c);
    {
        const fgq_qweights qw = case_qweights(c);
        int32_t *e = malloc(sizeof(int32_t) * (size_t)c->k);
        for (int64_t j = 0; j < c->n; j++) {
            if (j != 0 && j != c->n / 2 && j != c->n - 1)
                continue; /* three rows a case against an independent sum (the suite also runs under qemu) */
            fgq_qw_tap_weights(&qw, j, c->k, e);
            int64_t want = 0;
            for (int64_t k = 0; k < c->k; k++)
                want += e[k];
            CHECK_MSG(c->wsum[j] == (int32_t)want, "row sum %d, want %lld (K %lld group %lld n_alpha %d)",
                      (int)c->wsum[j], (long long)want, (long long)c->k, (long long)c->group, (int)c->n_alpha);
        }
        free(e);
    }

    c->a = malloc((size_t)(c->m * c->k));
    const int ac = (int)(rnd() % 8);
    for (int64_t i = 0; i < c->m * c->k; i++) {
        const int32_t v = ac == 0 ? lo : ac == 1 ? hi : rin(lo, hi);
        c->a[i] = (uint8_t)v;
    }
    c->has_bias = rnd() % 3 != 0;
    c->bias = malloc(sizeof(int32_t) * (size_t)c->n);
    c->req = malloc(sizeof(int32_t) * 2 * (size_t)c->n);
    for (int64_t j = 0; j < c->n; j++) {
        const int bc = (int)(rnd() % 10);
        c->bias[j] = bc == 0 ? INT32_MAX : bc == 1 ? INT32_MIN : (int32_t)rnd() >> (rnd() % 24);
        const int qc = (int)(rnd() % 8);
        c->req[2 * j] = qc == 0 ? INT32_MAX : qc == 1 ? 0 : (int32_t)((1u << 30) + (rnd() % (1u << 30)));
        c->req[2 * j + 1] = qc == 2 ? 31 : qc == 3 ? -31 : rin(-20, 2);
    }
}


/* The case as a QGEMM node and its views (y: the output's bytes), made in place: in[] points into
 * the record. WSUM (input 5) where the case has it, GS (4) and the bias (2) likewise. */
typedef struct {
    fgq_tensor_view a, w, b, req, gs, wsum, y;
    const fgq_tensor_view *in[6];
    tnode nd;
} case_op;

static void case_op_init(case_op *o, const qcase *c, uint8_t *y)
{
    const int64_t ad[2] = {c->m, c->k}, wd[2] = {c->n, c->kp}, bd[1] = {c->n}, rd[2] = {c->n, 2};
    const int64_t gd[3] = {c->n, c->n_groups, 2}, yd[2] = {c->m, c->n};
    o->a = tview(c->a, 2, ad);
    o->w = tview(c->codes, 2, wd);
    o->b = tview(c->bias, 1, bd);
    o->req = tview(c->req, 2, rd);
    o->gs = tview(c->gs, c->n_alpha == 2 ? 3 : 2, gd);
    o->wsum = tview(c->wsum, 1, bd);
    o->y = tview(y, 2, yd);
    o->a.dtype = c->xdt;
    o->w.dtype = c->wdt;
    o->b.dtype = FGQ_DT_S32;
    o->req.dtype = FGQ_DT_S32;
    o->gs.dtype = FGQ_DT_U8;
    o->wsum.dtype = FGQ_DT_S32;
    o->y.dtype = c->ydt;
    o->in[0] = &o->a;
    o->in[1] = &o->w;
    o->in[2] = c->has_bias ? &o->b : NULL;
    o->in[3] = &o->req;
    o->in[4] = c->has_gs ? &o->gs : NULL;
    o->in[5] = &o->wsum;
    tnode_init(&o->nd, FGQ_OP_QGEMM, c->has_wsum ? 6 : c->has_gs ? 5 : 4);
    o->nd.ip[FGQ_QP_X_ZERO] = c->zx;
    o->nd.ip[FGQ_QP_Y_ZERO] = c->zy;
    o->nd.ip[FGQ_QP_QMIN] = c->qmin;
    o->nd.ip[FGQ_QP_QMAX] = c->qmax;
    if (c->has_gs) {
        o->nd.ip[FGQ_QP_W_GROUP] = (int32_t)c->group;
        o->nd.ip[FGQ_QP_W_NALPHA] = c->n_alpha;
        o->nd.ip[FGQ_QP_W_MMAX] = c->mmax;
    }
}

/* Runs QGEMM on the case under `kernels` with `par` (NULL: serial) and CPU features cpu (0: the
 * CPU's); y out. */
static fgq_status run_op_cpu(const qcase *c, int32_t kernels, const fgq_parallel *pool, uint8_t *y, uint32_t cpu)
{
    fgq_parallel par = { NULL, 1, NULL, kernels };
    if (pool != NULL) {
        par = *pool;
        par.kernels = kernels;
    }
    case_op o;
    case_op_init(&o, c, y);
    o.nd.v.par = &par;
    o.nd.v.cpu = cpu;
    const fgq_tensor_view *out[1] = {&o.y};
    fgq_error err;
    fgq_status st = op_check(&o.nd, o.in, &o.y, &err);
    if (st == FGQ_OK)
        st = op_run_view(&o.nd.v, o.in, out, &err);
    if (st != FGQ_OK)
        fprintf(stderr, "  QGEMM: %s\n", err.msg);
    return st;
}

static fgq_status run_op(const qcase *c, int32_t kernels, const fgq_parallel *pool, uint8_t *y)
{
    return run_op_cpu(c, kernels, pool, y, 0);
}

static int cmp_dots(const int32_t *got, const int32_t *want, int64_t n, const char *what, const char *name, int it,
                    const char *how)
{
    for (int64_t j = 0; j < n; j++)
        if (got[j] != want[j]) {
            fprintf(stderr, "  %s case %d: %s %s: col %lld dot %d, ref %d\n", what, it, name, how, (long long)j,
                    got[j], want[j]);
            return 0;
        }
    return 1;
}

/* One case through every check of kernel `kern`; returns 1 when it matched:
 * (a) its dot per row, on the whole row block and an offset sub-block,
 * (b) its block of rows (fgq_qgemm_kernel_gemm), whole and offset,
 * (c) its output stage on the reference dots, per row and per channel,
 * all equal to the reference's, and (d) the QGEMM op's bytes under AUTO
 * (1 and 2 threads) equal to FGQ_KERNELS_REF's. */
static int check_case(const fgq_qgemm_kernel *kern, const qcase *c, const char *what, int it)
{
    const fgq_qweights qw = case_qweights(c);
    const int a_s8 = c->xdt == FGQ_DT_S8;
    const size_t mn = (size_t)(c->m * c->n);
    int32_t *d_fast = malloc(sizeof(int32_t) * mn), *d_ref = malloc(sizeof(int32_t) * mn);
    int32_t *d_blk = malloc(sizeof(int32_t) * mn);
    uint8_t *yq_fast = malloc((size_t)c->n + (size_t)c->m), *yq_ref = malloc((size_t)c->n + (size_t)c->m);
    int ok = 1;
    for (int64_t r = 0; r < c->m; r++)
        fgq_qgemm_dot_ref(&qw, 0, c->n, c->a + r * c->k, a_s8, c->zx, d_ref + r * c->n);
    for (int64_t r = 0; r < c->m && ok; r++) {
        kern->dot(&qw, 0, c->n, c->a + r * c->k, a_s8, c->zx, d_fast);
        ok = cmp_dots(d_fast, d_ref + r * c->n, c->n, what, kern->name, it, "dot");
        if (ok && c->n > 1) {
            const int64_t j0 = 1, nn = c->n - 1 > 6 ? 6 : c->n - 1;
            kern->dot(&qw, j0, nn, c->a + r * c->k, a_s8, c->zx, d_fast);
            ok = cmp_dots(d_fast, d_ref + r * c->n + j0, nn, what, kern->name, it, "dot sub-block j0 1");
        }
    }
    if (ok) {
        /* with the kernel's work buffer (x86 ternary: rows decoded there), filled with garbage */
        uint8_t *work = malloc((size_t)fgq_qgemm_gemm_work_bytes(&qw, fgq_target_build()) + 1);
        memset(work, 0xA5, (size_t)fgq_qgemm_gemm_work_bytes(&qw, fgq_target_build()) + 1);
        fgq_qgemm_kernel_gemm(kern, &qw, 0, c->n, c->a, c->k, c->m, a_s8, c->zx, d_blk, c->n, work);
        ok = cmp_dots(d_blk, d_ref, (int64_t)mn, what, kern->name, it, "gemm");
        free(work);
    }
    if (ok && c->m > 1 && c->n > 1) {
        /* rows 1.., columns 1.., written with a wider stride */
        const int64_t m1 = c->m - 1, n1 = c->n - 1, ldd = c->n + 3;
        int32_t *d_off = malloc(sizeof(int32_t) * (size_t)(m1 * ldd));
        /* and without (NULL: every kernel must then keep to registers), then with (the ternary GEMV's
         * WSUM path, at j0 1) */
        fgq_qgemm_kernel_gemm(kern, &qw, 1, n1, c->a + c->k, c->k, m1, a_s8, c->zx, d_off, ldd, NULL);
        for (int64_t r = 0; r < m1 && ok; r++)
            ok = cmp_dots(d_off + r * ldd, d_ref + (r + 1) * c->n + 1, n1, what, kern->name, it, "gemm offset");
        uint8_t *work = malloc((size_t)fgq_qgemm_gemm_work_bytes(&qw, fgq_target_build()) + 1);
        memset(work, 0x5A, (size_t)fgq_qgemm_gemm_work_bytes(&qw, fgq_target_build()) + 1);
        fgq_qgemm_kernel_gemm(kern, &qw, 1, n1, c->a + c->k, c->k, m1, a_s8, c->zx, d_off, ldd, work);
        for (int64_t r = 0; r < m1 && ok; r++)
            ok = cmp_dots(d_off + r * ldd, d_ref + (r + 1) * c->n + 1, n1, what, kern->name, it, "gemm offset work");
        free(work);
        free(d_off);
    }
    for (int64_t r = 0; r < c->m && ok; r++) {
        const int y_s8 = c->ydt == FGQ_DT_S8;
        kern->requant(&qw, 0, 1, d_ref + r * c->n, c->n, c->zy, c->qmin, c->qmax, yq_fast, y_s8);
        fgq_qrequant_ref(&qw, 0, 1, d_ref + r * c->n, c->n, c->zy, c->qmin, c->qmax, yq_ref, y_s8);
        if (memcmp(yq_fast, yq_ref, (size_t)c->n) != 0) {
            fprintf(stderr, "  %s case %d: %s output stage (per row) differs\n", what, it, kern->name);
            ok = 0;
        }
        const int64_t ch = r % c->n;
        int32_t col[64];
        const int64_t nc = c->m < 64 ? c->m : 64;
        for (int64_t i = 0; i < nc; i++)
            col[i] = d_ref[i * c->n + ch];
        kern->requant(&qw, ch, 0, col, nc, c->zy, c->qmin, c->qmax, yq_fast, y_s8);
        fgq_qrequant_ref(&qw, ch, 0, col, nc, c->zy, c->qmin, c->qmax, yq_ref, y_s8);
        if (ok && memcmp(yq_fast, yq_ref, (size_t)nc) != 0) {
            fprintf(stderr, "  %s case %d: %s output stage (per channel) differs\n", what, it, kern->name);
            ok = 0;
        }
    }
    uint8_t *y_ref = calloc(mn, 1), *y_auto = calloc(mn, 1), *y_par = calloc(mn, 1);
    ok &= run_op(c, FGQ_KERNELS_REF, NULL, y_ref) == FGQ_OK;
    ok &= run_op(c, FGQ_KERNELS_AUTO, NULL, y_auto) == FGQ_OK;
    ok &= run_op(c, FGQ_KERNELS_AUTO, fgq_threadpool_parallel(pool2), y_par) == FGQ_OK;
    if (ok && (memcmp(y_ref, y_auto, mn) != 0 || memcmp(y_ref, y_par, mn) != 0)) {
        fprintf(stderr, "  %s case %d: QGEMM output bytes differ from FGQ_KERNELS_REF\n", what, it);
        ok = 0;
    }
    if (!ok)
        fprintf(stderr, "    M %lld N %lld K %lld x %s zx %d gs %d group %lld n_alpha %d M %d wsum %d\n",
                (long long)c->m, (long long)c->n, (long long)c->k, fgq_dtype_name(c->xdt), (int)c->zx, (int)c->has_gs,
                (long long)c->group, (int)c->n_alpha, (int)c->mmax, (int)c->has_wsum);
    free(d_fast);
    free(d_ref);
    free(d_blk);
    free(yq_fast);
    free(yq_ref);
    free(y_ref);
    free(y_auto);
    free(y_par);
    return ok;
}

/* >= 1000 random cases that kernel `kern` takes (its `fits`). */
static void random_cases(const fgq_qgemm_kernel *kern)
{
    int bad = 0, run = 0;
    const int n_cases = fgq_test_cases(1100);
    for (int it = 0; run < n_cases && it < 20 * n_cases; it++) {
        qcase c;
        make_case(&c, kern->w_dtype, it, kern->fits != NULL && it % 4 != 0);
        const fgq_qweights qw = case_qweights(&c);
        if (kern->fits == NULL || kern->fits(&qw)) {
            run++;
            bad += !check_case(kern, &c, kern->name, it);
        }
        qcase_free(&c);
        if (bad > 5)
            break;
    }
    CHECK_MSG(run == n_cases, "%s: only %d fitting cases", kern->name, run);
    CHECK_MSG(bad == 0, "%s: %d of %d random cases differ", kern->name, bad, run);
    printf("  %s: %d random cases\n", kern->name, run);
}

/* Every table row this CPU can run, the reference rows excepted. */
static void test_kernels_random(void)
{
    int tried = 0;
    for (size_t i = 0; fgq_qgemm_kernel_at(i) != NULL; i++) {
        const fgq_qgemm_kernel *k = fgq_qgemm_kernel_at(i);
        if (strcmp(k->name, "ref") == 0 || !fgq_qgemm_kernel_usable(k, fgq_cpu_features()))
            continue;
        random_cases(k);
        tried++;
    }
#if defined(__aarch64__)
    /* the I8MM and the SDOT rows where the CPU has both, the SDOT rows with
     * dotprod alone; else none, and AUTO must pick the reference */
    const uint32_t cpu = fgq_cpu_features();
#if defined(FGQ_NEON_DOT_ROWS) && defined(FGQ_NEON_I8MM_ROWS)
    const int has_dp = (cpu & FGQ_CPU_ASIMDDP) != 0, has_mm = has_dp && (cpu & FGQ_CPU_I8MM) != 0;
#elif defined(FGQ_NEON_DOT_ROWS)
    const int has_dp = (cpu & FGQ_CPU_ASIMDDP) != 0, has_mm = 0;
#else
    const int has_dp = 0, has_mm = 0; /* a compiler without per-function dotprod: qgemm_dispatch.h */
#endif
    CHECK(tried == (has_mm ? 4 : has_dp ? 2 : 0));
    CHECK(strcmp(fgq_qgemm_kernel_select(FGQ_DT_S8, FGQ_KERNELS_AUTO, cpu, NULL)->name,
                 has_mm ? "qgemm_u8s8_2x4c8__neoni8mm" : has_dp ? "qgemm_u8s8_1x4c16__neondot" : "ref") == 0);
    CHECK(strcmp(fgq_qgemm_kernel_select(FGQ_DT_T2, FGQ_KERNELS_AUTO, cpu, NULL)->name,
                 has_mm ? "qgemm_u8t2_2x4c8__neoni8mm" : has_dp ? "qgemm_u8t2_1x4c16__neondot" : "ref") == 0);
    /* the name benchmarks report: one activation row runs the I8MM row's SDOT dot */
    CHECK(strcmp(fgq_q_kernel_name(FGQ_OP_QGEMM, FGQ_DT_T2, 0, 1, 0), has_dp ? "qgemm_u8t2_1x4c16__neondot" : "ref") == 0);
    CHECK(strcmp(fgq_q_kernel_name(FGQ_OP_QGEMM, FGQ_DT_S8, 0, 8, 0),
                 has_mm ? "qgemm_u8s8_2x4c8__neoni8mm" : has_dp ? "qgemm_u8s8_1x4c16__neondot" : "ref") == 0);
#else
    CHECK(tried >= 5); /* at least the five AVX2 kernels (main skips CPUs without AVX2) */
    if (fgq_cpu_features() & FGQ_CPU_AVX512VNNI) /* s4 runs the VNNI row where the CPU has VNNI */
        CHECK(strcmp(fgq_qgemm_kernel_select(FGQ_DT_S4, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
                     "qgemm_u8s4_4x4c32__avx512vnni") == 0);
    CHECK(strcmp(fgq_qgemm_kernel_select(FGQ_DT_S3, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
                 (fgq_cpu_features() & FGQ_CPU_AVX512VNNI) ? "qgemm_u8s3_4x4c32__avx512vnni"
                                                           : "qgemm_u8s3_1x4c16__avx2") == 0);
    CHECK(strcmp(fgq_qgemm_kernel_select(FGQ_DT_S2, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
                 (fgq_cpu_features() & FGQ_CPU_AVX512VNNI) ? "qgemm_u8s2_4x4c32__avx512vnni"
                                                           : "qgemm_u8s2_1x4c16__avx2") == 0);
#endif
    CHECK(strcmp(fgq_qgemm_kernel_select(FGQ_DT_S8, FGQ_KERNELS_REF, fgq_cpu_features(), NULL)->name, "ref") == 0);
    printf("  AUTO runs: s8 %s, t2 %s, s4 %s (%d optimized rows tried)\n",
           fgq_qgemm_kernel_select(FGQ_DT_S8, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
           fgq_qgemm_kernel_select(FGQ_DT_T2, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
           fgq_qgemm_kernel_select(FGQ_DT_S4, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name, tried);
}

/* The output stage alone: random and extreme dots, biases, multipliers and
 * shifts, zero points and clamps, per row and per channel. Odd iterations
 * describe a layer whose dots are bounded (s8, K <= 4096: |dot| <= K·128·255
 * < 2^30, drawn up to that bound and at it) with biases below 2^30, the
 * stage's form without the int32 saturation; even ones a layer of K = 2^20,
 * where any dot can occur and the saturation is taken. */
static void test_requant_random(void)
{
    enum { N = 67 };
    int32_t bias[N], req[2 * N], dot[N];
    uint8_t y_fast[N], y_ref[N];
    int bad = 0;
    for (int it = 0; it < 3000 && bad == 0; it++) {
        const int bounded = it % 2;
        const int64_t kk = bounded ? rin(1, 4096) : (int64_t)1 << 20, dmax = kk * 128 * 255;
        for (int j = 0; j < N; j++) {
            const int bc = (int)(rnd() % 6), dc = (int)(rnd() % 6), qc = (int)(rnd() % 6);
            bias[j] = bc == 0 ? INT32_MAX : bc == 1 ? INT32_MIN : (int32_t)(rnd() << (rnd() % 16));
            dot[j] = dc == 0 ? INT32_MAX : dc == 1 ? INT32_MIN : dc == 2 ? (int32_t)(rnd() % 512) - 256
                                                                      : (int32_t)((rnd() << 16) ^ rnd());
            if (bounded) {
                bias[j] = bc == 0 ? (1 << 30) - 1 : bc == 1 ? -(1 << 30) + 1 : (int32_t)(rnd() % (1u << 30)) - (1 << 29);
                dot[j] = dc == 0 ? (int32_t)dmax : dc == 1 ? (int32_t)-dmax
                                                           : (int32_t)((int64_t)(((uint64_t)rnd() << 16) ^ rnd()) %
                                                                       (2 * dmax + 1) - dmax);
            }
            /* qc 4: a power of two, so acc·mult lands exactly on srdhm's halves (the nudge's ties) */
            req[2 * j] = qc == 0   ? INT32_MAX
                         : qc == 1 ? 0
                         : qc == 4 ? (int32_t)(1u << rin(0, 30))
                                   : (int32_t)((1u << 30) + (rnd() % (1u << 30)));
            req[2 * j + 1] = qc == 2 ? 31 : qc == 3 ? -31 : rin(-31, 31);
        }
        fgq_qweights qw;
        memset(&qw, 0, sizeof qw);
        qw.rows = N;
        qw.dtype = FGQ_DT_S8;
        qw.k = kk;
        qw.mmax = 1;
        qw.bias = it % 5 == 0 ? NULL : bias;
        qw.req = req;
        const int y_s8 = it % 2;
        const int32_t ylo = y_s8 ? -128 : 0, yhi = y_s8 ? 127 : 255;
        const int32_t zy = rin(ylo, yhi), qmin = rnd() % 2 ? ylo : rin(ylo, yhi);
        const int32_t qmax = rnd() % 2 ? yhi : rin(qmin, yhi);
        const int64_t n = rin(1, N), c0 = it % 3 == 0 ? rin(0, (int32_t)(N - n)) : 0;
        for (size_t i = 0; fgq_qgemm_kernel_at(i) != NULL; i++) {
            const fgq_qgemm_kernel *k = fgq_qgemm_kernel_at(i);
            if (!fgq_qgemm_kernel_usable(k, fgq_cpu_features()))
                continue;
            for (int64_t step = 0; step < 2; step++) {
                const int64_t cs = step == 0 ? rin(0, N - 1) : c0;
                k->requant(&qw, cs, step, dot, step ? n : N, zy, qmin, qmax, y_fast, y_s8);
                fgq_qrequant_ref(&qw, cs, step, dot, step ? n : N, zy, qmin, qmax, y_ref, y_s8);
                if (memcmp(y_fast, y_ref, (size_t)(step ? n : N)) != 0) {
                    fprintf(stderr, "  requant case %d: %s step %lld differs\n", it, k->name, (long long)step);
                    bad++;
                }
            }
            /* the rows form (QCONV's tiles): channels c0 .. c0 + nc − 1 (past one block of 16 channels
             * and its tail), a run of m positions each (past a 16-value step and its tail), dots ld
             * apart (drawn from this case's dots), outputs ldy apart; against the reference a channel
             * at a time */
            enum { RC = 21, RM = 37, RLD = 39, RLDY = 41 };
            static int32_t dr[RC * RLD];
            for (int64_t q = 0; q < RC * RLD; q++)
                dr[q] = dot[rnd() % N];
            const int64_t nc = rin(1, RC), m = rin(1, RM), ld = RLD, ldy = RLDY;
            const int64_t cr = rin(0, (int32_t)(N - nc));
            uint8_t yr_fast[RC * RLDY], yr_ref[RC * RLDY];
            memset(yr_fast, 0x5a, sizeof yr_fast);
            memset(yr_ref, 0x5a, sizeof yr_ref);
            fgq_qgemm_kernel_requant_rows(k, &qw, cr, nc, dr, ld, m, zy, qmin, qmax, yr_fast, ldy, y_s8);
            for (int64_t j = 0; j < nc; j++)
                fgq_qrequant_ref(&qw, cr + j, 0, dr + j * ld, m, zy, qmin, qmax, yr_ref + j * ldy, y_s8);
            if (memcmp(yr_fast, yr_ref, sizeof yr_fast) != 0) {
                fprintf(stderr, "  requant case %d: %s rows form differs\n", it, k->name);
                bad++;
            }
        }
    }
    CHECK(bad == 0);
}

/* The output stage at the edges of its forms (qrequant_avx512.h): the folded forms apply where
 * |bias| < 2^30, the layer's dot bound below 2^29 and r <= 23, and with a left shift L where
 * |bias| + the bound < 2^(30 − L) (biases just inside that and just inside 2^(31 − L), where no
 * lane saturates but the value plus z_y would pass int32), so each case sits just inside and just outside: dot bound
 * 2^29 − 1, 2^31 − 1 and 2^25 (K 16448, 65793 and 1028 at code 128), biases ±(2^29 − 1) and
 * ±(2^30 − 1) (and 0, small sums whose rounding below 0 matters), the largest multiplier,
 * shifts r 0, 1, 22, 23, 24 and left shifts 1, 2, 5, z_y at both ends and inside, qmin at the
 * lowest code, at z_y and one below (where a p < 0 value's rounding shows); every kernel row
 * against fgq_qrequant_ref, a channel at a time and in the rows form. */
static void test_requant_edges(void)
{
    enum { N = 40 };
    static const int64_t ks[] = {16448, 65793, 1028};
    static const int32_t shifts[] = {0, 1, 22, 23, 24, -1, -2, -5}; /* right shifts; left where negative */
    int32_t bias[N], req[2 * N], dot[N];
    uint8_t y_fast[N], y_ref[N];
    int bad = 0, cases = 0;
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
        for (size_t ri = 0; ri < sizeof shifts / sizeof shifts[0]; ri++)
            for (int y_s8 = 0; y_s8 < 2; y_s8++)
                for (int zc = 0; zc < 3; zc++)
                    for (int qc = 0; qc < 3; qc++) {
                        const int64_t dmax = ks[ki] * 128 * 255;
                        const int32_t ylo = y_s8 ? -128 : 0, yhi = y_s8 ? 127 : 255;
                        const int32_t zy = zc == 0 ? ylo : zc == 1 ? yhi : (ylo + yhi) / 2;
                        const int32_t qmin = qc == 0 ? ylo : qc == 1 ? zy : (zy > ylo ? zy - 1 : ylo), qmax = yhi;
                        const int32_t left = shifts[ri] < 0 ? -shifts[ri] : 0;
                        for (int j = 0; j < N; j++) {
                            const int32_t bb = j % 4 < 2 ? (1 << 29) - 1 : (1 << 30) - 1;
                            bias[j] = j % 8 == 7 ? 0 : j % 2 ? -bb : bb; /* 0: small sums, where rounding p < 0 shows */
                            /* a left shift: biases at the fold's bound and at no saturation's, so that the
                             * value, past 2^30, plus z_y passes int32 where the fold would take it */
                            if (left > 0 && j % 8 == 6 && dmax < (1ll << (31 - left)))
                                bias[j] = (int32_t)(((1ll << (31 - left)) - dmax - 1) * (j % 16 < 8 ? 1 : -1));
                            if (left > 0 && j % 8 == 3 && dmax < (1ll << (30 - left)))
                                bias[j] = (int32_t)(((1ll << (30 - left)) - dmax - 1) * (j % 16 < 8 ? 1 : -1));
                            dot[j] = j % 8 < 4    ? (int32_t)(j % 3 == 0 ? dmax : -dmax)
                                     : j % 8 == 4 ? -1 - (j / 8) % 3 /* -1..-3: values near -1/2 after the shift */
                                                  : (int32_t)((j * 7919) % 2001) - 1000;
                            req[2 * j] = j % 5 == 0 ? (int32_t)(1u << 30) : INT32_MAX;
                            req[2 * j + 1] = -shifts[ri];
                        }
                        fgq_qweights qw;
                        memset(&qw, 0, sizeof qw);
                        qw.rows = N;
                        qw.dtype = FGQ_DT_S8;
                        qw.k = ks[ki];
                        qw.mmax = 1;
                        qw.bias = bias;
                        qw.req = req;
                        for (size_t i = 0; fgq_qgemm_kernel_at(i) != NULL; i++) {
                            const fgq_qgemm_kernel *k = fgq_qgemm_kernel_at(i);
                            if (!fgq_qgemm_kernel_usable(k, fgq_cpu_features()))
                                continue;
                            for (int64_t c = 0; c < N; c++) { /* one channel's run: its dot row is dot itself */
                                k->requant(&qw, c, 0, dot, N, zy, qmin, qmax, y_fast, y_s8);
                                fgq_qrequant_ref(&qw, c, 0, dot, N, zy, qmin, qmax, y_ref, y_s8);
                                cases++;
                                if (memcmp(y_fast, y_ref, N) != 0 && bad++ < 5)
                                    fprintf(stderr, "  %s: K %lld r %d zy %d qmin %d channel %lld differs\n", k->name,
                                            (long long)ks[ki], shifts[ri], zy, qmin, (long long)c);
                            }
                            /* the rows form (QCONV's tiles): every channel, each over the same dot row (ld 0) */
                            uint8_t yr_fast[N * N], yr_ref[N * N];
                            fgq_qgemm_kernel_requant_rows(k, &qw, 0, N, dot, 0, N, zy, qmin, qmax, yr_fast, N, y_s8);
                            for (int64_t c = 0; c < N; c++)
                                fgq_qrequant_ref(&qw, c, 0, dot, N, zy, qmin, qmax, yr_ref + c * N, y_s8);
                            cases++;
                            if (memcmp(yr_fast, yr_ref, sizeof yr_fast) != 0 && bad++ < 5)
                                fprintf(stderr, "  %s: K %lld r %d zy %d qmin %d: rows form differs\n", k->name,
                                        (long long)ks[ki], shifts[ri], zy, qmin);
                        }
                    }
    CHECK_MSG(bad == 0, "%d of %d output-stage edge runs differ from the reference", bad, cases);
}

/* The limits, one deterministic case each: |d| = 255 everywhere, extreme
 * codes, K at the §3.5 bound (s8 per channel 65793, s8 GS with M = 255: 258;
 * t2 with M = 255: 33025; s4 1052688 and, M = 255, 4128), and the t2 int16
 * flush (K = 5000 in one group). 5 activation rows: the block kernels run
 * their 4-row tiles (t2 and s4 decoded to s8 where K fits the decode
 * buffer) and their one-row tail. */
static void limit_case(fgq_dtype wdt, fgq_dtype xdt, int32_t zx, int32_t a_val, int wmode, int64_t k, int64_t group,
                       int32_t n_alpha, int32_t mmax, int32_t gs_val, const char *what)
{
    qcase c;
    memset(&c, 0, sizeof c);
    c.wdt = wdt;
    c.xdt = xdt;
    c.ydt = FGQ_DT_U8;
    c.m = 5;
    c.n = 5;
    c.k = k;
    w_layout(wdt, k, &c.kp, &c.row_bytes);
    c.zx = zx;
    c.zy = 128;
    c.qmin = 0;
    c.qmax = 255;
    c.has_gs = group > 0;
    c.group = group > 0 ? group : k;
    c.n_groups = (k + c.group - 1) / c.group;
    c.n_alpha = group > 0 ? n_alpha : 1;
    c.mmax = group > 0 ? mmax : 1;
    if (c.has_gs) {
        const int64_t ng = c.n * c.n_groups * c.n_alpha;
        c.gs = malloc((size_t)ng);
        memset(c.gs, gs_val, (size_t)ng);
    }
    fill_codes(&c, wmode);
    c.a = malloc((size_t)(c.m * k));
    memset(c.a, (uint8_t)a_val, (size_t)(c.m * k));
    c.has_bias = 1;
    c.bias = calloc((size_t)c.n, sizeof(int32_t));
    c.req = malloc(sizeof(int32_t) * 2 * (size_t)c.n);
    for (int64_t j = 0; j < c.n; j++) {
        c.req[2 * j] = j == 0 ? INT32_MAX : 1 << 30;
        c.req[2 * j + 1] = j == 1 ? 31 : j == 2 ? -31 : -(int32_t)j * 4;
    }
    CHECK_MSG(bound_mmax(&c) >= (c.has_gs ? c.mmax : 1), "%s: outside the §3.5 bound", what);
    const fgq_qweights qw = case_qweights(&c);
    case_wsum(&c);
    for (size_t i = 0; fgq_qgemm_kernel_at(i) != NULL; i++) {
        const fgq_qgemm_kernel *kr = fgq_qgemm_kernel_at(i);
        if (kr->w_dtype != wdt || !fgq_qgemm_kernel_usable(kr, fgq_cpu_features()) || (kr->fits != NULL && !kr->fits(&qw)))
            continue;
        CHECK_MSG(check_case(kr, &c, what, 0), "%s: %s", what, kr->name);
        if (wdt == FGQ_DT_T2 && FGQ_QW_WSUM_READ) { /* one row with WSUM: the x86 ternary GEMV's sums path */
            c.has_wsum = 1;
            c.m = 1;
            CHECK_MSG(check_case(kr, &c, what, 0), "%s: %s, WSUM, one row", what, kr->name);
            c.has_wsum = 0;
            c.m = 5;
        }
    }
    /* the exact value, independent of both kernels */
    int32_t dot[5];
    fgq_qgemm_kernel_select(wdt, FGQ_KERNELS_AUTO, fgq_cpu_features(), &qw)->dot(&qw, 0, c.n, c.a, xdt == FGQ_DT_S8, zx, dot);
    const int64_t d = (int64_t)(xdt == FGQ_DT_S8 ? (int8_t)a_val : a_val) - zx;
    const int64_t w = wdt == FGQ_DT_S8   ? (wmode == 1 ? 127 : -128)
                      : wdt == FGQ_DT_S4 ? (wmode == 1 ? 7 : -8)
                      : wdt == FGQ_DT_S3 ? (wmode == 1 ? 3 : -4)
                      : wdt == FGQ_DT_S2 ? (wmode == 1 ? 3 : -3)
                                         : (wmode == 1 ? 1 : -1);
    const int64_t m = c.has_gs ? (gs_val < mmax ? gs_val : mmax) : 1;
    const int64_t want = (int64_t)k * w * d * m; /* n_alpha 2 uses the same m+ and m− */
    CHECK_MSG(want >= INT32_MIN && want <= INT32_MAX && dot[0] == (int32_t)want, "%s: dot %d, want %lld", what,
              dot[0], (long long)want);
    qcase_free(&c);
}

static void expect_refused(tnode *nd, const fgq_tensor_view *const *in, const fgq_tensor_view *y, fgq_status want,
                           const char *text)
{
    fgq_error e;
    const fgq_status st = op_check(nd, in, y, &e);
    CHECK_MSG(st == want && strstr(e.msg, text) != NULL && strstr(e.msg, "node_under_test") != NULL,
              "status %d (want %d): '%s', want '%s'", (int)st, (int)want, st == FGQ_OK ? "" : e.msg, text);
}

/* A WSUM that is not each row's sum, or not a constant, is refused when the model loads (the op's
 * check), naming the row; the right one passes. */
static void test_wsum_checked(void)
{
    /* the profile the tools consult (a device image drops WSUM where it is 0) says what the build does */
    CHECK(fgq_target_build()->qgemm_wsum == FGQ_QW_WSUM_READ);
    for (int it = 0; it < 40; it++) {
        qcase c;
        make_case(&c, it % 2 ? FGQ_DT_T2 : FGQ_DT_S8, it, it % 4 < 2);
        c.has_wsum = 1;
        uint8_t *y = calloc((size_t)(c.m * c.n), 1);
        CHECK(run_op(&c, FGQ_KERNELS_AUTO, NULL, y) == FGQ_OK);
        const int64_t row = (int64_t)(rnd() % (uint32_t)c.n);
        const uint32_t delta = it % 3 == 0 ? 1u : it % 3 == 1 ? 0xFFFFFFFFu : 0x80000000u; /* +1, −1, 2^31 */
        c.wsum[row] = (int32_t)((uint32_t)c.wsum[row] + delta);
        case_op o;
        case_op_init(&o, &c, y);
        if (FGQ_QW_WSUM_READ) { /* where a kernel reads the values (else the shape alone: ops_q.h) */
            char want[64];
            snprintf(want, sizeof want, "WSUM row %lld is", (long long)row);
            expect_refused(&o.nd, o.in, &o.y, FGQ_ERR_FORMAT, want);
            c.wsum[row] = (int32_t)((uint32_t)c.wsum[row] - delta);
            o.w.data = NULL; /* W not a constant (a graph input, say): its sums cannot be checked */
            expect_refused(&o.nd, o.in, &o.y, FGQ_ERR_FORMAT, "WSUM needs W and GS to be constants");
            o.w.data = c.codes;
            if (c.has_gs) {
                o.gs.data = NULL;
                expect_refused(&o.nd, o.in, &o.y, FGQ_ERR_FORMAT, "WSUM needs W and GS to be constants");
                o.gs.data = c.gs;
            }
            o.wsum.data = NULL; /* not a constant */
            expect_refused(&o.nd, o.in, &o.y, FGQ_ERR_FORMAT, "WSUM is not a constant");
        } else {
            fgq_error e;
            CHECK(op_check(&o.nd, o.in, &o.y, &e) == FGQ_OK);
        }
        const int64_t bad_d[1] = {c.n + 1};
        fgq_tensor_view sv2 = tview(c.wsum, 1, bad_d);
        sv2.dtype = FGQ_DT_S32;
        o.in[5] = &sv2;
        expect_refused(&o.nd, o.in, &o.y, FGQ_ERR_SHAPE, "WSUM must be s32");
        free(y);
        qcase_free(&c);
    }
}

static void test_limits(void)
{
    /* s8 per channel at the bound: 65793·128·255 <= 2^31 − 1 */
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 0, 255, 2, 65793, 0, 1, 1, 0, "s8 K 65793, w -128, d 255");
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 255, 0, 2, 65793, 0, 1, 1, 0, "s8 K 65793, w -128, d -255");
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 0, 255, 1, 65793, 0, 1, 1, 0, "s8 K 65793, w 127, d 255");
    limit_case(FGQ_DT_S8, FGQ_DT_S8, -128, 127, 2, 65793, 0, 1, 1, 0, "s8 x s8, zx -128");
    limit_case(FGQ_DT_S8, FGQ_DT_S8, 127, -128, 2, 65793, 0, 1, 1, 0, "s8 x s8, zx 127");
    /* s8 with GS, M = 255 at K 258; wide and narrow groups; multipliers above M */
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 0, 255, 2, 258, 32, 1, 255, 255, "s8 GS g32 M255 K258");
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 255, 0, 2, 258, 8, 1, 255, 255, "s8 GS g8 M255 K258");
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 0, 255, 1, 258, 4, 1, 200, 255, "s8 GS g4 clamp 200");
    /* t2 with GS, M = 255 at K 33025 (and the int16 flush inside each group) */
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, 33025, 0, 1, 1, 0, "t2 all +1, no GS, K 33025");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, 33025, 33025, 1, 255, 255, "t2 all +1 one group M255 K33025");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 2, 33025, 4096, 2, 255, 255, "t2 all -1 g4096 asym M255");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 255, 0, 2, 33025, 4, 1, 255, 255, "t2 all -1 g4 d -255");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 255, 0, 1, 33025, 8, 2, 255, 255, "t2 all +1 g8 asym d -255");
    limit_case(FGQ_DT_T2, FGQ_DT_S8, -128, 127, 1, 5000, 0, 1, 1, 0, "t2 x s8 zx -128, one flush-crossing group");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 2, 4099, 4099, 2, 255, 255, "t2 flush: 4099 in one group");
    /* layouts the VNNI kernels take, at the bound: groups of 32·j, one masked tail chunk */
    limit_case(FGQ_DT_S8, FGQ_DT_U8, 0, 255, 2, 258, 64, 1, 255, 255, "s8 GS g64 M255 K258");
    limit_case(FGQ_DT_S8, FGQ_DT_S8, 127, -128, 1, 65793, 0, 1, 1, 0, "s8 x s8 zx 127, w 127");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 255, 0, 2, 33025, 64, 1, 255, 255, "t2 all -1 g64 d -255 M255");
    limit_case(FGQ_DT_T2, FGQ_DT_S8, -128, 127, 1, 33025, 96, 1, 255, 255, "t2 x s8 all +1 g96 M255");
    /* s4: per channel at the bound (K·8·255 <= 2^31 − 1: 1052688), groups with M = 255 (K 4128) */
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 0, 255, 2, 1052688, 0, 1, 1, 0, "s4 K 1052688, w -8, d 255");
    limit_case(FGQ_DT_S4, FGQ_DT_S8, 127, -128, 2, 1052688, 0, 1, 1, 0, "s4 x s8 zx 127, w -8, d -255");
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 0, 255, 1, 4127, 32, 1, 255, 255, "s4 all 7 g32 M255 K4127");
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 255, 0, 2, 4128, 2, 1, 255, 255, "s4 all -8 g2 d -255 M255");
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 0, 255, 2, 4127, 1, 1, 200, 255, "s4 all -8 g1 clamp 200");
    /* s4 in the VNNI layouts: decoded once (K <= 8192 with the work buffer; in registers without:
     * check_case's "gemm offset"), per channel and groups of 32·j, a masked tail chunk */
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 0, 255, 2, 4096, 32, 1, 255, 255, "s4 all -8 g32 M255 K4096");
    limit_case(FGQ_DT_S4, FGQ_DT_S8, 127, -128, 1, 4095, 96, 1, 255, 255, "s4 x s8 all 7 g96 M255 K4095");
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 255, 0, 2, 4128, 64, 1, 255, 255, "s4 all -8 g64 d -255 M255 K4128");
    limit_case(FGQ_DT_S4, FGQ_DT_S8, -128, 127, 2, 4095, 0, 1, 1, 0, "s4 x s8 zx -128 per channel K4095");
    /* s3: per channel at the bound (K·4·255 <= 2^31 − 1: 2105376), groups with M = 255 (K 8256),
     * groups of a multiple of 8 that are not of 32 (the AVX2 row's unit-aligned chunks), the VNNI
     * layouts (decoded once, in registers, panels) with a masked tail chunk */
    limit_case(FGQ_DT_S3, FGQ_DT_U8, 0, 255, 2, 2105376, 0, 1, 1, 0, "s3 K 2105376, w -4, d 255");
    limit_case(FGQ_DT_S3, FGQ_DT_S8, 127, -128, 2, 2105376, 0, 1, 1, 0, "s3 x s8 zx 127, w -4, d -255");
    limit_case(FGQ_DT_S3, FGQ_DT_U8, 0, 255, 1, 8255, 32, 1, 255, 255, "s3 all 3 g32 M255 K8255");
    limit_case(FGQ_DT_S3, FGQ_DT_U8, 255, 0, 2, 8256, 8, 1, 255, 255, "s3 all -4 g8 d -255 M255");
    limit_case(FGQ_DT_S3, FGQ_DT_U8, 0, 255, 2, 1001, 24, 1, 255, 255, "s3 all -4 g24 M255 K1001");
    limit_case(FGQ_DT_S3, FGQ_DT_U8, 0, 255, 2, 4127, 1, 1, 200, 255, "s3 all -4 g1 clamp 200");
    limit_case(FGQ_DT_S3, FGQ_DT_S8, -128, 127, 2, 4095, 0, 1, 1, 0, "s3 x s8 zx -128 per channel K4095");
    limit_case(FGQ_DT_S3, FGQ_DT_U8, 0, 255, 2, 1792, 32, 1, 255, 255, "s3 all -4 g32 M255 K1792 panels");
    limit_case(FGQ_DT_S3, FGQ_DT_S8, 127, -128, 1, 1791, 64, 1, 255, 255, "s3 x s8 all 3 g64 M255 K1791 panels");
    /* s2: per channel at the bound (K·3·255 <= 2^31 − 1: 2807168), groups with M = 255 (K 11008),
     * groups of a multiple of 4 that are not of 32 (the AVX2 row), the VNNI layouts, a masked tail
     * chunk (codes past K are 0, i.e. −3, and must not count) */
    limit_case(FGQ_DT_S2, FGQ_DT_U8, 0, 255, 2, 2807168, 0, 1, 1, 0, "s2 K 2807168, w -3, d 255");
    limit_case(FGQ_DT_S2, FGQ_DT_S8, 127, -128, 1, 2807168, 0, 1, 1, 0, "s2 x s8 zx 127, w 3, d -255");
    limit_case(FGQ_DT_S2, FGQ_DT_U8, 0, 255, 1, 11007, 32, 1, 255, 255, "s2 all 3 g32 M255 K11007");
    limit_case(FGQ_DT_S2, FGQ_DT_U8, 255, 0, 2, 11008, 4, 1, 255, 255, "s2 all -3 g4 d -255 M255");
    limit_case(FGQ_DT_S2, FGQ_DT_U8, 0, 255, 2, 1001, 12, 1, 255, 255, "s2 all -3 g12 M255 K1001");
    limit_case(FGQ_DT_S2, FGQ_DT_U8, 0, 255, 2, 4127, 1, 1, 200, 255, "s2 all -3 g1 clamp 200");
    limit_case(FGQ_DT_S2, FGQ_DT_S8, -128, 127, 2, 4093, 0, 1, 1, 0, "s2 x s8 zx -128 per channel K4093");
    limit_case(FGQ_DT_S2, FGQ_DT_U8, 0, 255, 2, 1793, 32, 1, 255, 255, "s2 all -3 g32 M255 K1793 panels");
    limit_case(FGQ_DT_S2, FGQ_DT_S8, 127, -128, 1, 1791, 64, 1, 255, 255, "s2 x s8 all 3 g64 M255 K1791 panels");
    /* grouped t2 and s4 with 4+ rows where K fits a weight panel (qgemm_avx512vnni.h): 16 weight
     * rows in the lanes, the multipliers one vector a group */
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 0, 255, 2, 1792, 32, 1, 255, 255, "s4 all -8 g32 M255 K1792 panels");
    limit_case(FGQ_DT_S4, FGQ_DT_S8, 127, -128, 1, 1791, 64, 1, 255, 255, "s4 x s8 all 7 g64 M255 K1791 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 255, 0, 2, 1790, 32, 1, 255, 255, "t2 all -1 g32 d -255 K1790 panels");
    /* t2 panels' group sums at the int16 bound of vpdpwssd (groups <= 128): a' = 255 under
     * every code, so each sum is ±255·128 = ±32640 (u8 a = 255; s8 a = 127, a' = a + 128),
     * and just past it (groups of 160 and one group of 129: vpmulld) */
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, 1920, 128, 1, 255, 255, "t2 all +1 g128 d 255 K1920 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 2, 1919, 128, 1, 255, 255, "t2 all -1 g128 d 255 K1919 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_S8, -128, 127, 2, 1920, 128, 1, 255, 255, "t2 x s8 all -1 g128 d 255 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_S8, 127, 127, 1, 1917, 128, 1, 255, 255, "t2 x s8 all +1 g128 d 0 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, 128, 128, 1, 255, 255, "t2 all +1 one group K128 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 2, 129, 129, 1, 255, 255, "t2 all -1 one group K129 panels");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, 1920, 160, 1, 255, 255, "t2 all +1 g160 d 255 K1920 panels");
    /* the largest K a panel of groups of 32 takes in the work buffer, and past it: 16 rows of K
     * codes padded to 32, a multiplier byte a group and row, 64 more (vnni_panel_bytes), i.e.
     * 16.5·K + 64 <= FGQ_QGEMM_DECODE_BYTES for K a multiple of 32 (7936 with 128 KB); s4 with
     * M = 128 keeps K·8·255·M under the int32 bound there */
    const int64_t kpan = (FGQ_QGEMM_DECODE_BYTES - 64) * 2 / 33 / 32 * 32;
    limit_case(FGQ_DT_S4, FGQ_DT_U8, 0, 255, 2, kpan, 32, 1, 128, 255, "s4 all -8 g32 M128 largest panel K");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, kpan, 32, 1, 255, 255, "t2 all +1 g32 largest panel K");
    limit_case(FGQ_DT_T2, FGQ_DT_U8, 0, 255, 1, kpan + 1, 32, 1, 255, 255, "t2 all +1 g32 past the panels' K");
}

/* Grouped t2, s4, s3 and s2 through the panels (qgemm_avx512vnni.h) at the shapes
 * their tiles split on, deterministic rather than left to the random draw:
 * M 4..17 and 64 (8-row tiles, their partial last tile, the 4-row tail),
 * N 1, 15, 16, 17 and 37 (16-row panels and a partial last one), K with
 * tails of 4 and 32 codes around group sizes 32·j (narrow t2 up to 128, then
 * vpmulld), one group; u8 and s8 activations at their ends or random,
 * extreme or random codes, multipliers above M. check_case: the kernel's
 * block form with a garbage work buffer, offsets, and the op's bytes under
 * AUTO (1 and 2 threads) against REF. */
static void test_panels(void)
{
    static const int64_t ms[] = { 4, 5, 8, 9, 12, 13, 16, 17, 64 };
    static const int64_t ns[] = { 1, 15, 16, 17, 37 };
    static const int64_t kg[][2] = { { 32, 32 },   { 33, 32 },   { 63, 32 },   { 100, 64 },  { 127, 128 },
                                     { 128, 128 }, { 129, 128 }, { 257, 128 }, { 250, 96 },  { 300, 160 },
                                     { 200, 200 }, { 97, 300 },  { 1000, 128 }, { 1951, 32 } };
    static const fgq_dtype wdts[] = { FGQ_DT_T2, FGQ_DT_S4, FGQ_DT_S3, FGQ_DT_S2 };
    int bad = 0, run = 0;
    for (size_t wi = 0; wi < 4; wi++)
        for (size_t ki = 0; ki < sizeof kg / sizeof kg[0]; ki++)
            for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++) {
                const int64_t n = ns[(ki + mi) % 5];
                qcase c;
                memset(&c, 0, sizeof c);
                c.wdt = wdts[wi];
                c.xdt = (ki + mi) % 3 == 0 ? FGQ_DT_S8 : FGQ_DT_U8;
                c.ydt = mi % 2 ? FGQ_DT_S8 : FGQ_DT_U8;
                c.m = ms[mi];
                c.n = n;
                c.k = kg[ki][0];
                w_layout(c.wdt, c.k, &c.kp, &c.row_bytes);
                const int32_t lo = c.xdt == FGQ_DT_S8 ? -128 : 0, hi = c.xdt == FGQ_DT_S8 ? 127 : 255;
                const int am = (int)((ki + 2 * mi + wi) % 4); /* 0, 3 random; 1 all hi; 2 all lo */
                c.zx = am == 1 ? lo : am == 2 ? hi : rin(lo, hi);
                c.zy = c.ydt == FGQ_DT_S8 ? 0 : 128;
                c.qmin = c.ydt == FGQ_DT_S8 ? -128 : 0;
                c.qmax = c.ydt == FGQ_DT_S8 ? 127 : 255;
                c.has_gs = 1;
                c.group = kg[ki][1];
                c.n_groups = (c.k + c.group - 1) / c.group;
                c.n_alpha = 1;
                const int64_t mm = bound_mmax(&c);
                c.mmax = mi % 3 == 0 ? (int32_t)mm : rin(1, (int32_t)mm);
                c.gs = malloc((size_t)(c.n * c.n_groups));
                for (int64_t i = 0; i < c.n * c.n_groups; i++)
                    c.gs[i] = (uint8_t)(rnd() % 3 == 0 ? 255 : rnd() % 256);
                fill_codes(&c, (int)((ki + mi) % 4));
                c.a = malloc((size_t)(c.m * c.k));
                for (int64_t i = 0; i < c.m * c.k; i++)
                    c.a[i] = (uint8_t)(am == 1 ? hi : am == 2 ? lo : rin(lo, hi));
                c.has_bias = 1;
                c.bias = malloc(sizeof(int32_t) * (size_t)c.n);
                c.req = malloc(sizeof(int32_t) * 2 * (size_t)c.n);
                for (int64_t j = 0; j < c.n; j++) {
                    c.bias[j] = (int32_t)rnd() >> 8;
                    c.req[2 * j] = (int32_t)((1u << 30) + (rnd() % (1u << 30)));
                    c.req[2 * j + 1] = rin(-24, 0);
                }
                const fgq_qweights qw = case_qweights(&c);
                const fgq_qgemm_kernel *kr = fgq_qgemm_kernel_select(c.wdt, FGQ_KERNELS_AUTO, fgq_cpu_features(), &qw);
                run++;
                bad += !check_case(kr, &c, "panels", run);
                qcase_free(&c);
            }
    CHECK_MSG(bad == 0, "panels: %d of %d cases differ", bad, run);
    printf("  panels: %d cases on %s / %s / %s / %s\n", run,
           fgq_qgemm_kernel_select(FGQ_DT_T2, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
           fgq_qgemm_kernel_select(FGQ_DT_S4, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
           fgq_qgemm_kernel_select(FGQ_DT_S3, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name,
           fgq_qgemm_kernel_select(FGQ_DT_S2, FGQ_KERNELS_AUTO, fgq_cpu_features(), NULL)->name);
}

/* QGEMM with AMX (where the OS grants this process the tile state): s8 weights per channel on the
 * AMX conv kernel (qgemm.c), rows of A as its positions. Shapes at the edges of its blocks: M from
 * 16 (its floor) past 32-row blocks, N past 16-channel blocks and 256-channel chunks (a short last
 * chunk reads the 16 rows that end at N), K from 1 past 64-k steps to its 8192 (8193: VNNI); u8 and
 * s8 A, zero points at the ends; bytes equal to the reference's, 1 and 2 threads. */
static void test_amx_gemm(void)
{
    const uint32_t amx = fgq_host_cpu_grants();
    if (amx == 0) {
        printf("  AMX: SKIPPED (the CPU or the OS does not grant it)\n");
        return;
    }
    static const int64_t ms[] = { 16, 17, 31, 64, 65, 96, 100 }; /* the folded rows from 64 */
    static const int64_t ns[] = { 16, 17, 40, 255, 256, 257, 300, 530 };
    static const int64_t ks[] = { 1, 3, 63, 64, 65, 200, 1000, 1025, 8192, 8193 };
    int bad = 0, run = 0;
    const int n_cases = fgq_test_cases(120);
    for (int it = 0; it < n_cases && bad < 5; it++) {
        qcase c;
        memset(&c, 0, sizeof c);
        /* s8 per channel (in place below 64 rows of A, copied from 64); a third ternary with group
         * multipliers up to 127 (groups of 4, 64 or K, one or two multipliers a group) and a sixth s4
         * per channel: rows folded into s8 */
        c.wdt = it % 3 == 1 ? FGQ_DT_T2 : it % 6 == 2 ? FGQ_DT_S4 : FGQ_DT_S8;
        c.xdt = it % 3 == 0 ? FGQ_DT_S8 : FGQ_DT_U8;
        c.ydt = it % 2 ? FGQ_DT_S8 : FGQ_DT_U8;
        c.m = ms[it % 7];
        c.n = ns[(it / 7 + it) % 8];
        c.k = ks[(it / 3 + 2 * it) % 10];
        if (c.k >= 8192 && c.n > 64)
            c.n = 40; /* the long rows' time */
        w_layout(c.wdt, c.k, &c.kp, &c.row_bytes);
        const int32_t lo = c.xdt == FGQ_DT_S8 ? -128 : 0, hi = c.xdt == FGQ_DT_S8 ? 127 : 255;
        const int am = it % 4; /* 0, 3 random; 1 all hi with z lo; 2 all lo with z hi */
        c.zx = am == 1 ? lo : am == 2 ? hi : rin(lo, hi);
        c.zy = c.ydt == FGQ_DT_S8 ? 0 : 128;
        c.qmin = c.ydt == FGQ_DT_S8 ? -128 : 0;
        c.qmax = c.ydt == FGQ_DT_S8 ? 127 : 255;
        c.group = c.k;
        c.n_groups = 1;
        c.n_alpha = 1;
        c.mmax = 1;
        if (c.wdt == FGQ_DT_T2) {
            c.has_gs = 1;
            c.group = it % 4 == 1 ? 4 : it % 4 == 3 ? 64 : c.k;
            c.n_groups = (c.k + c.group - 1) / c.group;
            c.n_alpha = it % 2 ? 2 : 1;
            const int64_t mm = bound_mmax(&c) < 127 ? bound_mmax(&c) : 127;
            c.mmax = it % 5 == 0 ? (int32_t)mm : rin(1, (int32_t)mm);
            c.gs = malloc((size_t)(c.n * c.n_groups * c.n_alpha));
            for (int64_t i = 0; i < c.n * c.n_groups * c.n_alpha; i++)
                c.gs[i] = (uint8_t)(rnd() % 4 == 0 ? 255 : rnd() % 256); /* above M too: min(m, M) */
        }
        fill_codes(&c, it % 4);
        /* WSUM in half the cases: the in-place s8 tiles then take its sums instead of their own */
        c.has_wsum = (it / 2) % 2 == 0;
        case_wsum(&c);
        c.a = malloc((size_t)(c.m * c.k));
        for (int64_t i = 0; i < c.m * c.k; i++)
            c.a[i] = (uint8_t)(am == 1 ? hi : am == 2 ? lo : rin(lo, hi));
        c.has_bias = it % 5 != 0;
        c.bias = malloc(sizeof(int32_t) * (size_t)c.n);
        c.req = malloc(sizeof(int32_t) * 2 * (size_t)c.n);
        /* the row-major output stage's lanes: shifts 0 (plain srdhm) beside right shifts to 31, biases
         * at the int32 ends (the saturating add), and a left shift in one case in 7 (its fallback) */
        for (int64_t j = 0; j < c.n; j++) {
            c.bias[j] = it % 4 == 1 ? (j % 2 ? INT32_MAX - rin(0, 1000) : INT32_MIN + rin(0, 1000)) : (int32_t)rnd() >> 8;
            c.req[2 * j] = (int32_t)((1u << 30) + (rnd() % (1u << 30)));
            c.req[2 * j + 1] = it % 3 == 0 && j % 3 == 0 ? 0 : rin(-31, -1);
        }
        if (it % 7 == 3)
            c.req[2 * (c.n / 2) + 1] = 2;
        const size_t mn = (size_t)(c.m * c.n);
        uint8_t *y_ref = calloc(mn, 1), *y_amx = calloc(mn, 1), *y_par = calloc(mn, 1);
        const uint32_t cpu = fgq_cpu_features() | amx;
        int ok = run_op(&c, FGQ_KERNELS_REF, NULL, y_ref) == FGQ_OK;
        ok &= run_op_cpu(&c, FGQ_KERNELS_AUTO, NULL, y_amx, cpu) == FGQ_OK;
        ok &= run_op_cpu(&c, FGQ_KERNELS_AUTO, fgq_threadpool_parallel(pool2), y_par, cpu) == FGQ_OK;
        if (!ok || memcmp(y_ref, y_amx, mn) != 0 || memcmp(y_ref, y_par, mn) != 0) {
            fprintf(stderr,
                    "  AMX case %d: M %lld N %lld K %lld w %s group %lld x %s zx %d wsum %d: bytes differ from the "
                    "reference\n",
                    it, (long long)c.m, (long long)c.n, (long long)c.k, fgq_dtype_name(c.wdt), (long long)c.group,
                    fgq_dtype_name(c.xdt), (int)c.zx, (int)c.has_wsum);
            bad++;
        }
        run++;
        free(y_ref);
        free(y_amx);
        free(y_par);
        qcase_free(&c);
    }
    CHECK_MSG(bad == 0, "AMX QGEMM: %d of %d cases differ", bad, run);
    printf("  AMX: %d QGEMM cases\n", run);
}

/* QUANTIZE under AUTO (qquantize__avx512 for 16 values a step where the CPU
 * has AVX-512 F, qquantize__avx2 for 8, the scalar loop for the rest), and
 * under AUTO with AVX2 alone, against FGQ_KERNELS_REF over 1000 random cases:
 * lengths 1..200 (every tail), scales, zero points and clamps, both rounding
 * modes, exact halves, NaN, ±Inf, huge values, −0.0 and denormals. */
static void test_quantize_random(void)
{
    int bad = 0;
    for (int it = 0; it < 1000 && bad < 5; it++) {
        const int64_t n = rin(1, 200);
        const float s = it % 4 == 0 ? 1.0f : (float)(rnd() % 1000 + 1) / 997.0f * (it % 3 ? 1.0f : 1e-3f);
        float *x = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            const uint32_t p = rnd() % 12;
            x[i] = p == 0 ? ((float)rin(-300, 300) + 0.5f) * s
                   : p == 1 ? NAN
                   : p == 2 ? (rnd() % 2 ? INFINITY : -INFINITY)
                   : p == 3 ? (rnd() % 2 ? 1e30f : -1e30f)
                   : p == 4 ? -0.0f
                   : p == 5 ? 1e-40f
                   : ((float)(int32_t)(rnd() % 200001) - 100000.0f) / 100000.0f * s * 300.0f;
        }
        const int y_s8 = it % 2;
        const int32_t lo = y_s8 ? -128 : 0, hi = y_s8 ? 127 : 255;
        const int32_t z = rin(lo, hi), qmin = rnd() % 2 ? lo : rin(lo, z), qmax = rnd() % 2 ? hi : rin(z, hi);
        uint8_t *y_ref = malloc((size_t)n), *y_auto = malloc((size_t)n), *y_avx2 = malloc((size_t)n);
        for (int pass = 0; pass < 3; pass++) {
            fgq_parallel par = { NULL, 1, NULL, pass == 0 ? FGQ_KERNELS_REF : FGQ_KERNELS_AUTO };
            tnode nd;
            tnode_init(&nd, FGQ_OP_QUANTIZE, 1);
            nd.fp[FGQ_QPF_SCALE] = s;
            nd.ip[FGQ_QP_Y_ZERO] = z;
            nd.ip[FGQ_QP_QMIN] = qmin;
            nd.ip[FGQ_QP_QMAX] = qmax;
            nd.ip[FGQ_QP_ROUND] = it % 3 == 0;
            nd.v.par = &par;
            if (pass == 2)
                nd.v.cpu = (fgq_cpu_features() & FGQ_CPU_AVX2) | FGQ_CPU_QUERIED;
            const int64_t d[1] = { n };
            fgq_tensor_view xv = tview(x, 1, d), yv = tview(pass == 0 ? y_ref : pass == 1 ? y_auto : y_avx2, 1, d);
            xv.dtype = FGQ_DT_F32;
            yv.dtype = y_s8 ? FGQ_DT_S8 : FGQ_DT_U8;
            const fgq_tensor_view *in[1] = { &xv };
            CHECK(op_check_run(&nd, in, &yv) == FGQ_OK);
        }
        if (memcmp(y_ref, y_auto, (size_t)n) != 0 || memcmp(y_ref, y_avx2, (size_t)n) != 0) {
            fprintf(stderr, "  quantize case %d (n %lld, s %g): AUTO (host or AVX2 alone) differs from REF\n", it,
                    (long long)n, (double)s);
            bad++;
        }
        free(x);
        free(y_ref);
        free(y_auto);
        free(y_avx2);
    }
    CHECK(bad == 0);
}

int main(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (!fgq_cpu_has_avx2()) {
        printf("test_qgemm_kernels: skipped, this CPU has no AVX2\n");
        return FGQ_TEST_SKIPPED;
    }
#elif !defined(__aarch64__)
    printf("test_qgemm_kernels: skipped, neither x86 nor AArch64\n");
    return FGQ_TEST_SKIPPED;
#endif
    /* AArch64 without dotprod (qemu-aarch64 -cpu cortex-a53) runs too: the
     * limits through the reference rows AUTO must then pick */
    fgq_error err;
    if (fgq_threadpool_create(2, &pool2, &err) != FGQ_OK) {
        fprintf(stderr, "threadpool: %s\n", err.msg);
        return 1;
    }
    RUN(test_limits);
    RUN(test_wsum_checked);
    RUN(test_panels);
    RUN(test_requant_random);
    RUN(test_requant_edges);
    RUN(test_quantize_random);
    RUN(test_kernels_random);
    RUN(test_amx_gemm);
    fgq_threadpool_destroy(pool2);
    return FGQ_TEST_DONE();
}
