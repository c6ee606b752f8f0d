#!/usr/bin/env python3
"""Quantized latency end to end: fgq's integer-only runtime against ONNX Runtime's int8 path and
its float path, in the same run, batch 1.

For each model, weight policy and thread count N:
  fgq         `fgq quantize MODEL.onnx --calib C --weights P --solver rtn -o M.fgq` (u8
              activations; the default first/last policy: s8 for ternary; the solver does not
              change the latency, rtn keeps the run short), then
              `fgq bench M.fgq --json --runs R --warmup W --threads N`
  ORT static  ONNX Runtime's own int8 model: onnxruntime.quantization.quantize_static on the
              float model (after quant_pre_process where it succeeds), QDQ format, per-channel
              s8 weights, u8 activations, calibrated on the same samples: the model ORT fuses
              into its int8 kernels (QLinearConv, QGemm, ...). Once per model
  ORT fgq-QDQ ORT running the QDQ model `fgq export M.fgq --onnx` writes from the same .fgq
              (per-channel weights in the consumer's own shape, so ORT fuses them too)
  ORT f32     the float MODEL.onnx
ORT sessions: intra_op_num_threads=N, inter_op_num_threads=1, ORT_ENABLE_ALL, ORT_SEQUENTIAL.
Calibration: MNIST test images 0-199 for mnist-8; for the others (no data set, or random
weights) 8-64 inputs uniform in [-1, 1) from a fixed seed, which set the ranges but not the
latency. Latency: median (p50) of R runs, in ms; ORT's figures include ~5 us of Python call
overhead per run. Ratios (> 1: fgq faster): best int8 peer p50 / fgq p50, where the best peer is
the faster of ORT static and ORT fgq-QDQ; and fgq p50 / ORT f32 p50 (the issue's goal: <= 0.5).
TensorFlow Lite is not among the peers: making a .tflite of these networks needs TensorFlow or
ai-edge-torch, which this machine's registries do not give without GPU wheels (docs/benchmarks.md).

usage: bench/quantized_models.py [--fgq build/fgq] [--runs 200] [--warmup 20] [--threads 1,2]
                                 [--models mnist8,ic,kws,vww,ad[,resnet18,...]]
                                 [--weights s8,ternary:g64] [--json FILE]
"""
import argparse
import gzip
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from float_models import (MODELS, REPO, add_common_args, cpu_description, fgq_bench, fmt, ort_bench,  # noqa: E402
                          ort_feed, resolve_common_args)


def calib_samples(name, model_path):
    """(fgq --calib argument list, {input name: [n, ...] float32} for ORT's calibration)."""
    feed = ort_feed(model_path)
    (iname, x1), = feed.items()
    if name == "mnist8":
        with gzip.open(REPO / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz") as fh:
            raw = np.frombuffer(fh.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:200]
        idx = str(REPO / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz")
        return ["--calib", idx, "--calib-samples", "0:200"], raw.astype(np.float32), iname
    per = int(np.prod(x1.shape))
    n = 64 if per <= 100_000 else 8
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, size=(n,) + tuple(x1.shape[1:])).astype(np.float32)
    return None, x, iname


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed (rc {p.returncode}): {p.stderr.strip()}")
    return p


def ort_static(onnx_path, x, iname, out, tmp):
    """ORT's quantize_static QDQ model of onnx_path (per channel, u8 activations, s8 weights)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{iname: x[i:i + 1]} for i in range(len(x))])

        def get_next(self):
            return next(self.it, None)

    src = pathlib.Path(tmp) / (pathlib.Path(out).stem + ".pre.onnx")
    m = onnx.load(str(onnx_path))
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 13)
    if opset < 13:  # per-channel DequantizeLinear (axis) needs opset 13
        from onnx import version_converter
        onnx_path = pathlib.Path(tmp) / (pathlib.Path(out).stem + ".opset13.onnx")
        onnx.save(version_converter.convert_version(m, 13), str(onnx_path))
    try:
        quant_pre_process(str(onnx_path), str(src))
    except Exception as e:  # noqa: BLE001 -- ORT's pre-processing is optional; the raw model quantizes too
        print(f"# quant_pre_process {onnx_path.name}: {type(e).__name__}: {e}; quantizing the model as it is",
              file=sys.stderr)
        src = onnx_path
    quantize_static(str(src), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    # ORT 1.23's weight-scale adjustment for int32 biases fails on per-channel scales
                    # (a NumPy truth-value error); it only touches tiny-scale channels, not the speed
                    extra_options={"QDQDisableWeightAdjustForInt32Bias": True})


def fused_ops(path):
    """Op counts of ORT's optimized graph: how much of the model runs on its int8 kernels."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory() as t:
        so.optimized_model_filepath = str(pathlib.Path(t) / "o.onnx")
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        m = onnx.load(so.optimized_model_filepath, load_external_data=False)
    c = {}
    for n in m.graph.node:
        c[n.op_type] = c.get(n.op_type, 0) + 1
    return {"int8": sum(v for k, v in c.items() if k in ("QLinearConv", "QGemm", "QLinearMatMul", "MatMulInteger",
                                                          "ConvInteger", "DynamicQuantizeMatMul")),
            "float_conv_gemm": sum(v for k, v in c.items() if k in ("Conv", "FusedConv", "Gemm", "MatMul",
                                                                     "FusedMatMul"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--weights", default="s8,ternary:g64")
    a = ap.parse_args()
    fgq, threads, names = resolve_common_args(a)
    cpu = cpu_description()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            onnx_path = MODELS[name]
            fgq_calib, x, iname = calib_samples(name, onnx_path)
            if fgq_calib is None:
                p = pathlib.Path(tmp) / f"{name}.calib.npy"
                np.save(p, x)
                fgq_calib = ["--calib", str(p)]
            f32 = {n: ort_bench(onnx_path, a.runs, a.warmup, n) for n in threads}
            m_static = pathlib.Path(tmp) / f"{name}.ort-static.onnx"
            ort_static(onnx_path, x, iname, m_static, tmp)
            static = {n: ort_bench(m_static, a.runs, a.warmup, n) for n in threads}
            static_ops = fused_ops(m_static)
            print(f"# {name}: ORT float and ORT static done", file=sys.stderr, flush=True)
            for pol in a.weights.split(","):
                tag = pol.replace(":", "-")
                m_fgq = pathlib.Path(tmp) / f"{name}.{tag}.fgq"
                m_qdq = pathlib.Path(tmp) / f"{name}.{tag}.onnx"
                run([str(fgq), "quantize", str(onnx_path), *fgq_calib, "--weights", pol, "--solver", "rtn",
                     "-o", str(m_fgq)])
                run([str(fgq), "export", str(m_fgq), "--onnx", str(m_qdq)])
                qdq_ops = fused_ops(m_qdq)
                for n in threads:
                    f, why = fgq_bench(fgq, m_fgq, a.runs, a.warmup, n)
                    o = ort_bench(m_qdq, a.runs, a.warmup, n)
                    best = min(static[n]["p50"], o["p50"])
                    fp = None if f is None else f["latency_ms"]["p50"]
                    rows.append({"model": name, "weights": pol, "threads": n, "runs": a.runs,
                                 "fgq": None if f is None else f["latency_ms"], "fgq_refused": why,
                                 "fgq_kernels": None if f is None else f.get("kernels"),
                                 "ort_static": static[n], "ort_static_ops": static_ops,
                                 "ort_fgq_qdq": o, "ort_fgq_qdq_ops": qdq_ops, "ort_f32": f32[n],
                                 "best_int8_peer_over_fgq": None if fp is None else best / fp,
                                 "fgq_over_ort_f32": None if fp is None else fp / f32[n]["p50"],
                                 "weight_bytes": None if f is None else f["weight_bytes"],
                                 "arena_bytes": None if f is None else f["arena_bytes"]})
                    print(f"# {name} {pol} threads={n} done", file=sys.stderr, flush=True)

    print(f"fgq integer-only vs ONNX Runtime {ort.__version__} (its own quantize_static int8 model, fgq's QDQ "
          f"export, float), batch 1, {a.runs} runs after {a.warmup} warm-up; p50 ms")
    print(f"CPU: {cpu['model_name']}, {cpu['cores']} cores; flags: {' '.join(cpu['flags'])}")
    print("| model | weights | threads | fgq | ORT static int8 | ORT fgq-QDQ | best int8 peer / fgq | ORT f32 "
          "| fgq / ORT f32 | weight bytes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["fgq"] or {}
        print(f"| {r['model']} | {r['weights']} | {r['threads']} | {fmt(f.get('p50'))} | "
              f"{fmt(r['ort_static']['p50'])} | {fmt(r['ort_fgq_qdq']['p50'])} | "
              f"{fmt(r['best_int8_peer_over_fgq'], '.2f')} | {fmt(r['ort_f32']['p50'])} | "
              f"{fmt(r['fgq_over_ort_f32'], '.2f')} | {fmt(r['weight_bytes'], ',')} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"onnxruntime": ort.__version__, "cpu": cpu, "runs": a.runs, "warmup": a.warmup,
                       "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
