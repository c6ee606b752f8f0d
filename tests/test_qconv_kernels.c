/*
 * test_qconv_kernels.c — QCONV's GEMM path (im2col tiles on the stack, the
 * optimized QGEMM kernel row and its output stage) against its reference
 * twin (one fgq_qconv_dot per output, FGQ_KERNELS_REF).
 *
 * The depthwise path (effective tap weights, rows of outputs, the row the
 * depthwise table picks: qconv_dw_u8__avx512vnni or __avx2) is checked the
 * same way, and every row's all-taps steps the CPU can run against their twins on their own. On AArch64 with dotprod
 * the same cases run through the SDOT rows (qgemm_*__neondot).
 *
 * Oracle: the reference path, itself checked against int64 arithmetic in
 * test_qops_conv.c. Per case the output bytes under FGQ_KERNELS_AUTO with 1
 * and 2 threads are memcmp-equal to those under FGQ_KERNELS_REF. 1000
 * random shapes of every kind, 1000 depthwise ones and 1000 of the layers
 * the packed kernels qconv_u8s8_4x32c4__avx512vnni,
 * qconv_u8t2_2x32c4__avx512vnni, qconv_u8s4_2x32c4__avx512vnni, qconv_u8s3_2x32c4__avx512vnni and
 * qconv_u8s2_2x32c4__avx512vnni take
 * (the im2col tiles, the padded copy, the interior 4/8-byte rows, the depthwise planes and the packed kernels
 * each see hundreds or more): 1-D/2-D/3-D, batch 1–2, groups 1, 2 and depthwise, kernel,
 * stride, dilation and both pads, inputs smaller than the kernel's reach
 * with padding, K from 1 to ~1000 (tails of every vector width), C_out past
 * one 64-channel block, weights s8/t2/s4/s3/s2 with and without group
 * multipliers (32·j groups for the VNNI rows, other sizes and asymmetric
 * ternary for the AVX2 rows), zero points at both ends, extreme inputs.
 * The packed t2/s4/s3/s2 layers take both weight paths: rows decoded once per
 * group into QCONV's scratch (most), and per channel pair where a group's
 * rows pass FGQ_QCONV_WCACHE_BYTES (wide and deep layers: a few dozen plans).
 * The ternary rows' 64-codes-a-step decode (AVX-512 VBMI) against its twin, byte for byte.
 * Skips (passes) where the CPU has no optimized kernel.
 */
#include "test_ops_common.h"

#include "ops/qgemm_dispatch.h"
#include "quant/s3.h"
#include "run/host_cpu.h"
#include "threadpool.h"

#include <stdlib.h>

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 16);
}
static int32_t rin(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }

static fgq_threadpool *pool2;

typedef struct {
    int ns;
    int64_t n, c, m, g, k[3], s[3], d[3], pb[3], pe[3], in[3], out[3];
    fgq_dtype xdt, ydt, wdt;
    int32_t zx, zy, qmin, qmax, has_gs, group, n_alpha, mmax, has_bias;
    int64_t kk, row_bytes, kp, n_groups;
    uint8_t *x, *codes, *gs;
    int32_t *bias, *req;
} ccase;

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

static void ccase_free(ccase *c)
{
    free(c->x);
    free(c->codes);
    free(c->gs);
    free(c->bias);
    free(c->req);
}

/* mode 0: any kind; 1: depthwise (group = C_in = C_out); 2: the packed conv
 * kernels' layers (s8, t2, s4, s3 or s2, per channel or symmetric groups of 32·j or one
 * group, 1-D/2-D, stride 1 or 2 along W, groups 1–2); 3: their pointwise layers (2-D 1 × 1,
 * stride 1, no padding before; padding after on a third: the plane's last tiles are not
 * inside X), planes of 1-144 positions (tails of every length); 4: packed 2-D layers of 1-3
 * groups, batches of 1-3, 40-144 channels a group over 3x3-7x7 inputs (more channels than
 * positions), decoded weight formats mostly (QCONV's channel-chunk split at two threads); a third
 * of them one image and one group, 36-64 positions and 160-272 channels (the chunks over tiles
 * packed once, at one thread too). */
static void make_case(ccase *c, int it, int mode)
{
    memset(c, 0, sizeof *c);
    const int packed = mode >= 2, chunked = mode == 4;
    c->ns = mode == 3 || chunked ? 2 : mode == 2 ? (it % 4 == 0 ? 1 : 2) : it % 9 == 0 ? 3 : it % 4 == 0 ? 1 : 2;
    c->n = chunked && it % 3 != 0 ? rin(1, 3) : chunked ? 1 : rin(1, 2);
    const int gp = mode == 1 ? 0 : packed ? 1 + (int)(rnd() % 3) : (int)(rnd() % 4);
    /* one packed 2-D case in 25 deep: 3 x 3 over 170-520 channels, K 1530-4680 (the AMX kernel's
     * reach past the VNNI ones' 1536, and past its own 4608: im2col) on small planes */
    const int deep = mode == 2 && it % 25 == 7;
    const int64_t cg = deep ? rin(170, 520) : rnd() % 3 == 0 ? rin(1, 8) : rin(1, 96),
                  mg = rnd() % 4 == 0 ? rin(65, 140) : rin(1, 40);
    const int single = chunked && it % 3 == 0;
    if (single) { /* one image, one group, two tiles of positions and over twice as many channels: the
                   * chunks run over tiles packed once (QCONV's pcache), at one thread too */
        static const int64_t mgs[4] = { 160, 200, 256, 272 };
        c->g = 1;
        c->c = rin(8, 64);
        c->m = mgs[rnd() % 4];
    } else if (chunked) { /* more channels a group than positions, 1-3 groups: the channel-chunk split at 2 threads */
        static const int64_t mgs[6] = { 40, 48, 80, 100, 112, 144 }; /* last chunks of 8, 16, 16, 4, 16, 16 rows */
        c->g = rin(1, 3);
        c->c = c->g * rin(1, 64);
        c->m = c->g * mgs[rnd() % 6];
    } else if (gp == 0) { /* depthwise */
        c->g = c->c = c->m = rin(1, 24);
    } else {
        c->g = gp == 1 ? 2 : 1;
        c->c = c->g * cg;
        c->m = c->g * (gp == 1 && mg > 64 ? mg / 2 : mg);
    }
    for (int j = 0; j < 3; j++) {
        c->in[j] = c->k[j] = c->s[j] = c->d[j] = c->out[j] = 1;
        c->pb[j] = c->pe[j] = 0;
    }
    /* a tenth of the depthwise and packed 2-D layers wide: kernels to 7 x 7, pads to 3, rows of
     * 40-150 (whole 32-position runs, 63-byte stride-2 loads, 4-tap windows along a row), or
     * (half of them) rows of 2-8 and 8-20 of them */
    const int wide = c->ns == 2 && (mode == 1 || mode == 2) && it % 10 == 3;
    for (int i = 0; i < c->ns; i++) {
        const int j = 3 - c->ns + i;
        c->k[j] = deep && c->ns == 2 ? 3 : wide ? rin(1, 7) : rin(1, c->ns == 3 ? 2 : 3);
        c->s[j] = rnd() % 3 == 0 ? 2 : 1; /* stride 2 along W: the VBMI packing */
        c->d[j] = rnd() % 5 == 0 ? 2 : 1;
        c->pb[j] = wide ? rin(0, 3) : rin(0, 2);
        c->pe[j] = wide ? rin(0, 3) : rin(0, 2);
        const int64_t ext = c->d[j] * (c->k[j] - 1) + 1;
        /* half the wide ones narrow and tall instead: a 32-position tile spans many rows, so taps
         * times runs pass the packing's per-tap table (FGQ_QCONV_PACK_TAP_RUNS) and it works per k */
        const int tall = it % 20 == 13;
        c->in[j] = wide ? (j == 2 ? (tall ? rin(2, 8) : rin(40, 150)) : (tall ? rin(8, 20) : rin(1, 8)))
                   : single          ? rin(6, 8)
                   : deep || chunked ? rin(3, 7)
                                     : rin(1, c->ns == 3 ? 4 : c->ns == 1 ? 40 : 11);
        if (c->in[j] + c->pb[j] + c->pe[j] < ext)
            c->in[j] = ext;
        c->out[j] = (c->in[j] + c->pb[j] + c->pe[j] - ext) / c->s[j] + 1;
        if (mode == 3) {
            c->k[j] = c->s[j] = c->d[j] = 1;
            c->pb[j] = 0;
            c->pe[j] = rnd() % 3 == 0 ? rin(1, 2) : 0;
            c->in[j] = rin(1, 12);
            c->out[j] = c->in[j] + c->pe[j];
        }
    }
    c->xdt = rnd() % 4 == 0 ? FGQ_DT_S8 : FGQ_DT_U8;
    c->ydt = rnd() % 3 == 0 ? FGQ_DT_S8 : FGQ_DT_U8;
    const int32_t lo = c->xdt == FGQ_DT_S8 ? -128 : 0, hi = c->xdt == FGQ_DT_S8 ? 127 : 255;
    const int zc = (int)(rnd() % 5);
    c->zx = zc == 0 ? lo : zc == 1 ? hi : rin(lo, hi);
    const int32_t ylo = c->ydt == FGQ_DT_S8 ? -128 : 0, yhi = c->ydt == FGQ_DT_S8 ? 127 : 255;
    c->zy = rin(ylo, yhi);
    c->qmin = rnd() % 2 ? ylo : rin(ylo, c->zy);
    c->qmax = rnd() % 2 ? yhi : rin(c->zy, yhi);

    const int wc = (int)(rnd() % 8);
    static const fgq_dtype packed_dts[5] = { FGQ_DT_S8, FGQ_DT_T2, FGQ_DT_S4, FGQ_DT_S3, FGQ_DT_S2 };
    c->wdt = chunked ? packed_dts[rnd() % 5 == 0 ? 0 : 1 + (wc + rnd() % 4) % 4] /* decoded rows, mostly */
             : packed ? packed_dts[(wc + rnd() % 5) % 5]
             : wc < 3  ? FGQ_DT_S8
             : wc < 5  ? FGQ_DT_T2
             : wc < 6  ? FGQ_DT_S4
             : wc < 7  ? FGQ_DT_S3
                       : FGQ_DT_S2;
    c->kk = (c->c / c->g) * prod3(c->k);
    c->kp = c->wdt == FGQ_DT_T2 || c->wdt == FGQ_DT_S2 ? 4 * ((c->kk + 3) / 4)
            : c->wdt == FGQ_DT_S4 ? 2 * ((c->kk + 1) / 2)
            : c->wdt == FGQ_DT_S3 ? 8 * ((c->kk + 7) / 8)
                                  : c->kk;
    c->row_bytes = c->wdt == FGQ_DT_T2 || c->wdt == FGQ_DT_S2 ? c->kp / 4
                   : c->wdt == FGQ_DT_S4 ? c->kp / 2
                   : c->wdt == FGQ_DT_S3 ? fgq_s3_row_bytes(c->kk)
                                         : c->kk;
    /* §3.5: K·code_max·dx·M <= 2^31 − 1 */
    const int64_t dx = c->zx - lo > hi - c->zx ? c->zx - lo : hi - c->zx;
    const int64_t cmax = c->wdt == FGQ_DT_S8   ? 128
                         : c->wdt == FGQ_DT_S4 ? 8
                         : c->wdt == FGQ_DT_S3 ? 4
                         : c->wdt == FGQ_DT_S2 ? 3
                                               : 1;
    int64_t mm = INT32_MAX / (c->kk * cmax * (dx > 0 ? dx : 1));
    mm = mm > 255 ? 255 : mm;
    c->has_gs = mm >= 1 && rnd() % (chunked ? 6 : 3) != 0;
    if (c->has_gs) {
        const int gsel = (int)(rnd() % 4);
        c->group = gsel < 2 || (packed && gsel == 2) ? 32 * rin(1, 4) : gsel == 2 ? rin(1, 20) : (int32_t)c->kk;
        c->n_alpha = !packed && c->wdt == FGQ_DT_T2 && rnd() % 4 == 0 ? 2 : 1;
        c->mmax = rnd() % 3 == 0 ? (int32_t)mm : rin(1, (int32_t)mm);
        c->n_groups = (c->kk + c->group - 1) / c->group;
        const int64_t ng = c->m * c->n_groups * c->n_alpha;
        c->gs = malloc((size_t)ng);
        for (int64_t i = 0; i < ng; i++)
            c->gs[i] = (uint8_t)(rnd() % 4 == 0 ? 255 : rnd() % 256);
    } else {
        c->group = (int32_t)c->kk;
        c->n_groups = 1;
        c->n_alpha = 1;
        c->mmax = 1;
    }
    c->codes = calloc((size_t)(c->m * c->row_bytes), 1);
    const int extreme_w = rnd() % 8 == 0;
    for (int64_t j = 0; j < c->m; j++) {
        uint8_t *row = c->codes + j * c->row_bytes;
        for (int64_t k = 0; k < c->kk; k++) {
            if (c->wdt == FGQ_DT_S8)
                row[k] = (uint8_t)(int8_t)(extreme_w ? (rnd() % 2 ? 127 : -128) : rin(-128, 127));
            else if (c->wdt == FGQ_DT_S4)
                row[k >> 1] |= (uint8_t)((uint32_t)rin(-8, 7) & 15u) << (4 * (k & 1));
            else if (c->wdt == FGQ_DT_S3) { /* s3.h's layout, bit by bit */
                const uint32_t bits = (uint32_t)(extreme_w ? (rnd() % 2 ? 3 : -4) : rin(-4, 3)) & 7u;
                const uint32_t at = (uint32_t)(k & 7);
                row[(k >> 3) * 3 + (at >> 2)] |= (uint8_t)((bits & 3u) << (2 * (at & 3)));
                row[(k >> 3) * 3 + 2] |= (uint8_t)((bits >> 2) << at);
            } else
                row[k >> 2] |= (uint8_t)((rnd() % 4) << (2 * (k & 3)));
        }
    }
    const int64_t nx = c->n * c->c * prod3(c->in);
    c->x = malloc((size_t)nx);
    const int extreme_x = rnd() % 6 == 0;
    for (int64_t i = 0; i < nx; i++)
        c->x[i] = (uint8_t)(extreme_x ? (rnd() % 2 ? lo : hi) : rin(lo, hi));
    c->has_bias = rnd() % 4 != 0;
    c->bias = malloc(sizeof(int32_t) * (size_t)c->m);
    c->req = malloc(sizeof(int32_t) * 2 * (size_t)c->m);
    /* outputs spread over the range: shift ~ −log2 of the dots' reach */
    int sh = 0;
    for (int64_t r = c->kk * cmax * (dx > 0 ? dx : 1) * (c->has_gs ? c->mmax : 1); r > 64; r >>= 1)
        sh++;
    for (int64_t j = 0; j < c->m; j++) {
        c->bias[j] = rnd() % 10 == 0 ? INT32_MAX : (int32_t)(rnd() % 2001) - 1000;
        c->req[2 * j] = (int32_t)((1u << 30) + (rnd() % (1u << 30)));
        c->req[2 * j + 1] = rnd() % 10 == 0 ? rin(-31, 31) : -sh + rin(-1, 1);
    }
}

/* cpu: the features the node runs with (0: this CPU's, as a loaded model has them) */
static fgq_status run_conv_cpu(const ccase *c, int32_t kernels, const fgq_parallel *pool, uint8_t *y, uint32_t cpu)
{
    fgq_parallel par = { NULL, 1, NULL, kernels };
    if (pool != NULL) {
        par = *pool;
        par.kernels = kernels;
    }
    int64_t xd[5], yd[5];
    xd[0] = yd[0] = c->n;
    xd[1] = c->c;
    yd[1] = c->m;
    for (int i = 0; i < c->ns; i++) {
        xd[2 + i] = c->in[3 - c->ns + i];
        yd[2 + i] = c->out[3 - c->ns + i];
    }
    const int64_t wd[2] = { c->m, c->kp }, bd[1] = { c->m }, rd[2] = { c->m, 2 };
    const int64_t gd[3] = { c->m, c->n_groups, 2 };
    fgq_tensor_view xv = tview(c->x, c->ns + 2, xd), yv = tview(y, c->ns + 2, yd), wv = tview(c->codes, 2, wd);
    fgq_tensor_view bv = tview(c->bias, 1, bd), rv = tview(c->req, 2, rd);
    fgq_tensor_view gv = tview(c->gs, c->n_alpha == 2 ? 3 : 2, gd);
    xv.dtype = c->xdt;
    yv.dtype = c->ydt;
    wv.dtype = c->wdt;
    bv.dtype = FGQ_DT_S32;
    rv.dtype = FGQ_DT_S32;
    gv.dtype = FGQ_DT_U8;
    const fgq_tensor_view *in[5] = { &xv, &wv, c->has_bias ? &bv : NULL, &rv, &gv };
    tnode nd;
    tnode_init(&nd, FGQ_OP_QCONV, c->has_gs ? 5 : 4);
    nd.ip[FGQ_P_NSPATIAL] = c->ns;
    nd.ip[FGQ_P_GROUP] = (int32_t)c->g;
    for (int i = 0; i < c->ns; i++) {
        const int j = 3 - c->ns + i;
        nd.ip[FGQ_P_KERNEL + i] = (int32_t)c->k[j];
        nd.ip[FGQ_P_STRIDE + i] = (int32_t)c->s[j];
        nd.ip[FGQ_P_DILATION + i] = (int32_t)c->d[j];
        nd.ip[FGQ_P_PAD_BEGIN + i] = (int32_t)c->pb[j];
        nd.ip[FGQ_P_PAD_END + i] = (int32_t)c->pe[j];
    }
    nd.ip[FGQ_QP_X_ZERO] = c->zx;
    nd.ip[FGQ_QP_Y_ZERO] = c->zy;
    nd.ip[FGQ_QP_QMIN] = c->qmin;
    nd.ip[FGQ_QP_QMAX] = c->qmax;
    if (c->has_gs) {
        nd.ip[FGQ_QP_W_GROUP] = c->group;
        nd.ip[FGQ_QP_W_NALPHA] = c->n_alpha;
        nd.ip[FGQ_QP_W_MMAX] = c->mmax;
    }
    nd.v.par = &par;
    nd.v.cpu = cpu;
    const fgq_tensor_view *out[1] = { &yv };
    fgq_error err;
    fgq_status st = op_check(&nd, in, &yv, &err);
    if (st == FGQ_OK)
        st = op_run_view(&nd.v, in, out, &err);
    if (st != FGQ_OK)
        fprintf(stderr, "  QCONV: %s\n", err.msg);
    return st;
}

static fgq_status run_conv(const ccase *c, int32_t kernels, const fgq_parallel *pool, uint8_t *y)
{
    return run_conv_cpu(c, kernels, pool, y, 0);
}

/* 1000 cases of every kind, then 1000 depthwise ones, 1000 for the packed
 * conv kernels, 1000 of their pointwise layers (their own paths) and 1000 whose
 * groups have more channels than positions (mode 4: at two threads, the split by
 * channel chunks where the rows are decoded). */
static void test_qconv_random(void)
{
    int bad = 0, vnni = 0, other = 0, depthwise = 0, packed_s4 = 0, packed_s3 = 0, packed_s2 = 0, pointwise = 0,
        stride2 = 0, masked_runs = 0, amx_runs = 0, amx_layers = 0, amx_deep = 0, fold_layers = 0;
    const int per_kind = fgq_test_cases(1000), n_cases = 5 * per_kind;
    /* AMX where the OS grants this process the tile state: every case once more with it, 1 and 2
     * threads (the kernels take their layouts; the others run as before) */
    const uint32_t amx = fgq_host_cpu_grants();
    for (int it = 0; it < n_cases && bad < 5; it++) {
        ccase c;
        make_case(&c, it, it / per_kind);
        const int64_t ny = c.n * c.m * prod3(c.out);
        uint8_t *y_ref = calloc((size_t)ny, 1), *y_auto = calloc((size_t)ny, 1), *y_par = calloc((size_t)ny, 1);
        int ok = run_conv(&c, FGQ_KERNELS_REF, NULL, y_ref) == FGQ_OK;
        ok &= run_conv(&c, FGQ_KERNELS_AUTO, NULL, y_auto) == FGQ_OK;
        ok &= run_conv(&c, FGQ_KERNELS_AUTO, fgq_threadpool_parallel(pool2), y_par) == FGQ_OK;
        /* the rows a smaller CPU would take, on this one: AVX-512 VNNI without VBMI (the int16-pair
         * depthwise row, stride-2 layers through im2col) and AVX2 alone */
        static const uint32_t masks[2] = { FGQ_CPU_QUERIED | FGQ_CPU_AVX2 | FGQ_CPU_AVX512VNNI,
                                           FGQ_CPU_QUERIED | FGQ_CPU_AVX2 };
        for (int mi = 0; mi < 2 && ok; mi++) {
            const uint32_t cpu = fgq_cpu_features();
            if ((cpu & masks[mi]) != masks[mi] || (cpu & ~masks[mi] & ~(uint32_t)FGQ_CPU_QUERIED) == 0)
                continue; /* the CPU lacks the row, or has nothing beyond it (the AUTO run above) */
            uint8_t *y_msk = calloc((size_t)ny, 1);
            const int same = run_conv_cpu(&c, FGQ_KERNELS_AUTO, NULL, y_msk, masks[mi]) == FGQ_OK &&
                             memcmp(y_ref, y_msk, (size_t)ny) == 0;
            if (!same)
                fprintf(stderr, "  case %d: under CPU features %#x the bytes differ from the reference\n", it,
                        (unsigned)masks[mi]);
            ok &= same;
            masked_runs++;
            free(y_msk);
        }
        for (int th = 0; th < 2 && ok && amx != 0; th++) {
            uint8_t *y_amx = calloc((size_t)ny, 1);
            const int same = run_conv_cpu(&c, FGQ_KERNELS_AUTO, th ? fgq_threadpool_parallel(pool2) : NULL, y_amx,
                                          fgq_cpu_features() | amx) == FGQ_OK &&
                             memcmp(y_ref, y_amx, (size_t)ny) == 0;
            if (!same)
                fprintf(stderr, "  case %d: with AMX (%d threads) the bytes differ from the reference\n", it, th + 1);
            ok &= same;
            amx_runs++;
            free(y_amx);
        }
        if (!ok || memcmp(y_ref, y_auto, (size_t)ny) != 0 || memcmp(y_ref, y_par, (size_t)ny) != 0) {
            int64_t first = 0;
            while (first < ny && y_ref[first] == y_auto[first] && y_ref[first] == y_par[first])
                first++;
            fprintf(stderr,
                    "  case %d: ns %d n %lld c %lld m %lld g %lld K %lld w %s gs %d group %d n_alpha %d x %s zx %d: "
                    "y[%lld] ref %d auto %d par %d\n",
                    it, c.ns, (long long)c.n, (long long)c.c, (long long)c.m, (long long)c.g, (long long)c.kk,
                    fgq_dtype_name(c.wdt), c.has_gs, c.group, c.n_alpha, fgq_dtype_name(c.xdt), c.zx, (long long)first,
                    first < ny ? y_ref[first] : -1, first < ny ? y_auto[first] : -1, first < ny ? y_par[first] : -1);
            bad++;
        }
        fgq_qweights qw;
        memset(&qw, 0, sizeof qw);
        qw.has_gs = c.has_gs;
        qw.group = c.group;
        qw.n_alpha = c.n_alpha;
        qw.k = c.kk;
        qw.dtype = c.wdt;
        qw.mmax = c.mmax;
        const int amx_layer = c.g != c.m && fgq_qweights_fold_s8(&qw) && c.m / c.g >= 16 && it / per_kind >= 2;
        amx_layers += amx_layer;
        amx_deep += amx_layer && c.kk > FGQ_QCONV_PACK_MAX_K && c.kk <= FGQ_QCONV_AMX_MAX_K;
        /* the rows decoded to s8 with their multipliers, on the s8 VNNI kernel (without AMX) */
        qw.has_gs = c.has_gs;
        fold_layers += c.g != c.m && it / per_kind >= 2 && fgq_qweights_fold_s8(&qw) && (c.wdt != FGQ_DT_S8 || c.has_gs) &&
                       c.kk <= FGQ_QCONV_PACK_MAX_K && fgq_qconv_fold_cache_bytes(c.kk, c.m / c.g) > 0;
        if (c.g == c.c && c.g == c.m)
            depthwise++;
        else if (fgq_qgemm_vnni_fits(&qw)) {
            vnni++;
            packed_s4 += it / per_kind == 2 && c.wdt == FGQ_DT_S4;
            packed_s3 += it / per_kind == 2 && c.wdt == FGQ_DT_S3;
            packed_s2 += it / per_kind == 2 && c.wdt == FGQ_DT_S2;
            pointwise += it / per_kind == 3;
            stride2 += it / per_kind == 2 && c.s[2] == 2;
        }
        else
            other++;
        free(y_ref);
        free(y_auto);
        free(y_par);
        ccase_free(&c);
    }
    CHECK_MSG(bad == 0, "%d random QCONV cases differ from the reference", bad);
    /* "other": layouts no VNNI row takes (the AVX2 rows'); s4 in the VNNI layouts left it for
     * the VNNI count when s4 got its VNNI kernels */
    CHECK(vnni >= per_kind * 23 / 20 && other >= per_kind / 10 && depthwise >= per_kind);
    CHECK(packed_s4 >= per_kind / 8 && packed_s3 >= per_kind / 8 && packed_s2 >= per_kind / 8);
#if defined(__x86_64__) || defined(__i386__)
    /* where the CPU has VNNI (and no AMX is granted): per-channel sub-byte layers and ternary with
     * multipliers up to 127 run the s8 kernel over their decoded rows, groups whose multipliers times
     * codes pass int8 the grouped kernels of their dtype */
    if (fgq_cpu_features() & FGQ_CPU_AVX512VNNI) {
        const char *s8k = "qconv_u8s8_4x32c4__avx512vnni";
        CHECK(strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_S4, 0, 64, 0), s8k) == 0 &&
              strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_S2, 0, 64, 0), s8k) == 0 &&
              strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_T2, 127, 64, 0), s8k) == 0);
        CHECK(strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_S4, 255, 64, 0), "qconv_u8s4_2x32c4__avx512vnni") == 0 &&
              strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_S3, 255, 64, 0), "qconv_u8s3_2x32c4__avx512vnni") == 0 &&
              strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_S2, 255, 64, 0), "qconv_u8s2_2x32c4__avx512vnni") == 0 &&
              strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_T2, 255, 64, 0), "qconv_u8t2_2x32c4__avx512vnni") == 0);
    }
    if ((fgq_cpu_features() | amx) & FGQ_CPU_AMXINT8)
        CHECK(strcmp(fgq_q_kernel_name(FGQ_OP_QCONV, FGQ_DT_T2, 127, 64, fgq_cpu_features() | amx),
                     "qconv_u8s8_32x32c64__amx") == 0);
#endif
    CHECK(pointwise >= per_kind / 2 && stride2 >= per_kind / 5);
    printf("  %d runs under a smaller CPU's features\n", masked_runs);
    CHECK(amx_layers >= per_kind / 2 && amx_deep >= per_kind / 200); /* packed-conv cases in the AMX kernel's layouts */
    CHECK(fold_layers >= per_kind / 2);
    printf("  %d packed-conv cases whose rows decode to s8, multipliers folded in\n", fold_layers);
    if (amx != 0)
        printf("  %d runs with AMX; %d packed-conv cases in its layouts (%d with K past the VNNI kernels')\n", amx_runs,
               amx_layers, amx_deep);
    else
        printf("  AMX: SKIPPED (the CPU or the OS does not grant it; %d packed-conv cases in its layouts)\n",
               amx_layers);
    printf("  %d cases: %d depthwise, %d in layouts the VNNI rows take (%d s4, %d s3, %d s2 packed-conv layers, %d "
           "pointwise, %d packed-conv layers with stride 2 along W), %d others\n",
           n_cases, depthwise, vnni, packed_s4, packed_s3, packed_s2, pointwise, stride2, other);
}

/* Depthwise 3-D layer with D = 1 whose only output depth reads the front
 * pad (pads_d = (1, 0), stride_d 2): every tap is padding, so the dot is 0.
 * The padded-plane depthwise path once treated depth 0 as in range (the
 * random shapes reach this geometry about once in 500 depthwise cases). */
static void test_depthwise_front_pad_d(void)
{
    int bad = 0;
    for (int it = 0; it < 20; it++) {
        ccase c;
        memset(&c, 0, sizeof c);
        c.ns = 3;
        c.n = 1;
        c.g = c.c = c.m = 8;
        const int64_t kk[3] = { 1, 3, 3 }, in[3] = { 1, 6, 6 }, pb[3] = { 1, 1, 1 }, pe[3] = { 0, 1, 1 };
        for (int j = 0; j < 3; j++) {
            c.k[j] = kk[j];
            c.in[j] = in[j];
            c.pb[j] = pb[j];
            c.pe[j] = pe[j];
            c.s[j] = j == 0 ? 2 : 1;
            c.d[j] = 1;
            c.out[j] = (in[j] + pb[j] + pe[j] - kk[j]) / c.s[j] + 1;
        }
        CHECK(c.out[0] == 1);
        c.xdt = FGQ_DT_U8;
        c.ydt = FGQ_DT_U8;
        c.zx = rin(0, 255);
        c.zy = 128;
        c.qmin = 0;
        c.qmax = 255;
        c.wdt = it % 2 ? FGQ_DT_S8 : FGQ_DT_T2;
        c.kk = 9;
        c.kp = c.wdt == FGQ_DT_T2 ? 12 : 9;
        c.row_bytes = c.wdt == FGQ_DT_T2 ? 3 : 9;
        c.group = 9;
        c.n_groups = 1;
        c.n_alpha = 1;
        c.mmax = 1;
        c.codes = calloc((size_t)(c.m * c.row_bytes), 1);
        for (int64_t i = 0; i < c.m * c.row_bytes; i++)
            c.codes[i] = (uint8_t)rnd();
        c.x = malloc(8 * 36);
        for (int i = 0; i < 8 * 36; i++)
            c.x[i] = (uint8_t)rnd();
        c.has_bias = 1;
        c.bias = malloc(sizeof(int32_t) * 8);
        c.req = malloc(sizeof(int32_t) * 16);
        for (int j = 0; j < 8; j++) {
            c.bias[j] = (int32_t)(rnd() % 2001) - 1000;
            c.req[2 * j] = 1 << 30;
            c.req[2 * j + 1] = -4;
        }
        const int64_t ny = 8 * 36;
        uint8_t y_ref[8 * 36], y_auto[8 * 36];
        CHECK(run_conv(&c, FGQ_KERNELS_REF, NULL, y_ref) == FGQ_OK);
        CHECK(run_conv(&c, FGQ_KERNELS_AUTO, NULL, y_auto) == FGQ_OK);
        bad += memcmp(y_ref, y_auto, (size_t)ny) != 0;
        ccase_free(&c);
    }
    CHECK_MSG(bad == 0, "%d of 20 front-padded depthwise cases differ from the reference", bad);
}

/* A depthwise output stage for channel 1 of 3, drawn at random: biases near the int32 ends (the
 * saturation) or within ±bias_range, multipliers from powers of two to 2^31, shifts -31..0 and,
 * one in ten, > 0; M `mmax` over k taps; u8 or s8 outputs, zero point and clamps inside the dtype. */
typedef struct {
    int32_t bias[3], req[6];
    fgq_qweights qw;
    int y_s8;
    int32_t zy, qmin, qmax;
} dw_stage;

static void dw_stage_draw(dw_stage *d, int32_t bias_range, int64_t k, int32_t mmax)
{
    memset(d, 0, sizeof *d);
    const int bc = (int)(rnd() % 4);
    d->bias[1] = bc == 0 ? INT32_MAX - rin(0, 1000) : bc == 1 ? INT32_MIN + rin(0, 1000) : rin(-bias_range, bias_range);
    d->req[2] = rnd() % 8 == 0 ? (int32_t)(1u << rin(0, 30)) : (int32_t)((1u << 30) + (rnd() % (1u << 30)));
    d->req[3] = rnd() % 10 == 0 ? rin(1, 4) : rin(-31, 0);
    d->qw.rows = 3;
    d->qw.dtype = FGQ_DT_S8;
    d->qw.k = k;
    d->qw.mmax = mmax;
    d->qw.bias = rnd() % 5 == 0 ? NULL : d->bias;
    d->qw.req = d->req;
    d->y_s8 = rin(0, 1);
    const int32_t ylo = d->y_s8 ? -128 : 0, yhi = d->y_s8 ? 127 : 255;
    d->zy = rin(ylo, yhi);
    d->qmin = rnd() % 2 ? ylo : rin(ylo, yhi);
    d->qmax = rnd() % 2 ? yhi : rin(d->qmin, yhi);
}

/* The depthwise phase form's all-taps steps of every row of the depthwise table the CPU can run
 * (qconv_dwtaps__avx512vnni, __avx2; the AVX-512 VNNI and VBMI ones with the output stage in registers)
 * against their twins fgq_qconv_dwtaps_ref and fgq_qconv_dwtaps_q_ref, memcmp, the bytes past
 * the run included: 0..40 taps (odd counts: a pair's second tap at weight 0), runs of 0..100
 * outputs (the 32-lane body, the masked tail), effective weights up to ±255·128 and, half the
 * cases, within int8 with taps in runs of adjacent bytes (the VBMI row's windows of 4), zero
 * points at both ends of u8 and s8, inputs at the extremes, weights past int16 (no file has them: the
 * AVX-512 step hands them to the AVX2 form, the fused one declines). The fused step also sees
 * biases past ±2^30 (its int32 saturation), shifts -31..0 (its rounding) and > 0 (it declines
 * and must write nothing), clamps inside the byte's range, u8 and s8 outputs. */
static void test_dwtaps_twin(void)
{
    const uint32_t cpu = fgq_cpu_features();
    int rows = 0;
    for (size_t r = 0; fgq_qconv_dw_kernel_at(r) != NULL; r++) {
        const fgq_qconv_dw_kernel *k = fgq_qconv_dw_kernel_at(r);
        if ((k->needs & cpu) != k->needs || k->taps == NULL) {
            printf("  %s: skipped, not on this CPU\n", k->name);
            continue;
        }
        rows++;
        enum { NT = 40, N = 100 };
        static uint8_t x[NT][N + 8 + NT];
        const uint8_t *src[NT];
        int32_t e[NT], a1[N + 1], a2[N + 1];
        uint8_t y1[N + 1], y2[N + 1];
        int bad = 0, bad_q = 0, fused = 0, declined = 0;
        for (int it = 0; it < 3000; it++) {
            const int32_t nt = rin(0, NT), x_s8 = rin(0, 1), edge = it % 7 == 0, wide = it % 50 == 1;
            const int64_t n = rin(0, N);
            const int32_t zx = edge ? (x_s8 ? (rnd() % 2 ? -128 : 127) : (rnd() % 2 ? 0 : 255))
                                    : (x_s8 ? rin(-128, 127) : rin(0, 255));
            /* half the cases: weights within int8 (the VBMI row's windows), and taps in runs reading
             * adjacent bytes (a row's taps in one phase plane) */
            const int narrow = it % 2 == 0, runs = it % 4 < 2;
            for (int32_t t = 0; t < nt; t++) {
                e[t] = narrow ? (edge ? (rnd() % 2 ? 127 : -128) : rin(-128, 127))
                              : edge ? (rnd() % 2 ? 255 * 128 : -255 * 128)
                                     : rin(-255 * 128, 255 * 128);
                if (wide && t == nt / 2)
                    e[t] = rnd() % 2 ? 40000 : -40000;
                for (int64_t i = 0; i < n + 8 + NT; i++)
                    x[t][i] = (uint8_t)(edge ? (rnd() % 2 ? 0x80 : 0x7f) : rnd());
                src[t] = runs && t > 0 && rnd() % 5 != 0 ? src[t - 1] + 1 : x[t] + rin(0, 8);
            }
            if (nt > 0 && n > 0 && it % 3 == 0) { /* taps sharing one source run, as two phase offsets may */
                src[nt - 1] = src[0];
            }
            memset(a1, 0x5a, sizeof a1);
            memset(a2, 0x5a, sizeof a2);
            k->taps(a1, src, e, nt, n, zx, x_s8);
            fgq_qconv_dwtaps_ref(a2, src, e, nt, n, zx, x_s8);
            bad += memcmp(a1, a2, sizeof a1) != 0; /* acc[n] too: nothing written past the run */
            if (k->taps_q == NULL)
                continue;
            /* channel 1 of 3; M 255 (so |m·code| <= 255·128 is within the layer's bound) */
            dw_stage d;
            dw_stage_draw(&d, 5000000, nt > 0 ? nt : 1, 255);
            memset(y1, 0xa5, sizeof y1);
            memset(y2, 0xa5, sizeof y2);
            if (k->taps_q(y1, src, e, nt, n, zx, x_s8, &d.qw, 1, d.zy, d.qmin, d.qmax, d.y_s8)) {
                fused++;
                fgq_qconv_dwtaps_q_ref(y2, src, e, nt, n, zx, x_s8, &d.qw, 1, d.zy, d.qmin, d.qmax, d.y_s8);
                bad_q += memcmp(y1, y2, sizeof y1) != 0;
            } else { /* declined: only for a left shift or a weight outside int16, and nothing written */
                int may = d.req[3] > 0;
                for (int32_t t = 0; t < nt; t++)
                    may |= e[t] < INT16_MIN || e[t] > INT16_MAX;
                declined++;
                bad_q += !may || memcmp(y1, y2, sizeof y1) != 0;
            }
        }
        CHECK_MSG(bad == 0, "%s: dwtaps differs from its twin in %d of 3000 cases", k->name, bad);
        CHECK_MSG(bad_q == 0, "%s: the fused dwtaps differs from its twin in %d of %d cases", k->name, bad_q,
                  fused + declined);
        CHECK(k->taps_q == NULL || (fused > 2000 && declined > 100));
    }
    if (rows == 0)
        printf("  no all-taps depthwise function on this CPU\n");
}
/* The depthwise plane form (`plane`: a whole 2-D plane from X, qconv_dwplane__avx512vbmi) of every
 * row that has one against its twin fgq_qconv_dwplane_ref, memcmp over the plane and a guard past
 * it. Scratch for the copy forms (flat, row-aligned): none (by rows from X), a random size, exactly
 * fgq_qconv_dwflat_layout's bytes (the copy form must be taken) or one byte fewer (it must not),
 * malloc'ed to the byte so that ASan sees a write past it. Planes 1..70 wide and 1..20 high (one
 * 16/32-output step, several, masked tails; rows past 64 bytes), kernels 1x1..7x7, 1x9 / 9x1 / 3x5,
 * 1x16 / 2x13 / 11x3 / 16x4 (four windows a row, sixteen rows), strides 1..3 along H and 1..4
 * along W, pads 0..4 on each side and at times up to 30 on top and 63..65 on the left (the
 * copy's front is 64 bytes), padding wider than the plane, weights at the int8 ends, zero points
 * at the ends of u8 and s8, the output stage's forms (biases past ±2^30, shifts -31..0). Each
 * set-up serves three channels (new X, weights and output stage each: the copy's rows of z_x
 * must survive), and a channel whose zero point differs from the set-up's is declined. It
 * declines a weight outside int8, a dilation or a left shift (shift > 0) and must then write
 * nothing. */
static void test_dwplane_twin(void)
{
    const uint32_t cpu = fgq_cpu_features();
    int rows = 0;
    for (size_t r = 0; fgq_qconv_dw_kernel_at(r) != NULL; r++) {
        const fgq_qconv_dw_kernel *k = fgq_qconv_dw_kernel_at(r);
        if (k->plane_prep == NULL)
            continue;
        if ((k->needs & cpu) != k->needs) {
            printf("  %s: plane form skipped, not on this CPU\n", k->name);
            continue;
        }
        rows++;
        /* OH <= IH + pads, OW <= IW + pads */
        enum { MAXX = 70 * 20, MAXY = (20 + 30 + 4) * (70 + 65 + 4) + 64, MAXK = 81 };
        static uint8_t x[MAXX], y1[MAXY], y2[MAXY];
        int32_t e[MAXK];
        static const int32_t shapes[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 9},  {9, 1},  {3, 5},  {2, 2},
                                            {1, 3}, {3, 1}, {4, 4}, {6, 2}, {1, 16}, {2, 13}, {11, 3}, {16, 4}};
        int bad = 0, taken = 0, declined = 0, flat = 0, aligned = 0, exact = 0, mismatch = 0;
        for (int it = 0; it < 4000; it++) {
            fgq_qconv_dwplane_geom g;
            const int32_t *sh = shapes[rnd() % (sizeof shapes / sizeof shapes[0])];
            g.KH = sh[0];
            g.KW = sh[1];
            g.IH = rin(1, 20);
            g.IW = it % 5 == 0 ? rin(60, 70) : rin(1, 40);
            g.sh = rin(1, 3);
            g.sw = it % 9 == 0 ? 4 : it % 7 == 0 ? 3 : rin(1, 2);
            g.dh = it % 31 == 0 ? 2 : 1;
            g.dw = it % 37 == 0 ? 2 : 1;
            g.pt = it % 17 == 0 ? rin(0, 30) : it % 11 == 0 ? rin(0, 8) : rin(0, 2);
            g.pl = it % 29 == 0 ? rin(63, 65) : it % 13 == 0 ? rin(0, 8) : rin(0, 2);
            const int64_t pb = rin(0, 4), pr = rin(0, 4);
            const int64_t eh = (g.KH - 1) * g.dh + 1, ew = (g.KW - 1) * g.dw + 1;
            if (g.IH + g.pt + pb < eh || g.IW + g.pl + pr < ew)
                continue;
            g.OH = (g.IH + g.pt + pb - eh) / g.sh + 1;
            g.OW = (g.IW + g.pl + pr - ew) / g.sw + 1;
            const int32_t x_s8 = rin(0, 1), edge = it % 7 == 0;
            const int32_t zx = edge ? (x_s8 ? (rnd() % 2 ? -128 : 127) : (rnd() % 2 ? 0 : 255))
                                    : (x_s8 ? rin(-128, 127) : rin(0, 255));
            const int64_t need = fgq_qconv_dwflat_layout(&g, NULL);
            const int sc = it % 5; /* the scratch: none, random, exact, one byte short, plenty */
            const int64_t sb = sc == 0 ? 0 : sc == 1 ? 64 * rin(1, 40) : sc == 2 ? need : sc == 3 ? need - 1 : 65536;
            uint8_t *scratch = sb > 0 ? (uint8_t *)malloc((size_t)sb) : NULL;
            fgq_qconv_dwplane_prep prep;
            const int fits = k->plane_prep(&prep, &g, zx, x_s8, scratch, sb > 0 ? sb : 0);
            if (fits && need > 0 && (sc == 2 || sc == 3)) { /* the copy form exactly when its bytes are there */
                exact++;
                bad += prep.flat != (sc == 2);
            }
            for (int ch = 0; ch < 3; ch++) { /* one set-up, three channels */
                for (int64_t i = 0; i < g.IH * g.IW; i++)
                    x[i] = (uint8_t)(edge ? (rnd() % 2 ? 0x80 : 0x7f) : rnd());
                const int wide = (it + ch) % 23 == 0;
                for (int64_t t = 0; t < g.KH * g.KW; t++)
                    e[t] = edge ? (rnd() % 2 ? 127 : -128) : rin(-128, 127);
                if (wide)
                    e[rin(0, (int32_t)(g.KH * g.KW - 1))] = rnd() % 2 ? 200 : -300;
                dw_stage d;
                dw_stage_draw(&d, 500000, g.KH * g.KW, 1);
                memset(y1, 0xa5, sizeof y1);
                memset(y2, 0xa5, sizeof y2);
                if (fits && prep.flat && ch == 2 && it % 4 == 0) { /* a zero point the copy was not made for */
                    mismatch++;
                    bad += k->plane(y1, x, &prep, e, zx == 0 ? 1 : zx - 1, x_s8, &d.qw, 1, d.zy, d.qmin, d.qmax,
                                    d.y_s8) != 0 ||
                           memcmp(y1, y2, sizeof y1) != 0;
                    continue;
                }
                if (fits && k->plane(y1, x, &prep, e, zx, x_s8, &d.qw, 1, d.zy, d.qmin, d.qmax, d.y_s8)) {
                    taken++;
                    flat += prep.flat;
                    aligned += prep.flat && prep.by_rows;
                    CHECK(fgq_qconv_dwplane_ref(y2, x, &g, e, zx, x_s8, &d.qw, 1, d.zy, d.qmin, d.qmax, d.y_s8) == 1);
                    bad += memcmp(y1, y2, sizeof y1) != 0; /* the guard past the plane too */
                } else { /* declined (set-up or channel): only for a dilation, a left shift, a weight outside
                          * int8 or a stride and kernel whose windows pass a load; nothing written */
                    const int may =
                        d.req[3] > 0 || wide || g.dh != 1 || g.dw != 1 || 15 * g.sw + 4 * ((g.KW + 3) / 4) > 64;
                    declined++;
                    bad += !may || memcmp(y1, y2, sizeof y1) != 0;
                }
            }
            free(scratch);
        }
        CHECK_MSG(bad == 0, "%s: the plane form differs from its twin in %d of %d cases", k->name, bad,
                  taken + declined + exact + mismatch);
        CHECK_MSG(taken > 7000 && declined > 600 && flat - aligned > 900 && aligned > 300 && taken - flat > 2000 &&
                      exact > 500 && mismatch > 50,
                  "%s: plane form took %d cases (%d from the copy, %d of them row-aligned), declined %d; %d exact "
                  "scratch sizes, %d zero-point mismatches",
                  k->name, taken, flat, aligned, declined, exact, mismatch);
    }
    if (rows == 0)
        printf("  no depthwise plane form on this CPU\n");
}

/* The 64-codes-a-step ternary decode against its twin fgq_qconv_fold_decode, byte for byte over whole
 * rows (codes, the zeros to ⌈K/4⌉·4, C): K from 1 to 4700 (every tail, and ResNet's 4608), groups of
 * 64, 128, 192 and one over the row, one or two multipliers a group, multipliers up to and past the
 * cap mmax, rows holding the invalid code 3 and codes past K in the last byte (they decode to 0). */
static void test_fold_t2_twin(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const uint32_t need = FGQ_CPU_AVX512VNNI | FGQ_CPU_AVX512VBMI;
    if ((fgq_cpu_features() & need) != need) {
        printf("  fold_decode_t2__avx512vbmi: skipped, not on this CPU\n");
        return;
    }
    int bad = 0, cases = 0;
    for (int it = 0; it < 300; it++) {
        const int64_t K = it < 20 ? 1 + it * 3 : it % 7 == 0 ? 4608 : rin(1, 4700), rows = rin(1, 9);
        static const int64_t groups[] = { 64, 128, 192, 1 << 20 };
        const int64_t G = groups[it % 4] < K ? groups[it % 4] : K;
        const int32_t n_alpha = 1 + (it / 4) % 2, mmax = it % 5 == 0 ? rin(1, 127) : 127;
        fgq_qweights qw = { .dtype = FGQ_DT_T2, .rows = rows, .k = K, .row_bytes = (K + 3) / 4, .group = G,
                            .n_groups = (K + G - 1) / G, .n_alpha = n_alpha, .mmax = mmax, .has_gs = 1 };
        uint8_t *codes = malloc((size_t)(rows * qw.row_bytes)), *gs = malloc((size_t)(rows * qw.n_groups * n_alpha));
        for (int64_t i = 0; i < rows * qw.row_bytes; i++)
            codes[i] = (uint8_t)rnd(); /* 3s and bits past K included */
        for (int64_t i = 0; i < rows * qw.n_groups * n_alpha; i++)
            gs[i] = (uint8_t)rin(1, 127);
        qw.codes = codes;
        qw.gs = gs;
        const int64_t rb = fgq_qconv_wrow_bytes(K), bytes = rows * rb;
        uint8_t *a = malloc((size_t)bytes), *b = malloc((size_t)bytes);
        memset(a, 0x5a, (size_t)bytes);
        memset(b, 0xa5, (size_t)bytes);
        CHECK(fgq_qconv_fold_t2_fits(&qw));
        fgq_qconv_fold_decode(&qw, 0, rows, a);
        fgq_qconv_fold_decode_t2__avx512vbmi(&qw, 0, rows, b);
        for (int64_t i = 0; i < rows; i++) /* each row's bytes up to its C (the rest is the row's slack) */
            bad += memcmp(a + i * rb, b + i * rb, (size_t)((K + 3) / 4 * 4 + 4)) != 0;
        cases += (int)rows;
        free(codes);
        free(gs);
        free(a);
        free(b);
    }
    CHECK_MSG(bad == 0, "the 64-a-step ternary decode differs from its twin in %d of %d rows", bad, cases);
    fgq_qweights s8 = { .dtype = FGQ_DT_S8, .has_gs = 1, .group = 64, .k = 128 }, g32 = { .dtype = FGQ_DT_T2, .has_gs = 1, .group = 32, .k = 128 };
    CHECK(!fgq_qconv_fold_t2_fits(&s8) && !fgq_qconv_fold_t2_fits(&g32));
#endif
}

int main(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (!fgq_cpu_has_avx2()) {
        printf("test_qconv_kernels: skipped, this CPU has no AVX2\n");
        return FGQ_TEST_SKIPPED;
    }
#elif defined(__aarch64__)
    if ((fgq_cpu_features() & FGQ_CPU_ASIMDDP) == 0) {
        printf("test_qconv_kernels: skipped, this CPU has no dotprod (SDOT)\n");
        return FGQ_TEST_SKIPPED;
    }
#else
    printf("test_qconv_kernels: skipped, neither x86 nor AArch64\n");
    return FGQ_TEST_SKIPPED;
#endif
    fgq_error err;
    if (fgq_threadpool_create(2, &pool2, &err) != FGQ_OK) {
        fprintf(stderr, "threadpool: %s\n", err.msg);
        return 1;
    }
    RUN(test_qconv_random);
    RUN(test_depthwise_front_pad_d);
    RUN(test_dwtaps_twin);
    RUN(test_dwplane_twin);
    RUN(test_fold_t2_twin);
    fgq_threadpool_destroy(pool2);
    return FGQ_TEST_DONE();
}
