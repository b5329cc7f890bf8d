"""The format table: one line per DFT code (as ase's ``ioformats``) giving its detector and
reader, its writer and the suffix of its radial basis files; modules are imported lazily, so a
new code costs a reader module, a writer module and one line here.

Readers implement :class:`RunReader` (``detect``, ``read_run``, ``read_run_references``;
optionally :class:`RadialBasisReader` and :class:`StructureReader`), writers
:class:`FileWriter` (``export_files``), and a radial-file module ``radial_functions(path,
species_basis)``. Nothing outside this table imports a reader or a writer to dispatch on a
code (:mod:`slem_dft.export` goes through :func:`writer`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import ase

from .data import Record, SpeciesBasis
from .errors import ConfigError, MissingInputError

if TYPE_CHECKING:
    from .overlap import RadialFunction

__all__ = [
    "FORMATS",
    "READERS",
    "RADIAL_FILES",
    "TARGETS",
    "DatasetWriter",
    "FileWriter",
    "Format",
    "RadialBasisReader",
    "RunReader",
    "StructureReader",
    "detect_code",
    "find_run_dirs",
    "read_radial_basis",
    "read_radial_file",
    "read_references",
    "read_run",
    "read_structure",
    "reader",
    "writer",
]


@runtime_checkable
class RunReader(Protocol):
    """What every reader module provides (``slem_dft.parsers.<code>``)."""

    def detect(self, run_dir: str | os.PathLike) -> bool:
        """True when ``run_dir`` holds this code's operator files."""

    def read_run(
        self,
        run_dir: str | os.PathLike,
        operators: Iterable[str] = ("H", "S", "DM"),
        files: Mapping[str, Iterable[str | os.PathLike]] | None = None,
        orbital_dir: str | os.PathLike | None = None,
    ) -> Record:
        """The run as a :class:`~slem_dft.data.Record` in the canonical convention: the
        ``operators`` present, ``files`` naming operator files explicitly (overriding the
        discovery), ``orbital_dir`` an extra folder searched for basis/structure companions."""

    def read_run_references(self, record: Record, extra: Iterable[str | os.PathLike] = ()) -> list:
        """The code's own eigenvalue references of the record's run (and of ``extra`` folders)."""


@runtime_checkable
class RadialBasisReader(Protocol):
    """Readers whose runs name their radial basis files."""

    def read_radial_basis(self, record: Record) -> dict[str, list[RadialFunction]]:
        """Species label -> radial functions (Angstrom) of the record's basis."""


@runtime_checkable
class StructureReader(Protocol):
    """Readers that also read input folders holding no operators yet."""

    def read_structure(self, run_dir: str | os.PathLike) -> tuple[ase.Atoms, tuple[str, ...]]:
        """Structure (Angstrom) and species labels of an input folder."""


@runtime_checkable
class FileWriter(Protocol):
    """What every writer module provides (``slem_dft.writers.<target>``)."""

    def export_files(self, folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
        """Write the files the target reads back for one record into ``folder``; returns them.
        ``options`` are the target's own (``slem-dft export`` passes them through)."""


@runtime_checkable
class DatasetWriter(Protocol):
    """Writers whose target keeps many structures in one dataset (DeePTB trajectory folders)."""

    def export_records(
        self, folder: Path, records: Sequence[Record], operators: Sequence[str], options: Mapping
    ) -> list[Path]:
        """Write every record as one dataset into ``folder``; returns the files."""


@dataclass(frozen=True)
class Format:
    """One line of the format table.

    Attributes
    ----------
    code : str, the code's name (``--to`` target and ``Record.source.code``)
    reader : module implementing :class:`RunReader`, or None (write-only)
    writer : module implementing :class:`FileWriter`, or None (read-only)
    radial_suffix : str or None, suffix of the code's radial basis files
    radial_module : module giving ``radial_functions(path, species_basis)`` for them
    structure_files : file names marking an input folder :class:`StructureReader` reads
    """

    code: str
    reader: str | None
    writer: str | None
    radial_suffix: str | None = None
    radial_module: str | None = None
    structure_files: tuple[str, ...] = ()


#: The format table, in detection order (and the order ``--to`` lists the targets).
FORMATS = (
    Format(
        "abacus",
        "slem_dft.parsers.abacus",
        "slem_dft.writers.abacus",
        ".orb",
        "slem_dft.basisfiles.orb",
        ("STRU", "INPUT"),
    ),
    Format(
        "siesta", "slem_dft.parsers.siesta", "slem_dft.writers.siesta", ".xml", "slem_dft.basisfiles.ion"
    ),  # <label>.ion.xml
    Format("openmx", "slem_dft.parsers.openmx", "slem_dft.writers.openmx"),
    Format("wannier90", None, "slem_dft.writers.wannier90"),
    Format("deeptb", None, "slem_dft.writers.deeptb"),
)

_BY_CODE = {f.code: f for f in FORMATS}

#: Codes with a reader -> reader module.
READERS = {f.code: f.reader for f in FORMATS if f.reader}
#: Targets with a writer, in the order ``--to`` lists them.
TARGETS = tuple(f.code for f in FORMATS if f.writer)
#: Radial basis-file suffix -> module reading it.
RADIAL_FILES = {f.radial_suffix: f.radial_module for f in FORMATS if f.radial_suffix}


def reader(code: str) -> ModuleType:
    """The reader module of ``code`` (imported on first use)."""
    if code not in READERS:
        raise ConfigError(f"no reader for {code!r}; available: {', '.join(READERS)}")
    return importlib.import_module(READERS[code])


def writer(code: str) -> ModuleType:
    """The writer module of ``code`` (imported on first use)."""
    if code not in TARGETS:
        raise ConfigError(f"no writer for {code!r}; available: {', '.join(TARGETS)}")
    return importlib.import_module(_BY_CODE[code].writer)


def detect_code(run_dir: str | os.PathLike) -> str:
    """The DFT code that wrote ``run_dir``; a clear error for anything else."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise MissingInputError(run_dir, "no such directory")
    if not run_dir.is_dir():
        raise MissingInputError(run_dir, "not a directory (give the run directory, not a file)")
    if not any(run_dir.iterdir()):
        raise MissingInputError(run_dir, "directory is empty")
    for code in READERS:
        if reader(code).detect(run_dir):
            return code
    raise MissingInputError(run_dir, f"unknown layout: no operator files of a supported code ({', '.join(READERS)})")


def read_run(run_dir: str | os.PathLike, code: str | None = None, **options) -> Record:
    """Read a run directory with its code's reader (detected unless given)."""
    return reader(code or detect_code(run_dir)).read_run(run_dir, **options)


def read_structure(run_dir: str | os.PathLike) -> tuple[ase.Atoms, tuple[str, ...]]:
    """Structure (Angstrom) and species labels of a run or input directory: the code's own
    structure reader where it has one and the folder holds its input (ABACUS STRU), else the
    run read without operators."""
    run_dir = Path(run_dir)
    for f in FORMATS:
        if any((run_dir / name).is_file() for name in f.structure_files):
            return reader(f.code).read_structure(run_dir)
    record = read_run(run_dir, operators=())
    return record.atoms, record.species


def read_references(record: Record, extra: Iterable[str | os.PathLike] = ()) -> list:
    """The eigenvalue references of a record's run (plus extra folders)."""
    return reader(record.source.code).read_run_references(record, extra)


def read_radial_basis(record: Record) -> dict:
    """Radial functions of a record's basis (for exact overlaps), where its code provides them."""
    module = reader(record.source.code) if record.source.code in READERS else None
    if not isinstance(module, RadialBasisReader):
        raise MissingInputError(record.source.path, f"no radial-function reader for {record.source.code} basis files")
    return module.read_radial_basis(record)


def read_radial_file(path: str | os.PathLike, species: SpeciesBasis) -> list:
    """Radial functions (Angstrom) of one species from a basis file of any supported code."""
    module = RADIAL_FILES.get(Path(path).suffix)
    if module is None:
        raise MissingInputError(path, f"not a radial-orbital file slem-dft reads ({', '.join(RADIAL_FILES)})")
    if not Path(path).is_file():
        raise MissingInputError(path, "no such file")
    return importlib.import_module(module).radial_functions(path, species)


def find_run_dirs(roots: Iterable[str | os.PathLike], recursive: bool = False) -> list[Path]:
    """Run directories: the roots themselves, or with ``recursive`` every folder under them
    that a reader recognises (``OUT.*`` folders count as part of their parent run)."""
    roots = [Path(r) for r in roots]
    if not recursive:
        return roots
    found = []
    for root in roots:
        if not root.is_dir():
            raise MissingInputError(root, "no such directory")
        for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
            if folder.name.startswith("OUT.") or any(
                part.startswith("OUT.") for part in folder.relative_to(root).parts
            ):
                continue
            if any(reader(code).detect(folder) for code in READERS):
                found.append(folder)
    if not found:
        raise MissingInputError(roots[0], "no run directory of a supported code found under it")
    return found
