"""Exact overlaps from SIESTA ``.ion.xml`` radial functions reproduce the S SIESTA wrote, on
every run of ../shared/data/siesta that ships ion files (figures in docs/siesta.md)."""

import shutil

import numpy as np
import pytest

from slem_dft import registry
from slem_dft.basisfiles.ion import find_ion_files, read_ion
from slem_dft.data import BlockMatrix
from slem_dft.errors import ConventionError, MissingInputError
from slem_dft.overlap import TwoCenterOverlap, overlap_blocks
from slem_dft.parsers.siesta import read_run
from slem_dft.writers.siesta import siesta_pattern

#: Every SIESTA run with .ion.xml files and an S (HSX); pt2_soc_siesta41 and si_dzp_hsx_v0 have none.
CASES = [
    "fe_bcc_polarized",
    "graphene_noncollinear",
    "graphene_polarized",
    "graphene_spinorbit",
    "graphene_unpolarized",
    "h2o_dipole",
    "mgco3_md",
    "pt2_soc",
    "si_szp_kgrid",
]


def _fold_to_gamma(op: BlockMatrix) -> BlockMatrix:
    """Sum the blocks of every atom pair over R (SIESTA's Gamma-only folding), at R = 0."""
    edges = op.edges.copy()
    edges[:, 2:] = 0
    pairs, which = np.unique(edges, axis=0, return_inverse=True)
    shapes = op.shapes[np.unique(which.reshape(-1), return_index=True)[1]]
    out = BlockMatrix(pairs, shapes, np.zeros((1, int((shapes[:, 0] * shapes[:, 1]).sum()))))
    for e, target in enumerate(which.reshape(-1)):
        out.block(target)[...] += op.block(e)
    return out


def _deviation(exact: BlockMatrix, stored: BlockMatrix) -> tuple[float, int]:
    """(max |S_exact - S_file| over every stored element, number of stored blocks the exact
    overlap lacks); such blocks must hold S = 0 exactly."""
    dev, extra = 0.0, 0
    for key, block in stored:
        e = exact.find(key[0], key[1], key[2:])
        if e is None:
            extra += 1
            assert not block.any(), key
            continue
        dev = max(dev, float(np.abs(exact.block(e) - block).max()))
    return dev, extra


@pytest.mark.parametrize("case", CASES)
def test_exact_overlap_reproduces_siesta_s(shared, case):
    record = read_run(shared / "siesta" / case, operators=("S",))
    exact = overlap_blocks(record, TwoCenterOverlap(registry.read_radial_basis(record)))
    stored = record.operators["S"]
    if record.gamma_only:
        exact = _fold_to_gamma(exact)
    dev, extra = _deviation(exact, stored)
    assert dev <= 1e-5, dev
    # Edge sets: every block within the sum of the cutoffs is stored; the others SIESTA stores
    # (S = 0) are exactly the blocks its sparsity adds through shared KB projectors.
    assert {tuple(k) for k in exact.edges.tolist()} <= {tuple(k) for k in stored.edges.tolist()}
    pattern = siesta_pattern(record, find_ion_files(record), ("S",))
    keys = np.unique(np.column_stack([pattern.atom_i, pattern.atom_j, pattern.R]), axis=0)
    assert np.array_equal(keys, stored.sorted().edges)
    print(f"{case}: max |S_exact - S_SIESTA| = {dev:.2e}; {extra} stored blocks beyond the orbital cutoffs")


def test_ion_functions_are_normalised_and_stored_without_r_to_the_l(shared):
    """The file stores phi(r) / r^l: times r^l every function is normalised; as stored, the
    p and d functions are not (and the overlap would fail)."""
    ion = read_ion(shared / "siesta" / "h2o_dipole" / "O.ion.xml")
    for orb in ion.orbitals:
        norm = np.trapezoid((orb.values * orb.r**orb.l) ** 2 * orb.r**2, orb.r)
        raw = np.trapezoid(orb.values**2 * orb.r**2, orb.r)
        assert abs(norm - 1) < 1e-6
        assert orb.l == 0 or abs(raw - 1) > 0.1


def test_a_missing_or_mismatched_ion_file_is_refused(shared, copy_run):
    run = copy_run(shared / "siesta" / "h2o_dipole")
    (run / "H.ion.xml").rename(run / "H.ion.xml.bak")
    record = read_run(run, operators=("S",))
    with pytest.raises(MissingInputError, match="H.ion.xml"):
        registry.read_radial_basis(record)
    shutil.copy(run / "O.ion.xml", run / "H.ion.xml")  # O's basis (s p d) for H (s p)
    with pytest.raises(ConventionError, match="do not match"):
        registry.read_radial_basis(record)
