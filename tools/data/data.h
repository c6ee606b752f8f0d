/*
 * data.h — sample data for run / eval / calibration: NumPy .npy and .npz, and
 * IDX (`*-idx3-ubyte`, `*-idx1-ubyte`, optionally gzipped; gzip is detected by
 * its magic bytes, not the name).
 *
 * fgq_data_load returns a dense float32 tensor [N, ...sample dims] (C order)
 * plus the file's original element type; fgq_labels_load returns int64 [N]
 * (a rank-1 array, or [N, 1]). Samples with no values (a 0 in dims[1..]) are
 * FGQ_ERR_SHAPE. Files are untrusted: truncated files, headers
 * that lie about sizes, absurd dims, size overflow, fortran order, big-endian
 * data, ZIP64 archives and gzip streams that inflate past opts->max_bytes fail
 * with FGQ_ERR_FORMAT / FGQ_ERR_IO / FGQ_ERR_UNSUPPORTED and a message naming
 * the file and the reason. NaN/Inf in data is FGQ_ERR_VALUE naming the file
 * and the sample index.
 *
 * Range "A:B" selects samples [A, B) like a Python slice (either end may be
 * omitted, negative counts from the end, a lone "K" means K:K+1); after
 * normalisation 0 <= A < B <= N must hold, else FGQ_ERR_VALUE.
 *
 * fgq_data_prepare adapts samples to a model input and normalises them: see
 * below. fgq_npy_write_* write .npy (v1) atomically.
 */
#ifndef FGQ_DATA_H
#define FGQ_DATA_H

#include "fgq_types.h"

#include <stddef.h>
#include <stdint.h>

/* Element type of the data as stored in the file (wider than fgq_dtype). */
typedef enum {
    FGQ_SRC_F32 = 0,
    FGQ_SRC_F64,
    FGQ_SRC_U8,
    FGQ_SRC_S8,
    FGQ_SRC_S16,
    FGQ_SRC_S32,
    FGQ_SRC_S64,
    FGQ_SRC_BOOL,
} fgq_src_dtype;

const char *fgq_src_dtype_name(fgq_src_dtype dt);

typedef struct {
    const char *member; /* .npz: member name ("x" or "x.npy"); NULL: the only / first member */
    const char *range;  /* "A:B" sample range; NULL or "": all samples */
    uint64_t max_bytes; /* limit on file size and on decompressed / converted bytes; 0: 2 GiB */
    int member_loose;   /* member applies to archives only (another file is read as it is), and a one-member
                         * archive is read whatever its member is called */
} fgq_data_opts;

typedef struct {
    float *data;             /* owned: numel floats, C order */
    int32_t rank;            /* >= 1; dims[0] = N (samples) */
    int64_t dims[FGQ_MAX_DIMS];
    fgq_src_dtype src_dtype; /* element type in the file */
    int64_t first_index;     /* index in the file of sample 0 (range start), for messages */
    int64_t file_samples;    /* samples in the file, before the range */
    /* integer data (s32, s64) that float32 rounds: how many elements, the first one's index in `data` and its
     * value in the file. Callers that feed an integer input check it (inexact_count 0: data holds every
     * value exactly). */
    int64_t inexact_count, inexact_index, inexact_value;
} fgq_dataset;

int64_t fgq_dataset_numel(const fgq_dataset *d);
int64_t fgq_dataset_sample_numel(const fgq_dataset *d);
void fgq_dataset_free(fgq_dataset *d);

/* opts may be NULL (defaults). On failure *out is left empty ({0}). */
fgq_status fgq_data_load(const char *path, const fgq_data_opts *opts, fgq_dataset *out, fgq_error *err);
/* Labels as int64 (bool/integer types; floats only if integral). *labels is malloc'd. */
fgq_status fgq_labels_load(const char *path, const fgq_data_opts *opts, int64_t **labels, int64_t *n,
                           fgq_error *err);

/* The same from a file's bytes already in memory (buf[0, size) is only read;
 * `name` stands for the file in messages; size is held to opts->max_bytes). */
fgq_status fgq_data_load_memory(const char *name, const uint8_t *buf, size_t size, const fgq_data_opts *opts,
                                fgq_dataset *out, fgq_error *err);
fgq_status fgq_labels_load_memory(const char *name, const uint8_t *buf, size_t size, const fgq_data_opts *opts,
                                  int64_t **labels, int64_t *n, fgq_error *err);

/* Parses `range` against n samples into [*start, *stop). */
fgq_status fgq_data_parse_range(const char *range, int64_t n, int64_t *start, int64_t *stop, fgq_error *err);

/* Preprocessing: x = (x * scale - mean[c]) / std[c]. n_mean / n_std are 0
 * (mean 0 / std 1), 1 (all channels) or the channel count C of the model
 * input. channel_axis: model-input axis holding channels, -1 = automatic
 * (axis 1 when rank >= 3 and dims[1] == C, else the last axis if it has C). */
#define FGQ_PRE_MAX_CH 64
typedef struct {
    float scale; /* 0 is taken as 1 */
    int32_t n_mean, n_std;
    float mean[FGQ_PRE_MAX_CH];
    float std[FGQ_PRE_MAX_CH];
    int32_t channel_axis;
} fgq_preprocess;

void fgq_preprocess_default(fgq_preprocess *p);

/* The one element reader of typed buffers: element i of src (dtype f32, u8,
 * s8, s32, s64 or bool) as a double, exact but for s64 beyond 2^53; 0 with
 * *ok = 0 for another dtype. */
double fgq_data_elem_value(const void *src, fgq_dtype sdt, int64_t i, int *ok);

/* Adapts d's samples to the model input shape (model_dims[0] is the batch
 * dim; the per-sample shape is model_dims[1..rank)), in place:
 *   - same shape: unchanged;
 *   - sample [H,W,C] and model [.,C,H,W]: transposed HWC -> CHW;
 *   - sample [C,H,W] and model [.,H,W,C]: transposed CHW -> HWC;
 *   - same element count: reshaped (e.g. [28,28] -> [1,28,28] or [784]);
 *   - otherwise FGQ_ERR_SHAPE naming both shapes.
 * Afterwards d->dims = [N, model_dims[1..]], then `pre` (may be NULL) is
 * applied. Values that become NaN/Inf are FGQ_ERR_VALUE naming `name` and the
 * sample index. A model rank of 1 means one feature vector per sample. */
fgq_status fgq_data_prepare(fgq_dataset *d, const char *name, int32_t model_rank, const int64_t *model_dims,
                            const fgq_preprocess *pre, fgq_error *err);

/* Whether pre fits a model input of that shape (the checks fgq_data_prepare
 * makes before it normalises): mean and std counts agree, std usable, a
 * per-channel list matches a channel axis. `name` leads the message. */
fgq_status fgq_preprocess_check(const fgq_preprocess *pre, const char *name, int32_t model_rank,
                                const int64_t *model_dims, fgq_error *err);

/* Converts n values of src (dtype sdt: f32, u8, s8, s32, s64 or bool) to a
 * new malloc'd buffer *out of dtype want (f32, u8, s8, s32, s64 or bool):
 * integer dtypes take integral values within their range (bool: 0 or 1), else
 * FGQ_ERR_VALUE naming `name` and the element; other dtypes are
 * FGQ_ERR_UNSUPPORTED. max_exact > 0 also refuses |v| >= max_exact for integer
 * targets (float32 holds every integer below 2^24 exactly; one at 2^24 may be a
 * rounded 2^24 + 1). */
fgq_status fgq_data_convert(const char *name, const void *src, fgq_dtype sdt, int64_t n, fgq_dtype want,
                            double max_exact, void **out, fgq_error *err);

fgq_status fgq_npy_write_f32(const char *path, const float *data, int32_t rank, const int64_t *dims,
                             fgq_error *err);
fgq_status fgq_npy_write_i64(const char *path, const int64_t *data, int32_t rank, const int64_t *dims,
                             fgq_error *err);
/* dt: FGQ_DT_F32, U8, S8, S32, S64 or BOOL (else FGQ_ERR_UNSUPPORTED); data holds numel elements of dt. */
fgq_status fgq_npy_write_dtype(const char *path, fgq_dtype dt, const void *data, int32_t rank, const int64_t *dims,
                               fgq_error *err);

#endif /* FGQ_DATA_H */
