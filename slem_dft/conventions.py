"""The one place that knows orbital orders, signs and spin layouts of the DFT codes.

Canonical convention (``CONVENTION_ID``), used everywhere inside slem-dft:

* Within an atom, shells come in the order of the species' :class:`~slem_dft.data.SpeciesBasis`
  (the DFT code's own shell order); within a shell, real spherical harmonics with
  m = -l, ..., +l in the standard (Wikipedia table) sign convention, i.e. with the
  Condon-Shortley phase folded in so that p_{-1}, p_0, p_{+1} = y, z, x
  (see :func:`slem_dft.harmonics.real_sph_harm`, the definition in code).
* For spinor (nspin 4) operators, the spin index is innermost: global index = 2 * orbital + sigma,
  sigma = 0 (up) or 1 (down).

Readers call :func:`orbital_map` to turn a code's orbital order into the canonical one; writers
use the same tables backwards (:func:`inverse_orbital_map`). Spin layouts: :func:`spinor_split`
(spinor index layouts), :func:`siesta_spinor_channels` (SIESTA's spin components).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ConventionError

__all__ = [
    "CONVENTION_ID",
    "KNOWN_CODES",
    "shell_map",
    "orbital_map",
    "inverse_orbital_map",
    "spinor_split",
    "siesta_spinor_channels",
]

#: Identifier written into every store; bump when the canonical convention changes.
CONVENTION_ID = "canonical-1"

KNOWN_CODES = ("abacus", "siesta", "openmx")


def _abacus_shell_map(l: int) -> tuple[np.ndarray, np.ndarray]:
    """ABACUS orders a shell m = 0, +1, -1, +2, -2, ... and its functions differ from the
    standard real harmonics by (-1)^m (``ylm.cpp``; formats-abacus.md section 2)."""
    perm = np.empty(2 * l + 1, dtype=np.int64)
    sign = np.empty(2 * l + 1, dtype=np.float64)
    for p, m in enumerate(range(-l, l + 1)):
        perm[p] = 0 if m == 0 else (2 * m - 1 if m > 0 else -2 * m)
        sign[p] = -1.0 if m % 2 else 1.0
    return perm, sign


def _siesta_shell_map(l: int) -> tuple[np.ndarray, np.ndarray]:
    """SIESTA orders m = -l..l, and Y_SIESTA(l, m) = (-1)^m Y_std(l, m) (``rlylm`` keeps the
    Condon-Shortley phase; formats-siesta.md section 9)."""
    m = np.arange(-l, l + 1)
    return np.arange(2 * l + 1, dtype=np.int64), np.where(m % 2, -1.0, 1.0)


# OpenMX (Get_Orbitals.c; formats-openmx.md section 3): a pure permutation, all signs +.
# l = 1: x, y, z; l = 2: 3z2-r2, x2-y2, xy, xz, yz; l = 3: m = 0, +1, -1, +2, -2, +3, -3.
_OPENMX_PERM = {0: [0], 1: [1, 2, 0], 2: [2, 4, 0, 3, 1], 3: [6, 4, 2, 0, 1, 3, 5]}


def _openmx_shell_map(l: int) -> tuple[np.ndarray, np.ndarray]:
    if l not in _OPENMX_PERM:
        raise ConventionError(f"openmx: l={l} orbitals (built through Comp2Real) have no verified table")
    return np.array(_OPENMX_PERM[l], dtype=np.int64), np.ones(2 * l + 1)


_SHELL_MAPS = {"abacus": _abacus_shell_map, "siesta": _siesta_shell_map, "openmx": _openmx_shell_map}


def shell_map(code: str, l: int) -> tuple[np.ndarray, np.ndarray]:
    """Map one shell of angular momentum ``l`` from ``code``'s order to the canonical one.

    Returns
    -------
    perm, sign : (2l+1,) int64, (2l+1,) float64
        ``canonical[p] = sign[p] * code_order[perm[p]]``.
    """
    try:
        builder = _SHELL_MAPS[code]
    except KeyError:
        raise ConventionError(f"no orbital convention known for code {code!r}; known: {KNOWN_CODES}") from None
    if not 0 <= l <= 4:
        raise ConventionError(f"{code}: angular momentum l={l} is outside the supported range 0..4")
    return builder(l)


def orbital_map(code: str, ls: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Map the orbitals of one atom (shells with angular momenta ``ls``, in the file's shell
    order) to the canonical order.

    Returns
    -------
    perm, sign : (n_orb,) int64, (n_orb,) float64
        ``canonical[p] = sign[p] * file_order[perm[p]]``.
    """
    perms, signs, start = [], [], 0
    for l in ls:
        perm, sign = shell_map(code, l)
        perms.append(perm + start)
        signs.append(sign)
        start += 2 * l + 1
    if not perms:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(perms), np.concatenate(signs)


def inverse_orbital_map(code: str, ls: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`orbital_map`: ``file_order[q] = sign[q] * canonical[perm[q]]``."""
    perm, sign = orbital_map(code, ls)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv, sign[inv]


def spinor_split(code: str, index: np.ndarray, n_orbitals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split a code's spinor-basis matrix index into (orbital index, spin index sigma).

    ABACUS (nspin 4) puts spin innermost: index = 2 * orbital + sigma (``hs_matrix.md``;
    checked on data: the up-down blocks of a z-collinear C atom are zero).
    OpenMX (non-collinear) puts all up orbitals first: index = sigma * n_orbitals + orbital
    (formats-openmx.md section 2); ``n_orbitals`` is then required.
    """
    index = np.asarray(index)
    if code == "abacus":
        return index // 2, index % 2
    if code == "openmx":
        if n_orbitals is None:
            raise ConventionError("openmx spinor indices need the number of orbitals")
        return index % n_orbitals, index // n_orbitals
    raise ConventionError(f"no spinor index layout known for code {code!r}")


def siesta_spinor_channels(components: np.ndarray) -> np.ndarray:
    """SIESTA spin components -> canonical spinor channels (uu, ud, du, dd).

    SIESTA stores, at row io (home cell) and column jo (image), the box B[a, b] of
    <jo, a| O |io, b> with c1..c_nspin (formats-siesta.md sections 2 and 6):
    nspin 4: B_uu = c1, B_dd = c2, B_ud = c3 - i c4, B_du = c3 + i c4;
    nspin 8: B_uu = c1 + i c5, B_dd = c2 + i c6, B_ud = c3 - i c4, B_du = c7 + i c8.
    The canonical block is O_{io jo}[s, s'] = <io, s| O |jo, s'> = conj(B[s', s]), so this
    returns (conj B_uu, conj B_du, conj B_ud, conj B_dd), to be placed at (row io, column jo).

    Parameters
    ----------
    components : (4 or 8, n) float64

    Returns
    -------
    (4, n) complex128
    """
    c = np.asarray(components, dtype=np.float64)
    if c.shape[0] == 4:
        b_uu, b_dd, b_ud, b_du = c[0] + 0j, c[1] + 0j, c[2] - 1j * c[3], c[2] + 1j * c[3]
    elif c.shape[0] == 8:
        b_uu, b_dd, b_ud, b_du = c[0] + 1j * c[4], c[1] + 1j * c[5], c[2] - 1j * c[3], c[6] + 1j * c[7]
    else:
        raise ConventionError(f"siesta: {c.shape[0]} spin components are not a spinor layout (4 or 8)")
    return np.conj(np.stack([b_uu, b_du, b_ud, b_dd]))
