"""ABACUS sparse-matrix (CSR) text files, old and new layout (formats-abacus.md sections 3-4).

The layout is detected from the content, never from the file name, and the blocks are read
by count (nnz values, nnz column indices, N+1 row pointers), so wrapped lines of any shape
are fine. Values stay in the file's units and orbital order; :mod:`.run` converts them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from slem_dft.compression import open_text
from slem_dft.errors import FileFormatError, SlemDFTWarning, UnsupportedVersionError

from .._text import TokenReader, parse_ints, parse_numbers

__all__ = ["CsrHeaderStructure", "CsrFile", "read_csr"]

#: Operator names as the file titles spell them -> slem-dft operator names.
_OLD_TITLES = {"H(R)": "H", "S(R)": "S", "DM(R)": "DM", "T(R)": "T"}
_NEW_TITLES = (("H matrix", "H"), ("S matrix", "S"), ("density matrix", "DM"), ("T matrix", "T"))
_OLD_DIM = re.compile(r"Matrix Dimension of (\S+):\s*(\d+)")
_OLD_NUM = re.compile(r"Matrix number of (\S+):\s*(\d+)")
_FERMI = re.compile(r"E_Fermi\s*=\s*([-+0-9.eE]+)")


@dataclass(frozen=True)
class CsrHeaderStructure:
    """The structure a new-layout CSR header lists (positions wrapped into the cell, as the
    R labels of the blocks assume).

    Attributes
    ----------
    lattice_constant : float  (Angstrom)
    vectors : (3, 3) float64, rows in units of ``lattice_constant``
    labels : tuple of str, species labels in file order
    counts : tuple of int, atoms per species
    fractional : (n_atoms, 3) float64
    """

    lattice_constant: float
    vectors: np.ndarray
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    fractional: np.ndarray

    @property
    def cell(self) -> np.ndarray:
        """(3, 3) Angstrom, rows are lattice vectors."""
        return self.lattice_constant * self.vectors

    @property
    def species(self) -> tuple[str, ...]:
        return tuple(lab for lab, n in zip(self.labels, self.counts) for _ in range(n))


@dataclass(frozen=True, eq=False)
class CsrFile:
    """One ABACUS CSR file, as stored (file units, ABACUS orbital order).

    Attributes
    ----------
    path : str
    layout : str, "old" or "new"
    operator : str, "H", "S", "DM" or "T"
    dim : int, matrix dimension N (2 x orbitals for nspin 4)
    R : (n_R, 3) int64, every R block the file lists (including empty ones)
    rows, cols : (nnz,) int64, 0-based matrix indices of the stored elements
    r_index : (nnz,) int64, row of ``R`` each element belongs to
    values : (nnz,) float64 or complex128
    spin_index : int or None, 1 or 2 from the new-layout header
    n_spin_directions : int or None, from the new-layout header
    structure : CsrHeaderStructure or None (new layout only)
    gamma_folded : bool, True for a gamma_only file whose R = 0 block holds H(k = 0)
    fermi_energy_eV : float or None, from a header that states it
    relative_precision : float, half a unit of the last printed digit relative to the leading one
    """

    path: str
    layout: str
    operator: str
    dim: int
    R: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    r_index: np.ndarray
    values: np.ndarray
    spin_index: int | None = None
    n_spin_directions: int | None = None
    structure: CsrHeaderStructure | None = None
    gamma_folded: bool = False
    fermi_energy_eV: float | None = None
    relative_precision: float = 0.0

    @property
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.values)


def read_csr(path: str | os.PathLike) -> CsrFile:
    """Read an ABACUS CSR file of either layout (plain or ``.gz``/``.xz``/``.bz2``)."""
    path = os.fspath(path)
    with open_text(path) as fh:
        reader = TokenReader(fh, path)
        first = _next_nonblank(reader)
        if first is None:
            raise FileFormatError(path, "file is empty")
        if "Ionic Step" in first:
            return _read_new(reader, path)
        if first.startswith("STEP:") or first.startswith("Matrix Dimension"):
            return _read_old(reader, path, first)
        if first.startswith("IONIC_STEP"):
            raise UnsupportedVersionError(path, "asynchronous S (cal_syns) files are not an operator slem-dft stores")
        raise FileFormatError(path, f"not an ABACUS CSR file: first line is {first.strip()[:60]!r}", "line 1")


def _next_nonblank(reader: TokenReader) -> str | None:
    while (line := reader.readline()) is not None:
        if line.strip():
            return line
    return None


def _header_line(reader: TokenReader, path: str, what: str) -> str:
    line = _next_nonblank(reader)
    if line is None:
        raise FileFormatError(path, f"header ends before the {what} line", f"line {reader.line_no}")
    return line


def _leading_int(line: str, path: str, where: str, what: str) -> int:
    try:
        return int(line.split("#")[0].split()[0])
    except (ValueError, IndexError):
        raise FileFormatError(path, f"expected the {what} as an integer, found {line.strip()!r}", where) from None


def _read_old(reader: TokenReader, path: str, first: str) -> CsrFile:
    line = first if first.startswith("Matrix Dimension") else _header_line(reader, path, "matrix dimension")
    dim_match = _OLD_DIM.search(line)
    num_match = _OLD_NUM.search(_header_line(reader, path, "matrix number"))
    if dim_match is None or num_match is None:
        raise FileFormatError(
            path,
            "old-layout header needs 'Matrix Dimension of X(R): N' and 'Matrix number of X(R): M'",
            f"line {reader.line_no}",
        )
    title = dim_match.group(1)
    operator = _OLD_TITLES.get(title)
    if operator is None:
        raise UnsupportedVersionError(path, f"matrix {title} is not an operator slem-dft stores (H, S, DM, T)")
    dim, n_r = int(dim_match.group(2)), int(num_match.group(2))
    return _read_blocks(reader, path, "old", operator, dim, n_r)


def _read_new(reader: TokenReader, path: str) -> CsrFile:
    title = _header_line(reader, path, "title")
    operator = next((op for key, op in _NEW_TITLES if key in title), None)
    if operator is None:
        raise UnsupportedVersionError(path, f"unknown matrix title {title.strip()!r}", f"line {reader.line_no}")
    n_spin_dirs = _leading_int(
        _header_line(reader, path, "spin count"), path, f"line {reader.line_no}", "number of spin directions"
    )
    spin_line = _header_line(reader, path, "spin index")
    spin_index = _leading_int(spin_line, path, f"line {reader.line_no}", "spin index")
    fermi = _FERMI.search(spin_line)
    dim = _leading_int(
        _header_line(reader, path, "basis size"), path, f"line {reader.line_no}", "number of localized basis"
    )
    n_r = _leading_int(_header_line(reader, path, "R count"), path, f"line {reader.line_no}", "number of R vectors")
    structure = _read_header_structure(reader, path)
    gamma_folded = False
    # Comment lines up to the first block: the gamma-only marker and the CSR banner.
    while (line := reader.readline()) is not None:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            gamma_folded = gamma_folded or "gamma-only folded" in s
            continue
        reader.push(s)
        break
    csr = _read_blocks(reader, path, "new", operator, dim, n_r)
    return dataclasses.replace(
        csr,
        spin_index=spin_index,
        n_spin_directions=n_spin_dirs,
        structure=structure,
        gamma_folded=gamma_folded,
        fermi_energy_eV=float(fermi.group(1)) if fermi else None,
    )


def _read_header_structure(reader: TokenReader, path: str) -> CsrHeaderStructure:
    where = lambda: f"line {reader.line_no}"  # noqa: E731
    try:
        _header_line(reader, path, "lattice name")
        lat0 = float(_header_line(reader, path, "lattice constant").split()[0])
        vectors = np.array(
            [_header_line(reader, path, "lattice vector").split()[:3] for _ in range(3)], dtype=np.float64
        )
        labels = tuple(_header_line(reader, path, "species labels").split())
        counts = tuple(int(x) for x in _header_line(reader, path, "atom counts").split())
        kind = _header_line(reader, path, "coordinate type").strip()
        if kind.lower() != "direct" or len(counts) != len(labels):
            raise ValueError(f"expected species counts and 'Direct', found {kind!r}")
        frac = np.array(
            [_header_line(reader, path, "atom position").split()[:3] for _ in range(sum(counts))], dtype=np.float64
        )
    except ValueError as exc:
        raise FileFormatError(path, f"cannot read the structure block of the header ({exc})", where()) from None
    return CsrHeaderStructure(lat0, vectors, labels, counts, frac.reshape(-1, 3))


def _read_blocks(reader: TokenReader, path: str, layout: str, operator: str, dim: int, n_r: int) -> CsrFile:
    """Read ``n_r`` blocks ``Rx Ry Rz nnz / values / columns / row pointers`` by count.

    The old layout writes no data lines for an empty block; the new one writes N+1 zero
    row pointers (formats-abacus.md sections 3-4).
    """
    R = np.zeros((n_r, 3), dtype=np.int64)
    rows, cols, r_index, values = [], [], [], []
    is_complex, precision = None, 0.0
    for b in range(n_r):
        head = parse_ints(reader.take(4, f"tokens of block header {b + 1} of {n_r}"), path, f"line {reader.line_no}")
        R[b], nnz = head[:3], int(head[3])
        where = f"block {b + 1} R=({R[b, 0]}, {R[b, 1]}, {R[b, 2]})"
        if nnz < 0 or nnz > dim * dim:
            raise FileFormatError(path, f"impossible element count {nnz} for a {dim}x{dim} matrix", where)
        if nnz == 0 and layout == "old":
            continue
        tokens = reader.take(nnz, f"values of {where}")
        if is_complex is None and nnz:
            is_complex = tokens[0].startswith("(")
            mantissa = tokens[0].strip("(").split(",")[0].lower().partition("e")[0]
            precision = 0.5 * 10.0 ** -len(mantissa.partition(".")[2])
        v = parse_numbers(tokens, path, where, complex_values=bool(is_complex))
        c = parse_ints(reader.take(nnz, f"column indices of {where}"), path, where)
        ptr = parse_ints(reader.take(dim + 1, f"row pointers of {where}"), path, where)
        if ptr[0] != 0 or ptr[-1] != nnz or np.any(np.diff(ptr) < 0):
            raise FileFormatError(
                path, f"row pointers do not describe {nnz} elements (first {ptr[0]}, last {ptr[-1]})", where
            )
        if nnz and (c.min() < 0 or c.max() >= dim):
            raise FileFormatError(path, f"column index outside 0..{dim - 1} (matrix dimension {dim})", where)
        rows.append(np.repeat(np.arange(dim, dtype=np.int64), np.diff(ptr)))
        cols.append(c)
        r_index.append(np.full(nnz, b, dtype=np.int64))
        values.append(v)
    _check_trailing(reader, path, n_r)
    dtype = np.complex128 if is_complex else np.float64
    cat = lambda parts, dt: np.concatenate(parts).astype(dt, copy=False) if parts else np.zeros(0, dt)  # noqa: E731
    return CsrFile(
        path,
        layout,
        operator,
        dim,
        R,
        cat(rows, np.int64),
        cat(cols, np.int64),
        cat(r_index, np.int64),
        cat(values, dtype),
        relative_precision=precision,
    )


def _check_trailing(reader: TokenReader, path: str, n_r: int) -> None:
    if reader.at_end():
        return
    token = reader.take(1, "tokens")[0]
    if token.startswith("---") or token.startswith("STEP"):
        warnings.warn(f"{path}: holds more than one ionic step; only the first was read", SlemDFTWarning, stacklevel=3)
        return
    raise FileFormatError(
        path, f"unexpected data after the {n_r} R blocks the header announces: {token!r}", f"line {reader.line_no}"
    )
