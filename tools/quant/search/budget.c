/* budget.c — per-layer precision under a size budget; see budget.h. */
#include "quant/search/budget.h"

#include "run/run_graph.h"
#include "quant/search/sensitivity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fgq_budget_default_candidates(fgq_budget *b)
{
    static const char *const names[] = {"ternary:g4:exact", "ternary:g16:exact", "ternary:g64:exact",
                                        "ternary:g4:asym",  "ternary:g16:asym",  "ternary:g64:asym",
                                        "s2:g16",           "s2:g64",
                                        "s3",               "s3:g32",           "s3:g64",
                                        "s4",               "s4:g32",           "s4:g64",
                                        "s4:g128",          "s8"};
    fgq_error e;
    b->n_candidates = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (fgq_policy_parse(names[i], &b->candidates[b->n_candidates], &e) == FGQ_OK)
            b->n_candidates++;
}

fgq_status fgq_budget_parse_candidates(const char *text, fgq_budget *b, fgq_error *err)
{
    b->n_candidates = 0;
    const char *p = text;
    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char one[64];
        if (len == 0 || len >= sizeof one)
            return fgq_fail(err, FGQ_ERR_VALUE, "--candidates '%s': expected policies separated by commas", text);
        memcpy(one, p, len);
        one[len] = '\0';
        if (b->n_candidates >= FGQ_BUDGET_MAX_CANDIDATES)
            return fgq_fail(err, FGQ_ERR_VALUE, "--candidates: at most %d policies", FGQ_BUDGET_MAX_CANDIDATES);
        fgq_policy *pol = &b->candidates[b->n_candidates];
        fgq_status st = fgq_policy_parse(one, pol, err);
        if (st != FGQ_OK)
            return st;
        if (pol->kind == FGQ_WQ_F32 || pol->kind == FGQ_WQ_U8)
            return fgq_fail(err, FGQ_ERR_VALUE, "--candidates: '%s' is not a candidate (s8, s8:gN, s4:gN, ternary:gN)",
                            one);
        b->n_candidates++;
        p = comma != NULL ? comma + 1 : NULL;
    }
    if (b->n_candidates == 0)
        return fgq_fail(err, FGQ_ERR_VALUE, "--candidates: no policy given");
    return FGQ_OK;
}

const char *fgq_budget_metric_name(fgq_budget_metric m)
{
    return m == FGQ_BUDGET_METRIC_KL ? "kl" : m == FGQ_BUDGET_METRIC_MSE ? "mse" : "auto";
}

fgq_status fgq_budget_metric_parse(const char *text, fgq_budget_metric *m, fgq_error *err)
{
    static const fgq_budget_metric all[] = {FGQ_BUDGET_METRIC_AUTO, FGQ_BUDGET_METRIC_MSE, FGQ_BUDGET_METRIC_KL};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        if (strcmp(text, fgq_budget_metric_name(all[k])) == 0) {
            *m = all[k];
            return FGQ_OK;
        }
    return fgq_fail(err, FGQ_ERR_VALUE, "--budget-metric '%s': expected auto, mse or kl", text);
}

/* The node that gives tensor t its values, through ops that only reshape. */
static const fgq_ir_node *value_producer(const fgq_graph *fg, int32_t t)
{
    static const char *const shape_only[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    for (int32_t hops = 0; hops <= fg->n_nodes && t >= 0 && fg->tensors[t].producer >= 0; hops++) {
        const fgq_ir_node *n = &fg->nodes[fg->tensors[t].producer];
        int pass = 0;
        for (size_t k = 0; k < sizeof shape_only / sizeof shape_only[0]; k++)
            pass |= fgq_node_is(n, shape_only[k]);
        if (!pass || n->n_inputs < 1)
            return n;
        t = n->inputs[0];
    }
    return NULL;
}

fgq_budget_metric fgq_budget_metric_resolve(const fgq_graph *fg, fgq_budget_metric m, int64_t *rows,
                                            int64_t *classes, int *probs)
{
    *rows = 1;
    *classes = 0;
    *probs = 0;
    if (fg->n_outputs < 1)
        return FGQ_BUDGET_METRIC_MSE;
    const fgq_ir_tensor *y = &fg->tensors[fg->outputs[0]];
    const int64_t numel = y->rank >= 0 ? fgq_ir_tensor_numel(y) : 0;
    *classes = numel;
    const fgq_ir_node *p = value_producer(fg, fg->outputs[0]);
    const int soft = p != NULL && fgq_node_is(p, "Softmax"), logsoft = p != NULL && fgq_node_is(p, "LogSoftmax");
    /* the class axis: a softmax's last one (opset >= 13; a flattened 2-D view before), else the one
     * dimension above 1 */
    int64_t c = 0, above = 0;
    for (int32_t d = 0; d < y->rank; d++)
        if (y->dims[d] > 1) {
            above++;
            c = y->dims[d];
        }
    if ((soft || logsoft) && y->rank >= 1)
        c = y->dims[y->rank - 1];
    int scores = numel >= 2 && c >= 2 && numel % c == 0 && (soft || logsoft || above == 1);
    for (int32_t i = 0; scores && !soft && !logsoft && i < fg->n_inputs; i++) {
        const fgq_ir_tensor *x = &fg->tensors[fg->inputs[i]];
        scores = !(x->rank >= 0 && fgq_ir_tensor_numel(x) == numel);
    }
    if (m == FGQ_BUDGET_METRIC_AUTO)
        m = scores ? FGQ_BUDGET_METRIC_KL : FGQ_BUDGET_METRIC_MSE;
    if (m == FGQ_BUDGET_METRIC_KL) {
        /* kl asked of something that is not class scores reads the whole output as one row */
        *classes = scores ? c : numel;
        *rows = scores ? numel / c : 1;
        *probs = scores && soft;
    }
    return m;
}

/* A class's score as kl reads it: a logit, or the log of a probability (floored) */
static double score(const float *v, int64_t i, int probs)
{
    return probs ? log(fmax((double)v[i], 1e-9)) : (double)v[i];
}

/* log Σ exp(score): the log-softmax's normaliser, shifted by the largest score */
static double log_norm(const float *v, int64_t n, int probs)
{
    double mx = -INFINITY, z = 0.0;
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, score(v, i, probs));
    for (int64_t i = 0; i < n; i++)
        z += exp(score(v, i, probs) - mx);
    return mx + log(z);
}

void fgq_budget_sample_noise(fgq_budget_metric m, int64_t rows, int64_t classes, int probs, const float *y,
                             const float *yq, double *sig, double *noise)
{
    if (m != FGQ_BUDGET_METRIC_KL) {
        for (int64_t i = 0; i < rows * classes; i++) {
            const double d = (double)y[i] - (double)yq[i];
            *sig += (double)y[i] * y[i];
            *noise += d * d;
        }
        return;
    }
    /* With d = s_a − s_b (scores) and p = softmax(s_a): KL = Σ p d + log Σ p e^(−d) = log Σ p e^(−c),
     * c = d − Σ p d. Summed as log1p(Σ p expm1(−c)), whose terms are second order in c, where
     * Σ p·(la − lb) cancels its first-order terms in rounding: a layer at s8 moves the scores by
     * 1e-5, and the difference form read KL <= 0 for every sample of it. */
    for (int64_t r = 0; r < rows; r++) {
        const float *a = y + r * classes, *b = yq + r * classes;
        const double na = log_norm(a, classes, probs);
        double ps = 0.0, mu = 0.0, s = 0.0;
        for (int64_t i = 0; i < classes; i++) {
            const double p = exp(score(a, i, probs) - na);
            ps += p;
            mu += p * (score(a, i, probs) - score(b, i, probs));
        }
        mu /= ps;
        for (int64_t i = 0; i < classes; i++) {
            const double p = exp(score(a, i, probs) - na), c = score(a, i, probs) - score(b, i, probs) - mu;
            s += p * expm1(-c);
        }
        *sig += 1.0;
        *noise += fmax(log1p(s / ps), 0.0); /* >= 0 but for rounding */
    }
}

void fgq_budget_result_free(fgq_budget_result *res)
{
    free(res->layers);
    free(res->overrides);
    memset(res, 0, sizeof *res);
}

static int32_t find_layer(const fgq_budget_result *res, const char *node)
{
    for (int32_t l = 0; l < res->n_layers; l++)
        if (strcmp(res->layers[l].node, node) == 0)
            return l;
    return -1;
}

/* With one candidate the reported policies cannot tell a layer the flags fix (--layer,
 * --first-last, --depthwise) from one that follows the candidate: a layer is searched when its
 * policy follows the configuration's weights (two different weights give two policies). Marking
 * every layer searched would append an override for it after the flags' own and replace them. */
static void mark_followers(const fgq_graph *fg, const fgq_quant_config *cfg, const fgq_policy *cand,
                           fgq_budget_result *res)
{
    fgq_quant_config a = *cfg, z = *cfg;
    a.weights = *cand;
    fgq_error e;
    const char *other = cand->kind == FGQ_WQ_S8 && cand->group == 0 ? "ternary:g4" : "s8";
    if (fgq_policy_parse(other, &z.weights, &e) != FGQ_OK)
        return;
    for (int32_t l = 0; l < res->n_layers; l++)
        for (int32_t i = 0; i < fg->n_nodes; i++) {
            if (fg->nodes[i].name == NULL || strcmp(fg->nodes[i].name, res->layers[l].node) != 0)
                continue;
            fgq_policy pa, pz;
            char sa[40] = "", sz[40] = "";
            if (fgq_quant_layer_policy(fg, &a, i, &pa) && fgq_quant_layer_policy(fg, &z, i, &pz)) {
                fgq_policy_format(&pa, sa, sizeof sa);
                fgq_policy_format(&pz, sz, sizeof sz);
            }
            res->layers[l].searched = strcmp(sa, sz) != 0;
            break;
        }
}

/* One quantization of the whole model per candidate: e_l(c), bytes, and
 * which layers the flags fix (the same policy whatever the candidate). */
static fgq_status measure_candidates(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                                     const fgq_budget *b, const fgq_stage_progress *p, fgq_budget_result *res,
                                     char (*first_policy)[40], fgq_error *err)
{
    if (p != NULL && p->begin != NULL)
        p->begin(p->user, "budget: candidates", b->n_candidates);
    fgq_status st = FGQ_OK;
    for (int32_t c = 0; c < b->n_candidates && st == FGQ_OK; c++) {
        fgq_quant_config one = *cfg;
        one.weights = b->candidates[c];
        fgq_graph *qg = NULL;
        fgq_layer_report *rep = NULL;
        int32_t n_rep = 0;
        st = fgq_quantize_graph(fg, calib, &one, &qg, &rep, &n_rep, err);
        fgq_graph_free(qg);
        if (st != FGQ_OK) {
            char pol[40];
            fgq_policy_format(&b->candidates[c], pol, sizeof pol);
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            fgq_error_clear(err);
            st = fgq_fail(err, st, "budget: candidate %s: %s", pol, msg);
            break;
        }
        if (c == 0) {
            int32_t n = 0;
            for (int32_t L = 0; L < n_rep; L++)
                n += rep[L].has_weights && rep[L].quantized;
            res->layers = calloc((size_t)(n > 0 ? n : 1), sizeof *res->layers);
            if (res->layers == NULL) {
                free(rep);
                return fgq_fail(err, FGQ_ERR_NOMEM, "budget: out of memory");
            }
        }
        for (int32_t L = 0; L < n_rep && st == FGQ_OK; L++) {
            const fgq_layer_report *r = &rep[L];
            if (!r->has_weights || !r->quantized)
                continue;
            const char *node = fgq_report_node(fg, r);
            if (node == NULL) {
                st = fgq_fail(err, FGQ_ERR_VALUE, "budget: layer '%s' is not a node of the model", r->name);
                break;
            }
            int32_t l = find_layer(res, node);
            if (l < 0) {
                if (c != 0) { /* every candidate quantizes the same layers */
                    st = fgq_fail(err, FGQ_ERR_VALUE, "budget: layer '%s' appears with one candidate only", node);
                    break;
                }
                l = res->n_layers++;
                snprintf(res->layers[l].node, sizeof res->layers[l].node, "%s", node);
                res->layers[l].n_weights = r->n_weights;
                res->layers[l].searched = 0;
                snprintf(first_policy[l], sizeof first_policy[l], "%s", r->policy);
            } else if (strcmp(first_policy[l], r->policy) != 0) {
                res->layers[l].searched = 1;
            }
            fgq_budget_layer *bl = &res->layers[l];
            bl->bytes[c] = (int64_t)llround(r->bits * (double)r->n_weights / 8.0);
            const double db = isnan(r->out_sqnr_db) ? r->weight_sqnr_db : r->out_sqnr_db;
            const double held = isnan(r->heldout_sqnr_db) ? db : r->heldout_sqnr_db;
            bl->err_fit[c] = isinf(db) && db > 0 ? 0.0 : pow(10.0, -db / 10.0);
            bl->err[c] = isinf(held) && held > 0 ? 0.0 : pow(10.0, -held / 10.0);
        }
        free(rep);
        if (p != NULL && p->update != NULL)
            p->update(p->user, c + 1, b->n_candidates);
    }
    if (p != NULL && p->end != NULL)
        p->end(p->user);
    if (b->n_candidates == 1 && st == FGQ_OK)
        mark_followers(fg, cfg, &b->candidates[0], res);
    return st;
}

static int32_t cheapest(const fgq_budget_layer *l, int32_t n_cand)
{
    int32_t best = 0;
    for (int32_t c = 1; c < n_cand; c++)
        if (l->bytes[c] < l->bytes[best] || (l->bytes[c] == l->bytes[best] && l->err[c] < l->err[best]))
            best = c;
    return best;
}

/* The candidate g_l is measured at: the least e_l after the best one (the most precise below
 * the top: s4:g32 when s8 is the best), where the layer's error is small enough for the output
 * to respond linearly; the cheapest when there is none. At the cheapest (ternary:g64) the
 * output error of a sensitive layer saturates and its gain reads low: EfficientNet-Lite1's
 * classifier measured 1.19 there and 1.76 at s4:g32. */
static int32_t probe(const fgq_budget_layer *l, int32_t n_cand)
{
    int32_t best = -1, second = -1;
    for (int32_t c = 0; c < n_cand; c++) {
        if (best < 0 || l->err_fit[c] < l->err_fit[best]) {
            second = best;
            best = c;
        } else if (second < 0 || l->err_fit[c] < l->err_fit[second]) {
            second = c;
        }
    }
    return second >= 0 && l->err_fit[second] > 0.0 ? second : cheapest(l, n_cand);
}

/* g_l: output noise of the layer alone at its probe candidate over its e_l there. */
static fgq_status measure_gains(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                                const fgq_samples *samples, const fgq_budget *b, int64_t rows, int64_t classes,
                                int probs, const fgq_stage_progress *p, fgq_budget_result *res, fgq_error *err)
{
    const int64_t n = samples->n;
    const int64_t m = b->gain_samples > 0 && b->gain_samples < n ? b->gain_samples : n;
    int32_t n_searched = 0;
    for (int32_t l = 0; l < res->n_layers; l++)
        n_searched += res->layers[l].searched;
    if (n_searched == 0)
        return FGQ_OK;
    fgq_graph_runner fr;
    memset(&fr, 0, sizeof fr);
    fgq_status st = fgq_graph_runner_init(&fr, fg, err);
    if (st != FGQ_OK)
        return st;
    fgq_tensor_info oi;
    fgq_model_output_info(&fr.model, 0, &oi);
    const void *x[FGQ_SAMPLES_MAX_INPUTS];
    const int64_t per_out = (int64_t)(oi.size_bytes / sizeof(float));
    if (rows * classes != per_out) { /* the graph's shape is not the runtime's: one row of all */
        rows = 1;
        classes = per_out;
        probs = 0;
    }
    float *yf = malloc((size_t)(m * per_out) * sizeof(float));
    float **outs = calloc((size_t)fg->n_outputs, sizeof *outs);
    if (yf == NULL || outs == NULL)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "budget: out of memory");
    for (int32_t o = 0; st == FGQ_OK && o < fg->n_outputs; o++) {
        fgq_tensor_info info;
        fgq_model_output_info(&fr.model, o, &info);
        if ((outs[o] = malloc((size_t)info.size_bytes + 1)) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "budget: out of memory");
    }
    for (int64_t s = 0; st == FGQ_OK && s < m; s++) {
        fgq_samples_at(samples, s, x);
        if ((st = fgq_graph_runner_run(&fr, (const float *const *)x, outs, NULL, NULL, err)) == FGQ_OK)
            memcpy(yf + s * per_out, outs[0], (size_t)per_out * sizeof(float));
    }
    fgq_graph_runner_free(&fr);
    if (p != NULL && p->begin != NULL)
        p->begin(p->user, "budget: layer gains", (int64_t)n_searched * m);
    int64_t done = 0;
    for (int32_t l = 0; l < res->n_layers && st == FGQ_OK; l++) {
        fgq_budget_layer *bl = &res->layers[l];
        if (!bl->searched)
            continue;
        const int32_t c = probe(bl, b->n_candidates);
        fgq_graph *qg = NULL;
        fgq_graph_runner qr;
        memset(&qr, 0, sizeof qr);
        st = fgq_sensitivity_graph(fg, calib, cfg, bl->node, &b->candidates[c], &qg, err);
        if (st == FGQ_OK)
            st = fgq_graph_runner_init(&qr, qg, err);
        fgq_graph_free(qg);
        double sig = 0.0, noise = 0.0;
        for (int64_t s = 0; st == FGQ_OK && s < m; s++) {
            fgq_samples_at(samples, s, x);
            if ((st = fgq_graph_runner_run(&qr, (const float *const *)x, outs, NULL, NULL, err)) != FGQ_OK)
                break;
            fgq_budget_sample_noise(res->metric, rows, classes, probs, yf + s * per_out, outs[0], &sig, &noise);
            if (p != NULL && p->update != NULL)
                p->update(p->user, ++done, (int64_t)n_searched * m);
        }
        fgq_graph_runner_free(&qr);
        const double ratio = sig > 0.0 ? noise / sig : 0.0;
        bl->gain = bl->err_fit[c] > 0.0 ? ratio / bl->err_fit[c] : 1.0;
    }
    if (p != NULL && p->end != NULL)
        p->end(p->user);
    for (int32_t o = 0; outs != NULL && o < fg->n_outputs; o++)
        free(outs[o]);
    free(outs);
    free(yf);
    return st;
}

/* The choices of the searched layers that add the least predicted noise Σ g_l·e_l(c) within
 * `limit` bytes (the fixed layers' bytes included): a multiple-choice knapsack solved exactly by
 * dynamic programming over the bytes a choice adds to its layer's cheapest, in units of
 * u = ⌈spare / ALLOC_UNITS⌉ (spare: the limit less the fixed layers and every searched layer at
 * its cheapest), each choice costing ⌈added / u⌉ units, so what it picks never exceeds the limit
 * and the all-cheapest start always fits (it may leave up to u bytes per layer unspent, which
 * the greedy pass after it fills). Units of the whole capacity instead would be as coarse as the
 * spare itself on a large model with a tight budget (12 MB at 400 bytes over the cheapest: 733
 * bytes a unit), and no assignment would fit. A greedy pass alone, upgrading by drop per byte,
 * stalls before a large layer: on EfficientNet-Lite1 at 4 bits it spent the bytes on small
 * upgrades and left the 1.28 M-weight classifier ternary. Starts from and updates each layer's
 * choice and *bytes. */
#define ALLOC_UNITS 16384
static fgq_status knapsack(fgq_budget_result *res, int32_t n_cand, int64_t limit, int64_t *bytes, fgq_error *err)
{
    int64_t fixed = 0, lo = 0;
    int32_t n = 0;
    for (int32_t l = 0; l < res->n_layers; l++) {
        const fgq_budget_layer *bl = &res->layers[l];
        if (bl->searched) {
            n++;
            lo += bl->bytes[cheapest(bl, n_cand)];
        } else {
            fixed += bl->bytes[bl->choice];
        }
    }
    const int64_t spare = limit - fixed - lo;
    if (n == 0 || spare < 0)
        return FGQ_OK;
    const int64_t u = spare > ALLOC_UNITS ? (spare + ALLOC_UNITS - 1) / ALLOC_UNITS : 1, nb = spare / u + 1;
    double *dp = malloc((size_t)nb * sizeof(double)), *next = malloc((size_t)nb * sizeof(double));
    uint8_t *pick = malloc((size_t)(n * nb));
    if (dp == NULL || next == NULL || pick == NULL) {
        free(dp);
        free(next);
        free(pick);
        return fgq_fail(err, FGQ_ERR_NOMEM, "budget: out of memory");
    }
    for (int64_t x = 0; x < nb; x++)
        dp[x] = 0.0; /* no layer yet: nothing spent, no noise, for any capacity */
    int32_t i = 0;
    for (int32_t l = 0; l < res->n_layers; l++) {
        const fgq_budget_layer *bl = &res->layers[l];
        if (!bl->searched)
            continue;
        const int64_t base = bl->bytes[cheapest(bl, n_cand)];
        uint8_t *pl = pick + (int64_t)i * nb;
        for (int64_t x = 0; x < nb; x++) {
            double best = INFINITY;
            uint8_t bc = 0;
            for (int32_t c = 0; c < n_cand; c++) {
                const int64_t cost = (bl->bytes[c] - base + u - 1) / u;
                if (cost > x || !(dp[x - cost] < INFINITY))
                    continue;
                const double v = dp[x - cost] + bl->gain * bl->err[c];
                if (v < best) {
                    best = v;
                    bc = (uint8_t)c;
                }
            }
            next[x] = best;
            pl[x] = bc;
        }
        double *t = dp;
        dp = next;
        next = t;
        i++;
    }
    /* back from full capacity (always finite: every layer's cheapest costs 0 units) */
    int64_t x = nb - 1;
    for (int32_t l = res->n_layers - 1; l >= 0; l--) {
        fgq_budget_layer *bl = &res->layers[l];
        if (!bl->searched)
            continue;
        const int32_t c = pick[(int64_t)--i * nb + x];
        x -= (bl->bytes[c] - bl->bytes[cheapest(bl, n_cand)] + u - 1) / u;
        *bytes += bl->bytes[c] - bl->bytes[bl->choice];
        bl->choice = c;
    }
    free(dp);
    free(next);
    free(pick);
    return FGQ_OK;
}

fgq_status fgq_budget_allocate(fgq_budget_result *res, int32_t n_cand, int64_t limit, int64_t *bytes, fgq_error *err)
{
    fgq_status st = knapsack(res, n_cand, limit, bytes, err);
    if (st != FGQ_OK)
        return st;
    /* greedy upgrades into what is left: the largest drop of predicted output noise per added byte
     * that fits */
    while (1) {
        int32_t bl_best = -1, c_best = -1;
        double best = 0.0;
        for (int32_t l = 0; l < res->n_layers; l++) {
            const fgq_budget_layer *bl = &res->layers[l];
            if (!bl->searched)
                continue;
            const double now = bl->gain * bl->err[bl->choice];
            for (int32_t c = 0; c < n_cand; c++) {
                const int64_t add = bl->bytes[c] - bl->bytes[bl->choice];
                const double drop = now - bl->gain * bl->err[c];
                if (drop <= 0.0 || *bytes + add > limit)
                    continue;
                const double ratio = add > 0 ? drop / (double)add : INFINITY; /* no dearer: always */
                if (ratio > best) {
                    best = ratio;
                    bl_best = l;
                    c_best = c;
                }
            }
        }
        if (bl_best < 0)
            break;
        fgq_budget_layer *bl = &res->layers[bl_best];
        *bytes += bl->bytes[c_best] - bl->bytes[bl->choice];
        bl->choice = c_best;
    }
    return FGQ_OK;
}

fgq_status fgq_budget_search(const fgq_graph *fg, const fgq_calib *calib, const fgq_quant_config *cfg,
                             const fgq_samples *samples, const fgq_budget *b, const fgq_stage_progress *progress,
                             fgq_budget_result *res, fgq_error *err)
{
    const int64_t n = samples->n;
    memset(res, 0, sizeof *res);
    int64_t rows = 0, classes = 0;
    int probs = 0;
    res->metric = fgq_budget_metric_resolve(fg, b->metric, &rows, &classes, &probs);
    if (b->n_candidates < 1 || b->n_candidates > FGQ_BUDGET_MAX_CANDIDATES)
        return fgq_fail(err, FGQ_ERR_VALUE, "budget: %d candidates (1..%d)", (int)b->n_candidates,
                        FGQ_BUDGET_MAX_CANDIDATES);
    if (!(b->bits > 0.0) && !(b->bytes > 0))
        return fgq_fail(err, FGQ_ERR_VALUE, "budget: give a positive size or bits per weight");
    if (n < 1)
        return fgq_fail(err, FGQ_ERR_VALUE, "budget: the search measures layers on calibration samples (none given)");
    char(*first_policy)[40] = calloc((size_t)(fg->n_nodes > 0 ? fg->n_nodes : 1), sizeof *first_policy);
    if (first_policy == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "budget: out of memory");
    /* Candidates are priced by GPTQ alone; the refinement (cfg->refine) runs once the policies are
     * chosen. It lowers the low-bit candidates' held-out error more than the others', and with it
     * in the prices EfficientNet-Lite1 took more 3-bit layers and lost 8 of 800 images at --budget 4
     * (88.12 -> 87.12 %, docs/accuracy-real.md); priced without it, the same allocation refined
     * gave 87.88 % with a higher output SQNR (11.37 -> 11.53 dB). */
    fgq_quant_config priced = *cfg;
    priced.refine = 0;
    cfg = &priced;
    fgq_status st = measure_candidates(fg, calib, cfg, b, progress, res, first_policy, err);
    free(first_policy);
    if (st == FGQ_OK && res->n_layers == 0)
        st = fgq_fail(err, FGQ_ERR_VALUE, "budget: the model has no quantized weight layer");
    /* the limit, and the cheapest assignment */
    int64_t weights = 0, bytes = 0;
    for (int32_t l = 0; st == FGQ_OK && l < res->n_layers; l++) {
        fgq_budget_layer *bl = &res->layers[l];
        bl->choice = cheapest(bl, b->n_candidates);
        weights += bl->n_weights;
        bytes += bl->bytes[bl->choice];
    }
    int64_t limit = 0;
    if (st == FGQ_OK) {
        limit = b->bytes > 0 ? b->bytes : (int64_t)floor(b->bits * (double)weights / 8.0 + 1e-9);
        res->limit_bits = 8.0 * (double)limit / (double)weights;
        if (bytes > limit)
            st = fgq_fail(err, FGQ_ERR_VALUE,
                          "budget: %.3f bits per weight (%lld bytes) is below the smallest the candidates reach, "
                          "%.3f bits per weight (%lld bytes)",
                          res->limit_bits, (long long)limit, 8.0 * (double)bytes / (double)weights, (long long)bytes);
    }
    if (st == FGQ_OK)
        st = measure_gains(fg, calib, cfg, samples, b, rows, classes, probs, progress, res, err);
    if (st == FGQ_OK)
        st = fgq_budget_allocate(res, b->n_candidates, limit, &bytes, err);
    if (st == FGQ_OK) {
        res->weights = weights;
        res->bytes = bytes;
        res->bits = 8.0 * (double)bytes / (double)weights;
        res->overrides = calloc((size_t)(cfg->n_overrides + res->n_layers + 1), sizeof *res->overrides);
        if (res->overrides == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "budget: out of memory");
    }
    if (st == FGQ_OK) {
        for (int32_t o = 0; o < cfg->n_overrides; o++)
            res->overrides[res->n_overrides++] = cfg->overrides[o];
        for (int32_t l = 0; l < res->n_layers; l++) {
            const fgq_budget_layer *bl = &res->layers[l];
            res->noise += bl->searched ? bl->gain * bl->err[bl->choice] : 0.0;
            if (!bl->searched)
                continue;
            fgq_layer_override *o = &res->overrides[res->n_overrides++];
            o->node = bl->node;
            o->keep_float = 0;
            o->policy = b->candidates[bl->choice];
        }
    }
    if (st != FGQ_OK)
        fgq_budget_result_free(res);
    return st;
}
