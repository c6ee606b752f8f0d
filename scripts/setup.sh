#!/usr/bin/env bash
# One command from a fresh Debian machine to a working fgq: installs the dependencies,
# builds (Release), and runs the main job on the bundled mnist-8 example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
scripts/demo.sh build
