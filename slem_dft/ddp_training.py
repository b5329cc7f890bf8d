"""Data-parallel training with torch.distributed (``torchrun --nproc_per_node N slem-dft fit``).

Every process holds the whole model and a shard of each epoch's structures; after each
backward pass the gradients are averaged over the processes (one all-reduce of a flat buffer:
gloo on CPU, nccl on CUDA), so all processes take identical optimiser steps. The effective
batch is ``train.batch_size`` x processes. Validation metrics are summed over shards, so every
process sees the same numbers (and the same learning-rate schedule); only rank 0 writes
checkpoints, metrics and console output.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist

__all__ = ["World", "world_from_env"]


class World:
    """The processes of a run: ``rank`` of ``size`` (1 process: no communication)."""

    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """This process's device for a configured ``train.device`` (auto / cpu / cuda)."""
        cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
        return torch.device(f"cuda:{self.local_rank}" if cuda else "cpu")

    def shard(self, order: Sequence[int]) -> list[int]:
        """This process's share of an epoch order: padded by repeating its start to a
        multiple of the size (every process takes the same number of steps), then strided."""
        order = list(order)
        if self.size == 1 or not order:
            return order
        total = -(-len(order) // self.size) * self.size
        padded = (order * (total // len(order) + 1))[:total]
        return padded[self.rank :: self.size]

    def average_gradients(self, parameters: Sequence[torch.nn.Parameter]) -> None:
        """Replace every gradient by its mean over the processes (missing ones count as 0)."""
        if self.size == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for p, g in zip(parameters, grads):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def sum(self, values: Sequence[float], device: torch.device) -> list[float]:
        """Element-wise sums of per-process numbers."""
        if self.size == 1:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def check_in_sync(self, parameters: Sequence[torch.nn.Parameter]) -> float:
        """Largest difference of any parameter from rank 0's (0.0 when in step)."""
        if self.size == 1:
            return 0.0
        flat = torch.cat([p.detach().reshape(-1) for p in parameters])
        reference = flat.clone()
        dist.broadcast(reference, src=0)
        diff = (flat - reference).abs().max().reshape(1).double()
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        return float(diff)

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def world_from_env(requested_device: str = "auto") -> World:
    """The world torchrun set up (WORLD_SIZE, RANK, LOCAL_RANK), process group initialised;
    a single-process World otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    world = World(rank, size, local_rank)
    cuda = world.device(requested_device).type == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return world
