/* load.c — the one way the CLI turns an ONNX path into a graph ready for work. */
#include "cli.h"

#include "import/onnx_import.h"
#include "passes/passes.h"
#include "import/shape_infer.h"

#include "data/data.h"
#include "fgq_format.h"
#include "fileutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fgq_status fgq_cli_prepare_graph(fgq_graph *g, int optimize, fgq_error *err)
{
    fgq_status st = fgq_infer_shapes(g, err);
    if (st == FGQ_OK && optimize && (st = fgq_graph_refuse_nan(g, err)) == FGQ_OK &&
        (st = fgq_graph_optimize(g, err)) == FGQ_OK)
        st = fgq_infer_shapes(g, err); /* shapes behind folded shape arithmetic (Expand, Where, ...) */
    /* Folding and shape inference feed each other: a Pad whose pads were folded gets its output shape
     * from the inference after the fold, and only then can a Shape of that output fold (Swin's padded
     * windows, its mask's Range / ScatterND). Repeat until a fold removes nothing; every round that
     * continues removes nodes, so this ends. */
    for (int32_t round = 0; st == FGQ_OK && optimize && round < 64; round++) {
        const int32_t before = g->n_nodes;
        st = fgq_pass_fold_constants(g, err);
        if (st == FGQ_OK)
            st = fgq_infer_shapes(g, err);
        if (g->n_nodes == before)
            break;
    }
    return st;
}

fgq_status fgq_cli_load_onnx(const char *path, int64_t batch, int optimize, fgq_graph **out,
                             fgq_error *err)
{
    fgq_onnx_options opt = {0, batch};
    /* FGQ_MAX_MODEL_BYTES lowers the file size limit (tests use it; a deployment may too). */
    const char *limit = getenv("FGQ_MAX_MODEL_BYTES");
    if (limit != NULL && limit[0] != '\0') {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(limit, &end, 10);
        if (errno != 0 || end == limit || *end != '\0' || v <= 0)
            return fgq_fail(err, FGQ_ERR_VALUE,
                            "FGQ_MAX_MODEL_BYTES='%s' is not a positive byte count", limit);
        opt.max_file_bytes = v;
    }
    fgq_graph *g = NULL;
    fgq_status st = fgq_onnx_load(path, &opt, &g, err);
    if (st == FGQ_OK)
        st = fgq_cli_prepare_graph(g, optimize, err);
    if (st != FGQ_OK) {
        fgq_graph_free(g);
        return st;
    }
    if (g->n_f16 > 0)
        fprintf(stderr,
                "fgq: note: %s: %d float16 tensors (weights, inputs, outputs) imported as float32: fgq computes, "
                "feeds and stores them as float32\n",
                path, (int)g->n_f16);
    *out = g;
    return FGQ_OK;
}

int fgq_cli_parse_i64(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

void fgq_cli_format_dims(int32_t rank, const int64_t *dims, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    if (rank < 0) {
        snprintf(buf, len, "?");
        return;
    }
    if (rank == 0) {
        snprintf(buf, len, "scalar");
        return;
    }
    for (int32_t d = 0; d < rank && used < len; d++) {
        int w = snprintf(buf + used, len - used, d ? "x%lld" : "%lld", (long long)dims[d]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

void fgq_cli_format_shape(const fgq_ir_tensor *t, char *buf, size_t len)
{
    fgq_cli_format_dims(t->rank, t->dims, buf, len);
}

static fgq_status open_runner(const char *path, int64_t batch, fgq_graph_runner *r, fgq_error *err)
{
    memset(r, 0, sizeof *r);
    uint8_t magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fgq_fail(err, FGQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got == sizeof magic && memcmp(magic, FGQ_FILE_MAGIC, sizeof magic) == 0) {
        uint8_t *bytes = NULL;
        size_t size = 0;
        fgq_status st = fgq_read_file(path, (uint64_t)1 << 34, &bytes, &size, err);
        if (st != FGQ_OK)
            return st;
        return fgq_graph_runner_init_bytes(r, bytes, size, path, err);
    }
    fgq_graph *g = NULL;
    fgq_status st = fgq_cli_load_onnx(path, batch, 1, &g, err);
    if (st == FGQ_OK)
        st = fgq_graph_runner_init(r, g, err);
    fgq_graph_free(g);
    return st;
}

fgq_status fgq_cli_open_model(const char *path, int64_t batch, int64_t threads, fgq_graph_runner *r,
                              fgq_error *err)
{
    fgq_status st = open_runner(path, batch, r, err);
    if (st == FGQ_OK && threads > 1 && (st = fgq_graph_runner_set_threads(r, (int32_t)threads, err)) != FGQ_OK)
        fgq_graph_runner_free(r);
    return st;
}

int fgq_cli_stored_preprocess(const fgq_model *m, fgq_preprocess *pre)
{
    fgq_model_preprocess mp;
    if (!fgq_model_get_preprocess(m, &mp))
        return 0;
    fgq_preprocess_default(pre);
    pre->scale = mp.scale;
    pre->n_mean = mp.n_mean;
    pre->n_std = mp.n_std;
    pre->channel_axis = mp.channel_axis;
    _Static_assert(FGQ_PRE_MAX_CH == FGQ_META_MAX_CH, "preprocessing channel limits agree");
    memcpy(pre->mean, mp.mean, sizeof pre->mean);
    memcpy(pre->std, mp.std, sizeof pre->std);
    return 1;
}

int fgq_cli_is_fgq_file(const char *path)
{
    uint8_t magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == sizeof magic && memcmp(magic, FGQ_FILE_MAGIC, sizeof magic) == 0;
}
