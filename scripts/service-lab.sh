#!/usr/bin/env bash
# The packaged mirror as a system service, for real: a clean Debian 12 root (mmdebstrap: systemd,
# udev) with the given atelier-mirror .deb installed by dpkg boots in the x86_64 device-lab guest
# with systemd as PID 1, a vivid camera and the bochs screen; scripts/devlab/scenarios/service.sh
# then checks start-up, the screen, the watchdog and the start limit (see there).
#
#   scripts/service-lab.sh [--suite bookworm|trixie] ATELIER_MIRROR_DEB
#
# bookworm (Debian 12, systemd 252, as Raspberry Pi OS bookworm) by default; trixie (Debian 13,
# systemd 257) also shows the growing delay between restarts that 252 cannot do.
#
# The lab's settings, written over the package's defaults as an operator would: the camera at
# 320x180, the model at 64x40 (TCG runs the generator ~50x slower than this machine), the style
# on the whole picture and presence off (vivid's picture has no person in it), and WatchdogSec=10s in a drop-in so a hang is caught in seconds (the unit ships 30 s).
set -euo pipefail
cd "$(dirname "$0")/.."
suite=bookworm
[ "${1:-}" = --suite ] && { suite=$2; shift 2; }
[ $# = 1 ] && [ -f "$1" ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
deb=$(realpath "$1")
root=$PWD/out/service-root-$suite
name=service$([ "$suite" = bookworm ] || echo "-$suite")
scripts/host-packages.sh lab-x86_64
rm -rf "$root"
echo "service-lab: building a Debian $suite guest root with $(basename "$deb") installed (mmdebstrap)" >&2
mmdebstrap --quiet --variant=apt --include=systemd,systemd-sysv,udev,kmod,procps "$suite" "$root" \
  http://deb.debian.org/debian \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" dpkg -i /tmp/$(basename "$deb")" \
  --customize-hook="rm \"\$1\"/tmp/$(basename "$deb")"
echo vivid >"$root/etc/modules-load.d/atelier-lab.conf"
cat >"$root/etc/atelier/mirror.toml" <<'TOML'
# device lab (scripts/service-lab.sh)
input = "/dev/video0"
output = "drm:"
capture_size = "320x180"
model_size = "64x40"
presence = "off"
stylize = "all"
show_fps = true
TOML
mkdir -p "$root/etc/systemd/system/atelier-mirror.service.d"
printf '[Service]\nWatchdogSec=10s\n' >"$root/etc/systemd/system/atelier-mirror.service.d/lab.conf"
exec scripts/devlab.sh run --root "$root" --systemd --timeout 1200 --out "out/devlab/$name" \
  scripts/devlab/scenarios/service.sh
