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

static int attr_copy(fgq_ir_attr *d, const fgq_ir_attr *s, const int32_t *tmap)
{
    memset(d, 0, sizeof *d);
    d->type = s->type;
    d->f = s->f;
    d->i = s->i;
    d->n = s->n;
    d->tensor = s->tensor >= 0 && tmap != NULL ? tmap[s->tensor] : s->tensor;
    if ((d->name = str_dup(s->name)) == NULL || (s->s != NULL && (d->s = str_dup(s->s)) == NULL))
        return 0;
    const size_t n = (size_t)(s->n > 0 ? s->n : 0);
    if (s->floats != NULL && (d->floats = malloc((n ? n : 1) * sizeof *d->floats)) == NULL)
        return 0;
    if (s->ints != NULL && (d->ints = malloc((n ? n : 1) * sizeof *d->ints)) == NULL)
        return 0;
    if (s->floats != NULL && n)
        memcpy(d->floats, s->floats, n * sizeof *d->floats);
    if (s->ints != NULL && n)
        memcpy(d->ints, s->ints, n * sizeof *d->ints);
    if (s->strings != NULL) {
        if ((d->strings = calloc(n ? n : 1, sizeof *d->strings)) == NULL)
            return 0;
        for (size_t k = 0; k < n; k++)
            if ((d->strings[k] = str_dup(s->strings[k])) == NULL)
                return 0;
    }
    return 1;
}

/* Index of g's tensor t in the segment, added (with a copy of its data when
 * constant) on first use. */
static int32_t segment_tensor(fgq_graph *seg, const fgq_graph *g, int32_t t, int32_t *tmap,
                              const void *const *data)
{
    if (tmap[t] >= 0)
        return tmap[t];
    const fgq_ir_tensor *s = &g->tensors[t];
    const int32_t i = fgq_graph_add_tensor(seg, s->name);
    if (i < 0)
        return -1;
    fgq_ir_tensor *d = &seg->tensors[i];
    d->dtype = s->dtype;
    d->kind = s->kind == FGQ_TK_CONST ? FGQ_TK_CONST : FGQ_TK_INTERMEDIATE;
    d->rank = s->rank;
    memcpy(d->dims, s->dims, sizeof d->dims);
    d->sym_dims = s->sym_dims;
    if (s->kind == FGQ_TK_CONST) {
        const void *src = data != NULL && data[t] != NULL ? data[t] : s->data;
        const size_t bytes = (size_t)fgq_ir_tensor_numel(s) * fgq_dtype_size(s->dtype);
        if (src != NULL && (d->data = malloc(bytes ? bytes : 1)) == NULL)
            return -1;
        if (src != NULL && bytes)
            memcpy(d->data, src, bytes);
    }
    tmap[t] = i;
    return i;
}

static int32_t *grow_list(int32_t *list, int32_t n, int32_t v)
{
    int32_t *l = realloc(list, (size_t)(n + 1) * sizeof *l);
    if (l != NULL)
        l[n] = v;
    return l;
}

fgq_graph *fgq_graph_segment(const fgq_graph *g, int32_t from, int32_t to, const void *const *data)
{
    fgq_graph *seg = fgq_graph_new();
    int32_t *tmap = malloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1) * sizeof *tmap);
    int ok = seg != NULL && tmap != NULL && from >= 0 && to < g->n_nodes && from <= to;
    for (int32_t t = 0; ok && t < g->n_tensors; t++)
        tmap[t] = -1;
    if (ok) {
        seg->opset = g->opset;
        ok = g->source_path == NULL || (seg->source_path = str_dup(g->source_path)) != NULL;
    }
    /* inputs: activations the segment reads that it does not produce, in order of first use */
    for (int32_t j = from; ok && j <= to; j++) {
        const fgq_ir_node *n = &g->nodes[j];
        for (int32_t k = 0; ok && k < n->n_inputs; k++) {
            const int32_t t = n->inputs[k];
            if (t < 0 || tmap[t] >= 0 || g->tensors[t].kind == FGQ_TK_CONST ||
                (g->tensors[t].producer >= from && g->tensors[t].producer <= to))
                continue;
            const int32_t i = segment_tensor(seg, g, t, tmap, data);
            int32_t *l = i >= 0 ? grow_list(seg->inputs, seg->n_inputs, i) : NULL;
            if ((ok = l != NULL) != 0) {
                seg->inputs = l;
                seg->n_inputs++;
                seg->tensors[i].kind = FGQ_TK_INPUT;
            }
        }
    }
    for (int32_t j = from; ok && j <= to; j++) {
        const fgq_ir_node *n = &g->nodes[j];
        int32_t in[64], out[64];
        int32_t *ins = n->n_inputs <= 64 ? in : malloc((size_t)n->n_inputs * sizeof *ins);
        int32_t *outs = n->n_outputs <= 64 ? out : malloc((size_t)n->n_outputs * sizeof *outs);
        ok = ins != NULL && outs != NULL;
        for (int32_t k = 0; ok && k < n->n_inputs; k++)
            ok = n->inputs[k] < 0 ? (ins[k] = -1, 1) : (ins[k] = segment_tensor(seg, g, n->inputs[k], tmap, data)) >= 0;
        for (int32_t k = 0; ok && k < n->n_outputs; k++)
            ok = n->outputs[k] < 0 ? (outs[k] = -1, 1)
                                   : (outs[k] = segment_tensor(seg, g, n->outputs[k], tmap, data)) >= 0;
        const int32_t at = ok ? fgq_graph_add_node(seg, n->name, n->op_type, n->n_inputs, ins, n->n_outputs, outs) : -1;
        ok = at >= 0;
        if (ins != in)
            free(ins);
        if (outs != out)
            free(outs);
        fgq_ir_node *d = ok ? &seg->nodes[at] : NULL;
        if (ok && n->domain != NULL && n->domain[0] != '\0') {
            free(d->domain);
            ok = (d->domain = str_dup(n->domain)) != NULL;
        }
        if (ok && n->n_attrs > 0) {
            ok = (d->attrs = calloc((size_t)n->n_attrs, sizeof *d->attrs)) != NULL;
            for (int32_t k = 0; ok && k < n->n_attrs; k++) {
                if (n->attrs[k].type == FGQ_ATTR_TENSOR && n->attrs[k].tensor >= 0)
                    ok = segment_tensor(seg, g, n->attrs[k].tensor, tmap, data) >= 0;
                ok = ok && attr_copy(&d->attrs[k], &n->attrs[k], tmap);
                d->n_attrs = k + 1;
            }
        }
    }
    /* outputs: what it produces that a later node or the graph's outputs read */
    int32_t *last = ok ? malloc((size_t)(g->n_tensors > 0 ? g->n_tensors : 1) * sizeof *last) : NULL;
    ok = ok && last != NULL;
    for (int32_t t = 0; ok && t < g->n_tensors; t++)
        last[t] = g->tensors[t].is_output ? g->n_nodes : -1;
    for (int32_t j = 0; ok && j < g->n_nodes; j++)
        for (int32_t k = 0; k < g->nodes[j].n_inputs; k++)
            if (g->nodes[j].inputs[k] >= 0 && last[g->nodes[j].inputs[k]] < j)
                last[g->nodes[j].inputs[k]] = j;
    for (int32_t j = from; ok && j <= to; j++)
        for (int32_t k = 0; ok && k < g->nodes[j].n_outputs; k++) {
            const int32_t t = g->nodes[j].outputs[k];
            if (t < 0 || last[t] <= to)
                continue;
            int32_t *l = grow_list(seg->outputs, seg->n_outputs, tmap[t]);
            if ((ok = l != NULL) != 0) {
                seg->outputs = l;
                seg->n_outputs++;
                seg->tensors[tmap[t]].is_output = 1;
            }
        }
    free(last);
    free(tmap);
    if (!ok) {
        fgq_graph_free(seg);
        return NULL;
    }
    return seg;
}
