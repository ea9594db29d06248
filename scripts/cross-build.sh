#!/usr/bin/env bash
# Cross-builds the mirror (atelier-edge) for aarch64 Linux (Raspberry Pi 4/5, Jetson) with Debian's
# rustc-web/cargo-web and its arm64 standard library: rustup cannot add targets here, and this
# route needs nothing but Debian packages. Installs what it needs on first use.
#
# usage: scripts/cross-build.sh [--release] [--tests] [--bench]
#   --release  optimised binary (thin LTO) for packaging: target/aarch64/aarch64-unknown-linux-gnu/release/atelier-mirror
#   --bench    also the engine's criterion bench (edge/benches/engine.rs), copied to
#              .../debug/engine-bench (or release/) for the arm64 device lab (arm-kernels)
#   --tests    also run the engine on emulated aarch64: examples/precision_check (f32 and f16 plans
#              of the default model, every style, must agree to 35 dB) under qemu-aarch64 -cpu max
#              (ARMv8.2+ with FP16: tract's native f16 kernels) and -cpu cortex-a72 (Pi 4: no FP16,
#              tract's fallback). Single-threaded on purpose: on the project's build machine
#              qemu-user hangs in any program that starts a thread (even a C pthread one), so the
#              test harness and the mirror's pipeline cannot run there.
#              tract reads FP16 support from /proc/cpuinfo, which qemu-user emulates in recent
#              versions (measured with 10.0.2 from bookworm-backports; the example prints what
#              tract chose). Emulated timings mean nothing; this checks the code is right on aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dev; tests=0; bench=0
for arg in "$@"; do
  case $arg in
    --release) profile=release ;;
    --tests) tests=1 ;;
    --bench) bench=1 ;;
    *) echo "usage: $0 [--release] [--tests] [--bench]" >&2; exit 2 ;;
  esac
done

TRIPLE=aarch64-unknown-linux-gnu
# Debian's cross toolchain: rustc-web, its arm64 std, gcc, qemu-user.
scripts/host-packages.sh cross

# Debian's cargo, not rustup's: only Debian's rustc has the arm64 standard library. A separate
# target directory keeps its artifacts from invalidating the native build's (CARGO_TARGET_DIR is
# the native one's, so it is not used here).
export CARGO_TARGET_DIR=${ATELIER_AARCH64_TARGET_DIR:-target/aarch64}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export RUSTC=/usr/bin/rustc
CARGO=/usr/bin/cargo
flags=(-j 2 -p atelier-edge --target $TRIPLE)
[ $profile = release ] && flags+=(--release)

"$CARGO" build "${flags[@]}" --bin atelier-mirror
out=$CARGO_TARGET_DIR/$TRIPLE/$([ $profile = release ] && echo release || echo debug)/atelier-mirror
file "$out" 2>/dev/null || ls -l "$out"

if [ $bench = 1 ]; then
  # Built like a test (cargo's test profile: the dev one), without running it; cargo names the
  # executable deps/engine-HASH (and builds the mirror beside it), so it is copied to a fixed name.
  exe=$("$CARGO" build "${flags[@]}" --bench engine --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\/deps\/engine-[0-9a-f]*\)".*/\1/p' | tail -1)
  [ -x "$exe" ] || { echo "cross-build: no engine bench executable" >&2; exit 1; }
  cp "$exe" "$(dirname "$out")/engine-bench"
  echo "cross-build: $(dirname "$out")/engine-bench"
fi

if [ $tests = 1 ]; then
  "$CARGO" build "${flags[@]}" --example precision_check
  check=$CARGO_TARGET_DIR/$TRIPLE/$([ $profile = release ] && echo release || echo debug)/examples/precision_check
  for cpu in max cortex-a72; do
    echo "== qemu-aarch64 -cpu $cpu"
    qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu $cpu "$check" models/default.onnx \
      edge/assets/demo/mpl_grace_hopper.jpg
  done
  echo "cross-build: f16 and f32 plans agree on emulated aarch64"
fi
