"""ONNX import: fgq reads back what the onnx package reads, and rejects bad files.

Oracle for the good cases: the onnx Python package (onnx.load + numpy_helper.to_array)
parsing the same file. Oracle for the bad cases: the file was made broken on
purpose, so fgq must exit 2 with a message naming the file and the culprit, and
must not crash (a sanitizer abort or signal would give another exit code).
"""
import os
import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_fgq, run_tool

MODELS = ["mnist-8/model.onnx"] + [f"tiny-v0.7/model_{m}.onnx" for m in ("ad", "ic", "kws", "vww")]
NP_DTYPE = {"f32": np.float32, "u8": np.uint8, "s8": np.int8, "s32": np.int32, "s64": np.int64, "bool": np.bool_}


def read_dump(outdir):
    """Parses tool_dump_initializers' manifest into a dict."""
    d = {"inputs": [], "outputs": [], "consts": {}}
    for line in (outdir / "manifest.tsv").read_text().splitlines():
        f = line.split("\t")
        if f[0] == "nodes":
            d["nodes"] = int(f[1])
        elif f[0] == "input":
            d["inputs"].append((f[1], f[2], [int(x) for x in f[3].split(",") if x]))
        elif f[0] == "output":
            d["outputs"].append(f[1])
        elif f[0] == "const":
            dims = [int(x) for x in f[4].split(",") if x]
            data = np.fromfile(outdir / f"{f[1]}.bin", dtype=NP_DTYPE[f[3]]).reshape(dims)
            d["consts"][f[2]] = data
    return d


def check_same_as_onnx(model_path, tmp_path):
    out = tmp_path / "dump"
    out.mkdir()
    r = run_tool("tool_dump_initializers", model_path, out)
    assert r.returncode == 0, r.stderr
    got = read_dump(out)
    m = onnx.load(str(model_path))
    g = m.graph
    assert got["nodes"] == len(g.node)
    init_names = {t.name for t in g.initializer}
    assert [i[0] for i in got["inputs"]] == [i.name for i in g.input if i.name not in init_names]
    assert got["outputs"] == [o.name for o in g.output]
    assert len(g.initializer) > 0
    for t in g.initializer:
        want = numpy_helper.to_array(t, base_dir=str(pathlib.Path(model_path).parent))
        assert t.name in got["consts"], t.name
        have = got["consts"][t.name]
        assert list(have.shape) == list(want.shape), t.name
        if want.dtype == np.float32:
            # bit-exact: compare the IEEE bit patterns, so -0.0 and NaN payloads count
            assert np.array_equal(have.view(np.uint32), want.view(np.uint32)), t.name
        elif want.dtype in (np.float16, np.float64):
            assert np.array_equal(have, want.astype(np.float32)), t.name
        else:
            assert np.array_equal(have, want), t.name


@pytest.mark.parametrize("model", MODELS)
def test_initializers_match_onnx(model, shared_dir, tmp_path):
    check_same_as_onnx(shared_dir / "models" / model, tmp_path)


def test_external_data_model_matches_onnx(shared_dir, tmp_path):
    m = onnx.load(str(shared_dir / "models" / "mnist-8" / "model.onnx"))
    # mnist-8 keeps its weights in typed fields; onnx only externalises raw_data
    for t in m.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), t.name))
    path = tmp_path / "ext" / "model.onnx"
    path.parent.mkdir()
    onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    assert (path.parent / "weights.bin").exists()
    check_same_as_onnx(path, tmp_path)


def test_typed_fields_and_float16(tmp_path):
    # Oracle: numpy arrays that went into the typed (non-raw) fields, read back by onnx.
    inits = [
        helper.make_tensor("f32", TensorProto.FLOAT, [2, 2], [1.5, -2.0, 0.0, 3.25]),
        helper.make_tensor("i64", TensorProto.INT64, [3], [-1, 0, 1 << 40]),
        helper.make_tensor("s8", TensorProto.INT8, [3], [-128, 0, 127]),
        helper.make_tensor("u8", TensorProto.UINT8, [2], [0, 255]),
        helper.make_tensor("f16", TensorProto.FLOAT16, [3], np.array([1.0, -0.5, 65504], np.float16)),
        helper.make_tensor("f64", TensorProto.DOUBLE, [2], [0.1, -3.0]),
        helper.make_tensor("b", TensorProto.BOOL, [2], [True, False]),
        numpy_helper.from_array(np.arange(6, dtype=np.int32).reshape(2, 3), "i32raw"),
        numpy_helper.from_array(np.array([1.0, 2.0, -7.5], np.float16), "f16raw"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])
    node = helper.make_node("Add", ["x", "f32"], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], inits))
    p = tmp_path / "typed.onnx"
    p.write_bytes(model.SerializeToString())
    check_same_as_onnx(p, tmp_path)


# ---- bad input -------------------------------------------------------------------------

def small_model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def expect_bad(path, *fragments, env=None):
    r = run_fgq("inspect", path, env=env)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    for frag in fragments:
        assert frag in r.stderr, (frag, r.stderr)
    return r


@pytest.mark.parametrize("cut", [1, 10, 100, 1000, 5000, 0.5, -1])
def test_truncated_model(cut, shared_dir, tmp_path, fgq_bin):
    data = (shared_dir / "models" / "mnist-8" / "model.onnx").read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (len(data) + cut if cut < 0 else cut)
    p = tmp_path / "trunc.onnx"
    p.write_bytes(data[:n])
    expect_bad(p, str(p))


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(seed, tmp_path, fgq_bin):
    p = tmp_path / "random.onnx"
    p.write_bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expect_bad(p, str(p))


def test_empty_file(tmp_path, fgq_bin):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    expect_bad(p, str(p), "empty")


def test_missing_file(tmp_path, fgq_bin):
    expect_bad(tmp_path / "nope.onnx", "nope.onnx", "cannot open")


def test_size_limit(shared_dir, fgq_bin):
    p = shared_dir / "models" / "mnist-8" / "model.onnx"
    expect_bad(p, str(p), "size limit", env={"FGQ_MAX_MODEL_BYTES": "1000"})


def write(model, path):
    path.write_bytes(model.SerializeToString())
    return path


def test_unknown_data_type(tmp_path, fgq_bin):
    w = numpy_helper.from_array(np.ones((2, 2), np.float32), "W")
    w.data_type = 99
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [2, 2])], [vi("y", [2, 2])], [w])
    expect_bad(write(m, tmp_path / "dt99.onnx"), "dt99.onnx", "'W'", "unknown data type 99")


def test_raw_data_size_mismatch(tmp_path, fgq_bin):
    w = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")
    w.raw_data = w.raw_data[:20]
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 3])], [w])
    expect_bad(write(m, tmp_path / "raw.onnx"), "raw.onnx", "'W'", "raw_data is 20 bytes")


def test_typed_count_mismatch(tmp_path, fgq_bin):
    w = helper.make_tensor("W", TensorProto.FLOAT, [2, 3], [1.0] * 6)
    del w.float_data[5]
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 3])], [w])
    expect_bad(write(m, tmp_path / "typed.onnx"), "'W'", "float_data has 5 values")


def test_negative_dim(tmp_path, fgq_bin):
    w = helper.make_tensor("W", TensorProto.FLOAT, [2, 3], [1.0] * 6)
    w.dims[0] = -2
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 3])], [w])
    expect_bad(write(m, tmp_path / "neg.onnx"), "'W'", "negative dim")


def test_overflowing_dims(tmp_path, fgq_bin):
    w = helper.make_tensor("W", TensorProto.FLOAT, [1], [1.0])
    w.dims[:] = [1 << 40, 1 << 40]
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [1])], [vi("y", [1])], [w])
    expect_bad(write(m, tmp_path / "ovf.onnx"), "'W'", "overflow")


def test_missing_initializer(tmp_path, fgq_bin):
    m = small_model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv1")], [vi("x", [1, 1, 4, 4])],
                    [vi("y", None)])
    expect_bad(write(m, tmp_path / "dangling.onnx"), "dangling.onnx", "conv1", "'W'")


def test_duplicate_producer(tmp_path, fgq_bin):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Relu", ["x"], ["y"], name="b")]
    m = small_model(nodes, [vi("x", [2])], [vi("y", [2])])
    expect_bad(write(m, tmp_path / "dup.onnx"), "'y'", "two nodes")


def test_cycle(tmp_path, fgq_bin):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Relu", ["a"], ["y"], name="third")]
    m = small_model(nodes, [vi("x", [2])], [vi("y", [2])])
    r = expect_bad(write(m, tmp_path / "cycle.onnx"), "cycle.onnx", "cycle")
    assert "'first'" in r.stderr or "'second'" in r.stderr


def test_out_of_order_nodes_are_sorted(tmp_path, fgq_bin):
    # Oracle: the data dependencies force Relu before Sigmoid whatever the file order.
    import json
    nodes = [helper.make_node("Sigmoid", ["a"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["a"], name="early")]
    m = small_model(nodes, [vi("x", [3, 4])], [vi("y", [3, 4])])
    r = run_fgq("inspect", "--json", write(m, tmp_path / "order.onnx"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [n["name"] for n in d["nodes"]] == ["early", "late"]
    assert d["nodes"][1]["outputs"][0]["shape"] == [3, 4]


def external_model(tmp_path, location, offset=None, length=None, file_bytes=24):
    d = tmp_path / "model_dir"
    d.mkdir(exist_ok=True)
    (d / "w.bin").write_bytes(np.ones(file_bytes // 4, np.float32).tobytes())
    w = TensorProto()
    w.name = "W"
    w.data_type = TensorProto.FLOAT
    w.dims.extend([2, 3])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = w.external_data.add()
            e.key, e.value = k, str(v)
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 3])], [w])
    return write(m, d / "model.onnx")


def test_external_data_ok(tmp_path, fgq_bin):
    r = run_fgq("inspect", external_model(tmp_path, "w.bin"))
    assert r.returncode == 0, r.stderr


def test_external_data_escaping(tmp_path, fgq_bin):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 24)
    expect_bad(external_model(tmp_path, "../secret.bin"), "'W'", "escapes")


def test_external_data_absolute(tmp_path, fgq_bin):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 24)
    expect_bad(external_model(tmp_path, str(tmp_path / "secret.bin")), "'W'", "absolute")


def test_external_data_symlink_out(tmp_path, fgq_bin):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 24)
    p = external_model(tmp_path, "link.bin")
    os.symlink(tmp_path / "secret.bin", p.parent / "link.bin")
    expect_bad(p, "'W'", "escapes")


def test_external_data_beyond_end(tmp_path, fgq_bin):
    expect_bad(external_model(tmp_path, "w.bin", offset=8, length=24), "'W'", "beyond the end")


def test_external_data_offset_beyond_end(tmp_path, fgq_bin):
    expect_bad(external_model(tmp_path, "w.bin", offset=1000), "'W'", "beyond the end")


def test_subgraph_attribute_unsupported(tmp_path, fgq_bin):
    body = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "b", [], [vi("z", [1])])
    node = helper.make_node("If", ["c"], ["y"], name="branch", then_branch=body, else_branch=body)
    m = small_model([node], [vi("c", [], TensorProto.BOOL)], [vi("y", [1])])
    expect_bad(write(m, tmp_path / "if.onnx"), "branch", "_branch'", "subgraph")


def test_conv_channel_mismatch(tmp_path, fgq_bin):
    w = numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "W")
    m = small_model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv_bad")], [vi("x", [1, 3, 8, 8])],
                    [vi("y", None)], [w])
    expect_bad(write(m, tmp_path / "chan.onnx"), "conv_bad", "3 channels", "expects 2")


def test_nan_initializer_is_not_an_import_error(tmp_path, fgq_bin):
    w = numpy_helper.from_array(np.array([np.nan, np.inf], np.float32), "W")
    m = small_model([helper.make_node("Add", ["x", "W"], ["y"])], [vi("x", [2])], [vi("y", [2])], [w])
    r = run_fgq("inspect", write(m, tmp_path / "nan.onnx"))
    assert r.returncode == 0, r.stderr
