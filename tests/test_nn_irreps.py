"""Canonical <-> e3nn change of basis and the block <-> irreps transform."""

import numpy as np
import pytest
import torch
from e3nn import o3

from slem_dft.data import Shell, SpeciesBasis
from slem_dft.errors import ConfigError
from slem_dft.harmonics import real_sph_harm, wigner_D_real
from slem_dft.nn.e3nn_basis import change_of_basis, irreps_D, matrix_to_angles, wigner_D
from slem_dft.nn.irreps import BlockIrreps, PaddedBasis, pair_irreps


def _rotations(n=4, seed=0):
    torch.manual_seed(seed)
    qs = list(o3.rand_matrix(n, dtype=torch.float64))
    return qs + [-q for q in qs]  # improper ones too


@pytest.mark.parametrize("l", range(9))
def test_change_of_basis_maps_e3nn_harmonics_to_canonical(l):
    u = change_of_basis(l).numpy()
    r = np.random.default_rng(l).normal(size=(50, 3))
    y_e3nn = o3.spherical_harmonics(l, torch.tensor(r), normalize=True, normalization="integral").numpy()
    assert np.abs(u @ u.T - np.eye(2 * l + 1)).max() < 1e-13
    assert np.abs(real_sph_harm(l, r) - y_e3nn @ u.T).max() < 1e-13


@pytest.mark.parametrize("l", range(9))
def test_wigner_matrices_agree_with_canonical_ones(l):
    u = change_of_basis(l)
    r = torch.tensor(np.random.default_rng(l).normal(size=(30, 3)))
    for q in _rotations(3, seed=l):
        d = irreps_D(o3.Irreps([(1, (l, (-1) ** l))]), q)
        assert torch.allclose(u @ d @ u.T, torch.tensor(wigner_D_real(l, q.numpy())), atol=1e-12, rtol=0)
        if torch.det(q) > 0:  # e3nn harmonics: Y(Q r) = D Y(r)
            y = o3.spherical_harmonics(l, r, normalize=True, normalization="integral")
            y_rot = o3.spherical_harmonics(l, r @ q.T, normalize=True, normalization="integral")
            assert torch.allclose(y_rot, y @ d.T, atol=1e-13, rtol=0)


def test_euler_angles_are_exact_near_the_poles():
    for q in _rotations(50)[:50] + [torch.eye(3, dtype=torch.float64), torch.diag(torch.tensor([-1.0, 1, -1]))]:
        q = q.to(torch.float64)
        a, b, g = matrix_to_angles(q)
        assert torch.allclose(o3.angles_to_matrix(a, b, g), q, atol=1e-14, rtol=0)
    a = torch.tensor(0.3, dtype=torch.float64)
    assert torch.allclose(wigner_D(2, a, a, a) @ wigner_D(2, a, a, a).T, torch.eye(5, dtype=torch.float64), atol=1e-14)


def test_pair_irreps_counts():
    assert str(pair_irreps(1, 1)) == "1x0e+1x1e+1x2e"
    assert pair_irreps(4, 4).lmax == 8 and pair_irreps(3, 4) == o3.Irreps("1x1o+1x2o+1x3o+1x4o+1x5o+1x6o+1x7o")
    si = BlockIrreps((0, 0, 1, 1, 2), symmetric=True)
    assert si.irreps_out.dim == 107  # slem-model.md 1.4 table: Si 2s2p1d
    assert str(si.irreps_out.sort().irreps.simplify()) == "7x0e+6x1o+4x1e+2x2o+6x2e+2x3o+1x3e+1x4e"


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("shell_ls", [(0, 1), (0, 0, 1, 1, 2), (0, 1, 2, 3, 4, 4)])
def test_round_trip_and_parseval(shell_ls, symmetric):
    m = BlockIrreps(shell_ls, symmetric)
    n = m.n_orb
    torch.manual_seed(0)
    blocks = torch.randn(4, n, n, dtype=torch.float64)
    if symmetric:
        blocks = blocks + blocks.transpose(-1, -2)
    feats = m.to_irreps(blocks)
    assert feats.shape == (4, m.irreps_out.dim)
    assert (m.to_blocks(feats) - blocks).abs().max() < 1e-12
    assert (m.to_irreps(m.to_blocks(feats)) - feats).abs().max() < 1e-12
    if not symmetric:  # orthogonal: ||B||_F = ||o||_2
        assert torch.allclose(feats.norm(dim=-1), blocks.flatten(1).norm(dim=-1), rtol=1e-13)


@pytest.mark.parametrize("symmetric", [False, True])
def test_transform_is_equivariant_up_to_g(symmetric):
    shell_ls = (0, 1, 2, 3, 4)
    m = BlockIrreps(shell_ls, symmetric)
    start = np.concatenate([[0], np.cumsum([2 * l + 1 for l in shell_ls])])
    torch.manual_seed(1)
    blocks = torch.randn(2, m.n_orb, m.n_orb, dtype=torch.float64)
    blocks = blocks + blocks.transpose(-1, -2)
    for q in _rotations(2):
        d = torch.zeros(m.n_orb, m.n_orb, dtype=torch.float64)
        for a, l in enumerate(shell_ls):
            d[start[a] : start[a + 1], start[a] : start[a + 1]] = torch.tensor(wigner_D_real(l, q.numpy()))
        rotated = m.to_irreps(d @ blocks @ d.T)
        expected = m.to_irreps(blocks) @ irreps_D(m.irreps_out, q).T
        assert (rotated - expected).abs().max() < 1e-11


def test_padded_basis_mixed_species():
    ga = SpeciesBasis.from_zeta_counts("Ga", "Ga", (2, 2, 2, 1))
    n = SpeciesBasis("N", "N", (Shell(1, 0), Shell(0, 0), Shell(0, 1), Shell(1, 1), Shell(2, 0)))  # code order
    pb = PaddedBasis.from_species([n, ga, n])
    assert pb.species == ("Ga", "N") and pb.shell_ls == (0, 0, 1, 1, 2, 2, 3) and pb.n_orb == 25
    assert pb.orbital_index[1].tolist() == [2, 3, 4, 0, 1, 5, 6, 7, 8, 9, 10, 11, 12]
    mask = pb.orbital_mask()
    assert mask[0].all() and mask[1].sum() == 13
    block = np.random.default_rng(0).normal(size=(3, 13, 25))
    padded = pb.pad(block, 1, 0)
    assert np.array_equal(pb.unpad(padded, 1, 0), block) and padded[:, ~mask[1]].sum() == 0
    edge = BlockIrreps(pb.shell_ls, symmetric=False)
    slot = edge.slot_mask(torch.as_tensor(mask[1]), torch.as_tensor(mask[0]))
    feats = edge.to_irreps(torch.as_tensor(padded))
    assert (feats[:, ~slot] == 0).all() and slot.sum() == 13 * 25  # exactly the valid slots
    assert edge.irreps_out.dim == 25 * 25
    with pytest.raises(ConfigError, match="two different bases"):
        PaddedBasis.from_species([n, SpeciesBasis.from_zeta_counts("N", "N", (1, 1))])
    with pytest.raises(ConfigError, match="not in the model"):
        pb.species_index(["Ga", "O"])
