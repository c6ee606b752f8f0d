/*
 * fgq_target.h — the numbers a runtime build sizes its working memory with, as data.
 *
 * The scratch an op declares for a node (fgq_op_impl.scratch, fgq_ops.h), and so the
 * arena, follows from the node's shapes and from the build that runs it: which kernel
 * paths it has (x86's AVX-512 packed convolution and t2/s4 decode, the float Conv's
 * AVX2 panels) and how large their tiles are (application cores take up to ~96 KB a
 * thread, microcontrollers ~20 KB). A target profile is those numbers for one kind of
 * build, so a tool on one machine can give the arena another build will compute from the
 * same model (fgq_model_load_target; `fgq export --c DIR --target cortex-m`).
 *
 * A build's figure is an upper bound over every kernel it may pick on any CPU it runs
 * on (x86-64 counts the packed conv's taps whether or not the CPU has AVX-512 VNNI), so
 * it depends on the model and the build, never on the CPU. The runtime sizes and runs
 * with its own build's profile (fgq_target_build()): the ops read their tiles from it,
 * so the figure a tool computes for a target is the one that target's runtime computes.
 * Profiles are const; the runtime keeps no state. The functions below give the only
 * profiles the runtime takes: fgq_model_load_target refuses any other pointer, even a
 * copy of one of them (FGQ_ERR_VALUE), as the ops trust these rows' tiles.
 */
#ifndef FGQ_TARGET_H
#define FGQ_TARGET_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fgq_target {
    const char *name; /* "x86-64", "aarch64", "cortex-m" */
    /* QCONV's im2col + GEMM path (runtime/ops/qconv.c): im2col bytes a tile, at most that
     * many output positions and output channels a tile, the largest z_x-padded input copy */
    int32_t qconv_tile_bytes, qconv_tile_positions, qconv_tile_channels, qconv_pad_bytes;
    int32_t qconv_packed; /* 1: x86's packed AVX-512 VNNI conv kernels (their taps, 32-position dots) */
    /* QCONV's depthwise path: the largest K, output plane and padded plane it takes */
    int32_t qconv_dw_max_k, qconv_dw_max_plane, qconv_dw_max_padded;
    int32_t qconv_dw_flat_bytes;   /* the depthwise plane form's copy and tables, at most (x86
                                      AVX-512 VBMI); 0: no plane form (the set-up's bytes are
                                      reserved only where this is > 0) */
    int32_t qgemm_block_rows;      /* QGEMM: activation rows a block (their int32 dots × 64 channels) */
    int32_t qgemm_decode_bytes;    /* QGEMM's block form: x86's t2/s4 decode buffer (0: none) */
    int32_t qdyn_fast;             /* 1: QCONV_DYN / QGEMM_DYN on QCONV's / QGEMM's fast paths, their float
                                      output stage in place of the requantization (qdyn.c); 0: the
                                      reference (QGEMM_DYN: the kernel row's dot a row) */
    int32_t conv_f32_panels;       /* 1: the float Conv's packed GEMM panels (x86 AVX2) */
    int32_t qgemm_wsum;            /* 1: kernels read QGEMM's / QGEMM_DYN's WSUM (x86: FGQ_QW_WSUM_READ);
                                      0: a device image for the target leaves it out (fgq_compact_model) */
    int32_t view_bytes;            /* a tensor view's bytes there (at least sizeof(fgq_tensor_view)):
                                      the run's records */
} fgq_target;

/* This build's profile: x86-64 on x86 (32-bit too: its views are smaller), aarch64 on
 * 64-bit Arm, cortex-m on everything else (microcontrollers: the small tiles). */
const fgq_target *fgq_target_build(void);
/* The profile called `name` ("x86-64", "aarch64", "cortex-m"; "host": this build's), or
 * NULL. */
const fgq_target *fgq_target_find(const char *name);
/* Profile i (0, 1, ...), NULL past the last: for listings. */
const fgq_target *fgq_target_at(int32_t i);

#ifdef __cplusplus
}
#endif
#endif /* FGQ_TARGET_H */
