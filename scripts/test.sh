#!/usr/bin/env bash
# Every test: the Release build, then the same suite built with AddressSanitizer + UBSan,
# the runtime's freestanding build check (Cortex-M4, then the host compiler with its x86 kernels), and a short libFuzzer run of every fuzz
# target (the .fgq reader, the ONNX importer, the data readers, the policy and flag parsers).
# Assumes scripts/install-deps.sh has run (scripts/setup.sh does it).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFGQ_SANITIZE=address,undefined
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

scripts/check_freestanding.sh
# the same with the host compiler: the x86 kernels' frames under the same 2 KB limit
scripts/check_freestanding.sh --host
fuzz/run.sh build-fuzz "${FGQ_FUZZ_SECONDS:-20}"
