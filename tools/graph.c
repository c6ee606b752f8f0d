/* graph.c — lifetime, lookup and attribute access for the graph IR (graph.h). */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

fgq_graph *fgq_graph_new(void)
{
    return calloc(1, sizeof(fgq_graph));
}

void fgq_qparams_free(fgq_qparams *q)
{
    if (q == NULL)
        return;
    free(q->scales);
    free(q->zero_points);
    q->scales = NULL;
    q->zero_points = NULL;
    q->n_scales = 0;
}

static void attr_free(fgq_ir_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    if (a->strings != NULL) {
        for (int32_t i = 0; i < a->n; i++)
            free(a->strings[i]);
        free(a->strings);
    }
}

void fgq_ir_node_free(fgq_ir_node *n)
{
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->inputs);
    free(n->outputs);
    for (int32_t k = 0; k < n->n_attrs; k++)
        attr_free(&n->attrs[k]);
    free(n->attrs);
    memset(n, 0, sizeof *n);
}

static char *str_dup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (d != NULL)
        memcpy(d, s, len);
    return d;
}

int32_t fgq_graph_add_node(fgq_graph *g, const char *name, const char *op_type, int32_t n_inputs,
                           const int32_t *inputs, int32_t n_outputs, const int32_t *outputs)
{
    if (g->n_nodes == g->cap_nodes) {
        int32_t cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        fgq_ir_node *grown = realloc(g->nodes, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        g->nodes = grown;
        g->cap_nodes = cap;
    }
    fgq_ir_node n;
    memset(&n, 0, sizeof n);
    n.name = str_dup(name);
    n.op_type = str_dup(op_type);
    n.domain = str_dup("");
    n.inputs = malloc((size_t)(n_inputs > 0 ? n_inputs : 1) * sizeof *n.inputs);
    n.outputs = malloc((size_t)(n_outputs > 0 ? n_outputs : 1) * sizeof *n.outputs);
    if (!n.name || !n.op_type || !n.domain || !n.inputs || !n.outputs) {
        fgq_ir_node_free(&n);
        return -1;
    }
    n.n_inputs = n_inputs;
    n.n_outputs = n_outputs;
    if (n_inputs > 0)
        memcpy(n.inputs, inputs, (size_t)n_inputs * sizeof *n.inputs);
    if (n_outputs > 0)
        memcpy(n.outputs, outputs, (size_t)n_outputs * sizeof *n.outputs);
    for (int32_t k = 0; k < n_outputs; k++)
        if (outputs[k] >= 0 && outputs[k] < g->n_tensors)
            g->tensors[outputs[k]].producer = g->n_nodes;
    g->nodes[g->n_nodes] = n;
    return g->n_nodes++;
}

fgq_ir_attr *fgq_node_attr_slot(fgq_ir_node *n, const char *name)
{
    for (int32_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    char *copy = str_dup(name);
    fgq_ir_attr *grown = copy ? realloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof *grown) : NULL;
    if (grown == NULL) {
        free(copy);
        return NULL;
    }
    n->attrs = grown;
    fgq_ir_attr *a = &grown[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = copy;
    a->tensor = -1;
    return a;
}

void fgq_graph_free(fgq_graph *g)
{
    if (g == NULL)
        return;
    for (int32_t i = 0; i < g->n_tensors; i++) {
        free(g->tensors[i].name);
        free(g->tensors[i].data);
        fgq_qparams_free(&g->tensors[i].q);
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        fgq_ir_node_free(&g->nodes[i]);
    free(g->tensors);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->source_path);
    free(g);
}

int32_t fgq_graph_add_tensor(fgq_graph *g, const char *name)
{
    if (g == NULL || name == NULL)
        return -1;
    if (g->n_tensors == g->cap_tensors) {
        if (g->cap_tensors > INT32_MAX / 2)
            return -1;
        int32_t cap = g->cap_tensors ? g->cap_tensors * 2 : 16;
        fgq_ir_tensor *t = realloc(g->tensors, (size_t)cap * sizeof *t);
        if (t == NULL)
            return -1;
        g->tensors = t;
        g->cap_tensors = cap;
    }
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, name, len + 1);
    fgq_ir_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->dtype = FGQ_DT_UNDEF;
    t->kind = FGQ_TK_INTERMEDIATE;
    t->rank = -1;
    t->producer = -1;
    return g->n_tensors++;
}

int32_t fgq_graph_find_tensor(const fgq_graph *g, const char *name)
{
    if (g == NULL || name == NULL)
        return -1;
    for (int32_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return i;
    return -1;
}

/* Product of dims: 1 for a scalar, -1 while the rank is unknown or a dim is
 * negative, and -1 if the product would overflow int64. */
int fgq_ir_dims_fit(int32_t rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > FGQ_IR_MAX_ELEMS)
            return 0;
        if (dims[i] == 0)
            n = 0;
        else if (n > FGQ_IR_MAX_ELEMS / dims[i])
            n = FGQ_IR_MAX_ELEMS + 1; /* stays over: a later 0 dim cannot hide a dim this large */
        else
            n *= dims[i];
    }
    return n <= FGQ_IR_MAX_ELEMS;
}

int64_t fgq_ir_tensor_numel(const fgq_ir_tensor *t)
{
    if (t == NULL || t->rank < 0 || t->rank > FGQ_MAX_DIMS)
        return -1;
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++) {
        int64_t d = t->dims[i];
        if (d < 0)
            return -1;
        if (d != 0 && n > INT64_MAX / d)
            return -1;
        n *= d;
    }
    return n;
}

const fgq_ir_attr *fgq_node_attr(const fgq_ir_node *n, const char *name)
{
    if (n == NULL || name == NULL)
        return NULL;
    for (int32_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name != NULL && strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t fgq_node_attr_int(const fgq_ir_node *n, const char *name, int64_t def)
{
    const fgq_ir_attr *a = fgq_node_attr(n, name);
    return (a != NULL && a->type == FGQ_ATTR_INT) ? a->i : def;
}

float fgq_node_attr_float(const fgq_ir_node *n, const char *name, float def)
{
    const fgq_ir_attr *a = fgq_node_attr(n, name);
    return (a != NULL && a->type == FGQ_ATTR_FLOAT) ? a->f : def;
}

int fgq_domain_is_default(const char *domain)
{
    return domain == NULL || domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
}

int fgq_node_is(const fgq_ir_node *n, const char *op)
{
    return n != NULL && n->op_type != NULL && fgq_domain_is_default(n->domain) && strcmp(n->op_type, op) == 0;
}

int fgq_ir_is_f32_const(const fgq_graph *g, int32_t t)
{
    return t >= 0 && g->tensors[t].kind == FGQ_TK_CONST && g->tensors[t].dtype == FGQ_DT_F32 &&
           g->tensors[t].data != NULL;
}

int fgq_ir_is_f32_activation(const fgq_graph *g, int32_t t)
{
    return t >= 0 && g->tensors[t].kind != FGQ_TK_CONST && g->tensors[t].dtype == FGQ_DT_F32;
}

int32_t fgq_graph_tensor_uses(const fgq_graph *g, int32_t t)
{
    int32_t uses = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_inputs; k++)
            uses += g->nodes[i].inputs[k] == t;
    return uses;
}
