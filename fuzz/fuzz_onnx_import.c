/* fuzz_onnx_import.c — libFuzzer target for what `fgq convert` does, in memory:
 * ONNX protobuf bytes -> import (tools/import/onnx_import.c) -> shape inference,
 * NaN check and graph passes (fgq_cli_prepare_graph) -> lowering and the .fgq
 * writer (tools/export/fgq_writer.c) -> the runtime's loader -> one run with
 * zeroed inputs (fuzz_run.h) when the model is small enough to run quickly.
 *
 * Any crash, sanitizer report, leak or hang is a bug; so is a failure without a
 * message. Large declared shapes are legitimate input: the tools must refuse
 * what they cannot hold with a message (the writer's arena limit, the folding
 * caps) rather than allocate it, so the fuzzer's malloc limit (-rss_limit_mb)
 * finds allocations that follow a declared shape without a cap. The run is
 * skipped above FUZZ_RUN_MACS multiply-accumulates so a valid but heavy model
 * is not reported as a hang. */
#include "cli.h"
#include "export/fgq_writer.h"
#include "fgq_runtime.h"
#include "import/onnx_import.h"
#include "import/shape_infer.h"
#include "fuzz_run.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_RUN_MACS ((int64_t)20 << 20)

static int light_enough(const fgq_graph *g)
{
    int64_t total = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        int64_t macs = 0;
        fgq_node_stats(g, i, NULL, &macs);
        if (macs < 0 || macs > FUZZ_RUN_MACS - total)
            return 0;
        total += macs;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fgq_onnx_options opt = {0, 1};
    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph *g = NULL;
    fgq_status st = fgq_onnx_load_memory(data, size, "fuzz.onnx", &opt, &g, &err);
    if (st == FGQ_OK)
        st = fgq_cli_prepare_graph(g, 1, &err);
    uint8_t *bytes = NULL;
    uint64_t n = 0;
    if (st == FGQ_OK)
        st = fgq_write_model(g, &bytes, &n, &err);
    fgq_model m;
    if (st == FGQ_OK)
        st = fgq_model_load(&m, bytes, n, &err);
    if (st == FGQ_OK && light_enough(g))
        fuzz_run_once(&m);
    if (st != FGQ_OK && err.msg[0] == '\0')
        abort(); /* every failure must carry a message */
    /* replaying one input: what was refused, and why */
    if (st != FGQ_OK && getenv("FGQ_FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "%s: %s\n", fgq_status_name(st), err.msg);
    free(bytes);
    fgq_graph_free(g);
    return 0;
}
