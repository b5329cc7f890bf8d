"""A SIESTA run directory -> :class:`slem_dft.data.Record`.

H and S come from the run's ``.HSX`` (else its ``.TSHS``), the DM from its ``.DM``; structure
and basis from those files and, where they lack them, from STRUCT_OUT/XV, ORB_INDX and the fdf
(:mod:`.structure`). Everything is converted to the canonical convention: eV and Angstrom with
the constants of the SIESTA version that wrote the files, standard real harmonics, and the
block meaning <i| O |j + R> (SIESTA stores <jo| O |io> at row io, column jo).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import ase
import numpy as np

from slem_dft.compression import strip_compression
from slem_dft.conventions import orbital_table, siesta_image_offsets, siesta_spinor_channels
from slem_dft.data import BlockMatrix, Record, Source
from slem_dft.errors import AmbiguousInputError, FileFormatError, MissingInputError
from slem_dft.units import RY_TO_EV_CODATA2018, RY_TO_EV_SIESTA41, SIESTA_LEGACY_VERSION, siesta_units

from .dm import DMFile, read_dm
from .hsx import hsx_version, read_hsx
from .references import find_references
from .sparse import SparseMatrices, images_from_xij, rows_of
from .structure import SiestaStructure, find_companion, read_structure
from .text import read_eig, read_fdf, read_run_out
from .tshs import read_tshs

__all__ = ["detect", "find_files", "read_run", "read_run_references"]

_BINARY = (".HSX", ".TSHS", ".DM")
_SPIN = {1: "none", 2: "collinear", 4: "spinor", 8: "spinor"}


def _binaries(run_dir: Path) -> list[Path]:
    return [p for p in sorted(run_dir.iterdir()) if p.is_file() and Path(strip_compression(p)).suffix in _BINARY]


def detect(run_dir: str | os.PathLike) -> bool:
    """True when the directory holds a SIESTA ``.HSX``, ``.TSHS`` or ``.DM`` file."""
    run_dir = Path(run_dir)
    return run_dir.is_dir() and bool(_binaries(run_dir))


def find_files(run_dir: str | os.PathLike) -> tuple[str | None, Path, Path | None]:
    """(system label, the H/S file, the DM file or None) of a run directory.

    The label is the fdf's SystemLabel when a ``<label>.HSX``/``.TSHS`` exists, else the one
    stem of the HSX/TSHS files; HSX is preferred over TSHS of the same label.
    """
    run_dir = Path(run_dir)
    files = _binaries(run_dir)
    stems = {}
    for p in files:
        name = Path(strip_compression(p))
        stems.setdefault(name.stem, {})[name.suffix] = p
    label = read_fdf(run_dir).system_label
    if label not in stems or not ({".HSX", ".TSHS"} & set(stems[label])):
        with_hs = [s for s, kinds in stems.items() if {".HSX", ".TSHS"} & set(kinds)]
        if not with_hs:
            raise MissingInputError(
                run_dir,
                "no .HSX or .TSHS file: SIESTA's DM alone has no structure (save H and S with SaveHS or TS.HS.Save)",
            )
        if len(with_hs) > 1:
            raise AmbiguousInputError(
                run_dir,
                f"several systems ({', '.join(sorted(with_hs))}) and no fdf "
                "SystemLabel naming one; name the files explicitly",
            )
        label = with_hs[0]
    kinds = stems[label]
    return label, kinds.get(".HSX", kinds.get(".TSHS")), kinds.get(".DM")


def _read_matrices(path: Path) -> SparseMatrices:
    return read_tshs(path) if strip_compression(path).endswith(".TSHS") else read_hsx(path)


def _version(run_dir: Path, hs: SparseMatrices, label: str | None) -> tuple[str, list[str]]:
    """The SIESTA version that wrote ``hs`` and notes on how it was decided."""
    if hs.kind == "HSX v0":
        return SIESTA_LEGACY_VERSION, [
            f"{Path(hs.path).name} is HSX version 0, written by SIESTA <= 4.1 (legacy units)"
        ]
    if (run_dir / "RUN.out").is_file() and (version := read_run_out(run_dir / "RUN.out").version):
        return version, []
    sibling = find_companion([run_dir], ".HSX", label)
    if sibling is not None and hsx_version(sibling) == 0:
        return SIESTA_LEGACY_VERSION, [
            (
                f"SIESTA version not recorded; the run's {sibling.name} is HSX version 0, written by "
                "SIESTA <= 4.1 (legacy units)"
            )
        ]
    eig = find_companion([run_dir], ".EIG", label)
    if eig is not None and hs.fermi is not None:
        printed = read_eig(eig)
        legacy, codata = (abs(hs.fermi * c - printed.fermi) for c in (RY_TO_EV_SIESTA41, RY_TO_EV_CODATA2018))
        if abs(legacy - codata) > 2 * printed.fermi_resolution:
            if legacy < codata:
                return SIESTA_LEGACY_VERSION, [
                    (
                        f"SIESTA version not recorded; {eig.name}'s Fermi level matches the file's "
                        "with the SIESTA <= 4.1 constant 13.60580 eV/Ry"
                    )
                ]
            return "5.x", [
                (
                    f"SIESTA version not recorded; {eig.name}'s Fermi level matches the file's with the "
                    "CODATA 2018 constant of SIESTA 5"
                )
            ]
    return "unknown", [
        (
            "SIESTA version not recorded (no RUN.out, no HSX v0, no .EIG Fermi level precise enough "
            "to tell the unit constants apart): SIESTA 5 (CODATA 2018) units assumed"
        )
    ]


def read_run(
    run_dir: str | os.PathLike,
    operators: Iterable[str] = ("H", "S", "DM"),
    files: Mapping[str, Iterable[str | os.PathLike]] | None = None,
    orbital_dir: str | os.PathLike | None = None,
) -> Record:
    """Read a SIESTA run into a :class:`Record` in the canonical convention.

    Parameters
    ----------
    run_dir
        The run directory (HSX/TSHS, DM, and the text files SIESTA writes beside them).
    operators
        Which of "H", "S", "DM" to read, where present.
    files
        Operator -> explicit file (one each; H and S come from one HSX/TSHS, so naming either
        names both), overriding the discovery.
    orbital_dir
        Extra folder searched for the ORB_INDX / STRUCT_OUT / XV when the run directory lacks them.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MissingInputError(run_dir, "not a directory")
    operators = tuple(operators)
    chosen = {op: [Path(f) for f in fs] for op, fs in (files or {}).items()}
    fdf = read_fdf(run_dir)
    label, hs_path = fdf.system_label, (chosen.get("H") or chosen.get("S") or [None])[0]
    dm_path = (chosen.get("DM") or [None])[0]
    if hs_path is None:
        label, hs_path, found_dm = find_files(run_dir)
        dm_path = dm_path or found_dm
    elif dm_path is None:
        dm_path = find_companion([run_dir], ".DM", label)
    hs = _read_matrices(hs_path)
    version, notes = _version(run_dir, hs, label)
    ry, bohr = siesta_units(version)
    folders = [run_dir] + ([Path(orbital_dir)] if orbital_dir else [])
    st = read_structure(hs, folders, label, fdf, bohr)
    images = _images(hs, st)
    maps = _orbital_maps(st)
    out, used = {}, {}
    for op, values, unit in (("H", hs.H, ry), ("S", None if hs.S is None else hs.S[None], 1.0)):
        if op in operators and values is not None:  # a TSHS may hold S only (onlyS)
            out[op] = _to_blocks(hs.numh, hs.col, values, hs.no_u, images, maps, st, unit)
            used[op] = (os.fspath(hs_path),)
    if "DM" in operators and dm_path is not None:
        dm = read_dm(dm_path)
        _check_dm(dm, hs)
        dm_images = siesta_image_offsets(dm.nsc) if dm.nsc is not None else images
        out["DM"] = _to_blocks(dm.numh, dm.col, dm.values, dm.no_u, dm_images, maps, st, 1.0)
        used["DM"] = (os.fspath(dm_path),)
    fermi = hs.fermi * ry if hs.fermi is not None else _eig_fermi(run_dir, label)
    log = read_run_out(run_dir / "RUN.out") if (run_dir / "RUN.out").is_file() else None
    precision = {op: 2.0**-24 for op in ("H", "S") if op in out and hs.single_precision}
    if st.files:
        notes.append(f"structure/basis companions: {', '.join(Path(f).name for f in st.files)}")
    source = Source("siesta", version, os.fspath(run_dir), used, tuple(notes), precision)
    atoms = ase.Atoms(
        numbers=[ase.data.atomic_numbers[st.basis[s].element] for s in st.species],
        positions=st.xa * bohr,
        cell=st.cell * bohr,
        pbc=True,
    )
    nspin = {1: 1, 2: 2}.get(hs.nspin, 4)
    return Record(
        atoms,
        st.species,
        st.basis,
        out,
        nspin,
        source,
        float(hs.qtot),
        fermi,
        gamma_only=hs.gamma,
        spin_moment=log.spin_moment if log else None,
    )


def _images(hs: SparseMatrices, st: SiestaStructure) -> np.ndarray:
    """(n_s, 3) lattice offset of each supercell image (valid for the images in use)."""
    if hs.isc_off is not None:
        return hs.isc_off
    if hs.xij is not None and hs.no_s > hs.no_u:
        return images_from_xij(hs, st.cell, st.xa)
    return np.zeros((hs.no_s // hs.no_u, 3), dtype=np.int64)


def _check_dm(dm: DMFile, hs: SparseMatrices) -> None:
    if dm.no_u != hs.no_u:
        raise FileFormatError(dm.path, f"DM has {dm.no_u} orbitals, but {Path(hs.path).name} has {hs.no_u}")
    if dm.nspin != hs.nspin:
        raise FileFormatError(dm.path, f"DM has {dm.nspin} spin components, but {Path(hs.path).name} has {hs.nspin}")
    no_s = dm.no_u * int(np.prod(dm.nsc)) if dm.nsc is not None else hs.no_s
    if dm.col.size and dm.col.max() >= no_s:
        raise FileFormatError(dm.path, f"column {int(dm.col.max()) + 1} outside the supercell of {no_s} orbitals")


def _orbital_maps(st: SiestaStructure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per file orbital: (atom, canonical index within the atom, sign)."""
    return orbital_table("siesta", [st.basis[label].ls for label in st.species])


def _to_blocks(numh, col, values, no_u, images, maps, st: SiestaStructure, unit: float) -> BlockMatrix:
    """SIESTA elements (row io, column jo; ``values`` (n_components, nnz)) -> canonical blocks.

    The stored <jo|O|io> is the canonical element (io, juo, R) for real spinless values (the
    matrix is real symmetric); spinor components become the channels of
    :func:`siesta_spinor_channels` at (io, juo, R). R = isc_off of the column's image.
    """
    atom, local, sign = maps
    rows, juo = rows_of(numh), col % no_u
    R = images[col // no_u]
    factor = sign[rows] * sign[juo] * unit
    n_comp = values.shape[0]
    if n_comp in (4, 8):
        vals = (siesta_spinor_channels(values) * factor).reshape(-1)
        idx, ch = np.tile(np.arange(rows.size), 4), np.repeat(np.arange(4), rows.size)
    else:
        vals = (values * factor).reshape(-1)
        idx, ch = np.tile(np.arange(rows.size), n_comp), np.repeat(np.arange(n_comp), rows.size)
    counts = st.basis.orbital_counts(st.species)
    return BlockMatrix.from_entries(
        atom[rows][idx], local[rows][idx], atom[juo][idx], local[juo][idx], R[idx], ch, vals, counts, _SPIN[n_comp]
    )


def _eig_fermi(run_dir: Path, label: str | None) -> float | None:
    eig = find_companion([run_dir], ".EIG", label)
    return read_eig(eig).fermi if eig is not None else None


def read_run_references(record: Record, extra: Iterable[str | os.PathLike] = ()) -> list:
    """The run's ``.EIG`` (with ``.KP``) as band references, and those of any extra folders."""
    refs = find_references(Path(record.source.path), record)
    for folder in extra:
        folder = Path(folder)
        if not folder.is_dir():
            raise MissingInputError(folder, "reference folder does not exist")
        refs.extend(find_references(folder, record))
    return refs
