"""The Python package (`pip install .`, importable as `fgq`): the same numbers as the CLI.

Built once per session by pip through pyproject.toml (scikit-build-core, no build isolation, so no
network: scripts/install-deps.sh installs scikit-build-core from requirements.txt) into a temporary
target directory, its CMake build kept in $FGQ_BUILD/python-wheel so a second session rebuilds
nothing. Skipped under FGQ_SANITIZED=1 (the pip-built module is not sanitized: the Release run
tests it) and when scikit-build-core is missing.

Oracles:
- Model.load of mnist-8 as .onnx and as the .fgq `fgq convert` writes: outputs byte-identical to
  `fgq run` on the same stacked inputs (one call runs the stack as fgq run does).
- fgq.quantize(calib=array) writes the same .fgq bytes as `fgq quantize` with the same flags and
  samples (MNIST test images 0..199), and a generator of (x, y) batches of those images, and a
  list of them, give the same bytes again; its outputs are `fgq run`'s; save() / to_bytes() / export_onnx() are the bytes
  `fgq export --onnx` writes, and ONNX Runtime on the export agrees with fgq's top-1.
- evaluate / inspect: the dicts `fgq eval --json` / `fgq inspect --json` print (samples_per_s
  aside: a timing).
- fgq.quantize(io="quantized"): the CLI's bytes; its u8 outputs are the float-I/O model's when
  dequantized, and raw=True feeds the codes.
- fgq.quantize(calib={input name: array}) on a float + int64 input model: the bytes of `fgq
  quantize --calib NAME=FILE` per input; the model's outputs on a dict of inputs are `fgq run`'s.
- bad input (wrong dtype, wrong shape, garbage bytes, a missing file, a bad option, an object that
  is not an array, a calib dict missing an input or naming an unknown one) raises fgq.FgqError (a ValueError) with the library's message, no crash.
- the GIL is released while a model runs: a Python thread counts during a 1000-sample run.
- no leak: 10,000 runs and 10,000 failed runs of a one-node model grow RSS by < 8 MB and leave the
  input array's reference count as it was.
- a C message cut inside a UTF-8 character, or holding names that are not UTF-8, is an FgqError
  with U+FFFD in their place; an onnx.ModelProto is taken where a path is (the file's results);
  a list of batches and a list of samples give the bytes of the stacked array; tqdm draws on
  stderr when installed and nothing prints without it; strided, list and dict inputs give the
  bytes of the contiguous array; docs/python.md's "Five lines" run as written.
"""
import gzip
import importlib
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import REPO_ROOT, run_fgq

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"
LABELS = REPO_ROOT / "examples" / "mnist" / "t10k-labels-idx1-ubyte.gz"
N_CALIB = 200


def _idx(path):
    raw = gzip.open(path).read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)


@pytest.fixture(scope="session")
def fgq(tmp_path_factory, build_dir):
    if os.environ.get("FGQ_SANITIZED", "0") == "1":
        pytest.skip("the pip-built module is not sanitized; the Release run tests the package")
    try:
        import scikit_build_core  # noqa: F401
    except ImportError:
        pytest.skip("scikit-build-core is not installed (scripts/install-deps.sh installs it from requirements.txt)")
    target = tmp_path_factory.mktemp("site")
    cmake_dir = pathlib.Path(build_dir).resolve() / "python-wheel"
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                        "--target", str(target), "-C", f"build-dir={cmake_dir}", str(REPO_ROOT)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, f"pip install . failed:\n{r.stdout}\n{r.stderr}"
    sys.path.insert(0, str(target))
    try:
        mod = importlib.import_module("fgq")
    finally:
        sys.path.remove(str(target))
    assert pathlib.Path(mod.__file__).parent == target / "fgq"
    assert (target / "fgq" / "py.typed").exists()
    return mod


@pytest.fixture(scope="session")
def images():
    return _idx(IMAGES)


@pytest.fixture(scope="session")
def labels():
    return _idx(LABELS)


def _cli_run(model, x, tmp_path, name="y"):
    xp, yp = tmp_path / f"{name}_in.npy", tmp_path / f"{name}_out.npy"
    np.save(xp, x)
    r = run_fgq("run", model, "--input", xp, "-o", yp)
    assert r.returncode == 0, r.stderr
    return np.load(yp)


@pytest.fixture(scope="session")
def quantized(fgq, images, tmp_path_factory):
    """The CLI's and the package's quantization of mnist-8, same flags and samples."""
    d = tmp_path_factory.mktemp("quant")
    cli_path = d / "cli.fgq"
    r = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", f"0:{N_CALIB}", "--weights", "ternary:g4",
                "--acts", "u8", "-o", cli_path)
    assert r.returncode == 0, r.stderr
    calls = []
    q = fgq.quantize(MNIST, calib=images[:N_CALIB], weights="ternary:g4", acts="u8",
                     progress=lambda stage, done, total: calls.append((stage, done, total)))
    return q, cli_path, calls


def test_load_onnx_and_fgq_match_fgq_run(fgq, tmp_path):
    conv = tmp_path / "m.fgq"
    r = run_fgq("convert", MNIST, "-o", conv)
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32) * 255
    want = _cli_run(MNIST, x, tmp_path)
    for src in (MNIST, str(conv), conv.read_bytes(), MNIST.read_bytes()):
        m = fgq.Model.load(src, threads=1)
        y = m(x)
        assert y.dtype == np.float32 and y.shape == (5, 10)
        assert y.tobytes() == want.tobytes()
        assert m.run(x[2]).tobytes() == want[2:3].tobytes()  # one sample without its batch axis
        m.threads = 2
        assert m(x).tobytes() == want.tobytes()
    m = fgq.Model.load(conv)
    assert m.to_bytes() == conv.read_bytes()
    assert m.recipe is None and m.preprocess is None
    (inp,), (out,) = m.inputs, m.outputs
    assert (inp["name"], inp["shape"], inp["dtype"], inp["quant"]) == ("Input3", (1, 1, 28, 28), "float32", None)
    assert (out["name"], out["shape"], out["dtype"]) == ("Plus214_Output_0", (1, 10), "float32")
    assert m.run({"Input3": x}).tobytes() == want.tobytes()


def test_quantize_is_fgq_quantize(fgq, quantized, images, tmp_path):
    q, cli_path, calls = quantized
    assert q.to_bytes() == cli_path.read_bytes()
    assert q.recipe.startswith(f"fgq quantize --weights ternary:g4 --acts u8 ({N_CALIB} calibration samples)\n")
    stages = {s for s, _, _ in calls}
    assert stages and all(t > 0 for s, d, t in calls if d >= 0)
    assert any(d == t for _, d, t in calls if t > 0)  # a stage ran to its end
    assert [r["name"] for r in q.layers if r["weight_sqnr_db"] is not None] == \
        ["Convolution28", "Convolution110", "Times212"]
    (inp,), (out,) = q.inputs, q.outputs
    assert inp["dtype"] == "float32" and inp["quantized_as"]["dtype"] == "uint8"
    assert out["quantized_as"] is None  # the output layer hands back float (--output-layer float): no codes
    x = images[1000:1020].astype(np.float32)[:, None]
    want = _cli_run(cli_path, x, tmp_path)
    assert q(x).tobytes() == want.tobytes()
    saved = tmp_path / "py.fgq"
    q.save(saved)
    assert saved.read_bytes() == cli_path.read_bytes()
    assert fgq.Model.load(saved)(x).tobytes() == want.tobytes()


def test_quantized_io(fgq, quantized, images, tmp_path):
    """quantize(io="quantized"): the CLI's bytes; float data quantized as the dropped QUANTIZE did,
    codes out (dequantized: the outputs of the float-I/O model whose output layer writes codes too,
    bit for bit), raw=True feeds codes."""
    q_float = fgq.quantize(MNIST, calib=images[:N_CALIB], weights="ternary:g4", acts="u8",
                           output_layer="quantized", progress=False)
    (out_f,) = q_float.outputs
    assert len(out_f["quantized_as"]["quant"]["scales"]) == 1
    cli_path = tmp_path / "qio.fgq"
    r = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", f"0:{N_CALIB}", "--weights", "ternary:g4",
                "--acts", "u8", "--io", "quantized", "-o", cli_path)
    assert r.returncode == 0, r.stderr
    q = fgq.quantize(MNIST, calib=images[:N_CALIB], weights="ternary:g4", acts="u8", io="quantized", progress=False)
    assert q.to_bytes() == cli_path.read_bytes()
    (inp,), (out,) = q.inputs, q.outputs
    assert inp["dtype"] == "uint8" and out["dtype"] == "uint8" and inp["quantized_as"] is None
    s, z = out["quant"]["scales"][0], out["quant"]["zero_points"][0]
    x = images[1000:1020].astype(np.float32)[:, None]
    y = q(x)
    assert y.dtype == np.uint8 and y.tobytes() == _cli_run(cli_path, x, tmp_path).tobytes()
    assert np.array_equal((y.astype(np.int32) - z).astype(np.float32) * np.float32(s), q_float(x))
    assert inp["quant"]["scales"] == [1.0] and inp["quant"]["zero_points"] == [0]  # MNIST pixels: codes
    assert q(x.astype(np.uint8), raw=True).tobytes() == y.tobytes()
    assert q(x.astype(np.float16)).tobytes() == y.tobytes()  # float16 widened (MNIST pixels are exact in it)


def test_calib_from_a_generator_of_batches(fgq, quantized, images):
    q, cli_path, _ = quantized

    class Tensor:  # what a DataLoader yields: no __array__, a .numpy()
        def __init__(self, a):
            self.a = a

        def numpy(self):
            return self.a

    def batches():
        for k in range(0, N_CALIB, 64):
            yield Tensor(images[k:min(k + 64, N_CALIB)][:, None]), np.zeros(1)

    g = fgq.quantize(MNIST, calib=batches(), weights="ternary:g4", progress=False)
    assert g.to_bytes() == cli_path.read_bytes()
    s = fgq.quantize(MNIST, calib=list(images[:N_CALIB]), weights="ternary:g4", progress=False)  # a list: samples
    assert s.to_bytes() == cli_path.read_bytes()


def test_budget_outcome(fgq, images, tmp_path):
    """A budget through the package: its outcome as `fgq quantize --json` reports it (the metric
    included), and the same bytes."""
    opts = dict(weights=None, budget=6, candidates="s4:g32,s8", budget_metric="mse", sequential="off",
                progress=False)
    q = fgq.quantize(MNIST, calib=images[:N_CALIB], **opts)
    assert set(q.budget) == {"limit_bits", "bits", "bytes", "weights", "predicted_noise", "metric"}, q.budget
    assert q.budget["metric"] == "mse" and q.budget["bits"] <= 6.0, q.budget
    cli = tmp_path / "b.fgq"
    r = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", f"0:{N_CALIB}", "--budget", "6.0",
                "--candidates", "s4:g32,s8", "--budget-metric", "mse", "--sequential", "off", "--json", "-o", cli)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["budget"]["bytes"] == q.budget["bytes"]


def test_export_onnx_is_fgq_export(fgq, quantized, images, tmp_path):
    import onnxruntime as ort
    q, cli_path, _ = quantized
    out = tmp_path / "cli.onnx"
    r = run_fgq("export", cli_path, "--onnx", out)
    assert r.returncode == 0, r.stderr
    data = q.export_onnx(tmp_path / "py.onnx")
    assert data == out.read_bytes() == (tmp_path / "py.onnx").read_bytes()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = images[1000:1100].astype(np.float32)[:, None]
    ort_top1 = np.array([sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1]})[0].argmax() for i in range(100)])
    assert np.mean(ort_top1 == q(x).argmax(1)) >= 0.99


def _drop_timing(d):
    if isinstance(d, dict):
        return {k: _drop_timing(v) for k, v in d.items() if k != "samples_per_s"}
    if isinstance(d, list):
        return [_drop_timing(v) for v in d]
    return d


def test_model_survives_fork(fgq, images):
    """A Model (with its thread pool) used in a forked child runs there and is freed without
    waiting for worker threads the child does not have."""
    m = fgq.Model.load(str(MNIST), threads=2)
    x = images[:1].astype(np.float32).reshape(1, 1, 28, 28)
    y = m(x)
    pid = os.fork()
    if pid == 0:  # the child: run, free, exit; never return into pytest
        code = 1
        try:
            code = 0 if np.array_equal(m(x), y) else 3
            del m
        finally:
            os._exit(code)
    deadline = time.time() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung freeing its Model")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


def test_sensitivity_is_the_clis_json(fgq):
    flags = ["--samples", "1000:1100", "--weights", "ternary:g4", "--solver", "rtn"]
    r = run_fgq("eval", MNIST, "--data", IMAGES, "--labels", LABELS, "--json", "--sensitivity", "--calib", IMAGES,
                "--calib-samples", "0:50", *flags)
    assert r.returncode == 0, r.stderr
    want = _drop_timing(json.loads(r.stdout))
    got = _drop_timing(fgq.sensitivity(str(MNIST), str(IMAGES), str(LABELS), str(IMAGES), samples="1000:1100",
                                       weights="ternary:g4", solver="rtn", calib_samples="0:50"))
    assert got["sensitivity"] == want["sensitivity"] and len(got["sensitivity"]) == 3  # the 3 weight layers


def test_evaluate_and_inspect_are_the_clis_json(fgq, quantized, images, labels):
    q, cli_path, _ = quantized
    r = run_fgq("eval", MNIST, cli_path, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1300", "--json")
    assert r.returncode == 0, r.stderr
    want = _drop_timing(json.loads(r.stdout))
    got = _drop_timing(fgq.evaluate(str(MNIST), images, labels, quant_model=str(cli_path), samples="1000:1300"))
    assert got == want
    got = _drop_timing(fgq.evaluate(MNIST, images[1000:1300], labels[1000:1300], quant_model=q))
    assert got["quant"] == want["quant"] and got["agreement"] == want["agreement"]
    pos = _drop_timing(fgq.evaluate(MNIST, q, images[1000:1300], labels[1000:1300]))  # the order
    assert pos == got
    with pytest.raises(TypeError):
        fgq.evaluate(MNIST, images)
    assert got["quant_model"].startswith(f"<quantized {MNIST}>")
    one = fgq.evaluate(q, images[1000:1300], labels[1000:1300])
    assert one["top1"] == want["quant"]["top1"] and one["samples"] == 300
    for src in (MNIST, cli_path):
        r = run_fgq("inspect", src, "--json")
        assert r.returncode == 0, r.stderr
        assert fgq.inspect(src) == json.loads(r.stdout)
    assert fgq.inspect(q)["recipe"] == q.recipe


def test_report_is_fgq_report(fgq, quantized, images, labels, tmp_path):
    """fgq.report runs the CLI's `fgq report` (drawn by this interpreter): its page's numbers are fgq eval's."""
    pytest.importorskip("matplotlib", reason="fgq.report draws with matplotlib (requirements.txt)")
    q, cli_path, _ = quantized
    out = tmp_path / "r.html"
    written = fgq.report(MNIST, [cli_path, q], images, labels, out, samples="1000:1200")
    # the page, then each figure (SQNR, weights, accuracy against bytes) as PNG and SVG
    assert written[0] == str(out) and all(os.path.exists(p) for p in written) and len(written) == 7
    assert sorted(os.path.splitext(p)[1] for p in written[1:]) == [".png"] * 3 + [".svg"] * 3
    text = out.read_text()
    data = json.loads(text.split('id="fgq-report-data">', 1)[1].split("</script>", 1)[0].replace("<\\/", "</"))
    r = run_fgq("eval", MNIST, cli_path, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1200", "--json")
    want = json.loads(r.stdout)
    for got in (e["eval"] for e in data["quant"]):  # the CLI's model and the package's: the same bytes
        assert got["agreement"] == want["agreement"] and got["layers"] == want["layers"]
    with pytest.raises(fgq.FgqError, match="matplotlib|not JSON"):
        bad = tmp_path / "bad.json"
        bad.write_text("[")
        fgq.report(MNIST, cli_path, images, labels, tmp_path / "s.html", samples="0:10", sweep=bad)
    assert not (tmp_path / "s.html").exists()


def test_float16_arrays_feed_float16_models(fgq, tmp_path):
    """A float16 ONNX model runs as float32 (imported so); float16 arrays are widened exactly for its
    inputs, float64 ones still refused. Oracle: the same model fed the float32 copy of the data, and
    NumPy's float32 product of the widened data."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = np.linspace(-1, 1, 12, dtype=np.float16).reshape(3, 4)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "f16",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 4])],
                          [numpy_helper.from_array(w, "w")])
    path = tmp_path / "f16.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    m = fgq.Model.load(path)
    assert m.inputs[0]["dtype"] == "float32"
    x16 = np.array([[0.5, -1.25, 2.0], [3.0, 0.125, -0.75]], np.float16)
    got = m(x16)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, m(x16.astype(np.float32)))
    np.testing.assert_allclose(got, x16.astype(np.float32) @ w.astype(np.float32), rtol=1e-6)
    with pytest.raises(fgq.FgqError, match="takes float32"):
        m(x16.astype(np.float64))


def test_bad_inputs_raise_fgq_error(fgq, tmp_path):
    m = fgq.Model.load(MNIST)
    assert issubclass(fgq.FgqError, ValueError)
    x = np.zeros((1, 1, 28, 28), np.float32)
    cases = [
        (lambda: m(x.astype(np.float64)), "takes float32"),
        (lambda: m(np.zeros((1, 28, 28, 1), np.float32)), "channels last"),
        (lambda: m(np.zeros((3, 1, 28, 27), np.float32)), "does not fit input Input3"),
        (lambda: m(x, x), "1 input; 2 given"),
        (lambda: m(object()), "as an array"),
        (lambda: m({"nope": x}), "Input3"),
        (lambda: fgq.Model.load(b"garbage" * 10), "<bytes>: not a valid ONNX model"),
        (lambda: fgq.Model.load(b"FGQMODEL" + bytes(100)), "<bytes>"),
        (lambda: fgq.Model.load(tmp_path / "missing.onnx"), "cannot open"),
        (lambda: fgq.quantize(MNIST, calib=np.zeros((4, 1, 28, 28), np.float32), weights="bogus"), "bogus"),
        (lambda: fgq.quantize(MNIST, calib=np.zeros((4, 3, 28, 28), np.float32), weights="s8"), "calib"),
        (lambda: fgq.quantize(MNIST, weights="s8"), "calib is required"),
        (lambda: fgq.quantize(MNIST, calib=np.zeros((4, 1, 28, 28), np.float32), no_such_flag=1), "no-such-flag"),
        (lambda: fgq.evaluate(MNIST, np.zeros((4, 1, 28, 28), np.float32), np.zeros(3, np.int64)), "fgq eval"),
        (lambda: fgq.inspect(b"not a model"), "<bytes>"),
    ]
    for fn, text in cases:
        with pytest.raises(fgq.FgqError) as e:
            fn()
        assert text in str(e.value), (text, str(e.value))
        assert e.value.status
    with pytest.raises(fgq.FgqError):
        m.threads = 0
    assert m(x).shape == (1, 10)  # still usable


def test_quantize_dict_for_several_inputs(fgq, tmp_path):
    """A float + int64 index model (tests/python/test_quantize_multi_input.py): calib={name: array}
    gives `fgq quantize --calib NAME=FILE`'s bytes (the order of the dict does not matter), the
    model runs on a dict of inputs as `fgq run` does, and bad dicts (a key holding NUL, which C would
    cut to another input's name) raise FgqError."""
    from test_quantize_multi_input import embedding_model
    model = embedding_model(tmp_path / "emb.onnx")
    rng = np.random.default_rng(3)
    x, ids = rng.standard_normal((16, 8)).astype(np.float32), rng.integers(0, 10, (16, 4))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ids.npy", ids)
    cli = tmp_path / "cli.fgq"
    r = run_fgq("quantize", model, "--calib", f"x={tmp_path / 'x.npy'}", "--calib", f"ids={tmp_path / 'ids.npy'}",
                "--weights", "ternary:g4", "--acts", "u8", "--mean", "1", "--std", "2", "-o", cli)
    assert r.returncode == 0, r.stderr
    q = fgq.quantize(model, calib={"ids": ids, "x": x}, weights="ternary:g4", mean=1, std=2, progress=False)
    assert q.to_bytes() == cli.read_bytes()
    xt, it = rng.standard_normal((5, 8)).astype(np.float32), rng.integers(0, 10, (5, 4))
    np.save(tmp_path / "xt.npy", xt)
    np.save(tmp_path / "it.npy", it)
    r = run_fgq("run", cli, "--input", tmp_path / "xt.npy", "--input", tmp_path / "it.npy", "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    assert q({"x": xt, "ids": it}).tobytes() == np.load(tmp_path / "y.npy").tobytes()
    for calib, text in (({"x": x}, "no samples for input 'ids'"), ({"x": x, "ids": ids, "z": x}, "no input 'z'"),
                        ({"x": x, "ids": ids[:8]}, "same samples"), (x, "give a dict"),
                        ({"x": x, "ids": ids + 0.5}, "not an integer"),
                        # C would read "x\0dup" as "x": two arrays for one input (and the first one leaked)
                        ({"x": x, "ids": ids, "x\0dup": x}, "NUL"), ({"x\0dup": x, "ids": ids}, "NUL"),
                        # int64 ids stay exact: one float32 would round is refused naming it (as for a .npy)
                        ({"x": x, "ids": np.where(ids == ids[0, 0], 16777217, ids)}, "16777217")):
        with pytest.raises(fgq.FgqError) as e:
            fgq.quantize(model, calib=calib, weights="s8", progress=False)
        assert text in str(e.value), (text, str(e.value))


def test_gil_released_while_running(fgq, images):
    m = fgq.Model.load(MNIST, threads=1)
    x = np.ascontiguousarray(images[:1000, None].astype(np.float32))
    count = [0]
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.05)
        t0, c0 = time.perf_counter(), count[0]
        time.sleep(0.2)  # the counter's own rate, the GIL free
        rate = (count[0] - c0) / (time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), count[0]
        m(x)
        dt, during = time.perf_counter() - t0, count[0] - c0
    finally:
        stop.set()
        t.join()
    # holding the GIL, the counter would get at most a switch interval (5 ms) of the run
    assert dt > 0.05 and during > 0.1 * rate * dt, (dt, during, rate)


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leak_over_many_runs(fgq):
    import onnx.helper as h
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "relu", [h.make_tensor_value_info("x", 1, [1, 1024])],
                     [h.make_tensor_value_info("y", 1, [1, 1024])])
    m = fgq.Model.load(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]).SerializeToString(), threads=1)
    x = np.linspace(-1, 1, 1024, dtype=np.float32).reshape(1, 1024)
    bad = np.zeros((1, 1024), np.float64)
    assert np.array_equal(m(x), np.maximum(x, 0))
    for _ in range(500):  # warm-up: allocator pools settle
        m(x)
    refs, before = sys.getrefcount(x), _rss_bytes()
    for _ in range(10000):
        m(x)
        try:
            m(bad)
        except fgq.FgqError:
            pass
    grown = _rss_bytes() - before
    # a leaked 4 KB output per run would be 40 MB; a buffer view not released keeps a reference to x
    assert grown < 8 << 20, grown
    assert sys.getrefcount(x) == refs


def _unsupported_op_model(node_name):
    import onnx.helper as h
    g = h.make_graph([h.make_node("FooBarOp", ["x"], ["y"], name=node_name)], "g",
                     [h.make_tensor_value_info("x", 1, [1, 4])], [h.make_tensor_value_info("y", 1, [1, 4])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


def test_c_messages_that_are_not_utf8_still_raise_fgq_error(fgq, tmp_path):
    """The C message is cut at FGQ_ERROR_MSG_LEN bytes, maybe inside a character, and names from a
    damaged file may be any bytes: FgqError carries the message, undecodable bytes as U+FFFD (not a
    UnicodeDecodeError). Oracle: the message names the file and the node; with a name of 2-byte
    characters run past the cut at both parities of its start, one of the cuts splits a character."""
    replaced = 0
    for pad in (100, 101):
        model = _unsupported_op_model("a" * pad + "\u00e9" * 200)
        path = tmp_path / f"u{pad}.onnx"
        path.write_bytes(model.SerializeToString())
        for fn, where in ((lambda: fgq.Model.load(model.SerializeToString()), "<bytes>"),
                          (lambda: fgq.Model.load(path), str(path)),
                          (lambda: fgq.quantize(path, calib=np.zeros((2, 1, 4), np.float32), progress=False),
                           str(path))):
            with pytest.raises(fgq.FgqError) as e:
                fn()
            msg = str(e.value)
            assert msg.startswith(where) and "node 'a" + "a" * (pad - 1) + "\u00e9" in msg, msg[:200]
            replaced += msg.endswith("\ufffd")
    assert replaced > 0
    # a name that is not UTF-8 at all: one byte of mnist-8's consumer of Pooling66_Output_0 damaged
    data = bytearray(MNIST.read_bytes())
    at = data.index(b"Pooling66_Output_0", data.index(b"Pooling66_Output_0") + 1) + len("Pooling66_Output")
    data[at] = 0xFF
    with pytest.raises(fgq.FgqError, match="Convolution110.*Pooling66_Output\ufffd0"):
        fgq.Model.load(bytes(data))
    # a graph input named in non-UTF-8 everywhere: the model loads, and its description decodes
    data = MNIST.read_bytes().replace(b"Input3", b"Inpu\xff3")
    m = fgq.Model.load(data)
    assert m.inputs[0]["name"] == "Inpu\ufffd3"
    q = fgq.quantize(data, calib=np.zeros((2, 1, 28, 28), np.float32), weights="s8", progress=False)
    assert q.inputs[0]["name"] == "Inpu\ufffd3" and len(q.layers) > 0


def test_in_memory_onnx_model(fgq, quantized, images, labels):
    """An onnx.ModelProto (anything with SerializeToString()) is taken where a path is: the same
    outputs, .fgq bytes, evaluation and inspection as mnist-8's file, named <ModelProto>."""
    import onnx
    q, cli_path, _ = quantized
    proto = onnx.load(str(MNIST))
    x = images[1000:1010].astype(np.float32)[:, None]
    m = fgq.Model.load(proto, threads=1)
    assert m.name == "<ModelProto>"
    assert m(x).tobytes() == fgq.Model.load(MNIST, threads=1)(x).tobytes()
    p = fgq.quantize(proto, calib=images[:N_CALIB], weights="ternary:g4", acts="u8", progress=False)
    assert p.to_bytes() == cli_path.read_bytes()
    want = fgq.inspect(MNIST)
    got = fgq.inspect(proto)
    assert got.pop("model") == "<ModelProto>" and want.pop("model") == str(MNIST) and got == want
    a = _drop_timing(fgq.evaluate(proto, images[1000:1100], labels[1000:1100]))
    b = _drop_timing(fgq.evaluate(MNIST, images[1000:1100], labels[1000:1100]))
    assert a["top1"] == b["top1"] and a["samples"] == 100
    with pytest.raises(fgq.FgqError, match="<ModelProto>: .*FooBarOp"):
        fgq.Model.load(_unsupported_op_model("n"))


def test_calib_as_a_list_of_batches(fgq, quantized, images):
    """A list of batches (items of the model input's rank, or (x, y) pairs of them: list(loader))
    is concatenated, a list of samples (the input's rank - 1, or one sample's shape) stacked:
    every form gives the .fgq bytes of the plain array of the same 200 samples."""
    q, cli_path, _ = quantized
    x = images[:N_CALIB][:, None]  # [200, 1, 28, 28]: the model input's rank
    forms = {
        "batches": [x[k:k + 64] for k in range(0, N_CALIB, 64)],  # 64, 64, 64, 8
        "equal batches": [x[k:k + 40] for k in range(0, N_CALIB, 40)],  # all one shape: batches by rank
        "list(loader)": [(x[k:k + 64], np.zeros(len(x[k:k + 64]))) for k in range(0, N_CALIB, 64)],
        "batches as lists": [[x[k:k + 64], None] for k in range(0, N_CALIB, 64)],
        "tuple of batches": tuple(x[k:k + 50] for k in range(0, N_CALIB, 50)),
        "samples [1, 28, 28]": list(x),
        "samples [28, 28]": list(images[:N_CALIB]),
        "(sample, label) pairs": [(s, 0) for s in x],
    }
    for what, calib in forms.items():
        got = fgq.quantize(MNIST, calib=calib, weights="ternary:g4", progress=False)
        assert got.to_bytes() == cli_path.read_bytes(), what
    more = [x[k:k + 64] for k in range(0, N_CALIB, 64)] + [images[300:364][:, None]]
    got = fgq.quantize(MNIST, calib=more, calib_samples=N_CALIB, weights="ternary:g4", progress=False)
    assert got.to_bytes() == cli_path.read_bytes()  # calib_samples counts samples, not batches


def test_tqdm_bar_when_installed(fgq, images, capsys, monkeypatch):
    """progress=None draws a tqdm bar on stderr when tqdm is installed; without it (its import
    made to fail) quantize is silent. Both give the same bytes."""
    kw = dict(calib=images[:50], weights="s8", solver="rtn")
    pytest.importorskip("tqdm", reason="tqdm is in requirements.txt")
    capsys.readouterr()
    with_bar = fgq.quantize(MNIST, **kw).to_bytes()
    err = capsys.readouterr().err
    assert "calibrate:" in err and "measure:" in err and "/50 [" in err, err[-500:]  # tqdm's "k/50 [time]"
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    quiet = fgq.quantize(MNIST, **kw).to_bytes()
    assert capsys.readouterr().err == ""
    assert quiet == with_bar


def test_run_converts_only_what_needs_it(fgq, images, tmp_path):
    """model(x) reads a C-contiguous array of the input's dtype in place; a strided array, a
    list or a dict is converted first: the same bytes. A quantized model whose stored
    preprocessing is the identity (scale 1, no mean or std) is fed the array itself, and still
    refuses a non-finite sample, as `fgq run` does (with the message of the preprocessing path)."""
    q = fgq.quantize(MNIST, calib=images[:50], weights="s8", solver="rtn", progress=False)
    assert q.preprocess == {"scale": 1.0, "mean": [], "std": [], "channel_axis": -1}
    x = np.ascontiguousarray(images[:6, None].astype(np.float32))
    want = q(x)
    wide = np.zeros((6, 1, 28, 56), np.float32)
    wide[..., ::2] = x
    assert not wide[..., ::2].flags.c_contiguous
    assert q(wide[..., ::2]).tobytes() == want.tobytes()
    assert q(list(x)).tobytes() == want.tobytes()  # a list of float32 arrays: np.asarray keeps float32
    assert q({"Input3": x}).tobytes() == want.tobytes()
    assert q.run(x, raw=True).tobytes() == want.tobytes()  # the identity: raw changes nothing
    qpath = tmp_path / "q.fgq"
    q.save(qpath)
    x[1, 0, 3, 3] = np.nan
    with pytest.raises(fgq.FgqError, match="input Input3: sample 1 becomes non-finite after preprocessing"):
        q(x)
    np.save(tmp_path / "x.npy", x)
    r = run_fgq("run", qpath, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert r.returncode != 0 and "sample 1 holds a non-finite value" in r.stderr  # the CLI refuses it on reading
    assert q.run(x, raw=True).shape == (6, 10)  # raw: no preprocessing, no check


def test_docs_five_lines_run_as_written(fgq, tmp_path, monkeypatch):
    """docs/python.md's "Five lines" block, executed as it stands from a folder whose examples/ is
    the repository's: it runs, and writes what it says it writes."""
    pytest.importorskip("matplotlib", reason="the block ends with fgq.report (requirements.txt)")
    text = (REPO_ROOT / "docs" / "python.md").read_text()
    block = text.split("## Five lines", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "examples").symlink_to(REPO_ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    env = {}
    exec(compile(block, "docs/python.md", "exec"), env)
    assert env["y"].shape == (8, 10) and env["y"].dtype == np.float32
    for name in ("model.fgq", "model.qdq.onnx", "report.html"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "model.fgq").read_bytes() == env["q"].to_bytes()
