/*
 * test_quant_policy.c — policy strings and the fgq_quantize_weights_f32 entry.
 *
 * Oracles: the grammar in policy.h (every valid form parses to the stated
 * struct and formats back canonically; listed malformed strings fail with
 * FGQ_ERR_VALUE and a message naming the valid forms); for the entry point,
 * a NaN/Inf placed at a known (row, col) is reported with the tensor name
 * and that position.
 */
#include "fgq_test.h"
#include "quant/format/policy.h"
#include "quant/format/wformat.h"

#include <math.h>
#include <string.h>

typedef struct {
    const char *text;
    fgq_wq_kind kind;
    int64_t group;
    fgq_ternary_solver solver;
    const char *canonical;
} valid_case;

static void test_parse_valid(void)
{
    static const valid_case cases[] = {
        {"f32", FGQ_WQ_F32, 0, FGQ_TERNARY_EXACT, "f32"},
        {"u8", FGQ_WQ_U8, 0, FGQ_TERNARY_EXACT, "u8"},
        {"s8", FGQ_WQ_S8, 0, FGQ_TERNARY_EXACT, "s8"},
        {"s8:g32", FGQ_WQ_S8, 32, FGQ_TERNARY_EXACT, "s8:g32"},
        {"s8:g1", FGQ_WQ_S8, 1, FGQ_TERNARY_EXACT, "s8:g1"},
        {"s4:g16", FGQ_WQ_S4, 16, FGQ_TERNARY_EXACT, "s4:g16"},
        {"ternary:g4", FGQ_WQ_T2, 4, FGQ_TERNARY_EXACT, "ternary:g4:exact"},
        {"ternary:g4:twn", FGQ_WQ_T2, 4, FGQ_TERNARY_TWN, "ternary:g4:twn"},
        {"ternary:g64:exact", FGQ_WQ_T2, 64, FGQ_TERNARY_EXACT, "ternary:g64:exact"},
        {"ternary:g7:asym", FGQ_WQ_T2, 7, FGQ_TERNARY_ASYM, "ternary:g7:asym"},
        {"ternary:twn", FGQ_WQ_T2, 0, FGQ_TERNARY_TWN, "ternary:twn"},
        {"ternary:exact", FGQ_WQ_T2, 0, FGQ_TERNARY_EXACT, "ternary:exact"},
        {"ternary:asym", FGQ_WQ_T2, 0, FGQ_TERNARY_ASYM, "ternary:asym"},
        {"s4", FGQ_WQ_S4, 0, FGQ_TERNARY_EXACT, "s4"},
        {"s3", FGQ_WQ_S3, 0, FGQ_TERNARY_EXACT, "s3"},
        {"s3:g64", FGQ_WQ_S3, 64, FGQ_TERNARY_EXACT, "s3:g64"},
        {"s2", FGQ_WQ_S2, 0, FGQ_TERNARY_EXACT, "s2"},
        {"s2:g16", FGQ_WQ_S2, 16, FGQ_TERNARY_EXACT, "s2:g16"},
        {"ternary:g2147483647", FGQ_WQ_T2, 2147483647, FGQ_TERNARY_EXACT, "ternary:g2147483647:exact"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fgq_policy p;
        fgq_error err = {0};
        fgq_status st = fgq_policy_parse(cases[i].text, &p, &err);
        CHECK_MSG(st == FGQ_OK, "'%s': %s", cases[i].text, err.msg);
        if (st != FGQ_OK)
            continue;
        CHECK_MSG(p.kind == cases[i].kind && p.group == cases[i].group && p.solver == cases[i].solver,
                  "'%s' parsed to kind %d group %lld solver %d", cases[i].text, (int)p.kind,
                  (long long)p.group, (int)p.solver);
        char buf[64];
        int len = fgq_policy_format(&p, buf, sizeof buf);
        CHECK_MSG(strcmp(buf, cases[i].canonical) == 0, "'%s' formats as '%s'", cases[i].text, buf);
        CHECK(len == (int)strlen(cases[i].canonical));
        /* canonical text parses back to the same policy */
        fgq_policy q;
        CHECK(fgq_policy_parse(buf, &q, &err) == FGQ_OK && q.kind == p.kind && q.group == p.group &&
              q.solver == p.solver);
    }
    /* truncation behaves like snprintf */
    fgq_policy p = {FGQ_WQ_T2, 4, FGQ_TERNARY_ASYM};
    char small[5];
    CHECK(fgq_policy_format(&p, small, sizeof small) == (int)strlen("ternary:g4:asym"));
    CHECK(strcmp(small, "tern") == 0);
}

static void test_parse_invalid(void)
{
    static const char *bad[] = {
        "", "ternary:g0", "s8:g", "s9", "ternary:g4:foo", "ternary:g-4", "s8:g-1", "s4:g99999999999",
        "ternary:g2147483648", "ternary", "s4:", "S4", "s3:", "s3:g0", "s1", "s2:", "s2:g", "u8:g4", "f32:g4", "S8", " s8", "s8 ", "s8:g4x",
        "s8:4", "ternary:g4:", "ternary:g4:exact:x", "ternary:foo", "ternary:g+4", "s8:g4:exact",
        "s8:g 4", "ternary:twn:g4", "int8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fgq_policy p = {FGQ_WQ_S8, 123, FGQ_TERNARY_ASYM};
        fgq_error err = {0};
        fgq_status st = fgq_policy_parse(bad[i], &p, &err);
        CHECK_MSG(st == FGQ_ERR_VALUE, "'%s' was accepted", bad[i]);
        CHECK_MSG(strstr(err.msg, "valid:") != NULL && strstr(err.msg, "ternary:gN") != NULL,
                  "'%s': message lacks the valid forms: %s", bad[i], err.msg);
        CHECK(p.group == 123); /* output untouched on failure */
    }
    fgq_error err = {0};
    fgq_policy p;
    CHECK(fgq_policy_parse(NULL, &p, &err) == FGQ_ERR_VALUE);
}

static void test_nan_inf_rejected(void)
{
    float w[3 * 5];
    for (int i = 0; i < 15; i++)
        w[i] = 0.1f * (float)(i - 7);
    static const char *policies[] = {"f32", "u8", "s8", "s4:g2", "ternary:g4:asym", "s3:g4", "s2:g4"};
    for (size_t pi = 0; pi < 7; pi++) {
        fgq_policy p;
        fgq_error err = {0};
        CHECK(fgq_policy_parse(policies[pi], &p, &err) == FGQ_OK);
        w[2 * 5 + 3] = NAN;
        w[2 * 5 + 4] = INFINITY;
        fgq_weight_report rep;
        CHECK(fgq_quantize_weights_f32(&p, w, 3, 5, "fc2.weight", &rep, NULL, &err) == FGQ_ERR_VALUE);
        CHECK_MSG(strstr(err.msg, "fc2.weight") != NULL && strstr(err.msg, "row 2") != NULL &&
                      strstr(err.msg, "col 3") != NULL && strstr(err.msg, "NaN") != NULL,
                  "%s", err.msg);
        w[2 * 5 + 3] = 0.0f;
        fgq_error_clear(&err);
        w[0] = -INFINITY;
        CHECK(fgq_quantize_weights_f32(&p, w, 3, 5, "fc2.weight", NULL, NULL, &err) == FGQ_ERR_VALUE);
        CHECK_MSG(strstr(err.msg, "row 0, col 0") != NULL && strstr(err.msg, "Inf") != NULL, "%s", err.msg);
        w[0] = 0.0f;
        w[2 * 5 + 4] = 0.0f;
        fgq_error_clear(&err);
        CHECK(fgq_quantize_weights_f32(&p, w, 3, 5, "fc2.weight", &rep, NULL, &err) == FGQ_OK);
    }
}

static void test_bad_shapes(void)
{
    fgq_policy p = {FGQ_WQ_S8, 0, FGQ_TERNARY_EXACT};
    float w[1] = {1.0f};
    fgq_error err = {0};
    CHECK(fgq_quantize_weights_f32(&p, w, 1, 0, "x", NULL, NULL, &err) == FGQ_ERR_SHAPE);
    fgq_error_clear(&err);
    CHECK(fgq_quantize_weights_f32(&p, w, -1, 1, "x", NULL, NULL, &err) == FGQ_ERR_SHAPE);
    fgq_error_clear(&err);
    CHECK(fgq_quantize_weights_f32(&p, w, (int64_t)1 << 40, (int64_t)1 << 40, "x", NULL, NULL, &err) ==
          FGQ_ERR_SHAPE);
    /* zero rows is an empty tensor, not an error */
    fgq_error_clear(&err);
    fgq_weight_report rep;
    CHECK(fgq_quantize_weights_f32(&p, w, 0, 4, "x", &rep, NULL, &err) == FGQ_OK);
    CHECK(rep.quant_bytes == 0 && rep.float_bytes == 0);
}

/* The traits table has one row per kind, each naming its own kind. */
static void test_traits_table(void)
{
    for (int k = 0; k < FGQ_WQ_COUNT; k++) {
        const fgq_wq_traits *t = fgq_wq_traits_of((fgq_wq_kind)k);
        CHECK(t != NULL && (int)t->kind == k && t->layout && t->quantize_rows && t->dequantize_rows);
    }
    CHECK(fgq_wq_traits_of(FGQ_WQ_COUNT) == NULL);
    CHECK(fgq_wq_traits_of((fgq_wq_kind)-1) == NULL);
}

int main(void)
{
    RUN(test_parse_valid);
    RUN(test_parse_invalid);
    RUN(test_nan_inf_rejected);
    RUN(test_bad_shapes);
    RUN(test_traits_table);
    return FGQ_TEST_DONE();
}
