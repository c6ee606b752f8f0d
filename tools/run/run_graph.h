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
} fgq_graph_runner;

fgq_status fgq_graph_runner_init(fgq_graph_runner *r, const fgq_graph *g, fgq_error *err);
fgq_status fgq_graph_runner_run(fgq_graph_runner *r, const float *const *inputs, float *const *outputs,
                                fgq_node_observer obs, void *user, fgq_error *err);
/* Runs an existing .fgq: takes ownership of `bytes` (malloc'd, e.g. by
 * fgq_read_file; freed here on success and on failure) and copies it to a
 * 64-byte aligned buffer when it is not aligned. `name` is for messages. */
fgq_status fgq_graph_runner_init_bytes(fgq_graph_runner *r, uint8_t *bytes, uint64_t size, const char *name,
                                       fgq_error *err);
/* After a successful init: run with n_threads threads (caller included), in
 * [1, FGQ_THREADPOOL_MAX_THREADS]; 1 drops the pool. Replaces any earlier
 * pool; on failure the runner keeps running serially. */
fgq_status fgq_graph_runner_set_threads(fgq_graph_runner *r, int32_t n_threads, fgq_error *err);
/* Threads the runner uses per inference (1 without a pool). */
int32_t fgq_graph_runner_threads(const fgq_graph_runner *r);
void fgq_graph_runner_free(fgq_graph_runner *r);

/* One float pass over samples feeding any number of observers, the one loop
 * behind calibration, bias means and the solver's statistics (so the
 * quantization pipeline runs the float model once). Per sample s: input(s,
 * x) with the graph input (may be NULL), the run with node() seeing every
 * node's outputs (may be NULL; it keeps its own failure), then after(s),
 * whose status stops the sweep (may be NULL). */
typedef struct {
    fgq_status (*input)(void *user, int64_t sample, const float *x, int64_t numel, fgq_error *err);
    fgq_node_observer node;
    fgq_status (*after)(void *user, int64_t sample, fgq_error *err);
    void *user;
} fgq_sweep_observer;

#define FGQ_SWEEP_MAX_OBSERVERS 8

/* g: float, one input; data: n_samples consecutive inputs of its numel.
 * threads: per inference (1: serial). progress may be NULL. */
fgq_status fgq_graph_sweep(const fgq_graph *g, const float *data, int64_t n_samples, const fgq_sweep_observer *obs,
                           int32_t n_obs, int32_t threads, void (*progress)(void *user, int64_t done, int64_t total),
                           void *user, fgq_error *err);

#endif /* FGQ_RUN_GRAPH_H */
