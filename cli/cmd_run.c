/* cmd_run.c — `fgq run`: one model, inputs from .npy / .pb files, outputs to .npy. */
#include "cli.h"

#include "data/data.h"
#include "import/onnx_import.h"
#include "run/run_graph.h"
#include "threadpool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq run MODEL.fgq|MODEL.onnx --input X.npy [--input X2.npy ...] [-o Y.npy ...]\n"
    "\n"
    "Runs MODEL on the given inputs (one --input per graph input, in order; .npy,\n"
    "or an ONNX TensorProto .pb as in ONNX test data sets) and writes graph output i\n"
    "to the i-th -o file (.npy, written atomically; never one of the inputs). An\n"
    "input has the model input's shape, or is a stack of them along the first axis\n"
    "(e.g. [N,1,28,28] for a [1,1,28,28] input: runs N times, and the outputs are\n"
    "stacked), or one sample without its leading 1s ([1,28,28]); other shapes (an\n"
    "NHWC array for an NCHW model) are refused. Without -o the outputs' shapes\n"
    "and first values are printed. A .fgq from `fgq quantize` stores how its\n"
    "calibration data was preprocessed (scale, mean, std); run applies it to the\n"
    "inputs, as eval does, unless --raw is given.\n"
    "Inputs are fed in each model input's dtype (f32, u8, s8, s32, s64 or bool;\n"
    "integer inputs must hold integral values in the dtype's range, bool ones 0\n"
    "or 1, else the file is refused) and outputs are written in theirs (f32, u8,\n"
    "s8, s32, s64 or bool .npy). An input with quantized I/O (`fgq quantize --io\n"
    "quantized`: u8 / s8 codes with a scale and zero point) takes the data the\n"
    "float model would, preprocessed alike, quantized as the dropped QUANTIZE did\n"
    "(with --raw: its codes); such an output is written as its codes.\n"
    "\n"
    "options:\n"
    "  --input FILE        an input (repeat for each graph input)\n"
    "  -o, --output FILE   where to write an output (repeat for each output)\n"
    "  --raw               feed inputs as they are, ignoring stored preprocessing\n"
    "  --batch N           ONNX models: value bound to symbolic dims (default 1)\n"
    "  --threads N         threads per inference, 1..256 (default: the cores\n"
    "                      available); outputs are bit-identical for any N\n"
    "  -h, --help          this text\n";

#define MAX_IO 16

typedef struct {
    float *data;     /* numel elements of the model input's dtype (float only when it is f32) */
    int64_t numel;
    int32_t rank;
    int64_t dims[FGQ_MAX_DIMS];
} host_tensor;

static fgq_status load_input(const char *path, fgq_dtype want, host_tensor *t, fgq_error *err)
{
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".pb") == 0) {
        fgq_ir_tensor it;
        memset(&it, 0, sizeof it);
        fgq_status st = fgq_onnx_load_tensor_file(path, &it, err);
        if (st != FGQ_OK)
            return st;
        t->rank = it.rank;
        memcpy(t->dims, it.dims, sizeof t->dims);
        t->numel = fgq_ir_tensor_numel(&it);
        if (it.dtype == want) {
            t->data = it.data;
            it.data = NULL;
        } else {
            void *conv = NULL;
            st = fgq_data_convert(path, it.data, it.dtype, t->numel, want, 0, &conv, err);
            t->data = conv;
        }
        fgq_onnx_tensor_release(&it);
        return st;
    }
    fgq_dataset d;
    fgq_status st = fgq_data_load(path, NULL, &d, err);
    if (st != FGQ_OK)
        return st;
    t->data = d.data;
    t->rank = d.rank;
    memcpy(t->dims, d.dims, sizeof t->dims);
    t->numel = fgq_dataset_numel(&d);
    if (want != FGQ_DT_F32 && d.inexact_count > 0) {
        free(d.data);
        t->data = NULL;
        return fgq_fail(err, FGQ_ERR_VALUE,
                        "%s: element %lld is %lld, which float32 (how .npy data is read) does not hold exactly; "
                        "give a .pb, whose values are fed as they are",
                        path, (long long)d.inexact_index, (long long)d.inexact_value);
    }
    if (want != FGQ_DT_F32) { /* exact: no value was rounded by the float32 copy (checked above) */
        void *conv = NULL;
        st = fgq_data_convert(path, d.data, FGQ_DT_F32, t->numel, want, 0, &conv, err);
        free(d.data);
        t->data = conv;
    }
    return st;
}

static void print_output(const fgq_tensor_info *info, const void *y, int64_t numel)
{
    printf("%.*s [", (int)info->name_len, info->name);
    for (int32_t d = 0; d < info->rank; d++)
        printf(d ? "x%lld" : "%lld", (long long)info->dims[d]);
    printf("]:");
    for (int64_t i = 0; i < numel && i < 10; i++) {
        int ok = 1;
        printf(" %.6g", fgq_data_elem_value(y, info->dtype, i, &ok));
    }
    printf(numel > 10 ? " ...\n" : "\n");
}

int fgq_cmd_run(int argc, char **argv)
{
    const char *cmd = "run";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL, *in_paths[MAX_IO], *out_paths[MAX_IO];
    int n_in = 0, n_out = 0, raw = 0;
    int64_t batch = 1, threads = fgq_threadpool_default_threads();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--raw") == 0) {
            raw = 1;
            continue;
        }
        int is_in = strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0;
        int is_out = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0;
        if (is_in || is_out || strcmp(a, "--batch") == 0 || strcmp(a, "--threads") == 0) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            const char *v = argv[++i];
            if (is_in || is_out) {
                if ((is_in ? n_in : n_out) >= MAX_IO)
                    return fgq_cli_usage_error(cmd, "at most %d %s", MAX_IO, a);
                if (is_in)
                    in_paths[n_in++] = v;
                else
                    out_paths[n_out++] = v;
            } else if (strcmp(a, "--threads") == 0) {
                if (!fgq_cli_parse_i64(v, 1, FGQ_THREADPOOL_MAX_THREADS, &threads))
                    return fgq_cli_usage_error(cmd, "--threads '%s' is not a count in 1..%d", v,
                                               FGQ_THREADPOOL_MAX_THREADS);
            } else if (!fgq_cli_parse_i64(v, 1, INT32_MAX, &batch)) {
                return fgq_cli_usage_error(cmd, "--batch '%s' is not a positive integer", v);
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
    for (int o = 0; o < n_out; o++) {
        int clash = fgq_cli_output_clashes(cmd, out_paths[o], &model, 1);
        if (!clash)
            clash = fgq_cli_output_clashes(cmd, out_paths[o], in_paths, n_in);
        if (clash)
            return clash;
        for (int p = 0; p < o; p++)
            if (strcmp(out_paths[p], out_paths[o]) == 0)
                return fgq_cli_usage_error(cmd, "-o %s is given twice: each output needs a file of its own",
                                           out_paths[o]);
    }

    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph_runner r;
    if (fgq_cli_open_model(model, batch, threads, &r, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);

    int rc = FGQ_EXIT_OK;
    host_tensor in[MAX_IO];
    memset(in, 0, sizeof in);
    float *outs[MAX_IO] = {0};
    const float *in_ptrs[MAX_IO];
    float *out_ptrs[MAX_IO];
    fgq_tensor_info oinfo[MAX_IO];
    fgq_dtype in_dtype[MAX_IO];
    int32_t gi = fgq_model_n_inputs(&r.model), go = fgq_model_n_outputs(&r.model);
    if (gi != n_in) {
        rc = fgq_cli_usage_error(cmd, "%s has %d input%s; %d --input given", model, gi, gi == 1 ? "" : "s", n_in);
        goto done;
    }
    if (go > MAX_IO || n_out > go) {
        rc = fgq_cli_usage_error(cmd, "%s has %d output%s; %d -o given", model, go, go == 1 ? "" : "s", n_out);
        goto done;
    }
    fgq_preprocess pre;
    int stored = fgq_cli_stored_preprocess(&r.model, &pre);
    /* Each input must hold `reps` whole model inputs, the same reps for all. */
    int64_t reps = -1;
    for (int32_t i = 0; i < gi; i++) {
        fgq_tensor_info info;
        fgq_model_input_info(&r.model, i, &info);
        if (info.dtype != FGQ_DT_F32 && info.dtype != FGQ_DT_U8 && info.dtype != FGQ_DT_S8 &&
            info.dtype != FGQ_DT_S32 && info.dtype != FGQ_DT_S64 && info.dtype != FGQ_DT_BOOL) {
            fgq_fail(&err, FGQ_ERR_UNSUPPORTED, "%s: input %.*s is %s; fgq run feeds f32, u8, s8, s32, s64 or bool",
                     model, (int)info.name_len, info.name, fgq_dtype_name(info.dtype));
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        in_dtype[i] = info.dtype;
        float q_s = 1.0f;
        int32_t q_z = 0;
        /* quantized I/O: floats in, quantized below (after the stored preprocessing) */
        const int quantize = !raw && fgq_io_qparams(&r.model, fgq_model_input_tensor(&r.model, i), &q_s, &q_z);
        if (load_input(in_paths[i], quantize ? FGQ_DT_F32 : info.dtype, &in[i], &err) != FGQ_OK) {
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        int64_t k = fgq_cli_input_reps(in[i].rank, in[i].dims, in[i].numel, &info);
        if (k < 1 || (reps > 0 && k != reps)) {
            char have[96], want[96];
            fgq_cli_format_dims(in[i].rank, in[i].dims, have, sizeof have);
            fgq_cli_format_dims(info.rank, info.dims, want, sizeof want);
            fgq_fail(&err, FGQ_ERR_SHAPE,
                     "%s: shape [%s] does not fit input %.*s of %s, which takes [%s] or a stack of them along "
                     "the first axis%s%s",
                     in_paths[i], have, (int)info.name_len, info.name, model, want,
                     k >= 1 ? ", as many as the other inputs" : "", fgq_cli_looks_nhwc(in[i].rank, in[i].dims, &info)
                         ? " (channels last? the model wants channels first: transpose the array)" : "");
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        reps = k;
        if (stored && !raw && info.rank > 0 && (info.dtype == FGQ_DT_F32 || quantize)) { /* as calibration did */
            fgq_dataset d;
            memset(&d, 0, sizeof d);
            d.data = in[i].data;
            d.rank = info.rank;
            memcpy(d.dims, info.dims, sizeof d.dims);
            d.dims[0] *= k;
            fgq_status st = fgq_data_prepare(&d, in_paths[i], info.rank, info.dims, &pre, &err);
            in[i].data = d.data;
            if (st != FGQ_OK) {
                rc = fgq_cli_report(cmd, &err);
                goto done;
            }
        }
        if (quantize) { /* in place: the codes take the first numel bytes of the floats */
            fgq_io_quantize(in[i].data, in[i].numel, q_s, q_z, info.dtype, in[i].data);
        }
    }
    if (reps < 1)
        reps = 1;
    for (int32_t o = 0; o < go; o++) {
        fgq_model_output_info(&r.model, o, &oinfo[o]);
        uint64_t bytes = oinfo[o].size_bytes * (uint64_t)reps;
        outs[o] = malloc(bytes ? (size_t)bytes : 1);
        if (outs[o] == NULL) {
            fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory for outputs");
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
    }
    for (int64_t rep = 0; rep < reps; rep++) {
        /* buffers of any dtype travel as float pointers (run_graph.h copies size_bytes) */
        for (int32_t i = 0; i < gi; i++)
            in_ptrs[i] = (const float *)((const uint8_t *)in[i].data +
                                         rep * (in[i].numel / reps) * (int64_t)fgq_dtype_size(in_dtype[i]));
        for (int32_t o = 0; o < go; o++)
            out_ptrs[o] = (float *)((uint8_t *)outs[o] + rep * (int64_t)oinfo[o].size_bytes);
        if (fgq_graph_runner_run(&r, in_ptrs, out_ptrs, NULL, NULL, &err) != FGQ_OK) {
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
    }
    for (int32_t o = 0; o < go; o++) {
        int64_t dims[FGQ_MAX_DIMS];
        int32_t rank = oinfo[o].rank;
        memcpy(dims, oinfo[o].dims, sizeof dims);
        if (reps > 1) { /* stack along the first axis (add one for a scalar output) */
            if (rank == 0)
                dims[rank++] = 1;
            dims[0] *= reps;
        }
        const size_t oes = fgq_dtype_size(oinfo[o].dtype);
        int64_t numel = oes > 0 ? (int64_t)(oinfo[o].size_bytes / oes) * reps : 0;
        if (oinfo[o].dtype != FGQ_DT_F32 && oinfo[o].dtype != FGQ_DT_U8 && oinfo[o].dtype != FGQ_DT_S8 &&
            oinfo[o].dtype != FGQ_DT_S32 && oinfo[o].dtype != FGQ_DT_S64 && oinfo[o].dtype != FGQ_DT_BOOL) {
            fgq_fail(&err, FGQ_ERR_UNSUPPORTED, "output %.*s is %s; fgq run writes f32, u8, s8, s32, s64 or bool",
                     (int)oinfo[o].name_len, oinfo[o].name, fgq_dtype_name(oinfo[o].dtype));
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        if (o < n_out) {
            if (fgq_npy_write_dtype(out_paths[o], oinfo[o].dtype, outs[o], rank, dims, &err) != FGQ_OK) {
                rc = fgq_cli_report(cmd, &err);
                goto done;
            }
        } else {
            print_output(&oinfo[o], outs[o], numel);
            float q_s;
            int32_t q_z;
            if (fgq_io_qparams(&r.model, fgq_model_output_tensor(&r.model, o), &q_s, &q_z))
                printf("  (codes: x = %.9g * (q - %ld))\n", (double)q_s, (long)q_z);
        }
    }
done:
    for (int i = 0; i < MAX_IO; i++) {
        free(in[i].data);
        free(outs[i]);
    }
    fgq_graph_runner_free(&r);
    return rc;
}
