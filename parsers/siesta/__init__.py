"""SIESTA reader: HSX (v0, v1, v2), TSHS, DM and the text companions (EIG, KP, ORB_INDX,
STRUCT_OUT, XV, RUN.out, fdf); radial functions from the ``.ion.xml`` basis files
(:mod:`slem_dft.basisfiles.ion`). See formats-siesta.md and docs/siesta.md."""

from slem_dft.basisfiles.ion import read_radial_basis

from .dm import DMFile, read_dm
from .hsx import read_hsx
from .references import eig_reference
from .run import detect, find_files, read_run, read_run_references
from .sparse import SparseMatrices
from .tshs import read_tshs

__all__ = [
    "DMFile",
    "SparseMatrices",
    "detect",
    "eig_reference",
    "find_files",
    "read_dm",
    "read_hsx",
    "read_radial_basis",
    "read_run",
    "read_run_references",
    "read_tshs",
]
