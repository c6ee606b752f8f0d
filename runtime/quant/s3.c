/* s3.c — packing of signed 3-bit values (see s3.h). */
#include "quant/s3.h"

#include <string.h>

void fgq_s3_pack(const int8_t *v, int64_t n, uint8_t *packed)
{
    memset(packed, 0, (size_t)fgq_s3_row_bytes(n));
    for (int64_t i = 0; i < n; i++) {
        const int x = v[i] < -4 ? -4 : v[i] > 3 ? 3 : v[i];
        const unsigned bits = (unsigned)x & 7u; /* 3-bit two's complement */
        uint8_t *u = packed + (i >> 3) * 3;
        const int j = (int)(i & 7);
        u[j >> 2] = (uint8_t)(u[j >> 2] | ((bits & 3u) << (2 * (j & 3))));
        u[2] = (uint8_t)(u[2] | ((bits >> 2) << j));
    }
}

void fgq_s3_unpack(const uint8_t *packed, int64_t n, int8_t *v)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (int8_t)fgq_s3_get(packed, i);
}
