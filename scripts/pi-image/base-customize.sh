#!/usr/bin/env bash
# mmdebstrap's customize hook for the Pi image's base root (scripts/pi-image/base.sh): runs on the
# build machine with ROOT the arm64 root, every package installed; arm64 programs run through
# `chroot ROOT` (qemu-user via binfmt_misc). Part of the base's cache key with base.sh.
#
#   scripts/pi-image/base-customize.sh ROOT SUITE
set -euo pipefail
root=$1 suite=$2
echo 'ROOTPART=LABEL=RASPIROOT' >"$root/etc/default/raspi-firmware"
cat >"$root/etc/fstab" <<'FSTAB'
LABEL=RASPIROOT  /               ext4  rw,noatime,commit=60  0 1
LABEL=RASPIFIRM  /boot/firmware  vfat  rw,nofail             0 2
FSTAB
echo atelier-mirror >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tatelier-mirror\n' >"$root/etc/hosts"
# mmdebstrap copied the build machine's resolver; the image's DHCP client writes its own.
: >"$root/etc/resolv.conf"
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
# The initrd, once (-c: create); raspi-firmware's post-update hook then copies the kernel, the
# initrd and the device trees into /boot/firmware and writes config.txt and cmdline.txt.
start=$(date +%s)
chroot "$root" update-initramfs -c -k all
[ -f "$root/boot/firmware/config.txt" ] || { echo "raspi-firmware did not populate /boot/firmware" >&2; exit 1; }
echo "base: initrd made in $(( $(date +%s) - start )) s (qemu-user)"
# No root password, no ssh: the mirror is run through its control API and serial line; the
# journal is on the card (journalctl with the card in another computer) and in `atelier ctl`.
chroot "$root" passwd -l root
rm -f "$root/etc/dpkg/dpkg.cfg.d/atelier-image-build" "$root"/var/log/*.log
