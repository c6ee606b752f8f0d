/*
 * fgq_compact.h — a loaded .fgq model re-laid as a device image (`fgq export --c`): the same
 * tensor and node records, index and names, but
 *   - constant blobs packed at `align` bytes (8..64, a power of two) instead of 64;
 *   - quantization parameters (per-channel scales and zero points) kept only for the graph's
 *     inputs and outputs: the runtime's ops never read them (requantization carries its own
 *     multipliers); the tools do (`export --onnx`, `compare`, the Python package), so .fgq files
 *     keep them all;
 *   - the metadata blob's recipe (how the model was made) dropped, its preprocessing kept;
 *   - QGEMM's / QGEMM_DYN's WSUM (each weight row's sum: a cache of the weights that the x86
 *     kernels read, docs/quantized-ops.md §3.1) dropped unless keep_wsum: the node's input
 *     becomes omitted (−1) and the constant an empty one (its dim 0, no blob), 4 bytes a weight
 *     row fewer (the MLPerf Tiny autoencoder's ten dense layers: ~7 KB).
 * The result loads and runs bit for bit as the source does (tests/test_quantize.c
 * test_device_image and tests/python/test_device.py check it)
 * and is smaller by what the MLPerf Tiny models showed to weigh most beside their weights.
 *
 * m: loaded (fgq_model_load / _target); keep_wsum: the image's target reads WSUM
 * (fgq_target.qgemm_wsum). *out: malloc'd, 64-byte aligned (free with free()),
 * only on FGQ_OK. FGQ_ERR_VALUE for a bad align; FGQ_ERR_NOMEM.
 */
#ifndef FGQ_COMPACT_H
#define FGQ_COMPACT_H

#include "fgq_runtime.h"

#include <stdint.h>

fgq_status fgq_compact_model(const fgq_model *m, uint32_t align, int keep_wsum, uint8_t **out, uint64_t *out_size,
                             fgq_error *err);

#endif /* FGQ_COMPACT_H */
