/* fgq_error.c — status names, dtype sizes, and the first-failure-wins error record. */
#include "fgq_types.h"

#include <stdarg.h>
#include <stdio.h>

fgq_status(fgq_fail)(fgq_error *err, fgq_status status, const char *fmt, ...)
{
    if (err == NULL || err->status != FGQ_OK)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return status;
}

#ifdef FGQ_NO_MESSAGES
fgq_status fgq_fail_status(fgq_error *err, fgq_status status, size_t unused)
{
    (void)unused;
    if (err != NULL && err->status == FGQ_OK) {
        err->status = status;
        err->msg[0] = '\0';
    }
    return status;
}
#endif

void fgq_error_clear(fgq_error *err)
{
    if (err == NULL)
        return;
    err->status = FGQ_OK;
    err->msg[0] = '\0';
}

const char *fgq_status_name(fgq_status status)
{
    switch (status) {
    case FGQ_OK: return "ok";
    case FGQ_ERR_IO: return "io error";
    case FGQ_ERR_FORMAT: return "format error";
    case FGQ_ERR_UNSUPPORTED: return "unsupported";
    case FGQ_ERR_SHAPE: return "shape error";
    case FGQ_ERR_VALUE: return "value error";
    case FGQ_ERR_NOMEM: return "out of memory";
    }
    return "unknown status";
}

size_t fgq_dtype_size(fgq_dtype dt)
{
    switch (dt) {
    case FGQ_DT_F32: case FGQ_DT_S32: return 4;
    case FGQ_DT_S64: return 8;
    case FGQ_DT_F16: return 2;
    case FGQ_DT_U8: case FGQ_DT_S8: case FGQ_DT_BOOL: return 1;
    case FGQ_DT_T2: case FGQ_DT_S4: case FGQ_DT_S3: case FGQ_DT_S2: case FGQ_DT_UNDEF: return 0;
    }
    return 0;
}

const char *fgq_dtype_name(fgq_dtype dt)
{
    switch (dt) {
    case FGQ_DT_UNDEF: return "undef";
    case FGQ_DT_F32: return "f32";
    case FGQ_DT_U8: return "u8";
    case FGQ_DT_S8: return "s8";
    case FGQ_DT_S32: return "s32";
    case FGQ_DT_S64: return "s64";
    case FGQ_DT_F16: return "f16";
    case FGQ_DT_BOOL: return "bool";
    case FGQ_DT_T2: return "t2";
    case FGQ_DT_S4: return "s4";
    case FGQ_DT_S3: return "s3";
    case FGQ_DT_S2: return "s2";
    }
    return "?";
}
