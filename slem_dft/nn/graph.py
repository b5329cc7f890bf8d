"""Neighbour graphs of structures and their batching (slem-model.md 1.5-1.6).

Directed edges (i, j, R) with r_ij = r_j + R.A - r_i and |r_ij| < r_c(Z_i, Z_j) =
(r_Zi + r_Zj) / 2 feed the network in both directions (node i aggregates over all its edges).
Hopping blocks are returned for the hermitian half: i < j, or i == j with the first non-zero
component of R positive (the rule of :meth:`slem_dft.data.BlockMatrix.hermitian_half`); the
partner block (j, i, -R) is the transpose. Since that rule depends on the atom labels, the model
predicts both directions and averages them (slem-model.md 1.6, REF scheme), which keeps it
permutation-equivariant. Onsite blocks come from the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import numpy as np
import torch
from ase.neighborlist import primitive_neighbor_list

__all__ = ["build_graph", "edge_index", "hermitian_half", "collate"]


def hermitian_half(src: np.ndarray, dst: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(n_edges,) bool: the edges whose hopping block is predicted (one of each partner pair)."""
    nonzero = shift != 0
    first = np.argmax(nonzero, axis=1)
    sign = np.sign(shift[np.arange(len(shift)), first])
    return (src < dst) | ((src == dst) & (sign > 0))


def edge_index(src: np.ndarray, dst: np.ndarray, shift: np.ndarray, q_src: np.ndarray, q_dst: np.ndarray,
               q_shift: np.ndarray) -> np.ndarray:
    """(Q,) int64 index of each queried edge (q_src, q_dst, q_shift) among the edges
    (src, dst, shift), or -1 where it is absent. Vectorised: one integer key per edge."""
    if len(src) == 0 or len(q_src) == 0:
        return np.full(len(q_src), -1, dtype=np.int64)
    width = int(max(np.abs(shift).max(), np.abs(q_shift).max())) * 2 + 1
    n = int(max(src.max(), dst.max(), q_src.max(), q_dst.max())) + 1

    def key(i, j, r):
        r = r + width // 2
        return ((i.astype(np.int64) * n + j) * width + r[:, 0]) * width * width + r[:, 1] * width + r[:, 2]

    keys = key(src, dst, shift)
    order = np.argsort(keys, kind="stable")
    queries = key(q_src, q_dst, q_shift)
    pos = np.clip(np.searchsorted(keys[order], queries), 0, len(keys) - 1)
    found = keys[order][pos] == queries
    return np.where(found, order[pos], -1)


def build_graph(atoms: ase.Atoms, species: np.ndarray, radii: np.ndarray) -> dict[str, np.ndarray]:
    """The graph of one structure, in O(n_atoms) with ASE's cell-list neighbour search.

    Parameters
    ----------
    atoms
        Structure (Angstrom); ``pbc`` decides which directions are periodic.
    species
        (n_atoms,) int64 model species index of each atom.
    radii
        (n_species,) float, Angstrom: per-species radius r_Z; pair cutoff (r_Zi + r_Zj) / 2.

    Returns
    -------
    dict of numpy arrays: ``positions`` (n, 3), ``cell`` (3, 3), ``species`` (n,),
    ``edge_src``, ``edge_dst`` (E,), ``edge_shift`` (E, 3) int64 (R), ``half`` (H,) int64
    (edges whose block is predicted), ``reverse`` (E,) int64 index of each edge's partner
    (j, i, -R), ``cutoff`` (E,) pair cutoffs (Angstrom).
    """
    species = np.asarray(species, dtype=np.int64)
    radii = np.asarray(radii, dtype=np.float64)
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    src, dst, shift, dist = primitive_neighbor_list("ijSd", atoms.pbc, cell, atoms.positions,
                                                    float(radii.max()), self_interaction=False)
    cutoff = 0.5 * (radii[species[src]] + radii[species[dst]])
    keep = dist < cutoff
    src, dst, shift, cutoff = src[keep], dst[keep], shift[keep].astype(np.int64), cutoff[keep]
    order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], dst, src))  # deterministic edge order
    src, dst, shift, cutoff = src[order], dst[order], shift[order], cutoff[order]
    reverse = edge_index(src, dst, shift, dst, src, -shift)
    return {
        "positions": np.asarray(atoms.positions, dtype=np.float64), "cell": cell, "species": species,
        "edge_src": src.astype(np.int64), "edge_dst": dst.astype(np.int64), "edge_shift": shift,
        "half": np.flatnonzero(hermitian_half(src, dst, shift)).astype(np.int64), "reverse": reverse,
        "cutoff": cutoff,
    }


def collate(graphs: Sequence[dict[str, np.ndarray]], dtype: torch.dtype = torch.float32,
            device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Concatenate graphs into one batch of tensors (node indices offset per graph).

    Adds ``node_graph`` (n,) and ``edge_graph`` (E,) graph indices; ``cell`` becomes (G, 3, 3).
    Extra per-node / per-edge / per-half-edge arrays (targets) are concatenated by their
    leading key: ``node_*``, ``edge_*``, ``half_*``.
    """
    out: dict[str, list] = {}
    n_nodes = n_edges = 0
    for g, graph in enumerate(graphs):
        n, e = len(graph["species"]), len(graph["edge_src"])
        for key, value in graph.items():
            if key in ("edge_src", "edge_dst"):
                value = value + n_nodes
            elif key in ("half", "reverse", "edge_active"):
                value = value + n_edges
            elif key == "cell":
                value = value[None]
            out.setdefault(key, []).append(value)
        out.setdefault("node_graph", []).append(np.full(n, g, dtype=np.int64))
        out.setdefault("edge_graph", []).append(np.full(e, g, dtype=np.int64))
        n_nodes, n_edges = n_nodes + n, n_edges + e
    batch = {}
    for key, parts in out.items():
        array = np.concatenate(parts)
        tensor = torch.as_tensor(array, device=device)
        batch[key] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    return batch
