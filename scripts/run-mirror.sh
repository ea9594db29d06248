#!/usr/bin/env bash
# Builds atelier-mirror (release) and runs it; with no arguments that is the embedded default:
# the built-in model on the built-in demo input, preview on http://127.0.0.1:8080/.
# Arguments are passed to atelier-mirror (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-rust.sh
"$CARGO" build --release -j 2 -p atelier-edge --bin atelier-mirror
exec "${CARGO_TARGET_DIR:-target}/release/atelier-mirror" "$@"
