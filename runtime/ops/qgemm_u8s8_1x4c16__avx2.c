/*
 * qgemm_u8s8_1x4c16__avx2.c — QGEMM microkernels, s8, s4, s3 or s2 weights × u8 (or
 * s8) activations, one activation row × 4 weight rows a pass, k in steps of
 * 16. Reference twin: fgq_qweights_dot (qgemm_dispatch.h has the contract).
 * The s4 row (fgq_qgemm_u8s4_1x4c16__avx2) is the same loop with each
 * 16-code chunk (8 bytes, low nibble first) widened to int8 first:
 * lo = b & 15, hi = b >> 4, interleaved, then (v ^ 8) − 8 sign-extends the
 * nibble; |w| <= 8 <= 128, so every bound below holds as for s8. The s3 row
 * (fgq_qgemm_u8s3_1x4c16__avx2) widens each 16-code chunk (two units, 6
 * bytes, k a multiple of 8): vpshufb puts each code's low-field byte and
 * high-bit byte under its lane, vpcmpeqb against the lane's bit masks gives
 * 0/−1 per bit, and 0 − b0 − 2·b1 + (high & −4) is the code, −4..3. The s2
 * row (fgq_qgemm_u8s2_1x4c16__avx2) widens 16 codes (4 bytes, k a multiple of
 * 4) the same way: −3 + (b0 & 2) + (b1 & 4) with b0, b1 the lanes' 0/−1 bits.
 *
 * Exactness. No vpmaddubsw: its u8·s8 pair sums saturate in int16
 * (2·255·127 = 64770 > 32767). Both operands are widened instead:
 *   d = a − zx           int16, |d| <= 255
 *   w                    int16 (vpmovsxbw), −128..127
 *   w·m (narrow groups)  vpmullw, |w·m| <= 128·255 = 32640 <= 32767: exact
 *   vpmaddwd(w, d)       int32, pair sums <= 2·32640·255 = 16 646 400: exact
 * and int32 lanes accumulate Σ m·w·d in any order, exact because every
 * partial sum is bounded by the §3.5 load-time bound K·128·D_x·M <= 2^31 − 1.
 * Groups of 16 k or more: each group's lanes are summed unscaled, then
 * multiplied once by m (vpmulld) at the group's end.
 */
#include "qgemm_avx2.h"

#if defined(__x86_64__) || defined(__i386__)

enum { W_S8 = 0, W_S4 = 1, W_S3 = 2, W_S2 = 3 }; /* weight kinds */

/* w[k .. k+16) of one row as int16: s8 bytes, (s4, k even) 8 bytes of nibbles
 * or (s3, k % 8 == 0) two 3-byte units, or (s2, k % 4 == 0) 4 bytes. */
FGQ_AVX2_INLINE __m256i w16(const uint8_t *p, int64_t k, int wk)
{
    if (wk == W_S8)
        return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + k)));
    if (wk == W_S2) {
        int32_t u;
        memcpy(&u, p + k / 4, 4);
        const __m128i x = _mm_shuffle_epi8(_mm_cvtsi32_si128(u), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
        const __m128i m0 = _mm_set1_epi32(0x40100401), m1 = _mm_set1_epi32((int)0x80200802u);
        const __m128i b0 = _mm_cmpeq_epi8(_mm_and_si128(x, m0), m0), b1 = _mm_cmpeq_epi8(_mm_and_si128(x, m1), m1);
        const __m128i v = _mm_add_epi8(_mm_add_epi8(_mm_set1_epi8(-3), _mm_and_si128(b0, _mm_set1_epi8(2))),
                                       _mm_and_si128(b1, _mm_set1_epi8(4)));
        return _mm256_cvtepi8_epi16(v);
    }
    if (wk == W_S3) {
        int64_t u = 0;
        memcpy(&u, p + k / 8 * 3, 6); /* exactly the chunk's bytes: the row may end there */
        const __m128i b = _mm_cvtsi64_si128(u);
        const __m128i lo = _mm_shuffle_epi8(b, _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3, 4, 4, 4, 4));
        const __m128i hi = _mm_shuffle_epi8(b, _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 5, 5, 5, 5, 5, 5));
        const __m128i m0 = _mm_set1_epi32(0x40100401), m1 = _mm_set1_epi32((int)0x80200802u);
        const __m128i mh = _mm_set1_epi64x((long long)0x8040201008040201ull);
        const __m128i b0 = _mm_cmpeq_epi8(_mm_and_si128(lo, m0), m0), b1 = _mm_cmpeq_epi8(_mm_and_si128(lo, m1), m1);
        const __m128i h = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(hi, mh), mh), _mm_set1_epi8((char)0xFC));
        return _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_sub_epi8(_mm_sub_epi8(h, b0), b1), b1));
    }
    const __m128i b = _mm_loadl_epi64((const __m128i *)(p + (k >> 1))), m4 = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(b, m4), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m4);
    const __m128i v = _mm_unpacklo_epi8(lo, hi), e8 = _mm_set1_epi8(8);
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_xor_si128(v, e8), e8));
}
#define W16(p, k) w16((p), (k), wk)

FGQ_AVX2_INLINE void u8s8_block4(const fgq_qweights *qw, const int64_t *rows, const void *a, int a_s8, int32_t zx,
                                 const qgemm_narrow *nw, int wk, int32_t *out)
{
    const int64_t K = qw->k, rb = qw->row_bytes;
    const uint8_t *w0 = qw->codes + rows[0] * rb, *w1 = qw->codes + rows[1] * rb;
    const uint8_t *w2 = qw->codes + rows[2] * rb, *w3 = qw->codes + rows[3] * rb;
    const __m256i zx16 = _mm256_set1_epi16((short)zx);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int32_t s[4] = { 0, 0, 0, 0 };

    if (nw != NULL) {
        /* narrow groups: lane multipliers, w·m in int16 (<= 32640) */
        const int64_t gstride = qw->n_groups * qw->n_alpha;
        const uint8_t *g0 = qw->gs + rows[0] * gstride, *g1 = qw->gs + rows[1] * gstride;
        const uint8_t *g2 = qw->gs + rows[2] * gstride, *g3 = qw->gs + rows[3] * gstride;
        const int64_t kv = K & ~(int64_t)15;
        for (int64_t k = 0; k < kv; k += 16) {
            const __m256i d = qgemm_load_d16(a, k, a_s8, zx16);
            const int64_t go = (k / qw->group) * qw->n_alpha;
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_mullo_epi16(W16(w0, k), qgemm_narrow_mults(nw, g0 + go, 0)), d));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_mullo_epi16(W16(w1, k), qgemm_narrow_mults(nw, g1 + go, 0)), d));
            acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_mullo_epi16(W16(w2, k), qgemm_narrow_mults(nw, g2 + go, 0)), d));
            acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(_mm256_mullo_epi16(W16(w3, k), qgemm_narrow_mults(nw, g3 + go, 0)), d));
        }
        for (int r = 0; r < 4; r++)
            s[r] = qgemm_scalar_range(qw, rows[r], a, a_s8, zx, kv, K);
    } else {
        /* one group (no GS) or groups of any size: unscaled lanes per group, × m at its end */
        for (int64_t g = 0; g < qw->n_groups; g++) {
            const int64_t k0 = g * qw->group, k1 = k0 + qw->group < K ? k0 + qw->group : K;
            const int64_t kv = k0 + ((k1 - k0) & ~(int64_t)15);
            __m256i p0 = _mm256_setzero_si256(), p1 = p0, p2 = p0, p3 = p0;
            for (int64_t k = k0; k < kv; k += 16) {
                const __m256i d = qgemm_load_d16(a, k, a_s8, zx16);
                p0 = _mm256_add_epi32(p0, _mm256_madd_epi16(W16(w0, k), d));
                p1 = _mm256_add_epi32(p1, _mm256_madd_epi16(W16(w1, k), d));
                p2 = _mm256_add_epi32(p2, _mm256_madd_epi16(W16(w2, k), d));
                p3 = _mm256_add_epi32(p3, _mm256_madd_epi16(W16(w3, k), d));
            }
            if (qw->has_gs) {
                p0 = _mm256_mullo_epi32(p0, _mm256_set1_epi32(qgemm_mult(qw, rows[0], g, 0)));
                p1 = _mm256_mullo_epi32(p1, _mm256_set1_epi32(qgemm_mult(qw, rows[1], g, 0)));
                p2 = _mm256_mullo_epi32(p2, _mm256_set1_epi32(qgemm_mult(qw, rows[2], g, 0)));
                p3 = _mm256_mullo_epi32(p3, _mm256_set1_epi32(qgemm_mult(qw, rows[3], g, 0)));
            }
            acc0 = _mm256_add_epi32(acc0, p0);
            acc1 = _mm256_add_epi32(acc1, p1);
            acc2 = _mm256_add_epi32(acc2, p2);
            acc3 = _mm256_add_epi32(acc3, p3);
            if (kv < k1)
                for (int r = 0; r < 4; r++)
                    s[r] += qgemm_scalar_range(qw, rows[r], a, a_s8, zx, kv, k1);
        }
    }
    const __m128i t = qgemm_hsum4(acc0, acc1, acc2, acc3);
    int32_t v[4];
    _mm_storeu_si128((__m128i *)v, t);
    for (int r = 0; r < 4; r++)
        out[r] = v[r] + s[r];
}

FGQ_AVX2_INLINE void u8s8_rows(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                               int wk, int32_t *dot)
{
    qgemm_narrow nw;
    const qgemm_narrow *pnw = qgemm_narrow_init(qw, &nw) ? &nw : NULL;
    for (int64_t i = 0; i < n; i += 4) {
        /* a short last block repeats its last row and keeps only the valid results */
        int64_t rows[4];
        for (int r = 0; r < 4; r++)
            rows[r] = j0 + (i + r < n ? i + r : n - 1);
        int32_t out[4];
        u8s8_block4(qw, rows, a, a_s8, zx, pnw, wk, out);
        for (int r = 0; r < 4 && i + r < n; r++)
            dot[i + r] = out[r];
    }
}

FGQ_AVX2_FN void fgq_qgemm_u8s8_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                             int32_t zx, int32_t *dot)
{
    if (a_s8)
        u8s8_rows(qw, j0, n, a, 1, zx, W_S8, dot);
    else
        u8s8_rows(qw, j0, n, a, 0, zx, W_S8, dot);
}

/* Chunks start at even k (two codes a byte) unless groups are odd and wider
 * than the per-lane ones: those stay with the reference. */
int fgq_qgemm_s4_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || qw->n_groups < 2 || qw->group % 2 == 0 || qw->group == 1;
}

FGQ_AVX2_FN void fgq_qgemm_u8s4_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                             int32_t zx, int32_t *dot)
{
    if (a_s8)
        u8s8_rows(qw, j0, n, a, 1, zx, W_S4, dot);
    else
        u8s8_rows(qw, j0, n, a, 0, zx, W_S4, dot);
}

/* Chunks start on a unit (8 codes): groups of a multiple of 8, or the lane
 * multipliers' 1, 2, 4 (chunks at multiples of 16); others stay with the
 * reference. */
int fgq_qgemm_s3_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || qw->n_groups < 2 || qw->group % 8 == 0 || qw->group == 1 || qw->group == 2 ||
           qw->group == 4;
}

FGQ_AVX2_FN void fgq_qgemm_u8s3_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                             int32_t zx, int32_t *dot)
{
    if (a_s8)
        u8s8_rows(qw, j0, n, a, 1, zx, W_S3, dot);
    else
        u8s8_rows(qw, j0, n, a, 0, zx, W_S3, dot);
}

/* Chunks start on a byte (4 codes): groups of a multiple of 4, or the lane
 * multipliers' 1 and 2; others stay with the reference. */
int fgq_qgemm_s2_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || qw->n_groups < 2 || qw->group % 4 == 0 || qw->group == 1 || qw->group == 2;
}

FGQ_AVX2_FN void fgq_qgemm_u8s2_1x4c16__avx2(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8,
                                             int32_t zx, int32_t *dot)
{
    if (a_s8)
        u8s8_rows(qw, j0, n, a, 1, zx, W_S2, dot);
    else
        u8s8_rows(qw, j0, n, a, 0, zx, W_S2, dot);
}

#endif /* x86 */
