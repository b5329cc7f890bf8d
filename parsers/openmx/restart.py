"""OpenMX restart files ``<name>_rst/<name>.rst<N>`` (formats-openmx.md section 6; OpenMX
``RestartFileDFT.c``): the per-atom Kohn-Sham H and DM that ``scf.restart on`` reads.

The record of one file, :class:`slem_dft.layouts.RestartAtom`, and its byte layout are
declared once in :mod:`slem_dft.layouts`, beside the writer's direction. The layout of a
folder is that of the scfout's sparse matrices, so :mod:`.blocks` turns it into canonical
operators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slem_dft.data import BlockMatrix
from slem_dft.errors import FileFormatError, MissingInputError
from slem_dft.layouts import RestartAtom, rst_from_bytes

from .blocks import element_positions, operator_blocks

__all__ = ["Restart", "read_restart", "read_rst", "restart_operators"]


def read_rst(path: str | os.PathLike) -> RestartAtom:
    """Read one ``.rst<N>`` file (:func:`slem_dft.layouts.rst_from_bytes` gives the errors)."""
    return rst_from_bytes(Path(path).read_bytes(), path)


@dataclass(eq=False)
class Restart:
    """A restart folder: every atom's file, laid out like the scfout's sparse matrices
    (the attributes :func:`.blocks.element_positions` and :func:`.blocks.operator_blocks` use).

    Attributes
    ----------
    path : str
        The ``<name>_rst`` folder.
    spin : int
        SpinP_switch.
    n_orbitals : (n_atoms,) int64
    species : (n_atoms,) int64
        OpenMX species index of every atom.
    neighbours, block_atom : (n_blocks,) int64
        Atoms j and i of every block (atoms i in order, their neighbours in file order).
    block_cell : (n_blocks, 3) int64
    band_energy : float
        Uele, Hartree.
    matrices : dict
        "H" and "DM": lists of (n_values,) float64, one per spin, all atoms' blocks in order.
    files : list of :class:`slem_dft.layouts.RestartAtom`
    """

    path: str
    spin: int
    n_orbitals: np.ndarray
    species: np.ndarray
    neighbours: np.ndarray
    block_atom: np.ndarray
    block_cell: np.ndarray
    band_energy: float
    matrices: dict[str, list[np.ndarray]] = field(default_factory=dict)
    files: list[RestartAtom] = field(default_factory=list)

    @property
    def n_atoms(self) -> int:
        return len(self.n_orbitals)


def _system_name(folder: Path) -> str:
    """``fe_rst`` -> ``fe``."""
    if not folder.name.endswith("_rst") or len(folder.name) == 4:
        raise MissingInputError(folder, "not an OpenMX restart folder (<System.Name>_rst)")
    return folder.name[:-4]


def read_restart(folder: str | os.PathLike) -> Restart:
    """Read every ``<name>.rst<N>`` of a ``<name>_rst`` folder and check that they agree
    (spin, atom count, and each neighbour's species and orbitals against that atom's file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingInputError(folder, "not a directory")
    name = _system_name(folder)
    first = folder / f"{name}.rst1"
    if not first.is_file():
        raise MissingInputError(folder, f"no {first.name}")
    files = [read_rst(first)]
    for n in range(2, files[0].n_atoms + 1):
        path = folder / f"{name}.rst{n}"
        if not path.is_file():
            raise MissingInputError(folder, f"the files announce {files[0].n_atoms} atoms, {path.name} is missing")
        files.append(read_rst(path))
    n_orbitals = np.array([f.n_orbitals for f in files], dtype=np.int64)
    species = np.array([f.species for f in files], dtype=np.int64)
    for f in files:
        if (f.spin, f.n_atoms) != (files[0].spin, files[0].n_atoms):
            raise FileFormatError(f.path, f"SpinP_switch {f.spin} and {f.n_atoms} atoms differ from {files[0].path}")
        if not (
            np.array_equal(n_orbitals[f.neighbours], f.neighbour_orbitals)
            and np.array_equal(species[f.neighbours], f.neighbour_species)
        ):
            raise FileFormatError(
                f.path, "its neighbour table gives species or orbital counts that the neighbours' own files do not"
            )
    return Restart(
        os.fspath(folder),
        files[0].spin,
        n_orbitals,
        species,
        np.concatenate([f.neighbours for f in files]),
        np.repeat(np.arange(len(files)), [len(f.neighbours) for f in files]),
        np.concatenate([f.cells for f in files]),
        files[0].band_energy,
        {
            op: [np.concatenate([getattr(f, op)[s] for f in files]) for s in range(files[0].spin + 1)]
            for op in ("H", "DM")
        },
        files,
    )


def restart_operators(restart: Restart, shell_ls: list[tuple[int, ...]]) -> dict[str, BlockMatrix]:
    """H (eV) and DM (electrons, total) of a restart folder in the canonical convention, from
    each atom's shell angular momenta (OpenMX shell order); same conversion as the scfout."""
    if len(shell_ls) != restart.n_atoms:
        raise ValueError(f"{len(shell_ls)} atoms' shells for {restart.n_atoms} atoms")
    for atom, ls in enumerate(shell_ls):
        if sum(2 * l + 1 for l in ls) != restart.n_orbitals[atom]:
            raise FileFormatError(
                restart.files[atom].path,
                f"{restart.n_orbitals[atom]} orbitals, the basis shells l={list(ls)} give {sum(2 * l + 1 for l in ls)}",
            )
    elements = element_positions(restart, shell_ls)
    return {op: operator_blocks(restart, elements, op, False) for op in ("H", "DM")}
