/*
 * conv_f32_gemm.c — float convolution as a GEMM over packed im2col panels,
 * with an AVX2+FMA microkernel (6 output channels x 16 positions held in
 * registers) and an AVX-512 one (8 output channels x 32 positions). Reference
 * twin: the direct loops of conv_f32.c (tests/test_conv_f32_gemm.c compares
 * them on random and edge shapes).
 *
 * Per batch item n and group g the convolution is Y_g[M_g, P] = W_g[M_g, K] ·
 * X_g[K, P] + B, K = C/G·kd·kh·kw in the weight's (c, kd, kh, kw) order and
 * P the output positions. Positions go in panels of NR (16; 32 for the
 * AVX-512 kernel): a panel's K x NR input columns are packed (im2col, padding
 * as 0) in chunks of KC rows into a buffer of up to KC·NR floats (64 KiB on
 * x86, 16 KiB elsewhere) in the node's scratch slice
 * (fgq_conv_f32_gemm_scratch), and every output channel of the
 * group is computed against the chunk while it sits in cache, its MR × NR sums in registers from the
 * bias (first chunk) to the store (whole panels straight into Y's rows). Each output
 * element is bias + Σ_k w·x in k order (one FMA per tap: the direct loops
 * round the product and the sum separately, so results differ from them by
 * float rounding only), then the fused activation. The AVX2 and AVX-512
 * kernels do the same operations on each element (the chunk boundaries only
 * store the sums and load them back), so they give the same bytes. Work is
 * split over threads by (n, g, panel), or, for layers of a few panels whose
 * weights pass L2, by (n, g, block of rows) with every panel's chunk packed
 * side by side (gemm_mblocks): every output element is computed by the same
 * operations whatever the split, so results are bit-identical for any thread
 * count. No allocation; the scratch holds the packed chunk(s), a partial
 * panel's tile and a tap's runs (fgq_conv_f32_gemm_scratch).
 */
#include "ops_f32.h"
#include "ops_f32_x86.h"
#include "ops_util.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CONV_GEMM_X86 1
#endif

/* KC: the im2col rows a panel packs at once (KC·NR floats of scratch): 64 KB where the AVX2
 * kernel runs (fewer passes over a tile's sums), 16 KB elsewhere. The AVX-512 kernel's panels
 * are NR5 = 32 positions wide (two vectors a row of the tile: two FMAs per weight broadcast), so
 * it packs KC5 rows a chunk for the same 64 KB, or KC5S where the group's weights fit in L2
 * (W5_L2 bytes): then the 32 KB chunk stays in L1 while every tile of rows reads it (a tile of
 * 8 x 32 at 150 GFLOP/s with 512 rows a chunk, 210 with 256, on a Sapphire Rapids core whose
 * FMA peak is 240; with larger weights the rows stream from memory, and their 2 KB runs at 512 do
 * better than 1 KB ones: ResNet-18's layer4 2.5 ms at 512, 3.9 at 256). */
#if CONV_GEMM_X86
enum { NR = 16, MR = 6, KC = 1024, NR5 = 32, MR5 = 8, KC5 = 512, KC5S = 256 };
#define W5_L2 ((int64_t)1 << 20)
#else
enum { NR = 16, MR = 6, KC = 256, NR5 = NR, MR5 = MR };
#endif
enum { ISA_C = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
/* gemm_mblocks: layers of at most BLOCKS_MAX_PANELS panels whose weights pass W5_L2 go by blocks of MB
 * rows (each block's weights read once for all the panels) instead of by panels */
enum { BLOCKS_MAX_PANELS = 4, MB = 64 };

typedef struct {
    const fgq_node_view *node;
    const fgq_ops_spatial *sp;
    const float *x, *w, *b;
    float *y;
    int64_t c_in, m_out, cg, mg, k, positions, panels;
    int64_t nr, kc_max;    /* the panel's width (NR, or NR5 for the AVX-512 kernel) and rows a chunk */
    int isa;               /* ISA_C, ISA_AVX2 or ISA_AVX512 */
    int pointwise;         /* is_pointwise: the kernels read a whole panel's rows from X where they lie */
    int blocks;            /* by_blocks: gemm_mblocks */
    uint64_t chunks_bytes; /* the scratch's packed chunks: panel_bytes(k), times panels by blocks */
    int32_t act;           /* the fused activation and its bounds (Conv's, or MatMul's) */
    float act_lo, act_hi;
    int packed;     /* whole panels of a pointwise layer packed too, not read where they lie */
    int64_t ldw;    /* floats from one row of w to the next (k, or a MatMul's whole K: a slice) */
    int accumulate; /* 1: the first chunk starts at Y's sums (a later slice of K), not the bias */
} gemm_task;

/* The scratch slice (fgq_conv_f32_gemm_scratch), 64-aligned parts: the packed chunk of K rows
 * (panel_bytes), the partial panel's tile (TILE_BYTES: MR5 × NR5 floats), and on x86 the runs
 * of one tap (RUNS_BYTES: pack_panel_2d_avx2) — kept out of the stack frames (2 KB at most). */
#define TILE_ROWS (MR5 > MR ? MR5 : MR)
#define TILE_BYTES ((uint64_t)TILE_ROWS * NR5 * sizeof(float))

static uint64_t panel_bytes(int64_t k)
{
    /* + one row of slack: pack_run_avx2 writes whole runs of 16 */
    const int64_t f16 = (k < KC ? k : KC) * NR + NR;
#if CONV_GEMM_X86
    const int64_t f32 = (k < KC5 ? k : KC5) * NR5 + NR5; /* the AVX-512 kernel's panels, where the CPU has it */
    const int64_t f = f16 > f32 ? f16 : f32;
#else
    const int64_t f = f16;
#endif
    return ((uint64_t)f * sizeof(float) + 63u) & ~(uint64_t)63u;
}

static uint64_t runs_bytes(void);

/* 1 where the AVX-512 kernel would take the layer by blocks of rows (gemm_mblocks): at most
 * BLOCKS_MAX_PANELS panels of NR5, weights of the group past W5_L2, more than one block of MB rows. */
static int by_blocks(int64_t positions, int64_t k, int64_t mg)
{
#if CONV_GEMM_X86
    return (positions + NR5 - 1) / NR5 <= BLOCKS_MAX_PANELS && mg * k * (int64_t)sizeof(float) > W5_L2 && mg > MB;
#else
    (void)positions, (void)k, (void)mg;
    return 0;
#endif
}

uint64_t fgq_conv_f32_gemm_scratch(const fgq_ops_spatial *sp, int64_t cg, int64_t mg)
{
    const int64_t k = cg * sp->kernel[0] * sp->kernel[1] * sp->kernel[2];
    const int64_t positions = sp->out[0] * sp->out[1] * sp->out[2];
    const uint64_t chunks =
        by_blocks(positions, k, mg) ? (uint64_t)((positions + NR5 - 1) / NR5) * panel_bytes(k) : panel_bytes(k);
    return chunks + TILE_BYTES + runs_bytes();
}

#if CONV_GEMM_X86
/* A run of len <= 16 positions at stride 1: os[j] = row[iw0 + j] for jlo <= j < jhi, else 0;
 * lanes outside [jlo, jhi) are not read. It writes all 16 lanes (masked stores are microcode on
 * AMD cores): lanes past len land on the runs and rows packed after it, or on the buffer's
 * slack (fgq_conv_f32_gemm_scratch). */
__attribute__((target("avx2,fma"))) static void pack_run_avx2(float *os, const float *row, int64_t iw0, int64_t jlo,
                                                              int64_t jhi)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), eight = _mm256_set1_epi32(8);
    const __m256i lo = _mm256_set1_epi32((int32_t)jlo - 1), hi = _mm256_set1_epi32((int32_t)jhi);
    const __m256i j1 = _mm256_add_epi32(lane, eight);
    const __m256i r0 = _mm256_and_si256(_mm256_cmpgt_epi32(lane, lo), _mm256_cmpgt_epi32(hi, lane));
    const __m256i r1 = _mm256_and_si256(_mm256_cmpgt_epi32(j1, lo), _mm256_cmpgt_epi32(hi, j1));
    const float *src = (const float *)(const void *)((uintptr_t)row + (uintptr_t)(iw0 * (int64_t)sizeof(float)));
    _mm256_storeu_ps(os, _mm256_maskload_ps(src, r0));
    _mm256_storeu_ps(os + 8, _mm256_maskload_ps((const float *)(const void *)((uintptr_t)src + 32u), r1));
}
#endif

#if CONV_GEMM_X86
/* The even elements of the 16 floats in a, b (a's 0, 2, 4, 6 then b's), in order: a shuffle keeps
 * them per 128-bit lane, a permute puts the lanes in order. */
__attribute__((target("avx2,fma"))) static inline __m256 even8_avx2(__m256 a, __m256 b)
{
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
}

/* The same at stride 2: os[j] = row[iw0 + 2j] where that column is inside the row [0, IW), else
 * 0, j < 16 (all 16 lanes written, as above). Four masked loads of the 32 columns iw0 .. iw0 + 31
 * (columns outside the row not read), then the even ones kept. */
__attribute__((target("avx2,fma"))) static void pack_run_s2_avx2(float *os, const float *row, int64_t iw0, int64_t IW)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), zero = _mm256_setzero_si256();
    const __m256i iw = _mm256_set1_epi32((int32_t)IW);
    const float *src = (const float *)(const void *)((uintptr_t)row + (uintptr_t)(iw0 * (int64_t)sizeof(float)));
    __m256 v[4];
    for (int q = 0; q < 4; q++) {
        const __m256i c = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(iw0 + 8 * q)), lane);
        const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(zero, c), _mm256_cmpgt_epi32(iw, c));
        v[q] = _mm256_maskload_ps((const float *)(const void *)((uintptr_t)src + (uintptr_t)(32 * q)), in);
    }
    for (int h = 0; h < 2; h++)
        _mm256_storeu_ps(os + 8 * h, even8_avx2(v[2 * h], v[2 * h + 1]));
}
#endif

#if CONV_GEMM_X86
/* The runs of one tap a 16-lane half of a panel row reads, at most RUNS_MAX (more: the generic
 * packing below): lanes [lo, hi) of the half read the channel plane at off + j·sw for lane j. */
enum { RUNS_MAX = 5 };
typedef struct {
    int64_t off;
    uint32_t k;   /* stride 1: lanes [lo, hi) as an AVX-512 mask (pack_rows16_s1) */
    __m256i m[4]; /* stride 1: lanes 0-7, 8-15 (m[0], m[1]); stride 2: the 32 columns' 4 groups of 8 */
} run16;

static uint64_t runs_bytes(void)
{
    return ((uint64_t)(2 * RUNS_MAX) * sizeof(run16) + 63u) & ~(uint64_t)63u;
}

/* The masks of lanes [lo, hi) at stride sw (1 or 2): per lane j at stride 1; per column c of the
 * 32 a stride-2 half spans, c even and c / 2 in [lo, hi). */
__attribute__((target("avx2,fma"))) static void run16_masks(run16 *rn, int64_t lo, int64_t hi, int64_t sw)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i vlo = _mm256_set1_epi32((int32_t)lo - 1), vhi = _mm256_set1_epi32((int32_t)hi);
    rn->k = ((1u << hi) - 1u) & ~((1u << lo) - 1u); /* 0 <= lo < hi <= 16 */
    for (int q = 0; q < (sw == 1 ? 2 : 4); q++) {
        __m256i j = _mm256_add_epi32(lane, _mm256_set1_epi32(8 * q));
        __m256i ok = _mm256_set1_epi32(-1);
        if (sw == 2) {
            ok = _mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(1)), _mm256_setzero_si256());
            j = _mm256_srli_epi32(j, 1);
        }
        rn->m[q] = _mm256_and_si256(ok, _mm256_and_si256(_mm256_cmpgt_epi32(j, vlo), _mm256_cmpgt_epi32(vhi, j)));
    }
}

/* pack_panel_2d_avx2's rows for stride 1 where the CPU has AVX-512F: channels [c0, c1) of one tap,
 * each half of 16 lanes one merge-masked load a run (the runs' lanes are disjoint) and one store,
 * where AVX2 took two masked loads, two ORs and two stores (ResNet-18's 64-channel 3 x 3 layers
 * spent 18 % of their time packing). The same values. */
__attribute__((target("avx512f"))) static void pack_rows16_s1(const float *xc, int64_t plane, int64_t c0, int64_t c1,
                                                              const run16 (*runs)[RUNS_MAX], const int *nruns,
                                                              int halves, float *o, int64_t ostride)
{
    for (int64_t c = c0; c < c1; c++, xc += plane, o += ostride)
        for (int h = 0; h < halves; h++) {
            __m512 v = _mm512_setzero_ps();
            for (int i = 0; i < nruns[h]; i++) {
                const run16 *rn = &runs[h][i];
                /* lanes outside the mask are not read: the address may lie outside the plane */
                const float *src = (const float *)(const void *)((uintptr_t)xc + (uintptr_t)(rn->off * 4));
                v = _mm512_mask_loadu_ps(v, (__mmask16)rn->k, src);
            }
            _mm512_storeu_ps(o + 16 * h, v);
        }
}

/* pack_panel_2d's values for stride 1 or 2 along the row, by tap: each tap's runs (the output
 * rows the panel's positions lie on, clipped to the input) are worked out once, with their lane
 * masks, and then every channel's row of that tap is masked loads from the channel's plane, OR-ed
 * (a masked load gives +0 in the lanes it leaves, and a half's runs cover disjoint lanes) and one
 * store per 16 lanes: no per-row bounds arithmetic, no divisions, no write past the row. Returns
 * 0, packing nothing, where a half would take more than RUNS_MAX runs (output rows under 7 wide)
 * or the row stride is another. */
__attribute__((target("avx2,fma"))) static int pack_panel_2d_avx2(const gemm_task *t, int64_t n, int64_t g, int64_t p0,
                                                                  int64_t np, int64_t k0, int64_t kc, float *out,
                                                                  run16 (*runs)[RUNS_MAX])
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2], kk = KH * KW, IH = sp->in[1], IW = sp->in[2], OW = sp->out[2];
    const int64_t sh = sp->stride[1], sw = sp->stride[2], dh = sp->dilation[1], dw = sp->dilation[2];
    const int64_t pt = sp->pad_begin[1], pl = sp->pad_begin[2], plane = IH * IW, nr = t->nr, halves = nr / 16;
    if ((sw != 1 && sw != 2) || IW >= ((int64_t)1 << 30))
        return 0;
    int32_t seg_q[NR5], seg_len[NR5], seg_oh[NR5], seg_ow[NR5];
    int nseg = 0;
    for (int64_t q = 0; q < np;) {
        const int64_t p = p0 + q, ow = p % OW, len = OW - ow < np - q ? OW - ow : np - q;
        seg_q[nseg] = (int32_t)q;
        seg_len[nseg] = (int32_t)len;
        seg_oh[nseg] = (int32_t)(p / OW);
        seg_ow[nseg] = (int32_t)ow;
        nseg++;
        q += len;
    }
    for (int h = 0; h < halves; h++) { /* segments meeting each half: at most RUNS_MAX */
        int cnt = 0;
        for (int si = 0; si < nseg; si++)
            cnt += seg_q[si] < 16 * h + 16 && seg_q[si] + seg_len[si] > 16 * h;
        if (cnt > RUNS_MAX)
            return 0;
    }
    const float *xg = t->x + (n * t->c_in + g * t->cg) * plane;
    int nruns[2];
    for (int64_t tap = 0; tap < kk; tap++) {
        /* rows k0 <= c·kk + tap < k0 + kc of this tap */
        const int64_t c0 = k0 > tap ? (k0 - tap + kk - 1) / kk : 0, c1 = (k0 + kc - tap + kk - 1) / kk;
        if (c0 >= c1)
            continue;
        const int64_t e = tap / KW, f = tap % KW;
        for (int h = 0; h < halves; h++) {
            nruns[h] = 0;
            for (int si = 0; si < nseg; si++) {
                const int64_t q = seg_q[si], len = seg_len[si], ih = (int64_t)seg_oh[si] * sh - pt + e * dh;
                if (ih < 0 || ih >= IH)
                    continue;
                const int64_t iw0 = (int64_t)seg_ow[si] * sw - pl + f * dw;
                const int64_t jlo = iw0 >= 0 ? 0 : sw == 1 ? -iw0 : (-iw0 + 1) / 2;
                int64_t jhi = iw0 > IW - 1 ? 0 : sw == 1 ? IW - iw0 : (IW - 1 - iw0) / 2 + 1;
                jhi = jhi < len ? jhi : len;
                /* lanes of the half: [q + jlo, q + jhi) ∩ [16h, 16h + 16) */
                const int64_t a = q + jlo > 16 * h ? q + jlo : 16 * h,
                              b = q + jhi < 16 * h + 16 ? q + jhi : 16 * h + 16;
                if (a >= b)
                    continue;
                run16 *rn = &runs[h][nruns[h]++];
                rn->off = ih * IW + iw0 + (16 * h - q) * sw;
                run16_masks(rn, a - 16 * h, b - 16 * h, sw);
            }
        }
        const float *xc = xg + c0 * plane;
        float *o = out + (c0 * kk + tap - k0) * nr;
        if (sw == 1 && t->isa == ISA_AVX512) {
            pack_rows16_s1(xc, plane, c0, c1, (const run16(*)[RUNS_MAX])runs, nruns, (int)halves, o, kk * nr);
            continue;
        }
        for (int64_t c = c0; c < c1; c++, xc += plane, o += kk * nr) {
            for (int h = 0; h < halves; h++) {
                __m256 v0 = _mm256_setzero_ps(), v1 = _mm256_setzero_ps();
                for (int i = 0; i < nruns[h]; i++) {
                    const run16 *rn = &runs[h][i];
                    /* lanes outside the masks are not read: the address may lie outside the plane */
                    const float *src = (const float *)(const void *)((uintptr_t)xc + (uintptr_t)(rn->off * 4));
                    if (sw == 1) {
                        v0 = _mm256_or_ps(v0, _mm256_maskload_ps(src, rn->m[0]));
                        v1 = _mm256_or_ps(
                            v1, _mm256_maskload_ps((const float *)(const void *)((uintptr_t)src + 32u), rn->m[1]));
                    } else { /* the even columns of 32, as pack_run_s2_avx2 keeps them */
                        __m256 u[4];
                        for (int w = 0; w < 4; w++)
                            u[w] = _mm256_maskload_ps(
                                (const float *)(const void *)((uintptr_t)src + (uintptr_t)(32 * w)), rn->m[w]);
                        v0 = _mm256_or_ps(v0, even8_avx2(u[0], u[1]));
                        v1 = _mm256_or_ps(v1, even8_avx2(u[2], u[3]));
                    }
                }
                _mm256_storeu_ps(o + 16 * h, v0);
                _mm256_storeu_ps(o + 16 * h + 8, v1);
            }
        }
    }
    return 1;
}
#else
static uint64_t runs_bytes(void)
{
    return 0;
}
#endif

/* pack_panel for 2-D (and 1-D) layers: the panel's positions are runs along output rows (at most
 * a few: 16 or 32 positions), found once; per im2col row each run reads one input row at a stride,
 * its in-range part [jlo, jhi) copied (stride 1: one memcpy) and the rest 0, with no per-element
 * division or bounds test. The same values as the general form below. */
static void pack_panel_2d(const gemm_task *t, int64_t n, int64_t g, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                          float *out)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KH = sp->kernel[1], KW = sp->kernel[2], kk = KH * KW, IH = sp->in[1], IW = sp->in[2], OW = sp->out[2];
    const int64_t sh = sp->stride[1], sw = sp->stride[2], dh = sp->dilation[1], dw = sp->dilation[2];
    const int64_t pt = sp->pad_begin[1], pl = sp->pad_begin[2], plane = IH * IW, nr = t->nr;
    int64_t seg_q[NR5], seg_len[NR5], seg_oh[NR5], seg_ow[NR5];
    int nseg = 0;
    for (int64_t q = 0; q < np;) {
        const int64_t p = p0 + q, ow = p % OW, len = OW - ow < np - q ? OW - ow : np - q;
        seg_q[nseg] = q;
        seg_len[nseg] = len;
        seg_oh[nseg] = p / OW;
        seg_ow[nseg] = ow;
        nseg++;
        q += len;
    }
    int64_t c = k0 / kk, tap = k0 % kk;
    for (int64_t r = 0; r < kc; r++) {
        const int64_t e = tap / KW, f = tap % KW;
        const float *xp = t->x + (n * t->c_in + g * t->cg + c) * plane;
        float *o = out + r * nr;
        for (int si = 0; si < nseg; si++) {
            float *os = o + seg_q[si];
            const int64_t len = seg_len[si], ih = seg_oh[si] * sh - pt + e * dh;
            if (ih < 0 || ih >= IH) {
                memset(os, 0, (size_t)len * sizeof(float));
                continue;
            }
            /* iw = iw0 + j·sw for j < len; in range for jlo <= j < jhi */
            const int64_t iw0 = seg_ow[si] * sw - pl + f * dw;
            /* (stride 1, the common case, without the divisions: they cost more than the copy) */
            const int64_t jlo = iw0 >= 0 ? 0 : sw == 1 ? -iw0 : (-iw0 + sw - 1) / sw;
            int64_t jhi = iw0 > IW - 1 ? 0 : sw == 1 ? IW - iw0 : (IW - 1 - iw0) / sw + 1;
            jhi = jhi < len ? jhi : len;
            const float *xr = xp + ih * IW; /* iw0 may be negative: index, never point, past the row */
#if CONV_GEMM_X86
            if (t->isa >= ISA_AVX2 && sw == 1) { /* two masked loads and stores instead of memcpy and memset calls */
                pack_run_avx2(os, xr, iw0, jlo, jhi);
                if (len > 16) /* a 32-wide panel's run: its second 16 (where pack_panel_2d_avx2 declined) */
                    pack_run_avx2(os + 16, xr, iw0 + 16, jlo - 16, jhi - 16);
                continue;
            }
            if (t->isa >= ISA_AVX2 && sw == 2 && IW < ((int64_t)1 << 30)) { /* stems: every other input, 4 loads */
                pack_run_s2_avx2(os, xr, iw0, IW);
                if (len > 16)
                    pack_run_s2_avx2(os + 16, xr, iw0 + 32, IW);
                continue;
            }
#endif
            int64_t j = 0;
            for (; j < jlo && j < len; j++)
                os[j] = 0.0f;
            if (sw == 1) {
                if (jhi > j) {
                    memcpy(os + j, xr + (iw0 + j), (size_t)(jhi - j) * sizeof(float));
                    j = jhi;
                }
            } else
                for (; j < jhi; j++)
                    os[j] = xr[iw0 + j * sw];
            for (; j < len; j++)
                os[j] = 0.0f;
        }
        for (int64_t q = np; q < nr; q++)
            o[q] = 0.0f;
        if (++tap == kk) {
            tap = 0;
            c++;
        }
    }
}

/* 1x1, stride 1, no padding: output position p is input element p (the output has the input's
 * spatial size: checked, so end padding is out). */
static int is_pointwise(const fgq_ops_spatial *sp)
{
    return sp->kernel[0] * sp->kernel[1] * sp->kernel[2] == 1 && sp->stride[0] == 1 && sp->stride[1] == 1 &&
           sp->stride[2] == 1 && sp->pad_begin[0] == 0 && sp->pad_begin[1] == 0 && sp->pad_begin[2] == 0 &&
           sp->out[0] == sp->in[0] && sp->out[1] == sp->in[1] && sp->out[2] == sp->in[2];
}

/* Rows [k0, k0+kc) of the panel's im2col columns at positions [p0, p0+np)
 * of batch n, group g, into out[kc][t->nr] (positions past np as 0). */
static void pack_panel(const gemm_task *t, int64_t n, int64_t g, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                       float *out, void *runs)
{
    const fgq_ops_spatial *sp = t->sp;
    const int64_t KD = sp->kernel[0], KH = sp->kernel[1], KW = sp->kernel[2], kk = KD * KH * KW;
    const int64_t ID = sp->in[0], IH = sp->in[1], IW = sp->in[2];
    const int64_t OH = sp->out[1], OW = sp->out[2];
    const int64_t plane = ID * IH * IW, nr = t->nr;
    const int pointwise = t->pointwise; /* is_pointwise: position p is input element p */
    if (ID == 1 && KD == 1 && sp->out[0] == 1 && sp->pad_begin[0] == 0 && !pointwise) {
#if CONV_GEMM_X86
        if (t->isa >= ISA_AVX2 && pack_panel_2d_avx2(t, n, g, p0, np, k0, kc, out, (run16(*)[RUNS_MAX])runs))
            return;
#else
        (void)runs;
#endif
        pack_panel_2d(t, n, g, p0, np, k0, kc, out);
        return;
    }
    int64_t od[NR5], oh[NR5], ow[NR5];
    for (int64_t q = 0; q < np; q++) {
        const int64_t p = p0 + q;
        od[q] = p / (OH * OW);
        oh[q] = (p / OW) % OH;
        ow[q] = p % OW;
    }
    for (int64_t r = 0; r < kc; r++) {
        const int64_t kr = k0 + r, c = kr / kk, tap = kr % kk;
        const int64_t a = tap / (KH * KW), e = (tap / KW) % KH, f = tap % KW;
        const float *xp = t->x + (n * t->c_in + g * t->cg + c) * plane;
        float *o = out + r * nr;
        if (pointwise) { /* its positions, then zeros (the x86 kernels read a whole panel in place) */
            memcpy(o, xp + p0, (size_t)np * sizeof(float));
            memset(o + np, 0, (size_t)(nr - np) * sizeof(float));
            continue;
        }
        for (int64_t q = 0; q < np; q++) {
            const int64_t i0 = od[q] * sp->stride[0] - sp->pad_begin[0] + a * sp->dilation[0];
            const int64_t i1 = oh[q] * sp->stride[1] - sp->pad_begin[1] + e * sp->dilation[1];
            const int64_t i2 = ow[q] * sp->stride[2] - sp->pad_begin[2] + f * sp->dilation[2];
            o[q] = i0 >= 0 && i0 < ID && i1 >= 0 && i1 < IH && i2 >= 0 && i2 < IW ? xp[(i0 * IH + i1) * IW + i2]
                                                                                   : 0.0f;
        }
        for (int64_t q = np; q < nr; q++)
            o[q] = 0.0f;
    }
}

/* c[i·ldc + 0..16) = (bias ? bias[i] : c[i·ldc + ..]) + Σ_{r < kc} w[i·ldw + r] · bp[r·ldb + 0..16),
 * for i < mr, in r order (portable; the AVX2 kernel does the same with one FMA per tap). */
static void kernel_ref(const float *w, int64_t ldw, int64_t mr, const float *bp, int64_t ldb, int64_t kc, float *c,
                       int64_t ldc, const float *bias)
{
    for (int64_t i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        if (bias != NULL)
            for (int q = 0; q < NR; q++)
                ci[q] = bias[i];
        for (int64_t r = 0; r < kc; r++) {
            const float a = w[i * ldw + r];
            for (int q = 0; q < NR; q++)
                ci[q] += a * bp[r * ldb + q];
        }
    }
}

#if CONV_GEMM_X86
/* The fused activation on 8 sums, fgq_ops_act_apply_f32's rule lane by lane: ReLU y < 0 ? 0 : y,
 * Clip (y < lo ? lo : y) then (v > hi ? hi : v); ordered compares, so NaN and −0 pass as there. */
__attribute__((target("avx2,fma"))) static inline __m256 act8(__m256 y, int act, __m256 lo, __m256 hi)
{
    if (act == FGQ_ACT_RELU)
        return _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_LT_OQ));
    if (act == FGQ_ACT_CLIP) {
        const __m256 v = _mm256_blendv_ps(y, lo, _mm256_cmp_ps(y, lo, _CMP_LT_OQ));
        return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    }
    return y;
}

/* The accumulators' start: bias[i] broadcast, or the row's running sums. */
#define KA_INIT(ci, i)                                                                                                 \
    (bias != NULL ? _mm256_set1_ps(bias[i]) : _mm256_loadu_ps(ci))

/* act: the fused activation, applied before the store (the last chunk of K), or FGQ_ACT_NONE. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(const float *w, int64_t ldw, int64_t mr, const float *bp,
                                                            int64_t ldb, int64_t kc, float *c, int64_t ldc,
                                                            const float *bias, int act, float act_lo, float act_hi)
{
    const __m256 alo = _mm256_set1_ps(act_lo), ahi = _mm256_set1_ps(act_hi);
    if (mr != MR) {
        for (int64_t i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            __m256 c0 = KA_INIT(ci, i), c1 = bias != NULL ? _mm256_set1_ps(bias[i]) : _mm256_loadu_ps(ci + 8);
            const float *wi = w + i * ldw;
            for (int64_t r = 0; r < kc; r++) {
                const __m256 a = _mm256_broadcast_ss(wi + r);
                c0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(bp + r * ldb), c0);
                c1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(bp + r * ldb + 8), c1);
            }
            _mm256_storeu_ps(ci, act8(c0, act, alo, ahi));
            _mm256_storeu_ps(ci + 8, act8(c1, act, alo, ahi));
        }
        return;
    }
    float *r0 = c, *r1 = c + ldc, *r2 = c + 2 * ldc, *r3 = c + 3 * ldc, *r4 = c + 4 * ldc, *r5 = c + 5 * ldc;
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (bias != NULL) {
        c00 = c01 = _mm256_set1_ps(bias[0]);
        c10 = c11 = _mm256_set1_ps(bias[1]);
        c20 = c21 = _mm256_set1_ps(bias[2]);
        c30 = c31 = _mm256_set1_ps(bias[3]);
        c40 = c41 = _mm256_set1_ps(bias[4]);
        c50 = c51 = _mm256_set1_ps(bias[5]);
    } else {
        c00 = _mm256_loadu_ps(r0), c01 = _mm256_loadu_ps(r0 + 8);
        c10 = _mm256_loadu_ps(r1), c11 = _mm256_loadu_ps(r1 + 8);
        c20 = _mm256_loadu_ps(r2), c21 = _mm256_loadu_ps(r2 + 8);
        c30 = _mm256_loadu_ps(r3), c31 = _mm256_loadu_ps(r3 + 8);
        c40 = _mm256_loadu_ps(r4), c41 = _mm256_loadu_ps(r4 + 8);
        c50 = _mm256_loadu_ps(r5), c51 = _mm256_loadu_ps(r5 + 8);
    }
    const float *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw, *w4 = w + 4 * ldw, *w5 = w + 5 * ldw;
    for (int64_t r = 0; r < kc; r++) {
        const __m256 b0 = _mm256_loadu_ps(bp + r * ldb), b1 = _mm256_loadu_ps(bp + r * ldb + 8);
        __m256 a = _mm256_broadcast_ss(w0 + r);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(w1 + r);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(w2 + r);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(w3 + r);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(w4 + r);
        c40 = _mm256_fmadd_ps(a, b0, c40);
        c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(w5 + r);
        c50 = _mm256_fmadd_ps(a, b0, c50);
        c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    _mm256_storeu_ps(r0, act8(c00, act, alo, ahi));
    _mm256_storeu_ps(r0 + 8, act8(c01, act, alo, ahi));
    _mm256_storeu_ps(r1, act8(c10, act, alo, ahi));
    _mm256_storeu_ps(r1 + 8, act8(c11, act, alo, ahi));
    _mm256_storeu_ps(r2, act8(c20, act, alo, ahi));
    _mm256_storeu_ps(r2 + 8, act8(c21, act, alo, ahi));
    _mm256_storeu_ps(r3, act8(c30, act, alo, ahi));
    _mm256_storeu_ps(r3 + 8, act8(c31, act, alo, ahi));
    _mm256_storeu_ps(r4, act8(c40, act, alo, ahi));
    _mm256_storeu_ps(r4 + 8, act8(c41, act, alo, ahi));
    _mm256_storeu_ps(r5, act8(c50, act, alo, ahi));
    _mm256_storeu_ps(r5 + 8, act8(c51, act, alo, ahi));
}
#undef KA_INIT

/* R (<= MR5) rows of the AVX-512 tile: rows i < R of c (ldc apart) = their start (bias[i], or the
 * sums there) + Σ_{r < kc} w[i·ldw + r] · bp[r][0..V·16), one FMA per tap in r order as in
 * kernel_avx2, V vectors of 16 positions a row (2; 1 for a last panel of at most 16 positions,
 * whose other half would be padding). R and V are constants at each call (always inlined): the
 * sums live in V·R registers. pf: the next tile's weights (R rows, ldw apart) or NULL; each 16
 * taps fetch those rows' next 64 bytes into L1, so that a layer whose weights come from memory
 * (most of a network's pointwise layers: the other layers' weights evict them between runs)
 * finds them there, where 8 rows a tile in runs of K floats gave the hardware prefetcher too
 * short a stream (EfficientNet-Lite1's pointwise layers 10.5 -> 8.6 ms a run, in-model). */
__attribute__((target("avx512f"), always_inline)) static inline void tile_avx512(
    const int R, const int V, const float *w, int64_t ldw, const float *bp, int64_t ldb, int64_t kc, float *c,
    int64_t ldc, const float *bias, int act, __m512 alo, __m512 ahi, const float *pf)
{
    __m512 s0[MR5], s1[MR5];
    const float *wr[MR5];
    for (int i = 0; i < R; i++) {
        wr[i] = w + i * ldw;
        if (bias != NULL)
            s0[i] = s1[i] = _mm512_set1_ps(bias[i]);
        else {
            s0[i] = _mm512_loadu_ps(c + i * ldc);
            s1[i] = V == 2 ? _mm512_loadu_ps(c + i * ldc + 16) : s0[i];
        }
    }
    for (int64_t r0 = 0; r0 < kc; r0 += 16) {
        const int64_t r1 = kc - r0 < 16 ? kc : r0 + 16;
        if (pf != NULL)
            for (int i = 0; i < R; i++)
                _mm_prefetch((const char *)(pf + i * ldw + r0), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int64_t r = r0; r < r1; r++) {
            const __m512 b0 = _mm512_loadu_ps(bp + r * ldb);
            const __m512 b1 = V == 2 ? _mm512_loadu_ps(bp + r * ldb + 16) : b0;
            for (int i = 0; i < R; i++) {
                const __m512 a = _mm512_set1_ps(wr[i][r]);
                s0[i] = _mm512_fmadd_ps(a, b0, s0[i]);
                if (V == 2)
                    s1[i] = _mm512_fmadd_ps(a, b1, s1[i]);
            }
        }
    }
    for (int i = 0; i < R; i++) {
        _mm512_storeu_ps(c + i * ldc, fgq_f32_act16(s0[i], act, alo, ahi));
        if (V == 2)
            _mm512_storeu_ps(c + i * ldc + 16, fgq_f32_act16(s1[i], act, alo, ahi));
    }
}

/* The tiles of mr <= MR5 rows, V vectors wide: 8 rows a tile, or 4 and then single rows. */
__attribute__((target("avx512f"), always_inline)) static inline void rows_avx512(
    const int V, const float *w, int64_t ldw, int64_t mr, const float *bp, int64_t ldb, int64_t kc, float *c,
    int64_t ldc, const float *bias, int act, __m512 alo, __m512 ahi, const float *pf)
{
    if (mr == MR5) {
        tile_avx512(MR5, V, w, ldw, bp, ldb, kc, c, ldc, bias, act, alo, ahi, pf);
        return;
    }
    int64_t i = 0;
    if (mr >= 4) {
        tile_avx512(4, V, w, ldw, bp, ldb, kc, c, ldc, bias, act, alo, ahi, NULL);
        i = 4;
    }
    for (; i < mr; i++)
        tile_avx512(1, V, w + i * ldw, ldw, bp, ldb, kc, c + i * ldc, ldc, bias != NULL ? bias + i : NULL, act, alo,
                    ahi, NULL);
}

/* kernel_avx2's contract on a panel of 32 positions (bp[kc][32]) of which np hold positions. */
__attribute__((target("avx512f"))) static void kernel_avx512(const float *w, int64_t ldw, int64_t mr, const float *bp,
                                                             int64_t ldb, int64_t kc, int64_t np, float *c, int64_t ldc,
                                                             const float *bias, int act, float act_lo, float act_hi,
                                                             const float *pf)
{
    const __m512 alo = _mm512_set1_ps(act_lo), ahi = _mm512_set1_ps(act_hi);
    if (np > 16)
        rows_avx512(2, w, ldw, mr, bp, ldb, kc, c, ldc, bias, act, alo, ahi, pf);
    else
        rows_avx512(1, w, ldw, mr, bp, ldb, kc, c, ldc, bias, act, alo, ahi, pf);
}
#endif

static const float zeros[TILE_ROWS]; /* the bias of a layer without one */

/* Rows [m_lo, m_hi) of group g, batch n against one panel's chunk of K rows [k0, k0 + kc) at
 * positions [p0, p0 + np): bsrc (ldb apart) holds the chunk; tiles of MR (MR5) rows. */
static void panel_tiles(const gemm_task *t, int64_t n, int64_t g, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                        const float *bsrc, int64_t ldb, int64_t m_lo, int64_t m_hi, float *ctile)
{
    const int32_t act = t->act;
    const float act_lo = t->act_lo, act_hi = t->act_hi;
    const int64_t P = t->positions, K = t->k, nr = t->nr, ldw = t->ldw;
    const int64_t mr_max = t->isa == ISA_AVX512 ? MR5 : MR;
    for (int64_t m0 = m_lo; m0 < m_hi; m0 += mr_max) {
        const int64_t mr = m_hi - m0 < mr_max ? m_hi - m0 : mr_max, mo = g * t->mg + m0;
        /* the first chunk starts at the bias (0 without one), later ones at the sums so far;
         * a whole panel runs on Y's rows, a partial one on c */
        const float *bias = k0 == 0 && !t->accumulate ? (t->b != NULL ? t->b + mo : zeros) : NULL;
        float *yt = t->y + (n * t->m_out + mo) * P + p0;
        float *ct = np == nr ? yt : ctile;
        const int64_t ldc = np == nr ? P : NR5; /* c's rows are NR5 apart */
        if (np != nr && bias == NULL)
            for (int64_t i = 0; i < mr; i++) {
                memcpy(ctile + i * NR5, yt + i * P, (size_t)np * sizeof(float));
                for (int64_t q = np; q < nr; q++)
                    ctile[i * NR5 + q] = 0.0f;
            }
        const float *wp = t->w + mo * ldw + k0;
        const int last_act = k0 + kc == K ? act : FGQ_ACT_NONE; /* fused into the last chunk's store */
#if CONV_GEMM_X86
        if (t->isa == ISA_AVX512)
            kernel_avx512(wp, ldw, mr, bsrc, ldb, kc, np, ct, ldc, bias, last_act, act_lo, act_hi,
                          m0 + 2 * mr_max <= m_hi ? wp + mr_max * ldw : NULL);
        else if (t->isa == ISA_AVX2)
            kernel_avx2(wp, ldw, mr, bsrc, ldb, kc, ct, ldc, bias, last_act, act_lo, act_hi);
        else
#endif
            kernel_ref(wp, ldw, mr, bsrc, ldb, kc, ct, ldc, bias);
#if !CONV_GEMM_X86
        (void)last_act, (void)act_lo, (void)act_hi;
#endif
        if (np != nr)
            for (int64_t i = 0; i < mr; i++)
                memcpy(yt + i * P, ctile + i * NR5, (size_t)np * sizeof(float));
    }
}

/* The chunk [k0, k0 + kc) of panel pan for batch n, group g: where it lies in X (a whole panel of
 * a 1x1 stride-1 layer: the optimized kernels load its rows unaligned) or packed into bp. */
static const float *panel_chunk(const gemm_task *t, int64_t n, int64_t g, int64_t p0, int64_t np, int64_t k0,
                                int64_t kc, float *bp, void *runs, int64_t *ldb)
{
    if (t->pointwise && np == t->nr && t->isa != ISA_C && !t->packed) {
        *ldb = t->positions;
        return t->x + (n * t->c_in + g * t->cg + k0) * t->positions + p0;
    }
    pack_panel(t, n, g, p0, np, k0, kc, bp, runs);
    *ldb = t->nr;
    return bp;
}

/* Panels [begin, end) of the flattened (n, g, panel) space: each panel's chunks against every
 * row of the group. */
static void gemm_panels(void *ctx, fgq_idx begin, fgq_idx end)
{
    const gemm_task *t = (const gemm_task *)ctx;
    const int32_t act = t->act;
    const float act_lo = t->act_lo, act_hi = t->act_hi;
    const int64_t groups = t->c_in / t->cg, P = t->positions, K = t->k, nr = t->nr, kcm = t->kc_max;
    int32_t slot;
    float *bp = (float *)fgq_scratch_claim(t->node, &slot);            /* [min(K, kc_max)][nr] */
    float *ctile = (float *)(void *)((uint8_t *)bp + t->chunks_bytes); /* [TILE_ROWS][NR5] */
    void *runs = (uint8_t *)ctile + TILE_BYTES;
    for (int64_t it = begin; it < end; it++) {
        const int64_t pan = it % t->panels, ng = it / t->panels, g = ng % groups, n = ng / groups;
        const int64_t p0 = pan * nr, np = P - p0 < nr ? P - p0 : nr;
        for (int64_t k0 = 0; k0 < K; k0 += kcm) {
            const int64_t kc = K - k0 < kcm ? K - k0 : kcm;
            int64_t ldb;
            const float *bsrc = panel_chunk(t, n, g, p0, np, k0, kc, bp, runs, &ldb);
            panel_tiles(t, n, g, p0, np, k0, kc, bsrc, ldb, 0, t->mg, ctile);
        }
        if (t->isa == ISA_C)
            for (int64_t mo = g * t->mg; mo < (g + 1) * t->mg; mo++)
                fgq_ops_act_apply_f32(t->y + (n * t->m_out + mo) * P + p0, np, act, act_lo, act_hi);
    }
    fgq_scratch_release(t->node, slot);
}

/* Blocks [begin, end) of the flattened (n, g, block of MB rows) space, for layers of a few panels
 * whose weights pass L2 (by_blocks): per chunk of K every panel is packed once (side by side in
 * the scratch), then each block's rows run against each panel in turn, so that a block's weights
 * (MB × KC5 floats, 128 KB) come from memory once and not once per panel (ResNet's 7 x 7 layers:
 * 2 panels, 9.4 MB of weights). The same tiles and chunks as gemm_panels: the same bytes. */
static void gemm_mblocks(void *ctx, fgq_idx begin, fgq_idx end)
{
    const gemm_task *t = (const gemm_task *)ctx;
    const int64_t groups = t->c_in / t->cg, P = t->positions, K = t->k, nr = t->nr, kcm = t->kc_max;
    const int64_t nb = (t->mg + MB - 1) / MB;
    int32_t slot;
    float *bp = (float *)fgq_scratch_claim(t->node, &slot); /* panels x [min(K, kc_max)][nr] */
    float *ctile = (float *)(void *)((uint8_t *)bp + t->chunks_bytes);
    void *runs = (uint8_t *)ctile + TILE_BYTES;
    const int64_t chunk_floats = (int64_t)(panel_bytes(K) / sizeof(float)); /* one panel's chunk */
    for (int64_t it = begin; it < end;) {
        /* the range's blocks of one (n, g): each chunk packed once for all of them */
        const int64_t ng = it / nb, g = ng % groups, n = ng / groups,
                      it_end = (ng + 1) * nb < end ? (ng + 1) * nb : end;
        for (int64_t k0 = 0; k0 < K; k0 += kcm) {
            const int64_t kc = K - k0 < kcm ? K - k0 : kcm;
            const float *src[BLOCKS_MAX_PANELS];
            int64_t ldb[BLOCKS_MAX_PANELS];
            for (int64_t pan = 0; pan < t->panels; pan++) {
                const int64_t p0 = pan * nr, np = P - p0 < nr ? P - p0 : nr;
                src[pan] = panel_chunk(t, n, g, p0, np, k0, kc, bp + pan * chunk_floats, runs, &ldb[pan]);
            }
            for (int64_t b = it; b < it_end; b++) {
                const int64_t mb = b % nb, m_lo = mb * MB, m_hi = t->mg - m_lo < MB ? t->mg : m_lo + MB;
                for (int64_t pan = 0; pan < t->panels; pan++) {
                    const int64_t p0 = pan * nr, np = P - p0 < nr ? P - p0 : nr;
                    panel_tiles(t, n, g, p0, np, k0, kc, src[pan], ldb[pan], m_lo, m_hi, ctile);
                }
            }
        }
        it = it_end;
    }
    fgq_scratch_release(t->node, slot);
}

int fgq_conv_f32_gemm_fits(const fgq_ops_spatial *sp, int64_t cg, int64_t mg)
{
    const int64_t kk = sp->kernel[0] * sp->kernel[1] * sp->kernel[2];
    /* depthwise-like groups (a few rows, a few taps) do better in the direct loops */
    return mg >= 4 && cg * kk >= 8;
}

static fgq_status conv_gemm_run(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                                const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups,
                                int isa, int32_t act, float act_lo, float act_hi, int packed, int64_t ldw,
                                int accumulate, fgq_error *err);

fgq_status fgq_conv_f32_gemm(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                             const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups,
                             int isa, fgq_error *err)
{
    return conv_gemm_run(node, sp, x, w, b, y, batch, c_in, m_out, groups, isa, node->iparams[FGQ_P_ACT],
                         node->fparams[FGQ_PF_ACT0], node->fparams[FGQ_PF_ACT1], 0, 0, 0, err);
}

/* MatMul's Y [m, n] = A [m, k] · B [k, n] as a 1 x 1 layer: A's rows are the weights' (M = m, K = k),
 * B the input of k channels over n positions (its rows read where they lie, whole panels, or
 * packed, the last), Y the output's channels. */
static fgq_ops_spatial matmul_geometry(int64_t n)
{
    fgq_ops_spatial sp;
    memset(&sp, 0, sizeof sp);
    for (int j = 0; j < 3; j++) {
        sp.in[j] = sp.out[j] = j == 2 ? n : 1;
        sp.kernel[j] = sp.stride[j] = sp.dilation[j] = 1;
    }
    return sp;
}

int fgq_matmul_f32_gemm_fits(int64_t m, int64_t k)
{
    const fgq_ops_spatial sp = matmul_geometry(1);
    return fgq_conv_f32_gemm_fits(&sp, k, m);
}

uint64_t fgq_matmul_f32_gemm_scratch(int64_t m, int64_t k, int64_t n)
{
    const fgq_ops_spatial sp = matmul_geometry(n);
    return fgq_conv_f32_gemm_scratch(&sp, k, m);
}

fgq_status fgq_matmul_f32_gemm(const fgq_node_view *node, const float *a, const float *b, float *y, int64_t m,
                               int64_t k, int64_t n, int isa, int32_t act, float act_lo, float act_hi, fgq_error *err)
{
    const fgq_ops_spatial sp = matmul_geometry(n);
#if CONV_GEMM_X86
    /* A past L2: K in slices of KC5S, each over every panel (Y's sums stored and loaded back
     * between them, as between a panel's chunks: the same bytes), so that the slice's columns of
     * A stay in L2 while the panels pass instead of coming from memory again for every panel
     * (ViT-B/16's 197 x 3072 x 768: 8.9 -> 7.0 ms, one thread) */
    if (isa == ISA_AVX512 && m * k * (int64_t)sizeof(float) > W5_L2 && k > KC5S) {
        for (int64_t k0 = 0; k0 < k; k0 += KC5S) {
            const int64_t ks = k - k0 < KC5S ? k - k0 : KC5S, last = k0 + ks == k;
            const fgq_status st = conv_gemm_run(node, &sp, b + k0 * n, a + k0, NULL, y, 1, ks, m, 1, isa,
                                                last ? act : FGQ_ACT_NONE, act_lo, act_hi, 1, k, k0 > 0, err);
            if (st != FGQ_OK)
                return st;
        }
        return FGQ_OK;
    }
#endif
    return conv_gemm_run(node, &sp, b, a, NULL, y, 1, k, m, 1, isa, act, act_lo, act_hi, 1, 0, 0, err);
}

static fgq_status conv_gemm_run(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                                const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups,
                                int isa, int32_t act, float act_lo, float act_hi, int packed, int64_t ldw,
                                int accumulate, fgq_error *err)
{
    fgq_status st = fgq_scratch_begin(node, fgq_conv_f32_gemm_scratch(sp, c_in / groups, m_out / groups), err);
    if (st != FGQ_OK)
        return st;
#if !CONV_GEMM_X86
    isa = ISA_C;
#endif
    isa = isa < ISA_C ? ISA_C : isa > ISA_AVX512 ? ISA_AVX512 : isa;
    gemm_task t = {
        .node = node,
        .sp = sp,
        .x = x,
        .w = w,
        .b = b,
        .y = y,
        .c_in = c_in,
        .m_out = m_out,
        .cg = c_in / groups,
        .mg = m_out / groups,
        .positions = sp->out[0] * sp->out[1] * sp->out[2],
        .isa = isa,
        .pointwise = is_pointwise(sp),
        .act = act,
        .act_lo = act_lo,
        .act_hi = act_hi,
        .packed = packed,
        .accumulate = accumulate,
    };
    t.k = t.cg * sp->kernel[0] * sp->kernel[1] * sp->kernel[2];
    t.ldw = ldw > 0 ? ldw : t.k;
#if CONV_GEMM_X86
    t.nr = isa == ISA_AVX512 ? NR5 : NR;
    t.kc_max = isa != ISA_AVX512 ? KC : t.mg * t.k * (int64_t)sizeof(float) <= W5_L2 ? KC5S : KC5;
#else
    t.nr = NR;
    t.kc_max = KC;
#endif
    t.panels = (t.positions + t.nr - 1) / t.nr;
    t.blocks = isa == ISA_AVX512 && by_blocks(t.positions, t.k, t.mg);
    t.chunks_bytes = t.blocks ? (uint64_t)t.panels * panel_bytes(t.k) : panel_bytes(t.k);
    if (t.blocks) {
        /* one chunk of blocks a thread: each chunk packs every panel of the layer again */
        const int64_t blocks = batch * groups * ((t.mg + MB - 1) / MB);
        const fgq_parallel *par = node->par;
        const int64_t nt = par != NULL && par->n_threads > 1 ? par->n_threads : 1;
        fgq_parallel_for(par, blocks, (blocks + nt - 1) / nt, gemm_mblocks, &t);
        return FGQ_OK;
    }
    const int64_t n_items = batch * groups * t.panels;
    fgq_parallel_for(node->par, n_items, fgq_parallel_grain(node->par, n_items, t.mg * t.k * t.nr), gemm_panels, &t);
    return FGQ_OK;
}
