"""``slem-dft convert``, ``check``, ``info`` and ``export``: the data commands (registered on the
group in :mod:`slem_dft.cli`). Each parses its options and calls one library function."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ._common import CONTEXT as _CONTEXT
from ._common import errors_to_exit as _errors_to_exit
from ._common import label_assignments as _assignments

__all__ = ["check", "convert", "export", "info"]

OPERATOR_CHOICES = ("H", "S", "DM")


def _operators(value: str) -> tuple[str, ...]:
    ops = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    bad = [op for op in ops if op not in OPERATOR_CHOICES]
    if bad or not ops:
        raise click.BadParameter(f"choose from {', '.join(OPERATOR_CHOICES)} (comma separated), got {value!r}")
    return ops


def _file_options(func):
    """Options that name a run's files explicitly (valid with one run directory)."""
    func = click.option(
        "--orbital-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Extra folder to look for basis files (.orb) in.",
    )(func)
    for flag, op in (("--density-matrix", "DM"), ("--overlap", "S"), ("--hamiltonian", "H")):
        func = click.option(
            flag,
            op,
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=f"{op} file to use instead of the one found in the run (repeat for spin 1, 2).",
        )(func)
    return func


def _read_options(files: dict[str, tuple[Path, ...]], orbital_dir: Path | None, n_runs: int) -> dict:
    chosen = {op: list(paths) for op, paths in files.items() if paths}
    if chosen and n_runs != 1:
        raise click.UsageError("--hamiltonian/--overlap/--density-matrix need exactly one RUN_DIR")
    options = {}
    if chosen:
        options["files"] = chosen
    if orbital_dir is not None:
        options["orbital_dir"] = orbital_dir
    return options


@click.command(context_settings=_CONTEXT)
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Store to write (HDF5)."
)
@click.option("--operators", default="H,S,DM", callback=lambda c, p, v: _operators(v), help="Operators to store.")
@click.option("-r", "--recursive", is_flag=True, help="Find run directories anywhere under the given folders.")
@click.option("-j", "--jobs", default=1, type=click.IntRange(1), help="Worker processes reading runs.")
@click.option("--append", is_flag=True, help="Add to an existing store (replaced only after success).")
@click.option("--no-check", is_flag=True, help="Skip the physics checks of each run.")
@click.option("--skip-failed", is_flag=True, help="Write the runs that pass even if others fail (exit status stays 1).")
@_file_options
@_errors_to_exit
def convert(run_dirs, output, operators, recursive, jobs, append, no_check, skip_failed, orbital_dir, **files):
    """Convert DFT run directories into one training store."""
    from ..convert import convert_runs

    result = convert_runs(
        run_dirs,
        output,
        operators,
        recursive,
        jobs,
        append,
        not no_check,
        skip_failed,
        _read_options(files, orbital_dir, len(run_dirs)),
    )
    suffix = "" if result.written else f" (nothing written to {output})"
    for _, reason in result.failures:
        click.echo(f"slem-dft: error: {reason}{suffix}", err=True)
    if result.written:
        click.echo(f"wrote {result.written} structure(s) to {output}")
    if result.failures:
        sys.exit(1)


@click.command(context_settings=_CONTEXT)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option(
    "--reference",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Extra folder with eigenvalue files or dense H(k)/S(k) dumps to compare against.",
)
@click.option("--operators", default="H,S,DM", callback=lambda c, p, v: _operators(v), help="Operators to read.")
@_file_options
@_errors_to_exit
def check(run_dir, as_json, reference, operators, orbital_dir, **files):
    """Check a run's parsed data: hermiticity, S > 0, Tr(DM S), eigenvalues.

    Exit status 1 when a check fails."""
    from ..convert import read_and_check

    _, report = read_and_check(run_dir, operators, _read_options(files, orbital_dir, 1), True, reference)
    click.echo(report.to_json() if as_json else report.format_text())
    if not report.passed:
        click.echo(f"slem-dft: error: {run_dir}: check failed: {'; '.join(report.failures)}", err=True)
        sys.exit(1)


@click.command(context_settings=_CONTEXT)
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_errors_to_exit
def info(store, as_json):
    """List the structures of a store (stored blocks per operator)."""
    from ..store import Store

    rows = Store(store).summaries()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(
        f"{'#':>4}  {'formula':<12} {'atoms':>5} {'orbitals':>8} {'nspin':>5}  {'code':<7} {'stored blocks':<26} source"
    )
    for r in rows:
        blocks = " ".join(f"{k}:{v}" for k, v in r["operators"].items())
        click.echo(
            f"{r['index']:>4}  {r['formula']:<12} {r['n_atoms']:>5} {r['n_orbitals']:>8} {r['nspin']:>5}  "
            f"{r['code']:<7} {blocks:<26} {r['source']}"
        )


def _export_targets() -> list[str]:
    from ..export import TARGETS

    return list(TARGETS)


@click.command(context_settings=_CONTEXT)
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to", "target", required=True, type=click.Choice(_export_targets()), help="DFT code (or tool) to write for."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write."
)
@click.option("--operators", default="DM", callback=lambda c, p, v: _operators(v), help="Operators to write.")
@click.option(
    "--index",
    type=click.IntRange(0),
    default=None,
    help="Structure of the store (default: every one, one folder each).",
)
@click.option(
    "--pseudo", multiple=True, callback=_assignments, help="LABEL=FILE pseudopotential for the STRU (repeat)."
)
@click.option(
    "--orbital",
    multiple=True,
    callback=_assignments,
    help="LABEL=FILE basis file (default: the one the data was read with; its shells must match).",
)
@click.option("--system-name", default=None, help="OpenMX System.Name (default: that of the run the data came from).")
@click.option(
    "--system-label",
    default=None,
    help="SIESTA SystemLabel, the stem of the files (default: that of the run the data came from, else siesta).",
)
@click.option("--renormalise-dm", is_flag=True, help="Scale the DM so that Tr(DM S) equals the electron count.")
@_errors_to_exit
def export(store, target, output, operators, index, pseudo, orbital, system_name, system_label, renormalise_dm):
    """Write stored operators as files a DFT code reads back (SCF initial guess).

    Before writing, operators are made hermitian, S(k) is checked to be positive definite
    (replaced by the exact overlap when it is not and the basis files are known) and
    Tr(DM S) is compared with the electron count."""
    from ..export import export_store

    written = export_store(
        store,
        target,
        output,
        operators,
        index,
        renormalise_dm,
        click.echo,
        pseudopotentials=pseudo or None,
        orbitals=orbital or None,
        system_name=system_name,
        system_label=system_label,
    )
    for path in written:
        click.echo(f"wrote {path}")
