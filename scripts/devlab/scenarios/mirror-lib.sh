# Shared by the mirror scenarios (POSIX sh, sourced after guest-lib.sh).
#   mirror_start ARGS...     starts atelier-mirror in the background (log: $LAB_SHARE/mirror.log,
#                            report: $LAB_SHARE/report.json), MIRROR_PID set
#   mirror_wait_log TEXT [S] waits until the log contains TEXT (fails the scenario on timeout or
#                            when the mirror exits)
#   mirror_stop              Ctrl-C, waits for the exit, fails unless it exited 0
#   vivid_static             vivid without its text overlay: a still colour-bar picture
#   vivid_reference_frame    vivid + display loaded, still picture, one YUYV 640x480 frame saved
#                            as $LAB_SHARE/frame.yuyv (what the host check computes the screen from)
MIRROR=${MIRROR:-$LAB_REPO/target/debug/atelier-mirror}
[ -x "$MIRROR" ] || lab_fail "no mirror binary at $MIRROR (build it first: cargo build -p atelier-edge)"

mirror_start() {
  RUST_LOG=info "$MIRROR" --report "$@" >"$LAB_SHARE/report.json" 2>"$LAB_SHARE/mirror.log" &
  MIRROR_PID=$!
  lab_log "atelier-mirror $* (pid $MIRROR_PID)"
}

mirror_wait_log() { # TEXT [SECONDS]
  m__deadline=$(( $(lab__now_cs) + ${2:-120} * 100 ))
  while ! grep -q "$1" "$LAB_SHARE/mirror.log" 2>/dev/null; do
    kill -0 "$MIRROR_PID" 2>/dev/null || { cat "$LAB_SHARE/mirror.log" >&2; lab_fail "atelier-mirror exited while waiting for '$1'"; }
    [ "$(lab__now_cs)" -le "$m__deadline" ] || { tail -20 "$LAB_SHARE/mirror.log" >&2; lab_fail "no '$1' in the mirror log within ${2:-120}s"; }
    sleep 0.1
  done
}

mirror_stop() {
  kill -INT "$MIRROR_PID"
  m__rc=0
  wait "$MIRROR_PID" || m__rc=$?
  [ "$m__rc" = 0 ] || { tail -20 "$LAB_SHARE/mirror.log" >&2; lab_fail "atelier-mirror exited with $m__rc"; }
  # stdout also carries "Open the live preview: ..." when a preview runs: keep the JSON report.
  sed -n '/^{/,$p' "$LAB_SHARE/report.json" >"$LAB_SHARE/report.json.tmp"
  mv "$LAB_SHARE/report.json.tmp" "$LAB_SHARE/report.json"
  lab_log "atelier-mirror stopped: $(tr -d '\n ' <"$LAB_SHARE/report.json" | head -c 400)"
}

vivid_static() {
  v4l2-ctl -d /dev/video0 -c osd_text_mode=2 || lab_fail "cannot turn off vivid's text overlay"
}

vivid_reference_frame() {
  lab_load_vivid
  lab_load_display
  vivid_static
  v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=YUYV \
    --stream-mmap --stream-count=1 --stream-to="$LAB_SHARE/frame.yuyv"
}
