#!/bin/sh
# Scenario: serial control through a real USB serial pair (dummy_hcd + g_serial + cdc_acm). The
# mirror runs on drm: with `--serial /dev/ttyACM0`; a scripted panel (panel_upload) on
# /dev/ttyGS0 uploads a model. `rmmod g_serial` while idle and again in the middle of the upload:
# the mirror keeps showing frames, reopens the port when it is back, and takes the upload where
# it stopped; the new model runs only after ACTIVATE. Host check: serial-unplug.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"
PANEL=${PANEL:-$(dirname "$MIRROR")/examples/panel_upload}
MODEL=$LAB_REPO/models/garments7-int8w.onnx
[ -x "$PANEL" ] || lab_fail "no panel_upload at $PANEL (cargo build -p atelier-edge --example panel_upload)"

lab_load_display
lab_load_serial
mkdir -p /tmp/state
mirror_start --presence off --stylize all --input test-pattern: --fps 10 --output drm: --model-size 64x48 --serial /dev/ttyACM0 --state-dir /tmp/state
mirror_wait_log "first frame shown"
mirror_wait_log "serial control on /dev/ttyACM0"
count() { grep -c "$1" "$LAB_SHARE/mirror.log" || true; }
alive() { kill -0 "$MIRROR_PID" 2>/dev/null || lab_fail "atelier-mirror exited: $1"; }

# 1. Unplugged while idle.
lab_unplug_serial
mirror_wait_log "went away"
sleep 1
lab_screendump idle-unplugged-a
# Under TCG a 64x48 frame takes ~5 s: wait long enough for the next one.
sleep 8
lab_screendump idle-unplugged-b
alive "after the idle unplug"
lab_replug_serial
while [ "$(count "serial control on /dev/ttyACM0")" -lt 2 ]; do alive "waiting for the reopen"; sleep 0.1; done
lab_log "port reopened after the idle unplug"

# 2. Unplugged in the middle of an upload.
# Paced (~2 s per 100 kB) so the unplug lands in the middle of the upload.
PANEL_CHUNK_DELAY_MS=60 "$PANEL" /dev/ttyGS0 "$MODEL" >"$LAB_SHARE/panel.log" 2>&1 &
PANEL_PID=$!
offset() { sed -n 's/^offset \([0-9]*\).*/\1/p' "$LAB_SHARE/panel.log" | tail -1; }
while [ "${offset:-0}" -lt 100000 ]; do
  kill -0 "$PANEL_PID" 2>/dev/null || { cat "$LAB_SHARE/panel.log" >&2; lab_fail "the panel stopped early"; }
  sleep 0.1
  offset=$(offset)
done
lab_unplug_serial
lab_log "unplugged at upload offset $(offset)"
echo "$(offset)" >"$LAB_SHARE/unplugged-at.txt"
sleep 1
lab_screendump upload-unplugged-a
sleep 8
lab_screendump upload-unplugged-b
alive "after the unplug during the upload"
grep -q "replaces" "$LAB_SHARE/mirror.log" && lab_fail "the model changed before ACTIVATE"
lab_replug_serial
wait "$PANEL_PID" || { cat "$LAB_SHARE/panel.log" >&2; lab_fail "the panel's upload failed"; }
grep -q "^activated OK active=deployed:" "$LAB_SHARE/panel.log" || lab_fail "not activated"
mirror_wait_log "replaces"
# A few frames with the new model (~5 s each under TCG) before looking.
sleep 15
lab_screendump after-activate
alive "after the activation"
mirror_stop
