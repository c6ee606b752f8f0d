/* policy.c — policy strings and fgq_quantize_weights_f32 (see policy.h). */
#include "quant/format/policy.h"

#include "quant/format/metrics.h"
#include "quant/format/wformat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_VALID_FORMS \
    "valid: f32 | u8 | s8 | s8:gN | s4 | s4:gN | s3 | s3:gN | s2 | s2:gN | ternary:gN | " \
    "ternary:gN:twn|exact|asym | " \
    "ternary:twn|exact|asym, N an integer in 1..2147483647"

/* "gN" with N a plain decimal in 1..INT32_MAX (no sign, no spaces); the text
 * ends at end or at ':'. Returns the position after N, or NULL. */
static const char *parse_group(const char *s, int64_t *group)
{
    if (*s != 'g')
        return NULL;
    s++;
    if (*s < '0' || *s > '9')
        return NULL;
    int64_t n = 0;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (*s - '0');
        if (n > 2147483647)
            return NULL;
        s++;
    }
    if (n < 1 || (*s != '\0' && *s != ':'))
        return NULL;
    *group = n;
    return s;
}

static int parse_solver(const char *s, fgq_ternary_solver *solver)
{
    static const fgq_ternary_solver all[] = {FGQ_TERNARY_TWN, FGQ_TERNARY_EXACT, FGQ_TERNARY_ASYM};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, fgq_ternary_solver_name(all[i])) == 0) {
            *solver = all[i];
            return 1;
        }
    }
    return 0;
}

fgq_status fgq_policy_parse(const char *text, fgq_policy *out, fgq_error *err)
{
    fgq_policy p = {FGQ_WQ_F32, 0, FGQ_TERNARY_EXACT};
    const char *s = text ? text : "";
    int ok = 0;
    if (strcmp(s, "f32") == 0) {
        ok = 1;
    } else if (strcmp(s, "u8") == 0) {
        p.kind = FGQ_WQ_U8;
        ok = 1;
    } else if (s[0] == 's' && (s[1] == '8' || s[1] == '4' || s[1] == '3' || s[1] == '2') && s[2] == '\0') {
        p.kind = s[1] == '8' ? FGQ_WQ_S8 : s[1] == '4' ? FGQ_WQ_S4 : s[1] == '3' ? FGQ_WQ_S3 : FGQ_WQ_S2; /* per channel */
        ok = 1;
    } else if (s[0] == 's' && (s[1] == '8' || s[1] == '4' || s[1] == '3' || s[1] == '2') && s[2] == ':') {
        p.kind = s[1] == '8' ? FGQ_WQ_S8 : s[1] == '4' ? FGQ_WQ_S4 : s[1] == '3' ? FGQ_WQ_S3 : FGQ_WQ_S2;
        const char *end = parse_group(s + 3, &p.group);
        ok = end != NULL && *end == '\0';
    } else if (strncmp(s, "ternary:", 8) == 0) {
        p.kind = FGQ_WQ_T2;
        const char *rest = s + 8;
        if (*rest == 'g') {
            const char *end = parse_group(rest, &p.group);
            ok = end != NULL && (*end == '\0' || parse_solver(end + 1, &p.solver));
        } else {
            ok = parse_solver(rest, &p.solver);
        }
    }
    if (!ok)
        return fgq_fail(err, FGQ_ERR_VALUE, "bad weight policy '%s' (%s)", s, POLICY_VALID_FORMS);
    *out = p;
    return FGQ_OK;
}

int fgq_policy_format(const fgq_policy *p, char *buf, size_t len)
{
    switch (p->kind) {
    case FGQ_WQ_F32: return snprintf(buf, len, "f32");
    case FGQ_WQ_U8: return snprintf(buf, len, "u8");
    case FGQ_WQ_S8:
        if (p->group == 0)
            return snprintf(buf, len, "s8");
        return snprintf(buf, len, "s8:g%lld", (long long)p->group);
    case FGQ_WQ_S4:
        if (p->group == 0)
            return snprintf(buf, len, "s4");
        return snprintf(buf, len, "s4:g%lld", (long long)p->group);
    case FGQ_WQ_S3:
        if (p->group == 0)
            return snprintf(buf, len, "s3");
        return snprintf(buf, len, "s3:g%lld", (long long)p->group);
    case FGQ_WQ_S2:
        if (p->group == 0)
            return snprintf(buf, len, "s2");
        return snprintf(buf, len, "s2:g%lld", (long long)p->group);
    case FGQ_WQ_T2:
        if (p->group == 0)
            return snprintf(buf, len, "ternary:%s", fgq_ternary_solver_name(p->solver));
        return snprintf(buf, len, "ternary:g%lld:%s", (long long)p->group, fgq_ternary_solver_name(p->solver));
    case FGQ_WQ_COUNT: break;
    }
    return snprintf(buf, len, "?");
}

int64_t fgq_policy_group_for(const fgq_policy *p, int64_t k)
{
    return p->group <= 0 || p->group > k ? k : p->group;
}

fgq_status fgq_quantize_weights_f32(const fgq_policy *p, const float *w, int64_t rows, int64_t k,
                                    const char *tensor_name, fgq_weight_report *report,
                                    float *dequant_out, fgq_error *err)
{
    const char *name = tensor_name ? tensor_name : "?";
    fgq_wq_layout layout;
    fgq_status st = fgq_wq_layout_for(p, rows, k, &layout, err);
    if (st != FGQ_OK)
        return fgq_fail(err, st, "tensor '%s'", name); /* keeps the first, detailed message */
    int64_t n = rows * k;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(w[i]))
            return fgq_fail(err, FGQ_ERR_VALUE, "tensor '%s': weight at (row %lld, col %lld) is %s",
                            name, (long long)(i / k), (long long)(i % k), isnan(w[i]) ? "NaN" : "Inf");
    }
    fgq_packed_weights pw;
    st = fgq_quantize_packed_f32(p, w, rows, k, &pw, err);
    if (st != FGQ_OK) {
        fgq_packed_weights_free(&pw);
        return st;
    }
    float *dq = dequant_out;
    if (dq == NULL && report != NULL) {
        dq = malloc((size_t)n * sizeof(float) + 1);
        if (dq == NULL) {
            fgq_packed_weights_free(&pw);
            return fgq_fail(err, FGQ_ERR_NOMEM, "tensor '%s': no memory to measure the error", name);
        }
    }
    if (dq != NULL)
        fgq_dequantize_packed_f32(&pw, dq);
    if (report != NULL) {
        report->quant_bytes = pw.layout.total_bytes;
        report->float_bytes = 4 * n;
        report->bits_per_weight = fgq_bits_per_weight(pw.layout.total_bytes, n);
        report->mse = fgq_mse_f32(w, dq, n);
        report->sqnr_db = fgq_sqnr_db_f32(w, dq, n);
        report->zero_fraction = fgq_zero_fraction_f32(dq, n);
    }
    if (dq != dequant_out)
        free(dq);
    fgq_packed_weights_free(&pw);
    return FGQ_OK;
}
