/* compare.c — float vs quantized model over labelled samples: accuracy, agreement, per-layer SQNR. */
#include "run/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double fgq_compare_sqnr_db(double sig, double noise)
{
    if (noise <= 0.0)
        return INFINITY;
    return 10.0 * log10(sig / noise);
}

/* How many classes score strictly higher than `label` (ties: lower index first). */
static int64_t label_rank(const float *scores, int64_t n, int64_t label)
{
    int64_t higher = 0;
    for (int64_t c = 0; c < n; c++)
        if (scores[c] > scores[label] || (scores[c] == scores[label] && c < label))
            higher++;
    return higher;
}

static int64_t argmax(const float *scores, int64_t n)
{
    int64_t best = 0;
    for (int64_t c = 1; c < n; c++)
        if (scores[c] > scores[best])
            best = c;
    return best;
}

static void format_dims(const fgq_tensor_info *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t d = 0; d < t->rank && used < len; d++) {
        int w = snprintf(buf + used, len - used, d ? "x%lld" : "%lld", (long long)t->dims[d]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (t->rank == 0)
        snprintf(buf, len, "scalar");
}

fgq_status fgq_compare_check(const fgq_graph_runner *a, const char *a_name, const fgq_graph_runner *b,
                             const char *b_name, fgq_error *err)
{
    const fgq_graph_runner *r[2] = {a, b};
    const char *nm[2] = {a_name, b_name};
    fgq_tensor_info in[2], out[2];
    for (int i = 0; i < 2; i++) {
        const fgq_model *m = &r[i]->model;
        if (fgq_model_n_inputs(m) != 1 || fgq_model_n_outputs(m) < 1)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: comparing needs a model with one input (it has %d) and an output",
                            nm[i], (int)fgq_model_n_inputs(m));
        fgq_graph_runner_input_info(r[i], 0, &in[i]);
        fgq_graph_runner_output_info(r[i], 0, &out[i]);
        if (in[i].dtype != FGQ_DT_F32 || out[i].dtype != FGQ_DT_F32 || out[i].size_bytes < sizeof(float))
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: eval feeds and reads float32 tensors", nm[i]);
    }
    int same = in[0].rank == in[1].rank;
    for (int32_t d = 0; same && d < in[0].rank; d++)
        same = in[0].dims[d] == in[1].dims[d];
    if (!same) {
        char sa[96], sb[96];
        format_dims(&in[0], sa, sizeof sa);
        format_dims(&in[1], sb, sizeof sb);
        return fgq_fail(err, FGQ_ERR_SHAPE,
                        "the models take different inputs: %s input '%.*s' is %s, %s input '%.*s' is %s", a_name,
                        (int)in[0].name_len, in[0].name, sa, b_name, (int)in[1].name_len, in[1].name, sb);
    }
    if (out[0].size_bytes != out[1].size_bytes)
        return fgq_fail(err, FGQ_ERR_SHAPE, "the models give different outputs: %s output '%.*s' has %llu values, %s "
                        "output '%.*s' has %llu", a_name, (int)out[0].name_len, out[0].name,
                        (unsigned long long)(out[0].size_bytes / sizeof(float)), b_name, (int)out[1].name_len,
                        out[1].name, (unsigned long long)(out[1].size_bytes / sizeof(float)));
    return FGQ_OK;
}

/* ---- name matching --------------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint32_t len;
    int32_t tensor;
} named;

static int cmp_named(const void *pa, const void *pb)
{
    const named *a = pa, *b = pb;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, n);
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* ---- observers --------------------------------------------------------------------------- */

typedef struct {
    int32_t *slot;          /* per (node, output k): layer index or -1 */
    int32_t n_nodes;
    fgq_compare_result *res;
    float **fbuf;           /* per layer: the float run's values of this sample */
    float *qscale;          /* per layer: dequantization of the quantized tensor */
    int32_t *qzero;
    int quant;
} obs_ctx;

static void observe(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    obs_ctx *c = user;
    if (node < 0 || node >= c->n_nodes)
        return;
    for (int32_t k = 0; k < n_outputs && k < FGQ_MAX_NODE_OUTPUTS; k++) {
        int32_t L = c->slot[(int64_t)node * FGQ_MAX_NODE_OUTPUTS + k];
        if (L < 0)
            continue;
        fgq_compare_layer *l = &c->res->layers[L];
        const fgq_tensor_view *v = outputs[k];
        int64_t n = 1;
        for (int32_t d = 0; d < v->rank; d++)
            n *= v->dims[d];
        if (n != l->numel)
            continue;
        if (!c->quant) {
            memcpy(c->fbuf[L], v->data, (size_t)n * sizeof(float));
            continue;
        }
        const float *f = c->fbuf[L];
        double s = c->qscale[L], sig = 0.0, noise = 0.0;
        int32_t z = c->qzero[L];
        if (v->dtype == FGQ_DT_F32) {
            const float *x = v->data;
            for (int64_t i = 0; i < n; i++) {
                double e = (double)f[i] - (double)x[i];
                sig += (double)f[i] * f[i];
                noise += e * e;
            }
        } else if (v->dtype == FGQ_DT_U8) {
            const uint8_t *q = v->data;
            for (int64_t i = 0; i < n; i++) {
                double e = (double)f[i] - s * (double)((int32_t)q[i] - z);
                sig += (double)f[i] * f[i];
                noise += e * e;
            }
        } else if (v->dtype == FGQ_DT_S8) {
            const int8_t *q = v->data;
            for (int64_t i = 0; i < n; i++) {
                double e = (double)f[i] - s * (double)((int32_t)q[i] - z);
                sig += (double)f[i] * f[i];
                noise += e * e;
            }
        }
        l->sig += sig;
        l->noise += noise;
    }
}

/* Pairs the float model's node outputs with the quantized model's tensors of the same name. */
static fgq_status match_layers(const fgq_model *fm, const fgq_model *qm, fgq_compare_result *res, obs_ctx *fo,
                               obs_ctx *qo, fgq_error *err)
{
    int32_t nq = fgq_model_n_tensors(qm), nff = fgq_model_n_nodes(fm), nqn = fgq_model_n_nodes(qm);
    named *idx = malloc((size_t)(nq > 0 ? nq : 1) * sizeof *idx);
    int64_t max_layers = (int64_t)(nff > 0 ? nff : 1) * FGQ_MAX_NODE_OUTPUTS;
    res->layers = calloc((size_t)max_layers, sizeof *res->layers);
    fo->slot = malloc((size_t)max_layers * sizeof(int32_t));
    qo->slot = malloc((size_t)(nqn > 0 ? nqn : 1) * FGQ_MAX_NODE_OUTPUTS * sizeof(int32_t));
    if (idx == NULL || res->layers == NULL || fo->slot == NULL || qo->slot == NULL) {
        free(idx);
        return fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    }
    fo->n_nodes = nff;
    qo->n_nodes = nqn;
    for (int64_t i = 0; i < max_layers; i++)
        fo->slot[i] = -1;
    for (int64_t i = 0; i < (int64_t)(nqn > 0 ? nqn : 1) * FGQ_MAX_NODE_OUTPUTS; i++)
        qo->slot[i] = -1;
    for (int32_t t = 0; t < nq; t++) {
        fgq_tensor_info ti;
        fgq_model_tensor_info(qm, t, &ti);
        idx[t].name = ti.name;
        idx[t].len = ti.name_len;
        idx[t].tensor = t;
    }
    qsort(idx, (size_t)nq, sizeof *idx, cmp_named);
    /* where each quantized tensor is produced: (node, k) */
    int32_t *q_prod = malloc((size_t)(nq > 0 ? nq : 1) * sizeof(int32_t));
    if (q_prod == NULL) {
        free(idx);
        return fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    }
    for (int32_t t = 0; t < nq; t++)
        q_prod[t] = -1;
    for (int32_t i = 0; i < nqn; i++) {
        fgq_node_info ni;
        fgq_model_node_info(qm, i, &ni);
        for (int32_t k = 0; k < ni.n_outputs && k < FGQ_MAX_NODE_OUTPUTS; k++)
            if (ni.outputs[k] >= 0 && ni.outputs[k] < nq)
                q_prod[ni.outputs[k]] = i * FGQ_MAX_NODE_OUTPUTS + k;
    }
    for (int32_t i = 0; i < nff; i++) {
        fgq_node_info ni;
        fgq_model_node_info(fm, i, &ni);
        for (int32_t k = 0; k < ni.n_outputs && k < FGQ_MAX_NODE_OUTPUTS; k++) {
            fgq_tensor_info ft, qt;
            if (ni.outputs[k] < 0 || fgq_model_tensor_info(fm, ni.outputs[k], &ft) != FGQ_OK ||
                ft.dtype != FGQ_DT_F32)
                continue;
            named key = {ft.name, ft.name_len, -1};
            const named *hit = bsearch(&key, idx, (size_t)nq, sizeof *idx, cmp_named);
            if (hit == NULL || q_prod[hit->tensor] < 0)
                continue;
            fgq_model_tensor_info(qm, hit->tensor, &qt);
            fgq_tensor_qparams qp;
            if (fgq_model_tensor_qparams(qm, hit->tensor, &qp) != FGQ_OK)
                continue;
            int64_t fnum = (int64_t)(ft.size_bytes / sizeof(float)), qnum;
            if (qt.dtype == FGQ_DT_F32)
                qnum = (int64_t)(qt.size_bytes / sizeof(float));
            else if ((qt.dtype == FGQ_DT_U8 || qt.dtype == FGQ_DT_S8) && qp.n_scales == 1)
                qnum = (int64_t)qt.size_bytes;
            else
                continue;
            if (qnum != fnum)
                continue;
            fgq_compare_layer *l = &res->layers[res->n_layers];
            snprintf(l->name, sizeof l->name, "%.*s", (int)ft.name_len, ft.name);
            snprintf(l->node, sizeof l->node, "%.*s", (int)ni.name_len, ni.name);
            snprintf(l->op, sizeof l->op, "%s", fgq_op_name(ni.op));
            l->q_dtype = qt.dtype;
            l->f_tensor = ni.outputs[k];
            l->q_tensor = hit->tensor;
            l->numel = fnum;
            fo->slot[(int64_t)i * FGQ_MAX_NODE_OUTPUTS + k] = res->n_layers;
            qo->slot[q_prod[hit->tensor]] = res->n_layers;
            res->n_layers++;
        }
    }
    free(q_prod);
    free(idx);
    size_t nl = (size_t)(res->n_layers > 0 ? res->n_layers : 1);
    fo->fbuf = qo->fbuf = calloc(nl, sizeof(float *));
    qo->qscale = calloc(nl, sizeof(float));
    qo->qzero = calloc(nl, sizeof(int32_t));
    if (fo->fbuf == NULL || qo->qscale == NULL || qo->qzero == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    for (int32_t L = 0; L < res->n_layers; L++) {
        fgq_compare_layer *l = &res->layers[L];
        fgq_tensor_qparams qp;
        fgq_model_tensor_qparams(qm, l->q_tensor, &qp);
        qo->qscale[L] = l->q_dtype == FGQ_DT_F32 ? 1.0f : qp.scales[0];
        qo->qzero[L] = l->q_dtype == FGQ_DT_F32 || qp.zero_points == NULL ? 0 : qp.zero_points[0];
        if ((fo->fbuf[L] = malloc((size_t)l->numel * sizeof(float) + 1)) == NULL)
            return fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    }
    return FGQ_OK;
}

/* ---- the run ------------------------------------------------------------------------------ */

fgq_status fgq_compare_run(fgq_graph_runner *fr, fgq_graph_runner *qr, const fgq_compare_input *in,
                           fgq_compare_result *res, fgq_error *err)
{
    memset(res, 0, sizeof *res);
    const fgq_model *qm = &qr->model;
    fgq_status st = FGQ_OK;
    if (fr != NULL && (st = fgq_compare_check(fr, "float model", qr, "quantized model", err)) != FGQ_OK)
        return st;
    if (fr == NULL && (in->float_out == NULL || in->layers))
        return fgq_fail(err, FGQ_ERR_VALUE, "comparing: without the float model, give its outputs and no layers");
    fgq_tensor_info out_info;
    fgq_graph_runner_output_info(qr, 0, &out_info);
    int64_t classes = (int64_t)(out_info.size_bytes / sizeof(float));
    res->classes = classes;
    obs_ctx fo, qo;
    memset(&fo, 0, sizeof fo);
    memset(&qo, 0, sizeof qo);
    fo.res = qo.res = res;
    qo.quant = 1;
    int n_out_f = fr != NULL ? fgq_model_n_outputs(&fr->model) : 0, n_out_q = fgq_model_n_outputs(qm);
    float **fouts = calloc((size_t)(n_out_f > 0 ? n_out_f : 1), sizeof(float *));
    float **qouts = calloc((size_t)n_out_q, sizeof(float *));
    if (fouts == NULL || qouts == NULL)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    for (int o = 0; st == FGQ_OK && o < n_out_f; o++) {
        fgq_tensor_info oi;
        fgq_graph_runner_output_info(fr, o, &oi);
        if ((fouts[o] = malloc((size_t)oi.size_bytes + 1)) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    }
    for (int o = 0; st == FGQ_OK && o < n_out_q; o++) {
        fgq_tensor_info oi;
        fgq_graph_runner_output_info(qr, o, &oi);
        if ((qouts[o] = malloc((size_t)oi.size_bytes + 1)) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "comparing: out of memory");
    }
    if (st == FGQ_OK && in->layers)
        st = match_layers(&fr->model, qm, res, &fo, &qo, err);

    fgq_tensor_info in_info;
    fgq_graph_runner_input_info(qr, 0, &in_info);
    int64_t per = (int64_t)(in_info.size_bytes / sizeof(float));
    for (int64_t s = 0; st == FGQ_OK && s < in->n_samples; s++) {
        int64_t label = in->labels[s];
        if (label < 0 || label >= classes) {
            st = fgq_fail(err, FGQ_ERR_VALUE, "%s: label %lld of sample %lld is outside the model's %lld classes",
                          in->labels_name ? in->labels_name : "labels", (long long)label,
                          (long long)(in->first_index + s), (long long)classes);
            break;
        }
        const float *x = in->data + s * per;
        const float *fscores;
        if (fr != NULL) {
            double t0 = now_seconds();
            st = fgq_graph_runner_run(fr, &x, fouts, in->layers ? observe : NULL, &fo, err);
            res->seconds[0] += now_seconds() - t0;
            if (st != FGQ_OK)
                break;
            if (in->float_out != NULL)
                memcpy(in->float_out + s * classes, fouts[0], (size_t)classes * sizeof(float));
            fscores = fouts[0];
        } else {
            fscores = in->float_out + s * classes;
        }
        double t0 = now_seconds();
        st = fgq_graph_runner_run(qr, &x, qouts, in->layers ? observe : NULL, &qo, err);
        res->seconds[1] += now_seconds() - t0;
        if (st != FGQ_OK)
            break;
        const float *qscores = qouts[0];
        int64_t rf = label_rank(fscores, classes, label), rq = label_rank(qscores, classes, label);
        res->top1[0] += rf < 1;
        res->top5[0] += rf < 5;
        res->top1[1] += rq < 1;
        res->top5[1] += rq < 5;
        res->agree += argmax(fscores, classes) == argmax(qscores, classes);
        for (int64_t c = 0; c < classes; c++) {
            double e = (double)fscores[c] - (double)qscores[c];
            res->out_sig += (double)fscores[c] * fscores[c];
            res->out_noise += e * e;
        }
        res->samples = s + 1;
        if (in->progress != NULL)
            in->progress(in->user, s + 1, in->n_samples);
    }
    for (int o = 0; fouts != NULL && o < n_out_f; o++)
        free(fouts[o]);
    for (int o = 0; qouts != NULL && o < n_out_q; o++)
        free(qouts[o]);
    free(fouts);
    free(qouts);
    for (int32_t L = 0; fo.fbuf != NULL && L < res->n_layers; L++)
        free(fo.fbuf[L]);
    free(fo.fbuf);
    free(fo.slot);
    free(qo.slot);
    free(qo.qscale);
    free(qo.qzero);
    return st;
}

void fgq_compare_result_free(fgq_compare_result *res)
{
    free(res->layers);
    memset(res, 0, sizeof *res);
}
