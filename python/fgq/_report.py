"""fgq report's drawing: figures (matplotlib) and one self-contained HTML page.

Run by `fgq report` (which carries this file inside the executable) as
``python3 _report.py BUNDLE.json OUT.html``. BUNDLE holds the JSON the C code
printed: `fgq eval --json` per quantized model, `fgq eval --sensitivity --json`,
`fgq weights --json` and `fgq weights --layer NAME --json-values`. Every number
drawn or tabled here comes from those; this file only formats and draws. It
imports nothing from fgq, so it runs without the Python package installed.

Writes OUT.html and OUT's stem + "-sqnr.png", "-sensitivity.png", "-weights.png",
"-pareto.png" beside it, each to a temporary name renamed at the end: on an
error nothing is left. Bad input (an unreadable sweep file) exits 2 with
"fgq report: FILE: reason".
"""
import base64
import html
import io
import json
import math
import os
import signal
import sys
import tempfile

EXIT_BAD = 2
MAX_EMBEDDED_VALUES = 65536  # weights of the drawn layer kept in the page's JSON up to this many


class ReportError(Exception):
    pass


def pct(x):
    return "–" if x is None else f"{100.0 * x:.2f}"


def db(x):
    return "inf" if x is None else f"{x:.2f}"


def short_name(path):
    return os.path.basename(path)


def recipe_of(ev):
    """'M.fgq, made by: fgq quantize --weights s8 (...)' -> 'fgq quantize --weights s8 (...)'."""
    q = ev.get("quant_model", "")
    return q.split(", made by: ", 1)[1] if ", made by: " in q else ""


def policy_of(recipe):
    words = recipe.split()
    if "--weights" in words and words.index("--weights") + 1 < len(words):
        return words[words.index("--weights") + 1]
    if "--budget" in words and words.index("--budget") + 1 < len(words):
        return "budget " + words[words.index("--budget") + 1]
    return ""


# ---- sweep files ---------------------------------------------------------------------------------


def load_sweep(path):
    """Cells {model, policy, top1, bytes} of a sweep file (see `fgq report --help`)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ReportError(f"{path}: cannot read the sweep file: {e.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: not JSON: {e}")
    if isinstance(data, dict) and isinstance(data.get("cells"), list):
        data = data["cells"]
    items = []
    if isinstance(data, dict):
        for key, cell in data.items():
            if not isinstance(cell, dict):
                raise ReportError(f"{path}: cell '{key}' is not an object")
            model, _, policy = key.partition("|")
            items.append(dict(cell, model=cell.get("model", model), policy=cell.get("policy", policy)))
    elif isinstance(data, list):
        items = data
    else:
        raise ReportError(f"{path}: expected a list of cells or an object of 'MODEL|POLICY' cells")
    cells = []
    for i, c in enumerate(items):
        if not isinstance(c, dict):
            raise ReportError(f"{path}: cell {i} is not an object")
        if c.get("status", "ok") != "ok":
            continue
        if "bytes" not in c and "model_bytes" not in c and ("samples_per_s" in c or "agreement" in c):
            cells += eval_cells(path, i, c)  # an `fgq eval --json` output
            continue
        b = c.get("bytes", c.get("model_bytes"))
        t = c.get("top1")
        if b is None or t is None:
            continue  # a cell that measured something else (no size, or no accuracy)
        if not isinstance(t, (int, float)) or not isinstance(b, (int, float)) or b <= 0 or not 0 <= t <= 1:
            raise ReportError(f"{path}: cell {i} ('{c.get('model')}|{c.get('policy')}'): top1 must be a fraction "
                              f"in [0, 1] and bytes a positive number (got top1={t!r}, bytes={b!r})")
        cells.append({"model": str(c.get("model", "")), "policy": str(c.get("policy", "")), "top1": float(t),
                      "bytes": float(b)})
    if not cells:
        raise ReportError(f"{path}: no cell has both top1 and bytes (or model_bytes)")
    return cells


def file_bytes(path, label):
    try:
        return os.path.getsize(path)
    except OSError as e:
        raise ReportError(f"{label}: the model {path} is not there to size: {e.strerror}")


def eval_cells(path, i, c):
    """Cells of one `fgq eval --json` output: a model's {"model", "top1"}, or float against quantized
    {"float_model", "quant_model", "float", "quant"} (two cells); bytes are the model files' sizes."""
    label = f"{path}: cell {i}"
    if isinstance(c.get("model"), str) and isinstance(c.get("top1"), (int, float)):
        return [{"model": "fgq eval", "policy": short_name(c["model"]), "top1": float(c["top1"]),
                 "bytes": float(file_bytes(c["model"], label))}]
    if isinstance(c.get("float_model"), str) and isinstance(c.get("quant_model"), str) and \
            isinstance(c.get("quant"), dict) and isinstance(c.get("float"), dict):
        qpath = c["quant_model"].split(", made by: ", 1)[0]
        name = short_name(c["float_model"])
        return [{"model": name, "policy": "float", "top1": float(c["float"]["top1"]),
                 "bytes": float(file_bytes(c["float_model"], label))},
                {"model": name, "policy": policy_of(recipe_of(c)) or short_name(qpath),
                 "top1": float(c["quant"]["top1"]), "bytes": float(file_bytes(qpath, label))}]
    return []  # a cell that measured something else


def pareto_front(points):
    """Indices of the points no other point beats (fewer or equal bytes and higher or equal top-1,
    one strictly), by bytes."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# ---- figures -------------------------------------------------------------------------------------


def fig_sqnr(plt, b):
    quant = b["quant"]
    wts = b["weights"]["tensors"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7.5), gridspec_kw={"height_ratios": [3, 2]})
    names = [l["name"] for l in quant[0]["eval"]["layers"]]
    x = range(len(names))
    for q in quant:
        by_name = {l["name"]: l["sqnr_db"] for l in q["eval"]["layers"]}
        y = [by_name.get(n) for n in names]
        y = [math.nan if v is None else v for v in y]
        ax1.plot(list(x), y, marker="o", label=f"{short_name(q['path'])} ({policy_of(recipe_of(q['eval']))})")
    ax1.set_xticks(list(x))
    ax1.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax1.set_ylabel("activation SQNR (dB)")
    ax1.set_title("Activation SQNR against the float model, along the network (fgq eval)")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    labels = [f"{t['node']}\n({t['name']})" for t in wts]
    vals = [math.nan if t["sqnr_db"] is None else t["sqnr_db"] for t in wts]
    bars = ax2.bar(range(len(wts)), vals, color="tab:purple")
    for r, v in zip(bars, vals):
        ax2.annotate(db(v), (r.get_x() + r.get_width() / 2, r.get_height()), ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(range(len(wts)))
    ax2.set_xticklabels(labels, fontsize=8)
    ax2.set_ylabel("weight SQNR (dB)")
    ax2.set_title(f"Weight SQNR per weight layer under {b['weights']['policy']}, round to nearest (fgq weights)")
    ax2.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def fig_sensitivity(plt, b):
    rows = b["sensitivity"]["sensitivity"]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * max(len(rows), 1)))
    drops = [100.0 * r["top1_drop"] for r in rows]
    y = list(range(len(rows)))[::-1]  # worst at the top
    colors = ["tab:red" if d > 0 else "tab:gray" for d in drops]
    ax.barh(y, drops, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['name']} ({r['op']}, {r['policy']})" for r in rows], fontsize=8)
    for yy, d, r in zip(y, drops, rows):
        ax.annotate(f" {d:+.2f} pts, out SQNR {db(r['sqnr_db'])} dB", (max(d, 0), yy), va="center", fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("top-1 lost with only this layer quantized (points)")
    ax.set_title("Sensitivity: one weight layer quantized at a time, worst first (fgq eval --sensitivity)")
    lo, hi = min(drops + [0.0]), max(drops + [0.0])
    ax.set_xlim(lo - 0.1 * (hi - lo + 1e-9), hi + 0.8 * (hi - lo + 0.5))
    fig.tight_layout()
    return fig


def mean(v):
    return sum(v) / len(v) if v else 0.0


def fig_weights(plt, b):
    t = b["weight_values"]["tensors"][0]
    policy = b["weight_values"]["policy"]
    w, q = t["float"], t["dequant"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    ax1.hist(w, bins=80, color="tab:blue")
    ax1.set_title(f"{t['node']} ({t['name']}, {t['rows']}x{t['k']}): float weights", fontsize=10)
    ax1.set_xlabel("w")
    ax1.set_ylabel("count")
    levels = sorted(set(q))
    if len(levels) <= 64:  # few distinct values: one bar each, as stems
        counts = {v: 0 for v in levels}
        for v in q:
            counts[v] += 1
        ax2.vlines(levels, 0, [counts[v] for v in levels], color="tab:orange", linewidth=1.2)
    else:
        ax2.hist(q, bins=80, color="tab:orange")
    ax2.set_title(f"after {policy}: SQNR {db(t['sqnr_db'])} dB, {100 * t['zero_fraction']:.1f} % zeros", fontsize=10)
    ax2.set_xlabel("dequantized w")
    if "alpha_pos" in t:
        ap, an = mean(t["alpha_pos"]), mean(t["alpha_neg"])
        dp, dn = mean(t["delta_pos"]), mean(t["delta_neg"])
        for ax in (ax1, ax2):
            ax.axvline(dp, color="tab:green", linestyle="--", linewidth=1)
            ax.axvline(-dn, color="tab:green", linestyle="--", linewidth=1)
            ax.axvline(ap, color="tab:red", linestyle=":", linewidth=1.2)
            ax.axvline(-an, color="tab:red", linestyle=":", linewidth=1.2)
        ax1.plot([], [], color="tab:green", linestyle="--", label=f"mean Δ⁺ {dp:.4g}, Δ⁻ {dn:.4g}")
        ax1.plot([], [], color="tab:red", linestyle=":", label=f"mean α⁺ {ap:.4g}, α⁻ {an:.4g}")
        ax1.legend(fontsize=8)
        ax2.set_yscale("log")
    fig.suptitle(f"Weights of one layer before and after quantization (groups of {t['group']} along k)",
                 fontsize=11)
    fig.tight_layout()
    return fig


def pareto_series(b, sweeps):
    """{title: [(bytes, top1, label, kind)]}: this report's models first, then each swept model."""
    series = {}
    first = b["quant"][0]["eval"]
    own = [(b["float_bytes"], first["float"]["top1"], "float", "float")]
    for q in b["quant"]:
        pol = policy_of(recipe_of(q["eval"]))
        own.append((q["bytes"], q["eval"]["quant"]["top1"], f"{short_name(q['path'])} ({pol})",
                    "s8" if pol == "s8" else "quant"))
    series[f"{short_name(b['float_model'])} on {first['samples']} samples (this report)"] = own
    for c in sweeps:
        kind = "float" if c["policy"] == "float" else "s8" if c["policy"] == "s8" else "quant"
        series.setdefault(c["model"] + " (sweep)", []).append((c["bytes"], c["top1"], c["policy"], kind))
    return series


def kbytes(v):
    return f"{v / 1e6:.3g} MB" if v >= 1e6 else f"{v / 1e3:.3g} kB"


def fig_pareto(plt, series):
    from matplotlib import ticker

    n = len(series)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.5 * rows), squeeze=False)
    style = {"float": ("*", "tab:blue", 180), "s8": ("D", "tab:green", 70), "quant": ("o", "tab:gray", 40)}
    for ax, (title, pts) in zip([a for r in axes for a in r], series.items()):
        front = pareto_front([(p[0], p[1]) for p in pts])
        fx = [pts[i][0] for i in front]
        fy = [100 * pts[i][1] for i in front]
        ax.step(fx, fy, where="post", color="tab:red", linewidth=1.2, label="Pareto front")
        for kind, (m, c, s) in style.items():
            sel = [p for p in pts if p[3] == kind]
            if sel:
                ax.scatter([p[0] for p in sel], [100 * p[1] for p in sel], marker=m, color=c, s=s, zorder=3,
                           label={"float": "float", "s8": "s8", "quant": "other policies"}[kind])
        for i, p in enumerate(pts):  # many cells: name the front, float and s8 only
            if len(pts) <= 8 or i in front or p[3] != "quant":
                ax.annotate(p[2], (p[0], 100 * p[1]), fontsize=7, xytext=(4, 4 if i in front else -9),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: kbytes(v)))
        ax.xaxis.set_minor_formatter(ticker.FuncFormatter(
            lambda v, _: kbytes(v) if max(p[0] for p in pts) < 4 * min(p[0] for p in pts) else ""))
        ax.tick_params(axis="x", which="both", labelsize=7)
        ax.set_xlabel("model bytes")
        ax.set_ylabel("top-1 %")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    for ax in [a for r in axes for a in r][n:]:
        ax.set_visible(False)
    fig.suptitle("Accuracy against model bytes", fontsize=11)
    fig.tight_layout()
    return fig


# ---- the page ------------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
code{background:#f6f6f6;padding:0 3px}.note{color:#666;font-size:13px}"""


def table(head, rows, numeric_from=1):
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            cls = ' class="n"' if i >= numeric_from else ""
            cells.append(f"<td{cls}>{html.escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def page(b, figs, sweeps):
    e = html.escape
    q0 = b["quant"][0]["eval"]
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>fgq report: {e(short_name(b['float_model']))}"
             f"</title><style>{CSS}</style></head><body>",
             f"<h1>fgq report: {e(short_name(b['float_model']))}</h1>",
             f"<p class=\"note\">fgq {e(b['fgq_version'])}; float model <code>{e(b['float_model'])}</code>; "
             f"{q0['samples']} samples; flags <code>{e(' '.join(b['argv']))}</code></p>",
             "<h2>Accuracy</h2>"]
    rows = [["float", e(short_name(b["float_model"])), pct(q0["float"]["top1"]), pct(q0["float"]["top5"]), "–", "–",
             b["float_bytes"]]]
    for q in b["quant"]:
        ev = q["eval"]
        rows.append([short_name(q["path"]), recipe_of(ev), pct(ev["quant"]["top1"]), pct(ev["quant"]["top5"]),
                     pct(ev["agreement"]), db(ev["output_sqnr_db"]), q["bytes"]])
    parts.append(table(["model", "made by", "top-1 %", "top-5 %", "agreement %", "output SQNR dB", "bytes"], rows,
                       numeric_from=2))
    parts.append("<h2 id=\"sqnr\">Per-layer SQNR</h2>")
    parts.append(figs["sqnr"])
    head = ["tensor", "node (op)"] + [short_name(q["path"]) + " dB" for q in b["quant"]]
    by = [{l["name"]: l["sqnr_db"] for l in q["eval"]["layers"]} for q in b["quant"]]
    rows = [[l["name"], f"{l['node']} ({l['op']})"] + [db(m.get(l["name"])) for m in by] for l in q0["layers"]]
    parts.append(table(head, rows, numeric_from=2))
    rows = [[t["node"], t["name"], "x".join(map(str, t["shape"])), f"{t['bits_per_weight']:.2f}", db(t["sqnr_db"]),
             f"{100 * t['zero_fraction']:.1f}"] for t in b["weights"]["tensors"]]
    parts.append(f"<p>Weight SQNR under <code>{e(b['weights']['policy'])}</code> (round to nearest):</p>")
    parts.append(table(["layer", "tensor", "shape", "bits/w", "SQNR dB", "zeros %"], rows, numeric_from=2))
    parts.append("<h2 id=\"sensitivity\">Sensitivity</h2>")
    if b["sensitivity"] is None:
        parts.append("<p class=\"note\">Not run: give <code>--calib</code> to rank the layers.</p>")
    else:
        parts.append(figs["sensitivity"])
        rows = [[i + 1, f"{r['name']} ({r['op']})", r["policy"], pct(r["top1"]), f"{100 * r['top1_drop']:.2f}",
                 db(r["sqnr_db"]), r["sqnr_rank"]] for i, r in enumerate(b["sensitivity"]["sensitivity"])]
        parts.append(table(["rank", "layer", "policy", "top-1 %", "drop (pts)", "out SQNR dB", "SQNR rank"], rows,
                           numeric_from=3))
    parts.append("<h2 id=\"weights\">Weights of one layer</h2>")
    parts.append(figs["weights"])
    parts.append("<h2 id=\"pareto\">Accuracy against model bytes</h2>")
    parts.append(figs["pareto"])
    if sweeps:
        parts.append(f"<p class=\"note\">Sweep cells from {e(', '.join(b['sweep']))}.</p>")
    embedded = json.loads(json.dumps(b))
    embedded["sweep_cells"] = sweeps
    for t in embedded["weight_values"]["tensors"]:  # a large layer's weights would swell the page
        if len(t["float"]) > MAX_EMBEDDED_VALUES:
            t["values_omitted"] = len(t.pop("float")) + len(t.pop("dequant"))
    data = json.dumps(embedded, sort_keys=True).replace("</", "<\\/")
    parts.append(f"<script type=\"application/json\" id=\"fgq-report-data\">{data}</script>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def main(argv):
    if len(argv) != 3:
        print("usage: _report.py BUNDLE.json OUT.html (run by `fgq report`)", file=sys.stderr)
        return EXIT_BAD
    with open(argv[1], encoding="utf-8") as f:
        b = json.load(f)
    out = argv[2]
    try:
        cells = [c for p in b["sweep"] for c in load_sweep(p)]
        sweeps = list({(c["model"], c["policy"], c["top1"], c["bytes"]): c for c in cells}.values())  # once each
    except ReportError as e:
        print(f"fgq report: {e}", file=sys.stderr)
        return EXIT_BAD
    os.environ.setdefault("MPLCONFIGDIR", tempfile.gettempdir())
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = os.path.dirname(os.path.abspath(out))
    stem = os.path.splitext(os.path.basename(out))[0]
    makers = {"sqnr": lambda: fig_sqnr(plt, b), "weights": lambda: fig_weights(plt, b),
              "pareto": lambda: fig_pareto(plt, pareto_series(b, sweeps))}
    if b["sensitivity"] is not None:
        makers["sensitivity"] = lambda: fig_sensitivity(plt, b)
    done = []  # (temporary, final) paths

    def stop(sig, _frame):  # a SIGTERM / SIGHUP (fgq report passes them on) ends through `finally`
        raise SystemExit(128 + sig)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        figs = {}
        for key, make in makers.items():
            fig = make()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
            png = buf.getvalue()
            svg = io.BytesIO()
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
            plt.close(fig)
            for ext, data in (("png", png), ("svg", svg.getvalue())):
                fd, tmp = tempfile.mkstemp(prefix=f".{stem}-{key}.", suffix=".tmp", dir=folder)
                done.append((tmp, os.path.join(folder, f"{stem}-{key}.{ext}")))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            alt = {"sqnr": "per-layer SQNR", "sensitivity": "sensitivity ranking", "weights": "weight distribution",
                   "pareto": "accuracy against model bytes"}[key]
            figs[key] = (f"<figure id=\"fig-{key}\"><img alt=\"{alt}\" "
                         f"src=\"data:image/png;base64,{base64.b64encode(png).decode('ascii')}\"></figure>")
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=folder)
        done.append((tmp, out))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page(b, figs, sweeps))
        for tmp, final in done:
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        done = []
    except OSError as e:
        print(f"fgq report: {e.filename or out}: {e.strerror}", file=sys.stderr)
        return EXIT_BAD
    finally:
        for tmp, _ in done:
            if os.path.exists(tmp):
                os.unlink(tmp)
    print(out)
    for key in makers:
        for ext in ("png", "svg"):
            print(os.path.join(folder, f"{stem}-{key}.{ext}"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
