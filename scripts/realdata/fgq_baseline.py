#!/usr/bin/env python3
"""Measure an fgq binary on a real model: float accuracy (`fgq eval MODEL.onnx`) and, for each weight
policy, `fgq quantize` + `fgq eval` of the quantized model. Writes a Markdown report with every
command run and a results table, plus the raw JSON.

Inputs: --fgq (the fgq binary to measure; e.g. a copy of build/fgq), --model (float ONNX),
--calib (.npy calibration samples) and --calib-samples A:B, --data/--labels (evaluation set) and
optional --samples A:B, the preprocessing flags --scale/--mean/--std (passed to quantize and eval),
--policies (comma list; default s8,s4:g32,ternary:g4:exact,ternary:g16:exact,ternary:g64:exact),
--threads for eval. Extra quantize flags: --quant-args "..." (e.g. "--acts s8").
Outputs: --report FILE.md (appended if --append, else overwritten) and FILE.json next to it;
quantized models under --workdir (default /tmp/fgq-baseline-work).

Defaults are the ResNet-8 / CIFAR-10 baseline of docs/real-models.md:
  python3 scripts/realdata/fgq_baseline.py --fgq build/fgq \\
      --report $FGQ_CACHE/baseline.md
(any python3 with only the standard library works.)
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cache_dir  # noqa: E402

DEFAULT_POLICIES = "s8,s4:g32,ternary:g4:exact,ternary:g16:exact,ternary:g64:exact"


def run(cmd, log):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.time() - t0
    log.append((" ".join(shlex.quote(c) for c in cmd), dt, p.returncode))
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        return None, dt
    return p.stdout, dt


def last_json(text):
    """The last top-level JSON object in text (fgq prints one with --json)."""
    start = text.rfind("\n{")
    start = 0 if start < 0 else start + 1
    return json.loads(text[start:])


def main():
    c10 = os.path.join(cache_dir(), "cifar10")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fgq", default=os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "build", "fgq"))
    ap.add_argument("--model", default=os.path.join(c10, "resnet8.onnx"))
    ap.add_argument("--calib", default=os.path.join(c10, "calib_x.npy"))
    ap.add_argument("--calib-samples", default="0:500")
    ap.add_argument("--data", default=os.path.join(c10, "test_x.npy"))
    ap.add_argument("--labels", default=os.path.join(c10, "test_y.npy"))
    ap.add_argument("--samples", default=None, help="A:B subset of the evaluation set")
    ap.add_argument("--scale", default=None)
    ap.add_argument("--mean", default="127.5")
    ap.add_argument("--std", default="128")
    ap.add_argument("--policies", default=DEFAULT_POLICIES)
    ap.add_argument("--quant-args", default="", help="extra flags for fgq quantize")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--workdir", default="/tmp/fgq-baseline-work")
    ap.add_argument("--report", default=os.path.join(cache_dir(), "baseline.md"))
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    pre = []
    for flag in ("scale", "mean", "std"):
        v = getattr(args, flag)
        if v is not None:
            pre += ["--" + flag, v]
    evalx = ["--data", args.data, "--labels", args.labels, "--json", "--threads", args.threads]
    if args.samples:
        evalx += ["--samples", args.samples]
    log, rows = [], []
    base = os.path.splitext(os.path.basename(args.model))[0]

    out, dt = run([args.fgq, "eval", args.model] + evalx + pre, log)
    if out is not None:
        r = last_json(out)
        rows.append({"policy": "float (fgq eval .onnx)", "top1": r["top1"], "top5": r["top5"],
                     "samples": r["samples"], "samples_per_s": r["samples_per_s"], "eval_s": round(dt, 1)})
        print(rows[-1], flush=True)
    for pol in [p for p in args.policies.split(",") if p]:
        q = os.path.join(args.workdir, "%s.%s.fgq" % (base, pol.replace(":", "_")))
        qcmd = [args.fgq, "quantize", args.model, "--calib", args.calib, "--calib-samples", args.calib_samples,
                "-o", q, "--weights", pol] + pre + shlex.split(args.quant_args) + ["--json"]
        out, qdt = run(qcmd, log)
        if out is None:
            rows.append({"policy": pol, "error": "quantize failed"})
            continue
        qj = last_json(out)
        out, dt = run([args.fgq, "eval", q] + evalx, log)
        if out is None:
            rows.append({"policy": pol, "error": "eval failed"})
            continue
        r = last_json(out)
        layers = qj.get("layers", [])
        sq = [l["act_sqnr_db"] for l in layers if l.get("act_sqnr_db") is not None]
        rows.append({"policy": pol, "top1": r["top1"], "top5": r["top5"], "samples": r["samples"],
                     "samples_per_s": r["samples_per_s"], "quantize_s": round(qdt, 1), "eval_s": round(dt, 1),
                     "file_bytes": os.path.getsize(q),
                     "min_layer_act_sqnr_db": round(min(sq), 2) if sq else None})
        print(rows[-1], flush=True)

    rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    title = args.title or "fgq baseline: %s" % os.path.basename(args.model)
    md = ["## %s" % title, "",
          "fgq binary `%s` (repo HEAD at measurement time: %s), %s, model `%s`, calibration `%s` [%s], "
          "evaluation `%s`%s, preprocessing `%s`." % (
              args.fgq, rev or "?", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), args.model, args.calib,
              args.calib_samples, args.data, " [%s]" % args.samples if args.samples else "", " ".join(pre)), "",
          "| policy | top-1 | top-5 | samples | samples/s | quantize s | eval s | .fgq bytes | min layer act SQNR dB |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            md.append("| %s | %s | | | | | | | |" % (r["policy"], r["error"]))
            continue
        md.append("| %s | %.2f %% | %.2f %% | %d | %.1f | %s | %s | %s | %s |" % (
            r["policy"], 100 * r["top1"], 100 * r["top5"], r["samples"], r["samples_per_s"],
            r.get("quantize_s", ""), r.get("eval_s", ""), r.get("file_bytes", ""), r.get("min_layer_act_sqnr_db", "")))
    md += ["", "Commands (wall seconds, exit code):", "", "```"]
    md += ["%s    # %.1f s, rc %d" % (c, dt, rc) for c, dt, rc in log]
    md += ["```", ""]
    mode = "a" if args.append else "w"
    with open(args.report, mode) as f:
        f.write("\n".join(md) + "\n")
    jpath = os.path.splitext(args.report)[0] + ".json"
    allj = []
    if args.append and os.path.exists(jpath):
        with open(jpath) as f:
            allj = json.load(f)
    allj.append({"title": title, "fgq": args.fgq, "model": args.model, "rows": rows,
                 "commands": [c for c, _, _ in log]})
    with open(jpath, "w") as f:
        json.dump(allj, f, indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
