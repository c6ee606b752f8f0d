/* test_ops_scatter.c — ScatterND (runtime/ops/layout_f32.c, FGQ_OP_SCATTER_ND).
 * Oracle: ONNX's ScatterND reference (the Operators.md loop: output = copy(data); for each index tuple
 * in order, output[idx] = updates[i], or combined by the reduction), written out by hand per case:
 * the spec's own example (a [4, 4, 4] data, two slices replaced), negative indices counting from the
 * end, duplicates (last write wins for none, both applied for add / mul), scalar updates (k = rank),
 * and refusals: an index outside its dim fails the run with the output untouched, bad shapes and
 * dtypes fail the check naming the node. */
#include "test_ops_common.h"

static fgq_tensor_view typed(fgq_dtype dt, void *data, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

static fgq_status run_only(tnode *n, const fgq_tensor_view *const *in, const fgq_tensor_view *y, fgq_error *err)
{
    const fgq_tensor_view *out[1] = {y};
    return op_run_view(&n->v, in, out, err);
}

/* The spec's example 2's shapes: data [4, 4, 4], indices [[0], [2]], updates [2, 4, 4]: slices 0 and 2 replaced. */
static void test_spec_example(void)
{
    float d[64], u[32], y[64], want[64];
    for (int i = 0; i < 64; i++)
        d[i] = (float)i;
    for (int i = 0; i < 32; i++)
        u[i] = (float)(5 + i % 16 / 4) + (i >= 16 ? 10.0f : 0.0f);
    memcpy(want, d, sizeof want);
    memcpy(want + 0, u, 16 * sizeof(float));
    memcpy(want + 32, u + 16, 16 * sizeof(float));
    int64_t ix[2] = {0, 2};
    fgq_tensor_view dv = tview(d, 3, (int64_t[]){4, 4, 4}), iv = typed(FGQ_DT_S64, ix, 2, (int64_t[]){2, 1});
    fgq_tensor_view uv = tview(u, 3, (int64_t[]){2, 4, 4}), yv = tview(y, 3, (int64_t[]){4, 4, 4});
    const fgq_tensor_view *in[3] = {&dv, &iv, &uv};
    tnode n;
    tnode_init(&n, FGQ_OP_SCATTER_ND, 3);
    CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
    CHECK(memcmp(y, want, sizeof want) == 0);
    /* negative indices: -4 is slice 0, -2 is slice 2: the same result */
    ix[0] = -4, ix[1] = -2;
    memset(y, 0, sizeof y);
    CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
    CHECK(memcmp(y, want, sizeof want) == 0);
}

/* k = rank: single elements of a [2, 3] int64 tensor; duplicates under each reduction. */
static void test_elements_and_reductions(void)
{
    int64_t d[6] = {1, 2, 3, 4, 5, 6}, y[6];
    int64_t ix[6] = {0, 1, 1, -1, 0, 1}; /* (0,1), (1,2), (0,1) again */
    int64_t u[3] = {10, 20, 30};
    fgq_tensor_view dv = typed(FGQ_DT_S64, d, 2, (int64_t[]){2, 3}), iv = typed(FGQ_DT_S64, ix, 2, (int64_t[]){3, 2});
    fgq_tensor_view uv = typed(FGQ_DT_S64, u, 1, (int64_t[]){3}), yv = typed(FGQ_DT_S64, y, 2, (int64_t[]){2, 3});
    const fgq_tensor_view *in[3] = {&dv, &iv, &uv};
    tnode n;
    tnode_init(&n, FGQ_OP_SCATTER_ND, 3);
    const int64_t want[5][6] = {
        {1, 30, 3, 4, 5, 20},           /* none: the last write to (0,1) wins */
        {1, 2 + 10 + 30, 3, 4, 5, 26},  /* add */
        {1, 2 * 10 * 30, 3, 4, 5, 120}, /* mul */
        {1, 30, 3, 4, 5, 20},           /* max */
        {1, 2, 3, 4, 5, 6},             /* min */
    };
    for (int r = 0; r < 5; r++) {
        n.ip[0] = r;
        CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
        CHECK_MSG(memcmp(y, want[r], sizeof y) == 0, "reduction %d", r);
    }
    /* s8 add wraps as two's complement: 127 + 1 = -128 */
    int8_t d8[2] = {127, -128}, u8_[2] = {1, -1}, y8[2];
    int64_t ix8[2] = {0, 1};
    fgq_tensor_view d8v = typed(FGQ_DT_S8, d8, 1, (int64_t[]){2}), i8v = typed(FGQ_DT_S64, ix8, 2, (int64_t[]){2, 1});
    fgq_tensor_view u8v = typed(FGQ_DT_S8, u8_, 1, (int64_t[]){2}), y8v = typed(FGQ_DT_S8, y8, 1, (int64_t[]){2});
    const fgq_tensor_view *in8[3] = {&d8v, &i8v, &u8v};
    n.ip[0] = 1;
    CHECK(op_check_run(&n, in8, &y8v) == FGQ_OK && y8[0] == -128 && y8[1] == 127);
    /* f32 mul and min */
    float df[3] = {2, -1, 4}, uf[2] = {-3, 0.5f}, yf[3];
    int64_t ixf[2] = {2, 0};
    fgq_tensor_view dfv = tview(df, 1, (int64_t[]){3}), ifv = typed(FGQ_DT_S64, ixf, 2, (int64_t[]){2, 1});
    fgq_tensor_view ufv = tview(uf, 1, (int64_t[]){2}), yfv = tview(yf, 1, (int64_t[]){3});
    const fgq_tensor_view *inf_[3] = {&dfv, &ifv, &ufv};
    n.ip[0] = 2;
    CHECK(op_check_run(&n, inf_, &yfv) == FGQ_OK && yf[0] == 1.0f && yf[1] == -1.0f && yf[2] == -12.0f);
    n.ip[0] = 4;
    CHECK(op_check_run(&n, inf_, &yfv) == FGQ_OK && yf[0] == 0.5f && yf[1] == -1.0f && yf[2] == -3.0f);
}

/* An index outside its dim fails the run (FGQ_ERR_VALUE, naming the node) and writes nothing. */
static void test_out_of_range(void)
{
    float d[6] = {1, 2, 3, 4, 5, 6}, u[2] = {9, 9}, y[6] = {0};
    fgq_tensor_view dv = tview(d, 2, (int64_t[]){2, 3}), uv = tview(u, 1, (int64_t[]){2});
    fgq_tensor_view yv = tview(y, 2, (int64_t[]){2, 3});
    const int64_t bad[4][4] = {{0, 0, 2, 3}, {0, 0, -3, 0}, {0, 0, 1, INT64_MAX}, {INT64_MIN, 0, 0, 0}};
    tnode n;
    tnode_init(&n, FGQ_OP_SCATTER_ND, 3);
    for (int c = 0; c < 4; c++) {
        int64_t ix[4];
        memcpy(ix, bad[c], sizeof ix);
        fgq_tensor_view iv = typed(FGQ_DT_S64, ix, 2, (int64_t[]){2, 2});
        const fgq_tensor_view *in[3] = {&dv, &iv, &uv};
        fgq_error err;
        CHECK(op_check(&n, in, &yv, &err) == FGQ_OK);
        fgq_error_clear(&err);
        CHECK(run_only(&n, in, &yv, &err) == FGQ_ERR_VALUE);
        CHECK_MSG(strstr(err.msg, "node_under_test") != NULL && strstr(err.msg, "outside") != NULL, "%s", err.msg);
        for (int i = 0; i < 6; i++)
            CHECK(y[i] == 0.0f);
    }
}

/* Shapes and dtypes the check refuses. */
static void test_check_refuses(void)
{
    float d[6] = {0}, u[3] = {0}, y[6];
    int64_t ix[3] = {0, 1, 0};
    int32_t ix32[2] = {0, 1};
    fgq_tensor_view dv = tview(d, 2, (int64_t[]){2, 3}), yv = tview(y, 2, (int64_t[]){2, 3});
    fgq_tensor_view uv = tview(u, 2, (int64_t[]){1, 3});
    tnode n;
    tnode_init(&n, FGQ_OP_SCATTER_ND, 3);
    /* k = 3 > rank 2 */
    fgq_tensor_view i3 = typed(FGQ_DT_S64, ix, 2, (int64_t[]){1, 3});
    const fgq_tensor_view *a[3] = {&dv, &i3, &uv};
    CHECK_REJECTS(&n, a, &yv, FGQ_ERR_SHAPE);
    /* rank-0 indices */
    fgq_tensor_view i0 = typed(FGQ_DT_S64, ix, 0, NULL);
    const fgq_tensor_view *b[3] = {&dv, &i0, &uv};
    CHECK_REJECTS(&n, b, &yv, FGQ_ERR_SHAPE);
    /* int32 indices */
    fgq_tensor_view i32 = typed(FGQ_DT_S32, ix32, 2, (int64_t[]){1, 1});
    const fgq_tensor_view *c[3] = {&dv, &i32, &uv};
    CHECK_REJECTS(&n, c, &yv, FGQ_ERR_UNSUPPORTED);
    /* updates of the wrong shape ([1, 3] wanted for indices [1, 1], got [3]) */
    fgq_tensor_view i11 = typed(FGQ_DT_S64, ix, 2, (int64_t[]){1, 1}), u3 = tview(u, 1, (int64_t[]){3});
    const fgq_tensor_view *e[3] = {&dv, &i11, &u3};
    CHECK_REJECTS(&n, e, &yv, FGQ_ERR_SHAPE);
    const fgq_tensor_view *ok[3] = {&dv, &i11, &uv};
    CHECK(op_check_run(&n, ok, &yv) == FGQ_OK);
    /* updates of another dtype; a reduction on bool; an unknown reduction code */
    fgq_tensor_view ub = typed(FGQ_DT_S32, u, 2, (int64_t[]){1, 3});
    const fgq_tensor_view *f[3] = {&dv, &i11, &ub};
    CHECK_REJECTS(&n, f, &yv, FGQ_ERR_FORMAT);
    uint8_t db[6] = {0}, ubb[3] = {1, 1, 1}, yb[6];
    fgq_tensor_view dbv = typed(FGQ_DT_BOOL, db, 2, (int64_t[]){2, 3}),
                    ubv = typed(FGQ_DT_BOOL, ubb, 2, (int64_t[]){1, 3});
    fgq_tensor_view ybv = typed(FGQ_DT_BOOL, yb, 2, (int64_t[]){2, 3});
    const fgq_tensor_view *g[3] = {&dbv, &i11, &ubv};
    CHECK(op_check_run(&n, g, &ybv) == FGQ_OK && yb[0] == 1 && yb[2] == 1 && yb[3] == 0); /* none moves bytes */
    n.ip[0] = 1;
    CHECK_REJECTS(&n, g, &ybv, FGQ_ERR_UNSUPPORTED);
    n.ip[0] = 5;
    CHECK_REJECTS(&n, ok, &yv, FGQ_ERR_FORMAT);
}

int main(void)
{
    RUN(test_spec_example);
    RUN(test_elements_and_reductions);
    RUN(test_out_of_range);
    RUN(test_check_refuses);
    return FGQ_TEST_DONE();
}
