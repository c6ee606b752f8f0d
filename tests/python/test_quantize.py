"""`fgq quantize` end to end on mnist-8 and its bad-input cases.

Oracle for accuracy: the float model evaluated by `fgq eval` on the same samples (the float path
is itself checked against ONNX Runtime in test_models.py). Calibration on MNIST test images
0..999, evaluation on 1000..9999 (smaller slices under FGQ_SANITIZED=1, where the thresholds
are those measured with the full slices, widened for the smaller sample count).
"""
import json
import os

import numpy as np
import pytest
from conftest import REPO_ROOT, run_fgq

MNIST = str(REPO_ROOT / "examples" / "mnist-8" / "model.onnx")
IMAGES = str(REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz")
LABELS = str(REPO_ROOT / "examples" / "mnist" / "t10k-labels-idx1-ubyte.gz")
SANITIZED = os.environ.get("FGQ_SANITIZED") == "1"
CALIB = "0:200" if SANITIZED else "0:1000"
EVAL = "1000:2500" if SANITIZED else "1000:10000"
SLACK = 0.5 if SANITIZED else 0.0  # points of accuracy; 1500 samples are noisier than 9000
TIMEOUT = 900 if SANITIZED else 300


def model_part(path):
    """The model without its metadata blob (the recipe records the flags as given): header fields
    tensors_off (index 8) .. meta_off (index 17) of fgq_file_header."""
    import struct
    b = path.read_bytes()
    h = struct.Struct("<8sIIQIIIIIIIIIIIIQ12I").unpack_from(b, 0)
    return b[h[8]:h[17]] if h[17] else b[h[8]:]


def top1(model):
    p = run_fgq("eval", model, "--data", IMAGES, "--labels", LABELS, "--samples", EVAL, "--json", timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return 100.0 * json.loads(p.stdout)["top1"]


def quantize(out, *args):
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", CALIB, "-o", out, "--json", *args,
                timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def float_top1():
    return top1(MNIST)


def test_s8_within_0p2_points(tmp_path, float_top1):
    out = tmp_path / "s8.fgq"
    rep = quantize(out, "--weights", "s8")
    names = [r["name"] for r in rep["layers"]]
    assert names == ["Convolution28", "Pooling66", "Convolution110", "Pooling160", "Times212_reshape0", "Times212"]
    for r in rep["layers"]:
        assert r["quantized"] is True
        assert r["act_sqnr_db"] > 30.0, r  # 8-bit everywhere: tens of dB
        if r["weight_sqnr_db"] is not None:
            assert r["policy"] == "s8" and r["weight_sqnr_db"] > 35.0 and 8.0 < r["bits"] < 9.5
    acc = top1(str(out))
    assert abs(acc - float_top1) <= 0.2 + SLACK, (acc, float_top1)


def test_ternary_g4_first_last_s8_within_0p5_points(tmp_path, float_top1):
    out = tmp_path / "t4.fgq"
    rep = quantize(out, "--weights", "ternary:g4:exact")  # default: first and last layers s8
    pol = {r["name"]: r["policy"] for r in rep["layers"]}
    assert pol["Convolution28"] == "s8" and pol["Times212"] == "s8"
    assert pol["Convolution110"] == "ternary:g4:exact"
    acc = top1(str(out))
    assert float_top1 - acc <= 0.5 + SLACK, (acc, float_top1)


def test_ternary_g4_all_layers_within_1p5_points(tmp_path, float_top1):
    out = tmp_path / "t4all.fgq"
    rep = quantize(out, "--weights", "ternary:g4:exact", "--first-last", "same")
    for r in rep["layers"]:
        if r["weight_sqnr_db"] is not None:
            assert r["policy"] == "ternary:g4:exact"
            assert 2.0 < r["bits"] < 6.5  # 2-bit codes + a u8 multiplier per 4 weights + a row scale
    acc = top1(str(out))
    assert float_top1 - acc <= 1.5 + 2 * SLACK, (acc, float_top1)


def test_per_layer_overrides_and_table(tmp_path):
    out = tmp_path / "mixed.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:100", "-o", out, "--weights", "s4:g32",
                "--keep-float", "Pooling66", "--layer", "Convolution110=ternary:g16:twn", timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    lines = {l.split()[0]: l.split() for l in p.stdout.splitlines() if l and l.split()[0].startswith(("Conv", "Pool", "Times"))}
    assert lines["Pooling66"][1] == "(float)"
    assert lines["Convolution110"][2] == "ternary:g16:twn"
    assert lines["Convolution28"][2] == "s8"  # first layer: s8 by default under s4
    assert out.exists()
    p = run_fgq("run", out, "--input", REPO_ROOT / "examples" / "mnist-8" / "test_data_set_0" / "input_0.pb",
                "-o", tmp_path / "y.npy")
    assert p.returncode == 0, p.stderr
    assert np.load(tmp_path / "y.npy").shape == (1, 10)


@pytest.mark.parametrize("case", ["wrong_shape", "empty_range", "nan", "missing", "bad_policy", "bad_layer",
                                  "bad_observer"])
def test_bad_input_exit_2_and_no_output(tmp_path, case):
    out = tmp_path / "m.fgq"
    calib, extra = IMAGES, ["--weights", "s8"]
    if case == "wrong_shape":
        calib = tmp_path / "x.npy"
        np.save(calib, np.zeros((4, 5, 5), np.float32))
    elif case == "empty_range":
        extra += ["--calib-samples", "5:5"]
    elif case == "nan":
        calib = tmp_path / "x.npy"
        x = np.zeros((3, 1, 28, 28), np.float32)
        x[1, 0, 3, 4] = np.nan
        np.save(calib, x)
    elif case == "missing":
        calib = tmp_path / "nope.npy"
    elif case == "bad_policy":
        extra = ["--weights", "ternary:g0"]
    elif case == "bad_layer":
        extra += ["--layer", "NoSuchNode=s8"]
    elif case == "bad_observer":
        extra += ["--observer", "percentile:20"]
    p = run_fgq("quantize", MNIST, "--calib", calib, "-o", out, *extra, timeout=TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "fgq quantize" in p.stderr
    assert not out.exists()
    assert list(tmp_path.glob("m.fgq*")) == []  # no temporary left either


# ---- --acts dynamic: activations quantized per inference (ONNX DynamicQuantizeLinear), no calibration ----


def quantize_dynamic(out, *args):
    p = run_fgq("quantize", MNIST, "-o", out, "--acts", "dynamic", "--json", *args, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_dynamic_s8_without_calibration_within_0p3_points(tmp_path, float_top1):
    out = tmp_path / "dyn_s8.fgq"
    rep = quantize_dynamic(out, "--weights", "s8")
    assert rep["samples"] == 0
    by_name = {r["name"]: r for r in rep["layers"]}
    for name in ("Convolution28", "Convolution110", "Times212"):  # the weight layers: integer accumulation
        r = by_name[name]
        assert r["quantized"] is True and r["policy"] == "s8" and r["weight_sqnr_db"] > 35.0, r
        assert r["act_sqnr_db"] is None  # no samples: not measured
    for name in ("Pooling66", "Pooling160", "Times212_reshape0"):  # the graph between them stays float
        assert by_name[name]["quantized"] is False
    acc = top1(str(out))
    assert abs(acc - float_top1) <= 0.3 + SLACK, (acc, float_top1)


def test_dynamic_ternary_g4_first_last_s8(tmp_path, float_top1):
    # Measured on images 1000..9999: float 98.93 %, dynamic ternary:g4:exact (first/last s8) 98.79 %
    # (0.14 points below float, the same as with calibrated u8 activations).
    out = tmp_path / "dyn_t4.fgq"
    rep = quantize_dynamic(out, "--weights", "ternary:g4:exact")
    pol = {r["name"]: r["policy"] for r in rep["layers"]}
    assert pol["Convolution28"] == "s8" and pol["Times212"] == "s8"
    assert pol["Convolution110"] == "ternary:g4:exact"
    acc = top1(str(out))
    assert float_top1 - acc <= 0.25 + SLACK, (acc, float_top1)


def test_dynamic_with_calib_measures_activation_sqnr(tmp_path):
    out = tmp_path / "dyn_m.fgq"
    rep = quantize_dynamic(out, "--weights", "s8", "--calib", IMAGES, "--calib-samples", "0:50")
    assert rep["samples"] == 50
    for r in rep["layers"]:
        assert r["act_sqnr_db"] is not None and r["act_sqnr_db"] > 30.0, r  # 8-bit per inference: tens of dB
    p = run_fgq("run", out, "--input", REPO_ROOT / "examples" / "mnist-8" / "test_data_set_0" / "input_0.pb",
                "-o", tmp_path / "y.npy")
    assert p.returncode == 0, p.stderr
    assert np.load(tmp_path / "y.npy").shape == (1, 10)


@pytest.mark.parametrize("case", ["static_without_calib", "samples_without_calib"])
def test_calib_required_unless_dynamic(tmp_path, case):
    out = tmp_path / "m.fgq"
    extra = ["--acts", "u8"] if case == "static_without_calib" else ["--acts", "dynamic", "--calib-samples", "0:10"]
    p = run_fgq("quantize", MNIST, "-o", out, "--weights", "s8", *extra, timeout=TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--calib" in p.stderr
    assert not out.exists()


BC_EVAL = "1000:2500"  # a small slice: the comparison below is between two quantized models


def top1_slice(model, samples):
    p = run_fgq("eval", model, "--data", IMAGES, "--labels", LABELS, "--samples", samples, "--threads", "2",
                "--json", timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return 100.0 * json.loads(p.stdout)["top1"]


def test_bias_correction_helps_ternary_g64_exact_all_layers(tmp_path):
    """Oracle: the same model, calibration and slice with --bias-correction off. On the full
    1000:10000 slice off scores 76.61 % and on 85.24 %; on 1000:2500 on must not be worse."""
    acc = {}
    for bc in ("off", "on"):
        out = tmp_path / f"bc_{bc}.fgq"
        # round-to-nearest: the figures above were measured so (the gptq solver already removes most
        # of the mean shift bias correction targets)
        quantize(out, "--weights", "ternary:g64:exact", "--first-last", "same", "--bias-correction", bc,
                 "--solver", "rtn")
        acc[bc] = top1_slice(str(out), BC_EVAL)
    assert acc["on"] >= acc["off"], acc
    # default for ternary weights: on (the same bytes as an explicit on)
    quantize(tmp_path / "bc_default.fgq", "--weights", "ternary:g64:exact", "--first-last", "same", "--solver", "rtn")
    assert model_part(tmp_path / "bc_default.fgq") == model_part(tmp_path / "bc_on.fgq")


def test_bias_correction_default_off_for_s8(tmp_path):
    quantize(tmp_path / "s8.fgq", "--weights", "s8", "--calib-samples", "0:100")
    quantize(tmp_path / "s8_off.fgq", "--weights", "s8", "--calib-samples", "0:100", "--bias-correction", "off")
    assert model_part(tmp_path / "s8.fgq") == model_part(tmp_path / "s8_off.fgq")


@pytest.mark.parametrize("args", [
    ["--calib", IMAGES, "--weights", "ternary:g4", "--bias-correction", "maybe"],
    ["--acts", "dynamic", "--weights", "ternary:g4", "--bias-correction", "on"],  # on needs --calib samples
])
def test_bias_correction_bad_flags_exit_2(tmp_path, args):
    out = tmp_path / "bad.fgq"
    p = run_fgq("quantize", MNIST, "-o", out, *args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "bias" in p.stderr.lower() and not out.exists()


# ---- u8: TF-style 8-bit affine weights on CONV_INT / MATMUL_INT ----------------------------------

U8_EVAL = "1000:1300" if SANITIZED else "1000:4000"


def read_idx_images(path, n):
    """First n images of an IDX (gzip) u8 file as [n, 1, 28, 28] f32 raw pixels (mnist-8's input)."""
    import gzip
    import struct
    raw = gzip.open(path, "rb").read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08 and ndim == 3
    dims = struct.unpack(">III", raw[4:16])
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(dims)[:n]
    return x.reshape(-1, 1, 28, 28).astype(np.float32)


@pytest.fixture(scope="module")
def u8_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("u8") / "u8.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", CALIB, "-o", out, "--json", "--weights",
                "u8", timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


def test_u8_weights_within_0p3_points(u8_model):
    # Measured on images 1000..3999: float 98.07 %, u8 98.10 %
    out, rep = u8_model
    for r in rep["layers"]:
        assert r["quantized"] is True
        if r["weight_sqnr_db"] is not None:
            assert r["policy"] == "u8" and r["weight_sqnr_db"] > 35.0 and r["bits"] == 8.0
    acc = top1_slice(str(out), U8_EVAL)
    ref = top1_slice(MNIST, U8_EVAL)
    assert abs(acc - ref) <= 0.3, (acc, ref)


def test_u8_export_has_qlinear_ops_and_matches_ort(u8_model, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out, _ = u8_model
    exported = tmp_path / "u8.onnx"
    p = run_fgq("export", out, "--onnx", exported, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    m = onnx.load(str(exported))
    onnx.checker.check_model(m, full_check=True)
    ops = [n.op_type for n in m.graph.node]
    # CONV_INT / MATMUL_INT export as QLinearConv / QLinearMatMul: 2 Convs + the final MatMul (with its
    # bias folded in, a 1x1 CONV_INT, as MATMUL_INT takes no bias)
    assert ops.count("QLinearConv") + ops.count("QLinearMatMul") == 3, ops
    assert "ConvInteger" not in ops and "MatMulInteger" not in ops
    x = read_idx_images(IMAGES, 300)
    xin, yout = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(xin, x)
    p = run_fgq("run", out, "--input", xin, "-o", yout, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    want = np.load(yout).reshape(len(x), 10)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(exported), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    got = np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))]).reshape(len(x), 10)
    agree = float(np.mean(got.argmax(axis=1) == want.argmax(axis=1)))
    assert agree >= 0.995, agree


# ---- the error-compensating solver (--solver gptq, the default with --calib) ----

def test_gptq_beats_rounding_on_ternary_all_layers(tmp_path):
    """Every layer ternary:g64 (the hardest case on mnist-8): measured here 85.2 % with rtn and 97.2 % with gptq
    (full slices); the gptq model must not lose to rtn and must report what each layer chose."""
    acc = {}
    for solver in ("rtn", "gptq"):
        out = tmp_path / f"{solver}.fgq"
        rep = quantize(out, "--weights", "ternary:g64:exact", "--first-last", "same", "--solver", solver)
        for r in rep["layers"]:
            if r["weight_sqnr_db"] is not None:
                assert r["solver"] == "rtn" if solver == "rtn" else (r["solver"] == "rtn" or
                                                                      r["solver"].startswith("gptq:")), r
                assert r["solve_s"] >= 0.0
        acc[solver] = top1(str(out))
    assert acc["gptq"] >= acc["rtn"] + 5.0, acc


def test_gptq_is_default_with_calib_and_deterministic(tmp_path):
    a, b, c = tmp_path / "a.fgq", tmp_path / "b.fgq", tmp_path / "c.fgq"
    few = ("--calib-samples", "0:100" if SANITIZED else "0:300")
    rep = quantize(a, "--weights", "s4:g32", *few)
    assert any(r.get("solver", "").startswith("gptq:") for r in rep["layers"]), rep
    quantize(b, "--weights", "s4:g32", "--solver", "gptq", *few)
    assert model_part(a) == model_part(b)  # the same model (the recipe records the flags as given)
    rep = quantize(c, "--weights", "s4:g32", "--solver", "gptq", "--damp", "0.01", *few)
    assert all(r["solver"] == "gptq:0.01" for r in rep["layers"] if r["weight_sqnr_db"] is not None)


def test_gptq_with_dynamic_acts_and_bias_correction(tmp_path):
    """Oracle: the float model on the same (short: dynamic models run slowly) slice."""
    out = tmp_path / "d.fgq"
    rep = quantize(out, "--weights", "ternary:g4:exact", "--acts", "dynamic", "--bias-correction", "on",
                   "--calib-samples", "0:150" if SANITIZED else "0:300")
    assert any(r.get("solver", "").startswith("gptq:") for r in rep["layers"])
    assert top1_slice(str(out), BC_EVAL) >= top1_slice(MNIST, BC_EVAL) - 1.0


@pytest.mark.parametrize("args,msg", [
    (["--solver", "best"], "expected rtn or gptq"),
    (["--damp", "-1"], "--damp"),
    (["--damp", "x"], "--damp"),
    (["--solver", "rtn", "--damp", "0.01"], "--damp"),
])
def test_solver_bad_flags_exit_2(tmp_path, args, msg):
    out = tmp_path / "bad.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "-o", out, "--weights", "s8", *args)
    assert p.returncode == 2 and msg in p.stderr, p.stderr
    assert not out.exists()


def test_gptq_needs_calib(tmp_path):
    out = tmp_path / "bad.fgq"
    p = run_fgq("quantize", MNIST, "-o", out, "--weights", "s8", "--acts", "dynamic", "--solver", "gptq")
    assert p.returncode == 2 and "--calib" in p.stderr, p.stderr
    assert not out.exists()


def test_equalize_flag(tmp_path):
    out = tmp_path / "e.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:100", "-o", out, "--weights", "s8",
                "--equalize", "on", timeout=TIMEOUT)
    assert p.returncode == 0 and "equalization:" in p.stdout, p.stdout + p.stderr
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:100", "-o", tmp_path / "x.fgq",
                "--weights", "s8", "--equalize", "maybe", timeout=TIMEOUT)
    assert p.returncode == 2 and "--equalize" in p.stderr and not (tmp_path / "x.fgq").exists()


def test_act_order(tmp_path):
    """--act-order on: columns by decreasing diag(H), groups kept whole; a different model that still
    beats rounding by far (every layer ternary:g64; rtn 85.24 % on the full slices)."""
    on, off = tmp_path / "on.fgq", tmp_path / "off.fgq"
    quantize(on, "--weights", "ternary:g64:exact", "--first-last", "same", "--act-order", "on")
    quantize(off, "--weights", "ternary:g64:exact", "--first-last", "same", "--act-order", "off")
    assert model_part(on) != model_part(off)
    assert top1(str(on)) >= 85.24 + 5.0 - 2 * SLACK
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "-o", tmp_path / "x.fgq",
                "--weights", "s8", "--act-order", "sometimes", timeout=TIMEOUT)
    assert p.returncode == 2 and "--act-order" in p.stderr and not (tmp_path / "x.fgq").exists()


def test_sequential_beats_float_statistics_on_ternary_g16_all_layers(tmp_path):
    """--sequential on: each layer fitted to the float layer's output on the inputs the already-quantized
    layers give it. Measured (calibration 0..499, all 10,000 images, every layer ternary:g16:exact):
    off 97.84 %, on 98.36 %. Oracle: the same model and flags without it, on the same slice."""
    on, off = tmp_path / "on.fgq", tmp_path / "off.fgq"
    args = ("--weights", "ternary:g16:exact", "--first-last", "same")
    rep = quantize(on, *args, "--sequential", "on")
    assert all(r["solver"].startswith("gptq:") for r in rep["layers"] if r["weight_sqnr_db"] is not None), rep
    quantize(off, *args, "--sequential", "off")
    assert model_part(on) != model_part(off)
    assert top1(str(on)) >= top1(str(off)) - 0.2 - SLACK
    p = run_fgq("inspect", on)
    assert p.returncode == 0 and "--sequential on" in p.stdout, p.stdout


def test_sequential_auto_and_act_order_defaults(tmp_path):
    """The defaults: --sequential auto (on for mnist-8: 0.4 M MACs x samples x 3 layers is far below 2e11) and
    --act-order on; the same model as giving both, and the text output says the sequential pass ran."""
    a, b = tmp_path / "a.fgq", tmp_path / "b.fgq"
    few = ("--calib-samples", "0:100")
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, *few, "-o", a, "--weights", "ternary:g16:exact",
                timeout=TIMEOUT)
    assert p.returncode == 0 and "sequential statistics (3 layers)" in p.stdout, p.stdout + p.stderr
    quantize(b, "--weights", "ternary:g16:exact", *few, "--sequential", "on", "--act-order", "on")
    assert model_part(a) == model_part(b)


@pytest.mark.parametrize("args,msg", [
    (["--sequential", "maybe"], "--sequential"),
    (["--solver", "rtn", "--sequential", "on"], "gptq"),
])
def test_sequential_bad_flags_exit_2(tmp_path, args, msg):
    out = tmp_path / "bad.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "-o", out, "--weights", "s8", *args)
    assert p.returncode == 2 and msg in p.stderr, p.stderr
    assert not out.exists()
