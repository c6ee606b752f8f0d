/*
 * plan.h — the activation arena planner (TFLM GreedyMemoryPlanner idea).
 *
 * Each tensor that lives in the arena (graph inputs and intermediates) has a
 * size and a lifetime [first_use, last_use] of node steps, inclusive. Tensors
 * whose lifetimes share a step must not share bytes; a node's inputs and
 * outputs are live at its step, so they never alias. Lifetimes as the loader
 * checks them: see fgq_runtime.h.
 *
 * fgq_plan places tensors largest first (ties: earlier first_use, then lower
 * index), each at the lowest 64-aligned offset that does not overlap any
 * already placed tensor whose lifetime overlaps its own. Zero-size tensors get
 * offset 0 and occupy nothing. The arena size is the highest end, rounded up
 * to 64. No allocation: the caller passes fgq_plan_scratch_size(n) bytes of
 * scratch (any alignment of 4).
 */
#ifndef FGQ_PLAN_H
#define FGQ_PLAN_H

#include "fgq_types.h"

#include <stdint.h>

#define FGQ_PLAN_ALIGN 64u

typedef struct {
    uint64_t size_bytes;
    int32_t first_use, last_use; /* node steps, 0 <= first_use <= last_use */
    uint64_t offset;             /* out: arena offset, multiple of FGQ_PLAN_ALIGN */
} fgq_plan_tensor;

/* Bytes of scratch fgq_plan needs for n tensors. */
uint64_t fgq_plan_scratch_size(int32_t n);

/* Fills tensors[i].offset, *arena_size and (if not NULL) *lower_bound.
 * FGQ_ERR_VALUE on a bad lifetime, n < 0, too little scratch or a size whose
 * alignment overflows. */
fgq_status fgq_plan(fgq_plan_tensor *tensors, int32_t n, void *scratch, uint64_t scratch_size,
                    uint64_t *arena_size, uint64_t *lower_bound, fgq_error *err);

/* Max over steps of the sum of live sizes, each rounded up to FGQ_PLAN_ALIGN:
 * no plan with 64-aligned offsets can use less. O(n^2), no scratch. */
uint64_t fgq_plan_lower_bound(const fgq_plan_tensor *tensors, int32_t n);

/* x rounded up to a multiple of FGQ_PLAN_ALIGN; UINT64_MAX on overflow. */
uint64_t fgq_plan_align(uint64_t x);

#endif /* FGQ_PLAN_H */
