#!/usr/bin/env python3
"""The common model zoo through fgq: every step a user takes, per architecture.

Exports torchvision's classification architectures (random weights: nothing is downloaded),
a segmentation model, an LSTM and a small BERT-style encoder with Debian's python3-torch /
python3-torchvision, then per model:

  inspect   `fgq inspect MODEL.onnx`: the ops fgq does not support (listed, all at once)
  convert   `fgq convert MODEL.onnx -o M.fgq`
  float     `fgq run M.fgq` on a random input vs ONNX Runtime on the ONNX file:
            max|fgq - ort| / max|ort| <= 1e-4
  s8        `fgq quantize MODEL.onnx --calib C --weights s8 --solver rtn` (C: 8 random inputs,
            synthetic: this checks that quantization runs, not its accuracy) and `fgq run`
  t2        the same with --weights ternary:g4
  qdq       `fgq export` of the s8 model, run by ONNX Runtime with its graph optimizations off (the
            QDQ graph as written; ORT's fusions re-round it: on the BERT-style encoder the fused
            run is 15 dB from float where the graph as written, and fgq, are 31-33 dB): its
            output's SQNR against fgq's quantized output. Passes at >= 20 dB, or when ORT's run is
            as close to float as fgq's (within 3 dB): with random weights a network amplifies
            each rounding difference of the float islands (Sigmoid, LayerNorm between
            Dequantize / Quantize) to the size of the quantization error itself

Results go to a JSON cache (one entry per model, written as each finishes: an interrupted run
resumes); --update rewrites the table in docs/model-zoo.md. --fast runs the CI subset
(small inputs), which tests/python/test_model_zoo.py runs.

  scripts/model_zoo.py [--fgq build/fgq] [--models a,b] [--fast] [--force] [--update]

Exported models and data stay in ${FGQ_CACHE:-~/.cache/fgq}/zoo (not in the repository).
torch is imported only by the export step, run under a Python that has it (this one, else
/usr/bin/python3).
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.environ.get("FGQ_CACHE", os.path.expanduser("~/.cache/fgq")), "zoo")
RESULTS = os.path.join(REPO, "docs", "model-zoo-results.json")
DOC = os.path.join(REPO, "docs", "model-zoo.md")
BEGIN, END = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"

# name: (builder, input shape, opset). Builders are evaluated in the export subprocess.
ZOO = {
    "resnet18": ("tv.resnet18()", [1, 3, 224, 224], 17),
    "resnet50": ("tv.resnet50()", [1, 3, 224, 224], 17),
    "mobilenet_v2": ("tv.mobilenet_v2()", [1, 3, 224, 224], 17),
    "mobilenet_v3_small": ("tv.mobilenet_v3_small()", [1, 3, 224, 224], 17),
    "mobilenet_v3_large": ("tv.mobilenet_v3_large()", [1, 3, 224, 224], 17),
    "efficientnet_b0": ("tv.efficientnet_b0()", [1, 3, 224, 224], 17),
    "squeezenet1_1": ("tv.squeezenet1_1()", [1, 3, 224, 224], 17),
    "shufflenet_v2_x1_0": ("tv.shufflenet_v2_x1_0()", [1, 3, 224, 224], 17),
    "densenet121": ("tv.densenet121()", [1, 3, 224, 224], 17),
    "regnet_y_400mf": ("tv.regnet_y_400mf()", [1, 3, 224, 224], 17),
    "mnasnet1_0": ("tv.mnasnet1_0()", [1, 3, 224, 224], 17),
    "googlenet": ("tv.googlenet(aux_logits=False, init_weights=True)", [1, 3, 224, 224], 17),
    "convnext_tiny": ("tv.convnext_tiny()", [1, 3, 224, 224], 17),
    "vit_b_16": ("tv.vit_b_16()", [1, 3, 224, 224], 17),
    "swin_t": ("tv.swin_t()", [1, 3, 224, 224], 17),
    "lraspp_mobilenet_v3_large": ("seg.lraspp_mobilenet_v3_large(weights_backbone=None)", [1, 3, 224, 224], 17),
    "lstm_classifier": ("LstmClassifier()", [1, 20, 32], 17),
    "gru_bidirectional": ("GruClassifier()", [1, 20, 32], 17),
    "bert_tiny_encoder": ("BertTiny()", [1, 16, 64], 17),
}
# The CI subset: small inputs, both opset forms (13: Reduce axes and LayerNorm decomposed).
FAST = {
    "mobilenet_v3_small@96": ("tv.mobilenet_v3_small()", [1, 3, 96, 96], 13),
    "shufflenet_v2_x0_5@64": ("tv.shufflenet_v2_x0_5()", [1, 3, 64, 64], 17),
    "bert_tiny_encoder@13": ("BertTiny()", [1, 16, 64], 13),
}

EXPORT_CODE = r'''
import sys, torch, torchvision.models as tv, torchvision.models.segmentation as seg
torch.manual_seed(0)

class LstmClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(32, 48, batch_first=True)
        self.fc = torch.nn.Linear(48, 10)
    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])

class GruClassifier(torch.nn.Module):
    """Two bidirectional GRU layers, the last step's features into a linear head."""
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(32, 24, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(48, 10)
    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[:, -1])

class Attention(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h, self.dk = heads, d // heads
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, self.h, self.dk).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / self.dk ** 0.5, dim=-1)
        return self.out((a @ v).transpose(1, 2).reshape(b, t, d))

class BertTiny(torch.nn.Module):
    """Two post-norm BERT-style encoder layers (d 64, 4 heads, GELU feed-forward), mean-pooled."""
    def __init__(self, d=64, layers=2):
        super().__init__()
        self.att = torch.nn.ModuleList(Attention(d, 4) for _ in range(layers))
        self.n1 = torch.nn.ModuleList(torch.nn.LayerNorm(d) for _ in range(layers))
        self.ff = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(d, 2 * d), torch.nn.GELU(),
                                                          torch.nn.Linear(2 * d, d)) for _ in range(layers))
        self.n2 = torch.nn.ModuleList(torch.nn.LayerNorm(d) for _ in range(layers))
        self.head = torch.nn.Linear(d, 2)
    def forward(self, x):
        for att, n1, ff, n2 in zip(self.att, self.n1, self.ff, self.n2):
            x = n1(x + att(x))
            x = n2(x + ff(x))
        return self.head(x.mean(dim=1))

class ExplicitMHA(torch.nn.Module):
    """nn.MultiheadAttention (self-attention) as plain ops, with its weights: torch 1.13 runs the
    module through a fused kernel in eval mode that its ONNX exporter cannot write."""
    def __init__(self, mha):
        super().__init__()
        self.mha = mha
    def forward(self, query, key=None, value=None, need_weights=False, attn_mask=None, key_padding_mask=None, **kw):
        m = self.mha
        x = query if m.batch_first else query.transpose(0, 1)
        b, t, d = x.shape
        h = m.num_heads
        q, k, v = torch.nn.functional.linear(x, m.in_proj_weight, m.in_proj_bias).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) / (d // h) ** 0.5, dim=-1)
        y = m.out_proj((a @ v).transpose(1, 2).reshape(b, t, d))
        return (y if m.batch_first else y.transpose(0, 1)), None

def unfuse(mod):
    for name, child in mod.named_children():
        if isinstance(child, torch.nn.MultiheadAttention):
            setattr(mod, name, ExplicitMHA(child))
        else:
            unfuse(child)
    return mod

build, shape, opset, path = sys.argv[1], [int(v) for v in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4]
m = unfuse(eval(build).eval())
with torch.no_grad():  # zero-initialised weight matrices (ViT's head) would make every output 0
    for prm in m.parameters():
        if prm.dim() >= 2 and not prm.any():
            prm.normal_(0.0, 0.02)
x = torch.randn(*shape)
with torch.no_grad():
    torch.onnx.export(m, x, path, opset_version=opset, input_names=["x"], output_names=["y"],
                      do_constant_folding=True)
'''


def torch_python():
    for py in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([py, "-c", "import torch, torchvision"], capture_output=True).returncode == 0:
            return py
    return None


def export(name, spec, path):
    py = torch_python()
    if py is None:
        raise RuntimeError("no Python with torch and torchvision (apt-get install python3-torch python3-torchvision)")
    build, shape, opset = spec
    p = subprocess.run([py, "-c", EXPORT_CODE, build, ",".join(map(str, shape)), str(opset), path],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"export failed: {p.stderr.strip()[-400:]}")


def fgq(binary, *args, timeout=1800):
    return subprocess.run([binary] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def clean(msg):
    """A message with this machine's paths taken out: the export cache as $FGQ_CACHE/zoo, the
    per-model scratch folder dropped (results are committed; docs name no machine's paths)."""
    msg = msg.replace(CACHE, "$FGQ_CACHE/zoo")
    return re.sub(re.escape(tempfile.gettempdir()) + r"/[^/\s]+/", "", msg)


def first_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return clean(lines[0][:300]) if lines else "(no message)"


def sqnr(ref, got):
    import numpy as np
    ref = ref.astype(np.float64)
    err = np.sum((got.astype(np.float64) - ref) ** 2)
    return float(10 * np.log10(max(np.sum(ref ** 2), 1e-30) / max(err, 1e-30)))


def run_model(binary, name, spec, work):
    import numpy as np
    import onnxruntime as ort
    res = {"opset": spec[2], "input": spec[1]}
    onnx_path = os.path.join(CACHE, f"{name.replace('@', '_')}.onnx")
    os.makedirs(CACHE, exist_ok=True)
    t0 = time.time()
    if not os.path.exists(onnx_path):
        try:
            export(name, spec, onnx_path)
        except Exception as e:  # noqa: BLE001 - reported in the table
            res["export"] = clean(f"fail: {e}")
            return res
    res["export"] = "ok"
    p = fgq(binary, "inspect", onnx_path, "--json")
    unsupported = []
    if p.returncode == 0:
        info = json.loads(p.stdout)
        unsupported = sorted({u["op"] if isinstance(u, dict) else str(u) for u in info.get("unsupported_ops", [])})
    res["unsupported"] = unsupported
    res["inspect"] = "ok" if p.returncode == 0 else f"exit {p.returncode}: {first_line(p.stderr)}"
    fm = os.path.join(work, "m.fgq")
    p = fgq(binary, "convert", onnx_path, "-o", fm)
    res["convert"] = "ok" if p.returncode == 0 else f"exit {p.returncode}: {first_line(p.stderr)}"
    if p.returncode != 0:
        return res
    rng = np.random.default_rng(0)
    x = rng.standard_normal(spec[1]).astype(np.float32)
    xf = os.path.join(work, "x.npy")
    np.save(xf, x)
    want = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    yf = os.path.join(work, "y.npy")
    t1 = time.time()
    p = fgq(binary, "run", fm, "--input", xf, "-o", yf)
    res["float_s"] = round(time.time() - t1, 2)
    if p.returncode != 0:
        res["float"] = f"exit {p.returncode}: {first_line(p.stderr)}"
        return res
    got = np.load(yf)
    rel = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30)) if got.shape == want.shape else 1.0
    res["float_rel_err"] = rel
    res["float"] = "ok" if rel <= 1e-4 and got.shape == want.shape else f"rel err {rel:.2g}"
    calib = os.path.join(work, "calib.npy")
    np.save(calib, rng.standard_normal([8] + spec[1][1:]).astype(np.float32))
    for key, pol in (("s8", "s8"), ("t2", "ternary:g4")):
        qf = os.path.join(work, f"{key}.fgq")
        t1 = time.time()
        p = fgq(binary, "quantize", onnx_path, "--calib", calib, "--weights", pol, "--solver", "rtn", "-o", qf)
        res[f"{key}_quantize_s"] = round(time.time() - t1, 1)
        if p.returncode != 0:
            res[key] = f"exit {p.returncode}: {first_line(p.stderr)}"
            continue
        res[f"{key}_clipped_layers"] = sum("warning: layer" in l for l in p.stderr.splitlines())
        qy = os.path.join(work, f"{key}.npy")
        p = fgq(binary, "run", qf, "--input", xf, "-o", qy)
        if p.returncode != 0:
            res[key] = f"run exit {p.returncode}: {first_line(p.stderr)}"
            continue
        yq = np.load(qy)
        res[key] = "ok"
        res[f"{key}_sqnr_db"] = round(sqnr(want, yq), 1)
        if key == "s8":
            qdq = os.path.join(work, "qdq.onnx")
            p = fgq(binary, "export", qf, "--onnx", qdq)
            if p.returncode != 0:
                res["qdq"] = f"exit {p.returncode}: {first_line(p.stderr)}"
                continue
            try:
                so = ort.SessionOptions()  # the QDQ graph as written: ORT's fusions re-round it
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                y_ort = ort.InferenceSession(qdq, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            except Exception as e:  # noqa: BLE001
                res["qdq"] = clean(f"ORT: {str(e)[:200]}")
                continue
            res["qdq_agree_db"] = round(sqnr(yq, y_ort), 1)
            res["qdq_sqnr_db"] = round(sqnr(want, y_ort), 1)
            close = abs(res["qdq_sqnr_db"] - res["s8_sqnr_db"]) <= 3.0
            res["qdq"] = "ok" if res["qdq_agree_db"] >= 20.0 or close else (
                f"agreement {res['qdq_agree_db']} dB, ORT vs float {res['qdq_sqnr_db']} dB")
    res["total_s"] = round(time.time() - t0, 1)
    return res


def cell(r, key):
    v = r.get(key)
    if v is None:
        return "–"
    if v == "ok":
        extra = {"float": f" ({r.get('float_rel_err', 0):.0e})", "s8": f" ({r.get('s8_sqnr_db')} dB",
                 "t2": f" ({r.get('t2_sqnr_db')} dB",
                 "qdq": f" ({r.get('qdq_agree_db')} dB; ORT vs float {r.get('qdq_sqnr_db')} dB)"}.get(key, "")
        if key in ("s8", "t2"):
            clipped = r.get(f"{key}_clipped_layers", 0)
            extra += f"; {clipped} layer{'s' if clipped != 1 else ''} warned: degenerate range)" if clipped else ")"
        return "ok" + extra
    return "**" + str(v).replace("|", "/")[:160] + "**"


def table(results):
    lines = ["| model | opset | input | unsupported ops | convert | float vs ORT (rel err) | s8 run (SQNR vs float) "
             "| ternary:g4 run (SQNR) | QDQ export in ORT (agreement) |", "|---|---|---|---|---|---|---|---|---|"]
    for name in list(ZOO) + list(FAST):
        r = results.get(name)
        if r is None:
            lines.append(f"| {name} | | | not run | | | | | |")
            continue
        if r.get("export", "ok") != "ok":
            lines.append(f"| {name} | {r['opset']} | {'x'.join(map(str, r['input']))} | {cell(r, 'export')} | | | | | |")
            continue
        uns = ", ".join(r.get("unsupported", [])) or "none"
        lines.append(f"| {name} | {r['opset']} | {'x'.join(map(str, r['input']))} | {uns} | {cell(r, 'convert')} | "
                     f"{cell(r, 'float')} | {cell(r, 's8')} | {cell(r, 't2')} | {cell(r, 'qdq')} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fgq", default=os.path.join(REPO, "build", "fgq"))
    ap.add_argument("--models", help="comma-separated names (default: the whole zoo, or the --fast subset)")
    ap.add_argument("--fast", action="store_true", help="the CI subset (small inputs)")
    ap.add_argument("--force", action="store_true", help="rerun models that have results")
    ap.add_argument("--update", action="store_true", help="rewrite the table in docs/model-zoo.md")
    ap.add_argument("--results", default=RESULTS, help="JSON results file")
    ap.add_argument("--json", action="store_true", help="print this run's results as JSON")
    a = ap.parse_args()
    specs = dict(ZOO, **FAST)
    names = a.models.split(",") if a.models else list(FAST if a.fast else ZOO)
    for n in names:
        if n not in specs:
            print(f"model_zoo: unknown model '{n}' (known: {', '.join(specs)})", file=sys.stderr)
            return 2
    results = {}
    if os.path.exists(a.results):
        with open(a.results) as f:
            results = json.load(f)
    ran = {}
    for n in names:
        if n in results and not a.force and not a.json:
            print(f"{n}: cached")
            continue
        print(f"{n} ...", end="", flush=True)
        with tempfile.TemporaryDirectory() as work:
            r = run_model(a.fgq, n, specs[n], work)
        r["machine"] = platform.processor() or platform.machine()
        r["date"] = time.strftime("%Y-%m-%d")
        ran[n] = results[n] = r
        print(" " + json.dumps({k: r.get(k) for k in ("unsupported", "convert", "float", "s8", "t2", "qdq")}))
        if not a.json:
            with open(a.results, "w") as f:
                json.dump(results, f, indent=1, sort_keys=True)
    if a.json:
        print(json.dumps(ran))
    if a.update:
        with open(DOC) as f:
            text = f.read()
        pre, rest = text.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        with open(DOC, "w") as f:
            f.write(f"{pre}{BEGIN}\n{table(results)}\n{END}{post}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
