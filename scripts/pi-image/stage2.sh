#!/bin/sh
# Second stage of the Raspberry Pi image, run by scripts/pi-image.sh inside the aarch64
# device-lab guest, chrooted in the image's root (arm64 maintainer scripts cannot run on the
# x86_64 build machine: it has no binfmt_misc): configures what debootstrap unpacked, installs
# the mirror's .deb, enables the boot-partition settings, and writes the finished root as
# /lab/root.tar. The root's writes land in the guest's tmpfs overlay (writing each file through
# 9p took over 10 minutes for the first half of the unpacking alone), and dpkg skips its fsyncs
# here (the tar is what is kept).
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
mkdir -p /etc/dpkg/dpkg.cfg.d
echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/atelier-image-build
t0=$(cut -d' ' -f1 /proc/uptime)
/debootstrap/debootstrap --second-stage
# debootstrap unmounts /proc when it is done.
mountpoint -q /proc || mount -t proc proc /proc
t1=$(cut -d' ' -f1 /proc/uptime)
dpkg -i /root/atelier-mirror.deb
rm -f /root/atelier-mirror.deb
systemctl enable atelier-boot-settings.service atelier-grow-root.service
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log
# No root password, no ssh: the mirror is run through its control API and serial line; the
# journal is on the card (journalctl with the card in another computer) and in `atelier ctl`.
passwd -l root
t2=$(cut -d' ' -f1 /proc/uptime)
echo "second stage $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s, atelier-mirror $(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.0f", b - a}') s (TCG)" \
  | tee "$LAB_SHARE/stage2-times.txt"
ls /boot/firmware >"$LAB_SHARE/firmware-files.txt"
rm /etc/dpkg/dpkg.cfg.d/atelier-image-build
# The lab's own mount points are in the overlay too: leave them out.
tar --one-file-system --numeric-owner --exclude=./lab --exclude=./repo -C / -cf "$LAB_SHARE/root.tar" .
t3=$(cut -d' ' -f1 /proc/uptime)
echo "root.tar $(du -m "$LAB_SHARE/root.tar" | cut -f1) MB in $(awk -v a="$t2" -v b="$t3" 'BEGIN {printf "%.0f", b - a}') s" \
  | tee -a "$LAB_SHARE/stage2-times.txt"
