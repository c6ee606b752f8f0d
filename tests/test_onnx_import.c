/* test_onnx_import.c — ONNX ModelProto -> graph IR, built in C with protobuf-c and
 * written to a temp file. Oracles: the values put into the protobuf (and the IEEE
 * binary16 definition for float16), ONNX's rules for names/opsets/symbolic dims,
 * and for the test-data reader Relu's definition max(x, 0) applied to input_0.pb. */
#include "fgq_test.h"
#include "onnx.pb-c.h"
#include "import/onnx_import.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmp_path[256];

static void save_model(Onnx__ModelProto *m)
{
    size_t len = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(m, buf);
    snprintf(tmp_path, sizeof tmp_path, "/tmp/fgq_test_import_XXXXXX");
    int fd = mkstemp(tmp_path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (f == NULL) {
        free(buf);
        return;
    }
    fwrite(buf, 1, len, f);
    fclose(f);
    free(buf);
}

/* Graph: x[N,4] (N symbolic) -> Relu (nameless, listed last) -> Add(r, c) -> y, with c a
 * Constant carrying every attribute type; initializers h (float16 raw) and d (double typed). */
typedef struct {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__NodeProto nodes[3];
    Onnx__NodeProto *node_ptrs[3];
    Onnx__AttributeProto attrs[7];
    Onnx__AttributeProto *attr_ptrs[7];
    Onnx__TensorProto value, h, d;
    Onnx__TensorProto *inits[2];
    Onnx__ValueInfoProto in, out;
    Onnx__ValueInfoProto *in_ptrs[1], *out_ptrs[1];
    Onnx__TypeProto in_type;
    Onnx__TypeProto__Tensor in_tt;
    Onnx__TensorShapeProto in_shape;
    Onnx__TensorShapeProto__Dimension dim0, dim1;
    Onnx__TensorShapeProto__Dimension *dims[2];
    char *relu_in[1], *relu_out[1], *add_in[2], *add_out[1], *c_out[1];
    int64_t vdims[1], hdims[1], ddims[1], ints[3];
    float vdata[4], floats[2];
    uint16_t hbits[5];
    double ddata[2];
    ProtobufCBinaryData strs[2];
} model_parts;

static void build(model_parts *p)
{
    memset(p, 0, sizeof *p);
    onnx__model_proto__init(&p->model);
    onnx__graph_proto__init(&p->graph);
    onnx__operator_set_id_proto__init(&p->opset);
    p->opset.domain = "ai.onnx";
    p->opset.has_version = 1;
    p->opset.version = 13;
    p->opsets[0] = &p->opset;
    p->model.n_opset_import = 1;
    p->model.opset_import = p->opsets;
    p->model.graph = &p->graph;

    for (int i = 0; i < 3; i++) {
        onnx__node_proto__init(&p->nodes[i]);
        p->node_ptrs[i] = &p->nodes[i];
    }
    /* node 0: Add (named) reads r, produced later in the file by the nameless Relu */
    p->add_in[0] = "r";
    p->add_in[1] = "c";
    p->add_out[0] = "y";
    p->nodes[0].name = "adder";
    p->nodes[0].op_type = "Add";
    p->nodes[0].n_input = 2;
    p->nodes[0].input = p->add_in;
    p->nodes[0].n_output = 1;
    p->nodes[0].output = p->add_out;
    /* node 1: Constant c with every attribute type */
    p->c_out[0] = "c";
    p->nodes[1].name = "const";
    p->nodes[1].op_type = "Constant";
    p->nodes[1].n_output = 1;
    p->nodes[1].output = p->c_out;
    for (int i = 0; i < 7; i++) {
        onnx__attribute_proto__init(&p->attrs[i]);
        p->attr_ptrs[i] = &p->attrs[i];
        p->attrs[i].has_type = 1;
    }
    onnx__tensor_proto__init(&p->value);
    p->value.has_data_type = 1;
    p->value.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    p->vdims[0] = 4;
    p->value.n_dims = 1;
    p->value.dims = p->vdims;
    p->vdata[0] = 1.0f; p->vdata[1] = -2.0f; p->vdata[2] = 0.5f; p->vdata[3] = 8.0f;
    p->value.n_float_data = 4;
    p->value.float_data = p->vdata;
    p->attrs[0].name = "value"; p->attrs[0].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR; p->attrs[0].t = &p->value;
    p->attrs[1].name = "f"; p->attrs[1].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT; p->attrs[1].has_f = 1; p->attrs[1].f = 0.25f;
    p->attrs[2].name = "i"; p->attrs[2].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT; p->attrs[2].has_i = 1; p->attrs[2].i = -7;
    p->attrs[3].name = "s"; p->attrs[3].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING; p->attrs[3].has_s = 1;
    p->attrs[3].s.data = (uint8_t *)"SAME_UPPER"; p->attrs[3].s.len = 10;
    p->ints[0] = 1; p->ints[1] = -2; p->ints[2] = 3;
    p->attrs[4].name = "is"; p->attrs[4].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS; p->attrs[4].n_ints = 3; p->attrs[4].ints = p->ints;
    p->floats[0] = 1.5f; p->floats[1] = -0.0f;
    p->attrs[5].name = "fs"; p->attrs[5].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS; p->attrs[5].n_floats = 2; p->attrs[5].floats = p->floats;
    p->strs[0].data = (uint8_t *)"ab"; p->strs[0].len = 2;
    p->strs[1].data = (uint8_t *)""; p->strs[1].len = 0;
    p->attrs[6].name = "ss"; p->attrs[6].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS; p->attrs[6].n_strings = 2; p->attrs[6].strings = p->strs;
    p->nodes[1].n_attribute = 7;
    p->nodes[1].attribute = p->attr_ptrs;
    /* node 2: nameless Relu x -> r */
    p->relu_in[0] = "x";
    p->relu_out[0] = "r";
    p->nodes[2].op_type = "Relu";
    p->nodes[2].n_input = 1;
    p->nodes[2].input = p->relu_in;
    p->nodes[2].n_output = 1;
    p->nodes[2].output = p->relu_out;
    p->graph.n_node = 3;
    p->graph.node = p->node_ptrs;

    /* initializers: h float16 raw (1, -2, 2^-24 subnormal, +inf, -0), d double typed */
    onnx__tensor_proto__init(&p->h);
    p->h.name = "h";
    p->h.has_data_type = 1;
    p->h.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
    p->hdims[0] = 5;
    p->h.n_dims = 1;
    p->h.dims = p->hdims;
    p->hbits[0] = 0x3c00; p->hbits[1] = 0xc000; p->hbits[2] = 0x0001; p->hbits[3] = 0x7c00; p->hbits[4] = 0x8000;
    p->h.has_raw_data = 1;
    p->h.raw_data.len = 10;
    p->h.raw_data.data = (uint8_t *)p->hbits; /* little-endian host assumed by this test */
    onnx__tensor_proto__init(&p->d);
    p->d.name = "d";
    p->d.has_data_type = 1;
    p->d.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    p->ddims[0] = 2;
    p->d.n_dims = 1;
    p->d.dims = p->ddims;
    p->ddata[0] = 0.1; p->ddata[1] = -3.0;
    p->d.n_double_data = 2;
    p->d.double_data = p->ddata;
    p->inits[0] = &p->h;
    p->inits[1] = &p->d;
    p->graph.n_initializer = 2;
    p->graph.initializer = p->inits;

    /* input x: [N, 4], N symbolic */
    onnx__value_info_proto__init(&p->in);
    onnx__type_proto__init(&p->in_type);
    onnx__type_proto__tensor__init(&p->in_tt);
    onnx__tensor_shape_proto__init(&p->in_shape);
    onnx__tensor_shape_proto__dimension__init(&p->dim0);
    onnx__tensor_shape_proto__dimension__init(&p->dim1);
    p->dim0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    p->dim0.dim_param = "N";
    p->dim1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    p->dim1.dim_value = 4;
    p->dims[0] = &p->dim0;
    p->dims[1] = &p->dim1;
    p->in_shape.n_dim = 2;
    p->in_shape.dim = p->dims;
    p->in_tt.has_elem_type = 1;
    p->in_tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    p->in_tt.shape = &p->in_shape;
    p->in_type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    p->in_type.tensor_type = &p->in_tt;
    p->in.name = "x";
    p->in.type = &p->in_type;
    p->in_ptrs[0] = &p->in;
    p->graph.n_input = 1;
    p->graph.input = p->in_ptrs;
    onnx__value_info_proto__init(&p->out);
    p->out.name = "y";
    p->out_ptrs[0] = &p->out;
    p->graph.n_output = 1;
    p->graph.output = p->out_ptrs;
}

static float f32_at(const fgq_ir_tensor *t, int i)
{
    float v;
    memcpy(&v, (const char *)t->data + 4 * i, 4);
    return v;
}

static void test_model_round_trip(void)
{
    model_parts p;
    build(&p);
    save_model(&p.model);
    fgq_onnx_options opt = {0, 3};
    fgq_graph *g = NULL;
    fgq_error err = {0};
    CHECK_MSG(fgq_onnx_load(tmp_path, &opt, &g, &err) == FGQ_OK, "%s", err.msg);
    remove(tmp_path);
    if (g == NULL)
        return;
    CHECK(g->opset == 13);
    CHECK(g->n_nodes == 3);
    /* topological order: Relu (synthesised name "Relu_2", its file index) and Constant before Add */
    CHECK(strcmp(g->nodes[2].name, "adder") == 0);
    int32_t relu = strcmp(g->nodes[0].op_type, "Relu") == 0 ? 0 : 1;
    CHECK(strcmp(g->nodes[relu].name, "Relu_2") == 0);
    int32_t r = fgq_graph_find_tensor(g, "r");
    CHECK(r >= 0 && g->tensors[r].producer == relu);
    CHECK(g->tensors[fgq_graph_find_tensor(g, "y")].is_output == 1);

    /* symbolic N bound to 3 and flagged */
    CHECK(g->n_inputs == 1);
    const fgq_ir_tensor *x = &g->tensors[g->inputs[0]];
    CHECK(x->kind == FGQ_TK_INPUT && x->rank == 2 && x->dims[0] == 3 && x->dims[1] == 4);
    CHECK(x->sym_dims == 1u);
    CHECK(x->dtype == FGQ_DT_F32);

    /* float16 -> f32 per IEEE binary16: 1, -2, 2^-24, +inf, -0 */
    const fgq_ir_tensor *h = &g->tensors[fgq_graph_find_tensor(g, "h")];
    CHECK(h->kind == FGQ_TK_CONST && h->dtype == FGQ_DT_F32 && h->rank == 1 && h->dims[0] == 5);
    CHECK(f32_at(h, 0) == 1.0f && f32_at(h, 1) == -2.0f);
    CHECK(f32_at(h, 2) == ldexpf(1.0f, -24));
    CHECK(isinf(f32_at(h, 3)) && f32_at(h, 3) > 0);
    CHECK(f32_at(h, 4) == 0.0f && signbit(f32_at(h, 4)));
    /* double -> f32 by rounding */
    const fgq_ir_tensor *d = &g->tensors[fgq_graph_find_tensor(g, "d")];
    CHECK(d->dtype == FGQ_DT_F32 && f32_at(d, 0) == (float)0.1 && f32_at(d, 1) == -3.0f);

    /* attributes of every type */
    const fgq_ir_node *c = &g->nodes[relu == 0 ? 1 : 0];
    CHECK(strcmp(c->op_type, "Constant") == 0);
    const fgq_ir_attr *a = fgq_node_attr(c, "value");
    CHECK(a != NULL && a->type == FGQ_ATTR_TENSOR && a->tensor >= 0);
    if (a != NULL && a->tensor >= 0) {
        const fgq_ir_tensor *v = &g->tensors[a->tensor];
        CHECK(v->kind == FGQ_TK_CONST && v->rank == 1 && v->dims[0] == 4);
        CHECK(f32_at(v, 1) == -2.0f && f32_at(v, 3) == 8.0f);
    }
    CHECK(fgq_node_attr_float(c, "f", 0) == 0.25f);
    CHECK(fgq_node_attr_int(c, "i", 0) == -7);
    CHECK(fgq_node_attr_int(c, "absent", 42) == 42);
    a = fgq_node_attr(c, "s");
    CHECK(a && a->type == FGQ_ATTR_STRING && strcmp(a->s, "SAME_UPPER") == 0);
    a = fgq_node_attr(c, "is");
    CHECK(a && a->type == FGQ_ATTR_INTS && a->n == 3 && a->ints[1] == -2);
    a = fgq_node_attr(c, "fs");
    CHECK(a && a->type == FGQ_ATTR_FLOATS && a->n == 2 && a->floats[0] == 1.5f && signbit(a->floats[1]));
    a = fgq_node_attr(c, "ss");
    CHECK(a && a->type == FGQ_ATTR_STRINGS && a->n == 2 && strcmp(a->strings[0], "ab") == 0 && a->strings[1][0] == 0);
    fgq_graph_free(g);
}

static void test_errors(void)
{
    model_parts p;
    fgq_graph *g = NULL;
    fgq_error err = {0};

    /* missing file: IO error naming it */
    CHECK(fgq_onnx_load("/nonexistent/m.onnx", NULL, &g, &err) == FGQ_ERR_IO && g == NULL);
    CHECK(strstr(err.msg, "/nonexistent/m.onnx") != NULL);

    /* a node input nothing produces: format error naming node and tensor */
    build(&p);
    p.add_in[1] = "ghost";
    save_model(&p.model);
    err = (fgq_error){0};
    CHECK(fgq_onnx_load(tmp_path, NULL, &g, &err) == FGQ_ERR_FORMAT && g == NULL);
    CHECK_MSG(strstr(err.msg, "adder") && strstr(err.msg, "ghost"), "%s", err.msg);
    remove(tmp_path);

    /* a GRAPH attribute: unsupported, naming node and attribute */
    build(&p);
    Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
    p.attrs[2].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    p.attrs[2].g = &sub;
    save_model(&p.model);
    err = (fgq_error){0};
    CHECK(fgq_onnx_load(tmp_path, NULL, &g, &err) == FGQ_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "const") && strstr(err.msg, "'i'"), "%s", err.msg);
    remove(tmp_path);

    /* float16 raw_data one byte short: size mismatch naming the tensor */
    build(&p);
    p.h.raw_data.len = 9;
    save_model(&p.model);
    err = (fgq_error){0};
    CHECK(fgq_onnx_load(tmp_path, NULL, &g, &err) == FGQ_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "'h'") && strstr(err.msg, "raw_data is 9 bytes"), "%s", err.msg);
    remove(tmp_path);

    /* a self-loop: Relu reads its own output -> cycle */
    build(&p);
    p.relu_in[0] = "r";
    save_model(&p.model);
    err = (fgq_error){0};
    CHECK(fgq_onnx_load(tmp_path, NULL, &g, &err) == FGQ_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "cycle") && strstr(err.msg, "Relu_2"), "%s", err.msg);
    remove(tmp_path);
}

static void test_tensor_file(void)
{
    /* ONNX's own Relu test data: output_0 must equal max(input_0, 0) elementwise */
    const char *dir = "/usr/share/libonnx-testdata/data/node/test_relu/test_data_set_0";
    char in_path[256], out_path[256];
    snprintf(in_path, sizeof in_path, "%s/input_0.pb", dir);
    snprintf(out_path, sizeof out_path, "%s/output_0.pb", dir);
    FILE *f = fopen(in_path, "rb");
    if (f == NULL) {
        fprintf(stderr, "skip: %s not installed\n", in_path);
        return;
    }
    fclose(f);
    fgq_ir_tensor in, out;
    fgq_error err = {0};
    CHECK_MSG(fgq_onnx_load_tensor_file(in_path, &in, &err) == FGQ_OK, "%s", err.msg);
    CHECK_MSG(fgq_onnx_load_tensor_file(out_path, &out, &err) == FGQ_OK, "%s", err.msg);
    CHECK(in.dtype == FGQ_DT_F32 && out.dtype == FGQ_DT_F32 && in.rank == out.rank);
    int64_t n = fgq_ir_tensor_numel(&in);
    CHECK(n > 0 && n == fgq_ir_tensor_numel(&out));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = f32_at(&in, (int)i);
        if (f32_at(&out, (int)i) != (x > 0 ? x : 0.0f))
            bad++;
    }
    CHECK(bad == 0);
    fgq_onnx_tensor_release(&in);
    fgq_onnx_tensor_release(&out);

    /* a missing .pb file: IO error, nothing owned */
    err = (fgq_error){0};
    fgq_ir_tensor junk;
    fgq_status st = fgq_onnx_load_tensor_file("/nonexistent.pb", &junk, &err);
    CHECK(st == FGQ_ERR_IO);
}

int main(void)
{
    RUN(test_model_round_trip);
    RUN(test_errors);
    RUN(test_tensor_file);
    return FGQ_TEST_DONE();
}
