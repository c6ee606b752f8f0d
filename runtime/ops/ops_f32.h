/*
 * ops_f32.h — the float32 reference kernels behind the op table (op_table.c).
 * One check/run pair per op, with the fgq_op_impl signatures (runtime/fgq_ops.h).
 * Layout NCHW, row-major, float32. `check` runs at load with data == NULL and
 * validates counts, dtypes, ranks, params and that the output dims follow from
 * the inputs; `run` trusts a passed check and never allocates. Elementwise ops
 * (activations, Add..Div without broadcasting of the aliased input, BatchNorm,
 * Softmax, Reshape) tolerate out->data == in[0]->data; Conv, Gemm, MatMul,
 * pools, Transpose, Concat, Slice, Pad, Split, Reduce and LayerNorm need
 * distinct buffers.
 */
#ifndef FGQ_OPS_F32_H
#define FGQ_OPS_F32_H

#include "fgq_ops.h"
#include "ops_util.h"

#define FGQ_OPS_F32_DECL(op)                                                                                \
    fgq_status fgq_##op##_f32_check(const fgq_node_view *node, const fgq_tensor_view *const *in,            \
                                    const fgq_tensor_view *const *out, fgq_error *err);                     \
    fgq_status fgq_##op##_f32_run(const fgq_node_view *node, const fgq_tensor_view *const *in,              \
                                  const fgq_tensor_view *const *out, fgq_error *err);

FGQ_OPS_F32_DECL(conv)           /* conv_f32.c */
FGQ_OPS_F32_DECL(gemm)           /* gemm_f32.c */
FGQ_OPS_F32_DECL(matmul)         /* gemm_f32.c */
FGQ_OPS_F32_DECL(eltwise)        /* eltwise_f32.c: Add, Sub, Mul, Div by node->op */
FGQ_OPS_F32_DECL(relu)           /* activation_f32.c */
FGQ_OPS_F32_DECL(clip)
FGQ_OPS_F32_DECL(leaky_relu)
FGQ_OPS_F32_DECL(sigmoid)
FGQ_OPS_F32_DECL(tanh)
FGQ_OPS_F32_DECL(maxpool)        /* pool_f32.c */
FGQ_OPS_F32_DECL(avgpool)
FGQ_OPS_F32_DECL(global_avgpool)
FGQ_OPS_F32_DECL(batchnorm)      /* batchnorm_f32.c */
FGQ_OPS_F32_DECL(reshape)        /* layout_f32.c */
FGQ_OPS_F32_DECL(transpose)
FGQ_OPS_F32_DECL(concat)
FGQ_OPS_F32_DECL(softmax)        /* softmax_f32.c */
FGQ_OPS_F32_DECL(hard_sigmoid)   /* activation_f32.c */
FGQ_OPS_F32_DECL(hard_swish)
FGQ_OPS_F32_DECL(erf)
FGQ_OPS_F32_DECL(gelu)
FGQ_OPS_F32_DECL(sqrt)
FGQ_OPS_F32_DECL(abs)
FGQ_OPS_F32_DECL(reduce)         /* reduce_f32.c */
FGQ_OPS_F32_DECL(layernorm)
FGQ_OPS_F32_DECL(slice)          /* layout_f32.c */
FGQ_OPS_F32_DECL(pad)
FGQ_OPS_F32_DECL(split)
FGQ_OPS_F32_DECL(resize)         /* resize_f32.c */
FGQ_OPS_F32_DECL(gather)         /* layout_f32.c */
FGQ_OPS_F32_DECL(lstm)           /* rnn_f32.c */
FGQ_OPS_F32_DECL(gru)
FGQ_OPS_F32_DECL(conv_transpose) /* conv_transpose_f32.c */
FGQ_OPS_F32_DECL(compare)        /* select_f32.c: Equal, Less, Greater by node->op */
FGQ_OPS_F32_DECL(where)
FGQ_OPS_F32_DECL(expand)
FGQ_OPS_F32_DECL(cast)
FGQ_OPS_F32_DECL(mod)
FGQ_OPS_F32_DECL(not)
FGQ_OPS_F32_DECL(scatter_nd)     /* layout_f32.c */

#undef FGQ_OPS_F32_DECL

/* conv_f32_gemm.c: the float convolution as packed GEMM panels (isa 0:
 * portable C; 1: AVX2+FMA; 2: AVX-512F, the same bytes as 1; call 1 or 2 only
 * where the CPU has them); its reference twin is the direct loops of
 * conv_f32.c. fits: the shapes it pays for (at least 4 output channels per
 * group, at least 8 taps per output). x, w, b, y as fgq_conv_f32_run reads
 * them (NCHW, W [M, C/G, k...], b may be NULL); sp from fgq_ops_read_spatial. */
int fgq_conv_f32_gemm_fits(const fgq_ops_spatial *sp, int64_t cg, int64_t mg);
/* Bytes of one thread's scratch the panels take (node->scratch: FGQ_ERR_NOMEM
 * from fgq_conv_f32_gemm when it is short). */
uint64_t fgq_conv_f32_gemm_scratch(const fgq_ops_spatial *sp, int64_t cg, int64_t mg);
/* Conv's fgq_op_impl.scratch: the panels' where the target may run them (x86), else 0. */
uint64_t fgq_conv_f32_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                              const fgq_tensor_view *const *out, const fgq_target *target);
fgq_status fgq_conv_f32_gemm(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                             const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups,
                             int isa, fgq_error *err);

/* MatMul's fgq_op_impl.scratch: the panels' where the target runs them (x86) and they fit, else 0. */
uint64_t fgq_matmul_f32_scratch(const fgq_node_view *node, const fgq_tensor_view *const *in,
                                const fgq_tensor_view *const *out, const fgq_target *target);
/* The same panels for MatMul (gemm_f32.c): Y [m, n] = A [m, k] · B [k, n], row-major and
 * contiguous, then the activation (act, lo, hi); each element 0 + Σ_p a·b in p order, one fused
 * multiply-add a p (the bytes of gemm_f32.c's loops, which use fmaf). fits: m >= 4, k >= 8 (as
 * fgq_conv_f32_gemm_fits); scratch: a thread's, for node->scratch (fgq_scratch_begin'd here). */
int fgq_matmul_f32_gemm_fits(int64_t m, int64_t k);
uint64_t fgq_matmul_f32_gemm_scratch(int64_t m, int64_t k, int64_t n);
fgq_status fgq_matmul_f32_gemm(const fgq_node_view *node, const float *a, const float *b, float *y, int64_t m,
                               int64_t k, int64_t n, int isa, int32_t act, float act_lo, float act_hi, fgq_error *err);

/* conv_f32_dw.c: the depthwise float convolution (one input channel per
 * group, 1-D/2-D, stride 1 or 2) with AVX2+FMA (and AVX-512F rows of 16 where
 * the node's CPU has it), bit-identical to fgq_conv_f32_dw_ref, its reference
 * twin (one fused multiply-add a tap over the zero-padded input: within float
 * rounding of the direct loops of conv_f32.c). fits is 0 off x86 (GCC/Clang);
 * call only where the CPU has AVX2 (fgq_cpu_features' AVX2 includes FMA). */
int fgq_conv_f32_dw_fits(const fgq_ops_spatial *sp, int64_t cg);
/* The depthwise rows' scratch: one zero-padded input plane (padded layers whose padded plane fits
 * 128 KB), else 0 (border blocks with masks instead). */
uint64_t fgq_conv_f32_dw_scratch(const fgq_ops_spatial *sp, int64_t cg);
void fgq_conv_f32_dw(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                     const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups);
/* The twin, plain C, on any target, for the shapes fits takes: per output, the bias, then
 * fmaf(w, x, sum) for every tap in (kh, kw) order, x = 0 on the padding, then the activation. */
void fgq_conv_f32_dw_ref(const fgq_node_view *node, const fgq_ops_spatial *sp, const float *x, const float *w,
                         const float *b, float *y, int64_t batch, int64_t c_in, int64_t m_out, int64_t groups);

/* gemm_f32__avx2.c: the Gemm/MatMul microkernels, bit-identical to the loops
 * of gemm_f32.c, their reference twin. For rows i < mr (mr <= 6) and columns
 * j in [j0, j1): y[i·ldy + j] = Σ_{p<k} A'(i,p)·B'(p,j), A'(i,p) =
 * a[i·ars + p·acs], each product and add rounded to float, p in order from
 * 0.0f (overwrites y; reads nothing of y). 6x16: B'(p,j) = b[p·ldb + j]
 * (B as it lies); 6x16t: B'(p,j) = b[j·ldb + p] (transB). No allocation,
 * under 3 KiB of stack. Call only where the CPU has AVX2: fgq_gemm_f32_fast
 * says whether node's Gemm/MatMul run them (x86 GCC/Clang build, AVX2+FMA
 * CPU, kernels not REF). */
int fgq_gemm_f32_fast(const fgq_node_view *node);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
void fgq_gemm_f32_6x16__avx2(const float *a, int64_t ars, int64_t acs, int64_t mr, const float *b, int64_t ldb,
                             int64_t k, int64_t j0, int64_t j1, float *y, int64_t ldy);
void fgq_gemm_f32_6x16t__avx2(const float *a, int64_t ars, int64_t acs, int64_t mr, const float *b,
                              int64_t ldb, int64_t k, int64_t j0, int64_t j1, float *y, int64_t ldy);
#endif

#endif /* FGQ_OPS_F32_H */
