#!/bin/bash
# Host check for fb-rotate.sh: the screen is the expected picture turned 90° clockwise, and the
# overlay reads upright in the turned picture.
set -euo pipefail
cd "$(dirname "$0")/../../.."
"${EXPECTED_PICTURE:-${CARGO_TARGET_DIR:-target}/debug/examples/expected_picture}" "$LAB_OUT/frame.yuyv" YUYV 640x480 1280x800 "$LAB_OUT/expected.ppm" \
  --rotate 90 --model-size 160x120
py=scripts/devlab/scenarios/screencheck.py
# The overlay band is on the right edge of the panel: compare the whole panel except that column.
"$LAB_PY" $py overlay "$LAB_OUT/screen.ppm" --band 40 --rotate 90
"$LAB_PY" - "$LAB_OUT/screen.ppm" "$LAB_OUT/expected.ppm" <<'PY'
import sys
sys.path.insert(0, "scripts/devlab/scenarios")
from screencheck import read_ppm, rotate_upright, mean_diff
w, h, screen = read_ppm(sys.argv[1])
_, _, expected = read_ppm(sys.argv[2])
uw, uh, s_up = rotate_upright(w, h, screen, 90)
_, _, e_up = rotate_upright(w, h, expected, 90)
d = mean_diff(s_up, e_up, uw, uh - 40)
_, _, s_wrong = rotate_upright(w, h, screen, 270)
d_wrong = mean_diff(s_wrong, e_up, uw, uh - 40)
print(f"upright {uw}x{uh}: diff {d:.2f}, turned the wrong way {d_wrong:.2f}")
assert d <= 12, d
assert d_wrong >= 2 * d, (d, d_wrong)
PY
