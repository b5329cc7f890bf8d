"""The one place that knows orbital orders, signs and spin layouts of the DFT codes.

Canonical convention (``CONVENTION_ID``), used everywhere inside slem-dft:

* Within an atom, shells come in the order of the species' :class:`~slem_dft.data.SpeciesBasis`
  (the DFT code's own shell order); within a shell, real spherical harmonics with
  m = -l, ..., +l in the standard (Wikipedia table) sign convention, i.e. with the
  Condon-Shortley phase folded in so that p_{-1}, p_0, p_{+1} = y, z, x
  (see :func:`slem_dft.harmonics.real_sph_harm`, the definition in code).
* For spinor (nspin 4) operators, the spin index is innermost: global index = 2 * orbital + sigma,
  sigma = 0 (up) or 1 (down).

Every table is written once, with both directions beside each other (as sisl's ``_help.py``
keeps ``_mat_siesta2sisl`` beside ``_mat_sisl2siesta``): readers go code -> canonical, writers
canonical -> code.

* Orbitals: :func:`orbital_map` / :func:`inverse_orbital_map`, and per orbital of a whole
  structure :func:`orbital_table`.
* Spinor index layouts: :func:`spinor_split`.
* SIESTA spin components: :func:`siesta_spinor_channels` / :func:`siesta_spin_components`.
* SIESTA supercell images: :func:`siesta_image_offsets` (image -> R) / :func:`siesta_image_index`
  (R -> image).
* OpenMX's per-spin density matrix: :data:`OPENMX_DM_PER_SPIN` (readers divide, writers multiply).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ConventionError

__all__ = [
    "CONVENTION_ID",
    "KNOWN_CODES",
    "OPENMX_DM_PER_SPIN",
    "inverse_orbital_map",
    "orbital_map",
    "orbital_table",
    "shell_map",
    "siesta_image_index",
    "siesta_image_offsets",
    "siesta_spin_components",
    "siesta_spinor_channels",
    "spinor_split",
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


def orbital_table(code: str, atom_ls: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per orbital of a code's matrix (atoms in order, each in the code's orbital order, shells
    with angular momenta ``atom_ls[a]``): its atom, its canonical index within the atom and the
    sign between the two conventions (:func:`inverse_orbital_map` atom by atom).

    Returns
    -------
    atom, local, sign : (n_orbitals,) int64, int64, float64
        ``file_order[q] = sign[q] * canonical[local[q]]`` of atom ``atom[q]``, and back.
    """
    maps = [inverse_orbital_map(code, ls) for ls in atom_ls]
    counts = [perm.size for perm, _ in maps]
    atom = np.repeat(np.arange(len(maps), dtype=np.int64), counts)
    if not maps:
        return atom, np.zeros(0, dtype=np.int64), np.zeros(0)
    return atom, np.concatenate([perm for perm, _ in maps]), np.concatenate([sign for _, sign in maps])


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


def siesta_spin_components(channels: np.ndarray, n_components: int) -> np.ndarray:
    """Canonical spinor channels (uu, ud, du, dd) at (io, juo, R) -> SIESTA's spin components,
    the inverse of :func:`siesta_spinor_channels`.

    The spin box SIESTA stores is B = (conj c_uu, conj c_du; conj c_ud, conj c_dd) in rows
    (uu, ud / du, dd). Four components (non-collinear) hold only hermitian boxes (B_uu, B_dd
    real and B_du = conj B_ud); eight (spin-orbit) hold any.

    Parameters
    ----------
    channels : (4, n) complex128
    n_components : 4 or 8

    Returns
    -------
    (4 or 8, n) float64
    """
    b_uu, b_ud, b_du, b_dd = np.conj(channels[0]), np.conj(channels[2]), np.conj(channels[1]), np.conj(channels[3])
    if n_components == 4:
        out = np.stack([b_uu.real, b_dd.real, b_ud.real, -b_ud.imag])
    elif n_components == 8:
        out = np.stack([b_uu.real, b_dd.real, b_ud.real, -b_ud.imag, b_uu.imag, b_dd.imag, b_du.real, b_du.imag])
    else:
        raise ConventionError(f"siesta: {n_components} spin components are not a spinor layout (4 or 8)")
    return out + 0.0  # -0.0 (from conjugating zeros) -> +0.0, as SIESTA writes them


def siesta_image_offsets(nsc) -> np.ndarray:
    """(n_s, 3) int64 lattice offset R of each SIESTA supercell image, in SIESTA's order: x
    fastest, each axis 0, 1, ..., n//2, -(n//2), ..., -1 (``_siesta_sc_off`` in sisl; SIESTA's
    supercells have odd nsc; formats-siesta.md section 3). Inverse: :func:`siesta_image_index`."""
    axes = [np.array([i if i <= n // 2 else i - n for i in range(n)], dtype=np.int64) for n in map(int, nsc)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return np.column_stack([x.ravel(), y.ravel(), z.ravel()])


def siesta_image_index(R: np.ndarray, nsc) -> np.ndarray:
    """(n,) int64 SIESTA image index of lattice offsets R (n, 3) in a supercell ``nsc``: the
    inverse of :func:`siesta_image_offsets`."""
    nsc = np.asarray(nsc, dtype=np.int64)
    idx = np.where(R >= 0, R, R + nsc)
    return idx[:, 0] + nsc[0] * (idx[:, 1] + nsc[1] * idx[:, 2])


#: record nspin -> OpenMX's stored density matrix per canonical one: an unpolarised OpenMX run
#: (SpinP_switch 0) stores the DM of one spin, half the total slem-dft keeps; collinear
#: channels (SpinP_switch 1) are stored as they are (formats-openmx.md sections 2 and 6).
#: Readers divide by it, writers multiply.
OPENMX_DM_PER_SPIN = {1: 0.5, 2: 1.0}
