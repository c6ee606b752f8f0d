"""The error-compensating solver (--solver gptq, the default with --calib), --act-order,
--sequential and --equalize, end to end on mnist-8. Oracles: round-to-nearest and the float model on
the same samples (quant_common.py), the same model made twice, and bad flags refused.
"""
import pytest
from conftest import run_fgq
from quant_common import IMAGES, MNIST, SANITIZED, SLACK, TIMEOUT, float_top1, model_part, quantize, top1  # noqa: F401 (fixture)

# Comparisons between two solvers on the same samples hold on fewer of them: under ASan they take 100
# calibration samples (the later --calib-samples wins over quant_common's).
FEW = ("--calib-samples", "0:100") if SANITIZED else ()


@pytest.mark.skipif(SANITIZED, reason="an accuracy margin, checked in the Release run; its code paths run under the sanitizers in the other tests")
def test_gptq_beats_rounding_on_ternary_all_layers(tmp_path):
    """Every layer ternary:g64 (the hardest case on mnist-8): measured here 85.2 % with rtn and 97.2 % with gptq
    (full slices); the gptq model must not lose to rtn and must report what each layer chose."""
    acc = {}
    for solver in ("rtn", "gptq"):
        out = tmp_path / f"{solver}.fgq"
        rep = quantize(out, "--weights", "ternary:g64:exact", "--first-last", "same", "--solver", solver, *FEW)
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
    assert all(r["solver"] in ("gptq:0.01", "gptq:0.01+cd") for r in rep["layers"] if r["weight_sqnr_db"] is not None)
    rep = quantize(c, "--weights", "s4:g32", "--solver", "gptq", "--damp", "0.01", "--refine", "off", *few)
    assert all(r["solver"] == "gptq:0.01" for r in rep["layers"] if r["weight_sqnr_db"] is not None)


def test_s4_per_channel(tmp_path, float_top1):
    """`--weights s4`: one step per output channel (max|w| / 7), no group multipliers. Measured here (full
    slices, float 98.93 %): gptq 98.92 %, rtn 98.83 %. A search of each row's step (clipping the
    largest weights for a finer step, as the group multipliers are searched) was tried and dropped:
    under GPTQ a row's range cannot follow the weights its error pushes grow, and EfficientNet-Lite
    s4:g32, whose K <= 32 layers are per row, lost 2 and 7 images of 800 with it."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper
    acc, lowest = {}, {}
    for solver in ("rtn", "gptq"):
        out = tmp_path / f"{solver}.fgq"
        rep = quantize(out, "--weights", "s4", "--first-last", "same", "--solver", solver)
        layers = [r for r in rep["layers"] if r["weight_sqnr_db"] is not None]
        assert layers and all(r["policy"] == "s4" for r in layers), layers
        assert all(4.0 < r["bits"] < 5.5 for r in layers), layers  # 4-bit codes, one f32 per row (K 25: 5.44)
        acc[solver] = top1(str(out))
        # the codes, as the QDQ export writes them (INT4 weight initializers)
        p = run_fgq("export", str(out), "--onnx", str(tmp_path / f"{solver}.onnx"))
        assert p.returncode == 0, p.stderr
        m = onnx.load(str(tmp_path / f"{solver}.onnx"))
        codes = [numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT4]
        assert codes, "no INT4 weights in the export"
        lowest[solver] = min(int(c.min()) for c in codes)
    assert acc["rtn"] >= float_top1 - 0.5 - SLACK, acc
    assert acc["gptq"] >= float_top1 - 0.3 - SLACK, acc
    # round-to-nearest's codes span -7..7 (a row's largest |w| is -7 or 7); gptq may push a weight to -8
    assert lowest["rtn"] == -7 and lowest["gptq"] in (-8, -7), lowest


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
    if not SANITIZED:  # an accuracy margin: checked in the Release run
        assert top1(str(on)) >= 85.24 + 5.0
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "-o", tmp_path / "x.fgq",
                "--weights", "s8", "--act-order", "sometimes", timeout=TIMEOUT)
    assert p.returncode == 2 and "--act-order" in p.stderr and not (tmp_path / "x.fgq").exists()


def test_refine(tmp_path):
    """--refine on: coordinate descent after GPTQ, kept per layer and damping where the held-out samples say it
    pays. Its candidates include --refine off's (each damping before the descent), so with the same statistics
    (--sequential off) no layer's held-out SQNR may fall, and on every layer ternary:g16 some layer must take it
    ("gptq:D+cd"); the model changes. The default, auto, refines ternary layers only: every layer ternary gives
    the --refine on model, s4:g32 layers the --refine off one, and a ternary model with s8 first and last layers
    refines only its ternary ones. Bad values and the rtn solver are refused."""
    on, off, dflt = tmp_path / "on.fgq", tmp_path / "off.fgq", tmp_path / "default.fgq"
    args = ("--weights", "ternary:g16:exact", "--first-last", "same", "--sequential", "off", *FEW)
    ron = quantize(on, *args, "--refine", "on")
    roff = quantize(off, *args, "--refine", "off")
    quantize(dflt, *args)
    assert model_part(dflt) == model_part(on)
    s4 = ("--weights", "s4:g32", "--sequential", "off", *FEW)
    quantize(dflt, *s4)
    quantize(off, *s4, "--refine", "off")
    assert model_part(dflt) == model_part(off)
    mixed = quantize(dflt, "--weights", "ternary:g16:exact", "--sequential", "off", "--refine", "auto", *FEW)
    for r in mixed["layers"]:
        if r["weight_sqnr_db"] is not None and r["solver"].endswith("+cd"):
            assert r["policy"].startswith("ternary"), r
    ron = quantize(on, *args, "--refine", "on")
    roff = quantize(off, *args, "--refine", "off")
    lon = [r for r in ron["layers"] if r["weight_sqnr_db"] is not None]
    loff = [r for r in roff["layers"] if r["weight_sqnr_db"] is not None]
    assert [r["name"] for r in lon] == [r["name"] for r in loff]
    assert any(r["solver"].endswith("+cd") for r in lon), lon
    assert not any(r["solver"].endswith("+cd") for r in loff), loff
    for a, b in zip(lon, loff):
        assert a["heldout_sqnr_db"] >= b["heldout_sqnr_db"] - 1e-9, (a, b)
    assert model_part(on) != model_part(off)
    for bad, msg in ((("--refine", "maybe"), "--refine"), (("--solver", "rtn", "--refine", "on"), "rtn")):
        p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "-o", tmp_path / "x.fgq",
                    "--weights", "s8", *bad, timeout=TIMEOUT)
        assert p.returncode == 2 and msg in p.stderr and not (tmp_path / "x.fgq").exists(), p.stderr


@pytest.mark.skipif(SANITIZED, reason="an accuracy margin, checked in the Release run; its code paths run under the sanitizers in the other tests")
def test_sequential_beats_float_statistics_on_ternary_g16_all_layers(tmp_path):
    """--sequential on: each layer fitted to the float layer's output on the inputs the already-quantized
    layers give it. Measured (calibration 0..499, all 10,000 images, every layer ternary:g16:exact):
    off 97.84 %, on 98.36 %. Oracle: the same model and flags without it, on the same slice."""
    on, off = tmp_path / "on.fgq", tmp_path / "off.fgq"
    args = ("--weights", "ternary:g16:exact", "--first-last", "same")
    rep = quantize(on, *args, "--sequential", "on", *FEW)
    assert all(r["solver"].startswith("gptq:") for r in rep["layers"] if r["weight_sqnr_db"] is not None), rep
    # 3 weight layers; mnist-8's largest activations (8 x 28 x 28 floats, with their neighbours) x samples x 2
    assert rep["sequential_layers"] == 3 and 0 <= rep["sequential_plain"] <= 3, rep
    assert 0 < rep["sequential_bytes"] <= 2 * rep["samples"] * 4 * (2 * 8 * 28 * 28 + 16 * 14 * 14), rep
    quantize(off, *args, "--sequential", "off", *FEW)
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
    assert p.returncode == 0 and "sequential statistics (3 layers, " in p.stdout and "without the target" in p.stdout and "MiB of activations kept)" in p.stdout, p.stdout + p.stderr
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
