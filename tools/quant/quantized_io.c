/* quantized_io.c — graph inputs and outputs in the activation type; see quantized_io.h. */
#include "quant/quantized_io.h"

#include "lower/lower.h"
#include "passes/passes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The runtime op of a node the quantizer built (lower.h's pre-lowered form), else -1. */
static int64_t op_of(const fgq_ir_node *n)
{
    if (n->domain == NULL || strcmp(n->domain, FGQ_DOMAIN) != 0)
        return -1;
    const fgq_ir_attr *a = fgq_node_attr(n, FGQ_ATTR_OP);
    return a != NULL && a->type == FGQ_ATTR_INT ? a->i : -1;
}

static int64_t iparam(const fgq_ir_node *n, int32_t k)
{
    const fgq_ir_attr *a = fgq_node_attr(n, FGQ_ATTR_IPARAMS);
    return a != NULL && a->type == FGQ_ATTR_INTS && k < a->n ? a->ints[k] : 0;
}

static float fparam(const fgq_ir_node *n, int32_t k)
{
    const fgq_ir_attr *a = fgq_node_attr(n, FGQ_ATTR_FPARAMS);
    return a != NULL && a->type == FGQ_ATTR_FLOATS && k < a->n ? a->floats[k] : 0.0f;
}

static void note(fgq_io_rewrite *rep, const char *fmt, ...)
{
    rep->kept++;
    const size_t used = strlen(rep->notes);
    if (used + 2 >= sizeof rep->notes)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->notes + used, sizeof rep->notes - used, fmt, ap);
    va_end(ap);
    const size_t now = strlen(rep->notes);
    if (now + 1 < sizeof rep->notes) {
        rep->notes[now] = '\n';
        rep->notes[now + 1] = '\0';
    }
}

/* q's single scale and zero point are the op's (what the caller converts with). */
static int same_params(const fgq_ir_tensor *q, float scale, int64_t zero)
{
    return q->q.n_scales == 1 && q->q.scales[0] == scale &&
           (q->q.zero_points != NULL ? q->q.zero_points[0] : 0) == zero;
}

static void swap_names(fgq_ir_tensor *a, fgq_ir_tensor *b)
{
    char *t = a->name;
    a->name = b->name;
    b->name = t;
}

fgq_status fgq_quant_io_rewrite(fgq_graph *qg, fgq_io_rewrite *rep, fgq_error *err)
{
    memset(rep, 0, sizeof *rep);
    uint8_t *dead = calloc((size_t)(qg->n_nodes > 0 ? qg->n_nodes : 1), 1);
    if (dead == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory rewriting the model's inputs and outputs");
    /* a QUANTIZE whose codes nothing reads (the quantizer makes one for every float input up front:
     * where only float nodes take the input, it stays unread) */
    for (int32_t n = 0; n < qg->n_nodes; n++) {
        if (op_of(&qg->nodes[n]) != FGQ_OP_QUANTIZE)
            continue;
        const int32_t q = qg->nodes[n].outputs[0];
        int read = qg->tensors[q].is_output;
        for (int32_t m = 0; m < qg->n_nodes && !read; m++)
            for (int32_t k = 0; k < qg->nodes[m].n_inputs; k++)
                read |= qg->nodes[m].inputs[k] == q;
        dead[n] = (uint8_t)!read;
    }
    for (int32_t i = 0; i < qg->n_inputs; i++) {
        const int32_t t = qg->inputs[i];
        fgq_ir_tensor *x = &qg->tensors[t];
        if (x->dtype != FGQ_DT_F32)
            continue; /* token ids, masks: fed as they are already */
        int32_t reader = -1, n_reads = 0;
        for (int32_t n = 0; n < qg->n_nodes; n++)
            for (int32_t k = 0; k < qg->nodes[n].n_inputs && !dead[n]; k++)
                if (qg->nodes[n].inputs[k] == t) {
                    n_reads++;
                    if (reader < 0 || op_of(&qg->nodes[reader]) == FGQ_OP_QUANTIZE)
                        reader = n;
                }
        const fgq_ir_node *qn = reader >= 0 ? &qg->nodes[reader] : NULL;
        if (qn == NULL || x->is_output) {
            note(rep, "input '%s' stays float: %s", x->name, qn == NULL ? "no node reads it" : "it is also an output");
            continue;
        }
        if (op_of(qn) != FGQ_OP_QUANTIZE || n_reads != 1) {
            note(rep, "input '%s' stays float: node '%s' (%s) reads it as float", x->name, qn->name, qn->op_type);
            continue;
        }
        fgq_ir_tensor *q = &qg->tensors[qn->outputs[0]];
        const int s8 = q->dtype == FGQ_DT_S8;
        const int64_t qmin = iparam(qn, FGQ_QP_QMIN), qmax = iparam(qn, FGQ_QP_QMAX);
        if ((q->dtype != FGQ_DT_U8 && !s8) || qmin != (s8 ? -128 : 0) || qmax != (s8 ? 127 : 255) ||
            iparam(qn, FGQ_QP_ROUND) != 0 || q->is_output ||
            !same_params(q, fparam(qn, FGQ_QPF_SCALE), iparam(qn, FGQ_QP_Y_ZERO))) {
            note(rep, "input '%s' stays float: its QUANTIZE '%s' is not the %s tensor's own (its whole range, "
                      "rounding half away from zero, its scale and zero point)", x->name, qn->name,
                 fgq_dtype_name(q->dtype));
            continue;
        }
        dead[reader] = 1;
        q->kind = FGQ_TK_INPUT;
        qg->inputs[i] = qn->outputs[0];
        swap_names(x, q); /* the input keeps its name; the float tensor, now unread, goes */
        rep->inputs++;
    }
    for (int32_t o = 0; o < qg->n_outputs; o++) {
        const int32_t t = qg->outputs[o];
        fgq_ir_tensor *y = &qg->tensors[t];
        if (y->dtype != FGQ_DT_F32)
            continue;
        int32_t maker = -1, n_reads = 0;
        for (int32_t n = 0; n < qg->n_nodes; n++) {
            for (int32_t k = 0; k < qg->nodes[n].n_outputs; k++)
                maker = qg->nodes[n].outputs[k] == t ? n : maker;
            for (int32_t k = 0; k < qg->nodes[n].n_inputs; k++)
                n_reads += qg->nodes[n].inputs[k] == t;
        }
        const fgq_ir_node *dn = maker >= 0 ? &qg->nodes[maker] : NULL;
        if (dn == NULL || op_of(dn) != FGQ_OP_DEQUANTIZE) {
            if (dn == NULL)
                note(rep, "output '%s' stays float: it is a graph input or a constant", y->name);
            else
                note(rep, "output '%s' stays float: node '%s' (%s) makes it as float", y->name, dn->name, dn->op_type);
            continue;
        }
        fgq_ir_tensor *q = &qg->tensors[dn->inputs[0]];
        int duplicate = 0;
        for (int32_t k = 0; k < qg->n_outputs; k++)
            duplicate |= k != o && qg->outputs[k] == dn->inputs[0];
        if ((q->dtype != FGQ_DT_U8 && q->dtype != FGQ_DT_S8) || q->kind != FGQ_TK_INTERMEDIATE || q->is_output ||
            duplicate ||
            !same_params(q, fparam(dn, FGQ_QPF_SCALE), iparam(dn, FGQ_QP_X_ZERO))) {
            note(rep, "output '%s' stays float: its DEQUANTIZE '%s' reads %s", y->name, dn->name,
                 q->is_output || duplicate       ? "another graph output"
                 : q->kind != FGQ_TK_INTERMEDIATE ? "a graph input or a constant"
                                                  : "no u8 / s8 tensor of one scale");
            continue;
        }
        qg->outputs[o] = dn->inputs[0];
        y->is_output = 0;
        q->is_output = 1;
        dead[maker] = n_reads == 0; /* the float tensor goes, unless float nodes still read it */
        swap_names(y, q);           /* the output keeps its name either way */
        rep->outputs++;
    }
    fgq_status st = fgq_graph_compact(qg, dead, err);
    free(dead);
    return st;
}
