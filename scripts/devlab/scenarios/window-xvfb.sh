#!/bin/bash
# Scenario 5, on the host (no guest needed): `--output window:` under Xvfb, read back with a
# screenshot of the X root window. The window must fill the screen with the live picture and its
# overlay, and the mirror must stop cleanly on Ctrl-C.
#   usage: window-xvfb.sh OUT_DIR   (MIRROR: the binary; default target/debug/atelier-mirror)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-out/devlab/window-xvfb}
mirror=${MIRROR:-${CARGO_TARGET_DIR:-target}/debug/atelier-mirror}
mkdir -p "$out"
for tool in Xvfb import; do
  command -v $tool >/dev/null || { echo "window-xvfb: $tool missing (apt-get install xvfb imagemagick)" >&2; exit 70; }
done
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
for _ in $(seq 100); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
DISPLAY=$display WAYLAND_DISPLAY= RUST_LOG=info "$mirror" --presence off --stylize all --input test-pattern: --output window: --model-size 160x120 \
  --report >"$out/report.json" 2>"$out/mirror.log" &
pid=$!
for _ in $(seq 600); do
  grep -q "first frame shown" "$out/mirror.log" && break
  kill -0 $pid 2>/dev/null || { cat "$out/mirror.log" >&2; echo "window-xvfb: the mirror exited" >&2; exit 1; }
  sleep 0.1
done
grep -q "first frame shown" "$out/mirror.log" || { cat "$out/mirror.log" >&2; exit 1; }
sleep 1
import -display "$display" -window root -depth 8 "$out/screen.ppm"
convert "$out/screen.ppm" "$out/screen.png"
kill -INT $pid
wait $pid || { tail "$out/mirror.log" >&2; echo "window-xvfb: the mirror did not stop cleanly" >&2; exit 1; }
grep -q "output window: fullscreen 1280x800" "$out/mirror.log" || { cat "$out/mirror.log" >&2; exit 1; }
python3 scripts/devlab/scenarios/screencheck.py live "$out/screen.ppm"
python3 scripts/devlab/scenarios/screencheck.py overlay "$out/screen.ppm" --band 40
python3 - "$out/screen.ppm" <<'PY'
import sys
sys.path.insert(0, "scripts/devlab/scenarios")
from screencheck import read_ppm
w, h, px = read_ppm(sys.argv[1])
# Fullscreen: the picture reaches every edge of the X screen (no black margins).
edges = [(x, y) for x in (1, w // 2, w - 2) for y in (1, h // 2, h - 2) if (x, y) != (w // 2, h // 2)]
dark = [(x, y) for x, y in edges if sum(px[(y * w + x) * 3:(y * w + x) * 3 + 3]) < 15]
assert len(dark) <= 2, f"black at the screen's edges {dark}: the window does not fill the screen"
print("window fills the screen")
PY
