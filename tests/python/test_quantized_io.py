"""`fgq quantize --io quantized`: graph inputs and outputs as u8 / s8 codes (tools/quant/quantized_io.h).

Oracles: the same model quantized with float I/O, whose QUANTIZE / DEQUANTIZE the rewrite drops.
`fgq run` on float data quantizes it as that QUANTIZE did, so the codes it writes, dequantized
with the scale and zero point `fgq inspect` shows, are the float-I/O model's outputs bit for bit;
`fgq run --raw` on the codes themselves (MNIST pixels: the input's scale is 1, its zero point 0)
gives the same codes; `fgq eval` (which converts at both ends) gives the same top-1, and `fgq
eval FLOAT QUANT` the same output SQNR. An output a float node makes stays float, said on
stderr. Bad values exit 2 with a message and write no file.
"""
import gzip
import json
import re

import numpy as np
import pytest
from conftest import run_fgq

from quant_common import IMAGES, LABELS, MNIST, TIMEOUT

CALIB = "0:200"
N = 40


def _images(n):
    raw = np.frombuffer(gzip.open(IMAGES).read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return raw[1000:1000 + n]


def _quantize(out, *args):
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", CALIB, "-o", out, "--json", *args,
                timeout=TIMEOUT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout), p.stderr


def _io(path):
    """[(name, dtype, scale or None, zero point or None)] of inputs and outputs, from fgq inspect --json."""
    p = run_fgq("inspect", path, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    res = []
    for side in ("inputs", "outputs"):
        rows = []
        for s in d[side]:
            m = re.search(r"x = (\S+) \* \(q - (-?\d+)\)", s)
            rows.append((s.split()[0], s.split()[1], float(m.group(1)) if m else None, int(m.group(2)) if m else None))
        res.append(rows)
    return res


@pytest.mark.parametrize("weights", ["s8", "ternary:g4"])
def test_codes_equal_float_io_outputs(tmp_path, weights):
    fl, qi = tmp_path / "float_io.fgq", tmp_path / "q_io.fgq"
    _quantize(fl, "--weights", weights)
    rep, err = _quantize(qi, "--weights", weights, "--io", "quantized")
    assert rep["quantized_io"] == {"inputs": 1, "outputs": 1, "kept_float": 0}, rep.get("quantized_io")
    assert "stays float" not in err
    (ins, outs), (fins, fouts) = _io(qi), _io(fl)
    assert fins[0][1] == "f32" and fouts[0][1] == "f32"
    # the names stay; the dtypes become the activations'; scale and zero point are shown
    assert ins[0][0] == fins[0][0] and outs[0][0] == fouts[0][0]
    assert ins[0][1] == "u8" and outs[0][1] == "u8" and ins[0][2] is not None and outs[0][2] is not None
    x = _images(N)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    np.save(tmp_path / "x_codes.npy", x)
    for m, o in ((fl, "yf.npy"), (qi, "yq.npy")):
        p = run_fgq("run", m, "--input", tmp_path / "x.npy", "-o", tmp_path / o)
        assert p.returncode == 0, p.stderr
    yf, yq = np.load(tmp_path / "yf.npy"), np.load(tmp_path / "yq.npy")
    assert yf.dtype == np.float32 and yq.dtype == np.uint8 and yq.shape == yf.shape
    s, z = np.float32(outs[0][2]), outs[0][3]
    assert np.array_equal((yq.astype(np.int32) - z).astype(np.float32) * s, yf)
    # --raw: the codes themselves (scale 1, zero point 0 for MNIST's 0..255 pixels)
    assert ins[0][2] == 1.0 and ins[0][3] == 0, ins
    p = run_fgq("run", qi, "--input", tmp_path / "x_codes.npy", "--raw", "-o", tmp_path / "yr.npy")
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(tmp_path / "yr.npy"), yq)
    # eval converts at both ends: the same top-1, and the same comparison with the float model
    ev = []
    for m in (fl, qi):
        p = run_fgq("eval", m, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1400", "--json",
                    timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        ev.append(json.loads(p.stdout))
    assert ev[0]["top1"] == ev[1]["top1"] and ev[0]["top5"] == ev[1]["top5"]
    cmp = []
    for m in (fl, qi):
        p = run_fgq("eval", MNIST, m, "--data", IMAGES, "--labels", LABELS, "--samples", "1000:1200", "--json",
                    timeout=TIMEOUT)
        assert p.returncode == 0, p.stderr
        cmp.append(json.loads(p.stdout))
    for k in ("agreement", "output_sqnr_db"):
        assert cmp[0][k] == cmp[1][k], (k, cmp[0][k], cmp[1][k])
    # per layer: the same tensors; the output's is the u8 one now (its SQNR from the codes, where the
    # float-I/O model's came through its DEQUANTIZE: equal to float rounding)
    assert [lay["name"] for lay in cmp[0]["layers"]] == [lay["name"] for lay in cmp[1]["layers"]]
    for a, b in zip(cmp[0]["layers"], cmp[1]["layers"]):
        assert b["sqnr_db"] == pytest.approx(a["sqnr_db"], rel=1e-6), (a, b)
    assert cmp[0]["quant"]["top1"] == cmp[1]["quant"]["top1"]
    # the firmware header says how to read the codes
    p = run_fgq("export", qi, "--c", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    h = (tmp_path / "c" / "model.h").read_text()
    assert "#define MODEL_INPUT_0_SCALE 1.000000000e+00f" in h and "#define MODEL_INPUT_0_ZERO_POINT 0" in h
    assert re.search(r"#define MODEL_OUTPUT_0_ZERO_POINT %d\b" % z, h)


def test_float_output_stays_float(tmp_path):
    out = tmp_path / "m.fgq"
    rep, err = _quantize(out, "--weights", "s8", "--io", "quantized", "--keep-float", "Times212")
    assert rep["quantized_io"] == {"inputs": 1, "outputs": 0, "kept_float": 1}
    assert re.search(r"--io quantized: output 'Plus214_Output_0' stays float: node '\S+' \(\S+\) makes it as float",
                     err), err
    (ins, outs) = _io(out)
    assert ins[0][1] == "u8" and outs[0][1] == "f32"
    x = _images(4).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = run_fgq("run", out, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert p.returncode == 0, p.stderr
    assert np.load(tmp_path / "y.npy").dtype == np.float32


def test_input_read_by_a_float_node_stays_float(tmp_path):
    """The first convolution kept float reads the input as float: it stays f32, said on stderr, and
    the QUANTIZE the quantizer made for it up front (--io quantized quantizes every float input
    first, so that layout ops after it move codes) goes, unread."""
    out = tmp_path / "m.fgq"
    rep, err = _quantize(out, "--weights", "s8", "--io", "quantized", "--keep-float", "Convolution28")
    assert rep["quantized_io"] == {"inputs": 0, "outputs": 1, "kept_float": 1}
    assert "--io quantized: input 'Input3' stays float: node 'Convolution28' (Conv) reads it as float" in err, err
    (ins, outs) = _io(out)
    assert ins[0][1] == "f32" and outs[0][1] == "u8"
    p = run_fgq("inspect", out, "--json")
    assert p.returncode == 0, p.stderr
    assert not any(n["name"].startswith("Input3") for n in json.loads(p.stdout)["nodes"]), p.stdout


@pytest.mark.parametrize("args, msg", [
    (["--io", "bogus"], "--io 'bogus': expected float or quantized"),
    (["--io", "quantized", "--acts", "u4"], "--io quantized needs u8 or s8 activations"),
    (["--io", "quantized", "--acts", "dynamic"], "--io quantized needs u8 or s8 activations"),
])
def test_bad_values_exit_2(tmp_path, args, msg):
    out = tmp_path / "m.fgq"
    p = run_fgq("quantize", MNIST, "--calib", IMAGES, "--calib-samples", "0:20", "-o", out, "--weights", "s8", *args,
                timeout=TIMEOUT)
    assert p.returncode == 2 and msg in p.stderr, (p.returncode, p.stderr)
    assert not out.exists()
