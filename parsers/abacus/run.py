"""An ABACUS run directory -> :class:`slem_dft.data.Record`.

Finds the CSR files of H, S and DM (in the run directory and its ``OUT.*`` folders, or as
named by the caller), the structure (STRU, else the new-layout CSR header) and the basis
(``.orb`` headers, else the log's basis lines), and converts everything to the canonical
convention: eV, Angstrom, standard real harmonics, spin innermost.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import ase
import numpy as np

from slem_dft.basisfiles.orb import radial_functions, read_orb_header
from slem_dft.compression import strip_compression
from slem_dft.conventions import orbital_map, spinor_split
from slem_dft.data import Basis, BlockMatrix, Record, Source, SpeciesBasis
from slem_dft.errors import AmbiguousInputError, FileFormatError, MissingInputError
from slem_dft.overlap import RadialFunction
from slem_dft.units import RY_TO_EV_ABACUS

from .csr import CsrFile, CsrHeaderStructure, read_csr
from .inputs import LogInfo, Stru, read_input, read_log, read_stru

__all__ = ["detect", "find_operator_files", "read_run", "read_run_references", "read_radial_basis"]

# Operator files by name: old layout data-HR-sparse_SPIN0.csr (also "refdata-" in ABACUS's
# test suite), new layout hrs1_nao.csr; optional ".ref" test-suite suffix.
_CSR_NAME = re.compile(
    r"^(?:ref)?(?:data-(?P<old>HR|SR|DMR)-sparse_SPIN(?P<old_spin>[01])|(?P<new>hr|sr|dmr)s(?P<new_spin>[12])_nao|sr_nao)"
    r"\.csr(?P<ref>\.ref)?$"
)
_NAME_TO_OP = {"HR": "H", "SR": "S", "DMR": "DM", "hr": "H", "sr": "S", "dmr": "DM"}
_UNITS = {"H": RY_TO_EV_ABACUS, "S": 1.0, "DM": 1.0}
_INIT_CHG_OPERATOR = {"hr": "H", "dm": "DM"}


def _search_folders(run_dir: Path) -> list[Path]:
    return [run_dir] + sorted(p for p in run_dir.glob("OUT.*") if p.is_dir())


def _classify(path: Path) -> tuple[str, int, bool] | None:
    """(operator, spin 1|2, is_ref) from an operator file name, or None."""
    m = _CSR_NAME.match(strip_compression(path))
    if m is None:
        return None
    if m.group("old"):
        return _NAME_TO_OP[m.group("old")], int(m.group("old_spin")) + 1, bool(m.group("ref"))
    if m.group("new"):
        return _NAME_TO_OP[m.group("new")], int(m.group("new_spin")), bool(m.group("ref"))
    return "S", 1, bool(m.group("ref"))


def detect(run_dir: str | os.PathLike) -> bool:
    """True when the directory holds ABACUS operator files (or its OUT.* folders do)."""
    run_dir = Path(run_dir)
    return run_dir.is_dir() and any(
        _classify(p) is not None for folder in _search_folders(run_dir) for p in folder.iterdir() if p.is_file()
    )


def find_operator_files(
    run_dir: str | os.PathLike, operators: Iterable[str] = ("H", "S", "DM")
) -> dict[str, list[Path]]:
    """The CSR files of each requested operator, ordered by spin.

    When a name exists both plain and with ABACUS's test-suite ``.ref`` suffix, and INPUT says
    the plain file is what the run *read* (``init_chg hr|dm`` with ``read_file_dir``), the
    run's own output (``.ref``) is taken. Any other clash is an :class:`AmbiguousInputError`.
    """
    run_dir = Path(run_dir)
    found: dict[tuple[str, int], list[tuple[Path, bool]]] = {}
    for folder in _search_folders(run_dir):
        for p in sorted(folder.iterdir()):
            if p.is_file() and (c := _classify(p)) is not None and c[0] in operators:
                found.setdefault(c[:2], []).append((p, c[2]))
    init_input = _init_chg_input(run_dir)
    out: dict[str, list[Path]] = {}
    for (op, spin), candidates in sorted(found.items()):
        if len(candidates) > 1 and init_input is not None and op == init_input[0]:
            outputs = [(p, ref) for p, ref in candidates if not (p.parent.resolve() == init_input[1] and not ref)]
            candidates = outputs or candidates
        if len(candidates) > 1:
            names = ", ".join(str(p) for p, _ in candidates)
            raise AmbiguousInputError(run_dir, f"several files hold {op} (spin {spin}): {names}; name one explicitly")
        out.setdefault(op, []).append(candidates[0][0])
    return out


def _init_chg_input(run_dir: Path) -> tuple[str, Path] | None:
    """(operator, folder) of the file the run read with ``init_chg hr|dm``, if any."""
    if not (run_dir / "INPUT").is_file():
        return None
    params = read_input(run_dir / "INPUT")
    op = _INIT_CHG_OPERATOR.get(params.get("init_chg", "").lower())
    if op is None:
        return None
    return op, (run_dir / params.get("read_file_dir", "./")).resolve()


def read_run(
    run_dir: str | os.PathLike,
    operators: Iterable[str] = ("H", "S", "DM"),
    files: Mapping[str, Iterable[str | os.PathLike]] | None = None,
    orbital_dir: str | os.PathLike | None = None,
) -> Record:
    """Read an ABACUS LCAO run into a :class:`Record` in the canonical convention.

    Parameters
    ----------
    run_dir
        The run directory (holding INPUT/STRU and the outputs, or their ``OUT.*`` folder).
    operators
        Which of "H", "S", "DM" to read, where present.
    files
        Operator -> explicit CSR files (spin 1 then spin 2), overriding the discovery.
    orbital_dir
        Extra folder to look for the ``.orb`` files in.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingInputError(run_dir, "not a directory")
    operators = tuple(operators)
    chosen = {op: [Path(f) for f in fs] for op, fs in files.items()} if files else {}
    discovered = find_operator_files(run_dir, [op for op in operators if op not in chosen])
    chosen = {**discovered, **chosen}
    if not chosen:
        raise MissingInputError(run_dir, f"no ABACUS CSR file of {', '.join(operators)} found (nor in OUT.*)")
    params = read_input(run_dir / "INPUT") if (run_dir / "INPUT").is_file() else {}
    log = _read_run_log(run_dir)
    csr = {op: [read_csr(p) for p in paths] for op, paths in chosen.items()}
    for op, parsed in csr.items():
        for c in parsed:
            if c.operator != op:
                raise FileFormatError(c.path, f"holds {c.operator}, but was given as the {op} file")
    headers = [c.structure for parsed in csr.values() for c in parsed if c.structure is not None]
    stru = _read_run_stru(run_dir, params)
    atoms, species = _structure(run_dir, stru, headers)
    basis, basis_files = _basis(run_dir, stru, species, params, log, orbital_dir)
    nspin = _nspin(run_dir, params, log, csr)
    counts = basis.orbital_counts(species)
    expected = int(counts.sum()) * (2 if nspin == 4 else 1)
    operators_out, precision = {}, {}
    for op, parsed in csr.items():
        for c in parsed:
            if c.dim != expected:
                raise FileFormatError(
                    c.path,
                    f"matrix dimension {c.dim} does not match the basis: {len(species)} atoms with "
                    f"{int(counts.sum())} orbitals{' x 2 spins' if nspin == 4 else ''} = {expected}",
                )
        operators_out[op] = _to_blocks(parsed, op, nspin, species, basis)
        precision[op] = max(c.relative_precision for c in parsed)
    gamma_only = any(c.gamma_folded for parsed in csr.values() for c in parsed) or params.get("gamma_only", "0") == "1"
    fermi = (
        log.fermi_energy
        if log.fermi_energy is not None
        else next((c.fermi_energy_eV for parsed in csr.values() for c in parsed if c.fermi_energy_eV is not None), None)
    )
    n_elec = log.n_electrons
    if n_elec is None and float(params.get("nelec", "0") or 0) > 0:
        n_elec = float(params["nelec"])
    notes = _notes(run_dir, chosen)
    source = Source(
        "abacus",
        log.version,
        os.fspath(run_dir),
        {op: tuple(os.fspath(p) for p in ps) for op, ps in chosen.items()},
        notes,
        precision,
        basis_files,
    )
    return Record(atoms, species, basis, operators_out, nspin, source, n_elec, fermi, gamma_only)


def _notes(run_dir: Path, chosen: dict[str, list[Path]]) -> tuple[str, ...]:
    init = _init_chg_input(run_dir)
    if init is None:
        return ()
    op, folder = init
    return tuple(
        f"{p} is the {op} the run read (init_chg), not its output"
        for p in chosen.get(op, [])
        if p.parent.resolve() == folder and not strip_compression(p).endswith(".ref")
    )


def _read_run_log(run_dir: Path) -> LogInfo:
    logs = [p for folder in _search_folders(run_dir) for p in sorted(folder.glob("running_*.log*"))]
    return read_log(logs[0]) if logs else LogInfo()


def read_structure(run_dir: str | os.PathLike) -> tuple[ase.Atoms, tuple[str, ...]]:
    """The structure (atoms wrapped into the cell, Angstrom) and species labels of an ABACUS
    input or run directory, from its STRU (and INPUT's ``stru_file`` / ``latname``)."""
    run_dir = Path(run_dir)
    params = read_input(run_dir / "INPUT") if (run_dir / "INPUT").is_file() else {}
    return _structure(run_dir, _read_run_stru(run_dir, params), [])


def _read_run_stru(run_dir: Path, params: dict[str, str]) -> Stru | None:
    name = params.get("stru_file", "STRU")
    path = run_dir / name
    return read_stru(path, params.get("latname", "none")) if path.is_file() else None


def _wrap(frac: np.ndarray) -> np.ndarray:
    """ABACUS wraps fractional coordinates into [0, 1) and labels R accordingly."""
    out = np.mod(frac, 1.0)
    out[out >= 1.0] -= 1.0
    return out


def _structure(
    run_dir: Path, stru: Stru | None, headers: list[CsrHeaderStructure]
) -> tuple[ase.Atoms, tuple[str, ...]]:
    """Cell from STRU (full precision) else the CSR header; positions wrapped as ABACUS does,
    taken from the CSR header when there is one (its R labels refer to those)."""
    if stru is None and not headers:
        raise MissingInputError(run_dir, "no structure: no STRU file and no new-layout CSR header lists the atoms")
    ref = headers[0] if headers else None
    for other in headers[1:]:
        if other.species != ref.species or not np.allclose(other.fractional, ref.fractional, atol=1e-6):
            raise FileFormatError(run_dir, "the CSR headers of this run list different structures")
    if stru is None:
        species, cell, frac = ref.species, ref.cell, ref.fractional
    else:
        species, cell, frac = stru.species, stru.cell, _wrap(stru.fractional)
        if ref is not None:
            if ref.species != stru.species:
                raise FileFormatError(
                    run_dir / "STRU", f"species {stru.species} differ from the CSR header's {ref.species}"
                )
            shift = ref.fractional - frac
            if np.abs(shift - np.round(shift)).max() > 1e-4 or not np.allclose(ref.cell, cell, rtol=1e-4, atol=1e-4):
                raise FileFormatError(run_dir / "STRU", "positions or cell differ from the structure in the CSR header")
            frac = ref.fractional
    symbols = [_element_of(label) for label in species]
    atoms = ase.Atoms(symbols=symbols, scaled_positions=frac, cell=cell, pbc=True)
    return atoms, tuple(species)


def _element_of(label: str) -> str:
    """Chemical symbol of an ABACUS species label ("Fe1" -> "Fe")."""
    m = re.match(r"[A-Z][a-z]?", label)
    if m is None or m.group(0) not in ase.data.atomic_numbers:
        raise FileFormatError(label, "species label does not start with a chemical symbol")
    return m.group(0)


def _orb_candidates(run_dir: Path, params: dict[str, str], orbital_dir) -> list[Path]:
    folders = [Path(orbital_dir)] if orbital_dir else []
    if "orbital_dir" in params:
        folders.append(run_dir / params["orbital_dir"])
    folders.append(run_dir)
    return [f for f in folders if f.is_dir()]


def _basis(run_dir, stru, species, params, log: LogInfo, orbital_dir) -> tuple[Basis, dict[str, str]]:
    """Per species: the ``.orb`` header named by STRU (else any ``.orb`` whose Element matches),
    else the log's "L=l, number of zeta" lines. Also returns label -> ``.orb`` path used."""
    folders = _orb_candidates(run_dir, params, orbital_dir)
    labels = list(dict.fromkeys(stru.species_order if stru else species))
    named = dict(zip(stru.species_order, stru.orbital_files)) if stru else {}
    out, files = [], {}
    for label in labels:
        found = _find_orb(named.get(label), label, folders)
        if found is not None:
            element, zetas = read_orb_header(found)
            files[label] = os.fspath(found.resolve())  # absolute: used again after conversion
        elif label in log.zetas:
            element, zetas = _element_of(label), log.zetas[label]
        else:
            looked = ", ".join(str(f) for f in folders)
            raise MissingInputError(
                run_dir,
                f"no basis for species {label}: no .orb file ({named.get(label, 'not named in STRU')}) in "
                f"{looked}, and no running_*.log with its basis lines; pass the orbital folder",
            )
        out.append(SpeciesBasis.from_zeta_counts(label, element, zetas))
    return Basis(tuple(out)), files


def _find_orb(name: str | None, label: str, folders: list[Path]) -> Path | None:
    if name:
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
        return None
    matches = []
    for folder in folders:
        for p in sorted(folder.iterdir()):
            if p.is_file() and strip_compression(p).lower().endswith(".orb"):
                element, _ = read_orb_header(p)
                if element == _element_of(label):
                    matches.append(p)
    unique = {p.resolve() for p in matches}
    if len(unique) > 1:
        raise AmbiguousInputError(folders[0], f"several .orb files for {label}: {', '.join(map(str, matches))}")
    return matches[0] if matches else None


def _nspin(run_dir: Path, params: dict[str, str], log: LogInfo, csr: dict[str, list[CsrFile]]) -> int:
    complex_values = any(c.is_complex for parsed in csr.values() for c in parsed)
    if "nspin" in params:
        nspin = int(params["nspin"])
    elif log.nspin is not None:
        nspin = log.nspin
    elif complex_values:
        nspin = 4
    else:
        two = any(c.n_spin_directions == 2 or len(parsed) == 2 for parsed in csr.values() for c in parsed)
        nspin = 2 if two else 1
    if (nspin == 4) != complex_values:
        raise FileFormatError(run_dir, f"nspin {nspin} but the matrices are {'complex' if complex_values else 'real'}")
    for op, parsed in csr.items():
        want = 2 if nspin == 2 and op != "S" else 1
        if len(parsed) != want:
            raise MissingInputError(run_dir, f"nspin {nspin}: expected {want} {op} file(s), found {len(parsed)}")
    return nspin


def _to_blocks(parsed: list[CsrFile], op: str, nspin: int, species, basis: Basis) -> BlockMatrix:
    """ABACUS CSR elements -> canonical atom-pair blocks (units converted)."""
    counts = basis.orbital_counts(species)
    atom_of = np.repeat(np.arange(len(species)), counts)
    # One map for the whole structure (atoms are consecutive in both orders): file slot
    # perm[p] is canonical slot p, whose index within its atom is p - start of that atom.
    perm, sign = orbital_map("abacus", [l for label in species for l in basis[label].ls])
    local_of = np.empty(perm.size, dtype=np.int64)
    sign_of = np.empty(perm.size)
    local_of[perm] = np.arange(perm.size) - np.repeat(np.cumsum(counts) - counts, counts)
    sign_of[perm] = sign
    pieces = []
    for channel, c in enumerate(parsed):
        rows, cols = c.rows, c.cols
        if nspin == 4:
            (rows, s_row), (cols, s_col) = spinor_split("abacus", rows), spinor_split("abacus", cols)
            ch = 2 * s_row + s_col
        else:
            ch = np.full(rows.size, channel, dtype=np.int64)
        vals = c.values * (sign_of[rows] * sign_of[cols] * _UNITS[op])
        pieces.append((atom_of[rows], local_of[rows], atom_of[cols], local_of[cols], c.R[c.r_index], ch, vals))
    merged = [np.concatenate(parts) for parts in zip(*pieces)]
    spin = "spinor" if nspin == 4 else ("collinear" if len(parsed) == 2 else "none")
    return BlockMatrix.from_entries(*merged, orbital_counts=counts, spin=spin)


def read_run_references(record: Record, extra: Iterable[str | os.PathLike] = ()) -> list:
    """Eigenvalue files and dense dumps of the run (and of any extra folders given)."""
    from .references import find_references

    run_dir = Path(record.source.path)
    kpoints = _read_run_log(run_dir).kpoints
    refs = find_references(run_dir, record, kpoints)
    for folder in extra:
        folder = Path(folder)
        if not folder.is_dir():
            raise MissingInputError(folder, "reference folder does not exist")
        log = _read_run_log(folder)
        refs.extend(find_references(folder, record, log.kpoints if log.kpoints is not None else kpoints))
    return refs


def read_radial_basis(record: Record) -> dict[str, list[RadialFunction]]:
    """The radial functions of every species of an ABACUS record, from the ``.orb`` files
    its basis was read from (Angstrom units, canonical shell order)."""
    missing = [sb.label for sb in record.basis.species if sb.label not in record.source.basis_files]
    if missing:
        raise MissingInputError(record.source.path, f"no .orb file known for species {', '.join(missing)}")
    return {label: radial_functions(path, record.basis[label]) for label, path in record.source.basis_files.items()}
