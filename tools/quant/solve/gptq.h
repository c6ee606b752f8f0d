/*
 * gptq.h — error-compensating weight quantization (the OBQ / GPTQ family:
 * Frantar & Alistarh 2022, Frantar et al. 2023), DESIGN §3 "Error
 * compensation".
 *
 * A weight layer W [rows, k] sees inputs x (its im2col columns or feature
 * rows); its output error on those inputs is Σ_r (w_r − q_r)ᵀ H (w_r − q_r),
 * H = Σ x·xᵀ [k, k]. Rounding every weight alone minimises ‖W − Q‖; this
 * solver minimises the output error greedily: the columns are quantized in
 * k order, and the rounding error of column j is pushed onto the columns not
 * yet quantized through row j of U, the upper Cholesky factor of
 * (H + λI)⁻¹ = UᵀU:
 *     e_r = (W[r, j] − Q[r, j]) / U[j, j],   W[r, j'] −= e_r·U[j, j'] (j' > j).
 * λ = damp · mean(diag H) (mean 0: λ = damp) keeps the factorisation
 * defined when H is singular (columns whose input is always 0 get only λ on
 * the diagonal: no coupling, so their error goes nowhere and they are
 * quantized as they are).
 *
 * The grid (what a weight may become) is the layer's weight format, exactly
 * as the integer kernels compute it (quantize.h, wformat.h):
 *   per row (mmax 0)   s8 / s4: q = code·s_row[r], code = round(w / s_row)
 *                      clamped to the kind's codes; the step s_row is fixed.
 *   groups (mmax > 0)  each group of `group` columns gets its scale when its
 *                      first column is reached, solved from the *updated*
 *                      weights of the group:
 *     s8:gN / s4:gN    m0 = the least multiplier in [1, mmax] whose step
 *                      holds the group unclipped (codes −127..127 for s8,
 *                      −8..7 for s4: the whole nibble); then the m in
 *                      [⌈0.6·m0⌉, m0] (at most 25 tried, m0 first) with the
 *                      least Σ_j (w_j − q_j)² / U_jj² over the group (the
 *                      loss GPTQ charges for rounding column j; without U
 *                      unweighted): clipping the largest weights buys a
 *                      finer step for the rest. step m·s_row, code =
 *                      round(w / step) clamped;
 *     ternary          the group's solver (ternary.h: twn / exact / asym)
 *                      gives α (α⁺, α⁻), m = round(α / s_row) in [0, mmax];
 *                      code = the nearest of −m⁻·s_row, 0, +m⁺·s_row
 *                      (n_alpha 1: m⁻ = m⁺).
 * Output: codes[rows·k] (int8 code per weight), mults[(r·n_groups + g)·
 * n_alpha + a] (groups only) and deq[rows·k] = code·m·s_row, the weights
 * the kernels compute.
 *
 * All arithmetic on W and U is double; the result depends only on the inputs
 * (no randomness; `par`, NULL for serial, splits independent rows over
 * threads without changing a bit). Cost: k³ for the factorisations and
 * rows·k² for the updates.
 */
#ifndef FGQ_TOOLS_QUANT_GPTQ_H
#define FGQ_TOOLS_QUANT_GPTQ_H

#include "fgq_ops.h"
#include "fgq_types.h"
#include "quant/format/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    fgq_wq_kind kind;          /* FGQ_WQ_S8, FGQ_WQ_S4, FGQ_WQ_S3, FGQ_WQ_S2 or FGQ_WQ_T2 */
    fgq_ternary_solver solver; /* FGQ_WQ_T2 */
    int64_t group;             /* effective group length (k when per row) */
    int32_t n_alpha;           /* FGQ_WQ_T2: 1 or 2; else 1 */
    int32_t mmax;              /* largest group multiplier; 0: per-row step, no multipliers */
    const float *s_row;        /* rows: the row's step (per row) or multiplier unit (groups) */
} fgq_gptq_grid;

/* Largest code of a kind: 127 (s8), 7 (s4), 1 (ternary); the lowest is its
 * negative, except s4's −8. */
int32_t fgq_gptq_code_max(fgq_wq_kind kind);

/* U: the upper Cholesky factor of (h + λI)⁻¹, λ = damp·mean(diag h), into
 * u [k, k] row-major (the strictly lower part is set to 0). h [k, k] is
 * symmetric (only its upper triangle is read). FGQ_ERR_VALUE when the
 * damped matrix is not positive definite (damp <= 0 with a singular h, or
 * a non-finite h); FGQ_ERR_NOMEM. A blocked Cholesky (64 columns; gptq.c)
 * whose bulk update has an AVX2+FMA form; fgq_gptq_factor_plain is its
 * plain C twin (the same bits, tested), and any thread count gives them. */
fgq_status fgq_gptq_factor(const double *h, int64_t k, double damp, const fgq_parallel *par, double *u,
                           fgq_error *err);
fgq_status fgq_gptq_factor_plain(const double *h, int64_t k, double damp, double *u, fgq_error *err);

/* Quantizes w [rows, k] on grid g with the factor u of fgq_gptq_factor
 * (u NULL: plain rounding to the grid, the same group rules, no error
 * pushed). Fills codes, mults (when g->mmax > 0; else untouched, may be
 * NULL) and deq. FGQ_ERR_NOMEM only. */
fgq_status fgq_gptq_quantize(const fgq_gptq_grid *g, const float *w, int64_t rows, int64_t k, const double *u,
                             const fgq_parallel *par, int8_t *codes, uint8_t *mults, float *deq, fgq_error *err);

/* Coordinate descent after fgq_gptq_quantize (QuantEase, Behdin et al. 2023,
 * with the group scales in it): lowers f = Σ_r (w_r − q_r)ᵀ (H + λI) (w_r − q_r),
 * λ = damp·mean(diag h) as fgq_gptq_factor's, by moves that each lower it, on
 * the same grid. Per row, group by group in k order: first each multiplier of
 * the group (s8/s4/s3/s2:gN: the one, in [1, mmax]; ternary: m⁺ and m⁻, or
 * the one, in [0, mmax]; a sign left with 0 loses its codes) goes to the
 * nearest integer of its least-f value with the codes fixed, then each
 * column's code to the nearest code of its least-f value (ternary: the best
 * of −m⁻, 0, +m⁺) with the rest fixed; a move is taken only when it lowers f
 * (beyond 1e-9 of its own quadratic term). At most `passes` passes over the
 * row, fewer when one moves nothing. GPTQ is greedy: column j is never
 * revisited once later columns took its error, and a group's scale is chosen
 * before its later columns are; this revisits both. h [k, k] full symmetric
 * (row j read as column j). Codes, mults and deq are updated in place (deq
 * exactly the kernels' values); rows are independent, so any thread count
 * gives the same bits. Cost per row: k² for G = (H + λI)(w − q), then k per
 * taken code move and k·N per taken multiplier move. FGQ_ERR_NOMEM only. */
fgq_status fgq_gptq_refine(const fgq_gptq_grid *g, const float *w, int64_t rows, int64_t k, const double *h,
                           double damp, int32_t passes, const fgq_parallel *par, int8_t *codes, uint8_t *mults,
                           float *deq, fgq_error *err);

/* Output error Σ_r (w_r − q_r)ᵀ h (w_r − q_r) of q against w, both [rows, k]
 * (h symmetric [k, k], full; only its upper triangle is read). Rows go in
 * blocks of 8 (one pass over H's upper triangle a block, the AVX2+FMA form
 * where the CPU has it); the same bits for any thread count, and as the
 * plain C form fgq_gptq_output_error_plain (its twin in tests). */
double fgq_gptq_output_error(const float *w, const float *q, int64_t rows, int64_t k, const double *h,
                             const fgq_parallel *par);
double fgq_gptq_output_error_plain(const float *w, const float *q, int64_t rows, int64_t k, const double *h);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TOOLS_QUANT_GPTQ_H */
