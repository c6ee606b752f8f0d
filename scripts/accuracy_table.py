#!/usr/bin/env python3
"""The accuracy table: what `fgq quantize` costs in top-1, per model, weight policy and activations.

For every model: the float top-1 (`fgq eval MODEL.onnx`) on the evaluation slice, then for
every cell (weight policy x layers x activations)

  fgq quantize MODEL.onnx --calib C --calib-samples 0:1000 -o TMP.fgq --weights P
               --first-last same|s8 --acts A [--scale S] --json
  fgq eval TMP.fgq --data X --labels Y [--samples A:B] --json --threads 2

recording top-1, top-5, the model file's size and the mean weight bits per weight (from the
per-layer "bits" of `quantize --json`, weighted by each layer's weight count from
`fgq weights --json`). A cell fgq refuses (exit 2, e.g. an activation mode not implemented
yet) is shown as "n/a" with fgq's message as a footnote; any other failure is shown as
"error" with its message. Nothing is dropped silently.

Models:
  mnist-8        examples/mnist-8/model.onnx; calibration: MNIST test images 0-999,
                 evaluation: MNIST test images 1000-9999 (raw pixels 0..255, no scaling)
  fashion-mnist  examples/fashion-mnist/model.onnx; calibration: Fashion-MNIST train images
                 0-999, evaluation: all 10,000 test images (--scale 1/255)

Results are cached, one entry per cell, in docs/accuracy-results.json (written after each
cell, so an interrupted run resumes where it stopped). Cached cells are skipped unless
--force; refused ("n/a") and failed cells are always retried (refusals are cheap).

  scripts/accuracy_table.py [--fgq build/fgq] [--models mnist-8,fashion-mnist]
                            [--acts u8,u4,dynamic] [--policies s8,ternary:g4:exact,...]
                            [--layers same,s8] [--force] [--no-run] [--update]

Without --update the tables are printed; with it docs/accuracy.md (everything: commands,
date, machine, fgq commit) and README.md's section between the accuracy-table markers are
rewritten.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "docs", "accuracy-results.json")
DOC = os.path.join(REPO, "docs", "accuracy.md")
README = os.path.join(REPO, "README.md")
BEGIN, END = "<!-- accuracy-table:begin -->", "<!-- accuracy-table:end -->"

FM = "/usr/share/datasets/fashion-mnist"
MODELS = {
    "mnist-8": {
        "title": "mnist-8 (ONNX model zoo)",
        "model": "examples/mnist-8/model.onnx",
        "calib": "examples/mnist/t10k-images-idx3-ubyte.gz",
        "calib_samples": "0:1000",
        "data": "examples/mnist/t10k-images-idx3-ubyte.gz",
        "labels": "examples/mnist/t10k-labels-idx1-ubyte.gz",
        "samples": "1000:10000",
        "scale": None,
        "what": "calibration: MNIST test images 0–999; evaluation: MNIST test images "
                "1000–9999 (9,000; one image = 0.011 points); raw pixels 0..255",
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST float CNN (examples/fashion-mnist)",
        "model": "examples/fashion-mnist/model.onnx",
        "calib": FM + "/train-images-idx3-ubyte.gz",
        "calib_samples": "0:1000",
        "data": FM + "/t10k-images-idx3-ubyte.gz",
        "labels": FM + "/t10k-labels-idx1-ubyte.gz",
        "samples": None,
        "scale": "0.00392156862745098",
        "what": "calibration: Fashion-MNIST train images 0–999; evaluation: all 10,000 "
                "Fashion-MNIST test images (one image = 0.01 points); x = pixel/255",
    },
}

POLICIES = ["f32", "u8", "s8", "s8:g32", "s4:g32"] + [
    "ternary:g%d:%s" % (g, s) for g in (4, 16, 64) for s in ("twn", "exact", "asym")]
LAYERS = ["same", "s8"]          # --first-last value
ACTS = ["u8", "u4", "dynamic"]
LAYER_LABEL = {"same": "all layers", "s8": "first/last s8"}


def rows_for(policies, layers):
    """(policy, first_last) rows of the table. f32 keeps the weights float (first/last s8
    would quantize only those two: not a row of interest); for s8 '--first-last s8' is the
    same model as 'same', so it has one row."""
    out = []
    for p in policies:
        for fl in layers:
            if fl == "s8" and p in ("f32", "s8"):
                continue
            out.append((p, fl))
    return out


def priority(model, policy, fl):
    """Run order: the cells the mnist-8 goals need first, then the rest in table order."""
    goal = ["s8", "ternary:g4:exact", "ternary:g4:twn", "ternary:g4:asym"]
    if policy in goal:
        return (0, goal.index(policy), fl)
    if policy.startswith("ternary"):
        return (2, POLICIES.index(policy), fl)
    return (1, POLICIES.index(policy), fl)


def key(model, policy, fl, acts):
    return "%s|%s|%s|%s" % (model, policy, fl, acts)


# ---------------------------------------------------------------------------------------
# cache

def load_results():
    try:
        with open(RESULTS) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"cells": {}, "float": {}}


def save_entry(section, k, entry):
    """Re-read, update one entry, write atomically: safe against a concurrent render."""
    res = load_results()
    res.setdefault(section, {})[k] = entry
    res[section] = dict(sorted(res[section].items()))
    tmp = RESULTS + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, RESULTS)


# ---------------------------------------------------------------------------------------
# running fgq

def fgq_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_binary = {}


def fgq_binary(fgq):
    """sha256 (12 hex digits) and mtime of the fgq executable a cell ran: the build dir can be
    rebuilt between cells, and the repository HEAD alone does not say what was built."""
    if fgq not in _binary or _binary[fgq][0] != os.path.getmtime(fgq):
        import hashlib
        with open(fgq, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()[:12]
        mt = os.path.getmtime(fgq)
        _binary[fgq] = (mt, "%s (built %s)" % (h, datetime.datetime.fromtimestamp(mt).isoformat(
            timespec="seconds")))
    return _binary[fgq][1]


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s %s" % (cpu, os.cpu_count() or 0, platform.system(), platform.machine())


def eval_args(m, threads):
    a = ["--data", m["data"], "--labels", m["labels"]]
    if m["samples"]:
        a += ["--samples", m["samples"]]
    if m["scale"]:
        a += ["--scale", m["scale"]]
    return a + ["--json", "--threads", str(threads)]


def quantize_args(m, policy, fl, acts, out):
    # Bias correction off and round-to-nearest: the table was first measured before either
    # existed, and naming the settings keeps every cell reproducible whatever the CLI's
    # defaults become (the gptq solver's figures: scripts/accuracy_real.py).
    a = [m["model"], "--calib", m["calib"], "--calib-samples", m["calib_samples"], "-o", out,
         "--weights", policy, "--first-last", fl, "--acts", acts, "--bias-correction", "off", "--solver", "rtn"]
    if m["scale"]:
        a += ["--scale", m["scale"]]
    return a + ["--json"]


def show(argv):
    return " ".join(["fgq"] + [a if re.match(r"^[\w./:=,-]+$", a) else "'%s'" % a for a in argv])


def run_fgq(fgq, argv, timeout=1800):
    t = time.time()
    try:
        p = subprocess.run([fgq] + argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except OSError as ex:
        sys.exit("accuracy_table: cannot run %s: %s (the cells done so far are cached; rerun "
                 "to resume)" % (fgq, ex.strerror))
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %d s" % timeout, time.time() - t
    return p.returncode, p.stdout, p.stderr, time.time() - t


def message(stderr, stdout):
    lines = [l.strip() for l in (stderr or stdout).splitlines() if l.strip()]
    return lines[-1] if lines else "(no message)"


_weight_counts = {}


def weight_counts(fgq, m):
    """Weight count of each weight layer, in graph order (from `fgq weights --json`)."""
    if m["model"] not in _weight_counts:
        rc, out, err, _ = run_fgq(fgq, ["weights", m["model"], "--weights", "s8", "--json"])
        counts = []
        if rc == 0:
            for t in json.loads(out)["tensors"]:
                n = 1
                for d in t["shape"]:
                    n *= d
                counts.append(n)
        _weight_counts[m["model"]] = counts
    return _weight_counts[m["model"]]


def mean_bits(fgq, m, qjson):
    layers = [l for l in qjson.get("layers", []) if l.get("op") in ("Conv", "Gemm", "MatMul")]
    counts = weight_counts(fgq, m)
    if not layers or len(layers) != len(counts) or any(l.get("bits") is None for l in layers):
        return None, None
    per = ", ".join("%s %s %.3g bits x %d" % (l["name"], l["policy"], l["bits"], n)
                    for l, n in zip(layers, counts))
    return sum(l["bits"] * n for l, n in zip(layers, counts)) / sum(counts), per


def run_float(fgq, name, m, threads):
    argv = ["eval", m["model"]] + eval_args(m, threads)
    rc, out, err, dt = run_fgq(fgq, argv)
    e = {"command": show(argv), "rc": rc, "eval_s": round(dt, 1), "fgq": fgq_commit(),
         "fgq_binary": fgq_binary(fgq),
         "date": datetime.datetime.now().isoformat(timespec="seconds")}
    if rc == 0:
        j = json.loads(out)
        e.update(status="ok", top1=j["top1"], top5=j["top5"], samples=j["samples"])
    else:
        e.update(status="error", reason=message(err, out))
    return e


def run_cell(fgq, name, m, policy, fl, acts, threads, tmpdir):
    out = os.path.join(tmpdir, "cell.fgq")
    if os.path.exists(out):
        os.unlink(out)
    qargv = ["quantize"] + quantize_args(m, policy, fl, acts, out)
    eargv = ["eval", out] + eval_args(m, threads)
    # The commands are those of docs/accuracy.md with P, FL, A filled in (not repeated here).
    e = {"model": name, "policy": policy, "first_last": fl, "acts": acts, "fgq": fgq_commit(),
         "fgq_binary": fgq_binary(fgq),
         "date": datetime.datetime.now().isoformat(timespec="seconds")}
    rc, qout, qerr, dt = run_fgq(fgq, qargv)
    e["quantize_s"] = round(dt, 1)
    if rc != 0:
        e.update(status="na" if rc == 2 else "error", rc=rc, stage="quantize",
                 reason=message(qerr, qout))
        return e
    try:
        qj = json.loads(qout)
    except ValueError:
        qj = {}
    e["bits_per_weight"], e["layers"] = mean_bits(fgq, m, qj)
    e["model_bytes"] = os.path.getsize(out)
    rc, eout, eerr, dt = run_fgq(fgq, eargv)
    e["eval_s"] = round(dt, 1)
    if rc != 0:
        e.update(status="na" if rc == 2 else "error", rc=rc, stage="eval",
                 reason=message(eerr, eout))
        return e
    j = json.loads(eout)
    e.update(status="ok", top1=j["top1"], top5=j["top5"], samples=j["samples"],
             samples_per_s=round(j["samples_per_s"], 1))
    return e


# ---------------------------------------------------------------------------------------
# rendering

def pct(x):
    return "%.2f" % (100.0 * x)


def delta(q, f):
    d = 100.0 * (q - f)
    if abs(d) < 0.005:
        return "±0.00"
    return ("+%.2f" if d > 0 else "−%.2f") % abs(d)


class Notes:
    def __init__(self):
        self.reasons = []

    def mark(self, reason):
        if reason not in self.reasons:
            self.reasons.append(reason)
        return "[%d]" % (self.reasons.index(reason) + 1)

    def lines(self):
        return ["[%d] %s" % (i + 1, r) for i, r in enumerate(self.reasons)]


def cell_text(e, fl, notes, full):
    if e is None:
        return "not run" if full else "—", ""
    if e["status"] != "ok":
        tag = notes.mark(("refused by fgq: " if e["status"] == "na" else "fgq failed (exit %s): "
                          % e.get("rc")) + "`%s`" % e["reason"].replace("|", "\\|"))
        return ("n/a " if e["status"] == "na" else "error ") + tag, ""
    return pct(e["top1"]), delta(e["top1"], fl["top1"]) if fl else ""


def table(res, name, policies, layers, acts, full):
    m = MODELS[name]
    fl = res["float"].get(name)
    fl = fl if fl and fl.get("status") == "ok" else None
    notes = Notes()
    out = []
    if fl:
        out.append("Float top-1: **%s %%** (%d images)." % (pct(fl["top1"]), fl["samples"]))
    else:
        out.append("Float top-1: not run.")
    out.append("")
    head = ["weights", "layers"]
    if full:
        head += ["bits/weight", "model bytes"]
    for a in acts:
        head += ["%s acts top-1 %%" % a, "Δ"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for p, f in rows_for(policies, layers):
        row = ["`%s`" % p, LAYER_LABEL[f] if p not in ("f32", "s8") else
               ("all layers (weights float)" if p == "f32" else "all layers")]
        cells = [res["cells"].get(key(name, p, f, a)) for a in acts]
        if full:
            ok = [c for c in cells if c and c.get("status") == "ok"]
            bits = next((c["bits_per_weight"] for c in ok if c.get("bits_per_weight")), None)
            size = next((c["model_bytes"] for c in ok if c.get("model_bytes")), None)
            row += ["%.2f" % bits if bits else "—", "{:,}".format(size) if size else "—"]
        for c in cells:
            row += list(cell_text(c, fl, notes, full))
        out.append("| " + " | ".join(row) + " |")
    if notes.reasons:
        out.append("")
        out += [l + "  " for l in notes.lines()]
    return out


def goals(res, acts="u8"):
    """The mnist-8 goals, each met / missed by how much, from the u8-activation column."""
    name = "mnist-8"
    fl = res["float"].get(name)

    def top1(p, f):
        e = res["cells"].get(key(name, p, f, acts))
        return e["top1"] if e and e.get("status") == "ok" else None

    out = []

    def within(label, p, f, limit):
        q = top1(p, f)
        if q is None or not fl or fl.get("status") != "ok":
            out.append("- [ ] %s: not measured yet" % label)
            return
        drop = 100.0 * (fl["top1"] - q)
        if drop <= limit + 1e-9:
            out.append("- [x] %s: **met** (%s %%, %.2f points below float)" % (label, pct(q), drop)
                       if drop > 0 else "- [x] %s: **met** (%s %%, %.2f points above float)"
                       % (label, pct(q), -drop))
        else:
            out.append("- [ ] %s: **missed by %.2f points** (%s %%, %.2f below float)"
                       % (label, drop - limit, pct(q), drop))

    within("`s8` within 0.2 points of float", "s8", "same", 0.2)
    within("`ternary:g4:exact`, every layer ternary, within 1.5 points", "ternary:g4:exact", "same", 1.5)
    within("`ternary:g4:exact`, first and last layers s8, within 0.5 points", "ternary:g4:exact", "s8", 0.5)
    for s in ("exact", "asym"):
        fails, missing, n = [], 0, 0
        for g in (4, 16, 64):
            for f in ("same", "s8"):
                a, b = top1("ternary:g%d:%s" % (g, s), f), top1("ternary:g%d:twn" % g, f)
                if a is None or b is None:
                    missing += 1
                    continue
                n += 1
                if a < b:
                    fails.append("g%d %s: %s %% < twn %s %% (by %.2f)"
                                 % (g, LAYER_LABEL[f], pct(a), pct(b), 100.0 * (b - a)))
        label = "`%s` at least as good as `twn` (g4/g16/g64 × all layers / first-last s8)" % s
        if n == 0:
            out.append("- [ ] %s: not measured yet" % label)
        elif fails:
            out.append("- [ ] %s: **missed** in %d of %d: %s%s" % (
                label, len(fails), n, "; ".join(fails),
                " (%d pairs not measured)" % missing if missing else ""))
        else:
            out.append("- [x] %s: **met** in %d of %d pairs%s" % (
                label, n, n, " (%d not measured yet)" % missing if missing else ""))
    return out


def commits(res):
    cs = sorted({e.get("fgq", "?") for s in ("cells", "float") for e in res.get(s, {}).values()})
    return ", ".join("`%s`" % c for c in cs) if cs else "—"


def render_readme(res, models, policies, layers, acts):
    out = ["Top-1 after `fgq quantize` (no retraining; observer `minmax`; `--bias-correction off --solver rtn`: round-to-nearest, as first measured; the error-compensating solver and budgets on these and real models: docs/accuracy-real.md), Δ in points against the",
           "float model. Generated by `scripts/accuracy_table.py --update`; commands, bits per",
           "weight, model sizes and the machine are in [docs/accuracy.md](docs/accuracy.md).",
           "“all layers”: `--first-last same`; “first/last s8”: `--first-last s8`.", ""]
    for name in models:
        out += ["**%s** — %s." % (MODELS[name]["title"], MODELS[name]["what"]), ""]
        out += table(res, name, policies, layers, acts, full=False)
        out.append("")
    if any(res["cells"].get(key(n, p, f, a)) is None for n in models
           for p, f in rows_for(policies, layers) for a in acts):
        out += ["“—”: not measured yet (the script resumes where it stopped).", ""]
    if "mnist-8" in models:
        out += ["Goals on mnist-8 (u8 activations):", ""] + goals(res) + [""]
    return out


def render_doc(res, models, policies, layers, acts):
    now = datetime.date.today().isoformat()
    out = ["# Accuracy of quantized models", "",
           "Generated by `scripts/accuracy_table.py --update` (%s) from the cached results in" % now,
           "`docs/accuracy-results.json`; do not edit by hand.", "",
           "- fgq: repository HEAD (`git describe --dirty`) when each cell ran: %s" % commits(res),
           "  (`-dirty`: the working tree had uncommitted changes; the executable of each cell,",
           "  sha256 and build time, is in `docs/accuracy-results.json` where recorded)",
           "- machine: %s (shared with other builds: the run times are indicative)" % machine(),
           "- no retraining; observer `minmax` (the default); calibration on 1,000 images;",
           "  bits/weight: mean over the weight layers of `fgq quantize --json`'s per-layer bits",
           "  (scales included), weighted by weight count; model bytes: size of the `.fgq` file",
           "  (u8-activation model where available).",
           "- “all layers”: `--first-last same`; “first/last s8”: `--first-last s8` (the default",
           "  for `s4`/`ternary`). For `s8` the two are the same model (one row). `f32` keeps",
           "  every weight layer float (Conv/Gemm/MatMul and their bias Add run in float); only",
           "  the tensors through ops quantized on their own (the pools, Reshape) are quantized",
           "  to the activation type, so the row shows what that partial activation rounding costs.",
           "- u4 activations: 16 levels held in u8; dynamic: per-inference activation ranges.",
           "- Δ: top-1 minus the float model's top-1, in percentage points. On 9,000–10,000",
           "  images the binomial standard error of a top-1 near 99 % is about 0.1 point (near",
           "  90 %: 0.3 point): differences of a few hundredths are a handful of images.", "",
           "## Commands", "",
           "Regenerate (resumable; `--force` reruns cached cells, `--models`, `--acts`,",
           "`--policies`, `--layers` select a subset):", "",
           "```sh", "scripts/accuracy_table.py --fgq build/fgq --update", "```", "",
           "Per model (`P` = weight policy, `FL` = `same` or `s8`, `A` = `u8`, `u4` or `dynamic`):",
           ""]
    for name in models:
        m = MODELS[name]
        out += ["%s:" % name, "", "```sh",
                show(["eval", m["model"]] + eval_args(m, 2)),
                show(["quantize"] + quantize_args(m, "P", "FL", "A", "M.fgq")),
                show(["eval", "M.fgq"] + eval_args(m, 2)), "```", ""]
    for name in models:
        out += ["## %s" % MODELS[name]["title"], "", MODELS[name]["what"][0].upper()
                + MODELS[name]["what"][1:] + ".", ""]
        out += table(res, name, policies, layers, acts, full=True)
        out.append("")
        if name == "mnist-8":
            out += ["### Goals (u8 activations)", ""] + goals(res) + [""]
    # run times
    out += ["## Run times", "",
            "| model | cells | quantize s (sum) | eval s (sum) | eval samples/s (median) |",
            "|---|---|---|---|---|"]
    for name in models:
        cs = [e for k, e in res["cells"].items() if e.get("model") == name]
        q = sum(e.get("quantize_s", 0) for e in cs)
        ev = sum(e.get("eval_s", 0) for e in cs)
        sps = sorted(e["samples_per_s"] for e in cs if e.get("samples_per_s"))
        out.append("| %s | %d | %.0f | %.0f | %s |" % (name, len(cs), q, ev,
                                                       "%.0f" % sps[len(sps) // 2] if sps else "—"))
    out.append("")
    return out


def splice_readme(block):
    with open(README) as f:
        text = f.read()
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        sys.exit("accuracy_table: README.md lacks the %s / %s markers" % (BEGIN, END))
    text = text[:i + len(BEGIN)] + "\n" + "\n".join(block).rstrip("\n") + "\n" + text[j:]
    tmp = README + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, README)


def parse_list(s, allowed, what):
    items = [x for x in s.split(",") if x]
    bad = [x for x in items if x not in allowed]
    if bad:
        sys.exit("accuracy_table: unknown %s %s (known: %s)" % (what, ", ".join(bad), ", ".join(allowed)))
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fgq", default=os.path.join(REPO, "build", "fgq"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--acts", default=",".join(ACTS))
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--layers", default=",".join(LAYERS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="rerun cached cells")
    ap.add_argument("--no-run", action="store_true", help="render from the cache only")
    ap.add_argument("--update", action="store_true", help="write docs/accuracy.md and README.md")
    args = ap.parse_args()
    models = parse_list(args.models, list(MODELS), "model")
    acts = parse_list(args.acts, ACTS, "activation mode")
    policies = parse_list(args.policies, POLICIES, "policy")
    layers = parse_list(args.layers, LAYERS, "layers setting")
    fgq = os.path.abspath(args.fgq)

    if not args.no_run:
        if not os.access(fgq, os.X_OK):
            sys.exit("accuracy_table: %s is not an executable fgq (build it, or pass --fgq)" % fgq)
        with tempfile.TemporaryDirectory(prefix="fgq-acc-") as tmpdir:
            t0 = time.time()
            for name in models:
                m = MODELS[name]
                res = load_results()
                f = res["float"].get(name)
                if args.force or not f or f.get("status") != "ok":
                    f = run_float(fgq, name, m, args.threads)
                    save_entry("float", name, f)
                    print("[%6.0fs] %s float: %s" % (time.time() - t0, name,
                          pct(f["top1"]) if f["status"] == "ok" else f["reason"]), flush=True)
                todo = sorted(rows_for(policies, layers), key=lambda r: priority(name, *r))
                for a in acts:
                    for p, fl in todo:
                        k = key(name, p, fl, a)
                        e = load_results()["cells"].get(k)
                        if e and e.get("status") == "ok" and not args.force:
                            continue
                        e = run_cell(fgq, name, m, p, fl, a, args.threads, tmpdir)
                        save_entry("cells", k, e)
                        print("[%6.0fs] %s: %s (q %.0fs, eval %.0fs)" % (
                            time.time() - t0, k,
                            pct(e["top1"]) if e["status"] == "ok" else
                            "%s: %s" % (e["status"], e["reason"]),
                            e.get("quantize_s", 0), e.get("eval_s", 0)), flush=True)

    # Render everything (all models, policies, acts); cells not run show as "not run".
    res = load_results()
    readme = render_readme(res, list(MODELS), POLICIES, LAYERS, ACTS)
    doc = render_doc(res, list(MODELS), POLICIES, LAYERS, ACTS)
    if args.update:
        with open(DOC + ".tmp", "w") as f:
            f.write("\n".join(doc).rstrip("\n") + "\n")
        os.replace(DOC + ".tmp", DOC)
        splice_readme(readme)
        print("accuracy_table: wrote %s and README.md" % os.path.relpath(DOC, REPO))
    else:
        print("\n".join(readme))


if __name__ == "__main__":
    main()
