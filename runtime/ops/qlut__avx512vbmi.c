/*
 * qlut__avx512vbmi.c — QLUT's loop on AVX-512 VBMI, 64 elements a step: the 256-entry table in
 * four registers, two vpermi2b lookups (entries 0-127 and 128-255 by the index's low 7 bits)
 * and a blend on bit 7. Index: the u8 byte, or an s8 code + 128 (its byte XOR 0x80). The same
 * bytes as qlut.c's loop, its reference twin (tests/test_qops_lut.c: every index, random tables
 * and tensors of 1-2401 elements).
 */
#include "qgemm_dispatch.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) int64_t fgq_qlut_run__avx512vbmi(const uint8_t *x, int64_t n,
                                                                                       uint8_t flip,
                                                                                       const uint8_t *table, uint8_t *y)
{
    const __m512i t0 = _mm512_loadu_si512((const void *)table), t1 = _mm512_loadu_si512((const void *)(table + 64));
    const __m512i t2 = _mm512_loadu_si512((const void *)(table + 128));
    const __m512i t3 = _mm512_loadu_si512((const void *)(table + 192));
    const __m512i fv = _mm512_set1_epi8((char)flip);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i idx = _mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), fv);
        const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1), hi = _mm512_permutex2var_epi8(t2, idx, t3);
        _mm512_storeu_si512((void *)(y + i), _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
    }
    return i;
}

#endif /* x86 */
