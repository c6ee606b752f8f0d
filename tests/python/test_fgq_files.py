"""Hostile .fgq files through the CLI: `fgq run X.fgq --input ...` and `fgq bench X.fgq`.

Oracle: the contract of README ("Exit codes") and DESIGN §4 (hostile files are expected): a bad
model file gives exit code exactly 2 and a message on stderr that names the file and the defect;
never a crash, a sanitizer report or another exit code. The hostile files are made here, in
Python, from a good file written by `fgq convert examples/mnist-8/model.onnx`, following the
layout in runtime/fgq_format.h, version 2 (128-byte header, 56-byte tensor and 20-byte node
records, a tensor's dims and a node's parameters as int32 entries of the index section,
little-endian). After an edit the file is re-sealed (file_size and the FNV-1a 32 checksum over
bytes [128, file_size), both computed here) so that the loader's deeper checks are reached.
"""
import struct

import numpy as np
import pytest
from conftest import REPO_ROOT, run_fgq

MNIST = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"

HDR = struct.Struct("<8sIIQIIIIIIIIIIIIQIII9I")  # fgq_file_header
TREC = struct.Struct("<IHBBBBbBiQQiiQiI")  # fgq_disk_tensor
NREC = struct.Struct("<IHHBBBBII")  # fgq_disk_node
HDR_FIELDS = ("magic version checksum file_size n_tensors n_nodes n_inputs n_outputs tensors_off nodes_off "
              "index_off n_index strings_off strings_size inputs_index outputs_index arena_size meta_off meta_size "
              "blob_align").split()
TREC_FIELDS = ("name_off name_len dtype kind rank flags q_axis reserved q_n_scales data_off data_size first last "
               "q_off q_group_size dims_index").split()
NREC_FIELDS = "name_off name_len op n_inputs n_outputs n_iparams n_fparams io_index params_index".split()
KIND_INTERMEDIATE, KIND_INPUT, KIND_CONST = 0, 1, 2
MAX_IPARAMS, MAX_FPARAMS = 32, 8  # FGQ_NODE_MAX_IPARAMS / FGQ_NODE_MAX_FPARAMS


def test_struct_sizes_match_the_format_header():
    """Oracle: runtime/fgq_format.h's _Static_asserts (128 / 56 / 20 bytes)."""
    assert (HDR.size, TREC.size, NREC.size) == (128, 56, 20)


def fnv1a32(data):
    """FNV-1a 32: h = (h ^ byte) * 16777619 mod 2^32, starting from 2166136261."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


class FgqFile:
    """A mutable view of a .fgq file (version 2): header fields, tensor/node records and the index,
    where a tensor's dims and a node's parameters live (fgq_disk_tensor.dims_index,
    fgq_disk_node.params_index)."""

    def __init__(self, data):
        self.buf = bytearray(data)

    # header
    def hdr(self):
        return dict(zip(HDR_FIELDS, HDR.unpack_from(self.buf, 0)[:len(HDR_FIELDS)]))

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

    # tensors: the record's fields (TREC_FIELDS) and "dims", read from index[dims_index .. +rank)
    def tensor_off(self, t):
        return self.hdr()["tensors_off"] + TREC.size * t

    def tensor(self, t):
        r = dict(zip(TREC_FIELDS, TREC.unpack_from(self.buf, self.tensor_off(t))))
        r["dims"] = [self.index(r["dims_index"] + d) for d in range(r["rank"])]
        return r

    def set_tensor(self, t, **kw):
        """Sets record fields by name; dims=[...] writes the index entries at dims_index (as many
        as given: the record's rank is not changed)."""
        off = self.tensor_off(t)
        v = list(TREC.unpack_from(self.buf, off))
        for k, val in kw.items():
            if k != "dims":
                v[TREC_FIELDS.index(k)] = val
        TREC.pack_into(self.buf, off, *v)
        if "dims" in kw:
            di = v[TREC_FIELDS.index("dims_index")]
            for d, val in enumerate(kw["dims"]):
                self.set_index(di + d, val)

    def name(self, rec):
        s = self.hdr()["strings_off"] + rec["name_off"]
        return bytes(self.buf[s:s + rec["name_len"]]).decode()

    # nodes: the record's fields (NREC_FIELDS), "inputs" / "outputs" from index[io_index ..) and
    # "iparams" / "fparams" from index[params_index ..) (the counts the record gives)
    def node_off(self, j):
        return self.hdr()["nodes_off"] + NREC.size * j

    def node(self, j):
        n = dict(zip(NREC_FIELDS, NREC.unpack_from(self.buf, self.node_off(j))))
        io, ni, no, pi = n["io_index"], n["n_inputs"], n["n_outputs"], n["params_index"]
        n["inputs"] = [self.index(io + i) for i in range(ni)]
        n["outputs"] = [self.index(io + ni + o) for o in range(no)]
        n["iparams"] = [self.index(pi + k) for k in range(n["n_iparams"])]
        n["fparams"] = [struct.unpack("<f", struct.pack("<i", self.index(pi + n["n_iparams"] + k)))[0]
                        for k in range(n["n_fparams"])]
        return n

    def set_node(self, j, **kw):
        off = self.node_off(j)
        v = list(NREC.unpack_from(self.buf, off))
        for k, val in kw.items():
            v[NREC_FIELDS.index(k)] = val
        NREC.pack_into(self.buf, off, *v)

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


@pytest.mark.parametrize("version, words", [
    (1, ("file version 1, this runtime reads version 2",)), (3, ("file version 3", "version 2")), (0, ("version",)),
])
def test_bad_version(good, version, words):
    """Oracle: FGQ_FILE_VERSION is 2 and a reader takes one version (runtime/fgq_format.h). A version-1
    header (the layout before the records shrank) is refused with "file version 1, this runtime reads
    version 2"; a newer (3) or a zero version likewise, naming the version. Re-sealed."""
    d, data, x = good
    f = FgqFile(data)
    assert f.hdr()["version"] == 2
    f.set_hdr(version=version)
    expect_rejected(write(d, f"bad_version_{version}.fgq", f.seal()), x, *words)


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
    """Oracle: element counts that overflow 64 bits are refused (dims of 2^31 - 1, the most an int32
    index entry holds, on three axes of a rank-4 const: about 2^93 elements)."""
    d, data, x = good
    f = FgqFile(data)
    _, w, _ = conv_weight(f)
    f.set_tensor(w, dims=[2**31 - 1, 2**31 - 1, 2**31 - 1, 5])
    expect_rejected(write(d, "huge_dims.fgq", f.seal()), x, "overflow", "data_size")


def test_negative_tensor_dim(good):
    """Oracle: fgq_format.h, the dims are int32 >= 0. One dim of the Conv weight set to -1 (an index
    entry is signed) -> rejected naming the tensor and the negative dim."""
    d, data, x = good
    f = FgqFile(data)
    _, w, _ = conv_weight(f)
    name = f.name(f.tensor(w))
    f.set_tensor(w, dims=[16, -1, 5, 5])
    expect_rejected(write(d, "negative_dim.fgq", f.seal()), x, "negative")
    p = run_fgq("run", d / "negative_dim.fgq", "--input", x, "-o", d / "y.npy")
    assert name in p.stderr, p.stderr


def test_good_file_follows_version_2(good):
    """Oracle: runtime/fgq_format.h, read here field by field. The good file is version 2 with
    blob_align 64 (what `fgq convert` writes), zero reserved fields; every tensor's dims
    index[dims_index .. +rank) and every node's parameters index[params_index .. +n_iparams +
    n_fparams) lie in the index, the counts within 32 / 8; every constant blob and quantization
    blob sits at a multiple of blob_align inside the file; and mnist-8's second Conv weight reads
    as [16, 8, 5, 5] from its index entries."""
    _, data, _ = good
    f = FgqFile(data)
    h = f.hdr()
    assert (h["version"], h["blob_align"]) == (2, 64)
    assert HDR.unpack_from(f.buf, 0)[len(HDR_FIELDS):] == (0,) * 9
    for t in range(f.n_tensors()):
        r = f.tensor(t)
        assert r["reserved"] == 0 and 0 <= r["rank"] <= 8, r
        assert r["dims_index"] + r["rank"] <= h["n_index"], r
        assert all(v >= 0 for v in r["dims"]), r
        if r["kind"] == KIND_CONST:
            assert r["data_off"] % h["blob_align"] == 0 and r["data_off"] + r["data_size"] <= len(data), r
        if r["q_n_scales"] > 0:
            assert r["q_off"] % h["blob_align"] == 0 and r["q_off"] + 8 * r["q_n_scales"] <= len(data), r
    for j in range(f.n_nodes()):
        n = f.node(j)
        assert n["n_iparams"] <= MAX_IPARAMS and n["n_fparams"] <= MAX_FPARAMS, n
        assert n["params_index"] + n["n_iparams"] + n["n_fparams"] <= h["n_index"], n
        assert n["io_index"] + n["n_inputs"] + n["n_outputs"] <= h["n_index"], n
    _, w, _ = conv_weight(f)
    assert f.tensor(w)["dims"] == [16, 8, 5, 5]


@pytest.mark.parametrize("where", ["n_index", "n_index-1", "2^32-1"])
def test_tensor_dims_index_out_of_range(good, where):
    """Oracle: fgq_format.h, a tensor's dims are index[dims_index .. +rank), which must lie in the
    n_index entries. The Conv weight's (rank 4) dims_index is moved to n_index, to n_index - 1 (its
    last three dims past the end) and to 2^32 - 1 (the end wraps a 32-bit sum), re-sealed -> rejected
    naming the tensor."""
    d, data, x = good
    f = FgqFile(data)
    _, w, _ = conv_weight(f)
    name = f.name(f.tensor(w))
    n_index = f.hdr()["n_index"]
    f.set_tensor(w, dims_index={"n_index": n_index, "n_index-1": n_index - 1, "2^32-1": 2**32 - 1}[where])
    path = write(d, f"dims_index_{where.replace('^', '')}.fgq", f.seal())
    expect_rejected(path, x, "index")
    p = run_fgq("run", path, "--input", x, "-o", d / "y.npy")
    assert name in p.stderr, p.stderr


def test_tensor_reserved_byte_not_zero(good):
    """Oracle: fgq_format.h, fgq_disk_tensor.reserved is zero. Set to 1 -> rejected naming it."""
    d, data, x = good
    f = FgqFile(data)
    t, _ = first_const(f)
    f.set_tensor(t, reserved=1)
    expect_rejected(write(d, "tensor_reserved.fgq", f.seal()), x, "reserved")


@pytest.mark.parametrize("align", [0, 4, 24, 128, 2**32 - 64])
def test_bad_blob_align(good, align):
    """Oracle: fgq_format.h, blob_align is a power of two in [8, 64]. 0, 4 (a power of two below
    8), 24 (not a power of two), 128 and 2^32 - 64 (above 64) -> rejected naming the alignment.
    The blobs stay where they are (multiples of 64, so of any of these but 128)."""
    d, data, x = good
    f = FgqFile(data)
    f.set_hdr(blob_align=align)
    expect_rejected(write(d, f"blob_align_{align}.fgq", f.seal()), x, "alignment")


@pytest.mark.parametrize("align", [8, 16, 32])
def test_smaller_blob_align_of_a_64_aligned_file_runs(good, align):
    """Oracle: fgq_format.h, every blob offset is a multiple of blob_align; the good file's are
    multiples of 64, so of 8, 16 and 32 too: with blob_align lowered (re-sealed) it runs, its output
    the good file's byte for byte."""
    d, data, x = good
    f = FgqFile(data)
    f.set_hdr(blob_align=align)
    p = run_fgq("run", write(d, f"blob_align_ok_{align}.fgq", f.seal()), "--input", x, "-o", d / f"y_{align}.npy")
    assert p.returncode == 0, p.stderr
    p = run_fgq("run", write(d, "good_ref.fgq", data), "--input", x, "-o", d / "y_ref.npy")
    assert p.returncode == 0, p.stderr
    assert (d / f"y_{align}.npy").read_bytes() == (d / "y_ref.npy").read_bytes()


@pytest.mark.parametrize("align", [64, 8])
def test_constant_off_blob_align_refused(good, align):
    """Oracle: fgq_format.h, a constant's data_off is a multiple of blob_align. A constant moved 4
    bytes on (still inside the file) is not a multiple of 64 nor of 8 -> rejected naming the tensor
    and the alignment."""
    d, data, x = good
    f = FgqFile(data)
    t, r = first_const(f)
    f.set_hdr(blob_align=align)
    f.set_tensor(t, data_off=r["data_off"] + 4)
    expect_rejected(write(d, f"const_unaligned_{align}.fgq", f.seal()), x, "aligned")
    p = run_fgq("run", d / f"const_unaligned_{align}.fgq", "--input", x, "-o", d / "y.npy")
    assert f.name(r) in p.stderr, p.stderr


def node_with_params(f):
    """(index, record) of the first node with at least one int parameter (mnist-8's Conv)."""
    for j in range(f.n_nodes()):
        n = f.node(j)
        if n["n_iparams"] > 0:
            return j, n
    raise AssertionError("no node with parameters in the good file")


@pytest.mark.parametrize("edit", ["n_iparams=33", "n_iparams=255", "n_fparams=9", "params_index=n_index",
                                  "params_index=n_index-1", "params_index=2^32-1"])
def test_node_params_out_of_range(good, edit):
    """Oracle: fgq_format.h, a node's parameters are index[params_index .. +n_iparams + n_fparams)
    with n_iparams <= 32 and n_fparams <= 8. Counts over those limits, and a params_index at the end
    of the index, one entry short of it (a node with parameters then runs past the end) or at
    2^32 - 1 (the end wraps a 32-bit sum), re-sealed -> rejected naming the node."""
    d, data, x = good
    f = FgqFile(data)
    j, n = node_with_params(f)
    name = f.name(n)
    n_index = f.hdr()["n_index"]
    field, val = edit.split("=")
    if field == "params_index":
        val = {"n_index": n_index, "n_index-1": n_index - 1, "2^32-1": 2**32 - 1}[val]
        assert n["n_iparams"] + n["n_fparams"] >= 2 or val != n_index - 1, n
    f.set_node(j, **{field: int(val)})
    path = write(d, "node_params_%s.fgq" % edit.replace("=", "_").replace("^", ""), f.seal())
    expect_rejected(path, x, "parameters")
    p = run_fgq("run", path, "--input", x, "-o", d / "y.npy")
    assert name in p.stderr, p.stderr
