/* cmd_eval.c — `fgq eval`: accuracy of a model on labelled data (top-1, top-5, samples/s); with two
 * models, float against quantized (agreement, per-layer SQNR) and, with --sensitivity, which layer costs. */
#include "cli.h"
#include "json.h"
#include "progress.h"

#include "quant/stats/calib.h"
#include "run/compare.h"
#include "data/data.h"
#include "fgq_format.h"
#include "quant/pipeline.h"
#include "quant_flags.h"
#include "quantize_job.h"
#include "quant/quantize.h"
#include "run/run_graph.h"
#include "quant/search/sensitivity.h"
#include "threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq eval MODEL.fgq|MODEL.onnx --data X --labels Y [--samples A:B] [--json]\n"
    "                [--scale S] [--mean M[,M...]] [--std S[,S...]] [--batch N]\n"
    "                [--threads N]\n"
    "       fgq eval FLOAT.onnx|FLOAT.fgq QUANT.fgq --data X --labels Y [options above]\n"
    "       fgq eval FLOAT.onnx [QUANT.fgq] --data X --labels Y --sensitivity\n"
    "                --calib C [--calib-samples A:B] --weights POLICY [--acts u8|s8|u4]\n"
    "                [--observer O] [--first-last P|same] [--depthwise P|same] [--keep-float NODE]...\n"
    "                [--layer NODE=POLICY]... [--bias-correction on|off] [--solver gptq|rtn]\n"
    "                [--damp D] [--equalize on|off] [--output-layer float|quantized] [options above]\n"
    "\n"
    "Runs MODEL on every sample of X and compares the arg-max of its first output\n"
    "with the labels Y: top-1 and top-5 accuracy and samples per second (--threads\n"
    "samples at a time, one thread each). X and Y: .npy, .npz or IDX (`*-ubyte`, gzipped or not). Samples are\n"
    "fed as their values (u8 pixels as 0..255) unless --scale/--mean/--std say\n"
    "x = (x*scale - mean) / std, or a .fgq from `fgq quantize` stores the\n"
    "calibration's preprocessing (the flags override it); samples laid out HWC\n"
    "are transposed for an NCHW model.\n"
    "\n"
    "With two models (a float one and its quantized twin, e.g. from `fgq quantize`),\n"
    "both run on every sample, fed alike (the flags, else what QUANT.fgq stores):\n"
    "top-1 / top-5 and samples/s of each, top-1 agreement (samples whose arg-maxes\n"
    "agree), and per layer, in node order, the SQNR in dB of the quantized model's\n"
    "activation (dequantized with its scale and zero point) against the float one,\n"
    "over all samples: 10*log10(sum x^2 / sum (x - xq)^2), for every tensor both\n"
    "models name (low = that layer hurts).\n"
    "\n"
    "--sensitivity quantizes one weight layer at a time (that layer at the policy\n"
    "`fgq quantize` would give it with the same flags, every other node float),\n"
    "evaluates each such model on the same samples and ranks the layers by the\n"
    "top-1 they cost (float top-1 minus theirs), then by the SQNR of the model's\n"
    "output. The quantize flags mean what they mean for `fgq quantize` (the .fgq\n"
    "does not record them: give the ones QUANT.fgq was made with). Without QUANT.fgq\n"
    "the float model is compared with all layers quantized by those flags.\n"
    "\n"
    "options:\n"
    "  --data X          samples (required)\n"
    "  --labels Y        integer labels, one per sample (required)\n"
    "  --samples A:B     use samples A..B-1 only (Python slice syntax)\n"
    "  --scale S         multiply samples by S first (e.g. 0.00392157 for 1/255)\n"
    "  --mean M[,M...]   subtract, per channel or one for all\n"
    "  --std S[,S...]    then divide, per channel or one for all\n"
    "  --json            one model: print {\"model\", \"samples\", \"top1\", \"top5\",\n"
    "                    \"samples_per_s\"}; two: {\"float_model\", \"quant_model\",\n"
    "                    \"samples\", \"float\": {\"top1\", \"top5\", \"samples_per_s\"},\n"
    "                    \"quant\": {...}, \"agreement\", \"output_sqnr_db\",\n"
    "                    \"layers\": [{\"name\", \"node\", \"op\", \"dtype\", \"sqnr_db\"}]}; with\n"
    "                    --sensitivity \"sensitivity\": [{\"name\", \"op\", \"policy\",\n"
    "                    \"top1\", \"top1_drop\", \"agreement\", \"sqnr_db\", \"sqnr_rank\"}],\n"
    "                    worst first (accuracies are fractions; an infinite SQNR is null)\n"
    "  --batch N         ONNX models: value bound to symbolic dims (default 1)\n"
    "  --threads N       1..256 (default: the cores available): one model runs N\n"
    "                    samples at a time, one thread each (a copy of the model's\n"
    "                    arena per thread); two models and --sensitivity split each\n"
    "                    inference over N threads; results are identical for any N\n"
    "  --sensitivity     rank the weight layers by what quantizing each alone costs\n"
    "  --calib C, --calib-samples A:B, --weights P, --acts T, --observer O,\n"
    "  --first-last P, --depthwise P, --keep-float NODE, --layer NODE=POLICY,\n"
    "  --bias-correction on|off,\n"
    "  --solver gptq|rtn, --damp D, --act-order on|off, --refine on|off|auto, --sequential on|off|auto,\n"
    "  --equalize on|off, --output-layer float|quantized\n"
    "                    as for `fgq quantize` (with --sensitivity only; --calib\n"
    "                    FILE or --calib NAME=FILE for the model's one float32\n"
    "                    input: eval evaluates one-input models)\n"
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

typedef struct {
    const char *models[2];
    int n_models;
    const char *data_path, *labels_path, *range;
    int json, sensitivity;
    int64_t batch, threads;
    fgq_preprocess pre;
    int pre_given; /* --scale/--mean/--std override what a .fgq stores */
    fgq_quant_flags qf; /* --sensitivity: the quantize flags */
} eval_args;

/* Samples across threads: `nw` runners (one arena each, one thread per inference) claimed by the
 * pool's tasks, each task a range of samples; every sample's rank of its label lands in rank[s], so
 * the counts are the same for any thread count. The runner holding slot 0 draws the progress. */
typedef struct {
    fgq_graph_runner *runners;
    _Atomic int *busy;
    int32_t nw;
    const float *data;
    int64_t per_sample, n_classes;
    const int64_t *labels;
    int64_t *rank;
    float *scores; /* nw × n_classes */
    float **outs;  /* nw × n_out output buffers: output 0 a runner's scores, the others scratch */
    int32_t n_out;
    _Atomic int64_t done;
    _Atomic int failed;
    fgq_error *errs; /* nw */
    fgq_progress *prog;
} eval_pool;

static void eval_samples(void *ctx, fgq_idx b, fgq_idx e)
{
    eval_pool *p = ctx;
    int32_t w = 0;
    for (;;) { /* a free runner: at most nw tasks run at once */
        int expected = 0;
        if (atomic_compare_exchange_strong(&p->busy[w], &expected, 1))
            break;
        w = (w + 1) % p->nw;
    }
    float *const *outs = p->outs + (int64_t)w * p->n_out, *scores = outs[0];
    for (int64_t s = b; s < e && !atomic_load(&p->failed); s++) {
        const float *x = p->data + s * p->per_sample;
        if (fgq_graph_runner_run(&p->runners[w], &x, outs, NULL, NULL, &p->errs[w]) != FGQ_OK) {
            atomic_store(&p->failed, w + 1);
            break;
        }
        p->rank[s] = label_rank(scores, p->n_classes, p->labels[s]);
        const int64_t d = atomic_fetch_add(&p->done, 1) + 1;
        if (w == 0)
            fgq_progress_update(p->prog, d);
    }
    atomic_store(&p->busy[w], 0);
}

static int eval_single(const eval_args *a)
{
    const char *cmd = "eval";
    const char *model = a->models[0], *data_path = a->data_path, *labels_path = a->labels_path, *range = a->range;
    int json = a->json;
    int64_t threads = a->threads;
    fgq_preprocess pre = a->pre;
    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph_runner r;
    /* threads > 1: samples run that many at a time, one inference a thread (a runner per thread) */
    /* float_io: a model with quantized inputs / outputs (quantize --io quantized) takes and gives floats
     * here, converted as its dropped QUANTIZE / DEQUANTIZE did */
    if (fgq_cli_open_model(model, a->batch, 1, &r, &err) != FGQ_OK || fgq_graph_runner_float_io(&r, &err) != FGQ_OK) {
        fgq_graph_runner_free(&r);
        return fgq_cli_report(cmd, &err);
    }

    if (!a->pre_given)
        fgq_cli_stored_preprocess(&r.model, &pre);
    const int32_t nw = (int32_t)threads;
    fgq_graph_runner *runners = calloc((size_t)nw, sizeof *runners);
    _Atomic int *busy = calloc((size_t)nw, sizeof *busy);
    fgq_error *errs = calloc((size_t)nw, sizeof *errs);
    int64_t *rank = NULL;
    fgq_threadpool *pool = NULL;
    int32_t n_runners = 0;

    int rc = FGQ_EXIT_OK;
    fgq_dataset d;
    memset(&d, 0, sizeof d);
    int64_t *labels = NULL, n_labels = 0;
    float *scores = NULL, **outs = NULL;
    uint8_t *extra = NULL; /* outputs 1.. of every runner: the run writes every output */
    fgq_tensor_info in_info, out_info;
    if (fgq_model_n_inputs(&r.model) != 1 || fgq_model_n_outputs(&r.model) < 1) {
        fgq_fail(&err, FGQ_ERR_UNSUPPORTED,
                 "%s: eval takes models with one input (it has %d) and an output; `fgq quantize` takes several "
                 "inputs, and `fgq run --input` per input runs them",
                 model, fgq_model_n_inputs(&r.model));
        goto fail;
    }
    fgq_graph_runner_input_info(&r, 0, &in_info);
    fgq_graph_runner_output_info(&r, 0, &out_info);
    if (in_info.dtype != FGQ_DT_F32 || out_info.dtype != FGQ_DT_F32) {
        fgq_fail(&err, FGQ_ERR_UNSUPPORTED, "%s: eval feeds and reads float32 tensors", model);
        goto fail;
    }
    fgq_data_opts opts = {NULL, range, 0, 0};
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
    int64_t n = d.dims[0], top1 = 0, top5 = 0;
    scores = malloc((size_t)out_info.size_bytes * (size_t)nw);
    rank = malloc((size_t)(n > 0 ? n : 1) * sizeof *rank);
    if (scores == NULL || rank == NULL || runners == NULL || busy == NULL || errs == NULL) {
        fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int64_t s = 0; s < n; s++) /* every label first: the first bad one is named, nothing is run */
        if (labels[s] < 0 || labels[s] >= n_classes) {
            fgq_fail(&err, FGQ_ERR_VALUE, "%s: label %lld of sample %lld is outside the model's %lld classes",
                     labels_path, (long long)labels[s], (long long)(d.first_index + s), (long long)n_classes);
            goto fail;
        }
    runners[0] = r; /* the first runner moves into the array; the others run copies of its bytes */
    memset(&r, 0, sizeof r);
    n_runners = 1;
    for (; n_runners < nw; n_runners++) {
        uint8_t *copy = malloc((size_t)runners[0].model_size);
        if (copy == NULL) {
            fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory for the model's copy %d", (int)n_runners);
            goto fail;
        }
        memcpy(copy, runners[0].model_bytes, (size_t)runners[0].model_size);
        if (fgq_graph_runner_init_bytes(&runners[n_runners], copy, runners[0].model_size, model, &err) != FGQ_OK ||
            fgq_graph_runner_float_io(&runners[n_runners], &err) != FGQ_OK)
            goto fail;
    }
    if (nw > 1 && fgq_threadpool_create(nw, &pool, &err) != FGQ_OK)
        goto fail;
    const int32_t n_out = fgq_model_n_outputs(&runners[0].model);
    uint64_t extra_bytes = 0;
    for (int32_t o = 1; o < n_out; o++) {
        fgq_tensor_info oi;
        fgq_graph_runner_output_info(&runners[0], o, &oi);
        extra_bytes += (oi.size_bytes + 63u) & ~(uint64_t)63u;
    }
    outs = calloc((size_t)nw * (size_t)n_out, sizeof *outs);
    extra = extra_bytes > 0 && extra_bytes <= SIZE_MAX / (uint64_t)nw ? malloc((size_t)(extra_bytes * (uint64_t)nw)) : NULL;
    if (outs == NULL || (extra_bytes > 0 && extra == NULL)) {
        fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory for the model's outputs");
        goto fail;
    }
    for (int32_t w = 0; w < nw; w++) {
        uint64_t at = extra_bytes * (uint64_t)w;
        outs[(int64_t)w * n_out] = scores + (int64_t)w * n_classes;
        for (int32_t o = 1; o < n_out; o++) {
            fgq_tensor_info oi;
            fgq_graph_runner_output_info(&runners[0], o, &oi);
            outs[(int64_t)w * n_out + o] = (float *)(void *)(extra + at);
            at += (oi.size_bytes + 63u) & ~(uint64_t)63u;
        }
    }
    fgq_progress prog;
    fgq_progress_begin(&prog, "eval", n);
    double t0 = fgq_now_seconds();
    eval_pool ep = {runners, busy, nw, d.data, per_sample, n_classes, labels, rank, scores, outs, n_out, 0, 0, errs,
                    &prog};
    /* ranges of a few samples: evened out across the threads, the progress drawn as they finish */
    const int64_t grain = n / (16 * (int64_t)nw) > 1 ? n / (16 * (int64_t)nw) : 1;
    fgq_parallel_for(fgq_threadpool_parallel(pool), n, grain, eval_samples, &ep);
    if (atomic_load(&ep.failed)) {
        err = errs[atomic_load(&ep.failed) - 1];
        fgq_progress_end(&prog);
        goto fail;
    }
    for (int64_t s = 0; s < n; s++) {
        top1 += rank[s] < 1;
        top5 += rank[s] < 5;
    }
    double secs = fgq_now_seconds() - t0;
    fgq_progress_end(&prog);
    double acc1 = (double)top1 / (double)n, acc5 = (double)top5 / (double)n;
    int has_top5 = n_classes >= 5;
    if (json) {
        fgq_json j;
        fgq_json_init(&j, stdout);
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "model", model);
        fgq_json_kv_int(&j, "samples", n);
        fgq_json_kv_double(&j, "top1", acc1);
        fgq_json_key(&j, "top5");
        if (has_top5)
            fgq_json_double(&j, acc5);
        else
            fgq_json_null(&j);
        fgq_json_kv_double(&j, "samples_per_s", secs > 0 ? (double)n / secs : 0.0);
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
    fgq_threadpool_destroy(pool);
    for (int32_t w = 0; w < n_runners; w++)
        fgq_graph_runner_free(&runners[w]);
    free(runners);
    free((void *)busy);
    free(errs);
    free(rank);
    free(scores);
    free(outs);
    free(extra);
    free(labels);
    fgq_dataset_free(&d);
    fgq_graph_runner_free(&r);
    return rc;
}

/* ---- float against quantized ------------------------------------------------------------ */


typedef struct {
    fgq_progress bar;
} prog_ctx;

static void on_progress(void *user, int64_t done, int64_t total)
{
    prog_ctx *p = user;
    p->bar.total = total;
    fgq_progress_update(&p->bar, done);
}

static void stage_begin(void *user, const char *stage, int64_t total)
{
    fgq_progress_begin(&((prog_ctx *)user)->bar, stage, total);
}

static void stage_end(void *user)
{
    fgq_progress_end(&((prog_ctx *)user)->bar);
}

static const char *fmt_db(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, len, "%.2f", v);
    return buf;
}

/* Worst first: larger top-1 drop (fewer correct), then lower output SQNR, then node order. */
static int row_worse(const fgq_sensitivity_row *x, const fgq_sensitivity_row *y)
{
    if (x->top1 != y->top1)
        return x->top1 < y->top1;
    double sx = isnan(x->out_sqnr_db) ? INFINITY : x->out_sqnr_db;
    double sy = isnan(y->out_sqnr_db) ? INFINITY : y->out_sqnr_db;
    return sx < sy;
}

static void sort_rows(fgq_sensitivity_row *rows, int32_t n)
{
    for (int32_t i = 1; i < n; i++) { /* insertion sort: stable, and there are few layers */
        fgq_sensitivity_row r = rows[i];
        int32_t j = i;
        for (; j > 0 && row_worse(&r, &rows[j - 1]); j--)
            rows[j] = rows[j - 1];
        rows[j] = r;
    }
}

/* 1 + the number of layers whose output SQNR is strictly lower. */
static int32_t sqnr_rank(const fgq_sensitivity_row *rows, int32_t n, int32_t i)
{
    int32_t r = 1;
    for (int32_t k = 0; k < n; k++)
        if (rows[k].out_sqnr_db < rows[i].out_sqnr_db)
            r++;
    return r;
}

static void json_acc(fgq_json *j, const char *key, double top1, double top5, int has_top5, double per_s)
{
    fgq_json_key(j, key);
    fgq_json_begin_object(j);
    fgq_json_kv_double(j, "top1", top1);
    fgq_json_key(j, "top5");
    if (has_top5)
        fgq_json_double(j, top5);
    else
        fgq_json_null(j);
    fgq_json_kv_double(j, "samples_per_s", per_s);
    fgq_json_end_object(j);
}

static void print_compare(const eval_args *a, const char *qlabel, const fgq_dataset *d, const fgq_compare_result *res,
                          const fgq_sensitivity_row *rows, int32_t n_rows, int64_t n_calib)
{
    double n = (double)res->samples;
    int has_top5 = res->classes >= 5;
    double f1 = res->top1[0] / n, f5 = res->top5[0] / n, q1 = res->top1[1] / n, q5 = res->top5[1] / n;
    double fps = res->seconds[0] > 0 ? n / res->seconds[0] : 0.0, qps = res->seconds[1] > 0 ? n / res->seconds[1] : 0.0;
    double out_db = fgq_compare_sqnr_db(res->out_sig, res->out_noise);
    if (a->json) {
        fgq_json j;
        fgq_json_init(&j, stdout);
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "float_model", a->models[0]);
        fgq_json_kv_string(&j, "quant_model", qlabel);
        fgq_json_kv_int(&j, "samples", res->samples);
        json_acc(&j, "float", f1, f5, has_top5, fps);
        json_acc(&j, "quant", q1, q5, has_top5, qps);
        fgq_json_kv_double(&j, "agreement", res->agree / n);
        fgq_json_kv_double(&j, "output_sqnr_db", out_db);
        fgq_json_key(&j, "layers");
        fgq_json_begin_array(&j);
        for (int32_t L = 0; L < res->n_layers; L++) {
            const fgq_compare_layer *l = &res->layers[L];
            fgq_json_begin_object(&j);
            fgq_json_kv_string(&j, "name", l->name);
            fgq_json_kv_string(&j, "node", l->node);
            fgq_json_kv_string(&j, "op", l->op);
            fgq_json_kv_string(&j, "dtype", fgq_dtype_name(l->q_dtype));
            fgq_json_kv_double(&j, "sqnr_db", fgq_compare_sqnr_db(l->sig, l->noise));
            fgq_json_end_object(&j);
        }
        fgq_json_end_array(&j);
        if (a->sensitivity) {
            fgq_json_kv_int(&j, "calib_samples", n_calib);
            fgq_json_key(&j, "sensitivity");
            fgq_json_begin_array(&j);
            for (int32_t i = 0; i < n_rows; i++) {
                const fgq_sensitivity_row *r = &rows[i];
                fgq_json_begin_object(&j);
                fgq_json_kv_string(&j, "name", r->name);
                fgq_json_kv_string(&j, "op", r->op);
                fgq_json_kv_string(&j, "policy", r->policy);
                fgq_json_kv_double(&j, "top1", r->top1 / n);
                fgq_json_kv_double(&j, "top1_drop", (double)(res->top1[0] - r->top1) / n);
                fgq_json_kv_double(&j, "agreement", r->agree / n);
                fgq_json_kv_double(&j, "sqnr_db", r->out_sqnr_db);
                fgq_json_kv_int(&j, "sqnr_rank", sqnr_rank(rows, n_rows, i));
                fgq_json_end_object(&j);
            }
            fgq_json_end_array(&j);
        }
        fgq_json_end_object(&j);
        fgq_json_finish(&j);
        return;
    }
    char b1[32], b2[32];
    printf("float      %s\nquantized  %s\n%lld samples of %s (first index %lld), %lld thread%s\n\n", a->models[0],
           qlabel, (long long)res->samples, a->data_path, (long long)d->first_index, (long long)a->threads,
           a->threads == 1 ? "" : "s");
    printf("%-10s %9s %9s %11s\n", "", "top-1", "top-5", "samples/s");
    const char *row_name[2] = {"float", "quantized"};
    double row_top1[2] = {f1, q1}, row_top5[2] = {f5, q5}, row_ps[2] = {fps, qps};
    for (int m = 0; m < 2; m++) {
        printf("%-10s %7.2f %% ", row_name[m], 100.0 * row_top1[m]);
        if (has_top5)
            printf("%7.2f %% ", 100.0 * row_top5[m]);
        else
            printf("%9s ", "-");
        printf("%11.1f\n", row_ps[m]);
    }
    printf("top-1 agreement %.2f %% (%lld / %lld); top-1 change %+.2f points; output SQNR %s dB\n", 100.0 * res->agree / n,
           (long long)res->agree, (long long)res->samples, 100.0 * (q1 - f1), fmt_db(out_db, b1, sizeof b1));
    if (res->n_layers > 0) {
        int32_t worst = -1;
        printf("\nper-layer activation SQNR, quantized vs float over all samples (node order; low = hurts)\n");
        int wt = 32, wn = 28; /* columns as wide as the longest name (PyTorch names run long) */
        for (int32_t L = 0; L < res->n_layers; L++) {
            wt = fgq_cli_width(wt, res->layers[L].name, 0);
            wn = fgq_cli_width(wn, res->layers[L].node, (int)strlen(res->layers[L].op) + 3);
        }
        printf("%-*s %-*s %-6s %10s\n", wt, "tensor", wn, "float node (op)", "dtype", "SQNR dB");
        for (int32_t L = 0; L < res->n_layers; L++) {
            const fgq_compare_layer *l = &res->layers[L];
            double db = fgq_compare_sqnr_db(l->sig, l->noise);
            if (worst < 0 || db < fgq_compare_sqnr_db(res->layers[worst].sig, res->layers[worst].noise))
                worst = L;
            char node[512];
            snprintf(node, sizeof node, "%s (%s)", l->node, l->op);
            printf("%-*s %-*s %-6s %10s\n", wt, l->name, wn, node, fgq_dtype_name(l->q_dtype), fmt_db(db, b1, sizeof b1));
        }
        printf("lowest: %s (%s dB)\n", res->layers[worst].name,
               fmt_db(fgq_compare_sqnr_db(res->layers[worst].sig, res->layers[worst].noise), b1, sizeof b1));
    }
    if (!a->sensitivity)
        return;
    printf("\nsensitivity: one weight layer quantized at a time, every other node float\n"
           "(weights %s, acts %s, observer %s, %lld calibration samples); worst first\n",
           a->qf.weights, a->qf.acts ? a->qf.acts : "u8", a->qf.observer ? a->qf.observer : "minmax",
           (long long)n_calib);
    int wl = 28;
    for (int32_t i = 0; i < n_rows; i++)
        wl = fgq_cli_width(wl, rows[i].name, 0);
    printf("%-4s %-*s %-10s %-18s %8s %12s %10s %10s\n", "rank", wl, "layer", "op", "policy", "top-1", "drop (pts)",
           "out SQNR", "SQNR rank");
    for (int32_t i = 0; i < n_rows; i++) {
        const fgq_sensitivity_row *r = &rows[i];
        printf("%-4d %-*s %-10s %-18s %6.2f %% %12.2f %10s %10d\n", (int)(i + 1), wl, r->name, r->op, r->policy,
               100.0 * r->top1 / n, 100.0 * (double)(res->top1[0] - r->top1) / n, fmt_db(r->out_sqnr_db, b2, sizeof b2),
               (int)sqnr_rank(rows, n_rows, i));
    }
    if (n_rows > 0)
        printf("float top-1 %.2f %%; the quantized model above: %.2f %% (drop %.2f pts)\n", 100.0 * f1, 100.0 * q1,
               100.0 * (f1 - q1));
}

/* Loads, shapes and preprocesses samples for a model input. */
static fgq_status load_samples(const char *path, const char *range, const fgq_tensor_info *in,
                               const fgq_preprocess *pre, fgq_dataset *d, fgq_error *err)
{
    fgq_data_opts opts = {NULL, range, 0, 0};
    fgq_status st = fgq_data_load(path, &opts, d, err);
    if (st != FGQ_OK)
        return st;
    int64_t model_dims[FGQ_MAX_DIMS];
    memcpy(model_dims, in->dims, sizeof model_dims);
    if ((st = fgq_data_prepare(d, path, in->rank, model_dims, pre, err)) != FGQ_OK)
        return st;
    int64_t per_sample = fgq_dataset_sample_numel(d);
    if (per_sample * (int64_t)sizeof(float) != (int64_t)in->size_bytes)
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: a sample has %lld values but input %.*s takes %llu", path,
                        (long long)per_sample, (int)in->name_len, in->name,
                        (unsigned long long)(in->size_bytes / sizeof(float)));
    return FGQ_OK;
}

static int eval_compare(const eval_args *a)
{
    const char *cmd = "eval";
    const char *fname = a->models[0], *qname = a->n_models > 1 ? a->models[1] : NULL;
    fgq_error err;
    fgq_error_clear(&err);
    int rc = FGQ_EXIT_OK;
    fgq_graph *fg = NULL;
    fgq_graph_runner fr, qr;
    memset(&fr, 0, sizeof fr);
    memset(&qr, 0, sizeof qr);
    fgq_dataset d;
    memset(&d, 0, sizeof d);
    fgq_calib_set cs; /* --sensitivity: read as `fgq quantize` reads --calib */
    memset(&cs, 0, sizeof cs);
    fgq_quant_result qres; /* --sensitivity: the statistics and the model the flags make */
    memset(&qres, 0, sizeof qres);
    fgq_compare_result res;
    memset(&res, 0, sizeof res);
    int64_t *labels = NULL, n_labels = 0;
    float *float_out = NULL;
    fgq_sensitivity_row *rows = NULL;
    int32_t n_rows = 0;
    fgq_quant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    fgq_preprocess pre = a->pre;
    char qlabel[768];
    prog_ctx pc;

    if (a->sensitivity) {
        if (fgq_quant_flags_config(&a->qf, &cfg, &err) != FGQ_OK) /* before any work */
            goto fail;
        if (fgq_cli_is_fgq_file(fname)) {
            fgq_fail(&err, FGQ_ERR_VALUE, "%s: --sensitivity quantizes the float model again: give the .onnx", fname);
            goto fail;
        }
        if (fgq_cli_load_onnx(fname, a->batch, 1, &fg, &err) != FGQ_OK)
            goto fail;
        if (fg->n_inputs != 1 || fg->tensors[fg->inputs[0]].dtype != FGQ_DT_F32) {
            fgq_fail(&err, FGQ_ERR_UNSUPPORTED,
                     "%s: --sensitivity needs a model with one float32 input, as eval evaluates one input (it has "
                     "%d inputs%s; `fgq quantize` takes several)",
                     fname, (int)fg->n_inputs, fg->n_inputs == 1 ? ", not float32" : "");
            goto fail;
        }
        if (fgq_graph_runner_init(&fr, fg, &err) != FGQ_OK)
            goto fail;
    } else if (fgq_cli_open_model(fname, a->batch, 1, &fr, &err) != FGQ_OK ||
               fgq_graph_runner_float_io(&fr, &err) != FGQ_OK) { /* threads: below */
        goto fail;
    }
    if (qname != NULL) {
        if (fgq_cli_open_model(qname, a->batch, 1, &qr, &err) != FGQ_OK || fgq_graph_runner_float_io(&qr, &err) != FGQ_OK)
            goto fail;
        const char *recipe = NULL;
        uint32_t rlen = 0;
        if (fgq_model_get_recipe(&qr.model, &recipe, &rlen)) { /* its first line: the flags */
            uint32_t line = 0;
            while (line < rlen && recipe[line] != '\n')
                line++;
            snprintf(qlabel, sizeof qlabel, "%s, made by: %.*s", qname, (int)line, recipe);
        } else {
            snprintf(qlabel, sizeof qlabel, "%s", qname);
        }
    } else {
        snprintf(qlabel, sizeof qlabel, "%s quantized in memory (weights %s, acts %s)", fname, a->qf.weights, a->qf.acts ? a->qf.acts : "u8");
    }
    if (!a->pre_given && !(qname != NULL && fgq_cli_stored_preprocess(&qr.model, &pre)))
        fgq_cli_stored_preprocess(&fr.model, &pre);
    if (qname != NULL && fgq_compare_check(&fr, fname, &qr, qname, &err) != FGQ_OK)
        goto fail;
    if (fgq_model_n_inputs(&fr.model) != 1) {
        fgq_fail(&err, FGQ_ERR_UNSUPPORTED,
                 "%s: eval takes models with one input (it has %d); `fgq quantize` takes several, and `fgq run "
                 "--input` per input runs them",
                 fname, (int)fgq_model_n_inputs(&fr.model));
        goto fail;
    }
    fgq_tensor_info in_info;
    fgq_graph_runner_input_info(&fr, 0, &in_info);
    fgq_data_opts opts = {NULL, a->range, 0, 0};
    if (load_samples(a->data_path, a->range, &in_info, &pre, &d, &err) != FGQ_OK ||
        fgq_labels_load(a->labels_path, &opts, &labels, &n_labels, &err) != FGQ_OK)
        goto fail;
    if (n_labels != d.dims[0]) {
        fgq_fail(&err, FGQ_ERR_SHAPE, "%s has %lld labels but %s has %lld samples%s%s", a->labels_path,
                 (long long)n_labels, a->data_path, (long long)d.dims[0], a->range ? " in range " : "",
                 a->range ? a->range : "");
        goto fail;
    }
    if (a->sensitivity) {
        if (fgq_calib_set_load(&cs, fg, a->qf.calib_all, a->qf.n_calib, a->qf.calib_range, &pre, &err) != FGQ_OK)
            goto fail;
        fgq_stage_progress sp = {stage_begin, on_progress, stage_end, &pc};
        if (fgq_quant_pipeline(fg, &cs.samples, &cfg, NULL, (int32_t)a->threads, 0, &sp, &qres, &err) != FGQ_OK)
            goto fail;
        if (qname == NULL && (fgq_graph_runner_init(&qr, qres.qg, &err) != FGQ_OK ||
                              fgq_graph_runner_float_io(&qr, &err) != FGQ_OK))
            goto fail;
    }
    if (fgq_compare_check(&fr, fname, &qr, qname ? qname : "the quantized model", &err) != FGQ_OK ||
        fgq_graph_runner_set_threads(&fr, (int32_t)a->threads, &err) != FGQ_OK ||
        fgq_graph_runner_set_threads(&qr, (int32_t)a->threads, &err) != FGQ_OK)
        goto fail;
    fgq_tensor_info out_info;
    fgq_graph_runner_output_info(&fr, 0, &out_info);
    int64_t n = d.dims[0];
    if ((float_out = malloc((size_t)n * (size_t)out_info.size_bytes)) == NULL) {
        fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    fgq_compare_input in = {d.data, n, labels, a->labels_path, d.first_index, 1, float_out, on_progress, &pc};
    fgq_progress_begin(&pc.bar, "eval", n);
    fgq_status st = fgq_compare_run(&fr, &qr, &in, &res, &err);
    fgq_progress_end(&pc.bar);
    if (st != FGQ_OK)
        goto fail;
    if (a->sensitivity) {
        in.layers = 0;
        fgq_progress_begin(&pc.bar, "sensitivity", n);
        st = fgq_sensitivity_scan(fg, &qres.stats.calib, &cfg, &in, (int32_t)a->threads, &rows, &n_rows, &err);
        fgq_progress_end(&pc.bar);
        if (st != FGQ_OK)
            goto fail;
        sort_rows(rows, n_rows);
    }
    print_compare(a, qlabel, &d, &res, rows, n_rows, cs.samples.n);
    goto done;
fail:
    rc = fgq_cli_report(cmd, &err);
done:
    free(rows);
    free(float_out);
    free(labels);
    fgq_compare_result_free(&res);
    fgq_quant_result_free(&qres);
    fgq_calib_set_free(&cs);
    fgq_dataset_free(&d);
    fgq_graph_runner_free(&qr);
    fgq_graph_runner_free(&fr);
    fgq_graph_free(fg);
    return rc;
}

int fgq_cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    eval_args a;
    memset(&a, 0, sizeof a);
    a.batch = 1;
    a.threads = fgq_threadpool_default_threads();
    fgq_preprocess_default(&a.pre);
    fgq_error err;
    fgq_error_clear(&err);
    int rc = FGQ_EXIT_OK;
    if (!fgq_quant_flags_init(&a.qf, argc))
        return FGQ_EXIT_INTERNAL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--json") == 0) {
            a.json = 1;
            continue;
        }
        if (strcmp(arg, "--sensitivity") == 0) {
            a.sensitivity = 1;
            continue;
        }
        int took = fgq_quant_flags_take(&a.qf, cmd, argc, argv, &i, &rc);
        if (took < 0)
            goto out;
        if (took > 0)
            continue;
        static const char *const valued[] = {"--data", "--labels", "--samples", "--scale",
                                             "--mean", "--std",    "--batch",   "--threads"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known |= strcmp(arg, valued[k]) == 0;
        if (known) {
            if (i + 1 >= argc) {
                rc = fgq_cli_usage_error(cmd, "%s needs a value", arg);
                goto out;
            }
            const char *v = argv[++i];
            int32_t n = 0;
            if (strcmp(arg, "--data") == 0) {
                a.data_path = v;
            } else if (strcmp(arg, "--labels") == 0) {
                a.labels_path = v;
            } else if (strcmp(arg, "--samples") == 0) {
                a.range = v;
            } else if (strcmp(arg, "--scale") == 0) {
                a.pre_given = 1;
                if (!parse_floats(v, &a.pre.scale, 1, &n) || a.pre.scale == 0.0f) {
                    rc = fgq_cli_usage_error(cmd, "--scale '%s' is not a non-zero number", v);
                    goto out;
                }
            } else if (strcmp(arg, "--mean") == 0) {
                a.pre_given = 1;
                if (!parse_floats(v, a.pre.mean, FGQ_PRE_MAX_CH, &a.pre.n_mean)) {
                    rc = fgq_cli_usage_error(cmd, "--mean '%s' is not a list of numbers", v);
                    goto out;
                }
            } else if (strcmp(arg, "--std") == 0) {
                a.pre_given = 1;
                if (!parse_floats(v, a.pre.std, FGQ_PRE_MAX_CH, &a.pre.n_std)) {
                    rc = fgq_cli_usage_error(cmd, "--std '%s' is not a list of numbers", v);
                    goto out;
                }
                for (int32_t c = 0; c < a.pre.n_std; c++)
                    if (a.pre.std[c] == 0.0f) {
                        rc = fgq_cli_usage_error(cmd, "--std must not contain 0");
                        goto out;
                    }
            } else if (strcmp(arg, "--threads") == 0) {
                if (!fgq_cli_parse_i64(v, 1, FGQ_THREADPOOL_MAX_THREADS, &a.threads)) {
                    rc = fgq_cli_usage_error(cmd, "--threads '%s' is not a count in 1..%d", v,
                                             FGQ_THREADPOOL_MAX_THREADS);
                    goto out;
                }
            } else if (strcmp(arg, "--batch") == 0) {
                if (!fgq_cli_parse_i64(v, 1, INT32_MAX, &a.batch)) {
                    rc = fgq_cli_usage_error(cmd, "--batch '%s' is not a positive integer", v);
                    goto out;
                }
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            rc = fgq_cli_usage_error(cmd, "unknown option '%s'", arg);
            goto out;
        } else if (a.n_models < 2) {
            a.models[a.n_models++] = arg;
        } else {
            rc = fgq_cli_usage_error(cmd, "unexpected argument '%s'", arg);
            goto out;
        }
    }
    if (a.n_models == 0) {
        rc = fgq_cli_usage_error(cmd, "no model given");
        goto out;
    }
    if (a.data_path == NULL || a.labels_path == NULL) {
        rc = fgq_cli_usage_error(cmd, "--data and --labels are required");
        goto out;
    }
    if (a.qf.budget != NULL || a.qf.size != NULL || a.qf.candidates != NULL || a.qf.budget_metric != NULL) {
        rc = fgq_cli_usage_error(cmd, "--budget, --size, --candidates and --budget-metric go with `fgq quantize`");
        goto out;
    }
    if (a.qf.any && !a.sensitivity) {
        rc = fgq_cli_usage_error(cmd, "--calib, --weights and the other quantize flags go with --sensitivity");
        goto out;
    }
    if (a.sensitivity && (a.qf.calib == NULL || a.qf.weights == NULL)) {
        rc = fgq_cli_usage_error(cmd, "--sensitivity quantizes the model layer by layer: it needs --calib and "
                                      "--weights (the flags QUANT.fgq was made with; the .fgq does not record them)");
        goto out;
    }
    rc = a.n_models == 1 && !a.sensitivity ? eval_single(&a) : eval_compare(&a);
out:
    fgq_quant_flags_free(&a.qf);
    return rc;
}
