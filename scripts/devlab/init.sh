#!/bin/sh
# PID 1 of the device-lab guest (static busybox in the initramfs built by scripts/devlab.sh).
#  - loads the virtio/9p/overlay modules shipped in the initramfs,
#  - mounts the root 9p share (tag labroot: the host's / for x86_64, an unpacked arm64 root for
#    aarch64) read-only with a tmpfs overlay on top, the guest kernel's modules (tag labmods) at
#    /lib/modules/$(uname -r), the read-write run share (tag labshare) at /lab and, on aarch64, the
#    repo (tag labrepo) at /repo,
#  - runs /lab/.lab/run.sh (written by the host) chrooted in that root, stdin /dev/null,
#  - writes its exit code to /lab/.lab/rc, dmesg to /lab/dmesg.log, and powers off.
# Anything going wrong here powers off without an rc file: the host reports a lab failure.
export PATH=/bin
/bin/busybox --install -s /bin

fail() {
  echo "devlab-init: FAIL: $*"
  poweroff -f
  sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
  insmod "/modules/$m" || fail "insmod $m"
done </modules/order

P9="trans=virtio,version=9p2000.L,msize=262144"
mount9p() { # tag dir opts
  i=0
  while ! mount -t 9p -o "$P9,$3" "$1" "$2" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 50 ] || fail "cannot mount 9p tag $1"
    sleep 0.1
  done
}
mount9p labshare /mnt/share cache=none
. /mnt/share/.lab/config || fail "no /lab/.lab/config"
# The root changes little during a run: cache metadata (much faster under TCG).
mount9p labroot /mnt/lower ro,cache=loose

mount -t tmpfs -o mode=755 tmpfs /mnt/rw || fail "tmpfs"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay overlay \
  -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /mnt/root \
  || fail "overlay mount"
R=/mnt/root
KVER="$(uname -r)"

mkdir -p "$R/proc" "$R/sys" "$R/dev" "$R/run" "$R/tmp" "$R/lab"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t debugfs debugfs "$R/sys/kernel/debug" 2>/dev/null
mount -t devtmpfs devtmpfs "$R/dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mkdir -p "$R/lib/modules/$KVER"
mount9p labmods "$R/lib/modules/$KVER" ro,cache=loose

if [ "$LAB_REPO_GUEST" = /repo ]; then
  mkdir -p "$R/repo"
  mount9p labrepo "$R/repo" ro,cache=loose
  mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
else
  # A fresh /tmp hides the host's; keep the repo visible if it lives there (CI checkouts).
  keep=0
  case "$LAB_REPO" in /tmp/*)
    mount --bind "$R$LAB_REPO" /mnt/keep || fail "bind $LAB_REPO"
    keep=1 ;;
  esac
  mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
  if [ "$keep" = 1 ]; then
    mkdir -p "$R$LAB_REPO"
    mount --move /mnt/keep "$R$LAB_REPO" || fail "move $LAB_REPO"
  fi
fi
mount --move /mnt/share "$R/lab" || fail "move share"

# Kernel-initiated module loads (e.g. g_serial -> usb_f_acm) run this in PID 1's root.
cat >/bin/lab-modprobe <<'EOF'
#!/bin/sh
exec /bin/busybox chroot /mnt/root /sbin/modprobe "$@"
EOF
chmod 755 /bin/lab-modprobe
echo /bin/lab-modprobe >/proc/sys/kernel/modprobe

ifconfig lo 127.0.0.1 up 2>/dev/null
hostname devlab

if [ "${LAB_INIT:-script}" = systemd ]; then
  # systemd becomes PID 1 of the root and runs the script once the system is up
  # (lab-run.service, which records times and exit code as below, and powers off).
  cp "$R/repo/scripts/devlab/lab-run.service" "$R/etc/systemd/system/" || fail "no lab-run.service"
  mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
  ln -sf ../lab-run.service "$R/etc/systemd/system/multi-user.target.wants/lab-run.service"
  echo /sbin/modprobe >/proc/sys/kernel/modprobe
  for m in dev/pts dev/shm dev run sys/kernel/debug sys proc; do umount "$R/$m" 2>/dev/null; done
  exec switch_root "$R" /lib/systemd/systemd
fi
SH=/bin/sh
[ -x "$R/bin/bash" ] && SH=/bin/bash
read -r up _ </proc/uptime
echo "boot $up" >"$R/lab/.lab/times"
chroot "$R" "$SH" /lab/.lab/run.sh </dev/null
rc=$?
read -r up _ </proc/uptime
echo "end $up" >>"$R/lab/.lab/times"
dmesg >"$R/lab/dmesg.log" 2>/dev/null
echo "$rc" >"$R/lab/.lab/rc.tmp" && mv "$R/lab/.lab/rc.tmp" "$R/lab/.lab/rc"
sync
poweroff -f
sleep 10
