#!/usr/bin/env bash
# The device-lab tests: every x86_64 scenario in a QEMU guest with real kernel devices (vivid,
# v4l2loopback, bochs-drm, fbdev) plus window: under Xvfb and the packaged service under systemd
# (service: scripts/service-lab.sh), each judged on what the screen showed.
# Needs the debug atelier-mirror and the expected_picture example (`scripts/test.sh` builds both;
# this builds them when they are missing). Installs the lab on first use (root: apt).
#
#   scripts/lab-tests.sh [SCENARIO...]     default: all, the aarch64 ones included (they cross-build the
#                                          mirror: ~14 min cold; pi-image builds the Raspberry Pi image
#                                          on its cached base root: ~4 min, ~31 cold);
#                                          ATELIER_LAB_AARCH64=0 leaves them out
# Prints "lab: N passed, M failed" last; exits non-zero when any failed or the lab could not run.
set -uo pipefail
cd "$(dirname "$0")/.."
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
export MIRROR="$target/debug/atelier-mirror" EXPECTED_PICTURE="$target/debug/examples/expected_picture"
PANEL="$target/debug/examples/panel_upload"
SEQUENCE="$target/debug/examples/presence_sequence"
if [ ! -x "$MIRROR" ] || [ ! -x "$EXPECTED_PICTURE" ] || [ ! -x "$PANEL" ] || [ ! -x "$SEQUENCE" ]; then
  source scripts/ensure-rust.sh
  "$CARGO" build -j 2 -p atelier-edge --bin atelier-mirror --example expected_picture --example panel_upload \
    --example presence_sequence || exit 1
fi
scripts/host-packages.sh lab-x86_64 || exit 1
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(camera-drm camera-mjpeg camera-unplug fb-rotate serial-unplug presence window-xvfb service service-trixie grow-root)
if [ $# -eq 0 ]; then
  if [ "${ATELIER_LAB_AARCH64:-1}" = 1 ]; then
    scenarios+=(aarch64-camera-drm aarch64-pir aarch64-arm-kernels pi-image)
  else
    echo "lab: ATELIER_LAB_AARCH64=0: the aarch64 scenarios and the Pi image are NOT run" >&2
  fi
fi
scripts/devlab.sh setup || { echo "lab: the device lab could not be set up"; echo "lab: 0 passed, ${#scenarios[@]} failed"; exit 1; }
passed=0 failed=0 failures=()
for s in "${scenarios[@]}"; do
  start=$(date +%s)
  case $s in
    window-xvfb) scripts/devlab/scenarios/window-xvfb.sh out/devlab/window-xvfb ;;
    aarch64-*) scripts/aarch64-lab.sh "${s#aarch64-}" ;;
    service|service-trixie)
      # The .deb under systemd as PID 1: the package scripts/test.sh made, else one made now.
      deb=$(ls target/deb-test/atelier-mirror_*_amd64.deb 2>/dev/null | head -n1)
      [ -n "$deb" ] || deb=$(scripts/package-deb.sh --arch amd64 --profile dev --no-build --mirror-only \
                              --no-lintian --out target/deb-test | grep '_amd64.deb$')
      suite=bookworm; [ "$s" = service-trixie ] && suite=trixie
      scripts/service-lab.sh --suite "$suite" "$deb" ;;
    pi-image)
      # The Raspberry Pi image from the arm64 package scripts/test.sh made (else one made now):
      # the cached base root, the .deb installed, booted with the image's own kernel.
      deb=$(ls target/deb-test/atelier-mirror_*_arm64.deb 2>/dev/null | head -n1)
      [ -n "$deb" ] || deb=$(scripts/cross-build.sh >/dev/null && scripts/package-deb.sh --arch arm64 --profile dev \
                              --no-build --mirror-only --no-lintian --out target/deb-test | grep '_arm64.deb$')
      scripts/pi-image.sh --test "$deb" ;;
    presence)
      # The recorded scene, made on the host (the x86_64 guest sees the host's files).
      seq="$target/presence-sequence"
      rm -rf "$seq" && "$SEQUENCE" "$seq" 320x240 \
        && scripts/devlab.sh run --timeout 900 --env "MIRROR=$MIRROR" --env "SEQ=$seq" "scripts/devlab/scenarios/$s.sh" ;;
    *) scripts/devlab.sh run --env "MIRROR=$MIRROR" --env "PANEL=$PANEL" "scripts/devlab/scenarios/$s.sh" ;;
  esac
  rc=$?
  echo "lab: $s $([ $rc = 0 ] && echo passed || echo "FAILED ($rc)") in $(( $(date +%s) - start )) s (out/devlab/$s)"
  if [ $rc = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$s"); fi
done
[ $failed = 0 ] || echo "lab: failed: ${failures[*]}"
echo "lab: $passed passed, $failed failed"
[ $failed = 0 ]
