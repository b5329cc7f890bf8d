#!/usr/bin/env bash
# Demo on the bundled example runs (data/): check an 8-atom Si ABACUS run against ABACUS's own
# eigenvalues and electron count, convert every bundled run (ABACUS, SIESTA, OpenMX) into one
# training store, train a small SLEM model on the Si run, evaluate it, predict the run's own
# structure and a perturbed copy, export the copy's DM as an ABACUS SCF start, and plot the
# predicted bands against ABACUS's (out/si8_bands.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
SLEM=.venv/bin/slem-dft
RUN=data/abacus/si8_dzp/frame_000
$SLEM check $RUN
$SLEM convert --recursive data -o out/demo.h5 --jobs 2
$SLEM info out/demo.h5
$SLEM convert $RUN -o out/si8.h5
$SLEM fit examples/si8_tiny.yaml -o out/si8_tiny
$SLEM evaluate out/si8_tiny/best.pt out/si8.h5
# a perturbed copy of the structure: every atom moved by up to 0.05 A
.venv/bin/python -c "
import ase.io
from slem_dft.registry import read_structure
atoms, _ = read_structure('$RUN')
atoms.rattle(0.03, seed=1)
ase.io.write('out/si8_perturbed.extxyz', atoms)"
$SLEM predict out/si8_tiny/best.pt $RUN out/si8_perturbed.extxyz -o out/si8_pred.h5
$SLEM export out/si8_pred.h5 --index 1 --to abacus -o out/si8_abacus_start --operators DM --renormalise-dm \
    --orbital Si=data/abacus/si8_dzp/Si_gga_8au_100Ry_2s2p1d.orb --pseudo Si=Si_ONCV_PBE-1.0.upf
$SLEM bands out/si8_pred.h5 --index 0 --ref $RUN -o out/si8_bands
echo "demo done: out/si8_bands.png (predicted vs ABACUS bands), out/si8_abacus_start/ (ABACUS SCF start)"
