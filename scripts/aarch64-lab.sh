#!/usr/bin/env bash
# Scenario 6: the mirror on a virtual arm64 board. Cross-builds atelier-mirror for aarch64
# (scripts/cross-build.sh: Debian's rustc-web and arm64 std) and runs scenario 1 (vivid camera ->
# stylized -> drm: on virtio-gpu) in the aarch64 device-lab guest (cortex-a76, the Pi 5's core),
# judged on the screendump like the x86_64 run. Needs the host's expected_picture example.
#   scripts/aarch64-lab.sh [SCENARIO]    default camera-drm; `pir` runs the GPIO sensor scenario,
#                                        `arm-kernels` the engine at f32 and f16
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-camera-drm}
# arm-kernels also runs the engine's criterion bench.
[ "$scenario" = arm-kernels ] && bench=(--bench) || bench=()
scripts/cross-build.sh "${bench[@]}"
target=$(realpath -m "${ATELIER_AARCH64_TARGET_DIR:-target/aarch64}")
# The path the guest sees for a cross-built file: it sees only the repository (at /repo), so a
# target directory elsewhere (CI's build cache) is reached through a copy.
guest_path() {
  local file=$1
  case $file in
    "$PWD"/*) ;;
    *) mkdir -p out/devlab/aarch64-bin
       cp "$file" "out/devlab/aarch64-bin/$(basename "$file")"
       file=$PWD/out/devlab/aarch64-bin/$(basename "$file") ;;
  esac
  echo "/repo/${file#"$PWD"/}"
}
envs=(--env "MIRROR=$(guest_path "$target/aarch64-unknown-linux-gnu/debug/atelier-mirror")")
[ ${#bench[@]} = 0 ] || envs+=(--env "BENCH=$(guest_path "$target/aarch64-unknown-linux-gnu/debug/engine-bench")")
exec scripts/devlab.sh --arch aarch64 run --out "out/devlab/aarch64-$scenario" \
  "${envs[@]}" "scripts/devlab/scenarios/$scenario.sh"
