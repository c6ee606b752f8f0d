"""Helpers shared by the `fgq quantize` tests (test_quantize.py, test_quantize_dynamic.py,
test_solver.py), split in three files so that CTest runs them side by side: mnist-8, its MNIST
slices, and quantize / evaluate wrappers.

Calibration on MNIST test images 0..999, evaluation on 1000..9999 (smaller slices under
FGQ_SANITIZED=1, where the thresholds are those measured with the full slices, widened for the
smaller sample count).
"""
import json
import os

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
    tensors_off (index 8) .. meta_off (index 17) of fgq_file_header (runtime/fgq_format.h, version 2:
    the metadata blob is the last blob the writer lays out)."""
    import struct
    b = path.read_bytes()
    h = struct.Struct("<8sIIQIIIIIIIIIIIIQIII9I").unpack_from(b, 0)
    assert h[1] == 2, h[1]
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

BC_EVAL = "1000:2500"  # a small slice: the comparison below is between two quantized models


def top1_slice(model, samples):
    p = run_fgq("eval", model, "--data", IMAGES, "--labels", LABELS, "--samples", samples, "--threads", "2",
                "--json", timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return 100.0 * json.loads(p.stdout)["top1"]
