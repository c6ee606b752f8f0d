/*
 * onnx_import.c — ONNX ModelProto -> fgq graph IR.
 *
 * The protobuf itself is decoded by protobuf-c (code generated from ONNX's own
 * onnx.proto at build time); this file checks what the schema cannot: that data
 * sizes match dims, that every input has exactly one producer, that external
 * data stays inside the model's folder, and that the nodes form a DAG.
 */
/* realpath() is an X/Open extension: glibc hides it under plain _POSIX_C_SOURCE. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include "import/onnx_import.h"

#include "fgq_format.h"

#include "onnx.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small helpers ------------------------------------------------------- */

static char *dup_str(const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Reads a whole regular file of at most max_bytes into a new buffer. */
static fgq_status read_whole_file(const char *path, int64_t max_bytes, uint8_t **buf, size_t *len,
                                  fgq_error *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fgq_fail(err, FGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fgq_fail(err, FGQ_ERR_IO, "%s: not a regular file", path);
    }
    if ((int64_t)st.st_size > max_bytes) {
        fclose(f);
        return fgq_fail(err, FGQ_ERR_IO, "%s: file is %lld bytes, over the size limit of %lld bytes",
                        path, (long long)st.st_size, (long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = malloc(n > 0 ? n : 1);
    if (b == NULL) {
        fclose(f);
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    if (n > 0 && fread(b, 1, n, f) != n) {
        free(b);
        fclose(f);
        return fgq_fail(err, FGQ_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *buf = b;
    *len = n;
    return FGQ_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return dup_str(".");
    if (slash == path)
        return dup_str("/");
    return dup_bytes((const uint8_t *)path, (size_t)(slash - path));
}

/* IEEE binary16 -> binary32, exact for every value incl. subnormals, Inf, NaN. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* subnormal: normalise the mantissa */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while ((man & 0x400) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint64_t load_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}


/* ---- tensors ------------------------------------------------------------- */

typedef struct {
    const char *path; /* model or .pb file, for messages */
    const char *dir;  /* folder external data is resolved in; NULL: none (bytes from memory) */
    fgq_error *err;
} import_ctx;

static int parse_nonneg_i64(const char *s, int64_t *v)
{
    if (s == NULL || *s == '\0')
        return 0;
    int64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        int d = *p - '0';
        if (x > (INT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *v = x;
    return 1;
}

/* Reads `need` bytes of external data for tensor `what` into a new buffer. */
static fgq_status read_external(const import_ctx *c, const Onnx__TensorProto *tp, const char *what,
                                int64_t need, uint8_t **out)
{
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (e == NULL || e->key == NULL)
            continue;
        if (strcmp(e->key, "location") == 0) {
            location = e->value;
        } else if (strcmp(e->key, "offset") == 0) {
            if (!parse_nonneg_i64(e->value, &offset))
                return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: external data offset '%s' is not a non-negative integer",
                                c->path, what, e->value ? e->value : "");
        } else if (strcmp(e->key, "length") == 0) {
            if (!parse_nonneg_i64(e->value, &length))
                return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: external data length '%s' is not a non-negative integer",
                                c->path, what, e->value ? e->value : "");
        }
    }
    if (c->dir == NULL)
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED,
                        "%s: %s: external data needs the model's folder; this model was given as bytes in memory",
                        c->path, what);
    if (location == NULL || location[0] == '\0')
        return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: external data has no location", c->path, what);
    if (location[0] == '/')
        return fgq_fail(c->err, FGQ_ERR_FORMAT,
                        "%s: %s: external data location '%s' is absolute; it must be relative to the model's folder",
                        c->path, what, location);
    size_t plen = strlen(c->dir) + 1 + strlen(location) + 1;
    char *full = malloc(plen);
    if (full == NULL)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: %s: out of memory", c->path, what);
    snprintf(full, plen, "%s/%s", c->dir, location);
    char *real_dir = realpath(c->dir, NULL);
    char *real_file = realpath(full, NULL);
    free(full);
    fgq_status st = FGQ_OK;
    if (real_dir == NULL || real_file == NULL) {
        st = fgq_fail(c->err, FGQ_ERR_IO, "%s: %s: external data file '%s' not found", c->path, what, location);
    } else {
        size_t dl = strlen(real_dir);
        int inside = strncmp(real_file, real_dir, dl) == 0 &&
                     (real_file[dl] == '/' || (dl == 1 && real_dir[0] == '/'));
        if (!inside)
            st = fgq_fail(c->err, FGQ_ERR_FORMAT,
                          "%s: %s: external data location '%s' escapes the model's folder", c->path, what, location);
    }
    FILE *f = NULL;
    if (st == FGQ_OK) {
        f = fopen(real_file, "rb");
        struct stat sb;
        if (f == NULL || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
            st = fgq_fail(c->err, FGQ_ERR_IO, "%s: %s: cannot read external data file '%s'", c->path, what, location);
        } else {
            int64_t size = (int64_t)sb.st_size;
            if (length < 0)
                length = offset <= size ? size - offset : 0;
            if (offset > size || length > size - offset)
                st = fgq_fail(c->err, FGQ_ERR_FORMAT,
                              "%s: %s: external data offset %lld + length %lld is beyond the end of '%s' (%lld bytes)",
                              c->path, what, (long long)offset, (long long)length, location, (long long)size);
            else if (length != need)
                st = fgq_fail(c->err, FGQ_ERR_FORMAT,
                              "%s: %s: external data length %lld does not match the %lld bytes its dims need",
                              c->path, what, (long long)length, (long long)need);
        }
    }
    if (st == FGQ_OK) {
        uint8_t *b = malloc(need > 0 ? (size_t)need : 1);
        if (b == NULL) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: %s: cannot allocate %lld bytes", c->path, what, (long long)need);
        } else if (fseeko(f, (off_t)offset, SEEK_SET) != 0 ||
                   (need > 0 && fread(b, 1, (size_t)need, f) != (size_t)need)) {
            free(b);
            st = fgq_fail(c->err, FGQ_ERR_IO, "%s: %s: reading external data from '%s' failed", c->path, what, location);
        } else {
            *out = b;
        }
    }
    if (f != NULL)
        fclose(f);
    free(real_dir);
    free(real_file);
    return st;
}

/* Decodes tp's type, dims and data into t (name untouched). `what` names the
 * tensor in messages ("initializer 'w'"). */
static fgq_status decode_tensor(const import_ctx *c, const Onnx__TensorProto *tp, const char *what,
                                fgq_ir_tensor *t)
{
    int32_t ot = tp->has_data_type ? tp->data_type : 0;
    size_t esize = fgq_onnx_type_size(ot);
    if (esize == 0) {
        const char *tn = fgq_onnx_type_name(ot);
        if (tn == NULL || ot == 0)
            return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: unknown data type %d", c->path, what, (int)ot);
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: %s: element type %s is not supported", c->path,
                        what, tn);
    }
    if (tp->n_dims > FGQ_MAX_DIMS)
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: %s: rank %zu is above the maximum of %d", c->path,
                        what, tp->n_dims, FGQ_MAX_DIMS);
    if (tp->segment != NULL)
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: %s: segmented tensors are not supported", c->path, what);
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d < 0)
            return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: negative dim %lld at axis %zu", c->path, what,
                            (long long)d, i);
        t->dims[i] = d;
    }
    if (!fgq_ir_dims_fit((int32_t)tp->n_dims, t->dims))
        return fgq_fail(c->err, FGQ_ERR_SHAPE, "%s: %s: dims hold more than 2^40 elements, fgq's limit for one tensor",
                        c->path, what);
    for (size_t i = 0; i < tp->n_dims; i++)
        numel *= t->dims[i];
    t->rank = (int32_t)tp->n_dims;
    int64_t need = numel * (int64_t)esize;
    fgq_dtype dt = (ot == 10 || ot == 11) ? FGQ_DT_F32 : fgq_onnx_dtype(ot);
    t->dtype = dt;

    /* Source: raw little-endian bytes (inline or external) or a typed field. */
    const uint8_t *raw = NULL;
    uint8_t *ext = NULL;
    int external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external) {
        fgq_status st = read_external(c, tp, what, need, &ext);
        if (st != FGQ_OK)
            return st;
        raw = ext;
    } else if (tp->has_raw_data) {
        if ((int64_t)tp->raw_data.len != need)
            return fgq_fail(c->err, FGQ_ERR_FORMAT,
                            "%s: %s: raw_data is %zu bytes but its dims hold %lld %s elements (%lld bytes)",
                            c->path, what, tp->raw_data.len, (long long)numel, fgq_onnx_type_name(ot),
                            (long long)need);
        raw = tp->raw_data.data;
    } else {
        size_t count;
        const char *field;
        switch (ot) {
        case 1: count = tp->n_float_data; field = "float_data"; break;
        case 7: count = tp->n_int64_data; field = "int64_data"; break;
        case 11: count = tp->n_double_data; field = "double_data"; break;
        default: count = tp->n_int32_data; field = "int32_data"; break;
        }
        if ((int64_t)count != numel)
            return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: %s has %zu values but its dims hold %lld elements",
                            c->path, what, field, count, (long long)numel);
    }

    size_t out_bytes = (size_t)numel * fgq_dtype_size(dt);
    uint8_t *data = malloc(out_bytes > 0 ? out_bytes : 1);
    if (data == NULL) {
        free(ext);
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: %s: cannot allocate %zu bytes", c->path, what, out_bytes);
    }
    fgq_status st = FGQ_OK;
    for (int64_t i = 0; i < numel && st == FGQ_OK; i++) {
        if (raw != NULL) {
            uint64_t v = load_le(raw + (size_t)i * esize, esize);
            switch (ot) {
            case 1: { uint32_t b = (uint32_t)v; memcpy(data + 4 * i, &b, 4); break; }
            case 10: { float f = half_to_float((uint16_t)v); memcpy(data + 4 * i, &f, 4); break; }
            case 11: { double dv; memcpy(&dv, &v, 8); float f = (float)dv; memcpy(data + 4 * i, &f, 4); break; }
            case 6: { uint32_t b = (uint32_t)v; memcpy(data + 4 * i, &b, 4); break; }
            case 7: memcpy(data + 8 * i, &v, 8); break;
            case 9: data[i] = v != 0; break;
            default: data[i] = (uint8_t)v; break; /* uint8, int8: two's complement byte */
            }
        } else {
            switch (ot) {
            case 1: memcpy(data + 4 * i, &tp->float_data[i], 4); break;
            case 7: memcpy(data + 8 * i, &tp->int64_data[i], 8); break;
            case 11: { float f = (float)tp->double_data[i]; memcpy(data + 4 * i, &f, 4); break; }
            case 6: memcpy(data + 4 * i, &tp->int32_data[i], 4); break;
            case 10: {
                /* float16 bit patterns travel in the low 16 bits of int32_data */
                float f = half_to_float((uint16_t)tp->int32_data[i]);
                memcpy(data + 4 * i, &f, 4);
                break;
            }
            default: {
                int32_t v = tp->int32_data[i];
                int ok = ot == 2 ? (v >= 0 && v <= 255) : ot == 3 ? (v >= -128 && v <= 127) : (v == 0 || v == 1);
                if (!ok)
                    st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: %s: int32_data[%lld] = %d is out of range for %s",
                                  c->path, what, (long long)i, (int)v, fgq_onnx_type_name(ot));
                else
                    data[i] = (uint8_t)(int8_t)v;
                break;
            }
            }
        }
    }
    free(ext);
    if (st != FGQ_OK) {
        free(data);
        return st;
    }
    t->data = data;
    t->kind = FGQ_TK_CONST;
    return FGQ_OK;
}

void fgq_onnx_tensor_release(fgq_ir_tensor *t)
{
    if (t == NULL)
        return;
    free(t->name);
    free(t->data);
    fgq_qparams_free(&t->q);
    t->name = NULL;
    t->data = NULL;
}

fgq_status fgq_onnx_load_tensor_file(const char *path, fgq_ir_tensor *out, fgq_error *err)
{
    if (out == NULL || path == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_onnx_load_tensor_file: NULL argument");
    memset(out, 0, sizeof *out);
    out->rank = -1;
    out->producer = -1;
    uint8_t *buf;
    size_t len;
    fgq_status st = read_whole_file(path, FGQ_ONNX_DEFAULT_MAX_BYTES, &buf, &len, err);
    if (st != FGQ_OK)
        return st;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (tp == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: not a valid TensorProto (truncated or corrupt protobuf)", path);
    char *dir = dir_of(path);
    out->name = dup_str(tp->name);
    if (dir == NULL || out->name == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory", path);
    } else {
        import_ctx c = {path, dir, err};
        char what[300];
        snprintf(what, sizeof what, "tensor '%.200s'", out->name);
        st = decode_tensor(&c, tp, what, out);
    }
    free(dir);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (st != FGQ_OK) {
        fgq_onnx_tensor_release(out);
        out->rank = -1;
    }
    return st;
}

/* ---- name -> tensor map (open addressing, built once during import) ------ */

typedef struct {
    int32_t *slots; /* tensor index or -1 */
    size_t mask;
    const fgq_graph *g;
} name_map;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int map_init(name_map *m, const fgq_graph *g, size_t expected)
{
    size_t cap = 64;
    while (cap < expected * 2 + 1)
        cap *= 2;
    m->slots = malloc(cap * sizeof *m->slots);
    if (m->slots == NULL)
        return 0;
    for (size_t i = 0; i < cap; i++)
        m->slots[i] = -1;
    m->mask = cap - 1;
    m->g = g;
    return 1;
}

static int32_t map_find(const name_map *m, const char *name)
{
    for (size_t i = hash_str(name) & m->mask;; i = (i + 1) & m->mask) {
        int32_t t = m->slots[i];
        if (t < 0)
            return -1;
        if (strcmp(m->g->tensors[t].name, name) == 0)
            return t;
    }
}

/* Caller guarantees capacity (sized from the protobuf's counts). */
static void map_put(name_map *m, int32_t tensor)
{
    size_t i = hash_str(m->g->tensors[tensor].name) & m->mask;
    while (m->slots[i] >= 0)
        i = (i + 1) & m->mask;
    m->slots[i] = tensor;
}

/* ---- nodes ---------------------------------------------------------------- */

static fgq_status convert_attr(const import_ctx *c, fgq_graph *g, const fgq_ir_node *n,
                               const Onnx__AttributeProto *ap, fgq_ir_attr *a)
{
    a->name = dup_str(ap->name);
    a->tensor = -1;
    if (a->name == NULL)
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
    int type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) {
        /* IR version 1 files may omit the type: infer it from the field that is set */
        if (ap->n_floats) type = 6;
        else if (ap->n_ints) type = 7;
        else if (ap->n_strings) type = 8;
        else if (ap->t) type = 4;
        else if (ap->g) type = 5;
        else if (ap->has_f) type = 1;
        else if (ap->has_i) type = 2;
        else if (ap->has_s) type = 3;
    }
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->type = FGQ_ATTR_FLOAT;
        a->f = ap->f;
        return FGQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->type = FGQ_ATTR_INT;
        a->i = ap->i;
        return FGQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = FGQ_ATTR_STRING;
        a->s = dup_bytes(ap->s.data, ap->s.len);
        return a->s ? FGQ_OK : fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = FGQ_ATTR_FLOATS;
        a->n = (int32_t)ap->n_floats;
        a->floats = malloc((ap->n_floats ? ap->n_floats : 1) * sizeof(float));
        if (a->floats == NULL || ap->n_floats > INT32_MAX)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        return FGQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = FGQ_ATTR_INTS;
        a->n = (int32_t)ap->n_ints;
        a->ints = malloc((ap->n_ints ? ap->n_ints : 1) * sizeof(int64_t));
        if (a->ints == NULL || ap->n_ints > INT32_MAX)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        return FGQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->type = FGQ_ATTR_STRINGS;
        a->strings = calloc(ap->n_strings ? ap->n_strings : 1, sizeof(char *));
        if (a->strings == NULL || ap->n_strings > INT32_MAX)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = dup_bytes(ap->strings[i].data, ap->strings[i].len);
            if (a->strings[i] == NULL)
                return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
            a->n = (int32_t)i + 1;
        }
        return FGQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        a->type = FGQ_ATTR_TENSOR;
        if (ap->t == NULL)
            return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: node '%s': attribute '%s' is TENSOR but holds none",
                            c->path, n->name, a->name);
        /* Named "<node>:<attr>"; not entered in the name map, so no node input
         * can resolve to it by accident. */
        size_t len = strlen(n->name) + strlen(a->name) + 2;
        char *tname = malloc(len);
        if (tname == NULL)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
        snprintf(tname, len, "%s:%s", n->name, a->name);
        int32_t ti = fgq_graph_add_tensor(g, tname);
        free(tname);
        if (ti < 0)
            return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
        char what[400];
        snprintf(what, sizeof what, "node '%.180s' attribute '%.180s'", n->name, a->name);
        a->tensor = ti;
        return decode_tensor(c, ap->t, what, &g->tensors[ti]);
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: node '%s' (%s): attribute '%s' is a subgraph; subgraphs are not supported",
                        c->path, n->name, n->op_type, a->name);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS:
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: node '%s' (%s): attribute '%s' is a sparse tensor; sparse tensors are not supported",
                        c->path, n->name, n->op_type, a->name);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS:
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: node '%s' (%s): attribute '%s' has type %d, which is not supported",
                        c->path, n->name, n->op_type, a->name, type);
    default:
        return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: node '%s' (%s): attribute '%s' has unknown type %d",
                        c->path, n->name, n->op_type, a->name, type);
    }
}

static fgq_status set_value_info(const import_ctx *c, const Onnx__ValueInfoProto *vi, int64_t sym,
                                 fgq_ir_tensor *t)
{
    const Onnx__TypeProto *tp = vi->type;
    if (tp == NULL || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || tp->tensor_type == NULL)
        return FGQ_OK; /* non-tensor or untyped: left unknown */
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type)
        t->dtype = fgq_onnx_dtype(tt->elem_type);
    if (tt->shape == NULL)
        return FGQ_OK;
    if (tt->shape->n_dim > FGQ_MAX_DIMS)
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: graph input '%s': rank %zu is above the maximum of %d",
                        c->path, t->name, tt->shape->n_dim, FGQ_MAX_DIMS);
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d != NULL && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: graph input '%s': negative dim %lld at axis %zu",
                                c->path, t->name, (long long)d->dim_value, i);
            t->dims[i] = d->dim_value;
        } else {
            t->dims[i] = sym;
            t->sym_dims |= 1u << i;
        }
    }
    if (!fgq_ir_dims_fit((int32_t)tt->shape->n_dim, t->dims))
        return fgq_fail(c->err, FGQ_ERR_SHAPE,
                        "%s: graph input '%s': its declared dims hold more than 2^40 elements, fgq's limit for one "
                        "tensor (are the dimensions right? --batch?)", c->path, t->name);
    t->rank = (int32_t)tt->shape->n_dim;
    return FGQ_OK;
}

/* Binary min-heap of node indices: Kahn's algorithm picks the lowest ready
 * index first, so a graph already in order keeps its order. */
static void heap_push(int32_t *h, int32_t *n, int32_t v)
{
    int32_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int32_t heap_pop(int32_t *h, int32_t *n)
{
    int32_t top = h[0], v = h[--*n], i = 0;
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        int32_t mv = v;
        if (l < *n && h[l] < mv) { m = l; mv = h[l]; }
        if (r < *n && h[r] < mv) { m = r; }
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0)
        h[i] = v;
    return top;
}

static fgq_status topo_sort(const import_ctx *c, fgq_graph *g)
{
    int32_t n = g->n_nodes;
    if (n == 0)
        return FGQ_OK;
    int32_t *indeg = calloc((size_t)n, sizeof *indeg);
    int32_t *start = calloc((size_t)n + 1, sizeof *start);
    int32_t *order = malloc((size_t)n * sizeof *order);
    int32_t *heap = malloc((size_t)n * sizeof *heap);
    int64_t n_edges = 0;
    for (int32_t i = 0; i < n; i++)
        n_edges += g->nodes[i].n_inputs;
    int32_t *edges = malloc((size_t)(n_edges > 0 ? n_edges : 1) * sizeof *edges);
    fgq_status st = FGQ_OK;
    if (!indeg || !start || !order || !heap || !edges) {
        st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory sorting nodes", c->path);
        goto done;
    }
    int sorted = 1;
    /* edges producer -> consumer, in CSR form keyed by producer */
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++) {
            int32_t t = g->nodes[i].inputs[k];
            int32_t p = t >= 0 ? g->tensors[t].producer : -1;
            if (p >= 0) {
                start[p + 1]++;
                indeg[i]++;
                if (p >= i)
                    sorted = 0;
            }
        }
    if (sorted)
        goto done;
    for (int32_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    {
        int32_t *fill = malloc((size_t)n * sizeof *fill);
        if (fill == NULL) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory sorting nodes", c->path);
            goto done;
        }
        memcpy(fill, start, (size_t)n * sizeof *fill);
        for (int32_t i = 0; i < n; i++)
            for (int32_t k = 0; k < g->nodes[i].n_inputs; k++) {
                int32_t t = g->nodes[i].inputs[k];
                int32_t p = t >= 0 ? g->tensors[t].producer : -1;
                if (p >= 0)
                    edges[fill[p]++] = i;
            }
        free(fill);
    }
    int32_t hn = 0, done_n = 0;
    for (int32_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            heap_push(heap, &hn, i);
    while (hn > 0) {
        int32_t v = heap_pop(heap, &hn);
        order[done_n++] = v;
        for (int32_t e = start[v]; e < start[v + 1]; e++)
            if (--indeg[edges[e]] == 0)
                heap_push(heap, &hn, edges[e]);
    }
    if (done_n < n) {
        /* Every unsorted node has an unsorted producer; walking producers n
         * times from any of them must end inside a cycle. */
        int32_t v = 0;
        while (indeg[v] == 0)
            v++;
        for (int32_t step = 0; step < n; step++) {
            const fgq_ir_node *nd = &g->nodes[v];
            for (int32_t k = 0; k < nd->n_inputs; k++) {
                int32_t t = nd->inputs[k];
                int32_t p = t >= 0 ? g->tensors[t].producer : -1;
                if (p >= 0 && indeg[p] > 0) {
                    v = p;
                    break;
                }
            }
        }
        st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: the graph has a cycle through node '%s' (%s)", c->path,
                      g->nodes[v].name, g->nodes[v].op_type);
        goto done;
    }
    {
        fgq_ir_node *nodes = malloc((size_t)n * sizeof *nodes);
        int32_t *where = indeg; /* reuse: old index -> new index */
        if (nodes == NULL) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory sorting nodes", c->path);
            goto done;
        }
        for (int32_t i = 0; i < n; i++) {
            nodes[i] = g->nodes[order[i]];
            where[order[i]] = i;
        }
        memcpy(g->nodes, nodes, (size_t)n * sizeof *nodes);
        free(nodes);
        for (int32_t t = 0; t < g->n_tensors; t++)
            if (g->tensors[t].producer >= 0)
                g->tensors[t].producer = where[g->tensors[t].producer];
    }
done:
    free(indeg);
    free(start);
    free(order);
    free(heap);
    free(edges);
    return st;
}

static fgq_status build_graph(const import_ctx *c, const Onnx__ModelProto *mp, const fgq_onnx_options *opt,
                              fgq_graph *g)
{
    const Onnx__GraphProto *gp = mp->graph;
    if (gp == NULL)
        return fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: the model has no graph", c->path);
    int64_t sym = opt->sym_dim_value;

    g->opset = 1; /* ONNX's implied version when a file names none */
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (o == NULL)
            continue;
        if ((o->domain == NULL || o->domain[0] == '\0' || strcmp(o->domain, "ai.onnx") == 0) && o->has_version)
            g->opset = o->version;
    }

    size_t expected = gp->n_initializer + gp->n_input + gp->n_output;
    for (size_t i = 0; i < gp->n_node; i++)
        expected += gp->node[i]->n_output;
    if (gp->n_node > INT32_MAX / 2 || expected > INT32_MAX / 2)
        return fgq_fail(c->err, FGQ_ERR_UNSUPPORTED, "%s: the graph is too large", c->path);
    name_map map;
    if (!map_init(&map, g, expected))
        return fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
    fgq_status st = FGQ_OK;

    for (size_t i = 0; i < gp->n_initializer && st == FGQ_OK; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (name[0] == '\0') {
            st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: initializer #%zu has no name", c->path, i);
            break;
        }
        if (map_find(&map, name) >= 0) {
            st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: initializer '%s' is defined twice", c->path, name);
            break;
        }
        int32_t ti = fgq_graph_add_tensor(g, name);
        if (ti < 0) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
            break;
        }
        map_put(&map, ti);
        char what[300];
        snprintf(what, sizeof what, "initializer '%.200s'", name);
        st = decode_tensor(c, tp, what, &g->tensors[ti]);
    }

    if (st == FGQ_OK && gp->n_input > 0) {
        g->inputs = malloc(gp->n_input * sizeof *g->inputs);
        if (g->inputs == NULL)
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
    }
    for (size_t i = 0; i < gp->n_input && st == FGQ_OK; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = vi->name ? vi->name : "";
        if (name[0] == '\0') {
            st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: graph input #%zu has no name", c->path, i);
            break;
        }
        int32_t ti = map_find(&map, name);
        if (ti >= 0) {
            if (g->tensors[ti].kind == FGQ_TK_CONST)
                continue; /* IR < 4 lists initializers among the inputs too */
            st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: graph input '%s' is listed twice", c->path, name);
            break;
        }
        ti = fgq_graph_add_tensor(g, name);
        if (ti < 0) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
            break;
        }
        map_put(&map, ti);
        g->tensors[ti].kind = FGQ_TK_INPUT;
        g->inputs[g->n_inputs++] = ti;
        st = set_value_info(c, vi, sym, &g->tensors[ti]);
    }

    if (st == FGQ_OK && gp->n_node > 0) {
        g->nodes = calloc(gp->n_node, sizeof *g->nodes);
        if (g->nodes == NULL)
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
        else
            g->cap_nodes = (int32_t)gp->n_node;
    }
    /* Pass 1: node names, attributes and outputs (so producers may come later
     * in the file than their consumers). */
    for (size_t i = 0; i < gp->n_node && st == FGQ_OK; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        fgq_ir_node *n = &g->nodes[g->n_nodes++];
        const char *op = np->op_type ? np->op_type : "";
        n->op_type = dup_str(op);
        n->domain = dup_str(strcmp(np->domain ? np->domain : "", "ai.onnx") == 0 ? "" : np->domain);
        if (np->name != NULL && np->name[0] != '\0') {
            n->name = dup_str(np->name);
        } else {
            size_t len = strlen(op) + 24;
            n->name = malloc(len);
            if (n->name)
                snprintf(n->name, len, "%s_%zu", op, i);
        }
        n->inputs = malloc((np->n_input ? np->n_input : 1) * sizeof *n->inputs);
        n->outputs = malloc((np->n_output ? np->n_output : 1) * sizeof *n->outputs);
        n->attrs = calloc(np->n_attribute ? np->n_attribute : 1, sizeof *n->attrs);
        if (!n->op_type || !n->domain || !n->name || !n->inputs || !n->outputs || !n->attrs) {
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
            break;
        }
        if (op[0] == '\0') {
            st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: node '%s' (#%zu) has no op_type", c->path, n->name, i);
            break;
        }
        for (size_t k = 0; k < np->n_attribute && st == FGQ_OK; k++) {
            n->n_attrs++;
            st = convert_attr(c, g, n, np->attribute[k], &n->attrs[k]);
        }
        for (size_t k = 0; k < np->n_output && st == FGQ_OK; k++) {
            const char *name = np->output[k] ? np->output[k] : "";
            n->outputs[n->n_outputs++] = -1;
            if (name[0] == '\0')
                continue; /* omitted optional output */
            int32_t ti = map_find(&map, name);
            if (ti >= 0) {
                const fgq_ir_tensor *t = &g->tensors[ti];
                if (t->producer >= 0)
                    st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: tensor '%s' is produced by two nodes, '%s' and '%s'",
                                  c->path, name, g->nodes[t->producer].name, n->name);
                else
                    st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: node '%s' (%s) produces '%s', which is already %s",
                                  c->path, n->name, op, name,
                                  t->kind == FGQ_TK_CONST ? "an initializer" : "a graph input");
                break;
            }
            ti = fgq_graph_add_tensor(g, name);
            if (ti < 0) {
                st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
                break;
            }
            map_put(&map, ti);
            g->tensors[ti].producer = (int32_t)i;
            n->outputs[k] = ti;
        }
    }
    /* Pass 2: inputs. */
    for (size_t i = 0; i < gp->n_node && st == FGQ_OK; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        fgq_ir_node *n = &g->nodes[i];
        for (size_t k = 0; k < np->n_input; k++) {
            const char *name = np->input[k] ? np->input[k] : "";
            int32_t ti = -1;
            if (name[0] != '\0') {
                ti = map_find(&map, name);
                if (ti < 0) {
                    st = fgq_fail(c->err, FGQ_ERR_FORMAT,
                                  "%s: node '%s' (%s): input '%s' is not produced by any node, initializer or graph input",
                                  c->path, n->name, n->op_type, name);
                    break;
                }
            }
            n->inputs[n->n_inputs++] = ti;
        }
    }

    if (st == FGQ_OK && gp->n_output > 0) {
        g->outputs = malloc(gp->n_output * sizeof *g->outputs);
        if (g->outputs == NULL)
            st = fgq_fail(c->err, FGQ_ERR_NOMEM, "%s: out of memory", c->path);
    }
    for (size_t i = 0; i < gp->n_output && st == FGQ_OK; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int32_t ti = map_find(&map, name);
        if (ti < 0) {
            st = fgq_fail(c->err, FGQ_ERR_FORMAT, "%s: graph output '%s' is not produced by any node", c->path, name);
            break;
        }
        g->tensors[ti].is_output = 1;
        g->outputs[g->n_outputs++] = ti;
    }
    free(map.slots);
    /* float16 weights, inputs and outputs became float32 above: count them for the note callers print */
    for (size_t i = 0; i < gp->n_initializer; i++)
        g->n_f16 += gp->initializer[i] != NULL && gp->initializer[i]->has_data_type &&
                    gp->initializer[i]->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    for (size_t i = 0; i < gp->n_input + gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = i < gp->n_input ? gp->input[i] : gp->output[i - gp->n_input];
        g->n_f16 += vi != NULL && vi->type != NULL && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
                    vi->type->tensor_type != NULL && vi->type->tensor_type->has_elem_type &&
                    vi->type->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    }
    if (st == FGQ_OK)
        st = topo_sort(c, g);
    return st;
}

/* What a file that did not parse as ONNX looks like, for the message. */
static const char *file_kind(const uint8_t *buf, size_t len, const char *path)
{
    const size_t n = strlen(path);
    if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        return "it is a .npy array";
    if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0)
        return "it is a zip archive (.npz?)";
    if (len >= 4 && buf[0] == 0 && buf[1] == 0 && (buf[2] == 8 || buf[2] == 9 || buf[2] == 0x0b || buf[2] == 0x0c ||
                                                   buf[2] == 0x0d || buf[2] == 0x0e))
        return "it looks like an IDX data file";
    if (len >= 8 && memcmp(buf, "FGQ", 3) == 0)
        return "it starts like a .fgq file but its magic is wrong: damaged?";
    if (n > 4 && strcmp(path + n - 4, ".fgq") == 0)
        return "and not a .fgq either: the .fgq magic is missing";
    return "truncated or corrupt protobuf";
}

static fgq_onnx_options resolve_options(const fgq_onnx_options *opt)
{
    fgq_onnx_options o = {FGQ_ONNX_DEFAULT_MAX_BYTES, 1};
    if (opt != NULL) {
        if (opt->max_file_bytes > 0)
            o.max_file_bytes = opt->max_file_bytes;
        if (opt->sym_dim_value > 0)
            o.sym_dim_value = opt->sym_dim_value;
    }
    return o;
}

/* Decodes and imports buf[0, len); `path` names it in messages, external data
 * is resolved in `dir` (NULL: refused). */
static fgq_status load_buffer(const uint8_t *buf, size_t len, const char *path, const char *dir,
                              const fgq_onnx_options *o, fgq_graph **out, fgq_error *err)
{
    if (len == 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: empty file, not an ONNX model", path);
    if ((int64_t)len > o->max_file_bytes)
        return fgq_fail(err, FGQ_ERR_IO, "%s: model is %zu bytes, over the size limit of %lld bytes", path, len,
                        (long long)o->max_file_bytes);
    if (len >= 8 && memcmp(buf, FGQ_FILE_MAGIC, 8) == 0)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        "%s: this is a .fgq model (fgq's runtime format), where an ONNX model is expected: give the float "
                        ".onnx it was made from", path);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (mp == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, "%s: not a valid ONNX model (%s)", path, file_kind(buf, len, path));
    fgq_status st;
    fgq_graph *g = fgq_graph_new();
    if (g != NULL)
        g->source_path = dup_str(path);
    if (g == NULL || g->source_path == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory", path);
    } else {
        import_ctx c = {path, dir, err};
        st = build_graph(&c, mp, o, g);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st != FGQ_OK) {
        fgq_graph_free(g);
        return st;
    }
    *out = g;
    return FGQ_OK;
}

fgq_status fgq_onnx_load(const char *path, const fgq_onnx_options *opt, fgq_graph **out, fgq_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_onnx_load: NULL argument");
    fgq_onnx_options o = resolve_options(opt);
    uint8_t *buf;
    size_t len;
    fgq_status st = read_whole_file(path, o.max_file_bytes, &buf, &len, err);
    if (st != FGQ_OK)
        return st;
    char *dir = dir_of(path);
    if (dir == NULL)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory", path);
    else
        st = load_buffer(buf, len, path, dir, &o, out, err);
    free(dir);
    free(buf);
    return st;
}

fgq_status fgq_onnx_load_memory(const uint8_t *buf, size_t len, const char *name, const fgq_onnx_options *opt,
                                fgq_graph **out, fgq_error *err)
{
    if (out != NULL)
        *out = NULL;
    if ((buf == NULL && len > 0) || out == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_onnx_load_memory: NULL argument");
    fgq_onnx_options o = resolve_options(opt);
    return load_buffer(len > 0 ? buf : (const uint8_t *)"", len, name != NULL ? name : "<memory>", NULL, &o, out,
                       err);
}
