#!/bin/sh
# Presence on a real camera and screen: a recorded camera-like scene (SEQ: frames from
# examples/presence_sequence, a person cut from a held-out photo over an empty wall, with sensor
# noise) played through v4l2loopback in phases; the mirror on KMS goes active -> attract ->
# asleep (the screen powered off through DPMS) -> a passer-by does not wake it -> someone who
# stays does, and the screen shows them again. Host check: presence.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"
[ -d "${SEQ:-}" ] || lab_fail "SEQ must name the presence sequence (cargo run --example presence_sequence -- DIR)"

lab_load_v4l2loopback
lab_load_display
phase=/tmp/phase
go() { # PHASE: what the camera sees from now on
  echo "$1" >"$phase.tmp" && mv "$phase.tmp" "$phase"
  lab_log "scene: $1"
}
echo stand >"$phase"
lab_mjpeg_feed -d /dev/video10 -r 5 -s 320x240 -P "$phase" "$SEQ"/*.jpg
# Short times so the scene fits the lab; the first frame alone takes a minute or more under TCG.
mirror_start --input /dev/video10 --output drm: --capture-fps 5 --model-size 64x48 \
  --attract-after 12 --sleep-after 30
mirror_wait_log "first frame shown" 300
sleep 4
lab_screendump active

go empty
mirror_wait_log "presence: attract" 120
mirror_wait_log "attract show on screen" 60
sleep 1
lab_screendump attract
mirror_wait_log "presence: asleep" 120
mirror_wait_log "display off" 10
sleep 2
lab_screendump asleep

# A passer-by: in view for less than the half second of evidence the detector needs to count
# someone as present (`enter` in edge/src/presence/detector.rs; its tests' passers-by are in view
# 0.2-0.3 s), then the empty wall again: at most two frames at 5 fps. Four frames (0.6 s) would
# be someone who stopped, by the detector's own rule.
go cross
sleep 0.3
go empty
sleep 20
if sed -n '/presence: asleep/,$p' "$LAB_SHARE/mirror.log" | grep -q "presence: active"; then  # (woken by the passer-by)
  lab_fail "a passer-by woke the mirror"
fi
lab_screendump still-asleep

go arrive
sleep 2
go stand
# Log lines since the mirror fell asleep (a slow start may have flipped modes before).
since_asleep() { sed -n '/presence: asleep/,$p' "$LAB_SHARE/mirror.log" | grep -q "$1"; }
wait_since_asleep() { # TEXT SECONDS
  i=0
  until since_asleep "$1"; do
    i=$((i + 1)); [ $i -lt $(($2 * 10)) ] || lab_fail "no '$1' within $2 s of waking"
    kill -0 "$MIRROR_PID" 2>/dev/null || lab_fail "atelier-mirror exited"
    sleep 0.1
  done
}
wait_since_asleep "presence: active" 120
wait_since_asleep "display on" 10
wait_since_asleep "live picture on screen" 60
sleep 1
lab_screendump woken
mirror_stop
kill "$LAB_FEED_PID" 2>/dev/null || true
grep -q "did not switch" "$LAB_SHARE/mirror.log" && lab_fail "the display did not switch as asked"
lab_log "presence: $(grep -o 'presence: [a-z]*' "$LAB_SHARE/mirror.log" | tr '\n' ' ')"
