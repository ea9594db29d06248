#!/usr/bin/env bash
# Produces the figures in docs/benchmarks.md for MODEL (default: models/default.onnx):
# the engine's ms/frame in tract (1 and 2 threads), the same file in onnxruntime, and the frame
# rate of the whole mirror pipeline. Run it on an otherwise idle machine; release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/default.onnx}
source scripts/ensure-rust.sh
VENV=$(scripts/python-env.sh)
"$CARGO" build -q --release -j 2 -p atelier-host --bin atelier
"$CARGO" build -q --release -j 2 -p atelier-edge --bin atelier-mirror
echo "## tract (atelier bench)"
target/release/atelier bench --model "$MODEL" --runs 20
echo "## onnxruntime"
for t in 1 2; do "$VENV/bin/python" scripts/ort_bench.py "$MODEL" --threads $t; done
echo "## pipeline (atelier-mirror, test-pattern in, null out, 640x480 frames, model at 320x240)"
for t in 1 2; do
  target/release/atelier-mirror --model "$MODEL" --input test-pattern: --output null: --fps 240 \
    --frames 200 --threads $t --report | grep -E '"(output_fps|inference_ms_mean|dropped_before_inference)"' | tr -d ' ,' | tr '\n' ' '
  echo " (threads=$t)"
done
