/*
 * rnn_f32.c — LSTM and GRU (ONNX opsets 7..14, layout 0), float32, the
 * default activations (sigmoid for the gates, tanh for the cell and output).
 *
 * No scratch: each hidden unit's gates are dot products computed when that
 * unit is updated. The previous step's h is read from Y (Y[t − 1] forward,
 * Y[t + 1] reverse; H0 or zeros at the first step), which is why Y must be an
 * output; LSTM's cell state lives in Y_C and is updated in place (c_t[j]
 * depends on c_{t−1}[j] only). Y_H copies the last step's h.
 *
 * LSTM (gate rows of W, R, B in the order i, o, f, c):
 *   i = σ(Wi x + Ri h + Wbi + Rbi)   o = σ(...)   f = σ(...)   g = tanh(Wc x + Rc h + Wbc + Rbc)
 *   c' = f ⊙ c + i ⊙ g              h' = o ⊙ tanh(c')
 * GRU (order z, r, h), ip[2] = linear_before_reset:
 *   z = σ(Wz x + Rz h + Wbz + Rbz)   r = σ(...)
 *   1: n = tanh(Wh x + Wbh + r ⊙ (Rh h + Rbh))   0: n = tanh(Wh x + Wbh + Rh (r ⊙ h) + Rbh)
 *   h' = (1 − z) ⊙ n + z ⊙ h
 *   With 0 every unit needs the whole r ⊙ h first: it is built in Y[t] (this
 *   step's slot), the new h in Y_H, then copied to Y[t].
 * clip (fp[0] > 0) bounds every gate's input to [−clip, clip].
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>
#include <string.h>

static float dotf(const float *a, const float *b, int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static fgq_status rnn_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, int32_t gates, fgq_error *err)
{
    const int lstm = gates == 4;
    const int32_t n_out = lstm ? 3 : 2;
    if (node->n_inputs < 3 || node->n_inputs > (lstm ? 7 : 6) || node->n_outputs != n_out)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "%d inputs / %d outputs, expected 3..%d / %d",
                        FGQ_NODE_ARGS(node), (int)node->n_inputs, (int)node->n_outputs, lstm ? 7 : 6, (int)n_out);
    if (in == NULL || out == NULL || in[0] == NULL || in[1] == NULL || in[2] == NULL)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "X, W and R are required", FGQ_NODE_ARGS(node));
    if (node->n_inputs > 4 && in[4] != NULL)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "sequence_lens is not supported", FGQ_NODE_ARGS(node));
    for (int32_t k = 0; k < node->n_inputs; k++) {
        if (in[k] == NULL)
            continue;
        fgq_status st = fgq_ops_check_tensor(node, in[k], "input", k, err);
        if (st != FGQ_OK)
            return st;
        if (in[k]->dtype != FGQ_DT_F32)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "input %d has dtype %s, expected f32",
                            FGQ_NODE_ARGS(node), (int)k, fgq_dtype_name(in[k]->dtype));
    }
    const fgq_tensor_view *x = in[0], *w = in[1], *r = in[2];
    const int32_t dir = node->iparams[0];
    const int64_t H = node->iparams[1], D = dir == 2 ? 2 : 1;
    if (dir < 0 || dir > 2 || H < 1)
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "direction %d / hidden size %lld", FGQ_NODE_ARGS(node),
                        (int)dir, (long long)H);
    if (!(node->fparams[0] >= 0.0f) || !isfinite(node->fparams[0]))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "clip %g", FGQ_NODE_ARGS(node), (double)node->fparams[0]);
    if (x->rank != 3)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "X of rank %d, expected [T, N, I]", FGQ_NODE_ARGS(node),
                        (int)x->rank);
    const int64_t T = x->dims[0], N = x->dims[1], I = x->dims[2];
    const int64_t wd[3] = {D, gates * H, I}, rd[3] = {D, gates * H, H}, bd[2] = {D, 2 * gates * H};
    const int64_t hd[3] = {D, N, H}, yd[4] = {T, D, N, H};
    if (w->rank != 3 || memcmp(w->dims, wd, sizeof wd) != 0 || r->rank != 3 || memcmp(r->dims, rd, sizeof rd) != 0)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "W / R must be [%lld, %lld, %lld] / [%lld, %lld, %lld]",
                        FGQ_NODE_ARGS(node), (long long)D, (long long)(gates * H), (long long)I, (long long)D,
                        (long long)(gates * H), (long long)H);
    if (node->n_inputs > 3 && in[3] != NULL && (in[3]->rank != 2 || memcmp(in[3]->dims, bd, sizeof bd) != 0))
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "B must be [%lld, %lld]", FGQ_NODE_ARGS(node), (long long)D,
                        (long long)(2 * gates * H));
    for (int32_t k = 5; k < node->n_inputs; k++)
        if (in[k] != NULL && (in[k]->rank != 3 || memcmp(in[k]->dims, hd, sizeof hd) != 0))
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "initial state %d must be [%lld, %lld, %lld]",
                            FGQ_NODE_ARGS(node), (int)k, (long long)D, (long long)N, (long long)H);
    for (int32_t k = 0; k < n_out; k++) {
        if (out[k] == NULL)
            return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "output %d is missing", FGQ_NODE_ARGS(node), (int)k);
        fgq_status st = fgq_ops_check_tensor(node, out[k], "output", k, err);
        if (st == FGQ_OK)
            st = fgq_ops_check_out_dims(node, out[k], k == 0 ? 4 : 3, k == 0 ? yd : hd, err);
        if (st != FGQ_OK)
            return st;
        if (out[k]->dtype != FGQ_DT_F32)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, FGQ_NODE_FMT "output %d has dtype %s, expected f32",
                            FGQ_NODE_ARGS(node), (int)k, fgq_dtype_name(out[k]->dtype));
    }
    return FGQ_OK;
}

fgq_status fgq_lstm_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    return rnn_check(node, in, out, 4, err);
}

fgq_status fgq_gru_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                             const fgq_tensor_view *const *out, fgq_error *err)
{
    return rnn_check(node, in, out, 3, err);
}

static float clipv(float v, float c)
{
    return c > 0.0f ? (v < -c ? -c : v > c ? c : v) : v;
}

/* One direction d over all steps; gates 4 (LSTM) or 3 (GRU). */
static void rnn_direction(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, int32_t gates, int64_t d, int reverse)
{
    const fgq_tensor_view *x = in[0];
    const int64_t T = x->dims[0], N = x->dims[1], I = x->dims[2], H = node->iparams[1];
    const int64_t D = node->iparams[0] == 2 ? 2 : 1, G = gates * H;
    const float clip = node->fparams[0];
    const float *X = (const float *)x->data;
    const float *W = (const float *)in[1]->data + d * G * I, *R = (const float *)in[2]->data + d * G * H;
    const float *B = node->n_inputs > 3 && in[3] != NULL ? (const float *)in[3]->data + d * 2 * G : NULL;
    const float *H0 = node->n_inputs > 5 && in[5] != NULL ? (const float *)in[5]->data + d * N * H : NULL;
    const float *C0 = gates == 4 && node->n_inputs > 6 && in[6] != NULL ? (const float *)in[6]->data + d * N * H
                                                                        : NULL;
    float *Y = (float *)out[0]->data, *YH = (float *)out[1]->data + d * N * H;
    float *C = gates == 4 ? (float *)out[2]->data + d * N * H : NULL;
    if (C != NULL)
        for (int64_t e = 0; e < N * H; e++)
            C[e] = C0 != NULL ? C0[e] : 0.0f;
    for (int64_t s = 0; s < T; s++) {
        const int64_t t = reverse ? T - 1 - s : s, tp = reverse ? t + 1 : t - 1;
        for (int64_t n = 0; n < N; n++) {
            const float *xt = X + (t * N + n) * I;
            const float *hp = s == 0 ? (H0 != NULL ? H0 + n * H : NULL) : Y + ((tp * D + d) * N + n) * H;
            float *ht = Y + ((t * D + d) * N + n) * H;
            const int reset_first = gates == 3 && node->iparams[2] == 0 && hp != NULL;
            if (reset_first) /* r ⊙ h into Y[t] */
                for (int64_t j = 0; j < H; j++) {
                    const int64_t row = H + j;
                    const float r = dotf(xt, W + row * I, I) + dotf(hp, R + row * H, H) +
                                    (B != NULL ? B[row] + B[G + row] : 0.0f);
                    ht[j] = fgq_ops_sigmoid(clipv(r, clip)) * hp[j];
                }
            float *hdst = reset_first ? YH + n * H : ht;
            for (int64_t j = 0; j < H; j++) {
                float a[4];
                float rh_h = 0.0f; /* GRU: Rh·h + Rbh, kept apart for the reset gate */
                for (int32_t g = 0; g < gates; g++) {
                    const int64_t row = g * H + j;
                    float v = dotf(xt, W + row * I, I) + (B != NULL ? B[row] : 0.0f);
                    const float *hv = reset_first && g == 2 ? ht : hp; /* 0: Rh (r ⊙ h) */
                    const float rh = (hv != NULL ? dotf(hv, R + row * H, H) : 0.0f) + (B != NULL ? B[G + row] : 0.0f);
                    if (gates == 3 && g == 2)
                        rh_h = rh;
                    else
                        v += rh;
                    a[g] = v;
                }
                const float hprev = hp != NULL ? hp[j] : 0.0f;
                if (gates == 4) {
                    const float ig = fgq_ops_sigmoid(clipv(a[0], clip)), og = fgq_ops_sigmoid(clipv(a[1], clip));
                    const float fg = fgq_ops_sigmoid(clipv(a[2], clip)), cg = tanhf(clipv(a[3], clip));
                    float *c = C + n * H + j;
                    *c = fg * *c + ig * cg;
                    ht[j] = og * tanhf(*c);
                } else {
                    const float z = fgq_ops_sigmoid(clipv(a[0], clip)), r = fgq_ops_sigmoid(clipv(a[1], clip));
                    const float nn = tanhf(clipv(node->iparams[2] == 0 ? a[2] + rh_h : a[2] + r * rh_h, clip));
                    hdst[j] = (1.0f - z) * nn + z * hprev;
                }
            }
            if (reset_first)
                memcpy(ht, hdst, sizeof(float) * (size_t)H);
        }
    }
    const int64_t tl = reverse ? 0 : T - 1; /* Y_H: the last step this direction took */
    for (int64_t n = 0; n < N && T > 0; n++)
        memcpy(YH + n * H, Y + ((tl * D + d) * N + n) * H, sizeof(float) * (size_t)H);
    if (T == 0)
        for (int64_t e = 0; e < N * H; e++)
            YH[e] = H0 != NULL ? H0[e] : 0.0f;
}

static fgq_status rnn_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                          const fgq_tensor_view *const *out, int32_t gates)
{
    const int32_t dir = node->iparams[0];
    if (dir == 0 || dir == 2)
        rnn_direction(node, in, out, gates, 0, 0);
    if (dir == 1)
        rnn_direction(node, in, out, gates, 0, 1);
    if (dir == 2)
        rnn_direction(node, in, out, gates, 1, 1);
    return FGQ_OK;
}

fgq_status fgq_lstm_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                            const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    return rnn_run(node, in, out, 4);
}

fgq_status fgq_gru_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                           const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    return rnn_run(node, in, out, 3);
}
