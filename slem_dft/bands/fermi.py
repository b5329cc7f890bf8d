"""The Fermi level of H(k), S(k) from the electron count on a Monkhorst-Pack mesh with smearing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg
import scipy.special

from ..data import Record
from ..errors import ConfigError, MissingInputError
from ..kspace import DENSE_LIMIT
from .kpath import _reciprocal
from .solver import BandSolver, compute_bands

__all__ = ["KSPACING", "default_kmesh", "fermi_level_from_mesh", "kmesh"]

#: Default k-spacing (1/Angstrom, 2 pi included) of the Fermi-level mesh.
KSPACING = 0.1


def default_kmesh(
    cell: np.ndarray, pbc: Sequence[bool] = (True, True, True), spacing: float = KSPACING
) -> tuple[int, ...]:
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


def fermi_level_from_mesh(
    record: Record,
    mesh: Sequence[int] | None = None,
    smearing: float = 0.01,
    method: str = "fermi-dirac",
    gamma_centred: bool = True,
    dense_limit: int = DENSE_LIMIT,
    progress: bool = False,
) -> float:
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
        raise ConfigError(
            f"the Fermi level needs every band: {solver.size} orbitals exceed the dense limit "
            f"{dense_limit}; give it with --fermi"
        )
    if mesh is None:
        mesh = (1, 1, 1) if record.gamma_only else default_kmesh(record.atoms.cell.array, record.atoms.pbc)
    energies = compute_bands(record, kmesh(mesh, gamma_centred), dense_limit=dense_limit, progress=progress).energies
    weight = (2.0 if record.nspin == 1 else 1.0) / energies.shape[1]

    def excess(mu: float) -> float:
        return weight * float(_occupation((energies - mu) / smearing, method).sum()) - record.n_electrons

    if not excess(energies.min() - 50 * smearing) < 0 < excess(energies.max() + 50 * smearing):
        raise ConfigError(f"{record.n_electrons:g} electrons do not fit in the {energies.shape[-1]} bands")
    return float(
        scipy.optimize.brentq(excess, energies.min() - 50 * smearing, energies.max() + 50 * smearing, xtol=1e-9)
    )
