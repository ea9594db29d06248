#!/usr/bin/env bash
# Lets this x86-64 machine run arm64 programs the way Debian builds its own Raspberry Pi images:
# the kernel's binfmt_misc hands each arm64 ELF to qemu-aarch64-static (qemu-user-static's
# registration, flag F: the interpreter is opened now, so it also works inside a chroot).
# Mounts binfmt_misc when the machine has not (containers, CI), registers the handler when
# nothing did (no systemd-binfmt or binfmt-support here), then checks an arm64 program runs.
# Needs root; the packages come from scripts/host-packages.sh pi.
set -euo pipefail
dir=/proc/sys/fs/binfmt_misc
fail() { echo "arm64-binfmt: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (binfmt_misc registration)"
if [ ! -e "$dir/register" ]; then
  mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null \
    || fail "cannot mount binfmt_misc on $dir; this machine cannot run arm64 programs (a container without the right?)"
fi
if [ ! -e "$dir/qemu-aarch64" ]; then
  conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -f "$conf" ] || fail "$conf missing (install qemu-user-static: scripts/host-packages.sh pi)"
  grep -v '^#' "$conf" >"$dir/register" || fail "registering $conf with binfmt_misc failed"
fi
grep -qx enabled "$dir/qemu-aarch64" || echo 1 >"$dir/qemu-aarch64"
arch-test arm64 >/dev/null || fail "arm64 programs still do not run (arch-test arm64: $(arch-test arm64 2>&1))"
