"""The block-sparse data model: construction, hermitian halves, validation."""

import numpy as np
import pytest

from slem_dft.data import Basis, BlockMatrix, Shell, SpeciesBasis
from slem_dft.errors import ConventionError


def _random_hermitian(n_atoms=3, counts=(4, 9, 4), spin="none", seed=0):
    """Random hermitian operator over a few R vectors, built element by element."""
    rng = np.random.default_rng(seed)
    counts = np.array(counts)
    n = counts.sum()
    nspin = 2 if spin == "spinor" else 1
    Rs = [(0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, -1), (0, -1, 1)]
    mats = {}
    for R in Rs:
        if R in mats:
            continue
        m = rng.normal(size=(n * nspin, n * nspin))
        if spin == "spinor":
            m = m + 1j * rng.normal(size=m.shape)
        neg = tuple(-x for x in R)
        if R == neg:
            m = 0.5 * (m + m.conj().T)
        mats[R], mats[neg] = m, m.conj().T
    atom_of = np.repeat(np.arange(n_atoms), counts)
    local = np.concatenate([np.arange(c) for c in counts])
    parts = []
    for R, m in mats.items():
        rows, cols = np.nonzero(np.ones_like(m, dtype=bool))
        if spin == "spinor":
            o_r, s_r, o_c, s_c = rows // 2, rows % 2, cols // 2, cols % 2
            ch = 2 * s_r + s_c
        else:
            o_r, o_c, ch = rows, cols, np.zeros(rows.size, dtype=int)
        parts.append(
            (atom_of[o_r], local[o_r], atom_of[o_c], local[o_c], np.tile(R, (rows.size, 1)), ch, m[rows, cols])
        )
    merged = [np.concatenate(p) for p in zip(*parts)]
    return BlockMatrix.from_entries(*merged, orbital_counts=counts, spin=spin)


@pytest.mark.parametrize("spin", ["none", "spinor"])
def test_hermitian_half_expands_back_exactly(spin):
    op = _random_hermitian(spin=spin)
    assert op.hermiticity_deviation() < 1e-14
    half = op.hermitian_half()
    assert half.n_edges < op.n_edges
    assert half.expand_hermitian().equals(op)


def test_hermiticity_deviation_sees_a_broken_partner():
    op = _random_hermitian()
    e = op.find(0, 1, (1, 0, 0))
    op.values[0, op.offsets[e]] += 1e-3
    assert op.hermiticity_deviation() == pytest.approx(1e-3, rel=1e-9)


def test_from_entries_places_each_element_in_its_block():
    counts = np.array([1, 3])
    op = BlockMatrix.from_entries(
        [0, 1], [0, 2], [1, 1], [1, 0], [[0, 0, 0], [1, 0, 0]], [0, 0], np.array([2.0, 5.0]), counts
    )
    assert op.block(op.find(0, 1, (0, 0, 0)))[0].tolist() == [[0.0, 2.0, 0.0]]
    assert op.block(op.find(1, 1, (1, 0, 0)))[0][2, 0] == 5.0


def test_block_matrix_rejects_inconsistent_arrays():
    with pytest.raises(ValueError, match="values per channel"):
        BlockMatrix(np.zeros((1, 5)), [[2, 2]], np.zeros((1, 3)))
    with pytest.raises(ConventionError):
        BlockMatrix(np.zeros((0, 5)), np.zeros((0, 2)), np.zeros((1, 0)), spin="magnetic")


def test_basis_knows_its_orbitals_and_rejects_bad_species():
    si = SpeciesBasis.from_zeta_counts("Si", "Si", [2, 2, 1])
    assert si.n_orb == 13 and si.ls == (0, 0, 1, 1, 2)
    assert si.shells[1] == Shell(0, 1)
    basis = Basis((si,))
    assert basis.orbital_counts(["Si", "Si"]).tolist() == [13, 13]
    with pytest.raises(ConventionError):
        basis["Ge"]
    with pytest.raises(ConventionError):
        SpeciesBasis("X", "Xx", (Shell(0, 0),))
    with pytest.raises(ConventionError):
        Shell(5, 0)


def test_structures_convert_between_ase_and_pymatgen(bundled):
    from slem_dft.data import as_atoms
    from slem_dft.parsers.abacus import read_run

    record = read_run(bundled / "abacus/si2_sz_nspin1_new")
    structure = record.to_pymatgen()
    assert structure.composition.reduced_formula == "Si"
    back = as_atoms(structure)
    assert np.allclose(back.positions, record.atoms.positions) and np.allclose(back.cell, record.atoms.cell)
    with pytest.raises(TypeError):
        as_atoms("Si2")
