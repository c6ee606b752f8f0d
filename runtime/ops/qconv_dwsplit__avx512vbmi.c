/*
 * qconv_dwsplit__avx512vbmi.c — QCONV's depthwise phase form (qconv.c) for stride 2 along W:
 * one padded input row into its two phase-plane rows,
 *   even[j] = row[2j], odd[j] = row[2j + 1],  j < qw
 * 32 of each a step: one load of 64 bytes, one vpermb that puts the even bytes in the low
 * half and the odd ones in the high half, two stores; the tail under byte masks (reads and
 * writes stay inside row[0, 2·qw), even[0, qw), odd[0, qw)). The plain C loops in qconv.c are
 * its twin (the same bytes; tests/test_qconv_kernels.c runs stride-2 depthwise layers of many
 * widths with and without it against the reference convolution). CPUs with AVX-512 VBMI.
 */
#include "qgemm_dispatch.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

__attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vbmi"))) void
fgq_qconv_dw_split2__avx512vbmi(const uint8_t *row, int64_t qw, uint8_t *even, uint8_t *odd)
{
    const __m512i pick = _mm512_set_epi8(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25,
                                         23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, 62, 60, 58, 56, 54, 52, 50, 48, 46,
                                         44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                         2, 0);
    int64_t j = 0;
    for (; j + 32 <= qw; j += 32) {
        const __m512i v = _mm512_permutexvar_epi8(pick, _mm512_loadu_si512((const void *)(row + 2 * j)));
        _mm256_storeu_si256((__m256i *)(void *)(even + j), _mm512_castsi512_si256(v));
        _mm256_storeu_si256((__m256i *)(void *)(odd + j), _mm512_extracti64x4_epi64(v, 1));
    }
    if (j < qw) {
        const int64_t n = qw - j; /* 1..31 of each: 2n bytes in */
        const __mmask64 in = n >= 32 ? ~(__mmask64)0 : (((__mmask64)1 << (2 * n)) - 1);
        const __mmask32 out = (__mmask32)(((uint64_t)1 << n) - 1);
        const __m512i v = _mm512_permutexvar_epi8(pick, _mm512_maskz_loadu_epi8(in, row + 2 * j));
        _mm256_mask_storeu_epi8(even + j, out, _mm512_castsi512_si256(v));
        _mm256_mask_storeu_epi8(odd + j, out, _mm512_extracti64x4_epi64(v, 1));
    }
}

#endif /* x86 */
