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
use the same tables backwards (:func:`inverse_orbital_map`).
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
]

#: Identifier written into every store; bump when the canonical convention changes.
CONVENTION_ID = "canonical-1"

KNOWN_CODES = ("abacus",)


def _abacus_shell_map(l: int) -> tuple[np.ndarray, np.ndarray]:
    """ABACUS orders a shell m = 0, +1, -1, +2, -2, ... and its functions differ from the
    standard real harmonics by (-1)^m (``ylm.cpp``; formats-abacus.md section 2)."""
    perm = np.empty(2 * l + 1, dtype=np.int64)
    sign = np.empty(2 * l + 1, dtype=np.float64)
    for p, m in enumerate(range(-l, l + 1)):
        perm[p] = 0 if m == 0 else (2 * m - 1 if m > 0 else -2 * m)
        sign[p] = -1.0 if m % 2 else 1.0
    return perm, sign


_SHELL_MAPS = {"abacus": _abacus_shell_map}


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


def spinor_split(code: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a code's spinor-basis index into (orbital index, spin index sigma).

    ABACUS (nspin 4) puts spin innermost: index = 2 * orbital + sigma (``hs_matrix.md``;
    checked on data: the up-down blocks of a z-collinear C atom are zero).
    """
    if code != "abacus":
        raise ConventionError(f"no spinor layout known for code {code!r}")
    index = np.asarray(index)
    return index // 2, index % 2
