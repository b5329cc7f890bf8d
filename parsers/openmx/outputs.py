"""OpenMX text outputs: the ``.out`` file (version, echoed input, eigenvalues at the SCF
k-points, spin moment) and the ``.Band`` file (formats-openmx.md sections 4 and 5).

Energies stay in Hartree here; :mod:`.run` converts them with OpenMX's constant.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from slem_dft.compression import open_text
from slem_dft.errors import FileFormatError

from .._text import TokenReader, parse_ints, parse_numbers

__all__ = ["BandFile", "OutFile", "read_band", "read_out"]

_VERSION = re.compile(r"performed by OpenMX Ver\.\s*(\S+)")
_KLINE = re.compile(r"k1=\s*(\S+)\s+k2=\s*(\S+)\s+k3=\s*(\S+)")
_MOMENT = re.compile(r"Total spin moment \(muB\)\s+(\S+)(?:\s+Angles \(Deg\)\s+(\S+)\s+(\S+))?")


@dataclass(frozen=True, eq=False)
class OutFile:
    """What a ``.out`` file says about the run.

    Attributes
    ----------
    path : str
    version : str or None
        "3.9.9" from the header line.
    input_text : str
        The echoed input file ("" if absent).
    kpoints : (n_k, 3) float64
        Reduced k-points of the eigenvalue listing (printed with 5 decimals).
    energies : (n_columns, n_k, n_bands) float64, Hartree, absolute
        One column per spin for collinear runs; unpolarised runs print the same value twice.
    resolution : float, Hartree
        Half a unit of the last printed digit of the eigenvalues.
    spin_moment : (3,) float64 or None, mu_B
        Cartesian moment: (NaN, NaN, m) for a collinear run, from the magnitude and the
        angles (theta, phi) for a non-collinear one.
    """

    path: str
    version: str | None
    input_text: str
    kpoints: np.ndarray
    energies: np.ndarray
    resolution: float
    spin_moment: np.ndarray | None


def _half_ulp(token: str) -> float:
    return 0.5 * 10.0 ** -len(token.partition(".")[2])


def read_out(path: str | os.PathLike) -> OutFile:
    """Read an OpenMX ``.out`` file."""
    path = os.fspath(path)
    version, moment = None, None
    echo: list[str] = []
    kpoints: list[list[float]] = []
    bands: list[list[list[float]]] = []
    resolution = 0.0
    state = "header"  # header -> echo -> body (eigenvalues) -> tail
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            stripped = line.strip()
            if state != "body" and stripped.startswith("*****"):
                state = (
                    "echo"
                    if state == "header" and version is not None
                    else ("body" if state == "echo" and echo else state)
                )
                continue
            if state == "header":
                if m := _VERSION.search(line):
                    version = m.group(1)
                continue
            if state == "echo":
                echo.append(line)
                continue
            if stripped.startswith("*****") and bands:
                state = "tail"  # the eigenvalue listing is over
            if state == "tail":
                if m := _MOMENT.search(line):
                    moment = _moment(m, path, n)
                continue
            if stripped.startswith("kloop="):
                bands.append([])
                continue
            if m := _KLINE.search(line):
                kpoints.append(parse_numbers(list(m.groups()), path, f"line {n}").tolist())
                continue
            parts = stripped.split()
            in_listing = bands and len(kpoints) == len(bands) and len(parts) >= 2 and parts[0].isdigit()
            if in_listing and int(parts[0]) == len(bands[-1]) + 1:  # band rows are numbered 1, 2, ...
                bands[-1].append(parse_numbers(parts[1:], path, f"line {n}").tolist())
                resolution = max(resolution, _half_ulp(parts[1]))
    if version is None:
        raise FileFormatError(path, "not an OpenMX .out file (no 'performed by OpenMX Ver.' line)")
    energies = _stack_bands(bands, path)
    return OutFile(
        path, version, "".join(echo), np.array(kpoints, dtype=np.float64).reshape(-1, 3), energies, resolution, moment
    )


def _moment(m: re.Match, path: str, line_no: int) -> np.ndarray:
    size, theta, phi = (parse_numbers([g], path, f"line {line_no}")[0] if g else None for g in m.groups())
    if theta is None:
        return np.array([np.nan, np.nan, size])
    t, p = np.radians(theta), np.radians(phi)
    return size * np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])


def _stack_bands(bands: list[list[list[float]]], path: str) -> np.ndarray:
    """(n_columns, n_k, n_bands) from per-k lists of rows; an empty listing gives (0, 0, 0)."""
    if not bands:
        return np.zeros((0, 0, 0))
    if len({len(b) for b in bands}) != 1 or len({len(row) for b in bands for row in b}) != 1:
        raise FileFormatError(path, "the eigenvalue listing has k-points with different band or column counts")
    return np.ascontiguousarray(np.array(bands, dtype=np.float64).transpose(2, 0, 1))


@dataclass(frozen=True, eq=False)
class BandFile:
    """A ``.Band`` file.

    Attributes
    ----------
    path : str
    reciprocal : (3, 3) float64, Bohr^-1 including 2 pi, rows b1, b2, b3
    chemical_potential : float, Hartree
    kpoints : (n_k, 3) float64, reduced
    energies : (n_spin, n_k, n_bands) float64, Hartree, absolute
    resolution : float, Hartree (half a unit of the 15th decimal)
    """

    path: str
    reciprocal: np.ndarray
    chemical_potential: float
    kpoints: np.ndarray
    energies: np.ndarray
    resolution: float


def read_band(path: str | os.PathLike) -> BandFile:
    """Read a ``.Band`` file: header, reciprocal vectors, the k-path segments, then for every
    path point and spin a line ``nband k1 k2 k3`` followed by ``nband`` eigenvalues."""
    path = os.fspath(path)
    with open_text(path) as fh:
        tokens = TokenReader(fh, path)
        head = tokens.take(3, "header values (nband SpinP_switch ChemP)")
        n_band, spin = parse_ints(head[:2], path, "header")
        chemp = float(parse_numbers(head[2:], path, "header")[0])
        if n_band <= 0 or spin not in (0, 1):
            raise FileFormatError(path, f"header '{' '.join(head)}' is not that of a .Band file", "line 1")
        reciprocal = parse_numbers(tokens.take(9, "reciprocal vectors"), path, "reciprocal vectors").reshape(3, 3)
        (n_path,) = parse_ints(tokens.take(1, "path segment count"), path, "k-path")
        n_points = sum(int(tokens.take(9, "path segment values")[0]) for _ in range(n_path))
        n_spin = spin + 1
        kpoints = np.empty((n_points, 3))
        energies = np.empty((n_spin, n_points, n_band))
        digits = 0
        for k in range(n_points):
            for s in range(n_spin):
                head = tokens.take(4, "k-point line")
                where = f"k-point {k + 1}, spin {s}"
                if int(parse_ints(head[:1], path, where)[0]) != n_band:
                    raise FileFormatError(path, f"expected {n_band} bands, the file says {head[0]}", where)
                kpoints[k] = parse_numbers(head[1:], path, where)
                values = tokens.take(n_band, "eigenvalues")
                energies[s, k] = parse_numbers(values, path, where)
                digits = max(digits, len(values[0].partition(".")[2]))
    return BandFile(path, reciprocal, chemp, kpoints, energies, 0.5 * 10.0**-digits)
