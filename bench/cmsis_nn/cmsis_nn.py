#!/usr/bin/env python3
"""bench/cmsis_nn/cmsis_nn.py — instructions per inference of ARM's CMSIS-NN int8 kernels on the
MLPerf Tiny layer sequences, beside fgq's own figure for the same model, in the same run.

For every model (../shared/models/tiny-v0.7/model_{kws,ic,vww,ad}.onnx):
  1. the float ONNX graph, shapes inferred (onnx.shape_inference), is mapped to a CMSIS-NN layer
     list in NHWC int8: Conv -> arm_convolve_wrapper_s8 (a grouped one too: the wrapper passes
     it to arm_convolve_s8); depthwise Conv (group = C_in, C_out = C_in * multiplier) ->
     arm_depthwise_conv_wrapper_s8; Gemm / MatMul with a constant B -> arm_fully_connected_s8;
     AveragePool / GlobalAveragePool -> arm_avgpool_s8; Add of two activations ->
     arm_elementwise_add_s8; Softmax -> arm_softmax_s8. Relu and Clip (at 0) fold into the
     producing layer's activation range, BatchNormalization after a Conv / Gemm into its weights
     (what a TFLite converter does); Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Identity,
     Dropout are layout only (nothing runs: the buffer is read as it is). Any other op, or one of
     these in a form CMSIS-NN has no kernel for, skips the model, naming the op and why.
  2. one C file per model: weights, biases, per-channel multipliers and shifts as const arrays
     (random, fixed seed: values barely change the instruction count), activations in static
     buffers reused once dead (2 for a chain, a 3rd while an Add's skip input is alive), one
     static scratch buffer, first sized generously here and checked at run start against every
     layer's *_get_buffer_size (the firmware stops with an error if one needs more), then built
     again with exactly the most they ask (the RAM figure). main() fills the input, runs the
     sequence once untimed, then once timed with SysTick as targets/cortex-m/main.c times
     fgq_model_run, then once more reading SysTick after every layer (the per-layer figures),
     checks that every call returns ARM_CMSIS_NN_SUCCESS and prints
         cmsis_nn model=M ticks=T stack=S cpu_hz=F scratch=B scratch_needed=N out_sum=X
     before exiting through semihosting. out_sum, the sum of the output bytes, must be the same
     on both cores (CMSIS-NN's DSP and Helium kernels are bit-exact): a check that the layers,
     buffers and scratch hold together.
  3. built with arm-none-eabi-gcc and the example firmware's flags (-O2, -ffunction-sections
     -fdata-sections, --gc-sections, nano specs, -nostartfiles) from CMSIS-NN's integer Source/
     files (one static library per board: only what the layers reach is linked), startup.c and
     semihost.c of targets/cortex-m and the board's linker script; run under qemu-system-arm
     -icount shift=0, so insns = ticks * 1e9 / cpu_hz, as scripts/device.py counts them.
  4. scripts/device.py --models M --policies s8 --boards B --io quantized --no-nomsg --json gives
     fgq's row for the same model and board (its whole fgq_model_run): the model made with `fgq
     quantize --io quantized`, so it too goes from u8 codes in to u8 codes out, with no float
     QUANTIZE / DEQUANTIZE at its ends (--fgq-io float measures the float-I/O model instead).

Figures per (model, board):
  MACs             multiply-accumulates of Conv and Gemm, from the ONNX shapes
  insns            instructions of one inference (CMSIS-NN: the layer sequence from int8 input
                   to int8 output; fgq: fgq_model_run from u8 codes to u8 codes, or with --fgq-io
                   float its QUANTIZE of the float input and its output layer's float epilogue too)
  flash w/o wts    CMSIS-NN: .vectors + .text + .ARM.exidx + .rodata + .data of the ELF minus
                   the model's constants (weights, biases, multipliers, shifts); split from the
                   link map into the CMSIS-NN kernels, the generated layer calls (the layers'
                   parameter structs included), start-up + semihosting code, and libc / libgcc.
                   fgq: device.py's "runtime flash" (the same ELF sections minus the model)
  RAM              .data + .bss + the stack's high-water mark, for both

usage: bench/cmsis_nn/cmsis_nn.py [--models kws,ic,vww,ad] [--boards m4,m55] [--cmsis-nn DIR]
                                  [--work DIR] [--json OUT] [--markdown] [--layers] [--fgq-json F]
                                  [--fgq-io quantized|float]
Exit status: 0 every model measured, 1 a failure (build, run, a layer error, fgq's side), 77
arm-none-eabi-gcc, qemu-system-arm or the CMSIS-NN checkout is missing (skipped).
"""
import argparse
import concurrent.futures
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FW = os.path.join(ROOT, "targets", "cortex-m")
TINY = os.path.join(os.environ.get("FGQ_SHARED", os.path.join(os.path.dirname(ROOT), "shared")),
                    "models", "tiny-v0.7")
MODELS = {m: os.path.join(TINY, "model_%s.onnx" % m) for m in ("kws", "ic", "vww", "ad")}
CACHE = os.environ.get("FGQ_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "fgq"))
CMSIS_NN_URL = "https://github.com/ARM-software/CMSIS-NN"
CMSIS_NN_COMMIT = "99f736a6"  # the commit this bench was written and measured against
# board: QEMU machine, core, compile flags (targets/cortex-m/CMakeLists.txt), processor clock
BOARDS = {
    "m4": ("mps2-an386", "Cortex-M4F", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
           25000000),
    "m55": ("mps3-an547", "Cortex-M55", ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"], 32000000),
}
CFLAGS = ["-O2", "-ffunction-sections", "-fdata-sections", "--specs=nano.specs"]
STACK_SIZE = "0x40000"  # as the example firmware (FGQ_STACK_SIZE); the high-water mark is reported
QEMU_TIMEOUT = 300
SEED = 1234
LAYOUT_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout")
FLASH_SECTIONS = (".vectors", ".text", ".ARM.exidx", ".rodata", ".data")


class Unsupported(Exception):
    """An op (or a form of one) this bench cannot map onto a CMSIS-NN kernel: the model is skipped."""


def sh(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    return r.stdout


# ---------------------------------------------------------------------------------------------
# ONNX graph -> CMSIS-NN layer list


class Tensor:
    """An int8 activation: its bytes and zero point (-128 after a ReLU / Clip at 0, else 0; the
    graph input 0). Layout ops alias one Tensor under several ONNX names, each with its own dims
    (View); a layer keeps the dims of its inputs and output as it saw them."""

    def __init__(self, tid, size):
        self.id, self.size, self.zp = tid, size, 0
        self.producer = None  # index of the layer writing it; None for the graph input
        self.readers = 0      # layers reading it so far


class View:
    """A Tensor under one ONNX name: NHWC dims (n, h, w, c)."""

    def __init__(self, tensor, dims):
        self.t, self.dims = tensor, dims


def nhwc(shape, what):
    """ONNX shape (NCHW, or N x features) -> CMSIS-NN dims (n, h, w, c)."""
    s = [d if isinstance(d, int) and d > 0 else 1 for d in shape]  # a symbolic batch is 1
    if len(s) == 4:
        return (s[0], s[2], s[3], s[1])
    if len(s) == 3:
        return (s[0], 1, s[2], s[1])
    if len(s) == 2:
        return (s[0], 1, 1, s[1])
    if len(s) == 1:
        return (1, 1, 1, s[0])
    raise Unsupported("%s: rank-%d tensor" % (what, len(s)))


def load_layers(path):
    """The model's CMSIS-NN layers: (layers, tensors, input tensor id, output tensor id, notes).
    A layer is a dict: kind (conv, dw, fc, avgpool, add, softmax), name, ins, out (tensor ids),
    and the kind's geometry; act ('relu', 'clip' or None) and bn (a BatchNormalization folded)."""
    model = shape_inference.infer_shapes(onnx.load(path))
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:  # Constant nodes: values (Clip bounds, Reshape shapes)
        if n.op_type == "Constant":
            inits[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    graph_inputs = [i for i in g.input if i.name not in inits]
    if len(graph_inputs) != 1 or len(g.output) != 1:
        raise Unsupported("%d inputs, %d outputs (one of each is mapped)" % (len(graph_inputs), len(g.output)))

    tensors, names, layers, notes = [], {}, [], []

    def new_tensor(name, dims):
        t = Tensor(len(tensors), int(np.prod(dims)))
        tensors.append(t)
        names[name] = View(t, dims)
        return t

    def shape_of(name):
        if name not in shapes:
            raise Unsupported("no inferred shape for tensor '%s'" % name)
        return shapes[name]

    def act_in(n, i=0):
        if n.input[i] not in names:
            raise Unsupported("%s %s: input '%s' is not an activation this bench tracks" %
                              (n.op_type, n.name, n.input[i]))
        return names[n.input[i]]

    def attrs(n):
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    def add_layer(n, kind, ins, out_shape, **kw):
        for v in ins:
            v.t.readers += 1
        out_dims = nhwc(out_shape, n.name)
        out = new_tensor(n.output[0], out_dims)
        out.producer = len(layers)
        layers.append(dict(kind=kind, name=n.name, op=n.op_type, ins=[v.t.id for v in ins],
                           in_dims=[v.dims for v in ins], out=out.id, out_dims=out_dims, act=None, bn=False, **kw))
        return layers[-1]

    def fusable(n, kinds):
        """The layer writing n's input, when n is its only consumer and no layer has read it."""
        t = act_in(n).t
        if t.producer is None or t.readers != 0 or consumers.get(n.input[0], 0) != 1:
            return None
        layer = layers[t.producer]
        return layer if layer["kind"] in kinds and layer["out"] == t.id else None

    new_tensor(graph_inputs[0].name, nhwc(shape_of(graph_inputs[0].name), "input"))
    for k, n in enumerate(g.node):
        if not n.name:
            n.name = "%s_%d" % (n.op_type, k)
        op, a = n.op_type, attrs(n)
        if op == "Constant":
            continue
        if op in LAYOUT_OPS:  # same bytes under another name and shape (NCHW/NHWC order: see README)
            v = act_in(n)
            dims = nhwc(shape_of(n.output[0]), n.name)
            if int(np.prod(dims)) != v.t.size:
                raise Unsupported("%s %s: %s -> %s changes the size" % (op, n.name, v.dims, dims))
            names[n.output[0]] = View(v.t, dims)
            continue
        if op == "Conv":
            x = act_in(n)
            w = inits.get(n.input[1])
            if w is None or w.ndim != 4:
                raise Unsupported("Conv %s: weights not a constant 4-D tensor (1-D / 3-D Conv not mapped)" % n.name)
            cout, cin_g, kh, kw = w.shape
            cin = x.dims[3]
            if cin % cin_g != 0:
                raise Unsupported("Conv %s: %d input channels, weights for %d per group" % (n.name, cin, cin_g))
            group = a.get("group", 1)
            sh_, sw = a.get("strides", [1, 1])
            dh, dw_ = a.get("dilations", [1, 1])
            out_shape = shape_of(n.output[0])
            pads = a.get("pads", [0, 0, 0, 0])
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                oh, ow = out_shape[2], out_shape[3]  # SAME_*: the total from the inferred output
                th = max(0, (oh - 1) * sh_ + (kh - 1) * dh + 1 - x.dims[1])
                tw = max(0, (ow - 1) * sw + (kw - 1) * dw_ + 1 - x.dims[2])
                lo = a["auto_pad"] in (b"SAME_LOWER", "SAME_LOWER")
                pads = [(th + lo) // 2, (tw + lo) // 2, th - (th + lo) // 2, tw - (tw + lo) // 2]
            if pads[0] != pads[2] or pads[1] != pads[3]:
                notes.append("%s: asymmetric pads %s (top, left, bottom, right); CMSIS-NN takes the leading "
                             "pad (%d, %d) and the output size, as TFLite does for SAME" %
                             (n.name, list(pads), pads[0], pads[1]))
            has_bias = len(n.input) > 2 and n.input[2] != ""
            geo = dict(k=(kh, kw), stride=(sh_, sw), pad=(pads[0], pads[1]), dil=(dh, dw_), bias=has_bias)
            if group == cin and cin_g == 1 and cout % cin == 0 and cin > 1:
                layer = add_layer(n, "dw", [x], out_shape, ch_mult=cout // cin, **geo)
            elif cin == cin_g * group and cout % group == 0:  # arm_convolve_s8 takes groups too
                layer = add_layer(n, "conv", [x], out_shape, group=group, **geo)
            else:
                raise Unsupported("Conv %s: group %d with %d input, %d output channels" % (n.name, group, cin, cout))
            layer["macs"] = int(np.prod(layer["out_dims"])) * cin_g * kh * kw
            continue
        if op in ("Gemm", "MatMul"):
            x = act_in(n)
            b = inits.get(n.input[1])
            if b is None or b.ndim != 2:
                raise Unsupported("%s %s: B is not a constant matrix (an activation x activation product has "
                                  "no s8 fully-connected kernel here)" % (op, n.name))
            if a.get("transA", 0):
                raise Unsupported("Gemm %s: transA=1" % n.name)
            k_, cout = (b.shape[1], b.shape[0]) if a.get("transB", 0) else b.shape
            batch = x.dims[0]
            if x.t.size != batch * k_:
                raise Unsupported("%s %s: input of %d values for %d x %d" % (op, n.name, x.t.size, batch, k_))
            layer = add_layer(n, "fc", [x], shape_of(n.output[0]), k_in=k_, bias=len(n.input) > 2)
            layer["macs"] = batch * k_ * cout
            continue
        if op in ("AveragePool", "GlobalAveragePool"):
            x = act_in(n)
            if op == "GlobalAveragePool":
                k, s, p = (x.dims[1], x.dims[2]), (1, 1), (0, 0)
            else:
                k, s = tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1]))
                pads = a.get("pads", [0, 0, 0, 0])
                p = (pads[0], pads[1])
                if any(pads) and a.get("count_include_pad", 0):
                    raise Unsupported("AveragePool %s: count_include_pad=1 (CMSIS-NN averages over the "
                                      "window's valid part)" % n.name)
                if a.get("ceil_mode", 0):
                    notes.append("%s: ceil_mode=1 (the inferred output size is used)" % n.name)
            add_layer(n, "avgpool", [x], shape_of(n.output[0]), k=k, stride=s, pad=p, macs=0)
            continue
        if op == "Add":
            if n.input[0] not in names or n.input[1] not in names:
                raise Unsupported("Add %s: one input is a constant (a bias add not folded into a layer)" % n.name)
            x0, x1 = names[n.input[0]], names[n.input[1]]
            if x0.dims != x1.dims:
                raise Unsupported("Add %s: broadcasting %s + %s (arm_elementwise_add_s8 adds equal shapes)" %
                                  (n.name, x0.dims, x1.dims))
            add_layer(n, "add", [x0, x1], shape_of(n.output[0]), macs=0)
            continue
        if op == "Softmax":
            x = act_in(n)
            add_layer(n, "softmax", [x], shape_of(n.output[0]), macs=0)
            continue
        if op in ("Relu", "Clip"):
            if op == "Clip":
                lo = a.get("min", None)
                if lo is None and len(n.input) > 1 and n.input[1] in inits:
                    lo = float(inits[n.input[1]])
                if lo is None or lo != 0.0:
                    raise Unsupported("Clip %s: lower bound %s (only Clip at 0, ReLU / ReLU6, is folded)" %
                                      (n.name, lo))
            layer = fusable(n, ("conv", "dw", "fc", "add", "avgpool"))
            if layer is None:
                raise Unsupported("%s %s: its input is not a layer output it alone reads (no separate "
                                  "activation layer is mapped)" % (op, n.name))
            layer["act"] = op.lower()
            tensors[layer["out"]].zp = -128  # ReLU's 0 at the bottom of the int8 range
            names[n.output[0]] = names[n.input[0]]
            continue
        if op == "BatchNormalization":
            layer = fusable(n, ("conv", "dw", "fc"))
            if layer is None or layer["act"] is not None:
                raise Unsupported("BatchNormalization %s: not right after a Conv / Gemm it could fold into" %
                                  n.name)
            layer["bn"] = True
            names[n.output[0]] = names[n.input[0]]
            continue
        raise Unsupported("%s %s: no CMSIS-NN s8 kernel mapped for this op" % (op, n.name))
    out = names.get(g.output[0].name)
    if out is None or out.t.producer is None:
        raise Unsupported("the graph output is not written by a mapped layer")
    return layers, tensors, 0, out.t.id, notes


def kernel_path(layer, mve):
    """The kernel CMSIS-NN's wrapper picks for a layer (arm_convolve_wrapper_s8.c,
    arm_depthwise_conv_wrapper_s8.c at CMSIS_NN_COMMIT), for the per-layer table."""
    xd = layer["in_dims"][0]
    if layer["kind"] == "conv":
        (kh, kw), (sh_, sw), (ph, pw), (dh, dw_) = layer["k"], layer["stride"], layer["pad"], layer["dil"]
        if layer["group"] > 1:  # the 1x1 and 1xN tests want the filter's channels to be the input's
            return "convolve_s8 (im2col, %d groups)" % layer["group"]
        if ph == 0 and pw == 0 and kh == 1 and kw == 1 and dh == 1 and dw_ == 1:
            return "convolve_1x1_s8_fast" if sh_ == 1 and sw == 1 else "convolve_1x1_s8"
        if xd[1] == 1 and dw_ == 1 and kh == 1 and (sw * xd[3]) % 4 == 0:
            return "convolve_1_x_n_s8"
        return "convolve_s8 (im2col)"
    if layer["kind"] == "dw":
        (kh, kw), (ph, pw), (dh, dw_) = layer["k"], layer["pad"], layer["dil"]
        if mve and xd[3] == 1 and layer["out_dims"][3] > 1:
            return "dw as convolve (1 input ch)"
        if layer["ch_mult"] == 1 and xd[0] == 1 and dh == 1 and dw_ == 1:
            if not mve and kh == 3 and kw == 3 and ph <= 1 and pw <= 1:
                return "depthwise_conv_3x3_s8"
            return "depthwise_conv_s8_opt"
        return "depthwise_conv_s8"
    return {"fc": "fully_connected_s8", "avgpool": "avgpool_s8", "add": "elementwise_add_s8",
            "softmax": "softmax_s8"}[layer["kind"]]


def plan_buffers(layers, tensors, in_id):
    """Static activation buffers: a tensor takes a buffer no live tensor holds (a tensor lives from
    its layer to its last reader; the graph input from the start). Returns (buffer of each tensor
    id, size of each buffer)."""
    last = {in_id: 0}
    for i, layer in enumerate(layers):
        for t in layer["ins"]:
            last[t] = i
        last.setdefault(layer["out"], len(layers))
    where, sizes = {in_id: 0}, [tensors[in_id].size]
    for i, layer in enumerate(layers):
        busy = {where[t] for t, end in last.items() if t in where and end >= i}
        free = [b for b in range(len(sizes)) if b not in busy]
        if free:  # the smallest that fits, else the largest (it grows)
            fits = [b for b in free if sizes[b] >= tensors[layer["out"]].size]
            b = min(fits, key=lambda j: sizes[j]) if fits else max(free, key=lambda j: sizes[j])
        else:
            b = len(sizes)
            sizes.append(0)
        where[layer["out"]] = b
        sizes[b] = max(sizes[b], tensors[layer["out"]].size)
    return where, sizes


# ---------------------------------------------------------------------------------------------
# C generation


def c_array(ctype, name, values, per_line=24):
    vals = [str(int(v)) for v in np.asarray(values).ravel()]
    body = ",\n".join("    " + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))
    return "static const %s %s[%d] __attribute__((aligned(4))) = {\n%s\n};\n" % (ctype, name, len(vals), body)


def requant(rng, n, acc_std):
    """Per-channel multipliers in [2^30, 2^31) (0.5 .. 1 in Q31) and shifts that bring an
    accumulator of that spread to ~32 LSB of int8 (TFLite's -shift is a right shift)."""
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=n, dtype=np.int64)
    base = int(round(math.log2(32.0 / (0.75 * max(acc_std, 1.0)))))
    shift = np.clip(base + rng.integers(-1, 2, size=n), -31, 0)
    return mult, shift


def gen_c(model, layers, tensors, in_id, out_id, where, sizes, scratch_bytes=None):
    """The firmware's C source for one model, and its scratch size: scratch_bytes, or a generous
    bound on what the layers' *_get_buffer_size can ask on either core (checked at run start)."""
    rng = np.random.default_rng(SEED)
    consts, defs, calls, sizes_c, init_c = [], [], [], [], []
    scratch = 64
    ksum_words = 0

    def in_rms(t):  # rms of (x - zp) of uniform int8 data: 147 from zp -128, 74 from 0
        return 147.0 if t.zp == -128 else 74.0

    for i, L in enumerate(layers):
        x, y = tensors[L["ins"][0]], tensors[L["out"]]
        xin, yout = "g_act%d" % where[x.id], "g_act%d" % where[y.id]
        xd, yd = L["in_dims"][0], L["out_dims"]
        lo, hi = -128, 127  # ReLU, and ReLU6 with 6 at 127, at zero point -128 keep the whole range
        dims = "static const cmsis_nn_dims L%d_in = {%d, %d, %d, %d}, L%d_out = {%d, %d, %d, %d};\n" % (
            (i,) + tuple(xd) + (i,) + tuple(yd))
        tag = "/* %d: %s %s%s%s */\n" % (i, L["op"], L["name"], " + BatchNormalization" if L["bn"] else "",
                                          " + " + L["act"].capitalize() if L["act"] else "")
        if L["kind"] in ("conv", "dw"):
            kh, kw = L["k"]
            cout = yd[3]
            cin_k = xd[3] // L["group"] if L["kind"] == "conv" else 1
            if L["kind"] == "conv":
                w = rng.integers(-127, 128, size=(cout, kh, kw, cin_k))
                fdims = (cout, kh, kw, cin_k)
            else:
                w = rng.integers(-127, 128, size=(1, kh, kw, cout))
                fdims = (1, kh, kw, cout)
            bias = rng.integers(-2000, 2001, size=cout)
            mult, shift = requant(rng, cout, math.sqrt(kh * kw * cin_k) * in_rms(x) * 73.0)
            consts += [c_array("int8_t", "mdl_w%d" % i, w), c_array("int32_t", "mdl_b%d" % i, bias),
                       c_array("int32_t", "mdl_m%d" % i, mult), c_array("int32_t", "mdl_s%d" % i, shift)]
            common = (".input_offset = %d, .output_offset = %d, .stride = {.w = %d, .h = %d}, "
                      ".padding = {.w = %d, .h = %d}, .dilation = {.w = %d, .h = %d}, .activation = {%d, %d}" %
                      (-x.zp, y.zp, L["stride"][1], L["stride"][0], L["pad"][1], L["pad"][0], L["dil"][1],
                       L["dil"][0], lo, hi))
            if L["kind"] == "conv":
                ptype, fn = "cmsis_nn_conv_params", "arm_convolve_wrapper_s8"
                params = "{%s}" % common
            else:
                ptype, fn = "cmsis_nn_dw_conv_params", "arm_depthwise_conv_wrapper_s8"
                params = "{.ch_mult = %d, %s}" % (L["ch_mult"], common)
            defs.append(tag + "static const %s L%d_p = %s;\n" % (ptype, i, params) +
                        "static const cmsis_nn_per_channel_quant_params L%d_q = {(int32_t *)mdl_m%d, "
                        "(int32_t *)mdl_s%d};\n" % (i, i, i) + dims +
                        "static const cmsis_nn_dims L%d_f = {%d, %d, %d, %d}, L%d_b = {1, 1, 1, %d};\n" %
                        ((i,) + fdims + (i, cout)))
            calls.append("LAYER(%d, %s(&g_ctx, &L%d_p, &L%d_q, &L%d_in, %s, &L%d_f, mdl_w%d, &L%d_b, mdl_b%d, "
                         "&L%d_out, %s));" % (i, fn, i, i, i, xin, i, i, i, i, i, yout))
            sizes_c.append("NEED(%d, %s_get_buffer_size(&L%d_p, &L%d_in, &L%d_f, &L%d_out));" % (i, fn, i, i, i, i))
            # an upper bound on *_get_buffer_size: convolve_s8 takes 4 bytes a filter weight (DSP: two
            # int16 im2col columns; Helium: four int8 ones, 16-aligned), 1xN (Helium) a padded input
            # row; depthwise opt 2 bytes a weight (DSP) or 4 x 124 channels (Helium), and depthwise
            # as a convolution (Helium, 1 input channel) the convolution's and its filter
            conv = 4 * (kh * kw * xd[3] + 16) + 2 * (kw + 2 * L["pad"][1] + L["stride"][1]) * xd[3]
            need = conv if L["kind"] == "conv" else max(2 * xd[3], 4 * 124) * kh * kw + (
                conv + cout * kh * kw if xd[3] == 1 else 0)
            scratch = max(scratch, need + 64)
        elif L["kind"] == "fc":
            k_, cout = L["k_in"], yd[3]
            w = rng.integers(-127, 128, size=(cout, k_))
            bias = rng.integers(-2000, 2001, size=cout)
            mult, shift = requant(rng, 1, math.sqrt(k_) * in_rms(x) * 73.0)
            consts += [c_array("int8_t", "mdl_w%d" % i, w), c_array("int32_t", "mdl_b%d" % i, bias)]
            defs.append(tag + "static const cmsis_nn_fc_params L%d_p = {.input_offset = %d, .filter_offset = 0, "
                        ".output_offset = %d, .activation = {%d, %d}};\n" % (i, -x.zp, y.zp, lo, hi) +
                        "static const cmsis_nn_per_tensor_quant_params L%d_q = {%d, %d};\n" %
                        (i, int(mult[0]), int(shift[0])) +
                        "static const cmsis_nn_dims L%d_in = {%d, 1, 1, %d}, L%d_out = {%d, 1, 1, %d};\n" %
                        (i, xd[0], k_, i, yd[0], cout) +
                        "static const cmsis_nn_dims L%d_f = {%d, 1, 1, %d}, L%d_b = {1, 1, 1, %d};\n" %
                        (i, k_, cout, i, cout) +
                        "static cmsis_nn_context L%d_ctx; /* the kernel sums where the build needs them */\n" % i)
            calls.append("LAYER(%d, arm_fully_connected_s8(&L%d_ctx, &L%d_p, &L%d_q, &L%d_in, %s, &L%d_f, mdl_w%d, "
                         "&L%d_b, mdl_b%d, &L%d_out, %s));" % (i, i, i, i, i, xin, i, i, i, i, i, yout))
            # Helium: the kernel sums (bias + input_offset * row sums) in the layer's own buffer,
            # computed once before any run, as TFLite Micro does in Prepare; none on the M4
            init_c.append("KSUM(%d, %d, %d, %d, mdl_w%d, mdl_b%d);" % (i, ksum_words, k_, cout, i, i))
            ksum_words += cout
        elif L["kind"] == "avgpool":
            kh, kw = L["k"]
            defs.append(tag + "static const cmsis_nn_pool_params L%d_p = {.stride = {.w = %d, .h = %d}, "
                        ".padding = {.w = %d, .h = %d}, .activation = {%d, %d}};\n" %
                        (i, L["stride"][1], L["stride"][0], L["pad"][1], L["pad"][0], lo, hi) + dims +
                        "static const cmsis_nn_dims L%d_f = {1, %d, %d, 1};\n" % (i, kh, kw))
            calls.append("LAYER(%d, arm_avgpool_s8(&g_ctx, &L%d_p, &L%d_in, %s, &L%d_f, &L%d_out, %s));" %
                         (i, i, i, xin, i, i, yout))
            sizes_c.append("NEED(%d, arm_avgpool_s8_get_buffer_size(L%d_out.w, L%d_in.c));" % (i, i, i))
            scratch = max(scratch, 4 * xd[3] + 64)
        elif L["kind"] == "add":
            x1 = tensors[L["ins"][1]]
            # TFLite's ADD: inputs left-shifted by 20, each scaled to half the larger input scale
            calls.append("LAYER(%d, arm_elementwise_add_s8(%s, g_act%d, %d, 1073741824, 0, %d, 1518500250, -1, 20, "
                         "%s, %d, 1431655765, -19, %d, %d, %d));" %
                         (i, xin, where[x1.id], -x.zp, -x1.zp, yout, y.zp, lo, hi, y.size))
            defs.append(tag)
        elif L["kind"] == "softmax":
            # beta 1, input scale 1/16: TFLite's multiplier 2^30, shift 23, diff_min -248
            rows = y.size // yd[3]
            calls.append("LAYER(%d, (arm_softmax_s8(%s, %d, %d, 1073741824, 23, -248, %s), "
                         "ARM_CMSIS_NN_SUCCESS));" % (i, xin, rows, yd[3], yout))
            defs.append(tag)
    acts = "".join("static int8_t g_act%d[%d] __attribute__((aligned(16)));\n" % (b, s) for b, s in enumerate(sizes))
    n_in, n_out = tensors[in_id].size, tensors[out_id].size
    scratch = scratch_bytes or scratch
    src = C_TEMPLATE % dict(
        model=model, n_layers=len(layers), consts="".join(consts), acts=acts, scratch=scratch,
        ksum=max(1, ksum_words), defs="\n".join(defs), calls="\n    ".join(calls) or ";",
        sizes="\n    ".join(sizes_c) or ";", init="\n    ".join(init_c) or ";", n_in=n_in, n_out=n_out,
        in_buf="g_act%d" % where[in_id], out_buf="g_act%d" % where[out_id])
    return src, scratch


C_TEMPLATE = r"""/* Generated by bench/cmsis_nn/cmsis_nn.py for model '%(model)s': its %(n_layers)d layers as
 * CMSIS-NN int8 calls, random constants (fixed seed), timed with SysTick under QEMU. */
#include "arm_nnfunctions.h"
#include "firmware.h"
#include "semihost.h"

#include <stdint.h>

#ifndef FW_CPU_HZ
#error "FW_CPU_HZ: the board's processor clock"
#endif
#define N_LAYERS %(n_layers)d
#define SCRATCH_BYTES %(scratch)d

/* Model constants (mdl_*: left out of the "flash without weights" figure). */
%(consts)s
/* Activations: each buffer holds one live tensor at a time. */
%(acts)s
/* (unused: dropped by --gc-sections in a model without such layers) */
static int8_t g_scratch[SCRATCH_BYTES] __attribute__((aligned(16), unused));
static cmsis_nn_context g_ctx __attribute__((unused)) = {g_scratch, SCRATCH_BYTES};
#if defined(ARM_MATH_MVEI)
static int32_t g_ksum[%(ksum)d] __attribute__((unused)); /* fully-connected kernel sums (Helium only) */
#else
static int32_t g_ksum[1] __attribute__((unused));
#endif

/* Layer parameters. */
%(defs)s
static int g_failed_layer = -1;
static arm_cmsis_nn_status g_failed_status;

/* One inference; lt != NULL: SysTick after each layer into lt[]. Stops at a failing call. */
#define LAYER(i, call)                                                                                  \
    do {                                                                                                \
        const arm_cmsis_nn_status st_ = (call);                                                         \
        if (st_ != ARM_CMSIS_NN_SUCCESS) {                                                              \
            g_failed_layer = (i);                                                                       \
            g_failed_status = st_;                                                                      \
            return -1;                                                                                  \
        }                                                                                               \
        if (lt != 0)                                                                                    \
            lt[i] = fw_counter_ticks();                                                                 \
    } while (0)

static int run_model(uint64_t *lt)
{
    %(calls)s
    return 0;
}

/* Every layer's scratch need against SCRATCH_BYTES; the largest, or -1 (printed) if one does not fit. */
#define NEED(i, expr)                                                                                   \
    do {                                                                                                \
        const int32_t n_ = (expr);                                                                      \
        if (n_ > SCRATCH_BYTES) {                                                                       \
            sh_printf("cmsis_nn: error: layer %%d needs %%ld scratch bytes, the firmware has %%d\n", (i),  \
                      (long)n_, SCRATCH_BYTES);                                                         \
            return -1;                                                                                  \
        }                                                                                               \
        if (n_ > most)                                                                                  \
            most = n_;                                                                                  \
    } while (0)

static int32_t scratch_needed(void)
{
    int32_t most = 0;
    %(sizes)s
    return most;
}

/* Fully connected: ctx->buf must hold the kernel sums where _get_buffer_size asks for a buffer. */
#define KSUM(i, off, cols, rows, w, b)                                                                  \
    do {                                                                                                \
        const int32_t n_ = arm_fully_connected_s8_get_buffer_size(&L##i##_f);                           \
        L##i##_ctx.buf = 0;                                                                             \
        L##i##_ctx.size = 0;                                                                            \
        if (n_ > 0) {                                                                                   \
            if ((off) + (rows) > (int32_t)(sizeof g_ksum / sizeof g_ksum[0]) ||                          \
                n_ > (rows) * (int32_t)sizeof(int32_t) ||                                               \
                arm_vector_sum_s8(g_ksum + (off), (cols), (rows), (w), L##i##_p.input_offset, 0, (b)) != \
                    ARM_CMSIS_NN_SUCCESS) {                                                             \
                sh_printf("cmsis_nn: error: layer %%d: kernel sums\n", (i));                            \
                return -1;                                                                              \
            }                                                                                           \
            L##i##_ctx.buf = g_ksum + (off);                                                            \
            L##i##_ctx.size = n_;                                                                       \
        }                                                                                               \
    } while (0)

static int prepare(void)
{
    %(init)s
    return 0;
}

static int failed(void)
{
    sh_printf("cmsis_nn: error: layer %%d returned %%d\n", g_failed_layer, (int)g_failed_status);
    return 2;
}

int main(void)
{
    static uint64_t lt[N_LAYERS];
    char b1[24];
    uint32_t s = 12345u;
    for (int i = 0; i < %(n_in)d; i++) { /* a fixed pseudo-random int8 input */
        s = s * 1664525u + 1013904223u;
        %(in_buf)s[i] = (int8_t)(s >> 24);
    }
    const int32_t need = scratch_needed();
    if (need < 0 || prepare() != 0)
        return 2;
    if (run_model(0) != 0) /* once untimed */
        return failed();
    fw_counter_start();
    const int st = run_model(0);
    const uint64_t ticks = fw_counter_ticks();
    if (st != 0)
        return failed();
    int32_t sum = 0;
    for (int i = 0; i < %(n_out)d; i++)
        sum += %(out_buf)s[i];
    fw_counter_start(); /* once more, reading SysTick after each layer */
    if (run_model(lt) != 0)
        return failed();
    for (int i = 0; i < N_LAYERS; i++)
        sh_printf("cmsis_nn layer=%%d ticks=%%s\n", i, sh_u64(lt[i], b1));
    sh_printf("cmsis_nn model=%(model)s ticks=%%s stack=%%lu cpu_hz=%%lu scratch=%%d scratch_needed=%%ld "
              "out_sum=%%ld\n", sh_u64(ticks, b1), (unsigned long)fw_stack_used(), (unsigned long)FW_CPU_HZ,
              SCRATCH_BYTES, (long)need, (long)sum);
    return 0;
}
"""


# ---------------------------------------------------------------------------------------------
# build, run, measure


def cmsis_sources(cmsis):
    """CMSIS-NN's integer sources (the float extensions are left out, as its CMake does by default)."""
    src = sorted(glob.glob(os.path.join(cmsis, "Source", "*", "*.c")))
    return [s for s in src if not re.search(r"_(f16|f32|flt)\.c$", s)]


def build_lib(board, cmsis, work):
    """libcmsis-nn.a for one board, and the firmware support objects (startup.c, semihost.c)."""
    d = os.path.join(work, "lib-" + board)
    os.makedirs(d, exist_ok=True)
    cpu = BOARDS[board][2]
    jobs = [(s, os.path.join(d, os.path.basename(s)[:-2] + ".o"),
             ["-I", os.path.join(cmsis, "Include")]) for s in cmsis_sources(cmsis)]
    support = [(os.path.join(FW, f), os.path.join(d, "fw_" + f[:-2] + ".o"),
                ["-std=c11", "-Wall", "-Wextra", "-Werror", "-I", FW]) for f in ("startup.c", "semihost.c")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        list(ex.map(lambda j: sh(["arm-none-eabi-gcc"] + cpu + CFLAGS + j[2] + ["-c", j[0], "-o", j[1]]),
                    jobs + support))
    lib = os.path.join(d, "libcmsis-nn.a")
    if os.path.exists(lib):
        os.remove(lib)
    sh(["arm-none-eabi-ar", "rcs", lib] + [o for _, o, _ in jobs])
    return lib, [o for _, o, _ in support]


def build_fw(board, model, src, lib, support, cmsis, work):
    d = os.path.join(work, "%s-%s" % (model, board))
    os.makedirs(d, exist_ok=True)
    c = os.path.join(d, "model_%s.c" % model)
    with open(c, "w") as f:
        f.write(src)
    qemu_m, _, cpu, hz = BOARDS[board]
    obj, elf, mp = c[:-2] + ".o", os.path.join(d, "cmsis_nn_%s.elf" % model), os.path.join(d, "cmsis_nn.map")
    sh(["arm-none-eabi-gcc"] + cpu + CFLAGS + ["-std=c11", "-Wall", "-Wextra", "-Werror", "-DFW_CPU_HZ=%d" % hz,
                                               "-I", os.path.join(cmsis, "Include"), "-I", FW, "-c", c, "-o", obj])
    board_dir = os.path.join(FW, "board")
    sh(["arm-none-eabi-gcc"] + cpu + ["--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections",
                                      "-T" + os.path.join(board_dir, qemu_m + ".ld"), "-L" + board_dir,
                                      "-Wl,--defsym=STACK_SIZE=" + STACK_SIZE, "-Wl,-Map=" + mp, obj] + support +
       [lib, "-lm", "-o", elf])
    return elf, mp


def section_sizes(elf):
    s = {}
    for line in sh(["arm-none-eabi-size", "-A", elf]).splitlines():
        p = line.split()
        if len(p) >= 2 and p[0].startswith(".") and p[1].isdigit():
            s[p[0]] = int(p[1])
    return s


def flash_split(mp):
    """Flash bytes by origin, from the link map's input sections in the flash output sections:
    weights (mdl_* constants), cmsis_nn (libcmsis-nn.a), layers (the generated file's code and
    parameter structs), firmware (startup, semihosting), libc (newlib-nano, libgcc), and fill.
    Also the CMSIS-NN functions linked, with their sizes."""
    split = dict(weights=0, cmsis_nn=0, layers=0, firmware=0, libc=0, fill=0)
    funcs = {}
    with open(mp) as f:
        text = f.read()
    text = text[text.find("Linker script and memory map"):]
    out_sec, pending = None, None
    for line in text.splitlines():
        m = re.match(r"^(\.\S+)\s", line) or re.match(r"^(\.\S+)$", line)
        if m:
            out_sec = m.group(1)
            continue
        if out_sec not in FLASH_SECTIONS:
            continue
        m = re.match(r"^ (\S+)\s*$", line)  # a long input-section name alone on its line
        if m:
            pending = m.group(1)
            continue
        m = re.match(r"^ (\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)(?:\s+(\S.*?))?\s*$", line)
        if not m:
            pending = None
            continue
        name, size, origin = m.group(1) or pending, int(m.group(2), 16), m.group(3) or ""
        pending = None
        if name is None or size == 0 or name.startswith("*(") or origin.startswith("*("):
            continue
        if name == "*fill*":
            split["fill"] += size
        elif ".rodata.mdl_" in name:
            split["weights"] += size
        elif "libcmsis-nn.a" in origin:
            split["cmsis_nn"] += size
            fn = re.sub(r"^\.(text|rodata|data)\.?", "", name)
            funcs[fn] = funcs.get(fn, 0) + size
        elif origin.endswith(".o") and "/model_" in origin:
            split["layers"] += size
        elif "fw_startup.o" in origin or "fw_semihost.o" in origin:
            split["firmware"] += size
        else:
            split["libc"] += size
    return split, funcs


def run_fw(board, elf):
    argv = ["qemu-system-arm", "-M", BOARDS[board][0], "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", elf]
    t0 = time.time()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=QEMU_TIMEOUT)
    out = r.stdout + r.stderr  # QEMU 7 writes the semihosting console to stderr
    m = re.search(r"cmsis_nn model=\S+ (.*)", out)
    if r.returncode != 0 or m is None:
        raise RuntimeError("%s on %s: exit %d\n%s" % (os.path.basename(elf), board, r.returncode, out[-3000:]))
    fig = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    layer_ticks = [int(t) for t in re.findall(r"cmsis_nn layer=\d+ ticks=(\d+)", out)]
    return fig, layer_ticks, time.time() - t0


def measure(model, board, gen, lib, support, cmsis, work):
    """Build and run one model's firmware; gen(scratch_bytes) gives its source. The first build's
    scratch is generous; when the layers need less, the firmware is built again with exactly that
    (so its RAM is what the layers need) and measured again."""
    elf, mp = build_fw(board, model, gen(None), lib, support, cmsis, work)
    fig, lt, wall = run_fw(board, elf)
    if fig["scratch"] != max(16, fig["scratch_needed"]):
        elf, mp = build_fw(board, model, gen(max(16, fig["scratch_needed"])), lib, support, cmsis, work)
        fig, lt, wall = run_fw(board, elf)
    hz = fig["cpu_hz"]
    sec = section_sizes(elf)
    flash = sum(sec.get(s, 0) for s in FLASH_SECTIONS)
    split, funcs = flash_split(mp)
    prev, per_layer = 0, []
    for i, t in enumerate(lt):
        per_layer.append(round((t - prev) * 1e9 / hz))
        prev = t
    return dict(insns=round(fig["ticks"] * 1e9 / hz), flash=flash, weight_bytes=split["weights"],
                flash_no_weights=flash - split["weights"], flash_split=split, cmsis_functions=funcs,
                ram=sec.get(".data", 0) + sec.get(".bss", 0) + fig["stack"], stack=fig["stack"],
                scratch=fig["scratch"], scratch_needed=fig["scratch_needed"], out_sum=fig["out_sum"],
                layer_insns=per_layer, qemu_s=round(wall, 2))


def fgq_rows(models, boards, work, fgq_json, io="quantized"):
    """fgq's own rows, {(model, board): device.py's row}, from --fgq-json or scripts/device.py run
    now; and an error message (device.py failed: its rows, if it wrote them, are still used)."""
    err = None
    if fgq_json:
        out = fgq_json
    else:
        out = os.path.join(work, "fgq_device.json")
        argv = [sys.executable, os.path.join(ROOT, "scripts", "device.py"), "--models", ",".join(models),
                "--policies", "s8", "--boards", ",".join(boards), "--io", io, "--no-nomsg", "--work",
                os.path.join(work, "fgq"), "--json", out]
        r = subprocess.run(argv, capture_output=True, text=True)
        sys.stdout.write("".join("  " + line + "\n" for line in r.stdout.splitlines() if line.startswith("device:")))
        if r.returncode != 0:
            err = "scripts/device.py: exit %d\n%s%s" % (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    if not os.path.exists(out):
        return {}, err or "%s: not written" % out
    try:
        with open(out) as f:
            rows = json.load(f)
        rows = [r for r in rows if r.get("policy") == "s8"]
        other = sorted({r.get("io", "float") for r in rows} - {io})  # rows of device.py before --io: float
        if other:
            return {}, "%s: rows of fgq with %s I/O, not %s (--fgq-io)" % (out, "/".join(other), io)
        return {(r["model"], r["board"]): r for r in rows}, err
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        return {}, "%s: not scripts/device.py --json rows (%s)" % (out, e)


def versions(cmsis):
    def first(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"
    commit = first(["git", "-C", cmsis, "log", "-1", "--format=%h %cs"])
    return first(["qemu-system-arm", "--version"]), first(["arm-none-eabi-gcc", "--version"]), commit


def fmt(v):
    return "-" if v is None else "{:,}".format(v)


def markdown(rows, header):
    lines = [header, "",
             "| model | core | MACs | CMSIS-NN insns | fgq s8 insns | fgq / CMSIS-NN | insns/MAC CMSIS-NN | "
             "insns/MAC fgq | CMSIS-NN flash w/o weights (kernels) | fgq runtime flash | RAM CMSIS-NN | RAM fgq |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, q = r["cmsis_nn"], r.get("fgq")
        ratio = "%.2fx" % (q["insns"] / c["insns"]) if q else "-"
        lines.append("| %s | %s | %s | %s | %s | %s | %.2f | %s | %s (%s) | %s | %s | %s |" % (
            r["model"], BOARDS[r["board"]][1], fmt(r["macs"]), fmt(c["insns"]), fmt(q["insns"] if q else None), ratio,
            c["insns"] / r["macs"] if r["macs"] else 0, "%.2f" % (q["insns"] / r["macs"]) if q and r["macs"] else "-",
            fmt(c["flash_no_weights"]), fmt(c["flash_split"]["cmsis_nn"]), fmt(q["runtime_flash"] if q else None),
            fmt(c["ram"]), fmt(q["ram"] if q else None)))
    return "\n".join(lines)


def layer_table(r):
    boards = [b for b in BOARDS if b in r["layers_insns"]]
    lines = ["", "%s: per layer (instructions; SysTick read after each layer, 40 / 31.25 insns a tick)" % r["model"],
             "", "| # | node | CMSIS-NN call (%s) | MACs | %s |" % (
                 " / ".join(BOARDS[b][1] for b in boards), " | ".join("insns " + BOARDS[b][1] for b in boards)),
             "|---|---|---|---|" + "---|" * len(boards)]
    for i, L in enumerate(r["layer_list"]):
        paths = " / ".join(dict.fromkeys(L["path"][b] for b in boards))
        lines.append("| %d | %s | %s | %s | %s |" % (i, L["name"], paths, fmt(L["macs"]),
                                                    " | ".join(fmt(r["layers_insns"][b][i]) for b in boards)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="kws,ic,vww,ad")
    ap.add_argument("--boards", default="m4,m55")
    ap.add_argument("--cmsis-nn", default=os.path.join(CACHE, "src", "CMSIS-NN"),
                    help="CMSIS-NN checkout (default: $FGQ_CACHE/src/CMSIS-NN, FGQ_CACHE=~/.cache/fgq)")
    ap.add_argument("--work", help="working folder (default: a temporary one, removed)")
    ap.add_argument("--json", help="write the rows there")
    ap.add_argument("--markdown", action="store_true", help="print the rows as a markdown table")
    ap.add_argument("--layers", action="store_true", help="also print a per-layer table per model")
    ap.add_argument("--fgq-io", choices=("quantized", "float"), default="quantized",
                    help="fgq's model: u8 codes in and out like CMSIS-NN's sequence (quantized, the default) or "
                         "float input and output (a QUANTIZE inside the model, its output layer handing back "
                         "float)")
    ap.add_argument("--fgq-json", help="take fgq's rows from this scripts/device.py --json file instead of "
                                       "running it (it must hold --policies s8 rows)")
    a = ap.parse_args()

    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(t) is None]
    if missing:
        print("cmsis_nn: SKIPPED: %s not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi "
              "qemu-system-arm)" % ", ".join(missing))
        return 77
    cmsis = os.path.abspath(a.cmsis_nn)
    if not os.path.exists(os.path.join(cmsis, "Include", "arm_nnfunctions.h")):
        print("cmsis_nn: SKIPPED: no CMSIS-NN checkout at %s; get it with\n"
              "  git clone %s %s && git -C %s checkout %s\n(or pass --cmsis-nn DIR)" %
              (cmsis, CMSIS_NN_URL, cmsis, cmsis, CMSIS_NN_COMMIT))
        return 77
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import device  # scripts/device.py: the same checks of --models and --boards
    sys.path.pop(0)
    models, boards, status = device.select("cmsis_nn", a.models, a.boards, MODELS, BOARDS)
    if status != 0:
        return status

    qemu_v, gcc_v, commit = versions(cmsis)
    header = "CMSIS-NN %s, %s, %s; -O2 for both; fgq: scripts/device.py --policies s8 --io %s" % (
        commit, gcc_v, qemu_v, a.fgq_io)
    print("cmsis_nn: " + header)
    work = a.work or tempfile.mkdtemp(prefix="fgq-cmsis-nn-")
    os.makedirs(work, exist_ok=True)
    rows, failed = [], 0
    try:
        mapped = {}
        for m in models:
            try:
                layers, tensors, in_id, out_id, notes = load_layers(MODELS[m])
            except Unsupported as e:
                print("cmsis_nn: %s skipped: %s" % (m, e))
                continue
            where, sizes = plan_buffers(layers, tensors, in_id)
            gen = (lambda scratch, m=m, layers=layers, tensors=tensors, in_id=in_id, out_id=out_id, where=where,
                   sizes=sizes: gen_c(m, layers, tensors, in_id, out_id, where, sizes, scratch)[0])
            mapped[m] = (layers, gen, notes, sizes)
            folded = sum(1 for L in layers if L["bn"])
            print("cmsis_nn: %-4s %d layers (%s), %d activation buffers (%s bytes)%s" % (
                m, len(layers), ", ".join("%d %s" % (sum(1 for L in layers if L["kind"] == k), k)
                                          for k in ("conv", "dw", "fc", "avgpool", "add", "softmax")
                                          if any(L["kind"] == k for L in layers)),
                len(sizes), "+".join(str(s) for s in sizes),
                ", %d BatchNormalization folded" % folded if folded else ""))
            for note in notes:
                print("cmsis_nn:      note: " + note)
        fgq = {}
        if mapped:
            fgq, err = fgq_rows(list(mapped), boards, work, a.fgq_json, a.fgq_io)
            if err:
                print("cmsis_nn: FAILED fgq's side: %s" % err)
                failed += 1
        per_model = {}
        for b in boards:
            lib, support = build_lib(b, cmsis, work)
            for m, (layers, gen, notes, sizes) in mapped.items():
                try:
                    c = measure(m, b, gen, lib, support, cmsis, work)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print("cmsis_nn: FAILED %s %s: %s" % (m, b, e))
                    failed += 1
                    continue
                macs = sum(L["macs"] for L in layers)
                q = fgq.get((m, b))
                if q is None:
                    failed += 1
                    print("cmsis_nn: FAILED %s %s: no fgq row" % (m, b))
                fq = None if q is None else dict(insns=q["insns"], runtime_flash=q["runtime_flash"], ram=q["ram"],
                                                 flash=q["flash"], model_bytes=q["model_bytes"],
                                                 identical=q["identical"])
                rows.append(dict(model=m, board=b, macs=macs, cmsis_nn=c, fgq=fq))
                pm = per_model.setdefault(m, dict(model=m, layers_insns={}, layer_list=[
                    dict(name=L["name"], kind=L["kind"], macs=L["macs"], path={}) for L in layers]))
                pm["layers_insns"][b] = c["layer_insns"]
                for L, rec in zip(layers, pm["layer_list"]):
                    rec["path"][b] = kernel_path(L, b == "m55")
                print("cmsis_nn: %-4s %-4s MACs %9s  CMSIS-NN insns %12s  fgq s8 %12s  %s  flash w/o weights %6d "
                      "(kernels %5d)  RAM %7d  scratch %d/%d  qemu %.1f s" % (
                          m, b, fmt(macs), fmt(c["insns"]), fmt(fq["insns"] if fq else None),
                          "%.2fx" % (fq["insns"] / c["insns"]) if fq else "-", c["flash_no_weights"],
                          c["flash_split"]["cmsis_nn"], c["ram"], c["scratch_needed"], c["scratch"], c["qemu_s"]))
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    # CMSIS-NN's DSP and Helium kernels are bit-exact (TFLite Micro's reference): the same output
    # on both cores checks that the layers, buffers and scratch of both builds hold together
    for m in per_model:
        sums = {r["board"]: r["cmsis_nn"]["out_sum"] for r in rows if r["model"] == m}
        if len(set(sums.values())) > 1:
            print("cmsis_nn: FAILED %s: the output differs between the cores (checksums %s)" % (m, sums))
            failed += 1
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(header=header, rows=rows, layers=list(per_model.values())), f, indent=1)
    if a.markdown:
        print(markdown(rows, header))
        print("\nfgq's insns are its whole fgq_model_run, %s; the CMSIS-NN sequence starts from an int8 input "
              "and ends at the int8 output. Weights are random (fixed seed). See bench/cmsis_nn/README.md." % (
                  "from u8 codes in to u8 codes out (fgq quantize --io quantized)" if a.fgq_io == "quantized" else
                  "QUANTIZE of the float input and the output layer's float epilogue included"))
    if a.layers:
        for pm in per_model.values():
            print(layer_table(pm))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
