"""An OpenMX run directory -> :class:`slem_dft.data.Record`, and its eigenvalue references.

A run is recognised by its ``.scfout`` (plain or ``.scfout.xz``/``.gz``/``.bz2``). The scfout
holds H, S, DM, the structure, the electron count and the chemical potential; the basis
strings come from the input echoed at its end (else from the ``.out``), the code version and
the spin moment from the ``.out`` where there is one. References: ``.Band`` and the SCF
eigenvalues of the ``.out`` (formats-openmx.md sections 4 and 5).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import ase
import numpy as np

from slem_dft.basisfiles.pao import species_basis
from slem_dft.compression import COMPRESSED_SUFFIXES, strip_compression
from slem_dft.data import Basis, Record, Source
from slem_dft.errors import AmbiguousInputError, ConfigError, FileFormatError, MissingInputError
from slem_dft.reference import BandReference
from slem_dft.units import BOHR_TO_ANG_OPENMX, HARTREE_TO_EV_OPENMX

from .blocks import element_positions, operator_blocks
from .inputs import SPIN_ORBIT_KEYWORDS, OpenmxInput, parse_input
from .outputs import OutFile, read_band, read_out
from .scfout import Scfout, read_scfout

__all__ = ["detect", "find_scfout", "read_run", "read_run_references"]

_SCFOUT = ".scfout"
#: Format version -> the OpenMX releases that write it (used when no .out names the version).
_FORMAT_RELEASES = {0: "<= 3.8", 1: "3.7.x (development)", 2: "3.7.x (development)", 3: "3.9.x"}
_SPIN = {0: (1, "none"), 1: (2, "collinear"), 3: (4, "spinor")}


def _is_scfout(path: Path) -> bool:
    return path.is_file() and strip_compression(path).endswith(_SCFOUT)


def _stem(path: str | os.PathLike) -> str:
    """``si8.scfout.xz`` -> ``si8``."""
    return strip_compression(path)[: -len(_SCFOUT)]


def detect(run_dir: str | os.PathLike) -> bool:
    """True when the directory holds an OpenMX ``.scfout`` (plain or compressed)."""
    run_dir = Path(run_dir)
    return run_dir.is_dir() and any(_is_scfout(p) for p in run_dir.iterdir())


def find_scfout(run_dir: str | os.PathLike) -> Path:
    """The one scfout of a run directory."""
    run_dir = Path(run_dir)
    found = sorted(p for p in run_dir.iterdir() if _is_scfout(p))
    if not found:
        raise MissingInputError(run_dir, "no OpenMX .scfout file (HS.fileout on) in this directory")
    if len(found) > 1:
        raise AmbiguousInputError(
            run_dir, f"several .scfout files: {', '.join(p.name for p in found)}; name one explicitly"
        )
    return found[0]


def _companion(folder: Path, stems: Iterable[str], suffix: str) -> Path | None:
    """``<stem><suffix>`` (or a compressed copy) for the first stem that has one."""
    for stem in dict.fromkeys(s for s in stems if s):
        for name in [stem + suffix] + [stem + suffix + c for c in COMPRESSED_SUFFIXES]:
            if (folder / name).is_file():
                return folder / name
    return None


def _chosen_scfout(run_dir: Path, files: Mapping[str, Iterable[str | os.PathLike]] | None) -> Path:
    """The scfout named in ``files`` (every operator must name the same one), else the run's."""
    if not files:
        return find_scfout(run_dir)
    named = {Path(f) for paths in files.values() for f in paths}
    if len(named) != 1:
        raise ConfigError(f"an OpenMX run has one scfout holding every operator; got {sorted(map(str, named))}")
    return named.pop()


def read_run(
    run_dir: str | os.PathLike,
    operators: Iterable[str] = ("H", "S", "DM"),
    files: Mapping[str, Iterable[str | os.PathLike]] | None = None,
    orbital_dir: str | os.PathLike | None = None,
) -> Record:
    """Read an OpenMX run into a :class:`Record` in the canonical convention (eV, Angstrom).

    Parameters
    ----------
    run_dir
        The folder holding the ``.scfout`` (and, optionally, the ``.out`` and ``.Band``).
    operators
        Which of "H", "S", "DM" to keep.
    files
        Operator -> [scfout]: an explicit scfout (e.g. one not named ``*.scfout``).
    orbital_dir
        Not used: OpenMX runs carry their basis as strings, no orbital files are needed.
    """
    del orbital_dir  # part of the reader interface; the basis strings are in the run itself
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingInputError(run_dir, "not a directory")
    operators = tuple(operators)
    path = _chosen_scfout(run_dir, files)
    imaginary = {"H": "iH", "DM": "iDM"}
    scf = read_scfout(path, keep=operators + tuple(imaginary[op] for op in operators if op in imaginary))
    out_path = _companion(path.parent, [_stem(path)], ".out")
    out = read_out(out_path) if out_path else None
    inp, basis_from = _input(scf, out)
    labels = inp.atom_species()
    if len(labels) != scf.n_atoms:
        raise FileFormatError(basis_from, f"the input lists {len(labels)} atoms, the scfout {path} has {scf.n_atoms}")
    basis = _basis(inp, labels, scf, basis_from)
    atoms = ase.Atoms(
        symbols=[basis[s].element for s in labels],
        positions=scf.positions * BOHR_TO_ANG_OPENMX,
        cell=scf.cell * BOHR_TO_ANG_OPENMX,
        pbc=True,
    )
    use_ih = scf.spin == 3 and any(inp.flag(k) for k in SPIN_ORBIT_KEYWORDS)
    elements = element_positions(scf, [basis[s].ls for s in labels])
    blocks = {op: operator_blocks(scf, elements, op, use_ih) for op in operators}
    nspin, _ = _SPIN[scf.spin]
    notes = [f"scfout format version {scf.version} ({'big' if scf.byteorder == '>' else 'little'}-endian)"]
    if basis_from != scf.path:
        notes.append(f"basis strings read from {basis_from} (the scfout echoes no input)")
    if scf.spin == 3 and not use_ih:
        notes.append("iHks not added to H: no spin-orbit, LDA+U, NC-constraint or Zeeman option is on (as OpenMX does)")
    version = (
        out.version
        if out is not None
        else f"unknown (scfout format {scf.version}: OpenMX {_FORMAT_RELEASES[scf.version]})"
    )
    source = Source(
        "openmx",
        version,
        os.fspath(run_dir),
        {op: (os.fspath(path),) for op in operators},
        tuple(notes),
        {op: 0.0 for op in operators},
    )
    return Record(
        atoms,
        tuple(labels),
        basis,
        blocks,
        nspin,
        source,
        scf.n_electrons,
        scf.chemical_potential * HARTREE_TO_EV_OPENMX,
        spin_moment=_spin_moment(scf, out),
    )


def _input(scf: Scfout, out: OutFile | None) -> tuple[OpenmxInput, str]:
    """The run's input: the echo in the scfout, else the one in the ``.out``."""
    for text, where in ((scf.input_text, scf.path), (out.input_text if out else "", out.path if out else "")):
        if not text:
            continue
        inp = parse_input(text, where)
        if "definition.of.atomic.species" in inp.blocks and "atoms.speciesandcoordinates" in inp.blocks:
            return inp, where
    raise MissingInputError(
        Path(scf.path).parent,
        f"no basis strings: {scf.path} echoes no input with the species and atoms blocks, and "
        f"no {_stem(scf.path)}.out with them is beside it",
    )


def _basis(inp: OpenmxInput, labels: list[str], scf: Scfout, where: str) -> Basis:
    """The species basis of every species the atoms use; orbital counts checked against the scfout."""
    definitions = inp.species_definitions()
    species = {}
    for label in dict.fromkeys(labels):
        if label not in definitions:
            raise FileFormatError(
                where, f"atoms use species {label!r}, which <Definition.of.Atomic.Species does not define"
            )
        species[label] = species_basis(label, definitions[label], where)
    for atom, (label, n) in enumerate(zip(labels, scf.n_orbitals.tolist())):
        if species[label].n_orb != n:
            raise FileFormatError(
                scf.path,
                f"atom {atom + 1} ({label}) has {n} orbitals here, but its basis "
                f"{definitions[label]} (from {where}) gives {species[label].n_orb}",
            )
    return Basis(tuple(species.values()))


def _spin_moment(scf: Scfout, out: OutFile | None) -> tuple[float, float, float] | None:
    """mu_B, from the .out where it prints the moment, else 2 Total_SpinS along z (collinear)."""
    if scf.spin == 0:
        return None
    if out is not None and out.spin_moment is not None:
        return tuple(float(x) for x in out.spin_moment)
    if scf.spin == 1:
        return (np.nan, np.nan, 2.0 * scf.total_spin)
    return None


def read_run_references(record: Record, extra: Iterable[str | os.PathLike] = ()) -> list[BandReference]:
    """The run's ``<name>.Band`` and ``<name>.out`` eigenvalues, and those of any extra folders."""
    run_dir = Path(record.source.path)
    stems = [_stem(paths[0]) for paths in record.source.files.values()][:1]
    paths = [p for p in (_companion(run_dir, stems, ".Band"), _companion(run_dir, stems, ".out")) if p]
    for folder in map(Path, extra):
        if not folder.is_dir():
            raise MissingInputError(folder, "reference folder does not exist")
        paths += sorted(p for p in folder.iterdir() if p.is_file() and strip_compression(p).endswith((".Band", ".out")))
    refs = [_reference(p, record) for p in paths]
    return [r for r in refs if r is not None]


def _reference(path: Path, record: Record) -> BandReference | None:
    """A BandReference in eV (absolute, OpenMX's constant); None for a .out without eigenvalues."""
    n_channels = 2 if record.nspin == 2 else 1
    if strip_compression(path).endswith(".Band"):
        band = read_band(path)
        expected = 2 * np.pi * np.linalg.inv(record.atoms.cell.array / BOHR_TO_ANG_OPENMX).T
        if not np.allclose(band.reciprocal, expected, rtol=1e-8, atol=1e-8):
            raise FileFormatError(path, "its reciprocal vectors do not belong to the cell of this run")
        kpoints, energies, resolution = band.kpoints, band.energies, band.resolution
    else:
        out = read_out(path)
        if out.energies.size == 0:
            return None
        kpoints, energies, resolution = out.kpoints, out.energies, out.resolution
        # k is printed with 5 decimals, which moves high bands by up to ~3 meV (Fe): keep the
        # bands that are occupied somewhere, as far as the highest one below the chemical potential.
        occupied = np.sum(energies[:n_channels] * HARTREE_TO_EV_OPENMX < record.fermi_energy, axis=-1).max()
        energies = energies[..., :occupied]
    if energies.shape[0] < n_channels:
        raise FileFormatError(path, f"{energies.shape[0]} eigenvalue column(s), the run has {n_channels} spin channels")
    return BandReference(
        os.fspath(path), kpoints, energies[:n_channels] * HARTREE_TO_EV_OPENMX, resolution * HARTREE_TO_EV_OPENMX
    )
