/*
 * test_threadpool.c — tools/threadpool.{h,c}.
 *
 * Oracle: a counter per index. After parallel_for(n, grain) every counter must
 * be exactly 1 (each index covered once, none outside [0, n)), every chunk
 * must be non-empty and at most `grain` long, over many thread counts, n
 * (0, 1, n < threads, grain > n, n not a multiple of grain) and grains.
 * Parallelism itself is checked by a task whose first chunk waits for the
 * second to start: only a second thread can make that happen. The deal in
 * shares: the caller runs chunk 0 (its share's first) whatever the workers
 * do, and a thread stuck in its share's first chunk gets the rest of that
 * share done by the others.
 */
#include "fgq_test.h"
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

typedef struct {
    atomic_int *count;
    int64_t n, grain;
    atomic_int bad_chunks; /* empty, too long or out of range */
    atomic_int calls;
} cover_ctx;

static void cover_task(void *ctx, fgq_idx begin, fgq_idx end)
{
    cover_ctx *c = (cover_ctx *)ctx;
    atomic_fetch_add(&c->calls, 1);
    if (begin < 0 || end > c->n || begin >= end || end - begin > c->grain) {
        atomic_fetch_add(&c->bad_chunks, 1);
        return;
    }
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&c->count[i], 1);
}

/* Runs one parallel_for through `par`; returns 1 when the coverage oracle
 * holds, else prints why and returns 0. Safe from any thread (the CHECK
 * counters are not, so callers CHECK the result on the main thread). */
static int cover_ok(const fgq_parallel *par, int64_t n, int64_t grain)
{
    cover_ctx c;
    c.count = calloc((size_t)(n > 0 ? n : 1), sizeof *c.count);
    if (c.count == NULL)
        return 0;
    c.n = n;
    c.grain = grain;
    atomic_init(&c.bad_chunks, 0);
    atomic_init(&c.calls, 0);
    for (int64_t i = 0; i < n; i++)
        atomic_init(&c.count[i], 0);
    par->parallel_for(par->impl, n, grain, cover_task, &c);
    int64_t wrong = 0;
    for (int64_t i = 0; i < n; i++)
        wrong += atomic_load(&c.count[i]) != 1;
    free(c.count);
    const int64_t chunks = n > 0 ? (n + grain - 1) / grain : 0;
    if (wrong == 0 && atomic_load(&c.bad_chunks) == 0 && atomic_load(&c.calls) == chunks)
        return 1;
    fprintf(stderr, "threads %d n %lld grain %lld: %lld indices not covered once, %d bad chunks, %d calls (want %lld)\n",
            (int)par->n_threads, (long long)n, (long long)grain, (long long)wrong, atomic_load(&c.bad_chunks),
            atomic_load(&c.calls), (long long)chunks);
    return 0;
}

static void check_cover(const fgq_parallel *par, int64_t n, int64_t grain)
{
    CHECK(cover_ok(par, n, grain));
}

static void test_covers_every_index_once(void)
{
    static const int32_t threads[] = { 1, 2, 3, 4, 7, 16 };
    static const int64_t ns[] = { 0, 1, 2, 3, 5, 8, 17, 64, 100, 1000, 4099 };
    static const int64_t grains[] = { 1, 2, 3, 7, 64, 5000 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        fgq_threadpool *pool = NULL;
        fgq_error err;
        fgq_error_clear(&err);
        CHECK(fgq_threadpool_create(threads[t], &pool, &err) == FGQ_OK);
        if (pool == NULL)
            continue;
        const fgq_parallel *par = fgq_threadpool_parallel(pool);
        CHECK(par != NULL && par->n_threads == threads[t] && fgq_threadpool_n_threads(pool) == threads[t]);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++)
                check_cover(par, ns[i], grains[g]);
        fgq_threadpool_destroy(pool);
    }
}

/* Many small jobs back to back: a worker that missed or repeated a
 * generation would break the oracle. */
static void test_many_jobs_in_a_row(void)
{
    fgq_threadpool *pool = NULL;
    fgq_error err;
    CHECK(fgq_threadpool_create(4, &pool, &err) == FGQ_OK);
    if (pool == NULL)
        return;
    for (int k = 0; k < 2000; k++)
        check_cover(fgq_threadpool_parallel(pool), 1 + k % 37, 1 + k % 5);
    fgq_threadpool_destroy(pool);
}

/* The inline helper: NULL provider runs one call over everything. */
static void test_helper_without_pool(void)
{
    atomic_int count[10];
    for (int i = 0; i < 10; i++)
        atomic_init(&count[i], 0);
    cover_ctx c = { .count = count, .n = 10, .grain = 10 };
    atomic_init(&c.bad_chunks, 0);
    atomic_init(&c.calls, 0);
    fgq_parallel_for(NULL, 10, 3, cover_task, &c);
    CHECK(atomic_load(&c.calls) == 1);
    for (int i = 0; i < 10; i++)
        CHECK(atomic_load(&count[i]) == 1);
    fgq_parallel_for(NULL, 0, 3, cover_task, &c);
    CHECK(atomic_load(&c.calls) == 1);
}

typedef struct {
    atomic_int second_started;
    atomic_int saw_second;
} rendezvous_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Chunk 0 waits (up to 20 s) for chunk 1 to start. Whoever runs chunk 0 is
 * stuck in it, so chunk 1 can only start on another thread. */
static void rendezvous_task(void *ctx, fgq_idx begin, fgq_idx end)
{
    rendezvous_ctx *r = (rendezvous_ctx *)ctx;
    for (int64_t i = begin; i < end; i++) {
        if (i == 1) {
            atomic_store(&r->second_started, 1);
        } else if (i == 0) {
            const double t0 = now_s();
            while (!atomic_load(&r->second_started) && now_s() - t0 < 20.0) {
            }
            atomic_store(&r->saw_second, atomic_load(&r->second_started));
        }
    }
}

static void test_work_runs_on_two_threads(void)
{
    fgq_threadpool *pool = NULL;
    fgq_error err;
    CHECK(fgq_threadpool_create(2, &pool, &err) == FGQ_OK);
    if (pool == NULL)
        return;
    rendezvous_ctx r;
    atomic_init(&r.second_started, 0);
    atomic_init(&r.saw_second, 0);
    const fgq_parallel *par = fgq_threadpool_parallel(pool);
    fgq_parallel_for(par, 2, 1, rendezvous_task, &r);
    CHECK_MSG(atomic_load(&r.saw_second) == 1, "chunk 1 never ran beside chunk 0");
    fgq_threadpool_destroy(pool);
}

/* Chunk 0 records its thread; every other chunk waits (up to 20 s) for chunk 0 to have
 * started. A worker reaches share 0 only once its own share is taken, and a chunk of its share
 * that it took waits for chunk 0: so chunk 0 runs on the caller. Then chunk 0 waits (up to 20 s)
 * for every other chunk to finish: the chunks of the caller's share after chunk 0 can only be
 * done by a worker taking them from that share. */
typedef struct {
    pthread_t caller, ran_0;
    atomic_int started_0, done, all_done;
    int64_t n;
} share_ctx;

static void share_task(void *ctx, fgq_idx begin, fgq_idx end)
{
    share_ctx *c = (share_ctx *)ctx;
    for (int64_t i = begin; i < end; i++) {
        const double t0 = now_s();
        if (i == 0) {
            c->ran_0 = pthread_self();
            atomic_store(&c->started_0, 1);
            while (atomic_load(&c->done) < c->n - 1 && now_s() - t0 < 20.0) {
            }
            atomic_store(&c->all_done, atomic_load(&c->done) == c->n - 1);
            continue;
        }
        while (!atomic_load(&c->started_0) && now_s() - t0 < 20.0) {
        }
        atomic_fetch_add(&c->done, 1);
    }
}

static void test_caller_runs_the_first_share(void)
{
    static const int32_t threads[] = { 2, 3 };
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        fgq_threadpool *pool = NULL;
        fgq_error err;
        CHECK(fgq_threadpool_create(threads[t], &pool, &err) == FGQ_OK);
        if (pool == NULL)
            return;
        for (int rep = 0; rep < 20; rep++) {
            share_ctx c = { .caller = pthread_self(), .n = 4 * threads[t] + rep % 3 };
            atomic_init(&c.started_0, 0);
            atomic_init(&c.done, 0);
            atomic_init(&c.all_done, 0);
            fgq_parallel_for(fgq_threadpool_parallel(pool), c.n, 1, share_task, &c);
            CHECK_MSG(pthread_equal(c.ran_0, c.caller), "chunk 0 ran on a worker (threads %d)", (int)threads[t]);
            CHECK_MSG(atomic_load(&c.all_done) == 1, "the caller's share waited for the caller (threads %d)",
                      (int)threads[t]);
        }
        fgq_threadpool_destroy(pool);
    }
}

/* Two caller threads sharing one pool: calls are serialized, each still
 * covers its own range exactly once. */
typedef struct {
    const fgq_parallel *par;
    int64_t n;
    int failures;
} caller_arg;

static void *caller_main(void *arg)
{
    caller_arg *a = (caller_arg *)arg;
    for (int k = 0; k < 200; k++)
        a->failures += !cover_ok(a->par, a->n + k % 11, 1 + k % 4);
    return NULL;
}

static void test_shared_by_two_callers(void)
{
    fgq_threadpool *pool = NULL;
    fgq_error err;
    CHECK(fgq_threadpool_create(3, &pool, &err) == FGQ_OK);
    if (pool == NULL)
        return;
    caller_arg a = { fgq_threadpool_parallel(pool), 50, 0 }, b = { fgq_threadpool_parallel(pool), 93, 0 };
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, caller_main, &a) == 0);
    CHECK(pthread_create(&tb, NULL, caller_main, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.failures == 0 && b.failures == 0);
    fgq_threadpool_destroy(pool);
}

static void test_bad_thread_counts(void)
{
    fgq_threadpool *pool = (fgq_threadpool *)&pool; /* must be reset to NULL on failure */
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_threadpool_create(0, &pool, &err) == FGQ_ERR_VALUE);
    CHECK(pool == NULL);
    CHECK(strstr(err.msg, "1..256") != NULL);
    CHECK(fgq_threadpool_create(FGQ_THREADPOOL_MAX_THREADS + 1, &pool, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_threadpool_create(-3, &pool, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_threadpool_parallel(NULL) == NULL);
    CHECK(fgq_threadpool_n_threads(NULL) == 1);
    fgq_threadpool_destroy(NULL);
    const int32_t d = fgq_threadpool_default_threads();
    CHECK(d >= 1 && d <= FGQ_THREADPOOL_MAX_THREADS);
}

int main(void)
{
    RUN(test_covers_every_index_once);
    RUN(test_many_jobs_in_a_row);
    RUN(test_helper_without_pool);
    RUN(test_work_runs_on_two_threads);
    RUN(test_caller_runs_the_first_share);
    RUN(test_shared_by_two_callers);
    RUN(test_bad_thread_counts);
    return FGQ_TEST_DONE();
}
