"""The committed Fashion-MNIST float model (examples/fashion-mnist/model.onnx, trained by
scripts/train_fashion_mnist.py): its test top-1 under ONNX Runtime (the oracle) is what
examples/fashion-mnist/README.md states and at least 0.89, and `fgq eval` gets the same top-1.

Under a sanitized build (FGQ_SANITIZED=1) fgq evaluates the first 1000 test images only and is
compared with ONNX Runtime on the same slice.
"""
import gzip
import json
import os
import pathlib
import re

import numpy as np
import onnxruntime as ort
import pytest

from conftest import run_fgq

DATA_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
IMAGES = DATA_DIR / "t10k-images-idx3-ubyte.gz"
LABELS = DATA_DIR / "t10k-labels-idx1-ubyte.gz"
SCALE = "0.00392156862745098"  # 1/255: the model takes pixel / 255
MIN_TOP1 = 0.89


def _idx(path):
    raw = gzip.decompress(path.read_bytes())
    assert raw[2] == 0x08, f"{path}: not u8 IDX"
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


@pytest.fixture(scope="module")
def model_path(repo_root):
    p = repo_root / "examples" / "fashion-mnist" / "model.onnx"
    assert p.exists(), f"{p} missing (python3 scripts/train_fashion_mnist.py makes it)"
    return p


@pytest.fixture(scope="module")
def test_set():
    if not IMAGES.exists() or not LABELS.exists():
        pytest.fail(f"Fashion-MNIST not installed in {DATA_DIR} (Debian package dataset-fashion-mnist)")
    images = _idx(IMAGES)
    labels = _idx(LABELS).astype(np.int64)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    return images, labels


@pytest.fixture(scope="module")
def ort_predictions(model_path, test_set):
    """ONNX Runtime's arg-max class for each of the 10,000 test images (input pixel / 255)."""
    images, _ = test_set
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "image" and inp.shape == [1, 1, 28, 28]
    assert [o.name for o in sess.get_outputs()] == ["logits"]
    x = images.astype(np.float32) * np.float32(float(SCALE))
    preds = np.empty(len(x), dtype=np.int64)
    for i in range(len(x)):
        (logits,) = sess.run(["logits"], {"image": x[i].reshape(1, 1, 28, 28)})
        assert logits.shape == (1, 10)
        preds[i] = int(np.argmax(logits[0]))
    return preds


def _readme_top1(repo_root):
    text = (repo_root / "examples" / "fashion-mnist" / "README.md").read_text()
    m = re.search(r"float top-1[^\n]*?\*\*([0-9]+\.[0-9]+) %\*\*", text, re.IGNORECASE)
    assert m, "examples/fashion-mnist/README.md does not state 'Float top-1 ... **NN.NN %**'"
    return float(m.group(1)) / 100.0


def test_ort_top1_matches_readme(repo_root, test_set, ort_predictions):
    _, labels = test_set
    top1 = float((ort_predictions == labels).mean())
    assert top1 >= MIN_TOP1, f"ONNX Runtime test top-1 {top1:.4f} < {MIN_TOP1}"
    stated = _readme_top1(repo_root)
    assert round(top1 * 100, 2) == pytest.approx(stated * 100, abs=1e-9), \
        f"README states float top-1 {stated * 100:.2f} % but ONNX Runtime measures {top1 * 100:.2f} %"


def test_model_is_small_and_fixed_batch(model_path):
    import onnx
    assert model_path.stat().st_size < 1_000_000
    m = onnx.load(str(model_path))
    onnx.checker.check_model(m, full_check=True)
    assert next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) == 13
    ops = [n.op_type for n in m.graph.node]
    assert ops == ["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "BatchNormalization", "Relu", "MaxPool",
                   "Flatten", "Gemm", "Relu", "Gemm"]


def test_fgq_eval_top1_matches_ort(fgq_bin, test_set, ort_predictions, model_path):
    _, labels = test_set
    sanitized = os.environ.get("FGQ_SANITIZED") == "1"
    lo, hi = (0, 1000) if sanitized else (0, len(labels))
    args = ["eval", model_path, "--data", IMAGES, "--labels", LABELS, "--scale", SCALE, "--json"]
    if sanitized:
        args += ["--samples", f"{lo}:{hi}"]
    r = run_fgq(*args, timeout=600)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["samples"] == hi - lo
    correct = int((ort_predictions[lo:hi] == labels[lo:hi]).sum())
    assert round(d["top1"] * (hi - lo)) == correct, \
        f"fgq eval top-1 {d['top1']:.4f} vs ONNX Runtime {correct / (hi - lo):.4f} on test images {lo}:{hi}"
