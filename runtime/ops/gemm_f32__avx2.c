/*
 * gemm_f32__avx2.c — the float Gemm/MatMul microkernels with AVX2+FMA, bit-
 * identical to the loops of gemm_f32.c (row_axpy_f32 and the transB dot
 * product), their reference twin (tests/test_gemm_f32_fast.c, memcmp).
 *
 * Why bit-identical is possible: the reference gives each output element
 * 0.0f, then for p = 0..K-1 in order one fused multiply-add fmaf(A'(i,p),
 * B'(p,j), acc). Both kernels keep exactly that sequence per element, 8
 * columns of Y to a vector, one vfmadd a p; only which elements share a
 * register changes. (Until 2026-12-07 both sides kept a product and an add
 * apart, which cost the kernels half their rate; the packed panels MatMul
 * now takes, conv_f32_gemm.c, fuse them too.) Any split of rows or columns
 * over threads, and any mix of tiles, gives the same bytes.
 *
 * 6x16 (B' = B, row-major [K, ldb]): six rows of Y times 16 columns in 12
 * accumulators, a row of B loaded once per p for all six; fewer than six
 * rows go one at a time, 64 columns (8 accumulators) a pass, then 8, then a
 * masked tail. B is read where it lies: each p reads 64 contiguous bytes of
 * a row, which the hardware prefetcher streams; no packing, so no scratch.
 *
 * 6x16t (B' = Bᵀ, B row-major [N, ldb], the Linear layer's weight): Y(i, j)
 * is a dot product along a row of B, but summing it 8 k to a vector would
 * change the order. So 16 rows of B, 8 k at a time, are transposed in
 * registers (two 8x8: unpack, shuffle, permute) into a 512-byte stack block of
 * 8 k x 16 columns; then each of up to six rows of A' broadcasts its 8
 * values against it, two accumulators per row (12 for a full tile), k in
 * order. The k tail (K mod 8) is copied scalar by scalar. Columns past N in
 * the last group of 16 repeat row j's data and are never stored.
 *
 * A'(i, p) = a[i·ars + p·acs]: (k, 1) for A, (1, m) for transA. No
 * allocation; under 2 KiB of stack, the runtime's frame limit
 * (scripts/check_freestanding.sh; gcc -O2 -fstack-usage: 1,736 bytes for 6x16t).
 */
#include "ops_f32.h"

#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

/* Lanes [0, n) of a vector set (n < 8): the mask maskload/maskstore take. */
__attribute__((target("avx2,fma"))) static __m256i tail_mask(int64_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}

#define MADD(acc, a, b) acc = _mm256_fmadd_ps(a, b, acc)

/* One row of Y, columns [j0, j1): y[j] = Σ_p a[p·acs]·b[p·ldb + j]. */
__attribute__((target("avx2,fma"))) static void row_1x64(const float *a, int64_t acs, const float *b, int64_t ldb,
                                                         int64_t k, int64_t j0, int64_t j1, float *y)
{
    int64_t j = j0;
    for (; j + 64 <= j1; j += 64) {
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        const float *bp = b + j;
        for (int64_t p = 0; p < k; p++, bp += ldb) {
            const __m256 av = _mm256_broadcast_ss(a + p * acs);
            MADD(c0, av, _mm256_loadu_ps(bp));
            MADD(c1, av, _mm256_loadu_ps(bp + 8));
            MADD(c2, av, _mm256_loadu_ps(bp + 16));
            MADD(c3, av, _mm256_loadu_ps(bp + 24));
            MADD(c4, av, _mm256_loadu_ps(bp + 32));
            MADD(c5, av, _mm256_loadu_ps(bp + 40));
            MADD(c6, av, _mm256_loadu_ps(bp + 48));
            MADD(c7, av, _mm256_loadu_ps(bp + 56));
        }
        _mm256_storeu_ps(y + j, c0);
        _mm256_storeu_ps(y + j + 8, c1);
        _mm256_storeu_ps(y + j + 16, c2);
        _mm256_storeu_ps(y + j + 24, c3);
        _mm256_storeu_ps(y + j + 32, c4);
        _mm256_storeu_ps(y + j + 40, c5);
        _mm256_storeu_ps(y + j + 48, c6);
        _mm256_storeu_ps(y + j + 56, c7);
    }
    for (; j + 16 <= j1; j += 16) {
        __m256 c0 = _mm256_setzero_ps(), c1 = c0;
        const float *bp = b + j;
        for (int64_t p = 0; p < k; p++, bp += ldb) {
            const __m256 av = _mm256_broadcast_ss(a + p * acs);
            MADD(c0, av, _mm256_loadu_ps(bp));
            MADD(c1, av, _mm256_loadu_ps(bp + 8));
        }
        _mm256_storeu_ps(y + j, c0);
        _mm256_storeu_ps(y + j + 8, c1);
    }
    for (; j < j1; j += 8) {
        const int64_t w = j1 - j < 8 ? j1 - j : 8;
        const __m256i mask = tail_mask(w);
        __m256 c0 = _mm256_setzero_ps();
        const float *bp = b + j;
        for (int64_t p = 0; p < k; p++, bp += ldb)
            MADD(c0, _mm256_broadcast_ss(a + p * acs), _mm256_maskload_ps(bp, mask));
        _mm256_maskstore_ps(y + j, mask, c0);
    }
}

/* Six rows of Y, columns [j, j+16) (LOAD: plain or masked loads of B), into cs. */
#define TILE_6X16(LOAD0, LOAD1)                                                                       \
    do {                                                                                              \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;      \
        __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;                      \
        const float *bp = b + j;                                                                      \
        for (int64_t p = 0; p < k; p++, bp += ldb) {                                                  \
            const __m256 b0 = LOAD0, b1 = LOAD1;                                                      \
            const int64_t pa = p * acs;                                                               \
            __m256 av = _mm256_broadcast_ss(a0 + pa);                                                 \
            MADD(c00, av, b0);                                                                        \
            MADD(c01, av, b1);                                                                        \
            av = _mm256_broadcast_ss(a1 + pa);                                                        \
            MADD(c10, av, b0);                                                                        \
            MADD(c11, av, b1);                                                                        \
            av = _mm256_broadcast_ss(a2 + pa);                                                        \
            MADD(c20, av, b0);                                                                        \
            MADD(c21, av, b1);                                                                        \
            av = _mm256_broadcast_ss(a3 + pa);                                                        \
            MADD(c30, av, b0);                                                                        \
            MADD(c31, av, b1);                                                                        \
            av = _mm256_broadcast_ss(a4 + pa);                                                        \
            MADD(c40, av, b0);                                                                        \
            MADD(c41, av, b1);                                                                        \
            av = _mm256_broadcast_ss(a5 + pa);                                                        \
            MADD(c50, av, b0);                                                                        \
            MADD(c51, av, b1);                                                                        \
        }                                                                                             \
        cs[0][0] = c00, cs[0][1] = c01, cs[1][0] = c10, cs[1][1] = c11, cs[2][0] = c20;               \
        cs[2][1] = c21, cs[3][0] = c30, cs[3][1] = c31, cs[4][0] = c40, cs[4][1] = c41;               \
        cs[5][0] = c50, cs[5][1] = c51;                                                               \
    } while (0)

__attribute__((target("avx2,fma"))) void fgq_gemm_f32_6x16__avx2(const float *a, int64_t ars, int64_t acs, int64_t mr,
                                                                 const float *b, int64_t ldb, int64_t k, int64_t j0,
                                                                 int64_t j1, float *y, int64_t ldy)
{
    if (mr != 6) {
        for (int64_t i = 0; i < mr; i++)
            row_1x64(a + i * ars, acs, b, ldb, k, j0, j1, y + i * ldy);
        return;
    }
    const float *a0 = a, *a1 = a + ars, *a2 = a + 2 * ars, *a3 = a + 3 * ars, *a4 = a + 4 * ars, *a5 = a + 5 * ars;
    for (int64_t j = j0; j < j1; j += 16) {
        const int64_t w = j1 - j < 16 ? j1 - j : 16;
        __m256 cs[6][2];
        if (w == 16) {
            TILE_6X16(_mm256_loadu_ps(bp), _mm256_loadu_ps(bp + 8));
            for (int i = 0; i < 6; i++) {
                _mm256_storeu_ps(y + i * ldy + j, cs[i][0]);
                _mm256_storeu_ps(y + i * ldy + j + 8, cs[i][1]);
            }
        } else {
            /* a short panel loads and stores under masks: lanes past j1 are never read or written */
            const __m256i m0 = tail_mask(w < 8 ? w : 8), m1 = tail_mask(w > 8 ? w - 8 : 0);
            TILE_6X16(_mm256_maskload_ps(bp, m0), _mm256_maskload_ps(bp + 8, m1));
            for (int i = 0; i < 6; i++) {
                _mm256_maskstore_ps(y + i * ldy + j, m0, cs[i][0]);
                _mm256_maskstore_ps(y + i * ldy + j + 8, m1, cs[i][1]);
            }
        }
    }
}
#undef TILE_6X16

/* out[s] = column s of the 8x8 block r[0..8)[0..8). */
__attribute__((target("avx2,fma"))) static void transpose_8x8(const __m256 r[8], __m256 out[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    out[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    out[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    out[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    out[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    out[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    out[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    out[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    out[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

enum { KB = 8 }; /* k per transposed block: KB x 16 floats = 512 bytes of stack (the 2 KiB frame limit) */

/* Rows [i0, i0+6) when all6, else row i0 alone, of the tile against one
 * transposed block bt[kb][16]: c[i][0..2) += A'(i, p0+q)·bt[q], q in order. */
#define T_ROW(ai, c0, c1)                                                                             \
    do {                                                                                              \
        const __m256 av_ = _mm256_broadcast_ss((ai) + q * acs);                                      \
        MADD(c0, av_, b0);                                                                            \
        MADD(c1, av_, b1);                                                                            \
    } while (0)

__attribute__((target("avx2,fma"))) void fgq_gemm_f32_6x16t__avx2(const float *a, int64_t ars, int64_t acs, int64_t mr,
                                                                  const float *b, int64_t ldb, int64_t k, int64_t j0,
                                                                  int64_t j1, float *y, int64_t ldy)
{
    _Alignas(32) float bt[KB * 16];
    for (int64_t j = j0; j < j1; j += 16) {
        const int64_t w = j1 - j < 16 ? j1 - j : 16;
        const float *br[16];
        for (int64_t q = 0; q < 16; q++)
            br[q] = b + (j + (q < w ? q : 0)) * ldb;
        __m256 acc[6][2];
        for (int64_t i = 0; i < mr; i++)
            acc[i][0] = acc[i][1] = _mm256_setzero_ps();
        for (int64_t p0 = 0; p0 < k; p0 += KB) {
            const int64_t kb = k - p0 < KB ? k - p0 : KB;
            int64_t s = 0;
            for (; s + 8 <= kb; s += 8)
                for (int h = 0; h < 2; h++) {
                    __m256 r[8], t[8];
                    for (int q = 0; q < 8; q++)
                        r[q] = _mm256_loadu_ps(br[8 * h + q] + p0 + s);
                    transpose_8x8(r, t);
                    for (int q = 0; q < 8; q++)
                        _mm256_store_ps(bt + (s + q) * 16 + 8 * h, t[q]);
                }
            for (; s < kb; s++)
                for (int q = 0; q < 16; q++)
                    bt[s * 16 + q] = br[q][p0 + s];
            if (mr == 6) {
                const float *a0 = a + p0 * acs, *a1 = a0 + ars, *a2 = a1 + ars, *a3 = a2 + ars, *a4 = a3 + ars,
                            *a5 = a4 + ars;
                __m256 c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1], c20 = acc[2][0];
                __m256 c21 = acc[2][1], c30 = acc[3][0], c31 = acc[3][1], c40 = acc[4][0], c41 = acc[4][1];
                __m256 c50 = acc[5][0], c51 = acc[5][1];
                for (int64_t q = 0; q < kb; q++) {
                    const __m256 b0 = _mm256_load_ps(bt + q * 16), b1 = _mm256_load_ps(bt + q * 16 + 8);
                    T_ROW(a0, c00, c01);
                    T_ROW(a1, c10, c11);
                    T_ROW(a2, c20, c21);
                    T_ROW(a3, c30, c31);
                    T_ROW(a4, c40, c41);
                    T_ROW(a5, c50, c51);
                }
                acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20;
                acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41;
                acc[5][0] = c50, acc[5][1] = c51;
            } else {
                for (int64_t i = 0; i < mr; i++) {
                    const float *ai = a + i * ars + p0 * acs;
                    __m256 c0 = acc[i][0], c1 = acc[i][1];
                    for (int64_t q = 0; q < kb; q++) {
                        const __m256 b0 = _mm256_load_ps(bt + q * 16), b1 = _mm256_load_ps(bt + q * 16 + 8);
                        T_ROW(ai, c0, c1);
                    }
                    acc[i][0] = c0, acc[i][1] = c1;
                }
            }
        }
        const __m256i m0 = tail_mask(w < 8 ? w : 8), m1 = tail_mask(w > 8 ? w - 8 : 0);
        for (int64_t i = 0; i < mr; i++) {
            if (w == 16) {
                _mm256_storeu_ps(y + i * ldy + j, acc[i][0]);
                _mm256_storeu_ps(y + i * ldy + j + 8, acc[i][1]);
            } else {
                _mm256_maskstore_ps(y + i * ldy + j, m0, acc[i][0]);
                _mm256_maskstore_ps(y + i * ldy + j + 8, m1, acc[i][1]);
            }
        }
    }
}
#undef T_ROW

#undef MADD
#endif
