"""ABACUS numerical-orbital files (``.orb``): the basis their header declares and the radial
functions they tabulate (formats-abacus.md section 2). Read by the ABACUS reader (a run's basis
and exact overlaps) and by ``slem-dft export --to abacus`` (the basis of the files to write).

R(r) is tabulated on r = 0, dr, 2 dr, ... (Bohr), normalised as int R^2 r^2 dr = 1.
"""

from __future__ import annotations

import os

import numpy as np

from ..compression import open_text
from ..data import SpeciesBasis
from ..errors import FileFormatError
from ..overlap import RadialFunction
from ..units import BOHR_TO_ANG_ABACUS

__all__ = ["radial_functions", "read_orb_header", "read_orb_radials"]

_ORB_L = {"S": 0, "P": 1, "D": 2, "F": 3, "G": 4}


def read_orb_header(path: str | os.PathLike) -> tuple[str, list[int]]:
    """Element and number of zetas per l (index = l) from an ABACUS ``.orb`` header.

    The counts come from the ``Number of Xorbital-->`` lines, not from the radial blocks the
    file holds (some files carry more blocks than they declare; formats-abacus.md 2)."""
    path = os.fspath(path)
    element, counts = None, {}
    with open_text(path) as fh:
        for raw in fh:
            line = raw.strip()
            if line.startswith("Element"):
                element = line.split()[1]
            elif line.startswith("Number of") and "orbital-->" in line:
                letter = line.split()[2][0].upper()
                if letter not in _ORB_L:
                    raise FileFormatError(path, f"unknown orbital letter in {line!r}")
                counts[_ORB_L[letter]] = int(line.split()[-1])
            elif line.startswith("SUMMARY") or line.startswith("Mesh"):
                break
    if element is None or not counts:
        raise FileFormatError(path, "not an ABACUS .orb file: no 'Element' or 'Number of ...orbital-->' header lines")
    return element, [counts.get(l, 0) for l in range(max(counts) + 1)]


def read_orb_radials(path: str | os.PathLike) -> tuple[str, list[tuple[int, np.ndarray]], float]:
    """Radial functions of an ABACUS ``.orb`` file: (element, [(l, R(r))] in shell order
    (l ascending, then zeta; only the declared zetas), mesh step dr in Bohr).

    R(r) is sampled at r = 0, dr, 2 dr, ... (Bohr) and normalised as int R^2 r^2 dr = 1.
    """
    path = os.fspath(path)
    element, zetas = read_orb_header(path)
    mesh = dr = None
    radials: dict[tuple[int, int], np.ndarray] = {}
    with open_text(path) as fh:
        lines = iter(fh)
        for line in lines:
            parts = line.split()
            if parts[:1] == ["Mesh"]:
                mesh = int(parts[1])
            elif parts[:1] == ["dr"]:
                dr = float(parts[1])
            elif parts[:3] == ["Type", "L", "N"]:
                try:
                    _, l, zeta = (int(x) for x in next(lines).split())
                    values: list[str] = []
                    while len(values) < mesh:
                        values += next(lines).split()
                except (StopIteration, ValueError, TypeError):
                    raise FileFormatError(path, "radial block is cut or malformed") from None
                radials[(l, zeta)] = np.array(values[:mesh], dtype=np.float64)
    shells = [(l, z) for l, n in enumerate(zetas) for z in range(n)]
    missing = [s for s in shells if s not in radials]
    if mesh is None or dr is None or missing:
        raise FileFormatError(path, f"no mesh/dr header or missing radial blocks (l, zeta) {missing}")
    return element, [(l, radials[(l, z)]) for l, z in shells], dr


def radial_functions(path: str | os.PathLike, species: SpeciesBasis) -> list[RadialFunction]:
    """The radial functions of a ``.orb`` file (Angstrom units), checked against the shells
    of ``species``."""
    _, shells, dr = read_orb_radials(path)
    # Bohr -> Angstrom: r scales by a, and f by a^(-3/2) to keep int f^2 r^2 dr = 1.
    a = BOHR_TO_ANG_ABACUS
    out = [RadialFunction(l, dr * a, f * a**-1.5) for l, f in shells]
    if [f.l for f in out] != list(species.ls):
        raise FileFormatError(path, f"radial shells {[f.l for f in out]} differ from the basis of {species.label}")
    return out
