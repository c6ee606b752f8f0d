/* weights.c — finding weight tensors and their [rows, k] view; see weights.h. */
#include "quant/format/weights.h"

#include "import/onnx_ops.h"

#include <stdlib.h>
#include <string.h>

/* Fills *ref and returns 1 if node `ni` takes a float constant weight as
 * input 1 (W of Conv, B of Gemm / MatMul). */
static int weight_view(const fgq_graph *g, int32_t ni, fgq_weight_ref *ref)
{
    const fgq_ir_node *n = &g->nodes[ni];
    int is_conv = fgq_node_is(n, "Conv");
    int is_gemm = fgq_node_is(n, "Gemm");
    int is_matmul = fgq_node_is(n, "MatMul");
    if (!(is_conv || is_gemm || is_matmul) || n->n_inputs < 2)
        return 0;
    int32_t t = n->inputs[1];
    if (t < 0)
        return 0;
    const fgq_ir_tensor *w = &g->tensors[t];
    if (w->kind != FGQ_TK_CONST || w->dtype != FGQ_DT_F32 || w->data == NULL || w->rank < 1)
        return 0;
    int64_t numel = fgq_ir_tensor_numel(w);
    if (numel <= 0)
        return 0;
    ref->node = ni;
    ref->tensor = t;
    ref->transposed = 0;
    if (is_conv) {
        if (w->rank < 3)
            return 0;
        ref->rows = w->dims[0];
        ref->k = numel / w->dims[0];
    } else if (is_gemm) {
        if (w->rank != 2)
            return 0;
        int trans_b = fgq_node_attr_int(n, "transB", 0) != 0;
        ref->rows = trans_b ? w->dims[0] : w->dims[1];
        ref->k = trans_b ? w->dims[1] : w->dims[0];
        ref->transposed = !trans_b;
    } else {
        if (w->rank < 2) { /* a 1-D B is a dot product: one row */
            ref->rows = 1;
            ref->k = numel;
        } else {
            ref->k = w->dims[w->rank - 2];
            ref->rows = numel / ref->k; /* N per batch × batch */
            ref->transposed = w->dims[w->rank - 1] > 1;
        }
    }
    return ref->rows > 0 && ref->k > 0;
}

fgq_status fgq_find_weights(const fgq_graph *g, fgq_weight_ref **out, int32_t *n_out,
                            fgq_error *err)
{
    *out = NULL;
    *n_out = 0;
    fgq_weight_ref *list = NULL;
    int32_t n = 0;
    for (int32_t ni = 0; ni < g->n_nodes; ni++) {
        fgq_weight_ref ref;
        if (!weight_view(g, ni, &ref))
            continue;
        int seen = 0;
        for (int32_t i = 0; i < n && !seen; i++)
            seen = list[i].tensor == ref.tensor;
        if (seen)
            continue;
        fgq_weight_ref *grown = realloc(list, (size_t)(n + 1) * sizeof *list);
        if (grown == NULL) {
            free(list);
            return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory listing weights of %s",
                            g->source_path ? g->source_path : "model");
        }
        list = grown;
        list[n++] = ref;
    }
    *out = list;
    *n_out = n;
    return FGQ_OK;
}

void fgq_weight_rows_f32(const fgq_graph *g, const fgq_weight_ref *w, float *dst)
{
    const float *src = (const float *)g->tensors[w->tensor].data;
    if (!w->transposed) {
        memcpy(dst, src, (size_t)(w->rows * w->k) * sizeof *dst);
        return;
    }
    /* Stored as batches of [k, n]; the view is batches of [n, k]. */
    const fgq_ir_tensor *t = &g->tensors[w->tensor];
    int64_t n = t->dims[t->rank - 1];
    int64_t batches = w->rows / n;
    for (int64_t b = 0; b < batches; b++) {
        const float *s = src + b * w->k * n;
        float *d = dst + b * n * w->k;
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < w->k; c++)
                d[r * w->k + c] = s[c * n + r];
    }
}

int fgq_quant_is_depthwise(const fgq_graph *g, int32_t i)
{
    const fgq_ir_node *n = &g->nodes[i];
    if (!fgq_node_is(n, "Conv") || n->n_inputs < 2 || n->inputs[1] < 0 || fgq_node_attr_int(n, "group", 1) < 2)
        return 0;
    const fgq_ir_tensor *w = &g->tensors[n->inputs[1]];
    return w->rank >= 3 && w->dims[1] == 1;
}

int fgq_quant_weight_layer(const fgq_graph *g, int32_t i, int32_t *wt, int64_t *rows, int64_t *k, int *transposed)
{
    const fgq_ir_node *n = &g->nodes[i];
    if (n->n_inputs < 2 || n->n_outputs < 1 || !fgq_ir_is_f32_activation(g, n->inputs[0]) || !fgq_ir_is_f32_const(g, n->inputs[1]))
        return 0;
    const fgq_ir_tensor *w = &g->tensors[n->inputs[1]];
    *wt = n->inputs[1];
    if (fgq_node_is(n, "Conv")) {
        if (w->rank < 3 || w->rank > 5)
            return 0;
        *rows = w->dims[0];
        *k = fgq_ir_tensor_numel(w) / (w->dims[0] > 0 ? w->dims[0] : 1);
        *transposed = 0;
        return *rows > 0 && *k > 0;
    }
    if (fgq_node_is(n, "Gemm")) {
        if (w->rank != 2 || fgq_node_attr_int(n, "transA", 0) != 0 || g->tensors[n->inputs[0]].rank != 2)
            return 0;
        int tb = fgq_node_attr_int(n, "transB", 0) != 0;
        *rows = tb ? w->dims[0] : w->dims[1];
        *k = tb ? w->dims[1] : w->dims[0];
        *transposed = !tb;
        return *rows > 0 && *k > 0;
    }
    if (fgq_node_is(n, "MatMul")) {
        if (w->rank != 2 || g->tensors[n->inputs[0]].rank < 1)
            return 0;
        *rows = w->dims[1];
        *k = w->dims[0];
        *transposed = 1;
        return *rows > 0 && *k > 0;
    }
    return 0;
}

