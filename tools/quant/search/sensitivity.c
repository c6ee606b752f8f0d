/* sensitivity.c — one weight layer quantized at a time, through the quantizer's per-layer overrides. */
#include "quant/search/sensitivity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fgq_status fgq_sensitivity_graph(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                                 const char *node, const fgq_policy *pol, fgq_graph **out, fgq_error *err)
{
    *out = NULL;
    int found = 0;
    for (int32_t i = 0; i < fg->n_nodes && !found; i++)
        found = strcmp(fg->nodes[i].name, node) == 0;
    if (!found)
        return fgq_fail(err, FGQ_ERR_VALUE, "sensitivity: no node named '%s'", node);
    /* cfg's overrides, then every other node float, then the layer's policy (later entries win) */
    int64_t n_ov = (int64_t)cfg->n_overrides + fg->n_nodes + 1;
    fgq_layer_override *ov = calloc((size_t)n_ov, sizeof *ov);
    if (ov == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "sensitivity: out of memory");
    int32_t k = 0;
    for (int32_t o = 0; o < cfg->n_overrides; o++)
        ov[k++] = cfg->overrides[o];
    for (int32_t i = 0; i < fg->n_nodes; i++) {
        if (strcmp(fg->nodes[i].name, node) == 0)
            continue;
        ov[k].node = fg->nodes[i].name;
        ov[k++].keep_float = 1;
    }
    ov[k].node = node;
    ov[k].keep_float = 0;
    ov[k++].policy = *pol;
    fgq_quant_config one = *cfg;
    one.overrides = ov;
    one.n_overrides = k;
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_status st = fgq_quantize_graph(fg, calib, &one, out, &rep, &n_rep, err);
    free(rep);
    free(ov);
    return st;
}

typedef struct {
    const fgq_compare_input *outer;
    int64_t offset, total;
} scan_progress;

static void on_layer_progress(void *user, int64_t done, int64_t total)
{
    scan_progress *p = user;
    (void)total;
    p->outer->progress(p->outer->user, p->offset + done, p->total);
}

const char *fgq_report_node(const fgq_graph *fg, const fgq_layer_report *r)
{
    for (int32_t i = 0; i < fg->n_nodes; i++) {
        char cut[sizeof r->name];
        snprintf(cut, sizeof cut, "%s", fg->nodes[i].name);
        if (strcmp(cut, r->name) == 0)
            return fg->nodes[i].name;
    }
    return NULL;
}

fgq_status fgq_sensitivity_scan(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                                const fgq_compare_input *in, int32_t threads, fgq_sensitivity_row **rows,
                                int32_t *n_rows, fgq_error *err)
{
    *rows = NULL;
    *n_rows = 0;
    if (in->float_out == NULL || in->layers)
        return fgq_fail(err, FGQ_ERR_VALUE, "sensitivity: needs the float model's outputs and no per-layer SQNR");
    fgq_graph *all = NULL;
    fgq_layer_report *rep = NULL;
    int32_t n_rep = 0;
    fgq_status st = fgq_quantize_graph(fg, calib, cfg, &all, &rep, &n_rep, err);
    fgq_graph_free(all);
    if (st != FGQ_OK)
        return st;
    int32_t n_layers = 0;
    for (int32_t L = 0; L < n_rep; L++)
        n_layers += rep[L].has_weights && rep[L].quantized;
    fgq_sensitivity_row *out = calloc((size_t)(n_layers > 0 ? n_layers : 1), sizeof *out);
    if (out == NULL) {
        free(rep);
        return fgq_fail(err, FGQ_ERR_NOMEM, "sensitivity: out of memory");
    }
    scan_progress sp = {in, 0, (int64_t)n_layers * in->n_samples};
    fgq_compare_input one = *in;
    if (in->progress != NULL) {
        one.progress = on_layer_progress;
        one.user = &sp;
    }
    int32_t k = 0;
    for (int32_t L = 0; L < n_rep && st == FGQ_OK; L++) {
        const fgq_layer_report *r = &rep[L];
        if (!r->has_weights || !r->quantized)
            continue;
        const char *node = fgq_report_node(fg, r);
        fgq_policy pol;
        if (node == NULL)
            st = fgq_fail(err, FGQ_ERR_VALUE, "sensitivity: layer '%s' is not a node of the model", r->name);
        if (st == FGQ_OK)
            st = fgq_policy_parse(r->policy, &pol, err);
        fgq_graph *qg = NULL;
        if (st == FGQ_OK)
            st = fgq_sensitivity_graph(fg, calib, cfg, node, &pol, &qg, err);
        fgq_graph_runner qr;
        memset(&qr, 0, sizeof qr);
        if (st == FGQ_OK)
            st = fgq_graph_runner_init(&qr, qg, err);
        fgq_graph_free(qg);
        if (st == FGQ_OK && threads > 1)
            st = fgq_graph_runner_set_threads(&qr, threads, err);
        fgq_compare_result res;
        memset(&res, 0, sizeof res);
        if (st == FGQ_OK)
            st = fgq_compare_run(NULL, &qr, &one, &res, err);
        fgq_graph_runner_free(&qr);
        if (st == FGQ_OK) {
            fgq_sensitivity_row *row = &out[k++];
            snprintf(row->name, sizeof row->name, "%s", r->name);
            snprintf(row->op, sizeof row->op, "%s", r->op);
            snprintf(row->policy, sizeof row->policy, "%s", r->policy);
            row->top1 = res.top1[1];
            row->top5 = res.top5[1];
            row->agree = res.agree;
            row->out_sqnr_db = fgq_compare_sqnr_db(res.out_sig, res.out_noise);
        }
        fgq_compare_result_free(&res);
        sp.offset += in->n_samples;
    }
    free(rep);
    if (st != FGQ_OK) {
        free(out);
        return st;
    }
    *rows = out;
    *n_rows = k;
    return FGQ_OK;
}
