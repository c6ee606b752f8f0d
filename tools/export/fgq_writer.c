/* fgq_writer.c — lowered graph → .fgq bytes: tables, index, strings, blobs, arena plan, checksum. */
#include "export/fgq_writer.h"

#include "export/fgq_le.h"

#include "fgq_format.h"
#include "fgq_runtime.h"
#include "fileutil.h"
#include "lower/lower.h"
#include "plan.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records are encoded field by field, little-endian, at the offsets of the
 * fgq_format.h structs (fgq_le.h), so the bytes do not depend on the host. */
static uint64_t align64(uint64_t x)
{
    return (x + 63u) & ~(uint64_t)63u;
}

/* Bytes of a tensor's data: packed for sub-byte types. */
static int64_t tensor_bytes(const fgq_ir_tensor *t)
{
    int64_t n = fgq_ir_tensor_numel(t);
    if (n < 0)
        return -1;
    if (t->dtype == FGQ_DT_T2 || t->dtype == FGQ_DT_S2)
        return (n + 3) / 4;
    if (t->dtype == FGQ_DT_S4)
        return (n + 1) / 2;
    if (t->dtype == FGQ_DT_S3)
        return (n * 3 + 7) / 8; /* rows of whole 3-byte units: n·3/8 exactly */
    size_t es = fgq_dtype_size(t->dtype);
    if (es == 0 || n > INT64_MAX / (int64_t)es)
        return -1;
    return n * (int64_t)es;
}

typedef struct {
    const fgq_graph *g;
    fgq_lowered_node *low;  /* n_nodes */
    int32_t *fidx;          /* IR tensor → file tensor, -1 if not written */
    int32_t *irt;           /* file tensor → IR tensor */
    int32_t n_ft;
    int32_t *first, *last;  /* per file tensor lifetime */
    uint64_t *arena_off;
    const fgq_model_preprocess *pre; /* NULL: no preprocessing in the metadata blob */
    const char *recipe;              /* NULL: no recipe; neither: no blob */
} writer;

/* Parameters a node record carries: up to the last non-zero one (the reader reads the rest as 0). */
static int32_t n_iparams_of(const fgq_lowered_node *l)
{
    int32_t n = FGQ_NODE_MAX_IPARAMS;
    while (n > 0 && l->iparams[n - 1] == 0)
        n--;
    return n;
}
static int32_t n_fparams_of(const fgq_lowered_node *l)
{
    int32_t n = FGQ_NODE_MAX_FPARAMS;
    uint32_t bits = 0;
    while (n > 0 && (memcpy(&bits, &l->fparams[n - 1], 4), bits == 0))
        n--;
    return n;
}

static void mark(writer *w, int32_t t)
{
    if (t >= 0 && w->fidx[t] < 0) {
        w->fidx[t] = w->n_ft;
        w->irt[w->n_ft++] = t;
    }
}

static fgq_status build(writer *w, uint8_t **out_buf, uint64_t *out_size, fgq_error *err)
{
    const fgq_graph *g = w->g;
    const char *src = g->source_path ? g->source_path : "model";
    int32_t nn = g->n_nodes;
    /* Every node is lowered before giving up, so one message lists every op
     * type that stops the model (a user fixing the first would meet the next). */
    fgq_status first = FGQ_OK;
    const char *seen[32];
    int32_t n_seen = 0, n_more = 0;
    char more[768] = "";
    size_t used = 0;
    for (int32_t i = 0; i < nn; i++) {
        fgq_error e2;
        fgq_error_clear(&e2);
        fgq_status st = fgq_lower_node(g, i, &w->low[i], first == FGQ_OK ? err : &e2);
        if (st == FGQ_OK)
            continue;
        if (first == FGQ_OK && st != FGQ_ERR_UNSUPPORTED)
            return st;
        if (st != FGQ_ERR_UNSUPPORTED)
            continue;
        int dup = 0;
        for (int32_t j = 0; j < n_seen && !dup; j++)
            dup = strcmp(seen[j], g->nodes[i].op_type) == 0;
        if (!dup && n_seen < (int32_t)(sizeof seen / sizeof seen[0]))
            seen[n_seen++] = g->nodes[i].op_type;
        if (first == FGQ_OK) {
            first = st;
            continue;
        }
        if (dup)
            continue;
        n_more++;
        if (used < sizeof more - 1) {
            int wr = snprintf(more + used, sizeof more - used, "%s%s (node '%s')", used ? ", " : "",
                              g->nodes[i].op_type, g->nodes[i].name);
            used += wr > 0 ? (size_t)wr : 0;
        }
    }
    if (first != FGQ_OK && (err == NULL || err->status != first))
        return first; /* no message of ours to extend */
    if (first != FGQ_OK) {
        if (strncmp(err->msg, src, strlen(src)) != 0) { /* name the file */
            char msg[FGQ_ERROR_MSG_LEN];
            size_t at = 0;
            for (const char *p = src; *p != '\0' && at + 3 < sizeof msg; p++)
                msg[at++] = *p;
            msg[at++] = ':';
            msg[at++] = ' ';
            for (const char *p = err->msg; *p != '\0' && at + 1 < sizeof msg; p++)
                msg[at++] = *p;
            msg[at] = '\0';
            memcpy(err->msg, msg, sizeof msg);
        }
        if (n_more > 0) {
            const char *tail = "; also not supported: ";
            size_t at = strlen(err->msg);
            for (const char *p = tail; *p != '\0' && at + 1 < sizeof err->msg; p++)
                err->msg[at++] = *p;
            for (const char *p = more; *p != '\0' && at + 1 < sizeof err->msg; p++)
                err->msg[at++] = *p;
            err->msg[at] = '\0';
        }
        return first;
    }
    for (int32_t i = 0; i < g->n_inputs; i++)
        mark(w, g->inputs[i]);
    for (int32_t i = 0; i < nn; i++) {
        for (int32_t k = 0; k < w->low[i].n_inputs; k++)
            mark(w, w->low[i].inputs[k]);
        for (int32_t k = 0; k < w->low[i].n_outputs; k++)
            mark(w, w->low[i].outputs[k]);
    }
    for (int32_t i = 0; i < g->n_outputs; i++)
        mark(w, g->outputs[i]);
    if (w->n_ft > FGQ_MAX_TENSORS || nn > FGQ_MAX_NODES)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: %d tensors / %d nodes exceed the runtime limits (%d / %d)", src,
                        (int)w->n_ft, (int)nn, FGQ_MAX_TENSORS, FGQ_MAX_NODES);

    /* Lifetimes (fgq_runtime.h): producer step .. last reader, graph outputs to the end. */
    int32_t last_step = nn > 0 ? nn - 1 : 0;
    for (int32_t f = 0; f < w->n_ft; f++) {
        const fgq_ir_tensor *t = &g->tensors[w->irt[f]];
        w->first[f] = t->kind == FGQ_TK_CONST ? -1 : (t->kind == FGQ_TK_INPUT ? 0 : -2);
        w->last[f] = w->first[f];
        if (t->rank < 0 || t->rank > FGQ_MAX_DIMS || t->dtype == FGQ_DT_UNDEF || tensor_bytes(t) < 0)
            return fgq_fail(err, FGQ_ERR_SHAPE, "%s: tensor '%s' has no static shape / dtype (run shape inference)",
                            src, t->name);
        if (t->kind == FGQ_TK_CONST && t->data == NULL && tensor_bytes(t) > 0)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: constant '%s' has no data", src, t->name);
    }
    for (int32_t i = 0; i < nn; i++)
        for (int32_t k = 0; k < w->low[i].n_outputs; k++) {
            int32_t f = w->fidx[w->low[i].outputs[k]];
            if (g->tensors[w->irt[f]].kind != FGQ_TK_INTERMEDIATE)
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: node '%s' writes '%s', which is an input or constant", src,
                                g->nodes[i].name, g->tensors[w->irt[f]].name);
            if (w->first[f] != -2)
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: tensor '%s' has two producers", src,
                                g->tensors[w->irt[f]].name);
            w->first[f] = w->last[f] = i;
        }
    for (int32_t i = 0; i < nn; i++)
        for (int32_t k = 0; k < w->low[i].n_inputs; k++) {
            int32_t t = w->low[i].inputs[k];
            if (t < 0)
                continue;
            int32_t f = w->fidx[t];
            if (w->first[f] == -2 || (w->first[f] >= 0 && w->first[f] > i) ||
                (g->tensors[t].kind == FGQ_TK_INTERMEDIATE && w->first[f] == i))
                return fgq_fail(err, FGQ_ERR_FORMAT, "%s: node '%s' reads '%s' before it is produced", src,
                                g->nodes[i].name, g->tensors[t].name);
            if (w->first[f] >= 0 && w->last[f] < i)
                w->last[f] = i;
        }
    for (int32_t i = 0; i < g->n_outputs; i++) {
        int32_t f = w->fidx[g->outputs[i]];
        if (w->first[f] == -2)
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: graph output '%s' is produced by no node", src,
                            g->tensors[g->outputs[i]].name);
        if (w->first[f] >= 0)
            w->last[f] = last_step;
    }

    /* Arena plan over inputs and intermediates. */
    fgq_plan_tensor *pt = calloc((size_t)(w->n_ft ? w->n_ft : 1), sizeof *pt);
    int32_t *pmap = calloc((size_t)(w->n_ft ? w->n_ft : 1), sizeof *pmap);
    int32_t np = 0;
    uint64_t arena_size = 0;
    if (pt == NULL || pmap == NULL) {
        free(pt);
        free(pmap);
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory planning the arena", src);
    }
    for (int32_t f = 0; f < w->n_ft; f++) {
        if (w->first[f] < 0)
            continue;
        pt[np].size_bytes = (uint64_t)tensor_bytes(&g->tensors[w->irt[f]]);
        pt[np].first_use = w->first[f];
        pt[np].last_use = w->last[f];
        pmap[np++] = f;
    }
    uint64_t scratch_size = fgq_plan_scratch_size(np);
    void *scratch = malloc(scratch_size ? (size_t)scratch_size : 1);
    fgq_status st = scratch == NULL ? fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory planning the arena", src)
                                    : fgq_plan(pt, np, scratch, scratch_size, &arena_size, NULL, err);
    free(scratch);
    if (st == FGQ_OK && arena_size > FGQ_WRITER_MAX_ARENA_BYTES) {
        /* a model no machine fgq targets can run: say which tensor makes it so */
        int32_t big = 0;
        for (int32_t j = 1; j < np; j++)
            if (pt[j].size_bytes > pt[big].size_bytes)
                big = j;
        const fgq_ir_tensor *bt = &g->tensors[w->irt[pmap[big]]];
        st = fgq_fail(err, FGQ_ERR_SHAPE,
                      "%s: the activations need an arena of %.1f GiB, over fgq's limit of %.0f GiB; the largest "
                      "tensor, '%s', alone takes %.1f GiB (are the input's declared dimensions right? --batch?)",
                      src, (double)arena_size / 1073741824.0, (double)FGQ_WRITER_MAX_ARENA_BYTES / 1073741824.0,
                      bt->name, (double)pt[big].size_bytes / 1073741824.0);
    }
    if (st == FGQ_OK)
        for (int32_t j = 0; j < np; j++)
            w->arena_off[pmap[j]] = pt[j].offset;
    free(pt);
    free(pmap);
    if (st != FGQ_OK)
        return st;

    /* Layout: header, tensors, nodes, index, strings, blobs — each 64-aligned. The index holds
     * the nodes' io lists, the graph inputs and outputs, the tensors' dims, the nodes' parameters. */
    uint64_t n_index = (uint64_t)g->n_inputs + (uint64_t)g->n_outputs;
    uint64_t strings_size = 0;
    for (int32_t i = 0; i < nn; i++) {
        const fgq_lowered_node *l = &w->low[i];
        n_index += (uint64_t)l->n_inputs + (uint64_t)l->n_outputs + (uint64_t)n_iparams_of(l) +
                   (uint64_t)n_fparams_of(l);
        strings_size += strlen(g->nodes[i].name);
        if (strlen(g->nodes[i].name) > UINT16_MAX || (uint32_t)l->op > UINT16_MAX || l->n_inputs > UINT8_MAX ||
            l->n_outputs > UINT8_MAX)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED,
                            "%s: node '%.64s': a name over %u bytes, an op number over %u or over %u inputs or outputs",
                            src, g->nodes[i].name, UINT16_MAX, UINT16_MAX, UINT8_MAX);
    }
    for (int32_t f = 0; f < w->n_ft; f++) {
        const fgq_ir_tensor *t = &g->tensors[w->irt[f]];
        strings_size += strlen(t->name);
        n_index += (uint64_t)t->rank;
        if (strlen(t->name) > UINT16_MAX)
            return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: tensor '%.64s...': a name over %u bytes", src, t->name,
                            UINT16_MAX);
        for (int32_t d = 0; d < t->rank; d++)
            if (t->dims[d] > INT32_MAX)
                return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: tensor '%s': dim %d is %lld, over 2^31 - 1", src,
                                t->name, (int)d, (long long)t->dims[d]);
        if (t->q.n_scales > 1 && (t->q.axis < 0 || t->q.axis >= t->rank))
            return fgq_fail(err, FGQ_ERR_FORMAT, "%s: tensor '%s': scales along axis %d of rank %d", src, t->name,
                            (int)t->q.axis, (int)t->rank);
    }
    if (n_index > (uint64_t)INT32_MAX)
        return fgq_fail(err, FGQ_ERR_UNSUPPORTED, "%s: %llu index entries, over 2^31 - 1", src,
                        (unsigned long long)n_index);
    uint64_t tensors_off = 128;
    uint64_t nodes_off = align64(tensors_off + (uint64_t)w->n_ft * sizeof(fgq_disk_tensor));
    uint64_t index_off = align64(nodes_off + (uint64_t)nn * sizeof(fgq_disk_node));
    uint64_t strings_off = align64(index_off + 4 * n_index);
    uint64_t blob = align64(strings_off + strings_size);
    if (blob > UINT32_MAX)
        return fgq_fail(err, FGQ_ERR_VALUE, "%s: tables exceed the format's 4 GiB section offsets", src);
    uint64_t file_size = blob;
    for (int32_t f = 0; f < w->n_ft; f++) {
        const fgq_ir_tensor *t = &g->tensors[w->irt[f]];
        if (t->kind == FGQ_TK_CONST)
            file_size = align64(file_size) + (uint64_t)tensor_bytes(t);
        if (t->q.n_scales > 0)
            file_size = align64(file_size) + (uint64_t)t->q.n_scales * 8;
    }
    uint64_t meta_off = 0, meta_size = sizeof(fgq_file_meta);
    const uint64_t recipe_len = w->recipe != NULL ? strlen(w->recipe) : 0;
    if (w->recipe != NULL)
        meta_size += 4 + recipe_len;
    if (w->pre != NULL || w->recipe != NULL) {
        meta_off = align64(file_size);
        file_size = meta_off + meta_size;
        if (meta_off > UINT32_MAX)
            return fgq_fail(err, FGQ_ERR_VALUE, "%s: the metadata blob is past the format's 4 GiB offsets", src);
    }
    file_size = align64(file_size);
    uint8_t *buf = aligned_alloc(64, (size_t)file_size);
    if (buf == NULL)
        return fgq_fail(err, FGQ_ERR_NOMEM, "%s: cannot allocate %llu bytes for the model", src,
                        (unsigned long long)file_size);
    memset(buf, 0, (size_t)file_size);

    uint64_t spos = strings_off, bpos = blob, ipos = 0;
    uint8_t *index = buf + index_off;
    /* the index: io lists, graph inputs and outputs first, then dims and parameters */
    for (int32_t i = 0; i < nn; i++) {
        const fgq_lowered_node *l = &w->low[i];
        uint8_t *r = buf + nodes_off + (uint64_t)i * sizeof(fgq_disk_node);
        FGQ_W32(r, fgq_disk_node, io_index, ipos);
        for (int32_t k = 0; k < l->n_inputs; k++)
            fgq_put_s32(index + 4 * ipos++, l->inputs[k] < 0 ? -1 : w->fidx[l->inputs[k]]);
        for (int32_t k = 0; k < l->n_outputs; k++)
            fgq_put_s32(index + 4 * ipos++, w->fidx[l->outputs[k]]);
    }
    uint64_t inputs_index = ipos;
    for (int32_t i = 0; i < g->n_inputs; i++)
        fgq_put_s32(index + 4 * ipos++, w->fidx[g->inputs[i]]);
    uint64_t outputs_index = ipos;
    for (int32_t i = 0; i < g->n_outputs; i++)
        fgq_put_s32(index + 4 * ipos++, w->fidx[g->outputs[i]]);
    for (int32_t f = 0; f < w->n_ft; f++) {
        const fgq_ir_tensor *t = &g->tensors[w->irt[f]];
        uint8_t *r = buf + tensors_off + (uint64_t)f * sizeof(fgq_disk_tensor);
        size_t nl = strlen(t->name);
        memcpy(buf + spos, t->name, nl);
        FGQ_W32(r, fgq_disk_tensor, name_off, spos - strings_off);
        FGQ_W16(r, fgq_disk_tensor, name_len, nl);
        spos += nl;
        FGQ_W8(r, fgq_disk_tensor, dtype, t->dtype);
        FGQ_W8(r, fgq_disk_tensor, kind, t->kind);
        FGQ_W8(r, fgq_disk_tensor, rank, t->rank);
        uint32_t flags = 0;
        for (int32_t i = 0; i < g->n_outputs; i++)
            if (g->outputs[i] == w->irt[f])
                flags = FGQ_FT_GRAPH_OUTPUT;
        FGQ_W8(r, fgq_disk_tensor, flags, flags);
        FGQ_W32(r, fgq_disk_tensor, dims_index, ipos);
        for (int32_t d = 0; d < t->rank; d++)
            fgq_put_s32(index + 4 * ipos++, (int32_t)t->dims[d]);
        uint64_t bytes = (uint64_t)tensor_bytes(t);
        if (t->kind == FGQ_TK_CONST) {
            bpos = align64(bpos);
            if (bytes)
                memcpy(buf + bpos, t->data, (size_t)bytes);
            FGQ_W64(r, fgq_disk_tensor, data_off, bpos);
            bpos += bytes;
        } else {
            FGQ_W64(r, fgq_disk_tensor, data_off, w->arena_off[f]);
        }
        FGQ_W64(r, fgq_disk_tensor, data_size, bytes);
        FGQ_WS32(r, fgq_disk_tensor, first_node, w->first[f]);
        FGQ_WS32(r, fgq_disk_tensor, last_node, w->last[f]);
        if (t->q.n_scales > 0) {
            bpos = align64(bpos);
            FGQ_W64(r, fgq_disk_tensor, q_off, bpos);
            for (int32_t s = 0; s < t->q.n_scales; s++) {
                fgq_put_f32(buf + bpos + 4 * (uint64_t)s, t->q.scales[s]);
                fgq_put_s32(buf + bpos + 4 * ((uint64_t)t->q.n_scales + (uint64_t)s),
                        t->q.zero_points ? t->q.zero_points[s] : 0);
            }
            bpos += 8 * (uint64_t)t->q.n_scales;
        }
        FGQ_WS32(r, fgq_disk_tensor, q_n_scales, t->q.n_scales);
        /* an int8 on disk: several scales' axis is in [0, rank) (checked above); one scale's is not read */
        const int32_t qa = t->q.axis >= INT8_MIN && t->q.axis <= INT8_MAX ? t->q.axis : 0;
        FGQ_W8(r, fgq_disk_tensor, q_axis, (uint8_t)(qa & 0xff));
        FGQ_WS32(r, fgq_disk_tensor, q_group_size, t->q.group_size);
    }
    for (int32_t i = 0; i < nn; i++) {
        const fgq_lowered_node *l = &w->low[i];
        uint8_t *r = buf + nodes_off + (uint64_t)i * sizeof(fgq_disk_node);
        size_t nl = strlen(g->nodes[i].name);
        memcpy(buf + spos, g->nodes[i].name, nl);
        FGQ_W32(r, fgq_disk_node, name_off, spos - strings_off);
        FGQ_W16(r, fgq_disk_node, name_len, nl);
        spos += nl;
        FGQ_W16(r, fgq_disk_node, op, l->op);
        FGQ_W8(r, fgq_disk_node, n_inputs, l->n_inputs);
        FGQ_W8(r, fgq_disk_node, n_outputs, l->n_outputs);
        const int32_t ni = n_iparams_of(l), nf = n_fparams_of(l);
        FGQ_W8(r, fgq_disk_node, n_iparams, ni);
        FGQ_W8(r, fgq_disk_node, n_fparams, nf);
        FGQ_W32(r, fgq_disk_node, params_index, ipos);
        for (int32_t k = 0; k < ni; k++)
            fgq_put_s32(index + 4 * ipos++, l->iparams[k]);
        for (int32_t k = 0; k < nf; k++)
            fgq_put_f32(index + 4 * ipos++, l->fparams[k]);
    }

    uint8_t *h = buf;
    memcpy(h, FGQ_FILE_MAGIC, 8);
    FGQ_W32(h, fgq_file_header, version, FGQ_FILE_VERSION);
    FGQ_W64(h, fgq_file_header, file_size, file_size);
    FGQ_W32(h, fgq_file_header, n_tensors, w->n_ft);
    FGQ_W32(h, fgq_file_header, n_nodes, nn);
    FGQ_W32(h, fgq_file_header, n_inputs, g->n_inputs);
    FGQ_W32(h, fgq_file_header, n_outputs, g->n_outputs);
    FGQ_W32(h, fgq_file_header, tensors_off, tensors_off);
    FGQ_W32(h, fgq_file_header, nodes_off, nodes_off);
    FGQ_W32(h, fgq_file_header, index_off, index_off);
    FGQ_W32(h, fgq_file_header, n_index, n_index);
    FGQ_W32(h, fgq_file_header, strings_off, strings_off);
    FGQ_W32(h, fgq_file_header, strings_size, strings_size);
    FGQ_W32(h, fgq_file_header, inputs_index, inputs_index);
    FGQ_W32(h, fgq_file_header, outputs_index, outputs_index);
    FGQ_W64(h, fgq_file_header, arena_size, arena_size);
    FGQ_W32(h, fgq_file_header, blob_align, FGQ_FILE_ALIGN);
    if (w->pre != NULL || w->recipe != NULL) {
        uint8_t *mt = buf + meta_off;
        fgq_model_preprocess none;
        memset(&none, 0, sizeof none);
        none.scale = 1.0f;
        none.channel_axis = -1;
        const fgq_model_preprocess *p = w->pre != NULL ? w->pre : &none;
        FGQ_W32(h, fgq_file_header, meta_off, meta_off);
        FGQ_W32(h, fgq_file_header, meta_size, meta_size);
        FGQ_W32(mt, fgq_file_meta, version, FGQ_META_VERSION);
        FGQ_W32(mt, fgq_file_meta, flags,
            (w->pre != NULL ? FGQ_META_HAS_PREPROCESS : 0u) | (w->recipe != NULL ? FGQ_META_HAS_RECIPE : 0u));
        if (w->recipe != NULL) {
            uint8_t *r = mt + sizeof(fgq_file_meta);
            fgq_put_u32(r, (uint32_t)recipe_len);
            memcpy(r + 4, w->recipe, (size_t)recipe_len);
        }
        fgq_put_f32(mt + offsetof(fgq_file_meta, scale), p->scale);
        FGQ_WS32(mt, fgq_file_meta, n_mean, p->n_mean);
        FGQ_WS32(mt, fgq_file_meta, n_std, p->n_std);
        FGQ_WS32(mt, fgq_file_meta, channel_axis, p->channel_axis);
        for (int32_t c = 0; c < p->n_mean; c++)
            fgq_put_f32(mt + offsetof(fgq_file_meta, mean) + 4 * (size_t)c, p->mean[c]);
        for (int32_t c = 0; c < p->n_std; c++)
            fgq_put_f32(mt + offsetof(fgq_file_meta, std) + 4 * (size_t)c, p->std[c]);
    }
    FGQ_W32(h, fgq_file_header, checksum, fgq_fnv1a32(buf + 128, file_size - 128));
    *out_buf = buf;
    *out_size = file_size;
    return FGQ_OK;
}

fgq_status fgq_write_model(const fgq_graph *g, uint8_t **out_buf, uint64_t *out_size, fgq_error *err)
{
    return fgq_write_model_meta(g, NULL, out_buf, out_size, err);
}

static int finite_f(float v)
{
    return v == v && v - v == 0.0f;
}

fgq_status fgq_write_model_meta(const fgq_graph *g, const fgq_model_preprocess *pre, uint8_t **out_buf,
                                uint64_t *out_size, fgq_error *err)
{
    return fgq_write_model_recipe(g, pre, NULL, out_buf, out_size, err);
}

fgq_status fgq_write_model_recipe(const fgq_graph *g, const fgq_model_preprocess *pre, const char *recipe,
                                  uint8_t **out_buf, uint64_t *out_size, fgq_error *err)
{
    *out_buf = NULL;
    *out_size = 0;
    if (g == NULL)
        return fgq_fail(err, FGQ_ERR_VALUE, "fgq_write_model: no graph");
    size_t nt = (size_t)(g->n_tensors ? g->n_tensors : 1);
    writer w;
    memset(&w, 0, sizeof w);
    w.g = g;
    w.pre = pre;
    w.recipe = recipe;
    if (recipe != NULL && strlen(recipe) > FGQ_META_RECIPE_MAX)
        return fgq_fail(err, FGQ_ERR_VALUE, "model metadata: a recipe of %zu bytes (at most %u)", strlen(recipe),
                        FGQ_META_RECIPE_MAX);
    if (pre != NULL) {
        int ok = pre->n_mean >= 0 && pre->n_mean <= FGQ_META_MAX_CH && pre->n_std >= 0 &&
                 pre->n_std <= FGQ_META_MAX_CH && pre->channel_axis >= -1 && pre->channel_axis < FGQ_MAX_DIMS &&
                 finite_f(pre->scale) && pre->scale != 0.0f;
        for (int32_t c = 0; ok && c < pre->n_mean; c++)
            ok = finite_f(pre->mean[c]);
        for (int32_t c = 0; ok && c < pre->n_std; c++)
            ok = finite_f(pre->std[c]) && pre->std[c] != 0.0f;
        if (!ok)
            return fgq_fail(err, FGQ_ERR_VALUE, "model metadata: preprocessing counts or values out of range");
    }
    w.low = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *w.low);
    w.fidx = malloc(nt * sizeof *w.fidx);
    w.irt = malloc(nt * sizeof *w.irt);
    w.first = malloc(nt * sizeof *w.first);
    w.last = malloc(nt * sizeof *w.last);
    w.arena_off = calloc(nt, sizeof *w.arena_off);
    fgq_status st;
    if (w.low == NULL || w.fidx == NULL || w.irt == NULL || w.first == NULL || w.last == NULL || w.arena_off == NULL) {
        st = fgq_fail(err, FGQ_ERR_NOMEM, "out of memory writing the model");
    } else {
        for (size_t t = 0; t < nt; t++)
            w.fidx[t] = -1;
        st = build(&w, out_buf, out_size, err);
    }
    free(w.low);
    free(w.fidx);
    free(w.irt);
    free(w.first);
    free(w.last);
    free(w.arena_off);
    return st;
}

fgq_status fgq_write_model_file(const fgq_graph *g, const char *path, fgq_error *err)
{
    return fgq_write_model_file_meta(g, NULL, path, err);
}

fgq_status fgq_write_model_file_meta(const fgq_graph *g, const fgq_model_preprocess *pre, const char *path,
                                     fgq_error *err)
{
    return fgq_write_model_file_recipe(g, pre, NULL, path, err);
}

fgq_status fgq_write_model_file_recipe(const fgq_graph *g, const fgq_model_preprocess *pre, const char *recipe,
                                       const char *path, fgq_error *err)
{
    uint8_t *buf;
    uint64_t size;
    fgq_status st = fgq_write_model_recipe(g, pre, recipe, &buf, &size, err);
    if (st != FGQ_OK)
        return st;
    st = fgq_write_file_atomic(path, buf, (size_t)size, err);
    free(buf);
    return st;
}
