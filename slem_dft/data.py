"""The core data model shared by every reader, writer, the store and the model.

Everything here is in the canonical convention of :mod:`slem_dft.conventions`, in eV and
Angstrom. A block of an operator O is

    O_ij(R) = <phi_i(r - tau_i) | O | phi_j(r - tau_j - R)>,

with R an integer lattice vector (in units of the cell vectors) and tau the positions of the
atoms as stored in ``Record.atoms``; the operator at reduced wave vector k is
O(k) = sum_R exp(+i 2 pi k.R) O(R) (see :mod:`slem_dft.kspace`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import ase
import numpy as np

from .errors import ConventionError

__all__ = [
    "SPIN_LAYOUTS",
    "OPERATORS",
    "Shell",
    "SpeciesBasis",
    "Basis",
    "BlockMatrix",
    "Source",
    "Record",
    "as_atoms",
]

#: Spin layout of an operator -> number of channels. "none": one real channel;
#: "collinear": (up, down) real channels; "spinor": (uu, ud, du, dd) complex channels.
SPIN_LAYOUTS = {"none": 1, "collinear": 2, "spinor": 4}

#: Operators slem-dft stores: Kohn-Sham Hamiltonian (eV), overlap (1), density matrix (electrons).
OPERATORS = ("H", "S", "DM")


def as_atoms(structure) -> ase.Atoms:
    """An ``ase.Atoms`` copy of an ``ase.Atoms`` or a pymatgen ``Structure``/``Molecule``."""
    if isinstance(structure, ase.Atoms):
        return structure.copy()
    if type(structure).__module__.startswith("pymatgen"):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_atoms(structure)
    raise TypeError(f"expected ase.Atoms or a pymatgen structure, got {type(structure).__name__}")


@dataclass(frozen=True, order=True)
class Shell:
    """One radial shell of a basis: angular momentum ``l`` and ``zeta`` (0-based index among
    the shells of the same l)."""

    l: int
    zeta: int

    def __post_init__(self):
        if not 0 <= self.l <= 4:
            raise ConventionError(f"shell l={self.l} is outside the supported range 0..4")
        if self.zeta < 0:
            raise ConventionError(f"shell zeta={self.zeta} must be >= 0")

    @property
    def n_orb(self) -> int:
        return 2 * self.l + 1


@dataclass(frozen=True)
class SpeciesBasis:
    """The ordered shells of one species, as the run's own basis files give them.

    Attributes
    ----------
    label : str
        The species label the run uses (ABACUS ``ATOMIC_SPECIES`` label, e.g. ``"Fe1"``).
    element : str
        Chemical symbol.
    shells : tuple of Shell
        In the DFT code's order; orbitals of a shell are m = -l..l (canonical).
    """

    label: str
    element: str
    shells: tuple[Shell, ...]

    def __post_init__(self):
        if self.element not in ase.data.atomic_numbers:
            raise ConventionError(f"species {self.label!r}: {self.element!r} is not a chemical symbol")
        if not self.shells:
            raise ConventionError(f"species {self.label!r} has no basis shells")

    @property
    def n_orb(self) -> int:
        """Number of (spatial) orbitals of one atom of this species."""
        return sum(s.n_orb for s in self.shells)

    @property
    def ls(self) -> tuple[int, ...]:
        return tuple(s.l for s in self.shells)

    @classmethod
    def from_zeta_counts(cls, label: str, element: str, zetas_per_l: Sequence[int]) -> SpeciesBasis:
        """Shells ordered by l, then zeta (ABACUS order), from the number of zetas per l."""
        shells = tuple(Shell(l, z) for l, n in enumerate(zetas_per_l) for z in range(n))
        return cls(label, element, shells)


@dataclass(frozen=True)
class Basis:
    """The basis of every species of a structure, in a fixed species order."""

    species: tuple[SpeciesBasis, ...]

    def __post_init__(self):
        labels = [s.label for s in self.species]
        if len(set(labels)) != len(labels):
            raise ConventionError(f"duplicate species labels in basis: {labels}")

    @functools.cached_property
    def _by_label(self) -> dict[str, SpeciesBasis]:
        return {s.label: s for s in self.species}

    def __getitem__(self, label: str) -> SpeciesBasis:
        try:
            return self._by_label[label]
        except KeyError:
            raise ConventionError(f"species {label!r} has no basis; known: {list(self._by_label)}") from None

    def __contains__(self, label: str) -> bool:
        return label in self._by_label

    def orbital_counts(self, species: Sequence[str]) -> np.ndarray:
        """(n_atoms,) int64: number of orbitals of each atom with the given species labels."""
        return np.array([self[s].n_orb for s in species], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class BlockMatrix:
    """Sparse atom-pair blocks of one operator, O_ij(R).

    Attributes
    ----------
    edges : (n_edges, 5) int64
        Rows (i, j, Rx, Ry, Rz): atom indices (0-based) and the lattice vector R.
    shapes : (n_edges, 2) int64
        Block shape (n_orb_i, n_orb_j), spatial orbitals.
    values : (n_channels, n_values) float64 or complex128
        All blocks, row-major, one after the other; ``offsets`` locates block e.
        Channels follow ``spin`` (see ``SPIN_LAYOUTS``).
    spin : str
        "none", "collinear" or "spinor".
    """

    edges: np.ndarray
    shapes: np.ndarray
    values: np.ndarray
    spin: str = "none"
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        edges = np.ascontiguousarray(self.edges, dtype=np.int64).reshape(-1, 5)
        shapes = np.ascontiguousarray(self.shapes, dtype=np.int64).reshape(-1, 2)
        if self.spin not in SPIN_LAYOUTS:
            raise ConventionError(f"unknown spin layout {self.spin!r}; known: {list(SPIN_LAYOUTS)}")
        if shapes.shape[0] != edges.shape[0]:
            raise ValueError(f"shapes has {shapes.shape[0]} rows for {edges.shape[0]} edges")
        values = np.asarray(self.values)
        if values.ndim != 2 or values.shape[0] != SPIN_LAYOUTS[self.spin]:
            raise ValueError(f"values must be (n_channels={SPIN_LAYOUTS[self.spin]}, n_values), got {values.shape}")
        if values.dtype not in (np.float64, np.complex128):
            raise ValueError(f"values must be float64 or complex128, got {values.dtype}")
        offsets = np.zeros(edges.shape[0] + 1, dtype=np.int64)
        np.cumsum(shapes[:, 0] * shapes[:, 1], out=offsets[1:])
        if offsets[-1] != values.shape[1]:
            raise ValueError(f"block shapes need {offsets[-1]} values per channel, got {values.shape[1]}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "shapes", shapes)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "offsets", offsets)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_entries(
        cls,
        atom_i: np.ndarray,
        orb_i: np.ndarray,
        atom_j: np.ndarray,
        orb_j: np.ndarray,
        R: np.ndarray,
        channel: np.ndarray,
        values: np.ndarray,
        orbital_counts: np.ndarray,
        spin: str = "none",
    ) -> BlockMatrix:
        """Gather matrix elements into atom-pair blocks.

        Parameters
        ----------
        atom_i, orb_i, atom_j, orb_j : (n,) int
            Atom index and canonical orbital index within the atom, of the row and the column.
        R : (n, 3) int
            Lattice vector of each element.
        channel : (n,) int
            Spin channel of each element.
        values : (n,) float64 or complex128
            The elements; elements absent from the input are zero in their block.
        orbital_counts : (n_atoms,) int
            Orbitals per atom.
        """
        keys = np.column_stack([atom_i, atom_j, np.asarray(R).reshape(-1, 3)]).astype(np.int64)
        edges, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        counts = np.asarray(orbital_counts, dtype=np.int64)
        shapes = np.column_stack([counts[edges[:, 0]], counts[edges[:, 1]]]).reshape(-1, 2)
        offsets = np.zeros(len(edges) + 1, dtype=np.int64)
        np.cumsum(shapes[:, 0] * shapes[:, 1], out=offsets[1:])
        dtype = np.complex128 if np.iscomplexobj(values) else np.float64
        out = np.zeros((SPIN_LAYOUTS[spin], offsets[-1]), dtype=dtype)
        pos = offsets[inverse] + np.asarray(orb_i) * shapes[inverse, 1] + np.asarray(orb_j)
        out[np.asarray(channel), pos] = values
        return cls(edges, shapes, out, spin)

    # -- access -----------------------------------------------------------------------------
    @property
    def n_edges(self) -> int:
        return self.edges.shape[0]

    @property
    def n_channels(self) -> int:
        return self.values.shape[0]

    def block(self, e: int) -> np.ndarray:
        """Block of edge ``e`` as (n_channels, n_orb_i, n_orb_j) (a view)."""
        ni, nj = self.shapes[e]
        return self.values[:, self.offsets[e] : self.offsets[e + 1]].reshape(-1, ni, nj)

    @functools.cached_property
    def _index(self) -> dict[tuple[int, ...], int]:
        return {tuple(row): e for e, row in enumerate(self.edges.tolist())}

    def find(self, i: int, j: int, R: Sequence[int]) -> int | None:
        """Edge index of block (i, j, R), or None when it is not stored."""
        return self._index.get((int(i), int(j), *map(int, R)))

    def __iter__(self) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        for e in range(self.n_edges):
            yield tuple(self.edges[e].tolist()), self.block(e)

    # -- symmetry ---------------------------------------------------------------------------
    def partner_edges(self) -> np.ndarray:
        """(n_edges, 5): the key (j, i, -R) of each edge's hermitian partner."""
        return np.column_stack([self.edges[:, 1], self.edges[:, 0], -self.edges[:, 2:]])

    def _partner_index(self) -> np.ndarray:
        """(n_edges,) index of each edge's partner (j, i, -R), -1 where it is not stored."""
        return np.array([self._index.get(tuple(key), -1) for key in self.partner_edges().tolist()], dtype=np.int64)

    def _value_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_values,) edge of every stored value and its position within its block."""
        edge = np.repeat(np.arange(self.n_edges), self.shapes[:, 0] * self.shapes[:, 1])
        return edge, np.arange(self.values.shape[1]) - self.offsets[edge]

    def adjoint(self) -> BlockMatrix:
        """The blocks of O^dagger: block (j, i, -R) = O_ij(R)^dagger for every stored (i, j, R).

        For spinors the partner's channel (s, s') is the conjugate of channel (s', s)."""
        edge, local = self._value_edges()
        n_cols = self.shapes[edge, 1]
        row, col = local // n_cols, local % n_cols
        target = self.offsets[edge] + col * self.shapes[edge, 0] + row  # transposed, same offset
        values = self.values[[0, 2, 1, 3]] if self.spin == "spinor" else self.values
        out = np.empty_like(values)
        out[:, target] = np.conj(values)
        return BlockMatrix(self.partner_edges(), self.shapes[:, ::-1], out, self.spin)

    def hermiticity_deviation(self) -> float:
        """max |O_ij(R) - O_ji(-R)^dagger| over all stored blocks (a missing partner counts as 0)."""
        if not self.values.size:
            return 0.0
        adjoint, partner = self.adjoint(), self._partner_index()
        edge, local = self._value_edges()
        present = partner[edge] >= 0
        mine = self.values[:, self.offsets[partner[edge[present]]] + local[present]]
        dev = np.abs(mine - adjoint.values[:, present]).max(initial=0.0)
        return float(max(dev, np.abs(adjoint.values[:, ~present]).max(initial=0.0)))

    def hermitised(self) -> BlockMatrix:
        """(O + O^dagger) / 2, sorted; a block whose partner is not stored counts the partner as
        zero (so both appear, halved)."""
        adjoint, partner = self.adjoint(), self._partner_index()
        edge, local = self._value_edges()
        present = partner[edge] >= 0
        values = self.values.copy()
        values[:, present] += adjoint.values[:, self.offsets[partner[edge[present]]] + local[present]]
        values[:, present] *= 0.5
        values[:, ~present] *= 0.5
        out = BlockMatrix(self.edges, self.shapes, values, self.spin)
        missing = partner < 0
        if not missing.any():
            return out.sorted()
        extra = adjoint.select(missing)
        return BlockMatrix(
            np.concatenate([out.edges, extra.edges]),
            np.concatenate([out.shapes, extra.shapes]),
            np.concatenate([out.values, 0.5 * extra.values], axis=1),
            self.spin,
        ).sorted()

    def _is_upper(self) -> np.ndarray:
        """Edges kept in the hermitian half: i < j, or i == j with R >= 0 lexicographically."""
        i, j, R = self.edges[:, 0], self.edges[:, 1], self.edges[:, 2:]
        first = np.argmax(R != 0, axis=1)  # first non-zero component decides the sign of R
        sign = np.sign(R[np.arange(len(R)), first])
        return (i < j) | ((i == j) & (sign >= 0))

    def hermitian_half(self) -> BlockMatrix:
        """The blocks that determine a hermitian operator: one of each (i,j,R) / (j,i,-R) pair."""
        return self.select(self._is_upper())

    def expand_hermitian(self) -> BlockMatrix:
        """Complete a hermitian half with the partners O_ji(-R) = O_ij(R)^dagger, sorted."""
        missing = self._partner_index() < 0
        if not missing.any():
            return self.sorted()
        extra = self.adjoint().select(missing)
        merged = BlockMatrix(
            np.concatenate([self.edges, extra.edges]),
            np.concatenate([self.shapes, extra.shapes]),
            np.concatenate([self.values, extra.values], axis=1),
            self.spin,
        )
        return merged.sorted()

    # -- selection --------------------------------------------------------------------------
    def select(self, mask_or_index: np.ndarray) -> BlockMatrix:
        """A new BlockMatrix with the edges picked by a boolean mask or an index array."""
        idx = np.arange(self.n_edges)[mask_or_index]
        sizes = self.shapes[idx, 0] * self.shapes[idx, 1]
        starts = np.repeat(self.offsets[idx], sizes)
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        return BlockMatrix(self.edges[idx], self.shapes[idx], self.values[:, starts + within], self.spin)

    def sorted(self) -> BlockMatrix:
        """Edges in lexicographic (i, j, Rx, Ry, Rz) order."""
        order = np.lexsort(self.edges.T[::-1])
        if np.array_equal(order, np.arange(self.n_edges)):
            return self
        return self.select(order)

    def map_values(self, factor: float) -> BlockMatrix:
        """A copy with every value multiplied by ``factor`` (unit conversion)."""
        return BlockMatrix(self.edges, self.shapes, self.values * factor, self.spin)

    def equals(self, other: BlockMatrix) -> bool:
        """Exact equality of edges, shapes, spin layout and values (after sorting)."""
        a, b = self.sorted(), other.sorted()
        return (
            a.spin == b.spin
            and np.array_equal(a.edges, b.edges)
            and np.array_equal(a.shapes, b.shapes)
            and a.values.dtype == b.values.dtype
            and np.array_equal(a.values, b.values)
        )


@dataclass(frozen=True)
class Source:
    """Where a record came from.

    Attributes
    ----------
    code : str
        DFT code name ("abacus", ...).
    code_version : str
        As the run reports it ("v3.11.0-beta.1"), or "unknown".
    path : str
        The run directory.
    files : Mapping[str, tuple[str, ...]]
        Operator name -> the files it was read from.
    notes : tuple of str
        Anything a user should know about the data (e.g. "H is an init_chg input file").
    precision : Mapping[str, float]
        Operator -> relative rounding of the values as the file printed them (0 for binary).
    basis_files : Mapping[str, str]
        Species label -> the file its basis (and radial functions) came from, where one did.
    """

    code: str
    code_version: str
    path: str
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    precision: Mapping[str, float] = field(default_factory=dict)
    basis_files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Record:
    """One structure with its basis and operators.

    Attributes
    ----------
    atoms : ase.Atoms
        Cell (Angstrom, rows are lattice vectors), pbc and Cartesian positions (Angstrom) of
        the atoms *as the operator R labels assume them* (ABACUS: wrapped into the cell).
    species : tuple of str
        (n_atoms,) species label of each atom; keys into ``basis``.
    basis : Basis
    operators : Mapping[str, BlockMatrix]
        Any of "H" (eV), "S" (dimensionless), "DM" (electrons).
    nspin : int
        1, 2 (collinear, two channels for H and DM) or 4 (spinor blocks).
    source : Source
    n_electrons : float or None
        Valence electrons of the run, where the run states it.
    fermi_energy : float or None
        eV, where the run states it.
    gamma_only : bool
        True when the blocks are a Gamma-point folding stored at R = 0 (ABACUS gamma_only):
        only O(k=0) is meaningful.
    spin_moment : (3,) tuple of float or None
        Total spin moment (mu_B, Cartesian x, y, z) the run reported; NaN for a component
        it did not report.
    """

    atoms: ase.Atoms
    species: tuple[str, ...]
    basis: Basis
    operators: Mapping[str, BlockMatrix]
    nspin: int
    source: Source
    n_electrons: float | None = None
    fermi_energy: float | None = None
    gamma_only: bool = False
    spin_moment: tuple[float, float, float] | None = None

    def __post_init__(self):
        if len(self.species) != len(self.atoms):
            raise ValueError(f"{len(self.species)} species labels for {len(self.atoms)} atoms")
        for label in set(self.species):
            self.basis[label]  # raises ConventionError naming the missing species
        if self.nspin not in (1, 2, 4):
            raise ValueError(f"nspin must be 1, 2 or 4, got {self.nspin}")
        for name, op in self.operators.items():
            if name not in OPERATORS:
                raise ValueError(f"unknown operator {name!r}; known: {OPERATORS}")
            counts = self.orbital_counts
            if op.n_edges and (
                op.edges[:, :2].min() < 0
                or op.edges[:, :2].max() >= len(self.atoms)
                or not np.array_equal(op.shapes, np.column_stack([counts[op.edges[:, 0]], counts[op.edges[:, 1]]]))
            ):
                raise ValueError(f"operator {name}: block shapes or atom indices do not match the basis")

    @functools.cached_property
    def orbital_counts(self) -> np.ndarray:
        """(n_atoms,) int64 orbitals per atom (spatial, without spin)."""
        return self.basis.orbital_counts(self.species)

    @property
    def n_orbitals(self) -> int:
        """Total number of spatial orbitals."""
        return int(self.orbital_counts.sum())

    @property
    def label(self) -> str:
        return os.path.basename(os.path.normpath(self.source.path))

    def to_pymatgen(self):
        """The structure as a pymatgen ``Structure`` (requires pymatgen)."""
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(self.atoms)

    def replace(self, **changes) -> Record:
        return dataclasses.replace(self, **changes)
