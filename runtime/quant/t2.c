/* t2.c — packing, validation and dequantization of 2-bit ternary codes (see t2.h). */
#include "quant/t2.h"

static uint8_t t2_code_of(int8_t t)
{
    return t == 1 ? FGQ_T2_POS : t == -1 ? FGQ_T2_NEG : FGQ_T2_ZERO;
}

void fgq_t2_pack(const int8_t *t, int64_t n, uint8_t *packed)
{
    int64_t nb = fgq_t2_row_bytes(n);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t byte = 0;
        for (int64_t i = 4 * b, s = 0; i < n && s < 8; i++, s += 2)
            byte |= (uint8_t)(t2_code_of(t[i]) << s);
        packed[b] = byte;
    }
}

void fgq_t2_unpack(const uint8_t *packed, int64_t n, int8_t *t)
{
    /* code -> value: 0 -> 0, 1 -> +1, 2 -> -1, 3 (invalid) -> 0 */
    static const int8_t value_of[4] = {0, 1, -1, 0};
    for (int64_t i = 0; i < n; i++)
        t[i] = value_of[(packed[i >> 2] >> (2 * (i & 3))) & 3];
}

fgq_status fgq_t2_validate(const uint8_t *packed, int64_t n, const char *what, fgq_error *err)
{
    const char *name = what ? what : "?";
    for (int64_t i = 0; i < n; i++) {
        if (((packed[i >> 2] >> (2 * (i & 3))) & 3) == FGQ_T2_INVALID)
            return fgq_fail(err, FGQ_ERR_FORMAT, "tensor '%s': invalid ternary code 3 at element %lld",
                            name, (long long)i);
    }
    if (n % 4 != 0) {
        uint8_t pad_mask = (uint8_t)(0xFFu << (2 * (n % 4)));
        if (packed[n / 4] & pad_mask)
            return fgq_fail(err, FGQ_ERR_FORMAT, "tensor '%s': nonzero padding bits after %lld codes",
                            name, (long long)n);
    }
    return FGQ_OK;
}

void fgq_t2_dequantize_row_f32(const uint8_t *codes, int64_t k, int64_t group, int n_alpha,
                               const uint8_t *mults, float row_scale, float *out)
{
    for (int64_t g0 = 0, gi = 0; g0 < k; g0 += group, gi++) {
        /* Integerised alphas: the dequantized weight is exactly what the
         * integer kernel computes (code sum times m_g, times s_row). */
        float a_pos = (float)mults[gi * n_alpha] * row_scale;
        float a_neg = (float)mults[gi * n_alpha + (n_alpha - 1)] * row_scale;
        float value_of[4] = {0.0f, a_pos, -a_neg, 0.0f};
        int64_t end = g0 + group < k ? g0 + group : k;
        for (int64_t i = g0; i < end; i++)
            out[i] = value_of[(codes[i >> 2] >> (2 * (i & 3))) & 3];
    }
}
