#!/usr/bin/env bash
# Builds a flashable Raspberry Pi SD card image from Debian's arm64 packages, the way Debian's own
# raspi images are made (raspi-firmware, linux-image-arm64, a FAT partition RASPIFIRM for the
# firmware and an ext4 root RASPIROOT), with atelier-mirror installed and its service enabled.
#
#   scripts/pi-image.sh [--suite bookworm] [--out out/pi/atelier-mirror-pi.img] [--test] ATELIER_MIRROR_ARM64_DEB
#
#   --test   then boot the image's root with the image's own kernel in the aarch64 device lab
#            (scripts/devlab/scenarios/pi-image.sh): settings from the FAT partition, the service
#            up by itself with a virtual camera and display, the mirror on the screen
#
# Three stages, because this machine cannot run arm64 programs (no binfmt_misc):
#   1. host: debootstrap --foreign unpacks the packages into out/pi/root (~40 s)
#   2. aarch64 device-lab guest (TCG), chrooted in that root (writes in the guest's memory):
#      the second stage runs every maintainer script, then the .deb is installed, and the
#      finished root comes back as a tar (stage2.sh; docs/packaging.md has the times)
#   3. host: the FAT and ext4 file systems are made from directories (mkfs.vfat + mtools,
#      mkfs.ext4 -d: no loop devices, no mounts) and put into a partitioned image (sfdisk)
# Built and boot-tested by hand (~38 min here); not in scripts/test.sh (docs/packaging.md).
# Boards: the Debian 12 kernel has device trees for the Pi 4 B, Pi 400, CM4, Pi 3 and Zero 2 W,
# and none for the Pi 5: on a Pi 5 install the .deb on Raspberry Pi OS instead (README).
set -euo pipefail
cd "$(dirname "$0")/.."
suite=bookworm out=out/pi/atelier-mirror-pi.img test=0
while [ $# -gt 1 ]; do
  case $1 in
    --suite) suite=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --test) test=1; shift ;;
    *) break ;;
  esac
done
[ $# = 1 ] && [ -f "$1" ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
deb=$(realpath "$1")
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || { echo "pi-image: $deb is not an arm64 package" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "pi-image: needs root (file ownership in the image)" >&2; exit 2; }
missing=()
for tool in debootstrap:debootstrap mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk mkfs.ext4:e2fsprogs; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; fi
note() { echo "pi-image: $*" >&2; }
work=$(dirname "$out")/build
root=$work/root
mkdir -p "$work"
start=$(date +%s)

# --- stage 1: unpack (host) ---
rm -rf "$root" "$work/firmware"
note "stage 1: debootstrap --foreign $suite arm64"
packages=systemd-sysv,udev,kmod,fdisk,e2fsprogs,linux-image-arm64,raspi-firmware,initramfs-tools,ifupdown,isc-dhcp-client,wpasupplicant,firmware-brcm80211,dosfstools,procps,ca-certificates
debootstrap --foreign --arch=arm64 --variant=minbase --components=main,non-free-firmware \
  --include="$packages" "$suite" "$root" http://deb.debian.org/debian >"$work/stage1.log" \
  || { tail -n 20 "$work/stage1.log" >&2; exit 1; }
# debootstrap leaves /proc a link to the build machine's when it cannot mount it here.
if [ -L "$root/proc" ]; then rm "$root/proc" && mkdir "$root/proc"; fi
cp "$deb" "$root/root/atelier-mirror.deb"
files=scripts/pi-image
install -D -m 755 $files/boot-settings "$root/usr/lib/atelier/boot-settings"
install -D -m 644 $files/atelier-boot-settings.service "$root/etc/systemd/system/atelier-boot-settings.service"
install -D -m 755 $files/grow-root "$root/usr/lib/atelier/grow-root"
install -D -m 644 $files/atelier-grow-root.service "$root/etc/systemd/system/atelier-grow-root.service"
echo 'ROOTPART=LABEL=RASPIROOT' >"$root/etc/default/raspi-firmware"
cat >"$root/etc/fstab" <<'EOF'
LABEL=RASPIROOT  /               ext4  rw,noatime,commit=60  0 1
LABEL=RASPIFIRM  /boot/firmware  vfat  rw,nofail             0 2
EOF
echo atelier-mirror >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tatelier-mirror\n' >"$root/etc/hosts"
cat >"$root/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian $suite main non-free-firmware
deb http://deb.debian.org/debian $suite-updates main non-free-firmware
deb http://deb.debian.org/debian-security $suite-security main non-free-firmware
EOF
mkdir -p "$root/etc/network/interfaces.d"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' >"$root/etc/network/interfaces"
# The Pi 4's Ethernet is end0 with the kernel's predictable names, eth0 without.
printf 'allow-hotplug end0\niface end0 inet dhcp\nallow-hotplug eth0\niface eth0 inet dhcp\n' \
  >"$root/etc/network/interfaces.d/ethernet"
# An SD card: the journal stays small (the service's own log is rate-limited too).
install -D -m 644 /dev/stdin "$root/etc/systemd/journald.conf.d/atelier-sd-card.conf" <<'EOF'
[Journal]
SystemMaxUse=64M
RuntimeMaxUse=32M
MaxRetentionSec=1month
EOF

# --- stage 2: configure (aarch64 guest) ---
note "stage 2: maintainer scripts and the .deb in the aarch64 device-lab guest (TCG)"
scripts/devlab.sh --arch aarch64 run --root "$root" --mem 3G --copy-large --timeout 5400 --out "$work/stage2" \
  scripts/pi-image/stage2.sh >"$work/stage2.log" 2>&1 \
  || { tail -n 30 "$work/stage2.log" >&2; note "stage 2 failed (log: $work/stage2.log)"; exit 1; }
cat "$work/stage2/stage2-times.txt" >&2
rm -rf "$root" && mkdir "$root"
tar -C "$root" --numeric-owner -xpf "$work/stage2/root.tar" && rm "$work/stage2/root.tar"
# The mount point of the lab kernel's modules (a kernel the image does not have).
find "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d -empty -delete
[ -f "$root/boot/firmware/config.txt" ] || { note "raspi-firmware did not populate /boot/firmware"; exit 1; }

# --- stage 3: the image (host) ---
mv "$root/boot/firmware" "$work/firmware"
mkdir "$root/boot/firmware"
mkfs_image() { # root-dir firmware-dir output
  local root_mb boot_mb=256 lead_mb=8
  root_mb=$(( $(du -sm "$1" | cut -f1) * 13 / 10 + 256 ))
  rm -f "$3" "$work/boot.img" "$work/root.img"
  mkfs.vfat -F 32 -n RASPIFIRM -C "$work/boot.img" $((boot_mb * 1024)) >/dev/null
  mcopy -s -i "$work/boot.img" "$2"/* ::/
  mkfs.ext4 -q -L RASPIROOT -d "$1" "$work/root.img" "${root_mb}M"
  truncate -s $(( (lead_mb + boot_mb + root_mb) * 1024 * 1024 )) "$3"
  sfdisk -q "$3" <<EOF
label: dos
start=${lead_mb}MiB, size=${boot_mb}MiB, type=c
start=$((lead_mb + boot_mb))MiB, type=83
EOF
  dd if="$work/boot.img" of="$3" bs=1M seek=$lead_mb conv=notrunc,sparse status=none
  dd if="$work/root.img" of="$3" bs=1M seek=$((lead_mb + boot_mb)) conv=notrunc,sparse status=none
  rm -f "$work/boot.img" "$work/root.img"
}
mkfs_image "$root" "$work/firmware" "$out"
note "image $out ($(du -h --apparent-size "$out" | cut -f1), $(( $(date +%s) - start )) s in all)"

[ $test = 1 ] || exit 0
# --- the boot test: the same root plus the lab's hooks, booted with the image's own kernel ---
test_img=$work/test.img
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)
lab_files=(etc/systemd/system/lab-run.service etc/systemd/system/multi-user.target.wants/lab-run.service
           etc/systemd/system/lab-run.service.d etc/modules-load.d/atelier-lab.conf lab repo)
cleanup_lab() { for f in "${lab_files[@]}"; do rm -rf "${root:?}/$f"; done; sed -i '/# device lab$/d' "$root/etc/fstab"; }
trap cleanup_lab EXIT
cp scripts/devlab/lab-run.service "$root/etc/systemd/system/"
ln -sf ../lab-run.service "$root/etc/systemd/system/multi-user.target.wants/lab-run.service"
install -D -m 644 /dev/stdin "$root/etc/systemd/system/lab-run.service.d/mounts.conf" <<'EOF'
[Unit]
RequiresMountsFor=/lab /repo
EOF
mkdir -p "$root/lab" "$root/repo"
cat >>"$root/etc/fstab" <<'EOF'
labshare /lab 9p trans=virtio,version=9p2000.L,msize=262144,cache=none 0 0 # device lab
labrepo /repo 9p trans=virtio,version=9p2000.L,msize=262144,ro 0 0 # device lab
EOF
echo vivid >"$root/etc/modules-load.d/atelier-lab.conf"
# The operator's settings, the way an operator gives them: a file on the FAT partition.
cp -a "$work/firmware" "$work/firmware-test"
cat >"$work/firmware-test/atelier-mirror.toml" <<'EOF'
# device lab (scripts/pi-image.sh --test)
input = "/dev/video0"
output = "drm:"
capture_size = "320x180"
model_size = "64x40"
stylize = "all"
presence = "off"
show_fps = true
EOF
mkfs_image "$root" "$work/firmware-test" "$test_img"
rm -rf "$work/firmware-test"
cleanup_lab
trap - EXIT
note "boot test: $(basename "$kernel") from the image, root LABEL=RASPIROOT on a virtio disk"
scripts/devlab.sh --arch aarch64 run --disk "$test_img" --boot-kernel "$kernel" --boot-initrd "$initrd" \
  --boot-append "root=LABEL=RASPIROOT rw quiet loglevel=3 systemd.show_status=0 systemd.mask=getty@tty1.service systemd.mask=serial-getty@ttyAMA0.service" \
  --timeout 1500 --out out/devlab/pi-image scripts/devlab/scenarios/pi-image.sh
