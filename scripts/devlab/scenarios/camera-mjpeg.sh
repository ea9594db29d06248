#!/bin/sh
# Scenario 2: an MJPEG camera (v4l2loopback fed by mjpeg-feed) with corrupt frames mixed in
# (truncated JPEGs and random bytes) -> drm:. The picture keeps coming and the corrupt frames are
# counted in the report. Host check: camera-mjpeg.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"

lab_load_vivid
lab_load_v4l2loopback
lab_load_display
vivid_static
w=/tmp/frames; mkdir -p "$w"
# Three good 640x480 JPEGs from vivid (RGB24 -> PPM -> cjpeg), two kinds of corrupt frame.
v4l2-ctl -d /dev/video0 -c horizontal_movement=5 || true
v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=RGB3 --set-parm=25
v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=3 --stream-to="$w/rgb"
for i in 0 1 2; do
  { printf 'P6\n640 480\n255\n'; dd if="$w/rgb" bs=921600 skip="$i" count=1 2>/dev/null; } >"$w/f$i.ppm"
  cjpeg -quality 80 "$w/f$i.ppm" >"$w/f$i.jpg"
done
head -c 3000 "$w/f1.jpg" >"$w/truncated.jpg"
head -c 20000 /dev/urandom >"$w/noise.jpg"
lab_mjpeg_feed -d /dev/video10 -r 15 -s 640x480 \
  "$w/f0.jpg" "$w/truncated.jpg" "$w/f1.jpg" "$w/noise.jpg" "$w/f2.jpg" "$w/truncated.jpg"

mirror_start --presence off --stylize all --input /dev/video10 --output "drm:?connector=Virtual-1&mode=1024x768" --capture-fps 15 --model-size 64x48
mirror_wait_log "first frame shown"
grep -q "camera /dev/video10: MJPEG 640x480" "$LAB_SHARE/mirror.log" \
  || { cat "$LAB_SHARE/mirror.log" >&2; lab_fail "the mirror did not negotiate MJPEG 640x480"; }
mirror_wait_log "skipping a corrupt frame"
sleep 6
lab_screendump screen
kill -0 "$MIRROR_PID" || lab_fail "atelier-mirror exited on corrupt frames"

# The producer pauses (a camera that stops sending): timeouts, the stream is recreated, the
# screen says why; frames return when the producer goes on.
kill -STOP "$LAB_FEED_PID"
mirror_wait_log "camera stopped sending frames" 30
sleep 1
lab_screendump silent
kill -CONT "$LAB_FEED_PID"
mirror_wait_log "live picture is back" 60
mirror_stop
kill "$LAB_FEED_PID" 2>/dev/null || true
