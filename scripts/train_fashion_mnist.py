#!/usr/bin/env python3
"""Trains fgq's Fashion-MNIST example CNN with NumPy alone and exports it to ONNX.

    python3 scripts/train_fashion_mnist.py            # writes examples/fashion-mnist/model.onnx

Architecture (NCHW, batch fixed to 1 in the exported model):
    image [1,1,28,28] -> Conv 3x3 16 (pad 1) -> BatchNormalization -> Relu -> MaxPool 2
    -> Conv 3x3 32 (pad 1) -> BatchNormalization -> Relu -> MaxPool 2 -> Flatten
    -> Gemm 1568->64 -> Relu -> Gemm 64->10 -> logits [1,10]

Preprocessing is NOT in the model: it takes x = pixel / 255 (fgq: --scale 0.00392156862745098).
Training: Adam, batch-norm batch statistics while training; the exported BatchNormalization
nodes (inference form, opset 13) carry the running mean and variance. Everything is float32,
convolutions are im2col + matrix products. The seed (--seed, default 20260101) fixes the weight
initialisation and the order of the batches; the numbers can still differ in the last bits from
one BLAS / CPU to another, so retraining elsewhere gives a close, not necessarily identical, model.

Data: the Debian package dataset-fashion-mnist (IDX files, gzip), read with gzip + NumPy.
After export the script checks the model with onnx.checker, compares ONNX Runtime's logits with
the NumPy model's on 100 test images (max abs diff < 1e-4) and prints ORT's top-1 on all 10,000
test images.
"""
import argparse
import gzip
import pathlib
import sys
import time

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = REPO_ROOT / "examples" / "fashion-mnist" / "model.onnx"
DEFAULT_SEED = 20260101
BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # running = (1 - m) * running + m * batch (PyTorch convention)


# ----------------------------------------------------------------------------- data

def load_idx(path):
    """Reads an IDX file (gzip or not): u8 data, big-endian dims."""
    raw = pathlib.Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    off = 4 + 4 * rank
    n = int(np.prod(dims))
    if len(raw) != off + n:
        raise ValueError(f"{path}: {len(raw) - off} data bytes, dims {dims} need {n}")
    return np.frombuffer(raw, dtype=np.uint8, offset=off).reshape(dims)


def load_split(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = load_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = load_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    # x = pixel / 255, NHWC with C = 1 (the NumPy model works channels-last internally).
    x = (images.astype(np.float32) / np.float32(255.0))[..., None]
    return x, labels


# ----------------------------------------------------------------------------- layers (NHWC)

def im2col3x3(x):
    """x [N,H,W,C] -> cols [N*H*W, C*9] for a 3x3 kernel, stride 1, pad 1, ordered (c, kh, kw)
    like an ONNX Conv weight [O, C, 3, 3]."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # [N,H,W,C,3,3]
    return win.reshape(n * h * w, c * 9)


def col2im3x3(dcols, shape):
    """Adjoint of im2col3x3: dcols [N*H*W, C*9] -> dx [N,H,W,C]."""
    n, h, w, c = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dxp = np.zeros((n, h + 2, w + 2, c), dtype=dcols.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + h, j:j + w, :] += d[..., i, j]
    return dxp[:, 1:h + 1, 1:w + 1, :]


def conv_forward(x, w, b):
    """x [N,H,W,C], w [O,C,3,3], b [O] -> y [N,H,W,O], cache."""
    n, h, wd, _ = x.shape
    cols = im2col3x3(x)
    y = cols @ w.reshape(w.shape[0], -1).T + b
    return y.reshape(n, h, wd, w.shape[0]), cols


def conv_backward(dy, cols, w, x_shape, need_dx):
    o = w.shape[0]
    dy2 = dy.reshape(-1, o)
    dw = (np.ascontiguousarray(dy2.T) @ cols).reshape(w.shape)
    db = dy2.sum(axis=0)
    dx = col2im3x3(dy2 @ w.reshape(o, -1), x_shape) if need_dx else None
    return dx, dw, db


def bn_forward_train(x, gamma, beta):
    """Batch normalization of x [N,H,W,C] with the batch's statistics (biased variance)."""
    x2 = x.reshape(-1, x.shape[-1])
    mean = x2.mean(axis=0)
    xc = x2 - mean
    var = np.einsum("ij,ij->j", xc, xc) / x2.shape[0]
    inv = (1.0 / np.sqrt(var + BN_EPS)).astype(x.dtype)
    xhat = xc * inv
    y = xhat * gamma + beta
    return y.reshape(x.shape), (xhat, inv), mean, var


def bn_backward(dy, cache, gamma):
    xhat, inv = cache
    dy2 = dy.reshape(xhat.shape)
    m = xhat.shape[0]
    dgamma = np.einsum("ij,ij->j", dy2, xhat)
    dbeta = dy2.sum(axis=0)
    dx = (dy2 - dbeta / m - xhat * (dgamma / m)) * (gamma * inv)
    return dx.reshape(dy.shape), dgamma, dbeta


def bn_forward_eval(x, gamma, beta, mean, var):
    return (x - mean) / np.sqrt(var + BN_EPS) * gamma + beta


def maxpool2_forward(x):
    """2x2, stride 2 max pooling of x [N,H,W,C] (H, W even)."""
    q = (x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2])
    y = np.maximum(np.maximum(q[0], q[1]), np.maximum(q[2], q[3]))
    return y, (q, y, x.shape)


def maxpool2_backward(dy, cache):
    """Routes each window's gradient to its first maximum (row-major), like an arg-max."""
    q, y, shape = cache
    dx = np.zeros(shape, dtype=np.float32)
    taken = np.zeros(y.shape, dtype=bool)
    for k, (i, j) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        hit = q[k] == y
        if k:
            hit &= ~taken
        if k < 3:
            taken |= hit
        dx[:, i::2, j::2] = dy * hit
    return dx


# ----------------------------------------------------------------------------- model

def init_params(rng):
    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    p = {
        "conv1_w": he((16, 1, 3, 3), 9), "conv1_b": np.zeros(16, np.float32),
        "bn1_g": np.ones(16, np.float32), "bn1_b": np.zeros(16, np.float32),
        "conv2_w": he((32, 16, 3, 3), 144), "conv2_b": np.zeros(32, np.float32),
        "bn2_g": np.ones(32, np.float32), "bn2_b": np.zeros(32, np.float32),
        "fc1_w": he((64, 1568), 1568), "fc1_b": np.zeros(64, np.float32),
        "fc2_w": he((10, 64), 64), "fc2_b": np.zeros(10, np.float32),
    }
    stats = {
        "bn1_mean": np.zeros(16, np.float32), "bn1_var": np.ones(16, np.float32),
        "bn2_mean": np.zeros(32, np.float32), "bn2_var": np.ones(32, np.float32),
    }
    return p, stats


def nhwc_flatten(x):
    """[N,H,W,C] -> [N, C*H*W] in NCHW order, as ONNX Flatten sees the NCHW tensor."""
    return x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


def forward_eval(p, s, x):
    """Inference forward (running BN statistics); x [N,28,28,1] -> logits [N,10]."""
    h, _ = conv_forward(x, p["conv1_w"], p["conv1_b"])
    h = np.maximum(bn_forward_eval(h, p["bn1_g"], p["bn1_b"], s["bn1_mean"], s["bn1_var"]), 0)
    h, _ = maxpool2_forward(h)
    h, _ = conv_forward(h, p["conv2_w"], p["conv2_b"])
    h = np.maximum(bn_forward_eval(h, p["bn2_g"], p["bn2_b"], s["bn2_mean"], s["bn2_var"]), 0)
    h, _ = maxpool2_forward(h)
    h = nhwc_flatten(h)
    h = np.maximum(h @ p["fc1_w"].T + p["fc1_b"], 0)
    return (h @ p["fc2_w"].T + p["fc2_b"]).astype(np.float32)


def train_step(p, s, x, y):
    """One forward/backward pass with batch statistics; returns (loss, n correct, grads) and
    updates the running statistics in s."""
    n = x.shape[0]
    c1, cols1 = conv_forward(x, p["conv1_w"], p["conv1_b"])
    b1, bn1c, m1, v1 = bn_forward_train(c1, p["bn1_g"], p["bn1_b"])
    r1 = np.maximum(b1, 0)
    p1, pc1 = maxpool2_forward(r1)
    c2, cols2 = conv_forward(p1, p["conv2_w"], p["conv2_b"])
    b2, bn2c, m2, v2 = bn_forward_train(c2, p["bn2_g"], p["bn2_b"])
    r2 = np.maximum(b2, 0)
    p2, pc2 = maxpool2_forward(r2)
    f = nhwc_flatten(p2)
    h1 = f @ p["fc1_w"].T + p["fc1_b"]
    a1 = np.maximum(h1, 0)
    logits = a1 @ p["fc2_w"].T + p["fc2_b"]

    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    loss = float((lse - z[np.arange(n), y]).mean())
    correct = int((logits.argmax(axis=1) == y).sum())

    prob = np.exp(z - lse[:, None])
    prob[np.arange(n), y] -= 1.0
    dlogits = (prob / n).astype(np.float32)

    g = {}
    g["fc2_w"] = dlogits.T @ a1
    g["fc2_b"] = dlogits.sum(axis=0)
    da1 = dlogits @ p["fc2_w"]
    dh1 = da1 * (h1 > 0)
    g["fc1_w"] = dh1.T @ f
    g["fc1_b"] = dh1.sum(axis=0)
    df = dh1 @ p["fc1_w"]
    dp2 = df.reshape(n, 32, 7, 7).transpose(0, 2, 3, 1)
    dr2 = maxpool2_backward(dp2, pc2)
    db2 = dr2 * (b2 > 0)
    dc2, g["bn2_g"], g["bn2_b"] = bn_backward(db2, bn2c, p["bn2_g"])
    dp1, g["conv2_w"], g["conv2_b"] = conv_backward(dc2, cols2, p["conv2_w"], p1.shape, True)
    dr1 = maxpool2_backward(dp1, pc1)
    db1 = dr1 * (b1 > 0)
    dc1, g["bn1_g"], g["bn1_b"] = bn_backward(db1, bn1c, p["bn1_g"])
    _, g["conv1_w"], g["conv1_b"] = conv_backward(dc1, cols1, p["conv1_w"], x.shape, False)

    for name, mean, var, cnt in (("bn1", m1, v1, c1.size // 16), ("bn2", m2, v2, c2.size // 32)):
        unbiased = var * (cnt / (cnt - 1))
        s[name + "_mean"] = ((1 - BN_MOMENTUM) * s[name + "_mean"] + BN_MOMENTUM * mean).astype(np.float32)
        s[name + "_var"] = ((1 - BN_MOMENTUM) * s[name + "_var"] + BN_MOMENTUM * unbiased).astype(np.float32)
    # The conv biases feed a BatchNormalization, which cancels them: their true gradient is 0
    # (what backprop gives is rounding noise, which Adam would amplify), so they stay at 0.
    del g["conv1_b"], g["conv2_b"]
    return loss, correct, {k: v.astype(np.float32) for k, v in g.items()}


class Adam:
    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params, grads, lr):
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            upd = lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)
            params[k] = (params[k] - upd).astype(np.float32)


def evaluate(p, s, x, y, batch=1000):
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((forward_eval(p, s, x[i:i + batch]).argmax(axis=1) == y[i:i + batch]).sum())
    return correct / len(x)


# ----------------------------------------------------------------------------- export

def export_onnx(p, s, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def init(name, arr):
        return numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name)

    inits = [
        init("conv1.weight", p["conv1_w"]), init("conv1.bias", p["conv1_b"]),
        init("bn1.scale", p["bn1_g"]), init("bn1.bias", p["bn1_b"]),
        init("bn1.mean", s["bn1_mean"]), init("bn1.var", s["bn1_var"]),
        init("conv2.weight", p["conv2_w"]), init("conv2.bias", p["conv2_b"]),
        init("bn2.scale", p["bn2_g"]), init("bn2.bias", p["bn2_b"]),
        init("bn2.mean", s["bn2_mean"]), init("bn2.var", s["bn2_var"]),
        init("fc1.weight", p["fc1_w"]), init("fc1.bias", p["fc1_b"]),
        init("fc2.weight", p["fc2_w"]), init("fc2.bias", p["fc2_b"]),
    ]
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1)
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1", **conv),
        helper.make_node("BatchNormalization", ["conv1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"], ["bn1"],
                         name="bn1", epsilon=BN_EPS, momentum=1.0 - BN_MOMENTUM),
        helper.make_node("Relu", ["bn1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", **pool),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2", **conv),
        helper.make_node("BatchNormalization", ["conv2", "bn2.scale", "bn2.bias", "bn2.mean", "bn2.var"], ["bn2"],
                         name="bn2", epsilon=BN_EPS, momentum=1.0 - BN_MOMENTUM),
        helper.make_node("Relu", ["bn2"], ["relu2"], name="relu2"),
        helper.make_node("MaxPool", ["relu2"], ["pool2"], name="pool2", **pool),
        helper.make_node("Flatten", ["pool2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu3"], name="relu3"),
        helper.make_node("Gemm", ["relu3", "fc2.weight", "fc2.bias"], ["logits"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "fashion_mnist_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="fgq scripts/train_fashion_mnist.py", producer_version="1")
    model.ir_version = 7  # the IR version that came with opset 13 (ONNX 1.8)
    model.doc_string = ("Fashion-MNIST CNN trained by fgq's scripts/train_fashion_mnist.py; "
                        "input: pixel / 255, NCHW [1,1,28,28]; output: logits of the 10 classes")
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return model


def verify_with_ort(path, p, s, x_test, y_test):
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    nchw = x_test.transpose(0, 3, 1, 2)
    ref = forward_eval(p, s, x_test[:100])
    ort_logits = np.stack([sess.run(["logits"], {"image": nchw[i:i + 1]})[0][0] for i in range(100)])
    diff = float(np.abs(ort_logits - ref).max())
    print(f"ONNX Runtime vs NumPy logits on 100 test images: max abs diff {diff:.3g}")
    if not diff < 1e-4:
        raise SystemExit(f"error: exported model disagrees with the NumPy model (max abs diff {diff})")
    correct = 0
    for i in range(len(nchw)):
        correct += int(sess.run(["logits"], {"image": nchw[i:i + 1]})[0][0].argmax() == y_test[i])
    print(f"ONNX Runtime test top-1: {correct / len(nchw):.4f} ({correct} / {len(nchw)})")
    return correct / len(nchw)


# ----------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA, help="folder of the IDX .gz files")
    ap.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="ONNX file to write")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (cosine decay to 0)")
    args = ap.parse_args(argv)

    x_train, y_train = load_split(args.data, "train")
    x_test, y_test = load_split(args.data, "test")
    print(f"train {x_train.shape[0]} / test {x_test.shape[0]} images; seed {args.seed}, "
          f"{args.epochs} epochs, batch {args.batch}, Adam lr {args.lr} cosine")
    rng = np.random.default_rng(args.seed)
    p, s = init_params(rng)
    opt = Adam(p, args.lr)
    steps_per_epoch = len(x_train) // args.batch  # the last partial batch is dropped
    total = steps_per_epoch * args.epochs
    step = 0
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            idx = order[b * args.batch:(b + 1) * args.batch]
            xb = x_train[idx]
            flip = rng.random(len(idx)) < 0.5  # horizontal flips: the classes are left-right symmetric
            xb[flip] = xb[flip, :, ::-1, :]
            loss, c, g = train_step(p, s, xb, y_train[idx])
            lr = 0.5 * args.lr * (1 + np.cos(np.pi * step / total))
            opt.step(p, g, lr)
            step += 1
            loss_sum += loss * len(idx)
            correct += c
            seen += len(idx)
        test_acc = evaluate(p, s, x_test, y_test)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / seen:.4f}, train top-1 {correct / seen:.4f}, "
              f"test top-1 {test_acc:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"training took {time.perf_counter() - t0:.0f} s")

    export_onnx(p, s, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    verify_with_ort(args.out, p, s, x_test, y_test)
    return 0


if __name__ == "__main__":
    sys.exit(main())
