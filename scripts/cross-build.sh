#!/usr/bin/env bash
# Cross-builds the mirror (atelier-edge) for aarch64 Linux (Raspberry Pi 4/5, Jetson) with Debian's
# rustc-web/cargo-web and its arm64 standard library: rustup cannot add targets here, and this
# route needs nothing but Debian packages. Installs what it needs on first use.
#
# usage: scripts/cross-build.sh [--release] [--tests]
#   --release  optimised binary (thin LTO) for packaging: target/aarch64/aarch64-unknown-linux-gnu/release/atelier-mirror
#   --tests    also build the edge's unit tests and f16 precision test and run them, and the mirror,
#              under qemu-aarch64 (-cpu max). tract picks its FP16 kernels from /proc/cpuinfo,
#              which qemu-user may not emulate; the mirror's warning says which path ran.
#              Emulated timings mean nothing; this checks that the code runs and is right on aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=dev; tests=0
for arg in "$@"; do
  case $arg in
    --release) profile=release ;;
    --tests) tests=1 ;;
    *) echo "usage: $0 [--release] [--tests]" >&2; exit 2 ;;
  esac
done

TRIPLE=aarch64-unknown-linux-gnu
have_toolchain() {
  [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/$TRIPLE ] \
    && command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64-static >/dev/null
}
if ! have_toolchain; then
  echo "cross-build: installing Debian's cross toolchain (rustc-web, arm64 std, gcc, qemu)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update >&2
  $SUDO apt-get install -y rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu \
    libc6-dev-arm64-cross qemu-user-static file >&2
fi

# Debian's cargo, not rustup's: only Debian's rustc has the arm64 standard library. A separate
# target directory keeps its artifacts from invalidating the native build's.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/aarch64}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu max"
export RUSTC=/usr/bin/rustc
CARGO=/usr/bin/cargo
flags=(-j 2 -p atelier-edge --target $TRIPLE)
[ $profile = release ] && flags+=(--release)

"$CARGO" build "${flags[@]}" --bin atelier-mirror
out=$CARGO_TARGET_DIR/$TRIPLE/$([ $profile = release ] && echo release || echo debug)/atelier-mirror
file "$out" 2>/dev/null || ls -l "$out"

if [ $tests = 1 ]; then
  # The unit tests, the engine's f16 precision test and one mirror run; the CLI tests spawn the
  # binary by path, which needs binfmt_misc, so the mirror run below covers the binary instead.
  "$CARGO" test "${flags[@]}" --lib --test precision
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu max "$out" --precision f16 --frames 2 \
    --model-size 64x48 --capture-size 128x96 --output "png:$tmp" --report
  n=$(ls "$tmp" | wc -l)
  [ "$n" = 2 ] || { echo "cross-build: expected 2 frames from the aarch64 mirror, got $n" >&2; exit 1; }
  echo "cross-build: aarch64 tests and mirror run passed"
fi
