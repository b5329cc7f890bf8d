"""The OpenMX ``.scfout`` binary file (formats-openmx.md section 1), read as it is stored.

A raw ``fwrite`` stream of int32 and float64 in the writer's byte order, with no record
markers. Versions 0 (OpenMX <= 3.8), 1 and 2 (3.7.x development builds) and 3 (3.9) differ
in a few optional sections; the byte order is recognised from the header. The file is read
front to back from a stream, so ``.scfout.xz`` (``.gz``, ``.bz2``) is read without unpacking.
Values stay in the file's units (Hartree, Bohr) and orbital order; :mod:`.run` converts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slem_dft.compression import open_binary
from slem_dft.errors import FileFormatError, TruncatedFileError, UnsupportedVersionError

__all__ = ["SUPPORTED_VERSIONS", "Scfout", "read_scfout"]

#: scfout format versions this reader knows: 0 (<= 3.8), 1 and 2 (3.7.x dev), 3 (3.9).
SUPPORTED_VERSIONS = (0, 1, 2, 3)

#: Size of one echoed input line record (``fgets`` buffer).
_LINE_RECORD = 256

# A cut or corrupt compressed stream raises one of these (lzma, gzip, bz2).
_STREAM_ERRORS = (EOFError, OSError)


@dataclass(eq=False)
class Scfout:
    """The content of one ``.scfout`` file, in file units and file orbital order.

    Attributes
    ----------
    path : str
    version : int
        Format version (0-3).
    spin : int
        SpinP_switch: 0 unpolarised, 1 collinear, 3 non-collinear.
    byteorder : str
        "<" or ">".
    n_orbitals : (n_atoms,) int64
        Orbitals per atom (Total_NumOrbs).
    neighbours : (n_blocks,) int64
        Atom j (0-based) of every stored block, atoms i in order, neighbour h = 0..FNAN[i].
    block_atom : (n_blocks,) int64
        Atom i of every block.
    block_cell : (n_blocks, 3) int64
        Lattice vector (n1, n2, n3) of atom j's cell (atv_ijk[ncn[i][h]]).
    cell : (3, 3) float64, Bohr, rows are the lattice vectors a1, a2, a3
    positions : (n_atoms, 3) float64, Bohr, Cartesian (Gxyz)
    matrices : dict str -> list of (n_values,) float64
        "H", "iH" (non-collinear only), "S", "DM", "iDM" (version 3 only): each a list of
        sparse matrices, the values of all blocks row-major in block order. Only those asked
        for are kept.
    chemical_potential : float, Hartree
    temperature : float, K
    n_electrons : float
    total_spin : float
        Total_SpinS: half the spin moment in mu_B.
    input_text : str
        The input file echoed at the end ("" when the file holds none).
    n_bytes : int
        Bytes read, through the input echo (anything after it is ignored).
    """

    path: str
    version: int
    spin: int
    byteorder: str
    n_orbitals: np.ndarray
    neighbours: np.ndarray
    block_atom: np.ndarray
    block_cell: np.ndarray
    cell: np.ndarray
    positions: np.ndarray
    matrices: dict[str, list[np.ndarray]] = field(default_factory=dict)
    chemical_potential: float = 0.0
    temperature: float = 0.0
    n_electrons: float = 0.0
    total_spin: float = 0.0
    input_text: str = ""
    n_bytes: int = 0

    @property
    def n_atoms(self) -> int:
        return len(self.n_orbitals)


class _Stream:
    """Counted reads of a binary stream in one byte order; every short read is an error that
    names the file, the section and the byte offset."""

    def __init__(self, fh, path: str, byteorder: str = "<"):
        self._fh, self.path, self.byteorder, self.offset = fh, path, byteorder, 0

    def raw(self, n_bytes: int, what: str) -> bytes:
        try:
            data = self._fh.read(n_bytes)
        except _STREAM_ERRORS as exc:
            raise TruncatedFileError(
                self.path, f"compressed stream is cut or corrupt ({exc})", f"byte {self.offset}"
            ) from None
        if len(data) != n_bytes:
            raise TruncatedFileError(
                self.path, f"file ends in {what}: {len(data)} of {n_bytes} bytes", f"byte {self.offset}"
            )
        self.offset += n_bytes
        return data

    def ints(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.raw(4 * n, what), dtype=self.byteorder + "i4").astype(np.int64)

    def doubles(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.raw(8 * n, what), dtype=self.byteorder + "f8").astype(np.float64)


def _byteorder(head: bytes, path: str) -> str:
    """OpenMX's own test: the second header int (SpinP_switch + 4 version) is 0..15."""
    for order in ("<", ">"):
        ints = np.frombuffer(head, dtype=order + "i4")
        if 0 <= ints[1] <= 15 and ints[0] > 0 and ints[5] >= 0:
            return order
    raise FileFormatError(
        path,
        "not an OpenMX scfout: the header (atom count, spin/version word) is invalid in either byte order",
        "byte 0",
    )


def read_scfout(path: str | os.PathLike, keep: tuple[str, ...] = ("H", "iH", "S", "DM", "iDM")) -> Scfout:
    """Read a ``.scfout`` (plain or compressed), keeping the sparse matrices named in ``keep``.

    Raises
    ------
    TruncatedFileError
        The file (or compressed stream) ends before the data its header announces.
    FileFormatError
        The header or the neighbour lists are not those of an scfout.
    UnsupportedVersionError
        A spin/version word outside versions 0-3 or SpinP_switch 0, 1, 3.
    """
    path = os.fspath(path)
    if not Path(path).is_file():
        raise FileFormatError(path, "no such file")
    with open_binary(path) as fh:
        stream = _Stream(fh, path)
        head = stream.raw(24, "the header")
        stream.byteorder = _byteorder(head, path)
        atomnum, word, _c, _l, _r, tcpycell = np.frombuffer(head, dtype=stream.byteorder + "i4").tolist()
        version, spin = divmod(word, 4)
        if version not in SUPPORTED_VERSIONS or spin == 2:
            raise UnsupportedVersionError(
                path, f"spin/version word {word}: version {version}, SpinP_switch {spin} is not a known scfout"
            )
        order_max = int(stream.ints(1, "order_max")[0]) if version >= 1 else 1
        stream.doubles(4 * (tcpycell + 1), "atv")
        atv_ijk = stream.ints(4 * (tcpycell + 1), "atv_ijk").reshape(-1, 4)[:, 1:]
        tno = stream.ints(atomnum, "Total_NumOrbs")
        fnan = stream.ints(atomnum, "FNAN")
        if tno.min() <= 0 or fnan.min() < 0:
            raise FileFormatError(
                path, "negative or zero orbital/neighbour counts in the header", f"byte {stream.offset}"
            )
        n_blocks = int(np.sum(fnan + 1))
        natn = stream.ints(n_blocks, "natn") - 1  # 1-based in the file
        ncn = stream.ints(n_blocks, "ncn")
        if natn.min() < 0 or natn.max() >= atomnum or ncn.min() < 0 or ncn.max() > tcpycell:
            raise FileFormatError(
                path, "neighbour lists point outside the atoms or cells of the header", f"byte {stream.offset}"
            )
        cell = stream.doubles(12, "tv").reshape(3, 4)[:, 1:]
        stream.doubles(12, "rtv")
        positions = stream.doubles(4 * atomnum, "Gxyz").reshape(-1, 4)[:, 1:]
        block_atom = np.repeat(np.arange(atomnum), fnan + 1)
        out = Scfout(path, version, spin, stream.byteorder, tno, natn, block_atom, atv_ijk[ncn], cell, positions)
        n_values = int(np.sum(tno[block_atom] * tno[natn]))

        def matrices(name: str, count: int) -> None:
            for n in range(count):
                if name in keep:
                    out.matrices.setdefault(name, []).append(stream.doubles(n_values, f"{name}[{n}]"))
                else:
                    stream.raw(8 * n_values, f"{name}[{n}]")

        n_spin = 4 if spin == 3 else spin + 1
        matrices("H", n_spin)
        matrices("iH", 3 if spin == 3 else 0)
        matrices("S", 1)
        matrices("OLPpo", 3 * order_max)
        matrices("OLPmo", 3 if version == 3 else 0)
        matrices("DM", n_spin)
        matrices("iDM", 2 if version == 3 else 0)
        stream.ints(1, "Solver")
        trailer = stream.doubles(10, "the trailer (ChemP ... Total_SpinS)")
        out.chemical_potential, out.temperature = float(trailer[0]), float(trailer[1])
        out.n_electrons, out.total_spin = float(trailer[8]), float(trailer[9])
        if version in (1, 2):
            stream.doubles(atomnum, "the core charges")
        out.input_text = _input_echo(stream)
        out.n_bytes = stream.offset
    return out


def _input_echo(stream: _Stream) -> str:
    """The input file echoed as ``num_lines`` records of 256 bytes, each cut at its first NUL.
    Anything after them (e.g. an appended ``.out``) is ignored."""
    n_lines = int(stream.ints(1, "the input-echo line count")[0])
    if not 0 <= n_lines <= 10_000_000:
        raise FileFormatError(
            stream.path, f"input-echo line count {n_lines} is not plausible", f"byte {stream.offset - 4}"
        )
    records = stream.raw(_LINE_RECORD * n_lines, "the echoed input lines")
    lines = (records[k : k + _LINE_RECORD].split(b"\0", 1)[0] for k in range(0, len(records), _LINE_RECORD))
    return b"".join(lines).decode("utf-8", errors="replace")
