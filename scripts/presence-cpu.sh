#!/usr/bin/env bash
# What sleeping saves: the mirror's CPU use (user + system time per wall second, 1.0 = one core)
# while someone stands in front of it and while it sleeps, on the recorded presence scene
# (examples/presence_sequence), at the default 320x240 model size, null output.
#
#   scripts/presence-cpu.sh [SECONDS]     (release build of atelier-mirror and the example)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
source scripts/ensure-rust.sh
"$CARGO" build -q --release -p atelier-edge --bin atelier-mirror --example presence_sequence
target=${CARGO_TARGET_DIR:-target}
seq=$target/presence-sequence-cpu
rm -rf "$seq" && "$target/release/examples/presence_sequence" "$seq" 640x480 2>/dev/null
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
# measure LABEL WARMUP ARGS...: CPU per wall second over $secs after WARMUP seconds.
measure() {
  local label=$1 warm=$2; shift 2
  "$target/release/atelier-mirror" --output null: --fps 30 --hold-frames 1 --state-dir "$seq/state" "$@" \
    >/dev/null 2>"$seq/$label.log" &
  local pid=$!
  sleep "$warm"
  local c0 t0 c1 t1
  c0=$(cpu $pid); t0=$(date +%s.%N)
  sleep "$secs"
  c1=$(cpu $pid); t1=$(date +%s.%N)
  kill -INT $pid; wait $pid || true
  awk -v l="$label" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "%-28s %.2f cores\n", l, (c1 - c0) / (t1 - t0) }'
}
measure "active (person standing)" 5 --input "images:$seq/stand-*.jpg"
measure "asleep (empty wall)" 6 --input "images:$seq/empty-*.jpg" --attract-after 0 --sleep-after 2
grep -q "presence: asleep" "$seq/asleep (empty wall).log" || { echo "presence-cpu: the mirror did not fall asleep" >&2; exit 1; }
measure "presence off (same person)" 5 --input "images:$seq/stand-*.jpg" --presence off --stylize all
