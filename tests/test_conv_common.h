/*
 * test_conv_common.h — one convolution case (1-D/2-D/3-D, groups, strides,
 * dilations, pads, bias, fused activation) and the node that runs it, shared
 * by the float Conv tests (test_ops_conv.c, test_conv_f32_gemm.c).
 */
#ifndef FGQ_TEST_CONV_COMMON_H
#define FGQ_TEST_CONV_COMMON_H

#include "test_ops_common.h"

typedef struct {
    int ns;
    int64_t n, c, m, group;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
    int bias, act;
} conv_case;

static inline int64_t out_dim(const conv_case *cc, int i)
{
    return (cc->in[i] + cc->pb[i] + cc->pe[i] - (cc->d[i] * (cc->k[i] - 1) + 1)) / cc->s[i] + 1;
}

static inline void set_params(tnode *nd, const conv_case *cc)
{
    tnode_init(nd, FGQ_OP_CONV, cc->bias ? 3 : 2);
    nd->ip[FGQ_P_NSPATIAL] = cc->ns;
    nd->ip[FGQ_P_GROUP] = (int32_t)cc->group;
    for (int i = 0; i < cc->ns; i++) {
        nd->ip[FGQ_P_KERNEL + i] = (int32_t)cc->k[i];
        nd->ip[FGQ_P_STRIDE + i] = (int32_t)cc->s[i];
        nd->ip[FGQ_P_DILATION + i] = (int32_t)cc->d[i];
        nd->ip[FGQ_P_PAD_BEGIN + i] = (int32_t)cc->pb[i];
        nd->ip[FGQ_P_PAD_END + i] = (int32_t)cc->pe[i];
    }
    nd->ip[FGQ_P_ACT] = cc->act;
    nd->fp[FGQ_PF_ACT0] = -0.5f;
    nd->fp[FGQ_PF_ACT1] = 0.75f;
}

/* Views (data NULL) of the case's X [N, C, in...], W [M, C/G, k...], B [M]
 * and Y [N, M, out...]. */
static inline void conv_views(const conv_case *cc, fgq_tensor_view *x, fgq_tensor_view *w, fgq_tensor_view *b,
                              fgq_tensor_view *y)
{
    int64_t xd[5] = { cc->n, cc->c }, wd[5] = { cc->m, cc->c / cc->group }, yd[5] = { cc->n, cc->m };
    for (int i = 0; i < cc->ns; i++) {
        xd[2 + i] = cc->in[i];
        wd[2 + i] = cc->k[i];
        yd[2 + i] = out_dim(cc, i);
    }
    *x = tview(NULL, cc->ns + 2, xd);
    *w = tview(NULL, cc->ns + 2, wd);
    *b = tview(NULL, 1, &cc->m);
    *y = tview(NULL, cc->ns + 2, yd);
}

#endif /* FGQ_TEST_CONV_COMMON_H */
