"""Structure, species and basis of a SIESTA run, from the binary file first and the text
companions where the binary lacks them (HSX v0: no cell; TSHS: no species or basis)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ase
import numpy as np

from slem_dft.compression import strip_compression
from slem_dft.data import Basis, Shell, SpeciesBasis
from slem_dft.errors import FileFormatError, MissingInputError

from .hsx import read_hsx
from .sparse import SparseMatrices
from .text import Fdf, Geometry, read_orb_indx, read_struct_out, read_xv

__all__ = ["SiestaStructure", "find_companion", "read_structure", "shells_of"]


@dataclass(frozen=True, eq=False)
class SiestaStructure:
    """Geometry (Bohr, as the operators' lattice offsets assume it), species and basis.

    Attributes
    ----------
    cell : (3, 3) float64, Bohr, rows are lattice vectors; xa : (na, 3) float64, Bohr
    species : (na,) species label of each atom; basis : Basis (shells in SIESTA's order)
    files : the text files (or fdf blocks) used
    """

    cell: np.ndarray
    xa: np.ndarray
    species: tuple[str, ...]
    basis: Basis
    files: tuple[str, ...]


def shells_of(orbitals: np.ndarray, label: str, path: str) -> tuple[Shell, ...]:
    """Shells of one atom from its orbitals' (n, l, zeta) rows in SIESTA order: each shell is
    2l + 1 consecutive orbitals with one (n, l, zeta); ``Shell.zeta`` counts shells per l."""
    shells, seen, o = [], {}, 0
    while o < len(orbitals):
        n, l, z = (int(x) for x in orbitals[o][:3])
        block = orbitals[o : o + 2 * l + 1, :3]
        if len(block) != 2 * l + 1 or np.any(block != (n, l, z)):
            raise FileFormatError(
                path,
                f"species {label}: orbital {o + 1} starts an l={l} shell of {2 * l + 1} "
                "functions, but the following orbitals do not continue it",
            )
        shells.append(Shell(l, seen.get(l, 0)))
        seen[l] = seen.get(l, 0) + 1
        o += 2 * l + 1
    return tuple(shells)


def find_companion(folders: list[Path], suffix: str, label: str | None) -> Path | None:
    """``<label><suffix>`` in the first folder holding it, else the only ``*<suffix>`` there."""
    for folder in folders:
        named = [p for p in sorted(folder.iterdir()) if p.is_file() and strip_compression(p).endswith(suffix)]
        exact = [p for p in named if strip_compression(p) == f"{label}{suffix}"]
        if exact or len(named) == 1:
            return (exact or named)[0]
    return None


def _text_geometry(folders: list[Path], label: str | None) -> Geometry | None:
    """STRUCT_OUT (the geometry of the last matrices) before XV (which may hold the next step)."""
    if (p := find_companion(folders, ".STRUCT_OUT", label)) is not None:
        return read_struct_out(p)
    if (p := find_companion(folders, ".XV", label)) is not None:
        return read_xv(p)
    return None


def read_structure(
    hs: SparseMatrices, folders: list[Path], label: str | None, fdf: Fdf, bohr_to_ang: float
) -> SiestaStructure:
    """Assemble the structure of the matrices in ``hs``; ``folders`` are searched for the
    companions (run directory first), ``bohr_to_ang`` is the writing version's constant."""
    used: list[str] = []
    text_geo = _text_geometry(folders, label)
    if hs.cell is not None:
        cell, xa = hs.cell, hs.xa
    elif text_geo is not None:
        scale = 1.0 / bohr_to_ang if text_geo.unit == "Ang" else 1.0
        cell, xa = text_geo.cell * scale, text_geo.positions * scale
        used.append(text_geo.path)
    else:
        raise MissingInputError(
            folders[0],
            f"{Path(hs.path).name} ({hs.kind}) holds no cell: the run needs its "
            f"{label or '<SystemLabel>'}.STRUCT_OUT or .XV",
        )
    na = hs.na_u
    if len(xa) != na:
        raise FileFormatError(used[0] if used else hs.path, f"{len(xa)} atoms, but {hs.path} has {na}")
    labels, shells, isa = _species_and_basis(hs, folders, label, fdf, text_geo, used)
    elements = _elements(labels, isa, fdf, text_geo, folders[0])
    basis = Basis(tuple(SpeciesBasis(lab, elements[lab], shells[lab]) for lab in labels))
    species = tuple(labels[s] for s in isa)
    counts = basis.orbital_counts(species)
    if not np.array_equal(counts, np.diff(hs.lasto)):
        raise FileFormatError(
            hs.path,
            f"orbitals per atom {np.diff(hs.lasto).tolist()} do not match the basis "
            f"{counts.tolist()} from {', '.join(used) or hs.path}",
        )
    return SiestaStructure(cell, xa, species, basis, tuple(used))


def _species_and_basis(hs, folders, label, fdf, geo, used) -> tuple[list[str], dict, np.ndarray]:
    """(species labels, label -> shells, 0-based species of each atom)."""
    if hs.species is None and (p := find_companion(folders, ".HSX", label)) is not None:
        hsx = read_hsx(p, values=False)  # a TSHS beside the HSX of the same system
        if hsx.no_u == hs.no_u and np.array_equal(hsx.lasto, hs.lasto):
            used.append(str(p))
            hs = hsx
    if hs.species is not None:
        labels = [s.label for s in hs.species]
        return labels, {s.label: shells_of(s.orbitals, s.label, hs.path) for s in hs.species}, hs.isa
    if (p := find_companion(folders, ".ORB_INDX", label)) is not None:
        atom, orb_labels, nlmz = read_orb_indx(p)
        used.append(str(p))
        if len(atom) != hs.no_u:
            raise FileFormatError(p, f"{len(atom)} unit-cell orbitals, but {hs.path} has {hs.no_u}")
        first = np.searchsorted(atom, np.arange(hs.na_u))
        atom_labels = [orb_labels[o] for o in first]
        labels = list(dict.fromkeys(atom_labels))
        shells = {}
        for a, lab in enumerate(atom_labels):
            nlz = nlmz[atom == a][:, [0, 1, 3]]
            shells.setdefault(lab, shells_of(nlz, lab, str(p)))
        return labels, shells, np.array([labels.index(lab) for lab in atom_labels])
    if fdf.pao_basis:
        labels = [fdf.species[i][0] for i in sorted(fdf.species)] or list(fdf.pao_basis)
        missing = [lab for lab in labels if lab not in fdf.pao_basis]
        if missing:
            raise MissingInputError(folders[0], f"no ORB_INDX, and the fdf PAO.Basis block lacks species {missing}")
        shells = {lab: tuple(Shell(l, z) for l, z in _fdf_shells(fdf.pao_basis[lab])) for lab in labels}
        if geo is not None:
            isa = geo.species - 1
        elif len(labels) == 1:
            isa = np.zeros(hs.na_u, dtype=np.int64)
        else:
            raise MissingInputError(folders[0], "no STRUCT_OUT/XV to say which species each atom of the TSHS is")
        used.append("fdf PAO.Basis")
        return labels, shells, isa
    raise MissingInputError(
        folders[0], f"{Path(hs.path).name} holds no basis: the run needs its .ORB_INDX or an fdf PAO.Basis block"
    )


def _fdf_shells(shells) -> list[tuple[int, int]]:
    """(l, zeta) of every radial function of a PAO.Basis species, zeta counted per l."""
    out, seen = [], {}
    for _n, l, n_zeta, _pol in shells:
        for _ in range(n_zeta):
            out.append((l, seen.get(l, 0)))
            seen[l] = seen.get(l, 0) + 1
    return out


def _elements(labels, isa, fdf: Fdf, geo: Geometry | None, run_dir: Path) -> dict[str, str]:
    """Chemical symbol per species label: Z of the atoms in STRUCT_OUT/XV, else the fdf's
    ChemicalSpeciesLabel."""
    by_label = {lab: z for lab, z in fdf.species.values()}
    out = {}
    for s, lab in enumerate(labels):
        atoms = np.flatnonzero(isa == s)
        if geo is not None and atoms.size and len(geo.Z) == len(isa):
            z = int(geo.Z[atoms[0]])
        elif lab in by_label:
            z = by_label[lab]
        else:
            raise MissingInputError(
                run_dir, f"no element for species {lab}: no STRUCT_OUT/XV and no fdf ChemicalSpeciesLabel names it"
            )
        out[lab] = ase.data.chemical_symbols[abs(z)]  # SIESTA marks ghost atoms by negative Z
    return out
