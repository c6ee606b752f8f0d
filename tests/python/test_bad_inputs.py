"""Bad input a new user gives fgq by mistake: each is refused with exit 2, a message naming the file and the
reason, no output file, and every input file left byte for byte as it was.

Oracle: the inputs are wrong on purpose (a layout the model does not take, an output path that is an input,
NaN weights, absurd declared dimensions, a file of another kind); the checks are the exit code, the message's
words, the absence of the output and the inputs' hashes before and after.
"""
import hashlib
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO_ROOT, run_fgq

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
PB = REPO_ROOT / "examples" / "mnist-8" / "test_data_set_0" / "input_0.pb"


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def refused(p, *words):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    for w in words:
        assert w in p.stderr, (w, p.stderr)


@pytest.fixture()
def work(tmp_path):
    shutil.copy(MNIST, tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32) * 255)
    return tmp_path


def test_run_checks_the_input_shape(work):
    """An NHWC array with the right element count used to run silently and give wrong outputs."""
    x = np.load(work / "x.npy")
    np.save(work / "nhwc.npy", x.transpose(0, 2, 3, 1))
    p = run_fgq("run", work / "m.onnx", "--input", work / "nhwc.npy", "-o", work / "y.npy")
    refused(p, "nhwc.npy", "1x28x28x1", "1x1x28x28", "channels last")
    assert not (work / "y.npy").exists()
    np.save(work / "flat.npy", x.reshape(-1))
    refused(run_fgq("run", work / "m.onnx", "--input", work / "flat.npy"), "flat.npy", "784")
    # what stays accepted: the shape, a stack along the first axis, one sample without its leading 1, a .pb
    np.save(work / "stack.npy", np.concatenate([x, x, x]))
    np.save(work / "one.npy", x[0])
    for good, n in (("x.npy", 1), ("stack.npy", 3), ("one.npy", 1)):
        p = run_fgq("run", work / "m.onnx", "--input", work / good, "-o", work / "y.npy")
        assert p.returncode == 0, p.stderr
        assert np.load(work / "y.npy").shape == (n, 10)
    p = run_fgq("run", work / "m.onnx", "--input", PB, "-o", work / "y.npy")
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("cmd", ["convert", "convert_link", "quantize", "quantize_calib", "run_input", "run_model",
                                 "export", "run_two_outputs"])
def test_output_path_equal_to_an_input_is_refused(work, cmd):
    m, x = work / "m.onnx", work / "x.npy"
    if cmd == "export":
        assert run_fgq("convert", m, "-o", work / "m.fgq").returncode == 0
    before = {p.name: digest(p) for p in work.iterdir()}
    if cmd == "convert":
        p, victim = run_fgq("convert", m, "-o", m), m
    elif cmd == "convert_link":  # another spelling of the same file
        (work / "alias.onnx").symlink_to(m)
        before["alias.onnx"] = digest(m)
        p, victim = run_fgq("convert", m, "-o", work / "alias.onnx"), m
    elif cmd == "quantize":
        p, victim = run_fgq("quantize", m, "--calib", x, "--weights", "s8", "-o", m), m
    elif cmd == "quantize_calib":
        p, victim = run_fgq("quantize", m, "--calib", x, "--weights", "s8", "-o", x), x
    elif cmd == "run_input":
        p, victim = run_fgq("run", m, "--input", x, "-o", x), x
    elif cmd == "run_model":
        p, victim = run_fgq("run", m, "--input", x, "-o", m), m
    elif cmd == "run_two_outputs":
        np.save(work / "y.npy", np.zeros(3, np.float32))
        before["y.npy"] = digest(work / "y.npy")
        p, victim = run_fgq("run", m, "--input", x, "-o", work / "y.npy", "-o", work / "y.npy"), work / "y.npy"
    else:
        p, victim = run_fgq("export", work / "m.fgq", "--onnx", work / "m.fgq"), work / "m.fgq"
    if cmd == "run_two_outputs":
        refused(p, "given twice")
    else:
        refused(p, victim.name, "would destroy the input")
    assert {q.name: digest(q) for q in work.iterdir()} == before


def nan_model(path):
    m = onnx.load(str(MNIST))
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size > 10:
            a = a.copy()
            a.flat[3] = np.nan
            init.CopyFrom(numpy_helper.from_array(a, init.name))
            onnx.save(m, str(path))
            return init.name
    raise AssertionError("no float weight")


@pytest.mark.parametrize("cmd", ["convert", "run", "quantize", "weights"])
def test_nan_weights_are_refused(work, cmd):
    name = nan_model(work / "nan.onnx")
    out = work / "o.fgq"
    if cmd == "convert":
        p = run_fgq("convert", work / "nan.onnx", "-o", out)
    elif cmd == "run":
        p = run_fgq("run", work / "nan.onnx", "--input", work / "x.npy")
    elif cmd == "quantize":
        p = run_fgq("quantize", work / "nan.onnx", "--calib", work / "x.npy", "--weights", "s8", "-o", out)
    else:
        p = run_fgq("weights", work / "nan.onnx", "--weights", "s8")
    refused(p, "nan.onnx", name, "NaN")
    assert not out.exists()
    # inspect still describes the model (test_import.py: NaN is not an import error)
    assert run_fgq("inspect", work / "nan.onnx").returncode == 0


def relu_model(path, dims):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.mark.parametrize("dims", [[1, 3, 100000, 100000], [1, 3, 2**31, 4]])
def test_absurd_declared_dims_refused_at_convert(work, dims):
    relu_model(work / "big.onnx", dims)
    out = work / "big.fgq"
    refused(run_fgq("convert", work / "big.onnx", "-o", out), "big.onnx", "arena", "GiB", "'x'")
    assert not out.exists()
    refused(run_fgq("run", work / "big.onnx", "--input", work / "x.npy"), "big.onnx", "arena")


def test_files_of_the_wrong_kind_are_named(work):
    assert run_fgq("convert", work / "m.onnx", "-o", work / "m.fgq").returncode == 0
    for cmd in (("weights", work / "m.fgq", "--weights", "s8"),
                ("quantize", work / "m.fgq", "--calib", work / "x.npy", "--weights", "s8", "-o", work / "q.fgq")):
        refused(run_fgq(*cmd), "m.fgq", "this is a .fgq model", "ONNX")
    (work / "junk.fgq").write_bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8).tobytes())
    refused(run_fgq("run", work / "junk.fgq", "--input", work / "x.npy"), "junk.fgq", ".fgq magic is missing")
    shutil.copy(work / "x.npy", work / "array.onnx")
    refused(run_fgq("inspect", work / "array.onnx"), "array.onnx", ".npy array")
    damaged = bytearray((work / "m.fgq").read_bytes())
    damaged[5] ^= 0xFF  # the magic's sixth byte
    (work / "damaged.fgq").write_bytes(bytes(damaged))
    refused(run_fgq("run", work / "damaged.fgq", "--input", work / "x.npy"), "damaged.fgq", "magic is wrong")
    assert not (work / "q.fgq").exists()


@pytest.mark.parametrize("acts", ["dynamic", "u8"])
def test_mean_std_that_do_not_fit_the_input_are_refused_before_work(work, acts):
    """With --acts dynamic and no calibration data, a 3-channel mean for a 1-channel input used to be written
    into a model that could never run."""
    out = work / "q.fgq"
    extra = ["--calib", work / "x.npy"] if acts == "u8" else []
    p = run_fgq("quantize", work / "m.onnx", "--acts", acts, "--weights", "s8", "--mean", "1,2,3", "--std", "1",
                "-o", out, *extra)
    refused(p, "m.onnx", "--mean/--std", "3 per-channel")
    assert not out.exists()


def test_layer_typo_refused_before_calibration(work):
    """An unknown --layer name used to be found only after the whole calibration and solver."""
    p = run_fgq("quantize", work / "m.onnx", "--calib", REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz",
                "--weights", "s8", "--layer", "NoSuchNode=s8", "-o", work / "q.fgq", timeout=20)
    refused(p, "NoSuchNode")
    assert not (work / "q.fgq").exists()


def test_tables_keep_their_columns_with_pytorch_names(work):
    """PyTorch exports name nodes like /features/features.0/conv/conv.0/Conv: longer than the tables' columns
    were, so every later column shifted. Each row's second column must start where its header's does."""
    m = onnx.load(str(MNIST))
    for i, n in enumerate(m.graph.node):
        n.name = f"/features/features.{i}/block/block.{i}/{n.op_type}_with_a_long_pytorch_style_suffix"
    onnx.save(m, str(work / "long.onnx"))

    def check(lines, header_word, second_header):
        head = next(i for i, ln in enumerate(lines) if ln.split()[:1] == [header_word] and second_header in ln)
        col = lines[head].index(second_header)
        rows = [ln for ln in lines[head + 1:] if ln.strip()][:3]
        assert rows, lines
        for ln in rows:
            assert ln[col - 1] == " " and ln[col] != " ", (col, ln)

    p = run_fgq("inspect", work / "long.onnx")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("#") and " node " in ln)
    col = lines[head].index(" op ") + 1
    for ln in lines[head + 1:head + 4]:
        assert ln[col - 1] == " " and ln[col] != " " and "long_pytorch_style_suffix" in ln, (col, ln)
    p = run_fgq("quantize", work / "long.onnx", "--calib", work / "x.npy", "--weights", "s8", "--solver", "rtn",
                "-o", work / "q.fgq")
    assert p.returncode == 0, p.stderr
    check(p.stdout.splitlines(), "layer", "op")
    p = run_fgq("inspect", work / "q.fgq")
    assert p.returncode == 0, p.stderr
    check(p.stdout.splitlines(), "node", "op")
    p = run_fgq("weights", work / "long.onnx", "--weights", "s8")
    assert p.returncode == 0, p.stderr
    check(p.stdout.splitlines(), "tensor", "shape")


def test_every_unsupported_op_is_listed_at_once(work):
    """A model with three ops fgq lacks: the error names all three (with a node each), not the first only."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Hardmax", ["x"], ["a"], name="hs"), helper.make_node("Celu", ["a"], ["b"], name="erf"),
             helper.make_node("Shrink", ["b"], ["c"], name="hsig"),
             helper.make_node("Hardmax", ["c"], ["y"], name="hs2")]
    g = helper.make_graph(nodes, "g", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), str(work / "u.onnx"))
    for args in (("convert", work / "u.onnx", "-o", work / "u.fgq"), ("run", work / "u.onnx", "--input", work / "x.npy")):
        p = run_fgq(*args)
        refused(p, "u.onnx" if args[0] == "convert" else "hs", "Hardmax", "Celu (node 'erf')",
                "Shrink (node 'hsig')")
        assert "hs2" not in p.stderr  # one entry per op type
    assert not (work / "u.fgq").exists()


# ---- inputs the fuzzers found (fuzz/run.sh replays them too; CONTRIBUTING.md, "Fuzzing") ----
# Each was a crash or a sanitizer report; each must now be a refusal with exit 2 whose message names the file and
# the reason. The ONNX ones go through `fgq convert` as they are.
REGRESSIONS = REPO_ROOT / "fuzz" / "regressions"
ONNX_FOUND = {
    "pad-overflow.onnx": ["Pad", "2^40"],  # pads near 2^63 overflowed the padded dim (UBSan)
    # Equal / Where / Expand on constants with an omitted ("") input: folding read tensors[-1] (ASan); since
    # Where and the others run in the runtime too, shape inference refuses the omitted input by name
    "omitted-input-fold.onnx": ["Where", "input 2 is required"],
    # BatchNormalization after Conv with its output omitted (""): folding wrote tensors[-1] (ASan)
    "bn-omitted-output.onnx": ["BatchNormalization", "has no output"],
}


@pytest.mark.parametrize("name", sorted(ONNX_FOUND))
def test_fuzzer_found_onnx_models_are_refused(tmp_path, name):
    src = REGRESSIONS / "fuzz_onnx_import" / name
    out = tmp_path / "out.fgq"
    refused(run_fgq("convert", src, "-o", out), name, *ONNX_FOUND[name])
    assert not out.exists()


def test_every_onnx_regression_has_a_test():
    assert sorted(p.name for p in (REGRESSIONS / "fuzz_onnx_import").iterdir()) == sorted(ONNX_FOUND)


# fuzz_data's inputs start with one byte choosing its options; the file is the rest
DATA_FOUND = {
    # 656,408,581 samples of 0 values in 17 bytes: preparing them ran past the fuzzer's 10 s timeout
    "idx-empty-samples": ["656408581 samples hold no values"],
}


@pytest.mark.parametrize("name", sorted(DATA_FOUND))
def test_fuzzer_found_data_files_are_refused(work, name):
    f = work / name
    f.write_bytes((REGRESSIONS / "fuzz_data" / name).read_bytes()[1:])
    refused(run_fgq("run", work / "m.onnx", "--input", f, "-o", work / "y.npy"), name, *DATA_FOUND[name])
    refused(run_fgq("quantize", work / "m.onnx", "--calib", f, "--weights", "s8", "-o", work / "q.fgq"), name,
            *DATA_FOUND[name])
    assert not (work / "y.npy").exists() and not (work / "q.fgq").exists()


def test_every_data_regression_has_a_test():
    assert sorted(p.name for p in (REGRESSIONS / "fuzz_data").iterdir()) == sorted(DATA_FOUND)


@pytest.mark.parametrize("op, inputs", [("Expand", ["a", ""]), ("Where", ["c", "", "a"]), ("Equal", ["a", ""])])
def test_fold_only_op_with_an_omitted_input_refused(work, op, inputs):
    """Constant folding of Equal / Where / Expand indexed the tensor table with an omitted input's -1 (a
    heap overflow or a crash; found by fuzz_onnx_import): now the node is left unfolded, and shape
    inference refuses the omitted required input, naming the node."""
    inits = [numpy_helper.from_array(np.ones((1, 3), np.float32), "a"),
             numpy_helper.from_array(np.array([True, False, True]), "c")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node(op, inputs, ["e"], name="omit"), helper.make_node("Cast", ["e"], ["f"], to=1),
             helper.make_node("Add", ["x", "f"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(work / "omit.onnx"))
    refused(run_fgq("convert", work / "omit.onnx", "-o", work / "omit.fgq"), "omit.onnx", "node 'omit'", op,
            "is required and was omitted")
    assert not (work / "omit.fgq").exists()


@pytest.mark.parametrize("op", ["BatchNormalization", "Relu"])
def test_folding_into_an_omitted_output_refused(work, op):
    """BatchNormalization folding and Relu fusion made the Conv write the node's output, which was omitted ("")
    here: tensors[-1] was written (found by fuzz_onnx_import). Now the node is left alone and named."""
    inits = [numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")] + \
            [numpy_helper.from_array(np.ones(2, np.float32), k) for k in "sbmv"]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node(op, ["c", "s", "b", "m", "v"] if op != "Relu" else ["c"], [""], name="noout")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), node,
             helper.make_node("Relu", ["x"], ["y"], name="other")]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(work / "noout.onnx"))
    refused(run_fgq("convert", work / "noout.onnx", "-o", work / "noout.fgq"), "noout.onnx", f"node 'noout' ({op})",
            "has no output")
    assert not (work / "noout.fgq").exists()


def pad_model(path, pads):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    p = numpy_helper.from_array(np.array(pads, dtype=np.int64), "pads")
    g = helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad")], "g", [x], [y], [p])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))


@pytest.mark.parametrize("pads", [[0, 0, 2**62, 0, 0, 2**62], [0, 0, -2**63, 0, 0, 0], [0, 0, 2**40, 0, 0, 2**40]])
def test_absurd_pads_refused(work, pads):
    """Pads near 2^63 overflowed the padded dim's sum (found by fuzz_onnx_import); pads within range whose sum
    passes 2^40 elements are refused as an output shape over the limit."""
    pad_model(work / "pad.onnx", pads)
    refused(run_fgq("convert", work / "pad.onnx", "-o", work / "pad.fgq"), "pad.onnx", "node 'pad' (Pad)", "2^40")
    assert not (work / "pad.fgq").exists()


@pytest.mark.parametrize("dims", [[2**41], [2**20, 2**21], [0, 2**62]])
def test_declared_dims_over_the_element_limit_refused_at_import(work, dims):
    """Dims past 2^40 elements (or a dim past 2^40 beside a 0) cannot be held or multiplied safely: refused at
    import, naming the input, before any arithmetic on them."""
    relu_model(work / "huge.onnx", dims)
    refused(run_fgq("convert", work / "huge.onnx", "-o", work / "huge.fgq"), "huge.onnx", "'x'", "2^40")
    refused(run_fgq("inspect", work / "huge.onnx"), "huge.onnx", "2^40")


def folding_model(path, kind, n):
    """A small model whose constant subgraph is far larger than its constants: broadcasting [n,1] against [1,n],
    one [n*n/32] tensor concatenated 32 times (the runtime's most inputs), or a Gather of one row n*n times."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    rng = np.random.default_rng(3)
    if kind == "broadcast":
        inits = [numpy_helper.from_array(rng.random((n, 1), dtype=np.float32), "a"),
                 numpy_helper.from_array(rng.random((1, n), dtype=np.float32), "b")]
        const = [helper.make_node("Add", ["a", "b"], ["c"], name="grow")]
    elif kind == "concat":
        inits = [numpy_helper.from_array(rng.random(n * n // 32, dtype=np.float32), "a")]
        const = [helper.make_node("Concat", ["a"] * 32, ["c"], name="grow", axis=0)]
    elif kind == "expand":
        inits = [numpy_helper.from_array(rng.random((n, 1), dtype=np.float32), "a"),
                 numpy_helper.from_array(np.array([n, n], dtype=np.int64), "s")]
        const = [helper.make_node("Expand", ["a", "s"], ["c"], name="grow")]
    else:
        inits = [numpy_helper.from_array(rng.random((2, 3), dtype=np.float32), "a"),
                 numpy_helper.from_array(np.zeros(n * n, dtype=np.int64), "i")]
        const = [helper.make_node("Gather", ["a", "i"], ["c"], name="grow", axis=0)]
    g = helper.make_graph(const + [helper.make_node("Mul", ["x", "c"], ["y"], name="use")], "g", [x], [y], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return {i.name: numpy_helper.to_array(i) for i in inits}


@pytest.mark.parametrize("kind", ["broadcast", "concat", "gather", "expand"])
def test_constant_folding_does_not_grow_the_model(work, kind):
    """Oracle: the .fgq stays about the size of the model's constants (a 130 KB model of Add([16384,1], [1,16384])
    used to fold into a 1 GiB .fgq, 40 s and 2 GB of memory), and running it still gives NumPy's result."""
    n = 400  # 160,000 folded elements, over the 65,536 the pass folds freely
    c = folding_model(work / "grow.onnx", kind, n)
    out = work / "grow.fgq"
    p = run_fgq("convert", work / "grow.onnx", "-o", out)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_size < (work / "grow.onnx").stat().st_size + 64 * 1024
    x = np.full((1, 1), 0.5, dtype=np.float32)
    np.save(work / "x11.npy", x)
    p = run_fgq("run", out, "--input", work / "x11.npy", "-o", work / "y.npy")
    assert p.returncode == 0, p.stderr
    want = {"broadcast": lambda: c["a"] + c["b"], "concat": lambda: np.concatenate([c["a"]] * 32),
            "gather": lambda: c["a"][c["i"]], "expand": lambda: np.broadcast_to(c["a"], (n, n))}[kind]()
    np.testing.assert_allclose(np.load(work / "y.npy"), x * want, rtol=1e-6)


def test_integer_broadcast_still_folds(work):
    """Integer shape / mask arithmetic the runtime cannot compute (its Add is float) is folded even when it
    grows the model (up to 2^24 elements): int64 Add([512,1], [1,512]) -> Cast -> Add(x) converts and runs.
    Oracle: NumPy."""
    a, b = np.arange(512, dtype=np.int64).reshape(512, 1), np.arange(512, dtype=np.int64).reshape(1, 512)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Cast", ["c"], ["f"], to=1),
             helper.make_node("Add", ["x", "f"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], [numpy_helper.from_array(a, "a"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(work / "ib.onnx"))
    p = run_fgq("convert", work / "ib.onnx", "-o", work / "ib.fgq")
    assert p.returncode == 0, p.stderr
    np.save(work / "x11.npy", np.full((1, 1), 0.5, np.float32))
    p = run_fgq("run", work / "ib.fgq", "--input", work / "x11.npy", "-o", work / "y.npy")
    assert p.returncode == 0, p.stderr
    np.testing.assert_array_equal(np.load(work / "y.npy"), 0.5 + (a + b).astype(np.float32))


@pytest.mark.parametrize("to, want", [(TensorProto.UINT8, [255, 0, 255, 7]), (TensorProto.INT32, [300, -5, 2147483647, 7]),
                                      (TensorProto.FLOAT16, [300, -5, np.inf, 7.25])])
def test_folded_cast_equals_the_runtime_cast(work, to, want):
    """A Cast of a constant gives what the runtime's Cast gives (fgq_ops.h: toward zero, saturating; float16
    rounding): the same Cast fed from the graph input, and the pinned values. Before, folding wrapped
    (300 -> 44 as u8) and did not round to float16."""
    vals = np.array([300.0, -5.0, 1e10, 7.25], np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    outs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, [4]) for k in ("yc", "yx")]
    nodes = [helper.make_node("Cast", ["v"], ["cv"], to=to), helper.make_node("Cast", ["cv"], ["yc"], to=1),
             helper.make_node("Cast", ["x"], ["cx"], to=to), helper.make_node("Cast", ["cx"], ["yx"], to=1)]
    g = helper.make_graph(nodes, "g", [x], outs, [numpy_helper.from_array(vals, "v")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(work / "cast.onnx"))
    p = run_fgq("convert", work / "cast.onnx", "-o", work / "cast.fgq")
    assert p.returncode == 0, p.stderr
    np.save(work / "x4.npy", vals)
    p = run_fgq("run", work / "cast.fgq", "--input", work / "x4.npy", "-o", work / "yc.npy", "-o", work / "yx.npy")
    assert p.returncode == 0, p.stderr
    got = [np.load(work / n) for n in ("yc.npy", "yx.npy")]
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], np.array(want, np.float32))


def malformed_model(path, case):
    """One malformed Mod / Not / ScatterND / Range node named 'bad' on x [2, 3]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    inits = [numpy_helper.from_array(np.ones(3, np.float32), "u3"), numpy_helper.from_array(np.ones((2, 3), np.float32), "u23")]
    op, ins, attrs = {
        "scatter_rank0_indices": ("ScatterND", ["x", "i0", "u3"], {}),
        "scatter_last_dim_past_rank": ("ScatterND", ["x", "i13", "u3"], {}),
        "scatter_int32_indices": ("ScatterND", ["x", "i32", "u3"], {}),
        "scatter_updates_shape": ("ScatterND", ["x", "i11", "u23"], {}),
        "scatter_reduction": ("ScatterND", ["x", "i11", "u3"], {"reduction": "sum"}),
        "mod_float_fmod0": ("Mod", ["x", "u3"], {}),
        "mod_mixed_dtypes": ("Mod", ["k", "k32"], {}),
        "not_float": ("Not", ["x"], {}),
        "range_delta_0": ("Range", ["one", "five", "zero"], {}),
        "range_mixed_dtypes": ("Range", ["one", "five", "k32"], {}),
    }[case]
    inits += [i64("i0", 0), i64("i13", [[0, 1, 0]]), numpy_helper.from_array(np.array([[1]], np.int32), "i32"),
              i64("i11", [[1]]), i64("k", [7]), numpy_helper.from_array(np.array(3, np.int32), "k32"),
              i64("one", 1), i64("five", 5), i64("zero", 0)]
    nodes = [helper.make_node(op, ins, ["b"], name="bad", **attrs)]
    if op == "ScatterND" or (op == "Mod" and ins[0] == "x"):
        nodes.append(helper.make_node("Add", ["x", "b"], ["y"]))
    elif op == "Not":
        nodes += [helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT), helper.make_node("Add", ["x", "bf"], ["y"])]
    else:
        nodes += [helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT), helper.make_node("ReduceSum", ["bf"], ["s"]),
                  helper.make_node("Add", ["x", "s"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 16)]), str(path))
    return op


@pytest.mark.parametrize("case, words", [
    ("scatter_rank0_indices", ["indices of rank 0"]),
    ("scatter_last_dim_past_rank", ["last dim 3", "data of rank 2"]),
    ("scatter_int32_indices", ["ScatterND takes int64"]),
    ("scatter_updates_shape", ["updates have dims [2,3], expected [1,3]"]),
    ("scatter_reduction", ["reduction 'sum'"]),
    ("mod_float_fmod0", ["fmod = 1"]),
    ("mod_mixed_dtypes", ["one dtype"]),
    ("not_float", ["Not takes bool"]),
    ("range_delta_0", ["delta is 0"]),
    ("range_mixed_dtypes", ["one dtype"]),
])
def test_malformed_mask_ops_refused_at_import(work, case, words):
    """Mod, Not, ScatterND and Range nodes that break the ONNX spec (wrong rank or dtype of the indices,
    updates of the wrong shape, fmod 0 on floats, mixed dtypes, a zero step) are refused by `fgq convert`
    and `fgq run` with exit 2, naming the file and the node, before any kernel sees them (Swin-T's mask
    ops, issue 10)."""
    op = malformed_model(work / "bad.onnx", case)
    for cmd in (["convert", work / "bad.onnx", "-o", work / "bad.fgq"], ["run", work / "bad.onnx", "--input", work / "x23.npy"]):
        np.save(work / "x23.npy", np.ones((2, 3), np.float32))
        refused(run_fgq(*cmd), "bad.onnx", f"node 'bad' ({op})", *words)
    assert not (work / "bad.fgq").exists()
