# Sourced by scripts/test.sh: runs the test command as named stages, each with its own log and
# time, some in the background beside the compiler; a summary table at the end; and when a stage
# fails, the last lines printed name it and its log.
#
#   stage NAME CMD...      run CMD (a program, not a shell function) now; its output goes to the
#                          terminal and to $STAGE_LOGS/NAME.log
#   stage_bg NAME CMD...   start CMD in the background (nice 10); its output goes to the log only
#   stage_wait NAME        wait for a background stage; its failure fails the run
#   stages_done            print the summary (also written to $STAGE_LOGS/summary.txt)

STAGE_LOGS=${STAGE_LOGS:-out/test-logs}
rm -rf "$STAGE_LOGS" && mkdir -p "$STAGE_LOGS"
STAGE_LOGS=$(cd "$STAGE_LOGS" && pwd)
STAGES_START=$SECONDS
STAGE_ROWS=()
declare -A STAGE_PID=() STAGE_T0=()

_stage_row() { # name seconds how
  STAGE_ROWS+=("$(printf '%-22s %6d s  %s' "$1" "$2" "$3")")
}

_stage_table() {
  {
    echo "test.sh: stages (wall seconds; background stages overlap the others)"
    printf '  %s\n' "${STAGE_ROWS[@]}"
    printf '  %-22s %6d s\n' "total" $((SECONDS - STAGES_START))
  } | tee "$STAGE_LOGS/summary.txt"
}

# The last lines of a failed run: the table so far, then the stage, its exit status and its log.
_stage_fail() { # name rc log
  _stage_row "$1" $((SECONDS - ${STAGE_T0[$1]:-$SECONDS})) "FAILED (exit $2)"
  for other in "${!STAGE_PID[@]}"; do kill -- "-${STAGE_PID[$other]}" 2>/dev/null || kill "${STAGE_PID[$other]}" 2>/dev/null || true; done
  echo
  _stage_table
  echo "test.sh: FAILED: stage '$1' (exit $2); its log: $3"
  exit "$2"
}

stage() {
  local name=$1; shift
  local log=$STAGE_LOGS/$name.log
  STAGE_T0[$name]=$SECONDS
  echo "==> stage $name ($(date +%H:%M:%S); log: $log)"
  local rc=0
  "$@" 2>&1 | tee "$log" || rc=$?
  [ "$rc" = 0 ] || _stage_fail "$name" "$rc" "$log"
  _stage_row "$name" $((SECONDS - STAGE_T0[$name])) ok
}

stage_bg() {
  local name=$1; shift
  local log=$STAGE_LOGS/$name.log
  STAGE_T0[$name]=$SECONDS
  echo "==> stage $name started in the background ($(date +%H:%M:%S); log: $log)"
  # Its own process group, so a failure elsewhere can stop it and everything it started; the
  # time it ended is noted for the summary (it may end long before it is waited for).
  setsid nice -n 10 bash -c '"$@"; rc=$?; echo $SECONDS >"$0.seconds"; exit $rc' "$log" "$@" >"$log" 2>&1 </dev/null &
  STAGE_PID[$name]=$!
}

stage_wait() {
  local name=$1 rc=0
  local log=$STAGE_LOGS/$name.log
  echo "==> waiting for background stage $name ($(date +%H:%M:%S))"
  wait "${STAGE_PID[$name]}" || rc=$?
  unset "STAGE_PID[$name]"
  if [ "$rc" != 0 ]; then
    echo "---- last lines of $log ----"
    tail -n 40 "$log"
    _stage_fail "$name" "$rc" "$log"
  fi
  _stage_row "$name" "$(cat "$log.seconds" 2>/dev/null || echo $((SECONDS - STAGE_T0[$name])))" "ok (background)"
}

stages_done() {
  echo
  _stage_table
}
