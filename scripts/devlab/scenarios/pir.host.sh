#!/bin/bash
# Host check for pir.sh: black while asleep, the mirror's picture after the PIR woke it.
set -euo pipefail
cd "$(dirname "$0")/../../.."
"$LAB_PY" - "$LAB_OUT" <<'PY'
import sys
sys.path.insert(0, "scripts/devlab/scenarios")
from screencheck import read_ppm, brightness, colours
out = sys.argv[1]
fig = {}
for name in ["asleep", "woken"]:
    w, h, px = read_ppm(f"{out}/{name}.ppm")
    fig[name] = dict(brightness=round(brightness(px, w, h), 1), colours=colours(px))
print(fig)
assert fig["asleep"]["brightness"] < 3, f"asleep: the screen is not off: {fig}"
assert fig["woken"]["brightness"] > 25 and fig["woken"]["colours"] >= 50, f"woken: no picture: {fig}"
PY
