"""What every ``slem-dft`` command shares: click context settings and error reporting."""

from __future__ import annotations

import functools
import sys

import click

from ..errors import SlemDFTError

__all__ = ["CONTEXT", "errors_to_exit", "label_assignments"]

#: Defaults shown in ``--help`` of every command (click 7.1 did not pass a group's setting on).
CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


def errors_to_exit(func):
    """Turn the errors a user can cause into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (SlemDFTError, FileNotFoundError, PermissionError) as exc:
            click.echo(f"slem-dft: error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def label_assignments(ctx, param, values) -> dict[str, str]:
    """click callback: repeated ``LABEL=FILE`` options -> {label: file}."""
    out = {}
    for value in values:
        label, sep, name = value.partition("=")
        if not sep or not label or not name:
            raise click.BadParameter(f"expected LABEL=FILE, got {value!r}")
        out[label] = name
    return out
