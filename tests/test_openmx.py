"""The OpenMX reader on real runs: eigenvalues against OpenMX's own (.Band, .out), electron
counts, spin moments, the spin-orbit assembly, space-group convention checks, bad input and
the store round trip. Figures from ../shared/data/openmx/SOURCES.md,
../shared/data/generated/openmx/README.md and formats-openmx.md; the bundled runs under
data/openmx are two of the generated ones (data/openmx/README.md)."""

import functools
import json
import lzma
import shutil
import struct

import numpy as np
import pytest
import scipy.linalg
from click.testing import CliRunner
from conftest import expect_cli_failure

from slem_dft import registry
from slem_dft.basisfiles.pao import species_basis
from slem_dft.checks import check_record, spin_moment, trace_dm_s
from slem_dft.cli import main
from slem_dft.data import BlockMatrix
from slem_dft.errors import MissingInputError
from slem_dft.parsers.openmx import detect, read_run, read_scfout
from slem_dft.store import Store, read_store, write_store
from slem_dft.symmetry import space_group_operations, symmetry_deviation
from slem_dft.units import HARTREE_TO_EV_OPENMX

HA = HARTREE_TO_EV_OPENMX
GEN = "generated/openmx"

# (case, electrons, reported moment in mu_B or None); the generated fe_bcc_spin1 and
# pt_fcc_nc3_soc are tested through their bundled copies (test_bundled_runs_...)
SINGLE_RUNS = [
    ("openmx/fe_bcc_spin_v3", 28, 4.284893662),
    ("openmx/graphene_nospin_v0", 8, None),
    ("openmx/graphene_soc_nc_v0", 8, None),
]
FRAME_SETS = {"si8_s2p2d1": (11, 32), "si2_s2p2d1f1": (6, 8), "gaas_s2p2d2_s2p2d1": (6, 28)}


@functools.cache
def _checked(run_dir):
    """(record, report with every eigenvalue reference) of a run, computed once."""
    record = read_run(run_dir)
    return record, check_record(record, registry.read_references(record))


# -- eigenvalues, electrons, spin moments ----------------------------------------------------


@pytest.mark.parametrize("case, electrons, moment", SINGLE_RUNS)
def test_single_runs_reproduce_openmx(shared, case, electrons, moment):
    record, report = _checked(shared / case)
    assert all(e["max_dev_meV"] < 1.0 for e in report.eigenvalues)
    assert record.source.code == "openmx" and record.n_electrons == electrons
    assert report.passed, report.failures
    assert abs(report.trace_dm_s - electrons) < 1e-4
    if moment is not None:
        m = spin_moment(record.operators["DM"], record.operators["S"])
        assert np.linalg.norm(m) == pytest.approx(moment, abs=2e-3)
        assert record.spin_moment is not None


def test_fe_v3_figures(shared):
    """SOURCES.md: .Band to 0.0000 meV, .out to < 0.7 meV (5-decimal k), moment 4.284894 = 2 Total_SpinS."""
    record, report = _checked(shared / "openmx/fe_bcc_spin_v3")
    band, out = report.eigenvalues
    assert band["n_kpoints"] == 53 and band["n_bands"] == 26 and band["max_dev_meV"] < 1e-3
    assert out["n_kpoints"] == 666 and out["max_dev_meV"] < 0.7
    assert record.fermi_energy == pytest.approx(-0.2027883864 * HA, abs=1e-8)
    assert report.spin_moment[2] == pytest.approx(4.284894, abs=1e-6)
    assert record.source.code_version == "3.9.9" and record.nspin == 2
    assert [(s.l, s.zeta) for s in record.basis["Fe"].shells] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]


def test_bundled_runs_without_the_full_data(bundled):
    """fe (collinear, v3) and pt (spin-orbit, v3) ship with the repository; .out is xz-packed."""
    fe, report = _checked(bundled / "openmx/fe_bcc_spin1")
    assert report.passed, report.failures
    assert [e["n_kpoints"] for e in report.eigenvalues] == [38, 500]
    assert all(e["max_dev_meV"] < 1.0 for e in report.eigenvalues)
    assert abs(report.trace_dm_s - 14) < 1e-4 and fe.n_electrons == 14
    assert report.spin_moment[2] == pytest.approx(2.343769, abs=1e-5) == fe.spin_moment[2]
    pt, report = _checked(bundled / "openmx/pt_fcc_nc3_soc")
    assert pt.nspin == 4 and pt.operators["H"].spin == "spinor" and pt.operators["S"].spin == "none"
    assert report.passed and abs(report.trace_dm_s - 16) < 1e-4 and np.abs(report.spin_moment).max() < 1e-3
    band, out = report.eigenvalues
    assert band["max_dev_meV"] < 1e-3  # README: < 0.0001 meV
    assert out["n_kpoints"] == 1000 and out["n_bands"] == 18 and out["max_dev_meV"] < 1.0


@pytest.mark.parametrize("name", sorted(FRAME_SETS))
def test_every_frame_counts_its_electrons(shared, name):
    """Every frame: Tr(DM S) = N (1e-4) and hermiticity; the .out eigenvalues of frames 000 and
    001 and the .Band of frame 000 (the other frames' .out are not compared, to keep this fast)."""
    n_frames, electrons = FRAME_SETS[name]
    frames = sorted((shared / GEN / name).glob("frame_*"))
    assert len(frames) == n_frames
    for n, frame in enumerate(frames):
        record = read_run(frame)
        assert record.n_electrons == electrons
        assert abs(trace_dm_s(record.operators["DM"], record.operators["S"]) - electrons) < 1e-4, frame
        assert record.operators["H"].hermiticity_deviation() < 1e-7 * HA
        if n < 2:
            references = registry.read_references(record)
            assert len(references) == (2 if n == 0 else 1)
            report = check_record(record, references)
            assert report.passed, report.failures
            assert all(e["max_dev_meV"] < 1.0 for e in report.eigenvalues)


def test_out_listing_keeps_the_occupied_bands(shared):
    """The .out k-points have 5 decimals; only the bands up to the highest occupied one are
    compared (Fe v3: 17 of 26 bands)."""
    record = read_run(shared / "openmx/fe_bcc_spin_v3")
    out = next(r for r in registry.read_references(record) if r.path.endswith(".out"))
    assert out.energies.shape == (2, 666, 17)
    assert (out.energies[..., -1] < record.fermi_energy).any()
    assert np.allclose(out.kpoints[0], [-0.45454, -0.45455, -0.45454])


# -- spin-orbit: assembly and orientation ----------------------------------------------------


def _spatial_transpose(op: BlockMatrix) -> BlockMatrix:
    """The blocks read the other way round, <j|O|i>, with the spin channels left in place."""
    adj = op.adjoint()
    return BlockMatrix(adj.edges, adj.shapes, np.conj(adj.values)[[0, 2, 1, 3]], "spinor")


def test_soc_eigenvalues_see_the_element_orientation(bundled):
    """Reading the blocks as <j|H|i> flips the sign of L.S; Pt's .Band then differs by eV."""
    pt, report = _checked(bundled / "openmx/pt_fcc_nc3_soc")
    assert report.eigenvalues[0]["max_dev_meV"] < 1e-3
    band = next(r for r in registry.read_references(pt) if r.path.endswith(".Band"))
    wrong = pt.replace(operators={**pt.operators, "H": _spatial_transpose(pt.operators["H"])})
    assert check_record(wrong, [band]).eigenvalues[0]["max_dev_meV"] > 100.0


def test_soc_density_matrix_is_rebuilt_from_eigenvectors(bundled):
    """Pt: rho_{i0,jR} = (1/Nk) sum_k f c_i c_j^* exp(-2 pi i k.R) on OpenMX's 10^3 mesh
    (k_m = (m + 1/2)/10 - 1/2), Fermi-Dirac at ChemP and 300 K, equals the stored DM in all
    four spinor channels; this pins the conjugated up-down block and the sign of iDM."""
    pt = read_run(bundled / "openmx/pt_fcc_nc3_soc")
    H, S, DM = (pt.operators[n] for n in ("H", "S", "DM"))
    n = pt.n_orbitals
    assert H.edges.tolist() == S.edges.tolist() == DM.edges.tolist()  # one atom: blocks are whole matrices
    h_R = H.values.reshape(4, -1, n, n)
    h_R = np.stack([np.stack([h_R[0], h_R[1]], -1), np.stack([h_R[2], h_R[3]], -1)], -2)  # (e, a, b, s, s')
    h_R = h_R.transpose(0, 1, 3, 2, 4).reshape(-1, 2 * n, 2 * n)  # spin innermost
    s_R = np.kron(S.values.reshape(-1, n, n), np.eye(2))
    grid = (np.arange(10) + 0.5) / 10 - 0.5
    ks = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    phase = np.exp(2j * np.pi * ks @ DM.edges[:, 2:].T)  # (k, e)
    kT = 300 * 8.617333262e-5
    rho = np.zeros((len(DM.edges), 2 * n, 2 * n), dtype=complex)
    for _k, ph in zip(ks, phase):
        e, c = scipy.linalg.eigh(np.tensordot(ph, h_R, 1), np.tensordot(ph, s_R, 1))
        f = 0.5 * (1 - np.tanh(0.5 * (e - pt.fermi_energy) / kT))
        rho += np.conj(ph)[:, None, None] * ((c * f) @ c.conj().T)
    rho /= len(ks)
    stored = DM.values.reshape(4, -1, n, n)
    for channel, (s1, s2) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert np.abs(rho[:, s1::2, s2::2] - stored[channel]).max() < 1e-5  # measured 9e-7
    assert np.abs(stored.imag).max() > 0.05  # the imaginary parts are there to be checked


# -- orbital convention: space-group checks --------------------------------------------------


def _c3_111(ops):
    """Pure (no translation) 3-fold turns about the cube diagonal: they mix m within every
    shell and map OpenMX's real-space grid and k-mesh onto themselves."""
    diag = np.array([1.0, 1.0, 1.0]) / np.sqrt(3)
    return [
        op
        for op in ops
        if np.isclose(np.trace(op.Q), 0)
        and np.isclose(np.linalg.det(op.Q), 1)
        and np.allclose(op.Q @ diag, diag)
        and np.allclose(op.w - np.round(op.w), 0)
    ]


# case -> H floor in Hartree for every operation (formats-openmx.md "Symmetry checks": measured
# maxima fe 7.3e-8, si8 3.2e-6, si2 f 5.2e-5, gaas 5.4e-4; graphene C3z 2.3e-4)
SYMMETRY_CASES = {
    "openmx/fe_bcc_spin_v3": 1e-6,
    f"{GEN}/si8_s2p2d1/frame_000": 1e-5,
    f"{GEN}/si2_s2p2d1f1/frame_000": 1e-4,
    f"{GEN}/gaas_s2p2d2_s2p2d1/frame_000": 1e-3,
    "openmx/graphene_nospin_v0": 5e-4,
}


@pytest.mark.parametrize("case", sorted(SYMMETRY_CASES))
def test_space_group_maps_the_blocks(shared, case):
    record = read_run(shared / case)
    ops = space_group_operations(record)
    assert len(ops) >= 12
    for op in ops:
        assert symmetry_deviation(record, "S", op) < 1e-8
        for channel in range(record.operators["H"].n_channels):
            assert symmetry_deviation(record, "H", op, channel) < SYMMETRY_CASES[case] * HA
    if "graphene" not in case:
        c3 = _c3_111(ops)
        assert c3
        for op in c3:
            for channel in range(record.operators["H"].n_channels):
                assert symmetry_deviation(record, "H", op, channel) < 1e-6 * HA


def test_f_shells_pass_and_a_wrong_f_order_fails(shared, monkeypatch):
    """si2 s2p2d1f1: S under C3[111] to 1e-8 with the table, 0.1+ with m = +-3 swapped."""
    run = shared / GEN / "si2_s2p2d1f1/frame_000"
    record = read_run(run, operators=("S",))
    assert [s.l for s in record.basis["Si"].shells] == [0, 0, 1, 1, 2, 3] and record.n_orbitals == 40
    c3 = _c3_111(space_group_operations(record))
    assert c3 and max(symmetry_deviation(record, "S", op) for op in c3) < 1e-8
    from slem_dft import conventions

    monkeypatch.setitem(conventions._OPENMX_PERM, 3, [5, 4, 2, 0, 1, 3, 6])
    wrong = read_run(run, operators=("S",))
    assert max(symmetry_deviation(wrong, "S", op) for op in c3) > 0.1


def test_check_command_on_a_spin_orbit_run(bundled):
    result = CliRunner().invoke(
        main, ["check", str(bundled / "openmx/pt_fcc_nc3_soc"), "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["code"] == "openmx" and report["nspin"] == 4 and report["n_orbitals"] == 13
    assert report["eigenvalue_max_dev_meV"] < 1.0 and abs(report["trace_dm_s"] - 16) < 1e-4


def test_spin_orbit_overlaps_are_symmetric(shared):
    for case in ("openmx/graphene_soc_nc_v0", f"{GEN}/pt_fcc_nc3_soc/frame_000"):
        record = read_run(shared / case, operators=("S",))
        for op in space_group_operations(record):
            assert symmetry_deviation(record, "S", op) < 1e-8


# -- file formats ----------------------------------------------------------------------------


def _scfouts(shared):
    return sorted((shared / "openmx").glob("*/*.scfout")) + sorted((shared / GEN).glob("*/frame_000/*.scfout.xz"))


def test_every_scfout_parses_to_the_last_byte(shared):
    for path in _scfouts(shared):
        scf = read_scfout(path, keep=())
        size = len(lzma.decompress(path.read_bytes())) if path.suffix == ".xz" else path.stat().st_size
        assert scf.n_bytes == size, path
        assert scf.version in (0, 3) and "<Definition.of.Atomic.Species" in scf.input_text


def test_big_endian_file_reads_the_same(shared, tmp_path):
    folder = shared / "openmx/graphene_soc_nc_v0"
    little = read_run(folder)
    run = tmp_path / "big"
    run.mkdir()
    shutil.copy(folder / "bigendian/gratest.scfout_b", run / "gratest.scfout")
    big = read_run(run)
    assert "big-endian" in big.source.notes[0] and "little-endian" in little.source.notes[0]
    for name in ("H", "S", "DM"):
        assert big.operators[name].equals(little.operators[name])
    assert np.array_equal(big.atoms.positions, little.atoms.positions)


def _echo_start(path) -> int:
    """Offset of the input-echo line count: the n with 4 + 256 n trailing bytes that decode to
    the echo the reader found."""
    data, text = path.read_bytes(), read_scfout(path, keep=()).input_text
    for n in range(1, len(data) // 256):
        at = len(data) - 4 - 256 * n
        records = data[at + 4 :]
        decoded = b"".join(records[k : k + 256].split(b"\0", 1)[0] for k in range(0, len(records), 256))
        if struct.unpack("<i", data[at : at + 4])[0] == n and decoded.decode() == text:
            return at
    raise AssertionError("no input echo found")


@pytest.mark.parametrize("version", [1, 2])
def test_versions_1_and_2_follow_the_documented_layout(shared, tmp_path, version):
    """No real version 1 or 2 file exists: these are built from the version-0 graphene file
    as formats-openmx.md describes them (order_max after the header, atomnum core charges
    after the trailer). This checks the reader follows the document; it is unverified on
    real files."""
    src = shared / "openmx/graphene_nospin_v0/symGra.scfout"
    data = src.read_bytes()
    echo = _echo_start(src)
    header = struct.pack(
        "<6i", *(struct.unpack("<6i", data[:24])[:1] + (4 * version,) + struct.unpack("<6i", data[:24])[2:])
    )
    synthetic = header + struct.pack("<i", 1) + data[24:echo] + struct.pack("<2d", 0.1, 0.2) + data[echo:]
    run = tmp_path / "run"
    run.mkdir()
    (run / "symGra.scfout").write_bytes(synthetic)
    scf = read_scfout(run / "symGra.scfout")
    assert scf.version == version and scf.n_bytes == len(synthetic)
    ours, reference = read_run(run), read_run(src.parent)
    for name in ("H", "S", "DM"):
        assert ours.operators[name].equals(reference.operators[name])


def test_trailing_text_after_the_scfout_is_ignored(shared, tmp_path):
    """DeepH-pack appends the .out to the scfout (cat openmx.out >> openmx.scfout)."""
    src = shared / "openmx/fe_bcc_spin_v3"
    run = tmp_path / "run"
    run.mkdir()
    (run / "fe.scfout").write_bytes((src / "fe.scfout").read_bytes() + (src / "fe.out").read_bytes())
    assert read_run(run).operators["H"].equals(read_run(src).operators["H"])


def test_basis_strings(tmp_path):
    fe = species_basis("Fe", "Fe6.0S-s2p2d1", "x.dat")
    assert fe.element == "Fe" and fe.n_orb == 13
    si = species_basis("Si1", "Si7.0-s2p2d1f1", "x.dat")
    assert si.element == "Si" and [(s.l, s.zeta) for s in si.shells] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0)]
    with pytest.raises(Exception, match="cannot read the basis string"):
        species_basis("C", "C6.0-s2x1", "x.dat")


def test_detection_and_recursive_conversion_of_a_frame_set(shared, tmp_path):
    root = shared / GEN / "gaas_s2p2d2_s2p2d1"
    assert not detect(root) and detect(root / "frame_003")
    dirs = registry.find_run_dirs([root], recursive=True)
    assert [d.name for d in dirs] == [f"frame_{n:03d}" for n in range(6)]
    out = tmp_path / "gaas.h5"
    result = CliRunner().invoke(main, ["convert", "-r", str(root), "-o", str(out), "-j", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "wrote 6 structure(s)" in result.output
    assert [r.atoms.get_chemical_formula() for r in Store(out)] == ["AsGa"] * 6


# -- bad input -------------------------------------------------------------------------------


def test_truncated_scfout(tmp_path, copy_run, shared):
    run = copy_run(shared / "openmx/graphene_nospin_v0")
    f = run / "symGra.scfout"
    f.write_bytes(f.read_bytes()[:400_000])
    line = expect_cli_failure(tmp_path, run, "file ends in")
    assert "symGra.scfout" in line


def test_truncated_compressed_scfout(tmp_path, copy_run, bundled):
    run = copy_run(bundled / "openmx/fe_bcc_spin1")
    f = run / "fe.scfout.xz"
    f.write_bytes(f.read_bytes()[:100_000])
    line = expect_cli_failure(tmp_path, run, "compressed stream is cut")
    assert "fe.scfout.xz" in line


def test_missing_input_echo_falls_back_to_the_out_file_or_fails(tmp_path, copy_run, shared):
    run = copy_run(shared / "openmx/fe_bcc_spin_v3")
    data = (run / "fe.scfout").read_bytes()
    (run / "fe.scfout").write_bytes(data[: _echo_start(run / "fe.scfout")] + struct.pack("<i", 0))
    record = read_run(run)
    assert any("basis strings read from" in note and "fe.out" in note for note in record.source.notes)
    assert record.operators["H"].equals(read_run(shared / "openmx/fe_bcc_spin_v3").operators["H"])
    (run / "fe.out").unlink()
    with pytest.raises(MissingInputError, match="no basis strings"):
        read_run(run)
    line = expect_cli_failure(tmp_path, run, "no basis strings")
    assert "fe.scfout" in line


# -- store -----------------------------------------------------------------------------------


def test_store_round_trip(tmp_path, shared, bundled):
    records = [
        read_run(shared / "openmx/graphene_nospin_v0"),
        read_run(bundled / "openmx/fe_bcc_spin1"),
        read_run(bundled / "openmx/pt_fcc_nc3_soc"),
    ]
    write_store(tmp_path / "s.h5", records)
    for a, b in zip(records, read_store(tmp_path / "s.h5")):
        assert a.species == b.species and a.nspin == b.nspin and a.basis == b.basis and a.source == b.source
        assert np.array_equal(a.atoms.positions, b.atoms.positions) and np.array_equal(a.atoms.cell, b.atoms.cell)
        assert a.n_electrons == b.n_electrons and a.fermi_energy == b.fermi_energy
        assert (a.spin_moment is None) == (b.spin_moment is None)
        if a.spin_moment is not None:
            assert np.array_equal(a.spin_moment, b.spin_moment, equal_nan=True)
        for name in a.operators:
            assert a.operators[name].equals(b.operators[name]), name
