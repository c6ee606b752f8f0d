/* target.c — the target profiles (fgq_target.h): one const row per kind of build, and
 * which one this build is. The ops read their tile sizes from here, whichever build
 * they are compiled for; the kernels' own fixed sizes (the x86 t2/s4 decode) come
 * from their headers. */
#include "fgq_ops.h"
#include "fgq_target.h"
#include "qgemm_dispatch.h"

#include <string.h>

/* A tensor view is 80 bytes wherever int64 is 8-aligned (x86-64, AArch64, Arm's AAPCS,
 * RISC-V); i386 aligns it to 4 (76 bytes): the records sized with 80 still hold them. */
enum { VIEW_BYTES = 80 };
_Static_assert(sizeof(fgq_tensor_view) <= VIEW_BYTES, "the profiles' view_bytes must hold a tensor view");

/* Application cores: large tiles in an OS thread's scratch; the packed VNNI conv, the
 * t2/s4 decode and the float Conv's panels where the x86 kernels exist (AVX2, AVX-512
 * VNNI). AArch64: the NEON SDOT / I8MM rows take QCONV's tiles, no decode buffer. */
static const fgq_target target_x86_64 = {
    .name = "x86-64",
    .qconv_tile_bytes = 262144,
    .qconv_tile_positions = 128,
    .qconv_tile_channels = 64,
    .qconv_pad_bytes = 32768,
    .qconv_packed = 1,
    .qconv_dw_max_k = 1024,
    .qconv_dw_max_plane = 4096,
    .qconv_dw_max_padded = 8192,
    .qconv_dw_flat_bytes = 65536,
    .qgemm_block_rows = 64,
    .qgemm_decode_bytes = FGQ_QGEMM_DECODE_BYTES,
    .qdyn_fast = 1,
    .conv_f32_panels = 1,
    .qgemm_wsum = 1,
    .view_bytes = VIEW_BYTES,
};

static const fgq_target target_aarch64 = {
    .name = "aarch64",
    .qconv_tile_bytes = 32768,
    .qconv_tile_positions = 64,
    .qconv_tile_channels = 64,
    .qconv_pad_bytes = 32768,
    .qconv_packed = 0,
    .qconv_dw_max_k = 64,
    .qconv_dw_max_plane = 2304,
    .qconv_dw_max_padded = 2560,
    .qconv_dw_flat_bytes = 0,
    .qgemm_block_rows = 64,
    .qgemm_decode_bytes = 0,
    .qdyn_fast = 1,
    .conv_f32_panels = 0,
    .qgemm_wsum = 0,
    .view_bytes = VIEW_BYTES,
};

/* Microcontrollers (Cortex-M0..M85, with the DSP kernels where the core has them, and
 * any build that is neither of the above): at most ~20 KB of QCONV scratch; larger K or
 * padded copies take the per-tap border path, larger depthwise layers the GEMM path (the
 * same integers). */
static const fgq_target target_cortex_m = {
    .name = "cortex-m",
    .qconv_tile_bytes = 8192,
    .qconv_tile_positions = 32,
    .qconv_tile_channels = 16,
    .qconv_pad_bytes = 8192,
    .qconv_packed = 0,
    .qconv_dw_max_k = 64,
    .qconv_dw_max_plane = 2304,
    .qconv_dw_max_padded = 2560,
    .qconv_dw_flat_bytes = 0,
    .qgemm_block_rows = 16,
    .qgemm_decode_bytes = 0,
    .qdyn_fast = 0,
    .conv_f32_panels = 0,
    .qgemm_wsum = 0,
    .view_bytes = VIEW_BYTES,
};

static const fgq_target *const targets[] = {&target_x86_64, &target_aarch64, &target_cortex_m};

/* The same conditions as the kernels' own #ifs (qconv.c, conv_f32_gemm.c,
 * qgemm_dispatch.h): test_scratch's test_build_profile checks the two agree. */
const fgq_target *fgq_target_build(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return &target_x86_64;
#elif defined(__aarch64__)
    return &target_aarch64;
#else
    return &target_cortex_m;
#endif
}

const fgq_target *fgq_target_at(int32_t i)
{
    return i >= 0 && i < (int32_t)(sizeof targets / sizeof targets[0]) ? targets[i] : NULL;
}

const fgq_target *fgq_target_find(const char *name)
{
    if (name == NULL)
        return NULL;
    if (strcmp(name, "host") == 0)
        return fgq_target_build();
    for (int32_t i = 0; fgq_target_at(i) != NULL; i++)
        if (strcmp(name, fgq_target_at(i)->name) == 0)
            return fgq_target_at(i);
    return NULL;
}
