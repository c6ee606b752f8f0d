/*
 * main.c — the example firmware: one model exported by `fgq export --c DIR`
 * (model.c / model.h, name "model") run by the fgq runtime with no OS and no
 * heap. Through semihosting it reads the inputs (raw bytes, every graph input
 * in order, each in its dtype: what `fgq run --raw` is fed) from the host file
 * named first on the command line, runs the model, writes the outputs (raw,
 * concatenated) to the second file, and prints one line of figures:
 *
 *   fgq-fw: ok model_bytes=B weight_bytes=W arena=A arena_needed=N stack_used=S stack_size=Z
 *           heap_requests=0 load_ticks=L run_ticks=T cpu_hz=F
 *
 * arena: MODEL_ARENA_SIZE, the exported header's figure and this firmware's arena;
 * arena_needed: fgq_model_arena_size on this build (activations, records and one
 * scratch slice sized with the Cortex-M tiles). Exported with `--target cortex-m`
 * (the default) the two are equal: the firmware runs in exactly what it needs.
 *
 * ticks: SysTick (processor clock) across fgq_model_load / fgq_model_run; under
 * QEMU -icount shift=0, instructions = ticks * 1e9 / cpu_hz. Exit status: 0
 * ok, 2 bad input or model (the runtime's message printed), 3 a fault.
 */
#include "firmware.h"
#include "fgq_runtime.h"
#include "model.h"
#include "semihost.h"

#include <string.h>

#ifndef FGQ_FW_CPU_HZ
#error "FGQ_FW_CPU_HZ: the board's processor clock (CMakeLists.txt sets it)"
#endif

static fgq_model g_model;
static _Alignas(64) uint8_t g_arena[MODEL_ARENA_SIZE];
static uint8_t g_in[MODEL_INPUTS_TOTAL_BYTES];
static uint8_t g_out[MODEL_OUTPUTS_TOTAL_BYTES];

static int fail(const char *what, const fgq_error *err)
{
    sh_printf("fgq-fw: error: %s: %s %s\n", what, err != NULL ? fgq_status_name(err->status) : "",
              err != NULL ? err->msg : ""); /* msg is empty with FGQ_NO_MESSAGES */
    return 2;
}

/* The first two space-separated words of the command line. */
static int split_args(char *line, char **a, char **b)
{
    *a = *b = NULL;
    char *p = line;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return -1;
    *a = p;
    while (*p != '\0' && *p != ' ')
        p++;
    if (*p == '\0')
        return -1;
    *p++ = '\0';
    while (*p == ' ')
        p++;
    *b = p;
    while (*p != '\0' && *p != ' ')
        p++;
    *p = '\0';
    return **b != '\0' ? 0 : -1;
}

int main(void)
{
    static char line[512];
    char *in_path, *out_path;
    if (sh_cmdline(line, sizeof line) != 0 || split_args(line, &in_path, &out_path) != 0)
        return fail("usage", NULL);

    fgq_error err;
    fgq_error_clear(&err);
    fw_counter_start();
    fgq_status st = fgq_model_load(&g_model, model_data, MODEL_SIZE, &err);
    uint64_t load_ticks = fw_counter_ticks();
    if (st != FGQ_OK)
        return fail("load", &err);

    int fd = sh_open(in_path, 0);
    if (fd < 0)
        return fail(in_path, NULL);
    int32_t len = sh_flen(fd);
    if (len != (int32_t)sizeof g_in || sh_read(fd, g_in, sizeof g_in) != (int32_t)sizeof g_in) {
        sh_close(fd);
        sh_printf("fgq-fw: error: %s: %ld bytes, the model's inputs take %lu\n", in_path, (long)len,
                  (unsigned long)sizeof g_in);
        return 2;
    }
    sh_close(fd);

    const void *inputs[MODEL_N_INPUTS];
    void *outputs[MODEL_N_OUTPUTS];
    uint32_t off = 0;
    for (int i = 0; i < MODEL_N_INPUTS; i++) {
        inputs[i] = g_in + off;
        off += model_input_bytes[i];
    }
    off = 0;
    for (int i = 0; i < MODEL_N_OUTPUTS; i++) {
        outputs[i] = g_out + off;
        off += model_output_bytes[i];
    }
    fw_counter_start();
    st = fgq_model_run(&g_model, g_arena, sizeof g_arena, inputs, outputs, NULL, NULL, &err);
    uint64_t run_ticks = fw_counter_ticks();
    if (st != FGQ_OK)
        return fail("run", &err);

    fd = sh_open(out_path, 4);
    if (fd < 0 || sh_write(fd, g_out, sizeof g_out) != (int32_t)sizeof g_out)
        return fail(out_path, NULL);
    sh_close(fd);
    char b1[24], b2[24];
    sh_printf("fgq-fw: ok model_bytes=%lu weight_bytes=%lu arena=%lu arena_needed=%lu stack_used=%lu stack_size=%lu "
              "heap_requests=%lu load_ticks=%s run_ticks=%s cpu_hz=%lu\n",
              (unsigned long)MODEL_SIZE, (unsigned long)MODEL_WEIGHT_BYTES, (unsigned long)sizeof g_arena,
              (unsigned long)fgq_model_arena_size(&g_model), (unsigned long)fw_stack_used(),
              (unsigned long)fw_stack_size(), (unsigned long)fw_heap_requests(), sh_u64(load_ticks, b1),
              sh_u64(run_ticks, b2), (unsigned long)FGQ_FW_CPU_HZ);
    return 0;
}
