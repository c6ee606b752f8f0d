/* op_semantics.c — see op_semantics.h. */
#include "import/op_semantics.h"

#include "fgq_ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int fgq_onnx_slice_resolve(int32_t rank, const int64_t *dims, int32_t n, const int64_t *starts, const int64_t *ends,
                           const int64_t *axes, const int64_t *steps, int64_t *first, int64_t *step, int64_t *count,
                           char *why, size_t why_len)
{
    for (int32_t i = 0; i < rank; i++) {
        first[i] = 0;
        step[i] = 1;
        count[i] = dims[i];
    }
    uint32_t seen = 0;
    for (int32_t j = 0; j < n; j++) {
        int64_t a = axes != NULL ? axes[j] : j;
        if (a < 0)
            a += rank;
        if (a < 0 || a >= rank || (seen & (1u << a))) {
            snprintf(why, why_len, "axis %lld is out of range for rank %d or repeated",
                     (long long)(axes != NULL ? axes[j] : j), (int)rank);
            return -1;
        }
        seen |= 1u << a;
        const int64_t d = dims[a], s = steps != NULL ? steps[j] : 1;
        if (s == 0 || s < INT32_MIN || s > INT32_MAX) {
            snprintf(why, why_len, "step %lld (non-zero, within int32)", (long long)s);
            return -1;
        }
        int64_t b = starts[j], e = ends[j];
        /* ends of ±2^63 mean "to the end": keep them from overflowing below */
        b = b < -d ? -d - 1 : b > d ? d : b;
        e = e < -d ? -d - 1 : e > d ? d : e;
        if (b < 0)
            b += d;
        if (e < 0)
            e += d;
        int64_t cnt;
        if (s > 0) {
            b = b < 0 ? 0 : b > d ? d : b;
            e = e < 0 ? 0 : e > d ? d : e;
            cnt = e > b ? (e - b + s - 1) / s : 0;
        } else {
            b = b < 0 ? -1 : b > d - 1 ? d - 1 : b;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            cnt = b > e ? (b - e + (-s) - 1) / (-s) : 0;
        }
        first[a] = cnt > 0 ? b : 0;
        step[a] = s;
        count[a] = cnt;
    }
    return 0;
}

int fgq_onnx_reduce_axes_are_input(const char *op_type, int64_t opset)
{
    return strcmp(op_type, "ReduceSum") == 0 ? opset >= 13 : opset >= 18;
}

int fgq_onnx_reduce_mask(int32_t rank, const int64_t *axes, int32_t n, int noop_empty, uint32_t *mask, char *why,
                         size_t why_len)
{
    uint32_t m = 0;
    if (n == 0 && !noop_empty)
        m = rank > 0 ? (uint32_t)((1u << rank) - 1u) : 0u;
    for (int32_t i = 0; i < n; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank || (m & (1u << a))) {
            snprintf(why, why_len, "axis %lld is out of range for rank %d or repeated", (long long)axes[i], (int)rank);
            return -1;
        }
        m |= 1u << a;
    }
    *mask = m;
    return 0;
}

int fgq_onnx_split_sizes(int64_t d, int32_t n_out, const int64_t *split, int32_t n, int64_t *sizes, char *why,
                         size_t why_len)
{
    if (n_out < 1) {
        snprintf(why, why_len, "no outputs");
        return -1;
    }
    if (split != NULL) {
        int64_t total = 0;
        if (n != n_out) {
            snprintf(why, why_len, "split has %d values for %d outputs", (int)n, (int)n_out);
            return -1;
        }
        for (int32_t k = 0; k < n; k++) {
            if (split[k] < 0 || split[k] > d - total) {
                snprintf(why, why_len, "split sizes do not add up to the axis' %lld", (long long)d);
                return -1;
            }
            sizes[k] = split[k];
            total += split[k];
        }
        if (total != d) {
            snprintf(why, why_len, "split sizes add up to %lld, the axis has %lld", (long long)total, (long long)d);
            return -1;
        }
        return 0;
    }
    const int64_t part = (d + n_out - 1) / n_out;
    int64_t left = d;
    for (int32_t k = 0; k < n_out; k++) {
        sizes[k] = left < part ? left : part;
        left -= sizes[k];
    }
    return 0;
}

static const char *str_attr(const fgq_ir_node *n, const char *name, const char *def)
{
    const fgq_ir_attr *a = fgq_node_attr(n, name);
    return a != NULL && a->type == FGQ_ATTR_STRING && a->s != NULL ? a->s : def;
}

int fgq_onnx_resize_attrs(const fgq_ir_node *n, int64_t opset, int32_t *mode, int32_t *coord, int32_t *nearest,
                          int32_t *scales_input, int32_t *sizes_input, char *why, size_t why_len)
{
    const int upsample = strcmp(n->op_type, "Upsample") == 0;
    const char *m = str_attr(n, "mode", "nearest");
    if (strcmp(m, "nearest") == 0)
        *mode = 0;
    else if (strcmp(m, "linear") == 0 || strcmp(m, "bilinear") == 0)
        *mode = 1;
    else {
        snprintf(why, why_len, "mode '%s' is not supported (nearest, linear)", m);
        return -1;
    }
    /* Upsample and Resize-10 align the input and output grids at 0 (asymmetric) */
    const char *ct = upsample || opset < 11 ? "asymmetric" : str_attr(n, "coordinate_transformation_mode", "half_pixel");
    static const char *const coords[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                                         "tf_half_pixel_for_nn"};
    *coord = -1;
    for (int32_t k = 0; k < 5; k++)
        if (strcmp(ct, coords[k]) == 0)
            *coord = k;
    if (*coord < 0) {
        snprintf(why, why_len, "coordinate_transformation_mode '%s' is not supported", ct);
        return -1;
    }
    if (upsample || opset < 11) { /* ONNX Runtime's rule there: floor, ceil when downsampling */
        *nearest = FGQ_RESIZE_SIMPLE;
        *scales_input = upsample && opset < 9 ? -1 : 1;
        *sizes_input = -1;
        return 0;
    }
    const char *nm = str_attr(n, "nearest_mode", "round_prefer_floor");
    static const char *const nears[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    *nearest = -1;
    for (int32_t k = 0; k < 4; k++)
        if (strcmp(nm, nears[k]) == 0)
            *nearest = k;
    if (*nearest < 0) {
        snprintf(why, why_len, "nearest_mode '%s' is not supported", nm);
        return -1;
    }
    if (fgq_node_attr_int(n, "antialias", 0) != 0 || fgq_node_attr(n, "axes") != NULL) {
        snprintf(why, why_len, "antialias and axes (opset 18) are not supported");
        return -1;
    }
    if (upsample) {
        *scales_input = opset >= 9 ? 1 : -1;
        *sizes_input = -1;
    } else if (opset < 11) {
        *scales_input = 1;
        *sizes_input = -1;
    } else {
        *scales_input = 2;
        *sizes_input = 3;
    }
    return 0;
}

int fgq_onnx_resize_output(int32_t rank, const int64_t *dims, const float *scales, const int64_t *sizes, int64_t *out,
                           float *eff_scales, char *why, size_t why_len)
{
    for (int32_t i = 0; i < rank; i++) {
        if (sizes != NULL) {
            out[i] = sizes[i];
            eff_scales[i] = dims[i] > 0 ? (float)sizes[i] / (float)dims[i] : 1.0f;
        } else {
            if (!(scales[i] > 0.0f) || !(scales[i] < 1e6f)) {
                snprintf(why, why_len, "scale %g on dim %d (> 0)", (double)scales[i], (int)i);
                return -1;
            }
            out[i] = (int64_t)floor((double)dims[i] * (double)scales[i]);
            eff_scales[i] = scales[i];
        }
        if (out[i] < 0) {
            snprintf(why, why_len, "output size %lld on dim %d", (long long)out[i], (int)i);
            return -1;
        }
        if (i < rank - 2 && out[i] != dims[i]) {
            snprintf(why, why_len, "dim %d resized (%lld -> %lld): only the last two dims are", (int)i,
                     (long long)dims[i], (long long)out[i]);
            return -1;
        }
    }
    return 0;
}

/* INTS attribute `name` of exactly `want` values into v (absent: def each); -1 when malformed. */
static int ints_exact(const fgq_ir_node *n, const char *name, int32_t want, int64_t def, int64_t *v)
{
    const fgq_ir_attr *a = fgq_node_attr(n, name);
    if (a == NULL) {
        for (int32_t i = 0; i < want; i++)
            v[i] = def;
        return 0;
    }
    if (a->type != FGQ_ATTR_INTS || a->n != want)
        return -1;
    for (int32_t i = 0; i < want; i++)
        v[i] = a->ints[i];
    return 0;
}

int fgq_onnx_conv_transpose(const fgq_ir_node *n, int32_t ns, const int64_t *x_sp, const int64_t *w_sp,
                            int64_t *out_sp, int64_t *pad_begin, int64_t *stride, int64_t *dil, char *why,
                            size_t why_len)
{
    int64_t k[3], op[3], pads[6];
    if (ns < 1 || ns > 3) {
        snprintf(why, why_len, "%d spatial dims (1..3)", (int)ns);
        return -1;
    }
    if (ints_exact(n, "kernel_shape", ns, 0, k) || ints_exact(n, "strides", ns, 1, stride) ||
        ints_exact(n, "dilations", ns, 1, dil) || ints_exact(n, "output_padding", ns, 0, op) ||
        ints_exact(n, "pads", 2 * ns, 0, pads)) {
        snprintf(why, why_len, "kernel_shape / strides / dilations / output_padding / pads must have one value per "
                 "spatial dim (pads two)");
        return -1;
    }
    const char *ap = str_attr(n, "auto_pad", "NOTSET");
    const int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
    if (!same_upper && !same_lower && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) {
        snprintf(why, why_len, "auto_pad '%s'", ap);
        return -1;
    }
    const fgq_ir_attr *os = fgq_node_attr(n, "output_shape");
    if (os != NULL && (os->type != FGQ_ATTR_INTS || (os->n != ns && os->n != ns + 2))) {
        snprintf(why, why_len, "output_shape must have %d (or %d) values", (int)ns, (int)ns + 2);
        return -1;
    }
    for (int32_t i = 0; i < ns; i++) {
        if (k[i] == 0)
            k[i] = w_sp[i];
        if (k[i] != w_sp[i] || stride[i] < 1 || stride[i] > (1 << 20) || dil[i] < 1 || dil[i] > (1 << 20) ||
            op[i] < 0 || op[i] > (1 << 20) || pads[i] < 0 || pads[ns + i] < 0 || pads[i] > (1 << 20) ||
            pads[ns + i] > (1 << 20) || x_sp[i] < 1 || x_sp[i] > ((int64_t)1 << 30)) {
            snprintf(why, why_len, "dim %d: kernel %lld (W %lld), stride %lld, dilation %lld, output_padding %lld, "
                     "pads %lld/%lld out of range", (int)i, (long long)k[i], (long long)w_sp[i], (long long)stride[i],
                     (long long)dil[i], (long long)op[i], (long long)pads[i], (long long)pads[ns + i]);
            return -1;
        }
        const int64_t full = stride[i] * (x_sp[i] - 1) + op[i] + (k[i] - 1) * dil[i] + 1;
        if (os != NULL || same_upper || same_lower) {
            const int64_t want = os != NULL ? os->ints[os->n == ns ? i : i + 2] : x_sp[i] * stride[i];
            /* ONNX's split, with Python's floor division: a negative total (an output larger than
             * the taps reach) gives outputs that hold the bias only */
            const int64_t total = full - want, half = total >= 0 ? total / 2 : -((-total + 1) / 2);
            if (want < 1 || want > ((int64_t)1 << 30)) {
                snprintf(why, why_len, "dim %d: output size %lld", (int)i, (long long)want);
                return -1;
            }
            pad_begin[i] = same_upper ? half : total - half;
            out_sp[i] = want;
        } else {
            const int valid = strcmp(ap, "VALID") == 0;
            pad_begin[i] = valid ? 0 : pads[i];
            out_sp[i] = full - (valid ? 0 : pads[i] + pads[ns + i]);
            if (out_sp[i] < 1) {
                snprintf(why, why_len, "dim %d: output size %lld", (int)i, (long long)out_sp[i]);
                return -1;
            }
        }
    }
    return 0;
}

int fgq_onnx_range_count_int(int64_t start, int64_t limit, int64_t delta, int64_t *n, char *why, size_t why_len)
{
    if (delta == 0) {
        snprintf(why, why_len, "delta is 0");
        return -1;
    }
    /* |limit − start| and |delta| as uint64_t: exact for every pair of int64 values */
    const int up = delta > 0;
    if (up ? limit <= start : limit >= start) {
        *n = 0;
        return 0;
    }
    const uint64_t diff = up ? (uint64_t)limit - (uint64_t)start : (uint64_t)start - (uint64_t)limit;
    const uint64_t step = up ? (uint64_t)delta : (uint64_t)(-(delta + 1)) + 1u;
    const uint64_t count = diff / step + (diff % step != 0);
    if (count > (uint64_t)1 << 40) {
        snprintf(why, why_len, "%llu elements, more than fgq holds (2^40)", (unsigned long long)count);
        return -1;
    }
    *n = (int64_t)count;
    return 0;
}

int fgq_onnx_range_count_f32(float start, float limit, float delta, int64_t *n, char *why, size_t why_len)
{
    if (delta == 0.0f) {
        snprintf(why, why_len, "delta is 0");
        return -1;
    }
    const double c = ceil((double)(limit - start) / (double)delta);
    if (!(c <= 1099511627776.0)) { /* NaN, inf or past 2^40 */
        snprintf(why, why_len, "start %g, limit %g, delta %g give no finite element count up to 2^40", (double)start,
                 (double)limit, (double)delta);
        return -1;
    }
    *n = c > 0.0 ? (int64_t)c : 0;
    return 0;
}

int64_t fgq_onnx_mod_int(int64_t a, int64_t b, int fmod_)
{
    if (b == 0 || b == -1)
        return 0;
    int64_t r = a % b;
    if (!fmod_ && r != 0 && (r < 0) != (b < 0))
        r += b;
    return r;
}

int fgq_onnx_scatter_reduction(const fgq_ir_node *n, int32_t *code, char *why, size_t why_len)
{
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    const char *r = str_attr(n, "reduction", "none");
    for (int32_t i = 0; i < 5; i++)
        if (strcmp(r, names[i]) == 0) {
            *code = i;
            return 0;
        }
    snprintf(why, why_len, "reduction '%s' (none, add, mul, max, min)", r);
    return -1;
}
