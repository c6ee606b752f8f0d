/* run_graph.c — graph → in-memory .fgq → fgq_model_load → fgq_model_run_parallel
 * (with the runner's thread pool, if any). */
#include "run/run_graph.h"

#include "export/fgq_writer.h"
#include "quant/affine.h"
#include "run/host_cpu.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* (Re)allocates the arena for the runner's thread count: activations, records
 * and one scratch slice per thread (fgq_model_arena_size_threads). */
static fgq_status alloc_arena(fgq_graph_runner *r, const char *name, fgq_error *err)
{
    const uint64_t size = fgq_model_arena_size_threads(&r->model, fgq_threadpool_n_threads(r->pool));
    /* aligned_alloc wants a multiple of the alignment */
    const uint64_t alloc = size ? (size + 63u) & ~(uint64_t)63u : 64u;
    void *arena = alloc <= SIZE_MAX ? aligned_alloc(FGQ_MODEL_ALIGN, (size_t)alloc) : NULL;
    if (arena == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate an arena of %llu bytes", name,
                        (unsigned long long)alloc);
    free(r->arena);
    r->arena = arena;
    r->arena_size = size;
    return FGQ_OK;
}

/* Loads r->model_bytes and allocates the arena. name_load_errors: prefix the
 * loader's message with name (a file read from disk; the runtime does not know it). */
static fgq_status load_and_alloc(fgq_graph_runner *r, const char *name, int name_load_errors, fgq_error *err)
{
    fgq_status st = fgq_model_load(&r->model, r->model_bytes, r->model_size, err);
    if (st != FGQ_OK) {
        fgq_graph_runner_free(r);
        size_t nl = strlen(name), cap = sizeof err->msg - 1;
        if (name_load_errors && err != NULL && nl + 2 < cap) {
            size_t ml = strlen(err->msg), keep = ml < cap - nl - 2 ? ml : cap - nl - 2;
            memmove(err->msg + nl + 2, err->msg, keep);
            memcpy(err->msg, name, nl);
            memcpy(err->msg + nl, ": ", 2);
            err->msg[nl + 2 + keep] = '\0';
        }
        return st;
    }
    fgq_model_grant_cpu(&r->model, fgq_host_cpu_grants()); /* AMX where the OS lets this process use it */
    st = alloc_arena(r, name, err);
    if (st != FGQ_OK)
        fgq_graph_runner_free(r);
    return st;
}

fgq_status fgq_graph_runner_init(fgq_graph_runner *r, const fgq_graph *g, fgq_error *err)
{
    memset(r, 0, sizeof *r);
    fgq_status st = fgq_write_model(g, &r->model_bytes, &r->model_size, err);
    if (st != FGQ_OK)
        return st;
    return load_and_alloc(r, g->source_path ? g->source_path : "model", 0, err);
}

fgq_status fgq_graph_runner_init_bytes(fgq_graph_runner *r, uint8_t *bytes, uint64_t size, const char *name,
                                       fgq_error *err)
{
    memset(r, 0, sizeof *r);
    if (name == NULL)
        name = "model";
    if (bytes == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: no model bytes", name);
    if ((uintptr_t)bytes % FGQ_MODEL_ALIGN != 0) {
        /* the runtime reads constants in place as float/int32: it needs 64-byte alignment */
        uint8_t *al = aligned_alloc(FGQ_MODEL_ALIGN, (size_t)((size + 63u) & ~(uint64_t)63u) + 64u);
        if (al == NULL) {
            free(bytes);
            return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %llu bytes", name, (unsigned long long)size);
        }
        memcpy(al, bytes, (size_t)size);
        free(bytes);
        bytes = al;
    }
    r->model_bytes = bytes;
    r->model_size = size;
    return load_and_alloc(r, name, 1, err);
}

int fgq_io_qparams(const fgq_model *m, int32_t t, float *s, int32_t *z)
{
    fgq_tensor_info ti;
    fgq_tensor_qparams q;
    if (fgq_model_tensor_info(m, t, &ti) != FGQ_OK || (ti.dtype != FGQ_DT_U8 && ti.dtype != FGQ_DT_S8) ||
        fgq_model_tensor_qparams(m, t, &q) != FGQ_OK || q.n_scales != 1)
        return 0;
    /* the file's values, checked as QUANTIZE checks its own (fgq_quantize_check): a finite scale >=
     * FLT_MIN, the zero point in the dtype's range; else not one (the tools feed its codes as they are) */
    const float sc = q.scales[0];
    const int32_t zp = q.zero_points != NULL ? q.zero_points[0] : 0;
    const int32_t lo = ti.dtype == FGQ_DT_S8 ? -128 : 0, hi = ti.dtype == FGQ_DT_S8 ? 127 : 255;
    if (!isfinite(sc) || !(sc >= FLT_MIN) || zp < lo || zp > hi)
        return 0;
    *s = sc;
    *z = zp;
    return 1;
}

/* The runtime's scalar affine conversions (runtime/quant/affine.h), which QUANTIZE and DEQUANTIZE
 * compute (test_qops_misc holds the op to them); a firmware feeding a quantized input calls the same
 * functions with its header's SCALE and ZERO_POINT. Element i is read before it is written, so x and
 * q may be one buffer (the codes in its first n bytes). */
void fgq_io_quantize(const float *x, int64_t n, float s, int32_t z, fgq_dtype dt, void *q)
{
    const int s8 = dt == FGQ_DT_S8;
    const fgq_affine_params p = { s, z, s8 ? -128 : 0, s8 ? 127 : 255 };
    if (s8)
        fgq_affine_quantize_s8(x, n, &p, (int8_t *)q);
    else
        fgq_affine_quantize_u8(x, n, &p, (uint8_t *)q);
}

void fgq_io_dequantize(const void *q, fgq_dtype dt, int64_t n, float s, int32_t z, float *x)
{
    const int s8 = dt == FGQ_DT_S8;
    const fgq_affine_params p = { s, z, s8 ? -128 : 0, s8 ? 127 : 255 };
    if (s8)
        fgq_affine_dequantize_s8((const int8_t *)q, n, &p, x);
    else
        fgq_affine_dequantize_u8((const uint8_t *)q, n, &p, x);
}

/* A converted input or output: its codes at io_stage + off (-1: not converted), n of them, dtype dt,
 * x = s·(q − z). */
struct fgq_runner_io {
    int64_t off, n;
    float s;
    int32_t z;
    fgq_dtype dt;
};

/* Tensor t as fgq_graph_runner_run takes or gives it (float_io: f32 for the converted ones). */
static void runner_info(const fgq_graph_runner *r, int output, int32_t i, fgq_tensor_info *info)
{
    const fgq_model *m = &r->model;
    if (output)
        fgq_model_output_info(m, i, info);
    else
        fgq_model_input_info(m, i, info);
    const int32_t k = output ? fgq_model_n_inputs(m) + i : i;
    if (r->io != NULL && r->io[k].off >= 0) {
        info->dtype = FGQ_DT_F32;
        info->size_bytes *= sizeof(float); /* a u8 / s8 tensor: size_bytes was its element count */
    }
}

void fgq_graph_runner_input_info(const fgq_graph_runner *r, int32_t i, fgq_tensor_info *info)
{
    runner_info(r, 0, i, info);
}

void fgq_graph_runner_output_info(const fgq_graph_runner *r, int32_t i, fgq_tensor_info *info)
{
    runner_info(r, 1, i, info);
}

fgq_status fgq_graph_runner_float_io(fgq_graph_runner *r, fgq_error *err)
{
    if (r == NULL || r->model_bytes == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "graph runner used before a successful init");
    if (r->io != NULL)
        return FGQ_OK;
    const fgq_model *m = &r->model;
    const int32_t n_in = fgq_model_n_inputs(m), n = n_in + fgq_model_n_outputs(m);
    struct fgq_runner_io *io = malloc((size_t)(n > 0 ? n : 1) * sizeof *io);
    void **ptrs = malloc((size_t)(n > 0 ? n : 1) * sizeof *ptrs);
    uint64_t bytes = 0;
    for (int32_t k = 0; io != NULL && k < n; k++) {
        const int32_t t = k < n_in ? fgq_model_input_tensor(m, k) : fgq_model_output_tensor(m, k - n_in);
        fgq_tensor_info ti;
        io[k].off = -1;
        if (fgq_io_qparams(m, t, &io[k].s, &io[k].z) && fgq_model_tensor_info(m, t, &ti) == FGQ_OK) {
            io[k].off = (int64_t)bytes;
            io[k].n = (int64_t)ti.size_bytes; /* one byte a code */
            io[k].dt = ti.dtype;
            bytes += (ti.size_bytes + 63u) & ~(uint64_t)63u; /* bounded by the loaded model's arena sums */
        }
    }
    uint8_t *stage = io != NULL && ptrs != NULL && bytes <= SIZE_MAX ? malloc(bytes > 0 ? (size_t)bytes : 1) : NULL;
    if (stage == NULL) {
        free(io);
        free(ptrs);
        return fgq_fail(err, FGQ_ERR_NOMEM, "out of memory staging the model's quantized inputs and outputs");
    }
    r->io = io;
    r->io_ptrs = ptrs;
    r->io_stage = stage;
    return FGQ_OK;
}

/* float_io: quantizes the converted inputs into the stage and points the run at it. */
static void stage_inputs(fgq_graph_runner *r, const float *const *inputs, float *const *outputs)
{
    const int32_t n_in = fgq_model_n_inputs(&r->model), n = n_in + fgq_model_n_outputs(&r->model);
    for (int32_t k = 0; k < n; k++) {
        const struct fgq_runner_io *c = &r->io[k];
        void *user = k >= n_in ? (void *)outputs[k - n_in] : (void *)(uintptr_t)inputs[k];
        r->io_ptrs[k] = c->off < 0 ? user : r->io_stage + c->off;
        if (c->off >= 0 && k < n_in)
            fgq_io_quantize((const float *)user, c->n, c->s, c->z, c->dt, r->io_ptrs[k]);
    }
}

static void unstage_outputs(fgq_graph_runner *r, float *const *outputs)
{
    const int32_t n_in = fgq_model_n_inputs(&r->model), n_out = fgq_model_n_outputs(&r->model);
    for (int32_t o = 0; o < n_out; o++) {
        const struct fgq_runner_io *c = &r->io[n_in + o];
        if (c->off >= 0)
            fgq_io_dequantize(r->io_stage + c->off, c->dt, c->n, c->s, c->z, outputs[o]);
    }
}

fgq_status fgq_graph_runner_run(fgq_graph_runner *r, const float *const *inputs, float *const *outputs,
                                fgq_node_observer obs, void *user, fgq_error *err)
{
    if (r == NULL || r->model_bytes == NULL || r->arena == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "graph runner used before a successful init");
    float *const *user_outputs = outputs;
    if (r->io != NULL) {
        stage_inputs(r, inputs, outputs);
        inputs = (const float *const *)r->io_ptrs;
        outputs = (float *const *)(r->io_ptrs + fgq_model_n_inputs(&r->model));
    }
    /* the pool's provider (or none: one thread) plus the kernel preference:
     * FGQ_KERNELS=ref runs only the reference kernels (the same bytes, slower) */
    const fgq_parallel *pool = fgq_threadpool_parallel(r->pool);
    fgq_parallel par = { NULL, 1, NULL, FGQ_KERNELS_AUTO };
    if (pool != NULL)
        par = *pool;
    const char *pref = getenv("FGQ_KERNELS");
    if (pref != NULL && strcmp(pref, "ref") == 0)
        par.kernels = FGQ_KERNELS_REF;
    fgq_status st = fgq_model_run_parallel(&r->model, r->arena, r->arena_size, (const void *const *)inputs,
                                           (void *const *)outputs, obs, user, &par, err);
    if (st == FGQ_OK && r->io != NULL)
        unstage_outputs(r, user_outputs);
    return st;
}

fgq_status fgq_graph_runner_set_threads(fgq_graph_runner *r, int32_t n_threads, fgq_error *err)
{
    if (r == NULL || r->model_bytes == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "graph runner used before a successful init");
    if (n_threads < 1 || n_threads > FGQ_THREADPOOL_MAX_THREADS)
        return fgq_fail(err, FGQ_ERR_VALUE, "thread count %ld is outside 1..%d", (long)n_threads,
                        FGQ_THREADPOOL_MAX_THREADS);
    fgq_threadpool_destroy(r->pool);
    r->pool = NULL;
    fgq_status st = n_threads == 1 ? FGQ_OK : fgq_threadpool_create(n_threads, &r->pool, err);
    if (st == FGQ_OK) /* one scratch slice per thread */
        st = alloc_arena(r, "model", err);
    return st;
}

int32_t fgq_graph_runner_threads(const fgq_graph_runner *r)
{
    return r != NULL ? fgq_threadpool_n_threads(r->pool) : 1;
}

void fgq_graph_runner_free(fgq_graph_runner *r)
{
    if (r == NULL)
        return;
    fgq_threadpool_destroy(r->pool);
    free(r->model_bytes);
    free(r->arena);
    free(r->io);
    free(r->io_stage);
    free(r->io_ptrs);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const fgq_sweep_observer *obs;
    int32_t n;
} sweep_fanout;

static void fan_out(void *user, int32_t node, const fgq_tensor_view *const *outputs, int32_t n_outputs)
{
    const sweep_fanout *f = user;
    for (int32_t i = 0; i < f->n; i++)
        if (f->obs[i].node != NULL)
            f->obs[i].node(f->obs[i].user, node, outputs, n_outputs);
}

fgq_status fgq_samples_bind(fgq_samples *s, const fgq_graph *g, const void *const *in, int64_t n, fgq_error *err)
{
    memset(s, 0, sizeof *s);
    if (g->n_inputs > FGQ_SAMPLES_MAX_INPUTS)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "the model has %d inputs (at most %d take samples)", (int)g->n_inputs,
                        FGQ_SAMPLES_MAX_INPUTS);
    s->n = n;
    s->n_inputs = g->n_inputs;
    for (int32_t k = 0; k < g->n_inputs; k++) {
        const fgq_ir_tensor *t = &g->tensors[g->inputs[k]];
        /* numel is -1 for an unknown dim or a product past int64; a sample must also fit its bytes in int64
         * (and sample i's offset i * bytes, which fgq_samples_at takes) */
        const int64_t numel = fgq_ir_tensor_numel(t), es = (int64_t)fgq_dtype_size(t->dtype);
        if (numel < 0 || (es > 0 && numel > INT64_MAX / es) ||
            (n > 1 && es > 0 && numel * es > INT64_MAX / n)) {
            memset(s, 0, sizeof *s);
            return fgq_fail(err, FGQ_ERR_SHAPE, "input '%s': %s", t->name,
                            numel < 0 ? "its shape has an unknown dim or more elements than int64 counts"
                                      : "one sample is more bytes than int64 counts");
        }
        s->in[k] = in[k];
        s->sample_bytes[k] = numel * es;
    }
    return FGQ_OK;
}

void fgq_samples_at(const fgq_samples *s, int64_t i, const void **x)
{
    for (int32_t k = 0; k < s->n_inputs; k++)
        x[k] = (const unsigned char *)s->in[k] + i * s->sample_bytes[k];
}

fgq_status fgq_graph_sweep(const fgq_graph *g, const fgq_samples *samples, const fgq_sweep_observer *obs, int32_t n_obs,
                           int32_t threads, void (*progress)(void *user, int64_t done, int64_t total), void *user,
                           fgq_error *err)
{
    const int64_t n_samples = samples->n;
    if (samples->n_inputs != g->n_inputs)
        return fgq_fail(err, FGQ_ERR_VALUE, "samples for %d inputs, the model has %d", (int)samples->n_inputs,
                        (int)g->n_inputs);
    if (n_samples < 1)
        return fgq_fail(err, FGQ_ERR_VALUE, "no samples");
    if (n_obs < 0 || n_obs > FGQ_SWEEP_MAX_OBSERVERS)
        return fgq_fail(err, FGQ_ERR_VALUE, "%d observers (at most %d)", (int)n_obs, FGQ_SWEEP_MAX_OBSERVERS);
    fgq_graph_runner r;
    fgq_status st = fgq_graph_runner_init(&r, g, err);
    if (st != FGQ_OK)
        return st;
    if (threads > 1 && fgq_graph_runner_set_threads(&r, threads, err) != FGQ_OK)
        fgq_error_clear(err); /* runs serially */
    const int32_t n_out = g->n_outputs;
    float **outs = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *outs);
    st = outs == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "out of memory") : FGQ_OK;
    for (int32_t i = 0; st == FGQ_OK && i < n_out; i++) {
        fgq_tensor_info info;
        fgq_model_output_info(&r.model, i, &info);
        if ((outs[i] = malloc((size_t)info.size_bytes + 1)) == NULL)
            st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; st == FGQ_OK && i < n_obs; i++)
        if (obs[i].bind != NULL)
            obs[i].bind(obs[i].user, fgq_threadpool_parallel(r.pool));
    sweep_fanout f = {obs, n_obs};
    const void *x[FGQ_SAMPLES_MAX_INPUTS];
    for (int64_t s = 0; st == FGQ_OK && s < n_samples; s++) {
        fgq_samples_at(samples, s, x);
        for (int32_t i = 0; st == FGQ_OK && i < n_obs; i++)
            if (obs[i].input != NULL)
                st = obs[i].input(obs[i].user, s, x, err);
        if (st == FGQ_OK)
            st = fgq_graph_runner_run(&r, (const float *const *)x, outs, fan_out, &f, err);
        for (int32_t i = 0; st == FGQ_OK && i < n_obs; i++)
            if (obs[i].after != NULL)
                st = obs[i].after(obs[i].user, s, err);
        if (st == FGQ_OK && progress != NULL)
            progress(user, s + 1, n_samples);
    }
    for (int32_t i = 0; outs != NULL && i < n_out; i++)
        free(outs[i]);
    free(outs);
    fgq_graph_runner_free(&r);
    return st;
}
