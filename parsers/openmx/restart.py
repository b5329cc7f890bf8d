"""OpenMX restart files ``<name>_rst/<name>.rst<N>`` (formats-openmx.md section 6; OpenMX
``RestartFileDFT.c``): the per-atom Kohn-Sham H and DM that ``scf.restart on`` reads.

Each file is a raw int32 / float64 stream in the writer's byte order: 10 header ints
(SpinP_switch, List_YOUSO[23], [1], [8], [7], atom count, species index, orbitals, FNAN,
SO_switch), the neighbour table as six int arrays of FNAN + 1 (atom 1-based, n1, n2, n3,
species, orbitals), the band energy Uele (Hartree), H for spins 0..SpinP_switch (Hartree),
then the DM for the same spins, each block row-major. The layout of a folder is that of the
scfout's sparse matrices, so :mod:`.blocks` turns it into canonical operators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slem_dft.data import BlockMatrix
from slem_dft.errors import FileFormatError, MissingInputError, TruncatedFileError, UnsupportedVersionError

from .blocks import element_positions, operator_blocks

__all__ = ["Restart", "RestartFile", "read_restart", "read_rst", "restart_operators"]

_HEADER_INTS = 10


@dataclass(frozen=True, eq=False)
class RestartFile:
    """One ``.rst<N>`` file as stored (file units and orbital order).

    Attributes
    ----------
    path : str
    byteorder : str
        "<" or ">".
    spin : int
        SpinP_switch (0 unpolarised, 1 collinear).
    dims : (4,) tuple of int
        List_YOUSO[23], [1], [8], [7] as written (spin channels, atoms + 1, max FNAN + 7,
        max orbitals per atom).
    n_atoms, species, n_orbitals, so_switch : int
        Atom count, species index (0-based), orbitals of this atom, SO_switch.
    neighbours : (FNAN + 1,) int64
        Neighbour atoms, 0-based; entry 0 is the atom itself.
    cells : (FNAN + 1, 3) int64
        Lattice vector (n1, n2, n3) of each neighbour's cell.
    neighbour_species, neighbour_orbitals : (FNAN + 1,) int64
    band_energy : float
        Uele, Hartree.
    H, DM : (SpinP_switch + 1, n_values) float64
        Blocks in neighbour order, row-major; H in Hartree, DM per spin.
    """

    path: str
    byteorder: str
    spin: int
    dims: tuple[int, int, int, int]
    n_atoms: int
    species: int
    n_orbitals: int
    so_switch: int
    neighbours: np.ndarray
    cells: np.ndarray
    neighbour_species: np.ndarray
    neighbour_orbitals: np.ndarray
    band_energy: float
    H: np.ndarray
    DM: np.ndarray


def _byteorder(raw: bytes, path: str) -> str:
    """The order in which the header reads as SpinP_switch 0/1/3 and a positive atom count."""
    for order in ("<", ">"):
        head = np.frombuffer(raw[: 4 * _HEADER_INTS], dtype=order + "i4")
        if head[0] in (0, 1, 3) and head[5] > 0 and head[7] > 0 and head[8] >= 0:
            return order
    raise FileFormatError(path, "not an OpenMX restart file: the header (spin, atoms, orbitals) is invalid in either byte order", "byte 0")


def read_rst(path: str | os.PathLike) -> RestartFile:
    """Read one ``.rst<N>`` file.

    Raises
    ------
    TruncatedFileError
        The file ends before the blocks its header announces.
    FileFormatError
        Not a restart file, or bytes left over after the DM.
    UnsupportedVersionError
        A non-collinear file (SpinP_switch 3): no real one exists to check its layout against.
    """
    path = os.fspath(path)
    raw = Path(path).read_bytes()
    if len(raw) < 4 * _HEADER_INTS:
        raise TruncatedFileError(path, f"file ends in the header: {len(raw)} of {4 * _HEADER_INTS} bytes", "byte 0")
    order = _byteorder(raw, path)
    spin, d23, d1, d8, d7, n_atoms, species, n_orb, fnan, so = np.frombuffer(raw[:40], dtype=order + "i4").tolist()
    if spin == 3:
        raise UnsupportedVersionError(path, "non-collinear restart files (SpinP_switch 3) are not read: no real file to verify the layout")
    n = fnan + 1
    table_end = 4 * _HEADER_INTS + 4 * 6 * n
    if len(raw) < table_end + 8:
        raise TruncatedFileError(path, f"file ends in the neighbour table ({n} neighbours announced)", f"byte {len(raw)}")
    table = np.frombuffer(raw[40:table_end], dtype=order + "i4").astype(np.int64).reshape(6, n)
    if table[0].min() < 1 or table[0].max() > n_atoms or table[5].min() < 1:
        raise FileFormatError(path, "the neighbour table points outside the atoms or has no orbitals", f"byte {4 * _HEADER_INTS}")
    n_values = n_orb * int(table[5].sum())
    want = table_end + 8 + 2 * (spin + 1) * 8 * n_values
    if len(raw) != want:
        kind = TruncatedFileError if len(raw) < want else FileFormatError
        raise kind(path, f"{len(raw)} bytes, the header announces {want} (H and DM of {spin + 1} spin(s), {n} neighbours)")
    values = np.frombuffer(raw[table_end + 8:], dtype=order + "f8").astype(np.float64).reshape(2, spin + 1, n_values)
    return RestartFile(path, order, spin, (d23, d1, d8, d7), n_atoms, species, n_orb, so, table[0] - 1,
                       table[1:4].T.copy(), table[4], table[5],
                       float(np.frombuffer(raw[table_end:table_end + 8], dtype=order + "f8")[0]), values[0], values[1])


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
    files : list of RestartFile
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
    files: list[RestartFile] = field(default_factory=list)

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
        if not (np.array_equal(n_orbitals[f.neighbours], f.neighbour_orbitals)
                and np.array_equal(species[f.neighbours], f.neighbour_species)):
            raise FileFormatError(f.path, "its neighbour table gives species or orbital counts that the neighbours' own files do not")
    return Restart(
        os.fspath(folder), files[0].spin, n_orbitals, species,
        np.concatenate([f.neighbours for f in files]),
        np.repeat(np.arange(len(files)), [len(f.neighbours) for f in files]),
        np.concatenate([f.cells for f in files]), files[0].band_energy,
        {op: [np.concatenate([getattr(f, op)[s] for f in files]) for s in range(files[0].spin + 1)] for op in ("H", "DM")},
        files)


def restart_operators(restart: Restart, shell_ls: list[tuple[int, ...]]) -> dict[str, BlockMatrix]:
    """H (eV) and DM (electrons, total) of a restart folder in the canonical convention, from
    each atom's shell angular momenta (OpenMX shell order); same conversion as the scfout."""
    if len(shell_ls) != restart.n_atoms:
        raise ValueError(f"{len(shell_ls)} atoms' shells for {restart.n_atoms} atoms")
    for atom, ls in enumerate(shell_ls):
        if sum(2 * l + 1 for l in ls) != restart.n_orbitals[atom]:
            raise FileFormatError(restart.files[atom].path, f"{restart.n_orbitals[atom]} orbitals, the basis shells "
                                                            f"l={list(ls)} give {sum(2 * l + 1 for l in ls)}")
    elements = element_positions(restart, shell_ls)
    return {op: operator_blocks(restart, elements, op, False) for op in ("H", "DM")}
