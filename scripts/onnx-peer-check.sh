#!/usr/bin/env bash
# Peer check of the ONNX writer: freshly exported generators (multi- and single-style) and every
# shipped model in models/ must pass onnx.checker (full_check) and match onnxruntime to 1e-4.
# usage: scripts/onnx-peer-check.sh [MODEL.onnx ...]   (builds `atelier` if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(scripts/python-env.sh)
TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -n "${ATELIER_BIN:-}" ]; then
  ATELIER=$ATELIER_BIN      # test.sh passes the binary its `cargo test` built
else
  "${CARGO:-cargo}" build -q -j 2 -p atelier-host --bin atelier
  ATELIER=$TARGET_DIR/debug/atelier
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$ATELIER" export --init 1 --styles wave,scream,kiss --out "$tmp/multi.onnx"
"$ATELIER" export --init 2 --styles solo --out "$tmp/single.onnx"
"$ATELIER" export --init 3 --styles a,b --encoder 8,16 --decoder 8 --residual-blocks 1 --out "$tmp/small.onnx"
"$ATELIER" export --init 4 --styles a,b,c --residual separable --out "$tmp/separable.onnx"
"$ATELIER" export --init 5 --styles a,b --encoder 32,64 --decoder 32 --head quarter --out "$tmp/quarter.onnx"
models=("$tmp/multi.onnx" "$tmp/single.onnx" "$tmp/small.onnx" "$tmp/separable.onnx" "$tmp/quarter.onnx")
if [ $# -gt 0 ]; then models+=("$@"); else
  for m in models/*.onnx; do [ -s "$m" ] && models+=("$m"); done
fi
"$VENV/bin/python" scripts/onnx_peer_check.py "$ATELIER" "${models[@]}"
