#!/bin/bash
# Host check for camera-mjpeg.sh: a live picture on the screen, frames kept coming, and the
# corrupt ones were counted.
set -euo pipefail
cd "$(dirname "$0")/../../.."
"$LAB_PY" scripts/devlab/screencheck.py live "$LAB_OUT/screen.ppm"
"$LAB_PY" - "$LAB_OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["source"]
print("report:", {k: r[k] for k in ("frames_captured", "frames_out", "capture_ms_mean")}, s)
assert s["corrupt_frames"] >= 2, s
assert r["frames_out"] >= 2, r
# Half the frames fed are corrupt: good frames must not be thrown away with them.
share = s["corrupt_frames"] / (s["corrupt_frames"] + r["frames_captured"])
assert 0.3 <= share <= 0.7, f"{share:.2f} of the frames were judged corrupt, half were"
assert s["disconnects"] == 0, s
PY
