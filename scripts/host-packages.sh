#!/usr/bin/env bash
# The Debian packages each part of the build and the tests needs, defined here once: the scripts
# ask for their group by name, and scripts/test.sh asks for every group it will run at once, so a
# fresh machine pays for one `apt-get update` and one install instead of one per script.
# Installs only what is missing (root or sudo needed then); prints nothing when all is there.
#
#   scripts/host-packages.sh GROUP...          install what GROUPs need and is missing
#   scripts/host-packages.sh --list GROUP...   print the packages GROUPs need, one per line
#
# Groups: build (compilers, libclang for bindgen, Python venvs), rust (Debian's Rust), page (Chromium, Node.js),
# service (systemd-analyze), package (.deb tools), cross (the aarch64 cross toolchain),
# lab-x86_64 / lab-aarch64 (QEMU and the device lab's tools), pi (the Raspberry Pi image).
# On Debian 12 QEMU comes from bookworm-backports (10.x, like the machine image's qemu-utils,
# which conflicts with bookworm's 7.2). Concurrent calls wait for each other.
set -euo pipefail

# A group's packages. `CMD=PKG`: satisfied when the command exists (Node.js may come from
# elsewhere); `PKG@backports`: from bookworm-backports on Debian 12; `PKG:arm64`: a foreign package.
group() {
  case $1 in
    build) echo gcc g++ make pkg-config python3-venv libclang-dev binutils ;;
    rust) echo rustc-web cargo-web ;;
    page) echo chromium node=nodejs npm=npm ;;
    service) echo systemd ;;
    package) echo fakeroot lintian mmdebstrap ;;
    cross) echo rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
                qemu-user-static file libclang-dev ;;
    lab-common) echo busybox-static kmod cpio xz-utils v4l-utils libdrm-tests python3 gcc libc6-dev make \
                     binutils libjpeg-turbo-progs fdisk dosfstools e2fsprogs mmdebstrap xvfb x11-utils imagemagick \
                     qemu-system-common@backports qemu-system-data@backports ;;
    lab-x86_64) group lab-common; echo qemu-system-x86@backports seabios@backports ;;
    lab-aarch64) group lab-common; echo qemu-system-arm@backports gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;;
    pi) echo mmdebstrap arch-test qemu-user-static dosfstools mtools fdisk e2fsprogs util-linux ;;
    *) echo "host-packages: unknown group '$1' (build rust page service package cross lab-x86_64 lab-aarch64 pi)" >&2
       return 2 ;;
  esac
}

list=0
[ "${1:-}" = --list ] && { list=1; shift; }
[ $# -gt 0 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
specs=()
for g in "$@"; do
  line=$(group "$g") || exit 2
  read -ra more <<<"${line//$'\n'/ }"
  specs+=("${more[@]}")
done
mapfile -t specs < <(printf '%s\n' "${specs[@]}" | awk '!seen[$0]++')
if [ $list = 1 ]; then printf '%s\n' "${specs[@]}"; exit 0; fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }
missing=() foreign=() backports=0
for spec in "${specs[@]}"; do
  case $spec in
    *=*) command -v "${spec%%=*}" >/dev/null || missing+=("${spec#*=}") ;;
    *@backports)
      pkg=${spec%@backports}
      if [ "$codename" = bookworm ]; then
        # Installed, but bookworm's 7.2? It must come from backports too.
        case "$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)" in
          *bpo12*) installed "$pkg" || { missing+=("$pkg/bookworm-backports"); backports=1; } ;;
          *) missing+=("$pkg/bookworm-backports"); backports=1 ;;
        esac
      else
        installed "$pkg" || missing+=("$pkg")
      fi ;;
    *:*) installed "$spec" || { missing+=("$spec"); foreign+=("${spec#*:}"); } ;;
    *) installed "$spec" || missing+=("$spec") ;;
  esac
done
[ ${#missing[@]} -gt 0 ] || exit 0

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
command -v apt-get >/dev/null || { echo "host-packages: not a Debian system; install by hand: ${missing[*]}" >&2; exit 1; }
# One apt at a time, however many scripts ask.
exec 9>/tmp/atelier-host-packages.lock
flock 9
for arch in $(printf '%s\n' "${foreign[@]}" | sort -u); do
  dpkg --print-foreign-architectures | grep -qx "$arch" || "${SUDO[@]}" dpkg --add-architecture "$arch"
done
if [ $backports = 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "host-packages: adding bookworm-backports to apt's sources" >&2
  "${SUDO[@]}" tee /etc/apt/sources.list.d/atelier-backports.sources >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
echo "host-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2 || { echo "host-packages: apt-get update failed (network?)" >&2; exit 1; }
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2 \
  || { echo "host-packages: apt-get install failed: ${missing[*]}" >&2; exit 1; }
