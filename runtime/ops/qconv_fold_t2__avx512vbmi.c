/*
 * qconv_fold_t2__avx512vbmi.c — ternary rows (t2 with group multipliers, groups of 64·j codes or one
 * group over the row) decoded to s8 with the multipliers folded in, 64 codes a step, for the AMX
 * and folded s8 VNNI kernels: vpermb gives each quadword the two bytes that hold its 8 codes,
 * vpmultishiftqb puts code t of the quadword at bit 0 of its byte t (a code k sits at bits 2(k mod 4)
 * of byte k/4, so at bit 2t of the two bytes' 16), and a vpermb through the group's table (built once
 * a group: 0, m⁺, −m⁻, 0 by the byte's low 2 bits) gives the folded weights (0 and the invalid 3 stay
 * 0); the row's C, the sum of its folded weights, by vpdpbusd.
 * Reference twin: fgq_qconv_fold_decode (qconv_u8s8_32x32c64__amx.c, 32 codes a step through the
 * VNNI kernels' decode), compared byte for byte by tests/test_qconv_kernels.c. ResNet-18
 * ternary:g64 spent 16 % of its run in that decode.
 */
#include "qgemm_dispatch.h"

#include <string.h>

int fgq_qconv_fold_t2_fits(const fgq_qweights *qw)
{
    return qw->dtype == FGQ_DT_T2 && qw->has_gs && (qw->group % 64 == 0 || qw->group >= qw->k);
}

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define FGQ_VBMI_FN __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

FGQ_VBMI_FN void fgq_qconv_fold_decode_t2__avx512vbmi(const fgq_qweights *qw, int64_t j0, int64_t n, uint8_t *dst)
{
    const int64_t K = qw->k, Kp = (K + 3) / 4 * 4, rb = fgq_qconv_wrow_bytes(K);
    const int64_t G = qw->group < K ? qw->group : K; /* a multiple of 64, or the whole row: one group a step */
    uint8_t idx_b[64], ctl_b[64];
    for (int j = 0; j < 64; j++) {
        idx_b[j] = (uint8_t)(j / 8 * 2 + (j & 1)); /* bytes 8i, 8i + 1 of quadword i: code bytes 2i, 2i + 1 */
        ctl_b[j] = (uint8_t)(2 * (j % 8));         /* byte t of a quadword: its bits 2t .. 2t + 7 */
    }
    const __m512i idx = _mm512_loadu_si512((const void *)idx_b), ctl = _mm512_loadu_si512((const void *)ctl_b);
    uint8_t is1_b[64], is2_b[64];
    for (int j = 0; j < 64; j++) { /* table entries of code 1 and of code 2 (the index's low 2 bits) */
        is1_b[j] = (uint8_t)((j & 3) == 1 ? 0xFF : 0);
        is2_b[j] = (uint8_t)((j & 3) == 2 ? 0xFF : 0);
    }
    const __m512i is1 = _mm512_loadu_si512((const void *)is1_b), is2 = _mm512_loadu_si512((const void *)is2_b);
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *w = qw->codes + (j0 + i) * qw->row_bytes;
        const uint8_t *m = qw->gs + (j0 + i) * qw->n_groups * qw->n_alpha;
        uint8_t *row = dst + i * rb;
        memset(row + (K & ~(int64_t)63), 0, (size_t)(Kp - (K & ~(int64_t)63)));
        __m512i acc = _mm512_setzero_si512();
        for (int64_t g = 0, g0 = 0; g0 < K; g++, g0 += G) {
            /* the group's table: vpermb on a byte whose low 2 bits are a code gives 0, m⁺, −m⁻, 0 */
            const int32_t mp = m[g * qw->n_alpha], mn = qw->n_alpha == 2 ? m[g * 2 + 1] : mp;
            const __m512i vp = _mm512_set1_epi8((char)(mp < qw->mmax ? mp : qw->mmax));
            const __m512i vn = _mm512_set1_epi8((char)-(mn < qw->mmax ? mn : qw->mmax));
            const __m512i lut = _mm512_ternarylogic_epi32(_mm512_and_si512(vp, is1), vn, is2, 0xF8); /* A | (B & C) */
            const int64_t g1 = K - g0 > G ? g0 + G : K;
            int64_t k0 = g0;
            for (; k0 + 64 <= g1; k0 += 64) {
                const __m512i b = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(w + k0 / 4)));
                const __m512i f =
                    _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(ctl, _mm512_permutexvar_epi8(idx, b)), lut);
                _mm512_storeu_si512((void *)(row + k0), f);
                /* Σ w: u8 ones × s8 weights, from zero and added, so that the steps' only chain is
                 * a 1-cycle vpaddd (vpdpbusd's 5 on the accumulator bound the decode) */
                acc = _mm512_add_epi32(acc, _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, f));
            }
            if (k0 < g1) { /* the row's last, partial step */
                const int64_t kn = g1 - k0, nb = (kn + 3) / 4;
                const __mmask64 live = ((__mmask64)1 << kn) - 1;
                const __m128i bytes = _mm_maskz_loadu_epi8((__mmask16)((1u << nb) - 1u), w + k0 / 4);
                const __m512i f = _mm512_maskz_permutexvar_epi8(
                    live,
                    _mm512_multishift_epi64_epi8(ctl, _mm512_permutexvar_epi8(idx, _mm512_castsi128_si512(bytes))),
                    lut);
                _mm512_mask_storeu_epi8(row + k0, live, f);
                acc = _mm512_dpbusd_epi32(acc, ones, f);
            }
        }
        const uint32_t sum = (uint32_t)_mm512_reduce_add_epi32(acc);
        memcpy(row + Kp, &sum, 4);
    }
}

#endif
