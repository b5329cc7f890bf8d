"""slem-dft vs DeePTB's SLEM on the same data, split, epochs and pinned wall time (prints tables).

    python bench/deeptb_side_by_side.py --store si8.h5 --dptb-python DPTB_VENV/bin/python --minutes 5

The last ``--val`` structures of the store validate, the rest train. The store is exported as
DeePTB dataset folders (``slem_dft.writers.deeptb``); both tools train H at the same time, each
pinned to its own core with one thread (``taskset``), for ``--minutes`` of wall time or
``--epochs``, whichever ends first (slem-dft: ``train.max_minutes``; DeePTB: stopped by a
signal). Each tool keeps its best checkpoint by its own validation loss. Then both predict the
validation structures (DeePTB through ``bench/deeptb/predict_blocks.py`` in DeePTB's own
environment) and one function scores both: the MAE over every stored element of every (i, j, R)
block of the validation frames, onsite included; a block a tool does not predict counts as zero.

DeePTB 2.2.1 is installed in its own venv (its pins clash with ours); the DeePTB model is SLEM
with ``--irreps`` hidden irreps, 2 layers, the same r_max as slem-dft's data-derived cutoff,
Adam 5e-3 with ReduceLROnPlateau (factor 0.8, patience 50), loss ``hamil_abs`` (its SLEM examples'
settings). slem-dft runs its defaults (``fit --show-defaults``) at the sizes of bench/train.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

from slem_dft.data import Record
from slem_dft.parsers.deeptb import parse_basis_string, read_block_group
from slem_dft.predict import Predictor
from slem_dft.store import Store, write_store
from slem_dft.train import load_checkpoint
from slem_dft.writers.deeptb import SIDECAR, basis_string, deeptb_order, write_dataset

HERE = Path(__file__).resolve().parent
DISTANCE_BINS = (0.0, 0.1, 3.0, 4.6, 6.0, 6.8, 100.0)


def block_errors(record: Record, lookup) -> tuple[np.ndarray, np.ndarray]:
    """|pred - ref| (eV) of every stored H element of ``record`` and its bond length (Angstrom);
    ``lookup(i, j, R)`` gives the predicted (n_i, n_j) block in canonical order, or None (zero)."""
    H = record.operators["H"]
    pos, cell = record.atoms.positions, record.atoms.cell.array
    errors, lengths = [], []
    for e, (i, j, *R) in enumerate(H.edges.tolist()):
        ref = H.block(e)[0]
        pred = lookup(i, j, R)
        errors.append(np.abs((0.0 if pred is None else pred) - ref).ravel())
        lengths.append(np.full(ref.size, np.linalg.norm(pos[j] + np.asarray(R) @ cell - pos[i])))
    return np.concatenate(errors), np.concatenate(lengths)


def _finder(matrix, order_of_atom=None):
    """lookup(i, j, R) over a BlockMatrix, using the transpose of (j, i, -R) where only it is
    stored; ``order_of_atom[i]`` maps DeePTB orbital positions to canonical ones."""

    def lookup(i, j, R):
        e = matrix.find(i, j, R)
        if e is not None:
            block = matrix.block(e)[0]
        else:
            e = matrix.find(j, i, [-x for x in R])
            if e is None:
                return None
            block = matrix.block(e)[0].T
        if order_of_atom is None:
            return block
        out = np.empty_like(block)
        out[np.ix_(order_of_atom[i], order_of_atom[j])] = block
        return out

    return lookup


def _split(args, work: Path) -> tuple[list[Record], list[Record]]:
    records = list(Store(args.store))
    if not 0 < args.val < len(records):
        sys.exit(f"--val must be between 1 and {len(records) - 1} for {len(records)} structures")
    train, val = records[: -args.val], records[-args.val :]
    write_store(work / "train.h5", train)
    write_store(work / "val.h5", val)
    write_dataset(work / "deeptb", train, ("H",), prefix="train")
    write_dataset(work / "deeptb", val, ("H",), prefix="val")
    return train, val


def _cutoff(records: list[Record]) -> float:
    """slem-dft's data-derived cutoff: the longest stored hopping plus 1e-3 Angstrom."""
    longest = 0.0
    for rec in records:
        e = rec.operators["H"].edges
        vec = rec.atoms.positions[e[:, 1]] + e[:, 2:] @ rec.atoms.cell.array - rec.atoms.positions[e[:, 0]]
        longest = max(longest, float(np.linalg.norm(vec, axis=1).max()))
    return longest + 1e-3


def _dptb_input(args, work: Path, n_train: int, r_max: float, avg: float) -> Path:
    basis = json.loads((work / "deeptb" / "train.0" / SIDECAR).read_text())["basis"]
    config = {
        "common_options": {"basis": basis, "device": "cpu", "dtype": "float32", "overlap": False, "seed": args.seed},
        "model_options": {
            "embedding": {
                "method": "slem",
                "r_max": {el: r_max for el in basis},
                "irreps_hidden": args.irreps,
                "n_layers": 2,
                "avg_num_neighbors": avg,
                "tp_radial_emb": True,
            },
            "prediction": {"method": "e3tb", "neurons": [64, 64]},
        },
        "train_options": {
            "num_epoch": args.epochs,
            "batch_size": 1,
            "optimizer": {"lr": 0.005, "type": "Adam"},
            "lr_scheduler": {"type": "rop", "factor": 0.8, "patience": 50, "min_lr": 1e-6},
            "loss_options": {"train": {"method": "hamil_abs"}, "validation": {"method": "hamil_abs"}},
            "save_freq": 10**6,
            "validation_freq": n_train,
            "display_freq": n_train,
            "max_ckpt": 2,
        },
        "data_options": {
            "train": {"root": str(work / "deeptb"), "prefix": "train", "get_Hamiltonian": True},
            "validation": {"root": str(work / "deeptb"), "prefix": "val", "get_Hamiltonian": True},
        },
    }
    path = work / "dptb_input.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _slem_config(args, work: Path, r_max: float) -> Path:
    config = {
        "data": {
            "stores": [str(work / "train.h5")],
            "val_stores": [str(work / "val.h5")],
            "operators": ["H"],
            "cutoff": r_max,  # the same graph as DeePTB's (fit's default would also reach the stored DM's blocks)
        },
        "model": {
            "channels": args.channels,
            "n_layers": 2,
            "latent_dim": 64,
            "radial_channels": 32,
            "env_multiplicity": 8,
        },
        "train": {
            "epochs": args.epochs,
            "max_minutes": args.minutes,
            "threads": 1,
            "progress": False,
            "seed": args.seed,
        },
    }
    path = work / "slem.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _train_both(args, work: Path, dptb_input: Path, slem_config: Path) -> dict:
    """Start both trainings together, one core and one thread each; returns wall times."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    dptb_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [args.dptb_pythonpath, env.get("PYTHONPATH")]))}
    dptb_bin = str(Path(args.dptb_python).with_name("dptb"))
    cores = args.cores.split(",")
    start = time.perf_counter()
    with open(work / "slem.log", "w") as slem_log, open(work / "dptb.log", "w") as dptb_log:
        slem = subprocess.Popen(
            [
                "taskset",
                "-c",
                cores[0],
                sys.executable,
                "-m",
                "slem_dft.cli",
                "fit",
                str(slem_config),
                "-o",
                str(work / "slem_run"),
            ],
            stdout=slem_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        dptb = subprocess.Popen(
            ["taskset", "-c", cores[1], dptb_bin, "train", str(dptb_input), "-o", str(work / "dptb_run")],
            stdout=dptb_log,
            stderr=subprocess.STDOUT,
            env=dptb_env,
        )
        slem.wait()
        slem_wall = time.perf_counter() - start
        # DeePTB has no wall-time budget: it gets the same wall time as slem-dft's run, then is stopped
        try:
            dptb.wait(timeout=max(slem_wall - (time.perf_counter() - start), 0.0) + 1.0)
        except subprocess.TimeoutExpired:
            dptb.terminate()
            dptb.wait()
        dptb_wall = time.perf_counter() - start
    if slem.returncode:
        sys.exit(f"slem-dft fit failed, see {work / 'slem.log'}")
    return {"slem": slem_wall, "dptb": dptb_wall}


def _dptb_predictions(args, work: Path, val: list[Record]):
    checkpoint = work / "dptb_run" / "checkpoint" / "nnenv.best.pth"
    if not checkpoint.exists():
        sys.exit(f"DeePTB wrote no checkpoint, see {work / 'dptb.log'}")
    out = work / "dptb_val_blocks.h5"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [args.dptb_pythonpath, os.environ.get("PYTHONPATH")])),
    }
    subprocess.run(
        [
            args.dptb_python,
            str(HERE / "deeptb" / "predict_blocks.py"),
            str(checkpoint.resolve()),
            str(work / "dptb_input.json"),
            str(work / "deeptb"),
            "val",
            str(out),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lookups = []
    with h5py.File(out) as f:
        for k, rec in enumerate(val):
            deeptb_basis = type(rec.basis)(
                tuple(parse_basis_string(sb.label, basis_string(sb)) for sb in rec.basis.species)
            )
            matrix = read_block_group(f[str(k)], rec.species, deeptb_basis, os.fspath(out))
            orders = {sb.label: deeptb_order(sb) for sb in rec.basis.species}
            lookups.append(_finder(matrix, [orders[s] for s in rec.species]))
    return lookups


def _dptb_log_figures(work: Path) -> tuple[int, int]:
    text = (work / "dptb.log").read_text(errors="replace")
    params = re.search(r"Model parameters: ([\d,]+)", text)
    epochs = re.findall(r"Epoch (\d+) summary", text)
    return int(params.group(1).replace(",", "")) if params else -1, int(epochs[-1]) if epochs else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a store made by slem-dft convert (with H)")
    parser.add_argument("--val", type=int, default=2, help="validation structures (the last of the store)")
    parser.add_argument("--dptb-python", required=True, help="python of the venv where DeePTB 2.2.1 is installed")
    parser.add_argument(
        "--dptb-pythonpath", default=None, help="extra PYTHONPATH for DeePTB (e.g. a torch_scatter stand-in)"
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="wall time of both trainings")
    parser.add_argument("--epochs", type=int, default=100000)
    parser.add_argument("--channels", type=int, default=16, help="slem-dft model.channels")
    parser.add_argument("--irreps", default="96x0e+64x1o+32x2e+16x3o+16x4e", help="DeePTB irreps_hidden")
    parser.add_argument("--cores", default="0,1", help="cores for slem-dft and DeePTB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="work folder (stores, runs, logs)")
    args = parser.parse_args()
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    train, val = _split(args, work)
    r_max = _cutoff(train + val)
    avg = round(float(np.mean([_neighbours(rec, r_max) for rec in train])), 1)
    walls = _train_both(args, work, _dptb_input(args, work, len(train), r_max, avg), _slem_config(args, work, r_max))

    model, state = load_checkpoint(work / "slem_run" / "best.pt")
    slem_params = sum(p.numel() for p in model.parameters())
    slem_epochs = len(state["history"])
    predictor = Predictor(work / "slem_run" / "best.pt")
    ours = [_finder(predictor.predict(rec.atoms, rec.species, ["H"]).operators["H"]) for rec in val]
    theirs = _dptb_predictions(args, work, val)
    dptb_params, dptb_epochs = _dptb_log_figures(work)
    scored = {
        name: [block_errors(rec, look) for rec, look in zip(val, lookups)]
        for name, lookups in (("slem-dft", ours), ("DeePTB", theirs))
    }
    print(
        f"\n{args.store}: {len(train)} training / {len(val)} validation structures, H only, r_max {r_max:.3f} A, "
        f"one thread each on cores {args.cores}, started together\n"
    )
    print("| tool | params | epochs in the same time | wall (min) | validation H MAE (meV) |")
    print("|---|---|---|---|---|")
    for name, params, epochs, wall in (
        ("slem-dft", slem_params, slem_epochs, walls["slem"]),
        ("DeePTB 2.2.1 SLEM", dptb_params, dptb_epochs, walls["dptb"]),
    ):
        errors = np.concatenate([e for e, _ in scored["slem-dft" if name == "slem-dft" else "DeePTB"]])
        print(f"| {name} | {params:,} | {epochs} | {wall / 60:.1f} | {1000 * errors.mean():.3f} |")
    print("\nMAE by bond length (meV; 0-0.1 A = onsite):\n")
    print("| bond length (A) | share of elements | slem-dft | DeePTB |")
    print("|---|---|---|---|")
    for lo, hi in zip(DISTANCE_BINS[:-1], DISTANCE_BINS[1:]):
        cells = []
        for name in ("slem-dft", "DeePTB"):
            errors = np.concatenate([e for e, _ in scored[name]])
            lengths = np.concatenate([d for _, d in scored[name]])
            mask = (lengths >= lo) & (lengths < hi)
            cells.append((mask.mean(), 1000 * errors[mask].mean() if mask.any() else float("nan")))
        print(f"| {lo:g}-{hi:g} | {cells[0][0]:.3f} | {cells[0][1]:.3f} | {cells[1][1]:.3f} |")


def _neighbours(record: Record, r_max: float) -> float:
    """Directed edges per atom within r_max (DeePTB's avg_num_neighbors)."""
    from ase.neighborlist import neighbor_list

    return len(neighbor_list("i", record.atoms, r_max)) / len(record.atoms)


if __name__ == "__main__":
    main()
