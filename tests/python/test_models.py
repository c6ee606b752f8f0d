"""Real models through fgq's float path: `fgq run` (ONNX directly and via `fgq convert` -> .fgq),
`fgq eval` and `fgq bench`.

Oracles:
- ONNX's own test_data_set_*/output_0.pb of examples/mnist-8 (expected logits);
- ONNX Runtime (PyPI onnxruntime, CPU) on the same model and the same inputs, computed here;
- MNIST labels (IDX, read here with gzip + numpy) and the published top-1 of mnist-8: 0.9891;
- onnx's shape inference for the sizes of every intermediate tensor (bounds on the arena) and the
  initializers for the weight bytes.

Tolerance rule for float outputs (fgq sums in another order than ORT and the .pb writer):
elementwise |a - b| <= 1e-4 * max(1, |b|) for the mnist-8 logits (~1e3) of ONNX's test data sets;
per image |a - b| <= 1e-4 * max(1, max over that image's logits |b|) on the MNIST slice; and per
output max|a - b| <= 1e-4 * max(1, max|b|) for the tiny-v0.7 models.

Under a sanitizer build (CTest sets FGQ_SANITIZED=1) the full-data-set checks use a slice:
MNIST images 0:500 instead of 10,000, 10 random inputs per tiny model instead of 100.
"""
import gzip
import json
import os
import struct

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import REPO_ROOT, run_fgq
from onnx import numpy_helper, shape_inference

SANITIZED = os.environ.get("FGQ_SANITIZED", "0") == "1"
MNIST_DIR = REPO_ROOT / "examples" / "mnist-8"
MNIST = MNIST_DIR / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"
LABELS = REPO_ROOT / "examples" / "mnist" / "t10k-labels-idx1-ubyte.gz"
TINY = ["ic", "kws", "vww", "ad"]


def fgq_ok(*args, timeout=300):
    p = run_fgq(*args, timeout=timeout)
    assert p.returncode == 0, f"fgq {' '.join(map(str, args))}: rc={p.returncode}\n{p.stderr}"
    return p


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def graph_inputs(model):
    init = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in init]


def static_shape(value_info, batch=1):
    """Shape of a graph input with symbolic (or unknown) dims bound to `batch`."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else batch
            for d in value_info.type.tensor_type.shape.dim]


def close(a, b, rel=1e-4):
    """Elementwise |a-b| <= rel*max(1,|b|); returns (ok, worst ratio)."""
    lim = rel * np.maximum(1.0, np.abs(b))
    ratio = np.abs(a.astype(np.float64) - b) / lim
    return bool(np.all(ratio <= 1.0)), float(ratio.max())


def read_idx(path):
    """IDX (gzip) reader written from the format: magic (0,0,dtype,ndim), ndim big-endian u32 dims."""
    raw = gzip.open(path, "rb").read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, "expected u8 IDX"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="module")
def mnist_fgq(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "mnist8.fgq"
    fgq_ok("convert", MNIST, "-o", out)
    return out


@pytest.fixture(scope="module")
def mnist_data():
    x = read_idx(IMAGES)
    y = read_idx(LABELS)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    return x, y


# ---- mnist-8: ONNX's test data sets ----------------------------------------------------------

@pytest.mark.parametrize("path", ["onnx", "fgq"])
@pytest.mark.parametrize("k", [0, 1, 2])
def test_mnist8_test_data_sets(tmp_path, mnist_fgq, k, path):
    """Oracle: test_data_set_k/output_0.pb. `fgq run` on input_0.pb, from the .onnx and from the
    converted .fgq, matches it elementwise to |a-b| <= 1e-4*max(1,|b|)."""
    ds = MNIST_DIR / f"test_data_set_{k}"
    assert (ds / "input_0.pb").exists() and (ds / "output_0.pb").exists(), ds
    expected = numpy_helper.to_array(onnx.load_tensor(str(ds / "output_0.pb")))
    model = MNIST if path == "onnx" else mnist_fgq
    y = tmp_path / "y.npy"
    fgq_ok("run", model, "--input", ds / "input_0.pb", "-o", y)
    got = np.load(y)
    assert got.shape == expected.shape and got.dtype == np.float32
    ok, worst = close(got, expected)
    assert ok, f"worst |a-b|/(1e-4*max(1,|b|)) = {worst}\n got {got}\n exp {expected}"


# ---- mnist-8 on the MNIST test set --------------------------------------------------------------

def ort_mnist_logits(x_u8):
    """ORT logits for u8 images [N,28,28] fed as raw 0..255 floats, one image per call (the model's
    input is fixed at [1,1,28,28])."""
    sess = ort_session(MNIST)
    name = sess.get_inputs()[0].name
    xf = x_u8.astype(np.float32).reshape(-1, 1, 1, 28, 28)
    return np.concatenate([sess.run(None, {name: xi})[0] for xi in xf])


def test_mnist8_eval_top1_matches_onnxruntime(mnist_data):
    """Oracle: ONNX Runtime's top-1 on the same images (raw 0..255 pixels) and labels, computed
    here; on all 10,000 that is also the published 0.9891. `fgq eval --json` must report the same
    sample count and exactly the same top-1. Sanitized build: images 0:500 only."""
    x, y = mnist_data
    n = 500 if SANITIZED else 10000
    args = ["eval", MNIST, "--data", IMAGES, "--labels", LABELS, "--json"]
    if SANITIZED:
        args += ["--samples", f"0:{n}"]
    d = json.loads(fgq_ok(*args).stdout)
    ort_top1 = float(np.mean(ort_mnist_logits(x[:n]).argmax(1) == y[:n]))
    assert d["samples"] == n
    assert abs(d["top1"] - ort_top1) < 0.5 / n, (d["top1"], ort_top1)
    if not SANITIZED:
        assert abs(ort_top1 - 0.9891) < 0.5 / n, ort_top1
        assert abs(d["top1"] - 0.9891) < 0.5 / n, d["top1"]


def test_mnist8_eval_fgq_file_same_top1(mnist_fgq, mnist_data):
    """Oracle: the .onnx path's result. `fgq eval` on the converted .fgq gives the same top-1 as on
    the .onnx over the slice 0:1000 (0:200 under a sanitizer) and equals the labels' agreement
    with ORT there."""
    x, y = mnist_data
    n = 200 if SANITIZED else 1000
    common = ["--data", IMAGES, "--labels", LABELS, "--json", "--samples", f"0:{n}"]
    a = json.loads(fgq_ok("eval", MNIST, *common).stdout)
    b = json.loads(fgq_ok("eval", mnist_fgq, *common).stdout)
    ort_top1 = float(np.mean(ort_mnist_logits(x[:n]).argmax(1) == y[:n]))
    assert a["samples"] == b["samples"] == n
    assert a["top1"] == b["top1"]
    assert abs(b["top1"] - ort_top1) < 0.5 / n


@pytest.mark.parametrize("path", ["onnx", "fgq"])
def test_mnist8_per_image_argmax_agrees_with_onnxruntime(tmp_path, mnist_fgq, mnist_data, path):
    """Oracle: ORT per image. A stacked [N,1,28,28] .npy of test images 0:N (N = 1000, 100 under a
    sanitizer) through `fgq run` gives [N,10] logits; every row's argmax equals ORT's and every
    logit is within 1e-4 of its image's logit magnitude: |a_ij-b_ij| <= 1e-4*max(1, max_j |b_ij|).
    (Elementwise-relative is too strict here: a logit near 0 in a row whose others are ~1e3
    carries the rounding of sums of ~1e3; measured worst is ~7e-7 of the row magnitude.)"""
    x, _ = mnist_data
    n = 100 if SANITIZED else 1000
    xin = tmp_path / "x.npy"
    np.save(xin, x[:n].astype(np.float32).reshape(n, 1, 28, 28))
    y = tmp_path / "y.npy"
    fgq_ok("run", MNIST if path == "onnx" else mnist_fgq, "--input", xin, "-o", y)
    got = np.load(y).reshape(n, -1)
    ref = ort_mnist_logits(x[:n])
    assert got.shape == ref.shape
    disagree = np.nonzero(got.argmax(1) != ref.argmax(1))[0]
    assert disagree.size == 0, f"argmax differs on images {disagree[:20]}"
    row_mag = np.maximum(1.0, np.abs(ref).max(axis=1, keepdims=True))
    worst = float((np.abs(got.astype(np.float64) - ref) / row_mag).max())
    assert worst <= 1e-4, f"worst |a-b|/max(1, row max|b|) = {worst}"


# ---- MLPerf Tiny v0.7 models against ONNX Runtime ------------------------------------------------

@pytest.mark.parametrize("path", ["onnx", "fgq"])
@pytest.mark.parametrize("name", TINY)
def test_tiny_models_match_onnxruntime(tmp_path, shared_dir, name, path):
    """Oracle: ORT on the same model and inputs. 100 inputs (10 under a sanitizer), uniform in
    [-1, 1) from a fixed seed, with the input shape from the ONNX file (symbolic batch = 1), run as
    one stacked .npy through `fgq run` (the .onnx directly, and the .fgq from `fgq convert`);
    per output, max|a-b| <= 1e-4*max(1, max|b|) over all inputs."""
    onnx_path = shared_dir / "models" / "tiny-v0.7" / f"model_{name}.onnx"
    assert onnx_path.exists(), onnx_path
    m = onnx.load(str(onnx_path))
    (inp,) = graph_inputs(m)
    shape = static_shape(inp)
    assert shape[0] == 1, shape
    n = 10 if SANITIZED else 100
    rng = np.random.default_rng(20240607 + TINY.index(name))
    xs = rng.uniform(-1.0, 1.0, size=[n] + shape[1:]).astype(np.float32)
    sess = ort_session(onnx_path)
    refs = [sess.run(None, {inp.name: xs[i:i + 1]}) for i in range(n)]
    model = onnx_path
    if path == "fgq":
        model = tmp_path / f"{name}.fgq"
        fgq_ok("convert", onnx_path, "-o", model)
    xin = tmp_path / "x.npy"
    np.save(xin, xs)
    outs = [tmp_path / f"y{k}.npy" for k in range(len(m.graph.output))]
    args = ["run", model, "--input", xin]
    for o in outs:
        args += ["-o", o]
    fgq_ok(*args)
    for k, o in enumerate(outs):
        ref = np.concatenate([r[k] for r in refs])
        got = np.load(o)
        assert got.size == ref.size, (got.shape, ref.shape)
        got = got.reshape(ref.shape)
        err = float(np.max(np.abs(got.astype(np.float64) - ref)))
        tol = 1e-4 * max(1.0, float(np.max(np.abs(ref))))
        assert err <= tol, f"{name} output {k}: max|a-b| = {err:.3g} > {tol:.3g}"


# ---- fgq bench: arena and weight bytes -----------------------------------------------------------

def fgq_const_bytes(path):
    """Sum of data_size of the constant tensors (kind 2) of a .fgq, parsed here from the layout in
    runtime/fgq_format.h, version 2 (header: version at 8, n_tensors at 24, tensors_off at 40; 56-byte
    tensor records (fgq_disk_tensor) with kind a u8 at 7 and data_size a u64 at 24)."""
    b = path.read_bytes()
    version, = struct.unpack_from("<I", b, 8)
    assert version == 2, version
    n_tensors, = struct.unpack_from("<I", b, 24)
    tensors_off, = struct.unpack_from("<I", b, 40)
    total = 0
    for t in range(n_tensors):
        r = tensors_off + 56 * t
        kind = b[r + 7]
        size, = struct.unpack_from("<Q", b, r + 24)
        if kind == 2:
            total += size
    return total


def align64(n):
    return (n + 63) // 64 * 64


def test_mnist8_bench_arena_and_weights(mnist_fgq):
    """Oracles: onnx (initializers, shape inference) and our own parse of the .fgq.
    `fgq bench --json` on mnist-8:
    - 0 < arena_lower_bound <= arena_bytes <= sum over the graph input and every node output of
      its size from onnx shape inference, each rounded up to 64 (the plan's alignment);
    - weight_bytes == the sum of the .fgq's constant data sizes (parsed here);
    - 4*(elements of Conv/Gemm/MatMul weights) <= weight_bytes <= 4*(elements of all float
      initializers): mnist-8 has no BatchNormalization, so folding cannot add constants;
    - model_bytes == the .fgq's file size; the .onnx and the .fgq report the same figures."""
    d = json.loads(fgq_ok("bench", mnist_fgq, "--json", "--runs", "5", "--warmup", "1").stdout)
    d_onnx = json.loads(fgq_ok("bench", MNIST, "--json", "--runs", "5", "--warmup", "1").stdout)
    m = shape_inference.infer_shapes(onnx.load(str(MNIST)))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    shapes = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dims = [dd.dim_value for dd in vi.type.tensor_type.shape.dim]
        assert all(v > 0 for v in dims), (vi.name, dims)
        shapes[vi.name] = dims
    for k, v in init.items():
        shapes[k] = list(v.shape)
    activations = [i.name for i in graph_inputs(m)] + [o for n in m.graph.node for o in n.output]
    act_sum = sum(align64(4 * int(np.prod(shapes[a]))) for a in activations)
    weight_elems = sum(int(np.prod(shapes[n.input[1]])) for n in m.graph.node if n.op_type in ("Conv", "Gemm", "MatMul"))
    float_init_elems = sum(v.size for v in init.values() if v.dtype == np.float32)

    assert 0 < d["arena_lower_bound"] <= d["arena_bytes"] <= act_sum, (d, act_sum)
    assert d["weight_bytes"] == fgq_const_bytes(mnist_fgq)
    assert 4 * weight_elems <= d["weight_bytes"] <= 4 * float_init_elems, (d["weight_bytes"], weight_elems,
                                                                          float_init_elems)
    assert d["model_bytes"] == mnist_fgq.stat().st_size
    for k in ("arena_bytes", "arena_lower_bound", "weight_bytes", "model_bytes"):
        assert d_onnx[k] == d[k], k
    assert d["runs"] == 5 and 0 < d["latency_ms"]["min"] <= d["latency_ms"]["p50"] <= d["latency_ms"]["p99"]


def test_mnist8_bench_nodes(mnist_fgq):
    """`fgq bench --nodes --json`: one entry per node of the model (its node count from `fgq inspect
    --json`), each with the node's name and op as inspect lists them, times >= 0, sorted by
    decreasing time, shares summing to 1; the text form lists every node too."""
    d = json.loads(fgq_ok("bench", mnist_fgq, "--json", "--nodes", "--runs", "5", "--warmup", "1").stdout)
    info = json.loads(fgq_ok("inspect", mnist_fgq, "--json").stdout)
    nodes = d["nodes"]
    assert sorted(n["node"] for n in nodes) == list(range(len(info["nodes"])))
    by_index = {i: nd for i, nd in enumerate(info["nodes"])}
    for n in nodes:
        assert n["name"] == by_index[n["node"]]["name"] and n["op"] == by_index[n["node"]]["op"], (n, by_index[n["node"]])
        assert n["mean_us"] >= 0 and 0 <= n["share"] <= 1
    assert all(a["mean_us"] >= b["mean_us"] for a, b in zip(nodes, nodes[1:]))
    assert abs(sum(n["share"] for n in nodes) - 1.0) < 1e-6
    text = fgq_ok("bench", mnist_fgq, "--nodes", "--runs", "3", "--warmup", "0").stdout
    assert "per node" in text and all(nd["name"] in text for nd in info["nodes"])
