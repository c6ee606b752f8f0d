/*
 * qconv_u8t2_2x32c4__avx512vnni.c — QCONV microkernel for the weights the
 * s8 packed kernel does not take: ternary t2 (decoded), and s8 with group
 * multipliers; symmetric groups of 32·j or one group (fgq_qgemm_vnni_fits).
 * 2 output channels × 32 positions a tile, 4 k a step, activations packed as
 * in qconv_u8s8_4x32c4__avx512vnni.c (qconv_pack_avx512vnni.h). Reference
 * twin: fgq_qconv_dot; tests/test_qconv_kernels.c compares the op's bytes.
 *
 * Per pair of channels the weight rows are first written as s8 codes into
 * a stack buffer (t2 decoded with the VNNI kernels' vnni_w; s8 copied),
 * zero past K. Per group: unscaled sums p = Σ_{k∈g} w·a' in 8 accumulators,
 * then acc += m_g·p (2 channels × 4 position vectors: 8 + 8 registers).
 * C = Σ_g m_g·Σ_{k∈g} w per channel, and the result acc − zx'·C, modulo
 * 2^32 and exact by §3.5, as in qgemm_avx512vnni.h.
 */
#include "qconv_pack_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

/* Row `row` of W as s8 codes into dst (4·Kq bytes, zero past K). */
FGQ_VNNI_INLINE void pk2_row(const fgq_qweights *qw, int64_t row, uint8_t *dst, int64_t Kp, const vnni_consts *c)
{
    const uint8_t *w = qw->codes + row * qw->row_bytes;
    const int64_t K = qw->k;
    memset(dst + (K & ~(int64_t)31), 0, (size_t)(Kp - (K & ~(int64_t)31)));
    for (int64_t k = 0; k < K; k += 32)
        _mm256_mask_storeu_epi8(dst + k, vnni_mask(k, K), vnni_w(qw->dtype == FGQ_DT_T2, w, k, vnni_mask(k, K), c));
}

FGQ_VNNI_FN void fgq_qconv_u8t2_2x32c4__avx512vnni(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0,
                                                   int64_t nb, int64_t p0, int64_t np, int a_s8, int32_t zx,
                                                   int32_t *dot, uint8_t *work)
{
    const int64_t K = s->K, Kq = (K + 3) / 4, Kp = 4 * Kq;
    const int64_t G = qw->has_gs ? (qw->group < K ? qw->group : K) : K; /* a multiple of 32, or K */
    uint8_t *pa = work + FGQ_QCONV_PACK_SEG_BYTES;                   /* Kp·32 bytes */
    uint8_t *const wb[2] = { pa + Kp * PK_TP, pa + Kp * PK_TP + Kp + 32 }; /* Kp + 32 bytes each */
    qconv_pack_a(s, p0, np, a_s8, zx, pa, (int64_t *)(void *)work);
    vnni_consts c;
    vnni_consts_init(&c, a_s8);
    const uint32_t zxp = (uint32_t)(a_s8 ? zx + 128 : zx);
    for (int64_t jg = 0; jg < nb; jg += 2) {
        const int64_t r0 = j0 + jg, r1 = j0 + (jg + 1 < nb ? jg + 1 : jg);
        pk2_row(qw, r0, wb[0], Kp, &c);
        pk2_row(qw, r1, wb[1], Kp, &c);
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                a13 = a00;
        uint32_t cs0 = 0, cs1 = 0; /* C of each channel */
        for (int64_t g = 0, k0 = 0; k0 < K; g++, k0 += G) {
            const int64_t q0 = k0 / 4, q1 = (k0 + G < K ? k0 + G : K + 3) / 4;
            __m256i p00 = _mm256_setzero_si256(), p01 = p00, p02 = p00, p03 = p00, p10 = p00, p11 = p00, p12 = p00,
                    p13 = p00, e0 = p00, e1 = p00;
            for (int64_t q = q0; q < q1; q++) {
                const uint8_t *src = pa + q * 4 * PK_TP;
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)src);
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)(src + 32));
                const __m256i x2 = _mm256_loadu_si256((const __m256i *)(src + 64));
                const __m256i x3 = _mm256_loadu_si256((const __m256i *)(src + 96));
                int32_t w0, w1;
                memcpy(&w0, wb[0] + 4 * q, 4);
                memcpy(&w1, wb[1] + 4 * q, 4);
                const __m256i b0 = _mm256_set1_epi32(w0), b1 = _mm256_set1_epi32(w1);
                VNNI_DP(p00, x0, b0);
                VNNI_DP(p01, x1, b0);
                VNNI_DP(p02, x2, b0);
                VNNI_DP(p03, x3, b0);
                VNNI_DP(p10, x0, b1);
                VNNI_DP(p11, x1, b1);
                VNNI_DP(p12, x2, b1);
                VNNI_DP(p13, x3, b1);
            }
            /* Σ_{k∈g} w of both rows (lanes of 4-byte sums; the quads are the group's) */
            for (int64_t q = q0; q < q1; q += 8) {
                const __mmask32 m = vnni_mask(4 * q, 4 * q1);
                VNNI_DP(e0, c.ones, _mm256_maskz_loadu_epi8(m, wb[0] + 4 * q));
                VNNI_DP(e1, c.ones, _mm256_maskz_loadu_epi8(m, wb[1] + 4 * q));
            }
            const int32_t m0 = vnni_mult(qw, r0, g), m1 = vnni_mult(qw, r1, g);
            cs0 += (uint32_t)m0 * (uint32_t)vnni_hsum(e0);
            cs1 += (uint32_t)m1 * (uint32_t)vnni_hsum(e1);
            if (qw->has_gs) {
                const __m256i mv0 = _mm256_set1_epi32(m0), mv1 = _mm256_set1_epi32(m1);
                a00 = _mm256_add_epi32(a00, _mm256_mullo_epi32(p00, mv0));
                a01 = _mm256_add_epi32(a01, _mm256_mullo_epi32(p01, mv0));
                a02 = _mm256_add_epi32(a02, _mm256_mullo_epi32(p02, mv0));
                a03 = _mm256_add_epi32(a03, _mm256_mullo_epi32(p03, mv0));
                a10 = _mm256_add_epi32(a10, _mm256_mullo_epi32(p10, mv1));
                a11 = _mm256_add_epi32(a11, _mm256_mullo_epi32(p11, mv1));
                a12 = _mm256_add_epi32(a12, _mm256_mullo_epi32(p12, mv1));
                a13 = _mm256_add_epi32(a13, _mm256_mullo_epi32(p13, mv1));
            } else {
                a00 = _mm256_add_epi32(a00, p00);
                a01 = _mm256_add_epi32(a01, p01);
                a02 = _mm256_add_epi32(a02, p02);
                a03 = _mm256_add_epi32(a03, p03);
                a10 = _mm256_add_epi32(a10, p10);
                a11 = _mm256_add_epi32(a11, p11);
                a12 = _mm256_add_epi32(a12, p12);
                a13 = _mm256_add_epi32(a13, p13);
            }
        }
        const __m256i k0v = _mm256_set1_epi32((int32_t)(zxp * cs0)), k1v = _mm256_set1_epi32((int32_t)(zxp * cs1));
        int32_t *d0 = dot + jg * PK_TP;
        _mm256_storeu_si256((__m256i *)d0, _mm256_sub_epi32(a00, k0v));
        _mm256_storeu_si256((__m256i *)(d0 + 8), _mm256_sub_epi32(a01, k0v));
        _mm256_storeu_si256((__m256i *)(d0 + 16), _mm256_sub_epi32(a02, k0v));
        _mm256_storeu_si256((__m256i *)(d0 + 24), _mm256_sub_epi32(a03, k0v));
        if (jg + 1 < nb) {
            int32_t *d1 = dot + (jg + 1) * PK_TP;
            _mm256_storeu_si256((__m256i *)d1, _mm256_sub_epi32(a10, k1v));
            _mm256_storeu_si256((__m256i *)(d1 + 8), _mm256_sub_epi32(a11, k1v));
            _mm256_storeu_si256((__m256i *)(d1 + 16), _mm256_sub_epi32(a12, k1v));
            _mm256_storeu_si256((__m256i *)(d1 + 24), _mm256_sub_epi32(a13, k1v));
        }
    }
}

#endif /* x86 */
