"""The ABACUS reader on real runs: eigenvalues against ABACUS's own, dense dumps, spin,
f shells, wrapping, explicit files. Figures from ../shared/data/abacus/SOURCES.md and
../shared/data/generated/abacus/README.md."""

import numpy as np
import pytest

from slem_dft import registry
from slem_dft.checks import check_record
from slem_dft.errors import AmbiguousInputError, MissingInputError
from slem_dft.kspace import BlochSum, generalized_eigenvalues
from slem_dft.parsers.abacus import read_csr, read_run, read_stru
from slem_dft.parsers.abacus.references import read_dense_dump
from slem_dft.units import BOHR_TO_ANG_ABACUS, RY_TO_EV_ABACUS


def _check(run_dir, extra=(), **options):
    record = read_run(run_dir, **options)
    return record, check_record(record, registry.read_references(record, extra))


def test_al_eigenvalues_reproduce_bands_dat(bundled):
    record, report = _check(bundled / "abacus/al_fcc_nspin1_old")
    assert report.passed, report.failures
    (e,) = report.eigenvalues
    assert e["n_kpoints"] == 47 and e["n_bands"] == 16
    assert e["max_dev_meV"] < 1.0  # hand check: 8.9e-8 eV
    assert record.source.code_version == "v3.9.0.2"
    assert [s.l for s in record.basis["Al"].shells] == [0] * 4 + [1] * 4 + [2]


def test_si8_bundled_frame_eigenvalues_and_electrons(bundled):
    record, report = _check(bundled / "abacus/si8_dzp/frame_000")
    assert report.passed, report.failures
    assert report.eigenvalues[0]["n_kpoints"] == 64 and report.eigenvalues[0]["n_bands"] == 104
    assert report.eigenvalues[0]["max_dev_meV"] < 1.0
    assert abs(report.trace_dm_s - 32) < 1e-6


@pytest.mark.parametrize("frame", range(8))
def test_every_si8_frame_reproduces_eig_occ_and_electron_count(shared, frame):
    record, report = _check(shared / f"generated/abacus/si8_dzp/frame_{frame:03d}")
    assert report.passed, report.failures
    assert report.eigenvalues[0]["max_dev_meV"] < 1.0
    assert record.n_electrons == 32
    assert abs(report.trace_dm_s - 32) < 1e-6


def test_si8_r_labels_follow_the_wrapped_positions(shared):
    """frame_001: STRU has atoms outside the cell; the CSR header lists them wrapped, and the
    blocks only make sense (Tr(DM S) = 32) with those positions."""
    run = shared / "generated/abacus/si8_dzp/frame_001"
    stru = read_stru(run / "STRU")
    record = read_run(run)
    frac = record.atoms.get_scaled_positions(wrap=False)
    assert stru.fractional.min() < 0 and frac.min() >= 0 and frac.max() < 1
    assert np.allclose(np.mod(stru.fractional, 1.0), frac, atol=1e-9)


def test_c_atom_nspin4_old_matches_its_dense_dump(bundled):
    record, report = _check(bundled / "abacus/c_atom_nspin4_old")
    assert report.passed, report.failures
    assert record.nspin == 4 and record.operators["H"].spin == "spinor"
    (dense,) = report.dense
    assert dense["kpoint"].tolist() == [0.5, 0.0, 0.0]
    assert dense["H_max_dev"] < 1e-7 * RY_TO_EV_ABACUS  # hand check: 4.7e-9 Ry
    assert dense["H_max_dev_over_bound"] <= 1 and dense["S_max_dev_over_bound"] <= 1
    assert dense["eigenvalue_max_dev_meV"] < 1.0


def test_c_atom_nspin4_new_complex_spinor_is_hermitian(shared):
    record, report = _check(shared / "abacus/c_atom_nspin4_new")
    assert report.passed, report.failures
    H = record.operators["H"]
    assert H.values.dtype == np.complex128 and H.n_channels == 4
    assert report.hermiticity["H"] == 0.0
    # collinear along z: the up-down channels vanish, up-up and down-down do not
    assert np.abs(H.values[1:3]).max() == 0.0 and np.abs(H.values[0]).max() > 0


def test_gamma_nspin2_matches_its_two_digit_dense_dumps(shared):
    run = shared / "abacus/si2_sz_gamma_nspin2_new"
    record, report = _check(run, [run / "dense_refs_v3.11_HEAD"])
    assert record.gamma_only and record.nspin == 2
    assert report.passed, report.failures
    assert len(report.dense) == 2
    for dense in report.dense:
        assert dense["H_max_dev_over_bound"] <= 1.0
        assert dense["eigenvalue_max_dev_meV"] <= dense["eigenvalue_tolerance_meV"]
    # hand check: 3.8e-4 and 3.4e-3 Ry
    assert report.dense[0]["H_max_dev"] < 5e-3 * RY_TO_EV_ABACUS


def test_nspin2_up_and_down_read_with_the_sibling_overlap(shared):
    """No STRU: the structure comes from the CSR header; S lives in the nspin-1 sibling.
    The antiferromagnetic up and down spectra agree (SOURCES.md: to 1e-14 eV)."""
    sibling_s = shared / "abacus/si2_sz_nspin1_new/srs1_nao.csr.ref"
    record = read_run(shared / "abacus/si2_sz_nspin2_new", files={"S": [sibling_s]})
    H = record.operators["H"]
    assert record.nspin == 2 and H.spin == "collinear" and H.n_channels == 2
    assert not np.array_equal(H.values[0], H.values[1])
    h, s = BlochSum(H, record.orbital_counts), BlochSum(record.operators["S"], record.orbital_counts)
    for k in ([0, 0, 0], [0.5, 0, 0], [0.1, 0.2, 0.3]):
        up = generalized_eigenvalues(h(k, 0), s(k))
        down = generalized_eigenvalues(h(k, 1), s(k))
        assert np.abs(up - down).max() < 1e-10
    assert check_record(record).passed


def test_f_shells_of_ce_are_read(shared):
    record = read_run(shared / "abacus/ce_fcc_f_dmr_old")
    shells = record.basis["Ce"].shells
    assert [s.l for s in shells] == [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
    assert record.n_orbitals == 34
    dm = record.operators["DM"]
    assert dm.n_edges == 93 and dm.hermiticity_deviation() == 0.0


def test_orbital_order_and_sign_on_h2o_overlap(bundled):
    """H1 sits at (-x, +y) of O: in the canonical order (y, z, x) with positive radial
    functions, <O p_y|H1 s> > 0 and <O p_x|H1 s> < 0 (ABACUS stores -x, -y)."""
    record = read_run(bundled / "abacus/h2o_nspin1_new_hsr_tr_rr")
    S = record.operators["S"]
    assert record.species == ("H", "H", "O")
    block = S.block(S.find(2, 0, (0, 0, 0)))[0]  # O (s, p_y, p_z, p_x) x H1 s
    assert block[1, 0] == pytest.approx(0.116, abs=1e-3)
    assert block[3, 0] == pytest.approx(-0.116, abs=1e-3)
    assert abs(block[2, 0]) < 1e-8


def test_output_is_preferred_over_the_init_chg_input(bundled):
    """h2o_nspin1_new_hsr_tr_rr: hrs1_nao.csr is what the run read (init_chg hr)."""
    run = bundled / "abacus/h2o_nspin1_new_hsr_tr_rr"
    record = read_run(run)
    assert record.source.files["H"][0].endswith("hrs1_nao.csr.ref")
    explicit = read_run(run, files={"H": [run / "hrs1_nao.csr"]})
    assert explicit.source.notes and "init_chg" in explicit.source.notes[0]
    assert not explicit.operators["H"].equals(record.operators["H"])


def test_two_candidate_files_without_a_rule_is_an_error(copy_run, bundled):
    run = copy_run(bundled / "abacus/si2_sz_nspin1_new")
    (run / "hrs1_nao.csr").write_bytes((run / "hrs1_nao.csr.ref").read_bytes())
    with pytest.raises(AmbiguousInputError, match="several files hold H"):
        read_run(run)


def test_basis_from_the_log_when_no_orb_file_exists(bundled):
    record = read_run(bundled / "abacus/al_fcc_nspin1_old")
    assert record.basis["Al"].n_orb == 21


def test_orbital_folder_can_be_named(shared):
    run = shared / "abacus/h2o_md_init_hr_new"
    with pytest.raises(MissingInputError, match="no basis for species H"):
        read_run(run)
    record = read_run(run, orbital_dir=shared / "abacus/h2o_nspin1_new_hsr_tr_rr")
    assert record.n_orbitals == 6


def test_old_layout_si2_overlap_matches_the_sibling_dense_dump(shared):
    """si2_dzp_nspin1_old: S(k = (0.5, 0, 0)) against the 5-digit dense S of the sibling run."""
    run = shared / "abacus/si2_dzp_nspin1_old"
    record = read_run(run)
    refs = registry.read_references(record, [run / "sibling_207_NO_KP_OH"])
    (dense,) = refs
    assert dense.kpoint.tolist() == [0.5, 0.0, 0.0]
    S = BlochSum(record.operators["S"], record.orbital_counts)(dense.kpoint).toarray()
    assert np.abs(S - dense.S).max() < 1e-4  # hand check 4.6e-5 (5 printed digits)
    assert np.all(np.abs(S - dense.S) <= dense.S_resolution + 5e-9 * np.abs(S).sum())


def test_dm_without_overlap_reads(shared):
    for case in ("gaas_init_dm_new", "si2_sz_init_dm_new"):
        record, report = _check(shared / "abacus" / case)
        assert report.passed and report.trace_dm_s is None and "DM" in record.operators


def test_stru_coordinate_kinds_and_latname_agree(tmp_path):
    common = "ATOMIC_SPECIES\nSi 28 Si.upf\n\nNUMERICAL_ORBITAL\nSi.orb\n\nLATTICE_CONSTANT\n10.2 // Bohr\n\n"
    vectors = "LATTICE_VECTORS\n-0.5 0 0.5\n0 0.5 0.5\n-0.5 0.5 0\n\n"
    direct = "ATOMIC_POSITIONS\nDirect\nSi\n0\n2\n0 0 0 1 1 1\n0.25 0.25 0.25 1 1 1\n"
    (tmp_path / "a").write_text(common + vectors + direct)
    (tmp_path / "b").write_text(common + direct)
    a, b = read_stru(tmp_path / "a"), read_stru(tmp_path / "b", latname="fcc")
    assert np.allclose(a.cell, b.cell) and np.allclose(a.fractional, b.fractional)
    assert np.isclose(abs(np.linalg.det(a.cell)), (10.2 * BOHR_TO_ANG_ABACUS) ** 3 / 4)
    cart = a.fractional @ a.cell
    ang = "ATOMIC_POSITIONS\nCartesian_angstrom\nSi\n0\n2\n" + "".join(f"{x} {y} {z}\n" for x, y, z in cart)
    units = "ATOMIC_POSITIONS\nCartesian\nSi\n0\n2\n" + "".join(
        f"{x} {y} {z}\n" for x, y, z in cart / (10.2 * BOHR_TO_ANG_ABACUS)
    )
    for name, text in (("c", ang), ("d", units)):
        (tmp_path / name).write_text(common + vectors + text)
        assert np.allclose(read_stru(tmp_path / name).fractional, a.fractional, atol=1e-12)


def test_compressed_and_plain_files_read_the_same(tmp_path, bundled):
    import lzma

    src = bundled / "abacus/si2_sz_nspin1_new/srs1_nao.csr.ref"
    plain = read_csr(src)
    packed = tmp_path / "srs1_nao.csr.xz"
    packed.write_bytes(lzma.compress(src.read_bytes()))
    c = read_csr(packed)
    assert np.array_equal(c.values, plain.values) and np.array_equal(c.cols, plain.cols)
    assert c.structure.species == ("Si", "Si") and c.layout == "new"


def test_layout_is_detected_from_content_not_name(tmp_path, bundled):
    src = bundled / "abacus/al_fcc_nspin1_old/data-HR-sparse_SPIN0.csr"
    renamed = tmp_path / "hrs1_nao.csr"
    renamed.write_bytes(src.read_bytes())
    assert read_csr(renamed).layout == "old"


def test_dense_dump_reader_keeps_print_precision(bundled):
    mat, res = read_dense_dump(bundled / "abacus/c_atom_nspin4_old/data-1-S.ref")
    assert mat.shape == (26, 26) and np.allclose(mat, mat.conj().T)
    assert res.max() <= 0.5e-10 * 10  # 10 decimals


def test_old_layout_reads_with_or_without_the_step_line(tmp_path, bundled):
    src = bundled / "abacus/al_fcc_nspin1_old/data-SR-sparse_SPIN0.csr"
    text = src.read_text()
    assert text.startswith("STEP:")
    bare = tmp_path / "data-SR-sparse_SPIN0.csr"
    bare.write_text(text.split("\n", 1)[1])
    a, b = read_csr(src), read_csr(bare)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.R, b.R)


def test_new_layout_is_read_by_count_whatever_the_wrapping(tmp_path, bundled):
    """Rewrap every data section four tokens a line: a continuation line then looks exactly
    like a block header 'Rx Ry Rz nnz' (formats-abacus.md section 4)."""
    src = bundled / "abacus/si2_sz_nspin1_new/hrs1_nao.csr.ref"
    out, section = [], []
    for line in src.read_text().splitlines():
        if line.strip().startswith("#") or not line.strip() or len(out) < 20:
            if section:
                out += [" ".join(section[i : i + 4]) for i in range(0, len(section), 4)]
                section = []
            out.append(line)
        else:
            section += line.split()
    out += [" ".join(section[i : i + 4]) for i in range(0, len(section), 4)]
    wrapped = tmp_path / "hrs1_nao.csr"
    wrapped.write_text("\n".join(out) + "\n")
    a, b = read_csr(src), read_csr(wrapped)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.rows, b.rows) and np.array_equal(a.R, b.R)
