"""`fgq quantize` keeps Sigmoid, HardSigmoid, HardSwish, Tanh and Swish (Mul(x, Sigmoid(x))) on the
integer path as QLUT tables (docs/quantized-ops.md "QLUT"), end to end through the CLI.

The model (built here with onnx.helper, random weights): Conv -> HardSwish -> Conv -> Swish
(Sigmoid + Mul) -> Conv -> HardSigmoid(alpha 0.25, beta 0.4) -> Tanh -> Sigmoid ->
GlobalAveragePool -> Flatten -> Gemm, 64 calibration and 64 test samples of N(0, 1) noise.

Oracles:
- `fgq inspect --json` of the quantized model: no float activation op (nor Mul) is left, one QLut
  per function (the Swish pair one node), and the only float boundaries are the input's Quantize
  and the output's Dequantize.
- ONNX Runtime on the float model: the quantized output's SQNR against it. The same model
  quantized with those six nodes kept float (`--keep-float`, today's DEQUANTIZE -> float op ->
  QUANTIZE path) is the reference: both quantize the same tensors at the same calibrated scales,
  and a table entry is the float op's output quantized (half a step at most, as the float path's
  QUANTIZE), so the table model must be as close as it within 1 dB (measured, u8 and s8 alike:
  49.34 dB against 49.05 dB), and above 40 dB either way.
- ONNX Runtime on `fgq export --onnx` (the tables as DequantizeLinear -> float op ->
  QuantizeLinear), optimized and not: every output within 2 output steps s_y of `fgq run` and
  >= 90 % of them bit-equal (measured, u8 and s8, ORT 1.23.2 optimized or not: 316 of the 320
  logits equal, the other 4 one step apart): ORT evaluates f in float32 and rounds ties to even where the table holds
  f in double rounded away from zero, one step at most per layer where an entry lies near a half.
- Escape hatches: `--acts dynamic` makes no QLut; `--keep-float` on HardSwish keeps it float; on
  the Swish's Mul leaves the Sigmoid a table of its own and the Mul float.
"""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_fgq

ACT_NODES = ["hswish", "sig", "swish_mul", "hsig", "tanh", "sig2"]
FLOAT_ACT_OPS = {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Mul"}


def fgq_ok(*args, timeout=300):
    p = run_fgq(*args, timeout=timeout)
    assert p.returncode == 0, f"fgq {' '.join(map(str, args))}: rc={p.returncode}\n{p.stderr}"
    return p


def build_model(path):
    rng = np.random.default_rng(5)

    def init(name, a):
        return numpy_helper.from_array(np.asarray(a, np.float32), name)

    inits = [init("w1", 2 * rng.standard_normal((8, 3, 3, 3)) / np.sqrt(27)), init("b1", 0.1 * rng.standard_normal(8)),
             init("w2", 2 * rng.standard_normal((8, 8, 3, 3)) / np.sqrt(72)), init("b2", 0.1 * rng.standard_normal(8)),
             init("w3", 2 * rng.standard_normal((8, 8, 1, 1)) / np.sqrt(8)), init("b3", 0.1 * rng.standard_normal(8)),
             init("fc_w", rng.standard_normal((5, 8)) / np.sqrt(8)), init("fc_b", np.zeros(5))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1] * 4),
             helper.make_node("HardSwish", ["c1"], ["h1"], name="hswish"),
             helper.make_node("Conv", ["h1", "w2", "b2"], ["c2"], name="conv2", pads=[1] * 4),
             helper.make_node("Sigmoid", ["c2"], ["s2"], name="sig"),
             helper.make_node("Mul", ["c2", "s2"], ["m2"], name="swish_mul"),
             helper.make_node("Conv", ["m2", "w3", "b3"], ["c3"], name="conv3"),
             helper.make_node("HardSigmoid", ["c3"], ["g3"], name="hsig", alpha=0.25, beta=0.4),
             helper.make_node("Tanh", ["g3"], ["t3"], name="tanh"),
             helper.make_node("Sigmoid", ["t3"], ["s3"], name="sig2"),
             helper.make_node("GlobalAveragePool", ["s3"], ["p"], name="gap"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "lut", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("lut")
    rng = np.random.default_rng(6)
    np.save(d / "calib.npy", rng.standard_normal((64, 3, 8, 8)).astype(np.float32))
    np.save(d / "test.npy", rng.standard_normal((64, 3, 8, 8)).astype(np.float32))
    return d, build_model(d / "m.onnx")


def quantize(d, model, name, *flags):
    out = d / name
    fgq_ok("quantize", model, "--calib", d / "calib.npy", "-o", out, "--weights", "s8", *flags)
    return out


def nodes_of(fgq_path):
    return json.loads(fgq_ok("inspect", fgq_path, "--json").stdout)["nodes"]


def run_fgq_model(d, path):
    y = d / (path.name + ".y.npy")
    fgq_ok("run", path, "--input", d / "test.npy", "-o", y)
    return np.load(y).reshape(-1, 5)


def float_reference(d, model):
    x = np.load(d / "test.npy")
    s = ort.InferenceSession(str(model))
    return np.concatenate([s.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])


def sqnr_db(ref, y):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((y.astype(np.float64) - ref) ** 2))


@pytest.mark.parametrize("acts", ["u8", "s8"])
def test_activations_stay_integer_and_match_float(work, acts):
    d, model = work
    q = quantize(d, model, f"m_{acts}.fgq", "--acts", acts)
    nodes = nodes_of(q)
    ops = [n["op"] for n in nodes]
    assert not FLOAT_ACT_OPS & set(ops), ops
    # a QUANTIZE of the input; no DEQUANTIZE: the output layer hands back float (--output-layer float)
    assert ops.count("Quantize") == 1 and ops.count("Dequantize") == 0 and ops[-1] in ("QGemmDyn", "QConvDyn"), ops
    luts = {n["name"]: n["function"] for n in nodes if n["op"] == "QLut"}
    assert luts == {"hswish": "HardSwish", "sig": "Swish", "hsig": "HardSigmoid", "tanh": "Tanh",
                    "sig2": "Sigmoid"}, luts

    kept = quantize(d, model, f"m_{acts}_float_acts.fgq", "--acts", acts,
                    *[a for n in ACT_NODES for a in ("--keep-float", n)])
    assert "QLut" not in [n["op"] for n in nodes_of(kept)]
    ref = float_reference(d, model)
    s_lut, s_float = sqnr_db(ref, run_fgq_model(d, q)), sqnr_db(ref, run_fgq_model(d, kept))
    print(f"{acts}: output SQNR against the float model: tables {s_lut:.2f} dB, float activations {s_float:.2f} dB")
    assert s_lut > 40.0 and s_float > 40.0
    assert s_lut >= s_float - 1.0


def ort_run(path, x, optimize):
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(path), so)
    return np.concatenate([s.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("acts", ["u8", "s8"])
def test_export_agrees_with_onnxruntime(work, acts):
    d, model = work
    # codes out: equal outputs and the output's step are the measure here
    q = quantize(d, model, f"m_exp_{acts}.fgq", "--acts", acts, "--output-layer", "quantized")
    qdq = d / f"m_{acts}.qdq.onnx"
    fgq_ok("export", q, "--onnx", qdq)
    m = onnx.load(str(qdq))
    onnx.checker.check_model(m, full_check=True)
    ops = [n.op_type for n in m.graph.node]
    for op in ("HardSwish", "HardSigmoid", "Tanh", "Mul"):
        assert op in ops, ops
    hs = next(n for n in m.graph.node if n.op_type == "HardSigmoid")
    attrs = {a.name: a.f for a in hs.attribute}
    assert attrs == pytest.approx({"alpha": 0.25, "beta": 0.4}), attrs
    last = next(n for n in m.graph.node if n.output[0] == "y")
    assert last.op_type == "DequantizeLinear"
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    s_y = float(inits[last.input[1]])
    y = run_fgq_model(d, q)
    x = np.load(d / "test.npy")
    for optimize in (False, True):
        r = ort_run(qdq, x, optimize).reshape(y.shape)
        steps = np.abs(r - y) / s_y
        equal = float(np.mean(r == y))
        print(f"{acts} optimize={optimize}: {equal:.4f} of outputs equal, worst {steps.max():.2f} steps")
        assert steps.max() <= 2.0 + 1e-3, steps.max()
        assert equal >= 0.90, equal


def test_escape_hatches(work):
    d, model = work
    dyn = quantize(d, model, "m_dyn.fgq", "--acts", "dynamic")
    ops = [n["op"] for n in nodes_of(dyn)]
    assert "QLut" not in ops and {"Sigmoid", "HardSwish", "Tanh", "HardSigmoid", "Mul"} <= set(ops), ops

    kept = quantize(d, model, "m_keep.fgq", "--keep-float", "hswish", "--keep-float", "swish_mul")
    by_name = {n["name"]: n for n in nodes_of(kept)}
    assert by_name["hswish"]["op"] == "HardSwish"
    assert by_name["sig"]["op"] == "QLut" and by_name["sig"]["function"] == "Sigmoid"
    assert by_name["swish_mul"]["op"] == "Mul"
    assert by_name["hsig"]["function"] == "HardSigmoid" and by_name["tanh"]["function"] == "Tanh"


def test_swish_pattern_only_where_it_fits(tmp_path):
    """Sigmoid -> one table only when its output feeds nothing but Mul(x, Sigmoid(x)): a Sigmoid read
    twice, and a gate Mul(y, Sigmoid(x)) of another tensor (a squeeze-excitation scale), keep their
    Sigmoid a table of its own and the Mul a Mul of two activations (QMUL, not a Swish table); the float model is still matched (ORT, > 30 dB; the pattern is refused, not mis-fused)."""
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array((rng.standard_normal((4, 4, 1, 1)) / 2).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sig_twice"),
             helper.make_node("Mul", ["c", "s"], ["m"], name="mul_swish"),
             helper.make_node("Add", ["m", "s"], ["a"], name="add"),  # the second reader of s
             helper.make_node("Sigmoid", ["x"], ["g"], name="sig_gate"),
             helper.make_node("Mul", ["a", "g"], ["y"], name="mul_gate")]
    g = helper.make_graph(nodes, "gate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    model = tmp_path / "gate.onnx"
    onnx.save(m, model)
    x = rng.standard_normal((32, 4, 5, 5)).astype(np.float32)
    np.save(tmp_path / "calib.npy", x)
    q = tmp_path / "gate.fgq"
    fgq_ok("quantize", model, "--calib", tmp_path / "calib.npy", "-o", q, "--weights", "s8")
    by_name = {n["name"]: n for n in nodes_of(q)}
    assert by_name["sig_twice"]["function"] == "Sigmoid" and by_name["sig_gate"]["function"] == "Sigmoid"
    assert by_name["mul_swish"]["op"] == "QMul" and by_name["mul_gate"]["op"] == "QMul"
    fgq_ok("run", q, "--input", tmp_path / "calib.npy", "-o", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy").reshape(32, 4, 5, 5)
    s = ort.InferenceSession(str(model))
    ref = np.concatenate([s.run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    assert sqnr_db(ref, y) > 30.0, sqnr_db(ref, y)


def test_export_refuses_a_table_its_function_does_not_make(tmp_path):
    """The table is what QLUT computes; the QDQ export writes the function the node names. A table
    changed after quantizing (one entry, file resealed so it loads) no longer is that function of its
    parameters: export exits 2 naming the node, writes nothing, while the model itself still runs."""
    from test_fgq_files import FgqFile
    g = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"], name="sig")], "s",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "s.onnx")
    np.save(tmp_path / "c.npy", np.random.default_rng(5).standard_normal((16, 16)).astype(np.float32) * 4)
    q = tmp_path / "s.fgq"
    fgq_ok("quantize", tmp_path / "s.onnx", "--calib", tmp_path / "c.npy", "--weights", "s8", "-o", q)
    fgq_ok("export", q, "--onnx", tmp_path / "ok.onnx")  # the untouched table exports
    f = FgqFile(q.read_bytes())
    tables = [t for t in range(f.hdr()["n_tensors"]) if f.tensor(t)["data_size"] == 256]
    assert len(tables) == 1, tables
    off = f.tensor(tables[0])["data_off"]
    f.buf[off + 100] = (f.buf[off + 100] + 7) % 256
    bad = tmp_path / "bad.fgq"
    bad.write_bytes(bytes(f.seal().buf))
    np.save(tmp_path / "x.npy", np.zeros((1, 16), np.float32))
    fgq_ok("run", bad, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    out = tmp_path / "bad.onnx"
    p = run_fgq("export", bad, "--onnx", out)
    assert p.returncode == 2 and "'sig'" in p.stderr and "QLUT table" in p.stderr, p.stderr
    assert not out.exists()


def test_squeeze_excitation_mul_is_integer(tmp_path):
    """A squeeze-excitation block (MobileNetV3 / EfficientNet): x · HardSigmoid(FC(ReLU(FC(GAP(x))))), the
    gate [1, C, 1, 1] broadcast over x. The Mul of the two activations is QMUL: no float op and one
    Quantize / Dequantize (input, output) in the .fgq; the output within a sanity bound of ONNX Runtime's
    float run (8-bit activations, random weights: above 30 dB), and ONNX Runtime on the QDQ export
    (DQ → Mul → Q) within one output step of fgq's integer run on all but a few outputs."""
    rng = np.random.default_rng(7)

    def init(name, a):
        return numpy_helper.from_array(np.asarray(a, np.float32), name)

    inits = [init("w0", rng.standard_normal((8, 3, 3, 3)) / np.sqrt(27)), init("b0", 0.1 * rng.standard_normal(8)),
             init("w1", rng.standard_normal((4, 8, 1, 1)) / np.sqrt(8)), init("b1", 0.1 * rng.standard_normal(4)),
             init("w2", rng.standard_normal((8, 4, 1, 1)) / np.sqrt(4)), init("b2", 0.1 * rng.standard_normal(8)),
             init("w3", rng.standard_normal((6, 8, 1, 1)) / np.sqrt(8)), init("b3", np.zeros(6))]
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], name="conv0", pads=[1] * 4),
             helper.make_node("Relu", ["c0"], ["a"], name="relu0"),
             helper.make_node("GlobalAveragePool", ["a"], ["sq"], name="squeeze"),
             helper.make_node("Conv", ["sq", "w1", "b1"], ["e1"], name="fc1"),
             helper.make_node("Relu", ["e1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["e2"], name="fc2"),
             helper.make_node("HardSigmoid", ["e2"], ["gate"], name="gate", alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["a", "gate"], ["se"], name="excite"),
             helper.make_node("Conv", ["se", "w3", "b3"], ["y"], name="proj")]
    g = helper.make_graph(nodes, "se", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    path = tmp_path / "se.onnx"
    onnx.save(m, path)
    np.save(tmp_path / "calib.npy", rng.standard_normal((32, 3, 8, 8)).astype(np.float32))
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    q = tmp_path / "se.fgq"
    # codes out: the output's step is the unit of the comparison below
    fgq_ok("quantize", path, "--calib", tmp_path / "calib.npy", "--weights", "s8", "--solver", "rtn", "-o", q,
           "--output-layer", "quantized")
    ops = {n["name"]: n["op"] for n in nodes_of(q)}
    assert ops.get("excite") == "QMul", ops
    assert "Mul" not in ops.values() and list(ops.values()).count("Dequantize") == 1, ops
    fgq_ok("run", q, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    yq = np.load(tmp_path / "y.npy")
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert sqnr_db(want, yq) > 30.0, sqnr_db(want, yq)
    qdq = tmp_path / "se_qdq.onnx"
    fgq_ok("export", q, "--onnx", qdq)
    y_ort = ort_run(qdq, x, optimize=False)
    step = float(np.min(np.abs(np.diff(np.unique(yq)))))  # the output's quantization step
    off = np.abs(y_ort - yq) / step
    assert np.max(off) <= 2.01 and np.mean(off > 0.5) <= 0.05, (np.max(off), np.mean(off > 0.5))
