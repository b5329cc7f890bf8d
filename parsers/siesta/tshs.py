"""TranSIESTA ``.TSHS`` files, version 1 (formats-siesta.md section 5).

Unlike HSX, TSHS holds no species or basis: those come from the run's other files.
"""

from __future__ import annotations

import os

import numpy as np

from slem_dft.errors import FileFormatError, UnsupportedVersionError

from .._fortran import FortranFile
from .sparse import SparseMatrices, read_logical, read_pattern

__all__ = ["read_tshs"]


def read_tshs(path: str | os.PathLike, values: bool = True) -> SparseMatrices:
    """Read a TSHS file; ``values=False`` stops after the sparsity pattern."""
    f = FortranFile(path)
    if f.peek_length() != 4:
        raise UnsupportedVersionError(
            f.path,
            "not a TSHS version 1 file (the first record is not one integer); "
            "old TranSIESTA version 0 files are not supported",
            "record 1",
        )
    version = int(f.read_array("<i4", "version", 1)[0])
    if version != 1:
        raise UnsupportedVersionError(f.path, f"TSHS version {version}; only version 1 is supported", "record 1")
    na_u, no_u, no_s, nspin, nnz = (int(x) for x in f.read_array("<i4", "header (na_u, no_u, no_s, nspin, nnz)", 5))
    if no_u <= 0 or no_s < no_u or no_s % no_u or nspin not in (1, 2, 4, 8):
        raise FileFormatError(f.path, f"implausible header: no_u {no_u}, no_s {no_s}, nspin {nspin}", "record 2")
    nsc = f.read_array("<i4", "nsc", 3).astype(np.int64)
    geometry = f.read_array("<f8", "cell and xa", 9 + 3 * na_u)
    gamma, _ts_gamma, only_s = read_logical(f, "Gamma, TSGamma, onlyS", 3)
    f.read(what="k-grid (kscell, kdispl)")
    fermi, qtot, temp = (float(x) for x in f.read_array("<f8", "Ef, qtot, temp", 3))
    f.read(what="istep, ia1")
    lasto = f.read_array("<i4", "lasto(0:na_u)", na_u + 1).astype(np.int64)
    if lasto[0] != 0 or lasto[-1] != no_u or np.any(np.diff(lasto) <= 0):
        raise FileFormatError(
            f.path,
            f"lasto {lasto.tolist()} is not a cumulative count ending at no_u = {no_u}",
            f"record {f.record_no - 1}",
        )
    numh, col = read_pattern(f, no_u, no_s, nnz)
    H = S = None
    if values:
        S = f.read_rows(numh, "<f8", "S values").copy()
        if not only_s:
            H = f.read_rows(np.tile(numh, nspin), "<f8", "H values").reshape(nspin, -1)
    elif not only_s:
        f.read_rows(np.tile(numh, nspin + 1), "<f8", "S and H values")
    isc_off = None
    if not gamma:
        isc_off = f.read_array("<i4", "isc_off", 3 * (no_s // no_u)).reshape(-1, 3).astype(np.int64)
    return SparseMatrices(
        f.path,
        "TSHS v1",
        no_u,
        no_s,
        nspin,
        numh,
        col,
        H,
        S,
        qtot,
        temp,
        fermi,
        nsc,
        isc_off,
        None,
        geometry[:9].reshape(3, 3).copy(),
        geometry[9:].reshape(na_u, 3).copy(),
        None,
        lasto,
        None,
        bool(gamma),
    )
