/*
 * qgemm_u8s8_1x2c4__armdsp.c — QGEMM microkernel for the Cortex-M DSP
 * extension: s8 weights × u8 (or s8) activations, one activation row × 2
 * weight rows a pass (4 for rows without group multipliers, against activations extended
 * beforehand a chunk at a time), k in steps of 4
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

/* Codes a chunk of pre-extended activations covers (QX_WORDS words of 4: 2 * QX_WORDS int32 words
 * of int16 pairs, 256 bytes of stack). */
#define QX_WORDS 32

/* The same for four plain s8 rows at w, w + rb, w + 2rb, w + 3rb against activations extended
 * beforehand, x[2i] = d02 and x[2i + 1] = d13 of codes 4i..4i+3, up to xe (> x); adds to s[0..3].
 * Per 4 codes one LDRD of the activation pair and 4 · (LDR, SXTB16, SMLAD, SXTB16 ror 8, SMLAD),
 * 24 instructions with the loop: the activations are not extended again for each group of rows,
 * and the pointers, sums and temporaries take 13 registers (the end is read from the stack: GCC
 * finds no fourteenth for an asm operand here; at -O0 and -Os, and under clang, it finds no 13
 * either, and the C form below runs). Written in
 * assembly because GCC (12) spilled three pointers to the stack in the C form of this loop (29
 * instructions per 4 codes; extending inside the loop, as span2 does, 31). Each step is what
 * fgq_dsp_mac4 computes. The QGEMM of one activation row (a dense layer at batch 1). */
FGQ_DSP_INLINE void span4x(const uint8_t *w, size_t rb, const uint32_t *x, const uint32_t *xe, int32_t *s)
{
    const uint8_t *w0 = w, *w1 = w + rb, *w2 = w1 + rb, *w3 = w2 + rb;
    int32_t acc0 = s[0], acc1 = s[1], acc2 = s[2], acc3 = s[3];
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(__clang__)
    uint32_t d02, d13, t0, t1;
#define FGQ_SPAN4X_ROW(W, A)                                                                                        \
    "ldr %[t0], [%[" W "]], #4\n\t"                                                                                 \
    "sxtb16 %[t1], %[t0]\n\t"                                                                                       \
    "smlad %[" A "], %[t1], %[d02], %[" A "]\n\t"                                                                   \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                               \
    "smlad %[" A "], %[t0], %[d13], %[" A "]\n\t"
    __asm__ volatile("1:\n\t"
                     "ldrd %[d02], %[d13], [%[x]], #8\n\t" FGQ_SPAN4X_ROW("w0", "a0") FGQ_SPAN4X_ROW("w1", "a1")
                         FGQ_SPAN4X_ROW("w2", "a2") FGQ_SPAN4X_ROW("w3", "a3") "ldr %[t1], %[xe]\n\t"
                                                                               "cmp %[x], %[t1]\n\t"
                                                                               "bne 1b\n\t"
                     : [a0] "+r"(acc0), [a1] "+r"(acc1), [a2] "+r"(acc2), [a3] "+r"(acc3), [x] "+r"(x),
                       [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [d02] "=&r"(d02),
                       [d13] "=&r"(d13), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [xe] "m"(xe)
                     : "cc", "memory");
#undef FGQ_SPAN4X_ROW
#else /* -O0 / -Os (GCC finds no 13 registers for the operands there) and clang: the same steps in C */
    for (; x < xe; x += 2, w0 += 4, w1 += 4, w2 += 4, w3 += 4) {
        acc0 = fgq_dsp_mac4(fgq_dsp_ld32(w0), x[0], x[1], acc0);
        acc1 = fgq_dsp_mac4(fgq_dsp_ld32(w1), x[0], x[1], acc1);
        acc2 = fgq_dsp_mac4(fgq_dsp_ld32(w2), x[0], x[1], acc2);
        acc3 = fgq_dsp_mac4(fgq_dsp_ld32(w3), x[0], x[1], acc3);
    }
#endif
    s[0] = acc0;
    s[1] = acc1;
    s[2] = acc2;
    s[3] = acc3;
}

/* Plain rows [0, n4) of the call, n4 a multiple of 4: the activations extended QX_WORDS words at
 * a time, each chunk then run against every group of four rows (their sums kept in dot), the
 * last K mod 4 codes term by term. */
static void rows4(const fgq_qweights *qw, int64_t j0, int32_t n4, const uint8_t *a, int a_s8, int32_t zx, int32_t *dot)
{
    const int32_t K = (int32_t)qw->k, K4 = K & ~3;
    const size_t rb = (size_t)qw->row_bytes;
    const uint8_t *w = qw->codes + (size_t)j0 * rb;
    const uint32_t nz = fgq_dsp_negzx2(zx);
    uint32_t x[2 * QX_WORDS];
    memset(dot, 0, (size_t)n4 * sizeof *dot);
    for (int32_t k0 = 0; k0 < K4; k0 += 4 * QX_WORDS) {
        const int32_t words = (K4 - k0) / 4 < QX_WORDS ? (K4 - k0) / 4 : QX_WORDS;
        for (int32_t i = 0; i < words; i++)
            if (a_s8)
                fgq_dsp_d4(fgq_dsp_ld32(a + k0 + 4 * i), nz, 1, &x[2 * i], &x[2 * i + 1]);
            else
                fgq_dsp_d4(fgq_dsp_ld32(a + k0 + 4 * i), nz, 0, &x[2 * i], &x[2 * i + 1]);
        for (int32_t i0 = 0; i0 < n4; i0 += 4)
            span4x(w + (size_t)i0 * rb + (size_t)k0, rb, x, x + 2 * words, dot + i0);
    }
    for (int32_t k = K4; k < K; k++) {
        const int32_t d = fgq_dsp_act(a, k, a_s8) - zx;
        for (int32_t i = 0; i < n4; i++)
            dot[i] += (int32_t)(int8_t)w[(size_t)i * rb + (size_t)k] * d;
    }
}

FGQ_DSP_INLINE void rows(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int a_s8, int32_t zx,
                         int32_t *dot)
{
    const int32_t K = (int32_t)qw->k, G = (int32_t)qw->group, nn = (int32_t)n;
    const size_t rb = (size_t)qw->row_bytes;
    const uint32_t nz = fgq_dsp_negzx2(zx);
    int32_t i0 = 0;
    if (!qw->has_gs && nn >= 4) { /* plain rows four at a time */
        i0 = nn & ~3;
        rows4(qw, j0, i0, a, a_s8, zx, dot);
    }
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
