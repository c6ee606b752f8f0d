"""The AArch64 SDOT kernel rows against their reference twins, on emulated cores.

scripts/test_aarch64.sh cross-builds targets/aarch64 (the runtime, the kernel
twin tests tests/test_qgemm_kernels.c and tests/test_qconv_kernels.c, and
examples/c-api/run_model.c) with Debian's gcc-aarch64-linux-gnu and runs them
under qemu-aarch64: -cpu max (dotprod and I8MM: AUTO must pick the
qgemm_*__neoni8mm rows; they and the qgemm_*__neondot rows integer for integer
equal to fgq_qgemm_dot_ref on random and limit shapes), -cpu cortex-a76
(dotprod alone: the SDOT rows) and -cpu cortex-a53 (no dotprod: AUTO must pick
the reference rows). Then mnist-8 quantized by this build's `fgq quantize`
(s8, ternary:g4) runs on the three cores, its printed outputs byte for byte
those of the x86 runtime, and the arena the AArch64 runtime sizes for it is
the one `fgq export --c --target aarch64` writes on x86.
Oracle: the reference kernels and the x86 runtime. A quarter of the kernel
tests' random cases (the emulation is ~10x slower; the full count:
scripts/test_aarch64.sh). Skipped, saying why, when the cross compiler or
QEMU is missing."""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FGQ = os.environ.get("FGQ_BIN", os.path.join(ROOT, "build", "fgq"))
BUILD = os.environ.get("FGQ_BUILD", os.path.join(ROOT, "build"))
SANITIZED = os.environ.get("FGQ_SANITIZED") == "1"


@pytest.mark.skipif(SANITIZED, reason="the cross build has no sanitizers: run once, in the Release build")
def test_aarch64_kernels_match_reference():
    missing = [t for t in ("aarch64-linux-gnu-gcc", "qemu-aarch64", "cmake") if shutil.which(t) is None]
    if missing:
        pytest.skip("%s not installed (Debian: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
                    % ", ".join(missing))
    # kept in the build folder: a rerun rebuilds only what changed
    r = subprocess.run([os.path.join(ROOT, "scripts", "test_aarch64.sh"), "--build", os.path.join(BUILD, "aarch64"),
                        "--fgq", FGQ, "--percent", "25"], capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and out.rstrip().endswith("test_aarch64: OK"), out[-6000:]
    sdot = ("qgemm_u8s8_1x4c16__neondot", "qgemm_u8t2_1x4c16__neondot")
    i8mm = ("qgemm_u8s8_2x4c8__neoni8mm", "qgemm_u8t2_2x4c8__neoni8mm")
    for cpu, rows in (("max", sdot + i8mm), ("cortex-a76", sdot)):
        for row in rows:
            m = re.search(r"\[%s test_qgemm_kernels\]\s+%s: (\d+) random cases" % (cpu, row), out)
            assert m and int(m.group(1)) >= 250, out
        assert re.search(r"\[%s test_qconv_kernels\]\s+\d+ cases:" % cpu, out), out
    assert "[max test_qgemm_kernels]   AUTO runs: s8 %s, t2 %s" % i8mm in out
    assert "[cortex-a76 test_qgemm_kernels]   AUTO runs: s8 %s, t2 %s" % sdot in out
    assert "[cortex-a53 test_qgemm_kernels]   AUTO runs: s8 ref, t2 ref" in out
    for policy in ("s8", "ternary:g4"):
        assert re.search(r"\[arena_size\] mnist-8 %s: arena=\d+ scratch=\d+, as fgq export --target aarch64 wrote"
                         % policy, out), out
    for cpu in ("max", "cortex-a76", "cortex-a53"):
        for policy in ("s8", "ternary:g4"):
            assert "[%s run_model] mnist-8 %s: 10 outputs identical to x86" % (cpu, policy) in out, out
