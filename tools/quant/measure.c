/* measure.c — per-layer activation SQNR of a quantized graph against its float
 * graph on the calibration samples (quantize.h fgq_quant_measure). */
#include "quant/quantize.h"

#include "run/run_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- measuring ------------------------------------------------------------------------- */

typedef struct {
    const fgq_graph *g;
    const int32_t *layer_of; /* per tensor of g: layer index or -1 */
    float **fbuf;            /* per layer: the float run's values */
    int64_t *fnum;
    double *sig, *noise;
    int quant;               /* 0: the float run (store), 1: the quantized run (compare) */
} measure_ctx;

/* Σ f² and Σ (f − x)² over n values, x the quantized run's value as a double (float, or the
 * dequantized u8/s8 code s·(q − z)). The plain loop, and an AVX2 one with four lanes of partial
 * sums (the report's SQNR only: the sums differ from the plain ones by double rounding). */
static double value_at(int32_t dtype, const void *q, int64_t i, double s, int32_t z)
{
    return dtype == FGQ_DT_F32  ? (double)((const float *)q)[i]
           : dtype == FGQ_DT_U8 ? s * (double)(((const uint8_t *)q)[i] - z)
                                : s * (double)(((const int8_t *)q)[i] - z);
}

static void sig_noise_ref(const float *f, int32_t dtype, const void *q, double s, int32_t z, int64_t lo, int64_t n,
                          double *sig, double *noise)
{
    for (int64_t i = lo; i < n; i++) {
        const double fv = f[i], d = fv - value_at(dtype, q, i, s, z);
        *sig += fv * fv;
        *noise += d * d;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define MEASURE_AVX2 1
__attribute__((target("avx2"))) static void sig_noise_avx2(const float *f, int32_t dtype, const void *q, double s,
                                                           int32_t z, int64_t n, double *sig, double *noise)
{
    __m256d vs = _mm256_setzero_pd(), vn = _mm256_setzero_pd();
    const __m256d sc = _mm256_set1_pd(s);
    const __m128i zv = _mm_set1_epi32(z);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d fv = _mm256_cvtps_pd(_mm_loadu_ps(f + i));
        __m256d xv;
        if (dtype == FGQ_DT_F32) {
            xv = _mm256_cvtps_pd(_mm_loadu_ps((const float *)q + i));
        } else {
            int32_t w;
            memcpy(&w, (const uint8_t *)q + i, 4);
            const __m128i b = _mm_cvtsi32_si128(w);
            const __m128i c = dtype == FGQ_DT_U8 ? _mm_cvtepu8_epi32(b) : _mm_cvtepi8_epi32(b);
            xv = _mm256_mul_pd(sc, _mm256_cvtepi32_pd(_mm_sub_epi32(c, zv)));
        }
        const __m256d d = _mm256_sub_pd(fv, xv);
        vs = _mm256_add_pd(vs, _mm256_mul_pd(fv, fv));
        vn = _mm256_add_pd(vn, _mm256_mul_pd(d, d));
    }
    double a[4], b[4];
    _mm256_storeu_pd(a, vs);
    _mm256_storeu_pd(b, vn);
    *sig += (a[0] + a[1]) + (a[2] + a[3]);
    *noise += (b[0] + b[1]) + (b[2] + b[3]);
    sig_noise_ref(f, dtype, q, s, z, i, n, sig, noise);
}
#else
#define MEASURE_AVX2 0
#endif

void fgq_quant_sig_noise(const float *f, int32_t dtype, const void *q, double s, int32_t z, int64_t n, int simd,
                         double *sig, double *noise)
{
#if MEASURE_AVX2
    if (simd && __builtin_cpu_supports("avx2")) {
        sig_noise_avx2(f, dtype, q, s, z, n, sig, noise);
        return;
    }
#else
    (void)simd;
#endif
    sig_noise_ref(f, dtype, q, s, z, 0, n, sig, noise);
}

static void measure_obs(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    measure_ctx *m = user;
    if (node < 0 || node >= m->g->n_nodes || n_outputs < 1)
        return;
    int32_t t = m->g->nodes[node].outputs[0];
    int32_t L = t >= 0 ? m->layer_of[t] : -1;
    if (L < 0)
        return;
    const fgq_tensor_view *v = outputs[0];
    int64_t n = 1;
    for (int32_t d = 0; d < v->rank; d++)
        n *= v->dims[d];
    if (n != m->fnum[L])
        return;
    if (!m->quant) {
        if (v->dtype == FGQ_DT_F32)
            memcpy(m->fbuf[L], v->data, (size_t)n * sizeof(float));
        return;
    }
    if (v->dtype != FGQ_DT_F32 && v->dtype != FGQ_DT_U8 && v->dtype != FGQ_DT_S8)
        return;
    const fgq_ir_tensor *qt = &m->g->tensors[t];
    const double s = qt->q.n_scales > 0 ? (double)qt->q.scales[0] : 1.0;
    const int32_t z = qt->q.n_scales > 0 && qt->q.zero_points ? qt->q.zero_points[0] : 0;
    fgq_quant_sig_noise(m->fbuf[L], v->dtype, v->data, s, z, n, 1, &m->sig[L], &m->noise[L]);
}

fgq_status fgq_quant_measure(const fgq_graph *fg, const fgq_graph *qg, const fgq_samples *samples,
                             int64_t max_samples, fgq_layer_report *layers, int32_t n_layers,
                             fgq_calib_progress progress, void *user, fgq_error *err)
{
    const int64_t n_all = samples->n;
    const int64_t n_samples = max_samples > 0 && max_samples < n_all ? max_samples : n_all;
    if (samples->n_inputs != fg->n_inputs || qg->n_inputs != fg->n_inputs)
        return fgq_fail(err, FGQ_ERR_VALUE, "measuring: samples for %d inputs, the models have %d and %d",
                        (int)samples->n_inputs, (int)fg->n_inputs, (int)qg->n_inputs);
    fgq_graph_runner fr, qr;
    memset(&qr, 0, sizeof qr);
    fgq_status st = fgq_graph_runner_init(&fr, fg, err);
    if (st != FGQ_OK)
        return st;
    if ((st = fgq_graph_runner_init(&qr, qg, err)) != FGQ_OK) {
        fgq_graph_runner_free(&fr);
        return st;
    }
    size_t nl = (size_t)(n_layers > 0 ? n_layers : 1);
    int32_t *flayer = malloc((size_t)(fg->n_tensors + 1) * sizeof(int32_t));
    int32_t *qlayer = malloc((size_t)(qg->n_tensors + 1) * sizeof(int32_t));
    float **fbuf = calloc(nl, sizeof *fbuf);
    int64_t *fnum = calloc(nl, sizeof *fnum);
    double *sig = calloc(nl, sizeof *sig), *noise = calloc(nl, sizeof *noise);
    float *fo[16] = {0}, *qo[16] = {0};
    if (flayer == NULL || qlayer == NULL || fbuf == NULL || fnum == NULL || sig == NULL || noise == NULL ||
        fg->n_outputs > 16 || qg->n_outputs != fg->n_outputs)
        st = fgq_fail(err, FGQ_ERR_NOMEM, "measuring: out of memory (or more than 16 outputs)");
    for (int32_t t = 0; st == FGQ_OK && t < fg->n_tensors; t++)
        flayer[t] = -1;
    for (int32_t t = 0; st == FGQ_OK && t < qg->n_tensors; t++)
        qlayer[t] = -1;
    for (int32_t L = 0; st == FGQ_OK && L < n_layers; L++) {
        if (layers[L].float_tensor < 0 || layers[L].q_tensor < 0)
            continue;
        flayer[layers[L].float_tensor] = L;
        qlayer[layers[L].q_tensor] = L;
        fnum[L] = fgq_ir_tensor_numel(&fg->tensors[layers[L].float_tensor]);
        if ((fbuf[L] = calloc((size_t)(fnum[L] > 0 ? fnum[L] : 1), sizeof(float))) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "measuring: out of memory");
    }
    for (int32_t o = 0; st == FGQ_OK && o < fg->n_outputs; o++) {
        fgq_tensor_info a, b;
        fgq_model_output_info(&fr.model, o, &a);
        fgq_model_output_info(&qr.model, o, &b);
        fo[o] = malloc((size_t)a.size_bytes + 1);
        qo[o] = malloc((size_t)b.size_bytes + 1);
        if (fo[o] == NULL || qo[o] == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "measuring: out of memory");
    }
    measure_ctx fm = {fg, flayer, fbuf, fnum, sig, noise, 0}, qm = {qg, qlayer, fbuf, fnum, sig, noise, 1};
    for (int64_t s = 0; st == FGQ_OK && s < n_samples; s++) {
        const void *x[FGQ_SAMPLES_MAX_INPUTS];
        fgq_samples_at(samples, s * n_all / n_samples, x); /* evenly spaced when capped */
        st = fgq_graph_runner_run(&fr, (const float *const *)x, fo, measure_obs, &fm, err);
        if (st == FGQ_OK)
            st = fgq_graph_runner_run(&qr, (const float *const *)x, qo, measure_obs, &qm, err);
        if (st == FGQ_OK && progress != NULL)
            progress(user, s + 1, n_samples);
    }
    for (int32_t L = 0; st == FGQ_OK && L < n_layers; L++) {
        if (fbuf[L] == NULL)
            continue;
        layers[L].act_sqnr_db = noise[L] > 0.0 ? 10.0 * log10(sig[L] / noise[L]) : INFINITY;
    }
    for (int32_t o = 0; o < 16; o++) {
        free(fo[o]);
        free(qo[o]);
    }
    for (size_t L = 0; fbuf != NULL && L < nl; L++)
        free(fbuf[L]);
    free(fbuf);
    free(fnum);
    free(sig);
    free(noise);
    free(flayer);
    free(qlayer);
    fgq_graph_runner_free(&fr);
    fgq_graph_runner_free(&qr);
    return st;
}

