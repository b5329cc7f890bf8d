"""SIESTA writer: .DM files SIESTA reads back (DM.UseSaveDM), HSX v1 and the fdf lines. SIESTA's
own DM files are reproduced byte for byte from the parsed data (the sparsity generated from the
.ion.xml cutoffs, not replayed); every real case survives read -> write -> read; sisl reads the
written files as the same matrices; bad input leaves no file (figures in docs/export.md)."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import _cli

from slem_dft.basisfiles.ion import find_ion_files
from slem_dft.conventions import orbital_map
from slem_dft.data import BlockMatrix
from slem_dft.errors import ConventionError, MissingInputError
from slem_dft.kspace import BlochSum
from slem_dft.parsers.siesta import read_dm, read_hsx, read_run
from slem_dft.writers.siesta import ordvec, siesta_pattern, write_inputs

ALL_CASES = [
    "fe_bcc_polarized",
    "graphene_noncollinear",
    "graphene_polarized",
    "graphene_spinorbit",
    "graphene_unpolarized",
    "h2o_dipole",
    "mgco3_md",
    "pt2_soc",
    "pt2_soc_siesta41",
    "si_dzp_hsx_v0",
    "si_szp_kgrid",
]
#: Every DM with SIESTA's 5-integer header (si_dzp_hsx_v0's has the old 2-integer one).
BYTE_CASES = [c for c in ALL_CASES if c != "si_dzp_hsx_v0"]


def _write(record, folder, operators=("DM", "H", "S")):
    return write_inputs(folder, record, operators, ions=find_ion_files(record, required=False))


@pytest.mark.parametrize("case", BYTE_CASES)
def test_dm_is_reproduced_byte_for_byte(shared, tmp_path, case):
    record = read_run(shared / "siesta" / case)
    original = record.source.files["DM"][0]
    written = {p.suffix: p for p in _write(record, tmp_path, ("DM",))}
    assert written[".DM"].name == original.rsplit("/", 1)[1]
    assert written[".DM"].read_bytes() == Path(original).read_bytes()


def test_pattern_is_generated_not_replayed(shared):
    """The generated sparsity is SIESTA's: a moved atom changes it, and the element count of
    each row follows the cutoffs (a smaller s radius drops connections)."""
    record = read_run(shared / "siesta" / "si_szp_kgrid", operators=("DM",))
    ions = find_ion_files(record)
    base = siesta_pattern(record, ions)
    moved = record.atoms.copy()
    moved.positions[1] += [0.3, 0.0, 0.0]
    assert not np.array_equal(siesta_pattern(record.replace(atoms=moved), ions).col, base.col)
    si = ions["Si"]
    smaller_s = replace(si, orbitals=(replace(si.orbitals[0], cutoff=si.orbitals[0].cutoff - 1.0), *si.orbitals[1:]))
    assert siesta_pattern(record, {"Si": smaller_s}).numh[0] < base.numh[0]


def test_ordvec_orders_by_z_then_y_then_x_with_a_tolerance():
    v = np.array([[1.0, 0.0, 1e-12], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    assert ordvec(v).tolist() == [3, 2, 0, 1]  # z = 1e-12 counts as z = 0


def _same_blocks(a: BlockMatrix, b: BlockMatrix) -> float:
    a, b = a.sorted(), b.sorted()
    assert a.spin == b.spin and np.array_equal(a.edges, b.edges)
    return float(np.abs(a.values - b.values).max() / np.abs(a.values).max())


@pytest.mark.parametrize("case", ALL_CASES)
def test_read_write_read_gives_the_same_blocks(shared, tmp_path, case):
    record = read_run(shared / "siesta" / case)
    _write(record, tmp_path)
    back = read_run(tmp_path)  # the HSX, the DM and the written fdf (species, SystemLabel)
    assert back.nspin == record.nspin
    assert np.array_equal(back.species, record.species) and back.basis == record.basis
    assert np.abs(back.atoms.positions - record.atoms.positions).max() < 1e-12
    assert _same_blocks(record.operators["DM"], back.operators["DM"]) == 0.0
    assert _same_blocks(record.operators["S"], back.operators["S"]) == 0.0
    # H goes out in Ry (SIESTA 5 constant, as positions in its Bohr, whatever version the data
    # came from; the written files do not say, and the reader then assumes SIESTA 5).
    assert _same_blocks(record.operators["H"], back.operators["H"]) <= 1e-15


def test_hsx_matches_siesta_hsx_except_what_slem_dft_does_not_keep(shared, tmp_path):
    """Same pattern, S bit for bit, H to 1 ulp, geometry, Ef and the isc_off of every image in
    use; the written isc_off lists SIESTA's canonical order for all images."""
    record = read_run(shared / "siesta" / "fe_bcc_polarized")
    written = next(p for p in _write(record, tmp_path) if p.suffix == ".HSX")
    ours, theirs = read_hsx(written), read_hsx(shared / "siesta" / "fe_bcc_polarized" / "fe.HSX")
    assert np.array_equal(ours.numh, theirs.numh) and np.array_equal(ours.col, theirs.col)
    assert np.array_equal(ours.S, theirs.S)
    assert np.abs(ours.H - theirs.H).max() <= 2 * np.spacing(np.abs(theirs.H).max())
    used = np.unique(theirs.col // theirs.no_u)
    assert np.array_equal(ours.isc_off[used], theirs.isc_off[used])
    assert np.array_equal(ours.cell, theirs.cell) and np.abs(ours.xa - theirs.xa).max() < 1e-14
    assert ours.fermi == pytest.approx(theirs.fermi, abs=1e-15) and ours.qtot == theirs.qtot
    assert [s.label for s in ours.species] == [s.label for s in theirs.species]
    assert all(np.array_equal(a.orbitals, b.orbitals) for a, b in zip(ours.species, theirs.species))
    assert [s.zval for s in ours.species] == [s.zval for s in theirs.species]


@pytest.mark.parametrize(
    "case", ["fe_bcc_polarized", "graphene_noncollinear", "graphene_spinorbit", "pt2_soc_siesta41", "si_szp_kgrid"]
)
def test_sisl_reads_the_written_files_as_our_matrices(shared, tmp_path, case):
    """sisl (SIESTA's orbital order and (-1)^m harmonics, H shifted by -Ef) reads the written
    HSX (SIESTA 5 units, as sisl assumes) and DM as the record's H(k), S(k), DM(k) (as in
    tests/test_siesta.py::test_sisl_reads_the_same_operators)."""
    sisl = pytest.importorskip("sisl")
    record = read_run(shared / "siesta" / case)
    paths = {p.suffix: p for p in _write(record, tmp_path)}
    H = sisl.get_sile(paths[".HSX"]).read_hamiltonian()
    DM = sisl.get_sile(paths[".DM"]).read_density_matrix(geometry=H.geometry)
    spinor = record.nspin == 4
    sign = np.concatenate([orbital_map("siesta", record.basis[s].ls)[1] for s in record.species])
    D = np.diag(np.repeat(sign, 2) if spinor else sign)
    k = np.zeros(3) if record.gamma_only else np.array([0.1, 0.2, -0.3])

    def ours(op, channel=0):
        return BlochSum(record.operators[op], record.orbital_counts)(k, channel).toarray()

    def same(theirs, mine):
        return np.abs((D @ theirs @ D).conj().T - mine).max() <= 1e-12 * np.abs(mine).max()

    sk = H.Sk(k=k, format="array")
    assert same(sk, np.kron(ours("S"), np.eye(2)) if spinor else ours("S"))
    ef = record.fermi_energy
    for channel in range(2 if record.nspin == 2 else 1):
        spin = {"spin": channel} if record.nspin == 2 else {}
        assert same(H.Hk(k=k, format="array", **spin) + ef * sk, ours("H", channel))
        assert same(DM.Dk(k=k, format="array", **spin), ours("DM", channel))


def test_export_command_end_to_end(bundled, tmp_path):
    """convert -> export --to siesta on a bundled run: SIESTA's own DM comes back byte for
    byte, with the HSX and the fdf lines."""
    run = bundled / "siesta" / "pt2_soc_siesta41"
    store, out = tmp_path / "set.h5", tmp_path / "out"
    assert _cli("convert", run, "-o", store, "--no-check").exit_code == 0
    result = _cli("export", store, "--to", "siesta", "-o", out, "--operators", "DM,H,S")
    assert result.exit_code == 0, result.output
    assert (out / "SOC_Pt2_xx.DM").read_bytes() == (run / "SOC_Pt2_xx.DM").read_bytes()
    fdf = (out / "SOC_Pt2_xx.slem-dft.fdf").read_text()
    assert "SystemLabel        SOC_Pt2_xx" in fdf and "DM.UseSaveDM       true" in fdf
    assert "Spin               spin-orbit" in fdf
    assert read_hsx(out / "SOC_Pt2_xx.HSX").nspin == 8
    relabelled = _cli("export", store, "--to", "siesta", "-o", out, "--system-label", "pt2")
    assert relabelled.exit_code == 0 and (out / "pt2.DM").read_bytes() == (run / "SOC_Pt2_xx.DM").read_bytes()


def _refused(tmp_path, store, message, *extra):
    out = tmp_path / "refused"
    result = _cli("export", store, "--to", "siesta", "-o", out, *extra)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_bad_inputs_give_one_error_and_no_file(shared, bundled, tmp_path, copy_run):
    store = tmp_path / "set.h5"
    assert (
        _cli("convert", bundled / "siesta" / "h2o_dipole", "-o", store, "--no-check", "--operators", "S,DM").exit_code
        == 0
    )
    _refused(tmp_path, store, "holds no H", "--operators", "DM,H")
    _refused(tmp_path, store, "HSX holds H and S together", "--operators", "S")
    wrong = tmp_path / "O.ion.xml"
    shutil.copy(shared / "siesta" / "h2o_dipole" / "O.ion.xml", wrong)
    _refused(tmp_path, store, "do not match", "--orbital", f"O={wrong}", "--orbital", f"H={wrong}")
    _refused(tmp_path, store, "not a usable SystemLabel", "--system-label", "a b")


def test_refusals_from_python(shared, tmp_path):
    record = read_run(shared / "siesta" / "fe_bcc_polarized")
    mixed = dict(record.operators)
    mixed["DM"] = BlockMatrix(mixed["DM"].edges, mixed["DM"].shapes, mixed["DM"].values[:1], "none")
    with pytest.raises(ConventionError, match="cannot represent the mixture"):
        write_inputs(tmp_path, record.replace(operators=mixed), ("DM",))
    with pytest.raises(MissingInputError, match="no .ion.xml for species Fe"):
        write_inputs(tmp_path, record, ("DM",), ions={})
    assert not any(tmp_path.iterdir())


def test_written_dm_header_and_spin_layouts(shared, tmp_path):
    """nspin 1 / 2 / 4 / 8 and the 5-integer header with the generated nsc."""
    for case, nspin, nsc in [
        ("si_szp_kgrid", 1, [5, 5, 5]),
        ("fe_bcc_polarized", 2, [9, 9, 9]),
        ("graphene_noncollinear", 4, [1, 1, 1]),
        ("graphene_spinorbit", 8, [1, 1, 1]),
    ]:
        record = read_run(shared / "siesta" / case, operators=("DM",))
        folder = tmp_path / case
        dm = read_dm(next(p for p in _write(record, folder, ("DM",)) if p.suffix == ".DM"))
        assert dm.nspin == nspin and dm.nsc.tolist() == nsc
