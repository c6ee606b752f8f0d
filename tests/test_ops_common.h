/*
 * test_ops_common.h — helpers for the op kernel tests (tests/test_ops_*.c):
 * build tensor views and node views, call an op's check/run through the op
 * table, and a deterministic random source. Test binaries only.
 */
#ifndef FGQ_TEST_OPS_COMMON_H
#define FGQ_TEST_OPS_COMMON_H

#include "fgq_ops.h"
#include "fgq_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline fgq_tensor_view tview(void *data, int32_t rank, const int64_t *dims)
{
    fgq_tensor_view v;
    memset(&v, 0, sizeof v);
    v.dtype = FGQ_DT_F32;
    v.rank = rank;
    for (int32_t i = 0; i < rank; i++)
        v.dims[i] = dims[i];
    v.data = data;
    return v;
}

static inline int64_t tnumel(const fgq_tensor_view *t)
{
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

/* A node with zeroed params; tests fill ip/fp then call op_check / op_run. */
typedef struct {
    int32_t ip[32];
    float fp[8];
    fgq_node_view v;
} tnode;

static inline void tnode_init(tnode *n, fgq_op op, int32_t n_inputs)
{
    memset(n, 0, sizeof *n);
    n->v.name = "node_under_test";
    n->v.name_len = (uint32_t)strlen(n->v.name);
    n->v.op = op;
    n->v.n_inputs = n_inputs;
    n->v.n_outputs = 1;
    n->v.iparams = n->ip;
    n->v.fparams = n->fp;
}

/* A float GEMM node (ONNX Gemm with transA/transB, alpha, beta and a fused
 * activation whose two parameters are -0.25 and 0.5); with_c: a C input. */
static inline void tnode_gemm(tnode *n, int with_c, int32_t ta, int32_t tb, int32_t act, float alpha, float beta)
{
    tnode_init(n, FGQ_OP_GEMM, with_c ? 3 : 2);
    n->ip[FGQ_P_TRANS_A] = ta;
    n->ip[FGQ_P_TRANS_B] = tb;
    n->ip[FGQ_P_GEMM_ACT] = act;
    n->fp[FGQ_PF_ALPHA] = alpha;
    n->fp[FGQ_PF_BETA] = beta;
    n->fp[FGQ_PF_ACT0] = -0.25f;
    n->fp[FGQ_PF_ACT1] = 0.5f;
}

static inline fgq_status op_check(tnode *n, const fgq_tensor_view *const *in, const fgq_tensor_view *y, fgq_error *err)
{
    const fgq_op_impl *impl = fgq_op_lookup((uint32_t)n->v.op);
    if (impl == NULL)
        return FGQ_ERR_UNSUPPORTED;
    const fgq_tensor_view *out[1] = { y };
    fgq_error_clear(err);
    return impl->check(&n->v, in, out, err);
}

/* Runs v's op as fgq_model_run does: with one scratch slice per thread of
 * v->par, of the bytes the op declares (fgq_op_impl.scratch), allocated here
 * and filled with garbage (an op must not expect it zeroed). */
static inline fgq_status op_run_view(fgq_node_view *v, const fgq_tensor_view *const *in,
                                     const fgq_tensor_view *const *out, fgq_error *err)
{
    const fgq_op_impl *impl = fgq_op_lookup((uint32_t)v->op);
    if (impl == NULL)
        return FGQ_ERR_UNSUPPORTED;
    const uint64_t need = impl->scratch != NULL ? impl->scratch(v, in, out, fgq_target_build()) : 0;
    const uint64_t stride = fgq_scratch_stride(need);
    const int32_t n = v->par != NULL && v->par->n_threads > 1 ? v->par->n_threads : 1;
    void *s = NULL;
    if (stride > 0) {
        if (posix_memalign(&s, 64, (size_t)(stride * (uint64_t)n)) != 0)
            return FGQ_ERR_NOMEM;
        memset(s, 0xA5, (size_t)(stride * (uint64_t)n));
    }
    v->scratch = s;
    v->scratch_stride = stride;
    v->n_scratch = s != NULL ? n : 0;
    const fgq_status st = impl->run(v, in, out, err);
    free(s);
    v->scratch = NULL;
    v->scratch_stride = 0;
    v->n_scratch = 0;
    return st;
}

/* check, then run; returns the first failing status. */
static inline fgq_status op_check_run(tnode *n, const fgq_tensor_view *const *in, const fgq_tensor_view *y)
{
    fgq_error err;
    fgq_status st = op_check(n, in, y, &err);
    if (st != FGQ_OK) {
        fprintf(stderr, "  check failed: %s\n", err.msg);
        return st;
    }
    const fgq_tensor_view *out[1] = { y };
    return op_run_view(&n->v, in, out, &err);
}

/* nd under FGQ_KERNELS_REF into ref, then under its own preference (AUTO unless nd->v.par says
 * otherwise) into got, y's data set to each in turn; CHECKs both runs and returns 1 when the two
 * outputs are the same bytes — the oracle of every kernel that claims the reference's bits. */
static inline int op_ref_auto_same(tnode *nd, const fgq_tensor_view *const *in, fgq_tensor_view *y, float *ref,
                                   float *got)
{
    fgq_parallel rp = { NULL, 1, NULL, FGQ_KERNELS_REF };
    const fgq_parallel *own = nd->v.par;
    nd->v.par = &rp;
    y->data = ref;
    CHECK(op_check_run(nd, in, y) == FGQ_OK);
    nd->v.par = own;
    y->data = got;
    CHECK(op_check_run(nd, in, y) == FGQ_OK);
    return memcmp(ref, got, (size_t)tnumel(y) * sizeof(float)) == 0;
}

/* check must fail with `want` and name the node. */
#define CHECK_REJECTS(node, in, y, want)                                                   \
    do {                                                                                   \
        fgq_error e_;                                                                      \
        fgq_status s_ = op_check((node), (in), (y), &e_);                                  \
        CHECK_MSG(s_ == (want), "status %d, want %d (%s)", (int)s_, (int)(want), e_.msg);  \
        CHECK_MSG(s_ == FGQ_OK || strstr(e_.msg, "node_under_test") != NULL, "%s", e_.msg); \
    } while (0)

/* Deterministic uniform floats in [-1, 1) (xorshift32; state owned by the caller). */
static inline float trand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)((*s >> 8) * (1.0 / 8388608.0)) - 1.0f;
}

static inline void tfill(float *p, int64_t n, uint32_t *s)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = trand(s);
}

#endif /* FGQ_TEST_OPS_COMMON_H */
