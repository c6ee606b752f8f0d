/* threadpool.c — persistent pthread workers behind fgq_parallel.
 *
 * One job at a time. The caller writes the job (fn, ctx, n, grain), then
 * publishes it by storing a new generation into `state` (release) and wakes
 * any sleeping worker. The job's chunks are dealt in contiguous shares, one a
 * thread (the caller is thread 0, worker i thread i + 1), each share with its
 * own atomic cursor: a thread takes its own share's chunks in order, then
 * what is left of the others' (so a late or slow thread's chunks still get
 * done). Thread i thus runs the i-th part of every job whenever the threads
 * keep pace, so which core works on which positions, and which scratch slice
 * it writes (fgq_scratch_claim_for), stays the same from node to node; with
 * one shared cursor it changed with every job, the first chunk going to
 * whichever thread came first (with the slice hint: 2-3 % at two threads).
 *
 * A worker may only touch a job it has *entered*: a CAS on `state` that
 * raises the active count while the generation is still the one it saw and
 * the job is not closed. When the caller has no chunk left to take it closes
 * the job (a bit in `state`) and waits only for the workers inside it to
 * leave (active count 0, acquire: their chunks' writes are then visible).
 * A worker that wakes late (preempted, or slow out of cond_wait) finds the
 * job closed and goes back to waiting, so a busy machine never makes the
 * caller wait for a thread that did no work — and the caller rewrites the
 * job fields only when no worker is inside.
 *
 * Workers and the waiting caller poll briefly before sleeping on a condition
 * variable; sleeping and waking go through `mu`, so no wake-up is lost. */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPIN_PAUSE() _mm_pause()
#else
#define SPIN_PAUSE() ((void)0)
#endif

/* How long a worker (or the waiting caller) polls before it sleeps: a model
 * runs its nodes back to back, but between two parallel nodes the caller
 * often runs a serial one (QUANTIZE of the input, a QADD, a small GEMV) of
 * 10-100 us, and a worker that went to sleep then costs a futex wake-up and a
 * reschedule at the next node (tens of us on a VM). A bound of 20,000 polls
 * (~15 us here) put MobileNetV2 s8 at 3.93 ms on two threads, hardly below one
 * thread's 3.99; polling for up to SPIN_NS: 2.70 ms (docs/benchmarks.md).
 * Bounded in time, so an idle pool burns a core for at most SPIN_NS after its
 * last job; the clock is read once every SPIN_CHECK polls (a vDSO call). */
#define SPIN_NS 2000000ll
#define SPIN_CHECK 256

/* A share's cursor, on a cache line of its own. */
typedef struct {
    _Alignas(64) atomic_int_fast64_t next;
} share;

typedef struct {
    struct fgq_threadpool *pool;
    int32_t index; /* thread index: 1 + the worker's */
} worker_arg;

/* state = generation << 33 | closed << 32 | active workers. The generation
 * wraps after 2^31 jobs; a worker only compares it for equality. */
#define STATE_ACTIVE_MASK 0xFFFFFFFFull
#define STATE_CLOSED (1ull << 32)
#define STATE_GEN_SHIFT 33

struct fgq_threadpool {
    fgq_parallel par;          /* what the runtime sees; impl points back here */
    int32_t n_threads;         /* caller included */
    int32_t n_workers;         /* started and not yet joined */
    pid_t owner;               /* the process that started them: a forked child has none */
    pthread_t *workers;
    pthread_mutex_t submit;    /* one parallel_for at a time */
    pthread_mutex_t mu;        /* with the conds: sleeping and waking only */
    pthread_cond_t wake, done;
    int32_t sleepers;          /* workers in cond_wait on `wake` (under mu) */
    int caller_waiting;        /* the caller is in cond_wait on `done` (under mu) */
    uint64_t generation;       /* the caller's count of jobs (submit held) */
    atomic_uint_fast64_t state;
    atomic_int stop;
    /* The job: written by the caller while no worker is inside one, read by
     * workers only after entering. */
    fgq_task_fn fn;
    void *ctx;
    int64_t n, grain, chunks;
    share *shares;             /* n_threads cursors: share t's next chunk (its end: share_end) */
    worker_arg *args;          /* worker i's (the pool, i + 1) */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* A poll bound: call spin_more(&s) once a poll; it returns 0 once SPIN_NS have passed since
 * spin_start. */
typedef struct {
    int64_t t0;
    int32_t polls;
} spin_state;

static spin_state spin_start(void)
{
    const spin_state s = { now_ns(), 0 };
    return s;
}

static int spin_more(spin_state *s)
{
    SPIN_PAUSE();
    if (++s->polls < SPIN_CHECK)
        return 1;
    s->polls = 0;
    return now_ns() - s->t0 < SPIN_NS;
}

static uint64_t state_gen(uint64_t st)
{
    return st >> STATE_GEN_SHIFT;
}

/* The first chunk past share t of `chunks` over `threads`: shares differ by at most one chunk. */
static int64_t share_end(int64_t chunks, int32_t threads, int32_t t)
{
    return chunks / threads * (t + 1) + (chunks % threads < t + 1 ? chunks % threads : t + 1);
}

/* Thread `self`: its own share's chunks, then the others' (the next share first). */
static void run_chunks(fgq_threadpool *p, int32_t self, fgq_task_fn fn, void *ctx, int64_t n, int64_t grain)
{
    const int32_t T = p->n_threads;
    for (int32_t k = 0; k < T; k++) {
        const int32_t t = (self + k) % T;
        const int64_t end = share_end(p->chunks, T, t);
        for (;;) {
            const int64_t c = (int64_t)atomic_fetch_add_explicit(&p->shares[t].next, 1, memory_order_relaxed);
            if (c >= end)
                break;
            const int64_t b = c * grain;
            fn(ctx, b, n - b > grain ? b + grain : n);
        }
    }
}

/* Waits until the generation differs from `seen` or stop is set; returns it. */
static uint64_t wait_for_job(fgq_threadpool *p, uint64_t seen)
{
    for (spin_state sp = spin_start(); spin_more(&sp);) {
        const uint64_t g = state_gen(atomic_load_explicit(&p->state, memory_order_acquire));
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_relaxed))
            return g;
    }
    pthread_mutex_lock(&p->mu);
    p->sleepers++;
    uint64_t g;
    while ((g = state_gen(atomic_load_explicit(&p->state, memory_order_acquire))) == seen &&
           !atomic_load_explicit(&p->stop, memory_order_relaxed))
        pthread_cond_wait(&p->wake, &p->mu);
    p->sleepers--;
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* Joins job `gen` if it is still open: returns 1 when entered. */
static int enter_job(fgq_threadpool *p, uint64_t gen)
{
    uint64_t st = atomic_load_explicit(&p->state, memory_order_acquire);
    while (state_gen(st) == gen && !(st & STATE_CLOSED)) {
        if (atomic_compare_exchange_weak_explicit(&p->state, &st, st + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return 1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    fgq_threadpool *p = ((worker_arg *)arg)->pool;
    const int32_t self = ((worker_arg *)arg)->index;
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            return NULL;
        if (!enter_job(p, seen))
            continue;
        run_chunks(p, self, p->fn, p->ctx, p->n, p->grain);
        const uint64_t before = atomic_fetch_sub_explicit(&p->state, 1, memory_order_acq_rel);
        if ((before & STATE_CLOSED) && (before & STATE_ACTIVE_MASK) == 1) {
            /* last one out of a closed job: wake the caller if it stopped polling */
            pthread_mutex_lock(&p->mu);
            if (p->caller_waiting)
                pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static int job_busy(fgq_threadpool *p)
{
    return (atomic_load_explicit(&p->state, memory_order_acquire) & STATE_ACTIVE_MASK) != 0;
}

static void pool_parallel_for(void *impl, fgq_idx n, fgq_idx grain, fgq_task_fn fn, void *ctx)
{
    fgq_threadpool *p = (fgq_threadpool *)impl;
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    if (p->n_workers == 0 || n <= grain || getpid() != p->owner) {
        /* nobody to share with (in a forked child the workers do not exist): the same chunks, in
         * order, on this thread */
        for (int64_t b = 0; b < n; b += grain)
            fn(ctx, b, n - b > grain ? b + grain : n);
        return;
    }
    pthread_mutex_lock(&p->submit);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->grain = grain;
    p->chunks = (n + grain - 1) / grain;
    for (int32_t t = 0; t < p->n_threads; t++)
        atomic_store_explicit(&p->shares[t].next, t > 0 ? share_end(p->chunks, p->n_threads, t - 1) : 0,
                              memory_order_relaxed);
    p->generation = (p->generation + 1) & (STATE_ACTIVE_MASK >> 1);
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->state, p->generation << STATE_GEN_SHIFT, memory_order_release);
    if (p->sleepers > 0)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    run_chunks(p, 0, fn, ctx, n, grain);

    /* Every chunk is taken: no one may enter now; wait for those inside. */
    atomic_fetch_or_explicit(&p->state, STATE_CLOSED, memory_order_acq_rel);
    for (spin_state sp = spin_start(); job_busy(p) && spin_more(&sp);) {
    }
    if (job_busy(p)) {
        pthread_mutex_lock(&p->mu);
        p->caller_waiting = 1;
        while (job_busy(p))
            pthread_cond_wait(&p->done, &p->mu);
        p->caller_waiting = 0;
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->submit);
}

/* Stops and joins the started workers, then frees what create made. */
static void pool_release(fgq_threadpool *p, int sync_ready)
{
    /* a forked child owns no workers to join and may hold copies of locked mutexes: only free */
    if (sync_ready && getpid() == p->owner) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        for (int32_t i = 0; i < p->n_workers; i++)
            pthread_join(p->workers[i], NULL);
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        pthread_mutex_destroy(&p->submit);
    }
    free(p->workers);
    free(p->args);
    free(p->shares);
    free(p);
}

fgq_status fgq_threadpool_create(int32_t n_threads, fgq_threadpool **out, fgq_error *err)
{
    if (out == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_threadpool_create: NULL result pointer");
    *out = NULL;
    if (n_threads < 1 || n_threads > FGQ_THREADPOOL_MAX_THREADS)
        return fgq_fail(err, FGQ_ERR_VALUE, "thread count %ld is outside 1..%d", (long)n_threads,
                        FGQ_THREADPOOL_MAX_THREADS);
    fgq_threadpool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "cannot allocate a thread pool");
    p->n_threads = n_threads;
    p->par.impl = p;
    p->par.n_threads = n_threads;
    p->par.parallel_for = pool_parallel_for;
    p->owner = getpid();
    atomic_init(&p->state, 0);
    atomic_init(&p->stop, 0);
    if (n_threads > 1 && ((p->workers = malloc((size_t)(n_threads - 1) * sizeof *p->workers)) == NULL ||
                          (p->args = malloc((size_t)(n_threads - 1) * sizeof *p->args)) == NULL ||
                          (p->shares = aligned_alloc(64, (size_t)n_threads * sizeof *p->shares)) == NULL)) {
        pool_release(p, 0);
        return fgq_fail(err, FGQ_ERR_NOMEM, "cannot allocate %ld worker records", (long)(n_threads - 1));
    }
    for (int32_t t = 0; n_threads > 1 && t < n_threads; t++)
        atomic_init(&p->shares[t].next, 0);
    int ok = pthread_mutex_init(&p->submit, NULL) == 0;
    if (ok && pthread_mutex_init(&p->mu, NULL) != 0) {
        pthread_mutex_destroy(&p->submit);
        ok = 0;
    }
    if (ok && pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_mutex_destroy(&p->submit);
        ok = 0;
    }
    if (ok && pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        pthread_mutex_destroy(&p->submit);
        ok = 0;
    }
    if (!ok) {
        pool_release(p, 0);
        return fgq_fail(err, FGQ_ERR_NOMEM, "cannot initialize the thread pool's mutexes");
    }
    /* The optimized integer kernels keep their tiles on the stack (QCONV's deepest path about
     * 150 KiB): give workers a stack of known size rather than the C library's default
     * (8 MiB with glibc, 128 KiB with musl). */
    pthread_attr_t attr;
    const int have_attr = pthread_attr_init(&attr) == 0;
    if (have_attr)
        (void)pthread_attr_setstacksize(&attr, FGQ_THREADPOOL_STACK_BYTES);
    for (int32_t i = 0; i < n_threads - 1; i++) {
        p->args[i] = (worker_arg){ p, i + 1 };
        if (pthread_create(&p->workers[i], have_attr ? &attr : NULL, worker_main, &p->args[i]) != 0) {
            if (have_attr)
                pthread_attr_destroy(&attr);
            /* Keep the workers started so far counted so they are joined. */
            pool_release(p, 1);
            return fgq_fail(err, FGQ_ERR_NOMEM, "cannot start worker thread %ld of %ld", (long)(i + 1),
                            (long)(n_threads - 1));
        }
        p->n_workers = i + 1;
    }
    if (have_attr)
        pthread_attr_destroy(&attr);
    *out = p;
    return FGQ_OK;
}

const fgq_parallel *fgq_threadpool_parallel(const fgq_threadpool *pool)
{
    return pool != NULL ? &pool->par : NULL;
}

int32_t fgq_threadpool_n_threads(const fgq_threadpool *pool)
{
    return pool != NULL ? pool->n_threads : 1;
}

void fgq_threadpool_destroy(fgq_threadpool *pool)
{
    if (pool != NULL)
        pool_release(pool, 1);
}

int32_t fgq_threadpool_default_threads(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > FGQ_THREADPOOL_MAX_THREADS ? FGQ_THREADPOOL_MAX_THREADS : (int32_t)n;
}
