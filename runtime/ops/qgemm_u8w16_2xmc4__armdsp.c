/*
 * qgemm_u8w16_2xmc4__armdsp.c — the block form (`gemm`: m activation rows at
 * once) of the Cortex-M DSP QGEMM rows, s8 and t2 weights alike: two weight
 * rows are decoded once per chunk of 256 codes into 16-bit *effective*
 * weights, then every activation row runs over them with SMLAD. Reference
 * twin: m calls of fgq_qweights_dot (qgemm_dispatch.h has the contract).
 *
 * Effective weight of code c in group g: e = c·m⁺ for c > 0, c·m⁻ for c < 0
 * (m = min(GS, M); m⁺ = m⁻ without two multipliers; 1 without GS). The
 * reference adds m⁺·Σ_{c>0} c·d − m⁻·Σ_{c<0} |c|·d per group: the same
 * integer as Σ e·d, since every partial sum of Σ |e|·|d| is within the §3.5
 * bound. |e| <= 128·255 = 32640 fits int16, |d| <= 255 too, so SMLAD's
 * products are exact. Decoding costs ~10 instructions a code, once per
 * (weight row, chunk, block of activation rows); the inner step is then one
 * activation word (2 UXTAB16) shared by two rows, and per row two loads and
 * two SMLAD per 4 codes. Fewer than 4 activation rows, and s8 weights
 * without group multipliers (which `dot` reads as they are), go to `dot`
 * instead, where decoding does not pay — the latter two activation rows at a
 * time with u8 activations (pairs_u8s8). The last K mod 4 codes go term by term.
 */
#include "op_select.h" /* compiled per model in a firmware build: what it may leave out */
#include "qgemm_armdsp.h"

#if defined(__ARM_FEATURE_DSP)

enum { CHUNK = 256, MB = 32 };

/* Walks one weight row's effective weights in k order. */
typedef struct {
    const fgq_qweights *qw;
    const uint8_t *w, *gs; /* the row's codes; its multipliers (NULL without GS) */
    int32_t k, left, g, mp, mn;
} ew_walk;

FGQ_DSP_INLINE void ew_mults(ew_walk *it)
{
    it->mp = it->mn = 1;
    if (it->gs != NULL && it->g < it->qw->n_groups) {
        const uint8_t *m = it->gs + (size_t)it->g * (size_t)it->qw->n_alpha;
        const int32_t M = it->qw->mmax;
        it->mp = m[0] < M ? m[0] : M;
        it->mn = it->qw->n_alpha == 2 ? (m[1] < M ? m[1] : M) : it->mp;
    }
}

FGQ_DSP_INLINE void ew_begin(ew_walk *it, const fgq_qweights *qw, size_t row)
{
    it->qw = qw;
    it->w = qw->codes + row * (size_t)qw->row_bytes;
    it->gs = qw->has_gs ? qw->gs + row * (size_t)qw->n_groups * (size_t)qw->n_alpha : NULL;
    it->k = 0;
    it->g = 0;
    it->left = (int32_t)qw->group;
    ew_mults(it);
}

FGQ_DSP_INLINE int32_t ew_next(ew_walk *it, fgq_dtype dt)
{
    const int32_t c = fgq_qw_code(dt, it->w, it->k++);
    const int32_t e = c > 0 ? c * it->mp : c * it->mn;
    if (--it->left == 0) {
        it->g++;
        it->left = (int32_t)it->qw->group;
        ew_mults(it);
    }
    return e;
}

/* Next 4 effective weights as the words (e0, e2) and (e1, e3). */
FGQ_DSP_INLINE void ew_next4(ew_walk *it, fgq_dtype dt, uint32_t *p)
{
    const int32_t e0 = ew_next(it, dt), e1 = ew_next(it, dt), e2 = ew_next(it, dt), e3 = ew_next(it, dt);
    p[0] = (uint32_t)(uint16_t)e0 | (uint32_t)(uint16_t)e2 << 16;
    p[1] = (uint32_t)(uint16_t)e1 | (uint32_t)(uint16_t)e3 << 16;
}

FGQ_DSP_INLINE void block(const fgq_qweights *qw, size_t j0, int32_t n, const uint8_t *a, size_t lda, int32_t m,
                          int a_s8, int32_t zx, int32_t *dot, size_t ldd, fgq_dtype dt)
{
    const int32_t K = (int32_t)qw->k, K4 = K & ~3;
    const uint32_t nz = fgq_dsp_negzx2(zx);
    uint32_t e0[CHUNK / 2], e1[CHUNK / 2];
    int32_t acc0[MB], acc1[MB];
    for (int32_t i = 0; i < n; i += 2) {
        const size_t r0 = j0 + (size_t)i, r1 = i + 1 < n ? r0 + 1 : r0;
        ew_walk w0, w1;
        ew_begin(&w0, qw, r0);
        ew_begin(&w1, qw, r1);
        for (int32_t r = 0; r < m; r++)
            acc0[r] = acc1[r] = 0;
        for (int32_t k0 = 0; k0 < K4; k0 += CHUNK) {
            const int32_t len = K4 - k0 < CHUNK ? K4 - k0 : CHUNK;
            for (int32_t j = 0; j < len / 2; j += 2) {
                ew_next4(&w0, dt, e0 + j);
                ew_next4(&w1, dt, e1 + j);
            }
            for (int32_t r = 0; r < m; r++) {
                const uint8_t *ar = a + (size_t)r * lda + k0;
                int32_t s0 = acc0[r], s1 = acc1[r];
                for (int32_t j = 0; j < len / 2; j += 2, ar += 4) {
                    uint32_t d02, d13;
                    fgq_dsp_d4(fgq_dsp_ld32(ar), nz, a_s8, &d02, &d13);
                    s0 = __smlad((int16x2_t)e0[j], (int16x2_t)d02, s0);
                    s0 = __smlad((int16x2_t)e0[j + 1], (int16x2_t)d13, s0);
                    s1 = __smlad((int16x2_t)e1[j], (int16x2_t)d02, s1);
                    s1 = __smlad((int16x2_t)e1[j + 1], (int16x2_t)d13, s1);
                }
                acc0[r] = s0;
                acc1[r] = s1;
            }
        }
        for (int32_t k = K4; k < K; k++) {
            const int32_t f0 = ew_next(&w0, dt), f1 = ew_next(&w1, dt);
            for (int32_t r = 0; r < m; r++) {
                const int32_t d = fgq_dsp_act(a + (size_t)r * lda, k, a_s8) - zx;
                acc0[r] += f0 * d;
                acc1[r] += f1 * d;
            }
        }
        for (int32_t r = 0; r < m; r++) {
            dot[(size_t)r * ldd + (size_t)i] = acc0[r];
            if (i + 1 < n)
                dot[(size_t)r * ldd + (size_t)i + 1] = acc1[r];
        }
    }
}

/* The common case (t2 weights, u8 activations) specialised; one copy with
 * run-time dtype and activation type serves the rest (grouped s8, s8
 * activations), for flash. */
static __attribute__((noinline)) void block_u8t2(const fgq_qweights *qw, size_t j0, int32_t n, const uint8_t *a,
                                                 size_t lda, int32_t m, int32_t zx, int32_t *dot, size_t ldd)
{
    block(qw, j0, n, a, lda, m, 0, zx, dot, ldd, FGQ_DT_T2);
}

static __attribute__((noinline)) void block_any(const fgq_qweights *qw, size_t j0, int32_t n, const uint8_t *a,
                                                size_t lda, int32_t m, int a_s8, int32_t zx, int32_t *dot, size_t ldd)
{
    block(qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, qw->dtype);
}

/* Plain s8 weights (no multipliers) against two activation rows a0, a1: 2 x 2 dot products a pass,
 * each weight word's SXTB16 pairs serving both activation rows and each activation word's UXTAB16
 * pairs both weight rows (per 4 codes: 2 activation and 2 weight words, 4 + 4 extensions, 8 SMLAD),
 * where `dot` extends the weights once per activation row. Exact as `dot` (qgemm_armdsp.h). */
FGQ_DSP_INLINE void pair_s8(const uint8_t *w0, const uint8_t *w1, const uint8_t *a0, const uint8_t *a1, int32_t K,
                            uint32_t nz, int32_t zx, int32_t *c)
{
    int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, k = 0;
    for (; k + 4 <= K; k += 4) {
        uint32_t p02, p13, q02, q13;
        fgq_dsp_d4(fgq_dsp_ld32(a0 + k), nz, 0, &p02, &p13);
        fgq_dsp_d4(fgq_dsp_ld32(a1 + k), nz, 0, &q02, &q13);
        uint32_t w = fgq_dsp_ld32(w0 + k);
        int16x2_t e02 = __sxtb16((int8x4_t)w), e13 = (int16x2_t)fgq_dsp_sxtb16_ror8(w);
        c00 = __smlad(e02, (int16x2_t)p02, c00);
        c00 = __smlad(e13, (int16x2_t)p13, c00);
        c10 = __smlad(e02, (int16x2_t)q02, c10);
        c10 = __smlad(e13, (int16x2_t)q13, c10);
        w = fgq_dsp_ld32(w1 + k);
        e02 = __sxtb16((int8x4_t)w);
        e13 = (int16x2_t)fgq_dsp_sxtb16_ror8(w);
        c01 = __smlad(e02, (int16x2_t)p02, c01);
        c01 = __smlad(e13, (int16x2_t)p13, c01);
        c11 = __smlad(e02, (int16x2_t)q02, c11);
        c11 = __smlad(e13, (int16x2_t)q13, c11);
    }
    for (; k < K; k++) {
        const int32_t d0 = (int32_t)a0[k] - zx, d1 = (int32_t)a1[k] - zx;
        const int32_t u = (int32_t)(int8_t)w0[k], v = (int32_t)(int8_t)w1[k];
        c00 += u * d0;
        c01 += v * d0;
        c10 += u * d1;
        c11 += v * d1;
    }
    c[0] = c00;
    c[1] = c01;
    c[2] = c10;
    c[3] = c11;
}

/* Rows [0, m & ~1) of a tile of u8 activations against plain s8 weight rows, two by two (an odd
 * weight row pairs with itself, its second result dropped); the caller takes an odd last row. */
static __attribute__((noinline)) void pairs_u8s8(const fgq_qweights *qw, size_t j0, int32_t n, const uint8_t *a,
                                                 size_t lda, int32_t m, int32_t zx, int32_t *dot, size_t ldd)
{
    const int32_t K = (int32_t)qw->k;
    const size_t rb = (size_t)qw->row_bytes;
    const uint32_t nz = fgq_dsp_negzx2(zx);
    for (int32_t r = 0; r + 1 < m; r += 2) {
        const uint8_t *a0 = a + (size_t)r * lda;
        int32_t *d0 = dot + (size_t)r * ldd, *d1 = d0 + ldd;
        for (int32_t i = 0; i < n; i += 2) {
            const size_t r0 = j0 + (size_t)i, r1 = i + 1 < n ? r0 + 1 : r0;
            int32_t c[4];
            pair_s8(qw->codes + r0 * rb, qw->codes + r1 * rb, a0, a0 + lda, K, nz, zx, c);
            d0[i] = c[0];
            d1[i] = c[2];
            if (i + 1 < n) {
                d0[i + 1] = c[1];
                d1[i + 1] = c[3];
            }
        }
    }
}

/* Which block a tile takes: 0 none (`dot` row by row), 1 block_u8t2, 2 block_any. A firmware
 * built for one model (op_select.h) drops the cases its model lacks, and with them the blocks'
 * code; such a tile goes row by row through `dot`, which gives the same sums. */
static int block_kind(const fgq_qweights *qw, int32_t mb, int a_s8)
{
    /* decoding pays for itself over >= 4 rows; plain s8 rows (no multipliers to fold)
     * would only save `dot`'s SXTB16s, ~0.25 instructions a MAC: measured no faster */
    if (mb < 4 || (qw->dtype == FGQ_DT_S8 && !qw->has_gs))
        return 0;
    if (qw->dtype == FGQ_DT_T2 && !a_s8)
        return FGQ_QW_ON_T2 ? 1 : 0;
    const int any = qw->dtype == FGQ_DT_S8 ? FGQ_QW_ON_S8_GROUPS /* plain s8 left above */
                                           : FGQ_QW_ON_T2 && (FGQ_QW_ON_T2_SPLIT || FGQ_QX_ON_S8);
    return any ? 2 : 0;
}

static void gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda, int64_t m, int a_s8,
                 int32_t zx, int32_t *dot, int64_t ldd, fgq_qgemm_dot_fn dot_fn)
{
    for (int64_t r0 = 0; r0 < m; r0 += MB) {
        const int32_t mb = (int32_t)(m - r0 < MB ? m - r0 : MB);
        const uint8_t *ab = a + r0 * lda;
        int32_t *db = dot + r0 * ldd;
        const int kind = block_kind(qw, mb, a_s8);
        if (kind == 0) {
            int32_t r = 0;
            if (FGQ_QW_ON_S8 && qw->dtype == FGQ_DT_S8 && !qw->has_gs && !a_s8 && mb >= 2) {
                pairs_u8s8(qw, (size_t)j0, (int32_t)n, ab, (size_t)lda, mb, zx, db, (size_t)ldd);
                r = mb & ~1;
            }
            for (; r < mb; r++)
                dot_fn(qw, j0, n, ab + (size_t)r * (size_t)lda, a_s8, zx, db + (size_t)r * (size_t)ldd);
        } else if (kind == 1) {
            block_u8t2(qw, (size_t)j0, (int32_t)n, ab, (size_t)lda, mb, zx, db, (size_t)ldd);
        } else {
            block_any(qw, (size_t)j0, (int32_t)n, ab, (size_t)lda, mb, a_s8, zx, db, (size_t)ldd);
        }
    }
}

void fgq_qgemm_u8s8_2xmc4__armdsp_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd,
                           uint8_t *work)
{
    (void)work; /* this kernel keeps no buffer */
    gemm(qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, fgq_qgemm_u8s8_1x2c4__armdsp);
}

void fgq_qgemm_u8t2_2xmc4__armdsp_gemm(const fgq_qweights *qw, int64_t j0, int64_t n, const uint8_t *a, int64_t lda,
                                       int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd,
                           uint8_t *work)
{
    (void)work; /* this kernel keeps no buffer */
    gemm(qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, fgq_qgemm_u8t2_1x2c4__armdsp);
}

#endif /* __ARM_FEATURE_DSP */
