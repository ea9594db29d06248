#!/usr/bin/env bash
# The mirror's systemd unit (edge/systemd/atelier-mirror.service): `systemd-analyze verify` passes
# and `systemd-analyze security` rates its exposure at 2.0 or lower (docs/service.md records the
# figure). The unit's ExecStart points at the built mirror, since verify checks the executable.
#   ATELIER_MIRROR_BIN=target/debug/atelier-mirror scripts/service-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${ATELIER_MIRROR_BIN:-target/debug/atelier-mirror}")
[ -x "$bin" ] || { echo "service-check: no mirror binary at $bin (cargo build -p atelier-edge)" >&2; exit 1; }
scripts/host-packages.sh service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit="$tmp/atelier-mirror.service"
sed "s|/usr/bin/atelier-mirror|$bin|" edge/systemd/atelier-mirror.service >"$unit"
systemd-analyze verify "$unit"
exposure=$(systemd-analyze security --offline=true --no-pager "$unit" 2>/dev/null \
  | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "service-check: systemd-analyze verify passed; exposure $exposure (systemd $(systemctl --version | head -1 | cut -d' ' -f2))"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }' \
  || { echo "service-check: exposure '$exposure' is above 2.0: a hardening line was lost" >&2; exit 1; }
