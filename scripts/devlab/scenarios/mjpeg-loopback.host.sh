#!/bin/bash
# Host-side check after mjpeg-loopback.sh: the capture holds whole JPEG frames written by the feed,
# the truncated frame included (12 frames, each starting with SOI).
set -euo pipefail
"$LAB_PY" - "$LAB_OUT/capture.mjpeg" "$LAB_OUT/source-frame.jpg" <<'PY'
import sys
cap = open(sys.argv[1], "rb").read()
src = open(sys.argv[2], "rb").read()
frames = cap.count(b"\xff\xd8\xff")
print(f"capture: {len(cap)} bytes, {frames} JPEG SOIs; source frame present: {src in cap}")
assert frames == 12, frames
assert src in cap, "the first source frame did not come back byte for byte"
PY
