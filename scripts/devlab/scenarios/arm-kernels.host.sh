#!/bin/bash
# Host check for arm-kernels.sh: both precisions stylized frames on arm64, the f16 pictures agree
# with the f32 ones (PSNR), they are pictures, not a flat colour, and the engine bench timed both.
set -euo pipefail
cd "$(dirname "$0")/../../.."
for p in f32 f16; do
  convert "$LAB_OUT/$p.png" "$LAB_OUT/$p.ppm"
  convert "$LAB_OUT/$p.png" -scale 400% "$LAB_OUT/$p-x4.png" # to look at
done
"$LAB_PY" - "$LAB_OUT" <<'PY'
import json, math, re, sys
sys.path.insert(0, "scripts/devlab/scenarios")
from screencheck import read_ppm
out = sys.argv[1]
for p in ["f32", "f16"]:
    r = json.load(open(f"{out}/report-{p}.json"))
    assert r["frames_out"] >= 3 and r["inference_ms_mean"] > 0, f"{p}: {r}"
    print(f"{p}: inference {r['inference_ms_mean']:.0f} ms a frame (TCG: proves it runs, says nothing of a board)")
w, h, a = read_ppm(f"{out}/f32.ppm")
_, _, b = read_ppm(f"{out}/f16.ppm")
mse = sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)
psnr = 99.0 if mse == 0 else 10 * math.log10(255 ** 2 / mse)
colours = len({a[i:i + 3] for i in range(0, len(a), 3)})
print(f"first frame ({w}x{h}): f16 vs f32 PSNR {psnr:.1f} dB, {colours} colours at f32")
assert colours > 200, f"the f32 picture is nearly flat ({colours} colours)"
assert psnr > 30, f"f16 and f32 disagree: PSNR {psnr:.1f} dB"
assert mse > 0, "the f16 picture is the f32 one bit for bit: did the f16 plan run?"
for p in ["f32", "f16"]:
    text = open(f"{out}/bench-{p}.txt").read()
    m = re.search(rf"engine/1threads/{p}/64x48\s+time:\s+\[([^\]]+)\]", text)
    assert m, f"the engine bench printed no {p} time:\n{text[-2000:]}"
    print(f"engine bench {p} at 64x48: [{m.group(1)}] (TCG)")
PY
