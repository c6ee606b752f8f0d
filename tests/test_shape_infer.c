/* test_shape_infer.c — fgq_infer_shapes, fgq_node_stats, fgq_op_is_supported.
 * Graphs are built directly in the IR. Oracles: the ONNX operator spec's shape
 * formulas evaluated by hand in each case's comment (conv/pool output extent
 * floor((in + pads - ((k-1)*d+1)) / s) + 1, numpy broadcasting, ...). */
#include "fgq_test.h"
#include "import/shape_infer.h"

#include <stdlib.h>
#include <string.h>

static int32_t tensor(fgq_graph *g, const char *name, fgq_dtype dt, int32_t rank, const int64_t *dims)
{
    int32_t t = fgq_graph_add_tensor(g, name);
    g->tensors[t].dtype = dt;
    g->tensors[t].rank = rank;
    for (int32_t i = 0; i < rank; i++)
        g->tensors[t].dims[i] = dims[i];
    g->tensors[t].kind = FGQ_TK_INPUT;
    return t;
}

/* A constant; data (may be NULL: zeros) is copied. */
static int32_t cnst(fgq_graph *g, const char *name, fgq_dtype dt, int32_t rank, const int64_t *dims, const void *data)
{
    int32_t t = tensor(g, name, dt, rank, dims);
    size_t bytes = (size_t)fgq_ir_tensor_numel(&g->tensors[t]) * fgq_dtype_size(dt);
    g->tensors[t].kind = FGQ_TK_CONST;
    g->tensors[t].data = calloc(bytes ? bytes : 1, 1);
    if (data != NULL && bytes > 0)
        memcpy(g->tensors[t].data, data, bytes);
    return t;
}

static char *sdup(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

/* Node reading/creating tensors by name ("" = omitted input). */
static int32_t node(fgq_graph *g, const char *op, int32_t nin, const char **ins, int32_t nout, const char **outs)
{
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? 2 * g->cap_nodes : 8;
        g->nodes = realloc(g->nodes, (size_t)g->cap_nodes * sizeof *g->nodes);
    }
    int32_t ni = g->n_nodes++;
    fgq_ir_node *n = &g->nodes[ni];
    memset(n, 0, sizeof *n);
    char name[64];
    snprintf(name, sizeof name, "%s_%d", op, (int)ni);
    n->name = sdup(name);
    n->op_type = sdup(op);
    n->domain = sdup("");
    n->inputs = malloc(sizeof(int32_t) * (size_t)(nin ? nin : 1));
    n->outputs = malloc(sizeof(int32_t) * (size_t)(nout ? nout : 1));
    n->attrs = calloc(8, sizeof(fgq_ir_attr));
    for (int32_t k = 0; k < nin; k++)
        n->inputs[n->n_inputs++] = ins[k][0] ? fgq_graph_find_tensor(g, ins[k]) : -1;
    for (int32_t k = 0; k < nout; k++) {
        int32_t t = fgq_graph_add_tensor(g, outs[k]);
        g->tensors[t].producer = ni;
        g->nodes[ni].outputs[g->nodes[ni].n_outputs++] = t;
    }
    return ni;
}

static fgq_ir_attr *attr(fgq_graph *g, int32_t ni, const char *name, fgq_attr_type type)
{
    fgq_ir_node *n = &g->nodes[ni];
    fgq_ir_attr *a = &n->attrs[n->n_attrs++];
    a->name = sdup(name);
    a->type = type;
    a->tensor = -1;
    return a;
}

static void attr_i(fgq_graph *g, int32_t ni, const char *name, int64_t v)
{
    attr(g, ni, name, FGQ_ATTR_INT)->i = v;
}

static void attr_is(fgq_graph *g, int32_t ni, const char *name, int32_t n, const int64_t *v)
{
    fgq_ir_attr *a = attr(g, ni, name, FGQ_ATTR_INTS);
    a->n = n;
    a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

static void attr_s(fgq_graph *g, int32_t ni, const char *name, const char *s)
{
    attr(g, ni, name, FGQ_ATTR_STRING)->s = sdup(s);
}

static fgq_graph *new_graph(int64_t opset)
{
    fgq_graph *g = fgq_graph_new();
    g->opset = opset;
    g->source_path = sdup("test.onnx");
    return g;
}

/* Checks the inferred dims of tensor `name`. */
static int has_shape(const fgq_graph *g, const char *name, int32_t rank, const int64_t *dims)
{
    const fgq_ir_tensor *t = &g->tensors[fgq_graph_find_tensor(g, name)];
    if (t->rank != rank) {
        fprintf(stderr, "  %s: rank %d, expected %d\n", name, (int)t->rank, (int)rank);
        return 0;
    }
    for (int32_t i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) {
            fprintf(stderr, "  %s: dim %d is %lld, expected %lld\n", name, (int)i, (long long)t->dims[i],
                    (long long)dims[i]);
            return 0;
        }
    return 1;
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NAMES(...) ((const char *[]){__VA_ARGS__})

static void test_conv_group_stride_pad(void)
{
    /* X [1,4,10,10], W [6,2,3,3], group 2, stride 2, pads 1: (10+2-3)/2+1 = 5.
     * MACs = N*Cout*spatial*(Cin/group)*k = 1*6*25*2*9 = 2700; params 108 + 6. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 4, DIMS(1, 4, 10, 10));
    cnst(g, "w", FGQ_DT_F32, 4, DIMS(6, 2, 3, 3), NULL);
    cnst(g, "b", FGQ_DT_F32, 1, DIMS(6), NULL);
    int32_t n = node(g, "Conv", 3, NAMES("x", "w", "b"), 1, NAMES("y"));
    attr_i(g, n, "group", 2);
    attr_is(g, n, "strides", 2, DIMS(2, 2));
    attr_is(g, n, "pads", 4, DIMS(1, 1, 1, 1));
    fgq_error err = {0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_OK);
    CHECK(has_shape(g, "y", 4, DIMS(1, 6, 5, 5)));
    CHECK(g->tensors[fgq_graph_find_tensor(g, "y")].dtype == FGQ_DT_F32);
    int64_t p, m;
    fgq_node_stats(g, n, &p, &m);
    CHECK(p == 114);
    CHECK(m == 2700);
    fgq_graph_free(g);
}

static void test_conv_auto_pad_dilation_1d_3d(void)
{
    /* SAME_UPPER: ceil(7/2) = 4. Dilation 2, k 3 on 9: effective 5, (9-5)/1+1 = 5.
     * VALID, stride 2, k 3 on 8: (8-3)/2+1 = 3. 1-D and 3-D by the same formula. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 4, DIMS(2, 3, 7, 9));
    cnst(g, "w", FGQ_DT_F32, 4, DIMS(5, 3, 3, 3), NULL);
    int32_t a = node(g, "Conv", 2, NAMES("x", "w"), 1, NAMES("same"));
    attr_s(g, a, "auto_pad", "SAME_UPPER");
    attr_is(g, a, "strides", 2, DIMS(2, 2));
    int32_t b = node(g, "Conv", 2, NAMES("x", "w"), 1, NAMES("dil"));
    attr_is(g, b, "dilations", 2, DIMS(1, 2));
    tensor(g, "x1", FGQ_DT_F32, 3, DIMS(1, 2, 8));
    cnst(g, "w1", FGQ_DT_F32, 3, DIMS(4, 2, 3), NULL);
    int32_t c = node(g, "Conv", 2, NAMES("x1", "w1"), 1, NAMES("one"));
    attr_s(g, c, "auto_pad", "VALID");
    attr_is(g, c, "strides", 1, DIMS(2));
    tensor(g, "x3", FGQ_DT_F32, 5, DIMS(1, 1, 4, 5, 6));
    cnst(g, "w3", FGQ_DT_F32, 5, DIMS(2, 1, 2, 2, 2), NULL);
    node(g, "Conv", 2, NAMES("x3", "w3"), 1, NAMES("three"));
    fgq_error err = {0};
    CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(has_shape(g, "same", 4, DIMS(2, 5, 4, 5)));
    CHECK(has_shape(g, "dil", 4, DIMS(2, 5, 5, 5)));
    CHECK(has_shape(g, "one", 3, DIMS(1, 4, 3)));
    CHECK(has_shape(g, "three", 5, DIMS(1, 2, 3, 4, 5)));
    fgq_graph_free(g);
}

static void test_conv_channel_mismatch(void)
{
    /* X has 3 channels, W [4,2,3,3] with group 1 expects 2: a shape error naming the node. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 4, DIMS(1, 3, 8, 8));
    cnst(g, "w", FGQ_DT_F32, 4, DIMS(4, 2, 3, 3), NULL);
    node(g, "Conv", 2, NAMES("x", "w"), 1, NAMES("y"));
    fgq_error err = {0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "Conv_0") != NULL && strstr(err.msg, "3 channels") != NULL, "%s", err.msg);
    fgq_graph_free(g);
}

static void test_pools(void)
{
    /* k2 s2 on 5: floor (5-2)/2+1 = 2, ceil_mode ceil(3/2)+1 = 3. k3 s2 pads 1 on 6 with ceil:
     * ceil((8-3)/2)+1 = 4, last window starts at 6 >= 6+1? no: 4 stays. Global pool -> 1x1. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 4, DIMS(1, 2, 5, 6));
    int32_t a = node(g, "MaxPool", 1, NAMES("x"), 1, NAMES("floor"));
    attr_is(g, a, "kernel_shape", 2, DIMS(2, 2));
    attr_is(g, a, "strides", 2, DIMS(2, 2));
    int32_t b = node(g, "MaxPool", 1, NAMES("x"), 2, NAMES("ceil", "idx"));
    attr_is(g, b, "kernel_shape", 2, DIMS(2, 3));
    attr_is(g, b, "strides", 2, DIMS(2, 2));
    attr_is(g, b, "pads", 4, DIMS(0, 1, 0, 1));
    attr_i(g, b, "ceil_mode", 1);
    int32_t c = node(g, "AveragePool", 1, NAMES("x"), 1, NAMES("avg"));
    attr_is(g, c, "kernel_shape", 2, DIMS(3, 3));
    attr_s(g, c, "auto_pad", "SAME_LOWER");
    node(g, "GlobalAveragePool", 1, NAMES("x"), 1, NAMES("gap"));
    fgq_error err = {0};
    CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(has_shape(g, "floor", 4, DIMS(1, 2, 2, 3)));
    CHECK(has_shape(g, "ceil", 4, DIMS(1, 2, 3, 4)));
    CHECK(has_shape(g, "idx", 4, DIMS(1, 2, 3, 4)));
    CHECK(g->tensors[fgq_graph_find_tensor(g, "idx")].dtype == FGQ_DT_S64);
    CHECK(has_shape(g, "avg", 4, DIMS(1, 2, 5, 6)));
    CHECK(has_shape(g, "gap", 4, DIMS(1, 2, 1, 1)));
    fgq_graph_free(g);
}

static void test_gemm_matmul(void)
{
    /* Gemm A [4,3]^T... here A [3,4] transA -> M 4, K 3; B [5,3] transB -> N 5: [4,5], MACs 4*5*3.
     * MatMul numpy rules: [2,1,3,4]x[5,4,6] -> [2,5,3,6]; [4]x[4,6] -> [6]; [3,4]x[4] -> [3]. */
    fgq_graph *g = new_graph(13);
    tensor(g, "a", FGQ_DT_F32, 2, DIMS(3, 4));
    cnst(g, "b", FGQ_DT_F32, 2, DIMS(5, 3), NULL);
    cnst(g, "c", FGQ_DT_F32, 1, DIMS(5), NULL);
    int32_t n = node(g, "Gemm", 3, NAMES("a", "b", "c"), 1, NAMES("y"));
    attr_i(g, n, "transA", 1);
    attr_i(g, n, "transB", 1);
    tensor(g, "p", FGQ_DT_F32, 4, DIMS(2, 1, 3, 4));
    tensor(g, "q", FGQ_DT_F32, 3, DIMS(5, 4, 6));
    int32_t mm = node(g, "MatMul", 2, NAMES("p", "q"), 1, NAMES("pq"));
    tensor(g, "v", FGQ_DT_F32, 1, DIMS(4));
    tensor(g, "m46", FGQ_DT_F32, 2, DIMS(4, 6));
    tensor(g, "m34", FGQ_DT_F32, 2, DIMS(3, 4));
    node(g, "MatMul", 2, NAMES("v", "m46"), 1, NAMES("vm"));
    node(g, "MatMul", 2, NAMES("m34", "v"), 1, NAMES("mv"));
    fgq_error err = {0};
    CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(has_shape(g, "y", 2, DIMS(4, 5)));
    CHECK(has_shape(g, "pq", 4, DIMS(2, 5, 3, 6)));
    CHECK(has_shape(g, "vm", 1, DIMS(6)));
    CHECK(has_shape(g, "mv", 1, DIMS(3)));
    int64_t p, m;
    fgq_node_stats(g, n, &p, &m);
    CHECK(m == 4 * 5 * 3 && p == 20);
    fgq_node_stats(g, mm, &p, &m);
    CHECK(m == 2 * 5 * 3 * 6 * 4 && p == 0);
    fgq_graph_free(g);

    /* K mismatch: [2,3] x [4,5] */
    g = new_graph(13);
    tensor(g, "a", FGQ_DT_F32, 2, DIMS(2, 3));
    tensor(g, "b", FGQ_DT_F32, 2, DIMS(4, 5));
    node(g, "Gemm", 2, NAMES("a", "b"), 1, NAMES("y"));
    err = (fgq_error){0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "Gemm_0") && strstr(err.msg, "K = 3") && strstr(err.msg, "K = 4"), "%s", err.msg);
    fgq_graph_free(g);
}

static void test_broadcast(void)
{
    /* [3,1] + [4] -> [3,4]; [3] * [4] cannot broadcast. */
    fgq_graph *g = new_graph(13);
    tensor(g, "a", FGQ_DT_F32, 2, DIMS(3, 1));
    tensor(g, "b", FGQ_DT_F32, 1, DIMS(4));
    node(g, "Add", 2, NAMES("a", "b"), 1, NAMES("y"));
    fgq_error err = {0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_OK);
    CHECK(has_shape(g, "y", 2, DIMS(3, 4)));
    fgq_graph_free(g);

    g = new_graph(13);
    tensor(g, "a", FGQ_DT_F32, 1, DIMS(3));
    tensor(g, "b", FGQ_DT_F32, 1, DIMS(4));
    node(g, "Mul", 2, NAMES("a", "b"), 1, NAMES("y"));
    CHECK(fgq_infer_shapes(g, &err) == FGQ_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "Mul_0") && strstr(err.msg, "broadcast"), "%s", err.msg);
    fgq_graph_free(g);
}

static void test_reshape_flatten_transpose(void)
{
    /* [2,3,4] reshape (0,-1) -> [2,12]; allowzero keeps a literal 0 -> [0,...] mismatch;
     * Flatten axis 2 of [2,3,4,5] -> [6,20]; Transpose default reverses. */
    fgq_graph *g = new_graph(14);
    tensor(g, "x", FGQ_DT_F32, 3, DIMS(2, 3, 4));
    int64_t s1[] = {0, -1};
    cnst(g, "s1", FGQ_DT_S64, 1, DIMS(2), s1);
    node(g, "Reshape", 2, NAMES("x", "s1"), 1, NAMES("r"));
    tensor(g, "x4", FGQ_DT_F32, 4, DIMS(2, 3, 4, 5));
    int32_t f = node(g, "Flatten", 1, NAMES("x4"), 1, NAMES("fl"));
    attr_i(g, f, "axis", 2);
    node(g, "Transpose", 1, NAMES("x4"), 1, NAMES("tr"));
    fgq_error err = {0};
    CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(has_shape(g, "r", 2, DIMS(2, 12)));
    CHECK(has_shape(g, "fl", 2, DIMS(6, 20)));
    CHECK(has_shape(g, "tr", 4, DIMS(5, 4, 3, 2)));
    fgq_graph_free(g);

    g = new_graph(14);
    tensor(g, "x", FGQ_DT_F32, 3, DIMS(2, 3, 4));
    int64_t s2[] = {5, 5};
    cnst(g, "s2", FGQ_DT_S64, 1, DIMS(2), s2);
    node(g, "Reshape", 2, NAMES("x", "s2"), 1, NAMES("r"));
    err = (fgq_error){0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "24 elements") && strstr(err.msg, "25 elements"), "%s", err.msg);
    fgq_graph_free(g);
}

static void test_squeeze_unsqueeze_concat(void)
{
    /* opset 11: axes attribute; opset 13: axes input. [1,3,1,5] squeeze(0,2) -> [3,5];
     * unsqueeze(-1) -> [3,5,1]; concat axis 1 of [3,5] and [3,2] -> [3,7]. */
    for (int opset = 11; opset <= 13; opset += 2) {
        fgq_graph *g = new_graph(opset);
        tensor(g, "x", FGQ_DT_F32, 4, DIMS(1, 3, 1, 5));
        int64_t ax[] = {0, 2}, ax2[] = {-1};
        cnst(g, "ax", FGQ_DT_S64, 1, DIMS(2), ax);
        cnst(g, "ax2", FGQ_DT_S64, 1, DIMS(1), ax2);
        int32_t s = node(g, "Squeeze", opset >= 13 ? 2 : 1, NAMES("x", "ax"), 1, NAMES("sq"));
        int32_t u = node(g, "Unsqueeze", opset >= 13 ? 2 : 1, NAMES("sq", "ax2"), 1, NAMES("un"));
        if (opset < 13) {
            attr_is(g, s, "axes", 2, ax);
            attr_is(g, u, "axes", 1, ax2);
        }
        tensor(g, "z", FGQ_DT_F32, 2, DIMS(3, 2));
        int32_t c = node(g, "Concat", 2, NAMES("sq", "z"), 1, NAMES("cat"));
        attr_i(g, c, "axis", 1);
        fgq_error err = {0};
        CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
        CHECK(has_shape(g, "sq", 2, DIMS(3, 5)));
        CHECK(has_shape(g, "un", 3, DIMS(3, 5, 1)));
        CHECK(has_shape(g, "cat", 2, DIMS(3, 7)));
        fgq_graph_free(g);
    }
}

static void test_shape_arithmetic_folds(void)
{
    /* Shape([2,3,4]) = [2,3,4]; Gather idx 0 -> 2; Unsqueeze -> [2]; Concat with [-1] -> [2,-1];
     * Reshape -> [2,12]. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 3, DIMS(2, 3, 4));
    int64_t zero = 0, minus1 = -1, ax0 = 0;
    cnst(g, "zero", FGQ_DT_S64, 0, NULL, &zero);
    cnst(g, "m1", FGQ_DT_S64, 1, DIMS(1), &minus1);
    cnst(g, "ax0", FGQ_DT_S64, 1, DIMS(1), &ax0);
    node(g, "Shape", 1, NAMES("x"), 1, NAMES("s"));
    int32_t ga = node(g, "Gather", 2, NAMES("s", "zero"), 1, NAMES("n"));
    node(g, "Unsqueeze", 2, NAMES("n", "ax0"), 1, NAMES("n1"));
    int32_t c = node(g, "Concat", 2, NAMES("n1", "m1"), 1, NAMES("shape"));
    attr_i(g, c, "axis", 0);
    node(g, "Reshape", 2, NAMES("x", "shape"), 1, NAMES("y"));
    fgq_error err = {0};
    CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(has_shape(g, "s", 1, DIMS(3)));
    CHECK(has_shape(g, "n", 0, NULL));
    CHECK(has_shape(g, "y", 2, DIMS(2, 12)));
    CHECK(fgq_node_is_supported(g, ga));
    fgq_graph_free(g);
}

static void test_unknown_op_propagates(void)
{
    /* An op fgq does not know leaves its output unknown, and Relu after it too; no error. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 2, DIMS(2, 3));
    int32_t n = node(g, "Hardmax", 1, NAMES("x"), 1, NAMES("e"));
    node(g, "Relu", 1, NAMES("e"), 1, NAMES("y"));
    fgq_error err = {0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_OK);
    CHECK(g->tensors[fgq_graph_find_tensor(g, "e")].rank == -1);
    CHECK(g->tensors[fgq_graph_find_tensor(g, "y")].rank == -1);
    CHECK(!fgq_node_is_supported(g, n));
    fgq_graph_free(g);
}

static void test_zoo_ops(void)
{
    /* Slice (negative start, ends past the end, a negative step), Reduce with and
     * without keepdims, Split equal and explicit, Pad, LayerNormalization's
     * optional outputs, and a Slice of shape values that folds. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 4, DIMS(2, 6, 5, 4));
    cnst(g, "st", FGQ_DT_S64, 1, DIMS(3), (const int64_t[]){ -4, 0, 4 });
    cnst(g, "en", FGQ_DT_S64, 1, DIMS(3), (const int64_t[]){ INT64_MAX, 3, INT64_MIN });
    cnst(g, "ax", FGQ_DT_S64, 1, DIMS(3), (const int64_t[]){ 1, 2, 3 });
    cnst(g, "sp", FGQ_DT_S64, 1, DIMS(3), (const int64_t[]){ 1, 2, -2 });
    node(g, "Slice", 5, NAMES("x", "st", "en", "ax", "sp"), 1, NAMES("sl"));
    cnst(g, "rax", FGQ_DT_S64, 1, DIMS(2), (const int64_t[]){ -1, 1 });
    node(g, "ReduceSum", 2, NAMES("x", "rax"), 1, NAMES("rs"));
    int32_t rm = node(g, "ReduceMean", 1, NAMES("x"), 1, NAMES("rm"));
    attr_is(g, rm, "axes", 2, DIMS(2, 3));
    attr_i(g, rm, "keepdims", 0);
    int32_t sp3 = node(g, "Split", 1, NAMES("x"), 3, NAMES("p0", "p1", "p2"));
    attr_i(g, sp3, "axis", 1);
    cnst(g, "spl", FGQ_DT_S64, 1, DIMS(2), (const int64_t[]){ 1, 4 });
    int32_t sp2 = node(g, "Split", 2, NAMES("x", "spl"), 2, NAMES("q0", "q1"));
    attr_i(g, sp2, "axis", -2);
    cnst(g, "pads", FGQ_DT_S64, 1, DIMS(8), (const int64_t[]){ 0, 0, 1, 2, 0, 0, 3, 0 });
    node(g, "Pad", 2, NAMES("x", "pads"), 1, NAMES("pd"));
    cnst(g, "sc", FGQ_DT_F32, 1, DIMS(4), NULL);
    int32_t ln = node(g, "LayerNormalization", 2, NAMES("x", "sc"), 3, NAMES("ln", "mean", "isd"));
    attr_i(g, ln, "axis", -1);
    node(g, "Shape", 1, NAMES("x"), 1, NAMES("shp"));
    cnst(g, "s0", FGQ_DT_S64, 1, DIMS(1), (const int64_t[]){ 1 });
    cnst(g, "s1", FGQ_DT_S64, 1, DIMS(1), (const int64_t[]){ 3 });
    node(g, "Slice", 3, NAMES("shp", "s0", "s1"), 1, NAMES("hw"));
    cnst(g, "m1", FGQ_DT_S64, 1, DIMS(1), (const int64_t[]){ -1 });
    node(g, "Concat", 2, NAMES("m1", "hw"), 1, NAMES("newshape"));
    attr_i(g, g->n_nodes - 1, "axis", 0);
    node(g, "Reshape", 2, NAMES("x", "newshape"), 1, NAMES("rsh"));
    fgq_error err = {0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_OK);
    CHECK(has_shape(g, "sl", 4, DIMS(2, 4, 2, 2)));   /* 2..5; 0, 2; 3, 1 */
    CHECK(has_shape(g, "rs", 4, DIMS(2, 1, 5, 1)));
    CHECK(has_shape(g, "rm", 2, DIMS(2, 6)));
    CHECK(has_shape(g, "p0", 4, DIMS(2, 2, 5, 4)) && has_shape(g, "p2", 4, DIMS(2, 2, 5, 4)));
    CHECK(has_shape(g, "q0", 4, DIMS(2, 6, 1, 4)) && has_shape(g, "q1", 4, DIMS(2, 6, 4, 4)));
    CHECK(has_shape(g, "pd", 4, DIMS(2, 6, 9, 6)));
    CHECK(has_shape(g, "ln", 4, DIMS(2, 6, 5, 4)) && has_shape(g, "isd", 4, DIMS(2, 6, 5, 1)));
    CHECK(has_shape(g, "rsh", 3, DIMS(8, 6, 5))); /* [-1, 6, 5]: the sliced shape folded */
    fgq_graph_free(g);

    /* bad values name the node: a split that does not add up, a repeated reduce axis */
    g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 2, DIMS(4, 6));
    cnst(g, "spl", FGQ_DT_S64, 1, DIMS(2), (const int64_t[]){ 2, 3 });
    int32_t bad = node(g, "Split", 2, NAMES("x", "spl"), 2, NAMES("a", "b"));
    attr_i(g, bad, "axis", 1);
    CHECK(fgq_infer_shapes(g, &err) == FGQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "Split") != NULL && strstr(err.msg, "add up") != NULL);
    fgq_graph_free(g);
    g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 2, DIMS(4, 6));
    int32_t r2 = node(g, "ReduceMax", 1, NAMES("x"), 1, NAMES("y"));
    attr_is(g, r2, "axes", 2, DIMS(1, -1));
    fgq_error_clear(&err);
    CHECK(fgq_infer_shapes(g, &err) == FGQ_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "ReduceMax") != NULL && strstr(err.msg, "repeated") != NULL, "%s", err.msg);
    fgq_graph_free(g);
}

static void test_quant_ops(void)
{
    /* QuantizeLinear output type = zero point type (s8), else u8; DequantizeLinear -> f32;
     * DynamicQuantizeLinear -> u8 y, scalar f32 scale, scalar u8 zero point. */
    fgq_graph *g = new_graph(13);
    tensor(g, "x", FGQ_DT_F32, 2, DIMS(2, 3));
    float s = 0.5f;
    int8_t z = 0;
    cnst(g, "s", FGQ_DT_F32, 0, NULL, &s);
    cnst(g, "z", FGQ_DT_S8, 0, NULL, &z);
    node(g, "QuantizeLinear", 3, NAMES("x", "s", "z"), 1, NAMES("q"));
    node(g, "QuantizeLinear", 2, NAMES("x", "s"), 1, NAMES("qu"));
    node(g, "DequantizeLinear", 3, NAMES("q", "s", "z"), 1, NAMES("dq"));
    node(g, "DynamicQuantizeLinear", 1, NAMES("x"), 3, NAMES("y", "ys", "yz"));
    fgq_error err = {0};
    CHECK_MSG(fgq_infer_shapes(g, &err) == FGQ_OK, "%s", err.msg);
    CHECK(g->tensors[fgq_graph_find_tensor(g, "q")].dtype == FGQ_DT_S8);
    CHECK(g->tensors[fgq_graph_find_tensor(g, "qu")].dtype == FGQ_DT_U8);
    CHECK(g->tensors[fgq_graph_find_tensor(g, "dq")].dtype == FGQ_DT_F32);
    CHECK(has_shape(g, "dq", 2, DIMS(2, 3)));
    CHECK(has_shape(g, "ys", 0, NULL));
    CHECK(g->tensors[fgq_graph_find_tensor(g, "yz")].dtype == FGQ_DT_U8);
    fgq_graph_free(g);
}

static void test_op_table(void)
{
    /* The claimed set is the op table's (tests/test_onnx_ops.c checks it against lowering); ONNX's
     * quantized ops lower too; custom domains are not in it. */
    CHECK(fgq_op_is_supported("Conv", ""));
    CHECK(fgq_op_is_supported("Softmax", "ai.onnx"));
    CHECK(fgq_op_is_supported("Gemm", NULL));
    CHECK(fgq_op_is_supported("QLinearConv", ""));
    CHECK(!fgq_op_is_supported("LRN", ""));
    CHECK(!fgq_op_is_supported("Conv", "com.microsoft"));
}

int main(void)
{
    RUN(test_conv_group_stride_pad);
    RUN(test_conv_auto_pad_dilation_1d_3d);
    RUN(test_conv_channel_mismatch);
    RUN(test_pools);
    RUN(test_gemm_matmul);
    RUN(test_broadcast);
    RUN(test_reshape_flatten_transpose);
    RUN(test_squeeze_unsqueeze_concat);
    RUN(test_shape_arithmetic_folds);
    RUN(test_unknown_op_propagates);
    RUN(test_zoo_ops);
    RUN(test_quant_ops);
    RUN(test_op_table);
    return FGQ_TEST_DONE();
}
