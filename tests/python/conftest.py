"""Shared pytest fixtures for fgq's Python tests.

Environment: FGQ_BIN (path of the fgq binary; default <repo>/build/fgq),
FGQ_BUILD (build directory holding test helpers; default dirname of FGQ_BIN),
FGQ_SHARED (models and data; default <repo>/../shared).
"""
import os
import pathlib
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 120


def _fgq_bin():
    return pathlib.Path(os.environ.get("FGQ_BIN", REPO_ROOT / "build" / "fgq"))


def _build_dir():
    env = os.environ.get("FGQ_BUILD")
    return pathlib.Path(env) if env else _fgq_bin().parent


def _shared_dir():
    return pathlib.Path(os.environ.get("FGQ_SHARED", REPO_ROOT.parent / "shared"))


def run_fgq(*args, timeout=DEFAULT_TIMEOUT, env=None, check=False, **kw):
    """Runs the fgq binary with args (converted to str); returns CompletedProcess
    with text stdout/stderr. `env` entries are added to the current environment."""
    full_env = dict(os.environ)
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    return subprocess.run([str(_fgq_bin())] + [str(a) for a in args], capture_output=True, text=True, errors="replace",
                          timeout=timeout, env=full_env, check=check, **kw)


def run_tool(name, *args, timeout=DEFAULT_TIMEOUT, **kw):
    """Runs a helper program built from tests/tool_<name>.c in the build dir."""
    exe = _build_dir() / name
    if not exe.exists():
        pytest.fail(f"{exe} not built")
    return subprocess.run([str(exe)] + [str(a) for a in args], capture_output=True, text=True, errors="replace",
                          timeout=timeout, **kw)


@pytest.fixture(scope="session")
def fgq_bin():
    p = _fgq_bin()
    if not p.exists():
        pytest.fail(f"fgq binary not found at {p} (set FGQ_BIN)")
    return p


@pytest.fixture(scope="session")
def build_dir():
    return _build_dir()


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir():
    d = _shared_dir()
    if not d.exists():
        pytest.fail(f"shared dir {d} not found (set FGQ_SHARED)")
    return d
