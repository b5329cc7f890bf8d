"""The change of basis between slem-dft's canonical real harmonics and e3nn's, and Wigner
matrices in e3nn's basis that are exact in float64.

Canonical harmonics (:func:`slem_dft.harmonics.real_sph_harm`) and e3nn's
(:func:`e3nn.o3.spherical_harmonics`) span the same space for each l; they differ by a rotation
of the coordinates: e3nn's functions equal Wikipedia's real harmonics when evaluated at the
permuted vector (y, z, x) = P r. With e3nn's own equivariance Y_e3nn(P r) = D_e3nn(P) Y_e3nn(r),
so

    Y_canonical(r) = U_l Y_e3nn(r),      U_l = D^l_e3nn(P)   (orthogonal, (2l+1, 2l+1)),

and a block between shells l1, l2 maps as B_e3nn = U_{l1}^T B_canonical U_{l2}. Rotation
matrices map as wigner_D_real(l, Q) = U_l D^l_e3nn(Q) U_l^T. The model works in e3nn's basis
with unpermuted Cartesian coordinates; only block conversion uses U.
"""

from __future__ import annotations

import functools
import math

import torch
from e3nn import o3

__all__ = [
    "PERMUTATION",
    "so3_generators",
    "wigner_D",
    "irreps_D",
    "change_of_basis",
    "edge_frame_angles",
    "matrix_to_angles",
]

#: The rotation P with P (x, y, z) = (y, z, x) (a cyclic permutation, det +1).
PERMUTATION = ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0))


@functools.cache
def _generators64(l: int) -> torch.Tensor:
    """(3, 2l+1, 2l+1) float64 real so(3) generators of e3nn's basis.

    The complex generators (ladder operators, J_z = i m) are written here in float64, since
    e3nn's helper takes square roots of integer tensors in the default dtype (float32), which
    limits its Wigner matrices to ~1e-8; e3nn's real <-> complex map then makes them real."""
    m = torch.arange(-l, l + 1, dtype=torch.float64)
    raising = torch.diag(-torch.sqrt(l * (l + 1) - m[:-1] * (m[:-1] + 1)), diagonal=-1).to(torch.complex128)
    lowering = torch.diag(torch.sqrt(l * (l + 1) - m[1:] * (m[1:] - 1)), diagonal=1).to(torch.complex128)
    x = torch.stack([0.5 * (raising + lowering), torch.diag(1j * m), -0.5j * (raising - lowering)])
    q = o3._wigner.change_basis_real_to_complex(l, dtype=torch.float64)
    return torch.real(torch.conj(q.T) @ x @ q).contiguous()


def so3_generators(l: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """(3, 2l+1, 2l+1) generators (X_x, X_y, X_z) of e3nn's real basis, in ``dtype``."""
    return _generators64(l).to(dtype=dtype, device=device)


@functools.cache
def _quarter_turn64(l: int) -> torch.Tensor:
    """D^l(Rz(pi/2)), which maps rotations about x onto rotations about y."""
    return torch.matrix_exp(0.5 * math.pi * _generators64(l)[2])


def _y_rotation(l: int, angle: torch.Tensor) -> torch.Tensor:
    """D^l(Ry(angle)) = exp(angle X_y) in closed form: X_y couples components l+m and l-m
    with X_y^2 = -diag(m^2), so exp(a X_y) = cos(a |m|) + X_y sin(a |m|) / |m|."""
    x = so3_generators(l, angle.dtype, angle.device)[1]
    m = torch.arange(-l, l + 1, dtype=angle.dtype, device=angle.device).abs()
    a = angle[..., None] * m
    sinc = torch.where(m > 0, torch.sin(a) / m.clamp(min=1), torch.zeros_like(a))
    return torch.diag_embed(torch.cos(a)) + x * sinc[..., None, :]


def wigner_D(l: int, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor | None = None) -> torch.Tensor:
    """Wigner matrices of e3nn's real basis, D(Ry(alpha) Rx(beta) Ry(gamma)).

    Parameters
    ----------
    l
        Degree.
    alpha, beta, gamma
        (...) Euler angles (radians) in e3nn's convention; ``gamma=None`` means 0.

    Returns
    -------
    (..., 2l+1, 2l+1) tensor in the dtype of ``alpha``, with
    ``o3.spherical_harmonics(l, r @ Q.T) = D @ o3.spherical_harmonics(l, r)``.
    Rx(beta) = Rz(pi/2)^T Ry(beta) Rz(pi/2), so only closed-form y rotations are needed.
    """
    f = _quarter_turn64(l).to(dtype=alpha.dtype, device=alpha.device)
    d = _y_rotation(l, alpha) @ f.T @ _y_rotation(l, beta) @ f
    if gamma is not None:
        d = d @ _y_rotation(l, gamma)
    return d


@functools.cache
def _change_of_basis64(l: int) -> torch.Tensor:
    p = torch.tensor(PERMUTATION, dtype=torch.float64)
    alpha, beta, gamma = matrix_to_angles(p)
    return wigner_D(l, alpha, beta, gamma).contiguous()


def change_of_basis(l: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """U_l (2l+1, 2l+1), orthogonal, with Y_canonical(r) = U_l Y_e3nn(r) (both orthonormal on
    the sphere, i.e. e3nn's ``normalization="integral"``)."""
    return _change_of_basis64(l).to(dtype=dtype, device=device)


def edge_frame_angles(vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles (alpha, beta), each (...), of the rotation R = Ry(alpha) Rx(beta) that takes e3nn's
    polar axis e_y onto each of the (..., 3) ``vectors`` (non-zero).

    In the frame rotated by R^T the vector lies along e_y, where Y_l is non-zero only at
    m = 0 (the middle component of e3nn's order). beta uses atan2, not acos, so it keeps full
    precision near the poles."""
    x, y, z = vectors.unbind(-1)
    beta = torch.atan2(torch.sqrt(x * x + z * z), y)
    alpha = torch.atan2(x, z)
    return alpha, beta


def matrix_to_angles(rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """e3nn Euler angles (alpha, beta, gamma) of a proper (..., 3, 3) rotation, full precision."""
    alpha, beta = edge_frame_angles(rotation[..., :, 1])
    r0 = o3.angles_to_matrix(alpha, beta, torch.zeros_like(alpha))
    rest = r0.transpose(-1, -2) @ rotation  # a rotation about y by gamma
    gamma = torch.atan2(rest[..., 0, 2], rest[..., 0, 0])
    return alpha, beta, gamma


def irreps_D(irreps: o3.Irreps, rotation: torch.Tensor) -> torch.Tensor:
    """Block-diagonal representation matrix (dim, dim) of an orthogonal 3x3 ``rotation``
    (proper or improper) on ``irreps``: f -> D f, exact in float64 (cf. ``Irreps.D_from_matrix``,
    whose generators are float32)."""
    det = torch.sign(torch.det(rotation))  # exactly +-1
    proper = rotation * det
    alpha, beta, gamma = matrix_to_angles(proper)
    blocks = []
    for mul, ir in o3.Irreps(irreps):
        d = wigner_D(ir.l, alpha, beta, gamma) * (det if ir.p == -1 else 1.0)
        blocks += [d] * mul
    return torch.block_diag(*blocks)
