#!/usr/bin/env bash
# Builds a flashable Raspberry Pi SD card image from Debian's arm64 packages, the way Debian's own
# raspi images are made (raspi-firmware, linux-image-arm64, a FAT partition RASPIFIRM for the
# firmware and an ext4 root RASPIROOT), with atelier-mirror installed and its service enabled.
#
#   scripts/pi-image.sh [--suite bookworm] [--out out/pi/atelier-mirror-pi.img] [--test] [--fresh-base]
#                       ATELIER_MIRROR_ARM64_DEB
#   scripts/pi-image.sh [--suite bookworm] [--fresh-base] --base-only
#
#   --base-only   only make sure the base root is cached (scripts/test.sh builds it early, beside
#                 the compiler)
#   --test        then boot the image's root with the image's own kernel in the aarch64 device lab
#                 (scripts/devlab/scenarios/pi-image.sh): settings from the FAT partition, the
#                 root grown to the disk, the service up by itself with a virtual camera and
#                 display, the mirror on the screen
#   --fresh-base  rebuild the cached base root (today's Debian packages) instead of reusing it
#
# arm64 programs (maintainer scripts, the initrd's tools) run on this x86-64 machine through
# qemu-user and binfmt_misc (scripts/arm64-binfmt.sh), in a chroot, as Debian's own raspi images
# are built:
#   base  (cached) mmdebstrap installs Debian's packages, makes the initrd once and writes the
#         system's settings (scripts/pi-image/base.sh, base-customize.sh); the root is kept as a
#         tar under ~/.cache/atelier/pi-base, keyed on those two files and the suite (~12 min
#         cold; --fresh-base rebuilds it, as a release should, for today's packages)
#   own   chroot into a copy of the base: the .deb installed, the first-boot units enabled
#         (scripts/pi-image/stage2.sh, under a minute)
#   image host: the FAT and ext4 file systems are made from directories (mkfs.vfat + mtools,
#         mkfs.ext4 -d: no loop devices, no mounts) and put into a partitioned image (sfdisk)
# scripts/test.sh runs it with --test (docs/packaging.md has the times).
# Boards: the Debian 12 kernel has device trees for the Pi 4 B, Pi 400, CM4, Pi 3 and Zero 2 W,
# and none for the Pi 5: on a Pi 5 install the .deb on Raspberry Pi OS instead (README).
set -euo pipefail
cd "$(dirname "$0")/.."
suite=bookworm out=out/pi/atelier-mirror-pi.img test=0 fresh_base=0 base_only=0
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --suite) suite=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --test) test=1; shift ;;
    --fresh-base) fresh_base=1; shift ;;
    --base-only) base_only=1; shift ;;
    -*) usage ;;
    *) break ;;
  esac
done
if [ $base_only = 0 ]; then
  [ $# = 1 ] && [ -f "$1" ] || usage
  deb=$(realpath "$1")
  [ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || { echo "pi-image: $deb is not an arm64 package" >&2; exit 2; }
else
  [ $# = 0 ] || usage
fi
[ "$(id -u)" = 0 ] || { echo "pi-image: needs root (file ownership in the image)" >&2; exit 2; }
scripts/host-packages.sh pi
scripts/arm64-binfmt.sh
note() { echo "pi-image: $*" >&2; }
work=$(dirname "$out")/build
root=$work/root
mkdir -p "$work"
start=$(date +%s)
files=scripts/pi-image
# Runs an arm64 command in the chroot at $root with its own /proc, /sys and /dev: a private mount
# namespace, so nothing stays mounted on the build machine whatever happens.
in_chroot() { # log-name command...
  local log=$work/$1.log; shift
  unshare --mount --propagation private --fork sh -c '
    root=$1; shift
    mount -t proc proc "$root/proc" && mount -t sysfs sysfs "$root/sys" && mount --rbind /dev "$root/dev"
    exec chroot "$root" "$@"' sh "$root" "$@" >"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; note "$(basename "$log" .log) failed (log: $log)"; exit 1; }
}

# --- base: cached ---
cache=${ATELIER_CACHE:-$HOME/.cache/atelier}/pi-base
key=$({ echo "$suite"; cat $files/base.sh $files/base-customize.sh; } | sha256sum | cut -c1-16)
base=$cache/$suite-$key.tar
mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8 # one build of the base at a time (scripts/test.sh starts one early, in the background)
if [ $fresh_base = 1 ] || [ ! -f "$base" ]; then
  note "base: Debian $suite arm64 with mmdebstrap, maintainer scripts and the initrd under qemu-user (~12 min)"
  t=$(date +%s)
  $files/base.sh "$work/base.tar" "$suite" "$work/base.log"
  rm -f "$cache"/*.tar # one base at a time: each is ~800 MB
  mv "$work/base.tar" "$base"
  note "base cached in $(( $(date +%s) - t )) s: $base ($(grep -o 'initrd made in [0-9]* s' "$work/base.log"))"
else
  note "base: $base (cached; --fresh-base rebuilds it)"
fi
[ $base_only = 0 ] || exit 0
rm -rf "$root" && mkdir -p "$root"
tar -C "$root" --numeric-owner -xpf "$base"

# --- own: the mirror ---
t=$(date +%s)
cp "$deb" "$root/root/atelier-mirror.deb"
install -D -m 755 $files/boot-settings "$root/usr/lib/atelier/boot-settings"
install -D -m 644 $files/atelier-boot-settings.service "$root/etc/systemd/system/atelier-boot-settings.service"
install -D -m 755 $files/grow-root "$root/usr/lib/atelier/grow-root"
install -D -m 644 $files/atelier-grow-root.service "$root/etc/systemd/system/atelier-grow-root.service"
install -m 755 $files/stage2.sh "$root/root/stage2.sh"
in_chroot stage2 /root/stage2.sh
rm "$root/root/stage2.sh"
note "own: the .deb installed and the first-boot units enabled in $(( $(date +%s) - t )) s"
# The mount point of the lab kernel's modules (a kernel the image does not have).
find "$root/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d -empty -delete
[ -f "$root/boot/firmware/config.txt" ] || { note "raspi-firmware did not populate /boot/firmware"; exit 1; }
[ "$(ls "$root"/boot/initrd.img-* | wc -l)" = 1 ] || { note "expected one initrd in /boot"; exit 1; }

# --- image (host) ---
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
# And a Wi-Fi network, the same way (the guest has no radio: the test checks what is written).
printf 'ssid=Atelier Lab\r\npsk=not-a-real-key\r\ncountry=GB\r\n' >"$work/firmware-test/atelier-wifi.txt"
mkfs_image "$root" "$work/firmware-test" "$test_img"
# A card larger than the image, as every real one is: first boot grows the root into the rest.
truncate -s +256M "$test_img"
rm -rf "$work/firmware-test"
cleanup_lab
trap - EXIT
note "boot test: $(basename "$kernel") from the image, root LABEL=RASPIROOT on a virtio disk"
scripts/devlab.sh --arch aarch64 run --disk "$test_img" --boot-kernel "$kernel" --boot-initrd "$initrd" \
  --boot-append "root=LABEL=RASPIROOT rw quiet loglevel=3 systemd.show_status=0 systemd.mask=getty@tty1.service systemd.mask=serial-getty@ttyAMA0.service" \
  --timeout 1500 --out out/devlab/pi-image scripts/devlab/scenarios/pi-image.sh
# Passed: the image stays, the build's copies go (~2.5 GB).
rm -rf "$root" "$test_img" "$work/firmware"
