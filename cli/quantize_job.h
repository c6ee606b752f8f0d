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

/* The model checks made before any work: every input of fg is float32 or an
 * integer dtype fed as it is (u8, s8, s32, s64, bool: token ids, masks), at
 * most FGQ_SAMPLES_MAX_INPUTS of them, and the preprocessing fits every
 * float32 input (it is stored in the model even without samples, and `fgq
 * run` / `eval` apply it to float inputs only). `model` names the model in
 * messages. */
fgq_status fgq_quantize_check_input(const fgq_graph *fg, const char *model, const fgq_preprocess *pre,
                                    fgq_error *err);

/* Calibration samples of every model input, and the run_graph.h view of them
 * the pipeline takes. d[k]: graph input k's samples as float32 (data.h),
 * fitted to the input (layout as fgq_data_prepare; float32 inputs normalised
 * by the preprocessing, integer inputs never); typed[k]: the same values in
 * the input's dtype when it is not float32 (owned). source[k] names where
 * they came from in messages. samples.n == 0: no samples. */
typedef struct {
    fgq_dataset d[FGQ_SAMPLES_MAX_INPUTS];
    void *typed[FGQ_SAMPLES_MAX_INPUTS];
    char source[FGQ_SAMPLES_MAX_INPUTS][320];
    fgq_samples samples;
} fgq_calib_set;

/* Resolves the --calib values against fg's inputs and loads them, each with
 * the sample range `range` (may be NULL), then fgq_calib_set_fit. Forms:
 * one FILE (a one-input model: as `fgq eval` reads it; several inputs: a .npz,
 * maybe gzipped, with one array per input name), or NAME=FILE once per input
 * (NAME: the longest text before an '=' that is an input name; FILE read as
 * the one-input form, but from an archive the array NAME or NAME.npy, or its
 * only array). n_calib 0: no samples. Every bad combination (an unknown name,
 * a name twice, a missing input, NAME= without a file, a missing .npz key,
 * sample counts that differ) is FGQ_ERR_VALUE naming the file or the input. */
fgq_status fgq_calib_set_load(fgq_calib_set *cs, const fgq_graph *fg, const char *const *calib, int32_t n_calib,
                              const char *range, const fgq_preprocess *pre, fgq_error *err);

/* With cs->d[k] and cs->source[k] filled for every input k of fg (loaded, not
 * yet fitted): fits each to its input, checks that every input has the same
 * samples (count, and count in the file), converts integer inputs to their
 * dtype and binds cs->samples. `range` is for messages. */
fgq_status fgq_calib_set_fit(fgq_calib_set *cs, const fgq_graph *fg, const char *range, const fgq_preprocess *pre,
                             fgq_error *err);
void fgq_calib_set_free(fgq_calib_set *cs);

/* The preprocessing record the model stores (scale 0 is stored as 1). */
void fgq_quantize_meta(const fgq_preprocess *pre, fgq_model_preprocess *meta);

/* How the model was made, the text stored in it (fgq_model_get_recipe): the
 * flags, the sample count, each weight layer's policy, bits and solver, the
 * budget. malloc'd; NULL when out of memory. */
char *fgq_quantize_recipe(const fgq_quant_flags *qf, int64_t n_samples, const fgq_quant_result *res);

#endif /* FGQ_CLI_QUANTIZE_JOB_H */
