"""Computed bands against a DFT code's own band energies on the same k-points.

Band indices are absolute (0 = lowest band) everywhere, and every DFT band file read here lists
its bands from the lowest, so reference band n is compared with computed band n."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..reference import BandReference
from .solver import Bands

__all__ = ["BandComparison", "compare_bands"]


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
        raise ConfigError(
            f"{reference.path}: no reference band lies within {window:g} eV of E_F = {fermi_energy:.4f} eV"
        )
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
        raise ConfigError(
            f"{reference.path}: reference has {reference.energies.shape[:2]} (spins, k-points), "
            f"computed bands {bands.energies.shape[:2]}"
        )
    mask = _window_mask(reference, fermi_energy, window)
    devs, per_channel = [], []
    for c, k, n in zip(*np.nonzero(mask)):
        j = n - bands.first[c, k]
        if not 0 <= j < bands.energies.shape[2]:
            raise ConfigError(
                f"band {n} at k-point {k} (reference {reference.energies[c, k, n]:.4f} eV) was not "
                "computed: raise --nbands"
            )
        devs.append((c, abs(bands.energies[c, k, j] - reference.energies[c, k, n])))
    dev = np.array([d for _, d in devs])
    channel = np.array([c for c, _ in devs])
    per_channel = [1e3 * float(dev[channel == c].max(initial=0.0)) for c in range(bands.energies.shape[0])]
    return BandComparison(
        1e3 * float(dev.max()),
        1e3 * float(dev.mean()),
        int(dev.size),
        per_channel,
        window,
        fermi_energy,
        1e3 * reference.resolution,
    )
