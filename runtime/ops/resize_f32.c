/*
 * resize_f32.c — Resize (ONNX opsets 10..19, Upsample 7..9) of the last two
 * dims, nearest or (bi)linear, float32; the outer dims (N, C, ...) are kept.
 * The arithmetic is ONNX Runtime's (upsamplebase.h), in float, so that the
 * nearest neighbour picked at a tie is the same:
 *   x_orig = transform(x_out)              per fgq_resize_coord, with the scale (the
 *                                          "resized length" of align_corners and
 *                                          pytorch_half_pixel: the output size when the
 *                                          model gave sizes (ip[3]), else in·scale, as
 *                                          ONNX's reference and node tests; ONNX Runtime
 *                                          and PyTorch use the output size there too,
 *                                          which differs only where in·scale is fractional)
 *   nearest: index = round(x_orig) per fgq_resize_nearest, clamped to [0, in)
 *   linear:  x = clamp(x_orig, 0, in − 1), x1 = floor(x), x2 = min(x1 + 1, in − 1),
 *            weights |x − x2| and |x − x1| (½ each when x1 = x2)
 * No scratch: per output row the source row and weights are recomputed.
 */
#include "ops_f32.h"
#include "ops_util.h"

#include <math.h>

fgq_status fgq_resize_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, fgq_error *err)
{
    fgq_status st = fgq_ops_check_io(node, in, out, 1, 1, 1, err);
    if (st != FGQ_OK)
        return st;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t mode = node->iparams[0], coord = node->iparams[1], near = node->iparams[2];
    if (mode < 0 || mode > 1 || coord < FGQ_RESIZE_HALF_PIXEL || coord > FGQ_RESIZE_TF_HALF_PIXEL_FOR_NN ||
        near < FGQ_RESIZE_ROUND_PREFER_FLOOR || near > FGQ_RESIZE_SIMPLE ||
        (node->iparams[3] != 0 && node->iparams[3] != 1))
        return fgq_fail(err, FGQ_ERR_FORMAT, FGQ_NODE_FMT "mode %d / transform %d / nearest mode %d out of range",
                        FGQ_NODE_ARGS(node), (int)mode, (int)coord, (int)near);
    if (!(node->fparams[0] > 0.0f) || !(node->fparams[1] > 0.0f) || !isfinite(node->fparams[0]) ||
        !isfinite(node->fparams[1]))
        return fgq_fail(err, FGQ_ERR_VALUE, FGQ_NODE_FMT "scales %g, %g must be finite and > 0", FGQ_NODE_ARGS(node),
                        (double)node->fparams[0], (double)node->fparams[1]);
    if (x->rank < 2 || y->rank != x->rank)
        return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "X rank %d, Y rank %d (rank >= 2, equal)",
                        FGQ_NODE_ARGS(node), (int)x->rank, (int)y->rank);
    for (int32_t i = 0; i < x->rank - 2; i++)
        if (y->dims[i] != x->dims[i])
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d resized (%lld -> %lld): only the last two are",
                            FGQ_NODE_ARGS(node), (int)i, (long long)x->dims[i], (long long)y->dims[i]);
    for (int32_t i = x->rank - 2; i < x->rank; i++)
        if (y->dims[i] > 0 && x->dims[i] == 0)
            return fgq_fail(err, FGQ_ERR_SHAPE, FGQ_NODE_FMT "dim %d: nothing to resize from", FGQ_NODE_ARGS(node),
                            (int)i);
    return FGQ_OK;
}

static float src_coord(int32_t coord, int64_t xo, float scale, int64_t len_in, float len_out)
{
    const float x = (float)xo;
    switch (coord) {
    case FGQ_RESIZE_ASYMMETRIC: return x / scale;
    case FGQ_RESIZE_ALIGN_CORNERS:
        return len_out == 1.0f ? 0.0f : x * (float)(len_in - 1) / (len_out - 1.0f);
    case FGQ_RESIZE_PYTORCH_HALF_PIXEL: return len_out > 1.0f ? (x + 0.5f) / scale - 0.5f : 0.0f;
    case FGQ_RESIZE_TF_HALF_PIXEL_FOR_NN: return (x + 0.5f) / scale;
    default: return (x + 0.5f) / scale - 0.5f; /* half_pixel */
    }
}

static int64_t nearest_index(int32_t near, float v, float scale, int64_t len_in)
{
    int64_t i;
    /* a huge coordinate (a tiny scale from an untrusted file) clamps before the conversion */
    v = v < -1.0f ? -1.0f : v > (float)len_in ? (float)len_in : v;
    switch (near) {
    case FGQ_RESIZE_SIMPLE: i = scale < 1.0f ? (int64_t)ceilf(v) : (int64_t)v; break;
    case FGQ_RESIZE_ROUND_PREFER_CEIL: i = (int64_t)roundf(v); break;
    case FGQ_RESIZE_FLOOR: i = (int64_t)floorf(v); break;
    case FGQ_RESIZE_CEIL: i = (int64_t)ceilf(v); break;
    default: /* round_prefer_floor: a tie goes down */
        i = v == (float)(int64_t)v + 0.5f ? (int64_t)v : (int64_t)roundf(v);
        break;
    }
    return i < 0 ? 0 : i >= len_in ? len_in - 1 : i;
}

/* The two source indices and their weights along one dim (linear). */
static void linear_taps(float v, int64_t len_in, int64_t *i1, int64_t *i2, float *w1, float *w2)
{
    v = v < 0.0f ? 0.0f : v > (float)(len_in - 1) ? (float)(len_in - 1) : v;
    *i1 = (int64_t)v < len_in - 1 ? (int64_t)v : len_in - 1;
    *i2 = *i1 + 1 < len_in - 1 ? *i1 + 1 : len_in - 1;
    if (*i1 == *i2) {
        *w1 = *w2 = 0.5f;
        return;
    }
    *w1 = fabsf(v - (float)*i2); /* weight of i1 */
    *w2 = fabsf(v - (float)*i1);
}

fgq_status fgq_resize_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, fgq_error *err)
{
    (void)err;
    const fgq_tensor_view *x = in[0], *y = out[0];
    const int32_t r = x->rank, mode = node->iparams[0], coord = node->iparams[1], near = node->iparams[2];
    const int64_t IH = x->dims[r - 2], IW = x->dims[r - 1], OH = y->dims[r - 2], OW = y->dims[r - 1];
    const int64_t planes = fgq_ops_dims_prod(x->dims, 0, r - 2);
    const float sh = node->fparams[0], sw = node->fparams[1];
    const int sized = node->iparams[3] == 1;
    const float lh = sized ? (float)OH : (float)IH * sh, lw = sized ? (float)OW : (float)IW * sw;
    const float *xd = (const float *)x->data;
    float *yd = (float *)y->data;
    if (OH == 0 || OW == 0)
        return FGQ_OK;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = xd + p * IH * IW;
        float *yp = yd + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            const float vh = src_coord(coord, oh, sh, IH, lh);
            if (mode == 0) {
                const float *xr = xp + nearest_index(near, vh, sh, IH) * IW;
                for (int64_t ow = 0; ow < OW; ow++)
                    yp[oh * OW + ow] = xr[nearest_index(near, src_coord(coord, ow, sw, IW, lw), sw, IW)];
                continue;
            }
            int64_t h1, h2;
            float a1, a2;
            linear_taps(vh, IH, &h1, &h2, &a1, &a2);
            const float *r1 = xp + h1 * IW, *r2 = xp + h2 * IW;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w1, w2;
                float b1, b2;
                linear_taps(src_coord(coord, ow, sw, IW, lw), IW, &w1, &w2, &b1, &b2);
                yp[oh * OW + ow] = a1 * (b1 * r1[w1] + b2 * r1[w2]) + a2 * (b1 * r2[w1] + b2 * r2[w2]);
            }
        }
    }
    return FGQ_OK;
}
