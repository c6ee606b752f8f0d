/* format.c — the .fgq checksum and little-endian record decoding.
 *
 * Records are decoded field by field at the offsets of the fgq_format.h
 * structs (offsetof), byte by byte, so a record may sit at any address and
 * the file's byte order holds on any host. */
#include "fgq_runtime.h"

#include <stddef.h>
#include <string.h>

/* FNV-1a, 32-bit: h = (h XOR byte) * 16777619, starting from 2166136261. */
uint32_t fgq_fnv1a32(const void *data, uint64_t size)
{
    const uint8_t *p = (const uint8_t *)data;
    uint32_t h = 2166136261u;
    for (uint64_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}


/* Two's-complement reinterpretation without implementation-defined casts. */
static int32_t s32_of(uint32_t u)
{
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float f32_of(uint32_t u)
{
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

#define U32(rec, type, field) fgq_read_u32le((rec) + offsetof(type, field))
#define U64(rec, type, field) fgq_read_u64le((rec) + offsetof(type, field))

void fgq_file_header_decode(const void *p, fgq_file_header *h)
{
    const uint8_t *r = (const uint8_t *)p;
    memcpy(h->magic, r, sizeof h->magic);
    h->version = U32(r, fgq_file_header, version);
    h->checksum = U32(r, fgq_file_header, checksum);
    h->file_size = U64(r, fgq_file_header, file_size);
    h->n_tensors = U32(r, fgq_file_header, n_tensors);
    h->n_nodes = U32(r, fgq_file_header, n_nodes);
    h->n_inputs = U32(r, fgq_file_header, n_inputs);
    h->n_outputs = U32(r, fgq_file_header, n_outputs);
    h->tensors_off = U32(r, fgq_file_header, tensors_off);
    h->nodes_off = U32(r, fgq_file_header, nodes_off);
    h->index_off = U32(r, fgq_file_header, index_off);
    h->n_index = U32(r, fgq_file_header, n_index);
    h->strings_off = U32(r, fgq_file_header, strings_off);
    h->strings_size = U32(r, fgq_file_header, strings_size);
    h->inputs_index = U32(r, fgq_file_header, inputs_index);
    h->outputs_index = U32(r, fgq_file_header, outputs_index);
    h->arena_size = U64(r, fgq_file_header, arena_size);
    h->meta_off = U32(r, fgq_file_header, meta_off);
    h->meta_size = U32(r, fgq_file_header, meta_size);
    h->blob_align = U32(r, fgq_file_header, blob_align);
    for (int i = 0; i < (int)(sizeof h->reserved / sizeof h->reserved[0]); i++)
        h->reserved[i] = fgq_read_u32le(r + offsetof(fgq_file_header, reserved) + 4 * (size_t)i);
}

#define U8(rec, type, field) ((rec)[offsetof(type, field)])
#define U16(rec, type, field) ((uint32_t)(rec)[offsetof(type, field)] | (uint32_t)(rec)[offsetof(type, field) + 1] << 8)

void fgq_file_tensor_decode(const void *p, fgq_file_tensor *t)
{
    const uint8_t *r = (const uint8_t *)p;
    t->name_off = U32(r, fgq_disk_tensor, name_off);
    t->name_len = U16(r, fgq_disk_tensor, name_len);
    t->dtype = U8(r, fgq_disk_tensor, dtype);
    t->kind = U8(r, fgq_disk_tensor, kind);
    t->rank = (int32_t)U8(r, fgq_disk_tensor, rank);
    t->flags = U8(r, fgq_disk_tensor, flags);
    t->q_axis = (int32_t)U8(r, fgq_disk_tensor, q_axis) - (U8(r, fgq_disk_tensor, q_axis) >= 128 ? 256 : 0);
    t->reserved = U8(r, fgq_disk_tensor, reserved);
    t->q_n_scales = s32_of(U32(r, fgq_disk_tensor, q_n_scales));
    t->data_off = U64(r, fgq_disk_tensor, data_off);
    t->data_size = U64(r, fgq_disk_tensor, data_size);
    t->first_node = s32_of(U32(r, fgq_disk_tensor, first_node));
    t->last_node = s32_of(U32(r, fgq_disk_tensor, last_node));
    t->q_off = U64(r, fgq_disk_tensor, q_off);
    t->q_group_size = s32_of(U32(r, fgq_disk_tensor, q_group_size));
    t->dims_index = U32(r, fgq_disk_tensor, dims_index);
    for (int i = 0; i < FGQ_MAX_DIMS; i++)
        t->dims[i] = 0;
}

void fgq_file_tensor_dims(const void *index, fgq_file_tensor *t)
{
    const uint8_t *x = (const uint8_t *)index + 4 * (size_t)t->dims_index;
    for (int32_t d = 0; d < t->rank && d < FGQ_MAX_DIMS; d++)
        t->dims[d] = s32_of(fgq_read_u32le(x + 4 * (size_t)d));
}

void fgq_file_node_decode(const void *p, fgq_file_node *n)
{
    const uint8_t *r = (const uint8_t *)p;
    n->name_off = U32(r, fgq_disk_node, name_off);
    n->name_len = U16(r, fgq_disk_node, name_len);
    n->op = U16(r, fgq_disk_node, op);
    n->n_inputs = U8(r, fgq_disk_node, n_inputs);
    n->n_outputs = U8(r, fgq_disk_node, n_outputs);
    n->n_iparams = U8(r, fgq_disk_node, n_iparams);
    n->n_fparams = U8(r, fgq_disk_node, n_fparams);
    n->io_index = U32(r, fgq_disk_node, io_index);
    n->params_index = U32(r, fgq_disk_node, params_index);
    memset(n->iparams, 0, sizeof n->iparams);
    memset(n->fparams, 0, sizeof n->fparams);
}

void fgq_file_node_params(const void *index, fgq_file_node *n)
{
    const uint8_t *x = (const uint8_t *)index + 4 * (size_t)n->params_index;
    for (uint32_t i = 0; i < n->n_iparams && i < FGQ_NODE_MAX_IPARAMS; i++)
        n->iparams[i] = s32_of(fgq_read_u32le(x + 4 * (size_t)i));
    x += 4 * (size_t)n->n_iparams;
    for (uint32_t i = 0; i < n->n_fparams && i < FGQ_NODE_MAX_FPARAMS; i++)
        n->fparams[i] = f32_of(fgq_read_u32le(x + 4 * (size_t)i));
}
