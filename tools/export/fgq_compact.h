/*
 * fgq_compact.h — a loaded .fgq model re-laid as a device image (`fgq export --c`): the same
 * tensor and node records, index and names, but
 *   - constant blobs packed at `align` bytes (8..64, a power of two) instead of 64;
 *   - quantization parameters (per-channel scales and zero points) kept only for the graph's
 *     inputs and outputs: the runtime's ops never read them (requantization carries its own
 *     multipliers); the tools do (`export --onnx`, `compare`, the Python package), so .fgq files
 *     keep them all;
 *   - the metadata blob's recipe (how the model was made) dropped, its preprocessing kept.
 * The result loads and runs bit for bit as the source does (tests/test_quantize.c
 * test_device_image and tests/python/test_device.py check it)
 * and is smaller by what the MLPerf Tiny models showed to weigh most beside their weights.
 *
 * m: loaded (fgq_model_load / _target). *out: malloc'd, 64-byte aligned (free with free()),
 * only on FGQ_OK. FGQ_ERR_VALUE for a bad align; FGQ_ERR_NOMEM.
 */
#ifndef FGQ_COMPACT_H
#define FGQ_COMPACT_H

#include "fgq_runtime.h"

#include <stdint.h>

fgq_status fgq_compact_model(const fgq_model *m, uint32_t align, uint8_t **out, uint64_t *out_size, fgq_error *err);

#endif /* FGQ_COMPACT_H */
