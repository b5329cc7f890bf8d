"""``slem-dft export``: stored operators (parsed or predicted) -> files a DFT code reads back,
through the writer the format table (:mod:`slem_dft.registry`) names for the target."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .data import Record
from .errors import ConfigError
from .guards import guard_for_export
from .registry import TARGETS, DatasetWriter, writer
from .store import Store

__all__ = ["TARGETS", "export_record", "export_store"]


def export_record(
    record: Record, target: str, folder: str | os.PathLike, operators: Sequence[str] = ("DM",), **options
) -> list[Path]:
    """Write the files ``target`` reads for one record into ``folder``; returns them.

    ``options`` are target specific: ``orbitals`` / ``pseudopotentials`` (label -> file) for
    ABACUS; see each writer's ``export_files`` in :mod:`slem_dft.writers`."""
    return writer(target).export_files(Path(folder), record, operators, options)


def export_store(
    store: str | os.PathLike,
    target: str,
    output: str | os.PathLike,
    operators: Sequence[str] = ("DM",),
    index: int | None = None,
    renormalise_dm: bool = False,
    echo=None,
    **options,
) -> list[Path]:
    """Write the files ``target`` reads for one structure of ``store`` (``index``) or for each
    (into ``output/NNNNNN``; a :class:`~slem_dft.registry.DatasetWriter` target writes them as
    one dataset into ``output``); returns the files written. Each record passes the physics guards
    of :func:`slem_dft.guards.guard_for_export` first (their notes go to ``echo``).
    ``options`` as :func:`export_record`."""
    if target not in TARGETS:
        raise ConfigError(f"no writer for {target!r}; available: {', '.join(TARGETS)}")
    records = Store(store)
    if index is not None and not 0 <= index < len(records):
        raise ConfigError(f"{store}: index {index} outside 0..{len(records) - 1}")
    picks = range(len(records)) if index is None else [index]
    guarded = []
    for n in picks:
        record, notes = guard_for_export(records[n], renormalise_dm)
        for note in notes:
            if echo is not None:
                echo(f"structure {n}: {note}")
        guarded.append((n, record))
    module = writer(target)
    if isinstance(module, DatasetWriter):  # one dataset of every structure (DeePTB folders)
        return module.export_records(Path(output), [record for _, record in guarded], operators, options)
    written = []
    for n, record in guarded:
        folder = Path(output) if index is not None or len(records) == 1 else Path(output) / f"{n:06d}"
        written += module.export_files(folder, record, operators, options)
    return written
