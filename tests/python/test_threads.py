"""Multi-threaded inference (`--threads`) gives the same bytes as one thread.

Oracle: `fgq run --threads 1` on the same model and input. Kernels split only
independent output elements (DESIGN §7), so the .npy files written with 2 and
4 threads must be byte-identical to it — for mnist-8 on its bundled test
input and for every MLPerf Tiny v0.7 model (shared dir) on a fixed random
input. Also: bad thread counts are usage errors, and bench/eval report the
count they ran with.
"""
import json
import pathlib

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

from conftest import REPO_ROOT, _shared_dir, run_fgq

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
MNIST_INPUT = REPO_ROOT / "examples" / "mnist-8" / "test_data_set_0" / "input_0.pb"
THREADS = (1, 2, 4)


def _random_input(model_path, out_path, batch=3):
    """A fixed-seed input for the model's first graph input; `batch` samples
    stacked on axis 0 (fgq run runs each), symbolic dims bound to 1."""
    m = onnx.load(str(model_path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in inits)
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
            for d in inp.type.tensor_type.shape.dim]
    if dims:
        dims[0] *= batch
    rng = np.random.default_rng(20240607)
    np.save(out_path, rng.uniform(-1.0, 1.0, size=dims).astype(np.float32))


def _run_all_thread_counts(model, x, tmp_path):
    outs = {}
    for t in THREADS:
        y = tmp_path / f"y_t{t}.npy"
        r = run_fgq("run", model, "--input", x, "-o", y, "--threads", t)
        assert r.returncode == 0, f"--threads {t}: {r.stderr}"
        outs[t] = y.read_bytes()
    for t in THREADS[1:]:
        assert outs[t] == outs[1], f"{model}: output with --threads {t} differs from --threads 1"
    return np.load(tmp_path / "y_t1.npy")


def test_mnist8_same_bytes_for_any_thread_count(fgq_bin, tmp_path):
    y = _run_all_thread_counts(MNIST, MNIST_INPUT, tmp_path)
    assert y.shape == (1, 10) and np.all(np.isfinite(y))


def _tiny_models():
    return sorted((_shared_dir() / "models" / "tiny-v0.7").glob("*.onnx"))


@pytest.mark.parametrize("model", _tiny_models(), ids=lambda p: p.stem)
def test_tiny_models_same_bytes_for_any_thread_count(fgq_bin, shared_dir, model, tmp_path):
    x = tmp_path / "x.npy"
    _random_input(model, x)
    y = _run_all_thread_counts(model, x, tmp_path)
    assert np.all(np.isfinite(y))


def test_tiny_models_present(shared_dir):
    assert len(list((shared_dir / "models" / "tiny-v0.7").glob("*.onnx"))) >= 4


@pytest.mark.parametrize("cmd", ["run", "bench", "eval"])
@pytest.mark.parametrize("bad", ["0", "257", "-1", "two"])
def test_bad_thread_counts_are_usage_errors(fgq_bin, cmd, bad):
    r = run_fgq(cmd, MNIST, "--threads", bad)
    assert r.returncode == 2, r.stderr
    assert "--threads" in r.stderr


def test_bench_reports_threads(fgq_bin):
    r = run_fgq("bench", MNIST, "--runs", "3", "--warmup", "1", "--threads", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["threads"] == 2


def test_eval_prints_thread_count(fgq_bin, tmp_path):
    # Two mnist-8 test inputs with made-up labels: only the report line matters here.
    x = np.stack([onnx.numpy_helper.to_array(_load_tensor(REPO_ROOT / "examples" / "mnist-8" / f"test_data_set_{i}"
                                                          / "input_0.pb"))[0] for i in range(2)])
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    np.save(tmp_path / "y.npy", np.array([0, 1], dtype=np.int64))
    for t, words in ((1, "(1 thread)"), (2, "(2 threads)")):
        r = run_fgq("eval", MNIST, "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--threads", t)
        assert r.returncode == 0, r.stderr
        assert words in r.stdout, r.stdout


def _load_tensor(path):
    t = onnx.TensorProto()
    t.ParseFromString(pathlib.Path(path).read_bytes())
    return t


def test_eval_samples_across_threads_same_counts(fgq_bin, tmp_path):
    """A single-model eval runs --threads samples at a time (one runner, one arena per thread): the
    top-1 / top-5 counts over 300 MNIST test images are the same for 1, 2 and 3 threads, and a label
    outside the model's classes is refused naming its sample whatever the thread count."""
    import gzip
    with gzip.open(REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz") as fh:
        x = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:300].astype(np.float32)
    with gzip.open(REPO_ROOT / "examples" / "mnist" / "t10k-labels-idx1-ubyte.gz") as fh:
        y = np.frombuffer(fh.read(), np.uint8, offset=8)[:300].astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    got = []
    for t in (1, 2, 3):
        r = run_fgq("eval", MNIST, "--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--threads", t,
                    "--json")
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        got.append((d["samples"], d["top1"], d["top5"]))
    assert got[0] == got[1] == got[2] and got[0][0] == 300 and got[0][1] > 0.9, got
    y_bad = y.copy()
    y_bad[217] = 10
    np.save(tmp_path / "y_bad.npy", y_bad)
    for t in (1, 2):
        r = run_fgq("eval", MNIST, "--data", tmp_path / "x.npy", "--labels", tmp_path / "y_bad.npy", "--threads", t)
        assert r.returncode == 2 and "sample 217" in r.stderr, (t, r.stderr)
