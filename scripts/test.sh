#!/usr/bin/env bash
# The project's test command: every unit, integration and end-to-end test of the workspace,
# clippy with warnings as errors, and the ONNX peer check against onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-rust.sh
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
"$CARGO" fmt --all --check
"$CARGO" clippy --workspace --all-targets -- -D warnings
"$CARGO" test --workspace
scripts/onnx-peer-check.sh
