/* export_c.c — a .fgq model as C source for firmware (export_c.h). */
#include "export/export_c.h"
#include "ops/ops_q.h"
#include "run/run_graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p != NULL ? t->p + t->len : NULL, t->p != NULL ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->p != NULL && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap > 0 ? t->cap : 4096;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *q = realloc(t->p, cap);
        if (q == NULL) {
            t->failed = 1;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
}

int fgq_export_c_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > FGQ_EXPORT_C_MAX_NAME || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* The model's file name for a comment: its last path component, with
 * anything that could end the comment or the line replaced. */
static void comment_name(const char *source, char *out, size_t cap)
{
    const char *base = source != NULL ? source : "model";
    for (const char *s = base; *s != '\0'; s++)
        if (*s == '/' || *s == '\\')
            base = s + 1;
    size_t n = 0;
    for (const char *s = base; *s != '\0' && n + 1 < cap; s++)
        out[n++] = (*s == '*' || *s == '\n' || *s == '\r' || (unsigned char)*s < 0x20) ? '_' : *s;
    out[n] = '\0';
}

/* "f32 [1,1,28,28]" and a tensor name (quotes and backslashes, non-ASCII
 * and control bytes as '_', at most 80 characters) for a comment. */
static void describe(text *t, const fgq_tensor_info *info)
{
    put(t, " /* \"");
    for (uint32_t i = 0; i < info->name_len && i < 80; i++) {
        unsigned char c = (unsigned char)info->name[i];
        put(t, "%c", (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '*' || c == '/') ? '_' : (char)c);
    }
    put(t, "\": %s [", fgq_dtype_name(info->dtype));
    for (int32_t d = 0; d < info->rank; d++)
        put(t, "%s%lld", d > 0 ? "," : "", (long long)info->dims[d]);
    put(t, "] */");
}

/* The QCONV path node `ni` takes on m's target (fgq_qconv_path) in a Cortex-M build with the DSP
 * rows: a depthwise row, and optimized GEMM rows for s8 and ternary weights only
 * (runtime/ops/qgemm_dispatch.c); every path when it cannot tell (the firmware then keeps them all). */
static uint32_t qconv_path_on_device(const fgq_model *m, const fgq_node_info *ni)
{
    fgq_tensor_view views[FGQ_MAX_NODE_INPUTS + 1];
    const fgq_tensor_view *in[FGQ_MAX_NODE_INPUTS] = { NULL }, *out[1] = { &views[FGQ_MAX_NODE_INPUTS] };
    if (ni->n_inputs > FGQ_MAX_NODE_INPUTS || ni->n_outputs != 1)
        return FGQ_QCONV_PATHS_ALL;
    for (int32_t i = 0; i <= ni->n_inputs; i++) {
        const int32_t t = i < ni->n_inputs ? ni->inputs[i] : ni->outputs[0];
        fgq_tensor_view *v = i < ni->n_inputs ? &views[i] : &views[FGQ_MAX_NODE_INPUTS];
        fgq_tensor_info info;
        if (t < 0) /* an omitted input */
            continue;
        if (fgq_model_tensor_info(m, t, &info) != FGQ_OK)
            return FGQ_QCONV_PATHS_ALL;
        v->dtype = info.dtype;
        v->rank = info.rank;
        memcpy(v->dims, info.dims, sizeof v->dims);
        v->data = (void *)(uintptr_t)fgq_model_tensor_data(m, t); /* constants; NULL for activations */
        if (i < ni->n_inputs)
            in[i] = v;
    }
    const fgq_node_view nv = {
        .name = ni->name,
        .name_len = ni->name_len,
        .op = ni->op,
        .n_inputs = ni->n_inputs,
        .n_outputs = ni->n_outputs,
        .iparams = ni->iparams,
        .fparams = ni->fparams,
    };
    const fgq_dtype w = in[1] != NULL ? in[1]->dtype : FGQ_DT_UNDEF;
    const uint32_t path = fgq_qconv_path(&nv, in, out, fgq_model_target(m), 1, w == FGQ_DT_S8 || w == FGQ_DT_T2);
    return path != 0 ? path : FGQ_QCONV_PATHS_ALL;
}

static void upper(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; s[n] != '\0' && n + 1 < cap; n++)
        out[n] = (s[n] >= 'a' && s[n] <= 'z') ? (char)(s[n] - 'a' + 'A') : s[n];
    out[n] = '\0';
}

void fgq_export_c_files_free(fgq_export_c_files *f)
{
    free(f->c_text);
    free(f->h_text);
    free(f->ops_text);
    memset(f, 0, sizeof *f);
}

fgq_status fgq_export_c(const fgq_model *m, const uint8_t *bytes, uint64_t size, const char *name,
                        const char *source, fgq_export_c_files *out, fgq_error *err)
{
    memset(out, 0, sizeof *out);
    if (!fgq_export_c_name_ok(name))
        return fgq_fail(err, FGQ_ERR_VALUE, "name '%s' is not a C identifier of 1..%d characters",
                        name != NULL ? name : "", FGQ_EXPORT_C_MAX_NAME);
    uint64_t arena = fgq_model_arena_size(m);
    if (size > UINT32_MAX || arena > UINT32_MAX)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                        "model of %llu bytes with an arena of %llu bytes: sizes above 4 GiB do not fit a "
                        "32-bit device",
                        (unsigned long long)size, (unsigned long long)arena);
    char up[FGQ_EXPORT_C_MAX_NAME + 1], src[256];
    upper(name, up, sizeof up);
    comment_name(source, src, sizeof src);
    int32_t n_in = fgq_model_n_inputs(m), n_out = fgq_model_n_outputs(m);

    /* NAME.h */
    text h = { 0 };
    put(&h,
        "/* %s.h: the model %s as C source, written by `fgq export --c`; do not edit.\n"
        " *\n"
        " * Add %s.c and the runtime (runtime/) to the firmware, then:\n"
        " *   static fgq_model model;\n"
        " *   static _Alignas(64) uint8_t arena[%s_ARENA_SIZE];\n"
        " *   fgq_model_load(&model, %s_data, %s_SIZE, &err);\n"
        " *   fgq_model_run(&model, arena, sizeof arena, inputs, outputs, NULL, NULL, &err);\n"
        " * inputs[i] / outputs[i]: %s_INPUT_<i>_BYTES / %s_OUTPUT_<i>_BYTES each, in the tensor's dtype\n"
        " * (preprocessing stored in the model is not applied by the runtime). Build the runtime with\n"
        " * -DFGQ_OP_SELECTION='\"%s_ops.h\"' -ffunction-sections -Wl,--gc-sections to link only the ops\n"
        " * this model uses. */\n"
        "#ifndef %s_H_\n#define %s_H_\n\n#include <stdint.h>\n\n",
        name, src, name, up, name, up, up, up, name, up, up);
    put(&h, "#define %s_SIZE %lluu /* bytes of %s_data */\n", up, (unsigned long long)size, name);
    const char *target = fgq_model_target(m)->name;
    put(&h,
        "/* The arena fgq_model_run takes (64-byte aligned): the activations, one node's views and one\n"
        " * scratch slice (fgq_runtime.h), the slice sized for a runtime built for the %s target\n"
        " * (`fgq export --target`): fgq_model_arena_size(&model) gives exactly this there. A build for a\n"
        " * target with larger tiles needs more and says so before it runs anything (FGQ_ERR_NOMEM). */\n",
        target);
    put(&h, "#define %s_TARGET \"%s\" /* the runtime build the sizes below are for */\n", up, target);
    put(&h, "#define %s_ARENA_SIZE %lluu\n", up, (unsigned long long)arena);
    put(&h, "#define %s_ACTIVATION_SIZE %lluu /* the planned activations, part of %s_ARENA_SIZE */\n", up,
        (unsigned long long)fgq_model_activation_size(m), up);
    put(&h, "#define %s_SCRATCH_SIZE %lluu /* one thread's scratch slice on %s, part of %s_ARENA_SIZE */\n", up,
        (unsigned long long)fgq_model_scratch_size(m), target, up);
    put(&h, "#define %s_ARENA_LOWER_BOUND %lluu /* most bytes live at once (the plan's lower bound) */\n", up,
        (unsigned long long)fgq_model_arena_lower_bound(m));
    put(&h, "#define %s_WEIGHT_BYTES %lluu /* constant tensor data within %s_data */\n", up,
        (unsigned long long)fgq_model_weight_bytes(m), name);
    int32_t max_views = 2; /* FGQ_LOAD_VIEWS' least */
    for (int32_t j = 0; j < fgq_model_n_nodes(m); j++) {
        fgq_node_info ni;
        if (fgq_model_node_info(m, j, &ni) == FGQ_OK && ni.n_inputs + ni.n_outputs > max_views)
            max_views = ni.n_inputs + ni.n_outputs;
    }
    put(&h,
        "#define %s_MAX_NODE_VIEWS %d /* the most inputs + outputs of a node: the least FGQ_LOAD_VIEWS that\n"
        "                                  loads this model (-DFGQ_LOAD_VIEWS=%d for every runtime file saves\n"
        "                                  fgq_model's RAM; fgq_runtime.h) */\n",
        up, (int)max_views, (int)max_views);
    put(&h, "#define %s_N_INPUTS %d\n#define %s_N_OUTPUTS %d\n", up, (int)n_in, up, (int)n_out);
    text c = { 0 };
    for (int side = 0; side < 2; side++) {
        int32_t n = side == 0 ? n_in : n_out;
        uint64_t total = 0;
        const char *what = side == 0 ? "INPUT" : "OUTPUT";
        put(&c, "const uint32_t %s_%s_bytes[%s_N_%sS] = {", name, side == 0 ? "input" : "output", up, what);
        for (int32_t i = 0; i < n; i++) {
            fgq_tensor_info info;
            fgq_status st = side == 0 ? fgq_model_input_info(m, i, &info) : fgq_model_output_info(m, i, &info);
            if (st != FGQ_OK || info.size_bytes > UINT32_MAX) {
                free(h.p);
                free(c.p);
                return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "graph %s %d: %s", side == 0 ? "input" : "output",
                                (int)i, st != FGQ_OK ? "cannot be described" : "larger than 4 GiB");
            }
            put(&h, "#define %s_%s_%d_BYTES %lluu", up, what, (int)i, (unsigned long long)info.size_bytes);
            describe(&h, &info);
            put(&h, "\n");
            float qs;
            int32_t qz;
            if (fgq_io_qparams(m, side == 0 ? fgq_model_input_tensor(m, i) : fgq_model_output_tensor(m, i), &qs, &qz))
                put(&h,
                    "#define %s_%s_%d_SCALE %.9ef /* u8 / s8 codes (fgq quantize --io quantized): x = SCALE * (q - ZERO_POINT) */\n"
                    "#define %s_%s_%d_ZERO_POINT %ld\n",
                    up, what, (int)i, (double)qs, up, what, (int)i, (long)qz);
            put(&c, "%s%s_%s_%d_BYTES", i > 0 ? ", " : " ", up, what, (int)i);
            total += info.size_bytes;
        }
        put(&c, " };\n");
        put(&h, "#define %s_%sS_TOTAL_BYTES %lluu\n", up, what, (unsigned long long)total);
    }
    put(&h,
        "\nextern const uint8_t %s_data[%s_SIZE]; /* 64-byte aligned, const: stays in flash */\n"
        "extern const uint32_t %s_input_bytes[%s_N_INPUTS];\n"
        "extern const uint32_t %s_output_bytes[%s_N_OUTPUTS];\n\n#endif /* %s_H_ */\n",
        name, up, name, up, name, up, up);

    /* NAME.c: the byte array, 16 per line. */
    text body = { 0 };
    put(&body, "/* %s.c: the model %s as C source, written by `fgq export --c`; do not edit. */\n#include \"%s.h\"\n\n",
        name, src, name);
    put(&body, "%s", c.p != NULL ? c.p : "");
    free(c.p);
    put(&body, "\n_Alignas(64) const uint8_t %s_data[%s_SIZE] = {\n", name, up);
    for (uint64_t i = 0; i < size && !body.failed; i++)
        put(&body, "%s0x%02x,%s", i % 16 == 0 ? "    " : "", bytes[i], (i % 16 == 15 || i + 1 == size) ? "\n" : " ");
    put(&body, "};\n");

    /* NAME_ops.h */
    int used[FGQ_OP_COUNT_] = { 0 };
    /* The integer GEMM/conv nodes' weight layouts and activation types: the kernel code specialised for
     * each (runtime/ops/op_select.h). 0 lets a build leave that code out; a model that has it anyway
     * still runs, with the same bytes, through the general code. */
    int qw_s8 = 0, qw_s4 = 0, qw_t2 = 0, qw_s8_groups = 0, qw_t2_split = 0, qx_s8 = 0;
    uint32_t qconv_paths = 0; /* FGQ_QCONV_PATH_* its QCONV nodes take on the target */
    for (int32_t k = 0; k < fgq_model_n_nodes(m); k++) {
        fgq_node_info ni;
        if (fgq_model_node_info(m, k, &ni) != FGQ_OK || (uint32_t)ni.op >= (uint32_t)FGQ_OP_COUNT_)
            continue;
        used[ni.op] = 1;
        if (ni.op == FGQ_OP_QCONV)
            qconv_paths |= qconv_path_on_device(m, &ni);
        const int dyn = ni.op == FGQ_OP_QCONV_DYN || ni.op == FGQ_OP_QGEMM_DYN;
        if (!dyn && ni.op != FGQ_OP_QCONV && ni.op != FGQ_OP_QGEMM)
            continue;
        const int wi = dyn ? 3 : 1, gi = dyn ? 6 : 4; /* fgq_ops.h: W and GS of each op */
        fgq_tensor_info w, x;
        if (ni.n_inputs <= wi || fgq_model_tensor_info(m, ni.inputs[wi], &w) != FGQ_OK ||
            fgq_model_tensor_info(m, ni.inputs[0], &x) != FGQ_OK) {
            qw_s8 = qw_s4 = qw_t2 = qw_s8_groups = qw_t2_split = qx_s8 = 1; /* unknown: keep everything */
            continue;
        }
        const int gs = ni.n_inputs > gi && ni.inputs[gi] >= 0;
        qw_s8 |= w.dtype == FGQ_DT_S8;
        qw_s4 |= w.dtype == FGQ_DT_S4;
        qw_t2 |= w.dtype == FGQ_DT_T2;
        qw_s8_groups |= w.dtype == FGQ_DT_S8 && gs;
        qw_t2_split |= w.dtype == FGQ_DT_T2 && gs && (dyn || ni.iparams[FGQ_QP_W_NALPHA] == 2);
        qx_s8 |= x.dtype == FGQ_DT_S8;
    }
    text ops = { 0 };
    put(&ops,
        "/* %s_ops.h: the ops the model %s uses, written by `fgq export --c`; do not edit.\n"
        " * Build the runtime with -DFGQ_OP_SELECTION='\"%s_ops.h\"' (runtime/ops/op_table.c). */\n"
        "#ifndef %s_OPS_H_\n#define %s_OPS_H_\n",
        name, src, name, up, up);
    for (int op = 0; op < FGQ_OP_COUNT_; op++) {
        const char *key = fgq_op_key((fgq_op)op);
        if (key != NULL)
            put(&ops, "#define FGQ_OP_ON_%s %d\n", key, used[op]);
    }
    put(&ops,
        "/* Its QCONV / QGEMM (and _DYN) weights and activations (runtime/ops/op_select.h): a 0 leaves the\n"
        " * kernel code specialised for it out of the build; such a model would still run, same bytes, slower. */\n"
        "#define FGQ_QW_ON_S8 %d        /* s8 weights */\n"
        "#define FGQ_QW_ON_S4 %d        /* s4 weights */\n"
        "#define FGQ_QW_ON_T2 %d        /* ternary weights */\n"
        "#define FGQ_QW_ON_S8_GROUPS %d /* s8 weights with group multipliers (s8:gN) */\n"
        "#define FGQ_QW_ON_T2_SPLIT %d  /* ternary weights with two multipliers a group (asym) */\n"
        "#define FGQ_QX_ON_S8 %d        /* s8 activations into them */\n",
        qw_s8, qw_s4, qw_t2, qw_s8_groups, qw_t2_split, qx_s8);
    put(&ops,
        "/* The paths its QCONV nodes take on a %s core with the DSP rows (runtime/ops/op_select.h): a 0\n"
        " * leaves that path's code out; a layer that needs it anyway takes the next path kept, or fails to load. */\n"
        "#define FGQ_QCONV_ON_DW_PHASES %d /* depthwise, phase form */\n"
        "#define FGQ_QCONV_ON_DW_ROWS %d   /* depthwise, row form */\n"
        "#define FGQ_QCONV_ON_GEMM %d      /* im2col + GEMM */\n"
        "#define FGQ_QCONV_ON_REF %d       /* the reference convolution */\n",
        fgq_model_target(m)->name, (qconv_paths & FGQ_QCONV_PATH_DW_PHASES) != 0,
        (qconv_paths & FGQ_QCONV_PATH_DW_ROWS) != 0, (qconv_paths & FGQ_QCONV_PATH_GEMM) != 0,
        (qconv_paths & FGQ_QCONV_PATH_REF) != 0);
    put(&ops, "#endif /* %s_OPS_H_ */\n", up);

    if (h.failed || body.failed || ops.failed) {
        free(h.p);
        free(body.p);
        free(ops.p);
        return fgq_fail(err, FGQ_ERR_NOMEM, "cannot allocate the C source of a %llu-byte model",
                        (unsigned long long)size);
    }
    out->c_text = body.p;
    out->c_len = body.len;
    out->h_text = h.p;
    out->h_len = h.len;
    out->ops_text = ops.p;
    out->ops_len = ops.len;
    return FGQ_OK;
}
