#!/usr/bin/env bash
# Demo on a bundled example: check an 8-atom Si run against ABACUS's own eigenvalues and
# electron count, then convert the bundled runs into one training store and list it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/slem-dft check data/abacus/si8_dzp/frame_000
.venv/bin/slem-dft convert --recursive data/abacus -o out/demo.h5 --jobs 2
.venv/bin/slem-dft info out/demo.h5
