"""`cmake --install`: the runtime and tools libraries, headers, pkg-config and CMake package files.

Installs the current build to a temporary prefix, builds examples/c-api/run_model.c against the
INSTALLED runtime twice — with pkg-config (fgq-runtime.pc, its Makefile) and with find_package(fgq)
(fgq::runtime, its CMakeLists.txt) — and runs both on mnist-8, float and quantized. Oracle: `fgq run`
on the same input, every output value equal as float32. A small program against fgq.pc / fgq::tools
(fgq_policy_parse from the tools' headers) shows the tools library links from the prefix too.
Skipped under FGQ_SANITIZED=1 (sanitized libraries need the sanitizer runtime in every program).
"""
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from conftest import REPO_ROOT, run_fgq
from onnx import numpy_helper

MODEL = REPO_ROOT / "examples" / "mnist-8" / "model.onnx"
IMAGES = REPO_ROOT / "examples" / "mnist" / "t10k-images-idx3-ubyte.gz"
EXAMPLE = REPO_ROOT / "examples" / "c-api"
TOOLS_C = r"""
#include "quant/format/policy.h"
#include "fgq_runtime.h"
#include <stdio.h>
int main(void)
{
    fgq_policy p;
    fgq_error err;
    fgq_error_clear(&err);
    if (fgq_policy_parse("ternary:g4", &p, &err) != FGQ_OK)
        return 1;
    char buf[64];
    fgq_policy_format(&p, buf, sizeof buf);
    printf("%s\n", buf);
    return 0;
}
"""
TOOLS_CMAKE = """cmake_minimum_required(VERSION 3.18)
project(tools_check LANGUAGES C)
find_package(fgq REQUIRED COMPONENTS tools)
add_executable(tools_check tools_check.c)
target_link_libraries(tools_check PRIVATE fgq::tools)
"""


def sh(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def prefix(tmp_path_factory, build_dir):
    if os.environ.get("FGQ_SANITIZED", "0") == "1":
        pytest.skip("sanitized libraries: the Release run tests the installed files")
    for tool in ("cmake", "pkg-config", "make"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    p = tmp_path_factory.mktemp("prefix")
    sh(["cmake", "--install", build_dir, "--prefix", p])
    return p


def lib_dir(prefix):
    (pc,) = list(prefix.glob("lib*/**/pkgconfig/fgq-runtime.pc")) or list(prefix.glob("lib*/pkgconfig/fgq-runtime.pc"))
    return pc.parent.parent


def test_installed_files(prefix):
    lib = lib_dir(prefix)
    for f in ("libfgq_runtime.a", "libfgq_tools.a", "libfgq_onnx_pb.a", "pkgconfig/fgq.pc",
              "pkgconfig/fgq-runtime.pc", "cmake/fgq/fgqConfig.cmake", "cmake/fgq/fgqConfigVersion.cmake",
              "cmake/fgq/fgqTargets.cmake"):
        assert (lib / f).exists(), f
    inc = prefix / "include" / "fgq"
    for h in ("fgq_runtime.h", "fgq_types.h", "fgq_format.h", "fgq_ops.h", "fgq_target.h", "tools/graph.h",
              "tools/quant/pipeline.h", "tools/import/onnx_import.h", "tools/export/fgq_writer.h"):
        assert (inc / h).exists(), h
    assert not (inc / "plan.h").exists()  # the runtime's insides stay inside
    env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"))
    libs = sh(["pkg-config", "--libs", "fgq-runtime"], env=env).stdout.split()
    assert libs[-2:] == ["-lfgq_runtime", "-lm"], libs  # the runtime needs libm only
    assert sh(["pkg-config", "--modversion", "fgq"], env=env).stdout.strip() == "0.1.0"
    assert (prefix / "bin" / "fgq").exists()


@pytest.fixture(scope="module")
def programs(prefix, tmp_path_factory):
    """run_model built twice against the installed runtime, and the tools check twice."""
    d = tmp_path_factory.mktemp("example")
    lib = lib_dir(prefix)
    env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"))
    flags = "-O2 -std=c11 -Wall -Wextra -Werror"
    src = d / "pc"
    shutil.copytree(EXAMPLE, src)
    sh(["make", "-C", src, f"CFLAGS={flags}"], env=env)
    sh(["cmake", "-S", EXAMPLE, "-B", d / "cm", f"-DCMAKE_PREFIX_PATH={prefix}", f"-DCMAKE_C_FLAGS={flags}",
        "-DCMAKE_BUILD_TYPE=Release"])
    sh(["cmake", "--build", d / "cm"])
    tools = d / "tools"
    tools.mkdir()
    (tools / "tools_check.c").write_text(TOOLS_C)
    (tools / "CMakeLists.txt").write_text(TOOLS_CMAKE)
    pcflags = sh(["pkg-config", "--cflags", "--libs", "fgq"], env=env).stdout.split()
    sh(["cc", "-std=c11", "-Wall", "-Werror", "-o", tools / "by_pc", tools / "tools_check.c", *pcflags])
    sh(["cmake", "-S", tools, "-B", tools / "cm", f"-DCMAKE_PREFIX_PATH={prefix}"])
    sh(["cmake", "--build", tools / "cm"])
    return {"run_model": [src / "run_model", d / "cm" / "run_model"],
            "tools": [tools / "by_pc", tools / "cm" / "tools_check"], "dir": d}


def test_tools_library_links_from_the_prefix(programs):
    for exe in programs["tools"]:
        assert sh([exe]).stdout.strip() == "ternary:g4:exact", exe


@pytest.mark.parametrize("kind", ["float", "ternary"])
def test_example_runs_like_fgq_run(programs, kind, tmp_path):
    model = tmp_path / f"{kind}.fgq"
    if kind == "float":
        p = run_fgq("convert", MODEL, "-o", model)
    else:
        p = run_fgq("quantize", MODEL, "--calib", IMAGES, "--calib-samples", "0:100", "--weights", "ternary:g4",
                    "-o", model)
    assert p.returncode == 0, p.stderr
    for i in range(3):
        t = onnx.TensorProto()
        t.ParseFromString((REPO_ROOT / "examples" / "mnist-8" / f"test_data_set_{i}" / "input_0.pb").read_bytes())
        x = numpy_helper.to_array(t).astype(np.float32)
        raw, npy, out = tmp_path / "x.raw", tmp_path / "x.npy", tmp_path / "y.npy"
        x.tofile(raw)
        np.save(npy, x)
        p = run_fgq("run", model, "--input", npy, "-o", out)
        assert p.returncode == 0, p.stderr
        want = np.load(out).astype(np.float32).ravel()
        for exe in programs["run_model"]:
            got = np.array(sh([exe, model, raw]).stdout.split(), dtype=np.float64).astype(np.float32)
            assert got.tobytes() == want.tobytes(), (exe, i, got, want)


def test_example_refuses_a_bad_input(programs, tmp_path):
    bad = tmp_path / "x.raw"
    bad.write_bytes(b"\0" * 12)
    model = tmp_path / "m.fgq"
    assert run_fgq("convert", MODEL, "-o", model).returncode == 0
    p = subprocess.run([str(programs["run_model"][0]), str(model), str(bad)], capture_output=True, text=True)
    assert p.returncode == 2 and "12 bytes" in p.stderr
    p = subprocess.run([str(programs["run_model"][0]), str(bad), str(bad)], capture_output=True, text=True)
    assert p.returncode == 2 and str(bad) in p.stderr
