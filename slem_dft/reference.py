"""What a DFT run printed about itself, for the physics checks of :mod:`slem_dft.checks`.

Readers fill these in the canonical convention (eV, canonical orbital order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BandReference", "DenseReference"]


@dataclass(frozen=True, eq=False)
class BandReference:
    """Band energies the DFT code wrote.

    Attributes
    ----------
    path : str
    kpoints : (n_k, 3) float64, reduced coordinates
    energies : (n_channels, n_k, n_bands) float64, eV; channels are spins for nspin 2
    resolution : float, eV: half a unit of the last printed digit
    """

    path: str
    kpoints: np.ndarray
    energies: np.ndarray
    resolution: float


@dataclass(frozen=True, eq=False)
class DenseReference:
    """A dense H(k) and/or S(k) the DFT code dumped, converted to canonical order and eV.

    Attributes
    ----------
    path : str
    kpoint : (3,) float64, reduced
    channel : int, spin channel (0 unless nspin 2)
    H, S : (n, n) complex128 or None (n = orbitals, x2 for spinors with spin innermost)
    H_resolution, S_resolution : (n, n) float64 or None: half a unit of the last printed
        digit of each element (eV for H)
    """

    path: str
    kpoint: np.ndarray
    channel: int
    H: np.ndarray | None
    S: np.ndarray | None
    H_resolution: np.ndarray | None
    S_resolution: np.ndarray | None
