"""`fgq export M.fgq --onnx OUT.onnx`: the exported model, run by ONNX Runtime, computes what fgq computes.

Oracles:
- float models: ONNX Runtime on the exported model vs `fgq run` of the .fgq on the same inputs
  (mnist-8: ONNX's test data sets and MNIST test images), per image
  |ort - fgq| <= 1e-4 * max(1, max over that image's logits |fgq|) (the two sum in different
  orders; logits reach ~1e3, so a small logit's error is set by the large ones); and for every single-node ONNX backend test
  (Debian's libonnx-testdata, the ops scripts/conformance.py claims) that `fgq convert` accepts,
  ONNX Runtime on the export vs ONNX's expected outputs, allclose(rtol=1e-4, atol=1e-5).
- quantized mnist-8 (`fgq quantize`, calibrated on MNIST test images 0..999, evaluated on
  1000..3999 here to keep CI short, 1000..1499 under FGQ_SANITIZED=1): ONNX Runtime on the QDQ export vs `fgq run`:
  top-1 agreement >= 99.5 %, and elementwise |fgq - ort| <= 2 * s_y, where s_y is the output's
  quantization step (the scale of the final DequantizeLinear, i.e. fgq's DEQUANTIZE): the two may
  differ only by the rounding of requantization (fgq's fixed-point multiplier vs ORT's float
  QuantizeLinear, ties to even), which moves a code by one step per layer at most in practice.
  Checked with ORT's default graph optimizations (which fuse QDQ into QLinearConv/QGemm) and
  with optimizations disabled (the literal QDQ float semantics) on the first 500 images.
- every export passes onnx.checker (full_check, i.e. with shape inference).
- bad input (missing or corrupt .fgq, missing --onnx): exit code 2, no output file, no temporary
  file left beside it (tools/fileutil.h's atomic write).
"""
import gzip
import os
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import REPO_ROOT, run_fgq
from onnx import numpy_helper

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import conformance  # noqa: E402

SANITIZED = os.environ.get("FGQ_SANITIZED", "0") == "1"
MNIST_DIR = REPO_ROOT / "examples" / "mnist-8"
MNIST = MNIST_DIR / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"
EVAL = (1000, 1500) if SANITIZED else (1000, 4000)  # the full 1000..9999 figures are in the issue note


def fgq_ok(*args, timeout=600):
    p = run_fgq(*args, timeout=timeout)
    assert p.returncode == 0, f"fgq {' '.join(map(str, args))}: rc={p.returncode}\n{p.stderr}"
    return p


def read_idx(path):
    """IDX (gzip) reader written from the format: magic (0,0,dtype,ndim), ndim big-endian u32 dims."""
    raw = gzip.open(path, "rb").read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, "expected u8 IDX"
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def ort_session(path, optimize=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_per_image(sess, x):
    """Runs a batch-1 model image by image; returns [N, ...] outputs."""
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def fgq_run_stacked(tmp_path, model, x, tag):
    """`fgq run` on [N, 1, 28, 28] (it runs the batch-1 model N times and stacks the outputs)."""
    xin, yout = tmp_path / f"x_{tag}.npy", tmp_path / f"y_{tag}.npy"
    np.save(xin, x)
    fgq_ok("run", model, "--input", xin, "-o", yout)
    return np.load(yout)


def export_checked(tmp_path, fgq_model, name):
    out = tmp_path / name
    fgq_ok("export", fgq_model, "--onnx", out)
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    return out, m


@pytest.fixture(scope="module")
def images():
    x = read_idx(IMAGES)
    assert x.shape == (10000, 28, 28)
    return x.reshape(-1, 1, 28, 28).astype(np.float32)  # mnist-8 takes raw pixels 0..255


# ---- float ------------------------------------------------------------------------------------

def test_float_mnist8_export_matches_fgq(tmp_path, images):
    fgq_file = tmp_path / "f.fgq"
    fgq_ok("convert", MNIST, "-o", fgq_file)
    out, m = export_checked(tmp_path, fgq_file, "f.onnx")
    src = onnx.load(str(MNIST))
    # graph input / output names and shapes are kept (mnist-8 also lists its initializers as inputs)
    inits = {t.name for t in src.graph.initializer}
    assert [i.name for i in m.graph.input] == [i.name for i in src.graph.input if i.name not in inits]
    assert [o.name for o in m.graph.output] == [o.name for o in src.graph.output]
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(m.graph.input[0]) == [1, 1, 28, 28] and dims(m.graph.output[0]) == [1, 10]
    xs = [numpy_helper.to_array(onnx.load_tensor(str(MNIST_DIR / f"test_data_set_{k}" / "input_0.pb")))
          for k in range(3)]
    x = np.concatenate(xs + [images[:200]]).astype(np.float32)
    want = fgq_run_stacked(tmp_path, fgq_file, x, "f").reshape(len(x), 10)
    got = ort_per_image(ort_session(out), x).reshape(len(x), 10)
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want).max(axis=1, keepdims=True))
    assert err.max() <= 1e-4, f"worst relative difference {err.max():.3g}"


def test_float_node_tests_export_matches_onnx_expected(tmp_path):
    if not os.path.isdir(conformance.NODE_DIR):
        pytest.fail(f"{conformance.NODE_DIR} missing: install Debian's libonnx-testdata")
    ran, bad = 0, []
    for op, name, path in conformance.node_cases():
        m = onnx.load(os.path.join(path, "model.onnx"))
        sdir = os.path.join(path, "test_data_set_0")
        feeds, kept, usable = {}, [], True
        node = m.graph.node[0]
        qparams = {node.input[k] for k in conformance.QPARAM_INPUTS.get(node.op_type, ()) if k < len(node.input)}
        # as scripts/conformance.py: int64 inputs and the scales / zero points of the quantized ops become constants
        for i, inp in enumerate(m.graph.input):
            pb = os.path.join(sdir, f"input_{i}.pb")
            if not os.path.exists(pb) or not inp.type.HasField("tensor_type"):
                usable = False
                break
            arr = conformance.load_pb(pb)
            if arr.dtype == np.int64 or inp.name in qparams:
                m.graph.initializer.append(numpy_helper.from_array(arr, inp.name))
                continue
            kept.append(inp)
            feeds[inp.name] = arr.astype(np.float32) if arr.dtype == np.float16 else arr  # fgq: float16 as float32
        if not usable:
            continue
        del m.graph.input[:]
        m.graph.input.extend(kept)
        src, fgq_file, exported = tmp_path / "m.onnx", tmp_path / "m.fgq", tmp_path / "e.onnx"
        onnx.save(m, str(src))
        if run_fgq("convert", src, "-o", fgq_file).returncode != 0:
            continue  # an op variant fgq does not support: nothing to export
        p = run_fgq("export", fgq_file, "--onnx", exported)
        if p.returncode != 0:
            bad.append(f"{name}: export rc={p.returncode} {p.stderr.strip()}")
            continue
        e = onnx.load(str(exported))
        onnx.checker.check_model(e, full_check=True)
        sess = ort_session(exported)
        outs = sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})
        for o, got in enumerate(outs):
            want = conformance.load_pb(os.path.join(sdir, f"output_{o}.pb"))
            want = want.astype(np.float32) if want.dtype == np.float16 else want
            if got.shape != want.shape or got.dtype != want.dtype:
                bad.append(f"{name}: output {o} is {got.dtype}{got.shape}, expected {want.dtype}{want.shape}")
            elif want.dtype.kind in "iu":
                # integer outputs (QLinear*, *Integer, DynamicQuantizeLinear): equal, or 1 step where a
                # requantized value sits on a rounding boundary: fgq requantizes with a fixed-point
                # multiplier (halves away from zero), ORT with a float multiplier (halves to even)
                diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
                if diff.max(initial=0) > 1:
                    bad.append(f"{name}: output {o} differs by up to {diff.max()} steps")
            elif not np.allclose(got, want, rtol=1e-4, atol=1e-5, equal_nan=True):
                # where ORT disagrees with ONNX's expected data on the original model too, the export
                # is not at fault (Resize align_corners with a fractional in·scale: ONNX's reference
                # uses in·scale as the resized length, ORT the output size; fgq follows ONNX)
                orig = ort_session(src).run(None, {i.name: feeds[i.name] for i in ort_session(src).get_inputs()})
                if np.allclose(orig[o], want, rtol=1e-4, atol=1e-5, equal_nan=True):
                    bad.append(f"{name}: output {o} differs")
        ran += 1
    assert not bad, "\n".join(bad)
    assert ran >= 100, f"only {ran} node tests exported"


# ---- quantized -----------------------------------------------------------------------------------

POLICIES = ["s8", "ternary:g4", "ternary:g16:asym", "s4:g8", "s3:g8", "s2:g8"]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """policy -> quantized mnist-8 .fgq, calibrated on MNIST test images 0..999, weights rounded to nearest
    (what is checked here is that the export computes what fgq does, whatever chose the codes; rtn skips the
    solver's statistics, which under ASan took two minutes); the output layer writes codes, so the output's
    step is the unit of the comparison (test_float_output_layer_export: the default float one)."""
    d = tmp_path_factory.mktemp("q")
    out = {}
    for pol in POLICIES:
        f = d / (pol.replace(":", "_") + ".fgq")
        fgq_ok("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:1000", "-o", f, "--weights", pol,
               "--solver", "rtn", "--output-layer", "quantized")
        out[pol] = f
    return out


def output_step(m):
    """Scale of the DequantizeLinear that produces the graph output (fgq's final DEQUANTIZE)."""
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    node = next(n for n in m.graph.node if m.graph.output[0].name in n.output)
    assert node.op_type == "DequantizeLinear"
    return float(init[node.input[1]])


@pytest.mark.parametrize("policy", POLICIES)
def test_quantized_mnist8_export_agrees_with_fgq(tmp_path, quantized, images, policy):
    out, m = export_checked(tmp_path, quantized[policy], "q.onnx")
    ops = [n.op_type for n in m.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and m.opset_import[0].version == 21
    x = images[EVAL[0]:EVAL[1]]
    want = fgq_run_stacked(tmp_path, quantized[policy], x, "q").reshape(len(x), 10)
    agrees_with_ort(out, x, want, output_step(m), policy)


def agrees_with_ort(out, x, want, s_y, what):
    """ORT on the exported model, optimized (every image) and not (500): top-1 agreement with `fgq run`'s
    outputs `want` >= 99.5 %, worst difference <= 2 steps s_y."""
    for optimize, n in ((True, len(x)), (False, min(500, len(x)))):
        got = ort_per_image(ort_session(out, optimize), x[:n]).reshape(n, 10)
        agree = float(np.mean(got.argmax(1) == want[:n].argmax(1)))
        worst = float(np.abs(got - want[:n]).max()) / s_y
        assert agree >= 0.995, f"{what} optimize={optimize}: top-1 agreement {agree:.4f}"
        assert worst <= 2.0 + 1e-6, f"{what} optimize={optimize}: worst difference {worst:.3f} output steps"


def test_float_output_layer_export(tmp_path, quantized, images):
    """The default output layer (float from the int32 accumulator: QGEMM_DYN with constant input
    scale and zero point) exports as DequantizeLinear -> Gemm on float weights, no final
    DequantizeLinear; ORT agrees with `fgq run` as closely as on the codes model: top-1 >= 99.5 %,
    at most 2 steps of that model's output scale (the same calibration)."""
    fgq_file = tmp_path / "tail.fgq"
    fgq_ok("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:1000", "-o", fgq_file, "--weights", "s8",
           "--solver", "rtn")
    out, m = export_checked(tmp_path, fgq_file, "tail.onnx")
    last = next(n for n in m.graph.node if m.graph.output[0].name in n.output)
    assert last.op_type != "DequantizeLinear", last
    _, mq = export_checked(tmp_path, quantized["s8"], "codes.onnx")
    x = images[EVAL[0]:EVAL[1]]
    want = fgq_run_stacked(tmp_path, fgq_file, x, "tail").reshape(len(x), 10)
    agrees_with_ort(out, x, want, output_step(mq), "float output layer")


# Dynamic activations (`--acts dynamic`, docs/quantized-ops.md §8): DYNQUANT is ONNX's own
# DynamicQuantizeLinear, and QCONV_DYN / QGEMM_DYN hand back float, so the export and `fgq run` differ
# only by float rounding (summation order; ORT may fuse DQ -> Conv into integer kernels) and, rarely, a
# later DynamicQuantizeLinear code that this moves across a rounding boundary (one step of that
# layer's per-inference scale). Measured on images 1000..1299 (ORT 1.23.2, optimized or not): 100 %
# top-1 agreement, worst |ort - fgq| = 5.7e-7 of the image's largest |logit| (logits reach ~9e3 on raw
# pixels). Tolerance: |ort - fgq| <= 1e-4 * max(1, max |fgq logit|) per image, top-1 >= 99.5 %.
DYN_REL_TOL = 1e-4


def test_dynamic_mnist8_export_agrees_with_fgq(tmp_path, images):
    fgq_file = tmp_path / "dyn.fgq"
    fgq_ok("quantize", MNIST, "-o", fgq_file, "--weights", "s8", "--acts", "dynamic")
    out, m = export_checked(tmp_path, fgq_file, "dyn.onnx")
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("DynamicQuantizeLinear") == 3 and "QuantizeLinear" not in ops
    assert m.opset_import[0].version == 21
    x = images[EVAL[0]:EVAL[0] + 300]
    want = fgq_run_stacked(tmp_path, fgq_file, x, "dyn").reshape(len(x), 10)
    for optimize in (True, False):
        got = ort_per_image(ort_session(out, optimize), x).reshape(len(x), 10)
        agree = float(np.mean(got.argmax(1) == want.argmax(1)))
        rel = np.abs(got - want) / np.maximum(1.0, np.abs(want).max(axis=1, keepdims=True))
        assert agree >= 0.995, f"optimize={optimize}: top-1 agreement {agree:.4f}"
        assert rel.max() <= DYN_REL_TOL, f"optimize={optimize}: worst relative difference {rel.max():.3g}"


def weight_dq_nodes(m, layer):
    return [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.name.startswith(layer + "/w_")]


def test_group_scales_export_as_blocked_dequantize(tmp_path, quantized):
    """The ternary / s4 group layer (Convolution110; first and last stay s8) uses opset 21's
    blocked DequantizeLinear with block_size = the group size; asym splits W in two masks; s4 codes
    are INT4; the per-channel s8 layers use axis 0 without block_size."""
    def attrs(n):
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    _, m = export_checked(tmp_path, quantized["ternary:g4"], "t4.onnx")
    (dq,) = weight_dq_nodes(m, "Convolution110")
    assert attrs(dq) == {"axis": 1, "block_size": 4}
    (dq0,) = weight_dq_nodes(m, "Convolution28")
    assert attrs(dq0) == {"axis": 0}
    init = {t.name: t for t in m.graph.initializer}
    codes = numpy_helper.to_array(init[dq.input[0]])
    assert codes.dtype == np.int8 and set(np.unique(codes)) <= {-1, 0, 1}
    k = codes.shape[1]
    assert numpy_helper.to_array(init[dq.input[1]]).shape == (codes.shape[0], (k + 3) // 4)

    _, m = export_checked(tmp_path, quantized["ternary:g16:asym"], "ta.onnx")
    dqs = weight_dq_nodes(m, "Convolution110")
    assert len(dqs) == 2 and all(attrs(n) == {"axis": 1, "block_size": 16} for n in dqs)
    assert any(n.op_type == "Sub" and list(n.input) == [d.output[0] for d in dqs] for n in m.graph.node)

    _, m = export_checked(tmp_path, quantized["s4:g8"], "s4.onnx")
    (dq,) = weight_dq_nodes(m, "Convolution110")
    init = {t.name: t for t in m.graph.initializer}
    assert init[dq.input[0]].data_type == onnx.TensorProto.INT4 and attrs(dq)["block_size"] == 8

    _, m = export_checked(tmp_path, quantized["s3:g8"], "s3.onnx")  # ONNX has no 3-bit type: INT8 codes
    (dq,) = weight_dq_nodes(m, "Convolution110")
    init = {t.name: t for t in m.graph.initializer}
    codes = numpy_helper.to_array(init[dq.input[0]])
    assert codes.dtype == np.int8 and codes.min() >= -4 and codes.max() <= 3 and attrs(dq)["block_size"] == 8
    assert len(np.unique(codes)) > 3  # a real 3-bit grid, not ternary

    _, m = export_checked(tmp_path, quantized["s2:g8"], "s2.onnx")  # the four levels as INT8 codes
    (dq,) = weight_dq_nodes(m, "Convolution110")
    codes = numpy_helper.to_array({t.name: t for t in m.graph.initializer}[dq.input[0]])
    assert codes.dtype == np.int8 and set(np.unique(codes)) == {-3, -1, 1, 3}


# ---- bad input ------------------------------------------------------------------------------------

def assert_nothing_written(d, out):
    assert not out.exists()
    leftovers = [p.name for p in d.iterdir() if p.name.startswith(out.name) or p.name.startswith("." + out.name)]
    assert not leftovers, f"left behind: {leftovers}"


def test_missing_fgq_exit_2_no_output(tmp_path):
    out = tmp_path / "o.onnx"
    p = run_fgq("export", tmp_path / "nope.fgq", "--onnx", out)
    assert p.returncode == 2 and "nope.fgq" in p.stderr
    assert_nothing_written(tmp_path, out)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_fgq_exit_2_no_output(tmp_path, damage):
    good = tmp_path / "g.fgq"
    fgq_ok("convert", MNIST, "-o", good)
    data = bytearray(good.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip":
        data[len(data) - 100] ^= 0xFF  # inside the blobs: the checksum no longer matches
    else:
        data = bytearray(b"not an fgq file at all" * 10)
    bad = tmp_path / "bad.fgq"
    bad.write_bytes(bytes(data))
    out = tmp_path / "o.onnx"
    p = run_fgq("export", bad, "--onnx", out)
    assert p.returncode == 2, p.stderr
    assert "bad.fgq" in p.stderr
    assert_nothing_written(tmp_path, out)


def test_usage_errors_exit_2(tmp_path):
    good = tmp_path / "g.fgq"
    fgq_ok("convert", MNIST, "-o", good)
    assert run_fgq("export", good).returncode == 2  # no --onnx
    assert run_fgq("export", "--onnx", tmp_path / "o.onnx").returncode == 2  # no model
    assert run_fgq("export", good, "--onnx", tmp_path / "o.onnx", "--bogus").returncode == 2
    assert not (tmp_path / "o.onnx").exists()


# ---- where the weight scale comes from --------------------------------------------------------------

def edited(src, dst, edit):
    """Copies a .fgq with `edit(FgqFile)` applied and the header re-sealed (tests/python/test_fgq_files.py)."""
    from test_fgq_files import FgqFile
    f = FgqFile(src.read_bytes())
    edit(f)
    dst.write_bytes(bytes(f.seal().buf))
    return dst


def tensors_named(f, suffix):
    return [t for t in range(f.n_tensors()) if f.name(f.tensor(t)).endswith(suffix)]


def test_weight_scale_from_req_when_w_has_no_qparams(tmp_path, quantized, images):
    """W's qparams (s_m) removed: the export recovers s_m = real(REQ)·s_y/s_x and still agrees with
    `fgq run` (whose kernels never read qparams) by the same rule as above."""
    def strip(f):
        for t in tensors_named(f, ".w"):
            assert f.tensor(t)["q_n_scales"] == f.tensor(t)["dims"][0]  # one scale per row before the edit
            f.set_tensor(t, q_off=0, q_n_scales=0, q_axis=0, q_group_size=0)

    model = edited(quantized["ternary:g16:asym"], tmp_path / "noq.fgq", strip)
    out, m = export_checked(tmp_path, model, "noq.onnx")
    x = images[EVAL[0]:EVAL[0] + 300]
    want = fgq_run_stacked(tmp_path, model, x, "noq").reshape(len(x), 10)
    got = ort_per_image(ort_session(out), x).reshape(len(x), 10)
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.995
    assert np.abs(got - want).max() <= 2.0 * output_step(m) + 1e-6


def test_req_that_contradicts_the_scales_is_refused(tmp_path, quantized):
    """One row's REQ shift lowered by 1 (real multiplier halved) no longer equals s_x·s_m/s_y from the
    tensors' qparams: exit 2, a message naming REQ, and no output file."""
    def halve(f):
        (t,) = tensors_named(f, "Convolution110.req")
        off = f.tensor(t)["data_off"]
        mult, shift = struct.unpack_from("<ii", f.buf, off)
        assert mult > 0
        struct.pack_into("<ii", f.buf, off, mult, shift - 1)

    model = edited(quantized["s8"], tmp_path / "badreq.fgq", halve)
    out = tmp_path / "o.onnx"
    p = run_fgq("export", model, "--onnx", out)
    assert p.returncode == 2 and "REQ" in p.stderr and "Convolution110" in p.stderr, p.stderr
    assert_nothing_written(tmp_path, out)


def optimized_ops(tmp_path, onnx_path):
    """The op types of ORT's optimized graph (ORT_ENABLE_ALL) of a model, counted."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    opt = onnx.load(so.optimized_model_filepath)
    counts = {}
    for n in opt.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def test_s8_export_is_what_ort_fuses(tmp_path, quantized):
    """Per-channel s8 weights are written in the consumer's own shape (a Conv's [M, C, kh, kw], a
    Gemm's [M, K] with transB), with nothing between the weight DequantizeLinear and its Conv/Gemm:
    ORT then runs every layer on its int8 kernels (QLinearConv, QGemm) instead of dequantizing the
    weights and convolving in float on every call."""
    out, m = export_checked(tmp_path, quantized["s8"], "s8.onnx")
    ops = [n.op_type for n in m.graph.node]
    assert "Reshape" not in [n.op_type for n in m.graph.node if any("/w" in o for o in n.output)]
    opt = optimized_ops(tmp_path, out)
    assert opt.get("QLinearConv", 0) == ops.count("Conv") == 2, opt
    assert opt.get("QGemm", 0) + opt.get("QLinearMatMul", 0) + opt.get("MatMulInteger", 0) == 1, opt
    assert "Conv" not in opt and "Gemm" not in opt, opt


TINY = ["ic", "kws", "vww", "ad"]


@pytest.mark.parametrize("name", TINY)
def test_quantized_tiny_models_export_runs_in_ort(tmp_path, shared_dir, name):
    """The MLPerf Tiny models (AveragePool, depthwise and pointwise convolutions, Gemm), quantized
    s8 on random calibration inputs and exported: ORT builds its fused int8 graph (ORT_ENABLE_ALL;
    ORT 1.23 refused an AveragePool carrying an all-1 `dilations` attribute in that fusion) and
    its outputs stay within a few output steps of fgq's on random inputs (the two differ by the
    rounding of each layer's requantization, which can add up over a deep model)."""
    model = shared_dir / "models" / "tiny-v0.7" / f"model_{name}.onnx"
    m = onnx.load(str(model))
    shape = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(3)
    calib = tmp_path / "calib.npy"
    np.save(calib, rng.uniform(-1, 1, [32] + shape[1:]).astype(np.float32))
    q = tmp_path / f"{name}.fgq"
    # export, not solver; codes out, so that the output's step is the unit below
    fgq_ok("quantize", model, "--calib", calib, "--weights", "s8", "-o", q, "--solver", "rtn", "--output-layer",
           "quantized")
    out, exported = export_checked(tmp_path, q, f"{name}.onnx")
    opt = optimized_ops(tmp_path, out)  # every convolution on ORT's int8 kernel (test_s8_export_is_what_ort_fuses)
    n_conv = sum(n.op_type == "Conv" for n in exported.graph.node)
    assert opt.get("QLinearConv", 0) == n_conv and "Conv" not in opt, opt
    # ORT 1.23.2's fused int8 kernels on CPUs with AMX (Sapphire Rapids, 2026-12-05) are not ORT's
    # graph as written: vww's outputs 50 output steps from fgq's and from ORT's own unfused run of the
    # same file (6), ic's differing between two runs of one session on one input (7 steps). There the
    # outputs are compared with ORT's run of the graph as written (the QDQ semantics) instead; the
    # fusion itself is checked above on every CPU.
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    sess = ort_session(out, optimize="amx_int8" not in flags)
    x = rng.uniform(-1, 1, [8] + shape[1:]).astype(np.float32)
    got_ort = ort_per_image(sess, x)
    got_fgq = fgq_run_stacked(tmp_path, q, x, name)
    step = output_step(exported)
    diff = np.abs(got_ort - got_fgq)
    print(f"{name}: max |ort - fgq| = {diff.max() / step:.1f} output steps, mean {diff.mean() / step:.2f}")
    assert np.all(np.isfinite(got_ort))
    assert diff.mean() <= 4 * step and diff.max() <= 12 * step  # seen: mean 0.0-2.8, max 1-8 (vww)
