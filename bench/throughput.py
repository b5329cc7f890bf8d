"""Training throughput with 1 and more processes (prints a Markdown table).

    python bench/throughput.py --set ../shared/data/generated/openmx/si8_s2p2d1 --epochs 6
    python bench/throughput.py --store si8.h5 --procs 1,2

Runs ``slem-dft fit`` (1 process) or ``torchrun --standalone --nproc_per_node P -m slem_dft.cli
fit`` (P processes, gloo) with the model of bench/train.py (H, S and DM) for ``--epochs`` epochs
and reads the training time of every epoch (``train_seconds`` in metrics.csv: the optimiser
steps, not the validation). Throughput = training structures (and their directed edges) per
second of training, from the median epoch after the first (which includes warm-up). The cores
are shared out: ``--threads`` per run in total, divided among the processes.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from slem_dft.config import FitConfig
from slem_dft.train import _prepare


def _config(args, store: Path, threads: int) -> dict:
    return {
        "data": {"stores": [str(store)], "val_stores": [str(store)], "operators": ["H", "S", "DM"]},
        "model": {"channels": 16, "n_layers": 2, "latent_dim": 64, "radial_channels": 32, "env_multiplicity": 8},
        "train": {"epochs": args.epochs, "batch_size": 1, "progress": False, "threads": threads, "device": "cpu"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--set", type=Path, help="folder of DFT runs (converted with slem-dft convert -r)")
    source.add_argument("--store", type=Path, help="a store made by slem-dft convert")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--procs", default="1,2", help="process counts")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in total per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = args.store
        if store is None:
            store = work / "all.h5"
            subprocess.run(
                ["slem-dft", "convert", "-r", str(args.set), "-o", str(store)], check=True, stdout=subprocess.DEVNULL
            )
        _, _, _, train, _, _, _ = _prepare(FitConfig.from_dict(_config(args, store, 1)))
        edges = sum(len(s["edge_src"]) for s in train)
        print(
            f"{len(train)} training structures, {edges} directed edges per epoch; model of bench/train.py; "
            f"{args.threads} threads per run\n"
        )
        print("| processes | threads each | s / epoch (median) | structures / s | edges / s |")
        print("|---:|---:|---:|---:|---:|")
        for procs in (int(p) for p in args.procs.split(",")):
            threads = max(1, args.threads // procs)
            config, out = work / f"fit{procs}.yaml", work / f"run{procs}"
            config.write_text(yaml.safe_dump(_config(args, store, threads)))
            fit = ["-m", "slem_dft.cli", "fit", str(config), "-o", str(out)]
            if procs == 1:
                command = [sys.executable, *fit]
            else:
                torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
                command = [torchrun, "--standalone", "--nproc_per_node", str(procs), *fit]
            subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": str(threads)}
            )
            with open(out / "metrics.csv") as fh:
                seconds = [float(row["train_seconds"]) for row in csv.DictReader(fh)]
            median = statistics.median(seconds[1:] or seconds)
            print(
                f"| {procs} | {threads} | {median:.2f} | {len(train) / median:.2f} | {edges / median:.0f} |", flush=True
            )


if __name__ == "__main__":
    main()
