"""Real spherical harmonics in the canonical convention, and their rotation matrices.

This module *defines* the canonical angular convention of slem-dft (see
:mod:`slem_dft.conventions`): standard real spherical harmonics as tabulated on Wikipedia
("Table of spherical harmonics", real forms), m = -l..l, e.g. for l = 1 the order (y, z, x).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import sph_harm_y

__all__ = ["real_sph_harm", "wigner_D_real"]


def real_sph_harm(l: int, xyz: np.ndarray) -> np.ndarray:
    """Real spherical harmonics Y_{l,m}(r/|r|), m = -l..l, orthonormal on the sphere.

    Parameters
    ----------
    l
        Angular momentum, >= 0.
    xyz
        (..., 3) Cartesian directions (need not be normalised; must be non-zero).

    Returns
    -------
    (..., 2l+1) float64
        Y_{l,m>0} = sqrt(2) (-1)^m Re Y_l^m, Y_{l,m<0} = sqrt(2) (-1)^m Im Y_l^{|m|},
        Y_{l,0} = Y_l^0, with the complex Y_l^m carrying the Condon-Shortley phase.
        For l = 1 this gives sqrt(3/4pi) * (y, z, x) / r.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    r = np.linalg.norm(xyz, axis=-1)
    theta = np.arccos(np.clip(xyz[..., 2] / r, -1.0, 1.0))
    phi = np.arctan2(xyz[..., 1], xyz[..., 0])
    out = np.empty(xyz.shape[:-1] + (2 * l + 1,))
    for m in range(-l, l + 1):
        y = sph_harm_y(l, abs(m), theta, phi)
        if m == 0:
            out[..., l] = y.real
        elif m > 0:
            out[..., l + m] = np.sqrt(2.0) * (-1) ** m * y.real
        else:
            out[..., l + m] = np.sqrt(2.0) * (-1) ** m * y.imag
    return out


@functools.lru_cache(maxsize=8)
def _sample_directions(l: int) -> np.ndarray:
    rng = np.random.default_rng(12345 + l)
    return rng.normal(size=(8 * l + 16, 3))


def wigner_D_real(l: int, rotation: np.ndarray) -> np.ndarray:
    """Rotation matrix of the canonical real harmonics under an orthogonal 3x3 matrix.

    Returns D (2l+1, 2l+1) with Y_l(Q r) = D Y_l(r) for every r; D is orthogonal and
    D(-I) = (-1)^l I. An operator block between shells l1 and l2 of atoms a, a' transforms
    under a symmetry operation g as O_{g(a) g(a')} = D^{l1}(Q) O_{a a'} D^{l2}(Q)^T.
    Built by least squares on sampled directions (exact to rounding).
    """
    q = np.asarray(rotation, dtype=np.float64)
    if q.shape != (3, 3) or not np.allclose(q @ q.T, np.eye(3), atol=1e-8):
        raise ValueError("rotation must be an orthogonal 3x3 matrix")
    u = _sample_directions(l)
    a = real_sph_harm(l, u)
    b = real_sph_harm(l, u @ q.T)
    dt, *_ = np.linalg.lstsq(a, b, rcond=None)
    return dt.T
