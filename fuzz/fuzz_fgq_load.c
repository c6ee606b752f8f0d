/* fuzz_fgq_load.c — libFuzzer target for the .fgq loader (runtime/model.c).
 *
 * Copies the input into a 64-aligned buffer of exactly its size (so ASan
 * sees any read past the end), loads it, and when the loader accepts it runs
 * the model once with zeroed inputs in an arena of the reported size (skipped
 * above 64 MiB). A second pass rewrites file_size and the checksum to match
 * the mutated bytes, since random mutations almost never keep a checksum
 * valid and would otherwise never reach the table and graph checks. Any crash, sanitizer report or hang is a bug: load must turn
 * every hostile file into a status, and a loaded model must run safely. */
#include "fgq_runtime.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ARENA_CAP ((uint64_t)64 << 20)

static void *alloc64(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n > 0 ? n : 1) == 0 ? p : NULL;
}

static void run_once(const fgq_model *m)
{
    uint64_t an = fgq_model_arena_size(m);
    if (an > FUZZ_ARENA_CAP)
        return;
    int32_t ni = fgq_model_n_inputs(m), no = fgq_model_n_outputs(m);
    const void **ins = calloc((size_t)ni + 1, sizeof *ins);
    void **outs = calloc((size_t)no + 1, sizeof *outs);
    void *arena = alloc64((size_t)an);
    uint64_t total = 0;
    int ok = ins != NULL && outs != NULL && arena != NULL;
    for (int32_t i = 0; ok && i < ni; i++) {
        fgq_tensor_info ti;
        fgq_model_input_info(m, i, &ti);
        total += ti.size_bytes;
        ok = total <= FUZZ_ARENA_CAP && (ins[i] = calloc(1, (size_t)ti.size_bytes + 1)) != NULL;
    }
    for (int32_t i = 0; ok && i < no; i++) {
        fgq_tensor_info ti;
        fgq_model_output_info(m, i, &ti);
        total += ti.size_bytes;
        ok = total <= FUZZ_ARENA_CAP && (outs[i] = malloc((size_t)ti.size_bytes + 1)) != NULL;
    }
    if (ok) {
        fgq_error err;
        fgq_error_clear(&err);
        fgq_model_run(m, arena, an, (const void *const *)ins, (void *const *)outs, NULL, NULL, &err);
    }
    for (int32_t i = 0; ins != NULL && i < ni; i++)
        free((void *)ins[i]);
    for (int32_t i = 0; outs != NULL && i < no; i++)
        free(outs[i]);
    free(ins);
    free(outs);
    free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = alloc64(size);
    if (buf == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (size < sizeof(fgq_file_header))
                break;
            uint64_t fs = size;
            uint32_t sum = fgq_fnv1a32(buf + sizeof(fgq_file_header), size - sizeof(fgq_file_header));
            for (int b = 0; b < 8; b++) /* little-endian, as the format says */
                buf[offsetof(fgq_file_header, file_size) + (size_t)b] = (uint8_t)(fs >> (8 * b));
            for (int b = 0; b < 4; b++)
                buf[offsetof(fgq_file_header, checksum) + (size_t)b] = (uint8_t)(sum >> (8 * b));
        }
        fgq_model m;
        fgq_error err;
        fgq_error_clear(&err);
        if (fgq_model_load(&m, buf, size, &err) == FGQ_OK)
            run_once(&m);
        else if (err.msg[0] == '\0')
            abort(); /* every failure must carry a message */
    }
    free(buf);
    return 0;
}
