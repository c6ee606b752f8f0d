/*
 * export_c.h — a loaded .fgq model as C source for firmware (`fgq export --c`):
 * the model bytes as one `const` array (flash: .rodata), and headers that tell
 * a firmware project what to allocate, so it adds the files and the runtime
 * sources (runtime/) and calls fgq_model_load / fgq_model_run with no file
 * system and no heap (targets/cortex-m/ is such a firmware).
 *
 *   NAME.c      _Alignas(64) const uint8_t NAME_data[NAME_SIZE] = { ... };
 *               const uint32_t NAME_input_bytes[], NAME_output_bytes[]
 *   NAME.h      NAME_SIZE, NAME_TARGET (the runtime build the sizes are for:
 *               fgq_model_target(m), m loaded with fgq_model_load_target),
 *               NAME_ARENA_SIZE (fgq_model_arena_size: activations + records + one
 *               scratch slice), NAME_ACTIVATION_SIZE, NAME_SCRATCH_SIZE,
 *               NAME_ARENA_LOWER_BOUND, NAME_WEIGHT_BYTES, NAME_N_INPUTS /
 *               NAME_N_OUTPUTS, NAME_INPUT_<i>_BYTES / NAME_OUTPUT_<i>_BYTES
 *               (each commented with the tensor's name, dtype and shape),
 *               NAME_INPUTS_TOTAL_BYTES / NAME_OUTPUTS_TOTAL_BYTES, the
 *               extern declarations
 *   NAME_ops.h  FGQ_OP_ON_<KEY> 1 for every op the model uses, 0 for the
 *               rest: build the runtime with -DFGQ_OP_SELECTION='"NAME_ops.h"'
 *               (and -ffunction-sections, --gc-sections) to link only those
 *               ops' kernels (runtime/ops/op_table.c)
 *
 * name: a C identifier, 1..64 characters; `source` names the model in the
 * files' comments (its last path component is used). The three texts are
 * malloc'd (caller frees) only on FGQ_OK, else all NULL. No global state.
 */
#ifndef FGQ_EXPORT_C_H
#define FGQ_EXPORT_C_H

#include "fgq_runtime.h"

#include <stddef.h>
#include <stdint.h>

#define FGQ_EXPORT_C_MAX_NAME 64

typedef struct {
    char *c_text, *h_text, *ops_text; /* NAME.c, NAME.h, NAME_ops.h */
    size_t c_len, h_len, ops_len;
} fgq_export_c_files;

/* 1 when name is a C identifier of 1..FGQ_EXPORT_C_MAX_NAME characters. */
int fgq_export_c_name_ok(const char *name);

/* m: loaded from `bytes` (size bytes, the whole .fgq file). */
fgq_status fgq_export_c(const fgq_model *m, const uint8_t *bytes, uint64_t size, const char *name,
                        const char *source, fgq_export_c_files *out, fgq_error *err);
void fgq_export_c_files_free(fgq_export_c_files *f);

#endif /* FGQ_EXPORT_C_H */
