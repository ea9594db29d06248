#!/usr/bin/env bash
# Atelier device lab: boots Debian's stock kernel in QEMU (TCG) so that tests get real kernel
# devices (vivid camera, v4l2loopback MJPEG camera, bochs/virtio-gpu DRM display read back with
# QMP screendump, dummy_hcd USB serial). See scripts/devlab/README.md.
#
#   scripts/devlab.sh [--arch x86_64|aarch64] setup
#   scripts/devlab.sh [--arch x86_64|aarch64] build-v4l2loopback
#   scripts/devlab.sh [--arch ARCH] run [--out DIR] [--timeout S] [--mem M] [--env K=V]... \
#                     [--root DIR [--systemd]] [--keep] <guest-script> [args...]
#     --root DIR   boot this root directory (a Debian root made by mmdebstrap, say) instead of
#                  the host's / (x86_64) or the unpacked arm64 root; the repo is at /repo
#     --systemd    with --root: systemd is PID 1 and runs the guest script as lab-run.service
#                  once the system is up (scripts/devlab/lab-run.service)
#     --copy-large copy every file the guest leaves in the share back, even over 64 MiB
#                  (a root file system the guest built, say)
#     --disk IMG --boot-kernel K --boot-initrd I --boot-append ARGS
#                  boot a disk image with its own kernel (aarch64); the image's systemd must run
#                  lab-run.service itself, with the share at /lab and the repo at /repo (9p tags
#                  labshare, labrepo); writes to IMG are discarded (snapshot)
#
# Exit status of `run`: the guest script's exit status (then the host check's, if any);
# 70 when the lab itself failed (no guest exit code came back, QEMU died, timeout, setup error).
set -euo pipefail

LAB_ERR=70
die() { echo "devlab: ERROR: $*" >&2; exit "$LAB_ERR"; }
note() { echo "devlab: $*" >&2; }

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/devlab"
REPO_ROOT="$(cd "$LAB_DIR/../.." && pwd)"
CACHE="${ATELIER_CACHE:-$HOME/.cache/atelier}/devlab"
ARCH=x86_64

usage() {
  sed -n '6,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# Architecture-specific facts.
set_arch() {
  case "$ARCH" in
    x86_64)
      DEB_ARCH=amd64; KFLAVOUR=amd64; QEMU=qemu-system-x86_64; QEMU_PKG=qemu-system-x86
      CONSOLE=ttyS0 ;;
    aarch64)
      DEB_ARCH=arm64; KFLAVOUR=arm64; QEMU=qemu-system-aarch64; QEMU_PKG=qemu-system-arm
      CONSOLE=ttyAMA0 ;;
    *) die "unknown --arch '$ARCH' (x86_64 or aarch64)" ;;
  esac
  ARCH_CACHE="$CACHE/$ARCH"
}

# ---------------------------------------------------------------------------------------------
# Host packages (apt-get update for the downloads of guest kernels and modules).
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    note "apt-get update"
    apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

need_root() {
  [ "$(id -u)" = 0 ] || die "setup must install packages and needs root (run as root or via sudo)"
}

# QEMU (from bookworm-backports on Debian 12) and the lab's tools: scripts/host-packages.sh.
ensure_host_packages() {
  command -v apt-get >/dev/null || die "the device lab needs a Debian host (apt-get not found)"
  "$REPO_ROOT/scripts/host-packages.sh" "lab-$ARCH" || die "could not install the lab's packages (lab-$ARCH)"
  command -v "$QEMU" >/dev/null || die "$QEMU not found after installing the lab's packages"
}

# ---------------------------------------------------------------------------------------------
# Guest kernel: Debian's current linux-image-<abi>-<flavour>, unpacked and depmod'ed.
apt_download() { # spec... (name:arch, or name for Architecture: all) -> $CACHE/debs (cached)
  mkdir -p "$CACHE/debs"
  local p missing=()
  for p in "$@"; do
    local name="${p%%:*}" want_arch="${p#*:}"
    [ "$want_arch" = "$p" ] && want_arch=""
    # Cached already? Package files are named name_version_arch.deb.
    compgen -G "$CACHE/debs/${name}_*_${want_arch:-*}.deb" >/dev/null || missing+=("$p")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  note "downloading ${missing[*]}"
  local try
  for try in 1 2; do
    # apt-get download warns that root downloads unsandboxed into a root-owned directory.
    if (cd "$CACHE/debs" && apt-get download -q "${missing[@]}" 2>&1 \
          | grep -v -e 'unsandboxed' -e '^Get:' -e '^Fetched' >&2; exit "${PIPESTATUS[0]}"); then
      return 0
    fi
    [ "$try" = 1 ] && { APT_UPDATED=0; apt_update_once; }
  done
  die "apt-get download ${missing[*]} failed"
}

deb_file() { # name [arch] -> path of the cached .deb (newest version)
  local f
  f="$(ls -1 "$CACHE/debs/${1}_"*"_${2:-*}.deb" 2>/dev/null | sort -V | tail -n1)"
  [ -n "$f" ] || die "no cached .deb for $1"
  echo "$f"
}

kernel_abi_pkg() { # -> linux-image-6.1.0-NN-<flavour>
  local dep
  dep="$(apt-cache depends "linux-image-$KFLAVOUR${1:-}" 2>/dev/null \
         | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
  if [ -z "$dep" ]; then
    apt_update_once
    dep="$(apt-cache depends "linux-image-$KFLAVOUR${1:-}" 2>/dev/null \
           | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
  fi
  dep="${dep%%:*}"
  [ -n "$dep" ] || die "cannot resolve the kernel ABI from 'apt-cache depends linux-image-$KFLAVOUR'"
  echo "$dep"
}

ensure_arch_enabled() {
  [ "$DEB_ARCH" = "$(dpkg --print-architecture)" ] && return 0
  if ! dpkg --print-foreign-architectures | grep -qx "$DEB_ARCH"; then
    need_root
    note "dpkg --add-architecture $DEB_ARCH"
    dpkg --add-architecture "$DEB_ARCH"
    APT_UPDATED=0
  fi
  if ! apt-cache show "busybox-static:$DEB_ARCH" >/dev/null 2>&1; then apt_update_once; fi
}

ensure_kernel() {
  local pkg kver kdir
  if [ "$DEB_ARCH" != "$(dpkg --print-architecture)" ]; then
    ensure_arch_enabled
    pkg="$(kernel_abi_pkg ":$DEB_ARCH")"
  else
    pkg="$(kernel_abi_pkg)"
  fi
  kver="${pkg#linux-image-}"
  kdir="$ARCH_CACHE/$kver"
  if [ ! -f "$kdir/.unpacked" ]; then
    apt_download "$pkg:$DEB_ARCH"
    rm -rf "$kdir"; mkdir -p "$kdir"
    note "unpacking $pkg"
    dpkg-deb -x "$(deb_file "$pkg" "$DEB_ARCH")" "$kdir/root"
    depmod -b "$kdir/root" "$kver" || die "depmod failed for $kver"
    touch "$kdir/.unpacked"
  fi
  if [ "$ARCH" = x86_64 ] && [ ! -f "$kdir/vmlinux" ]; then
    extract_vmlinux "$kdir/root/boot/vmlinuz-$kver" "$kdir/vmlinux" || rm -f "$kdir/vmlinux"
  fi
  echo "$kver" >"$ARCH_CACHE/current"
}

# x86_64 boots ~2.5 s faster from the uncompressed ELF vmlinux (PVH entry) than from bzImage.
extract_vmlinux() { # vmlinuz out
  local off
  off="$(LC_ALL=C grep -obUaP '\xFD\x37\x7A\x58\x5A\x00' "$1" | head -n1 | cut -d: -f1)" || return 1
  [ -n "$off" ] || return 1
  tail -c +"$((off + 1))" "$1" | xz -dc --single-stream >"$2.tmp" 2>/dev/null || true
  if [ "$(head -c4 "$2.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
    mv "$2.tmp" "$2"
  else
    rm -f "$2.tmp"; return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Initramfs: static busybox + the virtio/9p/overlay modules + scripts/devlab/init.sh.
INITRD_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

initramfs_stamp() {
  (cat "$LAB_DIR/init.sh"; echo "${INITRD_MODULES[*]}") | sha256sum | cut -c1-16
}

ensure_initramfs() {
  local kver kdir busybox
  kver="$(cat "$ARCH_CACHE/current")"; kdir="$ARCH_CACHE/$kver"
  local out="$kdir/initramfs.cpio.gz"
  local stamp; stamp="$(initramfs_stamp)"
  if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  if [ "$ARCH" = x86_64 ]; then
    busybox=/bin/busybox
  else
    busybox="$(guest_root)/bin/busybox"
  fi
  [ -x "$busybox" ] || die "static busybox missing at $busybox"
  file_is_static "$busybox" || die "$busybox is not static (install busybox-static)"
  local tmp; tmp="$(mktemp -d)"
  mkdir -p "$tmp"/{bin,dev,proc,sys,mnt/lower,mnt/rw,mnt/root,mnt/share,mnt/keep,modules}
  cp "$busybox" "$tmp/bin/busybox"
  ln -s busybox "$tmp/bin/sh"
  cp "$LAB_DIR/init.sh" "$tmp/init"; chmod 755 "$tmp/init"
  local line n=0
  : >"$tmp/modules/order"
  while read -r line; do
    case "$line" in
      insmod\ *)
        local ko; ko="$(echo "$line" | awk '{print $2}')"
        # modprobe -d prints the path with the base dir prefixed.
        [ -f "$ko" ] || ko="$kdir/root$ko"
        [ -f "$ko" ] || die "initramfs module not found: $line"
        n=$((n + 1))
        cp "$ko" "$tmp/modules/$(printf %02d "$n")-$(basename "$ko")"
        echo "$(printf %02d "$n")-$(basename "$ko")" >>"$tmp/modules/order" ;;
      builtin\ *) ;;
      *) die "unexpected modprobe --show-depends output: $line" ;;
    esac
  done < <(modprobe -d "$kdir/root" -S "$kver" --show-depends -a "${INITRD_MODULES[@]}" \
           | awk '!seen[$0]++')
  [ "$n" -gt 0 ] || die "no initramfs modules resolved"
  (cd "$tmp" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out.tmp"
  mv "$out.tmp" "$out"; echo "$stamp" >"$out.stamp"
  rm -rf "$tmp"
  note "initramfs $out ($(du -h "$out" | cut -f1), $n modules)"
}

file_is_static() { # no PT_INTERP program header (readelf comes with binutils, a gcc dependency)
  command -v readelf >/dev/null || die "readelf not found (install binutils)"
  ! readelf -l "$1" 2>/dev/null | grep -q INTERP
}

# ---------------------------------------------------------------------------------------------
# aarch64 guest root: the Depends closure of these arm64 packages, unpacked with dpkg-deb -x
# (maintainer scripts need not run). The repo is mounted at /repo, the run share at /lab.
ARM64_ROOT_PKGS=(busybox-static dash bash coreutils kmod v4l-utils libdrm-tests
  libjpeg-turbo-progs procps grep sed findutils util-linux mawk)
ARM64_ROOT_EXCLUDE=debconf,cdebconf,perl-base,perl,dpkg,init-system-helpers,install-info,usrmerge,usr-is-merged,base-files,debianutils,libpam-modules,libpam-runtime,login,sensible-utils

guest_root() { echo "$ARCH_CACHE/root"; }
guest_root_stamp() { echo "${ARM64_ROOT_PKGS[*]} / $ARM64_ROOT_EXCLUDE / awk"; }

deb_for_spec() { # name:arch | name (Architecture: all)
  case "$1" in *:*) deb_file "${1%%:*}" "${1#*:}" ;; *) deb_file "$1" all ;; esac
}

ensure_guest_root() {
  [ "$ARCH" = x86_64 ] && return 0   # x86_64 guests use the host's / as their root.
  local root; root="$(guest_root)"
  if [ -f "$root/.unpacked" ] && [ "$(cat "$root/.unpacked")" = "$(guest_root_stamp)" ]; then
    return 0
  fi
  ensure_arch_enabled
  note "resolving the $DEB_ARCH guest root's packages (apt-cache, ~15 s)"
  local specs
  specs="$("$(python_bin)" "$LAB_DIR/labhost.py" deb-closure "$DEB_ARCH" "$ARM64_ROOT_EXCLUDE" \
           "${ARM64_ROOT_PKGS[@]}")" || die "resolving the $DEB_ARCH package closure failed"
  # shellcheck disable=SC2086
  apt_download $specs
  rm -rf "$root"; mkdir -p "$root"
  local p
  for p in $specs; do dpkg-deb -x "$(deb_for_spec "$p")" "$root"; done
  # Merge /bin, /sbin, /lib into /usr as a merged-/usr system would.
  local d
  for d in bin sbin lib; do
    if [ -d "$root/$d" ] && [ ! -L "$root/$d" ]; then
      mkdir -p "$root/usr/$d"; cp -a "$root/$d/." "$root/usr/$d/"; rm -rf "${root:?}/$d"
    fi
    ln -sfn "usr/$d" "$root/$d"
  done
  ln -sfn dash "$root/usr/bin/sh"
  ln -sfn mawk "$root/usr/bin/awk"   # normally made by update-alternatives in mawk's postinst
  mkdir -p "$root"/{proc,sys,dev,tmp,run,root,etc,mnt,lab,repo,var/tmp}
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  echo "$specs" >"$root/.pkgs"
  guest_root_stamp >"$root/.unpacked"
  note "$DEB_ARCH guest root unpacked in $root ($(du -sh "$root" | cut -f1), $(echo "$specs" | wc -w) packages)"
}

# ---------------------------------------------------------------------------------------------
# v4l2loopback, built out of tree against the guest kernel's headers and installed into the
# cached module tree (modules/<kver>/updates), so `modprobe v4l2loopback` works in the guest.
ensure_v4l2loopback() {
  local kver kdir; kver="$(cat "$ARCH_CACHE/current")"; kdir="$ARCH_CACHE/$kver"
  local ko="$kdir/root/lib/modules/$kver/updates/v4l2loopback.ko"
  [ -f "$ko" ] && return 0
  need_root
  local abi="${kver%-"$KFLAVOUR"}"            # 6.1.0-56
  local kbuild_pkg
  kbuild_pkg="$(apt-cache depends "linux-headers-$kver" 2>/dev/null \
                | awk '/Depends: linux-kbuild-/ {print $2; exit}')"
  kbuild_pkg="${kbuild_pkg%%:*}"
  [ -n "$kbuild_pkg" ] || die "cannot find the linux-kbuild package for linux-headers-$kver"
  if [ "$DEB_ARCH" = "$(dpkg --print-architecture)" ]; then
    apt_download "linux-headers-$kver:$DEB_ARCH" "linux-headers-$abi-common:all" \
                 v4l2loopback-dkms "$kbuild_pkg:$(dpkg --print-architecture)"
  else
    ensure_arch_enabled   # the cross compiler comes with ensure_host_packages
    apt_download "linux-headers-$kver:$DEB_ARCH" "linux-headers-$abi-common:all" \
                 v4l2loopback-dkms "$kbuild_pkg:$(dpkg --print-architecture)"
  fi
  local b="$CACHE/v4l2loopback-build/$ARCH-$kver"
  rm -rf "$b"; mkdir -p "$b/tree"
  dpkg-deb -x "$(deb_file "linux-headers-$kver" "$DEB_ARCH")" "$b/tree"
  dpkg-deb -x "$(deb_file "linux-headers-$abi-common" all)" "$b/tree"
  dpkg-deb -x "$(deb_file "$kbuild_pkg" "$(dpkg --print-architecture)")" "$b/tree"
  dpkg-deb -x "$(deb_file v4l2loopback-dkms all)" "$b/tree"
  local hdr="$b/tree/usr/src/linux-headers-$kver"
  [ -d "$hdr" ] || die "headers not found at $hdr"
  # The headers' Makefile includes /usr/src/linux-headers-<abi>-common/Makefile by absolute
  # path: point it at the unpacked tree. (scripts/ and tools/ are relative links into
  # usr/lib/linux-kbuild-*, which resolve inside the tree.)
  sed -i "s#/usr/src/#$b/tree/usr/src/#g" "$hdr/Makefile"
  local src; src="$(ls -d "$b"/tree/usr/src/v4l2loopback-* | head -n1)"
  [ -d "$src" ] || die "v4l2loopback source not found in v4l2loopback-dkms"
  note "building v4l2loopback ($(basename "$src")) for $kver"
  local mk=(make -C "$hdr" M="$src" modules)
  if [ "$ARCH" = aarch64 ]; then
    # .kernelvariables derives CROSS_COMPILE from the DEB_* variables.
    mk+=(ARCH=arm64 DEB_BUILD_ARCH="$(dpkg --print-architecture)" DEB_HOST_ARCH=arm64
         DEB_HOST_GNU_TYPE=aarch64-linux-gnu CROSS_COMPILE=aarch64-linux-gnu-)
  fi
  "${mk[@]}" >"$b/build.log" 2>&1 || { tail -n 30 "$b/build.log" >&2; die "v4l2loopback build failed (log: $b/build.log)"; }
  mkdir -p "$(dirname "$ko")"
  cp "$src/v4l2loopback.ko" "$ko"
  depmod -b "$kdir/root" "$kver" || die "depmod failed"
  rm -rf "$b/tree"   # 85 MB of headers; the .debs stay cached
  note "v4l2loopback installed as $ko"
}

# mjpeg-feed: host-built C producer for v4l2loopback (x86_64 guests run host binaries).
ensure_mjpeg_feed() {
  local src="$LAB_DIR/mjpeg-feed.c" out="$CACHE/bin/$ARCH/mjpeg-feed"
  [ -f "$src" ] || die "$src missing"
  if [ -x "$out" ] && [ "$out" -nt "$src" ]; then return 0; fi
  mkdir -p "$(dirname "$out")"
  local cc=gcc
  [ "$ARCH" = aarch64 ] && cc=aarch64-linux-gnu-gcc
  command -v "$cc" >/dev/null || die "$cc not found"
  "$cc" -O2 -Wall -Wextra -static -o "$out.tmp" "$src" || die "building mjpeg-feed failed"
  mv "$out.tmp" "$out"
}

# Everything `setup` makes is in place: `run` then skips the apt/dpkg queries (~1 s). It does
# not look for a newer Debian kernel ABI; `setup` does.
setup_ready() {
  [ -f "$ARCH_CACHE/current" ] || return 1
  local kver kdir; kver="$(cat "$ARCH_CACHE/current")"; kdir="$ARCH_CACHE/$kver"
  [ -f "$kdir/.unpacked" ] && [ -f "$kdir/initramfs.cpio.gz" ] || return 1
  [ "$(cat "$kdir/initramfs.cpio.gz.stamp" 2>/dev/null)" = "$(initramfs_stamp)" ] || return 1
  [ -f "$kdir/root/lib/modules/$kver/updates/v4l2loopback.ko" ] || return 1
  [ "$CACHE/bin/$ARCH/mjpeg-feed" -nt "$LAB_DIR/mjpeg-feed.c" ] || return 1
  command -v "$QEMU" >/dev/null || return 1
  if [ "$ARCH" = x86_64 ]; then
    command -v v4l2-ctl >/dev/null && command -v modetest >/dev/null || return 1
  else
    [ -f "$(guest_root)/.unpacked" ] || return 1
    [ "$(cat "$(guest_root)/.unpacked")" = "$(guest_root_stamp)" ] || return 1
  fi
}

setup() {
  ensure_host_packages
  ensure_kernel
  ensure_guest_root
  ensure_initramfs
  ensure_mjpeg_feed
  ensure_v4l2loopback
}

# ---------------------------------------------------------------------------------------------
# run
WATCH_PID=""; RUN_DIR=""; KEEP=0
cleanup() {
  [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null || true
  # QEMU of this run, if still up (interrupted): its pid file names it.
  if [ -n "$RUN_DIR" ] && [ -f "$RUN_DIR/qemu.pid" ] && [ ! -f "$RUN_DIR/qemu.rc" ]; then
    kill "$(cat "$RUN_DIR/qemu.pid")" 2>/dev/null || true
    sleep 1
  fi
  if [ -n "$RUN_DIR" ]; then
    if [ "$KEEP" = 0 ]; then rm -rf "$RUN_DIR"; else note "kept the run directory $RUN_DIR"; fi
  fi
}

python_bin() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3 || die "python3 not found"; fi
}

run_guest() {
  local out="" timeout=1800 mem=1G envs=() custom_root="" init=script copy_large=0
  local disk="" boot_kernel="" boot_initrd="" boot_append=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --root) custom_root="$(realpath "$2")"; shift 2 ;;
      --systemd) init=systemd; shift ;;
      --copy-large) copy_large=1; shift ;;
      --disk) disk="$(realpath "$2")"; shift 2 ;;
      --boot-kernel) boot_kernel="$(realpath "$2")"; shift 2 ;;
      --boot-initrd) boot_initrd="$(realpath "$2")"; shift 2 ;;
      --boot-append) boot_append="$2"; shift 2 ;;
      --out) out="$2"; shift 2 ;;
      --out=*) out="${1#*=}"; shift ;;
      --timeout) timeout="$2"; shift 2 ;;
      --mem) mem="$2"; shift 2 ;;
      --env) envs+=("$2"); shift 2 ;;
      --keep) KEEP=1; shift ;;
      --) shift; break ;;
      -*) die "unknown run option $1" ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || die "run: missing <guest-script>"
  [ "$init" = script ] || [ -n "$custom_root" ] || die "run: --systemd needs --root"
  [ -z "$custom_root" ] || [ -e "$custom_root/bin/sh" ] || die "run: --root $custom_root has no /bin/sh"
  if [ -n "$disk" ]; then
    [ -f "$disk" ] && [ -f "$boot_kernel" ] && [ -f "$boot_initrd" ] \
      || die "run: --disk needs an image, --boot-kernel and --boot-initrd"
    custom_root=/   # only for the guest-side paths below: the disk brings its own root
  fi
  local script="$1"; shift
  [ -f "$script" ] || die "guest script not found: $script"
  script="$(cd "$(dirname "$script")" && pwd)/$(basename "$script")"
  case "$script" in
    "$REPO_ROOT"/*) ;;
    /tmp/*) die "guest script $script is under /tmp, which the guest replaces with a fresh tmpfs; put it in the repo" ;;
  esac
  local name; name="$(basename "$script")"; name="${name%.sh}"
  [ -n "$out" ] || out="$REPO_ROOT/out/devlab/$name"
  mkdir -p "$out"; out="$(cd "$out" && pwd)"
  if [ -n "$(ls -A "$out")" ] && [ ! -f "$out/.devlab-out" ]; then
    die "--out $out is not empty and was not made by devlab; refusing to overwrite"
  fi
  find "$out" -mindepth 1 -delete
  touch "$out/.devlab-out"

  setup_ready || setup
  local kver kdir; kver="$(cat "$ARCH_CACHE/current")"; kdir="$ARCH_CACHE/$kver"

  RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/devlab.XXXXXX")"
  trap cleanup EXIT
  trap 'die "interrupted"' INT TERM
  local share="$RUN_DIR/share"
  mkdir -p "$share/.lab/req"
  chmod 777 "$share"

  # Guest-side runner and config (read by init.sh and run inside the chroot).
  local root_src=/ repo_in_guest="$REPO_ROOT" script_in_guest="$script"
  if [ "$ARCH" = aarch64 ] || [ -n "$custom_root" ]; then
    # The arm64 root is a directory of unpacked debs; the repo appears at /repo read-only.
    root_src="${custom_root:-$(guest_root)}"; repo_in_guest=/repo
    case "$script" in
      "$REPO_ROOT"/*) script_in_guest="/repo/${script#"$REPO_ROOT"/}" ;;
      *) die "the guest script must live inside the repo ($REPO_ROOT)" ;;
    esac
  fi
  {
    echo "LAB_REPO='$REPO_ROOT'"
    echo "LAB_REPO_GUEST='$repo_in_guest'"
    echo "LAB_ARCH='$ARCH'"
    echo "LAB_INIT='$init'"
  } >"$share/.lab/config"
  {
    echo "#!/bin/sh"
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    echo "export HOME=/root TERM=dumb LANG=C.UTF-8"
    echo "export LAB_SHARE=/lab LAB_ARCH=$ARCH LAB_REPO=$(printf %q "$repo_in_guest")"
    echo "export LAB_LIB=$(printf %q "$repo_in_guest/scripts/devlab/guest-lib.sh")"
    echo "export LAB_SCENARIO=$(printf %q "$name")"
    if [ "$ARCH" = x86_64 ] && [ -z "$custom_root" ]; then
      echo "export LAB_MJPEG_FEED=$(printf %q "$CACHE/bin/$ARCH/mjpeg-feed")"
    else
      echo "export LAB_MJPEG_FEED=/lab/.lab/mjpeg-feed"
    fi
    local e
    for e in "${envs[@]}"; do
      case "$e" in *=*) echo "export ${e%%=*}=$(printf %q "${e#*=}")" ;; *) die "--env needs K=V" ;; esac
    done
    echo "cd $(printf %q "$repo_in_guest") || exit 99"
    local cmd; cmd="$(printf '%q ' "$script_in_guest" "$@")"
    if [ -x "$script" ]; then echo "$cmd"; else echo "sh $cmd"; fi
  } >"$share/.lab/run.sh"
  # (printf %q may emit bash-only $'..' quoting: init.sh runs run.sh with bash when present.)
  # The arm64 root holds only unpacked debs: the static mjpeg-feed travels in the share.
  if [ "$ARCH" = aarch64 ] || [ -n "$custom_root" ]; then cp "$CACHE/bin/$ARCH/mjpeg-feed" "$share/.lab/mjpeg-feed"; fi

  local qmp="$RUN_DIR/qmp.sock" log="$RUN_DIR/console.log"
  local py; py="$(python_bin)"
  "$py" "$LAB_DIR/labhost.py" watch "$qmp" "$share" >"$RUN_DIR/watcher.log" 2>&1 &
  WATCH_PID=$!

  local append="console=$CONSOLE panic=-1 quiet loglevel=3 mitigations=off"
  # systemd as PID 1: no login prompts on the screen, or on the console the log is read from.
  [ "$init" = script ] || append+=" systemd.show_status=0 systemd.mask=getty@tty1.service systemd.mask=serial-getty@$CONSOLE.service"
  local qargs=(-nodefaults -no-reboot -display none -m "$mem" -smp 2 -accel tcg
               -chardev stdio,id=ser0,signal=on -serial chardev:ser0
               -qmp "unix:$qmp,server=on,wait=off"
               -virtfs "local,path=$share,mount_tag=labshare,security_model=none,multidevs=remap")
  if [ -n "$disk" ]; then
    # The image's own kernel, initrd and root; it mounts the share and the repo itself.
    qargs+=(-append "console=$CONSOLE panic=-1 $boot_append" -kernel "$boot_kernel" -initrd "$boot_initrd"
            -drive "file=$disk,if=virtio,format=raw,snapshot=on")
  else
    qargs+=(-initrd "$kdir/initramfs.cpio.gz" -append "$append"
            -virtfs "local,path=$root_src,mount_tag=labroot,security_model=none,readonly=on,multidevs=remap"
            -virtfs "local,path=$kdir/root/lib/modules/$kver,mount_tag=labmods,security_model=none,readonly=on,multidevs=remap")
  fi
  if [ "$ARCH" = x86_64 ]; then
    local kernel="$kdir/vmlinux"
    [ -f "$kernel" ] || kernel="$kdir/root/boot/vmlinuz-$kver"
    qargs+=(-M pc -cpu max -device bochs-display)
    [ -n "$disk" ] || qargs+=(-kernel "$kernel")
    [ -z "$custom_root" ] || qargs+=(-virtfs "local,path=$REPO_ROOT,mount_tag=labrepo,security_model=none,readonly=on,multidevs=remap")
  else
    qargs+=(-M virt -cpu cortex-a76 -device virtio-gpu-pci
            -virtfs "local,path=$REPO_ROOT,mount_tag=labrepo,security_model=none,readonly=on,multidevs=remap")
    [ -n "$disk" ] || qargs+=(-kernel "$kdir/root/boot/vmlinuz-$kver")
  fi

  note "booting $ARCH guest ($kver) for $(basename "$script")"
  local t0; t0="$(date +%s.%N)"
  set +e
  # QEMU's stdin is /dev/null (no raw terminal); the serial console goes to stdout and the log.
  { timeout -k 10 "$timeout" "$QEMU" "${qargs[@]}" -pidfile "$RUN_DIR/qemu.pid" </dev/null
    echo $? >"$RUN_DIR/qemu.rc"; } 2>&1 | tee "$log" &
  wait $!
  set -e
  local qrc; qrc="$(cat "$RUN_DIR/qemu.rc" 2>/dev/null || echo unknown)"
  local t1; t1="$(date +%s.%N)"
  kill "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; WATCH_PID=""
  local wall; wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"

  # Collect results. (No `sync`: the files are complete in the page cache, and a host-wide sync
  # can stall for a minute behind a concurrent cargo build.)
  sed 's/\r$//' "$log" >"$out/console.log"
  cp "$RUN_DIR/watcher.log" "$out/watcher.log"
  # Every top-level file of the share comes back (screendumps, logs, captures), except files
  # over 64 MiB (binaries a scenario staged there): those are named, not copied.
  local f
  for f in "$share"/*; do
    [ -f "$f" ] || continue
    if [ "$copy_large" = 0 ] && [ "$(stat -c %s "$f")" -gt $((64 << 20)) ]; then
      note "not copying $(basename "$f") ($(du -h "$f" | cut -f1)) from the share to $out"
    else
      cp "$f" "$out/"
    fi
  done
  if compgen -G "$out/*.ppm" >/dev/null; then
    "$py" "$LAB_DIR/labhost.py" ppm2png "$out"/*.ppm || die "PPM to PNG conversion failed"
  fi

  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    die "guest timed out after ${timeout}s (console: $out/console.log)"
  fi
  if [ ! -f "$share/.lab/rc" ]; then
    tail -n 20 "$out/console.log" >&2 || true
    die "guest produced no exit code (QEMU exit $qrc; kernel panic or init failure?); console: $out/console.log"
  fi
  local rc; rc="$(cat "$share/.lab/rc")"
  echo "$rc" >"$out/rc"
  local times; times="$(awk '/^boot/ {b=$2} /^end/ {e=$2} END {printf "boot %.1fs, script %.1fs", b, e-b}' "$share/.lab/times")"
  printf 'wall %ss (host: QEMU start to exit)\n%s (guest clock)\n' "$wall" "$times" >"$out/timing.txt"
  note "guest script exit code $rc; wall ${wall}s ($times, guest clock); output in $out"
  if [ "$rc" = 0 ]; then
    local check="${script%.sh}.host.sh"
    if [ -f "$check" ]; then
      note "host check $(basename "$check")"
      set +e
      (cd "$REPO_ROOT" && LAB_OUT="$out" LAB_ARCH="$ARCH" LAB_PY="$py" \
         LAB_HOST="$LAB_DIR/labhost.py" bash "$check")
      rc=$?
      set -e
      [ "$rc" = 0 ] || note "host check failed with $rc"
    fi
  else
    note "guest script failed; host check (if any) not run"
  fi
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
main() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --arch) ARCH="$2"; shift 2 ;;
      --arch=*) ARCH="${1#*=}"; shift ;;
      -h|--help) usage ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || usage
  set_arch
  # One lab at a time per cache (two cores: one QEMU; setup must not race itself either).
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  if ! flock -n 9; then
    note "another devlab run or setup holds $CACHE/.lock; waiting"
    flock 9
  fi
  local cmd="$1"; shift
  case "$cmd" in
    setup) setup; note "setup done ($ARCH, kernel $(cat "$ARCH_CACHE/current"))" ;;
    build-v4l2loopback) setup ;;   # part of setup; kept as an explicit name
    run) run_guest "$@" ;;
    *) usage ;;
  esac
}

main "$@"
