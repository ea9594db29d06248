#!/usr/bin/env bash
# The project's test command: formatting, clippy (warnings are errors), every unit, integration
# and end-to-end test of the workspace including training (libtorch from the PyPI torch wheel),
# the control page in headless Chromium, the ONNX peer check against onnxruntime, the arm64
# cross-build, the .deb packages (lintian, install/upgrade/purge in a clean root), and the device
# lab (camera and screen scenarios in QEMU guests with real kernel drivers, the packaged service
# under systemd, the Raspberry Pi image booted).
#
#   scripts/test.sh            everything: what CI runs (docs/testing.md has its times)
#   scripts/test.sh --quick    format, lints, the workspace's tests, the page and peer checks: no
#                              cross-build, packages, lab or Pi image (a contributor's loop)
#
# It runs as named stages (scripts/stages.sh): each has a log under out/test-logs/, a summary
# table ends the run, and a failure ends it with the stage's name and its log. On a fresh machine
# two stages run in the background beside the compiler: the Pi image's base root and the lab's
# kernels and modules. ATELIER_SKIP_LAB=1 leaves the lab out (a developer machine).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
case ${1:-} in
  --quick) quick=1 ;;
  "") ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
lab=1
[ $quick = 1 ] && lab=0
if [ "${ATELIER_SKIP_LAB:-0}" = 1 ]; then lab=0; fi
source scripts/stages.sh
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

# Rust (Debian's rustc-web when the machine has none) and the compilers, then every Debian
# package this run needs, in one apt transaction.
stage rust bash scripts/ensure-rust.sh
source scripts/ensure-rust.sh
if [ $quick = 1 ]; then groups=(build page service); else groups=(build page service package cross pi); fi
[ $lab = 1 ] && groups+=(lab-x86_64 lab-aarch64)
stage host-packages scripts/host-packages.sh "${groups[@]}"

# Work that needs no compiler, started beside it: the Pi image's base root (~12 min of one core
# on a fresh machine; cached after) and the lab's guest kernels and modules.
if [ $quick = 0 ]; then
  stage_bg pi-base scripts/pi-image.sh --base-only
fi
if [ $lab = 1 ]; then
  stage_bg lab-setup bash -c 'scripts/devlab.sh setup && scripts/devlab.sh --arch aarch64 setup'
fi

# The training environment (torch==2.13.0 from PyPI), the pretrained loss networks and the person
# segmenter, which must be exactly what scripts/segmenter.sh makes from the mediapipe wheel today.
stage python scripts/python-env.sh --train
source scripts/train-env.sh
export ATELIER_NETS=${ATELIER_NETS:-$HOME/.cache/atelier/nets}
stage feature-nets scripts/feature-nets.sh
stage segmenter scripts/segmenter.sh --check

export ATELIER_FEATURES=atelier-host/train
features=(--workspace --features "$ATELIER_FEATURES")
if "$CARGO" fmt --version >/dev/null 2>&1; then
  stage fmt "$CARGO" fmt --all --check
else
  echo "test.sh: rustfmt not installed, skipping the format check" >&2
fi
# One compile for the lints and the tests: clippy-driver compiles the workspace's own crates
# (clippy's lints, warnings as errors, then the code as rustc would) and cargo builds the
# dependencies once, for the tests. `cargo clippy` would check every dependency a second time
# (~5 minutes on a fresh machine). Cargo's fingerprints include the wrapper, so the tests run
# with it too and nothing is built twice.
lint=(env)
driver="$(rustc --print sysroot 2>/dev/null)/bin/clippy-driver"
if [ -x "$driver" ]; then
  lint=(env RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__)
else
  echo "test.sh: clippy not installed, skipping lints" >&2
fi
stage build "${lint[@]}" "$CARGO" test "${features[@]}" --all-targets --no-run
stage tests "${lint[@]}" "$CARGO" test "${features[@]}"
target=${CARGO_TARGET_DIR:-target}
# The control page in headless Chromium, the systemd unit and the ONNX peer check, on the
# binaries `cargo test` built.
stage page-check env ATELIER_MIRROR_BIN="$target/debug/atelier-mirror" scripts/page-check.sh
stage service-check env ATELIER_MIRROR_BIN="$target/debug/atelier-mirror" scripts/service-check.sh
stage peer-check env ATELIER_BIN="$target/debug/atelier" scripts/onnx-peer-check.sh

if [ $quick = 1 ]; then
  stages_done
  echo "test.sh --quick: passed (no cross-build, packages, lab or Pi image: scripts/test.sh runs them)"
  exit 0
fi

# The packages, made from the binaries the tests built (the arm64 one cross-built here; the lab's
# aarch64 scenarios reuse it), checked by lintian, then installed, upgraded, broken and removed
# in a clean Debian root; the lab's `service` scenario boots the amd64 one under systemd and the
# Pi image installs the arm64 one.
stage cross-build scripts/cross-build.sh --bench
stage packages scripts/package-deb.sh --arch amd64 --arch arm64 --profile dev --no-build --mirror-only \
  --out target/deb-test
stage package-test scripts/package-test.sh target/deb-test/atelier-mirror_*_amd64.deb \
  target/deb-test/atelier-mirror_*_arm64.deb
stage_wait pi-base
if [ $lab = 1 ]; then
  stage_wait lab-setup
  stage lab scripts/lab-tests.sh
else
  echo "test.sh: ATELIER_SKIP_LAB=1: the device lab was NOT run" >&2
fi
stages_done
echo "test.sh: passed"
