#!/usr/bin/env bash
# Produces the figures in docs/benchmarks.md for MODEL (default: models/default.onnx): tract and
# onnxruntime side by side (1 and 2 threads, same process run), tract's per-operator profile at
# both sizes, and the frame rate of the whole mirror pipeline. Run it on an otherwise idle
# machine; release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/default.onnx}
RUNS=${RUNS:-20}
source scripts/ensure-rust.sh
VENV=$(scripts/python-env.sh)
export ATELIER_PYTHON="$VENV/bin/python"
"$CARGO" build -q --release -j 2 -p atelier-host --bin atelier
"$CARGO" build -q --release -j 2 -p atelier-edge --bin atelier-mirror
echo "## tract and onnxruntime (atelier bench --compare-ort)"
target/release/atelier bench --model "$MODEL" --runs "$RUNS" --threads 1,2 --compare-ort
echo
echo "## the same with tract running every convolution (--tract-convs: no FlatConv)"
target/release/atelier bench --model "$MODEL" --runs "$RUNS" --threads 1 --compare-ort --tract-convs
echo
echo "## where tract's time goes (atelier bench --profile, 1 thread)"
target/release/atelier bench --model "$MODEL" --runs 10 --threads 1 --profile
echo "## pipeline (atelier-mirror, test pattern in, null out)"
# threads x parallel frames: "1 1" one frame, one tract thread; "2 1" tract splits each frame;
# "1 2" two frames at once (the default with 4 or more cores).
for size in 320x240 640x480; do
  for split in "1 1" "2 1" "1 2"; do
    read -r t pf <<<"$split"
    for person in "--presence off --stylize all" ""; do
      # shellcheck disable=SC2086 # $person is a list of flags
      target/release/atelier-mirror --model "$MODEL" --input test-pattern: --output null: --fps 90 \
        --frames 200 --threads "$t" --parallel-frames "$pf" --model-size "$size" $person --report \
        | grep -E '"(output_fps|inference_ms_mean|look_ms_mean)"' | tr -d ' ,' | tr '\n' ' '
      echo " (model $size, threads=$t, parallel frames=$pf${person:+, $person})"
    done
  done
done
