/*
 * arena_size.c — what this build's runtime sizes for a model: loads a .fgq and prints
 *
 *   arena=A scratch=S
 *
 * (fgq_model_arena_size, fgq_model_scratch_size). scripts/test_aarch64.sh compares them
 * with the header `fgq export --c DIR --target aarch64` writes on x86: the export's
 * figure must be this runtime's, exactly. Exit 2 when the file cannot be read or loaded.
 */
#include "fgq_runtime.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.fgq\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    long n = f != NULL && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    void *buf = n > 0 ? aligned_alloc(FGQ_MODEL_ALIGN, ((size_t)n / FGQ_MODEL_ALIGN + 1) * FGQ_MODEL_ALIGN) : NULL;
    if (f != NULL)
        rewind(f);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 2;
    }
    fclose(f);
    fgq_model m;
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_model_load(&m, buf, (uint64_t)n, &err) != FGQ_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 2;
    }
    printf("arena=%llu scratch=%llu\n", (unsigned long long)fgq_model_arena_size(&m),
           (unsigned long long)fgq_model_scratch_size(&m));
    free(buf);
    return 0;
}
