/* cmd_eval.c — `fgq eval`: accuracy of a model on labelled data (top-1, top-5, samples/s). */
#include "cli.h"
#include "json.h"
#include "progress.h"

#include "data/data.h"
#include "run_graph.h"
#include "threadpool.h"

#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq eval MODEL.fgq|MODEL.onnx --data X --labels Y [--samples A:B] [--json]\n"
    "                [--scale S] [--mean M[,M...]] [--std S[,S...]] [--batch N]\n"
    "                [--threads N]\n"
    "\n"
    "Runs MODEL on every sample of X and compares the arg-max of its first output\n"
    "with the labels Y: top-1 and top-5 accuracy and samples per second (samples\n"
    "run one after another, each split over --threads). X and Y: .npy, .npz or IDX (`*-ubyte`, gzipped or not). Samples are\n"
    "fed as their values (u8 pixels as 0..255) unless --scale/--mean/--std say\n"
    "x = (x*scale - mean) / std, or a .fgq from `fgq quantize` stores the\n"
    "calibration's preprocessing (the flags override it); samples laid out HWC\n"
    "are transposed for an NCHW model.\n"
    "\n"
    "options:\n"
    "  --data X          samples (required)\n"
    "  --labels Y        integer labels, one per sample (required)\n"
    "  --samples A:B     use samples A..B-1 only (Python slice syntax)\n"
    "  --scale S         multiply samples by S first (e.g. 0.00392157 for 1/255)\n"
    "  --mean M[,M...]   subtract, per channel or one for all\n"
    "  --std S[,S...]    then divide, per channel or one for all\n"
    "  --json            print {\"model\", \"samples\", \"top1\", \"top5\", \"samples_per_s\"}\n"
    "  --batch N         ONNX models: value bound to symbolic dims (default 1)\n"
    "  --threads N       threads per inference, 1..256 (default: the cores\n"
    "                    available); results are bit-identical for any N\n"
    "  -h, --help        this text\n";

/* Parses "a,b,c" into at most max floats. */
static int parse_floats(const char *text, float *out, int32_t max, int32_t *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        float v = strtof(p, &end);
        if (end == p || *n >= max || !(v == v))
            return 0;
        out[(*n)++] = v;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return 0;
        p = end;
    }
    return *n > 0;
}

/* Rank of label among scores: how many classes score strictly higher
 * (ties resolved in favour of the lower index, as numpy's argmax does). */
static int64_t label_rank(const float *scores, int64_t n, int64_t label)
{
    int64_t higher = 0;
    for (int64_t c = 0; c < n; c++)
        if (scores[c] > scores[label] || (scores[c] == scores[label] && c < label))
            higher++;
    return higher;
}

int fgq_cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL, *data_path = NULL, *labels_path = NULL, *range = NULL;
    int json = 0;
    int64_t batch = 1, threads = fgq_threadpool_default_threads();
    fgq_preprocess pre;
    fgq_preprocess_default(&pre);
    int pre_given = 0; /* --scale/--mean/--std override what a .fgq stores */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        static const char *const valued[] = {"--data", "--labels", "--samples", "--scale", "--mean", "--std", "--batch",
                                             "--threads"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(a, valued[k]) == 0;
        if (known) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--data") == 0) {
                data_path = v;
            } else if (strcmp(a, "--labels") == 0) {
                labels_path = v;
            } else if (strcmp(a, "--samples") == 0) {
                range = v;
            } else if (strcmp(a, "--scale") == 0) {
                int32_t n = 0;
                pre_given = 1;
                if (!parse_floats(v, &pre.scale, 1, &n) || pre.scale == 0.0f)
                    return fgq_cli_usage_error(cmd, "--scale '%s' is not a non-zero number", v);
            } else if (strcmp(a, "--mean") == 0) {
                pre_given = 1;
                if (!parse_floats(v, pre.mean, FGQ_PRE_MAX_CH, &pre.n_mean))
                    return fgq_cli_usage_error(cmd, "--mean '%s' is not a list of numbers", v);
            } else if (strcmp(a, "--std") == 0) {
                pre_given = 1;
                if (!parse_floats(v, pre.std, FGQ_PRE_MAX_CH, &pre.n_std))
                    return fgq_cli_usage_error(cmd, "--std '%s' is not a list of numbers", v);
                for (int32_t c = 0; c < pre.n_std; c++)
                    if (pre.std[c] == 0.0f)
                        return fgq_cli_usage_error(cmd, "--std must not contain 0");
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
    if (data_path == NULL || labels_path == NULL)
        return fgq_cli_usage_error(cmd, "--data and --labels are required");

    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph_runner r;
    if (fgq_cli_open_model(model, batch, &r, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);
    if (fgq_graph_runner_set_threads(&r, (int32_t)threads, &err) != FGQ_OK) {
        fgq_graph_runner_free(&r);
        return fgq_cli_report(cmd, &err);
    }

    if (!pre_given)
        fgq_cli_stored_preprocess(&r.model, &pre);

    int rc = FGQ_EXIT_OK;
    fgq_dataset d;
    memset(&d, 0, sizeof d);
    int64_t *labels = NULL, n_labels = 0;
    float *scores = NULL;
    fgq_tensor_info in_info, out_info;
    if (fgq_model_n_inputs(&r.model) != 1 || fgq_model_n_outputs(&r.model) < 1) {
        fgq_fail(&err, FGQ_ERR_UNSUPPORTED, "%s: eval needs a model with one input (it has %d) and an output",
                 model, fgq_model_n_inputs(&r.model));
        goto fail;
    }
    fgq_model_input_info(&r.model, 0, &in_info);
    fgq_model_output_info(&r.model, 0, &out_info);
    if (in_info.dtype != FGQ_DT_F32 || out_info.dtype != FGQ_DT_F32) {
        fgq_fail(&err, FGQ_ERR_UNSUPPORTED, "%s: eval feeds and reads float32 tensors", model);
        goto fail;
    }
    fgq_data_opts opts = {NULL, range, 0};
    if (fgq_data_load(data_path, &opts, &d, &err) != FGQ_OK ||
        fgq_labels_load(labels_path, &opts, &labels, &n_labels, &err) != FGQ_OK)
        goto fail;
    if (n_labels != d.dims[0]) {
        fgq_fail(&err, FGQ_ERR_SHAPE, "%s has %lld labels but %s has %lld samples%s%s", labels_path,
                 (long long)n_labels, data_path, (long long)d.dims[0], range ? " in range " : "", range ? range : "");
        goto fail;
    }
    /* The model's input is one sample: [1, ...]; data is [N, ...]. */
    int64_t model_dims[FGQ_MAX_DIMS];
    memcpy(model_dims, in_info.dims, sizeof model_dims);
    if (fgq_data_prepare(&d, data_path, in_info.rank, model_dims, &pre, &err) != FGQ_OK)
        goto fail;
    int64_t n_classes = (int64_t)(out_info.size_bytes / sizeof(float));
    int64_t per_sample = fgq_dataset_sample_numel(&d);
    if (per_sample * (int64_t)sizeof(float) != (int64_t)in_info.size_bytes || n_classes < 1) {
        fgq_fail(&err, FGQ_ERR_SHAPE, "%s: a sample has %lld values but input %.*s takes %llu", data_path,
                 (long long)per_sample, (int)in_info.name_len, in_info.name,
                 (unsigned long long)(in_info.size_bytes / sizeof(float)));
        goto fail;
    }
    scores = malloc((size_t)out_info.size_bytes);
    if (scores == NULL) {
        fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t n = d.dims[0], top1 = 0, top5 = 0;
    fgq_progress prog;
    fgq_progress_begin(&prog, "eval", n);
    double t0 = fgq_now_seconds();
    for (int64_t s = 0; s < n; s++) {
        const float *x = d.data + s * per_sample;
        if (fgq_graph_runner_run(&r, &x, &scores, NULL, NULL, &err) != FGQ_OK)
            goto fail;
        if (labels[s] < 0 || labels[s] >= n_classes) {
            fgq_fail(&err, FGQ_ERR_VALUE, "%s: label %lld of sample %lld is outside the model's %lld classes",
                     labels_path, (long long)labels[s], (long long)(d.first_index + s), (long long)n_classes);
            goto fail;
        }
        int64_t rank = label_rank(scores, n_classes, labels[s]);
        top1 += rank < 1;
        top5 += rank < 5;
        fgq_progress_update(&prog, s + 1);
    }
    double secs = fgq_now_seconds() - t0;
    fgq_progress_end(&prog);
    double acc1 = (double)top1 / (double)n, acc5 = (double)top5 / (double)n;
    int has_top5 = n_classes >= 5;
    if (json) {
        fgq_json j;
        fgq_json_init(&j, stdout);
        fgq_json_begin_object(&j);
        fgq_json_key(&j, "model");
        fgq_json_string(&j, model);
        fgq_json_key(&j, "samples");
        fgq_json_int(&j, n);
        fgq_json_key(&j, "top1");
        fgq_json_double(&j, acc1);
        fgq_json_key(&j, "top5");
        if (has_top5)
            fgq_json_double(&j, acc5);
        else
            fgq_json_null(&j);
        fgq_json_key(&j, "samples_per_s");
        fgq_json_double(&j, secs > 0 ? (double)n / secs : 0.0);
        fgq_json_end_object(&j);
        fgq_json_finish(&j);
    } else {
        printf("%s on %lld samples of %s (first index %lld)\n", model, (long long)n, data_path,
               (long long)d.first_index);
        printf("top-1 %.2f %%  (%lld / %lld)\n", 100.0 * acc1, (long long)top1, (long long)n);
        if (has_top5)
            printf("top-5 %.2f %%\n", 100.0 * acc5);
        printf("%.1f samples/s (%lld thread%s)\n", secs > 0 ? (double)n / secs : 0.0, (long long)threads,
               threads == 1 ? "" : "s");
    }
    goto done;
fail:
    rc = fgq_cli_report(cmd, &err);
done:
    free(scores);
    free(labels);
    fgq_dataset_free(&d);
    fgq_graph_runner_free(&r);
    return rc;
}
