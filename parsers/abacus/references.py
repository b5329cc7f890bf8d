"""Eigenvalue files and dense H(k)/S(k) dumps of ABACUS (formats-abacus.md section 8),
read as :mod:`slem_dft.reference` objects for the physics checks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from slem_dft.compression import open_text, strip_compression
from slem_dft.conventions import orbital_map, spinor_split
from slem_dft.data import Record
from slem_dft.errors import FileFormatError
from slem_dft.reference import BandReference, DenseReference
from slem_dft.units import RY_TO_EV_ABACUS

from .._text import half_ulp, parse_numbers
from .inputs import read_kpt

__all__ = ["read_eig_occ", "read_bands_dat", "read_dense_dump", "find_references"]

_EIG_K = re.compile(r"spin=(\d+)\s+k-point=(\d+)/(\d+)")


def read_eig_occ(path: str | os.PathLike, kpoints: np.ndarray) -> BandReference:
    """``eig_occ.txt``: per spin and k-point, rows ``band energy(eV) occupation``."""
    path = os.fspath(path)
    blocks: dict[tuple[int, int], list[float]] = {}
    current, resolution = None, 0.0
    with open_text(path) as fh:
        for n, line in enumerate(fh, 1):
            if m := _EIG_K.search(line):
                current = (int(m.group(1)) - 1, int(m.group(2)) - 1)
                blocks[current] = []
                continue
            parts = line.split()
            if current is not None and len(parts) >= 2 and parts[0].isdigit():
                try:
                    blocks[current].append(float(parts[1]))
                except ValueError:
                    raise FileFormatError(path, f"bad energy {parts[1]!r}", f"line {n}") from None
                resolution = max(resolution, float(half_ulp(parts[1:2])[0]))
    if not blocks:
        raise FileFormatError(path, "no 'spin=... k-point=...' blocks")
    n_spin = max(s for s, _ in blocks) + 1
    n_k = max(k for _, k in blocks) + 1
    energies = np.array([[blocks[(s, k)] for k in range(n_k)] for s in range(n_spin)], dtype=np.float64)
    return BandReference(path, _match_kpoints(path, kpoints, n_k), energies, resolution)


def read_bands_dat(paths: list[str], kpoints: np.ndarray) -> BandReference:
    """``BANDS_1.dat`` (and ``BANDS_2.dat``) or ``band.txt``: rows ``k-index abscissa e1 e2 ...`` (eV)."""
    channels, resolution = [], 0.0
    for path in paths:
        rows = []
        with open_text(path) as fh:
            for line in fh:
                parts = line.split()
                if parts:
                    rows.append(parse_numbers(parts[2:], path, f"k-point {parts[0]}"))
                    resolution = max(resolution, float(half_ulp(parts[2:3])[0]))
        if not rows or len({len(r) for r in rows}) != 1:
            raise FileFormatError(path, "band file is empty or its rows differ in length")
        channels.append(np.array(rows))
    energies = np.stack(channels)
    return BandReference(paths[0], _match_kpoints(paths[0], kpoints, energies.shape[1]), energies, resolution)


def _match_kpoints(path: str, kpoints: np.ndarray | None, n_k: int) -> np.ndarray:
    if kpoints is None:
        raise FileFormatError(path, "no k-point list to place these eigenvalues (running_*.log is missing)")
    if len(kpoints) == 2 * n_k:  # nspin 2 logs list every k twice (spin as another k set)
        kpoints = kpoints[:n_k]
    if len(kpoints) != n_k:
        raise FileFormatError(path, f"{n_k} k-points here but the log lists {len(kpoints)}")
    return kpoints


def _dense_tokens(path: str) -> tuple[int, list[str], str]:
    """Dimension, upper-triangle tokens and layout ("old" data-k-H / "new" Row-i dump)."""
    tokens, rows, layout = [], 0, "old"
    with open_text(path) as fh:
        for line in fh:
            s = line.strip()
            if not s or s.startswith("#"):
                layout = "new" if s.startswith("#") else layout
                continue
            if s.startswith("Row"):
                rows += 1
                layout = "new"
                continue
            tokens.extend(s.split())
    if layout == "old":
        return int(tokens[0]), tokens[1:], layout
    return rows, tokens, layout


def read_dense_dump(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A dense upper-triangle dump (old ``data-<k>-H`` or new ``hks1_nao.txt``), in file
    units and order: (matrix (n, n) complex128, half-ulp of each element (n, n))."""
    path = os.fspath(path)
    try:
        n, tokens, _ = _dense_tokens(path)
    except (ValueError, IndexError):
        raise FileFormatError(path, "not a dense ABACUS matrix dump") from None
    if len(tokens) != n * (n + 1) // 2:
        raise FileFormatError(path, f"expected {n * (n + 1) // 2} upper-triangle values for n={n}, found {len(tokens)}")
    values = parse_numbers(tokens, path, "matrix", complex_values=tokens[0].startswith("("))
    iu = np.triu_indices(n)
    mat = np.zeros((n, n), dtype=np.complex128)
    res = np.zeros((n, n))
    mat[iu], res[iu] = values, half_ulp(tokens)
    mat = mat + np.triu(mat, 1).conj().T
    res = res + np.triu(res, 1).T
    return mat, res


def _canonical_permutation(record: Record) -> tuple[np.ndarray, np.ndarray]:
    """Full-matrix map ABACUS -> canonical: canonical[p] = sign[p] * abacus[perm[p]]."""
    perm, sign = orbital_map("abacus", [l for label in record.species for l in record.basis[label].ls])
    if record.nspin == 4:  # spin innermost in both orders
        orb, sigma = spinor_split("abacus", np.arange(2 * perm.size))
        perm, sign = 2 * perm[orb] + sigma, sign[orb]
    return perm, sign


def _to_canonical(path: Path, perm: np.ndarray, sign: np.ndarray, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """A dense dump in canonical order and eV, with the half-ulp of each element."""
    mat, res = read_dense_dump(path)
    if mat.shape[0] != perm.size:
        raise FileFormatError(path, f"dense matrix of size {mat.shape[0]} does not match the run's basis ({perm.size})")
    s = np.outer(sign, sign)
    return mat[np.ix_(perm, perm)] * s * unit, res[np.ix_(perm, perm)] * unit


_OLD_DENSE = re.compile(r"^data-(\d+)-([HS])$")
_NEW_DENSE = re.compile(r"^hks(\d)_nao\.txt$")


def find_references(directory: str | os.PathLike, record: Record, kpoints: np.ndarray | None) -> list:
    """Every eigenvalue file and dense dump in ``directory`` (and its ``OUT.*`` folders)."""
    directory = Path(directory)
    folders = [directory] + sorted(p for p in directory.glob("OUT.*") if p.is_dir())
    names: dict[str, Path] = {}
    for folder in folders:
        for p in sorted(folder.iterdir()):
            if p.is_file():
                names.setdefault(strip_compression(p).removesuffix(".ref"), p)
    refs: list = []
    if "eig_occ.txt" in names:
        refs.append(read_eig_occ(names["eig_occ.txt"], kpoints))
    elif "BANDS_1.dat" in names:
        files = [os.fspath(names[f]) for f in ("BANDS_1.dat", "BANDS_2.dat") if f in names]
        refs.append(read_bands_dat(files, kpoints))
    elif "band.txt" in names:
        refs.append(read_bands_dat([os.fspath(names["band.txt"])], kpoints))
    refs.extend(_dense_references(directory, names, record))
    return refs


def _dense_references(directory: Path, names: dict[str, Path], record: Record) -> list[DenseReference]:
    """Old ``data-<ik>-H/S`` pairs (k from the KPT grid, ik 0-based, spin-down after all k for
    nspin 2) and new gamma-only ``hks<spin>_nao.txt`` with one ``sk_nao.txt``."""
    perm, sign = _canonical_permutation(record)
    kpt = read_kpt(names["KPT"]) if "KPT" in names else None
    groups: list[tuple[np.ndarray, int, dict[str, Path]]] = []
    old: dict[int, dict[str, Path]] = {}
    for name, p in names.items():
        if m := _OLD_DENSE.match(name):
            old.setdefault(int(m.group(1)), {})[m.group(2)] = p
    for ik, files in sorted(old.items()):
        if record.gamma_only:
            groups.append((np.zeros(3), 0, files))
        elif kpt is not None:
            channel = ik // len(kpt) if record.nspin == 2 else 0
            groups.append((kpt[ik % len(kpt)], channel, files))
    for name, p in sorted(names.items()):
        if m := _NEW_DENSE.match(name):
            files = {"H": p, **({"S": names["sk_nao.txt"]} if "sk_nao.txt" in names else {})}
            groups.append((np.zeros(3), int(m.group(1)) - 1, files))
    refs = []
    for k, channel, files in groups:
        mats = {op: (None, None) for op in ("H", "S")}
        for op, unit in (("H", RY_TO_EV_ABACUS), ("S", 1.0)):
            if op in files:
                mats[op] = _to_canonical(files[op], perm, sign, unit)
        path = os.fspath(files.get("H", files.get("S")))
        refs.append(
            DenseReference(path, np.asarray(k, float), channel, mats["H"][0], mats["S"][0], mats["H"][1], mats["S"][1])
        )
    return refs
