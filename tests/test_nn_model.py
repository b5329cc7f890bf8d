"""Symmetry, locality, hermiticity and smoothness of the SLEM model, on random structures
with a synthetic basis up to g (two species with different bases)."""

import ase
import numpy as np
import pytest
import torch
from e3nn import o3

from slem_dft.data import SpeciesBasis
from slem_dft.errors import ConfigError
from slem_dft.harmonics import wigner_D_real
from slem_dft.nn.blocks import _copy_index, scalar_indices
from slem_dft.nn.e3nn_basis import irreps_D
from slem_dft.nn.graph import build_graph, collate
from slem_dft.nn.irreps import PaddedBasis
from slem_dft.nn.model import SLEM
from slem_dft.nn.so2 import EdgeFrame, SO2Linear

torch.set_num_threads(1)  # tiny tensors: thread start-up dominates on a shared 2-core machine

RADII = np.array([3.2, 2.6])
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _basis(gmax=True):
    a = SpeciesBasis.from_zeta_counts("A", "C", (1, 1, 1, 1, 1) if gmax else (1, 1, 1))
    b = SpeciesBasis.from_zeta_counts("B", "O", (2, 1))
    return PaddedBasis.from_species([a, b])


def _model(dtype, basis=None, n_layers=2, operators=None):
    torch.manual_seed(0)
    basis = basis or _basis()
    model = SLEM(
        basis,
        RADII,
        operators or {"H": 2, "S": 1},
        channels=2,
        n_layers=n_layers,
        latent_dim=8,
        radial_channels=8,
        n_radial=4,
        env_multiplicity=2,
    )
    with torch.no_grad():  # non-trivial statistics (one scale per irrep copy), so the scale-shift is exercised
        for head in model.heads.values():
            for ss, block in ((head.node_scale, head.node_irreps), (head.edge_scale, head.edge_irreps)):
                copy = _copy_index(block.irreps_out)
                ss.scale.copy_(torch.rand(ss.scale.shape[:-1] + (int(copy.max()) + 1,))[..., copy] + 0.5)
                ss.shift.copy_(
                    torch.randn(ss.shift.shape) * torch.isin(torch.arange(len(copy)), scalar_indices(block.irreps_out))
                )
    return model.to(dtype)


def _structure(seed=0, n=6):
    rng = np.random.default_rng(seed)
    cell = np.diag([4.5, 4.8, 5.1]) + rng.normal(0, 0.3, (3, 3))
    atoms = ase.Atoms(numbers=[6] * (n - 2) + [8] * 2, scaled_positions=rng.uniform(0, 1, (n, 3)), cell=cell, pbc=True)
    return atoms, np.array([0] * (n - 2) + [1] * 2)


def _blocks(model, atoms, species, dtype):
    """{(i, j, R): (channels, N, N) float64} for onsite and both directions of every hopping block."""
    graph = build_graph(atoms, species, RADII)
    out = model(collate([graph], dtype))
    src, dst, shift = graph["edge_src"], graph["edge_dst"], graph["edge_shift"]
    result = {}
    for op, (onsite, hopping) in out.items():
        blocks = {(i, i, 0, 0, 0): onsite[i].detach().double().numpy() for i in range(len(atoms))}
        for k, e in enumerate(graph["half"]):
            b = hopping[k].detach().double().numpy()
            blocks[(src[e], dst[e], *shift[e])] = b
            blocks[(dst[e], src[e], *(-shift[e]))] = b.transpose(0, 2, 1)
        result[op] = blocks
    return result


def _padded_D(basis, q):
    n = basis.n_orb
    d, start = np.zeros((n, n)), 0
    for l in basis.shell_ls:
        d[start : start + 2 * l + 1, start : start + 2 * l + 1] = wigner_D_real(l, q)
        start += 2 * l + 1
    return d


def _max_dev(a, b):
    assert a.keys() == b.keys()
    scale = max(np.abs(v).max() for v in a.values())
    return max(np.abs(a[k] - b[k]).max() for k in a) / scale


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rotation_inversion_translation_permutation(dtype):
    model, basis = _model(dtype), _basis()
    atoms, species = _structure()
    ref = _blocks(model, atoms, species, dtype)
    assert len(ref["H"]) > 2 * len(atoms)
    torch.manual_seed(1)
    for q in [o3.rand_matrix(dtype=torch.float64).numpy(), -o3.rand_matrix(dtype=torch.float64).numpy(), -np.eye(3)]:
        moved = atoms.copy()
        moved.set_cell(atoms.cell.array @ q.T, scale_atoms=True)  # rotates positions too
        d = _padded_D(basis, q)
        got = _blocks(model, moved, species, dtype)
        for op in ref:
            expected = {k: d @ v @ d.T for k, v in ref[op].items()}
            assert _max_dev(got[op], expected) < TOL[dtype], (op, np.linalg.det(q))
    shifted = atoms.copy()
    shifted.positions += np.array([0.3, -1.1, 2.0])
    for op, blocks in _blocks(model, shifted, species, dtype).items():
        assert _max_dev(blocks, ref[op]) < TOL[dtype]
    perm = np.random.default_rng(2).permutation(len(atoms))
    got = _blocks(model, atoms[perm], species[perm], dtype)
    for op in ref:
        relabelled = {(int(perm[i]), int(perm[j]), *r): v for (i, j, *r), v in got[op].items()}
        assert _max_dev(relabelled, ref[op]) < TOL[dtype]


def test_float32_and_float64_agree():
    atoms, species = _structure(3)
    a = _blocks(_model(torch.float32), atoms, species, torch.float32)["H"]
    b = _blocks(_model(torch.float64), atoms, species, torch.float64)["H"]
    assert _max_dev(a, b) < 1e-4


def test_so2_parity_rule_is_what_gives_inversion_equivariance():
    torch.manual_seed(0)
    ir_in = o3.Irreps("2x0e+1x1o+1x1e+1x2e+1x2o+1x3o")
    ir_out = o3.Irreps("1x0e+1x1o+1x1e+1x2e+1x2o+1x3e")
    x = torch.randn(7, ir_in.dim, dtype=torch.float64)
    r = torch.randn(7, 3, dtype=torch.float64)
    for parity in (True, False):
        lin = SO2Linear(ir_in, ir_out, parity).double()
        for p in lin.parameters():
            p.data.normal_()
        scales = torch.randn(7, lin.n_scales, dtype=torch.float64)

        def f(x, r):
            frame = EdgeFrame(r, 3)
            return frame.from_frame(lin(frame.to_frame(x, ir_in), scales), ir_out)  # noqa: B023 (called in this iteration)

        errors = []
        for q in (o3.rand_matrix(dtype=torch.float64), -o3.rand_matrix(dtype=torch.float64)):
            y = f(x @ irreps_D(ir_in, q).T, r @ q.T)
            errors.append((y - f(x, r) @ irreps_D(ir_out, q).T).abs().max().item())
        assert errors[0] < 1e-12  # rotations: always
        assert (errors[1] < 1e-12) == parity  # inversion: only with the selection rule


@pytest.mark.parametrize("n_layers", [1, 4])
def test_strict_locality(n_layers):
    dtype = torch.float64
    basis = _basis(gmax=False)
    model = _model(dtype, basis, n_layers=n_layers, operators={"H": 1})
    # 0 and 1 bonded, 2 a neighbour of both, 3 a neighbour of 2 only (r_c = 3.2 A): in a
    # message-passing network 3 would reach 0 and 1 through 2 from the second layer on
    atoms = ase.Atoms(
        "C4", positions=[[5, 5, 5], [6.4, 5.2, 5.1], [5.5, 7.5, 5.0], [5.5, 10.3, 5.0]], cell=np.eye(3) * 14, pbc=True
    )
    species = np.zeros(4, dtype=np.int64)
    ref = _blocks(model, atoms, species, dtype)["H"]
    far = atoms.copy()
    far.positions[3] = [6.0, 10.4, 5.3]  # moved within the sphere of 2, outside those of 0 and 1
    got = _blocks(model, far, species, dtype)["H"]
    assert np.array_equal(got[(0, 0, 0, 0, 0)], ref[(0, 0, 0, 0, 0)])
    assert np.array_equal(got[(0, 1, 0, 0, 0)], ref[(0, 1, 0, 0, 0)])
    assert not np.allclose(got[(2, 2, 0, 0, 0)], ref[(2, 2, 0, 0, 0)], atol=1e-12, rtol=0)  # the move is seen
    near = atoms.copy()
    near.positions[3] = [8.6, 6.0, 5.0]  # inside the sphere of 1 (2.34 A), outside that of 0 (3.74 A)
    got = _blocks(model, near, species, dtype)["H"]
    assert np.array_equal(got[(0, 0, 0, 0, 0)], ref[(0, 0, 0, 0, 0)])  # onsite 0: unchanged
    assert not np.allclose(got[(0, 1, 0, 0, 0)], ref[(0, 1, 0, 0, 0)], atol=1e-12, rtol=0)  # hopping 0-1: changed


def test_hopping_blocks_vanish_smoothly_at_the_cutoff():
    dtype = torch.float64
    model = _model(dtype, _basis(gmax=False), operators={"H": 1, "S": 1})
    cutoff = RADII[0]
    norms = {"H": [], "S": []}
    distances = cutoff - np.array([0.2, 0.1, 0.05, 0.02, 0.01, 0.001])
    for d in distances:
        atoms = ase.Atoms("C2", positions=[[5, 5, 5], [5 + d * 0.6, 5 + d * 0.8, 5]], cell=np.eye(3) * 20, pbc=True)
        blocks = _blocks(model, atoms, np.zeros(2, dtype=np.int64), dtype)
        for op in norms:
            norms[op].append(np.abs(blocks[op][(0, 1, 0, 0, 0)]).max())
    for op, values in norms.items():
        assert values[0] > 1e-3, op
        assert all(b < a for a, b in zip(values, values[1:])), op  # decreasing towards the cutoff
        assert values[-1] < 1e-12 * values[0] * 1e6, op  # ~ (1 - s)^3 at 0.001 / 3.2


def test_predicted_H_of_k_is_hermitian():
    from slem_dft.kspace import bloch_sum
    from slem_dft.nn.dataset import blocks_to_operator

    model, basis = _model(torch.float64, _basis(gmax=False)), _basis(gmax=False)
    atoms, species = _structure(5)
    graph = build_graph(atoms, species, RADII)
    out = model(collate([graph], torch.float64))
    op = blocks_to_operator(basis, graph, *[t.detach().numpy() for t in out["H"]])
    counts = np.array([len(basis.orbital_index[s]) for s in species])
    for k in np.random.default_rng(0).uniform(-0.5, 0.5, (3, 3)):
        hk = bloch_sum(op, counts, k).toarray()
        assert np.abs(hk - hk.conj().T).max() < 1e-12
    assert op.hermiticity_deviation() == 0.0


def test_unreachable_output_degree_is_a_config_error():
    with pytest.raises(ConfigError, match="lmax=4 cannot produce"):
        SLEM(_basis(), RADII, {"H": 1}, lmax=4)
