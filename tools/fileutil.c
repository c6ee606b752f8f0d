/* fileutil.c — bounded whole-file reads and temp-file + fsync + rename writes. */
#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

fgq_status fgq_read_file(const char *path, uint64_t max_size, uint8_t **out, size_t *out_size,
                         fgq_error *err)
{
    *out = NULL;
    *out_size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fgq_fail(err, FGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fgq_fail(err, FGQ_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fgq_fail(err, FGQ_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > max_size || size > (uint64_t)SIZE_MAX - 1) {
        close(fd);
        return fgq_fail(err, FGQ_ERR_IO, "%s: file is %llu bytes, over the limit of %llu bytes", path,
                        (unsigned long long)size, (unsigned long long)max_size);
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        close(fd);
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %llu bytes", path,
                        (unsigned long long)size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return fgq_fail(err, FGQ_ERR_IO, "%s: read failed after %zu of %llu bytes: %s", path, got,
                            (unsigned long long)size, r == 0 ? "file shrank" : strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = 0;
    *out = buf;
    *out_size = (size_t)size;
    return FGQ_OK;
}

fgq_status fgq_write_file_atomic(const char *path, const void *data, size_t size, fgq_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return fgq_fail(err, FGQ_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                        strerror(e));
    }
    const uint8_t *p = data;
    size_t done = 0;
    fgq_status st = FGQ_OK;
    while (done < size) {
        ssize_t w = write(fd, p + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = fgq_fail(err, FGQ_ERR_IO, "%s: write failed after %zu of %zu bytes: %s", path, done, size,
                          strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    /* mkstemp creates 0600; outputs are ordinary files others may read. (Reading
     * the umask would mean changing process state, so use the common 0644.) */
    if (st == FGQ_OK && fchmod(fd, 0644) != 0)
        st = fgq_fail(err, FGQ_ERR_IO, "%s: chmod failed: %s", path, strerror(errno));
    if (st == FGQ_OK && fsync(fd) != 0)
        st = fgq_fail(err, FGQ_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && st == FGQ_OK)
        st = fgq_fail(err, FGQ_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (st == FGQ_OK && rename(tmp, path) != 0)
        st = fgq_fail(err, FGQ_ERR_IO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
    if (st != FGQ_OK)
        unlink(tmp);
    free(tmp);
    return st;
}
