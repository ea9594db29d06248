#!/bin/sh
# The Raspberry Pi image's own stage, run by scripts/pi-image.sh inside the aarch64 device-lab
# guest booted on a copy of the cached base root (base.sh, base-stage2.sh): installs the mirror's
# .deb (its maintainer scripts are arm64 programs), enables the first-boot units, and writes the
# finished root as /lab/root.tar.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
uptime_s() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN {printf "%.0f", b - a}'; }
t0=$(uptime_s)
mkdir -p /etc/dpkg/dpkg.cfg.d
echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/atelier-image-build
dpkg -i /root/atelier-mirror.deb
rm -f /root/atelier-mirror.deb /etc/dpkg/dpkg.cfg.d/atelier-image-build
systemctl enable atelier-boot-settings.service atelier-grow-root.service
rm -rf /var/log/*.log
deb=$(since "$t0") t1=$(uptime_s)
# The lab's own mount points are in the overlay too: leave them out.
tar --one-file-system --numeric-owner --exclude=./lab --exclude=./repo -C / -cf "$LAB_SHARE/root.tar" .
echo "atelier-mirror $deb s, root.tar $(du -m "$LAB_SHARE/root.tar" | cut -f1) MB in $(since "$t1") s (TCG)" \
  | tee "$LAB_SHARE/stage2-times.txt"
