#!/usr/bin/env bash
# Scenario 6: the mirror on a virtual arm64 board. Cross-builds atelier-mirror for aarch64
# (scripts/cross-build.sh: Debian's rustc-web and arm64 std) and runs scenario 1 (vivid camera ->
# stylized -> drm: on virtio-gpu) in the aarch64 device-lab guest (cortex-a76, the Pi 5's core),
# judged on the screendump like the x86_64 run. Needs the host's expected_picture example.
#   scripts/aarch64-lab.sh [SCENARIO]    default camera-drm; `pir` runs the GPIO sensor scenario,
#                                        `arm-kernels` the engine at f32 and f16
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/cross-build.sh
target=$(realpath -m "${ATELIER_AARCH64_TARGET_DIR:-target/aarch64}")
binary="$target/aarch64-unknown-linux-gnu/debug/atelier-mirror"
case $binary in
  "$PWD"/*) ;;
  *) # The guest sees only the repository (at /repo): a target directory elsewhere (CI's build
     # cache) is reached through a copy of the binary.
     mkdir -p out/devlab/aarch64-bin
     cp "$binary" out/devlab/aarch64-bin/atelier-mirror
     binary=$PWD/out/devlab/aarch64-bin/atelier-mirror ;;
esac
scenario=${1:-camera-drm}
exec scripts/devlab.sh --arch aarch64 run --out "out/devlab/aarch64-$scenario" \
  --env "MIRROR=/repo/${binary#"$PWD"/}" "scripts/devlab/scenarios/$scenario.sh"
