"""The device path (docs/device.md): `fgq export --c`, op selection, and the example
firmware on emulated Cortex-M4 and Cortex-M55 cores (scripts/device.py), whose outputs
must equal the x86 runtime's byte for byte, in the arena the export sized for them."""
import glob
import json
import os
import platform
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FGQ = os.environ.get("FGQ_BIN", os.path.join(ROOT, "build", "fgq"))
MNIST = os.path.join(ROOT, "examples", "mnist-8", "model.onnx")
IMAGES = os.path.join(ROOT, "examples", "mnist", "t10k-images-idx3-ubyte.gz")
SANITIZED = os.environ.get("FGQ_SANITIZED") == "1"


def fgq(*args, check=True):
    r = subprocess.run([FGQ] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("fgq %s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


@pytest.fixture(scope="module")
def mnist_fgq(tmp_path_factory):
    d = tmp_path_factory.mktemp("dev")
    q = str(d / "m.fgq")
    fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "--weights", "ternary:g4", "-o", q)
    return q


@pytest.fixture(scope="module")
def mnist_fgq_qio(tmp_path_factory):
    """The same model with u8 codes in and out (`--io quantized`): its graph input and output carry
    the scales and zero points the device image must keep."""
    d = tmp_path_factory.mktemp("devq")
    q = str(d / "m.fgq")
    fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:50", "--weights", "ternary:g4", "--io",
        "quantized", "-o", q)
    return q


def test_export_c_files(mnist_fgq, tmp_path):
    out = tmp_path / "fw" / "src"  # the parent does not exist: only one level is created
    r = fgq("export", mnist_fgq, "--c", str(out), check=False)
    assert r.returncode == 2 and "cannot create the folder" in r.stderr
    out = tmp_path / "src"
    fgq("export", mnist_fgq, "--c", str(out), "--name", "digits")
    names = sorted(os.listdir(out))
    assert names == ["digits.c", "digits.h", "digits_ops.h"]
    h = (out / "digits.h").read_text()
    size = os.path.getsize(mnist_fgq)
    assert '#define DIGITS_TARGET "cortex-m"' in h  # the default: --c is for firmware
    assert '#define DIGITS_INPUT_0_BYTES 3136u /* "Input3": f32 [1,1,28,28] */' in h
    assert "#define DIGITS_OUTPUT_0_BYTES 40u" in h
    ops = (out / "digits_ops.h").read_text()
    assert "#define FGQ_OP_ON_QCONV 1" in ops and "#define FGQ_OP_ON_LSTM 0" in ops
    # ternary:g4 with the first and last layers s8 (the default), u8 activations, one multiplier a group
    for macro, on in (("S8", 1), ("S4", 0), ("T2", 1), ("S8_GROUPS", 0), ("T2_SPLIT", 0)):
        assert re.search(r"#define FGQ_QW_ON_%s %d\b" % (macro, on), ops), macro
    assert re.search(r"#define FGQ_QX_ON_S8 0\b", ops)
    # its two convolutions take im2col + GEMM on a Cortex-M (s8 and ternary rows): the other QCONV paths stay out
    for macro, on in (("DW_PHASES", 0), ("DW_ROWS", 0), ("GEMM", 1), ("REF", 0)):
        assert re.search(r"#define FGQ_QCONV_ON_%s %d\b" % (macro, on), ops), macro
    # the array holds the device image (test_export_c_device_image), smaller than the file
    vals = c_array(out / "digits.c", "digits")
    assert len(vals) < size and "#define DIGITS_SIZE %du" % len(vals) in h
    # --keep-all: the array holds the file's bytes exactly
    keep = tmp_path / "keep"
    fgq("export", mnist_fgq, "--c", str(keep), "--name", "digits", "--keep-all")
    assert "#define DIGITS_SIZE %du" % size in (keep / "digits.h").read_text()
    with open(mnist_fgq, "rb") as f:
        assert c_array(keep / "digits.c", "digits") == f.read()
    assert (keep / "digits_ops.h").read_text() == ops


def c_array(path, name):
    """The bytes of NAME_data[] in an exported NAME.c."""
    c = path.read_text()
    body = c[c.index("%s_data[%s_SIZE] = {" % (name, name.upper())) :]
    return bytes(int(t, 16) for t in body[body.index("{") + 1 : body.rindex("}")].replace(",", " ").split())


@pytest.mark.parametrize("io", ["float", "quantized"])
def test_export_c_device_image(mnist_fgq, mnist_fgq_qio, tmp_path, io):
    """`fgq export --c` writes a device image of the model (export --help): read here against
    runtime/fgq_format.h (version 2) with tests/python/test_fgq_files.py's parser. Oracles: the
    format and the source file's own records. The image is a sealed version-2 file (FNV-1a over
    [128, file_size)) with blob_align 8, the same header counts, tensor and node records (but for
    the blob offsets, the dropped quantization parameters and the dropped WSUM: its node input
    omitted, its constant empty), index and names as the source;
    each constant holds the source's bytes at a multiple of 8; quantization parameters are kept,
    byte for byte, for the graph's inputs and outputs only, zeroed (q_off, q_n_scales, q_axis,
    q_group_size) for every other tensor; the metadata blob keeps the preprocessing without the
    recipe (flags FGQ_META_HAS_PREPROCESS, 536 bytes). Run as a .fgq, it gives the source's
    outputs byte for byte. With float I/O no parameter is kept; with `--io quantized` the input's and
    the output's are (both counted)."""
    mnist_fgq = mnist_fgq_qio if io == "quantized" else mnist_fgq
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_fgq_files import FgqFile, fnv1a32
    fgq("export", mnist_fgq, "--c", str(tmp_path / "c"))
    with open(mnist_fgq, "rb") as f:
        src = FgqFile(f.read())
    img = FgqFile(c_array(tmp_path / "c" / "model.c", "model"))
    hs, hi = src.hdr(), img.hdr()
    assert hi["magic"] == b"FGQMODEL" and hi["version"] == 2 and hi["blob_align"] == 8
    assert hi["file_size"] == len(img.buf) < len(src.buf) and len(img.buf) % 64 == 0
    assert hi["checksum"] == fnv1a32(bytes(img.buf[128:]))
    same = ("n_tensors n_nodes n_inputs n_outputs n_index strings_size inputs_index outputs_index "
            "arena_size").split()
    assert {k: hi[k] for k in same} == {k: hs[k] for k in same}
    for k in ("tensors_off", "nodes_off", "index_off", "strings_off"):
        assert hi[k] % 64 == 0, (k, hi[k])

    def section(f, off, n):
        return bytes(f.buf[f.hdr()[off]:f.hdr()[off] + n])

    # WSUM (QGEMM input 5, QGEMM_DYN input 7: docs/quantized-ops.md §3.1) is read by x86 kernels
    # only: the image for the default target (cortex-m) omits the input and empties the constant
    wsum = {}  # tensor -> the index entry of the node input that read it
    for j in range(hs["n_nodes"]):
        n = src.node(j)
        at = {22: 5, 34: 7}.get(n["op"])
        if at is not None and n["n_inputs"] > at and n["inputs"][at] >= 0:
            wsum[n["inputs"][at]] = n["io_index"] + at
    assert wsum  # the output layer's (QGEMM with --io quantized, QGEMM_DYN with float I/O)
    want = bytearray(section(src, "index_off", 4 * hs["n_index"]))
    for t, entry in wsum.items():
        struct.pack_into("<i", want, 4 * entry, -1)
        struct.pack_into("<i", want, 4 * src.tensor(t)["dims_index"], 0)
    assert section(img, "index_off", 4 * hs["n_index"]) == bytes(want)
    assert section(img, "strings_off", hs["strings_size"]) == section(src, "strings_off", hs["strings_size"])
    for j in range(hs["n_nodes"]):
        a, b = src.node(j), img.node(j)
        a["inputs"] = [-1 if a["io_index"] + i in wsum.values() else v for i, v in enumerate(a["inputs"])]
        assert a == b, j
    kept = dropped = 0
    for t in range(hs["n_tensors"]):
        a, b = src.tensor(t), img.tensor(t)
        blob = ("data_off", "q_off", "q_n_scales", "q_axis", "q_group_size")
        if t in wsum:  # an empty constant
            assert b["kind"] == 2 and b["dims"] == [0] and b["data_size"] == 0 and b["data_off"] == 0, b
            continue
        assert {k: v for k, v in a.items() if k not in blob} == {k: v for k, v in b.items() if k not in blob}, t
        if a["kind"] == 2:  # constant
            assert b["data_off"] % 8 == 0 and b["data_off"] >= hi["strings_off"] + hi["strings_size"], b
            assert img.buf[b["data_off"]:b["data_off"] + b["data_size"]] == src.buf[a["data_off"]:a["data_off"] + a["data_size"]]
        else:
            assert b["data_off"] == a["data_off"]  # arena offsets
        if a["q_n_scales"] > 0 and (a["kind"] == 1 or a["flags"] & 1):
            kept += 1
            assert all(b[k] == a[k] for k in blob[2:]) and b["q_off"] % 8 == 0, (a, b)
            n = 8 * a["q_n_scales"]
            assert img.buf[b["q_off"]:b["q_off"] + n] == src.buf[a["q_off"]:a["q_off"] + n]
        else:
            dropped += a["q_n_scales"] > 0
            assert (b["q_off"], b["q_n_scales"], b["q_axis"], b["q_group_size"]) == (0, 0, 0, 0), b
    assert dropped > 0  # the ternary:g4 weights' per-channel scales, the activations'
    assert kept == (2 if io == "quantized" else 0)  # the u8 input and output, or nothing
    if hs["meta_off"]:
        m_src = struct.unpack_from("<II", src.buf, hs["meta_off"])
        assert m_src[1] & 1  # `fgq quantize` records the preprocessing
        assert hi["meta_size"] == 536 and hi["meta_off"] % 8 == 0
        assert struct.unpack_from("<II", img.buf, hi["meta_off"]) == (m_src[0], 1)  # version, flags
        assert img.buf[hi["meta_off"] + 8:hi["meta_off"] + 536] == src.buf[hs["meta_off"] + 8:hs["meta_off"] + 536]
    # the image is a model file: it runs as the source does
    (tmp_path / "image.fgq").write_bytes(bytes(img.buf))
    x = np.random.default_rng(2).uniform(0, 255, (1, 1, 28, 28))
    np.save(tmp_path / "x.npy", x.astype(np.uint8 if io == "quantized" else np.float32))  # --raw: codes
    for name, path in (("src", mnist_fgq), ("img", str(tmp_path / "image.fgq"))):
        fgq("run", path, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / ("y_%s.npy" % name)), "--raw")
    assert (tmp_path / "y_img.npy").read_bytes() == (tmp_path / "y_src.npy").read_bytes()


def test_export_keep_all_goes_with_c(mnist_fgq, tmp_path):
    """export --help: --keep-all is a --c flag; with --onnx alone it is a usage error (exit 2)."""
    r = fgq("export", mnist_fgq, "--onnx", str(tmp_path / "o.onnx"), "--keep-all", check=False)
    assert r.returncode == 2 and "--keep-all goes with --c" in r.stderr, r.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_export_c_qconv_paths(tmp_path):
    """The QCONV paths NAME_ops.h keeps (FGQ_QCONV_ON_*) follow the layers: s4 weights have no
    Cortex-M GEMM row, so their convolutions take the reference (the depthwise phase form of the
    MLPerf Tiny models: test_firmware_on_cortex_m4_and_m55_bit_identical runs their headers)."""
    q = str(tmp_path / "s4.fgq")
    fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:20", "--weights", "s4:g32", "--solver", "rtn",
        "--first-last", "s4:g32", "-o", q)
    fgq("export", q, "--c", str(tmp_path / "s4"))
    ops = (tmp_path / "s4" / "model_ops.h").read_text()
    for macro, on in (("DW_PHASES", 0), ("DW_ROWS", 0), ("GEMM", 0), ("REF", 1)):
        assert re.search(r"#define FGQ_QCONV_ON_%s %d\b" % (macro, on), ops), macro


def header_sizes(h):
    return {k: int(v) for k, v in re.findall(r"#define MODEL_(\w+_SIZE) (\d+)u", h)}


def test_export_c_targets(mnist_fgq, tmp_path):
    """--target sizes the scratch for that build (oracle for cortex-m: the firmware test below;
    for host: the runtime's own fgq_model_arena_size, which `fgq inspect` prints); the
    activations do not depend on it, the x86-64 tiles are the largest and host is this build."""
    got = {}
    for t in ("cortex-m", "aarch64", "x86-64", "host", None):
        d = tmp_path / (t or "default")
        r = fgq("export", mnist_fgq, "--c", str(d), *(["--target", t] if t else []))
        h = (d / "model.h").read_text()
        got[t] = header_sizes(h)
        assert "arena %d bytes" % got[t]["ARENA_SIZE"] in r.stdout
        assert got[t]["ACTIVATION_SIZE"] == got["cortex-m"]["ACTIVATION_SIZE"]
    assert got[None] == got["cortex-m"]
    assert got["cortex-m"]["SCRATCH_SIZE"] < got["aarch64"]["SCRATCH_SIZE"] <= got["x86-64"]["SCRATCH_SIZE"]
    if platform.machine() in ("x86_64", "AMD64"):
        assert got["host"] == got["x86-64"]
    info = fgq("inspect", mnist_fgq).stdout
    assert "arena %d bytes" % got["host"]["ARENA_SIZE"] in info, info


def test_export_help_names_targets():
    out = fgq("export", "--help").stdout
    for t in ("cortex-m", "aarch64", "x86-64", "host"):
        assert "  %s " % t in out
    assert "cortex-m (default)" in out
    assert "aarch64 (arm64)" in out and "x86-64 (x86_64,\n                   amd64)" in out


@pytest.mark.parametrize("alias, name", [("x86_64", "x86-64"), ("amd64", "x86-64"), ("arm64", "aarch64")])
def test_export_c_target_aliases(mnist_fgq, tmp_path, alias, name):
    """An alias gives its profile's header byte for byte: the profile keeps its one name."""
    for t in (alias, name):
        fgq("export", mnist_fgq, "--c", str(tmp_path / t), "--target", t)
    h = (tmp_path / alias / "model.h").read_text()
    assert h == (tmp_path / name / "model.h").read_text()
    assert '#define MODEL_TARGET "%s"' % name in h


def test_export_c_bad_target_lists_the_profiles(mnist_fgq, tmp_path):
    """The list comes from the runtime's profiles (fgq_target_at), with the aliases."""
    r = fgq("export", mnist_fgq, "--c", str(tmp_path / "D"), "--target", "x86", check=False)
    assert r.returncode == 2 and "--target 'x86' is not a target" in r.stderr, r.stderr
    for t in ("cortex-m", "aarch64 (arm64)", "x86-64 (x86_64, amd64)", "host (this build)"):
        assert t in r.stderr, r.stderr
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize("args, msg", [
    (["--target", "cortex-m4", "--c", "D"], "--target 'cortex-m4' is not a target"),
    (["--target", "", "--c", "D"], "is not a target"),
    (["--target", "host", "--onnx", "D"], "--target goes with --c"),
    (["--c", "D", "--target"], "--target needs a value"),
    (["--name", "1abc", "--c", "D"], "not a C identifier"),
    (["--name", "a-b", "--c", "D"], "not a C identifier"),
    (["--name", "x", "--onnx", "D"], "--name goes with --c"),
    ([], "--onnx OUT.onnx or --c DIR is required"),
])
def test_export_c_bad_flags(mnist_fgq, tmp_path, args, msg):
    args = [str(tmp_path / a) if a == "D" else a for a in args]
    r = fgq("export", mnist_fgq, *args, check=False)
    assert r.returncode == 2 and msg in r.stderr, r.stderr
    assert not (tmp_path / "D").exists()


def test_export_c_never_overwrites_its_input(tmp_path, mnist_fgq):
    src = tmp_path / "model.c"
    src.write_bytes(open(mnist_fgq, "rb").read())  # a .fgq that happens to be called model.c
    r = fgq("export", str(src), "--c", str(tmp_path), check=False)
    assert r.returncode == 2 and "would destroy the input" in r.stderr
    assert src.read_bytes() == open(mnist_fgq, "rb").read()


@pytest.mark.skipif(SANITIZED, reason="builds the runtime with the host cc, not the sanitizers: run in the Release build")
def test_op_selection_links_only_used_ops_and_refuses_others(mnist_fgq, tmp_path):
    """The exported C model and the runtime built for the host with the model's op
    selection give the x86 CLI's outputs in the header's arena (exported for this
    build: --target host); with QGEMM_DYN (its output layer, float out) switched off, load
    names the op. In the arena of a
    default (cortex-m) export, smaller than this build's, the run is refused and the
    message names the --target to export with."""
    fgq("export", mnist_fgq, "--c", str(tmp_path), "--target", "host")
    fgq("export", mnist_fgq, "--c", str(tmp_path / "mcu"))
    mcu_arena = header_sizes((tmp_path / "mcu" / "model.h").read_text())["ARENA_SIZE"]
    main = tmp_path / "main.c"
    main.write_text(r'''
#include "fgq_runtime.h"
#include "model.h"
#include <stdio.h>
#include <stdlib.h>
static _Alignas(64) unsigned char arena[MODEL_ARENA_SIZE];
int main(int argc, char **argv) {
    unsigned long long n = argc > 2 ? strtoull(argv[2], NULL, 10) : sizeof arena; /* at most MODEL_ARENA_SIZE */
    static fgq_model m; fgq_error err; fgq_error_clear(&err);
    if (fgq_model_load(&m, model_data, MODEL_SIZE, &err) != FGQ_OK) { printf("%s\n", err.msg); return 2; }
    static float x[MODEL_INPUT_0_BYTES / 4], y[MODEL_OUTPUT_0_BYTES / 4];
    FILE *f = fopen(argv[1], "rb"); if (!f || fread(x, 1, sizeof x, f) != sizeof x) return 3; fclose(f);
    const void *in[1] = { x }; void *out[1] = { y };
    if (fgq_model_run(&m, arena, n, in, out, NULL, NULL, &err) != FGQ_OK) { printf("%s\n", err.msg); return 2; }
    fwrite(y, 1, sizeof y, stdout); return 0;
}
''')
    rt = os.path.join(ROOT, "runtime")
    srcs = [os.path.join(dp, f) for dp, _, fs in os.walk(rt) for f in fs if f.endswith(".c")]
    x = np.random.default_rng(0).uniform(0, 255, (1, 1, 28, 28)).astype(np.float32)
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    np.save(tmp_path / "x.npy", x)
    fgq("run", mnist_fgq, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"), "--raw")
    want = np.load(tmp_path / "y.npy").tobytes()
    for sel, ok in (("model_ops.h", True), ("noqgemm_ops.h", False)):
        if not ok:
            t = (tmp_path / "model_ops.h").read_text()
            assert "FGQ_OP_ON_QGEMM_DYN 1" in t, t
            t = t.replace("FGQ_OP_ON_QGEMM_DYN 1", "FGQ_OP_ON_QGEMM_DYN 0")
            (tmp_path / sel).write_text(t)
        exe = str(tmp_path / ("prog_" + sel.split(".")[0]))
        subprocess.run(["cc", "-std=c11", "-O0", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
                        "-Wl,--gc-sections", "-I", rt, "-I", str(tmp_path), '-DFGQ_OP_SELECTION="%s"' % sel,
                        str(main), str(tmp_path / "model.c")] + srcs + ["-lm", "-o", exe], check=True)
        r = subprocess.run([exe, str(tmp_path / "x.bin")], capture_output=True)
        if ok:
            assert r.returncode == 0 and r.stdout == want
            syms = subprocess.run(["nm", exe], capture_output=True, text=True).stdout
            assert "fgq_lstm_f32_run" not in syms and "fgq_qconv_run" in syms
            host = re.search(r'#define MODEL_TARGET "([^"]+)"', (tmp_path / "model.h").read_text()).group(1)
            if host != "cortex-m":
                r = subprocess.run([exe, str(tmp_path / "x.bin"), str(mcu_arena)], capture_output=True, text=True)
                assert r.returncode == 2, r.stdout
                assert "on this %s runtime (export with --target %s)" % (host, host) in r.stdout, r.stdout
        else:
            assert r.returncode == 2 and re.search(rb"op QGemmDyn \(\d+\) is not in this runtime build", r.stdout), \
                r.stdout
    # fgq_model sized for the model (fgq_runtime.h FGQ_LOAD_VIEWS): the header's MODEL_MAX_NODE_VIEWS
    # is the most inputs + outputs of a node, read from the file here; built with exactly that the
    # runtime loads and runs the model as the CLI does; one view fewer is refused at load, naming
    # the macro and the value to build with.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from test_fgq_files import FgqFile
    with open(mnist_fgq, "rb") as f:
        ff = FgqFile(f.read())
    need = max(ff.node(j)["n_inputs"] + ff.node(j)["n_outputs"] for j in range(ff.hdr()["n_nodes"]))
    views = int(re.search(r"#define MODEL_MAX_NODE_VIEWS (\d+)", (tmp_path / "model.h").read_text()).group(1))
    assert views == max(need, 2), (views, need)
    for n, ok in ([(views, True)] + ([(views - 1, False)] if views > 2 else [])):
        exe = str(tmp_path / ("prog_views%d" % n))
        subprocess.run(["cc", "-std=c11", "-O0", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
                        "-Wl,--gc-sections", "-I", rt, "-I", str(tmp_path), '-DFGQ_OP_SELECTION="model_ops.h"',
                        "-DFGQ_LOAD_VIEWS=%d" % n, str(main), str(tmp_path / "model.c")] + srcs + ["-lm", "-o", exe],
                       check=True)
        r = subprocess.run([exe, str(tmp_path / "x.bin")], capture_output=True)
        if ok:
            assert r.returncode == 0 and r.stdout == want
        else:
            assert r.returncode == 2 and b"FGQ_LOAD_VIEWS" in r.stdout and b"-DFGQ_LOAD_VIEWS=%d" % views in r.stdout, \
                r.stdout


def _device_rows(tmp, *args):
    """scripts/device.py --quick ARGS --json: its rows and how many models it skipped (skips the
    test where the toolchain or QEMU is missing)."""
    rows_json = os.path.join(tmp, "rows.json")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "device.py"), "--quick", "--json", rows_json]
                       + list(args), capture_output=True, text=True, env=dict(os.environ, FGQ=FGQ))
    print(r.stdout, r.stderr)
    if r.returncode == 77:
        pytest.skip(r.stdout.strip())
    assert r.returncode == 0, r.stdout + r.stderr
    with open(rows_json) as f:
        rows = json.load(f)
    return rows, len([l for l in r.stdout.splitlines() if l.startswith("device: ") and " skipped: " in l])


@pytest.mark.skipif(SANITIZED, reason="the firmware is not built with sanitizers: run once, in the Release build")
def test_firmware_on_cortex_m4_and_m55_bit_identical():
    """mnist-8 and the MLPerf Tiny v0.7 models, s8 and ternary:g4, exported with --target
    cortex-m, on QEMU's mps2-an386 (Cortex-M4F) and mps3-an547 (Cortex-M55): the header's
    MODEL_ARENA_SIZE is exactly fgq_model_arena_size on the device (arena_needed), the
    firmware runs in an arena of exactly that size, outputs identical to x86, no heap."""
    with tempfile.TemporaryDirectory() as tmp:
        rows, skipped = _device_rows(tmp)
    assert len(rows) == 2 * 2 * (5 - skipped), rows  # models x (s8, ternary:g4) x (M4, M55)
    for row in rows:
        what = "%s %s %s" % (row["model"], row["policy"], row["board"])
        assert row["identical"] and row["heap_requests"] == 0, what
        assert row["arena"] == row["arena_needed"], "%s: exported %d, the device needs %d" % (
            what, row["arena"], row["arena_needed"])


@pytest.mark.skipif(SANITIZED, reason="the firmware is not built with sanitizers: run once, in the Release build")
def test_firmware_with_quantized_io_bit_identical():
    """`fgq quantize --io quantized` models (u8 codes in and out, no QUANTIZE / DEQUANTIZE on the
    device) of mnist-8 and the MLPerf Tiny autoencoder, s8, on both boards: the firmware is fed
    the codes `fgq run --raw` is fed and writes the same output codes; the header's arena fits."""
    with tempfile.TemporaryDirectory() as tmp:
        rows, skipped = _device_rows(tmp, "--io", "quantized", "--models", "mnist-8,ad", "--policies", "s8",
                                     "--work", os.path.join(tmp, "w"))
        ins = [os.path.getsize(p) for p in sorted(glob.glob(os.path.join(tmp, "w", "*_qio", "in.bin")))]
    assert len(rows) == 2 * (2 - skipped), rows
    assert 784 in ins  # mnist-8's 28 x 28 input: one byte a value, not four
    for row in rows:
        what = "%s %s %s" % (row["model"], row["policy"], row["board"])
        assert row["io"] == "quantized" and row["identical"] and row["heap_requests"] == 0, what
        assert row["arena"] == row["arena_needed"], what


@pytest.mark.skipif(SANITIZED, reason="the firmware is not built with sanitizers: run once, in the Release build")
def test_firmware_without_the_models_kernel_rows_gives_the_same_bytes(mnist_fgq, tmp_path):
    """The kernel selection of NAME_ops.h (FGQ_QW_ON_*, FGQ_QX_ON_*: runtime/ops/op_select.h) only
    drops specialised code: a firmware whose header switches every case off lacks the Arm rows and
    runs the ternary mnist-8 (s8 and t2 layers) through the reference convolution (its QCONV path
    switched back on), with the x86 bytes; the exported header keeps its rows and leaves the
    reference convolution out (every layer takes a fast path). With the rows off and the reference
    convolution out, the load refuses the first convolution, naming it, instead of running.
    Oracle: `fgq run --raw` on this machine."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import device
    sys.path.pop(0)
    if device.shutil.which("arm-none-eabi-gcc") is None or device.shutil.which("qemu-system-arm") is None:
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm not installed")
    dirs = []
    x = np.random.default_rng(1).uniform(0, 255, (1, 1, 28, 28)).astype(np.float32)
    for tag in ("kept", "dropped", "noref"):
        d = tmp_path / tag
        fgq("export", mnist_fgq, "--c", str(d))
        ops = (d / "model_ops.h").read_text()
        if tag == "kept":
            assert re.search(r"#define FGQ_QCONV_ON_REF 0\b", ops) and re.search(r"#define FGQ_QCONV_ON_GEMM 1\b", ops)
        else:
            ops = re.sub(r"(#define FGQ_Q[WX]_ON_\w+) 1", r"\1 0", ops)
            ops = re.sub(r"#define FGQ_QCONV_ON_REF \d", "#define FGQ_QCONV_ON_REF %d" % (tag == "dropped"), ops)
            (d / "model_ops.h").write_text(ops)
        np.save(d / "x.npy", x)
        (d / "in.bin").write_bytes(x.tobytes())
        fgq("run", mnist_fgq, "--input", str(d / "x.npy"), "-o", str(d / "y.npy"), "--raw")
        (d / "expect.bin").write_bytes(np.load(d / "y.npy").tobytes())
        dirs.append(str(d))
    b = device.build("m4", dirs, str(tmp_path), nomsg=False)
    for d in dirs:
        elf = os.path.join(b, "fw_%s.elf" % os.path.basename(d))
        if d.endswith("noref"):
            with pytest.raises(RuntimeError) as e:
                device.run_one("m4", elf, d)
            assert "fgq-fw: error: load: unsupported" in str(e.value), str(e.value)
            assert "node 'Convolution28' (QConv): it takes the reference path on this build, which its op selection " \
                   "leaves out" in str(e.value), str(e.value)
            continue
        r = device.run_one("m4", elf, d)
        assert r["identical"] and r["heap_requests"] == 0, d
        syms = subprocess.run(["arm-none-eabi-nm", elf], capture_output=True, text=True).stdout
        for row in ("fgq_qgemm_u8s8_1x2c4__armdsp", "fgq_qgemm_u8t2_1x2c4__armdsp"):
            assert (row in syms) == d.endswith("kept"), (d, row)
