/*
 * ternary.h — FGQ ternary solvers for one group of weights (DESIGN §3).
 *
 * A group w[0..n) is approximated by  +alpha_pos where w > delta_pos,
 * -alpha_neg where w < -delta_neg, and 0 elsewhere; the codes t[i] are
 * +1 / -1 / 0 and the fit is W ≈ alpha_pos * [t = +1] - alpha_neg * [t = -1].
 *   FGQ_TERNARY_TWN   Li & Liu 2016: delta = 0.7 * mean|w|, alpha = mean |w|
 *                     over |w| > delta (alpha_pos = alpha_neg).
 *   FGQ_TERNARY_EXACT the minimizer of ||W - alpha*T||^2 over alpha >= 0 and
 *                     T in {-1,0,1}^n: sort |w| descending, prefix sums S_k,
 *                     keep the k maximizing S_k^2 / k, alpha = S_k / k.
 *   FGQ_TERNARY_ASYM  positives and negatives solved apart, each exactly
 *                     (alpha_pos from the positives, alpha_neg from the
 *                     negatives; a sign with no elements gets alpha 0).
 * Every solver returns alpha = mean |w| over the weights it codes nonzero
 * (the optimal alpha for its T), and codes exactly the weights above delta.
 * An all-zero group gives alpha 0, all codes 0. n == 0 is allowed.
 *
 * Memory: the caller passes scratch of fgq_ternary_scratch_bytes(n) bytes,
 * so a row loop allocates once, not per group. Solvers never fail.
 */
#ifndef FGQ_TOOLS_QUANT_TERNARY_H
#define FGQ_TOOLS_QUANT_TERNARY_H

#include "fgq_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FGQ_TERNARY_TWN = 0,
    FGQ_TERNARY_EXACT = 1,
    FGQ_TERNARY_ASYM = 2,
} fgq_ternary_solver;

typedef struct {
    float alpha_pos, alpha_neg; /* >= 0 */
    float delta_pos, delta_neg; /* >= 0; t = +1 iff w > delta_pos, -1 iff w < -delta_neg */
    int64_t n_pos, n_neg;       /* how many codes are +1 / -1 */
} fgq_ternary_fit;

const char *fgq_ternary_solver_name(fgq_ternary_solver s);

/* Scratch bytes a solve of a group of n weights needs (any solver). */
size_t fgq_ternary_scratch_bytes(int64_t n);

/* Solves one group: writes n codes to t (may be NULL) and the fit. */
void fgq_ternary_solve_f32(fgq_ternary_solver solver, const float *w, int64_t n, void *scratch,
                           int8_t *t, fgq_ternary_fit *fit);

/* Sum of squared errors of the fit (codes t) against w, in double. */
double fgq_ternary_sse(const float *w, const int8_t *t, int64_t n, const fgq_ternary_fit *fit);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TOOLS_QUANT_TERNARY_H */
