"""Inference scaling benchmark: time and peak memory of ``slem-dft predict`` against the number
of atoms, one process and MPI ranks; then H(k) assembly and the bands near E_F of the largest
system with sparse matrices (prints Markdown tables).

    python bench/inference.py                          # model trained here on the bundled Si SZ run
    python bench/inference.py --model best.pt --sizes 2,5,11 --ranks 1,2 --chunk 256

Structures: the 8-atom Si example (data/abacus/si8_dzp/frame_000, a 5.43 A cubic cell of an MD
run) repeated n x n x n (8 n^3 atoms). Without ``--model`` a model is trained for a few epochs on
the bundled ABACUS Si run with a single-zeta basis (data/abacus/si2_sz_nspin1_new: 4 orbitals per
atom, cutoff from the data, 6.35 A) and used on the denser example, out of its training domain:
its accuracy is irrelevant to the timings, which depend on the basis, the model size and the
number of neighbours (about 50 per atom here). Each prediction runs in a fresh
process (``mpiexec -n RANKS`` for RANKS > 1) that reports its own wall time (model loaded,
structure read, store written) and peak resident memory (getrusage, largest over ranks).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SI_RUN = REPO / "data" / "abacus" / "si2_sz_nspin1_new"
SI_EXAMPLE = REPO / "data" / "abacus" / "si8_dzp" / "frame_000"


def _worker(args) -> None:
    """One prediction in this process (or this MPI rank); prints one JSON line on rank 0."""
    import torch

    from slem_dft.predict import Predictor, mpi_world, predict_to_store, read_structures

    torch.set_num_threads(args.threads)
    comm = mpi_world()
    rank = comm.Get_rank() if comm is not None else 0
    t0 = time.perf_counter()
    predictor = Predictor(args.model, "cpu", args.chunk)
    structures = read_structures([args.structure])
    chunks = len(predictor.tasks(structures[0], predictor.operators(args.operators))[0][1])
    t1 = time.perf_counter()
    predict_to_store(predictor, structures, args.out, args.operators, comm, progress=False)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux reports KiB)
    peaks = comm.gather(peak, root=0) if comm is not None else [peak]
    if rank == 0:
        print(json.dumps({"setup_s": t1 - t0, "predict_s": t2 - t1, "peak_MiB": max(peaks), "chunks": chunks}))


def _train_model(work: Path) -> Path:
    store = work / "si2.h5"
    subprocess.run(
        ["slem-dft", "convert", str(SI_RUN), "-o", str(store), "--operators", "H,S"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    config = work / "fit.yaml"
    config.write_text(
        f"data:\n  stores: [{store}]\n  operators: [H]\n  val_fraction: 0.0\ntrain:\n  epochs: 5\n  progress: false\n"
    )
    subprocess.run(["slem-dft", "fit", str(config), "-o", str(work / "model")], check=True, stdout=subprocess.DEVNULL)
    return work / "model" / "best.pt"


def _run(args, model: Path, structure: Path, out: Path, ranks: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--model",
        str(model),
        "--structure",
        str(structure),
        "--out",
        str(out),
        "--chunk",
        str(args.chunk),
        "--threads",
        str(args.threads),
        "--operators",
        *args.operators,
    ]
    if ranks > 1:
        command = [shutil.which("mpiexec") or "mpiexec", "-n", str(ranks), *command]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"prediction failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _bands_near_fermi(store: Path, n_bands: int, sigma: float) -> dict:
    """H(k), S(k) assembly and shift-invert bands nearest ``sigma`` (eV) at Gamma and one
    other k."""
    from slem_dft.bands import compute_bands
    from slem_dft.kspace import BlochSum
    from slem_dft.store import Store

    record = Store(store)[0]
    counts = record.orbital_counts
    t0 = time.perf_counter()
    h_sum, s_sum = BlochSum(record.operators["H"], counts), BlochSum(record.operators["S"], counts)
    t1 = time.perf_counter()
    hk, sk = h_sum(np.zeros(3)), s_sum(np.zeros(3))
    t2 = time.perf_counter()
    bands = compute_bands(record, np.array([[0.0, 0.0, 0.0], [0.25, 0.0, 0.0]]), n_bands=n_bands, sigma=sigma)
    t3 = time.perf_counter()
    return {
        "atoms": len(record.atoms),
        "orbitals": int(counts.sum()),
        "nnz_H": int(hk.nnz),
        "nnz_S": int(sk.nnz),
        "setup_s": t1 - t0,
        "assembly_s": t2 - t1,
        "bands_s": t3 - t2,
        "n_bands": int(bands.energies.shape[-1]),
        "sigma": sigma,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="checkpoint (default: train one on the bundled Si SZ run)")
    parser.add_argument("--sizes", default="2,3,5,8,11", help="supercell repeats n (8 n^3 atoms)")
    parser.add_argument("--ranks", default="1,2", help="MPI process counts to run")
    parser.add_argument("--chunk", type=int, default=256, help="atoms per chunk")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--operators", nargs="+", default=["H", "S"])
    parser.add_argument("--bands", type=int, default=16, help="bands near E_F for the sparse test (0: skip)")
    parser.add_argument("--keep", type=Path, help="folder to keep the stores in")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--structure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.keep or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        model = args.model or _train_model(work)
        from slem_dft.registry import read_structure

        base, _ = read_structure(SI_EXAMPLE)
        print(
            f"model {model}; Si example {SI_EXAMPLE.name} repeated; {args.chunk} atoms per chunk; {args.threads} thread(s) "
            f"per process; operators {','.join(args.operators)}\n"
        )
        print("| atoms | ranks | chunks | predict (s) | ms / atom | peak memory (MiB) |")
        print("|---:|---:|---:|---:|---:|---:|")
        largest = None
        for n in (int(x) for x in args.sizes.split(",")):
            atoms = base.repeat((n, n, n))
            structure = work / f"si{len(atoms)}.extxyz"
            ase.io.write(structure, atoms, format="extxyz")
            for ranks in (int(x) for x in args.ranks.split(",")):
                out = work / f"pred{len(atoms)}_{ranks}.h5"
                r = _run(args, model, structure, out, ranks)
                print(
                    f"| {len(atoms)} | {ranks} | {r['chunks']} | {r['predict_s']:.2f} | "
                    f"{1000 * r['predict_s'] / len(atoms):.2f} | {r['peak_MiB']:.0f} |",
                    flush=True,
                )
                largest = out
        if args.bands and largest is not None and "S" in args.operators:
            from slem_dft.bands import fermi_level_from_mesh
            from slem_dft.registry import read_run

            run = read_run(SI_RUN, operators=("H", "S"))
            # the run ships no log with its electron count: Si with 4 valence electrons per atom
            fermi = fermi_level_from_mesh(dataclasses.replace(run, n_electrons=4.0 * len(run.atoms)))
            b = _bands_near_fermi(largest, args.bands, fermi)
            print(
                f"\nH(k), S(k) of {b['atoms']} atoms ({b['orbitals']} orbitals; nnz H(k) {b['nnz_H']}, "
                f"S(k) {b['nnz_S']}): index setup {b['setup_s']:.2f} s, one k-point assembly "
                f"{b['assembly_s']:.2f} s; {b['n_bands']} bands nearest {b['sigma']:.2f} eV (E_F of the training run) at 2 k-points by "
                f"sparse shift-invert: {b['bands_s']:.1f} s"
            )


if __name__ == "__main__":
    main()
