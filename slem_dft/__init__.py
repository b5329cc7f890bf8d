"""slem-dft: learn the quantum operators of LCAO DFT runs with SLEM and hand them back.

The core data model lives in :mod:`slem_dft.data`; readers in :mod:`slem_dft.parsers`,
the HDF5 training store in :mod:`slem_dft.store`, physics checks in :mod:`slem_dft.checks`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slem-dft")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
