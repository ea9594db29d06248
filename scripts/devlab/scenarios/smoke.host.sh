#!/bin/bash
# Host-side check after smoke.sh: the screendump is the 1024x768 SMPTE pattern, not a black screen.
set -euo pipefail
"$LAB_PY" "$LAB_HOST" ppm-check "$LAB_OUT/screen.ppm" --size 1024x768 --min-nonblack 0.5 --min-colors 8
grep -q 'vivid' "$LAB_OUT/devices.txt"
test -f "$LAB_OUT/screen.png"
