"""``slem-dft export``: stored operators (parsed or predicted) -> files a DFT code reads back."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .data import Record, SpeciesBasis
from .errors import ConfigError, MissingInputError
from .store import Store

__all__ = ["TARGETS", "abacus_orbitals", "export_record", "export_store"]


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


def _export_abacus(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    from .writers.abacus import write_inputs

    return write_inputs(folder, record, abacus_orbitals(record, options.get("orbitals")), operators,
                        options.get("pseudopotentials"))


def _export_openmx(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    from .parsers.openmx import species_basis
    from .writers.openmx import write_restart

    strings = options.get("orbitals") or {}  # LABEL=PAO basis string, e.g. Fe=Fe6.0S-s2p2d1
    orbitals = {label: (pao, species_basis(label, pao, "--orbital")) for label, pao in strings.items()}
    return write_restart(folder, record, options.get("system_name"), orbitals or None,
                         options.get("pseudopotentials"), operators)


def _export_siesta(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    from .parsers.siesta.ion import find_ion_files, read_ion
    from .writers.siesta import write_inputs

    named = options.get("orbitals")  # LABEL=FILE .ion.xml files; else the run's <label>.ion.xml, where present
    ions = {label: read_ion(path) for label, path in named.items()} if named else find_ion_files(record, required=False)
    return write_inputs(folder, record, operators, options.get("system_label"), ions)


def _export_wannier90(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    from .writers.wannier90 import write_hr

    # Always H orthogonalised with S, whatever --operators says (a tight-binding file has no S or DM).
    return write_hr(folder, record, options.get("kmesh"), options.get("seedname", "wannier90"))


#: target name -> function(folder, record, operators, options) writing that target's files.
_EXPORTERS = {
    "abacus": _export_abacus,
    "siesta": _export_siesta,
    "openmx": _export_openmx,
    "wannier90": _export_wannier90,
}

#: Targets with a writer, in the order ``--to`` lists them.
TARGETS = tuple(_EXPORTERS)


def export_record(record: Record, target: str, folder: str | os.PathLike, operators: Sequence[str] = ("DM",),
                  **options) -> list[Path]:
    """Write the files ``target`` reads for one record into ``folder``; returns them.

    ``options`` are target specific: ``orbitals`` / ``pseudopotentials`` (label -> file) for
    ABACUS; see each writer in :mod:`slem_dft.writers`."""
    if target not in _EXPORTERS:
        raise ConfigError(f"no writer for {target!r}; available: {', '.join(TARGETS)}")
    return _EXPORTERS[target](Path(folder), record, operators, options)


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
    (into ``output/NNNNNN``); returns the files written. Each record passes the physics guards
    of :func:`slem_dft.guards.guard_for_export` first (their notes go to ``echo``).
    ``options`` as :func:`export_record`."""
    from .guards import guard_for_export

    if target not in _EXPORTERS:
        raise ConfigError(f"no writer for {target!r}; available: {', '.join(TARGETS)}")
    records = Store(store)
    if index is not None and not 0 <= index < len(records):
        raise ConfigError(f"{store}: index {index} outside 0..{len(records) - 1}")
    picks = range(len(records)) if index is None else [index]
    written = []
    for n in picks:
        folder = Path(output) if index is not None or len(records) == 1 else Path(output) / f"{n:06d}"
        record, notes = guard_for_export(records[n], renormalise_dm)
        for note in notes:
            if echo is not None:
                echo(f"structure {n}: {note}")
        written += export_record(record, target, folder, operators, **options)
    return written
