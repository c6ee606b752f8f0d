"""Equal, Less, Greater, Where, Expand and Cast at run time (issue 10): an attention block whose
mask comes from an input, Expand of an input to a batch, Cast of an integer input to float.

Oracle: ONNX Runtime (CPU) on the same model and inputs. Float: per output
max|fgq - ort| <= 1e-4 * max(1, max|ort|); the bool / integer outputs exactly. `fgq convert` gives
`fgq run`'s outputs on the ONNX file, and the float .fgq exported back to ONNX gives ORT's outputs on
the original. The one-input model (its mask computed from the input: padding tokens are those whose
first feature is negative) also goes through `fgq quantize` (s8 weights, u8 activations; the mask
ops and the -inf scores stay float between Dequantize / Quantize; Q·Kᵀ and P·V run as integer
MATMUL_INT): its output's SQNR against ORT's float run above 25 dB (a sanity bound), and ORT on its
QDQ export agrees with fgq's run (above 25 dB). The two-input model is converted and run here;
tests/python/test_quantize_multi_input.py quantizes models with several inputs.
"""
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from conftest import run_fgq

T, D = 6, 16


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def attention(rng, mask_input):
    """x [1, T, D] expanded to a batch of 2, one attention head; the scores of padded keys are -inf
    (Where(Equal(mask, 0), -inf, scores)). mask_input: the mask is a second input, int64 [1, T],
    1 = token, and the padded query rows are zeroed by Cast(mask, float); else padding is computed
    from x with Less, Cast to int64 and Equal."""
    inits = [init(n, (rng.standard_normal((D, D)) / 4).astype(np.float32)) for n in ("wq", "wk", "wv")]
    inits += [init("sc", np.array(1 / np.sqrt(D), np.float32)), init("ninf", np.array(-np.inf, np.float32)),
              init("zero", np.array(0, np.int64)), init("one", np.array(1, np.int64)),
              init("ax1", np.array([1], np.int64)), init("ax2", np.array([2], np.int64)),
              init("batch", np.array([2, 1, 1], np.int64)), init("thr", np.array(0.0, np.float32)),
              init("st", np.array([0], np.int64)), init("en", np.array([1], np.int64))]
    n = [helper.make_node("Expand", ["x", "batch"], ["xb"]),
         helper.make_node("MatMul", ["xb", "wq"], ["q"]), helper.make_node("MatMul", ["xb", "wk"], ["k"]),
         helper.make_node("MatMul", ["xb", "wv"], ["v"]), helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
         helper.make_node("MatMul", ["q", "kt"], ["s0"]), helper.make_node("Mul", ["s0", "sc"], ["s"])]
    if mask_input:
        n += [helper.make_node("Unsqueeze", ["mask", "ax1"], ["m3"]),                      # [1, 1, T]
              helper.make_node("Equal", ["m3", "zero"], ["padded"]),
              helper.make_node("Where", ["padded", "ninf", "s"], ["sm"]),
              helper.make_node("Greater", ["mask", "zero"], ["keep"]),                     # [1, T] bool
              helper.make_node("Cast", ["keep"], ["keepi"], to=TensorProto.INT32),
              helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
              helper.make_node("Unsqueeze", ["maskf", "ax2"], ["rowf"])]                   # [1, T, 1]
    else:
        n += [helper.make_node("Slice", ["x", "st", "en", "ax2"], ["x0"]),
              helper.make_node("Squeeze", ["x0", "ax2"], ["x1"]),                          # [1, T]
              helper.make_node("Less", ["x1", "thr"], ["pad"]),
              helper.make_node("Cast", ["pad"], ["padi"], to=TensorProto.INT64),
              helper.make_node("Unsqueeze", ["padi", "ax1"], ["m3"]),
              helper.make_node("Equal", ["m3", "one"], ["padded"]),
              helper.make_node("Where", ["padded", "ninf", "s"], ["sm"])]
    n += [helper.make_node("Softmax", ["sm"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["o"])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if mask_input:
        n += [helper.make_node("Mul", ["o", "rowf"], ["y"])]
        outs += [helper.make_tensor_value_info("padded", TensorProto.BOOL, None),
                 helper.make_tensor_value_info("keepi", TensorProto.INT32, None)]
    else:
        n[-1].output[0] = "y"
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, T, D])]
    if mask_input:
        ins.append(helper.make_tensor_value_info("mask", TensorProto.INT64, [1, T]))
    m = helper.make_model(helper.make_graph(n, "attn", ins, outs, inits), opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def ort_run(path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def fgq_run(tmp_path, model, inputs, n_out, tag):
    args = ["run", model]
    for f in inputs:
        args += ["--input", f]
    outs = [tmp_path / f"{tag}{k}.npy" for k in range(n_out)]
    for o in outs:
        args += ["-o", o]
    p = run_fgq(*args)
    assert p.returncode == 0, p.stderr
    return [np.load(o) for o in outs]


def ok(*args):
    p = run_fgq(*args)
    assert p.returncode == 0, p.stderr
    return p


def close(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        assert float(np.max(np.abs(got - want))) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))


def sqnr(ref, y):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum((y - ref) ** 2.0), 1e-30))


def test_runtime_mask_input_matches_ort(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "attn2.onnx"
    onnx.save(attention(rng, mask_input=True), path)
    x = rng.standard_normal((1, T, D)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 0, 0]], np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "mask.npy", mask)
    ins = [tmp_path / "x.npy", tmp_path / "mask.npy"]
    want = ort_run(path, {"x": x, "mask": mask})
    assert not np.all(want[1]) and np.any(want[1])  # the mask masks something
    got = fgq_run(tmp_path, path, ins, 3, "run")
    for g, w in zip(got, want):
        close(g, w)
    assert "unsupported ops: none" in ok("inspect", path).stdout

    fgqm = tmp_path / "attn2.fgq"
    ok("convert", path, "-o", fgqm)
    for g, c in zip(got, fgq_run(tmp_path, fgqm, ins, 3, "conv")):
        np.testing.assert_array_equal(c, g)
    back = tmp_path / "attn2_f32.onnx"
    ok("export", fgqm, "--onnx", back)
    for e, w in zip(ort_run(back, {"x": x, "mask": mask}), want):
        close(e, w)


def test_mask_from_input_quantizes_and_exports(tmp_path):
    rng = np.random.default_rng(12)
    path = tmp_path / "attn1.onnx"
    onnx.save(attention(rng, mask_input=False), path)
    x = rng.standard_normal((1, T, D)).astype(np.float32)
    x[0, :, 0] = [1.0, 0.5, -1.0, 2.0, -0.5, 1.5]  # tokens 2 and 4 are padding
    np.save(tmp_path / "x.npy", x)
    want = ort_run(path, {"x": x})[0]
    (got,) = fgq_run(tmp_path, path, [tmp_path / "x.npy"], 1, "f")
    close(got, want)

    calib = tmp_path / "calib.npy"
    np.save(calib, rng.standard_normal((16, T, D)).astype(np.float32))
    q = tmp_path / "attn1_s8.fgq"
    ok("quantize", path, "--calib", calib, "--weights", "s8", "--solver", "rtn", "-o", q)
    (yq,) = fgq_run(tmp_path, q, [tmp_path / "x.npy"], 1, "q")
    assert sqnr(want, yq) > 25.0, sqnr(want, yq)
    qdq = tmp_path / "attn1_qdq.onnx"
    ok("export", q, "--onnx", qdq)
    assert "unsupported ops: none" in ok("inspect", qdq).stdout
    y_ort = ort_run(qdq, {"x": x})[0]
    assert sqnr(yq, y_ort) > 25.0, sqnr(yq, y_ort)
