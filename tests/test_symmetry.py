"""The orbital convention checked on data: space-group operations map the blocks of Al
(s, p, d) as D^{l1} O D^{l2}^T. Cubic operations about z cannot see a missing (-1)^m; C3
about [111] can (formats-abacus.md, "Symmetry checks on these files")."""

import numpy as np
import pytest

from slem_dft.data import BlockMatrix
from slem_dft.parsers.abacus import read_run
from slem_dft.symmetry import space_group_operations, symmetry_deviation

C3_111 = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)


@pytest.fixture(scope="module")
def al():
    from conftest import BUNDLED

    return read_run(BUNDLED / "abacus/al_fcc_nspin1_old")


def _op(record, q):
    return next(o for o in space_group_operations(record) if np.allclose(o.Q, q, atol=1e-8))


@pytest.mark.parametrize("operator", ["S", "H"])
def test_every_operation_maps_al_blocks(al, operator):
    ops = space_group_operations(al)
    assert len(ops) == 48
    assert any(np.allclose(o.Q, C3_111) for o in ops)
    worst = max(symmetry_deviation(al, operator, o) for o in ops)
    assert worst < 1e-8  # measured 4.8e-12 (S), 1.1e-10 eV (H)


def _with_flipped_sign(record, slots):
    """Same record with some orbitals (indices within the Al atom) negated: a sign-convention error."""
    ops = {}
    for name, op in record.operators.items():
        values = op.values.copy()
        for e in range(op.n_edges):
            block = values[:, op.offsets[e] : op.offsets[e + 1]].reshape(-1, *op.shapes[e])
            block[:, slots, :] *= -1
            block[:, :, slots] *= -1
        ops[name] = BlockMatrix(op.edges, op.shapes, values, op.spin)
    return record.replace(operators=ops)


# Al orbitals: 4 s (0-3), 4 p shells (y, z, x: 4-15), one d (xy, yz, z2, xz, x2-y2: 16-20).
@pytest.mark.parametrize("slots, name", [([20], "d x2-y2"), ([16], "d xy"), ([10, 12], "(-1)^m of one p shell")])
def test_a_sign_error_is_seen_by_c3_but_not_by_c4z(al, slots, name):
    broken = _with_flipped_sign(al, slots)
    c4z = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], float)
    assert symmetry_deviation(broken, "S", _op(broken, c4z)) < 1e-8, name
    assert symmetry_deviation(broken, "S", _op(broken, C3_111)) > 1e-3, name
