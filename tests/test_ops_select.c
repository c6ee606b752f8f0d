/* test_ops_select.c — Equal, Less, Greater, Not, Mod, Where, Expand and Cast (runtime/ops/select_f32.c).
 * Oracle: NumPy's broadcasting and astype rules, written out by hand in each case (the values are
 * small enough to read), and IEEE half precision for Cast to float16 (2049 -> 2048, 2051 -> 2052:
 * ties to even at a step of 2; 65520 -> inf; 2^-25 -> 0, 3·2^-25 -> 2^-23 among the subnormals).
 * Mod: Python's % for fmod 0 (the remainder takes the divisor's sign: -7 % 3 = 2, 7 % -3 = -2) and
 * C's fmod for fmod 1 (the dividend's: fmod(-7, 3) = -1), the values of ONNX's Mod node tests. */
#include "test_ops_common.h"

#include <math.h>

static fgq_tensor_view typed(fgq_dtype dt, void *data, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v = tview(data, rank, dims);
    v.dtype = dt;
    return v;
}

/* [2, 3] vs [3] and vs a scalar, each dtype family; bool out. */
static void test_compare_broadcast(void)
{
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {2, 2, 7};
    uint8_t y[6];
    fgq_tensor_view av = tview(a, 2, (int64_t[]){2, 3}), bv = tview(b, 1, (int64_t[]){3});
    fgq_tensor_view yv = typed(FGQ_DT_BOOL, y, 2, (int64_t[]){2, 3});
    const fgq_tensor_view *in[2] = {&av, &bv};
    tnode n;
    const uint8_t want_eq[6] = {0, 1, 0, 0, 0, 0}, want_lt[6] = {1, 0, 1, 0, 0, 1}, want_gt[6] = {0, 0, 0, 1, 1, 0};
    const fgq_op ops[3] = {FGQ_OP_EQUAL, FGQ_OP_LESS, FGQ_OP_GREATER};
    const uint8_t *want[3] = {want_eq, want_lt, want_gt};
    for (int k = 0; k < 3; k++) {
        tnode_init(&n, ops[k], 2);
        CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
        CHECK(memcmp(y, want[k], 6) == 0);
    }
    /* int64 [2, 1] vs a scalar [], broadcast into [2, 1] */
    int64_t ia[2] = {0, -5}, ib = 0;
    fgq_tensor_view iav = typed(FGQ_DT_S64, ia, 2, (int64_t[]){2, 1}), ibv = typed(FGQ_DT_S64, &ib, 0, NULL);
    fgq_tensor_view y2 = typed(FGQ_DT_BOOL, y, 2, (int64_t[]){2, 1});
    const fgq_tensor_view *in2[2] = {&iav, &ibv};
    tnode_init(&n, FGQ_OP_EQUAL, 2);
    CHECK(op_check_run(&n, in2, &y2) == FGQ_OK && y[0] == 1 && y[1] == 0);
    tnode_init(&n, FGQ_OP_LESS, 2);
    CHECK(op_check_run(&n, in2, &y2) == FGQ_OK && y[0] == 0 && y[1] == 1);
    /* mixed dtypes, a float output, a shape that does not broadcast: refused naming the node */
    const fgq_tensor_view *mixed[2] = {&av, &ibv};
    CHECK_REJECTS(&n, mixed, &yv, FGQ_ERR_UNSUPPORTED);
    fgq_tensor_view yf = tview(a, 2, (int64_t[]){2, 3});
    CHECK_REJECTS(&n, in, &yf, FGQ_ERR_UNSUPPORTED);
    fgq_tensor_view b2 = tview(b, 1, (int64_t[]){2});
    const fgq_tensor_view *nob[2] = {&av, &b2};
    CHECK_REJECTS(&n, nob, &yv, FGQ_ERR_SHAPE);
}

/* Where(cond [1, 3], -inf [], x [2, 3]) = NumPy's where: the masked columns -inf in both rows. */
static void test_where(void)
{
    uint8_t c[3] = {0, 1, 0};
    float ninf = -INFINITY, x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    fgq_tensor_view cv = typed(FGQ_DT_BOOL, c, 2, (int64_t[]){1, 3}), nv = tview(&ninf, 0, NULL);
    fgq_tensor_view xv = tview(x, 2, (int64_t[]){2, 3}), yv = tview(y, 2, (int64_t[]){2, 3});
    const fgq_tensor_view *in[3] = {&cv, &nv, &xv};
    tnode n;
    tnode_init(&n, FGQ_OP_WHERE, 3);
    CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
    const float want[6] = {1, -INFINITY, 3, 4, -INFINITY, 6};
    CHECK(memcmp(y, want, sizeof want) == 0);
    /* int64 values */
    int64_t a = 7, b[3] = {1, 2, 3}, yi[3];
    fgq_tensor_view c1 = typed(FGQ_DT_BOOL, c, 1, (int64_t[]){3}), avv = typed(FGQ_DT_S64, &a, 0, NULL);
    fgq_tensor_view bv = typed(FGQ_DT_S64, b, 1, (int64_t[]){3}), yiv = typed(FGQ_DT_S64, yi, 1, (int64_t[]){3});
    const fgq_tensor_view *in2[3] = {&c1, &avv, &bv};
    CHECK(op_check_run(&n, in2, &yiv) == FGQ_OK && yi[0] == 1 && yi[1] == 7 && yi[2] == 3);
    /* a float condition is refused */
    const fgq_tensor_view *bad[3] = {&xv, &nv, &xv};
    CHECK_REJECTS(&n, bad, &yv, FGQ_ERR_UNSUPPORTED);
}

/* Expand [3, 1] to [2, 3, 2]: each row's value repeated along the last axis, twice over. */
static void test_expand(void)
{
    float x[3] = {1, 2, 3}, y[12];
    fgq_tensor_view xv = tview(x, 2, (int64_t[]){3, 1}), yv = tview(y, 3, (int64_t[]){2, 3, 2});
    const fgq_tensor_view *in[1] = {&xv};
    tnode n;
    tnode_init(&n, FGQ_OP_EXPAND, 1);
    CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
    const float want[12] = {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3};
    CHECK(memcmp(y, want, sizeof want) == 0);
    /* a [1, 2] bool row to [3, 2] */
    uint8_t b[2] = {1, 0}, yb[6];
    fgq_tensor_view bv = typed(FGQ_DT_BOOL, b, 2, (int64_t[]){1, 2}),
                    ybv = typed(FGQ_DT_BOOL, yb, 2, (int64_t[]){3, 2});
    const fgq_tensor_view *in2[1] = {&bv};
    CHECK(op_check_run(&n, in2, &ybv) == FGQ_OK && yb[0] == 1 && yb[1] == 0 && yb[4] == 1 && yb[5] == 0);
    fgq_tensor_view bad = tview(y, 2, (int64_t[]){2, 3});
    CHECK_REJECTS(&n, in, &bad, FGQ_ERR_SHAPE);
}

static void test_cast(void)
{
    tnode n;
    tnode_init(&n, FGQ_OP_CAST, 1);
    /* float -> s8: toward zero, saturating, NaN -> 0 */
    float f[6] = {1.9f, -1.9f, 300.0f, -300.0f, NAN, 0.0f};
    int8_t s8[6];
    fgq_tensor_view fv = tview(f, 1, (int64_t[]){6}), s8v = typed(FGQ_DT_S8, s8, 1, (int64_t[]){6});
    const fgq_tensor_view *in[1] = {&fv};
    CHECK(op_check_run(&n, in, &s8v) == FGQ_OK);
    CHECK(s8[0] == 1 && s8[1] == -1 && s8[2] == 127 && s8[3] == -128 && s8[4] == 0 && s8[5] == 0);
    /* float -> s64 saturates at INT64_MIN / INT64_MAX themselves (2^63 and above, inf); below 2^63 exact */
    float fl[5] = {INFINITY, 1e30f, -INFINITY, 9223371487098961920.0f, -9223372036854775808.0f};
    int64_t l64[5];
    fgq_tensor_view flv = tview(fl, 1, (int64_t[]){5}), l64v = typed(FGQ_DT_S64, l64, 1, (int64_t[]){5});
    const fgq_tensor_view *inl[1] = {&flv};
    CHECK(op_check_run(&n, inl, &l64v) == FGQ_OK);
    CHECK(l64[0] == INT64_MAX && l64[1] == INT64_MAX && l64[2] == INT64_MIN && l64[3] == 9223371487098961920ll &&
          l64[4] == INT64_MIN);
    /* float -> bool: x != 0 */
    uint8_t bo[6];
    fgq_tensor_view bov = typed(FGQ_DT_BOOL, bo, 1, (int64_t[]){6});
    CHECK(op_check_run(&n, in, &bov) == FGQ_OK && bo[0] == 1 && bo[4] == 1 && bo[5] == 0);
    /* int64 -> s8 wraps (NumPy astype), -> f32, bool -> s64 */
    int64_t i64[3] = {300, -129, 5};
    fgq_tensor_view iv = typed(FGQ_DT_S64, i64, 1, (int64_t[]){3}), s83 = typed(FGQ_DT_S8, s8, 1, (int64_t[]){3});
    const fgq_tensor_view *in2[1] = {&iv};
    CHECK(op_check_run(&n, in2, &s83) == FGQ_OK && s8[0] == 44 && s8[1] == 127 && s8[2] == 5);
    float f3[3];
    fgq_tensor_view f3v = tview(f3, 1, (int64_t[]){3});
    CHECK(op_check_run(&n, in2, &f3v) == FGQ_OK && f3[0] == 300.0f && f3[1] == -129.0f);
    uint8_t b3[3] = {1, 0, 1};
    fgq_tensor_view b3v = typed(FGQ_DT_BOOL, b3, 1, (int64_t[]){3});
    const fgq_tensor_view *in3[1] = {&b3v};
    CHECK(op_check_run(&n, in3, &iv) == FGQ_OK && i64[0] == 1 && i64[1] == 0 && i64[2] == 1);
    /* ip[0] = 1: f32 rounded to float16 */
    float h[7] = {2049.0f, 2051.0f, 65519.0f, 65520.0f, ldexpf(1, -25), 3 * ldexpf(1, -25), -1.0f / 3.0f}, hy[7];
    fgq_tensor_view hv = tview(h, 1, (int64_t[]){7}), hyv = tview(hy, 1, (int64_t[]){7});
    const fgq_tensor_view *in4[1] = {&hv};
    n.ip[0] = 1;
    CHECK(op_check_run(&n, in4, &hyv) == FGQ_OK);
    CHECK(hy[0] == 2048.0f && hy[1] == 2052.0f && hy[2] == 65504.0f && isinf(hy[3]) && hy[4] == 0.0f);
    CHECK(hy[5] == ldexpf(1, -23) && hy[6] == -0.333251953125f);
    CHECK_REJECTS(&n, in2, &f3v, FGQ_ERR_FORMAT); /* the rounding takes f32 only */
}

/* Mod on every dtype and sign: the four sign combinations of ±7 by ±3, both rules. */
static void test_mod(void)
{
    const int64_t a4[4] = {7, -7, 7, -7}, b4[4] = {3, 3, -3, -3};
    const int64_t py[4] = {1, 2, -2, -1}, c[4] = {1, -1, 1, -1}; /* Python's %, C's % / fmod */
    int64_t yi[4];
    tnode n;
    fgq_tensor_view av = typed(FGQ_DT_S64, (void *)a4, 1, (int64_t[]){4}),
                    bv = typed(FGQ_DT_S64, (void *)b4, 1, (int64_t[]){4});
    fgq_tensor_view yv = typed(FGQ_DT_S64, yi, 1, (int64_t[]){4});
    const fgq_tensor_view *in[2] = {&av, &bv};
    for (int fm = 0; fm <= 1; fm++) {
        tnode_init(&n, FGQ_OP_MOD, 2);
        n.ip[0] = fm;
        CHECK(op_check_run(&n, in, &yv) == FGQ_OK);
        CHECK(memcmp(yi, fm ? c : py, sizeof yi) == 0);
    }
    /* s32 / s8 / u8, a scalar divisor broadcast; divisor 0 gives 0; INT_MIN mod -1 gives 0 (no trap) */
    int32_t a32[5] = {-5, 5, -6, INT32_MIN, 9}, b32[5] = {-4, -4, 4, -1, 0}, y32[5];
    fgq_tensor_view a32v = typed(FGQ_DT_S32, a32, 1, (int64_t[]){5}), b32v = typed(FGQ_DT_S32, b32, 1, (int64_t[]){5});
    fgq_tensor_view y32v = typed(FGQ_DT_S32, y32, 1, (int64_t[]){5});
    const fgq_tensor_view *in32[2] = {&a32v, &b32v};
    tnode_init(&n, FGQ_OP_MOD, 2);
    CHECK(op_check_run(&n, in32, &y32v) == FGQ_OK);
    CHECK(y32[0] == -1 && y32[1] == -3 && y32[2] == 2 && y32[3] == 0 && y32[4] == 0);
    int8_t a8[3] = {-128, 127, -3}, b8 = -7, y8[3];
    fgq_tensor_view a8v = typed(FGQ_DT_S8, a8, 1, (int64_t[]){3}), b8v = typed(FGQ_DT_S8, &b8, 0, NULL);
    fgq_tensor_view y8v = typed(FGQ_DT_S8, y8, 1, (int64_t[]){3});
    const fgq_tensor_view *in8[2] = {&a8v, &b8v};
    CHECK(op_check_run(&n, in8, &y8v) == FGQ_OK);
    CHECK(y8[0] == -2 && y8[1] == -6 && y8[2] == -3); /* -128 = 18·-7 - 2; 127 = -19·-7 - 6 */
    uint8_t au[2] = {200, 7}, bu[2] = {7, 200}, yu[2];
    fgq_tensor_view auv = typed(FGQ_DT_U8, au, 1, (int64_t[]){2}), buv = typed(FGQ_DT_U8, bu, 1, (int64_t[]){2});
    fgq_tensor_view yuv = typed(FGQ_DT_U8, yu, 1, (int64_t[]){2});
    const fgq_tensor_view *inu[2] = {&auv, &buv};
    CHECK(op_check_run(&n, inu, &yuv) == FGQ_OK && yu[0] == 4 && yu[1] == 7);
    /* f32, fmod 1 only: fmod(-4.3, 2.1) = -0.1 (to float), the sign of the dividend; a [2, 1] by [2] broadcast */
    float af[2] = {-4.3f, 5.5f}, bf[2] = {2.1f, -2.0f}, yf[4];
    fgq_tensor_view afv = tview(af, 2, (int64_t[]){2, 1}), bfv = tview(bf, 1, (int64_t[]){2});
    fgq_tensor_view yfv = tview(yf, 2, (int64_t[]){2, 2});
    const fgq_tensor_view *inf_[2] = {&afv, &bfv};
    tnode_init(&n, FGQ_OP_MOD, 2);
    CHECK_REJECTS(&n, inf_, &yfv, FGQ_ERR_UNSUPPORTED); /* fmod 0 on floats: not ONNX */
    n.ip[0] = 1;
    CHECK(op_check_run(&n, inf_, &yfv) == FGQ_OK);
    CHECK(yf[0] == fmodf(-4.3f, 2.1f) && yf[1] == fmodf(-4.3f, -2.0f) && yf[2] == fmodf(5.5f, 2.1f) && yf[3] == 1.5f);
    CHECK(yf[0] < 0 && yf[1] < 0 && yf[2] > 0);
    /* mixed dtypes, bool, an ip[0] of 2: refused naming the node */
    const fgq_tensor_view *mixed[2] = {&afv, &b8v};
    CHECK_REJECTS(&n, mixed, &yfv, FGQ_ERR_UNSUPPORTED);
    n.ip[0] = 2;
    CHECK_REJECTS(&n, inf_, &yfv, FGQ_ERR_FORMAT);
}

/* Not: bool in, bool out; anything else refused. */
static void test_not(void)
{
    uint8_t x[4] = {0, 1, 1, 0}, y[4];
    fgq_tensor_view xv = typed(FGQ_DT_BOOL, x, 2, (int64_t[]){2, 2}), yv = typed(FGQ_DT_BOOL, y, 2, (int64_t[]){2, 2});
    const fgq_tensor_view *in[1] = {&xv};
    tnode n;
    tnode_init(&n, FGQ_OP_NOT, 1);
    CHECK(op_check_run(&n, in, &yv) == FGQ_OK && y[0] == 1 && y[1] == 0 && y[2] == 0 && y[3] == 1);
    fgq_tensor_view xu = typed(FGQ_DT_U8, x, 2, (int64_t[]){2, 2});
    const fgq_tensor_view *bad[1] = {&xu};
    CHECK_REJECTS(&n, bad, &yv, FGQ_ERR_UNSUPPORTED);
}

int main(void)
{
    RUN(test_mod);
    RUN(test_not);
    RUN(test_compare_broadcast);
    RUN(test_where);
    RUN(test_expand);
    RUN(test_cast);
    return FGQ_TEST_DONE();
}
