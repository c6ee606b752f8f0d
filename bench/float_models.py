#!/usr/bin/env python3
"""Float latency of real models: fgq's float runtime against ONNX Runtime, in the same run.

For each model (mnist-8 and the four MLPerf Tiny v0.7 models) and each thread count N:
  fgq:  `fgq convert MODEL.onnx -o M.fgq`, then `fgq bench M.fgq --json --runs R --warmup W --threads N`
  ORT:  InferenceSession(intra_op_num_threads=N, inter_op_num_threads=1, ORT_ENABLE_ALL graph
        optimizations, ORT_SEQUENTIAL execution), W untimed runs then R timed runs of one
        inference each (time.perf_counter_ns around session.run).
Inputs: batch 1 (symbolic dims bound to 1), uniform in [-1, 1): fgq bench draws its own with a
fixed seed, ORT gets one draw from NumPy's generator with a fixed seed. Latencies: median (p50)
and 99th percentile (p99) over the R runs, in ms. Ratio = ORT p50 / fgq p50 (> 1: fgq faster).
Where `fgq bench --threads N` is refused (exit 2: a build without multi-threading), that row
reads n/a for fgq.

usage: bench/float_models.py [--fgq build/fgq] [--runs 200] [--warmup 20] [--threads 1,2]
                             [--models mnist8,ic,kws,vww,ad] [--json FILE]
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("FGQ_SHARED", REPO.parent / "shared"))
MODELS = {
    "mnist8": REPO / "examples" / "mnist-8" / "model.onnx",
    "ic": SHARED / "models" / "tiny-v0.7" / "model_ic.onnx",
    "kws": SHARED / "models" / "tiny-v0.7" / "model_kws.onnx",
    "vww": SHARED / "models" / "tiny-v0.7" / "model_vww.onnx",
    "ad": SHARED / "models" / "tiny-v0.7" / "model_ad.onnx",
}
# Larger networks, not in the repository (licences, size), from the cache the scripts build:
# scripts/model_zoo.py exports torchvision's models with random weights (speed does not depend on
# them) into $FGQ_CACHE/zoo; scripts/realdata/efficientnet_lite_export.py the EfficientNet-Lite1
# ImageNet model into $FGQ_CACHE/imagenet. Named with --models; missing files exit with their path.
CACHE = pathlib.Path(os.environ.get("FGQ_CACHE", pathlib.Path.home() / ".cache" / "fgq"))
CACHED_MODELS = {
    "resnet18": CACHE / "zoo" / "resnet18.onnx",
    "resnet50": CACHE / "zoo" / "resnet50.onnx",
    "mobilenet_v2": CACHE / "zoo" / "mobilenet_v2.onnx",
    "mobilenet_v3_large": CACHE / "zoo" / "mobilenet_v3_large.onnx",
    "efficientnet_lite1": CACHE / "imagenet" / "efficientnet_lite1.onnx",
}
MODELS.update(CACHED_MODELS)
DEFAULT_MODELS = "mnist8,ic,kws,vww,ad"


def fgq_bench(fgq, model_fgq, runs, warmup, threads):
    """`fgq bench --json`; None when the build refuses this thread count (exit 2)."""
    p = subprocess.run([str(fgq), "bench", str(model_fgq), "--json", "--runs", str(runs), "--warmup", str(warmup),
                        "--threads", str(threads)], capture_output=True, text=True)
    if p.returncode == 2 and threads != 1:
        return None, p.stderr.strip().splitlines()[0] if p.stderr.strip() else "exit 2"
    if p.returncode != 0:
        sys.exit(f"fgq bench {model_fgq} --threads {threads} failed (rc {p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout), None


def ort_feed(model_path, seed=1):
    m = onnx.load(str(model_path))
    init = {t.name for t in m.graph.initializer}
    rng = np.random.default_rng(seed)
    feed = {}
    for i in m.graph.input:
        if i.name in init:
            continue
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                 for d in i.type.tensor_type.shape.dim]
        feed[i.name] = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return feed


def ort_bench(model_path, runs, warmup, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    feed = ort_feed(model_path)
    for _ in range(warmup):
        sess.run(None, feed)
    t = np.empty(runs)
    for k in range(runs):
        t0 = time.perf_counter_ns()
        sess.run(None, feed)
        t[k] = (time.perf_counter_ns() - t0) / 1e6
    return {"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99)), "mean": float(t.mean()),
            "min": float(t.min())}


def add_common_args(ap):
    """The options float_models.py and quantized_models.py share."""
    ap.add_argument("--fgq", default=os.environ.get("FGQ_BIN", str(REPO / "build" / "fgq")))
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help="comma-separated; besides the default: " + ",".join(CACHED_MODELS) + " (from $FGQ_CACHE)")
    ap.add_argument("--json", metavar="FILE")


def resolve_common_args(a):
    """(fgq binary, thread counts, model names) from add_common_args' options; exits on a bad one."""
    fgq = pathlib.Path(a.fgq)
    if not fgq.exists():
        sys.exit(f"{fgq}: no fgq binary (build it, or pass --fgq)")
    names = a.models.split(",")
    for n in names:
        if n not in MODELS or not MODELS[n].exists():
            sys.exit(f"model {n}: {MODELS.get(n, 'unknown name')} not found")
    return fgq, [int(t) for t in a.threads.split(",")], names


def cpu_description():
    """lscpu's model name and the SIMD flags the kernels dispatch on (benchmark tables record both)."""
    name, flags = platform.processor() or "unknown CPU", []
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                name = v.strip()
            elif k.strip() == "Flags":
                have = set(v.split())
                flags = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                                     "amx_tile", "amx_int8") if f in have]
    except OSError:
        pass
    return {"model_name": name, "flags": flags, "cores": os.cpu_count()}


def fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    a = ap.parse_args()
    fgq, threads, names = resolve_common_args(a)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            onnx_path = MODELS[name]
            fgq_path = pathlib.Path(tmp) / f"{name}.fgq"
            p = subprocess.run([str(fgq), "convert", str(onnx_path), "-o", str(fgq_path)], capture_output=True,
                               text=True)
            if p.returncode != 0:
                sys.exit(f"fgq convert {onnx_path} failed: {p.stderr.strip()}")
            model_rows = []
            for n in threads:
                f, why = fgq_bench(fgq, fgq_path, a.runs, a.warmup, n)
                o = ort_bench(onnx_path, a.runs, a.warmup, n)
                row = {"model": name, "threads": n, "runs": a.runs,
                       "fgq": None if f is None else {"p50": f["latency_ms"]["p50"], "p99": f["latency_ms"]["p99"],
                                                      "mean": f["latency_ms"]["mean"], "min": f["latency_ms"]["min"]},
                       "fgq_refused": why, "ort": o,
                       "ratio_ort_over_fgq": None if f is None else o["p50"] / f["latency_ms"]["p50"]}
                for k in ("arena_bytes", "arena_lower_bound", "weight_bytes"):
                    row[k] = None if f is None else f[k]
                model_rows.append(row)
                print(f"# {name} threads={n} done", file=sys.stderr, flush=True)
            # the plan does not depend on the thread count: show it on refused rows too
            known = next((r for r in model_rows if r["arena_bytes"] is not None), None)
            for r in model_rows:
                if known is not None and r["arena_bytes"] is None:
                    for k in ("arena_bytes", "arena_lower_bound", "weight_bytes"):
                        r[k] = known[k]
            rows += model_rows

    print(f"fgq float path vs ONNX Runtime {ort.__version__}, batch 1, {a.runs} runs after {a.warmup} warm-up; ms")
    print("| model | threads | fgq p50 | fgq p99 | ORT p50 | ORT p99 | ORT/fgq | arena bytes | lower bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["fgq"] or {}
        print(f"| {r['model']} | {r['threads']} | {fmt(f.get('p50'))} | {fmt(f.get('p99'))} | {fmt(r['ort']['p50'])} | "
              f"{fmt(r['ort']['p99'])} | {fmt(r['ratio_ort_over_fgq'], '.2f')} | {fmt(r['arena_bytes'], 'd')} | "
              f"{fmt(r['arena_lower_bound'], 'd')} |")
    for r in rows:
        if r["fgq_refused"]:
            print(f"note: {r['model']} --threads {r['threads']}: fgq refused: {r['fgq_refused']}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"onnxruntime": ort.__version__, "runs": a.runs, "warmup": a.warmup, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
