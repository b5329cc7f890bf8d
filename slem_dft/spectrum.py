"""Eigenvalue error of a predicted Hamiltonian near the Fermi level (``slem-dft evaluate``).

At a few k-points the generalised eigenvalues of H_pred(k), S(k) are compared with those of
the stored H(k), S(k) (both with the store's overlap), band by band, for the reference bands
within a window around the Fermi level.
"""

from __future__ import annotations

import numpy as np

from .data import BlockMatrix, Record
from .kspace import BlochSum, generalized_eigenvalues

__all__ = ["DEFAULT_KPOINTS", "DEFAULT_WINDOW", "band_energies", "eigenvalue_errors", "fermi_level_of_spectrum"]

#: Reduced k-points of the comparison: Gamma, zone-boundary points along 1, 2, 3 axes, a general point.
DEFAULT_KPOINTS = ((0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (0.5, 0.5, 0.0), (0.5, 0.5, 0.5), (0.25, 0.125, 0.375))
#: Half-width of the energy window around the Fermi level (eV).
DEFAULT_WINDOW = 2.0


def band_energies(h: BlockMatrix, s: BlockMatrix, orbital_counts: np.ndarray, kpoints) -> np.ndarray:
    """Generalised eigenvalues of H(k), S(k) (eV).

    Returns (n_channels, n_k, n_orbitals), ascending per (channel, k); channels are the spin
    channels of ``h`` (1, or 2 for collinear spin), each with the spinless ``s``.
    """
    hk, sk = BlochSum(h, orbital_counts), BlochSum(s, orbital_counts)
    n_ch = 2 if h.spin == "collinear" else 1
    return np.array([[generalized_eigenvalues(hk(k, channel=c), sk(k)) for k in kpoints] for c in range(n_ch)])


def fermi_level_of_spectrum(record: Record, energies: np.ndarray) -> tuple[float, str]:
    """The Fermi level (eV) and where it came from.

    ``record.fermi_energy`` where the run states it; else midway between the highest occupied
    and the lowest empty state over the k-points given, counting n_electrons / 2 states per k
    for a spin-degenerate spectrum (n_electrons over both channels for collinear spin).

    Parameters
    ----------
    energies
        (n_channels, n_k, n_bands) reference eigenvalues (eV).
    """
    if record.fermi_energy is not None and np.isfinite(record.fermi_energy):
        return float(record.fermi_energy), "record"
    if record.n_electrons is None:
        raise ValueError(f"{record.source.path}: neither a Fermi level nor an electron count is stored")
    n_ch, n_k, _ = energies.shape
    n_occ = round(record.n_electrons * n_ch / 2)  # states per k (over channels)
    per_k = np.sort(energies.transpose(1, 0, 2).reshape(n_k, -1), axis=1)
    return 0.5 * float(per_k[:, n_occ - 1].max() + per_k[:, n_occ].min()), "midgap"


def eigenvalue_errors(
    record: Record,
    predicted_h: BlockMatrix,
    kpoints=DEFAULT_KPOINTS,
    window: float = DEFAULT_WINDOW,
    align: bool = False,
) -> dict:
    """Errors of the band energies of ``predicted_h`` (with the record's S) near E_F.

    Parameters
    ----------
    record
        Holds the reference H and S.
    predicted_h
        The predicted H (eV), same atoms and spin channels as ``record.operators["H"]``.
    kpoints
        Reduced k-points; only Gamma for a gamma-only record.
    window
        Bands whose reference energy lies within E_F +- ``window`` (eV) are compared.
    align
        Remove the mean error in the window first (a model trained up to H + mu S,
        slem-model.md 4.2, predicts the bands up to a constant shift).

    Returns
    -------
    dict: ``errors`` (n,) |e_pred - e_ref| in eV of the compared (channel, k, band) states,
    ``fermi`` (eV), ``fermi_source``, ``kpoints`` (list of 3-lists) used, ``shift`` (eV,
    removed mean error; 0 without ``align``).
    """
    kpoints = [(0.0, 0.0, 0.0)] if record.gamma_only else [tuple(map(float, k)) for k in kpoints]
    counts = record.orbital_counts
    reference = band_energies(record.operators["H"], record.operators["S"], counts, kpoints)
    predicted = band_energies(predicted_h, record.operators["S"], counts, kpoints)
    fermi, source = fermi_level_of_spectrum(record, reference)
    inside = np.abs(reference - fermi) <= window
    diff = (predicted - reference)[inside]
    shift = float(diff.mean()) if align and diff.size else 0.0
    return {
        "errors": np.abs(diff - shift),
        "fermi": fermi,
        "fermi_source": source,
        "kpoints": [list(k) for k in kpoints],
        "shift": shift,
    }
