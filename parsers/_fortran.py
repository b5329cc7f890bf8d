"""Fortran sequential unformatted files (gfortran framing), read with numpy.

Each record is framed by a 4-byte little-endian length marker before and after its payload.
The whole file is held in memory once (its size is what the matrices need anyway); records are
returned as numpy views into it. Runs of records whose lengths are known in advance (one record
per matrix row) are located and checked without a Python loop over their bytes.
"""

from __future__ import annotations

import os

import numpy as np

from slem_dft.compression import DECOMPRESSION_ERRORS, open_binary
from slem_dft.errors import FileFormatError, TruncatedFileError

__all__ = ["FortranFile"]

_MARKER = np.dtype("<i4")


class FortranFile:
    """Records of one Fortran sequential unformatted file, read front to back.

    Parameters
    ----------
    path
        The file (``.gz``, ``.xz`` and ``.bz2`` are decompressed on the fly).

    Attributes
    ----------
    record_no : int
        1-based number of the next record, as named in error messages ("record N").
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        with open_binary(path) as fh:
            try:
                self._data = np.frombuffer(fh.read(), dtype=np.uint8)
            except DECOMPRESSION_ERRORS as exc:
                raise TruncatedFileError(self.path, f"compressed stream is cut or corrupt ({exc})") from None
        self._pos = 0
        self.record_no = 1

    # -- framing ---------------------------------------------------------------------------
    def _marker(self, pos: int, what: str) -> int:
        if pos + 4 > self._data.size:
            raise TruncatedFileError(
                self.path, f"file ends inside the {what} length marker", f"record {self.record_no}"
            )
        n = int(self._data[pos : pos + 4].view(_MARKER)[0])
        if n < 0:
            raise FileFormatError(
                self.path,
                f"negative record marker {n}: gfortran sub-records (records over 2 GiB) are not supported",
                f"record {self.record_no}",
            )
        return n

    def peek_length(self) -> int | None:
        """Payload length in bytes of the next record, None at the end of the file."""
        return None if self._pos >= self._data.size else self._marker(self._pos, "leading")

    def read(self, what: str = "record") -> np.ndarray:
        """The next record's payload as a uint8 view; ``what`` names it in errors."""
        n = self._marker(self._pos, "leading")
        start, end = self._pos + 4, self._pos + 4 + n
        if end + 4 > self._data.size:
            raise TruncatedFileError(
                self.path, f"file ends inside the {what} ({n} bytes announced)", f"record {self.record_no}"
            )
        tail = self._marker(end, "trailing")
        if tail != n:
            raise FileFormatError(
                self.path, f"{what}: leading marker {n} and trailing marker {tail} differ", f"record {self.record_no}"
            )
        self._pos = end + 4
        self.record_no += 1
        return self._data[start:end]

    # -- typed records ---------------------------------------------------------------------
    def read_array(self, dtype, what: str, count: int | None = None) -> np.ndarray:
        """The next record as an array of ``dtype``, optionally of exactly ``count`` items."""
        dtype = np.dtype(dtype)
        raw = self.read(what)
        if raw.size % dtype.itemsize or (count is not None and raw.size != count * dtype.itemsize):
            want = f"{count} x {dtype.itemsize}" if count is not None else f"a multiple of {dtype.itemsize}"
            raise FileFormatError(
                self.path, f"{what}: {raw.size} bytes, expected {want}", f"record {self.record_no - 1}"
            )
        return raw.view(dtype)

    def read_rows(self, counts: np.ndarray, dtype, what: str, width: int = 1) -> np.ndarray:
        """Concatenate ``len(counts)`` consecutive records holding ``counts[r] * width`` items each.

        Used for SIESTA's one-record-per-row matrices. Returns a flat array of
        ``sum(counts) * width`` items (a copy; memory of the payload only).
        """
        dtype = np.dtype(dtype)
        counts = np.asarray(counts, dtype=np.int64)
        sizes = counts * width * dtype.itemsize
        starts = (
            self._pos + 4 + np.concatenate([[0], np.cumsum(sizes[:-1] + 8)]) if counts.size else np.zeros(0, np.int64)
        )
        end = int(starts[-1] + sizes[-1] + 4) if counts.size else self._pos
        if end > self._data.size:
            done = int(np.searchsorted(starts + sizes + 4, self._data.size, side="right"))
            raise TruncatedFileError(
                self.path,
                f"file ends inside the {what} ({done} of {counts.size} row records complete)",
                f"record {self.record_no + done}",
            )
        heads = self._gather_markers(starts - 4)
        tails = self._gather_markers(starts + sizes)
        bad = np.flatnonzero((heads != sizes) | (tails != sizes))
        if bad.size:
            r = int(bad[0])
            if heads[r] < 0 or tails[r] < 0:
                raise FileFormatError(
                    self.path,
                    "negative record marker: gfortran sub-records are not supported",
                    f"record {self.record_no + r}",
                )
            raise FileFormatError(
                self.path,
                f"{what}, row {r + 1}: record of {heads[r]} bytes (trailing marker {tails[r]}), expected {sizes[r]}",
                f"record {self.record_no + r}",
            )
        first = self._pos
        markers = np.concatenate([starts - 4, starts + sizes])[:, None] + np.arange(4) - first
        payload = np.delete(self._data[first:end], markers.reshape(-1))  # drop the 8 marker bytes per row
        self._pos = end
        self.record_no += counts.size
        return payload.view(dtype)

    def _gather_markers(self, positions: np.ndarray) -> np.ndarray:
        idx = positions[:, None] + np.arange(4)
        return self._data[idx].copy().view(_MARKER).reshape(-1).astype(np.int64)
