#!/bin/sh
# The Raspberry Pi image's own stage, run by scripts/pi-image.sh in a chroot (qemu-user) on a copy
# of the cached base root (base.sh): installs the mirror's .deb (its maintainer scripts are arm64
# programs) and enables the first-boot units.
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
mkdir -p /etc/dpkg/dpkg.cfg.d
echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/atelier-image-build
dpkg -i /root/atelier-mirror.deb
rm -f /root/atelier-mirror.deb /etc/dpkg/dpkg.cfg.d/atelier-image-build
systemctl enable atelier-boot-settings.service atelier-grow-root.service
rm -rf /var/log/*.log
