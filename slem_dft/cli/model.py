"""``slem-dft fit`` and ``slem-dft evaluate`` as click commands (registered on the group in
:mod:`slem_dft.cli`). Each parses its options and calls one function of :mod:`slem_dft.train`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import CONTEXT as _CONTEXT
from ._common import errors_to_exit as _errors_to_exit

__all__ = ["fit", "evaluate"]


def _show_defaults(ctx, param, value):
    if value and not ctx.resilient_parsing:
        from ..config import defaults_yaml

        click.echo(defaults_yaml(), nl=False)
        ctx.exit()


@click.command(context_settings=_CONTEXT)
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder for checkpoints and metrics.csv [default: CONFIG without suffix].",
)
@click.option("--resume", is_flag=True, help="Continue the run in the output folder from its last checkpoint.")
@click.option(
    "--show-defaults",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_show_defaults,
    help="Print every option with its default and exit.",
)
@_errors_to_exit
def fit(config, output, resume):
    """Train a SLEM model as CONFIG.yaml says (see --show-defaults)."""
    from ..config import load_config
    from ..train import fit as run_fit

    run_fit(load_config(config), output or config.with_suffix(""), resume=resume, echo=click.echo)


@click.command(context_settings=_CONTEXT)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--window",
    type=click.FloatRange(min=0.0, min_open=True),
    default=2.0,
    show_default=True,
    help="Half-width (eV) of the band window around the Fermi level for the eigenvalue error.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (h_mae_meV, s_mae, dm_mae, eig_mae_meV, eig_max_meV, tables)."
)
@_errors_to_exit
def evaluate(model, store, window, as_json):
    """Mean absolute errors of MODEL on STORE per operator, onsite/hopping, species and shell
    pair, and the error of the band energies near the Fermi level at a few k-points."""
    from ..train import evaluate as run_evaluate

    result = run_evaluate(model, store, window=window)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for op, table in result["tables"].items():
        click.echo(f"{op} MAE ({result['units'][op]})")
        for key, value in table.items():
            click.echo(f"  {key:<12} {value:.6g}")
    if "eig_mae_meV" in result:
        kpoints = " ".join("(" + ",".join(f"{x:g}" for x in k) + ")" for k in result["eig_kpoints"])
        click.echo(
            f"band energies within E_F +- {result['eig_window_eV']:g} eV at k = {kpoints} "
            f"({result['eig_states']} states, E_F from {'/'.join(result['eig_fermi_source'])}"
            f"{', aligned by the mean error' if result['eig_aligned'] else ''})"
        )
        click.echo(f"  MAE {result['eig_mae_meV']:.6g} meV, max {result['eig_max_meV']:.6g} meV")
