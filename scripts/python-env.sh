#!/usr/bin/env bash
# Creates (once) the Python environment used by the ONNX peer check and, with --train, by the
# trainer's libtorch. It lives outside the checkout so fresh clones (CI) reuse it.
#   scripts/python-env.sh           → onnx, onnxruntime, numpy
#   scripts/python-env.sh --train   → also torch==2.13.0 (tch 0.26 needs exactly this version)
# Prints the venv directory on stdout.
set -euo pipefail
VENV="${ATELIER_VENV:-$HOME/.cache/atelier/venv}"
want=(onnx==1.23.2 onnxruntime==1.31.1 numpy)
[ "${1:-}" = "--train" ] && want+=(torch==2.13.0)
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" >&2 2>/dev/null; then
    "$(dirname "$0")/host-packages.sh" build
    python3 -m venv "$VENV" >&2
  fi
fi
missing=()
for spec in "${want[@]}"; do
  name="${spec%%==*}"; version="${spec#*==}"
  have=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)
  if [ -z "$have" ] || { [ "$version" != "$spec" ] && [ "$have" != "$version" ]; }; then missing+=("$spec"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "python-env: installing ${missing[*]} into $VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}" >&2
fi
echo "$VENV"
