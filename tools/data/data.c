/* data.c — dataset loading (format dispatch, range, conversion), layout adaptation, preprocessing, .npy writer. */
#include "data.h"

#include "data_raw.h"
#include "fileutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BYTES ((uint64_t)2 << 30)

const char *fgq_src_dtype_name(fgq_src_dtype dt)
{
    switch (dt) {
    case FGQ_SRC_F32: return "f32";
    case FGQ_SRC_F64: return "f64";
    case FGQ_SRC_U8: return "u8";
    case FGQ_SRC_S8: return "s8";
    case FGQ_SRC_S16: return "s16";
    case FGQ_SRC_S32: return "s32";
    case FGQ_SRC_S64: return "s64";
    case FGQ_SRC_BOOL: return "bool";
    }
    return "?";
}

int64_t fgq_dataset_numel(const fgq_dataset *d)
{
    int64_t n = 1;
    for (int32_t i = 0; i < d->rank; i++)
        n *= d->dims[i];
    return d->rank > 0 ? n : 0;
}

int64_t fgq_dataset_sample_numel(const fgq_dataset *d)
{
    int64_t n = 1;
    for (int32_t i = 1; i < d->rank; i++)
        n *= d->dims[i];
    return n;
}

void fgq_dataset_free(fgq_dataset *d)
{
    if (d == NULL)
        return;
    free(d->data);
    memset(d, 0, sizeof *d);
}

/* ---- range ------------------------------------------------------------------ */
static int parse_int(const char *s, const char *e, int64_t *v)
{
    if (s == e)
        return 0;
    int neg = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (s == e)
        return 0;
    int64_t x = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9' || x > (INT64_MAX - 9) / 10)
            return 0;
        x = x * 10 + (*s - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

fgq_status fgq_data_parse_range(const char *range, int64_t n, int64_t *start, int64_t *stop, fgq_error *err)
{
    *start = 0;
    *stop = n;
    if (range == NULL || range[0] == 0)
        return n > 0 ? FGQ_OK : fgq_fail(err, FGQ_ERR_VALUE, "no samples (N = 0)");
    const char *colon = strchr(range, ':');
    const char *end = range + strlen(range);
    int64_t a = 0, b = n;
    if (colon == NULL) {
        if (!parse_int(range, end, &a))
            return fgq_fail(err, FGQ_ERR_VALUE, "bad sample range '%s' (expected A:B)", range);
        if (a < 0)
            a += n;
        b = a + 1;
    } else {
        if (strchr(colon + 1, ':') != NULL || (colon > range && !parse_int(range, colon, &a)) ||
            (colon + 1 < end && !parse_int(colon + 1, end, &b)))
            return fgq_fail(err, FGQ_ERR_VALUE, "bad sample range '%s' (expected A:B)", range);
        if (a < 0)
            a += n;
        if (b < 0)
            b += n;
    }
    if (a < 0 || b > n || a >= b)
        return fgq_fail(err, FGQ_ERR_VALUE, "sample range '%s' is empty or outside the %lld samples", range,
                        (long long)n);
    *start = a;
    *stop = b;
    return FGQ_OK;
}

/* ---- element access ------------------------------------------------------------ */
static void load_bytes(const uint8_t *p, size_t n, int big_endian, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = big_endian ? p[n - 1 - i] : p[i];
}

/* Element i as double (exact for every type but s64 beyond 2^53, which data never needs). */
static double elem_f64(const fgq_raw_array *r, int64_t i)
{
    size_t es = fgq_src_dtype_size(r->dt);
    uint8_t b[8];
    load_bytes(r->bytes + (size_t)i * es, es, r->big_endian, b); /* host is little-endian */
    switch (r->dt) {
    case FGQ_SRC_F32: { float v; memcpy(&v, b, 4); return v; }
    case FGQ_SRC_F64: { double v; memcpy(&v, b, 8); return v; }
    case FGQ_SRC_U8: return b[0];
    case FGQ_SRC_S8: return (int8_t)b[0];
    case FGQ_SRC_S16: { int16_t v; memcpy(&v, b, 2); return v; }
    case FGQ_SRC_S32: { int32_t v; memcpy(&v, b, 4); return v; }
    case FGQ_SRC_S64: { int64_t v; memcpy(&v, b, 8); return (double)v; }
    case FGQ_SRC_BOOL: return b[0] != 0;
    }
    return 0;
}

static int64_t elem_i64(const fgq_raw_array *r, int64_t i)
{
    if (r->dt == FGQ_SRC_S64) {
        uint8_t b[8];
        int64_t v;
        load_bytes(r->bytes + (size_t)i * 8, 8, r->big_endian, b);
        memcpy(&v, b, 8);
        return v;
    }
    return (int64_t)elem_f64(r, i);
}

static int is_little_endian_host(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Unwraps gzip / npz in buf[0, size) (`name` for messages) and parses the array. raw points into buf,
 * or into *owned when unwrapping made a new buffer (else *owned is NULL); free *owned after raw. */
static fgq_status parse_raw(const char *name, const uint8_t *buf, size_t size, const fgq_data_opts *opts,
                            uint8_t **owned, fgq_raw_array *raw, fgq_error *err)
{
    uint64_t limit = opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES;
    *owned = NULL;
    if (!is_little_endian_host())
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: data loading needs a little-endian host", name);
    if (size > limit)
        return fgq_fail(err, FGQ_ERR_IO, "%s: %zu bytes, over the size limit of %llu bytes", name, size,
                        (unsigned long long)limit);
    fgq_status st;
    uint8_t *own = NULL;
    if (size >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        size_t isize;
        st = fgq_gunzip(name, buf, size, limit, &own, &isize, err);
        if (st != FGQ_OK)
            return st;
        buf = own;
        size = isize;
    }
    if (size >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0) {
        uint8_t *member;
        size_t msize;
        st = fgq_unzip_member(name, buf, size, opts ? opts->member : NULL, opts ? opts->member_loose : 0, limit,
                              &member, &msize, err);
        free(own);
        if (st != FGQ_OK)
            return st;
        buf = own = member;
        size = msize;
        if (size < 6 || memcmp(buf, "\x93NUMPY", 6) != 0) {
            free(own);
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: .npz member is not a .npy array", name);
        }
    } else if (opts && opts->member && opts->member[0] && !opts->member_loose) {
        free(own);
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: a member name ('%s') was given but the file is not an .npz", name,
                        opts->member);
    }
    if (size >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        st = fgq_parse_npy(name, buf, size, raw, err);
    else if (size >= 4 && buf[0] == 0 && buf[1] == 0)
        st = fgq_parse_idx(name, buf, size, raw, err);
    else
        st = fgq_fail(err, FGQ_ERR_FORMAT, "%s: unrecognised data format (expected .npy, .npz or IDX, maybe gzipped)",
                      name);
    if (st != FGQ_OK) {
        free(own);
        return st;
    }
    *owned = own;
    return FGQ_OK;
}

/* fgq_data_parse_range over a file's n samples, its message led by the file (and .npz member). */
static fgq_status range_of(const char *name, const fgq_data_opts *opts, int64_t n, int64_t *start, int64_t *stop,
                           fgq_error *err)
{
    fgq_error e;
    fgq_error_clear(&e);
    fgq_status st = fgq_data_parse_range(opts ? opts->range : NULL, n, start, stop, &e);
    if (st == FGQ_OK)
        return FGQ_OK;
    if (opts && opts->member && opts->member[0])
        return fgq_fail(err, st, "%s (array '%s'): %s", name, opts->member, e.msg);
    return fgq_fail(err, st, "%s: %s", name, e.msg);
}

/* Samples [range) of raw as float32 into out. */
static fgq_status convert_samples(const char *name, const fgq_raw_array *r, const fgq_data_opts *opts,
                                  fgq_dataset *out, fgq_error *err)
{
    uint64_t limit = opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES;
    if (r->rank < 1)
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: a 0-d array has no sample axis", name);
    int64_t start, stop;
    int64_t per = r->dims[0] ? r->numel / r->dims[0] : 0;
    if (r->dims[0] > 0 && per == 0) /* a dim of 0 past the first: millions of empty samples cost time and say nothing */
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: its %lld samples hold no values (a dim after the first is 0)", name,
                        (long long)r->dims[0]);
    fgq_status st = range_of(name, opts, r->dims[0], &start, &stop, err);
    if (st != FGQ_OK)
        return st;
    int64_t count = (stop - start) * per;
    if ((uint64_t)count * sizeof(float) > limit)
        return fgq_fail(err, FGQ_ERR_IO, "%s: %lld samples need %llu bytes as float32, over the limit of %llu", name,
                        (long long)(stop - start), (unsigned long long)count * 4, (unsigned long long)limit);
    float *data = malloc(count > 0 ? (size_t)count * sizeof(float) : 1);
    if (data == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %lld floats", name, (long long)count);
    int64_t n_inexact = 0, inexact_index = 0, inexact_value = 0;
    for (int64_t i = 0; i < count; i++) {
        double v = elem_f64(r, start * per + i);
        float f = (float)v;
        if (!isfinite(f)) {
            free(data);
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: sample %lld holds a non-finite value (%g)", name,
                            (long long)(start + i / per), v);
        }
        data[i] = f;
        if ((r->dt == FGQ_SRC_S32 || r->dt == FGQ_SRC_S64) && (v > 16777216.0 || v < -16777216.0)) {
            /* float32 holds every integer up to 2^24; beyond, check the value against the file's own */
            const int64_t iv = elem_i64(r, start * per + i);
            if (!(f >= -9223372036854775808.0f && f < 9223372036854775808.0f) || (int64_t)f != iv) {
                if (n_inexact++ == 0) {
                    inexact_index = i;
                    inexact_value = iv;
                }
            }
        }
    }
    out->data = data;
    out->inexact_count = n_inexact;
    out->inexact_index = inexact_index;
    out->inexact_value = inexact_value;
    out->rank = r->rank;
    memcpy(out->dims, r->dims, sizeof r->dims);
    out->dims[0] = stop - start;
    out->src_dtype = r->dt;
    out->first_index = start;
    out->file_samples = r->dims[0];
    return FGQ_OK;
}

/* Labels [range) of raw as int64. */
static fgq_status convert_labels(const char *name, const fgq_raw_array *r, const fgq_data_opts *opts,
                                 int64_t **labels, int64_t *n, fgq_error *err)
{
    if (!(r->rank == 1 || (r->rank == 2 && r->dims[1] == 1)))
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: labels must be [N] or [N,1], got a rank-%d array", name,
                        (int)r->rank);
    int64_t start, stop;
    fgq_status st = range_of(name, opts, r->dims[0], &start, &stop, err);
    if (st != FGQ_OK)
        return st;
    int64_t *lab = malloc((size_t)(stop - start) * sizeof(int64_t));
    if (lab == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %lld labels", name, (long long)(stop - start));
    for (int64_t i = start; i < stop; i++) {
        if (r->dt == FGQ_SRC_F32 || r->dt == FGQ_SRC_F64) {
            double v = elem_f64(r, i);
            if (!isfinite(v) || v != floor(v) || fabs(v) > 9.0e15) {
                free(lab);
                return fgq_fail(err, FGQ_ERR_VALUE, "%s: label %lld is not an integer (%g)", name, (long long)i, v);
            }
            lab[i - start] = (int64_t)v;
        } else {
            lab[i - start] = elem_i64(r, i);
        }
    }
    *labels = lab;
    *n = stop - start;
    return FGQ_OK;
}

fgq_status fgq_data_load_memory(const char *name, const uint8_t *buf, size_t size, const fgq_data_opts *opts,
                                fgq_dataset *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *owned = NULL;
    fgq_raw_array raw;
    fgq_status st = parse_raw(name, buf, size, opts, &owned, &raw, err);
    if (st == FGQ_OK)
        st = convert_samples(name, &raw, opts, out, err);
    free(owned);
    return st;
}

fgq_status fgq_labels_load_memory(const char *name, const uint8_t *buf, size_t size, const fgq_data_opts *opts,
                                  int64_t **labels, int64_t *n, fgq_error *err)
{
    *labels = NULL;
    *n = 0;
    uint8_t *owned = NULL;
    fgq_raw_array raw;
    fgq_status st = parse_raw(name, buf, size, opts, &owned, &raw, err);
    if (st == FGQ_OK)
        st = convert_labels(name, &raw, opts, labels, n, err);
    free(owned);
    return st;
}

fgq_status fgq_data_load(const char *path, const fgq_data_opts *opts, fgq_dataset *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t size;
    fgq_status st = fgq_read_file(path, opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES, &buf, &size,
                                  err);
    if (st != FGQ_OK)
        return st;
    st = fgq_data_load_memory(path, buf, size, opts, out, err);
    free(buf);
    return st;
}

fgq_status fgq_labels_load(const char *path, const fgq_data_opts *opts, int64_t **labels, int64_t *n,
                           fgq_error *err)
{
    *labels = NULL;
    *n = 0;
    uint8_t *buf;
    size_t size;
    fgq_status st = fgq_read_file(path, opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES, &buf, &size,
                                  err);
    if (st != FGQ_OK)
        return st;
    st = fgq_labels_load_memory(path, buf, size, opts, labels, n, err);
    free(buf);
    return st;
}

/* ---- layout adaptation + preprocessing ------------------------------------------- */
void fgq_preprocess_default(fgq_preprocess *p)
{
    memset(p, 0, sizeof *p);
    p->scale = 1.0f;
    p->channel_axis = -1;
}

static void fmt_dims(char *buf, size_t cap, int32_t rank, const int64_t *dims)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int32_t i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* out[c][h][w] = in[h][w][c] (perm_hwc_to_chw) or out[h][w][c] = in[c][h][w]. */
static void transpose3(const float *in, float *out, int64_t a, int64_t b, int64_t c, int hwc_to_chw)
{
    if (hwc_to_chw) { /* in [a=H][b=W][c=C] */
        for (int64_t h = 0; h < a; h++)
            for (int64_t w = 0; w < b; w++)
                for (int64_t ch = 0; ch < c; ch++)
                    out[(ch * a + h) * b + w] = in[(h * b + w) * c + ch];
    } else { /* in [a=C][b=H][c=W] */
        for (int64_t ch = 0; ch < a; ch++)
            for (int64_t h = 0; h < b; h++)
                for (int64_t w = 0; w < c; w++)
                    out[(h * c + w) * a + ch] = in[(ch * b + h) * c + w];
    }
}

/* Checks pre against a model input and finds its channel layout: *nch the
 * channel count (0/1: one value for all), *inner the elements per step along
 * the channel axis within a sample. */
static fgq_status preprocess_layout(const fgq_preprocess *pre, const char *name, int32_t model_rank,
                                    const int64_t *model_dims, int32_t *n_ch, int64_t *inner_out, fgq_error *err)
{
    int64_t inner = 1;
    int32_t nch = pre->n_mean > pre->n_std ? pre->n_mean : pre->n_std;
    if (pre->n_mean < 0 || pre->n_std < 0 || nch > FGQ_PRE_MAX_CH || (pre->n_mean > 1 && pre->n_std > 1 &&
                                                                       pre->n_mean != pre->n_std))
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: mean has %d values and std %d: they must agree", name,
                        (int)pre->n_mean, (int)pre->n_std);
    for (int32_t c = 0; c < pre->n_std; c++)
        if (!(pre->std[c] != 0.0f) || !isfinite(pre->std[c]))
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: std[%d] = %g is not a usable divisor", name, (int)c,
                            (double)pre->std[c]);
    if (nch > 1) {
        int32_t ax = pre->channel_axis;
        if (ax < 0)
            ax = model_rank < 1 ? -1
                 : (model_rank >= 3 && model_dims[1] == nch) ? 1
                 : (model_dims[model_rank - 1] == nch ? model_rank - 1 : -1);
        if (ax < 1 || ax >= model_rank || model_dims[ax] != nch) {
            char b[128];
            fmt_dims(b, sizeof b, model_rank, model_dims);
            return fgq_fail(err, FGQ_ERR_SHAPE, "%s: %d per-channel mean/std values but model input %s has no such channel axis",
                            name, (int)nch, b);
        }
        for (int32_t i = ax + 1; i < model_rank; i++)
            inner *= model_dims[i];
    }
    *n_ch = nch;
    *inner_out = inner;
    return FGQ_OK;
}

fgq_status fgq_preprocess_check(const fgq_preprocess *pre, const char *name, int32_t model_rank,
                                const int64_t *model_dims, fgq_error *err)
{
    int32_t nch;
    int64_t inner;
    return preprocess_layout(pre, name, model_rank, model_dims, &nch, &inner, err);
}

fgq_status fgq_data_prepare(fgq_dataset *d, const char *name, int32_t model_rank, const int64_t *model_dims,
                            const fgq_preprocess *pre, fgq_error *err)
{
    if (name == NULL)
        name = "data";
    if (model_rank < 1 || model_rank > FGQ_MAX_DIMS)
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: model input rank %d is not usable", name, (int)model_rank);
    const int64_t *m = model_dims + 1; /* per-sample model shape */
    int32_t mr = model_rank - 1;
    const int64_t *s = d->dims + 1;
    int32_t sr = d->rank - 1;
    int64_t mnumel = 1, snumel = fgq_dataset_sample_numel(d);
    for (int32_t i = 0; i < mr; i++) { /* model dims are the model's word: unknown or huge ones are refused */
        if (m[i] < 0 || (m[i] > 0 && mnumel > INT64_MAX / m[i])) {
            char b[128];
            fmt_dims(b, sizeof b, model_rank, model_dims);
            return fgq_fail(err, FGQ_ERR_SHAPE, "%s: the model input %s has %s", name, b,
                            m[i] < 0 ? "an unknown dim" : "more elements than int64 counts");
        }
        mnumel *= m[i];
    }
    int same = sr == mr;
    for (int32_t i = 0; same && i < sr; i++)
        same = s[i] == m[i];
    int to_chw = !same && sr == 3 && mr == 3 && s[2] == m[0] && s[0] == m[1] && s[1] == m[2];
    int to_hwc = !same && !to_chw && sr == 3 && mr == 3 && s[0] == m[2] && s[1] == m[0] && s[2] == m[1];
    if (!same && mnumel != snumel) {
        char a[128], b[128];
        fmt_dims(a, sizeof a, sr, s);
        fmt_dims(b, sizeof b, model_rank, model_dims);
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: sample shape %s does not fit the model input %s (%lld vs %lld elements)",
                        name, a, b, (long long)snumel, (long long)mnumel);
    }
    int64_t n = d->dims[0];
    if (to_chw || to_hwc) {
        float *tmp = malloc(snumel > 0 ? (size_t)snumel * sizeof(float) : 1);
        if (tmp == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate a transpose buffer", name);
        for (int64_t i = 0; i < n; i++) {
            float *x = d->data + i * snumel;
            transpose3(x, tmp, s[0], s[1], s[2], to_chw);
            memcpy(x, tmp, (size_t)snumel * sizeof(float));
        }
        free(tmp);
    }
    d->rank = model_rank;
    for (int32_t i = 0; i < mr; i++)
        d->dims[i + 1] = m[i];
    for (int32_t i = model_rank; i < FGQ_MAX_DIMS; i++)
        d->dims[i] = 0;
    if (pre == NULL)
        return FGQ_OK;

    int64_t inner = 1;
    int32_t nch = 0;
    fgq_status st = preprocess_layout(pre, name, model_rank, model_dims, &nch, &inner, err);
    if (st != FGQ_OK)
        return st;
    float scale = pre->scale == 0.0f ? 1.0f : pre->scale;
    for (int64_t i = 0; i < n && mnumel > 0; i++) {
        float *x = d->data + i * mnumel;
        for (int64_t j = 0; j < mnumel; j++) {
            int64_t c = nch > 1 ? (j / inner) % nch : 0;
            float mean = pre->n_mean == 0 ? 0.0f : pre->mean[pre->n_mean == 1 ? 0 : c];
            float sd = pre->n_std == 0 ? 1.0f : pre->std[pre->n_std == 1 ? 0 : c];
            float v = (x[j] * scale - mean) / sd;
            if (!isfinite(v))
                return fgq_fail(err, FGQ_ERR_VALUE, "%s: sample %lld becomes non-finite after preprocessing", name,
                                (long long)(d->first_index + i));
            x[j] = v;
        }
    }
    return FGQ_OK;
}

/* ---- .npy writer (v1 header padded so data starts 64-byte aligned) ---------------- */
static fgq_status npy_write(const char *path, const char *descr, const void *data, size_t esize, int32_t rank,
                            const int64_t *dims, fgq_error *err)
{
    if (rank < 0 || rank > FGQ_MAX_DIMS)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: cannot write a rank-%d array", path, (int)rank);
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    int64_t numel = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: negative dim %lld", path, (long long)dims[i]);
        numel *= dims[i];
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s", (long long)dims[i], (rank == 1 || i + 1 < rank) ? ", " : "");
    }
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    size_t total_hdr = 10 + (size_t)n + 1;
    size_t pad = (64 - total_hdr % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    size_t bytes = (size_t)numel * esize;
    uint8_t *buf = malloc(10 + hlen + bytes);
    if (buf == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, 10 + hlen + bytes);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)(hlen & 0xff);
    buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + 10, hdr, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    if (bytes)
        memcpy(buf + 10 + hlen, data, bytes);
    fgq_status st = fgq_write_file_atomic(path, buf, 10 + hlen + bytes, err);
    free(buf);
    return st;
}

fgq_status fgq_npy_write_f32(const char *path, const float *data, int32_t rank, const int64_t *dims, fgq_error *err)
{
    return npy_write(path, "<f4", data, 4, rank, dims, err);
}

fgq_status fgq_npy_write_i64(const char *path, const int64_t *data, int32_t rank, const int64_t *dims,
                             fgq_error *err)
{
    return npy_write(path, "<i8", data, 8, rank, dims, err);
}

fgq_status fgq_npy_write_dtype(const char *path, fgq_dtype dt, const void *data, int32_t rank, const int64_t *dims,
                               fgq_error *err)
{
    switch (dt) {
    case FGQ_DT_F32:
        return npy_write(path, "<f4", data, 4, rank, dims, err);
    case FGQ_DT_U8:
        return npy_write(path, "|u1", data, 1, rank, dims, err);
    case FGQ_DT_S8:
        return npy_write(path, "|i1", data, 1, rank, dims, err);
    case FGQ_DT_S32:
        return npy_write(path, "<i4", data, 4, rank, dims, err);
    case FGQ_DT_S64:
        return npy_write(path, "<i8", data, 8, rank, dims, err);
    case FGQ_DT_BOOL:
        return npy_write(path, "|b1", data, 1, rank, dims, err);
    default:
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: cannot write %s as .npy (f32, u8, s8, s32, s64, bool only)", path,
                        fgq_dtype_name(dt));
    }
}

/* ---- dtype conversion --------------------------------------------------------- */

double fgq_data_elem_value(const void *src, fgq_dtype sdt, int64_t i, int *ok)
{
    switch (sdt) {
    case FGQ_DT_F32: return ((const float *)src)[i];
    case FGQ_DT_U8: return ((const uint8_t *)src)[i];
    case FGQ_DT_S8: return ((const int8_t *)src)[i];
    case FGQ_DT_S32: return ((const int32_t *)src)[i];
    case FGQ_DT_S64: return (double)((const int64_t *)src)[i];
    case FGQ_DT_BOOL: return ((const uint8_t *)src)[i] != 0;
    default: *ok = 0; return 0;
    }
}

fgq_status fgq_data_convert(const char *name, const void *src, fgq_dtype sdt, int64_t n, fgq_dtype want,
                            double max_exact, void **out, fgq_error *err)
{
    *out = NULL;
    double lo = 0, hi = 0;
    switch (want) {
    case FGQ_DT_F32: break;
    case FGQ_DT_BOOL: hi = 1; break;
    case FGQ_DT_U8: hi = 255; break;
    case FGQ_DT_S8: lo = -128, hi = 127; break;
    case FGQ_DT_S32: lo = -2147483648.0, hi = 2147483647.0; break;
    case FGQ_DT_S64: lo = -9223372036854775808.0, hi = 9223372036854774784.0; break; /* doubles inside int64 */
    default:
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: values can be fed as f32, u8, s8, s32, s64 or bool, not %s",
                        name, fgq_dtype_name(want));
    }
    const size_t es = fgq_dtype_size(want);
    uint8_t *buf = malloc(n > 0 ? (size_t)n * es : 1);
    if (buf == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory", name);
    for (int64_t i = 0; i < n; i++) {
        int ok = 1;
        const double v = fgq_data_elem_value(src, sdt, i, &ok);
        if (!ok) {
            free(buf);
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: data of type %s cannot feed a %s input", name,
                            fgq_dtype_name(sdt), fgq_dtype_name(want));
        }
        if (want == FGQ_DT_F32) {
            ((float *)buf)[i] = (float)v;
            continue;
        }
        if (!(v >= lo && v <= hi) || v != floor(v)) {
            free(buf);
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: element %lld is %.17g, not an integer in the %s range [%.0f, %.0f]",
                            name, (long long)i, v, fgq_dtype_name(want), lo, hi);
        }
        if (max_exact > 0 && fabs(v) >= max_exact) {
            free(buf);
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: element %lld is %.17g, which may be a rounded value: integers "
                            "are exact here only below %.0f", name, (long long)i, v, max_exact);
        }
        switch (want) {
        case FGQ_DT_BOOL:
        case FGQ_DT_U8: buf[i] = (uint8_t)v; break;
        case FGQ_DT_S8: ((int8_t *)buf)[i] = (int8_t)v; break;
        case FGQ_DT_S32: ((int32_t *)buf)[i] = (int32_t)v; break;
        default: ((int64_t *)buf)[i] = (int64_t)v; break;
        }
    }
    *out = buf;
    return FGQ_OK;
}
