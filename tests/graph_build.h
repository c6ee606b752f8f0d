/*
 * graph_build.h — small helpers the C tests use to build IR graphs by hand
 * (test binaries only: they abort on OOM rather than report it).
 */
#ifndef FGQ_TEST_GRAPH_BUILD_H
#define FGQ_TEST_GRAPH_BUILD_H

#include "graph.h"
#include "run/run_graph.h"

#include <stdlib.h>
#include <string.h>

/* A heap copy of s (the graph frees it). */
static inline char *sdup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d == NULL)
        abort();
    strcpy(d, s);
    return d;
}

/* n samples of a one-input graph g, consecutive in data (run_graph.h). */
static inline fgq_samples samples_of(const fgq_graph *g, const float *data, int64_t n)
{
    fgq_samples s;
    const void *in[1] = {data};
    if (fgq_samples_bind(&s, g, in, n, NULL) != FGQ_OK)
        abort();
    return s;
}

/* A float tensor of the given kind and shape. */
static inline int32_t tensor(fgq_graph *g, const char *name, fgq_tensor_kind kind, int32_t rank,
                             const int64_t *dims)
{
    int32_t t = fgq_graph_add_tensor(g, name);
    if (t < 0)
        abort();
    fgq_ir_tensor *x = &g->tensors[t];
    x->dtype = FGQ_DT_F32;
    x->kind = kind;
    x->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        x->dims[i] = dims[i];
    return t;
}

static inline int32_t const_f32(fgq_graph *g, const char *name, int32_t rank, const int64_t *dims,
                                const float *v)
{
    int32_t t = tensor(g, name, FGQ_TK_CONST, rank, dims);
    int64_t n = fgq_ir_tensor_numel(&g->tensors[t]);
    g->tensors[t].data = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (g->tensors[t].data == NULL)
        abort();
    memcpy(g->tensors[t].data, v, (size_t)n * sizeof(float));
    return t;
}

/* A node with one output. */
static inline int32_t node(fgq_graph *g, const char *name, const char *op, int32_t nin, const int32_t *in,
                           int32_t out)
{
    int32_t nd = fgq_graph_add_node(g, name, op, nin, in, 1, &out);
    if (nd < 0)
        abort();
    return nd;
}

static inline fgq_ir_attr *add_attr(fgq_graph *g, int32_t nd, const char *name, fgq_attr_type type)
{
    fgq_ir_attr *a = fgq_node_attr_slot(&g->nodes[nd], name);
    if (a == NULL)
        abort();
    a->type = type;
    return a;
}

static inline void attr_ints(fgq_graph *g, int32_t nd, const char *name, int32_t n, const int64_t *v)
{
    fgq_ir_attr *a = add_attr(g, nd, name, FGQ_ATTR_INTS);
    a->n = n;
    a->ints = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (a->ints == NULL)
        abort();
    memcpy(a->ints, v, (size_t)n * sizeof(int64_t));
}

/* Sets the graph's inputs and outputs (and marks the outputs). */
static inline void set_io(fgq_graph *g, int32_t nin, const int32_t *in, int32_t nout, const int32_t *out)
{
    g->n_inputs = nin;
    g->inputs = malloc((size_t)(nin ? nin : 1) * sizeof(int32_t));
    g->n_outputs = nout;
    g->outputs = malloc((size_t)(nout ? nout : 1) * sizeof(int32_t));
    if (g->inputs == NULL || g->outputs == NULL)
        abort();
    memcpy(g->inputs, in, (size_t)nin * sizeof(int32_t));
    memcpy(g->outputs, out, (size_t)nout * sizeof(int32_t));
    for (int32_t i = 0; i < nout; i++)
        g->tensors[out[i]].is_output = 1;
}

/* A 4-float graph with a skip: a = Sigmoid(x), b = Tanh(a), c = a + b,
 * y = c * w (w = {1, 2, 3, 4} unless given); outputs y and, with a_out, a.
 * Tensor indices in t[]: x, a, b, c, w, y. */
static inline fgq_graph *skip_graph(const float *w, int a_out, int32_t t[6])
{
    static const float w_default[4] = {1, 2, 3, 4};
    fgq_graph *g = fgq_graph_new();
    if (g == NULL)
        abort();
    g->opset = 13;
    int64_t d[1] = {4};
    t[0] = tensor(g, "x", FGQ_TK_INPUT, 1, d);
    t[1] = tensor(g, "a", FGQ_TK_INTERMEDIATE, 1, d);
    t[2] = tensor(g, "b", FGQ_TK_INTERMEDIATE, 1, d);
    t[3] = tensor(g, "c", FGQ_TK_INTERMEDIATE, 1, d);
    t[4] = const_f32(g, "w", 1, d, w != NULL ? w : w_default);
    t[5] = tensor(g, "y", FGQ_TK_INTERMEDIATE, 1, d);
    node(g, "s", "Sigmoid", 1, (int32_t[]){t[0]}, t[1]);
    node(g, "t", "Tanh", 1, (int32_t[]){t[1]}, t[2]);
    node(g, "add", "Add", 2, (int32_t[]){t[1], t[2]}, t[3]);
    node(g, "mul", "Mul", 2, (int32_t[]){t[3], t[4]}, t[5]);
    set_io(g, 1, (int32_t[]){t[0]}, a_out ? 2 : 1, (int32_t[]){t[5], t[1]});
    return g;
}

#endif /* FGQ_TEST_GRAPH_BUILD_H */
