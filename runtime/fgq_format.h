/*
 * fgq_format.h — the .fgq file layout (DESIGN §4). Shared by the writer
 * (tools/) and the reader (runtime/). Little-endian, versioned, read in place.
 *
 *   offset 0     fgq_file_header (128 bytes)
 *   tensors_off  n_tensors × fgq_file_tensor (192 bytes each)
 *   nodes_off    n_nodes × fgq_file_node (192 bytes each)
 *   index_off    n_index × int32: node input/output tensor lists, then graph
 *                inputs, then graph outputs (see header fields)
 *   strings_off  strings_size bytes of names, not NUL-terminated
 *   blobs        constant data and quantization parameters, each 64-byte aligned
 *
 * Every section offset is 64-byte aligned. The checksum is FNV-1a 32 over
 * bytes [128, file_size). A reader must bounds-check every offset, size, count
 * and index before use: files are untrusted.
 *
 * Memory plan: the writer plans the arena (runtime/plan.h) and stores each
 * intermediate tensor's arena offset and its lifetime [first_node, last_node];
 * the loader checks that offsets fit arena_size and that no two tensors whose
 * lifetimes overlap share bytes, so a hostile plan cannot alias live data.
 */
#ifndef FGQ_FORMAT_H
#define FGQ_FORMAT_H

#include "fgq_types.h"

#include <stdint.h>

#define FGQ_FILE_MAGIC "FGQMODEL" /* 8 bytes, no NUL in the file */
#define FGQ_FILE_VERSION 1u
#define FGQ_FILE_ALIGN 64u
#define FGQ_NODE_MAX_IPARAMS 32
#define FGQ_NODE_MAX_FPARAMS 8

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t checksum;       /* FNV-1a 32 of bytes [128, file_size) */
    uint64_t file_size;
    uint32_t n_tensors;
    uint32_t n_nodes;
    uint32_t n_inputs;       /* graph inputs: index[inputs_index .. +n_inputs) */
    uint32_t n_outputs;      /* graph outputs: index[outputs_index .. +n_outputs) */
    uint32_t tensors_off;
    uint32_t nodes_off;
    uint32_t index_off;
    uint32_t n_index;        /* int32 entries in the index section */
    uint32_t strings_off;
    uint32_t strings_size;
    uint32_t inputs_index;
    uint32_t outputs_index;
    uint64_t arena_size;     /* bytes of activation arena the plan needs */
    uint32_t meta_off;       /* 0, or file offset (64-aligned, >= 128) of an fgq_file_meta blob */
    uint32_t meta_size;      /* 0 with meta_off 0, else the blob's bytes (>= sizeof(fgq_file_meta)) */
    uint32_t reserved[10];   /* zero */
} fgq_file_header;           /* 128 bytes */

/* Model metadata blob (optional; written by `fgq quantize`): how samples were
 * preprocessed for calibration, x = (x·scale − mean[c]) / std[c], so run and
 * eval feed data the same way. Little-endian like every record. A newer
 * version may append fields: readers check version and meta_size. */
#define FGQ_META_VERSION 1u
#define FGQ_META_MAX_CH 64
/* FGQ_META_HAS_RECIPE: the blob goes on after the fixed part with a u32
 * recipe size n and n bytes of UTF-8 text without NUL (meta_size >= 536 + 4
 * + n): how the model was made (the quantize flags, each layer's policy and
 * solver). */
enum { FGQ_META_HAS_PREPROCESS = 1u, FGQ_META_HAS_RECIPE = 2u };
#define FGQ_META_RECIPE_MAX (1u << 20)
typedef struct {
    uint32_t version;            /* FGQ_META_VERSION */
    uint32_t flags;              /* FGQ_META_* */
    float scale;                 /* finite, non-zero */
    int32_t n_mean, n_std;       /* 0 (none), 1 (all channels) or the channel count, <= FGQ_META_MAX_CH */
    int32_t channel_axis;        /* model-input axis of the channels, -1 automatic */
    float mean[FGQ_META_MAX_CH]; /* finite; unused entries 0 */
    float std[FGQ_META_MAX_CH];  /* finite and non-zero where used; unused entries 0 */
} fgq_file_meta;                 /* 536 bytes */

enum { FGQ_FT_GRAPH_OUTPUT = 1u };

typedef struct {
    uint32_t name_off, name_len; /* into the string section */
    uint32_t dtype;              /* fgq_dtype */
    uint32_t kind;               /* fgq_tensor_kind: 0 intermediate, 1 input, 2 const */
    int32_t rank;                /* 0..FGQ_MAX_DIMS */
    uint32_t flags;              /* FGQ_FT_* */
    int64_t dims[FGQ_MAX_DIMS];  /* unused dims are 0 */
    uint64_t data_off;           /* const: file offset of data, 64-aligned; others: arena offset */
    uint64_t data_size;          /* bytes */
    int32_t first_node, last_node; /* lifetime (intermediates, inputs); -1 for consts */
    uint64_t q_off;              /* quant params: q_n_scales f32, then q_n_scales s32 zero points */
    int32_t q_n_scales, q_axis, q_group_size;
    uint32_t reserved[15];       /* zero (15 makes the record 192 bytes) */
} fgq_file_tensor;               /* 192 bytes */

typedef struct {
    uint32_t name_off, name_len;
    uint32_t op;                 /* fgq_op */
    uint32_t n_inputs, n_outputs;
    uint32_t io_index;           /* index[io_index..+n_inputs) inputs (-1 = omitted), then outputs */
    int32_t iparams[FGQ_NODE_MAX_IPARAMS]; /* op-specific, see runtime/fgq_ops.h */
    float fparams[FGQ_NODE_MAX_FPARAMS];
    uint32_t reserved[2];
} fgq_file_node;                 /* 192 bytes */

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(fgq_file_header) == 128, "header is 128 bytes");
_Static_assert(sizeof(fgq_file_meta) == 536, "meta blob is 536 bytes");
_Static_assert(sizeof(fgq_file_tensor) == 192, "tensor record is 192 bytes");
_Static_assert(sizeof(fgq_file_node) == 192, "node record is 192 bytes");
#endif

uint32_t fgq_fnv1a32(const void *data, uint64_t size);

#endif /* FGQ_FORMAT_H */
