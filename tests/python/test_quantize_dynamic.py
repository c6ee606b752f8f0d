"""`fgq quantize --acts dynamic`: activations quantized per inference (ONNX DynamicQuantizeLinear), no
calibration needed. Oracle: the float model on the same samples (quant_common.py).
"""
import json

import numpy as np
import pytest
from conftest import REPO_ROOT, run_fgq
from quant_common import (BC_EVAL, IMAGES, MNIST, SANITIZED, SLACK, TIMEOUT, float_top1,  # noqa: F401
                          quantize, top1, top1_slice)


# Dynamic models run their activations float between the weight layers, so they evaluate slower:
# 3,000 images (one = 0.033 points) and the float model on the same ones; under the sanitizers 500
# (one = 0.2 points, hence a wider slack: there the code paths are what is checked).
DYN_EVAL = "1000:1500" if SANITIZED else "1000:4000"
DYN_SLACK = 1.0 if SANITIZED else 0.0


@pytest.fixture(scope="module")
def float_dyn():
    return top1_slice(MNIST, DYN_EVAL)


def quantize_dynamic(out, *args):
    p = run_fgq("quantize", MNIST, "-o", out, "--acts", "dynamic", "--json", *args, timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_dynamic_s8_without_calibration_within_0p3_points(tmp_path, float_dyn):
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
    acc = top1_slice(str(out), DYN_EVAL)
    assert abs(acc - float_dyn) <= 0.3 + DYN_SLACK, (acc, float_dyn)


def test_dynamic_ternary_g4_first_last_s8(tmp_path, float_dyn):
    # Measured on images 1000..9999: float 98.93 %, dynamic ternary:g4:exact (first/last s8) 98.79 %
    # (0.14 points below float, the same as with calibrated u8 activations).
    out = tmp_path / "dyn_t4.fgq"
    rep = quantize_dynamic(out, "--weights", "ternary:g4:exact")
    pol = {r["name"]: r["policy"] for r in rep["layers"]}
    assert pol["Convolution28"] == "s8" and pol["Times212"] == "s8"
    assert pol["Convolution110"] == "ternary:g4:exact"
    acc = top1_slice(str(out), DYN_EVAL)
    assert float_dyn - acc <= 0.25 + DYN_SLACK, (acc, float_dyn)


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


def test_gptq_with_dynamic_acts_and_bias_correction(tmp_path):
    """Oracle: the float model on the same (short: dynamic models run slowly) slice."""
    out = tmp_path / "d.fgq"
    rep = quantize(out, "--weights", "ternary:g4:exact", "--acts", "dynamic", "--bias-correction", "on",
                   "--calib-samples", "0:150" if SANITIZED else "0:300")
    assert any(r.get("solver", "").startswith("gptq:") for r in rep["layers"])
    assert top1_slice(str(out), DYN_EVAL if SANITIZED else BC_EVAL) >= top1_slice(
        MNIST, DYN_EVAL if SANITIZED else BC_EVAL) - 1.0 - DYN_SLACK


