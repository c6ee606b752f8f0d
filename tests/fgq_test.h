/*
 * fgq_test.h — the minimal harness every C test uses: CHECK macros that count
 * and report failures with file:line, and a closing line "N passed, N failed".
 * Each test file defines its cases and calls FGQ_TEST_RUN from main().
 */
#ifndef FGQ_TEST_H
#define FGQ_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int passed, failed;
} fgq_test_ctx;

static fgq_test_ctx fgq_test_state_; /* test binaries only; never in the library */

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (cond) {                                                                     \
            fgq_test_state_.passed++;                                                   \
        } else {                                                                        \
            fgq_test_state_.failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        if (cond) {                                                                     \
            fgq_test_state_.passed++;                                                   \
        } else {                                                                        \
            fgq_test_state_.failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol) \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %.3g)", (double)(a), (double)(b), (double)(tol))

#define RUN(test_fn)                                                                    \
    do {                                                                                \
        int failed_before_ = fgq_test_state_.failed;                                    \
        test_fn();                                                                      \
        fprintf(stderr, "%-6s %s\n", fgq_test_state_.failed == failed_before_ ? "ok" : "FAIL", #test_fn); \
    } while (0)

#define FGQ_TEST_DONE()                                                                 \
    (printf("%d passed, %d failed\n", fgq_test_state_.passed, fgq_test_state_.failed), \
     fgq_test_state_.failed == 0 ? 0 : 1)

/* How many random cases a test runs: n, or FGQ_TEST_CASES_PERCENT percent of
 * it (at least 1) when that variable is set — the emulated runs
 * (scripts/test_aarch64.sh under qemu-aarch64) take a fraction. */
static inline int fgq_test_cases(int n)
{
    const char *p = getenv("FGQ_TEST_CASES_PERCENT");
    const int pct = p != NULL ? atoi(p) : 100;
    const long long m = (long long)n * (pct > 0 ? pct : 100) / 100;
    return m < 1 ? 1 : m > n ? n : (int)m;
}

/* xorshift64 (Marsaglia 2003): the tests' deterministic random numbers, each file with its own
 * state and seed. Returns the next state. */
static inline uint64_t fgq_test_xorshift64(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Exit status of a test that cannot run here (an instruction set this CPU lacks): CTest reports it
 * skipped (SKIP_RETURN_CODE in CMakeLists.txt), not passed. */
#define FGQ_TEST_SKIPPED 77

#endif /* FGQ_TEST_H */
