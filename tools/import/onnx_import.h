/*
 * onnx_import.h — reads an ONNX model (protobuf, via protobuf-c over ONNX's own
 * onnx.proto) into fgq's graph IR (graph.h).
 *
 * What comes out: graph inputs that are not initializers become FGQ_TK_INPUT
 * tensors (symbolic or unset dims bound to opt->sym_dim_value and flagged in
 * sym_dims); initializers and TENSOR attributes become FGQ_TK_CONST tensors
 * with data in host order (float16 and double are converted to f32); nodes are
 * returned in topological order, nameless nodes are called "<OpType>_<index>".
 * Shapes of intermediates are left unknown: run fgq_infer_shapes next.
 *
 * Errors (first failure wins, message names the file and node/tensor):
 *   FGQ_ERR_IO          missing/unreadable file, file over the size limit;
 *   FGQ_ERR_FORMAT      corrupt protobuf, no graph, unknown data type, data size
 *                       not matching dims, bad dims, dangling input, duplicate
 *                       producer, cycle, external data escaping the model's
 *                       folder or beyond its file;
 *   FGQ_ERR_SHAPE       declared dims (initializer, graph input) holding more
 *                       than FGQ_IR_MAX_ELEMS elements;
 *   FGQ_ERR_UNSUPPORTED element types fgq has no dtype for (string, int16, ...),
 *                       GRAPH / SPARSE_TENSOR / TENSORS / TYPE_PROTO attributes,
 *                       rank above FGQ_MAX_DIMS;
 *   FGQ_ERR_NOMEM.
 * NaN/Inf values are imported as they are (the quantizer reports them).
 */
#ifndef FGQ_ONNX_IMPORT_H
#define FGQ_ONNX_IMPORT_H

#include "graph.h"
#include "import/onnx_ops.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FGQ_ONNX_DEFAULT_MAX_BYTES ((int64_t)2 << 30) /* 2 GiB */

typedef struct {
    int64_t max_file_bytes; /* model (and .pb) file size limit; <= 0: FGQ_ONNX_DEFAULT_MAX_BYTES */
    int64_t sym_dim_value;  /* value bound to symbolic dims; <= 0: 1 */
} fgq_onnx_options;

/* Loads `path`; on success *out owns a new graph (free with fgq_graph_free).
 * opt may be NULL for the defaults. On failure *out is NULL. */
fgq_status fgq_onnx_load(const char *path, const fgq_onnx_options *opt, fgq_graph **out,
                         fgq_error *err);

/* The same from a serialized ModelProto already in memory (buf is only read;
 * len is held to opt->max_file_bytes like a file's size). `name` stands for
 * the file in messages and in graph->source_path (NULL: "<memory>"). There is
 * no folder to resolve external data in, so a tensor stored outside the model
 * is FGQ_ERR_UNSUPPORTED. */
fgq_status fgq_onnx_load_memory(const uint8_t *buf, size_t len, const char *name, const fgq_onnx_options *opt,
                                fgq_graph **out, fgq_error *err);

/* Reads a serialized TensorProto file (input_N.pb / output_N.pb of an ONNX test
 * data set) into *out: kind FGQ_TK_CONST, name (possibly ""), dtype, dims and
 * owned data. External data is resolved beside `path`. Release the owned
 * fields with fgq_onnx_tensor_release. On failure *out holds nothing. */
fgq_status fgq_onnx_load_tensor_file(const char *path, fgq_ir_tensor *out, fgq_error *err);
void fgq_onnx_tensor_release(fgq_ir_tensor *t);

/* fgq_onnx_dtype (ONNX TensorProto.DataType -> fgq dtype) and the op table: import/onnx_ops.h. */

#ifdef __cplusplus
}
#endif
#endif /* FGQ_ONNX_IMPORT_H */
