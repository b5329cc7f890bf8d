"""ABACUS writer: files ABACUS reads back (init_chg dm/hr). The generated si8 files are
reproduced byte for byte; every real case survives read -> write -> read unchanged."""

import lzma
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from slem_dft.cli import main
from slem_dft.data import BlockMatrix
from slem_dft.errors import ConventionError, MissingInputError
from slem_dft.parsers.abacus import read_run
from slem_dft.writers.abacus import abacus_orbitals, csr_text, write_csr, write_inputs

FILES = {"DM": "dmrs1_nao.csr.xz", "S": "srs1_nao.csr.xz", "H": "hrs1_nao.csr.xz"}


@pytest.mark.parametrize("frame", ["frame_000", "frame_001"])
def test_si8_files_are_reproduced_byte_for_byte(shared, frame):
    run = shared / "generated/abacus/si8_dzp" / frame
    record = read_run(run)
    for op, name in FILES.items():
        assert csr_text(record, op) == lzma.open(run / name, "rt").read(), op


def _copy_basis_files(src, dst):
    for p in src.iterdir():
        if p.suffix.lower() == ".orb" or p.name.startswith("running_"):
            shutil.copy(p, dst / p.name)


CASES = [
    "al_fcc_nspin1_old",
    "c_atom_nspin4_old",
    "c_atom_nspin4_new",
    "si2_sz_nspin1_new",
    "si2_sz_nspin2_new",
    "ce_fcc_f_dmr_old",
    "gaas_init_dm_new",
    "si2_sz_init_dm_new",
    "h2o_nspin1_new_hsr_tr_rr",
]


@pytest.mark.parametrize("case", CASES)
def test_read_write_read_gives_the_same_blocks(shared, tmp_path, case):
    run = shared / "abacus" / case
    record = read_run(run)
    _copy_basis_files(run, tmp_path)
    for op in record.operators:
        write_csr(tmp_path, record, op)
    back = read_run(tmp_path)
    assert back.nspin == record.nspin and back.species == record.species
    assert np.allclose(back.atoms.positions, record.atoms.positions, atol=1e-9)
    for op in record.operators:
        a, b = record.operators[op].sorted(), back.operators[op].sorted()
        assert np.array_equal(a.edges, b.edges), op
        # same print precision both ways: equal up to the last bit of the eV <-> Ry conversion
        assert np.allclose(a.values, b.values, rtol=1e-14, atol=0), op


def test_atoms_outside_the_cell_are_wrapped_and_relabelled(bundled):
    """Move atom 0 one cell along a1 (and relabel its blocks so the physics is unchanged):
    the file ABACUS gets is the same, since ABACUS wraps atoms and labels R accordingly."""
    record = read_run(bundled / "abacus/si8_dzp/frame_000")
    atoms = record.atoms.copy()
    atoms.positions[0] += atoms.cell[0]
    ops = {}
    for name, op in record.operators.items():
        edges = op.edges.copy()
        edges[edges[:, 0] == 0, 2] += 1  # d = tau_j + R - tau_i is kept
        edges[edges[:, 1] == 0, 2] -= 1
        ops[name] = BlockMatrix(edges, op.shapes, op.values, op.spin)
    moved = record.replace(atoms=atoms, operators=ops)
    for op in ("DM", "S", "H"):
        assert csr_text(moved, op) == csr_text(record, op)


def test_writer_refuses_a_basis_the_orbital_files_do_not_match(bundled, tmp_path):
    record = read_run(bundled / "abacus/si8_dzp/frame_000")
    other = bundled / "abacus/si2_sz_nspin1_new/Si_dojo_6au_sz.orb"  # 1s1p, the data is 2s2p1d
    with pytest.raises(ConventionError, match="do not match the data's Si shells"):
        write_inputs(tmp_path / "out", record, abacus_orbitals(record, {"Si": str(other)}))
    assert not (tmp_path / "out").exists()
    with pytest.raises(MissingInputError, match="no H"):
        h2o = read_run(bundled / "abacus/h2o_nspin1_new_hsr_tr_rr", operators=("S",))
        write_inputs(tmp_path / "out", h2o, abacus_orbitals(h2o), operators=("H",))


def test_gamma_only_matrices_are_refused(shared, tmp_path):
    record = read_run(shared / "abacus/si2_sz_gamma_nspin2_new")
    with pytest.raises(ConventionError, match="gamma-only"):
        write_inputs(tmp_path, record, abacus_orbitals(record), operators=("H",))


def test_export_command_writes_what_abacus_reads(bundled, tmp_path):
    runner = CliRunner()
    store = tmp_path / "si8.h5"
    assert runner.invoke(main, ["convert", str(bundled / "abacus/si8_dzp/frame_000"), "-o", str(store)]).exit_code == 0
    out = tmp_path / "abacus"
    result = runner.invoke(main, ["export", str(store), "--to", "abacus", "-o", str(out), "--pseudo", "Si=Si.upf"])
    assert result.exit_code == 0, result.output
    original = lzma.open(bundled / "abacus/si8_dzp/frame_000/dmrs1_nao.csr.xz", "rt").read()
    assert (out / "dmrs1_nao.csr").read_text() == original
    assert "init_chg        dm" in (out / "INPUT.slem-dft").read_text()
    assert "Si_gga_8au_100Ry_2s2p1d.orb" in (out / "STRU").read_text()
    bad = runner.invoke(main, ["export", str(store), "--to", "abacus", "-o", str(tmp_path / "x"), "--orbital", "Si"])
    assert bad.exit_code != 0 and "LABEL=FILE" in bad.output
