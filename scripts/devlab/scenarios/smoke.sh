#!/bin/sh
# Device-lab smoke test: a real V4L2 camera (vivid) and a real DRM display (bochs-drm) whose
# pixels come back through QMP screendump. Host-side check: smoke.host.sh.
set -eu
. "$LAB_LIB"

lab_log "kernel $(uname -r), cwd $(pwd)"
lab_load_vivid
lab_load_display
ls -l /dev/video* /dev/dri/* /dev/fb0 | tee "$LAB_SHARE/devices.txt"
v4l2-ctl --list-devices | tee -a "$LAB_SHARE/devices.txt"
v4l2-ctl -d /dev/video0 --list-formats-ext >"$LAB_SHARE/formats.txt"
grep -q "'YUYV'" "$LAB_SHARE/formats.txt" || lab_fail "vivid offers no YUYV"
lab_log "vivid: $(grep -c "\[[0-9]*\]:" "$LAB_SHARE/formats.txt") formats"

# Stream a few frames from the camera.
v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=YUYV --set-parm=25
v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=5 --stream-to="$LAB_SHARE/vivid.yuyv"
size=$(wc -c <"$LAB_SHARE/vivid.yuyv")
[ "$size" -eq $((640 * 480 * 2 * 5)) ] || lab_fail "captured $size bytes, want 5 YUYV 640x480 frames"
rm -f "$LAB_SHARE/vivid.yuyv"
lab_log "vivid streamed 5 frames"

# Put an SMPTE pattern on the screen and read it back from the host.
lab_log "DRM connector $(lab_drm_connector) on $(lab_drm_driver)"
lab_set_mode 1024x768 smpte
lab_screendump screen
lab_stop_mode
head -c 15 "$LAB_SHARE/screen.ppm" | head -n 2 | tr '\n' ' ' >&2; echo >&2
lab_log "smoke ok"
