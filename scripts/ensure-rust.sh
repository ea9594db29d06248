#!/usr/bin/env bash
# Sourced by the other scripts: makes sure a Rust toolchain >= 1.91 is available and exports
# CARGO. On a fresh Debian 12 machine with no Rust it installs Debian's rustc-web/cargo-web
# (1.96, from bookworm-security); no toolchain download is needed. It also installs what the
# build needs beside Rust when missing (scripts/host-packages.sh build: C/C++ compilers, libclang
# for the v4l crate's bindgen, Python's venv).
need_minor=91
cargo_ok() {
  local v
  v=$("$1" --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] && [ "$(echo "$v" | cut -d. -f1)" -ge 1 ] && [ "$(echo "$v" | cut -d. -f2)" -ge $need_minor ]
}
if command -v cargo >/dev/null && cargo_ok "$(command -v cargo)"; then
  CARGO=$(command -v cargo)
elif [ -x "$HOME/.cargo/bin/cargo" ] && cargo_ok "$HOME/.cargo/bin/cargo"; then
  CARGO="$HOME/.cargo/bin/cargo"
else
  echo "ensure-rust: no cargo >= 1.$need_minor found; installing Debian's rustc-web and cargo-web" >&2
  "$(dirname "${BASH_SOURCE[0]}")/host-packages.sh" rust
  CARGO=/usr/bin/cargo
fi
"$(dirname "${BASH_SOURCE[0]}")/host-packages.sh" build
export CARGO
