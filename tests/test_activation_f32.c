/*
 * test_activation_f32.c — the vector forms of the float activations (runtime/ops/
 * activation_f32.c: HardSigmoid, HardSwish on AVX2) against their scalar twins, run by the
 * same ops under FGQ_KERNELS_REF: the same bytes (memcmp).
 *
 * Inputs: random values around the kinks (x/6 + 1/2 crossing 0 and 1 at x = ±3), the kinks
 * themselves, ±0, ±Inf, NaN, tiny and huge values; lengths 0..40 (every tail of the 8-lane
 * loop) and 1000; HardSigmoid with the ONNX default (0.2, 0.5), a negative alpha and a beta
 * past 1; outputs written in place (out aliases in) as well as apart. Where the CPU has no
 * AVX2 the vector form is not run: reported skipped.
 */
#include "test_ops_common.h"

#include "ops/qgemm_dispatch.h"

#include <math.h>

static void fill_specials(float *x, int64_t n, uint32_t *seed)
{
    static const float special[] = {0.0f, -0.0f, 3.0f, -3.0f, 2.5f, -2.5f, 1e-30f, -1e30f, 5.0f, -5.0f};
    for (int64_t i = 0; i < n; i++) {
        const uint32_t r = (uint32_t)((trand(seed) + 1.0f) * 1e6f);
        if (r % 5 == 0)
            x[i] = special[r % (sizeof special / sizeof special[0])];
        else if (r % 23 == 1)
            x[i] = (r & 64) ? INFINITY : -INFINITY;
        else if (r % 29 == 2)
            x[i] = NAN;
        else
            x[i] = 4.0f * trand(seed);
    }
}

/* op under REF and AUTO on the same input, apart and in place; the four outputs' bytes agree. */
static void run_one(fgq_op op, float alpha, float beta, int64_t n, uint32_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)(n + 1) * 4), *yr = x + n + 1, *ya = yr + n + 1, *yi = ya + n + 1;
    fill_specials(x, n, &seed);
    const int64_t dims[1] = {n};
    tnode nd;
    tnode_init(&nd, op, 1);
    nd.fp[0] = alpha;
    nd.fp[1] = beta;
    fgq_tensor_view xv = tview(x, 1, dims), yv = tview(yr, 1, dims);
    const fgq_tensor_view *in[1] = {&xv};
    CHECK_MSG(op_ref_auto_same(&nd, in, &yv, yr, ya), "op %d n=%lld alpha %g beta %g: AUTO differs from REF", (int)op,
              (long long)n, (double)alpha, (double)beta);
    memcpy(yi, x, (size_t)n * sizeof(float)); /* in place: out aliases in */
    fgq_tensor_view iv = tview(yi, 1, dims);
    const fgq_tensor_view *iin[1] = {&iv};
    CHECK(op_check_run(&nd, iin, &iv) == FGQ_OK);
    CHECK_MSG(memcmp(yr, yi, (size_t)n * sizeof(float)) == 0, "op %d n=%lld: in place differs from REF", (int)op,
              (long long)n);
    free(x);
}

static void test_hard_sigmoid_swish(void)
{
    for (int64_t n = 0; n <= 40; n++) {
        run_one(FGQ_OP_HARD_SWISH, 0.0f, 0.0f, n, 11u + (uint32_t)n);
        run_one(FGQ_OP_HARD_SIGMOID, 0.2f, 0.5f, n, 71u + (uint32_t)n);
    }
    run_one(FGQ_OP_HARD_SWISH, 0.0f, 0.0f, 1000, 5u);
    run_one(FGQ_OP_HARD_SIGMOID, 1.0f / 6.0f, 0.5f, 1000, 6u);
    run_one(FGQ_OP_HARD_SIGMOID, -0.3f, 1.25f, 1000, 7u);
}

int main(void)
{
    RUN(test_hard_sigmoid_swish);
    if ((fgq_cpu_features() & FGQ_CPU_AVX2) == 0)
        printf("note: this CPU has no AVX2: the vector activations were not run (skipped)\n");
    return FGQ_TEST_DONE();
}
