/* s4.c — packing and dequantization of signed 4-bit values (see s4.h). */
#include "quant/s4.h"

static uint8_t s4_nibble(int8_t v)
{
    int x = v < -8 ? -8 : v > 7 ? 7 : v;
    return (uint8_t)((unsigned)x & 0xFu);
}

static int8_t s4_value(unsigned nibble)
{
    /* sign-extend bit 3: nibbles 8..15 are -8..-1 */
    return (int8_t)((int)(nibble ^ 8u) - 8);
}

void fgq_s4_pack(const int8_t *v, int64_t n, uint8_t *packed)
{
    for (int64_t b = 0; b < n / 2; b++)
        packed[b] = (uint8_t)(s4_nibble(v[2 * b]) | (s4_nibble(v[2 * b + 1]) << 4));
    if (n % 2)
        packed[n / 2] = s4_nibble(v[n - 1]);
}

void fgq_s4_unpack(const uint8_t *packed, int64_t n, int8_t *v)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = s4_value((packed[i >> 1] >> (4 * (i & 1))) & 0xFu);
}

void fgq_s4_dequantize_row_f32(const uint8_t *packed, int64_t k, int64_t group,
                               const float *scales, float *out)
{
    for (int64_t g0 = 0, gi = 0; g0 < k; g0 += group, gi++) {
        int64_t end = g0 + group < k ? g0 + group : k;
        for (int64_t i = g0; i < end; i++)
            out[i] = (float)s4_value((packed[i >> 1] >> (4 * (i & 1))) & 0xFu) * scales[gi];
    }
}
