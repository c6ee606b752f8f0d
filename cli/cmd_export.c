/* cmd_export.c — `fgq export`: a .fgq model as QDQ ONNX (ONNX Runtime cross-check). */
#include "cli.h"

#include "export/export_onnx.h"
#include "fgq_runtime.h"
#include "fileutil.h"

#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq export MODEL.fgq --onnx OUT.onnx\n"
    "\n"
    "Writes MODEL as an ONNX model (opset 21) that ONNX Runtime can run: float ops\n"
    "as their ONNX ops, integer-only ops in QuantizeLinear/DequantizeLinear form\n"
    "(u8/s8 activations; weights as int8/int4 codes behind a per-channel or blocked\n"
    "DequantizeLinear; see docs/quantized-ops.md, \"QDQ export\"). Graph input and\n"
    "output names and shapes are kept. Written to a temporary file, then renamed;\n"
    "on any error no file is left.\n"
    "\n"
    "options:\n"
    "  --onnx OUT.onnx  where to write (required)\n"
    "  -h, --help       this text\n";

int fgq_cmd_export(int argc, char **argv)
{
    const char *cmd = "export";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--onnx") == 0) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            out = argv[++i];
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
        return fgq_cli_usage_error(cmd, "--onnx OUT.onnx is required");
    int clash = fgq_cli_output_clashes(cmd, out, &model, 1);
    if (clash)
        return clash;

    fgq_error err;
    fgq_error_clear(&err);
    uint8_t *bytes = NULL, *aligned = NULL, *onnx = NULL;
    size_t size = 0, onnx_size = 0;
    fgq_model m;
    fgq_status st = fgq_read_file(model, (uint64_t)1 << 34, &bytes, &size, &err);
    if (st == FGQ_OK) {
        /* the runtime reads the model in place from a 64-byte aligned buffer */
        size_t cap = (size + FGQ_MODEL_ALIGN - 1) / FGQ_MODEL_ALIGN * FGQ_MODEL_ALIGN;
        aligned = aligned_alloc(FGQ_MODEL_ALIGN, cap > 0 ? cap : FGQ_MODEL_ALIGN);
        if (aligned == NULL)
            st = fgq_fail(&err, FGQ_ERR_NOMEM, "%s: cannot allocate %zu bytes", model, size);
        else
            memcpy(aligned, bytes, size);
    }
    free(bytes);
    if (st == FGQ_OK && (st = fgq_model_load(&m, aligned, size, &err)) != FGQ_OK) {
        char msg[FGQ_ERROR_MSG_LEN];
        snprintf(msg, sizeof msg, "%s", err.msg);
        fgq_error_clear(&err);
        fgq_fail(&err, st, "%s: %s", model, msg);
    }
    if (st == FGQ_OK)
        st = fgq_export_onnx(&m, &onnx, &onnx_size, &err);
    if (st == FGQ_OK)
        st = fgq_write_file_atomic(out, onnx, onnx_size, &err);
    if (st == FGQ_OK)
        printf("%s -> %s: %d fgq nodes, ONNX opset %d, %zu bytes\n", model, out, fgq_model_n_nodes(&m),
               FGQ_EXPORT_ONNX_OPSET, onnx_size);
    free(onnx);
    free(aligned);
    return st == FGQ_OK ? FGQ_EXIT_OK : fgq_cli_report(cmd, &err);
}
