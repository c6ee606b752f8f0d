/* model.c — load and validate a .fgq model in place, and the model getters.
 *
 * Load is a sequence of passes, each trusting only what the earlier ones
 * proved: header and sections; every tensor record on its own; the graph
 * input/output lists; every node in order (indices, topological order, op
 * check on the shapes); tensor lifetimes against the graph; the memory plan.
 * Every count is bounded by the file size and the FGQ_MAX_* limits first, so
 * a hostile file costs at most O(n_tensors^2) cheap steps. */
#include "fgq_runtime.h"
#include "plan.h"

#include <stddef.h>
#include <string.h>

#define HDR_SIZE ((uint64_t)sizeof(fgq_file_header))
#define TREC ((uint64_t)sizeof(fgq_disk_tensor))
#define NREC ((uint64_t)sizeof(fgq_disk_node))

/* The load passes, called one after another by model_load: out of line, the stack holds the
 * largest one's frame (most keep a message buffer) rather than the sum GCC's inlining of a static
 * function called once gives (kws on the Cortex-M4: 388 bytes more at its high-water mark). */
#if defined(__GNUC__)
#define LOAD_PASS __attribute__((noinline))
#else
#define LOAD_PASS
#endif

/* Names in messages: at most 64 bytes of the (not NUL-terminated) name. */
#define NAME_FMT "'%.*s'"
#define NAME_ARGS(m, off, len) (int)((len) > 64 ? 64 : (len)), (const char *)((m)->base + (m)->strings_off + (off))

static int32_t s32_of(uint32_t u)
{
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    uint8_t b[4];
    memcpy(b, &one, sizeof b);
    return b[0] == 1;
}

/* [off, off + len) inside [0, size), without overflow. */
static int range_ok(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* Tensor t's record with its dims: pass 2 (check_tensor) proved their index range first. */
static void read_tensor(const fgq_model *m, int32_t t, fgq_file_tensor *ft)
{
    fgq_file_tensor_decode(m->base + m->tensors_off + TREC * (uint64_t)t, ft);
    fgq_file_tensor_dims(m->base + m->index_off, ft);
}

/* Node n's record with its parameters: pass 4 (check_node) proved their index range first. */
static void read_node(const fgq_model *m, int32_t n, fgq_file_node *fn)
{
    fgq_file_node_decode(m->base + m->nodes_off + NREC * (uint64_t)n, fn);
    fgq_file_node_params(m->base + m->index_off, fn);
}

static int32_t index_at(const fgq_model *m, uint64_t i)
{
    return s32_of(fgq_read_u32le(m->base + m->index_off + 4 * i));
}

/* Fields of tensor record t read directly, for the O(n^2) plan loops. */
static const uint8_t *trec(const fgq_model *m, int32_t t)
{
    return m->base + m->tensors_off + TREC * (uint64_t)t;
}
static uint32_t t_kind(const fgq_model *m, int32_t t)
{
    return trec(m, t)[offsetof(fgq_disk_tensor, kind)];
}
static uint64_t t_off(const fgq_model *m, int32_t t)
{
    return fgq_read_u64le(trec(m, t) + offsetof(fgq_disk_tensor, data_off));
}
static uint64_t t_size(const fgq_model *m, int32_t t)
{
    return fgq_read_u64le(trec(m, t) + offsetof(fgq_disk_tensor, data_size));
}
static int32_t t_first(const fgq_model *m, int32_t t)
{
    return s32_of(fgq_read_u32le(trec(m, t) + offsetof(fgq_disk_tensor, first_node)));
}
static int32_t t_last(const fgq_model *m, int32_t t)
{
    return s32_of(fgq_read_u32le(trec(m, t) + offsetof(fgq_disk_tensor, last_node)));
}

static int dtype_known(uint32_t dt)
{
    return dt >= FGQ_DT_F32 && dt <= FGQ_DT_S2;
}

/* Bits per element: sub-byte types pack (T2, S2: 4 per byte, S4: 2 per byte, S3: 8 per 3 bytes). */
static uint64_t dtype_bits(uint32_t dt)
{
    if (dt == FGQ_DT_T2 || dt == FGQ_DT_S2)
        return 2;
    if (dt == FGQ_DT_S4)
        return 4;
    if (dt == FGQ_DT_S3)
        return 3;
    return 8 * (uint64_t)fgq_dtype_size((fgq_dtype)dt);
}

static int all_zero(const uint32_t *w, int n)
{
    for (int i = 0; i < n; i++)
        if (w[i] != 0)
            return 0;
    return 1;
}

/* ---- pass 1: header and sections ---------------------------------------- */

static fgq_status check_section(const char *what, uint64_t off, uint64_t count, uint64_t rec, uint64_t size,
                                fgq_error *err)
{
    if (off % FGQ_FILE_ALIGN != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: %s section offset %llu is not %u-byte aligned", what,
                        (unsigned long long)off, FGQ_FILE_ALIGN);
    /* count * rec <= size - off, without forming the product */
    if (off > size || count > (size - off) / rec)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        "fgq: %s section (%llu records of %llu bytes at offset %llu) exceeds the %llu-byte file",
                        what, (unsigned long long)count, (unsigned long long)rec, (unsigned long long)off,
                        (unsigned long long)size);
    return FGQ_OK;
}

/* Decodes the metadata blob at off (bounds already checked). */
static void meta_decode(const uint8_t *r, fgq_file_meta *mt)
{
    mt->version = fgq_read_u32le(r + offsetof(fgq_file_meta, version));
    mt->flags = fgq_read_u32le(r + offsetof(fgq_file_meta, flags));
    uint32_t u = fgq_read_u32le(r + offsetof(fgq_file_meta, scale));
    memcpy(&mt->scale, &u, 4);
    mt->n_mean = (int32_t)fgq_read_u32le(r + offsetof(fgq_file_meta, n_mean));
    mt->n_std = (int32_t)fgq_read_u32le(r + offsetof(fgq_file_meta, n_std));
    mt->channel_axis = (int32_t)fgq_read_u32le(r + offsetof(fgq_file_meta, channel_axis));
    for (int i = 0; i < FGQ_META_MAX_CH; i++) {
        u = fgq_read_u32le(r + offsetof(fgq_file_meta, mean) + 4 * (size_t)i);
        memcpy(&mt->mean[i], &u, 4);
        u = fgq_read_u32le(r + offsetof(fgq_file_meta, std) + 4 * (size_t)i);
        memcpy(&mt->std[i], &u, 4);
    }
}

/* The optional metadata blob: bounds, version, finite values (hostile files expected). */
static fgq_status check_meta(const uint8_t *buf, uint64_t size, const fgq_file_header *h, fgq_error *err)
{
    if (h->meta_off == 0 && h->meta_size == 0)
        return FGQ_OK;
    if (h->meta_off < HDR_SIZE || h->meta_off % h->blob_align != 0 || h->meta_size < sizeof(fgq_file_meta) ||
        (uint64_t)h->meta_off + h->meta_size > size)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: metadata blob [%lu, +%lu) is misplaced or too small (file %llu bytes)",
                        (unsigned long)h->meta_off, (unsigned long)h->meta_size, (unsigned long long)size);
    fgq_file_meta mt;
    meta_decode(buf + h->meta_off, &mt);
    if (mt.version != FGQ_META_VERSION ||
        (mt.flags & ~(uint32_t)(FGQ_META_HAS_PREPROCESS | FGQ_META_HAS_RECIPE)) != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: metadata version %lu flags 0x%lx (this runtime reads version %u)",
                        (unsigned long)mt.version, (unsigned long)mt.flags, FGQ_META_VERSION);
    int ok = mt.n_mean >= 0 && mt.n_mean <= FGQ_META_MAX_CH && mt.n_std >= 0 && mt.n_std <= FGQ_META_MAX_CH &&
             mt.channel_axis >= -1 && mt.channel_axis < FGQ_MAX_DIMS && mt.scale == mt.scale && mt.scale != 0.0f &&
             mt.scale - mt.scale == 0.0f;
    for (int i = 0; ok && i < FGQ_META_MAX_CH; i++)
        ok = mt.mean[i] - mt.mean[i] == 0.0f && mt.std[i] - mt.std[i] == 0.0f && (i >= mt.n_std || mt.std[i] != 0.0f);
    if (!ok)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: metadata preprocessing has out-of-range counts or non-finite values");
    if (mt.flags & FGQ_META_HAS_RECIPE) {
        const uint64_t fixed = sizeof(fgq_file_meta);
        if (h->meta_size < fixed + 4)
            return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: metadata says it holds a recipe but has no room for it");
        const uint32_t n = fgq_read_u32le(buf + h->meta_off + fixed);
        if (n > FGQ_META_RECIPE_MAX || fixed + 4 + (uint64_t)n > h->meta_size)
            return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: metadata recipe of %lu bytes does not fit its blob of %lu",
                            (unsigned long)n, (unsigned long)h->meta_size);
        const uint8_t *text = buf + h->meta_off + fixed + 4;
        for (uint32_t i = 0; i < n; i++)
            if (text[i] == 0)
                return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: metadata recipe holds a NUL byte at %lu", (unsigned long)i);
    }
    return FGQ_OK;
}

int fgq_model_get_recipe(const fgq_model *m, const char **text, uint32_t *len)
{
    if (m == NULL || m->base == NULL || m->meta_size == 0)
        return 0;
    fgq_file_meta mt;
    meta_decode(m->base + m->meta_off, &mt);
    if ((mt.flags & FGQ_META_HAS_RECIPE) == 0)
        return 0;
    const uint8_t *r = m->base + m->meta_off + sizeof(fgq_file_meta);
    *len = fgq_read_u32le(r);
    *text = (const char *)(r + 4);
    return 1;
}

int fgq_model_get_preprocess(const fgq_model *m, fgq_model_preprocess *p)
{
    if (m == NULL || m->base == NULL || m->meta_size == 0)
        return 0;
    fgq_file_meta mt;
    meta_decode(m->base + m->meta_off, &mt);
    if ((mt.flags & FGQ_META_HAS_PREPROCESS) == 0)
        return 0;
    p->scale = mt.scale;
    p->n_mean = mt.n_mean;
    p->n_std = mt.n_std;
    p->channel_axis = mt.channel_axis;
    memcpy(p->mean, mt.mean, sizeof p->mean);
    memcpy(p->std, mt.std, sizeof p->std);
    return 1;
}

static LOAD_PASS fgq_status load_header(fgq_model *m, const uint8_t *buf, uint64_t size, fgq_error *err)
{
    if (size < HDR_SIZE)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: file has %llu bytes, the header alone needs %llu",
                        (unsigned long long)size, (unsigned long long)HDR_SIZE);
    fgq_file_header h;
    fgq_file_header_decode(buf, &h);
    if (memcmp(h.magic, FGQ_FILE_MAGIC, 8) != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: bad magic (not a .fgq file)");
    if (h.version != FGQ_FILE_VERSION)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: file version %lu, this runtime reads version %u (%s)",
                        (unsigned long)h.version, FGQ_FILE_VERSION,
                        h.version < FGQ_FILE_VERSION ? "an older fgq wrote it: quantize or convert the model again"
                                                     : "a newer fgq wrote it");
    if (h.file_size != size)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: header says %llu bytes, buffer has %llu (truncated?)",
                        (unsigned long long)h.file_size, (unsigned long long)size);
    if (!all_zero(h.reserved, (int)(sizeof h.reserved / sizeof h.reserved[0])))
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: reserved header fields are not zero");
    if (h.blob_align < FGQ_FILE_MIN_BLOB_ALIGN || h.blob_align > FGQ_FILE_ALIGN || (h.blob_align & (h.blob_align - 1)) != 0)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: blob alignment %lu is not a power of two in [%u, %u]",
                        (unsigned long)h.blob_align, FGQ_FILE_MIN_BLOB_ALIGN, FGQ_FILE_ALIGN);
    fgq_status mst = check_meta(buf, size, &h, err);
    if (mst != FGQ_OK)
        return mst;
    uint32_t sum = fgq_fnv1a32(buf + HDR_SIZE, size - HDR_SIZE);
    if (sum != h.checksum)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: checksum mismatch (header 0x%08lx, contents 0x%08lx)",
                        (unsigned long)h.checksum, (unsigned long)sum);

    fgq_status st;
    if ((st = check_section("tensor", h.tensors_off, h.n_tensors, TREC, size, err)) != FGQ_OK ||
        (st = check_section("node", h.nodes_off, h.n_nodes, NREC, size, err)) != FGQ_OK ||
        (st = check_section("index", h.index_off, h.n_index, 4, size, err)) != FGQ_OK ||
        (st = check_section("string", h.strings_off, h.strings_size, 1, size, err)) != FGQ_OK)
        return st;
    if (h.n_tensors > FGQ_MAX_TENSORS || h.n_nodes > FGQ_MAX_NODES)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "fgq: %lu tensors / %lu nodes exceed this runtime's limits (%d / %d)",
                        (unsigned long)h.n_tensors, (unsigned long)h.n_nodes, FGQ_MAX_TENSORS, FGQ_MAX_NODES);
    if (h.n_index > (uint32_t)INT32_MAX)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: index section of %lu entries is too large",
                        (unsigned long)h.n_index);
    /* graph inputs/outputs are distinct tensors, so there are at most n_tensors of each */
    if (h.n_inputs > h.n_tensors || h.n_outputs > h.n_tensors)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: %lu graph inputs / %lu outputs but only %lu tensors",
                        (unsigned long)h.n_inputs, (unsigned long)h.n_outputs, (unsigned long)h.n_tensors);
    if ((uint64_t)h.inputs_index + h.n_inputs > h.n_index || (uint64_t)h.outputs_index + h.n_outputs > h.n_index)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        "fgq: graph input list [%lu, +%lu) or output list [%lu, +%lu) exceeds the %lu-entry index",
                        (unsigned long)h.inputs_index, (unsigned long)h.n_inputs, (unsigned long)h.outputs_index,
                        (unsigned long)h.n_outputs, (unsigned long)h.n_index);

    m->base = buf;
    m->size = size;
    m->tensors_off = h.tensors_off;
    m->nodes_off = h.nodes_off;
    m->index_off = h.index_off;
    m->strings_off = h.strings_off;
    m->strings_size = h.strings_size;
    m->n_tensors = (int32_t)h.n_tensors;
    m->n_nodes = (int32_t)h.n_nodes;
    m->n_inputs = (int32_t)h.n_inputs;
    m->n_outputs = (int32_t)h.n_outputs;
    m->n_index = (int32_t)h.n_index;
    m->inputs_index = (int32_t)h.inputs_index;
    m->outputs_index = (int32_t)h.outputs_index;
    m->arena_size = h.arena_size;
    m->records_off = fgq_plan_align(h.arena_size); /* UINT64_MAX past the end: the sizes below say so */
    m->meta_off = h.meta_off;
    m->meta_size = h.meta_size;
    m->blob_align = h.blob_align;
    m->arena_lower_bound = 0;
    m->weight_bytes = 0;
    return FGQ_OK;
}

/* ---- pass 2: each tensor record on its own -------------------------------- */

static LOAD_PASS fgq_status check_tensor(fgq_model *m, int32_t t, int32_t *n_input_kind, int32_t *n_output_flag,
                               fgq_error *err)
{
    fgq_file_tensor ft;
    fgq_file_tensor_decode(trec(m, t), &ft); /* the dims below, once their range is checked */
    if (!range_ok(ft.name_off, ft.name_len, m->strings_size))
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: tensor %ld: name [%lu, +%lu) exceeds the %llu-byte string section",
                        (long)t, (unsigned long)ft.name_off, (unsigned long)ft.name_len,
                        (unsigned long long)m->strings_size);
#define TFAIL(status, ...)                                                                                  \
    fgq_fail(err, status, "fgq: tensor %ld " NAME_FMT ": %s", (long)t, NAME_ARGS(m, ft.name_off, ft.name_len), \
             (fgq_fail(&detail, status, __VA_ARGS__), detail.msg))
    fgq_error detail;
    fgq_error_clear(&detail);
    if (!dtype_known(ft.dtype))
        return TFAIL(FGQ_ERR_FORMAT, "unknown dtype %lu", (unsigned long)ft.dtype);
    if (ft.kind > FGQ_KIND_CONST)
        return TFAIL(FGQ_ERR_FORMAT, "unknown kind %lu", (unsigned long)ft.kind);
    if (ft.rank < 0 || ft.rank > FGQ_MAX_DIMS)
        return TFAIL(FGQ_ERR_FORMAT, "rank %ld outside [0, %d]", (long)ft.rank, FGQ_MAX_DIMS);
    if ((ft.flags & ~(uint32_t)FGQ_FT_GRAPH_OUTPUT) != 0 || ft.reserved != 0)
        return TFAIL(FGQ_ERR_FORMAT, "unknown flags 0x%lx or a non-zero reserved field", (unsigned long)ft.flags);
    if ((uint64_t)ft.dims_index + (uint64_t)ft.rank > (uint64_t)m->n_index)
        return TFAIL(FGQ_ERR_FORMAT, "dims [%lu, +%ld) exceed the %ld-entry index", (unsigned long)ft.dims_index,
                     (long)ft.rank, (long)m->n_index);
    fgq_file_tensor_dims(m->base + m->index_off, &ft);
    /* numel = prod(dims); bound every partial product by 2^62 / bits so the
     * bit count below cannot overflow either. */
    uint64_t bits = dtype_bits(ft.dtype);
    uint64_t numel = 1, limit = ((uint64_t)1 << 62) / bits;
    for (int32_t d = 0; d < ft.rank; d++) {
        if (ft.dims[d] < 0)
            return TFAIL(FGQ_ERR_SHAPE, "dim %ld is negative (%lld)", (long)d, (long long)ft.dims[d]);
        uint64_t dim = (uint64_t)ft.dims[d];
        if (dim != 0 && numel > limit / dim)
            return TFAIL(FGQ_ERR_SHAPE, "element count overflows");
        numel *= dim;
    }
    uint64_t bytes = (numel * bits + 7) / 8;
    if (ft.data_size != bytes)
        return TFAIL(FGQ_ERR_SHAPE, "data_size %llu, but %llu elements of %s take %llu bytes",
                     (unsigned long long)ft.data_size, (unsigned long long)numel,
                     fgq_dtype_name((fgq_dtype)ft.dtype), (unsigned long long)bytes);
    if (ft.q_n_scales < 0 || ft.q_group_size < 0)
        return TFAIL(FGQ_ERR_FORMAT, "negative quantization scale count %ld or group size %ld",
                     (long)ft.q_n_scales, (long)ft.q_group_size);
    if (ft.q_n_scales > 0) {
        if (ft.q_off % m->blob_align != 0 || !range_ok(ft.q_off, 8 * (uint64_t)ft.q_n_scales, m->size))
            return TFAIL(FGQ_ERR_FORMAT, "quantization parameters (%ld scales at %llu) unaligned or outside the file",
                         (long)ft.q_n_scales, (unsigned long long)ft.q_off);
        if (ft.q_n_scales > 1 && (ft.q_axis < 0 || ft.q_axis >= (ft.rank > 0 ? ft.rank : 1)))
            return TFAIL(FGQ_ERR_FORMAT, "quantization axis %ld outside rank %ld", (long)ft.q_axis, (long)ft.rank);
    }
    if (ft.data_off % (ft.kind == FGQ_KIND_CONST ? m->blob_align : FGQ_FILE_ALIGN) != 0)
        return TFAIL(FGQ_ERR_FORMAT, "data offset %llu is not %u-byte aligned", (unsigned long long)ft.data_off,
                     (unsigned)(ft.kind == FGQ_KIND_CONST ? m->blob_align : FGQ_FILE_ALIGN));
    if (ft.kind == FGQ_KIND_CONST) {
        if (!range_ok(ft.data_off, ft.data_size, m->size))
            return TFAIL(FGQ_ERR_FORMAT, "constant data [%llu, +%llu) exceeds the %llu-byte file",
                         (unsigned long long)ft.data_off, (unsigned long long)ft.data_size,
                         (unsigned long long)m->size);
        if (ft.first_node != -1 || ft.last_node != -1)
            return TFAIL(FGQ_ERR_FORMAT, "constant with lifetime [%ld, %ld], expected [-1, -1]",
                         (long)ft.first_node, (long)ft.last_node);
        m->weight_bytes += ft.data_size; /* <= n_tensors * file size: no overflow */
    } else {
        if (!range_ok(ft.data_off, ft.data_size, m->arena_size))
            return TFAIL(FGQ_ERR_FORMAT, "arena slot [%llu, +%llu) exceeds arena_size %llu",
                         (unsigned long long)ft.data_off, (unsigned long long)ft.data_size,
                         (unsigned long long)m->arena_size);
    }
    if (ft.kind == FGQ_KIND_INPUT)
        (*n_input_kind)++;
    if (ft.flags & FGQ_FT_GRAPH_OUTPUT)
        (*n_output_flag)++;
    return FGQ_OK;
#undef TFAIL
}

/* ---- pass 3: graph input and output lists --------------------------------- */

static LOAD_PASS fgq_status check_io_list(const fgq_model *m, int is_output, int32_t n_kind, fgq_error *err)
{
    const char *what = is_output ? "output" : "input";
    int32_t n = is_output ? m->n_outputs : m->n_inputs;
    uint64_t start = (uint64_t)(is_output ? m->outputs_index : m->inputs_index);
    for (int32_t i = 0; i < n; i++) {
        int32_t t = index_at(m, start + (uint64_t)i);
        if (t < 0 || t >= m->n_tensors)
            return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: graph %s %ld is tensor %ld, outside [0, %ld)", what, (long)i,
                            (long)t, (long)m->n_tensors);
        fgq_file_tensor ft;
        read_tensor(m, t, &ft);
        if (is_output ? !(ft.flags & FGQ_FT_GRAPH_OUTPUT) : ft.kind != FGQ_KIND_INPUT)
            return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: graph %s %ld: tensor " NAME_FMT " is not marked as one", what,
                            (long)i, NAME_ARGS(m, ft.name_off, ft.name_len));
        for (int32_t k = 0; k < i; k++)
            if (index_at(m, start + (uint64_t)k) == t)
                return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: tensor " NAME_FMT " is listed twice as a graph %s",
                                NAME_ARGS(m, ft.name_off, ft.name_len), what);
    }
    /* distinct members, all marked, and as many as marked: the list is exactly the marked set */
    if (n != n_kind)
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: %ld tensors are marked as graph %ss but the list has %ld",
                        (long)n_kind, what, (long)n);
    return FGQ_OK;
}

/* ---- pass 4: nodes in order ---------------------------------------------- */

static void tensor_view(const fgq_file_tensor *ft, fgq_tensor_view *v)
{
    v->dtype = (fgq_dtype)ft->dtype;
    v->rank = ft->rank;
    for (int d = 0; d < FGQ_MAX_DIMS; d++)
        v->dims[d] = ft->dims[d];
    v->data = NULL;
}

/* Checks node j and records what running it takes (max_node_io, scratch_need). */
static LOAD_PASS fgq_status check_node(fgq_model *m, int32_t j, fgq_error *err)
{
    fgq_file_node fn;
    fgq_file_node_decode(m->base + m->nodes_off + NREC * (uint64_t)j, &fn); /* parameters once checked */
    if (!range_ok(fn.name_off, fn.name_len, m->strings_size))
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: node %ld: name [%lu, +%lu) exceeds the %llu-byte string section",
                        (long)j, (unsigned long)fn.name_off, (unsigned long)fn.name_len,
                        (unsigned long long)m->strings_size);
    fgq_error detail;
    fgq_error_clear(&detail);
#define NFAIL(status, ...)                                                                                     \
    fgq_fail(err, status, "fgq: node %ld " NAME_FMT ": %s", (long)j, NAME_ARGS(m, fn.name_off, fn.name_len), \
             (fgq_fail(&detail, status, __VA_ARGS__), detail.msg))
    if (fn.n_iparams > FGQ_NODE_MAX_IPARAMS || fn.n_fparams > FGQ_NODE_MAX_FPARAMS ||
        (uint64_t)fn.params_index + fn.n_iparams + fn.n_fparams > (uint64_t)m->n_index)
        return NFAIL(FGQ_ERR_FORMAT, "%lu + %lu parameters at index %lu: over %d + %d or past the %ld-entry index",
                     (unsigned long)fn.n_iparams, (unsigned long)fn.n_fparams, (unsigned long)fn.params_index,
                     FGQ_NODE_MAX_IPARAMS, FGQ_NODE_MAX_FPARAMS, (long)m->n_index);
    fgq_file_node_params(m->base + m->index_off, &fn);
    if (fn.n_inputs > FGQ_MAX_NODE_INPUTS || fn.n_outputs < 1 || fn.n_outputs > FGQ_MAX_NODE_OUTPUTS)
        return NFAIL(FGQ_ERR_FORMAT, "%lu inputs / %lu outputs, limits are %d / [1, %d]", (unsigned long)fn.n_inputs,
                     (unsigned long)fn.n_outputs, FGQ_MAX_NODE_INPUTS, FGQ_MAX_NODE_OUTPUTS);
    if ((uint64_t)fn.io_index + fn.n_inputs + fn.n_outputs > (uint64_t)m->n_index)
        return NFAIL(FGQ_ERR_FORMAT, "io list [%lu, +%lu) exceeds the %ld-entry index", (unsigned long)fn.io_index,
                     (unsigned long)(fn.n_inputs + fn.n_outputs), (long)m->n_index);
    if (fn.op == FGQ_OP_INVALID || fn.op >= (uint32_t)FGQ_OP_COUNT_)
        return NFAIL(FGQ_ERR_FORMAT, "unknown op %lu", (unsigned long)fn.op);
    const fgq_op_impl *impl = fgq_op_lookup(fn.op);
    if (impl == NULL)
        return NFAIL(FGQ_ERR_UNSUPPORTED, "op %s (%lu) is not in this runtime build (FGQ_OP_SELECTION)",
                     fgq_op_name((fgq_op)fn.op), (unsigned long)fn.op);
    if ((int32_t)fn.n_inputs < impl->min_inputs || (impl->max_inputs >= 0 && (int32_t)fn.n_inputs > impl->max_inputs))
        return NFAIL(FGQ_ERR_FORMAT, "%s takes %ld..%ld inputs, node has %lu", impl->name, (long)impl->min_inputs,
                     (long)impl->max_inputs, (unsigned long)fn.n_inputs);

    if (fn.n_inputs + fn.n_outputs > FGQ_LOAD_VIEWS)
        return NFAIL(FGQ_ERR_UNSUPPORTED,
                     "%lu inputs and outputs, and this runtime build checks at most %d (FGQ_LOAD_VIEWS: build it "
                     "with -DFGQ_LOAD_VIEWS=%lu or more; export --c writes the model's need, NAME_MAX_NODE_VIEWS)",
                     (unsigned long)(fn.n_inputs + fn.n_outputs), FGQ_LOAD_VIEWS,
                     (unsigned long)(fn.n_inputs + fn.n_outputs));
    fgq_tensor_view *views = m->load_views; /* in the record, off the stack */
    const fgq_tensor_view *in[FGQ_MAX_NODE_INPUTS];
    const fgq_tensor_view *out[FGQ_MAX_NODE_OUTPUTS];
    for (uint32_t i = 0; i < fn.n_inputs; i++) {
        int32_t t = index_at(m, (uint64_t)fn.io_index + i);
        in[i] = NULL;
        if (t == -1)
            continue;
        if (t < 0 || t >= m->n_tensors)
            return NFAIL(FGQ_ERR_FORMAT, "input %lu is tensor %ld, outside [0, %ld)", (unsigned long)i, (long)t,
                         (long)m->n_tensors);
        fgq_file_tensor ft;
        read_tensor(m, t, &ft);
        if (ft.kind == FGQ_KIND_INTERMEDIATE && ft.first_node >= j)
            return NFAIL(FGQ_ERR_FORMAT, "reads tensor " NAME_FMT " before it is produced (cycle or bad node order)",
                         NAME_ARGS(m, ft.name_off, ft.name_len));
        if (ft.kind != FGQ_KIND_CONST && ft.last_node < j)
            return NFAIL(FGQ_ERR_FORMAT, "reads tensor " NAME_FMT " after its planned lifetime ends at node %ld",
                         NAME_ARGS(m, ft.name_off, ft.name_len), (long)ft.last_node);
        tensor_view(&ft, &views[i]);
        if (ft.kind == FGQ_KIND_CONST) /* in the file (pass 2 bounded it): checks may read constants */
            views[i].data = (void *)(uintptr_t)(m->base + ft.data_off); /* read only, as in run.c */
        in[i] = &views[i];
    }
    for (uint32_t o = 0; o < fn.n_outputs; o++) {
        int32_t t = index_at(m, (uint64_t)fn.io_index + fn.n_inputs + o);
        if (t < 0 || t >= m->n_tensors)
            return NFAIL(FGQ_ERR_FORMAT, "output %lu is tensor %ld, outside [0, %ld)", (unsigned long)o, (long)t,
                         (long)m->n_tensors);
        fgq_file_tensor ft;
        read_tensor(m, t, &ft);
        if (ft.kind != FGQ_KIND_INTERMEDIATE)
            return NFAIL(FGQ_ERR_FORMAT, "writes %s tensor " NAME_FMT,
                         ft.kind == FGQ_KIND_CONST ? "constant" : "graph input", NAME_ARGS(m, ft.name_off, ft.name_len));
        if (ft.first_node != j)
            return NFAIL(FGQ_ERR_FORMAT, "writes tensor " NAME_FMT " whose producer is recorded as node %ld",
                         NAME_ARGS(m, ft.name_off, ft.name_len), (long)ft.first_node);
        for (uint32_t k = 0; k < o; k++)
            if (index_at(m, (uint64_t)fn.io_index + fn.n_inputs + k) == t)
                return NFAIL(FGQ_ERR_FORMAT, "writes tensor " NAME_FMT " twice", NAME_ARGS(m, ft.name_off, ft.name_len));
        tensor_view(&ft, &views[fn.n_inputs + o]);
        out[o] = &views[fn.n_inputs + o];
    }
#undef NFAIL
    fgq_node_view nv = {
        .name = (const char *)(m->base + m->strings_off + fn.name_off),
        .name_len = fn.name_len,
        .op = (fgq_op)fn.op,
        .n_inputs = (int32_t)fn.n_inputs,
        .n_outputs = (int32_t)fn.n_outputs,
        .iparams = fn.iparams,
        .fparams = fn.fparams,
    };
    fgq_status st = impl->check(&nv, in, out, err);
    if (st != FGQ_OK) /* checks name the node themselves; make sure a message exists */
        return fgq_fail(err, st, "fgq: node %ld " NAME_FMT " (%s): rejected by the op check", (long)j,
                        NAME_ARGS(m, fn.name_off, fn.name_len), impl->name);
    const uint64_t need = impl->scratch != NULL ? impl->scratch(&nv, in, out, m->target) : 0;
    if (need > ((uint64_t)1 << 40)) /* keeps the arena sums far from overflow */
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "fgq: node %ld " NAME_FMT " (%s): %llu bytes of scratch", (long)j,
                        NAME_ARGS(m, fn.name_off, fn.name_len), impl->name, (unsigned long long)need);
    if (need > m->scratch_need)
        m->scratch_need = need;
    const uint64_t records = fgq_plan_align((uint64_t)m->target->view_bytes * (fn.n_inputs + fn.n_outputs));
    if (records > m->records_size)
        m->records_size = records;
    return FGQ_OK;
}

/* ---- pass 5: lifetimes against the graph ---------------------------------- */

/* Does node j list tensor t among its inputs (want_output 0) or outputs (1)? */
static int node_lists(const fgq_model *m, int32_t j, int32_t t, int want_output)
{
    fgq_file_node fn;
    read_node(m, j, &fn);
    uint64_t begin = fn.io_index + (want_output ? fn.n_inputs : 0);
    uint32_t count = want_output ? fn.n_outputs : fn.n_inputs;
    for (uint32_t i = 0; i < count; i++)
        if (index_at(m, begin + i) == t)
            return 1;
    return 0;
}

static LOAD_PASS fgq_status check_lifetime(const fgq_model *m, int32_t t, fgq_error *err)
{
    fgq_file_tensor ft;
    read_tensor(m, t, &ft);
    if (ft.kind == FGQ_KIND_CONST)
        return FGQ_OK;
    if (ft.kind == FGQ_KIND_INPUT) {
        if (ft.first_node != 0)
            return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: graph input " NAME_FMT " has first_node %ld, expected 0",
                            NAME_ARGS(m, ft.name_off, ft.name_len), (long)ft.first_node);
    } else if (ft.first_node < 0 || ft.first_node >= m->n_nodes || !node_lists(m, ft.first_node, t, 1)) {
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: tensor " NAME_FMT " is not produced by any node (first_node %ld)",
                        NAME_ARGS(m, ft.name_off, ft.name_len), (long)ft.first_node);
    }
    /* Pass 4 proved every reader j has j <= last_node; here last_node must be
     * one of: the end (graph output), a reader, or first_node (no later reader). */
    int32_t end = m->n_nodes > 0 ? m->n_nodes - 1 : 0;
    int ok;
    if (ft.flags & FGQ_FT_GRAPH_OUTPUT)
        ok = ft.last_node == end;
    else
        ok = ft.last_node == ft.first_node ||
             (ft.last_node > ft.first_node && ft.last_node < m->n_nodes && node_lists(m, ft.last_node, t, 0));
    if (!ok)
        return fgq_fail(err, FGQ_ERR_FORMAT,
                        "fgq: tensor " NAME_FMT " has last_node %ld, which is not its last reader%s",
                        NAME_ARGS(m, ft.name_off, ft.name_len), (long)ft.last_node,
                        (ft.flags & FGQ_FT_GRAPH_OUTPUT) ? " (graph outputs live to the last node)" : "");
    return FGQ_OK;
}

/* ---- pass 6: the memory plan ---------------------------------------------- */

static LOAD_PASS fgq_status check_plan(fgq_model *m, fgq_error *err)
{
    uint64_t lower = 0, extent = 0;
    for (int32_t a = 0; a < m->n_tensors; a++) {
        if (t_kind(m, a) == FGQ_KIND_CONST)
            continue;
        int32_t fa = t_first(m, a), la = t_last(m, a);
        uint64_t oa = t_off(m, a), sa = t_size(m, a);
        if (sa > 0 && oa + sa > extent) /* pass 2 proved oa + sa <= arena_size */
            extent = oa + sa;
        uint64_t live = 0; /* bytes live at step fa: the max is reached at some first_node */
        for (int32_t b = 0; b < m->n_tensors; b++) {
            if (t_kind(m, b) == FGQ_KIND_CONST)
                continue;
            int32_t fb = t_first(m, b), lb = t_last(m, b);
            uint64_t sb = t_size(m, b);
            if (fb <= fa && fa <= lb) { /* saturating: hostile sizes near 2^64 must not wrap */
                uint64_t s = fgq_plan_align(sb);
                live = live > UINT64_MAX - s ? UINT64_MAX : live + s;
            }
            if (b <= a || fa > lb || fb > la || sa == 0 || sb == 0)
                continue;
            uint64_t ob = t_off(m, b);
            if (oa < ob + sb && ob < oa + sa) { /* both within arena_size: no overflow */
                fgq_file_tensor ta, tb;
                read_tensor(m, a, &ta);
                read_tensor(m, b, &tb);
                int32_t step = fa > fb ? fa : fb;
                return fgq_fail(err, FGQ_ERR_FORMAT,
                                "fgq: memory plan: tensors " NAME_FMT " [%llu, +%llu) and " NAME_FMT
                                " [%llu, +%llu) overlap while both live at node %ld",
                                NAME_ARGS(m, ta.name_off, ta.name_len), (unsigned long long)oa, (unsigned long long)sa,
                                NAME_ARGS(m, tb.name_off, tb.name_len), (unsigned long long)ob, (unsigned long long)sb,
                                (long)step);
            }
        }
        if (live > lower)
            lower = live;
    }
    /* The planner's arena is the highest slot end rounded up to 64; a larger
     * arena_size would only make callers allocate what no tensor uses. */
    if (m->arena_size > fgq_plan_align(extent))
        return fgq_fail(err, FGQ_ERR_FORMAT, "fgq: arena_size %llu exceeds the %llu bytes the memory plan uses",
                        (unsigned long long)m->arena_size, (unsigned long long)fgq_plan_align(extent));
    m->arena_lower_bound = lower;
    return FGQ_OK;
}

/* 1 when t is one of the profiles target.c defines: the ops divide by their tiles and
 * multiply them into int64 sizes, which only those rows are known to keep sound. */
static int target_known(const fgq_target *t)
{
    for (int32_t i = 0; fgq_target_at(i) != NULL; i++)
        if (t == fgq_target_at(i))
            return 1;
    return 0;
}

/* Both loads; fn names the one the caller called, for the messages. */
static fgq_status model_load(fgq_model *m, const void *buf, uint64_t size, const fgq_target *target, const char *fn,
                             fgq_error *err)
{
    if (m == NULL || buf == NULL || target == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: NULL model, buffer or target", fn);
    memset(m, 0, sizeof *m);
    if (!target_known(target))
        return fgq_fail(err, FGQ_ERR_VALUE,
                        "%s: the target at %p is not one of this runtime's profiles (take it from fgq_target_find)",
                        fn, (const void *)target);
    m->target = target; /* what check_node sizes the records and scratch with */
    if ((uintptr_t)buf % FGQ_MODEL_ALIGN != 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: buffer at %p is not %u-byte aligned", fn, buf, FGQ_MODEL_ALIGN);
    if (!host_is_little_endian())
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: big-endian hosts are not supported", fn);
    fgq_status st = load_header(m, (const uint8_t *)buf, size, err);
    if (st != FGQ_OK)
        return st;
    /* cpuid traps to the hypervisor in a VM (microseconds): once here, not per node */
    m->cpu = fgq_cpu_features();
    int32_t n_input_kind = 0, n_output_flag = 0;
    for (int32_t t = 0; t < m->n_tensors; t++)
        if ((st = check_tensor(m, t, &n_input_kind, &n_output_flag, err)) != FGQ_OK)
            return st;
    if ((st = check_io_list(m, 0, n_input_kind, err)) != FGQ_OK || (st = check_io_list(m, 1, n_output_flag, err)) != FGQ_OK)
        return st;
    for (int32_t j = 0; j < m->n_nodes; j++)
        if ((st = check_node(m, j, err)) != FGQ_OK)
            return st;
    for (int32_t t = 0; t < m->n_tensors; t++)
        if ((st = check_lifetime(m, t, err)) != FGQ_OK)
            return st;
    return check_plan(m, err);
}

/* model_load, and on failure a record no call takes for loaded (base NULL: fgq_model_run refuses
 * it), so a caller that ignores the status cannot run unchecked records. */
static fgq_status model_load_checked(fgq_model *m, size_t record_bytes, const void *buf, uint64_t size,
                                     const fgq_target *target, const char *fn, fgq_error *err)
{
    if (record_bytes != sizeof(fgq_model)) /* *m is not ours to write: another FGQ_LOAD_VIEWS */
        return fgq_fail(err, FGQ_ERR_VALUE,
                        "%s: the caller's fgq_model is %lu bytes, this runtime's %lu: build every file with the "
                        "same FGQ_LOAD_VIEWS (this runtime: %d)",
                        fn, (unsigned long)record_bytes, (unsigned long)sizeof(fgq_model), FGQ_LOAD_VIEWS);
    const fgq_status st = model_load(m, buf, size, target, fn, err);
    if (st != FGQ_OK && m != NULL)
        memset(m, 0, sizeof *m); /* no counts left either: the getters' bounds checks refuse */
    return st;
}

uint32_t fgq_model_grant_cpu(fgq_model *m, uint32_t features)
{
    if (m == NULL)
        return 0;
    if (m->cpu != 0)
        m->cpu |= features & fgq_cpu_grantable();
    return m->cpu;
}

fgq_status fgq_model_load_rec(fgq_model *m, size_t record_bytes, const void *buf, uint64_t size, fgq_error *err)
{
    return model_load_checked(m, record_bytes, buf, size, fgq_target_build(), "fgq_model_load", err);
}

fgq_status fgq_model_load_target_rec(fgq_model *m, size_t record_bytes, const void *buf, uint64_t size,
                                     const fgq_target *target, fgq_error *err)
{
    return model_load_checked(m, record_bytes, buf, size, target, "fgq_model_load_target", err);
}

/* ---- getters -------------------------------------------------------------- */

uint64_t fgq_model_activation_size(const fgq_model *m) { return m->arena_size; }
uint64_t fgq_model_scratch_size(const fgq_model *m) { return fgq_scratch_stride(m->scratch_need); }

uint64_t fgq_model_arena_size_threads(const fgq_model *m, int32_t n_threads)
{
    const uint64_t n = n_threads > 1 ? (uint64_t)n_threads : 1u, slice = fgq_scratch_stride(m->scratch_need);
    if (m->records_off > UINT64_MAX - m->records_size) /* a hostile plan's offsets may be huge */
        return UINT64_MAX;
    const uint64_t fixed = m->records_off + m->records_size;
    if (slice != 0 && n > (UINT64_MAX - fixed) / slice)
        return UINT64_MAX;
    return fixed + n * slice;
}

uint64_t fgq_model_arena_size(const fgq_model *m) { return fgq_model_arena_size_threads(m, 1); }
uint64_t fgq_model_arena_lower_bound(const fgq_model *m) { return m->arena_lower_bound; }
uint64_t fgq_model_weight_bytes(const fgq_model *m) { return m->weight_bytes; }
const fgq_target *fgq_model_target(const fgq_model *m) { return m->target; }
int32_t fgq_model_n_inputs(const fgq_model *m) { return m->n_inputs; }
int32_t fgq_model_n_outputs(const fgq_model *m) { return m->n_outputs; }
int32_t fgq_model_n_tensors(const fgq_model *m) { return m->n_tensors; }
int32_t fgq_model_n_nodes(const fgq_model *m) { return m->n_nodes; }

int32_t fgq_model_input_tensor(const fgq_model *m, int32_t i)
{
    return i >= 0 && i < m->n_inputs ? index_at(m, (uint64_t)m->inputs_index + (uint64_t)i) : -1;
}

int32_t fgq_model_output_tensor(const fgq_model *m, int32_t i)
{
    return i >= 0 && i < m->n_outputs ? index_at(m, (uint64_t)m->outputs_index + (uint64_t)i) : -1;
}

fgq_status fgq_model_tensor_info(const fgq_model *m, int32_t t, fgq_tensor_info *info)
{
    if (t < 0 || t >= m->n_tensors || info == NULL)
        return FGQ_ERR_VALUE;
    fgq_file_tensor ft;
    read_tensor(m, t, &ft);
    info->name = (const char *)(m->base + m->strings_off + ft.name_off);
    info->name_len = ft.name_len;
    info->dtype = (fgq_dtype)ft.dtype;
    info->rank = ft.rank;
    for (int d = 0; d < FGQ_MAX_DIMS; d++)
        info->dims[d] = ft.dims[d];
    info->size_bytes = ft.data_size;
    return FGQ_OK;
}

fgq_status fgq_model_input_info(const fgq_model *m, int32_t i, fgq_tensor_info *info)
{
    return fgq_model_tensor_info(m, fgq_model_input_tensor(m, i), info);
}

fgq_status fgq_model_output_info(const fgq_model *m, int32_t i, fgq_tensor_info *info)
{
    return fgq_model_tensor_info(m, fgq_model_output_tensor(m, i), info);
}

int32_t fgq_model_tensor_kind(const fgq_model *m, int32_t t)
{
    return t >= 0 && t < m->n_tensors ? (int32_t)t_kind(m, t) : -1;
}

const void *fgq_model_tensor_data(const fgq_model *m, int32_t t)
{
    if (fgq_model_tensor_kind(m, t) != FGQ_KIND_CONST)
        return NULL;
    return m->base + t_off(m, t);
}

fgq_status fgq_model_tensor_qparams(const fgq_model *m, int32_t t, fgq_tensor_qparams *q)
{
    if (t < 0 || t >= m->n_tensors || q == NULL)
        return FGQ_ERR_VALUE;
    fgq_file_tensor ft;
    read_tensor(m, t, &ft);
    q->n_scales = ft.q_n_scales;
    q->axis = ft.q_axis;
    q->group_size = ft.q_group_size;
    /* validated: q_off blob-aligned (>= 8) inside the file; the buffer is 64-aligned */
    q->scales = ft.q_n_scales > 0 ? (const float *)(const void *)(m->base + ft.q_off) : NULL;
    q->zero_points = ft.q_n_scales > 0 ? (const int32_t *)(const void *)(m->base + ft.q_off + 4 * (uint64_t)ft.q_n_scales)
                                       : NULL;
    return FGQ_OK;
}

fgq_status fgq_model_node_info(const fgq_model *m, int32_t node, fgq_node_info *info)
{
    if (node < 0 || node >= m->n_nodes || info == NULL)
        return FGQ_ERR_VALUE;
    fgq_file_node fn;
    read_node(m, node, &fn);
    memset(info, 0, sizeof *info);
    info->name = (const char *)(m->base + m->strings_off + fn.name_off);
    info->name_len = fn.name_len;
    info->op = (fgq_op)fn.op;
    info->n_inputs = (int32_t)fn.n_inputs;
    info->n_outputs = (int32_t)fn.n_outputs;
    for (uint32_t i = 0; i < fn.n_inputs; i++)
        info->inputs[i] = index_at(m, (uint64_t)fn.io_index + i);
    for (uint32_t o = 0; o < fn.n_outputs; o++)
        info->outputs[o] = index_at(m, (uint64_t)fn.io_index + fn.n_inputs + o);
    memcpy(info->iparams, fn.iparams, sizeof info->iparams);
    memcpy(info->fparams, fn.fparams, sizeof info->fparams);
    return FGQ_OK;
}
