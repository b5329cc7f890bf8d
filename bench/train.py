"""Training benchmark of SLEM on a multi-frame set (prints Markdown tables).

    python bench/train.py --set ../shared/data/generated/openmx/si8_s2p2d1 --minutes 20
    python bench/train.py --store si8.h5 --minutes 5 --val 2

The set is converted with ``slem-dft convert -r SET -o STORE`` (or ``--store`` gives a store
made that way); the last ``--val`` structures of the store are the validation set, the rest
train. ``slem-dft fit``'s loop then runs for ``--minutes`` of wall time (``train.max_minutes``:
the epoch running at the deadline finishes) or ``--epochs``, whichever comes first, and the
best checkpoint (lowest validation loss, EMA weights) is evaluated on the validation store like
``slem-dft evaluate``. Peak memory is the largest resident set of this process (getrusage).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from slem_dft.config import FitConfig
from slem_dft.store import Store, write_store
from slem_dft.train import evaluate, fit, load_checkpoint

CHECKPOINT_MINUTES = (0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60)


def _stores(args, work: Path) -> tuple[Path, Path, int, int]:
    """(train store, validation store, n_train, n_val): the last ``args.val`` structures validate."""
    store = args.store
    if store is None:
        store = work / "all.h5"
        subprocess.run(["slem-dft", "convert", "-r", str(args.set), "-o", str(store)], check=True,
                       stdout=subprocess.DEVNULL)
    records = list(Store(store))
    if not 0 < args.val < len(records):
        sys.exit(f"--val must be between 1 and {len(records) - 1} for {len(records)} structures")
    train, val = work / "train.h5", work / "val.h5"
    write_store(train, records[:-args.val])
    write_store(val, records[-args.val:])
    return train, val, len(records) - args.val, args.val


def _config(args, train: Path, val: Path) -> FitConfig:
    model = {"channels": args.channels, "lmax": args.lmax, "n_layers": args.layers, "latent_dim": args.latent,
             "radial_channels": args.radial, "env_multiplicity": args.env}
    return FitConfig.from_dict({
        "data": {"stores": [str(train)], "val_stores": [str(val)], "operators": args.operators},
        "model": model,
        "train": {"epochs": args.epochs, "max_minutes": args.minutes, "lr": args.lr, "lr_patience": args.patience,
                  "lr_schedule": args.schedule,
                  "lr_factor": 0.8, "ema_decay": args.ema, "batch_size": 1, "threads": args.threads,
                  "onsite_shift": args.onsite_shift, "progress": False, "seed": args.seed}})


class _Clock:
    """Echo of ``fit`` that notes the wall time (minutes since start) of every epoch's line."""

    def __init__(self):
        self.start, self.minutes = time.perf_counter(), []

    def __call__(self, line: str) -> None:
        if line.startswith("epoch"):
            self.minutes.append((time.perf_counter() - self.start) / 60.0)
        print(line, file=sys.stderr, flush=True)


def _print_tables(args, n_train: int, n_val: int, history: list[dict], minutes: list[float], report: dict,
                  wall: float, n_params: int) -> None:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def fmt(key: str, spec: str) -> str:
        return format(report[key], spec) if key in report else "-"

    source = args.store if args.set is None else args.set
    print(f"\n{source}: {n_train} training / {n_val} validation structures, {args.threads} threads, "
          f"torch {torch.__version__}, operators {' '.join(args.operators)}\n")
    print("| epochs | wall (min) | params | peak RSS (MB) | val H MAE (meV) | val S MAE | val DM MAE "
          "| eig MAE near E_F (meV) | eig max (meV) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(history)} | {wall / 60:.1f} | {n_params} | {peak_mb:.0f} | {fmt('h_mae_meV', '.3f')} "
          f"| {fmt('s_mae', '.2e')} | {fmt('dm_mae', '.2e')} | {fmt('eig_mae_meV', '.2f')} "
          f"| {fmt('eig_max_meV', '.2f')} |")
    if "eig_kpoints" in report:
        print(f"\neigenvalues: bands within E_F +- {report['eig_window_eV']:g} eV (E_F from "
              f"{'/'.join(report['eig_fermi_source'])}) at k = {report['eig_kpoints']}, "
              f"{report['eig_states']} states; best checkpoint (EMA) on the validation structures")
    curve = list(zip(minutes, history))
    print("\n| wall (min) | epoch | lr | val H MAE (meV), that epoch | best so far (meV) |")
    print("|---|---|---|---|---|")
    best = float("inf")
    marks = [m for m in CHECKPOINT_MINUTES if m <= curve[-1][0]] + [curve[-1][0]]
    for mark in marks:
        done = [(t, row) for t, row in curve if t <= mark + 1e-9]
        if not done:
            continue
        t, row = done[-1]
        best = min(r["h_mae_meV"] for _, r in done)
        print(f"| {t:.1f} | {row['epoch']} | {row['lr']:.2g} | {row['h_mae_meV']:.3f} | {best:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--set", type=Path, help="folder of DFT runs (converted with slem-dft convert -r)")
    source.add_argument("--store", type=Path, help="a store made by slem-dft convert")
    parser.add_argument("--val", type=int, default=2, help="validation structures (the last of the store)")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-time budget of training")
    parser.add_argument("--epochs", type=int, default=100000)
    parser.add_argument("--operators", nargs="+", default=["H", "S", "DM"])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--lmax", type=int, default=None, help="default: 2 x the largest basis l")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--radial", type=int, default=32)
    parser.add_argument("--env", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--patience", type=int, default=10, help="plateau patience (epochs)")
    parser.add_argument("--schedule", choices=["plateau", "cosine"], default="plateau",
                        help="lr schedule; cosine decays over --epochs (set it to what fits in --minutes)")
    parser.add_argument("--ema", type=float, default=0.99)
    parser.add_argument("--onsite-shift", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        train, val, n_train, n_val = _stores(args, work)
        clock = _Clock()
        history = fit(_config(args, train, val), work / "run", echo=clock)
        wall = time.perf_counter() - clock.start
        report = evaluate(work / "run" / "best.pt", val)
        n_params = sum(p.numel() for p in load_checkpoint(work / "run" / "best.pt")[0].parameters())
        _print_tables(args, n_train, n_val, history, clock.minutes, report, wall, n_params)


if __name__ == "__main__":
    main()
