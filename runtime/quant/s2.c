/* s2.c — packing of 2-bit four-level values (see s2.h). */
#include "quant/s2.h"

#include <string.h>

void fgq_s2_pack(const int8_t *v, int64_t n, uint8_t *packed)
{
    memset(packed, 0, (size_t)fgq_s2_row_bytes(n));
    for (int64_t i = 0; i < n; i++) {
        const int x = v[i] < -3 ? -3 : v[i] > 3 ? 3 : v[i];
        const unsigned c = (unsigned)(x + 4) / 2u; /* −3 → 0, −2/−1 → 1, 0/1 → 2, 2/3 → 3 */
        packed[i >> 2] = (uint8_t)(packed[i >> 2] | (c << (2 * (i & 3))));
    }
}

void fgq_s2_unpack(const uint8_t *packed, int64_t n, int8_t *v)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (int8_t)fgq_s2_get(packed, i);
}
