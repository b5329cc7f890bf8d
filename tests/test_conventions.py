"""The canonical convention: ABACUS tables, real spherical harmonics, rotation matrices."""

import numpy as np
import pytest

from slem_dft.conventions import inverse_orbital_map, orbital_map, shell_map, spinor_split
from slem_dft.errors import ConventionError
from slem_dft.harmonics import real_sph_harm, wigner_D_real

# formats-abacus.md section 2, "Converting to the standard order": perm and sign per l.
ABACUS_TABLE = {
    0: ([0], [1]),
    1: ([2, 0, 1], [-1, 1, -1]),
    2: ([4, 2, 0, 1, 3], [1, -1, 1, -1, 1]),
    3: ([6, 4, 2, 0, 1, 3, 5], [-1, 1, -1, 1, -1, 1, -1]),
    4: ([8, 6, 4, 2, 0, 1, 3, 5, 7], [1, -1, 1, -1, 1, -1, 1, -1, 1]),
}


@pytest.mark.parametrize("l", range(5))
def test_abacus_table_matches_the_verified_document(l):
    perm, sign = shell_map("abacus", l)
    assert perm.tolist() == ABACUS_TABLE[l][0]
    assert sign.tolist() == ABACUS_TABLE[l][1]


def test_orbital_map_and_inverse_round_trip():
    ls = [0, 0, 1, 1, 2, 3]
    perm, sign = orbital_map("abacus", ls)
    inv, inv_sign = inverse_orbital_map("abacus", ls)
    x = np.random.normal(size=perm.size)
    canonical = sign * x[perm]
    assert np.array_equal(inv_sign * canonical[inv], x)


def test_spinor_split_puts_spin_innermost():
    orb, sigma = spinor_split("abacus", np.arange(6))
    assert orb.tolist() == [0, 0, 1, 1, 2, 2] and sigma.tolist() == [0, 1, 0, 1, 0, 1]


def test_unknown_code_and_l_are_errors():
    with pytest.raises(ConventionError):
        shell_map("vasp", 1)
    with pytest.raises(ConventionError):
        shell_map("abacus", 5)


# Cartesian forms of the standard real harmonics (Wikipedia "Table of spherical harmonics"),
# each up to a positive factor, m = -l..l.
def _cartesian(l, r):
    x, y, z = r.T
    forms = {
        1: [y, z, x],
        2: [x * y, y * z, 3 * z**2 - 1, x * z, x**2 - y**2],
        3: [
            y * (3 * x**2 - y**2),
            x * y * z,
            y * (5 * z**2 - 1),
            z * (5 * z**2 - 3),
            x * (5 * z**2 - 1),
            z * (x**2 - y**2),
            x * (x**2 - 3 * y**2),
        ],
    }
    return np.stack(forms[l], axis=-1)


@pytest.mark.parametrize("l", [1, 2, 3])
def test_real_harmonics_are_the_standard_table_with_positive_factors(l):
    r = np.random.normal(size=(50, 3))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    y, f = real_sph_harm(l, r), _cartesian(l, r)
    ratio = y / f
    assert np.all(ratio > 0)
    assert np.allclose(ratio, ratio[0], rtol=1e-10)


@pytest.mark.parametrize("l", range(5))
def test_real_harmonics_are_orthonormal(l):
    # Gauss-Legendre in cos(theta) x uniform phi integrates these polynomials exactly.
    ct, wt = np.polynomial.legendre.leggauss(2 * l + 2)
    phi = np.arange(4 * l + 4) * 2 * np.pi / (4 * l + 4)
    C, P = np.meshgrid(ct, phi, indexing="ij")
    st = np.sqrt(1 - C**2)
    xyz = np.stack([st * np.cos(P), st * np.sin(P), C], axis=-1).reshape(-1, 3)
    w = (wt[:, None] * np.full(P.shape[1], 2 * np.pi / P.shape[1])).reshape(-1)
    y = real_sph_harm(l, xyz)
    assert np.allclose((y * w[:, None]).T @ y, np.eye(2 * l + 1), atol=1e-12)


def _random_rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


@pytest.mark.parametrize("l", range(5))
def test_wigner_D_is_a_real_orthogonal_representation(l):
    q1, q2 = _random_rotation(1), _random_rotation(2)
    d1, d2 = wigner_D_real(l, q1), wigner_D_real(l, q2)
    assert np.allclose(d1 @ d1.T, np.eye(2 * l + 1), atol=1e-12)
    assert np.allclose(wigner_D_real(l, q1 @ q2), d1 @ d2, atol=1e-12)
    assert np.allclose(wigner_D_real(l, -np.eye(3)), (-1) ** l * np.eye(2 * l + 1), atol=1e-12)
    r = np.random.normal(size=(7, 3))
    assert np.allclose(real_sph_harm(l, r @ q1.T), real_sph_harm(l, r) @ d1.T, atol=1e-12)


def test_siesta_and_openmx_tables_match_the_documents():
    # formats-siesta.md 9: identity order, (-1)^m; dftio SIESTA2DFTIO negates l=1 [0,2], l=2 [1,3]
    for l, negated in ((1, [0, 2]), (2, [1, 3]), (3, [0, 2, 4, 6]), (4, [1, 3, 5, 7])):
        perm, sign = shell_map("siesta", l)
        assert perm.tolist() == list(range(2 * l + 1))
        assert np.flatnonzero(sign < 0).tolist() == negated
    # formats-openmx.md 3: new[k] = old[p[k]], no signs
    for l, p in ((1, [1, 2, 0]), (2, [2, 4, 0, 3, 1]), (3, [6, 4, 2, 0, 1, 3, 5])):
        perm, sign = shell_map("openmx", l)
        assert perm.tolist() == p and np.all(sign == 1)
    with pytest.raises(ConventionError):
        shell_map("openmx", 4)


def test_openmx_spinor_index_has_all_up_orbitals_first():
    orb, sigma = spinor_split("openmx", np.arange(6), n_orbitals=3)
    assert orb.tolist() == [0, 1, 2, 0, 1, 2] and sigma.tolist() == [0, 0, 0, 1, 1, 1]


def test_siesta_spinor_channels_give_a_hermitian_box():
    from slem_dft.conventions import siesta_spinor_channels

    c = np.random.normal(size=(8, 1))
    uu, ud, du, dd = siesta_spinor_channels(c)[:, 0]
    # canonical O[s, s'] = conj(B[s', s]) with B_ud = c3 - i c4, B_du = c7 + i c8
    assert ud == pytest.approx(c[6, 0] - 1j * c[7, 0]) and du == pytest.approx(c[2, 0] + 1j * c[3, 0])
    assert uu == pytest.approx(c[0, 0] - 1j * c[4, 0]) and dd == pytest.approx(c[1, 0] - 1j * c[5, 0])
    nc = siesta_spinor_channels(c[:4])[:, 0]
    assert nc[1] == pytest.approx(np.conj(nc[2]))
