#!/usr/bin/env bash
# The main job on the bundled example: what is in mnist-8, what each weight policy does
# to its weights, then quantize it to FGQ ternary (calibrated on MNIST test images 0-999),
# compare float and quantized on images 1000-1999, and export the result for ONNX Runtime.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
FGQ="${1:-build}/fgq"
MODEL=examples/mnist-8/model.onnx
IMAGES=examples/mnist/t10k-images-idx3-ubyte.gz
LABELS=examples/mnist/t10k-labels-idx1-ubyte.gz
OUT="${FGQ_DEMO_OUT:-$(mktemp -d)}"

"$FGQ" inspect "$MODEL"
for policy in s8 s4:g32 ternary:g4:exact ternary:g16:exact ternary:g64:exact; do
  echo
  "$FGQ" weights "$MODEL" --weights "$policy"
done
echo
"$FGQ" quantize "$MODEL" --calib "$IMAGES" --calib-samples 0:1000 --weights ternary:g4 -o "$OUT/mnist-8.t2g4.fgq"
echo
"$FGQ" eval "$MODEL" "$OUT/mnist-8.t2g4.fgq" --data "$IMAGES" --labels "$LABELS" --samples 1000:2000
echo
"$FGQ" export "$OUT/mnist-8.t2g4.fgq" --onnx "$OUT/mnist-8.t2g4.qdq.onnx"
echo "demo outputs in $OUT"
