"""Atom-pair blocks <-> irreducible features, on one padded basis shared by all species.

Padded basis (slem-model.md 1.4): for every l the largest number of shells any species has;
the k-th shell of degree l of a species (in its own order) occupies padded slot (l, k). A
species with a smaller basis leaves slots empty; per-species orbital masks say which exist.

Block <-> irreps (slem-model.md 1.3): a (2l1+1, 2l2+1) sub-block of shells (a, b) in the
canonical basis maps to the irreps L = |l1-l2|..l1+l2, parity (-1)^(l1+l2), in e3nn's basis:

    o_L = C_L^T vec(U_{l1}^T B U_{l2}),   C_L = sqrt(2L+1) wigner_3j(l1, l2, L),

one orthogonal matrix K_{l1 l2} = kron(U_{l1}, U_{l2}) [C_L ...] per degree pair, so the map is
exact both ways and ||B||_F = ||o||_2. A rotation Q acting as D^{l1}(Q) B D^{l2}(Q)^T on
canonical blocks acts as D^L_e3nn(Q) on each o_L.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from e3nn import o3

from ..data import SpeciesBasis
from ..errors import ConfigError
from .e3nn_basis import change_of_basis

__all__ = ["PaddedBasis", "BlockIrreps", "pair_irreps"]


def pair_irreps(l1: int, l2: int) -> o3.Irreps:
    """Irreps of the product of shells l1 and l2: L = |l1-l2|..l1+l2, parity (-1)^(l1+l2)."""
    p = (-1) ** (l1 + l2)
    return o3.Irreps([(1, (L, p)) for L in range(abs(l1 - l2), l1 + l2 + 1)])


@dataclass(frozen=True)
class PaddedBasis:
    """The padded basis of a model and where each species' orbitals sit in it.

    Attributes
    ----------
    species : tuple of str
        Species labels in model order (index = the model's species index).
    shell_ls : tuple of int
        Degree of every padded shell, ordered by l then zeta.
    orbital_index : tuple of (n_orb_Z,) int64 arrays
        Per species, the padded orbital index of each of its orbitals (species' own order).
    """

    species: tuple[str, ...]
    shell_ls: tuple[int, ...]
    orbital_index: tuple[np.ndarray, ...]

    @classmethod
    def from_species(cls, bases: Iterable[SpeciesBasis]) -> PaddedBasis:
        """The padded basis of the given species (duplicates by label must agree)."""
        by_label: dict[str, SpeciesBasis] = {}
        for sb in bases:
            known = by_label.setdefault(sb.label, sb)
            if known.ls != sb.ls:
                raise ConfigError(f"species {sb.label!r} has two different bases: {known.ls} and {sb.ls}")
        labels = tuple(sorted(by_label))
        lmax = max(max(by_label[s].ls) for s in labels)
        counts = [max(by_label[s].ls.count(l) for s in labels) for l in range(lmax + 1)]
        shell_ls = tuple(l for l in range(lmax + 1) for _ in range(counts[l]))
        start = np.concatenate([[0], np.cumsum([2 * l + 1 for l in shell_ls])])
        first = {l: shell_ls.index(l) for l in set(shell_ls)}
        index = []
        for s in labels:
            seen = {l: 0 for l in first}
            rows = []
            for l in by_label[s].ls:
                a = first[l] + seen[l]
                seen[l] += 1
                rows.append(np.arange(start[a], start[a + 1]))
            index.append(np.concatenate(rows).astype(np.int64))
        return cls(labels, shell_ls, tuple(index))

    @property
    def n_orb(self) -> int:
        """Number of padded orbitals N."""
        return sum(2 * l + 1 for l in self.shell_ls)

    @property
    def lmax(self) -> int:
        return max(self.shell_ls)

    def species_index(self, labels: Sequence[str]) -> np.ndarray:
        """(n,) int64 model species index of each label."""
        lookup = {s: k for k, s in enumerate(self.species)}
        missing = sorted(set(labels) - set(lookup))
        if missing:
            raise ConfigError(f"species {missing} are not in the model (model species: {list(self.species)})")
        return np.array([lookup[s] for s in labels], dtype=np.int64)

    def orbital_mask(self) -> np.ndarray:
        """(n_species, N) bool: which padded orbitals each species has."""
        mask = np.zeros((len(self.species), self.n_orb), dtype=bool)
        for k, idx in enumerate(self.orbital_index):
            mask[k, idx] = True
        return mask

    def pad(self, blocks: np.ndarray, species_i: int, species_j: int) -> np.ndarray:
        """(n, n_orb_i, n_orb_j) species blocks -> (n, N, N) padded blocks (zeros elsewhere)."""
        out = np.zeros(blocks.shape[:-2] + (self.n_orb, self.n_orb), dtype=blocks.dtype)
        out[..., self.orbital_index[species_i][:, None], self.orbital_index[species_j][None, :]] = blocks
        return out

    def unpad(self, blocks: np.ndarray, species_i: int, species_j: int) -> np.ndarray:
        """(n, N, N) padded blocks -> (n, n_orb_i, n_orb_j) blocks of the species' orbitals."""
        return blocks[..., self.orbital_index[species_i][:, None], self.orbital_index[species_j][None, :]]

    def to_dict(self) -> dict:
        """Plain lists (for checkpoints loadable with ``weights_only=True``)."""
        return {
            "species": list(self.species),
            "shell_ls": list(self.shell_ls),
            "orbital_index": [idx.tolist() for idx in self.orbital_index],
        }

    @classmethod
    def from_dict(cls, d: dict) -> PaddedBasis:
        return cls(
            tuple(d["species"]), tuple(d["shell_ls"]), tuple(np.asarray(i, dtype=np.int64) for i in d["orbital_index"])
        )


class BlockIrreps(torch.nn.Module):
    """Exact, orthogonal map between padded (N, N) blocks and irreps features.

    Parameters
    ----------
    shell_ls
        Degrees of the padded shells (:attr:`PaddedBasis.shell_ls`).
    symmetric
        False: every shell pair (a, b) is a slot (hopping blocks, N^2 numbers).
        True: only a <= b (onsite blocks, which are symmetric; slem-model.md 1.4 item 3);
        :meth:`to_blocks` returns the symmetric block.

    Attributes
    ----------
    irreps_out : o3.Irreps
        Feature layout: for each slot in order, ``pair_irreps(l_a, l_b)`` (not simplified).
    slots : list of (a, b)
    """

    def __init__(self, shell_ls: Sequence[int], symmetric: bool):
        super().__init__()
        self.shell_ls = tuple(shell_ls)
        self.symmetric = symmetric
        start = np.concatenate([[0], np.cumsum([2 * l + 1 for l in self.shell_ls])])
        n = int(start[-1])
        self.n_orb = n
        self.slots = [(a, b) for a in range(len(shell_ls)) for b in range(len(shell_ls)) if not symmetric or a <= b]
        irreps, feat_start, f = [], [], 0
        for a, b in self.slots:
            feat_start.append(f)
            ir = pair_irreps(self.shell_ls[a], self.shell_ls[b])
            irreps += list(ir)
            f += ir.dim
        self.irreps_out = o3.Irreps(irreps)
        self.degree_pairs = sorted({(self.shell_ls[a], self.shell_ls[b]) for a, b in self.slots})
        feat_order, block_order = [], []
        for g, (l1, l2) in enumerate(self.degree_pairs):
            self.register_buffer(f"K{g}", self._transform(l1, l2), persistent=False)
            mine = [k for k, (a, b) in enumerate(self.slots) if (self.shell_ls[a], self.shell_ls[b]) == (l1, l2)]
            block_idx = np.stack(
                [
                    (start[self.slots[k][0]] + np.arange(2 * l1 + 1))[:, None] * n
                    + start[self.slots[k][1]]
                    + np.arange(2 * l2 + 1)[None, :]
                    for k in mine
                ]
            )
            self.register_buffer(f"block_idx{g}", torch.as_tensor(block_idx.reshape(len(mine), -1)), persistent=False)
            feat_order.append(np.concatenate([feat_start[k] + np.arange((2 * l1 + 1) * (2 * l2 + 1)) for k in mine]))
            block_order.append(block_idx.reshape(-1))
        # group-major concatenation -> slot-major layout, and back
        self.register_buffer("feat_perm", torch.as_tensor(np.argsort(np.concatenate(feat_order))), persistent=False)
        inverse = np.full(n * n, -1, dtype=np.int64)  # -1: lower triangle of a symmetric block (zero)
        cat = np.concatenate(block_order)
        inverse[cat] = np.arange(len(cat))
        inverse[inverse < 0] = len(cat)
        self.register_buffer("block_perm", torch.as_tensor(inverse), persistent=False)
        diag = np.zeros(len(cat) + 1)
        if symmetric:
            for a in range(len(shell_ls)):
                rows = np.arange(start[a], start[a + 1])
                diag[inverse[(rows[:, None] * n + rows[None, :]).reshape(-1)]] = 1.0
        self.register_buffer("diag_slot", torch.as_tensor(diag, dtype=torch.bool), persistent=False)

    @staticmethod
    def _transform(l1: int, l2: int) -> torch.Tensor:
        """K (d1 d2, d1 d2) float64 orthogonal: features = vec(B_canonical) @ K."""
        u = torch.kron(change_of_basis(l1), change_of_basis(l2))
        cg = [
            o3.wigner_3j(l1, l2, L, dtype=torch.float64).reshape((2 * l1 + 1) * (2 * l2 + 1), 2 * L + 1)
            * (2 * L + 1) ** 0.5
            for L in range(abs(l1 - l2), l1 + l2 + 1)
        ]
        return u @ torch.cat(cg, dim=1)

    def _K(self, g: int) -> torch.Tensor:
        return getattr(self, f"K{g}")

    def to_irreps(self, blocks: torch.Tensor) -> torch.Tensor:
        """(..., N, N) canonical blocks -> (..., irreps_out.dim) features (e3nn basis)."""
        flat = blocks.reshape(*blocks.shape[:-2], self.n_orb * self.n_orb)
        parts = [
            (flat[..., getattr(self, f"block_idx{g}")] @ self._K(g).to(blocks.dtype)).flatten(-2)
            for g in range(len(self.degree_pairs))
        ]
        return torch.cat(parts, dim=-1)[..., self.feat_perm]

    def to_blocks(self, features: torch.Tensor) -> torch.Tensor:
        """(..., irreps_out.dim) features -> (..., N, N) canonical blocks (symmetric if
        ``symmetric``: slot (a, b) fills B_ab and B_ba^T, diagonal slots are symmetrised)."""
        grouped = features[..., torch.argsort(self.feat_perm)]
        parts, f = [], 0
        for g, (l1, l2) in enumerate(self.degree_pairs):
            n_slots = getattr(self, f"block_idx{g}").shape[0]
            size = (2 * l1 + 1) * (2 * l2 + 1)
            chunk = grouped[..., f : f + n_slots * size].unflatten(-1, (n_slots, size))
            parts.append((chunk @ self._K(g).to(features.dtype).T).flatten(-2))
            f += n_slots * size
        cat = torch.cat(parts + [features.new_zeros(features.shape[:-1] + (1,))], dim=-1)
        if self.symmetric:
            cat = torch.where(self.diag_slot, 0.5 * cat, cat)
        out = cat[..., self.block_perm].unflatten(-1, (self.n_orb, self.n_orb))
        return out + out.transpose(-1, -2) if self.symmetric else out

    def slot_mask(self, orbital_mask_i: torch.Tensor, orbital_mask_j: torch.Tensor) -> torch.Tensor:
        """(..., irreps_out.dim) bool: features of slots whose shells exist on both sides.

        ``orbital_mask_i/j`` are (..., N) bool masks of the two atoms' padded orbitals."""
        pair = orbital_mask_i[..., :, None] & orbital_mask_j[..., None, :]
        flat = pair.reshape(*pair.shape[:-2], -1)
        parts = [
            flat[..., getattr(self, f"block_idx{g}")]
            .all(-1, keepdim=True)
            .expand(*flat.shape[:-1], -1, (2 * l1 + 1) * (2 * l2 + 1))
            .flatten(-2)
            for g, (l1, l2) in enumerate(self.degree_pairs)
        ]
        return torch.cat(parts, dim=-1)[..., self.feat_perm]
