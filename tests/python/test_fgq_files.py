"""Hostile .fgq files through the CLI: `fgq run X.fgq --input ...` and `fgq bench X.fgq`.

Oracle: the contract of README ("Exit codes") and DESIGN §4 (hostile files are expected): a bad
model file gives exit code exactly 2 and a message on stderr that names the file and the defect;
never a crash, a sanitizer report or another exit code. The hostile files are made here, in
Python, from a good file written by `fgq convert examples/mnist-8/model.onnx`, following the
layout in runtime/fgq_format.h (128-byte header, 192-byte tensor and node records,
little-endian). After an edit the file is re-sealed (file_size and the FNV-1a 32 checksum over
bytes [128, file_size), both computed here) so that the loader's deeper checks are reached.
"""
import struct

import numpy as np
import pytest
from conftest import REPO_ROOT, run_fgq

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"

HDR = struct.Struct("<8sIIQIIIIIIIIIIIIQ12I")  # fgq_file_header
TREC = struct.Struct("<IIIIiI8qQQiiQiii15I")  # fgq_file_tensor
NREC = struct.Struct("<IIIIII32i8f2I")  # fgq_file_node
HDR_FIELDS = ("magic version checksum file_size n_tensors n_nodes n_inputs n_outputs tensors_off nodes_off "
              "index_off n_index strings_off strings_size inputs_index outputs_index arena_size").split()
KIND_INTERMEDIATE, KIND_INPUT, KIND_CONST = 0, 1, 2


def test_struct_sizes_match_the_format_header():
    """Oracle: runtime/fgq_format.h's _Static_asserts (128 / 192 / 192 bytes)."""
    assert (HDR.size, TREC.size, NREC.size) == (128, 192, 192)


def fnv1a32(data):
    """FNV-1a 32: h = (h ^ byte) * 16777619 mod 2^32, starting from 2166136261."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


class FgqFile:
    """A mutable view of a .fgq file: header fields, tensor/node records and the index."""

    def __init__(self, data):
        self.buf = bytearray(data)

    # header
    def hdr(self):
        return dict(zip(HDR_FIELDS, HDR.unpack_from(self.buf, 0)[:17]))

    def set_hdr(self, **kw):
        vals = list(HDR.unpack_from(self.buf, 0))
        for k, v in kw.items():
            vals[HDR_FIELDS.index(k)] = v
        HDR.pack_into(self.buf, 0, *vals)

    def seal(self):
        """Re-writes file_size and checksum so the file passes the header checks."""
        self.set_hdr(file_size=len(self.buf))
        self.set_hdr(checksum=fnv1a32(bytes(self.buf[128:])))
        return self

    # tensors: (name_off, name_len, dtype, kind, rank, flags, dims[8], data_off, data_size,
    #           first_node, last_node, q_off, q_n_scales, q_axis, q_group_size, reserved[15])
    def tensor(self, t):
        v = TREC.unpack_from(self.buf, self.hdr()["tensors_off"] + TREC.size * t)
        return {"name_off": v[0], "name_len": v[1], "dtype": v[2], "kind": v[3], "rank": v[4],
                "dims": list(v[6:14]), "data_off": v[14], "data_size": v[15], "first": v[16], "last": v[17]}

    def set_tensor(self, t, **kw):
        off = self.hdr()["tensors_off"] + TREC.size * t
        v = list(TREC.unpack_from(self.buf, off))
        pos = {"kind": 3, "rank": 4, "data_off": 14, "data_size": 15, "first": 16, "last": 17}
        for k, val in kw.items():
            if k == "dims":
                v[6:14] = list(val) + [0] * (8 - len(val))
            else:
                v[pos[k]] = val
        TREC.pack_into(self.buf, off, *v)

    def name(self, rec):
        s = self.hdr()["strings_off"] + rec["name_off"]
        return bytes(self.buf[s:s + rec["name_len"]]).decode()

    # nodes: (name_off, name_len, op, n_inputs, n_outputs, io_index, ...)
    def node(self, j):
        v = NREC.unpack_from(self.buf, self.hdr()["nodes_off"] + NREC.size * j)
        io = v[5]
        return {"name_off": v[0], "name_len": v[1], "op": v[2], "n_inputs": v[3], "n_outputs": v[4],
                "inputs": [self.index(io + i) for i in range(v[3])],
                "outputs": [self.index(io + v[3] + o) for o in range(v[4])], "io_index": io}

    def index(self, i):
        return struct.unpack_from("<i", self.buf, self.hdr()["index_off"] + 4 * i)[0]

    def set_index(self, i, val):
        struct.pack_into("<i", self.buf, self.hdr()["index_off"] + 4 * i, val)

    def n_tensors(self):
        return self.hdr()["n_tensors"]

    def n_nodes(self):
        return self.hdr()["n_nodes"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("fgqfiles")
    out = d / "good.fgq"
    p = run_fgq("convert", MNIST, "-o", out)
    assert p.returncode == 0, p.stderr
    x = d / "x.npy"
    np.save(x, np.random.default_rng(0).uniform(0, 255, (1, 1, 28, 28)).astype(np.float32))
    return d, out.read_bytes(), x


def expect_rejected(path, x, *defect_words):
    """Runs `fgq run` and `fgq bench` on path: exit 2, stderr names the file and (any of) the defect words."""
    for args in (("run", path, "--input", x, "-o", path.parent / "y.npy"), ("bench", path, "--runs", "1", "--warmup", "0")):
        p = run_fgq(*args, timeout=60)
        err = p.stderr
        assert p.returncode == 2, f"{args[0]} {path.name}: rc={p.returncode}\nstderr: {err}"
        assert err.strip(), f"{args[0]} {path.name}: empty stderr"
        assert "AddressSanitizer" not in err and "runtime error" not in err and "LeakSanitizer" not in err, err
        assert path.name in err, f"{args[0]}: message does not name the file: {err}"
        low = err.lower()
        if defect_words:
            assert any(w.lower() in low for w in defect_words), f"{args[0]} {path.name}: defect not named {defect_words}: {err}"


def write(d, name, f):
    p = d / name
    p.write_bytes(bytes(f.buf if isinstance(f, FgqFile) else f))
    return p


def test_good_file_runs_and_reseal_is_identity(good):
    """Oracle: our own parser and FNV-1a. Re-sealing an unmodified file gives back the same bytes
    (so seal() computes what the writer computed), and fgq runs the good file (exit 0), so the
    rejections below come from the edits alone."""
    d, data, x = good
    f = FgqFile(data)
    assert f.hdr()["magic"] == b"FGQMODEL"
    assert bytes(f.seal().buf) == data
    p = run_fgq("run", write(d, "good_copy.fgq", data), "--input", x, "-o", d / "y.npy")
    assert p.returncode == 0, p.stderr
    p = run_fgq("bench", d / "good_copy.fgq", "--runs", "1", "--warmup", "0")
    assert p.returncode == 0, p.stderr


def test_missing_and_empty_file(good):
    """Oracle: README exit codes. A missing file and an empty (0-byte) file: exit 2, named."""
    d, _, x = good
    expect_rejected(d / "does_not_exist.fgq", x)
    expect_rejected(write(d, "empty.fgq", b""), x)


@pytest.mark.parametrize("cut", [7, 8, 64, 127, 128, 200, 1000, -1000, -64, -1])
def test_truncated(good, cut):
    """Oracle: header file_size != actual size -> rejected as truncated. Cut points from inside
    the magic to the last byte."""
    d, data, x = good
    bad = data[:cut]
    expect_rejected(write(d, f"trunc_{cut}.fgq", bad), x, "truncated", "bytes", "magic", "header")


@pytest.mark.parametrize("cut", [128, 192, 1024, 4096, -4096, -1000, -64])
def test_truncated_and_resealed(good, cut):
    """Oracle: after a cut with file_size and checksum re-sealed, the header is consistent but
    some section, name or constant blob now lies beyond the end of the file."""
    d, data, x = good
    f = FgqFile(data[:cut]).seal()
    expect_rejected(write(d, f"trunc_sealed_{cut}.fgq", f), x, "exceeds", "outside")


def test_bad_magic(good):
    """Oracle: DESIGN §4 magic 'FGQMODEL'. One changed magic byte -> not an fgq file; since the
    CLI then reads it as ONNX, any exit-2 rejection naming the file is accepted."""
    d, data, x = good
    bad = bytearray(data)
    bad[0:8] = b"FGQMODEX"
    expect_rejected(write(d, "bad_magic.fgq", bad), x)


def test_bad_version(good):
    """Oracle: FGQ_FILE_VERSION is 1; version 2 (re-sealed) is rejected naming the version."""
    d, data, x = good
    f = FgqFile(data)
    f.set_hdr(version=2)
    expect_rejected(write(d, "bad_version.fgq", f.seal()), x, "version")


def test_bad_checksum(good):
    """Oracle: FNV-1a over [128, size). A flipped bit in the last byte, not re-sealed -> checksum
    mismatch; and a checksum field off by one -> the same."""
    d, data, x = good
    bad = bytearray(data)
    bad[-1] ^= 0x01
    expect_rejected(write(d, "bad_checksum_body.fgq", bad), x, "checksum")
    f = FgqFile(data)
    f.set_hdr(checksum=(f.hdr()["checksum"] + 1) & 0xFFFFFFFF)
    expect_rejected(write(d, "bad_checksum_field.fgq", f), x, "checksum")


@pytest.mark.parametrize("field", ["tensors_off", "nodes_off", "index_off", "strings_off"])
def test_section_offset_out_of_range(good, field):
    """Oracle: each section must lie inside the file. The offset is moved (64-aligned) past the
    end and the file re-sealed."""
    d, data, x = good
    f = FgqFile(data)
    f.set_hdr(**{field: (len(data) + 64) & ~63})
    expect_rejected(write(d, f"sec_{field}.fgq", f.seal()), x, "exceeds", "section")


def first_const(f, min_size=1):
    for t in range(f.n_tensors()):
        r = f.tensor(t)
        if r["kind"] == KIND_CONST and r["data_size"] >= min_size:
            return t, r
    raise AssertionError("no constant tensor in the good file")


def test_tensor_data_offset_out_of_range(good):
    """Oracle: constant data [data_off, +data_size) must lie inside the file; moved past the end
    (aligned), re-sealed -> rejected naming the tensor."""
    d, data, x = good
    f = FgqFile(data)
    t, r = first_const(f)
    f.set_tensor(t, data_off=(len(data) + 64) & ~63)
    expect_rejected(write(d, "tensor_off.fgq", f.seal()), x, "exceeds", f.name(r))
    # and an offset whose end wraps around 2^64
    f = FgqFile(data)
    f.set_tensor(t, data_off=(2**64 - 64))
    expect_rejected(write(d, "tensor_off_wrap.fgq", f.seal()), x, "exceeds", f.name(r))


def test_arena_slot_out_of_range(good):
    """Oracle: an intermediate's arena slot must lie inside arena_size; moved to arena_size."""
    d, data, x = good
    f = FgqFile(data)
    arena = f.hdr()["arena_size"]
    t = next(t for t in range(f.n_tensors()) if f.tensor(t)["kind"] == KIND_INTERMEDIATE)
    f.set_tensor(t, data_off=(arena + 63) & ~63)
    expect_rejected(write(d, "arena_slot.fgq", f.seal()), x, "arena")


def test_arena_size_not_a_multiple_of_eight_runs(good):
    """A file's arena_size may be any value from its plan's extent up to that extent rounded to 64 (the
    loader's rule); the run's records (one node's tensor views) then start at arena_size rounded up to
    64, not at arena_size itself, which left them misaligned (fuzz_fgq_load found it under UBSan:
    fuzz/regressions/fuzz_fgq_load/). Oracle: the same outputs as the file with its own arena_size."""
    d, _, x = good
    q = d / "q_s8.fgq"  # quantized: its last slot (the output's f32 [1, 10]) ends short of arena_size
    p = run_fgq("quantize", MNIST, "--calib", REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz",
                "--calib-samples", "0:20", "--weights", "s8", "--solver", "rtn", "--measure-samples", "0", "-o", q)
    assert p.returncode == 0, p.stderr
    data = q.read_bytes()
    f = FgqFile(data)
    arena = f.hdr()["arena_size"]
    ends = [f.tensor(t)["data_off"] + f.tensor(t)["data_size"] for t in range(f.n_tensors())
            if f.tensor(t)["kind"] == KIND_INTERMEDIATE]
    odd = max(ends) | 1 if max(ends) % 2 == 0 else max(ends)
    assert odd % 8 != 0 and max(ends) <= odd <= arena, (max(ends), odd, arena)
    f.set_hdr(arena_size=odd)
    p = run_fgq("run", write(d, "odd_arena.fgq", f.seal()), "--input", x, "-o", d / "y_odd.npy")
    assert p.returncode == 0 and "runtime error" not in p.stderr, p.stderr
    p = run_fgq("run", write(d, "even_arena.fgq", data), "--input", x, "-o", d / "y_even.npy")
    assert p.returncode == 0, p.stderr
    assert (d / "y_odd.npy").read_bytes() == (d / "y_even.npy").read_bytes()


def test_node_input_index_out_of_range(good):
    """Oracle: a node's input tensor index must be in [0, n_tensors); set to n_tensors + 5 and
    to a large negative value -> rejected naming the node."""
    d, data, x = good
    for val, tag in ((None, "big"), (-7, "neg")):
        f = FgqFile(data)
        n = f.node(1)
        f.set_index(n["io_index"], f.n_tensors() + 5 if val is None else val)
        expect_rejected(write(d, f"node_input_{tag}.fgq", f.seal()), x, "outside", "input")


def test_use_before_def(good):
    """Oracle: nodes are in topological order. Node 1 is rewired to read the output of the last
    node (a tensor produced later: a cycle) -> rejected as read before produced."""
    d, data, x = good
    f = FgqFile(data)
    last = f.node(f.n_nodes() - 1)["outputs"][0]
    n1 = f.node(1)
    slot = next(i for i, t in enumerate(n1["inputs"]) if t >= 0 and f.tensor(t)["kind"] != KIND_CONST)
    f.set_index(n1["io_index"] + slot, last)
    expect_rejected(write(d, "use_before_def.fgq", f.seal()), x, "before it is produced", "cycle", "order")


def conv_weight(f):
    """(node index, weight tensor index) of a Conv whose weight has C_in > 1, found by the node's
    name in the string table: mnist-8's Conv nodes are named 'Convolution*'."""
    for j in range(f.n_nodes()):
        n = f.node(j)
        s = f.hdr()["strings_off"] + n["name_off"]
        name = bytes(f.buf[s:s + n["name_len"]]).decode()
        if name.startswith("Convolution") and len(n["inputs"]) >= 2:
            w = n["inputs"][1]
            r = f.tensor(w)
            if r["kind"] == KIND_CONST and r["rank"] == 4 and r["dims"][1] > 1:
                return j, w, name
    raise AssertionError("no Conv with C_in > 1 in the good file")


def test_conv_weight_shape_mismatch(good):
    """Oracle: Conv needs W[C_out, C_in/group, kH, kW] with C_in matching the input's channels.
    The second Conv's weight [16,8,5,5] is relabelled [8,16,5,5] (same element count, so the
    record's own size check passes), re-sealed -> rejected by the op check naming the node."""
    d, data, x = good
    f = FgqFile(data)
    j, w, name = conv_weight(f)
    dims = f.tensor(w)["dims"][:4]
    assert dims == [16, 8, 5, 5], dims
    f.set_tensor(w, dims=[8, 16, 5, 5])
    expect_rejected(write(d, "conv_shape.fgq", f.seal()), x, name)


def test_data_size_disagrees_with_dims(good):
    """Oracle: data_size = numel * 4 for f32. Dims changed to [16,9,5,5] without fixing the size."""
    d, data, x = good
    f = FgqFile(data)
    _, w, _ = conv_weight(f)
    f.set_tensor(w, dims=[16, 9, 5, 5])
    expect_rejected(write(d, "dims_size.fgq", f.seal()), x, "data_size")


def test_overlapping_memory_plan(good):
    """Oracle: DESIGN §4 / fgq_format.h: no two tensors whose lifetimes overlap may share arena
    bytes. A node's output is moved onto its (live) activation input's arena offset, re-sealed."""
    d, data, x = good
    f = FgqFile(data)
    arena = f.hdr()["arena_size"]
    for j in range(f.n_nodes()):
        n = f.node(j)
        o = f.tensor(n["outputs"][0])
        for i in n["inputs"]:
            if i < 0:
                continue
            r = f.tensor(i)
            if r["kind"] != KIND_CONST and r["data_off"] != o["data_off"] and r["data_off"] + o["data_size"] <= arena:
                f.set_tensor(n["outputs"][0], data_off=r["data_off"])
                expect_rejected(write(d, "overlap.fgq", f.seal()), x, "overlap")
                return
    raise AssertionError("no node whose output can be moved onto its input")


@pytest.mark.parametrize("field,value", [
    ("n_tensors", 0xFFFFFFFF), ("n_nodes", 0xFFFFFFFF), ("n_index", 0xFFFFFFFF), ("strings_size", 0xFFFFFFFF),
    ("n_inputs", 0xFFFFFFFF), ("n_outputs", 0x7FFFFFFF), ("inputs_index", 0xFFFFFFFF),
    ("outputs_index", 0xFFFFFFF0), ("arena_size", 2**64 - 1), ("arena_size", 2**50), ("arena_size", "planned+64"),
])
def test_huge_counts(good, field, value):
    """Oracle: every count is bounded by the file size (or the runtime's limits) before use.
    arena_size must not exceed what the plan's slots span (the planner's arena is the highest
    slot end rounded up to 64, runtime/plan.h): 2^64-1 once crashed the CLI (the rounded size
    wrapped to 0), 2^50 would be a failed allocation, and one spare 64-byte block is refused too."""
    d, data, x = good
    f = FgqFile(data)
    if value == "planned+64":
        value = f.hdr()["arena_size"] + 64
    f.set_hdr(**{field: value})
    expect_rejected(write(d, f"huge_{field}_{value}.fgq", f.seal()), x)


def test_huge_tensor_dims(good):
    """Oracle: element counts that overflow 64 bits are refused (dims of 2^40 on a rank-4 const)."""
    d, data, x = good
    f = FgqFile(data)
    _, w, _ = conv_weight(f)
    f.set_tensor(w, dims=[2**40, 2**40, 2**40, 5])
    expect_rejected(write(d, "huge_dims.fgq", f.seal()), x, "overflow", "data_size")
