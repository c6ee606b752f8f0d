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

void fgq_qgemm_u8t2_1x4c64__avx512vbmi_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                            int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd,
                           uint8_t *work)
{
    if (m >= VNNI_MR) {
        fgq_qgemm_u8t2_4x4c32__avx512vnni(qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, work);
        return;
    }
    for (int64_t r = 0; r < m; r++)
        fgq_qgemm_u8t2_1x4c64__avx512vbmi(qw, j0, n, a + r * lda, a_s8, zx, dot + r * ldd);
}

int fgq_qgemm_vbmi_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || (qw->n_alpha == 1 && (qw->group % 64 == 0 || qw->group >= qw->k));
}

#endif /* x86 */
