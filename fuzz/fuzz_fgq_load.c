/* fuzz_fgq_load.c — libFuzzer target for the .fgq loader (runtime/model.c).
 *
 * Copies the input into a 64-aligned buffer of exactly its size (so ASan
 * sees any read past the end), loads it, and when the loader accepts it runs
 * the model once with zeroed inputs (fuzz_run.h). A second pass rewrites file_size and the checksum to match
 * the mutated bytes, since random mutations almost never keep a checksum
 * valid and would otherwise never reach the table and graph checks. Any crash, sanitizer report or hang is a bug: load must turn
 * every hostile file into a status, and a loaded model must run safely. */
#include "fgq_runtime.h"
#include "fuzz_run.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fuzz_alloc64(size);
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
            fuzz_run_once(&m);
        else if (err.msg[0] == '\0')
            abort(); /* every failure must carry a message */
    }
    free(buf);
    return 0;
}
