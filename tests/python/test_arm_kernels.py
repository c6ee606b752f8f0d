"""The Cortex-M DSP kernels against their reference twins, on emulated cores.

targets/cortex-m/test_kernels.c is built for the Cortex-M4 (mps2-an386) and
Cortex-M55 (mps3-an547) boards with Debian's arm-none-eabi-gcc and run under
qemu-system-arm; it compares every optimized QGEMM row of that build (the
__ARM_FEATURE_DSP rows of runtime/ops/qgemm_dispatch.c) with fgq_qgemm_dot_ref
on random and limit shapes and reports through semihosting. Oracle: the
reference kernel, integer for integer. Skipped, saying why, when the
toolchain or QEMU is missing."""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FW = os.path.join(ROOT, "targets", "cortex-m")
BOARDS = {"m4": "mps2-an386", "m55": "mps3-an547"}
# the rows a DSP build must hold (qgemm_dispatch.c)
DSP_ROWS = ["qgemm_u8s8_1x2c4__armdsp", "qgemm_u8t2_1x2c4__armdsp", "qconv_dw_u8__armdsp"]
MVE_ROWS = ["qgemm_u8s8_1x4c16__mve"]
SANITIZED = os.environ.get("FGQ_SANITIZED") == "1"


@pytest.mark.skipif(SANITIZED, reason="the firmware is not built with sanitizers: run once, in the Release build")
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_arm_dsp_kernels_match_reference(board, tmp_path):
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cmake") if shutil.which(t) is None]
    if missing:
        pytest.skip("%s not installed (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
                    % ", ".join(missing))
    b = str(tmp_path / ("build-" + board))
    for argv in (["cmake", "-S", FW, "-B", b, "--toolchain", os.path.join(FW, "arm-none-eabi.cmake"),
                  "-DFGQ_BOARD=" + BOARDS[board]],
                 ["cmake", "--build", b, "--target", "fgq_kernel_test", "fgq_kernel_test_fallback",
                  "-j%d" % min(2, os.cpu_count() or 1)]):
        r = subprocess.run(argv, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # fgq_kernel_test_fallback: the same rows built as for a model without the rare layouts
    # (op_select.h: FGQ_QW_ON_S8_GROUPS, FGQ_QW_ON_T2_SPLIT, FGQ_QX_ON_S8 0), whose code it lacks: those
    # cases take the fallbacks (`dot` row by row, the reference), which must give the same sums.
    for elf in ("fgq_kernel_test", "fgq_kernel_test_fallback"):
        r = subprocess.run(["qemu-system-arm", "-M", BOARDS[board], "-nographic", "-monitor", "none", "-serial",
                            "none", "-semihosting-config", "enable=on,target=native", "-kernel",
                            os.path.join(b, elf + ".elf")], capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr  # QEMU 7 writes the semihosting console to stderr
        assert r.returncode == 0 and re.search(r"fgq-kernel-test: ok rows=\d+ cases=\d+", out), (elf, out)
        assert "fgq-kernel-test: index width: 32-bit fgq_idx, tensors up to 67108864 elements" in out, (elf, out)
        # the Helium row where the core has MVE (the M55): only plain s8 rows of K >= 16 fit it, about a
        # quarter of the random cases
        for name in DSP_ROWS + (MVE_ROWS if board == "m55" else []):
            m = re.search(r"fgq-kernel-test: %s: (\d+) cases, 0 mismatches" % re.escape(name), out)
            assert m and int(m.group(1)) >= (500 if name in MVE_ROWS else 3000), (elf, out)
        if shutil.which("arm-none-eabi-nm") is not None:
            syms = subprocess.run(["arm-none-eabi-nm", os.path.join(b, elf + ".elf")], capture_output=True,
                                  text=True).stdout
            for fn in ("rows_any", "block_any"):  # the rare layouts' loops
                assert (re.search(r" t %s$" % fn, syms, re.M) is not None) == (elf == "fgq_kernel_test"), (elf, fn)
