"""Unit constants, named per DFT code and version.

Internally slem-dft uses eV and Angstrom. Each reader converts once, at the file boundary,
with the constant the *writing* code used, so that a writer can convert back exactly.
"""

from __future__ import annotations

import re

__all__ = [
    "RY_TO_EV_ABACUS",
    "BOHR_TO_ANG_CODATA2018",
    "BOHR_TO_ANG_ABACUS",
    "RY_TO_EV_SIESTA41",
    "BOHR_TO_ANG_SIESTA41",
    "RY_TO_EV_CODATA2018",
    "BOHR_TO_ANG_SIESTA5",
    "HARTREE_TO_EV_OPENMX",
    "BOHR_TO_ANG_OPENMX",
    "SIESTA_LEGACY_VERSION",
    "siesta_units",
]

#: eV per Rydberg as ABACUS uses it (``source_base/constants.h``: ``Ry_to_eV = 13.605698``).
RY_TO_EV_ABACUS = 13.605698

#: Angstrom per Bohr, CODATA 2018.
BOHR_TO_ANG_CODATA2018 = 0.529177210903

#: Angstrom per Bohr for ABACUS structure files. ABACUS documents ``Cartesian_angstrom`` as
#: ``LATTICE_CONSTANT = 1.889726125457828`` Bohr per Angstrom, i.e. the CODATA 2018 value.
BOHR_TO_ANG_ABACUS = 1.0 / 1.889726125457828

#: SIESTA <= 4.1 (``Src/units.f90``): 1 Ry = 13.60580 eV, 1 Bohr = 0.529177 Angstrom.
RY_TO_EV_SIESTA41 = 13.60580
BOHR_TO_ANG_SIESTA41 = 0.529177

#: SIESTA 5 default (``units_codata2018.f90``): 1 Ry = 13.605693122994 eV; lengths with
#: 1 Angstrom = 1.88972612462577 Bohr (use ``1 / 1.88972612462577``).
RY_TO_EV_CODATA2018 = 13.605693122994
BOHR_TO_ANG_SIESTA5 = 1.0 / 1.88972612462577

#: OpenMX (formats-openmx.md section 7): 1 Hartree = 27.2113845 eV, BohrR = 0.529177249 Angstrom.
HARTREE_TO_EV_OPENMX = 27.2113845
BOHR_TO_ANG_OPENMX = 0.529177249

#: The version slem-dft records for files that only SIESTA <= 4.1 writes (HSX version 0).
SIESTA_LEGACY_VERSION = "<=4.1"


def siesta_units(version: str) -> tuple[float, float]:
    """(eV per Ry, Angstrom per Bohr) of the SIESTA version that wrote a file: legacy
    (13.60580, 0.529177) up to 4.1, CODATA 2018 from 5.0 on (and for an unknown version).
    Readers convert with it, and writers of a file read from such a run reuse it."""
    m = re.match(r"\D*(\d+)", version)
    if version == SIESTA_LEGACY_VERSION or (m and int(m.group(1)) < 5):
        return RY_TO_EV_SIESTA41, BOHR_TO_ANG_SIESTA41
    return RY_TO_EV_CODATA2018, BOHR_TO_ANG_SIESTA5
