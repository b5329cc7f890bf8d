"""Wannier90 ``seedname_hr.dat``: the tight-binding H(R) in an orthogonal (Loewdin) basis.

The LCAO basis is not orthogonal, and a tight-binding file has no S. On a Gamma-centred
Monkhorst-Pack mesh every H(k) is orthogonalised,

    H_orth(k) = S(k)^-1/2 H(k) S(k)^-1/2          (same eigenvalues as H c = e S c),

and brought back to real space on Wannier90's Wigner-Seitz supercell of the mesh,

    H_orth(R) = 1/N_k sum_k exp(-i 2 pi k.R) H_orth(k),

R running over the lattice vectors of the mesh supercell closest to the origin, each with its
degeneracy (the number of equally close images), exactly as Wannier90's
``hamiltonian_wigner_seitz`` builds them. A reader sums H(k) = sum_R exp(+i 2 pi k.R)
H_orth(R) / ndegen(R): this gives back the LCAO eigenvalues exactly at the mesh k-points and an
interpolation in between. H_orth(R) decays more slowly than H(R) (S^-1/2 is not local), so the
mesh controls the quality between mesh points; its minimum is set by the range of H(R), S(R).

Layout (Wannier90 ``hamiltonian_write_hr``): a header line with the date, num_wann, nrpts, the
degeneracies 15 per line, then for every R and every pair ``R1 R2 R3 m n Re Im`` (eV) with m
running fastest, H_mn(R) = <m, 0|H|n, R>. Values carry 12 decimals instead of Wannier90's 6 so
that the mesh eigenvalues come back to 1e-8 eV; every reader of the format parses free-form.
Orbitals are the canonical order (docs/conventions.md); spinors have spin innermost.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.linalg

from slem_dft.atomic import atomic_write
from slem_dft.data import Record
from slem_dft.errors import ConfigError, MissingInputError
from slem_dft.kspace import BlochSum, spin_expand

__all__ = ["MAX_ORBITALS", "export_files", "hr_text", "minimum_mesh", "orthogonal_hr", "wigner_seitz", "write_hr"]

#: Largest num_wann written: every k-point needs dense n x n matrices and the file holds
#: nrpts * n^2 lines (1000 orbitals on a 5x5x5 mesh: 1.5e8 lines, 8 GB of text).
MAX_ORBITALS = 1000
#: Wannier90's defaults: ws_search_size 2 and ws_distance_tol 1e-5 (Angstrom).
_WS_SEARCH = 2
_WS_TOL = 1e-5


def minimum_mesh(record: Record) -> tuple[int, int, int]:
    """Smallest mesh that holds every lattice vector of H(R) and S(R): 2 max|R_i| + 1."""
    extent = np.zeros(3, dtype=np.int64)
    for name in ("H", "S"):
        edges = record.operators[name].edges
        if len(edges):
            extent = np.maximum(extent, np.abs(edges[:, 2:]).max(axis=0))
    return tuple(int(2 * e + 1) for e in extent)


def wigner_seitz(cell: np.ndarray, mesh: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Lattice vectors of the Wigner-Seitz supercell of ``mesh`` and their degeneracies.

    Returns
    -------
    irvec : (nrpts, 3) int64, in units of the cell vectors
    ndegen : (nrpts,) int64; sum(1 / ndegen) = n1 n2 n3
    """
    mesh = np.asarray(mesh, dtype=np.int64)
    metric = cell @ cell.T
    search = [np.arange(-_WS_SEARCH * m, _WS_SEARCH * m + 1) for m in mesh]
    candidates = np.stack(np.meshgrid(*search, indexing="ij"), axis=-1).reshape(-1, 3)
    shifts = (
        np.stack(np.meshgrid(*[np.arange(-_WS_SEARCH - 1, _WS_SEARCH + 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
        * mesh
    )
    origin = np.flatnonzero(np.all(shifts == 0, axis=1))[0]
    irvec, ndegen = [], []
    for start in range(0, len(candidates), 4096):  # chunks bound the (chunk, shifts) distance table
        diff = candidates[start : start + 4096, None, :] - shifts[None, :, :]
        dist = np.einsum("rsi,ij,rsj->rs", diff, metric, diff)
        close = np.abs(dist - dist.min(axis=1, keepdims=True)) < _WS_TOL**2
        irvec.append(candidates[start : start + 4096][close[:, origin]])
        ndegen.append(close[close[:, origin]].sum(axis=1))
    irvec, ndegen = np.concatenate(irvec), np.concatenate(ndegen)
    if not math.isclose(np.sum(1.0 / ndegen), float(np.prod(mesh)), rel_tol=1e-9):
        raise ArithmeticError(f"Wigner-Seitz weights sum to {np.sum(1.0 / ndegen)}, not {np.prod(mesh)}")
    return irvec, ndegen


def _inverse_sqrt(s: np.ndarray) -> np.ndarray:
    """S^-1/2 of a hermitian positive matrix, by its eigenvectors."""
    w, u = scipy.linalg.eigh(0.5 * (s + s.conj().T))
    if w[0] <= 0:
        raise ConfigError(f"S(k) is not positive definite (smallest eigenvalue {w[0]:.3e})")
    return (u / np.sqrt(w)) @ u.conj().T


def orthogonal_hr(
    record: Record, mesh: Sequence[int] | None = None, channel: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H_orth(R) of one spin channel on the Wigner-Seitz set of ``mesh``.

    Parameters
    ----------
    mesh
        Gamma-centred mesh (n1, n2, n3); default and minimum :func:`minimum_mesh`.
    channel
        0 (up) or 1 (down) for collinear H, else 0.

    Returns
    -------
    irvec (nrpts, 3) int64, ndegen (nrpts,) int64, ham (nrpts, n, n) complex128 in eV, with
    n = orbitals (x2 for spinors).
    """
    missing = [op for op in ("H", "S") if op not in record.operators]
    if missing:
        raise MissingInputError(record.source.path, f"a tight-binding H needs H and S; no {', '.join(missing)}")
    if record.gamma_only:
        raise ConfigError(f"{record.source.path}: gamma-only (folded) matrices have no H(R) to write")
    spinor = record.operators["H"].spin == "spinor"
    n = record.n_orbitals * (2 if spinor else 1)
    if n > MAX_ORBITALS:
        raise ConfigError(
            f"{n} orbitals exceed the Wannier90 export limit of {MAX_ORBITALS}: each k-point needs "
            f"dense {n}x{n} matrices and the file holds nrpts x {n}^2 lines"
        )
    least = minimum_mesh(record)
    mesh = least if mesh is None else tuple(int(m) for m in mesh)
    if any(m < lo for m, lo in zip(mesh, least)):
        raise ConfigError(
            f"k-mesh {mesh} is too coarse for the range of H(R), S(R): it needs at least {least} "
            "(2 max|R| + 1 per direction)"
        )
    H = BlochSum(record.operators["H"], record.orbital_counts)
    S = BlochSum(record.operators["S"], record.orbital_counts)
    expand = spinor and record.operators["S"].spin != "spinor"
    irvec, ndegen = wigner_seitz(record.atoms.cell.array, mesh)
    # H_orth(k) on the whole mesh, then one FFT over the k axes: sum_k exp(-i 2 pi k.R) / N_k
    # depends on R modulo the mesh only, so each Wigner-Seitz R reads its residue class.
    grid = np.empty((*mesh, n, n), dtype=np.complex128)
    for index in np.ndindex(*mesh):
        k = np.array(index) / np.array(mesh)
        s = (spin_expand(S(k)) if expand else S(k)).toarray()
        root = _inverse_sqrt(s)
        h_orth = root @ H(k, channel).toarray() @ root
        grid[index] = 0.5 * (h_orth + h_orth.conj().T)
    grid = np.fft.fftn(grid, axes=(0, 1, 2)) / np.prod(mesh)
    residue = np.mod(irvec, mesh)
    ham = grid[residue[:, 0], residue[:, 1], residue[:, 2]]
    return irvec, ndegen, ham


def hr_text(irvec: np.ndarray, ndegen: np.ndarray, ham: np.ndarray, date: datetime.datetime | None = None) -> str:
    """The ``_hr.dat`` text of :func:`orthogonal_hr`'s output."""
    date = date or datetime.datetime.now()
    n = ham.shape[1]
    lines = [
        f" written on {date:%d%b%Y} at {date:%H:%M:%S} by slem-dft (Loewdin-orthogonalised LCAO H, eV)",
        f"{n:12d}",
        f"{len(irvec):12d}",
    ]
    lines += ["".join(f"{d:5d}" for d in ndegen[i : i + 15]) for i in range(0, len(ndegen), 15)]
    m, col = np.meshgrid(np.arange(1, n + 1), np.arange(1, n + 1), indexing="xy")  # m fastest
    block = np.column_stack([m.ravel(), col.ravel()])
    rows = []
    for R, h in zip(irvec, ham):
        values = h.T.ravel()  # h[m, n] with m fastest
        rows.append(np.column_stack([np.broadcast_to(R, (n * n, 3)), block, values.real, values.imag]))
    table = np.concatenate(rows)
    body = "\n".join(
        f"{int(a):5d}{int(b):5d}{int(c):5d}{int(d):5d}{int(e):5d}{x:20.12f}{y:20.12f}"
        for a, b, c, d, e, x, y in table.tolist()
    )
    return "\n".join(lines) + "\n" + body + "\n"


def write_hr(
    folder: str | os.PathLike, record: Record, mesh: Sequence[int] | None = None, seedname: str = "wannier90"
) -> list[Path]:
    """``seedname_hr.dat`` (nspin 1 and spinors) or ``seedname_up_hr.dat`` and
    ``seedname_dn_hr.dat`` (collinear spin, one Wannier90 run per channel) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    collinear = record.operators["H"].spin == "collinear" if "H" in record.operators else False
    names = [f"{seedname}_up_hr.dat", f"{seedname}_dn_hr.dat"] if collinear else [f"{seedname}_hr.dat"]
    written = []
    for channel, name in enumerate(names):
        path = folder / name
        atomic_write(path, hr_text(*orthogonal_hr(record, mesh, channel)))
        written.append(path)
    return written


def export_files(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    """``slem-dft export --to wannier90``: :func:`write_hr` with ``options["kmesh"]`` and
    ``seedname``. Always H orthogonalised with S, whatever ``operators`` says (a tight-binding
    file has no S or DM)."""
    return write_hr(folder, record, options.get("kmesh"), options.get("seedname", "wannier90"))
