"""Data-parallel training: shards, gradient averaging over 2 gloo processes, and
``torchrun --nproc_per_node 2 slem-dft fit`` end to end (rank 0 alone writes)."""

import csv
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import yaml

from slem_dft.convert import convert_runs
from slem_dft.ddp_training import World
from slem_dft.train import load_checkpoint


def test_shards_cover_the_epoch_with_equal_step_counts():
    order = [4, 0, 3, 1, 2]
    shards = [World(rank, 2).shard(order) for rank in range(2)]
    assert shards == [[4, 3, 2], [0, 1, 4]]  # padded with the first item, strided
    assert sorted(set(shards[0] + shards[1])) == sorted(order)
    assert World().shard(order) == order


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _average_worker(rank: int, port: int, queue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    a = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    a.grad = torch.full((3,), float(rank + 1), dtype=torch.float64)  # b has no gradient on either rank
    if rank == 1:
        b.grad = torch.tensor([2.0, -4.0], dtype=torch.float64)
    world = World(rank, 2)
    world.average_gradients([a, b])
    total = world.sum([rank + 1.0, 10.0], torch.device("cpu"))
    drift = world.check_in_sync([a])  # a.data is zero everywhere
    queue.put((rank, a.grad.tolist(), b.grad.tolist(), total, drift))
    dist.destroy_process_group()


def test_gradients_are_averaged_over_two_processes():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_average_worker, args=(rank, port, queue)) for rank in range(2)]
    for p in procs:
        p.start()
    results = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    for _, grad_a, grad_b, total, drift in results:
        assert grad_a == [1.5, 1.5, 1.5]
        assert grad_b == [1.0, -2.0]  # a missing gradient counts as zero
        assert total == [3.0, 20.0]
        assert drift == 0.0


def test_torchrun_two_processes_fit(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not found beside the Python interpreter")
    from conftest import BUNDLED

    store = tmp_path / "si8.h5"
    convert_runs([BUNDLED / "abacus" / "si8_dzp" / "frame_000"], store, ("H",), False, 1, False, False, False, {})
    config = {
        "data": {"stores": [str(store), str(store)], "val_stores": [str(store)], "cutoff": 3.0, "operators": ["H"]},
        "model": {"channels": 4, "n_layers": 1, "latent_dim": 16, "radial_channels": 16, "env_multiplicity": 2},
        "train": {"epochs": 3, "lr": 0.01, "progress": False, "threads": 1, "device": "cpu"},
    }
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "slem_dft.cli",
            "fit",
            str(tmp_path / "fit.yaml"),
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("epoch 3 ") == 1, run.stdout  # only rank 0 reports
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    model, state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 3 and sum(p.numel() for p in model.parameters()) > 0
