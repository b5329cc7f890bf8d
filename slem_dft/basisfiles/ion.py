"""SIESTA ``<Label>.ion.xml`` basis files: the radial functions of the PAO orbitals and the
cutoff radii of the orbitals and Kleinman-Bylander projectors.

Each ``<radfunc>`` is tabulated on a uniform grid r = 0, delta, ..., (npts - 1) delta (Bohr),
as pairs "r value". The value stored for an orbital of angular momentum l is phi(r) / r^l
(SIESTA's radial tables divide out r^l): with phi(r) = value * r^l, the overlaps computed by
:mod:`slem_dft.overlap` reproduce the S of every SIESTA run here (docs/siesta.md), and the
functions are normalised, int phi^2 r^2 dr = 1.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import ase.data
import numpy as np
from scipy.interpolate import CubicSpline

from ..compression import open_text
from ..data import Record, Shell, SpeciesBasis
from ..errors import ConventionError, FileFormatError, MissingInputError
from ..overlap import RadialFunction
from ..units import BOHR_TO_ANG_SIESTA5, siesta_units

__all__ = [
    "IonFile",
    "IonOrbital",
    "check_basis",
    "find_ion_files",
    "radial_function",
    "radial_functions",
    "read_ion",
    "read_radial_basis",
]

#: Largest relative spread of the grid steps that still counts as a uniform grid.
_UNIFORM_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class IonOrbital:
    """One PAO radial function of a species.

    Attributes
    ----------
    l, n, zeta : int
        Angular momentum, principal quantum number, 1-based zeta index (as the file gives them).
    polarization : bool
        The file's ``ispol`` flag.
    r : (npts,) float64, Bohr; values : (npts,) float64, phi(r) / r^l in Bohr^(-3/2 - l)
    cutoff : float, Bohr
    """

    l: int
    n: int
    zeta: int
    polarization: bool
    r: np.ndarray
    values: np.ndarray
    cutoff: float


@dataclass(frozen=True, eq=False)
class IonFile:
    """What slem-dft uses of an ``.ion.xml``.

    Attributes
    ----------
    path, label, element : str
    valence : float, valence charge of the pseudo-atom (electrons)
    orbitals : tuple of IonOrbital, in the file's (SIESTA's) order
    kb_cutoffs : (n_kb,) float64, Bohr, the cutoff of every KB projector function (2l+1 per
        projector), file order
    """

    path: str
    label: str
    element: str
    valence: float
    orbitals: tuple[IonOrbital, ...]
    kb_cutoffs: np.ndarray

    @property
    def shells(self) -> tuple[Shell, ...]:
        """The orbitals as shells, zeta counted per l in file order (as the readers number them)."""
        seen: dict[int, int] = {}
        out = []
        for orb in self.orbitals:
            out.append(Shell(orb.l, seen.get(orb.l, 0)))
            seen[orb.l] = seen.get(orb.l, 0) + 1
        return tuple(out)

    @property
    def orbital_cutoffs(self) -> np.ndarray:
        """(n_orb,) float64, Bohr: the cutoff of every orbital (2l+1 per shell), SIESTA order."""
        return np.repeat([o.cutoff for o in self.orbitals], [2 * o.l + 1 for o in self.orbitals])


def _text(node: ET.Element, tag: str, path: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        raise FileFormatError(path, f"<{node.tag}> has no <{tag}>")
    return child.text.strip()


def _int_attr(node: ET.Element, name: str, path: str) -> int:
    try:
        return int(node.attrib[name].strip())
    except (KeyError, ValueError):
        raise FileFormatError(path, f"<{node.tag}> lacks an integer attribute {name!r}") from None


def _radfunc(node: ET.Element, path: str, what: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(r, values, cutoff) of a ``<radfunc>``, Bohr; checks the point count and the grid."""
    rad = node.find("radfunc")
    if rad is None:
        raise FileFormatError(path, f"{what} has no <radfunc>")
    try:
        npts = int(_text(rad, "npts", path))
        cutoff = float(_text(rad, "cutoff", path))
        table = np.array(_text(rad, "data", path).split(), dtype=np.float64)
    except ValueError as exc:
        raise FileFormatError(path, f"{what}: cannot read the radial table ({exc})") from None
    if table.size != 2 * npts:
        raise FileFormatError(path, f"{what}: {table.size // 2} points, <npts> says {npts}")
    r, values = table[0::2], table[1::2]
    if npts < 4 or np.any(np.diff(r) <= 0) or r[0] < 0:
        raise FileFormatError(path, f"{what}: radii are not increasing from r >= 0")
    return r, values, cutoff


def read_ion(path: str | os.PathLike) -> IonFile:
    """Read the orbitals and KB projector cutoffs of a SIESTA ``.ion.xml`` file."""
    path = os.fspath(path)
    try:
        with open_text(path) as fh:
            root = ET.fromstring(fh.read())
    except ET.ParseError as exc:
        raise FileFormatError(path, f"not well-formed XML ({exc})") from None
    if root.tag != "ion":
        raise FileFormatError(path, f"root element <{root.tag}>, expected <ion>")
    label, symbol = _text(root, "label", path), _text(root, "symbol", path)
    element = symbol if symbol in ase.data.atomic_numbers else ase.data.chemical_symbols[int(_text(root, "z", path))]
    paos, kbs = root.find("paos"), root.find("kbs")
    if paos is None or not paos.findall("orbital"):
        raise FileFormatError(path, "no <paos> orbitals")
    orbitals = []
    for k, node in enumerate(paos.findall("orbital")):
        r, values, cutoff = _radfunc(node, path, f"orbital {k + 1}")
        orbitals.append(
            IonOrbital(
                _int_attr(node, "l", path),
                _int_attr(node, "n", path),
                _int_attr(node, "z", path),
                bool(_int_attr(node, "ispol", path)),
                r,
                values,
                cutoff,
            )
        )
    kb = []
    for k, node in enumerate([] if kbs is None else kbs.findall("projector")):
        l = _int_attr(node, "l", path)
        kb += [_radfunc(node, path, f"KB projector {k + 1}")[2]] * (2 * l + 1)
    try:
        valence = float(_text(root, "valence", path))
    except ValueError:
        raise FileFormatError(path, "<valence> is not a number") from None
    return IonFile(path, label, element, valence, tuple(orbitals), np.array(kb, dtype=np.float64))


def _uniform(r: np.ndarray, values: np.ndarray) -> tuple[float, np.ndarray]:
    """(dr, values on r = 0, dr, ...): the table itself when it already is such a grid, else a
    cubic-spline resampling with the table's smallest step up to its last radius."""
    steps = np.diff(r)
    if r[0] == 0.0 and np.ptp(steps) <= _UNIFORM_TOL * steps.mean():
        return float(r[-1] / (r.size - 1)), values
    dr = float(steps.min())
    grid = np.arange(int(np.floor(r[-1] / dr)) + 1) * dr
    return dr, CubicSpline(r, values)(grid)


def radial_function(orbital: IonOrbital, bohr_to_ang: float) -> RadialFunction:
    """An ion orbital as a :class:`RadialFunction` in Angstrom: f(r) = value * r^l, and
    Bohr -> Angstrom scales r by a and f by a^(-3/2) (keeps int f^2 r^2 dr = 1)."""
    dr, values = _uniform(orbital.r, orbital.values)
    r = np.arange(values.size) * dr
    f = values * r**orbital.l
    return RadialFunction(orbital.l, dr * bohr_to_ang, f * bohr_to_ang**-1.5)


def radial_functions(path: str | os.PathLike, species: SpeciesBasis) -> list[RadialFunction]:
    """The radial functions (Angstrom, SIESTA 5's Bohr) of one ``.ion.xml`` file, checked
    against the shells of ``species``."""
    ion = read_ion(path)
    if ion.element != species.element or ion.shells != species.shells:
        raise ConventionError(
            f"{path}: {ion.element} shells l={[s.l for s in ion.shells]} do not match "
            f"{species.label}'s {species.element} shells l={list(species.ls)}"
        )
    return [radial_function(o, BOHR_TO_ANG_SIESTA5) for o in ion.orbitals]


def check_basis(record: Record, ions: Mapping[str, IonFile]) -> None:
    """Refuse ion files that do not describe the record's basis (element and shells, in order)."""
    for sb in record.basis.species:
        ion = ions.get(sb.label)
        if ion is None:
            raise MissingInputError(record.source.path, f"no .ion.xml for species {sb.label}")
        if ion.element != sb.element or ion.shells != sb.shells:
            raise ConventionError(
                f"{ion.path}: {ion.element} shells l={[s.l for s in ion.shells]} do not match the "
                f"data's {sb.element} shells l={list(sb.ls)}"
            )


def find_ion_files(
    record: Record, folder: str | os.PathLike | None = None, required: bool = True
) -> dict[str, IonFile] | None:
    """Species label -> its ``<label>.ion.xml`` in ``folder`` (default: the record's run
    directory), checked against the record's basis (:func:`check_basis`). When a file is
    missing: an error, or None if not ``required``."""
    folder = Path(folder if folder is not None else record.source.path)
    paths = {sb.label: folder / f"{sb.label}.ion.xml" for sb in record.basis.species}
    absent = [p.name for p in paths.values() if not p.is_file()]
    if absent:
        if required:
            raise MissingInputError(folder, f"no {', '.join(absent)} (the SIESTA basis files)")
        return None
    ions = {label: read_ion(p) for label, p in paths.items()}
    check_basis(record, ions)
    return ions


def read_radial_basis(record: Record) -> dict[str, list[RadialFunction]]:
    """The radial functions of every species of a SIESTA record, from the ``<label>.ion.xml``
    files in its run directory (Angstrom, the record's shell order), converted with the Bohr
    of the SIESTA version that wrote the run (as the positions were)."""
    bohr = siesta_units(record.source.code_version)[1]
    return {label: [radial_function(o, bohr) for o in ion.orbitals] for label, ion in find_ion_files(record).items()}
