/*
 * qlut.c — QLUT: an element-wise function of a u8|s8 tensor as a 256-entry table (TFLite's LUT for
 * Sigmoid, Tanh, HardSwish on int8). Inputs X u8|s8 (any dims) and TABLE [256] of Y's dtype; output Y
 * u8|s8 of X's dims:
 *     y = TABLE[x]          X u8
 *     y = TABLE[x + 128]    X s8
 * The tools build the table from the function and the two tensors' scales and zero points
 * (docs/quantized-ops.md "QLUT"); the kernel never sees them. Any table content is valid, so `check`
 * (dtypes, the table's length, the descriptive iparams in range) is all the validation there is.
 */
#include "ops_q.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"

#include <math.h>

fgq_status fgq_qlut_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 2, 0, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *t = in[1], *y = out[0];
    const int32_t *ip = node->iparams;
    if ((st = fgq_q_check_act(node, x, "input", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_act(node, y, "output", 0, err)) != FGQ_OK ||
        (st = fgq_q_check_zero(node, x->dtype, ip[FGQ_QP_X_ZERO], "input zero point", err)) != FGQ_OK ||
        (st = fgq_q_check_out(node, y, err)) != FGQ_OK)
        return st;
    if (t->dtype != y->dtype)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "table has dtype %s, expected the output's %s",
                        FGQ_NODE_ARGS(node), fgq_dtype_name(t->dtype), fgq_dtype_name(y->dtype));
    if (t->rank != 1 || t->dims[0] != FGQ_QLUT_TABLE_LEN)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "table has rank %d, dim 0 %lld, expected [%d]",
                        FGQ_NODE_ARGS(node), (int)t->rank, t->rank > 0 ? (long long)t->dims[0] : 0LL,
                        FGQ_QLUT_TABLE_LEN);
    if (ip[FGQ_QP_LUT_FN] < 0 || ip[FGQ_QP_LUT_FN] >= FGQ_LUT_FN_COUNT_)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "function %d, expected 0..%d", FGQ_NODE_ARGS(node),
                        (int)ip[FGQ_QP_LUT_FN], FGQ_LUT_FN_COUNT_ - 1);
    if (ip[FGQ_QP_LUT_FN] == FGQ_LUT_HARD_SIGMOID &&
        (!isfinite(node->fparams[FGQ_QPF_LUT_ALPHA]) || !isfinite(node->fparams[FGQ_QPF_LUT_BETA])))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "HardSigmoid alpha %g, beta %g: expected finite",
                        FGQ_NODE_ARGS(node), (double)node->fparams[FGQ_QPF_LUT_ALPHA],
                        (double)node->fparams[FGQ_QPF_LUT_BETA]);
    return fgq_ops_check_out_dims(node, y, x->rank, x->dims, err);
}

fgq_status fgq_qlut_run(const fgq_node_view *node, const fgq_tensor_view *const *in, const fgq_tensor_view *const *out,
                        fgq_error *err)
{
    (void)node; /* its kernel preference and CPU: the x86 row below */
    (void)err;
    const fgq_tensor_view *x = in[0];
    const uint8_t *table = (const uint8_t *)in[1]->data; /* s8 entries are copied as their bytes */
    uint8_t *y = (uint8_t *)out[0]->data;
    const int64_t n = fgq_ops_numel(x);
    int64_t i0 = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (fgq_node_kernels(node) != FGQ_KERNELS_REF && (fgq_node_cpu(node) & FGQ_CPU_AVX512VBMI) != 0)
        i0 = fgq_qlut_run__avx512vbmi((const uint8_t *)x->data, n, x->dtype == FGQ_DT_S8 ? 0x80u : 0u, table, y);
#endif
    if (x->dtype == FGQ_DT_S8) {
        const int8_t *xs = (const int8_t *)x->data;
        for (int64_t i = i0; i < n; i++)
            y[i] = table[(int32_t)xs[i] + 128];
    } else {
        const uint8_t *xu = (const uint8_t *)x->data;
        for (int64_t i = i0; i < n; i++)
            y[i] = table[xu[i]];
    }
    return FGQ_OK;
}
