"""The optimized integer kernels give the same bytes as the reference kernels.

Oracle: `fgq run` of the same quantized model with FGQ_KERNELS=ref (the
portable reference kernels, runtime/ops/qgemm_dispatch.h) and 1 thread. The
default kernels (AVX-512 VNNI / AVX2 where the CPU has them) with 1 and 2
threads must write byte-identical .npy files — for mnist-8 quantized with s8,
s4:g32, s3:g32, s3:g8, s2:g16, s2, ternary:g4, ternary:g16:asym, and for the four MLPerf Tiny models
(ad: ten Gemm layers; ic: a ResNet of 3×3 convolutions; kws and vww:
depthwise and pointwise convolutions, pools; ad, ic and vww also at s4:g32,
ad and vww at s4 per channel, ad and ic at s3:g32, ad and vww at s3 per channel, ad at s2:g64,
ic at s2:g32, kws at s2:g16),
calibrated on fixed random inputs: every QCONV path (packed conv kernels, im2col tiles, depthwise
planes), QGEMM rows, QUANTIZE and the pools run inside a real model.
"""
import numpy as np
import pytest

from conftest import REPO_ROOT, _shared_dir, run_fgq

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"
TINY = _shared_dir() / "models" / "tiny-v0.7"
AD = TINY / "model_ad.onnx"
TIMEOUT = 600


def _same_bytes_all_kernels(model, x, tmp_path):
    outs = {}
    for kernels in ("ref", "auto"):
        for t in (1, 2):
            y = tmp_path / f"y_{kernels}_{t}.npy"
            env = {"FGQ_KERNELS": kernels}
            r = run_fgq("run", model, "--input", x, "-o", y, "--threads", t, env=env, timeout=TIMEOUT)
            assert r.returncode == 0, f"FGQ_KERNELS={kernels} --threads {t}: {r.stderr}"
            outs[(kernels, t)] = y.read_bytes()
    for key, b in outs.items():
        assert b == outs[("ref", 1)], f"{model}: FGQ_KERNELS={key[0]} --threads {key[1]} differs from ref, 1 thread"
    return np.load(tmp_path / "y_ref_1.npy")


@pytest.mark.parametrize("weights", ["s8", "s4:g32", "s3:g32", "s3:g8", "s2:g16", "s2", "ternary:g4", "ternary:g16:asym"])
def test_mnist_quantized_same_bytes(fgq_bin, tmp_path, weights):
    q = tmp_path / "m.fgq"
    r = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:100", "--weights", weights, "-o", q,
                "--solver", "rtn", timeout=TIMEOUT)  # kernels, not how the codes were chosen
    assert r.returncode == 0, r.stderr
    x = tmp_path / "x.npy"
    rng = np.random.default_rng(7)
    np.save(x, rng.uniform(0, 255, size=(5, 1, 28, 28)).astype(np.float32))
    y = _same_bytes_all_kernels(q, x, tmp_path)
    assert y.shape[-1] == 10


@pytest.mark.skipif(not AD.exists(), reason="shared MLPerf Tiny models not present")
@pytest.mark.parametrize("weights", ["s8", "ternary:g16", "ternary:g64:asym", "s4", "s4:g32", "s3", "s3:g32", "s2:g64"])
def test_tiny_ad_quantized_same_bytes(fgq_bin, tmp_path, weights):
    rng = np.random.default_rng(11)
    calib = tmp_path / "calib.npy"
    np.save(calib, rng.normal(0, 1, size=(32, 640)).astype(np.float32))
    q = tmp_path / "ad.fgq"
    r = run_fgq("quantize", AD, "--calib", calib, "--weights", weights, "-o", q, "--solver", "rtn", timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    x = tmp_path / "x.npy"
    np.save(x, rng.normal(0, 1, size=(4, 640)).astype(np.float32))
    _same_bytes_all_kernels(q, x, tmp_path)


@pytest.mark.skipif(not AD.exists(), reason="shared MLPerf Tiny models not present")
@pytest.mark.parametrize("name,weights", [("ic", "s8"), ("ic", "ternary:g64"), ("ic", "s4:g32"), ("kws", "s8"),
                                          ("kws", "ternary:g16"), ("vww", "s8"), ("vww", "ternary:g64"),
                                          ("vww", "s4:g32"), ("vww", "s4"), ("ic", "s3:g32"), ("vww", "s3"),
                                          ("ic", "s2:g32"), ("kws", "s2:g16")])
def test_tiny_conv_models_quantized_same_bytes(fgq_bin, tmp_path, name, weights):
    import onnx
    model = TINY / f"model_{name}.onnx"
    shape = [d.dim_value or 1 for d in onnx.load(str(model)).graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(13)
    calib = tmp_path / "calib.npy"
    np.save(calib, rng.uniform(-1, 1, size=[16] + shape[1:]).astype(np.float32))
    q = tmp_path / f"{name}.fgq"
    r = run_fgq("quantize", model, "--calib", calib, "--weights", weights, "-o", q, "--solver", "rtn",
                timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    x = tmp_path / "x.npy"
    np.save(x, rng.uniform(-1, 1, size=[3] + shape[1:]).astype(np.float32))
    _same_bytes_all_kernels(q, x, tmp_path)


@pytest.mark.skipif(not AD.exists(), reason="shared MLPerf Tiny models not present")
@pytest.mark.parametrize("name,weights", [("mnist", "s8"), ("mnist", "ternary:g4"), ("ic", "s4:g32"),
                                          ("ic", "s3:g32"), ("kws", "s8"), ("ad", "s8")])
def test_dynamic_acts_same_bytes(fgq_bin, tmp_path, name, weights):
    """--acts dynamic: QCONV_DYN / QGEMM_DYN run the QGEMM kernel rows (im2col rows in the node's
    scratch) where the reference runs fgq_qconv_dot per output: the same float bytes, 1 and 2 threads."""
    import onnx
    model = MNIST if name == "mnist" else TINY / f"model_{name}.onnx"
    shape = [d.dim_value or 1 for d in onnx.load(str(model)).graph.input[0].type.tensor_type.shape.dim]
    q = tmp_path / f"{name}.fgq"
    r = run_fgq("quantize", model, "--weights", weights, "--acts", "dynamic", "-o", q, "--solver", "rtn",
                timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    x = tmp_path / "x.npy"
    rng = np.random.default_rng(17)
    np.save(x, rng.uniform(-1, 1, size=[3] + shape[1:]).astype(np.float32))
    _same_bytes_all_kernels(q, x, tmp_path)
