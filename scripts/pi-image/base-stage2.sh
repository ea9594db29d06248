#!/bin/sh
# The Raspberry Pi image's base root, second half, run by scripts/pi-image.sh inside the aarch64
# device-lab guest booted on the root base.sh unpacked (arm64 maintainer scripts cannot run on
# the x86_64 build machine: it has no binfmt_misc): configures every package, makes the
# kernel's initrd once, and writes the root as /lab/root.tar, which pi-image.sh caches. The
# root's writes land in the guest's tmpfs overlay (writing each file through 9p took over 10
# minutes for the first half of the unpacking alone), and dpkg skips its fsyncs here (the tar
# is what is kept).
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
mkdir -p /etc/dpkg/dpkg.cfg.d
echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/atelier-image-build
uptime_s() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN {printf "%.0f", b - a}'; }
t0=$(uptime_s)
# The kernel's postinst would make the initrd and initramfs-tools' trigger make it again (each
# ~15 minutes under TCG): INITRD=No skips the first, and with no initrd yet the trigger finds
# nothing to update; it is made once below.
INITRD=No /debootstrap/debootstrap --second-stage
# debootstrap unmounts /proc when it is done.
mountpoint -q /proc || mount -t proc proc /proc
second=$(since "$t0") t1=$(uptime_s)
# -c: create; raspi-firmware's post-update hook then copies the kernel, the initrd and the
# device trees into /boot/firmware and writes config.txt and cmdline.txt.
update-initramfs -c -k all
[ -f /boot/firmware/config.txt ] || { echo "raspi-firmware did not populate /boot/firmware" >&2; exit 1; }
initrd=$(since "$t1")
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log
# No root password, no ssh: the mirror is run through its control API and serial line; the
# journal is on the card (journalctl with the card in another computer) and in `atelier ctl`.
passwd -l root
rm /etc/dpkg/dpkg.cfg.d/atelier-image-build
echo "second stage $second s, initrd $initrd s (TCG)" | tee "$LAB_SHARE/base-times.txt"
ls /boot/firmware >"$LAB_SHARE/firmware-files.txt"
# The lab's own mount points are in the overlay too: leave them out.
t3=$(uptime_s)
tar --one-file-system --numeric-owner --exclude=./lab --exclude=./repo -C / -cf "$LAB_SHARE/root.tar" .
echo "root.tar $(du -m "$LAB_SHARE/root.tar" | cut -f1) MB in $(since "$t3") s" | tee -a "$LAB_SHARE/base-times.txt"
