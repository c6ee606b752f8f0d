/*
 * fgq_writer.h — lowers a graph (graph.h) and serialises it as a .fgq file
 * (runtime/fgq_format.h) that fgq_model_load accepts.
 *
 * Written: every node (lowered by lower.h, in graph order), the tensors those
 * nodes read or write, and the graph inputs and outputs (an output may be a
 * constant or a graph input). Constants nothing refers to are not written.
 * Constant data and quantization parameters go to 64-byte aligned blobs; the
 * arena is planned with runtime/plan.h (lifetimes as in fgq_runtime.h);
 * the checksum covers bytes [128, file_size). Sub-byte dtypes are packed:
 * t2 four codes per byte, s4 two per byte (size = ceil(numel / k)).
 *
 * fgq_write_model: *out_buf is 64-byte aligned (free with free()).
 * fgq_write_model_file: the same bytes written atomically (fileutil.h).
 * Errors: FGQ_ERR_UNSUPPORTED from lowering (node, op, attribute named);
 * FGQ_ERR_SHAPE for a tensor without a static shape or dtype, or activations
 * whose arena would exceed FGQ_WRITER_MAX_ARENA_BYTES (16 GiB: more than the
 * machines fgq runs on hold; declared dims gone wrong); FGQ_ERR_VALUE
 * when the model exceeds the format's 32-bit section offsets; FGQ_ERR_NOMEM.
 */
#ifndef FGQ_WRITER_H
#define FGQ_WRITER_H

#include "fgq_runtime.h"
#include "graph.h"

#include <stdint.h>

#define FGQ_WRITER_MAX_ARENA_BYTES ((uint64_t)16 << 30)

fgq_status fgq_write_model(const fgq_graph *g, uint8_t **out_buf, uint64_t *out_size, fgq_error *err);
fgq_status fgq_write_model_file(const fgq_graph *g, const char *path, fgq_error *err);

/* The same with a metadata blob (fgq_format.h fgq_file_meta) recording the
 * preprocessing `pre` (NULL: no blob, as above). FGQ_ERR_VALUE when pre's
 * counts exceed FGQ_META_MAX_CH or a value is not finite (std 0 included). */
fgq_status fgq_write_model_meta(const fgq_graph *g, const fgq_model_preprocess *pre, uint8_t **out_buf,
                                uint64_t *out_size, fgq_error *err);
fgq_status fgq_write_model_file_meta(const fgq_graph *g, const fgq_model_preprocess *pre, const char *path,
                                     fgq_error *err);
/* ... and a recipe (NUL-free text, at most FGQ_META_RECIPE_MAX bytes; NULL:
 * none) saying how the model was made (FGQ_META_HAS_RECIPE). */
fgq_status fgq_write_model_recipe(const fgq_graph *g, const fgq_model_preprocess *pre, const char *recipe,
                                  uint8_t **out_buf, uint64_t *out_size, fgq_error *err);
fgq_status fgq_write_model_file_recipe(const fgq_graph *g, const fgq_model_preprocess *pre, const char *recipe,
                                       const char *path, fgq_error *err);

#endif /* FGQ_WRITER_H */
