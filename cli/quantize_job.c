/* quantize_job.c — the steps of `fgq quantize` around the pipeline; see quantize_job.h. */
#include "quantize_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fed_as_is(fgq_dtype dt)
{
    return dt == FGQ_DT_U8 || dt == FGQ_DT_S8 || dt == FGQ_DT_S32 || dt == FGQ_DT_S64 || dt == FGQ_DT_BOOL;
}

fgq_status fgq_quantize_check_input(const fgq_graph *fg, const char *model, const fgq_preprocess *pre,
                                    fgq_error *err)
{
    if (fg->n_inputs < 1 || fg->n_inputs > FGQ_SAMPLES_MAX_INPUTS)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: quantize takes models with 1 to %d inputs (it has %d)", model,
                        FGQ_SAMPLES_MAX_INPUTS, (int)fg->n_inputs);
    fgq_status st = FGQ_OK;
    for (int32_t k = 0; k < fg->n_inputs && st == FGQ_OK; k++) {
        const fgq_ir_tensor *in = &fg->tensors[fg->inputs[k]];
        if (in->dtype != FGQ_DT_F32) {
            if (!fed_as_is(in->dtype))
                st = fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                              "%s: input '%s' is %s; quantize feeds float32 inputs and integer ones (u8, s8, s32, "
                              "s64, bool)",
                              model, in->name, fgq_dtype_name(in->dtype));
            continue; /* integer inputs are never normalised */
        }
        char what[512];
        snprintf(what, sizeof what, "%s: --mean/--std for input '%s'", model, in->name);
        st = fgq_preprocess_check(pre, what, in->rank, in->dims, err);
    }
    return st;
}

/* Fits loaded samples d to graph input k (data.h fgq_data_prepare; pre for float inputs only) and checks a
 * sample's size. */
static fgq_status fit_samples(fgq_dataset *d, const char *name, const char *range, const fgq_graph *fg, int32_t k,
                              const fgq_preprocess *pre, fgq_error *err)
{
    const fgq_ir_tensor *in = &fg->tensors[fg->inputs[k]];
    if (d->dims[0] < 1)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: no calibration samples%s%s", name, range ? " in range " : "",
                        range ? range : "");
    fgq_status st = fgq_data_prepare(d, name, in->rank, in->dims, in->dtype == FGQ_DT_F32 ? pre : NULL, err);
    if (st != FGQ_OK)
        return st;
    if (fgq_dataset_sample_numel(d) != fgq_ir_tensor_numel(in))
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: a sample has %lld values but input '%s' takes %lld", name,
                        (long long)fgq_dataset_sample_numel(d), in->name, (long long)fgq_ir_tensor_numel(in));
    return FGQ_OK;
}

fgq_status fgq_calib_set_fit(fgq_calib_set *cs, const fgq_graph *fg, const char *range, const fgq_preprocess *pre,
                             fgq_error *err)
{
    fgq_status st = FGQ_OK;
    const void *in[FGQ_SAMPLES_MAX_INPUTS] = {0};
    for (int32_t k = 0; k < fg->n_inputs && st == FGQ_OK; k++) {
        const fgq_ir_tensor *t = &fg->tensors[fg->inputs[k]];
        const fgq_dataset *d0 = &cs->d[0], *dk = &cs->d[k];
        if (k > 0 && (dk->dims[0] != d0->dims[0] || dk->file_samples != d0->file_samples)) {
            const int whole = dk->file_samples != d0->file_samples;
            st = fgq_fail(err, FGQ_ERR_VALUE,
                          "%s: %lld samples%s for input '%s', but %s has %lld for input '%s': every input needs "
                          "the same samples",
                          cs->source[k], (long long)(whole ? dk->file_samples : dk->dims[0]),
                          whole ? "" : " in the range", t->name, cs->source[0],
                          (long long)(whole ? d0->file_samples : d0->dims[0]), fg->tensors[fg->inputs[0]].name);
            break;
        }
        if (t->dtype != FGQ_DT_F32 && cs->d[k].inexact_count > 0) { /* the float32 copy rounded the file's value */
            st = fgq_fail(err, FGQ_ERR_VALUE,
                          "%s: element %lld is %lld, which float32 (how samples are read) does not hold exactly: "
                          "input '%s' takes integers up to 2^24 and larger ones float32 holds",
                          cs->source[k], (long long)cs->d[k].inexact_index, (long long)cs->d[k].inexact_value,
                          t->name);
            break;
        }
        st = fit_samples(&cs->d[k], cs->source[k], range, fg, k, pre, err);
        if (st == FGQ_OK && t->dtype != FGQ_DT_F32) /* exact: no value was rounded (checked above) */
            st = fgq_data_convert(cs->source[k], cs->d[k].data, FGQ_DT_F32, fgq_dataset_numel(&cs->d[k]), t->dtype,
                                  0, &cs->typed[k], err);
        in[k] = t->dtype != FGQ_DT_F32 ? cs->typed[k] : (const void *)cs->d[k].data;
    }
    if (st == FGQ_OK)
        st = fgq_samples_bind(&cs->samples, fg, in, cs->d[0].dims[0], err);
    return st;
}

/* The index of fg's input called name[0..len), or -1. */
static int32_t input_named(const fgq_graph *fg, const char *name, size_t len)
{
    for (int32_t k = 0; k < fg->n_inputs; k++) {
        const char *nm = fg->tensors[fg->inputs[k]].name;
        if (strlen(nm) == len && strncmp(nm, name, len) == 0)
            return k;
    }
    return -1;
}

static void input_list(const fgq_graph *fg, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t k = 0; k < fg->n_inputs && used < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", k ? ", " : "", fg->tensors[fg->inputs[k]].name);
}

static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL)
        fclose(f);
    return f != NULL;
}

/* A zip archive (.npz), or (gzip_too) a gzip stream that may hold one (the loader unwraps it and says if it
 * does not). */
static int maybe_archive(const char *path, int gzip_too)
{
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    return (got == 4 && memcmp(m, "PK\x03\x04", 4) == 0) || (gzip_too && got >= 2 && m[0] == 0x1f && m[1] == 0x8b);
}

/* The input that --calib value v names: the longest prefix of v before an '=' that is an input name (input
 * names may hold '=' themselves); -1 when none is. *eq: that '=' (or v's first '=' when none). */
static int32_t calib_input(const fgq_graph *fg, const char *v, const char **eq)
{
    int32_t k = -1;
    *eq = strchr(v, '=');
    for (const char *e = *eq; e != NULL; e = strchr(e + 1, '=')) {
        const int32_t i = input_named(fg, v, (size_t)(e - v));
        if (i >= 0) {
            k = i;
            *eq = e;
        }
    }
    return k;
}

fgq_status fgq_calib_set_load(fgq_calib_set *cs, const fgq_graph *fg, const char *const *calib, int32_t n_calib,
                              const char *range, const fgq_preprocess *pre, fgq_error *err)
{
    memset(cs, 0, sizeof *cs);
    const void *none[FGQ_SAMPLES_MAX_INPUTS] = {0};
    if (n_calib == 0)
        return fgq_samples_bind(&cs->samples, fg, none, 0, err);
    if (fg->n_inputs > FGQ_SAMPLES_MAX_INPUTS)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "the model has %d inputs (at most %d take samples)",
                        (int)fg->n_inputs, FGQ_SAMPLES_MAX_INPUTS);
    char names[512];
    input_list(fg, names, sizeof names);
    /* NAME=FILE when NAME is an input (or no file of the whole text exists), else FILE */
    const char *file[FGQ_SAMPLES_MAX_INPUTS] = {0}, *given[FGQ_SAMPLES_MAX_INPUTS] = {0};
    int32_t n_named = 0;
    for (int32_t c = 0; c < n_calib; c++) {
        const char *v = calib[c], *eq;
        const int32_t k = calib_input(fg, v, &eq);
        if (eq == NULL)
            continue;
        if (k < 0) {
            if (readable(v)) /* a file whose name holds '=' */
                continue;
            return fgq_fail(err, FGQ_ERR_VALUE, "--calib '%s': the model has no input '%.*s' (its inputs: %s)", v,
                            (int)(eq - v), v, names);
        }
        if (eq[1] == '\0')
            return fgq_fail(err, FGQ_ERR_VALUE, "--calib '%s': no file after '=' for input '%s'", v,
                            fg->tensors[fg->inputs[k]].name);
        if (file[k] != NULL)
            return fgq_fail(err, FGQ_ERR_VALUE, "--calib: input '%s' is given twice ('%s' and '%s')",
                            fg->tensors[fg->inputs[k]].name, given[k], v);
        file[k] = eq + 1;
        given[k] = v;
        n_named++;
    }
    if (n_named > 0 && n_named != n_calib)
        return fgq_fail(err, FGQ_ERR_VALUE,
                        "--calib: give NAME=FILE once per model input (inputs: %s), or one FILE, not both", names);
    if (n_named == 0 && n_calib > 1)
        return fgq_fail(err, FGQ_ERR_VALUE,
                        "--calib given %d times without NAME=: give NAME=FILE once per model input (inputs: %s), "
                        "or one FILE (a .npz keyed by input name for several inputs)",
                        (int)n_calib, names);
    for (int32_t k = 0; n_named > 0 && k < fg->n_inputs; k++)
        if (file[k] == NULL)
            return fgq_fail(err, FGQ_ERR_VALUE, "--calib: no samples for input '%s' (give --calib %s=FILE; inputs: %s)",
                            fg->tensors[fg->inputs[k]].name, fg->tensors[fg->inputs[k]].name, names);
    const int keyed = n_named == 0 && fg->n_inputs > 1;   /* one .npz, an array per input name */
    if (keyed && readable(calib[0]) && !maybe_archive(calib[0], 1)) /* an unreadable file: the loader says why */
        return fgq_fail(err, FGQ_ERR_VALUE,
                        "%s: the model has %d inputs (%s): give a .npz with one array per input name, or "
                        "--calib NAME=FILE once per input",
                        calib[0], (int)fg->n_inputs, names);
    fgq_status st = FGQ_OK;
    for (int32_t k = 0; k < fg->n_inputs && st == FGQ_OK; k++) {
        const char *name = fg->tensors[fg->inputs[k]].name;
        const char *path = n_named > 0 ? file[k] : calib[0];
        /* keyed: the array called NAME; NAME=FILE with an archive: the array NAME too, or its only one */
        fgq_data_opts opts = {keyed || n_named > 0 ? name : NULL, range, 0, n_named > 0};
        if (keyed || (n_named > 0 && maybe_archive(path, 0)))
            snprintf(cs->source[k], sizeof cs->source[k], "%s (array '%s')", path, name);
        else
            snprintf(cs->source[k], sizeof cs->source[k], "%s", path);
        st = fgq_data_load(path, &opts, &cs->d[k], err);
    }
    if (st == FGQ_OK)
        st = fgq_calib_set_fit(cs, fg, range, pre, err);
    if (st != FGQ_OK)
        fgq_calib_set_free(cs);
    return st;
}

void fgq_calib_set_free(fgq_calib_set *cs)
{
    for (int32_t k = 0; k < FGQ_SAMPLES_MAX_INPUTS; k++) {
        fgq_dataset_free(&cs->d[k]);
        free(cs->typed[k]);
    }
    memset(cs, 0, sizeof *cs);
}

void fgq_quantize_meta(const fgq_preprocess *pre, fgq_model_preprocess *meta)
{
    memset(meta, 0, sizeof *meta);
    meta->scale = pre->scale != 0.0f ? pre->scale : 1.0f;
    meta->n_mean = pre->n_mean;
    meta->n_std = pre->n_std;
    meta->channel_axis = pre->channel_axis;
    memcpy(meta->mean, pre->mean, sizeof meta->mean);
    memcpy(meta->std, pre->std, sizeof meta->std);
}

char *fgq_quantize_recipe(const fgq_quant_flags *qf, int64_t n_samples, const fgq_quant_result *res)
{
    size_t cap = 512 + (size_t)res->n_layers * 400;
    char *recipe = malloc(cap);
    if (recipe == NULL)
        return NULL;
    size_t used = (size_t)snprintf(recipe, cap, "fgq quantize ");
    fgq_quant_flags_describe(qf, recipe + used, cap - used);
    used = strlen(recipe);
    used += (size_t)snprintf(recipe + used, cap - used, " (%lld calibration samples)\n", (long long)n_samples);
    for (int32_t L = 0; L < res->n_layers && used < cap; L++) {
        const fgq_layer_report *r = &res->layers[L];
        if (r->has_weights)
            used += (size_t)snprintf(recipe + used, cap - used, "layer %s: %s, %.2f bits/weight, solver %s\n", r->name,
                                     r->quantized ? r->policy : "f32", r->bits, r->solver);
    }
    if (res->has_budget && used < cap)
        snprintf(recipe + used, cap - used, "budget: %.3f bits/weight asked, %.3f used (%lld bytes)\n",
                 res->budget.limit_bits, res->budget.bits, (long long)res->budget.bytes);
    return recipe;
}
