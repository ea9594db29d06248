#!/bin/bash
# Host check for camera-mjpeg.sh: a live picture on the screen, frames kept coming, and the
# corrupt ones were counted.
set -euo pipefail
cd "$(dirname "$0")/../../.."
live=$("$LAB_PY" scripts/devlab/scenarios/screencheck.py live "$LAB_OUT/screen.ppm")
echo "$live"
grep -q '"size": "1024x768"' <<<"$live" || { echo "the screen is not in the mode asked for (1024x768)" >&2; exit 1; }
"$LAB_PY" scripts/devlab/scenarios/screencheck.py notice "$LAB_OUT/silent.ppm"
"$LAB_PY" - "$LAB_OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["source"]
print("report:", {k: r[k] for k in ("frames_captured", "frames_out", "capture_ms_mean")}, s)
assert s["corrupt_frames"] >= 2, s
assert r["frames_out"] >= 2, r
# Half the frames fed are corrupt. Which frames get decoded depends on timing (older queued
# frames are skipped unread), so the share judged corrupt varies around one half; good frames
# thrown away with the bad would push it towards one.
share = s["corrupt_frames"] / (s["corrupt_frames"] + r["frames_captured"])
assert 0.1 <= share <= 0.8, f"{share:.2f} of the decoded frames were judged corrupt, half were fed corrupt"
assert s["disconnects"] >= 1, s  # the stream was recreated after the producer went silent
# v4l2loopback hands a restarted stream the last frame it holds; the mirror must not take that
# for the camera being back (the notice stays up until the producer goes on).
assert s["stale_frames"] >= 1, s
PY
