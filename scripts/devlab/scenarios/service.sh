#!/bin/sh
# The packaged mirror under systemd as PID 1 (scripts/service-lab.sh boots a Debian root with the
# .deb installed; this runs as lab-run.service once the system is up). The service started by
# itself at boot with the vivid camera and the bochs screen; this checks, for real:
#   - it is active (Type=notify: READY=1 after the first frame), as user atelier, with a STATUS=
#   - the screen shows the mirror (screendump; service.host.sh judges it)
#   - SIGSTOP of the mirror: the watchdog kills and restarts it
#   - systemctl stop (SIGTERM): a clean stop, exit 0, its last lines in the journal, the screen
#     handed back to the console
#   - a broken config with a kept good one: one ERROR line, the mirror runs on the kept one
#   - a broken config with none kept: five starts, then the start limit; no crash loop; the
#     delay between starts grows where systemd can (254 and later: Debian 13), else stays 2 s
set -eu
. "$LAB_LIB"
unit=atelier-mirror.service
prop() { systemctl show -p "$1" --value "$unit"; }
wait_for() { # SECONDS DESCRIPTION COMMAND...
  secs=$1 what=$2; shift 2
  i=0
  while ! "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt $((secs * 2)) ]; then
      systemctl status --no-pager "$unit" >&2 || true
      journalctl -u "$unit" --no-pager -n 30 >&2 || true
      lab_fail "$what: not within ${secs}s"
    fi
    sleep 0.5
  done
}
active() { [ "$(prop ActiveState)" = active ] && [ "$(prop SubState)" = running ]; }
journal() { journalctl -u "$unit" --no-pager -o cat; }

# --- started at boot, by itself ---
wait_for 300 "the service active after boot" active
lab_log "active: $(prop StatusText)"
[ "$(ps -o user= -p "$(prop MainPID)")" = atelier ] || lab_fail "not running as atelier: $(ps -o user= -p "$(prop MainPID)")"
journal | grep -q "first frame shown: drm" || { journal >&2; lab_fail "no first frame on the DRM screen before READY"; }
wait_for 60 "a STATUS= line with fps and camera" sh -c "systemctl show -p StatusText --value $unit | grep -q 'fps.*camera ok'"
prop StatusText >"$LAB_SHARE/status.txt"
sleep 2
lab_screendump service

# --- watchdog: a stopped (hung) mirror is restarted ---
pid=$(prop MainPID)
restarts=$(prop NRestarts)
lab_log "SIGSTOP to $pid (WatchdogSec=$(prop WatchdogUSec))"
kill -STOP "$pid"
wait_for 120 "a new mirror process after the watchdog" sh -c "[ \"\$(systemctl show -p MainPID --value $unit)\" != $pid ] && [ \"\$(systemctl show -p MainPID --value $unit)\" != 0 ]"
wait_for 300 "the restarted service active" active
journal | grep -q "Watchdog timeout" || { journal | tail -n 20 >&2; lab_fail "no watchdog timeout in the journal"; }
[ "$(prop NRestarts)" -gt "$restarts" ] || lab_fail "NRestarts did not grow"
lab_log "watchdog restarted the mirror: pid $pid -> $(prop MainPID), NRestarts $(prop NRestarts)"

# --- systemctl stop sends SIGTERM: a clean stop, not a kill ---
cursor=$(journalctl -u "$unit" -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
systemctl stop "$unit"
after_stop() { journalctl -u "$unit" --after-cursor="$cursor" --no-pager -o cat; }
[ "$(prop Result)" = success ] && [ "$(prop ExecMainCode)" = 1 ] && [ "$(prop ExecMainStatus)" = 0 ] \
  || { after_stop >&2; lab_fail "stop: Result=$(prop Result) ExecMainCode=$(prop ExecMainCode) ExecMainStatus=$(prop ExecMainStatus)"; }
after_stop | grep -q "SIGTERM: stopping" && after_stop | grep -q "stopped after" \
  || { after_stop >&2; lab_fail "no clean-stop lines in the journal"; }
after_stop | grep "stopped after" | tail -n 1 >"$LAB_SHARE/stop-line.txt"
sleep 1
lab_screendump stopped
lab_log "systemctl stop: exit 0, $(cat "$LAB_SHARE/stop-line.txt")"
systemctl start "$unit"
wait_for 300 "active again after the stop" active

# --- a broken config: the kept good one is used, the problem is one line and on the screen ---
ls /var/lib/atelier/last-good_* >/dev/null 2>&1 || lab_fail "no kept copy of the good config"
cp /etc/atelier/mirror.toml /tmp/good.toml
printf 'fps = "fast"\n' >>/etc/atelier/mirror.toml
systemctl restart "$unit" || lab_fail "restart with a broken config (kept copy) failed"
wait_for 300 "active on the kept config" active
journal | grep "ERROR" | tail -n 1 | grep -q "mirror.toml.*last good" \
  || { journal | tail -n 20 >&2; lab_fail "no ERROR line naming the file and the fallback"; }
journal | grep "ERROR" | tail -n 1 >"$LAB_SHARE/broken-config-line.txt"
sleep 3
lab_screendump broken-config

# --- a broken config and nothing kept: the start limit ends the retries ---
systemctl stop "$unit"
rm -f /var/lib/atelier/last-good_*
systemctl reset-failed "$unit" 2>/dev/null || true
before=$(prop NRestarts)
cursor=$(journalctl -u "$unit" -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
systemctl start --no-block "$unit"
# (systemd 252 keeps Result=exit-code when the limit ends automatic restarts; the journal says it.)
# Only this part's journal: the earlier broken-config start logged the same config line.
since() { journalctl -u "$unit" --after-cursor="$cursor" --no-pager -o cat; }
wait_for 180 "the start limit" sh -c "journalctl -u $unit --after-cursor='$cursor' -o cat | grep -q 'Start request repeated too quickly' && [ \"\$(systemctl show -p ActiveState --value $unit)\" = failed ]"
starts=$(since | grep -c "atelier-mirror: config /etc/atelier/mirror.toml" || true)
after=$(prop NRestarts)
sleep 8
[ "$(prop NRestarts)" = "$after" ] && [ "$(prop ActiveState)" = failed ] \
  || lab_fail "still restarting after the start limit ($(prop ActiveState), NRestarts $(prop NRestarts))"
lab_log "broken config, nothing kept: $starts starts, $((after - before)) automatic restarts, then the start limit"
[ "$starts" -eq 5 ] || lab_fail "$starts failed starts before the limit, not StartLimitBurst=5"
# The delay between failed starts: systemd 254 and later grow it (RestartSteps=6 up to
# RestartMaxDelaySec=2min), 252 (Debian 12) ignores those keys and keeps RestartSec=2s.
version=$(systemctl --version | awk 'NR == 1 {print $2}')
gaps=$(journalctl -u "$unit" --after-cursor="$cursor" -o short-monotonic --no-pager \
  | grep 'Starting atelier-mirror.service' | sed 's/^\[ *\([0-9.]*\)\].*/\1/' \
  | awk 'NR > 1 {printf "%.1f ", $1 - prev} {prev = $1}')
lab_log "systemd $version, seconds between failed starts: $gaps"
if [ "$version" -ge 254 ]; then
  echo "$gaps" | awk '{for (i = 2; i <= NF; i++) if ($i <= $(i-1)) exit 1; exit !(NF >= 3 && $NF >= 2 * $1)}' \
    || lab_fail "systemd $version: the delays between restarts do not grow: $gaps"
else
  echo "$gaps" | awk '{for (i = 1; i <= NF; i++) if ($i > 8) exit 1}' \
    || lab_fail "systemd $version: restarts further apart than RestartSec=2s: $gaps"
fi
echo "starts $starts restarts $((after - before)) then start-limit; systemd $version; gaps $gaps" >"$LAB_SHARE/start-limit.txt"

# Back to the good config: reset-failed re-arms it, and it comes back.
cp /tmp/good.toml /etc/atelier/mirror.toml
systemctl reset-failed "$unit"
systemctl start "$unit"
wait_for 300 "active again after reset-failed" active
journal >"$LAB_SHARE/mirror-journal.log"
lab_log "service scenario done"
