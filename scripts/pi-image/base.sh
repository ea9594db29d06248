#!/usr/bin/env bash
# The Raspberry Pi image's base root: Debian's arm64 packages installed by mmdebstrap, their
# maintainer scripts run in a chroot through qemu-user (binfmt_misc: scripts/arm64-binfmt.sh), the
# kernel's initrd made once and the system's own settings written. scripts/pi-image.sh caches the
# tar it writes, keyed on the sha256 of this file and the suite: change what the base holds here.
#
#   scripts/pi-image/base.sh OUT.tar SUITE LOG
#
# ~12 minutes of one core on the 2-core build machine, most of it the initrd (MODULES=most, as
# Debian's raspi images: a few thousand short-lived arm64 processes under emulation).
set -euo pipefail
out=$1 suite=$2 log=$3
packages=systemd-sysv,udev,kmod,fdisk,e2fsprogs,linux-image-arm64,raspi-firmware,initramfs-tools,ifupdown,isc-dhcp-client,wpasupplicant,firmware-brcm80211,dosfstools,procps,ca-certificates
here=$(cd "$(dirname "$0")" && pwd)
# INITRD=No: the kernel's postinst would make the initrd and initramfs-tools' trigger make it again
# (each ~10 minutes under emulation); with no initrd yet the trigger has nothing to update, and
# the customize hook makes it once. mmdebstrap passes the environment on to the maintainer scripts.
# force-unsafe-io: dpkg skips its fsyncs (the tar is what is kept); removed before the tar is made.
INITRD=No mmdebstrap --mode=root --architectures=arm64 --variant=minbase \
  --components=main,non-free-firmware --include="$packages" \
  --setup-hook='mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && echo force-unsafe-io >"$1/etc/dpkg/dpkg.cfg.d/atelier-image-build"' \
  --customize-hook="$here/base-customize.sh \"\$1\" $suite" \
  "$suite" "$out" http://deb.debian.org/debian >"$log" 2>&1 \
  || { tail -n 30 "$log" >&2; echo "pi-image: the base root failed (log: $log)" >&2; exit 1; }
