#!/usr/bin/env bash
# Builds the Debian packages with cargo-deb (installed here on first use, pinned):
#   atelier-mirror_VERSION_ARCH.deb  the mirror: binary, shipped models, /etc/atelier/mirror.toml
#                                    (a conffile), the systemd unit and its sysusers file, licences
#   atelier_VERSION_amd64.deb        the workstation tool `atelier`, without training
# then runs lintian on them (remaining tags are overridden with a reason in edge/debian/ and
# host/debian/ lintian-overrides; any other warning or error fails the script).
#
#   scripts/package-deb.sh [--arch amd64|arm64]... [--profile release|dev] [--out DIR]
#                          [--deb-version V] [--no-build] [--no-lintian] [--mirror-only]
#
#   --arch       amd64 (this machine) and/or arm64 (cross-built with scripts/cross-build.sh);
#                default: both. The `atelier` tool is packaged for amd64 only.
#   --profile    release (default: what ships) or dev (scripts/test.sh packages the binary its
#                tests built, to test the packaging without a second full build)
#   --no-build   package the binaries already built for that profile
#   --deb-version  the package version (default: the crate version, revision 1)
#   --mirror-only  leave out the `atelier` package (its test build has training linked in)
# Prints the paths of the packages made, one per line, on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
archs=() profile=release out=target/deb build=1 lint=1 deb_version=() host_pkg=1
while [ $# -gt 0 ]; do
  case $1 in
    --arch) archs+=("$2"); shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --deb-version) deb_version=(--deb-version "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    --no-lintian) lint=0; shift ;;
    --mirror-only) host_pkg=0; shift ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)
case $profile in release|dev) ;; *) echo "package-deb: --profile release or dev" >&2; exit 2 ;; esac
note() { echo "package-deb: $*" >&2; }

source scripts/ensure-rust.sh >&2
# What ships never links libtorch: drop a training environment the caller may have set up.
unset LIBTORCH LIBTORCH_USE_PYTORCH VIRTUAL_ENV
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

# cargo-deb from crates.io (Debian does not package it), in the project's tool cache.
CARGO_DEB_VERSION=3.8.0
tools=${ATELIER_CACHE:-$HOME/.cache/atelier}/tools
if [ "$("$tools/bin/cargo-deb" --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  note "installing cargo-deb $CARGO_DEB_VERSION into $tools (once, ~3 min)"
  "$CARGO" install --locked --quiet --version "$CARGO_DEB_VERSION" --root "$tools" cargo-deb >&2
fi
export PATH="$tools/bin:$PATH"
scripts/host-packages.sh package

mkdir -p "$out"
made=()
crates_list() { # package triple -> out/deb/<dir>/third-party-crates.txt (an asset path in Cargo.toml)
  local dir=${1#atelier-}
  mkdir -p "out/deb/$dir"
  "$CARGO" metadata --format-version 1 --filter-platform "$2" \
    | python3 scripts/packaging/third_party_crates.py "$1" "out/deb/$dir/third-party-crates.txt"
}
package() { # crate triple|native [cargo-deb args...]
  local crate=$1 triple=$2; shift 2
  local target=()
  if [ "$triple" = native ]; then triple=$(rustc -vV | sed -n 's/^host: //p'); else target=(--target "$triple"); fi
  crates_list "$crate" "$triple"
  local deb
  deb=$(cargo-deb -p "$crate" --profile "$profile" "${target[@]}" --output "$out" "${deb_version[@]}" "$@" \
        | tail -n1)
  [ -f "$deb" ] || { note "cargo-deb made no package for $crate ($triple)"; exit 1; }
  made+=("$deb")
}

# Manual pages, rendered from the binaries' own clap definitions (the same on every arch, so
# the native build renders them).
native=${CARGO_TARGET_DIR:-target}/$([ $profile = dev ] && echo debug || echo release)
man_pages() {
  if [ $build = 1 ] || [ ! -x "$native/atelier-mirror" ]; then
    "$CARGO" build --profile "$profile" -p atelier-edge --bin atelier-mirror >&2
  fi
  rm -rf out/deb/edge/man out/deb/host/man
  mkdir -p out/deb/edge/man
  "$native/atelier-mirror" --man-page >out/deb/edge/man/atelier-mirror.1
  if [ $host_pkg = 1 ]; then
    if [ $build = 1 ] || [ ! -x "$native/atelier" ]; then
      "$CARGO" build --profile "$profile" -p atelier-host --bin atelier >&2
    fi
    "$native/atelier" man-pages out/deb/host/man
  fi
}
man_pages

for arch in "${archs[@]}"; do
  case $arch in
    amd64)
      package atelier-edge native --no-build
      [ $host_pkg = 0 ] || package atelier-host native --no-build
      ;;
    arm64)
      if [ $build = 1 ]; then
        scripts/cross-build.sh $([ $profile = release ] && echo --release) >&2
      fi
      # Debian's cross binutils strip the arm64 binary (cargo-deb would use the host's strip).
      CARGO_TARGET_DIR=${ATELIER_AARCH64_TARGET_DIR:-target/aarch64} \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_STRIP=aarch64-linux-gnu-strip \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_OBJCOPY=aarch64-linux-gnu-objcopy \
        package atelier-edge aarch64-unknown-linux-gnu --no-build
      ;;
    *) note "unknown --arch $arch (amd64 or arm64)"; exit 2 ;;
  esac
done

if [ $lint = 1 ]; then
  # Warnings and errors fail; each tag we keep is overridden in the package with its reason.
  lintian --fail-on error,warning --info "${made[@]}" >&2 || { note "lintian found problems (above)"; exit 1; }
fi
printf '%s\n' "${made[@]}"
