/* fuzz_quant_flags.c — libFuzzer target for the quantize flag parser
 * (cli/quant_flags.c): --layer NAME=POLICY, --keep-float, --weights,
 * --first-last, --depthwise, --budget, --size, --candidates, --damp,
 * --solver, ... as `fgq quantize` and `fgq eval --sensitivity` take them.
 *
 * The input is an argument vector: arguments separated by NUL or newline
 * bytes (at most 64). Each argument is its own exact-size allocation, so ASan
 * sees any read past its end, and writable, as argv is (--layer cuts NAME
 * at '='). Every argument goes to fgq_quant_flags_take; then the flags become
 * a quantize configuration, a budget, and the one-line record of the model
 * (written into a short buffer, so truncation is exercised). Usage errors are
 * printed to stderr (run.sh closes it with -close_fd_mask=2). Any crash,
 * sanitizer report or leak is a bug; so is a failure without a message. */
#include "quant_flags.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

static void check_msg(fgq_status st, const fgq_error *err)
{
    if (st != FGQ_OK && err->msg[0] == '\0')
        abort(); /* every failure must carry a message */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && argc < MAX_ARGS; i++) {
        if (i < size && data[i] != '\0' && data[i] != '\n')
            continue;
        size_t len = i - start;
        char *a = malloc(len + 1);
        if (a == NULL)
            break;
        if (len > 0)
            memcpy(a, data + start, len);
        a[len] = '\0';
        argv[argc++] = a;
        start = i + 1;
    }
    argv[argc] = NULL;

    fgq_quant_flags f;
    if (fgq_quant_flags_init(&f, argc)) {
        int ok = 1;
        for (int i = 0; i < argc && ok; i++) {
            int rc = 0;
            int r = fgq_quant_flags_take(&f, "quantize", argc, argv, &i, &rc);
            if (r < 0 && rc == 0)
                abort(); /* a refused flag must give a failing exit code */
            ok = r >= 0;
        }
        if (ok) {
            fgq_quant_config cfg;
            fgq_error err;
            fgq_error_clear(&err);
            check_msg(fgq_quant_flags_config(&f, &cfg, &err), &err);
            fgq_budget b;
            int has = 0;
            fgq_error_clear(&err);
            check_msg(fgq_quant_flags_budget(&f, &has, &b, &err), &err);
            char line[96];
            fgq_quant_flags_describe(&f, line, sizeof line);
            if (strlen(line) >= sizeof line)
                abort();
        }
        fgq_quant_flags_free(&f);
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
