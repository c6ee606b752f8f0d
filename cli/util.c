/* util.c — exit codes and error printing shared by every subcommand. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

int fgq_cli_exit_code(fgq_status st)
{
    switch (st) {
    case FGQ_OK: return FGQ_EXIT_OK;
    case FGQ_ERR_NOMEM: return FGQ_EXIT_INTERNAL;
    case FGQ_ERR_IO:
    case FGQ_ERR_FORMAT:
    case FGQ_ERR_UNSUPPORTED:
    case FGQ_ERR_SHAPE:
    case FGQ_ERR_VALUE: return FGQ_EXIT_BAD;
    }
    return FGQ_EXIT_INTERNAL;
}

int fgq_cli_report(const char *cmd, const fgq_error *err)
{
    fprintf(stderr, "fgq %s: %s: %s\n", cmd, fgq_status_name(err->status),
            err->msg[0] ? err->msg : "(no message)");
    return fgq_cli_exit_code(err->status);
}

int fgq_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fgq %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'fgq %s --help'.\n", cmd);
    return FGQ_EXIT_BAD;
}

int fgq_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

int fgq_cli_output_clashes(const char *cmd, const char *out, const char *const *inputs, int n)
{
    struct stat so;
    if (out == NULL || stat(out, &so) != 0)
        return 0; /* not there yet: nothing to destroy */
    for (int i = 0; i < n; i++) {
        struct stat si;
        if (inputs[i] != NULL && stat(inputs[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            return fgq_cli_usage_error(cmd, "output %s is the input %s: writing it would destroy the input; "
                                            "choose another output path", out, inputs[i]);
    }
    return 0;
}

int fgq_cli_width(int width, const char *name, int extra)
{
    size_t n = name != NULL ? strlen(name) : 0;
    int w = (int)(n > 200 ? 200 : n) + extra;
    return w > width ? w : width;
}

int64_t fgq_cli_input_reps(int32_t rank, const int64_t *dims, int64_t numel, const fgq_tensor_info *info)
{
    const int32_t r = rank, R = info->rank;
    if (R == 0)
        return numel >= 1 ? numel : -1; /* scalars: any number of them */
    if (r == R) {
        for (int32_t d = 1; d < R; d++)
            if (dims[d] != info->dims[d])
                return -1;
        if (info->dims[0] == 0)
            return dims[0] == 0 ? 1 : -1;
        return dims[0] % info->dims[0] == 0 && dims[0] > 0 ? dims[0] / info->dims[0] : -1;
    }
    if (r < R) {
        for (int32_t d = 0; d < R - r; d++)
            if (info->dims[d] != 1)
                return -1;
        for (int32_t d = 0; d < r; d++)
            if (dims[d] != info->dims[R - r + d])
                return -1;
        return 1;
    }
    return -1;
}

int fgq_cli_looks_nhwc(int32_t rank, const int64_t *dims, const fgq_tensor_info *info)
{
    return rank == 4 && info->rank == 4 && info->dims[1] != info->dims[3] && dims[1] == info->dims[2] &&
           dims[2] == info->dims[3] && dims[3] == info->dims[1];
}
