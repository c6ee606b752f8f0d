/* lower_q.c — pre-lowered nodes (domain "fgq"): the runtime op and its params travel as attributes. */
#include "lower/lower.h"

#include <stdlib.h>
#include <string.h>

fgq_status fgq_lower_prelowered(const fgq_ir_node *n, fgq_lowered_node *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    const fgq_ir_attr *op = fgq_node_attr(n, FGQ_ATTR_OP);
    const fgq_ir_attr *ip = fgq_node_attr(n, FGQ_ATTR_IPARAMS);
    const fgq_ir_attr *fp = fgq_node_attr(n, FGQ_ATTR_FPARAMS);
    if (op == NULL || op->type != FGQ_ATTR_INT || op->i <= FGQ_OP_INVALID || op->i >= FGQ_OP_COUNT_)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): pre-lowered node without a valid %s", n->name,
                        n->op_type, FGQ_ATTR_OP);
    if ((ip != NULL && (ip->type != FGQ_ATTR_INTS || ip->n > FGQ_NODE_MAX_IPARAMS)) ||
        (fp != NULL && (fp->type != FGQ_ATTR_FLOATS || fp->n > FGQ_NODE_MAX_FPARAMS)))
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): pre-lowered params of the wrong type or length",
                        n->name, n->op_type);
    int outs_ok = n->n_outputs >= 1 && n->n_outputs <= FGQ_LOWER_MAX_OUTPUTS;
    for (int32_t k = 0; outs_ok && k < n->n_outputs; k++)
        outs_ok = n->outputs[k] >= 0;
    if (n->n_inputs < 1 || n->n_inputs > FGQ_LOWER_MAX_INPUTS || n->inputs[0] < 0 || !outs_ok)
        return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): %d inputs / %d outputs (expected 1..%d / 1..%d, all present)",
                        n->name, n->op_type, (int)n->n_inputs, (int)n->n_outputs, FGQ_LOWER_MAX_INPUTS,
                        FGQ_LOWER_MAX_OUTPUTS);
    out->op = (fgq_op)op->i;
    for (int32_t k = 0; ip != NULL && k < ip->n; k++) {
        if (ip->ints[k] < INT32_MIN || ip->ints[k] > INT32_MAX)
            return fgq_fail(err, FGQ_ERR_FORMAT, "node '%s' (%s): iparam %d out of int32 range", n->name, n->op_type,
                            (int)k);
        out->iparams[k] = (int32_t)ip->ints[k];
    }
    for (int32_t k = 0; fp != NULL && k < fp->n; k++)
        out->fparams[k] = fp->floats[k];
    out->n_inputs = n->n_inputs;
    memcpy(out->inputs, n->inputs, (size_t)n->n_inputs * sizeof *n->inputs);
    while (out->n_inputs > 0 && out->inputs[out->n_inputs - 1] < 0)
        out->n_inputs--;
    out->n_outputs = n->n_outputs;
    memcpy(out->outputs, n->outputs, (size_t)n->n_outputs * sizeof *n->outputs);
    return FGQ_OK;
}

fgq_status fgq_node_set_prelowered(fgq_ir_node *n, fgq_op op, const int32_t *ip, const float *fp, fgq_error *err)
{
    char *dom = malloc(sizeof FGQ_DOMAIN);
    int64_t *ints = malloc(FGQ_NODE_MAX_IPARAMS * sizeof *ints);
    float *floats = malloc(FGQ_NODE_MAX_FPARAMS * sizeof *floats);
    /* each slot call may move the attribute array: set one before asking for the next */
    fgq_ir_attr *a = dom != NULL && ints != NULL && floats != NULL ? fgq_node_attr_slot(n, FGQ_ATTR_OP) : NULL;
    if (a != NULL) {
        a->type = FGQ_ATTR_INT;
        a->i = op;
        a = fgq_node_attr_slot(n, FGQ_ATTR_IPARAMS);
    }
    if (a != NULL) {
        for (int32_t k = 0; k < FGQ_NODE_MAX_IPARAMS; k++)
            ints[k] = ip[k];
        free(a->ints);
        a->type = FGQ_ATTR_INTS;
        a->ints = ints;
        a->n = FGQ_NODE_MAX_IPARAMS;
        ints = NULL;
        a = fgq_node_attr_slot(n, FGQ_ATTR_FPARAMS);
    }
    if (a == NULL) {
        free(dom);
        free(ints);
        free(floats);
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory marking node '%s'", n->name);
    }
    memcpy(floats, fp, FGQ_NODE_MAX_FPARAMS * sizeof *floats);
    free(a->floats);
    a->type = FGQ_ATTR_FLOATS;
    a->floats = floats;
    a->n = FGQ_NODE_MAX_FPARAMS;
    memcpy(dom, FGQ_DOMAIN, sizeof FGQ_DOMAIN);
    free(n->domain);
    n->domain = dom;
    return FGQ_OK;
}
