/*
 * qconv_u8s8_32x32c64__amx.c — the packed QCONV tile on Intel AMX: 32
 * output channels × 32 positions, 64 k a step, TDPBSUD (s8 weights × u8
 * activations, int32 sums). Reference twin: fgq_qconv_dot (QCONV's
 * reference path); tests/test_qconv_kernels.c compares the op's bytes.
 *
 * The tiles (8 of 16 rows × 64 bytes, one configuration for the thread):
 *   tmm4, tmm5  A: 16 weight rows × 64 k of two channel blocks, read in place
 *               from the rows (W's own, or the decoded ones) `stride` apart;
 *   tmm6, tmm7  B: 16 k-quads × (16 positions × 4 k) of the tile's two halves,
 *               read in place from the packed taps (fgq_qconv_pack_a__avx512vnni:
 *               pa[q][r][i], 128 bytes a quad, so a half is 64 bytes at stride 128);
 *   tmm0..tmm3  C: channels × positions, int32, stored straight into dot
 *               (channel-major, 32 positions a row: stride 128).
 * A step of 64 k is 4 TDPBSUD of 16·16·64 multiply-adds each (one B tile and
 * 2 when a call wants 16 positions or fewer). Per group and slice,
 * fgq_qconv_amx_group keeps each row's constants: the C tiles start from
 * −zx'·C (no correction pass), and the last, partial step (K % 64) reads its
 * weight bytes from a 64-byte copy, zero past K (a row's bytes past K may be
 * the next row's, or past W's end); the packed quads past K are zero up to
 * the step (the packing's wrapper). QGEMM (fgq_qgemm_u8s8_32x32c64__amx) runs
 * the same kernel with A's rows packed as the positions.
 *
 * Exact as the VNNI kernels: TDPBSUD sums in int32 modulo 2^32 (no
 * saturation), the result Σ_k w·x' − zx'·C with x' = x (u8) or x ^ 0x80 (s8,
 * zx' = zx + 128) and C = Σ_k w, equal to Σ_k w·(x − zx) by §3.5's bound.
 * Group multipliers are folded into the weights (fgq_qconv_fold_decode) where
 * every product fits s8 (fgq_qweights_fold_s8): the same sums, group by group.
 */
#include "qgemm_avx512vnni.h"
#include "qgemm_dispatch.h"

#include <string.h>

int fgq_qweights_fold_s8(const fgq_qweights *qw)
{
    if (!qw->has_gs)
        return 1;
    int32_t cmax; /* the dtype's largest |code| */
    switch (qw->dtype) {
    case FGQ_DT_T2: cmax = 1; break;
    case FGQ_DT_S2: cmax = 3; break; /* −3, −1, 1, 3 */
    case FGQ_DT_S3: cmax = 4; break;
    case FGQ_DT_S4: cmax = 8; break;
    default: cmax = 128; break;
    }
    return (int64_t)qw->mmax * cmax <= 127;
}

#if defined(__x86_64__)

#define FGQ_AMX_FN __attribute__((target(FGQ_VNNI_TARGET ",amx-tile,amx-int8")))

/* Palette 1; tiles 0..7 of 16 rows × 64 bytes (the layout of the XTILECFG area: palette, start
 * row, 14 reserved bytes, 16 colsb words, 16 row counts). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg;
static const amx_cfg qconv_amx_cfg __attribute__((aligned(64))) = {
    1, 0, { 0 }, { 64, 64, 64, 64, 64, 64, 64, 64 }, { 16, 16, 16, 16, 16, 16, 16, 16 }
};

FGQ_AMX_FN void fgq_qconv_amx_begin(void)
{
    _tile_loadconfig(&qconv_amx_cfg);
}

FGQ_AMX_FN void fgq_qconv_amx_end(void)
{
    _tile_release();
}

/* The first n (1..64) bytes of a 64-byte chunk. */
static inline __mmask64 amx_bytes_mask(int64_t n)
{
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

FGQ_VNNI_FN void fgq_qconv_amx_group(const uint8_t *rows, int64_t stride, int64_t n, int64_t K, int c_inline,
                                     const int32_t *sums, int32_t zxp, uint8_t *grp)
{
    const __m512i ones = _mm512_set1_epi8(1);
    const int64_t kf = K / 64 * 64, kt = K % 64, Kp = (K + 3) / 4 * 4;
    int32_t *init = (int32_t *)(void *)grp;
    uint8_t *tail = grp + n * 64;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *w = rows + i * stride;
        int32_t c;
        if (sums != NULL) {
            c = sums[i];
        } else if (c_inline) {
            memcpy(&c, w + Kp, 4);
        } else {
            __m512i acc = _mm512_setzero_si512();
            for (int64_t k = 0; k < kf; k += 64)
                acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(w + k));
            if (kt != 0)
                acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(amx_bytes_mask(kt), w + kf));
            c = _mm512_reduce_add_epi32(acc);
        }
        _mm512_storeu_si512(init + 16 * i, _mm512_set1_epi32((int32_t)(0u - (uint32_t)zxp * (uint32_t)c)));
        if (kt != 0)
            _mm512_storeu_si512(tail + 64 * i, _mm512_maskz_loadu_epi8(amx_bytes_mask(kt), w + kf));
    }
}

/* 16 × 16 int32 transpose in registers: r[q] becomes element q of every input row. Two rounds of
 * unpacks leave r[4g + c] holding, in its 128-bit lane L, element 4L + c of rows 4g .. 4g + 3; a
 * 4 × 4 transpose of those lanes over g finishes it. */
FGQ_VNNI_INLINE void amx_transpose16(__m512i *r)
{
    /* in place, each stage over index sets it reads whole before writing (the runtime's 2 KB
     * stack: one array of 16 vectors, not two) */
    for (int i = 0; i < 16; i += 2) {
        const __m512i a = _mm512_unpacklo_epi32(r[i], r[i + 1]), b = _mm512_unpackhi_epi32(r[i], r[i + 1]);
        r[i] = a;
        r[i + 1] = b;
    }
    for (int i = 0; i < 16; i += 4) {
        const __m512i a = _mm512_unpacklo_epi64(r[i], r[i + 2]), b = _mm512_unpackhi_epi64(r[i], r[i + 2]);
        const __m512i c = _mm512_unpacklo_epi64(r[i + 1], r[i + 3]), d = _mm512_unpackhi_epi64(r[i + 1], r[i + 3]);
        r[i] = a;
        r[i + 1] = b;
        r[i + 2] = c;
        r[i + 3] = d;
    }
    for (int c = 0; c < 4; c++) {
        const __m512i x0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x88), x1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xDD);
        const __m512i x2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x88);
        const __m512i x3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xDD);
        r[c] = _mm512_shuffle_i32x4(x0, x2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(x1, x3, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(x0, x2, 0xDD);
        r[12 + c] = _mm512_shuffle_i32x4(x1, x3, 0xDD);
    }
}

FGQ_VNNI_FN void fgq_qgemm_amx_pack_rows(const uint8_t *a, int64_t lda, int64_t nr, int64_t K, int a_s8, uint8_t *pa)
{
    const __m512i flip = _mm512_set1_epi8(a_s8 ? (char)0x80 : 0);
    const int64_t steps = (K + 63) / 64;
    for (int64_t half = 0; half < 2; half++)
        for (int64_t st = 0; st < steps; st++) {
            const int64_t k0 = 64 * st, kn = K - k0 < 64 ? K - k0 : 64;
            const __mmask64 km = amx_bytes_mask(kn);
            __m512i r[16];
            for (int i = 0; i < 16; i++) {
                const int64_t row = 16 * half + i;
                r[i] = row < nr ? _mm512_maskz_mov_epi8(km, _mm512_xor_si512(_mm512_maskz_loadu_epi8(km, a + row * lda + k0), flip))
                                : _mm512_setzero_si512();
            }
            amx_transpose16(r); /* r[q] = quad q of the 16 rows */
            for (int q = 0; q < 16; q++)
                _mm512_storeu_si512(pa + (16 * st + q) * 4 * FGQ_QCONV_PACK_TP + 64 * half, r[q]);
        }
}

/* A chunk's 64 multipliers min(GS, M) (of the positive codes, a = 0, or the negative ones, a = 1),
 * one masked broadcast per group that meets the chunk. */
FGQ_VNNI_INLINE __m512i fold_mults(const fgq_qweights *qw, const uint8_t *m, int64_t k0, int64_t kn, int a)
{
    __m512i v = _mm512_setzero_si512();
    for (int64_t g = k0 / qw->group, gk = g * qw->group; gk < k0 + kn; g++, gk += qw->group) {
        const int64_t b = gk > k0 ? gk - k0 : 0, e = gk + qw->group < k0 + kn ? gk + qw->group - k0 : kn;
        const __mmask64 mask = amx_bytes_mask(e - b) << b;
        const int32_t mg = m[g * qw->n_alpha + (qw->n_alpha == 2 ? a : 0)];
        v = _mm512_mask_set1_epi8(v, mask, (char)(mg < qw->mmax ? mg : qw->mmax));
    }
    return v;
}

/* s8 codes × u8 multipliers (|products| <= 127: fgq_qweights_fold_s8), in int16 halves. */
FGQ_VNNI_INLINE __m512i fold_mul(__m512i c, __m512i m)
{
    const __m512i lo = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(_mm512_castsi512_si256(c)),
                                          _mm512_cvtepu8_epi16(_mm512_castsi512_si256(m)));
    const __m512i hi = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(c, 1)),
                                          _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(m, 1)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(lo)), _mm512_cvtepi16_epi8(hi), 1);
}

/* Ternary rows with groups of 32·j codes (or one group over the row) in one pass: each chunk of 32
 * codes (inside one group) decoded (vnni_w) and folded by vpsignb, code·m being m⁺, 0 or −m⁻ for
 * codes 1, 0, −1 (m⁻ by a blend on the code's sign where n_alpha is 2), stored, and summed into C.
 * The same bytes as decoding, then folding with fold_mults / fold_mul: a third of ResNet-18
 * ternary:g64's decode time went into the second pass. */
FGQ_VNNI_INLINE void fold_decode_t2(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst)
{
    const int64_t K = qw->k, Kp = (K + 3) / 4 * 4, rb = fgq_qconv_wrow_bytes(K);
    const int64_t G = qw->group < K ? qw->group : K;
    vnni_consts c;
    vnni_consts_init(&c, 0);
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *w = qw->codes + (j0 + i) * qw->row_bytes;
        const uint8_t *m = qw->gs + (j0 + i) * qw->n_groups * qw->n_alpha;
        uint8_t *row = dst + i * rb;
        memset(row + (K & ~(int64_t)31), 0, (size_t)(Kp - (K & ~(int64_t)31)));
        __m256i acc = _mm256_setzero_si256();
        for (int64_t k = 0; k < K; k += 32) {
            const int64_t g = k / G;
            const int32_t mp = m[g * qw->n_alpha], mn = qw->n_alpha == 2 ? m[g * 2 + 1] : mp;
            const __m256i vp = _mm256_set1_epi8((char)(mp < qw->mmax ? mp : qw->mmax));
            const __m256i vn = _mm256_set1_epi8((char)(mn < qw->mmax ? mn : qw->mmax));
            const int full = K - k >= 32;
            const __mmask32 mask = full ? 0xFFFFFFFFu : vnni_mask(k, K);
            const __m256i v = full ? vnni_w_full(VNNI_T2, w, k, &c) : vnni_w(VNNI_T2, w, k, mask, &c);
            __m256i f = _mm256_sign_epi8(vp, v);
            if (qw->n_alpha == 2)
                f = _mm256_blendv_epi8(f, _mm256_sign_epi8(vn, v), v); /* negative codes: −m⁻ */
            if (full)
                _mm256_storeu_si256((__m256i *)(void *)(row + k), f);
            else
                _mm256_mask_storeu_epi8(row + k, mask, f);
            acc = _mm256_dpbusd_epi32(acc, ones, f); /* Σ w: u8 ones × s8 weights */
        }
        const uint32_t sum = (uint32_t)vnni_hsum(acc);
        memcpy(row + Kp, &sum, 4);
    }
}

FGQ_VNNI_FN void fgq_qconv_fold_decode(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst)
{
    if (qw->dtype == FGQ_DT_T2 && qw->has_gs && (qw->group % 32 == 0 || qw->group >= qw->k)) {
        fold_decode_t2(qw, j0, n, dst);
        return;
    }
    if (qw->dtype == FGQ_DT_S8 && !qw->has_gs) { /* a copy a row, its Σ w after its ⌈K/4⌉·4 bytes */
        const int64_t K = qw->k, Kp = (K + 3) / 4 * 4, rb = fgq_qconv_wrow_bytes(K);
        const __m512i ones = _mm512_set1_epi8(1);
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *src = qw->codes + (j0 + i) * qw->row_bytes;
            uint8_t *row = dst + i * rb;
            __m512i acc = _mm512_setzero_si512();
            for (int64_t k0 = 0; k0 < Kp; k0 += 64) {
                const int64_t kn = K - k0 < 64 ? K - k0 : 64;
                const __m512i c = _mm512_maskz_loadu_epi8(amx_bytes_mask(kn), src + k0);
                _mm512_mask_storeu_epi8(row + k0, amx_bytes_mask(Kp - k0 < 64 ? Kp - k0 : 64), c);
                acc = _mm512_dpbusd_epi32(acc, ones, c);
            }
            const uint32_t sum = (uint32_t)_mm512_reduce_add_epi32(acc);
            memcpy(row + Kp, &sum, 4);
        }
        return;
    }
    switch (qw->dtype) { /* the codes, as the VNNI kernels decode them (their C is recomputed below) */
    case FGQ_DT_S4: fgq_qconv_u8s4_2x32c4__avx512vnni_decode(qw, j0, n, dst); break;
    case FGQ_DT_S3: fgq_qconv_u8s3_2x32c4__avx512vnni_decode(qw, j0, n, dst); break;
    case FGQ_DT_S2: fgq_qconv_u8s2_2x32c4__avx512vnni_decode(qw, j0, n, dst); break;
    default: fgq_qconv_u8t2_2x32c4__avx512vnni_decode(qw, j0, n, dst); break; /* t2, s8 with GS */
    }
    if (!qw->has_gs)
        return; /* the codes are the weights, and the decoders' C is their sum */
    const int64_t K = qw->k, Kp = (K + 3) / 4 * 4, rb = fgq_qconv_wrow_bytes(K);
    const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512();
    for (int64_t i = 0; i < n; i++) {
        uint8_t *row = dst + i * rb;
        const uint8_t *m = qw->gs + (j0 + i) * qw->n_groups * qw->n_alpha;
        __m512i acc = _mm512_setzero_si512();
        for (int64_t k0 = 0; k0 < K; k0 += 64) {
            const int64_t kn = K - k0 < 64 ? K - k0 : 64;
            const __mmask64 live = amx_bytes_mask(kn);
            __m512i c = _mm512_maskz_loadu_epi8(live, row + k0);
            /* fold min(GS, M) in: m⁺ for positive codes, m⁻ for negative (n_alpha 2) */
            __m512i mv = fold_mults(qw, m, k0, kn, 0);
            if (qw->n_alpha == 2)
                mv = _mm512_mask_blend_epi8(_mm512_cmplt_epi8_mask(c, zero), mv, fold_mults(qw, m, k0, kn, 1));
            c = fold_mul(c, mv);
            _mm512_mask_storeu_epi8(row + k0, live, c);
            acc = _mm512_dpbusd_epi32(acc, ones, c); /* Σ w: u8 ones × s8 weights */
        }
        const uint32_t sum = (uint32_t)_mm512_reduce_add_epi32(acc);
        memcpy(row + Kp, &sum, 4);
    }
}

/* The first of the 16 rows read for a block starting at row j: j, or the 16 that end at w->hi. */
static inline int64_t amx_start(const fgq_qconv_amx_w *w, int64_t j)
{
    return j + 16 <= w->hi ? j : w->hi - 16;
}

/* C tiles ta (positions 0-15) and tb (16-31) of the block whose rows start at `start`, for
 * channels j .. j + n − 1 (relative to the call's j0: rows jr ..), into dot. */
#define AMX_STORE(ta, tb, start, j, n, jr)                                                                   \
    do {                                                                                                     \
        if ((start) == (j) && (n) == 16) {                                                                   \
            _tile_stored(ta, dot + (jr) * FGQ_QCONV_PACK_TP, LD);                                            \
            _tile_stored(tb, dot + (jr) * FGQ_QCONV_PACK_TP + 16, LD);                                       \
        } else {                                                                                             \
            _tile_stored(ta, tmp, LD);                                                                       \
            _tile_stored(tb, tmp + 16, LD);                                                                  \
            memcpy(dot + (jr) * FGQ_QCONV_PACK_TP, tmp + ((j) - (start)) * FGQ_QCONV_PACK_TP,                \
                   (size_t)(n) * FGQ_QCONV_PACK_TP * 4);                                                     \
        }                                                                                                    \
    } while (0)

/* The kernel's operands in work and w->grp (the packed taps; 16 × 32 int32 for partial blocks'
 * results; the rows' C starts and tail bytes, fgq_qconv_amx_group), and a pair of 16-channel blocks
 * from channel j0 + jb: the wanted counts n0, n1 (n1 <= 0: one block) and the rows read, s0, s1
 * (relative to w->lo: amx_start), at a0, a1. */
#define AMX_SETUP(w, K, work)                                                                                \
    const int64_t kf = (K) / 64, kt = (K) % 64;                                                              \
    const uint8_t *pa = (work) + FGQ_QCONV_PACK_SEG_BYTES;                                                   \
    int32_t *tmp = (int32_t *)(void *)((work) + fgq_qconv_amx_work_off(K));                                  \
    const int32_t *init = (const int32_t *)(const void *)(w)->grp;                                           \
    const uint8_t *tail = (w)->grp + ((w)->hi - (w)->lo) * 64
#define AMX_BLOCK(w, j0, jb, nb)                                                                             \
    const int64_t ja = (j0) + (jb), n0 = (nb) - (jb) < 16 ? (nb) - (jb) : 16,                                \
                  n1 = (nb) - (jb) - 16 < 16 ? (nb) - (jb) - 16 : 16;                                        \
    const int64_t s0 = amx_start(w, ja) - (w)->lo, s1 = amx_start(w, ja + 16) - (w)->lo;                     \
    const uint8_t *a0 = (w)->rows + s0 * (w)->stride, *a1 = (w)->rows + s1 * (w)->stride

/* One 64-k step: the packed taps' two halves at pb (B tiles 6, 7) against one channel block's A
 * tile (4, rows sa0 apart) into C tiles 0, 1, or two blocks' (4 and 5) into 0-3. */
#define AMX_STEP1(pb, pa0, sa0)                                                                              \
    do {                                                                                                     \
        _tile_loadd(6, (pb), LD);                                                                            \
        _tile_loadd(7, (pb) + 64, LD);                                                                       \
        _tile_loadd(4, (pa0), (sa0));                                                                        \
        _tile_dpbsud(0, 4, 6);                                                                               \
        _tile_dpbsud(1, 4, 7);                                                                               \
    } while (0)
#define AMX_STEP2(pb, pa0, sa0, pa1, sa1)                                                                    \
    do {                                                                                                     \
        AMX_STEP1(pb, pa0, sa0);                                                                             \
        _tile_loadd(5, (pa1), (sa1));                                                                        \
        _tile_dpbsud(2, 5, 6);                                                                               \
        _tile_dpbsud(3, 5, 7);                                                                               \
    } while (0)

/* Up to 16 positions: one B tile, 16 × 32 channels a step (tiles 0 and 2; positions past 16 of dot
 * are left as they were). */
FGQ_AMX_FN static void amx_conv_half(const fgq_qconv_amx_w *w, int64_t K, int64_t j0, int64_t nb, int32_t *dot,
                                     uint8_t *work)
{
    enum { QB = 16 * 4 * FGQ_QCONV_PACK_TP, LD = 4 * FGQ_QCONV_PACK_TP };
    AMX_SETUP(w, K, work);
    for (int64_t jb = 0; jb < nb; jb += 32) {
        AMX_BLOCK(w, j0, jb, nb);
        _tile_loadd(0, init + 16 * s0, 64);
        _tile_loadd(2, init + 16 * s1, 64); /* s1 is a valid block whether or not n1 > 0 */
        for (int64_t kk = 0; kk < kf; kk++) {
            /* two steps ahead, the weight rows' next lines: read in place (QGEMM below 64 rows of A)
             * their 16-row tile loads stalled on L2 (16 x 1024 x 1024: 0.070 -> 0.064 ms) */
            if (kk + 2 < kf)
                for (int r = 0; r < 16; r++) {
                    _mm_prefetch((const char *)(a0 + (kk + 2) * 64 + r * w->stride), _MM_HINT_T0);
                    _mm_prefetch((const char *)(a1 + (kk + 2) * 64 + r * w->stride), _MM_HINT_T0);
                }
            _tile_loadd(6, pa + kk * QB, LD);
            _tile_loadd(4, a0 + kk * 64, w->stride);
            _tile_dpbsud(0, 4, 6);
            if (n1 > 0) {
                _tile_loadd(5, a1 + kk * 64, w->stride);
                _tile_dpbsud(2, 5, 6);
            }
        }
        if (kt != 0) {
            _tile_loadd(6, pa + kf * QB, LD);
            _tile_loadd(4, tail + 64 * s0, 64);
            _tile_dpbsud(0, 4, 6);
            _tile_loadd(5, tail + 64 * s1, 64);
            _tile_dpbsud(2, 5, 6);
        }
        for (int b = 0; b < 2 && (b == 0 || n1 > 0); b++) {
            const int64_t start = (b ? s1 : s0) + w->lo, j = ja + 16 * b, n = b ? n1 : n0, jr = jb + 16 * b;
            if (start == j && n == 16) {
                if (b)
                    _tile_stored(2, dot + jr * FGQ_QCONV_PACK_TP, LD);
                else
                    _tile_stored(0, dot + jr * FGQ_QCONV_PACK_TP, LD);
            } else {
                if (b)
                    _tile_stored(2, tmp, LD);
                else
                    _tile_stored(0, tmp, LD);
                for (int64_t i = 0; i < n; i++)
                    memcpy(dot + (jr + i) * FGQ_QCONV_PACK_TP, tmp + (j - start + i) * FGQ_QCONV_PACK_TP, 16 * 4);
            }
        }
    }
}

FGQ_AMX_FN void fgq_qconv_u8s8_32x32c64__amx(const fgq_qconv_amx_w *w, int64_t K, int64_t j0, int64_t nb, int64_t np,
                                             int32_t *dot, uint8_t *work)
{
    enum { QB = 16 * 4 * FGQ_QCONV_PACK_TP, LD = 4 * FGQ_QCONV_PACK_TP }; /* packed bytes a 64-k step; dot's stride */
    if (np <= 16) {
        amx_conv_half(w, K, j0, nb, dot, work);
        return;
    }
    AMX_SETUP(w, K, work);
    for (int64_t jb = 0; jb < nb; jb += 32) {
        AMX_BLOCK(w, j0, jb, nb);
        _tile_loadd(0, init + 16 * s0, 64); /* −zx'·C: the sums start from the correction */
        _tile_loadd(1, init + 16 * s0, 64);
        if (n1 > 0) {
            _tile_loadd(2, init + 16 * s1, 64);
            _tile_loadd(3, init + 16 * s1, 64);
            for (int64_t kk = 0; kk < kf; kk++)
                AMX_STEP2(pa + kk * QB, a0 + kk * 64, w->stride, a1 + kk * 64, w->stride);
            if (kt != 0)
                AMX_STEP2(pa + kf * QB, tail + 64 * s0, 64, tail + 64 * s1, 64);
            AMX_STORE(0, 1, s0 + w->lo, ja, n0, jb);
            AMX_STORE(2, 3, s1 + w->lo, ja + 16, n1, jb + 16);
        } else {
            for (int64_t kk = 0; kk < kf; kk++)
                AMX_STEP1(pa + kk * QB, a0 + kk * 64, w->stride);
            if (kt != 0)
                AMX_STEP1(pa + kf * QB, tail + 64 * s0, 64);
            AMX_STORE(0, 1, s0 + w->lo, ja, n0, jb);
        }
    }
}

FGQ_AMX_FN void fgq_qgemm_u8s8_32x32c64__amx(const fgq_qconv_amx_w *w, const uint8_t *a, int64_t lda, int64_t nr,
                                             int64_t K, int a_s8, int64_t j0, int64_t nb, int32_t *dot, int32_t *dott,
                                             int64_t ldt, uint8_t *work)
{
    if (a != NULL)
        fgq_qgemm_amx_pack_rows(a, lda, nr, K, a_s8, work + FGQ_QCONV_PACK_SEG_BYTES);
    fgq_qconv_u8s8_32x32c64__amx(w, K, j0, nb, nr, dot, work);
    for (int64_t jb = 0; jb < nb; jb += 16) { /* dot[j·32 + r] -> dott[r·ldt + j], 16 × 16 at a time */
        const __mmask16 jm = nb - jb >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nb - jb)) - 1u);
        for (int64_t rb = 0; rb < nr; rb += 16) {
            __m512i r[16];
            for (int i = 0; i < 16; i++) /* rows past nb: the buffer's (any values, not stored) */
                r[i] = _mm512_loadu_si512(dot + (jb + i) * FGQ_QCONV_PACK_TP + rb);
            amx_transpose16(r);
            for (int64_t q = 0; q < 16 && rb + q < nr; q++)
                _mm512_mask_storeu_epi32(dott + (rb + q) * ldt + jb, jm, r[q]);
        }
    }
}

#endif /* x86-64 */
