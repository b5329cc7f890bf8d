"""Band structures of H(k), S(k), one module per job: :mod:`.kpath` (k-paths), :mod:`.solver`
(the eigensolver), :mod:`.fermi` (the Fermi level), :mod:`.compare` (against a DFT code's own
band energies), :mod:`.files` (``.dat`` and plot) and :mod:`.command` (``slem-dft bands``).

Energies are in eV, k-points in reduced coordinates of the record's own cell (k_cart = k B
with B = 2 pi A^-T, A the cell rows in Angstrom), path distances in 1/Angstrom (2 pi included).

Band indices are absolute (0 = lowest band) everywhere: the dense solver returns every band,
and the sparse shift-invert solver finds the index of its lowest band from the inertia of
H(k) - sigma S(k) (Sylvester's law: the number of negative pivots of its LDL^H factorisation is
the number of eigenvalues below sigma). Every DFT band file read here lists its bands from the
lowest, so reference band n is compared with computed band n (see :func:`compare_bands`).
"""

from .command import BandsReport, load_structure, run_bands
from .compare import BandComparison, compare_bands
from .fermi import KSPACING, default_kmesh, fermi_level_from_mesh, kmesh
from .files import plot_bands, read_dat, write_dat
from .kpath import SYMPREC, KPath, high_symmetry_points, parse_kpath, reference_kpath, seekpath_kpath
from .solver import Bands, BandSolver, compute_bands

__all__ = [
    "BandComparison",
    "BandSolver",
    "Bands",
    "BandsReport",
    "KPath",
    "KSPACING",
    "SYMPREC",
    "compare_bands",
    "compute_bands",
    "default_kmesh",
    "fermi_level_from_mesh",
    "high_symmetry_points",
    "kmesh",
    "load_structure",
    "parse_kpath",
    "plot_bands",
    "read_dat",
    "reference_kpath",
    "run_bands",
    "seekpath_kpath",
    "write_dat",
]
