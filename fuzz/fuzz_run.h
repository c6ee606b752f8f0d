/* fuzz_run.h — shared by the fuzz targets that end with a loaded model: runs
 * it once with zeroed inputs in an arena of the reported size, skipped when
 * the arena, inputs and outputs together pass FUZZ_RUN_CAP (a valid model may
 * be large; allocating for it is not what is being tested). */
#ifndef FGQ_FUZZ_RUN_H
#define FGQ_FUZZ_RUN_H

#include "fgq_runtime.h"

#include <stdint.h>
#include <stdlib.h>

#define FUZZ_RUN_CAP ((uint64_t)64 << 20)

static void *fuzz_alloc64(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n > 0 ? n : 1) == 0 ? p : NULL;
}

static void fuzz_run_once(const fgq_model *m)
{
    uint64_t an = fgq_model_arena_size(m);
    if (an > FUZZ_RUN_CAP)
        return;
    int32_t ni = fgq_model_n_inputs(m), no = fgq_model_n_outputs(m);
    const void **ins = calloc((size_t)ni + 1, sizeof *ins);
    void **outs = calloc((size_t)no + 1, sizeof *outs);
    void *arena = fuzz_alloc64((size_t)an);
    uint64_t total = an;
    int ok = ins != NULL && outs != NULL && arena != NULL;
    for (int32_t i = 0; ok && i < ni; i++) {
        fgq_tensor_info ti;
        fgq_model_input_info(m, i, &ti);
        total += ti.size_bytes;
        ok = total <= FUZZ_RUN_CAP && (ins[i] = calloc(1, (size_t)ti.size_bytes + 1)) != NULL;
    }
    for (int32_t i = 0; ok && i < no; i++) {
        fgq_tensor_info ti;
        fgq_model_output_info(m, i, &ti);
        total += ti.size_bytes;
        ok = total <= FUZZ_RUN_CAP && (outs[i] = malloc((size_t)ti.size_bytes + 1)) != NULL;
    }
    if (ok) {
        fgq_error err;
        fgq_error_clear(&err);
        if (fgq_model_run(m, arena, an, (const void *const *)ins, (void *const *)outs, NULL, NULL, &err) != FGQ_OK &&
            err.msg[0] == '\0')
            abort(); /* every failure must carry a message */
    }
    for (int32_t i = 0; ins != NULL && i < ni; i++)
        free((void *)ins[i]);
    for (int32_t i = 0; outs != NULL && i < no; i++)
        free(outs[i]);
    free(ins);
    free(outs);
    free(arena);
}

#endif /* FGQ_FUZZ_RUN_H */
