"""Text-file helpers shared by the readers: counted tokens and printed numbers (decompression:
:mod:`slem_dft.compression`)."""

from __future__ import annotations

import io
import itertools
import os
import re

import numpy as np

from slem_dft.compression import DECOMPRESSION_ERRORS
from slem_dft.errors import FileFormatError, TruncatedFileError

__all__ = ["half_ulp", "TokenReader", "parse_numbers", "parse_ints"]


class TokenReader:
    """Whitespace-separated tokens of a text file, taken by count across line breaks.

    Blank lines and lines whose first non-blank character is ``#`` are skipped. Decompression
    errors and a premature end of file become :class:`TruncatedFileError` naming the file.
    """

    def __init__(self, fh: io.TextIOBase, path: str | os.PathLike, line_no: int = 0):
        self._fh = fh
        self.path = os.fspath(path)
        self.line_no = line_no
        self._buf: list[str] = []
        self._pos = 0

    def readline(self) -> str | None:
        """Next raw line (None at end of file); only valid while no tokens are buffered."""
        try:
            line = self._fh.readline()
        except DECOMPRESSION_ERRORS as exc:
            raise TruncatedFileError(
                self.path, f"compressed stream is cut or corrupt ({exc})", f"line {self.line_no + 1}"
            ) from None
        if not line:
            return None
        self.line_no += 1
        return line

    def _next_tokens(self) -> list[str] | None:
        """Tokens of the next data line (None at end of file)."""
        while (line := self.readline()) is not None:
            s = line.strip()
            if s and not s.startswith("#"):
                return s.split()
        return None

    def take(self, n: int, what: str) -> list[str]:
        """The next ``n`` tokens; ``what`` names them in the error if the file ends first."""
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        if len(out) == n:
            return out
        chunks, need = [out], n - len(out)
        while need:
            tokens = self._next_tokens()
            if tokens is None:
                raise TruncatedFileError(self.path, f"file ends after {n - need} of {n} {what}", f"line {self.line_no}")
            if len(tokens) <= need:
                chunks.append(tokens)
                need -= len(tokens)
            else:
                chunks.append(tokens[:need])
                self._buf, self._pos, need = tokens, need, 0
        if self._pos >= len(self._buf):
            self._buf, self._pos = [], 0
        return list(itertools.chain.from_iterable(chunks))

    def push(self, line: str) -> None:
        """Put the tokens of an already-read line back in front of the stream."""
        self._buf = line.split() + self._buf[self._pos :]
        self._pos = 0

    def at_end(self) -> bool:
        """True when no tokens remain."""
        if len(self._buf) > self._pos:
            return False
        tokens = self._next_tokens()
        if tokens is None:
            return True
        self._buf, self._pos = tokens, 0
        return False


_COMPLEX = re.compile(r"[(),]")


def parse_numbers(tokens: list[str], path: str, where: str, complex_values: bool = False) -> np.ndarray:
    """Tokens -> float64 array, or complex128 from ``(re,im)`` tokens; a bad token is a
    :class:`FileFormatError`; NaN and infinity are rejected."""
    try:
        if complex_values:
            flat = np.array(_COMPLEX.sub(" ", " ".join(tokens)).split(), dtype=np.float64)
            if flat.size != 2 * len(tokens):
                raise ValueError("expected (re,im) pairs")
            out = flat[0::2] + 1j * flat[1::2]
        else:
            out = np.array(tokens, dtype=np.float64)
    except ValueError as exc:
        raise FileFormatError(path, f"cannot read numbers ({exc})", where) from None
    if not np.all(np.isfinite(out)):
        raise FileFormatError(path, "matrix contains NaN or infinite values", where)
    return out


def parse_ints(tokens: list[str], path: str, where: str) -> np.ndarray:
    """Tokens -> int64 array; a bad token is a :class:`FileFormatError`."""
    try:
        return np.array(tokens, dtype=np.int64)
    except ValueError as exc:
        raise FileFormatError(path, f"expected integers ({exc})", where) from None


def half_ulp(tokens: list[str]) -> np.ndarray:
    """Half a unit of the last printed digit of each number token: the rounding of the print.

    Handles plain and exponent forms (``-3.8270``, ``9.28e-01``, Fortran ``-0.4217D+01``);
    for complex ``(re,im)`` tokens the real part's format is used.
    """
    out = np.empty(len(tokens))
    for n, tok in enumerate(tokens):
        mantissa, _, exponent = tok.strip("(").split(",")[0].lower().replace("d", "e").partition("e")
        out[n] = 0.5 * 10.0 ** (int(exponent or 0) - len(mantissa.partition(".")[2]))
    return out
