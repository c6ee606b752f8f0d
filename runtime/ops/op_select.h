/*
 * op_select.h — what a firmware build may leave out for one model.
 *
 * Built with -DFGQ_OP_SELECTION='"NAME_ops.h"' (the header `fgq export --c` writes; docs/device.md),
 * the files that include this one see the model's FGQ_OP_ON_<KEY> (op_table.c: which ops) and
 * FGQ_QW_ON_* / FGQ_QX_ON_* (which weight layouts and activation types its QCONV / QGEMM nodes have).
 * A 0 in the second group drops kernel code specialised for that case (a kernel table row, a
 * specialised loop); a model that has the case anyway runs through the general code that stays
 * (the reference row, the general loop), which gives the same bytes — the kernels are bit-exact
 * twins of the reference (tests/test_qgemm_kernels.c, targets/cortex-m/test_kernels.c). Without
 * a selection, or with a header that lacks a macro (an older export), everything is kept.
 *
 * The files that read it are compiled with the model's header, as op_table.c is
 * (targets/cortex-m/CMakeLists.txt: FGQ_RT_PER_MODEL_SRC). The third group, FGQ_QCONV_ON_*, is
 * QCONV's paths: see below.
 */
#ifndef FGQ_OP_SELECT_H
#define FGQ_OP_SELECT_H

#ifdef FGQ_OP_SELECTION
#include FGQ_OP_SELECTION
#endif

#ifndef FGQ_QW_ON_S8
#define FGQ_QW_ON_S8 1
#endif
#ifndef FGQ_QW_ON_S4
#define FGQ_QW_ON_S4 1
#endif
#ifndef FGQ_QW_ON_T2
#define FGQ_QW_ON_T2 1
#endif
#ifndef FGQ_QW_ON_S8_GROUPS
#define FGQ_QW_ON_S8_GROUPS 1
#endif
#ifndef FGQ_QW_ON_T2_SPLIT
#define FGQ_QW_ON_T2_SPLIT 1
#endif
#ifndef FGQ_QX_ON_S8
#define FGQ_QX_ON_S8 1
#endif

/* QCONV's paths (qconv.c, FGQ_QCONV_PATH_*) the model's layers take on a Cortex-M core with the DSP
 * rows (s8 and ternary GEMM rows, the depthwise row): a 0 leaves that path's code out. A layer
 * that needs a path left out takes the next that stays (the GEMM path, then the reference), and
 * where none does the load refuses it (fgq_qconv_check): a wrong selection costs time or a clear
 * error, never other bytes. Builds without those rows keep every path (the export's analysis
 * assumes them). The load checks for the kernels a run picks by default: a run asked for the
 * reference kernels (FGQ_KERNELS_REF) needs FGQ_QCONV_ON_REF and otherwise fails, naming the
 * node, at run time. */
#if !defined(__ARM_FEATURE_DSP)
#undef FGQ_QCONV_ON_DW_PHASES
#undef FGQ_QCONV_ON_DW_ROWS
#undef FGQ_QCONV_ON_GEMM
#undef FGQ_QCONV_ON_REF
#endif
#ifndef FGQ_QCONV_ON_DW_PHASES
#define FGQ_QCONV_ON_DW_PHASES 1
#endif
#ifndef FGQ_QCONV_ON_DW_ROWS
#define FGQ_QCONV_ON_DW_ROWS 1
#endif
#ifndef FGQ_QCONV_ON_GEMM
#define FGQ_QCONV_ON_GEMM 1
#endif
#ifndef FGQ_QCONV_ON_REF
#define FGQ_QCONV_ON_REF 1
#endif
#define FGQ_QCONV_PATHS_BUILT                                                                     \
    ((FGQ_QCONV_ON_DW_PHASES ? FGQ_QCONV_PATH_DW_PHASES : 0u) | (FGQ_QCONV_ON_DW_ROWS ? FGQ_QCONV_PATH_DW_ROWS : 0u) | \
     (FGQ_QCONV_ON_GEMM ? FGQ_QCONV_PATH_GEMM : 0u) | (FGQ_QCONV_ON_REF ? FGQ_QCONV_PATH_REF : 0u))

#endif /* FGQ_OP_SELECT_H */
