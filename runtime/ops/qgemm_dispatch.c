/*
 * qgemm_dispatch.c — the const kernel table of QGEMM, the CPU-feature query,
 * and the reference microkernel.
 */
#include "qgemm_dispatch.h"
#include "op_select.h" /* a firmware build links only the rows of its model's weight types */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

void fgq_qgemm_dot_ref(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                       int32_t *dot)
{
    for (int64_t i = 0; i < n; i++)
        dot[i] = fgq_qweights_dot(qw, j0 + i, a, a_s8, zx);
}

#if defined(__x86_64__) || defined(__i386__)
/* The x86 feature bits, from one query of each: cpuid leaf 1: FMA (ecx 12),
 * OSXSAVE (ecx 27), AVX (ecx 28); XCR0 (xgetbv): bits 1, 2 (XMM, YMM state)
 * and 5..7 (opmask, ZMM state); leaf 7: AVX2 (ebx 5), AVX512F (ebx 16),
 * AVX512BW (ebx 30), AVX512VL (ebx 31), AVX512_VBMI (ecx 1), AVX512_VNNI
 * (ecx 11). Header-only (<cpuid.h> and one xgetbv): no libgcc __cpu_model,
 * so the freestanding check still holds. cpuid traps to the hypervisor in a
 * VM (microseconds each): callers ask once (fgq_model_load). */
static uint32_t x86_features(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    if (!(ecx & (1u << 12)) || !(ecx & (1u << 27)) || !(ecx & (1u << 28)))
        return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 6u) != 6u || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(ebx & (1u << 5)))
        return 0;
    uint32_t f = FGQ_CPU_AVX2;
    if ((xlo & 0xE6u) == 0xE6u && (ebx & (1u << 16)) != 0)
        f |= FGQ_CPU_AVX512F;
    const unsigned need_b = (1u << 16) | (1u << 30) | (1u << 31);
    if ((xlo & 0xE6u) == 0xE6u && (ebx & need_b) == need_b && (ecx & (1u << 11)) != 0) {
        f |= FGQ_CPU_AVX512VNNI;
        if (ecx & (1u << 1))
            f |= FGQ_CPU_AVX512VBMI;
    }
    return f;
}

#if defined(__x86_64__) /* the AMX kernels are 64-bit only */
/* AMX: cpuid leaf 7 edx bits 24 (AMX-TILE) and 25 (AMX-INT8), XCR0 bits 17 (XTILECFG) and 18
 * (XTILEDATA), on top of the AVX-512 VNNI features. Whether Linux lets this process use the tiles
 * is a system call away (arch_prctl): the host asks, fgq_model_grant_cpu records its answer. */
static uint32_t x86_grantable(void)
{
    unsigned eax, ebx, ecx, edx;
    if ((x86_features() & FGQ_CPU_AVX512VNNI) == 0 || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    if ((edx & (3u << 24)) != (3u << 24))
        return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    return (xlo & (3u << 17)) == (3u << 17) ? FGQ_CPU_AMXINT8 : 0;
}
#endif

int fgq_cpu_has_avx2(void)
{
    return (x86_features() & FGQ_CPU_AVX2) != 0;
}

int fgq_cpu_has_avx512vnni(void)
{
    return (x86_features() & FGQ_CPU_AVX512VNNI) != 0;
}

int fgq_cpu_has_avx512vbmi(void)
{
    return (x86_features() & FGQ_CPU_AVX512VBMI) != 0;
}

#endif

uint32_t fgq_cpu_grantable(void)
{
#if defined(__x86_64__)
    return x86_grantable();
#else
    return 0;
#endif
}

int fgq_qgemm_vnni_fits(const fgq_qweights *qw)
{
    return !qw->has_gs || (qw->n_alpha == 1 && (qw->group % 32 == 0 || qw->group >= qw->k));
}

#if defined(__aarch64__)
/* The AArch64 feature bits. Linux: the kernel's HWCAP words (bits of
 * <asm/hwcap.h>, spelled out for older headers): AT_HWCAP bit 20 ASIMDDP,
 * AT_HWCAP2 bit 13 I8MM — the kernel reports only what it lets user space
 * run. Elsewhere (bare metal, other systems): what the compiler was told the
 * core has. getauxval is glibc's and musl's; the Cortex-M and x86 builds
 * never see it. */
static uint32_t aarch64_features(void)
{
    uint32_t f = 0;
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & (1ul << 20))
        f |= FGQ_CPU_ASIMDDP;
    if (hw2 & (1ul << 13))
        f |= FGQ_CPU_I8MM;
#else
#if defined(__ARM_FEATURE_DOTPROD)
    f |= FGQ_CPU_ASIMDDP;
#endif
#if defined(__ARM_FEATURE_MATMUL_INT8)
    f |= FGQ_CPU_I8MM;
#endif
#endif
    return f;
}
#endif

uint32_t fgq_cpu_features(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return FGQ_CPU_QUERIED | x86_features();
#elif defined(__aarch64__)
    return FGQ_CPU_QUERIED | aarch64_features();
#else
    return FGQ_CPU_QUERIED;
#endif
}

void fgq_qconv_dwrow_ref(int32_t *acc, const uint8_t *x, int64_t n, int32_t e, int32_t zx, int x_s8)
{
    for (int64_t i = 0; i < n; i++)
        acc[i] += e * ((x_s8 ? (int32_t)(int8_t)x[i] : (int32_t)x[i]) - zx);
}

void fgq_qconv_dwtaps_ref(int32_t *acc, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n,
                          int32_t zx, int x_s8)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t s = 0;
        for (int32_t t = 0; t < nt; t++)
            s += e[t] * ((x_s8 ? (int32_t)(int8_t)src[t][i] : (int32_t)src[t][i]) - zx);
        acc[i] = s;
    }
}

int fgq_qconv_dwtaps_q_ref(uint8_t *y, const uint8_t *const *src, const int32_t *e, int32_t nt, int64_t n, int32_t zx,
                           int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin, int32_t qmax,
                           int y_s8)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t s = 0;
        for (int32_t t = 0; t < nt; t++)
            s += e[t] * ((x_s8 ? (int32_t)(int8_t)src[t][i] : (int32_t)src[t][i]) - zx);
        fgq_q_store(y, i, y_s8, fgq_qweights_output(qw, c, s, zy), qmin, qmax);
    }
    return 1;
}

int fgq_qconv_dwplane_ref(uint8_t *y, const uint8_t *x, const fgq_qconv_dwplane_geom *g, const int32_t *e, int32_t zx,
                          int x_s8, const fgq_qweights *qw, int64_t c, int32_t zy, int32_t qmin, int32_t qmax,
                          int y_s8)
{
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int32_t s = 0;
            for (int64_t kh = 0; kh < g->KH; kh++) {
                const int64_t ih = oh * g->sh - g->pt + kh * g->dh;
                if (ih < 0 || ih >= g->IH)
                    continue;
                for (int64_t kw = 0; kw < g->KW; kw++) {
                    const int64_t iw = ow * g->sw - g->pl + kw * g->dw;
                    if (iw >= 0 && iw < g->IW)
                        s += e[kh * g->KW + kw] * (fgq_q_load(x, ih * g->IW + iw, x_s8) - zx);
                }
            }
            fgq_q_store(y, oh * g->OW + ow, y_s8, fgq_qweights_output(qw, c, s, zy), qmin, qmax);
        }
    return 1;
}

int64_t fgq_qconv_dwflat_layout(const fgq_qconv_dwplane_geom *g, fgq_qconv_dwflat_shape *s)
{
    const int64_t OW = g->OW, IW = g->IW, sw = g->sw, sh = g->sh, G = (g->KW + 3) / 4;
    if (g->dh != 1 || g->dw != 1 || g->KH < 1 || g->KH > FGQ_DWFLAT_MAX_KH || g->KW < 1 || G > FGQ_DWFLAT_MAX_G ||
        sw < 1 || sh < 1 || OW < 1 || g->OH < 1 || g->pl < 0 || g->pl > FGQ_DWFLAT_FRONT)
        return 0;
    int64_t a = 16, b = OW; /* gcd(16, OW): the columns' pattern repeats every OW / gcd steps of 16 */
    while (b != 0) {
        const int64_t r = a % b;
        a = b;
        b = r;
    }
    int64_t period = OW / a, by_rows = period > FGQ_DWFLAT_MAX_PERIOD;
    /* flat: every lane's windows inside the step's 64-byte load, rel_j + 4G <= 64 */
    /* (fgq_qconv_dwflat_lane's rel, stepped without its divisions: the op sizes its scratch with
     * this at every run, and a period of 15 took ~3 us with them) */
    for (int64_t ph = 0, ow0 = 0; ph < period && !by_rows; ph++) {
        for (int64_t j = 0, ow = ow0, d = 0; j < 16; j++) { /* lane j: output column ow, d rows on */
            const int64_t rel = d * sh * IW + (ow - ow0) * sw;
            if (rel < 0 || rel + 4 * G > 64)
                by_rows = 1;
            if (++ow == OW) {
                ow = 0;
                d++;
            }
        }
        for (ow0 += 16; ow0 >= OW;)
            ow0 -= OW;
    }
    if (by_rows) { /* row-aligned: 16 outputs of a row, rel_j = j·sw */
        period = (OW + 15) / 16;
        if (15 * sw + 4 * G > 64 || period > FGQ_DWFLAT_MAX_PERIOD)
            return 0;
    }
    /* the copy's rows: up to the last step's lanes past the plane (flat: oh <= (16·steps − 1) /
     * OW; row-aligned: OH − 1); the last load ends at most at row rows − 1, column (OW − 1)·sw −
     * pl, plus 64 bytes */
    const int64_t last_oh = by_rows ? g->OH - 1 : (16 * ((g->OH * OW + 15) / 16) - 1) / OW;
    const int64_t r = last_oh * sh + g->KH;
    const int64_t end = FGQ_DWFLAT_FRONT + (r - 1) * IW + (OW - 1) * sw - g->pl + 64;
    const int64_t whole = FGQ_DWFLAT_FRONT + r * IW;
    const int64_t copy = ((end > whole ? end : whole) + 63) & ~(int64_t)63;
    if (s != NULL) {
        s->rows = r;
        s->copy_bytes = copy;
        s->period = period;
        s->by_rows = (int32_t)by_rows;
    }
    return copy + period * (G * 72 + 4); /* per step of the period: gathers, masks, the load's start */
}

/* The depthwise rows: first usable wins. The x86 rows ask the CPU; the Cortex-M DSP row is
 * chosen at compile time. No row under REF (QCONV then takes its GEMM or reference path). */
static const fgq_qconv_dw_kernel qconv_dw_kernels[] = {
#if defined(__x86_64__) || defined(__i386__)
    {"qconv_dw_u8__avx512vbmi", FGQ_CPU_AVX2 | FGQ_CPU_AVX512VNNI | FGQ_CPU_AVX512VBMI, fgq_qconv_dwrow__avx2,
     fgq_qconv_dwtaps__avx512vnni, fgq_qconv_dwtaps_q__avx512vbmi, fgq_qconv_dwplane_prep__avx512vbmi,
     fgq_qconv_dwplane__avx512vbmi},
    {"qconv_dw_u8__avx512vnni", FGQ_CPU_AVX2 | FGQ_CPU_AVX512VNNI, fgq_qconv_dwrow__avx2, fgq_qconv_dwtaps__avx512vnni,
     fgq_qconv_dwtaps_q__avx512vnni, NULL, NULL},
    {"qconv_dw_u8__avx2", FGQ_CPU_AVX2, fgq_qconv_dwrow__avx2, fgq_qconv_dwtaps__avx2, NULL, NULL, NULL},
#elif defined(__ARM_FEATURE_DSP)
    {"qconv_dw_u8__armdsp", 0, fgq_qconv_dwrow__armdsp, fgq_qconv_dwtaps__armdsp, NULL, NULL, NULL},
#endif
    {NULL, 0, NULL, NULL, NULL, NULL, NULL},
};

const fgq_qconv_dw_kernel *fgq_qconv_dw_kernel_at(size_t i)
{
    return i + 1 < sizeof qconv_dw_kernels / sizeof qconv_dw_kernels[0] ? &qconv_dw_kernels[i] : NULL;
}

const fgq_qconv_dw_kernel *fgq_qconv_dw_kernel_select(int32_t kernels, uint32_t cpu)
{
    if (kernels == FGQ_KERNELS_REF)
        return NULL;
    for (size_t i = 0; fgq_qconv_dw_kernel_at(i) != NULL; i++)
        if ((qconv_dw_kernels[i].needs & cpu) == qconv_dw_kernels[i].needs)
            return &qconv_dw_kernels[i];
    return NULL;
}

/* QCONV_DYN's output stage: fgq_qconv_fout's rule, the product and the sum separate statements (the
 * build keeps them unfused: -ffp-contract=off), then the fused activation. */
void fgq_qconv_fout_rows_ref(const fgq_qconv_fout *fo, int64_t c0, int64_t nc, const int32_t *dot, int64_t ld_dot,
                             int64_t n, float *y, int64_t ld_y)
{
    for (fgq_idx j = 0; j < nc; j++) {
        const float s = fo->s_x * fo->s_w[c0 + j];
        const int32_t *d = dot + j * ld_dot;
        float *yj = y + j * ld_y;
        if (fo->bias != NULL) {
            const float b = fo->bias[c0 + j];
            for (fgq_idx i = 0; i < n; i++) {
                const float v = (float)d[i] * s;
                yj[i] = v + b;
            }
        } else
            for (fgq_idx i = 0; i < n; i++)
                yj[i] = (float)d[i] * s;
        fgq_ops_act_apply_f32(yj, n, fo->act, fo->act0, fo->act1);
    }
}

fgq_qconv_fout_fn fgq_qconv_fout_select(int32_t kernels, uint32_t cpu)
{
#if defined(__x86_64__) || defined(__i386__)
    if (kernels != FGQ_KERNELS_REF && (cpu & FGQ_CPU_AVX512F) != 0)
        return fgq_qconv_fout_rows__avx512;
#else
    (void)kernels;
    (void)cpu;
#endif
    return fgq_qconv_fout_rows_ref;
}

void fgq_qgemm_fout_row_ref(const fgq_qconv_fout *fo, int64_t j0, int64_t n, const int32_t *dot, float *y)
{
    for (int64_t i = 0; i < n; i++) { /* the product and the sum separate statements: -ffp-contract=off */
        const float s = fo->s_x * fo->s_w[j0 + i];
        const float v = (float)dot[i] * s;
        y[i] = fo->bias != NULL ? v + fo->bias[j0 + i] : v;
    }
    fgq_ops_act_apply_f32(y, n, fo->act, fo->act0, fo->act1);
}

fgq_qgemm_fout_fn fgq_qgemm_fout_select(int32_t kernels, uint32_t cpu)
{
#if defined(__x86_64__) || defined(__i386__)
    if (kernels != FGQ_KERNELS_REF && (cpu & FGQ_CPU_AVX512F) != 0)
        return fgq_qgemm_fout_row__avx512;
#else
    (void)kernels;
    (void)cpu;
#endif
    return fgq_qgemm_fout_row_ref;
}

void fgq_qrequant_ref(const fgq_qweights *qw, int64_t c0, int64_t c_step, const int32_t *dot, int64_t n, int32_t zy,
                      int32_t qmin, int32_t qmax, void *y, int y_s8)
{
    for (int64_t i = 0; i < n; i++)
        fgq_q_store(y, i, y_s8, fgq_qweights_output(qw, c0 + i * c_step, dot[i], zy), qmin, qmax);
}

void fgq_qgemm_kernel_requant_rows(const fgq_qgemm_kernel *kern, const fgq_qweights *qw, int64_t c0, int64_t nc,
                                   const int32_t *dot, int64_t ld_dot, int64_t n, int32_t zy, int32_t qmin,
                                   int32_t qmax, uint8_t *y, int64_t ld_y, int y_s8)
{
    if (kern->requant_rows != NULL) {
        kern->requant_rows(qw, c0, nc, dot, ld_dot, n, zy, qmin, qmax, y, ld_y, y_s8);
        return;
    }
    for (int64_t j = 0; j < nc; j++)
        kern->requant(qw, c0 + j, 0, dot + j * ld_dot, n, zy, qmin, qmax, y + j * ld_y, y_s8);
}

/* First usable, fitting row for the dtype wins; the reference rows come last. */
static const fgq_qgemm_kernel qgemm_kernels[] = {
#if defined(__x86_64__) || defined(__i386__)
    { "qgemm_u8s8_4x4c32__avx512vnni", FGQ_DT_S8, FGQ_CPU_AVX512VNNI, fgq_qgemm_vnni_fits,
      fgq_qgemm_u8s8_4x4c32__avx512vnni_dot, fgq_qgemm_u8s8_4x4c32__avx512vnni,
      fgq_qrequant__avx512, fgq_qrequant_rows__avx512 },
    { "qgemm_u8t2_1x4c64__avx512vbmi", FGQ_DT_T2, FGQ_CPU_AVX512VNNI | FGQ_CPU_AVX512VBMI, fgq_qgemm_vbmi_fits,
      fgq_qgemm_u8t2_1x4c64__avx512vbmi, fgq_qgemm_u8t2_1x4c64__avx512vbmi_gemm,
      fgq_qrequant__avx512, fgq_qrequant_rows__avx512 },
    { "qgemm_u8t2_4x4c32__avx512vnni", FGQ_DT_T2, FGQ_CPU_AVX512VNNI, fgq_qgemm_vnni_fits,
      fgq_qgemm_u8t2_4x4c32__avx512vnni_dot, fgq_qgemm_u8t2_4x4c32__avx512vnni,
      fgq_qrequant__avx512, fgq_qrequant_rows__avx512 },
    { "qgemm_u8s4_4x4c32__avx512vnni", FGQ_DT_S4, FGQ_CPU_AVX512VNNI, fgq_qgemm_vnni_fits,
      fgq_qgemm_u8s4_4x4c32__avx512vnni_dot, fgq_qgemm_u8s4_4x4c32__avx512vnni,
      fgq_qrequant__avx512, fgq_qrequant_rows__avx512 },
    { "qgemm_u8s3_4x4c32__avx512vnni", FGQ_DT_S3, FGQ_CPU_AVX512VNNI, fgq_qgemm_vnni_fits,
      fgq_qgemm_u8s3_4x4c32__avx512vnni_dot, fgq_qgemm_u8s3_4x4c32__avx512vnni,
      fgq_qrequant__avx512, fgq_qrequant_rows__avx512 },
    { "qgemm_u8s2_4x4c32__avx512vnni", FGQ_DT_S2, FGQ_CPU_AVX512VNNI, fgq_qgemm_vnni_fits,
      fgq_qgemm_u8s2_4x4c32__avx512vnni_dot, fgq_qgemm_u8s2_4x4c32__avx512vnni,
      fgq_qrequant__avx512, fgq_qrequant_rows__avx512 },
    { "qgemm_u8s8_1x4c16__avx2", FGQ_DT_S8, FGQ_CPU_AVX2, NULL, fgq_qgemm_u8s8_1x4c16__avx2, NULL,
      fgq_qrequant__avx2, NULL },
    { "qgemm_u8t2_1x4c16__avx2", FGQ_DT_T2, FGQ_CPU_AVX2, NULL, fgq_qgemm_u8t2_1x4c16__avx2, NULL,
      fgq_qrequant__avx2, NULL },
    { "qgemm_u8s4_1x4c16__avx2", FGQ_DT_S4, FGQ_CPU_AVX2, fgq_qgemm_s4_fits, fgq_qgemm_u8s4_1x4c16__avx2, NULL,
      fgq_qrequant__avx2, NULL },
    { "qgemm_u8s3_1x4c16__avx2", FGQ_DT_S3, FGQ_CPU_AVX2, fgq_qgemm_s3_fits, fgq_qgemm_u8s3_1x4c16__avx2, NULL,
      fgq_qrequant__avx2, NULL },
    { "qgemm_u8s2_1x4c16__avx2", FGQ_DT_S2, FGQ_CPU_AVX2, fgq_qgemm_s2_fits, fgq_qgemm_u8s2_1x4c16__avx2, NULL,
      fgq_qrequant__avx2, NULL },
#endif
#if defined(FGQ_NEON_I8MM_ROWS) /* chosen by the HWCAP bits: qgemm_dispatch.h says which compilers */
    { "qgemm_u8s8_2x4c8__neoni8mm", FGQ_DT_S8, FGQ_CPU_ASIMDDP | FGQ_CPU_I8MM, fgq_qgemm_i8mm_fits,
      fgq_qgemm_u8s8_1x4c16__neondot, fgq_qgemm_u8s8_2x4c8__neoni8mm, fgq_qrequant_ref, NULL },
    { "qgemm_u8t2_2x4c8__neoni8mm", FGQ_DT_T2, FGQ_CPU_ASIMDDP | FGQ_CPU_I8MM, fgq_qgemm_i8mm_fits,
      fgq_qgemm_u8t2_1x4c16__neondot, fgq_qgemm_u8t2_2x4c8__neoni8mm, fgq_qrequant_ref, NULL },
#endif
#if defined(FGQ_NEON_DOT_ROWS)
    { "qgemm_u8s8_1x4c16__neondot", FGQ_DT_S8, FGQ_CPU_ASIMDDP, NULL, fgq_qgemm_u8s8_1x4c16__neondot, NULL,
      fgq_qrequant_ref, NULL },
    { "qgemm_u8t2_1x4c16__neondot", FGQ_DT_T2, FGQ_CPU_ASIMDDP, NULL, fgq_qgemm_u8t2_1x4c16__neondot, NULL,
      fgq_qrequant_ref, NULL },
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && FGQ_QW_ON_S8 /* Helium: before the DSP rows */
    { "qgemm_u8s8_1x4c16__mve", FGQ_DT_S8, 0, fgq_qgemm_mve_fits, fgq_qgemm_u8s8_1x4c16__mve, NULL,
      fgq_qrequant__armdsp, NULL },
#endif
#if defined(__ARM_FEATURE_DSP) /* chosen at compile time: needs no CPU query */
#if FGQ_QW_ON_S8
    { "qgemm_u8s8_1x2c4__armdsp", FGQ_DT_S8, 0, NULL, fgq_qgemm_u8s8_1x2c4__armdsp,
      fgq_qgemm_u8s8_2xmc4__armdsp_gemm, fgq_qrequant__armdsp, NULL },
#endif
#if FGQ_QW_ON_T2
    { "qgemm_u8t2_1x2c4__armdsp", FGQ_DT_T2, 0, NULL, fgq_qgemm_u8t2_1x2c4__armdsp,
      fgq_qgemm_u8t2_2xmc4__armdsp_gemm, fgq_qrequant__armdsp, NULL },
#endif
#endif
    { "ref", FGQ_DT_S8, 0, NULL, fgq_qgemm_dot_ref, NULL, fgq_qrequant_ref, NULL },
    { "ref", FGQ_DT_S4, 0, NULL, fgq_qgemm_dot_ref, NULL, fgq_qrequant_ref, NULL },
    { "ref", FGQ_DT_S3, 0, NULL, fgq_qgemm_dot_ref, NULL, fgq_qrequant_ref, NULL },
    { "ref", FGQ_DT_S2, 0, NULL, fgq_qgemm_dot_ref, NULL, fgq_qrequant_ref, NULL },
    { "ref", FGQ_DT_T2, 0, NULL, fgq_qgemm_dot_ref, NULL, fgq_qrequant_ref, NULL },
};

static const fgq_qgemm_kernel qgemm_ref_any = { "ref", FGQ_DT_S8, 0, NULL, fgq_qgemm_dot_ref, NULL,
                                                fgq_qrequant_ref, NULL };

int fgq_qgemm_kernel_usable(const fgq_qgemm_kernel *k, uint32_t cpu)
{
    return (k->needs & cpu) == k->needs;
}

const fgq_qgemm_kernel *fgq_qgemm_kernel_select(fgq_dtype w_dtype, int32_t kernels, uint32_t cpu,
                                               const fgq_qweights *qw)
{
    if (kernels == FGQ_KERNELS_REF)
        return &qgemm_ref_any;
    for (size_t i = 0; i < sizeof qgemm_kernels / sizeof qgemm_kernels[0]; i++) {
        const fgq_qgemm_kernel *k = &qgemm_kernels[i];
        if (k->w_dtype == w_dtype && fgq_qgemm_kernel_usable(k, cpu) && (qw == NULL || k->fits == NULL || k->fits(qw)))
            return k;
    }
    return &qgemm_ref_any;
}

const fgq_qgemm_kernel *fgq_qgemm_kernel_at(size_t i)
{
    return i < sizeof qgemm_kernels / sizeof qgemm_kernels[0] ? &qgemm_kernels[i] : NULL;
}

void fgq_qgemm_kernel_gemm(const fgq_qgemm_kernel *kern, const fgq_qweights *qw, int64_t j0, int64_t n,
                           const uint8_t *a, int64_t lda, int64_t m, int a_s8, int32_t zx, int32_t *dot, int64_t ldd,
                           uint8_t *work)
{
    if (kern->gemm != NULL) {
        kern->gemm(qw, j0, n, a, lda, m, a_s8, zx, dot, ldd, work);
        return;
    }
    for (int64_t r = 0; r < m; r++)
        kern->dot(qw, j0, n, a + r * lda, a_s8, zx, dot + r * ldd);
}

int32_t fgq_node_kernels(const fgq_node_view *node)
{
    return node != NULL && node->par != NULL ? node->par->kernels : FGQ_KERNELS_AUTO;
}

uint32_t fgq_node_cpu(const fgq_node_view *node)
{
    return node != NULL && node->cpu != 0 ? node->cpu : fgq_cpu_features();
}

const char *fgq_qgemm_kernel_name(const fgq_node_view *node, fgq_dtype w_dtype)
{
    return fgq_qgemm_kernel_select(w_dtype, fgq_node_kernels(node), fgq_node_cpu(node), NULL)->name;
}

#if defined(__x86_64__) || defined(__i386__)
/* qconv_u8s8_4x32c4 reads W itself: no decoded rows */
static void qconv_s8_run(const fgq_qconv_src *s, const fgq_qweights *qw, int64_t j0, int64_t nb, int64_t p0, int64_t np,
                         int a_s8, int32_t zx, int32_t *dot, uint8_t *work, const uint8_t *wdec)
{
    (void)wdec;
    fgq_qconv_u8s8_4x32c4__avx512vnni(s, qw, j0, nb, p0, np, a_s8, zx, dot, work);
}

static const fgq_qconv_kernel qconv_kernels[] = {
    { "qconv_u8s8_4x32c4__avx512vnni", FGQ_DT_S8, 0, FGQ_CPU_AVX512VNNI, qconv_s8_run, NULL },
    /* s8 with group multipliers takes the t2 kernel's grouped loop (its decode copies s8 rows) */
    { "qconv_u8t2_2x32c4__avx512vnni", FGQ_DT_S8, 1, FGQ_CPU_AVX512VNNI, fgq_qconv_u8t2_2x32c4__avx512vnni,
      fgq_qconv_u8t2_2x32c4__avx512vnni_decode },
    { "qconv_u8t2_2x32c4__avx512vnni", FGQ_DT_T2, -1, FGQ_CPU_AVX512VNNI, fgq_qconv_u8t2_2x32c4__avx512vnni,
      fgq_qconv_u8t2_2x32c4__avx512vnni_decode },
    { "qconv_u8s4_2x32c4__avx512vnni", FGQ_DT_S4, -1, FGQ_CPU_AVX512VNNI, fgq_qconv_u8s4_2x32c4__avx512vnni,
      fgq_qconv_u8s4_2x32c4__avx512vnni_decode },
    { "qconv_u8s3_2x32c4__avx512vnni", FGQ_DT_S3, -1, FGQ_CPU_AVX512VNNI, fgq_qconv_u8s3_2x32c4__avx512vnni,
      fgq_qconv_u8s3_2x32c4__avx512vnni_decode },
    { "qconv_u8s2_2x32c4__avx512vnni", FGQ_DT_S2, -1, FGQ_CPU_AVX512VNNI, fgq_qconv_u8s2_2x32c4__avx512vnni,
      fgq_qconv_u8s2_2x32c4__avx512vnni_decode },
};

const fgq_qconv_kernel *fgq_qconv_kernel_for(const fgq_qweights *qw)
{
    if (!fgq_qgemm_vnni_fits(qw))
        return NULL;
    for (size_t i = 0; i < sizeof qconv_kernels / sizeof qconv_kernels[0]; i++) {
        const fgq_qconv_kernel *k = &qconv_kernels[i];
        if (k->w_dtype == qw->dtype && (k->gs < 0 || k->gs == (qw->has_gs != 0)))
            return k;
    }
    return NULL;
}
#endif

const char *fgq_q_kernel_name(uint32_t op, int32_t w_dtype, int32_t w_mmax, int64_t m_rows, uint32_t cpu)
{
    if (op != FGQ_OP_QGEMM && op != FGQ_OP_QCONV)
        return "ref";
    if (cpu == 0)
        cpu = fgq_cpu_features();
    const fgq_qgemm_kernel *k = fgq_qgemm_kernel_select((fgq_dtype)w_dtype, FGQ_KERNELS_AUTO, cpu, NULL);
    /* per channel, or groups of 64 with multipliers up to w_mmax */
    const fgq_qweights qw = { .dtype = (fgq_dtype)w_dtype, .k = 576, .group = w_mmax > 0 ? 64 : 576,
                              .n_groups = w_mmax > 0 ? 9 : 1, .n_alpha = 1, .mmax = w_mmax > 0 ? w_mmax : 1,
                              .has_gs = w_mmax > 0 };
    (void)qw;
#if defined(__x86_64__)
    const int s8rows = fgq_qweights_fold_s8(&qw), amx = (cpu & (FGQ_CPU_AMXINT8 | FGQ_CPU_AVX512VNNI)) ==
                                                          (FGQ_CPU_AMXINT8 | FGQ_CPU_AVX512VNNI);
#endif
    if (op == FGQ_OP_QCONV) {
#if defined(__x86_64__)
        if (s8rows && amx)
            return "qconv_u8s8_32x32c64__amx"; /* qconv.c */
        if (s8rows && (qw.dtype != FGQ_DT_S8 || qw.has_gs) && (cpu & FGQ_CPU_AVX512VNNI) != 0)
            return "qconv_u8s8_4x32c4__avx512vnni"; /* over the rows decoded to s8 (qconv.c) */
#endif
#if defined(__x86_64__) || defined(__i386__)
        const fgq_qconv_kernel *c = fgq_qconv_kernel_for(&qw);
        if (c != NULL && (cpu & c->needs) == c->needs)
            return c->name;
#endif
        return k->dot == fgq_qgemm_dot_ref ? "ref" : "im2col+qgemm";
    }
#if defined(__x86_64__)
    if (s8rows && amx && m_rows >= (w_dtype == FGQ_DT_S8 && w_mmax == 0 ? 16 : 64))
        return "qgemm_u8s8_32x32c64__amx"; /* qgemm.c: A's rows on the AMX conv kernel */
#endif
#if defined(__x86_64__) || defined(__i386__)
    if (k->gemm == fgq_qgemm_u8t2_1x4c64__avx512vbmi_gemm && m_rows >= 4)
        return "qgemm_u8t2_4x4c32__avx512vnni"; /* what that row hands 4+ rows to */
#elif defined(FGQ_NEON_I8MM_ROWS)
    if ((k->gemm == fgq_qgemm_u8s8_2x4c8__neoni8mm || k->gemm == fgq_qgemm_u8t2_2x4c8__neoni8mm) && m_rows < 2)
        return w_dtype == FGQ_DT_S8 ? "qgemm_u8s8_1x4c16__neondot" : "qgemm_u8t2_1x4c16__neondot"; /* its dot */
#else
    (void)m_rows;
#endif
    return k->name;
}
