"""`fgq weights` against independent NumPy re-computations of the quantization contract.

Oracles: the onnx package reads the weights (numpy_helper); NumPy recomputes s8 per-channel
quantization and the least-squares ternary optimum per group (brute force over thresholds),
written here from DESIGN §3, not from fgq's C code.
"""
import json
import math
import os

import numpy as np
import onnx
import pytest
from conftest import REPO_ROOT, _shared_dir, run_fgq
from onnx import numpy_helper

MNIST = str(REPO_ROOT / "examples" / "mnist-8" / "model.onnx")
SHARED = str(_shared_dir())


def fgq(*args, check=True):
    p = run_fgq(*args)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def weights_json(model, policy):
    return json.loads(fgq("weights", model, "--weights", policy, "--json").stdout)


def mnist_weights():
    """The [rows, k] view of each weight of mnist-8, computed with onnx + numpy."""
    m = onnx.load(MNIST)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    produced = {}
    for n in m.graph.node:  # constant Reshapes feeding MatMul
        if n.op_type == "Reshape" and all(i in init for i in n.input):
            produced[n.output[0]] = init[n.input[0]].reshape(init[n.input[1]])
    init.update(produced)
    out = []
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = init[n.input[1]]
            out.append(w.reshape(w.shape[0], -1))
        elif n.op_type == "MatMul":
            out.append(init[n.input[1]].T)
    return out


def sqnr_db(x, xq):
    err = float(np.sum((x.astype(np.float64) - xq) ** 2))
    return math.inf if err == 0 else 10 * math.log10(float(np.sum(x.astype(np.float64) ** 2)) / err)


def s8_per_channel(w):
    s = np.abs(w).max(axis=1, keepdims=True) / 127.0
    s[s == 0] = 1.0
    return np.clip(np.round(w / s), -127, 127) * s


def ternary_optimum(w, n):
    """Least-squares ternary per group of n along each row: try every k (the k largest |w| kept)."""
    out = np.zeros_like(w, dtype=np.float64)
    for r in range(w.shape[0]):
        for g0 in range(0, w.shape[1], n):
            g = w[r, g0:g0 + n].astype(np.float64)
            a = np.abs(g)
            order = np.argsort(-a)
            best, best_k = 0.0, 0
            for k in range(1, len(g) + 1):
                s = a[order[:k]].sum()
                if s * s / k > best:
                    best, best_k = s * s / k, k
            if best_k:
                alpha = a[order[:best_k]].sum() / best_k
                q = np.zeros_like(g)
                q[order[:best_k]] = np.sign(g[order[:best_k]]) * alpha
                out[r, g0:g0 + n] = q
    return out


def test_mnist_tensors_and_s8_sqnr():
    ref = mnist_weights()
    got = weights_json(MNIST, "s8")
    assert got["policy"] == "s8"
    assert len(got["tensors"]) == len(ref) == 3
    for t, w in zip(got["tensors"], ref):
        assert (t["rows"], t["k"]) == w.shape
        expect = sqnr_db(w, s8_per_channel(w))
        assert t["sqnr_db"] == pytest.approx(expect, abs=0.05), t["name"]
        # 8 bits per weight plus one f32 scale per row
        assert t["bits_per_weight"] == pytest.approx(8 + 32 / w.shape[1], rel=1e-6)
    total_w = sum(w.size for w in ref)
    assert got["total"]["float_bytes"] == 4 * total_w


@pytest.mark.parametrize("n", [4, 16])
def test_mnist_ternary_exact_near_least_squares_optimum(n):
    """fgq stores α as a small integer times a per-row scale, so it may lose a little
    against the float optimum, but never gain, and the loss is small."""
    got = weights_json(MNIST, f"ternary:g{n}:exact")
    for t, w in zip(got["tensors"], mnist_weights()):
        best = sqnr_db(w, ternary_optimum(w, n))
        assert t["sqnr_db"] <= best + 1e-3, t["name"]
        assert t["sqnr_db"] >= best - 0.5, t["name"]
        assert 0.0 <= t["zero_fraction"] < 1.0


def test_exact_and_asym_not_worse_than_twn():
    twn = weights_json(MNIST, "ternary:g16:twn")["tensors"]
    for solver in ("exact", "asym"):
        other = weights_json(MNIST, f"ternary:g16:{solver}")["tensors"]
        for a, b in zip(twn, other):
            assert b["sqnr_db"] >= a["sqnr_db"] - 0.05, (solver, a["name"])


def test_bits_shrink_with_policy():
    bits = {p: weights_json(MNIST, p)["total"]["quant_bytes"]
            for p in ("f32", "u8", "s8", "s4:g32", "ternary:g64")}
    assert bits["f32"] > bits["s8"] > bits["s4:g32"] > bits["ternary:g64"]
    assert bits["f32"] > bits["u8"] > bits["s4:g32"]


def test_table_output_names_every_tensor():
    p = fgq("weights", MNIST, "--weights", "ternary:g4")
    assert "ternary:g4:exact" in p.stdout
    for name in ("Parameter5", "Parameter87"):
        assert name in p.stdout


@pytest.mark.parametrize("name", ["model_ic", "model_kws", "model_vww", "model_ad"])
def test_tiny_models_every_conv_and_gemm_weight(name):
    path = os.path.join(SHARED, "models", "tiny-v0.7", name + ".onnx")
    m = onnx.load(path)
    n_weight_ops = sum(1 for n in m.graph.node if n.op_type in ("Conv", "Gemm", "MatMul"))
    got = weights_json(path, "ternary:g16:asym")
    assert len(got["tensors"]) == n_weight_ops
    for t in got["tensors"]:
        assert t["sqnr_db"] is None or t["sqnr_db"] > 3.0, t


@pytest.mark.parametrize("args", [
    ["--weights", "ternary:g0"],
    ["--weights", "s9"],
    ["--weights", "ternary:g4:foo"],
    [],                                  # policy missing
    ["--weights", "s8", "--frobnicate"],  # unknown flag
])
def test_usage_errors_exit_2(args):
    p = fgq("weights", MNIST, *args, check=False)
    assert p.returncode == 2, p.stderr
    assert "fgq weights" in p.stderr


def test_nan_weight_names_the_tensor(tmp_path):
    m = onnx.load(MNIST)
    for t in m.graph.initializer:
        if t.name == "Parameter87":
            w = numpy_helper.to_array(t).copy()
            w[3, 2, 1, 0] = np.nan
            t.CopyFrom(numpy_helper.from_array(w, t.name))
    bad = tmp_path / "nan.onnx"
    onnx.save(m, bad)
    p = fgq("weights", str(bad), "--weights", "s8", check=False)
    assert p.returncode == 2
    assert "Parameter87" in p.stderr and "NaN" in p.stderr.replace("nan", "NaN")


def test_missing_model_exit_2(tmp_path):
    p = fgq("weights", str(tmp_path / "nope.onnx"), "--weights", "s8", check=False)
    assert p.returncode == 2
    assert "nope.onnx" in p.stderr


@pytest.mark.parametrize("layer", ["Convolution110", "Parameter87"])
def test_json_values_one_layer(layer):
    """--layer picks one weight by its node's or its tensor's name; --json-values gives its float
    weights (oracle: onnx + numpy), the dequantized ones (their SQNR is the reported one) and, per
    ternary group, alpha = the value of its +-1 codes and delta = the largest |w| of a sign coded 0."""
    got = json.loads(fgq("weights", MNIST, "--weights", "ternary:g4:asym", "--layer", layer, "--json-values").stdout)
    assert len(got["tensors"]) == 1
    t = got["tensors"][0]
    assert (t["name"], t["node"], t["group"]) == ("Parameter87", "Convolution110", 4)
    w = np.array(t["float"], dtype=np.float32).reshape(t["rows"], t["k"])
    q = np.array(t["dequant"], dtype=np.float64).reshape(t["rows"], t["k"])
    assert np.array_equal(w, mnist_weights()[1].astype(np.float32))
    assert sqnr_db(w, q) == pytest.approx(t["sqnr_db"], abs=1e-4)
    n_groups = t["k"] // 4
    for key in ("alpha_pos", "alpha_neg", "delta_pos", "delta_neg"):
        assert len(t[key]) == t["rows"] * n_groups
    wg, qg = w.reshape(-1, 4), q.reshape(-1, 4)
    for g in range(wg.shape[0]):
        ap, an = t["alpha_pos"][g], t["alpha_neg"][g]
        assert set(np.round(qg[g], 6)) <= {0.0, round(ap, 6), round(-an, 6)}
        zero_pos = wg[g][(qg[g] == 0) & (wg[g] >= 0)]
        assert t["delta_pos"][g] == pytest.approx(zero_pos.max() if zero_pos.size else 0.0)
        assert np.all(wg[g][qg[g] > 0] > t["delta_pos"][g])  # coded +1 iff above delta
        zero_neg = wg[g][(qg[g] == 0) & (wg[g] <= 0)]
        assert t["delta_neg"][g] == pytest.approx(-zero_neg.min() if zero_neg.size else 0.0)


def test_layer_unknown_names_the_weights():
    p = fgq("weights", MNIST, "--weights", "s8", "--layer", "nope", "--json-values", check=False)
    assert p.returncode == 2
    assert "'nope'" in p.stderr and "Parameter87 (Convolution110)" in p.stderr
    s8 = json.loads(fgq("weights", MNIST, "--weights", "s8", "--layer", "Times212", "--json-values").stdout)
    assert "alpha_pos" not in s8["tensors"][0] and len(s8["tensors"][0]["dequant"]) == 2560
