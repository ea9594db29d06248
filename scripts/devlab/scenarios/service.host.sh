#!/bin/bash
# Host-side check after service.sh: the service showed the mirror on the screen (a stylized
# camera picture, not a black screen or the console), before and after a broken config, and
# the start limit ended the retries.
set -euo pipefail
for shot in service broken-config; do
  "$LAB_PY" "$LAB_HOST" ppm-check "$LAB_OUT/$shot.ppm" --min-nonblack 0.5 --min-colors 64
done
# After `systemctl stop` the screen is the console's again, not a frozen picture.
"$LAB_PY" "$LAB_HOST" ppm-check "$LAB_OUT/stopped.ppm" --max-colors 16
grep -q 'stopped after' "$LAB_OUT/stop-line.txt"
grep -q 'last good' "$LAB_OUT/broken-config-line.txt"
grep -q 'then start-limit' "$LAB_OUT/start-limit.txt"
grep -q 'fps' "$LAB_OUT/status.txt"
