#!/bin/sh
# Device-lab check of the MJPEG camera: JPEG frames (made here from vivid's test pattern, plus a
# truncated one) go through mjpeg-feed into v4l2loopback; v4l2-ctl streams them back as MJPG.
set -eu
. "$LAB_LIB"

lab_load_vivid
lab_load_v4l2loopback
w=/tmp/frames; mkdir -p "$w"

# Three 640x480 frames from vivid as RGB24 -> PPM -> JPEG (cjpeg), and one corrupt JPEG.
v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=RGB3 --set-parm=25
v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=3 --stream-to="$w/rgb"
for i in 0 1 2; do
  { printf 'P6\n640 480\n255\n'; dd if="$w/rgb" bs=921600 skip="$i" count=1 2>/dev/null; } >"$w/f$i.ppm"
  cjpeg -quality 80 "$w/f$i.ppm" >"$w/f$i.jpg"
done
head -c 3000 "$w/f1.jpg" >"$w/corrupt.jpg"
cp "$w/f0.jpg" "$LAB_SHARE/source-frame.jpg"
lab_log "frames: $(wc -c "$w"/*.jpg | tr '\n' ' ')"

lab_mjpeg_feed -d /dev/video10 -r 15 -s 640x480 "$w/f0.jpg" "$w/f1.jpg" "$w/corrupt.jpg" "$w/f2.jpg"
v4l2-ctl -d /dev/video10 --all >"$LAB_SHARE/video10.txt"
v4l2-ctl -d /dev/video10 --list-formats-ext >>"$LAB_SHARE/video10.txt"
grep -q "Pixel Format *: 'MJPG'" "$LAB_SHARE/video10.txt" || lab_fail "/dev/video10 is not MJPG"
grep -q "Width/Height *: 640/480" "$LAB_SHARE/video10.txt" || lab_fail "/dev/video10 is not 640x480"

v4l2-ctl -d /dev/video10 --stream-mmap --stream-count=12 --stream-to="$LAB_SHARE/capture.mjpeg"
kill "$LAB_FEED_PID"; wait "$LAB_FEED_PID" || lab_fail "mjpeg-feed failed"
size=$(wc -c <"$LAB_SHARE/capture.mjpeg")
[ "$size" -gt 10000 ] || lab_fail "captured only $size bytes"
soi=$(od -An -tx1 -N2 "$LAB_SHARE/capture.mjpeg" | tr -d ' ')
[ "$soi" = ffd8 ] || lab_fail "capture does not start with a JPEG SOI ($soi)"
lab_log "captured $size bytes of MJPEG from /dev/video10"
