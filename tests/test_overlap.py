"""Exact two-centre overlaps from the .orb radial functions: they reproduce ABACUS's own S
and, being computed in the canonical convention, pin the d and f signs of the ABACUS table on
data (which symmetry operations cannot; docs/conventions.md)."""

import numpy as np
import pytest
import scipy.linalg

from slem_dft.checks import trace_dm_s
from slem_dft.data import BlockMatrix
from slem_dft.harmonics import wigner_D_real
from slem_dft.overlap import RadialFunction, TwoCenterOverlap, overlap_blocks, real_gaunt
from slem_dft.parsers.abacus import read_radial_basis, read_run


def _max_dev(reference: BlockMatrix, exact: BlockMatrix) -> float:
    dev = 0.0
    for e, (i, j, *R) in enumerate(reference.edges.tolist()):
        f = exact.find(i, j, R)
        other = exact.block(f) if f is not None else 0.0
        dev = max(dev, float(np.abs(reference.block(e) - other).max()))
    return dev


def _exact(record):
    return overlap_blocks(record, TwoCenterOverlap(read_radial_basis(record)))


@pytest.mark.parametrize("run", ["si2_sz_nspin1_new", "h2o_nspin1_new_hsr_tr_rr", "si8_dzp/frame_000"])
def test_exact_overlap_reproduces_abacus(bundled, run):
    record = read_run(bundled / "abacus" / run)
    exact = _exact(record)
    assert _max_dev(record.operators["S"], exact) < 1e-6  # measured 2e-8 (si8, d shells), 3e-9 (H2O)
    # no block ABACUS left out is non-zero here
    assert all(
        record.operators["S"].find(i, j, R) is not None or np.abs(exact.block(e)).max() < 1e-6
        for e, (i, j, *R) in enumerate(exact.edges.tolist())
    )


def test_exact_overlap_of_the_old_layout_2s2p1d_run(shared):
    record = read_run(shared / "abacus/si2_dzp_nspin1_old")
    assert _max_dev(record.operators["S"], _exact(record)) < 1e-6


def _flip(op: BlockMatrix, slots) -> BlockMatrix:
    values = op.values.copy()
    for e in range(op.n_edges):
        block = values[:, op.offsets[e] : op.offsets[e + 1]].reshape(-1, *op.shapes[e])
        block[:, slots, :] *= -1
        block[:, :, slots] *= -1
    return BlockMatrix(op.edges, op.shapes, values, op.spin)


def test_d_signs_are_pinned_by_the_exact_overlap(bundled):
    """Flipping all t2g functions (xy, yz, xz) passes every cubic symmetry check but not this."""
    record = read_run(bundled / "abacus/si8_dzp/frame_000")
    t2g = [8, 9, 11]  # Si 2s2p1d: s s, p p (2..7), d (8..12: xy, yz, z2, xz, x2-y2)
    assert _max_dev(_flip(record.operators["S"], t2g), _exact(record)) > 1e-2


@pytest.mark.parametrize(
    "run, electrons", [("si2_sz_init_dm_new", 8), ("gaas_init_dm_new", 28), ("ce_fcc_f_dmr_old", 12)]
)
def test_dm_without_overlap_counts_its_electrons(shared, run, electrons):
    """Si dojo 4 e/atom; Ga 13 + As 15; Ce 12 (4s2p2d2f basis: the f shells count)."""
    record = read_run(shared / "abacus" / run)
    assert abs(trace_dm_s(record.operators["DM"], _exact(record)) - electrons) < 1e-5  # measured <= 5e-7


def test_f_signs_are_pinned_by_the_ce_density_matrix(shared):
    """Negating any single f orbital of the Ce DM moves Tr(DM S) away from 12 by > 4e-3."""
    record = read_run(shared / "abacus/ce_fcc_f_dmr_old")
    exact, dm = _exact(record), record.operators["DM"]
    assert abs(trace_dm_s(dm, exact) - 12) < 1e-6
    for slot in range(20, 34):  # Ce 4s2p2d2f: 4 + 6 + 10 = 20 orbitals before the f shells
        assert abs(trace_dm_s(_flip(dm, [slot]), exact) - 12) > 4e-3, slot


def test_real_gaunt_coefficients():
    assert real_gaunt(0, 0, 0)[0, 0, 0] == pytest.approx(1 / np.sqrt(4 * np.pi))
    # int Y_l Y_l Y_00 = delta / sqrt(4 pi)
    for l in range(5):
        assert np.allclose(real_gaunt(l, l, 0)[:, :, 0], np.eye(2 * l + 1) / np.sqrt(4 * np.pi))
    assert np.allclose(real_gaunt(1, 2, 3), np.transpose(real_gaunt(2, 1, 3), (1, 0, 2)))
    assert np.all(real_gaunt(1, 1, 1) == 0)  # parity


def test_overlap_blocks_rotate_with_the_bond():
    """S(Q d) = D^{l1}(Q) S(d) D^{l2}(Q)^T for a synthetic s, p, d, f basis."""
    r = np.arange(601) * 0.01
    shells = [RadialFunction(l, 0.01, np.exp(-(1 + 0.3 * l) * r) * r**l) for l in range(4)]
    ov = TwoCenterOverlap({"A": shells, "B": shells[::-1]})
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    d = np.array([[0.7, -1.1, 1.9]])
    da = scipy.linalg.block_diag(*(wigner_D_real(l, q) for l in (0, 1, 2, 3)))
    db = scipy.linalg.block_diag(*(wigner_D_real(l, q) for l in (3, 2, 1, 0)))
    assert np.allclose(ov.blocks("A", "B", d @ q.T)[0], da @ ov.blocks("A", "B", d)[0] @ db.T, atol=1e-10)
    # on site: shells of different l are orthogonal, and each diagonal is the radial norm
    onsite = ov.blocks("A", "A", np.zeros((1, 3)))[0]
    assert np.allclose(onsite[0, 1:], 0, atol=1e-12)
    norms = [np.trapezoid(f.values**2 * r**2, r) for f in shells]
    assert np.allclose(np.diag(onsite), np.repeat(norms, [1, 3, 5, 7]), rtol=1e-5)
