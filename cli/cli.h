/*
 * cli.h — the fgq command: one function per subcommand, shared exit codes,
 * and small helpers every subcommand uses (flag parsing, error printing).
 */
#ifndef FGQ_CLI_H
#define FGQ_CLI_H

#include "fgq_runtime.h"
#include "fgq_types.h"
#include "graph.h"
#include "run/run_graph.h"
#include "data/data.h"

#include <stdint.h>
#include <stdio.h>

/* Exit codes: 0 success; 1 internal failure (out of memory, a bug);
 * 2 bad usage or bad input (a clear message names the file/node/reason). */
enum { FGQ_EXIT_OK = 0, FGQ_EXIT_INTERNAL = 1, FGQ_EXIT_BAD = 2 };

/* Each subcommand gets argv starting at its own name (argv[0] = "inspect"). */
int fgq_cmd_inspect(int argc, char **argv);
int fgq_cmd_weights(int argc, char **argv);
int fgq_cmd_convert(int argc, char **argv);
int fgq_cmd_run(int argc, char **argv);
int fgq_cmd_eval(int argc, char **argv);
int fgq_cmd_bench(int argc, char **argv);
int fgq_cmd_quantize(int argc, char **argv);
int fgq_cmd_export(int argc, char **argv);
int fgq_cmd_report(int argc, char **argv);

/* Maps a library status to the exit code the CLI promises. */
int fgq_cli_exit_code(fgq_status st);
/* Prints "fgq <cmd>: <msg>" to stderr and returns fgq_cli_exit_code(err->status). */
int fgq_cli_report(const char *cmd, const fgq_error *err);
/* Prints "fgq <cmd>: <printf message>\nTry 'fgq <cmd> --help'." and returns FGQ_EXIT_BAD. */
int fgq_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* True if argv contains -h or --help. */
int fgq_cli_wants_help(int argc, char **argv);

/* Imports an ONNX model, binds symbolic dims to `batch`, infers static shapes
 * and, if `optimize`, runs the graph passes (BatchNorm folding, activation
 * fusion, constant folding), refusing NaN weights first. Honours FGQ_MAX_MODEL_BYTES (a lower file size
 * limit). On failure *out is untouched and err says why. */
fgq_status fgq_cli_load_onnx(const char *path, int64_t batch, int optimize, fgq_graph **out,
                             fgq_error *err);
/* What fgq_cli_load_onnx does after the import, on a graph imported some
 * other way (fuzz/fuzz_onnx_import.c: from memory): shapes, then, if
 * `optimize`, the NaN check, the passes and shapes again. */
fgq_status fgq_cli_prepare_graph(fgq_graph *g, int optimize, fgq_error *err);
/* Opens MODEL for running: a .fgq file (recognised by its magic) is read and
 * loaded as it is; anything else is imported as ONNX, optimized and lowered
 * in memory. threads > 1 gives the runner a pool of that many threads. On
 * failure r is left freed. */
fgq_status fgq_cli_open_model(const char *path, int64_t batch, int64_t threads, fgq_graph_runner *r,
                              fgq_error *err);
/* 1 if the file at path starts with the .fgq magic. */
int fgq_cli_is_fgq_file(const char *path);
/* Fills *pre with the preprocessing a .fgq stores (fgq quantize writes the
 * calibration's), so run and eval feed data as calibration did; returns 0 and
 * leaves *pre alone when the model stores none. */
int fgq_cli_stored_preprocess(const fgq_model *m, fgq_preprocess *pre);
/* Refuses (usage error, exit 2) an output path that names the same file as one
 * of the n inputs (same device and inode, so links and other spellings count
 * too): writing it would destroy the input. Returns 0 when out is distinct
 * from all of them (or does not exist yet), else the exit code to return. */
int fgq_cli_output_clashes(const char *cmd, const char *out, const char *const *inputs, int n);
/* How many model inputs (graph input `info`) an array of that shape holds: its
 * shape must be the input's, or the input's with the first axis a multiple of
 * it (a stack), or the input's without leading axes of size 1 (one sample,
 * e.g. [1,28,28] for [1,1,28,28]). -1 when it is none of these: an array with
 * the right element count in another layout (NHWC for NCHW) must not run
 * silently. `fgq run` and the Python module's Model.run feed arrays by it. */
int64_t fgq_cli_input_reps(int32_t rank, const int64_t *dims, int64_t numel, const fgq_tensor_info *info);
/* A 4-D array that is the input's NCHW shape in NHWC order (for the message). */
int fgq_cli_looks_nhwc(int32_t rank, const int64_t *dims, const fgq_tensor_info *info);
/* A table column's width: the larger of `width` and strlen(name) + extra
 * (names longer than 200 characters widen it no further). */
int fgq_cli_width(int width, const char *name, int extra);
/* Parses a decimal integer in [lo, hi]; returns 0 if text is not one. */
int fgq_cli_parse_i64(const char *text, int64_t lo, int64_t hi, int64_t *out);
/* "1x1x28x28" ("?" when unknown, "scalar" for rank 0) into buf: of rank
 * dims, or of tensor t. */
void fgq_cli_format_dims(int32_t rank, const int64_t *dims, char *buf, size_t len);
void fgq_cli_format_shape(const fgq_ir_tensor *t, char *buf, size_t len);

#endif /* FGQ_CLI_H */
