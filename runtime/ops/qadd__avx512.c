/*
 * qadd__avx512.c — QADD's table form (qadd.c) on AVX-512, 16 elements a step:
 *   y[i] = clamp(z_y + requant(ta[a[i] ^ fa] + tb[b[i] ^ fb], mult, shift), qmin, qmax)
 * the tables read with 16-lane vpgatherdd (the AVX2 form's 8-lane gathers were a fifth of
 * ResNet-50's run), the sum requantized in registers by the convolutions' output stage
 * (qrequant_avx512.h: bias 0, no saturation: |ta|, |tb| < 2^28). Right shifts only (shift
 * <= 0); a left shift returns 0 (the AVX2 form takes the layer). Reference twin:
 * fgq_qadd_run_ref (qadd.c), tested in tests/test_qops_misc.c.
 */
#include "qrequant_avx512.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

/* The output stage's constants for a bias-free "channel" (mult, shift <= 0): |bias + x| < 2^30 in
 * both uses, so no int32 saturation. */
FGQ_AVX512_INLINE void qadd_consts(int32_t mult, int32_t shift, int32_t zy, int32_t qmin, int32_t qmax, rq_consts *k)
{
    fgq_qweights qw;
    int32_t req[2] = { mult, shift };
    memset(&qw, 0, sizeof qw);
    qw.req = req;
    qw.k = 1;
    qw.mmax = 1;
    (void)rq_channel_consts(&qw, 0, zy, qmin, qmax, 1, k);
}

/* 16 elements a step, `round` (a right shift) a constant at each call. */
FGQ_AVX512_INLINE int64_t qadd_loop(int round, const rq_consts *k, const uint8_t *a, const uint8_t *b, int64_t n,
                                    uint8_t fa, uint8_t fb, const int32_t *ta, const int32_t *tb, uint8_t *y)
{
    const __m128i fav = _mm_set1_epi8((char)fa), fbv = _mm_set1_epi8((char)fb);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i ia = _mm512_cvtepu8_epi32(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + i)), fav));
        const __m512i ib = _mm512_cvtepu8_epi32(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(b + i)), fbv));
        const __m512i s = _mm512_add_epi32(_mm512_i32gather_epi32(ia, (const void *)ta, 4),
                                           _mm512_i32gather_epi32(ib, (const void *)tb, 4));
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(rq_step(round, k, s)));
    }
    return i;
}

FGQ_AVX512_FN int64_t fgq_qadd_tables__avx512(const uint8_t *a, const uint8_t *b, int64_t n, uint8_t fa, uint8_t fb,
                                              const int32_t *ta, const int32_t *tb, int32_t mult, int32_t shift,
                                              int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y)
{
    if (shift > 0)
        return 0;
    rq_consts k;
    qadd_consts(mult, shift, zy, qmin, qmax, &k);
    return shift < 0 ? qadd_loop(1, &k, a, b, n, fa, fb, ta, tb, y) : qadd_loop(0, &k, a, b, n, fa, fb, ta, tb, y);
}

/* QADD's input table on AVX-512: t[c] = fgq_requantize_s32((q − z)·2^lsh, mult, shift) for the
 * 256 codes (index c: the u8 byte, or an s8 code + 128), 16 a step through the output stage's
 * step with bias 0 and no clamp (its bounds the whole int32 range, z_y 0). |(q − z)·2^lsh| <=
 * 255·2^20 < 2^30: no saturation. Right shifts only (QADD's check: -31..0). */
FGQ_AVX512_FN void fgq_qadd_table__avx512(int32_t *t, int s8, int32_t z, int32_t lsh, int32_t mult, int32_t shift)
{
    rq_consts k;
    qadd_consts(mult, shift, 0, INT32_MIN, INT32_MAX, &k);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i lc = _mm_cvtsi32_si128(lsh);
    for (int32_t c0 = 0; c0 < 256; c0 += 16) {
        const __m512i q = _mm512_add_epi32(_mm512_set1_epi32(c0 - (s8 ? 128 : 0) - z), lane);
        const __m512i x = _mm512_sll_epi32(q, lc);
        _mm512_storeu_si512((void *)(t + c0), shift < 0 ? rq_step(RQ_ROUND, &k, x) : rq_step(RQ_PLAIN, &k, x));
    }
}

/* QMUL's table for one gate value g (a channel's squeeze-excitation gate): table[c] = clamp(z_y +
 * requant((q − z)·g, mult, shift), qmin, qmax) for the 256 codes q (index c: the u8 byte, or an
 * s8 code + 128), 16 a step; |(q − z)·g| <= 255·255: no saturation. Returns 0 for a left shift
 * (the caller's C loop then builds it). */
FGQ_AVX512_FN int fgq_qmul_table__avx512(uint8_t *table, int s8, int32_t z, int32_t g, int32_t mult, int32_t shift,
                                         int32_t zy, int32_t qmin, int32_t qmax)
{
    if (shift > 0)
        return 0;
    rq_consts k;
    qadd_consts(mult, shift, zy, qmin, qmax, &k);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i gv = _mm512_set1_epi32(g);
    for (int32_t c0 = 0; c0 < 256; c0 += 16) {
        const __m512i p = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(c0 - (s8 ? 128 : 0) - z), lane), gv);
        /* the clamped values are in the byte's range, u8 or s8: vpmovdb keeps their low byte */
        _mm_storeu_si128((__m128i *)(void *)(table + c0),
                         _mm512_cvtepi32_epi8(shift < 0 ? rq_step(RQ_ROUND, &k, p) : rq_step(RQ_PLAIN, &k, p)));
    }
    return 1;
}

/* QMUL along a run, 16 elements a step: y[i] = clamp(z_y + requant((a[i] − z_a)·(b[i·sb] − z_b),
 * mult, shift), qmin, qmax), sb 1 or 0 (b one value). |product| <= 255^2: no saturation. Right
 * shifts only: returns n & ~15, or 0 for a left shift (the AVX2 loop then takes the run). Twin:
 * fgq_qmul_run_ref (qadd.c). */
FGQ_AVX512_INLINE int64_t qmul_loop(int round, const rq_consts *k, const uint8_t *a, const uint8_t *b, int64_t sb,
                                    int64_t n, int a_s8, int b_s8, int32_t za, int32_t zb, uint8_t *y)
{
    const __m512i zav = _mm512_set1_epi32(za), zbv = _mm512_set1_epi32(zb);
    const __m512i gate = sb != 0 ? _mm512_setzero_si512()
                                 : _mm512_set1_epi32((b_s8 ? (int32_t)(int8_t)b[0] : (int32_t)b[0]) - zb);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i ra = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        const __m512i da = _mm512_sub_epi32(a_s8 ? _mm512_cvtepi8_epi32(ra) : _mm512_cvtepu8_epi32(ra), zav);
        __m512i db = gate;
        if (sb != 0) {
            const __m128i rb = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
            db = _mm512_sub_epi32(b_s8 ? _mm512_cvtepi8_epi32(rb) : _mm512_cvtepu8_epi32(rb), zbv);
        }
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(rq_step(round, k, _mm512_mullo_epi32(da, db))));
    }
    return i;
}

FGQ_AVX512_FN int64_t fgq_qmul_run__avx512(const uint8_t *a, const uint8_t *b, int64_t sb, int64_t n, int a_s8,
                                           int b_s8, int32_t za, int32_t zb, int32_t mult, int32_t shift, int32_t zy,
                                           int32_t qmin, int32_t qmax, uint8_t *y)
{
    if (shift > 0 || n < 16)
        return 0; /* (b may hold no element at all when n is 0) */
    rq_consts k;
    qadd_consts(mult, shift, zy, qmin, qmax, &k);
    return shift < 0 ? qmul_loop(1, &k, a, b, sb, n, a_s8, b_s8, za, zb, y)
                     : qmul_loop(0, &k, a, b, sb, n, a_s8, b_s8, za, zb, y);
}

#endif /* x86 */
