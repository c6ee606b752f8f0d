#!/usr/bin/env python3
"""ONNX backend node tests (Debian's libonnx-testdata) through `fgq run`.

For every node test whose single node is an op fgq claims, run fgq on each test data
set and compare with the expected outputs (oracle: ONNX's own test data). Inputs that
carry shapes or axes (int64: Reshape's shape, Squeeze/Unsqueeze axes) are bound as
initializers first, because fgq plans memory from static shapes. Likewise fgq quantizes
with constant scales and zero points: the scale and zero-point inputs of ONNX's quantized
ops (QPARAM_INPUTS: QuantizeLinear / DequantizeLinear inputs 1-2, MatMulInteger /
ConvInteger 2-3, QLinearMatMul / QLinearConv 1-2 and 4-7) are bound as initializers; the
data operands (x, w, A, B, bias) stay graph inputs fed at run time. Range's three scalars are bound
too: its output's length is their values, so fgq computes a Range at conversion (it plans static
shapes) and refuses one whose inputs are only known at run time.

A case passes when every float output matches to rtol 1e-4, atol 1e-5 and every integer
output (u8, s8, s32) matches exactly, with the expected dtype. A case fgq refuses
with exit code 2 and a message is "unsupported" (the message is the reason). Anything
else — wrong numbers, a crash, a different exit code — is a failure.

  scripts/conformance.py [--fgq build/fgq] [--update]   # --update rewrites docs/ops.md
                                                        # and README.md's op table
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

NODE_DIR = "/usr/share/libonnx-testdata/data/node"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The float ops fgq claims (README, DESIGN §5). Quantized ONNX ops join with the
# quantization issue. Gelu (opset 20) is newer than Debian's node tests (onnx 1.12):
# tests/python/test_zoo_ops.py checks it against ONNX Runtime instead.
CLAIMED = ["Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Clip", "LeakyRelu",
           "Sigmoid", "Tanh", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
           "BatchNormalization", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
           "Concat", "Softmax", "Constant", "Identity", "Dropout",
           "HardSigmoid", "HardSwish", "Erf", "Sqrt", "Abs", "Pow", "ReduceMean", "ReduceSum",
           "ReduceMax", "ReduceMin", "ReduceL2", "ReduceSumSquare", "LayerNormalization", "Slice",
           "Pad", "Split", "Resize", "Upsample", "Gather", "LSTM", "GRU", "ConvTranspose",
           "Equal", "Less", "Greater", "Where", "Expand", "Cast", "Not", "Mod", "Range", "ScatterND",
           "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger",
           "ConvInteger", "DynamicQuantizeLinear"]

# Inputs of ONNX's quantized ops that are scales or zero points: bound as initializers.
QPARAM_INPUTS = {"QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2), "MatMulInteger": (2, 3),
                 "ConvInteger": (2, 3), "QLinearMatMul": (1, 2, 4, 5, 6, 7),
                 "QLinearConv": (1, 2, 4, 5, 6, 7),
                 # not quantization parameters, but shapes again: Resize's roi / scales, Upsample's scales,
                 # Range's start / limit / delta (its length is their values: fgq folds it at conversion)
                 "Resize": (1, 2), "Upsample": (1,), "Range": (0, 1, 2)}

BEGIN, END = "<!-- op-table:begin -->", "<!-- op-table:end -->"


def node_cases(node_dir=NODE_DIR):
    """(op, case name, dir) for single-node tests of claimed ops, sorted."""
    out = []
    for d in sorted(os.listdir(node_dir)):
        if not d.startswith("test_") or d.endswith("_expanded"):
            continue
        path = os.path.join(node_dir, d)
        try:
            m = onnx.load(os.path.join(path, "model.onnx"))
        except Exception:
            continue
        if len(m.graph.node) == 1 and m.graph.node[0].op_type in CLAIMED and m.graph.node[0].domain in ("", "ai.onnx"):
            out.append((m.graph.node[0].op_type, d[len("test_"):], path))
    return out


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def run_case(fgq, path, tmp):
    """Returns (status, detail): status is 'pass', 'unsupported' or 'fail'."""
    m = onnx.load(os.path.join(path, "model.onnx"))
    sets = sorted(d for d in os.listdir(path) if d.startswith("test_data_set_"))
    for s in sets:
        sdir = os.path.join(path, s)
        feeds = []
        model = onnx.ModelProto()
        model.CopyFrom(m)
        kept_inputs = []
        node = m.graph.node[0]
        qparams = {node.input[k] for k in QPARAM_INPUTS.get(node.op_type, ()) if k < len(node.input)}
        for i, inp in enumerate(m.graph.input):
            pb = os.path.join(sdir, f"input_{i}.pb")
            if not os.path.exists(pb):
                return "unsupported", f"input {inp.name} is not a tensor in the test data"
            if not inp.type.HasField("tensor_type"):
                return "unsupported", f"input {inp.name} is a {inp.type.WhichOneof('value')}, not a tensor"
            arr = load_pb(pb)
            if arr.dtype == np.int64 or inp.name in qparams:  # shape / axes / scale / zero point: a constant
                model.graph.initializer.append(numpy_helper.from_array(arr, inp.name))
                continue
            kept_inputs.append(inp)
            feeds.append(pb)
        del model.graph.input[:]
        model.graph.input.extend(kept_inputs)
        mpath = os.path.join(tmp, "model.onnx")
        onnx.save(model, mpath)
        expected = [load_pb(os.path.join(sdir, f"output_{o}.pb")) for o in range(len(m.graph.output))]
        outs = [os.path.join(tmp, f"out{o}.npy") for o in range(len(expected))]
        args = [fgq, "run", mpath]
        for f in feeds:
            args += ["--input", f]
        for o in outs:
            args += ["-o", o]
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return "fail", "timed out"
        if p.returncode == 2:
            lines = [ln for ln in p.stderr.strip().splitlines() if not ln.startswith("fgq: note:")]
            msg = lines[0] if lines else "(no message)"
            return "unsupported", re.sub(r"^fgq run: ", "", msg).replace(tmp + "/", "")
        if p.returncode != 0:
            return "fail", f"exit {p.returncode}: {p.stderr.strip()[-300:]}"
        for o, e in zip(outs, expected):
            got = np.load(o)
            if got.shape != e.shape and got.size == e.size and got.size <= 1:
                got = got.reshape(e.shape)
            if got.shape != e.shape:
                return "fail", f"{s}: shape {got.shape} != expected {e.shape}"
            if e.dtype.kind in "iub":
                if got.dtype != e.dtype:
                    return "fail", f"{s}: dtype {got.dtype} != expected {e.dtype}"
                if not np.array_equal(got, e):
                    err = np.max(np.abs(got.astype(np.int64) - e.astype(np.int64)))
                    return "fail", f"{s}: integer output differs by up to {err} ({np.sum(got != e)} elements)"
                continue
            if not np.allclose(got, e.astype(np.float32), rtol=1e-4, atol=1e-5, equal_nan=True):
                err = np.max(np.abs(got - e))
                return "fail", f"{s}: max abs error {err:.3g}"
    return "pass", ""


def run_all(fgq):
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for op, name, path in node_cases():
            status, detail = run_case(fgq, path, tmp)
            results.append((op, name, status, detail))
    return results


def op_table(results):
    """The README's op table: per claimed op, cases passed / run, and what is not supported."""
    lines = ["| op | node tests passed / run | not supported (case: reason) |", "|---|---|---|"]
    for op in CLAIMED:
        rows = [r for r in results if r[0] == op]
        passed = sum(1 for r in rows if r[2] == "pass")
        notes = "; ".join(f"`{r[1]}`: {r[3]}" for r in rows if r[2] != "pass")
        lines.append(f"| {op} | {passed} / {len(rows)} | {notes.replace('|', '/') or '—'} |")
    return "\n".join(lines)


def replace_table(text, table):
    pre, rest = text.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    return f"{pre}{BEGIN}\n{table}\n{END}{post}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fgq", default=os.path.join(REPO, "build", "fgq"))
    ap.add_argument("--update", action="store_true", help="rewrite README.md's op table and docs/ops.md")
    a = ap.parse_args()
    results = run_all(a.fgq)
    for op, name, status, detail in results:
        print(f"{status:11s} {op:18s} {name} {detail}")
    fails = [r for r in results if r[2] == "fail"]
    table = op_table(results)
    print(f"\n{sum(r[2] == 'pass' for r in results)} passed, {len(fails)} failed, "
          f"{sum(r[2] == 'unsupported' for r in results)} unsupported")
    if a.update:
        readme = os.path.join(REPO, "README.md")
        with open(readme) as f:
            text = f.read()
        with open(readme, "w") as f:
            f.write(replace_table(text, table))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
