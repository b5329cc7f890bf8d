"""Opening files that may be compressed (``.gz``, ``.xz``, ``.bz2``), for readers of every kind:
the DFT outputs (:mod:`slem_dft.parsers`) and the basis files both directions need
(:mod:`slem_dft.basisfiles`)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from pathlib import Path

__all__ = ["COMPRESSED_SUFFIXES", "DECOMPRESSION_ERRORS", "open_binary", "open_text", "strip_compression"]

COMPRESSED_SUFFIXES = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}

#: Errors the decompressors raise on a cut or corrupt stream.
DECOMPRESSION_ERRORS = (EOFError, lzma.LZMAError, gzip.BadGzipFile, OSError)


def strip_compression(path: str | os.PathLike) -> str:
    """File name without a compression suffix (``hrs1_nao.csr.xz`` -> ``hrs1_nao.csr``)."""
    name = Path(path).name
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Open a text file for streaming reading, decompressing ``.gz``, ``.xz`` and ``.bz2``."""
    path = Path(path)
    opener = COMPRESSED_SUFFIXES.get(path.suffix)
    if opener is None:
        return open(path, encoding="utf-8", errors="replace")
    return opener(path, "rt", encoding="utf-8", errors="replace")


def open_binary(path: str | os.PathLike) -> io.BufferedIOBase:
    """Open a binary file for streaming reading, decompressing ``.gz``, ``.xz`` and ``.bz2``."""
    path = Path(path)
    opener = COMPRESSED_SUFFIXES.get(path.suffix)
    return open(path, "rb") if opener is None else opener(path, "rb")
