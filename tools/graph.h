/*
 * graph.h — fgq's one graph IR, for float and quantized models (DESIGN §2).
 *
 * A graph owns all of its memory (names, attribute arrays, constant data);
 * fgq_graph_free releases it. Tensors and nodes refer to each other by index
 * into graph->tensors / graph->nodes, never by pointer, so arrays may grow.
 *
 * Invariants after import + shape inference (tools/import/shape_infer.h):
 *   - nodes are in topological order;
 *   - every tensor has dtype and static dims (symbolic dims are bound, by
 *     default to 1, and named in the tensor's `sym_dims` mask);
 *   - constant tensors (initializers, Constant outputs once folded) own their
 *     data in host order, element type `dtype`, `fgq_ir_tensor_numel` elements.
 */
#ifndef FGQ_GRAPH_H
#define FGQ_GRAPH_H

#include "fgq_types.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FGQ_TK_INTERMEDIATE = 0, /* produced by a node */
    FGQ_TK_INPUT = 1,        /* graph input fed by the caller */
    FGQ_TK_CONST = 2,        /* initializer or folded constant: `data` is set */
} fgq_tensor_kind;

/* Quantization parameters of a tensor: x ≈ scale * (q - zero_point).
 * n_scales == 0: not quantized. n_scales == 1: per tensor. Otherwise one
 * (scale, zero_point) per channel along `axis`, or per group (group_size > 0)
 * of consecutive elements along the reduction axis of each output channel. */
typedef struct {
    int32_t n_scales;
    int32_t axis;
    int32_t group_size;
    float *scales;       /* n_scales entries, owned */
    int32_t *zero_points; /* n_scales entries, owned (NULL means all zero) */
} fgq_qparams;

typedef struct {
    char *name;
    fgq_dtype dtype;
    fgq_tensor_kind kind;
    int32_t rank;                /* -1 while unknown */
    int64_t dims[FGQ_MAX_DIMS];
    uint32_t sym_dims;           /* bit i set: dims[i] was symbolic in the model */
    void *data;                  /* FGQ_TK_CONST: owned, numel * fgq_dtype_size */
    int32_t producer;            /* node index, or -1 */
    int32_t is_output;           /* 1 if listed in the graph outputs */
    fgq_qparams q;
} fgq_ir_tensor;

typedef enum {
    FGQ_ATTR_UNDEF = 0,
    FGQ_ATTR_FLOAT = 1,
    FGQ_ATTR_INT = 2,
    FGQ_ATTR_STRING = 3,
    FGQ_ATTR_TENSOR = 4, /* value is a tensor index (a FGQ_TK_CONST tensor in this graph) */
    FGQ_ATTR_FLOATS = 6,
    FGQ_ATTR_INTS = 7,
    FGQ_ATTR_STRINGS = 8,
} fgq_attr_type; /* values match onnx.AttributeProto.AttributeType */

typedef struct {
    char *name;
    fgq_attr_type type;
    float f;
    int64_t i;
    char *s;          /* FGQ_ATTR_STRING, NUL-terminated, owned */
    int32_t tensor;   /* FGQ_ATTR_TENSOR */
    int32_t n;        /* element count for FLOATS / INTS / STRINGS */
    float *floats;
    int64_t *ints;
    char **strings;
} fgq_ir_attr;

typedef struct {
    char *name;       /* ONNX node name; import synthesises "<op>_<index>" if empty */
    char *op_type;
    char *domain;     /* "" for the default ONNX domain */
    int32_t n_inputs;
    int32_t *inputs;  /* tensor indices; -1 marks an omitted optional input */
    int32_t n_outputs;
    int32_t *outputs;
    int32_t n_attrs;
    fgq_ir_attr *attrs;
} fgq_ir_node;

typedef struct {
    char *source_path;   /* the model file, for messages */
    int64_t opset;       /* default-domain opset version */
    int32_t n_tensors, cap_tensors;
    fgq_ir_tensor *tensors;
    int32_t n_nodes, cap_nodes;
    fgq_ir_node *nodes;
    int32_t n_inputs;
    int32_t *inputs;     /* graph inputs that are fed at run time (not initializers) */
    int32_t n_outputs;
    int32_t *outputs;
    int32_t n_f16;       /* initializers, graph inputs and outputs imported from float16 as float32 */
} fgq_graph;

/* Lifetime. fgq_graph_new returns NULL on allocation failure. */
fgq_graph *fgq_graph_new(void);
void fgq_graph_free(fgq_graph *g);

/* Adds a tensor named `name` (copied) and returns its index, or -1 on OOM.
 * Fields other than name default to: UNDEF dtype, INTERMEDIATE, rank -1. */
int32_t fgq_graph_add_tensor(fgq_graph *g, const char *name);
/* Appends a node: name, op_type and the index arrays are copied, domain is
 * "" and the node becomes the producer of each output. Returns its index, or
 * -1 on OOM (the graph is unchanged then). */
int32_t fgq_graph_add_node(fgq_graph *g, const char *name, const char *op_type, int32_t n_inputs,
                           const int32_t *inputs, int32_t n_outputs, const int32_t *outputs);
/* Frees what node n owns (strings, index arrays, attributes), not n itself. */
void fgq_ir_node_free(fgq_ir_node *n);
/* Node n's attribute `name`, appended (type UNDEF, tensor -1) when absent, so
 * the caller sets its type and value; NULL on OOM. */
fgq_ir_attr *fgq_node_attr_slot(fgq_ir_node *n, const char *name);
/* Index of the tensor called `name`, or -1. Linear search; fine at model sizes
 * (import keeps its own hash map while building). */
int32_t fgq_graph_find_tensor(const fgq_graph *g, const char *name);

int64_t fgq_ir_tensor_numel(const fgq_ir_tensor *t);

/* The most elements a tensor may have (so also its largest dim): 2^40, 4 TiB
 * of float32, far past what the writer's arena limit lets run. Import refuses
 * larger declared shapes and shape inference larger inferred ones, so the
 * tools' products of dims, strides and element sizes stay inside int64. */
#define FGQ_IR_MAX_ELEMS ((int64_t)1 << 40)
/* 1 if every dim is in [0, FGQ_IR_MAX_ELEMS] and their product is too. */
int fgq_ir_dims_fit(int32_t rank, const int64_t *dims);

/* Attribute lookup on a node; NULL if absent. The typed getters return
 * `def` when the attribute is absent. */
const fgq_ir_attr *fgq_node_attr(const fgq_ir_node *n, const char *name);
int64_t fgq_node_attr_int(const fgq_ir_node *n, const char *name, int64_t def);
/* The one op-name matcher. A domain is ONNX's default one when it is NULL, "" or "ai.onnx"; every
 * other domain (com.microsoft, fgq's own pre-lowered "fgq", ...) is not. fgq_node_is: n is op `op`
 * of the default domain. */
int fgq_domain_is_default(const char *domain);
int fgq_node_is(const fgq_ir_node *n, const char *op);
/* 1 if tensor t (may be -1) is a float32 constant with data / a float32 activation (not a constant). */
int fgq_ir_is_f32_const(const fgq_graph *g, int32_t t);
int fgq_ir_is_f32_activation(const fgq_graph *g, int32_t t);
/* How many node inputs read tensor t (graph outputs not counted). */
int32_t fgq_graph_tensor_uses(const fgq_graph *g, int32_t t);
float fgq_node_attr_float(const fgq_ir_node *n, const char *name, float def);

void fgq_qparams_free(fgq_qparams *q);

/* Nodes from..to (inclusive) of g as a graph of their own: inputs the
 * activations (and graph inputs) they read but do not produce, in order of
 * first use; outputs what they produce that a node after `to` or g's outputs
 * read, in node order; constants copied, from data[t] instead of g's data
 * where data (may be NULL) has an entry for tensor t. NULL on OOM or a bad
 * range. */
fgq_graph *fgq_graph_segment(const fgq_graph *g, int32_t from, int32_t to, const void *const *data);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_GRAPH_H */
