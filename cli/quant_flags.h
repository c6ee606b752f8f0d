/*
 * quant_flags.h — the quantize flags, parsed once for every command that
 * quantizes (`fgq quantize`, `fgq eval --sensitivity`): --calib (repeatable),
 * --calib-samples, --weights, --acts, --observer, --first-last,
 * --bias-correction, --solver, --damp, --act-order, --refine, --sequential, --equalize, --budget, --size, --candidates,
 * --budget-metric, --io, --output-layer,
 * --keep-float, --layer. The values stay text until fgq_quant_flags_config
 * turns them into a fgq_quant_config, with the defaults `fgq quantize --help`
 * states.
 */
#ifndef FGQ_CLI_QUANT_FLAGS_H
#define FGQ_CLI_QUANT_FLAGS_H

#include "quant/search/budget.h"
#include "quant/quantize.h"

#define FGQ_QUANT_FLAGS_MAX_CALIB 16

typedef struct {
    /* calib: the first --calib value (NULL: none); calib_all: every one, in order (one per model input
     * as NAME=FILE, or one FILE; quantize_job.h resolves them) */
    const char *calib_all[FGQ_QUANT_FLAGS_MAX_CALIB];
    int32_t n_calib;
    const char *calib, *calib_range, *weights, *acts, *observer, *first_last, *bias_correction, *solver, *damp,
        *equalize, *act_order, *refine, *sequential, *depthwise;
    const char *budget, *size, *candidates, *budget_metric, *io, *output_layer;
    fgq_layer_override *ov; /* argc entries */
    int32_t n_ov;
    int any;                /* some flag was given */
} fgq_quant_flags;

/* 0 on out of memory. */
int fgq_quant_flags_init(fgq_quant_flags *f, int argc);
void fgq_quant_flags_free(fgq_quant_flags *f);

/* If argv[*i] is a quantize flag, takes it and its value (advancing *i) and
 * returns 1; returns 0 for any other argument; -1 after printing a usage
 * error for `cmd` (*rc then holds the exit code). argv must be writable. */
int fgq_quant_flags_take(fgq_quant_flags *f, const char *cmd, int argc, char **argv, int *i, int *rc);

/* The configuration the flags describe. Defaults: acts u8, observer minmax,
 * first/last s8 for s4 and ternary weights, bias correction per quantize.h,
 * solver gptq when there are calibration samples (rtn otherwise), damping
 * chosen per layer. FGQ_ERR_VALUE with a message for a bad value. */
fgq_status fgq_quant_flags_config(const fgq_quant_flags *f, fgq_quant_config *cfg, fgq_error *err);

/* --budget B | --size BYTES [--candidates LIST] [--budget-metric M] into *b;
 * *has 0 when neither is given. FGQ_ERR_VALUE for a bad value (a budget <= 0,
 * both given, an unknown candidate or metric, no --calib). */
fgq_status fgq_quant_flags_budget(const fgq_quant_flags *f, int *has, fgq_budget *b, fgq_error *err);

/* The flags as one line of text, as given (for the model's record). */
void fgq_quant_flags_describe(const fgq_quant_flags *f, char *buf, size_t len);

#endif /* FGQ_CLI_QUANT_FLAGS_H */
