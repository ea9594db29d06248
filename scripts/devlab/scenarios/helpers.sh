#!/bin/sh
# Exercises the guest-lib helpers not covered by smoke.sh: camera unplug/replug while streaming,
# the USB serial pair with unplug/replug, raw QMP, PNG screendumps.
set -eu
. "$LAB_LIB"

# Camera unplug while a client streams: the client sees an error, the node goes and comes back.
lab_load_vivid
v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=YUYV --set-parm=25
v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=100000 >"$LAB_SHARE/stream.log" 2>&1 &
streamer=$!
lab_wait_file /sys/class/video4linux/video0 5 || lab_fail "no video0"
sleep 1
lab_unplug_camera
[ ! -e /dev/video0 ] || lab_fail "/dev/video0 still there after unplug"
wait "$streamer" || true   # v4l2-ctl prints an error and exits 0
grep -q 'VIDIOC_DQBUF: failed' "$LAB_SHARE/stream.log" || lab_fail "streamer saw no error on unplug"
lab_replug_camera
v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=2 --stream-to=/dev/null
lab_log "camera unplug/replug ok"

# USB serial pair: gadget side /dev/ttyGS0 -> host side /dev/ttyACM0.
lab_load_serial
stty -F /dev/ttyACM0 raw -echo
stty -F /dev/ttyGS0 raw -echo
cat /dev/ttyACM0 >"$LAB_SHARE/serial.txt" &
reader=$!
sleep 0.5
echo "hello over usb" >/dev/ttyGS0
i=0
until grep -q "hello over usb" "$LAB_SHARE/serial.txt"; do
  i=$((i + 1)); [ "$i" -lt 100 ] || lab_fail "no serial data"; sleep 0.1
done
lab_unplug_serial
wait "$reader" || true     # EOF on unplug
lab_replug_serial
lab_log "serial ok"

# Raw QMP and a PNG screendump (of the console on the fbdev framebuffer).
lab_qmp '{"execute": "query-status"}' | tee "$LAB_SHARE/status.json" | grep -q '"running"' \
  || lab_fail "query-status not running"
lab_load_display
lab_screendump console png
lab_log "helpers ok"
