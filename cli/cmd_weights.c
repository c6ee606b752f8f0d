/* cmd_weights.c — `fgq weights`: quantize every weight tensor with one policy and
 * show, per tensor, what it costs (SQNR) and buys (bits per weight, zeros). */
#include "cli.h"
#include "json.h"

#include "quant/format/policy.h"
#include "quant/format/weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char k_usage[] =
    "usage: fgq weights MODEL.onnx --weights POLICY [--layer NAME] [--json | --json-values]\n"
    "                   [--batch N]\n"
    "\n"
    "Quantizes every weight tensor of MODEL (the weight input of Conv, Gemm and\n"
    "MatMul, after BatchNormalization is folded into it) with POLICY and reports,\n"
    "per tensor, its shape, bits per weight (scales included), SQNR of the\n"
    "dequantized weights in dB and the fraction of zeros; then total float and\n"
    "quantized bytes. Nothing is written.\n"
    "\n"
    "POLICY: f32 | u8 | s8 | s8:gN | s4 | s4:gN | s3 | s3:gN | s2 | s2:gN | ternary:gN[:twn|exact|asym] |\n"
    "        ternary:twn|exact|asym\n"
    "  u8        per tensor, TensorFlow min/max affine (0.0 exact)\n"
    "  s8        per output channel, symmetric\n"
    "  s8:gN     one symmetric scale per group of N weights along the reduction axis\n"
    "  s4, s4:gN the same in 4 bits (-7..7), per output channel or per group\n"
    "  s3, s3:gN the same in 3 bits (-3..3; 8 codes in 3 bytes)\n"
    "  s2, s2:gN the four levels -3, -1, 1, 3 (2 bits, no zero)\n"
    "  ternary:gN[:SOLVER]  FGQ ternary {-a-, 0, +a+} per group of N; SOLVER twn, exact\n"
    "            (default: the least-squares optimum) or asym (+ and - solved apart)\n"
    "\n"
    "options:\n"
    "  --weights POLICY  the weight policy (required)\n"
    "  --json            print JSON: {\"policy\", \"tensors\": [{\"name\", \"shape\",\n"
    "                    \"bits_per_weight\", \"sqnr_db\", \"zero_fraction\"}],\n"
    "                    \"total\": {\"float_bytes\", \"quant_bytes\"}}\n"
    "                    (\"node\": the first node using the tensor)\n"
    "  --layer NAME      only this weight: its tensor's name or its node's\n"
    "  --json-values     --json, and per tensor its weights [rows, k] row-major:\n"
    "                    \"float\" (BatchNormalization folded) and \"dequant\" (the\n"
    "                    policy's rounding, no solver: for ternary what the kernels\n"
    "                    compute; for s8/s4/s3/s2:gN the float group scales, which a\n"
    "                    .fgq stores as integer multipliers of a row unit),\n"
    "                    \"group\" (length along k),\n"
    "                    and for ternary \"alpha_pos\", \"alpha_neg\", \"delta_pos\",\n"
    "                    \"delta_neg\" per group (row-major over [rows, groups]):\n"
    "                    alpha = the dequantized +-1 value, delta = the largest\n"
    "                    |w| of that sign coded 0 (0 when none)\n"
    "  --batch N         value bound to symbolic dims such as a batch axis (default 1)\n"
    "  -h, --help        this text\n";

typedef struct {
    const fgq_ir_tensor *tensor;
    const char *node;
    int64_t rows, k, group;
    int ternary;
    fgq_weight_report rep;
    float *w, *q; /* --json-values: float and dequantized [rows, k] */
} weight_row;

static void json_floats(fgq_json *j, const char *key, const float *v, int64_t n)
{
    fgq_json_key(j, key);
    fgq_json_begin_array(j);
    for (int64_t i = 0; i < n; i++)
        fgq_json_float(j, v[i]);
    fgq_json_end_array(j);
}

/* Per group of a ternary row: alpha = the dequantized value of its +1 (-1)
 * codes, delta = the largest |w| of that sign the solver coded 0. `which`:
 * 0 alpha_pos, 1 alpha_neg, 2 delta_pos, 3 delta_neg. */
static void json_ternary_groups(fgq_json *j, const char *key, const weight_row *r, int which)
{
    int64_t n_groups = (r->k + r->group - 1) / r->group;
    fgq_json_key(j, key);
    fgq_json_begin_array(j);
    for (int64_t row = 0; row < r->rows; row++)
        for (int64_t g = 0; g < n_groups; g++) {
            float v = 0.0f;
            int64_t end = (g + 1) * r->group < r->k ? (g + 1) * r->group : r->k;
            for (int64_t c = g * r->group; c < end; c++) {
                float w = r->w[row * r->k + c], q = r->q[row * r->k + c];
                float cand = which == 0 ? q : which == 1 ? -q : 0.0f;
                if (which == 2 && q == 0.0f && w >= 0.0f)
                    cand = w;
                if (which == 3 && q == 0.0f && w <= 0.0f)
                    cand = -w;
                if (cand > v)
                    v = cand;
            }
            fgq_json_float(j, v);
        }
    fgq_json_end_array(j);
}

static void print_table(const char *model, const char *policy, const weight_row *rows, int32_t n,
                        int64_t float_bytes, int64_t quant_bytes, int64_t n_weights)
{
    printf("weights of %s under %s (BatchNormalization folded into its producer)\n", model, policy);
    int wt = 28; /* as wide as the longest tensor name (PyTorch names run long) */
    for (int32_t i = 0; i < n; i++)
        wt = fgq_cli_width(wt, rows[i].tensor->name, 0);
    printf("%-*s %-14s %8s %6s %9s %7s\n", wt, "tensor", "shape", "rows x k", "bits/w", "SQNR dB",
           "zeros");
    for (int32_t i = 0; i < n; i++) {
        char shape[96], rk[48];
        fgq_cli_format_shape(rows[i].tensor, shape, sizeof shape);
        snprintf(rk, sizeof rk, "%lldx%lld", (long long)rows[i].rows, (long long)rows[i].k);
        char sqnr[32];
        if (isinf(rows[i].rep.sqnr_db))
            snprintf(sqnr, sizeof sqnr, "inf");
        else
            snprintf(sqnr, sizeof sqnr, "%.2f", rows[i].rep.sqnr_db);
        printf("%-*s %-14s %8s %6.2f %9s %6.1f%%\n", wt, rows[i].tensor->name, shape, rk,
               rows[i].rep.bits_per_weight, sqnr, 100.0 * rows[i].rep.zero_fraction);
    }
    double ratio = quant_bytes > 0 ? (double)float_bytes / (double)quant_bytes : 0.0;
    printf("total: %d tensors, %lld weights; float %lld bytes -> quantized %lld bytes (%.2fx smaller, "
           "%.3f bits/weight)\n",
           n, (long long)n_weights, (long long)float_bytes, (long long)quant_bytes, ratio,
           n_weights > 0 ? 8.0 * (double)quant_bytes / (double)n_weights : 0.0);
}

static void print_json(const char *model, const char *policy, const weight_row *rows, int32_t n,
                       int64_t float_bytes, int64_t quant_bytes, int values)
{
    fgq_json j;
    fgq_json_init(&j, stdout);
    fgq_json_begin_object(&j);
    fgq_json_kv_string(&j, "model", model);
    fgq_json_kv_string(&j, "policy", policy);
    fgq_json_key(&j, "tensors");
    fgq_json_begin_array(&j);
    for (int32_t i = 0; i < n; i++) {
        const fgq_ir_tensor *t = rows[i].tensor;
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "name", t->name);
        fgq_json_kv_string(&j, "node", rows[i].node);
        fgq_json_key(&j, "shape");
        fgq_json_begin_array(&j);
        for (int32_t d = 0; d < t->rank; d++)
            fgq_json_int(&j, t->dims[d]);
        fgq_json_end_array(&j);
        fgq_json_kv_int(&j, "rows", rows[i].rows);
        fgq_json_kv_int(&j, "k", rows[i].k);
        fgq_json_kv_double(&j, "bits_per_weight", rows[i].rep.bits_per_weight);
        fgq_json_key(&j, "sqnr_db"); /* null when the error is exactly 0 (infinite SQNR) */
        fgq_json_double(&j, rows[i].rep.sqnr_db);
        fgq_json_kv_double(&j, "mse", rows[i].rep.mse);
        fgq_json_kv_double(&j, "zero_fraction", rows[i].rep.zero_fraction);
        fgq_json_kv_int(&j, "float_bytes", rows[i].rep.float_bytes);
        fgq_json_kv_int(&j, "quant_bytes", rows[i].rep.quant_bytes);
        if (values) {
            fgq_json_kv_int(&j, "group", rows[i].group);
            json_floats(&j, "float", rows[i].w, rows[i].rows * rows[i].k);
            json_floats(&j, "dequant", rows[i].q, rows[i].rows * rows[i].k);
            if (rows[i].ternary) {
                static const char *const keys[4] = {"alpha_pos", "alpha_neg", "delta_pos", "delta_neg"};
                for (int which = 0; which < 4; which++)
                    json_ternary_groups(&j, keys[which], &rows[i], which);
            }
        }
        fgq_json_end_object(&j);
    }
    fgq_json_end_array(&j);
    fgq_json_key(&j, "total");
    fgq_json_begin_object(&j);
    fgq_json_kv_int(&j, "float_bytes", float_bytes);
    fgq_json_kv_int(&j, "quant_bytes", quant_bytes);
    fgq_json_end_object(&j);
    fgq_json_end_object(&j);
    fgq_json_finish(&j);
}

int fgq_cmd_weights(int argc, char **argv)
{
    const char *cmd = "weights";
    if (fgq_cli_wants_help(argc, argv)) {
        fputs(k_usage, stdout);
        return FGQ_EXIT_OK;
    }
    const char *model = NULL, *policy_text = NULL, *layer = NULL;
    int json = 0, values = 0;
    int64_t batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--json-values") == 0) {
            json = values = 1;
        } else if (strcmp(a, "--weights") == 0 || strcmp(a, "--batch") == 0 || strcmp(a, "--layer") == 0) {
            if (i + 1 >= argc)
                return fgq_cli_usage_error(cmd, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--weights") == 0)
                policy_text = v;
            else if (strcmp(a, "--layer") == 0)
                layer = v;
            else if (!fgq_cli_parse_i64(v, 1, INT32_MAX, &batch))
                return fgq_cli_usage_error(cmd, "--batch '%s' is not a positive integer", v);
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
    if (policy_text == NULL)
        return fgq_cli_usage_error(cmd, "--weights POLICY is required");

    fgq_error err;
    fgq_error_clear(&err);
    fgq_policy policy;
    if (fgq_policy_parse(policy_text, &policy, &err) != FGQ_OK)
        return fgq_cli_usage_error(cmd, "%s", err.msg);
    char canonical[64];
    fgq_policy_format(&policy, canonical, sizeof canonical);

    fgq_graph *g = NULL;
    if (fgq_cli_load_onnx(model, batch, 1, &g, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);

    int rc = FGQ_EXIT_OK;
    fgq_weight_ref *refs = NULL;
    int32_t n = 0;
    weight_row *rows = NULL;
    float *buf = NULL;
    if (fgq_find_weights(g, &refs, &n, &err) != FGQ_OK) {
        rc = fgq_cli_report(cmd, &err);
        goto done;
    }
    rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (rows == NULL) {
        fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory");
        rc = fgq_cli_report(cmd, &err);
        goto done;
    }
    if (layer != NULL) { /* keep the one weight named by its tensor or its node */
        int32_t keep = -1;
        for (int32_t i = 0; i < n && keep < 0; i++)
            if (strcmp(g->tensors[refs[i].tensor].name, layer) == 0 || strcmp(g->nodes[refs[i].node].name, layer) == 0)
                keep = i;
        if (keep < 0) {
            char names[256] = "";
            size_t used = 0;
            for (int32_t i = 0; i < n && used < sizeof names; i++) {
                int w = snprintf(names + used, sizeof names - used, "%s%s (%s)", i ? ", " : "",
                                 g->tensors[refs[i].tensor].name, g->nodes[refs[i].node].name);
                used += w > 0 ? (size_t)w : 0;
            }
            fgq_fail(&err, FGQ_ERR_VALUE, "%s: no weight tensor or weight layer is named '%s' (weights: %s%s)",
                     model, layer, names, used >= sizeof names ? "..." : "");
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        refs[0] = refs[keep];
        n = 1;
    }
    int64_t float_bytes = 0, quant_bytes = 0, n_weights = 0;
    for (int32_t i = 0; i < n; i++) {
        const fgq_weight_ref *w = &refs[i];
        size_t bytes = (size_t)(w->rows * w->k) * sizeof *buf;
        float *grown = values ? malloc(bytes) : realloc(buf, bytes);
        float *q = values ? malloc(bytes) : NULL;
        if (grown == NULL || (values && q == NULL)) {
            free(q);
            if (values)
                free(grown);
            fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory for weight %s", g->tensors[w->tensor].name);
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        buf = values ? NULL : grown;
        fgq_weight_rows_f32(g, w, grown);
        rows[i].tensor = &g->tensors[w->tensor];
        rows[i].node = g->nodes[w->node].name;
        rows[i].rows = w->rows;
        rows[i].k = w->k;
        rows[i].group = fgq_policy_group_for(&policy, w->k);
        rows[i].ternary = policy.kind == FGQ_WQ_T2;
        rows[i].w = values ? grown : NULL;
        rows[i].q = q;
        if (fgq_quantize_weights_f32(&policy, grown, w->rows, w->k, rows[i].tensor->name, &rows[i].rep,
                                     q, &err) != FGQ_OK) {
            rc = fgq_cli_report(cmd, &err);
            goto done;
        }
        float_bytes += rows[i].rep.float_bytes;
        quant_bytes += rows[i].rep.quant_bytes;
        n_weights += w->rows * w->k;
    }
    if (json)
        print_json(model, canonical, rows, n, float_bytes, quant_bytes, values);
    else
        print_table(model, canonical, rows, n, float_bytes, quant_bytes, n_weights);
done:
    free(buf);
    for (int32_t i = 0; rows != NULL && i < n; i++) {
        free(rows[i].w);
        free(rows[i].q);
    }
    free(rows);
    free(refs);
    fgq_graph_free(g);
    return rc;
}
