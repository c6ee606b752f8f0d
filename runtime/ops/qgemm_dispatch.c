/*
 * qgemm_dispatch.c — the const kernel table of QGEMM, the CPU-feature query,
 * and the reference microkernel.
 */
#include "qgemm_dispatch.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

void fgq_qgemm_dot_ref(const fgq_qweights *qw, int64_t j0, int64_t n, const void *a, int a_s8, int32_t zx,
                       int32_t *dot)
{
    for (int64_t i = 0; i < n; i++)
        dot[i] = fgq_qweights_dot(qw, j0 + i, a, a_s8, zx);
}

#if defined(__x86_64__) || defined(__i386__)
/* cpuid leaf 1: FMA (ecx 12), OSXSAVE (ecx 27), AVX (ecx 28); XCR0 bits 1, 2
 * (the OS saves XMM and YMM state); leaf 7: AVX2 (ebx 5). Header-only
 * (<cpuid.h> and one xgetbv): no libgcc __cpu_model, so the freestanding
 * check still holds. */
int fgq_cpu_has_avx2(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    if (!(ecx & (1u << 12)) || !(ecx & (1u << 27)) || !(ecx & (1u << 28)))
        return 0;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 6u) != 6u)
        return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    return (ebx & (1u << 5)) != 0;
}
#endif

/* First usable row for the dtype wins; the reference rows come last. */
static const fgq_qgemm_kernel qgemm_kernels[] = {
#if defined(__x86_64__) || defined(__i386__)
    { "qgemm_u8s8_1x4c16__avx2", FGQ_DT_S8, fgq_cpu_has_avx2, fgq_qgemm_u8s8_1x4c16__avx2 },
    { "qgemm_u8t2_1x4c16__avx2", FGQ_DT_T2, fgq_cpu_has_avx2, fgq_qgemm_u8t2_1x4c16__avx2 },
#endif
    { "ref", FGQ_DT_S8, NULL, fgq_qgemm_dot_ref },
    { "ref", FGQ_DT_S4, NULL, fgq_qgemm_dot_ref },
    { "ref", FGQ_DT_T2, NULL, fgq_qgemm_dot_ref },
};

static const fgq_qgemm_kernel qgemm_ref_any = { "ref", FGQ_DT_S8, NULL, fgq_qgemm_dot_ref };

const fgq_qgemm_kernel *fgq_qgemm_kernel_select(fgq_dtype w_dtype, int32_t kernels)
{
    if (kernels == FGQ_KERNELS_REF)
        return &qgemm_ref_any;
    for (size_t i = 0; i < sizeof qgemm_kernels / sizeof qgemm_kernels[0]; i++) {
        const fgq_qgemm_kernel *k = &qgemm_kernels[i];
        if (k->w_dtype == w_dtype && (k->usable == NULL || k->usable()))
            return k;
    }
    return &qgemm_ref_any;
}

int32_t fgq_node_kernels(const fgq_node_view *node)
{
    return node != NULL && node->par != NULL ? node->par->kernels : FGQ_KERNELS_AUTO;
}

const char *fgq_qgemm_kernel_name(const fgq_node_view *node, fgq_dtype w_dtype)
{
    return fgq_qgemm_kernel_select(w_dtype, fgq_node_kernels(node))->name;
}

const char *fgq_q_kernel_name(uint32_t op, int32_t w_dtype)
{
    if (op != FGQ_OP_QGEMM)
        return "ref";
    return fgq_qgemm_kernel_select((fgq_dtype)w_dtype, FGQ_KERNELS_AUTO)->name;
}
