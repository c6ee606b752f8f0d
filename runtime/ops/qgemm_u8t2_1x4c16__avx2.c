/*
 * qgemm_u8t2_1x4c16__avx2.c — QGEMM microkernel, ternary t2 weights × u8 (or
 * s8) activations, one activation row × 4 weight rows a pass, k in steps of
 * 16. Reference twin: fgq_qweights_dot (qgemm_dispatch.h has the contract).
 *
 * No multiply per weight: the 4 code bytes of a 16-k chunk are broadcast,
 * vpshufb puts byte i/4 under int16 lane i, one vpand with 3 << 2(i%4) and two
 * vpcmpeqw against 1 << 2(i%4) and 2 << 2(i%4) give the exact +1 and −1 masks
 * (code 3 matches neither: it reads as 0, as in the reference). Then
 *   symmetric (n_alpha 1):  acc16 += sign(d, neg − pos)    (+d, −d or 0)
 *   asymmetric (n_alpha 2): sum16 += sign(d, neg − pos), neg16 += d & neg
 * with d = a − zx, |d| <= 255 (G = m+·pos − m−·neg = m+·sum + (m+ − m−)·neg).
 *
 * int16 bound: a lane gains at most |d| <= 255 per chunk, so it is flushed
 * after at most T2_FLUSH = 128 chunks: 128·255 = 32640 <= 32767 (tested at the
 * limit: all +1 / all −1 codes, |d| = 255, one group of K >= 2·128·16). The
 * flush is vpmaddwd with the group multiplier (<= 255): pair sums
 * <= 2·32640·255 fit int32 exactly, and the int32 lanes are exact by §3.5.
 * Groups of 1, 2, 4, 8 ("narrow") multiply each chunk's ±d by its lane
 * multipliers right away (one vpmaddwd per 16 weights); other group sizes
 * must start on a code byte (N % 4 == 0), else the rows go term by term.
 */
#include "qgemm_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

enum { T2_FLUSH = 128 };

typedef struct {
    __m256i ctrl, lh, lo, hi;
} t2_unpack;

FGQ_AVX2_INLINE void t2_unpack_init(t2_unpack *u)
{
    u->ctrl = _mm256_setr_epi8(0, -128, 0, -128, 0, -128, 0, -128, 1, -128, 1, -128, 1, -128, 1, -128,
                               2, -128, 2, -128, 2, -128, 2, -128, 3, -128, 3, -128, 3, -128, 3, -128);
    u->lh = _mm256_setr_epi16(3, 12, 48, 192, 3, 12, 48, 192, 3, 12, 48, 192, 3, 12, 48, 192);
    u->lo = _mm256_setr_epi16(1, 4, 16, 64, 1, 4, 16, 64, 1, 4, 16, 64, 1, 4, 16, 64);
    u->hi = _mm256_setr_epi16(2, 8, 32, 128, 2, 8, 32, 128, 2, 8, 32, 128, 2, 8, 32, 128);
}

/* Masks of codes k .. k+16 of a row (all ones where +1 / −1). */
FGQ_AVX2_INLINE void t2_masks(const t2_unpack *u, const uint8_t *wrow, int64_t k, __m256i *pos, __m256i *neg)
{
    uint32_t bits;
    memcpy(&bits, wrow + k / 4, 4);
    const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), u->ctrl), u->lh);
    *pos = _mm256_cmpeq_epi16(v, u->lo);
    *neg = _mm256_cmpeq_epi16(v, u->hi);
}

/* +d, −d or 0 per lane. */
FGQ_AVX2_INLINE __m256i t2_signed(const t2_unpack *u, const uint8_t *wrow, int64_t k, __m256i d, __m256i *neg)
{
    __m256i pos;
    t2_masks(u, wrow, k, &pos, neg);
    return _mm256_sign_epi16(d, _mm256_sub_epi16(*neg, pos));
}

FGQ_AVX2_INLINE void u8t2_block4(const fgq_qweights *qw, const int64_t *rows, const void *a, int a_s8, int32_t zx,
                                 const qgemm_narrow *nw, int32_t *out)
{
    const int64_t K = qw->k, rb = qw->row_bytes;
    const uint8_t *w[4];
    for (int r = 0; r < 4; r++)
        w[r] = qw->codes + rows[r] * rb;
    const __m256i zx16 = _mm256_set1_epi16((short)zx);
    t2_unpack u;
    t2_unpack_init(&u);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int32_t s[4] = { 0, 0, 0, 0 };
    __m256i ng;

    if (nw != NULL) {
        const int64_t gstride = qw->n_groups * qw->n_alpha;
        const uint8_t *g[4];
        for (int r = 0; r < 4; r++)
            g[r] = qw->gs + rows[r] * gstride;
        const int64_t kv = K & ~(int64_t)15;
        if (qw->n_alpha == 1) {
            for (int64_t k = 0; k < kv; k += 16) {
                const __m256i d = qgemm_load_d16(a, k, a_s8, zx16);
                const int64_t go = k / qw->group;
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(t2_signed(&u, w[0], k, d, &ng), qgemm_narrow_mults(nw, g[0] + go, 0)));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(t2_signed(&u, w[1], k, d, &ng), qgemm_narrow_mults(nw, g[1] + go, 0)));
                acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(t2_signed(&u, w[2], k, d, &ng), qgemm_narrow_mults(nw, g[2] + go, 0)));
                acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(t2_signed(&u, w[3], k, d, &ng), qgemm_narrow_mults(nw, g[3] + go, 0)));
            }
        } else {
            for (int64_t k = 0; k < kv; k += 16) {
                const __m256i d = qgemm_load_d16(a, k, a_s8, zx16);
                const int64_t go = (k / qw->group) * 2;
                __m256i acc[4] = { acc0, acc1, acc2, acc3 };
                for (int r = 0; r < 4; r++) {
                    __m256i pos, neg;
                    t2_masks(&u, w[r], k, &pos, &neg);
                    acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_and_si256(d, pos), qgemm_narrow_mults(nw, g[r] + go, 0)));
                    acc[r] = _mm256_sub_epi32(acc[r], _mm256_madd_epi16(_mm256_and_si256(d, neg), qgemm_narrow_mults(nw, g[r] + go, 1)));
                }
                acc0 = acc[0], acc1 = acc[1], acc2 = acc[2], acc3 = acc[3];
            }
        }
        for (int r = 0; r < 4; r++)
            s[r] = qgemm_scalar_range(qw, rows[r], a, a_s8, zx, kv, K);
    } else if (qw->n_groups == 1 || qw->group % 4 == 0) {
        const int asym = qw->n_alpha == 2;
        for (int64_t gi = 0; gi < qw->n_groups; gi++) {
            const int64_t k0 = gi * qw->group, k1 = k0 + qw->group < K ? k0 + qw->group : K;
            const int64_t kv = k0 + ((k1 - k0) & ~(int64_t)15);
            __m256i mp[4], md[4];
            for (int r = 0; r < 4; r++) {
                const int32_t p = qgemm_mult(qw, rows[r], gi, 0), q = qgemm_mult(qw, rows[r], gi, 1);
                mp[r] = _mm256_set1_epi16((short)p);
                md[r] = _mm256_set1_epi16((short)(p - q)); /* m+ − m−, in −255..255 */
            }
            for (int64_t kb = k0; kb < kv; kb += 16 * T2_FLUSH) {
                const int64_t ke = kb + 16 * T2_FLUSH < kv ? kb + 16 * T2_FLUSH : kv;
                __m256i t0 = _mm256_setzero_si256(), t1 = t0, t2 = t0, t3 = t0;
                if (!asym) {
                    for (int64_t k = kb; k < ke; k += 16) {
                        const __m256i d = qgemm_load_d16(a, k, a_s8, zx16);
                        t0 = _mm256_add_epi16(t0, t2_signed(&u, w[0], k, d, &ng));
                        t1 = _mm256_add_epi16(t1, t2_signed(&u, w[1], k, d, &ng));
                        t2 = _mm256_add_epi16(t2, t2_signed(&u, w[2], k, d, &ng));
                        t3 = _mm256_add_epi16(t3, t2_signed(&u, w[3], k, d, &ng));
                    }
                } else {
                    __m256i n0 = _mm256_setzero_si256(), n1 = n0, n2 = n0, n3 = n0;
                    for (int64_t k = kb; k < ke; k += 16) {
                        const __m256i d = qgemm_load_d16(a, k, a_s8, zx16);
                        __m256i neg;
                        t0 = _mm256_add_epi16(t0, t2_signed(&u, w[0], k, d, &neg));
                        n0 = _mm256_add_epi16(n0, _mm256_and_si256(d, neg));
                        t1 = _mm256_add_epi16(t1, t2_signed(&u, w[1], k, d, &neg));
                        n1 = _mm256_add_epi16(n1, _mm256_and_si256(d, neg));
                        t2 = _mm256_add_epi16(t2, t2_signed(&u, w[2], k, d, &neg));
                        n2 = _mm256_add_epi16(n2, _mm256_and_si256(d, neg));
                        t3 = _mm256_add_epi16(t3, t2_signed(&u, w[3], k, d, &neg));
                        n3 = _mm256_add_epi16(n3, _mm256_and_si256(d, neg));
                    }
                    /* m+·(pos − neg) + (m+ − m−)·neg = m+·pos − m−·neg */
                    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(n0, md[0]));
                    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(n1, md[1]));
                    acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(n2, md[2]));
                    acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(n3, md[3]));
                }
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(t0, mp[0]));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(t1, mp[1]));
                acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(t2, mp[2]));
                acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(t3, mp[3]));
            }
            if (kv < k1)
                for (int r = 0; r < 4; r++)
                    s[r] += qgemm_scalar_range(qw, rows[r], a, a_s8, zx, kv, k1);
        }
    } else {
        /* groups that do not start on a code byte: term by term */
        for (int r = 0; r < 4; r++)
            s[r] = qgemm_scalar_range(qw, rows[r], a, a_s8, zx, 0, K);
    }
    const __m128i t = qgemm_hsum4(acc0, acc1, acc2, acc3);
    int32_t v[4];
    _mm_storeu_si128((__m128i *)v, t);
    for (int r = 0; r < 4; r++)
        out[r] = v[r] + s[r];
}

FGQ_AVX2_INLINE void u8t2_rows(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                               int32_t *dot)
{
    qgemm_narrow nw;
    const qgemm_narrow *pnw = qgemm_narrow_init(qw, &nw) ? &nw : NULL;
    for (int64_t i = 0; i < n; i += 4) {
        /* a short last block repeats its last row and keeps only the valid results */
        int64_t rows[4];
        for (int r = 0; r < 4; r++)
            rows[r] = j0 + (i + r < n ? i + r : n - 1);
        int32_t out[4];
        u8t2_block4(qw, rows, a, a_s8, zx, pnw, out);
        for (int r = 0; r < 4 && i + r < n; r++)
            dot[i + r] = out[r];
    }
}

FGQ_AVX2_FN void fgq_qgemm_u8t2_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                             int32_t zx, int32_t *dot)
{
    if (a_s8)
        u8t2_rows(qw, j0, n, a, 1, zx, dot);
    else
        u8t2_rows(qw, j0, n, a, 0, zx, dot);
}

#endif /* x86 */
