"""Records <-> model samples: graphs with padded target blocks, and predicted blocks back to
:class:`slem_dft.data.BlockMatrix` (slem-model.md 1.4-1.6)."""

from __future__ import annotations

import numpy as np

from ..data import SPIN_LAYOUTS, BlockMatrix, Record
from ..errors import ConfigError
from .graph import build_graph
from .irreps import PaddedBasis

__all__ = ["SPIN_OF_CHANNELS", "operator_channels", "record_to_sample", "blocks_to_operator"]

#: spin channels the model predicts -> spin layout of the operator
SPIN_OF_CHANNELS = {n: spin for spin, n in SPIN_LAYOUTS.items() if n <= 2}


def operator_channels(record: Record, op: str) -> int:
    """Spin channels the model predicts for ``op`` of ``record`` (1 or 2)."""
    if op not in record.operators:
        raise ConfigError(f"{record.source.path}: operator {op} is not stored (stored: {sorted(record.operators)})")
    spin = record.operators[op].spin
    if spin == "spinor":
        raise ConfigError(f"{record.source.path}: {op} has spinor (nspin 4) blocks; the model predicts nspin 1 and "
                          "2 only (spinor prediction with D^1/2 x D^l is not implemented)")
    return SPIN_LAYOUTS[spin]


def record_to_sample(record: Record, basis: PaddedBasis, radii: np.ndarray, operators: dict[str, int]) -> dict:
    """The graph of a record and its padded targets.

    Returns :func:`build_graph`'s arrays plus, per operator, ``node_<op>`` (n, ch, N, N) onsite
    blocks and ``half_<op>`` (H, ch, N, N) blocks of the predicted hopping edges (zero where
    the record stores no block: beyond the orbitals' reach).
    """
    species = basis.species_index(record.species)
    graph = build_graph(record.atoms, species, radii)
    src, dst, shift = graph["edge_src"], graph["edge_dst"], graph["edge_shift"]
    n = basis.n_orb
    for op, n_ch in operators.items():
        if operator_channels(record, op) != n_ch:
            raise ConfigError(f"{record.source.path}: {op} has {operator_channels(record, op)} spin channels, "
                              f"the model {n_ch}")
        matrix = record.operators[op]
        node = np.zeros((len(species), n_ch, n, n))
        for i, s in enumerate(species):
            e = matrix.find(i, i, (0, 0, 0))
            if e is not None:
                node[i] = basis.pad(matrix.block(e), s, s)
        half = np.zeros((len(graph["half"]), n_ch, n, n))
        for k, e in enumerate(graph["half"]):
            found = matrix.find(src[e], dst[e], shift[e])
            if found is not None:
                half[k] = basis.pad(matrix.block(found), species[src[e]], species[dst[e]])
        graph[f"node_{op}"], graph[f"half_{op}"] = node, half
    return graph


def blocks_to_operator(basis: PaddedBasis, graph: dict, onsite: np.ndarray, hopping: np.ndarray) -> BlockMatrix:
    """Predicted padded blocks of one structure -> the full (both directions) BlockMatrix.

    Parameters
    ----------
    onsite, hopping
        (n, ch, N, N) and (H, ch, N, N) as the model returns them for ``graph``; ch = 1 gives
        spin "none", 2 "collinear".
    """
    species, src, dst, shift = graph["species"], graph["edge_src"], graph["edge_dst"], graph["edge_shift"]
    half = graph["half"]
    n_atoms = len(species)
    edges = np.concatenate([np.column_stack([np.arange(n_atoms), np.arange(n_atoms), np.zeros((n_atoms, 3), int)]),
                            np.column_stack([src[half], dst[half], shift[half]])]).astype(np.int64)
    blocks = [basis.unpad(onsite[i], s, s) for i, s in enumerate(species)]
    blocks += [basis.unpad(hopping[k], species[src[e]], species[dst[e]]) for k, e in enumerate(half)]
    shapes = np.array([b.shape[1:] for b in blocks], dtype=np.int64)
    values = np.concatenate([b.reshape(b.shape[0], -1) for b in blocks], axis=1).astype(np.float64)
    return BlockMatrix(edges, shapes, values, SPIN_OF_CHANNELS[onsite.shape[1]]).expand_hermitian()
