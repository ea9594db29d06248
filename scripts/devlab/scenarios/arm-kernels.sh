#!/bin/sh
# The engine's arm64 kernels at both precisions (aarch64 guest only: a cortex-a76, the Pi 5's
# core, with FP16 arithmetic): the cross-built mirror stylizes the same test-pattern frames at
# f32 and at f16 into PNG files and reports its inference times, and the engine's criterion
# bench ($BENCH, edge/benches/engine.rs) times both precisions at 64x48. Under TCG the times say
# nothing about a board (docs/benchmarks.md has the estimate); the run proves that tract's arm64
# f32 and f16 paths run and agree. Host check: arm-kernels.host.sh.
set -eu
. "$LAB_LIB"
. "$LAB_REPO/scripts/devlab/scenarios/mirror-lib.sh"
[ "$LAB_ARCH" = aarch64 ] || lab_fail "arm-kernels needs the aarch64 guest"
grep -qw fphp /proc/cpuinfo || lab_fail "the guest CPU reports no FP16 arithmetic (fphp)"
lab_log "CPU features: $(grep -m1 Features /proc/cpuinfo | cut -d: -f2)"
printf 'show_style = false\n' >/tmp/no-label.toml # the bare picture, no style label over it
for precision in f32 f16; do
  mkdir -p "/tmp/frames-$precision"
  # One frame a second and one painter: the first frames out are the same pattern frames in both runs.
  RUST_LOG=info "$MIRROR" --config /tmp/no-label.toml --report --input test-pattern: --fps 1 --frames 3 --parallel-frames 1 \
    --capture-size 160x120 --model-size 64x48 --output-size 64x48 --presence off --stylize all \
    --precision "$precision" --output "png:/tmp/frames-$precision" \
    >"$LAB_SHARE/report-$precision.json" 2>"$LAB_SHARE/mirror-$precision.log" \
    || { tail -20 "$LAB_SHARE/mirror-$precision.log" >&2; lab_fail "atelier-mirror --precision $precision failed"; }
  ! grep -q "no native" "$LAB_SHARE/mirror-$precision.log" || lab_fail "$precision: the mirror found no native arithmetic for it"
  lab_log "$precision: $(tr -d '\n ' <"$LAB_SHARE/report-$precision.json" | grep -o '"inference_ms_mean":[0-9.]*'), $(ls "/tmp/frames-$precision" | wc -l) pictures"
done
# The first frame written at both precisions goes to the host (only the share's top level does).
first=$(ls /tmp/frames-f32 | head -1)
[ -f "/tmp/frames-f16/$first" ] || lab_fail "frame $first was not written at f16"
cp "/tmp/frames-f32/$first" "$LAB_SHARE/f32.png"
cp "/tmp/frames-f16/$first" "$LAB_SHARE/f16.png"
lab_log "compared frame: $first"
# The bench the x86 figures come from, on arm64: few resamples, since its statistics are
# emulated too. Its own directory for criterion's files.
[ -n "${BENCH:-}" ] || lab_fail "no engine bench given (BENCH)"
mkdir -p /tmp/bench && cd /tmp/bench
for precision in f32 f16; do
  ATELIER_BENCH_MODEL="$LAB_REPO/models/default.onnx" ATELIER_BENCH_SIZES=64x48 ATELIER_BENCH_PRECISION=$precision \
    "$BENCH" --bench --noplot --warm-up-time 1 --measurement-time 2 --nresamples 1000 \
    >"$LAB_SHARE/bench-$precision.txt" 2>&1 \
    || { tail -20 "$LAB_SHARE/bench-$precision.txt" >&2; lab_fail "the engine bench failed at $precision"; }
  lab_log "bench $precision: $(grep -m1 'time:' "$LAB_SHARE/bench-$precision.txt" | tr -s ' ')"
done
