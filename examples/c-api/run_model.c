/*
 * run_model.c — the fgq runtime from C: load a .fgq, run it on one float32 input,
 * print the first output.
 *
 *   run_model MODEL.fgq INPUT.raw     INPUT.raw: the input's float32 values, little-endian,
 *                                     exactly the input's size (e.g. numpy's x.tofile())
 *
 * Prints each value of output 0 on its own line as %.9g (which reads back as the same
 * float32). Builds against the installed runtime (libfgq_runtime.a + libm, headers in
 * <prefix>/include/fgq): see CMakeLists.txt (find_package) and Makefile (pkg-config).
 * The caller owns all memory: the model buffer and the arena, both 64-byte aligned.
 */
#include "fgq_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a whole file into a 64-byte aligned buffer (the runtime reads the model in place). */
static void *read_aligned(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    size_t cap = ((size_t)(n > 0 ? n : 0) / FGQ_MODEL_ALIGN + 1) * FGQ_MODEL_ALIGN; /* a multiple of 64 */
    void *buf = n >= 0 ? aligned_alloc(FGQ_MODEL_ALIGN, cap) : NULL;
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.fgq INPUT.raw\n", argv[0]);
        return 2;
    }
    size_t model_size = 0, input_size = 0;
    void *model_buf = read_aligned(argv[1], &model_size);
    void *input = read_aligned(argv[2], &input_size);
    if (model_buf == NULL || input == NULL) {
        fprintf(stderr, "%s: cannot read\n", model_buf == NULL ? argv[1] : argv[2]);
        return 2;
    }
    fgq_model m;
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_model_load(&m, model_buf, model_size, &err) != FGQ_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 2;
    }
    fgq_tensor_info in, out;
    if (fgq_model_n_inputs(&m) != 1 || fgq_model_input_info(&m, 0, &in) != FGQ_OK ||
        fgq_model_output_info(&m, 0, &out) != FGQ_OK || in.dtype != FGQ_DT_F32 || out.dtype != FGQ_DT_F32) {
        fprintf(stderr, "%s: this example runs models with one float32 input and a float32 output\n", argv[1]);
        return 2;
    }
    if (input_size != in.size_bytes) {
        fprintf(stderr, "%s: %zu bytes, but input '%.*s' takes %llu\n", argv[2], input_size, (int)in.name_len, in.name,
                (unsigned long long)in.size_bytes);
        return 2;
    }
    uint64_t arena_size = fgq_model_arena_size(&m);
    void *arena = aligned_alloc(FGQ_MODEL_ALIGN, (size_t)(arena_size + FGQ_MODEL_ALIGN));
    float *y = malloc((size_t)out.size_bytes);
    if (arena == NULL || y == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    const void *inputs[1] = {input};
    void *outputs[1] = {y};
    if (fgq_model_run(&m, arena, arena_size, inputs, outputs, NULL, NULL, &err) != FGQ_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    for (uint64_t i = 0; i < out.size_bytes / sizeof(float); i++)
        printf("%.9g\n", (double)y[i]);
    free(y);
    free(arena);
    free(input);
    free(model_buf);
    return 0;
}
