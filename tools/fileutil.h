/*
 * fileutil.h — whole-file reads with a size limit, and atomic writes.
 *
 * fgq_read_file: reads `path` into a malloc'd buffer (caller frees; one extra
 * NUL byte is appended but not counted in *out_size). A file larger than
 * max_size is FGQ_ERR_IO naming the file and both sizes; nothing is allocated
 * on failure.
 *
 * fgq_write_file_atomic: writes `size` bytes to a temporary file in the same
 * folder as `path`, fsyncs it and renames it over `path`, so readers see the
 * old file or the complete new one, never a half-written one. On any error the
 * temporary file is removed and `path` is left untouched.
 */
#ifndef FGQ_FILEUTIL_H
#define FGQ_FILEUTIL_H

#include "fgq_types.h"

#include <stddef.h>
#include <stdint.h>

fgq_status fgq_read_file(const char *path, uint64_t max_size, uint8_t **out, size_t *out_size,
                         fgq_error *err);
fgq_status fgq_write_file_atomic(const char *path, const void *data, size_t size, fgq_error *err);

#endif /* FGQ_FILEUTIL_H */
