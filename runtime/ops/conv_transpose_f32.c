/*
 * conv_transpose_f32.c — ConvTranspose, 1-D/2-D/3-D, float32 NCHW (NCDHW).
 *
 *   Y[n, g·M/G + m, o] = B[g·M/G + m] + Σ_{c ∈ group g} Σ_{i, k : o = i·s − pb + k·d}
 *                        X[n, c, i] · W[c, m, k]
 *
 * X [N, C, in...], W [C, M/G, k...], B [M] optional, Y [N, M, out...]; the
 * kernel is W's spatial dims. Y's spatial dims give the output size (the end
 * pads and output_padding of ONNX only decide it): contributions that land
 * outside Y are dropped (the begin pad may be negative: ONNX's output_shape
 * can ask for more outputs than the taps reach). No scratch: Y starts at the bias and every input
 * element scatters its kernel taps. The spatial dims are right-aligned into
 * three, as the other spatial ops do.
 */
#include "ops_f32.h"
#include "ops_util.h"

fgq_status fgq_conv_transpose_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                        const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 2, 3, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *w = in[1], *y = out[0];
    const fgq_tensor_view *b = node->n_inputs > 2 ? in[2] : NULL;
    const int32_t *ip = node->iparams;
    const int32_t ns = ip[FGQ_P_NSPATIAL];
    if (ns < 1 || ns > 3 || x->rank != ns + 2 || w->rank != ns + 2 || y->rank != ns + 2)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "%d spatial dims with X/W/Y ranks %d/%d/%d",
                        FGQ_NODE_ARGS(node), (int)ns, (int)x->rank, (int)w->rank, (int)y->rank);
    const int64_t g = ip[FGQ_P_GROUP], c = x->dims[1];
    if (g < 1 || c % g != 0 || w->dims[0] != c)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "group %lld must divide C_in %lld; W dim 0 is %lld",
                        FGQ_NODE_ARGS(node), (long long)g, (long long)c, (long long)w->dims[0]);
    const int64_t m = w->dims[1] * g;
    if (y->dims[0] != x->dims[0] || y->dims[1] != m)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "Y is [%lld, %lld, ...], expected [%lld, %lld, ...]",
                        FGQ_NODE_ARGS(node), (long long)y->dims[0], (long long)y->dims[1], (long long)x->dims[0],
                        (long long)m);
    if (b != NULL && (b->rank != 1 || b->dims[0] != m))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "bias must be [%lld]", FGQ_NODE_ARGS(node), (long long)m);
    for (int32_t i = 0; i < ns; i++) {
        const int64_t s = ip[FGQ_P_STRIDE + i], d = ip[FGQ_P_DILATION + i], pb = ip[FGQ_P_PAD_BEGIN + i];
        if (s < 1 || s > FGQ_OPS_MAX_SPATIAL_PARAM || d < 1 || d > FGQ_OPS_MAX_SPATIAL_PARAM ||
            pb < -(int64_t)FGQ_OPS_MAX_SPATIAL_PARAM || pb > FGQ_OPS_MAX_SPATIAL_PARAM || w->dims[2 + i] < 1 || w->dims[2 + i] > FGQ_OPS_MAX_SPATIAL_PARAM)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "dim %d: kernel %lld, stride %lld, dilation %lld, pad %lld",
                            FGQ_NODE_ARGS(node), (int)i, (long long)w->dims[2 + i], (long long)s, (long long)d,
                            (long long)pb);
    }
    return FGQ_OK;
}

fgq_status fgq_conv_transpose_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                      const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0], *w = in[1], *y = out[0];
    const float *xd = (const float *)x->data, *wd = (const float *)w->data;
    const float *bd = node->n_inputs > 2 && in[2] != NULL ? (const float *)in[2]->data : NULL;
    float *yd = (float *)y->data;
    const int32_t *ip = node->iparams;
    const int32_t ns = ip[FGQ_P_NSPATIAL];
    /* right-aligned into 3 spatial dims: missing leading dims are 1 with kernel 1, stride 1 */
    int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0, 0, 0};
    for (int32_t i = 0; i < ns; i++) {
        const int32_t j = 3 - ns + i;
        I[j] = x->dims[2 + i];
        O[j] = y->dims[2 + i];
        K[j] = w->dims[2 + i];
        S[j] = ip[FGQ_P_STRIDE + i];
        D[j] = ip[FGQ_P_DILATION + i];
        P[j] = ip[FGQ_P_PAD_BEGIN + i];
    }
    const int64_t N = x->dims[0], C = x->dims[1], G = ip[FGQ_P_GROUP], Cg = C / G, Mg = w->dims[1], M = Mg * G;
    const int64_t in_sz = I[0] * I[1] * I[2], out_sz = O[0] * O[1] * O[2], k_sz = K[0] * K[1] * K[2];
    for (int64_t n = 0; n < N; n++)
        for (int64_t mo = 0; mo < M; mo++) {
            float *yp = yd + (n * M + mo) * out_sz;
            const float bv = bd != NULL ? bd[mo] : 0.0f;
            for (int64_t o = 0; o < out_sz; o++)
                yp[o] = bv;
        }
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            const int64_t grp = c / Cg;
            const float *xp = xd + (n * C + c) * in_sz;
            for (int64_t ml = 0; ml < Mg; ml++) {
                const float *wp = wd + (c * Mg + ml) * k_sz;
                float *yp = yd + (n * M + grp * Mg + ml) * out_sz;
                for (int64_t i0 = 0; i0 < I[0]; i0++)
                    for (int64_t i1 = 0; i1 < I[1]; i1++)
                        for (int64_t i2 = 0; i2 < I[2]; i2++) {
                            const float xv = xp[(i0 * I[1] + i1) * I[2] + i2];
                            for (int64_t k0 = 0; k0 < K[0]; k0++) {
                                const int64_t o0 = i0 * S[0] - P[0] + k0 * D[0];
                                if (o0 < 0 || o0 >= O[0])
                                    continue;
                                for (int64_t k1 = 0; k1 < K[1]; k1++) {
                                    const int64_t o1 = i1 * S[1] - P[1] + k1 * D[1];
                                    if (o1 < 0 || o1 >= O[1])
                                        continue;
                                    for (int64_t k2 = 0; k2 < K[2]; k2++) {
                                        const int64_t o2 = i2 * S[2] - P[2] + k2 * D[2];
                                        if (o2 >= 0 && o2 < O[2])
                                            yp[(o0 * O[1] + o1) * O[2] + o2] += xv * wp[(k0 * K[1] + k1) * K[2] + k2];
                                    }
                                }
                            }
                        }
            }
        }
    return FGQ_OK;
}
