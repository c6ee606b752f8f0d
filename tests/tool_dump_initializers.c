/*
 * tool_dump_initializers MODEL.onnx OUTDIR — dumps what fgq's ONNX import read,
 * so tests/python/test_import.py can compare it with the onnx package's parse.
 *
 * OUTDIR/manifest.tsv, one record per line, tab-separated:
 *   nodes  <count>
 *   input  <name>  <dtype>  <dims, comma-separated>
 *   output <name>
 *   const  <index> <name>  <dtype>  <dims>     (data in OUTDIR/<index>.bin, host order)
 * Exit 0 on success, 2 if the import fails (message on stderr).
 */
#include "import/onnx_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_dims(FILE *f, const fgq_ir_tensor *t)
{
    for (int32_t d = 0; d < t->rank; d++)
        fprintf(f, d ? ",%lld" : "%lld", (long long)t->dims[d]);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.onnx OUTDIR\n", argv[0]);
        return 2;
    }
    fgq_error err = {FGQ_OK, ""};
    fgq_graph *g = NULL;
    if (fgq_onnx_load(argv[1], NULL, &g, &err) != FGQ_OK) {
        fprintf(stderr, "%s: %s\n", fgq_status_name(err.status), err.msg);
        return 2;
    }
    size_t plen = strlen(argv[2]) + 64;
    char *p = malloc(plen);
    snprintf(p, plen, "%s/manifest.tsv", argv[2]);
    FILE *m = fopen(p, "w");
    if (m == NULL) {
        fprintf(stderr, "cannot write %s\n", p);
        free(p);
        fgq_graph_free(g);
        return 2;
    }
    int rc = 0;
    fprintf(m, "nodes\t%d\n", (int)g->n_nodes);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const fgq_ir_tensor *t = &g->tensors[g->inputs[i]];
        fprintf(m, "input\t%s\t%s\t", t->name, fgq_dtype_name(t->dtype));
        put_dims(m, t);
        fprintf(m, "\n");
    }
    for (int32_t i = 0; i < g->n_outputs; i++)
        fprintf(m, "output\t%s\n", g->tensors[g->outputs[i]].name);
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const fgq_ir_tensor *t = &g->tensors[i];
        if (t->kind != FGQ_TK_CONST)
            continue;
        fprintf(m, "const\t%d\t%s\t%s\t", (int)i, t->name, fgq_dtype_name(t->dtype));
        put_dims(m, t);
        fprintf(m, "\n");
        snprintf(p, plen, "%s/%d.bin", argv[2], (int)i);
        FILE *f = fopen(p, "wb");
        size_t bytes = (size_t)fgq_ir_tensor_numel(t) * fgq_dtype_size(t->dtype);
        if (f == NULL || (bytes > 0 && fwrite(t->data, 1, bytes, f) != bytes))
            rc = 2;
        if (f != NULL)
            fclose(f);
    }
    fclose(m);
    free(p);
    fgq_graph_free(g);
    return rc;
}
