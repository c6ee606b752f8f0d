#!/usr/bin/env bash
# scripts/test_aarch64.sh — the AArch64 kernel rows against their reference
# twins, on emulated cores (docs/device.md, "AArch64").
#
# 1. Cross-builds targets/aarch64 (the runtime, the kernel twin tests
#    tests/test_qgemm_kernels.c and tests/test_qconv_kernels.c, and
#    examples/c-api/run_model.c) with Debian's gcc-aarch64-linux-gnu, static.
# 2. Runs the kernel tests under qemu-aarch64 -cpu max (dotprod and I8MM: AUTO
#    must pick the I8MM rows, and they and the SDOT rows must equal the
#    reference on every case), -cpu cortex-a76 (dotprod without I8MM: the SDOT
#    rows) and -cpu cortex-a53 (ARMv8.0, no dotprod: AUTO must pick the
#    reference rows, which must pass).
# 3. With an x86 `fgq` (build/fgq, or --fgq PATH): quantizes mnist-8 with s8
#    and ternary:g4 weights, runs run_model on one MNIST image on the three
#    emulated cores and with the x86 runtime (the same example built against
#    build/libfgq_runtime.a), and compares the printed outputs (%.9g: every
#    float32 bit) byte for byte; and the arena and scratch the AArch64 runtime
#    sizes for each model (targets/aarch64/arena_size.c) must be the ones
#    `fgq export --c --target aarch64` writes on x86.
#
# usage: scripts/test_aarch64.sh [--build DIR] [--fgq PATH] [--percent P]
#   --build DIR   the cross build (default build-a64; kept, so a rerun is incremental)
#   --fgq PATH    the x86 fgq for step 3 (default build/fgq; "" skips step 3)
#   --percent P   run P % of the kernel tests' random cases (FGQ_TEST_CASES_PERCENT; default 100)
# Needs: cmake, aarch64-linux-gnu-gcc, qemu-aarch64 (Debian: gcc-aarch64-linux-gnu
# libc6-dev-arm64-cross qemu-user), python3 for step 3. Prints "test_aarch64: OK" last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-a64"
fgq="$root/build/fgq"
percent=100
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --fgq) fgq=$2; shift 2 ;;
    --percent) percent=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--fgq PATH] [--percent P]" >&2; exit 2 ;;
    esac
done
for t in cmake aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v "$t" >/dev/null 2>&1 || { echo "test_aarch64: $t not found" >&2; exit 77; }
done

cmake -S "$root/targets/aarch64" -B "$build" --toolchain "$root/targets/aarch64/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"${FGQ_JOBS:-2}" >/dev/null

fail=0
run() { # cpu test: runs one kernel test, prints its summary lines
    local cpu=$1 t=$2 out rc=0
    out=$(FGQ_TEST_CASES_PERCENT=$percent qemu-aarch64 -cpu "$cpu" "$build/$t" 2>&1) || rc=$?
    echo "$out" | grep -E "random cases|AUTO runs|cases:|skipped|passed|FAIL|CHECK" | sed "s/^/  [$cpu $t] /"
    if [ "$rc" -ne 0 ] && ! { [ "$rc" -eq 77 ] && [ "$3" = may-skip ]; }; then
        echo "test_aarch64: $t on $cpu: exit $rc" >&2
        fail=1
    fi
    last_out=$out
}
run max test_qgemm_kernels must
echo "$last_out" | grep -q "AUTO runs: s8 qgemm_u8s8_2x4c8__neoni8mm, t2 qgemm_u8t2_2x4c8__neoni8mm" ||
    { echo "test_aarch64: -cpu max did not pick the I8MM rows" >&2; fail=1; }
run max test_qconv_kernels must
run cortex-a76 test_qgemm_kernels must
echo "$last_out" | grep -q "AUTO runs: s8 qgemm_u8s8_1x4c16__neondot, t2 qgemm_u8t2_1x4c16__neondot" ||
    { echo "test_aarch64: -cpu cortex-a76 did not pick the SDOT rows" >&2; fail=1; }
run cortex-a76 test_qconv_kernels must
run cortex-a53 test_qgemm_kernels must
echo "$last_out" | grep -q "AUTO runs: s8 ref, t2 ref" ||
    { echo "test_aarch64: -cpu cortex-a53 (no dotprod) did not pick the reference rows" >&2; fail=1; }
run cortex-a53 test_qconv_kernels may-skip

if [ -n "$fgq" ] && [ -x "$fgq" ] && [ -f "$(dirname "$fgq")/libfgq_runtime.a" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cc -std=c11 -O2 -I"$root/runtime" "$root/examples/c-api/run_model.c" "$(dirname "$fgq")/libfgq_runtime.a" -lm \
        -o "$work/run_model_x86"
    # MNIST test image 1000 as float32 0..255, the model's raw input
    python3 - "$root/examples/mnist/t10k-images-idx3-ubyte.gz" "$work/x.raw" <<'EOF'
import gzip, struct, sys
px = gzip.open(sys.argv[1], "rb").read()[16 + 1000 * 784:16 + 1001 * 784]
open(sys.argv[2], "wb").write(struct.pack("<784f", *px))
EOF
    for policy in s8 ternary:g4; do
        q="$work/m_${policy%%:*}.fgq"
        "$fgq" quantize "$root/examples/mnist-8/model.onnx" --calib "$root/examples/mnist/t10k-images-idx3-ubyte.gz" \
            --calib-samples 0:100 --weights "$policy" -o "$q" >/dev/null
        "$work/run_model_x86" "$q" "$work/x.raw" >"$work/x86.txt"
        "$fgq" export "$q" --c "$work/c_${policy%%:*}" --target aarch64 >/dev/null
        want=$(sed -n 's/^#define MODEL_\(ARENA\|SCRATCH\)_SIZE \([0-9]*\)u.*/\2/p' "$work/c_${policy%%:*}/model.h" |
            paste -sd' ' | sed 's/^\([0-9]*\) \([0-9]*\)$/arena=\1 scratch=\2/')
        got=$(qemu-aarch64 "$build/arena_size" "$q")
        if [ "$got" = "$want" ]; then
            echo "  [arena_size] mnist-8 $policy: $got, as fgq export --target aarch64 wrote"
        else
            echo "test_aarch64: mnist-8 $policy: the AArch64 runtime sizes '$got', the export wrote '$want'" >&2
            fail=1
        fi
        for cpu in max cortex-a76 cortex-a53; do
            qemu-aarch64 -cpu "$cpu" "$build/run_model" "$q" "$work/x.raw" >"$work/a64.txt"
            if cmp -s "$work/x86.txt" "$work/a64.txt"; then
                echo "  [$cpu run_model] mnist-8 $policy: $(wc -l <"$work/a64.txt") outputs identical to x86"
            else
                echo "test_aarch64: mnist-8 $policy on $cpu: outputs differ from x86" >&2
                diff "$work/x86.txt" "$work/a64.txt" >&2 || true
                fail=1
            fi
        done
    done
else
    echo "  (no x86 fgq at '$fgq' with libfgq_runtime.a beside it: the mnist-8 end-to-end check is skipped)"
fi

if [ "$fail" -ne 0 ]; then
    echo "test_aarch64: FAILED" >&2
    exit 1
fi
echo "test_aarch64: OK"
