#!/bin/sh
# A PIR sensor on a real GPIO line, through the GPIO character device (aarch64 guest only): the
# virt board's PL061 controller, whose line 3 QEMU pulses high for 100 ms on `system_powerdown`
# (its power button; no gpio-keys driver is loaded, so the line is free). The mirror, on the PIR
# alone (--presence pir), sleeps with nobody there (the screen black), wakes on a pulse (the
# screen shows the mirror again) and sleeps again once the motion is old. Host check: pir.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"
[ "$LAB_ARCH" = aarch64 ] || lab_fail "pir needs the aarch64 guest (the virt board's PL061 GPIO)"
lab_load_display
chip=$(ls /dev/gpiochip* 2>/dev/null | head -1)
[ -n "$chip" ] || lab_fail "no /dev/gpiochip* in the guest (PL061 driver missing?)"
lab_log "GPIO chip $chip"
mirror_start --input test-pattern: --fps 5 --output drm: --model-size 64x48 --stylize all \
  --presence pir --pir "$chip:3" --attract-after 0 --sleep-after 4
mirror_wait_log "presence sensor: PIR on $chip:3" 60
mirror_wait_log "first frame shown" 300
mirror_wait_log "presence: asleep" 120
mirror_wait_log "display off" 10
sleep 1
lab_screendump asleep
lab_qmp '{"execute": "system_powerdown"}' >/dev/null
t0=$(lab__now_cs)
mirror_wait_log "presence: active" 30
lab_log "woken $(( ($(lab__now_cs) - t0) * 10 )) ms after the PIR pulse"
mirror_wait_log "display on" 10
sleep 8
lab_screendump woken
# No more motion: the sensor's hold (5 s), leaving (3 s), then asleep again after 4 s.
n=$(grep -c "presence: asleep" "$LAB_SHARE/mirror.log")
[ "$n" = 1 ] || lab_fail "asleep again too early"
i=0
while [ "$(grep -c "presence: asleep" "$LAB_SHARE/mirror.log")" -lt 2 ]; do
  i=$((i + 1)); [ $i -lt 400 ] || lab_fail "not asleep again 40 s after the motion"
  sleep 0.1
done
mirror_stop
