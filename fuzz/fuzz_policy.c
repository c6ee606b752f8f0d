/* fuzz_policy.c — libFuzzer target for the small text parsers behind the
 * quantize flags: weight policies (tools/quant/format/policy.c: "s8",
 * "s4:g32", "ternary:g4:asym", ...), budget candidate lists ("s8,s4:g32"),
 * activation kinds, observers, bias correction, weight solvers and sample
 * ranges ("A:B", tools/data/data.c).
 *
 * The input is one string (cut at the first NUL). Beyond "no crash, every
 * failure has a message", a policy that parses must print back to text that
 * parses to the same policy (fgq_policy_format is what the model's recipe and
 * the tables show), and must quantize a small weight matrix whose rows are not
 * a multiple of common group sizes. */
#include "data/data.h"
#include "quant/format/policy.h"
#include "quant/quantize.h"
#include "quant/search/budget.h"
#include "quant/stats/calib.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_msg(fgq_status st, const fgq_error *err)
{
    if (st != FGQ_OK && err->msg[0] == '\0')
        abort(); /* every failure must carry a message */
}

static void check_policy(const fgq_policy *p)
{
    char text[64];
    int need = fgq_policy_format(p, text, sizeof text);
    if (need < 0 || (size_t)need >= sizeof text)
        abort();
    fgq_policy back;
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_policy_parse(text, &back, &err) != FGQ_OK || back.kind != p->kind || back.group != p->group ||
        back.solver != p->solver)
        abort(); /* the printed form must parse to the same policy */
    enum { ROWS = 3, K = 37 };
    float w[ROWS * K], dq[ROWS * K];
    for (int i = 0; i < ROWS * K; i++)
        w[i] = (float)((i * 7919) % 61 - 30) / 16.0f;
    fgq_weight_report rep;
    fgq_status st = fgq_quantize_weights_f32(p, w, ROWS, K, "w", &rep, dq, &err);
    check_msg(st, &err);
    if (st == FGQ_OK && fgq_policy_group_for(p, K) < 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';

    fgq_error err;
    fgq_error_clear(&err);
    fgq_policy p;
    fgq_status st = fgq_policy_parse(s, &p, &err);
    check_msg(st, &err);
    if (st == FGQ_OK)
        check_policy(&p);

    fgq_budget b;
    memset(&b, 0, sizeof b);
    fgq_error_clear(&err);
    st = fgq_budget_parse_candidates(s, &b, &err);
    check_msg(st, &err);
    if (st == FGQ_OK) {
        if (b.n_candidates < 1 || b.n_candidates > FGQ_BUDGET_MAX_CANDIDATES)
            abort();
        for (int32_t i = 0; i < b.n_candidates; i++)
            check_policy(&b.candidates[i]);
    }

    fgq_act_kind ak;
    fgq_observer ob;
    fgq_bias_correction bc;
    fgq_weight_solver ws;
    fgq_error_clear(&err);
    check_msg(fgq_act_kind_parse(s, &ak, &err), &err);
    fgq_error_clear(&err);
    check_msg(fgq_observer_parse(s, &ob, &err), &err);
    fgq_error_clear(&err);
    check_msg(fgq_bias_correction_parse(s, &bc, &err), &err);
    fgq_error_clear(&err);
    check_msg(fgq_weight_solver_parse(s, &ws, &err), &err);

    static const int64_t counts[] = {0, 1, 10, INT64_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        int64_t a = -1, z = -1;
        fgq_error_clear(&err);
        st = fgq_data_parse_range(s, counts[i], &a, &z, &err);
        check_msg(st, &err);
        if (st == FGQ_OK && !(0 <= a && a < z && z <= counts[i]))
            abort(); /* the contract: 0 <= A < B <= N */
    }
    free(s);
    return 0;
}
