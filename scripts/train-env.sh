#!/usr/bin/env bash
# Sourced: the environment that builds and runs the `train` feature (tch on the PyPI torch wheel).
# torch-sys compiles a C++ wrapper around libtorch (g++: scripts/host-packages.sh build).
"$(dirname "${BASH_SOURCE[0]}")/host-packages.sh" build
VENV=$("$(dirname "${BASH_SOURCE[0]}")/python-env.sh" --train)
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1
# libtorch's OpenMP threads spin while waiting; on a shared 2-core machine that turns 0.1 s steps
# into seconds. Passive waiting avoids it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# `atelier` embeds libtorch's directory as an rpath (host/build.rs); test binaries of other
# workspace crates that link atelier-host with `train` (tests/) find it through this instead.
TORCH_LIB=$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
