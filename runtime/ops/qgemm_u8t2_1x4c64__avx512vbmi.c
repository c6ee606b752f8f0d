/*
 * qgemm_u8t2_1x4c64__avx512vbmi.c — ternary t2 GEMV: one activation row × 4
 * weight rows, 64 codes a step in 512-bit vectors. Blocks of 4 or more
 * activation rows go to qgemm_u8t2_4x4c32__avx512vnni (its tile reuses each
 * decoded chunk over 4 rows; here every code is used once, so the decode is
 * the cost). Weights without GS, or with symmetric groups of 64·j (or one
 * group over the row). Reference twin: fgq_qweights_dot.
 *
 * Decode, 3 instructions per 64 codes (16 bytes): vbroadcasti32x4 (a load,
 * no shuffle) repeats the 16 code bytes in each 128-bit lane; vpmultishiftqb
 * moves 2-bit fields to the bottom of bytes; vpermb through a 64-entry table
 * that looks only at the low 2 bits gives w in {0, +1, −1, 0}. Output byte
 * 8i + j of the chunk comes from qword i mod 2 at bit 2·(8·(i/2) + j), i.e.
 * holds code k = 32·(i mod 2) + 8·(i/2) + j; the 64 activations are put in
 * the same order once per chunk (one vpermb shared by the 4 weight rows).
 * Dot, 2 vpdpbusd per chunk and row: with a' = a (u8) or a ^ 0x80 (s8, zx' =
 * zx + 128), P_g = Σ_{k∈g} w·a' and Q_g = Σ_{k∈g} w·zx', so
 *   P_g − Q_g = Σ_{k∈g} w·(a − zx),
 * then acc += m_g·(P_g − Q_g) per group. All of it wraps modulo 2^32 and the
 * true value fits int32 (§3.5), so the result is exact. (Shuffles are the
 * bottleneck on this VM's Zen 4: a first version with a vpermq per row and a
 * second table for −w ran at 54 GOP/s on 8192², this one at the figure in
 * docs/benchmarks.md.)
 */
#include "qgemm_avx512vnni.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

#define FGQ_VBMI_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"
#define FGQ_VBMI_INLINE static inline __attribute__((always_inline, target(FGQ_VBMI_TARGET)))

typedef struct {
    __m512i act_perm, shift, lut, flip, zxv;
} vbmi_consts;


/* codes [k, k + 64) of a row (16 bytes, fewer at the row's end) as w in the
 * chunk's byte order, zero past `mask` (a mask in natural k order, permuted
 * like the activations: pmask). */
FGQ_VBMI_INLINE __m512i vbmi_decode(const uint8_t *row, int64_t k, __mmask64 mask, __mmask64 pmask, int full,
                                    const vbmi_consts *c)
{
    __m512i b;
    if (full) {
        b = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(row + k / 4)));
    } else {
        const int valid = __builtin_popcountll(mask);
        b = _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8((__mmask16)((1u << ((valid + 3) / 4)) - 1u), row + k / 4));
    }
    const __m512i w = _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(c->shift, b), c->lut);
    return full ? w : _mm512_maskz_mov_epi8(pmask, w);
}

/* 64 activations from p (zero past mask), in the chunk's byte order. */
FGQ_VBMI_INLINE __m512i vbmi_act(int a_s8, const uint8_t *p, __mmask64 mask, int full, const vbmi_consts *c)
{
    __m512i v = full ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi8(mask, p);
    if (a_s8)
        v = _mm512_xor_si512(v, c->flip);
    return _mm512_permutexvar_epi8(c->act_perm, v);
}

/* One chunk of 64 k into the group sums p0..p3 (Σ w·a') and q0..q3 (Σ w·zx'). */
#define VBMI_CHUNK(full, mask, pmask)                                              \
    do {                                                                           \
        const __m512i x = vbmi_act(a_s8, a + k, mask, full, c);                    \
        __m512i w = vbmi_decode(w0, k, mask, pmask, full, c);                      \
        VNNI_DP(p0, x, w);                                                         \
        VNNI_DP(q0, c->zxv, w);                                                    \
        w = vbmi_decode(w1, k, mask, pmask, full, c);                              \
        VNNI_DP(p1, x, w);                                                         \
        VNNI_DP(q1, c->zxv, w);                                                    \
        w = vbmi_decode(w2, k, mask, pmask, full, c);                              \
        VNNI_DP(p2, x, w);                                                         \
        VNNI_DP(q2, c->zxv, w);                                                    \
        w = vbmi_decode(w3, k, mask, pmask, full, c);                              \
        VNNI_DP(p3, x, w);                                                         \
        VNNI_DP(q3, c->zxv, w);                                                    \
    } while (0)

/* The chunk-order mask of a natural-order mask: bit 8i + j <- bit 32(i mod 2) + 8(i/2) + j. */
static inline __mmask64 vbmi_perm_mask(__mmask64 m)
{
    uint64_t r = 0;
    for (int i = 0; i < 8; i++)
        r |= ((m >> (32 * (i % 2) + 8 * (i / 2))) & 0xFFull) << (8 * i);
    return (__mmask64)r;
}

FGQ_VBMI_INLINE void vbmi_rows4(int a_s8, const fgq_qweights *qw, const int64_t *rows, const uint8_t *a,
                                const vbmi_consts *c, int32_t *out)
{
    const int64_t K = qw->k, G = qw->has_gs ? qw->group : K;
    const uint8_t *w0 = qw->codes + rows[0] * qw->row_bytes, *w1 = qw->codes + rows[1] * qw->row_bytes;
    const uint8_t *w2 = qw->codes + rows[2] * qw->row_bytes, *w3 = qw->codes + rows[3] * qw->row_bytes;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
        const int64_t k1 = K - k0 > G ? k0 + G : K, kf = k0 + ((k1 - k0) & ~(int64_t)63);
        __m512i p0 = _mm512_setzero_si512(), p1 = p0, p2 = p0, p3 = p0, q0 = p0, q1 = p0, q2 = p0, q3 = p0;
        int64_t k = k0;
        for (; k < kf; k += 64)
            VBMI_CHUNK(1, (__mmask64)~0ull, (__mmask64)~0ull);
        if (k < k1) {
            const __mmask64 mask = (__mmask64)((1ull << (k1 - k)) - 1ull);
            VBMI_CHUNK(0, mask, vbmi_perm_mask(mask));
        }
        p0 = _mm512_sub_epi32(p0, q0);
        p1 = _mm512_sub_epi32(p1, q1);
        p2 = _mm512_sub_epi32(p2, q2);
        p3 = _mm512_sub_epi32(p3, q3);
        if (qw->has_gs) {
            p0 = _mm512_mullo_epi32(p0, _mm512_set1_epi32(vnni_mult(qw, rows[0], g)));
            p1 = _mm512_mullo_epi32(p1, _mm512_set1_epi32(vnni_mult(qw, rows[1], g)));
            p2 = _mm512_mullo_epi32(p2, _mm512_set1_epi32(vnni_mult(qw, rows[2], g)));
            p3 = _mm512_mullo_epi32(p3, _mm512_set1_epi32(vnni_mult(qw, rows[3], g)));
        }
        s0 = _mm512_add_epi32(s0, p0);
        s1 = _mm512_add_epi32(s1, p1);
        s2 = _mm512_add_epi32(s2, p2);
        s3 = _mm512_add_epi32(s3, p3);
    }
    out[0] = _mm512_reduce_add_epi32(s0);
    out[1] = _mm512_reduce_add_epi32(s1);
    out[2] = _mm512_reduce_add_epi32(s2);
    out[3] = _mm512_reduce_add_epi32(s3);
}

FGQ_VBMI_INLINE void vbmi_consts_init(vbmi_consts *c, int a_s8, int32_t zx)
{
    uint8_t sh[64], lut[64], perm[64];
    for (int p = 0; p < 64; p++) {
        const int i = p / 8, j = p % 8;
        sh[p] = (uint8_t)(16 * (i / 2) + 2 * j);           /* within qword i mod 2 of the lane */
        perm[p] = (uint8_t)(32 * (i % 2) + 8 * (i / 2) + j); /* the code (and activation) it holds */
        const int code = p & 3;
        lut[p] = (uint8_t)(code == 1 ? 1 : code == 2 ? 0xFF : 0);
    }
    c->shift = _mm512_loadu_si512((const void *)sh);
    c->lut = _mm512_loadu_si512((const void *)lut);
    c->act_perm = _mm512_loadu_si512((const void *)perm);
    c->flip = _mm512_set1_epi8(a_s8 ? (char)0x80 : 0);
    c->zxv = _mm512_set1_epi8((char)(uint8_t)(a_s8 ? zx + 128 : zx));
}

FGQ_VBMI_INLINE void vbmi_dot(int a_s8, const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int32_t zx,
                              int32_t *dot)
{
    vbmi_consts c;
    vbmi_consts_init(&c, a_s8, zx);
    for (int64_t i = 0; i < n; i += 4) {
        int64_t rows[4];
        for (int j = 0; j < 4; j++)
            rows[j] = j0 + (i + j < n ? i + j : n - 1);
        int32_t out[4];
        vbmi_rows4(a_s8, qw, rows, a, &c, out);
        for (int j = 0; j < 4 && i + j < n; j++)
            dot[i + j] = out[j];
    }
}

__attribute__((target(FGQ_VBMI_TARGET))) void fgq_qgemm_u8t2_1x4c64__avx512vbmi(const fgq_qweights *qw, int64_t j0,
                                                                               int64_t n, const void *a, int a_s8,
                                                                               int32_t zx, int32_t *dot)
{
    if (a_s8)
        vbmi_dot(1, qw, j0, n, (const uint8_t *)a, zx, dot);
    else
        vbmi_dot(0, qw, j0, n, (const uint8_t *)a, zx, dot);
}

/* ---- with the rows' sums (QGEMM's WSUM): 256 codes a step, no z_x term -------------------------
 *
 * Where W's row sums come with the model (qw->wsum: Σ_k e[k] of each row, e = m·code), the dot is
 * Σ_k e[k]·a'[k] − zx'·wsum[row] (mod 2^32; exact, §3.5) and the per-call Σ w·zx' of the kernel above
 * goes. The decode then reads whole code bytes: 64 bytes hold codes [k, k + 256), byte b codes
 * 4b .. 4b + 3, and vpermb through a table on the byte's low 6 bits gives code j of every byte for
 * j = 0, 1, 2 (table j looks at bits 2j, 2j + 1); code 3 after vpmultishiftqb moves bits 6-7 down
 * (the table on bits 0-1). So w_j[b] = code 4b + j, and in dword lane l (bytes 4l .. 4l + 3) the codes
 * 16l + j + {0, 4, 8, 12}: each 128-bit lane L holds codes [k + 64L, k + 64L + 64), one group of 64.
 * The activations are put in that order once per call into `work` (x_j[4l + i] = a[16l + 4i + j]
 * within each 64: a vpermb per 64 and a 4 x 4 transpose of 128-bit lanes a step). Per step and row:
 * four vpdpbusd into the lanes' group sums (|lane| <= 16 · 255), then one vpdpwssd adds them times
 * the lanes' multipliers (groups of 64: four per step, of 128: two, of 256·j or one over the row:
 * one) — 4 vpermb, 1 vpmultishiftqb, 4 vpdpbusd, 1 vpdpwssd, where the kernel above spends 8
 * shuffles, 8 vpdpbusd and 4 vpmulld on the same 256 codes (1x8192x8192 g64: 1.9 -> 0.8 ms on
 * Sapphire Rapids, docs/benchmarks.md). */

enum { WS_STEP = 256, WS_ROWS = 4 };

/* 1 when the rows' sums path runs qw: WSUM, no GS or symmetric groups of 64, 128 or 256·j (or one). */
static int ws_fits(const fgq_qweights *qw)
{
    if (qw->wsum == NULL || qw->dtype != FGQ_DT_T2)
        return 0;
    if (!qw->has_gs)
        return 1;
    const int64_t G = qw->group;
    return qw->n_alpha == 1 && (G == 64 || G == 128 || G % WS_STEP == 0 || G >= qw->k);
}

typedef struct {
    __m512i lut0, lut1, lut2, lut3, sh6, mlanes, mmax;
    int64_t gpb;   /* groups a step with multipliers in lanes (G 64: 4, 128: 2), 0: one multiplier a step */
    int32_t mmax1; /* W_MMAX */
} ws_consts;

/* The K activations in the steps' order, zero past K, into x (K rounded up to WS_STEP bytes). */
FGQ_VBMI_INLINE void ws_acts(int a_s8, const uint8_t *a, int64_t K, uint8_t *x)
{
    uint8_t perm[64];
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 4; l++)
            for (int i = 0; i < 4; i++)
                perm[16 * j + 4 * l + i] = (uint8_t)(16 * l + 4 * i + j); /* quarter j: code j of each byte */
    const __m512i P = _mm512_loadu_si512((const void *)perm), flip = _mm512_set1_epi8((char)0x80);
    for (int64_t k = 0; k < K; k += WS_STEP) {
        __m512i p[4];
        for (int q = 0; q < 4; q++) {
            const int64_t k0 = k + 64 * q, left = K - k0;
            const __mmask64 m = left >= 64 ? (__mmask64)~0ull : left > 0 ? (__mmask64)((1ull << left) - 1u) : 0;
            __m512i v = _mm512_maskz_loadu_epi8(m, a + (left > 0 ? k0 : 0));
            if (a_s8)
                v = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(v, flip));
            p[q] = _mm512_permutexvar_epi8(P, v);
        }
        /* x_j's lane L = p[L]'s lane j */
        const __m512i t0 = _mm512_shuffle_i64x2(p[0], p[1], 0x44), t1 = _mm512_shuffle_i64x2(p[0], p[1], 0xEE);
        const __m512i t2 = _mm512_shuffle_i64x2(p[2], p[3], 0x44), t3 = _mm512_shuffle_i64x2(p[2], p[3], 0xEE);
        _mm512_storeu_si512((void *)(x + k), _mm512_shuffle_i64x2(t0, t2, 0x88));
        _mm512_storeu_si512((void *)(x + k + 64), _mm512_shuffle_i64x2(t0, t2, 0xDD));
        _mm512_storeu_si512((void *)(x + k + 128), _mm512_shuffle_i64x2(t1, t3, 0x88));
        _mm512_storeu_si512((void *)(x + k + 192), _mm512_shuffle_i64x2(t1, t3, 0xDD));
    }
}

FGQ_VBMI_INLINE void ws_consts_init(ws_consts *c, const fgq_qweights *qw)
{
    uint8_t lut[4][64], sh6[64], ml[64];
    for (int p = 0; p < 64; p++) {
        for (int j = 0; j < 4; j++) {
            const int code = j < 3 ? (p >> (2 * j)) & 3 : p & 3;
            lut[j][p] = (uint8_t)(code == 1 ? 1 : code == 2 ? 0xFF : 0);
        }
        sh6[p] = (uint8_t)(8 * (p % 8) + 6); /* byte i of a qword: bits 8i + 6 .. of it */
    }
    c->gpb = qw->has_gs && qw->group < WS_STEP && qw->group < qw->k ? WS_STEP / qw->group : 0;
    for (int p = 0; p < 64; p++) /* lane L's dwords: multiplier byte L / (4 / gpb), zero-extended */
        ml[p] = p % 4 == 0 && c->gpb > 0 ? (uint8_t)((p / 16) * c->gpb / 4) : 0x80;
    c->lut0 = _mm512_loadu_si512((const void *)lut[0]);
    c->lut1 = _mm512_loadu_si512((const void *)lut[1]);
    c->lut2 = _mm512_loadu_si512((const void *)lut[2]);
    c->lut3 = _mm512_loadu_si512((const void *)lut[3]);
    c->sh6 = _mm512_loadu_si512((const void *)sh6);
    c->mlanes = _mm512_loadu_si512((const void *)ml);
    c->mmax = _mm512_set1_epi8((char)(uint8_t)qw->mmax);
    c->mmax1 = qw->mmax;
}

/* The multipliers of a row's groups g0 .. (mode 1: gpb of them, `left` of which exist; mode 2: one)
 * as the step's lanes' dwords; g: the row's multipliers. */
FGQ_VBMI_INLINE __m512i ws_mults(int mode, const uint8_t *g, int64_t g0, int64_t left, const ws_consts *c)
{
    if (mode == 2)
        return _mm512_set1_epi32(g[g0] < c->mmax1 ? g[g0] : c->mmax1);
    __m512i b;
    if (left >= 4) {
        int32_t v;
        memcpy(&v, g + g0, sizeof v);
        b = _mm512_set1_epi32(v);
    } else {
        b = _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8((__mmask16)((1u << left) - 1u), g + g0));
    }
    return _mm512_shuffle_epi8(_mm512_min_epu8(b, c->mmax), c->mlanes);
}

/* One step of 256 codes at k for the WS_ROWS rows at w (their codes from byte k / 4: 64 bytes, or
 * those under bm), into acc; mode 0: no GS, 1: the step's gpb groups' multipliers in lanes, 2: one
 * multiplier a step (g0 the group, gleft the groups from it on; g: the rows' multipliers). */
FGQ_VBMI_INLINE void ws_step(int mode, int full, const uint8_t *const *w, const uint8_t *const *g, int64_t k,
                             __mmask64 bm, int64_t g0, int64_t gleft, const uint8_t *x, const ws_consts *c,
                             __m512i *acc)
{
    const __m512i x0 = _mm512_loadu_si512((const void *)(x + k)), x1 = _mm512_loadu_si512((const void *)(x + k + 64));
    const __m512i x2 = _mm512_loadu_si512((const void *)(x + k + 128));
    const __m512i x3 = _mm512_loadu_si512((const void *)(x + k + 192));
    for (int j = 0; j < WS_ROWS; j++) {
        const uint8_t *p = w[j] + k / 4;
        const __m512i raw = full ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi8(bm, p);
        _mm_prefetch((const char *)p + 256, _MM_HINT_T0);
        __m512i s = _mm512_setzero_si512(), s2 = _mm512_setzero_si512();
        VNNI_DP(s, x0, _mm512_permutexvar_epi8(raw, c->lut0));
        VNNI_DP(s2, x1, _mm512_permutexvar_epi8(raw, c->lut1));
        VNNI_DP(s, x2, _mm512_permutexvar_epi8(raw, c->lut2));
        VNNI_DP(s2, x3, _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(c->sh6, raw), c->lut3));
        s = _mm512_add_epi32(s, s2);
        /* |lane| <= 16 · 255: its low 16 bits are the value, its high ones the sign, and the
         * multipliers' dwords are (m, 0) as words, so vpdpwssd adds lane · m */
        if (mode != 0)
            acc[j] = _mm512_dpwssd_epi32(acc[j], s, ws_mults(mode, g[j], g0, gleft, c));
        else
            acc[j] = _mm512_add_epi32(acc[j], s);
    }
}

/* dot[i] for rows j0 + i, i < n, from the activations x in the steps' order (ws_acts). */
FGQ_VBMI_INLINE void ws_rows(int mode, const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *x, int32_t zx2,
                             const ws_consts *c, int32_t *dot)
{
    const int64_t K = qw->k, rb = qw->row_bytes, ng = qw->n_groups;
    const int64_t kfull = rb / 64 * WS_STEP; /* steps whose 64 code bytes lie within the row */
    /* mode 2: the step's group advances every G / 256 steps (G a multiple of 256), or never (one group) */
    const int64_t per_group = mode == 2 && qw->group < K ? qw->group / WS_STEP : INT64_MAX;
    for (int64_t i = 0; i < n; i += WS_ROWS) {
        int64_t rows[WS_ROWS];
        const uint8_t *w[WS_ROWS], *g[WS_ROWS];
        __m512i acc[WS_ROWS];
        for (int j = 0; j < WS_ROWS; j++) {
            rows[j] = j0 + (i + j < n ? i + j : n - 1);
            w[j] = qw->codes + rows[j] * rb;
            g[j] = mode != 0 ? qw->gs + rows[j] * ng : NULL;
            acc[j] = _mm512_setzero_si512();
        }
        int64_t k = 0, g0 = 0, step = 0;
        for (; k < kfull; k += WS_STEP) {
            ws_step(mode, 1, w, g, k, 0, g0, ng - g0, x, c, acc);
            if (mode == 1)
                g0 += c->gpb;
            else if (mode == 2 && ++step == per_group)
                g0++, step = 0;
        }
        if (k < K) {
            const int64_t left = rb - k / 4; /* 1 .. 63 bytes */
            ws_step(mode, 0, w, g, k, (__mmask64)((1ull << left) - 1u), g0, ng - g0, x, c, acc);
        }
        for (int j = 0; j < WS_ROWS && i + j < n; j++)
            dot[i + j] =
                (int32_t)((uint32_t)_mm512_reduce_add_epi32(acc[j]) - (uint32_t)zx2 * (uint32_t)qw->wsum[rows[j]]);
    }
}

__attribute__((target(FGQ_VBMI_TARGET))) static void ws_dot(const fgq_qweights *qw, int64_t j0, int64_t n,
                                                            const uint8_t *a, int a_s8, int32_t zx, int32_t *dot,
                                                            uint8_t *work)
{
    ws_consts c;
    ws_consts_init(&c, qw);
    if (a_s8)
        ws_acts(1, a, qw->k, work);
    else
        ws_acts(0, a, qw->k, work);
    const int32_t zx2 = a_s8 ? zx + 128 : zx;
    if (!qw->has_gs)
        ws_rows(0, qw, j0, n, work, zx2, &c, dot);
    else if (c.gpb > 0)
        ws_rows(1, qw, j0, n, work, zx2, &c, dot);
    else
        ws_rows(2, qw, j0, n, work, zx2, &c, dot);
}

void fgq_qgemm_u8t2_1x4c64__avx512vbmi_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                            int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd,
                                            uint8_t *work)
{
    if (m >= VNNI_MR) {
        fgq_qgemm_u8t2_4x4c32__avx512vnni(qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, work);
        return;
    }
    const int ws = work != NULL && ws_fits(qw) &&
                   (qw->k + WS_STEP - 1) / WS_STEP * WS_STEP <= fgq_qgemm_gemm_work_bytes(qw, fgq_target_build());
    for (int64_t r = 0; r < m; r++) {
        if (ws)
            ws_dot(qw, j0, n, a + r * lda, a_s8, zx, dot + r * ldd, work);
        else
            fgq_qgemm_u8t2_1x4c64__avx512vbmi(qw, j0, n, a + r * lda, a_s8, zx, dot + r * ldd);
    }
}

int fgq_qgemm_vbmi_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || (qw->n_alpha == 1 && (qw->group % 64 == 0 || qw->group >= qw->k));
}

#endif /* x86 */
