/* equalize.c — cross-layer equalization of Conv → ReLU/identity → Conv pairs; see equalize.h. */
#include "passes/equalize.h"

#include "fgq_ops.h"
#include "import/onnx_ops.h"
#include "passes/passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_conv(const fgq_ir_node *n)
{
    return fgq_node_is(n, "Conv");
}

/* Conv1's activation is positively homogeneous: none, ReLU, or clip [0, +inf). */
static int homogeneous(const fgq_ir_node *n)
{
    int64_t act = fgq_node_attr_int(n, FGQ_ATTR_ACT, FGQ_ACT_NONE);
    if (act == FGQ_ACT_NONE || act == FGQ_ACT_RELU)
        return 1;
    if (act == FGQ_ACT_CLIP)
        return fgq_node_attr_float(n, FGQ_ATTR_ACT_MIN, -INFINITY) == 0.0f &&
               isinf(fgq_node_attr_float(n, FGQ_ATTR_ACT_MAX, INFINITY));
    return 0;
}

/* A node between the pair that commutes with a positive per-channel scale. */
static int passes_scale(const fgq_ir_node *n)
{
    return fgq_node_is(n, "MaxPool") || fgq_node_is(n, "AveragePool") ||
           fgq_node_is(n, "GlobalAveragePool") || fgq_node_is(n, "Relu");
}

fgq_status fgq_pass_equalize(fgq_graph *g, int32_t *n_pairs, fgq_error *err)
{
    if (n_pairs != NULL)
        *n_pairs = 0;
    size_t nt = (size_t)(g->n_tensors > 0 ? g->n_tensors : 1);
    int32_t *uses = calloc(nt, sizeof *uses), *reader = malloc(nt * sizeof *reader);
    if (uses == NULL || reader == NULL) {
        free(uses);
        free(reader);
        return fgq_fail(err, FGQ_ERR_NOMEM, "equalization: out of memory");
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++) {
            int32_t t = g->nodes[i].inputs[k];
            if (t >= 0) {
                uses[t]++;
                reader[t] = i;
            }
        }
    for (int32_t o = 0; o < g->n_outputs; o++)
        uses[g->outputs[o]] += 2; /* a graph output is never rescaled */
    int32_t pairs = 0;
    for (int sweep = 0; sweep < FGQ_EQUALIZE_SWEEPS; sweep++) {
        for (int32_t i = 0; i < g->n_nodes; i++) {
            const fgq_ir_node *a = &g->nodes[i];
            if (!is_conv(a) || a->n_inputs < 2 || a->n_outputs < 1 || !homogeneous(a))
                continue;
            const int32_t y = a->outputs[0], w1t = a->inputs[1], b1t = a->n_inputs > 2 ? a->inputs[2] : -1;
            if (y < 0 || uses[y] != 1 || !fgq_ir_is_f32_const(g, w1t) || uses[w1t] != 1 ||
                (b1t >= 0 && (!fgq_ir_is_f32_const(g, b1t) || uses[b1t] != 1)))
                continue;
            /* through per-channel, positively homogeneous ops: pools, Relu */
            int32_t chain[8], n_chain = 0, t = y;
            chain[n_chain++] = y;
            const fgq_ir_node *b = &g->nodes[reader[t]];
            while (n_chain < 8 && passes_scale(b) && b->n_outputs >= 1 && b->outputs[0] >= 0 &&
                   uses[b->outputs[0]] == 1 && (b->n_outputs == 1 || b->outputs[1] < 0 || uses[b->outputs[1]] == 0)) {
                t = b->outputs[0];
                chain[n_chain++] = t;
                b = &g->nodes[reader[t]];
            }
            if (!is_conv(b) || b->n_inputs < 2 || b->inputs[0] != t || !fgq_ir_is_f32_const(g, b->inputs[1]) ||
                uses[b->inputs[1]] != 1)
                continue;
            const fgq_ir_tensor *w1 = &g->tensors[w1t], *w2 = &g->tensors[b->inputs[1]];
            if (w1->rank < 3 || w2->rank < 3 || fgq_ir_tensor_numel(w1) < 1 || fgq_ir_tensor_numel(w2) < 1 ||
                w1->dims[0] < 1 || w2->dims[0] < 1 || w2->dims[1] < 1)
                continue;
            const int64_t c = w1->dims[0], k1 = fgq_ir_tensor_numel(w1) / c;
            const int64_t r2 = w2->dims[0], cg2 = w2->dims[1], kk2 = fgq_ir_tensor_numel(w2) / (r2 * cg2);
            const int64_t g2 = fgq_node_attr_int(b, "group", 1);
            if (g2 < 1 || c != cg2 * g2 || r2 % g2 != 0 ||
                (b1t >= 0 && fgq_ir_tensor_numel(&g->tensors[b1t]) != c))
                continue;
            const int64_t rows_per_group = r2 / g2;
            float *W1 = w1->data, *W2 = w2->data, *B1 = b1t >= 0 ? g->tensors[b1t].data : NULL;
            for (int64_t ch = 0; ch < c; ch++) {
                double ra = 0.0, rb = 0.0;
                for (int64_t j = 0; j < k1; j++)
                    ra = fabs(W1[ch * k1 + j]) > ra ? fabs(W1[ch * k1 + j]) : ra;
                const int64_t grp = ch / cg2, lc = ch % cg2;
                for (int64_t r = grp * rows_per_group; r < (grp + 1) * rows_per_group; r++)
                    for (int64_t j = 0; j < kk2; j++) {
                        double v = fabs(W2[(r * cg2 + lc) * kk2 + j]);
                        rb = v > rb ? v : rb;
                    }
                if (!(ra > 0.0) || !(rb > 0.0) || !isfinite(ra) || !isfinite(rb))
                    continue;
                const double s = sqrt(ra / rb);
                const float inv = (float)(1.0 / s), mul = (float)s;
                if (!isfinite(mul) || !(inv > 0.0f) || !isfinite(inv)) /* scales past float: leave the channel */
                    continue;
                for (int64_t j = 0; j < k1; j++)
                    W1[ch * k1 + j] *= inv;
                if (B1 != NULL)
                    B1[ch] *= inv;
                for (int64_t r = grp * rows_per_group; r < (grp + 1) * rows_per_group; r++)
                    for (int64_t j = 0; j < kk2; j++)
                        W2[(r * cg2 + lc) * kk2 + j] *= mul;
            }
            if (sweep == 0) { /* the rescaled activations no longer hold the float model's values: rename them */
                for (int32_t q = 0; q < n_chain; q++) {
                    const char *old = g->tensors[chain[q]].name != NULL ? g->tensors[chain[q]].name : "";
                    size_t len = strlen(old);
                    char *nm = malloc(len + sizeof ".equalized");
                    if (nm == NULL) {
                        free(uses);
                        free(reader);
                        return fgq_fail(err, FGQ_ERR_NOMEM, "equalization: out of memory");
                    }
                    memcpy(nm, old, len);
                    memcpy(nm + len, ".equalized", sizeof ".equalized");
                    free(g->tensors[chain[q]].name);
                    g->tensors[chain[q]].name = nm;
                }
                pairs++;
            }
        }
    }
    free(uses);
    free(reader);
    if (n_pairs != NULL)
        *n_pairs = pairs;
    return FGQ_OK;
}
