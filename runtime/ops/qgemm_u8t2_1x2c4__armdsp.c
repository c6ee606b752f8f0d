/*
 * qgemm_u8t2_1x2c4__armdsp.c — QGEMM microkernel for the Cortex-M DSP
 * extension: ternary (t2) weights × u8 (or s8) activations, one activation
 * row × 2 weight rows a pass, one code byte (4 codes) a step. Reference
 * twin: fgq_qweights_dot (qgemm_dispatch.h has the contract; qgemm_armdsp.h
 * why the int32 sums are exact).
 *
 * Decoding without tables. A t2 code is two bits (hi, lo) with value lo − hi
 * (01 → +1, 10 → −1, 00 and the invalid 11 → 0, as fgq_qw_code reads them).
 * One code byte b spreads to one code per byte of a word,
 *   x = (b | b << 6 | b << 12 | b << 18) & 0x03030303
 * (code k lands at bits 8k, 8k+1; no other copy of b reaches those bits),
 * then lo = x & 0x01010101, hi = (x >> 1) & 0x01010101 and the weights are
 * the bytes of SSUB8(lo, hi) ∈ {−1, 0, 1}: from there the s8 step (SXTB16 +
 * SMLAD). With two multipliers per group (n_alpha 2) the +1 and −1 codes are
 * summed apart, from the masks lo & ~hi and hi & ~lo, and the group adds
 * m⁺·pos − m⁻·neg, as the reference does. Groups of 4 (one byte each)
 * take a loop of their own; in other layouts codes before the first whole
 * byte of a group (groups not a multiple of 4) and after the last go term
 * by term.
 */
#include "op_select.h" /* compiled per model in a firmware build: what it may leave out */
#include "qgemm_armdsp.h"

#if defined(__ARM_FEATURE_DSP)

typedef struct {
    int32_t p0, n0, p1, n1; /* Σ d over +1 codes, over −1 codes (n_alpha 2); or p = Σ w·d, n = 0 */
} sums2;

FGQ_DSP_INLINE uint32_t spread(uint32_t b)
{
    return (b | b << 6 | b << 12 | b << 18) & 0x03030303u;
}

FGQ_DSP_INLINE void scalar(sums2 *s, const uint8_t *w0, const uint8_t *w1, int32_t k, int32_t d, int split)
{
    const int32_t c0 = fgq_qw_code(FGQ_DT_T2, w0, k), c1 = fgq_qw_code(FGQ_DT_T2, w1, k);
    if (split) {
        s->p0 += c0 > 0 ? d : 0;
        s->n0 += c0 < 0 ? d : 0;
        s->p1 += c1 > 0 ? d : 0;
        s->n1 += c1 < 0 ? d : 0;
    } else {
        s->p0 += c0 * d;
        s->p1 += c1 * d;
    }
}

/* Codes [k0, k1) of the rows at w0, w1 against activations a. */
FGQ_DSP_INLINE sums2 span2(const uint8_t *w0, const uint8_t *w1, const uint8_t *a, int32_t k0, int32_t k1, uint32_t nz,
                           int32_t zx, int a_s8, int split)
{
    sums2 s = { 0, 0, 0, 0 };
    int32_t k = k0;
    for (; k < k1 && (k & 3) != 0; k++)
        scalar(&s, w0, w1, k, fgq_dsp_act(a, k, a_s8) - zx, split);
    for (; k + 4 <= k1; k += 4) {
        uint32_t d02, d13;
        fgq_dsp_d4(fgq_dsp_ld32(a + k), nz, a_s8, &d02, &d13);
        const uint32_t x0 = spread(w0[k >> 2]), x1 = spread(w1[k >> 2]);
        const uint32_t lo0 = x0 & 0x01010101u, hi0 = (x0 >> 1) & 0x01010101u;
        const uint32_t lo1 = x1 & 0x01010101u, hi1 = (x1 >> 1) & 0x01010101u;
        if (split) {
            s.p0 = fgq_dsp_mac4(lo0 & ~hi0, d02, d13, s.p0);
            s.n0 = fgq_dsp_mac4(hi0 & ~lo0, d02, d13, s.n0);
            s.p1 = fgq_dsp_mac4(lo1 & ~hi1, d02, d13, s.p1);
            s.n1 = fgq_dsp_mac4(hi1 & ~lo1, d02, d13, s.n1);
        } else {
            s.p0 = fgq_dsp_mac4((uint32_t)__ssub8((int8x4_t)lo0, (int8x4_t)hi0), d02, d13, s.p0);
            s.p1 = fgq_dsp_mac4((uint32_t)__ssub8((int8x4_t)lo1, (int8x4_t)hi1), d02, d13, s.p1);
        }
    }
    for (; k < k1; k++)
        scalar(&s, w0, w1, k, fgq_dsp_act(a, k, a_s8) - zx, split);
    return s;
}

/* Groups of 4 codes, one code byte each (ternary:g4, the common layout):
 * codes k < K & ~3, multipliers walked by pointer; the caller does the rest. */
FGQ_DSP_INLINE void g4_bytes(const fgq_qweights *qw, size_t r0, size_t r1, const uint8_t *w0, const uint8_t *w1,
                             const uint8_t *a, uint32_t nz, int a_s8, int split, int32_t *t0, int32_t *t1)
{
    const int32_t nb = (int32_t)qw->k >> 2, M = qw->mmax, na = qw->n_alpha;
    const size_t per_row = (size_t)qw->n_groups * (size_t)na;
    const uint8_t *m0 = qw->gs + r0 * per_row, *m1 = qw->gs + r1 * per_row;
    int32_t acc0 = 0, acc1 = 0;
    for (int32_t j = 0; j < nb; j++, a += 4, m0 += na, m1 += na) {
        uint32_t d02, d13;
        fgq_dsp_d4(fgq_dsp_ld32(a), nz, a_s8, &d02, &d13);
        const uint32_t x0 = spread(w0[j]), x1 = spread(w1[j]);
        const uint32_t lo0 = x0 & 0x01010101u, hi0 = (x0 >> 1) & 0x01010101u;
        const uint32_t lo1 = x1 & 0x01010101u, hi1 = (x1 >> 1) & 0x01010101u;
        const int32_t mp0 = m0[0] < M ? m0[0] : M, mp1 = m1[0] < M ? m1[0] : M;
        if (split) {
            const int32_t mn0 = m0[1] < M ? m0[1] : M, mn1 = m1[1] < M ? m1[1] : M;
            acc0 += mp0 * fgq_dsp_mac4(lo0 & ~hi0, d02, d13, 0) - mn0 * fgq_dsp_mac4(hi0 & ~lo0, d02, d13, 0);
            acc1 += mp1 * fgq_dsp_mac4(lo1 & ~hi1, d02, d13, 0) - mn1 * fgq_dsp_mac4(hi1 & ~lo1, d02, d13, 0);
        } else {
            acc0 += mp0 * fgq_dsp_mac4((uint32_t)__ssub8((int8x4_t)lo0, (int8x4_t)hi0), d02, d13, 0);
            acc1 += mp1 * fgq_dsp_mac4((uint32_t)__ssub8((int8x4_t)lo1, (int8x4_t)hi1), d02, d13, 0);
        }
    }
    *t0 = acc0;
    *t1 = acc1;
}

FGQ_DSP_INLINE void rows(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int a_s8, int32_t zx,
                         int split, int32_t *dot)
{
    const int32_t K = (int32_t)qw->k, G = (int32_t)qw->group, nn = (int32_t)n;
    const size_t rb = (size_t)qw->row_bytes;
    const uint32_t nz = fgq_dsp_negzx2(zx);
    for (int32_t i = 0; i < nn; i += 2) {
        /* an odd last row pairs with itself: one result is dropped */
        const size_t r0 = (size_t)j0 + (size_t)i, r1 = i + 1 < nn ? r0 + 1 : r0;
        const uint8_t *w0 = qw->codes + r0 * rb, *w1 = qw->codes + r1 * rb;
        int32_t t0 = 0, t1 = 0;
        if (!qw->has_gs) {
            const sums2 s = span2(w0, w1, a, 0, K, nz, zx, a_s8, 0);
            t0 = s.p0;
            t1 = s.p1;
        } else {
            size_t g = 0;
            int32_t k0 = 0;
            if (G == 4) {
                g4_bytes(qw, r0, r1, w0, w1, a, nz, a_s8, split, &t0, &t1);
                k0 = K & ~3;
                g = (size_t)(K >> 2);
            }
            for (; k0 < K; k0 += G, g++) {
                const int32_t k1 = K - k0 < G ? K : k0 + G;
                const sums2 s = span2(w0, w1, a, k0, k1, nz, zx, a_s8, split);
                if (split) {
                    t0 += fgq_dsp_mult(qw, r0, g, 0) * s.p0 - fgq_dsp_mult(qw, r0, g, 1) * s.n0;
                    t1 += fgq_dsp_mult(qw, r1, g, 0) * s.p1 - fgq_dsp_mult(qw, r1, g, 1) * s.n1;
                } else {
                    t0 += fgq_dsp_mult(qw, r0, g, 0) * s.p0;
                    t1 += fgq_dsp_mult(qw, r1, g, 0) * s.p1;
                }
            }
        }
        dot[i] = t0;
        if (i + 1 < nn)
            dot[i + 1] = t1;
    }
}

/* s8 activations and two multipliers a group are the rare layouts: one copy
 * with run-time flags serves them (flash), the common one is specialised. */
static __attribute__((noinline)) void rows_any(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a,
                                               int a_s8, int32_t zx, int split, int32_t *dot)
{
    rows(qw, j0, n, a, a_s8, zx, split, dot);
}

void fgq_qgemm_u8t2_1x2c4__armdsp(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                  int32_t *dot)
{
    const uint8_t *x = (const uint8_t *)a;
    const int split = qw->has_gs && qw->n_alpha == 2;
    if (!a_s8 && !split)
        rows(qw, j0, n, x, 0, zx, 0, dot);
    else if (FGQ_QW_ON_T2_SPLIT || FGQ_QX_ON_S8)
        rows_any(qw, j0, n, x, a_s8, zx, split, dot);
    else /* a build for a model without these layouts (op_select.h): the reference, same sums */
        fgq_qgemm_dot_ref(qw, j0, n, a, a_s8, zx, dot);
}

#endif /* __ARM_FEATURE_DSP */
