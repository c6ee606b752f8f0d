/* quant_flags.c — the quantize flags, one parser; see quant_flags.h. */
#include "quant_flags.h"

#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fgq_quant_flags_init(fgq_quant_flags *f, int argc)
{
    memset(f, 0, sizeof *f);
    f->ov = calloc((size_t)(argc > 0 ? argc : 1), sizeof *f->ov);
    return f->ov != NULL;
}

void fgq_quant_flags_free(fgq_quant_flags *f)
{
    free(f->ov);
    memset(f, 0, sizeof *f);
}

int fgq_quant_flags_take(fgq_quant_flags *f, const char *cmd, int argc, char **argv, int *i, int *rc)
{
    static const char *const names[] = {"--calib",         "--calib-samples", "--weights", "--acts",
                                        "--observer",      "--first-last",    "--bias-correction",
                                        "--solver",        "--damp",          "--budget",  "--size",
                                        "--candidates",    "--equalize",      "--act-order",     "--sequential",
                                        "--depthwise",     "--budget-metric", "--refine",        "--io",
                                        "--output-layer",  "--keep-float",    "--layer"};
    const char *a = argv[*i];
    size_t which = sizeof names / sizeof names[0];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(a, names[k]) == 0)
            which = k;
    if (which == sizeof names / sizeof names[0])
        return 0;
    if (*i + 1 >= argc) {
        *rc = fgq_cli_usage_error(cmd, "%s needs a value", a);
        return -1;
    }
    char *v = argv[++*i];
    const char **slot[] = {&f->calib,    &f->calib_range, &f->weights, &f->acts,   &f->observer,
                           &f->first_last, &f->bias_correction, &f->solver, &f->damp, &f->budget,
                           &f->size,     &f->candidates, &f->equalize, &f->act_order, &f->sequential,
                           &f->depthwise, &f->budget_metric, &f->refine, &f->io, &f->output_layer};
    f->any = 1;
    if (which == 0) { /* --calib: FILE, or NAME=FILE once per model input */
        if (f->n_calib >= FGQ_QUANT_FLAGS_MAX_CALIB) {
            *rc = fgq_cli_usage_error(cmd, "at most %d --calib", FGQ_QUANT_FLAGS_MAX_CALIB);
            return -1;
        }
        f->calib_all[f->n_calib++] = v;
        f->calib = f->calib_all[0];
        return 1;
    }
    if (which < sizeof slot / sizeof slot[0]) {
        *slot[which] = v;
        return 1;
    }
    if (strcmp(a, "--keep-float") == 0) {
        f->ov[f->n_ov].node = v;
        f->ov[f->n_ov++].keep_float = 1;
        return 1;
    }
    /* --layer NODE=POLICY */
    char *eq = strrchr(v, '=');
    if (eq == NULL || eq == v) {
        *rc = fgq_cli_usage_error(cmd, "--layer '%s' is not NODE=POLICY", v);
        return -1;
    }
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_policy_parse(eq + 1, &f->ov[f->n_ov].policy, &err) != FGQ_OK) {
        *rc = fgq_cli_report(cmd, &err);
        return -1;
    }
    *eq = '\0'; /* NODE is v up to '=' */
    f->ov[f->n_ov++].node = v;
    return 1;
}

fgq_status fgq_quant_flags_config(const fgq_quant_flags *f, fgq_quant_config *cfg, fgq_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    fgq_status st;
    const int budget = f->budget != NULL || f->size != NULL;
    if (f->weights == NULL && !budget)
        return fgq_fail(err, FGQ_ERR_VALUE, "--weights is required");
    if ((st = fgq_policy_parse(f->weights != NULL ? f->weights : "s8", &cfg->weights, err)) != FGQ_OK ||
        (st = fgq_act_kind_parse(f->acts != NULL ? f->acts : "u8", &cfg->acts, err)) != FGQ_OK ||
        (st = fgq_observer_parse(f->observer != NULL ? f->observer : "minmax", &cfg->observer, err)) != FGQ_OK ||
        (f->bias_correction != NULL &&
         (st = fgq_bias_correction_parse(f->bias_correction, &cfg->bias_correction, err)) != FGQ_OK))
        return st;
    if (f->first_last == NULL) { /* a budget searches the first and last layers like the rest */
        cfg->edge_set = !budget && fgq_wq_below_8_bits(cfg->weights.kind);
        cfg->edge.kind = FGQ_WQ_S8;
        cfg->edge.solver = FGQ_TERNARY_EXACT;
    } else if (strcmp(f->first_last, "same") != 0) {
        if ((st = fgq_policy_parse(f->first_last, &cfg->edge, err)) != FGQ_OK)
            return st;
        cfg->edge_set = 1;
    }
    /* depthwise convolutions (K = the kernel's taps, 9 for 3x3) keep s8 under ternary and s4 weights by
     * default (what a budget picks for them; EfficientNet-Lite1 s4:g32: 87.6 % with them at s8 against
     * 86.5 % at s4, docs/accuracy-real.md) */
    if (f->depthwise == NULL) {
        cfg->dw_set = !budget && fgq_wq_below_8_bits(cfg->weights.kind);
        cfg->dw.kind = FGQ_WQ_S8;
        cfg->dw.solver = FGQ_TERNARY_EXACT;
    } else if (strcmp(f->depthwise, "same") != 0) {
        if ((st = fgq_policy_parse(f->depthwise, &cfg->dw, err)) != FGQ_OK)
            return st;
        cfg->dw_set = 1;
    }
    cfg->solver = f->calib != NULL ? FGQ_SOLVER_GPTQ : FGQ_SOLVER_RTN;
    if (f->solver != NULL && (st = fgq_weight_solver_parse(f->solver, &cfg->solver, err)) != FGQ_OK)
        return st;
    if (cfg->solver == FGQ_SOLVER_GPTQ && f->calib == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "--solver gptq measures the layer inputs on --calib samples");
    if (f->damp != NULL) {
        char *end = NULL;
        double d = strtod(f->damp, &end);
        if (end == f->damp || *end != '\0' || !(d > 0.0) || !(d <= 100.0))
            return fgq_fail(err, FGQ_ERR_VALUE, "--damp '%s': expected a number in (0, 100]", f->damp);
        if (cfg->solver != FGQ_SOLVER_GPTQ)
            return fgq_fail(err, FGQ_ERR_VALUE, "--damp is the gptq solver's damping (the solver is rtn)");
        cfg->damp = d;
    }
    cfg->act_order = 1; /* measured better (cmd_quantize.c --help) */
    if (f->act_order != NULL) {
        if (strcmp(f->act_order, "on") != 0 && strcmp(f->act_order, "off") != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "--act-order '%s': expected on or off", f->act_order);
        cfg->act_order = strcmp(f->act_order, "on") == 0;
    }
    cfg->refine = FGQ_REFINE_TERNARY; /* auto: top-1 measured better so (cmd_quantize.c --help) */
    if (f->refine != NULL) {
        if (strcmp(f->refine, "on") != 0 && strcmp(f->refine, "off") != 0 && strcmp(f->refine, "auto") != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "--refine '%s': expected on, off or auto", f->refine);
        cfg->refine = strcmp(f->refine, "on") == 0 ? 1 : strcmp(f->refine, "off") == 0 ? 0 : FGQ_REFINE_TERNARY;
        if (cfg->refine == 1 && cfg->solver != FGQ_SOLVER_GPTQ)
            return fgq_fail(err, FGQ_ERR_VALUE, "--refine refines the gptq solver's codes (the solver is rtn)");
    }
    cfg->sequential = FGQ_SEQ_AUTO;
    if (f->sequential != NULL) {
        if (strcmp(f->sequential, "on") != 0 && strcmp(f->sequential, "off") != 0 &&
            strcmp(f->sequential, "auto") != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "--sequential '%s': expected on, off or auto", f->sequential);
        cfg->sequential = strcmp(f->sequential, "on") == 0    ? FGQ_SEQ_ON
                          : strcmp(f->sequential, "off") == 0 ? FGQ_SEQ_OFF
                                                              : FGQ_SEQ_AUTO;
        if (cfg->sequential == FGQ_SEQ_ON && cfg->solver != FGQ_SOLVER_GPTQ)
            return fgq_fail(err, FGQ_ERR_VALUE, "--sequential on is a mode of the gptq solver (the solver is rtn)");
    }
    if (f->equalize != NULL) {
        if (strcmp(f->equalize, "on") != 0 && strcmp(f->equalize, "off") != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "--equalize '%s': expected on or off", f->equalize);
        cfg->equalize = strcmp(f->equalize, "on") == 0;
    }
    if (f->io != NULL) {
        if (strcmp(f->io, "float") != 0 && strcmp(f->io, "quantized") != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "--io '%s': expected float or quantized", f->io);
        cfg->io_quantized = strcmp(f->io, "quantized") == 0;
    }
    if (f->output_layer != NULL) {
        if (strcmp(f->output_layer, "float") != 0 && strcmp(f->output_layer, "quantized") != 0)
            return fgq_fail(err, FGQ_ERR_VALUE, "--output-layer '%s': expected float or quantized", f->output_layer);
        cfg->quantized_tail = strcmp(f->output_layer, "quantized") == 0;
        if (!cfg->quantized_tail && cfg->io_quantized)
            return fgq_fail(err, FGQ_ERR_VALUE,
                            "--output-layer float hands back float; --io quantized hands back codes (give one)");
        if (cfg->acts == FGQ_ACTS_DYNAMIC)
            return fgq_fail(err, FGQ_ERR_VALUE,
                            "--output-layer: under --acts dynamic every weight layer hands back float");
    }
    if (cfg->bias_correction == FGQ_BC_ON && f->calib == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "--bias-correction on measures the layer inputs on --calib samples");
    cfg->n_overrides = f->n_ov;
    cfg->overrides = f->ov;
    return fgq_quant_config_check(cfg, err);
}

void fgq_quant_flags_describe(const fgq_quant_flags *f, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    const char *names[] = {"--weights", "--acts",     "--observer",  "--first-last", "--bias-correction", "--solver",
                           "--damp",    "--act-order", "--sequential", "--equalize", "--budget", "--size",
                           "--candidates", "--budget-metric", "--depthwise", "--refine", "--io", "--output-layer"};
    const char *vals[] = {f->weights, f->acts,      f->observer,   f->first_last, f->bias_correction, f->solver,
                          f->damp,    f->act_order, f->sequential, f->equalize,   f->budget,          f->size,
                          f->candidates, f->budget_metric, f->depthwise, f->refine, f->io, f->output_layer};
    for (size_t k = 0; k < sizeof names / sizeof names[0] && used < len; k++)
        if (vals[k] != NULL)
            used += (size_t)snprintf(buf + used, len - used, "%s%s %s", used ? " " : "", names[k], vals[k]);
    for (int32_t k = 0; k < f->n_ov && used < len; k++) {
        char pol[48] = "";
        if (!f->ov[k].keep_float)
            fgq_policy_format(&f->ov[k].policy, pol, sizeof pol);
        used += (size_t)snprintf(buf + used, len - used, "%s%s %s%s%s", used ? " " : "",
                                 f->ov[k].keep_float ? "--keep-float" : "--layer", f->ov[k].node,
                                 f->ov[k].keep_float ? "" : "=", pol);
    }
}

fgq_status fgq_quant_flags_budget(const fgq_quant_flags *f, int *has, fgq_budget *b, fgq_error *err)
{
    memset(b, 0, sizeof *b);
    *has = f->budget != NULL || f->size != NULL;
    if (!*has) {
        if (f->candidates != NULL || f->budget_metric != NULL)
            return fgq_fail(err, FGQ_ERR_VALUE, "%s goes with --budget or --size",
                            f->candidates != NULL ? "--candidates" : "--budget-metric");
        return FGQ_OK;
    }
    if (f->budget != NULL && f->size != NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "give --budget or --size, not both");
    if (f->budget != NULL) {
        char *end = NULL;
        double v = strtod(f->budget, &end);
        if (end == f->budget || *end != '\0' || !(v > 0.0) || !(v <= 32.0))
            return fgq_fail(err, FGQ_ERR_VALUE, "--budget '%s': expected bits per weight in (0, 32]", f->budget);
        b->bits = v;
    } else {
        int64_t v = 0;
        if (!fgq_cli_parse_i64(f->size, 1, INT64_MAX / 16, &v))
            return fgq_fail(err, FGQ_ERR_VALUE, "--size '%s': expected a positive number of bytes", f->size);
        b->bytes = v;
    }
    if (f->calib == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "--budget and --size measure each layer on --calib samples");
    b->gain_samples = 64;
    if (f->budget_metric != NULL && fgq_budget_metric_parse(f->budget_metric, &b->metric, err) != FGQ_OK)
        return FGQ_ERR_VALUE;
    if (f->candidates != NULL)
        return fgq_budget_parse_candidates(f->candidates, b, err);
    fgq_budget_default_candidates(b);
    return FGQ_OK;
}
