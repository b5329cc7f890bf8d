"""Prediction with a trained model: H, DM (and S) for new structures, chunk by chunk.

:class:`Predictor` is the Python API (``slem-dft predict`` is a thin layer over
:func:`predict_to_store`). A structure is split into spatial chunks
(:class:`slem_dft.chunks.Chunking`); each chunk's blocks are predicted and streamed into the
output store, so peak memory is set by ``atoms_per_chunk`` and time grows linearly with the
number of atoms. Under MPI the chunks are shared out in contiguous (spatial) ranges; the
decomposition does not depend on the number of processes, so the store equals the
single-process one bit for bit (with the same number of threads per process).

S comes from the two-centre integrals of the basis' radial functions (exact) whenever they are
known (kept in the checkpoint from the training runs' basis files, or given), else from the
model's S head if it has one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ase
import ase.io
import numpy as np
import torch

from . import __version__
from .chunks import ChunkGraph, Chunking
from .data import BlockMatrix, Record, Source
from .domain import TrainingDomain
from .errors import ConfigError, MissingInputError
from .nn.dataset import SPIN_OF_CHANNELS
from .nn.graph import collate
from .overlap import RadialFunction, TwoCenterOverlap
from .store import StoreWriter

__all__ = ["InputStructure", "Predictor", "read_structures", "predict_to_store", "mpi_world"]


@dataclass(frozen=True, eq=False)
class InputStructure:
    """A structure to predict for: atoms (Angstrom), species labels of the model, and where
    it came from."""

    atoms: ase.Atoms
    species: tuple[str, ...] | None
    path: str


def read_structures(paths: Iterable[str | os.PathLike]) -> list[InputStructure]:
    """Structures from files ase reads (every frame of a trajectory / extxyz) or from DFT
    run or input directories (ABACUS STRU, SIESTA fdf/XV, OpenMX .dat)."""
    from .registry import read_structure

    out = []
    for path in map(Path, paths):
        if path.is_dir():
            atoms, species = read_structure(path)
            out.append(InputStructure(atoms, species, os.fspath(path)))
            continue
        if not path.is_file():
            raise MissingInputError(path, "no such file or directory")
        try:
            frames = ase.io.read(path, index=":")
        except Exception as exc:  # ase raises many types for unreadable files
            raise MissingInputError(
                path, f"ase cannot read a structure from it ({type(exc).__name__}: {exc})"
            ) from None
        out += [
            InputStructure(a, None, f"{path}@{k}" if len(frames) > 1 else os.fspath(path)) for k, a in enumerate(frames)
        ]
    return out


def mpi_world():
    """The MPI communicator when launched by mpirun/mpiexec (mpi4py), else None."""
    launched = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
    if not any(v in os.environ for v in launched):
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


class Predictor:
    """A trained model ready to predict.

    Parameters
    ----------
    checkpoint
        A ``best.pt`` / ``last.pt`` written by ``slem-dft fit``.
    device
        "cpu", "cuda", or None for CUDA when available.
    atoms_per_chunk
        Centre atoms per chunk (sets peak memory).
    basis_files
        Species label -> radial-orbital file (ABACUS ``.orb``, SIESTA ``.ion.xml``) for exact overlaps, overriding
        the radial functions kept in the checkpoint.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str | None = None,
        atoms_per_chunk: int = 256,
        basis_files: Mapping[str, str] | None = None,
    ):
        from .train import load_checkpoint

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model, state = load_checkpoint(checkpoint, device)
        if "domain" not in state:
            raise ConfigError(
                f"{checkpoint}: checkpoint has no training domain (written by an older slem-dft); train it again"
            )
        self.device = torch.device(device)
        self.dtype = next(self.model.parameters()).dtype
        self.radii = np.asarray(state["radii"], dtype=np.float64)
        self.domain = TrainingDomain.from_dict(state["domain"])
        self.atoms_per_chunk = int(atoms_per_chunk)
        radials = {**self.domain.radials, **_read_basis_files(basis_files or {}, self.domain)}
        self.overlap = TwoCenterOverlap(radials) if radials else None

    @property
    def species(self) -> tuple[str, ...]:
        """Species labels the model knows."""
        return self.model.basis.species

    def labels(self, structure: InputStructure) -> tuple[str, ...]:
        """The model species label of every atom: given, else the one label of its element."""
        if structure.species is not None:
            self.model.basis.species_index(structure.species)  # unknown labels -> clear error
            return tuple(structure.species)
        by_element: dict[str, list[str]] = {}
        for label, sb in self.domain.bases.items():
            by_element.setdefault(sb.element, []).append(label)
        out = []
        for symbol in structure.atoms.get_chemical_symbols():
            found = by_element.get(symbol, [])
            if len(found) != 1:
                why = "is not in the model" if not found else f"matches several model species {found}"
                raise ConfigError(f"{structure.path}: element {symbol} {why} (model species: {list(self.species)})")
            out.append(found[0])
        return tuple(out)

    def operators(self, wanted: Sequence[str] | None = None) -> dict[str, int]:
        """Operator -> spin channels that :meth:`predict` gives: the model's, plus S when the
        radial functions are known (exact S then replaces a learned one)."""
        available = dict(self.model.operators)
        if self.overlap is not None:
            available["S"] = 1
        if wanted is None:
            return available
        missing = [op for op in wanted if op not in available]
        if missing:
            raise ConfigError(
                f"the model cannot give {missing}: it predicts {sorted(self.model.operators)}"
                + ("" if self.overlap else "; S needs the radial orbitals (--basis-file LABEL=FILE)")
            )
        return {op: available[op] for op in wanted}

    def _network_operators(self, operators: Mapping[str, int]) -> list[str]:
        """The operators the network predicts (S only when no exact overlap replaces it)."""
        return [op for op in operators if op in self.model.operators and not (op == "S" and self.overlap)]

    def _species_index(self, structure: InputStructure) -> np.ndarray:
        return self.model.basis.species_index(self.labels(structure))

    def tasks(self, structure: InputStructure, operators: Mapping[str, int]) -> list[tuple[str, Chunking]]:
        """The chunk decompositions a prediction walks through: ("model", chunks on the model's
        cutoff) for the network's operators, ("overlap", chunks on the orbital overlap range)
        for the exact S."""
        species = self._species_index(structure)
        out = []
        if self._network_operators(operators):
            out.append(("model", Chunking(structure.atoms, species, self.radii, self.atoms_per_chunk)))
        if "S" in operators and self.overlap is not None:
            # pair cutoff (r_a + r_b) of the orbitals = mean of the doubled radii
            reach = np.array([2.0 * self.overlap.cutoff(s) for s in self.species])
            out.append(("overlap", Chunking(structure.atoms, species, reach, self.atoms_per_chunk, halo=False)))
        return out

    def predict_chunk(
        self, kind: str, structure: InputStructure, chunk: ChunkGraph, operators: Mapping[str, int]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """op -> (edges (m, 5) int64, values (channels, n_values) float64): the onsite blocks
        of the chunk's centres and its hermitian-half hopping blocks, canonical order, eV;
        ``kind`` as in :meth:`tasks`."""
        g = chunk.graph
        half = g["half"]
        centres = chunk.atoms[chunk.centres]
        edges = np.concatenate(
            [
                np.column_stack([centres, centres, np.zeros((len(centres), 3), np.int64)]),
                np.column_stack(
                    [chunk.atoms[g["edge_src"][half]], chunk.atoms[g["edge_dst"][half]], g["edge_shift"][half]]
                ),
            ]
        ).astype(np.int64)
        species = g["species"]
        kinds = np.concatenate(
            [
                species[chunk.centres][:, None].repeat(2, 1),
                np.column_stack([species[g["edge_src"][half]], species[g["edge_dst"][half]]]),
            ]
        )
        if kind == "overlap":
            atoms = structure.atoms
            vectors = atoms.positions[edges[:, 1]] + edges[:, 2:] @ atoms.cell.array - atoms.positions[edges[:, 0]]
            return {"S": self._overlap(edges, kinds, vectors)}
        with torch.no_grad():
            out = self.model(collate([g], self.dtype, self.device))
        result = {}
        for op in self._network_operators(operators):
            onsite, hopping = (x.double().cpu().numpy() for x in out[op])
            result[op] = self._unpad(edges, kinds, np.concatenate([onsite[chunk.centres], hopping]))
        return result

    def _groups(self, kinds: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        for a, b in sorted(set(map(tuple, kinds.tolist()))):
            yield a, b, np.flatnonzero((kinds[:, 0] == a) & (kinds[:, 1] == b))

    def _unpad(self, edges: np.ndarray, kinds: np.ndarray, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Padded (m, ch, N, N) blocks -> edges regrouped by species pair and their values."""
        index = self.model.basis.orbital_index
        out_edges, out_values = [], []
        for a, b, pick in self._groups(kinds):
            blocks = padded[pick][:, :, index[a][:, None], index[b][None, :]]  # (m, ch, n_a, n_b)
            out_edges.append(edges[pick])
            out_values.append(blocks.transpose(1, 0, 2, 3).reshape(blocks.shape[1], -1))
        return np.concatenate(out_edges), np.concatenate(out_values, axis=1)

    def _overlap(self, edges: np.ndarray, kinds: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact two-centre S blocks, grouped like :meth:`_unpad`."""
        labels = self.model.basis.species
        out_edges, out_values = [], []
        for a, b, pick in self._groups(kinds):
            out_edges.append(edges[pick])
            out_values.append(self.overlap.blocks(labels[a], labels[b], vectors[pick]).reshape(1, -1))
        return np.concatenate(out_edges), np.concatenate(out_values, axis=1)

    def stream(
        self,
        structure: InputStructure,
        operators: Mapping[str, int],
        rank: int = 0,
        size: int = 1,
        progress: bool = False,
    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(op, edges, values) pieces of the chunks that ``rank`` of ``size`` predicts: a
        contiguous range of every decomposition of :meth:`tasks`."""
        from tqdm import tqdm

        from .mpi_inference import share

        for kind, chunking in self.tasks(structure, operators):
            mine = share(len(chunking), rank, size)
            label = f"{Path(structure.path).name} {kind}" + (f" (rank 0 of {size})" if size > 1 else "")
            for k in tqdm(mine, desc=label, unit="chunk", disable=not progress or rank != 0):
                for op, (edges, values) in self.predict_chunk(kind, structure, chunking[k], operators).items():
                    yield op, edges, values

    def template(self, structure: InputStructure, operators: Mapping[str, int]) -> Record:
        """The record of a structure without operators (metadata of a prediction)."""
        labels = self.labels(structure)
        nspin = max(operators.values(), default=1)
        notes = ["predicted by slem-dft"] + (
            ["S from the two-centre integrals of the radial orbitals"]
            if "S" in operators and self.overlap is not None
            else []
        )
        return Record(
            structure.atoms,
            labels,
            self.domain.basis(labels),
            {},
            nspin,
            Source("slem-dft", __version__, structure.path, notes=tuple(notes)),
            n_electrons=self.domain.n_electrons(labels),
        )

    def predict(
        self, atoms: ase.Atoms, species: Sequence[str] | None = None, operators: Sequence[str] | None = None
    ) -> Record:
        """Predict every operator for one structure (in memory; use :func:`predict_to_store`
        for large systems)."""
        structure = InputStructure(atoms, None if species is None else tuple(species), "<atoms>")
        ops = self.operators(operators)
        pieces: dict[str, list] = {op: [] for op in ops}
        for op, edges, values in self.stream(structure, ops):
            pieces[op].append((edges, values))
        record = self.template(structure, ops)
        counts = record.orbital_counts
        matrices = {}
        for op, parts in pieces.items():
            edges = np.concatenate([e for e, _ in parts])
            values = np.concatenate([v for _, v in parts], axis=1)
            shapes = np.column_stack([counts[edges[:, 0]], counts[edges[:, 1]]])
            matrices[op] = BlockMatrix(edges, shapes, values, SPIN_OF_CHANNELS[ops[op]]).expand_hermitian()
        return Record(
            record.atoms, record.species, record.basis, matrices, record.nspin, record.source, record.n_electrons
        )

    def domain_warnings(self, structure: InputStructure) -> list[str]:
        """Where a structure leaves the training domain (see :meth:`TrainingDomain.warnings`)."""
        return self.domain.warnings(structure.atoms, self.labels(structure), float(self.radii.max()))


def _read_basis_files(files: Mapping[str, str], domain: TrainingDomain) -> dict[str, list[RadialFunction]]:
    from .registry import read_radial_file

    unknown = sorted(set(files) - set(domain.bases))
    if unknown:
        raise ConfigError(
            f"basis files given for {unknown}, which are not species of the model ({sorted(domain.bases)})"
        )
    return {label: read_radial_file(path, domain.bases[label]) for label, path in files.items()}


def predict_to_store(
    predictor: Predictor,
    structures: Sequence[InputStructure],
    output: str | os.PathLike,
    operators: Sequence[str] | None = None,
    comm=None,
    progress: bool = True,
    echo=print,
) -> int:
    """Predict every structure into a new store at ``output`` (written atomically, streamed
    chunk by chunk). Under MPI (``comm``), every rank predicts its share of the chunks into a
    part file and rank 0 assembles the store in chunk order. Returns structures written."""
    ops = predictor.operators(operators)
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    output = Path(output)
    for structure in structures:
        if rank == 0:
            for message in predictor.domain_warnings(structure):
                warnings.warn(f"{structure.path}: outside the training domain: {message}", stacklevel=2)
    if size == 1:
        with StoreWriter(output) as writer:
            for structure in structures:
                streams = writer.add_streamed(
                    predictor.template(structure, ops), {op: (SPIN_OF_CHANNELS[ch], ch) for op, ch in ops.items()}
                )
                for op, edges, values in predictor.stream(structure, ops, progress=progress):
                    streams[op].append(edges, values)
        return len(structures)
    from .mpi_inference import predict_mpi

    return predict_mpi(predictor, structures, output, ops, comm, progress)
