/* cmd_bench.c — `fgq bench`: latency percentiles and memory of one model. */
#include "cli.h"
#include "json.h"
#include "progress.h"

#include "run/run_graph.h"
#include "threadpool.h"

#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq bench MODEL.fgq|MODEL.onnx [--runs N] [--warmup N] [--threads N] [--nodes] [--json]\n"
    "\n"
    "Times MODEL on random inputs (fixed seed; uniform in [-1, 1)) and reports\n"
    "latency p50 / p99 / mean, throughput, the arena the memory plan needs beside\n"
    "its lower bound (the most bytes live at once), weight bytes and model bytes.\n"
    "\n"
    "options:\n"
    "  --runs N      timed runs (default 200)\n"
    "  --warmup N    untimed runs first (default 10)\n"
    "  --threads N   threads per inference, 1..256 (default: the cores available);\n"
    "                Conv, Gemm, MatMul, pools, QUANTIZE and QADD split their\n"
    "                output over them, and the outputs are bit-identical for any N\n"
    "  --json        print {\"model\", \"runs\", \"threads\", \"latency_ms\": {\"p50\", \"p99\",\n"
    "                \"mean\", \"min\"}, \"arena_bytes\" (activations), \"arena_lower_bound\",\n"
    "                \"scratch_bytes\" (one thread's slice), \"run_arena_bytes\" (all a run at\n"
    "                --threads takes: activations, records, a slice per thread), \"weight_bytes\",\n"
    "                \"model_bytes\"}\n"
    "  --nodes       then time each node: another --runs runs, the time from one node's\n"
    "                end to the next's (the first node's includes copying the inputs in),\n"
    "                nodes listed by their share of the total; with --json a \"nodes\" array\n"
    "                of {\"node\", \"name\", \"op\", \"mean_us\", \"share\"}\n"
    "  --batch N     ONNX models: value bound to symbolic dims (default 1)\n"
    "  -h, --help    this text\n";

/* Per-node times for --nodes: the observer stamps the clock after every node. */
typedef struct {
    double last;
    double *sum_s; /* [n_nodes] seconds, summed over the runs */
} node_clock;

static void node_tick(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    (void)outputs;
    (void)n_outputs;
    node_clock *c = user;
    const double t = fgq_now_seconds();
    c->sum_s[node] += t - c->last;
    c->last = t;
}

/* order[0..n) by decreasing key, ties by index (insertion sort: stable, no context-free comparator) */
static void sort_by_time(int32_t *order, int32_t n, const double *key)
{
    for (int32_t i = 0; i < n; i++)
        order[i] = i;
    for (int32_t i = 1; i < n; i++)
        for (int32_t k = i; k > 0 && key[order[k]] > key[order[k - 1]]; k--) {
            int32_t t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, int64_t n, double p)
{
    int64_t i = (int64_t)(p / 100.0 * (double)n + 0.999999) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

int fgq_cmd_bench(int argc, char **argv)
{
    const char *cmd = "bench";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL;
    int json = 0, nodes = 0;
    int64_t runs = 200, warmup = 10, threads = fgq_threadpool_default_threads(), batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--nodes") == 0) {
            nodes = 1;
        } else if (strcmp(a, "--runs") == 0 || strcmp(a, "--warmup") == 0 || strcmp(a, "--threads") == 0 ||
                   strcmp(a, "--batch") == 0) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            const char *v = argv[++i];
            int64_t *dst = strcmp(a, "--runs") == 0 ? &runs
                           : strcmp(a, "--warmup") == 0 ? &warmup
                           : strcmp(a, "--threads") == 0 ? &threads
                                                          : &batch;
            if (dst == &threads && !fgq_cli_parse_i64(v, 1, FGQ_THREADPOOL_MAX_THREADS, dst))
                return fgq_cli_usage_error(cmd, "--threads '%s' is not a count in 1..%d", v,
                                           FGQ_THREADPOOL_MAX_THREADS);
            if (!fgq_cli_parse_i64(v, dst == &warmup ? 0 : 1, 100000000, dst))
                return fgq_cli_usage_error(cmd, "%s '%s' is not a valid count", a, v);
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

    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph_runner r;
    if (fgq_cli_open_model(model, batch, threads, &r, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);

    int rc = FGQ_EXIT_OK;
    int32_t n_in = fgq_model_n_inputs(&r.model), n_out = fgq_model_n_outputs(&r.model);
    void **in = calloc((size_t)n_in + 1, sizeof *in), **out = calloc((size_t)n_out + 1, sizeof *out);
    double *lat = malloc((size_t)runs * sizeof *lat);
    if (in == NULL || out == NULL || lat == NULL)
        goto oom;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int32_t i = 0; i < n_in; i++) {
        fgq_tensor_info info;
        fgq_model_input_info(&r.model, i, &info);
        if ((in[i] = malloc(info.size_bytes ? (size_t)info.size_bytes : 1)) == NULL)
            goto oom;
        if (info.dtype == FGQ_DT_F32) {
            float *x = in[i];
            for (uint64_t e = 0; e < info.size_bytes / sizeof(float); e++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                x[e] = (float)((double)(seed >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
            }
        } else {
            memset(in[i], 0, (size_t)info.size_bytes);
        }
    }
    for (int32_t o = 0; o < n_out; o++) {
        fgq_tensor_info info;
        fgq_model_output_info(&r.model, o, &info);
        if ((out[o] = malloc(info.size_bytes ? (size_t)info.size_bytes : 1)) == NULL)
            goto oom;
    }
    for (int64_t k = 0; k < warmup + runs; k++) {
        double t0 = fgq_now_seconds();
        /* inputs of other dtypes are passed through as bytes; the runner only forwards the pointers */
        if (fgq_graph_runner_run(&r, (const float *const *)in, (float *const *)out, NULL, NULL, &err) != FGQ_OK) {
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        if (k >= warmup)
            lat[k - warmup] = (fgq_now_seconds() - t0) * 1e3;
    }
    double mean = 0.0;
    for (int64_t k = 0; k < runs; k++)
        mean += lat[k] / (double)runs;
    qsort(lat, (size_t)runs, sizeof *lat, cmp_double);
    double p50 = percentile(lat, runs, 50), p99 = percentile(lat, runs, 99);
    const int32_t n_nodes = fgq_model_n_nodes(&r.model);
    node_clock clk = {0.0, NULL};
    int32_t *order = NULL;
    double total_s = 0.0;
    if (nodes) { /* another `runs` runs with the clock after every node: the timed runs above stay clean */
        clk.sum_s = calloc((size_t)n_nodes + 1, sizeof(double));
        order = malloc(((size_t)n_nodes + 1) * sizeof(int32_t));
        if (clk.sum_s == NULL || order == NULL) {
            free(clk.sum_s);
            free(order);
            goto oom;
        }
        for (int64_t k = 0; k < runs; k++) {
            clk.last = fgq_now_seconds();
            if (fgq_graph_runner_run(&r, (const float *const *)in, (float *const *)out, node_tick, &clk, &err) !=
                FGQ_OK) {
                free(clk.sum_s);
                free(order);
                rc = fgq_cli_report(cmd, &err);
                goto done;
            }
        }
        for (int32_t i = 0; i < n_nodes; i++)
            total_s += clk.sum_s[i];
        sort_by_time(order, n_nodes, clk.sum_s);
    }
    if (json) {
        fgq_json j;
        fgq_json_init(&j, stdout);
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "model", model);
        fgq_json_kv_int(&j, "runs", runs);
        fgq_json_kv_int(&j, "threads", threads);
        fgq_json_key(&j, "latency_ms");
        fgq_json_begin_object(&j);
        fgq_json_kv_double(&j, "p50", p50);
        fgq_json_kv_double(&j, "p99", p99);
        fgq_json_kv_double(&j, "mean", mean);
        fgq_json_kv_double(&j, "min", lat[0]);
        fgq_json_end_object(&j);
        fgq_json_kv_int(&j, "arena_bytes", (int64_t)fgq_model_activation_size(&r.model));
        fgq_json_kv_int(&j, "arena_lower_bound", (int64_t)fgq_model_arena_lower_bound(&r.model));
        fgq_json_kv_int(&j, "scratch_bytes", (int64_t)fgq_model_scratch_size(&r.model));
        fgq_json_kv_int(&j, "run_arena_bytes", (int64_t)fgq_model_arena_size_threads(&r.model, (int32_t)threads));
        fgq_json_kv_int(&j, "weight_bytes", (int64_t)fgq_model_weight_bytes(&r.model));
        fgq_json_kv_int(&j, "model_bytes", (int64_t)r.model_size);
        if (nodes) {
            fgq_json_key(&j, "nodes");
            fgq_json_begin_array(&j);
            for (int32_t i = 0; i < n_nodes; i++) {
                fgq_node_info ni;
                char name[256];
                if (fgq_model_node_info(&r.model, order[i], &ni) != FGQ_OK)
                    continue;
                snprintf(name, sizeof name, "%.*s", (int)ni.name_len, ni.name);
                fgq_json_begin_object(&j);
                fgq_json_kv_int(&j, "node", order[i]);
                fgq_json_kv_string(&j, "name", name);
                fgq_json_kv_string(&j, "op", fgq_op_name(ni.op));
                fgq_json_kv_double(&j, "mean_us", clk.sum_s[order[i]] / (double)runs * 1e6);
                fgq_json_kv_double(&j, "share", total_s > 0.0 ? clk.sum_s[order[i]] / total_s : 0.0);
                fgq_json_end_object(&j);
            }
            fgq_json_end_array(&j);
        }
        fgq_json_end_object(&j);
        fgq_json_finish(&j);
    } else {
        printf("%s: %lld runs after %lld warm-up, %lld thread%s\n", model, (long long)runs, (long long)warmup,
               (long long)threads, threads == 1 ? "" : "s");
        printf("latency  p50 %.4f ms  p99 %.4f ms  mean %.4f ms  min %.4f ms  (%.1f inferences/s at p50)\n", p50,
               p99, mean, lat[0], p50 > 0 ? 1e3 / p50 : 0.0);
        printf("arena    %llu bytes of activations (lower bound %llu); %llu bytes with the run's records and\n"
               "         %lld scratch slice%s of %llu bytes\n",
               (unsigned long long)fgq_model_activation_size(&r.model),
               (unsigned long long)fgq_model_arena_lower_bound(&r.model),
               (unsigned long long)fgq_model_arena_size_threads(&r.model, (int32_t)threads), (long long)threads,
               threads == 1 ? "" : "s", (unsigned long long)fgq_model_scratch_size(&r.model));
        printf("weights  %llu bytes; model %llu bytes\n", (unsigned long long)fgq_model_weight_bytes(&r.model),
               (unsigned long long)r.model_size);
        if (nodes) {
            printf("\nper node, mean of %lld runs timed node by node (%.4f ms a run), by share:\n", (long long)runs,
                   total_s / (double)runs * 1e3);
            printf("%6s %10s %7s  %-16s %s\n", "node", "mean us", "share", "op", "name");
            for (int32_t i = 0; i < n_nodes; i++) {
                fgq_node_info ni;
                if (fgq_model_node_info(&r.model, order[i], &ni) != FGQ_OK)
                    continue;
                printf("%6d %10.2f %6.1f%%  %-16s %.*s\n", (int)order[i], clk.sum_s[order[i]] / (double)runs * 1e6,
                       total_s > 0.0 ? 100.0 * clk.sum_s[order[i]] / total_s : 0.0, fgq_op_name(ni.op),
                       (int)ni.name_len, ni.name);
            }
        }
    }
    free(clk.sum_s);
    free(order);
    goto done;
oom:
    fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory");
    rc = fgq_cli_report(cmd, &err);
done:
    for (int32_t i = 0; in && i < n_in; i++)
        free(in[i]);
    for (int32_t o = 0; out && o < n_out; o++)
        free(out[o]);
    free(in);
    free(out);
    free(lat);
    fgq_graph_runner_free(&r);
    return rc;
}
