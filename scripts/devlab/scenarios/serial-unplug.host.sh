#!/bin/bash
# Host check for serial-unplug.sh: live, changing pictures while the port was gone, the upload
# resumed (not restarted) after the replug, and the deployed model on screen afterwards.
set -euo pipefail
cd "$(dirname "$0")/../../.."
py=scripts/devlab/scenarios/screencheck.py
for f in idle-unplugged-a idle-unplugged-b upload-unplugged-a upload-unplugged-b; do
  "$LAB_PY" $py live "$LAB_OUT/$f.ppm" >/dev/null || { echo "no live picture on $f" >&2; exit 1; }
done
for pair in idle-unplugged upload-unplugged; do
  if cmp -s "$LAB_OUT/$pair-a.ppm" "$LAB_OUT/$pair-b.ppm"; then
    echo "$pair: the screen did not change in 8 s: frames stopped while the port was gone" >&2
    exit 1
  fi
done
at=$(cat "$LAB_OUT/unplugged-at.txt")
resumed=$(sed -n 's/^offset \([0-9]*\) (resumed)$/\1/p' "$LAB_OUT/panel.log" | tail -1)
[ "$resumed" -gt 0 ] || { echo "the upload started again from 0 after the replug" >&2; exit 1; }
# `at` is the last offset the panel saw acknowledged; the chunk it had sent then may have reached
# the mirror with its acknowledgement lost to the unplug, so the mirror may be one chunk (the
# panel's 3,072 bytes, CHUNK in edge/examples/panel_upload.rs) further on, never more.
chunk=3072
[ "$resumed" -le $((at + chunk)) ] || { echo "resumed at $resumed, more than a chunk past the $at bytes acknowledged" >&2; exit 1; }
grep -c "went away" "$LAB_OUT/mirror.log" | awk '{ if ($1 < 2) { print "the mirror saw fewer than 2 unplugs" > "/dev/stderr"; exit 1 } }'
# The deployed model (garments7's first style, a pencil sketch) is near grey; the factory
# model's starry-night is saturated: the screen's colourfulness tells which one is showing.
"$LAB_PY" - "$LAB_OUT/upload-unplugged-b.ppm" "$LAB_OUT/after-activate.ppm" <<'PY'
import sys
sys.path.insert(0, "scripts/devlab/scenarios")
from screencheck import read_ppm
def chroma(path):
    w, h, px = read_ppm(path)
    step = 3 * 7  # every 7th pixel is plenty
    vals = [max(px[i:i + 3]) - min(px[i:i + 3]) for i in range(0, len(px) - 2, step)]
    return sum(vals) / len(vals)
before, after = chroma(sys.argv[1]), chroma(sys.argv[2])
print(f"chroma before activation {before:.1f}, after {after:.1f} (0..255)")
assert after < 0.5 * before, "the screen does not show the deployed (sketch) model"
PY
echo "serial: reopened after 2 unplugs; upload unplugged at $at bytes, resumed at $resumed; deployed model shown"
