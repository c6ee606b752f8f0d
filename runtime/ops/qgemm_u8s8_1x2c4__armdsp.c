/*
 * qgemm_u8s8_1x2c4__armdsp.c — QGEMM microkernel for the Cortex-M DSP
 * extension: s8 weights × u8 (or s8) activations, one activation row × 2
 * weight rows a pass (4 for rows without group multipliers against u8), k in steps of 4
 * (one word of each operand; SMLAD does two multiply-adds an instruction). Reference twin: fgq_qweights_dot
 * (qgemm_dispatch.h has the contract; qgemm_armdsp.h why the int32 sums are
 * exact). Groups (GS, n_alpha 1 for s8) are summed unscaled and multiplied
 * once by m = min(GS, M) at the group's end; a group or a row shorter than
 * 4, and the last k mod 4 of each, go term by term. Indices are 32-bit: the
 * §3.5 bound makes K <= 2^31 − 1, and the cores are 32-bit.
 */
#include "qgemm_armdsp.h"

#if defined(__ARM_FEATURE_DSP)

/* Σ_{k < len} w·(a_k − zx) for the rows at w0 and w1 (both s8). */
FGQ_DSP_INLINE void span2(const uint8_t *w0, const uint8_t *w1, const uint8_t *a, int32_t len, uint32_t nz,
                          int32_t zx, int a_s8, int32_t *s0, int32_t *s1)
{
    int32_t acc0 = 0, acc1 = 0, k = 0;
    for (; k + 4 <= len; k += 4) {
        uint32_t d02, d13;
        fgq_dsp_d4(fgq_dsp_ld32(a + k), nz, a_s8, &d02, &d13);
        acc0 = fgq_dsp_mac4(fgq_dsp_ld32(w0 + k), d02, d13, acc0);
        acc1 = fgq_dsp_mac4(fgq_dsp_ld32(w1 + k), d02, d13, acc1);
    }
    for (; k < len; k++) {
        const int32_t d = fgq_dsp_act(a, k, a_s8) - zx;
        acc0 += (int32_t)(int8_t)w0[k] * d;
        acc1 += (int32_t)(int8_t)w1[k] * d;
    }
    *s0 = acc0;
    *s1 = acc1;
}

/* The same for four plain s8 rows at w, w + rb, w + 2rb, w + 3rb: each activation word's two
 * extensions serve four rows (per 4 codes 3 + 4·5 instructions where two calls of span2 take
 * 2·(3 + 2·5)), the QGEMM of one activation row (a dense layer at batch 1). */
FGQ_DSP_INLINE void span4(const uint8_t *w, size_t rb, const uint8_t *a, int32_t len, uint32_t nz, int32_t zx,
                          int a_s8, int32_t *s)
{
    const uint8_t *w0 = w, *w1 = w + rb, *w2 = w + 2 * rb, *w3 = w + 3 * rb;
    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0, k = 0;
    for (; k + 4 <= len; k += 4) {
        uint32_t d02, d13;
        fgq_dsp_d4(fgq_dsp_ld32(a + k), nz, a_s8, &d02, &d13);
        acc0 = fgq_dsp_mac4(fgq_dsp_ld32(w0 + k), d02, d13, acc0);
        acc1 = fgq_dsp_mac4(fgq_dsp_ld32(w1 + k), d02, d13, acc1);
        acc2 = fgq_dsp_mac4(fgq_dsp_ld32(w2 + k), d02, d13, acc2);
        acc3 = fgq_dsp_mac4(fgq_dsp_ld32(w3 + k), d02, d13, acc3);
    }
    for (; k < len; k++) {
        const int32_t d = fgq_dsp_act(a, k, a_s8) - zx;
        acc0 += (int32_t)(int8_t)w0[k] * d;
        acc1 += (int32_t)(int8_t)w1[k] * d;
        acc2 += (int32_t)(int8_t)w2[k] * d;
        acc3 += (int32_t)(int8_t)w3[k] * d;
    }
    s[0] = acc0;
    s[1] = acc1;
    s[2] = acc2;
    s[3] = acc3;
}

FGQ_DSP_INLINE void rows(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int a_s8, int32_t zx,
                         int32_t *dot)
{
    const int32_t K = (int32_t)qw->k, G = (int32_t)qw->group, nn = (int32_t)n;
    const size_t rb = (size_t)qw->row_bytes;
    const uint32_t nz = fgq_dsp_negzx2(zx);
    int32_t i0 = 0;
    if (!qw->has_gs && !a_s8) /* plain rows four at a time (u8 activations: one copy, for flash) */
        for (; i0 + 4 <= nn; i0 += 4)
            span4(qw->codes + ((size_t)j0 + (size_t)i0) * rb, rb, a, K, nz, zx, a_s8, dot + i0);
    for (int32_t i = i0; i < nn; i += 2) {
        /* an odd last row pairs with itself: one result is dropped */
        const size_t r0 = (size_t)j0 + (size_t)i, r1 = i + 1 < nn ? r0 + 1 : r0;
        const uint8_t *w0 = qw->codes + r0 * rb, *w1 = qw->codes + r1 * rb;
        int32_t t0 = 0, t1 = 0;
        if (!qw->has_gs) {
            span2(w0, w1, a, K, nz, zx, a_s8, &t0, &t1);
        } else {
            size_t g = 0;
            for (int32_t k0 = 0; k0 < K; k0 += G, g++) {
                const int32_t len = K - k0 < G ? K - k0 : G;
                int32_t s0, s1;
                span2(w0 + k0, w1 + k0, a + k0, len, nz, zx, a_s8, &s0, &s1);
                t0 += fgq_dsp_mult(qw, r0, g, 0) * s0;
                t1 += fgq_dsp_mult(qw, r1, g, 0) * s1;
            }
        }
        dot[i] = t0;
        if (i + 1 < nn)
            dot[i + 1] = t1;
    }
}

void fgq_qgemm_u8s8_1x2c4__armdsp(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                                  int32_t *dot)
{
    if (a_s8)
        rows(qw, j0, n, (const uint8_t *)a, 1, zx, dot);
    else
        rows(qw, j0, n, (const uint8_t *)a, 0, zx, dot);
}

#endif /* __ARM_FEATURE_DSP */
