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
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(rq_step(0, round, k, s)));
    }
    return i;
}

FGQ_AVX512_FN int64_t fgq_qadd_tables__avx512(const uint8_t *a, const uint8_t *b, int64_t n, uint8_t fa, uint8_t fb,
                                              const int32_t *ta, const int32_t *tb, int32_t mult, int32_t shift,
                                              int32_t zy, int32_t qmin, int32_t qmax, uint8_t *y)
{
    if (shift > 0)
        return 0;
    fgq_qweights qw; /* the output stage's constants for "channel 0": bias 0, (mult, shift) */
    int32_t req[2] = { mult, shift };
    memset(&qw, 0, sizeof qw);
    qw.req = req;
    qw.k = 1;
    qw.mmax = 1;
    rq_consts k;
    (void)rq_channel_consts(&qw, 0, zy, qmin, qmax, 1, &k);
    return shift < 0 ? qadd_loop(1, &k, a, b, n, fa, fb, ta, tb, y) : qadd_loop(0, &k, a, b, n, fa, fb, ta, tb, y);
}

#endif /* x86 */
