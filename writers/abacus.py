"""Files ABACUS reads back: new-layout CSR matrices (``init_chg dm`` / ``init_chg hr``), STRU
and the INPUT lines that use them (formats-abacus.md sections 4-6).

The CSR layout is the one ABACUS v3.11 writes and reads (``csr_reader.cpp``): a six-line
header, the structure block, the comment banner, then per R block ``Rx Ry Rz nnz``, the values
(6 per line, ``%.8e``), the 0-based column indices and the N+1 row pointers (16 per line).
ABACUS wraps atoms into the cell and its R labels refer to the wrapped positions, so the
writer wraps the positions and relabels every block to match (generated/abacus/README.md:
a DM with unwrapped labels gives a wrong Tr(DM S)).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import ase.data
import numpy as np

from slem_dft.atomic import atomic_write
from slem_dft.basisfiles.orb import read_orb_header
from slem_dft.conventions import orbital_map
from slem_dft.data import BlockMatrix, Record, SpeciesBasis
from slem_dft.errors import ConventionError, MissingInputError
from slem_dft.units import BOHR_TO_ANG_ABACUS, RY_TO_EV_ABACUS

__all__ = [
    "CSR_NAMES",
    "abacus_orbitals",
    "csr_text",
    "export_files",
    "stru_text",
    "wrapped_structure",
    "write_csr",
    "write_inputs",
]

#: operator -> file name pattern of the new layout (spin index 1 or 2).
CSR_NAMES = {"H": "hrs{spin}_nao.csr", "S": "srs1_nao.csr", "DM": "dmrs{spin}_nao.csr"}
_TITLES = {
    "H": "H matrix in real space H(R)",
    "S": "S matrix in real space S(R)",
    "DM": "density matrix in real space DM(R)",
}
_UNITS = {"H": 1.0 / RY_TO_EV_ABACUS, "S": 1.0, "DM": 1.0}
_BANNER = """ #----------------------------------------------------------------------#
 #                               CSR Format                             #
 # The outer loop corresponds to the number of Bravais lattice vectors. #
 # The first line contains the index of the Bravais lattice vector      #
 # (Rx, Ry, Rz), followed by the number of non-zero elements.           #
 # The subsequent lines consist of three blocks of data, which are      #
 # values, column indices, row pointers.                                #
 #----------------------------------------------------------------------#
"""


def _species_order(record: Record) -> list[str]:
    return list(dict.fromkeys(record.species))


def wrapped_structure(record: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ABACUS's view of the structure: atom order (grouped by species, as ABACUS numbers
    orbitals), fractional positions wrapped into [0, 1), and the integer shift L of each atom
    (original fraction = wrapped + L), all in record atom indices.

    Returns
    -------
    order : (n_atoms,) int, record atom index of each ABACUS atom
    wrapped : (n_atoms, 3) float, fractional, record atom order
    shift : (n_atoms, 3) int, record atom order
    """
    frac = record.atoms.get_scaled_positions(wrap=False)
    wrapped = np.mod(frac, 1.0)
    wrapped[wrapped >= 1.0] -= 1.0
    shift = np.rint(frac - wrapped).astype(np.int64)
    species = np.array(record.species)
    order = np.concatenate([np.flatnonzero(species == label) for label in _species_order(record)])
    return order, wrapped, shift


def _global_maps(record: Record, order: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """ABACUS orbital offset of each record atom, and per atom: ABACUS slot and sign of each
    canonical orbital."""
    counts = record.orbital_counts
    offsets = np.zeros(len(counts), dtype=np.int64)
    offsets[order] = np.concatenate([[0], np.cumsum(counts[order])[:-1]])
    slots, signs = [], []
    for label in record.species:
        perm, sign = orbital_map("abacus", record.basis[label].ls)
        slots.append(perm)  # canonical p sits at ABACUS slot perm[p], times sign[p]
        signs.append(sign)
    return offsets, slots, signs


def _elements(record: Record, op: BlockMatrix, channel: int):
    """(R labels (n, 3), rows, cols, values) of one spin channel in ABACUS numbering and units."""
    order, _, shift = wrapped_structure(record)
    offsets, slots, signs = _global_maps(record, order)
    spinor = op.spin == "spinor"
    R_all, rows, cols, vals = [], [], [], []
    for e, (i, j, *R) in enumerate(op.edges.tolist()):
        block = op.block(e)
        ri = offsets[i] + slots[i]
        cj = offsets[j] + slots[j]
        sign = np.outer(signs[i], signs[j])
        label = np.array(R) + shift[j] - shift[i]
        if spinor:  # spin innermost: index 2 * orbital + sigma; channels uu, ud, du, dd
            for c, (s1, s2) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                r, cc = np.meshgrid(2 * ri + s1, 2 * cj + s2, indexing="ij")
                rows.append(r.ravel()), cols.append(cc.ravel()), vals.append((block[c] * sign).ravel())
                R_all.append(np.tile(label, (r.size, 1)))
        else:
            r, cc = np.meshgrid(ri, cj, indexing="ij")
            rows.append(r.ravel()), cols.append(cc.ravel()), vals.append((block[channel] * sign).ravel())
            R_all.append(np.tile(label, (r.size, 1)))
    return np.concatenate(R_all), np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _wrapped_lines(tokens: Sequence[str], per_line: int) -> str:
    return "".join(" " + " ".join(tokens[k : k + per_line]) + "\n" for k in range(0, len(tokens), per_line))


def _format_values(values: np.ndarray, decimals: int) -> list[str]:
    if np.iscomplexobj(values):
        return [f"({v.real:.{decimals}e},{v.imag:.{decimals}e})" for v in values]
    return [f"{v:.{decimals}e}" for v in values]


def _decimals(record: Record, operator: str) -> int:
    """Mantissa decimals: those the ABACUS file it was read from had (so a round trip
    reproduces it), else 8 (ABACUS's default)."""
    precision = record.source.precision.get(operator, 0.0) if record.source.code == "abacus" else 0.0
    return int(round(-np.log10(2 * precision))) if precision > 0 else 8


def _row_keys(R: np.ndarray) -> np.ndarray:
    """Lexicographically ordered scalar keys of integer R rows (|R| < 2**20)."""
    R = np.asarray(R, dtype=np.int64) + 2**20
    return (R[:, 0] << 42) + (R[:, 1] << 21) + R[:, 2]


def _shared_labels(record: Record, operator: str) -> np.ndarray:
    """R labels ABACUS lists in this operator's file although its blocks may be empty: H and DM
    share one sparsity (HContainer), so each lists the R of the other (S has its own)."""
    partner = {"H": "DM", "DM": "H"}.get(operator)
    if partner not in record.operators:
        return np.zeros((0, 3), dtype=np.int64)
    _, _, shift = wrapped_structure(record)
    edges = record.operators[partner].edges
    return edges[:, 2:] + shift[edges[:, 1]] - shift[edges[:, 0]]


def csr_text(record: Record, operator: str, spin_index: int = 1) -> str:
    """The new-layout CSR file of one operator and spin channel, as ABACUS writes it.

    Only non-zero elements are listed; R blocks come in lexicographic order, including the
    empty blocks ABACUS lists (see :func:`_shared_labels`).
    """
    op = record.operators[operator]
    n_orb = record.n_orbitals * (2 if op.spin == "spinor" else 1)
    channel = spin_index - 1 if op.spin == "collinear" else 0
    R, rows, cols, vals = _elements(record, op, channel)
    vals = vals * _UNITS[operator]
    keep = vals != 0
    R, rows, cols, vals = R[keep], rows[keep], cols[keep], vals[keep]
    order = np.lexsort((cols, rows, R[:, 2], R[:, 1], R[:, 0]))
    R, rows, cols, vals = R[order], rows[order], cols[order], vals[order]
    labels = np.unique(np.concatenate([R, _shared_labels(record, operator)]), axis=0)
    starts = np.searchsorted(_row_keys(R), _row_keys(labels))
    ends = np.searchsorted(_row_keys(R), _row_keys(labels), side="right")
    decimals = _decimals(record, operator)
    out = [_header(record, operator, spin_index, n_orb, len(labels), op.spin)]
    for label, a, b in zip(labels, starts, ends):
        if a == b:  # ABACUS writes an empty block with blank sections and one line of zeros
            out.append(
                f" {label[0]} {label[1]} {label[2]} 0\n # CSR values\n\n # CSR column indices\n\n"
                f" # CSR row pointers\n {' '.join(['0'] * (n_orb + 1))}\n"
            )
            continue
        ptr = np.searchsorted(rows[a:b], np.arange(n_orb + 1))
        out.append(f" {label[0]} {label[1]} {label[2]} {b - a}\n # CSR values\n")
        out.append(_wrapped_lines(_format_values(vals[a:b], decimals), 6))
        out.append(" # CSR column indices\n")
        out.append(_wrapped_lines([str(c) for c in cols[a:b]], 16))
        out.append(" # CSR row pointers\n")
        out.append(_wrapped_lines([str(p) for p in ptr], 16))
        out.append("\n")
    return "".join(out)


def _header(record: Record, operator: str, spin_index: int, n_orb: int, n_r: int, spin: str) -> str:
    order, wrapped, _ = wrapped_structure(record)
    labels = _species_order(record)
    counts = [record.species.count(label) for label in labels]
    n_dirs = 2 if spin == "collinear" else 1
    lines = [
        " --- Ionic Step 1 ---",
        f" # print {_TITLES[operator]}",
        f" {n_dirs} # number of spin directions",
        f" {spin_index} # spin index",
        f" {n_orb} # number of localized basis",
        f" {n_r} # number of Bravais lattice vector R",
        "",
        " user_defined_lattice",
        " 1",  # lattice constant (Angstrom): the vectors below are in Angstrom
        *(" " + " ".join(f"{x:.15g}" for x in row) for row in record.atoms.cell.array),
        " " + " ".join(labels),
        " " + " ".join(str(c) for c in counts),
        " Direct",
        *(" " + " ".join(f"{x:.15g}" for x in wrapped[a]) for a in order),
        "",
    ]
    return "\n".join(lines) + "\n" + _BANNER + "\n"


def write_csr(directory: str | os.PathLike, record: Record, operator: str) -> list[Path]:
    """Write one operator as ABACUS new-layout CSR file(s) (two for collinear spin); returns
    the paths. H goes out in Ry, S and DM as they are."""
    op = record.operators[operator]
    spins = (1, 2) if op.spin == "collinear" else (1,)
    paths = []
    for spin in spins:
        path = Path(directory) / CSR_NAMES[operator].format(spin=spin)
        atomic_write(path, csr_text(record, operator, spin))
        paths.append(path)
    return paths


def stru_text(record: Record, pseudopotentials: Mapping[str, str], orbitals: Mapping[str, str]) -> str:
    """A STRU for the record's structure: Direct positions wrapped as ABACUS wraps them,
    lattice in Angstrom (LATTICE_CONSTANT = 1 Angstrom in Bohr)."""
    labels = _species_order(record)
    order, wrapped, _ = wrapped_structure(record)
    out = ["ATOMIC_SPECIES"]
    for label in labels:
        element = record.basis[label].element
        out.append(f"{label} {ase.data.atomic_masses[ase.data.atomic_numbers[element]]:.4f} {pseudopotentials[label]}")
    out += ["", "NUMERICAL_ORBITAL", *(orbitals[label] for label in labels), ""]
    out += ["LATTICE_CONSTANT", f"{1.0 / BOHR_TO_ANG_ABACUS:.15f}", ""]
    out += ["LATTICE_VECTORS", *(" ".join(f"{x:.15g}" for x in row) for row in record.atoms.cell.array), ""]
    out += ["ATOMIC_POSITIONS", "Direct", ""]
    species = np.array(record.species)
    for label in labels:
        atoms = [a for a in order if species[a] == label]
        out += [label, "0.0", str(len(atoms))]
        out += [" ".join(f"{x:.15g}" for x in wrapped[a]) + " 1 1 1" for a in atoms]
        out.append("")
    return "\n".join(out)


def _check_basis(record: Record, orbitals: Mapping[str, tuple[str, SpeciesBasis]]) -> None:
    """Refuse a basis that does not match the ``.orb`` files ABACUS would use."""
    for sb in record.basis.species:
        if sb.label not in orbitals:
            raise MissingInputError(sb.label, "no ABACUS .orb file for this species: name one (LABEL=FILE)")
        name, declared = orbitals[sb.label]
        if declared.element != sb.element or declared.ls != sb.ls:
            raise ConventionError(
                f"{name}: {declared.element} shells l={list(declared.ls)} do not match the data's "
                f"{sb.element} shells l={list(sb.ls)}; ABACUS could not use these matrices"
            )


def write_inputs(
    directory: str | os.PathLike,
    record: Record,
    orbitals: Mapping[str, tuple[str, SpeciesBasis]],
    operators: Sequence[str] = ("DM",),
    pseudopotentials: Mapping[str, str] | None = None,
) -> list[Path]:
    """Everything ABACUS needs to start from the record: the CSR files of ``operators``, a
    STRU (when pseudopotential names are given) and ``INPUT.slem-dft`` with the INPUT lines
    (``init_chg dm`` for a DM, else ``init_chg hr``; ``read_file_dir``; ``nspin``).

    ``orbitals`` maps each species label to its ``.orb`` file name and the basis that file
    declares; it must match the data's basis.
    """
    directory = Path(directory)
    if record.gamma_only:
        raise ConventionError("gamma-only (folded) matrices cannot be written as H(R)/DM(R) for ABACUS")
    _check_basis(record, orbitals)
    missing = [op for op in operators if op not in record.operators]
    if missing:
        raise MissingInputError(record.source.path, f"the data holds no {', '.join(missing)} to export")
    init = "dm" if "DM" in operators else "hr"
    if init == "hr" and "H" not in operators:
        raise MissingInputError(record.source.path, "ABACUS starts from a DM or an H: export DM or H")
    directory.mkdir(parents=True, exist_ok=True)
    paths = [p for op in operators for p in write_csr(directory, record, op)]
    if pseudopotentials:
        names = {label: Path(name).name for label, (name, _) in orbitals.items()}
        stru = directory / "STRU"
        atomic_write(stru, stru_text(record, pseudopotentials, names))
        paths.append(stru)
    lines = [
        "# INPUT lines for ABACUS to start from these files (slem-dft export)",
        f"init_chg        {init}",
        "read_file_dir   ./",
        f"nspin           {record.nspin}",
        "basis_type      lcao",
    ]
    note = directory / "INPUT.slem-dft"
    atomic_write(note, "\n".join(lines) + "\n")
    return paths + [note]


def abacus_orbitals(record: Record, files: Mapping[str, str] | None = None) -> dict[str, tuple[str, SpeciesBasis]]:
    """Species label -> (``.orb`` file, the basis its header declares), from ``files`` or else
    the files the record's basis was read from."""
    chosen = {**record.source.basis_files, **(files or {})}
    out = {}
    for sb in record.basis.species:
        if sb.label not in chosen:
            raise MissingInputError(
                record.source.path, f"no .orb file for species {sb.label}: pass --orbital {sb.label}=FILE"
            )
        element, zetas = read_orb_header(chosen[sb.label])
        out[sb.label] = (chosen[sb.label], SpeciesBasis.from_zeta_counts(sb.label, element, zetas))
    return out


def export_files(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    """``slem-dft export --to abacus``: :func:`write_inputs` with the ``.orb`` files of
    :func:`abacus_orbitals` (``options["orbitals"]``, label -> file) and
    ``options["pseudopotentials"]``."""
    return write_inputs(
        folder, record, abacus_orbitals(record, options.get("orbitals")), operators, options.get("pseudopotentials")
    )
