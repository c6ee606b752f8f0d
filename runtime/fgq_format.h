/*
 * fgq_format.h — the .fgq file layout (DESIGN §4). Shared by the writer
 * (tools/) and the reader (runtime/). Little-endian, versioned, read in place.
 *
 *   offset 0     fgq_file_header (128 bytes)
 *   tensors_off  n_tensors × fgq_disk_tensor (56 bytes each)
 *   nodes_off    n_nodes × fgq_disk_node (20 bytes each)
 *   index_off    n_index × int32: node input/output tensor lists, graph inputs,
 *                graph outputs, each tensor's dims and each node's parameters
 *                (see the records' *_index fields and the header's)
 *   strings_off  strings_size bytes of names, not NUL-terminated
 *   blobs        constant data, quantization parameters and the metadata blob,
 *                each at a multiple of the header's blob_align
 *
 * Every section offset is 64-byte aligned. The checksum is FNV-1a 32 over
 * bytes [128, file_size). A reader must bounds-check every offset, size, count
 * and index before use: files are untrusted.
 *
 * Version 2 (this one) keeps a tensor's dims and a node's parameters in the
 * index section, as many as it has, where version 1 gave every tensor record
 * eight 64-bit dims and every node record 32 + 8 parameter slots (192 bytes
 * each): on the MLPerf Tiny models the tables outweighed the constants
 * (docs/device.md "What it costs"). A reader takes one version.
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
#define FGQ_FILE_VERSION 2u
#define FGQ_FILE_ALIGN 64u      /* sections; and the blobs of the files `fgq` writes */
#define FGQ_FILE_MIN_BLOB_ALIGN 8u /* the least blob_align a reader takes (int64 / double blobs) */
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
    uint32_t meta_off;       /* 0, or file offset (a multiple of blob_align, >= 128) of an fgq_file_meta blob */
    uint32_t meta_size;      /* 0 with meta_off 0, else the blob's bytes (>= sizeof(fgq_file_meta)) */
    uint32_t blob_align;     /* a power of two in [FGQ_FILE_MIN_BLOB_ALIGN, FGQ_FILE_ALIGN]: every blob's
                                offset is a multiple (64 in .fgq files; `fgq export --c` packs at 8) */
    uint32_t reserved[9];    /* zero */
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

/* The records as they lie in the file (56 and 20 bytes, no padding: the
 * writer and the decoders address their fields with offsetof). */
typedef struct {
    uint32_t name_off;           /* into the string section */
    uint16_t name_len;
    uint8_t dtype;               /* fgq_dtype */
    uint8_t kind;                /* fgq_tensor_kind: 0 intermediate, 1 input, 2 const */
    uint8_t rank;                /* 0..FGQ_MAX_DIMS */
    uint8_t flags;               /* FGQ_FT_* */
    int8_t q_axis;               /* axis of the scales when q_n_scales > 1 */
    uint8_t reserved;            /* zero */
    int32_t q_n_scales;
    uint64_t data_off;           /* const: file offset of data, a multiple of blob_align; others: arena offset, 64-aligned */
    uint64_t data_size;          /* bytes */
    int32_t first_node, last_node; /* lifetime (intermediates, inputs); -1 for consts */
    uint64_t q_off;              /* quant params: q_n_scales f32, then q_n_scales s32 zero points */
    int32_t q_group_size;
    uint32_t dims_index;         /* index[dims_index .. +rank): the dims, int32 >= 0 */
} fgq_disk_tensor;               /* 56 bytes */

typedef struct {
    uint32_t name_off;
    uint16_t name_len;
    uint16_t op;                 /* fgq_op */
    uint8_t n_inputs, n_outputs;
    uint8_t n_iparams, n_fparams; /* <= FGQ_NODE_MAX_IPARAMS / FGQ_NODE_MAX_FPARAMS; the rest are 0 */
    uint32_t io_index;           /* index[io_index..+n_inputs) inputs (-1 = omitted), then outputs */
    uint32_t params_index;       /* index[params_index..): n_iparams int32, then n_fparams f32 bit patterns */
} fgq_disk_node;                 /* 20 bytes */

/* The records decoded (fgq_file_*_decode, then _dims / _params from the index). */
typedef struct {
    uint32_t name_off, name_len;
    uint32_t dtype, kind, flags;
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];  /* unused dims are 0 */
    uint64_t data_off, data_size;
    int32_t first_node, last_node;
    uint64_t q_off;
    int32_t q_n_scales, q_axis, q_group_size;
    uint32_t dims_index, reserved;
} fgq_file_tensor;

typedef struct {
    uint32_t name_off, name_len;
    uint32_t op;
    uint32_t n_inputs, n_outputs, n_iparams, n_fparams;
    uint32_t io_index, params_index;
    int32_t iparams[FGQ_NODE_MAX_IPARAMS]; /* op-specific, see runtime/fgq_ops.h; past n_iparams 0 */
    float fparams[FGQ_NODE_MAX_FPARAMS];   /* past n_fparams 0 */
} fgq_file_node;

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(fgq_file_header) == 128, "header is 128 bytes");
_Static_assert(sizeof(fgq_file_meta) == 536, "meta blob is 536 bytes");
_Static_assert(sizeof(fgq_disk_tensor) == 56, "tensor record is 56 bytes");
_Static_assert(sizeof(fgq_disk_node) == 20, "node record is 20 bytes");
#endif

uint32_t fgq_fnv1a32(const void *data, uint64_t size);

#endif /* FGQ_FORMAT_H */
