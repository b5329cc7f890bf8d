"""DeePTB / dftio dataset folders -> records (the layout of :mod:`slem_dft.writers.deeptb`).

A trajectory folder holds ``info.json``, ``cell.dat``, ``positions.dat``,
``atomic_numbers.dat`` and block files (``hamiltonians.h5`` in eV, ``overlaps.h5``, ``DM.h5``
or ``density_matrices.h5``) with one group per frame and one dataset ``i_j_Rx_Ry_Rz`` per block.
Atoms are 0-based when the frame has a block ``0_0_0_0_0``, else 1-based (DeePTB reads both).
Shells of a species are ordered by l, then zeta, as DeePTB's basis strings say ("2s2p1d"),
which is already the canonical shell order; m = -l..l in the standard real harmonics.

Such a set does not say what a DFT run says: no radial orbitals (so no exact overlaps), and a
basis, Fermi level or electron count only where slem-dft wrote its companion ``slem_dft.json``
(DeePTB itself keeps the basis in its training input); a record notes what is missing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import ase
import h5py
import numpy as np

from slem_dft.data import Basis, BlockMatrix, Record, Source, SpeciesBasis
from slem_dft.errors import FileFormatError, MissingInputError

__all__ = ["BLOCK_FILES", "parse_basis_string", "read_block_group", "read_dataset"]

#: operator -> block files DeePTB accepts for it, first found wins
BLOCK_FILES = {"H": ("hamiltonians.h5",), "S": ("overlaps.h5",), "DM": ("DM.h5", "density_matrices.h5")}
_KEY = re.compile(r"^(-?\d+)_(-?\d+)_(-?\d+)_(-?\d+)_(-?\d+)$")


def parse_basis_string(element: str, text: str) -> SpeciesBasis:
    """A DeePTB basis string ("2s2p1d") -> the species' shells, l then zeta."""
    parts = re.findall(r"(\d+)([spdfg])", text)
    if not parts or "".join(n + l for n, l in parts) != text:
        raise ValueError(f"basis {text!r} of {element} is not a DeePTB basis string like 2s2p1d")
    zetas = [0] * 5
    for n, l in parts:
        zetas["spdfg".index(l)] = int(n)
    return SpeciesBasis.from_zeta_counts(element, element, zetas)


def read_block_group(group: h5py.Group, species: tuple[str, ...], basis: Basis, where: str = "") -> BlockMatrix:
    """The blocks of one frame (an HDF5 group of ``i_j_Rx_Ry_Rz`` datasets) as a BlockMatrix.

    ``species`` (n_atoms,) labels the atoms; a block of the wrong shape or a bad key is a
    :class:`FileFormatError` naming ``where``."""
    keys = list(group.keys())
    offset = 0 if "0_0_0_0_0" in group or not keys else 1
    counts = basis.orbital_counts(species)
    rows, blocks = [], []
    for key in keys:
        match = _KEY.match(key)
        if match is None:
            raise FileFormatError(where, f"block name {key!r} is not i_j_Rx_Ry_Rz")
        i, j, *R = (int(x) for x in match.groups())
        i, j = i - offset, j - offset
        if not (0 <= i < len(species) and 0 <= j < len(species)):
            raise FileFormatError(where, f"block {key} names an atom outside 0..{len(species) - 1}")
        block = np.asarray(group[key][()], dtype=np.float64)
        if block.shape != (counts[i], counts[j]):
            raise FileFormatError(
                where, f"block {key} has shape {block.shape}, the basis needs {(counts[i], counts[j])}"
            )
        if not np.isfinite(block).all():
            raise FileFormatError(where, f"block {key} holds a non-finite value")
        rows.append((i, j, *R))
        blocks.append(block.ravel())
    edges = np.array(rows, dtype=np.int64).reshape(-1, 5)
    order = np.lexsort(edges.T[::-1]) if len(edges) else np.zeros(0, dtype=np.int64)
    values = np.concatenate([blocks[k] for k in order]) if blocks else np.zeros(0)
    shapes = np.column_stack([counts[edges[order, 0]], counts[edges[order, 1]]])
    return BlockMatrix(edges[order], shapes, values[None, :])


def _load_table(path: Path, columns: int) -> np.ndarray:
    if not path.is_file():
        raise MissingInputError(path, "missing (a DeePTB trajectory folder needs it)")
    try:
        table = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise FileFormatError(path, f"not a table of numbers ({exc})") from None
    if table.shape[1] != columns or not np.isfinite(table).all():
        raise FileFormatError(path, f"expected {columns} finite numbers per line, got shape {table.shape}")
    return table


def _companion(path: Path) -> dict:
    """slem-dft's ``slem_dft.json`` beside ``info.json``; empty where there is none."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(path, f"not JSON ({exc})") from None


def read_dataset(
    folder: str | os.PathLike, basis: Mapping[str, str] | None = None, operators: tuple[str, ...] = ("H", "S", "DM")
) -> list[Record]:
    """Every frame of a DeePTB trajectory folder as a record.

    ``basis`` (element -> basis string) is needed where no ``slem_dft.json`` gives it (DeePTB
    keeps it in its training input). Operators without a block file are left out."""
    folder = Path(folder)
    try:
        info = json.loads((folder / "info.json").read_text())
    except FileNotFoundError:
        raise MissingInputError(folder / "info.json", "missing (not a DeePTB trajectory folder)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FileFormatError(folder / "info.json", f"not JSON ({exc})") from None
    extra = _companion(folder / "slem_dft.json")
    strings = dict(basis or extra.get("basis") or {})
    if not strings:
        raise MissingInputError(folder, "no basis (no slem_dft.json): give the basis strings, e.g. Si=2s2p1d")
    nframes = int(info["nframes"])
    numbers = _load_table(folder / "atomic_numbers.dat", 1)[:, 0].astype(int)
    natoms = len(numbers)
    positions = _load_table(folder / "positions.dat", 3)
    cells = _load_table(folder / "cell.dat", 3)
    if info.get("pos_type", "cart") != "cart":
        raise FileFormatError(folder / "info.json", f"pos_type {info.get('pos_type')!r}: only cart is read")
    if len(positions) != nframes * natoms or len(cells) not in (3, 3 * nframes):
        raise FileFormatError(
            folder / "positions.dat",
            f"{len(positions)} positions and {len(cells)} cell rows for {nframes} frames of {natoms} atoms",
        )
    symbols = tuple(ase.data.chemical_symbols[z] for z in numbers)
    missing = sorted(set(symbols) - set(strings))
    if missing:
        raise MissingInputError(folder / "info.json", f"no basis string for {', '.join(missing)}")
    species_basis = Basis(tuple(parse_basis_string(el, strings[el]) for el in dict.fromkeys(symbols)))
    files = {}
    for op in operators:
        found = [folder / name for name in BLOCK_FILES[op] if (folder / name).is_file()]
        if found:
            files[op] = found[0]
    fermi = extra.get("fermi_energy_eV") or [None] * nframes
    electrons = extra.get("n_electrons") or [None] * nframes
    notes = ("DeePTB dataset: no radial orbitals (no exact overlap)",)
    records = []
    handles = {op: h5py.File(path, "r") for op, path in files.items()}
    try:
        for frame in range(nframes):
            cell = cells[3 * frame : 3 * frame + 3] if len(cells) > 3 else cells
            atoms = ase.Atoms(
                numbers=numbers,
                positions=positions[frame * natoms : (frame + 1) * natoms],
                cell=cell,
                pbc=bool(info.get("pbc", True)),
            )
            blocks = {}
            for op, f in handles.items():
                key = str(frame) if "0" in f else str(frame + 1)
                if key not in f:
                    raise FileFormatError(files[op], f"no group for frame {frame}")
                blocks[op] = read_block_group(f[key], symbols, species_basis, os.fspath(files[op]))
            source = Source(
                "deeptb",
                "unknown",
                os.fspath(folder),
                {op: (os.fspath(p),) for op, p in files.items()},
                notes,
                {op: 0.0 for op in files},
            )
            records.append(Record(atoms, symbols, species_basis, blocks, 1, source, electrons[frame], fermi[frame]))
    finally:
        for f in handles.values():
            f.close()
    return records
