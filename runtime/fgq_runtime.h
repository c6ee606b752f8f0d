/*
 * fgq_runtime.h — the public runtime API: load a .fgq model from memory,
 * query it, and run it in one caller-provided arena (DESIGN §2, §4).
 *
 * Memory: nothing is allocated. The caller owns the model bytes, the
 * fgq_model record, the arena and the input/output buffers.
 *
 * Model buffer: the .fgq bytes, read in place and never written, must stay
 * alive and unchanged while the fgq_model is used, and must start at a
 * 64-byte aligned address (checked: FGQ_ERR_VALUE). Because every blob sits
 * at a multiple of the file's blob_align (64 in the files `fgq` writes, 8 in
 * the device images of `fgq export --c`), constant data is at least 8-byte
 * aligned in memory and kernels read it directly as float / int32; no kernel
 * may count on more. Header and table records are
 * decoded byte-wise (little-endian), so they need no alignment of their own.
 * A big-endian host is refused (FGQ_ERR_UNSUPPORTED): constant blobs are
 * little-endian and kernels read them in place.
 *
 * Load validates everything (hostile files are expected): layout, checksum,
 * tables, graph order, op shapes (each op's `check`) and the stored memory
 * plan. After FGQ_OK, fgq_model_run can trust the model; other calls on a
 * record whose load failed are not allowed.
 *
 * Tensor lifetimes (the plan stored in the file, checked at load; see plan.h):
 *   intermediate: first_node = its producer; input: first_node = 0;
 *   last_node = max(first_node, last consuming node, n_nodes - 1 if it is a
 *   graph output); a zero-node model uses step 0. Consts: first = last = -1.
 */
#ifndef FGQ_RUNTIME_H
#define FGQ_RUNTIME_H

#include "fgq_format.h"
#include "fgq_ops.h"
#include "fgq_target.h"
#include "fgq_types.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits a loadable model must respect (so load/run need no allocation and
 * their checks stay fast on hostile files). */
#define FGQ_MAX_NODE_INPUTS 32  /* per node, omitted inputs included */
#define FGQ_MAX_NODE_OUTPUTS 16 /* per node (Split) */
#define FGQ_MAX_TENSORS 16384 /* keeps the O(n^2) plan check under ~1 s */
#define FGQ_MAX_NODES 16384
#define FGQ_MODEL_ALIGN 64u     /* model buffer and arena alignment */

/* Tensor kinds as stored in fgq_file_tensor.kind (same values as the tools'
 * fgq_tensor_kind). */
enum { FGQ_KIND_INTERMEDIATE = 0, FGQ_KIND_INPUT = 1, FGQ_KIND_CONST = 2 };

typedef struct {
    const char *name;       /* points into the model; not NUL-terminated */
    uint32_t name_len;
    fgq_dtype dtype;
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];
    uint64_t size_bytes;
} fgq_tensor_info;

typedef struct {
    const char *name;       /* points into the model; not NUL-terminated */
    uint32_t name_len;
    fgq_op op;
    int32_t n_inputs, n_outputs;
    int32_t inputs[FGQ_MAX_NODE_INPUTS];   /* tensor indices, -1 = omitted */
    int32_t outputs[FGQ_MAX_NODE_OUTPUTS];
    int32_t iparams[FGQ_NODE_MAX_IPARAMS];
    float fparams[FGQ_NODE_MAX_FPARAMS];
} fgq_node_info;

/* Quantization parameters of a tensor, pointing into the model:
 * x ≈ scales[i] * (q - zero_points[i]); n_scales == 0 means not quantized. */
typedef struct {
    int32_t n_scales, axis, group_size;
    const float *scales;
    const int32_t *zero_points;
} fgq_tensor_qparams;

/* The tensor views load checks one node's op with (its inputs, then its outputs), kept in the
 * model record rather than on the stack. The default holds the most a node may have; firmware
 * whose models' nodes have fewer builds every runtime file (and its own) with a smaller
 * -DFGQ_LOAD_VIEWS — the same value everywhere: it sizes fgq_model — and `fgq export --c`
 * writes what the model needs as NAME_MAX_NODE_VIEWS (targets/cortex-m/CMakeLists.txt takes
 * the largest of its models'). Load refuses a node with more, naming it and the value. */
#ifndef FGQ_LOAD_VIEWS
#define FGQ_LOAD_VIEWS (FGQ_MAX_NODE_INPUTS + FGQ_MAX_NODE_OUTPUTS)
#endif
#if FGQ_LOAD_VIEWS < 2 || FGQ_LOAD_VIEWS > FGQ_MAX_NODE_INPUTS + FGQ_MAX_NODE_OUTPUTS
#error "FGQ_LOAD_VIEWS must lie in [2, FGQ_MAX_NODE_INPUTS + FGQ_MAX_NODE_OUTPUTS]"
#endif

/* Fixed size, caller-allocated; fields are private (filled by load). About
 * 4 KB with the default FGQ_LOAD_VIEWS (the views are most of it: ~80 bytes each). */
typedef struct fgq_model {
    const uint8_t *base;
    uint64_t size;
    uint64_t tensors_off, nodes_off, index_off, strings_off, strings_size;
    int32_t n_tensors, n_nodes, n_inputs, n_outputs, n_index;
    int32_t inputs_index, outputs_index;
    uint64_t arena_size, arena_lower_bound, weight_bytes;
    uint64_t meta_off, meta_size; /* 0, 0: no metadata blob */
    uint32_t blob_align;          /* the header's: every blob offset is a multiple */
    uint32_t cpu;                 /* CPU features the kernels may use, queried once by load */
    uint64_t records_off;         /* where they start: arena_size rounded up to 64 (a file's arena_size
                                     need not be a multiple of the views' alignment) */
    uint64_t records_size;        /* the run's records: one node's views (the most inputs + outputs) */
    uint64_t scratch_need;        /* most scratch bytes one node's op declares (fgq_op_impl.scratch) */
    const fgq_target *target;     /* the build the sizes are for (fgq_target_build() unless loaded with
                                     fgq_model_load_target) */
    fgq_tensor_view load_views[FGQ_LOAD_VIEWS]; /* load's working space: one node's inputs, then outputs */
} fgq_model;

/* Validates `size` bytes at `buf` and fills *m. FGQ_ERR_FORMAT / _SHAPE with a
 * message naming the section, node or tensor on any defect; FGQ_ERR_VALUE for
 * a NULL or misaligned buffer; FGQ_ERR_UNSUPPORTED for an op this runtime does
 * not implement or a limit above. On failure *m is zeroed: no call takes it for
 * a loaded model (fgq_model_run refuses it, the getters find no tensors). */
static inline fgq_status fgq_model_load(fgq_model *m, const void *buf, uint64_t size, fgq_error *err);
/* fgq_model_load, with the run's records and scratch sized for another build's target
 * profile (fgq_target.h): the arena queries below then give what fgq_model_load computes
 * from the same bytes in a runtime built for that target (`fgq export --c DIR --target
 * cortex-m` writes them into the firmware's header). `target` must be one of the
 * runtime's own profiles, a pointer fgq_target_find / fgq_target_at / fgq_target_build
 * gave: any other (NULL, a copy, a profile made by the caller) is FGQ_ERR_VALUE, since
 * the ops divide by its tiles and size their scratch from them. Such a record is for
 * those queries and the model's description: fgq_model_run refuses it
 * (FGQ_ERR_UNSUPPORTED) unless `target` is this build's. */
static inline fgq_status fgq_model_load_target(fgq_model *m, const void *buf, uint64_t size,
                                               const fgq_target *target, fgq_error *err);
/* What the two above call, with the record's size as the caller's file sees it: a file built
 * with another FGQ_LOAD_VIEWS than the runtime's (another fgq_model) is refused, FGQ_ERR_VALUE,
 * and *m left untouched, rather than written past its end. */
fgq_status fgq_model_load_rec(fgq_model *m, size_t record_bytes, const void *buf, uint64_t size, fgq_error *err);
fgq_status fgq_model_load_target_rec(fgq_model *m, size_t record_bytes, const void *buf, uint64_t size,
                                     const fgq_target *target, fgq_error *err);
static inline fgq_status fgq_model_load(fgq_model *m, const void *buf, uint64_t size, fgq_error *err)
{
    return fgq_model_load_rec(m, sizeof *m, buf, size, err);
}
static inline fgq_status fgq_model_load_target(fgq_model *m, const void *buf, uint64_t size,
                                               const fgq_target *target, fgq_error *err)
{
    return fgq_model_load_target_rec(m, sizeof *m, buf, size, target, err);
}

/* Adds the CPU features a host has made usable beyond what load found (fgq_ops.h: on x86
 * Linux FGQ_CPU_AMXINT8, after the process asked for the tile state) to those m's kernels
 * may use; bits the CPU lacks (fgq_cpu_grantable) are dropped. Returns the features in force.
 * Scratch does not depend on them: an arena sized before the call still fits. */
uint32_t fgq_model_grant_cpu(fgq_model *m, uint32_t features);

/* The arena fgq_model_run takes is, in this order: the activations (the
 * memory plan stored in the file), the run's records (one node's tensor
 * views), then one scratch slice per thread (fgq_ops.h: working memory the
 * ops declare for their nodes' shapes, e.g. QCONV's im2col tiles), so no
 * kernel keeps big buffers on the stack. Scratch depends on the model and on
 * the build's target profile (fgq_target.h: microcontroller builds use smaller
 * tiles), not on the CPU. */
uint64_t fgq_model_arena_size(const fgq_model *m); /* bytes fgq_model_run needs: _threads(m, 1) */
/* Bytes fgq_model_run_parallel needs with a provider of n_threads threads
 * (< 1 counts as 1): activations + records + n_threads slices; UINT64_MAX if
 * that overflows. */
uint64_t fgq_model_arena_size_threads(const fgq_model *m, int32_t n_threads);
uint64_t fgq_model_activation_size(const fgq_model *m);  /* the planned activation bytes alone */
uint64_t fgq_model_scratch_size(const fgq_model *m);     /* bytes of one thread's slice (64-aligned,
                                                            0: no op needs scratch) */
uint64_t fgq_model_arena_lower_bound(const fgq_model *m); /* max over node steps of live activation bytes
                                                             (each tensor rounded up to 64) */
uint64_t fgq_model_weight_bytes(const fgq_model *m);      /* bytes of constant tensor data */
const fgq_target *fgq_model_target(const fgq_model *m);   /* the build the sizes above are for */

int32_t fgq_model_n_inputs(const fgq_model *m);
int32_t fgq_model_n_outputs(const fgq_model *m);
int32_t fgq_model_n_tensors(const fgq_model *m);
int32_t fgq_model_n_nodes(const fgq_model *m);
/* Graph input / output i, or any tensor t; FGQ_ERR_VALUE when out of range. */
fgq_status fgq_model_input_info(const fgq_model *m, int32_t i, fgq_tensor_info *info);
fgq_status fgq_model_output_info(const fgq_model *m, int32_t i, fgq_tensor_info *info);
fgq_status fgq_model_tensor_info(const fgq_model *m, int32_t t, fgq_tensor_info *info);
/* Tensor index of graph input / output i, or -1 when out of range. */
int32_t fgq_model_input_tensor(const fgq_model *m, int32_t i);
int32_t fgq_model_output_tensor(const fgq_model *m, int32_t i);
/* FGQ_KIND_* of tensor t, or -1 when out of range. */
int32_t fgq_model_tensor_kind(const fgq_model *m, int32_t t);
/* Constant data of tensor t (in the model buffer), or NULL if t is not a const. */
const void *fgq_model_tensor_data(const fgq_model *m, int32_t t);
fgq_status fgq_model_tensor_qparams(const fgq_model *m, int32_t t, fgq_tensor_qparams *q);
fgq_status fgq_model_node_info(const fgq_model *m, int32_t node, fgq_node_info *info);

/* Preprocessing stored by `fgq quantize` (fgq_format.h fgq_file_meta, checked
 * at load): x = (x·scale − mean[c]) / std[c]; n_mean / n_std 0 (none), 1 (all
 * channels) or per channel; channel_axis −1 automatic. */
typedef struct {
    float scale;
    int32_t n_mean, n_std, channel_axis;
    float mean[FGQ_META_MAX_CH], std[FGQ_META_MAX_CH];
} fgq_model_preprocess;
/* 1 and *p filled when the model stores preprocessing; 0 (p untouched) otherwise. */
int fgq_model_get_preprocess(const fgq_model *m, fgq_model_preprocess *p);
/* How the model was made (fgq_format.h FGQ_META_HAS_RECIPE): 1 and *text
 * (inside the model buffer, not NUL-terminated) / *len when it stores one. */
int fgq_model_get_recipe(const fgq_model *m, const char **text, uint32_t *len);

/* Called after node `node` ran, with views of its outputs (valid only during
 * the call; do not write). */
typedef void (*fgq_node_observer)(void *user, int32_t node, const fgq_tensor_view *const *outputs,
                                  int32_t n_outputs);

/* Runs the model. inputs[i] / outputs[i]: caller buffers of the graph input /
 * output info.size_bytes each (any alignment); inputs are copied into their
 * arena slots first, outputs copied out at the end (a graph output may be a
 * graph input or a constant). arena: >= fgq_model_arena_size bytes, 64-byte
 * aligned (FGQ_ERR_NOMEM if smaller, before anything runs; FGQ_ERR_VALUE if
 * misaligned); its contents are scratch. obs may be NULL. Kernel failures are returned with the
 * node named. The model is not modified: one model may run on several arenas
 * at once. */
fgq_status fgq_model_run(const fgq_model *m, void *arena, uint64_t arena_size, const void *const *inputs,
                         void *const *outputs, fgq_node_observer obs, void *obs_user, fgq_error *err);

/* fgq_model_run with each node's kernel free to split its output over `par`
 * (fgq_ops.h; NULL or one thread: serial, exactly fgq_model_run). arena: >=
 * fgq_model_arena_size_threads(m, par->n_threads) bytes (one scratch slice
 * per thread). Nodes still run one after another and obs is called from the
 * calling thread only.
 * Outputs are bit-identical for every thread count. One `par` provider must
 * not serve two runs at the same time unless it says it can. */
fgq_status fgq_model_run_parallel(const fgq_model *m, void *arena, uint64_t arena_size, const void *const *inputs,
                                  void *const *outputs, fgq_node_observer obs, void *obs_user,
                                  const fgq_parallel *par, fgq_error *err);

/* Little-endian decoding of .fgq records from any address; the tools use them to read files
 * back. Inline: the run decodes each node's records per run, and a call per field cost more than
 * the field (compilers turn the byte assembly into one load on little-endian cores). */
static inline uint32_t fgq_read_u32le(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t fgq_read_u64le(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint64_t)fgq_read_u32le(b) | (uint64_t)fgq_read_u32le(b + 4) << 32;
}
void fgq_file_header_decode(const void *p, fgq_file_header *h);
/* The fixed part of a record (dims and parameters 0); then, once the caller has checked that
 * index[dims_index .. +rank) and index[params_index .. +n_iparams + n_fparams) lie in the index
 * section (the loader does), the dims and parameters from it (index: the section's first byte). */
void fgq_file_tensor_decode(const void *p, fgq_file_tensor *t);
void fgq_file_tensor_dims(const void *index, fgq_file_tensor *t);
void fgq_file_node_decode(const void *p, fgq_file_node *n);
void fgq_file_node_params(const void *index, fgq_file_node *n);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_RUNTIME_H */
