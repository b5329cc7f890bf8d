"""SO(2) convolution vs e3nn's fully connected tensor product, per edge (prints a Markdown table).

    python bench/so2_vs_tp.py [--lmax 2 4 6 8] [--mul 4] [--edges 256] [--threads 2]

Both map features f of irreps ``mul x (0e + 1o + 2e + ... + L)`` on every edge to the same
irreps through the edge direction: the tensor product CG(f x Y(r_ij)) with
``o3.FullyConnectedTensorProduct(irreps, Y_0..L, irreps)`` (shared weights, every parity-allowed
path), and the SO(2) layer (edge-frame Wigner rotations of f, ``SO2Linear`` with per-edge
scales, rotation back; the Wigner matrices are computed inside the timed region). Time: median
wall time of forward + backward (gradients to f and to the weights) divided by the edge count.
Memory: bytes of the tensors autograd saves for the backward pass (distinct storages), per
edge: the activation memory a training step holds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from e3nn import o3

from slem_dft.nn.so2 import EdgeFrame, SO2Linear


def _irreps(mul: int, lmax: int) -> o3.Irreps:
    return o3.Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])


def _saved_bytes(step) -> int:
    """Bytes of the distinct storages autograd saves while ``step()`` builds its graph."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = step()
    del out
    return sum(storages.values())


def _time(step, repeats: int) -> float:
    """Median seconds of forward (``step``) + backward."""
    times = []
    for k in range(repeats + 2):
        t = time.perf_counter()
        step().pow(2).sum().backward()
        if k > 1:  # two runs warm up
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def _case(lmax: int, mul: int, n_edges: int, repeats: int) -> dict:
    """Time (us / edge) and saved memory (kB / edge) of both layers at one lmax."""
    torch.manual_seed(0)
    irreps = _irreps(mul, lmax)
    vec = torch.randn(n_edges, 3)
    f = torch.randn(n_edges, irreps.dim, requires_grad=True)
    t_build = time.perf_counter()
    tp = o3.FullyConnectedTensorProduct(irreps, o3.Irreps.spherical_harmonics(lmax), irreps)
    t_build = time.perf_counter() - t_build
    so2 = SO2Linear(irreps, irreps)
    scales = torch.randn(n_edges, so2.n_scales)

    def tp_step():
        return tp(f, o3.spherical_harmonics(list(range(lmax + 1)), vec, normalize=True))

    def so2_step():
        frame = EdgeFrame(vec, lmax)
        return frame.from_frame(so2(frame.to_frame(f, irreps), scales), irreps)

    row = {
        "lmax": lmax,
        "dim": irreps.dim,
        "tp_paths": len(tp.instructions),
        "tp_build_s": t_build,
        "tp_params": tp.weight_numel,
        "so2_params": sum(p.numel() for p in so2.parameters()),
    }
    for name, step in (("tp", tp_step), ("so2", so2_step)):
        row[f"{name}_us"] = _time(step, repeats) / n_edges * 1e6
        row[f"{name}_kb"] = _saved_bytes(step) / n_edges / 1024
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lmax", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--mul", type=int, default=4, help="copies of every degree")
    parser.add_argument("--edges", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"irreps {args.mul} x (0e + 1o + ... + L) -> same, {args.edges} edges, float32, {args.threads} threads, "
        f"torch {torch.__version__}\n"
    )
    print(
        "| L | feature dim | TP paths | TP weights | SO(2) weights | TP us/edge | SO(2) us/edge | time ratio "
        "| TP kB/edge | SO(2) kB/edge | memory ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for lmax in args.lmax:
        r = _case(lmax, args.mul, args.edges, args.repeats)
        print(
            f"| {lmax} | {r['dim']} | {r['tp_paths']} | {r['tp_params']} | {r['so2_params']} | {r['tp_us']:.2f} "
            f"| {r['so2_us']:.2f} | {r['tp_us'] / r['so2_us']:.1f} | {r['tp_kb']:.1f} | {r['so2_kb']:.1f} "
            f"| {r['tp_kb'] / r['so2_kb']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
