/* data_formats.c — .npy header, IDX header, gzip and zip (npz) readers over in-memory buffers. */
#include "data_raw.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Dims beyond this are absurd for sample data and keep products far from overflow. */
#define DIM_MAX ((int64_t)1 << 40)

size_t fgq_src_dtype_size(fgq_src_dtype dt)
{
    switch (dt) {
    case FGQ_SRC_F32: case FGQ_SRC_S32: return 4;
    case FGQ_SRC_F64: case FGQ_SRC_S64: return 8;
    case FGQ_SRC_S16: return 2;
    case FGQ_SRC_U8: case FGQ_SRC_S8: case FGQ_SRC_BOOL: return 1;
    }
    return 0;
}

static uint32_t rd_le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* Sets raw->numel from dims and checks the payload holds exactly numel elements. */
static fgq_status finish_raw(const char *name, const char *fmt, fgq_raw_array *raw, size_t avail,
                             fgq_error *err)
{
    int64_t numel = 1;
    for (int32_t i = 0; i < raw->rank; i++) {
        if (raw->dims[i] < 0 || raw->dims[i] > DIM_MAX)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: %s header has an absurd dim %lld (axis %d)", name, fmt,
                            (long long)raw->dims[i], (int)i);
        if (raw->dims[i] != 0 && numel > INT64_MAX / 8 / raw->dims[i])
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: %s header dims overflow the element count", name, fmt);
        numel *= raw->dims[i];
    }
    uint64_t need = (uint64_t)numel * fgq_src_dtype_size(raw->dt);
    if (need > avail)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: truncated %s data: header promises %llu bytes, file has %llu",
                        name, fmt, (unsigned long long)need, (unsigned long long)avail);
    if (need < avail)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: %s header promises %llu data bytes but %llu follow", name, fmt,
                        (unsigned long long)need, (unsigned long long)avail);
    raw->numel = numel;
    return FGQ_OK;
}

/* ---- .npy -------------------------------------------------------------------
 * "\x93NUMPY", major, minor, header length (u16 for v1, u32 for v2/v3), then a
 * Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), } */

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int eat(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* Quoted string into out (NUL-terminated); 0 when malformed or too long. */
static int parse_str(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap)
            return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    out[n] = 0;
    return 1;
}

static int parse_word(cursor *c, const char *w)
{
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

static fgq_status npy_descr(const char *name, const char *d, fgq_raw_array *raw, fgq_error *err)
{
    static const struct {
        const char *code;
        fgq_src_dtype dt;
    } map[] = {{"f4", FGQ_SRC_F32}, {"f8", FGQ_SRC_F64}, {"u1", FGQ_SRC_U8},  {"i1", FGQ_SRC_S8},
               {"i2", FGQ_SRC_S16}, {"i4", FGQ_SRC_S32}, {"i8", FGQ_SRC_S64}, {"b1", FGQ_SRC_BOOL}};
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: unsupported .npy dtype '%s'", name, d);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(d + 1, map[i].code) != 0)
            continue;
        raw->dt = map[i].dt;
        if (order == '>' && fgq_src_dtype_size(raw->dt) > 1)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                            "%s: big-endian .npy data ('%s') is not supported: save it little-endian", name, d);
        raw->big_endian = 0;
        return FGQ_OK;
    }
    return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                    "%s: unsupported .npy dtype '%s' (supported: f4 f8 u1 i1 i2 i4 i8 b1)", name, d);
}

fgq_status fgq_parse_npy(const char *name, const uint8_t *buf, size_t size, fgq_raw_array *raw, fgq_error *err)
{
    memset(raw, 0, sizeof *raw);
    if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: not a .npy file (bad magic or shorter than 10 bytes)", name);
    unsigned major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = rd_le16(buf + 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: truncated .npy header", name);
        hlen = rd_le32(buf + 8);
        hstart = 12;
    } else {
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: .npy format version %u is not supported", name, major);
    }
    if (hlen > size - hstart)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npy header length %zu runs past the end of the file (%zu bytes)",
                        name, hlen, size);
    cursor c = {(const char *)buf + hstart, (const char *)buf + hstart + hlen};
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    char descr[32];
    if (!eat(&c, '{'))
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npy header is not a dict", name);
    for (;;) {
        if (eat(&c, '}'))
            break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: malformed .npy header dict", name);
        if (strcmp(key, "descr") == 0) {
            if (!parse_str(&c, descr, sizeof descr))
                return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                                "%s: .npy 'descr' is not a simple dtype string (structured arrays are not supported)",
                                name);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (parse_word(&c, "True"))
                fortran = 1;
            else if (!parse_word(&c, "False"))
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npy 'fortran_order' is neither True nor False", name);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!eat(&c, '('))
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npy 'shape' is not a tuple", name);
            raw->rank = 0;
            while (!eat(&c, ')')) {
                skip_ws(&c);
                int64_t v = 0;
                int digits = 0;
                while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
                    if (v > DIM_MAX)
                        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npy shape has an absurd dim", name);
                    v = v * 10 + (*c.p - '0');
                    c.p++;
                    digits++;
                }
                if (digits == 0)
                    return fgq_fail(err, FGQ_ERR_FORMAT, "%s: malformed .npy shape (non-negative integers expected)",
                                    name);
                if (raw->rank >= FGQ_MAX_DIMS)
                    return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: .npy array has more than %d dims", name,
                                    FGQ_MAX_DIMS);
                raw->dims[raw->rank++] = v;
                if (!eat(&c, ',')) {
                    if (!eat(&c, ')'))
                        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: malformed .npy shape tuple", name);
                    break;
                }
            }
            have_shape = 1;
        } else {
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: unexpected key '%s' in .npy header", name, key);
        }
        if (!eat(&c, ',')) {
            if (!eat(&c, '}'))
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: malformed .npy header dict", name);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npy header lacks %s", name,
                        !have_descr ? "'descr'" : !have_order ? "'fortran_order'" : "'shape'");
    fgq_status st = npy_descr(name, descr, raw, err);
    if (st != FGQ_OK)
        return st;
    if (fortran)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        "%s: fortran_order=True arrays are not supported: save with np.ascontiguousarray", name);
    raw->bytes = buf + hstart + hlen;
    return finish_raw(name, ".npy", raw, size - hstart - hlen, err);
}

/* ---- IDX --------------------------------------------------------------------
 * 0x00 0x00 <type> <ndims>, ndims big-endian u32 dims, big-endian data. */
fgq_status fgq_parse_idx(const char *name, const uint8_t *buf, size_t size, fgq_raw_array *raw, fgq_error *err)
{
    memset(raw, 0, sizeof *raw);
    if (size < 4 || buf[0] != 0 || buf[1] != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: not an IDX file (bad magic)", name);
    switch (buf[2]) {
    case 0x08: raw->dt = FGQ_SRC_U8; break;
    case 0x09: raw->dt = FGQ_SRC_S8; break;
    case 0x0B: raw->dt = FGQ_SRC_S16; break;
    case 0x0C: raw->dt = FGQ_SRC_S32; break;
    case 0x0D: raw->dt = FGQ_SRC_F32; break;
    case 0x0E: raw->dt = FGQ_SRC_F64; break;
    default:
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: unknown IDX element type 0x%02x", name, buf[2]);
    }
    raw->big_endian = 1;
    int nd = buf[3];
    if (nd < 1 || nd > FGQ_MAX_DIMS)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: IDX header has %d dims (1..%d supported)", name, nd, FGQ_MAX_DIMS);
    if (size < 4 + 4 * (size_t)nd)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: truncated IDX header", name);
    raw->rank = nd;
    for (int i = 0; i < nd; i++)
        raw->dims[i] = rd_be32(buf + 4 + 4 * i);
    raw->bytes = buf + 4 + 4 * nd;
    return finish_raw(name, "IDX", raw, size - 4 - 4 * (size_t)nd, err);
}

/* ---- gzip ------------------------------------------------------------------- */
fgq_status fgq_gunzip(const char *name, const uint8_t *buf, size_t size, uint64_t limit, uint8_t **out,
                      size_t *out_size, fgq_error *err)
{
    *out = NULL;
    *out_size = 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* +32: accept gzip or zlib headers */
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot initialise zlib", name);
    size_t cap = size < ((size_t)1 << 20) ? ((size_t)1 << 20) : size * 4;
    if (cap > limit)
        cap = (size_t)limit;
    if (cap == 0)
        cap = 1;
    uint8_t *dst = malloc(cap);
    if (dst == NULL) {
        inflateEnd(&z);
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", name, cap);
    }
    size_t in_pos = 0, out_pos = 0;
    fgq_status st = FGQ_OK;
    for (;;) {
        if (out_pos == cap) {
            if ((uint64_t)cap >= limit) {
                st = fgq_fail(err, FGQ_ERR_FORMAT,
                              "%s: gzip data inflates past the limit of %llu bytes (gzip bomb or too large)", name,
                              (unsigned long long)limit);
                break;
            }
            size_t ncap = cap * 2 > limit ? (size_t)limit : cap * 2;
            uint8_t *nd = realloc(dst, ncap);
            if (nd == NULL) {
                st = fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %zu bytes while inflating", name, ncap);
                break;
            }
            dst = nd;
            cap = ncap;
        }
        size_t in_chunk = size - in_pos > UINT_MAX ? UINT_MAX : size - in_pos;
        size_t out_chunk = cap - out_pos > UINT_MAX ? UINT_MAX : cap - out_pos;
        z.next_in = (Bytef *)(uintptr_t)(buf + in_pos);
        z.avail_in = (uInt)in_chunk;
        z.next_out = dst + out_pos;
        z.avail_out = (uInt)out_chunk;
        int r = inflate(&z, Z_NO_FLUSH);
        in_pos += in_chunk - z.avail_in;
        out_pos += out_chunk - z.avail_out;
        if (r == Z_STREAM_END) {
            /* Concatenated gzip members are one stream (gzip(1) semantics). */
            if (in_pos + 2 <= size && buf[in_pos] == 0x1f && buf[in_pos + 1] == 0x8b) {
                inflateReset(&z);
                continue;
            }
            break;
        }
        if (r == Z_OK)
            continue;
        if (r == Z_BUF_ERROR && z.avail_out == 0)
            continue; /* output full: grow */
        if (r == Z_BUF_ERROR)
            st = fgq_fail(err, FGQ_ERR_FORMAT, "%s: truncated gzip stream (ends after %zu bytes of input)", name, size);
        else if (r == Z_MEM_ERROR)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "%s: zlib out of memory", name);
        else
            st = fgq_fail(err, FGQ_ERR_FORMAT, "%s: corrupt gzip data: %s", name, z.msg ? z.msg : "inflate error");
        break;
    }
    inflateEnd(&z);
    if (st != FGQ_OK) {
        free(dst);
        return st;
    }
    *out = dst;
    *out_size = out_pos;
    return FGQ_OK;
}

/* ---- zip (npz) ---------------------------------------------------------------
 * End-of-central-directory record → central directory entries → local header →
 * data. Sizes come from the central directory (numpy's zip64 local headers
 * carry 0xFFFFFFFF there, while the central entry has the real sizes). */
static int name_matches(const uint8_t *n, size_t len, const char *want)
{
    size_t wl = strlen(want);
    if (len == wl && memcmp(n, want, wl) == 0)
        return 1;
    return len == wl + 4 && memcmp(n, want, wl) == 0 && memcmp(n + wl, ".npy", 4) == 0;
}

fgq_status fgq_unzip_member(const char *name, const uint8_t *buf, size_t size, const char *member, int single_ok,
                            uint64_t limit, uint8_t **out, size_t *out_size, fgq_error *err)
{
    *out = NULL;
    *out_size = 0;
    if (size < 22)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: truncated zip archive (%zu bytes)", name, size);
    size_t eocd = SIZE_MAX;
    size_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (size_t i = size - 22 + 1; i-- > lo;) {
        if (rd_le32(buf + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    }
    if (eocd == SIZE_MAX)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: zip end-of-central-directory record not found (truncated?)", name);
    if (eocd >= 20 && rd_le32(buf + eocd - 20) == 0x07064b50u)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: ZIP64 archives are not supported", name);
    uint32_t n_entries = rd_le16(buf + eocd + 10);
    uint32_t cd_size = rd_le32(buf + eocd + 12), cd_off = rd_le32(buf + eocd + 16);
    if (n_entries == 0xFFFFu || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: ZIP64 archives are not supported", name);
    if ((uint64_t)cd_off + cd_size > eocd)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: zip central directory lies outside the file", name);
    if (n_entries == 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: empty zip archive", name);
    size_t p = cd_off, cd_end = (size_t)cd_off + cd_size;
    for (uint32_t e = 0; e < n_entries; e++) {
        if (p + 46 > cd_end || rd_le32(buf + p) != 0x02014b50u)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: corrupt zip central directory entry %u", name, e);
        uint32_t flags = rd_le16(buf + p + 8), method = rd_le16(buf + p + 10);
        uint32_t crc = rd_le32(buf + p + 16), csize = rd_le32(buf + p + 20), usize = rd_le32(buf + p + 24);
        uint32_t nlen = rd_le16(buf + p + 28), xlen = rd_le16(buf + p + 30), clen = rd_le16(buf + p + 32);
        uint32_t loff = rd_le32(buf + p + 42);
        const uint8_t *ename = buf + p + 46;
        if (p + 46 + (size_t)nlen + xlen + clen > cd_end)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: corrupt zip central directory entry %u", name, e);
        p += 46 + (size_t)nlen + xlen + clen;
        if (member != NULL && !name_matches(ename, nlen, member))
            continue;
        if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || loff == 0xFFFFFFFFu)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: member '%.*s' uses ZIP64 sizes: not supported", name,
                            (int)nlen, (const char *)ename);
        if (flags & 1u)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: member '%.*s' is encrypted", name, (int)nlen,
                            (const char *)ename);
        if (method != 0 && method != 8)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                            "%s: member '%.*s' uses zip method %u (only stored and deflated are supported)", name,
                            (int)nlen, (const char *)ename, method);
        if (usize > limit)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: member '%.*s' inflates to %u bytes, over the limit of %llu",
                            name, (int)nlen, (const char *)ename, usize, (unsigned long long)limit);
        if ((uint64_t)loff + 30 > size || rd_le32(buf + loff) != 0x04034b50u)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: corrupt zip local header for '%.*s'", name, (int)nlen,
                            (const char *)ename);
        uint64_t data_off = (uint64_t)loff + 30 + rd_le16(buf + loff + 26) + rd_le16(buf + loff + 28);
        if (data_off + csize > size)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: zip member '%.*s' is truncated", name, (int)nlen,
                            (const char *)ename);
        uint8_t *dst = malloc(usize ? usize : 1);
        if (dst == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %u bytes", name, usize);
        if (method == 0) {
            if (csize != usize) {
                free(dst);
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: stored zip member '%.*s' has sizes %u != %u", name,
                                (int)nlen, (const char *)ename, csize, usize);
            }
            memcpy(dst, buf + data_off, usize);
        } else {
            z_stream z;
            memset(&z, 0, sizeof z);
            if (inflateInit2(&z, -15) != Z_OK) { /* raw deflate, no header */
                free(dst);
                return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot initialise zlib", name);
            }
            z.next_in = (Bytef *)(uintptr_t)(buf + data_off);
            z.avail_in = csize;
            z.next_out = dst;
            z.avail_out = usize;
            int r = inflate(&z, Z_FINISH);
            uLong produced = z.total_out;
            inflateEnd(&z);
            if (r != Z_STREAM_END || produced != usize) {
                free(dst);
                return fgq_fail(err, FGQ_ERR_FORMAT,
                                "%s: zip member '%.*s' does not inflate to its declared %u bytes (corrupt or lying size)",
                                name, (int)nlen, (const char *)ename, usize);
            }
        }
        if (crc32(0L, dst, usize) != crc) {
            free(dst);
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: CRC mismatch in zip member '%.*s'", name, (int)nlen,
                            (const char *)ename);
        }
        *out = dst;
        *out_size = usize;
        return FGQ_OK;
    }
    if (single_ok && n_entries == 1 && member != NULL) /* one array, whatever it is called */
        return fgq_unzip_member(name, buf, size, NULL, 0, limit, out, out_size, err);
    return fgq_fail(err, FGQ_ERR_VALUE, "%s: no member '%s' (or '%s.npy') among its %u arrays", name,
                    member ? member : "", member ? member : "", (unsigned)n_entries);
}
