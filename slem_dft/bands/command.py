"""``slem-dft bands``: bands of a stored or parsed structure along a path or on a reference's
k-points, compared with the reference, written as ``.dat``, ``.json`` and ``.png``."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..data import Record
from ..errors import ConfigError, MissingInputError
from ..kspace import DENSE_LIMIT
from ..reference import BandReference
from .compare import BandComparison, _window_mask, compare_bands
from .fermi import default_kmesh, fermi_level_from_mesh
from .files import plot_bands, write_dat
from .kpath import parse_kpath, reference_kpath, seekpath_kpath
from .solver import compute_bands

__all__ = ["BandsReport", "load_structure", "run_bands"]


def load_structure(path: str | os.PathLike, index: int = 0) -> Record:
    """A record from a store (``.h5``/``.hdf5``, structure ``index``) or a DFT run directory."""
    path = Path(path)
    if path.suffix in (".h5", ".hdf5") or path.is_file():
        from ..store import Store

        store = Store(path)
        if not 0 <= index < len(store):
            raise ConfigError(f"{path}: index {index} outside 0..{len(store) - 1}")
        return store[index]
    from ..registry import read_run

    return read_run(path, operators=("H", "S"))


def _band_reference(record: Record, where: str) -> BandReference:
    """The first band-energy reference of a run (``.Band``/``BANDS_1.dat``/``eig_occ.txt``/``.EIG``)."""
    from ..registry import read_references

    refs = [r for r in read_references(record) if isinstance(r, BandReference)]
    if not refs:
        raise MissingInputError(
            where,
            "no band-energy reference in this run (BANDS_1.dat, eig_occ.txt, band.txt, "
            ".EIG, .Band or .out eigenvalues)",
        )
    return refs[0]


def _to_cell(reference: BandReference, ref_cell: np.ndarray, cell: np.ndarray) -> BandReference:
    """The reference with its k-points in reduced coordinates of ``cell`` (same Cartesian k).
    The two cells must span the same lattice: a supercell folds bands, which a band-by-band
    comparison cannot follow."""
    x = cell @ np.linalg.inv(ref_cell)
    if not (np.allclose(x, np.round(x), atol=1e-4) and abs(round(np.linalg.det(x))) == 1):
        raise ConfigError(
            f"{reference.path}: the reference run's cell is not the structure's cell (cell = X ref_cell "
            f"with X = {np.round(x, 4).tolist()}); compare in the same cell"
        )
    return BandReference(reference.path, reference.kpoints @ x.T, reference.energies, reference.resolution)


@dataclass
class BandsReport:
    """What :func:`run_bands` wrote and measured."""

    files: list[Path]
    fermi_energy: float
    fermi_source: str
    comparison: BandComparison | None
    reference: str | None
    solver: str
    n_kpoints: int

    def to_dict(self) -> dict:
        out = {
            "files": [os.fspath(p) for p in self.files],
            "fermi_energy": self.fermi_energy,
            "fermi_source": self.fermi_source,
            "reference": self.reference,
            "solver": self.solver,
            "n_kpoints": self.n_kpoints,
            "comparison": None,
        }
        if self.comparison is not None:
            out["comparison"] = self.comparison.__dict__
        return out


def run_bands(
    structure: str | os.PathLike,
    output: str | os.PathLike,
    *,
    index: int = 0,
    ref: str | os.PathLike | None = None,
    kpath: str | None = None,
    npoints: int = 300,
    window: float = 5.0,
    mesh: Sequence[int] | None = None,
    smearing: float = 0.01,
    fermi: float | None = None,
    n_bands: int = 32,
    dense_limit: int = DENSE_LIMIT,
    own_reference: bool = True,
    progress: bool = False,
) -> BandsReport:
    """``slem-dft bands``: bands of a stored or parsed structure along a path or on a
    reference's k-points; writes ``output``.dat, .json and .png.

    The reference is ``ref`` (a run directory), or the input run's own band file when the
    input is a run, ``own_reference`` is set and no ``kpath`` is given. E_F: ``fermi``, else the record's stored value,
    else :func:`~slem_dft.bands.fermi.fermi_level_from_mesh` on ``mesh`` with ``smearing``; the comparison window is centred on
    the reference run's E_F where it has one.
    """
    record = load_structure(structure, index)
    reference, ref_fermi = None, None
    if ref is not None:
        if kpath is not None:
            raise ConfigError("--ref computes on the reference's own k-points: drop --kpath")
        from ..registry import read_run

        ref_record = read_run(ref, operators=("S",))
        reference = _to_cell(
            _band_reference(ref_record, os.fspath(ref)), ref_record.atoms.cell.array, record.atoms.cell.array
        )
        ref_fermi = ref_record.fermi_energy
    elif own_reference and kpath is None and Path(structure).is_dir():
        from ..registry import read_references

        reference = next((r for r in read_references(record) if isinstance(r, BandReference)), None)

    if fermi is not None:
        fermi_energy, source = float(fermi), "given"
    elif record.fermi_energy is not None:
        fermi_energy, source = record.fermi_energy, "stored"
    else:
        fermi_energy = fermi_level_from_mesh(record, mesh, smearing, dense_limit=dense_limit, progress=progress)
        source = f"computed (mesh {mesh or default_kmesh(record.atoms.cell.array, record.atoms.pbc)}, smearing {smearing:g} eV)"
    centre = ref_fermi if ref_fermi is not None else fermi_energy
    if reference is not None:
        _window_mask(reference, centre, window)  # fail before the long part
        path = reference_kpath(reference.kpoints, record)
    elif kpath is not None:
        text = Path(kpath).read_text() if os.path.isfile(kpath) else kpath
        path = parse_kpath(text, record, npoints)
    else:
        path = seekpath_kpath(record, npoints)

    bands = compute_bands(record, path.kpoints, n_bands, fermi_energy + 1e-3 * math.pi, dense_limit, progress)
    comparison = compare_bands(bands, reference, centre, window) if reference is not None else None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    title = f"{record.atoms.get_chemical_formula()}  ({record.source.path})"
    files = [
        write_dat(output.with_name(output.name + ".dat"), path, bands, fermi_energy),
        plot_bands(
            output.with_name(output.name + ".png"), path, bands, fermi_energy, window, reference, comparison, title
        ),
    ]
    report = BandsReport(
        files, fermi_energy, source, comparison, reference.path if reference else None, bands.solver, len(path.kpoints)
    )
    json_path = output.with_name(output.name + ".json")
    report.files.append(json_path)
    atomic_write(json_path, json.dumps(report.to_dict(), indent=2))
    return report
