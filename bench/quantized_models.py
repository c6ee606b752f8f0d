#!/usr/bin/env python3
"""Quantized latency of real models: fgq's integer-only runtime against ONNX Runtime running
the QDQ model that `fgq export` writes from the same .fgq, in the same run.

For each model (mnist-8 and the four MLPerf Tiny v0.7 models), weight policy and thread count N:
  quantize  `fgq quantize MODEL.onnx --calib C --weights P -o M.fgq` (u8 activations; the
            default first/last policy: s8 for ternary). Calibration: MNIST test images 0-199
            for mnist-8; for the Tiny models (no data set here) 64 inputs uniform in [-1, 1)
            from a fixed seed, which sets the ranges but not the latency
  fgq       `fgq bench M.fgq --json --runs R --warmup W --threads N`
  ORT QDQ   `fgq export M.fgq --onnx M.onnx`, InferenceSession(intra_op_num_threads=N,
            inter_op_num_threads=1, ORT_ENABLE_ALL, ORT_SEQUENTIAL): ORT fuses the QDQ pairs
            into its int8 kernels (QLinearConv, MatMulInteger, ...) where it can
  ORT f32   the float MODEL.onnx, same session options, for scale
Inputs: batch 1, uniform in [-1, 1) (fgq bench draws its own with a fixed seed). Latency: median
(p50) of R runs, in ms; ORT's figures include ~5 us of Python call overhead per run.
Ratio = ORT QDQ p50 / fgq p50 (> 1: fgq faster).

usage: bench/quantized_models.py [--fgq build/fgq] [--runs 200] [--warmup 20] [--threads 1,2]
                                 [--models mnist8,ic,kws,vww,ad] [--weights s8,ternary:g64]
                                 [--json FILE]
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from float_models import (MODELS, REPO, add_common_args, fgq_bench, fmt, ort_bench, ort_feed,  # noqa: E402
                          resolve_common_args)


def calib_file(name, model_path, tmp):
    """Calibration samples for `name` as an .npy (or the MNIST IDX file)."""
    if name == "mnist8":
        return str(REPO / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"), ["--calib-samples", "0:200"]
    feed = ort_feed(model_path)
    (shape,) = [v.shape for v in feed.values()]
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, size=(64,) + tuple(shape[1:])).astype(np.float32)
    p = pathlib.Path(tmp) / f"{name}.calib.npy"
    np.save(p, x)
    return str(p), []


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (rc {p.returncode}): {p.stderr.strip()}")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--weights", default="s8,ternary:g64")
    a = ap.parse_args()
    fgq, threads, names = resolve_common_args(a)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            onnx_path = MODELS[name]
            calib, extra = calib_file(name, onnx_path, tmp)
            f32 = {n: ort_bench(onnx_path, a.runs, a.warmup, n) for n in threads}
            for pol in a.weights.split(","):
                tag = pol.replace(":", "-")
                m_fgq = pathlib.Path(tmp) / f"{name}.{tag}.fgq"
                m_qdq = pathlib.Path(tmp) / f"{name}.{tag}.onnx"
                run([str(fgq), "quantize", str(onnx_path), "--calib", calib, *extra, "--weights", pol,
                     "-o", str(m_fgq)])
                run([str(fgq), "export", str(m_fgq), "--onnx", str(m_qdq)])
                for n in threads:
                    f, why = fgq_bench(fgq, m_fgq, a.runs, a.warmup, n)
                    o = ort_bench(m_qdq, a.runs, a.warmup, n)
                    rows.append({"model": name, "weights": pol, "threads": n, "runs": a.runs,
                                 "fgq": None if f is None else f["latency_ms"], "fgq_refused": why,
                                 "ort_qdq": o, "ort_f32": f32[n],
                                 "ratio_ort_qdq_over_fgq": None if f is None else o["p50"] / f["latency_ms"]["p50"],
                                 "weight_bytes": None if f is None else f["weight_bytes"],
                                 "arena_bytes": None if f is None else f["arena_bytes"]})
                    print(f"# {name} {pol} threads={n} done", file=sys.stderr, flush=True)

    print(f"fgq integer-only vs ONNX Runtime {ort.__version__} on fgq's QDQ export, batch 1, "
          f"{a.runs} runs after {a.warmup} warm-up; p50 ms")
    print("| model | weights | threads | fgq p50 | ORT QDQ p50 | ORT QDQ/fgq | ORT f32 p50 | weight bytes | arena bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["fgq"] or {}
        print(f"| {r['model']} | {r['weights']} | {r['threads']} | {fmt(f.get('p50'))} | {fmt(r['ort_qdq']['p50'])} | "
              f"{fmt(r['ratio_ort_qdq_over_fgq'], '.2f')} | {fmt(r['ort_f32']['p50'])} | "
              f"{fmt(r['weight_bytes'], ',')} | {fmt(r['arena_bytes'], ',')} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"onnxruntime": ort.__version__, "runs": a.runs, "warmup": a.warmup, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
