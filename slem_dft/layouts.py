"""Binary records that a reader and a writer share, declared once (their readers and writers
live in :mod:`slem_dft.parsers` and :mod:`slem_dft.writers`).

* :data:`SIESTA_HSX_SPECIES`: one species of a SIESTA HSX file (formats-siesta.md 4.2).
* :class:`RestartAtom`: one OpenMX ``<name>.rst<N>`` file (formats-openmx.md section 6; OpenMX
  ``RestartFileDFT.c``), with :func:`rst_bytes` (record -> bytes) and :func:`rst_from_bytes`
  (bytes -> record) side by side.

A ``.rst<N>`` file is a raw int32 / float64 stream in the writer's byte order, no record
markers: 10 header ints (SpinP_switch, List_YOUSO[23] (spin channels), List_YOUSO[1] (atoms +
1), List_YOUSO[8] (largest neighbour count FNAN + 7), List_YOUSO[7] (largest orbital count),
atom count, species index (0-based), orbitals of the atom, FNAN, SO_switch); the neighbour
table as six int arrays over h = 0..FNAN (atom 1-based, cell n1, n2, n3, species, orbitals);
the band energy Uele (Hartree); H for spins 0..SpinP_switch (Hartree), then the DM for the same
spins, each block row-major (orbitals of the atom x orbitals of the neighbour), neighbours in
order, OpenMX orbital order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import FileFormatError, TruncatedFileError, UnsupportedVersionError

__all__ = ["RST_HEADER_INTS", "SIESTA_HSX_SPECIES", "RestartAtom", "rst_bytes", "rst_from_bytes"]

#: One species in HSX: label (character(len=20)), valence charge, number of orbitals.
SIESTA_HSX_SPECIES = np.dtype([("label", "S20"), ("zval", "<f8"), ("no", "<i4")])

#: Header integers of an OpenMX ``.rst<N>`` file.
RST_HEADER_INTS = 10


@dataclass(frozen=True, eq=False)
class RestartAtom:
    """The content of one OpenMX ``.rst<N>`` file, in OpenMX units and orbital order.

    Attributes
    ----------
    spin : int
        SpinP_switch (0 unpolarised, 1 collinear).
    dims : (4,) tuple of int
        List_YOUSO[23], [1], [8], [7] (spin channels, atoms + 1, max FNAN + 7, max orbitals).
    n_atoms, species, n_orbitals, so_switch : int
        Atom count, this atom's species index (0-based), its orbitals, SO_switch.
    neighbours : (FNAN + 1,) int64
        Neighbour atoms, 0-based (written 1-based); entry 0 is the atom itself.
    cells : (FNAN + 1, 3) int64
        Lattice vector (n1, n2, n3) of each neighbour's cell.
    neighbour_species, neighbour_orbitals : (FNAN + 1,) int64
    band_energy : float
        Uele, Hartree.
    H, DM : (SpinP_switch + 1, n_values) float64
        All blocks of the atom, row-major, in neighbour order (H in Hartree, DM per spin).
    path : str
        The file it was read from ("" for one built in memory).
    byteorder : str
        "<" or ">": the order it was read in (files are written little-endian).
    """

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
    path: str = ""
    byteorder: str = "<"


def rst_bytes(atom: RestartAtom) -> bytes:
    """The bytes of one ``.rst<N>`` file (little-endian), as OpenMX's ``Output_HKS`` writes them."""
    n = len(atom.neighbours)
    n_values = atom.n_orbitals * int(np.sum(atom.neighbour_orbitals))
    if atom.H.shape != (atom.spin + 1, n_values) or atom.DM.shape != atom.H.shape:
        raise ValueError(f"H and DM must be ({atom.spin + 1}, {n_values}), got {atom.H.shape} and {atom.DM.shape}")
    head = [atom.spin, *atom.dims, atom.n_atoms, atom.species, atom.n_orbitals, n - 1, atom.so_switch]
    table = np.concatenate([atom.neighbours + 1, atom.cells.T.ravel(), atom.neighbour_species, atom.neighbour_orbitals])
    return b"".join(
        [
            np.asarray(head, dtype="<i4").tobytes(),
            np.asarray(table, dtype="<i4").tobytes(),
            np.asarray([atom.band_energy], dtype="<f8").tobytes(),
            np.ascontiguousarray(atom.H, dtype="<f8").tobytes(),
            np.ascontiguousarray(atom.DM, dtype="<f8").tobytes(),
        ]
    )


def _byteorder(raw: bytes, path: str) -> str:
    """The order in which the header reads as SpinP_switch 0/1/3 and a positive atom count."""
    for order in ("<", ">"):
        head = np.frombuffer(raw[: 4 * RST_HEADER_INTS], dtype=order + "i4")
        if head[0] in (0, 1, 3) and head[5] > 0 and head[7] > 0 and head[8] >= 0:
            return order
    raise FileFormatError(
        path, "not an OpenMX restart file: the header (spin, atoms, orbitals) is invalid in either byte order", "byte 0"
    )


def rst_from_bytes(raw: bytes, path: str | os.PathLike) -> RestartAtom:
    """The record of one ``.rst<N>`` file from its bytes (either byte order), the inverse of
    :func:`rst_bytes`.

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
    if len(raw) < 4 * RST_HEADER_INTS:
        raise TruncatedFileError(path, f"file ends in the header: {len(raw)} of {4 * RST_HEADER_INTS} bytes", "byte 0")
    order = _byteorder(raw, path)
    spin, d23, d1, d8, d7, n_atoms, species, n_orb, fnan, so = np.frombuffer(raw[:40], dtype=order + "i4").tolist()
    if spin == 3:
        raise UnsupportedVersionError(
            path, "non-collinear restart files (SpinP_switch 3) are not read: no real file to verify the layout"
        )
    n = fnan + 1
    table_end = 4 * RST_HEADER_INTS + 4 * 6 * n
    if len(raw) < table_end + 8:
        raise TruncatedFileError(
            path, f"file ends in the neighbour table ({n} neighbours announced)", f"byte {len(raw)}"
        )
    table = np.frombuffer(raw[40:table_end], dtype=order + "i4").astype(np.int64).reshape(6, n)
    if table[0].min() < 1 or table[0].max() > n_atoms or table[5].min() < 1:
        raise FileFormatError(
            path, "the neighbour table points outside the atoms or has no orbitals", f"byte {4 * RST_HEADER_INTS}"
        )
    n_values = n_orb * int(table[5].sum())
    want = table_end + 8 + 2 * (spin + 1) * 8 * n_values
    if len(raw) != want:
        kind = TruncatedFileError if len(raw) < want else FileFormatError
        raise kind(
            path, f"{len(raw)} bytes, the header announces {want} (H and DM of {spin + 1} spin(s), {n} neighbours)"
        )
    values = np.frombuffer(raw[table_end + 8 :], dtype=order + "f8").astype(np.float64).reshape(2, spin + 1, n_values)
    band_energy = float(np.frombuffer(raw[table_end : table_end + 8], dtype=order + "f8")[0])
    return RestartAtom(
        spin,
        (d23, d1, d8, d7),
        n_atoms,
        species,
        n_orb,
        so,
        table[0] - 1,
        table[1:4].T.copy(),
        table[4],
        table[5],
        band_energy,
        values[0],
        values[1],
        path,
        order,
    )
