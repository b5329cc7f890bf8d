"""Band-structure outputs: the ``.dat`` table (and reading it back) and the ``.png`` plot."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..reference import BandReference
from .compare import BandComparison
from .kpath import KPath
from .solver import Bands

__all__ = ["plot_bands", "read_dat", "write_dat"]


def write_dat(path: str | os.PathLike, kpath: KPath, bands: Bands, fermi_energy: float) -> Path:
    """Columns: distance (1/Angstrom), k1 k2 k3 (reduced), then per spin channel the absolute
    index of its first band and its energies (eV); E_F in the header."""
    path = Path(path)
    n_ch, _n_k, n_b = bands.energies.shape
    columns = [kpath.distance[:, None], kpath.kpoints]
    for c in range(n_ch):
        columns += [bands.first[c][:, None], bands.energies[c]]
    labels = " ".join(f"{i}:{name}" for i, name in kpath.labels)
    header = (
        f"slem-dft bands\nE_F = {fermi_energy:.10f} eV\nchannels = {n_ch}  bands = {n_b}  solver = {bands.solver}\n"
        f"labels = {labels}\n"
        "columns: distance(1/Angstrom) k1 k2 k3 (reduced), then per channel: first_band energies(eV)..."
    )
    text = io.StringIO()
    np.savetxt(text, np.hstack(columns), fmt="%.10f", header=header)
    atomic_write(path, text.getvalue())
    return path


def read_dat(path: str | os.PathLike) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(E_F, distance (n_k,), k (n_k, 3), energies (n_channels, n_k, n_bands)) of a
    :func:`write_dat` file."""
    header = {}
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            for key, value in re.findall(r"(\w+) = (\S+)", line):
                header[key] = value
    data = np.loadtxt(path, ndmin=2)
    n_ch, n_b = int(header["channels"]), int(header["bands"])
    energies = np.stack([data[:, 5 + c * (n_b + 1) : 5 + c * (n_b + 1) + n_b] for c in range(n_ch)])
    return float(header["E_F"]), data[:, 0], data[:, 1:4], energies


def plot_bands(
    path: str | os.PathLike,
    kpath: KPath,
    bands: Bands,
    fermi_energy: float,
    window: float,
    reference: BandReference | None = None,
    comparison: BandComparison | None = None,
    title: str = "",
) -> Path:
    """PNG of E - E_F along the path: one colour per spin channel, the reference as open
    markers, E_F as a dashed line, high-symmetry labels on the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = ("tab:blue", "tab:red")
    names = ("spin up", "spin down") if bands.energies.shape[0] == 2 else ("slem-dft",)
    segments = np.split(np.arange(len(kpath.distance)), kpath.breaks)
    fig, ax = plt.subplots(figsize=(7, 5))
    for c in range(bands.energies.shape[0]):
        e = bands.energies[c] - fermi_energy
        for n, seg in enumerate(segments):
            lines = ax.plot(kpath.distance[seg], e[seg], "_" if len(seg) == 1 else "-", color=colours[c], lw=1.0, ms=12)
            lines[0].set_label(names[c] if n == 0 else None)
        if reference is not None:
            r = reference.energies[c] - fermi_energy
            x = np.repeat(kpath.distance[:, None], r.shape[1], axis=1)
            ax.plot(
                x.ravel(),
                r.ravel(),
                "o",
                ms=3.0,
                mfc="none",
                color="k" if c == 0 else "tab:orange",
                mew=0.7,
                label=f"DFT {names[c]}" if bands.energies.shape[0] == 2 else "DFT",
            )
    ax.axhline(0.0, color="grey", ls="--", lw=0.8)
    for n in kpath.breaks:
        ax.axvline(kpath.distance[n], color="k", lw=0.8)
    ticks: dict[float, str] = {}
    for n, name in kpath.labels:
        d = float(kpath.distance[n])
        ticks[d] = f"{ticks[d]}|{name}" if d in ticks and ticks[d] != name else name
    for d in ticks:
        ax.axvline(d, color="k", lw=0.4, alpha=0.5)
    ax.set_xticks(list(ticks), list(ticks.values()))
    if kpath.distance[-1] > kpath.distance[0]:
        ax.set_xlim(kpath.distance[0], kpath.distance[-1])
    ax.set_ylim(-window, window)
    ax.set_ylabel("E - E$_F$ (eV)")
    ax.set_xlabel("k (1/Å)" if not ticks else "")
    if comparison is not None:
        title += (
            f"\nvs DFT within ±{comparison.window_eV:g} eV: max {comparison.max_abs_meV:.3g} meV, "
            f"mean {comparison.mean_abs_meV:.3g} meV"
        )
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, dpi=120, format="png")
    plt.close(fig)
    atomic_write(Path(path), image.getvalue())
    return Path(path)
