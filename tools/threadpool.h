/*
 * threadpool.h — a pthread pool that provides the runtime's fgq_parallel
 * (runtime/fgq_ops.h), so kernels can split a node's output over cores while
 * the runtime itself stays thread-free (DESIGN §7).
 *
 * A pool of n threads counts the caller: it starts n - 1 persistent workers
 * (none for n = 1). parallel_for(n_items, grain, fn, ctx) runs chunks
 * [b, min(b + grain, n_items)), b a multiple of grain, and returns when every
 * chunk has run; each index is covered exactly once. The chunks are dealt in
 * contiguous shares, the first to the caller and share i + 1 to worker i;
 * each thread runs its own share in order, then takes what is left of the
 * others' (so a thread that is late or slow delays no one). Ops that split
 * the same axis the same way (positions, say) thus find on their core what
 * the op before wrote there, and keep one scratch slice a thread
 * (fgq_scratch_claim_for). A call with a single chunk, or on a one-thread
 * pool, runs fn inline without waking anyone.
 *
 * Concurrency: parallel_for calls on one pool from several threads are
 * serialized (a mutex), so sharing a pool is safe but not concurrent; fn must
 * not call parallel_for on its own pool (that would deadlock). destroy joins
 * the workers; it must not race with parallel_for. No global state.
 */
#ifndef FGQ_THREADPOOL_H
#define FGQ_THREADPOOL_H

#include "fgq_ops.h"
#include "fgq_types.h"

#include <stddef.h>
#include <stdint.h>

#define FGQ_THREADPOOL_MAX_THREADS 256
/* Stack of each worker thread: room for the kernels' stack tiles (runtime/ops/qconv.c). */
#define FGQ_THREADPOOL_STACK_BYTES ((size_t)2 << 20)

typedef struct fgq_threadpool fgq_threadpool;

/* n_threads in [1, FGQ_THREADPOOL_MAX_THREADS] (FGQ_ERR_VALUE otherwise);
 * FGQ_ERR_NOMEM when memory or a thread cannot be had (nothing leaks). */
fgq_status fgq_threadpool_create(int32_t n_threads, fgq_threadpool **out, fgq_error *err);

/* The pool as the runtime's parallel-for provider; valid until destroy. */
const fgq_parallel *fgq_threadpool_parallel(const fgq_threadpool *pool);

int32_t fgq_threadpool_n_threads(const fgq_threadpool *pool);

/* Stops and joins the workers and frees the pool; NULL is a no-op. */
void fgq_threadpool_destroy(fgq_threadpool *pool);

/* The cores this process may run on now (sysconf(_SC_NPROCESSORS_ONLN)),
 * clamped to [1, FGQ_THREADPOOL_MAX_THREADS]: the CLI's default --threads. */
int32_t fgq_threadpool_default_threads(void);

#endif /* FGQ_THREADPOOL_H */
