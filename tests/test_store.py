"""The HDF5 store: exact round trip, append, atomic failure, schema checks."""

import h5py
import numpy as np
import pytest

from slem_dft.errors import StoreError
from slem_dft.parsers.abacus import read_run
from slem_dft.store import SCHEMA_VERSION, Store, StoreWriter, read_store, write_store


def _assert_same(a, b):
    assert a.species == b.species and a.nspin == b.nspin and a.gamma_only == b.gamma_only
    assert np.array_equal(a.atoms.positions, b.atoms.positions)
    assert np.array_equal(a.atoms.cell.array, b.atoms.cell.array)
    assert np.array_equal(a.atoms.numbers, b.atoms.numbers) and np.array_equal(a.atoms.pbc, b.atoms.pbc)
    assert a.basis == b.basis
    assert a.n_electrons == b.n_electrons and a.fermi_energy == b.fermi_energy
    assert (a.spin_moment is None) == (b.spin_moment is None)
    if a.spin_moment is not None:
        assert np.array_equal(a.spin_moment, b.spin_moment, equal_nan=True)
    assert a.source == b.source
    assert set(a.operators) == set(b.operators)
    for name in a.operators:
        assert a.operators[name].equals(b.operators[name]), name


def _bundled_records(bundled):
    runs = ["al_fcc_nspin1_old", "c_atom_nspin4_old", "si2_sz_nspin1_new", "si8_dzp/frame_000"]
    return [read_run(bundled / "abacus" / r) for r in runs]


def test_round_trip_is_exact(tmp_path, bundled):
    records = _bundled_records(bundled)
    path = tmp_path / "set.h5"
    assert write_store(path, records) == len(records)
    back = read_store(path)
    for a, b in zip(records, back):
        _assert_same(a, b)
    with h5py.File(path) as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        # an exactly hermitian operator is stored as its hermitian half (Al H) ...
        g = f["structures/000000/operators/H"]
        assert g.attrs["storage"] == "hermitian_half"
        assert len(g["edges"]) < records[0].operators["H"].n_edges
        # ... one that is not (si8 frame 0 H: printing noise of 1.4e-14 eV) in full, to stay exact
        assert records[3].operators["H"].hermiticity_deviation() > 0
        assert f["structures/000003/operators/H"].attrs["storage"] == "full"


def test_round_trip_spin_channels(tmp_path, shared):
    records = [
        read_run(shared / "abacus/si2_sz_nspin2_new"),
        read_run(shared / "abacus/c_atom_nspin4_new"),
        read_run(shared / "abacus/ce_fcc_f_dmr_old"),
        read_run(shared / "abacus/si2_sz_gamma_nspin2_new"),
    ]
    write_store(tmp_path / "s.h5", records)
    for a, b in zip(records, Store(tmp_path / "s.h5")):
        _assert_same(a, b)


def test_append_adds_and_keeps(tmp_path, bundled):
    a, b, *_ = _bundled_records(bundled)
    path = tmp_path / "set.h5"
    write_store(path, [a])
    write_store(path, [b], append=True)
    store = Store(path)
    assert len(store) == 2
    _assert_same(store[0], a)
    _assert_same(store[1], b)


def test_failed_append_leaves_the_store_untouched(tmp_path, bundled):
    a, b, *_ = _bundled_records(bundled)
    path = tmp_path / "set.h5"
    write_store(path, [a])
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with StoreWriter(path, append=True) as w:
            w.add(b)
            raise RuntimeError("killed half way")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.h5"]


def test_not_a_store_is_rejected(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(StoreError, match="not a slem-dft store"):
        Store(path)
    with pytest.raises(StoreError, match="not a slem-dft store"):
        write_store(path, [], append=True)
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(StoreError, match="not a readable HDF5"):
        Store(tmp_path / "text.h5")


def test_unknown_schema_version_is_rejected(tmp_path, bundled):
    path = tmp_path / "set.h5"
    write_store(path, _bundled_records(bundled)[:1])
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(StoreError, match="schema version"):
        Store(path)


def test_summaries_read_only_metadata_and_agree_with_records(tmp_path, bundled):
    records = _bundled_records(bundled)
    write_store(tmp_path / "set.h5", records)
    for summary, record in zip(Store(tmp_path / "set.h5").summaries(), records):
        assert summary["n_orbitals"] == record.n_orbitals and summary["n_atoms"] == len(record.atoms)
        assert summary["formula"] == record.atoms.get_chemical_formula() and summary["nspin"] == record.nspin
