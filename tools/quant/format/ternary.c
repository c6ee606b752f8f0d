/*
 * ternary.c — the twn / exact / asym ternary solvers (see ternary.h).
 *
 * Why the exact solver is "sort + scan": for a fixed support of size k the
 * best alpha is the mean of the |w| in it and the error is
 * ||w||^2 - S^2/k, S = sum of those |w|; for a fixed k the largest S comes
 * from the k largest magnitudes. So the optimum is the k maximizing
 * S_k^2 / k over the descending prefix sums S_k.
 *
 * Speed (the goal is >= 50 M weights/s for groups of <= 64): the sort is
 * the cost. Small groups use a rank sort: the rank of m_i is the number of
 * elements that must precede it (m_j > m_i, or m_j == m_i with j < i, which
 * makes ranks a permutation even with ties); m_i is written straight to
 * out[rank]. That is n^2 comparisons but branch-free and 4-wide with SSE2,
 * and no data-dependent branch to mispredict — faster than insertion sort on
 * random data for n <= 64 (AVX2, when the CPU has it: 8 ranks per vector). Larger groups use an LSD radix sort on the float
 * bits (non-negative IEEE floats order like their bit patterns as unsigned
 * integers), 4 passes of 8 bits, O(n).
 */
#include "quant/format/ternary.h"

#include <math.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define FGQ_TERNARY_AVX2 1
#endif

enum { RANK_SORT_MAX = 64, SCRATCH_PAD = 8 };

const char *fgq_ternary_solver_name(fgq_ternary_solver s)
{
    switch (s) {
    case FGQ_TERNARY_TWN: return "twn";
    case FGQ_TERNARY_EXACT: return "exact";
    case FGQ_TERNARY_ASYM: return "asym";
    }
    return "?";
}

/* Scratch: three float arrays of n + SCRATCH_PAD (magnitudes padded to a
 * multiple of 4 with -1 sentinels, a second magnitude array for asym, the
 * sorted output) and two uint32 arrays of n (radix keys). */
size_t fgq_ternary_scratch_bytes(int64_t n)
{
    if (n < 0)
        n = 0;
    return (size_t)(3 * (n + SCRATCH_PAD)) * sizeof(float) + (size_t)(2 * n) * sizeof(uint32_t);
}

/* Pads m[n .. round_up(n, 8)) with -1: smaller than every magnitude, so the
 * padded lanes never count towards a rank. */
static void pad_sentinels(float *m, int64_t n)
{
    for (int64_t j = n; j < ((n + 7) & ~(int64_t)7); j++)
        m[j] = -1.0f;
}

#if defined(FGQ_TERNARY_AVX2)
/* The same ranks, eight i at a time in the lanes of one vector: every m_j is
 * broadcast once and compared with m_i..m_i+7, so the counts come out as a
 * vector with no horizontal sum. Lanes i > j use >=, the others > (the tie
 * rule above). Chosen at run time by CPU feature (the build does not assume AVX2). */
__attribute__((target("avx2"))) static void rank_sort_desc_avx2(const float *m, int64_t n, float *out)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t i0 = 0; i0 < n; i0 += 8) {
        __m256 vi = _mm256_loadu_ps(m + i0);
        __m256i acc = _mm256_setzero_si256();
        int64_t end = i0 + 8 < n ? i0 + 8 : n;
        for (int64_t j = 0; j < i0; j++)
            acc = _mm256_sub_epi32(acc, _mm256_castps_si256(_mm256_cmp_ps(_mm256_broadcast_ss(m + j), vi, _CMP_GE_OQ)));
        for (int64_t j = i0; j < end; j++) {
            __m256 vj = _mm256_broadcast_ss(m + j);
            __m256i later = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)(j - i0))); /* lanes with i > j */
            __m256 ge = _mm256_cmp_ps(vj, vi, _CMP_GE_OQ), gt = _mm256_cmp_ps(vj, vi, _CMP_GT_OQ);
            __m256 hit = _mm256_or_ps(gt, _mm256_and_ps(ge, _mm256_castsi256_ps(later)));
            acc = _mm256_sub_epi32(acc, _mm256_castps_si256(hit));
        }
        for (int64_t j = end; j < n; j++)
            acc = _mm256_sub_epi32(acc, _mm256_castps_si256(_mm256_cmp_ps(_mm256_broadcast_ss(m + j), vi, _CMP_GT_OQ)));
        int32_t rank[8];
        _mm256_storeu_si256((__m256i *)(void *)rank, acc);
        for (int64_t l = 0; l < end - i0; l++)
            out[rank[l]] = m[i0 + l];
    }
}

static int cpu_has_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}
#endif

/* out[0..n) = m[0..n) in descending order; m must be sentinel-padded. */
static void rank_sort_desc(const float *m, int64_t n, float *out)
{
    int64_t n4 = (n + 3) & ~(int64_t)3;
    for (int64_t i = 0; i < n; i++) {
        float mi = m[i];
        int64_t ib = i & ~(int64_t)3; /* the 4-block holding i is done lane by lane */
        int64_t r = 0;
#if defined(__SSE2__)
        __m128 vi = _mm_set1_ps(mi);
        __m128i acc = _mm_setzero_si128();
        /* compare masks are all-ones (-1) per true lane: subtracting counts them */
        for (int64_t j = 0; j < ib; j += 4)
            acc = _mm_sub_epi32(acc, _mm_castps_si128(_mm_cmpge_ps(_mm_loadu_ps(m + j), vi)));
        for (int64_t j = ib + 4; j < n4; j += 4)
            acc = _mm_sub_epi32(acc, _mm_castps_si128(_mm_cmpgt_ps(_mm_loadu_ps(m + j), vi)));
        int32_t lanes[4];
        _mm_storeu_si128((__m128i *)(void *)lanes, acc);
        r = (int64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3];
#else
        for (int64_t j = 0; j < ib; j++)
            r += m[j] >= mi;
        for (int64_t j = ib + 4; j < n4; j++)
            r += m[j] > mi;
#endif
        for (int64_t j = ib; j < ib + 4; j++)
            r += j < i ? (m[j] >= mi) : (m[j] > mi);
        out[r] = mi;
    }
}

static void radix_sort_desc(const float *m, int64_t n, float *out, uint32_t *a, uint32_t *b)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(&a[i], &m[i], sizeof a[i]);
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t count[256] = {0};
        for (int64_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 255u]++;
        if (count[(a[0] >> shift) & 255u] == n)
            continue; /* every key shares this digit: the pass would not move anything */
        int64_t offset[256];
        int64_t pos = 0;
        for (int d = 255; d >= 0; d--) { /* largest digit first: descending order */
            offset[d] = pos;
            pos += count[d];
        }
        for (int64_t i = 0; i < n; i++)
            b[offset[(a[i] >> shift) & 255u]++] = a[i];
        uint32_t *swap = a;
        a = b;
        b = swap;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(&out[i], &a[i], sizeof out[i]);
}

/* Compare-exchange for a descending sorting network: branch-free
 * (maxss/minss), which matters because groups of 4..8 are the common case
 * and a data-dependent branch per comparison mispredicts half the time. */
#define FGQ_CX(a, b)                                                                               \
    do {                                                                                           \
        float hi_ = fmaxf(v[a], v[b]), lo_ = fminf(v[a], v[b]);                                    \
        v[a] = hi_;                                                                                \
        v[b] = lo_;                                                                                \
    } while (0)

/* Optimal networks for 4 (5 comparators) and 8 (19 comparators) inputs;
 * shorter groups are padded with -1 sentinels, which sort last. Magnitudes
 * are never NaN (the caller rejects NaN weights). */
static void network_sort_desc(const float *m, int64_t n, float *out)
{
    float v[8];
    for (int64_t i = 0; i < 8; i++)
        v[i] = i < n ? m[i] : -1.0f;
    if (n <= 4) {
        FGQ_CX(0, 1); FGQ_CX(2, 3); FGQ_CX(0, 2); FGQ_CX(1, 3); FGQ_CX(1, 2);
    } else {
        FGQ_CX(0, 2); FGQ_CX(1, 3); FGQ_CX(4, 6); FGQ_CX(5, 7);
        FGQ_CX(0, 4); FGQ_CX(1, 5); FGQ_CX(2, 6); FGQ_CX(3, 7);
        FGQ_CX(0, 1); FGQ_CX(2, 3); FGQ_CX(4, 5); FGQ_CX(6, 7);
        FGQ_CX(2, 4); FGQ_CX(3, 5);
        FGQ_CX(1, 4); FGQ_CX(3, 6);
        FGQ_CX(1, 2); FGQ_CX(3, 4); FGQ_CX(5, 6);
    }
    memcpy(out, v, (size_t)n * sizeof *out);
}
#undef FGQ_CX

/* Sorts n magnitudes (m sentinel-padded) descending into out. */
static void sort_desc(float *m, int64_t n, float *out, uint32_t *ka, uint32_t *kb)
{
    if (n <= 8) {
        network_sort_desc(m, n, out);
    } else if (n <= RANK_SORT_MAX) {
        pad_sentinels(m, n);
#if defined(FGQ_TERNARY_AVX2)
        if (n > 8 && cpu_has_avx2()) {
            rank_sort_desc_avx2(m, n, out);
            return;
        }
#endif
        rank_sort_desc(m, n, out);
    } else {
        radix_sort_desc(m, n, out, ka, kb);
    }
}

/* Best support size k for descending magnitudes s[0..n): argmax S_k^2 / k,
 * compared cross-multiplied so there is no division per element. Returns 0
 * when every magnitude is 0. */
static int64_t best_prefix(const float *s, int64_t n)
{
    if (n == 0 || s[0] == 0.0f)
        return 0;
    double sum = 0.0, best_sum = s[0];
    int64_t best_k = 1;
    for (int64_t k = 1; k <= n; k++) {
        sum += s[k - 1];
        if (sum * sum * (double)best_k > best_sum * best_sum * (double)k) {
            best_sum = sum;
            best_k = k;
        }
    }
    return best_k;
}

/* Threshold that keeps exactly the magnitudes >= s[k-1] ("w > delta"): the
 * float just below the k-th magnitude, which lies between the k-th and the
 * (k+1)-th. Ties with the k-th magnitude are kept: an optimum never splits
 * a tie, because at an optimum every kept |w| is >= alpha/2 >= every dropped
 * one (else moving it lowers the error for the same alpha), and a |w| of
 * exactly alpha/2 is better kept (same error at that alpha, then re-fitting
 * alpha lowers it). */
static float delta_for(const float *s, int64_t n, int64_t k)
{
    if (k == 0)
        return n > 0 ? s[0] : 0.0f; /* nothing is above the largest magnitude */
    /* s[k-1] > 0 (a zero never improves S^2/k); for a positive float, the bit
     * pattern minus one is the next float towards zero (nextafterf, inline). */
    uint32_t bits;
    memcpy(&bits, &s[k - 1], sizeof bits);
    bits -= 1;
    float d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Writes codes for the thresholds and sets each alpha to the mean |w| of
 * the weights it codes (the optimal alpha for that T). */
static void assign_codes(const float *w, int64_t n, int8_t *t, int symmetric, fgq_ternary_fit *fit)
{
    float dp = fit->delta_pos, dn = fit->delta_neg;
    double sp = 0.0, sn = 0.0;
    int64_t np = 0, nn = 0;
    /* Branch-free: on real weights the sign and threshold tests are coin
     * flips, and mispredicted branches here cost more than the sort. */
    for (int64_t i = 0; i < n; i++) {
        float x = w[i];
        int pos = x > dp, neg = x < -dn;
        if (t)
            t[i] = (int8_t)(pos - neg);
        sp += (double)((float)pos * x);
        sn -= (double)((float)neg * x);
        np += pos;
        nn += neg;
    }
    fit->n_pos = np;
    fit->n_neg = nn;
    if (symmetric) {
        float a = np + nn > 0 ? (float)((sp + sn) / (double)(np + nn)) : 0.0f;
        fit->alpha_pos = fit->alpha_neg = a;
    } else {
        fit->alpha_pos = np > 0 ? (float)(sp / (double)np) : 0.0f;
        fit->alpha_neg = nn > 0 ? (float)(sn / (double)nn) : 0.0f;
    }
}

void fgq_ternary_solve_f32(fgq_ternary_solver solver, const float *w, int64_t n, void *scratch,
                           int8_t *t, fgq_ternary_fit *fit)
{
    float *m1 = (float *)scratch;
    float *m2 = m1 + n + SCRATCH_PAD;
    float *sorted = m2 + n + SCRATCH_PAD;
    uint32_t *ka = (uint32_t *)(void *)(sorted + n + SCRATCH_PAD);
    uint32_t *kb = ka + n;
    memset(fit, 0, sizeof *fit);

    if (solver == FGQ_TERNARY_TWN) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++)
            sum += fabsf(w[i]);
        float delta = n > 0 ? (float)(0.7 * sum / (double)n) : 0.0f;
        fit->delta_pos = fit->delta_neg = delta;
        assign_codes(w, n, t, 1, fit);
    } else if (solver == FGQ_TERNARY_ASYM) {
        int64_t np = 0, nn = 0;
        for (int64_t i = 0; i < n; i++) {
            if (w[i] > 0.0f)
                m1[np++] = w[i];
            else if (w[i] < 0.0f)
                m2[nn++] = -w[i];
        }
        sort_desc(m1, np, sorted, ka, kb);
        fit->delta_pos = delta_for(sorted, np, best_prefix(sorted, np));
        sort_desc(m2, nn, sorted, ka, kb);
        fit->delta_neg = delta_for(sorted, nn, best_prefix(sorted, nn));
        assign_codes(w, n, t, 0, fit);
    } else { /* FGQ_TERNARY_EXACT */
        for (int64_t i = 0; i < n; i++)
            m1[i] = fabsf(w[i]);
        sort_desc(m1, n, sorted, ka, kb);
        float delta = delta_for(sorted, n, best_prefix(sorted, n));
        fit->delta_pos = fit->delta_neg = delta;
        assign_codes(w, n, t, 1, fit);
    }
}

double fgq_ternary_sse(const float *w, const int8_t *t, int64_t n, const fgq_ternary_fit *fit)
{
    double e = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double q = t[i] > 0 ? (double)fit->alpha_pos : t[i] < 0 ? -(double)fit->alpha_neg : 0.0;
        double d = (double)w[i] - q;
        e += d * d;
    }
    return e;
}
