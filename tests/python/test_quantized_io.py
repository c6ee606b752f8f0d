"""`fgq quantize --io quantized`: graph inputs and outputs as u8 / s8 codes (tools/quant/quantized_io.h).

Oracles: the same model quantized with float I/O and `--output-layer quantized` (its output layer
writing codes, as under --io quantized), whose QUANTIZE / DEQUANTIZE the rewrite drops.
`fgq run` on float data quantizes it as that QUANTIZE did, so the codes it writes, dequantized
with the scale and zero point `fgq inspect` shows, are the float-I/O model's outputs bit for bit;
`fgq run --raw` on the codes themselves (MNIST pixels: the input's scale is 1, its zero point 0)
gives the same codes; `fgq eval` (which converts at both ends) gives the same top-1, and `fgq
eval FLOAT QUANT` the same output SQNR. An output a float node makes stays float, said on
stderr. Bad values exit 2 with a message and write no file.
"""
import gzip
import json
import re

import numpy as np
import pytest
from conftest import run_fgq

from quant_common import IMAGES, LABELS, MNIST, TIMEOUT

CALIB = "0:200"
N = 40


def _images(n):
    raw = np.frombuffer(gzip.open(IMAGES).read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return raw[1000:1000 + n]


def _quantize(out, *args):
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", CALIB, "-o", out, "--json", *args,
                timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), p.stderr


def _io(path):
    """[(name, dtype, scale or None, zero point or None)] of inputs and outputs, from fgq inspect --json."""
    p = run_fgq("inspect", path, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    res = []
    for side in ("inputs", "outputs"):
        rows = []
        for s in d[side]:
            m = re.search(r"x = (\S+) \* \(q - (-?\d+)\)", s)
            rows.append((s.split()[0], s.split()[1], float(m.group(1)) if m else None, int(m.group(2)) if m else None))
        res.append(rows)
    return res


@pytest.mark.parametrize("weights", ["s8", "ternary:g4"])
def test_codes_equal_float_io_outputs(tmp_path, weights):
    fl, qi = tmp_path / "float_io.fgq", tmp_path / "q_io.fgq"
    _quantize(fl, "--weights", weights, "--output-layer", "quantized")  # its output layer writes codes too
    rep, err = _quantize(qi, "--weights", weights, "--io", "quantized")
    assert rep["quantized_io"] == {"inputs": 1, "outputs": 1, "kept_float": 0}, rep.get("quantized_io")
    assert "stays float" not in err
    (ins, outs), (fins, fouts) = _io(qi), _io(fl)
    assert fins[0][1] == "f32" and fouts[0][1] == "f32"
    # the names stay; the dtypes become the activations'; scale and zero point are shown
    assert ins[0][0] == fins[0][0] and outs[0][0] == fouts[0][0]
    assert ins[0][1] == "u8" and outs[0][1] == "u8" and ins[0][2] is not None and outs[0][2] is not None
    x = _images(N)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    np.save(tmp_path / "x_codes.npy", x)
    for m, o in ((fl, "yf.npy"), (qi, "yq.npy")):
        p = run_fgq("run", m, "--input", tmp_path / "x.npy", "-o", tmp_path / o)
        assert p.returncode == 0, p.stderr
    yf, yq = np.load(tmp_path / "yf.npy"), np.load(tmp_path / "yq.npy")
    assert yf.dtype == np.float32 and yq.dtype == np.uint8 and yq.shape == yf.shape
    s, z = np.float32(outs[0][2]), outs[0][3]
    assert np.array_equal((yq.astype(np.int32) - z).astype(np.float32) * s, yf)
    # --raw: the codes themselves (scale 1, zero point 0 for MNIST's 0..255 pixels)
    assert ins[0][2] == 1.0 and ins[0][3] == 0, ins
    p = run_fgq("run", qi, "--input", tmp_path / "x_codes.npy", "--raw", "-o", tmp_path / "yr.npy")
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(tmp_path / "yr.npy"), yq)
    # eval converts at both ends: the same top-1, and the same comparison with the float model
    ev = []
    for m in (fl, qi):
        p = run_fgq("eval", m, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1400", "--json",
                    timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        ev.append(json.loads(p.stdout))
    assert ev[0]["top1"] == ev[1]["top1"] and ev[0]["top5"] == ev[1]["top5"]
    cmp = []
    for m in (fl, qi):
        p = run_fgq("eval", MNIST, m, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1200", "--json",
                    timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        cmp.append(json.loads(p.stdout))
    for k in ("agreement", "output_sqnr_db"):
        assert cmp[0][k] == cmp[1][k], (k, cmp[0][k], cmp[1][k])
    # per layer: the same tensors; the output's is the u8 one now (its SQNR from the codes, where the
    # float-I/O model's came through its DEQUANTIZE: equal to float rounding)
    assert [lay["name"] for lay in cmp[0]["layers"]] == [lay["name"] for lay in cmp[1]["layers"]]
    for a, b in zip(cmp[0]["layers"], cmp[1]["layers"]):
        assert b["sqnr_db"] == pytest.approx(a["sqnr_db"], rel=1e-6), (a, b)
    assert cmp[0]["quant"]["top1"] == cmp[1]["quant"]["top1"]
    # the firmware header says how to read the codes
    p = run_fgq("export", qi, "--c", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    h = (tmp_path / "c" / "model.h").read_text()
    assert "#define MODEL_INPUT_0_SCALE 1.000000000e+00f" in h and "#define MODEL_INPUT_0_ZERO_POINT 0" in h
    assert re.search(r"#define MODEL_OUTPUT_0_ZERO_POINT %d\b" % z, h)


def test_float_output_stays_float(tmp_path):
    out = tmp_path / "m.fgq"
    rep, err = _quantize(out, "--weights", "s8", "--io", "quantized", "--keep-float", "Times212")
    assert rep["quantized_io"] == {"inputs": 1, "outputs": 0, "kept_float": 1}
    assert re.search(r"--io quantized: output 'Plus214_Output_0' stays float: node '\S+' \(\S+\) makes it as float",
                     err), err
    (ins, outs) = _io(out)
    assert ins[0][1] == "u8" and outs[0][1] == "f32"
    x = _images(4).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = run_fgq("run", out, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert p.returncode == 0, p.stderr
    assert np.load(tmp_path / "y.npy").dtype == np.float32


def test_input_read_by_a_float_node_stays_float(tmp_path):
    """The first convolution kept float reads the input as float: it stays f32, said on stderr, and
    the QUANTIZE the quantizer made for it up front (--io quantized quantizes every float input
    first, so that layout ops after it move codes) goes, unread."""
    out = tmp_path / "m.fgq"
    rep, err = _quantize(out, "--weights", "s8", "--io", "quantized", "--keep-float", "Convolution28")
    assert rep["quantized_io"] == {"inputs": 0, "outputs": 1, "kept_float": 1}
    assert "--io quantized: input 'Input3' stays float: node 'Convolution28' (Conv) reads it as float" in err, err
    (ins, outs) = _io(out)
    assert ins[0][1] == "f32" and outs[0][1] == "u8"
    p = run_fgq("inspect", out, "--json")
    assert p.returncode == 0, p.stderr
    assert not any(n["name"].startswith("Input3") for n in json.loads(p.stdout)["nodes"]), p.stdout


@pytest.mark.parametrize("args, msg", [
    (["--io", "bogus"], "--io 'bogus': expected float or quantized"),
    (["--io", "quantized", "--acts", "u4"], "--io quantized needs u8 or s8 activations"),
    (["--io", "quantized", "--acts", "dynamic"], "--io quantized needs u8 or s8 activations"),
    (["--output-layer", "bogus"], "--output-layer 'bogus': expected float or quantized"),
    (["--output-layer", "float", "--io", "quantized"], "--output-layer float hands back float; --io quantized"),
    (["--output-layer", "quantized", "--acts", "dynamic"], "under --acts dynamic every weight layer hands back float"),
])
def test_bad_values_exit_2(tmp_path, args, msg):
    out = tmp_path / "m.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:20", "-o", out, "--weights", "s8", *args,
                timeout=TIMEOUT)
    assert p.returncode == 2 and msg in p.stderr, (p.returncode, p.stderr)
    assert not out.exists()


def test_two_outputs_one_read_on_by_a_float_node(tmp_path):
    """Gemm -> y1 (an output, also read by a float Softmax) and Softmax -> y2 (an output): y1
    becomes codes and keeps its name though the float Softmax still reads its float twin; y2 stays
    float (said on stderr). `fgq eval` (which scores output 0 and runs both) and `fgq run` agree with
    the float-I/O model."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array((rng.standard_normal((4, 8)) / 3).astype(np.float32), "w")
    b = numpy_helper.from_array((0.1 * rng.standard_normal(4)).astype(np.float32), "b")
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y1"], name="fc", transB=1),
             helper.make_node("Softmax", ["y1"], ["y2"], name="sm", axis=1)]
    g = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [1, 4]),
                           helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1, 4])], [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = tmp_path / "two.onnx"
    onnx.save(m, str(path))
    x = rng.standard_normal((64, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "labels.npy", rng.integers(0, 4, 64).astype(np.int64))
    models = {}
    for io in ("float", "quantized"):
        out = tmp_path / f"{io}.fgq"
        p = run_fgq("quantize", path, "--calib", tmp_path / "x.npy", "--weights", "s8", "--io", io, "-o", out,
                    "--output-layer", "quantized", timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        models[io] = (out, p.stderr)
    assert "--io quantized: output 'y2' stays float" in models["quantized"][1], models["quantized"][1]
    (ins, outs) = _io(models["quantized"][0])
    assert [(o[0], o[1]) for o in outs] == [("y1", "u8"), ("y2", "f32")] and ins[0][1] == "u8", (ins, outs)
    res = {}
    for io, (mp, _) in models.items():
        p = run_fgq("run", mp, "--input", tmp_path / "x.npy", "-o", tmp_path / f"{io}1.npy", "-o",
                    tmp_path / f"{io}2.npy")
        assert p.returncode == 0, p.stderr
        e = run_fgq("eval", mp, "--data", tmp_path / "x.npy", "--labels", tmp_path / "labels.npy", "--threads", "2",
                    "--json")
        assert e.returncode == 0, e.stderr
        res[io] = (np.load(tmp_path / f"{io}1.npy"), np.load(tmp_path / f"{io}2.npy"), json.loads(e.stdout))
    f1, f2, fe = res["float"]
    q1, q2, qe = res["quantized"]
    s, z = np.float32(outs[0][2]), outs[0][3]
    assert np.array_equal((q1.astype(np.int32) - z).astype(np.float32) * s, f1)
    assert np.array_equal(q2, f2)
    assert (qe["top1"], qe["top5"]) == (fe["top1"], fe["top5"])


def _fnv1a32(b):
    h = 0x811C9DC5
    for c in b:
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return h


@pytest.mark.parametrize("scale, zero", [(1.0, -2**31), (0.0, 0), (float("nan"), 0), (1.0, 300)])
def test_bad_input_qparams_in_a_file_are_not_trusted(tmp_path, scale, zero):
    """A file whose quantized input carries a zero point outside u8 or a scale that is not finite
    and >= FLT_MIN (the runtime loads it: activation qparams are the tools' business) is not fed as
    a quantized input: the tools pass data through as codes, no undefined arithmetic (the sanitized
    run checks that) and no crash."""
    import struct
    good = tmp_path / "q.fgq"
    _quantize(good, "--weights", "s8", "--io", "quantized")
    b = bytearray(good.read_bytes())
    # runtime/fgq_format.h, version 2: n_tensors at 24, tensors_off at 40 of the header; 56-byte
    # tensor records (fgq_disk_tensor): kind a u8 at 7, q_n_scales an i32 at 12, q_off a u64 at 40
    assert struct.unpack_from("<I", b, 8) == (2,)
    (n_tensors,) = struct.unpack_from("<I", b, 24)
    (toff,) = struct.unpack_from("<I", b, 40)
    done = False
    for t in range(n_tensors):
        r = toff + 56 * t
        kind = b[r + 7]
        (nq,) = struct.unpack_from("<i", b, r + 12)
        (q_off,) = struct.unpack_from("<Q", b, r + 40)
        if kind == 1 and nq == 1:  # the graph input
            struct.pack_into("<f", b, q_off, scale)
            struct.pack_into("<i", b, q_off + 4, zero)
            done = True
    assert done
    struct.pack_into("<I", b, 12, _fnv1a32(bytes(b[128:])))
    bad = tmp_path / "bad.fgq"
    bad.write_bytes(bytes(b))
    x = _images(2)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    p = run_fgq("run", bad, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert p.returncode == 0 and "runtime error" not in p.stderr, (p.returncode, p.stderr)
    q = run_fgq("inspect", bad)
    assert q.returncode == 0 and "input  Input3 u8 [1x1x28x28]\n" in q.stdout, q.stdout
    e = run_fgq("eval", bad, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1010")
    assert e.returncode == 2 and "float32" in e.stderr and "runtime error" not in e.stderr, e.stderr


def test_output_layer_float_by_default(tmp_path):
    """With float I/O the last layer (mnist-8's Gemm, Plus214) hands back float from its int32
    accumulator: QGemmDyn with its input's scale as a constant, no DEQUANTIZE. Oracle: the same
    model with codes out (--io quantized, the same calibration and weights): where a code is not
    clipped the float output lies within half an output step of the code's value; the recipe says
    how it was made; `--output-layer quantized` brings the DEQUANTIZE back."""
    fl, qi, fq = tmp_path / "float.fgq", tmp_path / "codes.fgq", tmp_path / "float_codes.fgq"
    _quantize(fl, "--weights", "s8")
    _quantize(qi, "--weights", "s8", "--io", "quantized")
    _quantize(fq, "--weights", "s8", "--output-layer", "quantized")
    ops = {}
    for m in (fl, fq):
        p = run_fgq("inspect", m, "--json")
        assert p.returncode == 0, p.stderr
        ops[m] = [(n["name"], n["op"]) for n in json.loads(p.stdout)["nodes"]]
    kinds = {m: [o for _, o in ops[m]] for m in ops}
    assert kinds[fl].count("Dequantize") == 0 and kinds[fl][-1] == "QGemmDyn", kinds[fl]
    assert kinds[fq].count("Dequantize") == 1 and "QGemmDyn" not in kinds[fq], kinds[fq]
    (_, outs) = _io(qi)
    s, z = float(outs[0][2]), outs[0][3]
    x = _images(200).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for m, o in ((fl, "yf.npy"), (qi, "yq.npy")):
        p = run_fgq("run", m, "--input", tmp_path / "x.npy", "-o", tmp_path / o)
        assert p.returncode == 0, p.stderr
    yf, yq = np.load(tmp_path / "yf.npy"), np.load(tmp_path / "yq.npy")
    assert yf.dtype == np.float32 and yq.dtype == np.uint8
    free = (yq > 0) & (yq < 255)
    assert free.mean() > 0.9
    d = np.abs(yf.astype(np.float64) - (yq.astype(np.float64) - z) * s)[free]
    # half an output step, plus the codes model's int32 bias rounding and its requantization's first
    # rounding (together at most 1.5 s_x * s_w, the accumulator's step: about 1e-3 of s here, so the
    # 1 % slack covers them), plus float rounding
    assert d.max() <= 0.5 * s * 1.01 + 1e-5 * np.abs(yf[free]).max(), d.max() / s
    assert d.max() > 0.05 * s  # not the codes again
    p = run_fgq("inspect", fq, "--json")
    assert p.returncode == 0 and "--output-layer quantized" in p.stdout, p.stdout[:2000]
