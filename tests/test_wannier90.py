"""Wannier90 ``_hr.dat`` export: the file, read back with a reader written here, reproduces the
LCAO eigenvalues exactly on the mesh and closely between mesh points."""

import numpy as np
import pytest
from click.testing import CliRunner

from slem_dft.bands import compute_bands
from slem_dft.errors import ConfigError
from slem_dft.export import export_record
from slem_dft.registry import read_run
from slem_dft.writers import wannier90
from slem_dft.writers.wannier90 import minimum_mesh, wigner_seitz, write_hr


def read_hr(path):
    """(num_wann, irvec (nrpts, 3), ndegen (nrpts,), ham (nrpts, n, n)) of a ``_hr.dat``."""
    lines = path.read_text().splitlines()
    n, nrpts = int(lines[1]), int(lines[2])
    n_deg_lines = -(-nrpts // 15)
    ndegen = np.array([int(x) for line in lines[3 : 3 + n_deg_lines] for x in line.split()])
    table = np.array([line.split() for line in lines[3 + n_deg_lines :]], dtype=float)
    assert ndegen.size == nrpts and table.shape == (nrpts * n * n, 7)
    irvec = table[:: n * n, :3].astype(int)
    m, col = table[:, 3].astype(int) - 1, table[:, 4].astype(int) - 1
    r = np.repeat(np.arange(nrpts), n * n)
    ham = np.zeros((nrpts, n, n), dtype=np.complex128)
    ham[r, m, col] = table[:, 5] + 1j * table[:, 6]
    assert np.array_equal(table[:, :3].astype(int), np.repeat(irvec, n * n, axis=0))
    return n, irvec, ndegen, ham


def tb_eigenvalues(irvec, ndegen, ham, k):
    """Eigenvalues of H(k) = sum_R exp(+i 2 pi k.R) H(R) / ndegen(R)."""
    hk = np.einsum("r,rmn->mn", np.exp(2j * np.pi * (irvec @ k)) / ndegen, ham)
    return np.linalg.eigvalsh(hk)


def mesh_points(mesh):
    return np.stack(np.meshgrid(*[np.arange(n) / n for n in mesh], indexing="ij"), axis=-1).reshape(-1, 3)


def test_al_hr_dat_reproduces_bands_on_the_mesh_and_between(tmp_path, bundled):
    record = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S"))
    mesh = (6, 6, 6)
    (path,) = write_hr(tmp_path, record, mesh)
    assert path.name == "wannier90_hr.dat" and path.read_text().startswith(" written on ")
    n, irvec, ndegen, ham = read_hr(path)
    assert n == 21 and np.isclose(np.sum(1.0 / ndegen), np.prod(mesh))
    # hermitian: H(-R) = H(R)^dagger
    where = {tuple(r): i for i, r in enumerate(irvec.tolist())}
    for i, r in enumerate(irvec.tolist()):
        np.testing.assert_allclose(ham[where[tuple(-np.array(r))]], ham[i].conj().T, atol=2e-12)

    k_mesh = mesh_points(mesh)
    lcao = compute_bands(record, k_mesh).energies[0]
    dev = max(np.abs(tb_eigenvalues(irvec, ndegen, ham, k) - e).max() for k, e in zip(k_mesh, lcao))
    assert dev < 1e-8, dev

    k_between = np.random.default_rng(1).random((12, 3))
    lcao = compute_bands(record, k_between).energies[0]
    tb = np.array([tb_eigenvalues(irvec, ndegen, ham, k) for k in k_between])
    window = np.abs(lcao - record.fermi_energy) < 5.0
    between_meV = 1e3 * np.abs(tb - lcao)[window].max()
    print(f"al_fcc {mesh}: mesh k max dev {dev:.1e} eV; between mesh points, +-5 eV of E_F: {between_meV:.3g} meV")
    assert between_meV < 5.0


def test_minimum_mesh_and_its_refusal(tmp_path, bundled):
    record = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S"))
    least = minimum_mesh(record)
    edges = np.concatenate([record.operators[o].edges for o in ("H", "S")])
    assert least == tuple(2 * np.abs(edges[:, 2:]).max(axis=0) + 1)
    with pytest.raises(ConfigError, match="too coarse"):
        write_hr(tmp_path, record, tuple(m - 1 for m in least))


def test_collinear_spin_writes_one_file_per_channel(tmp_path, bundled):
    record = read_run(bundled / "openmx/fe_bcc_spin1", operators=("H", "S"))
    files = export_record(record, "wannier90", tmp_path, seedname="fe")
    assert [p.name for p in files] == ["fe_up_hr.dat", "fe_dn_hr.dat"]
    k = mesh_points(minimum_mesh(record))[::37]
    lcao = compute_bands(record, k).energies
    for channel, path in enumerate(files):
        _, irvec, ndegen, ham = read_hr(path)
        dev = max(np.abs(tb_eigenvalues(irvec, ndegen, ham, q) - e).max() for q, e in zip(k, lcao[channel]))
        assert dev < 1e-8, (path.name, dev)
    assert not np.allclose(lcao[0], lcao[1])  # the two files are really the two spins


def test_spinor(tmp_path, bundled):
    record = read_run(bundled / "abacus/c_atom_nspin4_old", operators=("H", "S"))
    (path,) = write_hr(tmp_path, record)
    n, irvec, ndegen, ham = read_hr(path)
    assert n == 2 * record.n_orbitals
    k = mesh_points(minimum_mesh(record))[:5]
    lcao = compute_bands(record, k).energies[0]
    dev = max(np.abs(tb_eigenvalues(irvec, ndegen, ham, q) - e).max() for q, e in zip(k, lcao))
    assert dev < 1e-8, dev


def test_wigner_seitz_matches_its_definition():
    """Every R is a closest image of itself among R + mesh shifts, with the right count."""
    cell = np.array([[3.0, 0.0, 0.0], [1.4, 2.6, 0.0], [0.3, 0.8, 4.1]])
    mesh = np.array([4, 3, 2])
    irvec, ndegen = wigner_seitz(cell, mesh)
    assert np.isclose(np.sum(1.0 / ndegen), mesh.prod())
    shifts = np.array(np.meshgrid(*[np.arange(-4, 5)] * 3, indexing="ij")).reshape(3, -1).T * mesh
    for r, d in zip(irvec, ndegen):
        lengths = np.linalg.norm((r - shifts) @ cell, axis=1)
        assert np.isclose(np.linalg.norm(r @ cell), lengths.min()) and np.sum(np.isclose(lengths, lengths.min())) == d


def test_refuses_systems_too_large_for_dense_k(tmp_path, bundled, monkeypatch):
    record = read_run(bundled / "abacus/al_fcc_nspin1_old", operators=("H", "S"))
    monkeypatch.setattr(wannier90, "MAX_ORBITALS", 20)
    with pytest.raises(ConfigError, match="21 orbitals exceed the Wannier90 export limit of 20"):
        write_hr(tmp_path, record)


def test_cli_export_to_wannier90(tmp_path, bundled):
    from slem_dft.cli import main

    store = tmp_path / "al.h5"
    run = CliRunner().invoke
    assert (
        run(main, ["convert", str(bundled / "abacus/al_fcc_nspin1_old"), "-o", str(store), "--no-check"]).exit_code == 0
    )
    result = run(main, ["export", str(store), "--to", "wannier90", "-o", str(tmp_path / "w90")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w90" / "wannier90_hr.dat").is_file()
