"""``slem-dft predict`` as a click command (registered on the group in :mod:`slem_dft.cli`):
parses options and calls :func:`slem_dft.predict.predict_to_store`. Under ``mpirun`` every
rank runs it; rank 0 prints and writes the store."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from ._common import CONTEXT as _CONTEXT
from ._common import errors_to_exit as _errors_to_exit
from ._common import label_assignments as _assignments

__all__ = ["predict"]


@click.command(context_settings=_CONTEXT)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("structures", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Store to write (same format as convert).",
)
@click.option(
    "--operators",
    default=None,
    help="Comma-separated operators [default: the model's, plus S when the radial orbitals are known].",
)
@click.option(
    "--basis-file",
    multiple=True,
    callback=_assignments,
    help="LABEL=FILE radial orbitals (ABACUS .orb, SIESTA .ion.xml) for the exact overlap (repeat).",
)
@click.option(
    "--atoms-per-chunk", default=256, type=click.IntRange(1), help="Centre atoms per chunk: sets peak memory."
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", help="Where the model runs.")
@click.option("--threads", type=click.IntRange(1), default=None, help="Torch threads per process [default: torch's].")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@_errors_to_exit
def predict(model, structures, output, operators, basis_file, atoms_per_chunk, device, threads, no_progress):
    """Predict H, DM (and S) with MODEL for STRUCTURES: files ase reads (POSCAR, cif, xyz,
    extxyz with many frames, ...) or DFT run/input directories (ABACUS STRU, SIESTA, OpenMX).

    Run under mpirun/mpiexec to share the work among processes (mpi4py)."""
    import torch

    from ..predict import Predictor, mpi_world, predict_to_store, read_structures

    if threads:
        torch.set_num_threads(threads)
    comm = mpi_world()
    rank = comm.Get_rank() if comm is not None else 0
    wanted = [op.strip() for op in operators.split(",") if op.strip()] if operators else None
    predictor = Predictor(model, None if device == "auto" else device, atoms_per_chunk, basis_file)
    items = read_structures(structures)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = predict_to_store(predictor, items, output, wanted, comm, progress=not no_progress)
    if rank == 0:
        for w in caught:
            click.echo(f"slem-dft: warning: {w.message}", err=True)
        click.echo(f"wrote {written} structure(s) to {output}")
