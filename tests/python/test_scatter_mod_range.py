"""Mod, Not, ScatterND and Range, the ops of Swin-T's shifted-window mask (issue 10), at run time and at
conversion.

Oracle: ONNX Runtime (CPU) on the same model and inputs; integer and bool outputs exactly, float to
1e-6 relative. The run-time model computes each op from graph inputs (ScatterND's indices are an
int64 input, negative ones included, so nothing folds), and the same graph with those inputs bound
as initializers folds at conversion to the same values (folding runs the runtime's kernels); the
converted model exported back to ONNX gives ORT's values in ORT. An index
outside its dim fails `fgq run` with exit 2 naming the node; a Range whose inputs are known only at
run time is refused by `fgq convert` naming the file, the node and why (fgq plans static shapes).
"""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_fgq

IDX = np.array([[-1, 0], [0, 2], [-1, 0]], np.int64)  # (2, 0), (0, 2), (2, 0) again: duplicates


def mask_model(bound):
    """x [3, 4] f32, k [3, 4] int64, idx [3, 2] int64 -> Mod(k, d) both rules, Mod(x, 1.5) (fmod 1),
    Not(x < 0), ScatterND(x, idx, u) with reduction none (the last duplicate wins) and add. bound: k
    and idx are initializers (everything but the float ops on x folds)."""
    d = np.array([3, -3, 5, -5], np.int64)
    inits = [numpy_helper.from_array(d, "d"), numpy_helper.from_array(np.array(1.5, np.float32), "f15"),
             numpy_helper.from_array(np.array(0, np.float32), "zero"),
             numpy_helper.from_array(np.array([100, 200, 300], np.float32), "u")]
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])]
    k = np.array([[7, -7, 7, -7], [0, 9, -9, 12], [-13, 13, 4, -4]], np.int64)
    if bound:
        inits += [numpy_helper.from_array(k, "k"), numpy_helper.from_array(IDX, "idx")]
    else:
        ins += [helper.make_tensor_value_info("k", TensorProto.INT64, [3, 4]),
                helper.make_tensor_value_info("idx", TensorProto.INT64, [3, 2])]
    nodes = [helper.make_node("Mod", ["k", "d"], ["py"], name="mod_py"),
             helper.make_node("Mod", ["k", "d"], ["c"], name="mod_c", fmod=1),
             helper.make_node("Mod", ["x", "f15"], ["xf"], name="mod_f", fmod=1),
             helper.make_node("Less", ["x", "zero"], ["neg"]),
             helper.make_node("Not", ["neg"], ["nonneg"], name="not"),
             helper.make_node("ScatterND", ["x", "idx", "u"], ["s"], name="scatter"),
             helper.make_node("ScatterND", ["x", "idx", "u"], ["sa"], name="scatter_add", reduction="add")]
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in
            (("py", TensorProto.INT64), ("c", TensorProto.INT64), ("xf", TensorProto.FLOAT),
             ("nonneg", TensorProto.BOOL), ("s", TensorProto.FLOAT), ("sa", TensorProto.FLOAT))]
    m = helper.make_model(helper.make_graph(nodes, "mask", ins, outs, inits),
                          opset_imports=[helper.make_opsetid("", 16)])
    m.ir_version = 8
    return m, k


def fgq_outputs(tmp_path, model, inputs, n_out):
    args = ["run", model]
    for f in inputs:
        args += ["--input", f]
    outs = [tmp_path / f"o{i}.npy" for i in range(n_out)]
    for o in outs:
        args += ["-o", o]
    p = run_fgq(*args)
    assert p.returncode == 0, p.stderr
    return [np.load(o) for o in outs]


def same(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("bound", [False, True])
def test_mask_ops_match_ort(tmp_path, bound):
    m, k = mask_model(bound)
    path = tmp_path / "mask.onnx"
    onnx.save(m, path)
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32) * 4
    feeds = {"x": x} if bound else {"x": x, "k": k, "idx": IDX}
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    # the spec's values, so ORT is checked too: Python's % and C's fmod
    np.testing.assert_array_equal(want[0], np.mod(k, [3, -3, 5, -5]))
    np.testing.assert_array_equal(want[1], np.fmod(k, [3, -3, 5, -5]))
    inputs = []
    for name, arr in feeds.items():
        np.save(tmp_path / f"{name}.npy", arr)
        inputs.append(tmp_path / f"{name}.npy")
    got = fgq_outputs(tmp_path, path, inputs, 6)
    for g, w in zip(got, want):
        same(g, w)
    # converted: the .fgq gives the same; bound, the integer Mods are constants in it
    p = run_fgq("convert", path, "-o", tmp_path / "mask.fgq")
    assert p.returncode == 0, p.stderr
    for g, w in zip(fgq_outputs(tmp_path, tmp_path / "mask.fgq", inputs, 6), want):
        same(g, w)
    # exported back to ONNX (Mod with its fmod, Not, ScatterND with its reduction), ORT gives the same
    p = run_fgq("export", tmp_path / "mask.fgq", "--onnx", tmp_path / "back.onnx")
    assert p.returncode == 0, p.stderr
    back = ort.InferenceSession(str(tmp_path / "back.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(back, want):
        same(g, w)


def test_scatter_index_out_of_range_fails_the_run(tmp_path):
    m, k = mask_model(bound=False)
    path = tmp_path / "mask.onnx"
    onnx.save(m, path)
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    np.save(tmp_path / "k.npy", k)
    for bad in ([[3, 0]], [[0, -5]]):
        idx = np.array(bad * 3, np.int64)
        np.save(tmp_path / "idx.npy", idx)
        p = run_fgq("run", path, "--input", tmp_path / "x.npy", "--input", tmp_path / "k.npy", "--input",
                    tmp_path / "idx.npy", "-o", tmp_path / "y.npy")
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "node 'scatter' (ScatterND)" in p.stderr and "outside" in p.stderr, p.stderr
        assert not (tmp_path / "y.npy").exists()


def test_range_folds_and_a_run_time_range_is_refused(tmp_path):
    """Range(10, 1, -3) of constants folds to [10, 7, 4] (and an empty Range to []); Range(0, n, 1) with n
    a graph input cannot have a static length: refused, naming the file, the node and why."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("e", TensorProto.INT64, None)]
    c = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("a", 10), ("b", 1), ("m3", -3))]
    nodes = [helper.make_node("Range", ["a", "b", "m3"], ["r"], name="r"),
             helper.make_node("Cast", ["r"], ["rf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "rf"], ["y"]),
             helper.make_node("Range", ["b", "b", "m3"], ["e"], name="empty")]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], outs, c),
                                opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "r.onnx")
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    y, e = fgq_outputs(tmp_path, tmp_path / "r.onnx", [tmp_path / "x.npy"], 2)
    np.testing.assert_array_equal(y, np.array([11, 8, 5], np.float32))
    assert e.dtype == np.int64 and e.shape == (0,)

    n = helper.make_tensor_value_info("n", TensorProto.INT64, [])
    out = helper.make_tensor_value_info("r", TensorProto.INT64, None)
    c = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in (("zero", 0), ("one", 1))]
    g = helper.make_graph([helper.make_node("Range", ["zero", "n", "one"], ["r"], name="dyn")], "g", [n], [out], c)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "dyn.onnx")
    p = run_fgq("convert", tmp_path / "dyn.onnx", "-o", tmp_path / "dyn.fgq")
    assert p.returncode == 2, p.stderr
    for w in ("dyn.onnx", "node 'dyn' (Range)", "must be constants"):
        assert w in p.stderr, (w, p.stderr)
    assert not (tmp_path / "dyn.fgq").exists()
    p = run_fgq("inspect", tmp_path / "dyn.onnx", "--json")
    assert p.returncode == 0, p.stderr
    assert [u["op"] if isinstance(u, dict) else u for u in json.loads(p.stdout)["unsupported_ops"]] == ["Range"]


def test_swin_style_shape_chain_converts(tmp_path):
    """Swin-T's window padding as torch writes it: the pads are shape arithmetic through Mod and a
    Transpose of an int64 [n, 2] tensor, and a Shape of the padded tensor feeds a Range; the attention
    Dropout has ratio 0 with training_mode true (the identity). Each fold needs the shapes the one
    before gave, so conversion alternates folding and shape inference until nothing changes, and
    `fgq inspect` lists no unsupported op. Oracle: ONNX Runtime."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    inits = [i64("w", 5), i64("win", 4), i64("ax1", [1]), i64("z1", [0]), i64("zero", 0), i64("one", 1),
             i64("ax0", [0]), i64("m12", [-1, 2]), i64("st", [-1]), i64("en", [-1000]), i64("ax", [0]),
             i64("stp", [-1]), i64("m1", [-1]), i64("i2", 2),
             numpy_helper.from_array(np.array(0.0, np.float32), "ratio"),
             numpy_helper.from_array(np.array(True), "train")]
    nodes = [helper.make_node("Mod", ["w", "win"], ["r"]),                       # 5 % 4 = 1
             helper.make_node("Sub", ["win", "r"], ["p0"]),
             helper.make_node("Mod", ["p0", "win"], ["p"]),                      # (4 - 1) % 4 = 3
             helper.make_node("Unsqueeze", ["p", "ax0"], ["pu"]),
             # torch's pad pairs from the last dim: C (0, 0), W (0, 3), H (0, 3), N (0, 0)
             helper.make_node("Concat", ["z1", "z1", "z1", "pu", "z1", "pu", "z1", "z1"], ["pc"], axis=0),
             helper.make_node("Reshape", ["pc", "m12"], ["p2"]),
             helper.make_node("Slice", ["p2", "st", "en", "ax", "stp"], ["p2r"]),
             helper.make_node("Transpose", ["p2r"], ["pt"], perm=[1, 0]),
             helper.make_node("Reshape", ["pt", "m1"], ["pads"]),
             helper.make_node("Pad", ["x", "pads"], ["xp"]),
             helper.make_node("Dropout", ["xp", "ratio", "train"], ["xd"]),
             helper.make_node("Shape", ["xd"], ["s"]),
             helper.make_node("Gather", ["s", "i2"], ["h"]),                     # padded width 8
             helper.make_node("Range", ["zero", "h", "one"], ["rg"], name="range"),
             helper.make_node("Cast", ["rg"], ["rgf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["rgf", "ax1"], ["rgc"]),                # [8, 1]
             helper.make_node("Add", ["xd", "rgc"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 5, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    m = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "swin.onnx")
    xv = np.random.default_rng(2).standard_normal((1, 5, 5, 2)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "swin.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": xv})[0]
    assert want.shape == (1, 8, 8, 2)
    np.save(tmp_path / "x.npy", xv)
    p = run_fgq("convert", tmp_path / "swin.onnx", "-o", tmp_path / "swin.fgq")
    assert p.returncode == 0, p.stderr
    (got,) = fgq_outputs(tmp_path, tmp_path / "swin.fgq", [tmp_path / "x.npy"], 1)
    same(got, want)
    # inspect agrees: the Shape and Range it cannot see folding in the imported graph do fold
    p = run_fgq("inspect", tmp_path / "swin.onnx", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["unsupported_ops"] == []


@pytest.mark.parametrize("op", ["Mod", "Add"])
def test_broadcast_shape_arithmetic_folds_by_the_output_shape(tmp_path, op):
    """Integer shape arithmetic on constants that broadcast along different axes ([2, 1] with [1, 2])
    must give the 4-element outer result, as ONNX Runtime does; folding pairs element i with element i
    only when both operands have every output element or are one scalar (it gave 2 values)."""
    a, b = (np.array([[7], [9]], np.int64), np.array([[4, 5]], np.int64)) if op == "Mod" else \
        (np.array([[1], [2]], np.int64), np.array([[1, 2]], np.int64))
    shape = (a % b if op == "Mod" else a + b).reshape(-1)  # Mod: [3, 2, 1, 4]; Add: [2, 3, 3, 4]
    n = int(np.prod(shape))
    inits = [numpy_helper.from_array(a, "a"), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(np.array([-1], np.int64), "flat")]
    nodes = [helper.make_node(op, ["a", "b"], ["s2"]), helper.make_node("Reshape", ["s2", "flat"], ["s"]),
             helper.make_node("Reshape", ["x", "s"], ["y"])]
    g = helper.make_graph(nodes, "bc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = tmp_path / "bc.onnx"
    onnx.save(m, path)
    x = np.arange(n, dtype=np.float32).reshape(1, n)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert want.shape == tuple(shape)
    np.save(tmp_path / "x.npy", x)
    p = run_fgq("run", path, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert p.returncode == 0, p.stderr
    got = np.load(tmp_path / "y.npy")
    assert got.shape == want.shape and np.array_equal(got, want)
