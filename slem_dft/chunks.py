"""Spatial chunks of a structure for inference in bounded memory (slem-model.md 5).

Atoms are binned on a grid of the cell (cell lists: bins at least one cutoff wide, built in
O(n_atoms)). A chunk is a block of bins; its *centres* C are the atoms in it. The blocks a
chunk predicts are the onsite blocks of C and the hermitian-half hopping blocks (i, j, R) with
i in C. By strict locality (:mod:`slem_dft.nn.model`) those need the edge stream on those
edges and their partners, and node states of C and of its halo H (atoms within one cutoff of
C); a node state needs the complete star of its atom. So a chunk graph holds the stars of
C + H, and the atoms they reach (ghosts, whose own states are never used). Neighbours come from
a k-d tree over the atoms (and periodic images) of the bins within two cutoffs of the block.

The chunk graph is the global graph (:func:`slem_dft.nn.graph.build_graph`) restricted to
the edges leaving C + H, in the same edge order, so a node sums its messages in the same
order as in one whole-structure pass. The decomposition depends on the structure and the
chunk size only, never on how many processes share the chunks, so a distributed run
reproduces a single-process one bit for bit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import ase
import numpy as np
from scipy.spatial import cKDTree

from .nn.graph import edge_index, hermitian_half

__all__ = ["CellList", "ChunkGraph", "Chunking", "chunk_graph"]


def _plane_spacings(cell: np.ndarray) -> np.ndarray:
    """(3,) distances between neighbouring lattice planes of ``cell`` (Angstrom)."""
    return 1.0 / np.linalg.norm(np.linalg.inv(cell).T, axis=1)


class CellList:
    """Atoms of a structure binned on a grid of its cell.

    Parameters
    ----------
    atoms
        The structure; non-periodic directions are binned over the extent of the atoms.
    cutoff
        Largest pair cutoff (Angstrom); bins are at least this wide across.

    Attributes
    ----------
    cell : (3, 3) cell used for binning (``atoms.cell`` completed where a vector is zero)
    offset : (n_atoms, 3) int64, lattice vectors subtracted to wrap each atom into the cell
        (periodic directions only): wrapped = positions - offset @ cell
    wrapped : (n_atoms, 3) wrapped positions (Angstrom)
    n_bins : (3,) int64 bins per direction
    width : (3,) float, bin width across (Angstrom)
    bin_of : (n_atoms, 3) int64 bin of each atom
    """

    def __init__(self, atoms: ase.Atoms, cutoff: float):
        self.cutoff = float(cutoff)
        self.pbc = np.asarray(atoms.pbc, dtype=bool)
        self.cell = np.asarray(atoms.cell.complete(), dtype=np.float64)
        positions = np.asarray(atoms.positions, dtype=np.float64)
        frac = np.linalg.solve(self.cell.T, positions.T).T
        self.offset = np.where(self.pbc, np.floor(frac), 0.0).astype(np.int64)
        frac = frac - self.offset
        self.wrapped = positions - self.offset @ self.cell
        lo = np.where(self.pbc, 0.0, frac.min(axis=0) if len(frac) else 0.0)
        span = np.where(self.pbc, 1.0, np.ptp(frac, axis=0) if len(frac) else 0.0)
        length = span * _plane_spacings(self.cell)
        self.n_bins = np.maximum(1, np.floor(length / self.cutoff)).astype(np.int64)
        self.width = np.where(length > 0, length / self.n_bins, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(span > 0, (frac - lo) / span, 0.0) * self.n_bins
        self.bin_of = np.clip(np.floor(scaled).astype(np.int64), 0, self.n_bins - 1)
        linear = self._linear(self.bin_of)
        self.order = np.argsort(linear, kind="stable")
        self.start = np.searchsorted(linear[self.order], np.arange(int(np.prod(self.n_bins)) + 1))

    def _linear(self, bins: np.ndarray) -> np.ndarray:
        return (bins[:, 0] * self.n_bins[1] + bins[:, 1]) * self.n_bins[2] + bins[:, 2]

    def atoms_in(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Atoms (sorted indices) in the bins lo <= b < hi (no wrapping)."""
        ranges = [np.arange(a, b) for a, b in zip(lo, hi)]
        bins = np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(-1, 3)
        return np.sort(self._gather(self._linear(bins)))

    def _gather(self, linear: np.ndarray) -> np.ndarray:
        begin, end = self.start[linear], self.start[linear + 1]
        counts = end - begin
        first = np.repeat(begin - np.cumsum(counts) + counts, counts)
        return self.order[first + np.arange(counts.sum())]

    def images_near(self, lo: np.ndarray, hi: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
        """Atoms and periodic images in the bins lo <= b < hi widened by ``reach`` (Angstrom).

        Returns
        -------
        atoms : (m,) int64 atom indices
        shifts : (m, 3) int64 lattice shifts: the image sits at wrapped[atom] + shift @ cell
        """
        pad = np.ceil(reach / self.width)  # 0 across a flat non-periodic direction (infinite width)
        axes = []
        for a in range(3):
            b = np.arange(lo[a] - pad[a], hi[a] + pad[a]).astype(np.int64)
            if not self.pbc[a]:
                b = b[(b >= 0) & (b < self.n_bins[a])]
            axes.append(b)
        bins = np.array(list(itertools.product(*axes)), dtype=np.int64).reshape(-1, 3)
        wrapped_bins, shifts = np.mod(bins, self.n_bins), np.floor_divide(bins, self.n_bins)
        linear = self._linear(wrapped_bins)
        counts = self.start[linear + 1] - self.start[linear]
        return self._gather(linear), np.repeat(shifts, counts, axis=0)

    def blocks(self, atoms_per_chunk: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Blocks of bins (lo, hi) holding about ``atoms_per_chunk`` atoms each, as cubic as the
        grid allows, in lexicographic order; empty blocks are left out."""
        n_atoms = len(self.bin_of)
        per_bin = max(n_atoms / float(np.prod(self.n_bins)), 1e-12)
        side = (atoms_per_chunk / per_bin) ** (1.0 / 3.0)  # in bins, for cubic bins
        finite = np.where(np.isfinite(self.width), self.width, self.width[np.isfinite(self.width)].min(initial=1.0))
        mean_width = float(np.exp(np.mean(np.log(finite))))
        k = np.clip(np.round(side * mean_width / finite), 1, self.n_bins).astype(np.int64)
        out = []
        for corner in itertools.product(*(range(0, int(n), int(step)) for n, step in zip(self.n_bins, k))):
            lo = np.array(corner, dtype=np.int64)
            hi = np.minimum(lo + k, self.n_bins)
            if len(self.atoms_in(lo, hi)):
                out.append((lo, hi))
        return out


@dataclass(frozen=True, eq=False)
class ChunkGraph:
    """The graph of one chunk.

    Attributes
    ----------
    graph : dict of arrays as :func:`slem_dft.nn.graph.build_graph` returns (local node
        indices), with ``half`` the hermitian-half edges leaving the centres and
        ``edge_active`` the edges whose edge stream is needed (those and their partners)
    atoms : (n_local,) int64 global index of each local node (sorted)
    centres : (n_c,) int64 local indices of the centre atoms
    """

    graph: dict
    atoms: np.ndarray
    centres: np.ndarray


def _stars(
    cells: CellList,
    positions: np.ndarray,
    tree: cKDTree,
    image_atoms: np.ndarray,
    image_shifts: np.ndarray,
    owners: np.ndarray,
    species: np.ndarray,
    radii: np.ndarray,
):
    """Edges (src, dst, R) and their pair cutoffs from the images ``owners`` to every image
    within the pair cutoff, in global atom labels and the lattice shifts of the unwrapped
    positions."""
    neighbours = tree.query_ball_point(positions[owners], cells.cutoff)
    counts = np.array([len(n) for n in neighbours], dtype=np.int64)
    a = np.repeat(owners, counts)
    b = np.concatenate([np.asarray(n, dtype=np.int64) for n in neighbours]) if len(owners) else a
    keep = a != b
    a, b = a[keep], b[keep]
    src, dst = image_atoms[a], image_atoms[b]
    cutoff = 0.5 * (radii[species[src]] + radii[species[dst]])
    inside = np.linalg.norm(positions[b] - positions[a], axis=1) < cutoff
    src, dst, a, b, cutoff = src[inside], dst[inside], a[inside], b[inside], cutoff[inside]
    shift = image_shifts[b] - image_shifts[a] - cells.offset[dst] + cells.offset[src]
    return src, dst, shift, cutoff


def chunk_graph(
    cells: CellList,
    atoms: ase.Atoms,
    species: np.ndarray,
    radii: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    halo: bool = True,
) -> ChunkGraph:
    """The graph of the chunk whose centres are the atoms in the bins lo <= b < hi; without
    ``halo`` only the centres' own stars (enough for blocks that need no message passing)."""
    centres = cells.atoms_in(lo, hi)
    image_atoms, image_shifts = cells.images_near(lo, hi, (2.0 if halo else 1.0) * cells.cutoff)
    positions = cells.wrapped[image_atoms] + image_shifts @ cells.cell
    tree = cKDTree(positions)
    home = np.flatnonzero(np.isin(image_atoms, centres) & ~image_shifts.any(axis=1))
    if halo:
        near = tree.query_ball_point(positions[home], cells.cutoff)
        reached = np.unique(np.concatenate([home, *[np.asarray(n, dtype=np.int64) for n in near]]))
        # one image per atom of C + H: every image of an atom has the same star up to a shift
        _, first = np.unique(image_atoms[reached], return_index=True)
        owners = reached[first]
    else:
        owners = home
    src, dst, shift, cutoff = _stars(cells, positions, tree, image_atoms, image_shifts, owners, species, radii)
    order = np.lexsort((shift[:, 2], shift[:, 1], shift[:, 0], dst, src))
    src, dst, shift, cutoff = src[order], dst[order], shift[order], cutoff[order]
    local_atoms = np.union1d(image_atoms[owners], dst)
    local_src, local_dst = np.searchsorted(local_atoms, src), np.searchsorted(local_atoms, dst)
    reverse = edge_index(local_src, local_dst, shift, local_dst, local_src, -shift)
    half = np.flatnonzero(np.isin(src, centres) & hermitian_half(src, dst, shift))
    partners = reverse[half]
    active = np.unique(np.concatenate([half, partners[partners >= 0]]))  # partners all found with the halo
    graph = {
        "positions": np.asarray(atoms.positions, dtype=np.float64)[local_atoms],
        "cell": np.asarray(atoms.cell.array, dtype=np.float64),
        "species": species[local_atoms],
        "edge_src": local_src,
        "edge_dst": local_dst,
        "edge_shift": shift,
        "half": half,
        "reverse": reverse,
        "cutoff": cutoff,
        "edge_active": active,
    }
    return ChunkGraph(graph, local_atoms, np.searchsorted(local_atoms, centres))


class Chunking:
    """The chunk decomposition of a structure: ``len(chunking)`` chunks, ``chunking[k]`` the
    :class:`ChunkGraph` of chunk k (built on demand); every atom is a centre of exactly one.

    Parameters
    ----------
    atoms
        Structure (Angstrom).
    species
        (n_atoms,) int64 model species index of each atom.
    radii
        (n_species,) per-species radius r_Z (Angstrom); pair cutoff (r_Zi + r_Zj) / 2.
    atoms_per_chunk
        Target number of centre atoms per chunk: sets the peak memory of inference.
    halo
        Whether chunk graphs hold the stars of the halo atoms (needed by the network).
    """

    def __init__(
        self, atoms: ase.Atoms, species: np.ndarray, radii: np.ndarray, atoms_per_chunk: int = 256, halo: bool = True
    ):
        self.atoms, self.halo = atoms, halo
        self.species = np.asarray(species, dtype=np.int64)
        self.radii = np.asarray(radii, dtype=np.float64)
        self.cells = CellList(atoms, float(self.radii.max()))
        self.blocks = self.cells.blocks(max(1, int(atoms_per_chunk)))

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, k: int) -> ChunkGraph:
        lo, hi = self.blocks[k]
        return chunk_graph(self.cells, self.atoms, self.species, self.radii, lo, hi, self.halo)
