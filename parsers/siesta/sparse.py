"""SIESTA's sparse matrix layout (formats-siesta.md sections 1 and 3), shared by HSX, TSHS and DM.

A matrix has ``no_u`` rows (unit-cell orbitals); row ``io`` holds ``numh[io]`` elements with
columns ``jo`` in ``0..no_s-1`` (0-based here), where ``jo = is * no_u + juo``: unit-cell
orbital ``juo`` in auxiliary-supercell image ``is``, whose lattice offset is ``isc_off[is]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slem_dft.errors import FileFormatError

from .._fortran import FortranFile

__all__ = [
    "SparseMatrices",
    "SpeciesRecord",
    "images_from_xij",
    "read_logical",
    "read_pattern",
    "rows_of",
]


@dataclass(frozen=True)
class SpeciesRecord:
    """A species as an HSX file lists it: label, valence charge and (n, l, zeta) of each orbital
    ((no, 3) int64, SIESTA order, one row per orbital, m implied)."""

    label: str
    zval: float
    orbitals: np.ndarray


@dataclass(frozen=True, eq=False)
class SparseMatrices:
    """H and/or S of one HSX or TSHS file, in file units (Ry, Bohr) and file orientation.

    Attributes
    ----------
    path, kind : str
        The file and its layout ("HSX v0", "HSX v1", "HSX v2", "TSHS v1").
    no_u, no_s, nspin : int
    numh : (no_u,) int64, elements per row
    col : (nnz,) int64, 0-based supercell column of each element (rows are ``rows_of(numh)``)
    H : (nspin, nnz) float64 or None, Ry, not shifted by the Fermi level
    S : (nnz,) float64 or None
    qtot : float, electrons; temp : float, Ry; fermi : float or None, Ry (HSX v0 has none)
    nsc : (3,) int64 or None; isc_off : (n_s, 3) int64 or None (valid for the images in use)
    xij : (nnz, 3) float64 or None, Bohr (HSX v0: r(jo) - r(io) per element)
    cell : (3, 3) float64 or None, Bohr, rows are lattice vectors; xa : (na, 3) or None, Bohr
    isa : (na,) int64 or None, 0-based species of each atom
    lasto : (na + 1,) int64 or None, cumulative orbital count, starting at 0
    species : tuple of SpeciesRecord or None
    gamma : bool, Gamma-only run (images folded into the unit cell)
    single_precision : bool, values were stored as float32
    """

    path: str
    kind: str
    no_u: int
    no_s: int
    nspin: int
    numh: np.ndarray
    col: np.ndarray
    H: np.ndarray | None
    S: np.ndarray | None
    qtot: float
    temp: float
    fermi: float | None
    nsc: np.ndarray | None
    isc_off: np.ndarray | None
    xij: np.ndarray | None
    cell: np.ndarray | None
    xa: np.ndarray | None
    isa: np.ndarray | None
    lasto: np.ndarray | None
    species: tuple[SpeciesRecord, ...] | None
    gamma: bool
    single_precision: bool = False

    @property
    def na_u(self) -> int | None:
        return None if self.lasto is None else self.lasto.size - 1


def read_logical(f: FortranFile, what: str, count: int = 1) -> np.ndarray:
    """Fortran logicals: 0 is false; 1 (gfortran) and -1 (Intel) are true."""
    raw = f.read_array("<i4", what, count)
    if not np.all(np.isin(raw, (0, 1, -1))):
        raise FileFormatError(
            f.path, f"{what}: {raw.tolist()} are not Fortran logicals (0, 1 or -1)", f"record {f.record_no - 1}"
        )
    return raw != 0


def read_pattern(f: FortranFile, no_u: int, no_s: int, nnz: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``numh`` (one record) then one record of 1-based columns per row -> (numh, 0-based col)."""
    numh = f.read_array("<i4", "numh (elements per row)", no_u).astype(np.int64)
    if np.any(numh < 0) or (nnz is not None and int(numh.sum()) != nnz):
        raise FileFormatError(
            f.path, f"numh sums to {int(numh.sum())}, the header announces {nnz} elements", f"record {f.record_no - 1}"
        )
    col = f.read_rows(numh, "<i4", "column indices").astype(np.int64) - 1
    if col.size and (col.min() < 0 or col.max() >= no_s):
        raise FileFormatError(
            f.path, f"column index outside 1..{no_s}", f"records {f.record_no - no_u}-{f.record_no - 1}"
        )
    return numh, col


def rows_of(numh: np.ndarray) -> np.ndarray:
    """(nnz,) 0-based row of each element."""
    return np.repeat(np.arange(numh.size, dtype=np.int64), numh)


def images_from_xij(m: SparseMatrices, cell: np.ndarray, xa: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """(n_s, 3) image offsets of an HSX v0 file from its per-element ``xij`` (Bohr):
    R = round((xij - (xa[ja] - xa[ia])) A^-1) with A the cell (rows, Bohr); images not in use
    get zeros. Every element of one image must give the same R, within ``tol`` Bohr."""
    atom_of = np.repeat(np.arange(m.lasto.size - 1), np.diff(m.lasto))
    rows = rows_of(m.numh)
    d = m.xij - (xa[atom_of[m.col % m.no_u]] - xa[atom_of[rows]])
    frac = d @ np.linalg.inv(cell)
    R = np.rint(frac).astype(np.int64)
    resid = np.abs((frac - R) @ cell).max(initial=0.0)
    if resid > tol:
        raise FileFormatError(
            m.path,
            f"xij differ from lattice vectors of the given structure by up to {resid:.2e} "
            "Bohr: the STRUCT_OUT/XV does not belong to this file",
        )
    image = m.col // m.no_u
    out = np.zeros((m.no_s // m.no_u, 3), dtype=np.int64)
    out[image] = R
    if not np.array_equal(out[image], R):
        raise FileFormatError(m.path, "elements of one supercell image have different lattice offsets in xij")
    return out
