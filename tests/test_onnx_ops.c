/* test_onnx_ops.c — the one ONNX op table (tools/import/onnx_ops.h) is consistent with the stages that
 * read it, and the one data-type table round-trips.
 * Oracles: the contract in onnx_ops.h (every row has a real shape rule and a real lowering unless it is
 * claimed only where it folds; every claimed op is lowered and every lowered op claimed; the default
 * domain is "", NULL or "ai.onnx"), and ONNX's TensorProto.DataType codes (onnx.proto). */
#include "fgq_test.h"
#include "graph_build.h"
#include "import/onnx_ops.h"
#include "import/shape_infer.h"
#include "lower/lower.h"

#include <string.h>

/* Every row: claimed in the default domain only, found at its own index, with a shape rule and a
 * lowering of its own unless it folds only. */
static void test_rows(void)
{
    CHECK(fgq_onnx_op_count() > 50);
    CHECK(fgq_onnx_op_at(-1) == NULL && fgq_onnx_op_at(fgq_onnx_op_count()) == NULL);
    for (int32_t i = 0; i < fgq_onnx_op_count(); i++) {
        const fgq_onnx_op *op = fgq_onnx_op_at(i);
        CHECK_MSG(fgq_onnx_op_index(op->name, "") == i, "%s: duplicate row", op->name);
        CHECK(fgq_op_is_supported(op->name, "") && fgq_op_is_supported(op->name, NULL) &&
              fgq_op_is_supported(op->name, "ai.onnx"));
        CHECK(!fgq_op_is_supported(op->name, "com.microsoft") && !fgq_op_is_supported(op->name, FGQ_DOMAIN));
        const int fold_only = (op->flags & FGQ_ONNX_FOLD_ONLY) != 0;
        CHECK_MSG(fold_only || strcmp(op->infer_fn, "infer_unknown") != 0, "%s is lowered but has no shape rule",
                  op->name);
        CHECK_MSG(fold_only || strcmp(op->lower_fn, "lower_fold_only") != 0, "%s is claimed but not lowered", op->name);
        CHECK_MSG(!fold_only || (op->flags & FGQ_ONNX_FOLDS), "%s folds only but does not fold", op->name);
    }
    CHECK(!fgq_op_is_supported("LRN", "") && !fgq_op_is_supported(NULL, ""));
    /* drift this table fixed: fgq's own QDQ export uses QuantizeLinear / DequantizeLinear, which lower */
    CHECK(fgq_op_is_supported("QuantizeLinear", "") && fgq_op_is_supported("DequantizeLinear", ""));
}

/* The lowering a row names is the one lower.c runs: on a one-input node built from the row alone
 * (no graph: attribute-only check), a claimed op never answers "no lowering", a fold-only op says it
 * folds only, and an op outside the table has no lowering. */
static void test_lowering_follows_rows(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[4] = {1, 2, 3, 4};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 4, d), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, 4, d);
    int32_t n = node(g, "n", "Relu", 1, (int32_t[]){x}, y);
    char why[512];
    for (int32_t i = 0; i < fgq_onnx_op_count(); i++) {
        const fgq_onnx_op *op = fgq_onnx_op_at(i);
        free(g->nodes[n].op_type);
        g->nodes[n].op_type = sdup(op->name);
        int ok = fgq_lower_supports(&g->nodes[n], why, sizeof why);
        if (op->flags & FGQ_ONNX_FOLD_ONLY)
            CHECK_MSG(!ok && strstr(why, "folds to a constant") != NULL, "%s: %s", op->name, why);
        else
            CHECK_MSG(ok || strstr(why, "has no fgq lowering") == NULL, "%s: %s", op->name, why);
    }
    free(g->nodes[n].op_type);
    g->nodes[n].op_type = sdup("GlobalLpPool");
    CHECK(!fgq_lower_supports(&g->nodes[n], why, sizeof why) && strstr(why, "has no fgq lowering") != NULL);
    /* the one matcher's domain rule, at lowering too */
    free(g->nodes[n].op_type);
    g->nodes[n].op_type = sdup("Relu");
    free(g->nodes[n].domain);
    g->nodes[n].domain = sdup("ai.onnx");
    CHECK(fgq_lower_supports(&g->nodes[n], why, sizeof why) && fgq_node_is(&g->nodes[n], "Relu"));
    free(g->nodes[n].domain);
    g->nodes[n].domain = sdup("com.microsoft");
    CHECK(!fgq_lower_supports(&g->nodes[n], why, sizeof why) && !fgq_node_is(&g->nodes[n], "Relu"));
    fgq_graph_free(g);
}

/* Shape inference reads the same rows in any default-domain spelling (it used to skip "ai.onnx"). */
static void test_infer_domain(void)
{
    fgq_graph *g = fgq_graph_new();
    int64_t d[2] = {2, 3};
    int32_t x = tensor(g, "x", FGQ_TK_INPUT, 2, d), y = tensor(g, "y", FGQ_TK_INTERMEDIATE, -1, NULL);
    int32_t n = node(g, "n", "Relu", 1, (int32_t[]){x}, y);
    free(g->nodes[n].domain);
    g->nodes[n].domain = sdup("ai.onnx");
    fgq_error err = {0};
    CHECK(fgq_infer_shapes(g, &err) == FGQ_OK);
    CHECK(g->tensors[y].rank == 2 && g->tensors[y].dims[1] == 3);
    fgq_graph_free(g);
}

/* TensorProto.DataType: 1 float, 2 uint8, 3 int8, 6 int32, 7 int64, 9 bool, 10 float16, 11 double. */
static void test_dtypes(void)
{
    const struct {
        int32_t onnx;
        fgq_dtype dt;
        size_t size;
        const char *name;
    } rows[] = {{1, FGQ_DT_F32, 4, "float"}, {2, FGQ_DT_U8, 1, "uint8"},  {3, FGQ_DT_S8, 1, "int8"},
                {6, FGQ_DT_S32, 4, "int32"}, {7, FGQ_DT_S64, 8, "int64"}, {9, FGQ_DT_BOOL, 1, "bool"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        CHECK(fgq_onnx_dtype(rows[i].onnx) == rows[i].dt);
        CHECK(fgq_onnx_type_of(rows[i].dt) == rows[i].onnx);
        CHECK(fgq_onnx_type_size(rows[i].onnx) == rows[i].size);
        CHECK(strcmp(fgq_onnx_type_name(rows[i].onnx), rows[i].name) == 0);
    }
    /* float16 is imported as float32 but is its own type on the way out */
    CHECK(fgq_onnx_dtype(10) == FGQ_DT_F32 && fgq_onnx_type_of(FGQ_DT_F16) == 10 && fgq_onnx_type_size(10) == 2);
    CHECK(fgq_onnx_dtype(11) == FGQ_DT_UNDEF && fgq_onnx_type_size(11) == 8);
    CHECK(fgq_onnx_dtype(4) == FGQ_DT_UNDEF && fgq_onnx_type_size(4) == 0);
    CHECK(fgq_onnx_dtype(-1) == FGQ_DT_UNDEF && fgq_onnx_dtype(1000) == FGQ_DT_UNDEF);
    CHECK(fgq_onnx_type_name(1000) == NULL && fgq_onnx_type_of(FGQ_DT_UNDEF) == 0);
}

int main(void)
{
    RUN(test_rows);
    RUN(test_lowering_follows_rows);
    RUN(test_infer_domain);
    RUN(test_dtypes);
    return FGQ_TEST_DONE();
}
