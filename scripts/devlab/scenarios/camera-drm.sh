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

# A program holding the screen (as a desktop's compositor does): one clear line naming window:.
lab_set_mode 1024x768 smpte
if RUST_LOG=warn "$MIRROR" --input /dev/video0 --output drm: --frames 1 2>"$LAB_SHARE/busy.log"; then
  lab_fail "drm: opened a screen another program holds"
fi
lab_stop_mode
grep -q "holds the display" "$LAB_SHARE/busy.log" && grep -q "window:" "$LAB_SHARE/busy.log" \
  || { cat "$LAB_SHARE/busy.log" >&2; lab_fail "no clear line about the held display"; }
[ "$(wc -l <"$LAB_SHARE/busy.log")" -eq 1 ] || { cat "$LAB_SHARE/busy.log" >&2; lab_fail "more than one line"; }

# The screen and the preview at once: both show the same frames.
mirror_start --presence off --stylize all --input v4l2:///dev/video0 --output drm: --output mjpeg://127.0.0.1:8080 \
  --capture-size 640x480 --capture-fps 25
mirror_wait_log "first frame shown" 240  # ~90 s under TCG for the 6,957-MAC generator
grep -q "camera /dev/video0: YUYV 640x480 at 25 fps" "$LAB_SHARE/mirror.log" \
  || { cat "$LAB_SHARE/mirror.log" >&2; lab_fail "the mirror did not negotiate YUYV 640x480 at 25 fps"; }
# Two frames later the picture is settled.
sleep 3
lab_screendump screen
# curl on the x86_64 guest (the host's root), busybox wget in the arm64 root.
if command -v curl >/dev/null; then fetch() { curl -sf -o "$2" "$1"; }; else fetch() { busybox wget -q -O "$2" "$1"; }; fi
fetch http://127.0.0.1:8080/snapshot.jpg "$LAB_SHARE/snapshot.jpg" || lab_fail "no preview snapshot"
djpeg -pnm "$LAB_SHARE/snapshot.jpg" >"$LAB_SHARE/snapshot.ppm" || lab_fail "the snapshot is not a JPEG"
mirror_stop
# Back on exit: the screen as it was before (the console), not the mirror's last frame.
lab_screendump after-exit
