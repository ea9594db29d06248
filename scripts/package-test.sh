#!/usr/bin/env bash
# Tests the atelier-mirror .deb the way an operator meets it, in a clean Debian 12 root built from
# Debian's packages (mmdebstrap, ~30 s) on a size-limited tmpfs, with dpkg run inside it:
#   install       files and conffile in place, the `atelier` user in its device groups, the unit
#                 enabled, the installed binary stylizes a frame with a shipped model as that user
#   upgrade       the operator's edit of /etc/atelier/mirror.toml survives an upgrade without a
#                 prompt, and a changed upstream config lands beside it (.dpkg-dist)
#   failed upgrades   a cut-off download, a failing preinst and a full disk during unpack each
#                 leave the installed version configured and the mirror working
#   remove/purge  remove keeps the config and the state directory, purge deletes both
#   arm64         (when given) the arm64 package holds the same files, an aarch64 binary and
#                 arm64 control fields
#
#   scripts/package-test.sh AMD64_DEB [ARM64_DEB]
#
# Later versions are made by repacking the given package with dpkg-deb (no second build).
# Needs root (chroot, mount) and mmdebstrap (installed on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] && [ -f "$1" ] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
deb=$(realpath "$1") arm_deb=${2:+$(realpath "$2")}
[ "$(id -u)" = 0 ] || { echo "package-test: needs root (chroot and mount)" >&2; exit 2; }
scripts/host-packages.sh package

work=$(mktemp -d /tmp/package-test.XXXXXX)
root=$work/root
cleanup() {
  for m in proc dev sys; do umount -l "$root/$m" 2>/dev/null || true; done
  umount -l "$root" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
ok() { echo "package-test: ok: $*"; passed=$((passed + 1)); }
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
dpkg_in() { # dpkg args... (stdin closed: a conffile prompt fails the test instead of waiting)
  in_root dpkg "$@" </dev/null
}
version_of() { in_root dpkg-query -W -f='${Version} ${Status}' atelier-mirror 2>/dev/null || true; }

# A later version of the package: the same files with a new version, plus edits by a hook.
repack() { # out version [hook: a function run on the unpacked tree]
  local out=$1 version=$2 hook=${3:-} tree=$work/repack
  rm -rf "$tree"; dpkg-deb -R "$deb" "$tree"
  sed -i "s/^Version: .*/Version: $version/" "$tree/DEBIAN/control"
  [ -z "$hook" ] || "$hook" "$tree"
  dpkg-deb --root-owner-group -Zgzip -z1 -b "$tree" "$out" >/dev/null
}

# The mirror as installed: one frame of the test pattern through a shipped model, as its user.
mirror_works() {
  in_root rm -rf /tmp/frame
  in_root runuser -u atelier -- atelier-mirror --input test-pattern: --output png:/tmp/frame --frames 1 \
    --presence off --model /usr/share/atelier/models/garments7.onnx --model-size 64x48 \
    --capture-size 128x96 --state-dir /tmp/state-$RANDOM >"$work/mirror.log" 2>&1 \
    || { cat "$work/mirror.log" >&2; return 1; }
  [ -s "$root/tmp/frame/frame-000000.png" ] || { cat "$work/mirror.log" >&2; return 1; }
}

echo "package-test: building a clean Debian 12 root (mmdebstrap)"
mmdebstrap --quiet --variant=apt --include=systemd,systemd-sysv bookworm "$work/base.tar" \
  http://deb.debian.org/debian || fail "mmdebstrap could not build the root (network? see above)"
mkdir -p "$root"
mount -t tmpfs -o size=1500m tmpfs "$root"
tar -C "$root" -xf "$work/base.tar"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
cp "$deb" "$root/tmp/v1.deb"
v1=$(dpkg-deb -f "$deb" Version)

# --- install ---
dpkg_in -i /tmp/v1.deb >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i"; }
[ "$(version_of)" = "$v1 install ok installed" ] || fail "installed state: $(version_of)"
for f in /usr/bin/atelier-mirror /etc/atelier/mirror.toml /usr/lib/systemd/system/atelier-mirror.service \
         /usr/lib/sysusers.d/atelier-mirror.conf /usr/share/atelier/models/classics6.onnx \
         /usr/share/atelier/models/garments7.onnx /usr/share/atelier/models/segmenter/selfie-landscape.onnx \
         /usr/share/doc/atelier-mirror/copyright /usr/share/doc/atelier-mirror/third-party-crates.txt \
         /usr/share/man/man1/atelier-mirror.1.gz; do
  [ -e "$root$f" ] || fail "installed package lacks $f"
done
grep -qx /etc/atelier/mirror.toml "$root/var/lib/dpkg/info/atelier-mirror.conffiles" || fail "mirror.toml is not a conffile"
ok "install: files, models, licences and man page in place; /etc/atelier/mirror.toml is a conffile"
in_root getent passwd atelier | grep -q ':/var/lib/atelier:/usr/sbin/nologin$' || fail "no atelier system user"
groups=$(in_root id -nG atelier)
for g in video render dialout gpio; do
  [[ " $groups " == *" $g "* ]] || fail "atelier is not in $g (groups: $groups)"
done
[ "$(in_root id -u atelier)" -lt 1000 ] || fail "atelier is not a system user"
ok "install: system user atelier in $groups"
[ -L "$root/etc/systemd/system/multi-user.target.wants/atelier-mirror.service" ] || fail "unit not enabled"
ok "install: atelier-mirror.service enabled"
mirror_works || fail "the installed mirror did not stylize a frame"
ok "install: the installed mirror stylizes a frame with a shipped model as user atelier"

# --- upgrade keeps the operator's config ---
printf '\n# edited by the operator\nshow_fps = true\n' >>"$root/etc/atelier/mirror.toml"
edited=$(sha256sum <"$root/etc/atelier/mirror.toml")
mkdir -p "$root/var/lib/atelier"; echo kept >"$root/var/lib/atelier/style"
repack "$root/tmp/v2.deb" "$v1+upgrade2"
dpkg_in -i /tmp/v2.deb >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log"; fail "upgrade to v2 (a prompt?)"; }
[ "$(version_of)" = "$v1+upgrade2 install ok installed" ] || fail "after upgrade: $(version_of)"
[ "$(sha256sum <"$root/etc/atelier/mirror.toml")" = "$edited" ] || fail "the upgrade changed the edited config"
[ "$(cat "$root/var/lib/atelier/style")" = kept ] || fail "the upgrade lost the state directory"
mirror_works || fail "mirror after the upgrade"
ok "upgrade: edited config and state kept, no prompt, mirror works"

new_config() { printf '\n# a new upstream default\n' >>"$1/etc/atelier/mirror.toml"; }
repack "$root/tmp/v3.deb" "$v1+upgrade3" new_config
dpkg_in -i --force-confdef --force-confold /tmp/v3.deb >"$work/upgrade3.log" 2>&1 \
  || { cat "$work/upgrade3.log"; fail "upgrade to v3"; }
[ "$(sha256sum <"$root/etc/atelier/mirror.toml")" = "$edited" ] || fail "confold did not keep the edited config"
grep -q 'a new upstream default' "$root/etc/atelier/mirror.toml.dpkg-dist" || fail "no mirror.toml.dpkg-dist"
ok "upgrade with a new upstream config (--force-confold, as unattended upgrades run): edit kept, new one as .dpkg-dist"
good="$v1+upgrade3 install ok installed"

# --- failed upgrades leave the installed version working ---
repack "$work/v4.deb" "$v1+upgrade4"
head -c $(( $(stat -c %s "$work/v4.deb") / 2 )) "$work/v4.deb" >"$root/tmp/cut.deb"
if dpkg_in -i /tmp/cut.deb >"$work/cut.log" 2>&1; then fail "dpkg accepted a cut-off package"; fi
[ "$(version_of)" = "$good" ] || fail "after a cut-off package: $(version_of)"
mirror_works || fail "mirror after a cut-off package"
ok "cut-off download: refused ($(grep -m1 -o 'error.*' "$work/cut.log" | head -c 80)), installed version intact"

failing_preinst() { printf '#!/bin/sh\necho "preinst: refusing" >&2\nexit 1\n' >"$1/DEBIAN/preinst"; chmod 755 "$1/DEBIAN/preinst"; }
repack "$root/tmp/v5.deb" "$v1+upgrade5" failing_preinst
if dpkg_in -i /tmp/v5.deb >"$work/preinst.log" 2>&1; then fail "an upgrade with a failing preinst succeeded"; fi
[ "$(version_of)" = "$good" ] || fail "after a failing preinst: $(version_of)"
mirror_works || fail "mirror after a failing preinst"
ok "failing preinst: upgrade refused, installed version intact and configured"

# Full disk: shrink the root's tmpfs to what it uses plus 8 MiB, less than the new files need
# (dpkg unpacks beside the old files and renames only when everything is written).
used_kib=$(df -k --output=used "$root" | tail -n1)
bigger() { head -c $((24 << 20)) /dev/urandom >"$1/usr/share/atelier/models/padding.bin"; }
repack "$work/v6.deb" "$v1+upgrade6" bigger
mount -o remount,size=$((used_kib + $(du -k "$work/v6.deb" | cut -f1) + 16384))k "$root"
cp "$work/v6.deb" "$root/tmp/v6.deb"          # the package itself fits, its contents will not
mount -o remount,size=$(( $(df -k --output=used "$root" | tail -n1) + 8192 ))k "$root"
if dpkg_in -i /tmp/v6.deb >"$work/full.log" 2>&1; then fail "an upgrade onto a full disk succeeded"; fi
grep -q 'No space left on device' "$work/full.log" || { cat "$work/full.log"; fail "the upgrade failed for another reason"; }
mount -o remount,size=1500m "$root"
[ "$(version_of)" = "$good" ] || fail "after a full disk: $(version_of)"
mirror_works || fail "mirror after a full disk"
ok "full disk during unpack: dpkg rolled back, installed version intact and configured"

# --- remove and purge ---
dpkg_in -r atelier-mirror >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/atelier-mirror" ] || fail "remove left the binary"
[ -f "$root/etc/atelier/mirror.toml" ] || fail "remove deleted the config"
[ -f "$root/var/lib/atelier/style" ] || fail "remove deleted the state"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/atelier-mirror.service" ] || fail "remove left the unit enabled"
ok "remove: binary and unit gone, config and state kept"
dpkg_in -P atelier-mirror >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P"; }
[ ! -e "$root/etc/atelier" ] || fail "purge left /etc/atelier: $(ls -A "$root/etc/atelier")"
[ ! -e "$root/var/lib/atelier" ] || fail "purge left /var/lib/atelier"
[ -z "$(in_root dpkg-query -W -f='${Status}' atelier-mirror 2>/dev/null | grep -v not-installed || true)" ] \
  || fail "still known to dpkg after purge"
[ ! -e "$root/etc/systemd/system/atelier-mirror.service" ] || fail "purge left a mask"
ok "purge: config, state and unit links gone (the atelier user stays, as Debian keeps system users)"

# --- the arm64 package ---
if [ -n "$arm_deb" ]; then
  [ "$(dpkg-deb -f "$arm_deb" Architecture)" = arm64 ] || fail "arm64 package says $(dpkg-deb -f "$arm_deb" Architecture)"
  list() { dpkg-deb -c "$1" | awk '{print $6}' | sort; }
  diff <(list "$deb") <(list "$arm_deb") >"$work/lists.diff" || { cat "$work/lists.diff"; fail "arm64 and amd64 packages hold different files"; }
  mkdir -p "$work/arm"; dpkg-deb -x "$arm_deb" "$work/arm"
  file -b "$work/arm/usr/bin/atelier-mirror" | grep -q 'ARM aarch64' || fail "arm64 binary: $(file -b "$work/arm/usr/bin/atelier-mirror")"
  dpkg-deb -f "$arm_deb" Depends | grep -q 'libc6' || fail "arm64 Depends: $(dpkg-deb -f "$arm_deb" Depends)"
  cmp -s <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst) <(dpkg-deb --ctrl-tarfile "$arm_deb" | tar -xO ./postinst) \
    || fail "arm64 and amd64 maintainer scripts differ"
  ok "arm64 package: same files and maintainer scripts, aarch64 binary, Depends $(dpkg-deb -f "$arm_deb" Depends)"
fi
echo "package-test: $passed passed"
