/* quantize_job.c — the steps of `fgq quantize` around the pipeline; see quantize_job.h. */
#include "quantize_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fgq_status fgq_quantize_check_input(const fgq_graph *fg, const char *model, const fgq_preprocess *pre,
                                    fgq_error *err)
{
    if (fg->n_inputs != 1)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: quantize needs a model with one input (it has %d)", model,
                        (int)fg->n_inputs);
    const fgq_ir_tensor *in = &fg->tensors[fg->inputs[0]];
    if (in->dtype != FGQ_DT_F32)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: input '%s' is %s, quantize calibrates float32 inputs", model,
                        in->name, fgq_dtype_name(in->dtype));
    char what[512];
    snprintf(what, sizeof what, "%s: --mean/--std for input '%s'", model, in->name);
    return fgq_preprocess_check(pre, what, in->rank, in->dims, err);
}

fgq_status fgq_quantize_fit_samples(fgq_dataset *d, const char *name, const char *range, const fgq_graph *fg,
                                    const fgq_preprocess *pre, fgq_error *err)
{
    const fgq_ir_tensor *in = &fg->tensors[fg->inputs[0]];
    if (d->dims[0] < 1)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: no calibration samples%s%s", name, range ? " in range " : "",
                        range ? range : "");
    fgq_status st = fgq_data_prepare(d, name, in->rank, in->dims, pre, err);
    if (st != FGQ_OK)
        return st;
    if (fgq_dataset_sample_numel(d) != fgq_ir_tensor_numel(in))
        return fgq_fail(err, FGQ_ERR_SHAPE, "%s: a sample has %lld values but input '%s' takes %lld", name,
                        (long long)fgq_dataset_sample_numel(d), in->name, (long long)fgq_ir_tensor_numel(in));
    return FGQ_OK;
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
