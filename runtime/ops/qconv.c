/*
 * qconv.c — QCONV: integer-only convolution, 1-D/2-D/3-D, NCHW u8|s8.
 *
 *   dot[n, m, o] = Σ_k w[m, k] · (x[n, c(k), o·s − pb + tap(k)·d] − z_x)
 *
 * over k = ((c·KD + kd)·KH + kh)·KW + kw < K = (C/G)·KD·KH·KW, channels of
 * m's group; taps in the padding read z_x (contribute 0, so padding is 0.0).
 * Weights W [M, Kp] carry one packed row per output channel (ops_q.h,
 * fgq_qacc: per-group integer multipliers); then
 *   y = clamp(z_y + requant(sat32(B[m] + dot), REQ[m]), qmin, qmax).
 * The spatial block is the float Conv's (runtime/fgq_ops.h) with kernel dims
 * from iparams, since W is a 2-D packed matrix.
 *
 * Two paths, the same integers. Where the QGEMM kernel row selected for the
 * weights is an optimized one (qgemm_dispatch.c), tiles of output positions
 * are gathered into im2col rows of K bytes (padding taps = z_x) in the
 * node's scratch slice and handed to that GEMM kernel and its output stage; tasks (batch,
 * group, tile) are split over node->par. Otherwise (the reference kernels,
 * as on a microcontroller, or K past the tile budget) each output is one
 * fgq_qconv_dot, with no buffer at all. Depthwise layers (group = C_in =
 * C_out) on such CPUs take a third: per channel, effective tap weights
 * m·code, then runs of outputs sum every tap at once (or tap by tap) through
 * the depthwise table's row for the CPU (qgemm_dispatch.c).
 *
 * Scratch (fgq_ops.h): every buffer of the two fast paths lives in the
 * caller's scratch slice, one per thread; fgq_qconv_scratch declares the
 * larger of the two paths' needs from the node's shapes (qconv_gemm_plan,
 * qconv_dw_plan), whatever the kernels at run. The stack holds no buffer.
 *
 * Firmware compiles this file with its model's op selection (op_select.h):
 * the paths (FGQ_QCONV_PATH_*) none of the model's layers takes on the
 * target are left out. A layer whose path is out takes the next that stays
 * (GEMM, then the reference); where none does, the load fails naming the
 * node (fgq_qconv_check), so a wrong selection can cost time, never bytes.
 */
#include "op_select.h"
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

#include <string.h>

typedef struct {
    fgq_qconv_geom geom;
    fgq_qweights qw;
} qconv_shape;

/* Where a run's outputs go: QCONV's codes (requantized, y_s8, zy, qmin, qmax), or (fo != NULL)
 * QCONV_DYN's floats through its output stage (fgq_qconv_run_fout); zx: X's zero point. */
typedef struct {
    void *y;
    int y_s8;
    int32_t zx, zy, qmin, qmax;
    const fgq_qconv_fout *fo;
} qconv_out;

fgq_status fgq_qconv_geom_check(const fgq_node_view *node, const fgq_tensor_view *x, const fgq_tensor_view *y,
                                fgq_qconv_geom *g, fgq_error *err)
{
    fgq_status st = fgq_ops_read_spatial(node, x, NULL, y, 0, &g->sp, err);
    if (st != FGQ_OK)
        return st;
    const int64_t groups = node->iparams[FGQ_P_GROUP], c = x->dims[1], m = y->dims[1];
    if (groups < 1 || c % groups != 0 || m % groups != 0)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "group %lld must be >= 1 and divide C_in %lld and C_out %lld",
                        FGQ_NODE_ARGS(node), (long long)groups, (long long)c, (long long)m);
    if (y->dims[0] != x->dims[0])
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y batch %lld, expected %lld", FGQ_NODE_ARGS(node),
                        (long long)y->dims[0], (long long)x->dims[0]);
    /* K = (C/G)·Πkernel, each factor <= 2^40 or 2^20: stop once past int32. */
    int64_t k = c / groups;
    for (int32_t j = 0; j < 3 && k <= INT32_MAX; j++)
        k *= g->sp.kernel[j];
    g->groups = groups;
    g->k = k;
    return FGQ_OK;
}

int32_t fgq_qconv_dot(const fgq_qconv_geom *g, const fgq_qweights *qw, const fgq_tensor_view *x, int32_t zx,
                      fgq_idx n, fgq_idx mo, fgq_idx od, fgq_idx oh, fgq_idx ow)
{
    const fgq_ops_spatial *sp = &g->sp;
    const int x_s8 = x->dtype == FGQ_DT_S8;
    const fgq_idx c_in = x->dims[1], cg = c_in / g->groups, mg = qw->rows / g->groups;
    const fgq_idx ID = sp->in[0], IH = sp->in[1], IW = sp->in[2], x_plane = ID * IH * IW;
    const uint8_t *wrow = qw->codes + mo * qw->row_bytes;
    const fgq_idx c0 = (mo / mg) * cg;
    fgq_qacc a;
    fgq_qacc_begin(&a, qw, mo);
    fgq_idx k = 0;
    for (fgq_idx c = 0; c < cg; c++) {
        const void *xp = (const uint8_t *)x->data + (n * c_in + c0 + c) * x_plane;
        for (fgq_idx kd = 0; kd < sp->kernel[0]; kd++) {
            const fgq_idx id = od * sp->stride[0] - sp->pad_begin[0] + kd * sp->dilation[0];
            for (fgq_idx kh = 0; kh < sp->kernel[1]; kh++) {
                const fgq_idx ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                for (fgq_idx kw = 0; kw < sp->kernel[2]; kw++, k++) {
                    const fgq_idx iw = ow * sp->stride[2] - sp->pad_begin[2] + kw * sp->dilation[2];
                    const int inside = id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW;
                    const int32_t d = inside ? fgq_q_load(xp, (id * IH + ih) * IW + iw, x_s8) - zx : 0;
                    fgq_qacc_push(&a, fgq_qw_code(qw->dtype, wrow, k), d);
                }
            }
        }
    }
    return fgq_qacc_end(&a);
}

static fgq_status qconv_check_all(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                  const fgq_tensor_view *const *out, qconv_shape *s, fgq_error *err)
{
    if (node->n_inputs < 4 || node->n_inputs > 5 || node->n_outputs != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 4..5 / 1",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs);
    if (in == NULL || out == NULL || out[0] == NULL || in[0] == NULL || in[1] == NULL || in[3] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "X, W, REQ and the output are required",
                        FGQ_NODE_ARGS(node));
    for (int32_t i = 0; i < node->n_inputs; i++) {
        fgq_status st = in[i] != NULL ? fgq_ops_check_tensor(node, in[i], "input", i, err) : FGQ_OK;
        if (st != FGQ_OK)
            return st;
    }
    const fgq_tensor_view *x = in[0], *y = out[0];
    const fgq_tensor_view *gs = node->n_inputs > 4 ? in[4] : NULL;
    fgq_status st = fgq_ops_check_tensor(node, y, "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, x, "input", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_act(node, y, "output", 0, err);
    if (st == FGQ_OK)
        st = fgq_q_check_zero(node, x->dtype, node->iparams[FGQ_QP_X_ZERO], "input zero point", err);
    if (st == FGQ_OK)
        st = fgq_q_check_out(node, y, err);
    if (st == FGQ_OK && node->iparams[FGQ_P_ACT] != FGQ_ACT_NONE)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "fused activation %d: QCONV fuses it as the clamp range",
                        FGQ_NODE_ARGS(node), (int)node->iparams[FGQ_P_ACT]);
    if (st == FGQ_OK)
        st = fgq_qconv_geom_check(node, x, y, &s->geom, err);
    if (st != FGQ_OK)
        return st;
    return fgq_qweights_check(node, in[1], in[2], in[3], gs, y->dims[1], s->geom.k, x->dtype, &s->qw, err);
}

static uint32_t qconv_path_of(const qconv_shape *s, const fgq_tensor_view *x, const fgq_target *target, int dw_row,
                              int gemm_row, uint32_t built);

fgq_status fgq_qconv_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    qconv_shape s;
    fgq_status st = qconv_check_all(node, in, out, &s, err);
    if (st == FGQ_OK)
        st = fgq_qweights_check_req(node, in[3], &s.qw, err);
    if (st != FGQ_OK || FGQ_QCONV_PATHS_BUILT == FGQ_QCONV_PATHS_ALL)
        return st;
    /* a build with paths left out (op_select.h): the path this node takes here must be in it */
    const int32_t kernels = fgq_node_kernels(node);
    const uint32_t cpu = fgq_node_cpu(node);
    const int dw_row = fgq_qconv_dw_kernel_select(kernels, cpu) != NULL;
    const int gemm_row = fgq_qgemm_kernel_select(s.qw.dtype, kernels, cpu, &s.qw)->dot != fgq_qgemm_dot_ref;
    if (qconv_path_of(&s, in[0], fgq_target_build(), dw_row, gemm_row, FGQ_QCONV_PATHS_BUILT) == 0)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        FGQ_NODE_FMT "it takes the %s path on this build, which its op selection leaves out "
                        "(FGQ_QCONV_ON_*), with every path after it: rebuild with the model's own NAME_ops.h",
                        FGQ_NODE_ARGS(node), fgq_qconv_path_name(qconv_path_of(&s, in[0], fgq_target_build(), dw_row,
                                                                               gemm_row, FGQ_QCONV_PATHS_ALL)));
    return FGQ_OK;
}

/* im2col tile budget (the target's qconv_tile_*, fgq_target.h: ~96 KB of
 * scratch on application cores, ~20 KB on microcontrollers, where larger K
 * or padded copies take the per-tap border path, the same integers a little
 * slower): positions × K bytes of im2col rows, and two int32 blocks of
 * positions × min(tile channels, M/G) channels (the dots, and the same
 * transposed so that the output stage runs along a channel's positions), in
 * the node's scratch slice (qconv_gemm_plan sizes it from the shapes). */

static uint64_t qconv_align64(int64_t x) { return ((uint64_t)x + 63u) & ~(uint64_t)63u; }

/* The decoded rows of one channel chunk where QCONV splits by chunks with its tiles packed once
 * (qconv_run_gemm): small enough to stay in a core's L2 while every tile runs over them. */
#define QCONV_CHUNK_BYTES ((int64_t)256 << 10)

/* The GEMM path's tiling and its slice layout, from the node's shapes and
 * the target alone: the scratch declared at load and the run agree by
 * construction. */
typedef struct {
    fgq_idx tp, tiles, positions; /* positions per tile, tiles per (image, group) */
    fgq_idx jb;                   /* channels per block: min(the tile channels, channels per group) */
    int padded;                   /* 2-D with padding, small: im2col from a z_x-padded copy */
    int packable;                 /* x86-64: the shape and weights fit a packed conv kernel (the CPU decides) */
    fgq_ops_spatial psp;          /* the geometry on that copy (no padding) */
    int wcache;                   /* packable by a kernel with `decode`: the group's rows decoded once a slice */
    int amx;                      /* x86-64, packable: the AMX kernel takes the weights (the CPU decides) */
    int fold;                     /* x86-64, packable: rows decoded to s8, multipliers folded in, for the s8 VNNI
                                   * kernel (fgq_qweights_fold_s8; GS or not s8; in the row cache) */
    uint64_t buf, pbuf, dot, dot_t, gwork, work, wrows, agrp, bytes; /* offsets in the slice; its size */
    uint64_t wrows_bytes;         /* the row cache's bytes (wcache) */
} qconv_gemm_plan;

/* 0 when the GEMM path cannot apply (K past the tile budget). */
static int qconv_gemm_plan_make(const qconv_shape *s, const fgq_tensor_view *x, const fgq_target *target,
                                qconv_gemm_plan *p)
{
    const fgq_idx K = s->geom.k, tile_bytes = target->qconv_tile_bytes, tile_positions = target->qconv_tile_positions;
    memset(p, 0, sizeof *p);
    if (K > tile_bytes)
        return 0;
    const fgq_ops_spatial *sp = &s->geom.sp;
    p->positions = sp->out[0] * sp->out[1] * sp->out[2];
    p->tp = tile_bytes / K < tile_positions ? tile_bytes / K : tile_positions;
    if (p->tp > 4)
        p->tp &= ~(int64_t)3;
    p->tiles = (p->positions + p->tp - 1) / p->tp;
    /* small padded 2-D layers: border positions would take the slow per-tap path; a padded
     * copy per (image, group) makes every position interior */
    const fgq_idx cg = x->dims[1] / s->geom.groups, pad_bytes = target->qconv_pad_bytes;
    /* each <= 2^26 + 2^21 (a tensor's dim and two pads): the product is bounded by division */
    const fgq_idx ph = sp->in[1] + sp->pad_begin[1] + sp->pad_end[1], pw = sp->in[2] + sp->pad_begin[2] + sp->pad_end[2];
    p->padded = sp->in[0] == 1 && sp->kernel[0] == 1 && sp->out[0] == 1 && sp->pad_begin[0] == 0 &&
                (ph != sp->in[1] || pw != sp->in[2]) && ph <= pad_bytes && pw <= pad_bytes / ph &&
                cg <= pad_bytes / (ph * pw);
    if (p->padded) {
        p->psp = *sp;
        p->psp.in[1] = ph;
        p->psp.in[2] = pw;
        p->psp.pad_begin[1] = p->psp.pad_begin[2] = p->psp.pad_end[1] = p->psp.pad_end[2] = 0;
    }
    const fgq_idx mg = s->qw.rows / s->geom.groups;
    p->jb = mg < target->qconv_tile_channels ? mg : target->qconv_tile_channels;
    fgq_idx tp_dot = p->tp;
    /* x86-64: weights a packed conv kernel takes (fgq_qconv_kernel_for), 2-D, stride 1 along W (or 2, where the
     * CPU has VBMI: qconv_run_gemm): the packed conv kernels, 32 positions a tile, reading X (and its padding)
     * themselves */
#if defined(__x86_64__) || defined(__i386__)
    const fgq_qconv_kernel *conv = fgq_qconv_kernel_for(&s->qw);
#else
    const void *conv = NULL;
#endif
    /* x86-64: the AMX kernel, where the CPU has it, for its layouts (fgq_qweights_fold_s8) and groups
     * of 16+ channels (a block of 16 weight rows is read in place) whose constants fit
     * FGQ_QCONV_AMX_GROUP_BYTES */
#if defined(__x86_64__)
    const int s8rows = fgq_qweights_fold_s8(&s->qw);
    const int amx = s8rows && mg >= 16 && mg * FGQ_QCONV_AMX_GROUP_ROW <= FGQ_QCONV_AMX_GROUP_BYTES;
    const int decoded_s8 = s8rows && (s->qw.dtype != FGQ_DT_S8 || s->qw.has_gs); /* rows decoded, multipliers folded */
    const int fold = decoded_s8 && fgq_qconv_fold_cache_bytes(K, mg) > 0;
#else
    const int amx = 0, fold = 0, decoded_s8 = 0;
#endif
    const int geo = target->qconv_packed && sp->in[0] == 1 && sp->kernel[0] == 1 && sp->out[0] == 1 &&
                    sp->pad_begin[0] == 0 && (sp->stride[2] == 1 || sp->stride[2] == 2);
    p->amx = geo && amx && K <= FGQ_QCONV_AMX_MAX_K;
    p->fold = geo && fold && K <= FGQ_QCONV_PACK_MAX_K;
    p->packable = p->amx || p->fold || (geo && conv != NULL && K <= FGQ_QCONV_PACK_MAX_K);
    if (p->packable && tp_dot < FGQ_QCONV_PACK_TP)
        tp_dot = FGQ_QCONV_PACK_TP;
    uint64_t off = 0;
    p->buf = off;
    off += qconv_align64(p->tp * K + 8); /* + slack for the 4- and 8-byte tap rows */
    p->pbuf = off;
    off += p->padded ? qconv_align64(cg * ph * pw) : 0;
    p->dot = off;
    off += qconv_align64((int64_t)sizeof(int32_t) * tp_dot * p->jb);
    p->dot_t = off;
    off += qconv_align64((int64_t)sizeof(int32_t) * p->tp * p->jb);
    p->gwork = off; /* the GEMM kernel's work (fgq_qgemm_gemm_work_bytes) */
    off += qconv_align64(fgq_qgemm_gemm_work_bytes(&s->qw, target));
    p->work = off;
    off += p->packable ? qconv_align64(fgq_qconv_pack_work_bytes(K)) : 0;
    /* the packed kernels with a decode (all but s8 per channel): the group's weight rows decoded once for all its
     * tiles in the slice, where they fit (fgq_qconv_wcache_bytes; rows folded into s8 for the AMX or the s8
     * VNNI kernel: fgq_qconv_fold_cache_bytes) */
#if defined(__x86_64__) || defined(__i386__)
    const int decodes = (conv != NULL && conv->decode != NULL) || p->fold || (amx && (s->qw.dtype != FGQ_DT_S8 || s->qw.has_gs));
    int64_t cache = decoded_s8 && (p->fold || p->amx) ? fgq_qconv_fold_cache_bytes(K, mg) : fgq_qconv_wcache_bytes(K, mg);
    p->wcache = p->packable && decodes && cache > 0;
    /* room for qconv_run_gemm's pcache (one image, one group, more channels than positions): one
     * block's rows (jb: 64 on x86-64) beside every tile packed, where that passes the group's rows
     * (ResNet's 14x14 3x3x256 layers: 303 KB of rows, 383 KB so; without it two threads packed each
     * tile twice) */
    if (p->wcache && decoded_s8 && (p->fold || p->amx) && x->dims[0] * s->geom.groups == 1 && mg > p->positions) {
        const int64_t pcache = (int64_t)qconv_align64(p->jb * fgq_qconv_wrow_bytes(K)) +
                               (p->positions + FGQ_QCONV_PACK_TP - 1) / FGQ_QCONV_PACK_TP *
                                   (int64_t)qconv_align64(fgq_qconv_pack_work_bytes(K));
        if (pcache > cache && pcache <= FGQ_QCONV_FOLD_CACHE_BYTES)
            cache = pcache;
    }
#else
    const int64_t cache = 0;
    (void)decoded_s8;
#endif
    p->wrows = off;
    p->wrows_bytes = p->wcache ? qconv_align64(cache) : 0;
    off += p->wrows_bytes;
    p->agrp = off; /* AMX: the group's rows' constants (fgq_qconv_amx_group) */
    off += p->amx ? qconv_align64(mg * FGQ_QCONV_AMX_GROUP_ROW) : 0;
    p->bytes = off;
    return 1;
}

typedef struct {
    const fgq_node_view *node;
    const qconv_shape *s;
    const fgq_qgemm_kernel *kern;
    const fgq_tensor_view *x;
    uint8_t *y; /* codes, when fo is NULL */
    float *yf;  /* floats through fo (QCONV_DYN) */
    const fgq_qconv_fout *fo;
    fgq_qconv_fout_fn fout; /* its output stage: the twin or a CPU's */
    int x_s8, y_s8;
    int32_t zx, zy, qmin, qmax;
    int packed;                   /* the packed VNNI conv kernels instead of im2col + GEMM */
    int amx;                      /* packed, on the AMX kernel */
    int fold;                     /* packed, on the s8 VNNI kernel over rows decoded with their multipliers */
    int t2vbmi;                   /* amx or fold, ternary rows decoded 64 codes a step (AVX-512 VBMI) */
#if defined(__x86_64__) || defined(__i386__)
    const fgq_qconv_kernel *conv; /* the packed kernel, when packed */
#endif
    qconv_gemm_plan p;            /* tp, tiles: the packed kernels' when packed */
    fgq_idx csplit, cchunk;       /* a tile's output channels in csplit tasks of cchunk (a multiple of
                                   * p.jb): more than one when tiles are few (qconv_run_gemm) */
    int cmajor;                   /* tasks channel chunk by channel chunk, each over every tile, and each
                                   * slice decodes only its chunk's rows, at the row cache's start (else
                                   * tile by tile, the group's rows decoded once a slice) */
    int pcache;                   /* cmajor: every tile's packed taps kept in the row cache after the
                                   * chunk's rows (pc_off, pc_stride apart), packed once a slice */
    uint64_t pc_off, pc_stride;
} qconv_task;

/* Positions [p0, p0 + np) as rows of K bytes, from the group's channels at
 * xg (channel planes of sp->in, read with the geometry sp). */
static void qconv_im2col(const qconv_task *t, const fgq_ops_spatial *sp, const uint8_t *xg, fgq_idx p0, fgq_idx np,
                         uint8_t *buf)
{
    const fgq_idx K = t->s->geom.k, cg = t->x->dims[1] / t->s->geom.groups;
    const fgq_idx ID = sp->in[0], IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const fgq_idx KD = sp->kernel[0], KH = sp->kernel[1], KW = sp->kernel[2];
    const uint8_t pad = (uint8_t)t->zx; /* the byte of z_x in X's dtype */
    if (K == cg && sp->stride[0] == 1 && sp->stride[1] == 1 && sp->stride[2] == 1 && sp->pad_begin[0] == 0 &&
        sp->pad_begin[1] == 0 && sp->pad_begin[2] == 0 && sp->out[0] == ID && sp->out[1] == IH && sp->out[2] == IW) {
        /* 1×1, stride 1, no padding: a transpose of [cg, positions] (same dims in and out) */
        const fgq_idx plane = ID * IH * IW;
        for (fgq_idx r = 0; r < np; r++) {
            uint8_t *row = buf + r * K;
            const uint8_t *src = xg + p0 + r;
            for (fgq_idx c = 0; c < cg; c++, src += plane)
                row[c] = *src;
        }
        return;
    }
    /* the position's (od, oh, ow), stepped along instead of divided out per row: 64-bit
     * division is a library call on 32-bit cores */
    fgq_idx nw = p0 % OW, nh = (p0 / OW) % OH, nd = p0 / (OW * OH);
    for (fgq_idx r = 0; r < np; r++) {
        const fgq_idx ow = nw, oh = nh, od = nd;
        if (++nw == OW) {
            nw = 0;
            if (++nh == OH) {
                nh = 0;
                nd++;
            }
        }
        uint8_t *row = buf + r * K;
        const fgq_idx iw0 = ow * sp->stride[2] - sp->pad_begin[2], dw = sp->dilation[2];
        const int w_inside = iw0 >= 0 && iw0 + (KW - 1) * dw < IW;
        const fgq_idx ih0 = oh * sp->stride[1] - sp->pad_begin[1], dh = sp->dilation[1];
        if (ID == 1 && KD == 1 && sp->out[0] == 1 && sp->pad_begin[0] == 0 && KW <= 8 && dw == 1 && w_inside &&
            ih0 >= 0 && ih0 + (KH - 1) * dh < IH) {
            /* interior of a 2-D layer (the common case): each tap row of KW <= 8 bytes moves
             * as one 4- or 8-byte word where the word stays inside X's row (the bytes past KW
             * are overwritten by the next tap row, or land in the buffer's slack) */
            const uint8_t *xp = xg + ih0 * IW + iw0;
            const fgq_idx step = dh * IW;
            if (KW <= 4 && iw0 + 4 <= IW)
                for (fgq_idx c = 0; c < cg; c++, xp += IH * IW)
                    for (fgq_idx kh = 0; kh < KH; kh++, row += KW) {
                        uint32_t v;
                        memcpy(&v, xp + kh * step, 4);
                        memcpy(row, &v, 4);
                    }
            else if (iw0 + 8 <= IW)
                for (fgq_idx c = 0; c < cg; c++, xp += IH * IW)
                    for (fgq_idx kh = 0; kh < KH; kh++, row += KW) {
                        uint64_t v;
                        memcpy(&v, xp + kh * step, 8);
                        memcpy(row, &v, 8);
                    }
            else
                for (fgq_idx c = 0; c < cg; c++, xp += IH * IW)
                    for (fgq_idx kh = 0; kh < KH; kh++, row += KW)
                        for (fgq_idx kw = 0; kw < KW; kw++)
                            row[kw] = xp[kh * step + kw];
            continue;
        }
        for (fgq_idx c = 0; c < cg; c++)
            for (fgq_idx kd = 0; kd < KD; kd++) {
                const fgq_idx id = od * sp->stride[0] - sp->pad_begin[0] + kd * sp->dilation[0];
                for (fgq_idx kh = 0; kh < KH; kh++, row += KW) {
                    const fgq_idx ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                    if (id < 0 || id >= ID || ih < 0 || ih >= IH) {
                        memset(row, pad, (size_t)KW);
                        continue;
                    }
                    const uint8_t *xr = xg + ((c * ID + id) * IH + ih) * IW;
                    if (w_inside && dw == 1)
                        for (fgq_idx kw = 0; kw < KW; kw++) /* KW is small: no memcpy call */
                            row[kw] = xr[iw0 + kw];
                    else
                        for (fgq_idx kw = 0; kw < KW; kw++) {
                            const fgq_idx iw = iw0 + kw * dw;
                            row[kw] = iw >= 0 && iw < IW ? xr[iw] : pad;
                        }
                }
            }
    }
}

/* The group's cg channels, H and W padded with z_x, into pbuf (t->p.psp's planes). */
static void qconv_pad_copy(const qconv_task *t, const uint8_t *xg, fgq_idx cg, uint8_t *pbuf)
{
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const fgq_idx IH = sp->in[1], IW = sp->in[2], PH = t->p.psp.in[1], PW = t->p.psp.in[2];
    const fgq_idx top = sp->pad_begin[1], left = sp->pad_begin[2];
    memset(pbuf, (uint8_t)t->zx, (size_t)(cg * PH * PW));
    for (fgq_idx c = 0; c < cg; c++)
        for (fgq_idx ih = 0; ih < IH; ih++)
            memcpy(pbuf + (c * PH + ih + top) * PW + left, xg + (c * IH + ih) * IW, (size_t)IW);
}

/* A tile's output stage: channels j0 .. j0 + nb − 1, each np dots (ld_dot apart) to Y from element
 * `at` on (a channel's positions apart). */
static void qconv_tile_out(const qconv_task *t, fgq_idx j0, fgq_idx nb, const int32_t *dot, fgq_idx ld_dot, fgq_idx np,
                           fgq_idx at)
{
    if (FGQ_QDYN_PATHS && t->fo != NULL)
        t->fout(t->fo, j0, nb, dot, ld_dot, np, t->yf + at, t->p.positions);
    else
        fgq_qgemm_kernel_requant_rows(t->kern, &t->s->qw, j0, nb, dot, ld_dot, np, t->zy, t->qmin, t->qmax, t->y + at,
                                      t->p.positions, t->y_s8);
}

/* Tasks [b, e) over (image, group, tile, channel chunk), in one scratch slice. */
static void qconv_tiles(void *ctx, fgq_idx b, fgq_idx e)
{
    const qconv_task *t = (const qconv_task *)ctx;
    const fgq_qweights *qw = &t->s->qw;
    const fgq_idx groups = t->s->geom.groups, mg = qw->rows / groups, K = t->s->geom.k, tp = t->p.tp, JB = t->p.jb;
    int32_t slot;
    uint8_t *ws = (uint8_t *)fgq_scratch_claim_for(t->node, b, t->p.tiles * groups * t->x->dims[0] * t->csplit, &slot);
    uint8_t *buf = ws + t->p.buf, *pbuf = ws + t->p.pbuf; /* im2col rows; the padded copy (t->p.padded) */
    int32_t *dot = (int32_t *)(void *)(ws + t->p.dot), *dot_t = (int32_t *)(void *)(ws + t->p.dot_t);
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const fgq_idx c_in = t->x->dims[1], cg = c_in / groups, plane = sp->in[0] * sp->in[1] * sp->in[2];
    /* what the slice holds from this run's earlier calls (fgq_scratch_memo): a provider calls once a
     * chunk, four chunks a thread, and started empty each call the slice decoded every row again per
     * chunk (EfficientNet-Lite1's 15x15 pointwise layers: the AMX constants of all 480 rows took 8.7 %
     * of a two-thread run, 1.7 % at one thread; the layers ran no faster at two) */
    int64_t *memo = FGQ_OPS_THREADED ? fgq_scratch_memo(t->node, slot) : NULL;
    fgq_idx built = FGQ_OPS_THREADED ? memo[0] : -1; /* (n, grp) whose padded copy pbuf holds */
#if defined(__x86_64__) || defined(__i386__)
    fgq_idx decoded = memo[1]; /* the group (cmajor: group·csplit + chunk) whose rows ws + t->p.wrows holds
                                * (t->p.wcache), or (AMX) constants */
    fgq_idx packed = memo[2];  /* pcache: the (n, grp) whose tiles are packed there */
#endif
#if defined(__x86_64__)
    if (t->amx)
        fgq_qconv_amx_begin();
#endif
#if defined(__x86_64__) || defined(__i386__)
    const int cmajor = t->cmajor;
#else
    const int cmajor = 0; /* the chunked split is the packed kernels' (qconv_run_gemm): no code for it here */
#endif
    const fgq_idx units = t->p.tiles * groups * t->x->dims[0]; /* tasks per channel chunk */
    for (fgq_idx task = b; task < e; task++) {
        const fgq_idx cs = cmajor ? task / units : task % t->csplit, rest = cmajor ? task % units : task / t->csplit;
        const fgq_idx tile = rest % t->p.tiles, grp = (rest / t->p.tiles) % groups, n = rest / (t->p.tiles * groups);
        const fgq_idx p0 = tile * tp, np = t->p.positions - p0 < tp ? t->p.positions - p0 : tp;
        const fgq_idx jb0 = cs * t->cchunk, jb1 = jb0 + t->cchunk < mg ? jb0 + t->cchunk : mg;
        const uint8_t *xg = (const uint8_t *)t->x->data + (n * c_in + grp * cg) * plane;
        if (t->p.padded && built != rest / t->p.tiles) {
            qconv_pad_copy(t, xg, cg, pbuf);
            built = rest / t->p.tiles;
        }
#if defined(__x86_64__) || defined(__i386__)
        if (t->packed) {
            const fgq_qconv_src src = {
                .src = xg,
                .ch_stride = sp->in[1] * sp->in[2],
                .IH = sp->in[1],
                .IW = sp->in[2],
                .OW = sp->out[2],
                .pt = sp->pad_begin[1],
                .pl = sp->pad_begin[2],
                .KH = sp->kernel[1],
                .KW = sp->kernel[2],
                .sh = sp->stride[1],
                .sw = sp->stride[2],
                .dh = sp->dilation[1],
                .dw = sp->dilation[2],
                .K = K,
            };
            /* the rows this slice decodes: the group's, or (cmajor) the chunk's, lo .. hi − 1 of the group;
             * wlo: where row lo is (cmajor: at the cache's start, so that a chunk's rows stay in the core's
             * cache instead of spreading over the whole group's room) */
            const fgq_idx lo = cmajor ? jb0 : 0, hi = cmajor ? jb1 : mg;
            uint8_t *wlo = t->p.wcache ? ws + t->p.wrows : NULL;
#if defined(__x86_64__)
            const fgq_qconv_amx_w aw = {
                .rows = wlo != NULL ? wlo : qw->codes + (grp * mg + lo) * qw->row_bytes,
                .stride = wlo != NULL ? fgq_qconv_wrow_bytes(K) : qw->row_bytes,
                .lo = grp * mg + lo,
                .hi = grp * mg + hi,
                .grp = ws + t->p.agrp,
            };
            const fgq_qweights folded = { .dtype = FGQ_DT_S8, .rows = hi - lo, .k = K,
                                          .row_bytes = fgq_qconv_wrow_bytes(K), .group = K, .n_groups = 1,
                                          .n_alpha = 1, .mmax = 1, .codes = wlo };
#endif
            /* the group's rows once a slice: decoded (multipliers folded in for the AMX and s8 VNNI kernels,
             * t->fold; codes for the grouped VNNI kernels), and the AMX kernel's constants */
            const fgq_idx want = cmajor ? grp * t->csplit + cs : grp;
            if (decoded != want) {
                if (wlo != NULL) {
#if defined(__x86_64__)
                    if (t->t2vbmi)
                        fgq_qconv_fold_decode_t2__avx512vbmi(qw, grp * mg + lo, hi - lo, wlo);
                    else if (t->amx || t->fold)
                        fgq_qconv_fold_decode(qw, grp * mg + lo, hi - lo, wlo);
                    else
#endif
                        t->conv->decode(qw, grp * mg + lo, hi - lo, wlo);
                }
#if defined(__x86_64__)
                if (t->amx) /* after the rows its sums read */
                    fgq_qconv_amx_group(aw.rows, aw.stride, hi - lo, K, wlo != NULL, NULL,
                                        t->x_s8 ? t->zx + 128 : t->zx, ws + t->p.agrp);
#endif
                decoded = want;
            }
            /* the tile's packed taps: once for all its blocks, or (pcache) every tile of (n, grp) once a slice */
            uint8_t *work = ws + t->p.work;
            if (t->pcache) {
                uint8_t *pc = ws + t->p.wrows + t->pc_off;
                work = pc + tile * t->pc_stride;
                if (packed != rest / t->p.tiles) {
                    for (fgq_idx tt = 0; tt < t->p.tiles; tt++) {
                        const fgq_idx q0 = tt * tp, nq = t->p.positions - q0 < tp ? t->p.positions - q0 : tp;
                        fgq_qconv_pack_a__avx512vnni(&src, q0, nq, t->x_s8, t->zx, pc + tt * t->pc_stride);
                    }
                    packed = rest / t->p.tiles;
                }
            } else
                fgq_qconv_pack_a__avx512vnni(&src, p0, np, t->x_s8, t->zx, work);
            for (fgq_idx jb = jb0; jb < jb1; jb += JB) {
                const fgq_idx j0 = grp * mg + jb, nb = jb1 - jb < JB ? jb1 - jb : JB;
#if defined(__x86_64__)
                if (t->amx)
                    fgq_qconv_u8s8_32x32c64__amx(&aw, K, j0, nb, np, dot, work);
                else if (t->fold)
                    fgq_qconv_u8s8_4x32c4__avx512vnni(&src, &folded, jb - lo, nb, p0, np, t->x_s8, t->zx, dot, work);
                else
#endif
                    t->conv->run(&src, qw, j0, nb, p0, np, t->x_s8, t->zx, dot, work,
                                 wlo != NULL ? wlo + (jb - lo) * fgq_qconv_wrow_bytes(K) : NULL);
                qconv_tile_out(t, j0, nb, dot, FGQ_QCONV_PACK_TP, np, (n * qw->rows + j0) * t->p.positions + p0);
            }
            continue;
        }
#endif
        if (t->p.padded)
            qconv_im2col(t, &t->p.psp, pbuf, p0, np, buf);
        else
            qconv_im2col(t, sp, xg, p0, np, buf);
        for (fgq_idx jb = jb0; jb < jb1; jb += JB) {
            const fgq_idx j0 = grp * mg + jb, nb = jb1 - jb < JB ? jb1 - jb : JB;
            fgq_qgemm_kernel_gemm(t->kern, qw, j0, nb, buf, K, np, t->x_s8, t->zx, dot, JB, ws + t->p.gwork);
            for (fgq_idx r = 0; r < np; r++)
                for (fgq_idx i = 0; i < nb; i++)
                    dot_t[i * tp + r] = dot[r * JB + i];
            qconv_tile_out(t, j0, nb, dot_t, tp, np, (n * qw->rows + j0) * t->p.positions + p0);
        }
    }
#if defined(__x86_64__)
    if (t->amx)
        fgq_qconv_amx_end();
#endif
#if FGQ_OPS_THREADED
    memo[0] = built;
#endif
#if defined(__x86_64__) || defined(__i386__)
    memo[1] = decoded;
    memo[2] = packed;
#endif
    fgq_scratch_release(t->node, slot);
}

/* ---- depthwise: one channel in, one out (group = C_in = C_out) ------------ */

/* The depthwise path's slice layout, from the node's shapes and the target
 * alone (on microcontrollers at most ~13 KB of scratch; fgq_target.h).
 * 2-D layers whose output grid fits their padded input (any stride, any
 * dilation) take the phase form (qconv_dw_phases) in bands of `br` output
 * rows: the band's padded input split into sh·sw phase planes of qh × qw
 * bytes (at most qconv_dw_max_padded in all) and an accumulator of br·qw
 * int32 (at most qconv_dw_max_plane), so a plane of any size fits. Other
 * layers (3-D, grids past the padded input) keep a whole output plane of
 * accumulators (the per-row form), up to qconv_dw_max_plane outputs. */
typedef struct {
    int padded;               /* the phase form */
    fgq_idx sh, sw, qw, qh, br; /* strides; phase-plane width and rows; output rows a band */
    uint64_t ew, acc, xp;       /* offsets in the slice: the weights, the accumulators, the phase planes */
    uint64_t plane, flat;       /* the plane form's set-up, its flat copy and tables (to `bytes`);
                                   none where plane = bytes (no plane form on the target), flat = bytes */
    uint64_t bytes;             /* the slice's size */
} qconv_dw_plan;

/* A 2-D depthwise layer's plane geometry (the plane form's). */
static fgq_qconv_dwplane_geom qconv_dw_geom(const fgq_ops_spatial *sp)
{
    const fgq_qconv_dwplane_geom g = {
        .IH = sp->in[1],
        .IW = sp->in[2],
        .OH = sp->out[1],
        .OW = sp->out[2],
        .KH = sp->kernel[1],
        .KW = sp->kernel[2],
        .sh = sp->stride[1],
        .sw = sp->stride[2],
        .dh = sp->dilation[1],
        .dw = sp->dilation[2],
        .pt = sp->pad_begin[1],
        .pl = sp->pad_begin[2],
    };
    return g;
}

/* 0 when the depthwise path cannot apply by shape. */
static int qconv_dw_plan_make(const qconv_shape *s, const fgq_tensor_view *x, const fgq_target *target,
                              qconv_dw_plan *p)
{
    const fgq_ops_spatial *sp = &s->geom.sp;
    const fgq_idx C = x->dims[1], OH = sp->out[1], OW = sp->out[2], plane = OH * OW;
    memset(p, 0, sizeof *p);
    if (s->geom.groups != C || s->qw.rows != C || s->geom.k > target->qconv_dw_max_k)
        return 0;
    /* the spatial check bounds these: dims <= 2^26, kernel, stride, dilation and pads <= 2^20, and
     * (O − 1)·s + (k − 1)·d + 1 = padded input minus what the last window leaves (< s) */
    const fgq_idx PH = sp->in[1] + sp->pad_begin[1] + sp->pad_end[1], PW = sp->in[2] + sp->pad_begin[2] + sp->pad_end[2];
    const fgq_idx sh = sp->stride[1], sw = sp->stride[2], eh = (sp->kernel[1] - 1) * sp->dilation[1] + 1;
    const fgq_idx max_padded = target->qconv_dw_max_padded;
    if (sp->in[0] == 1 && sp->kernel[0] == 1 && sp->out[0] == 1 && sp->pad_begin[0] == 0 && sh >= 1 && sw >= 1 &&
        (OH - 1) * sh + eh <= PH && (OW - 1) * sw + (sp->kernel[2] - 1) * sp->dilation[2] + 1 <= PW &&
        sh <= max_padded && sw <= max_padded / sh && (PW + sw - 1) / sw <= max_padded / (sh * sw)) {
        const fgq_idx qw = (PW + sw - 1) / sw, extra = (eh + sh - 1) / sh - 1; /* qh = br + extra */
        fgq_idx br = max_padded / (sh * sw * qw) - extra;
        const fgq_idx by_acc = target->qconv_dw_max_plane / qw;
        br = br < by_acc ? br : by_acc;
        br = br < OH ? br : OH;
        if (br >= 1) {
            p->padded = 1;
            p->sh = sh;
            p->sw = sw;
            p->qw = qw;
            p->br = br;
            p->qh = br + extra;
        }
    }
    if (!p->padded && plane > target->qconv_dw_max_plane)
        return 0;
    const fgq_idx acc = p->padded ? p->br * p->qw : plane; /* <= qconv_dw_max_plane */
    p->ew = 0;
    p->acc = qconv_align64((int64_t)sizeof(int32_t) * s->geom.k);
    p->xp = p->acc + qconv_align64((int64_t)sizeof(int32_t) * acc);
    p->bytes = p->xp + (p->padded ? qconv_align64(p->sh * p->sw * p->qh * p->qw + (p->sw > 1 ? p->sw * p->qw : 0)) : 0);
    /* the plane form's set-up and flat copy and tables (x86), past the rest: a channel the plane
     * form declines takes the phase form, which leaves them as they are */
    p->plane = p->flat = p->bytes;
    if (target->qconv_dw_flat_bytes > 0 && sp->in[0] == 1 && sp->kernel[0] == 1 && sp->out[0] == 1) {
        p->flat = p->bytes = p->plane + FGQ_DWPLANE_PREP_BYTES;
        const fgq_qconv_dwplane_geom g = qconv_dw_geom(sp);
        const int64_t flat = fgq_qconv_dwflat_layout(&g, NULL);
        if (flat > 0 && flat <= target->qconv_dw_flat_bytes)
            p->bytes += (uint64_t)qconv_align64(flat);
    }
    return 1;
}

typedef struct {
    const fgq_node_view *node;
    const qconv_shape *s;
    const fgq_qconv_dw_kernel *kern; /* row (tap by tap), taps (the phase form's all-taps step; NULL: row) */
    fgq_qrequant_fn requant;
    const fgq_tensor_view *x;
    uint8_t *y; /* codes, when fo is NULL */
    float *yf;  /* floats through fo (QCONV_DYN): the fused forms (taps_q, plane) are not taken */
    const fgq_qconv_fout *fo;
    fgq_qconv_fout_fn fout;
    int x_s8, y_s8;
    int32_t zx, zy, qmin, qmax;
    int split2; /* x86 with VBMI: stride-2 rows split by fgq_qconv_dw_split2__avx512vbmi */
    qconv_dw_plan p;
} qconv_dw_task;

/* The output stage of channel c's n sums at acc, to Y from element `at` on. */
static void qconv_dw_out(const qconv_dw_task *t, fgq_idx c, const int32_t *acc, fgq_idx n, fgq_idx at)
{
    if (FGQ_QDYN_PATHS && t->fo != NULL)
        t->fout(t->fo, c, 1, acc, 0, n, t->yf + at, 0);
    else
        t->requant(&t->s->qw, c, 0, acc, n, t->zy, t->qmin, t->qmax, t->y + at, t->y_s8);
}

/* Taps the all-taps function takes a call (the stack holds their pointers and weights). */
#define DW_TAPS 32

/* Offset in the phase planes of tap (kh, kw)'s run: plane ((kh·dh) mod sh, (kw·dw) mod sw), row
 * (kh·dh) div sh, column (kw·dw) div sw. In 32-bit arithmetic (all small): a 64-bit division is a
 * library call on 32-bit cores, and this runs once a tap a band. */
static inline fgq_idx dw_tap_offset(fgq_idx kh, fgq_idx kw, fgq_idx dh, fgq_idx dw, fgq_idx sh, fgq_idx sw,
                                    fgq_idx qw, fgq_idx pstride)
{
    const int32_t rh = (int32_t)(kh * dh), rw = (int32_t)(kw * dw);
    if (sh == 1 && sw == 1)
        return (fgq_idx)rh * qw + rw;
    const int32_t h = (int32_t)sh, w = (int32_t)sw;
    return (fgq_idx)(rh % h * w + rw % w) * pstride + (fgq_idx)(rh / h) * qw + rw / w;
}

#if defined(__x86_64__) || defined(__i386__)
/* The phase form's taps in the order the all-taps step takes them, with their offsets in the
 * phase planes: the same for every channel of a layer, so listed once per task range (the
 * offsets' divisions and the phase-column test cost more than a small plane's taps), as pointers
 * into the task's phase planes (the scratch at xp, rebuilt per band in place). A row's
 * taps by phase column (kw·dw mod sw), so that taps reading adjacent bytes of one phase plane
 * are adjacent in the list (the VBMI row takes them 4 at a time). */
typedef struct {
    int32_t n;
    int32_t k[DW_TAPS];          /* the tap's index kh·KW + kw */
    const uint8_t *src[DW_TAPS]; /* its run's start in the phase planes at xp */
} dw_tap_list;

static void dw_tap_list_make(const qconv_dw_task *t, const uint8_t *xp, dw_tap_list *l)
{
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const fgq_idx KH = sp->kernel[1], KW = sp->kernel[2], dh = sp->dilation[1], dw = sp->dilation[2];
    const fgq_idx sh = t->p.sh, sw = t->p.sw, qw = t->p.qw, pstride = t->p.qh * t->p.qw;
    l->n = 0;
    for (fgq_idx kh = 0; kh < KH; kh++)
        for (fgq_idx b = 0; b < sw; b++)
            for (fgq_idx kw = 0; kw < KW; kw++)
                if (sw == 1 || (kw * dw) % sw == b) {
                    l->k[l->n] = (int32_t)(kh * KW + kw);
                    l->src[l->n++] = xp + dw_tap_offset(kh, kw, dh, dw, sh, sw, qw, pstride);
                }
}
#endif

/* n bytes of a short row: on x86 fixed-size copies the compiler inlines (two overlapping ones)
 * instead of a library call (small planes' rows are 8-30 bytes, copied twice a channel); writes
 * only d[0, n). */
static inline void dw_copy(uint8_t *d, const uint8_t *s, fgq_idx n)
{
#if !defined(__x86_64__) && !defined(__i386__) /* elsewhere the library call: less code (flash) */
    memcpy(d, s, (size_t)n);
#else
    if (n >= 8 && n <= 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n > 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 4 && n < 8) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n < 4) {
        for (int32_t i = 0; i < (int32_t)n; i++)
            d[i] = s[i];
    } else
        memcpy(d, s, (size_t)n);
#endif
}

/* The phase form (2-D or 1-D, any stride and dilation), a band of output rows
 * [oh0, oh1) at a time: the band's rows of the input padded with z_x are split
 * into sh·sw phase planes, plane (a, b) holding padded (r0 + i·sh + a, j·sw + b)
 * at [i][j] (r0 = oh0·sh; qw columns), so output (oh, ow)'s tap (kh, kw) reads
 * plane ((kh·dh) mod sh, (kw·dw) mod sw) at row oh − oh0 + (kh·dh) div sh,
 * column ow + (kw·dw) div sw. Every tap is then one run of L = (nb − 1)·qw + OW
 * outputs on the qw-wide grid: acc[i] += e·(plane[i + offset] − z_x); reads stay
 * inside the plane (the grid fits the padded input: qconv_dw_plan_make), the
 * qw − OW extra columns of each row are computed and dropped. Stride 1 is one
 * phase: the band's padded rows themselves; wider strides build each padded
 * input row once and take every sw-th byte of it. */
static void qconv_dw_phases(const qconv_dw_task *t, fgq_idx c, const int32_t *ew, const uint8_t *xc, fgq_idx yo,
                            uint8_t *xp, int32_t *acc, const void *taps)
{
    (void)taps; /* the x86 rows' tap list (dw_tap_list); NULL elsewhere */
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const fgq_idx IH = sp->in[1], IW = sp->in[2], OH = sp->out[1], OW = sp->out[2];
    const fgq_idx KH = sp->kernel[1], KW = sp->kernel[2], dh = sp->dilation[1], dw = sp->dilation[2];
    const fgq_idx top = sp->pad_begin[1], left = sp->pad_begin[2];
    const fgq_idx sh = t->p.sh, sw = t->p.sw, qw = t->p.qw, qh = t->p.qh, pstride = qh * qw;
    const uint8_t zx = (uint8_t)t->zx;
    uint8_t *prow = xp + sh * sw * pstride; /* stride > 1: one padded input row, qw·sw bytes */
    /* the padding bytes once: a stride-1 band's rows and the padded row only ever get X's
     * columns written over them (small layers paid a memset per row) */
    if (sw > 1)
        memset(prow, zx, (size_t)(qw * sw));
    for (fgq_idx oh0 = 0; oh0 < OH; oh0 += t->p.br) {
        const fgq_idx nb = OH - oh0 < t->p.br ? OH - oh0 : t->p.br;
        if (sw == 1)
            memset(xp, zx, (size_t)(sh * pstride));
        if (sh == 1 && sw == 1) { /* one phase: the band's padded rows, X's rows copied in */
            const fgq_idx r0 = oh0 - top, r = IW < qw - left ? IW : qw - left;
            const fgq_idx ih0 = r0 > 0 ? r0 : 0, ih1 = r0 + qh < IH ? r0 + qh : IH;
            for (fgq_idx ih = ih0; ih < ih1; ih++)
                dw_copy(xp + (ih - r0) * qw + left, xc + ih * IW, r);
        } else {
            for (fgq_idx a = 0; a < sh; a++)
                for (fgq_idx i = 0; i < qh; i++) {
                    const fgq_idx ih = (oh0 + i) * sh + a - top;
                    /* rows in the padding have no X row: no offset formed for them (ih·IW could pass
                     * 32 bits for a large pad) */
                    const uint8_t *xr = ih >= 0 && ih < IH ? xc + ih * IW : xc;
                    for (fgq_idx b = 0; b < sw; b++) {
                        uint8_t *dst = xp + (a * sw + b) * pstride + i * qw;
                        if (ih < 0 || ih >= IH) {
                            if (sw > 1)
                                memset(dst, zx, (size_t)qw);
                        } else if (sw == 1) { /* columns −left .. qw − left of the input row */
                            const fgq_idx r = IW < qw - left ? IW : qw - left;
                            dw_copy(dst + left, xr, r);
                        } else { /* the padded row once (b = 0), then every sw-th byte of it */
                            if (b == 0) {
                                const fgq_idx r = IW < qw * sw - left ? IW : qw * sw - left;
                                dw_copy(prow + left, xr, r);
                            }
#if defined(__x86_64__) || defined(__i386__)
                            if (sw == 2 && t->split2) { /* both phases at b = 0 */
                                if (b == 0)
                                    fgq_qconv_dw_split2__avx512vbmi(prow, qw, dst, dst + pstride);
                                continue;
                            }
#endif
                            if (sw == 2) /* two loops the compiler vectorises (even / odd bytes) */
                                for (fgq_idx j = 0; j < qw; j++)
                                    dst[j] = prow[2 * j + b];
                            else
                                for (fgq_idx j = 0; j < qw; j++)
                                    dst[j] = prow[j * sw + b];
                        }
                    }
                }
        }
        const fgq_idx L = (nb - 1) * qw + OW;
#if defined(__x86_64__) || defined(__i386__) /* only the x86 rows have taps_q: no code for it elsewhere */
        if (taps != NULL) { /* every tap and the output stage in one call (t->kern->taps_q) */
            /* every tap, zero weights too (they cost a few lanes; skipping them broke runs of
             * adjacent taps apart), sources fixed for the task: the scratch plane xp is reused */
            const dw_tap_list *l = (const dw_tap_list *)taps;
            int32_t e[DW_TAPS];
            const int32_t nt = l->n;
            for (int32_t i = 0; i < nt; i++)
                e[i] = ew[l->k[i]];
            const uint8_t *const *src = l->src;
            uint8_t *yq = (uint8_t *)acc; /* the run's L outputs, then its rows' first OW to Y */
            if (t->kern->taps_q(yq, src, e, nt, L, t->zx, t->x_s8, &t->s->qw, c, t->zy, t->qmin, t->qmax, t->y_s8)) {
                uint8_t *yr = t->y + yo + oh0 * OW;
                for (fgq_idx ol = 0; ol < nb; ol++, yr += OW, yq += qw)
                    dw_copy(yr, yq, OW);
                continue;
            }
        }
#endif
        if (t->kern->taps != NULL) { /* all taps at once, in chunks of DW_TAPS */
            const uint8_t *src[DW_TAPS];
            int32_t e[DW_TAPS], nt = 0;
            int first = 1;
            for (fgq_idx kh = 0; kh < KH; kh++)
                for (fgq_idx kw = 0; kw < KW; kw++) {
                    const int32_t et = ew[kh * KW + kw];
                    if (et != 0) {
                        src[nt] = xp + dw_tap_offset(kh, kw, dh, dw, sh, sw, qw, pstride);
                        e[nt++] = et;
                    }
                    if (nt == DW_TAPS || (kh == KH - 1 && kw == KW - 1)) {
                        if (first) {
                            t->kern->taps(acc, src, e, nt, L, t->zx, t->x_s8);
                        } else { /* a later chunk (K > DW_TAPS): added tap by tap */
                            for (int32_t q = 0; q < nt; q++)
                                t->kern->row(acc, src[q], L, e[q], t->zx, t->x_s8);
                        }
                        first = 0;
                        nt = 0;
                    }
                }
        } else {
            memset(acc, 0, sizeof(int32_t) * (size_t)L);
            for (fgq_idx kh = 0; kh < KH; kh++)
                for (fgq_idx kw = 0; kw < KW; kw++) {
                    const int32_t et = ew[kh * KW + kw];
                    if (et == 0)
                        continue;
                    t->kern->row(acc, xp + dw_tap_offset(kh, kw, dh, dw, sh, sw, qw, pstride), L, et, t->zx, t->x_s8);
                }
        }
        if (OW < 16) { /* compact the rows: ol·OW <= ol·qw, forward is safe; narrow rows without calls (and
                        * without 64-bit index arithmetic, a library call's worth on 32-bit cores) */
            int32_t *dst = acc + OW;
            const int32_t *src = acc + qw;
            for (fgq_idx ol = 1; ol < nb; ol++, dst += OW, src += qw)
                for (int32_t ow = 0; ow < (int32_t)OW; ow++)
                    dst[ow] = src[ow];
        } else
            for (fgq_idx ol = 1; ol < nb; ol++)
                memmove(acc + ol * OW, acc + ol * qw, sizeof(int32_t) * (size_t)OW);
        qconv_dw_out(t, c, acc, nb * OW, yo + oh0 * OW);
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* The row's plane form's set-up for the layer's geometry; 0 when it has none or declines. */
static int qconv_dw_plane_prep(const qconv_dw_task *t, fgq_qconv_dwplane_prep *p, uint8_t *scratch, int64_t bytes)
{
    const fgq_qconv_dwplane_geom g = qconv_dw_geom(&t->s->geom.sp);
    return t->kern->plane_prep != NULL && t->kern->plane_prep(p, &g, t->zx, t->x_s8, scratch, bytes);
}

/* Channel c by the row's plane form; 0 when it declines. Out of line: inside
 * qconv_dw_channels its geometry slowed the phase form's loops there by ~8 %. */
static __attribute__((noinline)) int qconv_dw_plane(const qconv_dw_task *t, const fgq_qconv_dwplane_prep *p, fgq_idx c,
                                                    const int32_t *ew, const uint8_t *xc, uint8_t *yc)
{
    return t->kern->plane(yc, xc, p, ew, t->zx, t->x_s8, &t->s->qw, c, t->zy, t->qmin, t->qmax, t->y_s8);
}
#endif

/* Channels [b, e) of all images (task = n·C + c): per tap the effective
 * weight e = m·code (m+ or m− by the code's sign), then along each output
 * row acc[ow] += e·(x − z_x) over the outputs whose tap is inside X (taps
 * in the padding add 0, as in the reference), then the output stage. */
static void qconv_dw_channels(void *ctx, fgq_idx b, fgq_idx e)
{
    const qconv_dw_task *t = (const qconv_dw_task *)ctx;
    const fgq_qweights *qw = &t->s->qw;
    const fgq_ops_spatial *sp = &t->s->geom.sp;
    const fgq_idx C = qw->rows, K = t->s->geom.k;
    const fgq_idx ID = sp->in[0], IH = sp->in[1], IW = sp->in[2], OD = sp->out[0], OH = sp->out[1], OW = sp->out[2];
    const fgq_idx KH = sp->kernel[1], KW = sp->kernel[2], sw = sp->stride[2], dw = sp->dilation[2];
    int32_t slot;
    uint8_t *ws = (uint8_t *)fgq_scratch_claim_for(t->node, b, t->x->dims[0] * C, &slot);
    int32_t *ew = (int32_t *)(void *)(ws + t->p.ew), *acc = (int32_t *)(void *)(ws + t->p.acc);
    uint8_t *xp = ws + t->p.xp;
    const void *taps = NULL; /* the fused all-taps step's list (x86 rows only) */
#if defined(__x86_64__) || defined(__i386__)
    /* The plane form where it measured faster (one thread): by rows at strides of 2+ along W, where
     * the phase form splits the input into phase planes first (MobileNetV2 s8's stride-2 layers
     * 0.50-0.60x their time, EfficientNet-Lite1's 0.50-0.79x); the flat form at any stride (EfficientNet-
     * Lite1 s8's stride-1 layers 0.57x (8 x 8) to 0.73x (60 x 60) of the phase form's time). By rows at
     * stride 1 the phase form's runs over the padded rows fill the lanes better (14 x 14: 2.1x). */
    /* set up once a run in each slice (fgq_scratch_memo: a provider calls once a chunk, four chunks a
     * thread; the set-up, its tables and its copy's rows of z_x stay in the slice between calls) */
    fgq_qconv_dwplane_prep *prep = (fgq_qconv_dwplane_prep *)(void *)(ws + t->p.plane);
    int64_t *memo = FGQ_OPS_THREADED ? fgq_scratch_memo(t->node, slot) : NULL;
    int planes = memo != NULL ? (int)memo[0] : -1;
    if (planes < 0) {
        planes = t->fo == NULL && t->p.flat > t->p.plane && ID == 1 && OD == 1 && sp->kernel[0] == 1 &&
                 sp->pad_begin[0] == 0 &&
                 qconv_dw_plane_prep(t, prep, ws + t->p.flat, (int64_t)(t->p.bytes - t->p.flat)) &&
                 (sw >= 2 || prep->flat);
        if (memo != NULL)
            memo[0] = planes;
    }
    dw_tap_list tl;
    if (t->fo == NULL && t->p.padded && t->kern->taps_q != NULL && KH * KW <= DW_TAPS) {
        dw_tap_list_make(t, xp, &tl);
        taps = &tl;
    }
#endif
    for (fgq_idx task = b; task < e; task++) {
        const fgq_idx n = task / C, c = task % C;
        fgq_qw_tap_weights(qw, c, K, ew);
        const uint8_t *xc = (const uint8_t *)t->x->data + (n * C + c) * ID * IH * IW;
        const fgq_idx yo = (n * C + c) * OD * OH * OW; /* the channel's first output */
#if defined(__x86_64__) || defined(__i386__)
        /* the plane form, by rows from X or from the copy (the row declines what it does not take) */
        if (planes && qconv_dw_plane(t, prep, c, ew, xc, t->y + yo))
            continue;
#endif
        if (t->p.padded) { /* qconv_run_dw takes a padded plan only with the phase form compiled in */
            if (FGQ_QCONV_ON_DW_PHASES)
                qconv_dw_phases(t, c, ew, xc, yo, xp, acc, taps);
            continue;
        }
        for (fgq_idx od = 0; FGQ_QCONV_ON_DW_ROWS && od < OD; od++) {
            memset(acc, 0, sizeof(int32_t) * (size_t)(OH * OW));
            for (fgq_idx oh = 0; oh < OH; oh++) {
                int32_t *acc_row = acc + oh * OW;
                for (fgq_idx kd = 0; kd < sp->kernel[0]; kd++) {
                    const fgq_idx id = od * sp->stride[0] - sp->pad_begin[0] + kd * sp->dilation[0];
                    if (id < 0 || id >= ID)
                        continue;
                    for (fgq_idx kh = 0; kh < KH; kh++) {
                        const fgq_idx ih = oh * sp->stride[1] - sp->pad_begin[1] + kh * sp->dilation[1];
                        if (ih < 0 || ih >= IH)
                            continue;
                        const uint8_t *xr = xc + (id * IH + ih) * IW;
                        for (fgq_idx kw = 0; kw < KW; kw++) {
                            const int32_t et = ew[(kd * KH + kh) * KW + kw];
                            const fgq_idx off = kw * dw - sp->pad_begin[2]; /* iw = ow·s + off */
                            const fgq_idx lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
                            fgq_idx hi = IW - 1 - off < 0 ? -1 : (IW - 1 - off) / sw;
                            hi = hi < OW - 1 ? hi : OW - 1;
                            if (et == 0 || hi < lo)
                                continue;
                            if (sw == 1)
                                t->kern->row(acc_row + lo, xr + lo + off, hi - lo + 1, et, t->zx, t->x_s8);
                            else
                                for (fgq_idx ow = lo; ow <= hi; ow++)
                                    acc_row[ow] += et * (fgq_q_load(xr, ow * sw + off, t->x_s8) - t->zx);
                        }
                    }
                }
            }
            qconv_dw_out(t, c, acc, OH * OW, yo + od * OH * OW);
        }
    }
    fgq_scratch_release(t->node, slot);
}

/* The depthwise path; 0 when it does not apply. */
static int qconv_run_dw(const fgq_node_view *node, const qconv_shape *s, const fgq_tensor_view *x, const qconv_out *o)
{
    const int32_t kernels = fgq_node_kernels(node);
    const uint32_t cpu = fgq_node_cpu(node);
    qconv_dw_task t = {
        .node = node,
        .s = s,
        .kern = fgq_qconv_dw_kernel_select(kernels, cpu),
        .requant = fgq_qgemm_kernel_select(s->qw.dtype, kernels, cpu, &s->qw)->requant,
        .x = x,
        .y = o->fo == NULL ? (uint8_t *)o->y : NULL,
        .yf = o->fo != NULL ? (float *)o->y : NULL,
        .fo = o->fo,
        .fout =
            FGQ_QDYN_PATHS && o->fo != NULL ? fgq_qconv_fout_select(fgq_node_kernels(node), fgq_node_cpu(node)) : NULL,
        .x_s8 = x->dtype == FGQ_DT_S8,
        .y_s8 = o->y_s8,
        .zx = o->zx,
        .zy = o->zy,
        .qmin = o->qmin,
        .qmax = o->qmax,
    };
    if (t.kern == NULL || !qconv_dw_plan_make(s, x, fgq_target_build(), &t.p) ||
        !(t.p.padded ? FGQ_QCONV_ON_DW_PHASES : FGQ_QCONV_ON_DW_ROWS))
        return 0;
#if defined(__x86_64__) || defined(__i386__)
    t.split2 = (cpu & FGQ_CPU_AVX512VBMI) != 0;
#endif
    /* per channel: taps × outputs steps of 8 lanes (work units of the grain: /8) */
    const fgq_ops_spatial *sp = &s->geom.sp;
    const fgq_idx tasks = x->dims[0] * x->dims[1];
    const int64_t per = sp->out[0] * sp->out[1] * sp->out[2] * s->geom.k;
    fgq_parallel_for(node->par, tasks, fgq_parallel_grain(node->par, tasks, per / 8), qconv_dw_channels, &t);
    return 1;
}

/* The GEMM path; 0 when it does not apply (reference kernels, or K past
 * the tile budget). */
static int qconv_run_gemm(const fgq_node_view *node, const qconv_shape *s, const fgq_tensor_view *x, const qconv_out *o)
{
    const fgq_qgemm_kernel *kern = fgq_qgemm_kernel_select(s->qw.dtype, fgq_node_kernels(node), fgq_node_cpu(node), &s->qw);
    if (!FGQ_QCONV_ON_GEMM || kern->dot == fgq_qgemm_dot_ref)
        return 0;
    qconv_task t = {
        .node = node,
        .s = s,
        .kern = kern,
        .x = x,
        .y = o->fo == NULL ? (uint8_t *)o->y : NULL,
        .yf = o->fo != NULL ? (float *)o->y : NULL,
        .fo = o->fo,
        .fout =
            FGQ_QDYN_PATHS && o->fo != NULL ? fgq_qconv_fout_select(fgq_node_kernels(node), fgq_node_cpu(node)) : NULL,
        .x_s8 = x->dtype == FGQ_DT_S8,
        .y_s8 = o->y_s8,
        .zx = o->zx,
        .zy = o->zy,
        .qmin = o->qmin,
        .qmax = o->qmax,
    };
    if (!qconv_gemm_plan_make(s, x, fgq_target_build(), &t.p))
        return 0;
#if defined(__x86_64__) || defined(__i386__)
    const uint32_t cpu = fgq_node_cpu(node);
    const int s2_ok = s->geom.sp.stride[2] == 1 || (cpu & FGQ_CPU_AVX512VBMI) != 0;
    t.conv = fgq_qconv_kernel_for(&s->qw);
    t.packed = t.p.packable && t.conv != NULL && (cpu & t.conv->needs) == t.conv->needs && s2_ok &&
               s->geom.k <= FGQ_QCONV_PACK_MAX_K;
#if defined(__x86_64__)
    /* AMX where the host granted it (fgq_model_grant_cpu): s8 rows in place, other layouts decoded
     * once a slice into the row cache (where it fits) */
    const uint32_t amx_needs = FGQ_CPU_AMXINT8 | FGQ_CPU_AVX512VNNI;
    t.amx = t.p.amx && (cpu & amx_needs) == amx_needs && s2_ok &&
            ((s->qw.dtype == FGQ_DT_S8 && !s->qw.has_gs) || t.p.wcache);
    /* else decoded rows, multipliers folded in, through the s8 VNNI kernel: no multiply per group, 4
     * channels a pass where the grouped kernel does 2 (and group layouts it does not take, groups of 4) */
    t.fold = !t.amx && t.p.fold && t.p.wcache && (cpu & FGQ_CPU_AVX512VNNI) != 0 && s2_ok;
    t.packed = t.packed || t.amx || t.fold;
    t.t2vbmi = (t.amx || t.fold) && (cpu & FGQ_CPU_AVX512VBMI) != 0 && fgq_qconv_fold_t2_fits(&s->qw);
#endif
    if (t.packed) {
        t.p.padded = 0;
        t.p.tp = FGQ_QCONV_PACK_TP;
        t.p.tiles = (t.p.positions + t.p.tp - 1) / t.p.tp;
    }
#endif
    const fgq_idx K = s->geom.k, mg = s->qw.rows / s->geom.groups, units = x->dims[0] * s->geom.groups * t.p.tiles;
    /* fewer tiles than threads (a 7x7 plane is one tile): their channel blocks split too, each task
     * packing its tile again (the same bytes whatever the split; ResNet-18's 7x7 layers at 2 threads
     * 850 -> 665 us; splitting whenever tiles < 2·threads made its 14x14 layers slower) */
    const fgq_idx threads = node->par != NULL && node->par->n_threads > 1 ? node->par->n_threads : 1;
    const fgq_idx blocks = (mg + t.p.jb - 1) / t.p.jb;
    t.csplit = 1;
    if (threads > 1 && units < threads)
        t.csplit = (threads + units - 1) / units < blocks ? (threads + units - 1) / units : blocks;
    /* Rows decoded once a slice (ternary, s4, grouped s8: t.p.wcache), where a group has more channels
     * than positions: tasks go channel chunk by channel chunk (cmajor), each slice decoding only its
     * chunks' rows, at the row cache's start. Split by tiles instead, every thread decoded the group's
     * rows again (ResNet-50's 14x14 and 7x7 ternary:g64 layers at 2 threads: 17.4 ms, hardly below one
     * thread's 19.1). Where one image's (and group's) packed tiles fit the row cache beside a chunk's
     * rows (pcache), this holds at any thread count, with chunks of at most QCONV_CHUNK_BYTES of rows
     * run over every tile packed once: the decoded rows stay in the core's cache instead of going out
     * to memory and back (ResNet's 7x7 3x3x512 layers: 2.4 MB of rows, read again for the second tile).
     * Without that room, two threads and more still chunk (2 a thread), each chunk packing its tiles
     * again. A last chunk keeps 16+ rows (the AMX kernel reads 16-row blocks inside its rows). */
    t.cmajor = 0;
    t.pcache = 0;
#if defined(__x86_64__) || defined(__i386__) /* the packed kernels' paths: no code for it elsewhere (flash) */
    if (t.packed && t.p.wcache && mg > t.p.positions && blocks >= 2) {
        const int64_t rb = fgq_qconv_wrow_bytes(K), pwb = (int64_t)qconv_align64(fgq_qconv_pack_work_bytes(K));
        const uint64_t tiles_bytes = (uint64_t)(t.p.tiles * pwb);
        const fgq_idx per = QCONV_CHUNK_BYTES / rb / t.p.jb > 1 ? QCONV_CHUNK_BYTES / rb / t.p.jb : 1; /* blocks */
        fgq_idx cs = (blocks + per - 1) / per > 2 * threads ? (blocks + per - 1) / per : 2 * threads;
        cs = cs < blocks ? cs : blocks;
        fgq_idx cc = (blocks + cs - 1) / cs * t.p.jb;
        /* smaller chunks until one fits beside the packed tiles (the plan made room for one block) */
        while (cs < blocks && qconv_align64(cc * rb) + tiles_bytes > t.p.wrows_bytes) {
            cs++;
            cc = (blocks + cs - 1) / cs * t.p.jb;
        }
        const int pc = x->dims[0] * s->geom.groups == 1 && qconv_align64(cc * rb) + tiles_bytes <= t.p.wrows_bytes &&
                       mg - (mg - 1) / cc * cc >= 16;
        if (!pc) {
            cs = 2 * threads < blocks ? 2 * threads : blocks;
            cc = (blocks + cs - 1) / cs * t.p.jb;
        }
        if (pc || (threads > 1 && mg - (mg - 1) / cc * cc >= 16)) {
            t.cmajor = 1;
            t.csplit = cs;
            t.pcache = pc;
            t.pc_off = qconv_align64(cc * rb);
            t.pc_stride = (uint64_t)pwb;
        }
    }
#endif
    t.cchunk = (blocks + t.csplit - 1) / t.csplit * t.p.jb;
    t.csplit = (mg + t.cchunk - 1) / t.cchunk;
    const fgq_idx tasks = units * t.csplit;
    const int64_t tile_cost = fgq_qgemm_cost(kern, (int64_t)t.p.tp * t.cchunk * K);
    fgq_idx grain = fgq_parallel_grain(node->par, tasks, tile_cost);
#if defined(__x86_64__) || defined(__i386__)
    if (t.cmajor) /* whole chunks a grain, so each slice decodes its chunk's rows once */
        grain = units * fgq_parallel_grain(node->par, t.csplit, tile_cost * units);
#endif
    fgq_parallel_for(node->par, tasks, grain, qconv_tiles, &t);
    return 1;
}

/* Bytes of one thread's scratch on `target`: the larger of the two fast paths' needs. */
static uint64_t qconv_scratch_bytes(const qconv_shape *s, const fgq_tensor_view *x, const fgq_target *target)
{
    qconv_gemm_plan g;
    qconv_dw_plan d;
    const uint64_t gb = qconv_gemm_plan_make(s, x, target, &g) ? g.bytes : 0;
    const uint64_t db = qconv_dw_plan_make(s, x, target, &d) ? d.bytes : 0;
    return gb > db ? gb : db;
}

/* The path fgq_qconv_run takes with the paths `built`: depthwise where the table has a depthwise
 * row and its plan fits (the phase or the row form), else the GEMM path where the weights have an
 * optimized GEMM row and its plan fits, else the reference; a path not built falls through to the
 * next; 0 when none is built. */
static uint32_t qconv_path_of(const qconv_shape *s, const fgq_tensor_view *x, const fgq_target *target, int dw_row,
                              int gemm_row, uint32_t built)
{
    qconv_dw_plan d;
    qconv_gemm_plan g;
    if (dw_row && qconv_dw_plan_make(s, x, target, &d)) {
        const uint32_t dw = d.padded ? FGQ_QCONV_PATH_DW_PHASES : FGQ_QCONV_PATH_DW_ROWS;
        if (built & dw)
            return dw;
    }
    if (gemm_row && (built & FGQ_QCONV_PATH_GEMM) && qconv_gemm_plan_make(s, x, target, &g))
        return FGQ_QCONV_PATH_GEMM;
    return built & FGQ_QCONV_PATH_REF;
}

uint32_t fgq_qconv_path(const fgq_node_view *node, const fgq_tensor_view *const *in, const fgq_tensor_view *const *out,
                        const fgq_target *target, int dw_row, int gemm_row)
{
    qconv_shape s;
    return qconv_check_all(node, in, out, &s, NULL) == FGQ_OK
               ? qconv_path_of(&s, in[0], target, dw_row, gemm_row, FGQ_QCONV_PATHS_ALL)
               : 0;
}

const char *fgq_qconv_path_name(uint32_t path)
{
    switch (path) {
    case FGQ_QCONV_PATH_DW_PHASES:
        return "depthwise, phase form";
    case FGQ_QCONV_PATH_DW_ROWS:
        return "depthwise, row form";
    case FGQ_QCONV_PATH_GEMM:
        return "im2col + GEMM";
    case FGQ_QCONV_PATH_REF:
        return "reference";
    default:
        return "none";
    }
}

uint64_t fgq_qconv_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, const fgq_target *target)
{
    qconv_shape s;
    return qconv_check_all(node, in, out, &s, NULL) == FGQ_OK ? qconv_scratch_bytes(&s, in[0], target) : 0;
}

fgq_status fgq_qconv_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                         const fgq_tensor_view *const *out, fgq_error *err)
{
    qconv_shape s;
    fgq_status st = qconv_check_all(node, in, out, &s, err); /* REQ: checked at load */
    if (st == FGQ_OK)
        st = fgq_scratch_begin(node, qconv_scratch_bytes(&s, in[0], fgq_target_build()), err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const qconv_out o = {y->data,
                         y->dtype == FGQ_DT_S8,
                         node->iparams[FGQ_QP_X_ZERO],
                         node->iparams[FGQ_QP_Y_ZERO],
                         node->iparams[FGQ_QP_QMIN],
                         node->iparams[FGQ_QP_QMAX],
                         NULL};
    if (qconv_run_dw(node, &s, x, &o) || qconv_run_gemm(node, &s, x, &o))
        return FGQ_OK;
    if (!FGQ_QCONV_ON_REF) /* fgq_qconv_check refused such a node at load */
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "no convolution path of this build takes it",
                        FGQ_NODE_ARGS(node));
    const int y_s8 = y->dtype == FGQ_DT_S8;
    const int32_t zx = node->iparams[FGQ_QP_X_ZERO], zy = node->iparams[FGQ_QP_Y_ZERO];
    const int32_t qmin = node->iparams[FGQ_QP_QMIN], qmax = node->iparams[FGQ_QP_QMAX];
    const fgq_ops_spatial *sp = &s.geom.sp;
    const fgq_idx n_batch = x->dims[0], m_out = y->dims[1];
    const fgq_idx OD = sp->out[0], OH = sp->out[1], OW = sp->out[2], y_plane = OD * OH * OW;
    for (fgq_idx n = 0; n < n_batch; n++)
        for (fgq_idx mo = 0; mo < m_out; mo++)
            for (fgq_idx od = 0; od < OD; od++)
                for (fgq_idx oh = 0; oh < OH; oh++)
                    for (fgq_idx ow = 0; ow < OW; ow++) {
                        const int32_t dot = fgq_qconv_dot(&s.geom, &s.qw, x, zx, n, mo, od, oh, ow);
                        fgq_q_store(y->data, (n * m_out + mo) * y_plane + (od * OH + oh) * OW + ow, y_s8,
                                    fgq_qweights_output(&s.qw, mo, dot, zy), qmin, qmax);
                    }
    return FGQ_OK;
}

uint64_t fgq_qconv_fout_scratch(const fgq_qconv_geom *g, const fgq_qweights *qw, const fgq_tensor_view *x,
                                const fgq_target *target)
{
    const qconv_shape s = {*g, *qw};
    return qconv_scratch_bytes(&s, x, target);
}

int fgq_qconv_run_fout(const fgq_node_view *node, const fgq_qconv_geom *g, const fgq_qweights *qw,
                       const fgq_tensor_view *x, int32_t zx, float *y, const fgq_qconv_fout *fo)
{
    const qconv_shape s = {*g, *qw};
    const qconv_out o = {y, 0, zx, 0, 0, 0, fo};
    return qconv_run_dw(node, &s, x, &o) || qconv_run_gemm(node, &s, x, &o);
}
