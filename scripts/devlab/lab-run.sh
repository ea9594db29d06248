#!/bin/sh
# Runs the scenario under systemd (lab-run.service) as init.sh does without it: times, exit
# code, dmesg and the boot's journal into the share, then powers off.
read -r up _ </proc/uptime
echo "boot $up" >/lab/.lab/times
if [ -x /bin/bash ]; then bash /lab/.lab/run.sh </dev/null; else sh /lab/.lab/run.sh </dev/null; fi
rc=$?
read -r up _ </proc/uptime
echo "end $up" >>/lab/.lab/times
dmesg >/lab/dmesg.log 2>/dev/null
journalctl -b --no-pager -o short-monotonic >/lab/journal.log 2>&1
echo "$rc" >/lab/.lab/rc.tmp && mv /lab/.lab/rc.tmp /lab/.lab/rc
sync
systemctl poweroff -ff
