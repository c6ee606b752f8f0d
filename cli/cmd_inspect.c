/* cmd_inspect.c — `fgq inspect MODEL.onnx [--json] [--batch N]`: per node op,
 * shapes, parameters and MACs; totals; the ops fgq does not support. */
#include "cli.h"
#include "json.h"

#include "fgq_ops.h"
#include "import/onnx_ops.h"
#include "import/shape_infer.h"
#include "quant/format/lut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fgq inspect MODEL.onnx|MODEL.fgq [--json] [--batch N]\n\n"
            "Lists every node of an ONNX model with its op, input and output shapes,\n"
            "parameters (elements of constant inputs) and multiply-accumulates, then totals\n"
            "and the ops fgq does not support. A .fgq (recognised by its magic) is listed\n"
            "as the runtime loads it: nodes and their ops, inputs and outputs, constant\n"
            "bytes, the activation arena, and how it was made (the recipe `fgq quantize`\n"
            "stores: flags, each layer's policy, bits and solver).\n\n"
            "  --json      machine-readable output ({\"model\", \"format\": \"fgq\", \"nodes\",\n"
            "              \"inputs\", \"outputs\", \"const_bytes\", \"arena_bytes\" (activations),\n"
            "              \"scratch_bytes\" (one thread's), \"run_arena_bytes\" (what a serial run\n"
            "              takes), \"recipe\"} for a .fgq)\n"

            "  --batch N   value bound to symbolic dims (default 1)\n"
            "  -h, --help  this help\n\n"
            "Environment: FGQ_MAX_MODEL_BYTES lowers the model file size limit (default 2 GiB).\n");
}

typedef struct {
    int64_t params, macs, weight_bytes;
    int32_t n_unknown; /* intermediates whose shape could not be inferred */
} totals;

/* Totals count each constant once, however many nodes read it. */
static totals compute_totals(const fgq_graph *g, int64_t *node_params, int64_t *node_macs)
{
    totals t = {0, 0, 0, 0};
    unsigned char *seen = calloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1), 1);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        fgq_node_stats(g, i, &node_params[i], &node_macs[i]);
        t.macs += node_macs[i];
        const fgq_ir_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->n_inputs; k++) {
            int32_t ti = n->inputs[k];
            if (ti < 0 || g->tensors[ti].kind != FGQ_TK_CONST || (seen != NULL && seen[ti]))
                continue;
            if (seen != NULL)
                seen[ti] = 1;
            int64_t e = fgq_ir_tensor_numel(&g->tensors[ti]);
            if (e > 0) {
                t.params += e;
                t.weight_bytes += e * (int64_t)fgq_dtype_size(g->tensors[ti].dtype);
            }
        }
        for (int32_t k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && g->tensors[n->outputs[k]].rank < 0)
                t.n_unknown++;
    }
    free(seen);
    return t;
}

/* Distinct unsupported op names ("domain:Op" outside the default domain), in
 * order of first appearance; returns how many were written to names. */
static int32_t unsupported_ops(const fgq_graph *g, const uint8_t *ok, const char **names, const char **domains)
{
    int32_t n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (ok[i])
            continue;
        const fgq_ir_node *nd = &g->nodes[i];
        int dup = 0;
        for (int32_t k = 0; k < n && !dup; k++)
            dup = strcmp(names[k], nd->op_type) == 0 && strcmp(domains[k], nd->domain) == 0;
        if (!dup) {
            names[n] = nd->op_type;
            domains[n++] = nd->domain;
        }
    }
    return n;
}

static void json_shape(fgq_json *j, const fgq_ir_tensor *t)
{
    if (t == NULL || t->rank < 0) {
        fgq_json_null(j);
        return;
    }
    fgq_json_begin_array(j);
    for (int32_t d = 0; d < t->rank; d++)
        fgq_json_int(j, t->dims[d]);
    fgq_json_end_array(j);
}

static void json_tensor_list(fgq_json *j, const fgq_graph *g, int32_t n, const int32_t *idx, int with_dtype)
{
    fgq_json_begin_array(j);
    for (int32_t k = 0; k < n; k++) {
        const fgq_ir_tensor *t = idx[k] >= 0 ? &g->tensors[idx[k]] : NULL;
        fgq_json_begin_object(j);
        fgq_json_kv_string(j, "name", t ? t->name : "");
        fgq_json_key(j, "shape");
        json_shape(j, t);
        if (with_dtype) {
            fgq_json_kv_string(j, "dtype", t ? fgq_dtype_name(t->dtype) : "undef");
            fgq_json_key(j, "symbolic_dims");
            fgq_json_begin_array(j);
            for (int32_t d = 0; t != NULL && d < t->rank; d++)
                if (t->sym_dims & (1u << d))
                    fgq_json_int(j, d);
            fgq_json_end_array(j);
        }
        fgq_json_end_object(j);
    }
    fgq_json_end_array(j);
}

static void print_json(const char *path, const fgq_graph *g, const uint8_t *ok, int64_t batch, const int64_t *np,
                       const int64_t *nm, const totals *t, int32_t n_unsup, const char **unsup, const char **unsup_dom)
{
    fgq_json j;
    fgq_json_init(&j, stdout);
    fgq_json_begin_object(&j);
    fgq_json_kv_string(&j, "model", path);
    fgq_json_kv_int(&j, "opset", g->opset);
    fgq_json_kv_int(&j, "batch", batch);
    fgq_json_key(&j, "inputs");
    json_tensor_list(&j, g, g->n_inputs, g->inputs, 1);
    fgq_json_key(&j, "outputs");
    json_tensor_list(&j, g, g->n_outputs, g->outputs, 1);
    fgq_json_key(&j, "nodes");
    fgq_json_begin_array(&j);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "name", n->name);
        fgq_json_kv_string(&j, "op", n->op_type);
        if (n->domain[0] != '\0') {
            fgq_json_kv_string(&j, "domain", n->domain);
        }
        fgq_json_key(&j, "inputs");
        json_tensor_list(&j, g, n->n_inputs, n->inputs, 0);
        fgq_json_key(&j, "outputs");
        json_tensor_list(&j, g, n->n_outputs, n->outputs, 0);
        fgq_json_kv_int(&j, "params", np[i]);
        fgq_json_kv_int(&j, "macs", nm[i]);
        fgq_json_kv_bool(&j, "supported", ok[i]);
        fgq_json_end_object(&j);
    }
    fgq_json_end_array(&j);
    fgq_json_key(&j, "total");
    fgq_json_begin_object(&j);
    fgq_json_kv_int(&j, "nodes", g->n_nodes);
    fgq_json_kv_int(&j, "params", t->params);
    fgq_json_kv_int(&j, "macs", t->macs);
    fgq_json_kv_int(&j, "weight_bytes", t->weight_bytes);
    fgq_json_kv_int(&j, "unknown_shapes", t->n_unknown);
    fgq_json_end_object(&j);
    fgq_json_key(&j, "unsupported_ops");
    fgq_json_begin_array(&j);
    for (int32_t k = 0; k < n_unsup; k++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", unsup_dom[k], unsup_dom[k][0] ? ":" : "", unsup[k]);
        fgq_json_string(&j, name);
    }
    fgq_json_end_array(&j);
    fgq_json_end_object(&j);
    fgq_json_finish(&j);
}

/* "a 1x3x32x32, b 16" for a node's tensor list, into buf. */
static void shape_list(const fgq_graph *g, int32_t n, const int32_t *idx, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t k = 0; k < n && used < len; k++) {
        char s[160];
        if (idx[k] < 0)
            snprintf(s, sizeof s, "-");
        else
            fgq_cli_format_shape(&g->tensors[idx[k]], s, sizeof s);
        int w = snprintf(buf + used, len - used, "%s%s", k ? ", " : "", s);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void print_io(const char *label, const fgq_graph *g, int32_t n, const int32_t *idx, int64_t batch)
{
    for (int32_t k = 0; k < n; k++) {
        const fgq_ir_tensor *t = &g->tensors[idx[k]];
        char s[160];
        fgq_cli_format_shape(t, s, sizeof s);
        printf("%-8s %s  %s %s", k == 0 ? label : "", t->name, s, fgq_dtype_name(t->dtype));
        if (t->sym_dims != 0)
            printf("  (symbolic dims bound to --batch %lld)", (long long)batch);
        printf("\n");
    }
}

static void print_table(const char *path, const fgq_graph *g, const uint8_t *ok, int64_t batch, const int64_t *np,
                        const int64_t *nm, const totals *t, int32_t n_unsup, const char **unsup, const char **unsup_dom)
{
    printf("model:   %s (opset %lld)\n", path, (long long)g->opset);
    print_io("inputs:", g, g->n_inputs, g->inputs, batch);
    print_io("outputs:", g, g->n_outputs, g->outputs, batch);
    int wn = 28; /* as wide as the longest node name (PyTorch names run long) */
    for (int32_t i = 0; i < g->n_nodes; i++)
        wn = fgq_cli_width(wn, g->nodes[i].name, 0);
    printf("\n%-4s %-*s %-20s %-32s %-20s %12s %14s\n", "#", wn, "node", "op", "input shapes", "output shapes",
           "params", "MACs");
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        char ins[512], outs[256];
        shape_list(g, n->n_inputs, n->inputs, ins, sizeof ins);
        shape_list(g, n->n_outputs, n->outputs, outs, sizeof outs);
        printf("%-4d %-*s %-20s %-32s %-20s %12lld %14lld%s\n", (int)i, wn, n->name, n->op_type, ins, outs,
               (long long)np[i], (long long)nm[i], ok[i] ? "" : "  (unsupported)");
    }
    printf("\ntotal: %d nodes, %lld params, %lld MACs, %lld weight bytes\n", (int)g->n_nodes, (long long)t->params,
           (long long)t->macs, (long long)t->weight_bytes);
    if (t->n_unknown > 0)
        printf("unknown shapes: %d tensors (produced by ops fgq cannot infer, or downstream of them)\n",
               (int)t->n_unknown);
    if (n_unsup == 0) {
        printf("unsupported ops: none\n");
    } else {
        printf("unsupported ops:");
        for (int32_t k = 0; k < n_unsup; k++)
            printf("%s %s%s%s", k ? "," : "", unsup_dom[k], unsup_dom[k][0] ? ":" : "", unsup[k]);
        printf("\n");
    }
}

/* ok[i] = 1 when fgq supports node i. fgq_node_is_supported answers from the graph as imported; a
 * fold-only op (Shape, ConstantOfShape, Range) it cannot see folding, because its input's shape is only
 * known once earlier folds are done (Swin-T: the Shape of a Pad whose pads are shape arithmetic), is
 * supported when conversion's folding removes it: no node of its name is left in the graph `fgq
 * convert` prepares. */
static void supported_nodes(const char *path, int64_t batch, const fgq_graph *g, uint8_t *ok)
{
    int any = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        ok[i] = (uint8_t)fgq_node_is_supported(g, i);
        const fgq_ir_node *n = &g->nodes[i];
        const fgq_onnx_op *row = fgq_onnx_op_at(fgq_onnx_op_index(n->op_type, n->domain));
        any |= !ok[i] && row != NULL && (row->flags & FGQ_ONNX_FOLD_ONLY);
    }
    fgq_graph *folded = NULL;
    fgq_error err = {FGQ_OK, ""};
    if (!any || fgq_cli_load_onnx(path, batch, 1, &folded, &err) != FGQ_OK)
        return; /* the model's own errors are convert's to report */
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const fgq_ir_node *n = &g->nodes[i];
        const fgq_onnx_op *row = fgq_onnx_op_at(fgq_onnx_op_index(n->op_type, n->domain));
        if (ok[i] || row == NULL || !(row->flags & FGQ_ONNX_FOLD_ONLY) || n->name == NULL || n->name[0] == '\0')
            continue;
        int left = 0;
        for (int32_t k = 0; k < folded->n_nodes && !left; k++)
            left = strcmp(folded->nodes[k].name, n->name) == 0;
        ok[i] = (uint8_t)!left;
    }
    fgq_graph_free(folded);
}

static void put_io(const fgq_model *m, int32_t t, char *buf, size_t len)
{
    fgq_tensor_info ti;
    if (fgq_model_tensor_info(m, t, &ti) != FGQ_OK) {
        snprintf(buf, len, "?");
        return;
    }
    size_t used = (size_t)snprintf(buf, len, "%.*s %s [", (int)ti.name_len, ti.name, fgq_dtype_name(ti.dtype));
    for (int32_t d = 0; d < ti.rank && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? "x" : "", (long long)ti.dims[d]);
    if (used < len)
        used += (size_t)snprintf(buf + used, len - used, "]");
    float s; /* a quantized input or output (fgq quantize --io quantized): how to read its codes */
    int32_t z;
    if (used < len && fgq_io_qparams(m, t, &s, &z))
        snprintf(buf + used, len - used, " x = %.9g * (q - %ld)", (double)s, (long)z);
}

/* `inspect` of a .fgq: what the runtime loads, and the recipe. */
static int inspect_fgq(const char *cmd, const char *path, int json)
{
    fgq_error err = {FGQ_OK, ""};
    fgq_graph_runner r;
    if (fgq_cli_open_model(path, 1, 1, &r, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);
    const fgq_model *m = &r.model;
    uint64_t const_bytes = 0;
    for (int32_t t = 0; t < m->n_tensors; t++) {
        fgq_tensor_info ti;
        if (fgq_model_tensor_kind(m, t) == FGQ_KIND_CONST && fgq_model_tensor_info(m, t, &ti) == FGQ_OK)
            const_bytes += ti.size_bytes;
    }
    const char *recipe = NULL;
    uint32_t recipe_len = 0;
    int has_recipe = fgq_model_get_recipe(m, &recipe, &recipe_len);
    char buf[512];
    if (json) {
        fgq_json j;
        fgq_json_init(&j, stdout);
        fgq_json_begin_object(&j);
        fgq_json_kv_string(&j, "model", path);
        fgq_json_kv_string(&j, "format", "fgq");
        fgq_json_key(&j, "nodes");
        fgq_json_begin_array(&j);
        for (int32_t i = 0; i < m->n_nodes; i++) {
            fgq_node_info ni;
            if (fgq_model_node_info(m, i, &ni) != FGQ_OK)
                continue;
            snprintf(buf, sizeof buf, "%.*s", (int)ni.name_len, ni.name);
            fgq_json_begin_object(&j);
            fgq_json_kv_string(&j, "name", buf);
            fgq_json_kv_string(&j, "op", fgq_op_name(ni.op));
            if (ni.op == FGQ_OP_QLUT)
                fgq_json_kv_string(&j, "function", fgq_lut_fn_name(ni.iparams[FGQ_QP_LUT_FN]));
            fgq_json_end_object(&j);
        }
        fgq_json_end_array(&j);
        for (int io = 0; io < 2; io++) {
            fgq_json_key(&j, io ? "outputs" : "inputs");
            fgq_json_begin_array(&j);
            int32_t n = io ? fgq_model_n_outputs(m) : fgq_model_n_inputs(m);
            for (int32_t k = 0; k < n; k++) {
                put_io(m, io ? fgq_model_output_tensor(m, k) : fgq_model_input_tensor(m, k), buf, sizeof buf);
                fgq_json_string(&j, buf);
            }
            fgq_json_end_array(&j);
        }
        fgq_json_kv_int(&j, "const_bytes", (int64_t)const_bytes);
        fgq_json_kv_int(&j, "arena_bytes", (int64_t)fgq_model_activation_size(m));
        fgq_json_kv_int(&j, "scratch_bytes", (int64_t)fgq_model_scratch_size(m));
        fgq_json_kv_int(&j, "run_arena_bytes", (int64_t)fgq_model_arena_size(m));
        fgq_json_key(&j, "recipe");
        if (has_recipe) {
            char *text = malloc((size_t)recipe_len + 1);
            if (text != NULL) {
                memcpy(text, recipe, recipe_len);
                text[recipe_len] = '\0';
                fgq_json_string(&j, text);
                free(text);
            } else {
                fgq_json_null(&j);
            }
        } else {
            fgq_json_null(&j);
        }
        fgq_json_end_object(&j);
        fgq_json_finish(&j);
    } else {
        printf("%s: fgq model, %d nodes, %d tensors, %llu constant bytes, arena %llu bytes (activations %llu, "
               "scratch %llu per thread)\n",
               path, (int)m->n_nodes, (int)m->n_tensors, (unsigned long long)const_bytes,
               (unsigned long long)fgq_model_arena_size(m), (unsigned long long)fgq_model_activation_size(m),
               (unsigned long long)fgq_model_scratch_size(m));
        for (int io = 0; io < 2; io++) {
            int32_t n = io ? fgq_model_n_outputs(m) : fgq_model_n_inputs(m);
            for (int32_t k = 0; k < n; k++) {
                put_io(m, io ? fgq_model_output_tensor(m, k) : fgq_model_input_tensor(m, k), buf, sizeof buf);
                printf("%s %s\n", io ? "output" : "input ", buf);
            }
        }
        int wn = 40;
        for (int32_t i = 0; i < m->n_nodes; i++) {
            fgq_node_info ni;
            if (fgq_model_node_info(m, i, &ni) == FGQ_OK && (int)ni.name_len > wn)
                wn = (int)ni.name_len;
        }
        printf("\n%-*s %s\n", wn, "node", "op");
        for (int32_t i = 0; i < m->n_nodes; i++) {
            fgq_node_info ni;
            if (fgq_model_node_info(m, i, &ni) == FGQ_OK && ni.op == FGQ_OP_QLUT)
                printf("%-*.*s %s (%s)\n", wn, (int)ni.name_len, ni.name, fgq_op_name(ni.op),
                       fgq_lut_fn_name(ni.iparams[FGQ_QP_LUT_FN]));
            else if (fgq_model_node_info(m, i, &ni) == FGQ_OK)
                printf("%-*.*s %s\n", wn, (int)ni.name_len, ni.name, fgq_op_name(ni.op));
        }
        if (has_recipe)
            printf("\nhow it was made:\n%.*s", (int)recipe_len, recipe);
        else
            printf("\nhow it was made: not recorded (fgq convert, or an fgq before recipes)\n");
    }
    fgq_graph_runner_free(&r);
    return FGQ_EXIT_OK;
}

int fgq_cmd_inspect(int argc, char **argv)
{
    const char *cmd = "inspect";
    if (fgq_cli_wants_help(argc, argv)) {
        usage(stdout);
        return FGQ_EXIT_OK;
    }
    const char *path = NULL;
    int json = 0;
    int64_t batch = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--batch") == 0 || strncmp(a, "--batch=", 8) == 0) {
            const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL)
                return fgq_cli_usage_error(cmd, "--batch needs a value");
            if (!fgq_cli_parse_i64(v, 1, INT32_MAX, &batch))
                return fgq_cli_usage_error(cmd, "--batch '%s' is not a positive integer", v);
        } else if (a[0] == '-' && a[1] != '\0') {
            return fgq_cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return fgq_cli_usage_error(cmd, "one model at a time ('%s' and '%s')", path, a);
        }
    }
    if (path == NULL)
        return fgq_cli_usage_error(cmd, "missing MODEL.onnx");

    if (fgq_cli_is_fgq_file(path))
        return inspect_fgq(cmd, path, json);
    fgq_error err = {FGQ_OK, ""};
    fgq_graph *g = NULL;
    if (fgq_cli_load_onnx(path, batch, 0, &g, &err) != FGQ_OK)
        return fgq_cli_report(cmd, &err);

    size_t nn = (size_t)(g->n_nodes > 0 ? g->n_nodes : 1);
    int64_t *np = calloc(nn, sizeof *np), *nm = calloc(nn, sizeof *nm);
    const char **unsup = calloc(nn, sizeof *unsup), **unsup_dom = calloc(nn, sizeof *unsup_dom);
    uint8_t *ok = calloc(nn, 1);
    if (np == NULL || nm == NULL || unsup == NULL || unsup_dom == NULL || ok == NULL) {
        free(ok);
        free(np);
        free(nm);
        free(unsup);
        free(unsup_dom);
        fgq_graph_free(g);
        fgq_fail(&err, FGQ_ERR_NOMEM, "%s: out of memory", path);
        return fgq_cli_report(cmd, &err);
    }
    totals t = compute_totals(g, np, nm);
    supported_nodes(path, batch, g, ok);
    int32_t n_unsup = unsupported_ops(g, ok, unsup, unsup_dom);
    if (json)
        print_json(path, g, ok, batch, np, nm, &t, n_unsup, unsup, unsup_dom);
    else
        print_table(path, g, ok, batch, np, nm, &t, n_unsup, unsup, unsup_dom);
    free(ok);
    free(np);
    free(nm);
    free(unsup);
    free(unsup_dom);
    fgq_graph_free(g);
    return FGQ_EXIT_OK;
}
