#!/usr/bin/env bash
# Sourced by the other scripts: makes sure a Rust toolchain >= 1.91 is available and exports
# CARGO. On a fresh Debian 12 machine with no Rust it installs Debian's rustc-web/cargo-web
# (1.96, from bookworm-security) and a C compiler; no toolchain download is needed. It also
# installs libclang-dev when missing (bindgen, for the v4l crate).
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
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update >&2
  $SUDO apt-get install -y rustc-web cargo-web gcc pkg-config python3-venv >&2
  CARGO=/usr/bin/cargo
fi
# The `v4l` crate generates its kernel bindings with bindgen at build time, which needs libclang.
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/*/libclang*.so* >/dev/null 2>&1; then
  echo "ensure-rust: installing libclang-dev (bindgen for the v4l crate)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update >&2
  $SUDO apt-get install -y libclang-dev >&2
fi
export CARGO
