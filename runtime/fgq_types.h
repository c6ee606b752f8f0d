/*
 * fgq_types.h — types shared by every layer of fgq: status codes, the error
 * record that carries a message with context, and tensor data types.
 *
 * Depends on nothing but <stdint.h>/<stddef.h>; safe for freestanding builds.
 */
#ifndef FGQ_TYPES_H
#define FGQ_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. 0 is success; every failure carries a message in fgq_error. */
typedef enum {
    FGQ_OK = 0,
    FGQ_ERR_IO = 1,          /* file missing, unreadable, too large */
    FGQ_ERR_FORMAT = 2,      /* corrupt or hostile file contents */
    FGQ_ERR_UNSUPPORTED = 3, /* valid input that fgq does not handle (yet) */
    FGQ_ERR_SHAPE = 4,       /* shapes that do not fit together */
    FGQ_ERR_VALUE = 5,       /* NaN/Inf, out-of-range value, bad argument */
    FGQ_ERR_NOMEM = 6,       /* allocation failed / buffer too small */
} fgq_status;

/* Error record: the first failure's status and a human-readable message
 * naming the file / node / tensor and the reason. Caller-owned, no heap. */
#define FGQ_ERROR_MSG_LEN 512
typedef struct {
    fgq_status status;
    char msg[FGQ_ERROR_MSG_LEN];
} fgq_error;

/* Records a failure (printf-style) unless one is already recorded, so the
 * first, most specific cause wins; returns the status for `return fgq_fail(...)`.
 * err may be NULL. Implemented in runtime/fgq_error.c. */
fgq_status fgq_fail(fgq_error *err, fgq_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void fgq_error_clear(fgq_error *err);
const char *fgq_status_name(fgq_status status);

#ifdef FGQ_NO_MESSAGES
/* Firmware that cannot spare the text (docs/device.md): every failure keeps its
 * status and leaves msg empty, so the message strings and vsnprintf are not
 * linked. The arguments stay type-checked inside sizeof, never evaluated. */
fgq_status fgq_fail_status(fgq_error *err, fgq_status status, size_t unused);
int fgq_fail_sink_(int first, ...); /* declared only: appears inside sizeof */
#define fgq_fail(err, status, ...) fgq_fail_status((err), (status), sizeof(fgq_fail_sink_(0, __VA_ARGS__)))
#endif

/* Index arithmetic inside the runtime: element and byte offsets within one
 * tensor, weight blob or scratch slice, their counts and loop indices. The
 * address width: int64 on 64-bit hosts (the same type as int64_t there), int32
 * on 32-bit cores, where 64-bit multiplies, compares and divisions are several
 * instructions or a library call each. Safe because the ops' checks bound every
 * tensor's element count (zero dims left out, so an empty tensor's other dims too)
 * by FGQ_OPS_MAX_NUMEL, which is 2^26 where fgq_idx is 32 bits (ops_util.h): an
 * offset times a small factor (bytes of an int32) still fits. Products that are not bounded by one tensor (costs, multiply-adds,
 * scratch sizes from attributes) stay int64_t / uint64_t. Records, the file
 * format and the public API keep fixed-width types. */
typedef ptrdiff_t fgq_idx;
#define FGQ_IDX_MAX PTRDIFF_MAX

/* Tensor element types. Values are stable: they are written into .fgq files. */
typedef enum {
    FGQ_DT_UNDEF = 0,
    FGQ_DT_F32 = 1,
    FGQ_DT_U8 = 2,
    FGQ_DT_S8 = 3,
    FGQ_DT_S32 = 4,
    FGQ_DT_S64 = 5,
    FGQ_DT_F16 = 6,
    FGQ_DT_BOOL = 7,
    FGQ_DT_T2 = 8, /* ternary 2-bit codes, four per byte (see runtime/quant/t2.h) */
    FGQ_DT_S4 = 9, /* signed 4-bit, two per byte, low nibble first */
    FGQ_DT_S3 = 10, /* signed 3-bit, 8 in 3 bytes (see runtime/quant/s3.h) */
    FGQ_DT_S2 = 11, /* 2-bit four levels -3, -1, 1, 3, four per byte (see runtime/quant/s2.h) */
} fgq_dtype;

/* Size in bytes of one element; 0 for sub-byte or undefined types. */
size_t fgq_dtype_size(fgq_dtype dt);
const char *fgq_dtype_name(fgq_dtype dt);

#define FGQ_MAX_DIMS 8

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TYPES_H */
