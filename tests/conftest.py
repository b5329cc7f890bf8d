"""Shared fixtures: where the reference runs are, and small helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data"


def shared_data_dir() -> Path | None:
    """The full reference set: $SLEM_DFT_TEST_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("SLEM_DFT_TEST_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("full reference data not found: set SLEM_DFT_TEST_DATA or put it at ../shared/data")
    return path


@pytest.fixture
def bundled() -> Path:
    return BUNDLED


@pytest.fixture(scope="session")
def si8_store(tmp_path_factory) -> Path:
    """The bundled 8-atom Si ABACUS frame converted to a store (H, S, DM), shared by the model tests."""
    from slem_dft.convert import convert_runs

    path = tmp_path_factory.mktemp("si8") / "si8.h5"
    convert_runs(
        [BUNDLED / "abacus" / "si8_dzp" / "frame_000"], path, ("H", "S", "DM"), False, 1, False, False, False, {}
    )
    return path


@pytest.fixture
def copy_run(tmp_path):
    """Copy a run directory into tmp_path (writable) and return the copy."""

    def _copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        shutil.copytree(src, dst)
        for p in dst.rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
        return dst

    return _copy


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)


def _cli(*args):
    from click.testing import CliRunner

    from slem_dft.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def expect_cli_failure(tmp_path, run_dir, message, *extra):
    """Bad input: ``convert`` and ``check`` each exit 1 with one error line containing
    ``message`` and leave no output (nor a temporary file) behind; returns the line."""
    out = tmp_path / "out.h5"
    result = _cli("convert", run_dir, "-o", out, *extra)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slem-dft: error:"), result.stderr
    assert message in lines[0], lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.h5")]
    check = _cli("check", run_dir)
    assert check.exit_code == 1 and message in check.stderr
    return lines[0]
