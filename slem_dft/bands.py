"""Band structures of H(k), S(k): k-paths, the Fermi level, the eigensolver and the comparison
with a DFT code's own band energies (``slem-dft bands``).

Energies are in eV, k-points in reduced coordinates of the record's own cell (k_cart = k B
with B = 2 pi A^-T, A the cell rows in Angstrom), path distances in 1/Angstrom (2 pi included).

Band indices are absolute (0 = lowest band) everywhere: the dense solver returns every band,
and the sparse shift-invert solver finds the index of its lowest band from the inertia of
H(k) - sigma S(k) (Sylvester's law: the number of negative pivots of its LDL^H factorisation is
the number of eigenvalues below sigma). Every DFT band file read here lists its bands from the
lowest, so reference band n is compared with computed band n (see :func:`compare_bands`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg
import scipy.special
from scipy.sparse.csgraph import reverse_cuthill_mckee
from threadpoolctl import threadpool_limits

from .atomic import atomic_write
from .data import Record
from .errors import ConfigError, MissingInputError
from .kspace import DENSE_LIMIT, BlochSum, spin_expand
from .reference import BandReference

__all__ = [
    "BandComparison",
    "BandSolver",
    "Bands",
    "KPath",
    "compare_bands",
    "compute_bands",
    "default_kmesh",
    "fermi_level",
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

#: Symmetry tolerance (Angstrom) for finding the standard path: DFT geometries carry noise.
SYMPREC = 1e-3
#: Default k-spacing (1/Angstrom, 2 pi included) of the Fermi-level mesh.
KSPACING = 0.1
#: Matrix size up to which the many small eigenproblems run with single-threaded BLAS.
_THREADED_SIZE = 400


# ---------------------------------------------------------------------------------------------
# k-paths
# ---------------------------------------------------------------------------------------------


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


def _path_from_segments(segments: Sequence[Sequence[tuple[str, np.ndarray]]], cell: np.ndarray,
                        npoints: int) -> KPath:
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
        t = np.linspace(0.0, 1.0, n)[1 if joined else 0:]
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
                raise ConfigError(f"unknown k-label {name!r}; known for this structure: "
                                  f"{', '.join(sorted(known))} (or give coordinates: '{name} k1 k2 k3')")
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


# ---------------------------------------------------------------------------------------------
# Eigensolver
# ---------------------------------------------------------------------------------------------


def _ldl_inertia_and_solver(a: sp.csc_matrix) -> tuple[int, Callable[[np.ndarray], np.ndarray]]:
    """Number of negative eigenvalues of a hermitian sparse matrix and a solver for a x = b,
    from one SuperLU factorisation with diagonal pivots in a symmetric (reverse Cuthill-McKee)
    order: a = P^T L D L^H P with D = diag(U), whose signs are the inertia (Sylvester). The
    banded order bounds the fill of these 3D lattices far better than SuperLU's minimum-degree
    orderings (5832 Si atoms, 23328 orbitals, complex k: 7.9 GB and 4.7 minutes against more
    than 13 GB and 15 minutes unfinished); a real matrix (k = Gamma) is factorised in real arithmetic."""
    structure = a.tocsr().astype(bool).astype(np.int8)
    order = reverse_cuthill_mckee((structure + structure.T).tocsr(), symmetric_mode=True)
    permuted = a.tocsr()[order][:, order].tocsc()
    real = not np.any(permuted.data.imag)
    if real:
        permuted = sp.csc_matrix((np.ascontiguousarray(permuted.data.real), permuted.indices, permuted.indptr),
                                 shape=permuted.shape)
    lu = scipy.sparse.linalg.splu(permuted, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                                  options={"SymmetricMode": True})
    if not np.array_equal(lu.perm_r, lu.perm_c):
        raise ArithmeticError("SuperLU pivoted off the diagonal: the inertia count is not valid")
    inverse = np.argsort(order)

    def solve(b: np.ndarray) -> np.ndarray:
        b = b[order]
        x = lu.solve(b.real) + 1j * lu.solve(b.imag) if real and np.iscomplexobj(b) else lu.solve(b)
        return x[inverse]

    return int(np.sum(lu.U.diagonal().real < 0)), solve


class BandSolver:
    """Eigenvalues of H(k) c = e S(k) c for one record, channel by channel.

    Dense (``scipy.linalg.eigh``, every band) up to ``dense_limit``; above it, shift-invert
    Lanczos (``eigsh`` with M = S) for the ``n_bands`` bands nearest ``sigma``, whose absolute
    index comes from the inertia of H - sigma S. Sparse matrices stay sparse.

    Parameters
    ----------
    record
        Needs H and S; S may be spinless for a spinor H (it is expanded).
    dense_limit
        Largest matrix solved densely (size = orbitals, x2 for spinors).
    """

    def __init__(self, record: Record, dense_limit: int = DENSE_LIMIT):
        missing = [op for op in ("H", "S") if op not in record.operators]
        if missing:
            raise MissingInputError(record.source.path, f"bands need H and S; the data has no {', '.join(missing)}")
        self.H = BlochSum(record.operators["H"], record.orbital_counts)
        self.S = BlochSum(record.operators["S"], record.orbital_counts)
        self._expand = record.operators["H"].spin == "spinor" and record.operators["S"].spin != "spinor"
        self.n_channels = 2 if record.operators["H"].spin == "collinear" else 1
        self.size = self.H.shape[0]
        self.dense = self.size <= dense_limit
        self._gamma_only = record.gamma_only
        self._path = record.source.path

    def matrices(self, k: np.ndarray, channel: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """H(k), S(k) as sparse (n, n) complex matrices."""
        s = self.S(k)
        return self.H(k, channel), spin_expand(s) if self._expand else s

    def eigenvalues(self, k: np.ndarray, channel: int = 0, n_bands: int = 32,
                    sigma: float = 0.0) -> tuple[int, np.ndarray]:
        """(index of the first band returned, ascending eigenvalues in eV) at reduced ``k``:
        all bands when dense, else the ``n_bands`` nearest ``sigma`` (eV)."""
        if self._gamma_only and np.any(np.abs(k - np.round(k)) > 1e-9):
            raise ConfigError(f"{self._path}: gamma-only (folded) matrices give the bands at Gamma only, not at k = {k}")
        h, s = self.matrices(k, channel)
        if self.dense:
            h, s = h.toarray(), s.toarray()
            return 0, scipy.linalg.eigh(0.5 * (h + h.conj().T), 0.5 * (s + s.conj().T), eigvals_only=True)
        n_bands = min(n_bands, self.size - 2)
        n_below, solve = _ldl_inertia_and_solver((h - sigma * s).tocsc())
        op = scipy.sparse.linalg.LinearOperator(h.shape, matvec=solve, dtype=np.complex128)
        e = np.sort(scipy.sparse.linalg.eigsh(h, n_bands, M=s, sigma=sigma, OPinv=op, which="LM",
                                              return_eigenvectors=False).real)
        return n_below - int(np.sum(e < sigma)), e


@dataclass(frozen=True, eq=False)
class Bands:
    """Band energies on a set of k-points.

    Attributes
    ----------
    kpoints : (n_k, 3) float64, reduced
    energies : (n_channels, n_k, n_bands) float64, eV
    first : (n_channels, n_k) int64: absolute index of band 0 of ``energies`` at each k
        (0 for the dense solver)
    solver : "dense" or "shift-invert"
    """

    kpoints: np.ndarray
    energies: np.ndarray
    first: np.ndarray
    solver: str


def compute_bands(record: Record, kpoints: np.ndarray, n_bands: int = 32, sigma: float = 0.0,
                  dense_limit: int = DENSE_LIMIT, progress: bool = False) -> Bands:
    """Bands of every spin channel at ``kpoints`` (reduced), see :class:`BandSolver`;
    ``progress`` shows a tqdm bar over k-points on stderr."""
    from tqdm import tqdm

    solver = BandSolver(record, dense_limit)
    kpoints = np.atleast_2d(np.asarray(kpoints, dtype=np.float64))
    energies, first = [], np.zeros((solver.n_channels, len(kpoints)), dtype=np.int64)
    with threadpool_limits(1 if solver.size < _THREADED_SIZE else None), \
            tqdm(total=solver.n_channels * len(kpoints), desc="bands", unit="k", disable=not progress) as bar:
        for c in range(solver.n_channels):
            rows = []
            for n, k in enumerate(kpoints):
                first[c, n], e = solver.eigenvalues(k, c, n_bands, sigma)
                rows.append(e)
                bar.update()
            energies.append(rows)
    return Bands(kpoints, np.array(energies), first, "dense" if solver.dense else "shift-invert")


# ---------------------------------------------------------------------------------------------
# Fermi level
# ---------------------------------------------------------------------------------------------


def default_kmesh(cell: np.ndarray, pbc: Sequence[bool] = (True, True, True), spacing: float = KSPACING) -> tuple[int, ...]:
    """Points per reciprocal vector for a k-spacing of ``spacing`` 1/Angstrom (1 along a
    non-periodic direction)."""
    lengths = np.linalg.norm(_reciprocal(cell), axis=1)
    return tuple(int(max(1, math.ceil(b / spacing))) if p else 1 for b, p in zip(lengths, pbc))


def kmesh(mesh: Sequence[int], gamma_centred: bool = True) -> np.ndarray:
    """(n1 n2 n3, 3) Monkhorst-Pack mesh in reduced coordinates: j / n_i when ``gamma_centred``
    (ABACUS kspacing, "Gamma" KPT), else the original (2 j - n_i + 1) / (2 n_i), j = 0..n_i-1,
    which avoids Gamma for even n_i (OpenMX ``scf.Kgrid``, "MP" KPT)."""
    axes = [np.arange(n) / n if gamma_centred else (2 * np.arange(n) - n + 1) / (2 * n) for n in mesh]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _occupation(x: np.ndarray, method: str) -> np.ndarray:
    """Occupation of a level at x = (e - mu) / width."""
    if method == "fermi-dirac":
        return scipy.special.expit(-x)
    if method == "gaussian":
        return 0.5 * scipy.special.erfc(x)
    raise ConfigError(f"unknown smearing {method!r}: choose fermi-dirac or gaussian")


def fermi_level(record: Record, mesh: Sequence[int] | None = None, smearing: float = 0.01,
                method: str = "fermi-dirac", gamma_centred: bool = True, dense_limit: int = DENSE_LIMIT,
                progress: bool = False) -> float:
    """The chemical potential (eV) that holds ``record.n_electrons`` in the bands of H(k), S(k)
    on a Monkhorst-Pack mesh (``mesh``, default :func:`default_kmesh`; ``gamma_centred`` as in
    :func:`kmesh`, equal weights), each state occupied by
    ``method`` ("fermi-dirac": 1 / (1 + exp(x)); "gaussian": erfc(x) / 2) with
    x = (e - mu) / ``smearing`` (eV); two electrons per band for nspin 1.

    Needs every band at every k, so it is limited to dense-sized systems (``dense_limit``).
    """
    if record.n_electrons is None:
        raise MissingInputError(record.source.path, "the electron count is unknown: the Fermi level cannot be found")
    if smearing <= 0:
        raise ConfigError(f"smearing must be > 0 eV, got {smearing}")
    solver = BandSolver(record, dense_limit)
    if not solver.dense:
        raise ConfigError(f"the Fermi level needs every band: {solver.size} orbitals exceed the dense limit "
                          f"{dense_limit}; give it with --fermi")
    if mesh is None:
        mesh = (1, 1, 1) if record.gamma_only else default_kmesh(record.atoms.cell.array, record.atoms.pbc)
    energies = compute_bands(record, kmesh(mesh, gamma_centred), dense_limit=dense_limit, progress=progress).energies
    weight = (2.0 if record.nspin == 1 else 1.0) / energies.shape[1]

    def excess(mu: float) -> float:
        return weight * float(_occupation((energies - mu) / smearing, method).sum()) - record.n_electrons

    if not excess(energies.min() - 50 * smearing) < 0 < excess(energies.max() + 50 * smearing):
        raise ConfigError(f"{record.n_electrons:g} electrons do not fit in the {energies.shape[-1]} bands")
    return float(scipy.optimize.brentq(excess, energies.min() - 50 * smearing, energies.max() + 50 * smearing,
                                       xtol=1e-9))


# ---------------------------------------------------------------------------------------------
# Comparison with a DFT band file
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandComparison:
    """Deviation of computed bands from a reference, over the band energies compared.

    Attributes
    ----------
    max_abs_meV, mean_abs_meV : float
    n_compared : int, band energies (k, band, channel) compared
    per_channel_max_meV : list of float
    window_eV : float, half-width around ``fermi_energy``
    fermi_energy : float, eV
    resolution_meV : float, half a unit of the reference's last printed digit
    """

    max_abs_meV: float
    mean_abs_meV: float
    n_compared: int
    per_channel_max_meV: list[float]
    window_eV: float
    fermi_energy: float
    resolution_meV: float


def _window_mask(reference: BandReference, fermi_energy: float, window: float) -> np.ndarray:
    """Reference band energies inside [E_F - window, E_F + window]."""
    e = reference.energies
    mask = np.abs(e - fermi_energy) <= window
    if not mask.any():
        raise ConfigError(f"{reference.path}: no reference band lies within {window:g} eV of E_F = "
                          f"{fermi_energy:.4f} eV")
    return mask


def compare_bands(bands: Bands, reference: BandReference, fermi_energy: float, window: float = 5.0) -> BandComparison:
    """Compare computed bands with a reference on the same k-points.

    Rule: reference band n (absolute index: DFT files list bands from the lowest) is paired
    with computed band n at the same k and spin, and a pair counts wherever the *reference*
    energy lies within ``window`` eV of ``fermi_energy``. A band that crosses a window edge is
    thus compared at the k-points where the reference puts it inside, never paired with a
    neighbour; a reference band inside the window that the solver did not return (too few
    ``--nbands`` for shift-invert) is an error, not a silent skip.
    """
    if bands.energies.shape[0] != reference.energies.shape[0] or len(bands.kpoints) != reference.energies.shape[1]:
        raise ConfigError(f"{reference.path}: reference has {reference.energies.shape[:2]} (spins, k-points), "
                          f"computed bands {bands.energies.shape[:2]}")
    mask = _window_mask(reference, fermi_energy, window)
    devs, per_channel = [], []
    for c, k, n in zip(*np.nonzero(mask)):
        j = n - bands.first[c, k]
        if not 0 <= j < bands.energies.shape[2]:
            raise ConfigError(f"band {n} at k-point {k} (reference {reference.energies[c, k, n]:.4f} eV) was not "
                              "computed: raise --nbands")
        devs.append((c, abs(bands.energies[c, k, j] - reference.energies[c, k, n])))
    dev = np.array([d for _, d in devs])
    channel = np.array([c for c, _ in devs])
    per_channel = [1e3 * float(dev[channel == c].max(initial=0.0)) for c in range(bands.energies.shape[0])]
    return BandComparison(1e3 * float(dev.max()), 1e3 * float(dev.mean()), int(dev.size), per_channel, window,
                          fermi_energy, 1e3 * reference.resolution)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def write_dat(path: str | os.PathLike, kpath: KPath, bands: Bands, fermi_energy: float) -> Path:
    """Columns: distance (1/Angstrom), k1 k2 k3 (reduced), then per spin channel the absolute
    index of its first band and its energies (eV); E_F in the header."""
    path = Path(path)
    n_ch, _n_k, n_b = bands.energies.shape
    columns = [kpath.distance[:, None], kpath.kpoints]
    for c in range(n_ch):
        columns += [bands.first[c][:, None], bands.energies[c]]
    labels = " ".join(f"{i}:{name}" for i, name in kpath.labels)
    header = (f"slem-dft bands\nE_F = {fermi_energy:.10f} eV\nchannels = {n_ch}  bands = {n_b}  solver = {bands.solver}\n"
              f"labels = {labels}\n"
              "columns: distance(1/Angstrom) k1 k2 k3 (reduced), then per channel: first_band energies(eV)...")
    text = io.StringIO()
    np.savetxt(text, np.hstack(columns), fmt="%.10f", header=header)
    atomic_write(path, text.getvalue())
    return path


def read_dat(path: str | os.PathLike) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(E_F, distance (n_k,), k (n_k, 3), energies (n_channels, n_k, n_bands)) of a
    :func:`write_dat` file."""
    header = {}
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            for key, value in re.findall(r"(\w+) = (\S+)", line):
                header[key] = value
    data = np.loadtxt(path, ndmin=2)
    n_ch, n_b = int(header["channels"]), int(header["bands"])
    energies = np.stack([data[:, 5 + c * (n_b + 1): 5 + c * (n_b + 1) + n_b] for c in range(n_ch)])
    return float(header["E_F"]), data[:, 0], data[:, 1:4], energies


def plot_bands(path: str | os.PathLike, kpath: KPath, bands: Bands, fermi_energy: float, window: float,
               reference: BandReference | None = None, comparison: BandComparison | None = None,
               title: str = "") -> Path:
    """PNG of E - E_F along the path: one colour per spin channel, the reference as open
    markers, E_F as a dashed line, high-symmetry labels on the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = ("tab:blue", "tab:red")
    names = ("spin up", "spin down") if bands.energies.shape[0] == 2 else ("slem-dft",)
    segments = np.split(np.arange(len(kpath.distance)), kpath.breaks)
    fig, ax = plt.subplots(figsize=(7, 5))
    for c in range(bands.energies.shape[0]):
        e = bands.energies[c] - fermi_energy
        for n, seg in enumerate(segments):
            lines = ax.plot(kpath.distance[seg], e[seg], "_" if len(seg) == 1 else "-", color=colours[c], lw=1.0, ms=12)
            lines[0].set_label(names[c] if n == 0 else None)
        if reference is not None:
            r = reference.energies[c] - fermi_energy
            x = np.repeat(kpath.distance[:, None], r.shape[1], axis=1)
            ax.plot(x.ravel(), r.ravel(), "o", ms=3.0, mfc="none", color="k" if c == 0 else "tab:orange",
                    mew=0.7, label=f"DFT {names[c]}" if bands.energies.shape[0] == 2 else "DFT")
    ax.axhline(0.0, color="grey", ls="--", lw=0.8)
    for n in kpath.breaks:
        ax.axvline(kpath.distance[n], color="k", lw=0.8)
    ticks: dict[float, str] = {}
    for n, name in kpath.labels:
        d = float(kpath.distance[n])
        ticks[d] = f"{ticks[d]}|{name}" if d in ticks and ticks[d] != name else name
    for d in ticks:
        ax.axvline(d, color="k", lw=0.4, alpha=0.5)
    ax.set_xticks(list(ticks), list(ticks.values()))
    if kpath.distance[-1] > kpath.distance[0]:
        ax.set_xlim(kpath.distance[0], kpath.distance[-1])
    ax.set_ylim(-window, window)
    ax.set_ylabel("E - E$_F$ (eV)")
    ax.set_xlabel("k (1/Å)" if not ticks else "")
    if comparison is not None:
        title += (f"\nvs DFT within ±{comparison.window_eV:g} eV: max {comparison.max_abs_meV:.3g} meV, "
                  f"mean {comparison.mean_abs_meV:.3g} meV")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, dpi=120, format="png")
    plt.close(fig)
    atomic_write(Path(path), image.getvalue())
    return Path(path)


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def load_structure(path: str | os.PathLike, index: int = 0) -> Record:
    """A record from a store (``.h5``/``.hdf5``, structure ``index``) or a DFT run directory."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5") or path.is_file():
        from .store import Store

        store = Store(path)
        if not 0 <= index < len(store):
            raise ConfigError(f"{path}: index {index} outside 0..{len(store) - 1}")
        return store[index]
    from .registry import read_run

    return read_run(path, operators=("H", "S"))


def _band_reference(record: Record, where: str) -> BandReference:
    """The first band-energy reference of a run (``.Band``/``BANDS_1.dat``/``eig_occ.txt``/``.EIG``)."""
    from .registry import read_references

    refs = [r for r in read_references(record) if isinstance(r, BandReference)]
    if not refs:
        raise MissingInputError(where, "no band-energy reference in this run (BANDS_1.dat, eig_occ.txt, band.txt, "
                                       ".EIG, .Band or .out eigenvalues)")
    return refs[0]


def _to_cell(reference: BandReference, ref_cell: np.ndarray, cell: np.ndarray) -> BandReference:
    """The reference with its k-points in reduced coordinates of ``cell`` (same Cartesian k).
    The two cells must span the same lattice: a supercell folds bands, which a band-by-band
    comparison cannot follow."""
    x = cell @ np.linalg.inv(ref_cell)
    if not (np.allclose(x, np.round(x), atol=1e-4) and abs(round(np.linalg.det(x))) == 1):
        raise ConfigError(f"{reference.path}: the reference run's cell is not the structure's cell (cell = X ref_cell "
                          f"with X = {np.round(x, 4).tolist()}); compare in the same cell")
    return BandReference(reference.path, reference.kpoints @ x.T, reference.energies, reference.resolution)


@dataclass
class BandsReport:
    """What :func:`run_bands` wrote and measured."""

    files: list[Path]
    fermi_energy: float
    fermi_source: str
    comparison: BandComparison | None
    reference: str | None
    solver: str
    n_kpoints: int

    def to_dict(self) -> dict:
        out = {"files": [os.fspath(p) for p in self.files], "fermi_energy": self.fermi_energy,
                   "fermi_source": self.fermi_source, "reference": self.reference, "solver": self.solver,
                   "n_kpoints": self.n_kpoints, "comparison": None}
        if self.comparison is not None:
            out["comparison"] = self.comparison.__dict__
        return out


def run_bands(structure: str | os.PathLike, output: str | os.PathLike, *, index: int = 0,
              ref: str | os.PathLike | None = None, kpath: str | None = None, npoints: int = 300,
              window: float = 5.0, mesh: Sequence[int] | None = None, smearing: float = 0.01,
              fermi: float | None = None, n_bands: int = 32, dense_limit: int = DENSE_LIMIT,
              own_reference: bool = True, progress: bool = False) -> BandsReport:
    """``slem-dft bands``: bands of a stored or parsed structure along a path or on a
    reference's k-points; writes ``output``.dat, .json and .png.

    The reference is ``ref`` (a run directory), or the input run's own band file when the
    input is a run, ``own_reference`` is set and no ``kpath`` is given. E_F: ``fermi``, else the record's stored value,
    else :func:`fermi_level` on ``mesh`` with ``smearing``; the comparison window is centred on
    the reference run's E_F where it has one.
    """
    record = load_structure(structure, index)
    reference, ref_fermi = None, None
    if ref is not None:
        if kpath is not None:
            raise ConfigError("--ref computes on the reference's own k-points: drop --kpath")
        from .registry import read_run

        ref_record = read_run(ref, operators=("S",))
        reference = _to_cell(_band_reference(ref_record, os.fspath(ref)), ref_record.atoms.cell.array,
                             record.atoms.cell.array)
        ref_fermi = ref_record.fermi_energy
    elif own_reference and kpath is None and Path(structure).is_dir():
        from .registry import read_references

        reference = next((r for r in read_references(record) if isinstance(r, BandReference)), None)

    if fermi is not None:
        fermi_energy, source = float(fermi), "given"
    elif record.fermi_energy is not None:
        fermi_energy, source = record.fermi_energy, "stored"
    else:
        fermi_energy = fermi_level(record, mesh, smearing, dense_limit=dense_limit, progress=progress)
        source = f"computed (mesh {mesh or default_kmesh(record.atoms.cell.array, record.atoms.pbc)}, smearing {smearing:g} eV)"
    centre = ref_fermi if ref_fermi is not None else fermi_energy
    if reference is not None:
        _window_mask(reference, centre, window)  # fail before the long part
        path = reference_kpath(reference.kpoints, record)
    elif kpath is not None:
        text = Path(kpath).read_text() if os.path.isfile(kpath) else kpath
        path = parse_kpath(text, record, npoints)
    else:
        path = seekpath_kpath(record, npoints)

    bands = compute_bands(record, path.kpoints, n_bands, fermi_energy + 1e-3 * math.pi, dense_limit, progress)
    comparison = compare_bands(bands, reference, centre, window) if reference is not None else None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    title = f"{record.atoms.get_chemical_formula()}  ({record.source.path})"
    files = [write_dat(output.with_name(output.name + ".dat"), path, bands, fermi_energy),
             plot_bands(output.with_name(output.name + ".png"), path, bands, fermi_energy, window, reference,
                        comparison, title)]
    report = BandsReport(files, fermi_energy, source, comparison, reference.path if reference else None,
                         bands.solver, len(path.kpoints))
    json_path = output.with_name(output.name + ".json")
    report.files.append(json_path)
    atomic_write(json_path, json.dumps(report.to_dict(), indent=2))
    return report
