/*
 * select_f32.c — Equal, Less, Greater, Not, Mod, Where, Expand and Cast at run time (fgq_ops.h:
 * FGQ_OP_EQUAL .. FGQ_OP_CAST, FGQ_OP_MOD, FGQ_OP_NOT): the ops an attention mask built from an input
 * needs, e.g. Where(Equal(mask, 0), -inf, scores), or Swin's Where(Not(Equal(m, 0)), -100, 0). They
 * carry bool (FGQ_DT_BOOL: one byte, 0 or 1) and integer tensors as well as f32.
 * Broadcasting is NumPy's: shapes right-aligned, on each axis the dims are equal or one is 1, and the
 * output takes the larger. No scratch, no allocation; out must not alias an input.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>
#include <string.h>

/* Dim of t on axis `axis` of an output of rank r (1 where t is shorter). */
static int64_t aligned_dim(const fgq_tensor_view *t, int32_t r, int32_t axis)
{
    int32_t k = axis - (r - t->rank);
    return k < 0 ? 1 : t->dims[k];
}

/* The NumPy broadcast of in[0..n) into rank/dims; FGQ_ERR_SHAPE naming the axis if they do not. */
static fgq_status broadcast_dims(const fgq_node_view *node, const fgq_tensor_view *const *in, int32_t n, int32_t *rank,
                                 int64_t *dims, fgq_error *err)
{
    int32_t r = 0;
    for (int32_t k = 0; k < n; k++)
        r = in[k]->rank > r ? in[k]->rank : r;
    for (int32_t i = 0; i < r; i++) {
        int64_t d = 1;
        for (int32_t k = 0; k < n; k++) {
            int64_t dk = aligned_dim(in[k], r, i);
            if (dk != 1 && d != 1 && dk != d)
                return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "cannot broadcast axis %d: %lld vs %lld",
                                FGQ_NODE_ARGS(node), (int)i, (long long)d, (long long)dk);
            d = dk != 1 ? dk : d;
        }
        dims[i] = d;
    }
    *rank = r;
    return FGQ_OK;
}

/* Walks the output row by row (its last axis), keeping each input's element offset in step: on
 * axes an input broadcasts along, its stride is 0. */
typedef struct {
    int32_t rank, n;
    int64_t inner, rows;
    const int64_t *dims;
    int64_t st[3][FGQ_MAX_DIMS];
    int64_t idx[FGQ_MAX_DIMS];
    int64_t off[3];
} walker;

static void walk_init(walker *w, const fgq_tensor_view *y, const fgq_tensor_view *const *in, int32_t n)
{
    memset(w, 0, sizeof *w);
    w->rank = y->rank;
    w->n = n;
    w->dims = y->dims;
    for (int32_t k = 0; k < n; k++) {
        int64_t s = 1;
        for (int32_t i = y->rank - 1; i >= 0; i--) {
            int64_t d = aligned_dim(in[k], y->rank, i);
            w->st[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    const int64_t numel = fgq_ops_numel(y);
    w->inner = y->rank > 0 ? y->dims[y->rank - 1] : 1;
    w->rows = w->inner > 0 ? numel / w->inner : 0;
}

/* The stride of input k along the row (0 or 1). */
static int64_t walk_step(const walker *w, int32_t k)
{
    return w->rank > 0 ? w->st[k][w->rank - 1] : 0;
}

static void walk_next_row(walker *w)
{
    for (int32_t i = w->rank - 2; i >= 0; i--) {
        w->idx[i]++;
        for (int32_t k = 0; k < w->n; k++)
            w->off[k] += w->st[k][i];
        if (w->idx[i] < w->dims[i])
            return;
        for (int32_t k = 0; k < w->n; k++)
            w->off[k] -= w->st[k][i] * w->idx[i];
        w->idx[i] = 0;
    }
}

static int whole_byte(fgq_dtype dt)
{
    return fgq_dtype_size(dt) > 0;
}

static int castable(fgq_dtype dt)
{
    return dt == FGQ_DT_F32 || dt == FGQ_DT_U8 || dt == FGQ_DT_S8 || dt == FGQ_DT_S32 || dt == FGQ_DT_S64 ||
           dt == FGQ_DT_BOOL;
}

/* ---- Equal, Less, Greater ------------------------------------------------------------------ */

fgq_status fgq_compare_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                 const fgq_tensor_view *const *out, fgq_error *err)
{
    if (node->op != FGQ_OP_EQUAL && node->op != FGQ_OP_LESS && node->op != FGQ_OP_GREATER)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "op %d is not Equal/Less/Greater", FGQ_NODE_ARGS(node),
                        (int)node->op);
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_dtype dt = in[0]->dtype;
    if (!castable(dt) || (dt == FGQ_DT_BOOL && node->op != FGQ_OP_EQUAL) || in[1]->dtype != dt)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        FGQ_NODE_FMT "inputs of dtype %s and %s (one of f32, u8, s8, "
                                     "s32, s64; bool for Equal)",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(dt), fgq_dtype_name(in[1]->dtype));
    if (out[0]->dtype != FGQ_DT_BOOL)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "output has dtype %s, expected bool",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(out[0]->dtype));
    int32_t rank = 0;
    int64_t dims[FGQ_MAX_DIMS];
    if ((st = broadcast_dims(node, in, 2, &rank, dims, err)) != FGQ_OK)
        return st;
    return fgq_ops_check_out_dims(node, out[0], rank, dims, err);
}

#define CMP_ROW(T)                                                \
    do {                                                          \
        const T *a_ = (const T *)a + oa, *b_ = (const T *)b + ob; \
        if (op == FGQ_OP_EQUAL)                                   \
            for (int64_t i = 0; i < n; i++)                       \
                y[i] = a_[i * sa] == b_[i * sb];                  \
        else if (op == FGQ_OP_LESS)                               \
            for (int64_t i = 0; i < n; i++)                       \
                y[i] = a_[i * sa] < b_[i * sb];                   \
        else                                                      \
            for (int64_t i = 0; i < n; i++)                       \
                y[i] = a_[i * sa] > b_[i * sb];                   \
    } while (0)

static void compare_row(fgq_op op, fgq_dtype dt, uint8_t *y, const void *a, int64_t oa, int64_t sa, const void *b,
                        int64_t ob, int64_t sb, int64_t n)
{
    switch (dt) {
    case FGQ_DT_F32: CMP_ROW(float); break;
    case FGQ_DT_S8: CMP_ROW(int8_t); break;
    case FGQ_DT_S32: CMP_ROW(int32_t); break;
    case FGQ_DT_S64: CMP_ROW(int64_t); break;
    default: CMP_ROW(uint8_t); break; /* u8, bool */
    }
}
#undef CMP_ROW

fgq_status fgq_compare_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    walker w;
    walk_init(&w, out[0], in, 2);
    uint8_t *y = (uint8_t *)out[0]->data;
    const int64_t sa = walk_step(&w, 0), sb = walk_step(&w, 1);
    for (int64_t r = 0; r < w.rows; r++, walk_next_row(&w))
        compare_row(node->op, in[0]->dtype, y + r * w.inner, in[0]->data, w.off[0], sa, in[1]->data, w.off[1], sb,
                    w.inner);
    return FGQ_OK;
}

/* ---- Not ----------------------------------------------------------------------------------- */

fgq_status fgq_not_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    if (in[0]->dtype != FGQ_DT_BOOL || out[0]->dtype != FGQ_DT_BOOL)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "input %s, output %s (bool, bool)", FGQ_NODE_ARGS(node),
                        fgq_dtype_name(in[0]->dtype), fgq_dtype_name(out[0]->dtype));
    return fgq_ops_check_out_dims(node, out[0], in[0]->rank, in[0]->dims, err);
}

fgq_status fgq_not_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)node, (void)err;
    const uint8_t *x = (const uint8_t *)in[0]->data;
    uint8_t *y = (uint8_t *)out[0]->data;
    const int64_t n = fgq_ops_numel(in[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] == 0; /* a bool that is not 0 or 1 (a hostile constant) is still true */
    return FGQ_OK;
}

/* ---- Mod ----------------------------------------------------------------------------------- */

fgq_status fgq_mod_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_dtype dt = in[0]->dtype;
    const int32_t fmod_ = node->iparams[0];
    if (fmod_ != 0 && fmod_ != 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "ip[0] (fmod) = %d, expected 0 or 1", FGQ_NODE_ARGS(node),
                        (int)fmod_);
    if (!castable(dt) || dt == FGQ_DT_BOOL || in[1]->dtype != dt || out[0]->dtype != dt)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        FGQ_NODE_FMT "A, B and the output have dtypes %s, %s, %s (one of f32, u8, s8, s32, s64)",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(dt), fgq_dtype_name(in[1]->dtype),
                        fgq_dtype_name(out[0]->dtype));
    if (dt == FGQ_DT_F32 && fmod_ == 0)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "f32 inputs need fmod = 1 (ONNX Mod)",
                        FGQ_NODE_ARGS(node));
    int32_t rank = 0;
    int64_t dims[FGQ_MAX_DIMS];
    if ((st = broadcast_dims(node, in, 2, &rank, dims, err)) != FGQ_OK)
        return st;
    return fgq_ops_check_out_dims(node, out[0], rank, dims, err);
}

/* a mod b for integers: fmod_ 1 truncates (the remainder has a's sign, C's %), 0 floors (b's sign,
 * Python's %). b = 0 gives 0 (NumPy's value; C's % would be undefined) and b = -1 gives 0 (so
 * INT64_MIN % -1, undefined in C, never happens). */
static int64_t mod_int(int64_t a, int64_t b, int32_t fmod_)
{
    if (b == 0 || b == -1)
        return 0;
    int64_t r = a % b;
    if (!fmod_ && r != 0 && (r < 0) != (b < 0))
        r += b; /* |r| < |b| and the signs differ: no overflow */
    return r;
}

#define MOD_ROW(T)                                                               \
    do {                                                                         \
        const T *a_ = (const T *)a + oa, *b_ = (const T *)b + ob;                \
        T *y_ = (T *)y;                                                          \
        for (int64_t i = 0; i < n; i++)                                          \
            y_[i] = (T)mod_int((int64_t)a_[i * sa], (int64_t)b_[i * sb], fmod_); \
    } while (0)

static void mod_row(fgq_dtype dt, int32_t fmod_, void *y, const void *a, int64_t oa, int64_t sa, const void *b,
                    int64_t ob, int64_t sb, int64_t n)
{
    switch (dt) {
    case FGQ_DT_F32: {
        const float *a_ = (const float *)a + oa, *b_ = (const float *)b + ob;
        float *y_ = (float *)y;
        for (int64_t i = 0; i < n; i++) /* exact: fmod's result is representable, no rounding */
            y_[i] = fmodf(a_[i * sa], b_[i * sb]);
        break;
    }
    case FGQ_DT_S8: MOD_ROW(int8_t); break;
    case FGQ_DT_S32: MOD_ROW(int32_t); break;
    case FGQ_DT_S64: MOD_ROW(int64_t); break;
    default: MOD_ROW(uint8_t); break; /* u8 */
    }
}
#undef MOD_ROW

fgq_status fgq_mod_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    walker w;
    walk_init(&w, out[0], in, 2);
    const fgq_dtype dt = out[0]->dtype;
    const size_t es = fgq_dtype_size(dt);
    uint8_t *y = (uint8_t *)out[0]->data;
    const int64_t sa = walk_step(&w, 0), sb = walk_step(&w, 1);
    for (int64_t r = 0; r < w.rows; r++, walk_next_row(&w))
        mod_row(dt, node->iparams[0], y + (size_t)(r * w.inner) * es, in[0]->data, w.off[0], sa, in[1]->data, w.off[1],
                sb, w.inner);
    return FGQ_OK;
}

/* ---- Where --------------------------------------------------------------------------------- */

fgq_status fgq_where_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                               const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 3, 3, 0, err);
    if (st != FGQ_OK)
        return st;
    if (in[0]->dtype != FGQ_DT_BOOL)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "condition has dtype %s, expected bool",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(in[0]->dtype));
    const fgq_dtype dt = in[1]->dtype;
    if (!whole_byte(dt) || in[2]->dtype != dt || out[0]->dtype != dt)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        FGQ_NODE_FMT "X, Y and the output have dtypes %s, %s, %s "
                                     "(one whole-byte dtype)",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(dt), fgq_dtype_name(in[2]->dtype),
                        fgq_dtype_name(out[0]->dtype));
    int32_t rank = 0;
    int64_t dims[FGQ_MAX_DIMS];
    if ((st = broadcast_dims(node, in, 3, &rank, dims, err)) != FGQ_OK)
        return st;
    return fgq_ops_check_out_dims(node, out[0], rank, dims, err);
}

fgq_status fgq_where_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)node, (void)err;
    walker w;
    walk_init(&w, out[0], in, 3);
    const size_t es = fgq_dtype_size(out[0]->dtype);
    const uint8_t *c = (const uint8_t *)in[0]->data;
    const uint8_t *x = (const uint8_t *)in[1]->data, *yv = (const uint8_t *)in[2]->data;
    uint8_t *o = (uint8_t *)out[0]->data;
    const int64_t sc = walk_step(&w, 0), sx = walk_step(&w, 1), sy = walk_step(&w, 2);
    for (int64_t r = 0; r < w.rows; r++, walk_next_row(&w)) {
        uint8_t *orow = o + (size_t)(r * w.inner) * es;
        for (int64_t i = 0; i < w.inner; i++) {
            const uint8_t *src =
                c[w.off[0] + i * sc] ? x + (size_t)(w.off[1] + i * sx) * es : yv + (size_t)(w.off[2] + i * sy) * es;
            memcpy(orow + (size_t)i * es, src, es);
        }
    }
    return FGQ_OK;
}

/* ---- Expand -------------------------------------------------------------------------------- */

fgq_status fgq_expand_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    if (!whole_byte(in[0]->dtype) || out[0]->dtype != in[0]->dtype)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "input %s, output %s (one whole-byte dtype)",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(in[0]->dtype), fgq_dtype_name(out[0]->dtype));
    const fgq_tensor_view *x = in[0], *y = out[0];
    if (x->rank > y->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input rank %d above the output's %d", FGQ_NODE_ARGS(node),
                        (int)x->rank, (int)y->rank);
    for (int32_t i = 0; i < y->rank; i++) {
        int64_t d = aligned_dim(x, y->rank, i);
        if (d != 1 && d != y->dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "input dim %lld does not broadcast to %lld on axis %d",
                            FGQ_NODE_ARGS(node), (long long)d, (long long)y->dims[i], (int)i);
    }
    return FGQ_OK;
}

fgq_status fgq_expand_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)node, (void)err;
    walker w;
    walk_init(&w, out[0], in, 1);
    const size_t es = fgq_dtype_size(out[0]->dtype);
    const uint8_t *x = (const uint8_t *)in[0]->data;
    uint8_t *o = (uint8_t *)out[0]->data;
    const int64_t sx = walk_step(&w, 0);
    for (int64_t r = 0; r < w.rows; r++, walk_next_row(&w)) {
        uint8_t *orow = o + (size_t)(r * w.inner) * es;
        if (sx == 1)
            memcpy(orow, x + (size_t)w.off[0] * es, (size_t)w.inner * es);
        else
            for (int64_t i = 0; i < w.inner; i++)
                memcpy(orow + (size_t)i * es, x + (size_t)w.off[0] * es, es);
    }
    return FGQ_OK;
}

/* ---- Cast ---------------------------------------------------------------------------------- */

fgq_status fgq_cast_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 0, err);
    if (st != FGQ_OK)
        return st;
    if (!castable(in[0]->dtype) || !castable(out[0]->dtype))
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "cast from %s to %s (f32, u8, s8, s32, s64, bool)",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(in[0]->dtype), fgq_dtype_name(out[0]->dtype));
    if (node->iparams[0] != 0 && (node->iparams[0] != 1 || in[0]->dtype != FGQ_DT_F32 || out[0]->dtype != FGQ_DT_F32))
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "ip[0] = %d (1: round f32 to float16, f32 to f32)",
                        FGQ_NODE_ARGS(node), (int)node->iparams[0]);
    return fgq_ops_check_out_dims(node, out[0], in[0]->rank, in[0]->dims, err);
}

/* v rounded to the nearest float16 (ties to even), as a float: 10 mantissa bits, overflow to ±inf,
 * subnormals below 2^-14 in steps of 2^-24. */
static float round_f16(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    const uint32_t sign = u & 0x80000000u;
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf, NaN */
        return v;
    if (a >= 0x477ff000u) { /* >= 65520: rounds past 65504, the largest float16 */
        a = 0x7f800000u;
    } else if (a < 0x38800000u) { /* below 2^-14: adding 0.5 leaves bits of weight 2^-24, rounded to even */
        float f;
        memcpy(&f, &a, sizeof f);
        volatile float t = f + 0.5f;
        f = t - 0.5f;
        memcpy(&a, &f, sizeof a);
    } else {
        a += 0xfffu + ((a >> 13) & 1u);
        a &= ~0x1fffu;
    }
    u = sign | a;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* float -> integer in [lo, hi]: toward zero, saturating, NaN -> 0 (ONNX leaves out-of-range values
 * undefined; C makes them undefined behaviour, so they are pinned). */
static int64_t f2i(float v, double lo, double hi)
{
    if (!(v == v))
        return 0;
    double d = (double)v;
    if (d <= lo)
        return (int64_t)lo;
    if (d >= hi) /* hi of s64 is 2^63 (the double above INT64_MAX): saturate to INT64_MAX itself */
        return hi >= 9223372036854775808.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)d;
}

/* integer -> the low bytes of the target, two's complement (NumPy's astype). */
static void put_int(void *y, fgq_dtype dt, int64_t i, int64_t v)
{
    const uint64_t u = (uint64_t)v;
    switch (dt) {
    case FGQ_DT_U8: ((uint8_t *)y)[i] = (uint8_t)u; break;
    case FGQ_DT_S8: {
        const uint8_t b = (uint8_t)u;
        ((int8_t *)y)[i] = (int8_t)(b < 128u ? (int32_t)b : (int32_t)b - 256);
        break;
    }
    case FGQ_DT_S32: {
        const uint32_t b = (uint32_t)u;
        ((int32_t *)y)[i] = b <= 0x7fffffffu ? (int32_t)b : (int32_t)((int64_t)b - 4294967296ll);
        break;
    }
    case FGQ_DT_S64: ((int64_t *)y)[i] = v; break;
    case FGQ_DT_BOOL: ((uint8_t *)y)[i] = v != 0; break;
    default: ((float *)y)[i] = (float)v; break; /* f32 */
    }
}

static int64_t get_int(const void *x, fgq_dtype dt, int64_t i)
{
    switch (dt) {
    case FGQ_DT_S8: return ((const int8_t *)x)[i];
    case FGQ_DT_S32: return ((const int32_t *)x)[i];
    case FGQ_DT_S64: return ((const int64_t *)x)[i];
    default: return ((const uint8_t *)x)[i]; /* u8, bool */
    }
}

fgq_status fgq_cast_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_dtype from = in[0]->dtype, to = out[0]->dtype;
    const int64_t n = fgq_ops_numel(in[0]);
    const void *x = in[0]->data;
    void *y = out[0]->data;
    if (node->iparams[0] == 1) {
        for (int64_t i = 0; i < n; i++)
            ((float *)y)[i] = round_f16(((const float *)x)[i]);
        return FGQ_OK;
    }
    if (from == to) {
        memcpy(y, x, (size_t)n * fgq_dtype_size(to));
        return FGQ_OK;
    }
    if (from != FGQ_DT_F32) {
        for (int64_t i = 0; i < n; i++)
            put_int(y, to, i, get_int(x, from, i));
        return FGQ_OK;
    }
    const float *xf = (const float *)x;
    for (int64_t i = 0; i < n; i++) {
        switch (to) {
        case FGQ_DT_U8: ((uint8_t *)y)[i] = (uint8_t)f2i(xf[i], 0, 255); break;
        case FGQ_DT_S8: ((int8_t *)y)[i] = (int8_t)f2i(xf[i], -128, 127); break;
        case FGQ_DT_S32: ((int32_t *)y)[i] = (int32_t)f2i(xf[i], -2147483648.0, 2147483647.0); break;
        /* 2^63 is the first double above INT64_MAX: at or above it, INT64_MAX (f2i) */
        case FGQ_DT_S64: ((int64_t *)y)[i] = f2i(xf[i], -9223372036854775808.0, 9223372036854775808.0); break;
        default: ((uint8_t *)y)[i] = xf[i] != 0.0f; break; /* bool */
        }
    }
    return FGQ_OK;
}
