/*
 * run_graph.h — the one path by which the tools execute a graph (run, eval,
 * calibration, conformance tests): the graph is written to .fgq bytes in
 * memory (fgq_writer.h), loaded by the runtime (fgq_model_load, which checks
 * it like any file) and run in a malloc'd arena.
 *
 * init copies nothing from g after it returns: the runner owns the model bytes
 * and the arena, so g may be freed. run: inputs[i] / outputs[i] are buffers of
 * graph input / output i, in the graph's order, of fgq_graph_runner_input/
 * output info size_bytes each (float32 data for float tensors). obs (may be
 * NULL) sees each node's outputs as it runs; node indices are the graph's
 * (the writer keeps node order). free releases everything and is safe on a
 * zeroed or failed runner.
 *
 * Threads: a runner runs serially until fgq_graph_runner_set_threads gives it
 * a pool (tools/threadpool.h); its kernels then split each node's output over
 * the pool's threads, with outputs bit-identical to the serial run. One
 * runner must not run from two threads at once (it has one arena).
 */
#ifndef FGQ_RUN_GRAPH_H
#define FGQ_RUN_GRAPH_H

#include "fgq_runtime.h"
#include "graph.h"
#include "threadpool.h"

typedef struct {
    uint8_t *model_bytes; /* 64-aligned, owned */
    uint64_t model_size;
    void *arena;          /* 64-aligned, owned */
    uint64_t arena_size;
    fgq_model model;
    fgq_threadpool *pool; /* owned; NULL: serial */
    /* fgq_graph_runner_float_io: per graph input, then output, its conversion, worked out once
     * (io[k].off -1: not converted); io_ptrs the run's buffer pointers (inputs, then outputs). Owned. */
    struct fgq_runner_io *io;
    uint8_t *io_stage;
    void **io_ptrs;
} fgq_graph_runner;

fgq_status fgq_graph_runner_init(fgq_graph_runner *r, const fgq_graph *g, fgq_error *err);
fgq_status fgq_graph_runner_run(fgq_graph_runner *r, const float *const *inputs, float *const *outputs,
                                fgq_node_observer obs, void *user, fgq_error *err);
/* Runs an existing .fgq: takes ownership of `bytes` (malloc'd, e.g. by
 * fgq_read_file; freed here on success and on failure) and copies it to a
 * 64-byte aligned buffer when it is not aligned. `name` is for messages. */
fgq_status fgq_graph_runner_init_bytes(fgq_graph_runner *r, uint8_t *bytes, uint64_t size, const char *name,
                                       fgq_error *err);
/* Quantized inputs and outputs (`fgq quantize --io quantized`, tools/quant/quantized_io.h): u8 / s8
 * graph inputs and outputs with one scale. fgq_io_qparams: 1 with s and z when tensor t of m is
 * one (its scale finite and >= FLT_MIN, its zero point in the dtype's range, as the QUANTIZE op
 * requires of its own: a file with others gets its codes fed as they are). fgq_io_quantize: what
 * the QUANTIZE op the rewrite dropped computed (runtime/ops/qconvert.c, the same bytes: the
 * runtime's fgq_affine_quantize_u8 / _s8), q = clamp(round(x / s) + z, the dtype's range), half away
 * from zero, NaN to the lowest code; x and q may be one buffer. fgq_io_dequantize: what the
 * DEQUANTIZE did, x = s · (q − z). */
int fgq_io_qparams(const fgq_model *m, int32_t t, float *s, int32_t *z);
void fgq_io_quantize(const float *x, int64_t n, float s, int32_t z, fgq_dtype dt, void *q);
void fgq_io_dequantize(const void *q, fgq_dtype dt, int64_t n, float s, int32_t z, float *x);

/* After a successful init: from now on run takes every quantized input as f32 (preprocessed, as
 * the float model's) and returns every quantized output as f32, converting them as above, so a
 * model with quantized I/O runs as its float-I/O twin, bit for bit. No-op for a model without.
 * fgq_graph_runner_input_info / _output_info give the tensors as run sees them (f32, numel · 4
 * bytes, for the converted ones; otherwise fgq_model_input_info's). */
fgq_status fgq_graph_runner_float_io(fgq_graph_runner *r, fgq_error *err);
void fgq_graph_runner_input_info(const fgq_graph_runner *r, int32_t i, fgq_tensor_info *info);
void fgq_graph_runner_output_info(const fgq_graph_runner *r, int32_t i, fgq_tensor_info *info);

/* After a successful init: run with n_threads threads (caller included), in
 * [1, FGQ_THREADPOOL_MAX_THREADS]; 1 drops the pool. Replaces any earlier
 * pool; on failure the runner keeps running serially. */
fgq_status fgq_graph_runner_set_threads(fgq_graph_runner *r, int32_t n_threads, fgq_error *err);
/* Threads the runner uses per inference (1 without a pool). */
int32_t fgq_graph_runner_threads(const fgq_graph_runner *r);
void fgq_graph_runner_free(fgq_graph_runner *r);

/* Samples for every input of a graph, the one way the tools hand calibration
 * data around: in[k] holds n samples of graph input k (in the graph's input
 * order) one after another, each sample_bytes[k] bytes of that input's dtype
 * (float32 inputs as float, int64 ones as int64_t, ...). Pointers only: the
 * caller owns the buffers. fgq_samples_bind fills sample_bytes from g. */
#define FGQ_SAMPLES_MAX_INPUTS 16
typedef struct {
    int64_t n;
    int32_t n_inputs;
    const void *in[FGQ_SAMPLES_MAX_INPUTS];
    int64_t sample_bytes[FGQ_SAMPLES_MAX_INPUTS];
} fgq_samples;

/* s for g's inputs from in[0..g->n_inputs) (n samples each). FGQ_ERR_UNSUPPORTED
 * when g has more than FGQ_SAMPLES_MAX_INPUTS inputs; FGQ_ERR_SHAPE naming the
 * input when its shape has an unknown dim or its n samples' bytes overflow
 * int64 (s is left zeroed). */
fgq_status fgq_samples_bind(fgq_samples *s, const fgq_graph *g, const void *const *in, int64_t n, fgq_error *err);
/* x[k] = sample i of input k, for k < s->n_inputs. */
void fgq_samples_at(const fgq_samples *s, int64_t i, const void **x);

/* One float pass over samples feeding any number of observers, the one loop
 * behind calibration, bias means and the solver's statistics (so the
 * quantization pipeline runs the float model once). Per sample s: input(s,
 * x) with x[k] graph input k's sample (may be NULL), the run with node()
 * seeing every node's outputs (may be NULL; it keeps its own failure), then
 * after(s), whose status stops the sweep (may be NULL). */
typedef struct {
    fgq_status (*input)(void *user, int64_t sample, const void *const *x, fgq_error *err);
    fgq_node_observer node;
    fgq_status (*after)(void *user, int64_t sample, fgq_error *err);
    /* called once before the first sample with the sweep's thread provider (NULL when it runs
     * serially), which node() may use for its own work: the runner's threads are idle while an
     * observer runs. May be NULL. */
    void (*bind)(void *user, const fgq_parallel *par);
    void *user;
} fgq_sweep_observer;

#define FGQ_SWEEP_MAX_OBSERVERS 8

/* g: float; samples: bound to g (fgq_samples_bind), at least one.
 * threads: per inference (1: serial). progress may be NULL. */
fgq_status fgq_graph_sweep(const fgq_graph *g, const fgq_samples *samples, const fgq_sweep_observer *obs, int32_t n_obs,
                           int32_t threads, void (*progress)(void *user, int64_t done, int64_t total), void *user,
                           fgq_error *err);

#endif /* FGQ_RUN_GRAPH_H */
