#!/usr/bin/env python3
"""fuzz/make_seeds.py DIR — writes the committed seeds: DIR/onnx/ (fuzz_onnx_import) and DIR/data/ (fuzz_data).

Regenerate with `python3 fuzz/make_seeds.py fuzz/seeds [--fgq build/fgq]` (needs the `onnx` and `numpy`
packages; --fgq also writes DIR/fgq/, .fgq models with the integer ops QLUT, QMUL, MATMUL_INT and the
mask ops, for fuzz_fgq_load; fuzz/run.sh only reads the files). Everything is deterministic (fixed seeds, gzip mtime 0).

ONNX: one model per op family fgq imports (conv + BatchNorm + Relu, Gemm, MatMul, pools, the shape arithmetic
exporters write around Reshape, Slice / Pad / Split / Resize, LSTM / GRU, ConvTranspose, the
reductions, QDQ and the integer ONNX ops), each a few hundred bytes to a few KB, so the fuzzer starts
from models that reach shape inference, the passes, lowering and the runtime instead of dying in the
protobuf decoder.

Data: .npy of every dtype fgq reads (v1 and v2 headers), .npz stored and deflated, IDX of every element
type, and gzipped IDX / .npy, each a few dozen to a few hundred bytes.
"""
import gzip
import io
import pathlib
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

RNG = np.random.default_rng(0)
F, I64 = TP.FLOAT, TP.INT64


def w(name, *shape, dtype=np.float32):
    if dtype == np.float32:
        return nh.from_array((RNG.standard_normal(shape) * 0.5).astype(np.float32), name)
    return nh.from_array(RNG.integers(-8, 8, size=shape).astype(dtype), name)


def c(name, values, dtype=np.int64):
    return nh.from_array(np.array(values, dtype=dtype), name)


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def model(name, nodes, inputs, outputs, inits=(), opset=13):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="fgq-fuzz-seeds")
    m.ir_version = 8
    return m


def seeds():
    x4 = [vi("x", F, [1, 2, 5, 5])]
    yield "conv_bn_relu", model("conv_bn_relu", [
        h.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], epsilon=1e-5),
        h.make_node("Relu", ["n"], ["y"])], x4, [vi("y", F, None)],
        [w("w", 3, 2, 3, 3), w("b", 3), w("s", 3), w("bb", 3), w("m", 3),
         nh.from_array(np.abs(RNG.standard_normal(3)).astype(np.float32) + 0.1, "v")])
    yield "conv_dw_clip_pool", model("conv_dw_clip_pool", [
        h.make_node("Conv", ["x", "w"], ["c"], group=2, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        h.make_node("Clip", ["c", "lo", "hi"], ["r"]),
        h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[1, 1]),
        h.make_node("AveragePool", ["p"], ["a"], kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1),
        h.make_node("GlobalAveragePool", ["a"], ["y"])], x4, [vi("y", F, None)],
        [w("w", 2, 1, 3, 3), c("lo", 0.0, np.float32), c("hi", 6.0, np.float32)])
    yield "gemm_softmax", model("gemm_softmax", [
        h.make_node("Flatten", ["x"], ["f"], axis=1),
        h.make_node("Gemm", ["f", "w", "b"], ["g"], transB=1, alpha=0.5, beta=1.0),
        h.make_node("LeakyRelu", ["g"], ["l"], alpha=0.1),
        h.make_node("Softmax", ["l"], ["y"], axis=-1)], [vi("x", F, ["N", 3, 2])], [vi("y", F, None)],
        [w("w", 4, 6), w("b", 4)])
    yield "matmul_eltwise", model("matmul_eltwise", [
        h.make_node("MatMul", ["x", "w"], ["m"]),
        h.make_node("Add", ["m", "b"], ["a"]),
        h.make_node("Mul", ["a", "a"], ["s"]),
        h.make_node("Sub", ["s", "b"], ["d"]),
        h.make_node("Div", ["d", "k"], ["e"]),
        h.make_node("Sigmoid", ["e"], ["g"]),
        h.make_node("Tanh", ["g"], ["t"]),
        h.make_node("Erf", ["t"], ["q"]),
        h.make_node("Pow", ["q", "two"], ["y"])], [vi("x", F, [2, 3, 4])], [vi("y", F, None)],
        [w("w", 4, 5), w("b", 5), c("k", [2.0], np.float32), c("two", 2, np.int64)])
    yield "reshape_shape_arith", model("reshape_shape_arith", [
        h.make_node("Shape", ["x"], ["sh"]),
        h.make_node("Gather", ["sh", "i0"], ["n"], axis=0),
        h.make_node("Unsqueeze", ["n", "ax0"], ["nu"]),
        h.make_node("Concat", ["nu", "minus1"], ["shape"], axis=0),
        h.make_node("Reshape", ["x", "shape"], ["r"]),
        h.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
        h.make_node("Unsqueeze", ["t", "ax0"], ["u"]),
        h.make_node("Squeeze", ["u", "ax0"], ["y"])], [vi("x", F, [2, 3, 4])], [vi("y", F, None)],
        [c("i0", 0), c("ax0", [0]), c("minus1", [-1])])
    yield "const_expand_where", model("const_expand_where", [
        h.make_node("Constant", [], ["cs"], value=c("cv", [1, 4])),
        h.make_node("ConstantOfShape", ["cs"], ["z"], value=nh.from_array(np.array([1.5], np.float32))),
        h.make_node("Equal", ["cs", "cs"], ["eq"]),
        h.make_node("Where", ["eq", "cs", "cs"], ["wh"]),
        h.make_node("Expand", ["z", "wh"], ["ex"]),
        h.make_node("Cast", ["ex"], ["cf"], to=F),
        h.make_node("Add", ["x", "cf"], ["y"])], [vi("x", F, [1, 4])], [vi("y", F, None)])
    yield "swin_mask_ops", model("swin_mask_ops", [
        h.make_node("Range", ["zero", "three", "one"], ["r"]),
        h.make_node("Mod", ["r", "two"], ["rm"]),
        h.make_node("Transpose", ["ip"], ["ipt"], perm=[1, 0]),
        h.make_node("Cast", ["rm"], ["rf"], to=F),
        h.make_node("ScatterND", ["x", "ipt", "upd"], ["s"], reduction="add"),
        h.make_node("Mod", ["s", "f15"], ["sm"], fmod=1),
        h.make_node("Less", ["sm", "fz"], ["neg"]),
        h.make_node("Not", ["neg"], ["pos"]),
        h.make_node("Where", ["pos", "sm", "rf"], ["y"])], [vi("x", F, [2, 3])], [vi("y", F, None)],
        [c("zero", 0), c("three", 3), c("one", 1), c("two", 2), c("ip", [[1], [-1]]), c("upd", [0.5], np.float32),
         c("f15", 1.5, np.float32), c("fz", 0.0, np.float32)], opset=16)
    yield "slice_pad_split_concat", model("slice_pad_split_concat", [
        h.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["s"]),
        h.make_node("Pad", ["s", "pads"], ["p"], mode="constant"),
        h.make_node("Split", ["p", "split"], ["a", "b"], axis=1),
        h.make_node("Concat", ["b", "a"], ["y"], axis=1)], [vi("x", F, [1, 4, 6])], [vi("y", F, None)],
        [c("st", [0, 1]), c("en", [4, 6]), c("ax", [1, 2]), c("sp", [1, 2]), c("pads", [0, 0, 1, 0, 0, 0]),
         c("split", [1, 3])])
    yield "resize_upsample", model("resize_upsample", [
        h.make_node("Resize", ["x", "", "scales"], ["r"], mode="nearest"),
        h.make_node("Resize", ["r", "", "", "sizes"], ["y"], mode="linear",
                    coordinate_transformation_mode="half_pixel")], [vi("x", F, [1, 1, 2, 3])], [vi("y", F, None)],
        [c("scales", [1, 1, 2, 2], np.float32), c("sizes", [1, 1, 3, 5])])
    yield "upsample_opset9", model("upsample_opset9", [
        h.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")], [vi("x", F, [1, 1, 2, 2])],
        [vi("y", F, None)], [c("scales", [1, 1, 2, 2], np.float32)], opset=9)
    yield "reductions_norm", model("reductions_norm", [
        h.make_node("ReduceMean", ["x"], ["a"], axes=[2], keepdims=1),
        h.make_node("ReduceSum", ["x", "ax"], ["b"], keepdims=1),
        h.make_node("ReduceMax", ["x"], ["c"], axes=[-1], keepdims=1),
        h.make_node("ReduceMin", ["x"], ["d"], axes=[1], keepdims=0),
        h.make_node("ReduceL2", ["x"], ["e"], axes=[2], keepdims=1),
        h.make_node("ReduceSumSquare", ["x"], ["f"], axes=[2], keepdims=1),
        h.make_node("Add", ["a", "b"], ["ab"]),
        h.make_node("Add", ["ab", "c"], ["abc"]),
        h.make_node("Add", ["abc", "e"], ["abce"]),
        h.make_node("Add", ["abce", "f"], ["s"]),
        h.make_node("LayerNormalization", ["x", "g", "bb"], ["y"], axis=-1, epsilon=1e-5),
        h.make_node("Sqrt", ["s"], ["z"])], [vi("x", F, [2, 3, 4])], [vi("y", F, None), vi("z", F, None),
                                                                      vi("d", F, None)],
        [c("ax", [2]), w("g", 4), w("bb", 4)], opset=13)
    yield "hard_gelu", model("hard_gelu", [
        h.make_node("HardSigmoid", ["x"], ["a"], alpha=0.2, beta=0.5),
        h.make_node("HardSwish", ["a"], ["b"]),
        h.make_node("Gelu", ["b"], ["c"]),
        h.make_node("Identity", ["c"], ["d"]),
        h.make_node("Dropout", ["d"], ["y"])], [vi("x", F, [1, 8])], [vi("y", F, None)], opset=20)
    yield "lstm", model("lstm", [
        h.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Yh"], hidden_size=3)],
        [vi("x", F, [2, 1, 4])], [vi("Y", F, None), vi("Yh", F, None)],
        [w("W", 1, 12, 4), w("R", 1, 12, 3), w("B", 1, 24)])
    yield "gru_bidir", model("gru_bidir", [
        h.make_node("GRU", ["x", "W", "R", "B"], ["Y"], hidden_size=2, direction="bidirectional",
                    linear_before_reset=1)],
        [vi("x", F, [3, 1, 2])], [vi("Y", F, None)], [w("W", 2, 6, 2), w("R", 2, 6, 2), w("B", 2, 12)])
    yield "conv_transpose", model("conv_transpose", [
        h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1],
                    output_padding=[1, 1])], [vi("x", F, [1, 2, 3, 3])], [vi("y", F, None)],
        [w("w", 2, 3, 3, 3), w("b", 3)])
    yield "qdq_conv", model("qdq_conv", [
        h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        h.make_node("DequantizeLinear", ["wq", "ws"], ["wd"], axis=0),
        h.make_node("Conv", ["xd", "wd"], ["y"], kernel_shape=[1, 1])], [vi("x", F, [1, 2, 3, 3])],
        [vi("y", F, None)],
        [c("xs", 0.05, np.float32), c("xz", 128, np.uint8), w("wq", 2, 2, 1, 1, dtype=np.int8),
         c("ws", 0.1, np.float32)])
    yield "qlinear_conv_matmul", model("qlinear_conv_matmul", [
        h.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["c"], kernel_shape=[1, 1]),
        h.make_node("Flatten", ["c"], ["f"]),
        h.make_node("QLinearMatMul", ["f", "ys", "yz", "m", "ms", "mz", "os", "oz"], ["y"])],
        [vi("x", TP.UINT8, [1, 2, 2, 2])], [vi("y", TP.UINT8, None)],
        [c("xs", 0.05, np.float32), c("xz", 128, np.uint8), w("w", 3, 2, 1, 1, dtype=np.int8),
         c("ws", 0.1, np.float32), c("wz", 0, np.int8), c("ys", 0.2, np.float32), c("yz", 120, np.uint8),
         c("b", [1, -2, 3], np.int32), w("m", 12, 2, dtype=np.int8), c("ms", 0.1, np.float32), c("mz", 0, np.int8),
         c("os", 0.3, np.float32), c("oz", 100, np.uint8)])
    yield "integer_ops", model("integer_ops", [
        h.make_node("MatMulInteger", ["x", "w", "xz"], ["y"])], [vi("x", TP.UINT8, [2, 4])],
        [vi("y", TP.INT32, None)], [w("w", 4, 3, dtype=np.uint8), c("xz", 7, np.uint8)])
    yield "dynamic_quantize", model("dynamic_quantize", [
        h.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
        h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])], [vi("x", F, [2, 4])], [vi("y", F, None)])
    yield "conv_integer", model("conv_integer", [
        h.make_node("ConvInteger", ["x", "w", "xz"], ["y"], kernel_shape=[2, 2])],
        [vi("x", TP.UINT8, [1, 1, 3, 3])], [vi("y", TP.INT32, None)],
        [w("w", 2, 1, 2, 2, dtype=np.uint8), c("xz", 3, np.uint8)])
    # float16 weights and inputs, the typed (not raw) data fields, IR 3 style inputs that list initializers
    m = model("fp16_typed", [h.make_node("Add", ["x", "w"], ["y"])], [vi("x", TP.FLOAT16, [1, 3]),
                                                                      vi("w", TP.FLOAT16, [1, 3])],
              [vi("y", TP.FLOAT16, None)])
    m.graph.initializer.append(h.make_tensor("w", TP.FLOAT16, [1, 3], np.array([1, -2, 0.5], np.float16)
                                             .view(np.uint16).astype(np.int32).tolist()))
    yield "fp16_typed", m
    yield "typed_fields", model("typed_fields", [
        h.make_node("Reshape", ["x", "s"], ["r"]),
        h.make_node("Add", ["r", "b"], ["y"])], [vi("x", F, [2, 3])], [vi("y", F, None)],
        [h.make_tensor("s", I64, [2], [3, 2]), h.make_tensor("b", F, [2], [0.5, -1.0])])


def idx_bytes(code, arr):
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def npy_bytes(arr, version=None):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def npz_bytes(compressed, **arrays):
    """An .npz as np.savez / np.savez_compressed write it (members NAME.npy, ZIP64 extra fields), with a
    fixed timestamp so the bytes do not change from run to run."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
            with z.open(info, "w", force_zip64=True) as f:
                f.write(npy_bytes(arr))
    return b.getvalue()


def data_seeds():
    r = np.random.default_rng(0)
    yield "x_u8_nchw.npy", npy_bytes(r.integers(0, 255, (2, 1, 4, 4), dtype=np.uint8))
    yield "x_f32_nhwc.npy", npy_bytes(r.random((2, 2, 2, 3), dtype=np.float32))
    yield "x_f64.npy", npy_bytes(r.random((3, 5)))
    yield "x_i1.npy", npy_bytes(r.integers(-5, 5, (3, 4), dtype=np.int8))
    yield "x_i2.npy", npy_bytes(r.integers(-500, 500, (2, 3), dtype=np.int16))
    yield "x_v2.npy", npy_bytes(np.arange(6, dtype=np.float32).reshape(2, 3), version=(2, 0))
    yield "y_i64.npy", npy_bytes(np.array([3, 1, 4, 1, 5], dtype=np.int64))
    yield "y_i32_col.npy", npy_bytes(np.array([[2], [7], [1]], dtype=np.int32))
    yield "y_bool.npy", npy_bytes(np.array([True, False, True]))
    yield "y_f32_int.npy", npy_bytes(np.array([1.0, 2.0, 0.0], dtype=np.float32))
    yield "xy_stored.npz", npz_bytes(False, x=r.random((2, 3), dtype=np.float32), y=np.array([0, 1]))
    yield "xy_deflated.npz", npz_bytes(True, x=r.integers(0, 9, (2, 1, 3, 3), dtype=np.uint8), arr_0=np.array([1, 2]))
    yield "images-idx3-ubyte", idx_bytes(0x08, r.integers(0, 255, (3, 4, 4), dtype=np.uint8))
    yield "labels-idx1-ubyte", idx_bytes(0x08, np.array([1, 2, 3], dtype=np.uint8))
    yield "s8-idx1", idx_bytes(0x09, np.array([-1, 2, -3], dtype=np.int8))
    yield "s16-idx2", idx_bytes(0x0B, r.integers(-9, 9, (2, 2), dtype=np.int16))
    yield "s32-idx1", idx_bytes(0x0C, r.integers(-9, 9, (4,), dtype=np.int32))
    yield "f32-idx2", idx_bytes(0x0D, r.random((2, 3), dtype=np.float32))
    yield "f64-idx1", idx_bytes(0x0E, r.random(3))
    yield "images-idx3-ubyte.gz", gzip.compress(idx_bytes(0x08, r.integers(0, 255, (2, 3, 3), dtype=np.uint8)),
                                                mtime=0)
    yield "x_f32.npy.gz", gzip.compress(npy_bytes(np.arange(4, dtype=np.float32).reshape(2, 2)), mtime=0)


def fgq_seed_models():
    """Float ONNX models whose quantized (or converted) .fgq carries the integer ops a hand-built seed
    lacks: QLUT (HardSwish, HardSigmoid, Swish), QMUL (a squeeze-excitation gate), MATMUL_INT (Q·Kᵀ, P·V),
    and the float Mod / Not / ScatterND / Where of an attention mask. (name, model, quantize?)"""
    se = h.make_graph(
        [h.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1]), h.make_node("HardSwish", ["c0"], ["a"]),
         h.make_node("GlobalAveragePool", ["a"], ["sq"]), h.make_node("Conv", ["sq", "w1"], ["e"]),
         h.make_node("HardSigmoid", ["e"], ["g"]), h.make_node("Mul", ["a", "g"], ["m"]),
         h.make_node("Sigmoid", ["m"], ["s"]), h.make_node("Mul", ["m", "s"], ["y"])],
        "se", [h.make_tensor_value_info("x", F, [1, 3, 6, 6])], [h.make_tensor_value_info("y", F, None)],
        [w("w0", 4, 3, 3, 3), w("w1", 4, 4, 1, 1)])
    att = h.make_graph(
        [h.make_node("MatMul", ["x", "wq"], ["q"]), h.make_node("MatMul", ["x", "wk"], ["k"]),
         h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]), h.make_node("MatMul", ["q", "kt"], ["s"]),
         h.make_node("Softmax", ["s"], ["p"], axis=-1), h.make_node("MatMul", ["p", "x"], ["y"])],
        "att", [h.make_tensor_value_info("x", F, [1, 4, 8])], [h.make_tensor_value_info("y", F, None)],
        [w("wq", 8, 8), w("wk", 8, 8)])
    mask = h.make_graph(
        [h.make_node("Mod", ["k", "d"], ["r"], fmod=0), h.make_node("Equal", ["r", "zero"], ["e"]),
         h.make_node("Not", ["e"], ["ne"]), h.make_node("ScatterND", ["x", "idx", "u"], ["xs"]),
         h.make_node("Where", ["ne", "xs", "x"], ["y"])],
        "mask", [h.make_tensor_value_info("x", F, [3, 4]), h.make_tensor_value_info("k", I64, [3, 4]),
                 h.make_tensor_value_info("idx", I64, [2, 2])], [h.make_tensor_value_info("y", F, None)],
        [c("d", [3, -3, 5, -5]), c("zero", 0), c("u", [1.0, 2.0], np.float32)])
    for name, g, quant in (("se", se, True), ("attention", att, True), ("mask", mask, False)):
        m = h.make_model(g, opset_imports=[h.make_opsetid("", 14)])
        m.ir_version = 8
        yield name, m, quant


def fgq_seeds(out, fgq):
    """DIR/fgq/*.fgq for fuzz_fgq_load, made by the fgq binary `fgq` (quantize s8 with 8 random
    calibration samples, or convert). Regenerate when the .fgq format changes."""
    import subprocess
    import tempfile
    (out / "fgq").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for name, m, quant in fgq_seed_models():
            src, dst = tmp / f"{name}.onnx", out / "fgq" / f"{name}.fgq"
            src.write_bytes(m.SerializeToString())
            if quant:
                shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim][1:]
                np.save(tmp / "calib.npy", RNG.standard_normal([8] + shape).astype(np.float32))
                argv = [fgq, "quantize", src, "--calib", tmp / "calib.npy", "--weights", "s8", "--solver", "rtn",
                        "-o", dst]
            else:
                argv = [fgq, "convert", src, "-o", dst]
            subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL)


def main():
    out = pathlib.Path(sys.argv[1])
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name, m in seeds():
        (out / "onnx" / f"{name}.onnx").write_bytes(m.SerializeToString())
    for name, b in data_seeds():
        (out / "data" / name).write_bytes(b)
    if len(sys.argv) == 4 and sys.argv[2] == "--fgq":  # the .fgq seeds need a built fgq
        fgq_seeds(out, sys.argv[3])


if __name__ == "__main__":
    main()
