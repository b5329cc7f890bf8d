"""The format table (:data:`slem_dft.registry.FORMATS`): every code that has a reader and a
writer goes read -> write -> read through the table's own entries and gives the same blocks
(as ase's ``test_oi.py`` over ``ioformats``); every module meets its protocol."""

import importlib
import shutil

import numpy as np
import pytest

from slem_dft import registry

#: code -> (bundled run, operators written). A code with a writer but no reader is listed in
#: SKIP with the reason.
CASES = {
    "abacus": ("abacus/si8_dzp/frame_000", ("H", "S", "DM")),
    "siesta": ("siesta/h2o_dipole", ("DM", "H", "S")),
    "openmx": ("openmx/fe_bcc_spin1", ("H", "DM")),
    "deeptb": ("abacus/si8_dzp/frame_000", ("H", "S", "DM")),
}
SKIP = {"wannier90": "write-only: a tight-binding _hr.dat holds H orthogonalised with S, no reader reads it back"}


def _read_back(code, folder, record):
    """The written files read again: a run directory (ABACUS, SIESTA), or OpenMX's restart
    folder, which is not a run (OpenMX needs its grid densities too; docs/export.md)."""
    if code == "deeptb":  # a DeePTB dataset folder, which no run detection claims
        from slem_dft.parsers.deeptb import read_dataset

        return read_dataset(folder / "frames.0")[0].operators
    if code == "openmx":
        from slem_dft.parsers.openmx.restart import read_restart, restart_operators

        restart = read_restart(next(folder.glob("*_rst")))
        return restart_operators(restart, [record.basis[s].ls for s in record.species])
    if code == "abacus":  # the basis files the run names, as a user puts them beside the matrices
        for path in record.source.basis_files.values():
            shutil.copy(path, folder)
        shutil.copy(f"{record.source.path}/running_scf.log", folder)
    assert registry.detect_code(folder) == code
    return registry.read_run(folder, code).operators


@pytest.mark.parametrize("fmt", registry.FORMATS, ids=lambda f: f.code)
def test_read_write_read_through_the_table(bundled, tmp_path, fmt):
    if fmt.code in SKIP:
        pytest.skip(SKIP[fmt.code])
    run, operators = CASES[fmt.code]
    record = registry.read_run(bundled / run)
    assert record.source.code == fmt.code or fmt.reader is None
    written = registry.writer(fmt.code).export_files(tmp_path, record, operators, {})
    assert written and all(p.is_file() for p in written)
    back = _read_back(fmt.code, tmp_path, record)
    for op in operators:
        a, b = record.operators[op].sorted(), back[op].sorted()
        assert a.spin == b.spin and np.array_equal(a.edges, b.edges), op
        # H goes out in each code's energy unit and comes back: equal up to the conversion
        assert np.allclose(a.values, b.values, rtol=1e-13, atol=0), op


@pytest.mark.parametrize("fmt", registry.FORMATS, ids=lambda f: f.code)
def test_every_table_entry_meets_its_protocol(fmt):
    if fmt.reader is not None:
        assert isinstance(importlib.import_module(fmt.reader), registry.RunReader)
    if fmt.writer is not None:
        assert isinstance(importlib.import_module(fmt.writer), registry.FileWriter)
    if fmt.radial_suffix is not None:
        assert callable(importlib.import_module(fmt.radial_module).radial_functions)
        assert isinstance(registry.reader(fmt.code), registry.RadialBasisReader)
    for name in fmt.structure_files:
        assert isinstance(registry.reader(fmt.code), registry.StructureReader), name
