#!/usr/bin/env bash
# Installs everything fgq needs to build and test on Debian 12 (bookworm).
# Safe to run twice: apt-get and pip skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Build: C compiler, CMake, protobuf-c (compiler + library) and ONNX's own onnx.proto
# (libonnx-dev), zlib for gzip IDX. Tests: ONNX backend node tests, Fashion-MNIST,
# clang for libFuzzer, the Cortex-M toolchain that proves the runtime builds
# freestanding (scripts/check_freestanding.sh) and builds the example firmware, QEMU that
# runs it on emulated Cortex-M4/M55 boards (scripts/device.py), the AArch64 cross compiler and
# qemu-user that run the AArch64 kernel rows (scripts/test_aarch64.sh), and torch + torchvision, which export the
# model zoo's architectures with random weights (scripts/model_zoo.py; Debian's, since
# PyPI's torch pulls gigabytes of CUDA wheels). python3-dev: Python.h for the package's C extension
# (pyproject.toml; its build backend, scikit-build-core, comes pinned from requirements.txt).
# chromium: the headless browser tests/python/test_report.py renders fgq report's page in.
DEBS=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev
      zlib1g-dev libonnx-testdata dataset-fashion-mnist clang libclang-rt-dev
      gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user python3 python3-pip python3-dev python3-torch
      python3-torchvision chromium)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Test oracles from PyPI, pinned. Debian's own python refuses pip without this flag
# (PEP 668); a pyenv or venv python does not need it.
if ! python3 -m pip install -q -r requirements.txt 2>/tmp/fgq-pip.err; then
  if grep -q externally-managed /tmp/fgq-pip.err; then
    python3 -m pip install -q --break-system-packages -r requirements.txt
  else
    cat /tmp/fgq-pip.err >&2
    exit 1
  fi
fi
echo "install-deps: done"
