/* fgq_compact.c — a loaded model's bytes re-laid as a device image (fgq_compact.h). */
#include "export/fgq_compact.h"

#include "export/fgq_le.h"

#include <stdlib.h>
#include <string.h>

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

/* Does the image keep tensor t's quantization parameters? The graph's inputs and outputs:
 * a firmware reads their scales (fgq_model_tensor_qparams) to quantize inputs, dequantize outputs. */
static int keeps_qparams(const fgq_file_tensor *ft)
{
    return ft->kind == FGQ_KIND_INPUT || (ft->flags & FGQ_FT_GRAPH_OUTPUT) != 0;
}

/* Node fn's WSUM slot (its input number: QGEMM's 5, QGEMM_DYN's 7; docs/quantized-ops.md §3.1,
 * §8), or UINT32_MAX where it has none. */
static uint32_t wsum_slot(const fgq_file_node *fn)
{
    const uint32_t at = fn->op == FGQ_OP_QGEMM ? 5 : fn->op == FGQ_OP_QGEMM_DYN ? 7 : UINT32_MAX;
    return at != UINT32_MAX && fn->n_inputs > at ? at : UINT32_MAX;
}

static void saturating_add(uint8_t *c)
{
    *c = (uint8_t)(*c < 255 ? *c + 1 : 255);
}

/* drop[t] = 1 for each tensor t the image leaves out: a WSUM as `fgq quantize` writes it — an s32
 * [rows] constant that one node reads, in its WSUM slot, and nothing else reads (no other input of
 * any node, not a graph output), whose dims entry no other record shares (the image writes a 0
 * there). One pass over the records: O(tensors + inputs + index). */
static fgq_status wsum_drops(const fgq_model *m, uint8_t *drop, fgq_error *err)
{
    const uint8_t *index = m->base + m->index_off;
    const size_t nt = (size_t)m->n_tensors + 1, ni = (size_t)m->n_index + 1;
    uint8_t *as_wsum = calloc(nt, 1), *other = calloc(nt, 1), *entry_users = calloc(ni, 1);
    fgq_status st = FGQ_OK;
    if (as_wsum == NULL || other == NULL || entry_users == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "fgq_compact_model: out of memory");
        goto done;
    }
    for (int32_t i = 0; i < m->n_nodes; i++) {
        fgq_file_node fn;
        fgq_file_node_decode(m->base + m->nodes_off + (uint64_t)i * sizeof(fgq_disk_node), &fn);
        const uint32_t at = wsum_slot(&fn);
        for (uint32_t j = 0; j < fn.n_inputs; j++) {
            const int32_t t = (int32_t)fgq_read_u32le(index + 4 * ((uint64_t)fn.io_index + j));
            if (t >= 0 && t < m->n_tensors)
                saturating_add(j == at ? &as_wsum[t] : &other[t]);
        }
        /* the entries the node's lists and parameters take (loaded: within the index) */
        const uint64_t io_end = (uint64_t)fn.io_index + fn.n_inputs + fn.n_outputs;
        for (uint64_t e = fn.io_index; e < io_end; e++)
            saturating_add(&entry_users[e]);
        for (uint64_t e = fn.params_index; e < (uint64_t)fn.params_index + fn.n_iparams + fn.n_fparams; e++)
            saturating_add(&entry_users[e]);
    }
    for (int32_t t = 0; t < m->n_tensors; t++) {
        fgq_file_tensor ft;
        fgq_file_tensor_decode(m->base + m->tensors_off + (uint64_t)t * sizeof(fgq_disk_tensor), &ft);
        for (uint64_t e = ft.dims_index; e < (uint64_t)ft.dims_index + (uint64_t)ft.rank; e++)
            saturating_add(&entry_users[e]);
    }
    for (int32_t k = 0; k < m->n_inputs; k++) /* the graph's input and output lists */
        saturating_add(&entry_users[(uint64_t)m->inputs_index + (uint64_t)k]);
    for (int32_t k = 0; k < m->n_outputs; k++)
        saturating_add(&entry_users[(uint64_t)m->outputs_index + (uint64_t)k]);
    for (int32_t t = 0; t < m->n_tensors; t++) {
        fgq_file_tensor ft;
        fgq_file_tensor_decode(m->base + m->tensors_off + (uint64_t)t * sizeof(fgq_disk_tensor), &ft);
        drop[t] = (uint8_t)(as_wsum[t] == 1 && other[t] == 0 && ft.kind == FGQ_KIND_CONST &&
                            (ft.flags & FGQ_FT_GRAPH_OUTPUT) == 0 && ft.dtype == FGQ_DT_S32 && ft.rank == 1 &&
                            entry_users[ft.dims_index] == 1);
    }
done:
    free(as_wsum);
    free(other);
    free(entry_users);
    return st;
}

/* Lays the image out (buf NULL: only its size). Sections in the source's order of the format:
 * header, tensors, nodes, index, strings at 64; then the blobs, tensor by tensor. */
static uint64_t lay_out(const fgq_model *m, uint32_t align, const uint8_t *drop, uint8_t *buf)
{
    const uint8_t *src = m->base;
    const uint64_t tensors_off = sizeof(fgq_file_header);
    const uint64_t nodes_off = align_up(tensors_off + (uint64_t)m->n_tensors * sizeof(fgq_disk_tensor), FGQ_FILE_ALIGN);
    const uint64_t index_off = align_up(nodes_off + (uint64_t)m->n_nodes * sizeof(fgq_disk_node), FGQ_FILE_ALIGN);
    const uint64_t strings_off = align_up(index_off + 4 * (uint64_t)m->n_index, FGQ_FILE_ALIGN);
    uint64_t pos = strings_off + m->strings_size;
    if (buf != NULL) {
        memcpy(buf + tensors_off, src + m->tensors_off, (size_t)m->n_tensors * sizeof(fgq_disk_tensor));
        memcpy(buf + nodes_off, src + m->nodes_off, (size_t)m->n_nodes * sizeof(fgq_disk_node));
        memcpy(buf + index_off, src + m->index_off, 4 * (size_t)m->n_index);
        memcpy(buf + strings_off, src + m->strings_off, (size_t)m->strings_size);
    }
    if (drop != NULL && buf != NULL) /* the WSUM inputs the image leaves out: omitted (their tensors below) */
        for (int32_t i = 0; i < m->n_nodes; i++) {
            fgq_file_node fn;
            fgq_file_node_decode(src + m->nodes_off + (uint64_t)i * sizeof(fgq_disk_node), &fn);
            const uint32_t at = wsum_slot(&fn);
            const uint64_t e = (uint64_t)fn.io_index + at;
            const int32_t t = at != UINT32_MAX ? (int32_t)fgq_read_u32le(src + m->index_off + 4 * e) : -1;
            if (t >= 0 && t < m->n_tensors && drop[t])
                fgq_put_s32(buf + index_off + 4 * e, -1);
        }
    for (int32_t t = 0; t < m->n_tensors; t++) {
        fgq_file_tensor ft;
        fgq_file_tensor_decode(src + m->tensors_off + (uint64_t)t * sizeof(fgq_disk_tensor), &ft);
        uint8_t *r = buf != NULL ? buf + tensors_off + (uint64_t)t * sizeof(fgq_disk_tensor) : NULL;
        if (drop != NULL && drop[t]) { /* an empty constant: its dim 0, no blob (its q params: below) */
            if (r != NULL) {
                fgq_put_s32(buf + index_off + 4 * (uint64_t)ft.dims_index, 0);
                FGQ_W64(r, fgq_disk_tensor, data_off, 0);
                FGQ_W64(r, fgq_disk_tensor, data_size, 0);
            }
        } else if (ft.kind == FGQ_KIND_CONST) {
            pos = align_up(pos, align);
            if (r != NULL) {
                memcpy(buf + pos, src + ft.data_off, (size_t)ft.data_size);
                FGQ_W64(r, fgq_disk_tensor, data_off, pos);
            }
            pos += ft.data_size;
        }
        if (ft.q_n_scales > 0 && keeps_qparams(&ft)) {
            pos = align_up(pos, align);
            if (r != NULL) {
                memcpy(buf + pos, src + ft.q_off, 8 * (size_t)ft.q_n_scales);
                FGQ_W64(r, fgq_disk_tensor, q_off, pos);
            }
            pos += 8 * (uint64_t)ft.q_n_scales;
        } else if (r != NULL) {
            FGQ_W64(r, fgq_disk_tensor, q_off, 0);
            FGQ_WS32(r, fgq_disk_tensor, q_n_scales, 0);
            FGQ_W8(r, fgq_disk_tensor, q_axis, 0);
            FGQ_WS32(r, fgq_disk_tensor, q_group_size, 0);
        }
    }
    uint64_t meta_off = 0, meta_size = 0;
    fgq_model_preprocess pre;
    if (fgq_model_get_preprocess(m, &pre)) { /* the preprocessing stays, the recipe goes */
        meta_off = align_up(pos, align);
        meta_size = sizeof(fgq_file_meta);
        if (buf != NULL) {
            memcpy(buf + meta_off, src + m->meta_off, sizeof(fgq_file_meta));
            FGQ_W32(buf + meta_off, fgq_file_meta, flags, FGQ_META_HAS_PREPROCESS);
        }
        pos = meta_off + meta_size;
    }
    const uint64_t size = align_up(pos, FGQ_FILE_ALIGN); /* the buffer's whole cache lines, as the writer's */
    if (buf != NULL) {
        memcpy(buf, src, sizeof(fgq_file_header));
        FGQ_W64(buf, fgq_file_header, file_size, size);
        FGQ_W32(buf, fgq_file_header, tensors_off, tensors_off);
        FGQ_W32(buf, fgq_file_header, nodes_off, nodes_off);
        FGQ_W32(buf, fgq_file_header, index_off, index_off);
        FGQ_W32(buf, fgq_file_header, strings_off, strings_off);
        FGQ_W32(buf, fgq_file_header, meta_off, meta_off);
        FGQ_W32(buf, fgq_file_header, meta_size, meta_size);
        FGQ_W32(buf, fgq_file_header, blob_align, align);
        FGQ_W32(buf, fgq_file_header, checksum, fgq_fnv1a32(buf + sizeof(fgq_file_header), size - sizeof(fgq_file_header)));
    }
    return size;
}

fgq_status fgq_compact_model(const fgq_model *m, uint32_t align, int keep_wsum, uint8_t **out, uint64_t *out_size,
                             fgq_error *err)
{
    *out = NULL;
    *out_size = 0;
    if (m == NULL || m->base == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_compact_model: no loaded model");
    if (align < FGQ_FILE_MIN_BLOB_ALIGN || align > FGQ_FILE_ALIGN || (align & (align - 1)) != 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_compact_model: blob alignment %lu is not a power of two in [%u, %u]",
                        (unsigned long)align, FGQ_FILE_MIN_BLOB_ALIGN, FGQ_FILE_ALIGN);
    uint8_t *drop = NULL;
    if (!keep_wsum) {
        drop = malloc((size_t)m->n_tensors + 1);
        fgq_status st = drop != NULL ? wsum_drops(m, drop, err)
                                     : fgq_fail(err, FGQ_ERR_NOMEM, "fgq_compact_model: out of memory");
        if (st != FGQ_OK) {
            free(drop);
            return st;
        }
    }
    const uint64_t size = lay_out(m, align, drop, NULL);
    uint8_t *buf = aligned_alloc(FGQ_FILE_ALIGN, (size_t)size);
    if (buf == NULL) {
        free(drop);
        return fgq_fail(err, FGQ_ERR_NOMEM, "fgq_compact_model: cannot allocate %llu bytes", (unsigned long long)size);
    }
    memset(buf, 0, (size_t)size);
    lay_out(m, align, drop, buf);
    free(drop);
    *out = buf;
    *out_size = size;
    return FGQ_OK;
}
