"""scfout sparse matrices -> canonical :class:`~slem_dft.data.BlockMatrix` operators.

Orientation. OpenMX stores, for atom i in the home cell and its neighbour h, the dense block
X[a, b] = <phi_{i,a}(r - tau_i)| O |phi_{j,b}(r - tau_j - n)>, j = natn[i][h],
n = atv_ijk[ncn[i][h]], and builds O(k) by adding X exp(+2 pi i k.n) at rows of i and columns
of j (formats-openmx.md section 2). That is exactly the canonical block (i, j, R = n): the
values are only reordered within each atom (OpenMX -> standard real harmonics).

Spin. SpinP_switch 0: one channel; OpenMX's DM is per spin, so the total is 2 x DM.
SpinP_switch 1: (up, down) channels of H and DM. SpinP_switch 3: complex spinor channels
(uu, ud, du, dd) with
    H_uu = H0 + i iH0,  H_dd = H1 + i iH1,  H_ud = H2 + i (H3 + iH2),
    DM_uu = DM0 - i iDM0,  DM_dd = DM1 - i iDM1,  DM_ud = DM2 - i DM3,
and the down-up channel from hermiticity, O_du(i, j, R) = O_ud(j, i, -R)^dagger. OpenMX
writes the off-diagonal DM conjugated (DM2 + i DM3 = sum f c*_up c_down), hence the minus
signs; iH enters only under spin-orbit coupling, LDA+U or the NC constraint/Zeeman options,
as in OpenMX's own Hamiltonian_Band_NC.c.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slem_dft.conventions import OPENMX_DM_PER_SPIN, orbital_table
from slem_dft.data import BlockMatrix
from slem_dft.units import HARTREE_TO_EV_OPENMX

from .scfout import Scfout

__all__ = ["Elements", "element_positions", "operator_blocks"]


@dataclass(frozen=True, eq=False)
class Elements:
    """Canonical position of every stored scfout value (same for all sparse matrices).

    Attributes
    ----------
    atom_i, orb_i, atom_j, orb_j : (n_values,) int64
        Row and column atoms and canonical orbital indices within the atoms.
    R : (n_values, 3) int64
        Lattice vector of the column atom.
    sign : (n_values,) float64
        Product of the row and column orbital signs of the convention map.
    orbital_counts : (n_atoms,) int64
    """

    atom_i: np.ndarray
    orb_i: np.ndarray
    atom_j: np.ndarray
    orb_j: np.ndarray
    R: np.ndarray
    sign: np.ndarray
    orbital_counts: np.ndarray


def element_positions(scf: Scfout, shell_ls: Sequence[Sequence[int]]) -> Elements:
    """Index arrays of every stored value, from the scfout's block lists and each atom's
    shell angular momenta (file shell order)."""
    counts = scf.n_orbitals
    start = np.concatenate([[0], np.cumsum(counts)])
    _, canonical, sign_of = orbital_table("openmx", shell_ls)  # per file slot: canonical slot, sign
    n_cols = counts[scf.neighbours]
    sizes = counts[scf.block_atom] * n_cols
    block = np.repeat(np.arange(sizes.size), sizes)
    local = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    atom_i, atom_j = scf.block_atom[block], scf.neighbours[block]
    row = start[atom_i] + local // n_cols[block]
    col = start[atom_j] + local % n_cols[block]
    return Elements(
        atom_i, canonical[row], atom_j, canonical[col], scf.block_cell[block], sign_of[row] * sign_of[col], counts
    )


def _blocks(el: Elements, channels: Sequence[np.ndarray], spin: str) -> BlockMatrix:
    """One BlockMatrix from per-channel values at the element positions."""
    n = len(channels)
    return BlockMatrix.from_entries(
        np.tile(el.atom_i, n),
        np.tile(el.orb_i, n),
        np.tile(el.atom_j, n),
        np.tile(el.orb_j, n),
        np.tile(el.R, (n, 1)),
        np.repeat(np.arange(n), el.atom_i.size),
        np.concatenate(channels) * np.tile(el.sign, n),
        el.orbital_counts,
        spin,
    )


def _spinor(el: Elements, uu: np.ndarray, ud: np.ndarray, dd: np.ndarray) -> BlockMatrix:
    """Spinor blocks from the stored uu, ud, dd values; du(i, j, R) = conj(ud(j, i, -R))."""
    n = el.atom_i.size
    cat = np.concatenate
    values = cat([uu, ud, dd, np.conj(ud)]) * np.tile(el.sign, 4)
    channel = np.repeat([0, 1, 3, 2], n)
    return BlockMatrix.from_entries(
        cat([el.atom_i] * 3 + [el.atom_j]),
        cat([el.orb_i] * 3 + [el.orb_j]),
        cat([el.atom_j] * 3 + [el.atom_i]),
        cat([el.orb_j] * 3 + [el.orb_i]),
        cat([el.R] * 3 + [-el.R]),
        channel,
        values,
        el.orbital_counts,
        "spinor",
    )


def operator_blocks(scf: Scfout, el: Elements, name: str, use_imaginary_h: bool) -> BlockMatrix:
    """Operator ``name`` ("H" eV, "S", "DM" electrons) of the scfout in the canonical convention."""
    m = scf.matrices
    if name == "S":
        return _blocks(el, m["S"], "none")
    if scf.spin == 0:
        factor = HARTREE_TO_EV_OPENMX if name == "H" else 1.0 / OPENMX_DM_PER_SPIN[1]  # DM: per spin -> total
        return _blocks(el, [m[name][0] * factor], "none")
    if scf.spin == 1:
        factor = HARTREE_TO_EV_OPENMX if name == "H" else 1.0 / OPENMX_DM_PER_SPIN[2]
        return _blocks(el, [v * factor for v in m[name]], "collinear")
    if name == "H":
        h = m["H"]
        ih = m["iH"] if use_imaginary_h else [np.zeros_like(h[0])] * 3
        uu, dd, ud = h[0] + 1j * ih[0], h[1] + 1j * ih[1], h[2] + 1j * (h[3] + ih[2])
        return _spinor(el, uu * HARTREE_TO_EV_OPENMX, ud * HARTREE_TO_EV_OPENMX, dd * HARTREE_TO_EV_OPENMX)
    dm = m["DM"]
    idm = m.get("iDM", [np.zeros_like(dm[0])] * 2)  # versions 0-2 store no imaginary diagonal
    return _spinor(el, dm[0] - 1j * idm[0], dm[2] - 1j * dm[3], dm[1] - 1j * idm[1])
