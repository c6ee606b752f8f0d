/* run.c — execute a loaded model in a caller-provided arena.
 *
 * Load proved every index, offset and shape, so running is: copy graph
 * inputs into their arena slots, run the nodes in file order with views into
 * the arena (or the read-only model for constants), then copy graph outputs
 * out. Nothing here allocates; the model record is only read. The arena is
 * [activations | the node's views | one scratch slice per thread]
 * (fgq_runtime.h), so this function's own frame stays small. */
#include "fgq_runtime.h"

#include <stddef.h>
#include <string.h>

/* Where a tensor of kind `kind` at data_off `off` has its bytes: the model for constants, else
 * the arena. The cast drops const for the view type only; kernels never write inputs. */
static void *tensor_data(const fgq_model *m, uint32_t kind, uint64_t off, uint8_t *arena)
{
    if (kind == FGQ_KIND_CONST)
        return (void *)(uintptr_t)(m->base + off);
    return arena + off;
}

static void read_tensor(const fgq_model *m, int32_t t, fgq_file_tensor *ft)
{
    fgq_file_tensor_decode(m->base + m->tensors_off + sizeof(fgq_disk_tensor) * (uint64_t)t, ft);
    fgq_file_tensor_dims(m->base + m->index_off, ft);
}

/* Index entry at p (int32, little-endian), without an implementation-defined conversion. */
static inline int32_t s32_at(const uint8_t *p)
{
    const uint32_t u = fgq_read_u32le(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Tensor t's view, read straight from its record and its dims' index entries (every node's
 * tensors, every run: only the fields a view needs; load proved them). */
static void make_view(const fgq_model *m, int32_t t, uint8_t *arena, fgq_tensor_view *v)
{
    const uint8_t *r = m->base + m->tensors_off + sizeof(fgq_disk_tensor) * (uint64_t)t;
    const int32_t rank = r[offsetof(fgq_disk_tensor, rank)];
    const uint8_t *x = m->base + m->index_off + 4 * (uint64_t)fgq_read_u32le(r + offsetof(fgq_disk_tensor, dims_index));
    const uint64_t off = fgq_read_u64le(r + offsetof(fgq_disk_tensor, data_off));
    v->dtype = (fgq_dtype)r[offsetof(fgq_disk_tensor, dtype)];
    v->rank = rank;
    for (int32_t d = 0; d < FGQ_MAX_DIMS; d++)
        v->dims[d] = d < rank ? s32_at(x + 4 * (size_t)d) : 0;
    v->data = tensor_data(m, r[offsetof(fgq_disk_tensor, kind)], off, arena);
}

fgq_status fgq_model_run(const fgq_model *m, void *arena, uint64_t arena_size, const void *const *inputs,
                         void *const *outputs, fgq_node_observer obs, void *obs_user, fgq_error *err)
{
    return fgq_model_run_parallel(m, arena, arena_size, inputs, outputs, obs, obs_user, NULL, err);
}

fgq_status fgq_model_run_parallel(const fgq_model *m, void *arena, uint64_t arena_size, const void *const *inputs,
                                  void *const *outputs, fgq_node_observer obs, void *obs_user,
                                  const fgq_parallel *par, fgq_error *err)
{
    if (m == NULL || m->base == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_model_run: no loaded model");
    /* sized for another build, its scratch may be too small here. Load took only the runtime's
     * own profiles, one per name, so another pointer is another profile with another name. */
    if (m->target != fgq_target_build())
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        "fgq_model_run: the model was sized for the %s profile (fgq_model_load_target), this "
                        "runtime's is %s: load it with fgq_model_load to run it",
                        m->target->name, fgq_target_build()->name);
    /* as many scratch slices as threads may run one node's work at once (fgq_parallel_for) */
    const int32_t n_threads = par != NULL && par->n_threads > 1 && par->parallel_for != NULL ? par->n_threads : 1;
    const uint64_t need = fgq_model_arena_size_threads(m, n_threads);
    if (arena_size < need)
        return fgq_fail(err, FGQ_ERR_NOMEM,
                        "fgq_model_run: arena has %llu bytes, the model needs %llu (activations %llu, records %llu, "
                        "%ld thread(s) x %llu scratch) on this %s runtime (export with --target %s)",
                        (unsigned long long)arena_size, (unsigned long long)need, (unsigned long long)m->arena_size,
                        (unsigned long long)m->records_size, (long)n_threads,
                        (unsigned long long)fgq_model_scratch_size(m), m->target->name, m->target->name);
    if (need > 0 && (arena == NULL || (uintptr_t)arena % FGQ_MODEL_ALIGN != 0))
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_model_run: arena at %p is NULL or not %u-byte aligned", arena,
                        FGQ_MODEL_ALIGN);
    if ((m->n_inputs > 0 && inputs == NULL) || (m->n_outputs > 0 && outputs == NULL))
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_model_run: NULL input or output array");
    uint8_t *a = (uint8_t *)arena;
    fgq_tensor_view *views = (fgq_tensor_view *)(void *)(a + m->records_off); /* one node's: in, then out */
    void *scratch = m->scratch_need > 0 ? a + m->records_off + m->records_size : NULL;

    for (int32_t i = 0; i < m->n_inputs; i++) {
        fgq_file_tensor ft;
        read_tensor(m, fgq_model_input_tensor(m, i), &ft);
        if (ft.data_size == 0)
            continue;
        if (inputs[i] == NULL)
            return fgq_fail(err, FGQ_ERR_VALUE, "fgq_model_run: graph input %ld '%.*s' is NULL", (long)i,
                            (int)(ft.name_len > 64 ? 64 : ft.name_len),
                            (const char *)(m->base + m->strings_off + ft.name_off));
        memcpy(a + ft.data_off, inputs[i], (size_t)ft.data_size);
    }

    for (int32_t j = 0; j < m->n_nodes; j++) {
        fgq_file_node fn; /* the record and its parameters (load proved the index ranges) */
        fgq_file_node_decode(m->base + m->nodes_off + sizeof(fgq_disk_node) * (uint64_t)j, &fn);
        fgq_file_node_params(m->base + m->index_off, &fn);
        const uint8_t *io = m->base + m->index_off + 4 * (uint64_t)fn.io_index;
        const int32_t n_in = (int32_t)fn.n_inputs, n_out = (int32_t)fn.n_outputs;
        const fgq_tensor_view *in[FGQ_MAX_NODE_INPUTS];
        const fgq_tensor_view *out[FGQ_MAX_NODE_OUTPUTS];
        for (int32_t i = 0; i < n_in; i++) {
            const int32_t t = s32_at(io + 4 * (size_t)i);
            in[i] = NULL;
            if (t < 0)
                continue;
            make_view(m, t, a, &views[i]);
            in[i] = &views[i];
        }
        for (int32_t o = 0; o < n_out; o++) {
            make_view(m, s32_at(io + 4 * (size_t)(n_in + o)), a, &views[n_in + o]);
            out[o] = &views[n_in + o];
        }
        const fgq_node_view nv = {
            .name = (const char *)(m->base + m->strings_off + fn.name_off),
            .name_len = fn.name_len,
            .op = (fgq_op)fn.op,
            .n_inputs = n_in,
            .n_outputs = n_out,
            .iparams = fn.iparams,
            .fparams = fn.fparams,
            .par = par,
            .cpu = m->cpu,
            .scratch = scratch,
            .scratch_stride = fgq_model_scratch_size(m),
            .n_scratch = scratch != NULL ? n_threads : 0,
        };
        const fgq_op_impl *impl = fgq_op_lookup(fn.op); /* non-NULL: checked at load */
        fgq_status st = impl->run(&nv, in, out, err);
        if (st != FGQ_OK)
            return fgq_fail(err, st, "fgq_model_run: node %ld '%.*s' (%s) failed", (long)j,
                            (int)(fn.name_len > 64 ? 64 : fn.name_len), nv.name, impl->name);
        if (obs != NULL)
            obs(obs_user, j, out, n_out);
    }

    for (int32_t i = 0; i < m->n_outputs; i++) {
        fgq_file_tensor ft;
        read_tensor(m, fgq_model_output_tensor(m, i), &ft);
        if (ft.data_size == 0)
            continue;
        if (outputs[i] == NULL)
            return fgq_fail(err, FGQ_ERR_VALUE, "fgq_model_run: graph output %ld buffer is NULL", (long)i);
        memcpy(outputs[i], tensor_data(m, ft.kind, ft.data_off, a), (size_t)ft.data_size);
    }
    return FGQ_OK;
}
