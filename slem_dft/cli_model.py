"""``slem-dft fit`` and ``slem-dft evaluate`` as click commands (registered on the group in
:mod:`slem_dft.cli`). Each parses its options and calls one function of :mod:`slem_dft.train`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli import _CONTEXT, _errors_to_exit

__all__ = ["fit", "evaluate"]


def _show_defaults(ctx, param, value):
    if value and not ctx.resilient_parsing:
        from .config import defaults_yaml

        click.echo(defaults_yaml(), nl=False)
        ctx.exit()


@click.command(context_settings=_CONTEXT)
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder for checkpoints and metrics.csv [default: CONFIG without suffix].")
@click.option("--resume", is_flag=True, help="Continue the run in the output folder from its last checkpoint.")
@click.option("--show-defaults", is_flag=True, is_eager=True, expose_value=False, callback=_show_defaults,
              help="Print every option with its default and exit.")
@_errors_to_exit
def fit(config, output, resume):
    """Train a SLEM model as CONFIG.yaml says (see --show-defaults)."""
    from .config import load_config
    from .train import fit as run_fit

    run_fit(load_config(config), output or config.with_suffix(""), resume=resume, echo=click.echo)


@click.command(context_settings=_CONTEXT)
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("store", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (h_mae_meV, s_mae, dm_mae, tables).")
@_errors_to_exit
def evaluate(model, store, as_json):
    """Mean absolute errors of MODEL on STORE per operator, onsite/hopping, species and shell pair."""
    from .train import evaluate as run_evaluate

    result = run_evaluate(model, store)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for op, table in result["tables"].items():
        click.echo(f"{op} MAE ({result['units'][op]})")
        for key, value in table.items():
            click.echo(f"  {key:<12} {value:.6g}")
