"""The one ONNX op table (tools/import/onnx_ops.h) against the other places that name ONNX ops.

Oracles: the source files' own lists (scripts/conformance.py's CLAIMED, the ONNX names in the runtime's
op table runtime/ops/op_table.c), and ONNX's QDQ operator set: fgq's own QDQ export is made of ops
fgq lowers (QuantizeLinear, DequantizeLinear, ...), so `fgq inspect` must flag none of them (it used to
flag QuantizeLinear while tools/lower/lower_onnxq.c lowered it). tests/test_onnx_ops.c checks the
table against shape inference and lowering in C.
"""
import re
import sys

import pytest
from conftest import REPO_ROOT, run_fgq

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import conformance  # noqa: E402

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"


def table_rows():
    """op -> (infer rule, lowering, flags) from the FGQ_ONNX_OPS X-macro."""
    text = (REPO_ROOT / "tools" / "import" / "onnx_ops.h").read_text()
    rows = {}
    for m in re.finditer(r"^\s*X\((\w+),\s*(\w+),\s*(\w+),\s*([^)]*)\)", text, re.M):
        assert m.group(1) not in rows, f"{m.group(1)}: two rows"
        rows[m.group(1)] = (m.group(2), m.group(3), m.group(4).strip())
    assert len(rows) > 50
    return rows


# Lowered ops without ONNX node tests in Debian's libonnx-testdata (onnx 1.12): test_zoo_ops.py checks them.
NEWER_THAN_NODE_TESTS = {"Gelu"}
# Fold-only ops in the README's table: Constant, and Range, whose node tests conformance.py runs with its
# three scalars bound as constants (as it binds Reshape's shape): the one form fgq supports it in.
CLAIMED_FOLD_ONLY = {"Constant", "Range"}


def test_claimed_ops_are_table_rows():
    rows = table_rows()
    for op in conformance.CLAIMED:
        assert op in rows, f"{op} is in conformance.py's CLAIMED but not in the op table"
        assert op in CLAIMED_FOLD_ONLY or "FGQ_ONNX_FOLD_ONLY" not in rows[op][2], f"{op} is claimed but folds only"
    # and every op that lowers is in the README's table (its node tests run), or said why not
    for op, (_, _, flags) in rows.items():
        if "FGQ_ONNX_FOLD_ONLY" not in flags:
            assert op in conformance.CLAIMED or op in NEWER_THAN_NODE_TESTS, f"{op} lowers but is not in CLAIMED"


def test_runtime_ops_named_after_onnx_ops_are_table_rows():
    rows = table_rows()
    text = (REPO_ROOT / "runtime" / "ops" / "op_table.c").read_text()
    names = re.findall(r'^\s*ROW\(\w+, "(\w+)"', text, re.M)
    assert len(names) > 30
    for name in names:
        if name != "Reduce":  # one runtime op for the six ReduceX rows
            assert name in rows, f"runtime op {name} has no import row"


@pytest.mark.parametrize("policy", ["s8", "s8:g8"])
def test_inspect_accepts_fgq_own_qdq_export(tmp_path, policy):
    q, qdq = tmp_path / "m.fgq", tmp_path / "m.qdq.onnx"
    for args in (("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:64", "-o", q, "--weights", policy,
                  "--solver", "rtn"), ("export", q, "--onnx", qdq)):
        p = run_fgq(*args)
        assert p.returncode == 0, p.stderr
    p = run_fgq("inspect", qdq)
    assert p.returncode == 0, p.stderr
    assert "QuantizeLinear" in p.stdout and "DequantizeLinear" in p.stdout
    assert "unsupported ops: none" in p.stdout, p.stdout
    assert "(unsupported)" not in p.stdout
