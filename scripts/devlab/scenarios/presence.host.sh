#!/bin/bash
# Host check for presence.sh: the screen showed the person, then the attract show with its
# invitation, then nothing (powered off) while asleep and after a passer-by, then the person again.
set -euo pipefail
cd "$(dirname "$0")/../../.."
"$LAB_PY" - "$LAB_OUT" <<'PY'
import sys
sys.path.insert(0, "scripts/devlab/scenarios")
from screencheck import read_ppm, brightness, colours, white_in, mean_diff
out = sys.argv[1]
shots = {n: read_ppm(f"{out}/{n}.ppm") for n in ["active", "attract", "asleep", "still-asleep", "woken"]}
fig = {}
for name, (w, h, px) in shots.items():
    fig[name] = dict(brightness=round(brightness(px, w, h), 1), colours=colours(px),
                     caption=white_in(px, w, 0, h // 5, w, h // 5 + h // 10))
print(fig)
for name in ["active", "attract", "woken"]:
    assert fig[name]["brightness"] > 25 and fig[name]["colours"] >= 50, f"{name}: no picture: {fig[name]}"
for name in ["asleep", "still-asleep"]:
    assert fig[name]["brightness"] < 3, f"{name}: the screen is not off: {fig[name]}"
assert fig["attract"]["caption"] > 50, "attract mode: no invitation drawn in the upper band"
# Awake again, the screen shows the same scene as before (the person), not the attract show.
w, h, a = shots["active"]
_, _, b = shots["woken"]
_, _, c = shots["attract"]
same, other = mean_diff(a, b, w, h - 40), mean_diff(c, b, w, h - 40)
print(f"woken vs active {same:.1f}, woken vs attract {other:.1f}")
assert same < 0.6 * other, (same, other)
PY
