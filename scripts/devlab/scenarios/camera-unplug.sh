#!/bin/sh
# Scenario 3: 20 unplug/replug cycles of the vivid camera (driver unbind/bind) while the mirror
# runs on drm:. The process never exits, the "camera disconnected" screen shows while unplugged,
# the camera is reopened within 3 s of each bind and the live picture returns, and memory stays
# flat. Host check: camera-unplug.host.sh. A tiny model size keeps TCG inference short.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"
CYCLES=${CYCLES:-20}

lab_load_vivid
lab_load_display
vivid_static
# Frame-sized buffers straight from mmap and back on free, so RSS measures live memory rather
# than what glibc's heap keeps after a burst of 3 MB pictures.
export MALLOC_MMAP_THRESHOLD_=262144
# A stable name as udev makes for USB cameras (no udev in the guest): the mirror opens and reopens
# the camera by it.
mkdir -p /dev/v4l/by-id
ln -sf ../../video0 /dev/v4l/by-id/platform-vivid-video-index0
mirror_start --presence off --stylize all --input /dev/v4l/by-id/platform-vivid-video-index0 --output drm: --capture-fps 25 --model-size 64x48
mirror_wait_log "first frame shown"
grep -q "camera /dev/v4l/by-id/platform-vivid-video-index0: YUYV" "$LAB_SHARE/mirror.log" \
  || { cat "$LAB_SHARE/mirror.log" >&2; lab_fail "the camera was not opened by its stable name"; }
lab_screendump live-0

count() { grep -c "$1" "$LAB_SHARE/mirror.log" || true; }
# Waits until TEXT is in the log N times; fails if the mirror exits meanwhile.
mirror_wait_log_count() { # TEXT N
  while [ "$(count "$1")" -lt "$2" ]; do
    kill -0 "$MIRROR_PID" 2>/dev/null || lab_fail "atelier-mirror exited during cycle $i"
    sleep 0.05
  done
}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$MIRROR_PID/status"; }
echo "cycle,reopen_ms,live_ms,rss_kb" >"$LAB_SHARE/cycles.csv"
i=1
while [ "$i" -le "$CYCLES" ]; do
  lab_unplug_camera
  # Wait for the mirror to notice, then for the notice to be drawn (every 250 ms).
  mirror_wait_log_count "retrying" "$i"
  sleep 1
  lab_screendump "unplugged-$i"
  kill -0 "$MIRROR_PID" 2>/dev/null || lab_fail "atelier-mirror exited while the camera was unplugged (cycle $i)"
  t0=$(lab__now_cs)
  lab_replug_camera
  vivid_static
  mirror_wait_log_count "camera is back" "$i"
  t1=$(lab__now_cs)
  mirror_wait_log_count "live picture is back" "$i"
  t2=$(lab__now_cs)
  echo "$i,$(( (t1 - t0) * 10 )),$(( (t2 - t0) * 10 )),$(rss)" >>"$LAB_SHARE/cycles.csv"
  lab_log "cycle $i: camera reopened after $(( (t1 - t0) * 10 )) ms, live picture after $(( (t2 - t0) * 10 )) ms, RSS $(rss) kB"
  case $i in 1|10|"$CYCLES") sleep 1; lab_screendump "live-$i" ;; esac
  i=$((i + 1))
done
mirror_stop
