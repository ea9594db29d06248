#!/usr/bin/env bash
# End-to-end check of the mirror's control page in headless Chromium (puppeteer-core driving
# Debian's chromium; scripts/page_check.mjs does the browser part). Two runs of atelier-mirror on
# the test pattern: one open (page, thumbnails, live picture, a style click, Next/Previous,
# blank/wake, screenshots at 1280x900 and 390x844), one with --api-token (401 without it, the
# page's token form, the cookie, a style click). Screenshots go to $OUT_DIR (out/page-check/).
# usage: scripts/page-check.sh        (builds atelier-mirror if needed; ATELIER_MIRROR_BIN=PATH
#                                      uses that binary instead, e.g. the one `cargo test` built)
# PAGE_CHECK_HTML=edge/src/control/page.html serves that file as the page instead of the binary's
# built-in copy (try a page change without a rebuild).
# Installs what it lacks: Debian's chromium and nodejs (apt-get), and puppeteer-core (npm, into
# ~/.cache/atelier/node, not the repository; it never downloads a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
PUPPETEER_CORE_VERSION=24.43.1   # the newest line that still runs on Node 18/20 (25.x needs 22.12)
OUT_DIR=${OUT_DIR:-out/page-check}
NODE_DIR=${ATELIER_NODE_DIR:-$HOME/.cache/atelier/node}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
die() { echo "page-check: FAILED: $*" >&2; exit 1; }

[ "$CHROMIUM" = /usr/bin/chromium ] && scripts/host-packages.sh page
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM"
have=$(cd / && node -p "require('$NODE_DIR/node_modules/puppeteer-core/package.json').version" 2>/dev/null || true)
if [ "$have" != "$PUPPETEER_CORE_VERSION" ]; then
  echo "page-check: installing puppeteer-core@$PUPPETEER_CORE_VERSION into $NODE_DIR" >&2
  mkdir -p "$NODE_DIR"
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$NODE_DIR" --no-save --no-audit --no-fund --loglevel=error \
    "puppeteer-core@$PUPPETEER_CORE_VERSION" >&2
fi

if [ -n "${ATELIER_MIRROR_BIN:-}" ]; then
  MIRROR=$ATELIER_MIRROR_BIN
else
  source scripts/ensure-rust.sh
  "$CARGO" build -q -j 2 -p atelier-edge --bin atelier-mirror
  MIRROR=${CARGO_TARGET_DIR:-target}/debug/atelier-mirror
fi
[ -x "$MIRROR" ] || die "no atelier-mirror binary at $MIRROR"

mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/control-page*.png "$OUT_DIR"/failure-*.png
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_mirror NAME [ARGS...]: starts the mirror on a port the system picks; sets URL and PID.
start_mirror() {
  local name=$1; shift
  local log=$tmp/$name.log
  "$MIRROR" --input test-pattern: --output mjpeg://127.0.0.1:0 --model-size 160x120 \
    --state-dir "$tmp/$name-state" "$@" >"$log" 2>&1 &
  PID=$!; pids+=("$PID"); URL=""
  for _ in $(seq 600); do   # up to 60 s
    URL=$(sed -n 's|^Open the live preview: \(http://[^ ]*\)$|\1|p' "$log" | head -n 1)
    [ -n "$URL" ] && return 0
    if ! kill -0 "$PID" 2>/dev/null; then
      tail -n 20 "$log" >&2; die "atelier-mirror ($name) exited before it served the page"
    fi
    sleep 0.1
  done
  tail -n 20 "$log" >&2; die "atelier-mirror ($name) printed no preview address within 60 s"
}
stop_mirror() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

# run_phase NAME [TOKEN]: the browser part against $URL; on failure shows the mirror's log.
run_phase() {
  local name=$1 token=${2:-}
  if ! PAGE_CHECK_URL=$URL PAGE_CHECK_TOKEN=$token PAGE_CHECK_NODE_DIR=$NODE_DIR OUT_DIR=$OUT_DIR \
    CHROMIUM=$CHROMIUM timeout 90 node scripts/page_check.mjs "$name"; then
    echo "page-check: last lines of the mirror's log ($name):" >&2
    tail -n 20 "$tmp/$name.log" >&2
    die "the $name phase failed (see above; screenshots in $OUT_DIR)"
  fi
}

echo "page-check: $MIRROR, Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'), puppeteer-core $PUPPETEER_CORE_VERSION"
start_mirror open
echo "page-check: mirror without a token at $URL"
run_phase open
stop_mirror

TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
start_mirror token --api-token "$TOKEN"
echo "page-check: mirror with --api-token at $URL"
run_phase token "$TOKEN"
stop_mirror

echo "page-check: passed in $((SECONDS - started)) s; screenshots: $(ls "$OUT_DIR"/*.png | tr '\n' ' ')"
