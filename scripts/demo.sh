#!/usr/bin/env bash
# Demo on the bundled example runs (data/): check an 8-atom Si ABACUS run against ABACUS's own
# eigenvalues and electron count, convert every bundled run (ABACUS, SIESTA, OpenMX) into one
# training store, then train a small SLEM model on the Si run for a minute and evaluate it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/slem-dft check data/abacus/si8_dzp/frame_000
.venv/bin/slem-dft convert --recursive data -o out/demo.h5 --jobs 2
.venv/bin/slem-dft info out/demo.h5
.venv/bin/slem-dft convert data/abacus/si8_dzp/frame_000 -o out/si8.h5
.venv/bin/slem-dft fit examples/si8_tiny.yaml -o out/si8_tiny
.venv/bin/slem-dft evaluate out/si8_tiny/best.pt out/si8.h5
