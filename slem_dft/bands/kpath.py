"""k-paths for band structures: seekpath's standard path, a user's path, and the path through
a reference's own k-points. k in reduced coordinates of the record's cell, path distances in
1/Angstrom (2 pi included)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..data import Record
from ..errors import ConfigError

__all__ = ["KPath", "SYMPREC", "high_symmetry_points", "parse_kpath", "reference_kpath", "seekpath_kpath"]

#: Symmetry tolerance (Angstrom) for finding the standard path: DFT geometries carry noise.
SYMPREC = 1e-3


@dataclass(frozen=True, eq=False)
class KPath:
    """k-points to compute bands at.

    Attributes
    ----------
    kpoints : (n_k, 3) float64, reduced coordinates of the record's cell
    distance : (n_k,) float64, 1/Angstrom: cumulative length along the path (no length is
        added across a break)
    labels : list of (index, label): high-symmetry points on the path
    breaks : (n_breaks,) int: indices where a new, disconnected segment starts
    """

    kpoints: np.ndarray
    distance: np.ndarray
    labels: list[tuple[int, str]] = field(default_factory=list)
    breaks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _reciprocal(cell: np.ndarray) -> np.ndarray:
    """(3, 3) reciprocal vectors as rows, 1/Angstrom with 2 pi."""
    return 2 * np.pi * np.linalg.inv(np.asarray(cell, dtype=np.float64)).T


def _seekpath(record: Record, symprec: float = SYMPREC) -> tuple[dict, np.ndarray]:
    """seekpath's path of the structure and the integer matrix X that takes its reduced
    k-points to the record's cell (k_record = k_seekpath X^T).

    seekpath standardises the cell: its primitive lattice L (rows) relates to the original frame
    by the rotation R as L_orig = L R, and the record's cell A = X L_orig with X integer (A is
    the primitive cell or a supercell of it), so k . a_i is preserved by k_record = k X^T.
    """
    import seekpath

    atoms = record.atoms
    if not atoms.pbc.all():
        raise ConfigError("a standard k-path needs a structure periodic in 3 dimensions; give --kpath")
    cell = atoms.cell.array
    result = seekpath.get_path((cell, atoms.get_scaled_positions(wrap=True), atoms.numbers), symprec=symprec)
    lattice = np.asarray(result["primitive_lattice"]) @ np.asarray(result["rotation_matrix"])
    x = cell @ np.linalg.inv(lattice)
    if not np.allclose(x, np.round(x), atol=1e-4):
        raise ConfigError(f"seekpath's primitive cell is not a sublattice of the structure's cell (X = {x.round(4)})")
    return result, np.round(x)


def _label(name: str) -> str:
    return "Γ" if name.upper() in ("GAMMA", "G") else name


def high_symmetry_points(record: Record, symprec: float = SYMPREC) -> dict[str, np.ndarray]:
    """seekpath's high-symmetry points in reduced coordinates of the record's cell; "G" and
    "GAMMA" both name Gamma."""
    result, x = _seekpath(record, symprec)
    points = {name: np.asarray(k) @ x.T for name, k in result["point_coords"].items()}
    points["G"] = points["GAMMA"]
    return points


def _path_from_segments(segments: Sequence[Sequence[tuple[str, np.ndarray]]], cell: np.ndarray, npoints: int) -> KPath:
    """Straight lines between consecutive points of each segment, ``npoints`` in all spread by
    length (each line gets at least 2 points, both ends included)."""
    b = _reciprocal(cell)
    lines = [(s[n], s[n + 1]) for s in segments for n in range(len(s) - 1)]
    if not lines:
        raise ConfigError("a k-path needs at least two points")
    lengths = np.array([np.linalg.norm((k1 - k0) @ b) for (_, k0), (_, k1) in lines])
    total = lengths.sum() or 1.0
    kpoints, distance, labels, breaks, start = [], [], [], [], 0.0
    for (name0, k0), (name1, k1) in lines:
        joined = bool(kpoints) and np.allclose(kpoints[-1], k0) and labels[-1][1] == _label(name0)
        n = max(2, round(npoints * np.linalg.norm((k1 - k0) @ b) / total))
        t = np.linspace(0.0, 1.0, n)[1 if joined else 0 :]
        if kpoints and not joined:
            breaks.append(len(kpoints))
        if not joined:
            labels.append((len(kpoints), _label(name0)))
        kpoints.extend(k0 + np.outer(t, k1 - k0))
        distance.extend(start + t * np.linalg.norm((k1 - k0) @ b))
        start = distance[-1]
        labels.append((len(kpoints) - 1, _label(name1)))
    return KPath(np.array(kpoints), np.array(distance), labels, np.array(breaks, dtype=np.int64))


def seekpath_kpath(record: Record, npoints: int = 300, symprec: float = SYMPREC) -> KPath:
    """The standard path of Hinuma et al. (seekpath) for the record's structure, in reduced
    coordinates of its own cell (a supercell folds the primitive bands onto it)."""
    result, _ = _seekpath(record, symprec)
    points = high_symmetry_points(record, symprec)
    segments: list[list[tuple[str, np.ndarray]]] = []
    for a, b in result["path"]:
        if segments and segments[-1][-1][0] == a:
            segments[-1].append((b, points[b]))
        else:
            segments.append([(a, points[a]), (b, points[b])])
    return _path_from_segments(segments, record.atoms.cell.array, npoints)


_POINT = re.compile(r"^\s*(\S+)((?:\s+[-+.\deE/]+){3})?\s*$")


def _coordinate(token: str) -> float:
    num, _, den = token.partition("/")
    return float(num) / float(den) if den else float(num)


def parse_kpath(text: str, record: Record, npoints: int = 300) -> KPath:
    """A user's path: points ``LABEL [k1 k2 k3]`` separated by commas or new lines, ``|`` to
    break the path. k is reduced in the record's cell (fractions like ``1/3`` allowed); a
    point without coordinates is looked up among seekpath's high-symmetry points."""
    known: dict[str, np.ndarray] | None = None
    segments: list[list[tuple[str, np.ndarray]]] = [[]]
    for chunk in re.split(r"([,\n|])", text):
        if chunk == "|":
            segments.append([])
            continue
        if not chunk.strip() or chunk in ",\n" or chunk.strip().startswith("#"):
            continue
        match = _POINT.match(chunk)
        if match is None:
            raise ConfigError(f"bad k-path point {chunk.strip()!r}: expected 'LABEL k1 k2 k3' or 'LABEL'")
        name, coords = match.group(1), match.group(2)
        if coords:
            k = np.array([_coordinate(t) for t in coords.split()])
        else:
            known = high_symmetry_points(record) if known is None else known
            if name not in known:
                raise ConfigError(
                    f"unknown k-label {name!r}; known for this structure: "
                    f"{', '.join(sorted(known))} (or give coordinates: '{name} k1 k2 k3')"
                )
            k = known[name]
        segments[-1].append((name, k))
    return _path_from_segments([s for s in segments if s], record.atoms.cell.array, npoints)


def _coordinate_label(k: np.ndarray) -> str:
    """'(1/2,0,-1/3)': a reduced k-point as short fractions."""
    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(24)) for x in k) + ")"


def reference_kpath(kpoints: np.ndarray, record: Record) -> KPath:
    """The path through a reference's own k-points, in order: a jump of more than 4 times the
    median step starts a new segment (a mesh list has many). Labels: seekpath's high-symmetry
    points where a k-point is one of them; on a single unbroken path (a band file's path) also
    every corner, by its reduced coordinates."""
    kpoints = np.asarray(kpoints, dtype=np.float64)
    b = _reciprocal(record.atoms.cell.array)
    steps = np.diff(kpoints, axis=0) @ b
    lengths = np.linalg.norm(steps, axis=1)
    jump = lengths > 4 * np.median(lengths) if lengths.size else np.zeros(0, bool)
    distance = np.concatenate([[0.0], np.cumsum(np.where(jump, 0.0, lengths))])
    try:
        points = {name: p for name, p in high_symmetry_points(record).items() if name != "G"}
    except ConfigError:
        points = {}
    corners = set()
    if lengths.size > 1 and not jump.any():
        unit = steps / np.maximum(lengths, 1e-300)[:, None]
        corners = set(np.flatnonzero(np.einsum("ij,ij->i", unit[:-1], unit[1:]) < 1 - 1e-6) + 1)
        corners |= {0, len(kpoints) - 1}
    labels = []
    for n, k in enumerate(kpoints):
        names = [_label(name) for name, p in points.items() if np.allclose(k, p, atol=1e-5)]
        if names or n in corners:
            labels.append((n, names[0] if names else _coordinate_label(k)))
    return KPath(kpoints, distance, labels, np.flatnonzero(jump) + 1)
