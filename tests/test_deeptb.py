"""DeePTB dataset folders: our writer and reader, the shell reordering, refusals, and (where
DeePTB is installed) DeePTB's own reader on the folders we write."""

import json
import os
import subprocess
import textwrap

import ase
import h5py
import numpy as np
import pytest

from slem_dft.data import Basis, BlockMatrix, Record, Shell, Source, SpeciesBasis
from slem_dft.errors import ConfigError, FileFormatError
from slem_dft.parsers.deeptb import parse_basis_string, read_dataset
from slem_dft.registry import read_run
from slem_dft.writers.deeptb import basis_string, deeptb_order, write_dataset


def _unsorted_record(seed=0) -> Record:
    """Two atoms whose species lists its shells p, s, d, s (not l-then-zeta), random blocks."""
    rng = np.random.default_rng(seed)
    sb = SpeciesBasis("X", "C", (Shell(1, 0), Shell(0, 0), Shell(2, 0), Shell(0, 1)))
    n = sb.n_orb
    edges = np.array([[0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0]])
    values = rng.normal(size=(1, len(edges) * n * n))
    shapes = np.full((len(edges), 2), n)
    atoms = ase.Atoms("C2", positions=[[0, 0, 0], [1.2, 0.3, 0.1]], cell=np.eye(3) * 4, pbc=True)
    op = BlockMatrix(edges, shapes, values)
    return Record(atoms, ("X", "X"), Basis((sb,)), {"H": op}, 1, Source("abacus", "test", "/nowhere"))


def test_basis_strings_and_order():
    sb = _unsorted_record().basis.species[0]
    assert basis_string(sb) == "2s1p1d"
    # DeePTB order 1s 2s 1p 1d = canonical orbitals 3 | 9 | 0 1 2 | 4..8
    assert deeptb_order(sb).tolist() == [3, 9, 0, 1, 2, 4, 5, 6, 7, 8]
    assert parse_basis_string("Si", "2s2p1d").ls == (0, 0, 1, 1, 2)
    with pytest.raises(ValueError, match="not a DeePTB basis string"):
        parse_basis_string("Si", "2s2x")


def test_write_read_reorders_shells(tmp_path):
    record = _unsorted_record()
    (traj,) = write_dataset(tmp_path, [record], ("H",))
    assert json.loads((traj / "info.json").read_text()) == {"nframes": 1, "natoms": 2, "pos_type": "cart", "pbc": True}
    (back,) = read_dataset(traj)
    assert back.basis.species[0].ls == (0, 0, 1, 2)
    order = deeptb_order(record.basis.species[0])
    a, b = record.operators["H"].sorted(), back.operators["H"]
    assert np.array_equal(a.edges, b.edges)
    for e in range(a.n_edges):
        assert np.array_equal(a.block(e)[0][np.ix_(order, order)], b.block(e)[0])
    with h5py.File(traj / "hamiltonians.h5") as f:
        assert sorted(f["0"]) == ["0_0_0_0_0", "0_1_0_0_0", "0_1_1_0_0", "1_0_0_0_0", "1_1_0_0_0"]
    assert np.allclose(back.atoms.positions, record.atoms.positions, atol=1e-12)


def test_refuses_spin_and_missing_operators(tmp_path, bundled):
    fe = read_run(bundled / "openmx" / "fe_bcc_spin1")
    with pytest.raises(ConfigError, match="spinless operators only"):
        write_dataset(tmp_path, [fe], ("H",))
    with pytest.raises(ConfigError, match="no S to write"):
        write_dataset(tmp_path, [_unsorted_record()], ("H", "S"))


def test_bad_block_is_one_error_naming_the_file(tmp_path):
    (traj,) = write_dataset(tmp_path, [_unsorted_record()], ("H",))
    with h5py.File(traj / "hamiltonians.h5", "a") as f:
        del f["0/0_1_0_0_0"]
        f["0/0_1_0_0_0"] = np.zeros((3, 3))
    with pytest.raises(FileFormatError, match="hamiltonians.h5.*shape"):
        read_dataset(traj)


DPTB_PYTHON = os.environ.get("SLEM_DFT_DPTB_PYTHON")

DPTB_READ = textwrap.dedent("""
    import sys, h5py
    from dptb.data.build import build_dataset
    from dptb.data import AtomicData
    from dptb.data.interfaces.ham_to_feature import feature_to_block
    from dptb.data.transforms import OrbitalMapper
    root, basis, r_max, out = sys.argv[1], eval(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    ds = build_dataset(root=root, prefix="frames", type="DefaultDataset", get_Hamiltonian=True, r_max=r_max,
                       basis=basis)
    idp = OrbitalMapper(basis, method="e3tb")
    data = idp(AtomicData.to_AtomicDataDict(ds[0]))
    with h5py.File(out, "w") as f:
        for key, block in feature_to_block(data, idp).items():
            f[key] = block.double().numpy()
""")


@pytest.mark.skipif(not DPTB_PYTHON, reason="DeePTB not installed: set SLEM_DFT_DPTB_PYTHON to the python of its venv")
def test_deeptb_reads_our_folders_as_the_same_blocks(tmp_path, bundled):
    record = read_run(bundled / "abacus" / "si8_dzp" / "frame_000", operators=("H",))
    write_dataset(tmp_path / "set", [record], ("H",))
    script = tmp_path / "read.py"
    script.write_text(DPTB_READ)
    env = {**os.environ, "PYTHONPATH": os.environ.get("SLEM_DFT_DPTB_PYTHONPATH", "")}
    subprocess.run(
        [DPTB_PYTHON, str(script), str(tmp_path / "set"), repr({"Si": "2s2p1d"}), "8.6", str(tmp_path / "blocks.h5")],
        check=True,
        env=env,
        capture_output=True,
    )
    H = record.operators["H"]
    order = deeptb_order(record.basis.species[0])
    seen = set()
    with h5py.File(tmp_path / "blocks.h5") as f:
        for key in f:
            i, j, *R = map(int, key.split("_"))
            e = H.find(i, j, R)
            if e is None:  # DeePTB's graph holds edges within r_max that the run does not store
                assert np.abs(f[key][()]).max() == 0.0
                continue
            assert np.allclose(f[key][()], H.block(e)[0][np.ix_(order, order)], atol=1e-6), key
            seen |= {(i, j, *R), (j, i, *(-x for x in R))}
    # every stored block within r_max comes back, in one direction or the other (ABACUS also
    # stores blocks out to 10.9 A, where the pseudopotential projectors reach)
    pos, cell = record.atoms.positions, record.atoms.cell.array
    lengths = np.linalg.norm(pos[H.edges[:, 1]] + H.edges[:, 2:] @ cell - pos[H.edges[:, 0]], axis=1)
    within = {tuple(edge) for edge in H.edges[lengths < 8.6].tolist()}
    assert len(within) > 1000 and within <= seen
