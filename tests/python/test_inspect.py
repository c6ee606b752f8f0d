"""fgq inspect: node list, shapes, parameters and MACs.

Oracles: onnx.shape_inference.infer_shapes for every output shape onnx can
infer; the initializers' element counts (onnx.numpy_helper) for total params;
the Conv/MatMul MAC formulas evaluated here from onnx-inferred shapes.
"""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_fgq

MODELS = ["mnist-8/model.onnx"] + [f"tiny-v0.7/model_{m}.onnx" for m in ("ad", "ic", "kws", "vww")]


def inspect_json(path, *extra):
    r = run_fgq("inspect", path, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def onnx_shapes(model, batch=1):
    """Tensor name -> static shape, as onnx infers it (symbolic dims bound to batch)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    shapes = {}
    for v in list(g.value_info) + list(g.output) + list(g.input):
        tt = v.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(d.dim_value)
            elif d.HasField("dim_param"):
                dims.append(batch)
            else:
                dims = None
                break
        if dims is not None:
            shapes[v.name] = dims
    return shapes


@pytest.mark.parametrize("model", MODELS)
def test_shapes_params_match_onnx(model, shared_dir, fgq_bin):
    path = shared_dir / "models" / model
    m = onnx.load(str(path))
    d = inspect_json(path)
    assert d["opset"] == next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    assert d["total"]["nodes"] == len(m.graph.node) == len(d["nodes"])
    assert d["unsupported_ops"] == []
    assert d["total"]["unknown_shapes"] == 0
    want = onnx_shapes(m)
    compared = 0
    for n in d["nodes"]:
        for o in n["outputs"]:
            assert o["shape"] is not None, (n["name"], o["name"])
            if o["name"] in want:
                assert o["shape"] == want[o["name"]], (n["name"], o["name"])
                compared += 1
    assert compared >= len(m.graph.output)
    for o in d["outputs"]:
        assert o["shape"] == want[o["name"]]
    # every initializer is read by some node, so total params = their total size
    used = {i for n in m.graph.node for i in n.input}
    assert all(t.name in used for t in m.graph.initializer)
    assert d["total"]["params"] == sum(numpy_helper.to_array(t).size for t in m.graph.initializer)

    # MACs: Conv N*Cout*spatial_out*(Cin/group)*prod(kernel); Gemm/MatMul batch*M*N*K
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    total = 0
    by_name = {n["name"]: n for n in d["nodes"]}
    for i, node in enumerate(m.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        if node.op_type == "Conv":
            y = want[node.output[0]]
            w = inits[node.input[1]]
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            cin = want.get(node.input[0])[1]
            expect = y[0] * y[1] * int(np.prod(y[2:])) * (cin // group) * int(np.prod(w.shape[2:]))
        elif node.op_type in ("Gemm", "MatMul"):
            y = want[node.output[0]]
            a = want.get(node.input[0]) or list(inits[node.input[0]].shape)
            trans_a = next((a_.i for a_ in node.attribute if a_.name == "transA"), 0)
            k = a[0] if (node.op_type == "Gemm" and trans_a) else a[-1]
            expect = int(np.prod(y)) * k
        else:
            expect = 0
        assert by_name[name]["macs"] == expect, name
        total += expect
    assert d["total"]["macs"] == total


def test_mnist8_conv_macs_by_hand(shared_dir, fgq_bin):
    # conv1: 1 x 8 out ch x 28*28 x 1 in ch x 5*5; conv2: 1 x 16 x 14*14 x 8 x 5*5
    d = inspect_json(shared_dir / "models" / "mnist-8" / "model.onnx")
    convs = [n["macs"] for n in d["nodes"] if n["op"] == "Conv"]
    assert convs == [8 * 28 * 28 * 1 * 25, 16 * 14 * 14 * 8 * 25]


def test_batch_binds_symbolic_dims(shared_dir, fgq_bin):
    # model_ic's input is [batch,3,32,32]; onnx infers the rest with batch = 4 as the oracle
    path = shared_dir / "models" / "tiny-v0.7" / "model_ic.onnx"
    d = inspect_json(path, "--batch", "4")
    assert d["inputs"][0]["shape"] == [4, 3, 32, 32]
    assert d["inputs"][0]["symbolic_dims"] == [0]
    want = onnx_shapes(onnx.load(str(path)), batch=4)
    for n in d["nodes"]:
        for o in n["outputs"]:
            if o["name"] in want:
                assert o["shape"] == want[o["name"]]
    text = run_fgq("inspect", path, "--batch", "4")
    assert text.returncode == 0 and "bound to --batch 4" in text.stdout


def test_table_output(shared_dir, fgq_bin):
    r = run_fgq("inspect", shared_dir / "models" / "mnist-8" / "model.onnx")
    assert r.returncode == 0, r.stderr
    assert "Convolution28" in r.stdout and "1x8x28x28" in r.stdout
    assert "total: 12 nodes" in r.stdout
    assert "unsupported ops: none" in r.stdout


def test_unsupported_op_is_listed(tmp_path, fgq_bin):
    # LRN is not in fgq's op table: inspect lists it, exits 0, and shapes past it are unknown
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"), helper.make_node("LRN", ["a"], ["b"], size=3, name="lrn"),
             helper.make_node("Relu", ["b"], ["y"], name="r2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    p = tmp_path / "lrn.onnx"
    p.write_bytes(helper.make_model(g).SerializeToString())
    d = inspect_json(p)
    assert d["unsupported_ops"] == ["LRN"]
    assert [n["supported"] for n in d["nodes"]] == [True, False, True]
    assert d["nodes"][0]["outputs"][0]["shape"] == [1, 4, 5, 5]
    assert d["nodes"][2]["outputs"][0]["shape"] is None
    r = run_fgq("inspect", p)
    assert r.returncode == 0 and "unsupported ops: LRN" in r.stdout


def test_exporter_shape_arithmetic_folds(tmp_path, fgq_bin):
    # Oracle: onnx shape inference of Shape->Gather->Unsqueeze->Concat->Reshape (the PyTorch flatten idiom)
    init = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
            numpy_helper.from_array(np.array([0], np.int64), "ax0")]
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Cast", ["shape"], ["shape64"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["x", "shape64"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    p = tmp_path / "flatten.onnx"
    p.write_bytes(m.SerializeToString())
    d = inspect_json(p, "--batch", "2")
    assert d["nodes"][-1]["outputs"][0]["shape"] == [2, 60]
    assert d["unsupported_ops"] == []
    assert all(n["supported"] for n in d["nodes"])


def test_cli_usage(shared_dir, fgq_bin):
    r = run_fgq("inspect", "--help")
    assert r.returncode == 0 and "usage" in r.stdout
    assert run_fgq("inspect").returncode == 2
    assert run_fgq("inspect", shared_dir / "models" / "mnist-8" / "model.onnx", "--bogus").returncode == 2
    assert run_fgq("inspect", shared_dir / "models" / "mnist-8" / "model.onnx", "--batch").returncode == 2
    assert run_fgq("inspect", shared_dir / "models" / "mnist-8" / "model.onnx", "--batch", "0").returncode == 2
