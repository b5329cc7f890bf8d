"""What a trained model knows about its training data, kept in the checkpoint for prediction:
the species' bases, their valence charges, the shortest interatomic distance seen per species
pair (the training domain), and the radial orbitals for exact overlaps where the training runs
shipped their basis files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ase
import numpy as np
import torch
from ase.neighborlist import primitive_neighbor_list

from .data import Basis, Record, Shell, SpeciesBasis
from .errors import SlemDFTError
from .overlap import RadialFunction

__all__ = ["TrainingDomain"]

#: Relative tolerance for an electron count to be a combination of the training compositions.
_COMPOSITION_TOL = 1e-8


def _shortest_distances(atoms: ase.Atoms, species: Sequence[str], reach: float) -> dict[tuple[str, str], float]:
    """Shortest distance (Angstrom) per unordered species pair within ``reach``."""
    i, j, d = primitive_neighbor_list(
        "ijd", atoms.pbc, atoms.cell.complete(), atoms.positions, reach, self_interaction=False
    )
    out: dict[tuple[str, str], float] = {}
    labels = np.asarray(species)
    for a, b, dist in zip(labels[i], labels[j], d):
        key = tuple(sorted((str(a), str(b))))
        out[key] = min(out.get(key, np.inf), float(dist))
    return out


@dataclass(frozen=True)
class TrainingDomain:
    """Attributes
    ----------
    bases : label -> SpeciesBasis
    valence : label -> electrons per atom (minimum-norm least-squares fit of the training
        electron counts to their compositions)
    compositions : (n_rows, n_species) atom counts of the training structures (species in
        ``bases`` order) spanning the compositions whose electron count is known
    shortest : (label_a, label_b) sorted -> shortest distance seen in training (Angstrom)
    radials : label -> radial functions of its shells, for species whose basis files were found
    """

    bases: Mapping[str, SpeciesBasis]
    valence: Mapping[str, float] = field(default_factory=dict)
    compositions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    shortest: Mapping[tuple[str, str], float] = field(default_factory=dict)
    radials: Mapping[str, Sequence[RadialFunction]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Sequence[Record], reach: float, radials: Mapping | None = None) -> TrainingDomain:
        """The domain of training records; ``reach`` (Angstrom) bounds the distance search."""
        bases = {sb.label: sb for rec in records for sb in rec.basis.species}
        labels = sorted(bases)
        counts = np.array([[rec.species.count(s) for s in labels] for rec in records], dtype=np.float64)
        known = np.array([rec.n_electrons is not None for rec in records], dtype=bool)
        valence: dict[str, float] = {}
        rows = np.zeros((0, len(labels)))
        if known.any():
            electrons = np.array([rec.n_electrons for rec in records if rec.n_electrons is not None])
            z, *_ = np.linalg.lstsq(counts[known], electrons, rcond=None)
            if np.allclose(counts[known] @ z, electrons, rtol=_COMPOSITION_TOL, atol=1e-6):
                valence = {s: float(v) for s, v in zip(labels, z)}
                rows = counts[known]
        shortest: dict[tuple[str, str], float] = {}
        for rec in records:
            for key, d in _shortest_distances(rec.atoms, rec.species, reach).items():
                shortest[key] = min(shortest.get(key, np.inf), d)
        return cls(bases, valence, rows, shortest, dict(radials or {}))

    def basis(self, species: Sequence[str]) -> Basis:
        """The Basis of the species present (in order of first appearance)."""
        return Basis(tuple(self.bases[s] for s in dict.fromkeys(species)))

    def n_electrons(self, species: Sequence[str]) -> float | None:
        """Valence electrons of a structure, when its composition is a combination of the
        training compositions (then the fit is exact for it), else None."""
        if not self.valence:
            return None
        labels = sorted(self.bases)
        counts = np.array([list(species).count(s) for s in labels], dtype=np.float64)
        coef, *_ = np.linalg.lstsq(self.compositions.T, counts, rcond=None)
        if not np.allclose(self.compositions.T @ coef, counts, rtol=_COMPOSITION_TOL, atol=1e-6):
            return None
        return float(sum(self.valence[s] * c for s, c in zip(labels, counts)))

    def warnings(self, atoms: ase.Atoms, species: Sequence[str], reach: float) -> list[str]:
        """Where a structure leaves the training domain: distances shorter than any seen in
        training for a species pair (by more than 0.01 Angstrom), pairs never seen."""
        out = []
        for key, d in sorted(_shortest_distances(atoms, species, reach).items()):
            seen = self.shortest.get(key)
            if seen is None:
                out.append(f"{key[0]}-{key[1]} pairs within {reach:.2f} A were never seen in training")
            elif d < seen - 0.01:
                out.append(f"{key[0]}-{key[1]} distance {d:.3f} A is shorter than any in training ({seen:.3f} A)")
        return out

    def to_dict(self) -> dict:
        """Plain types and tensors only, for ``torch.load(weights_only=True)``."""
        return {
            "bases": {
                s: {"element": sb.element, "shells": [[sh.l, sh.zeta] for sh in sb.shells]}
                for s, sb in self.bases.items()
            },
            "valence": dict(self.valence),
            "compositions": torch.as_tensor(self.compositions, dtype=torch.float64),
            "shortest": [[a, b, d] for (a, b), d in self.shortest.items()],
            "radials": {
                s: [{"l": f.l, "dr": f.dr, "values": torch.as_tensor(f.values)} for f in shells]
                for s, shells in self.radials.items()
            },
        }

    @classmethod
    def from_dict(cls, raw: Mapping) -> TrainingDomain:
        bases = {
            s: SpeciesBasis(s, b["element"], tuple(Shell(int(l), int(z)) for l, z in b["shells"]))
            for s, b in raw["bases"].items()
        }
        radials = {
            s: [RadialFunction(int(f["l"]), float(f["dr"]), f["values"].numpy()) for f in shells]
            for s, shells in raw["radials"].items()
        }
        return cls(
            bases,
            dict(raw["valence"]),
            raw["compositions"].numpy(),
            {(a, b): float(d) for a, b, d in raw["shortest"]},
            radials,
        )


def radials_of(records: Sequence[Record]) -> dict[str, list[RadialFunction]]:
    """Radial functions per species from the basis files the training runs name, where they
    can still be read (paths are those at conversion time)."""
    from .registry import read_radial_basis

    out: dict[str, list[RadialFunction]] = {}
    for rec in records:
        if {sb.label for sb in rec.basis.species} <= set(out):
            continue
        try:
            found = read_radial_basis(rec)
        except (SlemDFTError, OSError):
            continue
        for label, shells in found.items():
            out.setdefault(label, list(shells))
    return out
