"""SIESTA ``.DM`` density-matrix files (formats-siesta.md section 7), both header forms."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from slem_dft.errors import FileFormatError

from .._fortran import FortranFile
from .sparse import read_pattern

__all__ = ["DMFile", "read_dm"]


@dataclass(frozen=True, eq=False)
class DMFile:
    """A density matrix in file orientation (row io, column jo holds the element of <jo| |io>).

    Attributes
    ----------
    path : str
    no_u, nspin : int
    nsc : (3,) int64 or None
        Supercell of the column numbering; None for the old 2-integer header or nsc = 0 0 0
        ("the columns already fit the run").
    numh : (no_u,) int64; col : (nnz,) int64, 0-based
    values : (nspin, nnz) float64, electrons (components as in formats-siesta.md section 6)
    """

    path: str
    no_u: int
    nspin: int
    nsc: np.ndarray | None
    numh: np.ndarray
    col: np.ndarray
    values: np.ndarray


def read_dm(path: str | os.PathLike) -> DMFile:
    f = FortranFile(path)
    length = f.peek_length()
    if length not in (8, 20):
        raise FileFormatError(f.path, f"first record of {length} bytes; a DM header holds 2 or 5 integers", "record 1")
    head = f.read_array("<i4", "header (no_u, nspin[, nsc])", length // 4).astype(np.int64)
    no_u, nspin = int(head[0]), int(head[1])
    nsc = head[2:] if head.size == 5 and np.all(head[2:] > 0) else None
    if no_u <= 0 or nspin not in (1, 2, 4, 8):
        raise FileFormatError(f.path, f"implausible header: no_u {no_u}, nspin {nspin}", "record 1")
    # Without nsc the column range is unknown: accept any positive column, the caller checks.
    no_s = no_u * int(np.prod(nsc)) if nsc is not None else np.iinfo(np.int32).max
    numh, col = read_pattern(f, no_u, no_s)
    values = f.read_rows(np.tile(numh, nspin), "<f8", "DM values").reshape(nspin, -1)
    return DMFile(f.path, no_u, nspin, nsc, numh, col, values)
