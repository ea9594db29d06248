#!/usr/bin/env bash
# The Raspberry Pi image's base root, first (host) half: `debootstrap --foreign` unpacks Debian's
# arm64 packages into ROOT and the system's own settings are written. scripts/pi-image.sh runs
# it, then base-stage2.sh in the aarch64 guest, and caches the result keyed on the sha256 of
# these two files and the suite: change what the base holds here, not in pi-image.sh.
#
#   scripts/pi-image/base.sh ROOT SUITE LOG
set -euo pipefail
root=$1 suite=$2 log=$3
packages=systemd-sysv,udev,kmod,fdisk,e2fsprogs,linux-image-arm64,raspi-firmware,initramfs-tools,ifupdown,isc-dhcp-client,wpasupplicant,firmware-brcm80211,dosfstools,procps,ca-certificates
debootstrap --foreign --arch=arm64 --variant=minbase --components=main,non-free-firmware \
  --include="$packages" "$suite" "$root" http://deb.debian.org/debian >"$log" \
  || { tail -n 20 "$log" >&2; exit 1; }
# debootstrap leaves /proc a link to the build machine's when it cannot mount it here.
if [ -L "$root/proc" ]; then rm "$root/proc" && mkdir "$root/proc"; fi
echo 'ROOTPART=LABEL=RASPIROOT' >"$root/etc/default/raspi-firmware"
cat >"$root/etc/fstab" <<'FSTAB'
LABEL=RASPIROOT  /               ext4  rw,noatime,commit=60  0 1
LABEL=RASPIFIRM  /boot/firmware  vfat  rw,nofail             0 2
FSTAB
echo atelier-mirror >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tatelier-mirror\n' >"$root/etc/hosts"
cat >"$root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $suite main non-free-firmware
deb http://deb.debian.org/debian $suite-updates main non-free-firmware
deb http://deb.debian.org/debian-security $suite-security main non-free-firmware
SOURCES
mkdir -p "$root/etc/network/interfaces.d"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' >"$root/etc/network/interfaces"
# The Pi 4's Ethernet is end0 with the kernel's predictable names, eth0 without.
printf 'allow-hotplug end0\niface end0 inet dhcp\nallow-hotplug eth0\niface eth0 inet dhcp\n' \
  >"$root/etc/network/interfaces.d/ethernet"
# An SD card: the journal stays small (the service's own log is rate-limited too).
install -D -m 644 /dev/stdin "$root/etc/systemd/journald.conf.d/atelier-sd-card.conf" <<'JOURNAL'
[Journal]
SystemMaxUse=64M
RuntimeMaxUse=32M
MaxRetentionSec=1month
JOURNAL
