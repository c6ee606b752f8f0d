#!/usr/bin/env python3
"""scripts/device.py — quantized models on emulated Cortex-M cores, bit for bit.

For every model and weight policy: `fgq quantize` (calibration samples drawn
with a fixed seed, or the bundled MNIST images for mnist-8), `fgq export --c
--target cortex-m`,
the example firmware of targets/cortex-m built for each board with Debian's
arm-none-eabi-gcc, run under qemu-system-arm with semihosting, and its output
bytes compared with `fgq run --raw` on this machine. Prints one row per
(model, policy, board) with the footprint the firmware measured:

  flash      .text + .rodata + .data of the ELF (vectors, runtime code, the
             model, constants), and of it the model's bytes
  runtime    flash minus the model: code and constants of the ops the model
             uses (op selection, runtime/ops/op_table.c), start-up code and
             the libc/libm/libgcc functions they call; also measured on the
             same firmware with the runtime built with FGQ_NO_MESSAGES
  RAM        .data + .bss (arena, input/output buffers, model record) + the
             stack's high-water mark (painted at reset, scanned after the run)
  arena      MODEL_ARENA_SIZE of the exported header (activations, one node's
             views, one scratch slice sized for the cortex-m target), the
             firmware's arena, and in parentheses what the Cortex-M build
             computes on the device (fgq_model_arena_size): they must be equal
  insns      instructions per inference: QEMU runs with -icount shift=0 (one
             instruction per ns of virtual time) and the firmware reads
             SysTick at the processor clock, so insns = ticks * 1e9 / clock
             (to within one tick: 40 insns on the M4 board, 31.25 on the M55)

Boards: m4 = mps2-an386 (Cortex-M4F), m55 = mps3-an547 (Cortex-M55).
Models: mnist-8 (examples/), and the MLPerf Tiny v0.7 models ic, kws, vww, ad
from ../shared/models/tiny-v0.7 when that folder exists (else skipped, said).

usage: scripts/device.py [--models mnist-8,ic,...] [--policies s8,ternary:g4]
                         [--boards m4,m55] [--io float|quantized] [--work DIR] [--json OUT] [--markdown]
                         [--no-nomsg] [--quick]
--io quantized: the models quantized with `fgq quantize --io quantized` (u8 codes in and out, no
float QUANTIZE / DEQUANTIZE on the device), fed random codes.
Exit status: 0 all identical (and every arena as exported), 1 a mismatch, an
arena the device computes otherwise, or a failed run, 77 the toolchain or QEMU
is missing (skipped).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FW = os.path.join(ROOT, "targets", "cortex-m")
BOARDS = {"m4": ("mps2-an386", "Cortex-M4F"), "m55": ("mps3-an547", "Cortex-M55")}
TINY = os.environ.get("FGQ_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
TINY = os.path.join(TINY, "models", "tiny-v0.7")
MODELS = {
    "mnist-8": os.path.join(ROOT, "examples", "mnist-8", "model.onnx"),
    "ic": os.path.join(TINY, "model_ic.onnx"),
    "kws": os.path.join(TINY, "model_kws.onnx"),
    "vww": os.path.join(TINY, "model_vww.onnx"),
    "ad": os.path.join(TINY, "model_ad.onnx"),
}
QEMU_TIMEOUT = 300


def fgq_bin():
    return os.environ.get("FGQ", os.path.join(ROOT, "build", "fgq"))


def sh(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def input_shapes(model):
    j = json.loads(sh([fgq_bin(), "inspect", model, "--json"]))
    return [tuple(i["shape"]) for i in j["inputs"]]


def prepare(name, policy, work, solver=None, io="float"):
    """Quantize, export as C, and write the input and the x86 output; returns the model folder."""
    onnx_path = MODELS[name]
    tag = "%s_%s%s" % (name.replace("-", ""), re.sub(r"[^a-z0-9]", "", policy), "_qio" if io == "quantized" else "")
    d = os.path.join(work, tag)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1234)
    shapes = input_shapes(onnx_path)
    if len(shapes) != 1:
        raise RuntimeError("%s: %d inputs; the quantizer takes one" % (name, len(shapes)))
    shape = shapes[0]
    if name == "mnist-8":
        calib = [os.path.join(ROOT, "examples", "mnist", "t10k-images-idx3-ubyte.gz"), "--calib-samples", "0:100"]
        x = np.load(os.path.join(work, "mnist_x.npy")) if os.path.exists(os.path.join(work, "mnist_x.npy")) else None
        if x is None:
            import gzip
            with gzip.open(calib[0], "rb") as f:
                raw = np.frombuffer(f.read(), np.uint8)[16:].reshape(-1, 28, 28)
            x = raw[1000:1001].astype(np.float32).reshape(shape)
            np.save(os.path.join(work, "mnist_x.npy"), x)
    else:
        c = rng.standard_normal((64,) + shape[1:]).astype(np.float32)
        np.save(os.path.join(d, "calib.npy"), c)
        calib = [os.path.join(d, "calib.npy")]
        x = rng.standard_normal(shape).astype(np.float32)
    q = os.path.join(d, "model.fgq")
    sh([fgq_bin(), "quantize", onnx_path, "--calib"] + calib + ["--weights", policy, "-o", q] +
       (["--solver", solver] if solver else []) + (["--io", "quantized"] if io == "quantized" else []))
    sh([fgq_bin(), "export", q, "--c", d, "--target", "cortex-m"])
    desc = json.loads(sh([fgq_bin(), "inspect", q, "--json"]))
    in_dtype = desc["inputs"][0].split()[1]  # "name u8 [1x640] x = s * (q - z)"
    if in_dtype in ("u8", "s8"):  # --io quantized: the input is codes (random ones; run --raw feeds them)
        x = rng.integers(0 if in_dtype == "u8" else -128, 256 if in_dtype == "u8" else 128, size=shape,
                         dtype=np.uint8 if in_dtype == "u8" else np.int8)
    np.save(os.path.join(d, "x.npy"), x)
    with open(os.path.join(d, "in.bin"), "wb") as f:
        f.write(np.ascontiguousarray(x).tobytes())
    n_out = len(desc["outputs"])
    outs = [os.path.join(d, "y%d.npy" % i) for i in range(n_out)]
    argv = [fgq_bin(), "run", q, "--input", os.path.join(d, "x.npy"), "--raw", "--threads", "1"]
    for o in outs:
        argv += ["-o", o]
    sh(argv)
    with open(os.path.join(d, "expect.bin"), "wb") as f:
        for o in outs:
            f.write(np.ascontiguousarray(np.load(o)).tobytes())
    return d


def build(board, dirs, work, nomsg=True):
    b = os.path.join(work, "build-" + board)
    sh(["cmake", "-S", FW, "-B", b, "--toolchain", os.path.join(FW, "arm-none-eabi.cmake"),
        "-DFGQ_BOARD=" + BOARDS[board][0], "-DFGQ_MODELS=" + ";".join(dirs),
        "-DFGQ_FW_NOMSG=" + ("ON" if nomsg else "OFF")])
    sh(["cmake", "--build", b, "-j%d" % max(1, os.cpu_count() or 1)])
    return b


def section_sizes(elf):
    out = sh(["arm-none-eabi-size", "-A", elf])
    s = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 2 and p[0].startswith(".") and p[1].isdigit():
            s[p[0]] = int(p[1])
    return s


def flash_bytes(sec):
    return sum(sec.get(s, 0) for s in (".vectors", ".text", ".ARM.exidx", ".rodata", ".data"))


def run_one(board, elf, d):
    out_bin = os.path.join(d, "out-%s.bin" % board)
    if os.path.exists(out_bin):
        os.remove(out_bin)
    # semihosting paths are relative to QEMU's working folder: run it in d
    argv = ["qemu-system-arm", "-M", BOARDS[board][0], "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native,arg=in.bin out-%s.bin" % board,
            "-icount", "shift=0", "-kernel", elf]
    t0 = time.time()
    r = subprocess.run(argv, capture_output=True, text=True, cwd=d, timeout=QEMU_TIMEOUT)
    wall = time.time() - t0
    m = re.search(r"fgq-fw: ok (.*)", r.stdout + r.stderr)  # QEMU 7 writes the semihosting console to stderr
    if r.returncode != 0 or m is None:
        raise RuntimeError("%s on %s: exit %d\n%s%s" % (os.path.basename(elf), board, r.returncode, r.stdout,
                                                        r.stderr))
    fig = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    with open(out_bin, "rb") as f:
        got = f.read()
    with open(os.path.join(d, "expect.bin"), "rb") as f:
        want = f.read()
    sec = section_sizes(elf)
    flash = flash_bytes(sec)
    nomsg_elf = elf.replace(".elf", "_nomsg.elf")
    flash_nomsg = flash_bytes(section_sizes(nomsg_elf)) if os.path.exists(nomsg_elf) else None
    return dict(identical=got == want, out_bytes=len(got), flash=flash, model_bytes=fig["model_bytes"],
                weight_bytes=fig["weight_bytes"],
                runtime_flash=flash - fig["model_bytes"], runtime_flash_nomsg=flash_nomsg - fig["model_bytes"] if flash_nomsg is not None else None, arena=fig["arena"],
                arena_needed=fig.get("arena_needed", fig["arena"]), stack_used=fig["stack_used"],
                ram=sec.get(".data", 0) + sec.get(".bss", 0) + fig["stack_used"],
                heap_requests=fig["heap_requests"],
                insns=round(fig["run_ticks"] * 1e9 / fig["cpu_hz"]),
                load_insns=round(fig["load_ticks"] * 1e9 / fig["cpu_hz"]), qemu_s=round(wall, 2))


def markdown(rows):
    lines = ["| model | policy | core | identical | flash | model (constants) | runtime flash (no messages) | RAM | "
             "arena (needed) | stack | insns / inference |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %d | %d (%d) | %d (%s) | %d | %d (%d) | %d | %s |" % (
            r["model"], r["policy"], BOARDS[r["board"]][1], "yes" if r["identical"] else "**NO**", r["flash"],
            r["model_bytes"], r["weight_bytes"], r["runtime_flash"], "-" if r["runtime_flash_nomsg"] is None else r["runtime_flash_nomsg"], r["ram"], r["arena"],
            r["arena_needed"], r["stack_used"],
            "{:,}".format(r["insns"])))
    return "\n".join(lines)


def select(tag, models_arg, boards_arg, models, boards):
    """The comma lists of --models and --boards checked against `models` (name -> ONNX path) and
    `boards`: (models found, boards, 0), a model whose file is missing skipped with a line, or
    (None, None, 2) with a message on an unknown name. bench/cmsis_nn shares it."""
    picked = [b for b in boards_arg.split(",") if b]
    for b in picked:
        if b not in boards:
            print("%s: unknown board '%s' (%s)" % (tag, b, ", ".join(boards)), file=sys.stderr)
            return None, None, 2
    found = []
    for m in models_arg.split(","):
        if m not in models:
            print("%s: unknown model '%s' (%s)" % (tag, m, ", ".join(models)), file=sys.stderr)
            return None, None, 2
        if not os.path.exists(models[m]):
            print("%s: %s skipped: %s not found" % (tag, m, models[m]))
            continue
        found.append(m)
    return found, picked, 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mnist-8,ic,kws,vww,ad")
    ap.add_argument("--policies", default="s8,ternary:g4")
    ap.add_argument("--boards", default="m4,m55")
    ap.add_argument("--work", help="working folder (default: a temporary one, removed)")
    ap.add_argument("--json", help="write the rows there")
    ap.add_argument("--markdown", action="store_true", help="print the rows as a markdown table")
    ap.add_argument("--no-nomsg", action="store_true",
                    help="skip the FGQ_NO_MESSAGES builds (no 'no messages' flash column)")
    ap.add_argument("--io", choices=("float", "quantized"), default="float",
                    help="the models' inputs and outputs: float (a QUANTIZE inside the model, its output layer "
                         "handing back float) or "
                         "quantized (fgq quantize --io quantized: u8 codes in and out, as CMSIS-NN's int8 sequence)")
    ap.add_argument("--quick", action="store_true",
                    help="the test suite's run: --no-nomsg, and weights rounded (--solver rtn) instead of solved: "
                         "the comparison with x86 is the same, the quantization faster")
    a = ap.parse_args()
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cmake") if shutil.which(t) is None]
    if missing:
        print("device: SKIPPED: %s not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi "
              "qemu-system-arm)" % ", ".join(missing))
        return 77
    models, boards, status = select("device", a.models, a.boards, MODELS, BOARDS)
    if status != 0:
        return status
    work = a.work or tempfile.mkdtemp(prefix="fgq-device-")
    os.makedirs(work, exist_ok=True)
    rows, failed = [], 0
    try:
        jobs = []
        for m in models:
            for p in a.policies.split(","):
                jobs.append((m, p, prepare(m, p, work, "rtn" if a.quick else None, a.io)))
        for b in boards:
            bdir = build(b, [d for _, _, d in jobs], work, nomsg=not (a.no_nomsg or a.quick))
            for m, p, d in jobs:
                elf = os.path.join(bdir, "fw_%s.elf" % os.path.basename(d))
                try:
                    r = run_one(b, elf, d)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print("device: FAILED %s %s %s: %s" % (m, p, b, e))
                    failed += 1
                    continue
                r.update(model=m, policy=p, board=b, io=a.io)
                rows.append(r)
                print("device: %-8s %-11s %-4s %s  flash %7d (model %7d)  RAM %7d  arena %7d%s  insns %13s  "
                      "qemu %.1f s" % (
                          m, p, b, "identical" if r["identical"] else "DIFFERENT", r["flash"], r["model_bytes"],
                          r["ram"], r["arena"],
                          "" if r["arena"] == r["arena_needed"] else " (DEVICE NEEDS %d)" % r["arena_needed"],
                          "{:,}".format(r["insns"]), r["qemu_s"]))
                if not r["identical"] or r["heap_requests"] != 0 or r["arena"] != r["arena_needed"]:
                    failed += 1
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    if a.markdown:
        print(markdown(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
