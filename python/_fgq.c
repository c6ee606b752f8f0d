/*
 * _fgq.c — the CPython extension behind the `fgq` package (python/fgq/).
 *
 * A thin binding: every decision is the C library's. Model wraps a
 * fgq_graph_runner (tools/run/run_graph.h): a .fgq read by the runtime's own
 * checks, or an ONNX model imported, optimized and lowered as `fgq convert`
 * does (cli/load.c). quantize() runs the quantize flags parser
 * (cli/quant_flags.h), the pipeline (tools/quant/pipeline.h) and the steps
 * of cli/quantize_job.h on samples handed over by the buffer protocol, so the
 * model is the one `fgq quantize` writes from the same flags. cli() runs a
 * subcommand (eval, inspect, ...) in a forked child whose stdout and stderr
 * come back as bytes: the command's own code and its --json, without touching
 * this process's streams.
 *
 * Arrays cross by the buffer protocol (no numpy at build time): inputs are
 * read in place when C-contiguous and of the input's dtype; outputs are
 * bytearrays the Python side views with numpy.frombuffer. The GIL is released
 * while C code runs; a per-model lock keeps one run per arena at a time.
 *
 * State lives in the module (FgqError, the Model type) and in each Model
 * object: no static mutable data.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "cli.h"
#include "quant_flags.h"
#include "quantize_job.h"

#include "data/data.h"
#include "export/export_onnx.h"
#include "export/fgq_writer.h"
#include "fileutil.h"
#include "import/onnx_import.h"
#include "run/run_graph.h"
#include "threadpool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    PyObject *error;      /* fgq.FgqError */
    PyTypeObject *model;  /* fgq._fgq.Model */
} module_state;

typedef struct {
    PyObject_HEAD
    fgq_graph_runner r;       /* owns the model bytes, the arena and the thread pool */
    int loaded;
    PyThread_type_lock lock;  /* one run (one arena) at a time */
    /* the preprocessing `fgq quantize` stored, read once at load: run() applies it to float inputs */
    enum { PRE_NONE, PRE_IDENTITY, PRE_NORMALISE } pre_kind; /* identity: scale 1, no mean or std */
    fgq_preprocess pre;
} ModelObject;

static module_state *state_of_module(PyObject *m)
{
    return (module_state *)PyModule_GetState(m);
}

static module_state *state_of_model(PyObject *self)
{
    return (module_state *)PyType_GetModuleState(Py_TYPE(self));
}

/* A C string as a Python str, invalid UTF-8 replaced by U+FFFD: a message cut
 * at FGQ_ERROR_MSG_LEN may end inside a character, and node or tensor names
 * from a damaged file may hold any bytes. len < 0: up to the NUL. */
static PyObject *text_of(const char *s, Py_ssize_t len)
{
    if (s == NULL)
        s = "";
    return PyUnicode_DecodeUTF8(s, len < 0 ? (Py_ssize_t)strlen(s) : len, "replace");
}

/* Raises FgqError(message) from a library error; its `status` attribute is
 * the status name ("format error", ...). */
static PyObject *raise_fgq(module_state *st, const fgq_error *err)
{
    PyObject *msg = text_of(err->msg[0] ? err->msg : "(no message)", -1);
    if (msg == NULL)
        return NULL;
    PyObject *exc = PyObject_CallOneArg(st->error, msg);
    Py_DECREF(msg);
    if (exc == NULL)
        return NULL;
    PyObject *status = PyUnicode_FromString(fgq_status_name(err->status));
    if (status == NULL || PyObject_SetAttrString(exc, "status", status) != 0) {
        Py_XDECREF(status);
        Py_DECREF(exc);
        return NULL;
    }
    Py_DECREF(status);
    PyErr_SetObject(st->error, exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *raise_msg(module_state *st, fgq_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static PyObject *raise_msg(module_state *st, fgq_status status, const char *fmt, ...)
{
    fgq_error err;
    fgq_error_clear(&err);
    err.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof err.msg, fmt, ap);
    va_end(ap);
    return raise_fgq(st, &err);
}

static const char *dtype_numpy(fgq_dtype dt)
{
    switch (dt) {
    case FGQ_DT_F32: return "float32";
    case FGQ_DT_U8: return "uint8";
    case FGQ_DT_S8: return "int8";
    case FGQ_DT_S32: return "int32";
    case FGQ_DT_S64: return "int64";
    case FGQ_DT_F16: return "float16";
    case FGQ_DT_BOOL: return "bool";
    default: return NULL;
    }
}

/* Whether a buffer's struct format (byte order / size prefix allowed when
 * native) holds elements of dt. */
static int format_matches(const char *fmt, Py_ssize_t itemsize, fgq_dtype dt)
{
    if (fmt == NULL)
        fmt = "B";
    if (fmt[0] == '@' || fmt[0] == '=' || fmt[0] == '<')
        fmt++;
    if (fmt[0] == '\0' || fmt[1] != '\0')
        return 0;
    const char c = fmt[0];
    switch (dt) {
    case FGQ_DT_F32: return c == 'f' && itemsize == 4;
    case FGQ_DT_U8: return (c == 'B' || c == 'c') && itemsize == 1;
    case FGQ_DT_S8: return c == 'b' && itemsize == 1;
    case FGQ_DT_S32: return (c == 'i' || c == 'l') && itemsize == 4;
    case FGQ_DT_S64: return (c == 'l' || c == 'q') && itemsize == 8;
    case FGQ_DT_BOOL: return c == '?' && itemsize == 1;
    default: return 0;
    }
}

static PyObject *shape_tuple(int32_t rank, const int64_t *dims)
{
    PyObject *t = PyTuple_New(rank > 0 ? rank : 0);
    for (int32_t d = 0; t != NULL && d < rank; d++) {
        PyObject *v = PyLong_FromLongLong((long long)dims[d]);
        if (v == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, d, v);
    }
    return t;
}

/* ---- Model ---------------------------------------------------------------- */

static ModelObject *model_new(module_state *st)
{
    ModelObject *m = PyObject_New(ModelObject, st->model);
    if (m == NULL)
        return NULL;
    memset(&m->r, 0, sizeof m->r);
    m->loaded = 0;
    m->lock = PyThread_allocate_lock();
    if (m->lock == NULL) {
        Py_DECREF(m);
        PyErr_NoMemory();
        return NULL;
    }
    return m;
}

static void model_dealloc(PyObject *self)
{
    ModelObject *m = (ModelObject *)self;
    PyTypeObject *tp = Py_TYPE(self);
    if (m->loaded)
        fgq_graph_runner_free(&m->r);
    if (m->lock != NULL)
        PyThread_free_lock(m->lock);
    PyObject_Free(self);
    Py_DECREF(tp);
}

/* Marks m loaded and reads its stored preprocessing once (run() would otherwise
 * decode the file's metadata on every call). */
static void model_ready(ModelObject *m)
{
    m->loaded = 1;
    m->pre_kind = PRE_NONE;
    if (!fgq_cli_stored_preprocess(&m->r.model, &m->pre))
        return;
    const fgq_preprocess *p = &m->pre;
    int identity = p->scale == 0.0f || p->scale == 1.0f;
    for (int32_t c = 0; identity && c < p->n_mean; c++)
        identity = p->mean[c] == 0.0f;
    for (int32_t c = 0; identity && c < p->n_std; c++)
        identity = p->std[c] == 1.0f;
    m->pre_kind = identity ? PRE_IDENTITY : PRE_NORMALISE;
}

/* Takes the model's run lock with the GIL released (another thread may be
 * running it). */
static void model_lock(ModelObject *m)
{
    if (PyThread_acquire_lock(m->lock, NOWAIT_LOCK))
        return;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(m->lock, WAIT_LOCK);
    Py_END_ALLOW_THREADS
}

/* Tensor t's description: name, shape, dtype, bytes, quantization. */
static PyObject *tensor_dict(const fgq_model *fm, int32_t t)
{
    fgq_tensor_info info;
    if (fgq_model_tensor_info(fm, t, &info) != FGQ_OK) {
        PyErr_Format(PyExc_RuntimeError, "tensor %d of the model cannot be described", (int)t);
        return NULL;
    }
    const char *dt = dtype_numpy(info.dtype);
    PyObject *shape = shape_tuple(info.rank, info.dims);
    if (shape == NULL)
        return NULL;
    PyObject *quant = Py_None;
    Py_INCREF(quant);
    fgq_tensor_qparams q;
    if (fgq_model_tensor_qparams(fm, t, &q) == FGQ_OK && q.n_scales > 0) {
        PyObject *scales = PyList_New(q.n_scales), *zps = PyList_New(q.n_scales);
        int ok = scales != NULL && zps != NULL;
        for (int32_t i = 0; ok && i < q.n_scales; i++) {
            PyObject *f = PyFloat_FromDouble(q.scales[i]);
            PyObject *z = PyLong_FromLong(q.zero_points != NULL ? q.zero_points[i] : 0);
            if (f == NULL || z == NULL) {
                Py_XDECREF(f);
                Py_XDECREF(z);
                ok = 0;
                break;
            }
            PyList_SET_ITEM(scales, i, f);
            PyList_SET_ITEM(zps, i, z);
        }
        Py_DECREF(quant);
        if (!ok) { /* lists with unset (NULL) items are freed safely */
            Py_XDECREF(scales);
            Py_XDECREF(zps);
            Py_DECREF(shape);
            return NULL;
        }
        /* "N" hands scales and zps over, on failure too */
        quant = Py_BuildValue("{s:N,s:N,s:i,s:i}", "scales", scales, "zero_points", zps, "axis", (int)q.axis,
                              "group_size", (int)q.group_size);
        if (quant == NULL) {
            Py_DECREF(shape);
            return NULL;
        }
    }
    return Py_BuildValue("{s:N,s:N,s:s,s:K,s:N}", "name", text_of(info.name, (Py_ssize_t)info.name_len), "shape", shape,
                         "dtype", dt != NULL ? dt : fgq_dtype_name(info.dtype), "size_bytes",
                         (unsigned long long)info.size_bytes, "quant", quant);
}

/* The quantization a float graph input or output goes through inside the
 * model: the QUANTIZE node reading input t, or the DEQUANTIZE producing
 * output t; None when there is none. */
static PyObject *io_quant(const fgq_model *fm, int32_t t, int is_output)
{
    for (int32_t n = 0; n < fgq_model_n_nodes(fm); n++) {
        fgq_node_info ni;
        if (fgq_model_node_info(fm, n, &ni) != FGQ_OK)
            break;
        if (!is_output && ni.op == FGQ_OP_QUANTIZE && ni.n_inputs > 0 && ni.inputs[0] == t && ni.n_outputs > 0)
            return tensor_dict(fm, ni.outputs[0]);
        if (is_output && ni.op == FGQ_OP_DEQUANTIZE && ni.n_outputs > 0 && ni.outputs[0] == t && ni.n_inputs > 0)
            return tensor_dict(fm, ni.inputs[0]);
    }
    Py_RETURN_NONE;
}

static PyObject *model_io(PyObject *self, PyObject *args)
{
    ModelObject *m = (ModelObject *)self;
    int is_output = 0;
    if (!PyArg_ParseTuple(args, "p", &is_output))
        return NULL;
    const fgq_model *fm = &m->r.model;
    const int32_t n = is_output ? fgq_model_n_outputs(fm) : fgq_model_n_inputs(fm);
    PyObject *list = PyList_New(n);
    for (int32_t i = 0; list != NULL && i < n; i++) {
        const int32_t t = is_output ? fgq_model_output_tensor(fm, i) : fgq_model_input_tensor(fm, i);
        PyObject *d = tensor_dict(fm, t);
        PyObject *q = d != NULL ? io_quant(fm, t, is_output) : NULL;
        if (q == NULL || PyDict_SetItemString(d, "quantized_as", q) != 0) {
            Py_XDECREF(q);
            Py_XDECREF(d);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(q);
        PyList_SET_ITEM(list, i, d);
    }
    return list;
}

/* The first element of a float32 buffer that is not finite, or -1: what
 * fgq_data_prepare refuses after preprocessing, checked in place when the
 * stored preprocessing is the identity (no copy to normalise). */
static int64_t first_non_finite(const void *buf, int64_t n)
{
    const uint32_t *u = buf;
    uint32_t any = 0;
    for (int64_t i = 0; i < n; i++) /* exponent all ones: inf or NaN */
        any |= (u[i] & 0x7f800000u) == 0x7f800000u;
    if (!any)
        return -1;
    for (int64_t i = 0; i < n; i++)
        if ((u[i] & 0x7f800000u) == 0x7f800000u)
            return i;
    return -1;
}

/* One input of run(): its buffer view and the preprocessed (or quantized) copy, if any; data's
 * bytes over every repetition. */
typedef struct {
    Py_buffer view;
    int have;
    float *owned;
    const void *data;
    int64_t bytes;
} run_input;

#define RUN_MAX_OUTPUTS 64
#define RUN_STACK_INPUTS 8 /* more inputs: a heap array */

/* run(inputs: tuple, raw: bool, adapt: bool) -> list of (bytearray, shape, dtype),
 * or NotImplemented when adapt is true and an input is not a C-contiguous
 * buffer, or is float16 for a float32 input: the Python side converts it and
 * calls again with adapt false, when such an input is an error here.
 * Each input: a C-contiguous buffer of the model input's dtype, shaped as the
 * input, a stack of it along the first axis, or one sample without its
 * leading 1s (fgq_cli_input_reps: what `fgq run` accepts). With a stack of k
 * the model runs k times and outputs are stacked. Preprocessing stored by
 * `fgq quantize` is applied to float inputs unless raw (as `fgq run`). */
static PyObject *model_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ModelObject *m = (ModelObject *)self;
    module_state *st = state_of_model(self);
    if (nargs != 3 || !PyTuple_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "run(inputs: tuple, raw: bool, adapt: bool)");
        return NULL;
    }
    PyObject *seq = args[0];
    const int raw = PyObject_IsTrue(args[1]), adapt = PyObject_IsTrue(args[2]);
    if (raw < 0 || adapt < 0)
        return NULL;
    const fgq_model *fm = &m->r.model;
    const int32_t gi = fgq_model_n_inputs(fm), go = fgq_model_n_outputs(fm);
    const Py_ssize_t given = PyTuple_GET_SIZE(seq);
    if (go > RUN_MAX_OUTPUTS)
        return raise_msg(st, FGQ_ERR_UNSUPPORTED, "the model has %d outputs (at most %d)", (int)go, RUN_MAX_OUTPUTS);
    run_input in_stack[RUN_STACK_INPUTS];
    const int32_t n_in = given < gi ? (int32_t)given : gi; /* the inputs looked at before counting */
    run_input *in = n_in <= RUN_STACK_INPUTS ? in_stack : PyMem_Calloc((size_t)n_in, sizeof *in);
    if (in == NULL)
        return PyErr_NoMemory();
    if (in == in_stack)
        memset(in_stack, 0, sizeof in_stack[0] * (size_t)(n_in > 0 ? n_in : 0));
    const float *in_ptrs_stack[RUN_STACK_INPUTS];
    const float **in_ptrs = gi <= RUN_STACK_INPUTS ? in_ptrs_stack : PyMem_Calloc((size_t)gi, sizeof *in_ptrs);
    float *out_ptrs[RUN_MAX_OUTPUTS], *cur[RUN_MAX_OUTPUTS];
    fgq_tensor_info oinfo[RUN_MAX_OUTPUTS];
    PyObject *outs = NULL, *result = NULL;
    fgq_error err;
    fgq_error_clear(&err);
    if (in_ptrs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t reps = -1;
    for (int32_t i = 0; i < n_in; i++) {
        fgq_tensor_info info;
        fgq_model_input_info(fm, i, &info);
        PyObject *obj = PyTuple_GET_ITEM(seq, i);
        if (PyObject_GetBuffer(obj, &in[i].view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
            PyErr_Clear();
            if (adapt) {
                result = Py_NewRef(Py_NotImplemented);
                goto done;
            }
            raise_msg(st, FGQ_ERR_VALUE, "input %.*s: a C-contiguous array is needed, not %.200s",
                      (int)info.name_len, info.name, Py_TYPE(obj)->tp_name);
            goto done;
        }
        in[i].have = 1;
        const Py_buffer *v = &in[i].view;
        float q_s = 1.0f;
        int32_t q_z = 0;
        /* quantized I/O (quantize --io quantized): float32 data, preprocessed, then quantized as the
         * model's dropped QUANTIZE did; raw=True: the codes */
        const int quantize = !raw && fgq_io_qparams(fm, fgq_model_input_tensor(fm, i), &q_s, &q_z);
        const fgq_dtype codes_dt = info.dtype;
        if (quantize)
            info.dtype = FGQ_DT_F32;
        if (!format_matches(v->format, v->itemsize, info.dtype)) {
            if (adapt && info.dtype == FGQ_DT_F32 && v->itemsize == 2 && v->format != NULL &&
                strchr(v->format, 'e') != NULL) { /* float16 for float32: widened on the Python side */
                result = Py_NewRef(Py_NotImplemented);
                goto done;
            }
            const char *want = dtype_numpy(info.dtype);
            raise_msg(st, FGQ_ERR_VALUE, "input %.*s takes %s; the array's elements are '%s' (%zd bytes)",
                      (int)info.name_len, info.name, want != NULL ? want : fgq_dtype_name(info.dtype),
                      v->format != NULL ? v->format : "B", v->itemsize);
            goto done;
        }
        if (v->ndim > FGQ_MAX_DIMS) {
            raise_msg(st, FGQ_ERR_SHAPE, "input %.*s: the array has %d axes (at most %d)", (int)info.name_len,
                      info.name, v->ndim, FGQ_MAX_DIMS);
            goto done;
        }
        int64_t dims[FGQ_MAX_DIMS] = {0};
        for (int d = 0; d < v->ndim; d++)
            dims[d] = v->shape[d];
        const int64_t numel = v->itemsize > 0 ? (int64_t)(v->len / v->itemsize) : 0;
        const int64_t k = fgq_cli_input_reps(v->ndim, dims, numel, &info);
        if (k < 1 || (reps > 0 && k != reps)) {
            char have_s[96], want_s[96];
            fgq_cli_format_dims(v->ndim, dims, have_s, sizeof have_s);
            fgq_cli_format_dims(info.rank, info.dims, want_s, sizeof want_s);
            raise_msg(st, FGQ_ERR_SHAPE,
                      "shape [%s] does not fit input %.*s, which takes [%s] or a stack of them along the first "
                      "axis%s%s",
                      have_s, (int)info.name_len, info.name, want_s, k >= 1 ? ", as many as the other inputs" : "",
                      fgq_cli_looks_nhwc(v->ndim, dims, &info)
                          ? " (channels last? the model wants channels first: transpose the array)"
                          : "");
            goto done;
        }
        reps = k;
        in[i].data = v->buf;
        in[i].bytes = (int64_t)v->len;
        if (m->pre_kind != PRE_NONE && !raw && info.rank > 0 && info.dtype == FGQ_DT_F32) {
            char name[160];
            snprintf(name, sizeof name, "input %.*s", (int)info.name_len, info.name);
            if (m->pre_kind == PRE_IDENTITY) { /* x*1 - 0) / 1 is x: only the check fgq_data_prepare makes */
                const int64_t bad = first_non_finite(v->buf, numel);
                if (bad >= 0) {
                    const int64_t per = numel / (k * (info.dims[0] > 0 ? info.dims[0] : 1)); /* one sample's values */
                    raise_msg(st, FGQ_ERR_VALUE, "%s: sample %lld becomes non-finite after preprocessing", name,
                              (long long)(per > 0 ? bad / per : 0));
                    goto done;
                }
            } else { /* feed data as calibration did */
                in[i].owned = malloc(v->len > 0 ? (size_t)v->len : 1);
                if (in[i].owned == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                memcpy(in[i].owned, v->buf, (size_t)v->len);
                fgq_dataset d;
                memset(&d, 0, sizeof d);
                d.data = in[i].owned;
                d.rank = info.rank;
                memcpy(d.dims, info.dims, sizeof d.dims);
                d.dims[0] *= k;
                fgq_status s = fgq_data_prepare(&d, name, info.rank, info.dims, &m->pre, &err);
                in[i].owned = d.data;
                if (s != FGQ_OK) {
                    raise_fgq(st, &err);
                    goto done;
                }
                in[i].data = in[i].owned;
            }
        }
        if (quantize) {
            if (in[i].owned == NULL) {
                if ((in[i].owned = malloc(v->len > 0 ? (size_t)v->len : 1)) == NULL) {
                    PyErr_NoMemory();
                    goto done;
                }
                memcpy(in[i].owned, v->buf, (size_t)v->len);
            }
            /* in place: code j overwrites bytes of floats already read */
            fgq_io_quantize(in[i].owned, numel, q_s, q_z, codes_dt, in[i].owned);
            in[i].data = in[i].owned;
            in[i].bytes = numel; /* one byte a code */
        }
    }
    if (given != gi) {
        raise_msg(st, FGQ_ERR_VALUE, "the model has %d input%s; %zd given", (int)gi, gi == 1 ? "" : "s", given);
        goto done;
    }
    if (reps < 1)
        reps = 1;
    outs = PyList_New(go);
    if (outs == NULL)
        goto done;
    for (int32_t o = 0; o < go; o++) {
        fgq_model_output_info(fm, o, &oinfo[o]);
        const char *dt = dtype_numpy(oinfo[o].dtype);
        if (dt == NULL) {
            raise_msg(st, FGQ_ERR_UNSUPPORTED, "output %.*s is %s, which has no numpy dtype",
                      (int)oinfo[o].name_len, oinfo[o].name, fgq_dtype_name(oinfo[o].dtype));
            goto done;
        }
        const uint64_t bytes = oinfo[o].size_bytes * (uint64_t)reps;
        if (bytes > (uint64_t)PY_SSIZE_T_MAX) {
            PyErr_NoMemory();
            goto done;
        }
        PyObject *buf = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)bytes);
        if (buf == NULL)
            goto done;
        int64_t dims[FGQ_MAX_DIMS + 1];
        int32_t rank = oinfo[o].rank;
        memcpy(dims, oinfo[o].dims, sizeof oinfo[o].dims);
        if (reps > 1) { /* stacked along the first axis (one added to a scalar) */
            if (rank == 0)
                dims[rank++] = 1;
            dims[0] *= reps;
        }
        PyObject *shape = shape_tuple(rank, dims);
        if (shape == NULL) {
            Py_DECREF(buf);
            goto done;
        }
        PyObject *item = Py_BuildValue("(NNs)", buf, shape, dt); /* "N" hands buf and shape over, on failure too */
        if (item == NULL)
            goto done;
        out_ptrs[o] = (float *)PyByteArray_AS_STRING(buf);
        PyList_SET_ITEM(outs, o, item);
    }
    model_lock(m);
    fgq_status s = FGQ_OK;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t rep = 0; s == FGQ_OK && rep < reps; rep++) {
        /* buffers of any dtype travel as float pointers (run_graph.h copies size_bytes) */
        for (int32_t i = 0; i < gi; i++)
            in_ptrs[i] = (const float *)((const uint8_t *)in[i].data + (size_t)(in[i].bytes / reps) * (size_t)rep);
        for (int32_t o = 0; o < go; o++)
            cur[o] = (float *)((uint8_t *)out_ptrs[o] + oinfo[o].size_bytes * (uint64_t)rep);
        s = fgq_graph_runner_run(&m->r, in_ptrs, cur, NULL, NULL, &err);
    }
    Py_END_ALLOW_THREADS
    PyThread_release_lock(m->lock);
    if (s != FGQ_OK) {
        raise_fgq(st, &err);
        goto done;
    }
    result = outs;
    outs = NULL;
done:
    Py_XDECREF(outs);
    for (int32_t i = 0; i < n_in; i++) {
        if (in[i].have)
            PyBuffer_Release(&in[i].view);
        free(in[i].owned);
    }
    if (in != in_stack)
        PyMem_Free(in);
    if (in_ptrs != in_ptrs_stack)
        PyMem_Free(in_ptrs);
    return result;
}

static PyObject *model_set_threads(PyObject *self, PyObject *args)
{
    ModelObject *m = (ModelObject *)self;
    int n = 0;
    if (!PyArg_ParseTuple(args, "i", &n))
        return NULL;
    if (n < 1 || n > FGQ_THREADPOOL_MAX_THREADS)
        return raise_msg(state_of_model(self), FGQ_ERR_VALUE, "threads=%d is not a count in 1..%d", n,
                         FGQ_THREADPOOL_MAX_THREADS);
    fgq_error err;
    fgq_error_clear(&err);
    model_lock(m);
    fgq_status s;
    Py_BEGIN_ALLOW_THREADS
    s = fgq_graph_runner_set_threads(&m->r, (int32_t)n, &err);
    Py_END_ALLOW_THREADS
    PyThread_release_lock(m->lock);
    if (s != FGQ_OK)
        return raise_fgq(state_of_model(self), &err);
    Py_RETURN_NONE;
}

static PyObject *model_threads(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromLong(fgq_graph_runner_threads(&((ModelObject *)self)->r));
}

/* The .fgq bytes (what save writes). */
static PyObject *model_to_bytes(PyObject *self, PyObject *unused)
{
    (void)unused;
    ModelObject *m = (ModelObject *)self;
    return PyBytes_FromStringAndSize((const char *)m->r.model_bytes, (Py_ssize_t)m->r.model_size);
}

static PyObject *model_save(PyObject *self, PyObject *args)
{
    ModelObject *m = (ModelObject *)self;
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    fgq_error err;
    fgq_error_clear(&err);
    fgq_status s;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    s = fgq_write_file_atomic(p, m->r.model_bytes, (size_t)m->r.model_size, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (s != FGQ_OK)
        return raise_fgq(state_of_model(self), &err);
    Py_RETURN_NONE;
}

/* QDQ ONNX bytes (export/export_onnx.h, as `fgq export --onnx`). */
static PyObject *model_export_onnx(PyObject *self, PyObject *unused)
{
    (void)unused;
    ModelObject *m = (ModelObject *)self;
    fgq_error err;
    fgq_error_clear(&err);
    uint8_t *onnx = NULL;
    size_t size = 0;
    fgq_status s;
    Py_BEGIN_ALLOW_THREADS
    s = fgq_export_onnx(&m->r.model, &onnx, &size, &err);
    Py_END_ALLOW_THREADS
    if (s != FGQ_OK)
        return raise_fgq(state_of_model(self), &err);
    PyObject *b = PyBytes_FromStringAndSize((const char *)onnx, (Py_ssize_t)size);
    free(onnx);
    return b;
}

static PyObject *model_recipe(PyObject *self, PyObject *unused)
{
    (void)unused;
    const char *text = NULL;
    uint32_t len = 0;
    if (!fgq_model_get_recipe(&((ModelObject *)self)->r.model, &text, &len))
        Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
}

static PyObject *float_list(const float *v, int32_t n)
{
    PyObject *l = PyList_New(n);
    for (int32_t i = 0; l != NULL && i < n; i++) {
        PyObject *f = PyFloat_FromDouble(v[i]);
        if (f == NULL) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, i, f);
    }
    return l;
}

static PyObject *model_preprocess(PyObject *self, PyObject *unused)
{
    (void)unused;
    fgq_model_preprocess p;
    if (!fgq_model_get_preprocess(&((ModelObject *)self)->r.model, &p))
        Py_RETURN_NONE;
    return Py_BuildValue("{s:d,s:N,s:N,s:i}", "scale", (double)p.scale, "mean", float_list(p.mean, p.n_mean), "std",
                         float_list(p.std, p.n_std), "channel_axis", (int)p.channel_axis);
}

static PyObject *model_summary(PyObject *self, PyObject *unused)
{
    (void)unused;
    const fgq_model *fm = &((ModelObject *)self)->r.model;
    return Py_BuildValue("{s:i,s:i,s:K,s:K,s:K,s:K,s:K}", "nodes", (int)fgq_model_n_nodes(fm), "tensors",
                         (int)fgq_model_n_tensors(fm), "file_bytes", (unsigned long long)((ModelObject *)self)->r.model_size,
                         "weight_bytes", (unsigned long long)fgq_model_weight_bytes(fm), "arena_bytes",
                         (unsigned long long)fgq_model_activation_size(fm), "scratch_bytes",
                         (unsigned long long)fgq_model_scratch_size(fm), "run_arena_bytes",
                         (unsigned long long)((ModelObject *)self)->r.arena_size);
}

static PyMethodDef model_methods[] = {
    {"io", model_io, METH_VARARGS, "io(is_output) -> list of tensor descriptions"},
    {"run", (PyCFunction)(void (*)(void))model_run, METH_FASTCALL,
     "run(inputs, raw, adapt) -> list of (bytearray, shape, dtype), or NotImplemented (adapt: convert and retry)"},
    {"set_threads", model_set_threads, METH_VARARGS, "set_threads(n): threads per inference"},
    {"threads", model_threads, METH_NOARGS, "threads per inference"},
    {"to_bytes", model_to_bytes, METH_NOARGS, "the .fgq bytes"},
    {"save", model_save, METH_VARARGS, "save(path): write the .fgq bytes atomically"},
    {"export_onnx", model_export_onnx, METH_NOARGS, "QDQ ONNX bytes (fgq export --onnx)"},
    {"recipe", model_recipe, METH_NOARGS, "the recipe fgq quantize stored, or None"},
    {"preprocess", model_preprocess, METH_NOARGS, "the stored preprocessing, or None"},
    {"summary", model_summary, METH_NOARGS, "node, tensor and byte counts"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot model_slots[] = {
    {Py_tp_dealloc, (void *)model_dealloc},
    {Py_tp_methods, model_methods},
    {Py_tp_doc, (void *)"A loaded fgq model (use fgq.Model)."},
    {0, NULL},
};

static PyType_Spec model_spec = {
    "fgq._fgq.Model", sizeof(ModelObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, model_slots,
};

/* ---- loading ---------------------------------------------------------------- */

/* load_fgq(bytes_like, name) -> Model: the runtime's checks, as for a file. */
static PyObject *py_load_fgq(PyObject *module, PyObject *args)
{
    module_state *st = state_of_module(module);
    Py_buffer view;
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "y*s", &view, &name))
        return NULL;
    uint8_t *copy = malloc(view.len > 0 ? (size_t)view.len : 1);
    if (copy == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    memcpy(copy, view.buf, (size_t)view.len);
    const uint64_t size = (uint64_t)view.len;
    PyBuffer_Release(&view);
    ModelObject *m = model_new(st);
    if (m == NULL) {
        free(copy);
        return NULL;
    }
    fgq_error err;
    fgq_error_clear(&err);
    fgq_status s;
    Py_BEGIN_ALLOW_THREADS
    s = fgq_graph_runner_init_bytes(&m->r, copy, size, name, &err); /* takes copy */
    Py_END_ALLOW_THREADS
    if (s != FGQ_OK) {
        Py_DECREF(m);
        return raise_fgq(st, &err);
    }
    model_ready(m);
    return (PyObject *)m;
}

/* load_onnx(path, batch) -> Model: imported, optimized and lowered as `fgq convert`. */
static PyObject *py_load_onnx(PyObject *module, PyObject *args)
{
    module_state *st = state_of_module(module);
    PyObject *path = NULL;
    long long batch = 1;
    if (!PyArg_ParseTuple(args, "O&L", PyUnicode_FSConverter, &path, &batch))
        return NULL;
    if (batch < 1 || batch > INT32_MAX) {
        Py_DECREF(path);
        return raise_msg(st, FGQ_ERR_VALUE, "batch=%lld is not a positive integer", batch);
    }
    ModelObject *m = model_new(st);
    if (m == NULL) {
        Py_DECREF(path);
        return NULL;
    }
    fgq_error err;
    fgq_error_clear(&err);
    fgq_status s;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    fgq_graph *g = NULL;
    s = fgq_cli_load_onnx(p, (int64_t)batch, 1, &g, &err);
    if (s == FGQ_OK)
        s = fgq_graph_runner_init(&m->r, g, &err);
    fgq_graph_free(g);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (s != FGQ_OK) {
        Py_DECREF(m);
        return raise_fgq(st, &err);
    }
    model_ready(m);
    return (PyObject *)m;
}

/* onnx_inputs(path) -> {input name: dims}: the graph inputs fed at run time,
 * as the ONNX file declares them (symbolic dims bound to 1), read without
 * lowering the graph: quantize() tells batches from samples with it. */
static PyObject *py_onnx_inputs(PyObject *module, PyObject *args)
{
    module_state *st = state_of_module(module);
    PyObject *path = NULL;
    if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &path))
        return NULL;
    fgq_error err;
    fgq_error_clear(&err);
    fgq_graph *g = NULL;
    fgq_status s;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    s = fgq_onnx_load(p, NULL, &g, &err);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (s != FGQ_OK)
        return raise_fgq(st, &err);
    PyObject *d = PyDict_New();
    for (int32_t i = 0; d != NULL && i < g->n_inputs; i++) {
        const fgq_ir_tensor *t = &g->tensors[g->inputs[i]];
        PyObject *name = text_of(t->name, -1), *dims = shape_tuple(t->rank, t->dims);
        if (name == NULL || dims == NULL || PyDict_SetItem(d, name, dims) != 0)
            Py_CLEAR(d);
        Py_XDECREF(name);
        Py_XDECREF(dims);
    }
    fgq_graph_free(g);
    return d;
}

/* ---- quantize ----------------------------------------------------------------- */

typedef struct {
    PyObject *callback; /* callable(stage, done, total) or NULL */
    const char *stage;
    int failed;         /* the callback raised: later calls are skipped, the error is raised at the end */
    PyObject *exc_type, *exc, *exc_tb; /* what it raised (3.12+: exc only) */
} progress_ctx;

static void progress_call(progress_ctx *p, const char *stage, int64_t done, int64_t total)
{
    if (p->callback == NULL || p->failed)
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallFunction(p->callback, "NLL", text_of(stage, -1), (long long)done, (long long)total);
    if (r == NULL) {
        p->failed = 1;
#if PY_VERSION_HEX >= 0x030C0000
        p->exc = PyErr_GetRaisedException();
#else
        PyErr_Fetch(&p->exc_type, &p->exc, &p->exc_tb);
#endif
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
}

static void on_begin(void *user, const char *stage, int64_t total)
{
    progress_ctx *p = user;
    p->stage = stage;
    progress_call(p, stage, 0, total);
}

static void on_update(void *user, int64_t done, int64_t total)
{
    progress_ctx *p = user;
    progress_call(p, p->stage, done, total);
}

static void on_end(void *user)
{
    progress_ctx *p = user;
    progress_call(p, p->stage, -1, -1); /* done: the Python side closes its bar */
}

static PyObject *layers_list(const fgq_quant_result *res)
{
    PyObject *list = PyList_New(res->n_layers);
    for (int32_t L = 0; list != NULL && L < res->n_layers; L++) {
        const fgq_layer_report *r = &res->layers[L];
        PyObject *d = Py_BuildValue("{s:N,s:N,s:s,s:O,s:d,s:d}", "name", text_of(r->name, -1), "op", text_of(r->op, -1),
                                    "policy", r->policy, "quantized", r->quantized ? Py_True : Py_False, "act_sqnr_db",
                                    r->act_sqnr_db, "bits", r->bits);
        if (d == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyObject *w = r->has_weights ? PyFloat_FromDouble(r->weight_sqnr_db) : (Py_INCREF(Py_None), Py_None);
        int bad = w == NULL || PyDict_SetItemString(d, "weight_sqnr_db", w) != 0;
        Py_XDECREF(w);
        if (!bad && r->has_weights) {
            PyObject *extra = Py_BuildValue("{s:s,s:d,s:L,s:d,s:d}", "solver", r->solver, "solve_s", r->solve_ms / 1e3,
                                            "clipped_channels", (long long)r->clipped_rows, "out_sqnr_db",
                                            r->out_sqnr_db, "heldout_sqnr_db", r->heldout_sqnr_db);
            bad = extra == NULL || PyDict_Update(d, extra) != 0;
            Py_XDECREF(extra);
        }
        if (bad) {
            Py_DECREF(d);
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, L, d);
    }
    return list;
}

static int parse_float_list(PyObject *seq, float *out, int32_t max, int32_t *n, const char *what, module_state *st)
{
    *n = 0;
    if (seq == Py_None)
        return 1;
    PyObject *fast = PySequence_Fast(seq, "a list of numbers is needed");
    if (fast == NULL)
        return 0;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast);
    if (k > max) {
        Py_DECREF(fast);
        raise_msg(st, FGQ_ERR_VALUE, "%s: %zd values (at most %d)", what, k, (int)max);
        return 0;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        double v = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return 0;
        }
        out[i] = (float)v;
    }
    *n = (int32_t)k;
    Py_DECREF(fast);
    return 1;
}

/* The calibration set of fg from the buffers of quantize(): one (names[0]
 * NULL) for a one-input model, or one per input keyed by input name. */
static fgq_status calib_from_views(fgq_calib_set *cs, const fgq_graph *fg, const Py_buffer *views, char *const *names,
                                   int n, const fgq_preprocess *pre, fgq_error *err)
{
    memset(cs, 0, sizeof *cs);
    if (names[0] == NULL && fg->n_inputs != 1)
        return fgq_fail(err, FGQ_ERR_VALUE, "calib: the model has %d inputs: give a dict {input name: samples}",
                        (int)fg->n_inputs);
    fgq_status s = FGQ_OK;
    for (int v = 0; v < n && s == FGQ_OK; v++) {
        int32_t k = names[v] == NULL ? 0 : -1;
        for (int32_t i = 0; k < 0 && i < fg->n_inputs; i++)
            if (strcmp(fg->tensors[fg->inputs[i]].name, names[v]) == 0)
                k = i;
        if (k < 0) {
            s = fgq_fail(err, FGQ_ERR_VALUE, "calib: the model has no input '%s'", names[v]);
            break;
        }
        fgq_dataset *d = &cs->d[k];
        if (d->data != NULL) { /* names[] are distinct dict keys, but one input may still come twice */
            s = fgq_fail(err, FGQ_ERR_VALUE, "calib: input '%s' is given twice", fg->tensors[fg->inputs[k]].name);
            break;
        }
        d->rank = views[v].ndim;
        for (int a = 0; a < views[v].ndim; a++)
            d->dims[a] = views[v].shape[a];
        const int is_s64 = views[v].itemsize == 8; /* float32, or int64 (checked by the caller) */
        const Py_ssize_t numel = views[v].len / views[v].itemsize;
        d->src_dtype = is_s64 ? FGQ_SRC_S64 : FGQ_SRC_F32;
        d->file_samples = d->dims[0];
        snprintf(cs->source[k], sizeof cs->source[k], names[v] == NULL ? "calib" : "calib['%s']", names[v]);
        d->data = malloc(numel > 0 ? (size_t)numel * sizeof(float) : 1); /* fgq_data_prepare works in place */
        if (d->data == NULL) {
            s = fgq_fail(err, FGQ_ERR_NOMEM, "%s: out of memory for %zd values", cs->source[k], numel);
        } else if (!is_s64) {
            memcpy(d->data, views[v].buf, (size_t)views[v].len);
        } else { /* as fgq_data_load reads an int64 .npy: the values float32 rounds are recorded */
            const int64_t *iv = views[v].buf;
            for (Py_ssize_t i = 0; i < numel; i++) {
                const float f = (float)iv[i];
                d->data[i] = f;
                if ((!(f >= -9223372036854775808.0f && f < 9223372036854775808.0f) || (int64_t)f != iv[i]) &&
                    d->inexact_count++ == 0) {
                    d->inexact_index = i;
                    d->inexact_value = iv[i];
                }
            }
        }
    }
    for (int32_t k = 0; k < fg->n_inputs && s == FGQ_OK; k++)
        if (cs->d[k].data == NULL)
            s = fgq_fail(err, FGQ_ERR_VALUE, "calib: no samples for input '%s'", fg->tensors[fg->inputs[k]].name);
    if (s == FGQ_OK)
        s = fgq_calib_set_fit(cs, fg, NULL, pre, err);
    return s;
}

/* quantize(onnx_path, calib, flags, scale, mean, std, threads, progress)
 *   -> (Model, layers, budget or None, equalized pairs)
 * calib: None, a C-contiguous float32 buffer [N, ...] of samples, or a dict
 * {input name: such a buffer} (any number of inputs); flags:
 * the `fgq quantize` flags as a list of strings (--weights, --acts, ...;
 * "--calib" with any value when calib is given). */
static PyObject *py_quantize(PyObject *module, PyObject *args)
{
    module_state *st = state_of_module(module);
    PyObject *path = NULL, *calib = NULL, *flags = NULL, *mean = NULL, *stdv = NULL, *progress = NULL;
    double scale = 0.0;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "O&OOdOOiO", PyUnicode_FSConverter, &path, &calib, &flags, &scale, &mean, &stdv,
                          &threads, &progress))
        return NULL;
    PyObject *result = NULL, *fast = NULL;
    Py_buffer views[FGQ_SAMPLES_MAX_INPUTS];
    char *view_name[FGQ_SAMPLES_MAX_INPUTS] = {0};
    int n_views = 0;
    char **argv = NULL;
    Py_ssize_t argc = 0;
    fgq_quant_flags qf;
    int have_qf = 0;
    fgq_preprocess pre;
    fgq_preprocess_default(&pre);
    pre.scale = (float)scale;
    fgq_error err;
    fgq_error_clear(&err);
    progress_ctx pc = {progress != Py_None ? progress : NULL, NULL, 0, NULL, NULL, NULL};

    if (threads < 1 || threads > FGQ_THREADPOOL_MAX_THREADS) {
        raise_msg(st, FGQ_ERR_VALUE, "threads=%d is not a count in 1..%d", threads, FGQ_THREADPOOL_MAX_THREADS);
        goto out;
    }
    if (!parse_float_list(mean, pre.mean, FGQ_PRE_MAX_CH, &pre.n_mean, "mean", st) ||
        !parse_float_list(stdv, pre.std, FGQ_PRE_MAX_CH, &pre.n_std, "std", st))
        goto out;
    for (int32_t c = 0; c < pre.n_std; c++)
        if (pre.std[c] == 0.0f) {
            raise_msg(st, FGQ_ERR_VALUE, "std: a value is 0");
            goto out;
        }
    /* the flags, through the CLI's own parser (it keeps pointers: argv lives until the end) */
    fast = PySequence_Fast(flags, "flags must be a list of strings");
    if (fast == NULL)
        goto out;
    argc = PySequence_Fast_GET_SIZE(fast) + 1;
    argv = PyMem_Calloc((size_t)argc + 1, sizeof *argv);
    if (argv == NULL || (argv[0] = strdup("quantize")) == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t i = 1; i < argc; i++) {
        const char *s = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fast, i - 1));
        if (s == NULL)
            goto out;
        if ((argv[i] = strdup(s)) == NULL) {
            PyErr_NoMemory();
            goto out;
        }
    }
    if (!fgq_quant_flags_init(&qf, (int)argc)) {
        PyErr_NoMemory();
        goto out;
    }
    have_qf = 1;
    for (int i = 1; i + 1 < (int)argc; i++) { /* --layer values first: the parser would print its reason */
        if (strcmp(argv[i], "--layer") != 0)
            continue;
        const char *v = argv[++i], *eq = strrchr(v, '=');
        fgq_policy pol;
        if (eq == NULL || eq == v) {
            raise_msg(st, FGQ_ERR_VALUE, "layers: '%s' is not NODE=POLICY", v);
            goto out;
        }
        if (fgq_policy_parse(eq + 1, &pol, &err) != FGQ_OK) {
            raise_fgq(st, &err);
            goto out;
        }
    }
    for (int i = 1; i < (int)argc; i++) {
        int rc = 0;
        const char *a = argv[i];
        int took = fgq_quant_flags_take(&qf, "quantize", (int)argc, argv, &i, &rc);
        if (took == 0) {
            raise_msg(st, FGQ_ERR_VALUE, "unknown quantize option '%s'", a);
            goto out;
        }
        if (took < 0) { /* a flag without its value (the parser printed it on stderr) */
            raise_msg(st, FGQ_ERR_VALUE, "quantize option '%s' needs a value", a);
            goto out;
        }
    }
    fgq_quant_config cfg;
    fgq_budget budget;
    int has_budget = 0;
    if (fgq_quant_flags_config(&qf, &cfg, &err) != FGQ_OK ||
        fgq_quant_flags_budget(&qf, &has_budget, &budget, &err) != FGQ_OK) {
        raise_fgq(st, &err);
        goto out;
    }
    const int dynamic = cfg.acts == FGQ_ACTS_DYNAMIC;
    if ((calib == Py_None) != (qf.calib == NULL)) {
        raise_msg(st, FGQ_ERR_VALUE, "calibration samples and the --calib flag go together");
        goto out;
    }
    if (calib == Py_None && !dynamic) {
        raise_msg(st, FGQ_ERR_VALUE, "calib is required (except with acts='dynamic')");
        goto out;
    }
    fgq_calib_set cs;
    memset(&cs, 0, sizeof cs);
    if (calib != Py_None) { /* the buffers are held (and read without the GIL) until the end */
        Py_ssize_t pos = 0;
        PyObject *key = NULL, *value = calib;
        const int is_dict = PyDict_Check(calib);
        while (is_dict ? PyDict_Next(calib, &pos, &key, &value) : n_views == 0) {
            if (n_views >= FGQ_SAMPLES_MAX_INPUTS) {
                raise_msg(st, FGQ_ERR_VALUE, "calib: at most %d inputs", FGQ_SAMPLES_MAX_INPUTS);
                goto out;
            }
            Py_ssize_t klen = 0;
            if (is_dict && !PyUnicode_Check(key)) {
                raise_msg(st, FGQ_ERR_VALUE, "calib: the keys are input names (str)");
                goto out;
            }
            const char *kname = is_dict ? PyUnicode_AsUTF8AndSize(key, &klen) : NULL;
            if (is_dict && kname == NULL)
                goto out;
            if (kname != NULL && strlen(kname) != (size_t)klen) { /* C sees it cut at the NUL: another name */
                raise_msg(st, FGQ_ERR_VALUE, "calib: the key '%s\\0...' holds a NUL character; no input name does",
                          kname);
                goto out;
            }
            if (kname != NULL && (view_name[n_views] = strdup(kname)) == NULL) {
                PyErr_NoMemory();
                goto out;
            }
            if (PyObject_GetBuffer(value, &views[n_views], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
                free(view_name[n_views]);
                view_name[n_views] = NULL;
                goto out;
            }
            const Py_buffer *v = &views[n_views++];
            if (!(format_matches(v->format, v->itemsize, FGQ_DT_F32) ||
                  (kname != NULL && format_matches(v->format, v->itemsize, FGQ_DT_S64))) ||
                v->ndim < 1 || v->ndim > FGQ_MAX_DIMS) {
                raise_msg(st, FGQ_ERR_VALUE, "calib%s%s%s: float32 samples [N, ...] (in a dict also int64) of at most %d "
                          "axes are needed",
                          kname ? "['" : "", kname ? kname : "", kname ? "']" : "", FGQ_MAX_DIMS);
                goto out;
            }
        }
        if (n_views == 0) {
            raise_msg(st, FGQ_ERR_VALUE, "calib: an empty dict");
            goto out;
        }
    }

    fgq_graph *fg = NULL;
    fgq_quant_result res;
    memset(&res, 0, sizeof res);
    fgq_threadpool *pool = NULL;
    uint8_t *bytes = NULL;
    uint64_t size = 0;
    fgq_status s = FGQ_OK;
    const char *model_path = PyBytes_AS_STRING(path);
    fgq_stage_progress sp = {on_begin, on_update, on_end, &pc};
    Py_BEGIN_ALLOW_THREADS
    if (threads > 1 && fgq_threadpool_create(threads, &pool, &err) == FGQ_OK) /* the solver's threads */
        cfg.parallel = fgq_threadpool_parallel(pool);
    fgq_error_clear(&err);
    s = fgq_cli_load_onnx(model_path, 1, 1, &fg, &err);
    if (s == FGQ_OK)
        s = fgq_quantize_check_input(fg, model_path, &pre, &err);
    if (s == FGQ_OK)
        s = n_views > 0 ? calib_from_views(&cs, fg, views, view_name, n_views, &pre, &err)
                        : fgq_calib_set_load(&cs, fg, NULL, 0, NULL, &pre, &err);
    if (s == FGQ_OK)
        s = fgq_quant_pipeline(fg, &cs.samples, &cfg, has_budget ? &budget : NULL, threads, FGQ_MEASURE_SAMPLES, &sp, &res, &err);
    if (s == FGQ_OK) {
        fgq_model_preprocess meta;
        fgq_quantize_meta(&pre, &meta);
        char *recipe = fgq_quantize_recipe(&qf, cs.samples.n, &res);
        s = recipe == NULL ? fgq_fail(&err, FGQ_ERR_NOMEM, "out of memory")
                           : fgq_write_model_recipe(res.qg, &meta, recipe, &bytes, &size, &err);
        free(recipe);
    }
    Py_END_ALLOW_THREADS
    fgq_calib_set_free(&cs);
    if (s == FGQ_OK && pc.failed) {
#if PY_VERSION_HEX >= 0x030C0000
        PyErr_SetRaisedException(pc.exc);
#else
        PyErr_Restore(pc.exc_type, pc.exc, pc.exc_tb);
#endif
        pc.exc_type = pc.exc = pc.exc_tb = NULL;
    } else if (s != FGQ_OK) {
        raise_fgq(st, &err);
    } else {
        ModelObject *m = model_new(st);
        if (m != NULL) {
            s = fgq_graph_runner_init_bytes(&m->r, bytes, size, "quantized model", &err); /* takes bytes */
            bytes = NULL;
            if (s != FGQ_OK) {
                Py_DECREF(m);
                raise_fgq(st, &err);
            } else {
                model_ready(m);
                PyObject *layers = layers_list(&res);
                PyObject *bud = Py_None;
                Py_INCREF(bud);
                if (res.has_budget) {
                    Py_DECREF(bud);
                    bud = Py_BuildValue("{s:d,s:d,s:L,s:L,s:d,s:s}", "limit_bits", res.budget.limit_bits, "bits",
                                        res.budget.bits, "bytes", (long long)res.budget.bytes, "weights",
                                        (long long)res.budget.weights, "predicted_noise", res.budget.noise,
                                        "metric", fgq_budget_metric_name(res.budget.metric));
                }
                if (layers != NULL && bud != NULL)
                    result = Py_BuildValue("(NNNi)", (PyObject *)m, layers, bud, (int)res.equalized_pairs);
                else {
                    Py_DECREF(m);
                    Py_XDECREF(layers);
                    Py_XDECREF(bud);
                }
            }
        }
    }
    free(bytes);
    fgq_quant_result_free(&res);
    fgq_graph_free(fg);
    fgq_threadpool_destroy(pool);
out:
    Py_XDECREF(pc.exc_type);
    Py_XDECREF(pc.exc);
    Py_XDECREF(pc.exc_tb);
    for (int v = 0; v < n_views; v++) {
        PyBuffer_Release(&views[v]);
        free(view_name[v]);
    }
    if (have_qf)
        fgq_quant_flags_free(&qf);
    for (Py_ssize_t i = 0; argv != NULL && i < argc; i++)
        free(argv[i]);
    PyMem_Free(argv);
    Py_XDECREF(fast);
    Py_DECREF(path);
    return result;
}

/* ---- CLI subcommands in a child process ------------------------------------------ */

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command k_commands[] = {
    {"inspect", fgq_cmd_inspect}, {"weights", fgq_cmd_weights}, {"quantize", fgq_cmd_quantize},
    {"convert", fgq_cmd_convert}, {"run", fgq_cmd_run},         {"eval", fgq_cmd_eval},
    {"export", fgq_cmd_export},   {"bench", fgq_cmd_bench},   {"report", fgq_cmd_report},
};

typedef struct {
    char *data;
    size_t len, cap;
} growbuf;

static int growbuf_read(growbuf *b, int fd)
{
    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    ssize_t got = read(fd, b->data + b->len, b->cap - b->len);
    if (got > 0)
        b->len += (size_t)got;
    return got > 0 ? 1 : (got == 0 || errno != EINTR ? 0 : 1);
}

/* cli(argv) -> (exit code, stdout bytes, stderr bytes): argv[0] names the
 * subcommand (as after `fgq`). It runs in a forked child so its printing
 * stays out of this process's streams and its exit code is the CLI's. */
static PyObject *py_cli(PyObject *module, PyObject *args)
{
    module_state *st = state_of_module(module);
    PyObject *list = NULL;
    if (!PyArg_ParseTuple(args, "O", &list))
        return NULL;
    PyObject *fast = PySequence_Fast(list, "argv must be a list of strings");
    if (fast == NULL)
        return NULL;
    const Py_ssize_t argc = PySequence_Fast_GET_SIZE(fast);
    PyObject *result = NULL;
    char **argv = PyMem_Calloc((size_t)argc + 1, sizeof *argv);
    PyObject **enc = PyMem_Calloc((size_t)argc + 1, sizeof *enc);
    growbuf out = {NULL, 0, 0}, errb = {NULL, 0, 0};
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (argv == NULL || enc == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < argc; i++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &enc[i]))
            goto done;
        argv[i] = PyBytes_AS_STRING(enc[i]);
    }
    const command *cmd = NULL;
    for (size_t k = 0; argc > 0 && k < sizeof k_commands / sizeof k_commands[0]; k++)
        if (strcmp(argv[0], k_commands[k].name) == 0)
            cmd = &k_commands[k];
    if (cmd == NULL) {
        raise_msg(st, FGQ_ERR_VALUE, "unknown fgq command '%s'", argc > 0 ? argv[0] : "");
        goto done;
    }
    if (pipe(po) != 0 || pipe(pe) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    for (int k = 0; k < 2; k++) { /* a process forked elsewhere must not hold our pipe ends open */
        fcntl(po[k], F_SETFD, FD_CLOEXEC);
        fcntl(pe[k], F_SETFD, FD_CLOEXEC);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    if (pid == 0) { /* child: C only, then _exit (no Python, no atexit handlers) */
        signal(SIGINT, SIG_DFL); /* Ctrl-C and kill stop the child, not Python's flag in it */
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        int rc = cmd->run((int)argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    int status = 0, oom = 0, interrupted = 0;
    Py_BEGIN_ALLOW_THREADS
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno != EINTR)
                break;
            Py_BLOCK_THREADS
            interrupted = PyErr_CheckSignals() != 0; /* Ctrl-C: KeyboardInterrupt now, the child stopped */
            Py_UNBLOCK_THREADS
            if (interrupted) {
                kill(pid, SIGTERM);
                break;
            }
            continue;
        }
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int r = growbuf_read(k == 0 ? &out : &errb, fds[k].fd);
            if (r < 0) {
                oom = 1;
                r = 0;
            }
            if (r == 0) {
                fds[k].fd = -1;
                open_fds--;
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    Py_END_ALLOW_THREADS
    if (interrupted) /* the signal's exception is set */
        goto done;
    if (oom) {
        PyErr_NoMemory();
        goto done;
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    result = Py_BuildValue("(iy#y#)", rc, out.data ? out.data : "", (Py_ssize_t)out.len, errb.data ? errb.data : "",
                           (Py_ssize_t)errb.len);
done:
    for (int k = 0; k < 2; k++) {
        if (po[k] >= 0)
            close(po[k]);
        if (pe[k] >= 0)
            close(pe[k]);
    }
    free(out.data);
    free(errb.data);
    for (Py_ssize_t i = 0; enc != NULL && i < argc; i++)
        Py_XDECREF(enc[i]);
    PyMem_Free(enc);
    PyMem_Free(argv);
    Py_DECREF(fast);
    return result;
}

/* ---- module ----------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"load_fgq", py_load_fgq, METH_VARARGS, "load_fgq(bytes, name) -> Model"},
    {"load_onnx", py_load_onnx, METH_VARARGS, "load_onnx(path, batch) -> Model"},
    {"onnx_inputs", py_onnx_inputs, METH_VARARGS, "onnx_inputs(path) -> {input name: dims} as declared"},
    {"quantize", py_quantize, METH_VARARGS,
     "quantize(onnx_path, calib, flags, scale, mean, std, threads, progress) -> (Model, layers, budget, pairs)"},
    {"cli", py_cli, METH_VARARGS, "cli(argv) -> (exit code, stdout, stderr): an fgq subcommand in a child process"},
    {NULL, NULL, 0, NULL},
};

static int module_traverse(PyObject *m, visitproc visit, void *arg)
{
    module_state *st = state_of_module(m);
    Py_VISIT(st->error);
    Py_VISIT(st->model);
    return 0;
}

static int module_clear(PyObject *m)
{
    module_state *st = state_of_module(m);
    Py_CLEAR(st->error);
    Py_CLEAR(st->model);
    return 0;
}

static void module_free(void *m)
{
    module_clear((PyObject *)m);
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "fgq._fgq",
    "The C library behind the fgq package (see fgq/__init__.py).",
    sizeof(module_state),
    module_methods,
    NULL,
    module_traverse,
    module_clear,
    module_free,
};

PyMODINIT_FUNC PyInit__fgq(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    module_state *st = state_of_module(m);
    st->error = PyErr_NewExceptionWithDoc(
        "fgq.FgqError",
        "An error reported by the fgq C library: the message names the file, node or tensor and the reason; "
        "`status` is the library's status (\"io error\", \"format error\", \"shape error\", \"value error\", "
        "\"unsupported\", \"out of memory\").",
        PyExc_ValueError, NULL);
    st->model = (PyTypeObject *)PyType_FromModuleAndSpec(m, &model_spec, NULL);
    PyObject *magic = PyBytes_FromStringAndSize(FGQ_FILE_MAGIC, 8);
    if (st->error == NULL || st->model == NULL || PyModule_AddObjectRef(m, "FgqError", st->error) != 0 ||
        PyModule_AddObjectRef(m, "Model", (PyObject *)st->model) != 0 ||
        PyModule_AddStringConstant(m, "__version__", FGQ_VERSION_STRING) != 0 ||
        magic == NULL || PyModule_AddObjectRef(m, "FILE_MAGIC", magic) != 0 ||
        PyModule_AddIntConstant(m, "default_threads", fgq_threadpool_default_threads()) != 0) {
        Py_XDECREF(magic);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(magic);
    return m;
}
