"""SIESTA ``.HSX`` files, versions 0 (SIESTA <= 4.1), 1 and 2 (SIESTA 5); formats-siesta.md section 4.

Version 2 adds one record (the SCF k-grid) to version 1; it is implemented from the document
and tested on a synthetic file only (no SIESTA-written v2 file was available).
"""

from __future__ import annotations

import os

import numpy as np

from slem_dft.errors import FileFormatError, UnsupportedVersionError
from slem_dft.layouts import SIESTA_HSX_SPECIES

from .._fortran import FortranFile
from .sparse import SparseMatrices, SpeciesRecord, read_logical, read_pattern

__all__ = ["hsx_version", "read_hsx"]


def hsx_version(path: str | os.PathLike) -> int:
    """0, 1 or 2: version 0 starts with a 4-integer record, later versions with the version."""
    f = FortranFile(path)
    first = f.peek_length()
    if first is None:
        raise FileFormatError(f.path, "file is empty")
    return 0 if first == 16 else int(f.read_array("<i4", "version", 1)[0])


def read_hsx(path: str | os.PathLike, values: bool = True) -> SparseMatrices:
    """Read an HSX file (any version). ``values=False`` leaves H and S out (versions 1 and 2 then
    stop reading after the sparsity pattern; version 0 stores the basis after the values)."""
    f = FortranFile(path)
    first = f.peek_length()
    if first is None:
        raise FileFormatError(f.path, "file is empty")
    if first == 16:
        return _read_v0(f, values)
    version = int(f.read_array("<i4", "version", 1)[0])
    if version not in (1, 2):
        raise UnsupportedVersionError(f.path, f"HSX version {version}; versions 0, 1 and 2 are supported", "record 1")
    return _read_v12(f, version, values)


def _read_v0(f: FortranFile, values: bool) -> SparseMatrices:
    no_u, no_s, nspin, nnz = (int(x) for x in f.read_array("<i4", "header (no_u, no_s, nspin, maxnh)", 4))
    _check_header(f, no_u, no_s, nspin)
    gamma = bool(read_logical(f, "gamma flag")[0])
    if not gamma:
        f.read_array("<i4", "indxuo", no_s)  # jo -> unit-cell orbital; always mod(jo-1, no_u)+1
    numh, col = read_pattern(f, no_u, no_s, nnz)
    H = f.read_rows(np.tile(numh, nspin), "<f4", "H values").astype(np.float64).reshape(nspin, -1)
    S = f.read_rows(numh, "<f4", "S values").astype(np.float64)
    qtot, temp = (float(x) for x in f.read_array("<f8", "qtot, temp", 2))
    xij = f.read_rows(numh, "<f4", "xij", width=3).astype(np.float64).reshape(-1, 3)
    n_species = int(f.read_array("<i4", "number of species", 1)[0])
    table = f.read_array(SIESTA_HSX_SPECIES, "species (label, zval, no)", n_species)
    species = tuple(
        SpeciesRecord(
            _label(row["label"]),
            float(row["zval"]),
            np.array(
                [
                    f.read_array("<i4", f"orbital (n, l, zeta) of {_label(row['label'])}", 3)
                    for _ in range(int(row["no"]))
                ],
                dtype=np.int64,
            ).reshape(-1, 3),
        )
        for row in table
    )
    na_u = int(f.read_array("<i4", "number of atoms", 1)[0])
    isa = f.read_array("<i4", "species of each atom", na_u).astype(np.int64) - 1
    pairs = f.read_array("<i4", "(atom, orbital) of each orbital", 2 * no_u).reshape(no_u, 2).astype(np.int64)
    counts = np.bincount(pairs[:, 0] - 1, minlength=na_u)
    lasto = np.concatenate([[0], np.cumsum(counts)])
    if not np.array_equal(pairs[:, 0] - 1, np.repeat(np.arange(na_u), counts)):
        raise FileFormatError(f.path, "orbitals are not grouped by atom", f"record {f.record_no - 1}")
    return SparseMatrices(
        f.path,
        "HSX v0",
        no_u,
        no_s,
        nspin,
        numh,
        col,
        H if values else None,
        S if values else None,
        qtot,
        temp,
        None,
        None,
        None,
        xij,
        None,
        None,
        isa,
        lasto,
        species,
        gamma,
        single_precision=True,
    )


def _read_v12(f: FortranFile, version: int, values: bool) -> SparseMatrices:
    is_dp = bool(read_logical(f, "is_dp flag")[0])
    na_u, no_u, nspin, n_species, *nsc = (
        int(x) for x in f.read_array("<i4", "header (na_u, no_u, nspin, nspecies, nsc)", 7)
    )
    n_s = int(np.prod(nsc))
    no_s = n_s * no_u
    _check_header(f, no_u, no_s, nspin)
    reals = f.read_array("<f8", "cell, Ef, qtot, temp", 12)
    cell, (fermi, qtot, temp) = reals[:9].reshape(3, 3).copy(), reals[9:]
    geometry = f.read_array(
        np.dtype([("isc", "<i4", (n_s, 3)), ("xa", "<f8", (na_u, 3)), ("isa", "<i4", na_u), ("lasto", "<i4", na_u)]),
        "isc_off, xa, isa, lasto",
        1,
    )[0]
    table = f.read_array(SIESTA_HSX_SPECIES, "species (label, zval, no)", n_species)
    species = tuple(
        SpeciesRecord(
            _label(row["label"]),
            float(row["zval"]),
            f.read_array("<i4", f"orbitals (n, l, zeta) of {_label(row['label'])}", 3 * int(row["no"]))
            .reshape(-1, 3)
            .astype(np.int64),
        )
        for row in table
    )
    if version == 2:
        f.read_array(np.dtype([("kcell", "<i4", (3, 3)), ("kdispl", "<f8", 3)]), "k-grid (kcell, kdispl)", 1)
    numh, col = read_pattern(f, no_u, no_s)
    H = S = None
    if values:
        real = "<f8" if is_dp else "<f4"
        H = f.read_rows(np.tile(numh, nspin), real, "H values").astype(np.float64).reshape(nspin, -1)
        S = f.read_rows(numh, real, "S values").astype(np.float64)
    lasto = np.concatenate([[0], geometry["lasto"]]).astype(np.int64)
    if lasto[-1] != no_u or np.any(np.diff(lasto) <= 0):
        raise FileFormatError(f.path, f"lasto {lasto[1:].tolist()} does not end at no_u = {no_u}", "record 5")
    return SparseMatrices(
        f.path,
        f"HSX v{version}",
        no_u,
        no_s,
        nspin,
        numh,
        col,
        H,
        S,
        float(qtot),
        float(temp),
        float(fermi),
        np.array(nsc, dtype=np.int64),
        geometry["isc"].astype(np.int64),
        None,
        cell,
        geometry["xa"].astype(np.float64),
        geometry["isa"].astype(np.int64) - 1,
        lasto,
        species,
        gamma=n_s == 1,
        single_precision=not is_dp,
    )


def _check_header(f: FortranFile, no_u: int, no_s: int, nspin: int) -> None:
    if no_u <= 0 or no_s < no_u or no_s % no_u or nspin not in (1, 2, 4, 8):
        raise FileFormatError(f.path, f"implausible header: no_u {no_u}, no_s {no_s}, nspin {nspin}", "record 1")


def _label(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace").strip()
