"""Prediction: chunked inference equals one whole-structure pass, exact overlaps, the store it
writes, training-domain warnings, bad input, and MPI (2 ranks) equal to one process bit for bit."""

import os
import shutil
import subprocess
import sys
import warnings

import ase.build
import ase.io
import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from slem_dft.chunks import Chunking
from slem_dft.cli import main as cli_main
from slem_dft.config import FitConfig
from slem_dft.errors import ConfigError, ConventionError, MissingInputError
from slem_dft.nn.dataset import blocks_to_operator
from slem_dft.nn.graph import build_graph, collate
from slem_dft.predict import InputStructure, Predictor, read_structures
from slem_dft.store import Store
from slem_dft.train import fit

TINY = {"channels": 4, "n_layers": 2, "latent_dim": 16, "radial_channels": 16, "env_multiplicity": 2}


@pytest.fixture(scope="module")
def model64(si8_store, tmp_path_factory):
    """A float64 model with a 4 A cutoff (second neighbours: halos matter), two epochs."""
    out = tmp_path_factory.mktemp("model")
    config = FitConfig.from_dict(
        {
            "data": {"stores": [str(si8_store)], "cutoff": 4.0, "val_fraction": 0.0, "operators": ["H", "DM"]},
            "model": TINY,
            "train": {"epochs": 2, "dtype": "float64", "progress": False, "threads": 1},
        }
    )
    fit(config, out, echo=lambda *_: None)
    return out / "best.pt"


def _whole(predictor: Predictor, atoms, op="H"):
    """The blocks of one whole-structure forward pass (the training path)."""
    species = predictor.model.basis.species_index(["Si"] * len(atoms))
    graph = build_graph(atoms, species, predictor.radii)
    with torch.no_grad():
        out = predictor.model(collate([graph], predictor.dtype))
    return blocks_to_operator(predictor.model.basis, graph, *(x.numpy() for x in out[op]))


def _supercell(repeat=(2, 2, 1), pbc=True, seed=3):
    atoms = ase.build.bulk("Si", "diamond", 5.43, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=seed)
    atoms.pbc = pbc
    return atoms


@pytest.mark.parametrize("pbc", [True, (True, True, False), False], ids=["bulk", "slab", "cluster"])
def test_chunks_cover_every_block_once_and_equal_the_whole_pass(model64, pbc):
    predictor = Predictor(model64, "cpu", atoms_per_chunk=5)
    atoms = _supercell(pbc=pbc)
    chunking = Chunking(atoms, np.zeros(len(atoms), int), predictor.radii, 5)
    assert len(chunking) >= 4
    whole = _whole(predictor, atoms)
    for op in ("H", "DM"):
        chunked = predictor.predict(atoms, operators=[op]).operators[op]
        reference = whole if op == "H" else _whole(predictor, atoms, "DM")
        assert np.array_equal(chunked.edges, reference.edges)
        deviation = np.abs(chunked.values - reference.values).max()
        print(f"{pbc} {op}: {len(chunking)} chunks, {chunked.n_edges} blocks, max |chunked - whole| {deviation:.1e}")
        assert deviation < 1e-12 * max(1.0, np.abs(reference.values).max())
        assert chunked.hermiticity_deviation() == 0.0


def test_exact_overlap_and_electron_count_of_a_training_structure(model64, si8_store):
    """S of a predicted structure comes from the .orb radial functions: ABACUS's S to 1e-5
    on every block ABACUS stored, and no block beyond; N from the training valence."""
    record = Store(si8_store)[0]
    predicted = Predictor(model64, "cpu").predict(record.atoms)
    assert set(predicted.operators) == {"H", "DM", "S"}
    S, ref = predicted.operators["S"], record.operators["S"]
    assert np.array_equal(S.edges, ref.edges)
    deviation = np.abs(S.values - ref.values).max()
    print(f"predicted S vs ABACUS S: {deviation:.2e}")
    assert deviation < 1e-5
    assert predicted.n_electrons == pytest.approx(32.0, abs=1e-9)


def test_predict_command_writes_a_store(model64, tmp_path):
    frames = [_supercell((1, 1, 1), seed=1), _supercell((2, 1, 1), seed=2)]
    ase.io.write(tmp_path / "frames.extxyz", frames, format="extxyz")
    out = tmp_path / "pred.h5"
    result = CliRunner().invoke(
        cli_main,
        [
            "predict",
            str(model64),
            str(tmp_path / "frames.extxyz"),
            "-o",
            str(out),
            "--atoms-per-chunk",
            "4",
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    records = list(Store(out))
    assert [len(r.atoms) for r in records] == [8, 16]
    predictor = Predictor(model64, "cpu")
    for record, atoms in zip(records, frames):
        assert record.source.code == "slem-dft" and record.n_electrons == pytest.approx(4.0 * len(atoms))
        assert np.allclose(record.atoms.positions, atoms.positions, atol=1e-7)  # extxyz prints 8 decimals
        reference = _whole(predictor, record.atoms)
        assert np.array_equal(record.operators["H"].edges, reference.edges)
        assert np.abs(record.operators["H"].values - reference.values).max() < 1e-12


def test_structures_from_run_directories_and_files(bundled, tmp_path):
    run = bundled / "abacus" / "si8_dzp" / "frame_000"
    (structure,) = read_structures([run])
    assert structure.species == ("Si",) * 8 and len(structure.atoms) == 8
    ase.io.write(tmp_path / "POSCAR", structure.atoms, format="vasp")
    (from_file,) = read_structures([tmp_path / "POSCAR"])
    assert np.allclose(from_file.atoms.positions, structure.atoms.positions, atol=1e-6)
    with pytest.raises(MissingInputError, match="no such file"):
        read_structures([tmp_path / "missing.xyz"])
    (tmp_path / "junk.xyz").write_text("not a structure\n")
    with pytest.raises(MissingInputError, match="ase cannot read"):
        read_structures([tmp_path / "junk.xyz"])


def test_domain_warnings_and_unknown_species(model64):
    predictor = Predictor(model64, "cpu")
    squeezed = _supercell((1, 1, 1), seed=0)
    squeezed.set_cell(squeezed.cell * 0.9, scale_atoms=True)
    messages = predictor.domain_warnings(InputStructure(squeezed, None, "squeezed"))
    assert any("shorter than any in training" in m for m in messages)
    stretched = ase.build.bulk("Si", "diamond", 5.5, cubic=True)  # bonds 2.38 A, training shortest 2.35 A
    assert predictor.domain_warnings(InputStructure(stretched, None, "ok")) == []
    with pytest.raises(ConfigError, match="element C is not in the model"):
        predictor.predict(ase.build.bulk("C", "diamond", 3.57))
    with pytest.raises(ConfigError, match="cannot give"):
        Predictor(model64, "cpu").operators(["H", "X"])


def test_predict_refuses_a_bad_structure_and_writes_nothing(model64, tmp_path):
    out = tmp_path / "pred.h5"
    ase.io.write(tmp_path / "c.xyz", ase.build.bulk("C", "diamond", 3.57), format="extxyz")
    result = CliRunner().invoke(cli_main, ["predict", str(model64), str(tmp_path / "c.xyz"), "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("slem-dft: error:") and "element C" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".pred.h5*"))


def _mpiexec() -> str | None:
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if found is None:
        return None
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    return found


def test_two_mpi_ranks_equal_one_process_bit_for_bit(model64, tmp_path):
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("mpiexec / mpi4py not installed (pip install mpi4py mpich)")
    atoms = _supercell((2, 2, 1), seed=5)
    ase.io.write(tmp_path / "si.extxyz", atoms, format="extxyz")
    args = [
        "-m",
        "slem_dft.cli",
        "predict",
        str(model64),
        str(tmp_path / "si.extxyz"),
        "--atoms-per-chunk",
        "6",
        "--threads",
        "1",
        "--no-progress",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, *args, "-o", str(tmp_path / "one.h5")], check=True, env=env, timeout=300)
    run = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, *args, "-o", str(tmp_path / "two.h5")],
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("wrote 1 structure(s)") == 1  # rank 0 reports
    assert not list(tmp_path.glob(".two.h5*"))  # part files removed
    with h5py.File(tmp_path / "one.h5") as one, h5py.File(tmp_path / "two.h5") as two:
        ops = one["structures/000000/operators"]
        assert set(ops) == {"H", "DM", "S"}
        for op in ops:
            for name in ("edges", "values"):
                a, b = ops[op][name][()], two["structures/000000/operators"][op][name][()]
                assert a.shape == b.shape and np.array_equal(a, b), (op, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = Store(tmp_path / "two.h5")[0]
    assert record.operators["H"].hermiticity_deviation() == 0.0


def test_basis_files_must_match_the_model(model64, bundled, shared):
    orb = bundled / "abacus" / "si8_dzp" / "Si_gga_8au_100Ry_2s2p1d.orb"
    assert Predictor(model64, "cpu", basis_files={"Si": str(orb)}).overlap is not None
    with pytest.raises(ConventionError, match="do not match"):
        Predictor(model64, "cpu", basis_files={"Si": str(shared / "siesta" / "si_szp_kgrid" / "Si.ion.xml")})
    with pytest.raises(ConfigError, match="not species of the model"):
        Predictor(model64, "cpu", basis_files={"C": str(orb)})
