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

static int64_t s64_of(uint64_t u)
{
    int64_t v;
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
    for (int i = 0; i < (int)(sizeof h->reserved / sizeof h->reserved[0]); i++)
        h->reserved[i] = fgq_read_u32le(r + offsetof(fgq_file_header, reserved) + 4 * (size_t)i);
}

void fgq_file_tensor_decode(const void *p, fgq_file_tensor *t)
{
    const uint8_t *r = (const uint8_t *)p;
    t->name_off = U32(r, fgq_file_tensor, name_off);
    t->name_len = U32(r, fgq_file_tensor, name_len);
    t->dtype = U32(r, fgq_file_tensor, dtype);
    t->kind = U32(r, fgq_file_tensor, kind);
    t->rank = s32_of(U32(r, fgq_file_tensor, rank));
    t->flags = U32(r, fgq_file_tensor, flags);
    for (int i = 0; i < FGQ_MAX_DIMS; i++)
        t->dims[i] = s64_of(fgq_read_u64le(r + offsetof(fgq_file_tensor, dims) + 8 * (size_t)i));
    t->data_off = U64(r, fgq_file_tensor, data_off);
    t->data_size = U64(r, fgq_file_tensor, data_size);
    t->first_node = s32_of(U32(r, fgq_file_tensor, first_node));
    t->last_node = s32_of(U32(r, fgq_file_tensor, last_node));
    t->q_off = U64(r, fgq_file_tensor, q_off);
    t->q_n_scales = s32_of(U32(r, fgq_file_tensor, q_n_scales));
    t->q_axis = s32_of(U32(r, fgq_file_tensor, q_axis));
    t->q_group_size = s32_of(U32(r, fgq_file_tensor, q_group_size));
    for (int i = 0; i < (int)(sizeof t->reserved / sizeof t->reserved[0]); i++)
        t->reserved[i] = fgq_read_u32le(r + offsetof(fgq_file_tensor, reserved) + 4 * (size_t)i);
}

void fgq_file_node_decode(const void *p, fgq_file_node *n)
{
    const uint8_t *r = (const uint8_t *)p;
    n->name_off = U32(r, fgq_file_node, name_off);
    n->name_len = U32(r, fgq_file_node, name_len);
    n->op = U32(r, fgq_file_node, op);
    n->n_inputs = U32(r, fgq_file_node, n_inputs);
    n->n_outputs = U32(r, fgq_file_node, n_outputs);
    n->io_index = U32(r, fgq_file_node, io_index);
    for (int i = 0; i < FGQ_NODE_MAX_IPARAMS; i++)
        n->iparams[i] = s32_of(fgq_read_u32le(r + offsetof(fgq_file_node, iparams) + 4 * (size_t)i));
    for (int i = 0; i < FGQ_NODE_MAX_FPARAMS; i++)
        n->fparams[i] = f32_of(fgq_read_u32le(r + offsetof(fgq_file_node, fparams) + 4 * (size_t)i));
    for (int i = 0; i < 2; i++)
        n->reserved[i] = fgq_read_u32le(r + offsetof(fgq_file_node, reserved) + 4 * (size_t)i);
}
