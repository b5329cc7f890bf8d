"""Which reader handles a run directory: one line per DFT code, modules imported lazily."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from pathlib import Path

import ase

from .data import Record, SpeciesBasis
from .errors import MissingInputError

__all__ = ["READERS", "detect_code", "read_run", "read_structure", "read_references", "read_radial_basis",
           "read_radial_file", "find_run_dirs"]

#: code -> module providing ``detect(run_dir)``, ``read_run(run_dir, ...)`` and
#: ``read_run_references(record, extra)``; optionally ``read_radial_basis(record)`` and
#: ``read_structure(run_dir)`` (for input folders that hold no operators yet).
READERS = {
    "abacus": "slem_dft.parsers.abacus",
    "siesta": "slem_dft.parsers.siesta",
    "openmx": "slem_dft.parsers.openmx",
}


def _reader(code: str):
    return importlib.import_module(READERS[code])


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
        if _reader(code).detect(run_dir):
            return code
    raise MissingInputError(run_dir, f"unknown layout: no operator files of a supported code ({', '.join(READERS)})")


def read_run(run_dir: str | os.PathLike, code: str | None = None, **options) -> Record:
    """Read a run directory with its code's reader (detected unless given)."""
    return _reader(code or detect_code(run_dir)).read_run(run_dir, **options)


def read_structure(run_dir: str | os.PathLike) -> tuple[ase.Atoms, tuple[str, ...]]:
    """Structure (Angstrom) and species labels of a run or input directory: the code's own
    structure reader where it has one and the folder holds its input (ABACUS STRU), else the
    run read without operators."""
    run_dir = Path(run_dir)
    if (run_dir / "STRU").is_file() or (run_dir / "INPUT").is_file():
        return _reader("abacus").read_structure(run_dir)
    record = read_run(run_dir, operators=())
    return record.atoms, record.species


def read_references(record: Record, extra: Iterable[str | os.PathLike] = ()) -> list:
    """The eigenvalue references of a record's run (plus extra folders)."""
    return _reader(record.source.code).read_run_references(record, extra)


def read_radial_basis(record: Record) -> dict:
    """Radial functions of a record's basis (for exact overlaps), where its code provides them."""
    reader = _reader(record.source.code)
    if not hasattr(reader, "read_radial_basis"):
        raise MissingInputError(record.source.path, f"no radial-function reader for {record.source.code} basis files")
    return reader.read_radial_basis(record)


#: basis-file suffix -> code whose reader gives ``radial_functions(path, species_basis)``
RADIAL_FILES = {".orb": "abacus", ".xml": "siesta"}  # .xml: SIESTA's <label>.ion.xml


def read_radial_file(path: str | os.PathLike, species: SpeciesBasis) -> list:
    """Radial functions (Angstrom) of one species from a basis file of any supported code."""
    code = RADIAL_FILES.get(Path(path).suffix)
    if code is None:
        raise MissingInputError(path, f"not a radial-orbital file slem-dft reads ({', '.join(RADIAL_FILES)})")
    if not Path(path).is_file():
        raise MissingInputError(path, "no such file")
    return _reader(code).radial_functions(path, species)


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
            if folder.name.startswith("OUT.") or any(part.startswith("OUT.") for part in folder.relative_to(root).parts):
                continue
            if any(_reader(code).detect(folder) for code in READERS):
                found.append(folder)
    if not found:
        raise MissingInputError(roots[0], "no run directory of a supported code found under it")
    return found
