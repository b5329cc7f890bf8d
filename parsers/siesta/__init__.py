"""SIESTA reader: HSX (v0, v1, v2), TSHS, DM, ``.ion.xml`` basis files, and the text companions (EIG, KP, ORB_INDX,
STRUCT_OUT, XV, RUN.out, fdf). See formats-siesta.md and docs/siesta.md."""

from .dm import DMFile, read_dm
from .hsx import read_hsx
from .ion import IonFile, find_ion_files, radial_functions, read_ion, read_radial_basis
from .references import eig_reference
from .run import detect, find_files, read_run, read_run_references, unit_constants
from .sparse import SparseMatrices
from .tshs import read_tshs

__all__ = [
    "DMFile",
    "IonFile",
    "SparseMatrices",
    "detect",
    "eig_reference",
    "find_files",
    "find_ion_files",
    "read_dm",
    "read_hsx",
    "read_ion",
    "radial_functions",
    "read_radial_basis",
    "read_run",
    "read_run_references",
    "read_tshs",
    "unit_constants",
]
