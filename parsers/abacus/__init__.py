"""ABACUS (LCAO) reader: CSR operator files, STRU/INPUT/KPT, logs and eigenvalue references
(``.orb`` basis files: :mod:`slem_dft.basisfiles.orb`). See formats-abacus.md and docs/abacus.md."""

from .csr import CsrFile, read_csr
from .inputs import read_input, read_kpt, read_log, read_stru
from .run import (
    detect,
    find_operator_files,
    read_radial_basis,
    read_run,
    read_run_references,
    read_structure,
)

__all__ = [
    "CsrFile",
    "read_csr",
    "read_input",
    "read_kpt",
    "read_log",
    "read_stru",
    "detect",
    "find_operator_files",
    "read_run",
    "read_run_references",
    "read_radial_basis",
    "read_structure",
]
