"""The HDF5 training store: many structures with their basis and operator blocks.

The schema (version ``SCHEMA_VERSION``) is described in docs/store.md. Writing goes to a
temporary file next to the target, renamed into place only when everything is written, so a
failure never leaves a half-written store nor touches an existing one (``append`` included).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import ase
import h5py
import numpy as np

from . import __version__
from .atomic import atomic_path
from .conventions import CONVENTION_ID
from .data import Basis, BlockMatrix, Record, Shell, Source, SpeciesBasis
from .errors import StoreError

__all__ = ["SCHEMA_VERSION", "FORMAT_NAME", "StoreWriter", "OperatorStream", "write_store", "Store", "read_store"]

FORMAT_NAME = "slem-dft-store"
SCHEMA_VERSION = 1
_UNITS = {"length": "Angstrom", "H": "eV", "S": "1", "DM": "electrons"}
_COMPRESS = dict(compression="gzip", compression_opts=4, shuffle=True)


def _check_schema(f: h5py.File, path: str) -> None:
    if f.attrs.get("format") != FORMAT_NAME:
        raise StoreError(f"{path}: not a slem-dft store (no format={FORMAT_NAME!r} attribute)")
    version = int(f.attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {version}; this slem-dft reads version {SCHEMA_VERSION}")
    if f.attrs.get("convention") != CONVENTION_ID:
        raise StoreError(f"{path}: orbital convention {f.attrs.get('convention')!r}, expected {CONVENTION_ID!r}")


class StoreWriter:
    """Context manager that adds records to a store atomically.

    >>> with StoreWriter("set.h5") as w:       # doctest: +SKIP
    ...     w.add(record)

    With ``append=True`` an existing store is copied and extended; the original is replaced
    only after a successful close.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = Path(path)
        self.append = append
        self._target = atomic_path(self.path)
        self._tmp: Path | None = None
        self._file: h5py.File | None = None
        self._count = 0

    def __enter__(self) -> StoreWriter:
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory")
        if self.append and self.path.exists():
            with h5py.File(self.path, "r") as f:
                _check_schema(f, os.fspath(self.path))
        self._tmp = self._target.__enter__()
        try:
            if self.append and self.path.exists():
                shutil.copyfile(self.path, self._tmp)
                self._file = h5py.File(self._tmp, "a")
                self._count = len(self._file["structures"])
            else:
                self._file = h5py.File(self._tmp, "w")
                self._file.attrs.update(
                    format=FORMAT_NAME,
                    schema_version=SCHEMA_VERSION,
                    convention=CONVENTION_ID,
                    units=json.dumps(_UNITS),
                    created_by=f"slem-dft {__version__}",
                )
                self._file.create_group("structures")
        except BaseException as exc:
            self._target.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def add(self, record: Record) -> str:
        """Write one record; returns its group name."""
        name = f"{self._count:06d}"
        _write_record(self._file["structures"].create_group(name), record)
        self._count += 1
        return name

    def add_streamed(self, record: Record, operators: Mapping[str, tuple[str, int]]) -> dict[str, OperatorStream]:
        """Write a record's structure and metadata now and its operators block by block later.

        ``record`` carries no operators; ``operators`` maps each name to (spin layout, number of
        channels). Returns one :class:`OperatorStream` per operator: append hermitian-half blocks
        (each (i, j, R) of :meth:`BlockMatrix.hermitian_half` exactly once, any order) so that
        memory stays set by the appended pieces, not the structure."""
        name = f"{self._count:06d}"
        group = self._file["structures"].create_group(name)
        _write_record(group, record)
        self._count += 1
        return {
            op: OperatorStream(group["operators"].create_group(op), spin, n_channels)
            for op, (spin, n_channels) in operators.items()
        }

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()
        self._target.__exit__(exc_type, exc, tb)  # renamed into place, or removed after an error


class OperatorStream:
    """Appends blocks of one operator to a store being written (see
    :meth:`StoreWriter.add_streamed`); stored as a hermitian half, read back expanded."""

    def __init__(self, group: h5py.Group, spin: str, n_channels: int):
        group.attrs.update(spin=spin, storage="hermitian_half")
        self._edges = group.create_dataset(
            "edges", shape=(0, 5), maxshape=(None, 5), dtype=np.int32, chunks=(16384, 5), **_COMPRESS
        )
        self._values = group.create_dataset(
            "values",
            shape=(n_channels, 0),
            maxshape=(n_channels, None),
            dtype=np.float64,
            chunks=(n_channels, 65536),
            **_COMPRESS,
        )

    def append(self, edges: np.ndarray, values: np.ndarray) -> None:
        """Add blocks: ``edges`` (m, 5) (i, j, R), ``values`` (n_channels, sum of block sizes)
        in edge order, each block row-major."""
        _extend(self._edges, edges, axis=0)
        _extend(self._values, values, axis=1)

    def copy_from(self, group: h5py.Group, piece: int = 1 << 20) -> None:
        """Append the blocks of another stream's group, ``piece`` entries at a time."""
        for dataset, axis in ((self._edges, 0), (self._values, 1)):
            source = group[dataset.name.rsplit("/", 1)[1]]
            for start in range(0, source.shape[axis], piece):
                part = source[start : start + piece] if axis == 0 else source[:, start : start + piece]
                _extend(dataset, part, axis)


def _extend(dataset: h5py.Dataset, new: np.ndarray, axis: int) -> None:
    start = dataset.shape[axis]
    dataset.resize(start + new.shape[axis], axis=axis)
    if axis == 0:
        dataset[start:] = new
    else:
        dataset[:, start:] = new


def write_store(path: str | os.PathLike, records: Iterable[Record], append: bool = False) -> int:
    """Write records to ``path`` (atomically); returns the number written."""
    with StoreWriter(path, append) as writer:
        n = 0
        for record in records:
            writer.add(record)
            n += 1
    return n


def _none_to_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _write_record(g: h5py.Group, record: Record) -> None:
    src = record.source
    g.attrs.update(
        code=src.code,
        code_version=src.code_version,
        source_path=src.path,
        nspin=record.nspin,
        gamma_only=record.gamma_only,
        n_electrons=_none_to_nan(record.n_electrons),
        fermi_energy=_none_to_nan(record.fermi_energy),
        files=json.dumps({k: list(v) for k, v in src.files.items()}),
        notes=json.dumps(list(src.notes)),
        precision=json.dumps(dict(src.precision)),
        basis_files=json.dumps(dict(src.basis_files)),
        spin_moment=np.full(3, np.nan) if record.spin_moment is None else np.asarray(record.spin_moment, float),
    )
    atoms = record.atoms
    g.create_dataset("numbers", data=atoms.numbers.astype(np.int32))
    g.create_dataset("positions", data=atoms.positions)
    g.create_dataset("cell", data=atoms.cell.array)
    g.create_dataset("pbc", data=atoms.pbc)
    g.create_dataset("species", data=np.array(record.species, dtype=object), dtype=h5py.string_dtype())
    basis = g.create_group("basis")
    for order, sb in enumerate(record.basis.species):
        d = basis.create_dataset(sb.label, data=np.array([[s.l, s.zeta] for s in sb.shells], dtype=np.int32))
        d.attrs.update(element=sb.element, order=order)
    ops = g.create_group("operators")
    for name, op in record.operators.items():
        exact = op.hermiticity_deviation() == 0.0
        stored = op.hermitian_half() if exact else op.sorted()
        og = ops.create_group(name)
        og.attrs.update(spin=op.spin, storage="hermitian_half" if exact else "full")
        big = stored.values.size > 4096
        og.create_dataset("edges", data=stored.edges.astype(np.int32), **(_COMPRESS if big else {}))
        og.create_dataset("values", data=stored.values, **(_COMPRESS if big else {}))


class Store(Sequence):
    """Read access to a store: ``len(store)``, ``store[i]`` -> :class:`Record`, iteration.

    Opens the file per access, so a Store is cheap to keep and safe to pickle.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no such store")
        try:
            with h5py.File(self.path, "r") as f:
                _check_schema(f, os.fspath(self.path))
                self._names = sorted(f["structures"])
        except OSError as exc:
            raise StoreError(f"{self.path}: not a readable HDF5 file ({exc})") from None

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        with h5py.File(self.path, "r") as f:
            return _read_record(f["structures"][self._names[index]])

    def __iter__(self) -> Iterator[Record]:
        with h5py.File(self.path, "r") as f:
            for name in self._names:
                yield _read_record(f["structures"][name])

    def summaries(self) -> list[dict]:
        """One dict per structure from the metadata only (no operator values are read):
        formula, n_atoms, n_orbitals, nspin, code, source, and stored edges per operator."""
        out = []
        with h5py.File(self.path, "r") as f:
            for n, name in enumerate(self._names):
                g = f["structures"][name]
                species = [s.decode() if isinstance(s, bytes) else s for s in g["species"][()]]
                n_orb = {label: int(np.sum(2 * d[()][:, 0] + 1)) for label, d in g["basis"].items()}
                out.append(
                    dict(
                        index=n,
                        formula=ase.Atoms(numbers=g["numbers"][()]).get_chemical_formula(),
                        n_atoms=len(species),
                        n_orbitals=sum(n_orb[s] for s in species),
                        nspin=int(g.attrs["nspin"]),
                        code=g.attrs["code"],
                        source=g.attrs["source_path"],
                        operators={op: int(og["edges"].shape[0]) for op, og in g["operators"].items()},
                    )
                )
        return out


def read_store(path: str | os.PathLike) -> list[Record]:
    """Every record of a store."""
    return list(Store(path))


def _nan_to_none(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _read_record(g: h5py.Group) -> Record:
    a = g.attrs
    species = tuple(s.decode() if isinstance(s, bytes) else s for s in g["species"][()])
    entries = sorted(g["basis"].items(), key=lambda kv: int(kv[1].attrs["order"]))
    basis = Basis(
        tuple(
            SpeciesBasis(label, d.attrs["element"], tuple(Shell(int(l), int(z)) for l, z in d[()]))
            for label, d in entries
        )
    )
    atoms = ase.Atoms(numbers=g["numbers"][()], positions=g["positions"][()], cell=g["cell"][()], pbc=g["pbc"][()])
    counts = basis.orbital_counts(species)
    operators = {}
    for name, og in g["operators"].items():
        edges = og["edges"][()].astype(np.int64)
        shapes = np.column_stack([counts[edges[:, 0]], counts[edges[:, 1]]])
        op = BlockMatrix(edges, shapes, og["values"][()], og.attrs["spin"])
        operators[name] = op.expand_hermitian() if og.attrs["storage"] == "hermitian_half" else op
    source = Source(
        a["code"],
        a["code_version"],
        a["source_path"],
        {k: tuple(v) for k, v in json.loads(a["files"]).items()},
        tuple(json.loads(a["notes"])),
        json.loads(a["precision"]),
        json.loads(a["basis_files"]),
    )
    moment = np.asarray(a["spin_moment"], dtype=float)
    return Record(
        atoms,
        species,
        basis,
        operators,
        int(a["nspin"]),
        source,
        _nan_to_none(a["n_electrons"]),
        _nan_to_none(a["fermi_energy"]),
        bool(a["gamma_only"]),
        None if np.all(np.isnan(moment)) else tuple(moment.tolist()),
    )
