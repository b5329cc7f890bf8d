"""``slem-dft bands``: DFT band files reproduced from the parsed matrices, the standard path in
rotated and supercell structures, the sparse solver, the Fermi level, outputs and bad input."""

import json
from pathlib import Path

import ase
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.transform import Rotation

from slem_dft.bands import (
    compute_bands,
    fermi_level_from_mesh,
    kmesh,
    parse_kpath,
    read_dat,
    run_bands,
    seekpath_kpath,
)
from slem_dft.data import BlockMatrix
from slem_dft.errors import ConfigError, MissingInputError
from slem_dft.kspace import BlochSum, generalized_eigenvalues
from slem_dft.registry import read_run

#: Every real run with band energies the reader finds (BANDS_1.dat, eig_occ.txt, .EIG, .Band);
#: the SIESTA Gamma-point runs are compared at Gamma.
SHARED_CASES = [
    "abacus/al_fcc_nspin1_old",
    "generated/abacus/si8_dzp/frame_000",
    "openmx/fe_bcc_spin_v3",
    "siesta/fe_bcc_polarized",
    "siesta/si_dzp_hsx_v0",
    "siesta/si_szp_kgrid",
    "siesta/graphene_unpolarized",
    "siesta/graphene_polarized",
    "siesta/graphene_noncollinear",
    "siesta/graphene_spinorbit",
    "siesta/h2o_dipole",
    "siesta/mgco3_md",
    "siesta/pt2_soc",
    "siesta/pt2_soc_siesta41",
]
BUNDLED_CASES = ["abacus/al_fcc_nspin1_old", "openmx/fe_bcc_spin1", "siesta/si_dzp_hsx_v0"]
#: Boltzmann constant, eV/K (CODATA 2018).
K_B = 8.617333262e-5


def _band_error(run: Path, tmp_path: Path) -> dict:
    # si8 has no stored E_F: it comes from H, S and 32 electrons on the run's own 4x4x4 mesh.
    report = run_bands(run, tmp_path / "bands", mesh=(4, 4, 4))
    assert report.comparison is not None, f"{run}: no band reference found"
    return report.comparison.__dict__


@pytest.mark.parametrize("case", SHARED_CASES)
def test_dft_bands_reproduced_within_a_meV(case, shared, tmp_path):
    c = _band_error(shared / case, tmp_path)
    print(f"{case}: {c['n_compared']} energies, max {c['max_abs_meV']:.2e} meV, mean {c['mean_abs_meV']:.2e} meV")
    assert c["n_compared"] > 0
    assert c["max_abs_meV"] < 1.0


@pytest.mark.parametrize("case", BUNDLED_CASES)
def test_bundled_dft_bands_reproduced_within_a_meV(case, bundled, tmp_path):
    c = _band_error(bundled / case, tmp_path)
    assert c["n_compared"] > 0 and c["max_abs_meV"] < 1.0


def test_a_wrong_hamiltonian_is_seen(bundled, tmp_path):
    """The comparison can fail: H scaled by 1.001 moves the Al bands by meV."""
    record = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S"))
    from slem_dft.bands import compare_bands
    from slem_dft.bands.command import _band_reference

    ref = _band_reference(record, "al")
    wrong = record.replace(operators={**record.operators, "H": record.operators["H"].map_values(1.001)})
    c = compare_bands(compute_bands(wrong, ref.kpoints), ref, record.fermi_energy)
    assert c.max_abs_meV > 5.0


# -- k-paths ---------------------------------------------------------------------------------


def _supercell(record, matrix):
    """The record in the supercell ``matrix @ cell`` (rows), blocks relabelled: atom i of
    image n (primitive lattice vector) is atom p * n_atoms + i; prim block (i, j, R) becomes
    (i@n, j@m, R') with n + R = m + R' @ matrix."""
    matrix = np.asarray(matrix)
    inv = np.linalg.inv(matrix)
    box = np.array(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij")).reshape(3, -1).T
    frac = box @ inv
    images = box[np.all((frac > -1e-9) & (frac < 1 - 1e-9), axis=1)]
    assert len(images) == round(abs(np.linalg.det(matrix)))
    where = {tuple(n): p for p, n in enumerate(images.tolist())}
    na = len(record.atoms)
    operators = {}
    for name, op in record.operators.items():
        edges, values = [], []
        for p, n in enumerate(images):
            target = n + op.edges[:, 2:]
            r_new = np.floor(target @ inv + 1e-9).astype(int)
            m = target - r_new @ matrix
            q = np.array([where[tuple(v)] for v in m.tolist()])
            edges.append(np.column_stack([p * na + op.edges[:, 0], q * na + op.edges[:, 1], r_new]))
            values.append(op.values)
        edges = np.concatenate(edges)
        counts = np.tile(record.orbital_counts, len(images))
        operators[name] = BlockMatrix(
            edges, np.column_stack([counts[edges[:, 0]], counts[edges[:, 1]]]), np.concatenate(values, axis=1), op.spin
        )
    cell = record.atoms.cell.array
    atoms = ase.Atoms(
        numbers=np.tile(record.atoms.numbers, len(images)),
        positions=(record.atoms.positions[None] + (images @ cell)[:, None]).reshape(-1, 3),
        cell=matrix @ cell,
        pbc=True,
    )
    return record.replace(atoms=atoms, species=tuple(record.species) * len(images), operators=operators)


def _rotated(record, rotation):
    atoms = record.atoms.copy()
    atoms.set_cell(atoms.cell.array @ rotation.T, scale_atoms=False)
    atoms.positions = atoms.positions @ rotation.T
    return record.replace(atoms=atoms)


def test_standard_path_in_a_rotated_supercell_gives_the_primitive_bands(bundled):
    """seekpath standardises (and rotates) the cell; its path taken back into a rotated,
    non-diagonal supercell must pass through k-points where every primitive band appears
    (the supercell folds bands, it loses none), point for point along the path."""
    prim = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S"))
    rotation = Rotation.from_euler("zyx", [0.3, -0.5, 1.1]).as_matrix()
    sup = _supercell(_rotated(prim, rotation), [[1, 1, 0], [0, 1, 0], [-1, 0, 2]])
    path_p, path_s = seekpath_kpath(prim, 60), seekpath_kpath(sup, 60)
    assert [name for _, name in path_p.labels] == [name for _, name in path_s.labels]
    np.testing.assert_allclose(path_s.distance, path_p.distance, atol=1e-9)
    e_p = compute_bands(prim, path_p.kpoints).energies[0]
    e_s = compute_bands(sup, path_s.kpoints).energies[0]
    assert e_s.shape[1] == 2 * e_p.shape[1]
    gap = np.abs(e_s[:, :, None] - e_p[:, None, :]).min(axis=1)  # each primitive band in the supercell
    assert gap.max() < 1e-8, gap.max()
    # and the supercell path is not trivially the primitive one in other coordinates
    assert not np.allclose(path_s.kpoints, path_p.kpoints)


def test_user_path_labels_and_fractions(bundled):
    record = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S"))
    path = parse_kpath("G, X | L 1/2 1/2 1/2, W", record, 40)
    assert [name for _, name in path.labels] == ["Γ", "X", "L", "W"]
    np.testing.assert_allclose(path.kpoints[path.labels[2][0]], [0.5, 0.5, 0.5])
    assert len(path.breaks) == 1
    with pytest.raises(ConfigError, match="unknown k-label 'Q'"):
        parse_kpath("G, Q", record)


# -- solver and Fermi level --------------------------------------------------------------------


def test_shift_invert_agrees_with_dense(shared):
    """si8 (104 orbitals) through the sparse path (dense limit 50): the 24 bands nearest E_F,
    placed by the inertia count, equal the dense ones."""
    record = read_run(shared / "generated/abacus/si8_dzp/frame_000", operators=("H", "S"))
    k = np.array([[0.0, 0.0, 0.0], [0.25, 0.0, 0.5], [0.1234, 0.2345, 0.3456]])
    sparse = compute_bands(record, k, n_bands=24, sigma=6.7, dense_limit=50)
    dense = compute_bands(record, k)
    assert sparse.solver == "shift-invert" and dense.solver == "dense"
    for n in range(len(k)):
        first = sparse.first[0, n]
        assert 0 < first < 100
        np.testing.assert_allclose(sparse.energies[0, n], dense.energies[0, n, first : first + 24], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "case, gamma_centred, smearing, method",
    [
        # ABACUS: kspacing 0.08 -> 10x10x10 Gamma-centred, gaussian 0.01 Ry (INPUT, running_scf.log)
        ("abacus/al_fcc_nspin1_old", True, 0.01 * 13.605698, "gaussian"),
        # OpenMX: scf.Kgrid 10 10 10 (Monkhorst-Pack, off Gamma), 300 K Fermi-Dirac (fe.dat), nspin 2
        ("openmx/fe_bcc_spin1", False, 300 * K_B, "fermi-dirac"),
    ],
)
def test_fermi_level_from_h_s_and_electron_count(case, gamma_centred, smearing, method, bundled):
    """With the run's own mesh and smearing the equation for E_F is the run's, and the
    eigenvalues agree to 1e-5 meV: what is left is the codes' own root-finding tolerance, so the
    stored E_F must come back to 0.01 meV; a different smearing moves it by more than that."""
    record = read_run(bundled / case, operators=("H", "S"))
    ef = fermi_level_from_mesh(record, (10, 10, 10), smearing, method, gamma_centred)
    print(f"{case}: E_F {ef:.8f} eV vs stored {record.fermi_energy:.8f} eV: {1e3 * (ef - record.fermi_energy):.2e} meV")
    assert abs(ef - record.fermi_energy) < 1e-5
    for wrong in ({"smearing": 3 * smearing}, {"gamma_centred": not gamma_centred}):
        options = {"smearing": smearing, "method": method, "gamma_centred": gamma_centred} | wrong
        assert abs(fermi_level_from_mesh(record, (10, 10, 10), **options) - record.fermi_energy) > 1e-5


def test_fermi_level_needs_the_electron_count(bundled):
    record = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S")).replace(n_electrons=None)
    with pytest.raises(MissingInputError, match="electron count"):
        fermi_level_from_mesh(record, (2, 2, 2))


def test_meshes():
    k = kmesh((2, 3, 1))
    assert k.shape == (6, 3) and np.allclose(k[0], 0) and np.allclose(sorted(set(k[:, 1])), [0, 1 / 3, 2 / 3])
    assert np.allclose(sorted(set(kmesh((2, 3, 1), gamma_centred=False)[:, 0])), [-0.25, 0.25])
    assert np.allclose(sorted(set(kmesh((2, 3, 1), gamma_centred=False)[:, 1])), [-1 / 3, 0, 1 / 3])


# -- outputs and the command -----------------------------------------------------------------


def cli(*args):
    from slem_dft.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_writes_dat_json_png_from_a_store(tmp_path, bundled):
    """A store has no band file: the seekpath path with --ref to the run compares; Fe nspin 2."""
    store = tmp_path / "fe.h5"
    run = bundled / "openmx/fe_bcc_spin1"
    assert cli("convert", run, "-o", store, "--operators", "H,S", "--no-check").exit_code == 0
    result = cli("bands", store, "--ref", run, "-o", tmp_path / "fe")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "fe.json").read_text())
    assert summary["comparison"]["max_abs_meV"] < 1.0 and summary["reference"].endswith("fe.Band")
    assert (tmp_path / "fe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ef, distance, k, energies = read_dat(tmp_path / "fe.dat")
    record = read_run(run, operators=("H", "S"))
    assert ef == pytest.approx(record.fermi_energy, abs=1e-9)
    assert energies.shape == (2, len(k), record.n_orbitals) and np.all(np.diff(distance) >= 0)
    h, s = (BlochSum(record.operators[op], record.orbital_counts) for op in ("H", "S"))
    np.testing.assert_allclose(energies[1, 7], generalized_eigenvalues(h(k[7], 1), s(k[7])), atol=1e-9)


def test_cli_standard_path_without_reference(tmp_path, bundled):
    result = cli("bands", bundled / "abacus/al_fcc_nspin1_old", "--no-ref", "--npoints", "50", "-o", tmp_path / "al")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "al.json").read_text())["comparison"] is None
    _, _, k, energies = read_dat(tmp_path / "al.dat")
    assert energies.shape == (1, len(k), 21) and abs(len(k) - 50) <= 7  # 7 lines, each rounded


@pytest.mark.parametrize(
    "args, message",
    [
        (("--ref", "abacus/si2_sz_nspin1_new"), "no band-energy reference"),
        (("--no-ref", "--kpath", "G, Q"), "unknown k-label 'Q'"),
        (("--window", "0.001"), "no reference band lies within 0.001 eV"),
        (("--ref", "abacus/al_fcc_nspin1_old", "--kpath", "G, X"), "drop --kpath"),
    ],
)
def test_bad_input_gives_one_clear_error(args, message, tmp_path, bundled):
    args = [bundled / a if a.startswith("abacus/") else a for a in args]
    result = cli("bands", bundled / "abacus/al_fcc_nspin1_old", "-o", tmp_path / "x", *args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slem-dft: error:") and message in lines[0], result.stderr
    assert not list(tmp_path.iterdir())
