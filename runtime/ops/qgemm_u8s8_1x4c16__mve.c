/*
 * qgemm_u8s8_1x4c16__mve.c — QGEMM microkernel for Helium (M-profile Vector
 * Extension, Cortex-M55/M85): plain s8 weights (no group multipliers) × u8
 * or s8 activations, one activation row × up to 4 weight rows a pass, 16
 * codes a step. Reference twin: fgq_qweights_dot (qgemm_dispatch.h has the
 * contract); tested against it on the emulated Cortex-M55
 * (targets/cortex-m/test_kernels.c).
 *
 * VMLADAVA.S8 adds the 16 products of two int8 vectors to a 32-bit scalar.
 * It has no u8 × s8 form, so u8 activations are shifted to s8 (x − 128, one
 * VEOR of the sign bit) and the row sum puts the zero point back:
 *   Σ w·(x − z_x) = Σ w·(x − 128) + (128 − z_x)·Σ w      (u8; s8: Σ w·x − z_x·Σ w)
 * with Σ w from VADDVA.S8 on the same weight vectors. Exact: the §3.5 bound
 * K·128·dx_max <= 2^31 − 1 holds with dx_max >= 128 (z_x anywhere in u8's
 * range leaves one side at least 128 long), so every partial sum of
 * Σ |w|·|x − 128| (and of Σ |w|) stays within int32; the two terms are added
 * modulo 2^32 (uint32), and their true sum is the reference's int32 dot.
 * The last K mod 16 codes go through predicated loads (VCTP8: inactive lanes
 * read nothing and count zero).
 */
#include "qgemm_dispatch.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)

#include <arm_mve.h>

/* Σ w·xs and Σ w for n (1..4) rows at w, rb bytes apart, over K codes of xs (activations as s8). */
static inline __attribute__((always_inline)) void rows_mve(const int8_t *w, size_t rb, int32_t nr, const uint8_t *x,
                                                           int32_t K, int flip, int32_t off, int32_t *dot)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const int8x16_t sign = vdupq_n_s8((int8_t)-128);
    for (int32_t k = 0; k < K; k += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(K - k));
        int8x16_t xs = vld1q_z_s8((const int8_t *)x + k, p);
        if (flip)
            xs = veorq_s8(xs, sign);
        const int8x16_t w0 = vld1q_z_s8(w + k, p);
        a0 = vmladavaq_p_s8(a0, w0, xs, p);
        s0 = vaddvaq_p_s8(s0, w0, p);
        if (nr > 1) {
            const int8x16_t w1 = vld1q_z_s8(w + rb + k, p);
            a1 = vmladavaq_p_s8(a1, w1, xs, p);
            s1 = vaddvaq_p_s8(s1, w1, p);
        }
        if (nr > 2) {
            const int8x16_t w2 = vld1q_z_s8(w + 2 * rb + k, p);
            a2 = vmladavaq_p_s8(a2, w2, xs, p);
            s2 = vaddvaq_p_s8(s2, w2, p);
        }
        if (nr > 3) {
            const int8x16_t w3 = vld1q_z_s8(w + 3 * rb + k, p);
            a3 = vmladavaq_p_s8(a3, w3, xs, p);
            s3 = vaddvaq_p_s8(s3, w3, p);
        }
    }
    dot[0] = (int32_t)((uint32_t)a0 + (uint32_t)off * (uint32_t)s0);
    if (nr > 1)
        dot[1] = (int32_t)((uint32_t)a1 + (uint32_t)off * (uint32_t)s1);
    if (nr > 2)
        dot[2] = (int32_t)((uint32_t)a2 + (uint32_t)off * (uint32_t)s2);
    if (nr > 3)
        dot[3] = (int32_t)((uint32_t)a3 + (uint32_t)off * (uint32_t)s3);
}

static void rows_n(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *x, int flip, int32_t off, int32_t *dot)
{
    const int32_t K = (int32_t)qw->k, nn = (int32_t)n;
    const size_t rb = (size_t)qw->row_bytes;
    const int8_t *w = (const int8_t *)qw->codes + (size_t)j0 * rb;
    int32_t i = 0;
    for (; i + 4 <= nn; i += 4)
        rows_mve(w + (size_t)i * rb, rb, 4, x, K, flip, off, dot + i);
    for (; i < nn; i++)
        rows_mve(w + (size_t)i * rb, rb, 1, x, K, flip, off, dot + i);
}

void fgq_qgemm_u8s8_1x4c16__mve(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                int32_t *dot)
{
    if (a_s8)
        rows_n(qw, j0, n, (const uint8_t *)a, 0, -zx, dot);
    else
        rows_n(qw, j0, n, (const uint8_t *)a, 1, 128 - zx, dot);
}

/* Plain s8 rows of at least one full vector: shorter rows (vww's first layers, K = 8) waste most
 * lanes and the per-call sums, and take the DSP rows' 2 x 2 tile step instead (measured on the
 * MLPerf Tiny models: K >= 16 fewest instructions in all, against 32 and 64). */
int fgq_qgemm_mve_fits(const fgq_qweights *qw)
{
    return !qw->has_gs && qw->k >= 16;
}

#endif /* __ARM_FEATURE_MVE */
