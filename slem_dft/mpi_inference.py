"""MPI inference (mpi4py): every rank predicts a contiguous range of chunks into a part file,
rank 0 assembles the store in chunk order. The chunk decomposition is independent of the
number of ranks, so the store holds the same numbers as a single-process run."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py

from .errors import SlemDFTError
from .nn.dataset import SPIN_OF_CHANNELS
from .store import OperatorStream, StoreWriter

__all__ = ["share", "predict_mpi"]


def share(n_items: int, rank: int, size: int) -> range:
    """The contiguous range of ``n_items`` that ``rank`` of ``size`` takes (sizes differ by <= 1)."""
    return range(n_items * rank // size, n_items * (rank + 1) // size)


def _predict_part(
    predictor, structures, ops: Mapping[str, int], part: Path, rank: int, size: int, progress: bool
) -> None:
    with h5py.File(part, "w") as f:
        for n, structure in enumerate(structures):
            group = f.create_group(f"{n:06d}")
            streams = {op: OperatorStream(group.create_group(op), SPIN_OF_CHANNELS[ch], ch) for op, ch in ops.items()}
            for op, edges, values in predictor.stream(structure, ops, rank, size, progress):
                streams[op].append(edges, values)


def _assemble(predictor, structures, ops: Mapping[str, int], parts: list[Path], output: Path) -> None:
    with StoreWriter(output) as writer:
        for n, structure in enumerate(structures):
            streams = writer.add_streamed(
                predictor.template(structure, ops), {op: (SPIN_OF_CHANNELS[ch], ch) for op, ch in ops.items()}
            )
            for part in parts:
                with h5py.File(part, "r") as f:
                    for op, stream in streams.items():
                        stream.copy_from(f[f"{n:06d}/{op}"])


def predict_mpi(
    predictor, structures: Sequence, output: Path, ops: Mapping[str, int], comm, progress: bool = True
) -> int:
    """Predict ``structures`` over the ranks of ``comm`` into the store ``output``."""
    rank, size = comm.Get_rank(), comm.Get_size()
    tag = comm.bcast(os.getpid() if rank == 0 else None, root=0)
    parts = [output.with_name(f".{output.name}.part{tag}-{r}.h5") for r in range(size)]
    error: Exception | None = None
    try:
        _predict_part(predictor, structures, ops, parts[rank], rank, size, progress)
    except (SlemDFTError, OSError) as exc:
        error = exc
    try:
        all_ok = comm.allreduce(error is None, op=_mpi_land())
        if all_ok and rank == 0:
            try:
                _assemble(predictor, structures, ops, parts, output)
            except (SlemDFTError, OSError) as exc:
                error = exc
        # every rank keeps its part until rank 0 has assembled (or failed), then all agree
        assembled = comm.bcast(all_ok and error is None if rank == 0 else None, root=0)
    finally:
        parts[rank].unlink(missing_ok=True)
    if error is not None:
        raise error
    if not assembled:
        raise SlemDFTError(f"{output}: prediction failed on another MPI rank")
    return len(structures)


def _mpi_land():
    from mpi4py import MPI

    return MPI.LAND
