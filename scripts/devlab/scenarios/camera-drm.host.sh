#!/bin/bash
# Host check for camera-drm.sh: the screen shows the stylized camera picture, mirrored, full
# screen, with the overlay; the report is sane.
set -euo pipefail
cd "$(dirname "$0")/../../.."
expect=${EXPECTED_PICTURE:-${CARGO_TARGET_DIR:-target}/debug/examples/expected_picture}
"$expect" "$LAB_OUT/frame.yuyv" YUYV 640x480 1280x800 "$LAB_OUT/expected.ppm"
"$expect" "$LAB_OUT/frame.yuyv" YUYV 640x480 1280x800 "$LAB_OUT/unmirrored.ppm" --no-mirror
py=scripts/devlab/scenarios/screencheck.py
"$LAB_PY" $py match "$LAB_OUT/screen.ppm" "$LAB_OUT/expected.ppm" --unmirrored "$LAB_OUT/unmirrored.ppm" --band 40 \
  | tee "$LAB_OUT/match.json"
"$LAB_PY" $py overlay "$LAB_OUT/screen.ppm" --band 40
# The preview showed the same picture as the screen (JPEG-compressed; overlay included).
"$LAB_PY" $py match "$LAB_OUT/snapshot.ppm" "$LAB_OUT/screen.ppm" --band 0 --max-diff 6
"$LAB_PY" - "$LAB_OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["frames_out"] >= 1, r
assert r["source"]["corrupt_frames"] == 0, r
print("report:", {k: r[k] for k in ("frames_out", "output_fps", "capture_ms_mean", "inference_ms_mean", "output_ms_mean", "latency_ms_mean")})
PY
# The console came back after the mirror exited: the screen is no longer the mirror's picture.
if "$LAB_PY" $py match "$LAB_OUT/after-exit.ppm" "$LAB_OUT/expected.ppm" --band 40 >/dev/null 2>&1; then
  echo "the mirror's picture stayed on the screen after exit" >&2; exit 1
fi
