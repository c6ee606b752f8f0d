/* cmd_convert.c — `fgq convert`: ONNX -> .fgq (graph passes, lowering, memory plan). */
#include "cli.h"

#include "fgq_runtime.h"
#include "export/fgq_writer.h"
#include "fileutil.h"

#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq convert MODEL.onnx -o OUT.fgq [--batch N]\n"
    "\n"
    "Imports MODEL, folds BatchNormalization and constants, fuses Relu/Clip into\n"
    "their producers, plans the activation arena and writes a .fgq file the\n"
    "runtime reads in place (written to a temporary file, then renamed).\n"
    "\n"
    "options:\n"
    "  -o, --output OUT.fgq  where to write (required)\n"
    "  --batch N             value bound to symbolic dims such as a batch axis (default 1)\n"
    "  -h, --help            this text\n";

int fgq_cmd_convert(int argc, char **argv)
{
    const char *cmd = "convert";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL, *out = NULL;
    int64_t batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--batch") == 0) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--batch") == 0) {
                if (!fgq_cli_parse_i64(v, 1, INT32_MAX, &batch))
                    return fgq_cli_usage_error(cmd, "--batch '%s' is not a positive integer", v);
            } else {
                out = v;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            return fgq_cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (model == NULL) {
            model = a;
        } else {
            return fgq_cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
    }
    if (model == NULL)
        return fgq_cli_usage_error(cmd, "no model given");
    if (out == NULL)
        return fgq_cli_usage_error(cmd, "-o OUT.fgq is required");
    int clash = fgq_cli_output_clashes(cmd, out, &model, 1);
    if (clash)
        return clash;

    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph *g = NULL;
    if (fgq_cli_load_onnx(model, batch, 1, &g, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);
    uint8_t *bytes = NULL;
    uint64_t size = 0;
    fgq_model m;
    fgq_status st = fgq_write_model(g, &bytes, &size, &err);
    /* Load what we wrote before publishing it: the runtime's checks are the contract. */
    if (st == FGQ_OK)
        st = fgq_model_load(&m, bytes, size, &err);
    if (st == FGQ_OK)
        st = fgq_write_file_atomic(out, bytes, (size_t)size, &err);
    if (st == FGQ_OK)
        printf("%s -> %s: %d nodes, %d tensors, %llu bytes (weights %llu), arena %llu bytes "
               "(lower bound %llu)\n",
               model, out, fgq_model_n_nodes(&m), fgq_model_n_tensors(&m), (unsigned long long)size,
               (unsigned long long)fgq_model_weight_bytes(&m),
               (unsigned long long)fgq_model_arena_size(&m),
               (unsigned long long)fgq_model_arena_lower_bound(&m));
    free(bytes);
    fgq_graph_free(g);
    return st == FGQ_OK ? FGQ_EXIT_OK : fgq_cli_report(cmd, &err);
}
