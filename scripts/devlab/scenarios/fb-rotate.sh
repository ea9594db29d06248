#!/bin/sh
# Scenario 4: fb:/dev/fb0 (bochs-drm's fbdev emulation) with --rotate 90: a portrait picture on
# a landscape panel turned a quarter clockwise. Host check: fb-rotate.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"

vivid_reference_frame
mirror_start --presence off --stylize all --input /dev/video0 --output fb:/dev/fb0 --rotate 90 --model-size 160x120
mirror_wait_log "first frame shown"
grep -q "output fb:/dev/fb0 .* 1280x800 XRGB8888, rotated 90" "$LAB_SHARE/mirror.log" \
  || { cat "$LAB_SHARE/mirror.log" >&2; lab_fail "unexpected framebuffer geometry"; }
sleep 2
lab_screendump screen
mirror_stop
