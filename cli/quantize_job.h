/*
 * quantize_job.h — the steps of `fgq quantize` around the pipeline
 * (quant/pipeline.h) that do not depend on where the samples come from, so
 * the CLI (samples from a file) and the Python module (samples from an array)
 * make the same model from the same flags, byte for byte.
 */
#ifndef FGQ_CLI_QUANTIZE_JOB_H
#define FGQ_CLI_QUANTIZE_JOB_H

#include "data/data.h"
#include "graph.h"
#include "quant/pipeline.h"
#include "quant_flags.h"

/* The model checks made before any work: fg has one float32 input and the
 * preprocessing fits it (it is stored in the model even without samples).
 * `model` names the model in messages. */
fgq_status fgq_quantize_check_input(const fgq_graph *fg, const char *model, const fgq_preprocess *pre,
                                    fgq_error *err);

/* Fits loaded calibration samples d to fg's input (data.h fgq_data_prepare,
 * then pre) and checks a sample's size. `name` (the file) and `range` (may be
 * NULL) are for messages. FGQ_ERR_VALUE when d holds no sample. */
fgq_status fgq_quantize_fit_samples(fgq_dataset *d, const char *name, const char *range, const fgq_graph *fg,
                                    const fgq_preprocess *pre, fgq_error *err);

/* The preprocessing record the model stores (scale 0 is stored as 1). */
void fgq_quantize_meta(const fgq_preprocess *pre, fgq_model_preprocess *meta);

/* How the model was made, the text stored in it (fgq_model_get_recipe): the
 * flags, the sample count, each weight layer's policy, bits and solver, the
 * budget. malloc'd; NULL when out of memory. */
char *fgq_quantize_recipe(const fgq_quant_flags *qf, int64_t n_samples, const fgq_quant_result *res);

#endif /* FGQ_CLI_QUANTIZE_JOB_H */
