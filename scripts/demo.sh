#!/usr/bin/env bash
# The main job on the bundled example: what is in mnist-8, and what each quantization
# scheme does to its weights. Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
FGQ="${1:-build}/fgq"
MODEL=examples/mnist-8/model.onnx
"$FGQ" inspect "$MODEL"
for policy in s8 s4:g32 ternary:g4:exact ternary:g16:exact ternary:g64:exact; do
  echo
  "$FGQ" weights "$MODEL" --weights "$policy"
done
