"""ONNX's quantized operators beyond the node tests: random QLinearMatMul and QLinearConv
models (built with onnx.helper, constant scales and zero points, u8 weights with a
zero point, so fgq runs them on MATMUL_INT / CONV_INT) run by `fgq run` and by ONNX
Runtime (the oracle) on random u8 inputs. Outputs must be equal or within 1 step:
ORT requantizes in float (acc · (s_a·s_w/s_y) rounded half to even), fgq with the
int32 fixed-point multiplier of fgq_quantize_multiplier (gemmlowp rounding), so a
value within an ulp of a .5 boundary may round the other way. Also: MatMulInteger /
ConvInteger (s32, exact) and `fgq run`'s input checks (an out-of-range value names the file).
"""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_fgq

ort = pytest.importorskip("onnxruntime")


def _model(node, inputs, outputs, inits, opset=13):
    g = helper.make_graph([node], "g", inputs, outputs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _run_both(tmp_path, model, feeds):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)[0]
    args = ["run", str(path)]
    for i, (name, arr) in enumerate(feeds.items()):
        p = tmp_path / f"in{i}.npy"
        np.save(p, arr)
        args += ["--input", str(p)]
    out = tmp_path / "y.npy"
    p = run_fgq(*args, "-o", str(out))
    assert p.returncode == 0, p.stderr
    got = np.load(out)
    assert got.dtype == want.dtype and got.shape == want.shape
    return got, want


def _scalar(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


@pytest.mark.parametrize("seed", range(6))
def test_qlinearmatmul_random_vs_ort(tmp_path, seed):
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in (rng.integers(1, 9), rng.integers(1, 64), rng.integers(1, 17)))
    sa, sb = rng.uniform(0.001, 0.05), rng.uniform(0.001, 0.05)
    sy = sa * sb * np.sqrt(k) * rng.uniform(20, 80)
    za, zb, zy = (int(v) for v in rng.integers(0, 256, 3))
    b = rng.integers(0, 256, (k, n), dtype=np.uint8)
    inits = [_scalar("sa", sa, np.float32), _scalar("za", za, np.uint8), numpy_helper.from_array(b, "b"),
             _scalar("sb", sb, np.float32), _scalar("zb", zb, np.uint8), _scalar("sy", sy, np.float32),
             _scalar("zy", zy, np.uint8)]
    node = helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
    model = _model(node, [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                   [helper.make_tensor_value_info("y", TensorProto.UINT8, [m, n])], inits)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    got, want = _run_both(tmp_path, model, {"a": a})
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= 1, diff.max()
    assert np.mean(diff == 0) >= 0.9  # off-by-one only at near-ties


@pytest.mark.parametrize("seed", range(6))
def test_qlinearconv_random_vs_ort(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    group = int(rng.integers(1, 3))
    c, mo = group * int(rng.integers(1, 4)), group * int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    h, w = int(rng.integers(kh, 10)), int(rng.integers(kw, 10))
    pads = [int(v) for v in rng.integers(0, 2, 4)]
    strides = [int(v) for v in rng.integers(1, 3, 2)]
    sx, sw = rng.uniform(0.001, 0.05), rng.uniform(0.001, 0.05)
    kred = (c // group) * kh * kw
    sy = sx * sw * np.sqrt(kred) * rng.uniform(20, 80)
    zx, zw, zy = (int(v) for v in rng.integers(0, 256, 3))
    wt = rng.integers(0, 256, (mo, c // group, kh, kw), dtype=np.uint8)
    bias = rng.integers(-5000, 5000, (mo,), dtype=np.int32)
    inits = [_scalar("sx", sx, np.float32), _scalar("zx", zx, np.uint8), numpy_helper.from_array(wt, "w"),
             _scalar("sw", sw, np.float32), _scalar("zw", zw, np.uint8), _scalar("sy", sy, np.float32),
             _scalar("zy", zy, np.uint8), numpy_helper.from_array(bias, "bias")]
    node = helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "bias"], ["y"],
                            pads=pads, strides=strides, group=group)
    oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - kw) // strides[1] + 1
    model = _model(node, [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, c, h, w])],
                   [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, mo, oh, ow])], inits)
    x = rng.integers(0, 256, (1, c, h, w), dtype=np.uint8)
    got, want = _run_both(tmp_path, model, {"x": x})
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= 1, diff.max()
    assert np.mean(diff == 0) >= 0.9


def test_matmulinteger_s8_exact_vs_ort(tmp_path):
    rng = np.random.default_rng(7)
    b = rng.integers(-128, 128, (33, 5), dtype=np.int8)
    inits = [numpy_helper.from_array(b, "b"), _scalar("za", 255, np.uint8), _scalar("zb", -128, np.int8)]
    node = helper.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])
    model = _model(node, [helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 3, 33])],
                   [helper.make_tensor_value_info("y", TensorProto.INT32, [2, 3, 5])], inits)
    a = rng.integers(0, 256, (2, 3, 33), dtype=np.uint8)
    got, ort_y = _run_both(tmp_path, model, {"a": a})
    # Oracle: the exact integer product. ONNX Runtime is exact only where its kernel is: on AVX2-only
    # CPUs its u8 x s8 MatMulInteger uses vpmaddubsw, whose int16 pair sums saturate with these zero
    # points (|255 - 0| * |127 + 128| * 2 > 32767), so there it is compared where it did not saturate.
    want = (a.astype(np.int64) - 255) @ (b.astype(np.int64) + 128)
    np.testing.assert_array_equal(got, want)
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if "avx512_vnni" in flags or "avx_vnni" in flags:  # ORT's VNNI kernels accumulate in int32: exact
        np.testing.assert_array_equal(ort_y, want)


def test_run_refuses_out_of_range_input(tmp_path):
    node = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])
    model = _model(node, [helper.make_tensor_value_info("x", TensorProto.UINT8, [3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
                   [_scalar("s", 0.5, np.float32), _scalar("z", 3, np.uint8)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([1, 256, 3], dtype=np.int32))
    p = run_fgq("run", str(path), "--input", str(bad))
    assert p.returncode == 2 and "bad.npy" in p.stderr and "u8" in p.stderr, p.stderr
    ok = tmp_path / "ok.npy"
    np.save(ok, np.array([1, 255, 3], dtype=np.uint8))
    out = tmp_path / "y.npy"
    p = run_fgq("run", str(path), "--input", str(ok), "-o", str(out))
    assert p.returncode == 0, p.stderr
    np.testing.assert_array_equal(np.load(out), np.array([-1.0, 126.0, 0.0], dtype=np.float32))
