"""Bloch sums of block-sparse operators and the generalised eigenproblem at a k-point.

O(k) = sum_R exp(+i 2 pi k.R) O(R), k in reduced coordinates, assembled as a scipy sparse
matrix whose size is the number of stored elements: no whole H(R) is ever made dense.
Global orbital index: atoms in record order, canonical orbitals within; for spinor
operators the spin index is innermost (2 * orbital + sigma).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .data import BlockMatrix

__all__ = ["DENSE_LIMIT", "element_indices", "BlochSum", "bloch_sum", "spin_expand", "generalized_eigenvalues"]

#: Largest matrix diagonalised densely by default.
DENSE_LIMIT = 4000


def element_indices(op: BlockMatrix, orbital_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global (row, column) of every stored value of ``op`` and the edge it belongs to.

    Returns
    -------
    rows, cols, edge : (n_values,) int64 each (spatial orbital indices)
    """
    atom_start = np.concatenate([[0], np.cumsum(orbital_counts)])
    sizes = op.shapes[:, 0] * op.shapes[:, 1]
    edge = np.repeat(np.arange(op.n_edges), sizes)
    local = np.arange(op.values.shape[1]) - op.offsets[edge]
    n_cols = op.shapes[edge, 1]
    rows = atom_start[op.edges[edge, 0]] + local // n_cols
    cols = atom_start[op.edges[edge, 1]] + local % n_cols
    return rows, cols, edge


class BlochSum:
    """O(k) = sum_R exp(+i 2 pi k.R) O(R) of one operator, for many k.

    The element indices are computed once; each call costs O(n_values).

    Parameters
    ----------
    op
        The operator's blocks.
    orbital_counts
        (n_atoms,) orbitals per atom.
    """

    def __init__(self, op: BlockMatrix, orbital_counts: np.ndarray):
        self.op = op
        rows, cols, self._edge = element_indices(op, orbital_counts)
        n = int(np.sum(orbital_counts))
        if op.spin == "spinor":
            spins = ((0, 0), (0, 1), (1, 0), (1, 1))
            self._rows = np.concatenate([2 * rows + s1 for s1, _ in spins])
            self._cols = np.concatenate([2 * cols + s2 for _, s2 in spins])
            self._edge = np.tile(self._edge, 4)
            n *= 2
        else:
            self._rows, self._cols = rows, cols
        self.shape = (n, n)

    def __call__(self, k: np.ndarray, channel: int = 0, magnitude: bool = False) -> sp.csr_matrix:
        """O(k) as a sparse (n, n) complex matrix (n = orbitals, x2 for spinors).

        ``channel`` picks the spin of "collinear" operators (0 up, 1 down); ``magnitude`` sums
        |O_ij(R)| over R instead (no phases), a bound on the rounding error of O(k).
        """
        op = self.op
        if op.spin == "spinor":
            values = op.values.reshape(-1)
        else:
            values = op.values[channel if op.spin == "collinear" else 0]
        if magnitude:
            data = np.abs(values).astype(np.complex128)
        else:
            phase = np.exp(2j * np.pi * (op.edges[:, 2:] @ np.asarray(k, dtype=np.float64)))
            data = values * phase[self._edge]
        return sp.coo_matrix((data, (self._rows, self._cols)), shape=self.shape).tocsr()


def bloch_sum(
    op: BlockMatrix, orbital_counts: np.ndarray, k: np.ndarray, channel: int = 0, magnitude: bool = False
) -> sp.csr_matrix:
    """O(k) of one operator at one k (see :class:`BlochSum`)."""
    return BlochSum(op, orbital_counts)(k, channel, magnitude)


def spin_expand(op_k: sp.spmatrix) -> sp.csr_matrix:
    """A spinless O(k) in the spinor basis (spin innermost): O(k) x I_2, e.g. the overlap of a
    spin-orbit run whose S is stored without spin."""
    return sp.kron(op_k, sp.identity(2), format="csr")


def generalized_eigenvalues(H, S=None) -> np.ndarray:
    """Eigenvalues of H c = e S c (ascending), dense; H and S sparse or dense arrays,
    ``S=None`` means orthonormal.

    Raises ValueError above ``DENSE_LIMIT``: callers of large systems use shift-invert.
    """
    if H.shape[0] > DENSE_LIMIT:
        raise ValueError(f"matrix of size {H.shape[0]} exceeds the dense limit {DENSE_LIMIT}")
    h = H.toarray() if sp.issparse(H) else np.asarray(H)
    h = 0.5 * (h + h.conj().T)
    if S is None:
        return scipy.linalg.eigvalsh(h)
    s = S.toarray() if sp.issparse(S) else np.asarray(S)
    return scipy.linalg.eigh(h, 0.5 * (s + s.conj().T), eigvals_only=True)
