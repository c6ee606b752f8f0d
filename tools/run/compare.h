/*
 * compare.h — a float model against its quantized twin on the same samples
 * (`fgq eval FLOAT QUANT`, DESIGN §1 and §3 "Error report").
 *
 * Both runners take one f32 input of the same shape (else FGQ_ERR_SHAPE
 * naming both) and give an f32 output 0 of the same size (the class scores);
 * labels must lie in [0, classes) (FGQ_ERR_VALUE naming the sample).
 *
 * Per sample s: the float model runs first, then the quantized one, each
 * timed on its own (the per-layer observer's copying included). Counted:
 * top-1 / top-5 of each (rank of the label as numpy's argsort would give it:
 * ties favour the lower class index) and top-1 agreement (equal argmaxes).
 *
 * Per-layer SQNR (when `layers`): for every node output tensor of the float
 * model whose name a tensor of the quantized model carries (quantize.h: that
 * tensor holds the same values, f32 or quantized with its qparams), in the
 * float model's node order, Σx² and Σ(x − x̂)² over all samples, x̂ the
 * quantized model's tensor dequantized as s·(q − z) (per-tensor qparams; a
 * u8/s8 tensor without them is not compared). SQNR = 10·log10(Σx² / Σ(x−x̂)²)
 * (+inf when the noise is 0). Output SQNR: the same over output 0.
 *
 * Float outputs may be cached: with fr == NULL, float_out must hold the float
 * model's output 0 for every sample ([n_samples, classes], from an earlier
 * run with fr and float_out), and no per-layer SQNR is measured; that is how
 * the sensitivity scan (sensitivity.h) runs the float model only once.
 */
#ifndef FGQ_COMPARE_H
#define FGQ_COMPARE_H

#include "run/run_graph.h"

#include <stdint.h>

typedef struct {
    char name[128];        /* tensor name (truncated if longer) */
    char node[96];         /* the float model's node producing it (truncated if longer) */
    char op[24];           /* and its op */
    fgq_dtype q_dtype;     /* the quantized model's tensor: u8/s8 (integer) or f32 (runs float) */
    int32_t f_tensor, q_tensor;
    int64_t numel;
    double sig, noise;     /* Σx², Σ(x − x̂)² */
} fgq_compare_layer;

typedef struct {
    int64_t samples;
    int64_t classes;                 /* size of output 0 */
    int64_t top1[2], top5[2];        /* correct counts: [0] float, [1] quantized */
    int64_t agree;                   /* samples with equal argmaxes */
    double seconds[2];               /* time spent running each model */
    double out_sig, out_noise;       /* output 0 */
    int32_t n_layers;
    fgq_compare_layer *layers;       /* malloc'd, float node order */
} fgq_compare_result;

typedef struct {
    const float *data;    /* n_samples inputs, one after another */
    int64_t n_samples;
    const int64_t *labels;
    const char *labels_name;  /* for messages */
    int64_t first_index;  /* index of sample 0 in its file, for messages */
    int layers;           /* 1: measure per-layer SQNR (needs fr) */
    float *float_out;     /* NULL, or [n_samples, classes]: written when fr != NULL, read when fr == NULL */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
} fgq_compare_input;

/* Runs both models over in->data and fills *res (zeroed first; free with
 * fgq_compare_result_free, also after a failure). */
fgq_status fgq_compare_run(fgq_graph_runner *fr, fgq_graph_runner *qr, const fgq_compare_input *in,
                           fgq_compare_result *res, fgq_error *err);
void fgq_compare_result_free(fgq_compare_result *res);

/* 10·log10(sig / noise); +inf when noise is 0 (no error at all). */
double fgq_compare_sqnr_db(double sig, double noise);

/* Checks that two loaded models can be compared as their runners feed and read
 * them (fgq_graph_runner_input_info: quantized I/O as f32 with float_io; the shape rules above);
 * a_name / b_name for messages. */
fgq_status fgq_compare_check(const fgq_graph_runner *a, const char *a_name, const fgq_graph_runner *b,
                             const char *b_name, fgq_error *err);

#endif /* FGQ_COMPARE_H */
