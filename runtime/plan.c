/* plan.c — greedy-by-size arena planner; see plan.h for the contract. */
#include "plan.h"

#include <stddef.h>

uint64_t fgq_plan_align(uint64_t x)
{
    if (x > UINT64_MAX - (FGQ_PLAN_ALIGN - 1))
        return UINT64_MAX;
    return (x + FGQ_PLAN_ALIGN - 1) & ~(uint64_t)(FGQ_PLAN_ALIGN - 1);
}

uint64_t fgq_plan_scratch_size(int32_t n)
{
    /* order[n] (placement order) + placed[n] (placed tensors sorted by offset) */
    return n > 0 ? 2u * (uint64_t)n * sizeof(int32_t) : 0;
}

static int lifetimes_overlap(const fgq_plan_tensor *a, const fgq_plan_tensor *b)
{
    return a->first_use <= b->last_use && b->first_use <= a->last_use;
}

/* Placement order: larger first, then earlier first_use, then lower index. */
static int goes_before(const fgq_plan_tensor *t, int32_t a, int32_t b)
{
    if (t[a].size_bytes != t[b].size_bytes)
        return t[a].size_bytes > t[b].size_bytes;
    if (t[a].first_use != t[b].first_use)
        return t[a].first_use < t[b].first_use;
    return a < b;
}

/* Heapsort of order[0..n) by goes_before: in place, O(n log n), no recursion. */
static void sift_down(const fgq_plan_tensor *t, int32_t *order, int32_t root, int32_t n)
{
    for (;;) {
        int32_t child = 2 * root + 1;
        if (child >= n)
            return;
        /* max-heap on "goes after", so the sorted array ends with the last to place */
        if (child + 1 < n && goes_before(t, order[child], order[child + 1]))
            child++;
        if (!goes_before(t, order[root], order[child]))
            return;
        int32_t tmp = order[root];
        order[root] = order[child];
        order[child] = tmp;
        root = child;
    }
}

static void sort_order(const fgq_plan_tensor *t, int32_t *order, int32_t n)
{
    for (int32_t i = n / 2 - 1; i >= 0; i--)
        sift_down(t, order, i, n);
    for (int32_t end = n - 1; end > 0; end--) {
        int32_t tmp = order[0];
        order[0] = order[end];
        order[end] = tmp;
        sift_down(t, order, 0, end);
    }
}

fgq_status fgq_plan(fgq_plan_tensor *tensors, int32_t n, void *scratch, uint64_t scratch_size,
                    uint64_t *arena_size, uint64_t *lower_bound, fgq_error *err)
{
    if (n < 0 || (n > 0 && tensors == NULL) || arena_size == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "plan: bad arguments (n=%ld)", (long)n);
    if (scratch_size < fgq_plan_scratch_size(n) || (n > 0 && scratch == NULL))
        return fgq_fail(err, FGQ_ERR_VALUE, "plan: scratch has %llu bytes, %llu needed",
                        (unsigned long long)scratch_size, (unsigned long long)fgq_plan_scratch_size(n));
    for (int32_t i = 0; i < n; i++) {
        const fgq_plan_tensor *t = &tensors[i];
        if (t->first_use < 0 || t->last_use < t->first_use)
            return fgq_fail(err, FGQ_ERR_VALUE, "plan: tensor %ld has lifetime [%ld, %ld]", (long)i,
                            (long)t->first_use, (long)t->last_use);
        if (fgq_plan_align(t->size_bytes) == UINT64_MAX)
            return fgq_fail(err, FGQ_ERR_VALUE, "plan: tensor %ld size %llu overflows", (long)i,
                            (unsigned long long)t->size_bytes);
    }
    int32_t *order = (int32_t *)scratch;
    int32_t *placed = order + n;
    int32_t n_placed = 0;
    for (int32_t i = 0; i < n; i++)
        order[i] = i;
    sort_order(tensors, order, n);

    uint64_t arena = 0;
    for (int32_t k = 0; k < n; k++) {
        fgq_plan_tensor *t = &tensors[order[k]];
        t->offset = 0;
        if (t->size_bytes == 0)
            continue;
        /* First fit over the placed tensors in offset order: those whose
         * lifetime overlaps ours are obstacles; the candidate only moves up,
         * so the first gap that fits is the lowest conflict-free offset. */
        uint64_t cand = 0;
        uint64_t need = t->size_bytes;
        for (int32_t p = 0; p < n_placed; p++) {
            const fgq_plan_tensor *o = &tensors[placed[p]];
            if (!lifetimes_overlap(t, o))
                continue;
            if (o->offset >= cand && o->offset - cand >= need)
                break;
            uint64_t end = fgq_plan_align(o->offset + o->size_bytes);
            if (end > cand)
                cand = end;
        }
        if (cand > UINT64_MAX - need)
            return fgq_fail(err, FGQ_ERR_VALUE, "plan: arena size overflows at tensor %ld", (long)order[k]);
        t->offset = cand;
        if (cand + need > arena)
            arena = cand + need;
        /* insert into placed[], keeping it sorted by offset */
        int32_t pos = n_placed;
        while (pos > 0 && tensors[placed[pos - 1]].offset > cand) {
            placed[pos] = placed[pos - 1];
            pos--;
        }
        placed[pos] = order[k];
        n_placed++;
    }
    arena = fgq_plan_align(arena);
    if (arena == UINT64_MAX)
        return fgq_fail(err, FGQ_ERR_VALUE, "plan: arena size overflows");
    *arena_size = arena;
    if (lower_bound != NULL)
        *lower_bound = fgq_plan_lower_bound(tensors, n);
    return FGQ_OK;
}

uint64_t fgq_plan_lower_bound(const fgq_plan_tensor *tensors, int32_t n)
{
    /* The live set only grows at some tensor's first_use, so the maximum is
     * reached at one of those steps. */
    uint64_t best = 0;
    for (int32_t a = 0; a < n; a++) {
        int32_t step = tensors[a].first_use;
        uint64_t live = 0;
        for (int32_t b = 0; b < n; b++)
            if (tensors[b].first_use <= step && step <= tensors[b].last_use)
                live += fgq_plan_align(tensors[b].size_bytes);
        if (live > best)
            best = live;
    }
    return best;
}
