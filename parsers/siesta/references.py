"""SIESTA's eigenvalue files as :class:`slem_dft.reference.BandReference` objects."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from slem_dft.data import Record
from slem_dft.errors import FileFormatError
from slem_dft.reference import BandReference
from slem_dft.units import siesta_units

from .structure import find_companion
from .text import read_eig, read_fdf, read_kp

__all__ = ["eig_reference", "find_references"]


def eig_reference(
    eig: str | os.PathLike, kp: str | os.PathLike | None, record: Record, bohr_to_ang: float, occupied_only: bool = True
) -> BandReference:
    """An ``.EIG`` with its ``.KP`` (Cartesian, 1/Bohr) as a band reference in reduced k.

    k_red = A k / 2 pi with A the cell rows in Bohr (``bohr_to_ang``: the writing version's
    constant). Without a KP file the EIG must hold Gamma alone. With ``occupied_only`` the
    bands are cut after the highest one that lies below the Fermi level at some k-point:
    SIESTA's high-lying bands carry the SCF convergence error (formats-siesta.md, Fe: 2.4 meV
    at +180 eV) and are not what the check is about.
    """
    printed = read_eig(eig)
    energies = printed.energies
    n_k = energies.shape[1]
    if kp is None:
        if n_k != 1:
            raise FileFormatError(eig, f"{n_k} k-points but no .KP file to place them")
        kpoints = np.zeros((1, 3))
    else:
        cart, _ = read_kp(kp)
        if len(cart) != n_k:
            raise FileFormatError(kp, f"{len(cart)} k-points, but {Path(eig).name} has {n_k}")
        kpoints = cart @ (record.atoms.cell.array / bohr_to_ang).T / (2 * np.pi)
    if occupied_only:
        n_occ = int((energies < printed.fermi).sum(axis=2).max())
        energies = energies[:, :, : max(n_occ, 1)]
    return BandReference(os.fspath(eig), kpoints, np.ascontiguousarray(energies), printed.resolution)


def find_references(directory: Path, record: Record) -> list[BandReference]:
    """The ``<SystemLabel>.EIG`` (or only ``.EIG``) of ``directory``, with its ``.KP``."""
    label = read_fdf(directory).system_label
    eig = find_companion([directory], ".EIG", label)
    if eig is None:
        return []
    kp = find_companion([directory], ".KP", label)
    return [eig_reference(eig, kp, record, siesta_units(record.source.code_version)[1])]
