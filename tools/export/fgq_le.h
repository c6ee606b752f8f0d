/* fgq_le.h — little-endian stores for the .fgq encoders (fgq_writer.c, fgq_compact.c): records
 * are written field by field at the fgq_format.h structs' offsets, so the bytes do not depend on
 * the host. The readers are runtime/fgq_runtime.h's fgq_read_*le. */
#ifndef FGQ_LE_H
#define FGQ_LE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void fgq_put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void fgq_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fgq_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fgq_put_s32(uint8_t *p, int32_t v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    fgq_put_u32(p, u);
}
static inline void fgq_put_f32(uint8_t *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    fgq_put_u32(p, u);
}

#define FGQ_W8(rec, type, field, v) ((rec)[offsetof(type, field)] = (uint8_t)(v))
#define FGQ_W16(rec, type, field, v) fgq_put_u16((rec) + offsetof(type, field), (uint32_t)(v))
#define FGQ_W32(rec, type, field, v) fgq_put_u32((rec) + offsetof(type, field), (uint32_t)(v))
#define FGQ_W64(rec, type, field, v) fgq_put_u64((rec) + offsetof(type, field), (uint64_t)(v))
#define FGQ_WS32(rec, type, field, v) fgq_put_s32((rec) + offsetof(type, field), (int32_t)(v))

#endif /* FGQ_LE_H */
