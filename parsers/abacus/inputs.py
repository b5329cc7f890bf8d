"""ABACUS input and log files: STRU, INPUT, KPT, ``.orb`` headers and ``running_*.log``.

Formats: formats-abacus.md sections 6-8 and ABACUS ``docs/advanced/input_files/stru.md``.
Lengths come out in Angstrom, energies in eV.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from slem_dft.compression import open_text
from slem_dft.errors import FileFormatError
from slem_dft.units import BOHR_TO_ANG_ABACUS

__all__ = [
    "Stru",
    "read_stru",
    "read_input",
    "read_kpt",
    "LogInfo",
    "read_log",
    "lattice_from_latname",
]

_STRU_KEYS = {
    "ATOMIC_SPECIES",
    "NUMERICAL_ORBITAL",
    "LATTICE_CONSTANT",
    "LATTICE_VECTORS",
    "LATTICE_PARAMETERS",
    "ATOMIC_POSITIONS",
    "NUMERICAL_DESCRIPTOR",
    "PAW_FILES",
    "ABFS_ORBITAL",
}
_CENTER_REFERENCE = {"xy": (0.5, 0.5, 0.0), "xz": (0.5, 0.0, 0.5), "yz": (0.0, 0.5, 0.5), "xyz": (0.5, 0.5, 0.5)}


def _strip_comment(line: str) -> str:
    return re.split(r"//|#", line, maxsplit=1)[0].strip()


@dataclass(frozen=True)
class Stru:
    """A parsed STRU file.

    Attributes
    ----------
    species_order : tuple of str, ATOMIC_SPECIES labels (this order defines the orbital order)
    orbital_files : tuple of str, NUMERICAL_ORBITAL entries, one per species (may be empty)
    cell : (3, 3) float64, Angstrom, rows are lattice vectors
    species : tuple of str, label of each atom, atoms grouped in ``species_order``
    fractional : (n_atoms, 3) float64, as given (not wrapped)
    """

    species_order: tuple[str, ...]
    orbital_files: tuple[str, ...]
    cell: np.ndarray
    species: tuple[str, ...]
    fractional: np.ndarray


def lattice_from_latname(latname: str, params: list[float], path: str) -> np.ndarray:
    """Lattice vectors (rows, units of LATTICE_CONSTANT) for an ABACUS ``latname``
    (ABACUS ``stru.md``, section LATTICE_PARAMETERS)."""
    need = {
        "sc": 0,
        "fcc": 0,
        "bcc": 0,
        "hexagonal": 1,
        "trigonal": 1,
        "st": 1,
        "bct": 1,
        "so": 2,
        "baco": 2,
        "fco": 2,
        "bco": 2,
        "sm": 3,
        "bacm": 3,
        "triclinic": 5,
    }
    if latname not in need:
        raise FileFormatError(path, f"unknown latname {latname!r}; known: {sorted(need)}")
    if len(params) < need[latname]:
        raise FileFormatError(path, f"latname {latname} needs {need[latname]} LATTICE_PARAMETERS, found {len(params)}")
    p = params + [0.0] * 5
    x, y, z = p[0], p[1], p[2]
    if latname == "sc":
        v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    elif latname == "fcc":
        v = [[-0.5, 0, 0.5], [0, 0.5, 0.5], [-0.5, 0.5, 0]]
    elif latname == "bcc":
        v = [[0.5, 0.5, 0.5], [-0.5, 0.5, 0.5], [-0.5, -0.5, 0.5]]
    elif latname == "hexagonal":
        v = [[1, 0, 0], [-0.5, math.sqrt(3) / 2, 0], [0, 0, x]]
    elif latname == "trigonal":
        tx, ty, tz = math.sqrt((1 - x) / 2), math.sqrt((1 - x) / 6), math.sqrt((1 + 2 * x) / 3)
        v = [[tx, -ty, tz], [0, 2 * ty, tz], [-tx, -ty, tz]]
    elif latname == "st":
        v = [[1, 0, 0], [0, 1, 0], [0, 0, x]]
    elif latname == "bct":
        v = [[0.5, -0.5, x], [0.5, 0.5, x], [-0.5, -0.5, x]]
    elif latname == "so":
        v = [[1, 0, 0], [0, x, 0], [0, 0, y]]
    elif latname == "baco":
        v = [[0.5, x / 2, 0], [-0.5, x / 2, 0], [0, 0, y]]
    elif latname == "fco":
        v = [[0.5, 0, y / 2], [0.5, x / 2, 0], [0, x / 2, y / 2]]
    elif latname == "bco":
        v = [[0.5, x / 2, y / 2], [-0.5, x / 2, y / 2], [-0.5, -x / 2, y / 2]]
    elif latname == "sm":
        v = [[1, 0, 0], [x * z, x * math.sqrt(1 - z * z), 0], [0, 0, y]]
    elif latname == "bacm":
        v = [[0.5, 0, -y / 2], [x * z, x * math.sqrt(1 - z * z), 0], [0.5, 0, y / 2]]
    else:  # triclinic: b/a, c/a, cos(ab), cos(ac), cos(bc)
        m, n, l = p[2], p[3], p[4]
        fac = math.sqrt(1 + 2 * m * n * l - m * m - n * n - l * l) / math.sqrt(1 - m * m)
        v = [[1, 0, 0], [x * m, x * math.sqrt(1 - m * m), 0], [y * n, y * (l - n * m / math.sqrt(1 - m * m)), y * fac]]
    return np.array(v, dtype=np.float64)


def _stru_blocks(path: str) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    current = None
    with open_text(path) as fh:
        for raw in fh:
            line = _strip_comment(raw)
            if not line:
                continue
            if line.split()[0] in _STRU_KEYS and len(line.split()) == 1:
                current = line.split()[0]
                blocks[current] = []
            elif current is not None:
                blocks[current].append(line)
    return blocks


def read_stru(path: str | os.PathLike, latname: str = "none") -> Stru:
    """Read an ABACUS STRU file; ``latname`` comes from INPUT (default ``none``)."""
    path = os.fspath(path)
    blocks = _stru_blocks(path)
    for key in ("ATOMIC_SPECIES", "LATTICE_CONSTANT", "ATOMIC_POSITIONS"):
        if not blocks.get(key):
            raise FileFormatError(path, f"STRU has no {key} block")
    try:
        species_order = tuple(line.split()[0] for line in blocks["ATOMIC_SPECIES"])
        orbital_files = tuple(line.split()[0] for line in blocks.get("NUMERICAL_ORBITAL", []))
        lat0 = float(blocks["LATTICE_CONSTANT"][0].split()[0])  # Bohr
        if latname and latname != "none":
            params = [float(x) for x in " ".join(blocks.get("LATTICE_PARAMETERS", [])).split()]
            vectors = lattice_from_latname(latname, params, path)
        else:
            rows = blocks.get("LATTICE_VECTORS", [])
            if len(rows) < 3:
                raise FileFormatError(path, "STRU has no LATTICE_VECTORS and INPUT sets no latname")
            vectors = np.array([r.split()[:3] for r in rows[:3]], dtype=np.float64)
        cell = lat0 * vectors * BOHR_TO_ANG_ABACUS
        species, positions, coord_type = _read_positions(blocks["ATOMIC_POSITIONS"], path)
    except (ValueError, IndexError) as exc:
        raise FileFormatError(path, f"cannot read STRU ({exc})") from None
    unknown = set(species) - set(species_order)
    if unknown:
        raise FileFormatError(path, f"ATOMIC_POSITIONS lists species {sorted(unknown)} missing from ATOMIC_SPECIES")
    frac = _to_fractional(positions, coord_type, lat0, cell, path)
    # ABACUS numbers atoms by species in ATOMIC_SPECIES order, then in ATOMIC_POSITIONS order.
    order = sorted(range(len(species)), key=lambda a: species_order.index(species[a]))
    return Stru(species_order, orbital_files, cell, tuple(species[a] for a in order), frac[order])


def _read_positions(lines: list[str], path: str) -> tuple[list[str], np.ndarray, str]:
    coord_type = lines[0].split()[0]
    species, positions, i = [], [], 1
    while i < len(lines):
        label, count = lines[i].split()[0], int(lines[i + 2].split()[0])
        for line in lines[i + 3 : i + 3 + count]:
            positions.append([float(x) for x in line.split()[:3]])
            species.append(label)
        if len(lines) < i + 3 + count:
            raise FileFormatError(path, f"ATOMIC_POSITIONS: species {label} announces {count} atoms but fewer follow")
        i += 3 + count
    return species, np.array(positions, dtype=np.float64).reshape(-1, 3), coord_type


def _to_fractional(pos: np.ndarray, coord_type: str, lat0_bohr: float, cell: np.ndarray, path: str) -> np.ndarray:
    kind = coord_type.lower()
    if kind == "direct":
        return pos
    if kind == "cartesian":
        cart = pos * lat0_bohr * BOHR_TO_ANG_ABACUS
    elif kind == "cartesian_au":
        cart = pos * BOHR_TO_ANG_ABACUS
    elif kind == "cartesian_angstrom":
        cart = pos
    elif kind.startswith("cartesian_angstrom_center_") and kind.rsplit("_", 1)[1] in _CENTER_REFERENCE:
        cart = pos + np.array(_CENTER_REFERENCE[kind.rsplit("_", 1)[1]]) @ cell
    else:
        raise FileFormatError(path, f"unknown ATOMIC_POSITIONS coordinate type {coord_type!r}")
    return np.linalg.solve(cell.T, cart.T).T


def read_input(path: str | os.PathLike) -> dict[str, str]:
    """INPUT key/value pairs (keys lower-case, values the rest of the line)."""
    path = os.fspath(path)
    out: dict[str, str] = {}
    with open_text(path) as fh:
        for raw in fh:
            line = raw.split("#")[0].split("//")[0].strip()
            if not line or line.upper() == "INPUT_PARAMETERS":
                continue
            key, _, value = line.partition(" ")
            out[key.strip().lower()] = " ".join(value.split())
    return out


def read_kpt(path: str | os.PathLike) -> np.ndarray | None:
    """k-points (reduced, (nk, 3)) of a KPT file in ABACUS order, or None for a kind this
    reader does not expand (Monkhorst-Pack with shifts or even grids, line mode)."""
    path = os.fspath(path)
    with open_text(path) as fh:
        lines = [ln for ln in (_strip_comment(raw) for raw in fh) if ln]
    try:
        n_listed, kind = int(lines[1].split()[0]), lines[2].split()[0].lower()
        if n_listed == 0 and kind == "gamma":
            grid = [int(x) for x in lines[3].split()[:3]]
            shift = [float(x) for x in lines[3].split()[3:6]]
            if any(shift):
                return None
            # Gamma-centred grid; the first reciprocal direction runs fastest (formats-abacus.md 1).
            kz, ky, kx = np.meshgrid(*(np.arange(n) / n for n in grid[::-1]), indexing="ij")
            return np.column_stack([kx.ravel(), ky.ravel(), kz.ravel()])
        if n_listed > 0 and kind == "direct":
            return np.array([ln.split()[:3] for ln in lines[3 : 3 + n_listed]], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise FileFormatError(path, f"cannot read KPT ({exc})") from None
    return None


@dataclass
class LogInfo:
    """What slem-dft takes from ``running_*.log``.

    Attributes
    ----------
    version : str ("v3.11.0-beta.1") or "unknown"
    commit : str or ""
    zetas : dict label -> zetas per l, from the "READING ATOM TYPE" blocks
    n_electrons : float or None
    fermi_energy : float or None, eV (last EFERMI line)
    kpoints : (nk, 3) reduced, the last "KPOINTS DIRECT_X" table, or None
    nspin : int or None
    """

    version: str = "unknown"
    commit: str = ""
    zetas: dict[str, list[int]] = field(default_factory=dict)
    n_electrons: float | None = None
    fermi_energy: float | None = None
    kpoints: np.ndarray | None = None
    nspin: int | None = None


_VERSION = re.compile(r"^\s*ABACUS\s+(v\S+)")
_COMMIT = re.compile(r"^\s*Commit:\s*(.*\S)")
_LABEL = re.compile(r"atom label\s*=\s*(\S+)", re.IGNORECASE)
_ZETA = re.compile(r"L=(\d+), number of zeta\s*=\s*(\d+)")
_NELEC = re.compile(r"autoset\s+(?:the\s+)?number of electrons\s*:?\s*=\s*([-+0-9.eE]+)", re.IGNORECASE)
_EFERMI = re.compile(r"^\s*E_?FERMI\s*=\s*([-+0-9.eE]+)\s*eV", re.IGNORECASE)
_NSPIN = re.compile(r"^\s*nspin\s*=\s*(\d+)")


def read_log(path: str | os.PathLike) -> LogInfo:
    """Version, basis, electron count, Fermi level and k-points from an ABACUS log."""
    path = os.fspath(path)
    info = LogInfo()
    label = None
    tables: list[list[list[float]]] = []
    table: list[list[float]] | None = None
    with open_text(path) as fh:
        for line in fh:
            if table is not None:
                parts = line.split()
                if len(parts) >= 4 and parts[0].isdigit():
                    table.append([float(x) for x in parts[1:4]])
                    continue
                tables.append(table)
                table = None
            if line.split()[:2] == ["KPOINTS", "DIRECT_X"]:
                table = []
            elif (m := _VERSION.match(line)) and info.version == "unknown":
                info.version = m.group(1)
            elif (m := _COMMIT.match(line)) and not info.commit:
                info.commit = m.group(1)
            elif m := _LABEL.search(line):
                label = m.group(1)
                info.zetas[label] = []
            elif (m := _ZETA.search(line)) and label is not None:
                l, n = int(m.group(1)), int(m.group(2))
                info.zetas[label] += [0] * (l + 1 - len(info.zetas[label]))
                info.zetas[label][l] = n
            elif m := _NELEC.search(line):
                info.n_electrons = float(m.group(1))
            elif m := _EFERMI.match(line):
                info.fermi_energy = float(m.group(1))
            elif (m := _NSPIN.match(line)) and info.nspin is None:
                info.nspin = int(m.group(1))
    if table:
        tables.append(table)
    if tables:
        info.kpoints = np.array(tables[-1], dtype=np.float64).reshape(-1, 3)
    return info
