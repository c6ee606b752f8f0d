/* test_plan.c — the arena planner (runtime/plan.h).
 *
 * Oracles: an independent brute-force checker (every pair of tensors whose
 * lifetimes share a step must occupy disjoint bytes; every tensor inside the
 * arena; offsets 64-aligned), a step-by-step lower bound computed here, and
 * hand-computed plans for small cases. */
#include "fgq_test.h"
#include "plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t align64(uint64_t x) { return (x + 63) / 64 * 64; }

/* Brute force: 1 if the plan is valid for arena size `arena`. */
static int plan_valid(const fgq_plan_tensor *t, int n, uint64_t arena)
{
    for (int i = 0; i < n; i++) {
        if (t[i].offset % 64 != 0 || t[i].offset + t[i].size_bytes > arena)
            return 0;
        for (int j = i + 1; j < n; j++) {
            int live_together = 0;
            for (int s = t[i].first_use; s <= t[i].last_use; s++)
                if (s >= t[j].first_use && s <= t[j].last_use)
                    live_together = 1;
            int bytes_shared = t[i].size_bytes > 0 && t[j].size_bytes > 0 &&
                               t[i].offset < t[j].offset + t[j].size_bytes &&
                               t[j].offset < t[i].offset + t[i].size_bytes;
            if (live_together && bytes_shared)
                return 0;
        }
    }
    return 1;
}

/* Max over every step of the live aligned sizes, walking steps one by one. */
static uint64_t lower_bound_by_steps(const fgq_plan_tensor *t, int n)
{
    int max_step = 0;
    for (int i = 0; i < n; i++)
        if (t[i].last_use > max_step)
            max_step = t[i].last_use;
    uint64_t best = 0;
    for (int s = 0; s <= max_step; s++) {
        uint64_t live = 0;
        for (int i = 0; i < n; i++)
            if (t[i].first_use <= s && s <= t[i].last_use)
                live += align64(t[i].size_bytes);
        if (live > best)
            best = live;
    }
    return best;
}

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static fgq_status plan(fgq_plan_tensor *t, int n, uint64_t *arena, uint64_t *lb)
{
    static int32_t scratch[2 * 512];
    fgq_error err;
    fgq_error_clear(&err);
    fgq_status st = fgq_plan(t, n, scratch, sizeof scratch, arena, lb, &err);
    if (st != FGQ_OK)
        fprintf(stderr, "plan: %s\n", err.msg);
    return st;
}

static void test_scratch_size(void)
{
    /* oracle: two int32 arrays of n entries */
    CHECK(fgq_plan_scratch_size(0) == 0);
    CHECK(fgq_plan_scratch_size(10) == 80);
}

static void test_hand_plan(void)
{
    /* oracle (by hand): a [0,1] 100 B, b [1,2] 300 B, c [2,3] 200 B.
     * b (largest) at 0; c overlaps b -> 320; a overlaps b only -> 320 too
     * (a and c never live together). Arena = align64(320 + 200) = 576. */
    fgq_plan_tensor t[3] = {{100, 0, 1, 0}, {300, 1, 2, 0}, {200, 2, 3, 0}};
    uint64_t arena = 0, lb = 0;
    CHECK(plan(t, 3, &arena, &lb) == FGQ_OK);
    CHECK(t[1].offset == 0);
    CHECK(t[2].offset == 320);
    CHECK(t[0].offset == 320);
    CHECK(arena == 576);
    CHECK(lb == 576);
}

static void test_disjoint_lifetimes_share(void)
{
    /* oracle: tensors never live together all go to offset 0 */
    fgq_plan_tensor t[4] = {{1000, 0, 0, 7}, {10, 1, 1, 7}, {640, 2, 2, 7}, {0, 0, 3, 7}};
    uint64_t arena = 0, lb = 0;
    CHECK(plan(t, 4, &arena, &lb) == FGQ_OK);
    for (int i = 0; i < 4; i++)
        CHECK(t[i].offset == 0);
    CHECK(arena == 1024);
    CHECK(lb == 1024);
}

static void test_bad_args(void)
{
    /* oracle: the contract's error cases */
    fgq_plan_tensor t[2] = {{64, 2, 1, 0}, {64, 0, 0, 0}};
    int32_t scratch[4];
    uint64_t arena;
    fgq_error err;
    fgq_error_clear(&err);
    CHECK(fgq_plan(t, 2, scratch, sizeof scratch, &arena, NULL, &err) == FGQ_ERR_VALUE);
    CHECK(strstr(err.msg, "lifetime") != NULL);
    t[0].first_use = 0;
    fgq_error_clear(&err);
    CHECK(fgq_plan(t, 2, scratch, 8, &arena, NULL, &err) == FGQ_ERR_VALUE);
    CHECK(strstr(err.msg, "scratch") != NULL);
    t[0].size_bytes = UINT64_MAX - 10;
    fgq_error_clear(&err);
    CHECK(fgq_plan(t, 2, scratch, sizeof scratch, &arena, NULL, &err) == FGQ_ERR_VALUE);
    CHECK(fgq_plan(t, 0, NULL, 0, &arena, NULL, NULL) == FGQ_OK && arena == 0);
}

static void test_random_lifetimes(void)
{
    /* oracle: brute-force validity, arena >= step-wise lower bound, and the
     * planner's own lower bound equal to the step-wise one */
    fgq_plan_tensor t[200];
    for (int iter = 0; iter < 300; iter++) {
        int n = 1 + (int)(rnd() % 200), steps = 1 + (int)(rnd() % 60);
        for (int i = 0; i < n; i++) {
            int a = (int)(rnd() % (uint32_t)steps), b = (int)(rnd() % (uint32_t)steps);
            t[i].first_use = a < b ? a : b;
            t[i].last_use = a < b ? b : a;
            t[i].size_bytes = (rnd() % 8 == 0) ? 0 : 1 + rnd() % 5000;
            t[i].offset = 12345;
        }
        uint64_t arena = 0, lb = 0;
        CHECK(plan(t, n, &arena, &lb) == FGQ_OK);
        uint64_t lb_steps = lower_bound_by_steps(t, n);
        CHECK_MSG(plan_valid(t, n, arena), "iter %d: conflict", iter);
        CHECK_MSG(lb == lb_steps, "iter %d: lb %llu vs %llu", iter, (unsigned long long)lb,
                  (unsigned long long)lb_steps);
        CHECK(arena >= lb_steps);
        CHECK(arena % 64 == 0);
        CHECK(fgq_plan_lower_bound(t, n) == lb_steps);
    }
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_chains(void)
{
    /* oracle: in a chain t_i lives [i, i+1], so only neighbours live together.
     * With strictly monotone sizes (the usual shrinking or growing CNN) or all
     * sizes equal, greedy puts every other tensor at 0 and the rest just above
     * their larger neighbour, so the arena equals the aligned lower bound.
     * (Greedy-by-size is not optimal for every chain, e.g. 5,4,2,6,2,5 x 64 B
     * gives 11 blocks vs 9, and ties between growing sizes can cost a level;
     * for those only validity is checked.) */
    fgq_plan_tensor t[64];
    uint64_t sizes[64];
    for (int iter = 0; iter < 400; iter++) {
        int n = 1 + (int)(rnd() % 64);
        int shape = iter % 4; /* 0 arbitrary, 1 shrinking, 2 growing, 3 equal */
        for (int i = 0; i < n; i++) /* i < 64 makes sizes distinct modulo 64 */
            sizes[i] = 1 + (uint64_t)i + 64 * (uint64_t)(rnd() % (iter % 8 < 4 ? 5 : 2000));
        if (shape == 1 || shape == 2)
            qsort(sizes, (size_t)n, sizeof sizes[0], cmp_u64_desc);
        for (int i = 0; i < n; i++) {
            t[i].first_use = i;
            t[i].last_use = i + 1;
            t[i].size_bytes = shape == 2 ? sizes[n - 1 - i] : shape == 3 ? sizes[0] : sizes[i];
        }
        uint64_t arena = 0, lb = 0;
        CHECK(plan(t, n, &arena, &lb) == FGQ_OK);
        CHECK(plan_valid(t, n, arena));
        CHECK(arena >= lower_bound_by_steps(t, n));
        if (shape != 0)
            CHECK_MSG(arena == lower_bound_by_steps(t, n), "iter %d: arena %llu vs lb %llu", iter,
                      (unsigned long long)arena, (unsigned long long)lower_bound_by_steps(t, n));
    }
}

int main(void)
{
    RUN(test_scratch_size);
    RUN(test_hand_plan);
    RUN(test_disjoint_lifetimes_share);
    RUN(test_bad_args);
    RUN(test_random_lifetimes);
    RUN(test_chains);
    return FGQ_TEST_DONE();
}
