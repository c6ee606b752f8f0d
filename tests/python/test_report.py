"""`fgq report`: one self-contained HTML page (and PNG figures) from the C code's numbers.

Oracles: `fgq eval --json` run here separately (the page's numbers must be its numbers), the
HTML text itself (no external reference: no http(s)://, no file: URL, every <img> a data: URI),
the PNGs beside the page (byte-equal to the inlined ones) and Debian's headless Chromium, which
must render the page to a screenshot that is not blank, with no console error. mnist-8 quantized
twice (s8, ternary:g4, round to nearest) on 200 calibration images; evaluation on 400 images keeps this under ~20 s
(fewer under ASan, FGQ_SANITIZED=1).
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO_ROOT, _fgq_bin, run_fgq

MODEL = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"
LABELS = REPO_ROOT / "examples" / "mnist" / "t10k-labels-idx1-ubyte.gz"
SWEEP = REPO_ROOT / "docs" / "accuracy-real-results.json"
FIGURES = ("sqnr", "sensitivity", "weights", "pareto")
SANITIZED = os.environ.get("FGQ_SANITIZED", "0") == "1"
EVAL = "1000:1150" if SANITIZED else "1000:1400"  # ASan runs fgq several times slower
CALIB = "0:100" if SANITIZED else "0:200"


def _needs_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pytest.skip("matplotlib is not installed (pip install -r requirements.txt)")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    _needs_matplotlib()
    d = tmp_path_factory.mktemp("report")
    quant = []
    for name, policy in (("s8", "s8"), ("t2g4", "ternary:g4")):
        q = d / f"mnist-8.{name}.fgq"
        # --solver rtn: GPTQ's solve is the slow part here (10 s under ASan) and not what is tested
        p = run_fgq("quantize", MODEL, "--calib", IMAGES, "--calib-samples", CALIB, "--weights", policy, "--solver",
                    "rtn", "-o", q)
        assert p.returncode == 0, p.stderr
        quant.append(q)
    evals = []  # a second sweep file: a list of `fgq eval --json` outputs, one model each
    for q in quant:
        p = run_fgq("eval", q, "--data", IMAGES, "--labels", LABELS, "--samples", "0:100", "--json")
        assert p.returncode == 0, p.stderr
        evals.append(json.loads(p.stdout))
    (d / "evals.json").write_text(json.dumps(evals))
    out = d / "out" / "report.html"
    out.parent.mkdir()
    p = run_fgq("report", MODEL, *quant, "--data", IMAGES, "--labels", LABELS, "--samples", EVAL,
                "--calib", IMAGES, "--calib-samples", CALIB, "--first-last", "same", "--solver", "rtn", "--sweep", SWEEP,
                "--sweep", d / "evals.json", "-o", out, env={"FGQ_PYTHON": sys.executable})  # the interpreter whose matplotlib was checked
    assert p.returncode == 0, p.stderr
    return {"dir": d, "quant": quant, "out": out, "html": out.read_text(encoding="utf-8"), "stdout": p.stdout,
            "evals": evals}


def page_data(text):
    m = re.search(r'<script type="application/json" id="fgq-report-data">(.*?)</script>', text, re.S)
    assert m, "the page carries its numbers as JSON"
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_self_contained_with_every_figure(made):
    text = made["html"]
    assert "http://" not in text and "https://" not in text and "file:" not in text
    imgs = re.findall(r'<img [^>]*src="([^"]*)"', text)
    assert len(imgs) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in imgs)
    assert not re.search(r'(href|src)="(?!data:)', text), "no link to another file"
    for key in FIGURES:
        m = re.search(rf'<figure id="fig-{key}"><img [^>]*src="data:image/png;base64,([^"]*)"', text)
        assert m, key
        beside = made["out"].parent / f"report-{key}.png"
        assert beside.read_bytes() == base64.b64decode(m.group(1)), key
        assert str(beside) in made["stdout"]
        svg = made["out"].parent / f"report-{key}.svg"  # the same figure as vector graphics
        assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml") and "<svg" in svg.read_text(), key
        assert str(svg) in made["stdout"]
    assert sorted(os.listdir(made["out"].parent)) == sorted(
        ["report.html"] + [f"report-{k}.{e}" for k in FIGURES for e in ("png", "svg")])


def test_numbers_are_fgq_evals(made):
    data = page_data(made["html"])
    for q, entry in zip(made["quant"], data["quant"]):
        p = run_fgq("eval", MODEL, q, "--data", IMAGES, "--labels", LABELS, "--samples", EVAL, "--json")
        assert p.returncode == 0, p.stderr
        ev = json.loads(p.stdout)
        got = entry["eval"]
        assert entry["bytes"] == q.stat().st_size
        for k in ("samples", "agreement", "output_sqnr_db", "float_model", "quant_model"):
            assert got[k] == ev[k], k
        assert got["float"]["top1"] == ev["float"]["top1"] and got["quant"]["top1"] == ev["quant"]["top1"]
        assert [(l["name"], l["sqnr_db"]) for l in got["layers"]] == [(l["name"], l["sqnr_db"]) for l in ev["layers"]]
        # and the tables show them
        assert f"<td class=\"n\">{100 * ev['quant']['top1']:.2f}</td>" in made["html"]
        assert f"<td class=\"n\">{100 * ev['agreement']:.2f}</td>" in made["html"]
        for l in ev["layers"]:
            assert f"<td class=\"n\">{l['sqnr_db']:.2f}</td>" in made["html"], l["name"]
    sens = data["sensitivity"]["sensitivity"]
    assert [r["policy"] for r in sens] and all(r["policy"] == "ternary:g4:exact" for r in sens)  # --first-last same
    w = run_fgq("weights", MODEL, "--weights", "ternary:g4", "--json")
    assert [t["sqnr_db"] for t in json.loads(w.stdout)["tensors"]] == [t["sqnr_db"] for t in data["weights"]["tensors"]]
    vals = data["weight_values"]["tensors"][0]
    assert vals["node"] == "Convolution110"  # the largest weight layer (16 x 200 weights)
    assert len(vals["float"]) == len(vals["dequant"]) == 3200 and "alpha_pos" in vals


def test_sweep_cells(made):
    """Both sweep forms reach the accuracy/bytes plot: the results file's ok cells with a size, and
    each `fgq eval --json` output as (its file's size, its top-1)."""
    cells = page_data(made["html"])["sweep_cells"]
    results = json.loads(SWEEP.read_text())
    sized = [k for k, c in results.items() if c.get("status") == "ok" and "model_bytes" in c and "top1" in c]
    assert sum(c["model"] != "fgq eval" for c in cells) == len(sized)
    mine = sorted((c["policy"], c["bytes"], c["top1"]) for c in cells if c["model"] == "fgq eval")
    assert mine == sorted((q.name, q.stat().st_size, e["top1"]) for q, e in zip(made["quant"], made["evals"]))


def test_renders_in_chromium(made, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/install-deps.sh installs it)")
    try:
        from PIL import Image
    except ImportError:
        pytest.skip("PIL (pillow, a matplotlib dependency) is not installed")
    shot = tmp_path / "shot.png"
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
                        made["out"].as_uri()], capture_output=True, text=True, errors="replace", timeout=90)
    assert p.returncode == 0, p.stderr[-2000:]
    assert shot.exists()
    console = [l for l in p.stderr.splitlines()
               if "CONSOLE" in l or "Uncaught" in l or "Failed to load resource" in l or "net::ERR" in l]
    assert not console, console
    px = np.asarray(Image.open(shot).convert("L"))
    assert px.shape == (3000, 1200)
    dark = (px < 200).mean()
    assert dark > 0.03, f"blank screenshot ({dark:.4f} of pixels drawn)"
    # the figures were drawn, not broken-image boxes: plenty of colour in the page's figure area
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    colourful = (np.abs(rgb[..., 0] - rgb[..., 2]) > 60).mean()
    assert colourful > 0.005, colourful


def test_bad_inputs_exit_2_and_write_nothing(made, tmp_path):
    q = made["quant"][0]
    base = [MODEL, q, "--data", IMAGES, "--labels", LABELS, "--samples", "0:50"]
    bad_sweep = tmp_path / "sweep.json"
    bad_sweep.write_text("{not json")
    no_mpl = tmp_path / "python-without-matplotlib"  # an interpreter where `import matplotlib` fails
    no_mpl.write_text("#!/bin/sh\nexit 1\n")
    no_mpl.chmod(0o755)
    cases = [
        (["--sweep", bad_sweep], str(bad_sweep)),
        (["--python", "/nonexistent/python3"], "cannot be run"),
        (["--python", no_mpl], "has no matplotlib"),
        (["--weight-layer", "nope"], "'nope'"),
        (["--weights", "ternary:g5x"], "ternary:g5x"),
        (["--samples", "0:50", "--labels", tmp_path / "missing.npy"], "missing.npy"),
        ([tmp_path / "missing.fgq"], "missing.fgq: cannot read"),
        (["--data", MODEL], "model.onnx"),  # not data: the eval's own message names the file
    ]
    for extra, needle in cases:
        out = tmp_path / "o" / "r.html"
        out.parent.mkdir(exist_ok=True)
        p = run_fgq("report", *base, *extra, "-o", out, env={"FGQ_PYTHON": sys.executable})
        assert p.returncode == 2, (extra, p.stderr)
        assert needle in p.stderr, (extra, p.stderr)
        assert os.listdir(out.parent) == [], (extra, os.listdir(out.parent))
    p = run_fgq("report", MODEL, "--data", IMAGES, "--labels", LABELS, "-o", tmp_path / "r.html")
    assert p.returncode == 2 and "at least one quantized" in p.stderr
    before = q.read_bytes()
    p = run_fgq("report", MODEL, q, "--data", IMAGES, "--labels", LABELS, "-o", q)  # would overwrite an input
    assert p.returncode == 2 and q.read_bytes() == before
    folder = tmp_path / "page"
    folder.mkdir()
    p = run_fgq("report", MODEL, q, "--data", IMAGES, "--labels", LABELS, "-o", folder)
    assert p.returncode == 2 and "must be a file, not a folder" in p.stderr
    assert os.listdir(folder) == [] and not list(tmp_path.glob("page-*"))
    p = run_fgq("report", MODEL, q, "--data", IMAGES, "--labels", LABELS, "-o", tmp_path / "no" / "dir" / "r.html")
    assert p.returncode == 2 and "cannot write" in p.stderr


def test_signal_removes_everything(made, tmp_path):
    """SIGTERM while the figures are drawn: the drawing child is ended, fgq ends by the signal, and
    neither the page nor fgq's private folder is left behind."""
    q = made["quant"][0]
    started = tmp_path / "drawing"
    slow = tmp_path / "slow-python"  # passes the matplotlib probe, then draws for a minute
    slow.write_text(f"#!/bin/sh\n[ \"$1\" = -c ] && exit 0\necho $$ > {started}\nexec sleep 60\n")
    slow.chmod(0o755)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "o" / "r.html"
    out.parent.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    p = subprocess.Popen([str(_fgq_bin()), "report", str(MODEL), str(q), "--data", str(IMAGES), "--labels", str(LABELS),
                          "--samples", "0:20", "--python", str(slow), "-o", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(600):
        if started.exists() and started.read_text().strip():
            break
        assert p.poll() is None, p.communicate()
        time.sleep(0.1)
    child = int(started.read_text())
    assert os.listdir(tmp), "fgq's private folder exists while it works"
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGTERM
    assert os.listdir(tmp) == [] and os.listdir(out.parent) == []
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # ended and reaped by fgq


def test_ignored_signal_stays_ignored(made, tmp_path):
    """A SIGHUP the caller ignores (nohup) does not stop the report: fgq report leaves it ignored,
    for itself and for its children, and finishes."""
    q = made["quant"][0]
    started = tmp_path / "drawing"
    slow = tmp_path / "slow-python"  # passes the probe, then "draws" for 2 s and exits 0
    slow.write_text(f"#!/bin/sh\n[ \"$1\" = -c ] && exit 0\necho $$ > {started}\nsleep 2\nexit 0\n")
    slow.chmod(0o755)
    out = tmp_path / "r.html"
    p = subprocess.Popen([str(_fgq_bin()), "report", str(MODEL), str(q), "--data", str(IMAGES), "--labels", str(LABELS),
                          "--samples", "0:20", "--python", str(slow), "-o", str(out)],
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(600):
        if started.exists() and started.read_text().strip():
            break
        assert p.poll() is None, p.communicate()
        time.sleep(0.1)
    p.send_signal(signal.SIGHUP)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, (p.returncode, err)


def test_help_names_every_figure():
    p = run_fgq("report", "--help")
    assert p.returncode == 0
    for word in ("sqnr.png", "sensitivity.png", "weights.png", "pareto.png", "--sweep", "matplotlib"):
        assert word in p.stdout
    assert "report" in run_fgq("--help").stdout
