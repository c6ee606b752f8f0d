#!/usr/bin/env python3
"""Train a ResNet-8 (MLPerf Tiny image-classification shape) on CIFAR-10 with torch on the CPU and
export it to ONNX for fgq.

Inputs (--data, default $FGQ_CACHE/cifar10, written by cifar10_prepare.py):
  train_x.npy / train_y.npy / test_x.npy / test_y.npy (uint8 NCHW pixels, int64 labels).
Outputs (into --data):
  resnet8.onnx   opset 13, input "input" float [batch, 3, 32, 32] (symbolic batch; fgq binds it to 1),
                 output "logits" [batch, 10]; BatchNormalization left in (fgq folds it).
  resnet8.pt     the torch state_dict.
  resnet8.json   seed, epochs, train time, torch test accuracy, onnxruntime test accuracy, params.

Model (MLPerf Tiny resnet8, keras_model.py): conv3x3 16 + BN + ReLU; three residual stacks of
16, 32, 64 filters with strides 1, 2, 2, each conv3x3+BN+ReLU, conv3x3+BN, shortcut = identity
(stack 1) or a 1x1 conv with the stack's stride (stacks 2, 3), add, ReLU; global average pool;
dense 10. Convs carry a bias as in the Keras model: 78,186 trainable parameters (fgq inspect
counts 78,666 with the BN running statistics).

Preprocessing (the same at training and for fgq): x = (pixel - 127.5) / 128 on the uint8 RGB
pixels, i.e. fgq flags `--mean 127.5 --std 128`.
Training: random crop 32 with 4-pixel zero padding + horizontal flip, SGD momentum 0.9 nesterov,
weight decay 5e-4 (not on BN/bias), one-cycle LR (max --lr), label smoothing 0.1, batch 128,
torch.set_num_threads(--threads). Everything seeded (--seed). Run with a python that has
torch + onnxruntime (here: $FGQ_CACHE/venv/bin/python, see docs/real-models.md).

Usage: python scripts/realdata/cifar10_train_resnet8.py [--epochs 18] [--data DIR]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cache_dir  # noqa: E402

MEAN, STD = 127.5, 128.0


class Stack(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Conv2d(cin, cout, 1, stride, 0) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.short is None else self.short(x)
        return F.relu(y + s)


class ResNet8(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 3, 1, 1)
        self.bn0 = nn.BatchNorm2d(16)
        self.stack1 = Stack(16, 16, 1)
        self.stack2 = Stack(16, 32, 2)
        self.stack3 = Stack(32, 64, 2)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv0(x)))
        x = self.stack3(self.stack2(self.stack1(x)))
        x = F.adaptive_avg_pool2d(x, 1)        # -> GlobalAveragePool
        return self.fc(torch.flatten(x, 1))    # -> Flatten, Gemm


def augment(xb, gen):
    """xb: float [B,3,32,32] already normalised. Random crop with 4-pixel zero pad + h-flip."""
    b = xb.shape[0]
    padded = F.pad(xb, (4, 4, 4, 4))
    ox = torch.randint(0, 9, (b,), generator=gen)
    oy = torch.randint(0, 9, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    idx = torch.arange(32)
    rows = (oy[:, None] + idx[None, :])                      # [B,32]
    cols = (ox[:, None] + idx[None, :])
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    out = padded[torch.arange(b)[:, None, None, None], torch.arange(3)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    return out.contiguous()


def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            xb = (torch.from_numpy(x[i:i + bs]).float() - MEAN) / STD
            correct += (model(xb).argmax(1).numpy() == y[i:i + bs]).sum()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(cache_dir(), "cifar10"))
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: load DATA/resnet8.pt, export and check resnet8.onnx, update resnet8.json")
    ap.add_argument("--limit-batches", type=int, default=0, help="debug: stop each epoch after N batches")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(args.seed)

    d = args.data
    tx, ty = np.load(os.path.join(d, "train_x.npy")), np.load(os.path.join(d, "train_y.npy"))
    vx, vy = np.load(os.path.join(d, "test_x.npy")), np.load(os.path.join(d, "test_y.npy"))
    model = ResNet8()
    nparams = sum(p.numel() for p in model.parameters())
    print("ResNet-8: %d parameters" % nparams, flush=True)
    json_path = os.path.join(d, "resnet8.json")
    if args.export_only:
        model.load_state_dict(torch.load(os.path.join(d, "resnet8.pt"), map_location="cpu"))
        with open(json_path) as f:
            old = json.load(f)
        train_s = old["train_seconds"]
        for k in ("seed", "epochs", "batch", "threads"):
            setattr(args, k, old[k])
        args.lr, args.wd = old["max_lr"], old["weight_decay"]
        test_acc = float(evaluate(model, vx, vy))
        print("loaded resnet8.pt: torch test accuracy %.4f" % test_acc, flush=True)
    else:
        txf = (torch.from_numpy(tx).float() - MEAN) / STD
        tyt = torch.from_numpy(ty)

        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
        opt = torch.optim.SGD([{"params": decay, "weight_decay": args.wd},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=args.lr, momentum=0.9, nesterov=True)
        steps_per_epoch = len(tx) // args.batch
        if args.limit_batches:
            steps_per_epoch = min(steps_per_epoch, args.limit_batches)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.25,
                                                    div_factor=10.0, final_div_factor=100.0)
        crit = nn.CrossEntropyLoss(label_smoothing=0.1)
        t0 = time.time()
        for ep in range(args.epochs):
            model.train()
            perm = torch.randperm(len(tx), generator=gen)
            tl, tc, tn = 0.0, 0, 0
            for s in range(steps_per_epoch):
                idx = perm[s * args.batch:(s + 1) * args.batch]
                xb = augment(txf[idx], gen)
                yb = tyt[idx]
                out = model(xb)
                loss = crit(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                tl += loss.item() * len(idx)
                tc += (out.argmax(1) == yb).sum().item()
                tn += len(idx)
            acc = evaluate(model, vx, vy) if (ep % 5 == 4 or ep == args.epochs - 1) else float("nan")
            print("epoch %2d/%d  loss %.4f  train-acc %.4f  test-acc %.4f  lr %.4f  %.0f s" % (
                ep + 1, args.epochs, tl / tn, tc / tn, acc, sched.get_last_lr()[0], time.time() - t0), flush=True)
        train_s = time.time() - t0
        test_acc = float(evaluate(model, vx, vy))
        print("train time %.1f s, torch test accuracy %.4f" % (train_s, test_acc), flush=True)
        torch.save(model.state_dict(), os.path.join(d, "resnet8.pt"))

    model.eval()
    onnx_path = os.path.join(d, "resnet8.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 32, 32), onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True, training=torch.onnx.TrainingMode.PRESERVE)  # model.eval(): keeps BN
    ort_acc = None
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        correct = 0
        for i in range(0, len(vx), 500):
            xb = ((vx[i:i + 500].astype(np.float32) - MEAN) / STD).astype(np.float32)
            correct += (sess.run(None, {"input": xb})[0].argmax(1) == vy[i:i + 500]).sum()
        ort_acc = float(correct / len(vx))
        print("onnxruntime test accuracy %.4f (%s)" % (ort_acc, onnx_path), flush=True)
    except ImportError:
        print("onnxruntime not importable: ONNX file not checked", flush=True)
    info = {"model": "resnet8", "params": nparams, "seed": args.seed, "epochs": args.epochs,
            "batch": args.batch, "max_lr": args.lr, "weight_decay": args.wd, "threads": args.threads,
            "train_seconds": round(train_s, 1), "torch_test_top1": test_acc, "onnxruntime_test_top1": ort_acc,
            "test_samples": int(len(vx)), "preprocessing": "x = (pixel - 127.5) / 128",
            "fgq_flags": "--mean 127.5 --std 128", "torch": torch.__version__}
    with open(json_path, "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
