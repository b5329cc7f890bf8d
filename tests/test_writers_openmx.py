"""OpenMX writer: the restart files ``<name>_rst/<name>.rst<N>`` of ``scf.restart on``.

The real Fe restart folder (written by OpenMX 3.9.9 beside fe.scfout) is reproduced from the
parsed record: header, neighbour tables and DM byte for byte; H to the last bit the record
keeps (a Hartree value whose eV double it shares with its neighbour double comes back as that
neighbour); Uele, the band energy, to 4e-13 Ha. Every written folder reads back unchanged."""

import numpy as np
import pytest
from click.testing import CliRunner

from slem_dft.cli import main
from slem_dft.data import Source
from slem_dft.errors import ConfigError, ConventionError, FileFormatError, MissingInputError, TruncatedFileError
from slem_dft.export import export_record
from slem_dft.parsers.openmx import read_run, read_scfout
from slem_dft.parsers.openmx.restart import read_restart, read_rst, restart_operators
from slem_dft.units import HARTREE_TO_EV_OPENMX
from slem_dft.writers.openmx import RestartAtom, rst_bytes, write_restart

FE = "openmx/fe_bcc_spin_v3"
GENERATED = "generated/openmx"


def _sections(path):
    """(header + neighbour table, DM) bytes of a restart file, and the file read."""
    f = read_rst(path)
    raw = path.read_bytes()
    return raw[: 4 * (10 + 6 * len(f.neighbours))], raw[len(raw) - 8 * f.DM.size :], f


def test_fe_restart_files_are_reproduced_from_the_record(shared, tmp_path):
    record = read_run(shared / FE)
    write_restart(tmp_path, record)
    for n in (1, 2):
        real_path, mine_path = shared / FE / f"fe_rst/fe.rst{n}", tmp_path / f"fe_rst/fe.rst{n}"
        assert mine_path.stat().st_size == real_path.stat().st_size == 613864
        *real_bytes, real = _sections(real_path)
        *mine_bytes, mine = _sections(mine_path)
        assert mine_bytes == real_bytes  # header, neighbour order, DM: byte for byte
        # H: equal, or the other of two Hartree doubles that the reader's eV conversion merged
        differ = mine.H != real.H
        assert np.array_equal(mine.H[differ] * HARTREE_TO_EV_OPENMX, real.H[differ] * HARTREE_TO_EV_OPENMX)
        assert np.all(np.abs(mine.H - real.H) <= np.spacing(np.abs(real.H)))
        assert 0.10 < differ.mean() < 0.13  # measured: 4519 and 4487 of 38194
        # Uele: OpenMX sums f e over k-points, the writer Tr(DM H)
        assert abs(mine.band_energy - real.band_energy) < 1e-12


def test_encoder_rewrites_the_real_files_byte_for_byte(shared):
    for n in (1, 2):
        path = shared / FE / f"fe_rst/fe.rst{n}"
        f = read_rst(path)
        atom = RestartAtom(
            f.spin,
            f.dims,
            f.n_atoms,
            f.species,
            f.n_orbitals,
            f.so_switch,
            f.neighbours,
            f.cells,
            f.neighbour_species,
            f.neighbour_orbitals,
            f.band_energy,
            f.H,
            f.DM,
        )
        assert rst_bytes(atom) == path.read_bytes()


def test_restart_reader_agrees_with_the_scfout(shared):
    scf = read_scfout(shared / FE / "fe.scfout")
    restart = read_restart(shared / FE / "fe_rst")
    assert restart.spin == 1 and restart.n_atoms == 2 and list(restart.species) == [0, 0]
    assert [f.dims for f in restart.files] == [(2, 3, 119, 13)] * 2
    assert np.array_equal(restart.neighbours, scf.neighbours) and np.array_equal(restart.block_cell, scf.block_cell)
    for op in ("H", "DM"):
        for s in range(2):
            assert np.array_equal(restart.matrices[op][s], scf.matrices[op][s])  # bit-identical
    record = read_run(shared / FE)
    ops = restart_operators(restart, [record.basis[s].ls for s in record.species])
    assert ops["H"].equals(record.operators["H"]) and ops["DM"].equals(record.operators["DM"])


@pytest.mark.parametrize(
    "run, uele",
    [
        (FE, -30.438467365226),
        (f"{GENERATED}/fe_bcc_spin1/frame_000", -15.057984005049),
        (f"{GENERATED}/si8_s2p2d1/frame_000", -9.6706460514),
        (f"{GENERATED}/gaas_s2p2d2_s2p2d1/frame_001", None),
    ],
)
def test_read_write_read_gives_the_same_blocks(shared, tmp_path, run, uele):
    """Collinear, unpolarised (DM per spin on file), 8 atoms, two species and an atom at a
    negative fractional coordinate (labels kept); Uele against the last SCF line of the
    run's .out (12 decimals)."""
    record = read_run(shared / run)
    write_restart(tmp_path, record, "x")
    restart = read_restart(tmp_path / "x_rst")
    ops = restart_operators(restart, [record.basis[s].ls for s in record.species])
    for op in ("H", "DM"):
        assert ops[op].equals(record.operators[op]), op  # exact: eV -> Ha -> eV is lossless
    if uele is not None:
        assert abs(restart.band_energy - uele) < 2e-12


def test_input_lines(shared, tmp_path):
    record = read_run(shared / FE)
    export_record(
        record, "openmx", tmp_path, ("H", "DM"), orbitals={"Fe": "Fe6.0S-s2p2d1"}, pseudopotentials={"Fe": "Fe_PBE19S"}
    )
    text = (tmp_path / "INPUT.slem-dft").read_text()
    for line in (
        "System.Name                fe",
        "scf.restart                on",
        "scf.SpinPolarization       on",
        "  Fe  Fe6.0S-s2p2d1  Fe_PBE19S",
        "#   2 Fe 1.391950000000 1.391950000000 1.391950000000",
        "Atoms.SpeciesAndCoordinates.Unit  Ang",
    ):
        assert line in text.splitlines(), line


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_export_command_end_to_end(shared, tmp_path):
    store = tmp_path / "fe.h5"
    assert _run("convert", shared / FE, "-o", store, "--no-check").exit_code == 0
    out = tmp_path / "openmx"
    result = _run("export", store, "--to", "openmx", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'fe_rst/fe.rst2'}" in result.output
    for n in (1, 2):
        mine, real = _sections(out / f"fe_rst/fe.rst{n}"), _sections(shared / FE / f"fe_rst/fe.rst{n}")
        assert mine[:2] == real[:2]
    assert _run("export", store, "--to", "openmx", "-o", tmp_path / "si", "--system-name", "si").exit_code == 0
    assert "System.Name                si" in (tmp_path / "si/INPUT.slem-dft").read_text()
    assert (tmp_path / "si/si_rst/si.rst1").is_file()


def _expect_refusal(tmp_path, store, message, *extra):
    out = tmp_path / "refused"
    result = _run("export", store, "--to", "openmx", "-o", out, *extra)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slem-dft: error:") and message in lines[0], result.stderr
    assert not out.exists()


def test_bad_inputs_give_one_error_and_no_files(shared, tmp_path):
    fe = tmp_path / "fe.h5"
    assert _run("convert", shared / FE, "-o", fe, "--no-check").exit_code == 0
    _expect_refusal(tmp_path, fe, "do not match the data's Fe shells", "--orbital", "Fe=Fe6.0S-s2p1")
    _expect_refusal(tmp_path, fe, "holds H and DM only", "--operators", "S,DM")
    _expect_refusal(tmp_path, fe, "System.Name 'a b'", "--system-name", "a b")
    dm_only = tmp_path / "dm.h5"
    assert _run("convert", shared / FE, "-o", dm_only, "--no-check", "--operators", "S,DM").exit_code == 0
    _expect_refusal(tmp_path, dm_only, "holds no H")
    pt = tmp_path / "pt.h5"
    assert _run("convert", shared / GENERATED / "pt_fcc_nc3_soc/frame_000", "-o", pt, "--no-check").exit_code == 0
    _expect_refusal(tmp_path, pt, "non-collinear (spinor) data cannot be written")


def test_records_the_files_cannot_hold_are_refused(shared, tmp_path):
    record = read_run(shared / FE)
    with pytest.raises(ConventionError, match="gamma-only"):
        write_restart(tmp_path / "g", record.replace(gamma_only=True))
    other = record.replace(source=Source("abacus", "v3", "/x"))
    with pytest.raises(ConfigError, match="--system-name"):
        write_restart(tmp_path / "n", other)
    with pytest.raises(MissingInputError, match="for every species or for none"):
        export_record(record, "openmx", tmp_path / "o", orbitals={"Fx": "Fe6.0-s2p2d1"})
    assert not any(tmp_path.iterdir())


def test_reader_refuses_cut_or_padded_files(shared, tmp_path):
    real = (shared / FE / "fe_rst/fe.rst1").read_bytes()
    (tmp_path / "cut.rst1").write_bytes(real[:-8])
    with pytest.raises(TruncatedFileError, match="613856 bytes, the header announces 613864"):
        read_rst(tmp_path / "cut.rst1")
    (tmp_path / "long.rst1").write_bytes(real + b"\0" * 8)
    with pytest.raises(FileFormatError, match="613872 bytes"):
        read_rst(tmp_path / "long.rst1")
    (tmp_path / "x_rst").mkdir()
    (tmp_path / "x_rst/x.rst1").write_bytes(real)
    with pytest.raises(MissingInputError, match="x.rst2 is missing"):
        read_restart(tmp_path / "x_rst")
