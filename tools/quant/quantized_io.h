/*
 * quantized_io.h — graph inputs and outputs in the activation type (`fgq quantize --io quantized`,
 * TensorFlow Lite's inference_input_type / inference_output_type = int8 / uint8).
 *
 * A quantized model takes float inputs and gives float outputs by default: a QUANTIZE after each
 * float graph input, a DEQUANTIZE before each float graph output. On a microcontroller both cost
 * float work per value (the MLPerf Tiny autoencoder's 640 inputs and 640 outputs: ~18 % of its
 * instructions on a Cortex-M4, 28 k of 160 k) that a sensor pipeline delivering integers, or a
 * caller that reads codes, does not need. The rewrite drops them: such an input becomes the u8 /
 * s8 tensor the QUANTIZE made, with its scale and zero point (x ≈ s·(q − z),
 * fgq_model_tensor_qparams), and such an output the tensor the DEQUANTIZE read; each takes the
 * float tensor's name (an output too where float nodes still read the float tensor, which is
 * renamed). The caller quantizes and dequantizes as those ops do (fgq_io_quantize /
 * fgq_io_dequantize, tools/run/run_graph.h), so a model with quantized I/O fed that way gives
 * exactly the outputs of the float-I/O model whose output layer writes codes too
 * (fgq_quant_config.quantized_tail; the quantizer keeps that layer in codes under io_quantized).
 *
 * Converted: a float graph input read by one node, a QUANTIZE over the whole u8 / s8 range with
 * TensorFlow's rounding (what `fgq quantize` writes with u8 or s8 activations); a float graph
 * output made by a DEQUANTIZE of a u8 / s8 tensor. Others (an input a float node also reads, an
 * output a float op makes: Softmax kept float, --keep-float) stay float, each named in the report.
 */
#ifndef FGQ_QUANTIZED_IO_H
#define FGQ_QUANTIZED_IO_H

#include "graph.h"

typedef struct {
    int32_t inputs, outputs; /* converted */
    int32_t kept;            /* float inputs and outputs left float */
    char notes[1024];        /* one line ("input 'x' stays float: ...") for each kept one, as many as fit */
} fgq_io_rewrite;

/* Rewrites the integer model qg in place (nodes and tensors renumbered: indices into it taken
 * before are stale); each converted tensor takes the name of the float one it replaces. */
fgq_status fgq_quant_io_rewrite(fgq_graph *qg, fgq_io_rewrite *rep, fgq_error *err);

#endif /* FGQ_QUANTIZED_IO_H */
