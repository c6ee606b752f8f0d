"""fgq from Python: load, run, quantize, evaluate and inspect models with fgq's C library.

Everything here calls the C library (the extension module ``fgq._fgq``); this
file only adapts Python objects (paths, bytes, numpy arrays, iterables of
batches) to it. numpy is needed at run time.

    import numpy as np, fgq
    x = np.load("calib.npy")                      # float32 [N, 1, 28, 28]
    q = fgq.quantize("model.onnx", calib=x, weights="ternary:g4")
    y = q(x[:8])                                  # numpy in, numpy out
    q.save("model.fgq"); q.export_onnx("model.qdq.onnx")
    print(fgq.evaluate(q, images, labels)["top1"])
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _fgq
from ._fgq import FgqError

__all__ = ["FgqError", "Model", "quantize", "evaluate", "sensitivity", "inspect", "report", "__version__"]
__version__: str = _fgq.__version__

PathLike = Union[str, "os.PathLike[str]"]
ModelSource = Union[PathLike, bytes, bytearray, memoryview, "Model"]
ProgressCallback = Callable[[str, int, int], None]

_FGQ_MAGIC_LEN = 8  # fgq_format.h FGQ_FILE_MAGIC
_frombuffer = np.frombuffer
_DTYPES = {n: np.dtype(n) for n in ("float32", "uint8", "int8", "int32", "int64", "float16", "bool")}


def _error(message: str, status: str = "value error") -> FgqError:
    e = FgqError(message)
    e.status = status
    return e


def _renamed(e: FgqError, tmp_path: str, name: str) -> FgqError:
    """e with a temporary file's path replaced by what the caller gave."""
    return _error(str(e).replace(tmp_path, name), getattr(e, "status", "value error"))


def _in_memory(source: Any) -> Tuple[Any, Optional[str]]:
    """(bytes, name) for an in-memory model (anything with SerializeToString(), e.g. an
    onnx.ModelProto: fgq does not import onnx), else (source, None)."""
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview, Model)):
        serialize = getattr(source, "SerializeToString", None)
        if callable(serialize):
            return serialize(), f"<{type(source).__name__}>"
    return source, None


def _read_magic(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(_FGQ_MAGIC_LEN)
    except OSError as e:
        raise _error(f"{path}: cannot open: {e.strerror}", "io error") from None


def _to_array(x: Any) -> np.ndarray:
    """An ndarray view of x: numpy arrays as they are, objects with __array__ or
    .numpy() (a torch tensor) converted; C-contiguous (copied only if not)."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__array__") or isinstance(x, (list, tuple, int, float)):
            x = np.asarray(x)
        elif hasattr(x, "numpy") and callable(x.numpy):
            x = np.asarray(x.detach().numpy() if hasattr(x, "detach") else x.numpy())
        else:
            raise _error(f"cannot use a {type(x).__name__} as an array", "value error")
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return x


class Model:
    """A model fgq's runtime runs: a ``.fgq`` file (quantized or converted), or an
    ONNX model imported and lowered in memory as ``fgq convert`` does.

    ``model(x)`` / ``model.run(x)`` take one numpy array per model input (float32
    for float inputs; a stack of k inputs along the first axis runs k times) and
    return a numpy array (a tuple of them for several outputs). The GIL is
    released while the model runs; one Model runs one inference at a time (other
    threads wait), several Models run in parallel.
    """

    __slots__ = ("_m", "name")

    def __init__(self, _impl: Any, name: str = "") -> None:
        # use Model.load or fgq.quantize
        self._m = _impl
        self.name = name

    @classmethod
    def load(cls, source: Union[PathLike, bytes, bytearray, memoryview], *, threads: Optional[int] = None,
             batch: int = 1) -> "Model":
        """Loads a ``.fgq`` (recognised by its magic) or an ``.onnx`` model from a path or from bytes.

        threads: threads per inference (default: the cores available, as the CLI);
        batch: value bound to symbolic dims of an ONNX model (the model's own
        batch; larger batches given to run() loop over samples).
        An in-memory ONNX model (an ``onnx.ModelProto``, anything with
        ``SerializeToString()``) is loaded from its bytes.
        Raises FgqError naming the file and the reason (missing file, garbage
        bytes, an op fgq does not support, ...)."""
        source, name = _in_memory(source)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            name = name or "<bytes>"
            if _is_fgq_file_bytes(data):
                m = cls(_fgq.load_fgq(data, name), name)
            else:
                with tempfile.TemporaryDirectory(prefix="fgq-") as tmp:
                    p = os.path.join(tmp, "model.onnx")
                    with open(p, "wb") as f:
                        f.write(data)
                    try:
                        m = cls(_fgq.load_onnx(p, int(batch)), name)
                    except FgqError as e:
                        raise _renamed(e, p, name) from None
        else:
            path = os.fspath(source)
            if _is_fgq_file_bytes(_read_magic(path)):
                with open(path, "rb") as f:
                    m = cls(_fgq.load_fgq(f.read(), path), path)
            else:
                m = cls(_fgq.load_onnx(path, int(batch)), path)
        m.threads = threads if threads is not None else _fgq.default_threads
        return m

    # --- running ---------------------------------------------------------------
    def run(self, *inputs: Any, raw: bool = False) -> Union[np.ndarray, Tuple[np.ndarray, ...]]:
        """Runs the model: one array per input (or one dict {name: array}).

        An input is the model input's shape, a stack of them along the first
        axis (each runs in turn; outputs are stacked), or one sample without its
        leading 1s, in the input's dtype (no conversion: a float64 array is an
        error), except float16 for a float32 input, widened exactly (float16 ONNX
        models run as float32). C-contiguous arrays are read in place. A model from
        ``fgq.quantize`` stores its calibration preprocessing (scale, mean, std)
        and applies it to float inputs, as ``fgq run`` does, unless raw=True.
        A model quantized with ``io="quantized"`` (``fgq quantize --io quantized``)
        has uint8 / int8 inputs and outputs: such an input takes float32 data,
        preprocessed alike and quantized as the QUANTIZE the model no longer has
        did (raw=True: the codes themselves), and such an output is returned as
        its codes (``outputs[i]["quant"]``: x = scales[0] * (q - zero_points[0])).
        Returns one array, or a tuple for several outputs."""
        # the C side takes C-contiguous arrays of the inputs' dtypes as they are and answers
        # NotImplemented for anything to convert first (a dict, a list, a tensor, a strided or
        # float16 array): the common call is one C call and a view of its output
        outs = self._m.run(inputs, raw, True)
        if outs is NotImplemented:
            outs = self._m.run(self._adapt(inputs), raw, False)
        if len(outs) == 1:
            buf, shape, dt = outs[0]
            return _frombuffer(buf, _DTYPES[dt]).reshape(shape)
        return tuple(_frombuffer(buf, _DTYPES[dt]).reshape(shape) for buf, shape, dt in outs)

    __call__ = run

    def _adapt(self, inputs: Tuple[Any, ...]) -> Tuple[np.ndarray, ...]:
        """inputs as C-contiguous ndarrays: a dict {name: array} in input order, tensors and
        lists converted, float16 widened for float32 inputs."""
        if len(inputs) == 1 and isinstance(inputs[0], Mapping):
            named = inputs[0]
            names = [t["name"] for t in self.inputs]
            missing = [n for n in names if n not in named]
            if missing:
                raise _error(f"no array for input(s) {', '.join(missing)}", "value error")
            inputs = tuple(named[n] for n in names)
        inputs = tuple(_to_array(x) for x in inputs)
        if any(x.dtype == np.float16 for x in inputs):
            inputs = self._widen_float16(inputs)
        return inputs

    def _widen_float16(self, inputs: Tuple[np.ndarray, ...]) -> Tuple[np.ndarray, ...]:
        """float16 arrays for float32 inputs, widened (exact): a float16 ONNX model is
        imported as float32, and its user holds float16 data. Any other dtype stays
        as given (a float64 array is still an error: narrowing is the caller's call)."""
        io = self.inputs
        # float32 inputs, and quantized ones (io="quantized": float data, quantized by run)
        takes_float = [t["dtype"] == "float32" or (t["dtype"] in ("uint8", "int8") and t["quant"] is not None)
                       for t in io]
        return tuple(x.astype(np.float32) if x.dtype == np.float16 and i < len(io) and takes_float[i]
                     else x for i, x in enumerate(inputs))

    @property
    def threads(self) -> int:
        """Threads per inference (outputs are bit-identical for any count)."""
        return int(self._m.threads())

    @threads.setter
    def threads(self, n: int) -> None:
        self._m.set_threads(int(n))

    # --- description -------------------------------------------------------------
    @property
    def inputs(self) -> List[Dict[str, Any]]:
        """Graph inputs: [{"name", "shape", "dtype", "size_bytes", "quant", "quantized_as"}].

        quant: {"scales", "zero_points", "axis", "group_size"} when the tensor
        itself is quantized, else None; quantized_as: the same for the tensor a
        float input is quantized into inside the model (x_q = round(x / scale) +
        zero_point), else None."""
        return self._m.io(False)

    @property
    def outputs(self) -> List[Dict[str, Any]]:
        """Graph outputs, as inputs; quantized_as describes the integer tensor a
        float output is dequantized from (None where the output layer hands
        back float: quantize(output_layer="float"), the default with float I/O)."""
        return self._m.io(True)

    @property
    def recipe(self) -> Optional[str]:
        """How the model was made, as ``fgq quantize`` stores it (None for a converted model)."""
        return self._m.recipe()

    @property
    def preprocess(self) -> Optional[Dict[str, Any]]:
        """The stored preprocessing {"scale", "mean", "std", "channel_axis"}, or None."""
        return self._m.preprocess()

    @property
    def info(self) -> Dict[str, int]:
        """{"nodes", "tensors", "file_bytes", "weight_bytes", "arena_bytes" (activations),
        "scratch_bytes" (one thread's scratch slice), "run_arena_bytes" (the arena a run takes
        at the current thread count: activations, records, a slice per thread)}."""
        return self._m.summary()

    def __repr__(self) -> str:
        i = self.info
        ins = ", ".join(f"{t['name']}{list(t['shape'])} {t['dtype']}" for t in self.inputs)
        return f"<fgq.Model {self.name or '?'}: {ins}; {i['nodes']} nodes, {i['file_bytes']} bytes>"

    # --- writing -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The ``.fgq`` bytes (what save writes; Model.load reads them back)."""
        return self._m.to_bytes()

    def save(self, path: PathLike) -> None:
        """Writes the model as a ``.fgq`` file (atomically: a temporary file, then renamed)."""
        self._m.save(os.fspath(path))

    def export_onnx(self, path: Optional[PathLike] = None) -> bytes:
        """QDQ ONNX (QuantizeLinear/DequantizeLinear around float ops) that ONNX Runtime
        runs, as ``fgq export --onnx``; written to path when given. Returns the bytes."""
        data = self._m.export_onnx()
        if path is not None:
            p = os.fspath(path)
            tmp = f"{p}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        return data


def _is_fgq_file_bytes(data: bytes) -> bool:
    return bytes(data[:_FGQ_MAGIC_LEN]) == _FGQ_MAGIC


_FGQ_MAGIC: bytes = _fgq.FILE_MAGIC

# ---- calibration data --------------------------------------------------------------------


def _batch_array(b: Any) -> np.ndarray:
    """The inputs of one batch: an array, or the first item of an (x, y, ...) tuple or list."""
    return _to_array(_x_of(b))


def _x_of(item: Any) -> Any:
    """x of an (x, y, ...) tuple or list (what a DataLoader or a Dataset yields), else item."""
    if isinstance(item, (tuple, list)) and len(item) > 0 and not isinstance(item[0], (int, float, list)):
        item = item[0]
    if isinstance(item, Mapping):
        raise _error("calib: a batch is a dict; give arrays or (x, y) tuples", "value error")
    return item


def _list_holds_batches(items: Sequence[Any], dims: Optional[Tuple[int, ...]]) -> bool:
    """Whether a list of calibration items holds batches rather than samples: its first
    item's x has the rank of the model input (dims), and is not one sample's shape
    (dims[1:]). Without dims: an (x, y) pair is a batch, an array a sample."""
    first = items[0]
    x = _to_array(_x_of(first))
    if dims is None:
        return _x_of(first) is not first
    if tuple(x.shape) == tuple(dims[1:]):
        return False
    return x.ndim == len(dims)


def _calib_array(calib: Any, limit: Optional[int], progress: Optional["_Progress"],
                 dims: Optional[Callable[[], Optional[Tuple[int, ...]]]] = None) -> np.ndarray:
    """One float32 array [N, ...] of samples: an array as it is, a list or tuple of
    samples (stacked) or of batches (concatenated), any other iterable as batches.
    dims(): the model input's dims, asked only for a list (samples or batches?)."""
    if isinstance(calib, (str, os.PathLike)):
        raise _error("calib: give the samples as an array (np.load the file first)", "value error")
    if isinstance(calib, (list, tuple)):
        if not calib:
            raise _error("calib: no samples", "value error")
        if _list_holds_batches(calib, dims() if dims is not None else None):
            return _batches_array(calib, limit, progress)
        items = [_batch_array(c) for c in (calib[:limit] if limit is not None else calib)]
        shapes = {a.shape for a in items}
        if len(shapes) != 1:
            raise _error(f"calib: a list holds samples of one shape, not {sorted(shapes)} (batches have the model "
                         "input's rank)", "shape error")
        return np.ascontiguousarray(np.stack(items), dtype=np.float32)
    if isinstance(calib, np.ndarray) or hasattr(calib, "__array__"):
        arr = _to_array(calib)
        if limit is not None:
            arr = arr[:limit]
        return np.ascontiguousarray(arr, dtype=np.float32)
    return _batches_array(calib, limit, progress)


def _batches_array(calib: Any, limit: Optional[int], progress: Optional["_Progress"]) -> np.ndarray:
    """The batches of an iterable (arrays, tensors or (x, y) tuples) concatenated: float32 [N, ...]."""
    parts: List[np.ndarray] = []
    n = 0
    total = None
    try:
        total = len(calib)  # a DataLoader knows its batch count
    except TypeError:
        pass
    if progress is not None:
        progress.begin("collecting calibration batches", total if total is not None else 0)
    for i, b in enumerate(calib):
        a = _batch_array(b)
        if a.ndim == 0:
            raise _error("calib: a batch is a scalar", "shape error")
        parts.append(a)
        n += a.shape[0]
        if progress is not None:
            progress.update(i + 1, total if total is not None else 0)
        if limit is not None and n >= limit:
            break
    if progress is not None:
        progress.end()
    if not parts:
        raise _error("calib: no samples", "value error")
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) != 1:
        raise _error(f"calib: batches of different sample shapes {sorted(shapes)}", "shape error")
    arr = np.concatenate([p.astype(np.float32, copy=False) for p in parts], axis=0)
    return np.ascontiguousarray(arr[:limit] if limit is not None else arr)


class _Progress:
    """Routes the C pipeline's stage progress to a callback, else to tqdm when installed."""

    def __init__(self, callback: Union[ProgressCallback, bool, None]) -> None:
        self.callback = callback if callable(callback) else None
        self.tqdm = None
        self.bar = None
        if self.callback is None and callback is not False:
            try:
                from tqdm.auto import tqdm  # optional
                self.tqdm = tqdm
            except ImportError:
                pass
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        # the C side calls (stage, 0, total) at a stage's start, (stage, k, total)
        # as it goes and (stage, -1, -1) at its end
        if done == 0 and total >= 0 and stage != self.stage:
            self.begin(stage, total)
        elif done < 0:
            self.end()
        else:
            self.update(done, total)

    def begin(self, stage: str, total: int) -> None:
        self.stage = stage
        if self.callback is not None:
            self.callback(stage, 0, total)
        elif self.tqdm is not None:
            self.bar = self.tqdm(total=total or None, desc=stage, leave=False)

    def update(self, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(self.stage, done, total)
        elif self.bar is not None:
            self.bar.update(done - self.bar.n)  # redrawn at most every mininterval, not per step

    def end(self) -> None:
        if self.callback is not None and self.stage:
            self.callback(self.stage, -1, -1)
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = ""

    @property
    def active(self) -> bool:
        return self.callback is not None or self.tqdm is not None


class QuantizedModel(Model):
    """A Model made by fgq.quantize: also the per-layer report (``layers``, as
    ``fgq quantize --json``) and, with a budget, the budget's outcome."""

    __slots__ = ("layers", "budget", "equalized_pairs")
    layers: List[Dict[str, Any]]
    budget: Optional[Dict[str, Any]]
    equalized_pairs: int


def _flag_value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def _calibration(calib: Any, limit: Optional[int], prog: "_Progress", path: str, flags: List[str]) -> Any:
    """quantize()'s calib as the C side takes it (None, a float32 array [N, ...], or a dict of
    arrays for several inputs); adds --calib to flags. path: the ONNX model, whose input
    shapes tell a list of batches from a list of samples."""
    if calib is None:
        return None
    declared: List[Optional[Dict[str, Tuple[int, ...]]]] = []

    def dims(key: Optional[str] = None) -> Optional[Tuple[int, ...]]:
        if not declared:  # read once, only for a list
            try:
                declared.append(_fgq.onnx_inputs(path))
            except FgqError:  # the C pipeline reports a bad model with its own message
                declared.append(None)
        inputs = declared[0]
        if not inputs:
            return None
        if key is None:
            return next(iter(inputs.values())) if len(inputs) == 1 else None
        return inputs.get(key)

    if isinstance(calib, Mapping):  # a multi-input model: {input name: samples}, the same N for each
        x = {}
        for key, val in calib.items():
            if not isinstance(key, str):
                raise _error(f"calib: the dict's keys are input names, not {key!r}", "value error")
            a = val if isinstance(val, np.ndarray) else None
            if a is not None and a.dtype == np.int64:
                # int64 (token ids) as they are: C checks each against its float32 copy, as for a .npy
                x[key] = np.ascontiguousarray(a[:limit] if limit is not None else a)
            else:
                x[key] = _calib_array(val, limit, None, lambda key=key: dims(key))
            if x[key].ndim < 1 or x[key].shape[0] < 1:
                raise _error(f"calib['{key}']: no samples", "value error")
        if not x:
            raise _error("calib: an empty dict", "value error")
        flags += ["--calib", "<arrays>"]
        return x
    arr = _calib_array(calib, limit, prog if prog.active else None, dims)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise _error("calib: no samples", "value error")
    flags += ["--calib", "<array>"]
    return arr


def quantize(model: Union[PathLike, bytes], calib: Any = None, *, weights: Optional[str] = "ternary:g4",
             acts: str = "u8", budget: Optional[float] = None, size: Optional[int] = None,
             calib_samples: Optional[int] = None, scale: Optional[float] = None,
             mean: Union[float, Sequence[float], None] = None, std: Union[float, Sequence[float], None] = None,
             keep_float: Sequence[str] = (), layers: Optional[Mapping[str, str]] = None,
             threads: Optional[int] = None, progress: Union[ProgressCallback, bool, None] = None,
             **options: Any) -> QuantizedModel:
    """Quantizes a float ONNX model as ``fgq quantize`` does and returns the integer model.

    model: path or bytes of an ONNX model, or an in-memory one (an onnx.ModelProto:
      anything with SerializeToString()): float32 inputs, and integer ones
      (token ids, masks) fed as their dtype, never normalised.
    calib: calibration samples: an array [N, ...], a list or tuple of samples
      (stacked) or of batches (concatenated: items of the model input's rank, e.g.
      list(loader)), or any other iterable of batches, e.g. a PyTorch DataLoader yielding
      tensors or (x, y) tuples (anything with __array__ or .numpy(); torch is
      not imported). Converted to float32; laid out and normalised as ``fgq
      quantize --calib`` does (HWC samples transposed for an NCHW model).
      Optional only with acts="dynamic". A model with several inputs takes a
      dict {input name: samples} (each value any of the forms above, the same
      N for every input; integer samples must be integral; an int64 array is
      kept exact: a value float32 would round raises FgqError), as ``fgq
      quantize --calib NAME=FILE`` per input.
    weights, acts: the policies of ``--weights`` / ``--acts`` (weights may be
      None with a budget). budget (mean bits per weight) / size (bytes): the
      per-layer precision search (``--budget`` / ``--size``).
    calib_samples: use the first N samples only. scale, mean, std: preprocessing
      x = (x*scale - mean) / std, stored in the model (run() applies it).
    keep_float: node names run in float; layers: {node: policy} overrides.
    **options: any other ``fgq quantize`` flag, underscores for dashes:
      observer="mse", first_last="same", depthwise="s8", bias_correction=False,
      solver="rtn", damp=0.01, act_order=True, sequential="auto",
      equalize=True, candidates=["s8", "s4:g32"], io="quantized",
      output_layer="quantized" (the output layer writes codes instead of
      handing back float from its accumulator).
    progress: a callable(stage, done, total), False for none; default: a tqdm
      bar when tqdm is installed.
    Raises FgqError with the C library's message on a bad option or model.
    The result is byte-identical to ``fgq quantize`` with the same flags."""
    prog = _Progress(progress)
    nthreads = int(threads) if threads is not None else int(_fgq.default_threads)
    flags: List[str] = []
    if weights is not None:
        flags += ["--weights", str(weights)]
    if acts is not None:
        flags += ["--acts", str(acts)]
    if budget is not None:
        flags += ["--budget", repr(float(budget))]
    if size is not None:
        flags += ["--size", str(int(size))]
    for k, v in options.items():
        if v is None:
            continue
        flags += ["--" + k.replace("_", "-"), _flag_value(v)]
    for node in keep_float:
        flags += ["--keep-float", str(node)]
    for node, pol in (layers or {}).items():
        flags += ["--layer", f"{node}={pol}"]
    model, name = _in_memory(model)
    with contextlib.ExitStack() as stack:
        if isinstance(model, (bytes, bytearray, memoryview)):
            name = name or "<bytes>"
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="fgq-"))
            path = os.path.join(tmp, "model.onnx")
            with open(path, "wb") as f:
                f.write(bytes(model))
        else:
            name = path = os.fspath(model)
        try:
            x = _calibration(calib, calib_samples, prog, path, flags)
            mean_l = None if mean is None else [float(v) for v in np.atleast_1d(np.asarray(mean, dtype=np.float64))]
            std_l = None if std is None else [float(v) for v in np.atleast_1d(np.asarray(std, dtype=np.float64))]
            impl, rows, bud, pairs = _fgq.quantize(path, x, flags, float(scale) if scale is not None else 0.0, mean_l,
                                                   std_l, nthreads, prog if prog.active else None)
        except FgqError as e:
            if path == name:
                raise
            raise _renamed(e, path, name) from None
    prog.end()
    q = QuantizedModel(impl, f"<quantized {name}>")
    q.layers = rows
    q.budget = bud
    q.equalized_pairs = pairs
    q.threads = nthreads
    clipped = [r["name"] for r in rows if r.get("clipped_channels", 0) > 0]
    if clipped:
        import warnings
        warnings.warn(f"fgq.quantize: layers {', '.join(clipped)} have output channels that do not fit the "
                      "integer form (their outputs are wrong): degenerate input ranges (untrained weights, or "
                      "calibration data unlike real inputs)", RuntimeWarning, stacklevel=2)
    return q


# ---- the CLI's reports (eval, inspect) -------------------------------------------------


def _cli_json(argv: List[str], names: Optional[Dict[str, str]] = None) -> Any:
    """Runs `fgq argv...` (the CLI's code, in a child process) and parses its JSON;
    names: temporary paths -> what the caller gave, put back in messages and values."""
    rc, out, err = _fgq.cli(argv)
    text = out.decode("utf-8", "replace")
    etext = err.decode("utf-8", "replace")
    for tmp_path, name in (names or {}).items():
        text = text.replace(json.dumps(tmp_path)[1:-1], json.dumps(name)[1:-1])
        etext = etext.replace(tmp_path, name)
    if rc != 0:
        # the CLI prints "fgq <cmd>: <status>: <message>" (or a usage error)
        msg = etext.strip() or f"fgq {argv[0]} exited with {rc}"
        status = "value error"
        for name in ("io error", "format error", "unsupported", "shape error", "value error", "out of memory"):
            if f": {name}: " in msg:
                status = name
        raise _error(msg, status)
    return json.loads(text)


def _model_path(model: ModelSource, tmp: str, stem: str, names: Dict[str, str]) -> str:
    """A path the CLI can open for model; a temporary file (recorded in names) for a Model, bytes
    or an in-memory ONNX model."""
    model, name = _in_memory(model)
    if isinstance(model, Model):
        p = os.path.join(tmp, stem + ".fgq")
        model.save(p)
        names[p] = model.name or "<model>"
        return p
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        p = os.path.join(tmp, stem + (".fgq" if _is_fgq_file_bytes(data) else ".onnx"))
        with open(p, "wb") as f:
            f.write(data)
        names[p] = name or "<bytes>"
        return p
    return os.fspath(model)


def _data_path(data: Any, tmp: str, stem: str) -> str:
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    p = os.path.join(tmp, stem + ".npy")
    np.save(p, _to_array(data))
    return p


def _eval_flags(samples: Optional[str], scale: Optional[float], mean: Any, std: Any, threads: Optional[int],
                batch: Optional[int]) -> List[str]:
    argv: List[str] = []
    if samples is not None:
        argv += ["--samples", str(samples)]
    if scale is not None:
        argv += ["--scale", repr(float(scale))]
    if mean is not None:
        argv += ["--mean", ",".join(repr(float(v)) for v in np.atleast_1d(mean))]
    if std is not None:
        argv += ["--std", ",".join(repr(float(v)) for v in np.atleast_1d(std))]
    if threads is not None:
        argv += ["--threads", str(int(threads))]
    if batch is not None:
        argv += ["--batch", str(int(batch))]
    return argv


def evaluate(model: ModelSource, *args: Any, quant_model: Optional[ModelSource] = None,
             samples: Optional[str] = None, scale: Optional[float] = None, mean: Any = None, std: Any = None,
             threads: Optional[int] = None, batch: Optional[int] = None) -> Dict[str, Any]:
    """Accuracy of a model on labelled data: what ``fgq eval --json`` prints, as a dict.

    ``evaluate(model, data, labels)`` or ``evaluate(float_model, quant_model, data,
    labels)`` (the same as ``quant_model=``: compares a float model with its
    quantized twin: agreement, per-layer SQNR). Models: a path, bytes or a Model. data / labels: arrays
    or paths (.npy, .npz, IDX). samples: "A:B" slice. Preprocessing flags as for
    quantize (a quantized model's stored preprocessing applies otherwise).
    One model: {"model", "samples", "top1", "top5", "samples_per_s"}; two:
    {"float_model", "quant_model", "samples", "float", "quant", "agreement",
    "output_sqnr_db", "layers"}. Arrays and in-memory models travel through
    temporary files to the CLI's own code, run in a child process."""
    if len(args) == 3 and quant_model is None:
        quant_model, data, labels = args
    elif len(args) == 2:
        data, labels = args
    else:
        raise TypeError("evaluate(model, data, labels) or evaluate(float_model, quant_model, data, labels)")
    names: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fgq-") as tmp:
        argv = ["eval", _model_path(model, tmp, "model", names)]
        if quant_model is not None:
            argv.append(_model_path(quant_model, tmp, "quant", names))
        argv += ["--data", _data_path(data, tmp, "data"), "--labels", _data_path(labels, tmp, "labels"), "--json"]
        argv += _eval_flags(samples, scale, mean, std, threads, batch)
        return _cli_json(argv, names)


def sensitivity(model: PathLike, data: Any, labels: Any, calib: Any, *, quant_model: Optional[ModelSource] = None,
                weights: Optional[str] = "ternary:g4", samples: Optional[str] = None, scale: Optional[float] = None,
                mean: Any = None, std: Any = None, threads: Optional[int] = None,
                **options: Any) -> Dict[str, Any]:
    """Which weight layer costs: ``fgq eval --sensitivity --json`` as a dict (its
    "sensitivity" list, worst first). calib: samples (array or path) the
    per-layer quantizations calibrate on; options: quantize flags as in
    quantize()."""
    names: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fgq-") as tmp:
        argv = ["eval", _model_path(model, tmp, "model", names)]
        if quant_model is not None:
            argv.append(_model_path(quant_model, tmp, "quant", names))
        argv += ["--data", _data_path(data, tmp, "data"), "--labels", _data_path(labels, tmp, "labels"), "--json",
                 "--sensitivity", "--calib", _data_path(calib, tmp, "calib")]
        if weights is not None:
            argv += ["--weights", str(weights)]
        for k, v in options.items():
            if v is not None:
                argv += ["--" + k.replace("_", "-"), _flag_value(v)]
        argv += _eval_flags(samples, scale, mean, std, threads, None)
        return _cli_json(argv, names)


def inspect(model: ModelSource, *, batch: Optional[int] = None) -> Dict[str, Any]:
    """What ``fgq inspect --json`` prints, as a dict: for ONNX, per node its op,
    shapes, parameters and MACs, totals and unsupported ops; for a .fgq (a path,
    bytes or a Model), its nodes, inputs, outputs, bytes and recipe."""
    names: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fgq-") as tmp:
        argv = ["inspect", _model_path(model, tmp, "model", names), "--json"]
        if batch is not None:
            argv += ["--batch", str(int(batch))]
        return _cli_json(argv, names)


def report(model: PathLike, quant_models: Union[ModelSource, Sequence[ModelSource]], data: Any, labels: Any,
           out: PathLike, *, samples: Optional[str] = None, calib: Any = None, weights: Optional[str] = None,
           weight_layer: Optional[str] = None, sweep: Union[PathLike, Sequence[PathLike], None] = None,
           scale: Optional[float] = None, mean: Any = None, std: Any = None, threads: Optional[int] = None,
           **options: Any) -> List[str]:
    """Writes the quantization report: ``fgq report`` (its own C code, in a child process).

    model: the float .onnx path; quant_models: one or more quantized models (paths, bytes or
    Models); data / labels / samples and the preprocessing as for evaluate(); out: the HTML
    page, one self-contained file (figures inlined), the PNG and SVG figures written beside it.
    calib (array or path) adds the sensitivity ranking, with weights (default ternary:g4) and
    options (quantize flags, e.g. calib_samples="0:200", first_last="same") as for
    sensitivity(); weights and weight_layer also choose the layer whose weights are drawn;
    sweep: results JSON files of sweep cells for the accuracy-against-bytes plot. The figures
    are drawn by this interpreter, which needs matplotlib. Returns the paths written."""
    if isinstance(quant_models, (str, os.PathLike, bytes, bytearray, memoryview, Model)):
        quant_models = [quant_models]
    names: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fgq-") as tmp:
        argv = ["report", os.fspath(model)]
        argv += [_model_path(q, tmp, f"quant{i}", names) for i, q in enumerate(quant_models)]
        argv += ["--data", _data_path(data, tmp, "data"), "--labels", _data_path(labels, tmp, "labels"),
                 "-o", os.fspath(out), "--python", sys.executable]
        argv += _eval_flags(samples, scale, mean, std, threads, None)
        if calib is not None:
            argv += ["--calib", _data_path(calib, tmp, "calib")]
        if weights is not None:
            argv += ["--weights", str(weights)]
        if weight_layer is not None:
            argv += ["--weight-layer", str(weight_layer)]
        for p in [] if sweep is None else [sweep] if isinstance(sweep, (str, os.PathLike)) else sweep:
            argv += ["--sweep", os.fspath(p)]
        for k, v in options.items():
            if v is not None:
                argv += ["--" + k.replace("_", "-"), _flag_value(v)]
        rc, stdout, stderr = _fgq.cli(argv)
        if rc != 0:
            msg = stderr.decode("utf-8", "replace")
            for tmp_path, name in names.items():
                msg = msg.replace(tmp_path, name)
            raise _error(msg.strip() or f"fgq report exited with {rc}")
        return stdout.decode("utf-8", "replace").splitlines()
