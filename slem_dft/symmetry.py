"""Space-group checks of the orbital convention on parsed data.

A crystal operation g: x -> W x + w (reduced coordinates) maps atom a to g(a) and must map
every block as O_{g(a) g(a')}(R') = D(Q) O_{a a'}(R) D(Q)^T, with Q the Cartesian rotation
and D the block-diagonal real-harmonic rotation of each atom's shells
(:func:`slem_dft.harmonics.wigner_D_real`). A wrong m order or sign in a reader shows up as
a large deviation under operations that mix m (e.g. C3 about [111]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .data import Record, SpeciesBasis
from .errors import ConventionError
from .harmonics import wigner_D_real

__all__ = ["SymmetryOperation", "space_group_operations", "species_rotation", "symmetry_deviation"]


@dataclass(frozen=True, eq=False)
class SymmetryOperation:
    """x -> W x + w in reduced coordinates, with its Cartesian rotation Q (r -> Q r + t)."""

    W: np.ndarray
    w: np.ndarray
    Q: np.ndarray


def space_group_operations(record: Record, symprec: float = 1e-5) -> list[SymmetryOperation]:
    """The space-group operations of the record's structure (spglib), species labels included."""
    import spglib

    if hasattr(spglib, "error"):  # spglib >= 2.5: raise errors instead of returning None
        spglib.error.OLD_ERROR_HANDLING = False
    atoms = record.atoms
    labels = {s: n for n, s in enumerate(dict.fromkeys(record.species))}
    cell = (atoms.cell.array, atoms.get_scaled_positions(wrap=False), [labels[s] for s in record.species])
    data = spglib.get_symmetry(cell, symprec=symprec)
    A = atoms.cell.array.T  # columns are lattice vectors: r = A x
    return [
        SymmetryOperation(W.astype(float), w, A @ W @ np.linalg.inv(A))
        for W, w in zip(data["rotations"], data["translations"])
    ]


def species_rotation(species: SpeciesBasis, Q: np.ndarray) -> np.ndarray:
    """(n_orb, n_orb) block-diagonal rotation of one atom's canonical orbitals under Q."""
    return scipy.linalg.block_diag(*(wigner_D_real(s.l, Q) for s in species.shells))


def _atom_map(record: Record, op: SymmetryOperation, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """g(a) and the lattice vector L_a with W x_a + w = x_{g(a)} + L_a."""
    frac = record.atoms.get_scaled_positions(wrap=False)
    image = frac @ op.W.T + op.w
    target, shift = np.empty(len(frac), dtype=np.int64), np.empty((len(frac), 3), dtype=np.int64)
    for a, x in enumerate(image):
        d = x - frac
        hits = np.flatnonzero(
            (np.abs(d - np.round(d)).max(axis=1) < tol) & (np.array(record.species) == record.species[a])
        )
        if hits.size != 1:
            raise ConventionError(f"operation does not map atom {a} onto one atom of its species")
        target[a], shift[a] = hits[0], np.round(d[hits[0]])
    return target, shift


def symmetry_deviation(record: Record, operator: str, op: SymmetryOperation, channel: int = 0) -> float:
    """max |O_{g(a)g(a')}(R') - D O_{aa'}(R) D^T| over every stored block (a block whose image
    is not stored counts with its full size)."""
    blocks = record.operators[operator]
    if blocks.spin == "spinor":
        raise ConventionError("spinor blocks also rotate in spin space; compare spin channels separately")
    target, shift = _atom_map(record, op)
    rot = {label: species_rotation(record.basis[label], op.Q) for label in set(record.species)}
    W = np.rint(op.W).astype(np.int64)
    worst = 0.0
    for e, (a, b, *R) in enumerate(blocks.edges.tolist()):
        block = blocks.block(e)[channel]
        expected = rot[record.species[a]] @ block @ rot[record.species[b]].T
        R_image = W @ np.array(R) + shift[b] - shift[a]
        f = blocks.find(target[a], target[b], R_image)
        actual = blocks.block(f)[channel] if f is not None else np.zeros_like(expected)
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst
