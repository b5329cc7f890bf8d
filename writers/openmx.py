"""OpenMX restart files: ``<name>_rst/<name>.rst<N>``, the per-atom H and DM that OpenMX reads
with ``scf.restart on`` (formats-openmx.md section 6; OpenMX ``RestartFileDFT.c``), and the
input lines that go with them.

One file per atom N (1-based): the record :class:`slem_dft.layouts.RestartAtom`, declared
once with its byte layout in :mod:`slem_dft.layouts`, as OpenMX's ``Output_HKS`` writes it
(per spin: OpenMX's unpolarised DM is half the total, :data:`slem_dft.conventions.OPENMX_DM_PER_SPIN`).

OpenMX orders the neighbours of atom i as: i itself at R = 0, then the other atoms j
ascending, each with R = 0 first and then R in lexicographic order (all eleven scfout files
of the test data follow this rule). The reader matches blocks by (atom, cell, species,
orbitals), so the order matters only for byte identity. The cells n refer to OpenMX's atom
positions: it wraps fractional input coordinates into the cell but keeps Cartesian ones as
given (graphene's -1/3 came back as 2/3; GaAs frame_001, given in Angstrom, keeps a negative
fraction), so the input lines give the record's positions in Angstrom and the R labels stay.

What these files cannot do (docs/export.md, "OpenMX"): OpenMX accepts the restart only with
its grid-density files (``.crst*``, ``.crst_check``), which need the PAO radial functions
and OpenMX's real-space grid, and it rebuilds H from that density before the first solve.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from slem_dft.atomic import write_files
from slem_dft.basisfiles.pao import species_basis
from slem_dft.conventions import OPENMX_DM_PER_SPIN, inverse_orbital_map
from slem_dft.data import BlockMatrix, Record, SpeciesBasis
from slem_dft.errors import ConfigError, ConventionError, MissingInputError
from slem_dft.layouts import RestartAtom, rst_bytes
from slem_dft.units import HARTREE_TO_EV_OPENMX

__all__ = ["default_system_name", "export_files", "restart_atoms", "write_restart"]

#: record.nspin -> (SpinP_switch, List_YOUSO[23]); non-collinear (SpinP_switch 3) is refused.
_SPIN = {1: (0, 1), 2: (1, 2)}
_NAME = re.compile(r"[A-Za-z0-9_.+-]+")


def _neighbour_lists(record: Record) -> list[np.ndarray]:
    """Per atom i, the (FNAN + 1, 4) rows (j, R) of its neighbours in OpenMX's order: the
    union of the H and DM blocks, plus i itself."""
    atoms = np.arange(len(record.atoms))
    selfs = np.column_stack([atoms, atoms, np.zeros((atoms.size, 3), dtype=np.int64)])
    rows = np.unique(np.concatenate([record.operators["H"].edges, record.operators["DM"].edges, selfs]), axis=0)
    is_self = (rows[:, 0] == rows[:, 1]) & ~rows[:, 2:].any(axis=1)
    nonzero_R = rows[:, 2:].any(axis=1)
    order = np.lexsort((rows[:, 4], rows[:, 3], rows[:, 2], nonzero_R, rows[:, 1], ~is_self, rows[:, 0]))
    rows = rows[order]
    return [rows[rows[:, 0] == a, 1:] for a in atoms]


def _file_blocks(
    op: BlockMatrix, i: int, neighbours: np.ndarray, maps: list[tuple[np.ndarray, np.ndarray]], counts: np.ndarray
) -> np.ndarray:
    """(n_channels, n_values): the blocks of atom i with each neighbour (j, R) in OpenMX
    orbital order, row-major; zero where ``op`` holds no block."""
    perm_i, sign_i = maps[i]
    out = []
    for j, *R in neighbours.tolist():
        e = op.find(i, j, R)
        if e is None:
            out.append(np.zeros((op.n_channels, counts[i] * counts[j])))
            continue
        perm_j, sign_j = maps[j]
        block = op.block(e)[:, perm_i][:, :, perm_j] * np.outer(sign_i, sign_j)
        out.append(block.reshape(op.n_channels, -1))
    return np.concatenate(out, axis=1)


def _check(record: Record) -> None:
    """Refuse what the restart files cannot hold (one clear error, before anything is written)."""
    if record.gamma_only:
        raise ConventionError("gamma-only (folded) matrices cannot be written as OpenMX H(R)/DM(R) restart blocks")
    if record.nspin not in _SPIN:
        raise ConventionError(
            "non-collinear (spinor) data cannot be written as OpenMX restart files: they store the real parts "
            "H0..H3 and the spin-orbit part iHNL separately (a spinor H holds only H3 + iHNL2) and no imaginary "
            "DM diagonal at all, and no real non-collinear restart file exists to check the layout against"
        )
    missing = [op for op in ("H", "DM") if op not in record.operators]
    if missing:
        raise MissingInputError(
            record.source.path,
            f"an OpenMX restart file holds H and DM together; the data holds no {' and no '.join(missing)}",
        )


def _check_basis(record: Record, orbitals: Mapping[str, tuple[str, SpeciesBasis]]) -> None:
    """Refuse a basis that does not match the OpenMX basis strings the user names."""
    for sb in record.basis.species:
        if sb.label not in orbitals:
            raise MissingInputError(
                sb.label,
                "no OpenMX basis string for this species: name one (LABEL=PAO, e.g. "
                "Si=Si7.0-s2p2d1) for every species or for none",
            )
        name, declared = orbitals[sb.label]
        if declared.element != sb.element or declared.ls != sb.ls:
            raise ConventionError(
                f"{name}: {declared.element} shells l={list(declared.ls)} do not match the data's {sb.element} "
                f"shells l={list(sb.ls)}; OpenMX could not use these matrices"
            )


def restart_atoms(record: Record) -> list[RestartAtom]:
    """The ``.rst<N>`` content of every atom of a collinear or unpolarised record (H eV ->
    Hartree, DM total -> per spin when unpolarised, canonical -> OpenMX orbital order)."""
    _check(record)
    spin, n_channels = _SPIN[record.nspin]
    species_index = {sb.label: k for k, sb in enumerate(record.basis.species)}
    species = np.array([species_index[label] for label in record.species])
    counts = record.orbital_counts
    maps = [inverse_orbital_map("openmx", record.basis[label].ls) for label in record.species]
    lists = _neighbour_lists(record)
    H = [_file_blocks(record.operators["H"], i, nb, maps, counts) / HARTREE_TO_EV_OPENMX for i, nb in enumerate(lists)]
    DM = [
        _file_blocks(record.operators["DM"], i, nb, maps, counts) * OPENMX_DM_PER_SPIN[record.nspin]
        for i, nb in enumerate(lists)
    ]
    # Uele = sum_n f_n e_n = Tr(DM H), summed over spins (both spins when unpolarised)
    band_energy = float(sum(np.sum(h * d) for h, d in zip(H, DM)) / OPENMX_DM_PER_SPIN[record.nspin])
    max_fnan = max(len(nb) for nb in lists) - 1
    dims = (n_channels, len(record.atoms) + 1, max_fnan + 7, int(counts.max()))  # as OpenMX sizes its arrays
    return [
        RestartAtom(
            spin,
            dims,
            len(record.atoms),
            int(species[i]),
            int(counts[i]),
            0,
            nb[:, 0],
            nb[:, 1:],
            species[nb[:, 0]],
            counts[nb[:, 0]],
            band_energy,
            H[i],
            DM[i],
        )
        for i, nb in enumerate(lists)
    ]


def default_system_name(record: Record) -> str:
    """The System.Name of the OpenMX run the record was read from (``fe.scfout.xz`` -> ``fe``)."""
    files = [Path(f).name for paths in record.source.files.values() for f in paths]
    stems = {re.sub(r"\.scfout(\.(xz|gz|bz2))?$", "", f) for f in files if ".scfout" in f}
    if record.source.code != "openmx" or len(stems) != 1:
        raise ConfigError(
            f"{record.source.path}: not read from one OpenMX run; name the System.Name to write (--system-name NAME)"
        )
    return stems.pop()


def _input_text(
    record: Record,
    name: str,
    orbitals: Mapping[str, tuple[str, SpeciesBasis]] | None,
    pseudopotentials: Mapping[str, str] | None,
) -> str:
    """The input lines that make OpenMX read the restart files, and what the rest of the input
    must agree on (the restart header is checked against it)."""
    spin = {1: "off", 2: "on"}[record.nspin]
    lines = [
        "# OpenMX input lines for the restart files in this folder (slem-dft export).",
        "# OpenMX also needs its grid-density files (<name>_rst/<name>.crst*, .crst_check), which slem-dft",
        "# cannot write, and rebuilds H from that density: see docs/export.md, section OpenMX.",
        f"System.Name                {name}",
        "scf.restart                on",
        f"scf.SpinPolarization       {spin}",
    ]
    species = record.basis.species
    if orbitals and pseudopotentials and all(sb.label in pseudopotentials for sb in species):
        lines += [f"Species.Number             {len(species)}", "<Definition.of.Atomic.Species"]
        lines += [f"  {sb.label}  {orbitals[sb.label][0]}  {pseudopotentials[sb.label]}" for sb in species]
        lines.append("Definition.of.Atomic.Species>")
    else:
        lines.append(
            "# <Definition.of.Atomic.Species: species k (0-based, stored in the files) must be the k-th "
            "below, and no species may have more orbitals than the largest here:"
        )
        lines += [
            f"#   {k}: {sb.label} ({sb.element}, shells l = {' '.join(map(str, sb.ls))}, {sb.n_orb} orbitals)"
            for k, sb in enumerate(species)
        ]
    # Cartesian, so that OpenMX keeps the positions the R labels refer to (it wraps FRAC input)
    lines.append("Atoms.SpeciesAndCoordinates.Unit  Ang")
    lines.append(
        f"# <Atoms.SpeciesAndCoordinates must hold these {len(record.atoms)} atoms in this order, "
        "at these positions (Angstrom; append the initial spin populations):"
    )
    lines += [
        f"#   {a + 1} {label} " + " ".join(f"{x:.12f}" for x in record.atoms.positions[a])
        for a, label in enumerate(record.species)
    ]
    lines += ["Atoms.UnitVectors.Unit            Ang", "<Atoms.UnitVectors"]
    lines += ["  " + " ".join(f"{x:.12f}" for x in row) for row in record.atoms.cell.array]
    lines.append("Atoms.UnitVectors>")
    return "\n".join(lines) + "\n"


def write_restart(
    directory: str | os.PathLike,
    record: Record,
    system_name: str | None = None,
    orbitals: Mapping[str, tuple[str, SpeciesBasis]] | None = None,
    pseudopotentials: Mapping[str, str] | None = None,
    operators: Sequence[str] = ("H", "DM"),
) -> list[Path]:
    """Write ``<name>_rst/<name>.rst<N>`` for every atom and ``INPUT.slem-dft`` (the input lines)
    into ``directory``; returns the paths.

    ``system_name`` defaults to the name of the OpenMX run the record came from. ``orbitals``
    (species label -> (OpenMX basis string, the basis it declares)) must match the data's basis;
    with ``pseudopotentials`` it fills the species block of the input lines. ``operators`` may
    name H and DM only: one file holds both. Nothing is written when the record cannot be.
    """
    extra = [op for op in operators if op not in ("H", "DM")]
    if extra:
        raise ConfigError(
            f"an OpenMX restart file holds H and DM only (OpenMX computes S itself), not {', '.join(extra)}"
        )
    _check(record)
    if orbitals:
        _check_basis(record, orbitals)
    name = system_name or default_system_name(record)
    if not _NAME.fullmatch(name):
        raise ConfigError(f"System.Name {name!r}: use letters, digits and . _ + - only")
    contents = {f"{name}_rst/{name}.rst{n + 1}": rst_bytes(atom) for n, atom in enumerate(restart_atoms(record))}
    contents["INPUT.slem-dft"] = _input_text(record, name, orbitals, pseudopotentials).encode()
    return write_files(directory, contents)


def export_files(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    """``slem-dft export --to openmx``: :func:`write_restart` with the basis strings of
    ``options["orbitals"]`` (label -> PAO string, e.g. ``Fe=Fe6.0S-s2p2d1``), ``system_name``
    and ``pseudopotentials``."""
    strings = options.get("orbitals") or {}
    orbitals = {label: (pao, species_basis(label, pao, "--orbital")) for label, pao in strings.items()}
    return write_restart(
        folder, record, options.get("system_name"), orbitals or None, options.get("pseudopotentials"), operators
    )
