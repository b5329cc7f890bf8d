"""Exception hierarchy of slem-dft.

Every error that comes from a user's file names the file and, where known, the place in it
(a line, a record, a block), so that the command line can print one clear line.
"""

from __future__ import annotations

import os

__all__ = [
    "SlemDFTError",
    "FileFormatError",
    "TruncatedFileError",
    "UnsupportedVersionError",
    "MissingInputError",
    "AmbiguousInputError",
    "ConventionError",
    "ConfigError",
    "CheckFailedError",
    "StoreError",
    "SlemDFTWarning",
]


class SlemDFTError(Exception):
    """Base class of every error slem-dft raises on purpose."""


class FileFormatError(SlemDFTError, ValueError):
    """A file does not have the layout its reader expects.

    Parameters
    ----------
    path
        The offending file.
    message
        What was expected and what was found.
    where
        Optional position: ``"line 12"``, ``"block R=(0, 0, 1)"``, ...
    """

    def __init__(self, path: str | os.PathLike, message: str, where: str | None = None):
        self.path = os.fspath(path)
        self.where = where
        self.message = message
        loc = f"{self.path}:{where}" if where else self.path
        super().__init__(f"{loc}: {message}")


class TruncatedFileError(FileFormatError):
    """A file ends before the data its header announces."""


class UnsupportedVersionError(FileFormatError):
    """A recognised file of a version or variant that no reader here handles."""


class MissingInputError(SlemDFTError):
    """A run directory lacks a file the requested data needs (structure, basis, matrix)."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {message}")


class AmbiguousInputError(MissingInputError):
    """Several files could provide the same data and nothing says which one to use."""


class ConventionError(SlemDFTError):
    """An orbital, spin or unit convention that slem-dft does not know."""


class ConfigError(SlemDFTError, ValueError):
    """A bad option or configuration value."""


class CheckFailedError(SlemDFTError):
    """A physics check of parsed data failed (see :mod:`slem_dft.checks`)."""


class StoreError(SlemDFTError):
    """An HDF5 store that is not a slem-dft store, or of an unknown schema version."""


class SlemDFTWarning(UserWarning):
    """Something worth knowing that does not stop the work."""
