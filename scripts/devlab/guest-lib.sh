# Helpers for device-lab guest scripts (POSIX sh; source with `. "$LAB_LIB"`).
#
# Predicates return non-zero; everything else calls lab_fail (exits the script) on failure.
# Safe under `set -eu`.
#   lab_log MSG...                 message on stderr with guest uptime
#   lab_fail MSG...                print "LAB FAIL: MSG" and exit 1
#   lab_wait_file PATH [SECONDS]   wait until PATH exists (default 30 s); 1 on timeout
#   lab_wait_gone PATH [SECONDS]   wait until PATH no longer exists; 1 on timeout
#   lab_modprobe MOD [PARAM=V...]  modprobe or fail
#   lab_load_vivid [PARAM=V...]    vivid camera(s): /dev/video0.. (YUYV etc., no MJPEG)
#   lab_load_display               bochs (x86_64) / virtio-gpu (aarch64): /dev/dri/card0, /dev/fb0
#   lab_load_v4l2loopback [P=V..]  MJPEG-capable loopback at /dev/video10 (exclusive_caps=1)
#   lab_load_serial                dummy_hcd + g_serial + cdc_acm: /dev/ttyACM0 <-> /dev/ttyGS0
#   lab_unplug_serial / lab_replug_serial     rmmod / modprobe g_serial (ttyACM0 goes / comes)
#   lab_unplug_camera [vivid.N] / lab_replug_camera [vivid.N]   unbind / bind the vivid device
#   lab_drm_driver                 prints the DRM driver name for modetest -M
#   lab_drm_connector [NAME]       prints the connector id (default Virtual-1)
#   lab_set_mode WxH [PATTERN]     modetest in the background showing PATTERN (default smpte);
#                                  returns once the mode is scanned out; lab_stop_mode ends it
#   lab_screendump NAME [ppm|png]  host takes a QMP screendump into $LAB_SHARE/NAME.ppm; returns
#                                  once the file is complete
#   lab_qmp JSON                   any QMP command run by the host; prints its "return" (JSON)
#   lab_mjpeg_feed ARGS...         starts $LAB_MJPEG_FEED ARGS in the background, waits for its
#                                  first frame; LAB_FEED_PID is set (see mjpeg-feed.c for ARGS)
#
# Environment: LAB_SHARE (read-write share, copied to the host's --out dir: *.ppm *.png *.json
# *.log *.txt *.csv), LAB_ARCH, LAB_REPO (repo root = cwd), LAB_SCENARIO, LAB_MJPEG_FEED.

LAB_SHARE=${LAB_SHARE:-/lab}
lab__seq=0

lab__now_cs() { # guest uptime in centiseconds
  read -r lab__u lab__rest </proc/uptime
  echo "${lab__u%.*}${lab__u#*.}"
}

lab_log() {
  read -r lab__u lab__rest </proc/uptime
  echo "[lab ${lab__u}s] $*" >&2
}

lab_fail() {
  echo "LAB FAIL: $*" >&2
  exit 1
}

lab_wait_file() { # PATH [SECONDS]
  lab__deadline=$(( $(lab__now_cs) + ${2:-30} * 100 ))
  while [ ! -e "$1" ]; do
    if [ "$(lab__now_cs)" -gt "$lab__deadline" ]; then
      echo "lab_wait_file: $1 did not appear within ${2:-30}s" >&2
      return 1
    fi
    sleep 0.05
  done
  return 0
}

lab_wait_gone() { # PATH [SECONDS]
  lab__deadline=$(( $(lab__now_cs) + ${2:-30} * 100 ))
  while [ -e "$1" ]; do
    if [ "$(lab__now_cs)" -gt "$lab__deadline" ]; then
      echo "lab_wait_gone: $1 still there after ${2:-30}s" >&2
      return 1
    fi
    sleep 0.05
  done
  return 0
}

# Ask the host (scripts/devlab/labhost.py watch) to do something; prints its answer after "ok".
lab__request() { # LINE...
  lab__seq=$((lab__seq + 1))
  lab__id="r$$-$lab__seq-$(lab__now_cs)"
  lab__d="$LAB_SHARE/.lab/req"
  printf '%s\n' "$@" >"$lab__d/$lab__id.tmp" || lab_fail "cannot write a request to $lab__d"
  mv "$lab__d/$lab__id.tmp" "$lab__d/$lab__id.req" || lab_fail "cannot queue request"
  lab_wait_file "$lab__d/$lab__id.done" "${LAB_REQUEST_TIMEOUT:-120}" \
    || lab_fail "the host did not answer request '$1' (see watcher.log)"
  {
    read -r lab__status
    case "$lab__status" in
      ok) cat ;;
      *) lab_fail "host request '$1' failed: $lab__status" ;;
    esac
  } <"$lab__d/$lab__id.done"
  rm -f "$lab__d/$lab__id.done"
}

lab_screendump() { # NAME [ppm|png]
  [ -n "$1" ] || lab_fail "lab_screendump NAME [ppm|png]"
  lab__request "screendump $1 ${2:-ppm}" >/dev/null
  [ -s "$LAB_SHARE/$1.${2:-ppm}" ] || lab_fail "screendump $1.${2:-ppm} missing after the host said ok"
}

lab_qmp() { # JSON
  lab__request "qmp" "$1"
}

lab_modprobe() {
  modprobe "$@" || lab_fail "modprobe $* failed"
}

lab_load_vivid() {
  lab_modprobe vivid "$@"
  lab_wait_file /dev/video0 10 || lab_fail "vivid loaded but /dev/video0 did not appear"
}

lab_drm_driver() {
  case "${LAB_ARCH:-$(uname -m)}" in
    x86_64) echo bochs-drm ;;
    *) echo virtio_gpu ;;
  esac
}

lab_load_display() {
  case "${LAB_ARCH:-$(uname -m)}" in
    x86_64) lab_modprobe bochs ;;
    *) lab_modprobe virtio-gpu ;;
  esac
  lab_wait_file /dev/dri/card0 10 || lab_fail "display driver loaded but /dev/dri/card0 is missing"
  lab_wait_file /dev/fb0 10 || lab_fail "display driver loaded but /dev/fb0 is missing"
}

lab_load_v4l2loopback() {
  if ! modinfo v4l2loopback >/dev/null 2>&1; then
    lab_fail "v4l2loopback is not built for $(uname -r): run scripts/devlab.sh build-v4l2loopback"
  fi
  lab_modprobe v4l2loopback video_nr=10 exclusive_caps=1 card_label=AtelierMJPEG "$@"
  lab_wait_file /dev/video10 10 || lab_fail "v4l2loopback loaded but /dev/video10 is missing"
}

lab_mjpeg_feed() {
  lab__ready="$LAB_SHARE/.lab/feed-ready.$$.$(lab__now_cs)"
  "$LAB_MJPEG_FEED" -R "$lab__ready" "$@" &
  LAB_FEED_PID=$!
  lab_wait_file "$lab__ready" 60 || lab_fail "mjpeg-feed wrote no frame within 60s"
  rm -f "$lab__ready"
}

lab_load_serial() {
  lab_modprobe -a dummy_hcd g_serial cdc_acm
  lab_wait_file /dev/ttyGS0 20 || lab_fail "/dev/ttyGS0 did not appear"
  lab_wait_file /dev/ttyACM0 20 || lab_fail "/dev/ttyACM0 did not appear"
}

lab_unplug_serial() {
  rmmod g_serial || lab_fail "rmmod g_serial failed"
  lab_wait_gone /dev/ttyACM0 20 || lab_fail "/dev/ttyACM0 still present after unplug"
}

lab_replug_serial() {
  lab_modprobe g_serial
  lab_wait_file /dev/ttyACM0 20 || lab_fail "/dev/ttyACM0 did not come back"
}

lab_unplug_camera() { # [vivid.N]
  echo "${1:-vivid.0}" >/sys/bus/platform/drivers/vivid/unbind \
    || lab_fail "unbind ${1:-vivid.0} failed"
  lab_wait_gone "/sys/bus/platform/drivers/vivid/${1:-vivid.0}" 10 \
    || lab_fail "${1:-vivid.0} still bound"
}

lab_replug_camera() { # [vivid.N]
  echo "${1:-vivid.0}" >/sys/bus/platform/drivers/vivid/bind \
    || lab_fail "bind ${1:-vivid.0} failed"
  lab_wait_file /dev/video0 10 || lab_fail "/dev/video0 did not come back"
}

lab_drm_connector() { # [NAME]
  modetest -M "$(lab_drm_driver)" -c 2>/dev/null \
    | awk -v n="${1:-Virtual-1}" '$4 == n && $3 == "connected" {print $1; exit}'
}

lab_set_mode() { # WxH [PATTERN]
  lab__conn=$(lab_drm_connector)
  [ -n "$lab__conn" ] || lab_fail "no connected DRM connector (lab_load_display first?)"
  lab__mlog="$LAB_SHARE/modetest.log"
  # modetest keeps the mode until its stdin gives a line or EOF: feed it a pipe that stays open.
  (sleep 100000 | modetest -M "$(lab_drm_driver)" -s "$lab__conn:$1" -F "${2:-smpte}" \
    >"$lab__mlog" 2>&1) 2>/dev/null &
  LAB_MODETEST_PID=$!
  # Wait until the CRTC scans out a framebuffer of the requested size.
  lab__w=${1%x*}
  lab__deadline=$(( $(lab__now_cs) + 3000 ))
  while :; do
    if grep -q "mode: \"$1\"" /sys/kernel/debug/dri/0/state 2>/dev/null \
       && grep -q "size=${lab__w}x" /sys/kernel/debug/dri/0/state 2>/dev/null; then
      break
    fi
    if [ "$(lab__now_cs)" -gt "$lab__deadline" ]; then
      cat "$lab__mlog" >&2
      lab_fail "mode $1 not set within 30s"
    fi
    sleep 0.1
  done
}

lab_stop_mode() {
  [ -n "${LAB_MODETEST_PID:-}" ] || return 0
  pkill -P "$LAB_MODETEST_PID" 2>/dev/null || true
  kill "$LAB_MODETEST_PID" 2>/dev/null || true
  wait "$LAB_MODETEST_PID" 2>/dev/null || true
  LAB_MODETEST_PID=
}
