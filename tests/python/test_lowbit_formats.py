"""s3 and s2 weights end to end, and s2's rows and groups of zeros.

s2's four levels (-3, -1, 1, 3) have no zero: a group whose weights are all 0 must get
multiplier 0 and an all-zero output channel the finest row step (quant/s2.h), else the
channel's output moves by whole steps (found in review: an all-zero row read -1 per weight).
Oracle: the float model run by fgq (`fgq run` of the ONNX file) on the same inputs.
"""
import json

import numpy as np
import pytest
from conftest import run_fgq

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

K, N = 64, 4


def _model(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(N, K)).astype(np.float32)
    w[1, :] = 0  # an output channel of zeros (BatchNorm gamma 0, a pruned filter)
    w[2, :16] = 0  # a group of zeros (s2:g16)
    b = np.array([0.5, 0.25, -0.5, 0.0], np.float32)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])],
                          [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = tmp_path / "zeros.onnx"
    onnx.save(m, str(path))
    x = rng.uniform(0, 1, size=(64, K)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return path, tmp_path / "x.npy", w


def _run(model, x, out):
    r = run_fgq("run", model, "--input", x, "-o", out)
    assert r.returncode == 0, r.stderr
    return np.load(out).reshape(-1, N)


@pytest.mark.parametrize("weights", ["s2", "s2:g16"])
@pytest.mark.parametrize("solver", ["rtn", "gptq"])
def test_s2_zero_rows_and_groups(tmp_path, weights, solver):
    model, x, w = _model(tmp_path)
    yf = _run(model, x, tmp_path / "yf.npy")
    q = tmp_path / "q.fgq"
    r = run_fgq("quantize", model, "--calib", x, "-o", q, "--weights", weights, "--first-last", "same",
                "--solver", solver, "--bias-correction", "off", "--json")
    assert r.returncode == 0, r.stderr
    yq = _run(q, x, tmp_path / "yq.npy")
    step = (yf.max() - yf.min()) / 255.0  # about one u8 output step
    assert np.abs(yq[:, 1] - yf[:, 1]).max() <= 1.5 * step, "the all-zero channel moved"
    if weights == "s2:g16" and solver == "rtn":  # the group of zeros stays 0 in the model (GPTQ may move it)
        o = tmp_path / "q.onnx"
        r = run_fgq("export", q, "--onnx", o)
        assert r.returncode == 0, r.stderr
        init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(o)).graph.initializer}
        codes = next(v for n, v in init.items() if n.endswith("w_codes"))
        scale = next(v for n, v in init.items() if n.endswith("w_scale0"))
        assert scale[2, 0] == 0 and scale[2, 1:].all() and codes.shape == (N, K)
    # the dequantized weights fgq reports: the zero row and group read 0
    r = run_fgq("weights", model, "--weights", weights, "--json-values")
    assert r.returncode == 0, r.stderr
    deq = np.array(json.loads(r.stdout)["tensors"][0]["dequant"]).reshape(N, K)
    assert not deq[1].any()
    if weights == "s2:g16":
        assert not deq[2, :16].any() and deq[2, 16:].all()


def test_s2_levels_and_s3_range(tmp_path):
    """The codes fgq writes are on each format's grid: s2 only -3/-1/1/3 (the export), s3 within -4..3."""
    model, x, _ = _model(tmp_path)
    for weights, allowed in (("s2:g16", {-3, -1, 1, 3}), ("s3:g16", set(range(-4, 4)))):
        q, o = tmp_path / "q.fgq", tmp_path / "q.onnx"
        r = run_fgq("quantize", model, "--calib", x, "-o", q, "--weights", weights, "--first-last", "same")
        assert r.returncode == 0, r.stderr
        r = run_fgq("export", q, "--onnx", o)
        assert r.returncode == 0, r.stderr
        codes = [numpy_helper.to_array(t) for t in onnx.load(str(o)).graph.initializer if t.name.endswith("w_codes")]
        assert codes and set(np.unique(codes[0]).tolist()) <= allowed, (weights, np.unique(codes[0]))
