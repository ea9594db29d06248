#!/bin/sh
# Scenario 1: vivid 640x480 YUYV -> stylized -> drm: on bochs-drm. The host check compares the
# screendump with the engine's own output for a frame captured from the same (still) camera
# picture: camera-drm.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"

vivid_reference_frame
"$MIRROR" --list-devices >"$LAB_SHARE/devices.txt" 2>&1
lab_log "$(cat "$LAB_SHARE/devices.txt")"

mirror_start --input v4l2:///dev/video0 --output drm: --capture-size 640x480 --capture-fps 25
mirror_wait_log "first frame shown"
grep -q "camera /dev/video0: YUYV 640x480 at 25 fps" "$LAB_SHARE/mirror.log" \
  || { cat "$LAB_SHARE/mirror.log" >&2; lab_fail "the mirror did not negotiate YUYV 640x480 at 25 fps"; }
# Two frames later the picture is settled.
sleep 3
lab_screendump screen
mirror_stop
# Back on exit: the screen as it was before (the console), not the mirror's last frame.
lab_screendump after-exit
