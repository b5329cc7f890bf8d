"""The command line: help, version, convert/check/info, and one clear error per bad input
with exit status 1 and no output left behind."""

import json

import numpy as np
from click.testing import CliRunner
from conftest import expect_cli_failure

from slem_dft import __version__
from slem_dft.cli import main
from slem_dft.store import Store


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_help_lists_every_command_and_version_works():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("convert", "check", "info"):
        assert command in result.output
    assert __version__ in run("--version").output
    assert "--jobs" in run("convert", "--help").output


def test_convert_check_info_on_bundled_runs(tmp_path, bundled):
    out = tmp_path / "set.h5"
    result = run("convert", "-r", bundled / "abacus", "-o", out, "-j", "2")
    assert result.exit_code == 0, result.output
    assert "wrote 5 structure(s)" in result.output
    assert len(Store(out)) == 5
    info = json.loads(run("info", out, "--json").output)
    assert {r["formula"] for r in info} == {"Al", "C", "H2O", "Si2", "Si8"}


def test_check_json_keys(bundled):
    result = run("check", bundled / "abacus/si8_dzp/frame_000", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in (
        "code",
        "nspin",
        "n_atoms",
        "n_orbitals",
        "hermiticity_max_dev",
        "eigenvalue_max_dev_meV",
        "trace_dm_s",
        "electrons",
    ):
        assert key in report
    assert report["code"] == "abacus" and report["n_atoms"] == 8 and report["n_orbitals"] == 104
    assert report["eigenvalue_max_dev_meV"] < 1.0
    assert abs(report["trace_dm_s"] - 32) < 1e-6 and report["electrons"] == 32


def test_check_json_without_reference_has_nulls(bundled):
    report = json.loads(run("check", bundled / "abacus/si2_sz_nspin1_new", "--json").output)
    assert report["eigenvalue_max_dev_meV"] is None and report["trace_dm_s"] is None and report["electrons"] is None


def test_append_converts_into_an_existing_store(tmp_path, bundled):
    out = tmp_path / "set.h5"
    assert run("convert", bundled / "abacus/al_fcc_nspin1_old", "-o", out).exit_code == 0
    assert run("convert", bundled / "abacus/si2_sz_nspin1_new", "-o", out, "--append").exit_code == 0
    assert [r.atoms.get_chemical_formula() for r in Store(out)] == ["Al", "Si2"]


def test_truncated_csr(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/si2_sz_nspin1_new")
    text = (r / "srs1_nao.csr.ref").read_text()
    (r / "srs1_nao.csr.ref").write_text(text[: len(text) // 2])
    line = expect_cli_failure(tmp_path, r, "file ends after")
    assert "srs1_nao.csr.ref" in line


def test_truncated_compressed_csr(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/si8_dzp", "si8")
    f = r / "frame_000/srs1_nao.csr.xz"
    f.write_bytes(f.read_bytes()[:100_000])
    line = expect_cli_failure(tmp_path, r / "frame_000", "compressed stream is cut")
    assert "srs1_nao.csr.xz" in line


def test_matrix_dimension_that_does_not_match_the_basis(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/si2_sz_nspin1_new")
    orb = r / "Si_dojo_6au_sz.orb"
    orb.write_text(orb.read_text().replace("Number of Sorbital-->       1", "Number of Sorbital-->       2"))
    expect_cli_failure(tmp_path, r, "matrix dimension 8 does not match the basis")


def test_no_structure(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/al_fcc_nspin1_old")
    (r / "STRU").unlink()
    expect_cli_failure(tmp_path, r, "no structure")


def test_no_basis(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/h2o_nspin1_new_hsr_tr_rr")
    for orb in r.glob("*.orb"):
        orb.unlink()
    expect_cli_failure(tmp_path, r, "no basis for species H")


def test_unknown_layout(tmp_path):
    r = tmp_path / "run"
    r.mkdir()
    (r / "notes.txt").write_text("not a DFT run\n")
    expect_cli_failure(tmp_path, r, "unknown layout")


def test_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    expect_cli_failure(tmp_path, tmp_path / "empty", "directory is empty")


def test_nan_in_a_matrix(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/si2_sz_nspin1_new")
    f = r / "hrs1_nao.csr.ref"
    lines = f.read_text().splitlines(keepends=True)
    i = next(n for n, ln in enumerate(lines) if "CSR values" in ln) + 1
    lines[i] = "nan " + lines[i].split(" ", 2)[2]
    f.write_text("".join(lines))
    line = expect_cli_failure(tmp_path, r, "NaN")
    assert "hrs1_nao.csr.ref" in line and "R=(" in line


def test_eigenvalues_that_disagree_fail_the_check(tmp_path, copy_run, bundled):
    r = copy_run(bundled / "abacus/al_fcc_nspin1_old")
    bands = np.loadtxt(r / "BANDS_1.dat")
    bands[3, 5] += 0.01
    np.savetxt(r / "BANDS_1.dat", bands, fmt="%.8f")
    expect_cli_failure(tmp_path, r, "eigenvalues differ")
    assert run("convert", r, "-o", tmp_path / "x.h5", "--no-check").exit_code == 0


def test_failed_append_keeps_the_store(tmp_path, copy_run, bundled):
    out = tmp_path / "set.h5"
    assert run("convert", bundled / "abacus/al_fcc_nspin1_old", "-o", out).exit_code == 0
    before = out.read_bytes()
    bad = copy_run(bundled / "abacus/si2_sz_nspin1_new")
    (bad / "STRU").unlink()
    (bad / "srs1_nao.csr.ref").write_text("garbage\n")
    result = run("convert", bad, "-o", out, "--append")
    assert result.exit_code == 1 and out.read_bytes() == before


def test_skip_failed_writes_the_good_runs(tmp_path, bundled):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "set.h5"
    result = run("convert", bundled / "abacus/al_fcc_nspin1_old", tmp_path / "empty", "-o", out, "--skip-failed")
    assert result.exit_code == 1 and len(Store(out)) == 1 and "directory is empty" in result.stderr
