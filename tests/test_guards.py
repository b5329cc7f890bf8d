"""Physics guards before export: hermitisation, a non-positive-definite S replaced by the exact
overlap (or refused), Tr(DM S) reported and renormalised on request."""

import dataclasses

import numpy as np
import pytest

from slem_dft.checks import min_overlap_eigenvalue, trace_dm_s
from slem_dft.data import BlockMatrix, Source
from slem_dft.errors import ConventionError
from slem_dft.guards import guard_for_export
from slem_dft.kspace import bloch_sum
from slem_dft.registry import read_run


@pytest.fixture(scope="module")
def si8(tmp_path_factory):
    from conftest import BUNDLED

    return read_run(BUNDLED / "abacus" / "si8_dzp" / "frame_000")


def _with(record, **operators):
    return dataclasses.replace(record, operators={**record.operators, **operators})


def test_hermitised_is_the_hermitian_part(si8):
    h = si8.operators["H"]
    rng = np.random.default_rng(0)
    noisy = BlockMatrix(h.edges, h.shapes, h.values + 1e-3 * rng.standard_normal(h.values.shape), h.spin)
    fixed = noisy.hermitised()
    assert noisy.hermiticity_deviation() > 1e-4 and fixed.hermiticity_deviation() == 0.0
    k = np.array([0.1, 0.2, 0.3])
    a = bloch_sum(noisy, si8.orbital_counts, k).toarray()
    assert np.abs(bloch_sum(fixed, si8.orbital_counts, k).toarray() - 0.5 * (a + a.conj().T)).max() < 1e-13
    half = noisy.hermitian_half()  # partners missing: counted as zero
    assert np.allclose(
        bloch_sum(half.hermitised(), si8.orbital_counts, k).toarray(),
        0.5
        * (
            bloch_sum(half, si8.orbital_counts, k).toarray() + bloch_sum(half, si8.orbital_counts, k).toarray().conj().T
        ),
        atol=1e-13,
    )


def test_guards_leave_good_dft_data_alone(si8):
    guarded, notes = guard_for_export(si8)
    for name, op in si8.operators.items():
        assert op.equals(guarded.operators[name]), name  # asymmetry within the printed digits is kept
    assert any("positive definite" in n for n in notes)
    assert any(n.startswith("DM: Tr(DM S) = 32.0000") for n in notes)


def test_broken_overlap_is_replaced_by_the_exact_one(si8):
    s = si8.operators["S"]
    onsite = (s.edges[:, 0] == s.edges[:, 1]) & ~s.edges[:, 2:].any(axis=1)
    scale = np.repeat(np.where(onsite, 1.0, 2.0), s.shapes[:, 0] * s.shapes[:, 1])
    broken = _with(si8, S=BlockMatrix(s.edges, s.shapes, s.values * scale, s.spin))
    assert min_overlap_eigenvalue(broken) < 0.0
    guarded, notes = guard_for_export(broken)
    assert any("replaced by the exact two-centre overlap" in n for n in notes)
    fixed = guarded.operators["S"]
    assert np.array_equal(fixed.edges, s.edges) and np.abs(fixed.values - s.values).max() < 1e-5
    without_basis = dataclasses.replace(broken, source=Source("abacus", "unknown", "somewhere"))
    with pytest.raises(ConventionError, match="not positive definite"):
        guard_for_export(without_basis)


def test_dm_trace_is_reported_and_renormalised(si8):
    scaled = _with(si8, DM=si8.operators["DM"].map_values(1.01))
    _, notes = guard_for_export(scaled)
    assert any("Tr(DM S) = 32.32" in n for n in notes)
    fixed, notes = guard_for_export(scaled, renormalise_dm=True)
    assert trace_dm_s(fixed.operators["DM"], fixed.operators["S"]) == pytest.approx(32.0, abs=1e-8)
    assert any("scaled by 0.990" in n for n in notes)
