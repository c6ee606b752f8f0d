"""`fgq eval FLOAT QUANT` (float against quantized) and `--sensitivity` on mnist-8.

Calibration on MNIST test images 0..999 (0..199 under FGQ_SANITIZED=1), evaluation on a slice of
1000..9999 (1000..1399 here to keep CI short; 1000..1099 under FGQ_SANITIZED=1).

Oracles:
- top-1 / top-5: the single-model `fgq eval` of each model on the same slice (an independent loop
  in cli/cmd_eval.c) must give exactly the fractions compare mode reports.
- agreement: recomputed here from `fgq run` outputs of both models (argmax per image, numpy).
- per-layer SQNR of the graph output tensor (and "output_sqnr_db"): recomputed in NumPy
  (float64) from the same `fgq run` outputs, 10*log10(sum x^2 / sum (x - xq)^2).
- s8 weights with u8 activations: every layer above 25 dB; ternary:g4 on all layers: its worst layer
  below the s8 model's worst layer (2-bit weights cost more than 8-bit ones).
- sensitivity (ternary:g16:exact on all layers): every weight layer of mnist-8 listed once, sorted
  by top-1 drop (worst first), drop = float top-1 - the layer's top-1; and the worst layer's row
  equals what the plain CLI path gives for that model: `fgq quantize` with --keep-float on every
  other layer and --layer X=POLICY, then compare mode on the .fgq (same top-1, same output SQNR).
- bad input (labels that do not match the data count, models with different input shapes,
  --sensitivity without its quantize flags or with a .fgq as MODEL, quantize flags without
  --sensitivity): exit 2 with a message naming the problem.
"""
import gzip
import json
import os
import struct

import numpy as np
import pytest
from conftest import REPO_ROOT, run_fgq

SANITIZED = os.environ.get("FGQ_SANITIZED") == "1"
MNIST = str(REPO_ROOT / "examples" / "mnist-8" / "model.onnx")
IMAGES = str(REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz")
LABELS = str(REPO_ROOT / "examples" / "mnist" / "t10k-labels-idx1-ubyte.gz")
CALIB = "0:200" if SANITIZED else "0:1000"
EVAL = (1000, 1100) if SANITIZED else (1000, 1400)
EVAL_S = f"{EVAL[0]}:{EVAL[1]}"
TIMEOUT = 900 if SANITIZED else 300
WEIGHT_LAYERS = ["Convolution28", "Convolution110", "Times212"]
# the nodes `fgq quantize` reports for mnist-8 (test_quantize.py checks this list)
QUANT_LAYERS = ["Convolution28", "Pooling66", "Convolution110", "Pooling160", "Times212_reshape0", "Times212"]


def fgq_ok(*args):
    p = run_fgq(*args, timeout=TIMEOUT)
    assert p.returncode == 0, f"fgq {' '.join(map(str, args))}: rc={p.returncode}\n{p.stderr}"
    return p


def read_idx(path):
    """IDX (gzip) reader written from the format: magic (0,0,dtype,ndim), ndim big-endian u32 dims."""
    raw = gzip.open(path, "rb").read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, "expected u8 IDX"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def quantize(out, *args):
    fgq_ok("quantize", MNIST, "--calib", IMAGES, "--calib-samples", CALIB, "-o", out, *args)
    return str(out)


def compare(quant, *args):
    p = fgq_ok("eval", MNIST, quant, "--data", IMAGES, "--labels", LABELS, "--samples", EVAL_S, "--json",
               "--threads", "1", *args)
    return json.loads(p.stdout)


def single(model):
    p = fgq_ok("eval", model, "--data", IMAGES, "--labels", LABELS, "--samples", EVAL_S, "--json", "--threads", "1")
    return json.loads(p.stdout)


def sqnr_db(x, xq):
    x, xq = x.astype(np.float64), xq.astype(np.float64)
    return 10.0 * np.log10(np.sum(x * x) / np.sum((x - xq) ** 2))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval_compare")
    return {
        "s8": quantize(d / "s8.fgq", "--weights", "s8"),
        "t4": quantize(d / "t4all.fgq", "--weights", "ternary:g4:exact", "--first-last", "same"),
    }


@pytest.fixture(scope="module")
def reports(models):
    return {k: compare(v) for k, v in models.items()}


def test_json_keys_and_layers_in_node_order(reports):
    rep = reports["s8"]
    assert rep["samples"] == EVAL[1] - EVAL[0]
    for side in ("float", "quant"):
        assert set(rep[side]) >= {"top1", "top5"} and rep[side]["samples_per_s"] > 0
    assert 0.0 <= rep["agreement"] <= 1.0
    names = [l["name"] for l in rep["layers"]]
    # each quantized layer's output tensor, in node order; the graph output last
    assert names == ["ReLU32_Output_0", "Pooling66_Output_0", "ReLU114_Output_0", "Pooling160_Output_0",
                     "Pooling160_Output_0_reshape0", "Plus214_Output_0"]
    assert [l["dtype"] for l in rep["layers"]] == ["u8"] * 5 + ["f32"]


@pytest.fixture(scope="module")
def float_single():
    return single(MNIST)


@pytest.mark.parametrize("which", ["s8", "t4"])
def test_top1_top5_match_single_model_eval(models, reports, float_single, which):
    rep = reports[which]
    f, q = float_single, single(models[which])
    assert f["samples"] == q["samples"] == rep["samples"]
    assert (rep["float"]["top1"], rep["float"]["top5"]) == (f["top1"], f["top5"])
    assert (rep["quant"]["top1"], rep["quant"]["top5"]) == (q["top1"], q["top5"])


@pytest.mark.parametrize("which", ["s8", "t4"])
def test_agreement_and_output_sqnr_from_fgq_run(tmp_path, models, reports, which):
    rep = reports[which]
    x = read_idx(IMAGES)[EVAL[0]:EVAL[1]].reshape(-1, 1, 28, 28).astype(np.float32)  # mnist-8: raw 0..255
    np.save(tmp_path / "x.npy", x)
    fgq_ok("run", MNIST, "--input", tmp_path / "x.npy", "-o", tmp_path / "yf.npy")
    fgq_ok("run", models[which], "--input", tmp_path / "x.npy", "-o", tmp_path / "yq.npy")
    yf, yq = np.load(tmp_path / "yf.npy").reshape(len(x), -1), np.load(tmp_path / "yq.npy").reshape(len(x), -1)
    agree = np.mean(np.argmax(yf, axis=1) == np.argmax(yq, axis=1))
    assert rep["agreement"] == pytest.approx(agree, abs=1e-12)
    out_layer = {l["name"]: l for l in rep["layers"]}["Plus214_Output_0"]
    want = sqnr_db(yf, yq)
    assert out_layer["sqnr_db"] == pytest.approx(want, abs=1e-4)
    assert rep["output_sqnr_db"] == pytest.approx(want, abs=1e-4)


def test_s8_every_layer_above_25db_and_ternary_worst_layer_lower(reports):
    s8 = [l["sqnr_db"] for l in reports["s8"]["layers"]]
    t4 = [l["sqnr_db"] for l in reports["t4"]["layers"]]
    assert all(v is not None and v > 25.0 for v in s8), s8
    assert min(t4) < min(s8), (t4, s8)


def test_text_output_has_summary_and_layer_table(models):
    p = fgq_ok("eval", MNIST, models["s8"], "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1020")
    out = p.stdout
    assert "top-1 agreement" in out and "samples/s" in out
    for name in ["ReLU32_Output_0", "Pooling66_Output_0", "Plus214_Output_0"]:
        assert name in out
    assert "lowest:" in out
    assert p.stderr == ""  # progress only draws on a terminal


@pytest.fixture(scope="module")
def sensitivity():
    p = fgq_ok("eval", MNIST, "--data", IMAGES, "--labels", LABELS, "--samples", EVAL_S, "--json", "--threads", "1",
               "--sensitivity", "--calib", IMAGES, "--calib-samples", CALIB, "--weights", "ternary:g16:exact",
               "--first-last", "same")
    return json.loads(p.stdout)


def test_sensitivity_lists_every_weight_layer_once_sorted_by_drop(sensitivity):
    rows = sensitivity["sensitivity"]
    assert sorted(r["name"] for r in rows) == sorted(WEIGHT_LAYERS)
    assert all(r["policy"] == "ternary:g16:exact" for r in rows)
    n, f1 = sensitivity["samples"], sensitivity["float"]["top1"]
    for r in rows:
        assert r["top1_drop"] == pytest.approx(f1 - r["top1"], abs=1e-12)
        assert r["top1"] * n == pytest.approx(round(r["top1"] * n), abs=1e-6)
    drops = [r["top1_drop"] for r in rows]
    assert drops == sorted(drops, reverse=True)
    for a, b in zip(rows, rows[1:]):  # equal drops: lower output SQNR first
        if a["top1_drop"] == b["top1_drop"]:
            assert a["sqnr_db"] <= b["sqnr_db"]
    for r in rows:  # rank by output SQNR: 1 = lowest
        assert r["sqnr_rank"] == 1 + sum(o["sqnr_db"] < r["sqnr_db"] for o in rows)


def test_sensitivity_row_matches_quantize_with_keep_float(tmp_path, sensitivity):
    worst = sensitivity["sensitivity"][0]
    args = []
    for name in QUANT_LAYERS:
        if name != worst["name"]:
            args += ["--keep-float", name]
    one = quantize(tmp_path / "one.fgq", "--weights", worst["policy"], "--first-last", "same", *args,
                   "--layer", f"{worst['name']}={worst['policy']}")
    rep = compare(one)
    assert rep["float"]["top1"] == sensitivity["float"]["top1"]
    assert rep["quant"]["top1"] == worst["top1"]
    assert rep["output_sqnr_db"] == pytest.approx(worst["sqnr_db"], abs=1e-6)


def test_sensitivity_text_ranking(tmp_path):
    p = fgq_ok("eval", MNIST, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1020", "--sensitivity",
               "--calib", IMAGES, "--calib-samples", "0:50", "--weights", "s4:g16")
    lines = p.stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("rank "))
    ranked = [l.split() for l in lines[head + 1:head + 4]]
    assert [r[0] for r in ranked] == ["1", "2", "3"]
    assert sorted(r[1] for r in ranked) == sorted(WEIGHT_LAYERS)
    pol = {r[1]: r[3] for r in ranked}  # s4 weights: first and last layer s8 by default, as in `fgq quantize`
    assert pol == {"Convolution28": "s8", "Convolution110": "s4:g16", "Times212": "s8"}


# ---- bad input ------------------------------------------------------------------------------------

def tiny_onnx(path):
    """A float model taking [1, 784] (mnist-8 takes [1, 1, 28, 28]): one Gemm to 10 classes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.zeros((784, 10), np.float32), "W")
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W"], ["y"], name="gemm")], "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 784])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(m, str(path))
    return str(path)


@pytest.mark.parametrize("case", ["labels_count", "input_shapes", "sens_no_calib", "sens_fgq_model",
                                  "flags_without_sens", "three_models"])
def test_bad_input_exit_2(tmp_path, models, case):
    data = ["--data", IMAGES, "--labels", LABELS, "--samples", "1000:1010"]
    expect = None
    if case == "labels_count":
        lab = tmp_path / "labels.npy"
        np.save(lab, np.zeros(7, np.int64))
        args = [MNIST, models["s8"], "--data", IMAGES, "--labels", lab]  # 10000 images
        expect = "has 7 labels but"
    elif case == "input_shapes":
        args = [tiny_onnx(tmp_path / "tiny.onnx"), models["s8"], *data]
        expect = "different inputs"
    elif case == "sens_no_calib":
        args = [MNIST, *data, "--sensitivity", "--weights", "s8"]
        expect = "--calib"
    elif case == "sens_fgq_model":
        args = [models["s8"], *data, "--sensitivity", "--calib", IMAGES, "--weights", "s8"]
        expect = "give the .onnx"
    elif case == "flags_without_sens":
        args = [MNIST, models["s8"], *data, "--weights", "s8"]
        expect = "--sensitivity"
    else:
        args = [MNIST, models["s8"], models["t4"], *data]
        expect = "unexpected argument"
    p = run_fgq("eval", *args, timeout=TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "fgq eval" in p.stderr and expect in p.stderr, p.stderr
    assert p.stdout == ""
