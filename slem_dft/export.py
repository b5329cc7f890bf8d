"""``slem-dft export``: stored operators (parsed or predicted) -> files a DFT code reads back."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .data import Record, SpeciesBasis
from .errors import ConfigError, MissingInputError
from .store import Store

__all__ = ["TARGETS", "abacus_orbitals", "export_store"]

#: Codes with a writer.
TARGETS = ("abacus",)


def abacus_orbitals(record: Record, files: Mapping[str, str] | None = None) -> dict[str, tuple[str, SpeciesBasis]]:
    """Species label -> (``.orb`` file, the basis its header declares), from ``files`` or else
    the files the record's basis was read from."""
    from .parsers.abacus import read_orb_header

    chosen = {**record.source.basis_files, **(files or {})}
    out = {}
    for sb in record.basis.species:
        if sb.label not in chosen:
            raise MissingInputError(record.source.path, f"no .orb file for species {sb.label}: pass --orbital {sb.label}=FILE")
        element, zetas = read_orb_header(chosen[sb.label])
        out[sb.label] = (chosen[sb.label], SpeciesBasis.from_zeta_counts(sb.label, element, zetas))
    return out


def export_store(
    store: str | os.PathLike,
    target: str,
    output: str | os.PathLike,
    operators: Sequence[str] = ("DM",),
    index: int | None = None,
    pseudopotentials: Mapping[str, str] | None = None,
    orbitals: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the files ``target`` reads for one structure of ``store`` (``index``) or for each
    (into ``output/NNNNNN``); returns the files written."""
    if target not in TARGETS:
        raise ConfigError(f"no writer for {target!r}; available: {', '.join(TARGETS)}")
    from .writers.abacus import write_inputs

    records = Store(store)
    picks = range(len(records)) if index is None else [index]
    if index is not None and not 0 <= index < len(records):
        raise ConfigError(f"{store}: index {index} outside 0..{len(records) - 1}")
    written = []
    for n in picks:
        record = records[n]
        folder = Path(output) if index is not None or len(records) == 1 else Path(output) / f"{n:06d}"
        written += write_inputs(folder, record, abacus_orbitals(record, orbitals), operators, pseudopotentials)
    return written
