/*
 * test_kernels.c — a bare-metal test program: every QGEMM kernel row that
 * this build of the runtime holds (the Cortex-M DSP rows of
 * qgemm_dispatch.c where the compiler targets __ARM_FEATURE_DSP) against its
 * reference twin fgq_qgemm_dot_ref, on the emulated board.
 *
 * Oracle: the reference. Every int32 dot product a kernel returns must equal
 * fgq_qgemm_dot_ref's for the same weights, activations and zero point.
 * Rows with a block form (`gemm`) run half the random cases through it, on
 * 1..40 activation rows lda >= K bytes apart. Cases: per row 3000 random
 * shapes (K 1..300, so K = 1, odd K and K off the
 * 4-step; 1..9 weight rows from a random first row; u8 and s8 activations;
 * zero points anywhere in the dtype's range; no group multipliers, or groups
 * of 1..K with multipliers 0..255 above and below W_MMAX, n_alpha 1 and 2 for
 * t2; codes uniform over the byte, so t2 code 3 and s8 −128 occur), each K
 * clamped to the §3.5 int32 bound; then the limits: every s8 code −128 (or
 * 127) against |a − zx| = 255 at K on the bound (65793), all-+1 and all-−1
 * ternary rows with M = 255 on the bound, and the zero point at both ends of
 * each dtype. A row's output stage, where it has its own, against
 * fgq_qrequant_ref (requant_cases), and the depthwise row step of the
 * build against fgq_qconv_dwrow_ref (dwrow_cases), its all-taps step against
 * fgq_qconv_dwtaps_ref (dwtaps_cases). Last, the index width
 * (index_width_cases): fgq_idx is 32 bits here, and the ops' tensor check
 * refuses a tensor past FGQ_OPS_MAX_NUMEL (2^26 elements) before any op
 * indexes it, however its dims split the count.
 *
 * Prints "fgq-kernel-test: ok rows=R cases=C" and exits 0, or the first 10
 * mismatches and exits 1. Run under QEMU (tests/python/test_arm_kernels.py):
 *   qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
 *     -semihosting-config enable=on,target=native -kernel fgq_kernel_test.elf
 */
#include "fgq_format.h"
#include "ops_util.h"
#include "qgemm_dispatch.h"
#include "semihost.h"

#include <string.h>

/* random cases: up to MAX_ROWS rows of K <= 300, up to MAX_GROUPS groups a
 * row; limit cases: 5 rows of K <= MAX_K (the s8 bound at |a − zx| = 255),
 * groups of >= 3 (>= 4 with M = 255) */
enum { MAX_ROWS = 12, MAX_K = 65793, MAX_GROUPS = 300 };

static uint8_t g_codes[5 * MAX_K];
static uint8_t g_gs[5 * MAX_K * 2 / 3 + 10];
static uint8_t g_a[MAX_K];

typedef struct {
    uint32_t s;
} rng;

static uint32_t rnd(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 17;
    r->s ^= r->s << 5;
    return r->s;
}

static int32_t rin(rng *r, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(rnd(r) % (uint32_t)(hi - lo + 1));
}

static int32_t code_max(fgq_dtype dt)
{
    return dt == FGQ_DT_S8 ? 128 : dt == FGQ_DT_S4 ? 8 : 1;
}

static int64_t codes_per_byte(fgq_dtype dt)
{
    return dt == FGQ_DT_T2 ? 4 : dt == FGQ_DT_S4 ? 2 : 1;
}

/* Largest K the §3.5 bound allows for these weights and zero point. */
static int64_t k_bound(fgq_dtype dt, int a_s8, int32_t zx, int32_t mmax)
{
    const int32_t lo = a_s8 ? -128 : 0, hi = a_s8 ? 127 : 255;
    const int64_t dx = zx - lo > hi - zx ? zx - lo : hi - zx;
    return 2147483647 / ((int64_t)code_max(dt) * (dx > 0 ? dx : 1) * mmax);
}

typedef struct {
    int failures, cases;
} tally;

/* Compares kernel row kern with the reference on weights qw (rows j0 .. j0+n). */
static void compare(const fgq_qgemm_kernel *kern, const fgq_qweights *qw, int64_t j0, int64_t n, int a_s8,
                    int32_t zx, tally *t)
{
    int32_t got[MAX_ROWS + 1], want[MAX_ROWS + 1];
    got[n] = 0x5A5A5A5A; /* a kernel writes dot[0 .. n) only */
    kern->dot(qw, j0, n, g_a, a_s8, zx, got);
    fgq_qgemm_dot_ref(qw, j0, n, g_a, a_s8, zx, want);
    t->cases++;
    for (int64_t i = 0; i <= n; i++) {
        const int ok = i < n ? got[i] == want[i] : got[n] == 0x5A5A5A5A;
        if (!ok && t->failures++ < 10)
            sh_printf("fgq-kernel-test: MISMATCH %s K=%ld rows=%ld+%ld group=%ld gs=%d n_alpha=%d M=%d a_s8=%d "
                      "zx=%ld: dot[%ld] = %ld, reference %ld\n",
                      kern->name, (long)qw->k, (long)j0, (long)n, (long)qw->group, qw->has_gs, (int)qw->n_alpha,
                      (int)qw->mmax, a_s8, (long)zx, (long)i, (long)got[i], (long)(i < n ? want[i] : 0x5A5A5A5A));
    }
}

/* The row's block form (kern->gemm) on m activation rows lda bytes apart
 * against fgq_qgemm_dot_ref per row, results ldd apart. */
static void compare_gemm(const fgq_qgemm_kernel *kern, const fgq_qweights *qw, int64_t j0, int64_t n, int64_t m,
                         int64_t lda, int a_s8, int32_t zx, tally *t)
{
    enum { LDD = MAX_ROWS + 3, MAX_M = 40 };
    static int32_t got[MAX_M * LDD], want[MAX_ROWS];
    for (int64_t i = 0; i < m * LDD; i++)
        got[i] = 0x5A5A5A5A;
    kern->gemm(qw, j0, n, g_a, lda, m, a_s8, zx, got, LDD, NULL); /* the Arm rows keep no work */
    t->cases++;
    for (int64_t r = 0; r < m; r++) {
        fgq_qgemm_dot_ref(qw, j0, n, g_a + r * lda, a_s8, zx, want);
        for (int64_t i = 0; i < LDD; i++) {
            const int32_t w = i < n ? want[i] : 0x5A5A5A5A;
            if (got[r * LDD + i] != w && t->failures++ < 10)
                sh_printf("fgq-kernel-test: MISMATCH %s gemm K=%ld rows=%ld+%ld m=%ld group=%ld gs=%d n_alpha=%d "
                          "a_s8=%d zx=%ld: dot[%ld][%ld] = %ld, reference %ld\n",
                          kern->name, (long)qw->k, (long)j0, (long)n, (long)m, (long)qw->group, qw->has_gs,
                          (int)qw->n_alpha, a_s8, (long)zx, (long)r, (long)i, (long)got[r * LDD + i], (long)w);
        }
    }
}

/* Weights of dtype dt, K, rows; group 0: no GS. Codes and GS stay as filled by the caller. */
static fgq_qweights weights(fgq_dtype dt, int64_t K, int64_t rows, int64_t group, int32_t n_alpha, int32_t mmax)
{
    fgq_qweights qw;
    memset(&qw, 0, sizeof qw);
    const int64_t cpb = codes_per_byte(dt);
    qw.dtype = dt;
    qw.rows = rows;
    qw.k = K;
    qw.row_bytes = (K + cpb - 1) / cpb;
    qw.has_gs = group > 0;
    qw.group = group > 0 ? group : K;
    qw.n_groups = group > 0 ? (K + group - 1) / group : 1;
    qw.n_alpha = group > 0 ? n_alpha : 1;
    qw.mmax = group > 0 ? mmax : 1;
    qw.codes = g_codes;
    qw.gs = group > 0 ? g_gs : NULL;
    return qw;
}

static void random_cases(const fgq_qgemm_kernel *kern, rng *r, int count, tally *t)
{
    for (int c = 0; c < count; c++) {
        const int a_s8 = rin(r, 0, 1);
        const int32_t zx = a_s8 ? rin(r, -128, 127) : rin(r, 0, 255);
        const int use_gs = rin(r, 0, 2) != 0;
        const int32_t mmax = use_gs ? rin(r, 1, 255) : 1;
        const int32_t n_alpha = use_gs && kern->w_dtype == FGQ_DT_T2 ? rin(r, 1, 2) : 1;
        int64_t K = rin(r, 0, 3) == 0 ? rin(r, 1, 12) : rin(r, 1, 300);
        const int64_t kb = k_bound(kern->w_dtype, a_s8, zx, mmax);
        K = K < kb ? K : kb;
        int64_t group = 0;
        if (use_gs) {
            const int pick = rin(r, 0, 3);
            group = pick == 0 ? rin(r, 1, 5) : pick == 1 ? 4 * rin(r, 1, 8) : pick == 2 ? rin(r, 1, (int32_t)K) : K;
            if (K / group + 1 > MAX_GROUPS)
                group = K / (MAX_GROUPS - 1) + 1;
        }
        const int64_t rows = rin(r, 1, MAX_ROWS), n = rin(r, 1, (int32_t)rows), j0 = rin(r, 0, (int32_t)(rows - n));
        fgq_qweights qw = weights(kern->w_dtype, K, rows, group, n_alpha, mmax);
        if (kern->fits != NULL && !kern->fits(&qw))
            continue;
        for (int64_t i = 0; i < rows * qw.row_bytes; i++)
            g_codes[i] = (uint8_t)rnd(r);
        for (int64_t i = 0; i < rows * qw.n_groups * qw.n_alpha; i++)
            g_gs[i] = (uint8_t)rnd(r);
        if (kern->gemm != NULL && rin(r, 0, 1)) {
            /* a block of m rows, lda >= K apart */
            const int64_t m = rin(r, 0, 3) == 0 ? rin(r, 1, 5) : rin(r, 1, 40), lda = K + rin(r, 0, 5);
            for (int64_t i = 0; i < m * lda; i++)
                g_a[i] = (uint8_t)rnd(r);
            compare_gemm(kern, &qw, j0, n, m, lda, a_s8, zx, t);
            continue;
        }
        for (int64_t i = 0; i < K; i++)
            g_a[i] = (uint8_t)rnd(r);
        compare(kern, &qw, j0, n, a_s8, zx, t);
    }
}

/* Rows filled with one code byte, activations one byte, K up to the bound. */
static void limit_case(const fgq_qgemm_kernel *kern, uint8_t code_byte, int64_t group, int32_t n_alpha, int32_t mmax,
                       int a_s8, int32_t zx, uint8_t a_byte, int64_t K, tally *t)
{
    const int64_t kb = k_bound(kern->w_dtype, a_s8, zx, group > 0 ? mmax : 1);
    K = K < kb ? K : kb;
    K = K < MAX_K ? K : MAX_K;
    fgq_qweights qw = weights(kern->w_dtype, K, 5, group, n_alpha, mmax);
    if (kern->fits != NULL && !kern->fits(&qw))
        return;
    memset(g_codes, code_byte, (size_t)(5 * qw.row_bytes));
    memset(g_gs, 255, (size_t)(5 * qw.n_groups * qw.n_alpha));
    memset(g_a, a_byte, (size_t)K);
    compare(kern, &qw, 0, 5, a_s8, zx, t); /* 5 rows: a group of four (the s8 dense rows' chunked form) and one */
    compare(kern, &qw, 0, 3, a_s8, zx, t);
    compare(kern, &qw, 1, 2, a_s8, zx, t);
    if (kern->gemm != NULL) /* lda 0: 5 rows reading the same K activations */
        compare_gemm(kern, &qw, 0, 3, 5, 0, a_s8, zx, t);
}

static void limit_cases(const fgq_qgemm_kernel *kern, tally *t)
{
    const fgq_dtype dt = kern->w_dtype;
    /* |a − zx| = 255: u8 a = 0 against zx = 255, a = 255 against 0; s8 −128 against 127 */
    const struct {
        int a_s8;
        int32_t zx;
        uint8_t a;
    } ends[] = { { 0, 255, 0 }, { 0, 0, 255 }, { 1, 127, 0x80 }, { 1, -128, 0x7F } };
    for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++) {
        if (dt == FGQ_DT_S8) {
            limit_case(kern, 0x80, 0, 1, 1, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
            limit_case(kern, 0x7F, 0, 1, 1, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
            limit_case(kern, 0x80, 64, 1, 255, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
            limit_case(kern, 0x80, 3, 1, 255, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
        } else if (dt == FGQ_DT_T2) {
            for (int n_alpha = 1; n_alpha <= 2; n_alpha++) {
                limit_case(kern, 0x55, 4, n_alpha, 255, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t); /* all +1 */
                limit_case(kern, 0xAA, 4, n_alpha, 255, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t); /* all −1 */
                limit_case(kern, 0xFF, 16, n_alpha, 255, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t); /* code 3 */
                limit_case(kern, 0x99, 64, n_alpha, 255, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
            }
            limit_case(kern, 0x55, 0, 1, 1, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
            limit_case(kern, 0xAA, 0, 1, 1, ends[e].a_s8, ends[e].zx, ends[e].a, MAX_K, t);
        }
        for (int64_t K = 1; K <= 9; K++)
            limit_case(kern, 0x96, 0, 1, 1, ends[e].a_s8, ends[e].zx, ends[e].a, K, t);
    }
}

/* The row's output stage against fgq_qrequant_ref: random dots, biases, REQ
 * pairs (multipliers 0..2^31 − 1, shifts −31..31), zero points and clamps,
 * one channel (c_step 0) or a channel per value (c_step 1), u8 and s8
 * outputs; every fifth value at an int32 limit, so the bias add saturates and
 * the left shift clamps. */
static void requant_cases(const fgq_qgemm_kernel *kern, rng *r, int count, tally *t)
{
    enum { CH = 16, N = 40 };
    int32_t bias[CH], req[2 * CH], dot[N];
    uint8_t got[N + 1], want[N + 1];
    const int32_t lim[] = { INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX };
    /* multipliers: 2^30 makes every odd acc an exact half in the doubling high multiply */
    const int32_t mlim[] = { 0, 1, 1 << 30, INT32_MAX - 1, INT32_MAX };
    for (int c = 0; c < count; c++) {
        for (int i = 0; i < CH; i++) {
            bias[i] = rin(r, 0, 4) == 0 ? lim[rin(r, 0, 6)] : (int32_t)rnd(r) >> rin(r, 0, 31);
            req[2 * i] = rin(r, 0, 4) == 0 ? mlim[rin(r, 0, 4)] : (int32_t)(rnd(r) >> 1);
            req[2 * i + 1] = rin(r, -31, 31);
        }
        for (int i = 0; i < N; i++)
            dot[i] = rin(r, 0, 4) == 0 ? lim[rin(r, 0, 6)] : (int32_t)rnd(r) >> rin(r, 0, 31);
        const int y_s8 = rin(r, 0, 1), has_bias = rin(r, 0, 3) != 0;
        const int32_t lo = y_s8 ? -128 : 0, hi = y_s8 ? 127 : 255;
        const int32_t zy = rin(r, lo, hi), qmin = rin(r, 0, 1) ? lo : rin(r, lo, hi);
        const int32_t qmax = rin(r, 0, 1) ? hi : rin(r, qmin, hi);
        const int64_t c_step = rin(r, 0, 1), n = c_step ? rin(r, 1, CH) : rin(r, 1, N);
        const int64_t c0 = c_step ? rin(r, 0, (int32_t)(CH - n)) : rin(r, 0, CH - 1);
        fgq_qweights qw = weights(kern->w_dtype, 4, CH, 0, 1, 1);
        qw.bias = has_bias ? bias : NULL;
        qw.req = req;
        got[n] = want[n] = 0xA5;
        kern->requant(&qw, c0, c_step, dot, n, zy, qmin, qmax, got, y_s8);
        fgq_qrequant_ref(&qw, c0, c_step, dot, n, zy, qmin, qmax, want, y_s8);
        t->cases++;
        for (int64_t i = 0; i <= n; i++)
            if (got[i] != want[i] && t->failures++ < 10)
                sh_printf("fgq-kernel-test: MISMATCH %s output stage: y[%ld] = %d, reference %d (dot %ld, "
                          "c0 %ld, c_step %ld, zy %ld, clamp %ld..%ld, s8 %d)\n",
                          kern->name, (long)i, got[i], want[i], (long)(i < n ? dot[i] : 0), (long)c0, (long)c_step,
                          (long)zy, (long)qmin, (long)qmax, y_s8);
    }
}

/* The depthwise row step of this build (its depthwise table's row) against
 * fgq_qconv_dwrow_ref: random n 1..80 (tails of every length), e within
 * ±128·255 (its ends included), u8 and s8 x, zero points anywhere,
 * accumulators starting anywhere in ±2^30 − 2^24 (room for the adds). */
static void dwrow_cases(fgq_qconv_dwrow_fn row, rng *r, int count, tally *t)
{
    enum { N = 80 };
    int32_t got[N + 1], want[N + 1];
    for (int c = 0; c < count; c++) {
        const int x_s8 = rin(r, 0, 1), n = rin(r, 0, 3) == 0 ? rin(r, 1, 7) : rin(r, 1, N);
        const int32_t zx = x_s8 ? rin(r, -128, 127) : rin(r, 0, 255);
        const int32_t e = rin(r, 0, 4) == 0 ? (rin(r, 0, 1) ? 32640 : -32640) : rin(r, -32640, 32640);
        for (int i = 0; i < n; i++) {
            g_a[i] = (uint8_t)rnd(r);
            got[i] = want[i] = rin(r, -(1 << 30) + (1 << 24), (1 << 30) - (1 << 24));
        }
        got[n] = want[n] = 0x5A5A5A5A;
        row(got, g_a, n, e, zx, x_s8);
        fgq_qconv_dwrow_ref(want, g_a, n, e, zx, x_s8);
        t->cases++;
        for (int i = 0; i <= n; i++)
            if (got[i] != want[i] && t->failures++ < 10)
                sh_printf("fgq-kernel-test: MISMATCH dwrow n=%d e=%ld zx=%ld s8=%d: acc[%d] = %ld, reference %ld\n", n,
                          (long)e, (long)zx, x_s8, i, (long)got[i], (long)want[i]);
    }
}

/* The all-taps step of this build's depthwise row against fgq_qconv_dwtaps_ref: 1..40 taps (past
 * the 32 the Arm step takes itself: those take the reference), runs of 1..80 (every tail), taps
 * that overlap or repeat, e within ±128·255 (its ends included), u8 and s8 x, zero points anywhere. */
static void dwtaps_cases(fgq_qconv_dwtaps_fn taps, rng *r, int count, tally *t)
{
    enum { N = 80, T = 40 };
    int32_t got[N + 1], want[N + 1], e[T];
    const uint8_t *src[T];
    for (int c = 0; c < count; c++) {
        const int x_s8 = rin(r, 0, 1), n = rin(r, 0, 3) == 0 ? rin(r, 1, 7) : rin(r, 1, N);
        const int32_t nt = rin(r, 0, 5) == 0 ? rin(r, 33, T) : rin(r, 1, 12);
        const int32_t zx = x_s8 ? rin(r, -128, 127) : rin(r, 0, 255);
        for (int i = 0; i < N + 64; i++)
            g_a[i] = (uint8_t)rnd(r);
        for (int32_t k = 0; k < nt; k++) {
            e[k] = rin(r, 0, 4) == 0 ? (rin(r, 0, 1) ? 32640 : -32640) : rin(r, -32640, 32640);
            src[k] = g_a + rin(r, 0, 63);
        }
        got[n] = want[n] = 0x5A5A5A5A;
        taps(got, src, e, nt, n, zx, x_s8);
        fgq_qconv_dwtaps_ref(want, src, e, nt, n, zx, x_s8);
        t->cases++;
        for (int i = 0; i <= n; i++)
            if (got[i] != want[i] && t->failures++ < 10)
                sh_printf("fgq-kernel-test: MISMATCH dwtaps n=%d taps=%ld zx=%ld s8=%d: acc[%d] = %ld, reference %ld\n",
                          n, (long)nt, (long)zx, x_s8, i, (long)got[i], (long)want[i]);
    }
}

static void index_width_cases(tally *t)
{
    static const int32_t iparams[FGQ_NODE_MAX_IPARAMS];
    static const float fparams[FGQ_NODE_MAX_FPARAMS];
    const fgq_node_view node = { .name = "n", .name_len = 1, .op = FGQ_OP_QCONV, .iparams = iparams, .fparams = fparams };
    /* dims, and whether the check must accept them */
    static const struct { int32_t rank; int64_t d[4]; int ok; } cases[] = {
        { 1, { (int64_t)1 << 26 }, 1 },            { 1, { ((int64_t)1 << 26) + 1 }, 0 },
        { 4, { 1, 64, 1024, 1024 }, 1 },           { 4, { 1, 65, 1024, 1024 }, 0 },
        { 2, { (int64_t)1 << 20, 1 << 7 }, 0 },    { 2, { (int64_t)1 << 40, 0 }, 0 },
        { 3, { 0, (int64_t)1 << 30, 1 }, 0 },      { 2, { 3, ((int64_t)1 << 25) }, 0 },
        { 3, { 0, 1 << 14, 1 << 13 }, 0 },         { 3, { 0, 1 << 13, 1 << 13 }, 1 }, /* empty: the rest counted */
    };
    t->cases++;
    if (sizeof(fgq_idx) != 4) {
        t->failures++;
        sh_printf("fgq-kernel-test: MISMATCH fgq_idx is %d bytes on this core, expected 4\n", (int)sizeof(fgq_idx));
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fgq_tensor_view v = { .dtype = FGQ_DT_U8, .rank = cases[i].rank, .data = NULL };
        for (int32_t d = 0; d < FGQ_MAX_DIMS; d++)
            v.dims[d] = d < cases[i].rank ? cases[i].d[d] : 0;
        fgq_error err;
        fgq_error_clear(&err);
        const int ok = fgq_ops_check_tensor(&node, &v, "input", 0, &err) == FGQ_OK;
        t->cases++;
        if (ok != cases[i].ok) {
            t->failures++;
            sh_printf("fgq-kernel-test: MISMATCH index width: case %d %s, expected %s\n", (int)i,
                      ok ? "accepted" : "refused", cases[i].ok ? "accepted" : "refused");
        }
    }
    sh_printf("fgq-kernel-test: index width: %d-bit fgq_idx, tensors up to %ld elements\n", (int)(8 * sizeof(fgq_idx)),
              (long)FGQ_OPS_MAX_NUMEL);
}

int main(void)
{
    tally t = { 0, 0 };
    int rows = 0;
    rng r = { 0x9E3779B9u };
    for (size_t i = 0;; i++) {
        const fgq_qgemm_kernel *kern = fgq_qgemm_kernel_at(i);
        if (kern == NULL)
            break;
        if (kern->dot == fgq_qgemm_dot_ref)
            continue;
        rows++;
        const int before = t.failures, cases = t.cases;
        random_cases(kern, &r, 3000, &t);
        limit_cases(kern, &t);
        if (kern->requant != fgq_qrequant_ref)
            requant_cases(kern, &r, 2000, &t);
        sh_printf("fgq-kernel-test: %s: %d cases, %d mismatches\n", kern->name, t.cases - cases,
                  t.failures - before);
    }
    for (size_t i = 0; fgq_qconv_dw_kernel_at(i) != NULL; i++) {
        const fgq_qconv_dw_kernel *dw = fgq_qconv_dw_kernel_at(i);
        rows++;
        const int before = t.failures, cases = t.cases;
        dwrow_cases(dw->row, &r, 3000, &t);
        if (dw->taps != NULL)
            dwtaps_cases(dw->taps, &r, 3000, &t);
        sh_printf("fgq-kernel-test: %s: %d cases, %d mismatches\n", dw->name, t.cases - cases, t.failures - before);
    }
    index_width_cases(&t);
    if (t.failures != 0) {
        sh_printf("fgq-kernel-test: FAILED: %d mismatches in %d cases\n", t.failures, t.cases);
        return 1;
    }
    sh_printf("fgq-kernel-test: ok rows=%d cases=%d\n", rows, t.cases);
    return 0;
}
