#!/bin/bash
# Host-side check after pi-image.sh: the image's own kernel ran, from its disk, and the screen
# shows the mirror (a stylized camera picture, not black, not the console).
set -euo pipefail
"$LAB_PY" "$LAB_HOST" ppm-check "$LAB_OUT/screen.ppm" --min-nonblack 0.5 --min-colors 64
grep -q 'arm64' "$LAB_OUT/kernel.txt"
grep -q '^/dev/vda2 ext4' "$LAB_OUT/root.txt"
