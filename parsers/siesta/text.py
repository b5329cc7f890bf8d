"""SIESTA's text companions (formats-siesta.md section 10): STRUCT_OUT, XV, ORB_INDX, EIG, KP,
RUN.out, and the few fdf entries a reader needs (SystemLabel, species, PAO.Basis)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slem_dft.compression import open_text
from slem_dft.errors import FileFormatError

from .._text import half_ulp, parse_ints, parse_numbers

__all__ = [
    "Eig",
    "Fdf",
    "Geometry",
    "RunLog",
    "read_eig",
    "read_fdf",
    "read_kp",
    "read_orb_indx",
    "read_run_out",
    "read_struct_out",
    "read_xv",
]


@dataclass(frozen=True, eq=False)
class Geometry:
    """A structure file's content: cell (3, 3) rows = lattice vectors and positions (na, 3)
    Cartesian, both in ``unit`` ("Ang" or "Bohr"); species (na,) 1-based index; Z (na,)."""

    path: str
    unit: str
    cell: np.ndarray
    positions: np.ndarray
    species: np.ndarray
    Z: np.ndarray


def _read_geometry(path: str | os.PathLike, per_atom: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell rows (first three columns of three lines; XV adds velocities) and atom rows."""
    path = os.fspath(path)
    with open_text(path) as fh:
        lines = [ln.split() for ln in fh if ln.strip()]
    try:
        cell = np.array([[float(x) for x in ln[:3]] for ln in lines[:3]])
        na = int(lines[3][0])
        atoms = np.array([[float(x) for x in ln[:per_atom]] for ln in lines[4 : 4 + na]])
    except (IndexError, ValueError) as exc:
        raise FileFormatError(path, f"not a SIESTA structure file ({exc})") from None
    if cell.shape != (3, 3) or atoms.shape != (na, per_atom):
        raise FileFormatError(path, f"expected a 3x3 cell and {na} atom lines of {per_atom} numbers")
    return cell, atoms


def read_struct_out(path: str | os.PathLike) -> Geometry:
    """STRUCT_OUT: cell in Angstrom, per atom species, Z and *fractional* coordinates."""
    cell, atoms = _read_geometry(path, 5)
    return Geometry(
        os.fspath(path), "Ang", cell, atoms[:, 2:5] @ cell, atoms[:, 0].astype(np.int64), atoms[:, 1].astype(np.int64)
    )


def read_xv(path: str | os.PathLike) -> Geometry:
    """XV: cell and Cartesian positions in Bohr (velocities ignored)."""
    cell, atoms = _read_geometry(path, 5)
    return Geometry(
        os.fspath(path), "Bohr", cell, atoms[:, 2:5], atoms[:, 0].astype(np.int64), atoms[:, 1].astype(np.int64)
    )


def read_orb_indx(path: str | os.PathLike) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Unit-cell orbitals of an ORB_INDX: (atom (no_u,) 0-based, species label of each orbital,
    (no_u, 4) int64 columns n, l, m, zeta). Line 1 is 'no_u no_s ...', then one line per orbital
    'io ia is spec iao n l m z p sym rc isc(3) iuo' (unit-cell orbitals first)."""
    path = os.fspath(path)
    with open_text(path) as fh:
        lines = iter(fh)
        try:
            no_u = int(next(lines).split()[0])
        except (StopIteration, IndexError, ValueError):
            raise FileFormatError(path, "first line is not 'no_u no_s'", "line 1") from None
        rows = []
        for line in lines:
            parts = line.split()
            if parts and parts[0].isdigit():
                rows.append(parts)
                if len(rows) == no_u:
                    break
    if len(rows) != no_u or any(len(r) < 9 for r in rows):
        raise FileFormatError(path, f"expected {no_u} orbital lines of at least 9 columns, found {len(rows)}")
    atom = parse_ints([r[1] for r in rows], path, "ia column") - 1
    labels = [r[3] for r in rows]
    nlmz = parse_ints([x for r in rows for x in r[5:9]], path, "n l m z columns").reshape(-1, 4)
    return atom, labels, nlmz


@dataclass(frozen=True, eq=False)
class Eig:
    """An EIG file: Fermi level (eV) and eigenvalues (n_channels, n_k, n_bands) eV, each with
    half a unit of its last printed digit."""

    path: str
    fermi: float
    fermi_resolution: float
    energies: np.ndarray
    resolution: float


def read_eig(path: str | os.PathLike) -> Eig:
    """EIG: 'Ef', 'nbands nspin nk', then per k the index and the eigenvalues. nspin 2 files
    hold spin up then spin down at each k; non-collinear and spin-orbit files one channel of
    2 no_u bands (nspin printed as 4, 8, or 1 by SIESTA 4)."""
    path = os.fspath(path)
    with open_text(path) as fh:
        text = fh.read().split()
    try:
        fermi, n_bands, nspin, n_k = float(text[0]), int(text[1]), int(text[2]), int(text[3])
    except (IndexError, ValueError):
        raise FileFormatError(path, "header is not 'Ef' then 'nbands nspin nk'", "line 1") from None
    channels = 2 if nspin == 2 else 1
    body = text[4:]
    per_k = 1 + channels * n_bands
    if len(body) != n_k * per_k:
        raise FileFormatError(path, f"{len(body)} numbers after the header, expected {n_k} k-points x {per_k}")
    values = parse_numbers(body, path, "eigenvalues").reshape(n_k, per_k)[:, 1:]
    energies = values.reshape(n_k, channels, n_bands).transpose(1, 0, 2)
    fermi_res, res = half_ulp([text[0], body[1]])
    return Eig(path, fermi, float(fermi_res), np.ascontiguousarray(energies), float(res))


def read_kp(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """KP: (k-points (n_k, 3) Cartesian in 1/Bohr, weights (n_k,))."""
    path = os.fspath(path)
    with open_text(path) as fh:
        text = fh.read().split()
    try:
        n_k = int(text[0])
    except (IndexError, ValueError):
        raise FileFormatError(path, "first line is not the number of k-points", "line 1") from None
    if len(text) != 1 + 5 * n_k:
        raise FileFormatError(path, f"expected {n_k} lines 'ik kx ky kz weight'")
    rows = parse_numbers(text[1:], path, "k-points").reshape(n_k, 5)
    return rows[:, 1:4], rows[:, 4]


@dataclass(frozen=True)
class RunLog:
    """What RUN.out says: the version string and the last spin moment printed (mu_B)."""

    version: str | None = None
    spin_moment: tuple[float, float, float] | None = None


_VERSION = re.compile(r"^\s*(?:Siesta\s+)?Version\s*:\s*(\S+)", re.IGNORECASE)
_MOMENT = re.compile(r"spin moment:\s*\{S\}\s*,\s*\|S\|\s*=\s*\{([^}]*)\}")


def read_run_out(path: str | os.PathLike) -> RunLog:
    version, moment = None, None
    with open_text(path) as fh:
        for line in fh:
            if version is None and (m := _VERSION.match(line)):
                version = m.group(1)
            elif m := _MOMENT.search(line):
                parts = m.group(1).split()
                moment = tuple(float(x) for x in parts) if len(parts) == 3 else moment
    return RunLog(version, moment)


@dataclass(frozen=True)
class Fdf:
    """The fdf entries the reader uses, from every ``*.fdf`` of a run directory.

    Attributes
    ----------
    system_label : str or None
    species : dict, 1-based species index -> (label, Z)
    pao_basis : dict, species label -> shells ((n, l, n_zeta, is_polarisation), ...) in SIESTA's
        orbital order (l ascending, shells as listed; then the polarisation shells, l ascending)
    """

    system_label: str | None
    species: dict[int, tuple[str, int]]
    pao_basis: dict[str, tuple[tuple[int, int, int, bool], ...]]


def _key(name: str) -> str:
    """fdf labels ignore case, '.', '_' and '-'."""
    return re.sub(r"[._-]", "", name).lower()


def read_fdf(run_dir: str | os.PathLike) -> Fdf:
    label, species, blocks = None, {}, {}
    for path in sorted(Path(run_dir).glob("*.fdf")):
        with open_text(path) as fh:
            lines = [ln for ln in (re.split(r"[#!;]", raw, maxsplit=1)[0].strip() for raw in fh) if ln]
        i = 0
        while i < len(lines):
            parts = lines[i].split()
            if parts[0].lower() == "%block" and len(parts) > 1:
                end = next(
                    (j for j in range(i + 1, len(lines)) if lines[j].split()[0].lower() == "%endblock"), len(lines)
                )
                blocks[_key(parts[1])] = (path, lines[i + 1 : end])
                i = end
            elif _key(parts[0]) == "systemlabel" and len(parts) > 1:
                label = parts[1]
            i += 1
    if "chemicalspecieslabel" in blocks:
        path, rows = blocks["chemicalspecieslabel"]
        for row in rows:
            p = row.split()
            try:
                species[int(p[0])] = (p[2], int(p[1]))
            except (IndexError, ValueError):
                raise FileFormatError(path, f"bad ChemicalSpeciesLabel line {row!r}") from None
    pao = _pao_basis(*blocks["paobasis"]) if "paobasis" in blocks else {}
    return Fdf(label, species, pao)


def _pao_basis(path: Path, rows: list[str]) -> dict[str, tuple[tuple[int, int, int, bool], ...]]:
    """PAO.Basis: per species 'label n_shells', then per shell '[n=]n l nzeta [P [npol]] ...',
    a line of nzeta radii and optionally a line of nzeta scale factors."""
    out, i = {}, 0
    try:
        while i < len(rows):
            label, n_shells = rows[i].split()[0], int(rows[i].split()[1])
            i += 1
            shells = []
            for _ in range(n_shells):
                p = rows[i].replace("n=", "").split()
                n, l, nz = int(p[0]), int(p[1]), int(p[2])
                shells.append((l, 0, n, nz))
                if "P" in p[3:]:
                    after = p[p.index("P") + 1 :]
                    n_pol = int(after[0]) if after and after[0].isdigit() else 1
                    shells.append((l + 1, 1, n, n_pol))
                i += 2  # shell line and radii
                if (
                    i < len(rows)
                    and not re.match(r"^(n=|\d+\s+\d+\s+\d+)", rows[i])
                    and len(rows[i].split()) == nz
                    and all(re.fullmatch(r"[-+.\deEdD]+", t) and "." in t for t in rows[i].split())
                ):
                    i += 1  # scale factors
            # SIESTA appends the orbitals of "P" polarisation shells after all the others
            # (seen on pt2_soc_siesta41: its on-site S only fits s s d d p).
            out[label] = tuple(
                (n, l, nz, bool(pol)) for l, pol, n, nz in sorted(shells, key=lambda s: (s[1], s[0], s[2]))
            )
    except (IndexError, ValueError):
        raise FileFormatError(path, f"cannot read the PAO.Basis block near {rows[min(i, len(rows) - 1)]!r}") from None
    return out
