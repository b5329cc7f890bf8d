#!/usr/bin/env bash
# Create .venv (if needed) and install slem-dft with its test dependencies into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: a bare "torch" requirement would pull a CUDA build of several GB,
# while 2.13.0 installs the CPU build (from this machine's local wheel where there is one).
.venv/bin/python -m pip install --quiet "torch==${SLEM_DFT_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install --quiet -e ".[test]"
