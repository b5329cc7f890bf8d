"""``slem-dft bands``: the command line of :func:`slem_dft.bands.run_bands`."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import CONTEXT, errors_to_exit

__all__ = ["bands"]


def _mesh(ctx, param, value: str | None) -> tuple[int, int, int] | None:
    if value is None:
        return None
    try:
        mesh = tuple(int(v) for v in value.replace(",", " ").split())
    except ValueError:
        mesh = ()
    if len(mesh) != 3 or min(mesh) < 1:
        raise click.BadParameter(f"expected three positive integers like '8,8,8', got {value!r}")
    return mesh


@click.command(context_settings=CONTEXT)
@click.argument("structure", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Prefix of the files to write: PREFIX.dat, PREFIX.json, PREFIX.png.",
)
@click.option("--index", type=click.IntRange(0), default=0, help="Structure of a store.")
@click.option(
    "--ref",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="DFT run whose band file to compare with, on its own k-points.",
)
@click.option("--no-ref", is_flag=True, help="Ignore the input run's own band file (plot the standard path).")
@click.option(
    "--kpath",
    default=None,
    help="Path 'G 0 0 0, X 0.5 0 0.5 | L, ...' (reduced k of the stored cell; a bare label is a "
    "seekpath point; '|' breaks the path), or a file with one point per line. Default: seekpath.",
)
@click.option("--npoints", type=click.IntRange(2), default=300, help="k-points along the path.")
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    help="Half-width (eV) around E_F of the bands compared and plotted.",
)
@click.option(
    "--kmesh",
    callback=_mesh,
    default=None,
    help="Mesh 'n1,n2,n3' for the Fermi level when the data has none [default: from the cell].",
)
@click.option(
    "--smearing",
    type=click.FloatRange(min=0, min_open=True),
    default=0.01,
    help="Fermi-Dirac width (eV) for that Fermi level.",
)
@click.option("--fermi", type=float, default=None, help="Fermi level (eV) to use instead.")
@click.option(
    "--nbands",
    type=click.IntRange(1),
    default=32,
    help="Bands nearest E_F per k-point for matrices above the dense limit.",
)
@errors_to_exit
def bands(structure, output, index, ref, no_ref, kpath, npoints, window, kmesh, smearing, fermi, nbands):
    """Band structure of a store's structure or a DFT run, and its error against DFT bands."""
    from ..bands import run_bands

    report = run_bands(
        structure,
        output,
        index=index,
        ref=ref,
        kpath=kpath,
        npoints=npoints,
        window=window,
        mesh=kmesh,
        smearing=smearing,
        fermi=fermi,
        n_bands=nbands,
        own_reference=not no_ref,
        progress=True,
    )
    click.echo(
        f"E_F = {report.fermi_energy:.6f} eV ({report.fermi_source}), {report.n_kpoints} k-points, "
        f"{report.solver} solver"
    )
    if report.comparison is not None:
        c = report.comparison
        click.echo(
            f"vs {report.reference}: {c.n_compared} band energies within {c.window_eV:g} eV of E_F, "
            f"max {c.max_abs_meV:.3g} meV, mean {c.mean_abs_meV:.3g} meV"
        )
    for path in report.files:
        click.echo(f"wrote {path}")
