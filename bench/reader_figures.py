"""Per-run figures of the readers (prints a Markdown table): what `slem-dft check` measures,
plus the space-group convention check of S and H.

    python bench/reader_figures.py RUN_DIR [RUN_DIR ...]

Columns: eigenvalue deviation from each of the run's references (meV, max over k, bands and
spins), Tr(DM S) and the run's electron count, the spin moment from DM and S and the run's,
and the largest deviation over all space-group operations of S (dimensionless) and of H
(eV, spinless/collinear H only; spinor blocks also rotate in spin space).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from slem_dft import registry
from slem_dft.checks import check_record
from slem_dft.convert import exact_overlap
from slem_dft.symmetry import space_group_operations, symmetry_deviation


def _fmt(x, spec=".2e"):
    return "-" if x is None else format(x, spec)


def figures(run_dir: str) -> str:
    t = time.perf_counter()
    record = registry.read_run(run_dir)
    report = check_record(record, registry.read_references(record), overlap=exact_overlap(record))
    eig = (
        "; ".join(
            f"{e['reference'].rsplit('/', 1)[-1]} {e['n_kpoints']}k x {e['n_bands']}: {e['max_dev_meV']:.2e}"
            for e in report.eigenvalues
        )
        or "-"
    )
    eig += "".join(
        f"; dense {d['reference'].rsplit('/', 1)[-1]}: {d['eigenvalue_max_dev_meV']:.2e}"
        for d in report.dense
        if d.get("eigenvalue_max_dev_meV") is not None
    )
    ops = space_group_operations(record)
    sym_s = max(symmetry_deviation(record, "S", op) for op in ops) if "S" in record.operators else None
    sym_h = None
    if "H" in record.operators and record.operators["H"].spin != "spinor" and not record.gamma_only:
        channels = range(record.operators["H"].n_channels)
        sym_h = max(symmetry_deviation(record, "H", op, c) for op in ops for c in channels)
    moment = (
        "-"
        if report.spin_moment is None
        else f"{np.round(report.spin_moment, 4).tolist()} ({report.spin_moment_reported})"
    )
    return (
        f"| {run_dir} | {record.source.code} {record.source.code_version} | {record.nspin} | {eig} | "
        f"{_fmt(report.trace_dm_s, '.8f')} ({_fmt(record.n_electrons, 'g')}) | {moment} | {len(ops)}: "
        f"{_fmt(sym_s)} | {_fmt(sym_h)} | {'passed' if report.passed else 'FAILED'} | {time.perf_counter() - t:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    print(
        "| run | code | nspin | eigenvalues: max dev (meV) | Tr(DM S) (electrons) | spin moment, mu_B (run) "
        "| ops: S symmetry max | H symmetry max (eV) | check | time (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        print(figures(run), flush=True)


if __name__ == "__main__":
    main()
