"""Unit constants, named per DFT code and version.

Internally slem-dft uses eV and Angstrom. Each reader converts once, at the file boundary,
with the constant the *writing* code used, so that a writer can convert back exactly.
"""

from __future__ import annotations

__all__ = [
    "RY_TO_EV_ABACUS",
    "BOHR_TO_ANG_CODATA2018",
    "BOHR_TO_ANG_ABACUS",
]

#: eV per Rydberg as ABACUS uses it (``source_base/constants.h``: ``Ry_to_eV = 13.605698``).
RY_TO_EV_ABACUS = 13.605698

#: Angstrom per Bohr, CODATA 2018.
BOHR_TO_ANG_CODATA2018 = 0.529177210903

#: Angstrom per Bohr for ABACUS structure files. ABACUS documents ``Cartesian_angstrom`` as
#: ``LATTICE_CONSTANT = 1.889726125457828`` Bohr per Angstrom, i.e. the CODATA 2018 value.
BOHR_TO_ANG_ABACUS = 1.0 / 1.889726125457828
