"""DeePTB / dftio dataset folders: stored operators -> the layout DeePTB's ``DefaultDataset`` reads.

One *trajectory* folder per group of structures with the same atoms (species in the same
order), as DeePTB's ``_TrajData.from_text_data`` expects:

- ``info.json``: ``nframes``, ``natoms``, ``pos_type`` ("cart"), ``pbc`` and nothing else
  (DeePTB checks it strictly and refuses other keys).
- ``slem_dft.json``: what DeePTB keeps elsewhere or not at all: ``basis`` (element -> DeePTB
  basis string such as "2s2p1d", which DeePTB's training input needs), and per frame
  ``fermi_energy_eV``, ``n_electrons`` and the source run.
- ``cell.dat``: (nframes * 3, 3) lattice vectors (rows), Angstrom.
- ``positions.dat``: (nframes * natoms, 3) Cartesian positions, Angstrom.
- ``atomic_numbers.dat``: (natoms,).
- ``hamiltonians.h5`` (eV), ``overlaps.h5``, ``DM.h5``: one group per frame (``"0"``, ``"1"``,
  ...), one dataset per stored block named ``i_j_Rx_Ry_Rz`` (0-based atoms), shape
  (n_orb_i, n_orb_j).

Orbital convention: DeePTB sorts each species' shells by l, then zeta ("1s", "2s", "1p", ...)
and orders each shell m = -l..l in the standard real harmonics (p as y, z, x), i.e. the
canonical convention of slem-dft up to the order of the shells (docs/conventions.md). Only
spinless operators are written (DeePTB's E3 models have no spin).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from slem_dft.atomic import atomic_path, atomic_write
from slem_dft.data import Record, SpeciesBasis
from slem_dft.errors import ConfigError

__all__ = [
    "FILE_OF_OPERATOR",
    "SIDECAR",
    "basis_string",
    "deeptb_order",
    "export_files",
    "export_records",
    "write_dataset",
]

#: operator -> the block file DeePTB reads it from
FILE_OF_OPERATOR = {"H": "hamiltonians.h5", "S": "overlaps.h5", "DM": "DM.h5"}
#: slem-dft's companion of info.json (basis strings, Fermi level, electron count)
SIDECAR = "slem_dft.json"


def basis_string(species: SpeciesBasis) -> str:
    """DeePTB basis string of a species, e.g. "2s2p1d": shells counted per l."""
    counts = np.bincount(species.ls, minlength=max(species.ls) + 1)
    return "".join(f"{n}{'spdfg'[l]}" for l, n in enumerate(counts) if n)


def deeptb_order(species: SpeciesBasis) -> np.ndarray:
    """(n_orb,) canonical orbital index at each DeePTB position: shells sorted by (l, zeta)."""
    starts = np.cumsum([0, *(s.n_orb for s in species.shells)])
    order = sorted(range(len(species.shells)), key=lambda k: (species.shells[k].l, species.shells[k].zeta))
    return np.concatenate([np.arange(starts[k], starts[k + 1]) for k in order])


def _element_bases(records: Sequence[Record]) -> dict[str, str]:
    """Element -> basis string over all records; DeePTB keys its basis by element."""
    bases: dict[str, str] = {}
    for rec in records:
        for sb in rec.basis.species:
            text = basis_string(sb)
            if bases.setdefault(sb.element, text) != text:
                raise ConfigError(
                    f"{rec.source.path}: element {sb.element} has bases {bases[sb.element]} and {text}; "
                    "a DeePTB dataset needs one basis per element"
                )
    return bases


def _trajectories(records: Sequence[Record]) -> list[list[int]]:
    """Indices of the records, grouped by identical species sequence (one DeePTB trajectory each)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, rec in enumerate(records):
        groups.setdefault(tuple(rec.species), []).append(k)
    return list(groups.values())


def _write_blocks(path: Path, records: Sequence[Record], operator: str) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for frame, rec in enumerate(records):
            op = rec.operators[operator]
            order = {sb.label: deeptb_order(sb) for sb in rec.basis.species}
            group = f.create_group(str(frame))
            for e, (i, j, *R) in enumerate(op.edges.tolist()):
                block = op.block(e)[0][np.ix_(order[rec.species[i]], order[rec.species[j]])]
                group.create_dataset(f"{i}_{j}_{R[0]}_{R[1]}_{R[2]}", data=block)


def write_dataset(
    folder: str | os.PathLike,
    records: Sequence[Record],
    operators: Sequence[str] = ("H", "S", "DM"),
    prefix: str = "frames",
) -> list[Path]:
    """Write ``records`` as DeePTB trajectory folders ``folder/prefix.K``; returns the folders.

    Raises :class:`ConfigError` for spin-polarised or spinor records, for an operator a record
    lacks, and for an element with two different bases."""
    folder = Path(folder)
    if not records:
        raise ConfigError("no structures to write")
    for rec in records:
        if rec.nspin != 1:
            raise ConfigError(f"{rec.source.path}: DeePTB datasets hold spinless operators only (nspin {rec.nspin})")
        missing = [op for op in operators if op not in rec.operators]
        if missing:
            raise ConfigError(
                f"{rec.source.path}: no {', '.join(missing)} to write (stored: {', '.join(rec.operators)})"
            )
    bases = _element_bases(records)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, indices in enumerate(_trajectories(records)):
        group = [records[i] for i in indices]
        traj = folder / f"{prefix}.{k}"
        traj.mkdir(exist_ok=True)
        first = group[0]
        info = {
            "nframes": len(group),
            "natoms": len(first.atoms),
            "pos_type": "cart",
            "pbc": bool(first.atoms.pbc.any()),
        }
        extra = {
            "basis": {sb.element: bases[sb.element] for sb in first.basis.species},
            "fermi_energy_eV": [rec.fermi_energy for rec in group],
            "n_electrons": [rec.n_electrons for rec in group],
            "sources": [rec.source.path for rec in group],
        }
        atomic_write(traj / "info.json", json.dumps(info, indent=2) + "\n")
        atomic_write(traj / SIDECAR, json.dumps(extra, indent=2) + "\n")
        atomic_write(traj / "cell.dat", _table(np.concatenate([rec.atoms.cell.array for rec in group])))
        atomic_write(traj / "positions.dat", _table(np.concatenate([rec.atoms.positions for rec in group])))
        atomic_write(traj / "atomic_numbers.dat", "\n".join(map(str, first.atoms.numbers)) + "\n")
        for op in operators:
            _write_blocks(traj / FILE_OF_OPERATOR[op], group, op)
        written.append(traj)
    return written


def export_records(folder: Path, records: Sequence[Record], operators: Sequence[str], options: Mapping) -> list[Path]:
    """``slem-dft export --to deeptb``: every structure into trajectory folders
    ``folder/<prefix>.K`` (``options["prefix"]``, default "frames"); returns the files written."""
    trajectories = write_dataset(folder, records, operators, options.get("prefix") or "frames")
    return sorted(path for traj in trajectories for path in traj.iterdir())


def export_files(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    """One structure as a one-frame dataset (:func:`export_records`)."""
    return export_records(folder, [record], operators, options)


def _table(rows: np.ndarray) -> str:
    return "".join(" ".join(f"{x:.12f}" for x in row) + "\n" for row in rows)
