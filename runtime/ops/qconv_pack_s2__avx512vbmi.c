/*
 * qconv_pack_s2__avx512vbmi.c — the packed conv kernels' tap packing
 * (qconv_pack_avx512vnni.h: pa[q][r][i] = x'(k = 4q + i, position p0 + r)) for
 * layers with stride 2 along W (stems, downsampling convolutions), which
 * otherwise took im2col + GEMM. For one k a run of the tile's positions
 * along an output row reads every other byte of one input row: one masked
 * load of the 2·len − 1 bytes, then vpermb takes byte 2·(r − l0) into lane
 * r (len <= 32: within the 64 bytes a table holds); lanes whose tap is in
 * the padding keep z_x and are not read. The same bytes as the stride-1
 * packing's definition; tests/test_qconv_kernels.c checks whole layers
 * against the reference path.
 */
#include "qconv_pack_avx512vnni.h"

#if defined(__x86_64__) || defined(__i386__)

__attribute__((target(FGQ_VNNI_TARGET ",avx512vbmi"))) void
fgq_qconv_pack_a_s2__avx512vbmi(const fgq_qconv_src *s, int64_t p0, int64_t np, int a_s8, int32_t zx, uint8_t *pa,
                                int64_t *seg)
{
    const int64_t K = s->K, Kq = (K + 3) / 4;
    const int64_t *seg_r0 = seg, *seg_len = seg + (PK_TP + 1), *seg_oh = seg + 2 * (PK_TP + 1),
                  *seg_ow0 = seg + 3 * (PK_TP + 1);
    const int nseg = qconv_pack_segs(s, p0, np, seg);
    const __m256i flip = _mm256_set1_epi8(a_s8 ? (char)0x80 : 0), zxv = _mm256_set1_epi8((char)(uint8_t)zx);
    const __m512i iota = _mm512_set_epi8(63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45,
                                         44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25,
                                         24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                         2, 1, 0);
    int64_t c = 0, kh = 0, kw = 0; /* k = (c·KH + kh)·KW + kw */
    for (int64_t q = 0; q < Kq; q++) {
        __m256i v[4];
        for (int i = 0; i < 4; i++) {
            if (4 * q + i >= K) {
                v[i] = _mm256_setzero_si256();
                continue;
            }
            __m256i x = zxv;
            const int64_t shift = kw * s->dw - s->pl; /* iw = 2·ow + shift */
            /* the ow whose iw is inside the row: 2·ow + shift in [0, IW) */
            const int64_t ow_lo = shift >= 0 ? 0 : (1 - shift) / 2;
            const int64_t ow_hi = s->IW - 1 - shift < 0 ? -1 : (s->IW - 1 - shift) / 2;
            for (int g = 0; g < nseg; g++) {
                const int64_t ih = seg_oh[g] * s->sh - s->pt + kh * s->dh;
                if (ih < 0 || ih >= s->IH)
                    continue;
                const int64_t lo = ow_lo > seg_ow0[g] ? ow_lo : seg_ow0[g];
                const int64_t hi = ow_hi < seg_ow0[g] + seg_len[g] - 1 ? ow_hi : seg_ow0[g] + seg_len[g] - 1;
                if (hi < lo)
                    continue;
                const int64_t l0 = seg_r0[g] + lo - seg_ow0[g], ln = hi - lo + 1;
                const uint8_t *row = s->src + c * s->ch_stride + ih * s->IW;
                /* bytes iw = 2·lo + shift .. 2·hi + shift: 2·ln − 1 <= 63 of them */
                const __m512i t = _mm512_maskz_loadu_epi8(((__mmask64)1 << (2 * ln - 1)) - 1, row + 2 * lo + shift);
                const __m512i idx = _mm512_add_epi8(_mm512_sub_epi8(iota, _mm512_set1_epi8((char)l0)),
                                                    _mm512_sub_epi8(iota, _mm512_set1_epi8((char)l0)));
                const __m256i gth = _mm512_castsi512_si256(_mm512_permutexvar_epi8(idx, t)); /* lane r: 2·(r − l0) */
                x = _mm256_mask_blend_epi8((__mmask32)((((uint64_t)1 << ln) - 1) << l0), x, gth);
            }
            v[i] = _mm256_xor_si256(x, flip);
            pk_next_tap(s, &c, &kh, &kw);
        }
        qconv_pack_quad(v, pa + q * 4 * PK_TP);
    }
}

#endif /* x86 */
