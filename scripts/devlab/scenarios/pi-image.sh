#!/bin/sh
# The Raspberry Pi image booted in the aarch64 device lab with its own kernel and initrd, root on
# a virtio disk (scripts/pi-image.sh --test; runs as lab-run.service once the system is up):
# the settings file put on the FAT partition was applied, the service came up by itself with
# the vivid camera and the virtio-gpu screen, and the screen shows the mirror.
set -eu
. "$LAB_LIB"
unit=atelier-mirror.service
prop() { systemctl show -p "$1" --value "$unit"; }
i=0
until [ "$(prop ActiveState)" = active ] && [ "$(prop SubState)" = running ]; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then
    systemctl status --no-pager "$unit" >&2 || true
    journalctl -u "$unit" --no-pager -n 40 >&2 || true
    lab_fail "the service was not active within 300 s of lab-run starting"
  fi
  sleep 0.5
done
lab_log "active: $(prop StatusText)"
uname -r >"$LAB_SHARE/kernel.txt"
findmnt -no SOURCE,FSTYPE / >"$LAB_SHARE/root.txt"
grep -q 'device lab' /etc/atelier/mirror.toml || lab_fail "the settings on the FAT partition were not applied"
[ -f /boot/firmware/atelier-mirror.toml.applied ] || lab_fail "the FAT settings file was not marked applied"
journalctl -u atelier-boot-settings --no-pager -o cat >"$LAB_SHARE/boot-settings.log"
# The Wi-Fi file (written on a Windows machine: CRLF lines) became wlan0's network, readable by
# root only, and was deleted from the FAT partition.
wpa=/etc/wpa_supplicant/wpa_supplicant-wlan0.conf
grep -qx '	ssid="Atelier Lab"' "$wpa" && grep -qx '	psk="not-a-real-key"' "$wpa" && grep -qx 'country=GB' "$wpa" \
  || { cat "$wpa" >&2; lab_fail "the Wi-Fi settings on the FAT partition were not applied to $wpa"; }
[ "$(stat -c %a "$wpa")" = 600 ] || lab_fail "$wpa is readable by others ($(stat -c %a "$wpa"))"
grep -q "wpa-conf $wpa" /etc/network/interfaces.d/wlan0 || lab_fail "no wlan0 stanza for ifupdown"
[ ! -e /boot/firmware/atelier-wifi.txt ] || lab_fail "the Wi-Fi file (with its key) was left on the FAT partition"
[ "$(systemctl is-enabled atelier-mirror)" = enabled ] || lab_fail "atelier-mirror not enabled"
# First boot grew the root into the 256 MiB the test disk has past the image, and the unit
# disabled itself.
journalctl -u atelier-grow-root --no-pager -o cat >"$LAB_SHARE/grow-root.log"
grep -q "grown from" "$LAB_SHARE/grow-root.log" || { cat "$LAB_SHARE/grow-root.log" >&2; lab_fail "atelier-grow-root did not grow the root at first boot"; }
part=$(basename "$(readlink -f "$(findmnt -no SOURCE /)")")
disk_end=$(cat "/sys/class/block/$(lsblk -no PKNAME "/dev/$part")/size")
part_end=$(( $(cat "/sys/class/block/$part/start") + $(cat "/sys/class/block/$part/size") ))
[ $((disk_end - part_end)) -lt 2048 ] || lab_fail "$part ends $(( (disk_end - part_end) / 2048 )) MiB before the end of its disk"
fs_mb=$(df -BM --output=size / | tail -n 1 | tr -dc 0-9)
part_mb=$(( $(cat "/sys/class/block/$part/size") / 2048 ))
[ $((fs_mb * 100)) -ge $((part_mb * 95)) ] || lab_fail "the root file system ($fs_mb MiB) was not grown to its partition ($part_mb MiB)"
lab_log "root grown: $(grep 'grown from' "$LAB_SHARE/grow-root.log"), file system $fs_mb MiB"
[ "$(systemctl is-enabled atelier-grow-root)" = disabled ] || lab_fail "atelier-grow-root still enabled after first boot"
journalctl -u "$unit" --no-pager -o cat | grep -q "first frame shown: drm" || lab_fail "no first frame on the screen"
systemd-analyze cat-config systemd/journald.conf | grep -q '^SystemMaxUse=64M' || lab_fail "journal size not limited"
sleep 3
lab_screendump screen
systemd-analyze >"$LAB_SHARE/boot-time.txt" 2>&1 || true
lab_log "pi image: $(cat "$LAB_SHARE/kernel.txt"), root $(cat "$LAB_SHARE/root.txt")"
