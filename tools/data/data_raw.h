/*
 * data_raw.h — internal to tools/data: a parsed, not yet converted array as it
 * lies in a file buffer, and the format parsers that produce it. Every parser
 * bounds-checks the header against the bytes it was given; `raw->bytes` points
 * into the caller's buffer, which must outlive the raw array.
 */
#ifndef FGQ_DATA_RAW_H
#define FGQ_DATA_RAW_H

#include "data.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    fgq_src_dtype dt;
    int big_endian;
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];
    int64_t numel;
    const uint8_t *bytes; /* numel * elem size bytes */
} fgq_raw_array;

size_t fgq_src_dtype_size(fgq_src_dtype dt);

/* `name` is used in messages only. */
fgq_status fgq_parse_npy(const char *name, const uint8_t *buf, size_t size, fgq_raw_array *raw, fgq_error *err);
fgq_status fgq_parse_idx(const char *name, const uint8_t *buf, size_t size, fgq_raw_array *raw, fgq_error *err);

/* Inflates a gzip (or zlib) stream into a malloc'd buffer of at most `limit` bytes. */
fgq_status fgq_gunzip(const char *name, const uint8_t *buf, size_t size, uint64_t limit, uint8_t **out,
                      size_t *out_size, fgq_error *err);

/* Extracts one member of a zip archive (stored or deflated; CRC checked) into
 * a malloc'd buffer. member NULL: the first member; otherwise the member called
 * `member` or `member`.npy, or (single_ok) the only member of a one-member
 * archive. No such member: FGQ_ERR_VALUE naming the file and `member`. ZIP64,
 * encryption and other methods fail cleanly. */
fgq_status fgq_unzip_member(const char *name, const uint8_t *buf, size_t size, const char *member, int single_ok,
                            uint64_t limit, uint8_t **out, size_t *out_size, fgq_error *err);

#endif /* FGQ_DATA_RAW_H */
