#!/bin/bash
# Host check for camera-unplug.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."
py=scripts/devlab/scenarios/screencheck.py
cycles=$(($(wc -l <"$LAB_OUT/cycles.csv") - 1))
[ "$cycles" -ge 20 ] || { echo "only $cycles cycles ran" >&2; exit 1; }
for f in "$LAB_OUT"/unplugged-*.ppm; do
  "$LAB_PY" $py notice "$f" >/dev/null || { echo "no disconnected notice on $f" >&2; exit 1; }
done
for f in "$LAB_OUT"/live-*.ppm; do
  "$LAB_PY" $py live "$f" >/dev/null || { echo "no live picture on $f" >&2; exit 1; }
  if "$LAB_PY" $py notice "$f" >/dev/null 2>&1; then echo "$f still shows the notice" >&2; exit 1; fi
done
"$LAB_PY" - "$LAB_OUT/cycles.csv" "$LAB_OUT/report.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
reopen = [int(r["reopen_ms"]) for r in rows]
live = [int(r["live_ms"]) for r in rows]
rss = [int(r["rss_kb"]) for r in rows]
print(f"reopen after bind: max {max(reopen)} ms, mean {sum(reopen) / len(reopen):.0f} ms; "
      f"live picture: max {max(live)} ms (includes TCG inference); RSS {rss[1]} -> {rss[-1]} kB")
assert max(reopen) <= 3000, f"the camera was reopened {max(reopen)} ms after a bind (limit 3000)"
# Flat memory (big buffers are mmapped, see the scenario): the last ten cycles use no more than
# 1 MB above the first ten; a leak of one camera frame per cycle (600 kB) would show 6 MB.
first, last = max(rss[:10]), max(rss[10:])
assert last - first <= 1024, f"RSS grew from {first} kB (cycles 1-10) to {last} kB (cycles 11-20)"
r = json.load(open(sys.argv[2]))
assert r["source"]["disconnects"] >= len(rows), r["source"]
print("report:", r["source"], "unavailable", round(r["source_unavailable_seconds"], 1), "s")
PY
