"""The ``slem-dft`` command line (click), one module per group of commands: :mod:`.data`
(convert, check, info, export), :mod:`.model` (fit, evaluate), :mod:`.predict`, :mod:`.bands`.
Each command parses options and calls one library function; errors print one line and exit
with status 1. ``python -m slem_dft.cli`` runs it too (as ``torchrun ... -m slem_dft.cli fit``)."""

from __future__ import annotations

import click

from .. import __version__
from ._common import CONTEXT as _CONTEXT
from .bands import bands as _bands
from .data import check as _check
from .data import convert as _convert
from .data import export as _export
from .data import info as _info
from .model import evaluate as _evaluate
from .model import fit as _fit
from .predict import predict as _predict

__all__ = ["main"]


@click.group(context_settings=_CONTEXT)
@click.version_option(__version__, prog_name="slem-dft")
def main():
    """slem-dft: learn and predict DFT operators (H, S, DM) in an atomic-orbital basis."""


for _command in (_convert, _check, _info, _export, _fit, _evaluate, _predict, _bands):
    main.add_command(_command)
