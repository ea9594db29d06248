#!/bin/sh
# The Pi image's first-boot growth of the root (scripts/pi-image/grow-root) on a real kernel:
# a 64 MiB disk (loop device, partition scan) laid out like the image, a FAT partition and an
# ext4 one of 24 MiB holding a file, mounted; grow-root must grow the partition to the end of
# the disk and the file system with it while it stays mounted, keep the file and the FAT
# partition, and a second run must change nothing.
set -eu
. "$LAB_LIB"
lab_modprobe loop
lab_modprobe ext4
img=/tmp/card.img
truncate -s 64M "$img"
sfdisk -q "$img" <<'TABLE'
label: dos
start=4MiB, size=8MiB, type=c
start=12MiB, size=24MiB, type=83
TABLE
dev=$(losetup -P -f --show "$img")
lab_wait_file "${dev}p2" 5 || lab_fail "no ${dev}p2 after losetup -P"
mkfs.vfat -n RASPIFIRM "${dev}p1" >/dev/null
mkfs.ext4 -q -L RASPIROOT "${dev}p2"
mkdir -p /mnt/root
mount "${dev}p2" /mnt/root
echo "kept" >/mnt/root/marker
fs_kib() { df -k --output=size /mnt/root | tail -n 1 | tr -d ' '; }
size_before=$(cat "/sys/class/block/$(basename "$dev")p2/size")
fs_before=$(fs_kib)
"$LAB_REPO/scripts/pi-image/grow-root" /mnt/root >"$LAB_SHARE/first.log" 2>&1 \
  || { cat "$LAB_SHARE/first.log" >&2; lab_fail "grow-root failed"; }
cat "$LAB_SHARE/first.log"
size_after=$(cat "/sys/class/block/$(basename "$dev")p2/size")
fs_after=$(fs_kib)
lab_log "partition ${size_before} -> ${size_after} sectors, file system ${fs_before} -> ${fs_after} KiB"
# 64 MiB - 12 MiB = 52 MiB = 106496 sectors.
[ "$size_after" -eq 106496 ] || lab_fail "the kernel sees p2 as $size_after sectors, not 106496"
[ "$fs_after" -gt $((fs_before * 2)) ] || lab_fail "the file system did not grow ($fs_before -> $fs_after KiB)"
[ "$(cat /mnt/root/marker)" = kept ] || lab_fail "the file on the root is gone"
findmnt -no SOURCE /mnt/root | grep -q "${dev}p2" || lab_fail "the root was unmounted"
"$LAB_REPO/scripts/pi-image/grow-root" /mnt/root >"$LAB_SHARE/second.log" 2>&1 \
  || { cat "$LAB_SHARE/second.log" >&2; lab_fail "a second run of grow-root failed"; }
grep -q "already fills" "$LAB_SHARE/second.log" || lab_fail "the second run did not see a full partition"
[ "$(fs_kib)" -eq "$fs_after" ] || lab_fail "the second run changed the file system"
umount /mnt/root
e2fsck -fn "${dev}p2" >"$LAB_SHARE/fsck.log" 2>&1 || lab_fail "fsck found errors after growing"
fsck.vfat -n "${dev}p1" >/dev/null 2>&1 || lab_fail "the FAT partition was damaged"
sfdisk -d "$dev" >"$LAB_SHARE/table.txt"
losetup -d "$dev"
lab_log "grow-root ok"
